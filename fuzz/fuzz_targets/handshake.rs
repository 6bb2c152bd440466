//! Handshake frames from the network into the peer-connection handshake state machines; see
//! `adapters/src/fuzz/handshake.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| level2pc_adapters::internals::fuzz_handshake::handshake(data));
