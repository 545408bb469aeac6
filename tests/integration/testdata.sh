#!/usr/bin/env bash
#  TAP: the one decision about missing conformance data (tap_testdata in
#  tests/tap.h, need_testdata in tests/tap.sh): without the data a test
#  skips with one line naming contrib/testdata.sh, the whole test when it
#  has reported nothing yet, the rest of it otherwise; under CI=true it
#  bails out, a failure. Runs the built conformance tests themselves on a
#  folder that does not exist.
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
none=$tmp/none
unset CI

#  fy_ses is all conformance data (the SES model): the whole test is one
#  SKIP line.
out=$(FERRY_TESTDATA=$none "$FERRY_BUILDDIR/tests/unit/fy_ses.t" 2>&1)
is "$?" 0 "no data: fy_ses exits 0"
is "$out" "1..0 # SKIP no conformance data at $none; contrib/testdata.sh fetches it, see README.md, Testing" \
    "no data: fy_ses is skipped whole, with one line naming the fetch"

out=$(CI=true FERRY_TESTDATA=$none "$FERRY_BUILDDIR/tests/unit/fy_ses.t" 2>&1)
is "$?" 255 "no data under CI=true: fy_ses fails"
is "$out" "Bail out! no conformance data at $none (a failure under CI=true); contrib/testdata.sh fetches it, see README.md, Testing" \
    "no data under CI=true: it bails out naming the folder"

out=$(CI=false FERRY_TESTDATA= "$FERRY_BUILDDIR/tests/unit/fy_ses.t" 2>&1)
is "$?" 0 "FERRY_TESTDATA empty, CI=false: a skip too"
case $out in
    "1..0 # SKIP no conformance data at (FERRY_TESTDATA unset"*) r=0 ;;
    *) r=1; diag "$out" ;;
esac
ok $r "FERRY_TESTDATA empty: the line says it is unset"

#  fy_event runs its own cases before it reads the data: they still
#  count, and the rest is one SKIP line before the plan.
out=$(FERRY_TESTDATA=$none "$FERRY_BUILDDIR/tests/unit/fy_event.t" 2>&1)
is "$?" 0 "no data: fy_event exits 0"
ok "$(grep -c '^not ok' <<<"$out")" "fy_event: no test failed"
last=$(tail -n 2 <<<"$out")
n=$(grep -c '^ok ' <<<"$out")
case $last in
    "ok $n # SKIP the rest: no conformance data at $none; "*$'\n'"1..$n") r=0 ;;
    *) r=1; diag "$last" ;;
esac
ok $r "fy_event: its own $((n - 1)) cases ran, then one SKIP line and the plan"

#  need_testdata in tap.sh decides the same way.
helper=". '$FERRY_SRCDIR/tests/tap.sh'"
out=$(FERRY_TESTDATA=$none bash -c "$helper; need_testdata; echo read" 2>&1)
is "$?" 0 "tap.sh, no data: exits 0"
is "$out" "1..0 # SKIP no conformance data at $none; contrib/testdata.sh fetches it, see README.md, Testing" \
    "tap.sh, no data: the whole test is one SKIP line"
out=$(FERRY_TESTDATA=$none bash -c "$helper; ok 0 first; need_testdata; echo read" 2>&1)
is "$out" "ok 1 - first
ok 2 # SKIP the rest: no conformance data at $none; contrib/testdata.sh fetches it, see README.md, Testing
1..2" "tap.sh, no data after a test: the rest is one SKIP line"
out=$(CI=true FERRY_TESTDATA=$none bash -c "$helper; need_testdata; echo read" 2>&1)
is "$?" 255 "tap.sh, no data under CI=true: fails"
case $out in
    "Bail out! no conformance data at $none (a failure under CI=true)"*) r=0 ;;
    *) r=1; diag "$out" ;;
esac
ok $r "tap.sh, CI=true: it bails out"
mkdir "$none"
out=$(CI=true FERRY_TESTDATA=$none bash -c "$helper; need_testdata; echo read" 2>&1)
is "$out" read "tap.sh, the folder there: need_testdata returns"

done_testing
