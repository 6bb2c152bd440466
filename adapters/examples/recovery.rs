//! Measures recovery with a large log not yet checkpointed: how long a node's storage takes
//! from "open the data directory" to an engine ready to run, when LOG_MIB of log lies past the
//! last checkpoint.
//!
//! ```text
//! cargo run --release -p level2pc-adapters --example recovery [LOG_MIB] [KEYS] [VALUE_BYTES] [DIR]
//! ```
//!
//! Defaults: 1024 MiB of log, 1,000,000 keys, 100-byte values. Each put is logged as a follower
//! logs it: the entry and its update record, then (lazily) the validation and the record's
//! drop — about 330 bytes of log. The log is written
//! through the real `Wal` with checkpoints disabled, the directory is dropped as a `kill -9`
//! would leave it (no clean shutdown), then `open_store` replays it and `Node::new` loads it.

use level2pc::{BootInc, Bytes, Config, Instant, Node, NodeId, PersistOp, StoredEntry, Ts};
use level2pc::{Update, Write};
use level2pc_adapters::internals::{open_store, Identity};
use level2pc_adapters::{StoreOptions, WalOptions};
use std::sync::Arc;
use std::time::Instant as Clock;

/// A follower's two persists for put `i`: the INV's effect, then the commit's hints.
fn persists(i: u64, keys: u64, value: &Bytes) -> [Vec<PersistOp>; 2] {
    let key = Bytes::from(format!("key:{:012}", i % keys).as_bytes());
    let ts = Ts::new(i + 1, NodeId(1), BootInc(1));
    let entry = StoredEntry {
        ts,
        valid: false,
        value: Some(value.clone()),
    };
    let writes = vec![Write {
        key: key.clone(),
        value: Some(value.clone()),
    }];
    [
        vec![
            PersistOp::Entry {
                key: key.clone(),
                entry,
            },
            PersistOp::Record(Arc::new(Update {
                ts,
                writes,
                base: None,
            })),
        ],
        vec![PersistOp::Validate { key, ts }, PersistOp::DropRecord(ts)],
    ]
}

fn arg(n: usize, default: u64) -> Result<u64, Box<dyn std::error::Error>> {
    Ok(std::env::args()
        .nth(n)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(default))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let log_mib = arg(1, 1024)?;
    let keys = arg(2, 1_000_000)?.max(1);
    let value_bytes = arg(3, 100)?;
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(4)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| tmp.path().join("node"));
    let opts = StoreOptions {
        map_size_bytes: 64 << 30,
        wal: WalOptions {
            segment_bytes: 64 << 20,
            checkpoint_bytes: u64::MAX, // never: everything stays in the log
        },
    };
    let identity = Identity {
        node: NodeId(1),
        cluster: "bench".into(),
    };
    let value = Bytes::from(vec![b'v'; value_bytes as usize]);
    let started = Clock::now();
    let mut wal = open_store(&dir, &opts, &identity)?.wal;
    let mut i = 0;
    while wal.stats().bytes_written < log_mib << 20 {
        let group: Vec<Vec<PersistOp>> = (i..i + 256)
            .flat_map(|j| persists(j, keys, &value))
            .collect();
        wal.append(
            group
                .iter()
                .map(|ops| (ops.iter().any(PersistOp::needs_sync), ops.as_slice())),
        )?;
        i += 256;
    }
    let written = wal.stats();
    drop(wal);
    println!(
        "wrote {} MiB of log ({} puts, {} keys, {value_bytes}-byte values) in {:.1} s",
        written.bytes_written >> 20,
        i,
        keys.min(i),
        started.elapsed().as_secs_f64()
    );

    let started = Clock::now();
    let opened = open_store(&dir, &opts, &identity)?;
    let replay = started.elapsed();
    let entries = opened.recovered.entries.len();
    let mut cfg = Config::new(NodeId(1), vec![NodeId(1)]);
    cfg.seed = 1;
    let node = Node::new(cfg, opened.recovered, Instant::ZERO)?;
    let total = started.elapsed();
    println!(
        "recovery: replayed {} frames ({} MiB) in {:.2} s ({:.0} MiB/s); engine loaded {} keys; \
         storage open to engine ready: {:.2} s",
        opened.replayed.frames,
        opened.replayed.bytes >> 20,
        replay.as_secs_f64(),
        (opened.replayed.bytes >> 20) as f64 / replay.as_secs_f64(),
        entries,
        total.as_secs_f64()
    );
    drop(node);
    Ok(())
}
