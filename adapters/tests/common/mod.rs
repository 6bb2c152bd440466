//! Helpers for tests that drive the `level2pc` binary as child processes.

#![allow(dead_code)]

pub mod history;

use level2pc_adapters::client::{Client, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test (built by cargo for this package's integration tests).
pub const BIN: &str = env!("CARGO_BIN_EXE_level2pc");

/// A free loopback port below Linux's ephemeral range (32768+), so no outgoing connection can
/// take it while its node is down between a kill and a restart. Never the same port twice in
/// one test process: tests run in parallel and pick their ports before their nodes bind them,
/// so two picks could otherwise collide (seen once in CI as "Address already in use").
pub fn free_port() -> u16 {
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

/// One `level2pc serve` child process; killed when dropped.
pub struct ServeProc {
    /// Its arguments, for restarts.
    pub args: Vec<String>,
    /// The client port.
    pub client_port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl ServeProc {
    /// Starts `level2pc serve` with `args`, logging to `log`.
    pub fn start(args: Vec<String>, client_port: u16, log: &Path) -> ServeProc {
        let mut p = ServeProc {
            args,
            client_port,
            log: log.to_owned(),
            child: None,
        };
        p.restart();
        p
    }

    /// (Re)starts the process with the same arguments.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open node log");
        let err = log.try_clone().expect("clone log handle");
        let child = Command::new(BIN)
            .arg("serve")
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .expect("spawn level2pc serve");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill -9");
            child.wait().expect("reap");
        }
    }

    /// The log so far (for failure messages).
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for ServeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Waits until the node on `port` reports `ready:1` in INFO.
pub fn wait_ready(port: u16, timeout: Duration) -> bool {
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

/// Arguments for node `i` of a cluster whose peer ports are `peer_ports` and client ports
/// `client_ports`.
pub fn serve_args(
    i: usize,
    peer_ports: &[u16],
    client_ports: &[u16],
    data: &Path,
    extra: &[&str],
) -> Vec<String> {
    let peers: Vec<String> = (0..peer_ports.len())
        .filter(|&j| j != i)
        .map(|j| format!("{j}=127.0.0.1:{}", peer_ports[j]))
        .collect();
    let mut args = vec![
        "--id".to_string(),
        i.to_string(),
        "--listen".into(),
        format!("127.0.0.1:{}", peer_ports[i]),
        "--client".into(),
        format!("127.0.0.1:{}", client_ports[i]),
        "--data".into(),
        data.join(format!("node-{i}")).display().to_string(),
    ];
    if !peers.is_empty() {
        args.push("--peers".into());
        args.push(peers.join(","));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Starts `level2pc serve` for nodes `0..peer_ports.len()` (each configured with all the
/// others, plus `extra` arguments, logging to `DIR/node-<i>.log`) and waits until each is
/// ready; panics with the log tail of one that is not within `timeout`.
pub fn start_cluster(
    dir: &Path,
    peer_ports: &[u16],
    client_ports: &[u16],
    extra: &[&str],
    timeout: Duration,
) -> Vec<ServeProc> {
    let procs: Vec<ServeProc> = (0..peer_ports.len())
        .map(|i| {
            let args = serve_args(i, peer_ports, client_ports, dir, extra);
            ServeProc::start(args, client_ports[i], &dir.join(format!("node-{i}.log")))
        })
        .collect();
    for p in &procs {
        assert!(
            wait_ready(p.client_port, timeout),
            "node on {} not ready:\n{}",
            p.client_port,
            p.log_tail()
        );
    }
    procs
}
