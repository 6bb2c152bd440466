//! RESP commands level2pc understands, decoded from a request's arguments.

use level2pc::Bytes;

/// One client command. Anything unknown or malformed becomes [`Command::Invalid`] with the
/// error text to send back; the connection stays open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// An empty request (blank inline line, `*0`): no reply, as in Redis.
    Empty,
    /// `PING [message]`.
    Ping(Option<Bytes>),
    /// `GET key`.
    Get(Bytes),
    /// `SET key value` (no options).
    Set(Bytes, Bytes),
    /// `DEL key [key ...]`: one atomic batch.
    Del(Vec<Bytes>),
    /// `MGET key [key ...]`: one consistent read.
    MGet(Vec<Bytes>),
    /// `MSET key value [key value ...]`: one atomic batch.
    MSet(Vec<(Bytes, Bytes)>),
    /// `EXISTS key [key ...]`.
    Exists(Vec<Bytes>),
    /// `MULTI`.
    Multi,
    /// `EXEC`.
    Exec,
    /// `DISCARD`.
    Discard,
    /// `RANGE lo hi [LIMIT n]`: live keys `lo <= k < hi`, ascending.
    Range {
        /// Inclusive lower bound.
        lo: Bytes,
        /// Exclusive upper bound.
        hi: Bytes,
        /// At most this many entries.
        limit: Option<usize>,
    },
    /// `INFO [section]` (the section is ignored).
    Info,
    /// `QUIT`.
    Quit,
    /// An unknown or malformed command: the error message (without the leading `-`).
    Invalid(String),
}

impl Command {
    /// Decodes a request's arguments (the first is the command name, case-insensitive).
    pub fn from_args(args: &[&[u8]]) -> Command {
        let Some((name, rest)) = args.split_first() else {
            return Command::Empty;
        };
        let upper = name.to_ascii_uppercase();
        let bytes = |a: &&[u8]| Bytes::from(*a);
        match (upper.as_slice(), rest) {
            (b"PING", []) => Command::Ping(None),
            (b"PING", [msg]) => Command::Ping(Some(bytes(msg))),
            (b"GET", [key]) => Command::Get(bytes(key)),
            (b"SET", [key, value]) => Command::Set(bytes(key), bytes(value)),
            (b"SET", [_, _, ..]) => {
                Command::Invalid("ERR syntax error (SET options are not supported)".into())
            }
            (b"DEL", [_, ..]) => Command::Del(rest.iter().map(bytes).collect()),
            (b"MGET", [_, ..]) => Command::MGet(rest.iter().map(bytes).collect()),
            (b"EXISTS", [_, ..]) => Command::Exists(rest.iter().map(bytes).collect()),
            (b"MSET", [_, _, ..]) if rest.len() % 2 == 0 => Command::MSet(
                rest.chunks_exact(2)
                    .map(|kv| (Bytes::from(kv[0]), Bytes::from(kv[1])))
                    .collect(),
            ),
            (b"MULTI", []) => Command::Multi,
            (b"EXEC", []) => Command::Exec,
            (b"DISCARD", []) => Command::Discard,
            (b"RANGE", [lo, hi]) => Command::Range {
                lo: bytes(lo),
                hi: bytes(hi),
                limit: None,
            },
            (b"RANGE", [lo, hi, word, n]) if word.eq_ignore_ascii_case(b"LIMIT") => {
                match parse_usize(n) {
                    Some(limit) => Command::Range {
                        lo: bytes(lo),
                        hi: bytes(hi),
                        limit: Some(limit),
                    },
                    None => Command::Invalid("ERR value is not an integer or out of range".into()),
                }
            }
            (b"RANGE", [_, _, ..]) => {
                Command::Invalid("ERR syntax error (RANGE lo hi [LIMIT n])".into())
            }
            (b"INFO", [] | [_]) => Command::Info,
            (b"QUIT", _) => Command::Quit,
            (known, _) if KNOWN.contains(&known) => Command::Invalid(format!(
                "ERR wrong number of arguments for '{}' command",
                String::from_utf8_lossy(name).to_lowercase()
            )),
            _ => Command::Invalid(format!("ERR unknown command '{}'", printable(name))),
        }
    }

    /// Whether the command may be queued inside `MULTI`.
    pub fn is_queueable(&self) -> bool {
        matches!(self, Command::Set(..) | Command::Del(_))
    }
}

const KNOWN: [&[u8]; 14] = [
    b"PING", b"GET", b"SET", b"DEL", b"MGET", b"MSET", b"EXISTS", b"MULTI", b"EXEC", b"DISCARD",
    b"RANGE", b"INFO", b"QUIT", b"COMMAND",
];

fn parse_usize(n: &[u8]) -> Option<usize> {
    std::str::from_utf8(n).ok()?.parse().ok()
}

/// A command name as shown in an error: at most 64 characters, control characters escaped, so
/// an error line can never contain CR or LF.
fn printable(name: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(&name[..name.len().min(64)])
        .chars()
        .flat_map(char::escape_default)
        .collect();
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(words: &[&str]) -> Command {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        Command::from_args(&args)
    }

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    #[test]
    fn known_commands_decode_case_insensitively() {
        assert_eq!(cmd(&["set", "x", "1"]), Command::Set(b("x"), b("1")));
        assert_eq!(cmd(&["GeT", "x"]), Command::Get(b("x")));
        assert_eq!(cmd(&["DEL", "a", "b"]), Command::Del(vec![b("a"), b("b")]));
        assert_eq!(
            cmd(&["MSET", "a", "1", "b", "2"]),
            Command::MSet(vec![(b("a"), b("1")), (b("b"), b("2"))])
        );
        assert_eq!(
            cmd(&["RANGE", "a", "c", "limit", "5"]),
            Command::Range {
                lo: b("a"),
                hi: b("c"),
                limit: Some(5)
            }
        );
        assert_eq!(
            cmd(&["RANGE", "a", "c"]),
            Command::Range {
                lo: b("a"),
                hi: b("c"),
                limit: None
            }
        );
        assert_eq!(cmd(&["ping"]), Command::Ping(None));
        assert_eq!(cmd(&[]), Command::Empty);
    }

    #[test]
    fn wrong_arity_and_unknown_commands_are_errors() {
        assert_eq!(
            cmd(&["GET"]),
            Command::Invalid("ERR wrong number of arguments for 'get' command".into())
        );
        assert_eq!(
            cmd(&["MSET", "a"]),
            Command::Invalid("ERR wrong number of arguments for 'mset' command".into())
        );
        assert_eq!(
            cmd(&["MSET", "a", "1", "b"]),
            Command::Invalid("ERR wrong number of arguments for 'mset' command".into())
        );
        assert_eq!(
            cmd(&["FLUSHALL"]),
            Command::Invalid("ERR unknown command 'FLUSHALL'".into())
        );
        assert!(matches!(
            cmd(&["SET", "x", "1", "EX", "10"]),
            Command::Invalid(_)
        ));
        assert!(matches!(
            cmd(&["RANGE", "a", "b", "LIMIT", "x"]),
            Command::Invalid(_)
        ));
        assert_eq!(
            cmd(&["BAD\r\nNAME"]),
            Command::Invalid("ERR unknown command 'BAD\\r\\nNAME'".into())
        );
    }
}
