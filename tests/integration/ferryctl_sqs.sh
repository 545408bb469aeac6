#!/usr/bin/env bash
#  TAP: ferryctl send --sqs and ferryctl dlq peek|redrive|purge against the
#  SQS emulator of contrib/stack.sh (env from `contrib/stack.sh env`;
#  missing env is "not ok", never a skip), on scratch queues this test
#  creates and deletes: the golden events sent and received back exactly
#  as written, invalid lines counted and not sent; peek shows the ferry-*
#  attributes and consumes nothing; redrive --dry-run moves nothing,
#  redrive moves exactly the messages (counted in both queues) without
#  their ferry-* attributes; purge refuses without --yes, then empties.
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
ctl="$FERRY_BUILDDIR/tools/ferryctl"
src=$FERRY_SRCDIR
export FERRY_EVENTS_SCHEMA="$src/schemas/events.schema.json"
. "$FERRY_SRCDIR/tests/integration/sqs_env.sh"
tmp=$(mktemp -d)
cleanup () {
    delete_queues
    rm -rf "$tmp"
}
trap cleanup EXIT

for var in AWS_ENDPOINT_URL_SQS AWS_REGION AWS_ACCESS_KEY_ID \
        AWS_SECRET_ACCESS_KEY; do
    [ -n "${!var:-}" ]
    ok $? "$var is set"
done
[ "$tap_failed" -eq 0 ] ||
    bail_out "run: eval \"\$(contrib/stack.sh env)\" after contrib/stack.sh start"
[ -x "$ctl" ] || bail_out "no $ctl"

main=$(create "ferryctl-sqs-main-$$")
dlq=$(create "ferryctl-sqs-dlq-$$")


#  drain URL: every message of URL as one JSON object a line (Body and
#  MessageAttributes), deleted as received.
drain () {
    local reply
    while true; do
        reply=$(sqs ReceiveMessage "{\"QueueUrl\":\"$1\",\"MaxNumberOfMessages\":10,\"WaitTimeSeconds\":1,\"MessageAttributeNames\":[\"All\"]}")
        [ "$(jq '.Messages // [] | length' <<<"$reply")" -gt 0 ] || break
        jq -c '.Messages[] | {Body, MessageAttributes}' <<<"$reply"
        sqs DeleteMessageBatch "$(jq -c --arg q "$1" \
            '{QueueUrl: $q, Entries: [.Messages | to_entries[] | {Id: "d\(.key)", ReceiptHandle: .value.ReceiptHandle}]}' \
            <<<"$reply")" >/dev/null
    done
}

#  The golden events as NDJSON, two invalid lines and a blank one among
#  them.
python3 - "$src"/tests/data/events/*.json > "$tmp/valid.ndjson" <<'PY' \
    || bail_out "cannot compact the golden events"
import json, sys
for path in sys.argv[1:]:
    print(json.dumps(json.load(open(path)), separators=(",", ":"),
                     ensure_ascii=False))
PY
valid=$(wc -l < "$tmp/valid.ndjson")
[ "$valid" -gt 20 ] || bail_out "only $valid golden events"
{
    head -n 1 "$tmp/valid.ndjson"
    echo 'this is not json'
    echo
    echo '{"id":"b6b0c2c8-5a9e-4d0c-9c4e-2f1f0e0a0b0c","version":1}'
    tail -n +2 "$tmp/valid.ndjson"
} > "$tmp/mixed.ndjson"

#  1. send --sqs URL FILE
"$ctl" send --sqs "$main" "$tmp/mixed.ndjson" > "$tmp/out" 2> "$tmp/err"
is $? 1 "send --sqs: invalid lines make it exit 1"
is "$(cat "$tmp/out")" \
   "sent $valid, acked $valid, nacked 0 (retryable 0), invalid 2" \
   "send --sqs: summary"
grep -q '^line 2: invalid (invalid_json)' "$tmp/err"
ok $? "send --sqs: the invalid line reported with its number"
drain "$main" | jq -r .Body | sort > "$tmp/got"
sort "$tmp/valid.ndjson" > "$tmp/want"
cmp -s "$tmp/got" "$tmp/want"
ok $? "send --sqs: every valid line received back as written, once"
[ -s "$tmp/got" ] || diag "nothing received"

#  2. send --sqs from stdin to SQS_QUEUE_URL
SQS_QUEUE_URL=$main "$ctl" send --sqs < "$tmp/valid.ndjson" > "$tmp/out" 2>&1
is $? 0 "send --sqs (SQS_QUEUE_URL, stdin): exit 0"
is "$(drain "$main" | wc -l)" "$valid" "send --sqs: all $valid arrived"

#  3. A queue that does not exist: each event reported, permanent.
"$ctl" send --sqs="${main%/*}/no-such-queue-$$" "$tmp/valid.ndjson" \
    > "$tmp/out" 2> "$tmp/err"
is $? 1 "send --sqs to a missing queue: exit 1"
is "$(cat "$tmp/out")" \
   "sent $valid, acked 0, nacked $valid (retryable 0), invalid 0" \
   "send --sqs to a missing queue: every event nacked"
grep -q 'not sent (permanent): QueueDoesNotExist' "$tmp/err"
ok $? "send --sqs to a missing queue: QueueDoesNotExist per event"

#  4. The DLQ: 5 messages as the bridge leaves them.
entries=$(for i in 1 2 3 4 5; do
    printf '{"Id":"m%d","MessageBody":"dead letter %d","MessageAttributes":{"ferry-reason":{"DataType":"String","StringValue":"schema"},"ferry-error":{"DataType":"String","StringValue":"payload.goalId: required %d"},"tenant":{"DataType":"String","StringValue":"t%d"}}}\n' \
        "$i" "$i" "$i" "$i"
done | jq -sc .)
sqs SendMessageBatch "{\"QueueUrl\":\"$dlq\",\"Entries\":$entries}" \
    | jq -e '.Successful | length == 5' >/dev/null
ok $? "5 messages in the DLQ"
export SQS_QUEUE_URL=$main SQS_DLQ_URL=$dlq

"$ctl" dlq peek -n 3 > "$tmp/out" 2> "$tmp/err"
is $? 0 "peek: exit 0"
is "$(grep -c '  receives 1  reason schema$' "$tmp/out")" 3 \
   "peek: 3 messages with id, receive count and ferry-reason"
is "$(grep -c '^  error: payload.goalId: required [1-5]$' "$tmp/out")" 3 \
   "peek: with ferry-error"
is "$(grep -c '^  body: dead letter [1-5]$' "$tmp/out")" 3 \
   "peek: with the body"
grep -q '^shown 3; the DLQ holds about 5$' "$tmp/out"
ok $? "peek: counts"
is "$(count "$dlq")" "5/0" "peek consumed nothing, hid nothing"

"$ctl" dlq redrive --dry-run > "$tmp/out" 2> "$tmp/err"
is $? 0 "redrive --dry-run: exit 0"
grep -q "^would move 5 to $main (dry run: none moved)\$" "$tmp/out"
ok $? "redrive --dry-run: would move 5"
is "$(count "$dlq") $(count "$main")" "5/0 0/0" \
   "redrive --dry-run: moved none"

"$ctl" dlq redrive --max 2 > "$tmp/out" 2> "$tmp/err"
is $? 0 "redrive --max 2: exit 0"
grep -q "^moved 2 to $main, failed 0; the DLQ holds about 3\$" "$tmp/out"
ok $? "redrive --max 2: moved 2"
is "$(count "$dlq") $(count "$main")" "3/0 2/0" \
   "redrive --max 2: DLQ 3, main 2"

"$ctl" dlq redrive > "$tmp/out" 2> "$tmp/err"
is $? 0 "redrive: exit 0"
grep -q "^moved 3 to $main, failed 0; the DLQ holds about 0\$" "$tmp/out"
ok $? "redrive: moved the other 3"
is "$(count "$dlq") $(count "$main")" "0/0 5/0" "redrive: DLQ 0, main 5"
drain "$main" > "$tmp/moved"
is "$(jq -r .Body "$tmp/moved" | sort | tr '\n' ,)" \
   "dead letter 1,dead letter 2,dead letter 3,dead letter 4,dead letter 5," \
   "redrive: the bodies as they were"
is "$(jq -r '.MessageAttributes | keys | join(" ")' "$tmp/moved" | sort -u)" \
   "tenant" "redrive: ferry-* attributes stripped, the others kept"

#  5. purge
sqs SendMessageBatch "{\"QueueUrl\":\"$dlq\",\"Entries\":$entries}" >/dev/null
"$ctl" dlq purge > "$tmp/out" 2> "$tmp/err"
is $? 2 "purge without --yes: exit 2"
grep -q 'refusing without --yes' "$tmp/err"
ok $? "purge without --yes: says why"
is "$(count "$dlq")" "5/0" "purge without --yes: nothing deleted"
"$ctl" dlq purge --yes > "$tmp/out" 2> "$tmp/err"
is $? 0 "purge --yes: exit 0"
is "$(cat "$tmp/out")" "purged 5 from $dlq" "purge --yes: count"
is "$(count "$dlq")" "0/0" "purge --yes: the DLQ is empty"

#  6. Usage
"$ctl" dlq peek --max 3 > /dev/null 2>&1
is $? 2 "peek --max: usage error"
SQS_DLQ_URL= "$ctl" dlq peek > /dev/null 2> "$tmp/err"
is $? 2 "no DLQ URL: usage error"

done_testing
