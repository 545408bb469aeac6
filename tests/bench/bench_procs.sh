#  bench_procs.sh: sourced by the bench scripts that run ferry's real
#  processes. Needs tmp (a scratch directory) and pids (processes to end
#  at exit). start_broker ROUTES: a ferry-broker on ipc:// in $tmp
#  (endpoint), without HTTP, routing by ROUTES (broker.routes), its log
#  in $tmp/broker.log.
start_broker () {
    endpoint="ipc://$tmp/broker.sock"
    broker/ferry-broker --set broker.endpoint="$endpoint" \
        --set http.enabled=false --set log.level=warn \
        --set broker.stop_timeout_ms=0 --set "broker.routes=$1" \
        2>"$tmp/broker.log" &
    pids="$pids $!"
}
