#!/usr/bin/env bash
#  TAP: ferry-notify end to end: the stack's PostgreSQL (a scratch
#  database, as audit.sh) and SMTP capture server (maildev: SMTP_URL and
#  SMTP_CAPTURE_URL from contrib/stack.sh env; missing is a failure), a
#  real ferry-broker with HTTP, ferryctl send as the publisher, and
#  tests/stubs/smtp_stub.py for the refusals maildev never gives and for
#  counting 10,000 messages. Covers: refusal of an unmigrated schema; a
#  French e-mail read back through maildev's API (headers, both parts,
#  encodings, escaping in HTML only, layout and partial); the same event
#  again sends nothing; a rule-mapped review.assigned; the rules file
#  checked and read again on SIGHUP; quiet hours (held until they end,
#  critical at once); an opted-out user
#  gets nothing (suppressed) and a critical category cannot be opted out
#  of; a missing template fails at once to the DLQ; POST
#  /notifications/send with an Idempotency-Key twice; a clean SIGTERM;
#  retryable refusals retried to notify.max_attempts then failed to the
#  DLQ, a permanent one at once; a 10,000-recipient bulk send arriving
#  exactly once each; SIGKILL in the middle of a bulk send and a restart
#  (every recipient reached, duplicates bounded by the sends in flight);
#  a worker started without its database (503, NACKs retryable).
set -u
db=ferry_notify_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
notify="$FERRY_BUILDDIR/workers/notify/ferry-notify"
[ -x "$notify" ] || bail_out "no $notify"
[ -n "${SMTP_URL:-}" ] && [ -n "${SMTP_CAPTURE_URL:-}" ] ||
    bail_out "SMTP_URL or SMTP_CAPTURE_URL is not set: start contrib/stack.sh"
tag=t$$r$RANDOM
user=5a1b2c3d-0000-4000-8000-0000000000$((10 + $$ % 80))
company=5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11

#  requested FILE TO TEMPLATE LOCALE [USERID [NAME]]: a
#  notification.requested event (a fresh id) to address TO, NDJSON.
requested () {
    python3 - "$2" "$3" "$4" "${5:-}" "$company" "${6:-Ana Müller}" \
        > "$1" <<'PY'
import json, sys, uuid
to, template, locale, user, company, name = sys.argv[1:7]
recipient = {"email": to, "name": name}
if user:
    recipient["userId"] = user
print(json.dumps({"id": str(uuid.uuid4()), "type": "notification.requested",
    "version": 1, "source": "test", "occurredAt": "2026-12-01T10:00:00.000Z",
    "companyId": company, "payload": {"channel": "email",
    "recipient": recipient, "template": template, "locale": locale,
    "data": {"company": "A&B <Société>",
             "link": "https://app.example/login?a=1&b=2"}}}))
PY
}

#  mails TO: the JSON list of what maildev holds for address TO, asked of
#  maildev by address: the whole list of a long-lived stack's mailbox may
#  be more than a client takes.
mails () {
    curl -s --get --data-urlencode "to.address=$1" "$SMTP_CAPTURE_URL/email" |
        python3 -c '
import json, sys
to = sys.argv[1]
print(json.dumps([m for m in json.load(sys.stdin)
                  if any(a["address"] == to for a in m.get("to", []))]))' "$1"
}
#  field JSON EXPR: a python expression on the parsed JSON (as m).
field () { python3 -c "import json,sys; m=json.load(sys.stdin); print($2)" <<<"$1"; }

send_ok () {
    out=$("$ctl" send --broker "$endpoint" --timeout-ms 20000 "$1" 2>&1 |
          tail -n 1)
    is "$out" "$2" "$3"
}

#  1. An unmigrated database: refused with one line, exit 2.
"$notify" --set notify.broker="ipc://$tmp/none.sock" > "$tmp/out" 2>&1
is "$?" 2 "an unmigrated database: exit 2"
is "$(wc -l < "$tmp/out")" 1 "with one line: $(head -c 120 "$tmp/out")"

"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
start_broker 8980 \
    --set "broker.routes=notify:notification.*,review.*,user.*,feedback.given,goal.completed"
cp "$FERRY_SRCDIR/contrib/notify.rules.json" "$tmp/rules.json"
start_notify () {
    "$notify" --set notify.broker="$endpoint" --set notify.smtp_starttls=none \
        --set notify.template_dir="$FERRY_SRCDIR/templates" \
        --set notify.rules_file="$tmp/rules.json" \
        --set notify.sweep_ms=100 --set notify.lease_s=5 \
        --set log.level=notice "$@" 2>>"$tmp/notify.log" &
    notify_pid=$!
    pids+=($notify_pid)
    for _ in $(seq 50); do
        code=$(curl -s -o "$tmp/health" -w '%{http_code}' \
               "$url/notifications/health")
        [ "$code" = 200 ] && break
        sleep 0.1
    done
}
api () { curl -sS -o "$tmp/body" -w '%{http_code}' \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
start_notify --set notify.smtp_url="$SMTP_URL"
is "$code" 200 "GET /notifications/health is 200"
is "$(field "$(cat "$tmp/health")" 'm["providers"][0]["active"] + " " + m["providers"][0]["state"]')" \
    "smtp primary" "health names the e-mail provider and its state"

#  2. A French e-mail, read back through maildev.
requested "$tmp/fr.json" "ana.$tag@example.com" user.welcome fr-FR
send_ok "$tmp/fr.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "notification.requested ACKed once sent"
got=$(mails "ana.$tag@example.com")
is "$(field "$got" 'len(m)')" 1 "one message in the capture server"
is "$(field "$got" 'm[0]["subject"]')" \
    "Bienvenue chez A&B <Société>, Ana Müller" "the French subject, raw"
[ "$(field "$got" '"Votre compte chez A&B <Société> est prêt" in m[0]["text"]')" = True ]
ok $? "the text part, not escaped"
[ "$(field "$got" '"A&amp;B &lt;Société&gt;" in m[0]["html"] and "login?a=1&amp;b=2" in m[0]["html"]')" = True ]
ok $? "the HTML part, escaped"
[ "$(field "$got" '"<title>Bienvenue</title>" in m[0]["html"] and "your company uses ferry" in m[0]["html"]')" = True ]
ok $? "the HTML through the layout and its partial"
id=$(q "SELECT id FROM notify.deliveries WHERE recipient->>'email' = 'ana.$tag@example.com'")
is "$(field "$got" 'm[0]["headers"]["x-ferry-delivery"]')" "$id" \
    "X-Ferry-Delivery is the ledger's id"
is "$(field "$got" 'm[0]["messageId"]')" "$id@localhost" \
    "the Message-ID is the delivery's"
[[ "$(field "$got" 'm[0]["headers"]["x-ferry-template"]')" == user.welcome.fr@* ]]
ok $? "the French variant was used"
source=$(curl -s "$SMTP_CAPTURE_URL/email/$(field "$got" 'm[0]["id"]')/source")
grep -q '^Subject: =?UTF-8?' <<<"$source"
ok $? "the subject travels as RFC 2047 encoded-words"
grep -q 'multipart/alternative' <<<"$source"
ok $? "multipart/alternative"
grep -qi 'Content-Transfer-Encoding: \(quoted-printable\|base64\)' <<<"$source"
ok $? "bodies quoted-printable or base64"
is "$(q "SELECT status || ' ' || attempts || ' ' || locale || ' ' || length(template_version) FROM notify.deliveries WHERE id = '$id'")" \
    "sent 1 fr-FR 64" "the ledger: sent, one attempt, the locale, a version"

#  3. The same event again: nothing more.
send_ok "$tmp/fr.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "the same event again is ACKed"
sleep 0.5
is "$(field "$(mails "ana.$tag@example.com")" 'len(m)')" 1 \
    "and sends nothing: still one message"
is "$(q "SELECT count(*) FROM notify.deliveries")" 1 "still one delivery"

#  3b. HTML is escaped in the html part only: the shipped templates
#  write {{x}} in every part.
requested "$tmp/ob.json" "ob.$tag@example.com" user.welcome en "" \
    "O'Brien & Co <x>"
send_ok "$tmp/ob.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "a name with & ' < > is sent"
got=$(mails "ob.$tag@example.com")
is "$(field "$got" 'm[0]["subject"]')" \
    "Welcome to A&B <Société>, O'Brien & Co <x>" "the subject says it verbatim"
[ "$(field "$got" '"Hello O'"'"'Brien & Co <x>," in m[0]["text"]')" = True ]
ok $? "so does the text part"
[ "$(field "$got" '"Hello O'"'"'Brien &amp; Co &lt;x&gt;," in m[0]["html"] and "<x>" not in m[0]["html"]')" = True ]
ok $? "the html part escapes it"

#  4. A rule: review.assigned e-mails the reviewer.
python3 - "$tag" "$company" > "$tmp/review.json" <<'PY'
import json, sys, uuid
tag, company = sys.argv[1:3]
print(json.dumps({"id": str(uuid.uuid4()), "type": "review.assigned",
    "version": 1, "source": "test", "occurredAt": "2026-12-01T10:00:00.000Z",
    "companyId": company, "payload": {"reviewId": str(uuid.uuid4()),
    "cycleId": str(uuid.uuid4()), "cycleName": "Q4", "revieweeId":
    str(uuid.uuid4()), "revieweeName": "Tom L", "reviewerId":
    str(uuid.uuid4()), "reviewerName": "Maya H", "reviewerEmail":
    "maya.%s@example.com" % tag, "kind": "manager",
    "dueAt": "2027-03-07T17:00:00.000Z"}}))
PY
send_ok "$tmp/review.json" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "review.assigned ACKed"
is "$(field "$(mails "maya.$tag@example.com")" 'm[0]["subject"]')" \
    "Review to write: Tom L" "the reviewer got the rule's e-mail"

#  4b. The rules file: checked by ferryctl, read again on SIGHUP (a
#  broken one keeps the rules loaded).
"$ctl" --set notify.template_dir="$FERRY_SRCDIR/templates" notify rules \
    check "$tmp/rules.json" > /dev/null
is "$?" 0 "ferryctl notify rules check: the shipped rules"
python3 - "$tag" "$company" > "$tmp/user.json" <<'PY'
import json, sys, uuid
tag, company = sys.argv[1:3]
print(json.dumps({"id": str(uuid.uuid4()), "type": "user.created",
    "version": 1, "source": "test", "occurredAt": "2026-12-01T10:00:00.000Z",
    "companyId": company, "payload": {"userId": str(uuid.uuid4()),
    "email": "new.%s@example.com" % tag, "firstName": "Nea",
    "lastName": "W", "roles": ["employee"], "locale": "fr",
    "sendWelcome": True}}))
PY
send_ok "$tmp/user.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "user.created, which no rule names, is ACKed (for the directory)"
echo '{"rules": [{"name": "broken"}]}' > "$tmp/rules.json"
"$ctl" notify rules check "$tmp/rules.json" > /dev/null 2>&1
is "$?" 1 "ferryctl notify rules check refuses a broken file"
kill -HUP $notify_pid
for _ in $(seq 30); do
    grep -q "SIGHUP: .*rules loaded before stay" "$tmp/notify.log" && break
    sleep 0.1
done
grep -q "SIGHUP: .*the 3 rules loaded before stay" "$tmp/notify.log"
ok $? "SIGHUP with a broken file keeps the 3 rules"
python3 - "$FERRY_SRCDIR/contrib/notify.rules.json" > "$tmp/rules.json" <<'PY'
import json, sys
rules = json.load(open(sys.argv[1]))
#  The shipped goal.completed rule, by e-mail, so that 4c reads it back
#  through maildev (notify_devices.sh has it by push, to the manager's
#  registered devices).
for rule in rules["rules"]:
    if rule["name"] == "goal_completed":
        rule["channel"] = "email"
rules["rules"].append({"name": "welcome", "event": "user.created",
    "channel": "email", "template": "user.welcome", "category": "user",
    "localeFrom": "payload.locale",
    "recipient": {"email": "payload.email", "name": "payload.firstName"}})
print(json.dumps(rules))
PY
kill -HUP $notify_pid
for _ in $(seq 30); do
    grep -q "SIGHUP: 4 rules" "$tmp/notify.log" && break
    sleep 0.1
done
grep -q "SIGHUP: 4 rules" "$tmp/notify.log"
ok $? "SIGHUP reads the new rules"
python3 -c 'import json,sys,uuid; e=json.load(open(sys.argv[1])); e["id"]=str(uuid.uuid4()); print(json.dumps(e))' \
    "$tmp/user.json" > "$tmp/user2.json"
send_ok "$tmp/user2.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "user.created after the reload"
is "$(field "$(mails "new.$tag@example.com")" 'm[0]["subject"]')" \
    "Bienvenue chez , Nea" "the new rule's e-mail, in the event's locale"

#  4c. The recipient directory: user.created and user.updated feed it,
#  feedback.given names its receiver by id only and the shipped rule's
#  e-mail finds the address there; an unknown receiver fails for good.
#  event FILE TYPE OCCURRED_AT PAYLOAD: an event with a fresh id.
event () {
    python3 - "$2" "$3" "$4" "$company" > "$1" <<'PY'
import json, sys, uuid
kind, at, payload, company = sys.argv[1:5]
print(json.dumps({"id": str(uuid.uuid4()), "type": kind, "version": 1,
    "source": "test", "occurredAt": at, "companyId": company,
    "payload": json.loads(payload)}))
PY
}
newid () { python3 -c 'import uuid; print(uuid.uuid4())'; }
#  feedback FILE RECEIVER: feedback.given to user RECEIVER.
feedback () {
    event "$1" feedback.given 2026-12-01T11:00:00.000Z \
        "{\"feedbackId\": \"$(newid)\", \"giverId\": \"$(newid)\", \"receiverId\": \"$2\", \"kind\": \"praise\", \"visibility\": \"private\", \"anonymous\": false}"
}
receiver=$(newid)
event "$tmp/created.json" user.created 2026-12-01T09:00:00.000Z \
    "{\"userId\": \"$receiver\", \"email\": \"rec.$tag@example.com\", \"firstName\": \"Rosa\", \"lastName\": \"Ek\", \"roles\": [\"employee\"], \"locale\": \"sv\", \"sendWelcome\": false}"
send_ok "$tmp/created.json" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "user.created ACKed"
feedback "$tmp/fb1.json" "$receiver"
send_ok "$tmp/fb1.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "feedback.given ACKed once sent"
#  (The welcome rule 4b added sent one too.)
got=$(mails "rec.$tag@example.com" |
      python3 -c 'import json,sys; print(json.dumps([x for x in json.load(sys.stdin) if x["subject"] == "New feedback for you"]))')
is "$(field "$got" 'len(m)')" 1 \
    "the receiver got the e-mail, addressed through the directory"
is "$(field "$got" 'm[0]["to"][0]["name"]')" "Rosa Ek" \
    "named as the directory says"
#  A newer user.updated changes the address; an older one, late, only
#  fills what the directory lacks; a redelivery changes nothing.
event "$tmp/updated.json" user.updated 2026-12-01T10:00:00.000Z \
    "{\"userId\": \"$receiver\", \"changedFields\": [\"email\"], \"updates\": {\"email\": \"rec2.$tag@example.com\"}}"
event "$tmp/stale.json" user.updated 2026-12-01T09:30:00.000Z \
    "{\"userId\": \"$receiver\", \"changedFields\": [\"email\", \"displayName\"], \"updates\": {\"email\": \"stale.$tag@example.com\", \"displayName\": \"Rosa E.\"}}"
for f in updated stale updated; do
    send_ok "$tmp/$f.json" \
        "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "user.updated ($f) ACKed"
done
is "$(q "SELECT (profile->>'email') || ' ' || (profile->>'displayName') || ' ' || (profile->>'locale') FROM notify.directory WHERE user_id = '$receiver'")" \
    "rec2.$tag@example.com Rosa E. sv" \
    "the directory: the newer address, the older event's new field"
feedback "$tmp/fb2.json" "$receiver"
send_ok "$tmp/fb2.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "a second feedback.given ACKed once sent"
is "$(field "$(mails "rec2.$tag@example.com")" 'len(m)')" 1 \
    "it went to the new address"
stranger=$(newid)
feedback "$tmp/fb3.json" "$stranger"
send_ok "$tmp/fb3.json" "sent 1, acked 0, nacked 1 (retryable 0), invalid 0" \
    "feedback.given to a user the directory does not know: NACKed for good"
[[ "$(q "SELECT status || ' ' || last_error FROM notify.deliveries WHERE user_id = '$stranger'")" == "failed unknown_recipient: user $stranger is not in the recipient directory"* ]]
ok $? "failed with the reason"
api "$url/notifications/metrics" > /dev/null
grep -q '^ferry_notify_unknown_recipients_total 1$' "$tmp/body" &&
    grep -q '^ferry_notify_directory_updates_total 5$' "$tmp/body"
ok $? "counted: one unknown recipient, five directory updates"
#  goal.completed goes to the owner's manager (the shipped rule's
#  recipient.managerOf), as the directory names them: from user.created,
#  then user.manager_changed; a user without one fails for good.
boss=$(newid)
boss2=$(newid)
owner=$(newid)
loner=$(newid)
for who in "$boss boss" "$boss2 boss2" "$loner loner"; do
    read -r uid name <<<"$who"
    event "$tmp/u.json" user.created 2026-12-01T09:00:00.000Z \
        "{\"userId\": \"$uid\", \"email\": \"$name.$tag@example.com\", \"firstName\": \"$name\", \"lastName\": \"B\", \"roles\": [\"manager\"], \"locale\": \"en\", \"sendWelcome\": false}"
    send_ok "$tmp/u.json" \
        "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "user.created ($name) ACKed"
done
#  goals TO: the goal.completed e-mails TO got (the welcome rule of 4b
#  sent each a welcome too).
goals () {
    mails "$1" | python3 -c 'import json,sys; print(len([x for x in json.load(sys.stdin) if x["subject"] == "Goal completed: achieved"]))'
}
event "$tmp/u.json" user.created 2026-12-01T09:00:00.000Z \
    "{\"userId\": \"$owner\", \"email\": \"owner.$tag@example.com\", \"firstName\": \"Otto\", \"lastName\": \"O\", \"roles\": [\"employee\"], \"locale\": \"en\", \"managerId\": \"$boss\", \"sendWelcome\": false}"
send_ok "$tmp/u.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "user.created (with a manager) ACKed"
#  goal FILE OWNER: goal.completed of a goal OWNER had.
goal () {
    event "$1" goal.completed 2026-12-01T12:00:00.000Z \
        "{\"goalId\": \"$(newid)\", \"ownerId\": \"$2\", \"completedAt\": \"2026-12-01T12:00:00.000Z\", \"finalProgress\": 100, \"outcome\": \"achieved\"}"
}
goal "$tmp/g1.json" "$owner"
send_ok "$tmp/g1.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "goal.completed ACKed once sent"
is "$(goals "boss.$tag@example.com")" 1 "the manager got it"
is "$(q "SELECT user_id FROM notify.deliveries WHERE idempotency_key = '$(field "$(cat "$tmp/g1.json")" 'm["id"]'):goal_completed'")" \
    "$boss" "recorded for the manager (their preferences apply)"
event "$tmp/mc.json" user.manager_changed 2026-12-01T13:00:00.000Z \
    "{\"userId\": \"$owner\", \"previousManagerId\": \"$boss\", \"managerId\": \"$boss2\"}"
send_ok "$tmp/mc.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "user.manager_changed ACKed"
goal "$tmp/g2.json" "$owner"
send_ok "$tmp/g2.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "a second goal.completed ACKed once sent"
is "$(goals "boss2.$tag@example.com") $(goals "boss.$tag@example.com") $(goals "owner.$tag@example.com")" \
    "1 1 0" "it went to the new manager (and none to the owner)"
goal "$tmp/g3.json" "$loner"
send_ok "$tmp/g3.json" "sent 1, acked 0, nacked 1 (retryable 0), invalid 0" \
    "goal.completed of a user without a manager: NACKed for good"
is "$(q "SELECT status || ' ' || last_error FROM notify.deliveries WHERE idempotency_key = '$(field "$(cat "$tmp/g3.json")" 'm["id"]'):goal_completed'")" \
    "failed no_manager: user $loner has no manager in the recipient directory" \
    "failed with the reason"

#  5. Preferences: an opted-out user gets nothing; critical cannot be.
code=$(api -X PUT -d '{"optOut": {"email": ["user"]}, "timezone": "Europe/Paris"}' \
       "$url/notifications/preferences/$user")
is "$code" 200 "PUT preferences: 200"
code=$(api -X PUT -d '{"optOut": {"email": ["security"]}}' \
       "$url/notifications/preferences/$user")
is "$code" 422 "opting out of a critical category: 422"
api "$url/notifications/preferences/$user" > /dev/null
is "$(field "$(cat "$tmp/body")" 'm["optOut"]["email"]')" "['user']" \
    "GET preferences gives the opt-out kept"
requested "$tmp/opt.json" "opt.$tag@example.com" user.welcome en "$user"
send_ok "$tmp/opt.json" "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "an opted-out notification is ACKed"
sleep 0.5
is "$(field "$(mails "opt.$tag@example.com")" 'len(m)')" 0 \
    "the opted-out user gets nothing"
is "$(q "SELECT status FROM notify.deliveries WHERE recipient->>'email' = 'opt.$tag@example.com'")" \
    suppressed "recorded suppressed"

#  wait_sent ID: until delivery ID is sent, 5 s at most.
wait_sent () {
    for _ in $(seq 50); do
        [ "$(q "SELECT status FROM notify.deliveries WHERE id = '$1'")" = sent ] &&
            return
        sleep 0.1
    done
}
#  5b. Quiet hours around now: held until they end, then sent by the
#  sweep (their end is brought forward in the ledger); a critical
#  category at once.
quiet=5a1b2c3d-0000-4000-8000-0000000001$((10 + $$ % 80))
hours=$(python3 -c 'import datetime as d
n = d.datetime.now(d.timezone.utc)
print((n - d.timedelta(hours=1)).strftime("%H:%M"),
      (n + d.timedelta(hours=1)).strftime("%H:%M"))')
code=$(api -X PUT -d "{\"timezone\": \"UTC\", \"quietHours\": {\"start\": \"${hours% *}\", \"end\": \"${hours#* }\"}}" \
       "$url/notifications/preferences/$quiet")
is "$code" 200 "PUT quiet hours around now ($hours)"
api -d "{\"channel\": \"email\", \"template\": \"user.welcome\", \"recipient\": {\"email\": \"quiet.$tag@example.com\", \"userId\": \"$quiet\"}, \"data\": {\"company\": \"Q\"}}" \
    "$url/notifications/send" > /dev/null
held=$(field "$(cat "$tmp/body")" 'm["id"]')
is "$(field "$(cat "$tmp/body")" 'm["status"]')" held "inside quiet hours: held"
api -d "{\"channel\": \"email\", \"template\": \"user.welcome\", \"category\": \"security\", \"recipient\": {\"email\": \"crit.$tag@example.com\", \"userId\": \"$quiet\"}, \"data\": {\"company\": \"Q\"}}" \
    "$url/notifications/send" > /dev/null
crit=$(field "$(cat "$tmp/body")" 'm["id"]')
wait_sent "$crit"
is "$(field "$(mails "crit.$tag@example.com")" 'len(m)')" 1 \
    "a critical one is sent at once"
sleep 0.5
is "$(q "SELECT status FROM notify.deliveries WHERE id = '$held'")" held \
    "the other one waits"
q "UPDATE notify.deliveries SET not_before = now() WHERE id = '$held'" >/dev/null
wait_sent "$held"
is "$(field "$(mails "quiet.$tag@example.com")" 'len(m)')" 1 \
    "sent by the sweep when the quiet hours end"

#  5c. Neither a locale nor a time zone given: the directory's. A user
#  whose directory entry says fr-CA and Asia/Kolkata (UTC+5:30) gets the
#  French welcome, and quiet hours around now there (not now in UTC) hold
#  the e-mail; with a zone PostgreSQL does not know, UTC.
local_user=$(newid)
event "$tmp/local.json" user.created 2026-12-01T09:00:00.000Z \
    "{\"userId\": \"$local_user\", \"email\": \"local.$tag@example.com\", \"firstName\": \"Lou\", \"lastName\": \"Roy\", \"roles\": [\"employee\"], \"locale\": \"fr-CA\", \"timezone\": \"Asia/Kolkata\", \"sendWelcome\": false}"
send_ok "$tmp/local.json" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "user.created (fr-CA, Asia/Kolkata) ACKed"
api -d "{\"channel\": \"email\", \"template\": \"user.welcome\", \"recipient\": {\"userId\": \"$local_user\"}, \"data\": {\"company\": \"L\"}}" \
    "$url/notifications/send" > /dev/null
local_id=$(field "$(cat "$tmp/body")" 'm["id"]')
wait_sent "$local_id"
is "$(q "SELECT status || ' ' || locale FROM notify.deliveries WHERE id = '$local_id'")" \
    "sent fr-CA" "no locale in the call: the directory's"
got=$(mails "local.$tag@example.com")
[[ "$(field "$got" 'm[0]["headers"]["x-ferry-template"]')" == user.welcome.fr@* ]]
ok $? "rendered from user.welcome.fr"
hours=$(python3 -c 'import datetime as d
n = d.datetime.now(d.timezone.utc) + d.timedelta(hours=5, minutes=30)
print((n - d.timedelta(hours=1)).strftime("%H:%M"),
      (n + d.timedelta(hours=1)).strftime("%H:%M"))')
code=$(api -X PUT -d "{\"quietHours\": {\"start\": \"${hours% *}\", \"end\": \"${hours#* }\"}}" \
       "$url/notifications/preferences/$local_user")
is "$code" 200 "PUT quiet hours around now in Kolkata ($hours), no zone"
is "$(field "$(cat "$tmp/body")" 'm["timezone"]')" None "  kept without a zone"
api -d "{\"channel\": \"email\", \"template\": \"user.welcome\", \"recipient\": {\"userId\": \"$local_user\"}, \"data\": {\"company\": \"L\"}}" \
    "$url/notifications/send" > /dev/null
is "$(field "$(cat "$tmp/body")" 'm["status"]')" held \
    "quiet hours in the directory's zone: held"
q "UPDATE notify.directory SET profile = profile || '{\"timezone\": \"Mars/Olympus\"}' WHERE user_id = '$local_user'" >/dev/null
api -d "{\"channel\": \"email\", \"template\": \"user.welcome\", \"recipient\": {\"userId\": \"$local_user\"}, \"data\": {\"company\": \"L\"}}" \
    "$url/notifications/send" > /dev/null
is "$(field "$(cat "$tmp/body")" 'm["status"] != "held"')" True \
    "an unknown zone in the directory: UTC, where it is not quiet"

#  6. A template that does not exist: failed at once, to the DLQ.
requested "$tmp/bad.json" "bad.$tag@example.com" no.such en
send_ok "$tmp/bad.json" "sent 1, acked 0, nacked 1 (retryable 0), invalid 0" \
    "a missing template: NACKed for good"
is "$(q "SELECT status || ' ' || attempts FROM notify.deliveries WHERE recipient->>'email' = 'bad.$tag@example.com'")" \
    "failed 1" "failed after one attempt"

#  7. POST /notifications/send twice with one Idempotency-Key.
body="{\"channel\": \"email\", \"template\": \"user.welcome\", \"recipient\": {\"email\": \"api.$tag@example.com\", \"name\": \"Api\"}, \"data\": {\"company\": \"X\"}}"
code=$(api -H "Idempotency-Key: k-$tag" -d "$body" "$url/notifications/send")
is "$code" 202 "POST /notifications/send: 202"
first=$(field "$(cat "$tmp/body")" 'm["id"]')
code=$(api -H "Idempotency-Key: k-$tag" -d "$body" "$url/notifications/send")
is "$(field "$(cat "$tmp/body")" 'm["id"]')" "$first" \
    "the same key again: the same delivery"
for _ in $(seq 50); do
    api "$url/notifications/$first" > /dev/null
    [ "$(field "$(cat "$tmp/body")" 'm["status"]')" = sent ] && break
    sleep 0.1
done
is "$(field "$(cat "$tmp/body")" 'm["status"]')" sent "GET /notifications/:id: sent"
is "$(field "$(mails "api.$tag@example.com")" 'len(m)')" 1 "one message"
code=$(api "$url/notifications/00000000-0000-4000-8000-000000000000")
is "$code" 404 "an unknown id: 404"
api "$url/notifications/metrics" > /dev/null
grep -q '^ferry_notify_deliveries_total{status="sent"} [1-9]' "$tmp/body"
ok $? "ferry_notify_deliveries_total counts what was sent"

#  7b. However many events come at once (notify.credit, 256), no more
#  than notify.concurrency (64) notifications are with a provider at a
#  time (the bound of doc/notify.md's one window): the rest wait for a
#  place. ferry_notify_sending, sampled while 1,500 go.
python3 - "$company" "$tag" > "$tmp/many.ndjson" <<'PY'
import json, sys, uuid
company, tag = sys.argv[1:3]
for i in range(1500):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "notification.requested",
        "version": 1, "source": "test", "occurredAt": "2026-12-01T10:00:00.000Z",
        "companyId": company, "payload": {"channel": "email",
        "recipient": {"email": "many%d.%s@example.com" % (i, tag)},
        "template": "user.welcome", "locale": "en", "data": {"company": "M"}}}))
PY
"$ctl" send --broker "$endpoint" --timeout-ms 120000 "$tmp/many.ndjson" \
    > "$tmp/many.out" 2>&1 &
many_pid=$!
most=0
while kill -0 $many_pid 2>/dev/null; do
    api "$url/notifications/metrics" > /dev/null
    now=$(sed -n 's/^ferry_notify_sending \([0-9]*\).*/\1/p' "$tmp/body")
    [ "${now:-0}" -gt "$most" ] && most=$now
    sleep 0.02
done
wait $many_pid
is "$(tail -n 1 "$tmp/many.out")" \
    "sent 1500, acked 1500, nacked 0 (retryable 0), invalid 0" \
    "1,500 events at once, each ACKed once sent"
[ "$most" -gt 0 ] && [ "$most" -le 64 ]
ok $? "at most 64 with the provider at once (saw $most)"

#  8. SIGTERM: a clean stop.
kill -TERM $notify_pid
wait $notify_pid
is "$?" 0 "SIGTERM: exit 0"

#  9. Refusals, through the stub: retryable ones up to max_attempts.
python3 "$FERRY_SRCDIR/tests/stubs/smtp_stub.py" "$tmp/stub.port" \
    2>"$tmp/stub.log" &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/stub.port" ] && break; sleep 0.1; done
stub="smtp://127.0.0.1:$(cat "$tmp/stub.port")"
start_stub_notify () {
    start_notify --set notify.smtp_url="$stub" --set notify.max_attempts=3 \
        --set notify.backoff_base_ms=50 --set notify.backoff_max_ms=200 "$@"
}
start_stub_notify
requested "$tmp/full.json" "full.$tag@example.com" user.welcome en
send_ok "$tmp/full.json" "sent 1, acked 0, nacked 1 (retryable 0), invalid 0" \
    "452 three times: NACKed for good, to the DLQ"
row=$(q "SELECT status || ' ' || attempts || ' ' || last_error FROM notify.deliveries WHERE recipient->>'email' = 'full.$tag@example.com'")
[[ "$row" == "failed 3 gave up after 3 attempts: smtp 452"* ]]
ok $? "failed after 3 attempts: $row"
requested "$tmp/nobody.json" "nobody.$tag@example.com" user.welcome en
send_ok "$tmp/nobody.json" \
    "sent 1, acked 0, nacked 1 (retryable 0), invalid 0" "550: NACKed for good"
is "$(q "SELECT status || ' ' || attempts FROM notify.deliveries WHERE recipient->>'email' = 'nobody.$tag@example.com'")" \
    "failed 1" "a permanent refusal: one attempt"

#  10. 10,000 recipients in one bulk send, each reached once.
bulk () {   # bulk PREFIX COUNT -> the request body
    python3 - "$1" "$2" "$tag" > "$tmp/bulk.json" <<'PY'
import json, sys
prefix, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
print(json.dumps({"channel": "email", "template": "user.welcome",
    "data": {"company": "Bulk"}, "recipients": [
        {"email": "%s%d.%s@example.com" % (prefix, i, tag), "name": "U %d" % i}
        for i in range(n)]}))
PY
}
wait_batch () {   # wait_batch ID COUNT SECONDS
    for _ in $(seq $(($3 * 5))); do
        api "$url/notifications/batches/$1" > /dev/null
        [ "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" = "$2" ] && break
        sleep 0.2
    done
}
delivered () { grep -c "$1[0-9]*\.$tag@" "$tmp/stub.log"; }
#  The body is read as it comes, recipient by recipient: the recipients
#  may come first, each with its own data, and what is wrong is answered
#  before anything is recorded.
bulk_body () {   # bulk_body PYTHON-EXPRESSION -> $tmp/bulk.json
    python3 -c "import json; print($1)" > "$tmp/bulk.json"
}
bulk_body "json.dumps({'recipients': [{'email': 's%d.$tag@example.com' % i, 'data': {'company': 'Own %d' % i}} for i in range(3)], 'channel': 'email', 'template': 'user.welcome', 'data': {'company': 'Shared', 'link': 'L'}})"
code=$(api --data-binary @"$tmp/bulk.json" "$url/notifications/send-bulk")
is "$code" 202 "a bulk send whose recipients come first: 202"
wait_batch "$(field "$(cat "$tmp/body")" 'm["batchId"]')" 3 30
is "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" 3 "its 3 sent"
is "$(q "SELECT (data->>'company') || ' ' || (data->>'link') || ' ' || (recipient ? 'data')::text FROM notify.deliveries WHERE recipient->>'email' = 's1.$tag@example.com'")" \
    "Own 1 L false" "each with its own data over the shared, kept apart from its recipient"
for case in \
    "{'channel': 'email', 'template': 'x', 'recipients': {}}|recipients must be a non-empty array" \
    "{'channel': 'email', 'template': 'x', 'recipients': []}|recipients must be a non-empty array" \
    "{'recipients': [{'email': 'a@x'}, {'email': 'b@x'}, {'name': 'c'}], 'channel': 'email', 'template': 'x'}|recipients[2]: recipient needs email, phone, deviceTokens or userId" \
    "{'recipients': [{'email': 'a@x'}], 'channel': 'fax', 'template': 'x'}|channel must be email, sms, push or in_app" \
    "{'channel': 'email', 'template': 'x', 'recipients': [{'email': 'a@x'}] * 10001}|at most 10000 recipients"; do
    bulk_body "json.dumps(${case%%|*})"
    code=$(api --data-binary @"$tmp/bulk.json" "$url/notifications/send-bulk")
    is "$code $(field "$(cat "$tmp/body")" 'm["error"]["message"]')" \
        "400 ${case#*|}" "a bulk send refused: ${case#*|}"
done
printf '{"channel": "email", "template": "x", "recipients": [{"email": "a@x"}], "recipients": [{"email": "b@x"}]}' \
    > "$tmp/bulk.json"
code=$(api --data-binary @"$tmp/bulk.json" "$url/notifications/send-bulk")
is "$code $(field "$(cat "$tmp/body")" 'm["error"]["code"]')" "400 invalid_json" \
    "recipients twice: not a JSON object ferry takes"
printf '{"channel": "email", "template": "x", "recipients": [{"email": "a@x"},' \
    > "$tmp/bulk.json"
code=$(api --data-binary @"$tmp/bulk.json" "$url/notifications/send-bulk")
is "$code $(field "$(cat "$tmp/body")" 'm["error"]["code"]')" "400 invalid_json" \
    "a body cut short: invalid_json"
bulk b 10000
code=$(api -H "Idempotency-Key: bulk-$tag" --data-binary @"$tmp/bulk.json" \
       "$url/notifications/send-bulk")
is "$code" 202 "POST /notifications/send-bulk of 10,000: 202"
batch=$(field "$(cat "$tmp/body")" 'm["batchId"]')
code=$(api -H "Idempotency-Key: bulk-$tag" --data-binary @"$tmp/bulk.json" \
       "$url/notifications/send-bulk")
is "$(field "$(cat "$tmp/body")" 'm["batchId"]')" "$batch" \
    "the same request again: the same batch"
wait_batch "$batch" 10000 180
is "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" 10000 \
    "GET /notifications/batches/:id: 10,000 sent"
is "$(delivered b)" 10000 "10,000 messages accepted by the server"
is "$(grep -o "b[0-9]*\.$tag@" "$tmp/stub.log" | sort -u | wc -l)" 10000 \
    "each recipient exactly once"

#  11. SIGKILL in the middle of a bulk send, then a restart.
bulk k 3000
api --data-binary @"$tmp/bulk.json" "$url/notifications/send-bulk" > /dev/null
batch=$(field "$(cat "$tmp/body")" 'm["batchId"]')
for _ in $(seq 100); do
    [ "$(delivered k)" -gt 300 ] && break
    sleep 0.05
done
kill -KILL $notify_pid
wait $notify_pid 2>/dev/null
before=$(delivered k)
start_stub_notify
wait_batch "$batch" 3000 120
is "$(field "$(cat "$tmp/body")" 'm["counts"]["sent"]')" 3000 \
    "after SIGKILL (at $before) and a restart: 3,000 sent"
is "$(grep -o "k[0-9]*\.$tag@" "$tmp/stub.log" | sort -u | wc -l)" 3000 \
    "every recipient reached"
dups=$(($(delivered k) - 3000))
[ "$dups" -le 64 ]
ok $? "duplicates ($dups) only among the sends in flight at the kill (notify.concurrency 64)"
kill -TERM $notify_pid
wait $notify_pid

#  12. Started without its database: not ready, NACKs retryable.
DATABASE_URL="postgresql://ferry:ferry@127.0.0.1:1/none" \
    "$notify" --set notify.broker="$endpoint" \
    --set notify.template_dir="$FERRY_SRCDIR/templates" \
    --set log.level=warn 2>>"$tmp/nodb.log" &
nodb=$!
pids+=($nodb)
for _ in $(seq 50); do
    code=$(curl -s -o "$tmp/health" -w '%{http_code}' "$url/notifications/health")
    [ "$code" = 503 ] && break
    sleep 0.1
done
is "$code" 503 "without its database: /notifications/health is 503"
requested "$tmp/nodb.json" "nodb.$tag@example.com" user.welcome en
out=$("$ctl" send --broker "$endpoint" --timeout-ms 5000 "$tmp/nodb.json" 2>&1 |
      tail -n 1)
is "$out" "sent 1, acked 0, nacked 1 (retryable 1), invalid 0" \
    "its events are NACKed retryable"
kill -TERM $nodb
wait $nodb
is "$?" 0 "and it stops cleanly"
done_testing
