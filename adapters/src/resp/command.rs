//! RESP commands level2pc understands, decoded from a request's arguments.
//!
//! Names and arities come from the command table ([`super::catalog`]), so `COMMAND` describes
//! exactly what is accepted here. A command that is not served — unsupported or unknown —
//! becomes [`Command::Invalid`] with an error that names it.

use super::catalog::{self, SET_OPTIONS_UNSUPPORTED, UNSUPPORTED};
use super::reply::Proto;
use super::scan::DEFAULT_SCAN_COUNT;
use level2pc::{Bytes, Presence};

/// One client command. Anything unknown or malformed becomes [`Command::Invalid`] with the
/// error text to send back; the connection stays open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// An empty request (blank inline line, `*0`): no reply, as in Redis.
    Empty,
    /// `PING [message]`.
    Ping(Option<Bytes>),
    /// `ECHO message`.
    Echo(Bytes),
    /// `GET key`.
    Get(Bytes),
    /// `SET key value` (no options): a blind write.
    Set(Bytes, Bytes),
    /// `SET key value [NX|XX] [GET]` with at least one option: a read-modify-write.
    SetIf {
        /// The key.
        key: Bytes,
        /// The value.
        value: Bytes,
        /// `NX` (only if absent) or `XX` (only if present).
        only: Option<Presence>,
        /// `GET`: answer the previous value.
        get: bool,
    },
    /// `SETNX key value`.
    SetNx(Bytes, Bytes),
    /// `GETSET key value`.
    GetSet(Bytes, Bytes),
    /// `GETDEL key`.
    GetDel(Bytes),
    /// `INCR`, `DECR`, `INCRBY`, `DECRBY`: add `by` (already negated for the `DECR` forms).
    IncrBy {
        /// The command's name (lower case), for errors.
        name: &'static str,
        /// The key.
        key: Bytes,
        /// What to add.
        by: i64,
    },
    /// `CAS key expected new`: compare-and-set.
    Cas {
        /// The key.
        key: Bytes,
        /// The value the key must hold.
        expected: Bytes,
        /// The value to store.
        new: Bytes,
    },
    /// `DEL key [key ...]` and `UNLINK key [key ...]`.
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
    /// `WATCH key [key ...]`.
    Watch(Vec<Bytes>),
    /// `UNWATCH`.
    Unwatch,
    /// `RANGE lo hi [LIMIT n]`: live keys `lo <= k < hi`, ascending.
    Range {
        /// Inclusive lower bound.
        lo: Bytes,
        /// Exclusive upper bound.
        hi: Bytes,
        /// At most this many entries.
        limit: Option<usize>,
    },
    /// `INFO [section ...]` (the sections are ignored: everything is returned).
    Info,
    /// `QUIT`.
    Quit,
    /// `HELLO [protover [AUTH username password] [SETNAME name]]`, checked.
    Hello {
        /// The protocol to switch to; `None`: keep the current one.
        proto: Option<Proto>,
        /// The user name of `AUTH` (the password is not kept: none is configured).
        auth: Option<Bytes>,
        /// The connection name of `SETNAME` (already checked).
        setname: Option<Bytes>,
    },
    /// `AUTH [username] password`: the user name, if given (the password is not kept).
    Auth(Option<Bytes>),
    /// `CLIENT <subcommand>`.
    Client(ClientCmd),
    /// `SELECT 0` (any other index is refused while decoding).
    Select,
    /// `COMMAND [subcommand]`.
    Commands(CommandQuery),
    /// `DBSIZE`.
    DbSize,
    /// `TYPE key`.
    Type(Bytes),
    /// `STRLEN key`.
    StrLen(Bytes),
    /// `KEYS pattern`.
    Keys(Bytes),
    /// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`.
    Scan {
        /// `0` to start an iteration, else a cursor a `SCAN` returned.
        cursor: u64,
        /// `MATCH` pattern.
        pattern: Option<Bytes>,
        /// `COUNT` (at least 1; default 10).
        count: usize,
        /// `TYPE`: only keys of this type (every key is a `string`).
        type_name: Option<Bytes>,
    },
    /// An unknown or malformed command: the error message (without the leading `-`).
    Invalid(String),
}

/// `CLIENT` subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientCmd {
    /// `CLIENT SETNAME name` (checked; empty clears the name).
    SetName(Bytes),
    /// `CLIENT GETNAME`.
    GetName,
    /// `CLIENT SETINFO LIB-NAME|LIB-VER value` (checked).
    SetInfo {
        /// `LIB-NAME` (`false`) or `LIB-VER` (`true`).
        version: bool,
        /// The value; empty clears it.
        value: Bytes,
    },
    /// `CLIENT ID`.
    Id,
    /// `CLIENT INFO`.
    Info,
    /// `CLIENT HELP`.
    Help,
}

/// `COMMAND` and its subcommands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandQuery {
    /// `COMMAND`: every command's information.
    All,
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND DOCS [name ...]`.
    Docs(Vec<Bytes>),
    /// `COMMAND INFO [name ...]`.
    Info(Vec<Bytes>),
    /// `COMMAND LIST`.
    List,
    /// `COMMAND HELP`.
    Help,
}

fn invalid(msg: impl Into<String>) -> Command {
    Command::Invalid(msg.into())
}

fn wrong_arity(name: &str) -> Command {
    invalid(format!(
        "ERR wrong number of arguments for '{name}' command"
    ))
}

const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const SYNTAX_ERROR: &str = "ERR syntax error";

impl Command {
    /// Decodes a request's arguments (the first is the command name, case-insensitive).
    pub fn from_args(args: &[&[u8]]) -> Command {
        let Some((name, rest)) = args.split_first() else {
            return Command::Empty;
        };
        let Some(spec) = catalog::command(name) else {
            return not_served(name);
        };
        if !spec.arity_ok(args.len()) {
            return wrong_arity(spec.name);
        }
        let bytes = |a: &&[u8]| Bytes::from(*a);
        let keys = || rest.iter().map(bytes).collect::<Vec<_>>();
        match (spec.name, rest) {
            ("ping", []) => Command::Ping(None),
            ("ping", [msg]) => Command::Ping(Some(bytes(msg))),
            ("echo", [msg]) => Command::Echo(bytes(msg)),
            ("get", [key]) => Command::Get(bytes(key)),
            ("set", [key, value]) => Command::Set(bytes(key), bytes(value)),
            ("set", [key, value, options @ ..]) => set_options(bytes(key), bytes(value), options),
            ("setnx", [key, value]) => Command::SetNx(bytes(key), bytes(value)),
            ("getset", [key, value]) => Command::GetSet(bytes(key), bytes(value)),
            ("getdel", [key]) => Command::GetDel(bytes(key)),
            ("incr", [key]) => incr_by(spec.name, bytes(key), 1),
            ("decr", [key]) => incr_by(spec.name, bytes(key), -1),
            ("incrby", [key, n]) => match level2pc::parse_i64(n) {
                Some(by) => incr_by(spec.name, bytes(key), by),
                None => invalid(NOT_AN_INTEGER),
            },
            ("decrby", [key, n]) => match level2pc::parse_i64(n) {
                // Redis checks this before it looks at the key: -i64::MIN does not exist.
                Some(i64::MIN) => invalid("ERR decrement would overflow"),
                Some(by) => incr_by(spec.name, bytes(key), -by),
                None => invalid(NOT_AN_INTEGER),
            },
            ("cas", [key, expected, new]) => Command::Cas {
                key: bytes(key),
                expected: bytes(expected),
                new: bytes(new),
            },
            ("del" | "unlink", _) => Command::Del(keys()),
            ("mget", _) => Command::MGet(keys()),
            ("exists", _) => Command::Exists(keys()),
            ("mset", _) if rest.len() % 2 == 0 => Command::MSet(
                rest.chunks_exact(2)
                    .filter_map(|kv| match kv {
                        [k, v] => Some((bytes(k), bytes(v))),
                        _ => None,
                    })
                    .collect(),
            ),
            ("multi", _) => Command::Multi,
            ("exec", _) => Command::Exec,
            ("discard", _) => Command::Discard,
            ("watch", _) => Command::Watch(keys()),
            ("unwatch", _) => Command::Unwatch,
            ("range", [lo, hi]) => Command::Range {
                lo: bytes(lo),
                hi: bytes(hi),
                limit: None,
            },
            ("range", [lo, hi, word, n]) if word.eq_ignore_ascii_case(b"LIMIT") => {
                match parse_int::<usize>(n) {
                    Some(limit) => Command::Range {
                        lo: bytes(lo),
                        hi: bytes(hi),
                        limit: Some(limit),
                    },
                    None => invalid(NOT_AN_INTEGER),
                }
            }
            ("range", _) => invalid("ERR syntax error (RANGE lo hi [LIMIT n])"),
            ("info", _) => Command::Info,
            ("quit", _) => Command::Quit,
            ("hello", _) => hello(rest),
            ("auth", [_password]) => Command::Auth(None),
            ("auth", [user, _password]) => Command::Auth(Some(bytes(user))),
            ("auth", _) => invalid(SYNTAX_ERROR),
            ("select", [index]) => match parse_int::<i64>(index) {
                Some(0) => Command::Select,
                Some(_) => invalid("ERR DB index is out of range"),
                None => invalid(NOT_AN_INTEGER),
            },
            ("client", [sub, args @ ..]) => client(spec, sub, args),
            ("command", []) => Command::Commands(CommandQuery::All),
            ("command", [sub, args @ ..]) => command(spec, sub, args),
            ("dbsize", _) => Command::DbSize,
            ("type", [key]) => Command::Type(bytes(key)),
            ("strlen", [key]) => Command::StrLen(bytes(key)),
            ("keys", [pattern]) => Command::Keys(bytes(pattern)),
            ("scan", [cursor, options @ ..]) => scan(cursor, options),
            _ => wrong_arity(spec.name),
        }
    }

    /// Whether the command may be queued inside `MULTI`.
    pub fn is_queueable(&self) -> bool {
        matches!(self, Command::Set(..) | Command::Del(_))
    }

    /// Whether the command is a read-modify-write of one key.
    pub fn is_rmw(&self) -> bool {
        matches!(
            self,
            Command::SetIf { .. }
                | Command::SetNx(..)
                | Command::GetSet(..)
                | Command::GetDel(_)
                | Command::IncrBy { .. }
                | Command::Cas { .. }
        )
    }

    /// The command's name as the command table spells it (lower case); empty for
    /// [`Command::Empty`] and [`Command::Invalid`].
    pub fn name(&self) -> &'static str {
        match self {
            Command::Empty | Command::Invalid(_) => "",
            Command::Ping(_) => "ping",
            Command::Echo(_) => "echo",
            Command::Get(_) => "get",
            Command::Set(..) | Command::SetIf { .. } => "set",
            Command::SetNx(..) => "setnx",
            Command::GetSet(..) => "getset",
            Command::GetDel(_) => "getdel",
            Command::IncrBy { name, .. } => name,
            Command::Cas { .. } => "cas",
            Command::Del(_) => "del",
            Command::MGet(_) => "mget",
            Command::MSet(_) => "mset",
            Command::Exists(_) => "exists",
            Command::Multi => "multi",
            Command::Exec => "exec",
            Command::Discard => "discard",
            Command::Watch(_) => "watch",
            Command::Unwatch => "unwatch",
            Command::Range { .. } => "range",
            Command::Info => "info",
            Command::Quit => "quit",
            Command::Hello { .. } => "hello",
            Command::Auth(_) => "auth",
            Command::Client(_) => "client",
            Command::Select => "select",
            Command::Commands(_) => "command",
            Command::DbSize => "dbsize",
            Command::Type(_) => "type",
            Command::StrLen(_) => "strlen",
            Command::Keys(_) => "keys",
            Command::Scan { .. } => "scan",
        }
    }
}

fn incr_by(name: &'static str, key: Bytes, by: i64) -> Command {
    Command::IncrBy { name, key, by }
}

/// The error for a command name level2pc does not serve.
fn not_served(name: &[u8]) -> Command {
    let upper = name.to_ascii_uppercase();
    let shown = printable(name);
    if let Some((_, why)) = UNSUPPORTED.iter().find(|(n, _)| n.as_bytes() == upper) {
        return invalid(format!(
            "ERR unknown command '{shown}' (not supported by level2pc: {why})"
        ));
    }
    invalid(format!("ERR unknown command '{shown}'"))
}

/// `SET key value <options>`, read left to right as Redis does (the first bad option decides
/// the error): `NX` or `XX` (not both) and `GET`, in any order and case; an expiry option is
/// refused (keys do not expire), anything else is a syntax error.
fn set_options(key: Bytes, value: Bytes, options: &[&[u8]]) -> Command {
    let (mut only, mut get) = (None, false);
    for option in options {
        let upper = option.to_ascii_uppercase();
        match &upper[..] {
            b"NX" if only != Some(Presence::Present) => only = Some(Presence::Absent),
            b"XX" if only != Some(Presence::Absent) => only = Some(Presence::Present),
            b"GET" => get = true,
            _ if SET_OPTIONS_UNSUPPORTED
                .iter()
                .any(|o| o.as_bytes() == upper) =>
            {
                return invalid(format!(
                    "ERR syntax error (SET option '{}' is not supported by level2pc: keys do not expire)",
                    printable(&upper)
                ));
            }
            _ => return invalid(SYNTAX_ERROR),
        }
    }
    Command::SetIf {
        key,
        value,
        only,
        get,
    }
}

/// Parses a decimal integer as Redis does (no spaces, no `+`).
fn parse_int<T: std::str::FromStr>(n: &[u8]) -> Option<T> {
    if n.first() == Some(&b'+') {
        return None;
    }
    std::str::from_utf8(n).ok()?.parse().ok()
}

/// Whether a client name or library attribute is acceptable: printable ASCII without spaces
/// (Redis's `validateClientAttr`), so `CLIENT INFO` stays one line of space-separated fields.
fn valid_attr(value: &[u8]) -> bool {
    value.iter().all(|b| (b'!'..=b'~').contains(b))
}

const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// `HELLO [protover [AUTH username password] [SETNAME name]]`, checked in Redis's order.
fn hello(rest: &[&[u8]]) -> Command {
    let Some((version, options)) = rest.split_first() else {
        return Command::Hello {
            proto: None,
            auth: None,
            setname: None,
        };
    };
    let proto = match parse_int::<i64>(version) {
        Some(2) => Proto::Resp2,
        Some(3) => Proto::Resp3,
        Some(_) => return invalid("NOPROTO unsupported protocol version"),
        None => return invalid("ERR Protocol version is not an integer or out of range"),
    };
    let (mut auth, mut setname) = (None, None);
    let mut i = 0;
    while let Some(option) = options.get(i) {
        match options.get(i + 1..) {
            Some([user, _password, ..]) if option.eq_ignore_ascii_case(b"AUTH") => {
                auth = Some(Bytes::from(*user));
                i += 3;
            }
            Some([name, ..]) if option.eq_ignore_ascii_case(b"SETNAME") => {
                if !valid_attr(name) {
                    return invalid(BAD_CLIENT_NAME);
                }
                setname = Some(Bytes::from(*name));
                i += 2;
            }
            _ => {
                return invalid(format!(
                    "ERR Syntax error in HELLO option '{}'",
                    printable(option)
                ))
            }
        }
    }
    Command::Hello {
        proto: Some(proto),
        auth,
        setname,
    }
}

fn unknown_subcommand(container: &catalog::Spec, sub: &[u8]) -> Command {
    invalid(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        printable(sub),
        container.name.to_uppercase()
    ))
}

/// The subcommand `sub` of `container`, with its arity checked (`args` follow `sub`).
fn subcommand(
    container: &'static catalog::Spec,
    sub: &[u8],
    args: &[&[u8]],
) -> Result<&'static str, Command> {
    let spec = container
        .subcommand(sub)
        .ok_or_else(|| unknown_subcommand(container, sub))?;
    if !spec.arity_ok(args.len() + 2) {
        return Err(wrong_arity(spec.name));
    }
    Ok(spec.name)
}

fn client(container: &'static catalog::Spec, sub: &[u8], args: &[&[u8]]) -> Command {
    let name = match subcommand(container, sub, args) {
        Ok(name) => name,
        Err(e) => return e,
    };
    let cmd = match (name, args) {
        ("client|setname", [name]) if valid_attr(name) => ClientCmd::SetName(Bytes::from(*name)),
        ("client|setname", _) => return invalid(BAD_CLIENT_NAME),
        ("client|getname", _) => ClientCmd::GetName,
        ("client|setinfo", [attr, value]) => {
            let version = if attr.eq_ignore_ascii_case(b"LIB-NAME") {
                false
            } else if attr.eq_ignore_ascii_case(b"LIB-VER") {
                true
            } else {
                return invalid(format!("ERR Unrecognized option '{}'", printable(attr)));
            };
            if !valid_attr(value) {
                return invalid(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    printable(attr)
                ));
            }
            ClientCmd::SetInfo {
                version,
                value: Bytes::from(*value),
            }
        }
        ("client|id", _) => ClientCmd::Id,
        ("client|info", _) => ClientCmd::Info,
        ("client|help", _) => ClientCmd::Help,
        _ => return unknown_subcommand(container, sub),
    };
    Command::Client(cmd)
}

fn command(container: &'static catalog::Spec, sub: &[u8], args: &[&[u8]]) -> Command {
    let name = match subcommand(container, sub, args) {
        Ok(name) => name,
        Err(e) => return e,
    };
    let names = || args.iter().map(|a| Bytes::from(*a)).collect();
    let query = match name {
        "command|count" => CommandQuery::Count,
        "command|docs" => CommandQuery::Docs(names()),
        "command|info" => CommandQuery::Info(names()),
        "command|list" => CommandQuery::List,
        "command|help" => CommandQuery::Help,
        _ => return unknown_subcommand(container, sub),
    };
    Command::Commands(query)
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`, with Redis's errors.
fn scan(cursor: &[u8], options: &[&[u8]]) -> Command {
    let Some(cursor) = parse_int::<u64>(cursor) else {
        return invalid("ERR invalid cursor");
    };
    let (mut pattern, mut count, mut type_name) = (None, DEFAULT_SCAN_COUNT, None);
    let mut i = 0;
    while let Some(option) = options.get(i) {
        let Some(value) = options.get(i + 1) else {
            return invalid(SYNTAX_ERROR);
        };
        if option.eq_ignore_ascii_case(b"MATCH") {
            pattern = Some(Bytes::from(*value));
        } else if option.eq_ignore_ascii_case(b"COUNT") {
            match parse_int::<i64>(value) {
                Some(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => return invalid(SYNTAX_ERROR),
                None => return invalid(NOT_AN_INTEGER),
            }
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            type_name = Some(Bytes::from(*value));
        } else {
            return invalid(SYNTAX_ERROR);
        }
        i += 2;
    }
    Command::Scan {
        cursor,
        pattern,
        count,
        type_name,
    }
}

/// A name as shown in an error: at most 64 bytes of it, control characters escaped, so an
/// error line can never contain CR or LF.
fn printable(name: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(name.get(..64).unwrap_or(name))
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

    fn err(words: &[&str]) -> String {
        match cmd(words) {
            Command::Invalid(e) => e,
            other => panic!("{words:?} decoded to {other:?}"),
        }
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
        assert_eq!(cmd(&["echo", "hi"]), Command::Echo(b("hi")));
        assert_eq!(cmd(&[]), Command::Empty);
        assert_eq!(cmd(&["dbsize"]), Command::DbSize);
        assert_eq!(cmd(&["type", "k"]), Command::Type(b("k")));
        assert_eq!(cmd(&["strlen", "k"]), Command::StrLen(b("k")));
        assert_eq!(cmd(&["keys", "a*"]), Command::Keys(b("a*")));
        assert_eq!(cmd(&["select", "0"]), Command::Select);
        assert_eq!(cmd(&["info", "server", "clients"]), Command::Info);
    }

    #[test]
    fn hello_and_auth_follow_redis() {
        assert_eq!(
            cmd(&["HELLO"]),
            Command::Hello {
                proto: None,
                auth: None,
                setname: None
            }
        );
        assert_eq!(
            cmd(&["hello", "3", "auth", "default", "pw", "setname", "me"]),
            Command::Hello {
                proto: Some(Proto::Resp3),
                auth: Some(b("default")),
                setname: Some(b("me"))
            }
        );
        assert_eq!(
            cmd(&["HELLO", "2"]),
            Command::Hello {
                proto: Some(Proto::Resp2),
                auth: None,
                setname: None
            }
        );
        assert_eq!(err(&["HELLO", "4"]), "NOPROTO unsupported protocol version");
        assert_eq!(err(&["HELLO", "1"]), "NOPROTO unsupported protocol version");
        assert_eq!(
            err(&["HELLO", "x"]),
            "ERR Protocol version is not an integer or out of range"
        );
        assert_eq!(
            err(&["HELLO", "3", "AUTH", "default"]),
            "ERR Syntax error in HELLO option 'AUTH'"
        );
        assert_eq!(
            err(&["HELLO", "3", "SETNAME", "a b"]),
            "ERR Client names cannot contain spaces, newlines or special characters."
        );
        assert_eq!(cmd(&["AUTH", "pw"]), Command::Auth(None));
        assert_eq!(cmd(&["AUTH", "u", "pw"]), Command::Auth(Some(b("u"))));
        assert_eq!(err(&["AUTH", "a", "b", "c"]), "ERR syntax error");
    }

    #[test]
    fn client_select_and_command_subcommands() {
        assert_eq!(
            cmd(&["client", "setname", "app-1"]),
            Command::Client(ClientCmd::SetName(b("app-1")))
        );
        assert_eq!(
            cmd(&["CLIENT", "GETNAME"]),
            Command::Client(ClientCmd::GetName)
        );
        assert_eq!(
            cmd(&["CLIENT", "SETINFO", "lib-ver", "8.1.0"]),
            Command::Client(ClientCmd::SetInfo {
                version: true,
                value: b("8.1.0")
            })
        );
        assert_eq!(cmd(&["CLIENT", "ID"]), Command::Client(ClientCmd::Id));
        assert_eq!(
            err(&["CLIENT", "SETINFO", "lib-x", "1"]),
            "ERR Unrecognized option 'lib-x'"
        );
        assert_eq!(
            err(&["CLIENT", "SETINFO", "LIB-NAME", "a b"]),
            "ERR LIB-NAME cannot contain spaces, newlines or special characters."
        );
        assert_eq!(
            err(&["CLIENT", "SETNAME", "a\nb"]),
            "ERR Client names cannot contain spaces, newlines or special characters."
        );
        assert_eq!(
            err(&["CLIENT", "MAINT_NOTIFICATIONS", "ON"]),
            "ERR unknown subcommand 'MAINT_NOTIFICATIONS'. Try CLIENT HELP."
        );
        assert_eq!(
            err(&["CLIENT", "SETNAME"]),
            "ERR wrong number of arguments for 'client|setname' command"
        );
        assert_eq!(
            err(&["CLIENT"]),
            "ERR wrong number of arguments for 'client' command"
        );
        assert_eq!(err(&["SELECT", "1"]), "ERR DB index is out of range");
        assert_eq!(
            err(&["SELECT", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(cmd(&["COMMAND"]), Command::Commands(CommandQuery::All));
        assert_eq!(
            cmd(&["COMMAND", "docs"]),
            Command::Commands(CommandQuery::Docs(vec![]))
        );
        assert_eq!(
            cmd(&["COMMAND", "INFO", "get", "set"]),
            Command::Commands(CommandQuery::Info(vec![b("get"), b("set")]))
        );
        assert_eq!(
            cmd(&["COMMAND", "COUNT"]),
            Command::Commands(CommandQuery::Count)
        );
        assert_eq!(
            err(&["COMMAND", "GETKEYS", "get", "x"]),
            "ERR unknown subcommand 'GETKEYS'. Try COMMAND HELP."
        );
    }

    #[test]
    fn scan_options() {
        assert_eq!(
            cmd(&["SCAN", "0"]),
            Command::Scan {
                cursor: 0,
                pattern: None,
                count: 10,
                type_name: None
            }
        );
        assert_eq!(
            cmd(&[
                "scan",
                "4294967297",
                "match",
                "k*",
                "count",
                "500",
                "type",
                "string"
            ]),
            Command::Scan {
                cursor: 4_294_967_297,
                pattern: Some(b("k*")),
                count: 500,
                type_name: Some(b("string"))
            }
        );
        assert_eq!(err(&["SCAN", "x"]), "ERR invalid cursor");
        assert_eq!(err(&["SCAN", "-1"]), "ERR invalid cursor");
        assert_eq!(err(&["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
        assert_eq!(
            err(&["SCAN", "0", "COUNT", "x"]),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(err(&["SCAN", "0", "MATCH"]), "ERR syntax error");
        assert_eq!(err(&["SCAN", "0", "BOGUS", "1"]), "ERR syntax error");
    }

    #[test]
    fn wrong_arity_and_unknown_commands_are_errors() {
        assert_eq!(
            err(&["GET"]),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            err(&["MSET", "a"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            err(&["MSET", "a", "1", "b"]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            err(&["PING", "a", "b"]),
            "ERR wrong number of arguments for 'ping' command"
        );
        assert_eq!(err(&["nosuch"]), "ERR unknown command 'nosuch'");
        assert_eq!(
            err(&["FLUSHALL"]),
            "ERR unknown command 'FLUSHALL' (not supported by level2pc: delete keys with DEL)"
        );
        assert_eq!(
            err(&["expire", "k", "10"]),
            "ERR unknown command 'expire' (not supported by level2pc: keys do not expire)"
        );
        assert_eq!(
            err(&["SET", "x", "1", "EX", "10"]),
            "ERR syntax error (SET option 'EX' is not supported by level2pc: keys do not expire)"
        );
        assert_eq!(err(&["SET", "x", "1", "bogus"]), "ERR syntax error");
        assert!(matches!(
            cmd(&["RANGE", "a", "b", "LIMIT", "x"]),
            Command::Invalid(_)
        ));
        assert_eq!(err(&["BAD\r\nNAME"]), "ERR unknown command 'BAD\\r\\nNAME'");
        assert_eq!(
            err(&["client|setname", "x"]),
            "ERR unknown command 'client|setname'"
        );
    }

    fn set_if(only: Option<Presence>, get: bool) -> Command {
        Command::SetIf {
            key: b("k"),
            value: b("v"),
            only,
            get,
        }
    }

    #[test]
    fn set_options_combine_in_any_order_and_case() {
        use Presence::{Absent, Present};
        assert_eq!(cmd(&["SET", "k", "v"]), Command::Set(b("k"), b("v")));
        for (options, only, get) in [
            (&["NX"][..], Some(Absent), false),
            (&["nx"], Some(Absent), false),
            (&["Xx"], Some(Present), false),
            (&["GET"], None, true),
            (&["get"], None, true),
            (&["NX", "GET"], Some(Absent), true),
            (&["get", "nx"], Some(Absent), true),
            (&["XX", "get"], Some(Present), true),
            (&["GET", "XX"], Some(Present), true),
            (&["NX", "NX"], Some(Absent), false),
            (&["GET", "GET", "XX"], Some(Present), true),
        ] {
            let words: Vec<&str> = ["SET", "k", "v"].iter().chain(options).copied().collect();
            assert_eq!(cmd(&words), set_if(only, get), "{options:?}");
        }
        for options in [
            &["NX", "XX"][..],
            &["xx", "nx"],
            &["GET", "XX", "NX"],
            &["bogus"],
            &["NX", "bogus", "EX", "10"],
            &["GETX"],
            &[""],
        ] {
            let words: Vec<&str> = ["SET", "k", "v"].iter().chain(options).copied().collect();
            assert_eq!(err(&words), "ERR syntax error", "{options:?}");
        }
        for (options, shown) in [
            (&["EX", "10"][..], "EX"),
            (&["px", "10"], "PX"),
            (&["NX", "EXAT", "1"], "EXAT"),
            (&["PXAT", "1", "GET"], "PXAT"),
            (&["KEEPTTL"], "KEEPTTL"),
            (&["GET", "ex"], "EX"),
        ] {
            let words: Vec<&str> = ["SET", "k", "v"].iter().chain(options).copied().collect();
            assert_eq!(
                err(&words),
                format!("ERR syntax error (SET option '{shown}' is not supported by level2pc: keys do not expire)"),
                "{options:?}"
            );
        }
        assert_eq!(
            err(&["SET", "k"]),
            "ERR wrong number of arguments for 'set' command"
        );
    }

    #[test]
    fn read_modify_writes_decode_with_redis_arities() {
        assert_eq!(cmd(&["setnx", "k", "v"]), Command::SetNx(b("k"), b("v")));
        assert_eq!(cmd(&["GETSET", "k", "v"]), Command::GetSet(b("k"), b("v")));
        assert_eq!(cmd(&["GetDel", "k"]), Command::GetDel(b("k")));
        assert_eq!(
            cmd(&["CAS", "k", "old", "new"]),
            Command::Cas {
                key: b("k"),
                expected: b("old"),
                new: b("new")
            }
        );
        assert_eq!(
            cmd(&["UNLINK", "a", "b"]),
            Command::Del(vec![b("a"), b("b")])
        );
        for (words, name) in [
            (&["SETNX", "k"][..], "setnx"),
            (&["SETNX", "k", "v", "x"], "setnx"),
            (&["GETSET", "k"], "getset"),
            (&["GETDEL"], "getdel"),
            (&["GETDEL", "a", "b"], "getdel"),
            (&["INCR"], "incr"),
            (&["INCR", "a", "b"], "incr"),
            (&["DECR"], "decr"),
            (&["INCRBY", "k"], "incrby"),
            (&["DECRBY", "k", "1", "2"], "decrby"),
            (&["CAS", "k", "v"], "cas"),
            (&["CAS", "k", "a", "b", "c"], "cas"),
            (&["DEL"], "del"),
            (&["UNLINK"], "unlink"),
        ] {
            assert_eq!(
                err(words),
                format!("ERR wrong number of arguments for '{name}' command"),
                "{words:?}"
            );
        }
    }

    #[test]
    fn increments_take_integer_arguments_as_redis_does() {
        let incr = |name: &'static str, by: i64| Command::IncrBy {
            name,
            key: b("k"),
            by,
        };
        assert_eq!(cmd(&["INCR", "k"]), incr("incr", 1));
        assert_eq!(cmd(&["decr", "k"]), incr("decr", -1));
        assert_eq!(cmd(&["INCRBY", "k", "5"]), incr("incrby", 5));
        assert_eq!(cmd(&["INCRBY", "k", "-5"]), incr("incrby", -5));
        assert_eq!(cmd(&["INCRBY", "k", "0"]), incr("incrby", 0));
        assert_eq!(cmd(&["DECRBY", "k", "5"]), incr("decrby", -5));
        assert_eq!(cmd(&["DECRBY", "k", "-5"]), incr("decrby", 5));
        assert_eq!(
            cmd(&["INCRBY", "k", "9223372036854775807"]),
            incr("incrby", i64::MAX)
        );
        assert_eq!(
            cmd(&["INCRBY", "k", "-9223372036854775808"]),
            incr("incrby", i64::MIN)
        );
        assert_eq!(
            cmd(&["DECRBY", "k", "9223372036854775807"]),
            incr("decrby", -i64::MAX)
        );
        assert_eq!(
            err(&["DECRBY", "k", "-9223372036854775808"]),
            "ERR decrement would overflow"
        );
        for bad in [
            "9223372036854775808",
            "-9223372036854775809",
            "+1",
            " 1",
            "1 ",
            "01",
            "-0",
            "-",
            "",
            "1.0",
            "1e3",
            "0x10",
            "abc",
        ] {
            for name in ["INCRBY", "DECRBY"] {
                assert_eq!(
                    err(&[name, "k", bad]),
                    "ERR value is not an integer or out of range",
                    "{name} {bad:?}"
                );
            }
        }
    }

    #[test]
    fn every_command_has_its_table_name() {
        for words in [
            &["GET", "k"][..],
            &["SET", "k", "v"],
            &["SET", "k", "v", "NX"],
            &["SETNX", "k", "v"],
            &["GETSET", "k", "v"],
            &["GETDEL", "k"],
            &["INCR", "k"],
            &["DECRBY", "k", "1"],
            &["CAS", "k", "a", "b"],
            &["DEL", "k"],
            &["MGET", "k"],
            &["DBSIZE"],
            &["SCAN", "0"],
            &["CLIENT", "ID"],
            &["COMMAND", "COUNT"],
        ] {
            let name = cmd(words).name();
            assert!(
                catalog::command(name.as_bytes()).is_some(),
                "{words:?} named {name:?}"
            );
            assert!(
                words[0].eq_ignore_ascii_case(name) || name == "del",
                "{words:?}"
            );
        }
        assert_eq!(cmd(&["UNLINK", "k"]).name(), "del");
    }
}
