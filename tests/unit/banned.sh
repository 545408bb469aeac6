#!/usr/bin/env bash
#  banned.sh: STYLE.md section 11's banned calls appear nowhere in ferry's
#  C sources: strcpy, sprintf, strtok, atoi and gets (unbounded, or
#  silent on bad input); vsprintf, atol and atoll go with them.
. "${FERRY_SRCDIR:?}/tests/tap.sh"
cd "$FERRY_SRCDIR" || bail_out "cannot cd to $FERRY_SRCDIR"
banned='strcpy|sprintf|vsprintf|strtok|atoi|atol|atoll|gets'
#  A call is the name, not preceded by an identifier character (so
#  snprintf and fgets pass), followed by an opening parenthesis; comments
#  and strings are not told apart, so they must not name them either.
files=$(find include lib broker bridge tools workers tests -name '*.[ch]')
[ -n "$files" ] || bail_out "no C sources under $FERRY_SRCDIR"
hits=$(echo "$files" | xargs grep -nE "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" || true)
ok "$([ -z "$hits" ]; echo $?)" "no call to $banned"
[ -z "$hits" ] || diag "$hits"
done_testing
