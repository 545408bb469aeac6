#!/usr/bin/env bash
#  contrib/quickstart.sh -- ferry on this machine, from a clone, in one go:
#  builds it (plain, out of tree in _build/quick), starts the service stack
#  (contrib/stack.sh), prints the environment the programs read, and checks
#  every sample event in contrib/demo/*.json with `ferryctl validate`. The
#  stack stays up afterwards for you to play with; contrib/stack.sh stop
#  ends it. Later steps (broker, bridge, workers, sending the demo events
#  through SQS) will join here as they are written.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/_build/quick
JOBS=${FERRY_JOBS:-2}

say () {
    printf '==> %s\n' "$*"
}

die () {
    echo "quickstart: $*" >&2
    exit 1
}

say "build in ${BUILD#"$ROOT"/}"
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ]
then
    (cd "$ROOT" && ./autogen.sh) >/dev/null 2>&1 ||
        die "autogen.sh failed; run it by hand to see why"
fi
[ -f "$ROOT/config.status" ] &&
    die "the source tree is configured in place; run 'make distclean' there"
mkdir -p "$BUILD"
if [ ! -f "$BUILD/Makefile" ]; then
    (cd "$BUILD" && ../../configure --enable-werror) >"$BUILD/configure.out" \
        2>&1 || {
        tail -n 20 "$BUILD/configure.out" >&2
        die "configure failed (the line above names a missing package)"
    }
fi
make -C "$BUILD" -j"$JOBS" >"$BUILD/make.out" 2>&1 || {
    tail -n 30 "$BUILD/make.out" >&2
    die "make failed; full output in $BUILD/make.out"
}

say "stack"
"$ROOT/contrib/stack.sh" start
"$ROOT/contrib/stack.sh" status
eval "$("$ROOT/contrib/stack.sh" env)"

say "environment (eval \"\$(contrib/stack.sh env)\" in your shell)"
"$ROOT/contrib/stack.sh" env

say "validate the sample events in contrib/demo"
ferryctl=$BUILD/tools/ferryctl
[ -x "$ferryctl" ] || die "$ferryctl was not built (tools/ferryctl)"
shopt -s nullglob
samples=("$ROOT"/contrib/demo/*.json)
[ ${#samples[@]} -gt 0 ] || die "no sample events in contrib/demo/*.json"
bad=0
for sample in "${samples[@]}"; do
    name=${sample#"$ROOT"/}
    if out=$("$ferryctl" validate <"$sample" 2>&1); then
        echo "    valid    $name"
    else
        echo "    INVALID  $name"
        printf '%s\n' "$out" | sed 's/^/             /'
        bad=$((bad + 1))
    fi
done
[ "$bad" -eq 0 ] || die "$bad of ${#samples[@]} sample events are invalid"
echo "    all ${#samples[@]} sample events are valid"

say "done: the stack is still running; contrib/stack.sh stop ends it"
