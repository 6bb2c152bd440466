//! The embedding API's error type.

use crate::config::ConfigError;
use crate::storage::StorageError;

/// Why a [`crate::Replicator`] call failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operation was not performed, and (for a write) nothing was written anywhere.
    #[error("unavailable: {0}")]
    Unavailable(level2pc::Unavailable),
    /// A write did not finish within its timeout. It may still commit (writes never abort);
    /// read the key to find out.
    #[error("indeterminate: the write did not finish in time and may still commit")]
    Indeterminate,
    /// The node failed stop (e.g. its storage is full) and serves nothing until restarted.
    #[error("node stopped: {0}")]
    Stopped(String),
    /// The replicator was closed.
    #[error("replicator is closed")]
    Closed,
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The cluster could not be discovered from the seeds.
    #[error("discovery: {0}")]
    Discovery(#[from] crate::discovery::DiscoveryError),
    /// The store could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// An address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another I/O error while starting.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A JSON value could not be encoded or decoded.
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A read-modify-write was refused without writing (e.g. an increment of a value that is
    /// not an integer).
    #[error("refused: {0}")]
    Rejected(level2pc::RmwError),
    /// The engine answered with a result of the wrong kind (a bug).
    #[error("internal error: unexpected result kind")]
    Unexpected,
}
