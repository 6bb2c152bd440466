#!/usr/bin/env bash
# Runs every test of the workspace. First installs what the end-to-end tests drive nodes with,
# since they fail, never skip, without it:
#   * redis-cli (Debian package redis-tools), if missing;
#   * redis-py 8 in a Python virtual environment, <cargo target dir>/pyvenv, if missing there
#     (python3 and python3-venv are installed from Debian first if needed).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_updated=""
apt_install() {
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    if [ -z "$apt_updated" ]; then
        $SUDO apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

if ! command -v redis-cli >/dev/null 2>&1; then
    echo "redis-cli not found: installing redis-tools"
    apt_install redis-tools
fi

if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 not found: installing python3 and python3-venv"
    apt_install python3 python3-venv
fi
target_dir="$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
venv="$target_dir/pyvenv"
has_redis_py() {
    "$venv/bin/python" -c 'import redis, sys; sys.exit(int(redis.__version__.split(".")[0]) < 8)' \
        >/dev/null 2>&1
}
if ! has_redis_py; then
    echo "redis-py 8 not found in $venv: installing it"
    mkdir -p "$target_dir"
    if ! python3 -m venv --clear "$venv" >/dev/null 2>&1; then
        echo "python3 cannot make a virtual environment: installing python3-venv"
        apt_install python3-venv
        python3 -m venv --clear "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'redis>=8,<9'
    has_redis_py
fi

# Debug builds: a full release build of the workspace costs more than the tests gain from it.
cargo test --workspace
