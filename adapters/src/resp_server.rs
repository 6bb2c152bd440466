//! RESP client connections on the node's event loop: accept, read, parse, hand operations to the
//! driver, and write replies in request order (pipelining).
//!
//! # Bounds
//!
//! * At most `max_clients` connections; one more is told `-ERR max number of clients reached`
//!   and closed.
//! * A connection's read buffer holds at most one `max_request_bytes` request plus one read; a
//!   larger request is answered `-ERR Protocol error: request too large` and the connection closed.
//! * At most `max_pipeline` requests per connection in flight, and at most
//!   `max_reply_buffer_bytes` of unsent replies: past either, the node stops reading from that
//!   connection (TCP pushes back on the client) until replies drain.

use crate::clock::BootClock;
use crate::config::RespConfig;
use crate::outbuf::{read_bounded, Capped, OutBuf, ReadEnd};
use crate::resp::reply::{self, ReplyKind};
use crate::resp::session::{Action, Session};
use crate::resp::{parse, Limits, RespError};
use level2pc::{Instant, Op};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::Write;

/// Token of the client listener.
pub const LISTENER: Token = Token(2);
/// First token of client connections (peer sockets use smaller tokens).
pub const FIRST_TOKEN: usize = 1 << 40;
/// Bytes read from one client per event before yielding to others.
const READ_BUDGET_BYTES: usize = 1024 * 1024;

/// A request the driver must carry out for a client.
#[derive(Debug)]
pub enum ClientRequest {
    /// Submit `op` to the engine and complete slot `seq` of `conn` with its formatted result.
    Op {
        /// The connection.
        conn: Token,
        /// The reply slot.
        seq: u64,
        /// The operation.
        op: Op,
        /// How to format the result.
        kind: ReplyKind,
        /// The clock right after the request was read.
        now: Instant,
    },
    /// Complete slot `seq` of `conn` with the node's `INFO` text.
    Info {
        /// The connection.
        conn: Token,
        /// The reply slot.
        seq: u64,
    },
}

/// One reply position, in request order.
#[derive(Debug)]
enum Slot {
    /// Submitted (or held back); `write` says which in-flight counter it holds.
    Waiting {
        write: Option<bool>,
    },
    Done(Vec<u8>),
}

/// A command held back to keep the connection's program order (see [`Conn::held`]).
#[derive(Debug)]
struct Held {
    seq: u64,
    op: Op,
    kind: ReplyKind,
}

#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    rbuf: Vec<u8>,
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`.
    base: u64,
    out: OutBuf,
    session: Session,
    /// Parse nothing more; close once every reply is written (QUIT, protocol error, client EOF).
    closing: bool,
    /// The client closed its side (or reading failed): read nothing more.
    eof: bool,
    /// Reads and writes of this connection in flight in the engine.
    reads_in_flight: usize,
    writes_in_flight: usize,
    /// Commands waiting for the connection's earlier commands of the other kind: a read waits
    /// for earlier writes (read-your-writes) and a write for earlier reads (a read never sees
    /// a later write of its own connection). Writes to one key keep their order in the engine,
    /// so writes do not wait for writes, and pipelined writes stay concurrent.
    held: VecDeque<Held>,
}

impl Conn {
    /// Whether `op` may be submitted now without breaking the connection's program order.
    fn may_submit(&self, write: bool) -> bool {
        self.held.is_empty()
            && if write {
                self.reads_in_flight == 0
            } else {
                self.writes_in_flight == 0
            }
    }

    fn submit(&mut self, token: Token, held: Held, now: Instant, out: &mut Vec<ClientRequest>) {
        let write = held.op.is_write();
        if write {
            self.writes_in_flight += 1;
        } else {
            self.reads_in_flight += 1;
        }
        if let Some(slot) = held
            .seq
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.slots.get_mut(i))
        {
            *slot = Slot::Waiting { write: Some(write) };
        }
        out.push(ClientRequest::Op {
            conn: token,
            seq: held.seq,
            op: held.op,
            kind: held.kind,
            now,
        });
    }

    /// Submits held commands that no longer wait for anything.
    fn release(&mut self, token: Token, now: Instant, out: &mut Vec<ClientRequest>) {
        while let Some(front) = self.held.front() {
            let write = front.op.is_write();
            let blocked = if write {
                self.reads_in_flight > 0
            } else {
                self.writes_in_flight > 0
            };
            if blocked {
                return;
            }
            if let Some(held) = self.held.pop_front() {
                self.submit(token, held, now, out);
            }
        }
    }
}

impl Conn {
    fn next_seq(&self) -> u64 {
        self.base + self.slots.len() as u64
    }
}

/// The RESP side of one node's event loop.
#[derive(Debug)]
pub struct RespServer {
    listener: TcpListener,
    conns: HashMap<Token, Conn>,
    next_token: usize,
    cfg: RespConfig,
    limits: Limits,
    /// Connections to serve again next turn (read budget ran out, or a pause ended).
    resume: BTreeSet<Token>,
    /// Connections with replies to write.
    dirty: BTreeSet<Token>,
}

impl RespServer {
    /// Serves RESP on `listener`.
    pub fn new(
        mut listener: TcpListener,
        cfg: RespConfig,
        registry: &Registry,
    ) -> std::io::Result<RespServer> {
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        let limits = Limits {
            max_request_bytes: cfg.max_request_bytes,
            max_args: cfg.max_args,
        };
        Ok(RespServer {
            listener,
            conns: HashMap::new(),
            next_token: FIRST_TOKEN,
            cfg,
            limits,
            resume: BTreeSet::new(),
            dirty: BTreeSet::new(),
        })
    }

    /// Whether `token` is the listener or a client connection.
    pub fn owns(&self, token: Token) -> bool {
        token == LISTENER || token.0 >= FIRST_TOKEN
    }

    /// Open client connections.
    pub fn clients(&self) -> usize {
        self.conns.len()
    }

    /// Whether some connection must be served again without waiting for an event.
    pub fn has_backlog(&self) -> bool {
        !self.resume.is_empty()
    }

    /// Handles a readiness event.
    pub fn on_event(
        &mut self,
        registry: &Registry,
        clock: &mut BootClock,
        event: &Event,
        out: &mut Vec<ClientRequest>,
    ) {
        let token = event.token();
        if token == LISTENER {
            self.accept(registry);
            return;
        }
        if event.is_writable() {
            self.dirty.insert(token);
        }
        self.serve(registry, clock, token, out);
    }

    /// Serves connections whose reading was paused or budgeted.
    pub fn on_timers(
        &mut self,
        registry: &Registry,
        clock: &mut BootClock,
        out: &mut Vec<ClientRequest>,
    ) {
        for token in std::mem::take(&mut self.resume) {
            self.serve(registry, clock, token, out);
        }
    }

    fn accept(&mut self, registry: &Registry) {
        loop {
            let (mut stream, remote) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accepting a client connection failed: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.cfg.max_clients {
                // Best effort, like Redis: the socket is fresh, so a short write fits its buffer.
                let _ = stream.write(b"-ERR max number of clients reached\r\n");
                log::warn!(
                    "refusing client {remote}: {} clients connected",
                    self.cfg.max_clients
                );
                continue;
            }
            let token = Token(self.next_token);
            self.next_token += 1;
            if let Err(e) =
                registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            {
                log::warn!("cannot register client {remote}: {e}");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let conn = Conn {
                stream,
                rbuf: Vec::new(),
                slots: VecDeque::new(),
                base: 0,
                out: OutBuf::default(),
                session: Session::default(),
                closing: false,
                eof: false,
                reads_in_flight: 0,
                writes_in_flight: 0,
                held: VecDeque::new(),
            };
            self.conns.insert(token, conn);
        }
    }

    /// Reads and parses as much as the bounds allow.
    fn serve(
        &mut self,
        registry: &Registry,
        clock: &mut BootClock,
        token: Token,
        out: &mut Vec<ClientRequest>,
    ) {
        let cap = self.limits.max_request_bytes + 1;
        let mut budget = READ_BUDGET_BYTES;
        loop {
            let Some(conn) = self.conns.get(&token) else {
                return;
            };
            if conn.eof {
                // Nothing more to read: answer what is buffered (as far as the bounds allow).
                self.parse_buffered(token, clock.now(), out);
                break;
            }
            if conn.closing || self.paused(token) {
                break;
            }
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            let before = conn.rbuf.len();
            let end = read_bounded(
                &mut conn.stream,
                budget,
                &mut Capped {
                    buf: &mut conn.rbuf,
                    cap,
                },
            );
            budget = budget.saturating_sub(conn.rbuf.len().saturating_sub(before));
            if matches!(end, Ok(ReadEnd::Eof) | Err(_)) {
                conn.eof = true;
                continue;
            }
            self.parse_buffered(token, clock.now(), out);
            match end {
                Ok(ReadEnd::Budget) => {
                    self.resume.insert(token);
                    break;
                }
                // The buffer is full. Parsing consumed something, failed, or paused at a bound
                // (the loop top then stops); anything else would spin, and cannot happen since
                // the parser gives a verdict within max_request_bytes.
                Ok(ReadEnd::Full) if self.progress_possible(token, cap) => continue,
                Ok(ReadEnd::Full) => {
                    if let Some(conn) = self.conns.get_mut(&token) {
                        Self::protocol_error(conn, &RespError::TooLarge);
                    }
                    break;
                }
                _ => break,
            }
        }
        self.flush_one(registry, token);
    }

    /// Whether serving `token` again can make progress after its read buffer filled up.
    fn progress_possible(&self, token: Token, cap: usize) -> bool {
        self.paused(token)
            || self
                .conns
                .get(&token)
                .is_some_and(|c| c.rbuf.len() < cap || c.closing)
    }

    fn paused(&self, token: Token) -> bool {
        self.conns.get(&token).is_none_or(|c| {
            c.slots.len() >= self.cfg.max_pipeline || c.out.len() >= self.cfg.max_reply_buffer_bytes
        })
    }

    /// Parses complete requests from the read buffer while the pipeline has room.
    fn parse_buffered(&mut self, token: Token, now: Instant, out: &mut Vec<ClientRequest>) {
        let mut used = 0;
        while !self.paused(token) {
            let Some(conn) = self.conns.get_mut(&token) else {
                return;
            };
            if conn.closing {
                break;
            }
            match parse(&conn.rbuf[used..], &self.limits) {
                Ok(None) => {
                    // A client that closed its side sends nothing more: close once answered.
                    conn.closing = conn.eof;
                    break;
                }
                Ok(Some((cmd, n))) => {
                    used += n;
                    let action = conn.session.interpret(cmd);
                    Self::act(conn, token, action, now, out);
                }
                Err(e) => {
                    Self::protocol_error(conn, &e);
                    break;
                }
            }
        }
        if let Some(conn) = self.conns.get_mut(&token) {
            conn.rbuf.drain(..used.min(conn.rbuf.len()));
        }
    }

    fn protocol_error(conn: &mut Conn, e: &RespError) {
        log::debug!("closing a client after a protocol error: {e}");
        conn.slots
            .push_back(Slot::Done(reply::error(&format!("ERR {e}"))));
        conn.closing = true;
        conn.rbuf.clear();
    }

    fn act(
        conn: &mut Conn,
        token: Token,
        action: Action,
        now: Instant,
        out: &mut Vec<ClientRequest>,
    ) {
        let seq = conn.next_seq();
        match action {
            Action::Nothing => {}
            Action::Reply(bytes) => conn.slots.push_back(Slot::Done(bytes)),
            Action::Close(bytes) => {
                conn.slots.push_back(Slot::Done(bytes));
                conn.closing = true;
            }
            Action::Submit { op, kind } => {
                conn.slots.push_back(Slot::Waiting { write: None });
                let held = Held { seq, op, kind };
                if conn.may_submit(held.op.is_write()) {
                    conn.submit(token, held, now, out);
                } else {
                    conn.held.push_back(held);
                }
            }
            Action::Info => {
                conn.slots.push_back(Slot::Waiting { write: None });
                out.push(ClientRequest::Info { conn: token, seq });
            }
        }
    }

    /// Fills reply slot `seq` of `conn` (ignored if the connection is gone), and submits the
    /// connection's held commands that this completion unblocks.
    pub fn complete(
        &mut self,
        conn: Token,
        seq: u64,
        bytes: Vec<u8>,
        now: Instant,
        out: &mut Vec<ClientRequest>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(index) = seq
            .checked_sub(c.base)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(slot) = c.slots.get_mut(index) else {
            return;
        };
        match std::mem::replace(slot, Slot::Done(bytes)) {
            Slot::Waiting { write: Some(true) } => {
                c.writes_in_flight = c.writes_in_flight.saturating_sub(1)
            }
            Slot::Waiting { write: Some(false) } => {
                c.reads_in_flight = c.reads_in_flight.saturating_sub(1)
            }
            Slot::Waiting { write: None } | Slot::Done(_) => {}
        }
        c.release(conn, now, out);
        self.dirty.insert(conn);
    }

    /// Writes finished replies, in order, on every connection that has some.
    pub fn flush(&mut self, registry: &Registry) {
        for token in std::mem::take(&mut self.dirty) {
            self.flush_one(registry, token);
        }
    }

    fn flush_one(&mut self, registry: &Registry, token: Token) {
        let was_paused = self.paused(token);
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        while let Some(Slot::Done(_)) = conn.slots.front() {
            if let Some(Slot::Done(bytes)) = conn.slots.pop_front() {
                conn.out.append(&bytes);
                conn.base += 1;
            }
        }
        let failed = conn.out.write_to(&mut conn.stream).is_err();
        let drained = conn.slots.is_empty() && conn.out.is_empty();
        if failed || (conn.closing && drained) {
            self.close(registry, token);
        } else if was_paused && !self.paused(token) {
            // Reading stopped at a bound that has now cleared: resume without waiting for an
            // event (edge-triggered readiness will not fire again for data already there).
            self.resume.insert(token);
        }
    }

    fn close(&mut self, registry: &Registry, token: Token) {
        self.resume.remove(&token);
        self.dirty.remove(&token);
        if let Some(mut conn) = self.conns.remove(&token) {
            let _ = registry.deregister(&mut conn.stream);
        }
    }

    /// Closes every connection and stops listening.
    pub fn stop(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.listener);
        let tokens: Vec<Token> = self.conns.keys().copied().collect();
        for token in tokens {
            self.close(registry, token);
        }
    }
}
