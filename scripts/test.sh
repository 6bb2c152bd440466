#!/usr/bin/env bash
# Runs every test of the workspace. Installs redis-cli (Debian package redis-tools) first if it
# is missing: the end-to-end tests drive a node with it and fail, never skip, without it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-cli >/dev/null 2>&1; then
    echo "redis-cli not found: installing redis-tools"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-tools
fi

# Debug builds: a full release build of the workspace costs more than the tests gain from it.
cargo test --workspace
