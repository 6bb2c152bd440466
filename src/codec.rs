//! The wire format: length-prefixed frames with a magic and protocol-version header and a
//! postcard body.
//!
//! ```text
//! offset  size  field
//! 0       2     magic  b"L2"
//! 2       1     protocol version (PROTOCOL_VERSION)
//! 3       1     frame kind (FrameKind)
//! 4       4     body length, u32 big-endian (at most the receiver's max_frame_bytes)
//! 8       n     body: postcard encoding of the frame's payload
//! ```
//!
//! Decoding never panics and never allocates more than the frame limit on hostile input: the
//! length is checked against the limit before anything is buffered or parsed, and postcard
//! bounds every sequence by the bytes actually present.

use crate::message::Message;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The two magic bytes that open every frame.
pub const MAGIC: [u8; 2] = *b"L2";
/// The protocol version this build speaks. Peers with another version are refused.
pub const PROTOCOL_VERSION: u8 = 1;
/// Size of the fixed frame header.
pub const HEADER_BYTES: usize = 8;
/// Default largest frame body accepted (16 MiB): a batch of large values fits, a runaway length
/// prefix does not.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// What a frame's body holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FrameKind {
    /// A `Vec<Message>` of protocol messages from one peer.
    Messages = 1,
    /// A connection handshake (defined by the transport adapter).
    Handshake = 2,
}

impl FrameKind {
    fn from_byte(b: u8) -> Option<FrameKind> {
        match b {
            1 => Some(FrameKind::Messages),
            2 => Some(FrameKind::Handshake),
            _ => None,
        }
    }
}

/// Why bytes could not be decoded into a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first two bytes are not [`MAGIC`]: not a level2pc peer.
    BadMagic([u8; 2]),
    /// The peer speaks another protocol version.
    UnsupportedVersion(u8),
    /// The frame kind byte is unknown.
    UnknownKind(u8),
    /// The frame kind is not the one expected here.
    UnexpectedKind(u8),
    /// The announced body length exceeds the limit.
    TooLarge {
        /// Announced body length.
        len: u64,
        /// The receiver's limit.
        max: usize,
    },
    /// The body is not a valid postcard encoding of the payload.
    Malformed(String),
    /// The body decoded but left unused bytes.
    TrailingBytes(usize),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::BadMagic(m) => write!(f, "bad frame magic {m:02x?}"),
            DecodeError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "unsupported protocol version {v} (this build speaks {PROTOCOL_VERSION})"
                )
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown frame kind {k}"),
            DecodeError::UnexpectedKind(k) => write!(f, "unexpected frame kind {k}"),
            DecodeError::TooLarge { len, max } => {
                write!(f, "frame body of {len} bytes exceeds the limit of {max}")
            }
            DecodeError::Malformed(e) => write!(f, "malformed frame body: {e}"),
            DecodeError::TrailingBytes(n) => write!(f, "{n} unused bytes after the frame body"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a frame could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The encoded body exceeds the limit.
    TooLarge {
        /// Encoded body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Serialization failed (should not happen for the crate's own types).
    Serialize(String),
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::TooLarge { len, max } => {
                write!(f, "frame body of {len} bytes exceeds the limit of {max}")
            }
            EncodeError::Serialize(e) => write!(f, "cannot serialize frame body: {e}"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// Appends one frame holding `body` to `out`.
pub fn encode_frame<T: Serialize + ?Sized>(
    kind: FrameKind,
    body: &T,
    max_frame_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.extend_from_slice(&MAGIC);
    out.push(PROTOCOL_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&[0; 4]);
    let result = postcard::to_io(body, &mut *out)
        .map(|_| ())
        .map_err(|e| EncodeError::Serialize(e.to_string()));
    let len = out.len() - start - HEADER_BYTES;
    let checked = result.and_then(|()| {
        if len > max_frame_bytes || u32::try_from(len).is_err() {
            Err(EncodeError::TooLarge {
                len,
                max: max_frame_bytes,
            })
        } else {
            Ok(())
        }
    });
    match checked {
        Ok(()) => {
            out[start + 4..start + HEADER_BYTES].copy_from_slice(&(len as u32).to_be_bytes());
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

/// Appends one frame of protocol messages to `out`.
pub fn encode_messages(
    msgs: &[Message],
    max_frame_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode_frame(FrameKind::Messages, msgs, max_frame_bytes, out)
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The frame kind.
    pub kind: FrameKind,
    /// The body length in bytes.
    pub len: usize,
}

/// Parses a frame header from the first [`HEADER_BYTES`] of `buf`; `Ok(None)` if fewer are there.
pub fn decode_header(buf: &[u8], max_frame_bytes: usize) -> Result<Option<Header>, DecodeError> {
    let Some(h) = buf.get(..HEADER_BYTES) else {
        return Ok(None);
    };
    if h[..2] != MAGIC {
        return Err(DecodeError::BadMagic([h[0], h[1]]));
    }
    if h[2] != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(h[2]));
    }
    let kind = FrameKind::from_byte(h[3]).ok_or(DecodeError::UnknownKind(h[3]))?;
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    if len as u64 > max_frame_bytes as u64 {
        return Err(DecodeError::TooLarge {
            len: len.into(),
            max: max_frame_bytes,
        });
    }
    Ok(Some(Header {
        kind,
        len: len as usize,
    }))
}

/// Decodes a frame body produced by [`encode_frame`].
pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// A whole frame found in a buffer: its kind, its raw body, and the bytes it occupies.
pub type RawFrame<'a> = (FrameKind, &'a [u8], usize);

/// Decodes one whole frame at the start of `buf`: `Ok(None)` if it is incomplete, otherwise the
/// kind, the raw body and the number of bytes the frame occupies.
pub fn split_frame(
    buf: &[u8],
    max_frame_bytes: usize,
) -> Result<Option<RawFrame<'_>>, DecodeError> {
    let Some(header) = decode_header(buf, max_frame_bytes)? else {
        return Ok(None);
    };
    let end = HEADER_BYTES + header.len;
    Ok(buf
        .get(HEADER_BYTES..end)
        .map(|body| (header.kind, body, end)))
}

/// Decodes one frame of protocol messages at the start of `buf`: `Ok(None)` if incomplete,
/// otherwise the messages and the bytes consumed.
pub fn decode_messages(
    buf: &[u8],
    max_frame_bytes: usize,
) -> Result<Option<(Vec<Message>, usize)>, DecodeError> {
    let Some((kind, body, used)) = split_frame(buf, max_frame_bytes)? else {
        return Ok(None);
    };
    if kind != FrameKind::Messages {
        return Err(DecodeError::UnexpectedKind(kind as u8));
    }
    Ok(Some((decode_body(body)?, used)))
}

/// Reassembles frames from a byte stream that arrives in arbitrary pieces. Its buffer never
/// holds more than one header plus one maximum-size body beyond what has been consumed.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    max_frame_bytes: usize,
}

impl FrameReader {
    /// A reader accepting bodies up to `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> FrameReader {
        FrameReader {
            buf: Vec::new(),
            start: 0,
            max_frame_bytes,
        }
    }

    /// How many bytes the reader can take before it must yield a frame; the driver reads at most
    /// this much from its socket, which bounds the buffer.
    pub fn room(&self) -> usize {
        let pending = &self.buf[self.start..];
        let need = match decode_header(pending, self.max_frame_bytes) {
            Ok(Some(h)) => HEADER_BYTES + h.len,
            _ => HEADER_BYTES,
        };
        need.saturating_sub(pending.len()).max(1)
    }

    /// Appends bytes received from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame (kind and body), `Ok(None)` if more bytes are needed. After an
    /// error the stream is unusable: close the connection.
    pub fn next_frame(&mut self) -> Result<Option<(FrameKind, Vec<u8>)>, DecodeError> {
        let pending = &self.buf[self.start..];
        let Some((kind, body, used)) = split_frame(pending, self.max_frame_bytes)? else {
            return Ok(None);
        };
        let body = body.to_vec();
        self.start += used;
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some((kind, body)))
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::{BootInc, Epoch, NodeId, Ts};
    use crate::update::{Update, Write};
    use quickcheck::{quickcheck, Arbitrary, Gen};
    use std::sync::Arc;

    #[derive(Clone, Debug)]
    struct Msgs(Vec<Message>);

    fn bytes(g: &mut Gen) -> crate::update::Bytes {
        Vec::<u8>::arbitrary(g).into()
    }

    fn ts(g: &mut Gen) -> Ts {
        let base = ts_base(g);
        if bool::arbitrary(g) {
            return base;
        }
        let by = crate::timestamp::WriterId {
            node: NodeId(u32::arbitrary(g)),
            boot: BootInc(u64::arbitrary(g)),
        };
        Ts::rmw_on(base, u32::arbitrary(g), by, u64::arbitrary(g)).unwrap_or(base)
    }

    fn ts_base(g: &mut Gen) -> Ts {
        Ts::new(
            u64::arbitrary(g),
            NodeId(u32::arbitrary(g)),
            BootInc(u64::arbitrary(g)),
        )
    }

    fn message(g: &mut Gen) -> Message {
        let epoch = Epoch(u64::arbitrary(g));
        match u8::arbitrary(g) % 5 {
            0 => {
                let n = usize::arbitrary(g) % 4;
                let writes = (0..n)
                    .map(|_| Write {
                        key: bytes(g),
                        value: bool::arbitrary(g).then(|| bytes(g)),
                    })
                    .collect();
                let base = bool::arbitrary(g).then(|| ts(g));
                Message::Inv {
                    epoch,
                    update: Arc::new(Update {
                        ts: ts(g),
                        writes,
                        base,
                    }),
                }
            }
            1 => Message::Ack { epoch, ts: ts(g) },
            3 => Message::Nack { epoch, ts: ts(g) },
            2 => Message::Val { epoch, ts: ts(g) },
            _ => Message::Ping { epoch },
        }
    }

    impl Arbitrary for Msgs {
        fn arbitrary(g: &mut Gen) -> Msgs {
            let n = usize::arbitrary(g) % 5;
            Msgs((0..n).map(|_| message(g)).collect())
        }
    }

    quickcheck! {
        fn round_trip(m: Msgs) -> bool {
            let mut out = Vec::new();
            encode_messages(&m.0, DEFAULT_MAX_FRAME_BYTES, &mut out).is_ok()
                && decode_messages(&out, DEFAULT_MAX_FRAME_BYTES) == Ok(Some((m.0.clone(), out.len())))
        }

        fn any_prefix_is_incomplete_never_an_error(m: Msgs, cut: usize) -> bool {
            let mut out = Vec::new();
            encode_messages(&m.0, DEFAULT_MAX_FRAME_BYTES, &mut out).unwrap();
            let cut = cut % out.len();
            decode_messages(&out[..cut], DEFAULT_MAX_FRAME_BYTES) == Ok(None)
        }

        fn stream_reassembly_in_any_chunking(ms: Vec<Msgs>, chunk: u8) -> bool {
            let mut wire = Vec::new();
            for m in &ms {
                encode_messages(&m.0, DEFAULT_MAX_FRAME_BYTES, &mut wire).unwrap();
            }
            let mut reader = FrameReader::new(DEFAULT_MAX_FRAME_BYTES);
            let mut got = Vec::new();
            for piece in wire.chunks(usize::from(chunk).max(1)) {
                reader.push(piece);
                while let Ok(Some((_, body))) = reader.next_frame() {
                    got.push(decode_body::<Vec<Message>>(&body).unwrap());
                }
            }
            got == ms.into_iter().map(|m| m.0).collect::<Vec<_>>() && reader.buffered() == 0
        }

        fn arbitrary_bytes_never_panic(data: Vec<u8>) -> bool {
            let _ = decode_messages(&data, 1024);
            let mut framed = Vec::from(&b"L2\x01\x01"[..]);
            framed.extend_from_slice(&(data.len() as u32).to_be_bytes());
            framed.extend_from_slice(&data);
            let _ = decode_messages(&framed, 1024);
            true
        }
    }

    #[test]
    fn header_errors_are_typed() {
        assert_eq!(
            decode_messages(b"XX\x01\x01\0\0\0\0", 10),
            Err(DecodeError::BadMagic(*b"XX"))
        );
        assert_eq!(
            decode_messages(b"L2\x09\x01\0\0\0\0", 10),
            Err(DecodeError::UnsupportedVersion(9))
        );
        assert_eq!(
            decode_messages(b"L2\x01\x07\0\0\0\0", 10),
            Err(DecodeError::UnknownKind(7))
        );
        assert_eq!(
            decode_messages(b"L2\x01\x02\0\0\0\0", 10),
            Err(DecodeError::UnexpectedKind(2))
        );
        assert_eq!(
            decode_messages(b"L2\x01\x01\xff\xff\xff\xff", 10),
            Err(DecodeError::TooLarge {
                len: u32::MAX as u64,
                max: 10
            })
        );
    }

    #[test]
    fn hostile_length_prefix_inside_body_does_not_allocate() {
        // A Vec<Message> claiming 2^60 elements in a tiny body.
        let mut framed = Vec::from(&b"L2\x01\x01\0\0\0\x0a"[..]);
        framed.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
        assert!(matches!(
            decode_messages(&framed, 1024),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn trailing_bytes_and_oversized_encodes_are_rejected() {
        let mut out = Vec::new();
        encode_messages(&[Message::Ping { epoch: Epoch(1) }], 1024, &mut out).unwrap();
        out[7] += 1;
        out.push(0);
        assert_eq!(
            decode_messages(&out, 1024),
            Err(DecodeError::TrailingBytes(1))
        );
        let big = vec![Message::Ping { epoch: Epoch(1) }; 100];
        let mut out = Vec::new();
        assert!(matches!(
            encode_messages(&big, 10, &mut out),
            Err(EncodeError::TooLarge { .. })
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn reader_room_bounds_the_buffer() {
        let mut reader = FrameReader::new(64);
        assert_eq!(reader.room(), HEADER_BYTES);
        reader.push(b"L2\x01\x01\0\0\0\x10");
        assert_eq!(reader.room(), 16);
        reader.push(&[0; 10]);
        assert_eq!(reader.room(), 6);
        assert_eq!(reader.next_frame(), Ok(None));
    }
}
