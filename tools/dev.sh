#!/usr/bin/env bash
# Entry point on a fresh Debian 12 machine: installs what is missing, builds,
# then does what you ask.
#
#   bash tools/dev.sh example   serve example.ini on http://127.0.0.1:6543/
#   bash tools/dev.sh test      run every test: unit, integration, sanitizers
#   bash tools/dev.sh bench     run the benchmarks (make bench)
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential pkg-config python3 uwsgi-core uwsgi-src uwsgi-dev libuv1-dev libcmocka-dev
          libpq-dev libcurl4-openssl-dev openssl iproute2 libjansson-dev libssl-dev libhiredis-dev redis-server postgresql clang
          libclang-rt-dev nginx-light)

install_missing() {
    local missing=() pkg sudo=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "dev.sh: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

case "${1:-}" in
example)
    install_missing "${PACKAGES[@]}"
    python3 uwsgiconfig.py
    echo "dev.sh: serving http://127.0.0.1:6543/ (Ctrl-C stops)"
    exec uwsgi --ini example.ini
    ;;
test)
    install_missing "${PACKAGES[@]}" chromium
    # Node.js may come from elsewhere than Debian (with npm inside): only
    # install Debian's when the commands are missing.
    command -v node >/dev/null || install_missing nodejs
    command -v npm >/dev/null || install_missing npm
    [ -d tests/browser/node_modules/playwright-core ] ||
        npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
    # thousands of sockets in the concurrency tests
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    # compile on both cores, then run the checks one after the other
    make -j2 binaries
    make check
    ;;
bench)
    install_missing "${PACKAGES[@]}" wrk
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    make bench
    ;;
*)
    echo "usage: bash tools/dev.sh example|test|bench" >&2
    exit 2
    ;;
esac
