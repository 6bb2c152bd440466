//! Handshake frames from the network into the peer-connection handshake state machines; see
//! `fuzz/shared/handshake_check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../shared/handshake_check.rs"]
mod handshake_check;

fuzz_target!(|data: &[u8]| handshake_check::handshake(data));
