//! View changes: single-decree Paxos per epoch over the static acceptor set (protocol.md §7.2),
//! with the lease-promise rule on accepting removals (§7.3).
//!
//! The instance for epoch `e+1` builds on the decided `View(e)`, which every Prepare and Accept
//! carries, so an acceptor that is behind learns it. An acceptor persists its promise or
//! acceptance before replying (P4). It delays, never rejects, accepting a view that removes or
//! demotes an identity it promised a lease to, until that promise (and `W` after its own
//! restart) has passed; from the moment such an Accept arrives it stops granting to that
//! identity, until the removal is decided or a higher ballot overtakes it.

use super::{Node, Timer};
use crate::message::{Ballot, Message};
use crate::storage::{AcceptorRecord, PersistOp};
use crate::time::Instant;
use crate::timestamp::{Epoch, NodeId};
use crate::view::{MemberId, View};
use std::collections::{BTreeMap, BTreeSet};

/// One Paxos instance at this acceptor.
#[derive(Debug, Clone, Default)]
pub(super) struct Instance {
    promised: Ballot,
    accepted: Option<(Ballot, View)>,
}

/// The acceptor role of this node.
#[derive(Debug)]
pub(super) struct AcceptorState {
    instances: BTreeMap<Epoch, Instance>,
    /// Lease promises: identity → until when (this node's clock). Volatile by design: after a
    /// restart every promise is taken to last until `restart_until`.
    pub(super) promises: BTreeMap<MemberId, Instant>,
    /// No removal is accepted before this instant (`W` after this process started).
    restart_until: Instant,
    /// Identities a pending proposal removes: no more grants to them (see `refresh_no_grant`).
    pub(super) no_grant: BTreeSet<MemberId>,
    /// Accepts waiting for lease promises to expire: instance → (proposer, ballot, base, view).
    delayed: BTreeMap<Epoch, (NodeId, Ballot, View, View)>,
}

impl AcceptorState {
    pub(super) fn new(restart_until: Instant, recovered: Vec<AcceptorRecord>) -> AcceptorState {
        let instances = recovered
            .into_iter()
            .map(|r| {
                (
                    r.instance,
                    Instance {
                        promised: r.promised,
                        accepted: r.accepted,
                    },
                )
            })
            .collect();
        AcceptorState {
            instances,
            promises: BTreeMap::new(),
            restart_until,
            no_grant: BTreeSet::new(),
            delayed: BTreeMap::new(),
        }
    }

    /// Forgets instances a decided view has settled, and the state tied to them.
    pub(super) fn settle_upto(&mut self, epoch: Epoch) {
        self.instances.retain(|e, _| *e > epoch);
        self.delayed.retain(|e, _| *e > epoch);
        // `refresh_no_grant` re-derives it anyway; clearing here resets what the
        // `keep-overtaken-no-grant` mutant keeps across refreshes.
        self.no_grant.clear();
    }

    /// The view this acceptor accepted for `instance`, if any.
    pub(super) fn accepted_for(&self, instance: Epoch) -> Option<&View> {
        self.instances
            .get(&instance)
            .and_then(|i| i.accepted.as_ref())
            .map(|(_, v)| v)
    }

    /// Re-derives the no-grant set (§7.3): the identities removed or demoted by a proposal this
    /// acceptor accepted, or holds delayed with the intent to accept it.
    ///
    /// A delayed Accept whose ballot a higher promise has overtaken will never be accepted here,
    /// so it no longer blocks grants. Otherwise, once its proposer gave up (a higher Prepare came,
    /// the suspect turned out alive), the identity would go without grants for ever: nobody
    /// finishes an instance in which nothing was accepted. Found by the `cluster` fuzz target
    /// (`fuzz/regressions/cluster/overtaken-removal-blocks-grants-forever`).
    fn refresh_no_grant(&mut self, installed: &View) {
        let promised = |instance: &Epoch| {
            self.instances
                .get(instance)
                .map(|i| i.promised)
                .unwrap_or_default()
        };
        let accepted = self
            .instances
            .values()
            .filter_map(|i| i.accepted.as_ref())
            .flat_map(|(_, v)| installed.removed_or_demoted(v));
        let delayed = self
            .delayed
            .iter()
            .filter(|(instance, (_, ballot, _, _))| *ballot >= promised(instance))
            .flat_map(|(_, (_, _, base, view))| base.removed_or_demoted(view));
        self.no_grant = accepted.chain(delayed).collect();
    }
}

/// The proposer side of view changes.
#[derive(Debug, Default)]
pub(super) struct Proposer {
    /// The view change this node is driving, if any.
    pub(super) current: Option<Proposal>,
    /// Highest Paxos round seen, so a new proposal outbids every earlier one.
    pub(super) max_round: u64,
    /// The view this node last wanted to propose.
    pub(super) wanted: Option<View>,
}

/// A view change this node is driving.
#[derive(Debug)]
pub(super) struct Proposal {
    instance: Epoch,
    ballot: Ballot,
    base: View,
    phase: Phase,
    next_retry: Instant,
}

#[derive(Debug)]
enum Phase {
    Prepare {
        promises: BTreeMap<NodeId, Option<(Ballot, View)>>,
    },
    Accept {
        view: View,
        accepted: BTreeSet<NodeId>,
    },
}

impl Node {
    fn majority(&self) -> usize {
        self.acceptors.len() / 2 + 1
    }

    /// Whether this node votes: a configured acceptor that has not lost its state (or has been
    /// re-admitted since, which means every instance it votes in now is newer than any it could
    /// have voted in before the loss).
    pub(super) fn is_acceptor(&self) -> bool {
        if self.mutant(crate::mutant::Mutant::AmnesiacVotes) {
            return self.acceptors.contains(&self.cfg.id);
        }
        self.acceptors.contains(&self.cfg.id) && self.identity.is_none_or(|i| i.adm != 0)
    }

    /// Re-derives the acceptor's no-grant set against the installed view (see
    /// `AcceptorState::refresh_no_grant`).
    pub(super) fn refresh_no_grant(&mut self) {
        let kept = self
            .mutant(crate::mutant::Mutant::KeepOvertakenNoGrant)
            .then(|| self.acceptor.no_grant.clone());
        self.acceptor.refresh_no_grant(&self.view);
        if let Some(kept) = kept {
            self.acceptor.no_grant.extend(kept);
        }
    }

    /// Brings this node to `base` if it is behind; false if the sender is behind (it was told).
    fn same_base(&mut self, from: NodeId, base: &View) -> bool {
        if base.epoch > self.view.epoch {
            self.learn_view(base.clone());
        }
        if base.epoch < self.view.epoch {
            self.send_view_info(from, true);
            return false;
        }
        base.epoch == self.view.epoch && self.is_acceptor()
    }

    fn persist_instance(&mut self, instance: Epoch) {
        let Some(st) = self.acceptor.instances.get(&instance) else {
            return;
        };
        let record = AcceptorRecord {
            instance,
            promised: st.promised,
            accepted: st.accepted.clone(),
        };
        self.persists.stage(PersistOp::Acceptor(record));
    }

    /// Phase 1b.
    pub(super) fn on_prepare(&mut self, from: NodeId, base: View, ballot: Ballot) {
        if !self.same_base(from, &base) {
            return;
        }
        let Some(instance) = base.epoch.next() else {
            return;
        };
        let st = self.acceptor.instances.entry(instance).or_default();
        if ballot < st.promised {
            let promised = st.promised;
            self.send(from, Message::Reject { instance, promised });
            return;
        }
        let changed = ballot > st.promised;
        st.promised = ballot;
        let accepted = st.accepted.clone();
        if changed {
            self.persist_instance(instance);
            // A delayed Accept of a lower ballot is now moot: grant its targets again.
            self.refresh_no_grant();
        }
        self.send_after_persist(
            from,
            Message::Promise {
                instance,
                ballot,
                accepted,
            },
        );
    }

    /// Phase 2b, delayed while a removed identity's lease promise (or the restart wait) lasts.
    pub(super) fn on_accept(&mut self, from: NodeId, base: View, ballot: Ballot, view: View) {
        if !self.same_base(from, &base) || !base.may_precede(&view) {
            return;
        }
        let instance = view.epoch;
        let promised = self
            .acceptor
            .instances
            .get(&instance)
            .map(|i| i.promised)
            .unwrap_or_default();
        if ballot < promised {
            self.send(from, Message::Reject { instance, promised });
            return;
        }
        let removed = base.removed_or_demoted(&view);
        let wait_until = self.removal_wait(&removed);
        if self.now < wait_until {
            self.acceptor
                .delayed
                .insert(instance, (from, ballot, base, view));
            self.refresh_no_grant();
            // One retry serves every delayed accept (and re-delays those not yet due).
            self.timers.set_no_later(wait_until, Timer::DelayedAccept);
            return;
        }
        let st = self.acceptor.instances.entry(instance).or_default();
        st.promised = ballot;
        st.accepted = Some((ballot, view));
        self.refresh_no_grant();
        self.persist_instance(instance);
        self.send_after_persist(from, Message::Accepted { instance, ballot });
    }

    /// Until when an acceptor must wait before accepting the removal of `removed` (§7.3).
    fn removal_wait(&self, removed: &[MemberId]) -> Instant {
        if removed.is_empty() {
            return Instant::ZERO;
        }
        if self.mutant(crate::mutant::Mutant::AcceptRemovalEarly) {
            return Instant::ZERO;
        }
        let promises = removed
            .iter()
            .filter_map(|id| self.acceptor.promises.get(id))
            .copied()
            .max()
            .unwrap_or(Instant::ZERO);
        if self.mutant(crate::mutant::Mutant::SkipRestartWait) {
            return promises;
        }
        promises.max(self.acceptor.restart_until)
    }

    pub(super) fn retry_delayed_accepts(&mut self) {
        let due: Vec<(NodeId, Ballot, View, View)> = std::mem::take(&mut self.acceptor.delayed)
            .into_values()
            .collect();
        for (from, ballot, base, view) in due {
            self.on_accept(from, base, ballot, view);
        }
        // Accepts rejected on retry no longer block grants.
        self.refresh_no_grant();
    }

    /// Starts a view change to `view` (built on the installed view).
    pub(super) fn propose(&mut self, view: View) {
        // Rounds seen come from peers: at the end of the range no ballot can outbid, so no
        // proposal (rather than a wrapped round that every acceptor would reject).
        let Some(round) = self.proposer.max_round.checked_add(1) else {
            return;
        };
        self.proposer.max_round = round;
        let ballot = Ballot {
            round,
            node: self.cfg.id,
        };
        let base = self.view.clone();
        let instance = view.epoch;
        self.proposer.current = Some(Proposal {
            instance,
            ballot,
            base: base.clone(),
            phase: Phase::Prepare {
                promises: BTreeMap::new(),
            },
            next_retry: self.now.plus_ms(self.cfg.retransmit_ms * 4),
        });
        self.proposer.wanted = Some(view);
        self.send_to_acceptors(&Message::Prepare { base, ballot });
    }

    /// Resends the current phase to acceptors that have not answered.
    pub(super) fn retransmit_proposal(&mut self) {
        let now = self.now;
        let retry_ns = self.cfg.retransmit_ms * 4 * 1_000_000;
        let Some(p) = self.proposer.current.as_mut() else {
            return;
        };
        if now < p.next_retry {
            return;
        }
        p.next_retry = now.plus_ns(retry_ns);
        let (msg, answered): (Message, Vec<NodeId>) = match &p.phase {
            Phase::Prepare { promises } => (
                Message::Prepare {
                    base: p.base.clone(),
                    ballot: p.ballot,
                },
                promises.keys().copied().collect(),
            ),
            Phase::Accept { view, accepted } => (
                Message::Accept {
                    base: p.base.clone(),
                    ballot: p.ballot,
                    view: view.clone(),
                },
                accepted.iter().copied().collect(),
            ),
        };
        let silent: Vec<NodeId> = self
            .acceptors
            .iter()
            .copied()
            .filter(|a| !answered.contains(a))
            .collect();
        for to in silent {
            self.send(to, msg.clone());
        }
    }

    /// Phase 1b received: with a majority, choose the value and start phase 2.
    pub(super) fn on_promise(
        &mut self,
        from: NodeId,
        instance: Epoch,
        ballot: Ballot,
        accepted: Option<(Ballot, View)>,
    ) {
        let majority = self.majority();
        let Some(p) = self.proposer.current.as_mut() else {
            return;
        };
        let Phase::Prepare { promises } = &mut p.phase else {
            return;
        };
        if p.instance != instance || p.ballot != ballot {
            return;
        }
        promises.insert(from, accepted);
        if promises.len() < majority {
            return;
        }
        // Paxos: the highest-ballot value any promiser accepted, else our own.
        let adopted = promises
            .values()
            .flatten()
            .max_by_key(|(b, _)| *b)
            .map(|(_, v)| v.clone());
        let Some(view) = adopted
            .or_else(|| self.proposer.wanted.clone())
            .filter(|v| p.base.may_precede(v))
        else {
            self.proposer.current = None;
            return;
        };
        p.phase = Phase::Accept {
            view: view.clone(),
            accepted: BTreeSet::new(),
        };
        let msg = Message::Accept {
            base: p.base.clone(),
            ballot,
            view,
        };
        self.send_to_acceptors(&msg);
    }

    /// Phase 2b received: with a majority the view is decided; tell everyone and install it.
    pub(super) fn on_accepted(&mut self, from: NodeId, instance: Epoch, ballot: Ballot) {
        let majority = self.majority();
        let Some(p) = self.proposer.current.as_mut() else {
            return;
        };
        let Phase::Accept { view, accepted } = &mut p.phase else {
            return;
        };
        if p.instance != instance || p.ballot != ballot {
            return;
        }
        accepted.insert(from);
        if accepted.len() < majority {
            return;
        }
        let view = view.clone();
        let base = p.base.clone();
        self.proposer.current = None;
        let mut tell: BTreeSet<NodeId> = self.acceptors.iter().copied().collect();
        tell.extend(base.members.iter().chain(&view.members).map(|m| m.id.node));
        tell.remove(&self.cfg.id);
        let decided = Message::Decided { view: view.clone() };
        for to in tell {
            self.send(to, decided.clone());
        }
        self.learn_view(view);
    }

    /// A higher ballot exists: give up this round and let the next tick retry above it.
    pub(super) fn on_reject(&mut self, instance: Epoch, promised: Ballot) {
        self.proposer.max_round = self.proposer.max_round.max(promised.round);
        if self
            .proposer
            .current
            .as_ref()
            .is_some_and(|p| p.instance == instance && p.ballot < promised)
        {
            self.proposer.current = None;
            self.backoff_proposing();
        }
    }

    /// Drops a proposal a newer view made moot.
    pub(super) fn drop_stale_proposal(&mut self) {
        if self
            .proposer
            .current
            .as_ref()
            .is_some_and(|p| p.instance <= self.view.epoch)
        {
            self.proposer.current = None;
        }
    }
}
