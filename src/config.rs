//! Engine configuration.

use crate::timestamp::NodeId;

/// Static configuration of one engine. Times are in milliseconds of the driver's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id; must be one of `members`.
    pub id: NodeId,
    /// Every member of the cluster, this node included. The view at epoch 1.
    pub members: Vec<NodeId>,
    /// Resend an INV to members that have not acknowledged it after this long.
    pub retransmit_ms: u64,
    /// Replay an update whose key has been Invalid here this long (`T_stuck`, protocol.md §4.6).
    /// A random jitter of up to half this is added so replicas do not replay in lockstep.
    pub stuck_ms: u64,
    /// Send a heartbeat to every peer this often.
    pub heartbeat_ms: u64,
    /// A peer not heard from for this long is considered unreachable (`NotReady` follows).
    pub peer_timeout_ms: u64,
    /// Most client requests in flight at once (queued, parked or writing); more are answered
    /// `Unavailable(Overloaded)` at once.
    pub max_requests: usize,
    /// Most entries one range read returns (and the default limit).
    pub max_range_entries: usize,
    /// Most writes in one batch; a larger batch is answered `Unavailable(TooLarge)`.
    pub max_batch_writes: usize,
    /// Largest key, in bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
    /// Seed of the engine's only randomness (timer jitter).
    pub seed: u64,
    /// A deliberately broken protocol rule, for the simulator's mutation tests only.
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutant::Mutant>,
}

impl Config {
    /// A configuration with sensible defaults for a LAN cluster.
    pub fn new(id: NodeId, members: Vec<NodeId>) -> Config {
        Config {
            id,
            members,
            retransmit_ms: 50,
            stuck_ms: 500,
            heartbeat_ms: 100,
            peer_timeout_ms: 1_000,
            max_requests: 100_000,
            max_range_entries: 10_000,
            max_batch_writes: 10_000,
            max_key_bytes: 4 * 1024,
            max_value_bytes: 1024 * 1024,
            seed: 0,
            #[cfg(feature = "mutants")]
            mutant: None,
        }
    }

    /// Checks the configuration for mistakes a driver could make.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut sorted = self.members.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.members.len() {
            return Err(ConfigError::DuplicateMember);
        }
        if !self.members.contains(&self.id) {
            return Err(ConfigError::SelfNotMember);
        }
        let times = [self.retransmit_ms, self.stuck_ms, self.heartbeat_ms, self.peer_timeout_ms];
        if times.contains(&0) {
            return Err(ConfigError::ZeroInterval);
        }
        if self.peer_timeout_ms <= self.heartbeat_ms {
            return Err(ConfigError::PeerTimeoutTooShort);
        }
        if self.max_requests == 0 || self.max_range_entries == 0 || self.max_batch_writes == 0 {
            return Err(ConfigError::ZeroLimit);
        }
        Ok(())
    }
}

/// A configuration mistake found by [`Config::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A node id appears twice in `members`.
    DuplicateMember,
    /// `id` is not in `members`.
    SelfNotMember,
    /// An interval is zero.
    ZeroInterval,
    /// `peer_timeout_ms` must exceed `heartbeat_ms`, or healthy peers flap.
    PeerTimeoutTooShort,
    /// A size limit is zero.
    ZeroLimit,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ConfigError::DuplicateMember => "a node id appears twice in members",
            ConfigError::SelfNotMember => "this node's id is not in members",
            ConfigError::ZeroInterval => "every interval must be positive",
            ConfigError::PeerTimeoutTooShort => "peer_timeout_ms must exceed heartbeat_ms",
            ConfigError::ZeroLimit => "every size limit must be positive",
        })
    }
}

impl std::error::Error for ConfigError {}
