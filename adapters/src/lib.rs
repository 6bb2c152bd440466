//! # level2pc-adapters — the real node
//!
//! Runs the `level2pc` engine as a real replica: a write-ahead log with group commit in front
//! of LMDB, disk work on its own threads, a mio event loop talking to peers over TCP with an
//! authenticated handshake that also spreads every node's address (so a node knowing one
//! member's address can join, [`Config::seeds`]), a Redis-protocol (RESP2) front end, and an
//! embedding API ([`Replicator`]). The `level2pc` binary wraps all of it (`level2pc serve`,
//! `cluster`, `demo`, and a client).
//!
//! The public API:
//!
//! * run a node: [`Replicator`] (blocking calls through its [`Handle`]), configured by
//!   [`Config`] ([`NetConfig`], [`RespConfig`], [`StoreOptions`], [`WalOptions`], [`Secret`],
//!   peers as [`PeerAddr`]), reporting [`NodeEvent`]s and [`NodeInfo`];
//! * errors: [`Error`], with [`ConfigError`], [`StorageError`], [`DiscoveryError`] and the
//!   errors they carry;
//! * several nodes in one process on loopback: [`LocalCluster`];
//! * talk to any node's RESP port: [`client`].
//!
//! ```no_run
//! use level2pc::NodeId;
//! use level2pc_adapters::{Config, PeerAddr, Replicator};
//!
//! let peers = vec![
//!     PeerAddr { id: NodeId(1), addr: "127.0.0.1:3001".into() },
//!     PeerAddr { id: NodeId(2), addr: "127.0.0.1:3002".into() },
//! ];
//! let db = Replicator::open("./db0", Config::new(NodeId(0), "127.0.0.1:3000", peers))?;
//! db.put("x", "100")?; // durable on every member when it returns
//! assert_eq!(db.get("x")?, Some(b"100".to_vec()));
//! db.close()?;
//! # Ok::<(), level2pc_adapters::Error>(())
//! ```

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod backoff;
mod clock;
mod cluster;
mod config;
mod directory;
mod discovery;
mod disk;
mod driver;
mod error;
mod events;
mod fuzz;
mod handshake;
mod inbound;
mod link;
mod network;
mod outbound;
mod outbuf;
mod replicator;
mod resolver;
mod resp;
mod resp_server;
mod storage;
mod wal;

pub use cluster::{LocalCluster, Ports};
pub use config::{Config, ConfigError, NetConfig, RespConfig, DEFAULT_CLUSTER_ID};
pub use directory::{check_addr, DirectoryError, PeerAddr};
pub use discovery::DiscoveryError;
pub use disk::DiskStats;
pub use driver::{KeyState, NodeInfo};
pub use error::Error;
pub use events::NodeEvent;
pub use handshake::{HandshakeError, Secret};
pub use level2pc::{Change, Presence, RmwError, Ts};
pub use outbound::LinkInfo;
pub use replicator::{Batch, Changed, Entries, Handle, Listeners, Replicator};
pub use resp::client;
pub use storage::{StorageError, StoreOptions, StoreStats};
pub use wal::WalOptions;

/// Internals this repository's fuzz targets, process tests and measuring examples drive
/// directly: the handshake and RESP state machines, the store and its log. **Not part of the
/// API**: hidden from the documentation, and may change in any release.
#[doc(hidden)]
pub mod internals {
    pub use crate::directory::Directory;
    pub use crate::disk::open as open_store;
    pub use crate::fuzz::{handshake as fuzz_handshake, resp as fuzz_resp};
    pub use crate::handshake::{
        encode_handshake, Acceptor, Dialer, HandshakeMsg, Params, Step, MAX_HANDSHAKE_FRAME_BYTES,
        NONCE_BYTES,
    };
    pub use crate::resp::session::{Action, Session};
    pub use crate::resp::{parse, reply, Command, Limits};
    pub use crate::storage::Identity;
    pub use crate::wal::fs::OsFs;
    pub use crate::wal::Wal;
}
