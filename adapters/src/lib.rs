//! # level2pc-adapters — the real node
//!
//! Runs the `level2pc` engine as a real replica: LMDB storage with group commit
//! ([`storage`]), a mio event loop talking to peers over TCP with an authenticated handshake
//! ([`network`], [`peer`], [`inbound`], [`handshake`], host names looked up off the loop by
//! [`resolver`]) that also spreads every node's address
//! ([`directory`]), so a node knowing one member's address can join ([`discovery`],
//! [`Config::seeds`]), a suspend-aware clock ([`clock`]), a
//! Redis-protocol front end ([`resp`], [`resp_server`]), and an embedding API ([`Replicator`]).
//! The `level2pc` binary wraps all of it (`level2pc serve`, `cluster`, `demo`, and a client).
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

pub mod backoff;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod directory;
pub mod discovery;
pub mod disk;
pub mod driver;
pub mod error;
pub mod events;
pub mod handshake;
pub mod inbound;
pub mod network;
pub mod outbuf;
pub mod peer;
pub mod replicator;
pub mod resolver;
pub mod resp;
pub mod resp_server;
pub mod storage;
pub mod wal;

pub use config::{Config, ConfigError, NetConfig, PeerAddr, RespConfig};
pub use driver::{KeyState, NodeInfo};
pub use error::Error;
pub use events::NodeEvent;
pub use handshake::Secret;
pub use replicator::{Batch, Handle, Listeners, Replicator};
pub use storage::{StorageError, StoreOptions};
