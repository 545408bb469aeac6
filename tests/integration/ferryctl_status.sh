#!/usr/bin/env bash
#  TAP: ferryctl status reads GET /admin/status from broker_http_stub.py
#  (a stand-in until the broker serves it) and prints the table or the
#  document; errors from the server, a server that is not there and usage
#  mistakes give their exit statuses.
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
ctl="$FERRY_BUILDDIR/tools/ferryctl"
src=$FERRY_SRCDIR
tmp=$(mktemp -d)
stub=
trap '[ -n "$stub" ] && kill "$stub" 2>/dev/null; rm -rf "$tmp"' EXIT

[ -x "$ctl" ] || bail_out "no $ctl"

#  The document as the broker is specified to send it, plus a client whose
#  name holds an escape sequence (names come from the network).
cat > "$tmp/status.json" <<'JSON'
{"broker":{"endpoint":"tcp://*:5570","uptime_s":93784,"draining":false,
           "unfinished":5,"capacity":100000,"outstanding_credit":9995},
 "services":[{"name":"audit","workers":2,"queued":0,"requests_queued":0,
              "held":5,
              "workers_detail":[{"name":"audit-1","credit":64,"held":3,
                                 "idle_ms":120},
                                {"name":"audit-2","credit":62,"held":2,
                                 "idle_ms":4250}]},
             {"name":"analytics","workers":0,"queued":7,"requests_queued":1,
              "held":0,"workers_detail":[]}],
 "clients":[{"name":"bridge-1","credit":9995,"unfinished":5,"idle_ms":40},
            {"name":"evil\u001b]0;pwned\u0007","credit":1,"unfinished":0,
             "idle_ms":190000}]}
JSON

python3 "$src/tests/integration/broker_http_stub.py" "$tmp/port" \
    "$tmp/status.json" adm1n "$tmp/http.log" &
stub=$!
for _ in $(seq 50); do [ -e "$tmp/port" ] && break; sleep 0.1; done
[ -e "$tmp/port" ] || bail_out "the HTTP stub did not start"
url="http://127.0.0.1:$(cat "$tmp/port")"

#  like PATTERN NAME: the table has a line matching the extended regex.
like () {
    local pattern=$1; shift
    grep -qE -- "$pattern" "$tmp/out"
    ok $? "$@"
}

"$ctl" status --url "$url" --token adm1n > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 0 "status exits 0"
like '^broker +tcp://\*:5570$' "the broker's endpoint"
like '^uptime +1d 02:03:04$' "its uptime"
like '^draining +no$' "not draining"
like '^unfinished +5 of 100000$' "unfinished of capacity"
like '^credit out +9995$' "outstanding credit"
like '^SERVICE / WORKER +WORKERS +CREDIT +HELD +QUEUED +REQUESTS +IDLE$' \
     "the service header"
like '^audit +2 +5 +0 +0$' "a row for audit: workers, held, queued"
like '^  audit-1 +64 +3 +120ms$' "an indented row for worker audit-1"
like '^  audit-2 +62 +2 +4\.2s$' "and for audit-2"
like '^analytics +0 +0 +7 +1$' "a row for analytics"
like '^CLIENT +CREDIT +UNFINISHED +IDLE$' "the client header"
like '^bridge-1 +9995 +5 +40ms$' "a row for bridge-1"
like '^evil\?\]0;pwned\? +1 +0 +3m10s$' \
     "control characters in a name shown as ?"
grep -q $'\e' "$tmp/out"
ok $((!$?)) "no escape byte reaches the terminal"
grep -q '^GET /admin/status ' "$tmp/http.log"
ok $? "it asked GET /admin/status"

#  --json: the document as received, pretty-printed.
FERRY_HTTP_ADMIN_TOKEN=adm1n "$ctl" status --url "$url/" --json \
    > "$tmp/out"; rc=$?
is "$rc" 0 "--json with the token from FERRY_HTTP_ADMIN_TOKEN exits 0"
python3 -c 'import json,sys
sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    "$tmp/out" "$tmp/status.json"
ok $? "--json prints the same document"
ok $(( $(wc -l < "$tmp/out") > 20 ? 0 : 1 )) "pretty, on many lines"
head -c 40 "$tmp/out" | grep -q '"broker"'; ok $? "in the order received"

#  Errors: the server's JSON error, no server, a body that is not JSON.
"$ctl" status --url "$url" --token nope > "$tmp/out" 2> "$tmp/err"; rc=$?
is "$rc" 1 "a wrong token exits 1"
is "$(cat "$tmp/err")" \
   "ferryctl status: HTTP 401: unauthorized: bad or missing bearer token" \
   "and prints the broker's error"
[ ! -s "$tmp/out" ]; ok $? "nothing on stdout"
echo 'not json' > "$tmp/status.json"
"$ctl" status --url "$url" --token adm1n > /dev/null 2> "$tmp/err"; rc=$?
is "$rc" 1 "a body that is not JSON exits 1"
grep -q 'not a JSON object' "$tmp/err"; ok $? "and says so"
kill "$stub"; wait "$stub" 2>/dev/null; stub=
"$ctl" status --url "$url" --token adm1n 2> "$tmp/err"; rc=$?
is "$rc" 1 "nothing listening exits 1"
grep -q "^ferryctl status: $url/admin/status: " "$tmp/err"
ok $? "and names the URL"

"$ctl" status extra 2> /dev/null; is "$?" 2 "an extra argument exits 2"
"$ctl" status --frob 2> /dev/null; is "$?" 2 "an unknown option exits 2"
done_testing
