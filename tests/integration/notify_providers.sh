#!/usr/bin/env bash
#  TAP: ferry-notify's other providers through the checking stand-ins of
#  tests/stubs/ (SigV4 and the OAuth2 assertion verified there), on the
#  stack's PostgreSQL and Redis (REDIS_URL; missing is a failure): e-mail
#  by SES API v2, SMS by SNS Publish, push by FCM HTTP v1 (an unregistered
#  token marked dead and never sent to again), a refusal failing at once;
#  SES failing with 500s until the channel fails over to SMTP (logged,
#  counted, shown on /notifications/health), then back to SES after the
#  cool-down; two processes sharing one provider's rate through Redis.
set -u
db=ferry_notify_p_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
. "$FERRY_SRCDIR/tests/integration/notify_env.sh"
[ -n "${REDIS_URL:-}" ] || bail_out "REDIS_URL is not set: start contrib/stack.sh"

fcm_stand_in
stub aws_notify_stub.py aws
stub smtp_stub.py smtp
export AWS_ACCESS_KEY_ID=AKIDFERRYNOTIFY AWS_SECRET_ACCESS_KEY='ferry/notify+secret'
export AWS_REGION=eu-west-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
export AWS_ENDPOINT_URL_SESV2="http://127.0.0.1:$aws_port"
export AWS_ENDPOINT_URL_SNS="http://127.0.0.1:$aws_port"

"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
start_broker 9080
start_notify () {
    "$notify" --set notify.broker="$endpoint" \
        --set notify.template_dir="$FERRY_SRCDIR/templates" \
        --set notify.smtp_url="smtp://127.0.0.1:$smtp_port" \
        --set notify.smtp_starttls=none --set notify.sweep_ms=100 \
        --set notify.backoff_base_ms=50 --set notify.backoff_max_ms=100 \
        --set log.level=notice "$@" 2>>"$tmp/notify.log" &
    pids+=($!)
    last_pid=$!
    for _ in $(seq 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' \
             "$url/notifications/health")" = 200 ] && break
        sleep 0.1
    done
}
#  send CHANNEL RECIPIENT_JSON: POST /notifications/send; id gets its id.
send () {
    api -d "{\"channel\": \"$1\", \"template\": \"user.welcome\", \"recipient\": $2, \"data\": {\"company\": \"Acme\"}}" \
        "$url/notifications/send" > /dev/null
    id=$(field "$(cat "$tmp/body")" 'm["id"]')
}
start_notify --set notify.email_provider=ses --set notify.email_fallback=smtp \
    --set notify.sms_provider=sns --set notify.push_provider=fcm \
    --set notify.fcm_key_file="$tmp/sa.json" --set notify.max_attempts=6 \
    --set notify.failover_failures=3 --set notify.failover_cooldown_ms=5000
main_pid=$last_pid
curl -s "$url/notifications/health" > "$tmp/health"
is "$(field "$(cat "$tmp/health")" '" ".join(c["channel"] + ":" + str(c["active"]) for c in m["providers"])')" \
    "email:ses sms:sns push:fcm in_app:inbox" "health: a provider per channel"

#  1. SES, SNS, FCM.
send email '{"email": "ana@example.com", "name": "Ana"}'
is "$(settled "$id")" "sent 1 ses" "e-mail by SES"
log=$(stub_log "$aws_port")
is "$(field "$log" '[(r["signed"], r["body"]["Content"]["Simple"]["Subject"]["Data"]) for r in m["requests"] if r["service"] == "ses"][-1]')" \
    "(True, 'Welcome to Acme, Ana')" "SES got it signed, with the subject"
send sms '{"phone": "+33612345678", "name": "Ana"}'
is "$(settled "$id")" "sent 1 sns" "SMS by SNS"
log=$(stub_log "$aws_port")
is "$(field "$log" '[(r["signed"], r["body"]["PhoneNumber"], "Your account at Acme" in r["body"]["Message"]) for r in m["requests"] if r["service"] == "sns"][-1]')" \
    "(True, '+33612345678', True)" "SNS got the text to the number, signed"
send push '{"deviceTokens": ["tok-ok-1", "dead-1"], "name": "Ana"}'
is "$(settled "$id")" "sent 1 fcm" "push by FCM (one live device)"
is "$(q "SELECT count(*) FROM notify.dead_tokens WHERE token = 'dead-1'")" 1 \
    "the unregistered token is marked dead"
log=$(stub_log "$fcm_port")
is "$(field "$log" 'sum(1 for r in m["requests"] if r["kind"] == "send" and r["status"] == 200 and r["body"]["message"]["notification"]["title"] == "Welcome to Acme, Ana")')" \
    1 "FCM got the title, with a token its OAuth endpoint issued"
send push '{"deviceTokens": ["dead-1"]}'
row=$(settled "$id")
is "$row" "failed 1 -" "a push to a dead token only: failed at once"
log=$(stub_log "$fcm_port")
is "$(field "$log" 'sum(1 for r in m["requests"] if r["kind"] == "send" and r["body"]["message"].get("token") == "dead-1")')" \
    1 "and FCM was not asked again"
send email '{"email": "rejected@example.com"}'
is "$(settled "$id")" "failed 1 ses" "SES MessageRejected: failed at once"

#  2. Failover: SES answers 500 until the channel goes to SMTP.
send email '{"email": "fail500-1000@example.com"}'
row=$(settled "$id")
is "$row" "sent 4 smtp" "three 500s from SES, then sent by SMTP: $row"
grep -q "email: failing over from ses to smtp after 3 retryable failures" \
    "$tmp/notify.log"
ok $? "the switch is logged"
curl -s "$url/notifications/health" > "$tmp/health"
is "$(field "$(cat "$tmp/health")" '[(c["active"], c["state"]) for c in m["providers"] if c["channel"] == "email"][0]')" \
    "('smtp', 'failed_over')" "health: e-mail failed over to SMTP"
api "$url/notifications/metrics" > /dev/null
grep -q '^ferry_notify_failovers_total{channel="email"} 1' "$tmp/body"
ok $? "ferry_notify_failovers_total counts it"
send email '{"email": "during@example.com"}'
is "$(settled "$id")" "sent 1 smtp" "during the cool-down, SMTP"
sleep 5.1
send email '{"email": "back@example.com"}'
is "$(settled "$id")" "sent 1 ses" "after the cool-down SES again, and it works"
curl -s "$url/notifications/health" > "$tmp/health"
is "$(field "$(cat "$tmp/health")" '[(c["active"], c["state"]) for c in m["providers"] if c["channel"] == "email"][0]')" \
    "('ses', 'primary')" "health: back on the primary"
api "$url/notifications/metrics" > /dev/null
grep -q '^ferry_notify_recoveries_total{channel="email"} 1' "$tmp/body"
ok $? "ferry_notify_recoveries_total counts the way back"
kill -TERM $main_pid
wait $main_pid

#  3. One rate shared by two processes through Redis: 100 e-mails at
#  20/s (a burst of 20) take 4 s whichever process sends them.
redis-cli -u "$REDIS_URL" DEL ferry:notify:bucket:smtp > /dev/null
for n in 1 2; do
    start_notify --set notify.rate_limits=smtp:20 --set notify.name=rate$n
done
python3 - > "$tmp/bulk.json" <<'PY'
import json
print(json.dumps({"channel": "email", "template": "user.welcome",
    "data": {"company": "R"}, "recipients": [
        {"email": "rate%d@example.com" % i} for i in range(100)]}))
PY
start=$(date +%s%N)
api --data-binary @"$tmp/bulk.json" "$url/notifications/send-bulk" > /dev/null
batch=$(field "$(cat "$tmp/body")" 'm["batchId"]')
for _ in $(seq 300); do
    api "$url/notifications/batches/$batch" > /dev/null
    [ "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" = 100 ] && break
    sleep 0.05
done
ms=$((($(date +%s%N) - start) / 1000000))
is "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" 100 "100 sent"
[ "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" = 100 ] ||
    diag "$(cat "$tmp/body"; q "SELECT status, attempts, last_error, claimed_by, claimed_until - now() FROM notify.deliveries WHERE batch_id = '$batch' AND status <> 'sent'"; tail -20 "$tmp/notify.log")"
[ "$ms" -ge 3800 ]
ok $? "at 20/s with a burst of 20: at least 4 s ($ms ms)"
is "$(q "SELECT count(DISTINCT split_part(claimed_by, '/', 1)) FROM notify.deliveries WHERE batch_id = '$batch'")" \
    2 "both processes sent some"
done_testing
