//! The Node.js module's example, in Rust: three servers on ports 3000–3002, each listing the
//! other two as peers; write `x = 100` on the first and watch it appear on the others.
//!
//! ```text
//! cargo run -p level2pc-adapters --example three_servers
//! ```

use level2pc::NodeId;
use level2pc_adapters::{Config, NodeEvent, PeerAddr, Replicator};
use std::time::Duration;

fn server(id: u32, dir: &std::path::Path) -> Result<Replicator, level2pc_adapters::Error> {
    let port = |i: u32| format!("localhost:{}", 3000 + i);
    let peers = (0..3)
        .filter(|&i| i != id)
        .map(|i| PeerAddr {
            id: NodeId(i),
            addr: port(i),
        })
        .collect();
    let config = Config::new(NodeId(id), format!("127.0.0.1:{}", 3000 + id), peers);
    Replicator::open(dir.join(format!("db{id}")), config)
}

fn wait_ready(db: &Replicator) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        match db.events().recv_timeout(Duration::from_secs(10))? {
            NodeEvent::Ready => return Ok(()),
            other => println!("db{}: {other}", db.id().0),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (db1, db2, db3) = (
        server(0, dir.path())?,
        server(1, dir.path())?,
        server(2, dir.path())?,
    );
    for db in [&db1, &db2, &db3] {
        wait_ready(db)?;
    }
    // db1.put('x', 100, cb): the Node module's valueEncoding 'json'.
    match db1.put_json("x", &100) {
        Ok(_) => println!("ok"),
        Err(e) => println!("{e}"),
    }
    println!("db2.get('x') -> {:?}", db2.get_json::<i64>("x")?);
    println!("db3.get('x') -> {:?}", db3.get_json::<i64>("x")?);
    for db in [db1, db2, db3] {
        db.close()?;
    }
    Ok(())
}
