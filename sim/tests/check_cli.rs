//! Exit codes and output of `level2pc-sim check` on real files.

use std::path::PathBuf;
use std::process::Command;

const GOOD: &str = r#"{"id": 1, "client": 1, "node": 0, "call": 0, "ret": 10, "op": {"type": "put", "key": "a", "value": "1"}, "result": {"type": "ok"}}
{"id": 2, "client": 2, "node": 1, "call": 5, "ret": 6, "op": {"type": "get", "key": "a"}, "result": {"type": "value", "value": null}}
{"id": 3, "client": 2, "node": 1, "call": 11, "ret": 12, "op": {"type": "range", "lo": "a", "hi": "b", "limit": null}, "result": {"type": "range", "entries": [["a", "1"]]}}
{"id": 4, "client": 3, "call": 11, "ret": null, "op": {"type": "batch", "writes": [{"key": "a", "value": "2"}, {"key": "b", "value": null}]}, "result": {"type": "unknown"}}
"#;

/// A stale read: op 3 starts after op 2 overwrote "a".
const BAD: &str = r#"{"id": 1, "client": 1, "call": 0, "ret": 1, "op": {"type": "put", "key": "a", "value": "1"}, "result": {"type": "ok"}}
{"id": 2, "client": 1, "call": 2, "ret": 3, "op": {"type": "put", "key": "a", "value": "2"}, "result": {"type": "ok"}}

{"id": 3, "client": 2, "node": 4, "call": 4, "ret": 5, "op": {"type": "get", "key": "a"}, "result": {"type": "value", "value": "1"}}
"#;

/// Needs more than one search step.
const SLOW: &str = r#"{"id": 1, "client": 1, "call": 0, "ret": 10, "op": {"type": "put", "key": "a", "value": "1"}, "result": {"type": "ok"}}
{"id": 2, "client": 2, "call": 0, "ret": 10, "op": {"type": "get", "key": "a"}, "result": {"type": "value", "value": null}}
"#;

fn write(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("write test history");
    path
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_level2pc-sim"))
        .args(args)
        .output()
        .expect("run level2pc-sim");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check(path: &std::path::Path, extra: &[&str]) -> (i32, String, String) {
    let path = path.to_str().expect("utf-8 temp path");
    let mut args = vec!["check", path];
    args.extend_from_slice(extra);
    run(&args)
}

#[test]
fn linearizable_history_exits_0() {
    let (code, out, _) = check(&write("good.jsonl", GOOD), &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: linearizable"), "{out}");
    assert!(out.contains("operations: 4"), "{out}");
}

#[test]
fn stale_read_exits_1_naming_the_op_and_line() {
    let (code, out, _) = check(&write("bad.jsonl", BAD), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("verdict: NOT linearizable"), "{out}");
    assert!(out.contains("component: [\"a\"]"), "{out}");
    assert!(
        out.contains("operation that could not be linearized: 3"),
        "{out}"
    );
    assert!(
        out.contains("longest partial linearization (2 ops): [1, 2]"),
        "{out}"
    );
    assert!(
        out.contains("failing operation is on line 4: op 3 (client 2, node 4, [4, 5])"),
        "{out}"
    );
}

#[test]
fn exhausted_budget_exits_2() {
    let path = write("slow.jsonl", SLOW);
    let (code, out, _) = check(&path, &["--budget", "1"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("verdict: unknown"), "{out}");
    let (code, _, _) = check(&path, &[]);
    assert_eq!(code, 0);
}

#[test]
fn malformed_input_exits_3_naming_the_line() {
    let broken = format!("{}{{\"client\": 1, \"call\": 0\n", GOOD);
    let (code, out, err) = check(&write("malformed.jsonl", &broken), &[]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(err.contains("line 5"), "{err}");
    let inconsistent = GOOD.replace(r#""ret": 12"#, r#""ret": 2"#);
    let (code, _, err) = check(&write("inconsistent.jsonl", &inconsistent), &[]);
    assert_eq!(code, 3);
    assert!(err.contains("line 3: ret 2 is before call 11"), "{err}");
}

#[test]
fn missing_file_and_bad_usage_exit_3() {
    let (code, _, err) = run(&["check", "/nonexistent/history.jsonl"]);
    assert_eq!(code, 3);
    assert!(err.contains("cannot open"), "{err}");
    let (code, _, _) = run(&["check"]);
    assert_eq!(code, 3);
    let (code, _, _) = run(&["check", "x.jsonl", "--budget", "lots"]);
    assert_eq!(code, 3);
    let (code, out, _) = run(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("check"), "{out}");
}

#[test]
fn readme_example_history_is_linearizable() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("read sim/README.md");
    let example: String = readme
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a json block in the README")
        .to_owned();
    assert_eq!(example.lines().count(), 9);
    let (code, out, err) = check(&write("readme.jsonl", &example), &[]);
    assert_eq!(code, 0, "{out}{err}");
}
