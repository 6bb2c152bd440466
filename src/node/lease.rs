//! Read leases as majority promises (protocol.md §7.3).
//!
//! The holder, an Active member, asks every acceptor every `R`; once a majority grants a request
//! sent at `s`, it may serve reads until `s + L` on its own clock. An acceptor that grants
//! promises not to accept, for `W` on its clock, any view that removes or demotes the holder.
//! With `W ≥ L·(1+ρ)/(1−ρ)`, a removed member's lease has ended (in real time) before the view
//! removing it can be decided, so it never serves a read a newer write has overtaken.

use super::{Node, Timer, Waiting};
use crate::client::RequestId;
use crate::message::Message;
use crate::time::Instant;
use crate::timestamp::NodeId;
use crate::view::MemberId;
use std::collections::{BTreeMap, BTreeSet};

/// The holder side of the lease.
#[derive(Debug, Default)]
pub(super) struct LeaseState {
    /// Reads may be served while `now < expiry` (and this node is Active).
    pub(super) expiry: Instant,
    next_id: u64,
    last_request: Option<Instant>,
    /// Outstanding requests: id → (sent at, acceptors that granted).
    pending: BTreeMap<u64, (Instant, BTreeSet<NodeId>)>,
}

impl Node {
    /// Whether this node is an Active member of its installed view under its own identity.
    pub(super) fn is_active_member(&self) -> bool {
        self.member_id().is_some_and(|id| self.view.is_active(id))
    }

    /// Whether reads may be served now.
    pub(super) fn lease_valid(&self) -> bool {
        if self.mutant(crate::mutant::Mutant::ReadWithoutLease) {
            return self.member_id().is_some();
        }
        self.is_active_member() && self.now < self.lease.expiry
    }

    /// Asks every acceptor for a lease if one is due (every `R`).
    pub(super) fn maybe_renew_lease(&mut self) {
        let Some(member) = self.member_id().filter(|&id| self.view.is_active(id)) else {
            return;
        };
        let due = self
            .lease
            .last_request
            .is_none_or(|t| self.now.saturating_ns_since(t) >= self.cfg.renew_ms * 1_000_000);
        if !due {
            return;
        }
        let lease_ns = self.cfg.lease_ms * 1_000_000;
        let now = self.now;
        self.lease
            .pending
            .retain(|_, (sent, _)| now.saturating_ns_since(*sent) < lease_ns);
        self.lease.next_id += 1;
        let id = self.lease.next_id;
        self.lease.pending.insert(id, (now, BTreeSet::new()));
        self.lease.last_request = Some(now);
        self.send_to_acceptors(&Message::LeaseReq {
            id: (self.boot.0, id),
            member,
        });
    }

    /// Drops the lease at once (removed, demoted, or re-joining).
    pub(super) fn drop_lease(&mut self) {
        self.lease = LeaseState {
            next_id: self.lease.next_id,
            ..LeaseState::default()
        };
    }

    /// Acceptor side: grant if `member` is Active in this acceptor's view and no accepted (or
    /// about-to-be-accepted) proposal removes it; promise not to remove it for `W`.
    pub(super) fn on_lease_req(&mut self, from: NodeId, id: (u64, u64), member: MemberId) {
        let removing = self.acceptor.no_grant.contains(&member);
        let removing = removing && !self.mutant(crate::mutant::Mutant::GrantWhileRemoving);
        if member.node != from || !self.view.is_active(member) || removing {
            return;
        }
        if !self.is_acceptor() {
            return;
        }
        let until = self.now.plus_ms(self.cfg.promise_ms);
        let promise = self.acceptor.promises.entry(member).or_insert(until);
        *promise = (*promise).max(until);
        self.send(from, Message::LeaseGrant { id, member });
    }

    /// Holder side: a majority of grants for one request extends the lease to `sent + L`.
    pub(super) fn on_lease_grant(&mut self, from: NodeId, id: (u64, u64), member: MemberId) {
        let stale = id.0 != self.boot.0 || Some(member) != self.member_id();
        let stale = stale && !self.mutant(crate::mutant::Mutant::AcceptStaleGrants);
        if stale || !self.acceptors.contains(&from) {
            return; // a grant for an earlier boot or another identity
        }
        let majority = self.acceptors.len() / 2 + 1;
        let Some((sent, grants)) = self.lease.pending.get_mut(&id.1) else {
            return;
        };
        grants.insert(from);
        if grants.len() < majority {
            return;
        }
        let expiry = sent.plus_ms(self.cfg.lease_ms);
        self.lease.pending.remove(&id.1);
        if expiry > self.lease.expiry {
            self.lease.expiry = expiry;
            self.set_timer(expiry, Timer::LeaseExpiry);
        }
        self.update_readiness();
        self.wake_lease_waiters();
    }

    /// Parks a read until the lease (and Active membership) allows it.
    pub(super) fn park_for_lease(&mut self, id: RequestId) {
        self.requests.wait_for_lease(id);
    }

    /// Retries the reads that waited for a lease.
    pub(super) fn wake_lease_waiters(&mut self) {
        if !self.lease_valid() {
            return;
        }
        for id in self.requests.take_lease_waiters() {
            if self.requests.is_waiting(&id, &Waiting::Lease) {
                self.dispatch(id);
            }
        }
    }
}
