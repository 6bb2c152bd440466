//! Peers that join later knowing a single address: `level2pc serve --join HOST:PORT`. Two nodes
//! join a running 3-node cluster under a client load — the first through a configured member,
//! the second through the first (a node no configured member lists) — catch up, serve, and the
//! whole client history is linearizable. Misconfigured joiners are refused with a reason.

mod common;

use common::history::{client_loop, get, Recording};
use common::{free_port, start_cluster, wait_ready, ServeProc, BIN};
use level2pc_adapters::client::{Client, Value};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const READY: Duration = Duration::from_secs(30);

/// Arguments for a node that knows only `seed`'s peer port.
fn joiner_args(id: usize, peer: u16, client: u16, seed: u16, data: &Path) -> Vec<String> {
    [
        "--id".to_string(),
        id.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{peer}"),
        "--client".into(),
        format!("127.0.0.1:{client}"),
        "--data".into(),
        data.join(format!("node-{id}")).display().to_string(),
        "--join".into(),
        format!("127.0.0.1:{seed}"),
        "--op-timeout-ms".into(),
        "1000".into(),
    ]
    .into()
}

fn info(port: u16) -> String {
    let mut c = Client::connect(("127.0.0.1", port), Duration::from_secs(5)).expect("connect");
    match c.call(&[b"INFO"]).expect("INFO") {
        Value::Bulk(Some(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO: {other:?}"),
    }
}

/// Starts the three configured nodes and waits until they serve.
fn start_three(dir: &Path, peer_ports: &[u16], client_ports: &[u16]) -> Vec<ServeProc> {
    let extra = ["--op-timeout-ms", "1000"];
    start_cluster(dir, &peer_ports[..3], &client_ports[..3], &extra, READY)
}

#[test]
fn nodes_knowing_one_address_join_under_load_get_all_data_and_stay_linearizable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let peer_ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let client_ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let mut procs = start_three(dir.path(), &peer_ports, &client_ports);

    let rec = Recording::new();
    let stop = Arc::new(AtomicBool::new(false));
    let old: Vec<(usize, u16)> = (0..3).map(|i| (i, client_ports[i])).collect();
    let mut clients: Vec<_> = (0..3)
        .map(|id| {
            let (nodes, rec, stop) = (old.clone(), rec.clone(), stop.clone());
            std::thread::spawn(move || client_loop(id, nodes, rec, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1000));

    // Node 3 knows only node 0's peer address; node 4 knows only node 3's.
    for (id, seed) in [(3, peer_ports[0]), (4, peer_ports[3])] {
        let args = joiner_args(id, peer_ports[id], client_ports[id], seed, dir.path());
        let log = dir.path().join(format!("node-{id}.log"));
        let started = Instant::now();
        procs.push(ServeProc::start(args, client_ports[id], &log));
        assert!(
            wait_ready(client_ports[id], READY),
            "node {id} did not join:\n{}",
            procs[id].log_tail()
        );
        eprintln!(
            "join test: node {id} serving {:?} after start",
            started.elapsed()
        );
        let mine = vec![(id, client_ports[id])];
        let (rec, stop) = (rec.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            client_loop(10 + id, mine, rec, stop)
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }

    // Every member learned the late nodes' addresses and keeps a link to them.
    for (i, &port) in client_ports.iter().enumerate() {
        let text = info(port);
        assert!(text.contains("members:0,1,2,3,4"), "node {i}:\n{text}");
        for j in (0..5).filter(|&j| j != i) {
            let link = format!("peer_{j}:addr=127.0.0.1:{},outbound=up", peer_ports[j]);
            assert!(
                text.contains(&link),
                "node {i} has no live link to {j}:\n{text}"
            );
        }
    }
    // Every acknowledged fresh key — most written before the late nodes existed — is everywhere.
    let acked = rec.acked();
    assert!(
        acked.len() > 20,
        "too few writes acknowledged: {}",
        acked.len()
    );
    for key in &acked {
        for (i, &port) in client_ports.iter().enumerate() {
            assert_eq!(
                get(port, key).as_deref(),
                Some("1"),
                "{key} missing on node {i}"
            );
        }
    }
    let all: Vec<(usize, u16)> = client_ports.iter().copied().enumerate().collect();
    let ops = rec.final_reads_and_check(&all, "join-history.jsonl");
    eprintln!(
        "join test: {ops} ops, {} acknowledged fresh keys, history checked",
        acked.len()
    );
}

/// Runs `level2pc serve ARGS` expecting it to exit with an error quickly; returns its stderr.
fn refused(args: &[String]) -> String {
    let out = Command::new(BIN)
        .arg("serve")
        .args(args)
        .output()
        .expect("run level2pc serve");
    assert!(!out.status.success(), "serve {args:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_joiner_with_a_taken_id_or_the_wrong_secret_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let peer_ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let client_ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let _procs = start_three(dir.path(), &peer_ports, &client_ports);

    // Id 1 is node 1's, at another address.
    let taken = joiner_args(1, peer_ports[3], client_ports[3], peer_ports[0], dir.path());
    let mut taken = taken;
    taken[7] = dir.path().join("impostor").display().to_string();
    let err = refused(&taken);
    assert!(err.contains("node id 1 is already in the cluster"), "{err}");

    let secret = dir.path().join("secret");
    std::fs::write(&secret, "not the cluster's").expect("write secret");
    let mut wrong = joiner_args(3, peer_ports[3], client_ports[3], peer_ports[0], dir.path());
    wrong.extend(["--cluster-secret-file".into(), secret.display().to_string()]);
    let err = refused(&wrong);
    assert!(err.contains("handshake with seed"), "{err}");

    // Nobody listens at the seed: discovery gives up after its timeout and says so.
    let mut lonely = joiner_args(3, peer_ports[3], client_ports[3], free_port(), dir.path());
    lonely.extend(["--discovery-timeout".into(), "1".into()]);
    let err = refused(&lonely);
    assert!(err.contains("no seed answered"), "{err}");

    // The cluster is untouched: the real node 1 still serves, and nobody learned the impostor.
    let text = info(client_ports[0]);
    assert!(text.contains("members:0,1,2"), "{text}");
    assert!(!text.contains(&format!("{}", peer_ports[3])), "{text}");
}
