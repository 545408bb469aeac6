#!/usr/bin/env bash
#  TAP: ferry-audit started before its database (issue 12, item 6). The
#  worker reaches PostgreSQL through a TCP relay on a port of its own, so
#  the test decides when the database "comes up": first nothing listens
#  there, then the relay forwards to the stack's server (scratch database
#  ferry_nodb_<pid>, still without ferry's schema), then the schema is
#  migrated. Checked: the worker keeps running and says it is not ready
#  (/audit/health 503 naming the database), NACKs
#  every event retryable meanwhile and writes nothing, logs once when it
#  goes down, once when the cause becomes the schema, once when it is
#  back, and stores the events once it is.
set -u
db=ferry_nodb_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
company=5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11
pghost=$(sed -nE 's@.*\@([^:/]+):([0-9]+)/.*@\1@p' <<<"$DATABASE_URL")
pgport=$(sed -nE 's@.*\@([^:/]+):([0-9]+)/.*@\2@p' <<<"$DATABASE_URL")
[ -n "$pgport" ] || bail_out "no port in DATABASE_URL"
relay_port=$((27500 + $$ % 400))
worker_url=$(sed -E "s@:$pgport/@:$relay_port/@" <<<"$DATABASE_URL")

#  The relay: 127.0.0.1:relay_port to the stack's PostgreSQL.
relay () {
    python3 - "$relay_port" "$pghost" "$pgport" <<'PY' &
import asyncio, sys
port, host, target = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()
async def client(reader, writer):
    up_reader, up_writer = await asyncio.open_connection(host, target)
    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer),
                         return_exceptions=True)
async def main():
    server = await asyncio.start_server(client, "127.0.0.1", port)
    async with server:
        await server.serve_forever()
asyncio.run(main())
PY
    pids+=($!)
}

#  events N FILE: N fresh audit.recorded events, NDJSON.
events () {
    for _ in $(seq "$1"); do
        jq -nc --arg id "$(python3 -c 'import uuid; print(uuid.uuid4())')" \
            --arg at "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" \
            --arg company "$company" \
            '{id: $id, type: "audit.recorded", version: 1, source: "test",
              occurredAt: $at, companyId: $company,
              payload: {action: "user.updated",
                        target: {type: "user", id: "u-1"}}}'
    done > "$2"
}

start_broker 9280
health () { curl -s -o "$tmp/health" -w '%{http_code}' "$url/audit/health"; }

#  1. Nothing listens: the worker starts anyway and says it is not ready.
DATABASE_URL=$worker_url "$audit" --set audit.broker="$endpoint" \
    --set audit.batch_ms=20 --set store.connect_timeout_s=2 \
    2>"$tmp/audit.log" &
audit_pid=$!
pids+=($audit_pid)
#  (the broker answers 503 itself until the worker has joined)
for _ in $(seq 50); do
    [ "$(health)" = 503 ] && jq -e .missing "$tmp/health" > /dev/null &&
        break
    sleep 0.1
done
is "$(health)" 503 "database unreachable: /audit/health is 503"
is "$(jq -c .missing "$tmp/health")" '["database"]' "naming the database"
sleep 1
kill -0 "$audit_pid" 2>/dev/null
ok $? "the worker keeps running"
events 20 "$tmp/a.ndjson"
is "$("$ctl" send --broker "$endpoint" "$tmp/a.ndjson" 2>&1 | tail -n 1)" \
    "sent 20, acked 0, nacked 20 (retryable 20), invalid 0" \
    "unreachable: every event NACKed retryable"

#  2. The database comes up, without ferry's schema: still not ready, and
#  the log says why; nothing written.
relay
for _ in $(seq 150); do
    grep -q 'no ferry schema' "$tmp/audit.log" && break
    sleep 0.1
done
grep -q 'error.*not ready: the database has no ferry schema.*migrate' \
    "$tmp/audit.log"
ok $? "the database up without a schema: logged as an error"
is "$(health)" 503 "and /audit/health is still 503"
like "$(jq -r .reason "$tmp/health")" 'ferryctl migrate' \
    "saying to migrate"
is "$("$ctl" send --broker "$endpoint" "$tmp/a.ndjson" 2>&1 | tail -n 1)" \
    "sent 20, acked 0, nacked 20 (retryable 20), invalid 0" \
    "no schema: every event NACKed retryable"

#  3. Migrated: the worker is ready at its next probe and stores events.
"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
for _ in $(seq 400); do [ "$(health)" = 200 ] && break; sleep 0.1; done
is "$(health)" 200 "migrated: /audit/health is 200"
is "$("$ctl" send --broker "$endpoint" "$tmp/a.ndjson" 2>&1 | tail -n 1)" \
    "sent 20, acked 20, nacked 0 (retryable 0), invalid 0" \
    "every event ACKed"
is "$(q 'SELECT count(*) FROM audit.events')" 20 "20 rows"

#  4. Said once each way, not on every probe.
is "$(grep -c 'not ready: database unavailable' "$tmp/audit.log")" 1 \
    "one line when the database is unavailable"
is "$(grep -c 'not ready: the database has no ferry schema' "$tmp/audit.log")" 1 \
    "one line when its schema is missing"
is "$(grep -c 'ready: the database is back' "$tmp/audit.log")" 1 \
    "one line when it is back"
kill -TERM "$audit_pid"
wait "$audit_pid"
is $? 0 "SIGTERM: a clean stop"
done_testing
