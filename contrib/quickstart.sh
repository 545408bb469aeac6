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
#  ferry-notify (its e-mails go to the stack's SMTP capture server, whose
#  web page shows them) and publishes the sample events through it, then
#  starts ferry-bridge and
#  sends them again, with fresh ids, through SQS, and ends with a search
#  over the audit API. Everything stays up afterwards for you to look at;
#  `contrib/quickstart.sh stop` ends it all: the broker, the bridge,
#  ferry-audit, ferry-notify and the stack. A second run rebuilds only what changed and
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
stop_system () {
    local pidfile pid pids=()
    for pidfile in "$RUN"/*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        rm -f "$pidfile"
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 100); do
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
        echo "quickstart: broker, bridge, ferry-audit and ferry-notify stopped"
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

say "broker, ferry-audit and ferry-notify"
stop_system
mkdir -p "$RUN"
chmod 700 "$RUN"
#  Demo secrets, made once and kept private to this checkout.
[ -f "$RUN/jwt_secret" ] || head -c 32 /dev/urandom | base64 >"$RUN/jwt_secret"
[ -f "$RUN/admin_token" ] || head -c 24 /dev/urandom | base64 >"$RUN/admin_token"
[ -f "$RUN/digest_key" ] || head -c 32 /dev/urandom | base64 >"$RUN/digest_key"
chmod 600 "$RUN/jwt_secret" "$RUN/admin_token" "$RUN/digest_key"
export FERRY_HTTP_JWT_SECRET_FILE=$RUN/jwt_secret
export FERRY_HTTP_ADMIN_TOKEN_FILE=$RUN/admin_token
export FERRY_STORE_DIGEST_KEY_FILE=$RUN/digest_key
endpoint=tcp://127.0.0.1:$ZMQ_PORT
http=http://127.0.0.1:$HTTP_PORT
"$BUILD/broker/ferry-broker" --set broker.endpoint=$endpoint \
    --set http.address=127.0.0.1 --set http.port=$HTTP_PORT \
    >"$RUN/broker.log" 2>&1 &
echo $! >"$RUN/broker.pid"
"$BUILD/workers/audit/ferry-audit" --set audit.broker=$endpoint \
    >"$RUN/audit.log" 2>&1 &
echo $! >"$RUN/audit.pid"
#  SMTP_URL from the stack's env: its capture server, which takes plain
#  SMTP on 127.0.0.1.
"$BUILD/workers/notify/ferry-notify" --set notify.broker=$endpoint \
    --set notify.smtp_starttls=none \
    --set notify.rules_file="$ROOT/contrib/notify.rules.json" \
    >"$RUN/notify.log" 2>&1 &
echo $! >"$RUN/notify.pid"
for _ in $(seq 50); do
    curl -sf $http/ready >/dev/null &&
        curl -sf $http/notifications/health >/dev/null && break
    sleep 0.1
done
curl -sf $http/ready >/dev/null && curl -sf $http/notifications/health \
    >/dev/null || die "the broker, ferry-audit or ferry-notify is not ready; see $RUN/*.log"
masked=$(sed 's/:[^:@]*@/:***@/' <<<"$DATABASE_URL")
echo "    broker $endpoint, $http, ferry-audit and ferry-notify on $masked"
echo "    (logs in ${RUN#"$ROOT"/})"

say "publish the sample events through the broker"
for sample in "${samples[@]}"; do
    jq -c . "$sample"
done | "$ferryctl" --set broker.endpoint=$endpoint send --broker $endpoint
echo "    audit.events holds $(q 'SELECT count(*) FROM audit.events') rows"
#  notification.requested and review.assigned (by contrib/notify.rules.json)
#  became e-mails, in the capture server by now.
for _ in $(seq 50); do
    [ "$(q "SELECT count(*) FROM notify.deliveries WHERE status = 'sent'")" \
        -ge 2 ] && break
    sleep 0.1
done
sent=$(q "SELECT coalesce(json_agg(DISTINCT recipient->>'email'), '[]') FROM notify.deliveries WHERE status = 'sent'")
curl -sf "$SMTP_CAPTURE_URL/email" |
    jq -r --argjson sent "$sent" '.[] | select(.to[0].address as $a |
        $sent | index($a)) | "    e-mail to \(.to[0].address): \(.subject)"' ||
    die "the SMTP capture server does not answer; see $RUN/notify.log"
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

company=$(jq -r .companyId "${samples[0]}")
say "search the audit API: GET /audit/search?companyId=$company&limit=5"
curl -sf -H "Authorization: Bearer $token" \
    "$http/audit/search?companyId=$company&limit=5" |
    jq -r '.items[] | "    \(.occurredAt)  \(.type)  \(.id)"' ||
    die "the audit search failed; see $RUN/audit.log"

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
    psql "\$DATABASE_URL" -c 'SELECT status, template, recipient FROM notify.deliveries'
    $SMTP_CAPTURE_URL (the e-mails ferry-notify sent)
  contrib/quickstart.sh stop ends the broker, the bridge, ferry-audit, ferry-notify and the stack.
EOF
