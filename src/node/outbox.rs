//! What leaves the engine: messages gathered during a step (one `Output::Send` per peer at its
//! end), messages to itself (handled within the step: a node is its own acceptor), sends that
//! wait for a persist (acceptor replies, rule P4), and the outputs the driver polls.

use crate::message::Message;
use crate::output::Output;
use crate::timestamp::NodeId;
use std::collections::{BTreeMap, VecDeque};

/// The engine's outgoing traffic and its output queue.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Messages to each peer during the current step, in send order per peer.
    sends: BTreeMap<NodeId, Vec<Message>>,
    /// Messages to this node itself, handled before the step ends.
    loopback: VecDeque<Message>,
    /// Sends that wait until a persist is durable: `(persist seq, to, message)`.
    after_persist: Vec<(u64, NodeId, Message)>,
    /// Outputs ready for the driver.
    outputs: VecDeque<Output>,
}

impl Outbox {
    /// Queues `msg` from `me` to `to` (to itself through the loopback).
    pub(super) fn send(&mut self, me: NodeId, to: NodeId, msg: Message) {
        if to == me {
            self.loopback.push_back(msg);
        } else {
            self.sends.entry(to).or_default().push(msg);
        }
    }

    /// Holds `msg` to `to` until persist `seq` is durable.
    pub(super) fn send_after(&mut self, seq: u64, to: NodeId, msg: Message) {
        self.after_persist.push((seq, to, msg));
    }

    /// Takes the held sends whose persist is now durable, in the order they were held.
    pub(super) fn take_durable(
        &mut self,
        is_durable: impl Fn(u64) -> bool,
    ) -> Vec<(NodeId, Message)> {
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.after_persist)
            .into_iter()
            .partition(|d| is_durable(d.0));
        self.after_persist = waiting;
        ready.into_iter().map(|(_, to, msg)| (to, msg)).collect()
    }

    /// The next message this node sent itself.
    pub(super) fn pop_loopback(&mut self) -> Option<Message> {
        self.loopback.pop_front()
    }

    pub(super) fn loopback_is_empty(&self) -> bool {
        self.loopback.is_empty()
    }

    /// Queues an output for the driver.
    pub(super) fn push(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    /// The next output for the driver.
    pub(super) fn pop(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Ends a step: the messages gathered, one `Send` per peer in peer order.
    pub(super) fn flush_sends(&mut self) {
        for (to, msgs) in std::mem::take(&mut self.sends) {
            self.outputs.push_back(Output::Send { to, msgs });
        }
    }
}
