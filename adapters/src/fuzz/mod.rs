//! Bodies of the fuzz targets that test this crate (`resp`, `handshake`). They live in the
//! library, hidden under `internals`, so the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the
//! corpus replays (`adapters/tests/fuzz_*_corpus.rs`) call the same functions; the simulator's
//! targets do the same from `level2pc_sim::fuzz`.

pub mod handshake;
pub mod resp;
