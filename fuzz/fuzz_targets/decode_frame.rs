//! Arbitrary bytes into the wire decoder; see `level2pc_sim::fuzz::decode_frame`.
#![no_main]

use level2pc_sim::fuzz::{alloc_meter, decode_frame};
use libfuzzer_sys::fuzz_target;

// Measures peak allocation so the decode bound is checked.
#[global_allocator]
static ALLOC: alloc_meter::Meter = alloc_meter::Meter;

fuzz_target!(|data: &[u8]| decode_frame::run(data));
