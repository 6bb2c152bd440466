//! Local reads (protocol.md §4.7): answered in the same step that finds every key they touch
//! Valid, so the answer is a consistent cut at that instant; otherwise parked on the first
//! non-Valid key.

use super::Node;
use crate::client::{Op, OpResult, RequestId};
use crate::timestamp::Ts;
use crate::update::Bytes;
use std::ops::Bound;

impl Node {
    /// Answers read `id` if it can be answered now, else parks it.
    pub(super) fn try_read(&mut self, id: RequestId) {
        if !self.may_serve_reads() {
            self.park_for_lease(id);
            return;
        }
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let outcome = match &req.op {
            Op::Get { key } => self
                .read_keys(std::slice::from_ref(key))
                .map(|mut v| OpResult::Value(v.pop().flatten())),
            Op::GetMany { keys } => self.read_keys(keys).map(OpResult::Values),
            Op::Versions { keys } => self.read_versions(keys).map(OpResult::Versions),
            Op::Range { lo, hi, limit } => {
                let limit = limit
                    .unwrap_or(self.cfg.max_range_entries)
                    .min(self.cfg.max_range_entries);
                self.read_range(lo, hi, limit).map(OpResult::Entries)
            }
            _ => return,
        };
        match outcome {
            Ok(result) => self.reply(id, result),
            Err(key) => self.park(id, key),
        }
    }

    /// Reads need an Active membership and a valid lease (§4.7), checked in the same step.
    pub(super) fn may_serve_reads(&self) -> bool {
        if self.mutant(crate::mutant::Mutant::JoiningServesReads)
            && self.view.role(self.cfg.id) == Some(crate::view::Role::Joining)
        {
            return true;
        }
        self.lease_valid()
    }

    /// Whether the `ReadNonValid` mutant is on (never, in a normal build).
    fn ignores_validity(&self) -> bool {
        self.mutant(crate::mutant::Mutant::ReadNonValid)
    }

    /// The values of `keys`, or the first key that is not Valid.
    fn read_keys(&self, keys: &[Bytes]) -> Result<Vec<Option<Bytes>>, Bytes> {
        keys.iter()
            .map(|k| match self.replica.store.get(k) {
                None => Ok(None),
                Some(e) if e.valid || self.ignores_validity() => Ok(e.value.clone()),
                Some(_) => Err(k.clone()),
            })
            .collect()
    }

    /// The versions of `keys` (`Ts::ZERO`: never written), or the first key that is not Valid.
    fn read_versions(&self, keys: &[Bytes]) -> Result<Vec<Ts>, Bytes> {
        keys.iter()
            .map(|k| match self.replica.store.get(k) {
                None => Ok(Ts::ZERO),
                Some(e) if e.valid || self.ignores_validity() => Ok(e.ts),
                Some(_) => Err(k.clone()),
            })
            .collect()
    }

    /// The first `limit` live entries in `[lo, hi)`, or the first entry up to there (tombstones
    /// and pending inserts included) that is not Valid.
    fn read_range(
        &self,
        lo: &Bytes,
        hi: &Bytes,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>, Bytes> {
        let mut out = Vec::new();
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (Bound::Included(lo), Bound::Excluded(hi));
        for (k, e) in self.replica.store.range(bounds) {
            if out.len() >= limit {
                break;
            }
            if !e.valid && !self.ignores_validity() {
                return Err(k.clone());
            }
            if let Some(v) = &e.value {
                out.push((k.clone(), v.clone()));
            }
        }
        Ok(out)
    }
}
