//! Configuration of a real node: identity, addresses, peers, limits and the engine's tuning.

use crate::directory::{check_addr, DirectoryError, PeerAddr, MAX_DIRECTORY_NODES};
use crate::handshake::{Secret, MAX_CLUSTER_ID_BYTES};
use crate::storage::{StoreOptions, MAX_KEY_BYTES};
use level2pc::NodeId;
use std::time::Duration;

/// Default cluster id, used when none is configured.
pub const DEFAULT_CLUSTER_ID: &str = "level2pc";

/// Peer-network limits and timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Emit `fail` for a peer after this many consecutive failed connection attempts.
    pub fail_after: u32,
    /// First reconnect delay.
    pub backoff_min_ms: u64,
    /// Largest reconnect delay (the cap).
    pub backoff_max_ms: u64,
    /// A TCP connect plus handshake must finish within this, or the attempt fails.
    pub handshake_timeout_ms: u64,
    /// Largest peer frame body accepted or sent; a peer sending more is disconnected.
    pub max_frame_bytes: usize,
    /// Bytes queued for one peer before new frames to it are dropped (and counted); the engine
    /// retransmits what matters.
    pub peer_send_buffer_bytes: usize,
    /// Most concurrent inbound peer connections (authenticated or not); more are closed at once.
    pub max_inbound: usize,
    /// A peer learned from a handshake (not configured, not an acceptor) that is no longer in
    /// the view and has been unreachable this long is forgotten: no more dialing, no longer
    /// handed out in the directory. If it comes back, its own handshake teaches it again.
    pub forget_after_ms: u64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            fail_after: 8,
            backoff_min_ms: 50,
            backoff_max_ms: 5_000,
            handshake_timeout_ms: 5_000,
            max_frame_bytes: level2pc::codec::DEFAULT_MAX_FRAME_BYTES,
            peer_send_buffer_bytes: 64 * 1024 * 1024,
            max_inbound: 64,
            forget_after_ms: 10 * 60 * 1000,
        }
    }
}

/// Limits of the RESP client front end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RespConfig {
    /// Most client connections at once; more get `-ERR max number of clients reached`.
    pub max_clients: usize,
    /// Largest single request (one command with its arguments), in bytes; a larger one gets
    /// `-ERR Protocol error: request too large` and the connection is closed.
    pub max_request_bytes: usize,
    /// Most arguments in one command.
    pub max_args: usize,
    /// Most requests of one connection in flight (pipelined) at once; reading pauses beyond it.
    pub max_pipeline: usize,
    /// Reply bytes buffered for one connection before reading from it pauses.
    pub max_reply_buffer_bytes: usize,
    /// How long a client command may wait for the cluster before `-UNAVAILABLE` or
    /// `-INDETERMINATE`.
    pub op_timeout: Duration,
}

impl Default for RespConfig {
    fn default() -> Self {
        RespConfig {
            max_clients: 1024,
            max_request_bytes: 16 * 1024 * 1024,
            max_args: 1 << 20,
            max_pipeline: 1024,
            max_reply_buffer_bytes: 64 * 1024 * 1024,
            op_timeout: Duration::from_secs(5),
        }
    }
}

/// Everything a node needs. Build it with [`Config::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// This node's id.
    pub id: NodeId,
    /// `HOST:PORT` for the peer listener (ignored when a bound listener is handed in).
    pub listen: String,
    /// `HOST:PORT` for the RESP client listener; `None` serves no RESP clients.
    pub client: Option<String>,
    /// Every other node this one may talk to: the members, and nodes expected to join later.
    pub peers: Vec<PeerAddr>,
    /// The configured cluster nodes: the static Paxos acceptors and the first view's members.
    /// `None`: this node and every peer. A node that joins a running cluster later is not among
    /// them (nor are its peers' entries for it).
    pub acceptors: Option<Vec<NodeId>>,
    /// Ask to be admitted instead of assuming a bootstrap identity, when the data directory is
    /// new: a node joining a running cluster, or one restarted after losing its disk.
    pub join: bool,
    /// Peer addresses (`HOST:PORT`) of running members to discover the cluster from
    /// (`level2pc serve --join HOST:PORT`). When set, the node asks them for the acceptor set and
    /// every node's address before it starts, in a peer handshake with each seed in turn: `acceptors`
    /// is taken from the answer, every node it lists is dialed (at the configured address if
    /// `peers` has one), and `join` is implied for a new data directory. Seeds are retried for
    /// `discovery_timeout`; if none answers, the node starts from the directory an earlier
    /// discovery saved, or fails with [`DiscoveryError`](crate::DiscoveryError).
    pub seeds: Vec<String>,
    /// The address peers should dial to reach this node, handed to every peer in the handshake
    /// (peers that have this node in their `peers` keep dialing the configured address).
    /// `None`: the peer listener's bound address, unless it is a wildcard (`0.0.0.0`), in which
    /// case peers learn no address for this node and must have it in their `peers`.
    pub advertise: Option<String>,
    /// How long [`crate::Replicator::open`] keeps trying the `seeds` before giving up.
    pub discovery_timeout: Duration,
    /// The cluster id every peer must share (checked in the handshake and against the data dir).
    pub cluster_id: String,
    /// Optional shared secret every peer must prove in the handshake.
    pub cluster_secret: Option<Secret>,
    /// The Node module's `minConsensus`: the view never shrinks below this many members, so every
    /// acknowledged write is on at least that many nodes; while fewer are reachable, writes are
    /// refused (`Unavailable`). `None`: 1 (fail-over down to a single survivor of a majority).
    pub min_consensus: Option<usize>,
    /// Engine tuning (timeouts, limits, seed). `id` and `members` are overwritten from the
    /// fields above; `max_key_bytes` is capped at what LMDB can store.
    pub engine: level2pc::Config,
    /// LMDB options.
    pub storage: StoreOptions,
    /// Commit every `Persist` of a loop turn in one transaction (on: the default). Off commits
    /// each in its own transaction and fsync (for measuring what grouping buys).
    pub group_commit: bool,
    /// Peer network limits.
    pub net: NetConfig,
    /// RESP front-end limits.
    pub resp: RespConfig,
    /// Default timeout of the embedding API's blocking calls.
    pub op_timeout: Duration,
    /// Most undelivered events kept for [`crate::Replicator::events`]; more are dropped.
    pub event_queue: usize,
    /// Most embedding-API calls queued for the event loop; more fail with `Overloaded`.
    pub api_queue: usize,
}

/// A configuration mistake.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The engine refused the configuration.
    #[error("engine configuration: {0}")]
    Engine(#[from] level2pc::ConfigError),
    /// `min_consensus` is zero or larger than the cluster.
    #[error("min-consensus {value} must be between 1 and the number of members ({members})")]
    MinConsensus {
        /// The configured value.
        value: usize,
        /// Members, this node included.
        members: usize,
    },
    /// The cluster id is empty or too long.
    #[error("cluster id must be 1 to {MAX_CLUSTER_ID_BYTES} bytes")]
    ClusterId,
    /// A limit is zero.
    #[error("{0} must be positive")]
    Zero(&'static str),
    /// More nodes than a directory can carry.
    #[error("{0} nodes configured; at most {MAX_DIRECTORY_NODES} are supported")]
    TooManyNodes(usize),
    /// An address is malformed.
    #[error("{0}")]
    Addr(#[from] DirectoryError),
}

impl Config {
    /// A configuration for node `id` listening for peers on `listen`, with default limits.
    pub fn new(id: NodeId, listen: impl Into<String>, peers: Vec<PeerAddr>) -> Config {
        let members = std::iter::once(id)
            .chain(peers.iter().map(|p| p.id))
            .collect();
        Config {
            id,
            listen: listen.into(),
            client: None,
            peers,
            cluster_id: DEFAULT_CLUSTER_ID.to_string(),
            cluster_secret: None,
            min_consensus: None,
            acceptors: None,
            join: false,
            seeds: Vec::new(),
            advertise: None,
            discovery_timeout: Duration::from_secs(30),
            engine: level2pc::Config::new(id, members),
            storage: StoreOptions::default(),
            group_commit: true,
            net: NetConfig::default(),
            resp: RespConfig::default(),
            op_timeout: Duration::from_secs(5),
            event_queue: 1024,
            api_queue: 4096,
        }
    }

    /// Checks the configuration and returns the engine configuration to run with.
    pub fn engine_config(&self) -> Result<level2pc::Config, ConfigError> {
        let mut engine = self.engine.clone();
        engine.id = self.id;
        engine.members = match &self.acceptors {
            Some(acceptors) => acceptors.clone(),
            None => std::iter::once(self.id)
                .chain(self.peers.iter().map(|p| p.id))
                .collect(),
        };
        engine.max_key_bytes = engine.max_key_bytes.min(MAX_KEY_BYTES);
        // A single value must fit a peer frame with room for its key and framing.
        engine.max_value_bytes = engine
            .max_value_bytes
            .min(self.net.max_frame_bytes.saturating_sub(64 * 1024));
        // A chunk may exceed its byte budget by one entry and its record: leave that room.
        engine.snapshot_chunk_bytes = engine
            .snapshot_chunk_bytes
            .min(self.net.max_frame_bytes / 4)
            .max(1);
        let members = engine.members.len();
        if members > MAX_DIRECTORY_NODES || self.peers.len() > MAX_DIRECTORY_NODES {
            return Err(ConfigError::TooManyNodes(members.max(self.peers.len())));
        }
        if let Some(addr) = &self.advertise {
            check_addr(addr)?;
        }
        self.seeds.iter().try_for_each(|s| check_addr(s))?;
        if let Some(value) = self.min_consensus {
            if value == 0 || value > members {
                return Err(ConfigError::MinConsensus { value, members });
            }
            engine.min_consensus = value;
        }
        engine.validate()?;
        if self.cluster_id.is_empty() || self.cluster_id.len() > MAX_CLUSTER_ID_BYTES {
            return Err(ConfigError::ClusterId);
        }
        self.check_limits()?;
        Ok(engine)
    }

    fn check_limits(&self) -> Result<(), ConfigError> {
        let limits = [
            ("max_frame_bytes", self.net.max_frame_bytes),
            ("peer_send_buffer_bytes", self.net.peer_send_buffer_bytes),
            ("max_inbound", self.net.max_inbound),
            ("max_clients", self.resp.max_clients),
            ("max_request_bytes", self.resp.max_request_bytes),
            ("max_args", self.resp.max_args),
            ("max_pipeline", self.resp.max_pipeline),
            ("map_size_bytes", self.storage.map_size_bytes),
            ("api_queue", self.api_queue),
        ];
        match limits.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(ConfigError::Zero(name)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Config {
        let peers = vec![
            PeerAddr {
                id: NodeId(1),
                addr: "a:1".into(),
            },
            PeerAddr {
                id: NodeId(2),
                addr: "b:2".into(),
            },
        ];
        Config::new(NodeId(0), "127.0.0.1:0", peers)
    }

    #[test]
    fn min_consensus_is_validated_against_the_members() {
        let mut cfg = three();
        for ok in [None, Some(1), Some(2), Some(3)] {
            cfg.min_consensus = ok;
            assert!(cfg.engine_config().is_ok(), "{ok:?}");
        }
        for bad in [0, 4] {
            cfg.min_consensus = Some(bad);
            assert_eq!(
                cfg.engine_config(),
                Err(ConfigError::MinConsensus {
                    value: bad,
                    members: 3
                })
            );
        }
    }

    #[test]
    fn engine_limits_are_capped_to_what_storage_and_frames_carry() {
        let engine = three().engine_config().unwrap();
        assert_eq!(engine.members, vec![NodeId(0), NodeId(1), NodeId(2)]);
        assert_eq!(engine.max_key_bytes, MAX_KEY_BYTES);
    }

    #[test]
    fn duplicate_peers_and_zero_limits_are_refused() {
        let mut cfg = three();
        cfg.peers.push(PeerAddr {
            id: NodeId(1),
            addr: "c:3".into(),
        });
        assert!(matches!(cfg.engine_config(), Err(ConfigError::Engine(_))));
        let mut cfg = three();
        cfg.resp.max_clients = 0;
        assert_eq!(cfg.engine_config(), Err(ConfigError::Zero("max_clients")));
    }

    #[test]
    fn bad_addresses_and_too_many_nodes_are_refused() {
        let mut cfg = three();
        cfg.advertise = Some("no port".into());
        assert!(matches!(cfg.engine_config(), Err(ConfigError::Addr(_))));
        let mut cfg = three();
        cfg.seeds = vec!["h:1".into(), ":2".into()];
        assert!(matches!(cfg.engine_config(), Err(ConfigError::Addr(_))));
        let mut cfg = three();
        cfg.peers = (1..=MAX_DIRECTORY_NODES as u32 + 1)
            .map(|i| PeerAddr {
                id: NodeId(i),
                addr: format!("h:{i}"),
            })
            .collect();
        assert_eq!(
            cfg.engine_config(),
            Err(ConfigError::TooManyNodes(MAX_DIRECTORY_NODES + 2))
        );
    }
}
