#!/usr/bin/env bash
#  abi.sh: the installed libferry exports exactly what include/ferry/
#  declares FY_EXPORT, nothing more (no internal class, no test hook) and
#  nothing less (every declared function is defined and exported).
. "${FERRY_SRCDIR:?}/tests/tap.sh"
so=${FERRY_BUILDDIR:?}/lib/.libs/libferry.so
[ -e "$so" ] || bail_out "no $so (built with --disable-shared?)"
command -v nm >/dev/null || bail_out "nm not found (Debian package binutils)"

#  The names after each FY_EXPORT, whether the declaration is on one line
#  (data) or the name is on the next (functions, in STYLE.md's layout).
declared=$(awk '
    /^FY_EXPORT/ {
        line = $0
        if (line !~ /\(/ && line !~ /\[/) { getline nxt; line = line " " nxt }
        sub(/[ \t]*[(\[].*/, "", line)
        n = split(line, word, /[ \t*]+/)
        print word[n]
    }' "$FERRY_SRCDIR"/include/ferry/*.h | sort -u)
#  Sanitizer builds add their own bookkeeping symbols; the loader's are
#  always there.
exported=$(nm -D --defined-only "$so" | awk '{ print $3 }' |
    grep -vE '^(__(odr_)?asan|__sanitizer|__ubsan|_init$|_fini$|__bss_start$|_edata$|_end$)' |
    sort -u)

ok "$([ -n "$declared" ]; echo $?)" "include/ferry/ declares an API ($(echo "$declared" | wc -l) names)"
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
ok "$([ -z "$extra" ]; echo $?)" "libferry exports nothing the public headers do not declare"
[ -z "$extra" ] || diag "exported, undeclared:" $extra
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
ok "$([ -z "$missing" ]; echo $?)" "libferry exports everything the public headers declare"
[ -z "$missing" ] || diag "declared, not exported:" $missing
done_testing
