//! Faults the real node must survive or stop cleanly on: a full disk map, peers with the wrong
//! secret, garbage on the peer port, unreachable peers.

use level2pc::codec::{FrameKind, HEADER_BYTES, MAGIC, PROTOCOL_VERSION};
use level2pc::NodeId;
use level2pc_adapters::internals::{
    encode_handshake, open_store, Dialer, HandshakeMsg, Identity, Params, Step,
};
use level2pc_adapters::{Error, NodeEvent, Secret, StoreOptions, WalOptions};
use level2pc_tests::{fast, wait_event, wait_until, TestCluster, READY_TIMEOUT};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn a_full_map_stops_the_node_without_losing_acknowledged_writes() {
    let mut c = TestCluster::bind(1, |_, cfg| {
        // Small log segments and checkpoints, so that a checkpoint reaches LMDB and fills it.
        cfg.storage = StoreOptions {
            map_size_bytes: 512 * 1024,
            wal: WalOptions {
                segment_bytes: 64 * 1024,
                checkpoint_bytes: 128 * 1024,
            },
        }
    });
    c.cluster.start(0).expect("start");
    assert!(c.cluster.wait_ready(READY_TIMEOUT));
    let node = c.node(0);
    let value = vec![b'v'; 32 * 1024];
    let mut acknowledged = Vec::new();
    let failure = (0..200)
        .find_map(|i| match node.put(format!("k{i}"), &value) {
            Ok(_) => {
                acknowledged.push(format!("k{i}"));
                None
            }
            Err(e) => Some(e),
        })
        .expect("a 512 KiB map fills up");
    assert!(
        matches!(failure, Error::Indeterminate | Error::Stopped(_)),
        "{failure:?}"
    );
    assert!(!acknowledged.is_empty());
    let event = wait_event(node.events(), READY_TIMEOUT, "storage error event", |e| {
        matches!(e, NodeEvent::Error { .. })
    });
    assert!(event.to_string().contains("map full"), "{event}");
    // Fail-stop: nothing further is acknowledged or served.
    assert!(matches!(node.put("more", "x"), Err(Error::Stopped(r)) if r.contains("map full")));
    assert!(matches!(node.get(&acknowledged[0]), Err(Error::Stopped(_))));
    let info = node.info().expect("info still answers");
    assert!(!info.ready && info.failure.is_some_and(|f| f.contains("map full")));
    c.cluster.stop(0).expect("stop");

    // Everything acknowledged is on disk (in LMDB or in the log); a larger map lets the node
    // continue.
    let identity = Identity {
        node: NodeId(0),
        cluster: "level2pc".into(),
    };
    let dir = c.cluster.dir(0).expect("dir").to_owned();
    let opened = open_store(&dir, &StoreOptions::default(), &identity)
        .unwrap_or_else(|e| panic!("reopen with a larger map: {e}"));
    for key in &acknowledged {
        let found = opened
            .recovered
            .entries
            .iter()
            .find(|(k, _)| **k == *key.as_bytes());
        assert_eq!(
            found.and_then(|(_, e)| e.value.as_deref()),
            Some(&value[..]),
            "{key} lost"
        );
    }
}

#[test]
fn peers_with_different_secrets_never_connect_and_report_why() {
    let mut c = TestCluster::bind(2, |i, cfg| {
        fast(cfg);
        cfg.cluster_secret = Secret::new(if i == 0 { b"alpha" } else { b"beta" });
    });
    c.cluster.start_all().expect("start");
    let event = wait_event(c.node(0).events(), READY_TIMEOUT, "handshake error", |e| {
        matches!(e, NodeEvent::Error { .. })
    });
    assert!(event.to_string().contains("secret"), "{event}");
    assert!(!c.node(0).info().expect("info").ready);
    assert!(!c.node(1).info().expect("info").ready);
}

#[test]
fn peers_with_the_same_secret_connect() {
    let mut c = TestCluster::bind(3, |_, cfg| {
        fast(cfg);
        cfg.cluster_secret = Secret::new(b"shared");
    });
    c.cluster.start_all().expect("start");
    assert!(c.cluster.wait_ready(READY_TIMEOUT));
    c.node(1).put("k", "v").expect("put");
    assert_eq!(c.node(2).get("k").expect("get"), Some(b"v".to_vec()));
}

/// Reads until the node closes the connection; `true` if it did within the timeout.
fn closed_by_node(stream: &mut TcpStream) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

#[test]
fn garbage_on_the_peer_port_is_refused_and_the_node_keeps_serving() {
    let c = TestCluster::ready(3);
    let mut stream = TcpStream::connect(c.node(0).peer_addr()).expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    assert!(
        closed_by_node(&mut stream),
        "the node closes a non-level2pc connection"
    );
    let event = wait_event(c.node(0).events(), READY_TIMEOUT, "error event", |e| {
        matches!(e, NodeEvent::Error { .. })
    });
    assert!(event.to_string().contains("bad frame magic"), "{event}");
    c.node(0).put("still", "serving").expect("put");
    assert_eq!(
        c.node(1).get("still").expect("get"),
        Some(b"serving".to_vec())
    );
}

#[test]
fn an_authenticated_peer_sending_an_oversized_frame_is_disconnected() {
    let c = TestCluster::ready(3);
    // Impersonate node 1 (no secret configured), finish the handshake, then misbehave.
    let params = Params {
        cluster: "level2pc".into(),
        me: NodeId(1),
        advertise: None,
        secret: None,
    };
    let mut stream = TcpStream::connect(c.node(0).peer_addr()).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let (mut dialer, hello) = Dialer::start(params, Some(NodeId(0)));
    let mut reply = send_handshake(&mut stream, &hello);
    while let Step::Send(msg) = dialer.on_msg(reply).expect("handshake accepted") {
        reply = send_handshake(&mut stream, &msg);
    }
    let mut header = Vec::from(&MAGIC[..]);
    header.extend_from_slice(&[PROTOCOL_VERSION, FrameKind::Messages as u8]);
    header.extend_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(header.len(), HEADER_BYTES);
    stream.write_all(&header).expect("write");
    assert!(
        closed_by_node(&mut stream),
        "the node drops a peer announcing an oversized frame"
    );
    let event = wait_event(c.node(0).events(), READY_TIMEOUT, "error event", |e| {
        matches!(e, NodeEvent::Error { .. })
    });
    assert!(event.to_string().contains("exceeds the limit"), "{event}");
    // The real node 1 reconnects (its newer inbound connection is unaffected) and writes flow.
    c.node(0).put("after", "attack").expect("put");
    assert_eq!(
        c.node(2).get("after").expect("get"),
        Some(b"attack".to_vec())
    );
}

fn send_handshake(stream: &mut TcpStream, msg: &HandshakeMsg) -> HandshakeMsg {
    let mut frame = Vec::new();
    encode_handshake(msg, &mut frame).expect("encode");
    stream.write_all(&frame).expect("write");
    let mut header = [0u8; HEADER_BYTES];
    stream.read_exact(&mut header).expect("read header");
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).expect("read body");
    level2pc::codec::decode_body(&body).expect("decode")
}

#[test]
fn an_unreachable_peer_gets_reconnects_then_fail_and_is_picked_up_when_it_starts() {
    let mut c = TestCluster::bind(2, |_, cfg| {
        fast(cfg);
        cfg.net.fail_after = 3;
        cfg.net.backoff_min_ms = 10;
        cfg.net.backoff_max_ms = 40;
    });
    c.cluster.release_listeners(1);
    c.cluster.start(0).expect("start node 0");
    let addr = c.cluster.config(1).expect("config").listen.clone();
    let reconnect = wait_event(c.node(0).events(), READY_TIMEOUT, "reconnect", |e| {
        matches!(e, NodeEvent::Reconnect { .. })
    });
    assert_eq!(
        reconnect,
        NodeEvent::Reconnect {
            peer: NodeId(1),
            addr: addr.clone(),
            attempt: 1
        }
    );
    let fail = wait_event(c.node(0).events(), READY_TIMEOUT, "fail", |e| {
        matches!(e, NodeEvent::Fail { .. })
    });
    assert_eq!(
        fail,
        NodeEvent::Fail {
            peer: NodeId(1),
            addr: addr.clone(),
            attempts: 3
        }
    );
    c.cluster.start(1).expect("start node 1");
    let connect = wait_event(c.node(0).events(), READY_TIMEOUT, "connect", |e| {
        matches!(e, NodeEvent::Connect { .. })
    });
    assert_eq!(
        connect,
        NodeEvent::Connect {
            peer: NodeId(1),
            addr
        }
    );
    wait_event(c.node(0).events(), READY_TIMEOUT, "ready", |e| {
        *e == NodeEvent::Ready
    });
    c.cluster.stop(1).expect("stop node 1");
    wait_event(c.node(0).events(), READY_TIMEOUT, "disconnect", |e| {
        matches!(e, NodeEvent::Disconnect { .. })
    });
    wait_event(c.node(0).events(), READY_TIMEOUT, "notready", |e| {
        *e == NodeEvent::NotReady
    });
    wait_until(READY_TIMEOUT, "node 0 not ready", || {
        c.node(0).info().is_ok_and(|i| !i.ready)
    });
}
