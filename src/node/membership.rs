//! Membership as seen by one node: installing decided views (protocol.md §7.6), its own
//! identity (member, joining, or not a member), deciding which view to propose (removals of
//! suspected members, joins, promotions, `min_consensus`), and the periodic membership work.

use super::{Node, Timer};
use crate::client::{OpResult, Unavailable};
use crate::message::Message;
use crate::output::Event;
use crate::storage::{Identity, PersistOp};
use crate::time::Instant;
use crate::timestamp::{Epoch, NodeId};
use crate::view::{Member, MemberId, Role, View};
use std::collections::{BTreeMap, BTreeSet};

/// Most join requests remembered at once; more wait for the next view (joiners retry).
const MAX_PENDING_JOINS: usize = 64;

/// Membership requests this node heard (as a potential proposer) and made (as a joiner), and
/// the pacing of both.
#[derive(Debug, Default)]
pub(super) struct Asks {
    /// Join requests heard: node → the epoch it knew when asking (at most `MAX_PENDING_JOINS`).
    pub(super) join_requests: BTreeMap<NodeId, Epoch>,
    /// Joining members that finished their transfer and asked for promotion.
    pub(super) promote_requests: BTreeSet<MemberId>,
    /// When this node, not being the designated proposer, may propose anyway.
    pub(super) propose_after: Option<Instant>,
    /// When this node last asked to join or to be promoted (rate limit).
    pub(super) last_ask: Option<Instant>,
    /// When a `ViewInfo` was last sent to each lagging peer (rate limit).
    pub(super) view_info_sent: BTreeMap<NodeId, Instant>,
}

impl Node {
    /// Installs `view` if it is newer than the installed one. Every view this node learns of
    /// (Decided, ViewInfo, or the base of a Prepare/Accept) was decided.
    pub(super) fn learn_view(&mut self, view: View) {
        if view.epoch <= self.view.epoch || !view.is_well_formed() {
            return;
        }
        self.view = view.clone();
        self.persists.stage(PersistOp::View(view.clone()));
        self.acceptor.settle_upto(view.epoch);
        self.refresh_no_grant();
        self.drop_stale_proposal();
        self.asks.join_requests.retain(|n, _| !view.contains(*n));
        self.asks.promote_requests.retain(|m| {
            view.member(m.node)
                .is_some_and(|v| v.id == *m && v.role == Role::Joining)
        });
        self.asks.propose_after = None;
        self.refresh_peers();
        self.update_identity();
        self.restart_data_path();
        self.event(Event::View(view));
        self.update_readiness();
    }

    /// Works out who this node is in the installed view (§7.6 step 4).
    fn update_identity(&mut self) {
        let listed = self.view.member(self.cfg.id).copied();
        let mine = self.identity.map(|i| i.adm);
        match listed {
            Some(m) if Some(m.id.adm) == mine => {
                if m.role == Role::Joining
                    && self.transfer.is_none()
                    && !self.identity.is_some_and(|i| i.transfer_done)
                {
                    self.start_transfer();
                }
                if m.role != Role::Active {
                    self.drop_lease();
                }
            }
            // Admitted under a new identity: this is our join. Pre-join state is not trusted.
            Some(m) if m.role == Role::Joining => {
                self.identity = Some(Identity {
                    adm: m.id.adm,
                    transfer_done: false,
                });
                self.persists.stage(PersistOp::Identity(self.identity));
                self.wipe();
                self.drop_lease();
                self.start_transfer();
            }
            // Not a member (removed, or listed under an identity that is not ours). A node that
            // lost its state stays marked as such until it is admitted again.
            _ => {
                if self.identity.is_some_and(|i| i.adm != 0) {
                    self.identity = None;
                    self.persists.stage(PersistOp::Identity(None));
                }
                self.drop_lease();
                self.transfer = None;
            }
        }
    }

    /// Forgets every entry and record and answers every waiting request: the node starts over
    /// as a joiner (protocol.md §8.2 step 4, "drop every pre-join pending entry").
    fn wipe(&mut self) {
        for ts in self.replica.wipe() {
            self.timers.cancel(Timer::Retransmit(ts));
            self.timers.cancel(Timer::Stuck(ts));
        }
        self.requests.clear_parked();
        self.persists.stage(PersistOp::Wipe);
        for id in self.requests.ids() {
            let started = self.requests.get(&id).is_some_and(|r| r.started());
            let result = if started {
                OpResult::Indeterminate
            } else {
                OpResult::Unavailable(Unavailable::NotMember)
            };
            self.reply(id, result);
        }
    }

    /// §7.6 steps 2–3: ACKs of older epochs are void, so every update this node drives
    /// collects them again under the new epoch; updates whose coordinator left are replayed.
    fn restart_data_path(&mut self) {
        self.replica.deferred_acks.clear();
        if self.member_id().is_none() {
            return;
        }
        let driven: Vec<_> = self
            .replica
            .records
            .iter()
            .filter(|(_, r)| r.drive.is_some())
            .map(|(ts, r)| (*ts, r.update.clone()))
            .collect();
        for (ts, update) in driven {
            let keep_acks = self.mutant(crate::mutant::Mutant::KeepAcksAcrossEpochs);
            if let Some(drive) = self
                .replica
                .records
                .get_mut(&ts)
                .and_then(|r| r.drive.as_mut())
            {
                if !keep_acks {
                    drive.acks.clear();
                }
            }
            self.broadcast_inv(update);
        }
        let orphans: Vec<_> = self
            .replica
            .records
            .iter()
            .filter(|(ts, r)| {
                r.drive.is_none()
                    && !self.view.contains(ts.issuer().node)
                    && self.has_invalid_key_at(&r.update, **ts)
            })
            .map(|(ts, _)| *ts)
            .collect();
        for ts in orphans {
            self.start_replay(ts);
        }
    }

    /// Messages carry epochs: a peer ahead of us has a view we lack; a peer behind us is told.
    pub(super) fn notice_epoch(&mut self, from: NodeId, msg: &Message) {
        let epoch = match msg {
            Message::Inv { epoch, .. }
            | Message::Ack { epoch, .. }
            | Message::Val { epoch, .. }
            | Message::Nack { epoch, .. }
            | Message::Ping { epoch } => *epoch,
            Message::ViewReq { epoch } => *epoch,
            _ => return,
        };
        if epoch > self.view.epoch {
            self.send(
                from,
                Message::ViewReq {
                    epoch: self.view.epoch,
                },
            );
        } else if epoch < self.view.epoch {
            self.send_view_info(from, false);
        }
    }

    /// Sends our installed view to `to` (at most once per heartbeat interval unless `asked`).
    pub(super) fn send_view_info(&mut self, to: NodeId, asked: bool) {
        let recently =
            self.asks.view_info_sent.get(&to).is_some_and(|t| {
                self.now.saturating_ns_since(*t) < self.cfg.heartbeat_ms * 1_000_000
            });
        if recently && !asked {
            return;
        }
        self.asks.view_info_sent.insert(to, self.now);
        self.send(
            to,
            Message::ViewInfo {
                view: self.view.clone(),
            },
        );
    }

    /// A node asks to be (re-)admitted. If this view already admitted it after the epoch it
    /// knows, it only needs the view.
    pub(super) fn on_join_req(&mut self, from: NodeId, node: NodeId, epoch: Epoch) {
        if from != node || node == self.cfg.id {
            return;
        }
        let admitted_since = self.view.member(node).is_some_and(|m| m.id.adm > epoch.0);
        // Bounded: a flood of join requests from distinct ids cannot grow this without limit.
        let room = self.asks.join_requests.len() < MAX_PENDING_JOINS
            || self.asks.join_requests.contains_key(&node);
        if !admitted_since && room {
            self.asks.join_requests.insert(node, self.view.epoch);
        }
        self.send_view_info(from, true);
    }

    /// A Joining member finished its transfer.
    pub(super) fn on_promote_req(&mut self, member: MemberId) {
        let joining = self
            .view
            .member(member.node)
            .is_some_and(|m| m.id == member && m.role == Role::Joining);
        if joining {
            self.asks.promote_requests.insert(member);
        }
    }

    /// The view this node would propose now, if any change is due: suspected members removed
    /// (never below `min_consensus`), joiners added, finished joiners promoted.
    fn desired_view(&self) -> Option<View> {
        let epoch = self.view.epoch.next()?;
        let mut members: Vec<Member> = self.view.members.clone();
        for &node in self.asks.join_requests.keys() {
            let fresh = Member {
                id: MemberId { node, adm: epoch.0 },
                role: Role::Joining,
            };
            match members.iter_mut().find(|m| m.id.node == node) {
                Some(m) => *m = fresh, // its old identity is gone (e.g. disk loss): replace it
                None => members.push(fresh),
            }
        }
        for m in members.iter_mut() {
            if self.asks.promote_requests.contains(&m.id) {
                m.role = Role::Active;
            }
        }
        let suspects: Vec<NodeId> = members
            .iter()
            .map(|m| m.id.node)
            .filter(|&n| n != self.cfg.id && self.suspected(n))
            .collect();
        for n in suspects {
            if members.len() > self.cfg.min_consensus {
                members.retain(|m| m.id.node != n);
            }
        }
        members.sort();
        let next = View { epoch, members };
        if next.members != self.view.members && self.view.may_precede(&next) {
            return Some(next);
        }
        // A value this acceptor accepted for the next epoch was never decided: finish the
        // instance (Paxos will decide that value), or the identities it removes stay without
        // lease grants for ever.
        self.acceptor.accepted_for(epoch).cloned()
    }

    /// Proposes a view change if one is due and this node should drive it: the lowest-id
    /// Active member that is not suspected proposes at once; any other Active member after a
    /// random backoff, in case the designated one cannot.
    fn maybe_propose(&mut self) {
        if self.proposer.current.is_some() || !self.is_active_member() {
            return;
        }
        // A node that hears from no majority of acceptors is most likely the one cut off: its
        // suspicions say more about itself than about the others, so it proposes nothing.
        let me = self.cfg.id;
        let heard = self
            .acceptors
            .iter()
            .filter(|&&a| a == me || !self.suspected(a))
            .count();
        if heard < self.acceptors.len() / 2 + 1 {
            return;
        }
        let Some(next) = self.desired_view() else {
            self.asks.propose_after = None;
            return;
        };
        let designated = self
            .view
            .active()
            .map(|m| m.node)
            .find(|&n| n == self.cfg.id || !self.suspected(n));
        let now = self.now;
        if designated != Some(self.cfg.id) {
            match self.asks.propose_after {
                None => {
                    self.backoff_proposing();
                    return;
                }
                Some(t) if now < t => return,
                Some(_) => {}
            }
        }
        self.propose(next);
    }

    /// Waits a random time (one to two `T_fd`) before proposing on someone else's behalf.
    pub(super) fn backoff_proposing(&mut self) {
        use rand::Rng;
        let fd = self.cfg.peer_timeout_ms;
        let wait = self.rng.gen_range(fd..=2 * fd);
        self.asks.propose_after = Some(self.now.plus_ms(wait));
    }

    /// The periodic membership work, run on every heartbeat.
    pub(super) fn membership_tick(&mut self) {
        self.maybe_renew_lease();
        self.retransmit_proposal();
        self.maybe_propose();
        self.ask_membership();
        self.retry_transfer();
    }

    /// A non-member asks to join; a Joining member that finished asks to be promoted.
    fn ask_membership(&mut self) {
        let due = self.asks.last_ask.is_none_or(|t| {
            self.now.saturating_ns_since(t) >= self.cfg.peer_timeout_ms * 1_000_000
        });
        if !due {
            return;
        }
        let listed = self
            .member_id()
            .and_then(|id| self.view.member(id.node).copied());
        let msg = match (listed, self.identity) {
            (None, _) => Message::JoinReq {
                node: self.cfg.id,
                epoch: self.view.epoch,
            },
            (Some(m), Some(id)) if m.role == Role::Joining && id.transfer_done => {
                // Not before the transferred entries and "transfer done" are durable: promoted,
                // then restarted without them, this node would serve reads with data missing.
                let durable = self.persists.is_durable(self.transfer_done_seq)
                    || self.mutant(crate::mutant::Mutant::PromoteBeforeTransferDurable);
                if !durable {
                    return;
                }
                Message::PromoteReq { member: m.id }
            }
            _ => return,
        };
        self.asks.last_ask = Some(self.now);
        let mut to: Vec<NodeId> = self.acceptors.clone();
        to.extend(self.view.members.iter().map(|m| m.id.node));
        to.sort();
        to.dedup();
        let me = self.cfg.id;
        for n in to.into_iter().filter(|&n| n != me) {
            self.send(n, msg.clone());
        }
    }

    /// After a restart (§8.1): learn newer views, start asking for a lease or to join, resume a
    /// transfer, and never accept a removal during the first `W`.
    pub(super) fn resume_membership(&mut self) {
        self.refresh_no_grant();
        let listed = self.view.member(self.cfg.id).copied();
        if let (Some(m), Some(id)) = (listed, self.identity) {
            if m.id.adm == id.adm && m.role == Role::Joining && !id.transfer_done {
                self.start_transfer();
            }
        }
        let ask = Message::ViewReq {
            epoch: self.view.epoch,
        };
        let me = self.cfg.id;
        for to in self.acceptors.clone().into_iter().filter(|&n| n != me) {
            self.send(to, ask.clone());
        }
    }
}
