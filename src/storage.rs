//! What the engine asks its driver to make durable, and what the driver hands back after a restart
//! (protocol.md §4.2).

use crate::timestamp::{BootInc, Epoch, Ts};
use crate::update::{Bytes, UpdateRef};
use serde::{Deserialize, Serialize};

/// One key's durable state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
/// persists.
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
    /// Record the installed epoch.
    Epoch(Epoch),
}

/// Durable state loaded by the driver at start-up and handed to [`crate::Node::new`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// This process's boot incarnation, already bumped past every earlier one **and made
    /// durable** by the driver before the node starts (rule P5).
    pub boot: BootInc,
    /// The last installed epoch (`Epoch(0)` on a fresh disk: the engine starts at epoch 1).
    pub epoch: Epoch,
    /// Every stored key, tombstones included, in any order.
    pub entries: Vec<(Bytes, StoredEntry)>,
    /// Every stored update record.
    pub records: Vec<UpdateRef>,
}
