//! The key store: every key's newest timestamp, validity and value, in memory.
//!
//! Entries are found through a [`HashIndex`] (point lookups dominate the data path: several
//! per key per write on every node). Key order is kept beside it in a `BTreeSet` of the same
//! shared key bytes, touched only when a key appears or disappears, for range reads, snapshot
//! transfer and inspection: every ordered walk goes through it, never through the hash index.

use super::hash_index::{HashIndex, HashKeys};
use super::Entry;
use crate::update::Bytes;
use std::collections::BTreeSet;
use std::ops::Bound;

/// Keys to entries, found by hash and walked in key order.
#[derive(Debug)]
pub(super) struct KeyStore {
    /// Every key's entry.
    by_key: HashIndex<Entry>,
    /// The same keys, in order. Invariant: exactly the keys of `by_key`.
    order: BTreeSet<Bytes>,
}

impl KeyStore {
    /// An empty store whose hash index uses `keys`.
    pub(super) fn new(keys: HashKeys) -> Self {
        KeyStore {
            by_key: HashIndex::new(keys),
            order: BTreeSet::new(),
        }
    }

    pub(super) fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.by_key.get(key)
    }

    pub(super) fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.by_key.get_mut(key)
    }

    /// Sets `key`'s entry, adding the key if it is new.
    pub(super) fn insert(&mut self, key: Bytes, entry: Entry) {
        if self.by_key.insert(key.clone(), entry).is_none() {
            self.order.insert(key);
        }
        debug_assert_eq!(self.order.len(), self.by_key.len(), "key order lost a key");
    }

    /// Only the physical-deletes mutant forgets keys (tombstones are kept, protocol.md §5.4).
    pub(super) fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let entry = self.by_key.remove(key)?;
        let was_ordered = self.order.remove(key);
        debug_assert!(was_ordered, "an indexed key was missing from the key order");
        Some(entry)
    }

    pub(super) fn clear(&mut self) {
        self.by_key.clear();
        self.order.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Replaces the contents with `entries` (of equal keys the last wins), built in bulk:
    /// recovery loads millions of keys at once. Drivers hand them in sorted, so the stable sort
    /// is linear and `collect` builds the ordered set from sorted input in linear time.
    pub(super) fn load(&mut self, entries: impl IntoIterator<Item = (Bytes, Entry)>) {
        let mut entries: Vec<(Bytes, Entry)> = entries.into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.order = entries.iter().map(|(k, _)| k.clone()).collect();
        self.by_key.clear();
        self.by_key.reserve(self.order.len());
        // In input order within a run of equal keys, so the last one wins.
        for (key, entry) in entries {
            self.by_key.insert(key, entry);
        }
    }

    /// Entries with keys in `bounds`, in key order.
    pub(super) fn range<'a>(
        &'a self,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
    ) -> impl Iterator<Item = (&'a Bytes, &'a Entry)> + 'a {
        // `order` and `by_key` hold the same keys (checked by `check_consistent`), so the
        // lookup always succeeds; a miss would be skipped, never a panic.
        self.order
            .range::<[u8], _>(bounds)
            .filter_map(|k| self.by_key.get(k).map(|e| (k, e)))
    }

    /// Every entry, in key order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&Bytes, &Entry)> + '_ {
        self.range((Bound::Unbounded, Bound::Unbounded))
    }

    /// Test hook: indexes `key` without ordering it, to show the consistency check fails.
    #[cfg(test)]
    pub(super) fn index_only_for_test(&mut self, key: Bytes, entry: Entry) {
        self.by_key.insert(key, entry);
    }

    /// Whether the hash index and the ordered keys agree (for the invariant checks).
    pub(super) fn check_consistent(&self) -> Result<(), String> {
        if self.order.len() != self.by_key.len() {
            return Err(format!(
                "key store: {} ordered keys but {} indexed entries",
                self.order.len(),
                self.by_key.len()
            ));
        }
        match self.order.iter().find(|k| !self.by_key.contains_key(k)) {
            Some(k) => Err(format!("key store: ordered key {k:?} has no entry")),
            None => Ok(()),
        }
    }
}
