//! Helpers shared by the test files that drive real Redis clients (redis-py 8, redis-cli 7)
//! against real nodes. Those tests fail, never skip, when a client is missing: `scripts/test.sh`
//! installs `redis-cli` (Debian package redis-tools) and creates the Python virtual environment
//! with redis-py in `<target dir>/pyvenv` (`LEVEL2PC_PYTHON` may name another interpreter that
//! has redis-py 8).

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one client run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The cargo target directory this test binary was built in (`<target>/<profile>/deps/<exe>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("{} is not inside a cargo target directory", exe.display()))
}

/// The Python interpreter with redis-py 8: `LEVEL2PC_PYTHON`, else `<target>/pyvenv/bin/python`.
pub fn python() -> PathBuf {
    let python = std::env::var_os("LEVEL2PC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("pyvenv").join("bin").join("python"));
    let probe = Command::new(&python)
        .args([
            "-c",
            "import redis, sys; sys.exit(int(redis.__version__.split('.')[0]) < 8)",
        ])
        .output();
    match probe {
        Ok(out) if out.status.success() => python,
        Ok(out) => panic!(
            "{} has no redis-py 8 ({}): run scripts/test.sh, which installs it (python3 -m venv {} && pip install 'redis>=8,<9')",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim(),
            target_dir().join("pyvenv").display()
        ),
        Err(e) => panic!(
            "no Python with redis-py 8 at {} ({e}): run scripts/test.sh, which creates it (python3 -m venv {} && pip install 'redis>=8,<9')",
            python.display(),
            target_dir().join("pyvenv").display()
        ),
    }
}

/// A script of `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// Runs `cmd` to completion, killing it after [`RUN_TIMEOUT`]; panics on failure with its
/// output. Returns its standard output.
pub fn run(mut cmd: Command, what: &str) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > RUN_TIMEOUT => {
                let _ = child.kill();
                let out = child.wait_with_output().ok();
                panic!("{what} did not finish within {RUN_TIMEOUT:?}: {out:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("collect the output");
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    assert!(
        status.success(),
        "{what} failed ({status}):\n{stdout}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

/// Runs `redis-cli -h 127.0.0.1 -p PORT args...`, feeding it `stdin`.
pub fn redis_cli(port: u16, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-cli is required for this test (apt-get install redis-tools, or run scripts/test.sh): {e}"));
    if let Some(mut input) = child.stdin.take() {
        input
            .write_all(stdin.as_bytes())
            .expect("write redis-cli's input");
    }
    let out = child.wait_with_output().expect("redis-cli output");
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a client's `INCR`s came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Increments {
    /// The value each successful `INCR` returned, in the client's order.
    pub values: Vec<i64>,
    /// `-INDETERMINATE` replies: the increment may or may not have applied.
    pub indeterminate: u64,
    /// `-UNAVAILABLE` replies: nothing was written.
    pub unavailable: u64,
    /// Requests never sent (no connection): nothing was written.
    pub unsent: u64,
    /// Requests sent whose reply never came (the connection broke): may or may not have applied.
    pub lost: u64,
    /// Any other reply: never acceptable.
    pub wrong: Vec<String>,
}

impl Increments {
    /// Adds another client's counts (values are kept per client by the caller).
    pub fn absorb(&mut self, other: &Increments) {
        self.values.extend_from_slice(&other.values);
        self.indeterminate += other.indeterminate;
        self.unavailable += other.unavailable;
        self.unsent += other.unsent;
        self.lost += other.lost;
        self.wrong.extend(other.wrong.iter().cloned());
    }

    /// Reads the JSON line `tests/python/redis_py_rmw.py incr` prints.
    pub fn from_redis_py(json: &str) -> Increments {
        let v: serde_json::Value = serde_json::from_str(json.trim())
            .unwrap_or_else(|e| panic!("redis-py printed {json:?}: {e}"));
        let count = |field: &str| {
            v[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} in {v}"))
        };
        Increments {
            values: v["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|n| n.as_i64().expect("an integer"))
                .collect(),
            indeterminate: count("indeterminate"),
            unavailable: count("unavailable"),
            unsent: count("unsent"),
            lost: count("lost"),
            wrong: v["other"]
                .as_array()
                .expect("other")
                .iter()
                .map(|e| e.to_string())
                .collect(),
        }
    }

    /// Reads what `redis-cli -r N incr KEY` prints without a terminal: one line per reply (an
    /// error line is followed by a blank one).
    pub fn from_redis_cli(out: &str) -> Increments {
        let mut incs = Increments::default();
        for line in out.lines().filter(|l| !l.is_empty()) {
            if let Ok(n) = line.parse() {
                incs.values.push(n);
            } else if line.starts_with("INDETERMINATE") {
                incs.indeterminate += 1;
            } else if line.starts_with("UNAVAILABLE") {
                incs.unavailable += 1;
            } else {
                incs.wrong.push(line.to_string());
            }
        }
        incs
    }
}

/// Checks increments of one counter gathered from several clients (each client's values in its
/// own order) against the counter's final value: every successful `INCR` returned a distinct
/// value, each client saw its values grow, no reply was wrong, and the final value counts every
/// applied increment once: `applied <= final <= applied + indeterminate + lost`. Returns the
/// totals.
pub fn check_increments(clients: &[Increments], last: i64) -> Increments {
    let mut total = Increments::default();
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in clients.iter().enumerate() {
        assert!(
            c.wrong.is_empty(),
            "client {i} got wrong replies: {:?}",
            c.wrong
        );
        assert!(
            c.values.windows(2).all(|w| w[0] < w[1]),
            "client {i} saw its counter go back: {:?}",
            c.values
        );
        for v in &c.values {
            assert!(seen.insert(*v), "the value {v} was returned twice");
        }
        total.absorb(c);
    }
    let applied = i64::try_from(seen.len()).expect("a count");
    let unknown = i64::try_from(total.indeterminate + total.lost).expect("a count");
    assert!(
        seen.last().is_none_or(|max| *max <= last),
        "an INCR returned {:?}, above the final value {last}",
        seen.last()
    );
    assert!(
        (applied..=applied + unknown).contains(&last),
        "final value {last} after {applied} applied increments, {} indeterminate and {} lost",
        total.indeterminate,
        total.lost
    );
    total
}
