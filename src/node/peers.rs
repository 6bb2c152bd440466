//! Peer reachability (any message counts as a sign of life), the periodic tick that drives
//! everything time-based in membership, and readiness.
//!
//! Suspicion of a silent member only *starts* a view change (protocol.md §7.7); it never
//! affects safety.

use super::{Node, Peer, Timer};
use crate::message::Message;
use crate::output::Event;
use crate::timestamp::NodeId;

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
            self.peers.entry(n).or_insert(Peer {
                last_heard: None,
                up: false,
            });
        }
    }

    pub(super) fn heard_from(&mut self, from: NodeId) {
        let now = self.now;
        let peer = self.peers.entry(from).or_insert(Peer {
            last_heard: None,
            up: false,
        });
        peer.last_heard = Some(now);
        if !peer.up {
            peer.up = true;
            self.event(Event::PeerUp(from));
            self.update_readiness();
        }
    }

    /// Whether `node` has been silent for longer than `T_fd` (never heard counts as silent once
    /// this node has been up that long).
    pub(super) fn suspected(&self, node: NodeId) -> bool {
        let timeout_ns = self.cfg.peer_timeout_ms.saturating_mul(1_000_000);
        match self.peers.get(&node) {
            Some(Peer {
                last_heard: Some(t),
                ..
            }) => self.now.saturating_ns_since(*t) > timeout_ns,
            _ => self.now.saturating_ns_since(self.started) > timeout_ns,
        }
    }

    pub(super) fn on_heartbeat(&mut self) {
        let ping = Message::Ping {
            epoch: self.view.epoch,
        };
        let peers: Vec<NodeId> = self.peers.keys().copied().collect();
        for to in peers {
            self.send(to, ping.clone());
        }
        let went_down: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.up)
            .map(|(&n, _)| n)
            .filter(|&n| self.suspected(n))
            .collect();
        for n in went_down {
            if let Some(p) = self.peers.get_mut(&n) {
                p.up = false;
            }
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
