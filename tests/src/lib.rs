//! Helpers for the end-to-end tests in `tests/tests/`: real nodes (LMDB + mio) on loopback with
//! ephemeral ports and temporary directories, and polling with deadlines instead of sleeps.

use level2pc_adapters::{Config, LocalCluster, NodeEvent, Ports, Replicator};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a cluster may take to become ready in tests.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Logs to stderr when `RUST_LOG` is set (captured by the test harness unless `--nocapture`).
pub fn init_logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// A local cluster and the temporary directory holding its data (removed on drop).
pub struct TestCluster {
    /// The nodes.
    pub cluster: LocalCluster,
    /// Their data.
    pub dir: TempDir,
}

impl TestCluster {
    /// Binds `n` nodes on ephemeral loopback ports, lets `tune` adjust each configuration, and
    /// does not start them.
    pub fn bind(n: usize, mut tune: impl FnMut(usize, &mut Config)) -> TestCluster {
        init_logging();
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let mut cluster =
            LocalCluster::bind(n, dir.path(), Ports::Ephemeral).expect("bind loopback listeners");
        for i in 0..n {
            if let Some(config) = cluster.config_mut(i) {
                tune(i, config);
            }
        }
        TestCluster { cluster, dir }
    }

    /// Starts `n` nodes with test-friendly timings and waits until all are ready.
    pub fn ready(n: usize) -> TestCluster {
        let mut c = TestCluster::bind(n, |_, cfg| fast(cfg));
        c.cluster.start_all().expect("start every node");
        assert!(
            c.cluster.wait_ready(READY_TIMEOUT),
            "cluster of {n} did not become ready within {READY_TIMEOUT:?}"
        );
        c
    }

    /// Node `i` (panics with a clear message if it is not running).
    pub fn node(&self, i: usize) -> &Replicator {
        self.cluster
            .node(i)
            .unwrap_or_else(|| panic!("node {i} is not running"))
    }
}

/// Shorter failure detection and reconnect timings, so tests about outages stay quick.
pub fn fast(cfg: &mut Config) {
    cfg.engine.heartbeat_ms = 50;
    cfg.engine.peer_timeout_ms = 400;
    cfg.net.backoff_min_ms = 20;
    cfg.net.backoff_max_ms = 200;
    cfg.op_timeout = Duration::from_secs(5);
}

/// Polls `cond` every 10 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for an event matching `pred`, returning it; panics naming `what` after `timeout`.
pub fn wait_event(
    events: &Receiver<NodeEvent>,
    timeout: Duration,
    what: &str,
    mut pred: impl FnMut(&NodeEvent) -> bool,
) -> NodeEvent {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if pred(&event) => return event,
            Ok(_) => {}
            Err(_) => panic!("timed out after {timeout:?} waiting for event: {what}"),
        }
    }
}
