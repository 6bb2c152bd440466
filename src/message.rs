//! Peer-to-peer protocol messages: the data path (protocol.md §4.3), view changes by
//! single-decree Paxos per epoch and leases (§7), and state transfer (§8).
//!
//! Plain data with serde derives; [`crate::codec`] frames them for a byte stream. A sender may
//! coalesce many messages to one peer into one [`crate::Output::Send`].

use crate::storage::StoredEntry;
use crate::timestamp::{Epoch, NodeId, Ts};
use crate::update::{Bytes, UpdateRef};
use crate::view::{MemberId, View};
use serde::{Deserialize, Serialize};

/// A message between two nodes of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Message {
    /// Invalidate: the full update (timestamp and every write, values included). The receiver
    /// applies it, persists it, then acknowledges. Replays resend the same `Inv` unchanged.
    Inv {
        /// The sender's installed epoch.
        epoch: Epoch,
        /// The update.
        update: UpdateRef,
    },
    /// Acknowledgement that the sender has durably applied the update with this `ts`.
    Ack {
        /// The sender's installed epoch.
        epoch: Epoch,
        /// The acknowledged update.
        ts: Ts,
    },
    /// Validate: the update with this `ts` has committed; keys still at `ts` become Valid.
    /// Accepted from any epoch: a commit is a fact, whoever learned it when.
    Val {
        /// The sender's installed epoch, which is the epoch the update committed in: only the
        /// committing driver sends VAL (an RMW's outcome depends on it, §11.4).
        epoch: Epoch,
        /// The committed update.
        ts: Ts,
    },
    /// Liveness heartbeat; also carries the sender's epoch so a lagging peer can notice.
    Ping {
        /// The sender's installed epoch.
        epoch: Epoch,
    },
    /// Asks the receiver for its installed view (the sender saw a higher epoch).
    ViewReq {
        /// The sender's installed epoch.
        epoch: Epoch,
    },
    /// The sender's installed (hence decided) view, sent to a peer that is behind.
    ViewInfo {
        /// The view.
        view: View,
    },
    /// Paxos phase 1a for the instance `base.epoch + 1`. Carries the decided view it builds on,
    /// so an acceptor that is behind learns it.
    Prepare {
        /// The proposer's installed view.
        base: View,
        /// The ballot.
        ballot: Ballot,
    },
    /// Paxos phase 1b: the acceptor promises to ignore lower ballots for `instance`.
    Promise {
        /// The epoch being decided.
        instance: Epoch,
        /// The ballot promised.
        ballot: Ballot,
        /// The highest-ballot value this acceptor accepted for `instance`, if any.
        accepted: Option<(Ballot, View)>,
    },
    /// Paxos phase 2a: accept `view` for epoch `base.epoch + 1`.
    Accept {
        /// The proposer's installed view.
        base: View,
        /// The ballot.
        ballot: Ballot,
        /// The proposed view.
        view: View,
    },
    /// Paxos phase 2b.
    Accepted {
        /// The epoch being decided.
        instance: Epoch,
        /// The ballot accepted.
        ballot: Ballot,
    },
    /// The acceptor has promised a higher ballot for `instance`.
    Reject {
        /// The epoch being decided.
        instance: Epoch,
        /// The ballot it promised.
        promised: Ballot,
    },
    /// A view was decided (a majority accepted it).
    Decided {
        /// The view.
        view: View,
    },
    /// A lease request from an Active member to every acceptor (§7.3).
    LeaseReq {
        /// The requester's boot incarnation and request number (grants from an earlier boot
        /// are ignored).
        id: (u64, u64),
        /// The identity the lease is for.
        member: MemberId,
    },
    /// A lease grant: the acceptor will not accept a view removing `member` for `W`.
    LeaseGrant {
        /// The request answered.
        id: (u64, u64),
        /// The identity granted.
        member: MemberId,
    },
    /// A node without a membership asks to be added as Joining (§8.2).
    JoinReq {
        /// The node asking.
        node: NodeId,
        /// The epoch it has installed (a member listing it as admitted later only has to tell
        /// it the view, not admit it again).
        epoch: Epoch,
    },
    /// A Joining member finished its state transfer and asks to be promoted to Active.
    PromoteReq {
        /// The member.
        member: MemberId,
    },
    /// A joiner asks an Active donor for the next snapshot chunk, from key `from` (inclusive;
    /// `None` = the beginning).
    SnapReq {
        /// The joiner's admission epoch (the donor must have installed it).
        epoch: Epoch,
        /// Where the chunk starts.
        from: Option<Bytes>,
    },
    /// A snapshot chunk: entries in key order, tombstones and pending entries included, with
    /// the full update record of every pending entry.
    SnapChunk {
        /// The joiner's admission epoch, echoed.
        epoch: Epoch,
        /// The chunk's start, echoed.
        from: Option<Bytes>,
        /// The entries.
        entries: Vec<(Bytes, StoredEntry)>,
        /// Records of the pending entries.
        records: Vec<UpdateRef>,
        /// The next chunk's start, or `None` if this was the last chunk.
        next: Option<Bytes>,
    },
    /// Refusal of a read-modify-write: the sender durably holds, on its key, a Ts above the
    /// RMW's base that is not the RMW's own, so it will never acknowledge it (protocol.md §11.2).
    Nack {
        /// The sender's installed epoch.
        epoch: Epoch,
        /// The refused RMW.
        ts: Ts,
    },
}

/// A Paxos ballot: ordered by round, then by proposer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Ballot {
    /// The round.
    pub round: u64,
    /// The proposer.
    pub node: NodeId,
}

impl Message {
    /// Whether this is a data-path message (accepted only from members of the current view).
    pub fn is_data_path(&self) -> bool {
        matches!(
            self,
            Message::Inv { .. } | Message::Ack { .. } | Message::Val { .. } | Message::Nack { .. }
        )
    }
}
