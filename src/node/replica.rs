//! The data path's state at one node (protocol.md §4): every key's entry, the records of the
//! updates it holds, and the ACKs and commits held back for durability or the guardian rule.
//! The protocol steps that change it live in `write.rs`, `follower.rs` and `read.rs`; membership
//! and transfer reach it through the operations here.

use super::hash_index::HashKeys;
use super::key_store::KeyStore;
use super::multi_index::MultiIndex;
use crate::client::RequestId;
use crate::storage::StoredEntry;
use crate::timestamp::{Epoch, NodeId, Ts};
use crate::update::{Bytes, UpdateRef};
use std::collections::{BTreeMap, BTreeSet};

/// The data-path state of one node.
#[derive(Debug)]
pub(super) struct Replica {
    /// Every key's entry.
    pub(super) store: KeyStore,
    /// The updates this node holds a record of, by Ts.
    pub(super) records: BTreeMap<Ts, Record>,
    /// Multi-key records by key, the only ones the guardian rule looks at.
    pub(super) multi_records: MultiIndex,
    /// Follower ACKs (and RMW NACKs) waiting for durability or the guardian rule.
    pub(super) deferred_acks: Vec<DeferredAck>,
    /// Driven updates whose commit the guardian rule (or durability) currently holds back.
    pub(super) blocked_commits: BTreeSet<Ts>,
    /// Highest version this writer issued in this boot (amendment F1: Ts unique per update).
    pub(super) last_version: u64,
}

impl Replica {
    /// An empty replica whose key indexes hash with `hash_keys`.
    pub(super) fn new(hash_keys: HashKeys) -> Replica {
        Replica {
            store: KeyStore::new(hash_keys),
            records: BTreeMap::new(),
            multi_records: MultiIndex::new(hash_keys),
            deferred_acks: Vec::new(),
            blocked_commits: BTreeSet::new(),
            last_version: 0,
        }
    }

    /// Forgets every entry, record, held-back ACK and commit (a wipe on re-admission, §8.2);
    /// returns the Ts of the records forgotten, whose timers the caller cancels. The writer's
    /// version counter is kept: F1 holds across the wipe.
    pub(super) fn wipe(&mut self) -> Vec<Ts> {
        self.store.clear();
        self.multi_records.clear();
        self.blocked_commits.clear();
        self.deferred_acks.clear();
        std::mem::take(&mut self.records).into_keys().collect()
    }

    /// The Ts of `key`'s entry (`Ts::ZERO` if it has none).
    pub(super) fn entry_ts(&self, key: &[u8]) -> Ts {
        self.store.get(key).map_or(Ts::ZERO, |e| e.ts)
    }

    /// Whether `key` is Valid here (a key never written is).
    pub(super) fn is_valid(&self, key: &[u8]) -> bool {
        self.store.get(key).is_none_or(|e| e.valid)
    }
}

/// A key's in-memory state: the latest update applied here, and whether it is known committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) ts: Ts,
    pub(super) valid: bool,
    pub(super) value: Option<Bytes>,
    /// The epoch `ts` committed in, when this node learned it from the commit itself (its own,
    /// or a VAL); not persisted. An RMW's outcome depends on it (protocol.md §11.4).
    pub(super) committed_in: Option<Epoch>,
}

impl Entry {
    pub(super) fn from_stored(e: StoredEntry) -> Entry {
        Entry {
            ts: e.ts,
            valid: e.valid,
            value: e.value,
            committed_in: None,
        }
    }

    pub(super) fn to_stored(&self) -> StoredEntry {
        StoredEntry {
            ts: self.ts,
            valid: self.valid,
            value: self.value.clone(),
        }
    }
}

/// An update this node holds a record of (pending somewhere, or driven by this node).
#[derive(Debug)]
pub(super) struct Record {
    pub(super) update: UpdateRef,
    /// The persist that made the record durable here; the node's own ACK or commit waits for it.
    pub(super) persist_seq: u64,
    /// Present while this node drives the update (coordinator or replayer) and it has not committed.
    pub(super) drive: Option<Drive>,
    /// Known committed here (only the `GuardianLiteralHold` mutant reads it).
    pub(super) committed: bool,
}

impl Record {
    pub(super) fn new(update: UpdateRef, persist_seq: u64, drive: Option<Drive>) -> Record {
        Record {
            update,
            persist_seq,
            drive,
            committed: false,
        }
    }
}

/// Driver-side state of an uncommitted update.
#[derive(Debug)]
pub(super) struct Drive {
    /// Members that acknowledged in the current epoch (reset on every new epoch).
    pub(super) acks: BTreeSet<NodeId>,
    /// The client waiting for the outcome, if this node coordinated it and the client still waits.
    pub(super) client: Option<RequestId>,
}

/// A follower ACK waiting for durability (P1) or for the guardian rule (G), or a NACK of an
/// RMW waiting for durability (§11.2).
#[derive(Debug, Clone)]
pub(super) struct DeferredAck {
    pub(super) to: NodeId,
    pub(super) update: UpdateRef,
    pub(super) after_seq: u64,
    /// A refusal rather than an acknowledgement.
    pub(super) nack: bool,
}
