#!/usr/bin/env bash
#  TAP: the tamper evidence of ferry-audit end to end, against the stack's
#  PostgreSQL (DATABASE_URL from contrib/stack.sh env; missing is a
#  failure), a real ferry-broker with HTTP on 127.0.0.1 and ferryctl send
#  as the publisher, in a scratch database ferry_verify_<pid>. Covers:
#  GET /audit/verify is in the served openapi.json with every other
#  /audit route; 503 from a worker without store.digest_key; the 400s of
#  bad parameters; ferry-audit's own digest timer (audit.digest_interval_ms,
#  store.digest_grace_s) writing the digests of events ingested for past
#  hours; then ferryctl audit verify and GET /audit/verify clean, and each
#  naming a row changed, a row deleted and a row inserted by hand in psql;
#  and a backlog older than the grace drained with the worker restarted
#  mid-way: clean, then a row inserted by hand named.
set -u
db=ferry_verify_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
company=3d6a8f0e-2b1c-4e5d-9f7a-6b5c4d3e2f10
key=verify-test-digest-key-0123456789abcdef

start_broker 9180 --set "http.openapi=$FERRY_SRCDIR/schemas/openapi.json"
api () { curl -sS -o "$tmp/body" -w '%{http_code}' \
    -H "Authorization: Bearer $token" "$@"; }
#  Up to 30 s: a loaded CI machine runs other tests beside this one. On
#  failure the worker's log says why.
wait_health () {
    for _ in $(seq 300); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' $url/audit/health)" \
            = 200 ] && return 0
        sleep 0.1
    done
    diag "ferry-audit not up; its log:"
    tail -5 "$tmp/audit.log" | while read -r line; do diag "  $line"; done
    return 1
}
#  One ferry-audit at a time, so every request reaches the one started.
start_audit () {
    "$audit" --set audit.broker="$endpoint" --set log.level=warn "$@" \
        2>>"$tmp/audit.log" &
    audit_pid=$!
    pids+=($audit_pid)
    wait_health
}
stop_audit () {
    kill -TERM $audit_pid
    wait $audit_pid
}

#  1. Every /audit route ferry-audit serves is in the served openapi.json.
is "$(api "$url/openapi.json")" 200 "GET /openapi.json"
for route in /audit /audit/search /audit/verify '/audit/{id}' \
             /audit/export/csv /audit/health /audit/metrics; do
    jq -e --arg r "$route" '.paths[$r]' "$tmp/body" > /dev/null
    ok $? "$route is in openapi.json"
done

#  2. No digest key: 503, as there is nothing to verify against.
start_audit
ok $? "ferry-audit without a digest key is up"
v="$url/audit/verify"
range="from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z"
is "$(api "$v?companyId=$company&$range")" 503 "verify without a key is 503"
is "$(jq -r .error.code "$tmp/body")" not_configured "code not_configured"
stop_audit

#  3. The worker that digests: a small grace and a fast timer. One batch
#  holds every event sent below (batch_ms far above the send time), so
#  the timer cannot digest an hour half written.
start_audit --set audit.batch_max=1000 --set audit.batch_ms=500 \
    --set audit.digest_interval_ms=200 --set store.digest_grace_s=1 \
    --set store.digest_key=$key
ok $? "ferry-audit with a digest key is up"

#  Bad parameters: 400 with a JSON error each.
bad=0
for query in "$range" "companyId=&$range" "companyId=nope&$range" \
    "companyId=$company" "companyId=$company&from=2026-01-01T00:00:00Z" \
    "companyId=$company&to=2026-01-02T00:00:00Z" \
    "companyId=$company&from=yesterday&to=2026-01-02T00:00:00Z" \
    "companyId=$company&from=2026-01-01T00:00:00Z&to=2026-13-02T00:00:00Z" \
    "companyId=$company&from=2026-01-01&to=2026-01-02" \
    "companyId=$company&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z" \
    "companyId=$company&from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z" \
    "companyId=$company&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z" \
    "companyId=$company%27%20OR%201=1--&$range"; do
    code=$(api "$v?$query")
    if [ "$code" != 400 ] ||
       [ "$(jq -r .error.code "$tmp/body")" != invalid_parameter ]; then
        diag "$query gave $code $(head -c 200 "$tmp/body")"
        bad=$((bad + 1))
    fi
done
is "$bad" 0 "13 malformed queries are each 400 invalid_parameter"
is "$(api -X POST "$v?companyId=$company&$range")" 405 "POST is 405"

#  Events of two past hours, in the middle of each hour.
python3 - "$company" > "$tmp/past.ndjson" <<'PY'
import json, sys, uuid, datetime
company = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
hour = now.replace(minute=0, second=0, microsecond=0)
for back in (3, 2):
    for i in range(20):
        t = hour - datetime.timedelta(hours=back) \
            + datetime.timedelta(minutes=10 + i)
        print(json.dumps({"id": str(uuid.uuid4()), "type": "audit.recorded",
            "version": 1, "source": "test",
            "occurredAt": t.strftime('%Y-%m-%dT%H:%M:%S.000Z'),
            "companyId": company, "actorId": str(uuid.uuid4()),
            "payload": {"action": "user.updated",
                "target": {"type": "user", "id": "u%d" % i},
                "ip": "192.0.2.9", "userAgent": "t/1"}}))
PY
from=$(date -u -d "-4 hours" +%Y-%m-%dT%H:00:00Z)
to=$(date -u -d "+1 hour" +%Y-%m-%dT%H:00:00Z)
out=$("$ctl" send --broker "$endpoint" "$tmp/past.ndjson" 2>&1)
is "$out" "sent 40, acked 40, nacked 0 (retryable 0), invalid 0" \
    "40 events of two past hours ACKed"
for _ in $(seq 50); do
    [ "$(q 'SELECT count(*) FROM audit.digests')" = 2 ] && break
    sleep 0.1
done
is "$(q "SELECT count(*) FROM audit.digests WHERE company_id = '$company'")" \
    2 "the worker's timer wrote both hours' digests"
is "$(q 'SELECT sum(event_count) FROM audit.digests')" 40 \
    "covering the 40 events"

#  4. Clean: ferryctl and the API agree.
export FERRY_STORE_DIGEST_KEY=$key
who=$company
verify () {
    "$ctl" audit verify --company $who --from "$from" --to "$to" "$@"
}
#  verify_clean [WHEN]: ferryctl audit verify exits 0 and says clean.
verify_clean () {
    out=$(verify 2>&1)
    is "$?" 0 "ferryctl audit verify exits 0$*"
    is "$(tail -n 1 <<<"$out")" \
        "clean: 2 hours, 40 events checked, 0 not digested yet" \
        "and says clean"
}
verify_clean
api_verify () {
    api -G "$v" --data-urlencode "companyId=$company" \
        --data-urlencode "from=$from" --data-urlencode "to=$to"
}
is "$(api_verify)" 200 "GET /audit/verify is 200"
is "$(jq -c '[.clean, .hours, .events, (.changed|length), (.removed|length),
               (.added|length), (.digests|length)]' "$tmp/body")" \
    "[true,2,40,0,0,0,0]" "clean, 2 hours, 40 events, nothing found"

#  5. By hand in psql: one row changed, one deleted, one inserted.
ids=($(q "SELECT id FROM audit.events ORDER BY occurred_at LIMIT 3"))
changed=${ids[0]} removed=${ids[1]}
q "UPDATE audit.events SET payload = payload || '{\"ip\":\"198.51.100.1\"}'
   WHERE id = '$changed'" > /dev/null
q "DELETE FROM audit.events WHERE id = '$removed'" > /dev/null
added=$(q "INSERT INTO audit.events (id, occurred_at, type, version, source,
               company_id, action, payload)
           SELECT gen_random_uuid(), occurred_at + interval '1 second', type,
               version, source, company_id, action, payload
           FROM audit.events WHERE id = '${ids[2]}' RETURNING id")
added=$(head -n 1 <<<"$added")
out=$(verify 2>&1)
is "$?" 1 "ferryctl audit verify exits 1 after the tampering"
grep -q "^changed  $changed " <<<"$out"
ok $? "ferryctl names the changed row"
grep -q "^removed  $removed " <<<"$out"
ok $? "ferryctl names the deleted row"
grep -q "^added    $added " <<<"$out"
ok $? "ferryctl names the inserted row"
is "$(api_verify)" 200 "GET /audit/verify is 200 with a report"
is "$(jq -c '[.clean, [.changed[].id], [.removed[].id], [.added[].id]]' \
        "$tmp/body")" \
    "[false,[\"$changed\"],[\"$removed\"],[\"$added\"]]" \
    "which names exactly the changed, deleted and inserted rows"
hour=$(jq -r '.changed[0].hour' "$tmp/body")
is "$hour" "$(date -u -d "-3 hours" +%Y-%m-%dT%H:00:00Z)" \
    "in the hour they belong to"
#  The API and ferryctl --json give the same report.
verify --json > "$tmp/cli.json"
is "$(jq -S -c . "$tmp/cli.json" | jq -c 'del(.from, .to)')" \
   "$(jq -S -c . "$tmp/body" | jq -c 'del(.from, .to)')" \
   "ferryctl --json and the API report the same"
#  A range after the tampered hours is clean.
is "$(api -G "$v" --data-urlencode "companyId=$company" \
        --data-urlencode "from=$(date -u -d "-2 hours" +%Y-%m-%dT%H:00:00Z)" \
        --data-urlencode "to=$to")" 200 "the later range is 200"
is "$(jq -c '[.clean, .hours, .events]' "$tmp/body")" "[true,1,20]" \
    "and clean: 1 hour, 20 events"

#  6. A backlog older than the grace, drained with ferry-audit restarted
#  mid-way: the hours are digested while their events still arrive, the
#  rest get supplementary digests, and verify is clean; a row inserted by
#  hand afterwards is still named.
late=6e5d4c3b-2a19-4f08-8e7d-6c5b4a392817
python3 - "$late" "$tmp/late1.ndjson" "$tmp/late2.ndjson" <<'PY'
import json, sys, uuid, datetime
company = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
hour = now.replace(minute=0, second=0, microsecond=0)
halves = [open(sys.argv[2], "w"), open(sys.argv[3], "w")]
for back in (3, 2):
    for i in range(20):
        t = hour - datetime.timedelta(hours=back) \
            + datetime.timedelta(minutes=5 + 2 * i)
        print(json.dumps({"id": str(uuid.uuid4()),
            "type": "audit.recorded", "version": 1, "source": "test",
            "occurredAt": t.strftime('%Y-%m-%dT%H:%M:%S.000Z'),
            "companyId": company, "actorId": str(uuid.uuid4()),
            "payload": {"action": "user.viewed",
                "target": {"type": "user", "id": "u%d" % i}}}),
            file=halves[i % 2])
PY
out=$("$ctl" send --broker "$endpoint" "$tmp/late1.ndjson" 2>&1)
is "$out" "sent 20, acked 20, nacked 0 (retryable 0), invalid 0" \
    "the first half of a backlog of two past hours ACKed"
#  wait_q SQL VALUE: up to 10 s for the query to give the value.
wait_q () {
    for _ in $(seq 100); do [ "$(q "$1")" = "$2" ] && return; sleep 0.1; done
}
wait_q "SELECT count(*) FROM audit.digests WHERE company_id = '$late'" 2
is "$(q "SELECT count(*) FROM audit.digests WHERE company_id = '$late'")" 2 \
    "both hours digested while half their events are still to come"
stop_audit
start_audit --set audit.batch_max=1000 --set audit.batch_ms=500 \
    --set audit.digest_interval_ms=200 --set store.digest_grace_s=1 \
    --set store.digest_key=$key
ok $? "ferry-audit restarted mid-way"
out=$("$ctl" send --broker "$endpoint" "$tmp/late2.ndjson" 2>&1)
is "$out" "sent 20, acked 20, nacked 0 (retryable 0), invalid 0" \
    "the second half ACKed"
wait_q "SELECT count(*) FROM audit.digest_due WHERE company_id = '$late'" 0
is "$(q "SELECT count(*) || ' ' || sum(event_count) FROM audit.digests
         WHERE company_id = '$late'")" "4 40" \
    "a supplementary digest per hour: 4 digests cover the 40 events"
who=$late
verify_clean " after the drain"
added=$(q "INSERT INTO audit.events (id, occurred_at, type, version, source,
               company_id, action, payload)
           SELECT gen_random_uuid(), occurred_at + interval '1 second', type,
               version, source, company_id, action, payload
           FROM audit.events WHERE company_id = '$late'
           ORDER BY occurred_at LIMIT 1 RETURNING id")
added=$(head -n 1 <<<"$added")
sleep 1
out=$(verify 2>&1)
is "$?" 1 "a row inserted by hand afterwards: exit 1"
grep -q "^added    $added " <<<"$out"
ok $? "naming the inserted row"

stop_audit
is "$?" 0 "SIGTERM stops the worker with 0"
done_testing
