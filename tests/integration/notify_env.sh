#  notify_env.sh: what the ferry-notify shell tests on the stand-ins of
#  tests/stubs/ share. Source it after audit_env.sh: it sets notify (the
#  program) and stubs, and defines field JSON EXPR (a python expression on
#  the parsed JSON, as m), stub PROGRAM NAME (a stand-in started, its port
#  in NAME_port), fcm_stand_in (the FCM stand-in as fcm, with a service
#  account whose key it checks in $tmp/sa.json, and FCM_ENDPOINT_URL at
#  it), api CURL-ARG... (a call with the service token: the body in
#  $tmp/body, the status out), settled ID (waits until the delivery is
#  sent or failed: "status attempts provider") and stub_log PORT.
notify="$FERRY_BUILDDIR/workers/notify/ferry-notify"
stubs="$FERRY_SRCDIR/tests/stubs"
[ -x "$notify" ] || bail_out "no $notify"

field () { python3 -c "import json,sys; m=json.load(sys.stdin); print($2)" <<<"$1"; }
stub () {
    python3 "$stubs/$1" "$tmp/$2.port" 2>>"$tmp/$2.log" &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$tmp/$2.port" ] && break; sleep 0.05; done
    [ -s "$tmp/$2.port" ] || bail_out "$1 did not start"
    eval "$2_port=$(cat "$tmp/$2.port")"
}
fcm_stand_in () {
    (cd "$tmp" && openssl genpkey -algorithm RSA \
        -pkeyopt rsa_keygen_bits:2048 -out key.pem 2>/dev/null &&
        openssl pkey -in key.pem -pubout -out pub.pem) || bail_out "openssl"
    export FCM_STUB_PUBLIC_KEY="$tmp/pub.pem"
    stub fcm_stub.py fcm
    python3 - "$tmp/key.pem" "http://127.0.0.1:$fcm_port/token" \
        > "$tmp/sa.json" <<'PY'
import json, sys
print(json.dumps({"type": "service_account", "project_id": "ferry-test",
    "private_key_id": "0123abcd", "private_key": open(sys.argv[1]).read(),
    "client_email": "ferry-push@ferry-test.iam.gserviceaccount.com",
    "token_uri": sys.argv[2]}))
PY
    export FCM_ENDPOINT_URL="http://127.0.0.1:$fcm_port"
}
api () { curl -sS -o "$tmp/body" -w '%{http_code}' \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' "$@"; }
settled () {
    for _ in $(seq 100); do
        row=$(q "SELECT status || ' ' || attempts || ' ' || coalesce(provider, '-') FROM notify.deliveries WHERE id = '$1' AND status IN ('sent', 'failed')")
        [ -n "$row" ] && break
        sleep 0.1
    done
    echo "$row"
}
stub_log () { curl -s "http://127.0.0.1:$1/_log"; }
