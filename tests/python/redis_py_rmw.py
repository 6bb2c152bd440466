#!/usr/bin/env python3
"""Drives level2pc's read-modify-write commands with redis-py 8 (its defaults: RESP3).

Run by tests/tests/resp_rmw.rs and tests/tests/resp_rmw_kill9.rs (with the virtual environment
scripts/test.sh makes):

    redis_py_rmw.py commands HOST PORT0 PORT1 PREFIX
        INCR, DECR, INCRBY, DECRBY, SET NX/XX/GET, SETNX, GETSET, GETDEL, DEL/UNLINK counts, CAS
        and their errors, against node PORT0 (reading back on PORT1), keys under PREFIX. Prints
        "rmw commands ok".

    redis_py_rmw.py incr HOST PORT KEY COUNT
        COUNT times r.incr(KEY), without redis-py's retries (a retried INCR could apply twice).
        Prints one JSON object: "values" (every value an INCR returned), "indeterminate"
        (-INDETERMINATE replies), "unavailable" (-UNAVAILABLE replies: nothing written),
        "unsent" (the connection could not be made: nothing sent), "lost" (other connection
        errors and timeouts: the INCR may or may not have applied), "other" (any other error,
        as text).

    redis_py_rmw.py watch-incr HOST PORT KEY COUNT
        COUNT optimistic increments with redis-py's r.transaction (WATCH KEY, GET, MULTI, SET
        to one more, EXEC; again from the start while EXEC answers that KEY changed). Prints
        the same JSON object as "incr", plus "retries" (EXECs refused because KEY changed).
"""

import json
import sys

from redis_py_client import check, expect_error

TIMEOUT = 10


def client(host, port, **extra):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    major = int(redis.__version__.split(".")[0])
    check(major >= 8, f"redis-py 8 expected, found {redis.__version__}")
    return redis.Redis(
        host=host,
        port=port,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=TIMEOUT,
        retry=Retry(NoBackoff(), 0),
        **extra,
    )


def commands(host, port0, port1, prefix):
    import redis

    r = client(host, port0)
    elsewhere = client(host, port1)
    conn = r.connection_pool.get_connection()
    try:
        check(conn.get_protocol() in (3, "3"), "redis-py 8 speaks RESP3 by default")
    finally:
        r.connection_pool.release(conn)
    k = lambda name: f"{prefix}:{name}"  # noqa: E731

    # Counters. redis-py sends INCR as INCRBY key 1 and DECR as DECRBY key 1.
    c = k("counter")
    check(r.incr(c) == 1, "INCR of a missing key starts from 0")
    check(r.incr(c) == 2, "INCR")
    check(r.incrby(c, 40) == 42, "INCRBY")
    check(r.decr(c) == 41, "DECR")
    check(r.decrby(c, 50) == -9, "DECRBY")
    check(r.incrby(c, -1) == -10, "INCRBY with a negative increment")
    check(r.execute_command("INCR", c) == -9, "INCR itself")
    check(r.execute_command("DECR", c) == -10, "DECR itself")
    check(elsewhere.get(c) == b"-10", "the counter is a decimal string on every node")
    r.set(c, "9223372036854775806")
    check(r.incr(c) == 9223372036854775807, "INCR up to the largest integer")
    expect_error(lambda: r.incr(c), "increment or decrement would overflow")
    expect_error(lambda: r.decrby(c, -9223372036854775808), "decrement would overflow")
    check(r.get(c) == b"9223372036854775807", "a refused increment changes nothing")
    r.set(c, "not a number")
    expect_error(lambda: r.incr(c), "value is not an integer or out of range")
    expect_error(lambda: r.incrby(k("x"), "1.5"), "value is not an integer or out of range")
    r.set(c, "007")
    expect_error(lambda: r.incr(c), "value is not an integer or out of range")
    check(r.get(c) == b"007", "INCR of a non-canonical integer changes nothing")
    print("incr/decr ok")

    # SET NX / XX / GET, SETNX.
    lock = k("lock")
    check(r.set(lock, "me", nx=True) is True, "SET NX of a missing key")
    check(r.set(lock, "you", nx=True) is None, "SET NX of a present key is None")
    check(elsewhere.get(lock) == b"me", "SET NX kept the winner")
    check(r.set(lock, "me2", xx=True) is True, "SET XX of a present key")
    check(r.set(k("absent"), "x", xx=True) is None, "SET XX of a missing key is None")
    check(r.exists(k("absent")) == 0, "SET XX did not create the key")
    check(r.set(lock, "me3", get=True) == b"me2", "SET GET answers the old value")
    check(r.set(k("fresh"), "v", get=True) is None, "SET GET of a missing key is None")
    check(elsewhere.get(k("fresh")) == b"v", "SET GET wrote")
    check(r.set(lock, "me4", nx=True, get=True) == b"me3", "SET NX GET of a present key")
    check(r.get(lock) == b"me3", "SET NX GET of a present key wrote nothing")
    check(r.set(k("nxget"), "v", nx=True, get=True) is None, "SET NX GET of a missing key")
    check(r.get(k("nxget")) == b"v", "SET NX GET of a missing key wrote")
    check(r.set(lock, "me5", xx=True, get=True) == b"me3", "SET XX GET")
    expect_error(lambda: r.execute_command("SET", lock, "v", "NX", "XX"), "syntax error")
    expect_error(lambda: r.set(lock, "v", ex=10), "EX", "keys do not expire")
    check(r.setnx(lock, "other") is False, "SETNX of a present key")
    check(r.setnx(k("nx2"), "v") is True, "SETNX of a missing key")
    print("set nx/xx/get and setnx ok")

    # GETSET, GETDEL.
    check(r.getset(lock, "me6") == b"me5", "GETSET answers the old value")
    check(r.getset(k("gs"), "v") is None, "GETSET of a missing key")
    check(elsewhere.get(k("gs")) == b"v", "GETSET wrote")
    check(r.getdel(lock) == b"me6", "GETDEL answers the value")
    check(r.getdel(lock) is None, "GETDEL of a missing key")
    check(elsewhere.exists(lock) == 0, "GETDEL deleted")
    print("getset/getdel ok")

    # DEL and UNLINK answer how many keys existed.
    a, b, missing = k("a"), k("b"), k("missing")
    r.mset({a: "1", b: "2"})
    check(r.delete(missing) == 0, "DEL of a missing key is 0")
    check(r.delete(a, b, missing) == 2, "DEL of three keys, two present")
    check(r.delete(a, b) == 0, "DEL of deleted keys is 0")
    r.mset({a: "1", b: "2"})
    check(r.unlink(a, a, missing) == 1, "UNLINK counts a repeated key once")
    check(r.delete(b) == 1, "DEL of one present key")
    keys = [k(f"many:{i}") for i in range(100)]
    r.mset({key: "x" for key in keys[::2]})
    check(r.delete(*keys) == 50, "DEL of 100 keys, 50 present")
    check(elsewhere.exists(*keys) == 0, "every key deleted")
    # Inside MULTI a DEL is part of the atomic batch, which deletes blindly: its count is unknown.
    r.set(a, "1")
    pipe = r.pipeline()
    pipe.set(k("t"), "x").delete(a, missing)
    check(pipe.execute() == [True, None], "DEL inside MULTI/EXEC answers null")
    check(elsewhere.exists(a) == 0 and elsewhere.get(k("t")) == b"x", "EXEC applied the batch")
    pipe = r.pipeline()
    pipe.set(k("t"), "y").incr(c)
    # redis-py raises the error of the command that could not be queued (not EXECABORT).
    expect_error(lambda: pipe.execute(), "'incrby' cannot be queued inside MULTI")
    check(r.get(k("t")) == b"x", "an aborted transaction changed nothing")
    print("del/unlink ok")

    # CAS, level2pc's compare-and-set.
    cas = k("cas")
    r.set(cas, "v1")
    check(r.execute_command("CAS", cas, "v1", "v2") == 1, "CAS with the right value")
    check(r.execute_command("CAS", cas, "v1", "v3") == 0, "CAS with a stale value")
    check(elsewhere.get(cas) == b"v2", "CAS wrote only once")
    check(r.execute_command("CAS", k("nocas"), "", "v") == 0, "CAS of a missing key")
    check(r.exists(k("nocas")) == 0, "a failed CAS writes nothing")
    expect_error(lambda: r.execute_command("CAS", cas, "v2"), "wrong number of arguments")
    print("cas ok")

    # WATCH: EXEC fails (redis-py raises WatchError) if the watched key changed on any node.
    with r.pipeline() as pipe:
        pipe.watch(cas)
        check(pipe.get(cas) == b"v2", "GET in immediate mode after WATCH")
        elsewhere.set(cas, "v9")
        pipe.multi()
        pipe.set(cas, "v3")
        try:
            pipe.execute()
            check(False, "EXEC applied although the watched key changed")
        except redis.WatchError:
            pass
    check(r.get(cas) == b"v9", "a failed EXEC writes nothing")
    with r.pipeline() as pipe:
        pipe.watch(cas)
        pipe.multi()
        pipe.set(cas, "v4")
        check(pipe.execute() == [True], "EXEC applies when nothing changed")
    check(elsewhere.get(cas) == b"v4", "the watched write reached every node")
    print("watch ok")

    docs = r.execute_command("COMMAND DOCS", "cas", "incr")
    check(b"compare-and-set" in docs[b"cas"][b"summary"], f"COMMAND DOCS cas: {docs!r}")
    check(b"incr" in docs, f"COMMAND DOCS incr: {docs!r}")
    print("rmw commands ok")


def incr(host, port, key, count):
    import redis

    r = client(host, port)
    out = {"values": [], "indeterminate": 0, "unavailable": 0, "unsent": 0, "lost": 0, "other": []}
    for _ in range(count):
        try:
            out["values"].append(r.incr(key))
        except (redis.ConnectionError, redis.TimeoutError) as e:
            # redis-py says "Error <errno> connecting to <host>:<port>" when it could not connect.
            connecting = isinstance(e, redis.ConnectionError) and " connecting to " in str(e)
            out["unsent" if connecting else "lost"] += 1
        except redis.ResponseError as e:
            text = str(e)
            if text.startswith("INDETERMINATE"):
                out["indeterminate"] += 1
            elif text.startswith("UNAVAILABLE"):
                out["unavailable"] += 1
            else:
                out["other"].append(text)
    print(json.dumps(out))


def watch_incr(host, port, key, count):
    import redis

    r = client(host, port)
    out = {"values": [], "indeterminate": 0, "unavailable": 0, "unsent": 0, "lost": 0, "other": []}
    attempts = 0

    def bump(pipe):
        nonlocal attempts
        attempts += 1
        value = int(pipe.get(key) or 0) + 1
        pipe.multi()
        pipe.set(key, value)
        return value

    for _ in range(count):
        try:
            out["values"].append(r.transaction(bump, key, value_from_callable=True))
        except (redis.ConnectionError, redis.TimeoutError) as e:
            connecting = isinstance(e, redis.ConnectionError) and " connecting to " in str(e)
            out["unsent" if connecting else "lost"] += 1
        except redis.ResponseError as e:
            text = str(e)
            if "INDETERMINATE" in text:
                out["indeterminate"] += 1
            elif "UNAVAILABLE" in text:
                out["unavailable"] += 1
            else:
                out["other"].append(text)
    out["retries"] = attempts - count
    print(json.dumps(out))


def main(argv):
    if len(argv) == 6 and argv[1] == "commands":
        commands(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif len(argv) == 6 and argv[1] == "incr":
        incr(argv[2], int(argv[3]), argv[4], int(argv[5]))
    elif len(argv) == 6 and argv[1] == "watch-incr":
        watch_incr(argv[2], int(argv[3]), argv[4], int(argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
