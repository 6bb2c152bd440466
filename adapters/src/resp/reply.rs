//! RESP2 reply encoding and the mapping from engine results to replies.
//!
//! | engine result                    | reply                                               |
//! |----------------------------------|-----------------------------------------------------|
//! | `Written`                        | `+OK` (SET, MSET), `:n` (DEL), array (EXEC)          |
//! | `Value` / `Values` / `Entries`   | bulk or nil / array / flat array `k1 v1 k2 v2 ...`   |
//! | `Unavailable(reason)`            | `-UNAVAILABLE <reason>`: nothing was written          |
//! | `Indeterminate`                  | `-INDETERMINATE ...`: the write may still commit      |
//! | node stopped (storage failure)   | `-UNAVAILABLE node stopped: <reason>`                 |

use level2pc::{OpResult, Unavailable};

/// What a pending command's reply looks like once the engine answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    /// `GET`: bulk string or nil.
    Get,
    /// `SET`, `MSET`: `+OK`.
    Ok,
    /// `DEL`: the number of keys named.
    Del(usize),
    /// `MGET`: array of bulk strings or nils.
    MGet,
    /// `EXISTS`: how many of the keys exist.
    Exists,
    /// `RANGE`: flat array of keys and values.
    Range,
    /// `EXEC`: one reply per queued command.
    Exec(Vec<ExecItem>),
}

/// One queued command's reply inside `EXEC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecItem {
    /// A `SET`: `+OK`.
    Set,
    /// A `DEL` of this many keys: `:n`.
    Del(usize),
}

/// `+s\r\n`.
pub fn simple(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 3);
    out.push(b'+');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// `-msg\r\n`, with any CR or LF in `msg` replaced so the reply stays one line.
pub fn error(msg: &str) -> Vec<u8> {
    let clean: String = msg
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    let mut out = Vec::with_capacity(clean.len() + 3);
    out.push(b'-');
    out.extend_from_slice(clean.as_bytes());
    out.extend_from_slice(b"\r\n");
    out
}

/// `:n\r\n`.
pub fn integer(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

/// Appends a bulk string, or nil for `None`.
pub fn push_bulk(out: &mut Vec<u8>, value: Option<&[u8]>) {
    match value {
        None => out.extend_from_slice(b"$-1\r\n"),
        Some(v) => {
            out.extend_from_slice(format!("${}\r\n", v.len()).as_bytes());
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A bulk string, or nil.
pub fn bulk(value: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    push_bulk(&mut out, value);
    out
}

/// Appends an array header.
pub fn push_array_header(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(format!("*{len}\r\n").as_bytes());
}

/// The error for an `Unavailable` result.
pub fn unavailable(reason: Unavailable) -> Vec<u8> {
    error(&format!("UNAVAILABLE {reason}"))
}

/// The error for an `Indeterminate` result.
pub fn indeterminate() -> Vec<u8> {
    error("INDETERMINATE the write did not finish in time; it may still commit (read the key to find out)")
}

/// The error for a node that failed stop.
pub fn stopped(reason: &str) -> Vec<u8> {
    error(&format!("UNAVAILABLE node stopped: {reason}"))
}

/// Encodes the engine's answer to a command of kind `kind`.
pub fn format(kind: &ReplyKind, result: &OpResult) -> Vec<u8> {
    match (kind, result) {
        (_, OpResult::Unavailable(reason)) => unavailable(*reason),
        (_, OpResult::Indeterminate) => indeterminate(),
        (ReplyKind::Ok, OpResult::Written { .. }) => simple("OK"),
        (ReplyKind::Del(n), OpResult::Written { .. }) => {
            integer(i64::try_from(*n).unwrap_or(i64::MAX))
        }
        (ReplyKind::Exec(items), OpResult::Written { .. }) => exec(items),
        (ReplyKind::Get, OpResult::Value(v)) => bulk(v.as_deref()),
        (ReplyKind::MGet, OpResult::Values(vs)) => {
            let mut out = Vec::new();
            push_array_header(&mut out, vs.len());
            for v in vs {
                push_bulk(&mut out, v.as_deref());
            }
            out
        }
        (ReplyKind::Exists, OpResult::Values(vs)) => {
            integer(vs.iter().filter(|v| v.is_some()).count() as i64)
        }
        (ReplyKind::Range, OpResult::Entries(entries)) => {
            let mut out = Vec::new();
            push_array_header(&mut out, entries.len() * 2);
            for (k, v) in entries {
                push_bulk(&mut out, Some(k));
                push_bulk(&mut out, Some(v));
            }
            out
        }
        _ => error("ERR internal error: unexpected result kind"),
    }
}

fn exec(items: &[ExecItem]) -> Vec<u8> {
    let mut out = Vec::new();
    push_array_header(&mut out, items.len());
    for item in items {
        match item {
            ExecItem::Set => out.extend_from_slice(b"+OK\r\n"),
            ExecItem::Del(n) => {
                out.extend_from_slice(&integer(i64::try_from(*n).unwrap_or(i64::MAX)))
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use level2pc::{Bytes, Ts};

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    #[test]
    fn results_map_to_redis_replies() {
        let written = OpResult::Written { ts: Ts::ZERO };
        assert_eq!(format(&ReplyKind::Ok, &written), b"+OK\r\n");
        assert_eq!(format(&ReplyKind::Del(2), &written), b":2\r\n");
        assert_eq!(format(&ReplyKind::Get, &OpResult::Value(None)), b"$-1\r\n");
        assert_eq!(
            format(&ReplyKind::Get, &OpResult::Value(Some(b("100")))),
            b"$3\r\n100\r\n"
        );
        assert_eq!(
            format(
                &ReplyKind::MGet,
                &OpResult::Values(vec![Some(b("1")), None])
            ),
            b"*2\r\n$1\r\n1\r\n$-1\r\n"
        );
        assert_eq!(
            format(
                &ReplyKind::Exists,
                &OpResult::Values(vec![Some(b("1")), None])
            ),
            b":1\r\n"
        );
        assert_eq!(
            format(
                &ReplyKind::Range,
                &OpResult::Entries(vec![(b("a"), b("1"))])
            ),
            b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            format(
                &ReplyKind::Exec(vec![ExecItem::Set, ExecItem::Del(1)]),
                &written
            ),
            b"*2\r\n+OK\r\n:1\r\n"
        );
    }

    #[test]
    fn failures_map_to_typed_errors() {
        let r = format(
            &ReplyKind::Ok,
            &OpResult::Unavailable(Unavailable::NotReady),
        );
        assert_eq!(r, b"-UNAVAILABLE not ready: required peers unreachable\r\n");
        assert!(format(&ReplyKind::Ok, &OpResult::Indeterminate).starts_with(b"-INDETERMINATE "));
        assert_eq!(error("a\r\nb"), b"-a  b\r\n");
    }
}
