//! # level2pc-sim — the deterministic simulator and linearizability checker
//!
//! [`world::run`] drives N real [`level2pc::Node`]s through a seeded fault schedule (loss,
//! duplication, reordering, partitions, resets, crashes, pauses, disk loss, clock drift) on
//! virtual time, records every client operation as a [`history::History`], and checks the run:
//! the history must be linearizable ([`checker`]), the protocol's invariants must hold at every
//! step ([`oracle`]), and after the faults stop the cluster must converge and answer in bounded
//! time. The same seed always gives the same run ([`world::Outcome::trace_hash`]).
//!
//! ```
//! use level2pc_sim::params::{FaultKinds, SimParams};
//! use level2pc_sim::world::{run, RunOptions};
//!
//! let params = SimParams::draw(7, 3, 200, FaultKinds::parse("all").unwrap(), true);
//! let outcome = run(&params, RunOptions::default());
//! assert!(outcome.passed(), "{:?}", outcome.violations);
//! ```
//!
//! [`scenario::Script`] replays hand-written interleavings; [`runner`] is the `level2pc-sim run`
//! command (seeds, shrinking, reports); [`fuzz`] holds the cargo-fuzz target bodies.

#![deny(missing_docs)]

pub mod checker;
pub mod clock;
pub mod entropy;
pub mod fixed_hash;
pub mod fuzz;
pub mod history;
pub mod network;
pub mod oracle;
pub mod params;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod workload;
pub mod world;
