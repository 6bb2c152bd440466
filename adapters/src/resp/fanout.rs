//! One command carried out as several engine operations and answered once: `DEL` (and
//! `UNLINK`) of several keys.
//!
//! # Why not one batch
//!
//! `DEL` answers how many of its keys existed. A batch of deletes is atomic but blind: it does not
//! read, so it cannot tell. A delete-if-present ([`Change::Delete`]) tells, but a read-modify-write
//! covers one key (protocol.md §5.5.8: the keys of a batch have different bases, so no conditional
//! batch can share one timestamp). So a `DEL` of several keys is one delete-if-present per key,
//! and its answer is their sum: **each key's deletion is atomic and linearizable, the keys are not
//! deleted all at once** — a reader may see some of them deleted before the others. (Inside
//! `MULTI` a `DEL` stays part of the atomic batch instead, and its count is null: see
//! [`super::reply::ExecItem::Del`].)
//!
//! # Bounds and failures
//!
//! At most [`WINDOW`] of the deletes are in flight at once (a `DEL` of a million keys must not
//! fill the engine's request queue); each answer submits the next. Repeated keys are deleted
//! once (`DEL a a` answers 1, as Redis does). The first failure stops it: nothing more is
//! submitted, the deletes in flight are waited for, and the reply is
//!
//! * `-UNAVAILABLE ...` (the first such error) if nothing was deleted: nothing was written
//!   anywhere, as for any `UNAVAILABLE` reply;
//! * the write path's `-INDETERMINATE ...` if a delete's outcome is unknown;
//! * `-INDETERMINATE DEL deleted n of the keys, then failed: ...` if some keys were deleted and
//!   another was refused: the command neither fully happened nor did nothing.

use super::reply::{self, Proto, ReplyKind, Shape};
use level2pc::{Bytes, Change, Op};
use std::collections::{HashSet, VecDeque};

/// Most engine operations one command has in flight at once.
pub const WINDOW: usize = 32;

/// What a command does after one of its operations was answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Submit these operations (possibly none) and wait for more answers.
    Submit(Vec<Op>),
    /// Every operation is answered: send this reply.
    Done(Vec<u8>),
}

/// How the command stopped early.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Failure {
    /// `-UNAVAILABLE ...`: that operation wrote nothing.
    Refused(Vec<u8>),
    /// Anything else (`-INDETERMINATE ...`, an unexpected reply): that operation may have written.
    Unknown,
}

/// A `DEL` of several keys in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fanout {
    /// Keys not yet submitted, in the order named.
    pending: VecDeque<Bytes>,
    /// Operations submitted and not yet answered.
    in_flight: usize,
    /// Keys found and deleted so far.
    deleted: i64,
    failure: Option<Failure>,
}

impl Fanout {
    /// `DEL keys...`: one delete-if-present per distinct key.
    pub fn del(keys: Vec<Bytes>) -> Fanout {
        let mut seen = HashSet::with_capacity(keys.len());
        let pending = keys
            .into_iter()
            .filter(|k| seen.insert(k.clone()))
            .collect();
        Fanout {
            pending,
            in_flight: 0,
            deleted: 0,
            failure: None,
        }
    }

    /// The single key, if only one distinct key is named (then one operation does it all).
    pub fn single_key(&self) -> Option<&Bytes> {
        match (self.pending.front(), self.pending.len()) {
            (Some(key), 1) => Some(key),
            _ => None,
        }
    }

    /// How each operation's result is formatted for [`Fanout::on_answer`] (`:1` if the key
    /// existed, `:0` if not, or an error).
    pub fn part_kind() -> ReplyKind {
        ReplyKind::new(Shape::Applied, Proto::Resp2)
    }

    /// The operations to submit first (at most [`WINDOW`]).
    pub fn start(&mut self) -> Vec<Op> {
        self.next_ops(WINDOW)
    }

    fn next_ops(&mut self, n: usize) -> Vec<Op> {
        if self.failure.is_some() {
            return Vec::new();
        }
        let take = n.min(self.pending.len());
        self.in_flight += take;
        self.pending
            .drain(..take)
            .map(|key| Op::Rmw {
                key,
                change: Change::Delete,
            })
            .collect()
    }

    /// Takes in one operation's reply (formatted as [`Fanout::part_kind`]).
    pub fn on_answer(&mut self, answer: &[u8]) -> Step {
        self.in_flight = self.in_flight.saturating_sub(1);
        match answer {
            b":1\r\n" => self.deleted += 1,
            b":0\r\n" => {}
            refused if refused.starts_with(b"-UNAVAILABLE") => {
                if self.failure.is_none() {
                    self.failure = Some(Failure::Refused(refused.to_vec()));
                }
            }
            _ => self.failure = Some(Failure::Unknown),
        }
        if self.failure.is_some() {
            self.pending.clear();
        }
        if self.in_flight == 0 && self.pending.is_empty() {
            return Step::Done(self.reply());
        }
        Step::Submit(self.next_ops(1))
    }

    fn reply(&self) -> Vec<u8> {
        match &self.failure {
            None => reply::integer(self.deleted),
            Some(Failure::Refused(refusal)) if self.deleted == 0 => refusal.clone(),
            Some(Failure::Refused(refusal)) => {
                let why = String::from_utf8_lossy(refusal.get(1..).unwrap_or_default());
                reply::error(&format!(
                    "INDETERMINATE DEL deleted {} of the keys, then failed: {}; the others were not deleted (read the keys to find out which)",
                    self.deleted,
                    why.trim_end()
                ))
            }
            Some(Failure::Unknown) => reply::indeterminate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    fn keys(n: usize) -> Vec<Bytes> {
        (0..n).map(|i| b(&format!("k{i}"))).collect()
    }

    #[test]
    fn repeated_keys_are_deleted_once_and_one_key_is_single() {
        let f = Fanout::del(vec![b("a"), b("a")]);
        assert_eq!(f.single_key(), Some(&b("a")));
        let f = Fanout::del(vec![b("a"), b("b"), b("a")]);
        assert_eq!(f.single_key(), None);
        assert_eq!(f.pending, [b("a"), b("b")]);
    }

    #[test]
    fn answers_are_summed_within_a_bounded_window() {
        let mut f = Fanout::del(keys(WINDOW + 3));
        let first = f.start();
        assert_eq!(first.len(), WINDOW);
        assert_eq!(
            first[0],
            Op::Rmw {
                key: b("k0"),
                change: Change::Delete
            }
        );
        // Each answer refills the window until the keys run out.
        for i in 0..3 {
            let Step::Submit(ops) = f.on_answer(if i == 0 { b":0\r\n" } else { b":1\r\n" }) else {
                panic!("more to do")
            };
            assert_eq!(ops.len(), 1);
        }
        for _ in 0..WINDOW - 1 {
            assert_eq!(f.on_answer(b":1\r\n"), Step::Submit(Vec::new()));
        }
        assert_eq!(
            f.on_answer(b":1\r\n"),
            Step::Done(b":34\r\n".to_vec()),
            "{WINDOW} + 3 keys, one absent"
        );
    }

    #[test]
    fn a_refusal_before_any_deletion_is_passed_on() {
        let mut f = Fanout::del(keys(3));
        assert_eq!(f.start().len(), 3);
        let refusal = b"-UNAVAILABLE no lease: cannot reach a majority of the cluster\r\n";
        assert_eq!(f.on_answer(refusal), Step::Submit(Vec::new()));
        assert_eq!(f.on_answer(b":0\r\n"), Step::Submit(Vec::new()));
        assert_eq!(f.on_answer(refusal), Step::Done(refusal.to_vec()));
    }

    #[test]
    fn a_failure_after_a_deletion_or_an_unknown_outcome_is_indeterminate() {
        let mut f = Fanout::del(keys(WINDOW + 10));
        f.start();
        assert_eq!(
            f.on_answer(b":1\r\n"),
            Step::Submit(vec![Op::Rmw {
                key: b(&format!("k{WINDOW}")),
                change: Change::Delete
            }])
        );
        assert_eq!(
            f.on_answer(b"-UNAVAILABLE timed out waiting for keys to become valid\r\n"),
            Step::Submit(Vec::new()),
            "nothing more is submitted after a failure"
        );
        let mut last = None;
        for _ in 0..WINDOW - 1 {
            last = Some(f.on_answer(b":0\r\n"));
        }
        let Some(Step::Done(reply)) = last else {
            panic!("done once the deletes in flight are answered: {last:?}")
        };
        assert_eq!(
            String::from_utf8(reply).unwrap(),
            "-INDETERMINATE DEL deleted 1 of the keys, then failed: UNAVAILABLE timed out waiting for keys to become valid; the others were not deleted (read the keys to find out which)\r\n"
        );

        let mut f = Fanout::del(keys(2));
        f.start();
        assert_eq!(
            f.on_answer(&reply::indeterminate()),
            Step::Submit(Vec::new())
        );
        assert_eq!(f.on_answer(b":1\r\n"), Step::Done(reply::indeterminate()));
    }
}
