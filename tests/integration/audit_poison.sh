#!/usr/bin/env bash
#  TAP: one event the database refuses takes nothing else down (issue 12,
#  item 4). A real ferry-broker, ferry-audit and ferry-bridge on the
#  stack (PostgreSQL in a scratch database ferry_poison_<pid>, the SQS
#  emulator on scratch queues). The edge now refuses every time the
#  database would, so the refusal a newer or hand-altered database can
#  still make is played by a trigger raising 22009 for one action: the
#  event passes every check of the edge and the decoder, and only the
#  INSERT fails, as the +23:59 offset did.
#    - over SQS, among valid events in one batch: the valid ones stored
#      and deleted, the refused one in the DLQ with ferry-reason and the
#      SQLSTATE in ferry-error, the +23:59 one in the DLQ as schema;
#    - over HTTP (POST /events), concurrently so they share a batch: the
#      valid ones 202, the refused one 422 "rejected", the +23:59 one 400;
#    - ferry_audit_rejected_total counts them, the log names their ids.
set -u
db=ferry_poison_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
bridge="$FERRY_BUILDDIR/bridge/ferry-bridge"
company=5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11
for var in AWS_ENDPOINT_URL_SQS AWS_REGION AWS_ACCESS_KEY_ID \
        AWS_SECRET_ACCESS_KEY; do
    [ -n "${!var:-}" ] || bail_out "$var is not set: eval \"\$(contrib/stack.sh env)\""
done
[ -x "$bridge" ] || bail_out "no $bridge"

"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
q "CREATE FUNCTION public.poison () RETURNS trigger LANGUAGE plpgsql AS \$\$
   BEGIN
       IF NEW.action = 'test.poison' THEN
           RAISE EXCEPTION 'time zone displacement out of range'
               USING ERRCODE = '22009';
       END IF;
       RETURN NEW;
   END \$\$;
   CREATE TRIGGER poison BEFORE INSERT ON audit.events
       FOR EACH ROW EXECUTE FUNCTION public.poison ();" > /dev/null ||
    bail_out "cannot make the trigger"

. "$FERRY_SRCDIR/tests/integration/sqs_env.sh"
trap 'delete_queues; cleanup' EXIT
main=$(create "audit-poison-main-$$")
dlq=$(create "audit-poison-dlq-$$")

#  event ACTION [OCCURRED_AT]: one audit.recorded event, compact JSON.
event () {
    jq -nc --arg id "$(python3 -c 'import uuid; print(uuid.uuid4())')" \
        --arg action "$1" --arg at "${2:-$(date -u +%Y-%m-%dT%H:%M:%S.000Z)}" \
        --arg company "$company" \
        '{id: $id, type: "audit.recorded", version: 1, source: "test",
          occurredAt: $at, companyId: $company, payload: {action: $action,
          target: {type: "user", id: "u-1"}}}'
}

start_broker 9080
#  A long batch_ms: what arrives together is written together.
"$audit" --set audit.broker="$endpoint" --set audit.batch_max=200 \
    --set audit.batch_ms=300 --set log.level=warn 2>"$tmp/audit.log" &
pids+=($!)
for _ in $(seq 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' $url/audit/health)" = 200 ] \
        && break
    sleep 0.1
done

#  1. Over SQS: 8 valid events, one the database refuses, one +23:59, all
#  in one SendMessageBatch (at most 10) and so in one receive.
{
    for i in 1 2 3 4; do event user.updated; done
    event test.poison
    for i in 1 2 3 4; do event user.updated; done
    event user.updated 2030-10-01T00:00:00.000+23:59
} > "$tmp/sqs.ndjson"
poison_sqs=$(jq -r 'select(.payload.action == "test.poison") | .id' "$tmp/sqs.ndjson")
late=$(jq -r 'select(.occurredAt | endswith("+23:59")) | .id' "$tmp/sqs.ndjson")
entries=$(jq -sc '[to_entries[] | {Id: "m\(.key)", MessageBody: (.value | tojson)}]' "$tmp/sqs.ndjson")
sqs SendMessageBatch "{\"QueueUrl\":\"$main\",\"Entries\":$entries}" \
    | jq -e '.Successful | length == 10' > /dev/null
ok $? "10 messages sent to SQS in one batch"
"$bridge" --set "bridge.broker=$endpoint" --set "bridge.queue_url=$main" \
    --set "bridge.dlq_url=$dlq" --set bridge.wait_s=1 --set log.level=warn \
    2>"$tmp/bridge.log" &
pids+=($!)
for _ in $(seq 100); do
    [ "$(q 'SELECT count(*) FROM audit.events')" -ge 8 ] &&
        [ "$(count "$main")" = 0/0 ] && break
    sleep 0.1
done
is "$(q 'SELECT count(*) FROM audit.events')" 8 \
    "SQS: the 8 valid events stored"
is "$(q "SELECT count(*) FROM audit.events WHERE id IN ('$poison_sqs', '$late')")" \
    0 "SQS: neither bad one"
is "$(count "$main")" 0/0 "SQS: the queue is empty: nothing comes back"
reply=$(sqs ReceiveMessage "{\"QueueUrl\":\"$dlq\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":1,\"MessageAttributeNames\":[\"All\"]}")
is "$(jq '.Messages // [] | length' <<<"$reply")" 2 "SQS: 2 in the DLQ"
dead () {
    jq -r --arg id "$1" --arg attr "$2" '.Messages[]
        | select((.Body | fromjson | .id) == $id)
        | .MessageAttributes[$attr].StringValue' <<<"$reply"
}
is "$(dead "$poison_sqs" ferry-reason)" rejected \
    "SQS: the refused one has ferry-reason rejected"
like "$(dead "$poison_sqs" ferry-error)" 'store_refused.*SQLSTATE 22009' \
    "SQS: and ferry-error names the SQLSTATE"
is "$(dead "$late" ferry-reason)" schema \
    "SQS: the +23:59 one is refused at the edge (schema)"
grep -q "event=$poison_sqs refused by the database" "$tmp/audit.log"
ok $? "SQS: the log names the refused event"

#  2. Over HTTP: 6 valid events and the refused one posted at once.
post () {
    curl -sS -o "$tmp/post.$2" -w '%{http_code}' \
        -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary "$1" \
        "$url/events" > "$tmp/status.$2"
}
before=$(q 'SELECT count(*) FROM audit.events')
posts=()
for i in 1 2 3 4 5 6 7; do
    action=user.updated
    [ $i = 4 ] && action=test.poison
    post "$(event $action)" $i &
    posts+=($!)
done
wait "${posts[@]}"
is "$(cat "$tmp"/status.{1,2,3,5,6,7})" 202202202202202202 \
    "HTTP: the 6 valid: 202"
is "$(cat "$tmp/status.4")" 422 "HTTP: the refused one: 422"
is "$(jq -r .error.code "$tmp/post.4")" rejected "HTTP: code rejected"
like "$(jq -r .error.message "$tmp/post.4")" 'SQLSTATE 22009' \
    "HTTP: the message names the SQLSTATE: $(jq -r .error.message "$tmp/post.4")"
is "$(($(q 'SELECT count(*) FROM audit.events') - before))" 6 \
    "HTTP: 6 more rows"
post "$(event user.updated 2030-10-01T00:00:00.000+23:59)" 8
is "$(cat "$tmp/status.8")" 400 "HTTP: +23:59 refused at the edge: 400"
is "$(jq -r .error.code "$tmp/post.8")" schema "HTTP: code schema"

#  3. Counted.
curl -sS -H "Authorization: Bearer $token" "$url/audit/metrics" \
    > "$tmp/metrics"
like "$(grep '^ferry_audit_rejected_total{reason="store_refused"}' "$tmp/metrics")" \
    ' 2$' "ferry_audit_rejected_total{reason=\"store_refused\"} is 2"
done_testing
