//! The node's event loop: one thread that owns the engine, the store, the peer network and the
//! RESP server, and drives the engine as the engine crate's docs prescribe.
//!
//! One turn of the loop:
//! 1. wait for socket readiness, an API call (via the waker) or the next deadline;
//! 2. feed every input to the engine, each with the clock sampled right after it was read, and
//!    carry out its outputs: `Send` → the peer's buffer, `Reply` → the waiting client, `Event` →
//!    the event queue, `Persist` → the pending group;
//! 3. fire due engine and network timers;
//! 4. hand the turn's `Persist`s to the log thread (`crate::disk`), which appends and fsyncs
//!    them while the loop goes on;
//! 5. write peer and client buffers (so INVs leave while the local fsync runs, rule P2).
//!
//! When the log thread reports persists durable it wakes the loop, which calls
//! `handle_persisted(upto)` at the start of the next turn and carries out what that released.
//!
//! A storage failure makes the node fail stop: it stops feeding the engine, closes every peer
//! connection, answers waiting writes `Indeterminate` and everything else "node stopped", and
//! keeps answering clients with that error until it is closed. Nothing is acknowledged after it.

use crate::clock::BootClock;
use crate::disk::{Disk, DiskStats, Persist};
use crate::events::{EventSink, NodeEvent};
use crate::link::{Io, PeerInput};
use crate::network::Network;
use crate::outbound::LinkInfo;
use crate::resp::reply::{self, ReplyKind};
use crate::resp_server::{ClientRequest, RespServer};
use crate::storage::StoreStats;
use level2pc::{
    Bytes, Event, Instant, Node, NodeId, Op, OpResult, Output, PersistOp, RequestId, Ts,
    Unavailable,
};
use mio::{Events, Poll, Token};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

/// Token of the waker the API uses to interrupt `poll`.
pub const WAKER: Token = Token(0);
/// Longest wait in `poll` when nothing is due (bounds how stale a closing check can be).
const IDLE_POLL_MS: u64 = 500;
/// How long `close()` lets in-flight requests finish before answering them and exiting.
const CLOSE_GRACE_MS: u64 = 2_000;
/// Frame overhead allowed for on top of an operation's keys and values.
const FRAME_SLACK_BYTES: usize = 64 * 1024;

/// Why the node did not carry out an API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The node failed stop (storage failure); the reason.
    Stopped(String),
    /// The node is closing.
    Closing,
}

/// The event loop's answer to an API operation.
pub type ApiReply = Result<OpResult, Refusal>;

/// A call from a [`crate::Replicator`] handle to its event loop.
#[derive(Debug)]
pub enum ApiMsg {
    /// Run an operation with this timeout.
    Op {
        /// The operation.
        op: Op,
        /// Its timeout, counted from when the loop picks it up.
        timeout: Duration,
        /// Where the answer goes.
        reply: SyncSender<ApiReply>,
    },
    /// Report the node's state.
    Info(SyncSender<NodeInfo>),
    /// Report one key's local state (diagnostics and tests).
    Inspect(Bytes, SyncSender<Option<KeyState>>),
    /// Stop: finish in-flight requests (briefly), flush, exit.
    Close,
}

/// One key's state on this node.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyState {
    /// The timestamp of the update that last wrote it here.
    pub ts: Ts,
    /// Whether that update is known committed here.
    pub valid: bool,
    /// The value, or `None` for a tombstone.
    pub value: Option<Bytes>,
}

/// A snapshot of a node's state, for `INFO` and [`crate::Handle::info`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// This node.
    pub id: NodeId,
    /// Installed epoch.
    pub epoch: u64,
    /// Members of the view.
    pub members: Vec<NodeId>,
    /// Whether writes are accepted.
    pub ready: bool,
    /// Boot incarnation.
    pub boot: u64,
    /// Outbound links.
    pub links: Vec<LinkInfo>,
    /// Peers with an established inbound connection.
    pub inbound: Vec<NodeId>,
    /// Client requests in flight in the engine.
    pub requests_in_flight: usize,
    /// Open RESP connections.
    pub clients: usize,
    /// Storage counts.
    pub store: StoreStats,
    /// Log and checkpoint figures.
    pub disk: DiskStats,
    /// Log groups written (each one write and at most one fsync).
    pub commits: u64,
    /// `Persist` outputs handed to the log.
    pub persists: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Why the node stopped, if it failed stop.
    pub failure: Option<String>,
}

impl NodeInfo {
    /// The `INFO` text (Redis style `key:value` lines).
    pub fn to_text(&self) -> String {
        let members: Vec<String> = self.members.iter().map(|m| m.0.to_string()).collect();
        let mut text = format!(
            "# level2pc\r\nnode_id:{}\r\nepoch:{}\r\nmembers:{}\r\nready:{}\r\nboot:{}\r\nrequests_in_flight:{}\r\nclients:{}\r\n",
            self.id.0,
            self.epoch,
            members.join(","),
            u8::from(self.ready),
            self.boot,
            self.requests_in_flight,
            self.clients
        );
        text += &format!(
            "keys:{}\r\nrecords:{}\r\nmap_size_bytes:{}\r\ncommits:{}\r\npersists:{}\r\nevents_dropped:{}\r\nfailure:{}\r\n",
            self.store.entries,
            self.store.records,
            self.store.map_size_bytes,
            self.commits,
            self.persists,
            self.events_dropped,
            self.failure.as_deref().unwrap_or("none")
        );
        text += &self.disk_text();
        text += "# peers\r\n";
        for l in &self.links {
            let inbound = u8::from(self.inbound.contains(&l.peer));
            text += &format!(
                "peer_{}:addr={},outbound={},inbound={},failures={},sent_frames={},dropped_frames={}\r\n",
                l.peer.0, l.addr, l.state, inbound, l.failures, l.sent_frames, l.dropped_frames
            );
        }
        text
    }

    fn disk_text(&self) -> String {
        let d = &self.disk;
        let [p50, p99, p999] = d.commit_latency_us;
        let mut text = format!(
            "# disk\r\nlog_bytes_written:{}\r\nlog_size_bytes:{}\r\nlog_fsyncs:{}\r\nlog_groups:{}\r\n",
            d.log_bytes_written, d.log_size_bytes, d.log_fsyncs, d.log_groups
        );
        text += &format!(
            "checkpoints:{}\r\ncheckpoint_lsn:{}\r\nlast_checkpoint_unix_ms:{}\r\nlast_checkpoint_ms:{}\r\n",
            d.checkpoints, d.checkpoint_lsn, d.last_checkpoint_unix_ms, d.last_checkpoint_ms
        );
        text += &format!(
            "commit_latency_p50_us:{p50}\r\ncommit_latency_p99_us:{p99}\r\ncommit_latency_p999_us:{p999}\r\n"
        );
        if let Some(bytes) = d.process_write_bytes {
            text += &format!("process_disk_write_bytes:{bytes}\r\n");
        }
        text
    }
}

/// Who waits for an engine reply.
#[derive(Debug)]
enum Waiter {
    Api {
        reply: SyncSender<ApiReply>,
        write: bool,
    },
    Resp {
        conn: Token,
        seq: u64,
        kind: ReplyKind,
        write: bool,
    },
}

/// Everything the loop owns.
pub struct Driver {
    pub(crate) node: Node,
    pub(crate) disk: Disk,
    pub(crate) clock: BootClock,
    pub(crate) poll: Poll,
    pub(crate) net: Network,
    pub(crate) resp: Option<RespServer>,
    pub(crate) api: Receiver<ApiMsg>,
    pub(crate) events: EventSink,
    pub(crate) events_dropped: Arc<AtomicU64>,
    /// Largest keys-plus-values an operation may carry (it must fit one peer frame).
    pub(crate) max_payload_bytes: usize,
    pub(crate) resp_timeout: Duration,
    waiters: HashMap<RequestId, Waiter>,
    next_request: u64,
    staged: Vec<(u64, Vec<PersistOp>)>,
    /// The highest persist reported to the engine as durable.
    reported_upto: u64,
    failure: Option<String>,
    closing_at: Option<Instant>,
    persists: u64,
    peer_inputs: Vec<PeerInput>,
    client_requests: Vec<ClientRequest>,
}

/// The parts of a [`Driver`] built by [`crate::Replicator`].
pub struct Parts {
    /// The engine.
    pub node: Node,
    /// The disk threads.
    pub disk: Disk,
    /// The clock.
    pub clock: BootClock,
    /// The poll instance (with the waker registered).
    pub poll: Poll,
    /// The peer network.
    pub net: Network,
    /// The RESP server, if any.
    pub resp: Option<RespServer>,
    /// API calls.
    pub api: Receiver<ApiMsg>,
    /// Event queue.
    pub events: EventSink,
    /// Counter of dropped events.
    pub events_dropped: Arc<AtomicU64>,
    /// Largest operation payload.
    pub max_payload_bytes: usize,
    /// Timeout of RESP commands.
    pub resp_timeout: Duration,
}

impl Driver {
    /// Assembles a driver and carries out the engine's start-up outputs.
    pub fn new(p: Parts) -> Driver {
        let mut d = Driver {
            node: p.node,
            disk: p.disk,
            clock: p.clock,
            poll: p.poll,
            net: p.net,
            resp: p.resp,
            api: p.api,
            events: p.events,
            events_dropped: p.events_dropped,
            max_payload_bytes: p.max_payload_bytes,
            resp_timeout: p.resp_timeout,
            waiters: HashMap::new(),
            next_request: 1,
            staged: Vec::new(),
            reported_upto: 0,
            failure: None,
            closing_at: None,
            persists: 0,
            peer_inputs: Vec::new(),
            client_requests: Vec::new(),
        };
        d.drain();
        d
    }

    /// Runs the loop until closed.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = self.poll_timeout();
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    self.fail_stop(format!("event loop poll failed: {e}"));
                    break;
                }
            }
            for event in events.iter() {
                self.dispatch(event);
            }
            self.turn();
            if self.should_exit() {
                break;
            }
        }
        self.shutdown();
    }

    /// Steps 2–5 of a turn, after the events were dispatched.
    fn turn(&mut self) {
        self.check_disk();
        self.process_inputs();
        self.fire_timers();
        self.process_inputs();
        self.submit_persists();
        self.flush();
        self.save_address_book();
    }

    /// Saves the peer addresses when the network learned a new one (rare: a node joined or
    /// moved), on the checkpoint thread. Best effort: a failure costs only the dial-at-once
    /// after a restart.
    fn save_address_book(&mut self) {
        if self.net.take_book_changed() && self.failure.is_none() {
            self.disk.save_directory(self.net.directory());
        }
    }

    fn poll_timeout(&mut self) -> Duration {
        let backlog = self.resp.as_ref().is_some_and(RespServer::has_backlog);
        if !self.staged.is_empty()
            || !self.client_requests.is_empty()
            || self.net.has_backlog()
            || backlog
        {
            return Duration::ZERO;
        }
        let now = self.clock.now();
        let engine = if self.failure.is_none() {
            self.node.poll_timeout()
        } else {
            None
        };
        let idle = now.plus_ms(IDLE_POLL_MS);
        let next = [engine, self.net.deadline(), self.closing_at]
            .into_iter()
            .flatten()
            .fold(idle, Instant::min);
        // Round up so a timer is never polled a hair early and then busy-waited.
        Duration::from_nanos(next.saturating_ns_since(now))
            .saturating_add(Duration::from_micros(50))
    }

    fn dispatch(&mut self, event: &mio::event::Event) {
        let token = event.token();
        if token == WAKER {
            self.drain_api();
        } else if self.net.owns(token) {
            let mut io = Io {
                registry: self.poll.registry(),
                clock: &mut self.clock,
                events: &self.events,
                inputs: &mut self.peer_inputs,
            };
            self.net.on_event(&mut io, event);
        } else if let Some(resp) = self.resp.as_mut().filter(|r| r.owns(token)) {
            resp.on_event(
                self.poll.registry(),
                &mut self.clock,
                event,
                &mut self.client_requests,
            );
        }
    }

    fn drain_api(&mut self) {
        loop {
            match self.api.try_recv() {
                Ok(msg) => self.on_api(msg),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    // Every handle is gone: nobody can close us, so close now.
                    self.begin_close();
                    return;
                }
            }
        }
    }

    fn on_api(&mut self, msg: ApiMsg) {
        match msg {
            ApiMsg::Op { op, timeout, reply } => {
                let write = op.is_write();
                let now = self.clock.now();
                self.submit(now, op, timeout, Waiter::Api { reply, write });
            }
            ApiMsg::Info(reply) => {
                let _ = reply.try_send(self.info());
            }
            ApiMsg::Inspect(key, reply) => {
                let state = self.node.inspect_key(&key).map(|e| KeyState {
                    ts: e.ts,
                    valid: e.valid,
                    value: e.value,
                });
                let _ = reply.try_send(state);
            }
            ApiMsg::Close => self.begin_close(),
        }
    }

    fn begin_close(&mut self) {
        if self.closing_at.is_none() {
            self.closing_at = Some(self.clock.now().plus_ms(CLOSE_GRACE_MS));
        }
    }

    fn process_inputs(&mut self) {
        for input in std::mem::take(&mut self.peer_inputs) {
            if self.failure.is_none() {
                self.node.handle_messages(input.now, input.from, input.msgs);
                self.drain();
            }
        }
        for request in std::mem::take(&mut self.client_requests) {
            match request {
                ClientRequest::Op {
                    conn,
                    seq,
                    op,
                    kind,
                    now,
                } => {
                    let write = op.is_write();
                    let timeout = self.resp_timeout;
                    self.submit(
                        now,
                        op,
                        timeout,
                        Waiter::Resp {
                            conn,
                            seq,
                            kind,
                            write,
                        },
                    );
                }
                ClientRequest::Info { conn, seq } => {
                    let text = self.info().to_text();
                    self.complete_resp(conn, seq, reply::bulk(Some(text.as_bytes())));
                }
            }
        }
    }

    /// Hands one client operation to the engine (or refuses it).
    fn submit(&mut self, now: Instant, op: Op, timeout: Duration, waiter: Waiter) {
        if let Some(reason) = self.failure.clone() {
            return self.refuse(waiter, Refusal::Stopped(reason));
        }
        if self.closing_at.is_some() {
            return self.refuse(waiter, Refusal::Closing);
        }
        if payload_bytes(&op) > self.max_payload_bytes {
            return self.answer(waiter, OpResult::Unavailable(Unavailable::TooLarge));
        }
        let id = RequestId(self.next_request);
        self.next_request += 1;
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        match self.node.submit(now, id, op, now.plus_ms(timeout_ms)) {
            Ok(()) => {
                self.waiters.insert(id, waiter);
            }
            // Ids are never reused, so this cannot happen; answer rather than lose the client.
            Err(e) => self.refuse(waiter, Refusal::Stopped(e.to_string())),
        }
        self.drain();
    }

    /// Carries out everything the engine has to say.
    fn drain(&mut self) {
        while let Some(output) = self.node.poll_output() {
            match output {
                Output::Send { to, msgs } => self.net.send(to, &msgs),
                Output::Persist { seq, ops } => self.staged.push((seq, ops)),
                Output::Reply { id, result } => {
                    if let Some(waiter) = self.waiters.remove(&id) {
                        self.answer(waiter, result);
                    }
                }
                Output::Event(event) => self.on_engine_event(event),
            }
        }
    }

    fn on_engine_event(&mut self, event: Event) {
        match event {
            Event::Ready => self.events.emit(NodeEvent::Ready),
            Event::NotReady => self.events.emit(NodeEvent::NotReady),
            Event::PeerUp(peer) => log::info!("peer {peer} is up"),
            Event::PeerDown(peer) => log::warn!("peer {peer} is down (silent too long)"),
            Event::Committed(_) => {}
            Event::View(view) => {
                log::info!(
                    "installed view {} with {} members",
                    view.epoch.0,
                    view.members.len()
                );
                self.net.set_members(view.members.iter().map(|m| m.id.node));
            }
            other => log::debug!("engine event {other:?}"),
        }
    }

    fn answer(&mut self, waiter: Waiter, result: OpResult) {
        match waiter {
            // The channel has room for exactly this reply; a gone caller is fine to ignore.
            Waiter::Api { reply, .. } => {
                let _ = reply.try_send(Ok(result));
            }
            Waiter::Resp {
                conn, seq, kind, ..
            } => self.complete_resp(conn, seq, reply::format(&kind, &result)),
        }
    }

    /// Answers a request the node will not (or can no longer) carry out. A write that may have
    /// started is `Indeterminate`: other members may still commit it by replaying.
    fn refuse(&mut self, waiter: Waiter, why: Refusal) {
        match waiter {
            Waiter::Api { reply, .. } => {
                let _ = reply.try_send(Err(why));
            }
            Waiter::Resp { conn, seq, .. } => {
                let bytes = match &why {
                    Refusal::Stopped(reason) => reply::stopped(reason),
                    Refusal::Closing => reply::error("UNAVAILABLE node is shutting down"),
                };
                self.complete_resp(conn, seq, bytes);
            }
        }
    }

    /// Fills a RESP reply slot; commands it unblocks are queued as new client requests.
    fn complete_resp(&mut self, conn: Token, seq: u64, bytes: Vec<u8>) {
        let now = self.clock.now();
        if let Some(resp) = self.resp.as_mut() {
            resp.complete(conn, seq, bytes, now, &mut self.client_requests);
        }
    }

    fn abandon_waiters(&mut self, why: Refusal) {
        for (_, waiter) in std::mem::take(&mut self.waiters) {
            let write = matches!(
                waiter,
                Waiter::Api { write: true, .. } | Waiter::Resp { write: true, .. }
            );
            if write {
                self.answer(waiter, OpResult::Indeterminate);
            } else {
                self.refuse(waiter, why.clone());
            }
        }
    }

    fn fire_timers(&mut self) {
        let mut io = Io {
            registry: self.poll.registry(),
            clock: &mut self.clock,
            events: &self.events,
            inputs: &mut self.peer_inputs,
        };
        self.net.on_timers(&mut io);
        if let Some(resp) = self.resp.as_mut() {
            resp.on_timers(
                self.poll.registry(),
                &mut self.clock,
                &mut self.client_requests,
            );
        }
        if self.failure.is_some() {
            return;
        }
        let now = self.clock.now();
        if self.node.poll_timeout().is_some_and(|t| t <= now) {
            self.node.handle_timeout(now);
            self.drain();
        }
    }

    fn flush(&mut self) {
        let mut io = Io {
            registry: self.poll.registry(),
            clock: &mut self.clock,
            events: &self.events,
            inputs: &mut self.peer_inputs,
        };
        self.net.flush(&mut io);
        if let Some(resp) = self.resp.as_mut() {
            resp.flush(self.poll.registry());
        }
    }

    /// Hands every staged persist to the log thread, each marked with whether the protocol
    /// needs it fsynced before it is reported (docs/durability.md).
    fn submit_persists(&mut self) {
        if self.staged.is_empty() || self.failure.is_some() {
            return;
        }
        let group: Vec<Persist> = std::mem::take(&mut self.staged)
            .into_iter()
            .map(|(seq, ops)| Persist {
                seq,
                sync: self.node.persist_needs_sync(&ops),
                ops,
            })
            .collect();
        self.persists += group.len() as u64;
        if let Err(e) = self.disk.submit(group) {
            self.fail_stop(self.disk.failure().unwrap_or_else(|| e.to_string()));
        }
    }

    /// Tells the engine what the log made durable since the last turn, or fails stop if
    /// storage failed.
    fn check_disk(&mut self) {
        if self.failure.is_some() {
            return;
        }
        if let Some(reason) = self.disk.failure() {
            return self.fail_stop(reason);
        }
        let upto = self.disk.durable_upto();
        if upto > self.reported_upto {
            self.reported_upto = upto;
            let now = self.clock.now();
            self.node.handle_persisted(now, upto);
            self.drain();
        }
    }

    /// Stops acknowledging anything, for good.
    fn fail_stop(&mut self, reason: String) {
        if self.failure.is_some() {
            return;
        }
        self.events.emit(NodeEvent::Error {
            peer: None,
            addr: None,
            message: format!("node stopped: {reason}"),
        });
        self.failure = Some(reason.clone());
        self.staged.clear();
        self.net.stop(self.poll.registry());
        self.abandon_waiters(Refusal::Stopped(reason));
    }

    fn should_exit(&mut self) -> bool {
        let Some(at) = self.closing_at else {
            return false;
        };
        let done = self.waiters.is_empty() && self.staged.is_empty();
        done || self.clock.now() >= at || self.failure.is_some()
    }

    fn shutdown(&mut self) {
        // Persist whatever the engine staged last, then stop answering.
        self.submit_persists();
        self.disk.close();
        self.abandon_waiters(Refusal::Closing);
        self.flush();
        self.net.stop(self.poll.registry());
        if let Some(resp) = self.resp.as_mut() {
            resp.stop(self.poll.registry());
        }
        log::info!("node {} stopped", self.node.id());
    }

    fn info(&self) -> NodeInfo {
        let view = self.node.view();
        let (links, inbound) = self.net.info();
        let disk = self.disk.stats();
        NodeInfo {
            id: self.node.id(),
            epoch: view.epoch.0,
            members: view.members.iter().map(|m| m.id.node).collect(),
            ready: self.node.is_ready() && self.failure.is_none(),
            boot: self.node.boot().0,
            links,
            inbound,
            requests_in_flight: self.node.requests_in_flight(),
            clients: self.resp.as_ref().map_or(0, RespServer::clients),
            store: StoreStats {
                entries: self.node.key_count(),
                records: self.node.record_count(),
                map_size_bytes: self.disk.map_size_bytes(),
            },
            commits: disk.log_groups,
            disk,
            persists: self.persists,
            events_dropped: self.events_dropped.load(Ordering::Relaxed),
            failure: self.failure.clone(),
        }
    }
}

/// Bytes of keys and values an operation carries (what its INV frame must hold).
pub fn payload_bytes(op: &Op) -> usize {
    let writes = |ws: &[level2pc::Write]| {
        ws.iter()
            .map(|w| w.key.len() + w.value.as_ref().map_or(0, |v| v.len()) + 16)
            .sum()
    };
    match op {
        Op::Put { key, value } => key.len() + value.len(),
        Op::Batch { writes: ws } => writes(ws),
        Op::Del { key } | Op::Get { key } => key.len(),
        Op::GetMany { keys } | Op::Versions { keys } => keys.iter().map(|k| k.len()).sum(),
        Op::Range { lo, hi, .. } => lo.len() + hi.len(),
        // Values, plus room for an integer or a watched version.
        Op::Rmw { key, change } => {
            key.len() + change.values().iter().map(|v| v.len()).sum::<usize>() + 64
        }
    }
}

/// The payload limit for a frame limit.
pub fn max_payload_for_frame(max_frame_bytes: usize) -> usize {
    max_frame_bytes.saturating_sub(FRAME_SLACK_BYTES)
}
