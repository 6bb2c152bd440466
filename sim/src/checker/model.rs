//! The key-value model of one component: its state is the value of each of
//! the component's keys, as interned ids (0 = absent).

use super::prepare::writer_ids;
use crate::history::{History, Shown};

/// An interned value; `ABSENT` means the key does not exist.
pub(super) type ValueId = u32;
/// A key's index within its component (keys are numbered in byte order).
pub(super) type KeyIdx = u32;

/// The id of "no value".
pub(super) const ABSENT: ValueId = 0;

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
    /// Value names by id (index 0 is unused).
    pub values: &'a [&'a str],
    /// The history, to name the writers of values.
    pub history: &'a History,
}

impl Names<'_> {
    fn key(&self, key: KeyIdx) -> &str {
        self.keys.get(key as usize).copied().unwrap_or("?")
    }

    fn value(&self, value: ValueId) -> Option<&str> {
        match value {
            ABSENT => None,
            v => Some(self.values.get(v as usize).copied().unwrap_or("?")),
        }
    }

    /// `"v3"`, `absent`, or `"v3" (written by op 7)`.
    fn describe(&self, key: KeyIdx, value: ValueId) -> String {
        let shown = Shown(self.value(value)).to_string();
        match self.value(value) {
            Some(v) => match writer_ids(self.history, self.key(key), v, false).as_slice() {
                [] => shown,
                ids => format!("{shown} (written by op {})", ids.join(", ")),
            },
            None => shown,
        }
    }

    /// The whole state, e.g. `{"a": "v1", "b": absent}`.
    pub fn state(&self, values: &[ValueId]) -> String {
        let parts: Vec<String> = values
            .iter()
            .enumerate()
            .map(|(k, &v)| format!("{:?}: {}", self.key(k as KeyIdx), Shown(self.value(v))))
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
                            Shown(self.value(v)),
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
                Shown(self.value(*expected)),
                self.describe(*key, current(*key))
            ),
            Kind::CasMismatch { key, expected } => format!(
                "it failed, so {:?} did not hold {}, but it does",
                self.key(*key),
                self.describe(*key, *expected)
            ),
            Kind::Write(_) | Kind::CasMaybe { .. } => "a write is always legal".to_owned(),
        }
    }
}
