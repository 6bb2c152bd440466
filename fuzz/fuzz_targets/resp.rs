//! Arbitrary bytes into the RESP client-protocol parser; see `fuzz/shared/resp_check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../shared/resp_check.rs"]
mod resp_check;

fuzz_target!(|data: &[u8]| resp_check::resp(data));
