//! Peer reachability and readiness, from heartbeats (any message counts as a sign of life).
//!
//! With static membership every write needs every member's ACK, so the node is ready exactly
//! when it has recently heard from every peer. Reads do not need readiness: no write can commit
//! without this node's own ACK, so a Valid key here is always the latest committed value.

use super::{Node, Timer};
use crate::message::Message;
use crate::output::Event;
use crate::timestamp::NodeId;

impl Node {
    pub(super) fn heard_from(&mut self, from: NodeId) {
        let now = self.now;
        let Some(peer) = self.peers.get_mut(&from) else { return };
        peer.last_heard = Some(now);
        if !peer.up {
            peer.up = true;
            self.event(Event::PeerUp(from));
            self.update_readiness();
        }
    }

    pub(super) fn on_heartbeat(&mut self) {
        let ping = Message::Ping { epoch: self.view.epoch };
        self.broadcast(&ping);
        let timeout_ns = self.cfg.peer_timeout_ms.saturating_mul(1_000_000);
        let now = self.now;
        let mut went_down = Vec::new();
        for (&id, peer) in self.peers.iter_mut() {
            let silent = peer.last_heard.is_none_or(|t| now.saturating_ns_since(t) > timeout_ns);
            if peer.up && silent {
                peer.up = false;
                went_down.push(id);
            }
        }
        for id in went_down {
            self.event(Event::PeerDown(id));
        }
        self.update_readiness();
        let at = self.now.plus_ms(self.cfg.heartbeat_ms);
        self.set_timer(at, Timer::Heartbeat);
    }

    pub(super) fn update_readiness(&mut self) {
        let ready = self.peers.values().all(|p| p.up);
        if ready == self.ready {
            return;
        }
        self.ready = ready;
        if ready {
            self.event(Event::Ready);
            self.drain_not_ready_queue();
        } else {
            self.event(Event::NotReady);
        }
    }
}
