//! The outbound side of a peer connection: the link this node sends its messages on to one peer
//! (resolve, connect, handshake as the dialer, reconnect with backoff). Peers' connections to
//! this node are [`crate::inbound`]; what both sides share is [`crate::link`].
//!
//! Each pair of nodes uses two TCP connections, one per direction: a node sends its messages on
//! its outbound link and receives on the peer's. No tie-breaking is needed, and a half-dead
//! connection only ever affects one direction, which the engine's retransmissions and
//! heartbeats already handle.

use crate::backoff::Backoff;
use crate::directory::Directory;
use crate::events::NodeEvent;
use crate::handshake::{Dialer, HandshakeMsg, Step, MAX_HANDSHAKE_FRAME_BYTES};
use crate::link::{push_handshake, Io, LinkError, LinkLimits, READ_BUDGET_BYTES};
use crate::outbuf::{read_bounded, Flushed, OutBuf, ReadEnd};
use crate::resolver::{literal, Resolver};
use level2pc::codec::{decode_body, encode_messages, FrameKind, FrameReader};
use level2pc::{Instant, Message, NodeId};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::net::SocketAddr;

/// State of the outbound link to one peer.
#[derive(Debug)]
enum Link {
    /// Not connected; the next attempt is due at `retry_at`.
    Idle { retry_at: Instant },
    /// Waiting for the resolver thread to look the host name up.
    Resolving { deadline: Instant },
    /// TCP connect in progress.
    Connecting {
        stream: TcpStream,
        token: Token,
        deadline: Instant,
    },
    /// Handshake in progress.
    Handshaking {
        stream: TcpStream,
        token: Token,
        deadline: Instant,
        dialer: Dialer,
    },
    /// Established: protocol frames flow.
    Up { stream: TcpStream, token: Token },
    /// The node stopped: never reconnect.
    Stopped,
}

/// Counters and state of one outbound link, for `INFO`.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    /// The peer.
    pub peer: NodeId,
    /// Its configured address.
    pub addr: String,
    /// `idle`, `resolving`, `connecting`, `handshaking`, `up` or `stopped`.
    pub state: &'static str,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Frames queued for sending.
    pub sent_frames: u64,
    /// Frames dropped because the link was down or its buffer full.
    pub dropped_frames: u64,
}

/// This node's outbound link to one peer.
#[derive(Debug)]
pub struct Outbound {
    peer: NodeId,
    addr: String,
    link: Link,
    backoff: Backoff,
    out: OutBuf,
    reader: FrameReader,
    attempted: bool,
    fail_reported: bool,
    sent_frames: u64,
    dropped_frames: u64,
    learned: Option<Learned>,
    /// Since when the link has not been up (`None` while it is).
    down_since: Option<Instant>,
    /// The socket address of the current or last attempt.
    dialed: Option<SocketAddr>,
    /// Of a host name's addresses, the one the link last got up on: tried first next time.
    last_good: Option<SocketAddr>,
}

/// What the peer told this node in the handshake of a new outbound link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Learned {
    /// The address the peer says it can be dialed at.
    pub peer_addr: Option<String>,
    /// The peer's directory.
    pub directory: Directory,
}

impl Outbound {
    /// A link to `peer` at `addr`, first attempt due at `now`.
    pub fn new(peer: NodeId, addr: String, backoff: Backoff, now: Instant) -> Outbound {
        Outbound {
            peer,
            addr,
            link: Link::Idle { retry_at: now },
            backoff,
            out: OutBuf::default(),
            reader: FrameReader::new(MAX_HANDSHAKE_FRAME_BYTES),
            attempted: false,
            fail_reported: false,
            sent_frames: 0,
            dropped_frames: 0,
            learned: None,
            down_since: Some(now),
            dialed: None,
            last_good: None,
        }
    }

    /// Since when the link has not been up; `None` while it is.
    pub fn down_since(&self) -> Option<Instant> {
        self.down_since
    }

    /// The address this link dials.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Dials `addr` from the next attempt on (a connection that is up stays up). A link waiting
    /// to retry, or for a lookup of the old address, tries the new one at once.
    pub fn set_addr(&mut self, addr: String, now: Instant) {
        self.addr = addr;
        self.last_good = None;
        if matches!(self.link, Link::Idle { .. } | Link::Resolving { .. }) {
            self.link = Link::Idle { retry_at: now };
            self.backoff.reset();
        }
    }

    /// What the peer said in the last completed handshake, once.
    pub fn take_learned(&mut self) -> Option<Learned> {
        self.learned.take()
    }

    /// The token of the current socket, if any.
    pub fn token(&self) -> Option<Token> {
        match &self.link {
            Link::Connecting { token, .. }
            | Link::Handshaking { token, .. }
            | Link::Up { token, .. } => Some(*token),
            Link::Idle { .. } | Link::Resolving { .. } | Link::Stopped => None,
        }
    }

    /// When this link next needs [`Outbound::on_timer`].
    pub fn deadline(&self) -> Option<Instant> {
        match &self.link {
            Link::Idle { retry_at } => Some(*retry_at),
            Link::Resolving { deadline }
            | Link::Connecting { deadline, .. }
            | Link::Handshaking { deadline, .. } => Some(*deadline),
            Link::Up { .. } | Link::Stopped => None,
        }
    }

    /// Whether protocol frames can be sent.
    pub fn is_up(&self) -> bool {
        matches!(self.link, Link::Up { .. })
    }

    /// Queues one frame of messages; drops it (and counts) when the link is down or its buffer
    /// is full. Oversized batches are split; a single message too large for a frame is dropped.
    pub fn send(&mut self, msgs: &[Message], limits: &LinkLimits) {
        if !self.is_up() {
            self.dropped_frames += 1;
            return;
        }
        let cap = limits.send_buffer_bytes;
        match self
            .out
            .push_bounded(cap, |b| encode_messages(msgs, limits.max_frame_bytes, b))
        {
            Ok(true) => self.sent_frames += 1,
            Ok(false) => self.dropped_frames += 1,
            Err(_) if msgs.len() > 1 => {
                let (a, b) = msgs.split_at(msgs.len() / 2);
                self.send(a, limits);
                self.send(b, limits);
            }
            Err(e) => {
                log::error!(
                    "dropping a message to {} that cannot be framed: {e}",
                    self.peer
                );
                self.dropped_frames += 1;
            }
        }
    }

    /// Starts a connection attempt if one is due (a host name goes to `resolver` first), or
    /// fails one that took too long.
    pub fn on_timer(
        &mut self,
        io: &mut Io<'_>,
        tokens: &mut impl FnMut() -> Token,
        limits: &LinkLimits,
        resolver: &mut Resolver,
    ) {
        let now = io.clock.now();
        match &self.link {
            Link::Idle { retry_at } if *retry_at <= now => {
                self.attempt(io, tokens, limits, resolver, now)
            }
            Link::Resolving { deadline }
            | Link::Connecting { deadline, .. }
            | Link::Handshaking { deadline, .. }
                if *deadline <= now =>
            {
                self.fail(io, LinkError::Timeout, limits)
            }
            _ => {}
        }
    }

    fn attempt(
        &mut self,
        io: &mut Io<'_>,
        tokens: &mut impl FnMut() -> Token,
        limits: &LinkLimits,
        resolver: &mut Resolver,
        now: Instant,
    ) {
        if self.attempted {
            let attempt = self.backoff.failures();
            io.events.emit(NodeEvent::Reconnect {
                peer: self.peer,
                addr: self.addr.clone(),
                attempt,
            });
        }
        self.attempted = true;
        // Everything from here to the handshake must finish within the handshake timeout.
        let deadline = now.plus_ms(limits.handshake_timeout_ms);
        if let Some(addr) = literal(&self.addr) {
            self.connect(io, tokens(), addr, deadline, limits);
        } else if resolver.ask(self.peer, self.addr.clone()) {
            self.link = Link::Resolving { deadline };
        } else {
            let busy = LinkError::Resolve(format!("{}: too many lookups waiting", self.addr));
            self.fail(io, busy, limits);
        }
    }

    /// The resolver answered a lookup of `addr`: connect to one of its addresses (see
    /// [`choose_addr`]), or count a failed attempt. An answer for an address this link no longer
    /// dials, or that came after its deadline, is ignored.
    pub fn on_resolved(
        &mut self,
        io: &mut Io<'_>,
        token: Token,
        addr: &str,
        answer: Result<Vec<SocketAddr>, String>,
        limits: &LinkLimits,
    ) {
        let Link::Resolving { deadline } = self.link else {
            return;
        };
        if addr != self.addr {
            return;
        }
        let failures = self.backoff.failures();
        match answer.map(|addrs| choose_addr(&addrs, self.last_good, failures)) {
            Ok(Some(resolved)) => self.connect(io, token, resolved, deadline, limits),
            Ok(None) => {
                let none = LinkError::Resolve(format!("{addr}: no addresses"));
                self.fail(io, none, limits)
            }
            Err(e) => self.fail(io, LinkError::Resolve(e), limits),
        }
    }

    fn connect(
        &mut self,
        io: &mut Io<'_>,
        token: Token,
        addr: SocketAddr,
        deadline: Instant,
        limits: &LinkLimits,
    ) {
        self.dialed = Some(addr);
        let connected = TcpStream::connect(addr).and_then(|mut stream| {
            let interest = Interest::READABLE | Interest::WRITABLE;
            io.registry.register(&mut stream, token, interest)?;
            Ok(stream)
        });
        match connected {
            Ok(stream) => {
                self.link = Link::Connecting {
                    stream,
                    token,
                    deadline,
                };
            }
            Err(e) => self.fail(io, e.into(), limits),
        }
    }

    /// Handles readiness of this link's socket.
    pub fn on_ready(&mut self, io: &mut Io<'_>, limits: &LinkLimits) -> ReadEnd {
        match self.advance(io, limits) {
            Ok(end) => end,
            Err(e) => {
                self.fail(io, e, limits);
                ReadEnd::WouldBlock
            }
        }
    }

    fn advance(&mut self, io: &mut Io<'_>, limits: &LinkLimits) -> Result<ReadEnd, LinkError> {
        if let Link::Connecting { stream, .. } = &mut self.link {
            if !connected(stream)? {
                return Ok(ReadEnd::WouldBlock);
            }
            self.start_handshake(limits)?;
        }
        let end = self.read(io, limits)?;
        self.flush()?;
        Ok(end)
    }

    fn start_handshake(&mut self, limits: &LinkLimits) -> Result<(), LinkError> {
        let Link::Connecting {
            stream,
            token,
            deadline,
        } = std::mem::replace(&mut self.link, Link::Stopped)
        else {
            return Ok(());
        };
        // Small frames must not wait for Nagle; failing to set it only costs latency.
        let _ = stream.set_nodelay(true);
        let (dialer, hello) = Dialer::start(limits.params.clone(), Some(self.peer));
        self.out.clear();
        self.reader = FrameReader::new(MAX_HANDSHAKE_FRAME_BYTES);
        self.link = Link::Handshaking {
            stream,
            token,
            deadline,
            dialer,
        };
        self.push_handshake(&hello)
    }

    fn read(&mut self, io: &mut Io<'_>, limits: &LinkLimits) -> Result<ReadEnd, LinkError> {
        let stream = match &mut self.link {
            Link::Handshaking { stream, .. } | Link::Up { stream, .. } => stream,
            _ => return Ok(ReadEnd::WouldBlock),
        };
        let end = read_bounded(stream, READ_BUDGET_BYTES, &mut self.reader)?;
        while let Some((kind, body)) = self.reader.next_frame()? {
            self.on_frame(io, kind, &body, limits)?;
        }
        if end == ReadEnd::Eof {
            return Err(LinkError::Eof);
        }
        Ok(end)
    }

    fn on_frame(
        &mut self,
        io: &mut Io<'_>,
        kind: FrameKind,
        body: &[u8],
        limits: &LinkLimits,
    ) -> Result<(), LinkError> {
        let Link::Handshaking { dialer, .. } = &mut self.link else {
            return Err(LinkError::Protocol(
                "peer sent data on an established outbound link",
            ));
        };
        if kind != FrameKind::Handshake {
            return Err(LinkError::Protocol(
                "protocol frame before the handshake finished",
            ));
        }
        let msg: HandshakeMsg = decode_body(body)?;
        match dialer.on_msg(msg)? {
            Step::Send(reply) => self.push_handshake(&reply),
            Step::Established {
                peer_addr,
                directory,
                ..
            } => {
                self.learned = directory.map(|directory| Learned {
                    peer_addr,
                    directory,
                });
                self.establish(io, limits);
                Ok(())
            }
        }
    }

    fn push_handshake(&mut self, msg: &HandshakeMsg) -> Result<(), LinkError> {
        push_handshake(&mut self.out, msg)
    }

    fn establish(&mut self, io: &mut Io<'_>, limits: &LinkLimits) {
        let Link::Handshaking { stream, token, .. } =
            std::mem::replace(&mut self.link, Link::Stopped)
        else {
            return;
        };
        self.link = Link::Up { stream, token };
        self.down_since = None;
        self.last_good = self.dialed;
        self.reader = FrameReader::new(limits.max_frame_bytes);
        self.backoff.reset();
        self.fail_reported = false;
        io.events.emit(NodeEvent::Connect {
            peer: self.peer,
            addr: self.addr.clone(),
        });
    }

    /// Writes queued bytes; on error the link fails at its next event.
    pub fn flush(&mut self) -> Result<(), LinkError> {
        let stream = match &mut self.link {
            Link::Handshaking { stream, .. } | Link::Up { stream, .. } => stream,
            _ => return Ok(()),
        };
        match self.out.write_to(stream)? {
            Flushed::All | Flushed::Blocked => Ok(()),
        }
    }

    /// Flushes and fails the link on a write error.
    pub fn flush_or_fail(&mut self, io: &mut Io<'_>, limits: &LinkLimits) {
        if self.out.is_empty() {
            return;
        }
        if let Err(e) = self.flush() {
            self.fail(io, e, limits);
        }
    }

    /// Closes the socket, reports the failure, and schedules the next attempt.
    fn fail(&mut self, io: &mut Io<'_>, err: LinkError, limits: &LinkLimits) {
        let was_up = self.is_up();
        self.close(io.registry);
        if was_up {
            self.down_since = Some(io.clock.now());
            log::info!("link to {} at {} closed: {err}", self.peer, self.addr);
            io.events.emit(NodeEvent::Disconnect {
                peer: self.peer,
                addr: self.addr.clone(),
            });
        } else {
            log::debug!("connecting to {} at {} failed: {err}", self.peer, self.addr);
        }
        if err.is_reportable() {
            io.events.emit(NodeEvent::Error {
                peer: Some(self.peer),
                addr: Some(self.addr.clone()),
                message: err.to_string(),
            });
        }
        let delay_ms = self.backoff.next_delay_ms(&mut rand::thread_rng());
        if self.backoff.failures() >= limits.fail_after && !self.fail_reported {
            self.fail_reported = true;
            io.events.emit(NodeEvent::Fail {
                peer: self.peer,
                addr: self.addr.clone(),
                attempts: self.backoff.failures(),
            });
        }
        self.link = Link::Idle {
            retry_at: io.clock.now().plus_ms(delay_ms),
        };
    }

    fn close(&mut self, registry: &Registry) {
        match std::mem::replace(&mut self.link, Link::Stopped) {
            Link::Connecting { mut stream, .. }
            | Link::Handshaking { mut stream, .. }
            | Link::Up { mut stream, .. } => {
                // Deregistering a socket that is being dropped cannot meaningfully fail.
                let _ = registry.deregister(&mut stream);
            }
            Link::Idle { .. } | Link::Resolving { .. } | Link::Stopped => {}
        }
        self.out.clear();
    }

    /// Closes the link for good (node stopping).
    pub fn stop(&mut self, registry: &Registry) {
        self.close(registry);
    }

    /// State and counters.
    pub fn info(&self) -> LinkInfo {
        let state = match self.link {
            Link::Idle { .. } => "idle",
            Link::Resolving { .. } => "resolving",
            Link::Connecting { .. } => "connecting",
            Link::Handshaking { .. } => "handshaking",
            Link::Up { .. } => "up",
            Link::Stopped => "stopped",
        };
        LinkInfo {
            peer: self.peer,
            addr: self.addr.clone(),
            state,
            failures: self.backoff.failures(),
            sent_frames: self.sent_frames,
            dropped_frames: self.dropped_frames,
        }
    }
}

/// Whether a non-blocking connect finished: `Ok(false)` while in progress.
fn connected(stream: &TcpStream) -> Result<bool, LinkError> {
    if let Some(e) = stream.take_error()? {
        return Err(e.into());
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Which of a host name's addresses the next attempt dials: the one the link last got up on (if
/// the name still has it) first, then the others in the resolver's order, one per consecutive
/// failed attempt, round robin. So a peer listening on only one of `localhost`'s `::1` and
/// `127.0.0.1` costs at most one failed attempt, and only until the link is first up.
pub fn choose_addr(
    addrs: &[SocketAddr],
    last_good: Option<SocketAddr>,
    failures: u32,
) -> Option<SocketAddr> {
    let start = last_good
        .and_then(|good| addrs.iter().position(|a| *a == good))
        .unwrap_or(0);
    let len = addrs.len();
    if len == 0 {
        return None;
    }
    let step = usize::try_from(failures).unwrap_or(usize::MAX) % len;
    addrs.get((start + step) % len).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::BootClock;
    use crate::events::EventSink;
    use crate::handshake::Params;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn every_address_of_a_name_is_tried_in_turn_starting_with_the_last_good_one() {
        let addrs = [a(1), a(2), a(3)];
        let tried: Vec<_> = (0..4).map(|f| choose_addr(&addrs, None, f)).collect();
        assert_eq!(tried, [Some(a(1)), Some(a(2)), Some(a(3)), Some(a(1))]);
        let tried: Vec<_> = (0..3).map(|f| choose_addr(&addrs, Some(a(3)), f)).collect();
        assert_eq!(tried, [Some(a(3)), Some(a(1)), Some(a(2))]);
        // A last good address the name no longer has is ignored.
        assert_eq!(choose_addr(&addrs, Some(a(9)), 1), Some(a(2)));
        assert_eq!(choose_addr(&[], None, 0), None);
        assert_eq!(choose_addr(&addrs, None, u32::MAX), Some(a(1)));
    }

    /// A "name" of the form `two-CLOSED-LIVE:1` resolving to two loopback ports, in that order.
    fn two_ports(name: &str) -> Result<Vec<SocketAddr>, String> {
        let ports: Vec<u16> = name
            .trim_end_matches(":1")
            .split('-')
            .filter_map(|p| p.parse().ok())
            .collect();
        Ok(ports.into_iter().map(a).collect())
    }

    #[test]
    fn a_name_whose_first_address_refuses_is_reached_at_its_second() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_port = closed.local_addr().unwrap().port();
        drop(closed);
        let live = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        live.set_nonblocking(true).unwrap();
        let live_port = live.local_addr().unwrap().port();

        let mut poll = mio::Poll::new().unwrap();
        let registry = poll.registry().try_clone().unwrap();
        let mut clock = BootClock::new();
        let (events, _rx, _) = EventSink::bounded(64);
        let mut inputs = Vec::new();
        let limits = LinkLimits {
            params: Params {
                cluster: "c".into(),
                me: NodeId(0),
                advertise: None,
                secret: None,
            },
            fail_after: 100,
            handshake_timeout_ms: 2_000,
            max_frame_bytes: 1 << 20,
            send_buffer_bytes: 1 << 20,
        };
        let name = format!("two-{closed_port}-{live_port}:1");
        let mut link = Outbound::new(NodeId(1), name.clone(), Backoff::new(5, 20), clock.now());
        let mut resolver = Resolver::with_lookup(Box::new(|| {}), two_ports);
        let mut next_token = 100;
        let mut ready = mio::Events::with_capacity(16);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if live.accept().is_ok() {
                assert!(link.info().failures >= 1, "the closed port was tried first");
                return;
            }
            let mut io = Io {
                registry: &registry,
                clock: &mut clock,
                events: &events,
                inputs: &mut inputs,
            };
            let mut tokens = || {
                next_token += 1;
                Token(next_token)
            };
            link.on_timer(&mut io, &mut tokens, &limits, &mut resolver);
            for (_, addr, answer) in resolver.answers() {
                link.on_resolved(&mut io, tokens(), &addr, answer, &limits);
            }
            poll.poll(&mut ready, Some(std::time::Duration::from_millis(5)))
                .unwrap();
            for _ in ready.iter() {
                link.on_ready(&mut io, &limits);
            }
        }
        panic!(
            "never connected to {name}'s second address: {:?}",
            link.info()
        );
    }
}
