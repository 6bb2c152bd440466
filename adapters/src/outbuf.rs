//! Socket buffers: a bounded output queue written until the socket would block, and a bounded
//! read helper. Shared by peer links and RESP client connections.

use std::io::{self, Read, Write};

/// Bytes waiting to be written to one non-blocking socket.
#[derive(Debug, Default)]
pub struct OutBuf {
    buf: Vec<u8>,
    start: usize,
}

/// What a write attempt achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything was written.
    All,
    /// The socket would block; a writable event resumes.
    Blocked,
}

impl OutBuf {
    /// Bytes not yet written.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends bytes unconditionally (callers bound the total by other means).
    pub fn append(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Appends whatever `encode` writes, unless that makes the pending bytes exceed `cap`: then
    /// the appended bytes are removed again and `false` is returned (the caller counts a drop).
    pub fn push_bounded<E>(
        &mut self,
        cap: usize,
        encode: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<bool, E> {
        let mark = self.buf.len();
        encode(&mut self.buf)?;
        if self.len() > cap {
            self.buf.truncate(mark);
            return Ok(false);
        }
        Ok(true)
    }

    /// Forgets everything pending (the connection is gone).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Writes pending bytes until done or the socket would block.
    pub fn write_to(&mut self, w: &mut impl Write) -> io::Result<Flushed> {
        while self.start < self.buf.len() {
            match w.write(&self.buf[self.start..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.start += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.compact();
                    return Ok(Flushed::Blocked);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.clear();
        Ok(Flushed::All)
    }

    fn compact(&mut self) {
        // Move the unwritten tail to the front once the written head dominates, so the buffer
        // does not grow without bound under a steady trickle.
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

/// How a bounded read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadEnd {
    /// The socket has no more data for now.
    WouldBlock,
    /// The peer closed its side.
    Eof,
    /// The per-turn budget ran out with data possibly left: read again next turn.
    Budget,
    /// The consumer wants no more bytes for now (its buffer is full).
    Full,
}

/// Size of one `read` call.
pub const READ_CHUNK: usize = 64 * 1024;

/// Where [`read_bounded`] puts bytes.
pub trait ReadSink {
    /// How many more bytes it takes now (0: stop reading).
    fn room(&self) -> usize;
    /// Takes bytes.
    fn push(&mut self, bytes: &[u8]);
}

impl ReadSink for level2pc::codec::FrameReader {
    fn room(&self) -> usize {
        // The reader is drained after every read, so it holds at most one frame plus one chunk.
        usize::MAX
    }
    fn push(&mut self, bytes: &[u8]) {
        level2pc::codec::FrameReader::push(self, bytes);
    }
}

/// A byte buffer that takes at most `cap` bytes in total.
#[derive(Debug)]
pub struct Capped<'a> {
    /// The buffer.
    pub buf: &'a mut Vec<u8>,
    /// Its most bytes.
    pub cap: usize,
}

impl ReadSink for Capped<'_> {
    fn room(&self) -> usize {
        self.cap.saturating_sub(self.buf.len())
    }
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

/// Reads from `r` into `sink` in chunks of at most `min(sink.room(), READ_CHUNK)` bytes, until
/// the socket would block, closes, `budget` bytes were read, or the sink is full.
pub fn read_bounded(
    r: &mut impl Read,
    budget: usize,
    sink: &mut impl ReadSink,
) -> io::Result<ReadEnd> {
    // One chunk per thread, zeroed once: a fresh 64 KiB array per call cost a 64 KiB memset
    // per readable socket, a tenth of a node's CPU serving GETs.
    thread_local! {
        static CHUNK: std::cell::RefCell<Box<[u8]>> =
            std::cell::RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
    }
    CHUNK.with_borrow_mut(|chunk| read_chunks(r, budget, sink, chunk))
}

fn read_chunks(
    r: &mut impl Read,
    budget: usize,
    sink: &mut impl ReadSink,
    chunk: &mut [u8],
) -> io::Result<ReadEnd> {
    let mut total = 0;
    loop {
        if total >= budget {
            return Ok(ReadEnd::Budget);
        }
        let n = sink.room().min(READ_CHUNK);
        if n == 0 {
            return Ok(ReadEnd::Full);
        }
        match r.read(&mut chunk[..n]) {
            Ok(0) => return Ok(ReadEnd::Eof),
            Ok(got) => {
                total += got;
                sink.push(&chunk[..got]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadEnd::WouldBlock),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts `limit` bytes, then would block.
    struct Slow {
        got: Vec<u8>,
        limit: usize,
    }

    impl Write for Slow {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.limit - self.got.len()).min(3);
            if n == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn bounded_push_drops_whole_frames_only() {
        let mut out = OutBuf::default();
        assert_eq!(
            out.push_bounded::<()>(10, |b| {
                b.extend_from_slice(b"12345678");
                Ok(())
            }),
            Ok(true)
        );
        assert_eq!(
            out.push_bounded::<()>(10, |b| {
                b.extend_from_slice(b"abc");
                Ok(())
            }),
            Ok(false)
        );
        assert_eq!(out.len(), 8);
    }

    #[test]
    fn partial_writes_resume_in_order() {
        let mut out = OutBuf::default();
        out.append(b"hello world");
        let mut w = Slow {
            got: Vec::new(),
            limit: 5,
        };
        assert_eq!(out.write_to(&mut w).unwrap(), Flushed::Blocked);
        w.limit = 100;
        assert_eq!(out.write_to(&mut w).unwrap(), Flushed::All);
        assert_eq!(w.got, b"hello world");
        assert!(out.is_empty());
    }

    #[test]
    fn reads_stop_at_budget_and_at_eof() {
        let data = vec![1u8; 200_000];
        let mut buf = Vec::new();
        let end = read_bounded(
            &mut &data[..],
            100_000,
            &mut Capped {
                buf: &mut buf,
                cap: usize::MAX,
            },
        )
        .unwrap();
        assert_eq!((end, buf.len()), (ReadEnd::Budget, 131_072));
        let end = read_bounded(
            &mut &data[..10],
            100_000,
            &mut Capped {
                buf: &mut Vec::new(),
                cap: usize::MAX,
            },
        )
        .unwrap();
        assert_eq!(end, ReadEnd::Eof);
        let mut buf = Vec::new();
        let end = read_bounded(
            &mut &data[..],
            100_000,
            &mut Capped {
                buf: &mut buf,
                cap: 1000,
            },
        )
        .unwrap();
        assert_eq!((end, buf.len()), (ReadEnd::Full, 1000));
    }
}
