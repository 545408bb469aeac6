#!/bin/sh
#  bench_node_peer.sh SRCDIR: node_peer_drain, ferry beside the consumer
#  the old NestJS services used, on the same stack in one run. Each side
#  drains its own backlog of N audit.recorded events (default 20,000, put
#  on a scratch queue of the stack's emulator with the AWS SDK for JS)
#  into a table of audit.events' columns: ferry with its real processes
#  (ferry-bridge -> ferry-broker -> ferry-audit) into audit.events, Node
#  with sqs-consumer 15 + @aws-sdk/client-sqs + pg (one Consumer,
#  handleMessageBatch, batches of 10, one multi-row INSERT ... ON CONFLICT
#  (id) DO NOTHING per batch) into a plain table with the same columns
#  and the key on id. Both are timed alike, from their start (the bridge
#  spawned; the Consumers started) to the last row's received_at (the
#  now() of the transaction that stored it; its commit follows within
#  milliseconds). Prints both rates and ratio= ferry/Node, floor 5, and
#  beside it the Node figure with 16 Consumers in one process.
#
#  The Node packages are installed by npm into tests/bench/node-peer in
#  the build directory (the first run needs the npm registry); node and
#  npm missing is a failure, as is the stack's env (contrib/stack.sh env:
#  AWS_ENDPOINT_URL_SQS, DATABASE_URL). A scratch database is made and
#  dropped, and the scratch queues deleted.
set -u
srcdir=$1
n=${BENCH_NODE_PEER_EVENTS:-20000}
floor=5
company=5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11
die () { echo "bench node_peer_drain: $*" >&2; exit 1; }
[ -n "${DATABASE_URL:-}" ] && [ -n "${AWS_ENDPOINT_URL_SQS:-}" ] ||
    die "needs the stack's env (eval \"\$(contrib/stack.sh env)\")"
command -v node >/dev/null && command -v npm >/dev/null ||
    die "needs node and npm (Node.js 20 or later, as contrib/stack.sh does)"

cache=$PWD/tests/bench/node-peer
mkdir -p "$cache" || die "cannot make $cache"
cat > "$cache/package.json.new" <<'EOF'
{
  "name": "ferry-bench-node-peer",
  "private": true,
  "description": "the consumer of the old NestJS services, for bench node_peer_drain",
  "license": "UNLICENSED",
  "dependencies": {
    "@aws-sdk/client-sqs": "3.1175.0",
    "pg": "8.23.1",
    "sqs-consumer": "15.0.3"
  }
}
EOF
if ! cmp -s "$cache/package.json.new" "$cache/package.json" ||
    [ ! -d "$cache/node_modules/sqs-consumer" ]; then
    mv "$cache/package.json.new" "$cache/package.json"
    echo "bench node_peer_drain: npm install into $cache" >&2
    (cd "$cache" && npm install --no-audit --no-fund --loglevel=error) >&2 ||
        die "npm install in $cache failed"
fi
rm -f "$cache/package.json.new"
cp "$srcdir/tests/bench/node_peer.mjs" "$cache/" || exit 1
peer () { node "$cache/node_peer.mjs" "$@"; }

tmp=$(mktemp -d)
admin=$DATABASE_URL
db=ferry_bench_node_peer_$$
pids=""
queues=""
cleanup () {
    for pid in $pids; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    for url in $queues; do peer delete "$url" 2>/dev/null; done
    psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
        >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT
psql -qX "$admin" -c "CREATE DATABASE $db TEMPLATE template0" >/dev/null ||
    die "cannot create database $db"
DATABASE_URL="${admin%/*}/$db"
export DATABASE_URL
FERRY_STORE_MIGRATIONS_DIR="$srcdir/sql" tools/ferryctl migrate >/dev/null ||
    die "ferryctl migrate failed"
q () { psql -qXAt "$DATABASE_URL" -c "$1"; }
now_ms () { echo $(($(date +%s%N) / 1000000)); }
#  A queue with N events on it; its URL in $url.
backlog () {
    url=$(peer create "bench-node-peer-$$-$1") || die "cannot create a queue"
    queues="$queues $url"
    peer produce "$url" "$n" "$company" || die "producing failed"
}
#  rows TABLE: wait until it holds N rows (at most 120 s); prints the
#  last one's received_at in Unix ms.
rows () {
    i=0
    while [ "$(q "SELECT count(*) FROM $1")" -lt "$n" ]; do
        i=$((i + 1))
        [ $i -lt 1200 ] || die "$1 holds $(q "SELECT count(*) FROM $1") of $n rows after 120 s"
        sleep 0.1
    done
    q "SELECT (extract(epoch FROM max(received_at)) * 1000)::bigint FROM $1"
}

#  ferry: bridge, broker and ferry-audit as real processes.
backlog ferry
dlq=$(peer create "bench-node-peer-$$-dlq") || die "cannot create a queue"
queues="$queues $dlq"
. "$srcdir/tests/bench/bench_procs.sh"
start_broker "audit:*"
workers/audit/ferry-audit --set audit.broker="$endpoint" \
    --set log.level=warn 2>"$tmp/audit.log" &
pids="$pids $!"
sleep 1
start=$(now_ms)
bridge/ferry-bridge --set bridge.broker="$endpoint" \
    --set bridge.queue_url="$url" --set bridge.dlq_url="$dlq" \
    --set events.schema="$srcdir/schemas/events.schema.json" \
    --set log.level=warn 2>"$tmp/bridge.log" &
pids="$pids $!"
end=$(rows audit.events) || exit 1
ferry_ms=$((end - start))

#  Node: the same columns, the key on id for ON CONFLICT (id).
node_run () {
    table=node_peer_$1
    q "CREATE TABLE $table (LIKE audit.events INCLUDING DEFAULTS,
                            PRIMARY KEY (id))" >/dev/null || exit 1
    backlog "node$1"
    peer consume "$url" "$n" "$1" "$table" > "$tmp/node$1.out" ||
        die "the Node consumer failed"
    end=$(rows $table) || exit 1
    read -r start seconds < "$tmp/node$1.out"
    echo $((end - start))
}
node_ms=$(node_run 1) || exit 1
node16_ms=$(node_run 16) || exit 1

awk -v n="$n" -v f="$ferry_ms" -v o="$node_ms" -v s="$node16_ms" \
    -v floor=$floor 'BEGIN {
    ferry = n * 1000 / f; node = n * 1000 / o; node16 = n * 1000 / s
    printf "bench node_peer_drain %.0f events/s limit=%.0f ratio=%.2f " \
        "(%d events SQS -> audit.events: ferry-bridge, ferry-broker, " \
        "ferry-audit %.2f s; Node sqs-consumer + pg, 1 Consumer %.2f s; " \
        "16 Consumers %.0f events/s, ratio %.2f; floor %d)\n",
        ferry, node, ferry / node, n, f / 1000, o / 1000, node16,
        ferry / node16, floor
    exit (ferry / node < floor)
}'
