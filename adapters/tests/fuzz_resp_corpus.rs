//! Replays the checked-in `resp` fuzz corpus (`fuzz/corpus/resp/`) and every past crash
//! (`fuzz/regressions/resp/`) through the same checks as the cargo-fuzz target, as an ordinary
//! `cargo test` on the stable toolchain.

#[path = "../../fuzz/shared/resp_check.rs"]
mod resp_check;

use std::path::{Path, PathBuf};

fn files(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join("resp");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn resp_corpus_and_regressions_replay() {
    let corpus = files("corpus");
    assert!(!corpus.is_empty(), "fuzz/corpus/resp/ is empty or missing");
    let regressions = files("regressions");
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("read corpus file");
        if std::panic::catch_unwind(|| resp_check::resp(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "resp: {} of {} inputs fail: {failed:#?}",
        failed.len(),
        corpus.len() + regressions.len()
    );
    eprintln!(
        "resp: {} corpus and {} regression inputs pass",
        corpus.len(),
        regressions.len()
    );
}
