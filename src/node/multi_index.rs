//! The multi-key update records a node holds, indexed by timestamp and by key, so the guardian
//! rule (protocol.md §5.3) looks only at records that share a key with the update it judges.
//!
//! Without the key index every ACK and commit decision scanned every lower multi-key record
//! and merged key lists with it: with 64 clients running 10-key batches that scan was the
//! largest cost of the whole node (two fifths of its CPU in key comparisons).

use super::hash_index::{HashIndex, HashKeys};
use crate::timestamp::Ts;
use crate::update::Update;
use std::collections::BTreeSet;

/// Timestamps of multi-key records, by themselves and under each of their keys.
#[derive(Debug)]
pub(super) struct MultiIndex {
    all: BTreeSet<Ts>,
    by_key: HashIndex<BTreeSet<Ts>>,
}

impl MultiIndex {
    /// An empty index whose key index hashes with `keys`.
    pub(super) fn new(keys: HashKeys) -> Self {
        MultiIndex {
            all: BTreeSet::new(),
            by_key: HashIndex::new(keys),
        }
    }

    /// Files `update` if it writes more than one key.
    pub(super) fn insert(&mut self, update: &Update) {
        if !update.is_multi_key() || !self.all.insert(update.ts) {
            return;
        }
        for w in &update.writes {
            self.by_key.get_or_default(w.key.clone()).insert(update.ts);
        }
    }

    /// Forgets `update`.
    pub(super) fn remove(&mut self, update: &Update) {
        if !self.all.remove(&update.ts) {
            return;
        }
        for w in &update.writes {
            if let Some(set) = self.by_key.get_mut(&w.key) {
                set.remove(&update.ts);
                if set.is_empty() {
                    self.by_key.remove(&w.key);
                }
            }
        }
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.all.clear();
        self.by_key.clear();
    }

    /// Whether `ts` is filed.
    pub(super) fn contains(&self, ts: &Ts) -> bool {
        self.all.contains(ts)
    }

    /// Every filed timestamp, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Ts> + '_ {
        self.all.iter()
    }

    /// The filed records below `update`'s timestamp that share a key with it, each once, in
    /// timestamp order.
    pub(super) fn overlapping_below(&self, update: &Update) -> BTreeSet<Ts> {
        let mut found = BTreeSet::new();
        for w in &update.writes {
            if let Some(set) = self.by_key.get(&w.key) {
                found.extend(set.range(..update.ts).copied());
            }
        }
        found
    }

    /// Whether the key index files exactly the keys of the records in `all` (for the engine's
    /// invariant checks): `keys_of(ts)` gives a record's keys.
    pub(super) fn consistent<'a>(&self, keys_of: impl Fn(&Ts) -> Option<&'a Update>) -> bool {
        let mut expected: HashIndex<BTreeSet<Ts>> = HashIndex::new(self.by_key.hash_keys());
        for ts in &self.all {
            let Some(update) = keys_of(ts) else {
                return false;
            };
            for w in &update.writes {
                expected.get_or_default(w.key.clone()).insert(*ts);
            }
        }
        expected == self.by_key
    }
}
