//! The workload: closed-loop clients issuing get / get_many / range / put / del / batch with
//! unique values, and compare-and-set / set-if-absent / increment (protocol.md §11), against
//! random nodes, confined to small key groups that rotate so the linearizability checker's
//! components stay small (checker.md §2–§3).

use crate::entropy::SimRng;
use crate::history;
use crate::params::Workload;
use level2pc::{Bytes, Change, Op, Presence, Write};
use rand::Rng;
use std::collections::BTreeMap;

/// A generated operation, in both the engine's and the history's vocabulary.
#[derive(Clone, Debug)]
pub struct GenOp {
    /// What the engine is asked.
    pub engine: Op,
    /// What the history records.
    pub history: history::Op,
}

/// The key names of group `g`: `g0003k0` … All share the prefix `g0003k`, so the range
/// `[g0003k, g0003l)` covers exactly the group.
pub fn key(group: usize, i: usize) -> String {
    format!("g{group:04}k{i}")
}

/// The range bounds covering group `g`.
pub fn group_bounds(group: usize) -> (String, String) {
    (format!("g{group:04}k"), format!("g{group:04}l"))
}

fn bytes(s: &str) -> Bytes {
    s.as_bytes().into()
}

/// What clients last learned of each key's value (`None`: absent), so that compare-and-sets
/// often expect the right value.
pub type Seen = BTreeMap<String, Option<String>>;

/// Draws the next operation of `client` on `group`; `n` makes its value unique.
pub fn next_op(
    rng: &mut SimRng,
    w: &Workload,
    seen: &Seen,
    group: usize,
    client: usize,
    n: u64,
) -> GenOp {
    let keys = w.keys_per_group;
    let value = format!("c{client}.{n}");
    let pick = rng.gen_range(0..100);
    let mut acc = 0;
    let kind = w.mix.iter().position(|&p| {
        acc += p;
        pick < acc
    });
    let distinct_keys = |rng: &mut SimRng, count: usize| -> Vec<String> {
        let mut idx: Vec<usize> = (0..keys).collect();
        for i in (1..keys).rev() {
            idx.swap(i, rng.gen_range(0..=i));
        }
        let mut chosen: Vec<usize> = idx.into_iter().take(count).collect();
        chosen.sort();
        chosen.into_iter().map(|i| key(group, i)).collect()
    };
    match kind.unwrap_or(0) {
        0 => {
            let k = key(group, rng.gen_range(0..keys));
            GenOp {
                engine: Op::Get { key: bytes(&k) },
                history: history::Op::Get { key: k },
            }
        }
        1 => {
            let count = rng.gen_range(2..=keys.max(2)).min(keys);
            let ks = distinct_keys(rng, count);
            GenOp {
                engine: Op::GetMany {
                    keys: ks.iter().map(|k| bytes(k)).collect(),
                },
                history: history::Op::GetMany { keys: ks },
            }
        }
        2 => {
            let (lo, hi) = group_bounds(group);
            let limit = rng.gen_bool(0.5).then(|| rng.gen_range(1..=keys));
            GenOp {
                engine: Op::Range {
                    lo: bytes(&lo),
                    hi: bytes(&hi),
                    limit,
                },
                history: history::Op::Range {
                    lo,
                    hi,
                    limit: limit.map(|l| l as u64),
                },
            }
        }
        3 => {
            let k = key(group, rng.gen_range(0..keys));
            GenOp {
                engine: Op::Put {
                    key: bytes(&k),
                    value: bytes(&value),
                },
                history: history::Op::Put { key: k, value },
            }
        }
        4 => {
            let k = key(group, rng.gen_range(0..keys));
            GenOp {
                engine: Op::Del { key: bytes(&k) },
                history: history::Op::Del { key: k },
            }
        }
        6 => {
            let k = key(group, rng.gen_range(0..keys));
            // Mostly what was last seen (so many apply), sometimes "absent" or a stale guess.
            let expected = match rng.gen_range(0..10) {
                0 => None,
                1 => Some(format!("c{client}.{}", n.saturating_sub(1))),
                _ => seen.get(&k).cloned().flatten(),
            };
            GenOp {
                engine: Op::Rmw {
                    key: bytes(&k),
                    change: Change::Cas {
                        expected: expected.as_deref().map(bytes),
                        new: Some(bytes(&value)),
                    },
                },
                history: history::Op::Cas {
                    key: k,
                    expected,
                    new: Some(value),
                },
            }
        }
        7 => {
            let k = key(group, rng.gen_range(0..keys));
            GenOp {
                engine: Op::Rmw {
                    key: bytes(&k),
                    change: Change::Set {
                        value: bytes(&value),
                        only: Some(Presence::Absent),
                    },
                },
                history: history::Op::Cas {
                    key: k,
                    expected: None,
                    new: Some(value),
                },
            }
        }
        8 => {
            let k = key(group, rng.gen_range(0..keys));
            GenOp {
                engine: Op::Rmw {
                    key: bytes(&k),
                    change: Change::IncrBy(1),
                },
                // Rewritten as the cas it amounts to once its outcome is known (world.rs).
                history: history::Op::Incr { key: k, by: 1 },
            }
        }
        9 => {
            let k = key(group, rng.gen_range(0..keys));
            GenOp {
                engine: Op::Rmw {
                    key: bytes(&k),
                    change: Change::Delete,
                },
                // Unknown outcome: a delete (of whatever it found); known: rewritten as the cas
                // it amounts to.
                history: history::Op::Del { key: k },
            }
        }
        _ => {
            let count = rng.gen_range(2..=keys.max(2)).min(keys);
            let ks = distinct_keys(rng, count);
            let writes: Vec<(String, Option<String>)> = ks
                .into_iter()
                .map(|k| (k, (!rng.gen_bool(0.2)).then(|| value.clone())))
                .collect();
            GenOp {
                engine: Op::Batch {
                    writes: writes
                        .iter()
                        .map(|(k, v)| Write {
                            key: bytes(k),
                            value: v.as_deref().map(bytes),
                        })
                        .collect(),
                },
                history: history::Op::Batch {
                    writes: writes
                        .into_iter()
                        .map(|(key, value)| history::BatchWrite { key, value })
                        .collect(),
                },
            }
        }
    }
}

/// A final read of a whole group (used after healing to resolve unknown writes).
pub fn group_read(group: usize) -> GenOp {
    let (lo, hi) = group_bounds(group);
    GenOp {
        engine: Op::Range {
            lo: bytes(&lo),
            hi: bytes(&hi),
            limit: None,
        },
        history: history::Op::Range {
            lo,
            hi,
            limit: None,
        },
    }
}

/// What an operation's answer tells about keys' values, for [`Seen`].
pub fn learned(op: &history::Op, result: &level2pc::OpResult) -> Vec<(String, Option<String>)> {
    use level2pc::OpResult as R;
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    match (op, result) {
        (history::Op::Get { key }, R::Value(v)) => vec![(key.clone(), v.as_ref().map(text))],
        (history::Op::GetMany { keys }, R::Values(vs)) => keys
            .iter()
            .cloned()
            .zip(vs.iter().map(|v| v.as_ref().map(text)))
            .collect(),
        (history::Op::Range { .. }, R::Entries(es)) => {
            es.iter().map(|(k, v)| (text(k), Some(text(v)))).collect()
        }
        (history::Op::Put { key, value }, R::Written { .. }) => {
            vec![(key.clone(), Some(value.clone()))]
        }
        (history::Op::Del { key }, R::Written { .. }) => vec![(key.clone(), None)],
        (history::Op::Batch { writes }, R::Written { .. }) => writes
            .iter()
            .map(|w| (w.key.clone(), w.value.clone()))
            .collect(),
        (
            history::Op::Cas { key, .. } | history::Op::Incr { key, .. } | history::Op::Del { key },
            R::Changed { current, .. },
        ) => {
            vec![(key.clone(), current.as_ref().map(text))]
        }
        _ => Vec::new(),
    }
}

/// The history's record of an increment or a delete-if-present whose outcome is known: the
/// cas it amounts to (it found `previous` and left `current`; a delete that found nothing is a
/// cas from absent to absent, a read). Such a cas always held. `None` keeps the op as it was
/// (outcome unknown).
pub fn rmw_as_cas(op: &history::Op, result: &level2pc::OpResult) -> Option<history::Op> {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let level2pc::OpResult::Changed {
        previous, current, ..
    } = result
    else {
        return None;
    };
    match op {
        history::Op::Incr { key, .. } | history::Op::Del { key } => Some(history::Op::Cas {
            key: key.clone(),
            expected: previous.as_ref().map(text),
            new: current.as_ref().map(text),
        }),
        _ => None,
    }
}

/// Converts an engine result into what the history records.
pub fn record_result(result: &level2pc::OpResult) -> history::OpResult {
    use level2pc::OpResult as R;
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    match result {
        R::Written { .. } => history::OpResult::Ok,
        R::Value(v) => history::OpResult::Value {
            value: v.as_ref().map(text),
        },
        R::Values(vs) => history::OpResult::Values {
            values: vs.iter().map(|v| v.as_ref().map(text)).collect(),
        },
        R::Entries(es) => history::OpResult::Range {
            entries: es.iter().map(|(k, v)| (text(k), text(v))).collect(),
        },
        // Unavailable means the engine never started the operation: it definitely had no effect.
        R::Unavailable(_) => history::OpResult::Fail,
        // A read-modify-write that applied (a cas whose comparison held) or did not (a cas that
        // compared and found another value); one refused before writing had no effect.
        R::Changed { applied: true, .. } => history::OpResult::Ok,
        R::Changed { applied: false, .. } | R::Rejected(_) => history::OpResult::Fail,
        // Indeterminate, and any result kind this simulator does not know yet: recording
        // "unknown outcome" can only make the checker more permissive, never wrong.
        _ => history::OpResult::Unknown,
    }
}
