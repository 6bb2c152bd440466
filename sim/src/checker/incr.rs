//! Step tables for increments with unknown outcome (checker.md §1.6).
//!
//! An `IncrMaybe` on key `k` by `b` moves `k` from value id `v` to
//! `step[v]`. The value table of a component starts with the strings its
//! operations mention; an increment can also make integers nobody mentions.
//! Those get ids here:
//!
//! * A **sum** value (`Value::Sum(n)`) for every integer `n = t - σ` where
//!   `t` is an integer some operation compares with on `k` (a read, a range
//!   entry, a cas's `expected`) and `σ` a sum of a subset of the amounts of
//!   `k`'s increments: from such an `n` some chain of increments may still
//!   reach an observed value, so its exact identity matters.
//! * One **opaque** value (`Value::Opaque`) for every other integer.
//!
//! Soundness of the single opaque id. Call an integer `m` on key `k`
//! *dead* if no subset `U` of `k`'s increments not yet applied gives
//! `m + ΣU` equal to a value compared on `k`. Every operation that looks at
//! `k` treats all dead integers alike:
//!
//! * reads, range entries and cas (applied, failed or unknown) compare the
//!   key with a mentioned value: a dead integer equals none of them (take
//!   `U` empty). In particular a failed cas, which asserts "not equal to
//!   `expected`", holds for every dead integer, and no operation ever
//!   compares two unmentioned integers with each other, so opaque-vs-opaque
//!   equality never matters;
//! * a range sees the key as present, as it sees every integer;
//! * an increment `i` by `b` leaves a dead `m` dead: it either overflows
//!   (no change) or gives `m + b`, and if `m + b + ΣU = t` for remaining
//!   `U`, then `m + Σ(U ∪ {i}) = t` and `m` was not dead;
//! * writes overwrite it without looking.
//!
//! So replacing every dead integer by one id changes no operation's
//! legality: the abstraction is exact, not an approximation. The keys of a
//! component share the one opaque id: deadness is decided per key (its own
//! compared values and increments), and no operation on one key looks at
//! another key's value. Conversely, when an increment `i` turns the value
//! `n` the key holds into `n + b` and `n + b` has no id, `n + b` is dead:
//! were `n + b + ΣU = t` for `U` among the increments still to apply (so
//! `i ∉ U`), then `n + b = t - ΣU` would have been given a sum id (`ΣU` is
//! one of the subset sums). That is why `step` may map every integer
//! without an id to the opaque value. One opaque id would not do for *live*
//! unmentioned integers: after put "5", incr by 1, incr by 1, a read of "7"
//! needs the unmentioned "6" as its own value.
//!
//! Every id gets a step entry, including ids that cannot occur on `k` (a
//! string only ever written to another key): the entries are computed the
//! same way for all, and only used where they can occur.

use super::model::{CompiledOp, KeyIdx, Kind, Value, ValueId, ABSENT};
use crate::fixed_hash::HashMap;
use crate::history::counter_value;
use std::collections::{BTreeMap, BTreeSet};

/// Most distinct subset sums of one key's increment amounts. With amounts
/// of equal sign and small size (the usual counter) there are few; only
/// many different large amounts come near it.
pub(super) const MAX_SUMS_PER_KEY: usize = 4096;

/// Most step-table entries (increments times value ids) in one component.
pub(super) const MAX_STEP_ENTRIES: usize = 1 << 22;

/// Fills in the step table of every `IncrMaybe` in `ops`, adding sum
/// values and the opaque value to `values` (the component's table, which
/// must already hold every value its operations mention). Returns false,
/// leaving the tables empty, if they would exceed [`MAX_SUMS_PER_KEY`] or
/// [`MAX_STEP_ENTRIES`]; the component must then not be searched.
pub(super) fn compile_steps(values: &mut Vec<Value<'_>>, ops: &mut [CompiledOp]) -> bool {
    let mut amounts: BTreeMap<KeyIdx, Vec<i64>> = BTreeMap::new();
    for op in ops.iter() {
        if let Kind::IncrMaybe { key, by, .. } = op.kind {
            amounts.entry(key).or_default().push(by);
        }
    }
    if amounts.is_empty() {
        return true;
    }
    let increments: usize = amounts.values().map(Vec::len).sum();
    let max_values = MAX_STEP_ENTRIES / increments;
    let compared = compared_integers(values, ops, &amounts);
    let mut ids: HashMap<i64, ValueId> = values
        .iter()
        .enumerate()
        .filter_map(|(id, value)| match value {
            Value::Named(s) => counter_value(s).map(|n| (n, id as ValueId)),
            _ => None,
        })
        .collect();
    for (key, key_amounts) in &amounts {
        let Some(sums) = subset_sums(key_amounts) else {
            return false;
        };
        for &t in compared.get(key).into_iter().flatten() {
            for &sum in &sums {
                let Ok(n) = i64::try_from(i128::from(t) - sum) else {
                    continue;
                };
                ids.entry(n).or_insert_with(|| {
                    values.push(Value::Sum(n));
                    (values.len() - 1) as ValueId
                });
            }
            if values.len() >= max_values {
                return false;
            }
        }
    }
    let opaque = values.len() as ValueId;
    values.push(Value::Opaque);
    if values.len() > max_values {
        return false;
    }
    for op in ops.iter_mut() {
        if let Kind::IncrMaybe { by, step, .. } = &mut op.kind {
            *step = (0..values.len())
                .map(|id| step_from(id as ValueId, values[id], *by, &ids, opaque))
                .collect();
        }
    }
    true
}

/// The id an increment by `by` moves the key to from `id` (which stands
/// for `value`).
fn step_from(
    id: ValueId,
    value: Value<'_>,
    by: i64,
    ids: &HashMap<i64, ValueId>,
    opaque: ValueId,
) -> ValueId {
    let n = match value {
        Value::Absent => 0,
        Value::Named(s) => match counter_value(s) {
            Some(n) => n,
            // Not a canonical integer: the increment does nothing.
            None => return id,
        },
        Value::Sum(n) => n,
        // A dead integer stays dead (module docs).
        Value::Opaque => return opaque,
    };
    match n.checked_add(by) {
        // Overflow: the increment does nothing.
        None => id,
        // No id: the sum is dead (module docs).
        Some(sum) => ids.get(&sum).copied().unwrap_or(opaque),
    }
}

/// For each incremented key, the integers some operation compares the key
/// with: read values, range entries, and the `expected` of every cas.
fn compared_integers(
    values: &[Value<'_>],
    ops: &[CompiledOp],
    amounts: &BTreeMap<KeyIdx, Vec<i64>>,
) -> BTreeMap<KeyIdx, BTreeSet<i64>> {
    let mut compared: BTreeMap<KeyIdx, BTreeSet<i64>> = BTreeMap::new();
    let mut add = |key: KeyIdx, id: ValueId| {
        let integer = match values.get(id as usize) {
            Some(Value::Named(s)) if id != ABSENT => counter_value(s),
            _ => None,
        };
        if let (Some(n), true) = (integer, amounts.contains_key(&key)) {
            compared.entry(key).or_default().insert(n);
        }
    };
    for op in ops {
        match &op.kind {
            Kind::Read(pairs) | Kind::Range { entries: pairs, .. } => {
                for &(key, id) in pairs.iter() {
                    add(key, id);
                }
            }
            Kind::CasApplied { key, expected, .. }
            | Kind::CasMismatch { key, expected }
            | Kind::CasMaybe { key, expected, .. } => add(*key, *expected),
            Kind::Write(_) | Kind::IncrMaybe { .. } => {}
        }
    }
    compared
}

/// The distinct sums of the subsets of `amounts` (the empty one included),
/// or `None` if there are more than [`MAX_SUMS_PER_KEY`].
fn subset_sums(amounts: &[i64]) -> Option<Vec<i128>> {
    let mut sums: BTreeSet<i128> = BTreeSet::from([0]);
    for &by in amounts {
        let shifted: Vec<i128> = sums.iter().map(|s| s + i128::from(by)).collect();
        sums.extend(shifted);
        if sums.len() > MAX_SUMS_PER_KEY {
            return None;
        }
    }
    Some(sums.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(key: KeyIdx, by: i64) -> CompiledOp {
        CompiledOp {
            call: 0,
            ret: None,
            kind: Kind::IncrMaybe {
                key,
                by,
                step: Box::default(),
            },
            origin: 0,
        }
    }

    fn read(key: KeyIdx, id: ValueId) -> CompiledOp {
        CompiledOp {
            call: 0,
            ret: Some(1),
            kind: Kind::Read(Box::new([(key, id)])),
            origin: 0,
        }
    }

    fn step(op: &CompiledOp) -> &[ValueId] {
        match &op.kind {
            Kind::IncrMaybe { step, .. } => step,
            other => panic!("not an increment: {other:?}"),
        }
    }

    #[test]
    fn live_sums_get_ids_and_dead_ones_are_opaque() {
        // Key 0 holds "5" (id 1) or "x" (id 2); a read compares it with "8"
        // (id 3). Increments by 1 and 2.
        let mut values = vec![
            Value::Absent,
            Value::Named("5"),
            Value::Named("x"),
            Value::Named("8"),
        ];
        let mut ops = vec![incr(0, 1), incr(0, 2), read(0, 3)];
        assert!(compile_steps(&mut values, &mut ops));
        // 8 - {1, 2, 3} = 7, 6, 5: "7" and "6" are new sums, "5" exists.
        assert_eq!(values[4..], [Value::Sum(7), Value::Sum(6), Value::Opaque]);
        let (by_one, by_two) = (step(&ops[0]), step(&ops[1]));
        assert_eq!(by_one.len(), values.len());
        assert_eq!(by_one[1], 5, "5 + 1 = 6");
        assert_eq!(by_one[5], 4, "6 + 1 = 7");
        assert_eq!(by_one[4], 3, "7 + 1 = 8");
        assert_eq!(by_two[1], 4, "5 + 2 = 7");
        assert_eq!(by_one[2], 2, "\"x\" is not an integer");
        assert_eq!(by_one[3], 6, "8 + 1 is dead");
        assert_eq!(by_one[6], 6, "dead stays dead");
        assert_eq!(by_one[ABSENT as usize], 6, "0 + 1 is dead");
    }

    #[test]
    fn overflow_and_non_canonical_values_do_not_change() {
        let mut values = vec![
            Value::Absent,
            Value::Named("9223372036854775807"),
            Value::Named("-9223372036854775808"),
            Value::Named("01"),
            Value::Named("-0"),
        ];
        let mut ops = vec![incr(0, 1), incr(0, -1), read(0, 1)];
        assert!(compile_steps(&mut values, &mut ops));
        let (up, down) = (step(&ops[0]), step(&ops[1]));
        assert_eq!(up[1], 1);
        assert_eq!(down[2], 2);
        assert_eq!(up[3], 3);
        assert_eq!(up[4], 4);
        assert_eq!(down[1], 5, "MAX - 1 is a live sum: MAX - 1 + 1 is read");
        assert_eq!(values[5], Value::Sum(i64::MAX - 1));
    }

    #[test]
    fn no_increments_leave_the_table_alone() {
        let mut values = vec![Value::Absent, Value::Named("1")];
        let mut ops = vec![read(0, 1)];
        assert!(compile_steps(&mut values, &mut ops));
        assert_eq!(values.len(), 2);
    }

    #[test]
    fn too_many_subset_sums_make_the_component_unsearchable() {
        let mut values = vec![Value::Absent, Value::Named("1")];
        let mut ops: Vec<CompiledOp> = (0..13).map(|i| incr(0, 1 << i)).collect();
        ops.push(read(0, 1));
        assert!(!compile_steps(&mut values, &mut ops));
        assert_eq!(subset_sums(&[1, 1, 1]).map(|s| s.len()), Some(4));
        assert_eq!(subset_sums(&[1, 2, 4]).map(|s| s.len()), Some(8));
    }
}
