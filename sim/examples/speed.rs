//! Measures simulator speed: `cargo run --release -p level2pc-sim --example speed [ops] [seeds]`.
//! Prints events/s, the simulated-time : wall-time ratio, seconds per seed and seeds per hour for
//! the default profile (`--faults all`, swarm), with and without the final linearizability check.

use level2pc_sim::params::{FaultKinds, SimParams};
use level2pc_sim::world::{run, RunOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let ops: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seeds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    for check_history in [false, true] {
        measure(
            ops,
            seeds,
            RunOptions {
                check_history,
                ..RunOptions::default()
            },
        );
    }
}

fn measure(ops: usize, seeds: u64, opts: RunOptions) {
    let started = std::time::Instant::now();
    let (mut events, mut sim_ns, mut failed) = (0u64, 0u128, 0);
    for seed in 0..seeds {
        let p = SimParams::draw(
            seed,
            3,
            ops,
            FaultKinds::parse("all").expect("profile"),
            true,
        );
        let o = run(&p, opts);
        events += o.events;
        sim_ns += u128::from(o.sim_ns);
        failed += usize::from(!o.passed());
    }
    let wall = started.elapsed().as_secs_f64();
    println!(
        "check={} ops/seed={ops} seeds={seeds} failed={failed} events={events} events_per_sec={:.0} sim_wall_ratio={:.0} s_per_seed={:.3} seeds_per_hour={:.0}",
        opts.check_history,
        events as f64 / wall,
        sim_ns as f64 / 1e9 / wall,
        wall / seeds as f64,
        seeds as f64 * 3600.0 / wall
    );
}
