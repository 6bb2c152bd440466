//! A brute-force reference checker for tiny histories, written
//! independently of the WGL pipeline (no reductions, no partitioning, its
//! own model over a `BTreeMap`), so the two can be compared.

use crate::history::{History, HistoryError, Op, OpResult, Operation};
use std::collections::BTreeMap;

type Map = BTreeMap<String, String>;

/// Decides linearizability by trying every order consistent with real time,
/// where each write with an unknown outcome is either placed somewhere after
/// its call or left out. Exponential: meant for histories of about ten
/// operations.
pub fn check_brute_force(history: &History) -> Result<bool, HistoryError> {
    history.validate()?;
    let ops: Vec<&Operation> = history.ops.iter().filter(|op| matters(op)).collect();
    let mut placed = vec![false; ops.len()];
    Ok(search(&ops, &mut placed, &Map::new()))
}

/// Failed writes did nothing and unknown or failed reads say nothing; a
/// failed cas still says the comparison failed.
fn matters(op: &Operation) -> bool {
    match (&op.op, op.is_unknown(), &op.result) {
        (Op::Cas { .. }, _, _) => true,
        (_, _, OpResult::Fail) => false,
        (op, unknown, _) => op.is_write() || !unknown,
    }
}

/// Must this op be placed (i.e. it is not an unknown write)?
fn required(op: &Operation) -> bool {
    !op.is_unknown()
}

fn search(ops: &[&Operation], placed: &mut [bool], state: &Map) -> bool {
    let done = ops
        .iter()
        .zip(placed.iter())
        .all(|(op, &p)| p || !required(op));
    if done {
        return true;
    }
    for i in 0..ops.len() {
        if placed[i] || !can_go_next(ops, placed, i) {
            continue;
        }
        if let Some(next) = step(ops[i], state) {
            placed[i] = true;
            let found = search(ops, placed, &next);
            placed[i] = false;
            if found {
                return true;
            }
        }
    }
    false
}

/// Op `i` may come next unless some unplaced op returned before it was
/// called (intervals are closed: equal times are concurrent).
fn can_go_next(ops: &[&Operation], placed: &[bool], i: usize) -> bool {
    let call = ops[i].call;
    ops.iter()
        .zip(placed.iter())
        .enumerate()
        .all(|(j, (op, &p))| {
            let returned_before = matches!(op.ret, Some(ret) if ret < call);
            p || j == i || !required(op) || !returned_before
        })
}

/// The state after `op`, or `None` if `op` cannot happen in `state`.
fn step(op: &Operation, state: &Map) -> Option<Map> {
    let mut next = state.clone();
    let ok = match (&op.op, &op.result) {
        (Op::Get { key }, OpResult::Value { value }) => state.get(key) == value.as_ref(),
        (Op::GetMany { keys }, OpResult::Values { values }) => keys
            .iter()
            .zip(values)
            .all(|(k, v)| state.get(k) == v.as_ref()),
        (Op::Range { lo, hi, limit }, OpResult::Range { entries }) => {
            range(state, lo, hi, *limit) == *entries
        }
        (Op::Put { key, value }, _) => {
            next.insert(key.clone(), value.clone());
            true
        }
        (Op::Del { key }, _) => {
            next.remove(key);
            true
        }
        (Op::Batch { writes }, _) => {
            for w in writes {
                match &w.value {
                    Some(v) => next.insert(w.key.clone(), v.clone()),
                    None => next.remove(&w.key),
                };
            }
            true
        }
        // Validation allows only `unknown` and `fail`, and `matters` dropped
        // failures: it may apply or not, and is legal either way.
        (Op::Incr { key, by }, _) => {
            if let Some(sum) = increment(state.get(key).map(String::as_str), *by) {
                next.insert(key.clone(), sum);
            }
            true
        }
        (Op::Cas { key, expected, new }, result) => {
            let matches = state.get(key) == expected.as_ref();
            if matches && *result != OpResult::Fail {
                match new {
                    Some(v) => next.insert(key.clone(), v.clone()),
                    None => next.remove(key),
                };
            }
            match result {
                OpResult::Ok => matches,
                OpResult::Fail => !matches,
                _ => true,
            }
        }
        _ => false,
    };
    ok.then_some(next)
}

/// The value an increment by `by` writes over `current` (`None` = absent,
/// counted as 0), or `None` if it cannot apply. Deliberately written apart
/// from `history::incremented`, digit by digit, so that the comparison with
/// WGL also checks the parsing: the value must be `0`, or an optional `-`
/// and a non-zero digit followed by digits, and fit in an `i64`.
fn increment(current: Option<&str>, by: i64) -> Option<String> {
    let n: i128 = match current {
        None => 0,
        Some(text) => {
            let (negative, digits) = match text.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, text),
            };
            let canonical = digits == "0" && !negative
                || digits.starts_with(|c: char| ('1'..='9').contains(&c))
                    && digits.chars().all(|c| c.is_ascii_digit())
                    && digits.len() <= 19;
            if !canonical {
                return None;
            }
            let magnitude = digits
                .bytes()
                .fold(0i128, |acc, d| acc * 10 + i128::from(d - b'0'));
            if negative {
                -magnitude
            } else {
                magnitude
            }
        }
    };
    let sum = n + i128::from(by);
    let fits = |x: i128| i128::from(i64::MIN) <= x && x <= i128::from(i64::MAX);
    (fits(n) && fits(sum)).then(|| sum.to_string())
}

/// What a range read returns in `state`.
fn range(state: &Map, lo: &str, hi: &str, limit: Option<u64>) -> Vec<(String, String)> {
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    state
        .iter()
        .filter(|(k, _)| lo <= k.as_str() && k.as_str() < hi)
        .take(limit)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
