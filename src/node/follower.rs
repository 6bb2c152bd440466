//! The follower side of an update: applying an INV, acknowledging it once durable and allowed
//! by the guardian rule, and validating on VAL (protocol.md §4.5).

use super::{DeferredAck, Node, Timer};
use crate::message::Message;
use crate::timestamp::{Epoch, NodeId, Ts};
use crate::update::UpdateRef;

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
        let ts = update.ts;
        // The literal-hold mutant keeps every applied INV's record, even a late duplicate's.
        let adopted =
            self.apply_update(&update) || self.mutant(crate::mutant::Mutant::GuardianLiteralHold);
        if adopted && !self.records.contains_key(&ts) {
            let seq = self.persists.barrier();
            self.insert_record(update.clone(), seq, None);
            let at = self.stuck_deadline();
            self.set_timer(at, Timer::Stuck(ts));
        }
        // Always acknowledge (Hermes: "irrelevant to the timestamp"), but only once every persist
        // so far is durable, which covers this INV's effect and any earlier one on its keys (P1).
        let after_seq = self.persists.barrier();
        if !self
            .deferred_acks
            .iter()
            .any(|d| d.to == from && d.update.ts == ts)
        {
            self.deferred_acks.push(DeferredAck {
                to: from,
                update,
                after_seq,
            });
        }
    }

    /// `Val{ts}`: the update committed somewhere; validate keys still at `ts`. Accepted from any
    /// epoch, since a commit is a fact.
    pub(super) fn on_val(&mut self, ts: Ts) {
        self.learn_committed(ts);
    }

    /// Sends every deferred ACK whose persist is durable and which the guardian rule allows.
    /// Returns whether any was sent.
    pub(super) fn release_deferred_acks(&mut self) -> bool {
        if self.deferred_acks.is_empty() {
            return false;
        }
        let mut sent = Vec::new();
        let mut kept = Vec::with_capacity(self.deferred_acks.len());
        for d in std::mem::take(&mut self.deferred_acks) {
            let durable = self.persists.is_durable(d.after_seq)
                || self.mutant(crate::mutant::Mutant::AckBeforePersist);
            if durable && self.guardian_allows(&d.update) {
                sent.push((d.to, d.update.ts));
            } else {
                kept.push(d);
            }
        }
        self.deferred_acks = kept;
        let epoch = self.view.epoch;
        let any = !sent.is_empty();
        for (to, ts) in sent {
            self.send(to, Message::Ack { epoch, ts });
        }
        any
    }
}
