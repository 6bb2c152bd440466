//! The fuzzer's bytes as the simulator's entropy; see `level2pc_sim::fuzz::cluster`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| level2pc_sim::fuzz::cluster::run(data));
