//! The node's clock: `CLOCK_BOOTTIME`, which keeps counting while the machine is suspended
//! (protocol.md §7.5), clamped so it never runs backwards, as the engine's [`Instant`].
//!
//! `std::time::Instant` uses `CLOCK_MONOTONIC`, which stops during suspend: a node that slept
//! would under-count elapsed time, which is unsafe for lease holders once leases exist.

use level2pc::Instant;

/// A monotonic, suspend-aware clock. Sample it *after* an input arrived from the OS.
#[derive(Debug, Default)]
pub struct BootClock {
    last: Instant,
}

impl BootClock {
    /// A clock starting at the current `CLOCK_BOOTTIME`.
    pub fn new() -> BootClock {
        let mut clock = BootClock {
            last: Instant::ZERO,
        };
        clock.now();
        clock
    }

    /// The current time, never earlier than any earlier reading of this clock.
    pub fn now(&mut self) -> Instant {
        // Clamp: the kernel promises monotonicity, but the engine's contract must hold even if a
        // virtualised clock regresses.
        self.last = self.last.max(Instant(boottime_ns()));
        self.last
    }
}

/// Nanoseconds of `CLOCK_BOOTTIME`, or 0 if the clock cannot be read (then [`BootClock`]'s clamp
/// keeps time from running backwards; it only stands still).
#[allow(unsafe_code)]
fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call; CLOCK_BOOTTIME is a
    // clock id every supported Linux kernel (2.6.39+) knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_goes_backwards_and_advances() {
        let mut clock = BootClock::new();
        let first = clock.now();
        assert!(first > Instant::ZERO, "CLOCK_BOOTTIME is readable");
        let mut last = first;
        for _ in 0..1000 {
            let now = clock.now();
            assert!(now >= last);
            last = now;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(clock.now().saturating_ns_since(first) >= 2_000_000);
    }

    #[test]
    fn a_regressing_reading_is_clamped() {
        let mut clock = BootClock {
            last: Instant(u64::MAX - 1),
        };
        assert_eq!(clock.now(), Instant(u64::MAX - 1));
    }
}
