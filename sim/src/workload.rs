//! The workload: closed-loop clients issuing get / get_many / range / put / del / batch with
//! unique values against random nodes, confined to small key groups that rotate so the
//! linearizability checker's components stay small (checker.md §2–§3).

use crate::entropy::SimRng;
use crate::history;
use crate::params::Workload;
use level2pc::{Bytes, Op, Write};
use rand::Rng;

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

/// Draws the next operation of `client` on `group`; `n` makes its value unique.
pub fn next_op(rng: &mut SimRng, w: &Workload, group: usize, client: usize, n: u64) -> GenOp {
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
        // Indeterminate, and any result kind this simulator does not know yet: recording
        // "unknown outcome" can only make the checker more permissive, never wrong.
        _ => history::OpResult::Unknown,
    }
}
