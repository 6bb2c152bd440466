//! Evaluating a read-modify-write on a key's current value (protocol.md §11): pure functions,
//! no protocol state. The node calls [`plan`] on the value it reads as Valid, then either
//! answers at once (nothing to write) or starts an RMW that writes [`Plan::write`].

use crate::client::{Change, OpResult, Presence, RmwError};
use crate::timestamp::Ts;
use crate::update::Bytes;

/// What a [`Change`] does to one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The write to replicate (`Some(None)`: delete), or `None` if nothing needs writing.
    pub(crate) write: Option<Option<Bytes>>,
    /// Whether the change takes effect.
    pub(crate) applied: bool,
    /// The value found.
    pub(crate) previous: Option<Bytes>,
    /// The value after the change.
    pub(crate) current: Option<Bytes>,
}

impl Plan {
    /// The client's answer once the plan's write (if any) committed at `ts`.
    pub(crate) fn result(&self, ts: Option<Ts>) -> OpResult {
        OpResult::Changed {
            applied: self.applied,
            previous: self.previous.clone(),
            current: self.current.clone(),
            ts,
        }
    }
}

/// Evaluates `change` on `previous`, the key's committed value, written at `version`.
pub(crate) fn plan(
    change: &Change,
    version: Ts,
    previous: Option<&Bytes>,
) -> Result<Plan, RmwError> {
    if let Change::IfVersion {
        version: wanted,
        then,
    } = change
    {
        return if_version(*wanted, then.as_deref(), version, previous);
    }
    let previous = previous.cloned();
    let (applied, current) = match change {
        Change::Cas { expected, new } => {
            if *expected == previous {
                (true, new.clone())
            } else {
                (false, previous.clone())
            }
        }
        Change::IncrBy(by) => {
            let old = match &previous {
                None => 0,
                Some(v) => parse_i64(v).ok_or(RmwError::NotInteger)?,
            };
            let new = old.checked_add(*by).ok_or(RmwError::Overflow)?;
            (true, Some(Bytes::from(new.to_string().as_bytes())))
        }
        Change::Set { value, only } => {
            let holds = match only {
                None => true,
                Some(Presence::Absent) => previous.is_none(),
                Some(Presence::Present) => previous.is_some(),
            };
            if holds {
                (true, Some(value.clone()))
            } else {
                (false, previous.clone())
            }
        }
        Change::Delete => (previous.is_some(), None),
        // Evaluated by `if_version` before this match.
        Change::IfVersion { .. } => (false, previous.clone()),
    };
    // A change that leaves the value as it was is a read: nothing to replicate.
    let write = (applied && current != previous).then(|| current.clone());
    Ok(Plan {
        write,
        applied,
        previous,
        current,
    })
}

/// [`Change::IfVersion`]: applied iff the key is still at `wanted`; then `then` decides what is
/// written (its own condition does not make the whole change "not applied").
fn if_version(
    wanted: Ts,
    then: Option<&Change>,
    version: Ts,
    previous: Option<&Bytes>,
) -> Result<Plan, RmwError> {
    let unchanged = Plan {
        write: None,
        applied: false,
        previous: previous.cloned(),
        current: previous.cloned(),
    };
    if version != wanted {
        return Ok(unchanged);
    }
    match then {
        None => Ok(Plan {
            applied: true,
            ..unchanged
        }),
        Some(then) => Ok(Plan {
            applied: true,
            ..plan(then, version, previous)?
        }),
    }
}

/// Parses a value the way Redis's `string2ll` does: an optional `-`, then decimal digits with
/// no leading zero (except `0` itself), no sign `+`, no spaces, within `i64`. This is the form
/// [`Change::IncrBy`] accepts; RESP front ends parse integer arguments with it too.
pub fn parse_i64(v: &[u8]) -> Option<i64> {
    let digits = v.strip_prefix(b"-").unwrap_or(v);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == v.len(), // "0" yes, "-0" no
        [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    #[test]
    fn integers_follow_redis_rules() {
        for (text, want) in [
            ("0", Some(0)),
            ("-5", Some(-5)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("007", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("", None),
            ("-", None),
            ("1.5", None),
        ] {
            assert_eq!(parse_i64(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn increments_write_the_sum_or_refuse() {
        let p = plan(&Change::IncrBy(2), Ts::ZERO, Some(&b("40"))).unwrap();
        assert_eq!(p.write, Some(Some(b("42"))));
        assert_eq!(
            (p.applied, p.previous, p.current),
            (true, Some(b("40")), Some(b("42")))
        );
        assert_eq!(
            plan(&Change::IncrBy(1), Ts::ZERO, None).unwrap().current,
            Some(b("1"))
        );
        assert_eq!(
            plan(&Change::IncrBy(1), Ts::ZERO, Some(&b("x"))),
            Err(RmwError::NotInteger)
        );
        let max = Bytes::from(i64::MAX.to_string().as_bytes());
        assert_eq!(
            plan(&Change::IncrBy(1), Ts::ZERO, Some(&max)),
            Err(RmwError::Overflow)
        );
    }

    #[test]
    fn conditions_that_fail_or_change_nothing_write_nothing() {
        let cas = |e: Option<&str>, n: Option<&str>| Change::Cas {
            expected: e.map(b),
            new: n.map(b),
        };
        let hit = plan(&cas(Some("a"), Some("b")), Ts::ZERO, Some(&b("a"))).unwrap();
        assert_eq!((hit.applied, hit.write), (true, Some(Some(b("b")))));
        let miss = plan(&cas(Some("a"), Some("b")), Ts::ZERO, Some(&b("z"))).unwrap();
        assert_eq!(
            (miss.applied, miss.write, miss.current),
            (false, None, Some(b("z")))
        );
        let same = plan(&cas(Some("a"), Some("a")), Ts::ZERO, Some(&b("a"))).unwrap();
        assert_eq!((same.applied, same.write), (true, None));
        let absent = plan(&cas(None, Some("v")), Ts::ZERO, None).unwrap();
        assert_eq!(absent.write, Some(Some(b("v"))));

        let del = plan(&Change::Delete, Ts::ZERO, Some(&b("v"))).unwrap();
        assert_eq!((del.applied, del.write), (true, Some(None)));
        let del_missing = plan(&Change::Delete, Ts::ZERO, None).unwrap();
        assert_eq!((del_missing.applied, del_missing.write), (false, None));

        let nx = |only| Change::Set {
            value: b("n"),
            only: Some(only),
        };
        assert!(
            !plan(&nx(Presence::Absent), Ts::ZERO, Some(&b("o")))
                .unwrap()
                .applied
        );
        assert!(plan(&nx(Presence::Absent), Ts::ZERO, None).unwrap().applied);
        assert!(
            !plan(&nx(Presence::Present), Ts::ZERO, None)
                .unwrap()
                .applied
        );
        let getset = plan(
            &Change::Set {
                value: b("n"),
                only: None,
            },
            Ts::ZERO,
            Some(&b("o")),
        )
        .unwrap();
        assert_eq!(getset.previous, Some(b("o")));
    }

    #[test]
    fn if_version_applies_only_at_the_watched_version() {
        let at = Ts::new(3, crate::NodeId(1), crate::timestamp::BootInc(1));
        let later = Ts::new(4, crate::NodeId(2), crate::timestamp::BootInc(1));
        let set = |then: Option<Change>| Change::IfVersion {
            version: at,
            then: then.map(Box::new),
        };
        let write = Change::Set {
            value: b("n"),
            only: None,
        };
        let hit = plan(&set(Some(write.clone())), at, Some(&b("o"))).unwrap();
        assert_eq!((hit.applied, hit.write), (true, Some(Some(b("n")))));
        let moved = plan(&set(Some(write)), later, Some(&b("o"))).unwrap();
        assert_eq!(
            (moved.applied, moved.write, moved.current),
            (false, None, Some(b("o")))
        );
        // A check alone writes nothing; a delete of an absent key still counts as applied:
        // the version held, which is what the caller asked.
        let check = plan(&set(None), at, None).unwrap();
        assert_eq!((check.applied, check.write), (true, None));
        let del = plan(&set(Some(Change::Delete)), at, None).unwrap();
        assert_eq!((del.applied, del.write), (true, None));
        assert!(!plan(&set(None), Ts::ZERO, None).unwrap().applied);
    }
}
