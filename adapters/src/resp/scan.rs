//! Key iteration for `DBSIZE`, `KEYS` and `SCAN`, built on the engine's range read, and the
//! node-wide table of `SCAN` cursors.
//!
//! # Chunks
//!
//! The engine reads at most its configured number of entries per range read (10,000 by
//! default), so an iteration reads the key space in ascending chunks: `[start, END)` with a limit,
//! then again from just after the last key returned. A chunk is one atomic read; **a `DBSIZE` or
//! `KEYS` that needs several chunks is not one snapshot**: a key written while it runs may or
//! may not be counted or listed (each key is seen at most once, and every key present for the
//! whole command is seen). An iteration ends at the first empty chunk (a short chunk does not
//! prove the end, since the engine may cap it below the limit asked). Chunks hold at most
//! [`CHUNK_KEYS`] keys, fewer when a costly `MATCH` pattern would make matching one chunk take
//! more than about [`MATCH_STEPS_PER_CHUNK`] steps: the node's event loop runs between chunks.
//!
//! # SCAN cursors
//!
//! `SCAN` returns a decimal cursor that names where to continue, remembered by the node in a
//! [`CursorTable`] shared by all its connections (a client's connection pool may send each
//! `SCAN` of one iteration on another connection). A cursor is `tag << 32 | step`: `tag` (31
//! random bits) names the iteration, `step` counts its calls, so a cursor is never 0 and always
//! below 2^63 (it fits a signed 64-bit integer). Cursor `0` starts an iteration, and a reply with
//! cursor `0` ends it, as in Redis. The last step's start is kept too, so a client that repeats a
//! call (its reply was lost) gets the same keys again.
//!
//! The table holds at most [`MAX_SCAN_CURSORS`] iterations (each at most two keys, so about
//! 4 MiB at most). When it is full, starting an iteration evicts a finished one, else the one
//! used least recently. A cursor that is not in the table — evicted, from before the node
//! restarted, from another node, or made up — is answered `-ERR invalid cursor ...`: start again
//! from 0. Every key present for the whole iteration is returned, once; keys written meanwhile
//! may or may not be.

use super::glob::Glob;
use super::parse::{parse_multibulk, Limits};
use super::reply::{self, push_array_header, push_bulk, Proto, ReplyKind, Shape};
use crate::storage::MAX_KEY_BYTES;
use level2pc::{Bytes, Op};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::OnceLock;

/// Most keys one chunk asks the engine for.
pub const CHUNK_KEYS: usize = 1_000;
/// About how many pattern-matching steps one chunk may cost; a costly pattern gets smaller
/// chunks (at least one key).
pub const MATCH_STEPS_PER_CHUNK: usize = 1 << 22;
/// Most `SCAN` iterations the node remembers at once.
pub const MAX_SCAN_CURSORS: usize = 4_096;
/// `SCAN ... COUNT n` is a hint; larger values are taken as this many.
pub const MAX_SCAN_COUNT: usize = 10_000;
/// `SCAN`'s default `COUNT`, as in Redis.
pub const DEFAULT_SCAN_COUNT: usize = 10;

/// The exclusive upper bound of every iteration: greater than every key the store can hold
/// (keys are at most `MAX_KEY_BYTES` long).
fn keyspace_end() -> Bytes {
    static END: OnceLock<Bytes> = OnceLock::new();
    END.get_or_init(|| Bytes::from(vec![0xffu8; MAX_KEY_BYTES + 1]))
        .clone()
}

/// The smallest key after `key`.
fn successor(key: &[u8]) -> Bytes {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    Bytes::from(next)
}

/// How the reply of one chunk must be formatted by the driver.
pub fn chunk_kind() -> ReplyKind {
    ReplyKind::new(Shape::Keys, Proto::Resp2)
}

/// A key iteration a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `DBSIZE`: count the live keys.
    DbSize,
    /// `KEYS pattern`: every matching key, in one reply.
    Keys {
        /// The glob pattern.
        pattern: Bytes,
    },
    /// `SCAN cursor [MATCH pattern] [COUNT n]`: one step of an iteration.
    Scan {
        /// `0` to start, else a cursor an earlier `SCAN` returned.
        cursor: u64,
        /// Only keys matching this pattern are returned.
        pattern: Option<Bytes>,
        /// About how many keys to examine (at least 1).
        count: usize,
    },
}

/// Where a `SCAN` step started: what the cursor table needs to record the next step.
#[derive(Clone, Debug)]
struct ScanFrom {
    /// The iteration, or `None` for a step that started at cursor 0.
    tag: Option<u32>,
    /// The step the client's cursor named.
    step: u32,
    /// The key the step started at.
    start: Bytes,
}

#[derive(Clone, Debug)]
enum Goal {
    DbSize {
        count: u64,
    },
    Keys {
        glob: Glob,
        keys: Vec<Bytes>,
        /// Bytes of the reply so far.
        bytes: usize,
        max_bytes: usize,
    },
    Scan {
        glob: Option<Glob>,
        count: usize,
        examined: usize,
        keys: Vec<Bytes>,
        from: ScanFrom,
    },
}

/// An iteration in progress: the next chunk to read and what has been gathered.
#[derive(Clone, Debug)]
pub struct Job {
    goal: Goal,
    /// Where the next chunk starts.
    next: Bytes,
    /// Most keys per chunk (from the pattern's cost).
    chunk: usize,
}

/// Most keys per chunk for a pattern.
fn chunk_for(glob: Option<&Glob>) -> usize {
    match glob {
        Some(g) if !g.matches_everything() => {
            (MATCH_STEPS_PER_CHUNK / g.cost_per_key(MAX_KEY_BYTES).max(1)).clamp(1, CHUNK_KEYS)
        }
        _ => CHUNK_KEYS,
    }
}

impl Job {
    /// Starts the iteration `req` asks for: the job and its first read, or, when nothing needs
    /// reading (an unknown cursor), the reply. `max_reply_bytes` bounds a `KEYS` reply.
    pub fn start(
        req: Request,
        cursors: &mut CursorTable,
        max_reply_bytes: usize,
    ) -> Result<(Job, Op), Vec<u8>> {
        let (goal, next, chunk) = match req {
            Request::DbSize => (Goal::DbSize { count: 0 }, Bytes::from(&[][..]), CHUNK_KEYS),
            Request::Keys { pattern } => {
                let glob = Glob::new(&pattern);
                let chunk = chunk_for(Some(&glob));
                let goal = Goal::Keys {
                    glob,
                    keys: Vec::new(),
                    bytes: 0,
                    max_bytes: max_reply_bytes,
                };
                (goal, Bytes::from(&[][..]), chunk)
            }
            Request::Scan {
                cursor,
                pattern,
                count,
            } => {
                let from = if cursor == 0 {
                    ScanFrom {
                        tag: None,
                        step: 0,
                        start: Bytes::from(&[][..]),
                    }
                } else {
                    let Some((tag, step, start)) = cursors.resume(cursor) else {
                        return Err(reply::error(&format!(
                            "ERR invalid cursor {cursor}: unknown or expired (the node remembers the {MAX_SCAN_CURSORS} most recent SCAN iterations); start again from 0"
                        )));
                    };
                    ScanFrom {
                        tag: Some(tag),
                        step,
                        start,
                    }
                };
                let glob = pattern.map(|p| Glob::new(&p));
                let chunk = chunk_for(glob.as_ref());
                let next = from.start.clone();
                let goal = Goal::Scan {
                    glob,
                    count: count.clamp(1, MAX_SCAN_COUNT),
                    examined: 0,
                    keys: Vec::new(),
                    from,
                };
                (goal, next, chunk)
            }
        };
        let job = Job { goal, next, chunk };
        let op = job.op();
        Ok((job, op))
    }

    /// The read of the next chunk.
    pub fn op(&self) -> Op {
        let limit = match &self.goal {
            Goal::Scan {
                count, examined, ..
            } => count.saturating_sub(*examined).clamp(1, self.chunk),
            _ => self.chunk,
        };
        Op::Range {
            lo: self.next.clone(),
            hi: keyspace_end(),
            limit: Some(limit),
        }
    }

    /// Takes in one chunk's reply (as formatted for [`chunk_kind`]): `None` if the next chunk
    /// must be read (see [`Job::op`]), else the command's reply. An error reply of the engine
    /// ends the command with that error (a `SCAN` cursor then stays valid for a retry).
    pub fn on_chunk(&mut self, chunk: &[u8], cursors: &mut CursorTable) -> Option<Vec<u8>> {
        if chunk.first() == Some(&b'-') {
            return Some(chunk.to_vec());
        }
        let unbounded = Limits {
            max_request_bytes: usize::MAX,
            max_args: usize::MAX,
        };
        let keys = match parse_multibulk(chunk, &unbounded) {
            Ok(Some((keys, _))) => keys,
            _ => return Some(reply::error("ERR internal error: malformed key chunk")),
        };
        let Some(last) = keys.last() else {
            return Some(self.finish(None, cursors));
        };
        let next = successor(last);
        match &mut self.goal {
            Goal::DbSize { count } => *count += keys.len() as u64,
            Goal::Keys {
                glob,
                keys: found,
                bytes,
                max_bytes,
            } => {
                for key in keys.iter().filter(|k| glob.matches(k)) {
                    *bytes = bytes.saturating_add(key.len() + 16);
                    if *bytes > *max_bytes {
                        return Some(reply::error(&format!(
                            "ERR KEYS reply would exceed {max_bytes} bytes (the node's reply buffer limit); iterate with SCAN instead"
                        )));
                    }
                    found.push(Bytes::from(*key));
                }
            }
            Goal::Scan {
                glob,
                count,
                examined,
                keys: found,
                ..
            } => {
                *examined += keys.len();
                found.extend(
                    keys.iter()
                        .filter(|k| glob.as_ref().is_none_or(|g| g.matches(k)))
                        .map(|k| Bytes::from(*k)),
                );
                if *examined >= *count {
                    return Some(self.finish(Some(next), cursors));
                }
            }
        }
        self.next = next;
        None
    }

    /// The reply once the iteration stops: at the end of the key space (`next` is `None`), or,
    /// for `SCAN`, after `COUNT` keys with `next` where the following step starts.
    fn finish(&mut self, next: Option<Bytes>, cursors: &mut CursorTable) -> Vec<u8> {
        match &mut self.goal {
            Goal::DbSize { count } => reply::integer(i64::try_from(*count).unwrap_or(i64::MAX)),
            Goal::Keys { keys, .. } => keys_reply(keys),
            Goal::Scan { keys, from, .. } => {
                let cursor = cursors.advance(from.tag, from.step, from.start.clone(), next);
                let mut out = Vec::new();
                push_array_header(&mut out, 2);
                push_bulk(&mut out, Some(cursor.to_string().as_bytes()));
                out.extend_from_slice(&keys_reply(keys));
                out
            }
        }
    }
}

fn keys_reply(keys: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::new();
    push_array_header(&mut out, keys.len());
    for k in keys {
        push_bulk(&mut out, Some(k));
    }
    out
}

/// The reply of a `SCAN` that examines nothing (e.g. `TYPE hash`: every key is a string).
pub fn empty_scan_reply() -> Vec<u8> {
    b"*2\r\n$1\r\n0\r\n*0\r\n".to_vec()
}

/// One `SCAN` iteration the node remembers.
#[derive(Clone, Debug)]
struct Iteration {
    /// The step a client may continue with.
    step: u32,
    /// Where `step` starts; `None` once the iteration has ended.
    pos: Option<Bytes>,
    /// Where `step - 1` started (a repeated call).
    prev: Option<Bytes>,
    /// When it was last used (the table's own counter).
    used: u64,
}

/// The node-wide `SCAN` cursors (see the module documentation): at most `capacity` iterations.
#[derive(Debug)]
pub struct CursorTable {
    iters: HashMap<u32, Iteration>,
    capacity: usize,
    tick: u64,
    rng: StdRng,
}

/// Bit position of an iteration's tag in a cursor.
const TAG_SHIFT: u32 = 32;

fn cursor_of(tag: u32, step: u32) -> u64 {
    (u64::from(tag) << TAG_SHIFT) | u64::from(step)
}

impl CursorTable {
    /// A table of at most `capacity` (at least 1) iterations, whose tags come from `seed`.
    pub fn new(capacity: usize, seed: u64) -> CursorTable {
        CursorTable {
            iters: HashMap::new(),
            capacity: capacity.max(1),
            tick: 0,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// Iterations remembered.
    pub fn len(&self) -> usize {
        self.iters.len()
    }

    /// Where the step `cursor` names starts: its iteration's tag, the step, and the start key;
    /// `None` for a cursor the table does not know.
    pub fn resume(&mut self, cursor: u64) -> Option<(u32, u32, Bytes)> {
        let tag = u32::try_from(cursor >> TAG_SHIFT).ok()?;
        let step = (cursor & u64::from(u32::MAX)) as u32;
        self.tick += 1;
        let it = self.iters.get_mut(&tag)?;
        let start = if step == it.step {
            it.pos.clone()?
        } else if step.checked_add(1) == Some(it.step) {
            it.prev.clone()?
        } else {
            return None;
        };
        it.used = self.tick;
        Some((tag, step, start))
    }

    /// Records that step `step` of iteration `tag` (`None`: a new iteration from cursor 0)
    /// started at `start` and that the next step starts at `next` (`None`: the iteration is
    /// over). Returns the cursor to give the client: `0` when the iteration is over.
    pub fn advance(
        &mut self,
        tag: Option<u32>,
        step: u32,
        start: Bytes,
        next: Option<Bytes>,
    ) -> u64 {
        self.tick += 1;
        if let (Some(tag), Some(following)) = (tag, step.checked_add(1)) {
            if let Some(it) = self.iters.get_mut(&tag) {
                if it.step == step || it.step == following {
                    it.step = following;
                    it.prev = Some(start);
                    let more = next.is_some();
                    it.pos = next;
                    it.used = self.tick;
                    return if more { cursor_of(tag, following) } else { 0 };
                }
            }
        }
        // A new iteration, or one the table no longer holds (evicted, or its step counter ran
        // out): continue under a fresh tag.
        match next {
            None => 0,
            Some(pos) => {
                let tag = self.insert(pos);
                cursor_of(tag, 1)
            }
        }
    }

    fn insert(&mut self, pos: Bytes) -> u32 {
        if self.iters.len() >= self.capacity {
            let victim = self
                .iters
                .iter()
                .min_by_key(|(_, it)| (it.pos.is_some(), it.used))
                .map(|(tag, _)| *tag);
            if let Some(victim) = victim {
                self.iters.remove(&victim);
            }
        }
        let tag = loop {
            let tag = self.rng.gen_range(1..1u32 << 31);
            if !self.iters.contains_key(&tag) {
                break tag;
            }
        };
        self.iters.insert(
            tag,
            Iteration {
                step: 1,
                pos: Some(pos),
                prev: None,
                used: self.tick,
            },
        );
        tag
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{parse_reply, Value};
    use level2pc::OpResult;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    /// A store: answers a job's range reads from a sorted list of keys.
    fn answer(keys: &[&str], op: &Op) -> Vec<u8> {
        let Op::Range { lo, hi, limit } = op else {
            panic!("not a range read: {op:?}")
        };
        let entries: Vec<(Bytes, Bytes)> = keys
            .iter()
            .map(|k| b(k))
            .filter(|k| k >= lo && k < hi)
            .take(limit.unwrap_or(usize::MAX))
            .map(|k| (k, b("v")))
            .collect();
        reply::format(&chunk_kind(), &OpResult::Entries(entries))
    }

    /// Runs `req` to its reply against `keys`; returns it and how many reads it took.
    fn run(req: Request, keys: &[&str], cursors: &mut CursorTable) -> (Value, usize) {
        let (mut job, mut op) = match Job::start(req, cursors, 1 << 20) {
            Ok(started) => started,
            Err(reply) => return (value(&reply), 0),
        };
        for reads in 1.. {
            if let Some(reply) = job.on_chunk(&answer(keys, &op), cursors) {
                return (value(&reply), reads);
            }
            op = job.op();
        }
        unreachable!()
    }

    fn value(bytes: &[u8]) -> Value {
        let (v, used) = parse_reply(bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        v
    }

    fn strings(v: &Value) -> Vec<String> {
        let Value::Array(Some(items)) = v else {
            panic!("not an array: {v:?}")
        };
        items
            .iter()
            .map(|i| match i {
                Value::Bulk(Some(b)) => String::from_utf8(b.clone()).unwrap(),
                other => panic!("not a bulk: {other:?}"),
            })
            .collect()
    }

    fn scan_all(
        keys: &[&str],
        pattern: Option<&str>,
        count: usize,
        cursors: &mut CursorTable,
    ) -> Vec<String> {
        let mut cursor = 0;
        let mut found = Vec::new();
        for _ in 0..10_000 {
            let req = Request::Scan {
                cursor,
                pattern: pattern.map(b),
                count,
            };
            let (v, _) = run(req, keys, cursors);
            let Value::Array(Some(parts)) = v else {
                panic!("SCAN reply {v:?}")
            };
            let Value::Bulk(Some(c)) = &parts[0] else {
                panic!("cursor {:?}", parts[0])
            };
            cursor = String::from_utf8(c.clone()).unwrap().parse().unwrap();
            found.extend(strings(&parts[1]));
            if cursor == 0 {
                return found;
            }
        }
        panic!("SCAN did not end")
    }

    fn many(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("key:{i:05}")).collect()
    }

    #[test]
    fn dbsize_and_keys_read_in_chunks_until_an_empty_one() {
        let owned = many(2_500);
        let keys: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut cursors = CursorTable::new(8, 1);
        let (v, reads) = run(Request::DbSize, &keys, &mut cursors);
        assert_eq!(v, Value::Integer(2_500));
        assert_eq!(
            reads, 4,
            "three chunks of at most 1000 keys, then an empty one"
        );
        let (v, _) = run(
            Request::Keys {
                pattern: b("key:0001?"),
            },
            &keys,
            &mut cursors,
        );
        assert_eq!(
            strings(&v),
            (10..20).map(|i| format!("key:{i:05}")).collect::<Vec<_>>()
        );
        let (v, _) = run(Request::Keys { pattern: b("*") }, &[], &mut cursors);
        assert_eq!(strings(&v), Vec::<String>::new());
        let (v, _) = run(Request::Keys { pattern: b("*") }, &["", "a"], &mut cursors);
        assert_eq!(strings(&v), vec!["", "a"], "`*` lists the empty key too");
        assert_eq!(cursors.len(), 0, "DBSIZE and KEYS use no cursor");
    }

    #[test]
    fn keys_is_bounded_by_the_reply_limit() {
        let owned = many(100);
        let keys: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut cursors = CursorTable::new(8, 1);
        let (mut job, op) =
            Job::start(Request::Keys { pattern: b("*") }, &mut cursors, 500).unwrap();
        let reply = job.on_chunk(&answer(&keys, &op), &mut cursors).unwrap();
        assert!(
            matches!(value(&reply), Value::Error(e) if e.starts_with("ERR KEYS reply would exceed 500 bytes")),
        );
    }

    #[test]
    fn scan_returns_every_key_once_with_decimal_cursors() {
        let owned = many(333);
        let keys: Vec<&str> = owned.iter().map(String::as_str).collect();
        let mut cursors = CursorTable::new(8, 7);
        for count in [1, 10, 100, 1_000, 50_000] {
            assert_eq!(scan_all(&keys, None, count, &mut cursors), owned);
        }
        let matching: Vec<String> = owned.iter().filter(|k| k.ends_with('7')).cloned().collect();
        assert_eq!(scan_all(&keys, Some("*7"), 10, &mut cursors), matching);
        assert_eq!(scan_all(&[], None, 10, &mut cursors), Vec::<String>::new());
    }

    #[test]
    fn a_scan_step_can_be_repeated_and_unknown_cursors_are_refused() {
        let keys = ["a", "b", "c", "d", "e"];
        let mut cursors = CursorTable::new(8, 3);
        let step = |cursor, cursors: &mut CursorTable| {
            let req = Request::Scan {
                cursor,
                pattern: None,
                count: 2,
            };
            let (v, _) = run(req, &keys, cursors);
            let Value::Array(Some(parts)) = v else {
                return (u64::MAX, vec![format!("{v:?}")]);
            };
            let Value::Bulk(Some(c)) = &parts[0] else {
                panic!()
            };
            let c = String::from_utf8(c.clone())
                .unwrap()
                .parse::<u64>()
                .unwrap();
            (c, strings(&parts[1]))
        };
        let (c1, k1) = step(0, &mut cursors);
        assert_eq!(k1, ["a", "b"]);
        assert!(c1 > 0 && c1 < 1 << 63, "cursor {c1}");
        let (c2, k2) = step(c1, &mut cursors);
        assert_eq!(k2, ["c", "d"]);
        let (c2_again, k2_again) = step(c1, &mut cursors);
        assert_eq!(
            (c2_again, k2_again),
            (c2, k2),
            "a repeated step answers the same"
        );
        let (c3, k3) = step(c2, &mut cursors);
        assert_eq!((c3, k3), (0, vec!["e".to_string()]));
        let (c3_again, _) = step(c2, &mut cursors);
        assert_eq!(c3_again, 0, "the last step can be repeated too");
        let (_, err) = step(c1, &mut cursors);
        assert!(err[0].contains("invalid cursor"), "two steps back: {err:?}");
        for bogus in [1, 12_345, u64::MAX, c2 + 5] {
            let (_, err) = step(bogus, &mut cursors);
            assert!(err[0].contains("invalid cursor"), "{bogus}: {err:?}");
        }
    }

    #[test]
    fn the_cursor_table_is_bounded_and_evicts_finished_then_oldest() {
        let mut t = CursorTable::new(3, 9);
        let a = t.advance(None, 0, b(""), Some(b("a")));
        let b_ = t.advance(None, 0, b(""), Some(b("b")));
        let (tag_b, step_b, _) = t.resume(b_).unwrap();
        // b ends: it becomes the first to evict.
        assert_eq!(t.advance(Some(tag_b), step_b, b("b"), None), 0);
        let c = t.advance(None, 0, b(""), Some(b("c")));
        assert_eq!(t.len(), 3);
        let d = t.advance(None, 0, b(""), Some(b("d")));
        assert_eq!(t.len(), 3, "never more than the capacity");
        assert!(t.resume(a).is_some() && t.resume(c).is_some() && t.resume(d).is_some());
        // Now every iteration is active: the least recently used one (a, resumed first) goes.
        t.resume(c);
        t.resume(d);
        let e = t.advance(None, 0, b(""), Some(b("e")));
        assert!(t.resume(a).is_none(), "a was the least recently used");
        assert!(t.resume(c).is_some() && t.resume(d).is_some() && t.resume(e).is_some());
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn an_engine_error_ends_the_command_and_keeps_the_cursor() {
        let mut cursors = CursorTable::new(8, 5);
        let c = cursors.advance(None, 0, b(""), Some(b("m")));
        let req = Request::Scan {
            cursor: c,
            pattern: None,
            count: 10,
        };
        let (mut job, op) = Job::start(req.clone(), &mut cursors, 1 << 20).unwrap();
        assert!(matches!(&op, Op::Range { lo, .. } if &**lo == b"m"));
        let err = reply::error("UNAVAILABLE no lease");
        assert_eq!(job.on_chunk(&err, &mut cursors), Some(err.clone()));
        assert!(
            Job::start(req, &mut cursors, 1 << 20).is_ok(),
            "the cursor still works"
        );
    }

    #[test]
    fn costly_patterns_get_smaller_chunks() {
        assert_eq!(chunk_for(None), CHUNK_KEYS);
        assert_eq!(chunk_for(Some(&Glob::new(b"user:*"))), CHUNK_KEYS);
        let hostile = "*a".repeat(400);
        let chunk = chunk_for(Some(&Glob::new(hostile.as_bytes())));
        assert!((1..CHUNK_KEYS).contains(&chunk), "{chunk}");
        assert!(
            chunk * Glob::new(hostile.as_bytes()).cost_per_key(MAX_KEY_BYTES)
                <= MATCH_STEPS_PER_CHUNK
        );
    }
}
