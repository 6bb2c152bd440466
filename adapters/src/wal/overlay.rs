//! The net effect of the persists logged since the last checkpoint.
//!
//! A checkpoint writes this to LMDB in one transaction instead of replaying every op: a key
//! written and then validated becomes one put of a Valid entry; an update record stored and
//! dropped again before the checkpoint never reaches LMDB at all. That is where most of the
//! write amplification of the old one-transaction-per-group design goes away.
//!
//! The maps are hash maps: the log thread folds every persist in, and a hash insert is several
//! times cheaper than a B-tree insert over hundreds of thousands of keys (the profile of a
//! 64-client SET run showed the B-tree's key comparisons at a third of the log thread's CPU).
//! Order is restored once, when a checkpoint sorts what it writes ([`Overlay::sorted_entries`]).
//!
//! The invariant (tested against [`MemDisk`] below): for any base state `B` and op sequence
//! `ops`, applying `ops` one by one to `B` gives the same state as applying
//! `Overlay::from(ops)` to `B`.

use level2pc::{AcceptorRecord, Bytes, Epoch, Identity, MemDisk, PersistOp, Ts, UpdateRef, View};
use std::collections::{BTreeMap, HashMap};

/// What happened to one key since the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryChange {
    /// It was written (last write wins; later validations already applied).
    Put(level2pc::StoredEntry),
    /// It was only validated: mark the checkpointed entry Valid if it is at one of these Ts.
    Validate(Vec<Ts>),
}

/// The net effect of a run of persist ops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overlay {
    /// A `Wipe` happened: clear the checkpointed entries and records first.
    pub wipe: bool,
    /// Changed keys.
    pub entries: HashMap<Bytes, EntryChange>,
    /// Update records stored (`Some`) or dropped (`None`).
    pub records: HashMap<Ts, Option<UpdateRef>>,
    /// Forget checkpointed acceptor state of instances up to this epoch (a view settled them).
    pub drop_acceptor_upto: Option<Epoch>,
    /// Acceptor state written, after that drop.
    pub acceptor: BTreeMap<Epoch, AcceptorRecord>,
    /// The last view written.
    pub view: Option<View>,
    /// The last identity written.
    pub identity: Option<Option<Identity>>,
}

impl Overlay {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == Overlay::default()
    }

    /// Folds the ops of one persist in.
    pub fn apply(&mut self, ops: &[PersistOp]) {
        for op in ops {
            self.apply_op(op);
        }
    }

    fn apply_op(&mut self, op: &PersistOp) {
        match op {
            PersistOp::Entry { key, entry } => {
                self.entries
                    .insert(key.clone(), EntryChange::Put(entry.clone()));
            }
            PersistOp::Validate { key, ts } => self.validate(key, *ts),
            PersistOp::Record(update) => {
                self.records.insert(update.ts, Some(update.clone()));
            }
            PersistOp::DropRecord(ts) => {
                self.records.insert(*ts, None);
            }
            PersistOp::View(view) => {
                self.acceptor.retain(|e, _| *e > view.epoch);
                self.drop_acceptor_upto = self.drop_acceptor_upto.max(Some(view.epoch));
                self.view = Some(view.clone());
            }
            PersistOp::Acceptor(record) => {
                self.acceptor.insert(record.instance, record.clone());
            }
            PersistOp::Identity(identity) => self.identity = Some(*identity),
            PersistOp::Wipe => {
                self.wipe = true;
                self.entries.clear();
                self.records.clear();
            }
        }
    }

    fn validate(&mut self, key: &Bytes, ts: Ts) {
        match self.entries.get_mut(key) {
            Some(EntryChange::Put(entry)) => {
                if entry.ts == ts {
                    entry.valid = true;
                }
            }
            Some(EntryChange::Validate(tss)) => {
                if !tss.contains(&ts) {
                    tss.push(ts);
                }
            }
            // After a wipe the checkpointed entry is gone: nothing to validate.
            None if self.wipe => {}
            None => {
                self.entries
                    .insert(key.clone(), EntryChange::Validate(vec![ts]));
            }
        }
    }

    /// The changed keys in key order (how LMDB likes its inserts).
    pub fn sorted_entries(&self) -> Vec<(&Bytes, &EntryChange)> {
        let mut entries: Vec<_> = self.entries.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        entries
    }

    /// The record changes in timestamp order.
    pub fn sorted_records(&self) -> Vec<(&Ts, &Option<UpdateRef>)> {
        let mut records: Vec<_> = self.records.iter().collect();
        records.sort_unstable_by(|a, b| a.0.cmp(b.0));
        records
    }

    /// Applies the net effect to an in-memory state (the tests' reference).
    pub fn apply_to(&self, disk: &mut MemDisk) {
        if self.wipe {
            disk.entries.clear();
        }
        for (key, change) in &self.entries {
            match change {
                EntryChange::Put(entry) => {
                    disk.entries.insert(key.clone(), entry.clone());
                }
                EntryChange::Validate(tss) => {
                    if let Some(e) = disk.entries.get_mut(key).filter(|e| tss.contains(&e.ts)) {
                        e.valid = true;
                    }
                }
            }
        }
        self.apply_except_entries(disk);
    }

    /// Applies everything but the entry changes (recovery merges those as sorted lists).
    pub fn apply_except_entries(&self, disk: &mut MemDisk) {
        if self.wipe {
            disk.records.clear();
        }
        for (ts, record) in &self.records {
            match record {
                Some(update) => disk.records.insert(*ts, update.clone()),
                None => disk.records.remove(ts),
            };
        }
        if let Some(upto) = self.drop_acceptor_upto {
            disk.acceptor.retain(|e, _| *e > upto);
        }
        for (epoch, record) in &self.acceptor {
            disk.acceptor.insert(*epoch, record.clone());
        }
        if let Some(view) = &self.view {
            disk.view = Some(view.clone());
        }
        if let Some(identity) = self.identity {
            disk.identity = identity;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use level2pc::{Ballot, BootInc, NodeId, StoredEntry, Update, Write};
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;

    /// A random op over a tiny key and ts space, so that ops collide often.
    pub(crate) fn random_op(rng: &mut impl Rng) -> PersistOp {
        let key = |rng: &mut dyn rand::RngCore| -> Bytes {
            Bytes::from(&[b'a' + rng.gen_range(0..3u8)][..])
        };
        let ts = |rng: &mut dyn rand::RngCore| Ts::new(rng.gen_range(1..5), NodeId(1), BootInc(1));
        match rng.gen_range(0..20) {
            0..=5 => PersistOp::Entry {
                key: key(rng),
                entry: StoredEntry {
                    ts: ts(rng),
                    valid: rng.gen_bool(0.3),
                    value: rng
                        .gen_bool(0.8)
                        .then(|| Bytes::from(&[rng.gen::<u8>()][..])),
                },
            },
            6..=9 => PersistOp::Validate {
                key: key(rng),
                ts: ts(rng),
            },
            10..=12 => {
                let ts = ts(rng);
                let writes = vec![Write {
                    key: key(rng),
                    value: None,
                }];
                PersistOp::Record(Arc::new(Update {
                    ts,
                    writes,
                    base: None,
                }))
            }
            13..=14 => PersistOp::DropRecord(ts(rng)),
            15 => PersistOp::View(View::initial(Epoch(rng.gen_range(1..5)), &[NodeId(1)])),
            16..=17 => {
                let e = rng.gen_range(1..5);
                let ballot = Ballot {
                    round: rng.gen_range(1..4),
                    node: NodeId(1),
                };
                PersistOp::Acceptor(AcceptorRecord {
                    instance: Epoch(e),
                    promised: ballot,
                    accepted: None,
                })
            }
            18 => PersistOp::Identity(rng.gen_bool(0.5).then_some(Identity {
                adm: rng.gen_range(1..4),
                transfer_done: rng.gen(),
            })),
            _ => PersistOp::Wipe,
        }
    }

    /// Up to 40 random ops and a random point to split them at: what came before a
    /// checkpoint, and what an overlay holds after it.
    pub(crate) fn random_ops_and_split(seed: u64) -> (Vec<PersistOp>, usize) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let ops: Vec<PersistOp> = (0..rng.gen_range(0..40))
            .map(|_| random_op(&mut rng))
            .collect();
        let split = rng.gen_range(0..=ops.len());
        (ops, split)
    }

    #[test]
    fn the_net_effect_equals_applying_every_op_in_order() {
        for seed in 0..3_000u64 {
            let (ops, split) = random_ops_and_split(seed);
            let mut expected = MemDisk::default();
            expected.apply(&ops);
            let mut base = MemDisk::default();
            base.apply(&ops[..split]);
            let mut overlay = Overlay::default();
            for op in &ops[split..] {
                overlay.apply(std::slice::from_ref(op));
            }
            overlay.apply_to(&mut base);
            assert_eq!(base, expected, "seed {seed}: {:?}", &ops[split..]);
        }
    }

    #[test]
    fn a_stored_then_dropped_record_leaves_only_a_delete() {
        let update = Arc::new(Update {
            ts: Ts::new(1, NodeId(1), BootInc(1)),
            writes: vec![],
            base: None,
        });
        let mut overlay = Overlay::default();
        overlay.apply(&[
            PersistOp::Record(update.clone()),
            PersistOp::DropRecord(update.ts),
        ]);
        assert_eq!(overlay.records.get(&update.ts), Some(&None));
    }
}
