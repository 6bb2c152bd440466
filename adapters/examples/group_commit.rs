//! Measures what group commit buys on the write-ahead log: durable persists per second when
//! every engine `Persist` gets its own write and `fdatasync`, versus when a group shares one
//! (as the log thread groups what arrives during an fsync).
//!
//! ```text
//! cargo run --release -p level2pc-adapters --example group_commit [PERSISTS] [DIR]
//! ```
//!
//! Each persist is what a follower stores for one single-key put: the entry (100-byte value)
//! and its update record. DIR defaults to a temporary directory (put it on the disk you care
//! about: fsync cost is the disk's).

use level2pc::{BootInc, Bytes, NodeId, PersistOp, StoredEntry, Ts, Update, Write};
use level2pc_adapters::internals::{OsFs, Wal};
use level2pc_adapters::WalOptions;
use std::sync::Arc;
use std::time::Instant;

fn persist(i: u64) -> Vec<PersistOp> {
    let key = Bytes::from(format!("key{i:08}").as_bytes());
    let value = Bytes::from(vec![b'v'; 100]);
    let ts = Ts::new(i + 1, NodeId(1), BootInc(1));
    let entry = StoredEntry {
        ts,
        valid: false,
        value: Some(value.clone()),
    };
    let update = Update {
        ts,
        writes: vec![Write {
            key: key.clone(),
            value: Some(value),
        }],
        base: None,
    };
    vec![
        PersistOp::Entry { key, entry },
        PersistOp::Record(Arc::new(update)),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let persists: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2_000);
    let tmp = tempfile::tempdir()?;
    let base = std::env::args()
        .nth(2)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().to_owned());
    println!("{persists} persists (entry + record, 100-byte values), fsync on every commit");
    println!(
        "{:>12} {:>14} {:>14} {:>12} {:>16}",
        "group size", "fsyncs", "persists/s", "ms/commit", "log bytes/persist"
    );
    for group in [1usize, 4, 16, 64, 256] {
        let dir = base.join(format!("group-{group}"));
        let _ = std::fs::remove_dir_all(&dir);
        let (mut wal, _) = Wal::open(OsFs, &dir, 0, WalOptions::default())?;
        let all: Vec<Vec<PersistOp>> = (0..persists).map(persist).collect();
        let started = Instant::now();
        for chunk in all.chunks(group) {
            wal.append(chunk.iter().map(|ops| (true, ops.as_slice())))?;
        }
        let secs = started.elapsed().as_secs_f64();
        let stats = wal.stats();
        println!(
            "{group:>12} {:>14} {:>14.0} {:>12.3} {:>16.0}",
            stats.fsyncs,
            persists as f64 / secs,
            secs * 1000.0 / stats.fsyncs.max(1) as f64,
            stats.bytes_written as f64 / persists as f64
        );
        drop(wal);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
