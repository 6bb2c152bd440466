//! Deterministic simulator for level2pc (skeleton; see issue 3).

pub mod checker;
pub mod history;
pub mod clock;
pub mod disk;
pub mod entropy;
pub mod fuzzing;
pub mod network;
pub mod oracle;
pub mod params;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod shrink;
pub mod workload;
pub mod world;
