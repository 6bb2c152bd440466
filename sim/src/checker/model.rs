//! The key-value model of one component: its state is the value of each of
//! the component's keys, as ids into the component's value table (0 =
//! absent).

use super::prepare::writer_ids;
use crate::history::{History, Shown};

/// An interned value; `ABSENT` means the key does not exist.
pub(super) type ValueId = u32;
/// A key's index within its component (keys are numbered in byte order).
pub(super) type KeyIdx = u32;

/// The id of "no value".
pub(super) const ABSENT: ValueId = 0;

/// What a value id stands for, in one component's value table (index =
/// id). checker.md §1.1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Value<'h> {
    /// The key does not exist (id 0 only).
    Absent,
    /// A string some operation of the component mentions.
    Named(&'h str),
    /// An integer no operation of the component mentions, from which a chain
    /// of the component's increments may still reach a value some operation
    /// compares with (built by `incr.rs`).
    Sum(i64),
    /// The opaque value: any integer from which no chain of the remaining
    /// increments reaches a value an operation compares with. Such integers
    /// are indistinguishable from each other (`incr.rs`), so one id stands
    /// for all of them.
    Opaque,
}

/// What one operation does to, or asserts about, the component state.
#[derive(Clone, Debug)]
pub(super) enum Kind {
    /// Each key holds the value.
    Read(Box<[(KeyIdx, ValueId)]>),
    /// Walking `keys` (ascending) and keeping those that exist yields
    /// exactly `entries`, stopping after `limit` of them.
    Range {
        keys: Box<[KeyIdx]>,
        limit: u64,
        entries: Box<[(KeyIdx, ValueId)]>,
    },
    /// Set each key (`ABSENT` deletes).
    Write(Box<[(KeyIdx, ValueId)]>),
    /// Key holds `expected`; it is set to `new`.
    CasApplied {
        key: KeyIdx,
        expected: ValueId,
        new: ValueId,
    },
    /// Key does not hold `expected`.
    CasMismatch { key: KeyIdx, expected: ValueId },
    /// If the key holds `expected`, set it to `new`; always legal.
    CasMaybe {
        key: KeyIdx,
        expected: ValueId,
        new: ValueId,
    },
    /// An increment by `by` with unknown outcome: the key goes from value id
    /// `v` to `step[v]` (`step[v] == v` where the increment cannot apply: not
    /// an integer, or overflow); always legal. `step` covers every id of the
    /// component (`incr.rs` fills it in once the value table is complete).
    IncrMaybe {
        key: KeyIdx,
        by: i64,
        step: Box<[ValueId]>,
    },
}

/// An operation compiled for one component.
#[derive(Clone, Debug)]
pub(super) struct CompiledOp {
    /// Call time.
    pub call: u64,
    /// Return time; `None` = +infinity.
    pub ret: Option<u64>,
    /// Its meaning.
    pub kind: Kind,
    /// Position in `History::ops`, for reports.
    pub origin: usize,
}

/// The component state with an incrementally maintained Zobrist hash, so
/// that hashing a state costs O(1) per step instead of O(keys).
#[derive(Clone, Debug)]
pub(super) struct State {
    values: Vec<ValueId>,
    hash: u64,
}

/// An undo record: the key and the value it had before a write.
pub(super) type Undo = (KeyIdx, ValueId);

impl State {
    /// All keys absent.
    pub fn new(keys: usize) -> Self {
        let hash = (0..keys).fold(0, |h, k| h ^ zobrist(k as KeyIdx, ABSENT));
        State {
            values: vec![ABSENT; keys],
            hash,
        }
    }

    /// The values, indexed by key.
    pub fn values(&self) -> &[ValueId] {
        &self.values
    }

    /// A hash of the values.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    fn get(&self, key: KeyIdx) -> ValueId {
        self.values[key as usize]
    }

    fn set(&mut self, key: KeyIdx, value: ValueId, undo: &mut Vec<Undo>) {
        let old = self.get(key);
        undo.push((key, old));
        self.assign(key, value);
    }

    fn assign(&mut self, key: KeyIdx, value: ValueId) {
        let slot = &mut self.values[key as usize];
        self.hash ^= zobrist(key, *slot) ^ zobrist(key, value);
        *slot = value;
    }

    /// Reverts writes logged in `undo` beyond `mark`, newest first.
    pub fn undo_to(&mut self, undo: &mut Vec<Undo>, mark: usize) {
        while undo.len() > mark {
            if let Some((key, old)) = undo.pop() {
                self.assign(key, old);
            }
        }
    }
}

/// A strong 64-bit mix (the SplitMix64 / MurmurHash3 finalizer).
pub(super) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The Zobrist code of "key holds value".
fn zobrist(key: KeyIdx, value: ValueId) -> u64 {
    mix((u64::from(key) << 32 | u64::from(value)) ^ 0x5bd1_e995_0000_0000)
}

/// Applies `kind` to `state` if it is legal there, logging changes in
/// `undo`. Returns false (state untouched) if it is not.
pub(super) fn apply(kind: &Kind, state: &mut State, undo: &mut Vec<Undo>) -> bool {
    match kind {
        Kind::Read(pairs) => pairs.iter().all(|&(k, v)| state.get(k) == v),
        Kind::Range {
            keys,
            limit,
            entries,
        } => range_matches(keys, *limit, entries, state),
        Kind::Write(pairs) => {
            for &(k, v) in pairs.iter() {
                state.set(k, v, undo);
            }
            true
        }
        Kind::CasApplied { key, expected, new } => {
            let matches = state.get(*key) == *expected;
            if matches {
                state.set(*key, *new, undo);
            }
            matches
        }
        Kind::CasMismatch { key, expected } => state.get(*key) != *expected,
        Kind::CasMaybe { key, expected, new } => {
            if state.get(*key) == *expected {
                state.set(*key, *new, undo);
            }
            true
        }
        Kind::IncrMaybe { key, step, .. } => {
            let from = state.get(*key);
            // Every id of the component has an entry; the fallback (no
            // change) is never used.
            let to = step.get(from as usize).copied().unwrap_or(from);
            if to != from {
                state.set(*key, to, undo);
            }
            true
        }
    }
}

/// Whether a range over `keys` would return exactly `entries` in `state`:
/// the entries must be the first existing keys, and there must be no more
/// existing keys unless the limit was reached. Allocation-free.
fn range_matches(
    keys: &[KeyIdx],
    limit: u64,
    entries: &[(KeyIdx, ValueId)],
    state: &State,
) -> bool {
    let mut existing = keys
        .iter()
        .map(|&k| (k, state.get(k)))
        .filter(|&(_, v)| v != ABSENT);
    let prefix_ok = entries.iter().all(|&entry| existing.next() == Some(entry));
    prefix_ok && (entries.len() as u64 >= limit || existing.next().is_none())
}

/// Names for keys and values, for explaining verdicts.
pub(super) struct Names<'a> {
    /// The component's keys by index.
    pub keys: &'a [&'a str],
    /// The component's value table, by id.
    pub values: &'a [Value<'a>],
    /// The history, to name the writers of values.
    pub history: &'a History,
}

impl Names<'_> {
    fn key(&self, key: KeyIdx) -> &str {
        self.keys.get(key as usize).copied().unwrap_or("?")
    }

    /// `"v3"`, `absent`, `"7" (a sum of increments no operation mentions)`
    /// or `an integer no operation mentions`.
    fn show(&self, value: ValueId) -> String {
        match self.values.get(value as usize) {
            _ if value == ABSENT => Shown(None).to_string(),
            Some(Value::Named(v)) => Shown(Some(v)).to_string(),
            Some(Value::Sum(n)) => {
                format!("\"{n}\" (a sum of increments no operation mentions)")
            }
            Some(Value::Opaque) => "an integer no operation mentions".to_owned(),
            Some(Value::Absent) | None => "?".to_owned(),
        }
    }

    /// [`Names::show`], plus the writers of a named value: `"v3" (written
    /// by op 7)`.
    fn describe(&self, key: KeyIdx, value: ValueId) -> String {
        let shown = self.show(value);
        match self.values.get(value as usize) {
            Some(Value::Named(v)) if value != ABSENT => {
                match writer_ids(self.history, self.key(key), v, false).as_slice() {
                    [] => shown,
                    ids => format!("{shown} (written by op {})", ids.join(", ")),
                }
            }
            _ => shown,
        }
    }

    /// The whole state, e.g. `{"a": "v1", "b": absent}`.
    pub fn state(&self, values: &[ValueId]) -> String {
        let parts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(k, &v)| format!("{:?}: {}", self.key(k as KeyIdx), self.show(v)))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    /// Why `kind` is illegal in state `values` (meaningful only if it is).
    pub fn explain(&self, kind: &Kind, values: &[ValueId]) -> String {
        let current = |k: KeyIdx| values.get(k as usize).copied().unwrap_or(ABSENT);
        match kind {
            Kind::Read(pairs) => {
                let wrong: Vec<String> = pairs
                    .iter()
                    .filter(|&&(k, v)| current(k) != v)
                    .map(|&(k, v)| {
                        format!(
                            "it read {} for {:?}, but the key holds {}",
                            self.show(v),
                            self.key(k),
                            self.describe(k, current(k))
                        )
                    })
                    .collect();
                wrong.join("; ")
            }
            Kind::Range { keys, limit, .. } => {
                let existing: Vec<String> = keys
                    .iter()
                    .filter(|&&k| current(k) != ABSENT)
                    .take(usize::try_from(*limit).unwrap_or(usize::MAX))
                    .map(|&k| format!("{:?}={}", self.key(k), self.describe(k, current(k))))
                    .collect();
                format!("the range should have returned [{}]", existing.join(", "))
            }
            Kind::CasApplied { key, expected, .. } => format!(
                "it succeeded, so {:?} held {}, but the key holds {}",
                self.key(*key),
                self.show(*expected),
                self.describe(*key, current(*key))
            ),
            Kind::CasMismatch { key, expected } => format!(
                "it failed, so {:?} did not hold {}, but it does",
                self.key(*key),
                self.describe(*key, *expected)
            ),
            Kind::Write(_) | Kind::CasMaybe { .. } | Kind::IncrMaybe { .. } => {
                "a write is always legal".to_owned()
            }
        }
    }
}
