//! Views: the membership of one epoch (protocol.md §7.1).
//!
//! A view lists its members with their roles. Every member is in the write-ack set; only Active
//! members serve reads, hold leases and donate snapshots. Views are decided one epoch at a time
//! by single-decree Paxos over the static acceptor set (the configured nodes), see
//! [`crate::node`]. Epoch 1 is the configured member set, all Active, admitted at epoch 1.

use crate::timestamp::{Epoch, NodeId};
use serde::{Deserialize, Serialize};

/// A member's role in a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Role {
    /// Acknowledges writes but serves no reads (catching up by state transfer).
    Joining,
    /// A full member: acknowledges writes and serves reads.
    Active,
}

/// A member's identity: the node and the epoch of the view that admitted it. A node that is
/// removed and re-added gets a new identity, so a stale process holding the old one can never
/// collect lease grants again (protocol.md §7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct MemberId {
    /// The node.
    pub node: NodeId,
    /// The admission epoch.
    pub adm: u64,
}

/// One member of a view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Member {
    /// Who.
    pub id: MemberId,
    /// In which role.
    pub role: Role,
}

/// The membership of one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct View {
    /// The epoch this view was decided for.
    pub epoch: Epoch,
    /// Members, sorted by node id, one entry per node.
    pub members: Vec<Member>,
}

impl View {
    /// The bootstrap view: every configured node Active, admitted at `epoch`.
    pub fn initial(epoch: Epoch, nodes: &[NodeId]) -> View {
        let mut members: Vec<Member> = nodes
            .iter()
            .map(|&node| Member {
                id: MemberId { node, adm: epoch.0 },
                role: Role::Active,
            })
            .collect();
        members.sort();
        members.dedup_by_key(|m| m.id.node);
        View { epoch, members }
    }

    /// The member entry of `node`, if it is a member.
    pub fn member(&self, node: NodeId) -> Option<&Member> {
        self.members
            .binary_search_by_key(&node, |m| m.id.node)
            .ok()
            .map(|i| &self.members[i])
    }

    /// Whether `node` is a member (in any role). Every member is in the write-ack set.
    pub fn contains(&self, node: NodeId) -> bool {
        self.member(node).is_some()
    }

    /// The role of `node`, if it is a member.
    pub fn role(&self, node: NodeId) -> Option<Role> {
        self.member(node).map(|m| m.role)
    }

    /// Whether the identity `id` is an Active member.
    pub fn is_active(&self, id: MemberId) -> bool {
        self.member(id.node)
            .is_some_and(|m| m.id == id && m.role == Role::Active)
    }

    /// Every member except `me`, in id order.
    pub fn others(&self, me: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        self.members
            .iter()
            .map(|m| m.id.node)
            .filter(move |&n| n != me)
    }

    /// The Active members' identities.
    pub fn active(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.members
            .iter()
            .filter(|m| m.role == Role::Active)
            .map(|m| m.id)
    }

    /// Whether the members are sorted by node with no node twice (the form every view has).
    pub fn is_well_formed(&self) -> bool {
        self.members.windows(2).all(|w| w[0].id.node < w[1].id.node)
    }

    /// Identities Active here that `next` removes or demotes: the ones whose lease promises
    /// an acceptor must let expire before accepting `next` (protocol.md §7.3).
    pub fn removed_or_demoted(&self, next: &View) -> Vec<MemberId> {
        self.active().filter(|&id| !next.is_active(id)).collect()
    }

    /// The chain rule: `next` follows this view by one epoch, is well formed, and keeps at least
    /// one of this view's Active members Active (protocol.md §7.1).
    pub fn may_precede(&self, next: &View) -> bool {
        self.epoch.next() == Some(next.epoch)
            && next.is_well_formed()
            && self.active().any(|id| next.is_active(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(epoch: u64, members: &[(u32, u64, Role)]) -> View {
        View {
            epoch: Epoch(epoch),
            members: members
                .iter()
                .map(|&(n, adm, role)| Member {
                    id: MemberId {
                        node: NodeId(n),
                        adm,
                    },
                    role,
                })
                .collect(),
        }
    }

    #[test]
    fn chain_rule_and_removals() {
        let v1 = View::initial(Epoch(1), &[NodeId(2), NodeId(0), NodeId(1)]);
        assert_eq!(
            v1.members.iter().map(|m| m.id.node.0).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        let v2 = view(2, &[(0, 1, Role::Active), (1, 1, Role::Active)]);
        assert!(v1.may_precede(&v2));
        assert_eq!(
            v1.removed_or_demoted(&v2),
            vec![MemberId {
                node: NodeId(2),
                adm: 1
            }]
        );
        let readd = view(
            3,
            &[
                (0, 1, Role::Active),
                (1, 1, Role::Active),
                (2, 3, Role::Joining),
            ],
        );
        assert!(v2.may_precede(&readd) && v2.removed_or_demoted(&readd).is_empty());
        let none_left = view(3, &[(2, 3, Role::Active)]);
        assert!(
            !v2.may_precede(&none_left),
            "no Active member of the previous view survives"
        );
        assert!(
            !v1.may_precede(&view(3, &[(0, 1, Role::Active)])),
            "epochs must be consecutive"
        );
        assert!(
            !v1.may_precede(&view(2, &[(1, 1, Role::Active), (0, 1, Role::Active)])),
            "unsorted"
        );
    }
}
