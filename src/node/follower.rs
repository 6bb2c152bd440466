//! The follower side of an update: applying an INV, acknowledging it once durable and allowed
//! by the guardian rule, refusing a read-modify-write that conflicts, and validating on VAL
//! (protocol.md §4.5, §11.2).

use super::{DeferredAck, Node, Timer};
use crate::message::Message;
use crate::mutant::Mutant;
use crate::timestamp::{Epoch, NodeId, Ts};
use crate::update::{Update, UpdateRef};

impl Node {
    /// `Inv{epoch, update}` from `from`.
    pub(super) fn on_inv(&mut self, from: NodeId, epoch: Epoch, update: UpdateRef) {
        if epoch != self.view.epoch {
            return; // epoch fencing: the sender retransmits in the right epoch
        }
        if !update.is_canonical()
            || update.ts == Ts::ZERO
            || update.ts.version > Ts::MAX_VERSION
            || !self.cfg.writes_fit(&update.writes)
        {
            // A peer's client writes pass the same limits there: only a misconfigured or hostile
            // peer sends more, and storing it could exceed what the store accepts (LMDB keys are
            // at most 511 bytes) and stop the node.
            return; // not something any correct peer sends
        }
        if self.refuses_rmw(&update) {
            self.defer_reply(from, update, true);
            return;
        }
        let ts = update.ts;
        // The literal-hold mutant keeps every applied INV's record, even a late duplicate's.
        let adopted = self.apply_update(&update) || self.mutant(Mutant::GuardianLiteralHold);
        if adopted && !self.replica.records.contains_key(&ts) {
            let seq = self.persists.barrier();
            self.insert_record(update.clone(), seq, None);
            let at = self.stuck_deadline();
            self.set_timer(at, Timer::Stuck(ts));
        }
        // Always acknowledge (Hermes: "irrelevant to the timestamp"), but only once every persist
        // so far is durable, which covers this INV's effect and any earlier one on its keys (P1).
        self.defer_reply(from, update, false);
    }

    /// §11.2: whether this node refuses the RMW `update`: its entry lies above the RMW's base
    /// and is not the RMW itself, unless it is a lower, uncommitted RMW (which the higher one
    /// supersedes). Writes are never refused.
    fn refuses_rmw(&self, update: &Update) -> bool {
        let (Some(base), Some(w)) = (update.base, update.writes.first()) else {
            return false;
        };
        let (local, valid) = self
            .replica
            .store
            .get(&w.key)
            .map_or((Ts::ZERO, true), |e| (e.ts, e.valid));
        if local == update.ts || local <= base {
            return false;
        }
        if self.mutant(Mutant::RmwHermesTimestamps) {
            return local > update.ts;
        }
        // Refused unless it supersedes a lower RMW not known committed here.
        local > update.ts || valid
    }

    /// Queues the ACK (or, with `nack`, the refusal) of `update` to `from`, sent once every
    /// persist staged so far is durable; ACKs also wait for the guardian rule.
    fn defer_reply(&mut self, from: NodeId, update: UpdateRef, nack: bool) {
        let after_seq = self.persists.barrier();
        let ts = update.ts;
        if !self
            .replica
            .deferred_acks
            .iter()
            .any(|d| d.to == from && d.update.ts == ts && d.nack == nack)
        {
            self.replica.deferred_acks.push(DeferredAck {
                to: from,
                update,
                after_seq,
                nack,
            });
        }
    }

    /// `Val{ts}` sent in `epoch`: the update committed there; validate keys still at `ts`.
    /// Accepted from any epoch, since a commit is a fact.
    pub(super) fn on_val(&mut self, ts: Ts, epoch: Epoch) {
        self.learn_committed(ts, Some(epoch));
    }

    /// Sends every deferred ACK whose persist is durable and which the guardian rule allows,
    /// and every deferred NACK whose persist is durable. Returns whether any was sent.
    pub(super) fn release_deferred_acks(&mut self) -> bool {
        if self.replica.deferred_acks.is_empty() {
            return false;
        }
        let mut sent = Vec::new();
        let mut kept = Vec::with_capacity(self.replica.deferred_acks.len());
        for d in std::mem::take(&mut self.replica.deferred_acks) {
            let durable =
                self.persists.is_durable(d.after_seq) || self.mutant(Mutant::AckBeforePersist);
            if durable && (d.nack || self.guardian_allows(&d.update)) {
                sent.push((d.to, d.update.ts, d.nack));
            } else {
                kept.push(d);
            }
        }
        self.replica.deferred_acks = kept;
        let epoch = self.view.epoch;
        let any = !sent.is_empty();
        for (to, ts, nack) in sent {
            let msg = if nack {
                Message::Nack { epoch, ts }
            } else {
                self.requests.note_acknowledged(ts);
                Message::Ack { epoch, ts }
            };
            self.send(to, msg);
        }
        any
    }
}
