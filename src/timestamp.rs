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

/// The part of a read-modify-write's timestamp that places it right after its base
/// (protocol.md §11.1). Steps compare by `depth`, then `rank`, then `by`, then `seq`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Step {
    /// How many RMWs lead from the root write to this one (1 for an RMW on a write).
    pub depth: u64,
    /// Drawn at random by the coordinator: orders RMWs on the same base fairly (§11.5).
    pub rank: u32,
    /// The RMW's coordinator.
    pub by: WriterId,
    /// The coordinator's issue counter (shared with write versions), so the Ts is unique.
    pub seq: u64,
}

/// An update's timestamp, ordered lexicographically by `version`, then `writer`, then `step`
/// (a write has none, which orders before every step).
///
/// `Ts::ZERO` is the timestamp of a key that was never written (absent, Valid everywhere).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Ts {
    /// Lamport-style version: `1 + max(local versions of the keys, writer's last issued version)`.
    pub version: u64,
    /// Who issued it (for an RMW: who issued the write at the root of its chain); breaks ties
    /// between equal versions.
    pub writer: WriterId,
    /// `Some` for a read-modify-write: its place after its base (protocol.md §11.1).
    pub step: Option<Step>,
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
        step: None,
    };

    /// A timestamp from its parts.
    pub const fn new(version: u64, node: NodeId, boot: BootInc) -> Ts {
        Ts {
            version,
            writer: WriterId { node, boot },
            step: None,
        }
    }

    /// The timestamp of an RMW on `base` by `by` (§11.1): `base` extended by one step. `None`
    /// only if the chain is `u64::MAX` long.
    pub fn rmw_on(base: Ts, rank: u32, by: WriterId, seq: u64) -> Option<Ts> {
        let depth = base.step.map_or(0, |s| s.depth).checked_add(1)?;
        Some(Ts {
            step: Some(Step {
                depth,
                rank,
                by,
                seq,
            }),
            ..base
        })
    }

    /// Who created the update: the coordinator of an RMW, the writer of a write.
    pub fn issuer(&self) -> WriterId {
        self.step.map_or(self.writer, |s| s.by)
    }
}

impl std::fmt::Display for Ts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "({},{}.{}",
            self.version, self.writer.node, self.writer.boot.0
        )?;
        if let Some(s) = self.step {
            write!(
                f,
                "+{}:{}:{}.{}:{}",
                s.depth, s.rank, s.by.node, s.by.boot.0, s.seq
            )?;
        }
        f.write_str(")")
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
    fn an_rmw_lies_right_after_its_base() {
        let b = ts(5, 1, 1);
        let by = |n| WriterId {
            node: NodeId(n),
            boot: BootInc(1),
        };
        let r = Ts::rmw_on(b, 7, by(2), 9).unwrap();
        // Above its base, below every later write and every sibling write of higher writer.
        assert!(b < r && r < ts(6, 0, 0) && r < ts(5, 2, 0));
        // Two RMWs on one base order by rank first, whoever issued them.
        assert!(Ts::rmw_on(b, 8, by(0), 0).unwrap() > r);
        // A chain grows by depth: an RMW on r is above every RMW on b.
        let rr = Ts::rmw_on(r, 0, by(0), 0).unwrap();
        assert!(rr > Ts::rmw_on(b, u32::MAX, by(9), u64::MAX).unwrap());
        assert_eq!(r.issuer(), by(2));
        assert_eq!(b.issuer(), b.writer);
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
