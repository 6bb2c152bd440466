//! `INCR` over RESP from every node while nodes are killed with SIGKILL and restarted: the
//! clients of the killed node get errors, any client may get `-INDETERMINATE`, and no answer is
//! ever wrong — every successful `INCR` returned a distinct value, each client saw its values
//! grow, and the final value counts every applied increment once:
//! `applied <= final <= applied + indeterminate + lost` (a lost request is one whose connection
//! broke before its reply).
//!
//! The nodes are processes, so `kill -9` is real: this test binary runs itself again as a node
//! ([`node_process`], an ignored test that does nothing unless [`NODE_ENV`] is set), so the node
//! is always the code under test (the `level2pc` binary belongs to another package and may not be
//! built, or be stale).

mod common;

use common::{check_increments, python, script, Increments, RUN_TIMEOUT};
use level2pc::NodeId;
use level2pc_adapters::client::{Client, Value};
use level2pc_adapters::{Config, PeerAddr, Replicator};
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in a node process: `id;peer ports;client ports;data dir` (ports comma-separated).
const NODE_ENV: &str = "LEVEL2PC_TEST_RMW_NODE";
/// How long a node may take to become ready.
const READY: Duration = Duration::from_secs(30);

/// The body of a node process (see the module documentation): runs node `id` until its
/// standard input closes (the test ended or died) or it is killed.
#[test]
#[ignore = "a node process of kill_9_during_increments_never_gives_a_wrong_answer, started by it"]
fn node_process() {
    let Ok(spec) = std::env::var(NODE_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(';').collect();
    let [id, peer_ports, client_ports, dir] = parts[..] else {
        panic!("{NODE_ENV}={spec}")
    };
    let ports = |list: &str| -> Vec<u16> { list.split(',').map(|p| p.parse().unwrap()).collect() };
    let (id, peer_ports, client_ports): (usize, _, _) =
        (id.parse().unwrap(), ports(peer_ports), ports(client_ports));
    let node_id = |i: usize| NodeId(u32::try_from(i).unwrap());
    let peers = (0..peer_ports.len())
        .filter(|&j| j != id)
        .map(|j| PeerAddr {
            id: node_id(j),
            addr: format!("127.0.0.1:{}", peer_ports[j]),
        })
        .collect();
    let mut config = Config::new(node_id(id), format!("127.0.0.1:{}", peer_ports[id]), peers);
    config.client = Some(format!("127.0.0.1:{}", client_ports[id]));
    level2pc_tests::fast(&mut config);
    level2pc_tests::init_logging();
    let node = Replicator::open(dir, config).expect("open the node");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(node);
    std::process::exit(0);
}

/// A free loopback port below Linux's ephemeral range (32768+), so no outgoing connection can
/// take it while its node is down between the kill and the restart.
fn free_port() -> u16 {
    use rand::Rng;
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = rand::thread_rng();
    for _ in 0..1000 {
        let port = rng.gen_range(20_000..32_000);
        if !handed_out.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no free loopback port in 20000..32000");
}

/// One node process; killed when dropped.
struct NodeProc {
    spec: String,
    log: PathBuf,
    child: Option<Child>,
}

impl NodeProc {
    fn start(spec: String, log: &Path) -> NodeProc {
        let mut p = NodeProc {
            spec,
            log: log.to_owned(),
            child: None,
        };
        p.restart();
        p
    }

    fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the node's log");
        let err = log.try_clone().expect("clone the log handle");
        let child = Command::new(std::env::current_exe().expect("this test binary"))
            .args(["node_process", "--exact", "--ignored", "--nocapture"])
            .env(NODE_ENV, &self.spec)
            .env("RUST_LOG", "info")
            .stdin(Stdio::piped())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("start a node process");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown code runs.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Whether the node on `port` reports `ready:1` in `INFO` within `timeout`.
fn wait_ready(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let ready = Client::connect(("127.0.0.1", port), Duration::from_secs(1))
            .and_then(|mut c| c.call(&[b"INFO"]))
            .is_ok_and(|v| matches!(v, Value::Bulk(Some(b)) if String::from_utf8_lossy(&b).contains("ready:1")));
        if ready {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// `INCR key` with the bundled client until `stop`, reconnecting after a broken connection.
/// `acked` counts the successes of every client (to see writes resume after the kill).
fn rust_client(port: u16, key: &str, stop: &AtomicBool, acked: &AtomicU64) -> Increments {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut incs = Increments::default();
    let mut conn: Option<Client> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            match Client::connect(addr, Duration::from_secs(10)) {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    incs.unsent += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            continue;
        };
        match c.call(&[b"INCR", key.as_bytes()]) {
            Ok(Value::Integer(n)) => {
                incs.values.push(n);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Value::Error(e)) if e.starts_with("INDETERMINATE") => incs.indeterminate += 1,
            Ok(Value::Error(e)) if e.starts_with("UNAVAILABLE") => incs.unavailable += 1,
            Ok(other) => incs.wrong.push(format!("{other:?}")),
            Err(_) => {
                // Sent, and the reply never came: it may or may not have applied.
                incs.lost += 1;
                conn = None;
            }
        }
    }
    incs
}

/// Waits until `acked` passes `target`; panics naming `what` after `timeout`.
fn wait_acked(acked: &AtomicU64, target: u64, timeout: Duration, what: &str) -> Duration {
    let started = Instant::now();
    while acked.load(Ordering::Relaxed) < target {
        assert!(
            started.elapsed() < timeout,
            "{what}: still {acked:?} of {target}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    started.elapsed()
}

#[test]
fn kill_9_during_increments_never_gives_a_wrong_answer() {
    let python = python();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let peer_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let client_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let list = |ports: &[u16]| {
        ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut nodes: Vec<NodeProc> = (0..3)
        .map(|i| {
            let spec = format!(
                "{i};{};{};{}",
                list(&peer_ports),
                list(&client_ports),
                dir.path().join(format!("node-{i}")).display()
            );
            NodeProc::start(spec, &dir.path().join(format!("node-{i}.log")))
        })
        .collect();
    for (i, node) in nodes.iter().enumerate() {
        assert!(
            wait_ready(client_ports[i], READY),
            "node {i} not ready:\n{}",
            node.log_tail()
        );
    }

    let key = "kill9-counter";
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let mut rust = Vec::new();
    for &port in client_ports.iter().chain(&client_ports) {
        let (stop, acked) = (Arc::clone(&stop), Arc::clone(&acked));
        rust.push(std::thread::spawn(move || {
            rust_client(port, key, &stop, &acked)
        }));
    }
    // redis-py (RESP3) clients: a fixed number of INCRs each, without retries; those of the
    // killed node fail fast while it is down.
    let mut py = Vec::new();
    for &port in &client_ports {
        let mut cmd = Command::new(&python);
        cmd.arg(script("redis_py_rmw.py"))
            .args(["incr", "127.0.0.1", &port.to_string(), key, "400"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        py.push(cmd.spawn().expect("start redis-py"));
    }

    wait_acked(&acked, 100, READY, "increments before the kill");
    // Node 2, then node 0 (the lowest id), each killed mid-increment and restarted.
    for victim in [2, 0] {
        nodes[victim].kill9();
        let killed_at = acked.load(Ordering::Relaxed);
        let resumed = wait_acked(
            &acked,
            killed_at + 100,
            READY,
            "increments on the surviving nodes after the kill",
        );
        eprintln!("kill -9 of node {victim}: increments resumed within {resumed:?}");
        nodes[victim].restart();
        assert!(
            wait_ready(client_ports[victim], READY),
            "node {victim} not ready after its restart:\n{}",
            nodes[victim].log_tail()
        );
        let restarted_at = acked.load(Ordering::Relaxed);
        wait_acked(
            &acked,
            restarted_at + 100,
            READY,
            "increments after the restart",
        );
    }
    stop.store(true, Ordering::Relaxed);

    let mut clients: Vec<Increments> = rust
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    let started = Instant::now();
    for child in py {
        let out = child.wait_with_output().expect("redis-py output");
        assert!(
            out.status.success() && started.elapsed() < RUN_TIMEOUT,
            "redis-py INCR failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        clients.push(Increments::from_redis_py(&String::from_utf8_lossy(
            &out.stdout,
        )));
    }

    // Every node, the restarted one too, ends with the same final value.
    let finals: Vec<i64> = client_ports
        .iter()
        .map(|&port| {
            let mut c =
                Client::connect(("127.0.0.1", port), Duration::from_secs(10)).expect("connect");
            match c.call(&[b"GET", key.as_bytes()]).expect("GET") {
                Value::Bulk(Some(v)) => String::from_utf8(v).unwrap().parse().unwrap(),
                other => panic!("GET {key}: {other:?}"),
            }
        })
        .collect();
    assert!(finals.windows(2).all(|w| w[0] == w[1]), "{finals:?}");
    let total = check_increments(&clients, finals[0]);
    eprintln!(
        "kill -9 during INCRs: final {}, {} applied, {} indeterminate, {} lost, {} unavailable, {} not sent",
        finals[0],
        total.values.len(),
        total.indeterminate,
        total.lost,
        total.unavailable,
        total.unsent
    );
    drop(nodes);
}
