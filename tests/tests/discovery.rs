//! Discovery through the embedding API: a node configured with one seed address joins, moves to
//! another address and is found there, and restarts from its saved directory when no seed
//! answers.

use level2pc::NodeId;
use level2pc_adapters::{Config, NodeEvent, Replicator};
use level2pc_tests::{fast, wait_event, wait_until, TestCluster, READY_TIMEOUT};
use std::path::Path;
use std::time::Duration;

/// Node 3, listening on a fresh loopback port, knowing only `seed`.
fn open_joiner(dir: &Path, seed: String, discovery_timeout: Duration) -> Replicator {
    let mut cfg = Config::new(NodeId(3), "127.0.0.1:0", Vec::new());
    fast(&mut cfg);
    cfg.seeds = vec![seed];
    cfg.discovery_timeout = discovery_timeout;
    Replicator::open(dir, cfg).expect("open the joining node")
}

fn serves(node: &Replicator, key: &str) -> bool {
    node.with_timeout(Duration::from_millis(300))
        .get(key)
        .is_ok()
}

/// The address node `of` dials to reach node 3.
fn link_to_3(c: &TestCluster, of: usize) -> Option<String> {
    let info = c.node(of).info().ok()?;
    let link = info.links.into_iter().find(|l| l.peer == NodeId(3))?;
    Some(link.addr)
}

#[test]
fn a_joined_node_is_found_after_moving_and_restarts_without_its_seed() {
    let c = TestCluster::ready(3);
    c.node(0).put("old", "1").expect("write before the join");
    let seed = c.node(0).peer_addr().to_string();
    let dir = c.dir.path().join("node-3");

    let n3 = open_joiner(&dir, seed.clone(), Duration::from_secs(10));
    // Node 0 learns node 3's address from node 3's own handshake and tells the embedder.
    let event = wait_event(c.node(0).events(), READY_TIMEOUT, "discover event", |e| {
        matches!(
            e,
            NodeEvent::Discover {
                peer: NodeId(3),
                ..
            }
        )
    });
    assert!(event.to_string().contains("discover n3"), "{event}");
    wait_until(READY_TIMEOUT, "node 3 serves reads", || serves(&n3, "old"));
    assert_eq!(n3.get("old").expect("read"), Some(b"1".to_vec()));
    let first_addr = n3.peer_addr().to_string();
    n3.close().expect("close node 3");

    // Same data, another port: every member follows node 3's own word about its address.
    let n3 = open_joiner(&dir, seed, Duration::from_secs(10));
    let moved = n3.peer_addr().to_string();
    assert_ne!(moved, first_addr);
    wait_until(
        READY_TIMEOUT,
        "every member dials node 3's new address",
        || (0..3).all(|i| link_to_3(&c, i).as_deref() == Some(moved.as_str())),
    );
    c.node(0)
        .put("after-move", "2")
        .expect("write after the move");
    wait_until(READY_TIMEOUT, "node 3 serves after moving", || {
        serves(&n3, "after-move")
    });
    assert_eq!(n3.get("after-move").expect("read"), Some(b"2".to_vec()));
    n3.put("from-3", "3").expect("write on node 3");
    n3.close().expect("close node 3");

    // The seed is gone (a port nobody listens on): node 3 starts from the directory it saved.
    let dead_seed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").to_string()
    };
    let n3 = open_joiner(&dir, dead_seed, Duration::from_millis(300));
    wait_until(
        READY_TIMEOUT,
        "node 3 serves from its saved directory",
        || serves(&n3, "from-3"),
    );
    c.node(1).put("last", "4").expect("write");
    assert_eq!(n3.get("last").expect("read"), Some(b"4".to_vec()));
}

#[test]
fn a_configured_address_is_never_replaced_by_what_the_peer_advertises() {
    // Node 1 believes it is reachable somewhere else (think NAT): the others configured it, and
    // keep dialing where they were told to.
    let mut c = TestCluster::bind(3, |i, cfg| {
        fast(cfg);
        if i == 1 {
            cfg.advertise = Some("127.0.0.1:1".into());
        }
    });
    let configured = c
        .cluster
        .config(0)
        .and_then(|cfg| cfg.peers.iter().find(|p| p.id == NodeId(1)).cloned())
        .expect("node 0 configures node 1")
        .addr;
    c.cluster.start_all().expect("start");
    assert!(c.cluster.wait_ready(READY_TIMEOUT), "cluster ready");
    c.node(1).put("k", "v").expect("write through node 1");
    for i in [0, 2] {
        let info = c.node(i).info().expect("info");
        let link = info
            .links
            .iter()
            .find(|l| l.peer == NodeId(1))
            .expect("link");
        assert_eq!(link.addr, configured, "node {i}");
    }
}

#[test]
fn a_restarted_member_dials_a_node_that_joined_later_at_once() {
    let mut c = TestCluster::ready(3);
    let seed = c.node(1).peer_addr().to_string();
    let n3 = open_joiner(&c.dir.path().join("node-3"), seed, Duration::from_secs(10));
    wait_until(READY_TIMEOUT, "node 3 serves reads", || serves(&n3, "none"));
    let joined_at = n3.peer_addr().to_string();
    // Node 0 learned node 3's address from a handshake and saved it: after a restart it has a
    // link to node 3 from the start, before node 3's reconnect attempt could teach it again.
    c.cluster.stop(0).expect("stop node 0");
    c.cluster.start(0).expect("restart node 0");
    assert_eq!(link_to_3(&c, 0).as_deref(), Some(joined_at.as_str()));
    c.node(0)
        .put("after", "1")
        .expect("write after the restart");
    wait_until(READY_TIMEOUT, "node 3 sees it", || {
        n3.get("after").is_ok_and(|v| v == Some(b"1".to_vec()))
    });
}

#[test]
fn peers_named_by_host_name_connect_through_the_resolver() {
    use level2pc_adapters::{Listeners, PeerAddr};
    use std::net::{TcpListener, ToSocketAddrs};
    level2pc_tests::init_logging();
    // Bind where `localhost` resolves first, so the test holds on IPv4- and IPv6-first hosts.
    let ip = ("localhost", 0)
        .to_socket_addrs()
        .expect("resolve localhost")
        .next()
        .expect("localhost has an address")
        .ip();
    let listeners: Vec<TcpListener> = (0..3)
        .map(|_| TcpListener::bind((ip, 0)).expect("bind"))
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| l.local_addr().expect("addr").port())
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let nodes: Vec<Replicator> = listeners
        .into_iter()
        .enumerate()
        .map(|(i, peer)| {
            let peers = (0..3)
                .filter(|&j| j != i)
                .map(|j| PeerAddr {
                    id: NodeId(j as u32),
                    addr: format!("localhost:{}", ports[j]),
                })
                .collect();
            let mut cfg = Config::new(NodeId(i as u32), format!("localhost:{}", ports[i]), peers);
            fast(&mut cfg);
            let listeners = Listeners { peer, client: None };
            Replicator::open_with_listeners(dir.path().join(format!("n{i}")), cfg, listeners)
                .expect("open")
        })
        .collect();
    wait_until(READY_TIMEOUT, "every node ready", || {
        nodes.iter().all(|n| n.info().is_ok_and(|i| i.ready))
    });
    nodes[0].put("k", "v").expect("write");
    assert_eq!(nodes[2].get("k").expect("read"), Some(b"v".to_vec()));
    let info = nodes[1].info().expect("info");
    for link in &info.links {
        assert!(link.addr.starts_with("localhost:"), "{link:?}");
        assert_eq!(link.state, "up", "{link:?}");
    }
}

#[test]
fn a_node_that_left_is_forgotten_once_removed_and_unreachable() {
    let mut c = TestCluster::bind(3, |_, cfg| {
        fast(cfg);
        cfg.net.forget_after_ms = 300;
    });
    c.cluster.start_all().expect("start");
    assert!(c.cluster.wait_ready(READY_TIMEOUT), "cluster ready");
    let seed = c.node(0).peer_addr().to_string();
    let n3 = open_joiner(&c.dir.path().join("node-3"), seed, Duration::from_secs(10));
    wait_until(READY_TIMEOUT, "node 3 serves reads", || serves(&n3, "none"));
    assert!(link_to_3(&c, 0).is_some());
    n3.close().expect("node 3 leaves for good");
    // While node 3 is still in the view its address is kept; once a view change removed it
    // and it stayed unreachable, it is forgotten (no more dialing, not handed to joiners).
    wait_until(READY_TIMEOUT, "node 0 forgets node 3", || {
        link_to_3(&c, 0).is_none()
    });
    let info = c.node(0).info().expect("info");
    assert!(
        !info.members.contains(&NodeId(3)),
        "forgotten only after removal"
    );
    c.node(0).put("k", "v").expect("the others go on");
}
