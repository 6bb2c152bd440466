//! kill -9 a node during a write load, restart it, and show that every acknowledged write is on
//! every node and that the recorded client history is linearizable (the simulator's checker).

mod common;

use common::{free_port, serve_args, wait_ready, ServeProc};
use level2pc_adapters::resp::client::{Client, Value};
use level2pc_sim::checker::{check, DEFAULT_BUDGET};
use level2pc_sim::history::{write_history, History, Op, OpResult, Operation};
use rand::Rng;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NODES: usize = 3;
const CLIENTS: usize = 4;
const REGISTERS: usize = 6;
const READY: Duration = Duration::from_secs(20);

/// The shared recording: operations, acknowledged unique keys, and the time base.
struct Recording {
    start: Instant,
    ops: Mutex<Vec<Operation>>,
    next_id: AtomicUsize,
    acked_unique: Mutex<Vec<String>>,
}

impl Recording {
    fn micros(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn record(&self, client: u64, node: usize, call: u64, op: Op, outcome: Outcome) {
        let (ret, result) = match outcome {
            Outcome::Done(result) => (Some(self.micros()), result),
            Outcome::Lost => (None, OpResult::Unknown),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) as u64;
        let op = Operation {
            id,
            client,
            node: Some(node as u64),
            call,
            ret,
            op,
            result,
        };
        self.ops.lock().expect("history lock").push(op);
    }
}

enum Outcome {
    Done(OpResult),
    /// The connection failed: the client never learned the outcome.
    Lost,
}

/// Maps a SET reply: OK, UNAVAILABLE (nothing written), INDETERMINATE (may commit).
fn write_outcome(reply: Result<Value, level2pc_adapters::resp::client::ClientError>) -> Outcome {
    match reply {
        Ok(Value::Simple(s)) if s == "OK" => Outcome::Done(OpResult::Ok),
        Ok(Value::Error(e)) if e.starts_with("UNAVAILABLE") => Outcome::Done(OpResult::Fail),
        Ok(_) => Outcome::Done(OpResult::Unknown),
        Err(_) => Outcome::Lost,
    }
}

fn read_outcome(reply: Result<Value, level2pc_adapters::resp::client::ClientError>) -> Outcome {
    match reply {
        Ok(Value::Bulk(v)) => Outcome::Done(OpResult::Value {
            value: v.map(|b| String::from_utf8_lossy(&b).into_owned()),
        }),
        // A read that failed had no effect, whatever the reason.
        _ => Outcome::Done(OpResult::Fail),
    }
}

/// One client: random puts (unique values) and gets on shared registers, plus writes of fresh
/// keys; reconnects to the next node when its connection breaks.
fn client_loop(id: usize, ports: Vec<u16>, rec: Arc<Recording>, stop: Arc<AtomicBool>) {
    let mut rng = rand::thread_rng();
    let mut node = id % NODES;
    let mut conn: Option<Client> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(c) = conn.as_mut() else {
            conn = Client::connect(("127.0.0.1", ports[node]), Duration::from_secs(3)).ok();
            if conn.is_none() {
                node = (node + 1) % NODES;
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        };
        n += 1;
        let register = format!("r{}", rng.gen_range(0..REGISTERS));
        let call = rec.micros();
        let broken = match rng.gen_range(0..10) {
            0..=4 => {
                let value = format!("c{id}-{n}");
                let outcome =
                    write_outcome(c.call(&[b"SET", register.as_bytes(), value.as_bytes()]));
                let lost = matches!(outcome, Outcome::Lost);
                rec.record(
                    id as u64,
                    node,
                    call,
                    Op::Put {
                        key: register,
                        value,
                    },
                    outcome,
                );
                lost
            }
            5..=7 => {
                let reply = c.call(&[b"GET", register.as_bytes()]);
                let lost = reply.is_err();
                rec.record(
                    id as u64,
                    node,
                    call,
                    Op::Get { key: register },
                    read_outcome(reply),
                );
                lost
            }
            _ => {
                let key = format!("u{id}-{n}");
                let outcome = write_outcome(c.call(&[b"SET", key.as_bytes(), b"1"]));
                let lost = matches!(outcome, Outcome::Lost);
                if matches!(outcome, Outcome::Done(OpResult::Ok)) {
                    rec.acked_unique.lock().expect("lock").push(key.clone());
                }
                rec.record(
                    id as u64,
                    node,
                    call,
                    Op::Put {
                        key,
                        value: "1".into(),
                    },
                    outcome,
                );
                lost
            }
        };
        if broken {
            conn = None;
            node = (node + 1) % NODES;
        }
    }
}

fn get(port: u16, key: &str) -> Option<String> {
    let mut c = Client::connect(("127.0.0.1", port), Duration::from_secs(10))
        .expect("connect for the final read");
    match c.call(&[b"GET", key.as_bytes()]).expect("final read") {
        Value::Bulk(v) => v.map(|b| String::from_utf8_lossy(&b).into_owned()),
        other => panic!("final GET {key} on port {port}: {other:?}"),
    }
}

#[test]
fn kill_9_during_writes_loses_no_acknowledged_write_and_stays_linearizable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let peer_ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let client_ports: Vec<u16> = (0..NODES).map(|_| free_port()).collect();
    let mut procs: Vec<ServeProc> = (0..NODES)
        .map(|i| {
            let args = serve_args(
                i,
                &peer_ports,
                &client_ports,
                dir.path(),
                &["--op-timeout-ms", "1000"],
            );
            ServeProc::start(
                args,
                client_ports[i],
                &dir.path().join(format!("node-{i}.log")),
            )
        })
        .collect();
    for p in &procs {
        assert!(
            wait_ready(p.client_port, READY),
            "node on {} not ready:\n{}",
            p.client_port,
            p.log_tail()
        );
    }

    let rec = Arc::new(Recording {
        start: Instant::now(),
        ops: Mutex::new(Vec::new()),
        next_id: AtomicUsize::new(0),
        acked_unique: Mutex::new(Vec::new()),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let (ports, rec, stop) = (client_ports.clone(), rec.clone(), stop.clone());
            std::thread::spawn(move || client_loop(id, ports, rec, stop))
        })
        .collect();

    std::thread::sleep(Duration::from_millis(1500));
    let acked_before_kill = rec.acked_unique.lock().expect("lock").len();
    procs[2].kill9();
    let killed = std::time::Instant::now();
    // Writes resume on the other two once a view change removes node 2 (about T_fd + W): wait
    // for clearly more acknowledgements than the few writes that were in flight at the kill.
    let resumed = loop {
        let acked = rec.acked_unique.lock().expect("lock").len();
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
    let acked_at_restart = rec.acked_unique.lock().expect("lock").len();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client thread");
    }
    let acked_after = rec.acked_unique.lock().expect("lock").clone();
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
    // Final reads of every register on every node join the history, after every write ended.
    for r in 0..REGISTERS {
        let key = format!("r{r}");
        for (i, &port) in client_ports.iter().enumerate() {
            let call = rec.micros();
            let value = get(port, &key);
            rec.record(
                100 + i as u64,
                i,
                call,
                Op::Get { key: key.clone() },
                Outcome::Done(OpResult::Value { value }),
            );
        }
    }

    let history = History::new(rec.ops.lock().expect("lock").clone());
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kill9-history.jsonl");
    let file = std::fs::File::create(&path).expect("create history file");
    write_history(&history, std::io::BufWriter::new(file)).expect("write history");
    let report = check(&history, DEFAULT_BUDGET).expect("well-formed history");
    assert!(
        report.verdict.is_ok(),
        "history {} ({} ops) is not linearizable: {:?}",
        path.display(),
        history.ops.len(),
        report.verdict
    );
    eprintln!(
        "kill -9 test: {} ops, {} acknowledged fresh keys, history in {}",
        history.ops.len(),
        acked_after.len(),
        path.display()
    );
}
