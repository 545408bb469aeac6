#!/bin/sh
#  make bench [BENCH=name]: run every benchmark, or the one whose figure
#  is named, from the build directory. Each prints
#  "bench NAME VALUE UNIT limit=VALUE ratio=R" where ratio is value/limit
#  (for latencies and memory, lower is better). A benchmark that prints
#  several figures runs when any of them is named. A benchmark exits 1
#  when a figure breaks its floor or bound; the others still run and
#  make bench fails at the end.
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
only=$1
status=0
run () {
    names=$1; shift
    for name in $names; do
        case "$only" in ""|"$name") "$@" || status=1; return ;; esac
    done
}
run event_decode tests/bench/bench_event "$srcdir"
run template_render tests/bench/bench_template
run "broker_throughput broker_latency_p50 broker_latency_p99" \
    tests/bench/bench_broker flow
run "broker_rss_100k broker_rss_100k_held" tests/bench/bench_broker rss
#  Needs the stack: eval "$(contrib/stack.sh env)" first.
run "bridge_drain bridge_drain_latency_p99 bridge_drain_latency_max bridge_cpu_100k bridge_sqs_calls_10 pipeline_cpu" \
    tests/bench/bench_bridge "$srcdir"
#  Need the stack too (DATABASE_URL).
run audit_ingest tests/bench/bench_audit "$srcdir" ingest
run audit_search_p99 tests/bench/bench_audit "$srcdir" search
#  Needs the stack's Redis (REDIS_URL).
run "auth_validate auth_validate_p99" tests/bench/bench_auth
run analytics_ingest tests/bench/bench_analytics "$srcdir" ingest
run analytics_rollup_1m tests/bench/bench_analytics "$srcdir" rollup
run analytics_query_p99 tests/bench/bench_analytics "$srcdir" query
#  Needs the stack (DATABASE_URL, SMTP_URL, SMTP_CAPTURE_URL).
run notify_email sh "$srcdir/tests/bench/bench_notify.sh" "$srcdir"
#  Needs the stack (AWS_ENDPOINT_URL_SQS, DATABASE_URL), node and npm (the
#  first run installs the Node consumer from npm under the build).
run node_peer_drain sh "$srcdir/tests/bench/bench_node_peer.sh" "$srcdir"
exit $status
