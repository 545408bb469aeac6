#!/bin/sh
#  bench_notify.sh SRCDIR: notify_email, e-mails/s end to end: N
#  notification.requested events published to ferry-broker by ferryctl
#  send, recorded, rendered (a layout and a partial) and sent by one
#  ferry-notify to the stack's SMTP capture server (SMTP_URL; needs
#  `eval "$(contrib/stack.sh env)"` and DATABASE_URL), timed from the
#  first event published to the last message the server accepted (its
#  250, recorded sent in the ledger). Limit: the same server's accept
#  rate for the same messages (one of them as sent, N times) sent by curl
#  alone, 64 at a time (curl --parallel, one process), in the same run.
#  Floor: ratio 0.5. A scratch database is made and dropped; the capture
#  server's mailbox is emptied at the end.
set -u
srcdir=$1
n=${BENCH_NOTIFY_EMAILS:-2000}
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
python3 - "$n" > "$tmp/events.ndjson" <<'PY'
import json, sys, uuid
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": str(uuid.uuid4()), "type": "notification.requested",
        "version": 1, "source": "bench",
        "occurredAt": "2026-12-01T10:00:00.000Z",
        "companyId": "5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11",
        "payload": {"channel": "email", "template": "user.welcome",
            "locale": "en", "recipient": {"email": "u%d@bench.example" % i,
            "name": "User %d" % i},
            "data": {"company": "Bench", "link": "https://app.example/"}}}))
PY
start=$(now_ms)
tools/ferryctl send --broker "$endpoint" --timeout-ms 600000 \
    "$tmp/events.ndjson" >"$tmp/send.out" 2>&1
end=$(now_ms)
grep -q "^sent $n, acked $n," "$tmp/send.out" || {
    echo "bench notify_email: $(cat "$tmp/send.out")" >&2
    exit 1
}
sent=$(q "SELECT count(*) FROM notify.deliveries WHERE status = 'sent'")
[ "$sent" = "$n" ] || {
    echo "bench notify_email: $sent of $n sent: $(cat "$tmp/send.out")" >&2
    exit 1
}
#  The events are ACKed once their e-mail is sent: the last ACK is the
#  last 250.
ours=$(((n * 1000) / (end - start)))

#  The limit: the same message N times through curl alone.
id=$(curl -s "$SMTP_CAPTURE_URL/email" | python3 -c '
import json, sys
print(json.load(sys.stdin)[0]["id"])')
curl -s "$SMTP_CAPTURE_URL/email/$id/source" >"$tmp/message.eml"
host=${SMTP_URL#smtp://}
i=0
while [ $i -lt "$n" ]; do
    printf 'url = "smtp://%s"\nupload-file = "%s"\n' "$host" \
        "$tmp/message.eml"
    i=$((i + 1))
done >"$tmp/curl.cfg"
start=$(now_ms)
curl -s --no-progress-meter --parallel --parallel-max 64 --mail-from bench@bench.example \
    --mail-rcpt limit@bench.example -K "$tmp/curl.cfg" >/dev/null ||
    { echo "bench notify_email: curl failed" >&2; exit 1; }
end=$(now_ms)
limit=$(((n * 1000) / (end - start)))
python3 - "$ours" "$limit" "$floor" "$(wc -c <"$tmp/message.eml")" <<'PY'
import sys
ours, limit, floor, size = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ratio = ours / limit if limit else 0
print("bench notify_email %d emails/s limit=%d ratio=%.2f "
      "(messages of %s bytes; limit: curl --parallel 64 to the same "
      "server)" % (ours, limit, ratio, size))
sys.exit(0 if ratio >= floor else 1)
PY
