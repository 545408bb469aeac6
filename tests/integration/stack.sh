#!/usr/bin/env bash
#  TAP: the services of contrib/stack.sh answer as the ferry programs will
#  need them to. Reads only the environment that `contrib/stack.sh env`
#  prints (contrib/test.sh exports it before make check): PostgreSQL takes a
#  query as the ferry role, Redis answers PING, the SQS emulator holds the
#  main queue and its dead letter queue with the redrive policy the bridge
#  relies on, and a message sent over SMTP shows up in the capture server's
#  HTTP API. A missing variable or a dead service is "not ok", never a skip:
#  every later ferry integration test would silently test nothing.
set -u
. "$FERRY_SRCDIR/tests/pg_lock.sh"

. "$FERRY_SRCDIR/tests/tap.sh"

#  Bounded everywhere: a hung service must fail the test, not stall make.
export PGCONNECT_TIMEOUT=5

vars="DATABASE_URL REDIS_URL SQS_QUEUE_URL SQS_DLQ_URL AWS_ENDPOINT_URL_SQS
    AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY SMTP_URL
    SMTP_CAPTURE_URL"
for var in $vars; do
    [ -n "${!var:-}" ]
    ok $? "$var is set"
done
if [ "$tap_failed" -ne 0 ]; then
    diag "run: eval \"\$(contrib/stack.sh env)\" after contrib/stack.sh start"
fi

#  ---- PostgreSQL
row=$(timeout 10 psql "${DATABASE_URL:-}" -X -q -tA -v ON_ERROR_STOP=1 \
    -c "SELECT current_user || ' ' || (current_setting('server_version_num')::int / 10000) || ' ' || 6 * 7" 2>&1)
is "$row" "ferry 15 42" "postgresql: query as role ferry on server 15"

#  ---- Redis
reply=$(timeout 10 redis-cli -u "${REDIS_URL:-redis://0.0.0.0:1}" ping 2>&1)
is "$reply" "PONG" "redis: PING"
major=$(timeout 10 redis-cli -u "${REDIS_URL:-redis://0.0.0.0:1}" \
    info server 2>&1 | sed -n 's/^redis_version:\([0-9]*\).*/\1/p')
[ "${major:-0}" -ge 7 ] 2>/dev/null
ok $? "redis: server version 7 or later (got '${major:-none}')"

#  ---- SQS, with the JSON 1.0 protocol as the bridge speaks it
sqs () {
    local action=$1 body=$2
    curl -sS --max-time 10 -X POST "${AWS_ENDPOINT_URL_SQS:-http://0.0.0.0:1}/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: AmazonSQS.$action" -d "$body" 2>&1
}

main_name=${SQS_QUEUE_URL:-}; main_name=${main_name##*/}
dlq_name=${SQS_DLQ_URL:-}; dlq_name=${dlq_name##*/}
url=$(sqs GetQueueUrl "{\"QueueName\":\"$main_name\"}" | jq -r .QueueUrl 2>&1)
is "$url" "${SQS_QUEUE_URL:-}" "sqs: GetQueueUrl finds the main queue"
url=$(sqs GetQueueUrl "{\"QueueName\":\"$dlq_name\"}" | jq -r .QueueUrl 2>&1)
is "$url" "${SQS_DLQ_URL:-}" "sqs: GetQueueUrl finds the dead letter queue"

dlq_arn=$(sqs GetQueueAttributes \
    "{\"QueueUrl\":\"${SQS_DLQ_URL:-}\",\"AttributeNames\":[\"QueueArn\"]}" |
    jq -r '.Attributes.QueueArn' 2>&1)
case $dlq_arn in
    arn:aws:sqs:*:"$dlq_name") true ;;
    *) false ;;
esac
ok $? "sqs: dead letter queue has an ARN ($dlq_arn)"

redrive=$(sqs GetQueueAttributes \
    "{\"QueueUrl\":\"${SQS_QUEUE_URL:-}\",\"AttributeNames\":[\"RedrivePolicy\"]}" |
    jq -r '.Attributes.RedrivePolicy' 2>&1)
target=$(printf '%s' "$redrive" | jq -r .deadLetterTargetArn 2>&1)
is "$target" "$dlq_arn" "sqs: main queue redrives to the dead letter queue"
count=$(printf '%s' "$redrive" | jq -r '.maxReceiveCount | tostring' 2>&1)
is "$count" "5" "sqs: redrive maxReceiveCount is 5"

#  A round trip on a queue of our own: other tests own the ferry queues'
#  messages and may be running in parallel.
scratch="stack-selftest-$$"
surl=$(sqs CreateQueue "{\"QueueName\":\"$scratch\"}" | jq -r .QueueUrl 2>&1)
sqs SendMessage "{\"QueueUrl\":\"$surl\",\"MessageBody\":\"hello $$\"}" \
    >/dev/null
got=$(sqs ReceiveMessage \
    "{\"QueueUrl\":\"$surl\",\"MaxNumberOfMessages\":1,\"WaitTimeSeconds\":2}" |
    jq -r '.Messages[0].Body' 2>&1)
is "$got" "hello $$" "sqs: a message sent comes back from ReceiveMessage"
sqs DeleteQueue "{\"QueueUrl\":\"$surl\"}" >/dev/null

#  ---- SMTP capture
token="ferry-stack-$$-$RANDOM"
mail=$(mktemp)
trap 'rm -f "$mail"' EXIT
printf 'From: ferry@example.test\r\nTo: someone@example.test\r\nSubject: %s\r\n\r\nstack self-test\r\n' \
    "$token" >"$mail"
out=$(curl -sS --max-time 10 "${SMTP_URL:-smtp://0.0.0.0:1}" \
    --mail-from ferry@example.test --mail-rcpt someone@example.test \
    -T "$mail" 2>&1)
ok $? "smtp: curl delivers a message"
[ -z "$out" ] || diag "$out"

found=1
for _ in $(seq 1 25); do
    #  jq -e answers 0 on empty input: a dead server must not count.
    #  Asked by subject: the whole list of a full mailbox is too much.
    if emails=$(curl -sSf --max-time 5 --get --data-urlencode "subject=$token" \
                "${SMTP_CAPTURE_URL:-http://0.0.0.0:1}/email" 2>/dev/null) &&
        [ -n "$emails" ] &&
        printf '%s' "$emails" | jq -e --arg s "$token" \
            'map(select(.subject == $s and .to[0].address == "someone@example.test")) | length == 1' \
            >/dev/null 2>&1; then
        found=0
        break
    fi
    sleep 0.2
done
ok $found "smtp: the message shows up in the capture API"

done_testing
