//! Finding and replaying the checked-in fuzz inputs as ordinary tests: the files of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`. Included through `#[path]` by the
//! corpus tests of the simulator and the adapters (which cannot share a crate).

#![allow(dead_code)] // each includer uses what it needs

use std::path::{Path, PathBuf};

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the folder does not exist);
/// `manifest_dir` is the including crate's `CARGO_MANIFEST_DIR`, one level below the root.
pub fn files(manifest_dir: &str, kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(manifest_dir)
        .join("../fuzz")
        .join(kind)
        .join(target);
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

/// Runs every corpus and regression file of `target` through `body` in this process; fails
/// naming every file that panics. The corpus must not be empty, so this never passes vacuously.
pub fn replay(manifest_dir: &str, target: &str, body: fn(&[u8])) {
    let corpus = files(manifest_dir, "corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty or missing"
    );
    let regressions = files(manifest_dir, "regressions", target);
    let mut failed = Vec::new();
    for path in corpus.iter().chain(&regressions) {
        let data = std::fs::read(path).expect("read corpus file");
        if std::panic::catch_unwind(|| body(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail: {failed:#?}",
        failed.len(),
        corpus.len() + regressions.len()
    );
    eprintln!(
        "{target}: {} corpus and {} regression inputs pass",
        corpus.len(),
        regressions.len()
    );
}
