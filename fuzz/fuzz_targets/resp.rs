//! Arbitrary bytes into the RESP client-protocol parser; see `adapters/src/fuzz/resp.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| level2pc_adapters::internals::fuzz_resp::resp(data));
