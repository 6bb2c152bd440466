//! kill -9 a node during a write load, restart it, and show that every acknowledged write is on
//! every node and that the recorded client history is linearizable (the simulator's checker).

mod common;

use common::history::{client_loop, get, Recording};
use common::{free_port, start_cluster, wait_ready};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NODES: usize = 3;
const CLIENTS: usize = 4;
const READY: Duration = Duration::from_secs(20);

#[test]
fn kill_9_during_writes_loses_no_acknowledged_write_and_stays_linearizable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let peer_ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let client_ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let extra = ["--op-timeout-ms", "1000"];
    let mut procs = start_cluster(dir.path(), &peer_ports, &client_ports, &extra, READY);

    let rec = Recording::new();
    let nodes: Vec<(usize, u16)> = client_ports.iter().copied().enumerate().collect();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (nodes, rec, stop) = (nodes.clone(), rec.clone(), stop.clone());
            std::thread::spawn(move || client_loop(id, nodes, rec, stop))
        })
        .collect();

    std::thread::sleep(Duration::from_millis(1500));
    let acked_before_kill = rec.acked_count();
    procs[2].kill9();
    let killed = std::time::Instant::now();
    // Writes resume on the other two once a view change removes node 2 (about T_fd + W): wait
    // for clearly more acknowledgements than the few writes that were in flight at the kill.
    let resumed = loop {
        let acked = rec.acked_count();
        if acked > acked_before_kill + 2 * CLIENTS {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < READY,
            "writes never resumed without the killed node"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("kill -9 test: writes resumed {resumed:?} after the kill");
    procs[2].restart();
    assert!(
        wait_ready(client_ports[2], READY),
        "restarted node not ready:\n{}",
        procs[2].log_tail()
    );
    let acked_at_restart = rec.acked_count();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let acked_after = rec.acked();
    assert!(
        acked_before_kill > 0,
        "writes were acknowledged before the kill"
    );
    assert!(
        acked_after.len() > acked_at_restart,
        "writes were acknowledged after the restart"
    );

    // Every acknowledged write of a fresh key is on every node.
    for key in &acked_after {
        for (i, &port) in client_ports.iter().enumerate() {
            assert_eq!(
                get(port, key).as_deref(),
                Some("1"),
                "acknowledged {key} missing on node {i}"
            );
        }
    }
    let ops = rec.final_reads_and_check(&nodes, "kill9-history.jsonl");
    eprintln!(
        "kill -9 test: {ops} ops, {} acknowledged fresh keys, history checked",
        acked_after.len()
    );
}
