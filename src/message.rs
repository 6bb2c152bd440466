//! Peer-to-peer protocol messages (protocol.md §4.3).
//!
//! Plain data with serde derives; [`crate::codec`] frames them for a byte stream. A sender may
//! coalesce many messages to one peer into one [`crate::Output::Send`].

use crate::timestamp::{Epoch, Ts};
use crate::update::UpdateRef;
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
        /// The sender's installed epoch (informational).
        epoch: Epoch,
        /// The committed update.
        ts: Ts,
    },
    /// Liveness heartbeat; also carries the sender's epoch so a lagging peer can notice.
    Ping {
        /// The sender's installed epoch.
        epoch: Epoch,
    },
}

impl Message {
    /// The epoch the sender had installed when it sent the message.
    pub fn epoch(&self) -> Epoch {
        match self {
            Message::Inv { epoch, .. }
            | Message::Ack { epoch, .. }
            | Message::Val { epoch, .. }
            | Message::Ping { epoch } => *epoch,
        }
    }
}
