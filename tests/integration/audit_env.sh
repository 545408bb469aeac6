#  audit_env.sh: the start the audit shell tests share. Source it with db
#  set to a scratch database name: it takes the PostgreSQL tests' lock
#  (tests/pg_lock.sh, so source it first), sources tap.sh, sets ctl, broker,
#  audit (the programs), tmp (a directory), pids (processes to end at
#  exit, last first), admin (the stack's DATABASE_URL; missing is a
#  failure), makes $db and points DATABASE_URL and the migrations at it,
#  and defines q SQL (psql -At on it), pg_restart and start_broker. Everything goes at
#  exit.
. "$FERRY_SRCDIR/tests/pg_lock.sh"
. "$FERRY_SRCDIR/tests/tap.sh"
ctl="$FERRY_BUILDDIR/tools/ferryctl"
broker="$FERRY_BUILDDIR/broker/ferry-broker"
audit="$FERRY_BUILDDIR/workers/audit/ferry-audit"
tmp=$(mktemp -d)
admin=${DATABASE_URL:-}
pids=()
cleanup () {
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null
        wait "${pids[i]}" 2>/dev/null
    done
    [ -n "$admin" ] && psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db" \
        >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

[ -n "$admin" ] || bail_out "DATABASE_URL is not set: start contrib/stack.sh"
for program in "$ctl" "$broker" "$audit"; do
    [ -x "$program" ] || bail_out "no $program"
done
psql -qX "$admin" -c "CREATE DATABASE $db TEMPLATE template0" >/dev/null ||
    bail_out "cannot create database $db"
export DATABASE_URL="${admin%/*}/$db"
export FERRY_STORE_MIGRATIONS_DIR="$FERRY_SRCDIR/sql"
q () { psql -qXAt "$DATABASE_URL" -c "$1"; }

#  pg_restart: restart the stack's PostgreSQL (the server of DATABASE_URL),
#  fast, waiting until it is back.
pg_restart () {
    local pgport data bin=/usr/lib/postgresql/15/bin
    pgport=$(sed -nE 's@.*:([0-9]+)/.*@\1@p' <<<"$DATABASE_URL")
    data=$(for f in /proc/[0-9]*/cmdline; do tr '\0' ' ' 2>/dev/null <"$f"; echo;
           done | sed -nE "s@^[^ ]*/postgres -D ([^ ]+) -p $pgport .*@\1@p" |
           head -1)
    if [ "$(id -u)" = 0 ]; then
        runuser -u "$(stat -c %U "$data")" -- "$bin/pg_ctl" -D "$data" -w \
            -m fast restart > /dev/null
    else
        "$bin/pg_ctl" -D "$data" -w -m fast restart > /dev/null
    fi
}

#  start_broker BASE [ARG...]: a ferry-broker (more ARGs given to it) on
#  endpoint (ipc:// in $tmp) with its HTTP API at url, on port BASE plus
#  the pid modulo 100 (each test its own BASE, as they run side by side),
#  and token, a service token for it. Returns once its socket is there.
secret=audit-test-secret-0123456789abcdef
start_broker () {
    endpoint="ipc://$tmp/broker.sock"
    port=$(($1 + $$ % 100))
    url="http://127.0.0.1:$port"
    shift
    "$broker" --set "broker.endpoint=$endpoint" --set log.level=warn \
        --set http.address=127.0.0.1 --set http.port=$port \
        --set http.jwt_secret=$secret "$@" &
    pids+=($!)
    for _ in $(seq 50); do [ -e "$tmp/broker.sock" ] && break; sleep 0.1; done
    token=$("$ctl" --set http.jwt_secret=$secret token)
}
