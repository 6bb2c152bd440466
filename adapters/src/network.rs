//! The peer network of one node: the peer listener, inbound connections and one outbound link per
//! configured peer, all on the node's mio event loop.
//!
//! # Bounds
//!
//! * Outbound: at most `peer_send_buffer_bytes` queued per peer. A frame that does not fit, or
//!   that is sent while the link is down, is dropped and counted (`dropped_frames` in `INFO`);
//!   the engine retransmits INVs until acknowledged and replays stuck updates, so a drop costs
//!   latency, never safety.
//! * Inbound: at most `max_inbound` connections; more are closed on accept. Each buffers at most
//!   one handshake frame (64 KiB) before it is authenticated, then one maximum frame plus one
//!   64 KiB read. A peer sending a malformed or oversized frame is disconnected with an `error`
//!   event; the node keeps serving.
//! * Reads: at most 1 MiB per connection per event-loop turn; the rest is read next turn.
//! * Host names are looked up on the [`Resolver`]'s thread, never on the event loop (at most
//!   [`crate::resolver::MAX_PENDING`] waiting).
//! * Peers: the configured ones plus at most [`MAX_DIRECTORY_NODES`] in all; the address of a
//!   further node learned from a handshake is ignored (and logged). A learned node that left the
//!   view and stayed unreachable for `NetConfig::forget_after_ms` is forgotten, so churn does not
//!   fill the book.
//!
//! # Discovery
//!
//! Every handshake tells each side the other's advertised address and hands the dialer the
//! acceptor's [`Directory`]. A node it had no address for gets an outbound link at once (and a
//! `discover` event), so a node that joins later becomes known to every member it dials, and
//! members pass its address on to whoever connects to them next. A node's own word about its
//! address replaces a learned one (it moved); an address heard second-hand only fills a gap; a
//! configured address (`Config::peers`) is never replaced — behind NAT or a proxy, the address
//! a node believes it has may not be the one others must dial.

use crate::backoff::Backoff;
use crate::config::NetConfig;
use crate::directory::{check_addr, Directory, PeerAddr, MAX_DIRECTORY_NODES};
use crate::events::NodeEvent;
use crate::handshake::Params;
use crate::inbound::{Inbound, InboundOutcome};
use crate::link::{Io, LinkLimits};
use crate::outbound::{Learned, LinkInfo, Outbound};
use crate::outbuf::ReadEnd;
use crate::resolver::{Resolver, Wake};
use level2pc::{Instant, Message, NodeId};
use mio::event::Event;
use mio::net::TcpListener;
use mio::{Interest, Registry, Token};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Token of the peer listener.
pub const LISTENER: Token = Token(1);
/// First token handed to peer sockets; client sockets use tokens from
/// [`crate::resp_server::FIRST_TOKEN`] on, so the ranges never meet.
const FIRST_TOKEN: usize = 16;

/// The peers a node knows when it starts.
#[derive(Clone, Debug, Default)]
pub struct Peers {
    /// Configured peers (`Config::peers`): their addresses are never replaced.
    pub configured: Vec<PeerAddr>,
    /// Peers known from discovery or an earlier run, and the static acceptor set handed out in
    /// every directory.
    pub known: Directory,
}

/// The peer side of one node's event loop.
#[derive(Debug)]
pub struct Network {
    limits: LinkLimits,
    acceptors: Vec<NodeId>,
    /// Nodes whose address is configured: never replaced by what they advertise.
    pinned: BTreeSet<NodeId>,
    /// Whether a peer address was learned or changed since [`Network::take_book_changed`].
    book_changed: bool,
    resolver: Resolver,
    /// Members of the installed view (empty until the driver reports one): never forgotten.
    members: BTreeSet<NodeId>,
    forget_after_ms: u64,
    backoff_ms: (u64, u64),
    listener: Option<TcpListener>,
    max_inbound: usize,
    outbound: BTreeMap<NodeId, Outbound>,
    out_tokens: HashMap<Token, NodeId>,
    inbound: HashMap<Token, Inbound>,
    next_token: usize,
    /// Connections whose read budget ran out: read them again next turn.
    resume: BTreeSet<Token>,
}

impl Network {
    /// A network for `peers`, listening on `listener`; first connection attempts are due `now`.
    /// `wake` interrupts the event loop's poll when a host-name lookup is answered.
    pub fn new(
        params: Params,
        cfg: &NetConfig,
        mut listener: TcpListener,
        peers: Peers,
        registry: &Registry,
        wake: Wake,
        now: Instant,
    ) -> std::io::Result<Network> {
        registry.register(&mut listener, LISTENER, Interest::READABLE)?;
        let limits = LinkLimits {
            params,
            fail_after: cfg.fail_after,
            handshake_timeout_ms: cfg.handshake_timeout_ms,
            max_frame_bytes: cfg.max_frame_bytes,
            send_buffer_bytes: cfg.peer_send_buffer_bytes,
        };
        let backoff_ms = (cfg.backoff_min_ms, cfg.backoff_max_ms);
        let link = |p: &PeerAddr| new_link(p.id, p.addr.clone(), backoff_ms, now);
        let mut outbound: BTreeMap<NodeId, Outbound> =
            peers.configured.iter().map(|p| (p.id, link(p))).collect();
        let pinned = outbound.keys().copied().collect();
        let me = limits.params.me;
        for p in peers.known.peers.iter().filter(|p| p.id != me) {
            outbound.entry(p.id).or_insert_with(|| link(p));
        }
        let mut acceptors = peers.known.acceptors;
        acceptors.sort();
        Ok(Network {
            limits,
            acceptors,
            pinned,
            book_changed: false,
            resolver: Resolver::new(wake),
            members: BTreeSet::new(),
            forget_after_ms: cfg.forget_after_ms,
            backoff_ms,
            listener: Some(listener),
            max_inbound: cfg.max_inbound,
            outbound,
            out_tokens: HashMap::new(),
            inbound: HashMap::new(),
            next_token: FIRST_TOKEN,
            resume: BTreeSet::new(),
        })
    }

    /// Whether `token` belongs to the peer network.
    pub fn owns(&self, token: Token) -> bool {
        token == LISTENER
            || self.out_tokens.contains_key(&token)
            || self.inbound.contains_key(&token)
    }

    /// Handles one readiness event of a peer socket.
    pub fn on_event(&mut self, io: &mut Io<'_>, event: &Event) {
        let token = event.token();
        if token == LISTENER {
            self.accept(io);
        } else {
            self.on_socket(io, token);
        }
    }

    fn on_socket(&mut self, io: &mut Io<'_>, token: Token) {
        if let Some(peer) = self.out_tokens.get(&token).copied() {
            let Some(link) = self.outbound.get_mut(&peer) else {
                return;
            };
            let end = link.on_ready(io, &self.limits);
            let gone = link.token() != Some(token);
            let learned = link.take_learned();
            self.note_read_end(token, end);
            if gone {
                self.out_tokens.remove(&token);
            }
            if let Some(learned) = learned {
                self.absorb(io, peer, learned);
            }
            return;
        }
        let Some(conn) = self.inbound.get_mut(&token) else {
            return;
        };
        match conn.on_ready(io, &self.limits) {
            InboundOutcome::Open(end) => self.note_read_end(token, end),
            InboundOutcome::Established(peer, addr) => {
                self.retire_older_inbound(io.registry, peer, token);
                if let Some(addr) = addr {
                    self.learn(io, peer, addr, true);
                }
            }
            InboundOutcome::Closed => self.close_inbound(io.registry, token),
        }
    }

    fn note_read_end(&mut self, token: Token, end: ReadEnd) {
        if end == ReadEnd::Budget {
            self.resume.insert(token);
        }
    }

    /// A peer that reconnected leaves its old connection behind: keep only the newest.
    fn retire_older_inbound(&mut self, registry: &Registry, peer: NodeId, newest: Token) {
        let older: Vec<Token> = self
            .inbound
            .iter()
            .filter(|(t, c)| **t != newest && c.peer() == Some(peer))
            .map(|(t, _)| *t)
            .collect();
        for token in older {
            self.close_inbound(registry, token);
        }
    }

    fn close_inbound(&mut self, registry: &Registry, token: Token) {
        self.resume.remove(&token);
        if let Some(conn) = self.inbound.remove(&token) {
            conn.close(registry);
        }
    }

    fn accept(&mut self, io: &mut Io<'_>) {
        loop {
            let Some(listener) = &self.listener else {
                return;
            };
            let (stream, remote) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log::warn!("accepting a peer connection failed: {e}");
                    return;
                }
            };
            if self.inbound.len() >= self.max_inbound {
                log::warn!(
                    "refusing peer connection from {remote}: {} inbound connections already",
                    self.max_inbound
                );
                continue;
            }
            let token = self.token();
            let deadline = io.clock.now().plus_ms(self.limits.handshake_timeout_ms);
            let directory = self.directory();
            let limits = &self.limits;
            match Inbound::new(
                stream,
                remote,
                token,
                io.registry,
                limits,
                deadline,
                directory,
            ) {
                Ok(conn) => {
                    self.inbound.insert(token, conn);
                }
                Err(e) => log::warn!("cannot register peer connection from {remote}: {e}"),
            }
        }
    }

    /// What this node knows of the cluster: the acceptors, every peer's address and its own.
    pub fn directory(&self) -> Directory {
        let own = self
            .limits
            .params
            .advertise
            .as_ref()
            .map(|addr| (self.limits.params.me, addr.as_str()));
        let links = self.outbound.iter().map(|(id, l)| (*id, l.addr()));
        let mut peers: Vec<PeerAddr> = own
            .into_iter()
            .chain(links)
            // A malformed configured address would make the receiver refuse the whole directory.
            .filter(|(_, addr)| check_addr(addr).is_ok())
            .map(|(id, addr)| PeerAddr {
                id,
                addr: addr.to_string(),
            })
            .collect();
        peers.sort_by_key(|p| p.id);
        peers.truncate(MAX_DIRECTORY_NODES);
        Directory {
            acceptors: self.acceptors.clone(),
            peers,
        }
    }

    /// Takes in what a peer said in a completed outbound handshake.
    fn absorb(&mut self, io: &mut Io<'_>, peer: NodeId, learned: Learned) {
        if let Some(addr) = learned.peer_addr {
            self.learn(io, peer, addr, true);
        }
        for p in learned.directory.peers {
            self.learn(io, p.id, p.addr, false);
        }
    }

    /// Records `addr` for node `id`: a new node gets an outbound link, due at once; a learned
    /// address changes only when the node itself said so (`firsthand`); a configured one never.
    fn learn(&mut self, io: &mut Io<'_>, id: NodeId, addr: String, firsthand: bool) {
        if id == self.limits.params.me {
            return;
        }
        let now = io.clock.now();
        let pinned = self.pinned.contains(&id);
        if let Some(link) = self.outbound.get_mut(&id) {
            if firsthand && !pinned && link.addr() != addr {
                log::info!("{id} now advertises {addr} (was {})", link.addr());
                link.set_addr(addr, now);
                self.book_changed = true;
            }
            return;
        }
        if self.outbound.len() >= MAX_DIRECTORY_NODES {
            log::warn!("ignoring {id} at {addr}: already {MAX_DIRECTORY_NODES} peers");
            return;
        }
        let link = new_link(id, addr.clone(), self.backoff_ms, now);
        self.outbound.insert(id, link);
        self.book_changed = true;
        io.events.emit(NodeEvent::Discover { peer: id, addr });
    }

    /// Whether a peer address was learned or changed since the last call (the driver then saves
    /// [`Network::directory`], so a restart dials late-joined nodes at once).
    pub fn take_book_changed(&mut self) -> bool {
        std::mem::take(&mut self.book_changed)
    }

    fn token(&mut self) -> Token {
        let token = Token(self.next_token);
        self.next_token += 1;
        token
    }

    /// Connects links whose host name was looked up, starts due connection attempts, expires
    /// slow handshakes, and resumes budgeted reads.
    pub fn on_timers(&mut self, io: &mut Io<'_>) {
        self.on_answers(io);
        self.forget_departed(io);
        let mut next = self.next_token;
        let mut fresh = Vec::new();
        for (peer, link) in self.outbound.iter_mut() {
            let before = link.token();
            link.on_timer(
                io,
                &mut || {
                    let t = Token(next);
                    next += 1;
                    t
                },
                &self.limits,
                &mut self.resolver,
            );
            if let Some(token) = link.token().filter(|t| Some(*t) != before) {
                fresh.push((token, *peer));
            }
        }
        self.next_token = next;
        self.out_tokens
            .retain(|t, p| self.outbound.get(p).and_then(|l| l.token()) == Some(*t));
        self.out_tokens.extend(fresh);
        self.expire_handshakes(io);
        for token in std::mem::take(&mut self.resume) {
            self.on_socket(io, token);
        }
    }

    /// The installed view's members (they are never forgotten).
    pub fn set_members(&mut self, members: impl IntoIterator<Item = NodeId>) {
        self.members = members.into_iter().collect();
    }

    /// Forgets learned peers that left: not configured, not an acceptor, not in the installed
    /// view, and unreachable for `forget_after_ms`.
    fn forget_departed(&mut self, io: &mut Io<'_>) {
        if self.members.is_empty() {
            return; // no view yet: everyone may still be a member
        }
        let now = io.clock.now();
        let after_ns = self.forget_after_ms.saturating_mul(1_000_000);
        let gone: Vec<NodeId> = self
            .outbound
            .iter()
            .filter(|(id, link)| {
                !self.pinned.contains(id)
                    && !self.acceptors.contains(id)
                    && !self.members.contains(id)
                    && link
                        .down_since()
                        .is_some_and(|t| now.saturating_ns_since(t) >= after_ns)
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(mut link) = self.outbound.remove(&id) {
                log::info!(
                    "forgetting {id} at {}: not a member, unreachable for {} s",
                    link.addr(),
                    self.forget_after_ms / 1000
                );
                link.stop(io.registry);
            }
            self.book_changed = true;
        }
    }

    fn on_answers(&mut self, io: &mut Io<'_>) {
        for (peer, addr, answer) in self.resolver.answers() {
            let token = self.token();
            if let Some(link) = self.outbound.get_mut(&peer) {
                link.on_resolved(io, token, &addr, answer, &self.limits);
                if link.token() == Some(token) {
                    self.out_tokens.insert(token, peer);
                }
            }
        }
    }

    fn expire_handshakes(&mut self, io: &mut Io<'_>) {
        let now = io.clock.now();
        let expired: Vec<Token> = self
            .inbound
            .iter()
            .filter(|(_, c)| c.handshake_expired(now))
            .map(|(t, _)| *t)
            .collect();
        for token in expired {
            if let Some(conn) = self.inbound.get(&token) {
                log::warn!(
                    "closing peer connection from {}: no handshake in time",
                    conn.remote()
                );
            }
            self.close_inbound(io.registry, token);
        }
    }

    /// The earliest instant [`Network::on_timers`] has work, if any.
    pub fn deadline(&self) -> Option<Instant> {
        let links = self.outbound.values().filter_map(Outbound::deadline);
        let handshakes = self.inbound.values().filter_map(Inbound::deadline);
        links.chain(handshakes).min()
    }

    /// Whether some connection still has unread data from an exhausted read budget.
    pub fn has_backlog(&self) -> bool {
        !self.resume.is_empty()
    }

    /// Queues messages for a peer (dropped and counted if its link is down or full).
    pub fn send(&mut self, to: NodeId, msgs: &[Message]) {
        if let Some(link) = self.outbound.get_mut(&to) {
            link.send(msgs, &self.limits);
        }
    }

    /// Writes whatever is queued on every link.
    pub fn flush(&mut self, io: &mut Io<'_>) {
        for link in self.outbound.values_mut() {
            link.flush_or_fail(io, &self.limits);
        }
        self.out_tokens
            .retain(|t, p| self.outbound.get(p).and_then(|l| l.token()) == Some(*t));
    }

    /// Closes every connection and the listener, for good (fail-stop or shutdown).
    pub fn stop(&mut self, registry: &Registry) {
        if let Some(mut listener) = self.listener.take() {
            let _ = registry.deregister(&mut listener);
        }
        for link in self.outbound.values_mut() {
            link.stop(registry);
        }
        self.out_tokens.clear();
        for (_, conn) in self.inbound.drain() {
            conn.close(registry);
        }
        self.resume.clear();
    }

    /// Every outbound link's state, and the peers with an established inbound connection.
    pub fn info(&self) -> (Vec<LinkInfo>, Vec<NodeId>) {
        let links = self.outbound.values().map(Outbound::info).collect();
        let mut inbound: Vec<NodeId> = self.inbound.values().filter_map(Inbound::peer).collect();
        inbound.sort();
        inbound.dedup();
        (links, inbound)
    }
}

/// An outbound link to `id` at `addr`, first attempt due `now`.
fn new_link(id: NodeId, addr: String, (min_ms, max_ms): (u64, u64), now: Instant) -> Outbound {
    Outbound::new(id, addr, Backoff::new(min_ms, max_ms), now)
}
