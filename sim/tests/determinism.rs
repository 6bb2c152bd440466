//! The same seed must produce the same trace, event for event.

use level2pc_sim::params::{FaultKinds, SimParams};
use level2pc_sim::world::{run, RunOptions};

fn params(seed: u64) -> SimParams {
    SimParams::draw(
        seed,
        3,
        400,
        FaultKinds::parse("all").expect("profile"),
        true,
    )
}

#[test]
fn a_seed_run_twice_gives_the_same_trace_hash() {
    for seed in [1, 7, 42] {
        let opts = RunOptions {
            trace: true,
            ..RunOptions::default()
        };
        let (a, b) = (run(&params(seed), opts), run(&params(seed), opts));
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}");
        assert_eq!(a.trace, b.trace);
        assert_eq!(a.history, b.history);
        assert!(
            a.events > 1_000,
            "seed {seed} simulated only {} events",
            a.events
        );
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let hashes: std::collections::BTreeSet<u64> = (0..10)
        .map(|s| run(&params(s), RunOptions::default()).trace_hash)
        .collect();
    assert_eq!(hashes.len(), 10);
}

#[test]
fn a_no_swarm_rerun_of_the_drawn_fault_list_reproduces_the_seed() {
    let swarm = params(5);
    let fixed = SimParams::draw(5, 3, 400, swarm.faults, false);
    assert_eq!(swarm, fixed);
    assert_eq!(
        run(&swarm, RunOptions::default()).trace_hash,
        run(&fixed, RunOptions::default()).trace_hash
    );
}
