#!/usr/bin/env python3
"""Drives running level2pc nodes with redis-py and with an interactive redis-cli.

Run by tests/tests/redis_clients.rs (with the virtual environment scripts/test.sh makes):

    redis_py_client.py redis-py PROTOCOL HOST PORT0 PORT1 PREFIX
        redis-py 8 against node PORT0 (and PORT1 for reads elsewhere). PROTOCOL "default" uses
        redis-py's defaults (RESP3: it sends HELLO 3), "2" passes protocol=2. Keys are written
        under PREFIX, so runs against one cluster do not collide.

    redis_py_client.py redis-cli-hints HOST PORT
        starts redis-cli 7 interactively in a pseudo-terminal: it reads COMMAND DOCS at start-up,
        and must then show argument hints taken from them while a command is typed.

Prints one line per group of checks and exits 0, or raises (non-zero exit, traceback).
"""

import fcntl
import os
import pty
import select
import signal
import struct
import sys
import termios
import time

TIMEOUT = 10


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def expect_error(fn, *needles, kind=None):
    import redis

    try:
        got = fn()
    except kind or redis.RedisError as e:
        text = str(e)
        for needle in needles:
            check(needle in text, f"error {text!r} should mention {needle!r}")
        return text
    raise AssertionError(f"expected an error mentioning {needles}, got {got!r}")


def as_dict(reply):
    """A RESP3 map arrives as a dict, the same reply in RESP2 as a flat list."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2]))


def redis_py(protocol, host, port0, port1, prefix):
    import redis

    major = int(redis.__version__.split(".")[0])
    check(major >= 8, f"redis-py 8 expected, found {redis.__version__}")
    kwargs = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
    if protocol != "default":
        kwargs["protocol"] = int(protocol)
    expected_proto = 3 if protocol == "default" else int(protocol)
    r = redis.Redis(host=host, port=port0, **kwargs)
    elsewhere = redis.Redis(host=host, port=port1, **kwargs)

    # The handshake: with its defaults redis-py 8 sends HELLO 3 (and CLIENT SETINFO, CLIENT
    # MAINT_NOTIFICATIONS, whose error it ignores) while connecting.
    check(r.ping() is True, "PING")
    conn = r.connection_pool.get_connection()
    try:
        check(conn.get_protocol() in (expected_proto, str(expected_proto)), "negotiated protocol")
        if expected_proto == 3:
            meta = conn.handshake_metadata
            check(meta[b"proto"] == 3, f"HELLO 3 answered {meta}")
            check(meta[b"server"] == b"level2pc", f"server name in {meta}")
            check(meta[b"mode"] == b"standalone" and meta[b"role"] == b"master", f"{meta}")
            check(meta[b"modules"] == [], f"{meta}")
    finally:
        r.connection_pool.release(conn)
    print(f"handshake ok (protocol {expected_proto})")

    # HELLO again, on the protocol already spoken: a map in RESP3, a flat array in RESP2.
    hello = r.execute_command("HELLO")
    check(isinstance(hello, dict) == (expected_proto == 3), f"HELLO reply type {hello!r}")
    hello = as_dict(hello)
    check(hello[b"proto"] == expected_proto, f"HELLO {hello}")
    check(hello[b"version"] and hello[b"id"] > 0, f"HELLO {hello}")
    hello = as_dict(r.execute_command("HELLO", expected_proto, "AUTH", "default", "any"))
    check(hello[b"proto"] == expected_proto, "HELLO with AUTH default")
    # redis-py turns -WRONGPASS into AuthenticationError (and drops the code), a kind of
    # ConnectionError it retries with back-off: ask once.
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    once = redis.Redis(host=host, port=port0, retry=Retry(NoBackoff(), 0), **kwargs)
    expect_error(
        lambda: once.execute_command("HELLO", expected_proto, "AUTH", "bob", "pw"),
        "invalid username-password pair",
        kind=redis.AuthenticationError,
    )
    expect_error(lambda: r.execute_command("HELLO", 4), "unsupported protocol version")
    expect_error(lambda: once.execute_command("AUTH", "pw"), "without any password configured")
    print("hello ok")

    # Plain reads and writes, read back on another node.
    k, missing = f"{prefix}:k", f"{prefix}:missing"
    check(r.set(k, "v1") is True, "SET")
    check(elsewhere.get(k) == b"v1", "GET on another node")
    check(r.get(missing) is None, "GET of a missing key is None")
    check(r.mget([k, missing]) == [b"v1", None], "MGET")
    check(r.exists(k, missing) == 1, "EXISTS")
    check(r.mset({f"{prefix}:a": "1", f"{prefix}:b": "2"}) is True, "MSET")
    check(r.delete(f"{prefix}:a") == 1, "DEL")
    check(elsewhere.get(f"{prefix}:a") is None, "deleted everywhere")
    pipe = r.pipeline()
    pipe.set(f"{prefix}:t", "x").delete(f"{prefix}:b")
    # A DEL inside MULTI is part of the atomic batch, which deletes blindly: its count is null.
    check(pipe.execute() == [True, None], "MULTI/EXEC pipeline")
    print("set/get/mget/delete ok")

    # Connection commands.
    check(r.client_setname("level2pc-test") is True, "CLIENT SETNAME")
    check(r.client_getname() == "level2pc-test", f"CLIENT GETNAME {r.client_getname()!r}")
    check(isinstance(r.client_id(), int), "CLIENT ID")
    info = r.client_info()
    check(info["lib-name"] == "redis-py", f"CLIENT SETINFO LIB-NAME reached the node: {info}")
    check(str(info["resp"]) == str(expected_proto), f"CLIENT INFO resp: {info}")
    check(r.select(0) is True, "SELECT 0")
    expect_error(lambda: r.select(1), "DB index is out of range")
    check(r.echo("hello") == b"hello", "ECHO")
    check(r.type(k) == b"string" and r.type(missing) == b"none", "TYPE")
    check(r.strlen(k) == 2 and r.strlen(missing) == 0, "STRLEN")
    server = r.info()
    check(server["redis_mode"] == "standalone" and server["role"] == "master", f"INFO {server}")
    check(str(server["redis_version"]) and int(server["uptime_in_seconds"]) >= 0, "INFO fields")
    check(r.command_count() == len(r.command()), "COMMAND COUNT")
    check("scan" in r.command(), "COMMAND lists SCAN")
    docs = r.execute_command("COMMAND DOCS", "get")
    check(isinstance(docs, dict) == (expected_proto == 3), f"COMMAND DOCS reply type {docs!r}")
    check(b"summary" in as_dict(as_dict(docs)[b"get"]), f"COMMAND DOCS get: {docs!r}")
    print("client/select/echo/type/strlen/info/command ok")

    # Many keys: DBSIZE, KEYS and SCAN read them in chunks (1000 keys each).
    before = r.dbsize()
    users = [f"{prefix}:user:{i:05}" for i in range(2000)]
    others = [f"{prefix}:other:{i:05}" for i in range(500)]
    everything = users + others
    for i in range(0, len(everything), 500):
        r.mset({key: key[::-1] for key in everything[i : i + 500]})
    check(r.dbsize() == before + len(everything), f"DBSIZE {r.dbsize()} != {before} + 2500")
    check(elsewhere.dbsize() == before + len(everything), "DBSIZE on another node")

    found = [key.decode() for key in elsewhere.scan_iter(match=f"{prefix}:user:*")]
    check(len(found) == len(set(found)), "SCAN returned a key twice")
    check(sorted(found) == users, f"scan_iter(match) found {len(found)} of {len(users)} keys")
    found = [key.decode() for key in r.scan_iter(match=f"{prefix}:*er:0000?", count=100)]
    expected = sorted([k for k in everything if k.endswith(tuple(f"0000{d}" for d in range(10)))])
    check(sorted(found) == expected, f"scan_iter(match, count) found {found}")
    check(list(r.scan_iter(match=f"{prefix}:*", _type="hash")) == [], "SCAN TYPE hash")
    check(
        sorted(k.decode() for k in r.scan_iter(match=f"{prefix}:*", _type="string", count=1000))
        == sorted(everything + [k, f"{prefix}:t"]),
        "SCAN TYPE string",
    )
    keys = sorted(key.decode() for key in r.keys(f"{prefix}:user:0001?"))
    check(keys == users[10:20], f"KEYS pattern {keys}")
    check(len(r.keys("*")) == r.dbsize(), "KEYS * lists every key")

    # Cursors are node-wide: a SCAN may continue on another connection of the node, not on
    # another node.
    all_keys = set(r.keys("*"))
    cursor, batch = r.scan(0, count=100)
    check(cursor != 0 and len(batch) == 100, f"first SCAN step: {cursor} {len(batch)}")
    other_pool = redis.Redis(host=host, port=port0, **kwargs)
    seen = list(batch)
    while cursor != 0:
        cursor, batch = other_pool.scan(cursor, count=500)
        seen.extend(batch)
    check(len(seen) == len(set(seen)), "a SCAN continued on another connection repeated a key")
    check(set(seen) == all_keys, "a SCAN continued on another connection missed keys")
    cursor, _ = r.scan(0, count=10)
    expect_error(lambda: elsewhere.scan(cursor), "invalid cursor")
    expect_error(lambda: r.scan(12345), "invalid cursor")
    print("dbsize/keys/scan_iter ok")

    # What level2pc does not serve is an error that names the command, never a wrong answer.
    expect_error(lambda: r.incrbyfloat(k, 1.5), "INCRBYFLOAT", "only integers")
    expect_error(lambda: r.expire(k, 10), "EXPIRE", "keys do not expire")
    expect_error(lambda: r.ttl(k), "TTL")
    expect_error(lambda: r.set(k, "1", keepttl=True), "KEEPTTL", "keys do not expire")
    expect_error(lambda: r.set(k, "1", ex=10), "EX", "keys do not expire")
    expect_error(lambda: r.flushall(), "FLUSHALL")
    expect_error(lambda: r.hset("h", "f", "v"), "HSET")
    check(r.get(k) == b"v1", "refused commands changed nothing")
    print("unsupported commands ok")


def redis_cli_hints(host, port):
    """redis-cli in a terminal: its prompt appears, and typing shows hints from COMMAND DOCS."""
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.environ["REDISCLI_HISTFILE"] = "/dev/null"
        os.execvp("redis-cli", ["redis-cli", "-h", host, "-p", str(port)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 200, 0, 0))

    def read_until(needle, timeout=TIMEOUT):
        out = b""
        end = time.time() + timeout
        while time.time() < end and needle not in out:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                out += chunk
                if b"\x1b[6n" in chunk:  # linenoise asks where the cursor is
                    os.write(fd, b"\x1b[1;1R")
        check(needle in out, f"redis-cli never showed {needle!r}; it showed {out[-400:]!r}")
        return out

    try:
        prompt = f"{host}:{port}> ".encode()
        read_until(prompt)
        os.write(fd, b"scan ")
        read_until(b"cursor [MATCH pattern] [COUNT count] [TYPE type]")
        os.write(fd, b"\x15client setname ")
        read_until(b"connection-name")
        os.write(fd, b"\x15set ")
        read_until(b"key value [NX|XX] [GET]")
        os.write(fd, b"\x15cas ")
        read_until(b"key expected new")
        os.write(fd, b"\x15ping\r")
        read_until(b"PONG")
        os.write(fd, b"quit\r")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    print("redis-cli hints ok")


def main(argv):
    if len(argv) == 7 and argv[1] == "redis-py":
        redis_py(argv[2], argv[3], int(argv[4]), int(argv[5]), argv[6])
    elif len(argv) == 4 and argv[1] == "redis-cli-hints":
        redis_cli_hints(argv[2], int(argv[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
