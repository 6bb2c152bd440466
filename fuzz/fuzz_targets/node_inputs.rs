//! One engine fed an arbitrary input sequence; see `level2pc_sim::fuzz::node_inputs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| level2pc_sim::fuzz::node_inputs::run(data));
