//! What the engine asks its driver to make durable, and what the driver hands back after a restart
//! (protocol.md §4.2).

use crate::message::Ballot;
use crate::timestamp::{BootInc, Epoch, Ts};
use crate::update::{Bytes, UpdateRef};
use crate::view::View;
use serde::{Deserialize, Serialize};

/// One key's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct StoredEntry {
    /// Timestamp of the update that last wrote the key.
    pub ts: Ts,
    /// Whether that update is known committed here. Persisted lazily (rule P3): a key found
    /// Invalid after a restart is simply re-validated or replayed.
    pub valid: bool,
    /// The value, or `None` for a tombstone. Tombstones are never removed in v1.
    pub value: Option<Bytes>,
}

/// One change to durable state. A [`crate::Output::Persist`] carries a list of these that the
/// driver must apply **atomically** (one transaction) and in emission order relative to other
/// persists. Deliberately exhaustive, like [`crate::Output`]: a store that skipped a kind of op
/// it did not know would lose state, so a new kind must break every store's build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PersistOp {
    /// Upsert a key's entry.
    Entry {
        /// The key.
        key: Bytes,
        /// Its new state.
        entry: StoredEntry,
    },
    /// Mark a key Valid if it is still at `ts` (a lazy validity hint; losing it is harmless).
    Validate {
        /// The key.
        key: Bytes,
        /// The committed timestamp.
        ts: Ts,
    },
    /// Store a full update record (needed for replays and the guardian rule).
    Record(UpdateRef),
    /// Forget an update record no key references any more.
    DropRecord(Ts),
    /// Record the installed view (protocol.md §7.6 step 1).
    View(View),
    /// Record this node's acceptor state for one Paxos instance (rule P4: before replying).
    Acceptor(AcceptorRecord),
    /// Record this node's membership identity (`None`: not a member, must join).
    Identity(Option<Identity>),
    /// Forget every entry and update record: the node is joining under a new identity and its
    /// pre-join state must not be trusted (protocol.md §8.2 step 4).
    Wipe,
}

impl PersistOp {
    /// Whether the protocol needs this change **durable** before the engine acts on it
    /// (docs/durability.md). `Validate` (rule P3) and `DropRecord` are hints: losing them in a
    /// crash only makes a restarted node re-validate a key or keep a record it no longer
    /// needs. Every other op (INV effects and records: P1/P2; acceptor state and views: P4;
    /// identity: P5; a wipe) must be on disk before `handle_persisted` reports it.
    pub fn needs_sync(&self) -> bool {
        !matches!(self, PersistOp::Validate { .. } | PersistOp::DropRecord(_))
    }
}

/// Durable acceptor state of one Paxos instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptorRecord {
    /// The epoch being decided.
    pub instance: Epoch,
    /// The highest ballot promised.
    pub promised: Ballot,
    /// The highest-ballot view accepted, if any.
    pub accepted: Option<(Ballot, View)>,
}

/// This node's membership identity, as far as it knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The epoch of the view that admitted it.
    pub adm: u64,
    /// Whether its state transfer finished (always true for the bootstrap members).
    pub transfer_done: bool,
}

impl Identity {
    /// The identity of a node that lost its state (admission epoch 0 matches no view): it may
    /// neither vote as an acceptor nor grant leases — it may have voted before and forgotten
    /// (acceptor amnesia, protocol.md §7.2) — until a view admits it again.
    pub const AMNESIAC: Identity = Identity {
        adm: 0,
        transfer_done: false,
    };
}

/// Durable state loaded by the driver at start-up and handed to [`crate::Node::new`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// This process's boot incarnation, already bumped past every earlier one **and made
    /// durable** by the driver before the node starts (rule P5).
    pub boot: BootInc,
    /// The last installed view (`None` on a fresh disk).
    pub view: Option<View>,
    /// This node's identity (`None` on a fresh disk).
    pub identity: Option<Identity>,
    /// Acceptor state of the instances not yet decided here.
    pub acceptor: Vec<AcceptorRecord>,
    /// The node has no trustworthy state (its disk was lost, or it is new to a running cluster):
    /// it must ask to join instead of assuming the bootstrap identity. A fresh disk without this
    /// flag bootstraps as a member of the configured epoch-1 view.
    pub join: bool,
    /// Every stored key, tombstones included, in any order.
    pub entries: Vec<(Bytes, StoredEntry)>,
    /// Every stored update record.
    pub records: Vec<UpdateRef>,
}

/// An in-memory "disk" that applies persists exactly as a real driver must (atomically, in
/// order) and hands back [`Recovered`] state: the reference for drivers, and what the simulator,
/// the test harness and the fuzzers use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemDisk {
    /// Boots since this disk was created (each [`MemDisk::recover`] adds one).
    pub boots: u64,
    /// The installed view.
    pub view: Option<View>,
    /// The node's identity.
    pub identity: Option<Identity>,
    /// Acceptor state per instance.
    pub acceptor: std::collections::BTreeMap<Epoch, AcceptorRecord>,
    /// Entries.
    pub entries: std::collections::BTreeMap<Bytes, StoredEntry>,
    /// Update records.
    pub records: std::collections::BTreeMap<Ts, UpdateRef>,
}

impl MemDisk {
    /// Applies one completed `Persist`.
    pub fn apply(&mut self, ops: &[PersistOp]) {
        for op in ops {
            match op {
                PersistOp::Entry { key, entry } => {
                    self.entries.insert(key.clone(), entry.clone());
                }
                PersistOp::Validate { key, ts } => {
                    if let Some(e) = self.entries.get_mut(key).filter(|e| e.ts == *ts) {
                        e.valid = true;
                    }
                }
                PersistOp::Record(u) => {
                    self.records.insert(u.ts, u.clone());
                }
                PersistOp::DropRecord(ts) => {
                    self.records.remove(ts);
                }
                PersistOp::View(v) => {
                    self.acceptor.retain(|e, _| *e > v.epoch);
                    self.view = Some(v.clone());
                }
                PersistOp::Acceptor(a) => {
                    self.acceptor.insert(a.instance, a.clone());
                }
                PersistOp::Identity(i) => self.identity = *i,
                PersistOp::Wipe => {
                    self.entries.clear();
                    self.records.clear();
                }
            }
        }
    }

    /// Bumps (and, on a real disk, fsyncs) the boot count, then returns the state to start a
    /// node from. `join` marks a node that must ask to be admitted.
    pub fn recover(&mut self, join: bool) -> Recovered {
        self.boots += 1;
        Recovered {
            boot: BootInc(self.boots),
            view: self.view.clone(),
            identity: self.identity,
            acceptor: self.acceptor.values().cloned().collect(),
            join,
            entries: self
                .entries
                .iter()
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
            records: self.records.values().cloned().collect(),
        }
    }

    /// A key's durable timestamp (`Ts::ZERO` if absent).
    pub fn ts_of(&self, key: &[u8]) -> Ts {
        self.entries.get(key).map_or(Ts::ZERO, |e| e.ts)
    }
}
