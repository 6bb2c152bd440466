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
//! * `SCAN` cursors: a node-wide table of at most [`MAX_SCAN_CURSORS`] iterations (see
//!   [`crate::resp::scan`]); `KEYS` replies are refused past `max_reply_buffer_bytes`.
//!
//! # Program order
//!
//! Pipelined commands are answered in order, and carried out in order where it matters: a read
//! waits for the connection's earlier writes (read-your-writes) and a write for its earlier
//! reads. A read-modify-write (`INCR`, `SET NX`, `GETDEL`, `CAS`, `DEL`, ...) waits for every
//! earlier command and every later one waits for it, since the engine may retry it after a
//! later command of the connection started; blind writes (`SET`, `MSET`, `EXEC`) do not wait
//! for each other (the engine keeps writes to one key in order).
//!
//! # Iterations and fan-outs
//!
//! `DBSIZE`, `KEYS` and `SCAN` read the key space in chunks, each one engine range read
//! submitted like any other read of the connection (so it keeps the connection's order with
//! its writes). A chunk's reply comes back through [`RespServer::complete`], which submits the
//! next chunk under the same reply slot until the command has its answer. A `DEL` of several
//! keys ([`crate::resp::fanout`]) is one delete per key under one reply slot, a bounded number
//! in flight at once; the slot is answered when the last one is.

use crate::client::{parse_reply, Value};
use crate::clock::BootClock;
use crate::config::RespConfig;
use crate::outbuf::{read_bounded, Capped, OutBuf, ReadEnd};
use crate::resp::fanout::{Fanout, Step};
use crate::resp::reply::{self, ReplyKind, Shape};
use crate::resp::scan::{self, CursorTable, Job, MAX_SCAN_CURSORS};
use crate::resp::session::{Action, ClientMeta, Session, REDIS_COMPAT_VERSION, VERSION};
use crate::resp::{parse, watch, Limits, RespError};
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

/// How a command's engine operations order with the connection's other commands (see the
/// module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// A read: waits for earlier writes and read-modify-writes.
    Read,
    /// A blind write: waits for earlier reads and read-modify-writes.
    Write,
    /// A read-modify-write: waits for everything earlier.
    Rmw,
}

impl Access {
    fn of(op: &Op) -> Access {
        match op {
            Op::Rmw { .. } => Access::Rmw,
            op if op.is_write() => Access::Write,
            _ => Access::Read,
        }
    }
}

/// One reply position, in request order.
#[derive(Debug)]
enum Slot {
    /// Submitted (or held back); `access` says which in-flight counter it holds (once, however
    /// many operations it has in flight), `then` what to do with the answer.
    Waiting {
        access: Option<Access>,
        then: Then,
    },
    Done(Vec<u8>),
}

/// What a waiting slot does with the answer it gets.
#[derive(Debug)]
enum Then {
    /// Send it.
    Send,
    /// Add the server fields clients look for to the node's `INFO` text, then send it.
    Info,
    /// Take in a chunk of a key iteration; read the next one or send the result.
    Iterate(Box<Job>),
    /// Take in one of several operations' answers; submit more or send the result.
    Fanout(Box<Fanout>),
    /// Give a `WATCH`'s versions to the session, answer `+OK`, and parse again.
    Watch,
}

/// A command held back to keep the connection's program order (see [`Conn::held`]): its
/// first operations (one, but for a fan-out), all of one access kind.
#[derive(Debug)]
struct Held {
    seq: u64,
    access: Access,
    ops: Vec<Op>,
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
    /// A `WATCH` is reading its keys' versions: parse nothing more until the session has them
    /// (a pipelined `EXEC` is planned with them).
    watching: bool,
    /// The client closed its side (or reading failed): read nothing more.
    eof: bool,
    /// Commands of this connection in flight in the engine, by [`Access`].
    reads_in_flight: usize,
    writes_in_flight: usize,
    rmws_in_flight: usize,
    /// Commands waiting for the connection's earlier commands (see the module documentation):
    /// a read waits for earlier writes (read-your-writes) and a write for earlier reads (a read
    /// never sees a later write of its own connection); a read-modify-write waits for
    /// everything, and everything for it. Writes to one key keep their order in the engine, so
    /// blind writes do not wait for each other, and pipelined writes stay concurrent.
    held: VecDeque<Held>,
}

impl Conn {
    /// Whether a command of `access` may be submitted now, as far as the commands in flight
    /// are concerned.
    fn unblocked(&self, access: Access) -> bool {
        match access {
            Access::Read => self.writes_in_flight == 0 && self.rmws_in_flight == 0,
            Access::Write => self.reads_in_flight == 0 && self.rmws_in_flight == 0,
            Access::Rmw => {
                self.reads_in_flight == 0 && self.writes_in_flight == 0 && self.rmws_in_flight == 0
            }
        }
    }

    fn in_flight(&mut self, access: Access) -> &mut usize {
        match access {
            Access::Read => &mut self.reads_in_flight,
            Access::Write => &mut self.writes_in_flight,
            Access::Rmw => &mut self.rmws_in_flight,
        }
    }

    fn submit(&mut self, token: Token, held: Held, now: Instant, out: &mut Vec<ClientRequest>) {
        *self.in_flight(held.access) += 1;
        if let Some(Slot::Waiting { access, .. }) = held
            .seq
            .checked_sub(self.base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.slots.get_mut(i))
        {
            *access = Some(held.access);
        }
        for op in held.ops {
            out.push(ClientRequest::Op {
                conn: token,
                seq: held.seq,
                op,
                kind: held.kind.clone(),
                now,
            });
        }
    }

    /// Submits held commands that no longer wait for anything.
    fn release(&mut self, token: Token, now: Instant, out: &mut Vec<ClientRequest>) {
        while let Some(front) = self.held.front() {
            if !self.unblocked(front.access) {
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
    /// The node's `SCAN` iterations.
    cursors: CursorTable,
    /// The id of the next client connection (`CLIENT ID`).
    next_client_id: u64,
    /// When the server started (`INFO uptime_in_seconds`).
    started: std::time::Instant,
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
            cursors: CursorTable::new(MAX_SCAN_CURSORS, rand::random()),
            next_client_id: 1,
            started: std::time::Instant::now(),
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
            let meta = ClientMeta {
                id: self.next_client_id,
                addr: remote.to_string(),
                laddr: stream
                    .local_addr()
                    .map_or_else(|_| String::new(), |a| a.to_string()),
            };
            self.next_client_id += 1;
            let conn = Conn {
                stream,
                rbuf: Vec::new(),
                slots: VecDeque::new(),
                base: 0,
                out: OutBuf::default(),
                session: Session::new(meta),
                closing: false,
                watching: false,
                eof: false,
                reads_in_flight: 0,
                writes_in_flight: 0,
                rmws_in_flight: 0,
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
            c.watching
                || c.slots.len() >= self.cfg.max_pipeline
                || c.out.len() >= self.cfg.max_reply_buffer_bytes
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
                    let max_reply = self.cfg.max_reply_buffer_bytes;
                    Self::act(conn, token, action, now, out, &mut self.cursors, max_reply);
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
        cursors: &mut CursorTable,
        max_reply_bytes: usize,
    ) {
        let seq = conn.next_seq();
        let (ops, kind, then) = match action {
            Action::Nothing => return,
            Action::Reply(bytes) => return conn.slots.push_back(Slot::Done(bytes)),
            Action::Close(bytes) => {
                conn.slots.push_back(Slot::Done(bytes));
                conn.closing = true;
                return;
            }
            Action::Info => {
                conn.slots.push_back(Slot::Waiting {
                    access: None,
                    then: Then::Info,
                });
                return out.push(ClientRequest::Info { conn: token, seq });
            }
            Action::Submit { op, kind } => (vec![op], kind, Then::Send),
            Action::Watch(keys) => {
                conn.watching = true;
                let kind = ReplyKind::new(Shape::Versions, conn.session.proto());
                (vec![Op::Versions { keys }], kind, Then::Watch)
            }
            Action::Iterate(request) => match Job::start(request, cursors, max_reply_bytes) {
                Ok((job, op)) => (vec![op], scan::chunk_kind(), Then::Iterate(Box::new(job))),
                Err(bytes) => return conn.slots.push_back(Slot::Done(bytes)),
            },
            Action::Fanout(mut fanout) => {
                let ops = fanout.start();
                (ops, Fanout::part_kind(), Then::Fanout(fanout))
            }
        };
        let Some(access) = ops.first().map(Access::of) else {
            // A fan-out with nothing to do (cannot happen: DEL names at least one key).
            return conn.slots.push_back(Slot::Done(reply::error(
                "ERR internal error: nothing to do",
            )));
        };
        conn.slots.push_back(Slot::Waiting { access: None, then });
        let held = Held {
            seq,
            access,
            ops,
            kind,
        };
        if conn.held.is_empty() && conn.unblocked(access) {
            conn.submit(token, held, now, out);
        } else {
            conn.held.push_back(held);
        }
    }

    /// Fills reply slot `seq` of `conn` (ignored if the connection is gone), and submits the
    /// connection's held commands that this completion unblocks. The answer to one chunk of a
    /// key iteration submits the next chunk instead, under the same slot.
    pub fn complete(
        &mut self,
        conn: Token,
        seq: u64,
        bytes: Vec<u8>,
        now: Instant,
        out: &mut Vec<ClientRequest>,
    ) {
        let clients = self.conns.len();
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
        let (access, bytes) = match std::mem::replace(slot, Slot::Done(Vec::new())) {
            Slot::Waiting {
                access,
                then: Then::Iterate(mut job),
            } => match job.on_chunk(&bytes, &mut self.cursors) {
                None => {
                    // The next chunk, under the same slot: the read stays in flight.
                    let op = job.op();
                    *slot = Slot::Waiting {
                        access,
                        then: Then::Iterate(job),
                    };
                    let kind = scan::chunk_kind();
                    out.push(ClientRequest::Op {
                        conn,
                        seq,
                        op,
                        kind,
                        now,
                    });
                    return;
                }
                Some(reply) => (access, reply),
            },
            Slot::Waiting {
                access,
                then: Then::Fanout(mut fanout),
            } => match fanout.on_answer(&bytes) {
                Step::Submit(ops) => {
                    // More operations under the same slot, which stays in flight until the
                    // last one is answered.
                    *slot = Slot::Waiting {
                        access,
                        then: Then::Fanout(fanout),
                    };
                    for op in ops {
                        out.push(ClientRequest::Op {
                            conn,
                            seq,
                            op,
                            kind: Fanout::part_kind(),
                            now,
                        });
                    }
                    return;
                }
                Step::Done(reply) => (access, reply),
            },
            Slot::Waiting {
                access,
                then: Then::Info,
            } => {
                let server = server_info(self.started, &self.listener, clients, &self.cursors);
                (access, with_server_info(&bytes, &server))
            }
            Slot::Waiting {
                access,
                then: Then::Watch,
            } => {
                let (versions, reply) = match watch::versions_from_reply(&bytes) {
                    Ok(versions) => (Some(versions), reply::simple("OK")),
                    Err(error) => (None, error),
                };
                c.session.watched(versions);
                c.watching = false;
                // Parsing stopped for the WATCH: go on without waiting for a read event.
                self.resume.insert(conn);
                (access, reply)
            }
            Slot::Waiting {
                access,
                then: Then::Send,
            } => (access, bytes),
            Slot::Done(_) => (None, bytes),
        };
        *slot = Slot::Done(bytes);
        if let Some(access) = access {
            let n = c.in_flight(access);
            *n = n.saturating_sub(1);
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

/// The `INFO` fields Redis clients look for (version, mode, uptime, role), put ahead of the
/// node's own sections.
fn server_info(
    started: std::time::Instant,
    listener: &TcpListener,
    clients: usize,
    cursors: &CursorTable,
) -> String {
    let uptime = started.elapsed().as_secs();
    let port = listener.local_addr().map_or(0, |a| a.port());
    format!(
        "# Server\r\nredis_version:{REDIS_COMPAT_VERSION}\r\nlevel2pc_version:{VERSION}\r\nredis_mode:standalone\r\nprocess_id:{}\r\ntcp_port:{port}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n\r\n# Clients\r\nconnected_clients:{clients}\r\nscan_iterations:{}\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n",
        std::process::id(),
        uptime / 86_400,
        cursors.len(),
    )
}

/// The node's `INFO` reply (a bulk string) with `server` in front; anything else unchanged.
fn with_server_info(reply: &[u8], server: &str) -> Vec<u8> {
    match parse_reply(reply) {
        Ok(Some((Value::Bulk(Some(text)), _))) => {
            let mut all = server.as_bytes().to_vec();
            all.extend_from_slice(&text);
            reply::bulk(Some(&all))
        }
        _ => reply.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_gets_the_server_fields_in_front() {
        let node = reply::bulk(Some(b"# level2pc\r\nnode_id:1\r\n"));
        let out = with_server_info(&node, "# Server\r\nredis_version:0.1.0\r\n\r\n");
        assert_eq!(
            parse_reply(&out).unwrap().unwrap().0,
            Value::Bulk(Some(
                b"# Server\r\nredis_version:0.1.0\r\n\r\n# level2pc\r\nnode_id:1\r\n".to_vec()
            ))
        );
        let err = reply::error("UNAVAILABLE node is shutting down");
        assert_eq!(with_server_info(&err, "x"), err);
    }
}
