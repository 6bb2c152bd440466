//! What both directions of a peer connection share: the event loop's context handed to their
//! handlers ([`Io`]), the messages they deliver ([`PeerInput`]), their limits ([`LinkLimits`]),
//! why one closes ([`LinkError`]), and framing a handshake message. The outbound side is
//! [`crate::outbound`], the inbound side [`crate::inbound`].

use crate::clock::BootClock;
use crate::events::EventSink;
use crate::handshake::{encode_handshake, HandshakeError, HandshakeMsg, Params};
use crate::outbuf::OutBuf;
use level2pc::codec::DecodeError;
use level2pc::{Instant, Message, NodeId};
use mio::Registry;

/// Bytes read from one connection per event before yielding to others (fairness).
pub const READ_BUDGET_BYTES: usize = 1024 * 1024;

/// Messages that arrived from an authenticated peer, with the time sampled right after the read.
#[derive(Debug)]
pub struct PeerInput {
    /// The sender.
    pub from: NodeId,
    /// The messages of one frame.
    pub msgs: Vec<Message>,
    /// The clock right after the bytes were read.
    pub now: Instant,
}

/// What a handler needs from the event loop.
pub struct Io<'a> {
    /// The poll registry.
    pub registry: &'a Registry,
    /// The node clock.
    pub clock: &'a mut BootClock,
    /// Where events go.
    pub events: &'a EventSink,
    /// Where received messages go.
    pub inputs: &'a mut Vec<PeerInput>,
}

/// Why a connection is being closed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection.
    #[error("connection closed by peer")]
    Eof,
    /// Connect plus handshake took too long.
    #[error("timed out connecting")]
    Timeout,
    /// The address did not resolve.
    #[error("cannot resolve address: {0}")]
    Resolve(String),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    Handshake(#[from] HandshakeError),
    /// A frame could not be decoded.
    #[error("bad frame: {0}")]
    Frame(#[from] DecodeError),
    /// The peer sent something it must not send in this state.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
}

impl LinkError {
    /// Whether this is a peer misbehaving (reported as an `error` event) rather than the
    /// ordinary churn of a peer being down.
    pub fn is_reportable(&self) -> bool {
        matches!(
            self,
            LinkError::Handshake(_) | LinkError::Frame(_) | LinkError::Protocol(_)
        )
    }
}

/// What every link needs: handshake parameters and limits.
#[derive(Clone, Debug)]
pub struct LinkLimits {
    /// Handshake parameters (cluster, ids, secret).
    pub params: Params,
    /// Emit `fail` after this many consecutive failures.
    pub fail_after: u32,
    /// Connect plus handshake deadline.
    pub handshake_timeout_ms: u64,
    /// Largest frame body.
    pub max_frame_bytes: usize,
    /// Send buffer cap.
    pub send_buffer_bytes: usize,
}

/// Queues a handshake message as a frame (either direction of either kind of connection).
pub fn push_handshake(out: &mut OutBuf, msg: &HandshakeMsg) -> Result<(), LinkError> {
    // Unbounded: the handshake sends at most two small messages per connection.
    out.push_bounded(usize::MAX, |b| encode_handshake(msg, b))
        .map(|_| ())
        .map_err(|_| LinkError::Protocol("cannot encode a handshake message"))
}
