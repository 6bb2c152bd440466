//! A map from key bytes to `V` for point operations only, hashed with secret keys.
//!
//! The engine's hot paths look keys up several times per write on every node. An ordered tree
//! costs `log2(n)` byte-string comparisons per lookup, and keys with a long common prefix (the
//! usual `user:000123…`) make each comparison a full `memcmp`: with a million keys that was a
//! third of a node's CPU under MSET. A hash map costs one hash.
//!
//! Purity (crate docs): this type offers no iteration, so a hash map's arbitrary order cannot
//! reach behaviour; the purity test checks that this file never iterates its map. The hash is
//! SipHash-1-3 keyed from the node's seed (which the real node draws from the operating
//! system): clients choose the keys, and with public hash keys they could choose colliding
//! ones and turn every lookup into a scan.

use crate::update::Bytes;
use siphasher::sip::SipHasher13;
use std::collections::hash_map::{Entry, HashMap};
use std::hash::BuildHasher;

/// The secret keys of a [`HashIndex`]'s hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HashKeys {
    pub(super) k0: u64,
    pub(super) k1: u64,
}

impl BuildHasher for HashKeys {
    type Hasher = SipHasher13;

    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }
}

/// Key bytes to `V`, for point operations; never iterated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HashIndex<V> {
    map: HashMap<Bytes, V, HashKeys>,
}

impl<V> HashIndex<V> {
    pub(super) fn new(keys: HashKeys) -> Self {
        HashIndex {
            map: HashMap::with_hasher(keys),
        }
    }

    pub(super) fn get(&self, key: &[u8]) -> Option<&V> {
        self.map.get(key)
    }

    pub(super) fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    pub(super) fn contains_key(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Sets `key`'s value, returning the one it replaces.
    pub(super) fn insert(&mut self, key: Bytes, value: V) -> Option<V> {
        self.map.insert(key, value)
    }

    pub(super) fn remove(&mut self, key: &[u8]) -> Option<V> {
        self.map.remove(key)
    }

    /// `key`'s value, inserting `V::default()` first if it has none.
    pub(super) fn get_or_default(&mut self, key: Bytes) -> &mut V
    where
        V: Default,
    {
        match self.map.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(V::default()),
        }
    }

    pub(super) fn clear(&mut self) {
        self.map.clear();
    }

    pub(super) fn reserve(&mut self, additional: usize) {
        self.map.reserve(additional);
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The hash keys, for building another index that compares equal to this one.
    pub(super) fn hash_keys(&self) -> HashKeys {
        *self.map.hasher()
    }
}
