//! Read-modify-write commands over RESP on a real three-node cluster (loopback): `INCR` from
//! every node and three kinds of client (redis-py 8 with its RESP3 defaults, the bundled Rust
//! client in RESP2 and RESP3, redis-cli), `SET NX` locks, and the Redis replies of `DEL`,
//! `GETDEL`, `GETSET`, `SET ... GET`, `SETNX` and `CAS`, pipelined and not.
//!
//! Like `redis_clients.rs`, these tests fail, never skip, when a client is missing.

mod common;

use common::{check_increments, python, redis_cli, run, script, Increments};
use level2pc_adapters::client::{encode_command, Client, Value};
use level2pc_tests::TestCluster;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn addr(c: &TestCluster, i: usize) -> SocketAddr {
    c.node(i).client_addr().expect("client address")
}

fn client(addr: SocketAddr) -> Client {
    Client::connect(addr, Duration::from_secs(20)).expect("connect")
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Some(s.as_bytes().to_vec()))
}

fn nil() -> Value {
    Value::Bulk(None)
}

fn ok() -> Value {
    Value::Simple("OK".into())
}

fn int(n: i64) -> Value {
    Value::Integer(n)
}

fn err(text: &str) -> Value {
    Value::Error(text.into())
}

/// `count` times `INCR key` with the bundled client (after `HELLO 3` if `resp3`).
fn rust_increments(addr: SocketAddr, key: &str, count: usize, resp3: bool) -> Increments {
    let mut c = client(addr);
    if resp3 {
        assert!(matches!(c.call(&[b"HELLO", b"3"]), Ok(Value::Array(_))));
    }
    let mut incs = Increments::default();
    for _ in 0..count {
        match c.call(&[b"INCR", key.as_bytes()]) {
            Ok(Value::Integer(n)) => incs.values.push(n),
            Ok(Value::Error(e)) if e.starts_with("INDETERMINATE") => incs.indeterminate += 1,
            Ok(Value::Error(e)) if e.starts_with("UNAVAILABLE") => incs.unavailable += 1,
            Ok(other) => incs.wrong.push(format!("{other:?}")),
            Err(e) => panic!("the connection failed with no fault injected: {e}"),
        }
    }
    incs
}

fn counter(c: &TestCluster, i: usize, key: &str) -> i64 {
    match client(addr(c, i)).call(&[b"GET", key.as_bytes()]).unwrap() {
        Value::Bulk(Some(v)) => String::from_utf8(v).unwrap().parse().unwrap(),
        other => panic!("GET {key}: {other:?}"),
    }
}

/// Clients on all three nodes increment one counter at once: redis-py 8 (RESP3), the bundled
/// client in RESP2 and in RESP3, and `redis-cli -r`. Every successful `INCR` returns a distinct
/// value, each client sees its values grow, and the final value counts each applied increment
/// once.
#[test]
fn increments_from_every_node_and_client_count_each_one_once() {
    const EACH: usize = 200;
    let python = python();
    let c = TestCluster::ready(3);
    let key = "c";
    let mut threads = Vec::new();
    for i in 0..3 {
        let a = addr(&c, i);
        let python = python.clone();
        threads.push(std::thread::spawn(move || {
            let mut cmd = Command::new(python);
            cmd.arg(script("redis_py_rmw.py")).args([
                "incr".to_string(),
                "127.0.0.1".into(),
                a.port().to_string(),
                key.into(),
                EACH.to_string(),
            ]);
            Increments::from_redis_py(&run(cmd, "redis-py INCR"))
        }));
        threads.push(std::thread::spawn(move || {
            rust_increments(a, key, EACH, false)
        }));
        threads.push(std::thread::spawn(move || {
            rust_increments(a, key, EACH, true)
        }));
        threads.push(std::thread::spawn(move || {
            let out = redis_cli(a.port(), &["-r", &EACH.to_string(), "incr", key], "");
            Increments::from_redis_cli(&out)
        }));
    }
    let clients: Vec<Increments> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    let last = counter(&c, 0, key);
    for i in 1..3 {
        assert_eq!(counter(&c, i, key), last, "node {i} agrees");
    }
    let total = check_increments(&clients, last);
    assert_eq!(total.unavailable, 0, "no fault was injected");
    assert_eq!(
        total.values.len() + total.indeterminate as usize,
        12 * EACH,
        "every INCR was answered"
    );
    eprintln!(
        "{} INCRs from 12 clients: final {last}, {} indeterminate",
        12 * EACH,
        total.indeterminate
    );
}

/// Rounds of `SET lock:<round> <me> NX` from two clients on each node at once: exactly one `+OK`
/// per round, every other taker null, and the lock holds the winner's name everywhere.
#[test]
fn set_nx_gives_each_lock_to_exactly_one_taker() {
    const ROUNDS: usize = 20;
    const TAKERS: usize = 6;
    let c = TestCluster::ready(3);
    let barrier = Arc::new(Barrier::new(TAKERS));
    let takers: Vec<_> = (0..TAKERS)
        .map(|t| {
            let a = addr(&c, t % 3);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut conn = client(a);
                if t % 2 == 1 {
                    conn.call(&[b"HELLO", b"3"]).expect("HELLO 3");
                }
                let me = format!("taker-{t}");
                (0..ROUNDS)
                    .map(|round| {
                        let lock = format!("lock:{round}");
                        barrier.wait();
                        match conn.call(&[b"SET", lock.as_bytes(), me.as_bytes(), b"NX"]) {
                            Ok(Value::Simple(s)) if s == "OK" => true,
                            Ok(Value::Bulk(None)) => false,
                            other => panic!("SET {lock} {me} NX: {other:?}"),
                        }
                    })
                    .collect::<Vec<bool>>()
            })
        })
        .collect();
    let won: Vec<Vec<bool>> = takers
        .into_iter()
        .map(|t| t.join().expect("taker"))
        .collect();
    let mut readers: Vec<Client> = (0..3).map(|i| client(addr(&c, i))).collect();
    for round in 0..ROUNDS {
        let winners: Vec<usize> = (0..TAKERS)
            .filter(|&t| won.get(t).is_some_and(|w| w[round]))
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let lock = format!("lock:{round}");
        for r in &mut readers {
            assert_eq!(
                r.call(&[b"GET", lock.as_bytes()]).unwrap(),
                bulk(&format!("taker-{}", winners[0]))
            );
        }
    }
}

/// `DEL` answers how many keys existed; `GETDEL`, `GETSET`, `SET ... GET`, `SETNX`, `CAS` and
/// the counters answer as Redis does, read back on another node.
#[test]
fn del_counts_and_read_modify_write_replies() {
    let c = TestCluster::ready(3);
    let (mut a, mut b) = (client(addr(&c, 0)), client(addr(&c, 2)));
    let call = |conn: &mut Client, words: &[&str]| {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        conn.call(&args).unwrap()
    };
    assert_eq!(call(&mut a, &["DEL", "absent"]), int(0));
    assert_eq!(call(&mut a, &["MSET", "k1", "1", "k2", "2"]), ok());
    assert_eq!(call(&mut b, &["DEL", "k1", "absent", "k2"]), int(2));
    assert_eq!(call(&mut a, &["EXISTS", "k1", "k2"]), int(0));
    assert_eq!(call(&mut a, &["MSET", "k1", "1", "k2", "2"]), ok());
    assert_eq!(call(&mut b, &["UNLINK", "k1", "k1", "k1"]), int(1));
    assert_eq!(call(&mut a, &["DEL", "k2"]), int(1));
    assert_eq!(call(&mut a, &["DEL", "k2"]), int(0));
    // Many keys: more than the deletes kept in flight at once.
    let keys: Vec<String> = (0..150).map(|i| format!("many:{i:03}")).collect();
    let mut mset = vec!["MSET"];
    for k in keys.iter().step_by(3) {
        mset.extend([k.as_str(), "x"]);
    }
    assert_eq!(call(&mut a, &mset), ok());
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    assert_eq!(call(&mut b, &del), int(50));
    assert_eq!(call(&mut a, &["DBSIZE"]), int(0));

    assert_eq!(call(&mut a, &["GETDEL", "g"]), nil());
    assert_eq!(call(&mut a, &["SET", "g", "v1"]), ok());
    assert_eq!(call(&mut b, &["GETDEL", "g"]), bulk("v1"));
    assert_eq!(call(&mut a, &["GET", "g"]), nil());
    assert_eq!(call(&mut a, &["GETSET", "g", "v2"]), nil());
    assert_eq!(call(&mut b, &["GETSET", "g", "v3"]), bulk("v2"));
    assert_eq!(call(&mut a, &["SET", "g", "v4", "GET"]), bulk("v3"));
    assert_eq!(call(&mut a, &["SET", "h", "v", "get"]), nil());
    assert_eq!(call(&mut b, &["SET", "g", "v5", "NX", "GET"]), bulk("v4"));
    assert_eq!(
        call(&mut a, &["GET", "g"]),
        bulk("v4"),
        "NX GET of a present key"
    );
    assert_eq!(call(&mut b, &["SET", "i", "v", "GET", "NX"]), nil());
    assert_eq!(
        call(&mut a, &["GET", "i"]),
        bulk("v"),
        "NX GET of a missing key"
    );
    assert_eq!(call(&mut a, &["SET", "j", "v", "XX"]), nil());
    assert_eq!(call(&mut a, &["EXISTS", "j"]), int(0));
    assert_eq!(call(&mut b, &["SET", "g", "v6", "xx"]), ok());
    assert_eq!(call(&mut a, &["SET", "g", "v7", "nx"]), nil());
    assert_eq!(call(&mut a, &["SETNX", "g", "v8"]), int(0));
    assert_eq!(call(&mut a, &["SETNX", "l", "v"]), int(1));
    assert_eq!(call(&mut b, &["GET", "g"]), bulk("v6"));
    assert_eq!(
        call(&mut a, &["SET", "g", "v", "NX", "XX"]),
        err("ERR syntax error")
    );
    assert_eq!(
        call(&mut a, &["SET", "g", "v", "NX", "PX", "100"]),
        err("ERR syntax error (SET option 'PX' is not supported by level2pc: keys do not expire)")
    );

    assert_eq!(call(&mut a, &["CAS", "g", "v6", "w"]), int(1));
    assert_eq!(call(&mut b, &["CAS", "g", "v6", "x"]), int(0));
    assert_eq!(call(&mut b, &["GET", "g"]), bulk("w"));
    assert_eq!(call(&mut a, &["CAS", "nothing", "", "x"]), int(0));
    assert_eq!(call(&mut a, &["EXISTS", "nothing"]), int(0));
    assert_eq!(
        call(&mut a, &["CAS", "g", "w", "w"]),
        int(1),
        "CAS to the same value"
    );

    assert_eq!(call(&mut a, &["INCR", "n"]), int(1));
    assert_eq!(call(&mut b, &["INCRBY", "n", "41"]), int(42));
    assert_eq!(call(&mut a, &["DECR", "n"]), int(41));
    assert_eq!(call(&mut b, &["DECRBY", "n", "-1"]), int(42));
    assert_eq!(
        call(&mut a, &["DECRBY", "n", "-9223372036854775808"]),
        err("ERR decrement would overflow")
    );
    assert_eq!(
        call(&mut a, &["INCRBY", "n", "9223372036854775807"]),
        err("ERR increment or decrement would overflow")
    );
    assert_eq!(
        call(&mut a, &["INCRBY", "n", "1.5"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(
        call(&mut a, &["INCR", "g"]),
        err("ERR value is not an integer or out of range")
    );
    assert_eq!(call(&mut b, &["GET", "n"]), bulk("42"));

    // Inside MULTI: DEL is part of the batch and its count null; a read-modify-write aborts.
    assert_eq!(call(&mut a, &["MULTI"]), ok());
    assert_eq!(
        call(&mut a, &["DEL", "n", "absent"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        call(&mut a, &["SET", "m", "1"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        call(&mut a, &["EXEC"]),
        Value::Array(Some(vec![nil(), ok()]))
    );
    assert_eq!(
        call(&mut b, &["MGET", "n", "m"]),
        Value::Array(Some(vec![nil(), bulk("1")]))
    );
    assert_eq!(call(&mut a, &["MULTI"]), ok());
    assert!(matches!(
        call(&mut a, &["INCR", "m"]),
        Value::Error(e) if e.starts_with("ERR 'incr' cannot be queued inside MULTI")
    ));
    assert!(matches!(call(&mut a, &["EXEC"]), Value::Error(e) if e.starts_with("EXECABORT")));
    assert_eq!(call(&mut b, &["GET", "m"]), bulk("1"));
}

/// Sends raw bytes and reads until the server closes (the bytes should end with QUIT).
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set a timeout");
    s.write_all(bytes).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Pipelined on one connection, read-modify-writes take effect in the order sent, among the
/// connection's reads and writes, and answer in RESP2 and RESP3.
#[test]
fn pipelined_read_modify_writes_keep_program_order_in_both_protocols() {
    let c = TestCluster::ready(3);
    for (hello, null) in [("2", "$-1"), ("3", "_")] {
        let mut wire = encode_command(&[b"HELLO", hello.as_bytes()]);
        let script: &[&[&str]] = &[
            &["SET", "p", "10"],
            &["INCR", "p"],
            &["INCRBY", "p", "5"],
            &["GET", "p"],
            &["SET", "p", "20"],
            &["DECR", "p"],
            &["SET", "q", "a", "NX"],
            &["SET", "q", "b", "NX"],
            &["SET", "q", "c", "GET"],
            &["DEL", "p", "q", "r"],
            &["INCR", "p"],
            &["MSET", "r", "1", "s", "2"],
            &["DEL", "r", "s"],
            &["GETDEL", "p"],
            &["EXISTS", "p", "q", "r", "s"],
            &["CAS", "p", "x", "y"],
            &["SETNX", "p", "x"],
            &["CAS", "p", "x", "y"],
            &["GETSET", "p", "z"],
            &["DEL", "p"],
        ];
        for words in script {
            let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
            wire.extend(encode_command(&args));
        }
        wire.extend(encode_command(&[b"QUIT"]));
        let said = raw_exchange(addr(&c, usize::from(hello == "3")), &wire);
        let (_, after_hello) = said
            .split_once("$7\r\nmodules\r\n*0\r\n")
            .unwrap_or_else(|| panic!("HELLO's reply: {said:?}"));
        let expected = [
            "+OK\r\n",
            ":11\r\n",
            ":16\r\n",
            "$2\r\n16\r\n",
            "+OK\r\n",
            ":19\r\n",
            "+OK\r\n",
            &format!("{null}\r\n"),
            "$1\r\na\r\n",
            ":2\r\n",
            ":1\r\n",
            "+OK\r\n",
            ":2\r\n",
            "$1\r\n1\r\n",
            ":0\r\n",
            ":0\r\n",
            ":1\r\n",
            ":1\r\n",
            "$1\r\ny\r\n",
            ":1\r\n",
            "+OK\r\n",
        ]
        .concat();
        assert_eq!(after_hello, expected, "RESP{hello}");
    }
}

/// redis-py 8 with its defaults (RESP3): `incr`, `decr`, `incrby`, `set(nx=True)`,
/// `set(get=True)`, `getset`, `getdel`, `delete` counts, `CAS` and the errors.
#[test]
fn redis_py_8_read_modify_writes() {
    let python = python();
    let c = TestCluster::ready(3);
    let mut cmd = Command::new(python);
    cmd.arg(script("redis_py_rmw.py")).args([
        "commands".to_string(),
        "127.0.0.1".into(),
        addr(&c, 0).port().to_string(),
        addr(&c, 1).port().to_string(),
        "py".into(),
    ]);
    let out = run(cmd, "redis-py read-modify-writes");
    for group in [
        "incr/decr ok",
        "set nx/xx/get and setnx ok",
        "getset/getdel ok",
        "del/unlink ok",
        "cas ok",
        "watch ok",
        "rmw commands ok",
    ] {
        assert!(out.contains(group), "{out}");
    }
}
