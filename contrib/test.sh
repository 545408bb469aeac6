#!/usr/bin/env bash
#  contrib/test.sh -- everything CI checks, from a fresh clone: installs the
#  Debian packages the build and the tests need (only those missing), builds
#  with ASan/UBSan in _build/ (clang), starts the service stack
#  (contrib/stack.sh), runs make check against it and make check-format,
#  then make distcheck in a
#  plain build in _build/dist/, and stops the stack again. Build output goes
#  to _build/logs/; on a failure the failing tests' logs are printed. The
#  last line is always "N passed, N failed, M skipped", summed over every
#  test-suite run (distcheck's own included; a conformance test skipped for
#  want of its data counts in M, see README.md, Testing); the exit status is
#  non-zero if anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/_build
DIST=$BUILD/dist
LOGS=$BUILD/logs
JOBS=${FERRY_JOBS:-2}

passed=0
failed=0
skipped=0
stack_started=no

say () {
    printf '==> %s\n' "$*"
}

#  ---------------------------------------------------------------------
#  Test-suite runs and their counts.

#  Add the automake test-suite summaries found in a log to the totals. Only
#  the lines of a "Testsuite summary" block count: a test-suite.log quoted
#  in the log carries a second copy of the same figures.
count_log () {
    local log=$1 p f s
    read -r p f s < <(awk '
        /^Testsuite summary for / { on = 1 }
        on && /^# PASS: / { p += $3 }
        on && /^# (FAIL|ERROR): / { f += $3 }
        on && /^# SKIP: / { s += $3 }
        on && /^# ERROR: / { on = 0 }
        END { print p + 0, f + 0, s + 0 }' "$log")
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    printf '    %d passed, %d failed, %d skipped\n' "$p" "$f" "$s"
}

#  run_stage NAME DIR COMMAND...: run in DIR with output to a log; show the
#  log's tail, and every failing test's log, when it fails.
run_stage () {
    local name=$1 dir=$2
    shift 2
    local log=$LOGS/$name.log start=$SECONDS rc=0
    say "$name ($*)"
    touch "$LOGS/$name.start"
    (cd "$dir" && "$@") >"$log" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        printf '    ok in %ds, log %s\n' $((SECONDS - start)) "${log#"$ROOT"/}"
    else
        printf '    FAILED (exit %d) in %ds, log %s\n' "$rc" \
            $((SECONDS - start)) "${log#"$ROOT"/}"
        grep -E '^(FAIL|ERROR|XPASS): ' "$log" | sed 's/^/    /' || true
        echo "---- last lines of $name.log, passing tests left out ----"
        grep -vE '^(PASS|SKIP|XFAIL): ' "$log" | tail -n 40
        #  What VERBOSE=yes would print, without a second copy of the
        #  figures in the log: the suite log holds every failing test's log.
        find "$dir" -name test-suite.log -newer "$LOGS/$name.start" |
        while read -r suite; do
            echo "---- ${suite#"$ROOT"/} ----"
            head -n 300 "$suite"
        done
        echo "----"
    fi
    return "$rc"
}

#  A stage that failed without a failing test in its summary (a compiler
#  error, a distcheck packaging error) still counts as one failure, so the
#  closing line never says "0 failed" for a broken run.
check_stage () {
    local name=$1 rc=$2 before=$3
    if [ -f "$LOGS/$name.log" ] && grep -q '^# TOTAL: ' "$LOGS/$name.log"
    then
        count_log "$LOGS/$name.log"
    fi
    if [ "$rc" -ne 0 ] && [ "$failed" -eq "$before" ]; then
        failed=$((failed + 1))
        echo "    (counted as 1 failure: $name failed outside the tests)"
    fi
}

stop_stack () {
    if [ "$stack_started" = yes ]; then
        stack_started=no
        say "stack: stop"
        "$ROOT/contrib/stack.sh" stop || true
    fi
}

#  The closing line, also when a step before the tests fails.
finish () {
    stop_stack
    trap - EXIT
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ]
    exit
}

abort () {
    echo "$*" >&2
    failed=$((failed + 1))
    finish
}

#  On an early exit (error, signal) the stack must not outlive us.
trap stop_stack EXIT
trap 'exit 130' INT TERM

#  ---------------------------------------------------------------------

if [ -f "$ROOT/config.status" ]; then
    abort "the source tree is configured in place; run 'make distclean'" \
        "in $ROOT first (test.sh builds out of tree)"
fi

mkdir -p "$LOGS"
FERRY_APT_LOG=$LOGS/apt.log "$ROOT/contrib/packages.sh" ||
    abort "packages: a package is missing"

say "stack: start"
if "$ROOT/contrib/stack.sh" status >/dev/null 2>&1; then
    echo "    already running; left running afterwards"
else
    stack_started=yes
fi
"$ROOT/contrib/stack.sh" start || abort "stack: a service did not start"
eval "$("$ROOT/contrib/stack.sh" env)"

#  Plain test-suite output in the logs, which count_log reads.
export AM_COLOR_TESTS=no

rc=0
#  make re-runs autotools itself when their inputs change.
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ]
then
    run_stage autogen "$ROOT" ./autogen.sh || rc=$?
fi
if [ "$rc" -eq 0 ] && [ ! -f "$BUILD/Makefile" ]; then
    mkdir -p "$BUILD"
    run_stage configure "$BUILD" ../configure --enable-werror \
        --enable-sanitizers CC="${CC:-clang}" || rc=$?
fi
check_stage configure "$rc" "$failed"

if [ "$rc" -eq 0 ]; then
    before=$failed
    run_stage check "$BUILD" make -j"$JOBS" check || rc=$?
    check_stage check "$rc" "$before"
    #  The layout .clang-format describes (STYLE.md: make check-format in CI).
    before=$failed
    frc=0
    run_stage check-format "$BUILD" make check-format || frc=$?
    check_stage check-format "$frc" "$before"
fi

#  distcheck from its own plain build, even when check failed: its result
#  is worth having, and the total counts both.
before=$failed
rc=0
if [ ! -f "$DIST/Makefile" ]; then
    mkdir -p "$DIST"
    run_stage dist-configure "$DIST" ../../configure || rc=$?
fi
if [ "$rc" -eq 0 ]; then
    run_stage distcheck "$DIST" make -j"$JOBS" distcheck || rc=$?
fi
check_stage distcheck "$rc" "$before"

finish
