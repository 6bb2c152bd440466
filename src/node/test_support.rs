//! Fixtures shared by the engine's unit tests (`tests.rs`, `membership_tests.rs`).

use super::Node;
use crate::output::Output;
use crate::time::Instant;
use crate::timestamp::{Epoch, NodeId};
use crate::update::Bytes;
use crate::view::View;

/// The initial epoch of a 3-node cluster.
pub(super) const E1: Epoch = Epoch(1);
/// A deadline that never passes.
pub(super) const DEADLINE: Instant = Instant(u64::MAX);

pub(super) fn b(s: &str) -> Bytes {
    s.as_bytes().into()
}

pub(super) fn n(i: u32) -> NodeId {
    NodeId(i)
}

pub(super) fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The initial view of nodes {0, 1, 2}.
pub(super) fn v1() -> View {
    View::initial(E1, &[n(0), n(1), n(2)])
}

/// Every output the node has queued, in order.
pub(super) fn drain(node: &mut Node) -> Vec<Output> {
    std::iter::from_fn(|| node.poll_output()).collect()
}
