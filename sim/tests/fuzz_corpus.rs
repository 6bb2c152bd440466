//! Replays the checked-in fuzz corpora (`fuzz/corpus/<target>/`) and every past crash
//! (`fuzz/regressions/<target>/`) through the fuzz target bodies in `level2pc_sim::fuzz`, as an
//! ordinary `cargo test` on the stable toolchain: no cargo-fuzz needed.
//!
//! `cargo test -p level2pc-sim --test fuzz_corpus -- --ignored write_seed_corpus` regenerates
//! the hand-made seed files (see fuzz/README.md).

use level2pc::codec::{self, FrameKind};
use level2pc::{BootInc, Epoch, Message, NodeId, Ts, Update, Write};
use level2pc_sim::fuzz::replay::replay_with;
use level2pc_sim::fuzz::{alloc_meter, cluster, decode_frame, node_inputs};
use std::path::Path;
use std::sync::Arc;

// The decode target checks its allocation bound only under the measuring allocator.
#[global_allocator]
static ALLOC: alloc_meter::Meter = alloc_meter::Meter;

/// Runs every corpus file of `target` through `body` in this process, and every regression
/// file (a past crash, which may be a hang or a memory blow-up until it is fixed) in a child
/// process with a time and memory limit. Fails naming every file that fails. The corpus must
/// not be empty, so this can never pass vacuously.
fn replay(target: &str, body: fn(&[u8])) {
    replay_with(env!("CARGO_MANIFEST_DIR"), target, body, |path| {
        run_isolated(target, path)
    });
}

/// Limits of one isolated regression run.
const ISOLATED_SECONDS: u64 = 20;
const ISOLATED_RSS_KIB: u64 = 1024 * 1024;

/// Replays one input in a child process (this test binary running `replay_one`), killing it if
/// it runs longer than [`ISOLATED_SECONDS`] or grows past [`ISOLATED_RSS_KIB`].
fn run_isolated(target: &str, path: &Path) -> Result<(), String> {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "replay_one",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("LEVEL2PC_FUZZ_FILE", path)
        .env("LEVEL2PC_FUZZ_TARGET", target)
        .env_remove("LEVEL2PC_FUZZ_KNOWN")
        .env_remove("LEVEL2PC_FUZZ_TRACE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot spawn the replay: {e}"))?;
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            if status.success() {
                return Ok(());
            }
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut s, &mut err);
            }
            let why = err
                .lines()
                .skip_while(|l| !l.contains("panicked"))
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            return Err(if why.is_empty() {
                format!("exit {status}")
            } else {
                why
            });
        }
        let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        if rss > ISOLATED_RSS_KIB || start.elapsed() > Duration::from_secs(ISOLATED_SECONDS) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "killed after {:.1}s at {} MiB: a hang or a memory blow-up",
                start.elapsed().as_secs_f64(),
                rss / 1024
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn decode_frame_corpus() {
    replay("decode_frame", decode_frame::run);
}

#[test]
fn node_inputs_corpus() {
    replay("node_inputs", node_inputs::run);
}

#[test]
fn cluster_corpus() {
    replay("cluster", cluster::run);
}

/// Runs one input: `LEVEL2PC_FUZZ_FILE=path LEVEL2PC_FUZZ_TARGET=node_inputs cargo test -p
/// level2pc-sim --test fuzz_corpus -- --ignored --nocapture replay_one` (add
/// `LEVEL2PC_FUZZ_TRACE=1` to print every step of a `node_inputs` run).
#[test]
#[ignore]
fn replay_one() {
    let path = std::env::var("LEVEL2PC_FUZZ_FILE").expect("set LEVEL2PC_FUZZ_FILE");
    let target = std::env::var("LEVEL2PC_FUZZ_TARGET").expect("set LEVEL2PC_FUZZ_TARGET");
    let data = std::fs::read(&path).expect("read input");
    match target.as_str() {
        "decode_frame" => decode_frame::run(&data),
        "node_inputs" => node_inputs::run(&data),
        "cluster" => cluster::run(&data),
        other => panic!("unknown target {other}"),
    }
}

/// The measuring allocator is really installed here, so the decode bound is really checked.
#[test]
fn allocation_bound_is_checked() {
    let base = alloc_meter::start();
    let v = vec![0u8; 100_000];
    assert!(alloc_meter::installed() && alloc_meter::peak_since(base) >= 100_000);
    drop(v);
}

// ----- seed corpus -------------------------------------------------------------------------

fn ts(v: u64, n: u32, b: u64) -> Ts {
    Ts::new(v, NodeId(n), BootInc(b))
}

fn w(k: &str, v: Option<&str>) -> Write {
    Write {
        key: k.as_bytes().into(),
        value: v.map(|v| v.as_bytes().into()),
    }
}

fn sample_messages() -> Vec<Vec<Message>> {
    let e = Epoch(1);
    let inv = |t, writes| Message::Inv {
        epoch: e,
        update: Arc::new(Update {
            ts: t,
            writes,
            base: None,
        }),
    };
    vec![
        vec![Message::Ping { epoch: e }],
        vec![inv(ts(1, 0, 1), vec![w("a", Some("1"))])],
        vec![
            inv(
                ts(3, 2, 1),
                vec![w("a", Some("x")), w("b", None), w("c", Some(""))],
            ),
            Message::Ack {
                epoch: e,
                ts: ts(2, 1, 1),
            },
        ],
        vec![
            Message::Ack {
                epoch: e,
                ts: ts(1, 0, 1),
            },
            Message::Val {
                epoch: e,
                ts: ts(1, 0, 1),
            },
            Message::Ping { epoch: Epoch(7) },
        ],
        vec![],
        vec![Message::Val {
            epoch: Epoch(u64::MAX),
            ts: ts(u64::MAX, u32::MAX, u64::MAX),
        }],
    ]
}

fn frame(msgs: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode_messages(msgs, decode_frame::FRAME_LIMIT, &mut out).expect("encode");
    out
}

/// A deterministic pseudo-random byte string (seeds for the targets that read structure).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn cluster_seed(header: [u8; cluster::HEADER], entropy_seed: u64, len: usize) -> Vec<u8> {
    let mut v = header.to_vec();
    v.extend(noise(entropy_seed, len));
    v
}

fn resp_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let s = |b: &[u8]| b.to_vec();
    vec![
        ("set-get-pipeline", s(b"\x02*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$3\r\n100\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n")),
        ("inline", s(b"\x01get  x\r\nPING\nmset a 1 b 2\r\n")),
        ("multi-exec", s(b"\x01MULTI\r\nSET a 1\r\nDEL a b\r\nGET a\r\nEXEC\r\nDISCARD\r\nEXEC\r\n")),
        ("range-limit", s(b"\x01*5\r\n$5\r\nRANGE\r\n$1\r\na\r\n$1\r\nz\r\n$5\r\nLIMIT\r\n$1\r\n5\r\n")),
        ("unknown-and-arity", s(b"\x01FLUSHALL\r\nGET\r\nSET x 1 EX 10\r\nINFO\r\nQUIT\r\nPING\r\n")),
        ("empty-and-zero", s(b"\x00*0\r\n\r\n*1\r\n$0\r\n\r\n")),
        ("too-many-args", s(b"\x00*9\r\n")),
        ("huge-bulk", s(b"\x02*1\r\n$99999999999\r\n")),
        ("bad-length", s(b"\x01*1\r\n$-1\r\n")),
        ("replies", s(b"\x01+OK\r\n-ERR x\r\n:42\r\n$3\r\nabc\r\n$-1\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n*-1\r\n")),
    ]
}

/// Writes the hand-made seed files. Run with `--ignored` after changing the input formats.
#[test]
#[ignore]
fn write_seed_corpus() {
    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
    };
    // decode_frame: mode 0 (raw stream, 64 KiB limit) with encoder-made frames; mode 1 (the
    // bytes are one frame's body); mode 0x02.. (smaller limits); mode 0x08 (ignore room()).
    let all = sample_messages();
    for (i, msgs) in all.iter().enumerate() {
        let mut data = vec![0u8];
        data.extend(frame(msgs));
        write("decode_frame", &format!("frame-{i}"), &data);
        let mut body = vec![1u8];
        body.extend(&frame(msgs)[codec::HEADER_BYTES..]);
        write("decode_frame", &format!("body-{i}"), &body);
    }
    let mut stream = vec![0x08u8];
    for msgs in &all {
        stream.extend(frame(msgs));
    }
    write("decode_frame", "stream", &stream);
    let mut truncated = vec![0x04u8];
    truncated.extend(&frame(&all[2])[..20]);
    write("decode_frame", "truncated-small-limit", &truncated);
    let mut handshake = vec![0u8];
    codec::encode_frame(FrameKind::Handshake, &(1u32, "hello"), 1024, &mut handshake)
        .expect("encode");
    handshake.extend(frame(&all[0]));
    write("decode_frame", "handshake-then-ping", &handshake);
    write(
        "decode_frame",
        "bad-header",
        b"\x00L2\x01\x09\x00\x00\x00\x00XX\x01\x01",
    );

    // node_inputs and cluster read structure from the bytes: seed them with noise of a few
    // lengths (the fuzzer evolves them) and a few cluster headers.
    for (i, len) in [16usize, 64, 256, 1024, 3000].into_iter().enumerate() {
        write(
            "node_inputs",
            &format!("noise-{len}"),
            &noise(i as u64 + 1, len),
        );
    }
    let headers: [([u8; 6], usize); 6] = [
        ([1, 0, 0x00, 0, 0, 0], 0),         // 3 nodes, 20 ops, no faults
        ([1, 128, 0xff, 1, 0, 0x1c], 256),  // 3 nodes, all kinds, unbounded faults
        ([0, 60, 0x27, 2, 0, 0x05], 512),   // 2 nodes, hot, loss+dup+reorder+crashes
        ([2, 40, 0x68, 3, 0, 0x1d], 256),   // 4 nodes, partitions+crashes+pauses, hot
        ([1, 200, 0x90, 9, 0, 0x0c], 1024), // resets + clock drift
        ([1, 30, 0x20, 4, 1, 0x09], 128),   // crashes only, hot
    ];
    for (i, (h, len)) in headers.into_iter().enumerate() {
        write(
            "cluster",
            &format!("{i}"),
            &cluster_seed(h, i as u64 + 7, len),
        );
    }
    for (name, data) in resp_seeds() {
        write("resp", name, &data);
    }
}
