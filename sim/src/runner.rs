//! `level2pc-sim run`: many seeds, optionally on several threads, with a failing seed's
//! reproduction command, automatic shrinking, failure artefacts and a summary line.

use crate::params::{FaultKinds, SimParams};
use crate::report;
use crate::shrink::shrink;
use crate::world::{run, Outcome, RunOptions};
use level2pc::Mutant;
use std::io::Write;
use std::path::PathBuf;

/// What `run` was asked to do.
#[derive(Clone, Debug)]
pub struct RunArgs {
    /// First seed.
    pub start_seed: u64,
    /// Number of seeds.
    pub seeds: u64,
    /// Nodes per cluster.
    pub nodes: usize,
    /// Client operations in the fault phase.
    pub ops: usize,
    /// Fault profile or list.
    pub faults: FaultKinds,
    /// Each seed draws its own subset of the allowed fault kinds.
    pub swarm: bool,
    /// Override of the drawn client count.
    pub clients: Option<usize>,
    /// Force the contention-heavy workload shape.
    pub hot: bool,
    /// Cap on injected faults.
    pub max_faults: Option<usize>,
    /// Engine mutant.
    pub mutant: Option<Mutant>,
    /// Clock drift beyond ρ.
    pub clock_violation: bool,
    /// Worker threads.
    pub jobs: usize,
    /// Print the event trace (single seed).
    pub trace: bool,
    /// Print only the trace hash (single seed).
    pub trace_hash: bool,
    /// Shrink failing seeds.
    pub shrink: bool,
    /// Where failure artefacts go.
    pub out: PathBuf,
    /// Checker step budget.
    pub check_budget: u64,
}

impl RunArgs {
    /// The parameters of one seed.
    pub fn params(&self, seed: u64) -> SimParams {
        let mut p = SimParams::draw(seed, self.nodes, self.ops, self.faults, self.swarm);
        p.mutant = self.mutant;
        p.clock_violation = self.clock_violation;
        if let Some(c) = self.clients {
            p.workload.clients = c.max(1);
        }
        if self.hot && !p.workload.is_hot() {
            p.workload.make_hot(2);
        }
        if let Some(m) = self.max_faults {
            p.max_faults = m;
        }
        p
    }

    fn options(&self) -> RunOptions {
        RunOptions {
            trace: self.trace,
            check_budget: self.check_budget,
            check_history: true,
        }
    }
}

/// The command line that reruns exactly `p` (the drawn fault list, without swarm).
pub fn reproduce_command(p: &SimParams) -> String {
    let mut cmd = format!(
        "level2pc-sim run --seed {} --nodes {} --ops {} --faults {} --no-swarm --clients {}{}",
        p.seed,
        p.nodes,
        p.ops,
        p.faults.to_list(),
        p.workload.clients,
        if p.workload.is_hot() { " --hot" } else { "" }
    );
    if p.max_faults != usize::MAX {
        cmd += &format!(" --max-faults {}", p.max_faults);
    }
    if let Some(m) = p.mutant {
        cmd += &format!(" --mutant {}", m.name());
    }
    if p.clock_violation {
        cmd += " --clock-violation";
    }
    cmd
}

#[derive(Default)]
struct Totals {
    seeds: u64,
    failed: u64,
    violations: u64,
    unknown: u64,
    ops: u64,
    events: u64,
    sim_ns: u128,
    crashes: u64,
    max_stall_ns: u64,
    total_stall_ns: u64,
    completed: u64,
    issued: u64,
    rejoins: u64,
    max_rejoin_ns: u64,
    total_rejoin_ns: u64,
}

/// Runs the command; returns the process exit code (0 only if every seed passed).
pub fn run_command(args: &RunArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    if args.trace || args.trace_hash {
        let outcome = run(&args.params(args.start_seed), args.options());
        if args.trace_hash {
            writeln!(out, "{:016x}", outcome.trace_hash)?;
        } else {
            for line in outcome.trace.iter().flatten() {
                writeln!(out, "{line}")?;
            }
            writeln!(
                out,
                "trace_hash={:016x} violations={}",
                outcome.trace_hash,
                outcome.violations.len()
            )?;
        }
        return Ok(u8::from(!outcome.passed()));
    }
    let started = std::time::Instant::now();
    let seeds: Vec<u64> = (args.start_seed..args.start_seed.saturating_add(args.seeds)).collect();
    let results = run_seeds(args, &seeds);
    let mut totals = Totals::default();
    for (seed, outcome) in &results {
        tally(&mut totals, outcome);
        if !outcome.passed() {
            report_failure(args, *seed, outcome, out)?;
        }
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    writeln!(
        out,
        "availability: crashes={} write_stall_max_ms={} write_stall_mean_ms={} completed_pct={:.1} rejoins={} rejoin_max_ms={} rejoin_mean_ms={}",
        totals.crashes,
        totals.max_stall_ns / 1_000_000,
        totals.total_stall_ns / totals.crashes.max(1) / 1_000_000,
        100.0 * totals.completed as f64 / totals.issued.max(1) as f64,
        totals.rejoins,
        totals.max_rejoin_ns / 1_000_000,
        totals.total_rejoin_ns / totals.rejoins.max(1) / 1_000_000
    )?;
    writeln!(
        out,
        "seeds={} failed={} violations={} unknown={} ops={} events={} events_per_sec={:.0} sim_wall_ratio={:.0} wall_s={:.2}",
        totals.seeds,
        totals.failed,
        totals.violations,
        totals.unknown,
        totals.ops,
        totals.events,
        totals.events as f64 / wall,
        totals.sim_ns as f64 / 1e9 / wall,
        wall
    )?;
    Ok(u8::from(totals.failed > 0))
}

fn tally(t: &mut Totals, o: &Outcome) {
    t.seeds += 1;
    t.failed += u64::from(!o.passed());
    let unknown = o
        .violations
        .iter()
        .filter(|v| v.invariant == crate::oracle::Invariant::LinearizabilityUnknown)
        .count();
    t.unknown += unknown as u64;
    t.violations += (o.violations.len() - unknown) as u64;
    t.ops += o.history.ops.len() as u64;
    t.events += o.events;
    t.sim_ns += u128::from(o.sim_ns);
    let a = &o.availability;
    t.crashes += a.crashes;
    t.max_stall_ns = t.max_stall_ns.max(a.max_write_stall_ns);
    t.total_stall_ns += a.total_write_stall_ns;
    t.completed += a.completed;
    t.issued += a.issued;
    t.rejoins += a.rejoins;
    t.max_rejoin_ns = t.max_rejoin_ns.max(a.max_rejoin_ns);
    t.total_rejoin_ns += a.total_rejoin_ns;
}

/// Runs the seeds on `jobs` threads; results come back in seed order.
fn run_seeds(args: &RunArgs, seeds: &[u64]) -> Vec<(u64, Outcome)> {
    let jobs = args.jobs.max(1);
    let opts = args.options();
    if jobs == 1 {
        return seeds
            .iter()
            .map(|&s| (s, run(&args.params(s), opts)))
            .collect();
    }
    let mut results: Vec<(u64, Outcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|j| {
                let mine: Vec<u64> = seeds.iter().copied().skip(j).step_by(jobs).collect();
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|s| (s, run(&args.params(s), opts)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    results.sort_by_key(|(s, _)| *s);
    results
}

fn report_failure(
    args: &RunArgs,
    seed: u64,
    outcome: &Outcome,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let command = reproduce_command(&outcome.params);
    let first = outcome
        .violations
        .iter()
        .find(|v| v.invariant != crate::oracle::Invariant::LinearizabilityUnknown);
    if let Some(v) = first {
        writeln!(
            out,
            "FAIL seed={seed} [{}] {} — reproduce: {command}",
            v.invariant.name(),
            v.detail
        )?;
    }
    let dir = args.out.join(format!("seed-{seed}"));
    let written = if args.shrink {
        let (params, shrunk) = shrink(
            &outcome.params,
            run(&outcome.params, args.options()),
            args.options(),
        );
        let min_command = reproduce_command(&params);
        writeln!(
            out,
            "  shrunk to {} ops, {} faults: {min_command}",
            shrunk.history.ops.len(),
            shrunk.injected_faults()
        )?;
        report::write_failure(&dir, &shrunk, &min_command)
    } else {
        report::write_failure(&dir, outcome, &command)
    };
    match written {
        Ok(()) => writeln!(
            out,
            "  artefacts: {}/{{summary.txt,history.jsonl,timeline.html}}",
            dir.display()
        ),
        Err(e) => writeln!(out, "  could not write artefacts to {}: {e}", dir.display()),
    }
}
