//! The RESP front end over real sockets: commands, pipelining, transactions, errors and limits.

use level2pc_adapters::client::{encode_command, parse_reply, Client, Value};
use level2pc_tests::{fast, TestCluster, READY_TIMEOUT};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

fn client(addr: SocketAddr) -> Client {
    Client::connect(addr, Duration::from_secs(10)).expect("connect")
}

fn bulk(s: &str) -> Value {
    Value::Bulk(Some(s.as_bytes().to_vec()))
}

fn ok() -> Value {
    Value::Simple("OK".into())
}

fn addr(c: &TestCluster, i: usize) -> SocketAddr {
    c.node(i).client_addr().expect("client address")
}

#[test]
fn every_command_works_across_nodes() {
    let c = TestCluster::ready(3);
    let (mut a, mut b) = (client(addr(&c, 0)), client(addr(&c, 2)));
    assert_eq!(a.call(&[b"PING"]).unwrap(), Value::Simple("PONG".into()));
    assert_eq!(a.call(&[b"SET", b"x", b"100"]).unwrap(), ok());
    assert_eq!(b.call(&[b"GET", b"x"]).unwrap(), bulk("100"));
    assert_eq!(b.call(&[b"GET", b"nope"]).unwrap(), Value::Bulk(None));
    assert_eq!(
        a.call(&[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3"])
            .unwrap(),
        ok()
    );
    assert_eq!(
        b.call(&[b"MGET", b"a", b"zz", b"c"]).unwrap(),
        Value::Array(Some(vec![bulk("1"), Value::Bulk(None), bulk("3")]))
    );
    assert_eq!(
        b.call(&[b"EXISTS", b"a", b"b", b"zz"]).unwrap(),
        Value::Integer(2)
    );
    let range = b.call(&[b"RANGE", b"a", b"c"]).unwrap();
    assert_eq!(
        range,
        Value::Array(Some(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]))
    );
    assert_eq!(
        b.call(&[b"RANGE", b"a", b"z", b"LIMIT", b"1"]).unwrap(),
        Value::Array(Some(vec![bulk("a"), bulk("1")]))
    );
    assert_eq!(a.call(&[b"DEL", b"a", b"b"]).unwrap(), Value::Integer(2));
    assert_eq!(
        b.call(&[b"EXISTS", b"a", b"b", b"c"]).unwrap(),
        Value::Integer(1)
    );
    let Value::Bulk(Some(info)) = b.call(&[b"INFO"]).unwrap() else {
        panic!("INFO is a bulk string")
    };
    let info = String::from_utf8(info).unwrap();
    assert!(
        info.contains("node_id:2") && info.contains("ready:1") && info.contains("peer_0:"),
        "{info}"
    );
    assert_eq!(a.call(&[b"QUIT"]).unwrap(), ok());
    assert!(a.call(&[b"PING"]).is_err(), "QUIT closes the connection");
}

#[test]
fn multi_exec_is_one_atomic_batch() {
    let c = TestCluster::ready(3);
    let (mut a, mut b) = (client(addr(&c, 1)), client(addr(&c, 0)));
    b.call(&[b"SET", b"t2", b"old"]).unwrap();
    assert_eq!(a.call(&[b"MULTI"]).unwrap(), ok());
    assert_eq!(
        a.call(&[b"SET", b"t1", b"new"]).unwrap(),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        a.call(&[b"DEL", b"t2"]).unwrap(),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        b.call(&[b"GET", b"t1"]).unwrap(),
        Value::Bulk(None),
        "nothing applied before EXEC"
    );
    // A DEL inside MULTI is part of the blind batch: its count is unknown, answered null.
    assert_eq!(
        a.call(&[b"EXEC"]).unwrap(),
        Value::Array(Some(vec![ok(), Value::Bulk(None)]))
    );
    assert_eq!(
        b.call(&[b"MGET", b"t1", b"t2"]).unwrap(),
        Value::Array(Some(vec![bulk("new"), Value::Bulk(None)]))
    );
    a.call(&[b"MULTI"]).unwrap();
    assert!(
        matches!(a.call(&[b"GET", b"t1"]).unwrap(), Value::Error(e) if e.contains("only SET and DEL"))
    );
    assert!(matches!(a.call(&[b"EXEC"]).unwrap(), Value::Error(e) if e.starts_with("EXECABORT")));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let c = TestCluster::ready(3);
    let mut a = client(addr(&c, 0));
    let mut wire = Vec::new();
    for i in 0..200 {
        let (k, v) = (format!("p{}", i % 7), format!("{i}"));
        wire.extend(encode_command(&[b"SET", k.as_bytes(), v.as_bytes()]));
        wire.extend(encode_command(&[b"GET", k.as_bytes()]));
    }
    let mut raw = TcpStream::connect(addr(&c, 0)).unwrap();
    raw.write_all(&wire).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = Vec::new();
    let mut replies = Vec::new();
    while replies.len() < 400 {
        let mut chunk = [0u8; 65536];
        let n = raw.read(&mut chunk).expect("read replies");
        assert!(n > 0, "connection closed after {} replies", replies.len());
        buf.extend_from_slice(&chunk[..n]);
        while let Some((v, used)) = parse_reply(&buf).unwrap() {
            buf.drain(..used);
            replies.push(v);
        }
    }
    for (i, pair) in replies.chunks(2).enumerate() {
        assert_eq!(pair[0], ok(), "reply {i}");
        assert_eq!(
            pair[1],
            bulk(&i.to_string()),
            "a GET pipelined after its SET sees it (reply {i})"
        );
    }
    assert_eq!(a.call(&[b"GET", b"p0"]).unwrap(), bulk("196"));
}

#[test]
fn errors_are_replies_and_the_connection_survives_them() {
    let c = TestCluster::ready(1);
    let mut a = client(addr(&c, 0));
    assert!(
        matches!(a.call(&[b"FLUSHALL"]).unwrap(), Value::Error(e) if e.starts_with("ERR unknown command"))
    );
    assert!(
        matches!(a.call(&[b"GET"]).unwrap(), Value::Error(e) if e.contains("wrong number of arguments"))
    );
    assert!(
        matches!(a.call(&[b"SET", b"k", b"v", b"EX", b"1"]).unwrap(), Value::Error(e) if e.contains("syntax"))
    );
    assert!(
        matches!(a.call(&[b"RANGE", b"z", b"a"]).unwrap(), Value::Error(e) if e.starts_with("UNAVAILABLE bad request"))
    );
    let long_key = vec![b'k'; 600];
    assert!(
        matches!(a.call(&[b"SET", &long_key, b"v"]).unwrap(), Value::Error(e) if e.starts_with("UNAVAILABLE request too large"))
    );
    assert_eq!(a.call(&[b"PING"]).unwrap(), Value::Simple("PONG".into()));
}

/// Sends raw bytes and reads until the server closes; returns everything it said.
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn malformed_and_oversized_requests_get_an_error_then_a_close() {
    let mut c = TestCluster::bind(1, |_, cfg| {
        fast(cfg);
        cfg.resp.max_request_bytes = 1024;
        cfg.resp.max_clients = 2;
    });
    c.cluster.start_all().unwrap();
    assert!(c.cluster.wait_ready(READY_TIMEOUT));
    let a = addr(&c, 0);
    assert_eq!(
        raw_exchange(a, b"PING\r\n*1\r\n#bad\r\nPING\r\n"),
        "+PONG\r\n-ERR Protocol error: expected '$' before a bulk string\r\n"
    );
    let mut big = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n".to_vec();
    big.extend(vec![b'v'; 2002]);
    assert_eq!(
        raw_exchange(a, &big),
        "-ERR Protocol error: request too large\r\n"
    );
    // An inline line longer than the limit is refused, not waited for forever.
    assert_eq!(
        raw_exchange(a, &[b'x'; 3000]),
        "-ERR Protocol error: request too large\r\n"
    );
    assert_eq!(
        raw_exchange(a, b"SET k v\r\nGET k\r\nQUIT\r\n"),
        "+OK\r\n$1\r\nv\r\n+OK\r\n"
    );
    // Two clients allowed: a third is told why and closed.
    let (mut x, mut y) = (client(a), client(a));
    assert_eq!(x.call(&[b"PING"]).unwrap(), Value::Simple("PONG".into()));
    assert_eq!(y.call(&[b"PING"]).unwrap(), Value::Simple("PONG".into()));
    assert_eq!(
        raw_exchange(a, b"PING\r\n"),
        "-ERR max number of clients reached\r\n"
    );
    drop(x);
    level2pc_tests::wait_until(READY_TIMEOUT, "a client slot to free", || {
        raw_exchange(a, b"PING\r\nQUIT\r\n") == "+PONG\r\n+OK\r\n"
    });
}

#[test]
fn writes_while_not_ready_are_unavailable_over_resp() {
    let mut c = TestCluster::bind(2, |_, cfg| {
        fast(cfg);
        cfg.resp.op_timeout = Duration::from_millis(300);
    });
    c.cluster.release_listeners(1);
    c.cluster.start(0).unwrap();
    let mut a = client(addr(&c, 0));
    // Alone, the node has no lease from a majority: it neither writes nor reads, and says why.
    let no_lease =
        Value::Error("UNAVAILABLE no lease: cannot reach a majority of the cluster".into());
    assert_eq!(a.call(&[b"SET", b"k", b"v"]).unwrap(), no_lease);
    assert_eq!(a.call(&[b"GET", b"k"]).unwrap(), no_lease);
}
