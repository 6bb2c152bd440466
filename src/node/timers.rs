//! The engine's timers: at most one pending deadline per timer, cancellable.
//!
//! Each timer kind is either fixed (one per node: heartbeat, lease expiry, delayed accepts) or
//! keyed by what it serves (an update's retransmission or stuck check, a request's deadline).
//! Setting a timer that is already armed moves its deadline; the owner of a key cancels its
//! timers when the key goes away (a record dropped, a request answered). So the table holds at
//! most `3 + 2 × records + requests` entries, however long the node runs. Handlers still
//! re-check their condition when they fire: a timer says "look again", never "this happened".

use crate::client::RequestId;
use crate::time::Instant;
use crate::timestamp::Ts;
use std::collections::{BTreeMap, BTreeSet};

/// What a timer wakes the engine for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Timer {
    /// Ping the peers, judge who is down, renew the lease.
    Heartbeat,
    /// Resend a driven update's INV to members that have not acknowledged it.
    Retransmit(Ts),
    /// A pending update this node does not drive may be orphaned: replay it if still pending.
    Stuck(Ts),
    /// A request's deadline.
    Deadline(RequestId),
    /// The lease may have expired: re-evaluate readiness.
    LeaseExpiry,
    /// A delayed Paxos accept may proceed (its lease promises expired).
    DelayedAccept,
}

/// Armed timers, by timer and by deadline.
#[derive(Debug, Default)]
pub(super) struct Timers {
    /// Each armed timer's deadline. Invariant: `(at, t)` is in `queue` iff `armed[t] == at`.
    armed: BTreeMap<Timer, Instant>,
    queue: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    /// Arms `timer` for `at`, replacing any deadline it had.
    pub(super) fn set(&mut self, at: Instant, timer: Timer) {
        if let Some(old) = self.armed.insert(timer, at) {
            let was_queued = self.queue.remove(&(old, timer));
            debug_assert!(was_queued, "armed timer {timer:?} was not queued");
        }
        self.queue.insert((at, timer));
        debug_assert_eq!(self.armed.len(), self.queue.len());
    }

    /// Arms `timer` for `at` unless it is already armed for an earlier instant.
    pub(super) fn set_no_later(&mut self, at: Instant, timer: Timer) {
        if self.armed.get(&timer).is_none_or(|&old| at < old) {
            self.set(at, timer);
        }
    }

    /// Disarms `timer` (nothing happens if it is not armed).
    pub(super) fn cancel(&mut self, timer: Timer) {
        if let Some(at) = self.armed.remove(&timer) {
            self.queue.remove(&(at, timer));
        }
    }

    /// The earliest deadline.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|&(at, _)| at)
    }

    /// Disarms and returns every timer due at `now`, earliest first.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(&(at, timer)) = self.queue.first() {
            if at > now {
                break;
            }
            self.queue.pop_first();
            let was_armed = self.armed.remove(&timer).is_some();
            debug_assert!(was_armed, "queued timer {timer:?} was not armed");
            due.push(timer);
        }
        due
    }

    /// Every armed timer, in timer order.
    pub(super) fn armed(&self) -> impl Iterator<Item = Timer> + '_ {
        self.armed.keys().copied()
    }

    /// Whether both indexes agree (for the invariant checks).
    pub(super) fn check_consistent(&self) -> Result<(), String> {
        let agree = self.armed.len() == self.queue.len()
            && self
                .queue
                .iter()
                .all(|(at, t)| self.armed.get(t) == Some(at));
        if agree {
            Ok(())
        } else {
            Err(format!(
                "timers: {} armed but {} queued, or a deadline differs",
                self.armed.len(),
                self.queue.len()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::ZERO.plus_ms(ms)
    }

    #[test]
    fn setting_again_moves_the_deadline_and_cancel_disarms() {
        let mut t = Timers::default();
        t.set(at(10), Timer::Heartbeat);
        t.set(at(30), Timer::Heartbeat);
        t.set(at(20), Timer::LeaseExpiry);
        assert_eq!(t.armed().count(), 2);
        assert_eq!(t.next_deadline(), Some(at(20)));
        t.cancel(Timer::LeaseExpiry);
        assert_eq!(t.take_due(at(25)), vec![]);
        assert_eq!(t.take_due(at(30)), vec![Timer::Heartbeat]);
        assert_eq!(t.armed().count(), 0);
        assert!(t.check_consistent().is_ok());
    }

    #[test]
    fn set_no_later_keeps_the_earlier_deadline() {
        let mut t = Timers::default();
        t.set_no_later(at(20), Timer::DelayedAccept);
        t.set_no_later(at(40), Timer::DelayedAccept);
        assert_eq!(t.next_deadline(), Some(at(20)));
        t.set_no_later(at(5), Timer::DelayedAccept);
        assert_eq!(t.next_deadline(), Some(at(5)));
        assert_eq!(t.armed().count(), 1);
    }

    #[test]
    fn due_timers_come_out_earliest_first() {
        let mut t = Timers::default();
        t.set(at(3), Timer::Deadline(RequestId(7)));
        t.set(at(1), Timer::Heartbeat);
        t.set(at(2), Timer::LeaseExpiry);
        let due = t.take_due(at(2));
        assert_eq!(due, vec![Timer::Heartbeat, Timer::LeaseExpiry]);
        assert_eq!(t.next_deadline(), Some(at(3)));
    }
}
