//! Membership on real nodes: a dead member is removed and writes resume on the others; it
//! comes back, rejoins and catches up; a node cut off from the majority stops serving reads.

use level2pc::Unavailable;
use level2pc_adapters::Error;
use level2pc_tests::{wait_until, TestCluster, READY_TIMEOUT};
use std::time::{Duration, Instant};

#[test]
fn a_dead_member_is_removed_writes_resume_and_it_rejoins_and_catches_up() {
    let mut c = TestCluster::ready(3);
    c.node(0)
        .put("before", "1")
        .expect("write with everyone up");
    c.cluster.stop(2).expect("stop node 2");
    let stopped = Instant::now();
    // Writes stall until the view change removes node 2 (T_fd + W), then go on without it.
    wait_until(READY_TIMEOUT, "a write succeeds without node 2", || {
        c.node(0)
            .with_timeout(Duration::from_millis(500))
            .put("during", "2")
            .is_ok()
    });
    let stall = stopped.elapsed();
    eprintln!("writes resumed {stall:?} after node 2 stopped");
    assert_eq!(
        c.node(1).get("during").expect("read on node 1"),
        Some(b"2".to_vec())
    );
    // Node 2 restarts from its intact disk, finds itself removed, rejoins and transfers.
    c.cluster.start(2).expect("restart node 2");
    let restarted = Instant::now();
    wait_until(
        READY_TIMEOUT,
        "node 2 serves the write it missed",
        || matches!(c.node(2).with_timeout(Duration::from_millis(300)).get("during"), Ok(Some(v)) if v == b"2"),
    );
    eprintln!(
        "node 2 served again {:?} after its restart",
        restarted.elapsed()
    );
    assert_eq!(c.node(2).get("before").expect("read"), Some(b"1".to_vec()));
    c.node(2).put("after", "3").expect("and it writes again");
    for n in 0..3 {
        assert_eq!(
            c.node(n).get("after").expect("read"),
            Some(b"3".to_vec()),
            "node {n}"
        );
    }
}

#[test]
fn a_node_cut_off_from_the_majority_stops_serving_reads_and_says_why() {
    let mut c = TestCluster::ready(3);
    c.node(0).put("k", "v").expect("write");
    c.cluster.stop(1).expect("stop node 1");
    c.cluster.stop(2).expect("stop node 2");
    let cut = Instant::now();
    // Its lease (L = 1 s from the last granted request) runs out; then reads say why.
    wait_until(Duration::from_secs(5), "node 0 refuses reads", || {
        matches!(
            c.node(0).with_timeout(Duration::from_millis(200)).get("k"),
            Err(Error::Unavailable(Unavailable::NoLease))
        )
    });
    let stopped_serving = cut.elapsed();
    eprintln!("node 0 stopped serving reads {stopped_serving:?} after losing the majority");
    assert!(
        stopped_serving <= Duration::from_millis(1_500),
        "within the lease bound: {stopped_serving:?}"
    );
}

#[test]
fn a_fourth_node_joining_later_gets_all_the_data_and_serves_linearizable_reads() {
    use level2pc::NodeId;
    // Four nodes are bound; 0, 1, 2 are the configured cluster, 3 joins later.
    let mut c = TestCluster::bind(4, |i, cfg| {
        level2pc_tests::fast(cfg);
        cfg.acceptors = Some(vec![NodeId(0), NodeId(1), NodeId(2)]);
        cfg.join = i == 3;
    });
    for i in 0..3 {
        c.cluster.start(i).expect("start a configured node");
    }
    wait_until(READY_TIMEOUT, "the first three serve", || {
        (0..3).all(|i| c.node(i).info().is_ok_and(|info| info.ready))
    });
    for k in 0..50 {
        c.node(k % 3)
            .put(format!("k{k}"), format!("v{k}"))
            .expect("write before the join");
    }
    c.cluster.start(3).expect("start the late node");
    // It asks to join, is admitted Joining, transfers a snapshot, and is promoted.
    wait_until(READY_TIMEOUT, "node 3 serves reads", || {
        c.node(3)
            .with_timeout(Duration::from_millis(300))
            .get("k0")
            .is_ok()
    });
    for k in 0..50 {
        assert_eq!(
            c.node(3).get(format!("k{k}")).expect("read"),
            Some(format!("v{k}").into_bytes())
        );
    }
    // It is now a full member: its writes reach everyone, and everyone's reach it.
    c.node(3).put("from3", "x").expect("write on the new node");
    c.node(0).put("from0", "y").expect("write on an old node");
    for n in 0..4 {
        assert_eq!(
            c.node(n).get("from3").expect("read"),
            Some(b"x".to_vec()),
            "node {n}"
        );
        assert_eq!(
            c.node(n).get("from0").expect("read"),
            Some(b"y".to_vec()),
            "node {n}"
        );
    }
}
