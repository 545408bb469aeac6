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

bail_out () {
    echo "Bail out! $*"
    exit 255
}

done_testing () {
    echo "1..$tap_n"
    [ "$tap_failed" -eq 0 ]
}
