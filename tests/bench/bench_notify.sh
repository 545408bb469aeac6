#!/bin/sh
#  bench_notify.sh SRCDIR: notify_email, e-mails/s end to end: N
#  notification.requested events published to ferry-broker by ferryctl
#  send, recorded, rendered (a layout and a partial) and sent by one
#  ferry-notify to the stack's SMTP capture server (SMTP_URL; needs
#  `eval "$(contrib/stack.sh env)"` and DATABASE_URL), timed from the
#  first event published to the last message the server accepted (its
#  250, recorded sent in the ledger). Limit: the same server's accept
#  rate for the same message bytes and envelope (ferry's first message,
#  N times) sent by curl alone, 64 at a time (curl --parallel, one
#  process), in the same run. maildev's speed moves with its state (its
#  JIT warming, its mailbox), so the two are measured alike: after a
#  warm-up of W e-mails through ferry, four rounds in the order ferry,
#  curl, curl, ferry, each on an emptied mailbox; each side's figure is
#  its 2N messages over its two rounds' time. Floor: ratio 0.5. A
#  scratch database is made and dropped; the capture server's mailbox is
#  emptied before and after.
set -u
srcdir=$1
n=${BENCH_NOTIFY_EMAILS:-2000}
warm=${BENCH_NOTIFY_WARMUP:-200}
floor=0.5
[ -n "${DATABASE_URL:-}" ] && [ -n "${SMTP_URL:-}" ] &&
    [ -n "${SMTP_CAPTURE_URL:-}" ] || {
    echo "bench notify_email: needs the stack's env (contrib/stack.sh env)" >&2
    exit 1
}
tmp=$(mktemp -d)
admin=$DATABASE_URL
db=ferry_bench_notify_$$
pids=""
cleanup () {
    for pid in $pids; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    [ -n "${BENCH_KEEP:-}" ] || psql -qX "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
        >/dev/null 2>&1
    curl -s -X DELETE "$SMTP_CAPTURE_URL/email/all" >/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
now_ms () { echo $(($(date +%s%N) / 1000000)); }
psql -qX "$admin" -c "CREATE DATABASE $db TEMPLATE template0" >/dev/null ||
    exit 1
DATABASE_URL="${admin%/*}/$db"
export DATABASE_URL
FERRY_STORE_MIGRATIONS_DIR="$srcdir/sql" tools/ferryctl migrate >/dev/null ||
    exit 1
q () { psql -qXAt "$DATABASE_URL" -c "$1"; }
. "$srcdir/tests/bench/bench_procs.sh"
start_broker "notify:notification.*"
workers/notify/ferry-notify --set notify.broker="$endpoint" \
    --set notify.smtp_starttls=none \
    --set notify.template_dir="$srcdir/templates" \
    --set log.level=warn 2>"$tmp/notify.log" &
pids="$pids $!"
sleep 1
#  events FIRST COUNT: COUNT notification.requested events, recipients
#  uFIRST... on.
events () {
    python3 - "$1" "$2" <<'PY'
import json, sys, uuid
first, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(first, first + count):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "notification.requested",
        "version": 1, "source": "bench",
        "occurredAt": "2026-12-01T10:00:00.000Z",
        "companyId": "5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11",
        "payload": {"channel": "email", "template": "user.welcome",
            "locale": "en", "recipient": {"email": "u%d@bench.example" % i,
            "name": "User %d" % i},
            "data": {"company": "Bench", "link": "https://app.example/"}}}))
PY
}
empty_mailbox () {
    curl -sf -X DELETE "$SMTP_CAPTURE_URL/email/all" >/dev/null || {
        echo "bench notify_email: cannot empty the capture server's mailbox" >&2
        exit 1
    }
}
total=0         # events sent through ferry so far
#  ferry_round COUNT: COUNT e-mails through ferry; ms is the time taken.
ferry_round () {
    events "$total" "$1" >"$tmp/events.ndjson"
    total=$((total + $1))
    start=$(now_ms)
    tools/ferryctl send --broker "$endpoint" --timeout-ms 600000 \
        "$tmp/events.ndjson" >"$tmp/send.out" 2>&1
    end=$(now_ms)
    grep -q "^sent $1, acked $1," "$tmp/send.out" || {
        echo "bench notify_email: $(cat "$tmp/send.out")" >&2
        exit 1
    }
    #  The events are ACKed once their e-mail is sent: the last ACK is the
    #  last 250.
    sent=$(q "SELECT count(*) FROM notify.deliveries WHERE status = 'sent'")
    [ "$sent" = "$total" ] || {
        echo "bench notify_email: $sent of $total sent: $(cat "$tmp/send.out")" >&2
        exit 1
    }
    ms=$((end - start))
}
#  curl_round: the same message N times through curl alone; ms is the
#  time taken.
curl_round () {
    start=$(now_ms)
    curl -s --no-progress-meter --parallel --parallel-max 64 \
        --mail-from "$from" --mail-rcpt "$rcpt" -K "$tmp/curl.cfg" \
        >/dev/null || { echo "bench notify_email: curl failed" >&2; exit 1; }
    end=$(now_ms)
    #  Every message accepted (each its 250), and all of them kept: the
    #  mailbox may show the last ones a little after their 250.
    for _ in $(seq 50); do
        got=$(curl -s "$SMTP_CAPTURE_URL/email" | python3 -c '
import json, sys
print(len(json.load(sys.stdin)))')
        [ "$got" = "$n" ] && break
        sleep 0.1
    done
    [ "$got" = "$n" ] || {
        echo "bench notify_email: the server holds $got of curl's $n" >&2
        exit 1
    }
    ms=$((end - start))
}

empty_mailbox
ferry_round "$warm"
#  curl's message and envelope: ferry's first, as the server got it.
curl -s "$SMTP_CAPTURE_URL/email" | python3 -c '
import json, sys
mail = [m for m in json.load(sys.stdin)
        if m["envelope"]["to"][0]["address"] == "u0@bench.example"][0]
print(mail["id"], mail["envelope"]["from"]["address"],
      mail["envelope"]["to"][0]["address"])' >"$tmp/first"
read -r id from rcpt <"$tmp/first"
curl -sf "$SMTP_CAPTURE_URL/email/$id/source" >"$tmp/message.eml" || exit 1
host=${SMTP_URL#smtp://}
i=0
while [ $i -lt "$n" ]; do
    printf 'url = "smtp://%s"\nupload-file = "%s"\n' "$host" \
        "$tmp/message.eml"
    i=$((i + 1))
done >"$tmp/curl.cfg"

ours_ms=0
limit_ms=0
rounds=""
for side in ferry curl curl ferry; do
    empty_mailbox
    if [ $side = ferry ]; then
        ferry_round "$n"
        ours_ms=$((ours_ms + ms))
    else
        curl_round
        limit_ms=$((limit_ms + ms))
    fi
    rounds="$rounds $side=$((n * 1000 / ms))/s"
done
python3 - "$n" "$ours_ms" "$limit_ms" "$floor" "$(wc -c <"$tmp/message.eml")" \
    "$rounds" <<'PY'
import sys
n, ours_ms, limit_ms = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
floor, size, rounds = float(sys.argv[4]), sys.argv[5], sys.argv[6].strip()
ours, limit = 2 * n * 1000 // ours_ms, 2 * n * 1000 // limit_ms
ratio = ours / limit if limit else 0
print("bench notify_email %d emails/s limit=%d ratio=%.2f "
      "(messages of %s bytes; limit: curl --parallel 64 to the same "
      "server; rounds on an empty mailbox: %s)" % (ours, limit, ratio, size, rounds))
sys.exit(0 if ratio >= floor else 1)
PY
