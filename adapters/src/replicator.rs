//! The embedding API: [`Replicator::open`] starts a node (LMDB store + event loop thread) and
//! returns a handle with blocking `put`/`get`/`del`/`batch`/`get_many`/`range`.

use crate::clock::BootClock;
use crate::config::Config;
use crate::directory::{Directory, PeerAddr};
use crate::disk::Disk;
use crate::driver::{self, ApiMsg, ApiReply, Driver, KeyState, NodeInfo, Parts, Refusal, WAKER};
use crate::error::Error;
use crate::events::{EventSink, NodeEvent};
use crate::handshake::Params;
use crate::network::{Network, Peers};
use crate::resp_server::RespServer;
use crate::storage::{Identity, Store};
use level2pc::{Bytes, Change, Node, NodeId, Op, OpResult, Ts, Unavailable, Write};
use mio::{Poll, Waker};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What a read-modify-write did ([`Handle::change`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// Whether the change took effect (a compare-and-set whose comparison held, a
    /// set-if-absent on an absent key, a delete of a present key, every increment).
    pub applied: bool,
    /// The value before.
    pub previous: Option<Vec<u8>>,
    /// The value after.
    pub current: Option<Vec<u8>>,
    /// The timestamp it committed under, if it wrote anything.
    pub ts: Option<Ts>,
}

/// Extra time a blocking call waits beyond its timeout for the loop's answer (the engine answers
/// by the deadline; this covers scheduling).
const REPLY_SLACK: Duration = Duration::from_secs(2);

/// Listeners bound by the caller (e.g. on port 0, to learn the ports before configuring peers).
#[derive(Debug)]
pub struct Listeners {
    /// The peer listener.
    pub peer: TcpListener,
    /// The RESP listener, if clients are served.
    pub client: Option<TcpListener>,
}

impl Listeners {
    /// Binds the listeners `config` names.
    pub fn bind(config: &Config) -> Result<Listeners, Error> {
        let peer = bind(&config.listen)?;
        let client = config.client.as_deref().map(bind).transpose()?;
        Ok(Listeners { peer, client })
    }
}

/// Binds a TCP listener on `addr`.
pub fn bind(addr: &str) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).map_err(|source| Error::Bind {
        addr: addr.to_string(),
        source,
    })
}

/// Key-value pairs, as returned by [`Handle::range`].
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// An atomic batch of puts and deletes, built like LevelDB's chained batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Batch {
    writes: Vec<Write>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Adds a put.
    pub fn put(mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Batch {
        self.writes.push(Write {
            key: Bytes::from(key.as_ref()),
            value: Some(Bytes::from(value.as_ref())),
        });
        self
    }

    /// Adds a delete.
    pub fn del(mut self, key: impl AsRef<[u8]>) -> Batch {
        self.writes.push(Write {
            key: Bytes::from(key.as_ref()),
            value: None,
        });
        self
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }
}

/// A cheap, cloneable, `Send` handle to a running node, with a per-handle timeout.
#[derive(Clone, Debug)]
pub struct Handle {
    tx: SyncSender<ApiMsg>,
    waker: Arc<Waker>,
    timeout: Duration,
}

impl Handle {
    /// The same handle with another timeout for its calls.
    pub fn with_timeout(&self, timeout: Duration) -> Handle {
        Handle {
            timeout,
            ..self.clone()
        }
    }

    /// This handle's timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Stores `value` under `key`; returns once it is durable on every member.
    pub fn put(&self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<Ts, Error> {
        written(self.call(Op::Put {
            key: Bytes::from(key.as_ref()),
            value: Bytes::from(value.as_ref()),
        })?)
    }

    /// Deletes `key` everywhere.
    pub fn del(&self, key: impl AsRef<[u8]>) -> Result<Ts, Error> {
        written(self.call(Op::Del {
            key: Bytes::from(key.as_ref()),
        })?)
    }

    /// Applies every write of `batch` atomically.
    pub fn batch(&self, batch: Batch) -> Result<Ts, Error> {
        written(self.call(Op::Batch {
            writes: batch.writes,
        })?)
    }

    /// Applies `change` to `key` depending on its current value, atomically (a read-modify-
    /// write, protocol.md §11). A concurrent update that wins makes the node evaluate it again
    /// on the new value; only [`Error::Indeterminate`] leaves the outcome unknown.
    pub fn change(&self, key: impl AsRef<[u8]>, change: Change) -> Result<Changed, Error> {
        match self.call(Op::Rmw {
            key: Bytes::from(key.as_ref()),
            change,
        })? {
            OpResult::Changed {
                applied,
                previous,
                current,
                ts,
            } => Ok(Changed {
                applied,
                previous: previous.map(|v| v.to_vec()),
                current: current.map(|v| v.to_vec()),
                ts,
            }),
            OpResult::Rejected(e) => Err(Error::Rejected(e)),
            other => Err(failure(other)),
        }
    }

    /// Compare-and-set: stores `new` (`None` deletes) if `key` holds `expected` (`None`:
    /// absent). Returns whether it did.
    pub fn cas(
        &self,
        key: impl AsRef<[u8]>,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, Error> {
        let change = Change::Cas {
            expected: expected.map(Bytes::from),
            new: new.map(Bytes::from),
        };
        Ok(self.change(key, change)?.applied)
    }

    /// Adds `by` to the signed 64-bit decimal integer stored at `key` (absent counts as 0) and
    /// returns the sum, as Redis's `INCRBY` does.
    pub fn incr(&self, key: impl AsRef<[u8]>, by: i64) -> Result<i64, Error> {
        let current = self.change(key, Change::IncrBy(by))?.current;
        current
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .ok_or(Error::Unexpected)
    }

    /// Reads `key` (linearizable, served locally).
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>, Error> {
        match self.call(Op::Get {
            key: Bytes::from(key.as_ref()),
        })? {
            OpResult::Value(v) => Ok(v.map(|v| v.to_vec())),
            other => Err(failure(other)),
        }
    }

    /// Reads several keys in one consistent cut; one entry per key, in order.
    pub fn get_many<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Option<Vec<u8>>>, Error> {
        let keys = keys.into_iter().map(|k| Bytes::from(k.as_ref())).collect();
        match self.call(Op::GetMany { keys })? {
            OpResult::Values(vs) => Ok(vs.into_iter().map(|v| v.map(|v| v.to_vec())).collect()),
            other => Err(failure(other)),
        }
    }

    /// Reads the versions of several keys in one consistent cut: the timestamp of each key's
    /// last committed update ([`Ts::ZERO`]: never written), one per key, in order. Pass one to
    /// [`Change::IfVersion`] for an optimistic update that applies only if the key did not
    /// change in between (Redis's `WATCH`).
    pub fn versions<K: AsRef<[u8]>>(
        &self,
        keys: impl IntoIterator<Item = K>,
    ) -> Result<Vec<Ts>, Error> {
        let keys = keys.into_iter().map(|k| Bytes::from(k.as_ref())).collect();
        match self.call(Op::Versions { keys })? {
            OpResult::Versions(vs) => Ok(vs),
            other => Err(failure(other)),
        }
    }

    /// Reads the live keys `lo <= k < hi`, ascending, at most `limit` of them, in one consistent cut.
    pub fn range(
        &self,
        lo: impl AsRef<[u8]>,
        hi: impl AsRef<[u8]>,
        limit: Option<usize>,
    ) -> Result<Entries, Error> {
        let op = Op::Range {
            lo: Bytes::from(lo.as_ref()),
            hi: Bytes::from(hi.as_ref()),
            limit,
        };
        match self.call(op)? {
            OpResult::Entries(es) => Ok(es
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect()),
            other => Err(failure(other)),
        }
    }

    /// Stores `value` as JSON (the Node module's `valueEncoding: 'json'`).
    pub fn put_json<T: Serialize + ?Sized>(
        &self,
        key: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<Ts, Error> {
        self.put(key, serde_json::to_vec(value)?)
    }

    /// Reads a JSON value stored with [`Handle::put_json`].
    pub fn get_json<T: DeserializeOwned>(&self, key: impl AsRef<[u8]>) -> Result<Option<T>, Error> {
        self.get(key)?
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(Error::from)
    }

    /// The node's state (peers, readiness, counters).
    pub fn info(&self) -> Result<NodeInfo, Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(ApiMsg::Info(tx))?;
        rx.recv_timeout(self.timeout + REPLY_SLACK)
            .map_err(|_| Error::Closed)
    }

    /// Diagnostics: this node's local state of `key` (timestamp, validity, value), whatever its
    /// validity. Not a linearizable read: use [`Handle::get`] for that.
    pub fn inspect(&self, key: impl AsRef<[u8]>) -> Result<Option<KeyState>, Error> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(ApiMsg::Inspect(Bytes::from(key.as_ref()), tx))?;
        rx.recv_timeout(self.timeout + REPLY_SLACK)
            .map_err(|_| Error::Closed)
    }

    /// Runs one engine operation and waits for its result.
    pub fn call(&self, op: Op) -> Result<OpResult, Error> {
        let write = op.is_write();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(ApiMsg::Op {
            op,
            timeout: self.timeout,
            reply: tx,
        })?;
        let reply: Result<ApiReply, RecvTimeoutError> = rx.recv_timeout(self.timeout + REPLY_SLACK);
        match reply {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(Refusal::Stopped(reason))) => Err(Error::Stopped(reason)),
            Ok(Err(Refusal::Closing)) => Err(Error::Closed),
            // The loop vanished or stalled with the request: a write may have started.
            Err(_) if write => Err(Error::Indeterminate),
            Err(RecvTimeoutError::Timeout) => Err(Error::Unavailable(Unavailable::Timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }

    fn send(&self, msg: ApiMsg) -> Result<(), Error> {
        match self.tx.try_send(msg) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::Unavailable(Unavailable::Overloaded)),
            Err(TrySendError::Disconnected(_)) => return Err(Error::Closed),
        }
        self.waker.wake().map_err(|_| Error::Closed)
    }
}

fn written(result: OpResult) -> Result<Ts, Error> {
    match result {
        OpResult::Written { ts } => Ok(ts),
        other => Err(failure(other)),
    }
}

fn failure(result: OpResult) -> Error {
    match result {
        OpResult::Unavailable(reason) => Error::Unavailable(reason),
        OpResult::Indeterminate => Error::Indeterminate,
        _ => Error::Unexpected,
    }
}

/// The peer addresses saved by an earlier run (nodes that joined later), if they belong to the
/// same acceptor set.
fn saved_peers(store: &Store, acceptors: &[NodeId]) -> Result<Vec<PeerAddr>, Error> {
    let mut acceptors = acceptors.to_vec();
    acceptors.sort();
    match store.directory()? {
        Some(saved) if saved.acceptors == acceptors => Ok(saved.peers),
        Some(_) => {
            log::warn!("ignoring the saved peer addresses: they belong to other acceptors");
            Ok(Vec::new())
        }
        None => Ok(Vec::new()),
    }
}

/// The address peers should dial: the configured one, else the bound peer listener's, unless
/// that is a wildcard address nobody can dial.
fn advertised(config: &Config, peer: &TcpListener) -> Result<Option<String>, Error> {
    if config.advertise.is_some() {
        return Ok(config.advertise.clone());
    }
    let bound = peer.local_addr()?;
    Ok((!bound.ip().is_unspecified()).then(|| bound.to_string()))
}

/// Registers the listeners with `poll` and builds the peer network and the RESP server.
fn sockets(
    config: &Config,
    known: Directory,
    listeners: Listeners,
    poll: &Poll,
    waker: Arc<Waker>,
    now: level2pc::Instant,
) -> Result<(Network, Option<RespServer>), Error> {
    let params = Params {
        cluster: config.cluster_id.clone(),
        me: config.id,
        advertise: config.advertise.clone(),
        secret: config.cluster_secret.clone(),
    };
    // mio needs non-blocking sockets; std listeners are blocking by default.
    listeners.peer.set_nonblocking(true)?;
    let peer_listener = mio::net::TcpListener::from_std(listeners.peer);
    let net = Network::new(
        params,
        &config.net,
        peer_listener,
        Peers {
            configured: config.peers.clone(),
            known,
        },
        poll.registry(),
        Box::new(move || {
            // If the loop is gone, nobody waits for the answer.
            let _ = waker.wake();
        }),
        now,
    )?;
    let resp = match listeners.client {
        Some(l) => {
            l.set_nonblocking(true)?;
            let listener = mio::net::TcpListener::from_std(l);
            Some(RespServer::new(
                listener,
                config.resp.clone(),
                poll.registry(),
            )?)
        }
        None => None,
    };
    Ok((net, resp))
}

/// A running node: its event loop thread, its API handle and its event queue. Dereferences to
/// [`Handle`], so `replicator.put(..)` works directly.
#[derive(Debug)]
pub struct Replicator {
    id: NodeId,
    handle: Handle,
    events: Receiver<NodeEvent>,
    thread: Option<JoinHandle<()>>,
    peer_addr: SocketAddr,
    client_addr: Option<SocketAddr>,
}

impl std::ops::Deref for Replicator {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Replicator {
    /// Opens the store in `data_dir` (creating it), binds the configured addresses and starts
    /// the node's event loop on a thread.
    pub fn open(data_dir: impl AsRef<Path>, config: Config) -> Result<Replicator, Error> {
        // With seeds, the acceptors are known only after discovery.
        if config.seeds.is_empty() {
            config.engine_config()?;
        }
        let listeners = Listeners::bind(&config)?;
        Replicator::open_with_listeners(data_dir, config, listeners)
    }

    /// Like [`Replicator::open`], with listeners the caller bound already.
    pub fn open_with_listeners(
        data_dir: impl AsRef<Path>,
        mut config: Config,
        listeners: Listeners,
    ) -> Result<Replicator, Error> {
        if config.seeds.is_empty() {
            config.engine_config()?;
        }
        config.advertise = advertised(&config, &listeners.peer)?;
        let identity = Identity {
            node: config.id,
            cluster: config.cluster_id.clone(),
        };
        // Recovery bumps and persists the boot incarnation before the engine exists (rule P5),
        // then replays the write-ahead log over LMDB's checkpoint.
        let crate::disk::Opened {
            store,
            wal,
            mut recovered,
            replayed,
        } = crate::disk::open(data_dir.as_ref(), &config.storage, &identity)?;
        if replayed.frames > 0 {
            log::info!(
                "node {}: replayed {} log frames ({} bytes) over the checkpoint",
                config.id,
                replayed.frames,
                replayed.bytes
            );
        }
        let learned = if config.seeds.is_empty() {
            None
        } else {
            Some(crate::discovery::apply(
                &mut config,
                &store,
                recovered.view.is_none(),
            )?)
        };
        let mut engine = config.engine_config()?;
        // A real node needs no reproducible jitter, and the seed also keys the engine's hash
        // index of client-chosen keys: it must be one a client cannot guess.
        engine.seed = rand::random();
        let learned = match learned {
            Some(learned) => learned,
            None => saved_peers(&store, &engine.members)?,
        };
        // `join` matters only for a new directory: a restart keeps whatever identity it stored.
        recovered.join = config.join && recovered.view.is_none();
        let peer_addr = listeners.peer.local_addr()?;
        let client_addr = listeners
            .client
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut clock = BootClock::new();
        let now = clock.now();
        let known = Directory {
            acceptors: engine.members.clone(),
            peers: learned,
        };
        let node = Node::new(engine, recovered, now).map_err(crate::config::ConfigError::from)?;
        let (net, resp) = sockets(&config, known, listeners, &poll, waker.clone(), now)?;
        let disk = Disk::start(
            store,
            wal,
            waker.clone(),
            config.group_commit,
            config.storage.wal.checkpoint_bytes,
            &format!("level2pc-n{}", config.id.0),
        )?;
        let (events, events_rx, events_dropped) = EventSink::bounded(config.event_queue);
        let (tx, api) = std::sync::mpsc::sync_channel(config.api_queue);
        let driver = Driver::new(Parts {
            node,
            disk,
            clock,
            poll,
            net,
            resp,
            api,
            events,
            events_dropped,
            max_payload_bytes: driver::max_payload_for_frame(config.net.max_frame_bytes),
            resp_timeout: config.resp.op_timeout,
        });
        let thread = std::thread::Builder::new()
            .name(format!("level2pc-n{}", config.id.0))
            .spawn(move || driver.run())?;
        log::info!("node {} listening for peers on {peer_addr}", config.id);
        Ok(Replicator {
            id: config.id,
            handle: Handle {
                tx,
                waker,
                timeout: config.op_timeout,
            },
            events: events_rx,
            thread: Some(thread),
            peer_addr,
            client_addr,
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// A cloneable handle for other threads.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// The node's events (`ready`, `connect`, …). Undelivered events beyond the configured queue
    /// size are dropped.
    pub fn events(&self) -> &Receiver<NodeEvent> {
        &self.events
    }

    /// The address the peer listener is bound to.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The address the RESP listener is bound to, if any.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client_addr
    }

    /// Stops the node: in-flight requests get up to two seconds to finish, staged persists are
    /// flushed, connections closed, and the thread joined.
    pub fn close(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        // If the loop is gone already these fail; joining below still reaps it.
        let _ = self.handle.tx.send(ApiMsg::Close);
        let _ = self.handle.waker.wake();
        thread
            .join()
            .map_err(|_| Error::Stopped("event loop thread panicked".into()))
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
