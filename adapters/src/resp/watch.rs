//! `WATCH` / `UNWATCH` and the `EXEC` they condition (optimistic transactions, as Redis has
//! them): `EXEC` answers a null array, and writes nothing, if a watched key changed since it
//! was watched.
//!
//! `WATCH` reads the keys' versions ([`Op::Versions`]: the timestamp of each key's last
//! committed update), one consistent read, and the connection parses nothing more until they
//! are known, so a pipelined `EXEC` is planned with them. `EXEC` then runs as one engine
//! operation:
//!
//! * no queued write: one consistent read of the watched keys' versions, compared;
//! * writes to the one key watched: one read-modify-write, [`Change::IfVersion`], that carries
//!   out the last queued write only if the key is still at its watched version
//!   (protocol.md §11.7: nothing can commit between an RMW's base and the RMW).
//!
//! Any other transaction under `WATCH` (several keys written, or a key written that is not the
//! one watched) is refused when the write is queued, and `EXEC` then answers `EXECABORT`: it
//! would need an atomic write conditioned on several keys, which level2pc does not offer
//! (protocol.md §5.5.8). A "changed" key is one with any committed update since `WATCH`,
//! even one that wrote the same value back (as in Redis).

use super::parse::{parse_multibulk, Limits};
use super::reply::{self, ExecItem, Proto, ReplyKind, Shape};
use super::session::Action;
use level2pc::{Bytes, Change, Op, Ts, Write};
use std::collections::BTreeMap;

/// The most keys one connection may watch at once; a `WATCH` beyond it is refused (and
/// watches nothing more). Bounds the connection's memory, and the read `EXEC` makes.
pub const MAX_WATCHED_KEYS: usize = 1024;

/// A connection's watched keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Watches {
    /// Each watched key and its version when first watched; `None` if the read failed, which
    /// makes `EXEC` fail (a watch that could not be set up must not let a transaction through).
    keys: BTreeMap<Bytes, Option<Ts>>,
    /// The keys of the `WATCH` whose versions are being read.
    pending: Vec<Bytes>,
}

impl Watches {
    /// Whether no key is watched.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Starts watching `keys`: the read to make, or the error if it would watch too many.
    pub fn start(&mut self, keys: Vec<Bytes>) -> Action {
        let new = keys.iter().filter(|k| !self.keys.contains_key(*k)).count();
        if self.keys.len() + new > MAX_WATCHED_KEYS {
            return Action::Reply(reply::error(&format!(
                "ERR too many watched keys (level2pc's limit per connection: {MAX_WATCHED_KEYS})"
            )));
        }
        self.pending = keys.clone();
        Action::Watch(keys)
    }

    /// The read started by [`Watches::start`] answered: `versions`, in the order of its keys,
    /// or `None` if it failed. A key already watched keeps its first version, as in Redis
    /// (a change in between already counts).
    pub fn finish(&mut self, versions: Option<Vec<Ts>>) {
        let pending = std::mem::take(&mut self.pending);
        let versions = versions.filter(|v| v.len() == pending.len());
        for (i, key) in pending.into_iter().enumerate() {
            let at = versions.as_ref().and_then(|v| v.get(i).copied());
            self.keys.entry(key).or_insert(at);
        }
    }

    /// Whether a write to `key` may be queued: with keys watched, only writes to the one key
    /// watched can run as one conditional write.
    pub fn admits_write(&self, key: &[u8]) -> bool {
        self.keys.is_empty() || (self.keys.len() == 1 && self.keys.contains_key(key))
    }

    /// The error for a queued write [`Watches::admits_write`] refuses.
    pub fn refusal(&self) -> String {
        format!(
            "ERR a transaction under WATCH can only write the one key it watches ({} watched): level2pc runs it as one conditional write, and offers none across keys",
            self.keys.len()
        )
    }

    /// `EXEC` of `writes` (replied to as `items`) under these watches, which it consumes.
    pub fn exec(self, writes: Vec<Write>, items: Vec<ExecItem>, proto: Proto) -> Action {
        let mut watched = Vec::with_capacity(self.keys.len());
        for (key, at) in self.keys {
            match at {
                Some(at) => watched.push((key, at)),
                None => return Action::Reply(reply::Frame::NullArray.to_bytes(proto)),
            }
        }
        let Some(last) = writes.last() else {
            let (keys, versions) = watched.into_iter().unzip();
            return Action::Submit {
                op: Op::Versions { keys },
                kind: ReplyKind::new(Shape::Unchanged(versions), proto),
            };
        };
        // Queued writes were admitted only to the one watched key.
        let [(key, version)] = &watched[..] else {
            return Action::Reply(reply::error(
                "ERR internal error: a watched transaction over several keys",
            ));
        };
        let then = match &last.value {
            Some(value) => Change::Set {
                value: value.clone(),
                only: None,
            },
            None => Change::Delete,
        };
        Action::Submit {
            op: Op::Rmw {
                key: key.clone(),
                change: Change::IfVersion {
                    version: *version,
                    then: Some(Box::new(then)),
                },
            },
            kind: ReplyKind::new(Shape::WatchedExec(items), proto),
        }
    }
}

/// The answer to a `WATCH`'s read (formatted as [`Shape::Versions`]): the versions, or `None`
/// with the error reply to send instead.
pub fn versions_from_reply(bytes: &[u8]) -> Result<Vec<Ts>, Vec<u8>> {
    if bytes.first() == Some(&b'-') {
        return Err(bytes.to_vec());
    }
    let unbounded = Limits {
        max_request_bytes: usize::MAX,
        max_args: usize::MAX,
    };
    let malformed = || reply::error("ERR internal error: malformed versions");
    let Ok(Some((items, _))) = parse_multibulk(bytes, &unbounded) else {
        return Err(malformed());
    };
    items
        .iter()
        .map(|b| postcard::from_bytes(b).map_err(|_| malformed()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    fn ts(v: u64) -> Ts {
        Ts::new(v, level2pc::NodeId(1), level2pc::BootInc(1))
    }

    fn watching(keys: &[(&str, Option<Ts>)]) -> Watches {
        let mut w = Watches::default();
        for (k, at) in keys {
            assert!(matches!(w.start(vec![b(k)]), Action::Watch(_)));
            w.finish(at.map(|t| vec![t]));
        }
        w
    }

    fn set(k: &str, v: &str) -> Write {
        Write {
            key: b(k),
            value: Some(b(v)),
        }
    }

    #[test]
    fn a_key_keeps_its_first_watched_version() {
        let mut w = watching(&[("k", Some(ts(1)))]);
        assert!(matches!(w.start(vec![b("k"), b("j")]), Action::Watch(_)));
        w.finish(Some(vec![ts(2), ts(3)]));
        assert_eq!(w.keys.get(&b("k")[..]), Some(&Some(ts(1))));
        assert_eq!(w.keys.get(&b("j")[..]), Some(&Some(ts(3))));
    }

    #[test]
    fn writes_are_admitted_only_to_the_one_watched_key() {
        assert!(Watches::default().admits_write(b"any"));
        let one = watching(&[("k", Some(ts(1)))]);
        assert!(one.admits_write(b"k"));
        assert!(!one.admits_write(b"j"));
        let two = watching(&[("k", Some(ts(1))), ("j", Some(ts(1)))]);
        assert!(!two.admits_write(b"k"));
    }

    #[test]
    fn exec_becomes_one_conditional_write_or_one_version_read() {
        let w = watching(&[("k", Some(ts(4)))]);
        let Action::Submit { op, kind } = w.exec(
            vec![set("k", "1"), set("k", "2")],
            vec![ExecItem::Set; 2],
            Proto::Resp2,
        ) else {
            panic!("not submitted");
        };
        assert_eq!(
            op,
            Op::Rmw {
                key: b("k"),
                change: Change::IfVersion {
                    version: ts(4),
                    then: Some(Box::new(Change::Set {
                        value: b("2"),
                        only: None
                    })),
                },
            }
        );
        assert_eq!(kind.shape, Shape::WatchedExec(vec![ExecItem::Set; 2]));

        let w = watching(&[("a", Some(ts(1))), ("b", Some(Ts::ZERO))]);
        let Action::Submit { op, kind } = w.exec(Vec::new(), Vec::new(), Proto::Resp3) else {
            panic!("not submitted");
        };
        assert_eq!(
            op,
            Op::Versions {
                keys: vec![b("a"), b("b")]
            }
        );
        assert_eq!(kind.shape, Shape::Unchanged(vec![ts(1), Ts::ZERO]));
    }

    #[test]
    fn a_failed_watch_fails_exec_and_the_watch_limit_holds() {
        let w = watching(&[("k", None)]);
        assert_eq!(
            w.exec(vec![set("k", "1")], vec![ExecItem::Set], Proto::Resp2),
            Action::Reply(b"*-1\r\n".to_vec())
        );
        let mut w = Watches::default();
        let many = (0..MAX_WATCHED_KEYS).map(|i| b(&i.to_string())).collect();
        assert!(matches!(w.start(many), Action::Watch(_)));
        w.finish(Some(vec![Ts::ZERO; MAX_WATCHED_KEYS]));
        assert!(matches!(w.start(vec![b("0")]), Action::Watch(_)));
        w.finish(Some(vec![Ts::ZERO]));
        assert!(
            matches!(w.start(vec![b("one more")]), Action::Reply(r) if r.starts_with(b"-ERR too many watched keys"))
        );
    }

    #[test]
    fn versions_travel_through_their_reply() {
        let versions = vec![ts(7), Ts::ZERO];
        let kind = ReplyKind::new(Shape::Versions, Proto::Resp3);
        let bytes = reply::format(&kind, &level2pc::OpResult::Versions(versions.clone()));
        assert_eq!(versions_from_reply(&bytes), Ok(versions));
        let err = reply::unavailable(level2pc::Unavailable::Timeout);
        assert_eq!(versions_from_reply(&err), Err(err.clone()));
        assert!(versions_from_reply(b"*1\r\n$1\r\n\xff\r\n").is_err());
    }
}
