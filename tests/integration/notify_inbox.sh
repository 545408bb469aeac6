#!/usr/bin/env bash
#  TAP: ferry-notify's in_app channel, whose provider is the ledger's
#  inbox (doc/notify.md, "In-app notifications"), on the stack's
#  PostgreSQL, a real ferry-broker with HTTP and ferryctl send as the
#  publisher. Covers: a rule's review.assigned on in_app reaching the
#  reviewer's inbox, rendered (subject and text), exactly once under
#  redelivery; quiet hours not holding it, an opt-out suppressing it;
#  GET /notifications/inbox/:userId newest first, keyset pages, ?unread,
#  the unread count; POST .../read by ids and all, idempotent; the 400s;
#  a recipient without a user id refused (API) or failed (bulk).
set -u
db=ferry_notify_i_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
. "$FERRY_SRCDIR/tests/integration/notify_env.sh"
company=5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11
newid () { python3 -c 'import uuid; print(uuid.uuid4())'; }

cat > "$tmp/rules.json" <<'EOF_RULES'
{"rules": [
  {"name": "review_bell", "event": "review.assigned", "channel": "in_app",
   "template": "review.assigned", "category": "review",
   "recipient": {"userId": "payload.reviewerId"}}]}
EOF_RULES
"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
start_broker 9530 --set "broker.routes=notify:notification.*,review.assigned"
"$notify" --set notify.broker="$endpoint" \
    --set notify.template_dir="$FERRY_SRCDIR/templates" \
    --set notify.rules_file="$tmp/rules.json" \
    --set notify.email_provider=none --set notify.sweep_ms=100 \
    --set log.level=notice 2>>"$tmp/notify.log" &
pids+=($!)
for _ in $(seq 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' \
         "$url/notifications/health")" = 200 ] && break
    sleep 0.1
done

#  inbox USER [QUERY]: GET /notifications/inbox/USER?QUERY; the code.
inbox () { api "$url/notifications/inbox/$1${2:+?$2}"; }
#  read USER BODY: POST /notifications/inbox/USER/read; the code.
read_ () { api -d "$2" "$url/notifications/inbox/$1/read"; }
body () { field "$(cat "$tmp/body")" "$1"; }
#  bell USER [CATEGORY]: POST /notifications/send, in_app to USER; id.
bell () {
    api -d "{\"channel\": \"in_app\", \"template\": \"user.welcome\", \"category\": \"${2:-hello}\", \"recipient\": {\"userId\": \"$1\"}, \"data\": {\"company\": \"Acme\", \"recipient\": {\"name\": \"Ana\"}}}" \
        "$url/notifications/send" > /dev/null
    id=$(body 'm["id"]')
}

#  1. A rule on in_app: the reviewer's inbox, once under redelivery.
maya=$(newid)
python3 - "$maya" "$company" > "$tmp/review.json" <<'PY'
import json, sys, uuid
maya, company = sys.argv[1:3]
print(json.dumps({"id": str(uuid.uuid4()), "type": "review.assigned",
    "version": 1, "source": "test", "occurredAt": "2026-12-01T10:00:00.000Z",
    "companyId": company, "payload": {"reviewId": str(uuid.uuid4()),
    "cycleId": str(uuid.uuid4()), "cycleName": "Q4", "revieweeId":
    str(uuid.uuid4()), "revieweeName": "Tom L", "reviewerId": maya,
    "reviewerName": "Maya H", "kind": "manager",
    "dueAt": "2027-03-07T17:00:00.000Z"}}))
PY
send () { "$ctl" send --broker "$endpoint" --timeout-ms 20000 "$1" 2>&1 | tail -n 1; }
is "$(send "$tmp/review.json")" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "review.assigned on in_app: ACKed once in the inbox"
is "$(inbox "$maya")" 200 "GET the reviewer's inbox: 200"
is "$(body 'm["userId"], m["unread"], len(m["items"]), m["nextCursor"]')" \
    "$maya 1 1 None" "one unread item, no next page"
is "$(body 'm["items"][0]["subject"], m["items"][0]["category"], m["items"][0]["template"], m["items"][0]["readAt"]')" \
    "Review to write: Tom L review review.assigned None" "rendered: its subject"
text=$(body 'm["items"][0]["text"]')
[[ "$text" == *"Tom L"* ]]
ok $? "and its text part"
rid=$(body 'm["items"][0]["id"]')
is "$(q "SELECT status || ' ' || attempts || ' ' || provider FROM notify.deliveries WHERE id = '$rid'")" \
    "sent 1 inbox" "the delivery is sent, by the inbox"
is "$(send "$tmp/review.json")" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "the event redelivered: ACKed"
python3 - "$tmp/review.json" > "$tmp/twice.json" <<'PY'
import sys
line = open(sys.argv[1]).read().strip()
print(line); print(line)
PY
is "$(send "$tmp/twice.json")" \
    "sent 2, acked 2, nacked 0 (retryable 0), invalid 0" "twice more at once: ACKed"
is "$(q "SELECT count(*) FROM notify.inbox WHERE user_id = '$maya'") $(q "SELECT count(*) FROM notify.deliveries WHERE user_id = '$maya'")" \
    "1 1" "still one item, one delivery"

#  2. Quiet hours do not hold an in-app message (it makes no noise); an
#  opt-out of its category on in_app suppresses it.
ana=$(newid)
quiet=$(date -u -d '-1 hour' +%H:00)
api -X PUT -d "{\"timezone\": \"UTC\", \"quietHours\": {\"start\": \"$quiet\", \"end\": \"$(date -u -d '+2 hours' +%H:00)\"}, \"optOut\": {\"in_app\": [\"muted\"]}}" \
    "$url/notifications/preferences/$ana" > /dev/null
api -d "{\"channel\": \"email\", \"template\": \"user.welcome\", \"recipient\": {\"userId\": \"$ana\", \"email\": \"ana@example.com\"}}" \
    "$url/notifications/send" > /dev/null
is "$(body 'm["status"]')" held "inside the user's quiet hours an e-mail is held"
bell "$ana"
is "$(settled "$id")" "sent 1 inbox" "an in-app message is not: sent at once"
bell "$ana" muted
for _ in $(seq 50); do
    [ "$(q "SELECT status FROM notify.deliveries WHERE id = '$id'")" = suppressed ] && break
    sleep 0.1
done
is "$(q "SELECT status FROM notify.deliveries WHERE id = '$id'")" suppressed \
    "opted out of its category on in_app: suppressed"
is "$(q "SELECT count(*) FROM notify.inbox WHERE user_id = '$ana'")" 1 \
    "the suppressed one is not in the inbox"

#  3. Pages, newest first.
bo=$(newid)
ids=()
for n in 1 2 3 4 5; do
    bell "$bo"
    is "$(settled "$id")" "sent 1 inbox" "in-app $n to bo: sent"
    ids=("$id" "${ids[@]}")
done
seen=()
cursor=
for page in 1 2 3; do
    is "$(inbox "$bo" "limit=2${cursor:+&cursor=$cursor}")" 200 "page $page: 200"
    for i in $(body '" ".join(i["id"] for i in m["items"])'); do seen+=("$i"); done
    cursor=$(body 'm["nextCursor"] or ""')
    is "$(body 'm["unread"]')" 5 "page $page: unread 5"
done
is "${seen[*]}" "${ids[*]}" "three pages of 2, 2, 1: every item once, newest first"
is "$cursor" "" "the last page has no nextCursor"
inbox "$bo" > /dev/null
is "$(body '" ".join(i["id"] for i in m["items"])')" "${ids[*]}" \
    "the default page: all five, newest first"

#  4. Read marking, idempotent.
is "$(read_ "$bo" "{\"ids\": [\"${ids[0]}\", \"${ids[1]}\"]}")" 200 "POST read two: 200"
is "$(body 'm["marked"], m["unread"]')" "2 3" "two marked, three unread"
read_ "$bo" "{\"ids\": [\"${ids[0]}\", \"${ids[1]}\", \"$rid\"]}" > /dev/null
is "$(body 'm["marked"], m["unread"]')" "0 3" \
    "again (and another user's item): nothing marked"
inbox "$bo" "unread=true" > /dev/null
is "$(body '" ".join(i["id"] for i in m["items"])')" "${ids[*]:2}" \
    "?unread=true: the three unread"
inbox "$bo" "unread=true&limit=2" > /dev/null
cursor=$(body 'm["nextCursor"]')
inbox "$bo" "unread=true&limit=2&cursor=$cursor" > /dev/null
is "$(body '" ".join(i["id"] for i in m["items"]), m["nextCursor"]')" \
    "${ids[4]} None" "?unread=true pages too"
inbox "$bo" > /dev/null
is "$(body '[i["readAt"] is not None for i in m["items"]]')" \
    "[True, True, False, False, False]" "readAt set on the read ones"
first=$(q "SELECT read_at FROM notify.inbox WHERE delivery_id = '${ids[0]}'")
is "$(read_ "$bo" '{"all": true}')" 200 "POST read all: 200"
is "$(body 'm["marked"], m["unread"]')" "3 0" "the three others marked"
read_ "$bo" '{"all": true}' > /dev/null
is "$(body 'm["marked"], m["unread"]')" "0 0" "all again: nothing marked"
is "$(q "SELECT read_at FROM notify.inbox WHERE delivery_id = '${ids[0]}'")" \
    "$first" "a read item keeps its readAt"
inbox "$maya" > /dev/null
is "$(body 'm["unread"]')" 1 "another user's inbox untouched"

#  5. Bad requests.
for bad in \
    'unread=yes|unread must be true or false' \
    'limit=0|limit must be an integer from 1 to 100' \
    'limit=101|limit must be an integer from 1 to 100' \
    'limit=x|limit must be an integer from 1 to 100' \
    'cursor=abc|cursor must be the nextCursor of a previous page' \
    "cursor=$(newid)|cursor must be the nextCursor of a previous page" \
    "cursor=$rid|cursor must be the nextCursor of a previous page" \
    'page=2|unknown parameter page: unread, cursor, limit'
do
    code=$(inbox "$bo" "${bad%%|*}")
    is "$code $(body 'm["error"]["message"]')" "400 ${bad#*|}" "GET ?${bad%%|*}: 400"
done
is "$(inbox not-a-user)" 404 "GET a user id that is not a uuid: 404"
for bad in \
    '|the body must be a JSON object' \
    '{}|the body must be {"ids": [id, ...]} or {"all": true}' \
    '{"all": false}|all must be true' \
    "{\"all\": true, \"ids\": [\"${ids[0]}\"]}|the body must be {\"ids\": [id, ...]} or {\"all\": true}" \
    '{"ids": []}|ids must be a list of 1 to 1000 notification ids' \
    '{"ids": ["x"]}|ids must be a list of 1 to 1000 notification ids' \
    '{"ids": "x"}|ids must be a list of 1 to 1000 notification ids'
do
    code=$(read_ "$bo" "${bad%%|*}")
    is "$code $(body 'm["error"]["message"]')" "400 ${bad#*|}" "POST read ${bad%%|*}: 400"
done
is "$(read_ not-a-user '{"all": true}')" 404 "POST read for a user id that is not a uuid: 404"
code=$(curl -s -o /dev/null -w '%{http_code}' "$url/notifications/inbox/$bo")
is "$code" 401 "without a service token: 401"

#  6. An in-app notification needs a user: the API refuses one without,
#  a bulk send's recipient without one fails with the reason.
code=$(api -d '{"channel": "in_app", "template": "user.welcome", "recipient": {"email": "a@example.com"}}' \
       "$url/notifications/send")
is "$code $(body 'm["error"]["message"]')" \
    "400 an in_app notification goes to a user's inbox: recipient needs userId" \
    "POST send in_app without userId: 400"
api -d '{"channel": "in_app", "template": "user.welcome", "recipients": [{"email": "a@example.com"}]}' \
    "$url/notifications/send-bulk" > /dev/null
batch=$(body 'm["batchId"]')
did=$(q "SELECT id FROM notify.deliveries WHERE batch_id = '$batch'")
is "$(settled "$did")" "failed 1 -" "a bulk in_app recipient without userId: failed"
is "$(q "SELECT last_error FROM notify.deliveries WHERE id = '$did'")" \
    "the recipient has no userId: an in-app notification goes to a user's inbox" \
    "with the reason"

#  7. Health shows in_app's provider, the inbox.
api "$url/notifications/health" > /dev/null
is "$(body '[(c["active"], c["state"]) for c in m["providers"] if c["channel"] == "in_app"]')" \
    "[('inbox', 'primary')]" "/notifications/health: in_app by the inbox"
done_testing
