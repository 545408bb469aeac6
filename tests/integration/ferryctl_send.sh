#!/usr/bin/env bash
#  TAP: ferryctl send against a real ferry-broker and test_worker processes
#  on an ipc:// endpoint (every golden event delivered and ACKed, invalid
#  lines reported and not sent, NACKs reported with the event id, a broker
#  that never answers), and in --http mode against broker_http_stub.py
#  (one kept-alive connection, the bearer token, non-202 answers counted).
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
ctl="$FERRY_BUILDDIR/tools/ferryctl"
broker="$FERRY_BUILDDIR/broker/ferry-broker"
worker="$FERRY_BUILDDIR/tests/integration/test_worker"
src=$FERRY_SRCDIR
tmp=$(mktemp -d)
pids=()
cleanup () {
    #  Workers before the broker, or they wait for it to come back.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[i]}" 2>/dev/null
        wait "${pids[i]}" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

for program in "$ctl" "$broker" "$worker"; do
    [ -x "$program" ] || bail_out "no $program"
done

#  wait_for FILE: up to 5 s for FILE to appear.
wait_for () {
    for _ in $(seq 50); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

#  The golden events, compacted to NDJSON, and their ids.
python3 - "$src"/tests/data/events/*.json > "$tmp/valid.ndjson" <<'PY' \
    || bail_out "cannot compact the golden events"
import json, sys
for path in sys.argv[1:]:
    print(json.dumps(json.load(open(path)), separators=(",", ":"),
                     ensure_ascii=False))
PY
python3 -c 'import json,sys
for line in open(sys.argv[1]): print(json.loads(line)["id"])' \
    "$tmp/valid.ndjson" | sort > "$tmp/valid.ids"
valid=$(wc -l < "$tmp/valid.ids")
[ "$valid" -gt 20 ] || bail_out "only $valid golden events"
refused_id=$(python3 -c 'import json,sys
print(json.load(open(sys.argv[1]))["id"])' \
    "$src/tests/data/events/goal.created.json")

#  The same, with two invalid lines (and a blank one, which is skipped)
#  after the first event.
{
    head -n 1 "$tmp/valid.ndjson"
    echo 'this is not json'
    echo
    echo '{"id":"b6b0c2c8-5a9e-4d0c-9c4e-2f1f0e0a0b0c","version":1}'
    tail -n +2 "$tmp/valid.ndjson"
} > "$tmp/mixed.ndjson"

endpoint="ipc://$tmp/broker.sock"
#  Every event to the one audit worker (the default routes also name
#  notify, which has no worker here).
"$broker" --set "broker.endpoint=$endpoint" --set log.level=warn \
    --set http.enabled=false --set "broker.routes=audit:*" &
pids+=($!)
wait_for "$tmp/broker.sock" || bail_out "the broker did not bind $endpoint"
"$worker" "$endpoint" audit ack "$tmp/ack.ids" &
ack_worker=$!
pids+=($ack_worker)

#  1. Valid events and invalid lines: every valid one sent and ACKed.
"$ctl" send --broker "$endpoint" "$tmp/mixed.ndjson" \
    > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 1 "invalid lines make send exit 1"
is "$(cat "$tmp/out")" \
   "sent $valid, acked $valid, nacked 0 (retryable 0), invalid 2" \
   "summary counts every valid event ACKed and two invalid lines"
grep -q '^line 2: invalid (invalid_json): ' "$tmp/err"
ok $? "line 2 is reported as invalid_json"
grep -q '^line 4: invalid (schema): ' "$tmp/err"
ok $? "line 4 is reported as a schema violation"
is "$(wc -l < "$tmp/err")" 2 "nothing else on stderr"
sort "$tmp/ack.ids" > "$tmp/got.ids"
diff "$tmp/valid.ids" "$tmp/got.ids" > /dev/null
ok $? "the worker's id log has every valid event, each once"
grep -q $'\r' "$tmp/err"
ok $((!$?)) "no progress line when stderr is not a terminal"

#  2. From stdin, all valid: exit 0.
"$ctl" send --broker "$endpoint" < "$tmp/valid.ndjson" \
    > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 0 "all valid and all ACKed exits 0"
is "$(cat "$tmp/out")" \
   "sent $valid, acked $valid, nacked 0 (retryable 0), invalid 0" \
   "summary from stdin"
[ ! -s "$tmp/err" ]; ok $? "stderr is empty"
is "$(wc -l < "$tmp/ack.ids")" $((valid * 2)) "the worker did them again"

#  3. A worker that refuses goal.created: a permanent NACK, exit 1.
kill "$ack_worker"; wait "$ack_worker" 2>/dev/null
"$worker" "$endpoint" audit fail:goal.created "$tmp/fail.ids" &
pids+=($!)
"$ctl" send --broker "$endpoint" "$tmp/valid.ndjson" \
    > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 1 "a NACK makes send exit 1"
is "$(cat "$tmp/out")" \
   "sent $valid, acked $((valid - 1)), nacked 1 (retryable 0), invalid 0" \
   "summary counts the NACK"
want="^line [0-9]+: event $refused_id nacked \(permanent\): test: refused$"
grep -qE "$want" "$tmp/err"
ok $? "the NACK reason is on stderr with the event id"
is "$(wc -l < "$tmp/fail.ids")" $((valid - 1)) "the rest were ACKed"

#  4. On a terminal, a progress line is drawn with \r.
if command -v script > /dev/null; then
    script -qec "'$ctl' send --broker '$endpoint' '$tmp/valid.ndjson'" \
        /dev/null > "$tmp/tty" 2>&1
    grep -q $'\rline [0-9]*: sent ' "$tmp/tty"
    ok $? "progress line on a terminal"
else
    ok 1 "progress line on a terminal: script(1) from bsdutils is missing"
fi

#  5. A broker that never answers: give up after --timeout-ms.
start=$(date +%s%N)
"$ctl" send --broker "ipc://$tmp/nobody.sock" --timeout-ms 500 \
    "$tmp/valid.ndjson" > "$tmp/out" 2> "$tmp/err"; rc=$?
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
is "$rc" 1 "no broker: exit 1"
grep -q "nothing heard from ipc://$tmp/nobody.sock for 500 ms" "$tmp/err"
ok $? "says it timed out"
ok $((elapsed < 5000 ? 0 : 1)) "within the timeout (${elapsed} ms)"
is "$(cat "$tmp/out")" "sent 0, acked 0, nacked 0 (retryable 0), invalid 0" \
   "nothing sent without credit"

#  6. Usage errors exit 2.
"$ctl" send --broker "$endpoint" --http http://127.0.0.1:1 \
    < /dev/null 2> /dev/null
is "$?" 2 "--broker with --http exits 2"
"$ctl" send --broker "$endpoint" "$tmp/missing.ndjson" 2> /dev/null
is "$?" 2 "a missing file exits 2"
"$ctl" send --timeout-ms soon < /dev/null 2> /dev/null
is "$?" 2 "a bad --timeout-ms exits 2"
"$ctl" send a b < /dev/null 2> /dev/null
is "$?" 2 "two files exit 2"
"$ctl" send --schema "$tmp/none.json" < /dev/null 2> /dev/null
is "$?" 2 "a missing schema exits 2"

#  7. --http: POST /events with the bearer token on one connection.
echo '{}' > "$tmp/status.json"
python3 "$src/tests/integration/broker_http_stub.py" "$tmp/port" \
    "$tmp/status.json" s3cret "$tmp/http.log" &
pids+=($!)
wait_for "$tmp/port" || bail_out "the HTTP stub did not start"
url="http://127.0.0.1:$(cat "$tmp/port")"
"$ctl" send --http "$url/" --token s3cret "$tmp/mixed.ndjson" \
    > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 1 "--http: the refused event and the invalid lines exit 1"
is "$(cat "$tmp/out")" \
   "sent $valid, acked $((valid - 1)), nacked 1 (retryable 0), invalid 2" \
   "--http: summary"
want="^line [0-9]+: event $refused_id: HTTP 400: invalid_event: "
grep -qE "${want}refused by stub$" "$tmp/err"
ok $? "--http: the error body is printed with the event id"
is "$(grep -c '^POST /events ' "$tmp/http.log")" "$valid" \
   "--http: one POST /events per valid event"
is "$(awk '{print $3}' "$tmp/http.log" | sort -u | wc -l)" 1 \
   "--http: all on one kept-alive connection"
FERRY_TOKEN=wrong "$ctl" send --http "$url" "$tmp/valid.ndjson" \
    > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 1 "--http: a wrong token exits 1"
is "$(grep -c 'HTTP 401: unauthorized' "$tmp/err")" "$valid" \
   "--http: every 401 is reported"
FERRY_TOKEN=s3cret "$ctl" send --http "$url" \
    < <(grep -v goal.created "$tmp/valid.ndjson") > "$tmp/out"; rc=$?
is "$rc" 0 "--http: FERRY_TOKEN, everything accepted: exit 0"
"$ctl" send --http http://127.0.0.1:1 --token s3cret "$tmp/valid.ndjson" \
    > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 1 "--http: nothing listening exits 1"
grep -q "^ferryctl send: line 1: http://127.0.0.1:1/events: " "$tmp/err"
ok $? "--http: says where it could not connect"
done_testing
