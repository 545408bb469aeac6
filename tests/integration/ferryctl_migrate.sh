#!/usr/bin/env bash
#  TAP: ferryctl migrate against the stack's PostgreSQL (DATABASE_URL, from
#  contrib/stack.sh env; missing is a failure). Each run makes a scratch
#  database ferry_test_<pid> and drops it. Covers: status and dry run on
#  an empty database, migrate from empty, migrate twice is a no-op, two
#  concurrent runs serialised by the advisory lock, a changed applied
#  file refused, a badly named file refused, partitions made ahead, and
#  the password never printed.
set -u
. "$FERRY_SRCDIR/tests/pg_lock.sh"
. "$FERRY_SRCDIR/tests/tap.sh"
ctl="$FERRY_BUILDDIR/tools/ferryctl"
src=$FERRY_SRCDIR
tmp=$(mktemp -d)
db=ferry_test_$$
admin=${DATABASE_URL:-}
trap '[ -n "$admin" ] && psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db" \
    >/dev/null 2>&1; rm -rf "$tmp"' EXIT

[ -n "$admin" ] || bail_out "DATABASE_URL is not set: start contrib/stack.sh"
[ -x "$ctl" ] || bail_out "no $ctl"
command -v psql >/dev/null || bail_out "no psql"
#  template0: tests running in parallel connect to template1, which would
#  make CREATE DATABASE from it fail.
psql -qX "$admin" -c "CREATE DATABASE $db TEMPLATE template0" >/dev/null ||
    bail_out "cannot create database $db"
#  The same URL with the scratch database as its path.
export DATABASE_URL="${admin%/*}/$db"
q () { psql -qXAt "$DATABASE_URL" -c "$1"; }

mkdir "$tmp/sql"
cp "$src"/sql/0*.sql "$tmp/sql/"
nfiles=$(ls "$tmp/sql" | wc -l)
m () { "$ctl" --set store.migrations_dir="$tmp/sql" migrate "$@"; }

out=$(m status 2>&1)
ok $? "status on an empty database"
is "$(grep -c '^pending' <<<"$out")" "$nfiles" "every file pending"

out=$(m --dry-run 2>&1)
ok $? "dry run"
is "$(grep -c '^would apply' <<<"$out")" "$nfiles" "dry run lists every file"
is "$(q "SELECT to_regclass('public.schema_migrations') IS NULL")" t \
    "dry run changes nothing"

out=$(m 2>&1)
ok $? "migrate from empty"
is "$(grep -c '^applied' <<<"$out")" "$nfiles" "every file applied"
is "$(q 'SELECT count(*) FROM schema_migrations')" "$nfiles" \
    "every file recorded"
is "$(q "SELECT count(*) FROM schema_migrations WHERE checksum ~ '^[0-9a-f]{64}$'")" \
    "$nfiles" "with a sha256 checksum"
is "$(q "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit.events'::regclass")" \
    4 "partitions for this month and 3 ahead"
#  3 over audit (0002), 8 over analytics and the calendar (0007).
is "$(q "SELECT count(*) FROM pg_views WHERE schemaname = 'reporting'")" 11 \
    "reporting views"
grep -q ':ferry@' <<<"$out$(m status 2>&1)"
ok $((! $?)) "no password in the output"

out=$(m 2>&1)
ok $? "migrate again"
grep -q 'up to date' <<<"$out"
ok $? "is a no-op"
is "$(q 'SELECT count(*) FROM schema_migrations')" "$nfiles" \
    "nothing recorded twice"

#  Two runs at once over a slow new migration: without the lock the second
#  would run the file too and fail on the duplicate table.
cat > "$tmp/sql/0900_slow.sql" <<'SQL'
SELECT pg_sleep(1);
CREATE TABLE audit.slow_marker (n integer);
SQL
m >"$tmp/a.out" 2>&1 & a=$!
m >"$tmp/b.out" 2>&1 & b=$!
wait $a; rc_a=$?
wait $b; rc_b=$?
is "$rc_a/$rc_b" "0/0" "two concurrent runs both succeed"
is "$(cat "$tmp/a.out" "$tmp/b.out" | grep -c '^applied  0900_slow.sql')" 1 \
    "the new file is applied exactly once"
is "$(q 'SELECT count(*) FROM schema_migrations WHERE version = 900')" 1 \
    "and recorded once"

#  A file changed after it was applied.
echo "-- edited" >> "$tmp/sql/0900_slow.sql"
out=$(m 2>&1)
is $? 1 "a changed applied file is refused"
grep -q '0900_slow.sql was changed after it was applied' <<<"$out"
ok $? "with a message naming it"
out=$(m status 2>&1)
is $? 1 "status fails too"
grep -q 'CHANGED' <<<"$out"
ok $? "and marks it"
rm "$tmp/sql/0900_slow.sql"

#  A pending file older than the newest applied one.
echo "SELECT 1;" > "$tmp/sql/0500_late.sql"
out=$(m 2>&1)
is $? 1 "a pending file older than an applied one is refused"
rm "$tmp/sql/0500_late.sql"

echo "SELECT 1;" > "$tmp/sql/7_bad.sql"
out=$(m 2>&1)
is $? 1 "a badly named file is refused"
grep -q 'not named NNNN_name.sql' <<<"$out"
ok $? "with a message"
rm "$tmp/sql/7_bad.sql"

#  A failing migration rolls back wholly and is not recorded.
printf 'CREATE TABLE audit.half (n integer);\nSELECT 1/0;\n' \
    > "$tmp/sql/0901_broken.sql"
out=$(m 2>&1)
is $? 1 "a failing migration fails the run"
is "$(q "SELECT to_regclass('audit.half') IS NULL")" t "and is rolled back"
is "$(q 'SELECT count(*) FROM schema_migrations WHERE version = 901')" 0 \
    "and is not recorded"

DATABASE_URL="postgresql://ferry:s3cretpw@127.0.0.1:1/nowhere" \
    m status >"$tmp/c.out" 2>&1
is $? 1 "an unreachable database fails"
grep -q s3cretpw "$tmp/c.out"
ok $((! $?)) "without printing the password"

done_testing
