#!/usr/bin/env bash
#  TAP: ferry-audit end to end against the stack's PostgreSQL (DATABASE_URL
#  from contrib/stack.sh env; missing is a failure), a real ferry-broker
#  with HTTP on 127.0.0.1 and ferryctl send as the publisher. Each run
#  makes a scratch database ferry_audit_<pid>. Covers: refusal of an
#  unmigrated schema (exit 2, one line), every event stored once, the
#  same events twice give no new row, the worker SIGKILLed mid-stream
#  and restarted (no loss, no duplicate), PostgreSQL restarted
#  mid-stream (no loss), SIGKILL while a COMMIT is in flight and the
#  next batch waits decoded (every event once), SQL injection in every
#  search filter, from/to as RFC 3339 only and no database text in an
#  answer, POST /audit idempotency and its Content-Type (415), one id
#  posted twice with two occurredAt (one row, one conflict on GET
#  /audit/metrics), GET by id,
#  health, CSV export and its escaping.
set -u
db=ferry_audit_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
company=5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11

#  events N FILE: N fresh audit.recorded events of $company, NDJSON.
#  events N FILE [COMPANY [one-hour]]: N events, a second apart back from
#  now; with one-hour, back from the middle of the last hour, so that all
#  of them fall in one (company, hour) of audit.digest_due.
events () {
    python3 - "$1" "${3:-$company}" "${4:-}" > "$2" <<'PY'
import json, sys, uuid, datetime
n, company = int(sys.argv[1]), sys.argv[2]
now = datetime.datetime.now(datetime.timezone.utc)
if sys.argv[3] == 'one-hour':
    now = now.replace(minute=0, second=0, microsecond=0) \
        - datetime.timedelta(minutes=30)
for i in range(n):
    t = (now - datetime.timedelta(seconds=i)).strftime('%Y-%m-%dT%H:%M:%S.') \
        + '%03dZ' % (i % 1000)
    print(json.dumps({"id": str(uuid.uuid4()), "type": "audit.recorded",
        "version": 1, "source": "test", "occurredAt": t, "companyId": company,
        "actorId": str(uuid.uuid4()), "payload": {"action": "user.updated",
        "target": {"type": "user", "id": str(uuid.uuid4())},
        "ip": "192.0.2.7", "userAgent": "t/1"}}))
PY
}

#  1. An unmigrated database: refused with one line, exit 2.
"$audit" --set audit.broker="ipc://$tmp/none.sock" > "$tmp/out" 2>&1
is "$?" 2 "an unmigrated database: exit 2"
is "$(wc -l < "$tmp/out")" 1 "with one line: $(head -c 120 "$tmp/out")"

"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"

start_broker 8880
start_audit () {
    "$audit" --set audit.broker="$endpoint" --set audit.batch_max=200 \
        --set audit.batch_ms=20 --set log.level=warn "$@" \
        2>>"$tmp/audit.log" &
    audit_pid=$!
}
start_audit
api () { curl -sS -o "$tmp/body" -w '%{http_code}' \
    -H "Authorization: Bearer $token" "$@"; }
for _ in $(seq 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' $url/audit/health)" = 200 ] \
        && break
    sleep 0.1
done
is "$(curl -s -o /dev/null -w '%{http_code}' $url/audit/health)" 200 \
    "GET /audit/health is 200 with the database up"

#  2. Events stored once; the same events again add nothing.
events 500 "$tmp/a.ndjson"
out=$("$ctl" send --broker "$endpoint" "$tmp/a.ndjson" 2>&1)
is "$out" "sent 500, acked 500, nacked 0 (retryable 0), invalid 0" \
    "500 events ACKed"
is "$(q 'SELECT count(*) FROM audit.events')" 500 "500 rows"
out=$("$ctl" send --broker "$endpoint" "$tmp/a.ndjson" 2>&1)
is "$out" "sent 500, acked 500, nacked 0 (retryable 0), invalid 0" \
    "the same 500 ACKed again"
is "$(q 'SELECT count(*) FROM audit.events')" 500 "still 500 rows"

#  3. SIGKILL mid-stream, then a restart: every event once.
events 5000 "$tmp/b.ndjson"
"$ctl" send --broker "$endpoint" --timeout-ms 60000 "$tmp/b.ndjson" \
    > "$tmp/b.out" 2>&1 &
send=$!
sleep 0.3
kill -KILL $audit_pid; wait $audit_pid 2>/dev/null
before=$(q 'SELECT count(*) FROM audit.events')
start_audit
wait $send
is "$(cat "$tmp/b.out")" \
    "sent 5000, acked 5000, nacked 0 (retryable 0), invalid 0" \
    "every event ACKed across the SIGKILL (killed at $before rows)"
is "$(q 'SELECT count(*) FROM audit.events')" 5500 "5500 rows, no loss"
is "$(q 'SELECT count(DISTINCT id) FROM audit.events')" 5500 "no duplicate"

#  4. PostgreSQL restarted mid-stream: nothing lost.
events 5000 "$tmp/c.ndjson"
"$ctl" send --broker "$endpoint" --timeout-ms 120000 "$tmp/c.ndjson" \
    > "$tmp/c.out" 2>&1 &
send=$!
sleep 0.2
pg_restart
ok $? "postgres restarted"
wait $send
grep -q '^sent 5000, acked [0-9]*, nacked [0-9]* (retryable \([0-9]*\)), invalid 0$' "$tmp/c.out"
ok $? "during the restart NACKs are all retryable: $(tail -1 "$tmp/c.out")"
n=$(sed -nE 's/.*nacked ([0-9]+) \(retryable ([0-9]+)\).*/\1 \2/p' "$tmp/c.out")
is "${n% *}" "${n#* }" "every NACK retryable"
#  What was NACKed goes back to its source, which delivers it again until
#  it is ACKed, as SQS does after each visibility timeout: the worker may
#  still be waiting out its reconnect backoff the first times.
want="sent 5000, acked 5000, nacked 0 (retryable 0), invalid 0"
for _ in $(seq 30); do
    out=$("$ctl" send --broker "$endpoint" "$tmp/c.ndjson" 2>&1 | tail -n 1)
    [ "$out" = "$want" ] && break
    sleep 2
done
is "$out" "$want" "redelivered after the restart, every event ACKed"
is "$(q 'SELECT count(*) FROM audit.events')" 10500 "10500 rows, no loss"

#  5. Search, and SQL injection in every filter: 400 or empty, table intact.
code=$(api "$url/audit/search?companyId=$company&limit=5")
is "$code" 200 "search is 200"
is "$(jq '.items | length' "$tmp/body")" 5 "with 5 items"
cursor=$(jq -r .nextCursor "$tmp/body")
code=$(api -G "$url/audit/search" --data-urlencode "companyId=$company" \
    --data-urlencode "limit=5" --data-urlencode "cursor=$cursor")
is "$(jq '.items | length' "$tmp/body")" 5 "the next page by cursor"
is "$(api "$url/audit/search?limit=5")" 400 "no companyId is 400"
is "$(api "$url/audit/search?companyId=$company&limit=1001")" 400 \
    "limit 1001 is 400"
bad=0
for filter in companyId actorId type action targetType targetId from to q \
              cursor limit; do
    for attack in "'; DROP TABLE audit.events; --" "' OR '1'='1" \
                  "1) UNION SELECT * FROM schema_migrations --" '\x00%'; do
        args=(--data-urlencode "$filter=$attack")
        [ $filter != companyId ] &&
            args+=(--data-urlencode "companyId=$company")
        code=$(api -G "$url/audit/search" "${args[@]}")
        n=$(jq '.items | length' "$tmp/body" 2>/dev/null)
        if ! { [ "$code" = 400 ] || { [ "$code" = 200 ] && [ "$n" = 0 ]; }; }
        then
            [ $filter = q ] && [ "$code" = 200 ] && continue
            diag "$filter=$attack gave $code $(head -c 200 "$tmp/body")"
            bad=$((bad + 1))
        fi
    done
done
is "$bad" 0 "every injected filter is 400 or finds nothing"
is "$(q 'SELECT count(*) FROM audit.events')" 10500 "the table is intact"

#  from and to are RFC 3339 times, parsed before SQL: PostgreSQL's own
#  words ('yesterday', 'epoch', 'infinity') are refused, and no answer
#  carries the database's text or SQLSTATE (it goes to the log).
for filter in from to; do
    for value in yesterday epoch infinity -infinity now 2026-13-45 \
                 2026-11-26 0000-01-01T00:00:00Z 'Thu Nov 26 10:00:00 2026'; do
        for route in search export/csv; do
            code=$(api -G "$url/audit/$route" --data-urlencode \
                "companyId=$company" --data-urlencode "$filter=$value")
            is "$code $(jq -r .error.code "$tmp/body" 2>/dev/null)" \
                "400 invalid_filter" "$route $filter=$value is 400"
            message=$(jq -r .error.message "$tmp/body" 2>/dev/null)
            case "$message" in
                "$filter: not an RFC 3339 time"*) ok 0 "in words of its own" ;;
                *) ok 1 "in words of its own, not: $message" ;;
            esac
        done
    done
done
is "$(api -G "$url/audit/search" --data-urlencode "companyId=$company" \
    --data-urlencode "from=2000-01-01T02:00:00+02:00" \
    --data-urlencode "to=2999-01-01T00:00:00.5Z")" 200 \
    "an RFC 3339 range with an offset and a fraction is 200"
is "$(jq '.items | length' "$tmp/body")" 100 "and finds the rows"
is "$(api -G "$url/audit/search" --data-urlencode "companyId=$company" \
    --data-urlencode "from=2999-01-01T00:00:00Z")" 200 "a range in the future"
is "$(jq '.items | length' "$tmp/body")" 0 "finds nothing"
for filter in companyId actorId; do
    code=$(api -G "$url/audit/search" --data-urlencode "companyId=$company" \
        --data-urlencode "$filter=not-a-uuid")
    is "$code $(jq -r .error.message "$tmp/body")" \
        "400 $filter: not a uuid" "$filter=not-a-uuid: 400 in its own words"
done
code=$(api -G "$url/audit/search" --data-urlencode "companyId=$company" \
    --data-urlencode "type=$(printf 'a\xff')")
is "$code $(jq -r .error.message "$tmp/body")" "400 type: not UTF-8" \
    "a filter that is not UTF-8: 400 in its own words"

#  6. POST /audit: 201, idempotent on Idempotency-Key; GET by id.
company2=7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5
record='{"companyId":"'$company2'","actorId":"0b7a1e7c-1d2b-4f6e-8a0b-3c4d5e6f7a8b","payload":{"action":"doc.exported","userAgent":"=HYPERLINK(\"x\")","target":{"type":"doc","id":"@evil,1"}}}'
code=$(api -X POST -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: key-1' -d "$record" "$url/audit")
is "$code" 201 "POST /audit is 201"
id=$(jq -r .id "$tmp/body")
code=$(api -X POST -H 'Content-Type: application/json' \
    -H 'Idempotency-Key: key-1' -d "$record" "$url/audit")
is "$code" 201 "the retry is 201 too"
is "$(jq -r .id "$tmp/body")" "$id" "with the same id"
is "$(q "SELECT count(*) FROM audit.events WHERE id = '$id'")" 1 "one row"
is "$(api -X POST -H 'Content-Type: application/json' \
    -d '{"companyId":"nope"}' "$url/audit")" 400 "an invalid record is 400"
#  The worker's JSON route takes application/json only (fy_worker_route).
for type in text/plain application/xml application/x-www-form-urlencoded; do
    code=$(api -X POST -H "Content-Type: $type" -d "$record" "$url/audit")
    is "$code $(jq -r .error.code "$tmp/body")" \
        "415 unsupported_media_type" "POST /audit as $type is 415"
done
is "$(api -X POST -H 'Content-Type:' -d "$record" "$url/audit")" 415 \
    "POST /audit with no Content-Type is 415"
is "$(api -X POST -H 'Content-Type: application/json; charset=utf-8' \
    -H 'Idempotency-Key: key-1' -d "$record" "$url/audit")" 201 \
    "application/json; charset=utf-8 is 201"
is "$(api "$url/audit/$id")" 200 "GET /audit/:id is 200"
is "$(jq -r .userAgent "$tmp/body")" '=HYPERLINK("x")' "with its user agent"
is "$(api "$url/audit/00000000-0000-4000-8000-000000000000")" 404 \
    "an absent id is 404"
#  The worker's route table: a REPLY has no headers, so a 405 names the
#  methods the path takes in its message; a path no row takes is 404.
is "$(api -X DELETE "$url/audit/$id")" 405 "DELETE /audit/:id is 405"
is "$(jq -r .error.code "$tmp/body")" method_not_allowed "method_not_allowed"
is "$(jq -r .error.message "$tmp/body")" "this route takes GET, HEAD" \
    "naming GET and HEAD"
is "$(api "$url/audit")" 405 "GET /audit is 405"
is "$(jq -r .error.message "$tmp/body")" "this route takes POST" \
    "naming POST"
is "$(api "$url/audit/$id/x")" 404 "a path below /audit/:id is 404"
is "$(jq -r .error.code "$tmp/body")" not_found "not_found"
is "$(api -I "$url/audit/$id")" 200 "HEAD /audit/:id is served as GET"

#  6b. One id, two occurredAt (a producer's retry that re-stamps the
#  time): one row, the first; the second copy is a conflict, counted on
#  GET /audit/metrics and logged with what differs.
dup=4f5e6d36-8a1b-4c2d-9e3f-0a1b2c3d4e5f
company4=1e2d3c4b-5a69-4877-8695-a4b3c2d1e0f9
post_dup () {
    api -X POST -H 'Content-Type: application/json' "$url/events" -d \
        '{"id":"'$dup'","type":"audit.recorded","version":1,"source":"test",
          "occurredAt":"'$1'","companyId":"'$company4'",
          "payload":{"action":"doc.viewed","target":{"type":"doc","id":"d1"}}}'
}
conflicts () {
    api "$url/audit/metrics" > /dev/null
    awk '$1 == "ferry_audit_conflicts_total" { print $2 }' "$tmp/body"
}
is "$(conflicts)" 0 "GET /audit/metrics: no conflict yet"
is "$(post_dup 2026-11-20T10:00:00.000Z)" 202 "POST /events is 202"
for _ in $(seq 50); do
    [ "$(q "SELECT count(*) FROM audit.events WHERE id = '$dup'")" = 1 ] \
        && break
    sleep 0.1
done
is "$(post_dup 2026-12-03T10:00:00.000Z)" 202 \
    "the same id with another occurredAt is 202"
for _ in $(seq 50); do [ "$(conflicts)" = 1 ] && break; sleep 0.1; done
is "$(conflicts)" 1 "one conflict counted"
is "$(q "SELECT count(*) || ' ' || min(occurred_at)::text FROM audit.events
         WHERE id = '$dup'")" "1 2026-11-20 10:00:00+00" \
    "one row, the first copy"
grep -q "id=$dup conflict: a copy with other occurredAt not stored; occurredAt stored 2026-11-20T10:00:00.000Z, refused 2026-12-03T10:00:00.000Z" "$tmp/audit.log"
ok $? "the conflict is logged with both occurredAt"
is "$(api "$url/audit/$dup")" 200 "GET /audit/:id is 200"
is "$(jq -r .occurredAt "$tmp/body")" 2026-11-20T10:00:00.000Z \
    "and gives the stored copy"
is "$(post_dup 2026-11-20T10:00:00.000Z)" 202 "the first copy again is 202"
sleep 0.5
is "$(conflicts)" 1 "an identical redelivery is no conflict"

#  7. CSV export: every row of the company, and formulas neutralised
#  (1,000,000 rows within a memory bound: tests/integration/audit_export.c).
code=$(curl -sS -o "$tmp/export.csv" -w '%{http_code}' \
    -H "Authorization: Bearer $token" \
    "$url/audit/export/csv?companyId=$company2")
is "$code" 200 "export is 200"
is "$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$tmp/export.csv")" \
    2 "a header and its one row, RFC 4180"
grep -qF '"'"'"'=HYPERLINK(""x"")"' "$tmp/export.csv"
ok $? "a cell starting with = is quoted with a leading '"
grep -qF '"'"'"'@evil,1"' "$tmp/export.csv"
ok $? "a cell starting with @ too"

#  8. SIGKILL while a batch is in flight on each of the three lanes
#  (audit.connections): one in its COMMIT (a deferred trigger makes it
#  sleep 2 s), the two others waiting for it on the lock of their
#  (company, hour) in audit.digest_due, and the next batch decoded,
#  waiting for a lane: every event once. The events fall in one hour, so
#  that every lane waits on the same row of audit.digest_due.
company3=9d8e7f60-5a4b-4c3d-8e2f-1a0b9c8d7e6f
q "CREATE FUNCTION public.fy_test_slow() RETURNS trigger LANGUAGE plpgsql
   AS \$\$ BEGIN
   IF current_setting('fy.slow', true) IS DISTINCT FROM 'done' THEN
       PERFORM set_config('fy.slow', 'done', true); PERFORM pg_sleep(2);
   END IF; RETURN NULL; END \$\$" > /dev/null
q "CREATE CONSTRAINT TRIGGER fy_test_slow AFTER INSERT ON audit.events
   DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
   EXECUTE FUNCTION public.fy_test_slow()" > /dev/null
kill -TERM $audit_pid; wait $audit_pid
: > "$tmp/audit.log"
start_audit --set log.level=debug
events 1000 "$tmp/d.ndjson" $company3 one-hour
"$ctl" send --broker "$endpoint" --timeout-ms 60000 "$tmp/d.ndjson" \
    > "$tmp/d.out" 2>&1 &
send=$!
committing=
seen=
for _ in $(seq 100); do
    committing=$(q "SELECT count(*) FILTER (WHERE query = 'COMMIT'
        AND wait_event = 'PgSleep') || ' ' || count(*) FILTER (WHERE
        wait_event_type = 'Lock') FROM pg_stat_activity WHERE
        datname = current_database()")
    #  The states passed through, for the message if it never gets there.
    [ "${seen##*,}" = "$committing" ] || seen="$seen,$committing"
    [ "$committing" = "1 2" ] &&
        grep -q 'waits for a commit in flight' "$tmp/audit.log" && break
    sleep 0.1
done
is "$committing" "1 2" \
    "a COMMIT in flight, two lanes waiting for it (seen: ${seen#,})"
grep -q 'waits for a commit in flight' "$tmp/audit.log"
ok $? "and the next batch decoded, waiting for it"
kill -KILL $audit_pid; wait $audit_pid 2>/dev/null
q "DROP TRIGGER fy_test_slow ON audit.events" > /dev/null
before=$(q "SELECT count(*) FROM audit.events WHERE company_id = '$company3'")
start_audit
wait $send
is "$(cat "$tmp/d.out")" \
    "sent 1000, acked 1000, nacked 0 (retryable 0), invalid 0" \
    "every event ACKed across the SIGKILL ($before rows at the kill)"
is "$(q "SELECT count(*) FROM audit.events WHERE company_id = '$company3'")" \
    1000 "1000 rows, no loss"
is "$(q "SELECT count(DISTINCT id) FROM audit.events
         WHERE company_id = '$company3'")" 1000 "no duplicate"

#  9. SIGTERM: a clean stop.
kill -TERM $audit_pid; wait $audit_pid
is "$?" 0 "SIGTERM stops the worker with 0"
done_testing
