//! The log's frame format: one engine `Persist` per frame, checksummed, numbered, and carrying
//! how far the log was known durable when it was written (docs/durability.md#frames).
//!
//! ```text
//! | len: u32 LE | crc: u32 LE | lsn: u64 LE | synced: u64 LE | payload: len bytes |
//! ```
//!
//! `crc` is CRC-32 (IEEE) over `lsn`, `synced` and the payload. `lsn` numbers frames 1, 2, 3, …
//! without gaps across segments. `synced` is the highest lsn that had been fsynced when this
//! frame was written: it tells recovery whether a damaged frame followed by an intact one was
//! ever durable (disk corruption: refuse to start) or was only in the page cache when the power
//! went (a torn tail: cut it).

/// Bytes before the payload.
pub const HEADER_BYTES: usize = 24;
/// Largest payload a frame may carry (a persist is bounded by the peer frame limit, far below).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 30;

/// One intact frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Its log sequence number.
    pub lsn: u64,
    /// The highest lsn durable when it was written.
    pub synced: u64,
    /// The encoded persist.
    pub payload: &'a [u8],
    /// Offset just past it.
    pub end: usize,
}

/// Appends one frame to `out`.
#[cfg(test)]
pub fn encode(out: &mut Vec<u8>, lsn: u64, synced: u64, payload: &[u8]) {
    let start = begin(out);
    out.extend_from_slice(payload);
    finish(out, start, lsn, synced);
}

/// Starts a frame at the end of `out` (room for the header); the caller appends the payload
/// and calls [`finish`]. Returns where the frame starts.
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    start
}

/// Fills in the header of the frame that starts at `start` and runs to the end of `out`.
pub fn finish(out: &mut [u8], start: usize, lsn: u64, synced: u64) {
    let payload_len = out.len() - start - HEADER_BYTES;
    let len = u32::try_from(payload_len).unwrap_or(u32::MAX);
    let (header, payload) = out[start..].split_at_mut(HEADER_BYTES);
    let crc = checksum(lsn, synced, payload);
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[8..16].copy_from_slice(&lsn.to_le_bytes());
    header[16..24].copy_from_slice(&synced.to_le_bytes());
}

fn checksum(lsn: u64, synced: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&lsn.to_le_bytes());
    h.update(&synced.to_le_bytes());
    h.update(payload);
    h.finalize()
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// The intact frame at `pos`, if there is one (any lsn).
pub fn decode_at(buf: &[u8], pos: usize) -> Option<Frame<'_>> {
    let len = u32_at(buf, pos)? as usize;
    if len > MAX_PAYLOAD_BYTES {
        return None;
    }
    let crc = u32_at(buf, pos + 4)?;
    let lsn = u64_at(buf, pos + 8)?;
    let synced = u64_at(buf, pos + 16)?;
    let start = pos + HEADER_BYTES;
    let payload = buf.get(start..start.checked_add(len)?)?;
    (checksum(lsn, synced, payload) == crc).then_some(Frame {
        lsn,
        synced,
        payload,
        end: start + len,
    })
}

/// The highest `synced` mark among the intact frames after the damaged spot at `bad` whose lsn
/// is at or above `from_lsn` (an older lsn cannot be part of this log's future). Scans byte by
/// byte until it finds a frame, then frame by frame: only ever run on the failure path, over
/// at most one segment.
pub fn max_synced_after(buf: &[u8], bad: usize, from_lsn: u64) -> Option<u64> {
    let mut best = None;
    let mut pos = bad + 1;
    while pos + HEADER_BYTES <= buf.len() {
        match decode_at(buf, pos).filter(|f| f.lsn >= from_lsn) {
            Some(f) => {
                best = best.max(Some(f.synced));
                pos = f.end;
            }
            None => pos += 1,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_any_flipped_bit_is_detected() {
        let mut buf = Vec::new();
        encode(&mut buf, 7, 5, b"hello");
        encode(&mut buf, 8, 5, b"");
        let f = decode_at(&buf, 0).unwrap();
        assert_eq!((f.lsn, f.synced, f.payload), (7, 5, &b"hello"[..]));
        let g = decode_at(&buf, f.end).unwrap();
        assert_eq!((g.lsn, g.payload.len(), g.end), (8, 0, buf.len()));
        for bit in 0..(f.end * 8) {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert_ne!(decode_at(&bad, 0), Some(f), "bit {bit} flipped unnoticed");
        }
    }

    #[test]
    fn a_truncated_or_zeroed_frame_is_not_intact() {
        let mut buf = Vec::new();
        encode(&mut buf, 1, 0, b"payload");
        for cut in 0..buf.len() {
            assert_eq!(decode_at(&buf[..cut], 0), None, "cut at {cut}");
        }
        assert_eq!(
            decode_at(&[0u8; 64], 0),
            None,
            "preallocated zeros are no frame"
        );
    }

    #[test]
    fn the_scan_finds_an_intact_frame_behind_damage() {
        let mut buf = Vec::new();
        encode(&mut buf, 1, 0, b"first");
        let second = buf.len();
        encode(&mut buf, 2, 1, b"second");
        buf[3] ^= 0xff; // damage the first frame's length
        assert_eq!(decode_at(&buf, 0), None);
        encode(&mut buf, 3, 0, b"third");
        assert_eq!(
            max_synced_after(&buf, 0, 2),
            Some(1),
            "the best mark of frames 2 and 3"
        );
        assert_eq!(max_synced_after(&buf, second, 3), Some(0));
        assert_eq!(
            max_synced_after(&buf, 0, 4),
            None,
            "older lsns are not the log's future"
        );
    }
}
