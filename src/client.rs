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
    /// Read the version of several keys atomically (one consistent cut): the timestamp of
    /// each key's last committed update, [`Ts::ZERO`] for a key never written. A later
    /// [`Change::IfVersion`] applies only while a key is still at the version read (Redis's
    /// `WATCH`). Answered [`OpResult::Versions`].
    Versions {
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
    /// Change one key depending on its current value, atomically (a read-modify-write,
    /// protocol.md §11). Answered [`OpResult::Changed`] or [`OpResult::Rejected`].
    Rmw {
        /// The key.
        key: Bytes,
        /// What to do with its current value.
        change: Change,
    },
}

impl Op {
    /// Whether the operation may change the store.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Put { .. } | Op::Del { .. } | Op::Batch { .. } | Op::Rmw { .. }
        )
    }
}

/// Whether a key holds a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Presence {
    /// The key has no value (never written, or deleted).
    Absent,
    /// The key has a value.
    Present,
}

/// A read-modify-write: the new value as a function of the current one. The engine evaluates it
/// on the key's committed value and writes only if nothing else committed in between; when a
/// concurrent update wins, it evaluates it again on the new value (protocol.md §11.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub enum Change {
    /// Compare-and-set: store `new` (`None` deletes) if the value is `expected` (`None`:
    /// absent). Applied only if the comparison holds.
    Cas {
        /// The value the key must hold (`None`: the key must be absent).
        expected: Option<Bytes>,
        /// The value to store (`None`: delete).
        new: Option<Bytes>,
    },
    /// Add `by` to the value read as a signed 64-bit decimal integer (absent reads as 0), as
    /// Redis's `INCRBY` does. Rejected if the value is not such an integer or the sum overflows.
    IncrBy(i64),
    /// Store `value`; with `only`, only if the key is absent (`SET NX`) or present (`SET XX`).
    Set {
        /// The value.
        value: Bytes,
        /// The condition, if any.
        only: Option<Presence>,
    },
    /// Delete the key if it holds a value. Applied only if it did.
    Delete,
    /// Only if the key's last committed update is still `version` (as [`Op::Versions`] read
    /// it; [`Ts::ZERO`]: never written), carry out `then` (`None`: change nothing). Applied
    /// iff the version matched; `then`'s own condition decides only what is written. Redis's
    /// `WATCH` … `EXEC` on one key.
    IfVersion {
        /// The version the key must still be at.
        version: Ts,
        /// The change to make if it is.
        then: Option<Box<Change>>,
    },
}

impl Change {
    /// The values the change carries (compared or stored), for the size limits.
    pub fn values(&self) -> Vec<&[u8]> {
        match self {
            Change::Cas { expected, new } => {
                expected.iter().chain(new.iter()).map(|v| &v[..]).collect()
            }
            Change::Set { value, .. } => vec![&value[..]],
            Change::IncrBy(_) | Change::Delete => Vec::new(),
            Change::IfVersion { then, .. } => then.as_ref().map_or_else(Vec::new, |c| c.values()),
        }
    }
}

/// Why a read-modify-write was refused without writing anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RmwError {
    /// The value is not a signed 64-bit decimal integer.
    NotInteger,
    /// The increment would overflow a signed 64-bit integer.
    Overflow,
}

impl std::fmt::Display for RmwError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RmwError::NotInteger => "value is not an integer or out of range",
            RmwError::Overflow => "increment or decrement would overflow",
        })
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
    /// The request is larger than the configured limits (for a read-modify-write, possibly
    /// the value it computes, known only once it reads the key).
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
    /// A `Versions`: one timestamp per requested key, in request order ([`Ts::ZERO`]: never
    /// written).
    Versions(Vec<Ts>),
    /// A `Range`: the live entries, ascending by key.
    Entries(Vec<(Bytes, Bytes)>),
    /// The operation was not performed.
    Unavailable(Unavailable),
    /// A write whose outcome is not known by its deadline. It may still commit (writes never
    /// abort); a later read tells.
    Indeterminate,
    /// A read-modify-write's outcome. With `applied`, the change took effect at `ts` (or changed
    /// nothing and wrote nothing, `ts: None`, e.g. a compare-and-set to the value it found);
    /// without, the condition did not hold and nothing was written. Either way `previous` is the
    /// value it found and `current` the value after it.
    Changed {
        /// Whether the change took effect.
        applied: bool,
        /// The value before.
        previous: Option<Bytes>,
        /// The value after (`previous` unless applied).
        current: Option<Bytes>,
        /// The timestamp it committed under, if it wrote.
        ts: Option<Ts>,
    },
    /// A read-modify-write refused without writing (e.g. an increment of a non-integer).
    Rejected(RmwError),
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
