//! Real Redis clients against real nodes: redis-py 8 with its defaults (RESP3: it connects with
//! `HELLO 3`) and with `protocol=2`, driven by `tests/python/redis_py_client.py`, and redis-cli 7
//! (`-3`, `--no-raw`, its interactive start-up that reads `COMMAND DOCS`, and its argument hints
//! in a terminal), plus the RESP3 encodings on the wire.
//!
//! These tests fail, never skip, when a client is missing: `scripts/test.sh` installs
//! `redis-cli` (Debian package redis-tools) and creates the Python virtual environment with
//! redis-py in `<target dir>/pyvenv` (`LEVEL2PC_PYTHON` may name another interpreter that has
//! redis-py 8).

mod common;

use common::{python, redis_cli, run, script};
use level2pc_adapters::client::{encode_command, Client, Value};
use level2pc_tests::{fast, TestCluster, READY_TIMEOUT};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

fn addr(c: &TestCluster, i: usize) -> SocketAddr {
    c.node(i).client_addr().expect("client address")
}

#[test]
fn redis_py_8_with_resp3_defaults_and_with_resp2() {
    let python = python();
    let c = TestCluster::ready(3);
    let (p0, p1) = (addr(&c, 0).port(), addr(&c, 1).port());
    for (protocol, prefix) in [("default", "py3"), ("2", "py2")] {
        let mut cmd = Command::new(&python);
        cmd.arg(script("redis_py_client.py"))
            .args(["redis-py", protocol, "127.0.0.1"])
            .args([p0.to_string(), p1.to_string(), prefix.to_string()]);
        let out = run(cmd, &format!("redis-py (protocol {protocol})"));
        for group in [
            "handshake ok",
            "hello ok",
            "dbsize/keys/scan_iter ok",
            "unsupported commands ok",
        ] {
            assert!(out.contains(group), "{out}");
        }
        if protocol == "default" {
            assert!(
                out.contains("handshake ok (protocol 3)"),
                "redis-py 8 speaks RESP3 by default: {out}"
            );
        }
    }
}

#[test]
fn redis_cli_7_resp3_start_up_and_hints() {
    let c = TestCluster::ready(3);
    let port = |i: usize| addr(&c, i).port();
    assert_eq!(redis_cli(port(0), &["-3", "ping"], ""), "PONG\n");
    assert_eq!(redis_cli(port(0), &["-3", "set", "k", "v"], ""), "OK\n");
    assert_eq!(redis_cli(port(1), &["-3", "get", "k"], ""), "v\n");
    // RESP3 null and map, as redis-cli prints them for a person.
    assert_eq!(
        redis_cli(port(1), &["-3", "--no-raw", "get", "nope"], ""),
        "(nil)\n"
    );
    let hello = redis_cli(port(2), &["-3", "--no-raw", "hello"], "");
    assert!(
        hello.contains("1# \"server\" => \"level2pc\"")
            && hello.contains("3# \"proto\" => (integer) 3"),
        "{hello}"
    );
    assert_eq!(
        redis_cli(
            port(0),
            &["--no-raw", "mset", "s:1", "a", "s:2", "bb", "t:1", "c"],
            ""
        ),
        "OK\n"
    );
    assert_eq!(
        redis_cli(port(2), &["--no-raw", "dbsize"], ""),
        "(integer) 4\n"
    );
    assert_eq!(
        redis_cli(port(2), &["--no-raw", "keys", "s:*"], ""),
        "1) \"s:1\"\n2) \"s:2\"\n"
    );
    assert_eq!(
        redis_cli(port(1), &["--no-raw", "type", "s:2"], ""),
        "string\n"
    );
    assert_eq!(
        redis_cli(port(1), &["--no-raw", "strlen", "s:2"], ""),
        "(integer) 2\n"
    );
    let mut scanned: Vec<String> = redis_cli(port(1), &["--scan", "--pattern", "s:*"], "")
        .lines()
        .map(str::to_string)
        .collect();
    scanned.sort();
    assert_eq!(scanned, ["s:1", "s:2"]);
    assert_eq!(
        redis_cli(port(0), &["--no-raw", "expire", "k", "5"], ""),
        "(error) ERR unknown command 'expire' (not supported by level2pc: keys do not expire)\n"
    );
    // Without a command redis-cli starts its interactive mode: it reads COMMAND DOCS for its
    // help, then the commands from its input.
    let session = redis_cli(
        port(0),
        &[],
        "ping\nhelp set\nclient setname cli\nclient getname\nselect 0\necho hi\n",
    );
    assert!(
        session.contains("PONG")
            && session.contains("Sets the string value of a key")
            && session.contains("cli\n")
            && session.contains("OK\nhi"),
        "{session}"
    );
    // In a terminal it shows argument hints from COMMAND DOCS while a command is typed.
    let mut cmd = Command::new(python());
    cmd.arg(script("redis_py_client.py")).args([
        "redis-cli-hints",
        "127.0.0.1",
        &port(0).to_string(),
    ]);
    assert!(run(cmd, "redis-cli in a terminal").contains("redis-cli hints ok"));
}

/// Sends raw bytes and reads until the server closes (the bytes should end with QUIT).
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set a timeout");
    s.write_all(bytes).expect("send");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// `said` with every `HELLO` id replaced by `N` (ids depend on earlier connections).
fn mask_ids(said: &str) -> String {
    let marker = "$2\r\nid\r\n:";
    let mut out = String::new();
    let mut rest = said;
    while let Some(at) = rest.find(marker) {
        let (head, tail) = rest.split_at(at + marker.len());
        out.push_str(head);
        out.push('N');
        rest = tail.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

#[test]
fn resp3_encodings_on_the_wire() {
    let c = TestCluster::ready(1);
    let said = raw_exchange(
        addr(&c, 0),
        b"SET k v\r\nHELLO 3 SETNAME wire\r\nGET nope\r\nMGET k nope\r\nCLIENT GETNAME\r\nCOMMAND INFO nope\r\nHELLO 2\r\nGET nope\r\nQUIT\r\n",
    );
    let version = "7.2.0"; // the Redis version level2pc speaks (REDIS_COMPAT_VERSION)
    let fields = |proto: u8| {
        format!(
            "$6\r\nserver\r\n$8\r\nlevel2pc\r\n$7\r\nversion\r\n${}\r\n{version}\r\n$5\r\nproto\r\n:{proto}\r\n$2\r\nid\r\n:N\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
            version.len()
        )
    };
    let expected = [
        "+OK\r\n".to_string(),
        format!("%7\r\n{}", fields(3)),
        "_\r\n".into(),
        "*2\r\n$1\r\nv\r\n_\r\n".into(),
        "$4\r\nwire\r\n".into(),
        "*1\r\n_\r\n".into(),
        format!("*14\r\n{}", fields(2)),
        "$-1\r\n".into(),
        "+OK\r\n".into(),
    ]
    .concat();
    assert_eq!(mask_ids(&said), expected);
}

fn strings(v: Value) -> Vec<String> {
    let Value::Array(Some(items)) = v else {
        panic!("not an array: {v:?}")
    };
    items
        .into_iter()
        .map(|i| match i {
            Value::Bulk(Some(b)) => String::from_utf8(b).expect("UTF-8"),
            other => panic!("not a bulk string: {other:?}"),
        })
        .collect()
}

#[test]
fn iterations_survive_a_tiny_engine_range_cap_and_keep_program_order() {
    // The engine answers at most 7 entries per range read, fewer than the chunks ask for:
    // DBSIZE, KEYS and SCAN must still see every key (they stop only at an empty chunk).
    let mut c = TestCluster::bind(2, |_, cfg| {
        fast(cfg);
        cfg.engine.max_range_entries = 7;
    });
    c.cluster.start_all().expect("start");
    assert!(c.cluster.wait_ready(READY_TIMEOUT));
    let mut a = Client::connect(addr(&c, 0), Duration::from_secs(10)).expect("connect");
    let mut b = Client::connect(addr(&c, 1), Duration::from_secs(10)).expect("connect");
    let keys: Vec<String> = (0..100).map(|i| format!("k{i:03}")).collect();
    let mut mset: Vec<&[u8]> = vec![b"MSET"];
    for k in &keys {
        mset.push(k.as_bytes());
        mset.push(b"v");
    }
    assert_eq!(a.call(&mset).unwrap(), Value::Simple("OK".into()));
    assert_eq!(b.call(&[b"DBSIZE"]).unwrap(), Value::Integer(100));
    assert_eq!(strings(b.call(&[b"KEYS", b"*"]).unwrap()), keys);
    assert_eq!(
        strings(b.call(&[b"KEYS", b"k0[1-2]?"]).unwrap()),
        keys[10..30].to_vec()
    );
    let mut cursor = b"0".to_vec();
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let Value::Array(Some(mut parts)) = b.call(&[b"SCAN", &cursor, b"COUNT", b"30"]).unwrap()
        else {
            panic!("SCAN reply")
        };
        seen.extend(strings(parts.pop().expect("keys")));
        let Some(Value::Bulk(Some(next))) = parts.pop() else {
            panic!("SCAN cursor")
        };
        cursor = next;
        if cursor == b"0" {
            break;
        }
    }
    assert_eq!(seen, keys, "every key once, in order");
    // Pipelined on one connection, an iteration sees the writes sent before it and not those
    // sent after it.
    let mut wire = Vec::new();
    for cmd in [
        &[&b"SET"[..], b"new", b"1"][..],
        &[b"DBSIZE"],
        &[b"DEL", b"new", b"k000"],
        &[b"DBSIZE"],
        &[b"KEYS", b"new"],
    ] {
        wire.extend(encode_command(cmd));
    }
    wire.extend(encode_command(&[b"QUIT"]));
    let said = raw_exchange(addr(&c, 0), &wire);
    assert_eq!(said, "+OK\r\n:101\r\n:2\r\n:99\r\n*0\r\n+OK\r\n");
}
