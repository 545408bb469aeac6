#!/usr/bin/env bash
#  TAP: ferry-analytics started before its database. Its DATABASE_URL
#  names a port where nothing listens, then the stack's server (scratch
#  database ferry_analytics_nodb_<pid>, migrated): the worker keeps
#  running, says it is not ready (/analytics/health 503 naming the
#  database, ferry_analytics_ready 0, one log line), NACKs every event
#  retryable and holds none; restarted on the real database it applies
#  them. The watch and the batch are fy_store_watch and fy_batch, which
#  audit_nodb.sh checks in depth through ferry-audit.
set -u
db=ferry_analytics_nodb_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
analytics="$FERRY_BUILDDIR/workers/analytics/ferry-analytics"
gen="$FERRY_SRCDIR/tests/integration/analytics_gen.py"
"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
pgport=$(sed -nE 's@.*:([0-9]+)/.*@\1@p' <<<"$DATABASE_URL")
nowhere=$(sed -E "s@:$pgport/@:$((27900 + $$ % 90))/@" <<<"$DATABASE_URL")

start_broker 9330 --set "broker.routes=analytics:user.*"
health () { curl -s -o "$tmp/health" -w '%{http_code}' \
    "$url/analytics/health"; }
DATABASE_URL=$nowhere "$analytics" --set analytics.broker="$endpoint" \
    --set store.connect_timeout_s=2 2>"$tmp/down.log" &
down=$!
pids+=($down)
for _ in $(seq 50); do
    [ "$(health)" = 503 ] && jq -e .missing "$tmp/health" > /dev/null &&
        break
    sleep 0.1
done
is "$(health)" 503 "database unreachable: /analytics/health is 503"
is "$(jq -c .missing "$tmp/health")" '["database"]' "naming the database"
python3 "$gen" --seed 17 --users 100 --days 1 --part all |
    grep '"type":"user\.' > "$tmp/e.ndjson"
n=$(wc -l < "$tmp/e.ndjson")
ok "$([ "$n" -gt 100 ]; echo $?)" "$n user.* events to send"
is "$("$ctl" send --broker "$endpoint" "$tmp/e.ndjson" 2>&1 | tail -n 1)" \
    "sent $n, acked 0, nacked $n (retryable $n), invalid 0" \
    "every event NACKed retryable"
curl -s -H "Authorization: Bearer $token" "$url/analytics/metrics" \
    > "$tmp/metrics"
is "$(sed -n 's/^ferry_analytics_ready //p' "$tmp/metrics")" 0 \
    "ferry_analytics_ready 0"
is "$(grep -c 'not ready: database unavailable' "$tmp/down.log")" 1 \
    "said once in the log"
kill -0 $down 2>/dev/null
ok $? "the worker keeps running"
kill -TERM $down
wait $down
is "$?" 0 "SIGTERM: exit 0, holding nothing"
"$analytics" --set analytics.broker="$endpoint" 2>"$tmp/up.log" &
pids+=($!)
for _ in $(seq 50); do [ "$(health)" = 200 ] && break; sleep 0.1; done
is "$("$ctl" send --broker "$endpoint" "$tmp/e.ndjson" 2>&1 | tail -n 1)" \
    "sent $n, acked $n, nacked 0 (retryable 0), invalid 0" \
    "on the real database: every event applied"
is "$(q "SELECT count(*) FROM analytics.event_ids")" "$n" "$n ids recorded"
done_testing
