//! The `level2pc-sim` command-line tool.
//!
//! Subcommands:
//! * `check HISTORY.jsonl [--budget N]`: check a recorded history for
//!   linearizability (format: `sim/README.md`, "Checking a history").
//!
//! Exit codes of `check`: 0 linearizable, 1 not linearizable, 2 unknown
//! (step budget exhausted), 3 unusable input or command line.

use clap::{Args, Parser, Subcommand};
use level2pc_sim::checker::{self, Report, Verdict, DEFAULT_BUDGET};
use level2pc_sim::history::{read_history_file, ParsedHistory};
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
    /// Check a JSON-lines client history for linearizability.
    ///
    /// Exits 0 if linearizable, 1 if not, 2 if the step budget ran out,
    /// 3 if the file cannot be read or is malformed.
    Check(CheckArgs),
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
