#!/usr/bin/env bash
#  TAP: a program run from its build tree finds the source tree's schemas
#  with no variable set (lib/core/fy_cfg.c, s_default_value): ferryctl
#  validate works with FERRY_EVENTS_SCHEMA unset and config show names the
#  source tree's files as defaults; the environment still comes first; a
#  copy of the same executable outside the build tree (as installed) keeps
#  the install prefix.
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
unset FERRY_EVENTS_SCHEMA FERRY_HTTP_OPENAPI FERRY_STORE_MIGRATIONS_DIR \
    FERRY_CONFIG
ctl=$FERRY_BUILDDIR/tools/ferryctl
src=$(cd "$FERRY_SRCDIR" && pwd -P)
sample=$FERRY_SRCDIR/tests/data/events/user.login.json
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$ctl" validate <"$sample" >"$tmp/out" 2>&1
is "$?" 0 "ferryctl validate from the build tree, FERRY_EVENTS_SCHEMA unset"

show=$("$ctl" config show 2>&1)
for want in "schema = \"$src/schemas/events.schema.json\"    # default" \
        "openapi = \"$src/schemas/openapi.json\"    # default" \
        "migrations_dir = \"$src/sql\"    # default"; do
    grep -qF "$want" <<<"$show"
    ok $? "config show: $want"
done

FERRY_EVENTS_SCHEMA=$tmp/none.json "$ctl" validate <"$sample" >"$tmp/out" 2>&1
is "$?" 2 "FERRY_EVENTS_SCHEMA still comes first: a missing file is exit 2"
grep -qF "$tmp/none.json" "$tmp/out"
ok $? "and the error names it"

#  The executable (behind libtool's wrapper script if it made one), copied
#  out of the build tree.
real=$FERRY_BUILDDIR/tools/ferryctl
[ "$(head -c 2 "$real")" != '#!' ] || real=$FERRY_BUILDDIR/tools/.libs/ferryctl
mkdir "$tmp/bin"
cp "$real" "$tmp/bin/ferryctl"
show=$(LD_LIBRARY_PATH=$FERRY_BUILDDIR/lib/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} \
    "$tmp/bin/ferryctl" config show 2>&1)
line=$(grep -F 'schema = "' <<<"$show" | head -n 1)
case $line in
    #  The source tree's schemas/, not merely a path under the source
    #  tree: distcheck installs into a prefix inside it.
    *"schema = \"$src/schemas/"*) r=1 ;;
    *'schema = "'*/share/ferry/events.schema.json'"    # default') r=0 ;;
    *) r=1 ;;
esac
ok $r "a copy outside the build tree reads the install prefix" ||
    diag "$line"

done_testing
