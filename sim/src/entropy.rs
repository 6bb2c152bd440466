//! The simulator's source of randomness: a seeded ChaCha stream, or (for the coverage-guided
//! `cluster` fuzz target) the fuzzer's bytes, so that the fuzzer steers every random choice of a
//! run — fault schedule, delays, workload — and falls back to a seeded stream when they run out.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Randomness for one run.
#[derive(Clone, Debug)]
pub enum SimRng {
    /// A seeded stream.
    Seeded(ChaCha8Rng),
    /// Fuzzer-provided bytes, then a fallback stream.
    Bytes {
        /// The bytes.
        data: Vec<u8>,
        /// Next unread byte.
        pos: usize,
        /// Used once the bytes are exhausted.
        fallback: ChaCha8Rng,
    },
}

impl SimRng {
    /// A stream from a seed.
    pub fn seeded(seed: u64) -> SimRng {
        SimRng::Seeded(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A stream that yields `data` first.
    pub fn from_bytes(data: &[u8]) -> SimRng {
        SimRng::Bytes {
            data: data.to_vec(),
            pos: 0,
            fallback: ChaCha8Rng::seed_from_u64(data.len() as u64),
        }
    }
}

impl RngCore for SimRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        match self {
            SimRng::Seeded(r) => r.fill_bytes(dest),
            SimRng::Bytes {
                data,
                pos,
                fallback,
            } => {
                let take = dest.len().min(data.len().saturating_sub(*pos));
                dest[..take].copy_from_slice(&data[*pos..*pos + take]);
                *pos += take;
                fallback.fill_bytes(&mut dest[take..]);
            }
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
