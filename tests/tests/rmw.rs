//! Read-modify-writes (protocol.md §11) on real nodes over loopback, through the embedding API:
//! counters and locks contended from every node.

use level2pc_adapters::{Change, Error, Presence, RmwError};
use level2pc_tests::TestCluster;
use std::collections::BTreeSet;

/// Threads on all three nodes increment one key: every increment returns a distinct value, and
/// the final value counts each applied increment once.
#[test]
fn concurrent_increments_from_every_node_count_each_one_once() {
    const PER_THREAD: usize = 60;
    let c = TestCluster::ready(3);
    let handles: Vec<_> = (0..3)
        .flat_map(|n| (0..2).map(move |t| (n, t)))
        .map(|(n, _)| {
            let node = c.node(n).handle();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut unknown = 0usize;
                for _ in 0..PER_THREAD {
                    match node.incr("counter", 1) {
                        Ok(v) => got.push(v),
                        Err(Error::Indeterminate) => unknown += 1,
                        Err(e) => panic!("increment failed: {e}"),
                    }
                }
                (got, unknown)
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut unknown = 0;
    for h in handles {
        let (got, u) = h.join().expect("thread");
        unknown += u;
        for v in got {
            assert!(seen.insert(v), "{v} returned twice");
        }
    }
    let total: i64 = String::from_utf8(c.node(0).get("counter").unwrap().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    let applied = seen.len() as i64;
    assert!(
        (applied..=applied + unknown as i64).contains(&total),
        "final {total} after {applied} applied and {unknown} unknown"
    );
    assert_eq!(
        unknown, 0,
        "no fault was injected: every increment has an outcome"
    );
}

/// Rounds of "take the lock if free" from every node: exactly one taker per round.
#[test]
fn set_if_absent_gives_each_lock_to_exactly_one_taker() {
    let c = TestCluster::ready(3);
    for round in 0..15 {
        let key = format!("lock:{round}");
        let takers: Vec<_> = (0..3)
            .map(|n| {
                let node = c.node(n).handle();
                let key = key.clone();
                std::thread::spawn(move || {
                    let change = Change::Set {
                        value: format!("n{n}").as_bytes().into(),
                        only: Some(Presence::Absent),
                    };
                    node.change(key, change).expect("set-if-absent").applied
                })
            })
            .collect();
        let won: usize = takers
            .into_iter()
            .map(|t| usize::from(t.join().expect("thread")))
            .sum();
        assert_eq!(won, 1, "round {round}: {won} winners");
    }
}

#[test]
fn compare_and_set_and_counter_errors() {
    let c = TestCluster::ready(3);
    let n = c.node(1);
    assert!(n.cas("k", None, Some(b"a")).unwrap(), "absent -> a");
    assert!(
        !n.cas("k", None, Some(b"b")).unwrap(),
        "not absent any more"
    );
    assert!(!c.node(2).cas("k", Some(b"x"), Some(b"b")).unwrap());
    assert!(
        c.node(2).cas("k", Some(b"a"), None).unwrap(),
        "a -> deleted"
    );
    assert_eq!(c.node(0).get("k").unwrap(), None);
    assert_eq!(n.incr("n", 5).unwrap(), 5);
    assert_eq!(c.node(2).incr("n", -7).unwrap(), -2);
    c.node(0).put("s", "text").unwrap();
    assert!(matches!(
        n.incr("s", 1),
        Err(Error::Rejected(RmwError::NotInteger))
    ));
    c.node(0).put("max", i64::MAX.to_string()).unwrap();
    assert!(matches!(
        n.incr("max", 1),
        Err(Error::Rejected(RmwError::Overflow))
    ));
    let deleted = n.change("n", Change::Delete).unwrap();
    assert!(deleted.applied && deleted.previous.as_deref() == Some(&b"-2"[..]));
    assert!(
        !n.change("n", Change::Delete).unwrap().applied,
        "already gone"
    );
}

/// The embedding API's optimistic update: a version read on one node conditions a change made
/// on another; a write in between (even of the same value) makes it not apply.
#[test]
fn a_change_conditioned_on_a_version_applies_only_if_the_key_did_not_change() {
    let c = TestCluster::ready(3);
    c.node(0).put("w", "1").unwrap();
    let [at, never] = c.node(0).versions(["w", "nothing"]).unwrap()[..] else {
        panic!("one version per key");
    };
    assert_eq!(never, level2pc_adapters::Ts::ZERO);
    let set = |version, value: &str| Change::IfVersion {
        version,
        then: Some(Box::new(Change::Set {
            value: value.as_bytes().into(),
            only: None,
        })),
    };
    c.node(1).put("w", "1").unwrap();
    let moved = c.node(2).change("w", set(at, "2")).unwrap();
    assert!(!moved.applied, "rewritten with the same value: changed");
    assert_eq!(c.node(0).get("w").unwrap(), Some(b"1".to_vec()));
    let now = c.node(2).versions(["w"]).unwrap()[0];
    let done = c.node(1).change("w", set(now, "2")).unwrap();
    assert!(done.applied && done.ts.is_some());
    assert_eq!(c.node(2).versions(["w"]).unwrap(), vec![done.ts.unwrap()]);
    assert!(
        c.node(0)
            .change("nothing", set(never, "x"))
            .unwrap()
            .applied
    );
}
