//! The `level2pc` binary: argument errors, `demo`, and the client subcommands against `serve`.

mod common;

use common::{free_port, serve_args, wait_ready, ServeProc, BIN};
use std::process::{Command, Output};
use std::time::Duration;

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run level2pc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `serve` with valid addresses and data folder for node `id`, then `extra`.
fn serve_with(id: &'static str, extra: &[&'static str]) -> Vec<&'static str> {
    let mut args = vec![
        "serve",
        "--id",
        id,
        "--listen",
        "127.0.0.1:1",
        "--client",
        "127.0.0.1:2",
        "--data",
        "/tmp/x",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn bad_arguments_are_clear_errors_with_a_non_zero_exit() {
    let cases: [(Vec<&str>, &str); 6] = [
        (
            vec!["serve", "--id", "x"],
            "invalid value 'x' for '--id <ID>'",
        ),
        (
            serve_with("0", &["--peers", "1=nohost"]),
            "is not a HOST:PORT address",
        ),
        (
            serve_with("0", &["--peers", "one=h:1"]),
            "peer id \"one\" is not a number",
        ),
        (
            serve_with("9", &["--join", "h:1,nohost"]),
            "invalid value 'nohost' for '--join",
        ),
        (vec!["get"], "required"),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let out = run(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            stderr(&out)
        );
    }
}

#[test]
fn min_consensus_above_the_membership_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (peer, client) = (free_port(), free_port());
    let data = dir.path().display().to_string();
    let out = run(&[
        "serve",
        "--id",
        "0",
        "--listen",
        &format!("127.0.0.1:{peer}"),
        "--client",
        &format!("127.0.0.1:{client}"),
        "--data",
        &data,
        "--peers",
        "1=127.0.0.1:1,2=127.0.0.1:2",
        "--min-consensus",
        "4",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("min-consensus 4 must be between 1 and the number of members (3)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn demo_writes_on_one_node_and_reads_on_the_others() {
    let out = run(&["demo"]);
    assert!(out.status.success(), "demo failed:\n{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "node 0: put x = 100 -> ok",
        "node 1: get x -> Some(100)",
        "node 2: get x -> Some(100)",
        "range [a, ~) -> [y=1, z=2]",
    ] {
        assert!(text.contains(line), "demo output lacks {line:?}:\n{text}");
    }
}

#[test]
fn client_subcommands_talk_to_a_served_node() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (peers, clients) = (vec![free_port()], vec![free_port()]);
    let node = ServeProc::start(
        serve_args(0, &peers, &clients, dir.path(), &[]),
        clients[0],
        &dir.path().join("node.log"),
    );
    assert!(
        wait_ready(clients[0], Duration::from_secs(20)),
        "node not ready:\n{}",
        node.log_tail()
    );
    let addr = format!("127.0.0.1:{}", clients[0]);
    let cli = |args: &[&str]| {
        let mut all = vec![args[0], "--node", &addr];
        all.extend_from_slice(&args[1..]);
        run(&all)
    };
    let ok = |args: &[&str], expected: &str| {
        let out = cli(args);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(stdout(&out), expected, "{args:?}");
    };
    ok(&["put", "x", "100"], "OK\n");
    ok(&["get", "x"], "100\n");
    ok(
        &["batch", "put", "a", "1", "put", "b", "2", "del", "x"],
        "1) OK\n2) OK\n3) (nil)\n",
    );
    ok(&["range", "a", "z"], "1) a\n2) 1\n3) b\n4) 2\n");
    ok(&["range", "a", "z", "--limit", "1"], "1) a\n2) 1\n");
    ok(&["del", "a", "b"], "(integer) 2\n");
    ok(&["get", "a"], "(nil)\n");
    let info = cli(&["info"]);
    assert!(stdout(&info).contains("node_id:0"), "{}", stdout(&info));
    let bad = cli(&["batch", "put", "onlykey"]);
    assert!(
        !bad.status.success() && stderr(&bad).contains("`put` needs a value"),
        "{}",
        stderr(&bad)
    );
    let unreachable = run(&["get", "--node", "127.0.0.1:1", "--timeout", "2", "x"]);
    assert!(
        !unreachable.status.success() && stderr(&unreachable).contains("cannot reach 127.0.0.1:1"),
        "{}",
        stderr(&unreachable)
    );
}
