//! `level2pc`: run a node, a local cluster or a demo, or talk to a node over RESP.

use clap::{Args, Parser, Subcommand};
use level2pc::NodeId;
use level2pc_adapters::client::{Client, Value};
use level2pc_adapters::{check_addr, LocalCluster, Ports, WalOptions};
use level2pc_adapters::{Config, NodeEvent, PeerAddr, Replicator, Secret, StoreOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::Receiver;
use std::time::Duration;

/// level2pc: a replicated key-value store in which every node accepts writes and serves
/// linearizable reads locally, speaking the Redis protocol (RESP).
///
/// Try `level2pc cluster` (three nodes on loopback, RESP on ports 7001-7003) and talk to it
/// with `redis-cli -p 7001` or the `get`/`put`/`range` commands below. `level2pc serve --help`
/// shows how to run one node of a real cluster.
#[derive(Parser, Debug)]
#[command(name = "level2pc", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one node.
    Serve(ServeArgs),
    /// Run a local cluster on loopback until Ctrl-C.
    Cluster(ClusterArgs),
    /// Start 3 nodes in temporary directories, write on one, read on the others, exit.
    Demo,
    /// GET a key from a node.
    Get {
        #[command(flatten)]
        node: NodeArg,
        /// The key.
        key: String,
    },
    /// SET a key on a node.
    Put {
        #[command(flatten)]
        node: NodeArg,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// DEL keys on a node (one atomic batch).
    Del {
        #[command(flatten)]
        node: NodeArg,
        /// The keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Apply puts and deletes atomically: `batch --node H:P put k1 v1 del k2 put k3 v3`.
    Batch {
        #[command(flatten)]
        node: NodeArg,
        /// Operations: `put KEY VALUE` or `del KEY`, repeated.
        #[arg(required = true, allow_hyphen_values = true)]
        ops: Vec<String>,
    },
    /// Read the keys lo <= key < hi.
    Range {
        #[command(flatten)]
        node: NodeArg,
        /// Inclusive lower bound.
        lo: String,
        /// Exclusive upper bound.
        hi: String,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Show a node's INFO.
    Info {
        #[command(flatten)]
        node: NodeArg,
    },
}

#[derive(Args, Debug)]
struct NodeArg {
    /// The node's client (RESP) address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7001")]
    node: String,
    /// Seconds to wait for the reply.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// This node's id.
    #[arg(long)]
    id: u32,
    /// Address for peer connections.
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// Address for clients (RESP).
    #[arg(long, value_name = "HOST:PORT")]
    client: String,
    /// The other members: `ID=HOST:PORT,...` (empty for a single-node cluster).
    #[arg(long, value_name = "ID=HOST:PORT,...", value_delimiter = ',', value_parser = parse_peer)]
    peers: Vec<PeerAddr>,
    /// Data directory.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The view never shrinks below this many members (every acknowledged write is on at least
    /// K nodes); at most the number of members. Default 1.
    #[arg(long, value_name = "K")]
    min_consensus: Option<usize>,
    /// The configured cluster nodes (Paxos acceptors, first view), when `--peers` also lists
    /// nodes that join later. Default: this node and every peer.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    acceptors: Option<Vec<u32>>,
    /// Join a running cluster (a new node, or one whose disk was lost) instead of bootstrapping:
    /// ask the members to be admitted, then catch up by state transfer. With addresses (any
    /// member's peer address, e.g. `--join 127.0.0.1:8001`), the node finds the whole cluster
    /// from them and needs no `--peers`; bare `--join` uses `--peers`/`--acceptors`.
    #[arg(long, value_name = "HOST:PORT,...", num_args = 0.., value_delimiter = ',',
          value_parser = parse_addr)]
    join: Option<Vec<String>>,
    /// The address peers should dial to reach this node (default: `--listen`, unless it is a
    /// wildcard such as 0.0.0.0). Handed to every peer, so nodes that join later can find it.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_addr)]
    advertise: Option<String>,
    /// With `--join HOST:PORT`: how long to keep trying the seeds, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    discovery_timeout: u64,
    /// File holding a shared secret every peer must prove (HMAC challenge-response).
    #[arg(long, value_name = "FILE")]
    cluster_secret_file: Option<PathBuf>,
    /// Cluster id every peer must share.
    #[arg(long, default_value = level2pc_adapters::DEFAULT_CLUSTER_ID)]
    cluster_id: String,
    /// LMDB map size in MiB (the most data the node can hold).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    map_size_mib: usize,
    /// Write-ahead log segment size in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u64).range(4..=4 * 1024 * 1024))]
    wal_segment_kib: u64,
    /// Checkpoint the log into LMDB every this many KiB of log (bounds the log on disk and the
    /// replay at restart; at least the segment size).
    #[arg(long, value_name = "KIB", default_value_t = 64 * 1024,
          value_parser = clap::value_parser!(u64).range(4..=1024 * 1024 * 1024))]
    wal_checkpoint_kib: u64,
    /// Commit each persist in its own transaction (for measuring group commit).
    #[arg(long)]
    no_group_commit: bool,
    /// How long a client command may wait before -UNAVAILABLE / -INDETERMINATE, in ms.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    op_timeout_ms: u64,
    /// Most client connections at once.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_clients: usize,
    /// Largest client request (one command with its arguments), in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024 * 1024)]
    max_request_bytes: usize,
}

#[derive(Args, Debug)]
struct ClusterArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Data directory (one subdirectory per node).
    #[arg(long, default_value = "./level2pc-data")]
    data: PathBuf,
    /// First client port; node i serves RESP on PORT+i and peers on PORT+1000+i (0: any free).
    #[arg(long, default_value_t = 7001)]
    port: u16,
    /// Commit each persist in its own transaction (for measuring group commit).
    #[arg(long)]
    no_group_commit: bool,
}

fn parse_peer(s: &str) -> Result<PeerAddr, String> {
    let (id, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("peer {s:?} is not ID=HOST:PORT"))?;
    let id: u32 = id
        .trim()
        .parse()
        .map_err(|_| format!("peer id {id:?} is not a number"))?;
    Ok(PeerAddr {
        id: NodeId(id),
        addr: parse_addr(addr)?,
    })
}

fn parse_addr(s: &str) -> Result<String, String> {
    let addr = s.trim();
    check_addr(addr).map_err(|e| e.to_string())?;
    Ok(addr.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(matches!(
        cli.command,
        Command::Serve(_) | Command::Cluster(_)
    ));
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Cluster(args) => cluster(args),
        Command::Demo => demo(),
        Command::Get { node, key } => client(&node, &[b"GET", key.as_bytes()]),
        Command::Put { node, key, value } => {
            client(&node, &[b"SET", key.as_bytes(), value.as_bytes()])
        }
        Command::Del { node, keys } => {
            let mut args: Vec<&[u8]> = vec![b"DEL"];
            args.extend(keys.iter().map(|k| k.as_bytes()));
            client(&node, &args)
        }
        Command::Batch { node, ops } => batch(&node, &ops),
        Command::Range {
            node,
            lo,
            hi,
            limit,
        } => {
            let limit = limit.map(|l| l.to_string());
            let mut args: Vec<&[u8]> = vec![b"RANGE", lo.as_bytes(), hi.as_bytes()];
            if let Some(l) = &limit {
                args.extend([&b"LIMIT"[..], l.as_bytes()]);
            }
            client(&node, &args)
        }
        Command::Info { node } => client(&node, &[b"INFO"]),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, naming the node thread (`level2pc-n1`) on each line. Servers log at `info`,
/// the demo and the client at `warn`; `RUST_LOG` overrides.
fn init_logging(server: bool) {
    use std::io::Write;
    let default = if server { "info" } else { "warn" };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
        .format(|buf, record| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("main");
            writeln!(
                buf,
                "{} {:5} [{name}] {}",
                buf.timestamp_millis(),
                record.level(),
                record.args()
            )
        })
        .init();
}

type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

fn serve(args: ServeArgs) -> CliResult {
    let mut config = Config::new(NodeId(args.id), args.listen, args.peers);
    config.client = Some(args.client);
    config.min_consensus = args.min_consensus;
    config.acceptors = args
        .acceptors
        .as_ref()
        .map(|a| a.iter().map(|&id| NodeId(id)).collect());
    config.join = args.join.is_some();
    config.seeds = args.join.unwrap_or_default();
    config.advertise = args.advertise;
    config.discovery_timeout = Duration::from_secs(args.discovery_timeout);
    config.cluster_id = args.cluster_id;
    config.storage = StoreOptions {
        map_size_bytes: args.map_size_mib.saturating_mul(1024 * 1024),
        wal: WalOptions {
            segment_bytes: args.wal_segment_kib << 10,
            checkpoint_bytes: args.wal_checkpoint_kib.max(args.wal_segment_kib) << 10,
        },
    };
    config.group_commit = !args.no_group_commit;
    config.resp.op_timeout = Duration::from_millis(args.op_timeout_ms);
    config.op_timeout = config.resp.op_timeout;
    config.resp.max_clients = args.max_clients;
    config.resp.max_request_bytes = args.max_request_bytes;
    if let Some(path) = args.cluster_secret_file {
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let secret = Secret::new(bytes.trim_ascii())
            .ok_or_else(|| format!("{} is empty", path.display()))?;
        config.cluster_secret = Some(secret);
    }
    let stop = ctrl_c()?;
    let node = Replicator::open(&args.data, config)?;
    println!(
        "node {} serving clients on {} and peers on {} (data in {})",
        node.id().0,
        node.client_addr()
            .map_or_else(|| "-".to_string(), |a| a.to_string()),
        node.peer_addr(),
        args.data.display()
    );
    wait_for(&stop, node.events());
    node.close()?;
    Ok(ExitCode::SUCCESS)
}

fn cluster(args: ClusterArgs) -> CliResult {
    if args.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let ports = if args.port == 0 {
        Ports::Ephemeral
    } else {
        Ports::Base(args.port)
    };
    let mut cluster = LocalCluster::bind(args.nodes, &args.data, ports)?;
    for i in 0..cluster.len() {
        if let Some(c) = cluster.config_mut(i) {
            c.group_commit = !args.no_group_commit;
        }
    }
    let stop = ctrl_c()?;
    cluster.start_all()?;
    println!(
        "level2pc cluster of {} nodes, data in {}",
        cluster.len(),
        args.data.display()
    );
    for node in cluster.nodes() {
        let client = node
            .client_addr()
            .map_or_else(|| "-".into(), |a| a.to_string());
        println!(
            "  node {}: clients {client}  peers {}",
            node.id().0,
            node.peer_addr()
        );
    }
    let first_port = cluster
        .node(0)
        .and_then(|n| n.client_addr())
        .map(|a| a.port())
        .unwrap_or(args.port);
    let last_port = cluster
        .node(cluster.len() - 1)
        .and_then(|n| n.client_addr())
        .map(|a| a.port())
        .unwrap_or(args.port);
    if cluster.wait_ready(Duration::from_secs(10)) {
        println!(
            "ready. try:\n  redis-cli -p {first_port} set x 100\n  redis-cli -p {last_port} get x"
        );
    } else {
        println!("not ready yet (peers still connecting); see the log");
    }
    println!("Ctrl-C stops the cluster.");
    while stop.recv().is_err() {}
    cluster.close()?;
    Ok(ExitCode::SUCCESS)
}

fn demo() -> CliResult {
    let dir = tempfile::tempdir()?;
    let mut cluster = LocalCluster::bind(3, dir.path(), Ports::Ephemeral)?;
    cluster.start_all()?;
    if !cluster.wait_ready(Duration::from_secs(15)) {
        return Err("the demo cluster did not become ready within 15 s".into());
    }
    let (Some(a), Some(b), Some(c)) = (cluster.node(0), cluster.node(1), cluster.node(2)) else {
        return Err("demo nodes missing".into());
    };
    println!("3 nodes ready; data in {}", dir.path().display());
    a.put_json("x", &100)?;
    println!("node 0: put x = 100 -> ok");
    for node in [b, c] {
        println!(
            "node {}: get x -> {:?}",
            node.id().0,
            node.get_json::<i64>("x")?
        );
    }
    b.batch(
        level2pc_adapters::Batch::new()
            .put("y", "1")
            .put("z", "2")
            .del("x"),
    )?;
    println!("node 1: batch put y=1, put z=2, del x -> ok");
    for node in [a, c] {
        let x = node.get("x")?;
        let range = node.range("a", "~", None)?;
        let shown: Vec<String> = range
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                )
            })
            .collect();
        println!(
            "node {}: get x -> {:?}; range [a, ~) -> [{}]",
            node.id().0,
            x,
            shown.join(", ")
        );
    }
    cluster.close()?;
    Ok(ExitCode::SUCCESS)
}

fn batch(node: &NodeArg, ops: &[String]) -> CliResult {
    let mut commands: Vec<Vec<&[u8]>> = Vec::new();
    let mut words = ops.iter();
    while let Some(op) = words.next() {
        let mut next = |what: &str| {
            words
                .next()
                .map(|w| w.as_bytes())
                .ok_or_else(|| format!("`{op}` needs a {what}"))
        };
        match op.to_ascii_lowercase().as_str() {
            "put" | "set" => {
                let (k, v) = (next("key")?, next("value")?);
                commands.push(vec![b"SET", k, v]);
            }
            "del" => commands.push(vec![b"DEL", next("key")?]),
            other => {
                return Err(format!(
                    "unknown batch operation {other:?} (use put KEY VALUE or del KEY)"
                )
                .into())
            }
        }
    }
    let mut conn = connect(node)?;
    conn.call(&[b"MULTI"])?;
    for c in &commands {
        if let Value::Error(e) = conn.call(c)? {
            return Err(e.into());
        }
    }
    print_value(&conn.call(&[b"EXEC"])?, 0)
}

fn connect(node: &NodeArg) -> Result<Client, Box<dyn std::error::Error>> {
    Client::connect(node.node.as_str(), Duration::from_secs(node.timeout))
        .map_err(|e| format!("cannot reach {}: {e}", node.node).into())
}

fn client(node: &NodeArg, args: &[&[u8]]) -> CliResult {
    let reply = connect(node)?.call(args)?;
    print_value(&reply, 0)
}

/// Prints a reply like `redis-cli`; an error reply exits non-zero.
fn print_value(value: &Value, indent: usize) -> CliResult {
    let pad = " ".repeat(indent);
    match value {
        Value::Simple(s) => println!("{pad}{s}"),
        Value::Error(e) => {
            println!("{pad}(error) {e}");
            return Ok(ExitCode::FAILURE);
        }
        Value::Integer(n) => println!("{pad}(integer) {n}"),
        Value::Bulk(None) | Value::Array(None) => println!("{pad}(nil)"),
        Value::Bulk(Some(b)) => println!("{pad}{}", String::from_utf8_lossy(b)),
        Value::Array(Some(items)) if items.is_empty() => println!("{pad}(empty array)"),
        Value::Array(Some(items)) => {
            for (i, item) in items.iter().enumerate() {
                print!("{pad}{}) ", i + 1);
                print_value(item, 0)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A channel that receives one message on Ctrl-C or SIGTERM.
fn ctrl_c() -> Result<Receiver<()>, Box<dyn std::error::Error>> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    })?;
    Ok(rx)
}

/// Waits for `stop`, draining `events` (each is already logged) so the queue never fills.
fn wait_for(stop: &Receiver<()>, events: &Receiver<NodeEvent>) {
    loop {
        if stop.recv_timeout(Duration::from_millis(200)).is_ok() {
            return;
        }
        while events.try_recv().is_ok() {}
    }
}
