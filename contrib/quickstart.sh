#!/usr/bin/env bash
#  contrib/quickstart.sh -- ferry on this machine, from a clone, in one go:
#  installs the Debian packages that are missing (contrib/packages.sh, as
#  contrib/test.sh does), builds it (plain, out of tree in _build/quick),
#  starts the service stack
#  (contrib/stack.sh), prints the environment the programs read, and checks
#  every sample event in contrib/demo/*.json with `ferryctl validate`,
#  migrates the stack's PostgreSQL (`ferryctl migrate`), then starts
#  ferry-broker (FERRY1 on 127.0.0.1:25570, HTTP on 127.0.0.1:28080, both
#  moved by FERRY_PORT_OFFSET as the stack's ports are) with ferry-audit and
#  ferry-auth (on the stack's Redis), ferry-analytics and ferry-notify
#  (its e-mails go to the stack's SMTP capture server, whose web page shows
#  them), and publishes the sample events through it, then starts
#  ferry-bridge and sends them again, with fresh ids, through SQS, logs a
#  user in and validates their token over the auth API, and ends with a
#  search over the audit API and the demo company's statistics over the
#  analytics API. Everything stays up afterwards for you to look at;
#  `contrib/quickstart.sh stop` ends it all: the broker, the bridge, the
#  workers and the stack. A second run rebuilds only what changed and
#  restarts the programs. The other workers join here as they are written.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/_build/quick
JOBS=${FERRY_JOBS:-2}

RUN=$ROOT/var/quick
OFF=${FERRY_PORT_OFFSET:-0}
case $OFF in
    ''|*[!0-9]*) echo "quickstart: FERRY_PORT_OFFSET=$OFF is not a number" >&2
        exit 1 ;;
esac
ZMQ_PORT=$((25570 + OFF))
HTTP_PORT=$((28080 + OFF))

say () {
    printf '==> %s\n' "$*"
}

die () {
    echo "quickstart: $*" >&2
    exit 1
}

#  SIGTERM to what the last run started, then wait for it to be gone, so
#  that a second run's programs never meet the first run's on their ports.
#  The bridge takes up to bridge.wait_s (20 s) and a little more: it lets
#  its open long polls return and gives back what they bring. Killed
#  before that, the polls stay open at SQS, which hands the next run's
#  events to them: those would come back only after the visibility
#  timeout (30 s).
stop_system () {
    local pidfile pid pids=()
    for pidfile in "$RUN"/*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$pidfile"
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    done
    return 0
}

case ${1:-} in
    stop)
        stop_system
        echo "quickstart: the broker, the bridge and the workers stopped"
        exec "$ROOT/contrib/stack.sh" stop ;;
    '') ;;
    *) die "usage: contrib/quickstart.sh [stop]" ;;
esac

"$ROOT/contrib/packages.sh" || die "a Debian package is missing"

say "build in ${BUILD#"$ROOT"/}"
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ]
then
    (cd "$ROOT" && ./autogen.sh) >/dev/null 2>&1 ||
        die "autogen.sh failed; run it by hand to see why"
fi
[ -f "$ROOT/config.status" ] &&
    die "the source tree is configured in place; run 'make distclean' there"
mkdir -p "$BUILD"
if [ ! -f "$BUILD/Makefile" ]; then
    (cd "$BUILD" && ../../configure --enable-werror) >"$BUILD/configure.out" \
        2>&1 || {
        tail -n 20 "$BUILD/configure.out" >&2
        die "configure failed (the line above names a missing package)"
    }
fi
make -C "$BUILD" -j"$JOBS" all >"$BUILD/make.out" 2>&1 || {
    tail -n 30 "$BUILD/make.out" >&2
    die "make failed; full output in $BUILD/make.out"
}

say "stack"
"$ROOT/contrib/stack.sh" start
"$ROOT/contrib/stack.sh" status
eval "$("$ROOT/contrib/stack.sh" env)"

say "environment (eval \"\$(contrib/stack.sh env)\" in your shell)"
"$ROOT/contrib/stack.sh" env

#  Run from the build tree, the programs read the source tree's schemas/
#  and sql/ by themselves (doc/config.md, PKGDATADIR).

say "validate the sample events in contrib/demo"
ferryctl=$BUILD/tools/ferryctl
[ -x "$ferryctl" ] || die "$ferryctl was not built (tools/ferryctl)"
shopt -s nullglob
samples=("$ROOT"/contrib/demo/*.json)
[ ${#samples[@]} -gt 0 ] || die "no sample events in contrib/demo/*.json"
bad=0
for sample in "${samples[@]}"; do
    name=${sample#"$ROOT"/}
    if out=$("$ferryctl" validate <"$sample" 2>&1); then
        echo "    valid    $name"
    else
        echo "    INVALID  $name"
        printf '%s\n' "$out" | sed 's/^/             /'
        bad=$((bad + 1))
    fi
done
[ "$bad" -eq 0 ] || die "$bad of ${#samples[@]} sample events are invalid"
echo "    all ${#samples[@]} sample events are valid"

say "migrate the stack's PostgreSQL"
"$ferryctl" migrate
q () { psql -qXAt "$DATABASE_URL" -c "$1"; }

say "the broker and the workers: audit, auth, analytics, notify"
stop_system
mkdir -p "$RUN"
chmod 700 "$RUN"
#  Demo secrets, made once and kept private to this checkout.
[ -f "$RUN/jwt_secret" ] || head -c 32 /dev/urandom | base64 >"$RUN/jwt_secret"
[ -f "$RUN/admin_token" ] || head -c 24 /dev/urandom | base64 >"$RUN/admin_token"
[ -f "$RUN/digest_key" ] || head -c 32 /dev/urandom | base64 >"$RUN/digest_key"
#  The key of user tokens, which the monolith would hold: not the
#  service tokens' one.
[ -f "$RUN/user_secret" ] || head -c 32 /dev/urandom | base64 >"$RUN/user_secret"
chmod 600 "$RUN/jwt_secret" "$RUN/admin_token" "$RUN/digest_key" \
    "$RUN/user_secret"
export FERRY_HTTP_JWT_SECRET_FILE=$RUN/jwt_secret
export FERRY_HTTP_ADMIN_TOKEN_FILE=$RUN/admin_token
export FERRY_STORE_DIGEST_KEY_FILE=$RUN/digest_key
export FERRY_AUTH_JWT_SECRET_FILE=$RUN/user_secret
endpoint=tcp://127.0.0.1:$ZMQ_PORT
http=http://127.0.0.1:$HTTP_PORT
"$BUILD/broker/ferry-broker" --set broker.endpoint=$endpoint \
    --set http.address=127.0.0.1 --set http.port=$HTTP_PORT \
    >"$RUN/broker.log" 2>&1 &
echo $! >"$RUN/broker.pid"
"$BUILD/workers/audit/ferry-audit" --set audit.broker=$endpoint \
    >"$RUN/audit.log" 2>&1 &
echo $! >"$RUN/audit.pid"
"$BUILD/workers/auth/ferry-auth" --set auth.broker=$endpoint \
    >"$RUN/auth.log" 2>&1 &
echo $! >"$RUN/auth.pid"
"$BUILD/workers/analytics/ferry-analytics" --set analytics.broker=$endpoint \
    >"$RUN/analytics.log" 2>&1 &
echo $! >"$RUN/analytics.pid"
#  SMTP_URL from the stack's env: its capture server, which takes plain
#  SMTP on 127.0.0.1.
"$BUILD/workers/notify/ferry-notify" --set notify.broker=$endpoint \
    --set notify.smtp_starttls=none \
    --set notify.rules_file="$ROOT/contrib/notify.rules.json" \
    >"$RUN/notify.log" 2>&1 &
echo $! >"$RUN/notify.pid"
#  The broker ready (a worker for every routed service) and each worker's
#  own dependencies up.
ready () {
    local path
    for path in ready auth/health analytics/health notifications/health; do
        curl -sf "$http/$path" >/dev/null || return 1
    done
}
for _ in $(seq 50); do
    ready && break
    sleep 0.1
done
ready || die "the broker or a worker is not ready; see $RUN/*.log"
masked=$(sed 's/:[^:@]*@/:***@/' <<<"$DATABASE_URL")
echo "    broker $endpoint, $http; ferry-audit, ferry-analytics and" \
    "ferry-notify on $masked, ferry-auth on $REDIS_URL"
echo "    (logs in ${RUN#"$ROOT"/})"

say "publish the sample events through the broker"
for sample in "${samples[@]}"; do
    jq -c . "$sample"
done | "$ferryctl" --set broker.endpoint=$endpoint send --broker $endpoint
echo "    audit.events holds $(q 'SELECT count(*) FROM audit.events') rows"
#  notification.requested, review.assigned and feedback.given (by
#  contrib/notify.rules.json; the receiver's address from the directory
#  the user.created samples fed) became e-mails, in the capture server
#  by now.
for _ in $(seq 50); do
    [ "$(q "SELECT count(*) FROM notify.deliveries WHERE status = 'sent'")" \
        -ge 3 ] && break
    sleep 0.1
done
#  Found by their X-Ferry-Delivery header (the ledger has no address for
#  a recipient named by user id only), each asked of maildev by it: the
#  whole list of a long-lived stack's mailbox may be more than a client
#  takes.
for id in $(q "SELECT id FROM notify.deliveries WHERE status = 'sent' AND channel = 'email' ORDER BY created_at"); do
    curl -sf "$SMTP_CAPTURE_URL/email?headers.x-ferry-delivery=$id" |
        jq -r '.[] | "    e-mail to \(.to[0].address): \(.subject)"' ||
        die "the SMTP capture server does not answer; see $RUN/notify.log"
done
echo "    (every message at $SMTP_CAPTURE_URL)"

say "the bridge: the sample events through SQS"
"$BUILD/bridge/ferry-bridge" --set bridge.broker=$endpoint \
    >"$RUN/bridge.log" 2>&1 &
echo $! >"$RUN/bridge.pid"
#  Fresh ids: the same ids again would be stored once (idempotent).
before=$(q 'SELECT count(*) FROM audit.events')
for sample in "${samples[@]}"; do
    jq -c --arg id "$(cat /proc/sys/kernel/random/uuid)" '.id = $id' \
        "$sample"
done | "$ferryctl" send --sqs "$SQS_QUEUE_URL"
for _ in $(seq 100); do
    [ $(($(q 'SELECT count(*) FROM audit.events') - before)) \
        -ge ${#samples[@]} ] && break
    sleep 0.1
done
stored=$(($(q 'SELECT count(*) FROM audit.events') - before))
echo "    ferry-audit stored $stored" \
    "of ${#samples[@]} events that went through SQS and the bridge"

say "POST /events with a service token (ferryctl token)"
token=$("$ferryctl" token --sub quickstart)
curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary @"$ROOT/tests/data/events/user.login.json" \
    $http/events
echo

say "a user logs in (user.login), then POST /auth/validate with their token"
login=$ROOT/contrib/demo/05-user.login.json
user=$(jq -r .payload.userId "$login")
sid=$(jq -r .payload.sessionId "$login")
now=$(date +%s)
jq -c --arg id "$(cat /proc/sys/kernel/random/uuid)" \
    --arg at "$(date -u -d @$now +%Y-%m-%dT%H:%M:%S.000Z)" \
    --arg until "$(date -u -d @$((now + 43200)) +%Y-%m-%dT%H:%M:%S.000Z)" \
    '.id = $id | .occurredAt = $at | .payload.expiresAt = $until' "$login" |
    "$ferryctl" send --broker $endpoint
#  What the monolith would mint at that login: HS256 with the user key.
user_token=$(python3 - "$RUN/user_secret" "$user" "$sid" "$now" <<'PY'
import base64, hashlib, hmac, json, sys, uuid
key = open(sys.argv[1], "rb").read().strip()
now = int(sys.argv[4])
def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def part(v): return b64(json.dumps(v, separators=(",", ":")).encode())
signing = part({"alg": "HS256", "typ": "JWT"}) + "." + part({
    "sub": sys.argv[2], "sid": sys.argv[3], "jti": str(uuid.uuid4()),
    "iat": now, "exp": now + 900, "scope": "goals:read"})
print(signing + "." + b64(hmac.new(key, signing.encode(), hashlib.sha256).digest()))
PY
)
curl -s -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"token\":\"$user_token\",\"scope\":\"goals:read\"}" \
    $http/auth/validate | jq -c . | sed 's/^/    /'
curl -s -H "Authorization: Bearer $token" "$http/auth/sessions/$user" |
    jq -r '.sessions[] | "    session \(.sessionId) until \(.expiresAt)"'

company=$(jq -r .companyId "${samples[0]}")
say "search the audit API: GET /audit/search?companyId=$company&limit=5"
curl -sf -H "Authorization: Bearer $token" \
    "$http/audit/search?companyId=$company&limit=5" |
    jq -r '.items[] | "    \(.occurredAt)  \(.type)  \(.id)"' ||
    die "the audit search failed; see $RUN/audit.log"

#  The samples happened in the past: the jobs of this hour ran before
#  they came. A recompute (admin token) rebuilds their days now.
from=$(for sample in "${samples[@]}"; do jq -r .occurredAt "$sample"; done |
    sort | head -n 1 | cut -c 1-10)T00:00:00Z
to=$(date -u -d tomorrow +%Y-%m-%dT00:00:00Z)
say "the analytics API: rebuild, then GET /analytics/company/$company/stats"
curl -sf -X POST -H "Authorization: Bearer $(cat "$RUN/admin_token")" \
    "$http/analytics/recompute?companyId=$company&from=$from&to=$to" |
    jq -c . || die "the analytics recompute failed; see $RUN/analytics.log"
curl -sf -H "Authorization: Bearer $token" \
    "$http/analytics/company/$company/stats?from=$from&to=$to" |
    jq -c '{timeZone, totals, lateEventsPending, watermark}' ||
    die "the analytics stats failed; see $RUN/analytics.log"

say "status"
FERRY_HTTP_ADMIN_TOKEN=$(cat "$RUN/admin_token") \
    "$ferryctl" --set http.port=$HTTP_PORT status

cat <<EOF
==> done. Look around:
    curl $http/metrics
    FERRY_HTTP_ADMIN_TOKEN=\$(cat ${RUN#"$ROOT"/}/admin_token) $ferryctl --set http.port=$HTTP_PORT status
    curl -H "Authorization: Bearer \$($ferryctl --set http.jwt_secret_file=${RUN#"$ROOT"/}/jwt_secret token)" \\
        "$http/audit/search?companyId=$company"
    psql "\$DATABASE_URL" -c 'SELECT * FROM reporting.audit_events_per_day'
    curl -H "Authorization: Bearer ..." $http/auth/sessions/$user
    psql "\$DATABASE_URL" -v company=$company -v from=${from%T*} -v to=${to%T*}
        \\i contrib/psql/ferry.psqlrc
        :company_daily
    psql "\$DATABASE_URL" -c 'SELECT status, template, recipient FROM notify.deliveries'
    $SMTP_CAPTURE_URL (the e-mails ferry-notify sent)
  contrib/quickstart.sh stop ends the broker, the bridge, the workers and the stack.
EOF
