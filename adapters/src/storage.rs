//! Durable state in LMDB: the engine's entries, update records and metadata, written with group
//! commit, and loaded back at start-up.
//!
//! # Layout
//!
//! One LMDB environment per node, in the node's data directory (`data.mdb`, `lock.mdb`), with
//! three named databases:
//!
//! | database  | key                                   | value                                   |
//! |-----------|---------------------------------------|-----------------------------------------|
//! | `entries` | `0x01` ++ user key                    | postcard [`StoredEntry`] (ts, valid, value or tombstone) |
//! | `records` | postcard [`Ts`]                       | postcard [`Update`] (the full batch)     |
//! | `acceptor`| Paxos instance (epoch), u64 big-endian | postcard [`AcceptorRecord`] (promised ballot, accepted view) |
//! | `meta`    | `format`, `node_id`, `cluster_id`, `boot` | u32 / u32 / UTF-8 / u64, big-endian |
//! | `meta`    | `view`, `identity`                    | postcard [`View`] / postcard `Option<`[`level2pc::Identity`]`>` |
//! | `meta`    | `directory`                           | postcard [`Directory`]: the acceptors and every peer address last known (discovery's answer, then each address the network learns) |
//!
//! A `Wipe` (the node re-joins under a new identity) clears `entries` and `records` in the same
//! transaction as the identity change; installing a view drops acceptor state of the instances
//! it settled.
//!
//! `level2pc.lock` in the same directory carries an exclusive `flock` while the store is open.
//!
//! The one-byte prefix on entry keys lets the empty key be stored (LMDB refuses zero-length keys);
//! it costs one byte of LMDB's 511-byte key limit, so user keys are at most [`MAX_KEY_BYTES`].
//!
//! # Checkpoints
//!
//! Persists become durable in the write-ahead log (`crate::wal`, docs/durability.md); this store
//! receives them later, in bulk: [`Store::checkpoint`] writes the net effect of a stretch of log
//! in one write transaction together with the log position it reaches (`applied_lsn`), and only
//! after it commits may that stretch of log be deleted (docs/durability.md#checkpoints).
//!
//! # Failure
//!
//! Any error while checkpointing (map full, disk full, I/O) aborts the transaction, so none of
//! its changes is applied, and is returned typed: the node then fails stop. The log still holds
//! every acknowledged persist, so restarting with a larger map size (or free disk space)
//! continues from there.

use crate::directory::Directory;
use crate::wal::overlay::{EntryChange, Overlay};
use crate::wal::{Checkpoint, WalOptions};
use level2pc::{
    AcceptorRecord, BootInc, Bytes, Epoch, NodeId, PersistOp, Recovered, StoredEntry, Ts, Update,
    UpdateRef, View,
};
use lmdb::{Cursor, Database, DatabaseFlags, Environment, RwTransaction, Transaction, WriteFlags};
use std::path::{Path, PathBuf};

/// Default LMDB map size: 1 GiB. The map is a reservation of address space, not of disk; the
/// data file grows as data is written.
pub const DEFAULT_MAP_SIZE_BYTES: usize = 1 << 30;

/// Largest user key the store accepts: LMDB's 511-byte key limit minus the entry prefix.
pub const MAX_KEY_BYTES: usize = 510;

/// On-disk format version, checked at open. Format 2 added the write-ahead log; format 3
/// timestamps with a read-modify-write step (protocol.md §11.1), which changes how every entry
/// and record is encoded, so directories of formats 1 and 2 are refused, never misread.
const FORMAT_VERSION: u32 = 3;
const ENTRY_PREFIX: u8 = 0x01;
const META_FORMAT: &[u8] = b"format";
const META_NODE: &[u8] = b"node_id";
const META_CLUSTER: &[u8] = b"cluster_id";
const META_BOOT: &[u8] = b"boot";
const META_VIEW: &[u8] = b"view";
const META_IDENTITY: &[u8] = b"identity";
const META_DIRECTORY: &[u8] = b"directory";
const META_APPLIED_LSN: &[u8] = b"applied_lsn";
/// `ENOSPC` from the OS, as LMDB passes it through.
const ENOSPC: i32 = 28;

/// Why the store could not open or commit. Every commit error is fatal for the node (fail-stop).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The LMDB map is full. Restart the node with a larger map size.
    #[error("storage map full ({map_size_bytes} bytes); restart with a larger map size")]
    MapFull {
        /// The configured map size.
        map_size_bytes: usize,
    },
    /// The file system is full.
    #[error("disk full while {doing}")]
    DiskFull {
        /// What the store was doing.
        doing: &'static str,
    },
    /// Another LMDB error.
    #[error("LMDB error while {doing}: {source}")]
    Lmdb {
        /// What the store was doing.
        doing: &'static str,
        /// The LMDB error.
        source: lmdb::Error,
    },
    /// The data directory could not be created.
    #[error("cannot create data directory {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Stored bytes do not decode: the file is damaged or from an incompatible build.
    #[error("corrupt {what} in the store")]
    Corrupt {
        /// What failed to decode.
        what: &'static str,
    },
    /// The data directory was written by another node or cluster.
    #[error("data directory belongs to {stored}, not to this node ({configured})")]
    WrongIdentity {
        /// The identity found on disk.
        stored: String,
        /// The configured identity.
        configured: String,
    },
    /// The data directory uses an on-disk format this build does not read.
    #[error("unsupported store format {0} (this build reads format {FORMAT_VERSION})")]
    Format(u32),
    /// Another process has the data directory open (two processes must never serve one node).
    #[error("data directory {} is in use by another process", path.display())]
    Locked {
        /// The directory.
        path: PathBuf,
    },
    /// The lock file could not be created.
    #[error("cannot create lock file in {}: {source}", path.display())]
    LockFile {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A log file operation failed.
    #[error("write-ahead log: {doing} {}: {source}", path.display())]
    Log {
        /// What the log was doing.
        doing: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The log holds damage that is not a torn tail: data that was durable is lost. The node
    /// refuses to start rather than forget acknowledged writes.
    #[error(
        "write-ahead log damaged in {} at byte {offset}: {reason}; refusing to start \
         (move the data directory away and re-join with an empty one: \
         `level2pc serve ... --join`)",
        segment.display()
    )]
    LogCorrupt {
        /// The segment file.
        segment: PathBuf,
        /// Where the damage starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The storage thread is gone (it failed earlier, or the node is shutting down).
    #[error("the storage thread stopped")]
    ThreadGone,
    /// A key is longer than LMDB allows.
    #[error("key of {len} bytes exceeds the store's limit of {MAX_KEY_BYTES}")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
    },
}

/// Options of a node's store: the LMDB map and the write-ahead log in front of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// LMDB map size in bytes: the most data the store can ever hold.
    pub map_size_bytes: usize,
    /// Log segment size and checkpoint interval.
    pub wal: WalOptions,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            map_size_bytes: DEFAULT_MAP_SIZE_BYTES,
            wal: WalOptions::default(),
        }
    }
}

/// Who owns a data directory; checked at every open so a node never starts on another's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The node's id.
    pub node: NodeId,
    /// The cluster's id.
    pub cluster: String,
}

/// Sizes of what the store holds, for `INFO`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Keys stored, tombstones included.
    pub entries: usize,
    /// Update records stored.
    pub records: usize,
    /// The configured map size.
    pub map_size_bytes: usize,
}

/// One node's LMDB environment. Write transactions are only opened by the thread that runs
/// [`Store::checkpoint`] (the node's checkpoint thread, docs/durability.md#threads).
#[derive(Debug)]
pub struct Store {
    env: Environment,
    entries: Database,
    records: Database,
    acceptor: Database,
    meta: Database,
    map_size_bytes: usize,
    dir: PathBuf,
    /// Holds an exclusive `flock` on `DIR/level2pc.lock` while the store is open.
    _lock: std::fs::File,
}

fn lmdb_err(doing: &'static str, map_size_bytes: usize) -> impl Fn(lmdb::Error) -> StorageError {
    move |source| match source {
        lmdb::Error::MapFull => StorageError::MapFull { map_size_bytes },
        lmdb::Error::Other(ENOSPC) => StorageError::DiskFull { doing },
        source => StorageError::Lmdb { doing, source },
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, checks that it belongs to `identity`, bumps the boot
    /// incarnation **and makes it durable** (rule P5), and returns the checkpointed state and
    /// the last log sequence number it covers (the write-ahead log holds what came after).
    pub fn open(
        dir: &Path,
        opts: &StoreOptions,
        identity: &Identity,
    ) -> Result<(Store, Recovered, u64), StorageError> {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
        let lock = lock_dir(dir)?;
        let map_size_bytes = opts.map_size_bytes;
        let err = |doing| lmdb_err(doing, map_size_bytes);
        let env = Environment::new()
            .set_max_dbs(4)
            .set_map_size(map_size_bytes)
            .open(dir)
            .map_err(err("opening the environment"))?;
        let create = |name| {
            env.create_db(Some(name), DatabaseFlags::empty())
                .map_err(err("creating a database"))
        };
        let (entries, records, meta) = (create("entries")?, create("records")?, create("meta")?);
        let acceptor = create("acceptor")?;
        let store = Store {
            env,
            entries,
            records,
            acceptor,
            meta,
            map_size_bytes,
            dir: dir.to_owned(),
            _lock: lock,
        };
        let boot = store.claim(identity)?;
        let recovered = store.load(boot)?;
        let applied_lsn = store.applied_lsn()?;
        Ok((store, recovered, applied_lsn))
    }

    /// The configured map size.
    pub fn map_size_bytes(&self) -> usize {
        self.map_size_bytes
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checks or records the identity and bumps the boot incarnation, durably.
    fn claim(&self, identity: &Identity) -> Result<BootInc, StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let mut txn = self.env.begin_rw_txn().map_err(err("starting recovery"))?;
        check_format(&txn, self.meta)?;
        check_identity(&txn, self.meta, identity)?;
        let boot = read_u64(&txn, self.meta, META_BOOT)?
            .unwrap_or(0)
            .saturating_add(1);
        let put = |txn: &mut RwTransaction, k: &[u8], v: &[u8]| {
            txn.put(self.meta, &k, &v, WriteFlags::empty())
                .map_err(err("writing metadata"))
        };
        put(&mut txn, META_FORMAT, &FORMAT_VERSION.to_be_bytes())?;
        put(&mut txn, META_NODE, &identity.node.0.to_be_bytes())?;
        put(&mut txn, META_CLUSTER, identity.cluster.as_bytes())?;
        put(&mut txn, META_BOOT, &boot.to_be_bytes())?;
        // LMDB's commit is durable (fsync) unless the environment was opened with NO_SYNC.
        txn.commit()
            .map_err(err("committing the boot incarnation"))?;
        Ok(BootInc(boot))
    }

    /// Reads every entry and record.
    fn load(&self, boot: BootInc) -> Result<Recovered, StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let txn = self.env.begin_ro_txn().map_err(err("starting recovery"))?;
        let corrupt = |what| move |_| StorageError::Corrupt { what };
        let view: Option<View> = read_bytes(&txn, self.meta, META_VIEW)?
            .map(|b| postcard::from_bytes(b).map_err(corrupt("view")))
            .transpose()?;
        let identity: Option<level2pc::Identity> = read_bytes(&txn, self.meta, META_IDENTITY)?
            .map(|b| postcard::from_bytes(b).map_err(corrupt("identity")))
            .transpose()?
            .flatten();
        let mut acceptor = Vec::new();
        let mut cursor = txn
            .open_ro_cursor(self.acceptor)
            .map_err(err("reading acceptor state"))?;
        for item in cursor.iter_start() {
            let (_, value) = item.map_err(err("reading acceptor state"))?;
            let record: AcceptorRecord =
                postcard::from_bytes(value).map_err(corrupt("acceptor record"))?;
            acceptor.push(record);
        }
        drop(cursor);
        let mut entries = Vec::new();
        let mut cursor = txn
            .open_ro_cursor(self.entries)
            .map_err(err("reading entries"))?;
        for item in cursor.iter_start() {
            let (key, value) = item.map_err(err("reading entries"))?;
            let key = key
                .strip_prefix(&[ENTRY_PREFIX])
                .ok_or(StorageError::Corrupt { what: "entry key" })?;
            let entry: StoredEntry =
                postcard::from_bytes(value).map_err(|_| StorageError::Corrupt { what: "entry" })?;
            entries.push((Bytes::from(key), entry));
        }
        drop(cursor);
        let mut records = Vec::new();
        let mut cursor = txn
            .open_ro_cursor(self.records)
            .map_err(err("reading records"))?;
        for item in cursor.iter_start() {
            let (_, value) = item.map_err(err("reading records"))?;
            let update: Update = postcard::from_bytes(value)
                .map_err(|_| StorageError::Corrupt { what: "record" })?;
            records.push(UpdateRef::new(update));
        }
        Ok(Recovered {
            boot,
            view,
            identity,
            acceptor,
            join: false,
            entries,
            records,
        })
    }

    /// The last log sequence number the checkpointed state covers (0: none).
    pub fn applied_lsn(&self) -> Result<u64, StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let txn = self
            .env
            .begin_ro_txn()
            .map_err(err("reading the checkpoint"))?;
        Ok(read_u64(&txn, self.meta, META_APPLIED_LSN)?.unwrap_or(0))
    }

    /// Writes a checkpoint — the net effect of a stretch of log — and the lsn it reaches, in one
    /// durable transaction. On error nothing of it is applied (the log still holds it all).
    pub fn checkpoint(&self, cp: &Checkpoint) -> Result<(), StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let mut txn = self
            .env
            .begin_rw_txn()
            .map_err(err("starting a checkpoint"))?;
        self.apply_overlay(&mut txn, &cp.overlay)?;
        txn.put(
            self.meta,
            &META_APPLIED_LSN,
            &cp.upto_lsn.to_be_bytes(),
            WriteFlags::empty(),
        )
        .map_err(err("writing the checkpoint's lsn"))?;
        txn.commit().map_err(err("committing a checkpoint"))
    }

    /// Writes an overlay's net effect in the order [`Overlay::apply_to`] defines.
    fn apply_overlay(&self, txn: &mut RwTransaction, o: &Overlay) -> Result<(), StorageError> {
        if o.wipe {
            self.apply(txn, &PersistOp::Wipe)?;
        }
        for (key, change) in o.sorted_entries() {
            match change {
                EntryChange::Put(entry) => self.apply(
                    txn,
                    &PersistOp::Entry {
                        key: key.clone(),
                        entry: entry.clone(),
                    },
                )?,
                EntryChange::Validate(tss) => {
                    for ts in tss {
                        self.validate(txn, key, *ts)?;
                    }
                }
            }
        }
        for (ts, record) in o.sorted_records() {
            match record {
                Some(update) => self.apply(txn, &PersistOp::Record(update.clone()))?,
                None => self.apply(txn, &PersistOp::DropRecord(*ts))?,
            }
        }
        if let Some(upto) = o.drop_acceptor_upto {
            self.drop_settled_instances(txn, upto)?;
        }
        for record in o.acceptor.values() {
            self.apply(txn, &PersistOp::Acceptor(record.clone()))?;
        }
        if let Some(view) = &o.view {
            let err = |doing| lmdb_err(doing, self.map_size_bytes);
            txn.put(self.meta, &META_VIEW, &encode(view)?, WriteFlags::empty())
                .map_err(err("writing the view"))?;
        }
        if let Some(identity) = o.identity {
            self.apply(txn, &PersistOp::Identity(identity))?;
        }
        Ok(())
    }

    /// Applies `groups` of persist ops, in order, in one durable write transaction (the tests'
    /// way to lay down a checkpointed state). On error nothing of it is applied.
    #[cfg(test)]
    pub fn commit<'a>(
        &self,
        groups: impl IntoIterator<Item = &'a [PersistOp]>,
    ) -> Result<usize, StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let mut txn = self
            .env
            .begin_rw_txn()
            .map_err(err("starting a write transaction"))?;
        let mut applied = 0;
        for ops in groups {
            for op in ops {
                self.apply(&mut txn, op)?;
                applied += 1;
            }
        }
        txn.commit().map_err(err("committing"))?;
        Ok(applied)
    }

    fn apply(&self, txn: &mut RwTransaction, op: &PersistOp) -> Result<(), StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        match op {
            PersistOp::Entry { key, entry } => {
                let value = encode(entry)?;
                txn.put(self.entries, &entry_key(key)?, &value, WriteFlags::empty())
                    .map_err(err("writing an entry"))
            }
            PersistOp::Validate { key, ts } => self.validate(txn, key, *ts),
            PersistOp::Record(update) => {
                let (k, v) = (encode(&update.ts)?, encode(&**update)?);
                txn.put(self.records, &k, &v, WriteFlags::empty())
                    .map_err(err("writing a record"))
            }
            PersistOp::DropRecord(ts) => match txn.del(self.records, &encode(ts)?, None) {
                Ok(()) | Err(lmdb::Error::NotFound) => Ok(()),
                Err(e) => Err(err("dropping a record")(e)),
            },
            PersistOp::View(view) => {
                txn.put(self.meta, &META_VIEW, &encode(view)?, WriteFlags::empty())
                    .map_err(err("writing the view"))?;
                self.drop_settled_instances(txn, view.epoch)
            }
            PersistOp::Acceptor(record) => txn
                .put(
                    self.acceptor,
                    &record.instance.0.to_be_bytes(),
                    &encode(record)?,
                    WriteFlags::empty(),
                )
                .map_err(err("writing acceptor state")),
            PersistOp::Identity(identity) => txn
                .put(
                    self.meta,
                    &META_IDENTITY,
                    &encode(identity)?,
                    WriteFlags::empty(),
                )
                .map_err(err("writing the identity")),
            PersistOp::Wipe => {
                txn.clear_db(self.entries).map_err(err("wiping entries"))?;
                txn.clear_db(self.records).map_err(err("wiping records"))
            }
        }
    }

    /// Forgets acceptor state of instances up to `epoch`, which a decided view settled.
    fn drop_settled_instances(
        &self,
        txn: &mut RwTransaction,
        epoch: Epoch,
    ) -> Result<(), StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let settled: Vec<Vec<u8>> = {
            let mut cursor = txn
                .open_ro_cursor(self.acceptor)
                .map_err(err("reading acceptor state"))?;
            let mut keys = Vec::new();
            for item in cursor.iter_start() {
                let (key, _) = item.map_err(err("reading acceptor state"))?;
                let instance = key.try_into().map(u64::from_be_bytes).unwrap_or(u64::MAX);
                if instance <= epoch.0 {
                    keys.push(key.to_vec());
                }
            }
            keys
        };
        for key in settled {
            txn.del(self.acceptor, &key, None)
                .map_err(err("dropping acceptor state"))?;
        }
        Ok(())
    }

    /// Marks `key` Valid if it is still at `ts` (a read-modify-write inside the transaction).
    fn validate(&self, txn: &mut RwTransaction, key: &[u8], ts: Ts) -> Result<(), StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let k = entry_key(key)?;
        let mut entry: StoredEntry = match txn.get(self.entries, &k) {
            Ok(bytes) => {
                postcard::from_bytes(bytes).map_err(|_| StorageError::Corrupt { what: "entry" })?
            }
            Err(lmdb::Error::NotFound) => return Ok(()),
            Err(e) => return Err(err("reading an entry")(e)),
        };
        if entry.ts != ts || entry.valid {
            return Ok(());
        }
        entry.valid = true;
        let value = encode(&entry)?;
        txn.put(self.entries, &k, &value, WriteFlags::empty())
            .map_err(err("validating an entry"))
    }

    /// The directory saved last (by discovery, or when the network learned an address), if any.
    pub fn directory(&self) -> Result<Option<Directory>, StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let txn = self
            .env
            .begin_ro_txn()
            .map_err(err("reading the directory"))?;
        read_bytes(&txn, self.meta, META_DIRECTORY)?
            .map(|b| {
                postcard::from_bytes(b).map_err(|_| StorageError::Corrupt { what: "directory" })
            })
            .transpose()
    }

    /// Durably records the directory, so a restart dials every known node at once, seed or not.
    pub fn save_directory(&self, directory: &Directory) -> Result<(), StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let mut txn = self
            .env
            .begin_rw_txn()
            .map_err(err("writing the directory"))?;
        txn.put(
            self.meta,
            &META_DIRECTORY,
            &encode(directory)?,
            WriteFlags::empty(),
        )
        .map_err(err("writing the directory"))?;
        txn.commit().map_err(err("committing the directory"))
    }

    /// Counts of entries and records in LMDB (which lags the log until the next checkpoint).
    #[cfg(test)]
    pub fn stats(&self) -> Result<StoreStats, StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let txn = self.env.begin_ro_txn().map_err(err("reading statistics"))?;
        let count = |db| {
            txn.stat(db)
                .map(|s| s.entries())
                .map_err(err("reading statistics"))
        };
        Ok(StoreStats {
            entries: count(self.entries)?,
            records: count(self.records)?,
            map_size_bytes: self.map_size_bytes,
        })
    }

    /// Reads one key's checkpointed entry (the engine serves reads from memory).
    #[cfg(test)]
    pub fn read_entry(&self, key: &[u8]) -> Result<Option<StoredEntry>, StorageError> {
        let err = |doing| lmdb_err(doing, self.map_size_bytes);
        let txn = self.env.begin_ro_txn().map_err(err("reading an entry"))?;
        match txn.get(self.entries, &entry_key(key)?) {
            Ok(bytes) => postcard::from_bytes(bytes)
                .map(Some)
                .map_err(|_| StorageError::Corrupt { what: "entry" }),
            Err(lmdb::Error::NotFound) => Ok(None),
            Err(e) => Err(err("reading an entry")(e)),
        }
    }
}

/// Takes an exclusive, non-blocking `flock` on `DIR/level2pc.lock`. LMDB itself lets several
/// processes share an environment, which for a replica would mean two processes acknowledging
/// as one node. The lock dies with the process, so a `kill -9` never leaves it stale.
fn lock_dir(dir: &Path) -> Result<std::fs::File, StorageError> {
    let path = dir.join("level2pc.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| StorageError::LockFile {
            path: dir.to_owned(),
            source,
        })?;
    if flock_exclusive(&file) {
        Ok(file)
    } else {
        Err(StorageError::Locked {
            path: dir.to_owned(),
        })
    }
}

#[allow(unsafe_code)]
fn flock_exclusive(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is valid for the duration of the call (borrowed from `file`), and
    // flock only reads its arguments.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

fn entry_key(key: &[u8]) -> Result<Vec<u8>, StorageError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::KeyTooLarge { len: key.len() });
    }
    let mut k = Vec::with_capacity(key.len() + 1);
    k.push(ENTRY_PREFIX);
    k.extend_from_slice(key);
    Ok(k)
}

fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, StorageError> {
    // Serializing the engine's own plain-data types into a Vec cannot fail; map it anyway.
    postcard::to_allocvec(value).map_err(|_| StorageError::Corrupt {
        what: "value to encode",
    })
}

fn read_bytes<'t, T: Transaction>(
    txn: &'t T,
    db: Database,
    key: &[u8],
) -> Result<Option<&'t [u8]>, StorageError> {
    match txn.get(db, &key) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(lmdb::Error::NotFound) => Ok(None),
        Err(source) => Err(StorageError::Lmdb {
            doing: "reading metadata",
            source,
        }),
    }
}

fn read_u64<T: Transaction>(
    txn: &T,
    db: Database,
    key: &[u8],
) -> Result<Option<u64>, StorageError> {
    let Some(bytes) = read_bytes(txn, db, key)? else {
        return Ok(None);
    };
    let array: [u8; 8] = bytes.try_into().map_err(|_| StorageError::Corrupt {
        what: "metadata integer",
    })?;
    Ok(Some(u64::from_be_bytes(array)))
}

fn read_u32<T: Transaction>(
    txn: &T,
    db: Database,
    key: &[u8],
) -> Result<Option<u32>, StorageError> {
    let Some(bytes) = read_bytes(txn, db, key)? else {
        return Ok(None);
    };
    let array: [u8; 4] = bytes.try_into().map_err(|_| StorageError::Corrupt {
        what: "metadata integer",
    })?;
    Ok(Some(u32::from_be_bytes(array)))
}

fn check_format<T: Transaction>(txn: &T, meta: Database) -> Result<(), StorageError> {
    match read_u32(txn, meta, META_FORMAT)? {
        None | Some(FORMAT_VERSION) => Ok(()),
        Some(other) => Err(StorageError::Format(other)),
    }
}

fn check_identity<T: Transaction>(
    txn: &T,
    meta: Database,
    identity: &Identity,
) -> Result<(), StorageError> {
    let node = read_u32(txn, meta, META_NODE)?;
    let cluster =
        read_bytes(txn, meta, META_CLUSTER)?.map(|b| String::from_utf8_lossy(b).into_owned());
    let (Some(node), Some(cluster)) = (node, cluster) else {
        return Ok(());
    };
    if node == identity.node.0 && cluster == identity.cluster {
        return Ok(());
    }
    Err(StorageError::WrongIdentity {
        stored: format!("node {node} of cluster {cluster:?}"),
        configured: format!("node {} of cluster {:?}", identity.node.0, identity.cluster),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use level2pc::Write;
    use std::sync::Arc;

    fn identity() -> Identity {
        Identity {
            node: NodeId(1),
            cluster: "test".into(),
        }
    }

    fn ts(v: u64) -> Ts {
        Ts::new(v, NodeId(1), BootInc(1))
    }

    fn put(key: &str, v: u64, valid: bool) -> PersistOp {
        let entry = StoredEntry {
            ts: ts(v),
            valid,
            value: Some(Bytes::from(format!("v{v}").as_bytes())),
        };
        PersistOp::Entry {
            key: Bytes::from(key.as_bytes()),
            entry,
        }
    }

    /// What a store holds, in the in-memory reference's shape.
    fn as_mem_disk(rec: Recovered) -> level2pc::MemDisk {
        level2pc::MemDisk {
            boots: 0,
            view: rec.view,
            identity: rec.identity,
            acceptor: rec.acceptor.into_iter().map(|a| (a.instance, a)).collect(),
            entries: rec.entries.into_iter().collect(),
            records: rec.records.into_iter().map(|u| (u.ts, u)).collect(),
        }
    }

    #[test]
    fn a_checkpoint_writes_exactly_the_overlays_net_effect() {
        use crate::wal::overlay::tests::random_ops_and_split;
        for seed in 0..60u64 {
            let (ops, split) = random_ops_and_split(seed);
            let dir = tempfile::tempdir().unwrap();
            let opts = StoreOptions::default();
            let (store, _, applied) = Store::open(dir.path(), &opts, &identity()).unwrap();
            assert_eq!(applied, 0);
            store.commit([&ops[..split]]).unwrap();
            let mut overlay = Overlay::default();
            overlay.apply(&ops[split..]);
            let upto_lsn = 7 + seed;
            store.checkpoint(&Checkpoint { overlay, upto_lsn }).unwrap();
            drop(store);
            let (_, rec, applied) = Store::open(dir.path(), &opts, &identity()).unwrap();
            let mut expected = level2pc::MemDisk::default();
            expected.apply(&ops);
            assert_eq!(as_mem_disk(rec), expected, "seed {seed}");
            assert_eq!(applied, upto_lsn);
        }
    }

    #[test]
    fn boot_incarnation_is_bumped_on_every_open() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions::default();
        for expected in 1..=3 {
            let (_, rec, _) = Store::open(dir.path(), &opts, &identity()).unwrap();
            assert_eq!(rec.boot, BootInc(expected));
        }
    }

    #[test]
    fn committed_ops_are_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions::default();
        let (store, _, _) = Store::open(dir.path(), &opts, &identity()).unwrap();
        let update = Update {
            ts: ts(2),
            writes: vec![Write {
                key: Bytes::from(&b"a"[..]),
                value: None,
            }],
            base: None,
        };
        let first = [
            put("", 1, false),
            put("a", 2, false),
            PersistOp::Record(Arc::new(update.clone())),
        ];
        let second = [
            PersistOp::Validate {
                key: Bytes::from(&b""[..]),
                ts: ts(1),
            },
            PersistOp::View(View::initial(Epoch(4), &[NodeId(1)])),
        ];
        assert_eq!(store.commit([&first[..], &second[..]]).unwrap(), 5);
        drop(store);
        let (_, rec, _) = Store::open(dir.path(), &opts, &identity()).unwrap();
        assert_eq!(rec.view.map(|v| v.epoch), Some(Epoch(4)));
        assert_eq!(rec.records, vec![Arc::new(update)]);
        let empty_key = rec.entries.iter().find(|(k, _)| k.is_empty()).unwrap();
        assert!(
            empty_key.1.valid,
            "Validate applied after the Entry of the same transaction"
        );
        assert_eq!(rec.entries.len(), 2);
    }

    #[test]
    fn membership_state_is_recovered_and_a_wipe_forgets_all_data() {
        use level2pc::{Ballot, Identity as Member};
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions::default();
        let (store, rec, _) = Store::open(dir.path(), &opts, &identity()).unwrap();
        assert_eq!(
            (rec.view, rec.identity, rec.acceptor.len()),
            (None, None, 0),
            "a fresh store"
        );
        let accepted = |e: u64| AcceptorRecord {
            instance: Epoch(e),
            promised: Ballot {
                round: e,
                node: NodeId(1),
            },
            accepted: Some((
                Ballot {
                    round: e,
                    node: NodeId(1),
                },
                View::initial(Epoch(e), &[NodeId(1)]),
            )),
        };
        let me = Member {
            adm: 3,
            transfer_done: false,
        };
        let ops = [
            put("a", 2, true),
            PersistOp::Acceptor(accepted(3)),
            PersistOp::Acceptor(accepted(4)),
            PersistOp::View(View::initial(Epoch(3), &[NodeId(1)])),
            PersistOp::Identity(Some(me)),
        ];
        store.commit([&ops[..]]).unwrap();
        drop(store);
        let (store, rec, _) = Store::open(dir.path(), &opts, &identity()).unwrap();
        assert_eq!(rec.identity, Some(me));
        assert_eq!(
            rec.acceptor,
            vec![accepted(4)],
            "instance 3 was settled by view 3"
        );
        assert_eq!(rec.entries.len(), 1);
        store
            .commit([&[PersistOp::Wipe, PersistOp::Identity(None)][..]])
            .unwrap();
        drop(store);
        let (_, rec, _) = Store::open(dir.path(), &opts, &identity()).unwrap();
        assert!(rec.entries.is_empty() && rec.records.is_empty() && rec.identity.is_none());
        assert_eq!(
            rec.view.map(|v| v.epoch),
            Some(Epoch(3)),
            "a wipe keeps membership state"
        );
    }

    #[test]
    fn dropping_a_record_forgets_it_and_a_missing_one_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
        let update = Arc::new(Update {
            ts: ts(3),
            writes: vec![],
            base: None,
        });
        store.commit([&[PersistOp::Record(update)][..]]).unwrap();
        store
            .commit([&[PersistOp::DropRecord(ts(3)), PersistOp::DropRecord(ts(9))][..]])
            .unwrap();
        assert_eq!(store.stats().unwrap().records, 0);
    }

    #[test]
    fn the_saved_peer_directory_survives_a_restart_and_garbage_is_a_typed_error() {
        use crate::directory::PeerAddr;
        let dir = tempfile::tempdir().unwrap();
        let saved = Directory {
            acceptors: vec![NodeId(0), NodeId(1)],
            peers: vec![PeerAddr {
                id: NodeId(7),
                addr: "h:7".into(),
            }],
        };
        {
            let (store, _, _) =
                Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
            assert_eq!(store.directory().unwrap(), None);
            store.save_directory(&saved).unwrap();
        }
        let (store, _, _) = Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
        assert_eq!(store.directory().unwrap(), Some(saved));
        let mut txn = store.env.begin_rw_txn().unwrap();
        txn.put(store.meta, &META_DIRECTORY, &[0xff; 3], WriteFlags::empty())
            .unwrap();
        txn.commit().unwrap();
        assert!(matches!(
            store.directory(),
            Err(StorageError::Corrupt { what: "directory" })
        ));
    }

    #[test]
    fn a_directory_in_use_is_refused_until_closed() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
        let err = Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap_err();
        assert!(matches!(err, StorageError::Locked { .. }), "{err}");
        drop(store);
        Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
    }

    #[test]
    fn another_nodes_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
        let other = Identity {
            node: NodeId(2),
            cluster: "test".into(),
        };
        let err = Store::open(dir.path(), &StoreOptions::default(), &other).unwrap_err();
        assert!(matches!(err, StorageError::WrongIdentity { .. }), "{err}");
    }

    #[test]
    fn a_full_map_is_a_typed_error_and_applies_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            map_size_bytes: 256 * 1024,
            ..StoreOptions::default()
        };
        let (store, _, _) = Store::open(dir.path(), &opts, &identity()).unwrap();
        let big = Bytes::from(vec![7u8; 64 * 1024]);
        let mut committed = Vec::new();
        let err = (0..100u64)
            .find_map(|i| {
                let entry = StoredEntry {
                    ts: ts(i + 1),
                    valid: true,
                    value: Some(big.clone()),
                };
                let op = PersistOp::Entry {
                    key: Bytes::from(format!("k{i}").as_bytes()),
                    entry,
                };
                match store.commit([std::slice::from_ref(&op)]) {
                    Ok(_) => {
                        committed.push(i);
                        None
                    }
                    Err(e) => Some(e),
                }
            })
            .expect("a 256 KiB map fills up");
        assert!(
            matches!(
                err,
                StorageError::MapFull {
                    map_size_bytes: 262_144
                }
            ),
            "{err}"
        );
        assert!(!committed.is_empty());
        let failed_key = format!("k{}", committed.len());
        assert_eq!(
            store.read_entry(failed_key.as_bytes()).unwrap(),
            None,
            "the failed transaction applied nothing"
        );
        drop(store);
        let (_, rec, _) = Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
        assert_eq!(
            rec.entries.len(),
            committed.len(),
            "every committed entry survives, readable with a larger map"
        );
    }

    #[test]
    fn oversized_keys_are_refused_not_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, _) = Store::open(dir.path(), &StoreOptions::default(), &identity()).unwrap();
        let key = "k".repeat(MAX_KEY_BYTES + 1);
        let err = store.commit([&[put(&key, 1, true)][..]]).unwrap_err();
        assert!(matches!(err, StorageError::KeyTooLarge { len: 511 }));
        store
            .commit([&[put(&"k".repeat(MAX_KEY_BYTES), 1, true)][..]])
            .unwrap();
    }
}
