//! level2pc engine (crate docs written below).

pub mod client;
pub mod codec;
pub mod config;
pub mod message;
pub mod node;
pub mod output;
pub mod storage;
pub mod time;
pub mod timestamp;
pub mod update;
pub mod view;
#[cfg(test)]
mod harness;

pub use client::{Op, OpResult, RequestId, SubmitError, Unavailable};
pub use config::{Config, ConfigError};
pub use message::Message;
pub use node::Node;
pub use output::{Event, Output};
pub use storage::{PersistOp, Recovered, StoredEntry};
pub use time::Instant;
pub use timestamp::{BootInc, Epoch, NodeId, Ts, WriterId};
pub use update::{Bytes, Update, UpdateRef, Write};
pub use view::{Role, View};
