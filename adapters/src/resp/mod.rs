//! The client protocol: RESP (the Redis serialization protocol), so `redis-cli`,
//! `redis-benchmark` and every Redis client library work unchanged. A connection speaks RESP2
//! until it sends `HELLO 3` (redis-py 8 does by default), then RESP3.
//!
//! | command                      | meaning                                                     | reply                        |
//! |------------------------------|-------------------------------------------------------------|------------------------------|
//! | `PING [msg]`, `ECHO msg`     | liveness, echo                                              | `+PONG` or `msg`             |
//! | `GET key`                    | linearizable local read                                     | bulk or null                 |
//! | `SET key value`              | put (a blind write)                                         | `+OK`                        |
//! | `SET key value [NX\|XX] [GET]` | put if absent / present; `GET`: answer the old value (one read-modify-write; `EX`, `PX`, … are refused) | `+OK` or null / old value |
//! | `SETNX`, `GETSET`, `GETDEL`  | as Redis, each one read-modify-write                        | `:1`/`:0`, old value          |
//! | `INCR`, `DECR`, `INCRBY`, `DECRBY` | add to a decimal 64-bit integer (absent: 0), as Redis   | `:n` (the new value)         |
//! | `CAS key expected new`       | level2pc's compare-and-set                                  | `:1` if set, else `:0`       |
//! | `DEL key [key ...]`, `UNLINK` | delete; each key atomically, not all at once ([`fanout`])  | `:n` (keys that existed)     |
//! | `MGET key [key ...]`         | one consistent multi-key read                               | array                        |
//! | `MSET k v [k v ...]`         | put, all pairs in one atomic batch                          | `+OK`                        |
//! | `EXISTS key [key ...]`       | how many of the keys exist (one consistent read)            | `:n`                         |
//! | `TYPE key`, `STRLEN key`     | `string`/`none`; the value's length                         | `+string` / `:n`             |
//! | `DBSIZE`, `KEYS pattern`     | count / list the keys (range reads in chunks, see [`scan`]) | `:n` / array                 |
//! | `SCAN cursor [MATCH p] [COUNT n] [TYPE t]` | iterate; cursors kept node-wide ([`scan`])    | `[cursor, keys]`             |
//! | `MULTI` … `EXEC`/`DISCARD`   | only `SET`/`DEL` inside; `EXEC` applies them as one batch   | array of `+OK` / null (a `DEL`'s count is unknown) |
//! | `WATCH key [key ...]`, `UNWATCH` | the next `EXEC` fails if a key changed; under `WATCH` a transaction writes only the one key watched ([`watch`]) | `+OK`; `EXEC`: null array if changed |
//! | `RANGE lo hi [LIMIT n]`      | live keys with `lo <= key < hi`, ascending (one consistent read) | flat array `k1 v1 k2 v2 …` |
//! | `HELLO [2\|3 [AUTH u p] [SETNAME n]]` | protocol, server properties                       | map                          |
//! | `AUTH`, `SELECT 0`, `CLIENT SETNAME/GETNAME/SETINFO/ID/INFO` | as Redis without a password, one database | |
//! | `COMMAND [COUNT\|DOCS\|INFO\|LIST]` | the command table ([`catalog`])                    | as Redis 7                   |
//! | `INFO [section]`             | server fields clients check, node id, view, readiness, peers, counters | bulk text         |
//! | `QUIT`                       | close after replying                                        | `+OK`                        |
//!
//! Errors: `-UNAVAILABLE <reason>` (nothing was written anywhere),
//! `-INDETERMINATE ...` (a write that did not finish in time; it may still commit),
//! `-ERR ...` (unknown or unsupported command, wrong arguments; the connection stays open),
//! `-ERR Protocol error: ...` (malformed or oversized request; the connection is then closed).

pub mod catalog;
pub mod client;
pub mod command;
pub mod fanout;
pub mod glob;
pub mod parse;
pub mod reply;
pub mod scan;
pub mod session;
pub mod watch;

pub use command::Command;
pub use parse::{parse, Limits, RespError};
