//! Updates: the unit of replication. A put, a delete and an atomic batch are all one [`Update`].

use crate::timestamp::Ts;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An immutable byte string, cheap to clone (keys and values are shared between the engine's state,
/// messages, persist records and replies without copying).
pub type Bytes = Arc<[u8]>;

/// One key's write inside an update: `Some(value)` stores a value, `None` deletes (a tombstone).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Write {
    /// The key written.
    pub key: Bytes,
    /// The new value, or `None` for a delete.
    pub value: Option<Bytes>,
}

/// The full record of one update: its timestamp and its whole write set, sorted by key with no
/// duplicate keys. Replays always carry the full record under the same `Ts` (protocol.md §4.6):
/// replaying part of a batch would commit half of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Update {
    /// The update's timestamp, shared by all its keys.
    pub ts: Ts,
    /// The writes, sorted by key, keys unique.
    pub writes: Vec<Write>,
    /// For a read-modify-write (exactly one write, `ts.step` set): the Ts of the Valid entry it
    /// read. Receivers refuse it if they hold anything between (protocol.md §11.2).
    pub base: Option<Ts>,
}

impl Update {
    /// Whether this update touches more than one key (only those need the guardian rule, §5.3).
    pub fn is_multi_key(&self) -> bool {
        self.writes.len() > 1
    }

    /// Whether this is a read-modify-write (it carries its base).
    pub fn is_rmw(&self) -> bool {
        self.base.is_some()
    }

    /// Whether the (sorted) write sets of `self` and `other` share a key.
    pub fn overlaps(&self, other: &Update) -> bool {
        let (mut a, mut b) = (
            self.writes.iter().peekable(),
            other.writes.iter().peekable(),
        );
        while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
            match x.key.cmp(&y.key) {
                std::cmp::Ordering::Less => {
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    b.next();
                }
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }

    /// Whether the writes are sorted by key with no duplicates (the form the engine requires).
    pub fn is_canonical(&self) -> bool {
        let rmw_ok = match self.base {
            None => self.ts.step.is_none(),
            Some(base) => self.writes.len() == 1 && base < self.ts,
        };
        rmw_ok && !self.writes.is_empty() && self.writes.windows(2).all(|w| w[0].key < w[1].key)
    }
}

/// Sorts writes by key; for a key written twice, the later write in the input wins (the batch
/// behaves as if applied in order).
pub fn canonical_writes(mut writes: Vec<Write>) -> Vec<Write> {
    // A stable sort keeps input order among equal keys; keep the last of each run.
    writes.sort_by(|a, b| a.key.cmp(&b.key));
    let mut out: Vec<Write> = Vec::with_capacity(writes.len());
    for w in writes {
        match out.last_mut() {
            Some(last) if last.key == w.key => *last = w,
            _ => out.push(w),
        }
    }
    out
}

/// A shared update record.
pub type UpdateRef = Arc<Update>;

#[cfg(test)]
mod tests {
    use super::*;

    fn w(k: &str, v: Option<&str>) -> Write {
        Write {
            key: k.as_bytes().into(),
            value: v.map(|v| v.as_bytes().into()),
        }
    }

    #[test]
    fn canonical_sorts_and_last_write_wins() {
        let c = canonical_writes(vec![w("b", Some("1")), w("a", Some("2")), w("b", None)]);
        assert_eq!(c, vec![w("a", Some("2")), w("b", None)]);
    }

    #[test]
    fn overlap_is_detected_on_sorted_sets() {
        let u = |ws| Update {
            ts: Ts::ZERO,
            writes: ws,
            base: None,
        };
        assert!(u(vec![w("a", None), w("c", None)]).overlaps(&u(vec![w("b", None), w("c", None)])));
        assert!(!u(vec![w("a", None), w("c", None)]).overlaps(&u(vec![w("b", None), w("d", None)])));
    }
}
