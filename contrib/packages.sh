#!/usr/bin/env bash
#  contrib/packages.sh [list] -- the one list of Debian packages ferry needs
#  to build, to run its tests and to run its local stack, and the one place
#  that installs them: contrib/test.sh, contrib/quickstart.sh and
#  contrib/stack.sh all call it. It asks dpkg first, so a machine that has
#  everything never calls apt-get; it installs only what is missing (as
#  root), with apt-get's output in var/apt.log (FERRY_APT_LOG moves it),
#  whose end it prints when apt-get fails. `list` prints the list.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOG=${FERRY_APT_LOG:-$ROOT/var/apt.log}

#  Build, tests (valgrind, promtool from prometheus, clang-format-19 for
#  make check-format), the stack (PostgreSQL,
#  Redis and their clients), the scripts (curl, jq, git for testdata.sh).
DEBS="build-essential autoconf automake libtool pkg-config clang
    libczmq-dev libzmq3-dev libmsgpack-dev libjansson-dev libpcre2-dev
    libcurl4-openssl-dev libssl-dev libpq-dev libhiredis-dev libjwt-dev
    libmicrohttpd-dev postgresql-15 postgresql-client-15 redis-server
    redis-tools prometheus valgrind clang-format-19 curl jq git
    ca-certificates"

if [ "${1:-}" = list ]; then
    printf '%s\n' $DEBS
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: contrib/packages.sh [list]" >&2; exit 2; }

say () {
    printf '==> %s\n' "$*"
}

missing=()
#  One dpkg-query for the whole list; a package it does not know at all is
#  reported on stderr and left out of stdout, so it counts as missing too.
installed=$(dpkg-query -W -f '${Package} ${Status}\n' $DEBS 2>/dev/null |
    awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }') || true
for pkg in $DEBS; do
    grep -qxF "$pkg" <<<"$installed" || missing+=("$pkg")
done
#  Node.js may come from outside Debian with its own npm: ask for the
#  commands, and fall back to Debian's packages only without them.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
    say "packages: all present"
    exit 0
fi
say "packages: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "packages: missing ${missing[*]}; run as root to install them" \
        "(or: sudo apt-get install ${missing[*]})" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
mkdir -p "$(dirname "$LOG")"
if ! { apt-get update -qq &&
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
     } >"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    echo "packages: apt-get install failed; full log in $LOG" >&2
    exit 1
fi
