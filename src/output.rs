//! What the engine asks its driver to do.

use crate::client::{OpResult, RequestId};
use crate::message::Message;
use crate::storage::PersistOp;
use crate::timestamp::{NodeId, Ts};

/// One instruction from the engine to its driver, drained with [`crate::Node::poll_output`].
///
/// Deliberately exhaustive (unlike [`Event`] and the result and error enums): a driver that
/// ignored a kind of output it did not know would drop messages or durability, so a new kind
/// must break every driver's build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send these messages, in order, to a peer. Delivery is best-effort: the engine retransmits.
    Send {
        /// The destination.
        to: NodeId,
        /// The messages, coalesced for one frame.
        msgs: Vec<Message>,
    },
    /// Make these changes durable, atomically, after every earlier `Persist`; then report it with
    /// [`crate::Node::handle_persisted`]`(seq)`. Sequence numbers start at 1 and increase by one.
    ///
    /// A persist for which [`crate::Node::persist_needs_sync`] is false holds only lazy hints: the
    /// driver may report it once it is *written* in order after every earlier persist, without
    /// waiting for an fsync. A crash may then lose it, and any later lazy ones, but never an
    /// earlier persist, and never one that a later synced persist covered (the disk keeps a
    /// prefix; docs/durability.md).
    Persist {
        /// This persist's sequence number.
        seq: u64,
        /// The changes, to apply in one transaction.
        ops: Vec<crate::storage::PersistOp>,
    },
    /// Answer a client request.
    Reply {
        /// The request.
        id: RequestId,
        /// Its result.
        result: OpResult,
    },
    /// Something the driver (or its users) may want to know.
    Event(Event),
}

/// A notable change of the engine's state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The node can serve writes: it is an Active member of its view, holds a lease, the view
    /// has at least `min_consensus` members, and it hears from all of them.
    Ready,
    /// The node cannot serve writes (see `Ready`): they wait, until ready or their deadline. Reads
    /// are served as long as the node holds a lease.
    NotReady,
    /// A new view was installed.
    View(crate::view::View),
    /// A peer was heard from after being silent (or for the first time).
    PeerUp(NodeId),
    /// A peer has been silent longer than `peer_timeout_ms`.
    PeerDown(NodeId),
    /// An update this node drove (as coordinator or replayer) committed. Informational; the
    /// simulator's oracle uses it.
    Committed(Ts),
    /// This node established that its read-modify-write `Ts` never commits, and evaluates the
    /// operation again (protocol.md §11.4). Informational; the simulator's oracle checks it.
    RmwRetried(Ts),
}

impl Output {
    /// Convenience for drivers and tests: the `Persist` ops, if this is a persist.
    pub fn persist_ops(&self) -> Option<&[PersistOp]> {
        match self {
            Output::Persist { ops, .. } => Some(ops),
            _ => None,
        }
    }
}
