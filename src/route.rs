//! Routing an engine's outputs in a simulated cluster: the one loop that drains
//! [`Node::poll_output`] and hands each output to the driver, shared by the engine's own test
//! harness (`harness.rs`) and the simulator (`level2pc-sim`: its world, where sends go through the
//! simulated network, persists to the simulated disks and commits to the oracle, and its scripted
//! scenarios). The simulator's `node_inputs` fuzz harness drains its one engine itself: it looks
//! at a step's outputs as a whole before checking them, rather than routing them one by one.
//!
//! Compiled for the engine's tests and for the simulator (which builds the engine with the
//! `mutants` feature); not part of the product's API.

use crate::client::{OpResult, RequestId};
use crate::message::Message;
use crate::node::Node;
use crate::output::{Event, Output};
use crate::storage::PersistOp;

/// A driver of simulated nodes (numbered `0..n`, node `i` has `NodeId(i)`): what each kind of
/// engine output means for it.
pub trait Route {
    /// Node `i`'s engine, or `None` while it is down.
    fn node_mut(&mut self, i: usize) -> Option<&mut Node>;
    /// Node `from` sends `msgs`, in order, to node `to` (which may not exist).
    fn send(&mut self, from: usize, to: usize, msgs: Vec<Message>);
    /// Node `i` asks for persist `seq` of `ops`.
    fn persist(&mut self, i: usize, seq: u64, ops: Vec<PersistOp>);
    /// Node `i` answers client request `id`.
    fn reply(&mut self, i: usize, id: RequestId, result: OpResult);
    /// Node `i` reports `event`.
    fn event(&mut self, i: usize, event: Event);
}

/// Drains node `i`'s outputs, in order, into `driver` (nothing if the node is down). A driver
/// may feed inputs to other nodes, or to `i`, while it routes: the loop polls again after each.
pub fn drain_outputs(driver: &mut impl Route, i: usize) {
    while let Some(out) = driver.node_mut(i).and_then(Node::poll_output) {
        match out {
            Output::Send { to, msgs } => driver.send(i, to.0 as usize, msgs),
            Output::Persist { seq, ops } => driver.persist(i, seq, ops),
            Output::Reply { id, result } => driver.reply(i, id, result),
            Output::Event(event) => driver.event(i, event),
        }
    }
}
