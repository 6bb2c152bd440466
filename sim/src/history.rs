//! Client histories: the input of the linearizability checker.
//!
//! A [`History`] is a list of [`Operation`]s, each one client request with the
//! interval `[call, ret]` in which it was outstanding, what it asked for
//! ([`Op`]) and what the client saw ([`OpResult`]).
//!
//! # The JSON-lines format
//!
//! A history file holds one JSON object per line (blank lines are skipped):
//!
//! ```text
//! {"id": 7, "client": 2, "node": 1, "call": 100, "ret": 140,
//!  "op": {"type": "get", "key": "g1/a"}, "result": {"type": "value", "value": "v3"}}
//! ```
//!
//! (shown wrapped; in the file it is a single line).
//!
//! * `id` (u64, optional): a unique operation id. When it is omitted the
//!   operation's 0-based position in the file is used. Ids must be unique.
//! * `client` (u64): the logical client that issued the operation.
//! * `node` (u64 or null, optional): the server that served it, for reports.
//! * `call` (u64): the time the request was sent.
//! * `ret` (u64 or null, required): the time the reply arrived, or null if the
//!   client never learned the outcome. Times may use any unit; only their
//!   order matters. Intervals are **closed**: an operation returning at `t`
//!   and one called at `t` are concurrent.
//! * `op` (tagged by `"type"`):
//!   * `{"type": "get", "key": K}`
//!   * `{"type": "get_many", "keys": [K, ...]}`
//!   * `{"type": "range", "lo": K, "hi": K, "limit": N or null}`: the first
//!     `limit` keys that exist with `lo <= key < hi`, in ascending byte order
//!     (`limit` null or omitted = no limit).
//!   * `{"type": "put", "key": K, "value": V}`
//!   * `{"type": "del", "key": K}`
//!   * `{"type": "batch", "writes": [{"key": K, "value": V or null}, ...]}`:
//!     an atomic multi-key write; a null value deletes the key. A batch may
//!     not name a key twice.
//!   * `{"type": "cas", "key": K, "expected": V or null, "new": V or null}`:
//!     if the key's value equals `expected` (null = the key is absent), set it
//!     to `new` (null deletes it).
//!   * `{"type": "incr", "key": K, "by": N}` (`N` a signed 64-bit integer):
//!     if the key's value is a signed 64-bit decimal integer in Redis's
//!     canonical form (an optional `-`, then digits without leading zeros,
//!     `"0"` alone for zero; no `+`, no spaces, no `-0`), or the key is
//!     absent (counted as 0), and adding `N` does not overflow, the key is
//!     set to the sum, written in the same canonical form; otherwise nothing
//!     happens ([`counter_value`], [`incremented`]). An increment whose
//!     outcome is known is recorded as the cas it amounts to (`expected` the
//!     value it found, `new` the sum it wrote); `incr` is for unknown
//!     outcomes, so its only results are `unknown` and `fail` (definitely no
//!     effect).
//! * `result` (tagged by `"type"`):
//!   * `{"type": "ok"}`: a write (put, del, batch, cas; not incr) was
//!     applied.
//!   * `{"type": "fail"}`: the operation definitely had no effect. For a cas
//!     this means "compared and found a different value": a failed cas is a
//!     read asserting `current != expected`. A cas refused before it read
//!     anything must be recorded as `unknown` or left out.
//!   * `{"type": "unknown"}`: the outcome is not known (timeout, crash); the
//!     operation may take effect at any time after `call`, or never. This is
//!     also the meaning of `"ret": null`, which requires this result.
//!   * `{"type": "value", "value": V or null}`: the answer to a get.
//!   * `{"type": "values", "values": [V or null, ...]}`: the answer to a
//!     get_many, one entry per key in the same order.
//!   * `{"type": "range", "entries": [[K, V], ...]}`: the answer to a range.
//!
//! Keys and values are strings. Unknown fields are rejected, so typos do not
//! silently change a history's meaning.

#![warn(missing_docs)]

use crate::fixed_hash::HashMap;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

/// A recorded client history: the checker's input.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    /// The operations, in any order (the checker sorts by time itself).
    pub ops: Vec<Operation>,
}

/// One client request and what the client observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// Unique id, used to name the operation in verdicts.
    pub id: u64,
    /// The logical client that issued the request.
    pub client: u64,
    /// The server that served it, if known (for reports only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u64>,
    /// When the request was sent.
    pub call: u64,
    /// When the reply arrived; `None` if it never did (outcome unknown).
    #[serde(deserialize_with = "nullable")]
    pub ret: Option<u64>,
    /// What was asked.
    pub op: Op,
    /// What the client saw.
    pub result: OpResult,
}

/// A request to the key-value store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Read one key.
    Get {
        /// The key read.
        key: String,
    },
    /// Read several keys atomically.
    GetMany {
        /// The keys read, in the order of the result's values.
        keys: Vec<String>,
    },
    /// Read the first `limit` existing keys in `[lo, hi)`, ascending.
    Range {
        /// Inclusive lower bound.
        lo: String,
        /// Exclusive upper bound.
        hi: String,
        /// Maximum number of entries returned; `None` = no limit.
        #[serde(default)]
        limit: Option<u64>,
    },
    /// Write one key.
    Put {
        /// The key written.
        key: String,
        /// The value written.
        value: String,
    },
    /// Delete one key.
    Del {
        /// The key deleted.
        key: String,
    },
    /// Write several keys atomically.
    Batch {
        /// The writes; no key may appear twice.
        writes: Vec<BatchWrite>,
    },
    /// Compare-and-set one key.
    Cas {
        /// The key.
        key: String,
        /// The value the key must hold (`None` = absent) for the write to apply.
        #[serde(deserialize_with = "nullable")]
        expected: Option<String>,
        /// The value written if the comparison succeeds (`None` deletes the key).
        #[serde(deserialize_with = "nullable")]
        new: Option<String>,
    },
    /// Increment one key holding a decimal integer (absent = 0).
    Incr {
        /// The key.
        key: String,
        /// The amount added.
        by: i64,
    },
}

/// One key of a [`Op::Batch`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchWrite {
    /// The key written.
    pub key: String,
    /// The new value; `None` deletes the key.
    #[serde(deserialize_with = "nullable")]
    pub value: Option<String>,
}

/// What the client observed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OpResult {
    /// A write was applied.
    Ok,
    /// The operation definitely had no effect (for cas: the comparison failed).
    Fail,
    /// The outcome is unknown: the operation may or may not take effect.
    Unknown,
    /// The value of a get (`None` = absent).
    Value {
        /// The value read.
        #[serde(deserialize_with = "nullable")]
        value: Option<String>,
    },
    /// The values of a get_many, one per key.
    Values {
        /// The values read, in the order of the op's keys.
        values: Vec<Option<String>>,
    },
    /// The entries of a range, ascending by key.
    Range {
        /// `(key, value)` pairs.
        entries: Vec<(String, String)>,
    },
}

/// Deserializes an `Option` that must be present (as a value or `null`), so
/// that a missing field is an error rather than a silent `None`.
fn nullable<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// The on-disk form of an operation, where `id` may be omitted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireOperation {
    #[serde(default)]
    id: Option<u64>,
    client: u64,
    #[serde(default)]
    node: Option<u64>,
    call: u64,
    #[serde(deserialize_with = "nullable")]
    ret: Option<u64>,
    op: Op,
    result: OpResult,
}

impl WireOperation {
    /// Converts to an [`Operation`], using `position` as the default id.
    fn into_operation(self, position: usize) -> Operation {
        Operation {
            id: self.id.unwrap_or(position as u64),
            client: self.client,
            node: self.node,
            call: self.call,
            ret: self.ret,
            op: self.op,
            result: self.result,
        }
    }
}

/// Why an operation is malformed (a recorder bug, not a store bug).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOp {
    /// `ret` is earlier than `call`.
    #[error("ret {ret} is before call {call}")]
    RetBeforeCall {
        /// The call time.
        call: u64,
        /// The return time.
        ret: u64,
    },
    /// `ret` is null but the result claims a definite outcome.
    #[error("ret is null but the result is `{result}`; an operation that never returned must have result `unknown`")]
    NullRetWithResult {
        /// The result's type tag.
        result: &'static str,
    },
    /// The result type does not fit the operation type.
    #[error("a `{op}` operation cannot have result `{result}`")]
    ResultMismatch {
        /// The op's type tag.
        op: &'static str,
        /// The result's type tag.
        result: &'static str,
    },
    /// A get_many's result has a different number of values than keys.
    #[error("get_many has {keys} keys but {values} values")]
    ValuesLength {
        /// Number of keys asked for.
        keys: usize,
        /// Number of values returned.
        values: usize,
    },
    /// A batch writes the same key twice.
    #[error("batch writes key {key:?} twice")]
    DuplicateBatchKey {
        /// The repeated key.
        key: String,
    },
    /// Two operations share an id.
    #[error("id {id} is used by an earlier operation too")]
    DuplicateId {
        /// The repeated id.
        id: u64,
    },
}

/// A malformed operation in a [`History`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operation {id} (position {index}): {kind}")]
pub struct HistoryError {
    /// Position of the operation in [`History::ops`].
    pub index: usize,
    /// The operation's id.
    pub id: u64,
    /// What is wrong with it.
    pub kind: InvalidOp,
}

impl Op {
    /// The JSON type tag of this op.
    pub fn tag(&self) -> &'static str {
        match self {
            Op::Get { .. } => "get",
            Op::GetMany { .. } => "get_many",
            Op::Range { .. } => "range",
            Op::Put { .. } => "put",
            Op::Del { .. } => "del",
            Op::Batch { .. } => "batch",
            Op::Cas { .. } => "cas",
            Op::Incr { .. } => "incr",
        }
    }

    /// Whether this op can change the store (put, del, batch, cas, incr).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Op::Put { .. } | Op::Del { .. } | Op::Batch { .. } | Op::Cas { .. } | Op::Incr { .. }
        )
    }
}

impl OpResult {
    /// The JSON type tag of this result.
    pub fn tag(&self) -> &'static str {
        match self {
            OpResult::Ok => "ok",
            OpResult::Fail => "fail",
            OpResult::Unknown => "unknown",
            OpResult::Value { .. } => "value",
            OpResult::Values { .. } => "values",
            OpResult::Range { .. } => "range",
        }
    }
}

impl Operation {
    /// Whether the outcome is unknown (`ret` null or result `unknown`).
    pub fn is_unknown(&self) -> bool {
        self.ret.is_none() || self.result == OpResult::Unknown
    }

    /// Checks the operation's internal consistency.
    pub fn validate(&self) -> Result<(), InvalidOp> {
        self.validate_times()?;
        self.validate_result_kind()?;
        self.validate_shape()
    }

    fn validate_times(&self) -> Result<(), InvalidOp> {
        match self.ret {
            Some(ret) if ret < self.call => Err(InvalidOp::RetBeforeCall {
                call: self.call,
                ret,
            }),
            None if self.result != OpResult::Unknown => Err(InvalidOp::NullRetWithResult {
                result: self.result.tag(),
            }),
            _ => Ok(()),
        }
    }

    /// Every op may end in `fail` or `unknown`; otherwise reads need their
    /// own result type and writes need `ok`, except incr, whose known
    /// outcomes are recorded as cas.
    fn validate_result_kind(&self) -> Result<(), InvalidOp> {
        let fits = match (&self.op, &self.result) {
            (_, OpResult::Fail | OpResult::Unknown) => true,
            (Op::Incr { .. }, _) => false,
            (Op::Get { .. }, OpResult::Value { .. }) => true,
            (Op::GetMany { .. }, OpResult::Values { .. }) => true,
            (Op::Range { .. }, OpResult::Range { .. }) => true,
            (op, OpResult::Ok) => op.is_write(),
            _ => false,
        };
        if fits {
            Ok(())
        } else {
            Err(InvalidOp::ResultMismatch {
                op: self.op.tag(),
                result: self.result.tag(),
            })
        }
    }

    fn validate_shape(&self) -> Result<(), InvalidOp> {
        match (&self.op, &self.result) {
            (Op::GetMany { keys }, OpResult::Values { values }) if keys.len() != values.len() => {
                Err(InvalidOp::ValuesLength {
                    keys: keys.len(),
                    values: values.len(),
                })
            }
            (Op::Batch { writes }, _) => {
                let mut seen = BTreeSet::new();
                match writes.iter().find(|w| !seen.insert(w.key.as_str())) {
                    Some(w) => Err(InvalidOp::DuplicateBatchKey { key: w.key.clone() }),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }
}

impl History {
    /// Creates a history from operations.
    pub fn new(ops: Vec<Operation>) -> Self {
        History { ops }
    }

    /// Checks every operation and that ids are unique; returns the first
    /// problem in history order.
    pub fn validate(&self) -> Result<(), HistoryError> {
        let mut ids = HashMap::with_capacity_and_hasher(self.ops.len(), Default::default());
        for (index, op) in self.ops.iter().enumerate() {
            let fail = |kind| HistoryError {
                index,
                id: op.id,
                kind,
            };
            op.validate().map_err(fail)?;
            if ids.insert(op.id, index).is_some() {
                return Err(fail(InvalidOp::DuplicateId { id: op.id }));
            }
        }
        Ok(())
    }

    /// The operation with the given id, if any.
    pub fn get(&self, id: u64) -> Option<&Operation> {
        self.ops.iter().find(|op| op.id == id)
    }
}

/// The integer a stored value holds for `incr`: `Some` exactly when `value`
/// is a signed 64-bit decimal integer in Redis's canonical form (optional
/// `-`, digits without leading zeros, `"0"` alone for zero: no `+`, no
/// spaces, no `"-0"`), which is also the form an increment writes.
pub fn counter_value(value: &str) -> Option<i64> {
    // Rust's parser also accepts a leading `+` and leading zeros; the
    // canonical form is exactly what formats back to the same string.
    let n: i64 = value.parse().ok()?;
    (n.to_string() == value).then_some(n)
}

/// What an `incr` by `by` makes of a key holding `current` (`None` =
/// absent, which counts as 0): the sum, or `None` if the increment cannot
/// apply (not a canonical integer, or the sum overflows) and the key keeps
/// its value.
pub fn incremented(current: Option<&str>, by: i64) -> Option<i64> {
    let n = match current {
        None => 0,
        Some(value) => counter_value(value)?,
    };
    n.checked_add(by)
}

/// Builds a [`History`] as operations are invoked and complete, as a
/// simulator sees them. Ids are assigned 0, 1, 2, ... in invocation order.
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    ops: Vec<Operation>,
}

/// [`Recorder::complete`] was given an id it never handed out, or one
/// that already completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("operation {id} is not pending")]
pub struct NotPending {
    /// The offending id.
    pub id: u64,
}

impl Recorder {
    /// Creates an empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client` sent `op` at time `call`; returns its id.
    pub fn invoke(&mut self, client: u64, node: Option<u64>, op: Op, call: u64) -> u64 {
        let id = self.ops.len() as u64;
        self.ops.push(Operation {
            id,
            client,
            node,
            call,
            ret: None,
            op,
            result: OpResult::Unknown,
        });
        id
    }

    /// Records the reply to operation `id` at time `ret`.
    pub fn complete(&mut self, id: u64, result: OpResult, ret: u64) -> Result<(), NotPending> {
        let pending = usize::try_from(id)
            .ok()
            .and_then(|i| self.ops.get_mut(i))
            .filter(|op| op.ret.is_none());
        let op = pending.ok_or(NotPending { id })?;
        op.ret = Some(ret);
        op.result = result;
        Ok(())
    }

    /// Finishes recording; operations still pending keep `ret: None` and
    /// result `unknown`.
    pub fn finish(self) -> History {
        History { ops: self.ops }
    }
}

/// A history file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The path given.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Reading a line failed (I/O error or invalid UTF-8).
    #[error("line {line}: cannot read: {source}")]
    Io {
        /// 1-based line number.
        line: usize,
        /// The underlying error.
        source: io::Error,
    },
    /// A line is not a well-formed operation object.
    #[error("line {line}: not a valid operation: {source}")]
    Json {
        /// 1-based line number.
        line: usize,
        /// The parser's message (with a column).
        source: serde_json::Error,
    },
    /// A line parsed but the operation is inconsistent.
    #[error("line {line}: {source}")]
    Invalid {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        source: InvalidOp,
    },
}

impl ReadError {
    /// The 1-based line the error is on, if it concerns a line.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReadError::Open { .. } => None,
            ReadError::Io { line, .. }
            | ReadError::Json { line, .. }
            | ReadError::Invalid { line, .. } => Some(*line),
        }
    }
}

/// A history read from a file, with the line each operation came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedHistory {
    /// The validated history.
    pub history: History,
    /// `lines[i]` is the 1-based line of `history.ops[i]`.
    pub lines: Vec<usize>,
}

impl ParsedHistory {
    /// The line of the operation with the given id.
    pub fn line_of(&self, id: u64) -> Option<usize> {
        let index = self.history.ops.iter().position(|op| op.id == id)?;
        self.lines.get(index).copied()
    }
}

/// Reads and validates a JSON-lines history. Never panics on bad input.
pub fn read_history<R: BufRead>(reader: R) -> Result<ParsedHistory, ReadError> {
    let mut parsed = ParsedHistory {
        history: History::default(),
        lines: Vec::new(),
    };
    for (number, line) in reader.lines().enumerate() {
        let line_no = number + 1;
        let text = line.map_err(|source| ReadError::Io {
            line: line_no,
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let wire: WireOperation =
            serde_json::from_str(&text).map_err(|source| ReadError::Json {
                line: line_no,
                source,
            })?;
        let position = parsed.history.ops.len();
        parsed.history.ops.push(wire.into_operation(position));
        parsed.lines.push(line_no);
    }
    validate_parsed(&parsed)?;
    Ok(parsed)
}

/// Validates a parsed history, reporting problems by line.
fn validate_parsed(parsed: &ParsedHistory) -> Result<(), ReadError> {
    parsed.history.validate().map_err(|err| ReadError::Invalid {
        line: parsed.lines.get(err.index).copied().unwrap_or(0),
        source: err.kind,
    })
}

/// Reads and validates a JSON-lines history file.
pub fn read_history_file(path: &Path) -> Result<ParsedHistory, ReadError> {
    let file = std::fs::File::open(path).map_err(|source| ReadError::Open {
        path: path.to_owned(),
        source,
    })?;
    read_history(io::BufReader::new(file))
}

/// Writes a history as JSON lines (one operation per line, ids included).
pub fn write_history<W: Write>(history: &History, mut out: W) -> io::Result<()> {
    for op in &history.ops {
        serde_json::to_writer(&mut out, op)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Formats an optional value: `"v"` or `absent`.
pub(crate) struct Shown<'a>(pub Option<&'a str>);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(value) => write!(f, "{value:?}"),
            None => f.write_str("absent"),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Get { key } => write!(f, "get({key:?})"),
            Op::GetMany { keys } => write!(f, "get_many({keys:?})"),
            Op::Range { lo, hi, limit } => {
                write!(f, "range([{lo:?}, {hi:?})")?;
                match limit {
                    Some(limit) => write!(f, ", limit {limit})"),
                    None => f.write_str(")"),
                }
            }
            Op::Put { key, value } => write!(f, "put({key:?}, {value:?})"),
            Op::Del { key } => write!(f, "del({key:?})"),
            Op::Batch { writes } => {
                f.write_str("batch(")?;
                for (i, w) in writes.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{:?}={}", w.key, Shown(w.value.as_deref()))?;
                }
                f.write_str(")")
            }
            Op::Cas { key, expected, new } => {
                let (from, to) = (Shown(expected.as_deref()), Shown(new.as_deref()));
                write!(f, "cas({key:?}, {from} -> {to})")
            }
            Op::Incr { key, by } => write!(f, "incr({key:?}, {by})"),
        }
    }
}

impl fmt::Display for OpResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpResult::Ok | OpResult::Fail | OpResult::Unknown => f.write_str(self.tag()),
            OpResult::Value { value } => write!(f, "{}", Shown(value.as_deref())),
            OpResult::Values { values } => {
                let shown: Vec<String> = values
                    .iter()
                    .map(|v| Shown(v.as_deref()).to_string())
                    .collect();
                write!(f, "[{}]", shown.join(", "))
            }
            OpResult::Range { entries } => {
                let shown: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{k:?}={v:?}"))
                    .collect();
                write!(f, "[{}]", shown.join(", "))
            }
        }
    }
}

impl fmt::Display for Operation {
    /// E.g. `op 7 (client 2, node 1, [100, 140]) get("a") -> "v3"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op {} (client {}", self.id, self.client)?;
        if let Some(node) = self.node {
            write!(f, ", node {node}")?;
        }
        match self.ret {
            Some(ret) => write!(f, ", [{}, {ret}]", self.call)?,
            None => write!(f, ", [{}, never]", self.call)?,
        }
        write!(f, ") {} -> {}", self.op, self.result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ParsedHistory, ReadError> {
        read_history(text.as_bytes())
    }

    fn err_line(text: &str) -> (Option<usize>, String) {
        match parse(text) {
            Ok(_) => panic!("expected an error for {text}"),
            Err(err) => (err.line(), err.to_string()),
        }
    }

    const EVERY_KIND: &str = r#"{"id": 1, "client": 1, "node": 0, "call": 0, "ret": 1, "op": {"type": "put", "key": "a", "value": "1"}, "result": {"type": "ok"}}
{"id": 2, "client": 1, "call": 2, "ret": 3, "op": {"type": "get", "key": "a"}, "result": {"type": "value", "value": "1"}}

{"id": 3, "client": 2, "node": null, "call": 2, "ret": 3, "op": {"type": "get_many", "keys": ["a", "b"]}, "result": {"type": "values", "values": ["1", null]}}
{"id": 4, "client": 2, "call": 4, "ret": 5, "op": {"type": "range", "lo": "a", "hi": "z", "limit": 1}, "result": {"type": "range", "entries": [["a", "1"]]}}
{"id": 5, "client": 2, "call": 6, "ret": null, "op": {"type": "del", "key": "a"}, "result": {"type": "unknown"}}
{"id": 6, "client": 3, "call": 6, "ret": 9, "op": {"type": "batch", "writes": [{"key": "a", "value": "2"}, {"key": "b", "value": null}]}, "result": {"type": "fail"}}
{"id": 7, "client": 3, "call": 10, "ret": 11, "op": {"type": "cas", "key": "a", "expected": null, "new": "3"}, "result": {"type": "ok"}}
{"id": 8, "client": 3, "call": 12, "ret": 13, "op": {"type": "range", "lo": "a", "hi": "b"}, "result": {"type": "range", "entries": []}}
"#;

    #[test]
    fn parses_every_kind_and_roundtrips() {
        let parsed = parse(EVERY_KIND).expect("valid history");
        assert_eq!(parsed.history.ops.len(), 8);
        assert_eq!(parsed.lines, vec![1, 2, 4, 5, 6, 7, 8, 9]);
        assert_eq!(parsed.line_of(3), Some(4));
        assert_eq!(parsed.history.ops[4].ret, None);
        assert!(parsed.history.ops[4].is_unknown());
        let mut out = Vec::new();
        write_history(&parsed.history, &mut out).expect("write to memory");
        let again = read_history(out.as_slice()).expect("reread");
        assert_eq!(again.history, parsed.history);
    }

    #[test]
    fn missing_id_defaults_to_position() {
        let text = "{\"client\": 1, \"call\": 0, \"ret\": 1, \"op\": {\"type\": \"del\", \"key\": \"a\"}, \"result\": {\"type\": \"ok\"}}\n\
                    {\"client\": 1, \"call\": 2, \"ret\": 3, \"op\": {\"type\": \"del\", \"key\": \"a\"}, \"result\": {\"type\": \"ok\"}}\n";
        let parsed = parse(text).expect("valid");
        let ids: Vec<u64> = parsed.history.ops.iter().map(|op| op.id).collect();
        assert_eq!(ids, vec![0, 1]);
    }

    fn line(op: &str, result: &str, ret: &str) -> String {
        format!("{{\"id\": 1, \"client\": 1, \"call\": 5, \"ret\": {ret}, \"op\": {op}, \"result\": {result}}}\n")
    }

    const GET: &str = r#"{"type": "get", "key": "a"}"#;
    const OK: &str = r#"{"type": "ok"}"#;

    #[test]
    fn rejects_bad_json_with_line_number() {
        let text = format!(
            "{}not json\n",
            line(GET, r#"{"type": "value", "value": null}"#, "6")
        );
        let (line_no, msg) = err_line(&text);
        assert_eq!(line_no, Some(2));
        assert!(msg.starts_with("line 2:"), "{msg}");
    }

    #[test]
    fn rejects_unknown_types_and_fields() {
        for bad in [
            line(r#"{"type": "incr", "key": "a"}"#, OK, "6"),
            line(r#"{"type": "append", "key": "a", "value": "x"}"#, OK, "6"),
            line(GET, r#"{"type": "maybe"}"#, "6"),
            line(r#"{"type": "get", "key": "a", "extra": 1}"#, OK, "6"),
            line(GET, r#"{"type": "value"}"#, "6"),
            line(r#"{"type": "cas", "key": "a", "new": "1"}"#, OK, "6"),
            r#"{"client": 1, "call": 0, "op": {"type": "get", "key": "a"}, "result": {"type": "unknown"}}"#.to_string(),
            r#"{"client": 1, "call": 0, "ret": 1, "retrun": 2, "op": {"type": "get", "key": "a"}, "result": {"type": "unknown"}}"#.to_string(),
            r#"{"client": -1, "call": 0, "ret": 1, "op": {"type": "get", "key": "a"}, "result": {"type": "unknown"}}"#.to_string(),
        ] {
            let (line_no, msg) = err_line(&bad);
            assert_eq!(line_no, Some(1), "{bad}: {msg}");
        }
    }

    #[test]
    fn rejects_inconsistent_operations() {
        let cases = [
            (line(GET, OK, "6"), "cannot have result `ok`"),
            (
                line(
                    r#"{"type": "put", "key": "a", "value": "1"}"#,
                    r#"{"type": "value", "value": "1"}"#,
                    "6",
                ),
                "cannot have result",
            ),
            (
                line(GET, r#"{"type": "range", "entries": []}"#, "6"),
                "cannot have result",
            ),
            (
                line(GET, r#"{"type": "value", "value": null}"#, "4"),
                "before call",
            ),
            (
                line(GET, r#"{"type": "value", "value": null}"#, "null"),
                "must have result `unknown`",
            ),
            (
                line(
                    r#"{"type": "get_many", "keys": ["a", "b"]}"#,
                    r#"{"type": "values", "values": [null]}"#,
                    "6",
                ),
                "2 keys but 1 values",
            ),
            (
                line(
                    r#"{"type": "batch", "writes": [{"key": "a", "value": "1"}, {"key": "a", "value": null}]}"#,
                    OK,
                    "6",
                ),
                "twice",
            ),
        ];
        for (text, needle) in cases {
            let (line_no, msg) = err_line(&text);
            assert_eq!(line_no, Some(1));
            assert!(msg.contains(needle), "{msg} lacks {needle}");
        }
    }

    #[test]
    fn incr_parses_with_only_unknown_or_fail_results() {
        const INCR: &str = r#"{"type": "incr", "key": "a", "by": -3}"#;
        const UNKNOWN: &str = r#"{"type": "unknown"}"#;
        for (result, ret) in [
            (UNKNOWN, "6"),
            (UNKNOWN, "null"),
            (r#"{"type": "fail"}"#, "6"),
        ] {
            let parsed = parse(&line(INCR, result, ret)).expect("valid incr");
            let op = &parsed.history.ops[0];
            assert_eq!(
                op.op,
                Op::Incr {
                    key: "a".into(),
                    by: -3
                }
            );
            assert!(op.op.is_write());
            let mut out = Vec::new();
            write_history(&parsed.history, &mut out).expect("write to memory");
            assert_eq!(read_history(out.as_slice()).expect("reread"), parsed);
        }
        let shown = parse(&line(INCR, UNKNOWN, "null"))
            .expect("valid")
            .history
            .ops[0]
            .to_string();
        assert_eq!(
            shown,
            r#"op 1 (client 1, [5, never]) incr("a", -3) -> unknown"#
        );
        for result in [
            OK,
            r#"{"type": "value", "value": "1"}"#,
            r#"{"type": "values", "values": []}"#,
            r#"{"type": "range", "entries": []}"#,
        ] {
            let (line_no, msg) = err_line(&line(INCR, result, "6"));
            assert_eq!(line_no, Some(1));
            assert!(
                msg.contains("a `incr` operation cannot have result"),
                "{msg}"
            );
        }
        for bad_by in ["9223372036854775808", "1.5", "\"1\"", "null"] {
            let op = format!(r#"{{"type": "incr", "key": "a", "by": {bad_by}}}"#);
            let (line_no, _) = err_line(&line(&op, UNKNOWN, "6"));
            assert_eq!(line_no, Some(1), "by {bad_by}");
        }
    }

    #[test]
    fn counter_values_use_the_canonical_form() {
        for (text, n) in [
            ("0", 0),
            ("7", 7),
            ("-7", -7),
            ("10", 10),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(counter_value(text), Some(n), "{text:?}");
        }
        for text in [
            "",
            "-",
            "+1",
            "01",
            "-0",
            "00",
            " 1",
            "1 ",
            "1.0",
            "x",
            "1e3",
            "0x1",
            "9223372036854775808",
            "-9223372036854775809",
            "１",
        ] {
            assert_eq!(counter_value(text), None, "{text:?}");
        }
        assert_eq!(incremented(None, 1), Some(1));
        assert_eq!(incremented(None, 0), Some(0));
        assert_eq!(incremented(Some("5"), 1), Some(6));
        assert_eq!(incremented(Some("-1"), 1), Some(0));
        assert_eq!(incremented(Some("x"), 1), None);
        assert_eq!(incremented(Some("05"), 1), None);
        assert_eq!(incremented(Some("9223372036854775807"), 1), None);
        assert_eq!(incremented(Some("-9223372036854775808"), -1), None);
        assert_eq!(
            incremented(Some("9223372036854775807"), -1),
            Some(i64::MAX - 1)
        );
    }

    #[test]
    fn rejects_duplicate_ids_on_the_second_line() {
        let one = line(GET, r#"{"type": "value", "value": null}"#, "6");
        let (line_no, msg) = err_line(&format!("{one}{one}"));
        assert_eq!(line_no, Some(2));
        assert!(msg.contains("id 1"), "{msg}");
    }

    #[test]
    fn rejects_invalid_utf8() {
        let bytes: &[u8] = b"\xff\xfe\n";
        let err = read_history(bytes).expect_err("not UTF-8");
        assert_eq!(err.line(), Some(1));
    }

    #[test]
    fn missing_file_is_an_open_error() {
        let err = read_history_file(Path::new("/nonexistent/history.jsonl")).expect_err("missing");
        assert_eq!(err.line(), None);
        assert!(err.to_string().contains("/nonexistent/history.jsonl"));
    }

    #[test]
    fn recorder_builds_a_valid_history() {
        let mut rec = Recorder::new();
        let put = Op::Put {
            key: "a".into(),
            value: "1".into(),
        };
        let a = rec.invoke(1, Some(0), put, 10);
        let b = rec.invoke(2, None, Op::Get { key: "a".into() }, 11);
        rec.complete(a, OpResult::Ok, 12).expect("pending");
        assert_eq!(rec.complete(a, OpResult::Ok, 13), Err(NotPending { id: a }));
        assert_eq!(
            rec.complete(99, OpResult::Ok, 13),
            Err(NotPending { id: 99 })
        );
        let history = rec.finish();
        history.validate().expect("valid");
        assert_eq!(history.ops[b as usize].ret, None);
        assert!(history.ops[b as usize].is_unknown());
    }

    #[test]
    fn display_is_readable() {
        let parsed = parse(EVERY_KIND).expect("valid");
        let shown: Vec<String> = parsed.history.ops.iter().map(|op| op.to_string()).collect();
        assert_eq!(
            shown[0],
            r#"op 1 (client 1, node 0, [0, 1]) put("a", "1") -> ok"#
        );
        assert_eq!(
            shown[2],
            r#"op 3 (client 2, [2, 3]) get_many(["a", "b"]) -> ["1", absent]"#
        );
        assert_eq!(
            shown[4],
            r#"op 5 (client 2, [6, never]) del("a") -> unknown"#
        );
        assert_eq!(
            shown[5],
            r#"op 6 (client 3, [6, 9]) batch("a"="2", "b"=absent) -> fail"#
        );
        assert!(
            shown[3].contains(r#"range(["a", "z"), limit 1) -> ["a"="1"]"#),
            "{}",
            shown[3]
        );
    }
}
