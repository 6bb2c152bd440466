//! Per-connection command handling: what each command asks of the node, the connection's
//! protocol and name, and `MULTI`/`EXEC` state. Pure, so every command's behaviour is
//! unit-tested without sockets.

use super::catalog;
use super::command::{ClientCmd, Command, CommandQuery};
use super::fanout::Fanout;
use super::reply::{self, ExecItem, Frame, Proto, ReplyKind, Shape};
use super::scan::{self, Request};
use super::watch::Watches;
use level2pc::{Bytes, Change, Op, Presence, Write};

/// The server name `HELLO` reports.
pub const SERVER_NAME: &str = "level2pc";
/// This crate's version (`INFO` `level2pc_version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version whose protocol and commands level2pc speaks, as `HELLO` (`version`) and
/// `INFO` (`redis_version`) report it: clients gate features and refuse old servers by it
/// (Sidekiq needs 6.2, for example), and level2pc answers what Redis 7.2 clients send at
/// connect (HELLO 3, CLIENT SETINFO). Commands it does not serve answer an error naming them.
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// The error for credentials of any user but `default` (Redis's, with no ACL users defined).
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
/// Redis's answer to `AUTH password` when no password is configured.
const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

/// What the connection must do for one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this reply now.
    Reply(Vec<u8>),
    /// Submit this operation to the engine; format its result as `kind`.
    Submit {
        /// The operation.
        op: Op,
        /// How to format the result.
        kind: ReplyKind,
    },
    /// Reply with the node's `INFO` text.
    Info,
    /// Run this key iteration (`DBSIZE`, `KEYS`, `SCAN`) through the engine, chunk by chunk.
    Iterate(Request),
    /// Read these keys' versions for `WATCH` (module `resp::watch`); parse nothing more until
    /// [`Session::watched`] is given the answer.
    Watch(Vec<Bytes>),
    /// Carry out this command as several engine operations, answered once (`DEL` of several
    /// keys: module `resp::fanout`).
    Fanout(Box<Fanout>),
    /// Send this reply, then close the connection.
    Close(Vec<u8>),
    /// Nothing (an empty request).
    Nothing,
}

/// A transaction being queued between `MULTI` and `EXEC`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Multi {
    writes: Vec<Write>,
    items: Vec<ExecItem>,
    /// Set when a command that cannot be queued was sent: `EXEC` then discards.
    aborted: bool,
}

/// What the node knows of a connection from its socket, for `HELLO`, `CLIENT ID` and
/// `CLIENT INFO`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientMeta {
    /// The node-wide connection id (`CLIENT ID`), from 1.
    pub id: u64,
    /// The client's address.
    pub addr: String,
    /// The node's address the client connected to.
    pub laddr: String,
}

/// One client connection's command state. Names and library attributes are request
/// arguments, so each is bounded by the request size limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    multi: Option<Multi>,
    watches: Watches,
    proto: Proto,
    meta: ClientMeta,
    name: Option<Bytes>,
    lib_name: Option<Bytes>,
    lib_ver: Option<Bytes>,
}

/// The byte strings of `names`, borrowed.
fn refs(names: &[Bytes]) -> Vec<&[u8]> {
    names.iter().map(|n| &**n).collect()
}

/// `Some(value)`, or `None` for an empty value (which clears a name, as in Redis).
fn non_empty(value: Bytes) -> Option<Bytes> {
    (!value.is_empty()).then_some(value)
}

impl Session {
    /// The state of a new connection: RESP2, no name.
    pub fn new(meta: ClientMeta) -> Session {
        Session {
            meta,
            ..Session::default()
        }
    }

    /// The protocol the connection speaks.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// The answer to the read of an [`Action::Watch`]: the keys' versions, or `None` if it
    /// failed (then `EXEC` fails).
    pub fn watched(&mut self, versions: Option<Vec<level2pc::Ts>>) {
        self.watches.finish(versions);
    }

    fn reply(&self, frame: Frame) -> Action {
        Action::Reply(frame.to_bytes(self.proto))
    }

    fn kind(&self, shape: Shape) -> ReplyKind {
        ReplyKind::new(shape, self.proto)
    }

    /// What to do for `cmd`.
    pub fn interpret(&mut self, cmd: Command) -> Action {
        if self.multi.is_some() {
            return self.in_multi(cmd);
        }
        match cmd {
            Command::Empty => Action::Nothing,
            Command::Ping(None) => Action::Reply(reply::simple("PONG")),
            Command::Ping(Some(msg)) | Command::Echo(msg) => Action::Reply(reply::bulk(Some(&msg))),
            Command::Get(key) => Action::Submit {
                op: Op::Get { key },
                kind: self.kind(Shape::Get),
            },
            Command::Set(key, value) => Action::Submit {
                op: Op::Put { key, value },
                kind: self.kind(Shape::Ok),
            },
            Command::SetIf {
                key,
                value,
                only,
                get,
            } => self.rmw(
                key,
                Change::Set { value, only },
                if get {
                    Shape::Previous
                } else {
                    Shape::OkOrNull
                },
            ),
            Command::SetNx(key, value) => self.rmw(
                key,
                Change::Set {
                    value,
                    only: Some(Presence::Absent),
                },
                Shape::Applied,
            ),
            Command::GetSet(key, value) => {
                self.rmw(key, Change::Set { value, only: None }, Shape::Previous)
            }
            Command::GetDel(key) => self.rmw(key, Change::Delete, Shape::Previous),
            Command::IncrBy { key, by, .. } => self.rmw(key, Change::IncrBy(by), Shape::Integer),
            Command::Cas { key, expected, new } => self.rmw(
                key,
                Change::Cas {
                    expected: Some(expected),
                    new: Some(new),
                },
                Shape::Applied,
            ),
            Command::Del(keys) => {
                let fanout = Fanout::del(keys);
                match fanout.single_key() {
                    Some(key) => self.rmw(key.clone(), Change::Delete, Shape::Applied),
                    None => Action::Fanout(Box::new(fanout)),
                }
            }
            Command::MGet(keys) => Action::Submit {
                op: Op::GetMany { keys },
                kind: self.kind(Shape::MGet),
            },
            Command::Exists(keys) => Action::Submit {
                op: Op::GetMany { keys },
                kind: self.kind(Shape::Exists),
            },
            Command::MSet(pairs) => {
                let writes = pairs
                    .into_iter()
                    .map(|(key, v)| Write {
                        key,
                        value: Some(v),
                    })
                    .collect();
                Action::Submit {
                    op: Op::Batch { writes },
                    kind: self.kind(Shape::Ok),
                }
            }
            Command::Range { lo, hi, limit } => Action::Submit {
                op: Op::Range { lo, hi, limit },
                kind: self.kind(Shape::Range),
            },
            Command::Type(key) => Action::Submit {
                op: Op::Get { key },
                kind: self.kind(Shape::Type),
            },
            Command::StrLen(key) => Action::Submit {
                op: Op::Get { key },
                kind: self.kind(Shape::StrLen),
            },
            Command::DbSize => Action::Iterate(Request::DbSize),
            Command::Keys(pattern) => Action::Iterate(Request::Keys { pattern }),
            Command::Scan {
                type_name: Some(t), ..
            } if !t.eq_ignore_ascii_case(b"string") => {
                // Every key is a string: nothing of another type to find.
                Action::Reply(scan::empty_scan_reply())
            }
            Command::Scan {
                cursor,
                pattern,
                count,
                ..
            } => Action::Iterate(Request::Scan {
                cursor,
                pattern,
                count,
            }),
            Command::Multi => {
                self.multi = Some(Multi::default());
                Action::Reply(reply::simple("OK"))
            }
            Command::Watch(keys) => self.watches.start(keys),
            Command::Unwatch => {
                self.watches = Watches::default();
                Action::Reply(reply::simple("OK"))
            }
            Command::Exec => Action::Reply(reply::error("ERR EXEC without MULTI")),
            Command::Discard => Action::Reply(reply::error("ERR DISCARD without MULTI")),
            Command::Info => Action::Info,
            Command::Quit => Action::Close(reply::simple("OK")),
            Command::Hello {
                proto,
                auth,
                setname,
            } => {
                if auth.is_some_and(|user| &*user != b"default") {
                    return Action::Reply(reply::error(WRONGPASS));
                }
                if let Some(name) = setname {
                    self.name = non_empty(name);
                }
                if let Some(proto) = proto {
                    self.proto = proto;
                }
                self.reply(self.hello())
            }
            Command::Auth(None) => Action::Reply(reply::error(NO_PASSWORD)),
            Command::Auth(Some(user)) if &*user == b"default" => Action::Reply(reply::simple("OK")),
            Command::Auth(Some(_)) => Action::Reply(reply::error(WRONGPASS)),
            Command::Select => Action::Reply(reply::simple("OK")),
            Command::Client(sub) => self.client(sub),
            Command::Commands(query) => self.commands(query),
            Command::Invalid(msg) => Action::Reply(reply::error(&msg)),
        }
    }

    /// A read-modify-write of `key`, answered as `shape`.
    fn rmw(&self, key: Bytes, change: Change, shape: Shape) -> Action {
        Action::Submit {
            op: Op::Rmw { key, change },
            kind: self.kind(shape),
        }
    }

    /// `HELLO`'s map, as Redis answers it.
    fn hello(&self) -> Frame {
        let pair = |k: &str, v: Frame| (Frame::text(k), v);
        Frame::Map(vec![
            pair("server", Frame::text(SERVER_NAME)),
            pair("version", Frame::text(REDIS_COMPAT_VERSION)),
            pair("proto", Frame::Int(self.proto.version())),
            pair(
                "id",
                Frame::Int(i64::try_from(self.meta.id).unwrap_or(i64::MAX)),
            ),
            pair("mode", Frame::text("standalone")),
            pair("role", Frame::text("master")),
            pair("modules", Frame::Array(Vec::new())),
        ])
    }

    fn client(&mut self, sub: ClientCmd) -> Action {
        let shown = |v: &Option<Bytes>| {
            v.as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default()
                .into_owned()
        };
        match sub {
            ClientCmd::SetName(name) => {
                self.name = non_empty(name);
                Action::Reply(reply::simple("OK"))
            }
            ClientCmd::GetName => self.reply(match &self.name {
                Some(name) => Frame::Bulk(name.to_vec()),
                None => Frame::Null,
            }),
            ClientCmd::SetInfo { version, value } => {
                let slot = if version {
                    &mut self.lib_ver
                } else {
                    &mut self.lib_name
                };
                *slot = non_empty(value);
                Action::Reply(reply::simple("OK"))
            }
            ClientCmd::Id => {
                self.reply(Frame::Int(i64::try_from(self.meta.id).unwrap_or(i64::MAX)))
            }
            ClientCmd::Info => {
                let multi = self.multi.as_ref().map_or(-1, |m| m.items.len() as i64);
                let line = format!(
                    "id={} addr={} laddr={} name={} db=0 multi={multi} resp={} lib-name={} lib-ver={}\n",
                    self.meta.id,
                    self.meta.addr,
                    self.meta.laddr,
                    shown(&self.name),
                    self.proto.version(),
                    shown(&self.lib_name),
                    shown(&self.lib_ver),
                );
                self.reply(Frame::Bulk(line.into_bytes()))
            }
            ClientCmd::Help => match catalog::command(b"client") {
                Some(spec) => self.reply(catalog::help_reply(spec)),
                None => Action::Reply(reply::error("ERR internal error: no CLIENT command")),
            },
        }
    }

    fn commands(&self, query: CommandQuery) -> Action {
        match query {
            CommandQuery::All => self.reply(catalog::info_reply(&[])),
            CommandQuery::Count => self.reply(Frame::Int(catalog::COMMANDS.len() as i64)),
            CommandQuery::Docs(names) => self.reply(catalog::docs_reply(&refs(&names))),
            CommandQuery::Info(names) => self.reply(catalog::info_reply(&refs(&names))),
            CommandQuery::List => self.reply(catalog::list_reply()),
            CommandQuery::Help => match catalog::command(b"command") {
                Some(spec) => self.reply(catalog::help_reply(spec)),
                None => Action::Reply(reply::error("ERR internal error: no COMMAND command")),
            },
        }
    }

    fn in_multi(&mut self, cmd: Command) -> Action {
        let Some(multi) = self.multi.as_mut() else {
            return Action::Nothing;
        };
        let watches = &self.watches;
        let refuse = |multi: &mut Multi, msg: &str| {
            multi.aborted = true;
            Action::Reply(reply::error(msg))
        };
        match cmd {
            Command::Set(key, _) if !watches.admits_write(&key) => {
                refuse(multi, &watches.refusal())
            }
            Command::Del(keys) if keys.iter().any(|k| !watches.admits_write(k)) => {
                refuse(multi, &watches.refusal())
            }
            Command::Set(key, value) => {
                multi.writes.push(Write {
                    key,
                    value: Some(value),
                });
                multi.items.push(ExecItem::Set);
                Action::Reply(reply::simple("QUEUED"))
            }
            Command::Del(keys) => {
                multi.items.push(ExecItem::Del);
                multi
                    .writes
                    .extend(keys.into_iter().map(|key| Write { key, value: None }));
                Action::Reply(reply::simple("QUEUED"))
            }
            Command::Exec => self.exec(),
            Command::Discard => {
                self.multi = None;
                self.watches = Watches::default();
                Action::Reply(reply::simple("OK"))
            }
            Command::Multi => Action::Reply(reply::error("ERR MULTI calls can not be nested")),
            // Redis refuses it without aborting the transaction.
            Command::Watch(_) => {
                Action::Reply(reply::error("ERR WATCH inside MULTI is not allowed"))
            }
            Command::Quit => Action::Close(reply::simple("OK")),
            Command::Empty => Action::Nothing,
            Command::Invalid(msg) => refuse(multi, &msg),
            other => refuse(multi, &not_queueable(&other)),
        }
    }

    fn exec(&mut self) -> Action {
        let Some(multi) = self.multi.take() else {
            return Action::Reply(reply::error("ERR EXEC without MULTI"));
        };
        // EXEC forgets the watches whatever it answers, as in Redis.
        let watches = std::mem::take(&mut self.watches);
        if multi.aborted {
            return Action::Reply(reply::error(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        if !watches.is_empty() {
            return watches.exec(multi.writes, multi.items, self.proto);
        }
        if multi.writes.is_empty() {
            return Action::Reply(b"*0\r\n".to_vec());
        }
        Action::Submit {
            op: Op::Batch {
                writes: multi.writes,
            },
            kind: self.kind(Shape::Exec(multi.items)),
        }
    }
}

/// The error for a command sent inside `MULTI` that cannot be queued (it aborts the
/// transaction, as a command Redis refuses to queue does).
fn not_queueable(cmd: &Command) -> String {
    let name = cmd.name();
    if cmd.is_rmw() {
        let what = match cmd {
            Command::SetIf { .. } => "'set' with NX, XX or GET".to_string(),
            _ => format!("'{name}'"),
        };
        format!("ERR {what} cannot be queued inside MULTI: only SET and DEL can (level2pc runs EXEC as one atomic batch of blind writes; a read-modify-write covers one key and runs on its own)")
    } else {
        format!("ERR '{name}' cannot be queued inside MULTI: only SET and DEL can (level2pc runs EXEC as one atomic batch of writes)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use level2pc::Bytes;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes())
    }

    #[test]
    fn multi_exec_queues_sets_and_dels_into_one_batch() {
        let mut s = Session::default();
        assert_eq!(
            s.interpret(Command::Multi),
            Action::Reply(b"+OK\r\n".to_vec())
        );
        assert_eq!(
            s.interpret(Command::Set(b("a"), b("1"))),
            Action::Reply(b"+QUEUED\r\n".to_vec())
        );
        assert_eq!(
            s.interpret(Command::Del(vec![b("b"), b("c")])),
            Action::Reply(b"+QUEUED\r\n".to_vec())
        );
        let writes = vec![
            Write {
                key: b("a"),
                value: Some(b("1")),
            },
            Write {
                key: b("b"),
                value: None,
            },
            Write {
                key: b("c"),
                value: None,
            },
        ];
        let kind = ReplyKind::new(
            Shape::Exec(vec![ExecItem::Set, ExecItem::Del]),
            Proto::Resp2,
        );
        assert_eq!(
            s.interpret(Command::Exec),
            Action::Submit {
                op: Op::Batch { writes },
                kind
            }
        );
        assert_eq!(
            s.interpret(Command::Exec),
            Action::Reply(b"-ERR EXEC without MULTI\r\n".to_vec())
        );
    }

    #[test]
    fn a_forbidden_command_inside_multi_aborts_the_transaction() {
        let mut s = Session::default();
        s.interpret(Command::Multi);
        assert_eq!(
            s.interpret(Command::Get(b("a"))),
            Action::Reply(
                b"-ERR 'get' cannot be queued inside MULTI: only SET and DEL can (level2pc runs EXEC as one atomic batch of writes)\r\n".to_vec()
            )
        );
        s.interpret(Command::Set(b("a"), b("1")));
        assert!(
            matches!(s.interpret(Command::Exec), Action::Reply(r) if r.starts_with(b"-EXECABORT"))
        );
        assert_eq!(
            s.interpret(Command::Ping(None)),
            Action::Reply(b"+PONG\r\n".to_vec())
        );
    }

    #[test]
    fn discard_and_empty_exec() {
        let mut s = Session::default();
        s.interpret(Command::Multi);
        s.interpret(Command::Set(b("a"), b("1")));
        assert_eq!(
            s.interpret(Command::Discard),
            Action::Reply(b"+OK\r\n".to_vec())
        );
        s.interpret(Command::Multi);
        assert_eq!(
            s.interpret(Command::Exec),
            Action::Reply(b"*0\r\n".to_vec())
        );
    }

    #[test]
    fn plain_commands_map_to_engine_ops() {
        let mut s = Session::default();
        assert_eq!(
            s.interpret(Command::Get(b("k"))),
            Action::Submit {
                op: Op::Get { key: b("k") },
                kind: ReplyKind::new(Shape::Get, Proto::Resp2)
            }
        );
        assert_eq!(
            s.interpret(Command::Del(vec![b("a"), b("b"), b("a")])),
            Action::Fanout(Box::new(Fanout::del(vec![b("a"), b("b")])))
        );
        assert_eq!(
            s.interpret(Command::Del(vec![b("a"), b("a")])),
            Action::Submit {
                op: Op::Rmw {
                    key: b("a"),
                    change: Change::Delete
                },
                kind: ReplyKind::new(Shape::Applied, Proto::Resp2)
            },
            "one distinct key: one delete-if-present"
        );
        assert_eq!(
            s.interpret(Command::Quit),
            Action::Close(b"+OK\r\n".to_vec())
        );
        assert_eq!(s.interpret(Command::Info), Action::Info);
    }

    fn meta() -> ClientMeta {
        ClientMeta {
            id: 7,
            addr: "127.0.0.1:5000".into(),
            laddr: "127.0.0.1:7001".into(),
        }
    }

    fn run(s: &mut Session, words: &[&str]) -> Vec<u8> {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        match s.interpret(Command::from_args(&args)) {
            Action::Reply(bytes) => bytes,
            other => panic!("{words:?}: {other:?}"),
        }
    }

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn hello_switches_the_protocol_and_answers_the_servers_map() {
        let mut s = Session::new(meta());
        let version = REDIS_COMPAT_VERSION;
        let v = text(run(&mut s, &["HELLO", "3"]));
        assert_eq!(
            v,
            format!(
                "%7\r\n$6\r\nserver\r\n$8\r\nlevel2pc\r\n$7\r\nversion\r\n${}\r\n{version}\r\n$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
                version.len()
            )
        );
        assert_eq!(s.proto(), Proto::Resp3);
        assert!(matches!(
            s.interpret(Command::Get(b("k"))),
            Action::Submit {
                kind: ReplyKind {
                    proto: Proto::Resp3,
                    ..
                },
                ..
            }
        ));
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), b"_\r\n");
        // HELLO without a version keeps the protocol; HELLO 2 goes back.
        assert!(text(run(&mut s, &["HELLO"])).starts_with("%7\r\n"));
        assert!(text(run(&mut s, &["HELLO", "2"])).starts_with("*14\r\n"));
        assert_eq!(s.proto(), Proto::Resp2);
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), b"$-1\r\n");
        assert_eq!(
            run(&mut s, &["HELLO", "4"]),
            b"-NOPROTO unsupported protocol version\r\n"
        );
    }

    #[test]
    fn auth_behaves_as_redis_without_a_password() {
        let mut s = Session::new(meta());
        assert!(text(run(&mut s, &["AUTH", "pw"]))
            .starts_with("-ERR AUTH <password> called without any password configured"));
        assert_eq!(run(&mut s, &["AUTH", "default", "anything"]), b"+OK\r\n");
        assert_eq!(
            run(&mut s, &["AUTH", "bob", "pw"]),
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(
            run(&mut s, &["HELLO", "3", "AUTH", "bob", "pw", "SETNAME", "x"]),
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(s.proto(), Proto::Resp2, "a refused HELLO changes nothing");
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), b"$-1\r\n");
        let v = text(run(
            &mut s,
            &["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "x"],
        ));
        assert!(v.starts_with("%7\r\n"), "{v}");
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), b"$1\r\nx\r\n");
    }

    #[test]
    fn client_select_echo_and_command() {
        let mut s = Session::new(meta());
        assert_eq!(run(&mut s, &["CLIENT", "SETNAME", "worker-1"]), b"+OK\r\n");
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), b"$8\r\nworker-1\r\n");
        assert_eq!(
            run(&mut s, &["CLIENT", "SETINFO", "LIB-NAME", "redis-py"]),
            b"+OK\r\n"
        );
        assert_eq!(
            run(&mut s, &["CLIENT", "SETINFO", "LIB-VER", "8.1.0"]),
            b"+OK\r\n"
        );
        assert_eq!(run(&mut s, &["CLIENT", "ID"]), b":7\r\n");
        let info = text(run(&mut s, &["CLIENT", "INFO"]));
        assert!(
            info.contains("id=7 addr=127.0.0.1:5000 laddr=127.0.0.1:7001 name=worker-1 db=0 multi=-1 resp=2 lib-name=redis-py lib-ver=8.1.0\n"),
            "{info}"
        );
        assert_eq!(run(&mut s, &["CLIENT", "SETNAME", ""]), b"+OK\r\n");
        assert_eq!(run(&mut s, &["CLIENT", "GETNAME"]), b"$-1\r\n");
        assert_eq!(run(&mut s, &["SELECT", "0"]), b"+OK\r\n");
        assert_eq!(
            run(&mut s, &["SELECT", "1"]),
            b"-ERR DB index is out of range\r\n"
        );
        assert_eq!(run(&mut s, &["ECHO", "hi"]), b"$2\r\nhi\r\n");
        let count = catalog::COMMANDS.len();
        assert_eq!(
            text(run(&mut s, &["COMMAND", "COUNT"])),
            format!(":{count}\r\n")
        );
        assert!(text(run(&mut s, &["COMMAND"])).starts_with(&format!("*{count}\r\n*10\r\n")));
        assert!(text(run(&mut s, &["COMMAND", "DOCS"])).starts_with(&format!("*{}\r\n", 2 * count)));
        run(&mut s, &["HELLO", "3"]);
        assert!(text(run(&mut s, &["COMMAND", "DOCS", "get"])).starts_with("%1\r\n$3\r\nget\r\n%"));
        assert!(text(run(&mut s, &["CLIENT", "HELP"])).starts_with("*7\r\n+CLIENT <subcommand>"));
    }

    #[test]
    fn key_iterations_and_reads() {
        let mut s = Session::default();
        assert_eq!(
            s.interpret(Command::DbSize),
            Action::Iterate(Request::DbSize)
        );
        assert_eq!(
            s.interpret(Command::Keys(b("a*"))),
            Action::Iterate(Request::Keys { pattern: b("a*") })
        );
        let scan = |type_name: Option<&str>| Command::Scan {
            cursor: 5,
            pattern: Some(b("k*")),
            count: 20,
            type_name: type_name.map(b),
        };
        let expected = Action::Iterate(Request::Scan {
            cursor: 5,
            pattern: Some(b("k*")),
            count: 20,
        });
        assert_eq!(s.interpret(scan(None)), expected);
        assert_eq!(s.interpret(scan(Some("STRING"))), expected);
        assert_eq!(
            s.interpret(scan(Some("hash"))),
            Action::Reply(b"*2\r\n$1\r\n0\r\n*0\r\n".to_vec())
        );
        assert_eq!(
            s.interpret(Command::StrLen(b("k"))),
            Action::Submit {
                op: Op::Get { key: b("k") },
                kind: ReplyKind::new(Shape::StrLen, Proto::Resp2)
            }
        );
        assert_eq!(
            s.interpret(Command::Type(b("k"))),
            Action::Submit {
                op: Op::Get { key: b("k") },
                kind: ReplyKind::new(Shape::Type, Proto::Resp2)
            }
        );
        s.interpret(Command::Multi);
        assert!(
            matches!(s.interpret(Command::DbSize), Action::Reply(r) if r.starts_with(b"-ERR 'dbsize' cannot be queued inside MULTI: only SET and DEL can"))
        );
    }

    #[test]
    fn every_table_reply_is_one_value_the_bundled_client_reads() {
        for proto in ["2", "3"] {
            let mut s = Session::new(meta());
            run(&mut s, &["HELLO", proto]);
            for words in [
                &["COMMAND"][..],
                &["COMMAND", "DOCS"],
                &["COMMAND", "INFO"],
                &["COMMAND", "INFO", "client", "client|setname", "nosuch"],
                &["COMMAND", "LIST"],
                &["COMMAND", "HELP"],
                &["CLIENT", "HELP"],
                &["CLIENT", "INFO"],
                &["HELLO"],
            ] {
                let bytes = run(&mut s, words);
                let parsed = crate::client::parse_reply(&bytes);
                assert!(
                    matches!(parsed, Ok(Some((_, used))) if used == bytes.len()),
                    "{words:?} in RESP{proto}: {parsed:?}"
                );
            }
        }
    }

    fn submitted(s: &mut Session, words: &[&str]) -> (Op, ReplyKind) {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        match s.interpret(Command::from_args(&args)) {
            Action::Submit { op, kind } => (op, kind),
            other => panic!("{words:?}: {other:?}"),
        }
    }

    fn rmw(key: &str, change: Change) -> Op {
        Op::Rmw {
            key: b(key),
            change,
        }
    }

    #[test]
    fn read_modify_writes_map_to_one_engine_change() {
        use Presence::{Absent, Present};
        let set = |value: &str, only| Change::Set {
            value: b(value),
            only,
        };
        for proto in [Proto::Resp2, Proto::Resp3] {
            let mut s = Session::new(meta());
            run(&mut s, &["HELLO", &proto.version().to_string()]);
            let k = |shape| ReplyKind::new(shape, proto);
            for (words, op, shape) in [
                (
                    &["INCR", "c"][..],
                    rmw("c", Change::IncrBy(1)),
                    Shape::Integer,
                ),
                (&["DECR", "c"], rmw("c", Change::IncrBy(-1)), Shape::Integer),
                (
                    &["INCRBY", "c", "-7"],
                    rmw("c", Change::IncrBy(-7)),
                    Shape::Integer,
                ),
                (
                    &["DECRBY", "c", "7"],
                    rmw("c", Change::IncrBy(-7)),
                    Shape::Integer,
                ),
                (
                    &["SETNX", "l", "me"],
                    rmw("l", set("me", Some(Absent))),
                    Shape::Applied,
                ),
                (
                    &["SET", "l", "me", "NX"],
                    rmw("l", set("me", Some(Absent))),
                    Shape::OkOrNull,
                ),
                (
                    &["SET", "l", "me", "XX"],
                    rmw("l", set("me", Some(Present))),
                    Shape::OkOrNull,
                ),
                (
                    &["SET", "l", "me", "GET"],
                    rmw("l", set("me", None)),
                    Shape::Previous,
                ),
                (
                    &["SET", "l", "me", "nx", "get"],
                    rmw("l", set("me", Some(Absent))),
                    Shape::Previous,
                ),
                (
                    &["GETSET", "l", "me"],
                    rmw("l", set("me", None)),
                    Shape::Previous,
                ),
                (&["GETDEL", "l"], rmw("l", Change::Delete), Shape::Previous),
                (&["DEL", "l"], rmw("l", Change::Delete), Shape::Applied),
                (
                    &["UNLINK", "l", "l"],
                    rmw("l", Change::Delete),
                    Shape::Applied,
                ),
                (
                    &["CAS", "l", "a", "b"],
                    rmw(
                        "l",
                        Change::Cas {
                            expected: Some(b("a")),
                            new: Some(b("b")),
                        },
                    ),
                    Shape::Applied,
                ),
            ] {
                assert_eq!(submitted(&mut s, words), (op, k(shape)), "{words:?}");
            }
        }
    }

    #[test]
    fn read_modify_writes_abort_a_transaction_naming_the_command() {
        for (words, named) in [
            (&["INCR", "c"][..], "'incr'"),
            (&["decrby", "c", "2"], "'decrby'"),
            (&["SETNX", "l", "v"], "'setnx'"),
            (&["SET", "l", "v", "NX"], "'set' with NX, XX or GET"),
            (&["GETSET", "l", "v"], "'getset'"),
            (&["GETDEL", "l"], "'getdel'"),
            (&["CAS", "l", "a", "b"], "'cas'"),
        ] {
            let mut s = Session::new(meta());
            run(&mut s, &["MULTI"]);
            assert_eq!(run(&mut s, &["SET", "a", "1"]), b"+QUEUED\r\n");
            assert_eq!(
                text(run(&mut s, words)),
                format!("-ERR {named} cannot be queued inside MULTI: only SET and DEL can (level2pc runs EXEC as one atomic batch of blind writes; a read-modify-write covers one key and runs on its own)\r\n")
            );
            assert_eq!(run(&mut s, &["DEL", "a", "b"]), b"+QUEUED\r\n");
            assert!(text(run(&mut s, &["EXEC"])).starts_with("-EXECABORT"));
        }
    }

    /// `WATCH keys`, answered with `versions` as the server would.
    fn watch(s: &mut Session, keys: &[&str], versions: Option<Vec<level2pc::Ts>>) {
        let args: Vec<&[u8]> = std::iter::once("WATCH")
            .chain(keys.iter().copied())
            .map(str::as_bytes)
            .collect();
        let Action::Watch(read) = s.interpret(Command::from_args(&args)) else {
            panic!("WATCH reads versions");
        };
        assert_eq!(read, keys.iter().map(|k| b(k)).collect::<Vec<_>>());
        s.watched(versions);
    }

    #[test]
    fn watch_turns_exec_into_a_conditional_write_of_the_watched_key() {
        let at = level2pc::Ts::new(5, level2pc::NodeId(2), level2pc::BootInc(1));
        let mut s = Session::new(meta());
        watch(&mut s, &["k"], Some(vec![at]));
        run(&mut s, &["MULTI"]);
        assert_eq!(run(&mut s, &["SET", "k", "1"]), b"+QUEUED\r\n");
        assert_eq!(run(&mut s, &["DEL", "k"]), b"+QUEUED\r\n");
        let (op, kind) = submitted(&mut s, &["EXEC"]);
        assert_eq!(
            op,
            rmw(
                "k",
                Change::IfVersion {
                    version: at,
                    then: Some(Box::new(Change::Delete)),
                }
            )
        );
        assert_eq!(
            kind.shape,
            Shape::WatchedExec(vec![ExecItem::Set, ExecItem::Del])
        );
        // EXEC forgot the watch: the next transaction is a plain batch.
        run(&mut s, &["MULTI"]);
        run(&mut s, &["SET", "other", "1"]);
        let (op, _) = submitted(&mut s, &["EXEC"]);
        assert!(matches!(op, Op::Batch { .. }), "{op:?}");
    }

    #[test]
    fn watch_refuses_writes_it_cannot_condition_and_is_refused_inside_multi() {
        let mut s = Session::new(meta());
        watch(&mut s, &["k"], Some(vec![level2pc::Ts::ZERO]));
        run(&mut s, &["MULTI"]);
        assert_eq!(
            text(run(&mut s, &["WATCH", "j"])),
            "-ERR WATCH inside MULTI is not allowed\r\n"
        );
        assert_eq!(run(&mut s, &["SET", "k", "1"]), b"+QUEUED\r\n");
        assert!(text(run(&mut s, &["SET", "j", "1"])).starts_with(
            "-ERR a transaction under WATCH can only write the one key it watches (1 watched)"
        ));
        assert!(text(run(&mut s, &["EXEC"])).starts_with("-EXECABORT"));

        watch(&mut s, &["k", "j"], Some(vec![level2pc::Ts::ZERO; 2]));
        run(&mut s, &["MULTI"]);
        assert!(text(run(&mut s, &["DEL", "k"])).starts_with("-ERR a transaction under WATCH"));
        assert_eq!(run(&mut s, &["DISCARD"]), b"+OK\r\n");
        // DISCARD forgot the watches.
        run(&mut s, &["MULTI"]);
        assert_eq!(run(&mut s, &["DEL", "k", "j"]), b"+QUEUED\r\n");
    }

    #[test]
    fn watch_without_writes_compares_versions_and_unwatch_forgets() {
        let mut s = Session::new(meta());
        watch(&mut s, &["a", "b"], Some(vec![level2pc::Ts::ZERO; 2]));
        run(&mut s, &["MULTI"]);
        let (op, kind) = submitted(&mut s, &["EXEC"]);
        assert_eq!(
            op,
            Op::Versions {
                keys: vec![b("a"), b("b")]
            }
        );
        assert_eq!(kind.shape, Shape::Unchanged(vec![level2pc::Ts::ZERO; 2]));

        watch(&mut s, &["a"], None);
        run(&mut s, &["MULTI"]);
        assert_eq!(
            run(&mut s, &["EXEC"]),
            b"*-1\r\n",
            "a failed WATCH fails EXEC"
        );

        watch(&mut s, &["a"], Some(vec![level2pc::Ts::ZERO]));
        assert_eq!(run(&mut s, &["UNWATCH"]), b"+OK\r\n");
        run(&mut s, &["MULTI"]);
        assert_eq!(run(&mut s, &["EXEC"]), b"*0\r\n");
    }

    #[test]
    fn exec_answers_null_for_each_del_in_either_protocol() {
        for (proto, null) in [("2", "$-1"), ("3", "_")] {
            let mut s = Session::new(meta());
            run(&mut s, &["HELLO", proto]);
            run(&mut s, &["MULTI"]);
            run(&mut s, &["DEL", "x", "y"]);
            run(&mut s, &["SET", "a", "1"]);
            run(&mut s, &["UNLINK", "z"]);
            let Action::Submit { op, kind } = s.interpret(Command::Exec) else {
                panic!("EXEC submits the batch")
            };
            assert!(
                matches!(op, Op::Batch { ref writes } if writes.len() == 4),
                "{op:?}"
            );
            let written = level2pc::OpResult::Written {
                ts: level2pc::Ts::ZERO,
            };
            assert_eq!(
                text(reply::format(&kind, &written)),
                format!("*3\r\n{null}\r\n+OK\r\n{null}\r\n")
            );
        }
    }
}
