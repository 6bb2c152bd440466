//! The file operations the log needs, behind a trait, so the power-loss tests can run the very
//! same log code over a file system that forgets whatever was not made durable
//! (`wal::powercut`), and production runs it over the real one ([`OsFs`]).
//!
//! The durability contract the log relies on, and that the test double enforces:
//! * bytes appended to a file survive a power cut only once [`LogFile::sync_data`] returned;
//! * a file's creation or removal survives only once [`LogFs::sync_dir`] of its directory
//!   returned (Linux needs an fsync of the directory for a new name to be durable);
//! * [`LogFs::truncate`] is durable when it returns (it syncs).

use std::io;
use std::path::{Path, PathBuf};

/// A log segment open for appending.
pub trait LogFile: Send {
    /// Appends `bytes` at the end (one `write` where the OS allows).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes every appended byte durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
}

/// A directory of log segments.
pub trait LogFs: Send + 'static {
    /// The file type.
    type File: LogFile;
    /// Creates the directory (and parents) if missing, durably.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// The names of the files in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates `path` empty (replacing any file of that name), reserving `reserve` bytes so
    /// that appends within them change no file-system metadata an `fdatasync` must write.
    fn create(&self, path: &Path, reserve: u64) -> io::Result<Self::File>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Cuts a file to `len` bytes, durably.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Removes a file (durable after [`LogFs::sync_dir`]).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, removals) durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsFs;

/// A segment file on the real file system.
#[derive(Debug)]
pub struct OsFile {
    file: std::fs::File,
}

impl LogFile for OsFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        self.file.write_all(bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

impl LogFs for OsFs {
    type File = OsFile;

    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)?;
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => self.sync_dir(parent),
            _ => Ok(()),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&self, path: &Path, reserve: u64) -> io::Result<OsFile> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)?;
        reserve_space(&file, reserve)?;
        Ok(OsFile { file })
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::File::open(dir)?.sync_all()
    }
}

/// Reserves `len` bytes with `fallocate`: the blocks are allocated and the file's size is set
/// now, so an append within the reservation changes neither, and its `fdatasync` writes the
/// data without a journal commit for a new size (measured here: 0.13 ms instead of 0.18 ms
/// per append + `fdatasync`). The reserved tail reads as zeros, which recovery recognises as
/// the end of the log. File systems without `fallocate` simply grow the file as written.
#[allow(unsafe_code)]
fn reserve_space(file: &std::fs::File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let Ok(len) = libc::off_t::try_from(len) else {
        return Ok(());
    };
    if len == 0 {
        return Ok(());
    }
    // SAFETY: the descriptor is valid for the call (borrowed from `file`); fallocate only
    // reads its integer arguments.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(()),
        _ => Err(err),
    }
}

/// `DIR/<first lsn, 20 digits>.wal`: names sort in log order.
pub fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

/// The first lsn a segment file name stands for, or `None` for any other file.
pub fn segment_first_lsn(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".wal")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip_and_sort_in_log_order() {
        let dir = Path::new("/x");
        let a = segment_path(dir, 9);
        let b = segment_path(dir, 10);
        assert!(a < b);
        let name = b.file_name().unwrap().to_str().unwrap();
        assert_eq!(segment_first_lsn(name), Some(10));
        for bad in [
            "10.wal",
            "0000000000000000001x.wal",
            "00000000000000000001.log",
            "lock",
        ] {
            assert_eq!(segment_first_lsn(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_real_file_system_appends_reads_truncates_and_removes() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs;
        let path = segment_path(dir.path(), 1);
        let mut f = fs.create(&path, 1 << 20).unwrap();
        f.append(b"abc").unwrap();
        f.append(b"def").unwrap();
        f.sync_data().unwrap();
        let read = fs.read(&path).unwrap();
        assert_eq!(&read[..6], b"abcdef");
        assert!(
            read[6..].iter().all(|&b| b == 0),
            "the reservation reads as zeros"
        );
        fs.truncate(&path, 2).unwrap();
        assert_eq!(fs.read(&path).unwrap(), b"ab");
        assert_eq!(
            fs.list(dir.path()).unwrap(),
            vec![path.file_name().unwrap().to_str().unwrap().to_string()]
        );
        fs.remove(&path).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert!(fs.list(dir.path()).unwrap().is_empty());
    }
}
