//! The bodies of the fuzz targets in `fuzz/`, as plain functions that panic on a bug.
//!
//! The cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) are one-line wrappers around the `run`
//! functions here, and `sim/tests/fuzz_corpus.rs` replays every checked-in corpus and regression
//! file through the same functions ([`replay`]) as an ordinary `cargo test`, so a crash found by
//! the fuzzer stays fixed.
//!
//! * [`decode_frame::run`] — arbitrary bytes into the wire decoder: no panic, allocation bounded
//!   by the bytes present, whole-buffer and streamed decoding agree, and what decodes re-encodes.
//! * [`node_inputs::run`] — one engine driven by an arbitrary sequence of inputs (messages from
//!   any peer, timeouts, persistence acks, client operations, restarts), with its own invariant
//!   check and the driver contract checked from outside after every step.
//! * [`cluster::run`] — the bytes are the simulator's entropy for a small faulty cluster, checked
//!   by the oracle and the linearizability checker.
//!
//! Shared pieces: [`alloc_meter`] (the measuring global allocator `decode_frame` needs for its
//! allocation bound), [`env`](mod@env) (the `LEVEL2PC_FUZZ_*` switches) and [`replay`] (running the
//! checked-in inputs as tests).
//!
//! Inputs are decoded from the bytes by hand with [`arbitrary::Unstructured`] (biased toward
//! small key and timestamp domains, where interesting collisions happen), not with the
//! `cfg(fuzzing)` derives of the engine's types: those exist only in fuzzing builds, and the
//! same bytes must mean the same run when `cargo test` replays them.

pub mod alloc_meter;
pub mod cluster;
pub mod decode_frame;
pub mod env;
pub mod node_inputs;
pub mod replay;
