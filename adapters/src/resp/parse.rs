//! The RESP2 request parser: a pure function over a byte buffer, so it can be fuzzed.
//!
//! Accepts multibulk requests (`*N\r\n$len\r\narg\r\n...`, what every client library and
//! `redis-cli` send) and inline commands (`SET x 1\r\n`, handy with `nc`; split on whitespace,
//! no quoting). Allocation is bounded by the input: arguments are slices of the buffer, counts
//! and lengths are checked against [`Limits`] before anything is reserved.

use super::command::Command;

/// Size limits of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request, header and arguments included.
    pub max_request_bytes: usize,
    /// Most arguments in one request.
    pub max_args: usize,
}

/// Longest inline command line or multibulk header line (as in Redis: 64 KiB).
pub const MAX_INLINE_BYTES: usize = 64 * 1024;
/// Longest `*N` / `$N` header line; a longer one is malformed.
const MAX_HEADER_LINE: usize = 32;

/// Malformed or oversized input. The stream cannot be resynchronised: answer with
/// `-ERR Protocol error: ...` and close the connection.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RespError {
    /// The input does not follow RESP.
    #[error("Protocol error: {0}")]
    Malformed(&'static str),
    /// The request exceeds the server's size or argument-count limit (`max_request_bytes`,
    /// `max_args` of [`RespConfig`](crate::RespConfig)).
    #[error("Protocol error: request too large")]
    TooLarge,
}

/// Parses one request at the start of `buf`: `Ok(None)` if more bytes are needed, otherwise the
/// command and the number of bytes it used.
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Option<(Command, usize)>, RespError> {
    let parsed = match buf.first() {
        None => return Ok(None),
        Some(b'*') => parse_multibulk(buf, limits)?,
        Some(_) => parse_inline(buf, limits)?,
    };
    Ok(parsed.map(|(args, used)| (Command::from_args(&args), used)))
}

/// The raw arguments of one request and the bytes it used.
pub type RawRequest<'a> = (Vec<&'a [u8]>, usize);

/// Parses the framing only: the request's arguments as slices of `buf`.
///
/// The verdict depends only on the first `max_request_bytes` bytes (a request must fit in them),
/// so it is the same whether the rest of the stream is buffered or not: the server caps its read
/// buffer at `max_request_bytes + 1`, and a request that is both oversized and malformed past
/// the limit must not be `TooLarge` when read in chunks but `Malformed` when read whole.
pub fn parse_multibulk<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<RawRequest<'a>>, RespError> {
    let view = &buf[..buf.len().min(limits.max_request_bytes)];
    match parse_multibulk_within(view, limits)? {
        Some(request) => Ok(Some(request)),
        // The request needs bytes past the limit (or past what is buffered).
        None if buf.len() > view.len() => Err(RespError::TooLarge),
        None => Ok(None),
    }
}

/// [`parse_multibulk`] over a buffer already cut at the request limit: `Ok(None)` if the request
/// does not end inside `buf`.
fn parse_multibulk_within<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Option<RawRequest<'a>>, RespError> {
    let Some((count, mut pos)) = header(buf, 0, b'*')? else {
        return Ok(None);
    };
    if count > i64::try_from(limits.max_args).unwrap_or(i64::MAX) {
        return Err(RespError::TooLarge);
    }
    let mut args = Vec::new();
    for _ in 0..count.max(0) {
        let Some((len, after)) = header(buf, pos, b'$')? else {
            return Ok(None);
        };
        let len = usize::try_from(len).map_err(|_| RespError::Malformed("invalid bulk length"))?;
        if len > limits.max_request_bytes {
            return Err(RespError::TooLarge);
        }
        let end = after.checked_add(len).ok_or(RespError::TooLarge)?;
        let Some(arg) = buf.get(after..end) else {
            return Ok(None);
        };
        match buf.get(end..end + 2) {
            Some(b"\r\n") => {}
            Some(_) => return Err(RespError::Malformed("bulk string not terminated by CRLF")),
            None => return Ok(None),
        }
        args.push(arg);
        pos = end + 2;
    }
    Ok(Some((args, pos)))
}

/// Parses a `<marker><integer>\r\n` line at `pos`: `Ok(None)` if incomplete.
fn header(buf: &[u8], pos: usize, marker: u8) -> Result<Option<(i64, usize)>, RespError> {
    let Some(rest) = buf.get(pos..) else {
        return Ok(None);
    };
    let Some(&first) = rest.first() else {
        return Ok(None);
    };
    if first != marker {
        return Err(if marker == b'$' {
            RespError::Malformed("expected '$' before a bulk string")
        } else {
            RespError::Malformed("expected '*'")
        });
    }
    let window = &rest[..rest.len().min(MAX_HEADER_LINE)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if rest.len() >= MAX_HEADER_LINE {
            Err(RespError::Malformed("header line too long"))
        } else {
            Ok(None)
        };
    };
    match rest.get(cr + 1) {
        Some(b'\n') => {}
        Some(_) => return Err(RespError::Malformed("header line not terminated by CRLF")),
        None => return Ok(None),
    }
    let digits =
        std::str::from_utf8(&rest[1..cr]).map_err(|_| RespError::Malformed("invalid length"))?;
    let value: i64 = digits
        .parse()
        .map_err(|_| RespError::Malformed("invalid length"))?;
    Ok(Some((value, pos + cr + 2)))
}

/// Parses an inline command terminated by `\n` (optionally `\r\n`). The whole line, newline
/// included, must fit `min(max_request_bytes, MAX_INLINE_BYTES)`; a longer one is refused as
/// soon as that many bytes are buffered, so a capped read buffer never waits forever.
fn parse_inline<'a>(buf: &'a [u8], limits: &Limits) -> Result<Option<RawRequest<'a>>, RespError> {
    let limit = limits.max_request_bytes.min(MAX_INLINE_BYTES);
    let window = &buf[..buf.len().min(limit)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() >= limit {
            Err(RespError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let line = &buf[..nl];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args: Vec<&[u8]> = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|a| !a.is_empty())
        .collect();
    if args.len() > limits.max_args {
        return Err(RespError::TooLarge);
    }
    Ok(Some((args, nl + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_request_bytes: 1024,
        max_args: 8,
    };

    type Owned = Option<(Vec<Vec<u8>>, usize)>;

    fn args(buf: &[u8]) -> Result<Owned, RespError> {
        let parsed = match buf.first() {
            Some(b'*') => parse_multibulk(buf, &LIMITS)?,
            _ => parse_inline(buf, &LIMITS)?,
        };
        Ok(parsed.map(|(a, used)| (a.into_iter().map(<[u8]>::to_vec).collect(), used)))
    }

    #[test]
    fn multibulk_and_inline_requests_parse() {
        let req = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$3\r\n100\r\n*1\r\n$4\r\nPING\r\n";
        let (a, used) = args(req).unwrap().unwrap();
        assert_eq!(a, vec![b"SET".to_vec(), b"x".to_vec(), b"100".to_vec()]);
        assert_eq!(&req[used..], b"*1\r\n$4\r\nPING\r\n");
        let (a, used) = args(b"get  x\r\nrest").unwrap().unwrap();
        assert_eq!((a, used), (vec![b"get".to_vec(), b"x".to_vec()], 8));
        assert_eq!(args(b"*0\r\n").unwrap(), Some((vec![], 4)));
        assert_eq!(args(b"*1\r\n$0\r\n\r\n").unwrap(), Some((vec![vec![]], 10)));
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let req = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$3\r\n100\r\n";
        for cut in 0..req.len() {
            assert_eq!(args(&req[..cut]).unwrap(), None, "prefix of {cut} bytes");
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        for bad in [
            &b"*x\r\n"[..],
            b"*1\r\n#3\r\n",
            b"*1\r\n$-1\r\n",
            b"*1\r\n$3\r\nabcXY",
            b"*1\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            b"*99999999999999999999\r\n",
            b"*1\r\n$1\r\na\rx",
        ] {
            assert!(
                matches!(args(bad), Err(RespError::Malformed(_))),
                "{bad:?}: {:?}",
                args(bad)
            );
        }
    }

    #[test]
    fn limits_are_enforced_before_allocating() {
        assert_eq!(
            args(b"*9\r\n"),
            Err(RespError::TooLarge),
            "more args than allowed"
        );
        assert_eq!(
            args(b"*1\r\n$2000\r\n"),
            Err(RespError::TooLarge),
            "bulk longer than a request"
        );
        let mut big = b"*1\r\n$1015\r\n".to_vec();
        big.extend_from_slice(&[b'a'; 1015]);
        big.extend_from_slice(b"\r\n");
        assert_eq!(
            args(&big),
            Err(RespError::TooLarge),
            "whole request over the limit"
        );
        let many = b"*2000000000\r\n";
        assert_eq!(
            parse_multibulk(
                many,
                &Limits {
                    max_request_bytes: 1024,
                    max_args: usize::MAX
                }
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn the_verdict_does_not_depend_on_bytes_past_the_limit() {
        // A bulk string that ends past the 1024-byte limit and is not followed by CRLF: the
        // server, whose read buffer holds at most 1025 bytes, sees only "too large", and so must
        // a parse of the whole stream (found by the `resp` fuzz target).
        let mut req = b"*1\r\n$1014\r\n".to_vec();
        req.extend_from_slice(&[b'a'; 1014]);
        req.extend_from_slice(b"XY");
        assert!(req.len() > LIMITS.max_request_bytes + 1);
        let capped = &req[..LIMITS.max_request_bytes + 1];
        assert_eq!(parse(capped, &LIMITS), Err(RespError::TooLarge));
        assert_eq!(parse(&req, &LIMITS), Err(RespError::TooLarge));
        // Malformed inside the limit stays malformed, however much follows.
        let mut bad = b"*1\r\n$3\r\nabcXY".to_vec();
        assert!(matches!(parse(&bad, &LIMITS), Err(RespError::Malformed(_))));
        bad.extend_from_slice(&[b'z'; 2000]);
        assert!(matches!(parse(&bad, &LIMITS), Err(RespError::Malformed(_))));
    }

    #[test]
    fn inline_requests_obey_the_limits() {
        let tiny = Limits {
            max_request_bytes: 8,
            max_args: 2,
        };
        assert_eq!(
            parse(b"PING\r\n", &tiny).map(|r| r.map(|(_, n)| n)),
            Ok(Some(6))
        );
        assert_eq!(
            parse(b"PING x\r\n", &tiny).map(|r| r.map(|(_, n)| n)),
            Ok(Some(8))
        );
        assert_eq!(
            parse(b"PINGPING", &tiny),
            Err(RespError::TooLarge),
            "8 bytes and no newline yet"
        );
        assert_eq!(parse(b"PINGPIN", &tiny), Ok(None));
        assert_eq!(
            parse(b"a b c\n", &tiny),
            Err(RespError::TooLarge),
            "three arguments"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 24) as usize;
            let alphabet = b"*$\r\n0123-9aSETx ";
            let buf: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 60)) as usize + i) % alphabet.len()])
                .collect();
            let _ = parse(&buf, &LIMITS);
        }
    }
}
