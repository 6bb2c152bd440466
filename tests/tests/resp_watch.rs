//! `WATCH` / `MULTI` / `EXEC` on a real three-node cluster (loopback): an `EXEC` answers a null
//! array, and writes nothing, when a watched key changed on any node since `WATCH` (even to the
//! same value); it applies when nothing changed, pipelined or not; transactions under `WATCH`
//! it cannot run as one conditional write are refused. Then redis-py 8's optimistic
//! transactions (`r.transaction`) increment one counter from every node and count each
//! increment once.
//!
//! Like `redis_clients.rs`, these tests fail, never skip, when a client is missing.

mod common;

use common::{check_increments, python, run, script, Increments};
use level2pc_adapters::client::{encode_command, Client, Value};
use level2pc_tests::TestCluster;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

fn addr(c: &TestCluster, i: usize) -> SocketAddr {
    c.node(i).client_addr().expect("client address")
}

fn client(addr: SocketAddr) -> Client {
    Client::connect(addr, Duration::from_secs(20)).expect("connect")
}

fn call(c: &mut Client, words: &[&str]) -> Value {
    let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
    c.call(&args).unwrap_or_else(|e| panic!("{words:?}: {e}"))
}

fn ok() -> Value {
    Value::Simple("OK".into())
}

fn queued() -> Value {
    Value::Simple("QUEUED".into())
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Some(s.as_bytes().to_vec()))
}

/// `WATCH key`, `MULTI`, the `writes`, `EXEC`: the `EXEC` reply.
fn transaction(c: &mut Client, key: &str, writes: &[&[&str]]) -> Value {
    assert_eq!(call(c, &["WATCH", key]), ok());
    assert_eq!(call(c, &["MULTI"]), ok());
    for w in writes {
        assert_eq!(call(c, w), queued(), "{w:?}");
    }
    call(c, &["EXEC"])
}

#[test]
fn exec_fails_when_a_watched_key_changed_on_any_node_and_applies_otherwise() {
    let cluster = TestCluster::ready(3);
    let mut a = client(addr(&cluster, 0));
    let mut b = client(addr(&cluster, 1));
    assert_eq!(call(&mut a, &["SET", "k", "1"]), ok());

    // Changed on another node between WATCH and EXEC: nothing written.
    assert_eq!(call(&mut a, &["WATCH", "k"]), ok());
    assert_eq!(call(&mut b, &["SET", "k", "2"]), ok());
    assert_eq!(call(&mut a, &["MULTI"]), ok());
    assert_eq!(call(&mut a, &["SET", "k", "3"]), queued());
    assert_eq!(call(&mut a, &["EXEC"]), Value::Array(None));
    assert_eq!(call(&mut b, &["GET", "k"]), bulk("2"));

    // Rewritten with the same value: still a change, as in Redis.
    assert_eq!(call(&mut a, &["WATCH", "k"]), ok());
    assert_eq!(call(&mut b, &["SET", "k", "2"]), ok());
    assert_eq!(
        transaction(&mut a, "k", &[&["SET", "k", "3"]]),
        Value::Array(None)
    );

    // Unchanged: applied; a DEL in it counts whether the key existed at that point.
    assert_eq!(
        transaction(
            &mut a,
            "k",
            &[
                &["DEL", "k"],
                &["SET", "k", "4"],
                &["DEL", "k", "k"],
                &["SET", "k", "5"]
            ]
        ),
        Value::Array(Some(vec![Value::Integer(1), ok(), Value::Integer(1), ok()]))
    );
    let mut c = client(addr(&cluster, 2));
    assert_eq!(call(&mut c, &["GET", "k"]), bulk("5"));

    // A key never written can be watched, and a change to it is seen.
    assert_eq!(call(&mut a, &["WATCH", "fresh"]), ok());
    assert_eq!(call(&mut c, &["DEL", "fresh"]), Value::Integer(0));
    assert_eq!(
        transaction(&mut a, "fresh", &[&["SET", "fresh", "x"]]),
        Value::Array(Some(vec![ok()])),
        "a DEL of an absent key writes nothing, so changes nothing"
    );
    assert_eq!(call(&mut a, &["WATCH", "fresh2"]), ok());
    assert_eq!(call(&mut c, &["SET", "fresh2", "y"]), ok());
    assert_eq!(call(&mut c, &["DEL", "fresh2"]), Value::Integer(1));
    assert_eq!(
        transaction(&mut a, "fresh2", &[&["SET", "fresh2", "x"]]),
        Value::Array(None),
        "created and deleted again: changed"
    );

    // Several keys watched, nothing queued: one consistent check.
    assert_eq!(call(&mut a, &["WATCH", "k", "fresh"]), ok());
    assert_eq!(call(&mut a, &["MULTI"]), ok());
    assert_eq!(call(&mut a, &["EXEC"]), Value::Array(Some(Vec::new())));
    assert_eq!(call(&mut a, &["WATCH", "k", "fresh"]), ok());
    assert_eq!(call(&mut b, &["SET", "fresh", "z"]), ok());
    assert_eq!(call(&mut a, &["MULTI"]), ok());
    assert_eq!(call(&mut a, &["EXEC"]), Value::Array(None));

    // UNWATCH: the transaction runs as a plain batch.
    assert_eq!(call(&mut a, &["WATCH", "k"]), ok());
    assert_eq!(call(&mut b, &["SET", "k", "6"]), ok());
    assert_eq!(call(&mut a, &["UNWATCH"]), ok());
    assert_eq!(call(&mut a, &["MULTI"]), ok());
    assert_eq!(call(&mut a, &["SET", "k", "7"]), queued());
    assert_eq!(call(&mut a, &["EXEC"]), Value::Array(Some(vec![ok()])));
    assert_eq!(call(&mut b, &["GET", "k"]), bulk("7"));
}

#[test]
fn transactions_under_watch_that_are_not_one_conditional_write_are_refused() {
    let cluster = TestCluster::ready(3);
    let mut a = client(addr(&cluster, 0));
    assert_eq!(call(&mut a, &["WATCH", "k"]), ok());
    assert_eq!(call(&mut a, &["MULTI"]), ok());
    assert_eq!(
        call(&mut a, &["WATCH", "j"]),
        Value::Error("ERR WATCH inside MULTI is not allowed".into())
    );
    assert_eq!(call(&mut a, &["SET", "k", "1"]), queued());
    let Value::Error(e) = call(&mut a, &["SET", "other", "1"]) else {
        panic!("a write to another key is refused");
    };
    assert!(
        e.starts_with("ERR a transaction under WATCH can only write the one key it watches"),
        "{e}"
    );
    let Value::Error(e) = call(&mut a, &["EXEC"]) else {
        panic!("EXEC after a refused command");
    };
    assert!(e.starts_with("EXECABORT"), "{e}");
    assert_eq!(
        call(&mut a, &["GET", "k"]),
        Value::Bulk(None),
        "nothing written"
    );
}

/// redis-py pipelines `MULTI`, the queued commands and `EXEC` in one write; the bundled
/// client here sends `WATCH` too in the same write, so the node must know the versions before
/// it plans the `EXEC` that follows in its buffer.
#[test]
fn a_fully_pipelined_watch_transaction_is_planned_with_its_versions() {
    let cluster = TestCluster::ready(3);
    let target = addr(&cluster, 0);
    let mut b = client(addr(&cluster, 1));
    assert_eq!(call(&mut b, &["SET", "p", "0"]), ok());
    let mut stream = TcpStream::connect(target).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut request = Vec::new();
    for words in [
        &["WATCH", "p"][..],
        &["MULTI"],
        &["SET", "p", "1"],
        &["EXEC"],
        &["GET", "p"],
    ] {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        request.extend(encode_command(&args));
    }
    stream.write_all(&request).expect("send");
    let want = b"+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n$1\r\n1\r\n";
    let mut got = vec![0u8; want.len()];
    stream.read_exact(&mut got).expect("replies");
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

/// Optimistic increments with redis-py 8's `r.transaction` from all three nodes: each
/// committed transaction returns a distinct value, and the final value counts each once.
/// Contention makes some `EXEC`s fail (the key changed), which redis-py retries.
#[test]
fn redis_py_optimistic_increments_from_every_node_count_each_once() {
    const EACH: usize = 60;
    let python = python();
    let cluster = TestCluster::ready(3);
    let key = "optimistic";
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let a = addr(&cluster, i % 3);
            let python = python.clone();
            std::thread::spawn(move || {
                let mut cmd = Command::new(python);
                cmd.arg(script("redis_py_rmw.py")).args([
                    "watch-incr".to_string(),
                    "127.0.0.1".into(),
                    a.port().to_string(),
                    key.into(),
                    EACH.to_string(),
                ]);
                let out = run(cmd, "redis-py optimistic increments");
                let retries: u64 = serde_json::from_str::<serde_json::Value>(out.trim())
                    .ok()
                    .and_then(|v| v["retries"].as_u64())
                    .unwrap_or_else(|| panic!("no retries in {out}"));
                (Increments::from_redis_py(&out), retries)
            })
        })
        .collect();
    let results: Vec<(Increments, u64)> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    let clients: Vec<Increments> = results.iter().map(|(i, _)| i.clone()).collect();
    let retries: u64 = results.iter().map(|(_, r)| r).sum();
    let mut c = client(addr(&cluster, 0));
    let Value::Bulk(Some(last)) = call(&mut c, &["GET", key]) else {
        panic!("the counter is missing");
    };
    let last: i64 = String::from_utf8(last).unwrap().parse().unwrap();
    let total = check_increments(&clients, last);
    assert_eq!(
        total.values.len() as u64 + total.indeterminate + total.unavailable + total.lost,
        6 * EACH as u64,
        "every transaction answered"
    );
    assert!(
        retries > 0,
        "six clients on one key never conflicted: the test proves nothing"
    );
    println!(
        "optimistic increments: {} committed, {} indeterminate, {retries} EXECs refused because the key changed",
        total.values.len(),
        total.indeterminate
    );
}
