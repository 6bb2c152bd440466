//! Events a node reports to its embedder: the Node.js module's `ready`, `notready`, `connect`,
//! `disconnect`, `reconnect`, `fail` and `error`, with the same meanings.

use level2pc::NodeId;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Something that happened to a node or one of its peer links.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// The node can reach every member a write needs: writes are accepted.
    Ready,
    /// The node cannot reach a member a write needs: writes wait until ready or their timeout.
    NotReady,
    /// The outbound link to a peer completed its handshake.
    Connect {
        /// The peer.
        peer: NodeId,
        /// Its configured address.
        addr: String,
    },
    /// An established outbound link to a peer closed.
    Disconnect {
        /// The peer.
        peer: NodeId,
        /// Its configured address.
        addr: String,
    },
    /// The node is trying to reconnect to a peer (after a failed attempt or a disconnect).
    Reconnect {
        /// The peer.
        peer: NodeId,
        /// Its configured address.
        addr: String,
        /// Consecutive failed attempts so far.
        attempt: u32,
    },
    /// Reconnecting to a peer failed `fail_after` times in a row. The node keeps retrying at the
    /// backoff cap, so a peer that comes back is picked up.
    Fail {
        /// The peer.
        peer: NodeId,
        /// Its configured address.
        addr: String,
        /// Consecutive failed attempts.
        attempts: u32,
    },
    /// The node learned a peer it had no address for (a node that joined later, found through
    /// the handshake's directory exchange) and will dial it: the Node module's `addPeer`, done
    /// by the cluster itself.
    Discover {
        /// The peer.
        peer: NodeId,
        /// The address it will be dialed at.
        addr: String,
    },
    /// An error on a peer connection (failed handshake, malformed frame) or in the node itself
    /// (storage failure: the node has stopped).
    Error {
        /// The peer involved, if known.
        peer: Option<NodeId>,
        /// The remote or configured address involved, if any.
        addr: Option<String>,
        /// What went wrong.
        message: String,
    },
}

impl NodeEvent {
    /// The Node.js module's name for this event.
    pub fn name(&self) -> &'static str {
        match self {
            NodeEvent::Ready => "ready",
            NodeEvent::NotReady => "notready",
            NodeEvent::Connect { .. } => "connect",
            NodeEvent::Disconnect { .. } => "disconnect",
            NodeEvent::Reconnect { .. } => "reconnect",
            NodeEvent::Fail { .. } => "fail",
            NodeEvent::Discover { .. } => "discover",
            NodeEvent::Error { .. } => "error",
        }
    }
}

impl std::fmt::Display for NodeEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeEvent::Ready | NodeEvent::NotReady => f.write_str(self.name()),
            NodeEvent::Connect { peer, addr }
            | NodeEvent::Disconnect { peer, addr }
            | NodeEvent::Discover { peer, addr } => {
                write!(f, "{} {peer} at {addr}", self.name())
            }
            NodeEvent::Reconnect {
                peer,
                addr,
                attempt,
            } => write!(f, "reconnect {peer} at {addr} (attempt {attempt})"),
            NodeEvent::Fail {
                peer,
                addr,
                attempts,
            } => write!(f, "fail {peer} at {addr} after {attempts} attempts"),
            NodeEvent::Error {
                peer,
                addr,
                message,
            } => {
                f.write_str("error")?;
                if let Some(peer) = peer {
                    write!(f, " {peer}")?;
                }
                if let Some(addr) = addr {
                    write!(f, " at {addr}")?;
                }
                write!(f, ": {message}")
            }
        }
    }
}

/// The event loop's end of the event queue. The queue is bounded: when the embedder does not
/// keep up, new events are dropped (and counted) rather than stalling the node.
#[derive(Debug)]
pub struct EventSink {
    tx: SyncSender<NodeEvent>,
    dropped: Arc<AtomicU64>,
}

impl EventSink {
    /// A queue holding at most `capacity` undelivered events, and the embedder's receiver.
    pub fn bounded(capacity: usize) -> (EventSink, Receiver<NodeEvent>, Arc<AtomicU64>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        (
            EventSink {
                tx,
                dropped: dropped.clone(),
            },
            rx,
            dropped,
        )
    }

    /// Logs the event and queues it; drops it if the queue is full or nobody listens.
    pub fn emit(&self, event: NodeEvent) {
        match &event {
            NodeEvent::Error { .. } => log::error!("{event}"),
            NodeEvent::Fail { .. } | NodeEvent::NotReady | NodeEvent::Disconnect { .. } => {
                log::warn!("{event}")
            }
            _ => log::info!("{event}"),
        }
        match self.tx.try_send(event) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts() {
        let (sink, rx, dropped) = EventSink::bounded(2);
        for _ in 0..5 {
            sink.emit(NodeEvent::Ready);
        }
        assert_eq!(dropped.load(Ordering::Relaxed), 3);
        assert_eq!(rx.try_iter().count(), 2);
    }

    #[test]
    fn names_match_the_node_module() {
        let e = NodeEvent::Fail {
            peer: NodeId(2),
            addr: "127.0.0.1:1".into(),
            attempts: 8,
        };
        assert_eq!(e.name(), "fail");
        assert_eq!(e.to_string(), "fail n2 at 127.0.0.1:1 after 8 attempts");
    }
}
