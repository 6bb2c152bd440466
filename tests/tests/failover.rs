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
