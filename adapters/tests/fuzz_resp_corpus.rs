//! Replays the checked-in `resp` fuzz corpus (`fuzz/corpus/resp/`) and every past crash
//! (`fuzz/regressions/resp/`) through the same checks as the cargo-fuzz target, as an ordinary
//! `cargo test` on the stable toolchain.

use level2pc_adapters::internals::fuzz_resp as resp_check;
use level2pc_sim::fuzz::replay;

#[test]
fn resp_corpus_and_regressions_replay() {
    replay::replay(env!("CARGO_MANIFEST_DIR"), "resp", resp_check::resp);
}
