//! Checker tests: known-bad and known-good histories, agreement with the
//! brute-force checker on thousands of random tiny histories, and speed.

use super::gen::{self, Shape};
use super::*;
use crate::history::{write_history, BatchWrite, Op, OpResult, Operation};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Builds histories tersely; ids are positions.
#[derive(Default)]
struct H(Vec<Operation>);

impl H {
    fn op(mut self, call: u64, ret: Option<u64>, op: Op, result: OpResult) -> Self {
        let id = self.0.len() as u64;
        self.0.push(Operation {
            id,
            client: id,
            node: None,
            call,
            ret,
            op,
            result,
        });
        self
    }

    /// A put/del/batch/cas reported ok in `[call, ret]`.
    fn ok(self, call: u64, ret: u64, op: Op) -> Self {
        self.op(call, Some(ret), op, OpResult::Ok)
    }

    /// A write whose client never heard back.
    fn unknown(self, call: u64, op: Op) -> Self {
        self.op(call, None, op, OpResult::Unknown)
    }

    fn fail(self, call: u64, ret: u64, op: Op) -> Self {
        self.op(call, Some(ret), op, OpResult::Fail)
    }

    /// A get of `key` returning `value`.
    fn get(self, call: u64, ret: u64, key: &str, value: Option<&str>) -> Self {
        self.op(call, Some(ret), get(key), value_of(value))
    }

    fn history(self) -> History {
        History::new(self.0)
    }
}

fn get(key: &str) -> Op {
    Op::Get { key: key.into() }
}

fn put(key: &str, value: &str) -> Op {
    Op::Put {
        key: key.into(),
        value: value.into(),
    }
}

fn del(key: &str) -> Op {
    Op::Del { key: key.into() }
}

fn batch(writes: &[(&str, Option<&str>)]) -> Op {
    Op::Batch {
        writes: writes
            .iter()
            .map(|&(k, v)| BatchWrite {
                key: k.into(),
                value: v.map(Into::into),
            })
            .collect(),
    }
}

fn cas(key: &str, expected: Option<&str>, new: &str) -> Op {
    Op::Cas {
        key: key.into(),
        expected: expected.map(Into::into),
        new: Some(new.into()),
    }
}

fn incr(key: &str, by: i64) -> Op {
    Op::Incr {
        key: key.into(),
        by,
    }
}

fn range(lo: &str, hi: &str, limit: Option<u64>) -> Op {
    Op::Range {
        lo: lo.into(),
        hi: hi.into(),
        limit,
    }
}

fn get_many(keys: &[&str]) -> Op {
    Op::GetMany {
        keys: keys.iter().map(|k| (*k).into()).collect(),
    }
}

fn value_of(value: Option<&str>) -> OpResult {
    OpResult::Value {
        value: value.map(Into::into),
    }
}

fn values(values: &[Option<&str>]) -> OpResult {
    OpResult::Values {
        values: values.iter().map(|v| v.map(Into::into)).collect(),
    }
}

fn entries(entries: &[(&str, &str)]) -> OpResult {
    OpResult::Range {
        entries: entries.iter().map(|&(k, v)| (k.into(), v.into())).collect(),
    }
}

fn jsonl(history: &History) -> String {
    let mut out = Vec::new();
    write_history(history, &mut out).expect("write to memory");
    String::from_utf8_lossy(&out).into_owned()
}

fn report(history: &History) -> Report {
    check(history, DEFAULT_BUDGET).expect("well-formed history")
}

/// Asserts the history is illegal (and that brute force agrees); returns
/// the violation.
fn assert_illegal(history: &History) -> Violation {
    let report = report(history);
    assert_eq!(
        check_brute_force(history),
        Ok(false),
        "brute force disagrees on\n{}",
        jsonl(history)
    );
    match report.verdict {
        Verdict::Illegal(v) => {
            assert!(!v.reason.is_empty());
            v
        }
        other => panic!("expected Illegal, got {other:?} for\n{}", jsonl(history)),
    }
}

/// Asserts the history is linearizable (and that brute force agrees).
fn assert_ok(history: &History) -> Stats {
    let report = report(history);
    assert_eq!(
        check_brute_force(history),
        Ok(true),
        "brute force disagrees on\n{}",
        jsonl(history)
    );
    assert_eq!(report.verdict, Verdict::Ok, "for\n{}", jsonl(history));
    report.stats
}

// ---------------------------------------------------------------- bad ones

#[test]
fn stale_read_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(2, 3, put("a", "2"))
        .get(4, 5, "a", Some("1"))
        .history();
    let v = assert_illegal(&h);
    assert_eq!(v.op, 2);
    assert_eq!(v.component, vec!["a".to_owned()]);
    assert_eq!(v.linearization, vec![0, 1]);
    assert!(
        v.reason.contains(r#"the key holds "2" (written by op 1)"#),
        "{}",
        v.reason
    );
}

#[test]
fn lost_acknowledged_write_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .get(2, 3, "a", None)
        .history();
    assert_eq!(assert_illegal(&h).op, 1);
    let later = H::default()
        .ok(0, 1, put("a", "1"))
        .get(2, 3, "a", Some("1"))
        .get(4, 5, "a", None)
        .history();
    assert_eq!(assert_illegal(&later).op, 2);
}

#[test]
fn torn_batch_in_get_many_is_illegal() {
    let h = H::default()
        .ok(0, 10, batch(&[("a", Some("1")), ("b", Some("1"))]))
        .op(
            2,
            Some(3),
            get_many(&["a", "b"]),
            values(&[Some("1"), None]),
        )
        .history();
    let v = assert_illegal(&h);
    assert_eq!(v.component, vec!["a".to_owned(), "b".to_owned()]);
}

#[test]
fn torn_batch_in_range_is_illegal() {
    let h = H::default()
        .ok(0, 10, batch(&[("a", Some("1")), ("b", Some("1"))]))
        .op(2, Some(3), range("a", "z", None), entries(&[("a", "1")]))
        .history();
    assert_illegal(&h);
}

#[test]
fn torn_batch_across_real_time_ordered_reads_is_illegal() {
    // aphyr's example: each key alone is fine, together they are not.
    let h = H::default()
        .ok(0, 10, batch(&[("x", Some("1")), ("y", Some("1"))]))
        .get(1, 2, "x", Some("1"))
        .get(3, 4, "y", None)
        .history();
    let v = assert_illegal(&h);
    assert_eq!(v.component, vec!["x".to_owned(), "y".to_owned()]);
    assert_eq!(v.op, 2);
    assert_eq!(v.linearization, vec![0, 1]);
}

#[test]
fn resurrected_deleted_value_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(2, 3, del("a"))
        .get(4, 5, "a", Some("1"))
        .history();
    assert_illegal(&h);
    let by_batch = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(2, 3, batch(&[("a", None), ("b", Some("2"))]))
        .op(
            4,
            Some(5),
            range("a", "c", None),
            entries(&[("a", "1"), ("b", "2")]),
        )
        .history();
    assert_illegal(&by_batch);
}

#[test]
fn value_never_written_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .get(2, 3, "a", Some("ghost"))
        .history();
    let v = assert_illegal(&h);
    assert_eq!(v.op, 1);
    assert!(v.reason.contains("no write"), "{}", v.reason);
    let wrong_key = H::default()
        .ok(0, 1, put("a", "1"))
        .get(2, 3, "b", Some("1"))
        .history();
    assert_illegal(&wrong_key);
    let in_range = H::default()
        .op(0, Some(1), range("a", "z", None), entries(&[("q", "1")]))
        .history();
    assert_illegal(&in_range);
    let in_get_many = H::default()
        .op(
            0,
            Some(1),
            get_many(&["a", "b"]),
            values(&[None, Some("1")]),
        )
        .history();
    assert_illegal(&in_get_many);
}

#[test]
fn value_of_a_failed_write_is_illegal() {
    let h = H::default()
        .fail(0, 1, put("a", "1"))
        .get(2, 3, "a", Some("1"))
        .history();
    let v = assert_illegal(&h);
    assert!(
        v.reason.contains("reported as failed did: 0"),
        "{}",
        v.reason
    );
    let failed_batch = H::default()
        .fail(0, 1, batch(&[("a", Some("1")), ("b", Some("1"))]))
        .get(2, 3, "b", Some("1"))
        .history();
    assert_illegal(&failed_batch);
}

#[test]
fn failed_cas_whose_write_is_visible_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .fail(2, 3, cas("a", Some("2"), "3"))
        .get(4, 5, "a", Some("3"))
        .history();
    let v = assert_illegal(&h);
    assert!(
        v.reason.contains("reported as failed did: 1"),
        "{}",
        v.reason
    );
}

#[test]
fn failed_cas_that_should_have_matched_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .fail(2, 3, cas("a", Some("1"), "2"))
        .history();
    let v = assert_illegal(&h);
    assert!(v.reason.contains("did not hold"), "{}", v.reason);
    let absent = H::default().fail(0, 1, cas("a", None, "2")).history();
    assert_illegal(&absent);
}

#[test]
fn successful_cas_on_a_different_value_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(2, 3, put("a", "2"))
        .ok(4, 5, cas("a", Some("1"), "3"))
        .history();
    assert_illegal(&h);
}

#[test]
fn range_missing_an_existing_key_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(0, 1, put("b", "2"))
        .op(2, Some(3), range("a", "z", None), entries(&[("a", "1")]))
        .history();
    assert_illegal(&h);
    let limited = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(0, 1, put("b", "2"))
        .op(2, Some(3), range("a", "z", Some(2)), entries(&[("b", "2")]))
        .history();
    assert_illegal(&limited);
}

#[test]
fn malformed_range_answers_are_illegal() {
    let base = || H::default().ok(0, 1, put("a", "1")).ok(0, 1, put("b", "2"));
    let cases = [
        (
            range("a", "z", Some(1)),
            entries(&[("a", "1"), ("b", "2")]),
            "more than its limit",
        ),
        (
            range("b", "z", None),
            entries(&[("a", "1"), ("b", "2")]),
            "outside",
        ),
        (
            range("a", "z", None),
            entries(&[("b", "2"), ("a", "1")]),
            "ascending",
        ),
        (
            range("a", "z", None),
            entries(&[("a", "1"), ("a", "1")]),
            "ascending",
        ),
        (range("z", "a", None), entries(&[("a", "1")]), "outside"),
    ];
    for (op, result, needle) in cases {
        let h = base().op(2, Some(3), op, result).history();
        let v = assert_illegal(&h);
        assert_eq!(v.op, 2);
        assert!(v.reason.contains(needle), "{} lacks {needle}", v.reason);
    }
}

#[test]
fn observed_unknown_write_cannot_vanish() {
    let h = H::default()
        .unknown(0, put("a", "1"))
        .get(5, 6, "a", Some("1"))
        .get(7, 8, "a", None)
        .history();
    assert_illegal(&h);
    assert_eq!(report(&h).stats.clamped_writes, 1);
}

#[test]
fn read_before_the_write_was_called_is_illegal() {
    for write in [OpResult::Ok, OpResult::Unknown] {
        let ret = (write == OpResult::Ok).then_some(6);
        let h = H::default()
            .get(0, 1, "a", Some("1"))
            .op(5, ret, put("a", "1"), write)
            .history();
        assert_illegal(&h);
    }
}

#[test]
fn unknown_delete_is_kept_and_cannot_be_undone() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .unknown(2, del("a"))
        .get(3, 4, "a", None)
        .get(5, 6, "a", Some("1"))
        .history();
    assert_illegal(&h);
}

#[test]
fn increment_cannot_skip_a_value() {
    // One increment by 1 makes "6", never "7".
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .get(3, 4, "a", Some("7"))
        .history();
    let v = assert_illegal(&h);
    assert_eq!(v.op, 2);
    assert_eq!(v.linearization, vec![0, 1]);
    // "6" is a sum from which "7" is one increment away: its own value.
    assert!(
        v.reason
            .contains(r#""a": "6" (a sum of increments no operation mentions)"#),
        "{}",
        v.reason
    );
    let dead_end = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .get(3, 4, "a", Some("4"))
        .history();
    let v = assert_illegal(&dead_end);
    assert!(
        v.reason
            .contains(r#""a": an integer no operation mentions"#),
        "{}",
        v.reason
    );
}

#[test]
fn sum_read_before_the_increment_was_called_is_illegal() {
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .get(2, 3, "a", Some("6"))
        .unknown(4, incr("a", 1))
        .history();
    assert_eq!(assert_illegal(&h).op, 1);
}

#[test]
fn increment_of_a_non_integer_cannot_produce_a_sum() {
    for value in ["x", "01", "+1", "-0", " 1", ""] {
        let h = H::default()
            .ok(0, 1, put("a", value))
            .unknown(2, incr("a", 1))
            .get(3, 4, "a", Some("1"))
            .history();
        assert_illegal(&h);
    }
}

#[test]
fn increment_that_overflows_produces_nothing() {
    for (start, by, wrapped) in [
        ("9223372036854775807", 1, "-9223372036854775808"),
        ("-9223372036854775808", -1, "9223372036854775807"),
        ("1", i64::MAX, "-9223372036854775808"),
    ] {
        let h = H::default()
            .ok(0, 1, put("a", start))
            .unknown(2, incr("a", by))
            .get(3, 4, "a", Some(wrapped))
            .history();
        assert_illegal(&h);
        let unchanged = H::default()
            .ok(0, 1, put("a", start))
            .unknown(2, incr("a", by))
            .get(3, 4, "a", Some(start))
            .get(5, 6, "a", Some(start))
            .history();
        assert_ok(&unchanged);
    }
    // Not an i64 at all: no increment makes it, so it is rejected before
    // the search.
    let beyond = H::default()
        .ok(0, 1, put("a", "9223372036854775807"))
        .unknown(2, incr("a", 1))
        .get(3, 4, "a", Some("9223372036854775808"))
        .history();
    let v = assert_illegal(&beyond);
    assert!(
        v.linearization.is_empty() && v.reason.contains("no write"),
        "{}",
        v.reason
    );
}

#[test]
fn failed_increment_had_no_effect() {
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .fail(2, 3, incr("a", 1))
        .get(4, 5, "a", Some("6"))
        .history();
    let v = assert_illegal(&h);
    assert_eq!(v.op, 2);
    assert_eq!(report(&h).stats.dropped_failed, 1);
}

#[test]
fn observed_increment_cannot_be_undone() {
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .get(3, 4, "a", Some("6"))
        .get(5, 6, "a", Some("5"))
        .history();
    assert_illegal(&h);
    // Nor applied twice.
    let twice = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .get(3, 4, "a", Some("6"))
        .get(5, 6, "a", Some("7"))
        .history();
    assert_illegal(&twice);
}

#[test]
fn increment_with_a_known_outcome_is_malformed() {
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .ok(2, 3, incr("a", 1))
        .history();
    let err = check(&h, DEFAULT_BUDGET).expect_err("incr cannot be ok");
    assert_eq!(err.index, 1);
    assert!(err.to_string().contains("cannot have result `ok`"), "{err}");
    assert!(check_brute_force(&h).is_err());
}

#[test]
fn too_many_increment_sums_give_an_unknown_verdict() {
    // 2^13 distinct subset sums exceed the limit of checker.md §1.6.
    let mut h = H::default().ok(0, 1, put("a", "0"));
    for i in 0..13 {
        h = h.unknown(2, incr("a", 1 << i));
    }
    let h = h.get(3, 4, "a", Some("3")).history();
    let report = report(&h);
    assert_eq!(
        report.verdict,
        Verdict::Unknown {
            component: vec!["a".to_owned()],
            steps: 0
        }
    );
}

// --------------------------------------------------------------- good ones

#[test]
fn unknown_increment_may_or_may_not_happen() {
    for seen in ["5", "6"] {
        let h = H::default()
            .ok(0, 1, put("a", "5"))
            .unknown(2, incr("a", 1))
            .get(3, 4, "a", Some(seen))
            .history();
        let stats = assert_ok(&h);
        assert_eq!(stats.pending_unknown_writes, 1);
        assert!(!stats.values_unique);
    }
    let late = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", -7))
        .get(3, 4, "a", Some("5"))
        .get(5, 6, "a", Some("-2"))
        .history();
    assert_ok(&late);
}

#[test]
fn increment_of_an_absent_key_counts_from_zero() {
    for (by, seen) in [(1, "1"), (0, "0"), (-3, "-3")] {
        let h = H::default()
            .unknown(0, incr("a", by))
            .get(1, 2, "a", Some(seen))
            .history();
        assert_ok(&h);
    }
    let after_delete = H::default()
        .ok(0, 1, put("a", "5"))
        .ok(2, 3, del("a"))
        .unknown(4, incr("a", 2))
        .op(5, Some(6), range("a", "b", None), entries(&[("a", "2")]))
        .history();
    assert_ok(&after_delete);
}

#[test]
fn failed_cas_may_have_seen_an_unknown_increment() {
    // The increment made "6" (which nobody mentions: the opaque value), so
    // the cas expecting "5" failed.
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .fail(3, 4, cas("a", Some("5"), "9"))
        .history();
    assert_ok(&h);
    let then_read = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .fail(3, 4, cas("a", Some("5"), "9"))
        .get(5, 6, "a", Some("5"))
        .history();
    assert_illegal(&then_read);
}

#[test]
fn unknown_increment_leaves_a_non_integer_alone() {
    for value in ["x", "007", "+3"] {
        let h = H::default()
            .ok(0, 1, put("a", value))
            .unknown(2, incr("a", 1))
            .get(3, 4, "a", Some(value))
            .get(5, 6, "a", Some(value))
            .history();
        assert_ok(&h);
    }
}

#[test]
fn increments_chain_through_values_nobody_read() {
    // "6" is never mentioned, yet the second increment needs it.
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .unknown(2, incr("a", 1))
        .fail(3, 4, cas("a", Some("6"), "x"))
        .get(5, 6, "a", Some("7"))
        .history();
    assert_ok(&h);
    let mixed = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 10))
        .unknown(2, incr("a", -4))
        .get(5, 6, "a", Some("11"))
        .history();
    assert_ok(&mixed);
    let across_a_cas = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .ok(3, 4, cas("a", Some("6"), "10"))
        .unknown(5, incr("a", 2))
        .get(6, 7, "a", Some("12"))
        .history();
    assert_ok(&across_a_cas);
}

#[test]
fn increments_disable_dropping() {
    // Put "7" is unknown and nobody reads "7", which would let the drop
    // reduction remove it; but the increment turns it into the "8" read.
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, put("a", "7"))
        .unknown(3, incr("a", 1))
        .get(4, 5, "a", Some("8"))
        .history();
    let stats = assert_ok(&h);
    assert_eq!(stats.dropped_unobserved_writes, 0);
    assert_eq!(stats.pending_unknown_writes, 2);
}

#[test]
fn increments_disable_clamping() {
    // The read of "6" is explained by the increment, so the unknown put of
    // "6" (called only after that read returned) may never have happened.
    // Clamping it as the single writer of "6" would force it to happen at
    // 7, over the "z" read at 8.
    let h = H::default()
        .ok(0, 1, put("a", "5"))
        .unknown(2, incr("a", 1))
        .get(3, 4, "a", Some("6"))
        .ok(5, 6, put("a", "z"))
        .unknown(7, put("a", "6"))
        .get(8, 9, "a", Some("z"))
        .history();
    let stats = assert_ok(&h);
    assert_eq!(stats.clamped_writes, 0);
    // On another key the reductions still apply.
    let elsewhere = H::default()
        .unknown(0, incr("b", 1))
        .unknown(0, put("a", "1"))
        .get(1, 2, "a", Some("1"))
        .unknown(3, put("a", "2"))
        .history();
    let stats = assert_ok(&elsewhere);
    assert_eq!(
        (stats.clamped_writes, stats.dropped_unobserved_writes),
        (1, 1)
    );
}

#[test]
fn concurrent_writes_may_land_in_either_order() {
    for winner in ["1", "2"] {
        let h = H::default()
            .ok(0, 10, put("a", "1"))
            .ok(0, 10, put("a", "2"))
            .get(11, 12, "a", Some(winner))
            .history();
        assert_ok(&h);
    }
    let reads_between = H::default()
        .ok(0, 10, put("a", "1"))
        .ok(0, 10, put("a", "2"))
        .get(1, 9, "a", Some("2"))
        .get(1, 9, "a", Some("1"))
        .history();
    assert_ok(&reads_between);
}

#[test]
fn unknown_write_that_happened_is_ok() {
    let h = H::default()
        .unknown(0, put("a", "1"))
        .get(5, 6, "a", Some("1"))
        .history();
    let stats = assert_ok(&h);
    assert_eq!(stats.clamped_writes, 1);
    assert_eq!(stats.pending_unknown_writes, 0);
    let late = H::default()
        .unknown(0, put("a", "1"))
        .get(5, 6, "a", None)
        .get(7, 8, "a", Some("1"))
        .history();
    assert_ok(&late);
}

#[test]
fn unknown_write_that_did_not_happen_is_ok() {
    let h = H::default()
        .ok(0, 1, put("a", "0"))
        .unknown(2, put("a", "1"))
        .get(5, 6, "a", Some("0"))
        .history();
    let stats = assert_ok(&h);
    assert_eq!(stats.dropped_unobserved_writes, 1);
    let with_ret = H::default()
        .op(0, Some(1), put("a", "1"), OpResult::Unknown)
        .get(5, 6, "a", None)
        .history();
    assert_ok(&with_ret);
}

#[test]
fn unknown_cas_may_or_may_not_happen() {
    for seen in ["1", "2"] {
        let h = H::default()
            .ok(0, 1, put("a", "1"))
            .unknown(2, cas("a", Some("1"), "2"))
            .get(5, 6, "a", Some(seen))
            .history();
        assert_ok(&h);
    }
}

#[test]
fn failed_cas_may_have_seen_an_unknown_write() {
    // Dropping the unobserved unknown put would make the failed cas
    // impossible, so the reduction must keep it.
    let h = H::default()
        .ok(0, 1, put("a", "x"))
        .unknown(2, put("a", "w"))
        .fail(3, 4, cas("a", Some("x"), "y"))
        .history();
    let stats = assert_ok(&h);
    assert_eq!(stats.dropped_unobserved_writes, 0);
    assert_eq!(stats.pending_unknown_writes, 1);
}

#[test]
fn range_with_limit_is_ok() {
    let base = || {
        H::default()
            .ok(0, 1, put("a", "1"))
            .ok(0, 1, put("b", "2"))
            .ok(0, 1, put("c", "3"))
    };
    let cases = [
        (Some(2), entries(&[("a", "1"), ("b", "2")])),
        (Some(0), entries(&[])),
        (Some(5), entries(&[("a", "1"), ("b", "2"), ("c", "3")])),
        (None, entries(&[("a", "1"), ("b", "2"), ("c", "3")])),
    ];
    for (limit, result) in cases {
        assert_ok(
            &base()
                .op(2, Some(3), range("a", "z", limit), result)
                .history(),
        );
    }
    let after_delete = base()
        .ok(2, 3, del("a"))
        .op(4, Some(5), range("a", "z", Some(1)), entries(&[("b", "2")]))
        .history();
    assert_ok(&after_delete);
    let reversed = base()
        .op(2, Some(3), range("z", "a", None), entries(&[]))
        .history();
    assert_ok(&reversed);
}

#[test]
fn intervals_are_closed() {
    let h = H::default()
        .ok(0, 5, put("a", "1"))
        .get(5, 6, "a", None)
        .history();
    assert_ok(&h);
}

#[test]
fn duplicate_values_disable_clamping() {
    // The read of "x" is explained by op 0, so op 2 may never have happened;
    // clamping it to the read (as if values were unique) would be wrong.
    let h = H::default()
        .ok(0, 1, put("a", "x"))
        .ok(2, 3, put("a", "y"))
        .unknown(10, put("a", "x"))
        .get(0, 30, "a", Some("x"))
        .get(40, 41, "a", Some("y"))
        .history();
    let stats = assert_ok(&h);
    assert!(!stats.values_unique);
    assert_eq!(stats.clamped_writes, 0);
}

#[test]
fn failed_and_unknown_reads_are_dropped() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .op(2, Some(3), get("a"), OpResult::Fail)
        .op(2, None, get("a"), OpResult::Unknown)
        .op(2, Some(3), range("a", "b", None), OpResult::Unknown)
        .history();
    let stats = assert_ok(&h);
    assert_eq!(stats.dropped_failed, 1);
    assert_eq!(stats.dropped_unknown_reads, 2);
}

#[test]
fn empty_history_is_ok() {
    assert_eq!(report(&History::default()).verdict, Verdict::Ok);
}

// ------------------------------------------------- structure and plumbing

#[test]
fn malformed_history_is_an_error_not_a_verdict() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(0, 1, put("a", "2"))
        .history();
    let mut dup = h.clone();
    dup.ops[1].id = 0;
    let err = check(&dup, DEFAULT_BUDGET).expect_err("duplicate id");
    assert_eq!(err.index, 1);
    assert!(check_brute_force(&dup).is_err());
}

#[test]
fn components_follow_shared_keys_and_ranges() {
    let independent = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(0, 1, put("b", "1"))
        .history();
    assert_eq!(report(&independent).stats.components, 2);
    let glued = H::default()
        .ok(0, 1, put("a", "1"))
        .ok(0, 1, put("b", "1"))
        .ok(0, 1, put("c", "1"))
        .op(
            2,
            Some(3),
            range("a", "c", None),
            entries(&[("a", "1"), ("b", "1")]),
        )
        .history();
    let stats = report(&glued).stats;
    assert_eq!((stats.components, stats.largest_component_keys), (2, 2));
}

#[test]
fn budget_exhaustion_is_unknown() {
    let h = H::default()
        .ok(0, 10, put("b", "1"))
        .get(0, 10, "b", None)
        .history();
    let report = check(&h, 2).expect("well formed");
    assert_eq!(
        report.verdict,
        Verdict::Unknown {
            component: vec!["b".to_owned()],
            steps: 2
        }
    );
    assert_eq!(
        check(&h, DEFAULT_BUDGET).expect("well formed").verdict,
        Verdict::Ok
    );
}

#[test]
fn illegal_component_beats_earlier_unknown_one() {
    // Component "b" (2 ops, checked first) needs more than 2 steps;
    // component "a" (3 ops) is illegal within 2.
    let h = H::default()
        .ok(0, 10, put("b", "1"))
        .get(0, 10, "b", None)
        .get(0, 1, "a", Some("1"))
        .ok(5, 6, put("a", "1"))
        .get(7, 8, "a", Some("1"))
        .history();
    let report = check(&h, 2).expect("well formed");
    assert!(report.verdict.is_illegal(), "{:?}", report.verdict);
    assert_eq!(report.stats.components_searched, 2);
}

#[test]
fn verdicts_and_stats_display() {
    let h = H::default()
        .ok(0, 1, put("a", "1"))
        .get(2, 3, "a", None)
        .history();
    let report = report(&h);
    let text = format!("{}\n{}", report.stats, report.verdict);
    assert!(text.contains("verdict: NOT linearizable"), "{text}");
    assert!(
        text.contains("operation that could not be linearized: 1"),
        "{text}"
    );
    assert!(text.contains("components: 1"), "{text}");
}

// -------------------------------------------------- randomized comparison

#[test]
fn generated_linearizable_histories_are_ok_for_brute_force() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    for round in 0..600 {
        let h = {
            let shape = if round % 2 == 0 {
                Shape::tiny(&mut rng)
            } else {
                Shape::tiny_counters(&mut rng)
            };
            gen::linearizable(&mut rng, &shape)
        };
        assert_eq!(
            check_brute_force(&h),
            Ok(true),
            "generator bug:\n{}",
            jsonl(&h)
        );
    }
}

#[test]
fn wgl_agrees_with_brute_force_on_5000_tiny_histories() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let (mut ok, mut illegal) = (0, 0);
    for round in 0..5000 {
        let mut h = {
            let shape = Shape::tiny(&mut rng);
            gen::linearizable(&mut rng, &shape)
        };
        match round % 3 {
            1 => gen::perturb(&mut rng, &mut h),
            2 => gen::scramble(&mut rng, &mut h),
            _ => {}
        }
        let expected = check_brute_force(&h).expect("generated histories are well formed");
        let verdict = check(&h, 1_000_000).expect("well formed").verdict;
        match (&verdict, expected) {
            (Verdict::Ok, true) => ok += 1,
            (Verdict::Illegal(_), false) => illegal += 1,
            _ => panic!(
                "round {round}: WGL says {verdict:?}, brute force says {expected}, for\n{}",
                jsonl(&h)
            ),
        }
    }
    println!("5000 tiny histories: {ok} ok, {illegal} illegal");
    assert!(ok >= 2500, "too few linearizable histories: {ok}");
    assert!(illegal >= 750, "too few illegal histories: {illegal}");
}

#[test]
fn wgl_agrees_with_brute_force_on_3000_tiny_counter_histories() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xc0de);
    let (mut ok, mut illegal, mut with_incr) = (0, 0, 0);
    for round in 0..3000 {
        let mut h = {
            let shape = Shape::tiny_counters(&mut rng);
            gen::linearizable(&mut rng, &shape)
        };
        match round % 3 {
            1 => gen::perturb(&mut rng, &mut h),
            2 => gen::scramble(&mut rng, &mut h),
            _ => {}
        }
        let expected = check_brute_force(&h).expect("generated histories are well formed");
        let verdict = check(&h, 1_000_000).expect("well formed").verdict;
        with_incr += usize::from(
            h.ops
                .iter()
                .any(|op| matches!(op.op, Op::Incr { .. }) && op.is_unknown()),
        );
        match (&verdict, expected) {
            (Verdict::Ok, true) => ok += 1,
            (Verdict::Illegal(_), false) => illegal += 1,
            _ => panic!(
                "round {round}: WGL says {verdict:?}, brute force says {expected}, for\n{}",
                jsonl(&h)
            ),
        }
    }
    println!(
        "3000 tiny counter histories: {ok} ok, {illegal} illegal, {with_incr} with an unknown incr"
    );
    assert!(ok >= 1500, "too few linearizable histories: {ok}");
    assert!(illegal >= 450, "too few illegal histories: {illegal}");
    assert!(with_incr >= 600, "too few unknown increments: {with_incr}");
}

// ------------------------------------------------------------------ speed

#[test]
fn ten_thousand_ops_over_small_groups_check_fast() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let h = gen::grouped(&mut rng, 100, 100, 5);
    // Lets the README's timing of the command-line tool use the same history.
    if let Some(path) = std::env::var_os("LEVEL2PC_SIM_WRITE_PERF_HISTORY") {
        let file = std::fs::File::create(path).expect("create history file");
        write_history(&h, std::io::BufWriter::new(file)).expect("write history file");
    }
    let start = Instant::now();
    let report = check(&h, DEFAULT_BUDGET).expect("well formed");
    let elapsed = start.elapsed();
    println!(
        "checked {} ops in {:.1} ms ({} build)\n{}",
        h.ops.len(),
        elapsed.as_secs_f64() * 1e3,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        report.stats
    );
    assert_eq!(report.verdict, Verdict::Ok);
    assert_eq!(report.stats.components, 100);
}

/// Timings for several workload shapes, linearizable and perturbed. Run
/// with `cargo test -p level2pc-sim --release --lib bench_shapes --
/// --ignored --nocapture`.
#[test]
#[ignore = "a benchmark; prints timings"]
fn bench_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let ms = |start: Instant| start.elapsed().as_secs_f64() * 1e3;
    for (groups, per_group, clients) in [(100, 100, 5), (10, 1000, 5), (100, 100, 8), (20, 500, 10)]
    {
        let h = gen::grouped(&mut rng, groups, per_group, clients);
        let start = Instant::now();
        let report = check(&h, DEFAULT_BUDGET).expect("well formed");
        println!(
            "{groups} groups x {per_group} ops, {clients} clients/group: {:?} in {:.1} ms ({} steps)",
            report.verdict.is_ok(),
            ms(start),
            report.stats.steps
        );
        let mut times = Vec::new();
        let (mut illegal, mut unknown) = (0, 0);
        for _ in 0..20 {
            let mut bad = h.clone();
            gen::perturb(&mut rng, &mut bad);
            let start = Instant::now();
            let verdict = check(&bad, DEFAULT_BUDGET).expect("well formed").verdict;
            times.push(ms(start));
            illegal += usize::from(verdict.is_illegal());
            unknown += usize::from(verdict.is_unknown());
        }
        times.sort_by(f64::total_cmp);
        println!(
            "  20 perturbed: {illegal} illegal, {unknown} unknown; median {:.1} ms, max {:.1} ms",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
}

/// A compare-and-delete (cas to null) of unknown outcome is never dropped: the absence it may
/// leave explains a later set-if-absent (the WGL and brute-force searches disagreed on this
/// before deletes by cas were kept).
#[test]
fn an_unknown_compare_and_delete_explains_a_later_absence() {
    let h = r#"{"id":0,"client":0,"call":0,"ret":1,"op":{"type":"put","key":"a","value":"1"},"result":{"type":"ok"}}
{"id":1,"client":1,"call":0,"ret":null,"op":{"type":"cas","key":"a","expected":"1","new":null},"result":{"type":"unknown"}}
{"id":2,"client":0,"call":2,"ret":3,"op":{"type":"get","key":"a"},"result":{"type":"value","value":"1"}}
{"id":3,"client":0,"call":4,"ret":5,"op":{"type":"cas","key":"a","expected":null,"new":"2"},"result":{"type":"ok"}}"#;
    let parse = |text: &str| {
        crate::history::read_history(text.as_bytes())
            .expect("well-formed")
            .history
    };
    assert!(check(&parse(h), 1_000_000).unwrap().verdict.is_ok());
    // Without the unknown delete, the key could not have been absent.
    let without: Vec<&str> = h.lines().filter(|l| !l.contains(r#""id":1,"#)).collect();
    assert!(!check(&parse(&without.join("\n")), 1_000_000)
        .unwrap()
        .verdict
        .is_ok());
}
