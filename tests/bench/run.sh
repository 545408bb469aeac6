#!/bin/sh
#  make bench [BENCH=name]: run every benchmark, or the one whose figure
#  is named, from the build directory. Each prints
#  "bench NAME VALUE UNIT limit=VALUE ratio=R".
set -e
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
only=$1
run () {
    name=$1; shift
    case "$only" in ""|"$name") "$@" ;; esac
}
run event_decode tests/bench/bench_event "$srcdir"
