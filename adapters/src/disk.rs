//! A node's disk work, off the event loop: the log thread appends and fsyncs, the checkpoint
//! thread writes LMDB (docs/durability.md#threads).
//!
//! ```text
//!  event loop ──groups of persists──▶ log thread ──checkpoint──▶ checkpoint thread ──▶ LMDB
//!      ▲                                 │  ▲                          │
//!      └──── durable_upto + wake ────────┘  └──── checkpoint done ─────┘
//! ```
//!
//! The event loop hands each turn's persists to the log thread and goes on with the network;
//! the log thread takes everything that arrived while it was syncing as one group (one write,
//! one `fdatasync`), publishes the highest sequence number now durable, and wakes the loop,
//! which then calls `Node::handle_persisted`.
//!
//! Bounds: the log queue holds [`LOG_QUEUE`] turns; when it is full the event loop waits for the
//! disk (back-pressure, not loss). At most one checkpoint runs at a time; if the log grows past
//! [`MAX_UNAPPLIED_CHECKPOINTS`] checkpoint intervals while one runs, the log thread waits for
//! it, so the log — and recovery time — stays bounded.
//!
//! Any storage error stops the node (fail-stop): it is published, the loop is woken, and
//! nothing after it is ever reported durable.

use crate::directory::Directory;
use crate::storage::{Identity, StorageError, Store, StoreOptions};
use crate::wal::fs::OsFs;
use crate::wal::{Checkpoint, Overlay, Replayed, Wal, WalStats};
use level2pc::{MemDisk, PersistOp, Recovered};
use mio::Waker;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// Event-loop turns the log queue holds before the loop waits for the disk.
pub const LOG_QUEUE: usize = 1024;
/// The log thread waits for a running checkpoint once this many checkpoint intervals of log
/// are waiting to be checkpointed.
pub const MAX_UNAPPLIED_CHECKPOINTS: u64 = 4;
/// Latency histogram buckets: bucket `i` counts commits that took less than `2^i` µs.
const BUCKETS: usize = 32;

/// One engine persist, classified by the engine.
#[derive(Debug)]
pub struct Persist {
    /// Its sequence number.
    pub seq: u64,
    /// Whether it must be fsynced before it is reported (`Node::persist_needs_sync`).
    pub sync: bool,
    /// The ops.
    pub ops: Vec<PersistOp>,
}

enum LogJob {
    Group(Vec<Persist>, Instant),
    CheckpointDone(u64),
    Close,
}

enum CheckpointJob {
    Checkpoint(Checkpoint),
    SaveDirectory(Directory),
    Stop,
}

/// What the disk threads publish for the event loop and `INFO`.
#[derive(Debug, Default)]
struct Shared {
    durable_upto: AtomicU64,
    failure: Mutex<Option<String>>,
    bytes_written: AtomicU64,
    fsyncs: AtomicU64,
    log_bytes: AtomicU64,
    groups: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_lsn: AtomicU64,
    last_checkpoint_unix_ms: AtomicU64,
    last_checkpoint_ms: AtomicU64,
    latency_us: [AtomicU64; BUCKETS],
}

impl Shared {
    fn fail(&self, waker: &Waker, e: &StorageError) {
        let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
        failure.get_or_insert_with(|| format!("storage failed: {e}"));
        let _ = waker.wake();
    }

    fn publish(&self, s: WalStats) {
        self.bytes_written.store(s.bytes_written, Ordering::Relaxed);
        self.fsyncs.store(s.fsyncs, Ordering::Relaxed);
        self.log_bytes.store(s.log_bytes, Ordering::Relaxed);
    }
}

/// Disk figures for `INFO`.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// Bytes appended to the log since start.
    pub log_bytes_written: u64,
    /// Size of the log on disk now.
    pub log_size_bytes: u64,
    /// `fdatasync` calls on the log since start.
    pub log_fsyncs: u64,
    /// Groups appended (each one write, at most one fsync).
    pub log_groups: u64,
    /// Checkpoints written since start.
    pub checkpoints: u64,
    /// The lsn the last checkpoint reached.
    pub checkpoint_lsn: u64,
    /// When the last checkpoint finished (Unix ms; 0: none yet).
    pub last_checkpoint_unix_ms: u64,
    /// How long the last checkpoint took, ms.
    pub last_checkpoint_ms: u64,
    /// Commit latency (handed to the log thread → durable) percentiles, µs: p50, p99, p99.9.
    /// Upper bounds of power-of-two buckets.
    pub commit_latency_us: [u64; 3],
    /// Bytes this process caused to be written to storage (`write_bytes` of /proc/self/io;
    /// in `level2pc cluster`, all nodes of the process together).
    pub process_write_bytes: Option<u64>,
}

/// The handle the event loop owns.
pub struct Disk {
    log: SyncSender<LogJob>,
    checkpointer: SyncSender<CheckpointJob>,
    shared: Arc<Shared>,
    map_size_bytes: usize,
    threads: Vec<JoinHandle<()>>,
}

/// What [`open`] recovered.
pub struct Opened {
    /// The LMDB store.
    pub store: Store,
    /// The log, positioned after its last intact frame.
    pub wal: Wal<OsFs>,
    /// The state to start the engine from: the checkpoint with the log replayed on top.
    pub recovered: Recovered,
    /// What the log replay found.
    pub replayed: Replayed,
}

/// Opens LMDB (bumping the boot incarnation durably, rule P5) and the log in `DIR/wal`, and
/// replays the log over the checkpoint.
pub fn open(dir: &Path, opts: &StoreOptions, identity: &Identity) -> Result<Opened, StorageError> {
    let (store, base, applied_lsn) = Store::open(dir, opts, identity)?;
    let (wal, replayed) = Wal::open(OsFs, &dir.join("wal"), applied_lsn, opts.wal)?;
    if let Some((segment, offset)) = &replayed.cut {
        log::warn!(
            "write-ahead log: cut a torn tail at byte {offset} of {} (never durable)",
            segment.display()
        );
    }
    let recovered = merge(base, &replayed.overlay);
    Ok(Opened {
        store,
        wal,
        recovered,
        replayed,
    })
}

/// The checkpointed state with the log's net effect applied. Entries are merged as sorted
/// lists (LMDB hands them in key order), not inserted one by one: with a million keys the
/// per-insert tree searches were most of the recovery time.
pub(crate) fn merge(base: Recovered, overlay: &Overlay) -> Recovered {
    if overlay.is_empty() {
        return base;
    }
    let entries = merge_entries(base.entries, overlay);
    let mut disk = MemDisk {
        boots: 0,
        view: base.view,
        identity: base.identity,
        acceptor: base.acceptor.into_iter().map(|a| (a.instance, a)).collect(),
        entries: Default::default(),
        records: base.records.into_iter().map(|u| (u.ts, u)).collect(),
    };
    overlay.apply_except_entries(&mut disk);
    Recovered {
        boot: base.boot,
        view: disk.view,
        identity: disk.identity,
        acceptor: disk.acceptor.into_values().collect(),
        join: base.join,
        entries,
        records: disk.records.into_values().collect(),
    }
}

/// `base` (sorted by key, as LMDB stores it) with the overlay's entry changes applied, sorted.
fn merge_entries(
    base: Vec<(level2pc::Bytes, level2pc::StoredEntry)>,
    overlay: &Overlay,
) -> Vec<(level2pc::Bytes, level2pc::StoredEntry)> {
    use crate::wal::overlay::EntryChange;
    let base = if overlay.wipe { Vec::new() } else { base };
    let changes = overlay.sorted_entries();
    let mut out = Vec::with_capacity(base.len() + changes.len());
    let mut changes = changes.into_iter().peekable();
    for (key, mut entry) in base {
        while let Some((k, change)) = changes.next_if(|(k, _)| **k < key) {
            if let EntryChange::Put(e) = change {
                out.push((k.clone(), e.clone()));
            }
        }
        match changes.next_if(|(k, _)| **k == key) {
            Some((_, EntryChange::Put(e))) => entry = e.clone(),
            Some((_, EntryChange::Validate(tss))) => entry.valid |= tss.contains(&entry.ts),
            None => {}
        }
        out.push((key, entry));
    }
    for (k, change) in changes {
        if let EntryChange::Put(e) = change {
            out.push((k.clone(), e.clone()));
        }
    }
    out
}

impl Disk {
    /// Starts the log and checkpoint threads of node `name`. `group_commit` off makes every
    /// persist its own write and fsync (for measuring what grouping buys).
    pub fn start(
        store: Store,
        wal: Wal<OsFs>,
        waker: Arc<Waker>,
        group_commit: bool,
        checkpoint_bytes: u64,
        name: &str,
    ) -> std::io::Result<Disk> {
        let map_size_bytes = store.map_size_bytes();
        let store = Arc::new(store);
        let shared = Arc::new(Shared::default());
        shared.publish(wal.stats());
        shared.durable_upto.store(0, Ordering::Relaxed);
        let (log_tx, log_rx) = sync_channel(LOG_QUEUE);
        let (ck_tx, ck_rx) = sync_channel(4);
        let log_thread = {
            let mut log = LogThread {
                wal,
                rx: log_rx,
                checkpointer: ck_tx.clone(),
                shared: shared.clone(),
                waker: waker.clone(),
                group_commit,
                checkpoint_running: false,
                max_unapplied: checkpoint_bytes.saturating_mul(MAX_UNAPPLIED_CHECKPOINTS),
                held: Vec::new(),
            };
            std::thread::Builder::new()
                .name(format!("{name}-log"))
                .spawn(move || log.run())?
        };
        let ck_thread = {
            let ck = CheckpointThread {
                store: store.clone(),
                rx: ck_rx,
                log: log_tx.clone(),
                shared: shared.clone(),
                waker,
            };
            std::thread::Builder::new()
                .name(format!("{name}-checkpoint"))
                .spawn(move || ck.run())?
        };
        Ok(Disk {
            log: log_tx,
            checkpointer: ck_tx,
            shared,
            map_size_bytes,
            threads: vec![log_thread, ck_thread],
        })
    }

    /// Hands one turn's persists to the log thread. Blocks only while the log queue is full.
    pub fn submit(&self, group: Vec<Persist>) -> Result<(), StorageError> {
        self.log
            .send(LogJob::Group(group, Instant::now()))
            .map_err(|_| StorageError::ThreadGone)
    }

    /// The highest persist sequence number the log made durable (or, for lazy ones, wrote).
    pub fn durable_upto(&self) -> u64 {
        self.shared.durable_upto.load(Ordering::Acquire)
    }

    /// Why storage failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.shared
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Saves the peer directory on the checkpoint thread (best effort; never blocks the loop).
    pub fn save_directory(&self, directory: Directory) {
        if self
            .checkpointer
            .try_send(CheckpointJob::SaveDirectory(directory))
            .is_err()
        {
            log::warn!("cannot save the peer addresses now (checkpoint queue full)");
        }
    }

    /// The LMDB map size.
    pub fn map_size_bytes(&self) -> usize {
        self.map_size_bytes
    }

    /// The disk figures.
    pub fn stats(&self) -> DiskStats {
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let counts: Vec<u64> = s.latency_us.iter().map(load).collect();
        DiskStats {
            log_bytes_written: load(&s.bytes_written),
            log_size_bytes: load(&s.log_bytes),
            log_fsyncs: load(&s.fsyncs),
            log_groups: load(&s.groups),
            checkpoints: load(&s.checkpoints),
            checkpoint_lsn: load(&s.checkpoint_lsn),
            last_checkpoint_unix_ms: load(&s.last_checkpoint_unix_ms),
            last_checkpoint_ms: load(&s.last_checkpoint_ms),
            commit_latency_us: [0.5, 0.99, 0.999].map(|q| percentile(&counts, q)),
            process_write_bytes: process_write_bytes(),
        }
    }

    /// Makes everything submitted durable and stops both threads (a running checkpoint
    /// finishes first). Idempotent.
    pub fn close(&mut self) {
        let _ = self.log.send(LogJob::Close);
        let _ = self.checkpointer.send(CheckpointJob::Stop);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The upper bound (µs) of the bucket holding quantile `q`, 0 when nothing was counted.
fn percentile(counts: &[u64], q: f64) -> u64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0;
    }
    let rank = ((total as f64) * q).ceil() as u64;
    let mut seen = 0;
    for (i, c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return 1u64 << i;
        }
    }
    1u64 << (counts.len() - 1)
}

fn process_write_bytes() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("write_bytes:"))
        .and_then(|v| v.trim().parse().ok())
}

struct LogThread {
    wal: Wal<OsFs>,
    rx: Receiver<LogJob>,
    checkpointer: SyncSender<CheckpointJob>,
    shared: Arc<Shared>,
    waker: Arc<Waker>,
    group_commit: bool,
    checkpoint_running: bool,
    max_unapplied: u64,
    /// Jobs received while waiting for a checkpoint.
    held: Vec<LogJob>,
}

impl LogThread {
    fn run(&mut self) {
        loop {
            let Some(first) = self.next_job() else { return };
            // Everything that arrived during the last fsync forms this group.
            let mut jobs = vec![first];
            jobs.extend(self.rx.try_iter());
            match self.handle(jobs) {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => return self.shared.fail(&self.waker, &e),
            }
        }
    }

    fn next_job(&mut self) -> Option<LogJob> {
        if !self.held.is_empty() {
            return Some(self.held.remove(0));
        }
        self.rx.recv().ok()
    }

    /// Appends the groups among `jobs`; returns false once told to close.
    fn handle(&mut self, jobs: Vec<LogJob>) -> Result<bool, StorageError> {
        let mut persists = Vec::new();
        let mut oldest = None;
        let mut open = true;
        for job in jobs {
            match job {
                LogJob::Group(group, at) => {
                    oldest = oldest.or(Some(at));
                    persists.extend(group);
                }
                LogJob::CheckpointDone(upto) => self.checkpoint_done(upto)?,
                LogJob::Close => open = false,
            }
        }
        if self.group_commit {
            self.append(&persists, oldest)?;
        } else {
            for p in &persists {
                self.append(std::slice::from_ref(p), oldest)?;
            }
        }
        if !open {
            self.wal.sync()?;
            self.shared.publish(self.wal.stats());
            return Ok(false);
        }
        self.maybe_checkpoint()?;
        Ok(true)
    }

    fn append(&mut self, persists: &[Persist], since: Option<Instant>) -> Result<(), StorageError> {
        let Some(last) = persists.last() else {
            return Ok(());
        };
        self.wal
            .append(persists.iter().map(|p| (p.sync, p.ops.as_slice())))?;
        let s = &self.shared;
        s.groups.fetch_add(1, Ordering::Relaxed);
        if let Some(at) = since.filter(|_| persists.iter().any(|p| p.sync)) {
            let us = at.elapsed().as_micros().max(1);
            let bucket = (128 - us.leading_zeros() as usize).min(BUCKETS - 1);
            s.latency_us[bucket].fetch_add(1, Ordering::Relaxed);
        }
        s.publish(self.wal.stats());
        s.durable_upto.store(last.seq, Ordering::Release);
        let _ = self.waker.wake();
        Ok(())
    }

    fn checkpoint_done(&mut self, upto: u64) -> Result<(), StorageError> {
        self.checkpoint_running = false;
        self.wal.checkpoint_done(upto)?;
        self.shared.publish(self.wal.stats());
        Ok(())
    }

    /// Hands a due checkpoint to the checkpoint thread; waits for the running one if the log
    /// outgrew its bound.
    fn maybe_checkpoint(&mut self) -> Result<(), StorageError> {
        if self.checkpoint_running {
            if self.wal.unapplied_bytes() > self.max_unapplied {
                self.wait_for_checkpoint()?;
            } else {
                return Ok(());
            }
        }
        if let Some(cp) = self.wal.take_checkpoint() {
            self.checkpoint_running = true;
            self.checkpointer
                .send(CheckpointJob::Checkpoint(cp))
                .map_err(|_| StorageError::ThreadGone)?;
        }
        Ok(())
    }

    fn wait_for_checkpoint(&mut self) -> Result<(), StorageError> {
        log::warn!("write-ahead log: waiting for a checkpoint (the log outgrew its bound)");
        while self.checkpoint_running {
            match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(LogJob::CheckpointDone(upto)) => self.checkpoint_done(upto)?,
                Ok(other) => self.held.push(other),
                Err(RecvTimeoutError::Timeout) => {
                    if self.shared.failure.lock().map_or(true, |f| f.is_some()) {
                        return Err(StorageError::ThreadGone);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Err(StorageError::ThreadGone),
            }
        }
        Ok(())
    }
}

struct CheckpointThread {
    store: Arc<Store>,
    rx: Receiver<CheckpointJob>,
    log: SyncSender<LogJob>,
    shared: Arc<Shared>,
    waker: Arc<Waker>,
}

impl CheckpointThread {
    fn run(self) {
        while let Ok(job) = self.rx.recv() {
            match job {
                CheckpointJob::Checkpoint(cp) => {
                    if let Err(e) = self.checkpoint(&cp) {
                        return self.shared.fail(&self.waker, &e);
                    }
                }
                CheckpointJob::SaveDirectory(d) => {
                    if let Err(e) = self.store.save_directory(&d) {
                        log::warn!("cannot save the peer addresses: {e}");
                    }
                }
                CheckpointJob::Stop => return,
            }
        }
    }

    fn checkpoint(&self, cp: &Checkpoint) -> Result<(), StorageError> {
        let started = Instant::now();
        self.store.checkpoint(cp)?;
        let s = &self.shared;
        let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        s.last_checkpoint_ms.store(ms, Ordering::Relaxed);
        s.checkpoint_lsn.store(cp.upto_lsn, Ordering::Relaxed);
        s.checkpoints.fetch_add(1, Ordering::Relaxed);
        let unix_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        s.last_checkpoint_unix_ms.store(unix_ms, Ordering::Relaxed);
        log::debug!("checkpoint to lsn {} took {ms} ms", cp.upto_lsn);
        // If the log thread is gone the node is closing; the log keeps what LMDB lacks.
        let _ = self.log.send(LogJob::CheckpointDone(cp.upto_lsn));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::overlay::tests::random_ops_and_split;

    #[test]
    fn merging_sorted_lists_equals_applying_the_overlay() {
        for seed in 0..2_000u64 {
            let (ops, split) = random_ops_and_split(seed);
            let mut base = MemDisk::default();
            base.apply(&ops[..split]);
            let mut overlay = Overlay::default();
            overlay.apply(&ops[split..]);
            let mut expected = base.clone();
            expected.apply(&ops[split..]);
            let merged = merge(base.recover(false), &overlay);
            let got: Vec<_> = expected.entries.into_iter().collect();
            assert_eq!(merged.entries, got, "seed {seed}");
            let records: Vec<_> = expected.records.into_values().collect();
            assert_eq!(merged.records, records, "seed {seed}");
            assert_eq!(
                (merged.view, merged.identity),
                (expected.view, expected.identity)
            );
            let acceptor: Vec<_> = expected.acceptor.into_values().collect();
            assert_eq!(merged.acceptor, acceptor, "seed {seed}");
        }
    }
}
