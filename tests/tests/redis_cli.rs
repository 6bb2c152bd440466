//! `redis-cli` (Debian package redis-tools) talks to a node. This test fails, never skips, when
//! `redis-cli` is missing: `scripts/test.sh` installs it.

use level2pc_tests::TestCluster;
use std::process::Command;

/// Runs `redis-cli -p PORT args...` and returns its stdout (one line per reply element, as
/// redis-cli prints when not on a terminal: nil is an empty line).
fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("redis-cli is required for this test (apt-get install redis-tools, or run scripts/test.sh): {e}"));
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_writes_on_one_node_and_reads_on_the_others() {
    let c = TestCluster::ready(3);
    let port = |i: usize| c.node(i).client_addr().expect("client address").port();
    assert_eq!(redis_cli(port(0), &["ping"]), "PONG\n");
    assert_eq!(redis_cli(port(0), &["set", "x", "100"]), "OK\n");
    assert_eq!(redis_cli(port(1), &["get", "x"]), "100\n");
    assert_eq!(redis_cli(port(2), &["get", "x"]), "100\n");
    assert_eq!(redis_cli(port(1), &["mset", "a", "1", "b", "2"]), "OK\n");
    assert_eq!(redis_cli(port(2), &["mget", "a", "b", "nope"]), "1\n2\n\n");
    assert_eq!(redis_cli(port(0), &["range", "a", "c"]), "a\n1\nb\n2\n");
    assert_eq!(redis_cli(port(2), &["del", "a", "x"]), "2\n");
    assert_eq!(redis_cli(port(0), &["exists", "a", "b", "x"]), "1\n");
    assert_eq!(redis_cli(port(0), &["get", "x"]), "\n");
    assert_eq!(
        redis_cli(port(1), &["nosuchcommand"]),
        "ERR unknown command 'nosuchcommand'\n\n",
        "redis-cli prints an error reply and a blank line"
    );
    let info = redis_cli(port(1), &["info"]);
    assert!(
        info.contains("node_id:1") && info.contains("ready:1"),
        "{info}"
    );
}
