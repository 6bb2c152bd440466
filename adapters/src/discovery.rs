//! Finding a running cluster from one member's address (`level2pc serve --join HOST:PORT`).
//!
//! Before its engine starts, a node configured with [`Config::seeds`] dials them in turn and runs
//! the ordinary peer handshake with an empty `to` (it does not know who listens there). The
//! member that answers proves the cluster secret and hands over its [`Directory`]: the static
//! acceptor set, which the engine needs before it can ask to join, and every node's peer address.
//! The node saves the directory in its data directory, takes the acceptor set, dials every node
//! it learned of, and starts. Its outbound links tell every member its address (so its id is
//! taken only once the directory showed it free), and its engine asks the members to be admitted,
//! transfers a snapshot, and is promoted (protocol.md §8.2).
//!
//! Unreachable seeds are retried, round robin with a growing pause, until
//! [`Config::discovery_timeout`]; if none answers and an earlier discovery was saved, the node
//! starts from the saved directory (a restart while the seed is down). A seed that refuses the
//! handshake (another cluster id, a different secret) ends discovery at once: retrying cannot
//! help.

use crate::config::Config;
use crate::directory::{Directory, PeerAddr};
use crate::handshake::MAX_HANDSHAKE_FRAME_BYTES;
use crate::handshake::{encode_handshake, Dialer, HandshakeError, HandshakeMsg, Params, Step};
use crate::resolver::MAX_ADDRS_PER_NAME;
use crate::storage::{StorageError, Store};
use level2pc::codec::{decode_body, DecodeError, FrameKind, FrameReader};
use level2pc::NodeId;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Longest pause between two rounds over the seeds.
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// Longest a single attempt (connect plus handshake) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why discovery failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// No seed answered in time (and nothing was saved from an earlier discovery).
    #[error("no seed answered within {timeout:?} (last: {last})")]
    Unreachable {
        /// The discovery timeout.
        timeout: Duration,
        /// The last attempt's failure.
        last: String,
    },
    /// The handshake with a seed failed: a configuration mismatch (cluster id, secret, id).
    #[error("handshake with seed {addr} failed: {source}")]
    Refused {
        /// The seed's address.
        addr: String,
        /// Why.
        source: HandshakeError,
    },
    /// Another node already uses this node's id.
    #[error(
        "node id {} is already in the cluster at {addr}: choose an unused --id (a node that \
         replaces it after losing its disk must advertise the same address)",
        .id.0
    )]
    IdInUse {
        /// This node's id.
        id: NodeId,
        /// The address the cluster has for it.
        addr: String,
    },
    /// The cluster's acceptors differ from the ones this data directory joined.
    #[error(
        "the cluster's acceptors {found:?} differ from those this data directory joined \
         ({saved:?}): is this the same cluster?"
    )]
    AcceptorsChanged {
        /// The acceptors discovery found now.
        found: Vec<NodeId>,
        /// The acceptors saved earlier.
        saved: Vec<NodeId>,
    },
    /// The saved directory could not be read or written.
    #[error("{0}")]
    Storage(#[from] StorageError),
}

/// What one seed answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The node that answered.
    pub seed: NodeId,
    /// Its directory, with the seed's dialed address added if the seed advertises none.
    pub directory: Directory,
}

/// Why one attempt failed.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] DecodeError),
    #[error("{0}")]
    Handshake(#[from] HandshakeError),
    #[error("cannot resolve: {0}")]
    Resolve(String),
}

/// Sets `config.acceptors` and `config.join` from the seeds (or, if none answers, from the
/// directory saved by an earlier discovery) and returns the peer addresses learned, except this
/// node's and those `config.peers` configures. `fresh`: the data directory holds no view yet (this
/// node is new, or lost its disk).
pub fn apply(
    config: &mut Config,
    store: &Store,
    fresh: bool,
) -> Result<Vec<PeerAddr>, DiscoveryError> {
    let params = Params {
        cluster: config.cluster_id.clone(),
        me: config.id,
        advertise: config.advertise.clone(),
        secret: config.cluster_secret.clone(),
    };
    let saved = store.directory()?;
    let directory = match discover(&config.seeds, &params, config.discovery_timeout) {
        Ok(found) => {
            check(config, &found.directory, saved.as_ref(), fresh)?;
            store.save_directory(&found.directory)?;
            let acceptors: Vec<String> = found
                .directory
                .acceptors
                .iter()
                .map(|a| a.to_string())
                .collect();
            log::info!(
                "discovered the cluster through {}: acceptors {}, {} addresses",
                found.seed,
                acceptors.join(","),
                found.directory.peers.len()
            );
            found.directory
        }
        Err(DiscoveryError::Unreachable { timeout, last }) => match saved {
            Some(saved) => {
                log::warn!("no seed answered ({last}); starting from the saved directory");
                saved
            }
            None => return Err(DiscoveryError::Unreachable { timeout, last }),
        },
        Err(e) => return Err(e),
    };
    Ok(merge(config, directory))
}

/// Refuses a directory that shows a misconfiguration: this id taken by another node, or other
/// acceptors than this data directory joined.
fn check(
    config: &Config,
    found: &Directory,
    saved: Option<&Directory>,
    fresh: bool,
) -> Result<(), DiscoveryError> {
    if let Some(saved) = saved.filter(|s| s.acceptors != found.acceptors) {
        return Err(DiscoveryError::AcceptorsChanged {
            found: found.acceptors.clone(),
            saved: saved.acceptors.clone(),
        });
    }
    // A restarted node may have moved; a new one must not take a listed node's id.
    match found.addr_of(config.id) {
        Some(addr) if fresh && Some(addr) != config.advertise.as_deref() => {
            Err(DiscoveryError::IdInUse {
                id: config.id,
                addr: addr.to_string(),
            })
        }
        _ => Ok(()),
    }
}

/// Takes the directory's acceptor set (the node asks to join if its data directory is new) and
/// returns its addresses of nodes `config.peers` does not configure (a configured address wins).
fn merge(config: &mut Config, directory: Directory) -> Vec<PeerAddr> {
    config.acceptors = Some(directory.acceptors);
    config.join = true;
    let id = config.id;
    let configured = |p: &PeerAddr| config.peers.iter().any(|q| q.id == p.id);
    directory
        .peers
        .into_iter()
        .filter(|p| p.id != id && !configured(p))
        .collect()
}

/// Asks the seeds, round robin, until one answers, one refuses, or `timeout` passes.
pub fn discover(
    seeds: &[String],
    params: &Params,
    timeout: Duration,
) -> Result<Found, DiscoveryError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(100);
    let mut last = String::from("no seeds configured");
    loop {
        for seed in seeds {
            match ask(seed, params) {
                Ok(found) => return Ok(found),
                Err(AttemptError::Handshake(source)) => {
                    return Err(DiscoveryError::Refused {
                        addr: seed.clone(),
                        source,
                    })
                }
                Err(e) => {
                    log::info!("seed {seed} did not answer: {e}");
                    last = format!("{seed}: {e}");
                }
            }
        }
        let now = Instant::now();
        if seeds.is_empty() || now >= deadline {
            return Err(DiscoveryError::Unreachable { timeout, last });
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// A connection to the first of `seed`'s addresses (at most [`MAX_ADDRS_PER_NAME`], in the
/// system's order) that accepts one: `localhost` may be `::1` and `127.0.0.1`, and the seed may
/// listen on only one of them.
fn connect_any(seed: &str) -> Result<TcpStream, AttemptError> {
    let addrs = seed
        .to_socket_addrs()
        .map_err(|e| AttemptError::Resolve(format!("{seed}: {e}")))?;
    let mut last = AttemptError::Resolve(format!("{seed}: no addresses"));
    for addr in addrs.take(MAX_ADDRS_PER_NAME) {
        match TcpStream::connect_timeout(&addr, ATTEMPT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

/// One handshake with `seed`, on a blocking socket, closed afterwards.
fn ask(seed: &str, params: &Params) -> Result<Found, AttemptError> {
    let mut stream = connect_any(seed)?;
    stream.set_read_timeout(Some(ATTEMPT_TIMEOUT))?;
    stream.set_write_timeout(Some(ATTEMPT_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    // No address in this Hello: the seed must not learn (and dial) this id before the directory
    // showed that the id is not someone else's. The node's own links advertise it once it runs.
    let quiet = Params {
        advertise: None,
        ..params.clone()
    };
    let (mut dialer, hello) = Dialer::start(quiet, None);
    send(&mut stream, &hello)?;
    let mut reader = FrameReader::new(MAX_HANDSHAKE_FRAME_BYTES);
    let mut buf = [0u8; 16 * 1024];
    loop {
        while let Some((kind, body)) = reader.next_frame()? {
            if kind != FrameKind::Handshake {
                return Err(HandshakeError::Unexpected("protocol frame during discovery").into());
            }
            let msg: HandshakeMsg = decode_body(&body)?;
            match dialer.on_msg(msg)? {
                Step::Send(reply) => send(&mut stream, &reply)?,
                Step::Established {
                    peer,
                    peer_addr,
                    directory,
                    ..
                } => return Ok(found(seed, peer, peer_addr, directory.unwrap_or_default())),
            }
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        reader.push(&buf[..n]);
    }
}

/// The answer of `seed` (node `peer`), with the seed's address filled in if it advertised none.
fn found(seed: &str, peer: NodeId, peer_addr: Option<String>, mut directory: Directory) -> Found {
    // Members list the acceptors in their configured order; compare them as a set.
    directory.acceptors.sort();
    if directory.addr_of(peer).is_none() {
        directory.peers.push(PeerAddr {
            id: peer,
            addr: peer_addr.unwrap_or_else(|| seed.to_string()),
        });
        directory.peers.sort_by_key(|p| p.id);
    }
    Found {
        seed: peer,
        directory,
    }
}

fn send(stream: &mut TcpStream, msg: &HandshakeMsg) -> Result<(), AttemptError> {
    let mut frame = Vec::new();
    encode_handshake(msg, &mut frame)
        .map_err(|_| HandshakeError::Unexpected("cannot encode a handshake message"))?;
    stream.write_all(&frame)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u32, addr: &str) -> PeerAddr {
        PeerAddr {
            id: NodeId(id),
            addr: addr.into(),
        }
    }

    fn found() -> Directory {
        Directory {
            acceptors: vec![NodeId(0), NodeId(1), NodeId(2)],
            peers: vec![peer(0, "h:0"), peer(1, "h:1"), peer(2, "h:2")],
        }
    }

    fn config(id: u32, advertise: &str) -> Config {
        let mut c = Config::new(NodeId(id), advertise, Vec::new());
        c.advertise = Some(advertise.into());
        c
    }

    #[test]
    fn a_new_node_may_not_take_a_listed_id_at_another_address() {
        assert!(matches!(
            check(&config(1, "h:9"), &found(), None, true),
            Err(DiscoveryError::IdInUse { id: NodeId(1), ref addr }) if addr == "h:1"
        ));
        // The same address (a node replacing itself after disk loss), a restart (it may have
        // moved), and an unlisted id are fine.
        assert!(check(&config(1, "h:1"), &found(), None, true).is_ok());
        assert!(check(&config(1, "h:9"), &found(), None, false).is_ok());
        assert!(check(&config(5, "h:5"), &found(), None, true).is_ok());
    }

    #[test]
    fn other_acceptors_than_the_saved_ones_are_refused() {
        let mut saved = found();
        saved.acceptors.pop();
        assert!(matches!(
            check(&config(5, "h:5"), &found(), Some(&saved), false),
            Err(DiscoveryError::AcceptorsChanged { .. })
        ));
        assert!(check(&config(5, "h:5"), &found(), Some(&found()), false).is_ok());
    }

    #[test]
    fn merging_keeps_configured_addresses_and_asks_to_join() {
        let mut c = config(5, "h:5");
        c.peers = vec![peer(2, "configured:2")];
        let mut directory = found();
        directory.peers.push(peer(5, "h:5"));
        let learned = merge(&mut c, directory);
        assert_eq!(learned, vec![peer(0, "h:0"), peer(1, "h:1")]);
        assert_eq!(c.peers, vec![peer(2, "configured:2")]);
        assert_eq!(c.acceptors, Some(vec![NodeId(0), NodeId(1), NodeId(2)]));
        assert!(c.join);
    }

    #[test]
    fn an_answer_lists_the_acceptors_in_id_order_and_the_seed_at_its_dialed_address() {
        // Node 1 lists the acceptors in its configured order and advertises no address.
        let answer = Directory {
            acceptors: vec![NodeId(1), NodeId(0), NodeId(2)],
            peers: vec![peer(0, "h:0"), peer(2, "h:2")],
        };
        let f = super::found("seed:1", NodeId(1), None, answer);
        assert_eq!(f.seed, NodeId(1));
        assert_eq!(f.directory, found_directory_with_seed());
        assert!(check(&config(5, "h:5"), &f.directory, Some(&found()), false).is_ok());
    }

    fn found_directory_with_seed() -> Directory {
        Directory {
            acceptors: vec![NodeId(0), NodeId(1), NodeId(2)],
            peers: vec![peer(0, "h:0"), peer(1, "seed:1"), peer(2, "h:2")],
        }
    }
}
