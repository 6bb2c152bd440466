//! Per-connection command handling: what each command asks of the node, and `MULTI`/`EXEC`
//! state. Pure, so every command's behaviour is unit-tested without sockets.

use super::command::Command;
use super::reply::{self, ExecItem, ReplyKind};
use level2pc::{Op, Write};

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

/// One client connection's command state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    multi: Option<Multi>,
}

impl Session {
    /// What to do for `cmd`.
    pub fn interpret(&mut self, cmd: Command) -> Action {
        if self.multi.is_some() {
            return self.in_multi(cmd);
        }
        match cmd {
            Command::Empty => Action::Nothing,
            Command::Ping(None) => Action::Reply(reply::simple("PONG")),
            Command::Ping(Some(msg)) => Action::Reply(reply::bulk(Some(&msg))),
            Command::Get(key) => Action::Submit {
                op: Op::Get { key },
                kind: ReplyKind::Get,
            },
            Command::Set(key, value) => Action::Submit {
                op: Op::Put { key, value },
                kind: ReplyKind::Ok,
            },
            Command::Del(keys) => {
                let n = keys.len();
                let writes = keys
                    .into_iter()
                    .map(|key| Write { key, value: None })
                    .collect();
                Action::Submit {
                    op: Op::Batch { writes },
                    kind: ReplyKind::Del(n),
                }
            }
            Command::MGet(keys) => Action::Submit {
                op: Op::GetMany { keys },
                kind: ReplyKind::MGet,
            },
            Command::Exists(keys) => Action::Submit {
                op: Op::GetMany { keys },
                kind: ReplyKind::Exists,
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
                    kind: ReplyKind::Ok,
                }
            }
            Command::Range { lo, hi, limit } => Action::Submit {
                op: Op::Range { lo, hi, limit },
                kind: ReplyKind::Range,
            },
            Command::Multi => {
                self.multi = Some(Multi::default());
                Action::Reply(reply::simple("OK"))
            }
            Command::Exec => Action::Reply(reply::error("ERR EXEC without MULTI")),
            Command::Discard => Action::Reply(reply::error("ERR DISCARD without MULTI")),
            Command::Info => Action::Info,
            Command::Quit => Action::Close(reply::simple("OK")),
            Command::Invalid(msg) => Action::Reply(reply::error(&msg)),
        }
    }

    fn in_multi(&mut self, cmd: Command) -> Action {
        let Some(multi) = self.multi.as_mut() else {
            return Action::Nothing;
        };
        match cmd {
            Command::Set(key, value) => {
                multi.writes.push(Write {
                    key,
                    value: Some(value),
                });
                multi.items.push(ExecItem::Set);
                Action::Reply(reply::simple("QUEUED"))
            }
            Command::Del(keys) => {
                multi.items.push(ExecItem::Del(keys.len()));
                multi
                    .writes
                    .extend(keys.into_iter().map(|key| Write { key, value: None }));
                Action::Reply(reply::simple("QUEUED"))
            }
            Command::Exec => self.exec(),
            Command::Discard => {
                self.multi = None;
                Action::Reply(reply::simple("OK"))
            }
            Command::Multi => Action::Reply(reply::error("ERR MULTI calls can not be nested")),
            Command::Quit => Action::Close(reply::simple("OK")),
            Command::Empty => Action::Nothing,
            Command::Invalid(msg) => {
                multi.aborted = true;
                Action::Reply(reply::error(&msg))
            }
            _ => {
                multi.aborted = true;
                Action::Reply(reply::error("ERR only SET and DEL can be queued inside MULTI (level2pc runs EXEC as one atomic batch)"))
            }
        }
    }

    fn exec(&mut self) -> Action {
        let Some(multi) = self.multi.take() else {
            return Action::Reply(reply::error("ERR EXEC without MULTI"));
        };
        if multi.aborted {
            return Action::Reply(reply::error(
                "EXECABORT Transaction discarded because of previous errors.",
            ));
        }
        if multi.writes.is_empty() {
            return Action::Reply(b"*0\r\n".to_vec());
        }
        Action::Submit {
            op: Op::Batch {
                writes: multi.writes,
            },
            kind: ReplyKind::Exec(multi.items),
        }
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
        let kind = ReplyKind::Exec(vec![ExecItem::Set, ExecItem::Del(2)]);
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
        assert!(
            matches!(s.interpret(Command::Get(b("a"))), Action::Reply(r) if r.starts_with(b"-ERR only SET and DEL"))
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
                kind: ReplyKind::Get
            }
        );
        let del = s.interpret(Command::Del(vec![b("a"), b("b")]));
        assert!(matches!(
            del,
            Action::Submit {
                kind: ReplyKind::Del(2),
                op: Op::Batch { .. }
            }
        ));
        assert_eq!(
            s.interpret(Command::Quit),
            Action::Close(b"+OK\r\n".to_vec())
        );
        assert_eq!(s.interpret(Command::Info), Action::Info);
    }
}
