//! The cluster directory: the static acceptor set and every node's peer address, as one node
//! knows them. Members hand it to every peer that completes a handshake with them, so a node that
//! knows a single member's address can find the whole cluster (`level2pc serve --join HOST:PORT`),
//! and a node that joins later becomes known to every member it dials (its `Hello` carries the
//! address it can be reached at).
//!
//! # Bounds
//!
//! A directory holds at most [`MAX_DIRECTORY_NODES`] acceptors and as many peer addresses, each
//! address at most [`MAX_ADDR_BYTES`] bytes; a peer sending more fails the handshake. A node
//! learns at most [`MAX_DIRECTORY_NODES`] peers; addresses of further nodes are ignored (and
//! logged), so a flood of strangers cannot grow its memory.

use level2pc::NodeId;
use serde::{Deserialize, Serialize};

/// Most acceptors, and most peer addresses, in one directory.
pub const MAX_DIRECTORY_NODES: usize = 128;
/// Longest peer address (`HOST:PORT`), in bytes.
pub const MAX_ADDR_BYTES: usize = 261;

/// A peer's id and the address its peer listener is reachable at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerAddr {
    /// The peer's node id.
    pub id: NodeId,
    /// `HOST:PORT` of its peer listener (resolved at every connection attempt).
    pub addr: String,
}

/// What one node knows about the cluster's nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// The static Paxos acceptors (the configured cluster), in id order.
    pub acceptors: Vec<NodeId>,
    /// Peer addresses, one per node, in id order.
    pub peers: Vec<PeerAddr>,
}

/// Why a directory or an address was refused.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// More entries than a directory may hold (128).
    #[error("directory lists {0} nodes, more than the {MAX_DIRECTORY_NODES} allowed")]
    TooLarge(usize),
    /// An address is not `HOST:PORT` or is too long.
    #[error("{0:?} is not a HOST:PORT address of at most {MAX_ADDR_BYTES} bytes")]
    BadAddr(String),
    /// A node is listed twice.
    #[error("node {0} is listed twice")]
    Duplicate(NodeId),
    /// No acceptors.
    #[error("directory lists no acceptors")]
    NoAcceptors,
}

impl Directory {
    /// Checks the bounds, the addresses and uniqueness; what a received directory must pass.
    pub fn check(&self) -> Result<(), DirectoryError> {
        let largest = self.acceptors.len().max(self.peers.len());
        if largest > MAX_DIRECTORY_NODES {
            return Err(DirectoryError::TooLarge(largest));
        }
        if self.acceptors.is_empty() {
            return Err(DirectoryError::NoAcceptors);
        }
        check_unique(self.acceptors.iter().copied())?;
        check_unique(self.peers.iter().map(|p| p.id))?;
        self.peers.iter().try_for_each(|p| check_addr(&p.addr))
    }

    /// The address listed for `id`, if any.
    pub fn addr_of(&self, id: NodeId) -> Option<&str> {
        self.peers
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.addr.as_str())
    }
}

fn check_unique(ids: impl Iterator<Item = NodeId>) -> Result<(), DirectoryError> {
    let mut ids: Vec<NodeId> = ids.collect();
    ids.sort();
    match ids.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(DirectoryError::Duplicate(w[0])),
        None => Ok(()),
    }
}

/// Checks that `addr` looks like `HOST:PORT` (a non-empty host, a port number) and is short
/// enough to be carried in a handshake. It is resolved only when dialed.
pub fn check_addr(addr: &str) -> Result<(), DirectoryError> {
    let well_formed = addr.len() <= MAX_ADDR_BYTES
        && addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if well_formed {
        Ok(())
    } else {
        Err(DirectoryError::BadAddr(addr.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: u32, addr: &str) -> PeerAddr {
        PeerAddr {
            id: NodeId(id),
            addr: addr.into(),
        }
    }

    #[test]
    fn well_formed_directories_pass_and_bad_ones_say_why() {
        let good = Directory {
            acceptors: vec![NodeId(0), NodeId(1)],
            peers: vec![
                peer(0, "a:1"),
                peer(1, "[::1]:2"),
                peer(5, "host.example:3"),
            ],
        };
        assert_eq!(good.check(), Ok(()));
        assert_eq!(good.addr_of(NodeId(5)), Some("host.example:3"));
        assert_eq!(good.addr_of(NodeId(9)), None);

        let mut dup = good.clone();
        dup.peers.push(peer(1, "b:2"));
        assert_eq!(dup.check(), Err(DirectoryError::Duplicate(NodeId(1))));
        let mut bad = good.clone();
        bad.peers.push(peer(7, "nohost"));
        assert_eq!(bad.check(), Err(DirectoryError::BadAddr("nohost".into())));
        for addr in [":1", "h:99999", "h:", &format!("{}:1", "x".repeat(300))] {
            assert!(check_addr(addr).is_err(), "{addr}");
        }
        let empty = Directory::default();
        assert_eq!(empty.check(), Err(DirectoryError::NoAcceptors));
        let huge = Directory {
            acceptors: (0..200).map(NodeId).collect(),
            peers: vec![],
        };
        assert_eq!(huge.check(), Err(DirectoryError::TooLarge(200)));
    }
}
