//! The `cluster` target: the fuzzer's bytes pick a small cluster's parameters ([`params`]) and
//! then serve as the simulator's entropy ([`crate::world::run_with_entropy`]): every delay,
//! fault and client choice. Checked by the oracle's invariants, the engine's own invariants,
//! convergence and bounded completion after healing, and linearizability of the history.

use crate::fuzz::env::trace_enabled;
use crate::params::{FaultKinds, SimParams};
use crate::world::{run_with_entropy, RunOptions};

/// Header bytes the `cluster` target reads before handing the rest to the simulator.
pub const HEADER: usize = 6;

/// The simulation parameters the first [`HEADER`] bytes select (missing bytes count as
/// zero), and the rest of the bytes: the simulator's entropy.
///
/// Header: nodes (2..=4), operations (20..=200), fault kinds (one bit each: loss, duplicate,
/// reorder, partitions, resets, crashes, pauses, clock drift; never disk loss: the target
/// predates membership, and turning it on would change what every corpus input means, so it
/// waits for its own change with a fresh corpus; the random simulator seeds cover disk loss),
/// a 16-bit seed for the drawn rates and workload, and flags
/// (bit 0: contention-heavy workload; bits 2-4: most faults injected, 7 = unbounded).
pub fn params(data: &[u8]) -> (SimParams, &[u8]) {
    let mut h = [0u8; HEADER];
    let n = data.len().min(HEADER);
    h[..n].copy_from_slice(&data[..n]);
    let nodes = 2 + usize::from(h[0] % 3);
    let ops = 20 + usize::from(h[1]) * 181 / 256;
    let bit = |i: u8| h[2] & (1 << i) != 0;
    let kinds = FaultKinds {
        loss: bit(0),
        duplicate: bit(1),
        reorder: bit(2),
        partitions: bit(3),
        resets: bit(4),
        crashes: bit(5),
        pauses: bit(6),
        clock_drift: bit(7),
        disk_loss: false,
    };
    let seed = u64::from(u16::from_le_bytes([h[3], h[4]]));
    let mut params = SimParams::draw(seed, nodes, ops, kinds, false);
    if h[5] & 1 != 0 {
        params.workload.make_hot(2 + usize::from(h[5] >> 1 & 1));
    }
    let max_faults = usize::from(h[5] >> 2 & 7);
    params.max_faults = if max_faults == 7 {
        usize::MAX
    } else {
        max_faults
    };
    (params, &data[n..])
}

/// A small cluster whose every random choice (fault schedule, delays, workload) comes from the
/// fuzzer's bytes; panics with the violations if the oracle or the checker finds any.
pub fn run(data: &[u8]) {
    let (params, entropy) = params(data);
    let opts = RunOptions {
        trace: trace_enabled(),
        check_budget: 200_000,
        check_history: true,
    };
    let outcome = run_with_entropy(&params, entropy, opts);
    for line in outcome.trace.iter().flatten() {
        eprintln!("{line}");
    }
    if !outcome.passed() {
        let lines: Vec<String> = outcome
            .violations
            .iter()
            .map(|v| format!("  [{}] at {}ns: {}", v.invariant.name(), v.at_ns, v.detail))
            .collect();
        panic!(
            "cluster run failed: {}\n{}",
            params.describe(),
            lines.join("\n")
        );
    }
}
