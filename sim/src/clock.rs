//! Per-node clocks: a rate within `1 ± ρ` and an offset, so each node's `Instant` runs a little
//! fast or slow against the simulator's true time. The clock keeps counting while a node is
//! paused (suspend-aware, like `CLOCK_BOOTTIME`).

use level2pc::Instant;

/// One node's clock: `local(t) = offset + t · (1 + drift_ppm / 10⁶)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeClock {
    /// Offset at true time zero, nanoseconds.
    pub offset_ns: u64,
    /// Rate error in parts per million (negative: slow).
    pub drift_ppm: i64,
}

const MILLION: i128 = 1_000_000;

impl NodeClock {
    /// A perfect clock.
    pub const IDEAL: NodeClock = NodeClock {
        offset_ns: 0,
        drift_ppm: 0,
    };

    /// The node's reading at true time `t_ns`.
    pub fn local(&self, t_ns: u64) -> Instant {
        let scaled = i128::from(t_ns) * (MILLION + i128::from(self.drift_ppm)) / MILLION;
        Instant((i128::from(self.offset_ns) + scaled).clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// The earliest true time at which the node's clock reads at least `local`.
    pub fn true_time_of(&self, local: Instant) -> u64 {
        let rel = i128::from(local.as_nanos()) - i128::from(self.offset_ns);
        if rel <= 0 {
            return 0;
        }
        let rate = MILLION + i128::from(self.drift_ppm);
        // Ceiling division, then step forward until the forward map agrees (rounding).
        let mut t = ((rel * MILLION + rate - 1) / rate).clamp(0, i128::from(u64::MAX)) as u64;
        while t > 0 && self.local(t - 1) >= local {
            t -= 1;
        }
        while self.local(t) < local && t < u64::MAX {
            t += 1;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    quickcheck! {
        fn inverse_is_the_earliest_true_time(offset: u32, drift: i16, local: u64) -> bool {
            let c = NodeClock { offset_ns: u64::from(offset), drift_ppm: i64::from(drift) };
            let local = Instant(local % (1u64 << 50));
            let t = c.true_time_of(local);
            c.local(t) >= local && (t == 0 || c.local(t - 1) < local)
        }
        fn clocks_are_monotonic(drift: i16, a: u32, b: u32) -> bool {
            let c = NodeClock { offset_ns: 5, drift_ppm: i64::from(drift) };
            let (a, b) = (u64::from(a.min(b)), u64::from(a.max(b)));
            c.local(a) <= c.local(b)
        }
    }
}
