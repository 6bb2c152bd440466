//! # level2pc — the replication engine
//!
//! level2pc replicates a key-value store across a small cluster so that **every node accepts
//! writes and every node serves reads locally, and every read is linearizable**. This crate is the
//! protocol engine: a synchronous, I/O-free state machine ([`Node`]) that you drive from your own
//! event loop. It reads no clock, opens no socket or file, starts no thread and draws no unseeded
//! randomness: messages, timeouts, storage acknowledgements and client operations go in; sends,
//! persists, replies and events come out. The same engine runs under the deterministic simulator
//! (`level2pc-sim`) and in the real node (`level2pc-adapters`: LMDB + mio).
//!
//! The protocol is Hermes-style invalidate / acknowledge / validate (see `docs/protocol.md` in
//! the repository): a write invalidates the key on every member, commits once every member has
//! durably acknowledged, and validates everywhere; a read is served locally only while the key is
//! Valid. Writes never abort, so there is no two-phase-commit blocking window: any replica holding
//! an update can finish it by replaying it. A read-modify-write ([`Op::Rmw`]: compare-and-set,
//! increment, set-if-absent, ...) is the one update that can lose: it commits only if nothing was
//! committed on its key since the value it read, and otherwise the engine evaluates it again on
//! the new value (`docs/protocol.md` §11).
//!
//! ## The drive loop
//!
//! 1. Build a [`Node`] from a [`Config`] and the state your storage recovered ([`Recovered`]).
//! 2. Feed it inputs, each with your monotonic clock's current [`Instant`]:
//!    [`Node::handle_message`] (a peer's message), [`Node::submit`] (a client operation),
//!    [`Node::handle_persisted`] (your storage made persists durable),
//!    [`Node::handle_timeout`] (the instant from [`Node::poll_timeout`] passed).
//! 3. After every input, drain [`Node::poll_output`] and carry out each [`Output`]:
//!    * `Send { to, msgs }` — deliver to a peer (best effort; the engine retransmits);
//!    * `Persist { seq, ops }` — apply `ops` atomically, in order, then call `handle_persisted(seq)`;
//!    * `Reply { id, result }` — answer the client;
//!    * `Event(..)` — readiness and peer changes.
//!
//! The example below drives three engines in one thread with an in-memory "network" and "disk"
//! that complete everything at once: a put on node 0 is read back on node 2.
//!
//! ```
//! use level2pc::{Config, Instant, Node, NodeId, Op, OpResult, Output, Recovered, RequestId, BootInc};
//! use std::collections::VecDeque;
//!
//! let members = vec![NodeId(0), NodeId(1), NodeId(2)];
//! let mut nodes: Vec<Node> = members
//!     .iter()
//!     .map(|&id| {
//!         let fresh_disk = Recovered { boot: BootInc(1), ..Default::default() };
//!         Node::new(Config::new(id, members.clone()), fresh_disk, Instant::ZERO).unwrap()
//!     })
//!     .collect();
//!
//! let mut now = Instant::ZERO;
//! let mut network: VecDeque<(NodeId, NodeId, Vec<level2pc::Message>)> = VecDeque::new();
//! let mut replies = Vec::new();
//!
//! // Carry out one node's outputs. A real driver writes `Persist` ops to disk (one transaction)
//! // before acknowledging them; here the "disk" is instant.
//! fn drain(node: &mut Node, now: Instant, network: &mut VecDeque<(NodeId, NodeId, Vec<level2pc::Message>)>,
//!          replies: &mut Vec<(RequestId, OpResult)>) {
//!     while let Some(out) = node.poll_output() {
//!         match out {
//!             Output::Send { to, msgs } => network.push_back((node.id(), to, msgs)),
//!             Output::Persist { seq, .. } => node.handle_persisted(now, seq),
//!             Output::Reply { id, result } => replies.push((id, result)),
//!             Output::Event(_) => {}
//!         }
//!     }
//! }
//!
//! // Run the cluster: deliver messages, fire timers, advance time a millisecond per round.
//! let mut run = |nodes: &mut Vec<Node>, now: &mut Instant, replies: &mut Vec<(RequestId, OpResult)>, ms: u64| {
//!     for _ in 0..ms {
//!         for node in nodes.iter_mut() {
//!             if node.poll_timeout().is_some_and(|t| t <= *now) {
//!                 node.handle_timeout(*now);
//!             }
//!             drain(node, *now, &mut network, replies);
//!         }
//!         while let Some((from, to, msgs)) = network.pop_front() {
//!             let node = &mut nodes[to.0 as usize];
//!             node.handle_messages(*now, from, msgs);
//!             drain(node, *now, &mut network, replies);
//!         }
//!         *now = now.plus_ms(1);
//!     }
//! };
//!
//! run(&mut nodes, &mut now, &mut replies, 10); // heartbeats: every node becomes ready
//! assert!(nodes.iter().all(|n| n.is_ready()));
//!
//! let deadline = now.plus_ms(1_000);
//! nodes[0].submit(now, RequestId(1), Op::Put { key: b"x"[..].into(), value: b"100"[..].into() }, deadline).unwrap();
//! run(&mut nodes, &mut now, &mut replies, 5);
//! assert!(matches!(replies[0], (RequestId(1), OpResult::Written { .. })));
//!
//! nodes[2].submit(now, RequestId(2), Op::Get { key: b"x"[..].into() }, deadline).unwrap();
//! run(&mut nodes, &mut now, &mut replies, 1);
//! assert_eq!(replies[1], (RequestId(2), OpResult::Value(Some(b"100"[..].into()))));
//! ```
//!
//! ## What the engine guarantees, and what it asks of its driver
//!
//! * A `Reply` or `Send` that depends on durability is emitted only after the matching
//!   `handle_persisted`. The driver must apply persists in order, each atomically.
//! * A read's value is taken in the same engine step that checks it may be served, so later
//!   persists cannot leak into it. The engine keeps the whole key space in memory (a bounded,
//!   ordered index with tombstones); storage is for durability and recovery.
//! * Every client operation gets exactly one `Reply`, no later than its deadline. A write that
//!   started but has not committed by then is `Indeterminate` (it may still commit); one that
//!   never started is `Unavailable` and was written nowhere.
//! * The driver must hand in a non-decreasing `now` sampled after the input arrived (the engine
//!   clamps a regressing clock) and must never deliver a message to the wrong node.
//!
//! ## Membership, leases and fail-over
//!
//! The configured nodes are the static Paxos acceptor set and the members of the epoch-1 view.
//! A member that falls silent for `peer_timeout_ms` is removed by a view change (single-decree
//! Paxos per epoch); writes, which need every member's ACK, resume in the new view. Reads need a
//! lease from a majority of acceptors, and an acceptor that granted one accepts no view removing
//! the holder for `promise_ms` (`W ≥ L·(1+ρ)/(1−ρ)`, checked by [`Config::validate`]), so a
//! removed node has stopped serving reads before anything can be written without it. A removed
//! node, a restarted node that was removed meanwhile, or a node whose disk was lost (start it
//! with [`Recovered::join`]) asks to join, is admitted as a Joining member under a new identity,
//! pulls a snapshot from an Active member while already acknowledging new writes, and is
//! promoted to Active. `min_consensus` keeps every view at least that large.
//!
//! In the example above every message arrives at once, so the first heartbeat already brings
//! the majority of lease grants that makes each node ready.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

// One public path per type: the crate root re-exports every public type below; only the wire
// codec, a set of free functions and constants, is a public module.
mod client;
pub mod codec;
mod config;
#[cfg(test)]
mod harness;
mod message;
mod mutant;
mod node;
mod output;
mod rmw;
/// The output-routing loop of simulated clusters (the engine's tests and `level2pc-sim`).
#[cfg(any(test, feature = "mutants"))]
#[doc(hidden)]
pub mod route;
mod storage;
mod time;
mod timestamp;
mod update;
mod view;

pub use client::{Change, Op, OpResult, Presence, RequestId, RmwError, SubmitError, Unavailable};
pub use config::{Config, ConfigError};
pub use message::{Ballot, Message};
#[cfg(feature = "mutants")]
pub use mutant::Mutant;
pub use node::Node;
pub use output::{Event, Output};
pub use rmw::parse_i64;
pub use storage::{AcceptorRecord, Identity, MemDisk, PersistOp, Recovered, StoredEntry};
pub use time::Instant;
pub use timestamp::{BootInc, Epoch, NodeId, Step, Ts, WriterId};
pub use update::{canonical_writes, Bytes, Update, UpdateRef, Write};
pub use view::{Member, MemberId, Role, View};

#[cfg(test)]
mod purity {
    /// The engine must stay pure (crate docs): no clock, thread, socket, file, unseeded
    /// randomness or hash-ordered iteration in any non-test source file under `src/`.
    #[test]
    fn engine_sources_use_no_io_clock_threads_or_hash_iteration() {
        let forbidden = [
            concat!("std::", "time"),
            concat!("std::", "thread"),
            concat!("std::", "net"),
            concat!("std::", "fs"),
            concat!("std::", "process"),
            concat!("thread_", "rng"),
            concat!("from_", "entropy"),
            concat!("Hash", "Map"),
            concat!("Hash", "Set"),
            concat!("Sys", "temTime"),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut checked = 0;
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                if name == "tests.rs" || name == "harness.rs" {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Only the code before a file's test module counts.
                let code = text.split("#[cfg(test)]").next().unwrap_or("");
                for f in forbidden {
                    if name == "hash_index.rs" && f.starts_with("Hash") {
                        continue;
                    }
                    assert!(!code.contains(f), "{} uses {f}", path.display());
                }
                if name == "hash_index.rs" {
                    assert_hash_index_never_iterated(code);
                }
                checked += 1;
            }
        }
        assert!(checked >= 10, "found only {checked} source files");
    }

    /// `HashIndex` (the one place a hash map is allowed) offers point operations only: its map's
    /// order must never be observed, so nothing in its file may iterate the map.
    fn assert_hash_index_never_iterated(code: &str) {
        let iterating = [
            "map.iter",
            "map.keys",
            "map.values",
            "map.drain",
            "map.into_",
            "map.retain",
            "map.extract_if",
            "in &self.map",
            "in self.map",
            "in &mut self.map",
            "IntoIterator",
            "impl Iterator",
        ];
        assert!(
            code.contains("self.map"),
            "hash_index.rs no longer keeps its `map` field"
        );
        for pattern in iterating {
            assert!(
                !code.contains(pattern),
                "hash_index.rs iterates its hash map: {pattern}"
            );
        }
    }

    #[test]
    fn the_hash_index_check_catches_iteration() {
        let bad = "fn f(&self) -> impl Iterator<Item = &V> { self.map.values() }";
        assert!(std::panic::catch_unwind(|| assert_hash_index_never_iterated(bad)).is_err());
        assert_hash_index_never_iterated("fn f(&self) { self.map.get(k); }");
    }
}
