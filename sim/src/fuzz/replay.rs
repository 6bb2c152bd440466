//! Finding and replaying the checked-in fuzz inputs as ordinary tests: the files of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`, for the corpus tests of the
//! simulator (`sim/tests/fuzz_corpus.rs`) and of the adapters.

use std::path::{Path, PathBuf};

/// The files of `fuzz/<kind>/<target>/`, sorted (none if the folder does not exist);
/// `manifest_dir` is the calling crate's `CARGO_MANIFEST_DIR`, one level below the root.
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
    replay_with(manifest_dir, target, body, |path| {
        run_in_process(body, path).map_err(|()| "panicked".to_string())
    });
}

/// [`replay`], with regression files (past crashes, which may hang or blow up memory until they
/// are fixed) run by `regression`, which says why one failed.
pub fn replay_with(
    manifest_dir: &str,
    target: &str,
    body: fn(&[u8]),
    regression: impl Fn(&Path) -> Result<(), String>,
) {
    let corpus = files(manifest_dir, "corpus", target);
    assert!(
        !corpus.is_empty(),
        "fuzz/corpus/{target}/ is empty or missing"
    );
    let regressions = files(manifest_dir, "regressions", target);
    let mut failed = Vec::new();
    for path in &corpus {
        if run_in_process(body, path).is_err() {
            failed.push(format!("{} (panicked)", path.display()));
        }
    }
    for path in &regressions {
        if let Err(why) = regression(path) {
            failed.push(format!("{} ({why})", path.display()));
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

/// Runs `body` on the file at `path`; `Err` if it panicked.
fn run_in_process(body: fn(&[u8]), path: &Path) -> Result<(), ()> {
    let data = std::fs::read(path).expect("read corpus file");
    std::panic::catch_unwind(|| body(&data)).map_err(|_| ())
}
