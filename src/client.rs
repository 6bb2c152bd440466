//! Client operations and their results.

use crate::timestamp::Ts;
use crate::update::{Bytes, Write};
use serde::{Deserialize, Serialize};

/// A driver-chosen identifier for one client request; echoed in its [`crate::Output::Reply`].
/// Must be unique among the requests currently in flight at one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct RequestId(pub u64);

/// A client operation on the replicated store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Op {
    /// Read one key.
    Get {
        /// The key.
        key: Bytes,
    },
    /// Read several keys atomically (one consistent cut).
    GetMany {
        /// The keys, answered in this order.
        keys: Vec<Bytes>,
    },
    /// Read the live keys `k` with `lo <= k < hi`, ascending, at most `limit` of them, atomically.
    Range {
        /// Inclusive lower bound.
        lo: Bytes,
        /// Exclusive upper bound.
        hi: Bytes,
        /// Maximum number of entries returned (`None`: the configured maximum).
        limit: Option<usize>,
    },
    /// Store a value.
    Put {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
    },
    /// Delete a key (stored as a tombstone).
    Del {
        /// The key.
        key: Bytes,
    },
    /// Apply several puts and deletes atomically. A key written twice takes its last write.
    Batch {
        /// The writes.
        writes: Vec<Write>,
    },
}

impl Op {
    /// Whether the operation changes the store.
    pub fn is_write(&self) -> bool {
        matches!(self, Op::Put { .. } | Op::Del { .. } | Op::Batch { .. })
    }
}

/// Why an operation was not performed. Nothing was written anywhere when a write gets one of
/// these: the engine never starts a write it then reports as unavailable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Unavailable {
    /// The node cannot reach the members it needs (see [`crate::Event::NotReady`]) and the
    /// request's deadline passed while it waited.
    NotReady,
    /// The request waited for keys that stayed Invalid until its deadline.
    Timeout,
    /// The node holds no valid read lease (it cannot reach a majority of acceptors, or is
    /// about to be removed), so it may not serve reads.
    NoLease,
    /// The node is not an Active member of the current view (removed, or still joining).
    NotMember,
    /// The node's bounded request queue is full; retry later.
    Overloaded,
    /// The request is malformed (e.g. an empty batch or a range with `lo > hi`).
    BadRequest,
    /// The request is larger than the configured limits.
    TooLarge,
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unavailable::NotReady => "not ready: required peers unreachable",
            Unavailable::Timeout => "timed out waiting for keys to become valid",
            Unavailable::NoLease => "no lease: cannot reach a majority of the cluster",
            Unavailable::NotMember => "not an active member of the cluster (removed or joining)",
            Unavailable::Overloaded => "overloaded: request queue full",
            Unavailable::BadRequest => "bad request",
            Unavailable::TooLarge => "request too large",
        })
    }
}

/// The result of a client operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum OpResult {
    /// A write committed: it is durable on every member and visible to every later read.
    Written {
        /// The timestamp it committed under.
        ts: Ts,
    },
    /// A `Get`: the value, or `None` if the key is absent or deleted.
    Value(Option<Bytes>),
    /// A `GetMany`: one entry per requested key, in request order.
    Values(Vec<Option<Bytes>>),
    /// A `Range`: the live entries, ascending by key.
    Entries(Vec<(Bytes, Bytes)>),
    /// The operation was not performed.
    Unavailable(Unavailable),
    /// A write whose outcome is not known by its deadline. It may still commit (writes never
    /// abort); a later read tells.
    Indeterminate,
}

/// Error returned by [`crate::Node::submit`] for driver misuse (not for client-visible failures,
/// which arrive as [`OpResult`]s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// A request with this id is already in flight.
    DuplicateRequestId(RequestId),
}

impl std::fmt::Display for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::DuplicateRequestId(id) => {
                write!(f, "request id {} already in flight", id.0)
            }
        }
    }
}

impl std::error::Error for SubmitError {}
