//! The linearizability checker for key-value histories (design: `docs/checker.md`).
//!
//! Pipeline, for [`check`]:
//! 1. [`History::validate`]: reject malformed operations (recorder bugs).
//! 2. Preprocessing: drop definite failures of writes and reads whose outcome
//!    is unknown; unknown writes (increments included) get return time
//!    +infinity. Reads of values no write wrote (and no increment could
//!    have made), and range answers that break the range contract, are
//!    illegal at once. Where a written (key, value) pair has a single writer
//!    and no increment touches the key, an unknown write nobody refers to
//!    is dropped and an observed one has its return clamped to the first
//!    read that saw it (etcd's `patch_history`).
//! 3. Union-find over keys splits the ops into independent components; a
//!    range joins every written key within its bounds. Each component
//!    interns its values; increments get step tables over them.
//! 4. Each component, smallest first, is searched with WGL plus Lowe's
//!    memoisation under a deterministic step budget.
//!
//! ```
//! use level2pc_sim::checker::{check, DEFAULT_BUDGET};
//! use level2pc_sim::history::{History, Op, OpResult, Operation};
//!
//! let op = |id, call, ret, op, result| Operation {
//!     id, client: id, node: None, call, ret: Some(ret), op, result,
//! };
//! let history = History::new(vec![
//!     op(0, 0, 1, Op::Put { key: "a".into(), value: "1".into() }, OpResult::Ok),
//!     op(1, 2, 3, Op::Get { key: "a".into() }, OpResult::Value { value: None }),
//! ]);
//! let report = check(&history, DEFAULT_BUDGET).expect("well-formed history");
//! assert!(report.verdict.is_illegal()); // the get began after the put ended
//! ```

#![warn(missing_docs)]

mod brute;
mod incr;
mod model;
mod partition;
mod prepare;
mod wgl;

#[cfg(test)]
mod gen;
#[cfg(test)]
mod tests;

pub use brute::check_brute_force;

use crate::history::{History, HistoryError};
use model::Names;
use partition::Component;
use std::fmt;

/// The default step budget per component: enough for components within the
/// workload rules of checker.md §3.3 (≤ ~5 concurrent ops) by orders of
/// magnitude, while a hopeless search gives up in about a second.
pub const DEFAULT_BUDGET: u64 = 10_000_000;

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The history is linearizable.
    Ok,
    /// The history is not linearizable.
    Illegal(Violation),
    /// Some component exhausted the step budget (and none was illegal).
    Unknown {
        /// The first component (keys, ascending) that ran out of budget.
        component: Vec<String>,
        /// The steps it took.
        steps: u64,
    },
}

impl Verdict {
    /// Whether the history is linearizable.
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Ok)
    }

    /// Whether the history is definitely not linearizable.
    pub fn is_illegal(&self) -> bool {
        matches!(self, Verdict::Illegal(_))
    }

    /// Whether the budget ran out.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Verdict::Unknown { .. })
    }
}

/// Evidence that a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The keys of the failing component, ascending.
    pub component: Vec<String>,
    /// The id of the operation that could not be linearized: where the
    /// longest partial linearization got stuck, or the impossible read.
    pub op: u64,
    /// Ids of the operations in the longest partial linearization, in
    /// linearization order (empty for an impossible read).
    pub linearization: Vec<u64>,
    /// A human-readable explanation.
    pub reason: String,
}

/// What the checker did, for summaries and tuning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Operations in the history.
    pub ops: usize,
    /// Dropped as definite failures (failed put/del/batch/incr, failed reads).
    pub dropped_failed: usize,
    /// Dropped reads whose outcome was unknown.
    pub dropped_unknown_reads: usize,
    /// Dropped unknown writes that nothing referred to.
    pub dropped_unobserved_writes: usize,
    /// Unknown writes whose return was clamped to a read that saw them.
    pub clamped_writes: usize,
    /// Unknown writes left with return time +infinity.
    pub pending_unknown_writes: usize,
    /// Whether every written (key, value) pair has exactly one writer (false
    /// whenever an increment is kept: its sums have no writer of their own).
    pub values_unique: bool,
    /// Operations in components (the rest touched no key).
    pub checked_ops: usize,
    /// Number of components.
    pub components: usize,
    /// Operations in the largest component.
    pub largest_component_ops: usize,
    /// Keys in the largest component.
    pub largest_component_keys: usize,
    /// Components searched before the verdict was known.
    pub components_searched: usize,
    /// Search steps, summed over components.
    pub steps: u64,
}

/// A verdict with statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The answer.
    pub verdict: Verdict,
    /// How it was reached.
    pub stats: Stats,
}

/// Checks a history for linearizability, spending at most `budget` search
/// steps per component (see [`DEFAULT_BUDGET`]). Deterministic: the same
/// history and budget always give the same report. Fails only on malformed
/// histories.
pub fn check(history: &History, budget: u64) -> Result<Report, HistoryError> {
    history.validate()?;
    let mut stats = Stats {
        ops: history.ops.len(),
        ..Stats::default()
    };
    let prepared = match prepare::prepare(history, &mut stats) {
        Ok(prepared) => prepared,
        Err(violation) => {
            return Ok(Report {
                verdict: Verdict::Illegal(violation),
                stats,
            })
        }
    };
    let components = partition::partition(&prepared.ops);
    record_shape(&components, &mut stats);
    let verdict = check_components(history, &components, budget, &mut stats);
    Ok(Report { verdict, stats })
}

fn record_shape(components: &[Component<'_>], stats: &mut Stats) {
    stats.components = components.len();
    stats.checked_ops = components.iter().map(|c| c.ops.len()).sum();
    if let Some(largest) = components
        .iter()
        .max_by_key(|c| (c.ops.len(), c.keys.len()))
    {
        stats.largest_component_ops = largest.ops.len();
        stats.largest_component_keys = largest.keys.len();
    }
}

/// Searches components in order; the first illegal one decides. A
/// component out of budget is remembered, but later ones are still
/// searched, since an illegal one would settle the question. So is a
/// component whose increments' step tables are too large to build
/// (checker.md §1.6), as if it had run out of budget at once.
fn check_components(
    history: &History,
    components: &[Component<'_>],
    budget: u64,
    stats: &mut Stats,
) -> Verdict {
    let mut unknown = None;
    for component in components {
        let (outcome, steps) = if component.searchable {
            wgl::search(&component.ops, component.keys.len(), budget)
        } else {
            (wgl::Outcome::OutOfBudget, 0)
        };
        stats.steps += steps;
        stats.components_searched += 1;
        match outcome {
            wgl::Outcome::Linearizable => {}
            wgl::Outcome::OutOfBudget => {
                unknown.get_or_insert_with(|| Verdict::Unknown {
                    component: owned_keys(component),
                    steps,
                });
            }
            wgl::Outcome::Illegal(stuck) => {
                return Verdict::Illegal(violation(history, component, &stuck));
            }
        }
    }
    unknown.unwrap_or(Verdict::Ok)
}

fn owned_keys(component: &Component<'_>) -> Vec<String> {
    component.keys.iter().map(|k| (*k).to_owned()).collect()
}

/// Turns a stuck search into a report in terms of the history.
fn violation(history: &History, component: &Component<'_>, stuck: &wgl::Stuck) -> Violation {
    let id_of = |local: usize| {
        component
            .ops
            .get(local)
            .and_then(|op| history.ops.get(op.origin))
            .map_or(0, |op| op.id)
    };
    let names = Names {
        keys: &component.keys,
        values: &component.values,
        history,
    };
    let failing = component.ops.get(stuck.op);
    let shown = failing
        .and_then(|op| history.ops.get(op.origin))
        .map_or_else(String::new, ToString::to_string);
    let why = failing.map_or_else(String::new, |op| names.explain(&op.kind, &stuck.state));
    Violation {
        component: owned_keys(component),
        op: id_of(stuck.op),
        linearization: stuck.linearization.iter().map(|&l| id_of(l)).collect(),
        reason: format!(
            "{shown} cannot be linearized after the longest partial linearization \
             ({} of the component's {} operations): {why}; state then: {}",
            stuck.linearization.len(),
            component.ops.len(),
            names.state(&stuck.state),
        ),
    }
}

impl fmt::Display for Verdict {
    /// A multi-line summary of the verdict.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => f.write_str("verdict: linearizable"),
            Verdict::Illegal(v) => {
                writeln!(f, "verdict: NOT linearizable")?;
                writeln!(f, "component: {:?}", v.component)?;
                writeln!(f, "operation that could not be linearized: {}", v.op)?;
                writeln!(
                    f,
                    "longest partial linearization ({} ops): {:?}",
                    v.linearization.len(),
                    v.linearization
                )?;
                write!(f, "reason: {}", v.reason)
            }
            Verdict::Unknown { component, steps } => write!(
                f,
                "verdict: unknown (search budget exhausted after {steps} steps on component {component:?})"
            ),
        }
    }
}

impl fmt::Display for Stats {
    /// A three-line summary of the preprocessing and the search.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "operations: {} ({} checked; dropped {} failed, {} unknown reads, {} unobserved unknown writes; \
             {} unknown writes clamped, {} left pending)",
            self.ops,
            self.checked_ops,
            self.dropped_failed,
            self.dropped_unknown_reads,
            self.dropped_unobserved_writes,
            self.clamped_writes,
            self.pending_unknown_writes,
        )?;
        writeln!(
            f,
            "values unique per key: {}",
            if self.values_unique {
                "yes"
            } else {
                "no (reductions applied only to unique ones)"
            }
        )?;
        write!(
            f,
            "components: {} (largest {} ops over {} keys), {} searched in {} steps",
            self.components,
            self.largest_component_ops,
            self.largest_component_keys,
            self.components_searched,
            self.steps
        )
    }
}
