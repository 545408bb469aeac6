#!/usr/bin/env bash
#  TAP: ferry-auth end to end against the stack's Redis (REDIS_URL from
#  contrib/stack.sh env; missing is a failure), real ferry-brokers with
#  HTTP on 127.0.0.1 and ferryctl send as the publisher. Two ferry-auth
#  processes (A and B) behind two brokers share one key prefix (unique to
#  the run, deleted at exit) and a JWKS file of an RSA key, an HMAC key
#  and an encryption key (left out); a third (D) loads the set from a URL
#  that rotates to a new key. Covers: every /auth route in openapi.json, user.login creating a session
#  (and the same event twice, and another body under its id), validate's
#  RFC 7662 answers and required scope, the negative cases of RFC 8725
#  (alg none in any case, HMAC keyed with the RSA public key, expired, nbf
#  ahead, iat ahead, wrong aud, iss and typ, kids made to attack, an
#  oversized token, characters outside base64url), user.logout, a
#  denylisted jti, a token issued before a revoke-all, the sessions API, a
#  revocation in A seen by the next validate in B (its cache dropped over
#  pub/sub), and then with a redis-server of its own killed and restarted:
#  503 while it is down, events NACKed retryable, correct answers after
#  and no event lost. SIGTERM exits 0.
set -u
. "$FERRY_SRCDIR/tests/tap.sh"
ctl="$FERRY_BUILDDIR/tools/ferryctl"
broker="$FERRY_BUILDDIR/broker/ferry-broker"
auth="$FERRY_BUILDDIR/workers/auth/ferry-auth"
tool="$FERRY_SRCDIR/tests/integration/auth_tool.py"
tmp=$(mktemp -d)
prefix="fytest:auth:$$:"
pids=()
cleanup () {
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -KILL "${pids[i]}" 2>/dev/null
        wait "${pids[i]}" 2>/dev/null
    done
    if [ -n "${REDIS_URL:-}" ]; then
        redis-cli -u "$REDIS_URL" --scan --pattern "$prefix*" |
            xargs -r redis-cli -u "$REDIS_URL" DEL > /dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

[ -n "${REDIS_URL:-}" ] || bail_out "REDIS_URL is not set: start contrib/stack.sh"
for program in "$ctl" "$broker" "$auth"; do
    [ -x "$program" ] || bail_out "no $program"
done
python3 "$tool" keys "$tmp" || bail_out "auth_tool.py keys failed"

secret=auth-test-service-secret-0123456789abcdef
routes="auth:user.login,user.logout,user.password_changed,user.deactivated,auth.token_revoked,auth.session_revoked"
base=$((8940 + $$ % 50 * 2))
#  start_broker NAME PORT [ARG...]: a broker on ipc://$tmp/NAME.sock.
start_broker () {
    local name=$1 port=$2
    shift 2
    "$broker" --set "broker.endpoint=ipc://$tmp/$name.sock" \
        --set log.level=warn --set http.address=127.0.0.1 \
        --set "http.port=$port" --set "http.jwt_secret=$secret" \
        --set "broker.routes=$routes" "$@" 2>>"$tmp/$name.log" &
    pids+=($!)
    for _ in $(seq 50); do [ -e "$tmp/$name.sock" ] && break; sleep 0.1; done
}
#  start_auth NAME BROKER [ARG...]: a ferry-auth on broker BROKER.
start_auth () {
    local name=$1 on=$2
    shift 2
    "$auth" --set "auth.broker=ipc://$tmp/$on.sock" --set "auth.name=$name" \
        --set "auth.key_prefix=$prefix" --set "auth.jwks_file=$tmp/jwks.json" \
        --set auth.jwt_issuer=https://id.example --set auth.jwt_audience=hr-app \
        --set auth.jwt_alg=RS256 --set auth.jwks_refresh_min_s=1 \
        --set log.level=info "$@" 2>>"$tmp/$name.log" &
    auth_pid=$!
    pids+=($auth_pid)
}
#  up URL: wait until URL/auth/health answers 200.
up () {
    for _ in $(seq 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$1/auth/health")" = 200 ] &&
            return 0
        sleep 0.1
    done
    return 1
}
start_broker b1 $base --set "http.openapi=$FERRY_SRCDIR/schemas/openapi.json"
start_broker b2 $((base + 1))
start_broker b4 $((base + 3))
url1=http://127.0.0.1:$base
url2=http://127.0.0.1:$((base + 1))
url4=http://127.0.0.1:$((base + 3))
start_auth A b1
pid_a=$auth_pid
start_auth B b2
#  D: the key set from a URL that has only the HMAC key at first.
www=$tmp/www
mkdir -p "$www"
jq -c '{keys: [.keys[] | select(.kid == "hs-1")]}' "$tmp/jwks.json" \
    > "$www/jwks.json"
wport=$((base + 30))
python3 -m http.server $wport --bind 127.0.0.1 --directory "$www" \
    > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$wport/jwks.json" && break
    sleep 0.1
done
start_auth D b4 --set auth.jwks_file= \
    --set "auth.jwks_url=http://127.0.0.1:$wport/jwks.json"
token=$("$ctl" --set http.jwt_secret=$secret token)
up "$url1" && up "$url2" && up "$url4"
ok $? "GET /auth/health is 200 on all three, Redis up"
is "$(curl -s "$url4/auth/health" | jq .keys)" 1 "D: one key from the URL"
#  Every route ferry-auth serves is in the served openapi.json.
curl -s "$url1/openapi.json" > "$tmp/openapi.json"
for route in "post /auth/validate" "get /auth/sessions/{userId}" \
             "delete /auth/sessions/{sessionId}" \
             "delete /auth/users/{userId}/sessions" "get /auth/health" \
             "get /auth/metrics"; do
    jq -e --arg p "${route#* }" --arg m "${route% *}" '.paths[$p][$m]' \
        "$tmp/openapi.json" > /dev/null
    ok $? "$route is in openapi.json"
done
is "$(curl -s "$url1/auth/health" | jq -c '[.status, .redis, .keys]')" \
    '["ok","up",2]' "two keys of three loaded (the encryption key left out)"

#  validate URL TOKEN [SCOPE]: the answer's body; the code in $tmp/code.
validate () {
    local body
    body=$(jq -cn --arg t "$2" --arg s "${3:-}" \
        'if $s == "" then {token: $t} else {token: $t, scope: $s} end')
    curl -s -o "$tmp/answer" -w '%{http_code}' -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d "$body" "$1/auth/validate" \
        > "$tmp/code"
    cat "$tmp/answer"
}
send () { "$ctl" send --broker "ipc://$tmp/$1.sock" "$2" 2>&1 | tail -n 1; }
api () { curl -s -o "$tmp/body" -w '%{http_code}' \
    -H "Authorization: Bearer $token" "$@"; }
metric () { curl -s -H "Authorization: Bearer $token" "$1/auth/metrics" |
    awk -v m="$2" '$1 == m { print $2 }'; }

user=3994693e-a3ae-4e68-9323-451b4a95902a
sid=5da24106-869b-4c3d-8192-74d465ee28de
now=$(date +%s)
claims () {  # claims SID [JTI [EXTRA JSON]]
    jq -cn --arg u $user --arg s "$1" --arg j "${2:-jti-$RANDOM$RANDOM}" \
        --argjson x "${3:-{\}}" \
        '{sub: $u, sid: $s, jti: $j, iss: "https://id.example", aud: "hr-app",
          companyId: "5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11",
          scope: "reviews:read goals:write"} + $x'
}
mint () { python3 "$tool" token "$tmp" "$@"; }

#  1. A token of a session not known yet; then user.login.
good=$(mint rsa-1 "$(claims $sid jti-good)")
is "$(validate "$url1" "$good")" '{"active":false}' "no session yet: inactive"
python3 "$tool" event user.login "{\"userId\":\"$user\",\"sessionId\":\"$sid\",
    \"ip\":\"203.0.113.42\",\"userAgent\":\"t/1\",\"method\":\"sso\",
    \"mfa\":true}" > "$tmp/login.ndjson"
is "$(send b1 "$tmp/login.ndjson")" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "user.login ACKed"
answer=$(validate "$url1" "$good")
is "$(jq -c '[.active, .sub, .sid, .jti, .companyId, .scope, .iss, .aud]' \
    <<<"$answer")" \
    "[true,\"$user\",\"$sid\",\"jti-good\",\"5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11\",\"reviews:read goals:write\",\"https://id.example\",\"hr-app\"]" \
    "the session's token: active, with its claims"
ok "$(jq -e '.exp > .iat' <<<"$answer" > /dev/null; echo $?)" "  exp and iat"
is "$(validate "$url1" "$good" "goals:write")" "$answer" \
    "a scope it holds: active"
is "$(validate "$url1" "$good" "goals:write admin")" '{"active":false}' \
    "a scope it lacks: inactive"
is "$(send b1 "$tmp/login.ndjson")" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" \
    "the same user.login again: ACKed"
is "$(metric "$url1" 'ferry_auth_events_total{outcome="duplicate"}')" 1 \
    "  as a duplicate, nothing changed"
id=$(jq -r .id "$tmp/login.ndjson")
python3 "$tool" event user.login "{\"userId\":\"$user\",\"sessionId\":\"$sid\",
    \"ip\":\"198.51.100.1\",\"userAgent\":\"evil/1\",\"method\":\"password\",
    \"mfa\":false}" "$id" > "$tmp/other.ndjson"
send b1 "$tmp/other.ndjson" > /dev/null
is "$(metric "$url1" 'ferry_auth_events_total{outcome="conflict"}')" 1 \
    "another body under the same id: a conflict"
code=$(api "$url1/auth/sessions/$user")
is "$code" 200 "GET /auth/sessions/:userId"
is "$(jq -c '[.sessions[] | [.sessionId, .ip, .userAgent, .mfa]]' "$tmp/body")" \
    "[[\"$sid\",\"203.0.113.42\",\"t/1\",true]]" "  the one session, first body kept"

#  The URL's set rotates to hold the RSA key: D's first token of its kid
#  loads it again (waited for), a kid still unknown is refused.
cp "$tmp/jwks.json" "$www/jwks.json"
sleep 1.1
is "$(validate "$url4" "$good" | jq -c '[.active, .jti]')" '[true,"jti-good"]' \
    "D: a kid new to it loads the rotated set: active"
sleep 1.1
rsa9=$(mint rsa-1 "$(claims $sid)" '{"kid":"rsa-9"}')
is "$(validate "$url4" "$rsa9")" '{"active":false}' \
    "D: a kid the set does not have: inactive"
is "$(metric "$url4" 'ferry_auth_key_loads_total{result="ok"}')" 3 \
    "  after a load for it (the start, the rotation, rsa-9)"
sleep 1.1
is "$(validate "$url4" "$rsa9")" '{"active":false}' \
    "D: rsa-9 again, past the refresh interval: inactive"
is "$(metric "$url4" 'ferry_auth_key_loads_total{result="ok"}')" 3 \
    "  without a load (the negative cache)"

#  2. RFC 8725: tokens that must never be active.
bad=0
check_inactive () {  # check_inactive NAME TOKEN
    local got
    got=$(validate "$url1" "$2")
    if [ "$got" != '{"active":false}' ] || [ "$(cat "$tmp/code")" != 200 ]; then
        diag "$1: $(cat "$tmp/code") $got"
        bad=$((bad + 1))
    fi
}
c=$(claims $sid)
for alg in none None NONE nOnE; do
    h=$(jq -cn --arg a $alg '{alg: $a, typ: "JWT", kid: "rsa-1"}')
    t=$(python3 "$tool" forge-hs256 "$tmp/secret" "$c" "$h")
    check_inactive "alg $alg" "${t%.*}."
    check_inactive "alg $alg, signed" "$t"
done
check_inactive "HS256 keyed with the RSA public key" \
    "$(python3 "$tool" forge-hs256 "$tmp/rsa.pub" "$c" \
        '{"alg":"HS256","typ":"JWT","kid":"rsa-1"}')"
check_inactive "HS256 with the HMAC key under the RSA kid" \
    "$(mint rsa-1 "$c" '{"alg":"HS256"}' 2>/dev/null ||
       python3 "$tool" forge-hs256 "$tmp/secret" "$c" \
        '{"alg":"HS256","typ":"JWT","kid":"rsa-1"}')"
check_inactive "RS256 under the HMAC kid" \
    "$(mint rsa-1 "$c" '{"kid":"hs-1"}')"
check_inactive "expired" "$(mint rsa-1 "$(claims $sid x \
    "{\"iat\":$((now - 3600)),\"exp\":$((now - 600))}")")"
check_inactive "nbf ahead" "$(mint rsa-1 "$(claims $sid x \
    "{\"nbf\":$((now + 600))}")")"
check_inactive "iat ahead" "$(mint rsa-1 "$(claims $sid x \
    "{\"iat\":$((now + 600)),\"exp\":$((now + 900))}")")"
check_inactive "lifetime over a day" "$(mint rsa-1 "$(claims $sid x \
    "{\"exp\":$((now + 200000))}")")"
check_inactive "wrong aud" "$(mint rsa-1 "$(claims $sid x '{"aud":"other"}')")"
check_inactive "wrong iss" "$(mint rsa-1 "$(claims $sid x \
    '{"iss":"https://evil.example"}')")"
check_inactive "no sid" "$(mint rsa-1 "$(claims $sid x | jq -c 'del(.sid)')")"
check_inactive "typ JOSE" "$(mint rsa-1 "$c" '{"typ":"JOSE"}')"
check_inactive "no typ" "$(mint rsa-1 "$c" '{"typ":null}')"
check_inactive "kid a path" "$(mint rsa-1 "$c" '{"kid":"../../../../etc/passwd"}')"
check_inactive "kid SQL" "$(mint rsa-1 "$c" '{"kid":"x'"'"' OR 1=1 --"}')"
check_inactive "kid huge" "$(mint rsa-1 "$c" \
    "{\"kid\":\"$(head -c 3000 /dev/zero | tr '\0' k)\"}")"
check_inactive "kid unknown" "$(mint rsa-1 "$c" '{"kid":"rsa-2"}')"
check_inactive "kid of the encryption key" "$(mint rsa-1 "$c" '{"kid":"enc-1"}')"
check_inactive "oversized" "$(mint rsa-1 "$(claims $sid x \
    "{\"pad\":\"$(head -c 5000 /dev/zero | tr '\0' p)\"}")")"
check_inactive "padding" "${good}=="
check_inactive "a space" "${good:0:20} ${good:21}"
check_inactive "standard base64" "$(tr _- /+ <<<"$good")"
check_inactive "non-ASCII" "${good:0:30}é${good:31}"
check_inactive "four parts" "$good.x"
check_inactive "signature cut" "${good:0:$((${#good} - 4))}"
check_inactive "empty" ""
is "$bad" 0 "every forged, expired or malformed token inactive, 200"
is "$(validate "$url1" "$good")" "$answer" "the good token still active"
reasons=$(curl -s -H "Authorization: Bearer $token" "$url1/auth/metrics" |
    grep -c '^ferry_auth_inactive_total{reason=')
ok "$([ "$reasons" -ge 12 ]; echo $?)" "reasons counted apart ($reasons kinds)"
grep -q "$good" "$tmp/A.log"
ok "$([ $? -ne 0 ]; echo $?)" "no token in the log"
is "$(api -X POST -H 'Content-Type: application/json' -d '{"tok":1}' \
    "$url1/auth/validate")" 400 "a body without token: 400"

#  3. Across processes: B caches, A revokes, B's next validate sees it.
is "$(validate "$url2" "$good")" "$answer" "B: active"
is "$(validate "$url2" "$good")" "$answer" "B: active again"
ok "$([ "$(metric "$url2" ferry_auth_cache_hits_total)" -ge 1 ]; echo $?)" \
    "  from B's cache"
is "$(api -X DELETE "$url1/auth/sessions/$sid")" 200 \
    "A: DELETE /auth/sessions/:sessionId"
is "$(jq -c . "$tmp/body")" '{"revoked":1}' "  one session revoked"
is "$(validate "$url2" "$good")" '{"active":false}' \
    "B: the next validate is inactive (its cache dropped over pub/sub)"
is "$(api -X DELETE "$url1/auth/sessions/$sid")" 200 "DELETE it again: 200"
is "$(jq -c . "$tmp/body")" '{"revoked":0}' "  nothing more revoked"
is "$(api -X DELETE "$url1/auth/sessions/00000000-0000-4000-8000-000000000000")" \
    404 "an unknown session: 404"
is "$(api "$url1/auth/sessions/not-a-uuid")" 404 "a user id not a uuid: 404"

#  4. Events: logout, a denied jti, revoke-all by password change.
login () {  # login SID [OCCURRED_AT]
    python3 "$tool" event user.login "{\"userId\":\"$user\",\"sessionId\":\"$1\",
        \"ip\":\"203.0.113.7\",\"userAgent\":\"t/2\",\"method\":\"password\",
        \"mfa\":false}" "" "${2:-}" > "$tmp/l.ndjson"
    send b1 "$tmp/l.ndjson"
}
s2=6b1c5a1e-1111-4c3d-8192-74d465ee28de
s3=6b1c5a1e-2222-4c3d-8192-74d465ee28de
login $s2 > /dev/null
t2=$(mint rsa-1 "$(claims $s2 jti-two)")
is "$(validate "$url2" "$t2" | jq .active)" true "a second session: active"
exp=$(date -u -d "@$((now + 900))" +%Y-%m-%dT%H:%M:%S.000Z)
python3 "$tool" event auth.token_revoked "{\"userId\":\"$user\",
    \"tokenId\":\"jti-two\",\"tokenType\":\"access\",\"reason\":\"compromised\",
    \"expiresAt\":\"$exp\"}" > "$tmp/deny.ndjson"
is "$(send b1 "$tmp/deny.ndjson")" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "auth.token_revoked ACKed"
is "$(validate "$url2" "$t2")" '{"active":false}' "its jti denied: inactive"
ttl=$(redis-cli -u "$REDIS_URL" PTTL "${prefix}jti:jti-two")
ok "$([ "$ttl" -gt 800000 ] && [ "$ttl" -le 900000 ]; echo $?)" \
    "  kept until the token's exp ($ttl ms)"
t2b=$(mint rsa-1 "$(claims $s2 jti-three "{\"iat\":$((now - 5))}")")
is "$(validate "$url2" "$t2b" | jq .active)" true "another token of it: active"
python3 "$tool" event user.password_changed "{\"userId\":\"$user\",
    \"method\":\"change\",\"revokeOtherSessions\":false}" > "$tmp/pw.ndjson"
is "$(send b1 "$tmp/pw.ndjson")" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "user.password_changed ACKed"
is "$(validate "$url2" "$t2b")" '{"active":false}' "revoke-all: inactive"
sleep 1
login $s3 > /dev/null
old=$(mint rsa-1 "$(claims $s3 jti-old "{\"iat\":$((now - 5))}")")
new=$(mint rsa-1 "$(claims $s3 jti-new "{\"iat\":$(($(date +%s)))}")")
is "$(validate "$url2" "$old")" '{"active":false}' \
    "a live session's token issued before the revoke-all: inactive"
is "$(validate "$url2" "$new" | jq .active)" true "  one issued after: active"
python3 "$tool" event user.logout "{\"userId\":\"$user\",\"sessionId\":\"$s3\",
    \"reason\":\"user\"}" > "$tmp/out.ndjson"
is "$(send b1 "$tmp/out.ndjson")" \
    "sent 1, acked 1, nacked 0 (retryable 0), invalid 0" "user.logout ACKed"
is "$(validate "$url2" "$new")" '{"active":false}' "logged out: inactive"
login $s2 > /dev/null
is "$(validate "$url2" "$(mint rsa-1 "$(claims $s2)")")" '{"active":false}' \
    "a login replayed after its revocation stays revoked"
s4=6b1c5a1e-4444-4c3d-8192-74d465ee28de
login $s4 > /dev/null
is "$(api -X DELETE "$url1/auth/users/$user/sessions")" 200 \
    "DELETE /auth/users/:userId/sessions"
is "$(jq -c . "$tmp/body")" '{"revoked":1}' "  its one live session"
code=$(api "$url1/auth/sessions/$user")
is "$(jq -c .sessions "$tmp/body")" '[]' "no session left"

#  The other key sources: a PEM public key, a shared secret; and a
#  configuration without exactly one source refused (exit 2, one line).
s5=6b1c5a1e-5555-4c3d-8192-74d465ee28de
login $s5 > /dev/null
start_broker b5 $((base + 4))
url5=http://127.0.0.1:$((base + 4))
#  one_key NAME WHAT GOOD_KID BAD_KID [ARG...]: a ferry-auth of one key on
#  b5 takes the tokens of GOOD_KID's key and no others, then stops.
one_key () {
    local name=$1 what=$2 good_kid=$3 bad_kid=$4
    shift 4
    start_auth "$name" b5 --set auth.jwks_file= "$@"
    up "$url5"
    ok $? "$name with $what: healthy"
    is "$(validate "$url5" "$(mint $good_kid "$(claims $s5)")" | jq .active)" \
        true "  a token of its key: active (its kid not needed)"
    is "$(validate "$url5" "$(mint $bad_kid "$(claims $s5)")")" \
        '{"active":false}' "  a token of the other key: inactive"
    kill -TERM $auth_pid
    wait $auth_pid
}
one_key E "a PEM public key" rsa-1 hs-1 \
    --set "auth.jwt_public_key_file=$tmp/rsa.pub"
FERRY_AUTH_JWT_SECRET_FILE=$tmp/secret one_key F "a shared secret" hs-1 rsa-1 \
    --set auth.jwt_alg=HS256
"$auth" --set "auth.broker=ipc://$tmp/none.sock" > "$tmp/out" 2>&1
is "$?" 2 "no key source: exit 2"
is "$(wc -l < "$tmp/out")" 1 "  with one line: $(head -c 100 "$tmp/out")"
"$auth" --set "auth.broker=ipc://$tmp/none.sock" --set auth.jwt_secret=short \
    > "$tmp/out" 2>&1
is "$?" 2 "a secret too short: exit 2"
"$auth" --set "auth.broker=ipc://$tmp/none.sock" --set "auth.jwks_file=$tmp/jwks.json" \
    --set auth.redis_url=rediss://h > "$tmp/out" 2>&1
is "$?" 2 "a Redis URL refused: exit 2"

#  5. SIGTERM: a clean exit.
kill -TERM $pid_a
wait $pid_a
is $? 0 "SIGTERM: ferry-auth exits 0"

#  6. A Redis of its own, killed and restarted: 503 while it is down,
#  events NACKed for retry, then right answers and nothing lost.
rport=$((base + 20))
rdir=$tmp/redis
mkdir -p "$rdir"
start_redis () {
    redis-server --port $rport --bind 127.0.0.1 --dir "$rdir" --save '' \
        --appendonly yes --appendfsync always --logfile "$rdir/log" &
    redis_pid=$!
    pids+=($redis_pid)
    for _ in $(seq 100); do
        redis-cli -p $rport PING > /dev/null 2>&1 && return 0
        sleep 0.05
    done
    return 1
}
start_redis || bail_out "redis-server on $rport did not start"
start_broker b3 $((base + 2))
url3=http://127.0.0.1:$((base + 2))
start_auth C b3 --set auth.redis_url=redis://127.0.0.1:$rport
up "$url3"
ok $? "C on its own Redis: healthy"
python3 "$tool" event user.login "{\"userId\":\"$user\",\"sessionId\":\"$sid\",
    \"ip\":\"203.0.113.42\",\"userAgent\":\"t/1\",\"method\":\"sso\",
    \"mfa\":true}" > "$tmp/login3.ndjson"
send b3 "$tmp/login3.ndjson" > /dev/null
t=$(mint rsa-1 "$(claims $sid)")
is "$(validate "$url3" "$t" | jq .active)" true "active"
kill -KILL $redis_pid
wait $redis_pid 2>/dev/null
validate "$url3" "$t" > /dev/null
for _ in $(seq 20); do
    [ "$(cat "$tmp/code")" = 503 ] && break
    sleep 0.1
    validate "$url3" "$t" > /dev/null
done
is "$(cat "$tmp/code")" 503 "Redis down: validate answers 503"
is "$(jq -r .error.code "$tmp/answer")" redis_unavailable "  redis_unavailable"
is "$(curl -s -o /dev/null -w '%{http_code}' "$url3/auth/health")" 503 \
    "  /auth/health 503"
python3 "$tool" event user.deactivated "{\"userId\":\"$user\",
    \"reason\":\"resigned\",\"effectiveAt\":\"2026-01-01T00:00:00.000Z\"}" \
    > "$tmp/deact.ndjson"
is "$(send b3 "$tmp/deact.ndjson")" \
    "sent 1, acked 0, nacked 1 (retryable 1), invalid 0" \
    "  user.deactivated NACKed for retry"
grep -q "not ready: Redis unavailable" "$tmp/C.log"
ok $? "  said once in the log"
start_redis || bail_out "redis-server on $rport did not start again"
up "$url3"
ok $? "Redis back: healthy again"
is "$(validate "$url3" "$t" | jq .active)" true \
    "the session survived the restart: active"
want="sent 1, acked 1, nacked 0 (retryable 0), invalid 0"
for _ in $(seq 20); do
    out=$(send b3 "$tmp/deact.ndjson")
    [ "$out" = "$want" ] && break
    sleep 0.2
done
is "$out" "$want" "the NACKed event redelivered: ACKed"
is "$(validate "$url3" "$t")" '{"active":false}' \
    "  and applied: the deactivated user's token inactive"
done_testing
