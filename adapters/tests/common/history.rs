//! Recording a client history against real nodes over RESP, and checking it with the
//! simulator's linearizability checker.

use level2pc_adapters::client::{Client, ClientError, Value};
use level2pc_sim::checker::{check, DEFAULT_BUDGET};
use level2pc_sim::history::{write_history, History, Op, OpResult, Operation};
use rand::Rng;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared registers the clients read and overwrite.
pub const REGISTERS: usize = 6;

/// The shared recording: operations, acknowledged unique keys, and the time base.
pub struct Recording {
    start: Instant,
    ops: Mutex<Vec<Operation>>,
    next_id: AtomicUsize,
    acked_unique: Mutex<Vec<String>>,
}

/// How an operation ended, as the client saw it.
pub enum Outcome {
    /// It returned this.
    Done(OpResult),
    /// The connection failed: the client never learned the outcome.
    Lost,
}

impl Recording {
    /// An empty recording whose clock starts now.
    pub fn new() -> Arc<Recording> {
        Arc::new(Recording {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
            next_id: AtomicUsize::new(0),
            acked_unique: Mutex::new(Vec::new()),
        })
    }

    /// Microseconds since the recording started.
    pub fn micros(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Adds one operation, invoked at `call`, returning now (or never, if lost).
    pub fn record(&self, client: u64, node: usize, call: u64, op: Op, outcome: Outcome) {
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

    /// The fresh keys whose write was acknowledged so far.
    pub fn acked(&self) -> Vec<String> {
        self.acked_unique.lock().expect("lock").clone()
    }

    /// How many fresh-key writes were acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.acked_unique.lock().expect("lock").len()
    }

    /// Reads every register on every node (after all writes ended) into the history, writes it
    /// to `name` in the test's temporary directory, and asserts the checker finds it
    /// linearizable. Returns the number of operations.
    pub fn final_reads_and_check(&self, client_ports: &[(usize, u16)], name: &str) -> usize {
        for r in 0..REGISTERS {
            let key = format!("r{r}");
            for &(node, port) in client_ports {
                let call = self.micros();
                let value = get(port, &key);
                self.record(
                    100 + node as u64,
                    node,
                    call,
                    Op::Get { key: key.clone() },
                    Outcome::Done(OpResult::Value { value }),
                );
            }
        }
        let history = History::new(self.ops.lock().expect("lock").clone());
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
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
        history.ops.len()
    }
}

/// Maps a SET reply: OK, UNAVAILABLE (nothing written), INDETERMINATE (may commit).
fn write_outcome(reply: Result<Value, ClientError>) -> Outcome {
    match reply {
        Ok(Value::Simple(s)) if s == "OK" => Outcome::Done(OpResult::Ok),
        Ok(Value::Error(e)) if e.starts_with("UNAVAILABLE") => Outcome::Done(OpResult::Fail),
        Ok(_) => Outcome::Done(OpResult::Unknown),
        Err(_) => Outcome::Lost,
    }
}

fn read_outcome(reply: Result<Value, ClientError>) -> Outcome {
    match reply {
        Ok(Value::Bulk(v)) => Outcome::Done(OpResult::Value {
            value: v.map(|b| String::from_utf8_lossy(&b).into_owned()),
        }),
        // A read that failed had no effect, whatever the reason.
        _ => Outcome::Done(OpResult::Fail),
    }
}

/// One client: random puts (unique values) and gets on shared registers, plus writes of fresh
/// keys; `nodes` are (node index, client port) pairs, and the client moves to the next one when
/// its connection breaks.
pub fn client_loop(
    id: usize,
    nodes: Vec<(usize, u16)>,
    rec: Arc<Recording>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = rand::thread_rng();
    let mut at = id % nodes.len();
    let mut conn: Option<Client> = None;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let (node, port) = nodes[at];
        let Some(c) = conn.as_mut() else {
            conn = Client::connect(("127.0.0.1", port), Duration::from_secs(3)).ok();
            if conn.is_none() {
                at = (at + 1) % nodes.len();
                std::thread::sleep(Duration::from_millis(20));
            }
            continue;
        };
        n += 1;
        let register = format!("r{}", rng.gen_range(0..REGISTERS));
        let call = rec.micros();
        // (operation, outcome, whether the connection broke)
        let (op, outcome, broken) = match rng.gen_range(0..10) {
            0..=4 => {
                let value = format!("c{id}-{n}");
                let outcome =
                    write_outcome(c.call(&[b"SET", register.as_bytes(), value.as_bytes()]));
                let broken = matches!(outcome, Outcome::Lost);
                let op = Op::Put {
                    key: register,
                    value,
                };
                (op, outcome, broken)
            }
            5..=7 => {
                let reply = c.call(&[b"GET", register.as_bytes()]);
                let broken = reply.is_err();
                (Op::Get { key: register }, read_outcome(reply), broken)
            }
            _ => {
                let key = format!("u{id}-{n}");
                let outcome = write_outcome(c.call(&[b"SET", key.as_bytes(), b"1"]));
                if matches!(outcome, Outcome::Done(OpResult::Ok)) {
                    rec.acked_unique.lock().expect("lock").push(key.clone());
                }
                let broken = matches!(outcome, Outcome::Lost);
                let op = Op::Put {
                    key,
                    value: "1".into(),
                };
                (op, outcome, broken)
            }
        };
        rec.record(id as u64, node, call, op, outcome);
        if broken {
            conn = None;
            at = (at + 1) % nodes.len();
        }
    }
}

/// How long a final read waits for a node that is not serving right now.
const FINAL_READ_PATIENCE: Duration = Duration::from_secs(20);

/// A GET on the node serving clients on `port`, for final reads: panics on anything but a value,
/// except `-UNAVAILABLE`, which it retries for up to [`FINAL_READ_PATIENCE`] (and says so). On a
/// loaded machine a stalled process can be suspected and removed after the test saw it ready;
/// it then rejoins and serves again, which is the behaviour under test, not a failure.
pub fn get(port: u16, key: &str) -> Option<String> {
    let deadline = Instant::now() + FINAL_READ_PATIENCE;
    let mut c = Client::connect(("127.0.0.1", port), Duration::from_secs(10))
        .expect("connect for the final read");
    loop {
        match c.call(&[b"GET", key.as_bytes()]).expect("final read") {
            Value::Bulk(v) => return v.map(|b| String::from_utf8_lossy(&b).into_owned()),
            Value::Error(e) if e.starts_with("UNAVAILABLE") && Instant::now() < deadline => {
                eprintln!("final GET {key} on port {port}: {e}; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            other => panic!("final GET {key} on port {port}: {other:?}"),
        }
    }
}
