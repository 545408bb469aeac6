#!/usr/bin/env bash
#  contrib/stack.sh start|stop|status|env -- the real services ferry's tests
#  and demo run against: PostgreSQL 15, Redis 7, the fauxqs SQS emulator and
#  the maildev SMTP capture server, on 127.0.0.1, on non-default ports, with
#  all their state in one private directory (var/stack, or FERRY_STACK_DIR).
#  start installs what is missing (Debian packages, npm ci), starts what is
#  not running and waits until every service answers; it is idempotent.
#  env prints the exports programs and tests read:
#      eval "$(contrib/stack.sh env)"
#  Every port can be moved by an environment variable; see doc/stack.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NPM_DIR=$ROOT/contrib/stack
STACK_DIR=${FERRY_STACK_DIR:-$ROOT/var/stack}

#  FERRY_PORT_OFFSET moves every default port at once, so two checkouts can
#  each run a stack.
OFF=${FERRY_PORT_OFFSET:-0}
case $OFF in
    ''|*[!0-9]*) echo "stack: FERRY_PORT_OFFSET=$OFF is not a number" >&2
        exit 1 ;;
esac
PG_PORT=${FERRY_PG_PORT:-$((25432 + OFF))}
REDIS_PORT=${FERRY_REDIS_PORT:-$((26379 + OFF))}
SQS_PORT=${FERRY_SQS_PORT:-$((24566 + OFF))}
SMTP_PORT=${FERRY_SMTP_PORT:-$((21025 + OFF))}
SMTP_WEB_PORT=${FERRY_SMTP_WEB_PORT:-$((21080 + OFF))}

PG_BIN=${FERRY_PG_BIN:-/usr/lib/postgresql/15/bin}
PG_DB=ferry
PG_ROLE=ferry
PG_PASSWORD=${FERRY_PG_PASSWORD:-ferry}
#  PostgreSQL refuses to run as root, so as root it runs as this system user.
PG_OS_USER=${FERRY_STACK_USER:-ferry}

AWS_REGION_STACK=${FERRY_STACK_REGION:-us-east-1}
SQS_ACCOUNT=000000000000
SQS_QUEUE=ferry-events
SQS_DLQ=ferry-events-dlq

SERVICES="postgres redis sqs smtp"

die () {
    echo "stack: $*" >&2
    exit 1
}

note () {
    echo "stack: $*" >&2
}

#  The last lines of a service's log, to say why it did not come up.
log_tail () {
    local log=$1
    if [ -r "$log" ]; then
        echo "---- last lines of $log ----" >&2
        tail -n 25 "$log" >&2
        echo "----" >&2
    fi
}

check_port () {
    local name=$1 value=$2
    case $value in
        ''|*[!0-9]*) die "$name=$value is not a port number" ;;
    esac
    if [ "$value" -lt 1024 ] || [ "$value" -gt 65535 ]; then
        die "$name=$value is outside 1024..65535"
    fi
}

check_port FERRY_PG_PORT "$PG_PORT"
check_port FERRY_REDIS_PORT "$REDIS_PORT"
check_port FERRY_SQS_PORT "$SQS_PORT"
check_port FERRY_SMTP_PORT "$SMTP_PORT"
check_port FERRY_SMTP_WEB_PORT "$SMTP_WEB_PORT"

is_root () {
    [ "$(id -u)" -eq 0 ]
}

#  As root, commands that touch PostgreSQL's files run as PG_OS_USER.
as_pg () {
    if is_root; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

#  PostgreSQL's directory must be reachable by PG_OS_USER. A repository
#  under a private home (/root is 0700) is not, so the data then lives in
#  /var/tmp under a name derived from the stack directory: the same one at
#  every call, so stop and status find it again.
pg_dir () {
    if ! is_root || runuser -u "$PG_OS_USER" -- test -x "$STACK_DIR" \
            2>/dev/null; then
        echo "$STACK_DIR/pg"
    else
        local tag
        tag=$(printf '%s' "$STACK_DIR" | md5sum | cut -c1-12)
        echo "/var/tmp/ferry-stack-$tag/pg"
    fi
}

#  ---------------------------------------------------------------------
#  Installation: each step only when something is missing.

install_node () {
    #  The machine's Node.js may come from outside Debian (with its own npm),
    #  so ask for the commands, not the packages.
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    [ "$major" -ge 20 ] ||
        die "Node.js $(node --version) is too old: fauxqs needs 20 or later"
}

install_npm () {
    local stamp=$NPM_DIR/node_modules/.package-lock.json
    if [ -f "$stamp" ] && [ "$stamp" -nt "$NPM_DIR/package-lock.json" ] &&
            [ -d "$NPM_DIR/node_modules/fauxqs" ]; then
        return 0
    fi
    note "npm ci in contrib/stack"
    (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2 ||
        die "npm ci in $NPM_DIR failed"
    #  npm ci leaves the stamp older than the lock when it restores files
    #  with their original times; touch it so the next start skips this.
    touch "$stamp"
}

install_all () {
    "$ROOT/contrib/packages.sh" >&2 || die "a Debian package is missing"
    install_node
    install_npm
    if is_root && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$PG_OS_USER" ||
            die "cannot create system user $PG_OS_USER"
    fi
}

#  ---------------------------------------------------------------------
#  Probes: does each service answer?

#  Each X_up means: the process our pidfile names is alive and the service
#  answers. A port that answers for someone else's process (another
#  checkout's stack, a system service) is not ours to use or to stop.

postgres_up () {
    live_pid "$(pg_dir)/data/postmaster.pid" postgres >/dev/null &&
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2
}

redis_answers () {
    [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping \
        2>/dev/null)" = PONG ]
}

redis_up () {
    live_pid "$STACK_DIR/redis/redis.pid" redis-server >/dev/null &&
        redis_answers
}

sqs_call () {
    local action=$1 body=$2
    curl -sf --max-time 3 -X POST "http://127.0.0.1:$SQS_PORT/" \
        -H 'Content-Type: application/x-amz-json-1.0' \
        -H "X-Amz-Target: AmazonSQS.$action" -d "$body"
}

sqs_listening () {
    sqs_call ListQueues '{}' >/dev/null 2>&1
}

#  Up means both ferry queues exist, not only that the port answers.
sqs_up () {
    local name
    live_pid "$STACK_DIR/sqs/pid" fauxqs.mjs >/dev/null || return 1
    for name in "$SQS_QUEUE" "$SQS_DLQ"; do
        sqs_call GetQueueUrl "{\"QueueName\":\"$name\"}" 2>/dev/null |
            grep -q "\"QueueUrl\"" || return 1
    done
}

smtp_answers () {
    curl -sf --max-time 3 -o /dev/null \
        "http://127.0.0.1:$SMTP_WEB_PORT/healthz" &&
        port_busy "$SMTP_PORT"
}

smtp_up () {
    live_pid "$STACK_DIR/smtp/pid" maildev >/dev/null && smtp_answers
}

port_busy () {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

#  Before starting a service: its ports must be free.
need_free () {
    local name=$1 port
    shift
    for port in "$@"; do
        port_busy "$port" || continue
        ss -ltnp "sport = :$port" 2>/dev/null | tail -n +2 >&2 || true
        die "$name: port $port is taken by another process (another" \
            "checkout's stack?); stop it, or move this stack with" \
            "FERRY_PORT_OFFSET or the FERRY_*_PORT variables"
    done
}

#  wait_for SECONDS PROBE [PIDFILE MARKER]: poll PROBE until it succeeds or
#  SECONDS have passed (a probe may itself take seconds against a port that
#  accepts and never answers); give up at once if the process we started
#  has died.
wait_for () {
    local seconds=$1 probe=$2 pidfile=${3:-} marker=${4:-}
    local deadline=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$deadline" ]; do
        "$probe" && return 0
        if [ -n "$pidfile" ] && ! live_pid "$pidfile" "$marker" >/dev/null
        then
            return 1
        fi
        sleep 0.2
    done
    "$probe"
}

#  A pid from a pidfile, only if that process is still the one we started
#  (its command line contains the marker): pids get reused.
live_pid () {
    local pidfile=$1 marker=$2 pid
    [ -f "$pidfile" ] || return 1
    pid=$(head -n 1 "$pidfile")
    case $pid in ''|*[!0-9]*) return 1 ;; esac
    [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$marker" || return 1
    echo "$pid"
}

#  ---------------------------------------------------------------------
#  Start.

start_postgres () {
    postgres_up && return 0
    local dir data sock log
    dir=$(pg_dir)
    data=$dir/data
    sock=$dir/run
    log=$dir/postgres.log
    #  Ours, still starting or recovering: wait for it.
    if live_pid "$data/postmaster.pid" postgres >/dev/null; then
        wait_for 30 postgres_up && return 0
        log_tail "$log"
        die "postgres: running but not answering on 127.0.0.1:$PG_PORT"
    fi
    #  A Unix socket path is limited to 107 bytes.
    [ ${#sock} -le 80 ] ||
        die "postgres: socket directory $sock is too long; set FERRY_STACK_DIR"
    need_free postgres "$PG_PORT"
    mkdir -p "$dir" "$sock"
    is_root && chown -R "$PG_OS_USER:" "$dir"
    [ "$dir" = "$STACK_DIR/pg" ] ||
        note "postgres: $STACK_DIR is not reachable by $PG_OS_USER; data in $dir"
    if [ ! -f "$data/PG_VERSION" ]; then
        local pwfile
        pwfile=$dir/pwfile
        printf '%s\n' "$PG_PASSWORD" >"$pwfile"
        is_root && chown "$PG_OS_USER:" "$pwfile"
        chmod 600 "$pwfile"
        as_pg "$PG_BIN/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
            -E UTF8 --locale=C.UTF-8 --auth-local=trust \
            --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 || {
            log_tail "$dir/initdb.log"
            die "postgres: initdb failed"
        }
        rm -f "$pwfile"
        #  A throwaway test server: durability buys nothing here and costs
        #  seconds per test run.
        as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF
# contrib/stack.sh
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
log_min_messages = warning
EOF
    fi
    as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 30 \
        -o "-p $PG_PORT -k $sock" start >/dev/null || {
        log_tail "$log"
        die "postgres: pg_ctl start failed on port $PG_PORT"
    }
    #  The role and database, once; the DO block makes it safe to repeat.
    as_pg "$PG_BIN/psql" -X -q -h "$sock" -p "$PG_PORT" -U postgres \
        -d postgres -v ON_ERROR_STOP=1 -v pw="$PG_PASSWORD" \
        >>"$log" 2>&1 <<EOF || { log_tail "$log"; die "postgres: setup failed"; }
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$PG_ROLE', :'pw')
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_ROLE')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DB', '$PG_ROLE')
    WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB')
\gexec
-- The analysts' read-only role (sql/0008_analytics_reporting.sql grants it
-- the reporting schema); $PG_ROLE may SET ROLE to it, as the tests do.
SELECT 'CREATE ROLE ferry_reporting NOLOGIN'
    WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_reporting')
\gexec
GRANT ferry_reporting TO $PG_ROLE;
-- The tests and benchmarks drop their scratch databases WITH (FORCE); an
-- autovacuum worker in one has no role of ours, and only this lets the
-- drop end it rather than fail.
GRANT pg_signal_backend TO $PG_ROLE;
EOF
    wait_for 15 postgres_up || {
        log_tail "$log"
        die "postgres: no answer on 127.0.0.1:$PG_PORT"
    }
}

start_redis () {
    redis_up && return 0
    local dir=$STACK_DIR/redis
    need_free redis "$REDIS_PORT"
    mkdir -p "$dir"
    rm -f "$dir/redis.pid"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
        --appendonly no --daemonize yes --dir "$dir" \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
        >/dev/null || {
        log_tail "$dir/redis.log"
        die "redis: redis-server failed to start"
    }
    wait_for 15 redis_answers || {
        log_tail "$dir/redis.log"
        die "redis: no PONG on 127.0.0.1:$REDIS_PORT"
    }
}

#  Start a node program in its own session, detached from our terminal.
spawn_node () {
    local dir=$1
    shift
    mkdir -p "$dir"
    (cd "$NPM_DIR" && exec setsid "$@" </dev/null >>"$dir/log" 2>&1) &
    echo $! >"$dir/pid"
}

start_sqs () {
    local dir=$STACK_DIR/sqs
    if ! live_pid "$dir/pid" fauxqs.mjs >/dev/null || ! sqs_listening; then
        stop_one sqs
        need_free sqs "$SQS_PORT"
        FAUXQS_PORT=$SQS_PORT FAUXQS_BIND=127.0.0.1 \
            AWS_REGION=$AWS_REGION_STACK spawn_node "$dir" node fauxqs.mjs
        wait_for 20 sqs_listening "$dir/pid" fauxqs.mjs || {
            log_tail "$dir/log"
            die "sqs: fauxqs does not answer on 127.0.0.1:$SQS_PORT"
        }
    fi
    sqs_up && return 0
    #  The emulator keeps queues in memory: a fresh one has none.
    (cd "$NPM_DIR" && env AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$SQS_PORT" \
        AWS_REGION="$AWS_REGION_STACK" AWS_ACCESS_KEY_ID=ferry \
        AWS_SECRET_ACCESS_KEY=stack-secret-not-real FERRY_SQS_QUEUE=$SQS_QUEUE \
        FERRY_SQS_DLQ=$SQS_DLQ node sqs-setup.mjs) >>"$dir/log" 2>&1 || {
        log_tail "$dir/log"
        die "sqs: cannot create queues $SQS_QUEUE and $SQS_DLQ"
    }
    sqs_up || {
        log_tail "$dir/log"
        die "sqs: queues missing after setup"
    }
}

start_smtp () {
    local dir=$STACK_DIR/smtp
    if live_pid "$dir/pid" maildev >/dev/null && smtp_up; then
        return 0
    fi
    stop_one smtp
    need_free smtp "$SMTP_PORT" "$SMTP_WEB_PORT"
    mkdir -p "$dir/mail"
    spawn_node "$dir" node node_modules/maildev/bin/maildev \
        --ip 127.0.0.1 --web-ip 127.0.0.1 --smtp "$SMTP_PORT" \
        --web "$SMTP_WEB_PORT" --mail-directory "$dir/mail"
    wait_for 20 smtp_answers "$dir/pid" maildev || {
        log_tail "$dir/log"
        die "smtp: maildev does not answer on 127.0.0.1:$SMTP_PORT/$SMTP_WEB_PORT"
    }
}

do_start () {
    mkdir -p "$STACK_DIR"
    install_all
    local svc
    for svc in $SERVICES; do
        "start_$svc"
    done
    note "up in $STACK_DIR: postgres :$PG_PORT, redis :$REDIS_PORT," \
        "sqs :$SQS_PORT, smtp :$SMTP_PORT (web :$SMTP_WEB_PORT)"
}

#  ---------------------------------------------------------------------
#  Stop: only the processes we started, found by pidfile, then verified.

#  Is pid a process that has not exited? Our daemons are orphans, and an
#  init that reaps slowly leaves them as zombies for seconds: a zombie has
#  exited and closed its ports.
pid_alive () {
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

#  Wait up to SECONDS for pid to exit.
wait_gone () {
    local pid=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        pid_alive "$pid" || return 0
        sleep 0.1
    done
    return 1
}

stop_pid () {
    local name=$1 pidfile=$2 marker=$3 pid
    pid=$(live_pid "$pidfile" "$marker") || { rm -f "$pidfile"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 10; then
        note "$name: pid $pid ignored SIGTERM; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || die "$name: pid $pid will not exit"
    fi
    rm -f "$pidfile"
}

stop_one () {
    case $1 in
    postgres)
        local data
        data=$(pg_dir)/data
        if live_pid "$data/postmaster.pid" postgres >/dev/null; then
            as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w -t 30 stop \
                >/dev/null 2>&1 ||
                as_pg "$PG_BIN/pg_ctl" -D "$data" -m immediate -w stop \
                    >/dev/null 2>&1 || true
        fi
        ;;
    redis)
        stop_pid redis "$STACK_DIR/redis/redis.pid" redis-server ;;
    sqs)
        stop_pid sqs "$STACK_DIR/sqs/pid" fauxqs.mjs ;;
    smtp)
        stop_pid smtp "$STACK_DIR/smtp/pid" maildev ;;
    esac
}

do_stop () {
    local svc left=""
    for svc in $SERVICES; do
        stop_one "$svc"
    done
    live_pid "$(pg_dir)/data/postmaster.pid" postgres >/dev/null &&
        left="$left postgres"
    live_pid "$STACK_DIR/redis/redis.pid" redis-server >/dev/null &&
        left="$left redis"
    for svc in sqs smtp; do
        [ -f "$STACK_DIR/$svc/pid" ] && left="$left $svc"
    done
    [ -z "$left" ] || die "still running after stop:$left"
    note "stopped"
}

#  ---------------------------------------------------------------------
#  Status and env.

do_status () {
    local down=0 svc state
    for svc in $SERVICES; do
        if "${svc}_up"; then
            state=up
        else
            state=down
            down=1
        fi
        printf '%-9s %s\n' "$svc" "$state"
    done
    return $down
}

do_env () {
    local sqs=http://127.0.0.1:$SQS_PORT
    cat <<EOF
export DATABASE_URL='postgresql://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB'
export REDIS_URL='redis://127.0.0.1:$REDIS_PORT/0'
export AWS_ENDPOINT_URL_SQS='$sqs'
export SQS_QUEUE_URL='$sqs/$SQS_ACCOUNT/$SQS_QUEUE'
export SQS_DLQ_URL='$sqs/$SQS_ACCOUNT/$SQS_DLQ'
export AWS_REGION='$AWS_REGION_STACK'
export AWS_ACCESS_KEY_ID='ferry'
export AWS_SECRET_ACCESS_KEY='stack-secret-not-real'
export AWS_EC2_METADATA_DISABLED='true'
export SMTP_URL='smtp://127.0.0.1:$SMTP_PORT'
export SMTP_CAPTURE_URL='http://127.0.0.1:$SMTP_WEB_PORT'
export FERRY_STACK_NODE_MODULES='$NPM_DIR/node_modules'
export FERRY_STACK_DIR='$STACK_DIR'
EOF
}

case ${1:-} in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    env) do_env ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
