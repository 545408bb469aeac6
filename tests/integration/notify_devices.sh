#!/usr/bin/env bash
#  TAP: ferry-notify's push devices, through the FCM stand-in of
#  tests/stubs/ (the OAuth2 assertion verified there; its magic tokens:
#  dead-* unregistered, unavailable-N-* the first N answers 503) on the
#  stack's PostgreSQL, a real ferry-broker with HTTP and ferryctl send as
#  the publisher. Covers: PUT /notifications/devices/:userId (bad bodies
#  400, a bad user id 404, no token 401; 201 then 200 for the same again),
#  GET and DELETE; a push addressed by user id reaching each live device
#  of the user once (two devices, one FCM calls unregistered: marked dead,
#  counted, never sent to again, until it is registered again); a retry
#  going only to the device that failed, never again to one that accepted;
#  a user without a live device failing at once with its reason, counted;
#  a token registered by another user moving to them; notification.requested
#  by user id; the rule-driven goal.completed reaching the owner's
#  manager's devices end to end (user.created events feed the directory);
#  FCM's shared rate (Redis: REDIS_URL) taken per device; SIGKILL in the
#  middle of a bulk push to users of several devices, then a restart.
set -u
db=ferry_notify_d_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
. "$FERRY_SRCDIR/tests/integration/notify_env.sh"
[ -n "${REDIS_URL:-}" ] || bail_out "REDIS_URL is not set: start contrib/stack.sh"
company=5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11
newid () { python3 -c 'import uuid; print(uuid.uuid4())'; }
fcm_stand_in

"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
start_broker 9430 --set "broker.routes=notify:notification.*,user.*,goal.completed"
start_notify () {
    "$notify" --set notify.broker="$endpoint" \
        --set notify.template_dir="$FERRY_SRCDIR/templates" \
        --set notify.rules_file="$FERRY_SRCDIR/contrib/notify.rules.json" \
        --set notify.email_provider=none --set notify.push_provider=fcm \
        --set notify.fcm_key_file="$tmp/sa.json" --set notify.sweep_ms=100 \
        --set notify.backoff_base_ms=50 --set notify.backoff_max_ms=100 \
        --set log.level=notice "$@" 2>>"$tmp/notify.log" &
    notify_pid=$!
    pids+=($notify_pid)
    for _ in $(seq 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' \
             "$url/notifications/health")" = 200 ] && break
        sleep 0.1
    done
}
start_notify

#  register USER TOKEN PLATFORM: PUT /notifications/devices/USER; the code.
register () {
    api -X PUT -d "{\"token\": \"$2\", \"platform\": \"$3\", \"appVersion\": \"4.2.0\", \"locale\": \"fr-CA\"}" \
        "$url/notifications/devices/$1"
}
#  devices USER: the user's devices as "token:dead ..." (dead 1 or 0).
devices () {
    api "$url/notifications/devices/$1" > /dev/null
    field "$(cat "$tmp/body")" '" ".join("%s:%d" % (d["token"], d["deadAt"] is not None) for d in m["devices"])'
}
#  push USER: POST /notifications/send, a push to USER by id; id gets its id.
push () {
    api -d "{\"channel\": \"push\", \"template\": \"user.welcome\", \"recipient\": {\"userId\": \"$1\"}, \"data\": {\"company\": \"Acme\"}}" \
        "$url/notifications/send" > /dev/null
    id=$(field "$(cat "$tmp/body")" 'm["id"]')
}
#  sends TOKEN: how many sends FCM got for TOKEN.
sends () {
    stub_log "$fcm_port" | python3 -c '
import json, sys
print(sum(1 for r in json.load(sys.stdin)["requests"]
          if r["kind"] == "send" and r["body"]["message"].get("token") == sys.argv[1]))' "$1"
}
metric () {
    api "$url/notifications/metrics" > /dev/null
    sed -n "s/^$1 //p" "$tmp/body"
}

#  1. Registration: bad input refused.
ana=$(newid)
for bad in \
    '|400 the body must be a JSON object' \
    '[1]|400 the body must be a JSON object' \
    '{"platform": "android"}|400 token must be a device registration token: 1 to 1024 of A-Z a-z 0-9 : _ . -' \
    '{"token": "a b", "platform": "android"}|400 token must be a device registration token: 1 to 1024 of A-Z a-z 0-9 : _ . -' \
    '{"token": 42, "platform": "android"}|400 token must be a device registration token: 1 to 1024 of A-Z a-z 0-9 : _ . -' \
    '{"token": "t1"}|400 platform must be android, ios or web' \
    '{"token": "t1", "platform": "symbian"}|400 platform must be android, ios or web' \
    '{"token": "t1", "platform": "ios", "appVersion": 4}|400 appVersion must be a version: 1 to 64 of A-Z a-z 0-9 . - + _' \
    '{"token": "t1", "platform": "ios", "locale": "fr CA"}|400 locale must be a locale (fr-CA): 1 to 35 of A-Z a-z 0-9 - _'
do
    code=$(api -X PUT -d "${bad%%|*}" "$url/notifications/devices/$ana")
    is "$code $(field "$(cat "$tmp/body")" 'm["error"]["message"]')" \
        "${bad#*|}" "PUT ${bad%%|*}: ${bad#*|}"
done
long=$(python3 -c 'print("x" * 1025)')
code=$(api -X PUT -d "{\"token\": \"$long\", \"platform\": \"web\"}" \
       "$url/notifications/devices/$ana")
is "$code" 400 "a token of 1025 bytes: 400"
code=$(api -X PUT -d '{"token": "t1", "platform": "web"}' \
       "$url/notifications/devices/not-a-user")
is "$code" 404 "a user id that is not a uuid: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
       -H 'Content-Type: application/json' \
       -d '{"token": "t1", "platform": "web"}' "$url/notifications/devices/$ana")
is "$code" 401 "without a service token: 401"
is "$(q "SELECT count(*) FROM notify.devices")" 0 "nothing registered"

#  2. Two devices.
is "$(register "$ana" tok-ok-ana android)" 201 "PUT a new device: 201"
is "$(field "$(cat "$tmp/body")" 'm["token"], m["platform"], m["appVersion"], m["locale"], m["deadAt"]')" \
    "tok-ok-ana android 4.2.0 fr-CA None" "it answers the device"
is "$(register "$ana" tok-ok-ana android)" 200 "the same again: 200"
is "$(register "$ana" dead-ana ios)" 201 "a second device: 201"
is "$(devices "$ana")" "dead-ana:0 tok-ok-ana:0" "GET: both, the newest first"

#  3. A push to the user reaches both; FCM calls one unregistered.
push "$ana"
is "$(settled "$id")" "sent 1 fcm" "a push by user id: sent"
is "$(sends tok-ok-ana) $(sends dead-ana)" "1 1" "one send to each device"
is "$(devices "$ana")" "dead-ana:1 tok-ok-ana:0" "the unregistered one is dead"
api "$url/notifications/$id" > /dev/null
is "$(field "$(cat "$tmp/body")" 'sorted((d["token"], d["status"]) for d in m["devices"])')" \
    "[('dead-ana', 'dead'), ('tok-ok-ana', 'sent')]" \
    "GET /notifications/:id: what each device came to"
is "$(metric ferry_notify_dead_tokens_total)" 1 "ferry_notify_dead_tokens_total 1"
push "$ana"
is "$(settled "$id")" "sent 1 fcm" "a second push: sent"
is "$(sends tok-ok-ana) $(sends dead-ana)" "2 1" "the dead device is not sent to"

#  4. Registered again, the dead token lives and is sent to.
is "$(register "$ana" dead-ana ios)" 200 "the dead token registered again: 200"
is "$(devices "$ana")" "dead-ana:0 tok-ok-ana:0" "it is live"
push "$ana"
is "$(settled "$id")" "sent 1 fcm" "a third push: sent"
is "$(sends tok-ok-ana) $(sends dead-ana)" "3 2" "both devices got it"

#  5. A retry goes only to the device that failed, never to one that
#  accepted: each device has it once.
bo=$(newid)
register "$bo" tok-ok-bo web > /dev/null
register "$bo" unavailable-1-bo android > /dev/null
push "$bo"
is "$(settled "$id")" "sent 2 fcm" "one device 503: sent at the second attempt"
is "$(sends tok-ok-bo) $(sends unavailable-1-bo)" "1 2" \
    "the device that accepted it at once is not sent to again"
is "$(q "SELECT provider_message_id IS NOT NULL FROM notify.deliveries WHERE id = '$id'")" \
    t "its message id recorded"

#  5b. A token given twice in one notification is one device: one send.
api -d '{"channel": "push", "template": "user.welcome", "recipient": {"deviceTokens": ["tok-twice", "tok-twice"]}, "data": {"company": "Acme"}}' \
    "$url/notifications/send" > /dev/null
id=$(field "$(cat "$tmp/body")" 'm["id"]')
is "$(settled "$id")" "sent 1 fcm" "a push naming one token twice: sent"
is "$(sends tok-twice)" 1 "that device got it once"

#  6. A user without a live device fails at once, with its reason.
cy=$(newid)
before=$(metric ferry_notify_unknown_recipients_total)
push "$cy"
is "$(settled "$id")" "failed 1 -" "a push to a user without devices: failed"
is "$(q "SELECT last_error FROM notify.deliveries WHERE id = '$id'")" \
    "no_device: user $cy has no live device token (none registered, or FCM called each unregistered)" \
    "with the reason"
is "$(metric ferry_notify_unknown_recipients_total)" "$((before + 1))" \
    "counted in ferry_notify_unknown_recipients_total"

#  7. A token registered by another user moves; DELETE forgets one.
is "$(register "$cy" tok-ok-bo ios)" 201 "bo's token registered for cy: 201"
is "$(devices "$bo") / $(devices "$cy")" \
    "unavailable-1-bo:0 / tok-ok-bo:0" "it moved from bo to cy"
code=$(api -X DELETE "$url/notifications/devices/$bo/unavailable-1-bo")
is "$code" 204 "DELETE a device: 204"
code=$(api -X DELETE "$url/notifications/devices/$bo/unavailable-1-bo")
is "$code" 404 "DELETE it again: 404"
code=$(api -X DELETE "$url/notifications/devices/$bo/tok-ok-bo")
is "$code" 404 "DELETE another user's device: 404"
is "$(devices "$bo")" "" "bo has none left"

#  8. notification.requested by user id.
python3 - "$cy" "$company" > "$tmp/req.json" <<'PY'
import json, sys, uuid
user, company = sys.argv[1:3]
print(json.dumps({"id": str(uuid.uuid4()), "type": "notification.requested",
    "version": 1, "source": "test", "occurredAt": "2026-12-01T10:00:00.000Z",
    "companyId": company, "payload": {"channel": "push",
    "recipient": {"userId": user}, "template": "user.welcome",
    "locale": "en", "data": {"company": "Acme"}}}))
PY
out=$("$ctl" send --broker "$endpoint" --timeout-ms 20000 "$tmp/req.json" 2>&1 |
      tail -n 1)
is "$out" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "notification.requested to a user by id: ACKed once sent"
is "$(sends tok-ok-bo)" 2 "it reached the user's device"

#  9. The shipped goal.completed rule: a push to the goal owner's manager,
#  as the directory names them, on each of the manager's devices.
event () {
    python3 - "$2" "$3" "$company" > "$1" <<'PY'
import json, sys, uuid
kind, payload, company = sys.argv[1:4]
print(json.dumps({"id": str(uuid.uuid4()), "type": kind, "version": 1,
    "source": "test", "occurredAt": "2026-12-01T09:00:00.000Z",
    "companyId": company, "payload": json.loads(payload)}))
PY
}
boss=$(newid)
owner=$(newid)
event "$tmp/boss.json" user.created \
    "{\"userId\": \"$boss\", \"email\": \"boss@example.com\", \"firstName\": \"Bea\", \"lastName\": \"B\", \"roles\": [\"manager\"], \"locale\": \"en\", \"sendWelcome\": false}"
event "$tmp/owner.json" user.created \
    "{\"userId\": \"$owner\", \"email\": \"owner@example.com\", \"firstName\": \"Otto\", \"lastName\": \"O\", \"roles\": [\"employee\"], \"locale\": \"en\", \"managerId\": \"$boss\", \"sendWelcome\": false}"
cat "$tmp/boss.json" "$tmp/owner.json" > "$tmp/users.json"
out=$("$ctl" send --broker "$endpoint" --timeout-ms 20000 "$tmp/users.json" 2>&1 |
      tail -n 1)
is "$out" "sent 2, acked 2, nacked 0 (retryable 0), invalid 0" \
    "user.created of the manager and the owner ACKed"
register "$boss" tok-ok-boss-phone ios > /dev/null
register "$boss" tok-ok-boss-tablet android > /dev/null
register "$owner" tok-ok-owner android > /dev/null
event "$tmp/goal.json" goal.completed \
    "{\"goalId\": \"$(newid)\", \"ownerId\": \"$owner\", \"completedAt\": \"2026-12-01T12:00:00.000Z\", \"finalProgress\": 100, \"outcome\": \"achieved\"}"
out=$("$ctl" send --broker "$endpoint" --timeout-ms 20000 "$tmp/goal.json" 2>&1 |
      tail -n 1)
is "$out" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "goal.completed ACKed once sent"
is "$(sends tok-ok-boss-phone) $(sends tok-ok-boss-tablet) $(sends tok-ok-owner)" \
    "1 1 0" "each of the manager's devices got it, the owner's none"
is "$(stub_log "$fcm_port" | python3 -c '
import json, sys
print(sorted({r["body"]["message"]["notification"]["title"] for r in json.load(sys.stdin)["requests"]
              if r["kind"] == "send" and r["body"]["message"].get("token", "").startswith("tok-ok-boss")}))')" \
    "['Goal completed: achieved']" "with the rule's template"
is "$(q "SELECT status || ' ' || user_id FROM notify.deliveries WHERE idempotency_key = '$(field "$(cat "$tmp/goal.json")" 'm["id"]'):goal_completed'")" \
    "sent $boss" "recorded for the manager, sent"

#  10. FCM's rate (notify.rate_limits) counts sends, so a push takes one
#  token per device: 4 pushes to 5 devices are 20 sends, at 5/s with a
#  burst of 5 the last goes after 2.2 s (a token per push would send all
#  at once).
kill -TERM $notify_pid
wait $notify_pid
redis-cli -u "$REDIS_URL" DEL ferry:notify:bucket:fcm > /dev/null
start_notify --set notify.rate_limits=fcm:5
many=$(newid)
for n in 1 2 3 4 5; do register "$many" "tok-ok-many-$n" android > /dev/null; done
start=$(date +%s%N)
ids=()
for n in 1 2 3 4; do push "$many"; ids+=("$id"); done
for n in 0 1 2 3; do
    is "$(settled "${ids[n]}")" "sent 1 fcm" "rate-limited push $((n + 1)): sent"
done
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 2000 ]
ok $? "20 sends at 5/s with a burst of 5: at least 2 s ($ms ms)"
is "$(for n in 1 2 3 4 5; do sends "tok-ok-many-$n"; done | sort -u)" 4 \
    "each device got each push once"

#  11. SIGKILL in the middle of a bulk push to 300 users of 3 devices
#  each (900 sends, at 300/s so that the kill comes mid-batch), then a
#  restart: each device gets it, and a device twice only in the one
#  window (doc/notify.md, "Push devices"): at most the sends of the
#  notifications with FCM at the kill, notify.concurrency (64) pushes
#  of 3 devices, each once more.
kill -TERM $notify_pid
wait $notify_pid
redis-cli -u "$REDIS_URL" DEL ferry:notify:bucket:fcm > /dev/null
kill_users=300
q "INSERT INTO notify.devices (token, user_id, platform) SELECT 'tok-ok-k' || u || '-' || d, md5('kill' || u)::uuid, 'android' FROM generate_series(1, $kill_users) u, generate_series(1, 3) d" > /dev/null
python3 - "$kill_users" > "$tmp/kill.json" <<'PY'
import hashlib, json, sys, uuid
n = int(sys.argv[1])
print(json.dumps({"channel": "push", "template": "user.welcome",
    "data": {"company": "Kill"}, "recipients": [
        {"userId": str(uuid.UUID(hashlib.md5(b"kill%d" % u).hexdigest()))}
        for u in range(1, n + 1)]}))
PY
#  kill_sends: "sends devices" of the tok-ok-k tokens so far, then each
#  count of sends a device got, and how many devices got it so often.
kill_sends () {
    stub_log "$fcm_port" | python3 -c '
import collections, json, sys
c = collections.Counter(r["body"]["message"].get("token") for r in json.load(sys.stdin)["requests"]
    if r["kind"] == "send" and r["body"]["message"].get("token", "").startswith("tok-ok-k"))
print(sum(c.values()), len(c), *sorted("%dx%d" % (k, v) for k, v in collections.Counter(c.values()).items()))'
}
start_notify --set notify.rate_limits=fcm:300 --set notify.lease_s=5
api --data-binary @"$tmp/kill.json" "$url/notifications/send-bulk" > /dev/null
batch=$(field "$(cat "$tmp/body")" 'm["batchId"]')
for _ in $(seq 200); do
    set -- $(kill_sends)
    [ "$1" -gt 200 ] && break
    sleep 0.05
done
kill -KILL $notify_pid
wait $notify_pid 2>/dev/null
set -- $(kill_sends)
before=$1
[ "$before" -gt 0 ] && [ "$before" -lt 900 ]
ok $? "killed in the middle of the batch: $before of 900 sends made"
start_notify --set notify.lease_s=5
for _ in $(seq 150); do
    api "$url/notifications/batches/$batch" > /dev/null
    [ "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" = "$kill_users" ] && break
    sleep 0.2
done
is "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" "$kill_users" \
    "after SIGKILL and a restart: the $kill_users pushes sent"
set -- $(kill_sends)
total=$1 devices=$2
shift 2
is "$devices" 900 "every one of the 900 devices reached"
dups=$((total - 900))
[ "$dups" -ge 0 ] && [ "$dups" -le $((64 * 3)) ] &&
    [[ " $* " != *" 3x"* && " $* " != *" 4x"* ]]
ok $? "copies ($dups; devices by sends: $*) only in the window: at most 64 pushes x 3 devices, each once more"
is "$(q "SELECT count(*) FROM notify.delivery_tokens t JOIN notify.deliveries d ON d.id = t.delivery_id WHERE d.batch_id = '$batch' AND t.status = 'sent'")" \
    900 "the ledger records each device sent once"
done_testing
