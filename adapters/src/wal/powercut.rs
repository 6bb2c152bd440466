//! A file system that forgets, at a power cut, everything not made durable — the test double
//! the power-loss tests run the log over (a kill -9 cannot show a missing fsync: the page cache
//! survives it).
//!
//! What survives a [`PowerFs::cut`]:
//! * a file's bytes up to its last `sync_data` (or `truncate`);
//! * of the bytes appended since, a random length of them, and within it each 4 KiB page
//!   independently either written or still zeros (writeback order is not file order);
//! * a file name created or removed only if its directory was synced since.
//!
//! [`PowerFs::crash_after`] makes every file operation after the next `n` fail, which stops the
//! log mid-operation (inside a rotation, between a checkpoint and its truncation) the way a
//! dying process would.

use super::fs::{LogFile, LogFs};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

const PAGE: usize = 4096;

#[derive(Debug, Default, Clone)]
struct Content {
    durable: Vec<u8>,
    current: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Content>,
    /// Names as the running process sees them.
    names: BTreeSet<PathBuf>,
    /// Names that would survive a power cut.
    durable_names: BTreeSet<PathBuf>,
    /// Operations left before every operation fails.
    ops_left: Option<u64>,
}

/// A shared, forgetful, in-memory file system.
#[derive(Clone, Debug, Default)]
pub struct PowerFs {
    state: Arc<Mutex<State>>,
}

/// A file of a [`PowerFs`].
#[derive(Debug)]
pub struct PowerFile {
    fs: PowerFs,
    path: PathBuf,
}

fn dead() -> io::Error {
    io::Error::other("power is out")
}

impl PowerFs {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one file operation; fails once the crash budget is spent.
    fn op(&self) -> io::Result<MutexGuard<'_, State>> {
        let mut s = self.lock();
        match s.ops_left {
            Some(0) => Err(dead()),
            Some(ref mut n) => {
                *n -= 1;
                Ok(s)
            }
            None => Ok(s),
        }
    }

    /// Lets `n` more file operations succeed, then fails every one after.
    pub fn crash_after(&self, n: u64) {
        self.lock().ops_left = Some(n);
    }

    /// Cuts the power: forgets what was not durable (see the module doc), and restores the
    /// power.
    pub fn cut(&self, rng: &mut impl Rng) {
        let mut s = self.lock();
        s.ops_left = None;
        let durable_names = s.durable_names.clone();
        s.files.retain(|path, _| durable_names.contains(path));
        for content in s.files.values_mut() {
            let kept = survivors(content, rng);
            content.durable = kept.clone();
            content.current = kept;
        }
        s.names = durable_names;
    }

    /// Whether a file exists (as the process sees it).
    pub fn exists(&self, path: &Path) -> bool {
        self.lock().names.contains(path)
    }

    /// Flips one byte of a file's durable and current content (disk corruption).
    pub fn corrupt(&self, path: &Path, offset: usize) {
        let mut s = self.lock();
        if let Some(c) = s.files.get_mut(path) {
            for bytes in [&mut c.durable, &mut c.current] {
                if let Some(b) = bytes.get_mut(offset) {
                    *b ^= 0x5a;
                }
            }
        }
    }
}

/// What a power cut leaves of one file.
fn survivors(content: &Content, rng: &mut impl Rng) -> Vec<u8> {
    let Content { durable, current } = content;
    if !current.starts_with(durable) {
        return durable.clone(); // rewritten since the last sync: the old bytes stay
    }
    let len = rng.gen_range(durable.len()..=current.len());
    let mut kept = current[..len].to_vec();
    let mut page_start = durable.len() / PAGE * PAGE;
    while page_start < len {
        let page_end = (page_start + PAGE).min(len);
        if rng.gen_bool(0.5) {
            let from = page_start.max(durable.len());
            kept[from..page_end].fill(0);
        }
        page_start += PAGE;
    }
    kept
}

impl LogFile for PowerFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.fs.op()?;
        let content = s.files.get_mut(&self.path).ok_or_else(dead)?;
        content.current.extend_from_slice(bytes);
        Ok(())
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let mut s = self.fs.op()?;
        let content = s.files.get_mut(&self.path).ok_or_else(dead)?;
        content.durable = content.current.clone();
        Ok(())
    }
}

impl LogFs for PowerFs {
    type File = PowerFile;

    fn create_dir_all(&self, _dir: &Path) -> io::Result<()> {
        self.op().map(drop)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.op()?;
        Ok(s.names
            .iter()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create(&self, path: &Path, _reserve: u64) -> io::Result<PowerFile> {
        let mut s = self.op()?;
        s.names.insert(path.to_owned());
        let content = s.files.entry(path.to_owned()).or_default();
        content.current.clear();
        Ok(PowerFile {
            fs: self.clone(),
            path: path.to_owned(),
        })
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let s = self.op()?;
        match s.files.get(path).filter(|_| s.names.contains(path)) {
            Some(c) => Ok(c.current.clone()),
            None => Err(io::Error::from(io::ErrorKind::NotFound)),
        }
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let mut s = self.op()?;
        let content = s.files.get_mut(path).ok_or_else(dead)?;
        content
            .current
            .truncate(usize::try_from(len).unwrap_or(usize::MAX));
        content.durable = content.current.clone();
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut s = self.op()?;
        s.names.remove(path);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut s = self.op()?;
        let in_dir = |p: &PathBuf| p.parent() == Some(dir);
        let keep_elsewhere: BTreeSet<PathBuf> = s
            .durable_names
            .iter()
            .filter(|p| !in_dir(p))
            .cloned()
            .collect();
        let now: BTreeSet<PathBuf> = s.names.iter().filter(|p| in_dir(p)).cloned().collect();
        s.durable_names = keep_elsewhere.union(&now).cloned().collect();
        Ok(())
    }
}
