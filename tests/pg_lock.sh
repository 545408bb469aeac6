#  pg_lock.sh: sourced first by a shell test that uses the stack's
#  PostgreSQL, so it takes turns with the others under make -j (tests/pg.h,
#  tap_pg_lock): fy_store.t and audit.sh restart the server. The script
#  runs again under flock, which holds the lock while it runs; -o keeps
#  the lock from the processes the script starts (a PostgreSQL restarted
#  there would hold it for ever). Source it before anything with side
#  effects: what ran before is run again.
if [ -z "${FERRY_PG_LOCKED:-}" ]; then
    export FERRY_PG_LOCKED=1
    exec flock -o "${FERRY_BUILDDIR:-.}/tests/postgres.lock" "$0" "$@"
fi
