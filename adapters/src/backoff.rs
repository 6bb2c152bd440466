//! Reconnect delays: capped exponential backoff with jitter.

use rand::Rng;

/// Delays between reconnect attempts to one peer: `min_ms`, doubling per consecutive failure up
/// to `max_ms`, each drawn uniformly from the upper half of that value so that nodes restarted
/// together do not reconnect in lockstep.
#[derive(Clone, Debug)]
pub struct Backoff {
    min_ms: u64,
    max_ms: u64,
    failures: u32,
}

impl Backoff {
    /// A backoff between `min_ms` and `max_ms` (both at least 1).
    pub fn new(min_ms: u64, max_ms: u64) -> Backoff {
        let min_ms = min_ms.max(1);
        Backoff {
            min_ms,
            max_ms: max_ms.max(min_ms),
            failures: 0,
        }
    }

    /// Records a failed attempt and returns how long to wait before the next one.
    pub fn next_delay_ms(&mut self, rng: &mut impl Rng) -> u64 {
        let shift = self.failures.min(32);
        let ceiling = self.min_ms.saturating_mul(1u64 << shift).min(self.max_ms);
        self.failures = self.failures.saturating_add(1);
        rng.gen_range(ceiling / 2..=ceiling).max(1)
    }

    /// Consecutive failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Forgets the failures after a successful connection.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = Backoff::new(50, 1000);
        let ceilings = [50, 100, 200, 400, 800, 1000, 1000, 1000];
        for ceiling in ceilings {
            let d = b.next_delay_ms(&mut rng);
            assert!(
                (ceiling / 2..=ceiling).contains(&d),
                "{d} not in upper half of {ceiling}"
            );
        }
        assert_eq!(b.failures(), 8);
        b.reset();
        assert!(b.next_delay_ms(&mut rng) <= 50);
    }

    #[test]
    fn many_failures_never_overflow() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut b = Backoff::new(u64::MAX / 2, u64::MAX);
        for _ in 0..100 {
            assert!(b.next_delay_ms(&mut rng) >= 1);
        }
    }
}
