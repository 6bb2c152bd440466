//! Views: the membership of one epoch (protocol.md §7.1).
//!
//! In this version the view is static: the configured members, all Active, at epoch 1. Every
//! message and record already carries the epoch so that view changes slot in later.

use crate::timestamp::{Epoch, NodeId};
use serde::{Deserialize, Serialize};

/// A member's role in a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Acknowledges writes but serves no reads (catching up by state transfer).
    Joining,
    /// A full member: acknowledges writes and serves reads.
    Active,
}

/// The membership of one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The epoch this view was decided for.
    pub epoch: Epoch,
    /// Members and their roles, sorted by node id.
    pub members: Vec<(NodeId, Role)>,
}

impl View {
    /// The static view: every configured member Active at `epoch`.
    pub fn initial(epoch: Epoch, members: &[NodeId]) -> View {
        let mut members: Vec<_> = members.iter().map(|&n| (n, Role::Active)).collect();
        members.sort();
        View { epoch, members }
    }

    /// Whether `node` is a member (in any role). Every member is in the write-ack set.
    pub fn contains(&self, node: NodeId) -> bool {
        self.members.binary_search_by_key(&node, |m| m.0).is_ok()
    }

    /// The role of `node`, if it is a member.
    pub fn role(&self, node: NodeId) -> Option<Role> {
        self.members.binary_search_by_key(&node, |m| m.0).ok().map(|i| self.members[i].1)
    }

    /// Every member except `me`, in id order.
    pub fn others(&self, me: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.members.iter().map(|m| m.0).filter(move |&n| n != me)
    }
}
