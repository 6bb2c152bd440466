//! Preprocessing (checker.md §0.3, §2 and §7): classify outcomes, reject
//! impossible reads, and apply the unique-value reductions.

use super::{Stats, Violation};
use crate::fixed_hash::{HashMap, HashSet};
use crate::history::{counter_value, History, Op, OpResult, Operation};

/// A key and a value (`None` = absent), borrowed from the history.
pub(super) type Pair<'h> = (&'h str, Option<&'h str>);

/// A key and a present value.
type Written<'h> = (&'h str, &'h str);

/// What is known about a compare-and-set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CasOutcome {
    /// Reported ok: the key held `expected`, and now holds `new`.
    Applied,
    /// Reported fail: the key did not hold `expected`; nothing was written.
    Mismatch,
    /// Unknown: it may take effect (and then compares) at any time, or never.
    Maybe,
}

/// An operation's meaning for the model.
#[derive(Clone, Debug)]
pub(super) enum Body<'h> {
    /// get / get_many: each key held the given value at one instant.
    Read(Vec<Pair<'h>>),
    /// A range read and what it returned.
    Range {
        /// Inclusive lower bound.
        lo: &'h str,
        /// Exclusive upper bound.
        hi: &'h str,
        /// Maximum entries; `None` = unlimited.
        limit: Option<u64>,
        /// The returned entries.
        entries: &'h [(String, String)],
    },
    /// put / del / batch: set each key (`None` deletes).
    Write(Vec<Pair<'h>>),
    /// Compare-and-set.
    Cas {
        /// The key.
        key: &'h str,
        /// The value compared against.
        expected: Option<&'h str>,
        /// The value written on a match (`None` deletes).
        new: Option<&'h str>,
        /// What the client learned.
        outcome: CasOutcome,
    },
    /// An increment with unknown outcome (the only kind kept: a failed one
    /// had no effect, and known ones are recorded as cas): at any time after
    /// its call, or never, add `by` to the key if it holds a canonical
    /// integer (absent = 0) and the sum does not overflow.
    Incr {
        /// The key.
        key: &'h str,
        /// The amount added.
        by: i64,
    },
}

/// An operation that survived preprocessing.
#[derive(Clone, Debug)]
pub(super) struct PrepOp<'h> {
    /// Position in `History::ops`.
    pub index: usize,
    /// Call time.
    pub call: u64,
    /// Return time; `None` = +infinity (a write whose outcome is unknown).
    pub ret: Option<u64>,
    /// What it does or observed.
    pub body: Body<'h>,
}

impl<'h> PrepOp<'h> {
    /// The present values this op may write, as far as they are known: an
    /// increment's are not (it writes whatever sum it makes), so it has none
    /// here, and its key is excluded from the reductions instead.
    fn written(&self) -> Vec<Written<'h>> {
        match &self.body {
            Body::Write(pairs) => pairs.iter().filter_map(|&(k, v)| Some((k, v?))).collect(),
            Body::Cas {
                key,
                new: Some(new),
                outcome,
                ..
            } if *outcome != CasOutcome::Mismatch => {
                vec![(key, new)]
            }
            _ => Vec::new(),
        }
    }

    /// Present values this op saw, if its return time bounds when it saw them.
    fn observed(&self) -> Vec<Written<'h>> {
        match &self.body {
            Body::Read(pairs) => pairs.iter().filter_map(|&(k, v)| Some((k, v?))).collect(),
            Body::Range { entries, .. } => entries
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            Body::Cas {
                key,
                expected: Some(v),
                outcome: CasOutcome::Applied,
                ..
            } => vec![(key, v)],
            _ => Vec::new(),
        }
    }

    /// Present values whose presence this op's legality may depend on.
    fn referenced(&self) -> Vec<Written<'h>> {
        match &self.body {
            Body::Cas {
                key,
                expected: Some(v),
                ..
            } => vec![(key, v)],
            _ => self.observed(),
        }
    }

    /// Whether this is a write with unknown outcome still at +infinity.
    fn is_pending_write(&self) -> bool {
        self.ret.is_none()
    }
}

/// The history after preprocessing.
#[derive(Debug)]
pub(super) struct Prepared<'h> {
    /// The operations to check, in history order.
    pub ops: Vec<PrepOp<'h>>,
}

/// Classifies, sanity-checks and reduces the history. Returns a violation
/// when a read is impossible whatever the order (a value nobody wrote, or a
/// malformed range answer).
pub(super) fn prepare<'h>(
    history: &'h History,
    stats: &mut Stats,
) -> Result<Prepared<'h>, Violation> {
    let mut ops = Vec::with_capacity(history.ops.len());
    for (index, op) in history.ops.iter().enumerate() {
        match classify(index, op) {
            Class::Keep(prep) => ops.push(prep),
            Class::Failed => stats.dropped_failed += 1,
            Class::UnknownRead => stats.dropped_unknown_reads += 1,
        }
    }
    check_reads(history, &ops)?;
    stats.values_unique = reduce(&mut ops, stats);
    stats.pending_unknown_writes = ops.iter().filter(|op| op.is_pending_write()).count();
    Ok(Prepared { ops })
}

/// The fate of one operation.
enum Class<'h> {
    /// Checked.
    Keep(PrepOp<'h>),
    /// A definite failure of a put/del/batch, or a refused read: no effect.
    Failed,
    /// A read with unknown outcome: reads have no effect, so it says nothing.
    UnknownRead,
}

fn classify(index: usize, op: &Operation) -> Class<'_> {
    let unknown = op.is_unknown();
    let ret = if unknown { None } else { op.ret };
    let keep = |body| {
        Class::Keep(PrepOp {
            index,
            call: op.call,
            ret,
            body,
        })
    };
    if op.result == OpResult::Fail && !matches!(op.op, Op::Cas { .. }) {
        return Class::Failed;
    }
    if unknown && !op.op.is_write() {
        return Class::UnknownRead;
    }
    keep(body_of(op, unknown))
}

/// The body of a kept operation (failures and unknown reads are gone).
fn body_of(op: &Operation, unknown: bool) -> Body<'_> {
    match (&op.op, &op.result) {
        (Op::Get { key }, OpResult::Value { value }) => Body::Read(vec![(key, value.as_deref())]),
        (Op::GetMany { keys }, OpResult::Values { values }) => Body::Read(
            keys.iter()
                .map(String::as_str)
                .zip(values.iter().map(Option::as_deref))
                .collect(),
        ),
        (Op::Range { lo, hi, limit }, OpResult::Range { entries }) => Body::Range {
            lo,
            hi,
            limit: *limit,
            entries,
        },
        (Op::Put { key, value }, _) => Body::Write(vec![(key, Some(value))]),
        (Op::Del { key }, _) => Body::Write(vec![(key, None)]),
        (Op::Batch { writes }, _) => Body::Write(
            writes
                .iter()
                .map(|w| (w.key.as_str(), w.value.as_deref()))
                .collect(),
        ),
        (Op::Incr { key, by }, _) => Body::Incr { key, by: *by },
        (Op::Cas { key, expected, new }, result) => Body::Cas {
            key,
            expected: expected.as_deref(),
            new: new.as_deref(),
            outcome: match (unknown, result) {
                (true, _) => CasOutcome::Maybe,
                (false, OpResult::Fail) => CasOutcome::Mismatch,
                _ => CasOutcome::Applied,
            },
        },
        // `History::validate` rules out every other combination; an empty
        // read is the harmless fallback.
        _ => Body::Read(Vec::new()),
    }
}

/// Rejects reads that no ordering can explain: a value never written to
/// that key, or a range answer that breaks the range contract.
fn check_reads(history: &History, ops: &[PrepOp<'_>]) -> Result<(), Violation> {
    let written: HashSet<Written<'_>> = ops.iter().flat_map(PrepOp::written).collect();
    let incremented = incr_keys(ops);
    // An integer on a key some increment may change could be that
    // increment's sum: leave it to the search.
    let possible = |pair: &Written<'_>| written.contains(pair) || maybe_a_sum(&incremented, pair);
    for op in ops {
        let problem = range_problem(op).or_else(|| garbage_problem(history, op, &possible));
        if let Some((key, reason)) = problem {
            let operation = history.ops.get(op.index);
            return Err(Violation {
                component: vec![key.to_owned()],
                op: operation.map_or(0, |o| o.id),
                linearization: Vec::new(),
                reason: format!(
                    "{}: {reason}",
                    operation.map_or(String::new(), |o| o.to_string())
                ),
            });
        }
    }
    Ok(())
}

/// Checks that a range answer is ascending, inside `[lo, hi)` and within its
/// limit. Returns the offending key and why.
fn range_problem<'h>(op: &PrepOp<'h>) -> Option<(&'h str, String)> {
    let Body::Range {
        lo,
        hi,
        limit,
        entries,
    } = op.body
    else {
        return None;
    };
    let over_limit = limit.is_some_and(|l| entries.len() as u64 > l);
    if let (true, Some((key, _))) = (over_limit, entries.last()) {
        return Some((
            key,
            format!(
                "range returned {} entries, more than its limit",
                entries.len()
            ),
        ));
    }
    let mut previous: Option<&str> = None;
    for (key, _) in entries {
        if key.as_str() < lo || key.as_str() >= hi {
            return Some((
                key,
                format!("range returned key {key:?} outside [{lo:?}, {hi:?})"),
            ));
        }
        if previous.is_some_and(|p| p >= key.as_str()) {
            return Some((
                key,
                format!("range entries are not strictly ascending at key {key:?}"),
            ));
        }
        previous = Some(key);
    }
    None
}

/// Finds a value this op saw (or a cas expected and matched) that no
/// surviving write could have written.
fn garbage_problem<'h>(
    history: &History,
    op: &PrepOp<'h>,
    possible: &dyn Fn(&Written<'h>) -> bool,
) -> Option<(&'h str, String)> {
    let (key, value) = op.observed().into_iter().find(|pair| !possible(pair))?;
    let verb = match op.body {
        Body::Cas { .. } => "succeeded, so it saw",
        _ => "returned",
    };
    let why = failed_writers(history, key, value);
    Some((
        key,
        format!("{verb} {value:?} for key {key:?}, but no write that may have taken effect wrote that value to that key{why}"),
    ))
}

/// Explains where a garbage value came from, if a failed write wrote it.
fn failed_writers(history: &History, key: &str, value: &str) -> String {
    let ids = writer_ids(history, key, value, true);
    if ids.is_empty() {
        String::new()
    } else {
        format!(
            " (only operations reported as failed did: {})",
            ids.join(", ")
        )
    }
}

/// Ids of the operations reported as failed (if `failed`) or not (if not)
/// that would write `value` to `key` if they took effect.
pub(super) fn writer_ids(history: &History, key: &str, value: &str, failed: bool) -> Vec<String> {
    history
        .ops
        .iter()
        .filter(|o| (o.result == OpResult::Fail) == failed && writes_value(&o.op, key, value))
        .map(|o| o.id.to_string())
        .collect()
}

/// Whether `op` would write `value` to `key` if it took effect.
fn writes_value(op: &Op, key: &str, value: &str) -> bool {
    match op {
        Op::Put { key: k, value: v } => k == key && v == value,
        Op::Cas { key: k, new: v, .. } => k == key && v.as_deref() == Some(value),
        Op::Batch { writes } => writes
            .iter()
            .any(|w| w.key == key && w.value.as_deref() == Some(value)),
        _ => false,
    }
}

/// The keys of the increments kept (all of them pending).
fn incr_keys<'h>(ops: &[PrepOp<'h>]) -> HashSet<&'h str> {
    ops.iter()
        .filter_map(|op| match op.body {
            Body::Incr { key, .. } => Some(key),
            _ => None,
        })
        .collect()
}

/// Whether an increment might have written `pair`: its key is incremented
/// and its value is a canonical integer.
fn maybe_a_sum(incremented: &HashSet<&str>, &(key, value): &Written<'_>) -> bool {
    incremented.contains(key) && counter_value(value).is_some()
}

/// Applies the unique-value reductions of checker.md §2 where they are
/// sound; returns whether every written (key, value) pair has one writer.
///
/// An increment has no value of its own: whatever sum it makes may equal a
/// value some put also writes, so no pair on an incremented key has a
/// single writer (checker.md §2.2). Both reductions skip those keys: a
/// clamp would force a write to happen that an increment may stand in for,
/// and a drop would remove a write whose value an increment may turn into
/// an observed sum (put "7", incr by 1, read "8"). Increments themselves
/// are never clamped or dropped.
fn reduce(ops: &mut Vec<PrepOp<'_>>, stats: &mut Stats) -> bool {
    let incremented = incr_keys(ops);
    let mut writers: HashMap<Written<'_>, usize> = HashMap::default();
    for pair in ops.iter().flat_map(PrepOp::written) {
        *writers.entry(pair).or_insert(0) += 1;
    }
    let unique =
        |pair: &Written<'_>| !incremented.contains(pair.0) && writers.get(pair) == Some(&1);
    while clamp_observed(ops, &unique, stats) {}
    while drop_unobserved(ops, &incremented, stats) {}
    incremented.is_empty() && writers.values().all(|&n| n == 1)
}

/// One pass of: a pending write whose uniquely-written value some read with
/// a known return time observed must have been linearized before that
/// read returned, so its return is clamped to the earliest such read.
/// Returns whether anything changed (a clamped cas becomes a new observer).
fn clamp_observed<'h>(
    ops: &mut [PrepOp<'h>],
    unique: &dyn Fn(&Written<'h>) -> bool,
    stats: &mut Stats,
) -> bool {
    let mut earliest: HashMap<Written<'h>, u64> = HashMap::default();
    for op in ops.iter() {
        let Some(ret) = op.ret else { continue };
        for pair in op.observed() {
            let slot = earliest.entry(pair).or_insert(ret);
            *slot = (*slot).min(ret);
        }
    }
    let mut changed = false;
    for op in ops.iter_mut().filter(|op| op.is_pending_write()) {
        let seen_by = op
            .written()
            .iter()
            .filter(|p| unique(p))
            .filter_map(|p| earliest.get(p).copied())
            .min();
        if let Some(ret) = seen_by {
            // A read that returned before the write was even called is a
            // violation the search will find; keep the interval well formed.
            op.ret = Some(ret.max(op.call));
            if let Body::Cas { outcome, .. } = &mut op.body {
                *outcome = CasOutcome::Applied;
            }
            stats.clamped_writes += 1;
            changed = true;
        }
    }
    changed
}

/// One pass of: a pending write none of whose values any operation refers
/// to can be dropped ("it never happened" explains everything it could).
/// Not for writes that delete (absence is not unique), nor when a failed cas
/// on the same key might complete after the write was called (the write's
/// value could be what made that cas mismatch), nor for increments or
/// writes to an incremented key (see [`reduce`]). Returns whether anything
/// was dropped.
fn drop_unobserved(
    ops: &mut Vec<PrepOp<'_>>,
    incremented: &HashSet<&str>,
    stats: &mut Stats,
) -> bool {
    let mut referenced: HashSet<Written<'_>> = HashSet::default();
    let mut last_mismatch: HashMap<&str, u64> = HashMap::default();
    for op in ops.iter() {
        referenced.extend(op.referenced());
        if let (
            Body::Cas {
                key,
                outcome: CasOutcome::Mismatch,
                ..
            },
            Some(ret),
        ) = (&op.body, op.ret)
        {
            let slot = last_mismatch.entry(key).or_insert(ret);
            *slot = (*slot).max(ret);
        }
    }
    let droppable = |op: &PrepOp<'_>| {
        op.is_pending_write()
            && !deletes(op)
            && !matches!(op.body, Body::Incr { .. })
            && op.written().iter().all(|pair| {
                let mismatch_after_call =
                    matches!(last_mismatch.get(pair.0), Some(&t) if t >= op.call);
                !referenced.contains(pair) && !mismatch_after_call && !incremented.contains(pair.0)
            })
    };
    let before = ops.len();
    ops.retain(|op| !droppable(op));
    stats.dropped_unobserved_writes += before - ops.len();
    ops.len() != before
}

/// Whether a write deletes some key.
fn deletes(op: &PrepOp<'_>) -> bool {
    match &op.body {
        Body::Write(pairs) => pairs.iter().any(|(_, v)| v.is_none()),
        Body::Cas { new, .. } => new.is_none(),
        _ => false,
    }
}
