//! Random history generators for the checker's tests.
//!
//! [`linearizable`] executes operations one at a time, in the order of a
//! random linearization point inside each operation's interval, against a
//! real map, so its histories are linearizable by construction.
//! [`perturb`] then breaks them in small ways, which usually (not always)
//! makes them non-linearizable.
//!
//! Shapes with `counters` write mostly integers (and a few values an
//! increment cannot use: non-canonical integers, the extremes of `i64`,
//! plain strings) and include increments: one with a known outcome is
//! recorded as the cas it amounts to, or as failed if it could not apply.

use crate::history::{incremented, BatchWrite, History, Op, OpResult, Operation};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// The shape of a generated history.
#[derive(Clone, Debug)]
pub(super) struct Shape {
    /// The keys used (ranges also use one bound past the last key).
    pub keys: Vec<String>,
    /// Number of clients; each has one operation outstanding at a time.
    pub clients: u64,
    /// Number of operations.
    pub ops: usize,
    /// Longest interval, in ticks.
    pub latency: u64,
    /// Probability that an operation's outcome is unknown.
    pub unknown: f64,
    /// Probability that an operation other than a cas fails (has no effect).
    pub fail: f64,
    /// Whether writes sometimes reuse values (breaking uniqueness).
    pub reuse_values: bool,
    /// Prefix making values unique across generated groups.
    pub prefix: String,
    /// Added to client ids, to keep groups' clients apart.
    pub first_client: u64,
    /// Whether values are mostly integers and increments are generated.
    pub counters: bool,
}

impl Shape {
    /// A tiny random shape for brute-force comparison.
    pub fn tiny(rng: &mut ChaCha8Rng) -> Shape {
        let keys = if rng.gen_bool(0.5) { 2 } else { 3 };
        Shape {
            keys: ["a", "b", "c"][..keys]
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            clients: rng.gen_range(2..=3),
            ops: if rng.gen_bool(0.1) {
                rng.gen_range(1..=2)
            } else {
                rng.gen_range(3..=7)
            },
            // Short intervals mostly (perturbations then tend to be
            // visible), long ones sometimes (more interleavings).
            latency: if rng.gen_bool(0.3) {
                rng.gen_range(0..=8)
            } else {
                rng.gen_range(0..=2)
            },
            unknown: 0.15,
            fail: 0.1,
            reuse_values: rng.gen_bool(0.3),
            prefix: "v".to_owned(),
            first_client: 0,
            counters: rng.gen_bool(0.4),
        }
    }

    /// [`Shape::tiny`] with integer values and increments.
    pub fn tiny_counters(rng: &mut ChaCha8Rng) -> Shape {
        Shape {
            counters: true,
            ..Shape::tiny(rng)
        }
    }
}

/// What happens to an operation's effect.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Returned normally.
    Known,
    /// Outcome unknown, and it took effect.
    UnknownApplied,
    /// Outcome unknown, and it never took effect.
    UnknownLost,
    /// Reported as failed (never for a cas, whose failure is a comparison).
    Failed,
}

/// A linearizable history of the given shape.
pub(super) fn linearizable(rng: &mut ChaCha8Rng, shape: &Shape) -> History {
    let mut values = ValueSource::default();
    let mut ops = Vec::with_capacity(shape.ops);
    let mut fates = Vec::with_capacity(shape.ops);
    let mut free_at = vec![rng.gen_range(0..3u64); shape.clients as usize];
    for id in 0..shape.ops {
        let client = rng.gen_range(0..shape.clients);
        let call = free_at[client as usize] + rng.gen_range(0..=2);
        let ret = call + rng.gen_range(0..=shape.latency);
        free_at[client as usize] = ret + rng.gen_range(1..=2);
        let op = random_op(rng, shape, &mut values);
        fates.push(random_fate(rng, shape, &op));
        ops.push(Operation {
            id: id as u64,
            client: client + shape.first_client,
            node: Some(rng.gen_range(0..3)),
            call,
            ret: Some(ret),
            op,
            result: OpResult::Unknown,
        });
    }
    execute(rng, &mut ops, &fates);
    History::new(ops)
}

fn random_fate(rng: &mut ChaCha8Rng, shape: &Shape, op: &Op) -> Fate {
    // Increments are in the format for their unknown outcomes: favour those.
    let unknown = if matches!(op, Op::Incr { .. }) {
        shape.unknown.max(0.5)
    } else {
        shape.unknown
    };
    if rng.gen_bool(unknown) {
        if rng.gen_bool(0.5) {
            Fate::UnknownApplied
        } else {
            Fate::UnknownLost
        }
    } else if !matches!(op, Op::Cas { .. }) && rng.gen_bool(shape.fail) {
        Fate::Failed
    } else {
        Fate::Known
    }
}

/// Hands out values: fresh unique ones, or sometimes reused ones.
#[derive(Default)]
struct ValueSource {
    next: u64,
    per_key: BTreeMap<String, Vec<String>>,
}

impl ValueSource {
    fn fresh(&mut self, rng: &mut ChaCha8Rng, shape: &Shape, key: &str) -> String {
        let value = if shape.counters {
            self.counter(rng, shape)
        } else if shape.reuse_values && rng.gen_bool(0.4) {
            ["x", "y"].choose(rng).copied().unwrap_or("x").to_owned()
        } else {
            self.next += 1;
            format!("{}{}", shape.prefix, self.next)
        };
        self.per_key
            .entry(key.to_owned())
            .or_default()
            .push(value.clone());
        value
    }

    /// A value for a counter shape: mostly small integers (which increments
    /// also make, so values repeat), sometimes one an increment cannot use
    /// or that overflows, sometimes a unique string.
    fn counter(&mut self, rng: &mut ChaCha8Rng, shape: &Shape) -> String {
        match rng.gen_range(0..12) {
            0..=7 => rng.gen_range(-2..=9).to_string(),
            8 => [i64::MAX, i64::MIN, i64::MAX - 1]
                .choose(rng)
                .map_or_else(String::new, i64::to_string),
            9 => ["+1", "01", "-0", " 1", "1.0"]
                .choose(rng)
                .copied()
                .unwrap_or("x")
                .to_owned(),
            _ => {
                self.next += 1;
                format!("{}{}", shape.prefix, self.next)
            }
        }
    }

    /// A plausible expected value for a cas: absent or one written earlier.
    fn guess(&self, rng: &mut ChaCha8Rng, key: &str) -> Option<String> {
        let seen = self.per_key.get(key).map(Vec::as_slice).unwrap_or_default();
        if seen.is_empty() || rng.gen_bool(0.25) {
            None
        } else {
            // Favour recent values, which are likelier to be current.
            let start = seen.len().saturating_sub(2);
            seen[start..].choose(rng).cloned()
        }
    }
}

fn random_op(rng: &mut ChaCha8Rng, shape: &Shape, values: &mut ValueSource) -> Op {
    let key = shape.keys.choose(rng).cloned().unwrap_or_default();
    match rng.gen_range(0..if shape.counters { 14 } else { 10 }) {
        0 | 1 => Op::Get { key },
        2 => Op::GetMany {
            keys: some_keys(rng, shape),
        },
        3 => random_range(rng, shape),
        4 | 5 => {
            let value = values.fresh(rng, shape, &key);
            Op::Put { key, value }
        }
        6 => Op::Del { key },
        7 => Op::Batch {
            writes: some_keys(rng, shape)
                .into_iter()
                .map(|key| {
                    let value = (!rng.gen_bool(0.25)).then(|| values.fresh(rng, shape, &key));
                    BatchWrite { key, value }
                })
                .collect(),
        },
        8 | 9 => {
            let expected = values.guess(rng, &key);
            // Sometimes a compare-and-delete.
            let new = (!rng.gen_bool(0.2)).then(|| values.fresh(rng, shape, &key));
            Op::Cas { key, expected, new }
        }
        _ => Op::Incr {
            key,
            by: [1, 1, 1, 2, -1, 0, i64::MAX, i64::MIN]
                .choose(rng)
                .copied()
                .unwrap_or(1),
        },
    }
}

/// One to three distinct keys, in random order.
fn some_keys(rng: &mut ChaCha8Rng, shape: &Shape) -> Vec<String> {
    let n = rng.gen_range(1..=shape.keys.len().min(3));
    let mut keys = shape.keys.clone();
    keys.shuffle(rng);
    keys.truncate(n);
    keys
}

fn random_range(rng: &mut ChaCha8Rng, shape: &Shape) -> Op {
    let mut bounds: Vec<String> = shape.keys.clone();
    let prefix = shape
        .keys
        .first()
        .map_or("", |k| &k[..k.len().saturating_sub(1)]);
    bounds.push(format!("{prefix}~"));
    let last = bounds.len() - 1;
    let from = rng.gen_range(0..last);
    // Mostly non-empty bounds; occasionally empty or reversed ones.
    let to = if rng.gen_bool(0.85) {
        rng.gen_range(from + 1..=last)
    } else {
        rng.gen_range(0..=from)
    };
    let limit = if rng.gen_bool(0.5) {
        None
    } else {
        Some(rng.gen_range(0..=2))
    };
    Op::Range {
        lo: bounds[from].clone(),
        hi: bounds[to].clone(),
        limit,
    }
}

/// Runs the ops in linearization-point order against a map, filling in
/// results (and `ret: None` for some unknown outcomes).
fn execute(rng: &mut ChaCha8Rng, ops: &mut [Operation], fates: &[Fate]) {
    let mut order: Vec<(u64, u64, usize)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let ret = op.ret.unwrap_or(op.call);
        // Unknown writes that happen may take effect after the client gave up.
        let end = if fates[i] == Fate::UnknownApplied {
            ret + 5
        } else {
            ret
        };
        let point = rng.gen_range(op.call * 8..=end * 8);
        order.push((point, rng.gen(), i));
    }
    order.sort_unstable();
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    for &(_, _, i) in &order {
        let fate = fates[i];
        let op = &mut ops[i];
        let effect = matches!(fate, Fate::Known | Fate::UnknownApplied);
        let before = match &op.op {
            Op::Incr { key, .. } => state.get(key).cloned(),
            _ => None,
        };
        let result = apply(&op.op, &mut state, effect);
        // An increment known to have applied is recorded as the cas it
        // amounts to; one that could not apply stays an incr, failed.
        if let (Op::Incr { key, .. }, Fate::Known, OpResult::Ok) = (&op.op, fate, &result) {
            let new = state.get(key).cloned();
            op.op = Op::Cas {
                key: key.clone(),
                expected: before,
                new,
            };
        }
        op.result = match fate {
            Fate::Known => result,
            Fate::Failed => OpResult::Fail,
            Fate::UnknownApplied | Fate::UnknownLost => OpResult::Unknown,
        };
        if op.result == OpResult::Unknown && rng.gen_bool(0.5) {
            op.ret = None;
        }
    }
}

/// Executes `op` (changing `state` only if `effect`), returning its result.
fn apply(op: &Op, state: &mut BTreeMap<String, String>, effect: bool) -> OpResult {
    match op {
        Op::Get { key } => OpResult::Value {
            value: state.get(key).cloned(),
        },
        Op::GetMany { keys } => OpResult::Values {
            values: keys.iter().map(|k| state.get(k).cloned()).collect(),
        },
        Op::Range { lo, hi, limit } => OpResult::Range {
            entries: state
                .iter()
                .filter(|(k, _)| lo <= *k && *k < hi)
                .take(limit.map_or(usize::MAX, |l| l as usize))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        },
        Op::Put { .. } | Op::Del { .. } | Op::Batch { .. } => {
            if effect {
                write(op, state);
            }
            OpResult::Ok
        }
        Op::Cas { key, expected, new } => {
            if state.get(key) != expected.as_ref() {
                return OpResult::Fail;
            }
            if effect {
                match new {
                    Some(v) => state.insert(key.clone(), v.clone()),
                    None => state.remove(key),
                };
            }
            OpResult::Ok
        }
        // `Ok` means "applies here"; `execute` records it as a cas.
        Op::Incr { key, by } => match incremented(state.get(key).map(String::as_str), *by) {
            Some(sum) => {
                if effect {
                    state.insert(key.clone(), sum.to_string());
                }
                OpResult::Ok
            }
            None => OpResult::Fail,
        },
    }
}

fn write(op: &Op, state: &mut BTreeMap<String, String>) {
    let mut set = |key: &String, value: &Option<String>| match value {
        Some(v) => state.insert(key.clone(), v.clone()),
        None => state.remove(key),
    };
    match op {
        Op::Put { key, value } => {
            set(key, &Some(value.clone()));
        }
        Op::Del { key } => {
            set(key, &None);
        }
        Op::Batch { writes } => {
            for w in writes {
                set(&w.key, &w.value);
            }
        }
        _ => {}
    }
}

/// Changes one to three things about a history: mostly a read's answer,
/// sometimes a write's outcome or an operation's interval. The result stays
/// well formed.
pub(super) fn perturb(rng: &mut ChaCha8Rng, history: &mut History) {
    let written = written_values(history);
    for _ in 0..rng.gen_range(1..=3) {
        let Some(op) = history.ops.choose_mut(rng) else {
            return;
        };
        match rng.gen_range(0..6) {
            0 => retime(rng, op),
            1 => flip_outcome(rng, op),
            _ => {
                // Retry a few times so that the answer really changes.
                let before = op.result.clone();
                for _ in 0..4 {
                    change_answer(rng, op, &written);
                    if op.result != before {
                        break;
                    }
                }
            }
        }
    }
}

/// Replaces the answer of each read with a random one, with probability
/// one half: rarely linearizable.
pub(super) fn scramble(rng: &mut ChaCha8Rng, history: &mut History) {
    let written = written_values(history);
    for op in &mut history.ops {
        if rng.gen_bool(0.5) {
            change_answer(rng, op, &written);
        }
        if matches!(op.op, Op::Cas { .. }) && rng.gen_bool(0.3) {
            flip_outcome(rng, op);
        }
    }
}

/// Every value written (or attempted) per key, failed writes included, so
/// perturbed reads sometimes return a failed write's value; for an
/// increment, what it makes of absent and of the values written before it.
fn written_values(history: &History) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for op in &history.ops {
        if let Op::Incr { key, by } = &op.op {
            let seen = out.get(key).cloned().unwrap_or_default();
            let sums = std::iter::once(None)
                .chain(seen.iter().map(|v| Some(v.as_str())))
                .filter_map(|v| incremented(v, *by))
                .map(|n| n.to_string());
            let sums: Vec<String> = sums.collect();
            out.entry(key.clone()).or_default().extend(sums);
            continue;
        }
        let mut add = |k: &str, v: &str| out.entry(k.to_owned()).or_default().push(v.to_owned());
        match &op.op {
            Op::Put { key, value }
            | Op::Cas {
                key,
                new: Some(value),
                ..
            } => add(key, value),
            Op::Batch { writes } => {
                for w in writes {
                    if let Some(v) = &w.value {
                        add(&w.key, v);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn retime(rng: &mut ChaCha8Rng, op: &mut Operation) {
    op.call = rng.gen_range(0..20);
    if op.ret.is_some() {
        op.ret = Some(op.call + rng.gen_range(0..4));
    }
}

fn flip_outcome(rng: &mut ChaCha8Rng, op: &mut Operation) {
    if !op.op.is_write() {
        return;
    }
    op.result = match (&op.op, &op.result) {
        // An incr may only be unknown or failed.
        (Op::Incr { .. }, OpResult::Fail) => OpResult::Unknown,
        (Op::Incr { .. }, _) => OpResult::Fail,
        (_, result) => flipped(rng, result),
    };
    if op.ret.is_none() {
        op.ret = Some(op.call + rng.gen_range(0..4));
    }
}

/// The opposite of a put, del, batch or cas outcome (a random definite one
/// for `unknown`).
fn flipped(rng: &mut ChaCha8Rng, result: &OpResult) -> OpResult {
    match result {
        OpResult::Ok => OpResult::Fail,
        OpResult::Fail => OpResult::Ok,
        _ => {
            if rng.gen_bool(0.5) {
                OpResult::Ok
            } else {
                OpResult::Fail
            }
        }
    }
}

fn change_answer(
    rng: &mut ChaCha8Rng,
    op: &mut Operation,
    written: &BTreeMap<String, Vec<String>>,
) {
    // Some other value for `key`: absent answers become present ones.
    let other = |rng: &mut ChaCha8Rng, key: &str, current: Option<&String>| -> Option<String> {
        let options = written.get(key)?;
        if current.is_some() && rng.gen_bool(0.3) {
            None
        } else {
            options.choose(rng).cloned()
        }
    };
    match (&op.op, &mut op.result) {
        (Op::Get { key }, OpResult::Value { value }) => *value = other(rng, key, value.as_ref()),
        (Op::GetMany { keys }, OpResult::Values { values }) => {
            if let Some((k, v)) = keys.iter().zip(values.iter_mut()).next() {
                *v = other(rng, k, v.as_ref());
            }
        }
        (Op::Range { lo, hi, .. }, OpResult::Range { entries }) => {
            let candidates: Vec<&String> = written.keys().filter(|k| lo <= *k && *k < hi).collect();
            let Some(&key) = candidates.choose(rng) else {
                return;
            };
            let mut map: BTreeMap<String, String> = entries.drain(..).collect();
            match other(rng, key, map.get(key)) {
                Some(v) => map.insert(key.clone(), v),
                None => map.remove(key),
            };
            entries.extend(map);
        }
        _ => {}
    }
}

/// A linearizable history over many independent key groups, as the
/// simulator's workload should produce (checker.md §3.3): each group has its
/// own keys and clients, so its component has at most `clients`
/// concurrent operations (plus unknown writes still pending).
pub(super) fn grouped(
    rng: &mut ChaCha8Rng,
    groups: usize,
    ops_per_group: usize,
    clients: u64,
) -> History {
    let mut ops = Vec::with_capacity(groups * ops_per_group);
    for g in 0..groups {
        let shape = Shape {
            keys: ["a", "b", "c", "d"]
                .iter()
                .map(|k| format!("g{g}/{k}"))
                .collect(),
            clients,
            ops: ops_per_group,
            latency: 12,
            unknown: 0.02,
            fail: 0.02,
            reuse_values: false,
            prefix: format!("g{g}v"),
            first_client: g as u64 * clients,
            counters: false,
        };
        ops.extend(linearizable(rng, &shape).ops);
    }
    for (id, op) in ops.iter_mut().enumerate() {
        op.id = id as u64;
    }
    History::new(ops)
}
