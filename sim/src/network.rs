//! The simulated network: per-link delay, loss, duplication and reordering; partitions of every
//! shape (symmetric, one-way, isolate a node, majority/minority, bridge); connection resets
//! that lose every frame in flight on a link.

use crate::entropy::SimRng;
use crate::params::{FaultKinds, Rates};
use rand::Rng;
use std::collections::BTreeSet;

/// Directed connectivity between nodes plus the per-link reset generation.
#[derive(Clone, Debug)]
pub struct Network {
    n: usize,
    /// Directed links `(from, to)` that currently drop everything.
    blocked: BTreeSet<(usize, usize)>,
    /// Bumped by a reset; frames sent under an older generation are lost.
    generation: Vec<u64>,
    rates: Rates,
    kinds: FaultKinds,
    /// Random loss, duplication and reordering apply only during the fault phase.
    pub lossy: bool,
}

/// A partition shape, drawn by [`Network::random_partition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Partition {
    /// One node cut off both ways.
    Isolate(usize),
    /// Two sides; no link crosses.
    Split(Vec<usize>),
    /// One node can send but not receive (or the reverse, `outbound = false`).
    OneWay {
        /// The node.
        node: usize,
        /// Whether its outbound (true) or inbound (false) links are cut.
        outbound: bool,
    },
    /// Every node reaches the bridge; the two sides do not reach each other.
    Bridge {
        /// The node both sides can reach.
        bridge: usize,
    },
}

impl Network {
    /// A fully connected network of `n` nodes.
    pub fn new(n: usize, rates: Rates, kinds: FaultKinds) -> Network {
        Network {
            n,
            blocked: BTreeSet::new(),
            generation: vec![0; n * n],
            rates,
            kinds,
            lossy: true,
        }
    }

    fn link(&self, from: usize, to: usize) -> usize {
        from * self.n + to
    }

    /// The current generation of a link (stamped on each frame when sent).
    pub fn generation(&self, from: usize, to: usize) -> u64 {
        self.generation[self.link(from, to)]
    }

    /// Whether a frame sent under `gen` on `from → to` may be delivered now.
    pub fn deliverable(&self, from: usize, to: usize, gen: u64) -> bool {
        !self.blocked.contains(&(from, to)) && self.generation(from, to) == gen
    }

    /// Delays (ns) of the copies of one frame: none if lost, two if duplicated.
    pub fn transmit(&self, rng: &mut SimRng, from: usize, to: usize) -> Vec<u64> {
        if self.blocked.contains(&(from, to)) {
            return Vec::new();
        }
        let lossy = self.lossy;
        if lossy && self.kinds.loss && rng.gen_bool(self.rates.loss) {
            return Vec::new();
        }
        let copies = if lossy && self.kinds.duplicate && rng.gen_bool(self.rates.duplicate) {
            2
        } else {
            1
        };
        (0..copies)
            .map(|_| {
                let mut us =
                    self.rates.delay_min_us + rng.gen_range(0..=self.rates.delay_jitter_us);
                if lossy && self.kinds.reorder && rng.gen_bool(self.rates.reorder) {
                    us += rng.gen_range(0..=20 * self.rates.delay_jitter_us);
                }
                us * 1_000
            })
            .collect()
    }

    /// Resets the connection between `a` and `b` (both directions).
    pub fn reset(&mut self, a: usize, b: usize) {
        let (ab, ba) = (self.link(a, b), self.link(b, a));
        self.generation[ab] += 1;
        self.generation[ba] += 1;
    }

    /// Draws a partition shape.
    pub fn random_partition(&self, rng: &mut SimRng) -> Partition {
        let n = self.n;
        match rng.gen_range(0..4) {
            0 => Partition::Isolate(rng.gen_range(0..n)),
            1 => {
                let minority = rng
                    .gen_range(1..=n.saturating_sub(1).max(1) / 2 + 1)
                    .min(n - 1)
                    .max(1);
                let mut nodes: Vec<usize> = (0..n).collect();
                for i in (1..n).rev() {
                    nodes.swap(i, rng.gen_range(0..=i));
                }
                Partition::Split(nodes[..minority].to_vec())
            }
            2 => Partition::OneWay {
                node: rng.gen_range(0..n),
                outbound: rng.gen_bool(0.5),
            },
            _ => Partition::Bridge {
                bridge: rng.gen_range(0..n),
            },
        }
    }

    /// Applies a partition on top of the current one.
    pub fn apply(&mut self, p: &Partition) {
        let n = self.n;
        for a in 0..n {
            for b in (0..n).filter(|&b| b != a) {
                let cut = match p {
                    Partition::Isolate(x) => a == *x || b == *x,
                    Partition::Split(side) => side.contains(&a) != side.contains(&b),
                    Partition::OneWay {
                        node,
                        outbound: true,
                    } => a == *node,
                    Partition::OneWay {
                        node,
                        outbound: false,
                    } => b == *node,
                    Partition::Bridge { bridge } => {
                        a != *bridge && b != *bridge && (a % 2 != b % 2)
                    }
                };
                if cut {
                    self.blocked.insert((a, b));
                }
            }
        }
    }

    /// Heals every partition.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Whether any link is cut.
    pub fn partitioned(&self) -> bool {
        !self.blocked.is_empty()
    }
}
