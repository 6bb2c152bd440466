//! Measures what group commit buys: durable LMDB writes per second when every engine `Persist`
//! gets its own transaction and fsync, versus when the persists of one loop turn share one.
//!
//! ```text
//! cargo run --release -p level2pc-adapters --example group_commit [PERSISTS] [DIR]
//! ```
//!
//! Each persist is what a follower stores for one single-key put: the entry (100-byte value)
//! and its update record. DIR defaults to a temporary directory (put it on the disk you care
//! about: fsync cost is the disk's).

use level2pc::{BootInc, Bytes, NodeId, PersistOp, StoredEntry, Ts, Update, Write};
use level2pc_adapters::storage::{Identity, Store};
use level2pc_adapters::StoreOptions;
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
        "{:>12} {:>14} {:>14} {:>12}",
        "group size", "transactions", "persists/s", "ms/commit"
    );
    for group in [1usize, 4, 16, 64, 256] {
        let dir = base.join(format!("group-{group}"));
        let _ = std::fs::remove_dir_all(&dir);
        let (store, _) = Store::open(
            &dir,
            &StoreOptions::default(),
            &Identity {
                node: NodeId(1),
                cluster: "bench".into(),
            },
        )?;
        let all: Vec<Vec<PersistOp>> = (0..persists).map(persist).collect();
        let started = Instant::now();
        let mut transactions = 0;
        for chunk in all.chunks(group) {
            store.commit(chunk.iter().map(Vec::as_slice))?;
            transactions += 1;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{group:>12} {transactions:>14} {:>14.0} {:>12.3}",
            persists as f64 / secs,
            secs * 1000.0 / f64::from(transactions)
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
