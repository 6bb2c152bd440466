//! Peer reachability (any message counts as a sign of life), the periodic tick that drives
//! everything time-based in membership, and readiness.
//!
//! Suspicion of a silent member only *starts* a view change (protocol.md §7.7); it never
//! affects safety.

use super::{Node, Timer};
use crate::message::Message;
use crate::output::Event;
use crate::time::Instant;
use crate::timestamp::NodeId;
use std::collections::BTreeMap;

/// Reachability of one peer, judged from the last time anything arrived from it.
#[derive(Debug, Clone, Copy, Default)]
struct Peer {
    last_heard: Option<Instant>,
    up: bool,
}

/// Every node this one talks to, and when each was last heard from.
#[derive(Debug)]
pub(super) struct Peers {
    by_node: BTreeMap<NodeId, Peer>,
    /// When this engine started: a peer never heard from is suspected once this is `T_fd` ago.
    started: Instant,
}

impl Peers {
    pub(super) fn new(now: Instant) -> Self {
        Peers {
            by_node: BTreeMap::new(),
            started: now,
        }
    }

    /// Starts tracking `node` (nothing happens if it is tracked already).
    fn track(&mut self, node: NodeId) {
        self.by_node.entry(node).or_default();
    }

    /// `node` was heard from at `now`; returns whether it was down until now.
    fn heard(&mut self, node: NodeId, now: Instant) -> bool {
        let peer = self.by_node.entry(node).or_default();
        peer.last_heard = Some(now);
        !std::mem::replace(&mut peer.up, true)
    }

    /// Whether `node` has been silent for longer than `timeout_ns` at `now` (never heard counts
    /// as silent once this node has been up that long).
    fn silent(&self, node: NodeId, now: Instant, timeout_ns: u64) -> bool {
        let since = match self.by_node.get(&node).and_then(|p| p.last_heard) {
            Some(t) => t,
            None => self.started,
        };
        now.saturating_ns_since(since) > timeout_ns
    }

    /// Every tracked node, in order.
    fn ids(&self) -> Vec<NodeId> {
        self.by_node.keys().copied().collect()
    }

    /// Marks down, and returns, the nodes that were up and are now silent.
    fn take_went_down(&mut self, now: Instant, timeout_ns: u64) -> Vec<NodeId> {
        let down: Vec<NodeId> = (self.by_node.iter())
            .filter(|(&n, p)| p.up && self.silent(n, now, timeout_ns))
            .map(|(&n, _)| n)
            .collect();
        for n in &down {
            if let Some(p) = self.by_node.get_mut(n) {
                p.up = false;
            }
        }
        down
    }
}

impl Node {
    /// Tracks every node this one talks to: the acceptors and the view's members.
    pub(super) fn refresh_peers(&mut self) {
        let me = self.cfg.id;
        let wanted: Vec<NodeId> = self
            .acceptors
            .iter()
            .copied()
            .chain(self.view.members.iter().map(|m| m.id.node))
            .filter(|&n| n != me)
            .collect();
        for n in wanted {
            self.peers.track(n);
        }
    }

    pub(super) fn heard_from(&mut self, from: NodeId) {
        if self.peers.heard(from, self.now) {
            self.event(Event::PeerUp(from));
            self.update_readiness();
        }
    }

    /// Whether `node` has been silent for longer than `T_fd` (never heard counts as silent once
    /// this node has been up that long).
    pub(super) fn suspected(&self, node: NodeId) -> bool {
        self.peers.silent(node, self.now, self.peer_timeout_ns())
    }

    fn peer_timeout_ns(&self) -> u64 {
        self.cfg.peer_timeout_ms.saturating_mul(1_000_000)
    }

    pub(super) fn on_heartbeat(&mut self) {
        let ping = Message::Ping {
            epoch: self.view.epoch,
        };
        for to in self.peers.ids() {
            self.send(to, ping.clone());
        }
        for n in self.peers.take_went_down(self.now, self.peer_timeout_ns()) {
            self.event(Event::PeerDown(n));
        }
        self.membership_tick();
        self.update_readiness();
        let at = self.now.plus_ms(self.cfg.heartbeat_ms);
        self.set_timer(at, Timer::Heartbeat);
    }

    /// Ready = able to serve writes: an Active member of the installed view, holding a lease,
    /// in a view of at least `min_consensus` members, none of them suspected (a write needs every
    /// member's ACK; one that cannot get it waits instead of starting and leaving pending state
    /// behind). Reads need only the lease.
    pub(super) fn update_readiness(&mut self) {
        let me = self.cfg.id;
        let all_reachable = self
            .view
            .members
            .iter()
            .all(|m| m.id.node == me || !self.suspected(m.id.node));
        let ready = self.lease_valid()
            && self.view.members.len() >= self.cfg.min_consensus
            && all_reachable;
        if ready == self.ready {
            return;
        }
        self.ready = ready;
        if ready {
            self.event(Event::Ready);
            self.drain_not_ready_queue();
            self.wake_lease_waiters();
        } else {
            self.event(Event::NotReady);
        }
    }
}
