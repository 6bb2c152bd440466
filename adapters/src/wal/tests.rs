//! Power-loss tests of the log and its checkpoints, over [`PowerFs`].
//!
//! The oracle: after any power cut, the state recovered (checkpoint ⊕ replayed log) equals the
//! state of applying the first `k` persists in order, for the `k` the log reports, and `k`
//! covers every persist that was reported durable. A missing or misplaced fsync shows up as a
//! recovered `k` below that bound, or as a state that is no prefix at all.

use super::powercut::PowerFs;
use super::*;
use crate::wal::overlay::tests::random_op;
use level2pc::MemDisk;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The checkpoint target: LMDB's role (an atomic, durable commit of an overlay and its lsn).
#[derive(Default)]
struct Checkpointed {
    disk: MemDisk,
    applied: u64,
}

impl Checkpointed {
    fn commit(&mut self, cp: &Checkpoint) {
        cp.overlay.apply_to(&mut self.disk);
        self.applied = cp.upto_lsn;
    }
}

fn dir() -> &'static Path {
    Path::new("/node/wal")
}

fn random_group(rng: &mut StdRng) -> Vec<Vec<PersistOp>> {
    (0..rng.gen_range(1..4))
        .map(|_| (0..rng.gen_range(1..4)).map(|_| random_op(rng)).collect())
        .collect()
}

fn needs_sync(ops: &[PersistOp]) -> bool {
    ops.iter().any(PersistOp::needs_sync)
}

/// What the power-cut runs exercised, so the test can show it is not vacuous.
#[derive(Debug, Default)]
struct Coverage {
    /// Recoveries that lost unsynced persists.
    lost_unsynced: u64,
    /// Torn tails cut.
    cuts: u64,
    /// Checkpoints committed.
    checkpoints: u64,
    /// Recoveries that skipped or removed checkpointed segments.
    replays_after_checkpoint: u64,
}

/// One seed: several lives of a node, each ended by a power cut at a random point (inside an
/// append, a rotation, a checkpoint or a truncation). Returns the first broken promise.
fn run_seed(seed: u64, skip_group_sync: bool, cov: &mut Coverage) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let fs = PowerFs::default();
    let segment_bytes = rng.gen_range(300..3_000);
    let opts = WalOptions {
        segment_bytes,
        checkpoint_bytes: segment_bytes * rng.gen_range(1..4),
    };
    let mut store = Checkpointed::default();
    let mut history: Vec<Vec<PersistOp>> = Vec::new();
    let mut promised = 0usize;
    for life in 0..4 {
        let (mut wal, replayed) = Wal::open(fs.clone(), dir(), store.applied, opts)
            .map_err(|e| format!("life {life}: recovery refused: {e}"))?;
        let k = wal.stats().last_lsn as usize;
        if k < promised || k > history.len() {
            return Err(format!(
                "life {life}: recovered {k} persists; {promised} were reported durable, {} written",
                history.len()
            ));
        }
        cov.lost_unsynced += u64::from(k < history.len());
        cov.cuts += u64::from(replayed.cut.is_some());
        cov.replays_after_checkpoint += u64::from(store.applied > 0);
        history.truncate(k);
        let mut expected = MemDisk::default();
        history.iter().for_each(|ops| expected.apply(ops));
        let mut got = store.disk.clone();
        replayed.overlay.apply_to(&mut got);
        if got != expected {
            return Err(format!(
                "life {life}: recovered state is not the first {k} persists"
            ));
        }
        promised = k;
        wal.skip_group_sync = skip_group_sync;
        if rng.gen_bool(0.7) {
            fs.crash_after(rng.gen_range(0..300));
        }
        cov.checkpoints += live(&mut rng, &mut wal, &mut store, &mut history, &mut promised);
        fs.cut(&mut rng);
    }
    Ok(())
}

/// Appends groups and runs checkpoints (each committed some appends later, as the checkpoint
/// thread would) until the file system dies or the life's length is reached. Returns the
/// checkpoints committed.
fn live(
    rng: &mut StdRng,
    wal: &mut Wal<PowerFs>,
    store: &mut Checkpointed,
    history: &mut Vec<Vec<PersistOp>>,
    promised: &mut usize,
) -> u64 {
    let mut running: Option<(Checkpoint, u32)> = None;
    let mut committed = 0;
    for _ in 0..rng.gen_range(1..80) {
        let group = random_group(rng);
        history.extend(group.iter().cloned());
        if wal
            .append(group.iter().map(|ops| (needs_sync(ops), ops.as_slice())))
            .is_err()
        {
            return committed;
        }
        if group.iter().any(|ops| needs_sync(ops)) {
            *promised = history.len();
        }
        if running.is_none() {
            running = wal.take_checkpoint().map(|cp| (cp, rng.gen_range(0..4)));
        }
        if let Some((cp, 0)) = &running {
            if rng.gen_bool(0.1) {
                return committed; // the power goes before the checkpoint commits
            }
            store.commit(cp);
            committed += 1;
            let upto = cp.upto_lsn;
            running = None;
            if wal.checkpoint_done(upto).is_err() {
                return committed;
            }
        } else if let Some((_, wait)) = &mut running {
            *wait -= 1;
        }
    }
    committed
}

#[test]
fn every_durable_persist_survives_power_cuts_anywhere() {
    let mut cov = Coverage::default();
    for seed in 0..400 {
        if let Err(e) = run_seed(seed, false, &mut cov) {
            panic!("seed {seed}: {e}");
        }
    }
    println!("{cov:?}");
    assert!(
        cov.lost_unsynced > 100 && cov.cuts > 50 && cov.checkpoints > 100,
        "the cuts did not exercise the log: {cov:?}"
    );
    assert!(cov.replays_after_checkpoint > 100, "{cov:?}");
}

#[test]
fn the_power_cut_test_catches_a_missing_group_fsync() {
    let mut cov = Coverage::default();
    let caught = (0..400)
        .filter(|&seed| run_seed(seed, true, &mut cov).is_err())
        .count();
    assert!(
        caught > 0,
        "skipping the group fsync went unnoticed in 400 seeds"
    );
    println!("skipping the group fsync: caught by {caught} of 400 seeds");
}

fn entry_op(i: u8) -> Vec<PersistOp> {
    use level2pc::{BootInc, Bytes, NodeId, StoredEntry, Ts};
    vec![PersistOp::Entry {
        key: Bytes::from(&[i][..]),
        entry: StoredEntry {
            ts: Ts::new(u64::from(i) + 1, NodeId(1), BootInc(1)),
            valid: false,
            value: Some(Bytes::from(&[i; 8][..])),
        },
    }]
}

fn append_synced(wal: &mut Wal<PowerFs>, ops: &[PersistOp]) {
    wal.append([(true, ops)]).unwrap();
}

#[test]
fn a_damaged_durable_frame_is_refused_not_cut() {
    let fs = PowerFs::default();
    let opts = WalOptions::default();
    let (mut wal, _) = Wal::open(fs.clone(), dir(), 0, opts).unwrap();
    append_synced(&mut wal, &entry_op(1));
    append_synced(&mut wal, &entry_op(2)); // its frame says lsn 1 was durable
    drop(wal);
    let seg = fs::segment_path(dir(), 1);
    fs.corrupt(&seg, frame::HEADER_BYTES + 2);
    let err = Wal::open(fs.clone(), dir(), 0, opts)
        .err()
        .expect("refused");
    assert!(
        matches!(&err, StorageError::LogCorrupt { offset: 0, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("durable"), "{err}");
}

#[test]
fn a_torn_unsynced_tail_is_cut_and_the_log_continues() {
    let fs = PowerFs::default();
    let opts = WalOptions::default();
    let (mut wal, _) = Wal::open(fs.clone(), dir(), 0, opts).unwrap();
    append_synced(&mut wal, &entry_op(1));
    wal.append([(false, entry_op(2).as_slice())]).unwrap();
    let seg = fs::segment_path(dir(), 1);
    let synced_len = {
        let mut probe = Vec::new();
        let payload = postcard::to_allocvec(&entry_op(1)).unwrap();
        frame::encode(&mut probe, 1, 0, &payload);
        probe.len()
    };
    drop(wal);
    fs.corrupt(&seg, synced_len + 5); // tear the unsynced frame
    let (mut wal, replayed) = Wal::open(fs.clone(), dir(), 0, opts).unwrap();
    assert_eq!(replayed.frames, 1);
    assert_eq!(replayed.cut, Some((seg, synced_len as u64)));
    append_synced(&mut wal, &entry_op(3));
    drop(wal);
    let (wal, replayed) = Wal::open(fs, dir(), 0, opts).unwrap();
    assert_eq!(
        (replayed.frames, wal.stats().last_lsn),
        (2, 2),
        "lsn 2 is now the third op"
    );
}

#[test]
fn a_damaged_closed_segment_is_refused() {
    let fs = PowerFs::default();
    let opts = WalOptions {
        segment_bytes: 64,
        checkpoint_bytes: 1 << 30,
    };
    let (mut wal, _) = Wal::open(fs.clone(), dir(), 0, opts).unwrap();
    for i in 0..3 {
        append_synced(&mut wal, &entry_op(i)); // each fills a segment
    }
    drop(wal);
    fs.corrupt(&fs::segment_path(dir(), 1), 30);
    let err = Wal::open(fs, dir(), 0, opts).err().expect("refused");
    assert!(err.to_string().contains("closed segment"), "{err}");
}

#[test]
fn a_checkpoint_deletes_the_segments_it_covers_and_recovery_skips_leftovers() {
    let fs = PowerFs::default();
    let opts = WalOptions {
        segment_bytes: 64,
        checkpoint_bytes: 128,
    };
    let (mut wal, _) = Wal::open(fs.clone(), dir(), 0, opts).unwrap();
    let mut store = Checkpointed::default();
    let mut cp = None;
    for i in 0..4 {
        append_synced(&mut wal, &entry_op(i));
        cp = cp.or_else(|| wal.take_checkpoint());
    }
    let cp = cp.expect("a checkpoint after 128 bytes");
    store.commit(&cp);
    // Crash between the checkpoint's commit and the truncation: the covered segments remain.
    drop(wal);
    assert!(fs.exists(&fs::segment_path(dir(), 1)));
    let (wal, replayed) = Wal::open(fs.clone(), dir(), store.applied, opts).unwrap();
    assert!(
        !fs.exists(&fs::segment_path(dir(), 1)),
        "recovery removed it"
    );
    let mut got = store.disk.clone();
    replayed.overlay.apply_to(&mut got);
    let mut expected = MemDisk::default();
    (0..4).for_each(|i| expected.apply(&entry_op(i)));
    assert_eq!(got, expected);
    assert_eq!(wal.stats().last_lsn, 4);
}

/// Random damage anywhere in a log (bytes flipped in synced or unsynced frames, in closed or
/// open segments) never panics recovery, and never makes it return anything but a prefix of
/// what was written — or a typed refusal.
#[test]
fn random_damage_gives_a_prefix_or_a_refusal_never_a_panic() {
    let mut refused = 0;
    for seed in 0..300u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let fs = PowerFs::default();
        let opts = WalOptions {
            segment_bytes: 400,
            checkpoint_bytes: 1 << 30,
        };
        let (mut wal, _) = Wal::open(fs.clone(), dir(), 0, opts).unwrap();
        let mut history = Vec::new();
        for _ in 0..rng.gen_range(1..30) {
            let group = random_group(&mut rng);
            history.extend(group.iter().cloned());
            wal.append(group.iter().map(|ops| (rng.gen_bool(0.7), ops.as_slice())))
                .unwrap();
        }
        drop(wal);
        let segments: Vec<u64> = (1..=history.len() as u64)
            .filter(|&lsn| fs.exists(&fs::segment_path(dir(), lsn)))
            .collect();
        for _ in 0..rng.gen_range(1..4) {
            let seg = segments[rng.gen_range(0..segments.len())];
            fs.corrupt(&fs::segment_path(dir(), seg), rng.gen_range(0..600));
        }
        match Wal::open(fs, dir(), 0, opts) {
            Ok((wal, replayed)) => {
                let k = wal.stats().last_lsn as usize;
                assert!(k <= history.len(), "seed {seed}");
                let mut expected = MemDisk::default();
                history[..k].iter().for_each(|ops| expected.apply(ops));
                let mut got = MemDisk::default();
                replayed.overlay.apply_to(&mut got);
                assert_eq!(got, expected, "seed {seed}: not a prefix");
            }
            Err(StorageError::LogCorrupt { .. }) => refused += 1,
            Err(e) => panic!("seed {seed}: untyped failure {e}"),
        }
    }
    assert!(refused > 0, "no damage was ever recognised as such");
}
