//! The `level2pc-sim` command-line tool.
//!
//! Subcommands:
//! * `run --seeds N [--start-seed S] [--nodes K] [--ops M] [--faults P] [--mutant NAME] ...`:
//!   simulate seeds; exit 0 only if every seed passes (see `sim/README.md`).
//! * `check HISTORY.jsonl [--budget N]`: check a recorded history for
//!   linearizability (format: `sim/README.md`, "Checking a history").
//!
//! Exit codes of `check`: 0 linearizable, 1 not linearizable, 2 unknown
//! (step budget exhausted), 3 unusable input or command line.

use clap::{Args, Parser, Subcommand};
use level2pc::Mutant;
use level2pc_sim::checker::{self, Report, Verdict, DEFAULT_BUDGET};
use level2pc_sim::history::{read_history_file, ParsedHistory};
use level2pc_sim::params::FaultKinds;
use level2pc_sim::runner::{run_command, RunArgs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Exit code: the history is linearizable.
const EXIT_LINEARIZABLE: u8 = 0;
/// Exit code: the history is not linearizable.
const EXIT_ILLEGAL: u8 = 1;
/// Exit code: the search ran out of budget.
const EXIT_UNKNOWN: u8 = 2;
/// Exit code: the input (or the command line) could not be used.
const EXIT_BAD_INPUT: u8 = 3;

/// Deterministic simulator and linearizability checker for level2pc.
#[derive(Parser)]
#[command(name = "level2pc-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands; each gets its own arguments struct and handler.
#[derive(Subcommand)]
enum Command {
    /// Simulate seeds of a cluster under faults and check every run.
    ///
    /// Exits 0 if every seed passes, 1 if any fails (each failing seed is printed with the
    /// command that reproduces it, shrunk, and written to --out), 3 on a bad command line.
    Run(RunCli),
    /// Check a JSON-lines client history for linearizability.
    ///
    /// Exits 0 if linearizable, 1 if not, 2 if the step budget ran out,
    /// 3 if the file cannot be read or is malformed.
    Check(CheckArgs),
}

/// Arguments of `run`.
#[derive(Args)]
struct RunCli {
    /// Number of seeds to run.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    start_seed: u64,
    /// Run exactly this one seed (overrides --seeds/--start-seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Nodes in the cluster.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=16))]
    nodes: u64,
    /// Client operations per seed in the fault phase.
    #[arg(long, default_value_t = 1_000)]
    ops: usize,
    /// Fault profile (none, net, crash, clock, all) or a comma-separated list of kinds
    /// (loss, duplicate, reorder, partitions, resets, crashes, pauses, clock-drift, disk-loss).
    #[arg(long, default_value = "all")]
    faults: String,
    /// Use exactly the given fault kinds (by default each seed keeps a random subset: swarm).
    #[arg(long)]
    no_swarm: bool,
    /// Override the seed's drawn number of clients.
    #[arg(long)]
    clients: Option<usize>,
    /// Force the contention-heavy workload (2 keys per group, 40 % batches) on every seed.
    #[arg(long)]
    hot: bool,
    /// Inject at most this many faults.
    #[arg(long)]
    max_faults: Option<usize>,
    /// Run an engine mutant (one protocol rule disabled); the run is then expected to fail.
    #[arg(long)]
    mutant: Option<String>,
    /// Let clock drift exceed the configured bound ρ (assumption-violation mode).
    #[arg(long)]
    clock_violation: bool,
    /// Worker threads (seeds run in parallel; output stays in seed order).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Print the event trace of the seed.
    #[arg(long)]
    trace: bool,
    /// Print only the hash of the seed's event trace.
    #[arg(long)]
    trace_hash: bool,
    /// Do not shrink failing seeds.
    #[arg(long)]
    no_shrink: bool,
    /// Directory for failure artefacts (history.jsonl, timeline.html, summary.txt).
    #[arg(long, default_value = "sim-failures")]
    out: PathBuf,
    /// Linearizability checker step budget per component.
    #[arg(long, default_value_t = 2_000_000)]
    budget: u64,
}

/// Arguments of `check`.
#[derive(Args)]
struct CheckArgs {
    /// The history: one JSON operation per line (see sim/README.md).
    history: PathBuf,
    /// Search steps allowed per component before the verdict is "unknown".
    #[arg(long, default_value_t = DEFAULT_BUDGET)]
    budget: u64,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // `--help` and `--version` also arrive here, and are not errors.
            let code = if err.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Check(args) => run_check(&args),
        Command::Run(args) => run_sim(&args),
    };
    ExitCode::from(code)
}

/// Runs `check`; returns the exit code.
fn run_check(args: &CheckArgs) -> u8 {
    let parsed = match read_history_file(&args.history) {
        Ok(parsed) => parsed,
        Err(err) => {
            eprintln!("error: {}: {err}", args.history.display());
            return EXIT_BAD_INPUT;
        }
    };
    let start = Instant::now();
    let report = match checker::check(&parsed.history, args.budget) {
        Ok(report) => report,
        Err(err) => {
            // The reader validates already; kept for completeness.
            eprintln!("error: {}: {err}", args.history.display());
            return EXIT_BAD_INPUT;
        }
    };
    let elapsed = start.elapsed();
    print_report(&parsed, &report);
    println!("checked in {:.3} ms", elapsed.as_secs_f64() * 1e3);
    match report.verdict {
        Verdict::Ok => EXIT_LINEARIZABLE,
        Verdict::Illegal(_) => EXIT_ILLEGAL,
        Verdict::Unknown { .. } => EXIT_UNKNOWN,
    }
}

/// Runs `run`; returns the exit code.
fn run_sim(cli: &RunCli) -> u8 {
    let faults = match FaultKinds::parse(&cli.faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: --faults: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let mutant = match cli.mutant.as_deref().map(|m| (m, Mutant::from_name(m))) {
        None => None,
        Some((_, Some(m))) => Some(m),
        Some((name, None)) => {
            let names: Vec<&str> = Mutant::ALL.iter().map(|m| m.name()).collect();
            eprintln!(
                "error: unknown mutant `{name}`; known: {}",
                names.join(", ")
            );
            return EXIT_BAD_INPUT;
        }
    };
    let args = RunArgs {
        start_seed: cli.seed.unwrap_or(cli.start_seed),
        seeds: if cli.seed.is_some() { 1 } else { cli.seeds },
        nodes: cli.nodes as usize,
        ops: cli.ops,
        faults,
        swarm: !cli.no_swarm,
        clients: cli.clients,
        hot: cli.hot,
        max_faults: cli.max_faults,
        mutant,
        clock_violation: cli.clock_violation,
        jobs: cli.jobs,
        trace: cli.trace,
        trace_hash: cli.trace_hash,
        shrink: !cli.no_shrink,
        out: cli.out.clone(),
        check_budget: cli.budget,
    };
    let stdout = std::io::stdout();
    match run_command(&args, &mut stdout.lock()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

/// Prints the statistics and the verdict, naming the failing op's line.
fn print_report(parsed: &ParsedHistory, report: &Report) {
    println!("{}", report.stats);
    println!("{}", report.verdict);
    if let Verdict::Illegal(violation) = &report.verdict {
        let line = parsed.line_of(violation.op);
        let op = parsed.history.get(violation.op);
        if let (Some(line), Some(op)) = (line, op) {
            println!("failing operation is on line {line}: {op}");
        }
    }
}
