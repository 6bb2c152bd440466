//! The client protocol: RESP2 (the Redis serialization protocol), so `redis-cli`,
//! `redis-benchmark` and every Redis client library work unchanged.
//!
//! | command                      | meaning                                                     | reply                        |
//! |------------------------------|-------------------------------------------------------------|------------------------------|
//! | `PING [msg]`                 | liveness                                                    | `+PONG` or `msg`             |
//! | `GET key`                    | linearizable local read                                     | bulk or nil                  |
//! | `SET key value`              | put (no options: `EX`, `NX`, … are refused)                 | `+OK`                        |
//! | `DEL key [key ...]`          | delete, all keys in one atomic batch                        | `:n` (keys named)            |
//! | `MGET key [key ...]`         | one consistent multi-key read                               | array                        |
//! | `MSET k v [k v ...]`         | put, all pairs in one atomic batch                          | `+OK`                        |
//! | `EXISTS key [key ...]`       | how many of the keys exist (one consistent read)            | `:n`                         |
//! | `MULTI` … `EXEC`/`DISCARD`   | only `SET`/`DEL` inside; `EXEC` applies them as one batch   | array of `+OK` / `:n`        |
//! | `RANGE lo hi [LIMIT n]`      | live keys with `lo <= key < hi`, ascending (one consistent read) | flat array `k1 v1 k2 v2 …` |
//! | `INFO [section]`             | node id, view, readiness, peers, counters                   | bulk text                    |
//! | `QUIT`                       | close after replying                                        | `+OK`                        |
//!
//! `DEL` answers the number of keys *named*: deletes are blind writes, the node does not read
//! before it deletes. Errors: `-UNAVAILABLE <reason>` (nothing was written anywhere),
//! `-INDETERMINATE ...` (a write that did not finish in time; it may still commit),
//! `-ERR ...` (unknown command, wrong arguments; the connection stays open),
//! `-ERR Protocol error: ...` (malformed or oversized request; the connection is then closed).

pub mod client;
pub mod command;
pub mod parse;
pub mod reply;
pub mod session;

pub use command::Command;
pub use parse::{parse, Limits, RespError};
