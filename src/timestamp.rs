//! Identities and timestamps (protocol.md §4.1).
//!
//! Every update carries one [`Ts`]; every key of a batch gets the same one. Timestamps are totally
//! ordered (version, then writer node, then writer boot incarnation), so all replicas pick the same
//! winner between concurrent writes without talking to each other: writes never abort.

use serde::{Deserialize, Serialize};

/// A node's static identity in the cluster configuration.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct NodeId(pub u32);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// A node's boot incarnation: bumped and made durable at every process start, before the node
/// coordinates anything. It keeps timestamps unique across crashes (a node that crashed before
/// persisting its own INV cannot re-issue the same `Ts` for a different value).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct BootInc(pub u64);

/// The writer half of a timestamp: which node, in which boot incarnation, issued it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct WriterId {
    /// The coordinating node.
    pub node: NodeId,
    /// Its boot incarnation when it coordinated the update.
    pub boot: BootInc,
}

/// An update's timestamp, ordered lexicographically by `version`, then `writer`.
///
/// `Ts::ZERO` is the timestamp of a key that was never written (absent, Valid everywhere).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Ts {
    /// Lamport-style version: `1 + max(local versions of the keys, writer's last issued version)`.
    pub version: u64,
    /// Who issued it; breaks ties between equal versions.
    pub writer: WriterId,
}

impl Ts {
    /// The highest version a peer's update may carry. Versions grow by one per write, so no real
    /// cluster gets near it; an INV above it is malformed and dropped, which keeps every local
    /// `1 + max(...)` far from overflow.
    pub const MAX_VERSION: u64 = u64::MAX >> 1;

    /// The timestamp of a never-written key.
    pub const ZERO: Ts = Ts {
        version: 0,
        writer: WriterId {
            node: NodeId(0),
            boot: BootInc(0),
        },
    };

    /// A timestamp from its parts.
    pub const fn new(version: u64, node: NodeId, boot: BootInc) -> Ts {
        Ts {
            version,
            writer: WriterId { node, boot },
        }
    }
}

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "({},{}.{})",
            self.version, self.writer.node, self.writer.boot.0
        )
    }
}

/// A membership epoch. Every data-path message carries one and is processed only in the receiver's
/// installed epoch (epoch fencing, protocol.md §7).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch after this one; `None` at the end of the range, which only a forged or corrupt
    /// view can reach (epochs come from peers, so they are never trusted to be small).
    pub fn next(self) -> Option<Epoch> {
        self.0.checked_add(1).map(Epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    fn ts(v: u64, n: u32, b: u64) -> Ts {
        Ts::new(v, NodeId(n), BootInc(b))
    }

    #[test]
    fn version_dominates_writer() {
        assert!(ts(2, 0, 0) > ts(1, 9, 9));
        assert!(ts(1, 2, 0) > ts(1, 1, 9));
        assert!(ts(1, 1, 2) > ts(1, 1, 1));
        assert_eq!(Ts::ZERO, ts(0, 0, 0));
    }

    quickcheck! {
        fn order_is_lexicographic(a: (u64, u32, u64), b: (u64, u32, u64)) -> bool {
            ts(a.0, a.1, a.2).cmp(&ts(b.0, b.1, b.2)) == a.cmp(&b)
        }
        fn order_is_total_and_antisymmetric(a: (u64, u32, u64), b: (u64, u32, u64)) -> bool {
            let (x, y) = (ts(a.0, a.1, a.2), ts(b.0, b.1, b.2));
            (x < y) as u8 + (x > y) as u8 + (x == y) as u8 == 1
        }
    }
}
