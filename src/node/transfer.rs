//! State transfer to a Joining member (protocol.md §8.2): snapshot chunks, in key order, from an
//! Active donor, with tombstones and the full update record of every pending entry.
//!
//! The joiner is in the write-ack set from its admission epoch on, so it cannot miss an update
//! that commits after it joined; the donor's state holds every update committed before, because
//! each needed the donor's ACK. The joiner starts from an empty store (pre-join state is
//! wiped), so the merge rule reduces to: keep the higher ts per key; equal ts with the donor
//! Valid makes the key Valid.

use super::{Node, Timer};
use crate::message::Message;
use crate::storage::{PersistOp, StoredEntry};
use crate::time::Instant;
use crate::timestamp::{Epoch, NodeId};
use crate::update::{Bytes, UpdateRef};
use crate::view::Role;
use std::ops::Bound;

/// Joiner-side progress.
#[derive(Debug)]
pub(super) struct Transfer {
    /// Where the next chunk starts (`None` = the beginning).
    next: Option<Bytes>,
    /// Which donor (index into the Active members other than this node) to ask.
    donor: usize,
    last_request: Instant,
}

impl Node {
    pub(super) fn start_transfer(&mut self) {
        self.transfer = Some(Transfer {
            next: None,
            donor: 0,
            last_request: self.now,
        });
        if self.mutant(crate::mutant::Mutant::PromoteBeforeTransfer) {
            if let Some(id) = self.identity.as_mut() {
                id.transfer_done = true; // asks for promotion before it has the data
            }
        }
        self.request_chunk();
    }

    fn adm_epoch(&self) -> Option<Epoch> {
        self.identity.map(|i| Epoch(i.adm))
    }

    fn request_chunk(&mut self) {
        let me = self.cfg.id;
        let donors: Vec<NodeId> = self
            .view
            .active()
            .map(|m| m.node)
            .filter(|&n| n != me)
            .collect();
        let (Some(t), Some(epoch)) = (self.transfer.as_mut(), self.identity.map(|i| Epoch(i.adm)))
        else {
            return;
        };
        if donors.is_empty() {
            return;
        }
        t.last_request = self.now;
        let donor = donors[t.donor % donors.len()];
        let from = t.next.clone();
        self.send(donor, Message::SnapReq { epoch, from });
    }

    /// A donor that stays silent is replaced by the next Active member.
    pub(super) fn retry_transfer(&mut self) {
        let timeout_ns = self.cfg.retransmit_ms * 8 * 1_000_000;
        let now = self.now;
        let Some(t) = self.transfer.as_mut() else {
            return;
        };
        if now.saturating_ns_since(t.last_request) < timeout_ns {
            return;
        }
        t.donor += 1;
        self.request_chunk();
    }

    /// Donor side: serve a chunk if this node is Active and has installed the joiner's epoch.
    pub(super) fn on_snap_req(&mut self, from: NodeId, epoch: Epoch, start: Option<Bytes>) {
        if !self.is_active_member() || self.view.epoch < epoch || !self.view.contains(from) {
            return;
        }
        let lo: Bound<&[u8]> = start.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let mut range = self.replica.store.range((lo, Bound::Unbounded));
        let mut entries = Vec::new();
        let mut records: Vec<UpdateRef> = Vec::new();
        // Bounded by entries and by bytes, checked before each entry is taken: large values
        // make small chunks (at least one entry), so a chunk exceeds `snapshot_chunk_bytes` by
        // at most one entry and its record, whatever the values.
        let mut bytes = 0usize;
        while entries.len() < self.cfg.snapshot_chunk_entries
            && (entries.is_empty() || bytes < self.cfg.snapshot_chunk_bytes)
        {
            let Some((k, e)) = range.next() else {
                break;
            };
            bytes += entry_bytes(k, e.value.as_ref());
            entries.push((k.clone(), e.to_stored()));
            if !e.valid {
                if let Some(r) = self
                    .replica
                    .records
                    .get(&e.ts)
                    .filter(|_| !records.iter().any(|u| u.ts == e.ts))
                {
                    bytes += (r.update.writes.iter())
                        .map(|w| entry_bytes(&w.key, w.value.as_ref()))
                        .sum::<usize>();
                    records.push(r.update.clone());
                }
            }
        }
        let next = range.next().map(|(k, _)| k.clone());
        drop(range);
        self.send(
            from,
            Message::SnapChunk {
                epoch,
                from: start,
                entries,
                records,
                next,
            },
        );
    }

    /// Joiner side: merge a chunk, then ask for the next or report completion.
    pub(super) fn on_snap_chunk(
        &mut self,
        epoch: Epoch,
        start: Option<Bytes>,
        entries: Vec<(Bytes, StoredEntry)>,
        records: Vec<UpdateRef>,
        next: Option<Bytes>,
    ) {
        let expected = self.transfer.as_ref().map(|t| &t.next);
        if Some(epoch) != self.adm_epoch()
            || expected != Some(&start)
            || self.view.role(self.cfg.id) != Some(Role::Joining)
        {
            return; // stale or duplicate chunk
        }
        let entries_fit = (entries.iter()).all(|(k, e)| self.cfg.fits(k, e.value.as_deref()));
        if !entries_fit || !records.iter().all(|u| self.cfg.writes_fit(&u.writes)) {
            return; // beyond this node's limits: a misconfigured or hostile donor
        }
        for (key, entry) in entries {
            self.merge_entry(key, entry, &records);
        }
        match next {
            Some(k) => {
                if let Some(t) = self.transfer.as_mut() {
                    t.next = Some(k);
                }
                self.request_chunk();
            }
            None => self.finish_transfer(),
        }
    }

    /// The merge rule (§8.2 step 4) for one donor entry.
    fn merge_entry(&mut self, key: Bytes, donor: StoredEntry, records: &[UpdateRef]) {
        let local = self.replica.store.get(&key).map(|e| (e.ts, e.valid));
        match local {
            Some((ts, _)) if ts > donor.ts => {}
            Some((ts, valid)) if ts == donor.ts => {
                if donor.valid && !valid {
                    self.validate_key(&key, ts, None);
                    self.maybe_drop_record(ts);
                }
            }
            _ => {
                if !donor.valid && !self.replica.records.contains_key(&donor.ts) {
                    // A pending entry travels with its full record; without it, skip the entry
                    // (never hold a pending key whose batch we cannot replay whole).
                    let Some(u) = records.iter().find(|u| u.ts == donor.ts) else {
                        return;
                    };
                    let seq = self.persists.barrier();
                    self.insert_record(u.clone(), seq, None);
                    let at = self.stuck_deadline();
                    self.set_timer(at, Timer::Stuck(donor.ts));
                }
                let old = local.map(|l| l.0);
                self.persists.stage(PersistOp::Entry {
                    key: key.clone(),
                    entry: donor.clone(),
                });
                self.replica
                    .store
                    .insert(key, super::Entry::from_stored(donor));
                if let Some(old) = old {
                    self.maybe_drop_record(old);
                }
            }
        }
    }

    fn finish_transfer(&mut self) {
        self.transfer = None;
        if let Some(id) = self.identity.as_mut() {
            id.transfer_done = true;
        }
        self.persists.stage(PersistOp::Identity(self.identity));
        self.transfer_done_seq = self.persists.barrier();
        self.asks.last_ask = None;
    }
}

/// What one key and value add to a chunk: their bytes plus a bound on the encoding's overhead
/// (timestamp, flags, lengths).
fn entry_bytes(key: &[u8], value: Option<&Bytes>) -> usize {
    key.len() + value.map_or(0, |v| v.len()) + 32
}
