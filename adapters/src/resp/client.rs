//! A small blocking RESP client: what the `level2pc get/put/...` subcommands and the tests use
//! to talk to a node, so nothing else needs installing.

pub use super::parse::RespError;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A decoded reply. The client speaks RESP2; a RESP3 reply is read as the RESP2 value Redis
/// would have sent instead: null (`_`) as a nil bulk string, a map (`%`) as a flat array of keys
/// and values, a set (`~`) or push (`>`) as an array, a boolean (`#`) as `:1`/`:0`, a double (`,`),
/// big number (`(`) or verbatim string (`=`, without its `txt:` prefix) as a bulk string, a bulk
/// error (`!`) as an error; attributes (`|`) are skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `+text`.
    Simple(String),
    /// `-text`.
    Error(String),
    /// `:n`.
    Integer(i64),
    /// `$n` bulk string; `None` for nil.
    Bulk(Option<Vec<u8>>),
    /// `*n` array; `None` for a nil array.
    Array(Option<Vec<Value>>),
}

/// Largest reply the client accepts.
pub const MAX_REPLY_BYTES: usize = 512 * 1024 * 1024;
/// Deepest nesting of arrays accepted.
const MAX_DEPTH: usize = 8;

/// Parses one reply at the start of `buf`: `Ok(None)` if incomplete.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Value, usize)>, RespError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Value, usize)>, RespError> {
    if depth > MAX_DEPTH {
        return Err(RespError::Malformed("reply nested too deeply"));
    }
    let Some((line, next)) = line_at(buf, pos)? else {
        return Ok(None);
    };
    let Some((&marker, text)) = line.split_first() else {
        return Err(RespError::Malformed("empty reply line"));
    };
    let text_str = || String::from_utf8_lossy(text).into_owned();
    match marker {
        b'+' => Ok(Some((Value::Simple(text_str()), next))),
        b'-' => Ok(Some((Value::Error(text_str()), next))),
        b':' => Ok(Some((Value::Integer(number(text)?), next))),
        b'$' => bulk_at(buf, next, number(text)?),
        b'*' | b'~' | b'>' => array_at(buf, next, number(text)?, depth),
        b'%' => array_at(buf, next, pairs(number(text)?)?, depth),
        b'_' if text.is_empty() => Ok(Some((Value::Bulk(None), next))),
        b'#' => match text {
            b"t" => Ok(Some((Value::Integer(1), next))),
            b"f" => Ok(Some((Value::Integer(0), next))),
            _ => Err(RespError::Malformed("invalid boolean")),
        },
        b',' | b'(' => Ok(Some((Value::Bulk(Some(text.to_vec())), next))),
        b'=' => Ok(bulk_at(buf, next, number(text)?)?.map(|(v, end)| (verbatim(v), end))),
        b'!' => Ok(bulk_at(buf, next, number(text)?)?.map(|(v, end)| (bulk_error(v), end))),
        b'|' => {
            // Attributes describe the reply that follows: skip them, return that reply.
            let Some((_, after)) = array_at(buf, next, pairs(number(text)?)?, depth)? else {
                return Ok(None);
            };
            parse_at(buf, after, depth + 1)
        }
        _ => Err(RespError::Malformed("unknown reply type")),
    }
}

/// The number of elements of a map or attribute of `n` pairs.
fn pairs(n: i64) -> Result<i64, RespError> {
    if n < 0 {
        return Err(RespError::Malformed("negative map length"));
    }
    n.checked_mul(2).ok_or(RespError::TooLarge)
}

/// A verbatim string's text, without its three-letter format and colon.
fn verbatim(v: Value) -> Value {
    match v {
        Value::Bulk(Some(data)) if data.get(3) == Some(&b':') => {
            Value::Bulk(Some(data.get(4..).unwrap_or_default().to_vec()))
        }
        other => other,
    }
}

/// A bulk error as a one-line error.
fn bulk_error(v: Value) -> Value {
    match v {
        Value::Bulk(Some(data)) => Value::Error(
            String::from_utf8_lossy(&data)
                .chars()
                .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
                .collect(),
        ),
        _ => Value::Error(String::new()),
    }
}

fn bulk_at(buf: &[u8], pos: usize, len: i64) -> Result<Option<(Value, usize)>, RespError> {
    if len < 0 {
        return Ok(Some((Value::Bulk(None), pos)));
    }
    let len = usize::try_from(len).map_err(|_| RespError::TooLarge)?;
    if len > MAX_REPLY_BYTES {
        return Err(RespError::TooLarge);
    }
    let end = pos + len;
    let (Some(data), Some(crlf)) = (buf.get(pos..end), buf.get(end..end + 2)) else {
        return Ok(None);
    };
    if crlf != b"\r\n" {
        return Err(RespError::Malformed("bulk reply not terminated by CRLF"));
    }
    Ok(Some((Value::Bulk(Some(data.to_vec())), end + 2)))
}

fn array_at(
    buf: &[u8],
    mut pos: usize,
    len: i64,
    depth: usize,
) -> Result<Option<(Value, usize)>, RespError> {
    if len < 0 {
        return Ok(Some((Value::Array(None), pos)));
    }
    let mut items = Vec::new();
    for _ in 0..len {
        let Some((item, next)) = parse_at(buf, pos, depth + 1)? else {
            return Ok(None);
        };
        items.push(item);
        pos = next;
    }
    Ok(Some((Value::Array(Some(items)), pos)))
}

fn line_at(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, RespError> {
    let Some(rest) = buf.get(pos..) else {
        return Ok(None);
    };
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(Some((&rest[..i], pos + i + 2))),
        None => Ok(None),
    }
}

fn number(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(RespError::Malformed("invalid number"))
}

/// Why a client call failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed (or timed out).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server's reply is not valid RESP.
    #[error("bad reply from server: {0}")]
    Reply(#[from] RespError),
    /// The server closed the connection before replying.
    #[error("connection closed by the server")]
    Closed,
}

/// A blocking connection to one node's RESP port.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to `addr`; every later read or write times out after `timeout`.
    pub fn connect(addr: impl ToSocketAddrs, timeout: Duration) -> Result<Client, ClientError> {
        let addr = addr.to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "address resolves to nothing",
            )
        })?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: Vec::new(),
        })
    }

    /// Sends one command and waits for its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Value, ClientError> {
        self.send(args)?;
        self.recv()
    }

    /// Sends one command without waiting (pipelining); read replies with [`Client::recv`].
    pub fn send(&mut self, args: &[&[u8]]) -> Result<(), ClientError> {
        self.stream.write_all(&encode_command(args))?;
        Ok(())
    }

    /// Waits for the next reply.
    pub fn recv(&mut self) -> Result<Value, ClientError> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((value, used)) = parse_reply(&self.buf)? {
                self.buf.drain(..used);
                return Ok(value);
            }
            if self.buf.len() > MAX_REPLY_BYTES {
                return Err(RespError::TooLarge.into());
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Encodes a command as a RESP multibulk request.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_parse_and_prefixes_are_incomplete() {
        let buf = b"*3\r\n$1\r\na\r\n$-1\r\n:7\r\n+OK\r\n";
        let (v, used) = parse_reply(buf).unwrap().unwrap();
        let items = vec![
            Value::Bulk(Some(b"a".to_vec())),
            Value::Bulk(None),
            Value::Integer(7),
        ];
        assert_eq!(v, Value::Array(Some(items)));
        assert_eq!(&buf[used..], b"+OK\r\n");
        for cut in 0..used {
            assert_eq!(parse_reply(&buf[..cut]).unwrap(), None);
        }
        assert_eq!(
            parse_reply(b"-ERR x\r\n").unwrap(),
            Some((Value::Error("ERR x".into()), 8))
        );
        assert!(parse_reply(b"?\r\n").is_err());
    }

    #[test]
    fn resp3_replies_read_as_their_resp2_equivalents() {
        let one = |buf: &[u8]| {
            let (v, used) = parse_reply(buf).unwrap().unwrap();
            assert_eq!(used, buf.len(), "{buf:?}");
            v
        };
        let bulk = |s: &str| Value::Bulk(Some(s.as_bytes().to_vec()));
        assert_eq!(one(b"_\r\n"), Value::Bulk(None));
        assert_eq!(
            one(b"%1\r\n$5\r\nproto\r\n:3\r\n"),
            Value::Array(Some(vec![bulk("proto"), Value::Integer(3)]))
        );
        assert_eq!(
            one(b"~2\r\n+a\r\n+b\r\n"),
            Value::Array(Some(vec![
                Value::Simple("a".into()),
                Value::Simple("b".into())
            ]))
        );
        assert_eq!(one(b"#t\r\n"), Value::Integer(1));
        assert_eq!(one(b"#f\r\n"), Value::Integer(0));
        assert_eq!(one(b",1.5\r\n"), bulk("1.5"));
        assert_eq!(
            one(b"(12345678901234567890\r\n"),
            bulk("12345678901234567890")
        );
        assert_eq!(one(b"=9\r\ntxt:hello\r\n"), bulk("hello"));
        assert_eq!(one(b"!5\r\nERR x\r\n"), Value::Error("ERR x".into()));
        assert_eq!(one(b"|1\r\n+k\r\n+v\r\n:7\r\n"), Value::Integer(7));
        assert_eq!(parse_reply(b"%1\r\n+k\r\n").unwrap(), None);
        assert_eq!(parse_reply(b"|1\r\n+k\r\n+v\r\n").unwrap(), None);
        assert!(parse_reply(b"#x\r\n").is_err());
        assert!(parse_reply(b"%-1\r\n").is_err());
        assert!(parse_reply(b"%9223372036854775807\r\n").is_err());
    }

    #[test]
    fn commands_encode_as_multibulk() {
        assert_eq!(
            encode_command(&[b"GET", b"x"]),
            b"*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"
        );
    }
}
