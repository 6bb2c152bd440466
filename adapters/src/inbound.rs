//! Inbound peer connections: a peer dialed this node's peer listener to send it messages. The
//! connection must pass the handshake (as the acceptor) before any frame reaches the engine.

use crate::directory::Directory;
use crate::events::NodeEvent;
use crate::handshake::{Acceptor, HandshakeMsg, Step, MAX_HANDSHAKE_FRAME_BYTES};
use crate::link::{push_handshake, Io, LinkError, LinkLimits, PeerInput, READ_BUDGET_BYTES};
use crate::outbuf::{read_bounded, OutBuf, ReadEnd};
use level2pc::codec::{decode_body, FrameKind, FrameReader};
use level2pc::{Instant, Message, NodeId};
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::net::SocketAddr;

/// The handshake state of an inbound connection.
#[derive(Debug)]
enum State {
    Handshaking(Acceptor),
    Established(NodeId),
}

/// What happened on an inbound connection.
#[derive(Debug, PartialEq, Eq)]
pub enum InboundOutcome {
    /// Still open; how reading ended.
    Open(ReadEnd),
    /// The handshake completed: the connection now carries `peer`'s messages; the address the
    /// peer says it can be dialed at.
    Established(NodeId, Option<String>),
    /// The connection must be closed.
    Closed,
}

/// One accepted peer connection.
#[derive(Debug)]
pub struct Inbound {
    stream: TcpStream,
    remote: SocketAddr,
    reader: FrameReader,
    out: OutBuf,
    state: State,
    deadline: Instant,
    /// The peer and its advertised address, from handshake completion until reported once.
    fresh: Option<(NodeId, Option<String>)>,
}

impl Inbound {
    /// Registers an accepted connection; it must finish the handshake by `deadline`, and then
    /// receives `directory`.
    pub fn new(
        mut stream: TcpStream,
        remote: SocketAddr,
        token: Token,
        registry: &Registry,
        limits: &LinkLimits,
        deadline: Instant,
        directory: Directory,
    ) -> std::io::Result<Inbound> {
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        let _ = stream.set_nodelay(true);
        Ok(Inbound {
            stream,
            remote,
            reader: FrameReader::new(MAX_HANDSHAKE_FRAME_BYTES),
            out: OutBuf::default(),
            state: State::Handshaking(Acceptor::new(limits.params.clone(), directory)),
            deadline,
            fresh: None,
        })
    }

    /// The authenticated peer, once established.
    pub fn peer(&self) -> Option<NodeId> {
        match self.state {
            State::Established(peer) => Some(peer),
            State::Handshaking(_) => None,
        }
    }

    /// The remote address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    /// Whether the handshake deadline passed.
    pub fn handshake_expired(&self, now: Instant) -> bool {
        self.peer().is_none() && self.deadline <= now
    }

    /// The handshake deadline, while handshaking.
    pub fn deadline(&self) -> Option<Instant> {
        self.peer().is_none().then_some(self.deadline)
    }

    /// Reads, handshakes and hands messages to `io.inputs`.
    pub fn on_ready(&mut self, io: &mut Io<'_>, limits: &LinkLimits) -> InboundOutcome {
        match self.advance(io, limits) {
            Ok(outcome) => outcome,
            Err(e) => {
                self.report(io, &e);
                InboundOutcome::Closed
            }
        }
    }

    fn advance(
        &mut self,
        io: &mut Io<'_>,
        limits: &LinkLimits,
    ) -> Result<InboundOutcome, LinkError> {
        let end = read_bounded(&mut self.stream, READ_BUDGET_BYTES, &mut self.reader)?;
        let now = io.clock.now();
        while let Some((kind, body)) = self.reader.next_frame()? {
            self.on_frame(io, kind, &body, now, limits)?;
        }
        self.out.write_to(&mut self.stream)?;
        if end == ReadEnd::Eof {
            return Err(LinkError::Eof);
        }
        match self.fresh.take() {
            Some((peer, addr)) => Ok(InboundOutcome::Established(peer, addr)),
            None => Ok(InboundOutcome::Open(end)),
        }
    }

    fn on_frame(
        &mut self,
        io: &mut Io<'_>,
        kind: FrameKind,
        body: &[u8],
        now: Instant,
        limits: &LinkLimits,
    ) -> Result<(), LinkError> {
        match (&mut self.state, kind) {
            (State::Established(from), FrameKind::Messages) => {
                let msgs: Vec<Message> = decode_body(body)?;
                io.inputs.push(PeerInput {
                    from: *from,
                    msgs,
                    now,
                });
                Ok(())
            }
            (State::Handshaking(acceptor), FrameKind::Handshake) => {
                let msg: HandshakeMsg = decode_body(body)?;
                match acceptor.on_msg(msg) {
                    Ok(Step::Send(reply)) => self.push(&reply),
                    Ok(Step::Established {
                        send,
                        peer,
                        peer_addr,
                        ..
                    }) => {
                        if let Some(reply) = send {
                            self.push(&reply)?;
                        }
                        self.establish(peer, limits)?;
                        self.fresh = Some((peer, peer_addr));
                        Ok(())
                    }
                    Err(e) => {
                        // Tell the dialer why before closing, best effort.
                        self.push(&HandshakeMsg::Reject {
                            reason: e.to_string(),
                        })?;
                        let _ = self.out.write_to(&mut self.stream);
                        Err(e.into())
                    }
                }
            }
            (State::Established(_), FrameKind::Handshake) => {
                Err(LinkError::Protocol("handshake frame after the handshake"))
            }
            (State::Handshaking(_), FrameKind::Messages) => Err(LinkError::Protocol(
                "protocol frame before the handshake finished",
            )),
        }
    }

    fn establish(&mut self, peer: NodeId, limits: &LinkLimits) -> Result<(), LinkError> {
        // The dialer sends nothing between its proof and our Accept, so nothing may be buffered.
        if self.reader.buffered() > 0 {
            return Err(LinkError::Protocol("data after the handshake proof"));
        }
        self.reader = FrameReader::new(limits.max_frame_bytes);
        self.state = State::Established(peer);
        log::info!(
            "inbound connection from {peer} at {} established",
            self.remote
        );
        Ok(())
    }

    fn push(&mut self, msg: &HandshakeMsg) -> Result<(), LinkError> {
        push_handshake(&mut self.out, msg)
    }

    fn report(&self, io: &mut Io<'_>, err: &LinkError) {
        let peer = self.peer();
        if err.is_reportable() {
            io.events.emit(NodeEvent::Error {
                peer,
                addr: Some(self.remote.to_string()),
                message: format!("inbound connection closed: {err}"),
            })
        } else {
            log::debug!("inbound connection from {} closed: {err}", self.remote)
        }
    }

    /// Deregisters and drops the connection.
    pub fn close(mut self, registry: &Registry) {
        // Best effort: the socket is dropped either way.
        let _ = registry.deregister(&mut self.stream);
    }
}
