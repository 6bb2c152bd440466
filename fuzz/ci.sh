#!/usr/bin/env bash
# Runs every fuzz target for a fixed short time and fails on the first crash.
#
#   bash fuzz/ci.sh                     # each target 60 s (the CI setting)
#   FUZZ_SECONDS=600 bash fuzz/ci.sh    # longer
#   bash fuzz/ci.sh node_inputs resp    # only these targets
#
# Works on the stable toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz use the nightly-only flags it
# needs) and installs cargo-fuzz from crates.io if it is missing. Each target starts from the
# checked-in seeds (fuzz/corpus/<target>/) and past crashes (fuzz/regressions/<target>/); what
# the fuzzer generates goes to a scratch folder, so the checked-in corpus never grows. A crash
# leaves its input in fuzz/artifacts/<target>/ and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")"

SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=(decode_frame node_inputs cluster resp handshake)
fi
export RUSTC_BOOTSTRAP=1
# Overflow checks and debug assertions on (as in `cargo test`); no sanitizer: the engine is
# `forbid(unsafe_code)`, so AddressSanitizer would mostly halve the speed.
BUILD_FLAGS=(--sanitizer none --debug-assertions)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it from crates.io"
    cargo install cargo-fuzz --locked
fi

cargo fuzz build "${BUILD_FLAGS[@]}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
status=0
for target in "${TARGETS[@]}"; do
    work="$scratch/$target"
    mkdir -p "$work" "corpus/$target"
    dirs=("$work" "corpus/$target")
    if [ -d "regressions/$target" ]; then
        dirs+=("regressions/$target")
    fi
    echo "=== fuzz $target for ${SECONDS_PER_TARGET}s"
    if cargo fuzz run "${BUILD_FLAGS[@]}" "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1; then
        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "$scratch/$target.log" || true
        echo "=== $target: no crash"
    else
        status=1
        tail -n 60 "$scratch/$target.log"
        echo "=== $target: CRASH (input saved under fuzz/artifacts/$target/)"
    fi
done
exit "$status"
