//! Engine configuration.

use crate::timestamp::NodeId;

/// Static configuration of one engine. Times are in milliseconds of the driver's clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id; must be one of `members`.
    pub id: NodeId,
    /// The configured nodes: the static Paxos acceptor set, and the members of the bootstrap
    /// view (epoch 1). A node that joins a running cluster later is not among them.
    pub members: Vec<NodeId>,
    /// Resend an INV to members that have not acknowledged it after this long.
    pub retransmit_ms: u64,
    /// Replay an update whose key has been Invalid here this long (`T_stuck`, protocol.md §4.6).
    /// A random jitter of up to half this is added so replicas do not replay in lockstep.
    pub stuck_ms: u64,
    /// Send a heartbeat to every peer this often.
    pub heartbeat_ms: u64,
    /// A peer not heard from for this long is suspected (`T_fd`): a member is then removed from
    /// the view by a view change. Suspicion never affects safety, only availability.
    pub peer_timeout_ms: u64,
    /// Lease length `L`, measured by the holder from when it sent the request (§7.3).
    pub lease_ms: u64,
    /// Lease promise `W`, measured by each acceptor from when it granted: it accepts no view
    /// removing the holder for this long. Must satisfy `W ≥ L·(1+ρ)/(1−ρ) + 1 ms` (§7.4).
    pub promise_ms: u64,
    /// Lease renewal period `R`; `2·R ≤ L` leaves a round trip of slack.
    pub renew_ms: u64,
    /// Bound ρ on clock-rate drift, parts per million.
    pub drift_ppm: u64,
    /// A view never shrinks below this many members (the Node module's `minConsensus`): every
    /// acknowledged write is on at least this many nodes. Below it the node is not ready.
    pub min_consensus: usize,
    /// Most entries in one state-transfer chunk.
    pub snapshot_chunk_entries: usize,
    /// Bytes of keys, values and records after which a state-transfer chunk ends (it always
    /// holds at least one entry, so any value within `max_value_bytes` travels). Keep it well
    /// below the transport's frame limit: a chunk may exceed it by one entry and its record.
    pub snapshot_chunk_bytes: usize,
    /// A request the node cannot start (it is not ready, has no lease, or is not an Active
    /// member) is answered `Unavailable` once it has waited this long, rather than at its
    /// deadline: nothing was written, so the client may go elsewhere at once. Requests that
    /// started keep their full deadline.
    pub unavailable_after_ms: u64,
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
    /// Seed of the engine's only randomness: timer jitter and the secret keys of its hash index
    /// of client-chosen keys (the real node draws it from the operating system at start).
    pub seed: u64,
    /// A deliberately broken protocol rule, for the simulator's mutation tests only.
    #[cfg(feature = "mutants")]
    pub mutant: Option<crate::mutant::Mutant>,
}

impl Config {
    /// Whether `key`, and `value` if any, are within `max_key_bytes` and `max_value_bytes`.
    pub(crate) fn fits(&self, key: &[u8], value: Option<&[u8]>) -> bool {
        key.len() <= self.max_key_bytes && value.is_none_or(|v| v.len() <= self.max_value_bytes)
    }

    /// Whether `writes` are within every write limit: the batch size, each key and each value.
    /// Client writes are refused beyond them; an INV or snapshot beyond them is dropped.
    pub(crate) fn writes_fit(&self, writes: &[crate::update::Write]) -> bool {
        writes.len() <= self.max_batch_writes
            && writes.iter().all(|w| self.fits(&w.key, w.value.as_deref()))
    }

    /// A configuration with sensible defaults for a LAN cluster.
    pub fn new(id: NodeId, members: Vec<NodeId>) -> Config {
        Config {
            id,
            members,
            retransmit_ms: 50,
            stuck_ms: 500,
            heartbeat_ms: 100,
            peer_timeout_ms: 500,
            lease_ms: 1_000,
            promise_ms: 1_050,
            renew_ms: 250,
            drift_ppm: 1_000,
            min_consensus: 1,
            snapshot_chunk_entries: 1_000,
            snapshot_chunk_bytes: 4 * 1024 * 1024,
            unavailable_after_ms: 1_000,
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
        if self.members.is_empty() {
            return Err(ConfigError::NoMembers);
        }
        let times = [
            self.retransmit_ms,
            self.stuck_ms,
            self.heartbeat_ms,
            self.peer_timeout_ms,
            self.lease_ms,
            self.renew_ms,
            self.unavailable_after_ms,
        ];
        if times.contains(&0) {
            return Err(ConfigError::ZeroInterval);
        }
        if self.peer_timeout_ms <= self.heartbeat_ms {
            return Err(ConfigError::PeerTimeoutTooShort);
        }
        if self.max_requests == 0
            || self.max_range_entries == 0
            || self.max_batch_writes == 0
            || self.snapshot_chunk_entries == 0
            || self.snapshot_chunk_bytes == 0
        {
            return Err(ConfigError::ZeroLimit);
        }
        if self.drift_ppm >= 100_000 {
            return Err(ConfigError::DriftTooLarge);
        }
        // §7.4: W·(1−ρ) ≥ L·(1+ρ) + ε, with ε = 1 ms, in integer parts per million.
        let need = u128::from(self.lease_ms) * u128::from(1_000_000 + self.drift_ppm) + 1_000_000;
        if u128::from(self.promise_ms) * u128::from(1_000_000 - self.drift_ppm) < need {
            return Err(ConfigError::LeaseInequality);
        }
        if self.renew_ms.saturating_mul(2) > self.lease_ms {
            return Err(ConfigError::RenewTooSlow);
        }
        if self.min_consensus == 0 || self.min_consensus > self.members.len() {
            return Err(ConfigError::MinConsensus);
        }
        Ok(())
    }
}

/// A configuration mistake found by [`Config::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A node id appears twice in `members`.
    DuplicateMember,
    /// `members` is empty.
    NoMembers,
    /// `drift_ppm` is 10 % or more: no lease could be safe.
    DriftTooLarge,
    /// `promise_ms` is too short for `lease_ms` and `drift_ppm` (§7.4).
    LeaseInequality,
    /// `renew_ms` is more than half of `lease_ms`.
    RenewTooSlow,
    /// `min_consensus` is zero or larger than the configured node count.
    MinConsensus,
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
            ConfigError::NoMembers => "members is empty",
            ConfigError::DriftTooLarge => "drift_ppm must be below 100000 (10 %)",
            ConfigError::LeaseInequality => {
                "promise_ms must be at least lease_ms·(1+ρ)/(1−ρ) + 1 ms"
            }
            ConfigError::RenewTooSlow => "renew_ms must be at most half of lease_ms",
            ConfigError::MinConsensus => {
                "min_consensus must be between 1 and the number of configured nodes"
            }
            ConfigError::ZeroInterval => "every interval must be positive",
            ConfigError::PeerTimeoutTooShort => "peer_timeout_ms must exceed heartbeat_ms",
            ConfigError::ZeroLimit => "every size limit must be positive",
        })
    }
}

impl std::error::Error for ConfigError {}
