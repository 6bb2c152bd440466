//! The write-ahead log: the durability path of a node (docs/durability.md).
//!
//! Every engine `Persist` becomes one checksummed frame appended to the current segment file;
//! a group of persists is one `write` and, if any of them needs it, one `fdatasync`. LMDB stays
//! the store of record: the net effect of the log ([`Overlay`]) is written to it in a large
//! batch — a *checkpoint* — and segments are deleted only once that checkpoint is durable.
//! Recovery opens LMDB and replays the frames past its checkpoint.
//!
//! This type is synchronous and owns no thread: `crate::disk` runs it on the log thread, and
//! the power-loss tests drive it directly over a file system that forgets unsynced writes.
//!
//! # Segments
//! `DIR/wal/<first lsn>.wal`. A segment is closed once it holds `segment_bytes`: it is
//! fsynced whole, the next one is created and the directory fsynced, in that order — so every
//! closed segment is durable and the lsns run without gaps from one segment to the next. A
//! checkpoint is cut only at a segment boundary, so it covers whole segments, which it then
//! deletes.

#[cfg(test)]
mod cluster_power;
pub mod frame;
pub mod fs;
pub mod overlay;
#[cfg(test)]
mod powercut;
#[cfg(test)]
mod tests;

use crate::storage::StorageError;
use fs::{segment_first_lsn, segment_path, LogFile, LogFs};
use level2pc::PersistOp;
pub use overlay::Overlay;
use std::path::{Path, PathBuf};

/// Sizes that bound the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed (and a new one started) once it holds this many bytes.
    pub segment_bytes: u64,
    /// A checkpoint starts once this many bytes were logged since the last one.
    pub checkpoint_bytes: u64,
}

/// Default segment size: 16 MiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 16 << 20;
/// Default checkpoint interval: 64 MiB of log.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 64 << 20;

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
        }
    }
}

/// Counters of what the log did, for `INFO`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Bytes appended to segments.
    pub bytes_written: u64,
    /// `fdatasync` calls on segments.
    pub fsyncs: u64,
    /// Bytes of frames in the segment files on disk now.
    pub log_bytes: u64,
    /// Bytes logged since the last checkpoint was cut.
    pub unapplied_bytes: u64,
    /// The highest lsn written.
    pub last_lsn: u64,
}

/// The net effect of a closed stretch of log, for the checkpointer to write to LMDB.
#[derive(Debug)]
pub struct Checkpoint {
    /// What to apply.
    pub overlay: Overlay,
    /// The last lsn it covers; LMDB records it with the data.
    pub upto_lsn: u64,
}

/// What recovery found in the log.
#[derive(Debug)]
pub struct Replayed {
    /// The net effect of every intact frame past the checkpoint.
    pub overlay: Overlay,
    /// Frames replayed.
    pub frames: u64,
    /// Bytes of log read.
    pub bytes: u64,
    /// A torn tail that was cut: (segment, offset).
    pub cut: Option<(PathBuf, u64)>,
}

/// One node's log.
pub struct Wal<F: LogFs> {
    fs: F,
    dir: PathBuf,
    opts: WalOptions,
    file: F::File,
    /// First lsn of every segment on disk, the current one last.
    segments: Vec<(u64, u64)>,
    /// Bytes in the current segment.
    seg_bytes: u64,
    next_lsn: u64,
    /// The highest lsn known durable.
    synced: u64,
    /// The net effect of what was logged since the last checkpoint was cut.
    overlay: Overlay,
    stats: WalStats,
    /// The group buffer, kept between appends so its capacity is reused.
    scratch: Vec<u8>,
    /// Test switch: skip the `fdatasync` of a group (to show the power-loss test catches it).
    #[cfg(test)]
    pub(crate) skip_group_sync: bool,
}

/// A file error, typed, with what the log was doing.
fn io_err<'p>(doing: &'static str, path: &'p Path) -> impl Fn(std::io::Error) -> StorageError + 'p {
    move |source| StorageError::Log {
        doing,
        path: path.to_owned(),
        source,
    }
}

impl<F: LogFs> Wal<F> {
    /// Opens the log in `dir`, replays every frame past `applied_lsn` (the checkpoint LMDB
    /// holds), cuts a torn tail, makes what it read durable, and starts a new segment.
    ///
    /// A damaged frame that a later intact frame says was durable is not a torn tail but lost
    /// data: that is refused with [`StorageError::LogCorrupt`], never skipped.
    pub fn open(
        fs: F,
        dir: &Path,
        applied_lsn: u64,
        opts: WalOptions,
    ) -> Result<(Wal<F>, Replayed), StorageError> {
        fs.create_dir_all(dir)
            .map_err(io_err("creating the log directory", dir))?;
        let mut firsts: Vec<u64> = fs
            .list(dir)
            .map_err(io_err("listing the log", dir))?
            .iter()
            .filter_map(|n| segment_first_lsn(n))
            .collect();
        firsts.sort_unstable();
        let stale = stale_prefix(&firsts, applied_lsn);
        for &first in &firsts[..stale] {
            let path = segment_path(dir, first);
            fs.remove(&path)
                .map_err(io_err("removing a checkpointed segment", &path))?;
        }
        let mut replay = Replay::new(applied_lsn);
        let live = &firsts[stale..];
        let mut segments = Vec::new();
        for (i, &first) in live.iter().enumerate() {
            let path = segment_path(dir, first);
            let buf = fs.read(&path).map_err(io_err("reading the log", &path))?;
            let (valid, torn) = replay.segment(&path, first, &buf, i + 1 == live.len())?;
            if i + 1 == live.len() {
                // Cut a torn tail (and the reserved zeros), and make what was read durable
                // whatever it was before: a killed process leaves unsynced frames in the page
                // cache, readable but not yet on disk.
                fs.truncate(&path, valid)
                    .map_err(io_err("cutting the log's tail", &path))?;
                if torn {
                    replay.cut = Some((path.clone(), valid));
                }
            }
            segments.push((first, valid));
        }
        let next_lsn = replay.expected;
        // A last segment that ended up empty is recreated under the same name below.
        segments.retain(|&(first, _)| first != next_lsn);
        let path = segment_path(dir, next_lsn);
        let file = fs
            .create(&path, opts.segment_bytes)
            .map_err(io_err("creating a log segment", &path))?;
        fs.sync_dir(dir)
            .map_err(io_err("syncing the log directory", dir))?;
        segments.push((next_lsn, 0));
        let log_bytes = segments.iter().map(|s| s.1).sum();
        let wal = Wal {
            fs,
            dir: dir.to_owned(),
            opts,
            file,
            segments,
            seg_bytes: 0,
            next_lsn,
            synced: next_lsn - 1,
            overlay: replay.overlay.clone(),
            stats: WalStats {
                log_bytes,
                unapplied_bytes: replay.bytes,
                last_lsn: next_lsn - 1,
                ..WalStats::default()
            },
            scratch: Vec::new(),
            #[cfg(test)]
            skip_group_sync: false,
        };
        Ok((wal, replay.finish()))
    }

    /// Appends one group of persists, each `(needs_sync, ops)`, as one write, then one
    /// `fdatasync` if any of them needs it. When this returns, every persist of the group is
    /// written in log order and, if any needed it, durable along with everything before it.
    pub fn append<'a>(
        &mut self,
        group: impl IntoIterator<Item = (bool, &'a [PersistOp])>,
    ) -> Result<(), StorageError> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let mut sync = false;
        for (needs_sync, ops) in group {
            // Encoded straight into the group's buffer: no allocation per persist.
            let start = frame::begin(&mut buf);
            buf = postcard::to_extend(ops, buf).map_err(|_| StorageError::Corrupt {
                what: "persist to encode",
            })?;
            frame::finish(&mut buf, start, self.next_lsn, self.synced);
            self.overlay.apply(ops);
            self.next_lsn += 1;
            sync |= needs_sync;
        }
        let written = self.write_group(&buf);
        self.scratch = buf;
        written?;
        #[cfg(test)]
        let sync = sync && !self.skip_group_sync;
        if sync {
            self.sync()?;
        }
        if self.seg_bytes >= self.opts.segment_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// Writes one group's frames to the current segment.
    fn write_group(&mut self, buf: &[u8]) -> Result<(), StorageError> {
        if buf.is_empty() {
            return Ok(());
        }
        let path = self.current_path();
        self.file
            .append(buf)
            .map_err(io_err("appending to the log", &path))?;
        let n = buf.len() as u64;
        self.seg_bytes += n;
        self.stats.bytes_written += n;
        self.stats.log_bytes += n;
        self.stats.unapplied_bytes += n;
        self.stats.last_lsn = self.next_lsn - 1;
        if let Some(seg) = self.segments.last_mut() {
            seg.1 = self.seg_bytes;
        }
        Ok(())
    }

    /// Makes everything written durable.
    pub fn sync(&mut self) -> Result<(), StorageError> {
        if self.synced == self.next_lsn - 1 {
            return Ok(());
        }
        let path = self.current_path();
        self.file
            .sync_data()
            .map_err(io_err("syncing the log", &path))?;
        self.stats.fsyncs += 1;
        self.synced = self.next_lsn - 1;
        Ok(())
    }

    /// Closes the current segment (durably) and starts the next.
    fn rotate(&mut self) -> Result<(), StorageError> {
        self.sync()?;
        let path = segment_path(&self.dir, self.next_lsn);
        self.file = self
            .fs
            .create(&path, self.opts.segment_bytes)
            .map_err(io_err("creating a log segment", &path))?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_err("syncing the log directory", &self.dir))?;
        self.segments.push((self.next_lsn, 0));
        self.seg_bytes = 0;
        Ok(())
    }

    /// The stretch of log to checkpoint, once enough was logged and a segment just closed
    /// (so the checkpoint ends at a segment boundary). The log then starts a fresh overlay.
    pub fn take_checkpoint(&mut self) -> Option<Checkpoint> {
        let at_boundary = self.seg_bytes == 0 && self.segments.len() > 1;
        if !at_boundary || self.stats.unapplied_bytes < self.opts.checkpoint_bytes {
            return None;
        }
        self.stats.unapplied_bytes = 0;
        Some(Checkpoint {
            overlay: std::mem::take(&mut self.overlay),
            upto_lsn: self.next_lsn - 1,
        })
    }

    /// Bytes logged since the last checkpoint was cut: the log thread waits for a running
    /// checkpoint once this passes a bound, so the log cannot outgrow its checkpoints.
    pub fn unapplied_bytes(&self) -> u64 {
        self.stats.unapplied_bytes
    }

    /// A checkpoint up to `upto_lsn` is durable in LMDB: delete the segments it covers.
    pub fn checkpoint_done(&mut self, upto_lsn: u64) -> Result<(), StorageError> {
        let covered = self
            .segments
            .iter()
            .take_while(|s| s.0 <= upto_lsn && s.0 != self.current_first())
            .count();
        if covered == 0 {
            return Ok(());
        }
        for (first, bytes) in self.segments.drain(..covered).collect::<Vec<_>>() {
            let path = segment_path(&self.dir, first);
            self.fs
                .remove(&path)
                .map_err(io_err("removing a checkpointed segment", &path))?;
            self.stats.log_bytes = self.stats.log_bytes.saturating_sub(bytes);
        }
        // Not needed for safety (a resurrected segment is skipped as checkpointed), only so the
        // space is really free after a power cut.
        self.fs
            .sync_dir(&self.dir)
            .map_err(io_err("syncing the log directory", &self.dir))
    }

    /// The counters.
    pub fn stats(&self) -> WalStats {
        self.stats
    }

    fn current_first(&self) -> u64 {
        self.segments.last().map_or(self.next_lsn, |s| s.0)
    }

    fn current_path(&self) -> PathBuf {
        segment_path(&self.dir, self.current_first())
    }
}

/// How many leading segments hold only checkpointed frames (their successor starts at or
/// before `applied_lsn + 1`): leftovers of a truncation a crash interrupted.
fn stale_prefix(firsts: &[u64], applied_lsn: u64) -> usize {
    firsts
        .windows(2)
        .take_while(|w| w[1] <= applied_lsn.saturating_add(1))
        .count()
}

/// Recovery's reading state.
struct Replay {
    applied: u64,
    /// The next lsn the log must continue with.
    expected: u64,
    overlay: Overlay,
    frames: u64,
    bytes: u64,
    cut: Option<(PathBuf, u64)>,
}

impl Replay {
    fn new(applied: u64) -> Replay {
        Replay {
            applied,
            expected: applied + 1,
            overlay: Overlay::default(),
            frames: 0,
            bytes: 0,
            cut: None,
        }
    }

    /// Reads one segment; returns the length of its intact prefix and whether a torn tail
    /// follows it (rather than nothing, or the zeros of the segment's reservation).
    fn segment(
        &mut self,
        path: &Path,
        first: u64,
        buf: &[u8],
        last: bool,
    ) -> Result<(u64, bool), StorageError> {
        let corrupt = |offset: usize, reason: String| StorageError::LogCorrupt {
            segment: path.to_owned(),
            offset: offset as u64,
            reason,
        };
        if first > self.expected {
            return Err(corrupt(
                0,
                format!("lsns {}..{} are missing", self.expected, first - 1),
            ));
        }
        let mut lsn = first;
        let mut pos = 0;
        while pos < buf.len() {
            let Some(f) = frame::decode_at(buf, pos).filter(|f| f.lsn == lsn) else {
                self.expected = self.expected.max(lsn);
                if buf[pos..].iter().all(|&b| b == 0) {
                    return Ok((pos as u64, false)); // the unused reservation
                }
                self.damaged(buf, pos, lsn, last)
                    .map_err(|r| corrupt(pos, r))?;
                return Ok((pos as u64, true));
            };
            if f.lsn > self.applied {
                let ops: Vec<PersistOp> = postcard::from_bytes(f.payload)
                    .map_err(|_| corrupt(pos, "an intact frame does not decode".into()))?;
                self.overlay.apply(&ops);
                self.frames += 1;
                self.bytes += (f.end - pos) as u64;
            }
            lsn += 1;
            pos = f.end;
        }
        self.expected = self.expected.max(lsn);
        Ok((buf.len() as u64, false))
    }

    /// The frame for `lsn` at `pos` is damaged or out of sequence. A torn tail (the last
    /// segment, and no later intact frame says this one was ever durable) ends the log;
    /// anything else is lost data. (The one thing no log can tell: a durable frame damaged by
    /// the disk with nothing written after it looks like a torn tail.)
    fn damaged(&self, buf: &[u8], pos: usize, lsn: u64, last: bool) -> Result<(), String> {
        if !last {
            return Err("a closed segment is damaged (it was fsynced whole)".into());
        }
        match frame::max_synced_after(buf, pos, lsn) {
            Some(synced) if synced >= lsn => Err(format!(
                "the frame for lsn {lsn} is damaged, but a later frame says lsns up to \
                 {synced} were durable"
            )),
            _ => Ok(()),
        }
    }

    fn finish(self) -> Replayed {
        Replayed {
            overlay: self.overlay,
            frames: self.frames,
            bytes: self.bytes,
            cut: self.cut,
        }
    }
}
