//! The Node.js module's test scenarios, against real nodes over loopback.

use level2pc::Unavailable;
use level2pc_adapters::{Batch, Error, NodeEvent};
use level2pc_tests::{fast, wait_event, wait_until, TestCluster, READY_TIMEOUT};
use rand::seq::SliceRandom;
use rand::Rng;
use std::time::Duration;

#[test]
fn records_put_to_one_peer_are_on_all_peers() {
    let c = TestCluster::ready(3);
    for i in 0..20 {
        c.node(0)
            .put(format!("key{i}"), format!("value{i}"))
            .expect("put");
    }
    for n in 0..3 {
        for i in 0..20 {
            assert_eq!(
                c.node(n).get(format!("key{i}")).expect("get"),
                Some(format!("value{i}").into_bytes()),
                "node {n} key{i}"
            );
        }
    }
}

#[test]
fn a_put_is_on_all_peers_when_its_call_returns() {
    let c = TestCluster::ready(3);
    for (i, writer) in [0, 1, 2, 1, 0].into_iter().enumerate() {
        let value = format!("v{i}");
        c.node(writer).put("k", &value).expect("put");
        // Committed means durable on every member: each holds the value right now, before any
        // read could have waited for it (validity may still be in flight).
        for n in 0..3 {
            let state = c
                .node(n)
                .inspect("k")
                .expect("inspect")
                .expect("key present");
            assert_eq!(
                state.value.as_deref(),
                Some(value.as_bytes()),
                "node {n} after write {i} on node {writer}"
            );
        }
    }
}

#[test]
fn records_batched_to_one_peer_are_on_all_peers() {
    let c = TestCluster::ready(3);
    let batch = Batch::new()
        .put("a", "1")
        .put("b", "2")
        .put("c", "3")
        .del("b");
    c.node(1).batch(batch).expect("batch");
    for n in 0..3 {
        let values = c.node(n).get_many(["a", "b", "c"]).expect("get_many");
        assert_eq!(
            values,
            vec![Some(b"1".to_vec()), None, Some(b"3".to_vec())],
            "node {n}"
        );
        let range = c.node(n).range("a", "z", None).expect("range");
        assert_eq!(
            range,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"c".to_vec(), b"3".to_vec())
            ],
            "node {n}"
        );
    }
}

#[test]
fn a_delete_on_one_peer_removes_the_key_everywhere() {
    let c = TestCluster::ready(3);
    c.node(0).put("gone", "soon").expect("put");
    assert_eq!(c.node(2).get("gone").expect("get"), Some(b"soon".to_vec()));
    c.node(2).del("gone").expect("del");
    for n in 0..3 {
        assert_eq!(c.node(n).get("gone").expect("get"), None, "node {n}");
        assert_eq!(
            c.node(n)
                .inspect("gone")
                .expect("inspect")
                .and_then(|s| s.value),
            None,
            "tombstone on node {n}"
        );
    }
}

#[test]
fn json_values_round_trip() {
    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Doc {
        name: String,
        tags: Vec<String>,
        n: i64,
    }
    let c = TestCluster::ready(3);
    let doc = Doc {
        name: "x".into(),
        tags: vec!["a".into(), "b".into()],
        n: -7,
    };
    c.node(0).put_json("doc", &doc).expect("put_json");
    c.node(0).put_json("num", &100).expect("put_json");
    for n in 0..3 {
        assert_eq!(
            c.node(n).get_json::<Doc>("doc").expect("get_json"),
            Some(doc_clone(&doc))
        );
        assert_eq!(
            c.node(n).get_json::<i64>("num").expect("get_json"),
            Some(100)
        );
        assert_eq!(
            c.node(n).get_json::<i64>("missing").expect("get_json"),
            None
        );
    }
    c.node(1).put("not-json", "{").expect("put");
    assert!(matches!(
        c.node(2).get_json::<Doc>("not-json"),
        Err(Error::Json(_))
    ));

    fn doc_clone(d: &Doc) -> Doc {
        Doc {
            name: d.name.clone(),
            tags: d.tags.clone(),
            n: d.n,
        }
    }
}

#[test]
fn writes_are_refused_and_nothing_is_written_when_required_peers_are_unreachable() {
    // The Node module's behaviour: minConsensus = every node, so the view may not shrink and a
    // write needs all three. (With the default, the others remove the dead node instead: see
    // failover.rs.)
    let mut c = TestCluster::bind(3, |_, cfg| {
        fast(cfg);
        cfg.min_consensus = Some(3);
    });
    c.cluster.start_all().expect("start every node");
    assert!(c.cluster.wait_ready(READY_TIMEOUT), "cluster ready");
    c.cluster.stop(2).expect("stop node 2");
    wait_event(
        c.node(0).events(),
        READY_TIMEOUT,
        "notready on node 0",
        |e| *e == NodeEvent::NotReady,
    );
    wait_until(READY_TIMEOUT, "node 1 not ready", || {
        c.node(1).info().is_ok_and(|i| !i.ready)
    });

    let short = c.node(0).with_timeout(Duration::from_millis(300));
    let err = short
        .put("refused", "x")
        .expect_err("a write without every member must fail");
    assert!(
        matches!(err, Error::Unavailable(Unavailable::NotReady)),
        "clear error, got {err:?}"
    );
    let err = c
        .node(1)
        .with_timeout(Duration::from_millis(300))
        .batch(Batch::new().put("refused", "y").put("also", "z"));
    assert!(
        matches!(err, Err(Error::Unavailable(Unavailable::NotReady))),
        "{err:?}"
    );
    // Reads of committed data still work on the survivors.
    assert_eq!(c.node(0).get("refused").expect("get"), None);

    c.cluster.start(2).expect("restart node 2");
    assert!(c.cluster.wait_ready(READY_TIMEOUT), "cluster ready again");
    for n in 0..3 {
        for key in ["refused", "also"] {
            assert_eq!(
                c.node(n).inspect(key).expect("inspect"),
                None,
                "{key} was written on node {n}"
            );
            assert_eq!(c.node(n).get(key).expect("get"), None);
        }
    }
    c.node(2).put("after", "ok").expect("writes work again");
    assert_eq!(c.node(0).get("after").expect("get"), Some(b"ok".to_vec()));
}

#[test]
fn peers_started_in_random_order_at_random_times_converge_and_accept_writes() {
    let mut rng = rand::thread_rng();
    let mut c = TestCluster::bind(4, |_, cfg| fast(cfg));
    let mut order: Vec<usize> = (0..4).collect();
    order.shuffle(&mut rng);
    for &i in &order {
        std::thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
        c.cluster.start(i).expect("start");
    }
    assert!(
        c.cluster.wait_ready(READY_TIMEOUT),
        "nodes started in order {order:?} did not converge"
    );
    for i in 0..4 {
        c.node(i)
            .put(format!("from{i}"), format!("{i}"))
            .expect("put");
    }
    for n in 0..4 {
        let all = c.node(n).range("from", "fromz", None).expect("range");
        assert_eq!(all.len(), 4, "node {n} sees every write: {all:?}");
    }
}

#[test]
fn a_restarted_node_keeps_its_data_and_catches_up() {
    let mut c = TestCluster::ready(3);
    c.node(0).put("durable", "1").expect("put");
    c.cluster.stop(1).expect("stop");
    c.cluster.start(1).expect("restart");
    assert!(c.cluster.wait_ready(READY_TIMEOUT));
    assert_eq!(c.node(1).get("durable").expect("get"), Some(b"1".to_vec()));
    assert!(
        c.node(1).info().expect("info").boot >= 2,
        "boot incarnation bumped on restart"
    );
    c.node(1).put("durable", "2").expect("put after restart");
    assert_eq!(c.node(2).get("durable").expect("get"), Some(b"2".to_vec()));
}

#[test]
fn concurrent_writers_on_every_node_agree() {
    let c = TestCluster::ready(3);
    std::thread::scope(|s| {
        for n in 0..3 {
            let h = c.node(n).handle();
            s.spawn(move || {
                for i in 0..30 {
                    h.put(format!("shared{}", i % 3), format!("n{n}-{i}"))
                        .expect("put");
                }
            });
        }
    });
    for k in 0..3 {
        let key = format!("shared{k}");
        let seen: Vec<_> = (0..3).map(|n| c.node(n).get(&key).expect("get")).collect();
        assert!(
            seen.iter().all(|v| *v == seen[0] && v.is_some()),
            "{key}: {seen:?}"
        );
    }
}
