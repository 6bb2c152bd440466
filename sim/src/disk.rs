//! The simulated disk: what a node has made durable, and the persists still in flight.
//!
//! A `Persist` completes after a random fsync delay, in emission order. A crash loses every
//! persist that has not completed; a completed one is all-or-nothing (one LMDB transaction).

use level2pc::{BootInc, Bytes, Epoch, PersistOp, Recovered, StoredEntry, Ts, UpdateRef};
use std::collections::BTreeMap;

/// One node's durable state.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// The last boot incarnation made durable.
    pub boot: u64,
    /// How many times the disk was lost (folded into the boot incarnation, so Ts stay unique).
    pub losses: u64,
    /// Installed epoch.
    pub epoch: Epoch,
    /// Durable entries.
    pub entries: BTreeMap<Bytes, StoredEntry>,
    /// Durable update records.
    pub records: BTreeMap<Ts, UpdateRef>,
}

impl Disk {
    /// Applies one completed persist.
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
                PersistOp::Epoch(e) => self.epoch = *e,
            }
        }
    }

    /// Bumps and "fsyncs" the boot incarnation, then hands the node its recovered state (P5).
    pub fn recover(&mut self) -> Recovered {
        self.boot += 1;
        Recovered {
            boot: BootInc((self.losses << 20) | self.boot),
            epoch: self.epoch,
            entries: self.entries.iter().map(|(k, e)| (k.clone(), e.clone())).collect(),
            records: self.records.values().cloned().collect(),
        }
    }

    /// Loses everything but the count of losses and boots (the incarnation stays unique).
    pub fn lose(&mut self) {
        *self = Disk { boot: self.boot, losses: self.losses + 1, ..Disk::default() };
    }

    /// A key's durable timestamp (`Ts::ZERO` if absent).
    pub fn ts_of(&self, key: &[u8]) -> Ts {
        self.entries.get(key).map_or(Ts::ZERO, |e| e.ts)
    }
}
