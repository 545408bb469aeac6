#  tap.sh: TAP helpers for the shell tests, the counterpart of tap.h.
#  Source it; call done_testing last, which exits non-zero on any failure.
tap_n=0
tap_failed=0

ok () {
    local cond=$1; shift
    tap_n=$((tap_n + 1))
    if [ "$cond" -eq 0 ]; then
        echo "ok $tap_n - $*"
    else
        echo "not ok $tap_n - $*"
        tap_failed=$((tap_failed + 1))
    fi
}

diag () {
    printf '%s\n' "$@" | sed 's/^/# /'
}

#  is GOT WANT NAME...
is () {
    local got=$1 want=$2; shift 2
    [ "$got" = "$want" ]
    ok $? "$@"
    [ "$got" = "$want" ] || diag "got:  '$got'" "want: '$want'"
}

#  like GOT REGEX NAME...: GOT matches the bash regular expression REGEX.
like () {
    local got=$1 want=$2; shift 2
    [[ "$got" =~ $want ]]
    ok $? "$@"
    [[ "$got" =~ $want ]] || diag "got:  '$got'" "want: /$want/"
}

bail_out () {
    echo "Bail out! $*"
    exit 255
}

#  need_testdata: call before reading "$FERRY_TESTDATA/...". The conformance
#  data is not in the repository; when its folder is absent this is a
#  failure under CI=true, and anywhere else the rest of the test is skipped
#  with one line (the whole test when nothing was reported yet), as
#  tap_testdata does in tap.h.
need_testdata () {
    local root=${FERRY_TESTDATA:-} how
    how="contrib/testdata.sh fetches it, see README.md, Testing"
    [ -n "$root" ] && [ -d "$root" ] && return 0
    [ -n "$root" ] || root="(FERRY_TESTDATA unset: run through make check)"
    if [ "${CI:-}" = true ]; then
        bail_out "no conformance data at $root (a failure under CI=true); $how"
    fi
    if [ "$tap_n" -eq 0 ]; then
        echo "1..0 # SKIP no conformance data at $root; $how"
        exit 0
    fi
    tap_n=$((tap_n + 1))
    echo "ok $tap_n # SKIP the rest: no conformance data at $root; $how"
    done_testing
    exit
}

done_testing () {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
}
