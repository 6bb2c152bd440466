//! The `decode_frame` target: arbitrary bytes into the wire decoder (`codec::decode_header`,
//! `split_frame`, `decode_messages`, and a [`FrameReader`] fed in pseudo-random chunks). Checks:
//! no panic; whole-buffer and streamed decoding agree frame by frame and error by error; the
//! reader's buffer stays within header + limit; peak allocation stays within [`alloc_bound`]
//! (when the binary installs [`super::alloc_meter::Meter`]); and what decodes re-encodes within
//! the limit, to the same bytes or to bytes that decode to an equal list.

use super::alloc_meter;
use level2pc::codec::{self, DecodeError, FrameKind, FrameReader, HEADER_BYTES};
use level2pc::Message;

/// The frame limit the `decode_frame` target decodes with (small, so the limit is reachable).
pub const FRAME_LIMIT: usize = 64 * 1024;

/// Bytes a decode may allocate at its peak: linear in the bytes present (a decoded `Message`
/// is larger than its few encoded bytes), never driven by a length prefix.
pub fn alloc_bound(input_len: usize) -> usize {
    64 * 1024 + 96 * input_len
}

/// What one frame of a byte stream turned out to be.
#[derive(Debug, PartialEq)]
enum FrameOutcome {
    /// A complete frame of this kind with this body.
    Frame(FrameKind, Vec<u8>),
    /// The stream is broken here.
    Error(DecodeError),
    /// The stream ends inside a frame, with this many bytes left over.
    Incomplete(usize),
}

/// Arbitrary bytes into the wire decoder. The first byte picks the mode: whether the rest is
/// wrapped as the body of a well-formed `Messages` frame (to reach the body decoder directly),
/// the frame limit, and how the stream is chunked.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let max = [FRAME_LIMIT, 64, 1024, 16][usize::from(mode >> 1) & 3];
    let mut wire = Vec::with_capacity(rest.len() + HEADER_BYTES);
    if mode & 1 == 1 {
        wire.extend_from_slice(&codec::MAGIC);
        wire.push(codec::PROTOCOL_VERSION);
        wire.push(FrameKind::Messages as u8);
        wire.extend_from_slice(&(rest.len() as u32).to_be_bytes());
    }
    wire.extend_from_slice(rest);

    let baseline = alloc_meter::start();
    let whole = frames_of(&wire, max);
    let respect_room = mode & 0x08 == 0;
    let streamed = frames_streamed(&wire, max, mode, respect_room);
    assert_eq!(
        whole, streamed,
        "whole-buffer and streamed decoding disagree (max {max})"
    );
    let mut off = 0;
    for outcome in &whole {
        match outcome {
            FrameOutcome::Frame(kind, body) => {
                let frame = &wire[off..off + HEADER_BYTES + body.len()];
                check_decode_messages(frame, &wire[off..], *kind, body, max);
                off += frame.len();
            }
            FrameOutcome::Error(e) => {
                assert_eq!(
                    codec::decode_messages(&wire[off..], max),
                    Err(e.clone()),
                    "decode_messages at {off}"
                );
            }
            FrameOutcome::Incomplete(left) => {
                assert_eq!(*left, wire.len() - off);
                assert_eq!(
                    codec::decode_messages(&wire[off..], max),
                    Ok(None),
                    "incomplete frame at {off}"
                );
            }
        }
    }
    if alloc_meter::installed() {
        let peak = alloc_meter::peak_since(baseline);
        let bound = alloc_bound(wire.len());
        assert!(
            peak <= bound,
            "decoding {} bytes allocated {peak} bytes at peak (bound {bound})",
            wire.len()
        );
    }
}

/// Splits `wire` into frames with `split_frame`, checking `decode_header` along the way.
fn frames_of(wire: &[u8], max: usize) -> Vec<FrameOutcome> {
    let mut out = Vec::new();
    let mut off = 0;
    loop {
        let buf = &wire[off..];
        let header = codec::decode_header(buf, max);
        match codec::split_frame(buf, max) {
            Ok(Some((kind, body, used))) => {
                let h = header
                    .expect("split_frame succeeded where decode_header failed")
                    .expect("header");
                assert_eq!(
                    (h.kind, h.len, used),
                    (kind, body.len(), HEADER_BYTES + body.len())
                );
                assert!(h.len <= max, "header length {} over the limit {max}", h.len);
                out.push(FrameOutcome::Frame(kind, body.to_vec()));
                off += used;
            }
            Ok(None) => {
                match header {
                    Ok(None) => assert!(buf.len() < HEADER_BYTES),
                    Ok(Some(h)) => assert!(h.len <= max && buf.len() < HEADER_BYTES + h.len),
                    Err(e) => {
                        panic!("decode_header failed ({e}) where split_frame wants more bytes")
                    }
                }
                out.push(FrameOutcome::Incomplete(buf.len()));
                return out;
            }
            Err(e) => {
                assert_eq!(
                    header,
                    Err(e.clone()),
                    "split_frame and decode_header disagree"
                );
                out.push(FrameOutcome::Error(e));
                return out;
            }
        }
    }
}

/// Feeds `wire` to a [`FrameReader`] in pseudo-random chunks, reading at most `room()` each time
/// when `respect_room` (as a driver does), and checks the buffer bound.
fn frames_streamed(wire: &[u8], max: usize, seed: u8, respect_room: bool) -> Vec<FrameOutcome> {
    let mut reader = FrameReader::new(max);
    let mut out = Vec::new();
    let mut rng = u32::from(seed).wrapping_mul(0x9e37_79b9) | 1;
    let mut off = 0;
    loop {
        // Drain every complete frame first.
        loop {
            match reader.next_frame() {
                Ok(Some((kind, body))) => {
                    assert!(
                        body.len() <= max,
                        "a {}-byte body passed the {max}-byte limit",
                        body.len()
                    );
                    out.push(FrameOutcome::Frame(kind, body));
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(FrameOutcome::Error(e));
                    return out;
                }
            }
        }
        if off == wire.len() {
            out.push(FrameOutcome::Incomplete(reader.buffered()));
            return out;
        }
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let want = match rng % 8 {
            0..=3 => 1 + (rng >> 8) as usize % 7,
            4..=6 => 1 + (rng >> 8) as usize % 300,
            _ => wire.len(),
        };
        let room = reader.room();
        assert!(
            room >= 1,
            "room() is zero: the driver could never make progress"
        );
        let take = if respect_room { want.min(room) } else { want }.min(wire.len() - off);
        reader.push(&wire[off..off + take]);
        off += take;
        if respect_room {
            let buffered = reader.buffered();
            assert!(
                buffered <= HEADER_BYTES + max,
                "reader buffers {buffered} bytes past the {max}-byte limit"
            );
        }
    }
}

/// `decode_messages` on one complete frame agrees with the body decoder, and what decodes
/// re-encodes to the same bytes or to bytes that decode to the same messages.
fn check_decode_messages(frame: &[u8], from_here: &[u8], kind: FrameKind, body: &[u8], max: usize) {
    let result = codec::decode_messages(from_here, max);
    if kind != FrameKind::Messages {
        assert_eq!(result, Err(DecodeError::UnexpectedKind(kind as u8)));
        return;
    }
    let decoded = codec::decode_body::<Vec<Message>>(body);
    match (&decoded, &result) {
        (Ok(msgs), Ok(Some((got, used)))) => assert!(got == msgs && *used == frame.len()),
        (Err(e), Err(got)) => assert_eq!(e, got),
        _ => panic!("decode_body and decode_messages disagree: {decoded:?} vs {result:?}"),
    }
    let Ok(msgs) = decoded else { return };
    let mut again = Vec::new();
    if let Err(e) = codec::encode_messages(&msgs, max, &mut again) {
        panic!(
            "{} decoded messages fail to re-encode within the limit they arrived in: {e}",
            msgs.len()
        );
    }
    if again != frame {
        let back = codec::decode_messages(&again, max);
        assert_eq!(
            back,
            Ok(Some((msgs.clone(), again.len()))),
            "re-encoded messages decode differently"
        );
        assert!(
            again.len() <= frame.len(),
            "the canonical encoding is longer than an accepted one"
        );
    }
}
