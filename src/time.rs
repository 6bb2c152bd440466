//! The engine's notion of time: a monotonic instant the driver hands in with every input.
//!
//! The engine never reads a clock. Drivers sample their own monotonic clock (the real node uses
//! `CLOCK_BOOTTIME`, the simulator a per-node virtual clock) *after* an input arrives and pass it in;
//! they must never pass a smaller `Instant` than before (the engine clamps if they do).

use serde::{Deserialize, Serialize};

/// A point on the driver's monotonic clock, in nanoseconds since an arbitrary origin.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(fuzzing, derive(arbitrary::Arbitrary))]
pub struct Instant(pub u64);

impl Instant {
    /// The origin of the clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `ms` milliseconds after the origin.
    pub const fn from_millis(ms: u64) -> Instant {
        Instant(ms.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// This instant plus `ns` nanoseconds, saturating at the end of time.
    pub const fn plus_ns(self, ns: u64) -> Instant {
        Instant(self.0.saturating_add(ns))
    }

    /// This instant plus `ms` milliseconds, saturating at the end of time.
    pub const fn plus_ms(self, ms: u64) -> Instant {
        self.plus_ns(ms.saturating_mul(1_000_000))
    }

    /// Nanoseconds from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_ns_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::fmt::Display for Instant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:06}ms", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}
