//! kill -9 a node during a write load, restart it, and show that every acknowledged write is on
//! every node and that the recorded client history is linearizable (the simulator's checker).
//! The second test does it again and again with 32 KiB log segments and 64 KiB checkpoints, so the
//! kills land while checkpoints and segment deletions run on the real threads (the exact
//! points inside them are covered deterministically by the power-cut tests in
//! `adapters/src/wal/tests.rs`).

mod common;

use common::history::{client_loop, get, Recording};
use common::{free_port, start_cluster, wait_ready, ServeProc};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const NODES: usize = 3;
const CLIENTS: usize = 4;
const READY: Duration = Duration::from_secs(20);

#[test]
fn kill_9_during_writes_loses_no_acknowledged_write_and_stays_linearizable() {
    run(
        &["--op-timeout-ms", "1000"],
        &[2],
        "kill9-history.jsonl",
        |_| {},
    );
}

#[test]
fn kill_9_during_checkpoints_and_log_truncation_loses_nothing() {
    let extra = [
        "--op-timeout-ms",
        "1000",
        "--wal-segment-kib",
        "32",
        "--wal-checkpoint-kib",
        "64",
    ];
    run(
        &extra,
        &[2, 0, 1, 2],
        "kill9-checkpoint-history.jsonl",
        |ports| {
            let checkpoints: u64 = ports.iter().map(|&p| info_field(p, "checkpoints")).sum();
            assert!(
                checkpoints > 0,
                "no checkpoint ran: the test exercised nothing"
            );
            eprintln!("kill -9 checkpoint test: {checkpoints} checkpoints since the last restarts");
        },
    );
}

/// A numeric field of a node's `INFO`.
fn info_field(port: u16, field: &str) -> u64 {
    use level2pc_adapters::client::{Client, Value};
    let mut c = Client::connect(("127.0.0.1", port), Duration::from_secs(10)).expect("connect");
    let Value::Bulk(Some(text)) = c.call(&[b"INFO"]).expect("INFO") else {
        panic!("INFO is no bulk string");
    };
    let text = String::from_utf8_lossy(&text).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO:\n{text}"))
}

/// Starts a cluster with `extra` arguments, runs clients, kill -9s and restarts each node of
/// `victims` in turn, then checks every acknowledged write everywhere and the history.
/// Finally hands the client ports to `check`, while the nodes still run.
fn run(extra: &[&str], victims: &[usize], history_name: &str, check: impl FnOnce(&[u16])) {
    // One cluster at a time: two loaded clusters on two cores would stretch every timeout.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().expect("temp dir");
    let peer_ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let client_ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let mut procs = start_cluster(dir.path(), &peer_ports, &client_ports, extra, READY);

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
    for &victim in victims {
        kill_and_restart(&mut procs[victim], client_ports[victim], &rec);
    }
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
    let ops = rec.final_reads_and_check(&nodes, history_name);
    eprintln!(
        "kill -9 test: {ops} ops, {} acknowledged fresh keys, history checked",
        acked_after.len()
    );
    check(&client_ports);
}

/// kill -9s one node, waits until the others acknowledge writes without it, restarts it and
/// waits until it is ready again.
fn kill_and_restart(proc: &mut ServeProc, client_port: u16, rec: &Recording) {
    let acked_before_kill = rec.acked_count();
    proc.kill9();
    let killed = std::time::Instant::now();
    // Writes resume on the other two once a view change removes the node (about T_fd + W):
    // wait for clearly more acknowledgements than the few writes in flight at the kill.
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
    proc.restart();
    assert!(
        wait_ready(client_port, READY),
        "restarted node not ready:\n{}",
        proc.log_tail()
    );
}
