//! The environment switches of the fuzz bodies: `LEVEL2PC_FUZZ_KNOWN` steers `node_inputs`
//! around reported bugs ([`tolerate`]), `LEVEL2PC_FUZZ_TRACE` prints what a run does
//! (`trace_enabled`). Both are read once per process.

/// Whether `bug` is one of the reported bugs to steer around while fuzzing for others, named in
/// `LEVEL2PC_FUZZ_KNOWN` (comma-separated): `version-overflow` (no INV carries a version near
/// `u64::MAX`), `end-of-time` (the clock never jumps toward `u64::MAX`). Never set in CI or
/// `cargo test`, where every input and check applies; note that it changes what the bytes mean.
pub fn tolerate(bug: &str) -> bool {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    KNOWN
        .get_or_init(|| {
            std::env::var("LEVEL2PC_FUZZ_KNOWN")
                .unwrap_or_default()
                .split(',')
                .map(|s| s.trim().to_string())
                .collect()
        })
        .iter()
        .any(|k| k == bug)
}

/// `LEVEL2PC_FUZZ_TRACE=1` prints every step and output of `node_inputs`, and the simulator's
/// trace of a `cluster` run (for diagnosing a crash: `LEVEL2PC_FUZZ_TRACE=1 cargo test ...` or
/// run the fuzz binary on the one input).
pub(crate) fn trace_enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("LEVEL2PC_FUZZ_TRACE").is_some_and(|v| v != "0"))
}
