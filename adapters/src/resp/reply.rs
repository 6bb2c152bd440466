//! Reply encoding (RESP2 and RESP3) and the mapping from engine results to replies.
//!
//! | engine result                    | reply                                               |
//! |----------------------------------|-----------------------------------------------------|
//! | `Written`                        | `+OK` (SET, MSET), array (EXEC: `+OK` per SET, null per DEL) |
//! | `Value` / `Values` / `Entries`   | bulk or null / array / flat array `k1 v1 k2 v2 ...`  |
//! | `Value` for `TYPE` / `STRLEN`    | `+string` or `+none` / `:length`                     |
//! | `Changed`                        | `:1`/`:0` (DEL of one key, SETNX, CAS), `+OK` or null (SET NX/XX), the previous value (GETSET, GETDEL, SET ... GET), the new value `:n` (INCR, DECR, INCRBY, DECRBY) |
//! | `Rejected(reason)`               | `-ERR <reason>` (`value is not an integer or out of range`, `increment or decrement would overflow`): nothing was written |
//! | `Unavailable(reason)`            | `-UNAVAILABLE <reason>`: nothing was written          |
//! | `Indeterminate`                  | `-INDETERMINATE ...`: the write may still commit      |
//! | node stopped (storage failure)   | `-UNAVAILABLE node stopped: <reason>`                 |
//!
//! A connection speaks RESP2 until it sends `HELLO 3`. RESP3 changes only how some values are
//! written, exactly where Redis changes them: null is `_` (RESP2: `$-1` or `*-1`), a map is `%`
//! (RESP2: a flat array of keys and values), a set is `~` (RESP2: an array), a boolean is `#t`/`#f`
//! (RESP2: `:1`/`:0`), a double is `,` (RESP2: a bulk string). [`Frame`] builds such a value once
//! and writes it for either protocol.

use level2pc::{OpResult, Ts, Unavailable};

/// The protocol a connection speaks (chosen with `HELLO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Proto {
    /// RESP2, the default of every new connection.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl Proto {
    /// The protocol version number (`2` or `3`), as `HELLO` reports it.
    pub fn version(self) -> i64 {
        match self {
            Proto::Resp2 => 2,
            Proto::Resp3 => 3,
        }
    }
}

/// How a pending command's reply is written once the engine answers: its shape and the
/// connection's protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplyKind {
    /// What the command answers.
    pub shape: Shape,
    /// The protocol of the connection that asked.
    pub proto: Proto,
}

impl ReplyKind {
    /// A reply of `shape` for a connection speaking `proto`.
    pub fn new(shape: Shape, proto: Proto) -> ReplyKind {
        ReplyKind { shape, proto }
    }
}

/// What a command answers, given the engine's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `GET`: bulk string or null.
    Get,
    /// `SET`, `MSET`: `+OK`.
    Ok,
    /// A read-modify-write answered by whether it took effect: `:1` or `:0` (`DEL` of one key:
    /// whether it existed; `SETNX`, `CAS`).
    Applied,
    /// A read-modify-write answered `+OK` if it took effect, else null (`SET` with `NX`/`XX`).
    OkOrNull,
    /// A read-modify-write answered by the value it found: bulk string or null (`GETSET`,
    /// `GETDEL`, `SET ... GET`).
    Previous,
    /// A read-modify-write answered by the integer it left (`INCR`, `DECR`, `INCRBY`, `DECRBY`).
    Integer,
    /// `MGET`: array of bulk strings or nulls.
    MGet,
    /// `EXISTS`: how many of the keys exist.
    Exists,
    /// `RANGE`: flat array of keys and values.
    Range,
    /// `EXEC`: one reply per queued command.
    Exec(Vec<ExecItem>),
    /// `EXEC` under `WATCH` run as one conditional write (module `resp::watch`): null array if
    /// the watched key changed, else one reply per queued command (a `DEL` counts whether the
    /// key existed at that point, known from the value the write replaced).
    WatchedExec(Vec<ExecItem>),
    /// `EXEC` under `WATCH` with nothing queued: `*0` if the keys are still at these versions,
    /// else a null array.
    Unchanged(Vec<Ts>),
    /// The versions `WATCH` reads, for the server to keep (never sent to a client): an array
    /// of postcard-encoded timestamps.
    Versions,
    /// `TYPE`: `+string` or `+none`.
    Type,
    /// `STRLEN`: the value's length, 0 for a missing key.
    StrLen,
    /// One chunk of a key iteration (`DBSIZE`, `KEYS`, `SCAN`): an array of the keys of a range
    /// read, without their values. The server reads it back (module `resp::scan`).
    Keys,
}

/// One queued command's reply inside `EXEC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecItem {
    /// A `SET`: `+OK`.
    Set,
    /// A `DEL`: null in a plain `EXEC`, whose batch deletes blindly (it does not read, and no
    /// read can tell which keys existed at the batch's instant); under `WATCH`, whether the key
    /// existed, which the conditional write knows.
    Del,
}

/// A reply value, written for either protocol by [`Frame::encode`]. Its size is whatever the
/// caller built: frames are made from bounded inputs (requests, the command table, a bounded
/// number of keys).
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// `+text` (must not contain CR or LF; [`Frame::encode`] replaces them).
    Simple(String),
    /// `-text`, with the error code first (`ERR ...`).
    Error(String),
    /// `:n`.
    Int(i64),
    /// A bulk string.
    Bulk(Vec<u8>),
    /// A missing value: RESP3 `_`, RESP2 `$-1`.
    Null,
    /// A missing array: RESP3 `_`, RESP2 `*-1`.
    NullArray,
    /// An array.
    Array(Vec<Frame>),
    /// A map: RESP3 `%`, RESP2 a flat array `k1 v1 k2 v2 ...`.
    Map(Vec<(Frame, Frame)>),
    /// A set: RESP3 `~`, RESP2 an array.
    Set(Vec<Frame>),
    /// A boolean: RESP3 `#t`/`#f`, RESP2 `:1`/`:0`.
    Bool(bool),
    /// A double: RESP3 `,`, RESP2 a bulk string (`inf`, `-inf`, `nan` for the special values).
    Double(f64),
}

impl Frame {
    /// A bulk string from text.
    pub fn text(s: &str) -> Frame {
        Frame::Bulk(s.as_bytes().to_vec())
    }

    /// Appends the value as `proto` writes it.
    pub fn encode(&self, proto: Proto, out: &mut Vec<u8>) {
        let resp3 = proto == Proto::Resp3;
        match self {
            Frame::Simple(s) => out.extend_from_slice(&simple(s)),
            Frame::Error(s) => out.extend_from_slice(&error(s)),
            Frame::Int(n) => out.extend_from_slice(&integer(*n)),
            Frame::Bulk(b) => push_bulk(out, Some(b)),
            Frame::Null => push_null(out, proto),
            Frame::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(items) => {
                push_array_header(out, items.len());
                items.iter().for_each(|f| f.encode(proto, out));
            }
            Frame::Set(items) => {
                push_header(out, if resp3 { b'~' } else { b'*' }, items.len());
                items.iter().for_each(|f| f.encode(proto, out));
            }
            Frame::Map(pairs) => {
                if resp3 {
                    push_header(out, b'%', pairs.len());
                } else {
                    push_array_header(out, pairs.len().saturating_mul(2));
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Frame::Bool(b) if resp3 => {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" })
            }
            Frame::Bool(b) => out.extend_from_slice(&integer(i64::from(*b))),
            Frame::Double(d) => {
                let text = double_text(*d);
                if resp3 {
                    out.push(b',');
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    push_bulk(out, Some(text.as_bytes()));
                }
            }
        }
    }

    /// The value as `proto` writes it.
    pub fn to_bytes(&self, proto: Proto) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(proto, &mut out);
        out
    }
}

/// A double as RESP3 writes it: the shortest text that reads back to the same value, or `inf`,
/// `-inf`, `nan`.
fn double_text(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{d}")
    }
}

/// `+s\r\n`, with any CR or LF in `s` replaced so the reply stays one line.
pub fn simple(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 3);
    out.push(b'+');
    out.extend(
        s.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
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
    push_header(out, b'*', len);
}

/// Appends `<marker><len>\r\n`.
fn push_header(out: &mut Vec<u8>, marker: u8, len: usize) {
    out.push(marker);
    out.extend_from_slice(format!("{len}\r\n").as_bytes());
}

/// Appends a missing value: `_` in RESP3, a nil bulk string in RESP2.
pub fn push_null(out: &mut Vec<u8>, proto: Proto) {
    match proto {
        Proto::Resp2 => out.extend_from_slice(b"$-1\r\n"),
        Proto::Resp3 => out.extend_from_slice(b"_\r\n"),
    }
}

/// Appends a bulk string, or a missing value for `None` as `proto` writes it.
pub fn push_value(out: &mut Vec<u8>, value: Option<&[u8]>, proto: Proto) {
    match value {
        Some(v) => push_bulk(out, Some(v)),
        None => push_null(out, proto),
    }
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
    let proto = kind.proto;
    match (&kind.shape, result) {
        (_, OpResult::Unavailable(reason)) => unavailable(*reason),
        (_, OpResult::Indeterminate) => indeterminate(),
        (_, OpResult::Rejected(reason)) => error(&format!("ERR {reason}")),
        (Shape::Ok, OpResult::Written { .. }) => simple("OK"),
        (Shape::Exec(items), OpResult::Written { .. }) => exec(items, proto),
        (Shape::WatchedExec(_), OpResult::Changed { applied: false, .. }) => {
            Frame::NullArray.to_bytes(proto)
        }
        (Shape::WatchedExec(items), OpResult::Changed { previous, .. }) => {
            watched_exec(items, previous.is_some())
        }
        (Shape::Unchanged(watched), OpResult::Versions(now)) if watched == now => {
            b"*0\r\n".to_vec()
        }
        (Shape::Unchanged(_), OpResult::Versions(_)) => Frame::NullArray.to_bytes(proto),
        (Shape::Versions, OpResult::Versions(versions)) => {
            let mut out = Vec::new();
            push_array_header(&mut out, versions.len());
            for ts in versions {
                match postcard::to_allocvec(ts) {
                    Ok(bytes) => push_bulk(&mut out, Some(&bytes)),
                    Err(_) => return error("ERR internal error: unencodable version"),
                }
            }
            out
        }
        (Shape::Applied, OpResult::Changed { applied, .. }) => integer(i64::from(*applied)),
        (Shape::OkOrNull, OpResult::Changed { applied: true, .. }) => simple("OK"),
        (Shape::OkOrNull, OpResult::Changed { applied: false, .. }) => Frame::Null.to_bytes(proto),
        (Shape::Previous, OpResult::Changed { previous, .. }) => {
            let mut out = Vec::new();
            push_value(&mut out, previous.as_deref(), proto);
            out
        }
        (Shape::Integer, OpResult::Changed { current, .. }) => {
            match current
                .as_deref()
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<i64>().ok())
            {
                Some(n) => integer(n),
                None => error("ERR internal error: an increment left no integer"),
            }
        }
        (Shape::Get, OpResult::Value(v)) => {
            let mut out = Vec::new();
            push_value(&mut out, v.as_deref(), proto);
            out
        }
        (Shape::Type, OpResult::Value(v)) => simple(if v.is_some() { "string" } else { "none" }),
        (Shape::StrLen, OpResult::Value(v)) => integer(
            v.as_ref()
                .map_or(0, |v| i64::try_from(v.len()).unwrap_or(i64::MAX)),
        ),
        (Shape::MGet, OpResult::Values(vs)) => {
            let mut out = Vec::new();
            push_array_header(&mut out, vs.len());
            for v in vs {
                push_value(&mut out, v.as_deref(), proto);
            }
            out
        }
        (Shape::Exists, OpResult::Values(vs)) => {
            integer(vs.iter().filter(|v| v.is_some()).count() as i64)
        }
        (Shape::Range, OpResult::Entries(entries)) => {
            let mut out = Vec::new();
            push_array_header(&mut out, entries.len().saturating_mul(2));
            for (k, v) in entries {
                push_bulk(&mut out, Some(k));
                push_bulk(&mut out, Some(v));
            }
            out
        }
        (Shape::Keys, OpResult::Entries(entries)) => {
            let mut out = Vec::new();
            push_array_header(&mut out, entries.len());
            for (k, _) in entries {
                push_bulk(&mut out, Some(k));
            }
            out
        }
        _ => error("ERR internal error: unexpected result kind"),
    }
}

fn exec(items: &[ExecItem], proto: Proto) -> Vec<u8> {
    let mut out = Vec::new();
    push_array_header(&mut out, items.len());
    for item in items {
        match item {
            ExecItem::Set => out.extend_from_slice(b"+OK\r\n"),
            ExecItem::Del => push_null(&mut out, proto),
        }
    }
    out
}

/// The replies of a watched `EXEC` that applied, on a key that existed before it iff
/// `existed`.
fn watched_exec(items: &[ExecItem], mut existed: bool) -> Vec<u8> {
    let mut out = Vec::new();
    push_array_header(&mut out, items.len());
    for item in items {
        match item {
            ExecItem::Set => out.extend_from_slice(b"+OK\r\n"),
            ExecItem::Del => out.extend_from_slice(&integer(i64::from(existed))),
        }
        existed = *item == ExecItem::Set;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use level2pc::{Bytes, RmwError, Ts};

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    fn k2(shape: Shape) -> ReplyKind {
        ReplyKind::new(shape, Proto::Resp2)
    }

    fn k3(shape: Shape) -> ReplyKind {
        ReplyKind::new(shape, Proto::Resp3)
    }

    #[test]
    fn watched_exec_replies() {
        let items = Shape::WatchedExec(vec![ExecItem::Del, ExecItem::Set, ExecItem::Del]);
        let changed = |applied, previous: Option<&str>| OpResult::Changed {
            applied,
            previous: previous.map(b),
            current: None,
            ts: None,
        };
        assert_eq!(
            format(&k2(items.clone()), &changed(true, Some("v"))),
            b"*3\r\n:1\r\n+OK\r\n:1\r\n"
        );
        assert_eq!(
            format(&k2(items.clone()), &changed(true, None)),
            b"*3\r\n:0\r\n+OK\r\n:1\r\n"
        );
        assert_eq!(
            format(&k2(items.clone()), &changed(false, Some("v"))),
            b"*-1\r\n"
        );
        assert_eq!(format(&k3(items), &changed(false, None)), b"_\r\n");
        let at = Ts::new(2, level2pc::NodeId(1), level2pc::BootInc(1));
        let unchanged = k2(Shape::Unchanged(vec![at, Ts::ZERO]));
        assert_eq!(
            format(&unchanged, &OpResult::Versions(vec![at, Ts::ZERO])),
            b"*0\r\n"
        );
        assert_eq!(
            format(&unchanged, &OpResult::Versions(vec![at, at])),
            b"*-1\r\n"
        );
    }

    #[test]
    fn results_map_to_redis_replies() {
        let written = OpResult::Written { ts: Ts::ZERO };
        assert_eq!(format(&k2(Shape::Ok), &written), b"+OK\r\n");
        assert_eq!(format(&k2(Shape::Get), &OpResult::Value(None)), b"$-1\r\n");
        assert_eq!(
            format(&k2(Shape::Get), &OpResult::Value(Some(b("100")))),
            b"$3\r\n100\r\n"
        );
        assert_eq!(
            format(
                &k2(Shape::MGet),
                &OpResult::Values(vec![Some(b("1")), None])
            ),
            b"*2\r\n$1\r\n1\r\n$-1\r\n"
        );
        assert_eq!(
            format(
                &k2(Shape::Exists),
                &OpResult::Values(vec![Some(b("1")), None])
            ),
            b":1\r\n"
        );
        assert_eq!(
            format(
                &k2(Shape::Range),
                &OpResult::Entries(vec![(b("a"), b("1"))])
            ),
            b"*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            format(
                &k2(Shape::Exec(vec![ExecItem::Set, ExecItem::Del])),
                &written
            ),
            b"*2\r\n+OK\r\n$-1\r\n"
        );
        assert_eq!(
            format(&k2(Shape::Type), &OpResult::Value(Some(b("x")))),
            b"+string\r\n"
        );
        assert_eq!(
            format(&k3(Shape::Type), &OpResult::Value(None)),
            b"+none\r\n"
        );
        assert_eq!(
            format(&k2(Shape::StrLen), &OpResult::Value(Some(b("hello")))),
            b":5\r\n"
        );
        assert_eq!(
            format(&k2(Shape::StrLen), &OpResult::Value(None)),
            b":0\r\n"
        );
        assert_eq!(
            format(
                &k2(Shape::Keys),
                &OpResult::Entries(vec![(b("a"), b("1")), (b("bc"), b("2"))])
            ),
            b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n"
        );
        assert!(format(&k2(Shape::Get), &written).starts_with(b"-ERR internal error"));
    }

    #[test]
    fn resp3_writes_null_as_underscore() {
        assert_eq!(format(&k3(Shape::Get), &OpResult::Value(None)), b"_\r\n");
        assert_eq!(
            format(&k3(Shape::Get), &OpResult::Value(Some(b("v")))),
            b"$1\r\nv\r\n"
        );
        assert_eq!(
            format(
                &k3(Shape::MGet),
                &OpResult::Values(vec![None, Some(b("1"))])
            ),
            b"*2\r\n_\r\n$1\r\n1\r\n"
        );
    }

    #[test]
    fn frames_encode_for_both_protocols() {
        let map = Frame::Map(vec![
            (Frame::text("proto"), Frame::Int(3)),
            (Frame::text("modules"), Frame::Array(vec![])),
        ]);
        assert_eq!(
            map.to_bytes(Proto::Resp3),
            b"%2\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n"
        );
        assert_eq!(
            map.to_bytes(Proto::Resp2),
            b"*4\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n"
        );
        let set = Frame::Set(vec![Frame::Simple("readonly".into())]);
        assert_eq!(set.to_bytes(Proto::Resp3), b"~1\r\n+readonly\r\n");
        assert_eq!(set.to_bytes(Proto::Resp2), b"*1\r\n+readonly\r\n");
        assert_eq!(Frame::Bool(true).to_bytes(Proto::Resp3), b"#t\r\n");
        assert_eq!(Frame::Bool(false).to_bytes(Proto::Resp3), b"#f\r\n");
        assert_eq!(Frame::Bool(true).to_bytes(Proto::Resp2), b":1\r\n");
        assert_eq!(Frame::Double(1.5).to_bytes(Proto::Resp3), b",1.5\r\n");
        assert_eq!(Frame::Double(1.5).to_bytes(Proto::Resp2), b"$3\r\n1.5\r\n");
        assert_eq!(
            Frame::Double(f64::NEG_INFINITY).to_bytes(Proto::Resp3),
            b",-inf\r\n"
        );
        assert_eq!(Frame::Double(f64::NAN).to_bytes(Proto::Resp3), b",nan\r\n");
        assert_eq!(Frame::Null.to_bytes(Proto::Resp3), b"_\r\n");
        assert_eq!(Frame::Null.to_bytes(Proto::Resp2), b"$-1\r\n");
        assert_eq!(Frame::NullArray.to_bytes(Proto::Resp3), b"_\r\n");
        assert_eq!(Frame::NullArray.to_bytes(Proto::Resp2), b"*-1\r\n");
        assert_eq!(
            Frame::Simple("a\r\nb".into()).to_bytes(Proto::Resp3),
            b"+a  b\r\n"
        );
        assert_eq!(
            Frame::Error("ERR x".into()).to_bytes(Proto::Resp3),
            b"-ERR x\r\n"
        );
    }

    #[test]
    fn failures_map_to_typed_errors() {
        let r = format(
            &k2(Shape::Ok),
            &OpResult::Unavailable(Unavailable::NotReady),
        );
        assert_eq!(r, b"-UNAVAILABLE not ready: required peers unreachable\r\n");
        assert!(format(&k3(Shape::Ok), &OpResult::Indeterminate).starts_with(b"-INDETERMINATE "));
        assert_eq!(error("a\r\nb"), b"-a  b\r\n");
    }

    fn changed(applied: bool, previous: Option<&str>, current: Option<&str>) -> OpResult {
        OpResult::Changed {
            applied,
            previous: previous.map(b),
            current: current.map(b),
            ts: None,
        }
    }

    #[test]
    fn read_modify_write_results_in_both_protocols() {
        for (proto, null) in [(Proto::Resp2, &b"$-1\r\n"[..]), (Proto::Resp3, b"_\r\n")] {
            let k = |shape| ReplyKind::new(shape, proto);
            // INCR and friends: the value left, as an integer.
            assert_eq!(
                format(&k(Shape::Integer), &changed(true, Some("41"), Some("42"))),
                b":42\r\n"
            );
            assert_eq!(
                format(
                    &k(Shape::Integer),
                    &changed(true, None, Some("-9223372036854775808"))
                ),
                b":-9223372036854775808\r\n"
            );
            assert!(format(&k(Shape::Integer), &changed(true, None, Some("x")))
                .starts_with(b"-ERR internal error"));
            // SETNX, CAS, DEL of one key: whether it took effect.
            assert_eq!(
                format(&k(Shape::Applied), &changed(true, None, Some("v"))),
                b":1\r\n"
            );
            assert_eq!(
                format(&k(Shape::Applied), &changed(false, Some("v"), Some("v"))),
                b":0\r\n"
            );
            // SET NX / XX: +OK or null.
            assert_eq!(
                format(&k(Shape::OkOrNull), &changed(true, None, Some("v"))),
                b"+OK\r\n"
            );
            assert_eq!(
                format(&k(Shape::OkOrNull), &changed(false, Some("w"), Some("w"))),
                null
            );
            // GETSET, GETDEL, SET ... GET: the value found, whether or not it was changed.
            assert_eq!(
                format(
                    &k(Shape::Previous),
                    &changed(true, Some("old"), Some("new"))
                ),
                b"$3\r\nold\r\n"
            );
            assert_eq!(
                format(
                    &k(Shape::Previous),
                    &changed(false, Some("old"), Some("old"))
                ),
                b"$3\r\nold\r\n"
            );
            assert_eq!(
                format(&k(Shape::Previous), &changed(true, None, Some("new"))),
                null
            );
            // Refusals and failures.
            assert_eq!(
                format(
                    &k(Shape::Integer),
                    &OpResult::Rejected(RmwError::NotInteger)
                ),
                b"-ERR value is not an integer or out of range\r\n"
            );
            assert_eq!(
                format(&k(Shape::Integer), &OpResult::Rejected(RmwError::Overflow)),
                b"-ERR increment or decrement would overflow\r\n"
            );
            assert_eq!(
                format(&k(Shape::Applied), &OpResult::Indeterminate),
                indeterminate()
            );
            assert_eq!(
                format(
                    &k(Shape::Previous),
                    &OpResult::Unavailable(Unavailable::NoLease)
                ),
                b"-UNAVAILABLE no lease: cannot reach a majority of the cluster\r\n"
            );
            assert!(format(&k(Shape::Integer), &OpResult::Value(None))
                .starts_with(b"-ERR internal error"));
        }
    }
}
