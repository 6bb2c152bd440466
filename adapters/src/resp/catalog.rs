//! The commands level2pc serves, described the way Redis 7 describes its own: the source of the
//! arity checks, of `COMMAND` / `COMMAND COUNT` / `COMMAND INFO` / `COMMAND LIST`, and of
//! `COMMAND DOCS`, which `redis-cli` reads at start-up for its help and its argument hints.
//!
//! Commands level2pc knows but does not serve are listed here too ([`UNSUPPORTED`]): they are
//! answered with an error that names them and says why.

use super::reply::Frame;

/// `SET` options level2pc does not serve: keys never expire.
pub const SET_OPTIONS_UNSUPPORTED: [&str; 5] = ["EX", "PX", "EXAT", "PXAT", "KEEPTTL"];

/// Redis commands level2pc does not serve, and why. Any other command it does not know is
/// `-ERR unknown command 'NAME'`.
pub const UNSUPPORTED: &[(&str, &str)] = &[
    ("EXPIRE", "keys do not expire"),
    ("PEXPIRE", "keys do not expire"),
    ("EXPIREAT", "keys do not expire"),
    ("PEXPIREAT", "keys do not expire"),
    ("EXPIRETIME", "keys do not expire"),
    ("PEXPIRETIME", "keys do not expire"),
    ("TTL", "keys do not expire"),
    ("PTTL", "keys do not expire"),
    ("PERSIST", "keys do not expire"),
    ("SETEX", "keys do not expire"),
    ("PSETEX", "keys do not expire"),
    ("GETEX", "keys do not expire"),
    ("APPEND", "values are only written whole"),
    ("SETRANGE", "values are only written whole"),
    ("INCRBYFLOAT", "only integers are incremented (INCRBY)"),
    (
        "MSETNX",
        "a conditional write covers one key (SET key value NX)",
    ),
    ("RENAME", "keys are only written one by one"),
    ("RENAMENX", "keys are only written one by one"),
    ("COPY", "keys are only written one by one"),
    ("MOVE", "there is only database 0"),
    ("SWAPDB", "there is only database 0"),
    ("FLUSHALL", "delete keys with DEL"),
    ("FLUSHDB", "delete keys with DEL"),
    ("SUBSCRIBE", "there is no pub/sub"),
    ("PSUBSCRIBE", "there is no pub/sub"),
    ("SSUBSCRIBE", "there is no pub/sub"),
    ("UNSUBSCRIBE", "there is no pub/sub"),
    ("PUNSUBSCRIBE", "there is no pub/sub"),
    ("SUNSUBSCRIBE", "there is no pub/sub"),
    ("PUBLISH", "there is no pub/sub"),
    ("SPUBLISH", "there is no pub/sub"),
    ("PUBSUB", "there is no pub/sub"),
    ("MONITOR", "not implemented"),
    ("EVAL", "there is no scripting"),
    ("EVALSHA", "there is no scripting"),
    ("FCALL", "there is no scripting"),
    ("SCRIPT", "there is no scripting"),
    ("FUNCTION", "there is no scripting"),
    ("RESET", "not implemented"),
    ("CONFIG", "configure the node with level2pc serve's options"),
];

/// The type of a documented argument (`COMMAND DOCS`' `type`).
#[derive(Clone, Copy, Debug)]
pub enum ArgKind {
    /// A key.
    Key,
    /// A string.
    Str,
    /// An integer.
    Integer,
    /// A glob pattern.
    Pattern,
    /// A keyword alone (its [`Arg::token`]), such as `SET`'s `NX`.
    PureToken,
    /// A group of arguments given together.
    Block(&'static [Arg]),
    /// One of several arguments.
    OneOf(&'static [Arg]),
}

/// One documented argument.
#[derive(Clone, Copy, Debug)]
pub struct Arg {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: ArgKind,
    /// The keyword before it, if any.
    pub token: Option<&'static str>,
    /// May be left out.
    pub optional: bool,
    /// May be repeated.
    pub multiple: bool,
}

const fn arg(name: &'static str, kind: ArgKind) -> Arg {
    Arg {
        name,
        kind,
        token: None,
        optional: false,
        multiple: false,
    }
}

impl Arg {
    const fn optional(self) -> Arg {
        Arg {
            optional: true,
            ..self
        }
    }
    const fn multiple(self) -> Arg {
        Arg {
            multiple: true,
            ..self
        }
    }
    const fn token(self, token: &'static str) -> Arg {
        Arg {
            token: Some(token),
            ..self
        }
    }
}

/// One command (or subcommand), as `COMMAND INFO` and `COMMAND DOCS` describe it.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Lower-case name; a subcommand is `container|sub`.
    pub name: &'static str,
    /// Redis arity: the number of words including the name; negative: at least that many.
    pub arity: i64,
    /// Command flags (`readonly`, `write`, `fast`, ...).
    pub flags: &'static [&'static str],
    /// First key, last key (-1: the last argument) and step between keys; 0 0 0 without keys.
    pub keys: (i64, i64, i64),
    /// ACL categories.
    pub acl: &'static [&'static str],
    /// One-line summary.
    pub summary: &'static str,
    /// The version that introduced it (Redis's, or level2pc's for its own commands).
    pub since: &'static str,
    /// Command group.
    pub group: &'static str,
    /// Time complexity.
    pub complexity: &'static str,
    /// Arguments.
    pub args: &'static [Arg],
    /// Subcommands, for a container such as `CLIENT`.
    pub subcommands: &'static [Spec],
}

impl Spec {
    /// Whether `words` words (the name included) fit the arity.
    pub fn arity_ok(&self, words: usize) -> bool {
        let words = i64::try_from(words).unwrap_or(i64::MAX);
        if self.arity >= 0 {
            words == self.arity
        } else {
            words >= -self.arity
        }
    }

    /// The subcommand `name` (case-insensitive), if this is a container that has it.
    pub fn subcommand(&self, name: &[u8]) -> Option<&'static Spec> {
        self.subcommands.iter().find(|s| {
            s.name
                .split_once('|')
                .is_some_and(|(_, sub)| sub.as_bytes().eq_ignore_ascii_case(name))
        })
    }
}

const fn spec(name: &'static str, arity: i64, summary: &'static str) -> Spec {
    Spec {
        name,
        arity,
        flags: &[],
        keys: (0, 0, 0),
        acl: &[],
        summary,
        since: "1.0.0",
        group: "generic",
        complexity: "O(1)",
        args: &[],
        subcommands: &[],
    }
}

const KEY: Arg = arg("key", ArgKind::Key);
const VALUE: Arg = arg("value", ArgKind::Str);

/// Every command level2pc serves.
pub static COMMANDS: &[Spec] = &[
    Spec {
        flags: &["fast"],
        acl: &["@fast", "@connection"],
        group: "connection",
        args: &[arg("message", ArgKind::Str).optional()],
        ..spec("ping", -1, "Returns the server's liveliness response.")
    },
    Spec {
        flags: &["fast"],
        acl: &["@fast", "@connection"],
        group: "connection",
        args: &[arg("message", ArgKind::Str)],
        ..spec("echo", 2, "Returns the given string.")
    },
    Spec {
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@string", "@fast"],
        group: "string",
        args: &[KEY],
        ..spec("get", 2, "Returns the string value of a key (a linearizable local read).")
    },
    Spec {
        flags: &["write", "denyoom"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@slow"],
        group: "string",
        args: &[
            KEY,
            VALUE,
            arg(
                "condition",
                ArgKind::OneOf(&[
                    arg("nx", ArgKind::PureToken).token("NX"),
                    arg("xx", ArgKind::PureToken).token("XX"),
                ]),
            )
            .optional(),
            arg("get", ArgKind::PureToken).token("GET").optional(),
        ],
        ..spec("set", -3, "Sets the string value of a key, durable on every member when it returns; NX: only if the key does not exist, XX: only if it does; GET: returns the previous value. Keys do not expire (no EX, PX, EXAT, PXAT, KEEPTTL).")
    },
    Spec {
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        args: &[KEY, VALUE],
        ..spec("setnx", 3, "Sets the string value of a key only if the key does not exist: 1 if it was set, 0 if not.")
    },
    Spec {
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        args: &[KEY, VALUE],
        ..spec("getset", 3, "Returns the previous string value of a key after setting it to a new value.")
    },
    Spec {
        flags: &["write", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        since: "6.2.0",
        args: &[KEY],
        ..spec("getdel", 2, "Returns the string value of a key after deleting the key.")
    },
    Spec {
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        args: &[KEY],
        ..spec("incr", 2, "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
    },
    Spec {
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        args: &[KEY],
        ..spec("decr", 2, "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.")
    },
    Spec {
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        args: &[KEY, arg("increment", ArgKind::Integer)],
        ..spec("incrby", 3, "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.")
    },
    Spec {
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        args: &[KEY, arg("decrement", ArgKind::Integer)],
        ..spec("decrby", 3, "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.")
    },
    Spec {
        flags: &["write", "denyoom", "fast"],
        keys: (1, 1, 1),
        acl: &["@write", "@string", "@fast"],
        group: "string",
        since: "0.1.0",
        args: &[KEY, arg("expected", ArgKind::Str), arg("new", ArgKind::Str)],
        ..spec("cas", 4, "level2pc: compare-and-set. Sets the key to new if it holds expected, atomically: 1 if it did, 0 if the key held something else or nothing.")
    },
    Spec {
        flags: &["write"],
        keys: (1, -1, 1),
        acl: &["@keyspace", "@write", "@slow"],
        complexity: "O(N) where N is the number of keys",
        args: &[KEY.multiple()],
        ..spec("del", -2, "Deletes keys; answers how many existed. Each key is deleted atomically, several keys not all at once (inside MULTI they are, and the count is null).")
    },
    Spec {
        flags: &["write", "fast"],
        keys: (1, -1, 1),
        acl: &["@keyspace", "@write", "@fast"],
        since: "4.0.0",
        complexity: "O(N) where N is the number of keys",
        args: &[KEY.multiple()],
        ..spec("unlink", -2, "Deletes keys, as DEL does; answers how many existed.")
    },
    Spec {
        flags: &["readonly", "fast"],
        keys: (1, -1, 1),
        acl: &["@read", "@string", "@fast"],
        group: "string",
        complexity: "O(N) where N is the number of keys",
        args: &[KEY.multiple()],
        ..spec("mget", -2, "Returns the values of keys, one consistent read.")
    },
    Spec {
        flags: &["write", "denyoom"],
        keys: (1, -1, 2),
        acl: &["@write", "@string", "@slow"],
        group: "string",
        since: "1.0.1",
        complexity: "O(N) where N is the number of keys",
        args: &[arg(
            "data",
            ArgKind::Block(&[KEY, VALUE]),
        )
        .multiple()],
        ..spec("mset", -3, "Sets keys to values in one atomic batch.")
    },
    Spec {
        flags: &["readonly", "fast"],
        keys: (1, -1, 1),
        acl: &["@keyspace", "@read", "@fast"],
        complexity: "O(N) where N is the number of keys",
        args: &[KEY.multiple()],
        ..spec("exists", -2, "Counts how many of the keys exist, one consistent read.")
    },
    Spec {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        acl: &["@fast", "@transaction"],
        group: "transactions",
        since: "1.2.0",
        ..spec("multi", 1, "Starts a transaction (only SET without options and DEL may be queued).")
    },
    Spec {
        flags: &["noscript", "loading", "stale", "skip_slowlog"],
        acl: &["@slow", "@transaction"],
        group: "transactions",
        since: "1.2.0",
        complexity: "O(N) where N is the number of queued writes",
        ..spec("exec", 1, "Applies the queued SET and DEL commands as one atomic batch (each DEL's count is null: a batch deletes blindly); under WATCH, as one conditional write of the watched key, or not at all (null) if it changed.")
    },
    Spec {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        acl: &["@fast", "@transaction"],
        group: "transactions",
        since: "2.0.0",
        ..spec("discard", 1, "Discards a transaction.")
    },
    Spec {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        keys: (1, -1, 1),
        acl: &["@fast", "@transaction"],
        group: "transactions",
        since: "2.2.0",
        complexity: "O(1) for every key",
        args: &[KEY.multiple()],
        ..spec("watch", -2, "Makes the next EXEC fail if a key changes first (under WATCH, a transaction may write only the one key watched).")
    },
    Spec {
        flags: &["noscript", "loading", "stale", "fast", "allow_busy"],
        acl: &["@fast", "@transaction"],
        group: "transactions",
        since: "2.2.0",
        ..spec("unwatch", 1, "Forgets every watched key.")
    },
    Spec {
        flags: &["readonly"],
        keys: (1, 2, 1),
        acl: &["@keyspace", "@read", "@slow"],
        since: "0.1.0",
        complexity: "O(N) where N is the number of entries returned",
        args: &[
            arg("lo", ArgKind::Str),
            arg("hi", ArgKind::Str),
            arg("limit", ArgKind::Integer).token("LIMIT").optional(),
        ],
        ..spec("range", -3, "level2pc: the live keys lo <= key < hi and their values, ascending, one consistent read.")
    },
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@dangerous"],
        group: "server",
        args: &[arg("section", ArgKind::Str).optional().multiple()],
        ..spec("info", -1, "Returns information about the node.")
    },
    Spec {
        flags: &["allow_busy", "noscript", "loading", "stale", "fast", "no_auth"],
        acl: &["@fast", "@connection"],
        group: "connection",
        ..spec("quit", -1, "Closes the connection.")
    },
    Spec {
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        acl: &["@fast", "@connection"],
        group: "connection",
        since: "6.0.0",
        args: &[arg(
            "arguments",
            ArgKind::Block(&[
                arg("protover", ArgKind::Integer),
                arg(
                    "username-password",
                    ArgKind::Block(&[arg("username", ArgKind::Str), arg("password", ArgKind::Str)]),
                )
                .token("AUTH")
                .optional(),
                arg("clientname", ArgKind::Str).token("SETNAME").optional(),
            ]),
        )
        .optional()],
        ..spec("hello", -1, "Chooses the protocol (2 or 3) and answers the server's properties.")
    },
    Spec {
        flags: &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"],
        acl: &["@fast", "@connection"],
        group: "connection",
        args: &[
            arg("username", ArgKind::Str).optional(),
            arg("password", ArgKind::Str),
        ],
        ..spec("auth", -2, "Authenticates the connection (no password is configured).")
    },
    Spec {
        flags: &["loading", "stale", "fast"],
        acl: &["@fast", "@connection"],
        group: "connection",
        args: &[arg("index", ArgKind::Integer)],
        ..spec("select", 2, "Selects the database: there is only database 0.")
    },
    Spec {
        acl: &["@slow"],
        group: "connection",
        since: "2.4.0",
        complexity: "Depends on subcommand.",
        subcommands: CLIENT_SUBCOMMANDS,
        ..spec("client", -2, "A container for client connection commands.")
    },
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "server",
        since: "2.8.13",
        complexity: "O(N) where N is the number of commands",
        subcommands: COMMAND_SUBCOMMANDS,
        ..spec("command", -1, "Returns detailed information about all commands.")
    },
    Spec {
        flags: &["readonly"],
        acl: &["@keyspace", "@read", "@slow"],
        group: "server",
        complexity: "O(N) where N is the number of keys (read in chunks)",
        ..spec("dbsize", 1, "Returns the number of keys (not one snapshot when there are many keys).")
    },
    Spec {
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@keyspace", "@read", "@fast"],
        args: &[KEY],
        ..spec("type", 2, "Returns the type of a key: string, or none.")
    },
    Spec {
        flags: &["readonly", "fast"],
        keys: (1, 1, 1),
        acl: &["@read", "@string", "@fast"],
        group: "string",
        since: "2.2.0",
        args: &[KEY],
        ..spec("strlen", 2, "Returns the length of a string value.")
    },
    Spec {
        flags: &["readonly"],
        acl: &["@keyspace", "@read", "@slow", "@dangerous"],
        complexity: "O(N) where N is the number of keys (read in chunks)",
        args: &[arg("pattern", ArgKind::Pattern)],
        ..spec("keys", 2, "Returns the keys that match a pattern (not one snapshot when there are many keys).")
    },
    Spec {
        flags: &["readonly"],
        acl: &["@keyspace", "@read", "@slow"],
        since: "2.8.0",
        complexity: "O(1) for every call. O(N) for a complete iteration.",
        args: &[
            arg("cursor", ArgKind::Integer),
            arg("pattern", ArgKind::Pattern).token("MATCH").optional(),
            arg("count", ArgKind::Integer).token("COUNT").optional(),
            arg("type", ArgKind::Str).token("TYPE").optional(),
        ],
        ..spec("scan", -2, "Iterates over the keys; cursors are kept by the node.")
    },
];

static CLIENT_SUBCOMMANDS: &[Spec] = &[
    Spec {
        flags: &["noscript", "loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "connection",
        since: "2.6.9",
        args: &[arg("connection-name", ArgKind::Str)],
        ..spec("client|setname", 3, "Sets the connection name.")
    },
    Spec {
        flags: &["noscript", "loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "connection",
        since: "2.6.9",
        ..spec("client|getname", 2, "Returns the connection name.")
    },
    Spec {
        flags: &["noscript", "loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "connection",
        since: "7.2.0",
        args: &[arg(
            "attr",
            ArgKind::OneOf(&[
                arg("libname", ArgKind::Str).token("LIB-NAME"),
                arg("libver", ArgKind::Str).token("LIB-VER"),
            ]),
        )],
        ..spec(
            "client|setinfo",
            4,
            "Sets information about the client library.",
        )
    },
    Spec {
        flags: &["noscript", "loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "connection",
        since: "5.0.0",
        ..spec(
            "client|id",
            2,
            "Returns the unique client ID of the connection.",
        )
    },
    Spec {
        flags: &["noscript", "loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "connection",
        since: "6.2.0",
        ..spec(
            "client|info",
            2,
            "Returns information about the connection.",
        )
    },
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "connection",
        since: "5.0.0",
        ..spec(
            "client|help",
            2,
            "Returns helpful text about the subcommands.",
        )
    },
];

static COMMAND_SUBCOMMANDS: &[Spec] = &[
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "server",
        since: "2.8.13",
        ..spec("command|count", 2, "Returns a count of commands.")
    },
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "server",
        since: "7.0.0",
        complexity: "O(N) where N is the number of commands to look up",
        args: &[arg("command-name", ArgKind::Str).optional().multiple()],
        ..spec(
            "command|docs",
            -2,
            "Returns documentary information about commands.",
        )
    },
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "server",
        since: "2.8.13",
        complexity: "O(N) where N is the number of commands to look up",
        args: &[arg("command-name", ArgKind::Str).optional().multiple()],
        ..spec("command|info", -2, "Returns information about commands.")
    },
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "server",
        since: "7.0.0",
        complexity: "O(N) where N is the number of commands",
        ..spec("command|list", 2, "Returns a list of command names.")
    },
    Spec {
        flags: &["loading", "stale"],
        acl: &["@slow", "@connection"],
        group: "server",
        since: "5.0.0",
        ..spec(
            "command|help",
            2,
            "Returns helpful text about the subcommands.",
        )
    },
];

/// The top-level command `name` (case-insensitive), as a client sends it.
pub fn command(name: &[u8]) -> Option<&'static Spec> {
    COMMANDS
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The command named `name` (case-insensitive); `container|sub` names a subcommand (as in
/// `COMMAND INFO client|setname`).
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    let mut parts = name.splitn(2, |&b| b == b'|');
    let top = parts.next().unwrap_or_default();
    let sub = parts.next();
    let spec = command(top)?;
    match sub {
        None => Some(spec),
        Some(sub) => spec.subcommand(sub),
    }
}

fn statuses(items: &[&str]) -> Frame {
    Frame::Set(items.iter().map(|s| Frame::Simple((*s).into())).collect())
}

/// A command's `COMMAND INFO` entry (Redis 7's ten fields; no key specifications or tips).
pub fn info(spec: &Spec) -> Frame {
    let (first, last, step) = spec.keys;
    let subcommands = if spec.subcommands.is_empty() {
        Frame::Set(Vec::new())
    } else {
        Frame::Array(spec.subcommands.iter().map(info).collect())
    };
    Frame::Array(vec![
        Frame::text(spec.name),
        Frame::Int(spec.arity),
        statuses(spec.flags),
        Frame::Int(first),
        Frame::Int(last),
        Frame::Int(step),
        statuses(spec.acl),
        Frame::Set(Vec::new()),
        Frame::Array(Vec::new()),
        subcommands,
    ])
}

fn arg_docs(arg: &Arg) -> Frame {
    let kind = match arg.kind {
        ArgKind::Key => "key",
        ArgKind::Str => "string",
        ArgKind::Integer => "integer",
        ArgKind::Pattern => "pattern",
        ArgKind::PureToken => "pure-token",
        ArgKind::Block(_) => "block",
        ArgKind::OneOf(_) => "oneof",
    };
    let mut map = vec![
        (Frame::text("name"), Frame::text(arg.name)),
        (Frame::text("type"), Frame::text(kind)),
    ];
    if let Some(token) = arg.token {
        map.push((Frame::text("token"), Frame::text(token)));
    }
    let flags: Vec<&str> = [(arg.optional, "optional"), (arg.multiple, "multiple")]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect();
    if !flags.is_empty() {
        map.push((Frame::text("flags"), statuses(&flags)));
    }
    if let ArgKind::Block(args) | ArgKind::OneOf(args) = arg.kind {
        map.push((
            Frame::text("arguments"),
            Frame::Array(args.iter().map(arg_docs).collect()),
        ));
    }
    Frame::Map(map)
}

/// A command's `COMMAND DOCS` entry.
pub fn docs(spec: &Spec) -> Frame {
    let mut map = vec![
        (Frame::text("summary"), Frame::text(spec.summary)),
        (Frame::text("since"), Frame::text(spec.since)),
        (Frame::text("group"), Frame::text(spec.group)),
        (Frame::text("complexity"), Frame::text(spec.complexity)),
    ];
    if !spec.args.is_empty() {
        map.push((
            Frame::text("arguments"),
            Frame::Array(spec.args.iter().map(arg_docs).collect()),
        ));
    }
    if !spec.subcommands.is_empty() {
        map.push((
            Frame::text("subcommands"),
            Frame::Map(
                spec.subcommands
                    .iter()
                    .map(|s| (Frame::text(s.name), docs(s)))
                    .collect(),
            ),
        ));
    }
    Frame::Map(map)
}

/// `COMMAND DOCS [name ...]`: every command, or the named ones that exist.
pub fn docs_reply(names: &[&[u8]]) -> Frame {
    let specs: Vec<&Spec> = if names.is_empty() {
        COMMANDS.iter().collect()
    } else {
        names.iter().filter_map(|n| lookup(n)).collect()
    };
    Frame::Map(
        specs
            .into_iter()
            .map(|s| (Frame::text(s.name), docs(s)))
            .collect(),
    )
}

/// `COMMAND INFO [name ...]` (every command without names; null for an unknown name) and
/// `COMMAND` (every command).
pub fn info_reply(names: &[&[u8]]) -> Frame {
    if names.is_empty() {
        return Frame::Array(COMMANDS.iter().map(info).collect());
    }
    Frame::Array(
        names
            .iter()
            .map(|n| lookup(n).map_or(Frame::NullArray, info))
            .collect(),
    )
}

/// `COMMAND LIST`: every command's name.
pub fn list_reply() -> Frame {
    Frame::Array(COMMANDS.iter().map(|s| Frame::text(s.name)).collect())
}

/// `CLIENT HELP` / `COMMAND HELP`: one line per subcommand.
pub fn help_reply(container: &Spec) -> Frame {
    let mut lines = vec![Frame::Simple(format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        container.name.to_uppercase()
    ))];
    for sub in container.subcommands {
        let name = sub.name.split_once('|').map_or(sub.name, |(_, s)| s);
        lines.push(Frame::Simple(format!(
            "{}: {}",
            name.to_uppercase(),
            sub.summary
        )));
    }
    Frame::Array(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::reply::Proto;

    #[test]
    fn lookups_are_case_insensitive_and_know_subcommands() {
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert_eq!(
            lookup(b"client|SETNAME").map(|s| s.name),
            Some("client|setname")
        );
        assert!(lookup(b"client|nope").is_none());
        assert!(lookup(b"flushall").is_none());
        let client = lookup(b"client").unwrap();
        assert_eq!(
            client.subcommand(b"getname").map(|s| s.name),
            Some("client|getname")
        );
        assert!(lookup(b"get").unwrap().arity_ok(2));
        assert!(!lookup(b"get").unwrap().arity_ok(3));
        assert!(lookup(b"del").unwrap().arity_ok(5));
        assert!(!lookup(b"del").unwrap().arity_ok(1));
    }

    #[test]
    fn every_command_is_documented_as_redis_cli_expects() {
        for spec in COMMANDS
            .iter()
            .chain(CLIENT_SUBCOMMANDS)
            .chain(COMMAND_SUBCOMMANDS)
        {
            assert!(
                !spec.summary.is_empty() && !spec.since.is_empty(),
                "{}",
                spec.name
            );
            assert_eq!(spec.name, spec.name.to_lowercase());
            assert_eq!(
                spec.name.contains('|'),
                !COMMANDS.iter().any(|s| s.name == spec.name),
                "subcommands, and only they, are named container|sub"
            );
        }
        let names: Vec<&str> = COMMANDS.iter().map(|s| s.name).collect();
        for (unsupported, _) in UNSUPPORTED {
            assert!(
                !names.contains(&unsupported.to_lowercase().as_str()),
                "{unsupported}"
            );
        }
    }

    #[test]
    fn docs_and_info_have_redis_shapes() {
        let get = docs_reply(&[b"get"]).to_bytes(Proto::Resp3);
        let text = String::from_utf8(get).unwrap();
        assert!(
            text.starts_with("%1\r\n$3\r\nget\r\n%5\r\n$7\r\nsummary\r\n"),
            "{text}"
        );
        assert!(
            text.contains("$4\r\nname\r\n$3\r\nkey\r\n$4\r\ntype\r\n$3\r\nkey\r\n"),
            "{text}"
        );
        let scan = String::from_utf8(docs_reply(&[b"SCAN"]).to_bytes(Proto::Resp2)).unwrap();
        assert!(
            scan.contains("$5\r\ntoken\r\n$5\r\nMATCH\r\n$5\r\nflags\r\n*1\r\n+optional\r\n"),
            "{scan}"
        );
        assert_eq!(docs_reply(&[b"nosuch"]).to_bytes(Proto::Resp3), b"%0\r\n");
        // SET's options, as redis-cli shows them: `key value [NX|XX] [GET]`.
        let set = String::from_utf8(docs_reply(&[b"set"]).to_bytes(Proto::Resp3)).unwrap();
        assert!(
            set.contains("$4\r\nname\r\n$9\r\ncondition\r\n$4\r\ntype\r\n$5\r\noneof\r\n$5\r\nflags\r\n~1\r\n+optional\r\n")
                && set.contains("$4\r\nname\r\n$2\r\nnx\r\n$4\r\ntype\r\n$10\r\npure-token\r\n$5\r\ntoken\r\n$2\r\nNX\r\n")
                && set.contains("$5\r\ntoken\r\n$3\r\nGET\r\n$5\r\nflags\r\n~1\r\n+optional\r\n"),
            "{set}"
        );
        let cas = String::from_utf8(docs_reply(&[b"CAS"]).to_bytes(Proto::Resp2)).unwrap();
        assert!(cas.contains("compare-and-set"), "{cas}");
        for (name, arity, flags) in [
            ("incr", 2, "*3\r\n+write\r\n+denyoom\r\n+fast\r\n"),
            ("decrby", 3, "*3\r\n+write\r\n+denyoom\r\n+fast\r\n"),
            ("setnx", 3, "*3\r\n+write\r\n+denyoom\r\n+fast\r\n"),
            ("getset", 3, "*3\r\n+write\r\n+denyoom\r\n+fast\r\n"),
            ("getdel", 2, "*2\r\n+write\r\n+fast\r\n"),
            ("unlink", -2, "*2\r\n+write\r\n+fast\r\n"),
            ("cas", 4, "*3\r\n+write\r\n+denyoom\r\n+fast\r\n"),
        ] {
            let info =
                String::from_utf8(info_reply(&[name.as_bytes()]).to_bytes(Proto::Resp2)).unwrap();
            let keys = if arity < 0 {
                ":1\r\n:-1\r\n:1\r\n"
            } else {
                ":1\r\n:1\r\n:1\r\n"
            };
            assert!(
                info.starts_with(&format!(
                    "*1\r\n*10\r\n${}\r\n{name}\r\n:{arity}\r\n{flags}{keys}",
                    name.len()
                )),
                "{info}"
            );
        }
        for gone in ["expire", "flushall"] {
            assert!(lookup(gone.as_bytes()).is_none());
        }
        let info = info_reply(&[b"get", b"nosuch"]).to_bytes(Proto::Resp2);
        let text = String::from_utf8(info).unwrap();
        assert!(
            text.starts_with(
                "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("*-1\r\n"), "{text}");
        let client = String::from_utf8(info_reply(&[b"client"]).to_bytes(Proto::Resp3)).unwrap();
        assert!(
            client.contains("$14\r\nclient|setname\r\n:3\r\n"),
            "{client}"
        );
    }
}
