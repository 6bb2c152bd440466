#!/usr/bin/env bash
# Benchmarks a 3-node level2pc cluster against one durable redis-server, on this machine.
#
# Usage: bash scripts/bench.sh [--smoke] [--bin PATH] [--label TEXT]
#
#   --smoke       every workload with a tiny request count (about 10 s in all); only checks that
#                 the script still works, its numbers mean nothing
#   --bin PATH    level2pc binary to run (default: $LEVEL2PC_BIN, else build it with
#                 `cargo build --release -p level2pc-adapters --bin level2pc`)
#   --label TEXT  free text printed in the header (e.g. "before", a branch name)
#
# Starts, on loopback, a release level2pc cluster (`level2pc cluster`, 3 nodes in one process)
# and one `redis-server --appendonly yes --appendfsync always` (a single node that fsyncs every
# write), drives both with redis-benchmark, and prints one Markdown table with both systems and
# the ratio per row, then the level2pc node's INFO. Installs redis-server and redis-tools with
# apt-get if they are missing (never starting the Debian service). Exits non-zero if anything
# fails. Everything it starts is stopped and its temporary directory removed at exit.
#
# Environment: LEVEL2PC_BIN (prebuilt binary), BENCH_L2PC_PORT (first level2pc client port,
# default 17001; peers use +1000), BENCH_REDIS_PORT (default 17379), TMPDIR (where the data
# directories go: it should be on the disk you want to measure, not a tmpfs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ORIG_ARGS=("$@")

SMOKE=0
BIN="${LEVEL2PC_BIN:-}"
BIN_FROM="LEVEL2PC_BIN"
LABEL=""
NODES=3
L2_PORT="${BENCH_L2PC_PORT:-17001}"
REDIS_PORT="${BENCH_REDIS_PORT:-17379}"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) SMOKE=1 ;;
        --bin)
            [ $# -ge 2 ] || { echo "bench.sh: --bin needs a path" >&2; exit 2; }
            BIN="$2"; BIN_FROM="--bin"; shift ;;
        --bin=*) BIN="${1#--bin=}"; BIN_FROM="--bin" ;;
        --label)
            [ $# -ge 2 ] || { echo "bench.sh: --label needs a text" >&2; exit 2; }
            LABEL="$2"; shift ;;
        --label=*) LABEL="${1#--label=}" ;;
        -h|--help) usage; exit 0 ;;
        *) echo "bench.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Cleanup: stop what we started, remove the temporary directory.
TMP=""
L2_PID=""
REDIS_PID=""
LOG_PIDS=()

stop_pid() {
    local pid="$1" i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    if [ "$rc" -ne 0 ] && [ -n "$TMP" ]; then
        if [ -s "$TMP/level2pc.log" ]; then
            echo "[bench] last lines of the level2pc log:" >&2
            tail -n 20 "$TMP/level2pc.log" >&2
        fi
        if [ -s "$TMP/redis.log" ]; then
            echo "[bench] last lines of the redis-server log:" >&2
            tail -n 10 "$TMP/redis.log" >&2
        fi
    fi
    stop_pid "$L2_PID"
    stop_pid "$REDIS_PID"
    local p
    for p in "${LOG_PIDS[@]+"${LOG_PIDS[@]}"}"; do
        stop_pid "$p"
    done
    if [ -n "$TMP" ] && [ -d "$TMP" ]; then
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Tools: redis-server, redis-benchmark, redis-cli (Debian: redis-server, redis-tools).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root or sudo to install $*"
    fi
}

install_redis() {
    command -v apt-get >/dev/null 2>&1 || die "redis-server/redis-benchmark missing and no apt-get"
    log "installing redis-server and redis-tools (the Debian service is not started)"
    # policy-rc.d exiting 101 forbids the package scripts to start the service.
    local made_policy=0 ok=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
        as_root chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    if as_root apt-get update -qq >&2 &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >&2; then
        ok=1
    fi
    if [ "$made_policy" -eq 1 ]; then
        as_root rm -f /usr/sbin/policy-rc.d
    fi
    [ "$ok" -eq 1 ] || die "apt-get install redis-server redis-tools failed"
}

for tool in redis-server redis-benchmark redis-cli; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        install_redis
        break
    fi
done
for tool in redis-server redis-benchmark redis-cli timeout awk; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

# ---------------------------------------------------------------------------------------------
# The level2pc binary.
if [ -z "$BIN" ]; then
    BIN_FROM="cargo build"
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or pass --bin PATH)"
    log "building: cargo build --release -p level2pc-adapters --bin level2pc"
    (cd "$ROOT" && cargo build --release -p level2pc-adapters --bin level2pc) ||
        die "cargo build failed"
    TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
    BIN="$TARGET_DIR/release/level2pc"
fi
if [ ! -f "$BIN" ] || [ ! -x "$BIN" ]; then
    die "level2pc binary not found or not executable: $BIN"
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
BIN_VERSION="$("$BIN" --version 2>/dev/null || echo unknown)"

# ---------------------------------------------------------------------------------------------
# Ports must be free.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
L2_PORTS=()
for i in $(seq 0 $((NODES - 1))); do
    L2_PORTS+=("$((L2_PORT + i))" "$((L2_PORT + 1000 + i))")
done
for p in "${L2_PORTS[@]}" "$REDIS_PORT"; do
    if port_busy "$p"; then
        die "port $p on 127.0.0.1 is in use (set BENCH_L2PC_PORT / BENCH_REDIS_PORT)"
    fi
done

TMP="$(mktemp -d "${TMPDIR:-/tmp}/level2pc-bench.XXXXXX")"
mkdir -p "$TMP/level2pc" "$TMP/redis"

# Each server logs into a FIFO read by `cat`, so its own write_bytes in /proc/PID/io counts
# only its storage, not its log.
start_logger() {
    local name="$1"
    mkfifo "$TMP/$name.fifo"
    cat "$TMP/$name.fifo" >"$TMP/$name.log" &
    LOG_PIDS+=("$!")
}

rcli() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" "${@:2}" 2>/dev/null | tr -d '\r'; }

# ---------------------------------------------------------------------------------------------
# Start the servers.
log "starting level2pc cluster ($NODES nodes, ports $L2_PORT..$((L2_PORT + NODES - 1))), data in $TMP/level2pc"
start_logger level2pc
"$BIN" cluster --nodes "$NODES" --data "$TMP/level2pc" --port "$L2_PORT" \
    >"$TMP/level2pc.fifo" 2>&1 &
L2_PID=$!

log "starting redis-server (port $REDIS_PORT, appendonly yes, appendfsync always), data in $TMP/redis"
start_logger redis
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$TMP/redis" \
    --appendonly yes --appendfsync always --save '' --daemonize no \
    >"$TMP/redis.fifo" 2>&1 &
REDIS_PID=$!

# wait_ready NAME PID PORT...: every port answers PING, then a SET on the first one is OK.
wait_ready() {
    local name="$1" pid="$2" first="$3" deadline p up
    shift 2
    deadline=$((SECONDS + 60))
    while :; do
        kill -0 "$pid" 2>/dev/null || die "$name exited during startup"
        up=1
        for p in "$@"; do
            [ "$(rcli "$p" PING)" = "PONG" ] || { up=0; break; }
        done
        if [ "$up" -eq 1 ] && [ "$(rcli "$first" SET warmup 1)" = "OK" ]; then
            return 0
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "$name did not come up within 60 s"
        sleep 0.2
    done
}
L2_CLIENT_PORTS=()
for i in $(seq 0 $((NODES - 1))); do L2_CLIENT_PORTS+=("$((L2_PORT + i))"); done
wait_ready level2pc "$L2_PID" "${L2_CLIENT_PORTS[@]}"
wait_ready redis-server "$REDIS_PID" "$REDIS_PORT"
log "both servers are up"

# ---------------------------------------------------------------------------------------------
# Workloads: name|redis-benchmark arguments (a command given by name, e.g. `INCR hot`, hits one
# key)|requests (full)|requests (smoke)|disk row label
WORKLOADS=(
    "SET, 1 client|-t set -c 1|5000|20|SET 1 client"
    "SET, 16 clients|-t set -c 16|20000|100|"
    "SET, 64 clients|-t set -c 64|50000|256|SET 64 clients"
    "SET, 256 clients|-t set -c 256|100000|512|"
    "GET, 1 client|-t get -c 1|20000|200|"
    "GET, 16 clients|-t get -c 16|100000|2000|"
    "GET, 64 clients|-t get -c 64|100000|2000|"
    "GET, 256 clients|-t get -c 256|100000|2000|"
    "GET, 64 clients, pipeline 16|-t get -c 64 -P 16|1000000|20000|"
    "MSET (10 keys), 64 clients|-t mset -c 64|20000|128|"
    "INCR, 1 client, one key|-c 1 INCR hot|5000|20|"
    "INCR, 64 clients, one key|-c 64 INCR hot|20000|128|"
    "INCR, 64 clients, random keys|-t incr -c 64|20000|128|"
)
COMMON_ARGS=(-d 100 -r 1000000 --csv)
if [ "$SMOKE" -eq 1 ]; then RUN_TIMEOUT=60; else RUN_TIMEOUT=900; fi

write_bytes() {
    local v
    v="$(awk '$1 == "write_bytes:" { print $2 }' "/proc/$1/io" 2>/dev/null)" || true
    [ -n "$v" ] || die "cannot read write_bytes from /proc/$1/io"
    printf '%s\n' "$v"
}

# parse_csv FILE: prints "rps p50" from redis-benchmark --csv output (one test). Newer versions
# print a header line and test,rps,avg,min,p50,p95,p99,max; older ones only "test","rps".
parse_csv() {
    awk -F',' -v smoke="$SMOKE" '
        { for (i = 1; i <= NF; i++) gsub(/"/, "", $i) }
        $1 == "test" {
            for (i = 1; i <= NF; i++) { if ($i == "rps") r = i; if ($i == "p50_latency_ms") p = i }
            next
        }
        NF >= 2 { n++; rps = $(r ? r : 2); p50 = p ? $p : "n/a" }
        END {
            # rps is "inf" when a run takes under 1 ms: only possible with smoke counts.
            if (smoke == 1 && rps == "inf") { print rps, p50; exit 0 }
            if (n != 1 || rps !~ /^[0-9]+(\.[0-9]+)?$/ || rps + 0 <= 0) exit 1
            if (p50 != "n/a" && p50 !~ /^[0-9]+(\.[0-9]+)?$/) exit 1
            print rps, p50
        }' "$1"
}

RAW_CSV=""
# bench SYSTEM PORT PID REQUESTS ARGS...: runs redis-benchmark, sets RPS, P50, WRITTEN.
bench() {
    local system="$1" port="$2" pid="$3" n="$4" out before after parsed
    shift 4
    out="$TMP/rb.out"
    before="$(write_bytes "$pid")"
    # The workload's arguments go last: a command given by name (`INCR hot`) ends the options.
    if ! timeout "$RUN_TIMEOUT" redis-benchmark -h 127.0.0.1 -p "$port" -n "$n" \
        "${COMMON_ARGS[@]}" "$@" >"$out" 2>"$TMP/rb.err"; then
        cat "$out" "$TMP/rb.err" >&2
        die "redis-benchmark against $system failed: redis-benchmark -p $port -n $n $* ${COMMON_ARGS[*]}"
    fi
    after="$(write_bytes "$pid")"
    kill -0 "$pid" 2>/dev/null || die "$system exited during the run"
    parsed="$(parse_csv "$out")" || {
        cat "$out" "$TMP/rb.err" >&2
        die "cannot parse redis-benchmark output for $system"
    }
    RPS="${parsed% *}"
    P50="${parsed#* }"
    WRITTEN=$((after - before))
    RAW_CSV+="$system -n $n $*: $(grep -v '^"test"' "$out" | tr -d '\r')"$'\n'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b
    }'
}
fmt_rps() { awk -v a="$1" 'BEGIN { if (a ~ /^[0-9.]+$/) printf "%.0f\n", a; else print a }'; }

ROWS=()
DISK_ROWS=()
STARTED=$SECONDS
START_DATE="$(date -u '+%Y-%m-%d %H:%M:%S UTC')"
for w in "${WORKLOADS[@]}"; do
    IFS='|' read -r name args n_full n_smoke disk <<<"$w"
    if [ "$SMOKE" -eq 1 ]; then n="$n_smoke"; else n="$n_full"; fi
    read -r -a argv <<<"$args"
    label="$name, $n req"

    log "$label: level2pc"
    bench level2pc "$L2_PORT" "$L2_PID" "$n" "${argv[@]}"
    l_rps="$RPS"; l_p50="$P50"; l_written="$WRITTEN"
    log "$label: redis"
    bench redis "$REDIS_PORT" "$REDIS_PID" "$n" "${argv[@]}"
    r_rps="$RPS"; r_p50="$P50"; r_written="$WRITTEN"
    log "$label: level2pc $(fmt_rps "$l_rps") rps p50 $l_p50 ms | redis $(fmt_rps "$r_rps") rps p50 $r_p50 ms"

    ROWS+=("| $label | $(fmt_rps "$l_rps") | $l_p50 | $(fmt_rps "$r_rps") | $r_p50 | $(ratio "$l_rps" "$r_rps") | $(ratio "$l_p50" "$r_p50") |")
    if [ -n "$disk" ]; then
        l_disk="$(awk -v w="$l_written" -v n="$n" -v k="$NODES" 'BEGIN { printf "%.0f\n", w / n / k }')"
        r_disk="$(awk -v w="$r_written" -v n="$n" 'BEGIN { printf "%.0f\n", w / n }')"
        DISK_ROWS+=("| disk bytes/SET/node, $disk | $l_disk | - | $r_disk | - | $(ratio "$l_disk" "$r_disk") | - |")
    fi
done
ELAPSED=$((SECONDS - STARTED))

# ---------------------------------------------------------------------------------------------
# Report.
quote_cmd() {
    local s="" a
    if [ "$BIN_FROM" = "LEVEL2PC_BIN" ]; then s+="LEVEL2PC_BIN=$(printf '%q' "$BIN") "; fi
    if [ -n "${BENCH_L2PC_PORT:-}" ]; then s+="BENCH_L2PC_PORT=$(printf '%q' "$BENCH_L2PC_PORT") "; fi
    if [ -n "${BENCH_REDIS_PORT:-}" ]; then s+="BENCH_REDIS_PORT=$(printf '%q' "$BENCH_REDIS_PORT") "; fi
    s+="bash scripts/bench.sh"
    for a in "${ORIG_ARGS[@]+"${ORIG_ARGS[@]}"}"; do s+=" $(printf '%q' "$a")"; done
    printf '%s\n' "$s"
}
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)"
git_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ]; then git_rev+=" (work tree modified)"; fi

echo "## level2pc vs redis-server benchmark"
echo
echo '```'
echo "date:          $START_DATE (start of the workloads)"
echo "label:         ${LABEL:-(none)}"
echo "mode:          $([ "$SMOKE" -eq 1 ] && echo 'SMOKE (tiny request counts: the numbers mean nothing)' || echo full)"
echo "reproduce:     $(quote_cmd)"
echo "level2pc bin:  $BIN ($BIN_FROM; $BIN_VERSION)"
echo "repo HEAD:     $git_rev"
echo "redis:         $(redis-server --version | head -n 1)"
echo "benchmark:     $(redis-benchmark --version 2>/dev/null | head -n 1)"
echo "nproc:         $(nproc)"
echo "kernel:        $(uname -r)"
echo "cpu:           ${cpu_model:-unknown}"
echo "data dir:      $TMP"
df -T "$TMP" | sed 's/^/  /'
if command -v lsblk >/dev/null 2>&1; then
    lsblk -d -o NAME,ROTA,MODEL 2>/dev/null | sed 's/^/  /' || true
fi
echo '```'
echo
echo "- level2pc: \`level2pc cluster\`, $NODES nodes in one process on 127.0.0.1; every request goes"
echo "  to the first node (port $L2_PORT), which replicates each write to all $NODES nodes."
echo "- redis: one \`redis-server --appendonly yes --appendfsync always --save ''\` on port $REDIS_PORT"
echo "  (a single node that fsyncs every write; no replicas)."
echo "- redis-benchmark $(printf '%s ' "${COMMON_ARGS[@]}")(one process, one thread); level2pc runs first,"
echo "  then redis, workload by workload. Servers and redis-benchmark share the machine's $(nproc) cores."
echo "- GET reads random keys of the same 1M keyspace the SET rows wrote, so many are misses."
echo "- The disk rows: write_bytes of /proc/PID/io over that SET row, divided by the SETs (and by the"
echo "  $NODES nodes for level2pc, which run in one process); shown in the rps columns."
echo "- Benchmark time: ${ELAPSED} s."
echo
echo "| workload | level2pc rps | level2pc p50 ms | redis rps | redis p50 ms | rps ratio (l2pc/redis) | p50 ratio (l2pc/redis) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in "${ROWS[@]}" "${DISK_ROWS[@]}"; do echo "$r"; done
echo
echo "### raw redis-benchmark CSV (test, rps, avg, min, p50, p95, p99, max ms)"
echo
echo '```'
printf '%s' "$RAW_CSV"
echo '```'
echo
echo "### level2pc INFO (redis-cli -p $L2_PORT INFO)"
echo
echo '```'
info="$(rcli "$L2_PORT" INFO)"
[ -n "$info" ] || die "level2pc INFO returned nothing"
printf '%s\n' "$info"
echo '```'
