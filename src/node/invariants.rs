//! The engine's own consistency checks, for tests, the simulator and fuzzers. They state, in
//! both directions, what must always hold between the engine's data structures.

use super::{Node, Timer, Waiting};

impl Node {
    /// Checks the engine's internal invariants; `Err` names the first one broken. Costs a pass
    /// over the key space, so drivers call it in tests, not on a hot path.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_keys_and_records()?;
        self.check_requests()?;
        self.check_timers()?;
        self.check_bookkeeping()
    }

    /// Every keyed timer belongs to something still here, so the timer table stays bounded by
    /// the records and requests the node holds (src/node/timers.rs).
    fn check_timers(&self) -> Result<(), String> {
        self.timers.check_consistent()?;
        for timer in self.timers.armed() {
            let owned = match timer {
                Timer::Retransmit(ts) | Timer::Stuck(ts) => self.replica.records.contains_key(&ts),
                Timer::Deadline(id) => self.requests.contains_key(&id),
                Timer::Heartbeat | Timer::LeaseExpiry | Timer::DelayedAccept => true,
            };
            if !owned {
                return Err(format!("timer {timer:?} outlived what it serves"));
            }
        }
        Ok(())
    }

    fn check_keys_and_records(&self) -> Result<(), String> {
        // Every Invalid key belongs to an update whose full record is here: replays never
        // have to guess a batch's other keys (§4.6, §5.5.2).
        self.replica.store.check_consistent()?;
        for (key, e) in self.replica.store.iter() {
            if !e.valid && !self.replica.records.contains_key(&e.ts) {
                return Err(format!(
                    "key {key:?} is Invalid at {} without its update record",
                    e.ts
                ));
            }
        }
        for (ts, rec) in &self.replica.records {
            if rec.update.ts != *ts || !rec.update.is_canonical() {
                return Err(format!(
                    "record {ts} is filed under the wrong ts or is not canonical"
                ));
            }
            if rec.update.is_multi_key() != self.replica.multi_records.contains(ts) {
                return Err(format!("record {ts} and the multi-key index disagree"));
            }
            let pending = self.has_invalid_key_at(&rec.update, *ts);
            if rec.drive.is_none() && !pending && !self.keeps_committed_records() {
                return Err(format!(
                    "record {ts} is neither driven nor referenced by an Invalid key"
                ));
            }
            if rec.drive.is_some() && !self.replica.blocked_commits.contains(ts) {
                return Err(format!("driven update {ts} is not awaiting its commit"));
            }
        }
        if let Some(ts) = self
            .replica
            .multi_records
            .iter()
            .find(|ts| !self.replica.records.contains_key(ts))
        {
            return Err(format!("multi-key index names a missing record {ts}"));
        }
        if !self
            .replica
            .multi_records
            .consistent(|ts| self.replica.records.get(ts).map(|r| &*r.update))
        {
            return Err("the multi-key index's keys disagree with the records".into());
        }
        Ok(())
    }

    fn check_requests(&self) -> Result<(), String> {
        if self.requests.len() > self.cfg.max_requests {
            return Err(format!(
                "{} requests exceed the bound {}",
                self.requests.len(),
                self.cfg.max_requests
            ));
        }
        let (not_ready, lease, parked) = self.requests.queue_lengths();
        let bound = self.requests.queue_bound();
        if not_ready.max(lease).max(parked) > bound {
            return Err(format!(
                "wait queues ({not_ready} not ready, {lease} lease, {parked} parked) exceed {bound}"
            ));
        }
        for (id, req) in self.requests.iter() {
            if let Waiting::Riding(ts) = &req.waiting {
                let shared = (self.requests.attempt_of(ts))
                    .is_some_and(|(_, a)| a.shares.iter().any(|(s, _)| s == id));
                if !shared {
                    return Err(format!(
                        "request {} rides on {ts}, which no attempt shares with it",
                        id.0
                    ));
                }
            }
            if let Waiting::Commit(ts) = &req.waiting {
                let driven_for = self
                    .replica
                    .records
                    .get(ts)
                    .and_then(|r| r.drive.as_ref())
                    .and_then(|d| d.client);
                if driven_for != Some(*id) {
                    return Err(format!(
                        "request {} waits for {ts}, which is not driven for it",
                        id.0
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_bookkeeping(&self) -> Result<(), String> {
        self.persists.check()?;
        if let Some(d) = self
            .replica
            .deferred_acks
            .iter()
            .find(|d| d.after_seq > self.persists.last_emitted() + 1)
        {
            return Err(format!(
                "an ACK waits for persist {} that will never be emitted",
                d.after_seq
            ));
        }
        if self.ready && !self.is_active_member() {
            return Err("ready without being an Active member".into());
        }
        if self.identity.is_some_and(|i| i.adm > self.view.epoch.0) {
            return Err("identity admitted by a view not yet installed".into());
        }
        Ok(())
    }

    /// Only the literal-hold mutant keeps records of updates no key references.
    fn keeps_committed_records(&self) -> bool {
        self.mutant(crate::mutant::Mutant::GuardianLiteralHold)
    }
}
