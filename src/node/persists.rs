//! The node's side of the persist contract: changes staged during a step leave as one numbered
//! [`Output::Persist`](crate::Output::Persist) at its end, and the driver reports them durable
//! in order (`Node::handle_persisted`). Whatever must wait for durability (an ACK, P1; a
//! commit, P2; an acceptor's reply, P4) remembers the barrier it needs and checks
//! [`Persists::is_durable`].

use crate::storage::PersistOp;

/// Staged ops and the numbering of emitted persists.
#[derive(Debug)]
pub(super) struct Persists {
    /// Sequence number the next `Persist` output will carry (the first is 1).
    next_seq: u64,
    /// Every persist with `seq <= durable_upto` is durable. Invariant: `durable_upto < next_seq`.
    durable_upto: u64,
    /// Ops staged during the current step.
    staged: Vec<PersistOp>,
}

impl Default for Persists {
    fn default() -> Self {
        Persists {
            next_seq: 1,
            durable_upto: 0,
            staged: Vec::new(),
        }
    }
}

impl Persists {
    /// Stages `op` for the persist that ends this step.
    pub(super) fn stage(&mut self, op: PersistOp) {
        self.staged.push(op);
    }

    /// The sequence number of the persist that covers every change made so far, staged ones
    /// included: waiting for it to be durable waits for all of them.
    pub(super) fn barrier(&self) -> u64 {
        if self.staged.is_empty() {
            self.next_seq - 1
        } else {
            self.next_seq
        }
    }

    /// Whether the persist `seq` (and every earlier one) is durable.
    pub(super) fn is_durable(&self, seq: u64) -> bool {
        seq <= self.durable_upto
    }

    /// The driver reports every persist up to `upto` durable. A driver cannot acknowledge a
    /// persist not emitted yet, so `upto` is capped at the last one emitted; reports never
    /// move backwards.
    pub(super) fn mark_durable(&mut self, upto: u64) {
        let upto = upto.min(self.last_emitted());
        self.durable_upto = self.durable_upto.max(upto);
    }

    /// Ends a step: the staged ops as the next numbered persist, if any.
    pub(super) fn take_step(&mut self) -> Option<(u64, Vec<PersistOp>)> {
        if self.staged.is_empty() {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        debug_assert!(
            self.durable_upto < seq,
            "persist {seq} reported durable before emission"
        );
        Some((seq, std::mem::take(&mut self.staged)))
    }

    /// The sequence number of the last persist emitted (0 before the first).
    pub(super) fn last_emitted(&self) -> u64 {
        self.next_seq - 1
    }

    /// Whether the numbering is consistent (for the invariant checks).
    pub(super) fn check(&self) -> Result<(), String> {
        if self.durable_upto >= self.next_seq {
            return Err(format!(
                "persisted up to {} but only {} persists were emitted",
                self.durable_upto,
                self.last_emitted()
            ));
        }
        Ok(())
    }

    /// Test hook: claims durability beyond what was emitted, to show the check fails.
    #[cfg(test)]
    pub(super) fn corrupt_for_test(&mut self) {
        self.durable_upto = self.next_seq;
    }
}
