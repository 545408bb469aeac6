/*  bench broker_*: ferry-broker measured as real processes on ipc://.

    flow: events/s from this publisher through the real ferry-broker to
    two bench_peer workers that ACK at once, beside the physical limit:
    the same 300-byte messages forwarded by a bare libzmq ROUTER between
    the same number of processes, each answered by one ack message (run
    alternately, best of two each, as the machine is shared). Then
    publish->ACK latency at half the broker's throughput, beside the raw
    round trip at the same rate measured the same way.

    rss: the broker's VmHWM with 100,000 events in flight, queued on a
    service with no worker, and again held by two workers that never
    answer, against a 64 MiB bound.

    usage: bench_broker flow|rss
    Exits 1 when a figure breaks its floor or bound. */
#include "ferry/ferry.h"
#include "integration/proc.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_EVENT_SIZE 300
#define S_WINDOW 10000          //  client_credit, and the raw window
#define S_RING 65536            //  > S_WINDOW: send times by seq
#define S_WORKER_CREDIT "1000"
#define S_FLOOR 0.4
#define S_RSS_EVENTS 100000
#define S_RSS_BOUND_MIB 64.0

static char s_dir [] = "/tmp/ferry-bench-XXXXXX";

//  One publisher, ferry's (fy_client) or raw (a DEALER), with the same
//  bookkeeping: answers counted, latencies of a seq range recorded.
typedef struct {
    fy_client_t *client;
    void *context, *dealer;
    uint64_t published, answered, nacked, leased;
    int64_t sent_ns [S_RING];
    uint64_t record_from, record_to;
    int64_t *samples;
    size_t sample_count, sample_size;
    char event [S_EVENT_SIZE];
    char id [FY_UUID_SIZE];
} s_pub_t;

static void
s_answered (s_pub_t *pub, uint64_t seq)
{
    pub->answered++;
    if (seq < pub->record_from || seq >= pub->record_to)
        return;
    if (pub->sample_count == pub->sample_size) {
        pub->sample_size = pub->sample_size ? pub->sample_size * 2 : 65536;
        pub->samples =
            fy_xrealloc (pub->samples, pub->sample_size * sizeof *pub->samples);
    }
    pub->samples [pub->sample_count++] =
        fy_clock_mono_ns () - pub->sent_ns [seq % S_RING];
}

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    s_answered (arg, seq);
}

static void
s_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
           const char *reason, void *arg)
{
    (void) client;
    (void) retryable;
    s_pub_t *pub = arg;
    if (pub->nacked++ == 0)
        fprintf (stderr, "bench: NACK %s\n", reason);
    s_answered (pub, seq);
}

static void
s_on_lease (fy_client_t *client, const uint64_t *seqs, size_t count, void *arg)
{
    (void) client;
    (void) seqs;
    s_pub_t *pub = arg;
    pub->leased = count;
}

static bool
s_can_send (s_pub_t *pub)
{
    if (pub->client)
        return fy_client_credit (pub->client) > 0;
    return pub->published - pub->answered < S_WINDOW;
}

static void
s_send (s_pub_t *pub)
{
    uint64_t seq = pub->published + 1;
    pub->sent_ns [seq % S_RING] = fy_clock_mono_ns ();
    if (pub->client) {
        uint64_t got;
        if (fy_client_publish_raw (pub->client, pub->id, "user.login",
                                   pub->event, sizeof pub->event, &got)) {
            fprintf (stderr, "bench: publish: %s\n", strerror (errno));
            exit (1);
        }
        assert (got == seq);
    }
    else if (zmq_send (pub->dealer, &seq, sizeof seq, ZMQ_SNDMORE) < 0
             || zmq_send (pub->dealer, pub->event, sizeof pub->event, 0) < 0) {
        fprintf (stderr, "bench: send: %s\n", zmq_strerror (errno));
        exit (1);
    }
    pub->published = seq;
}

//  Wait up to timeout_ms for answers and take all that came.
static void
s_pump (s_pub_t *pub, int timeout_ms)
{
    if (pub->client) {
        fy_client_wait (pub->client, timeout_ms);
        return;
    }
    zmq_pollitem_t item = { pub->dealer, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return;
    uint64_t seq;
    while (zmq_recv (pub->dealer, &seq, sizeof seq, ZMQ_DONTWAIT)
           == (int) sizeof seq)
        s_answered (pub, seq);
}

static void
s_drain (s_pub_t *pub)
{
    int64_t until = fy_clock_mono_ms () + 20000;
    while (pub->answered < pub->published && fy_clock_mono_ms () < until)
        s_pump (pub, 10);
    if (pub->answered < pub->published) {
        fprintf (stderr, "bench: %llu events never answered\n",
                 (unsigned long long) (pub->published - pub->answered));
        exit (1);
    }
}

//  Keep the pipe full for warm_ms, then count answers for measure_ms.
static double
s_throughput (s_pub_t *pub, int64_t warm_ms, int64_t measure_ms)
{
    int64_t start = fy_clock_mono_ns ();
    int64_t mark = start + warm_ms * 1000000;
    int64_t end = mark + measure_ms * 1000000;
    uint64_t answered = 0;
    bool marked = false;
    int64_t now;
    while ((now = fy_clock_mono_ns ()) < end) {
        if (!marked && now >= mark) {
            answered = pub->answered;
            mark = now;
            marked = true;
        }
        while (s_can_send (pub))
            s_send (pub);
        s_pump (pub, 1);
    }
    double rate =
        (double) (pub->answered - answered) * 1e9 / (double) (now - mark);
    s_drain (pub);
    return rate;
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

//  Publish at rate events/s; latencies of the events sent after warm_ms,
//  in microseconds, at the 50th and 99th percentiles.
static void
s_latency (s_pub_t *pub, double rate, int64_t warm_ms, int64_t measure_ms,
           double *p50, double *p99)
{
    pub->sample_count = 0;
    pub->record_from = pub->record_to = UINT64_MAX;
    int64_t start = fy_clock_mono_ns ();
    int64_t mark = start + warm_ms * 1000000;
    int64_t end = mark + measure_ms * 1000000;
    uint64_t first = pub->published, sent = 0;
    int64_t now;
    while ((now = fy_clock_mono_ns ()) < end) {
        if (pub->record_from == UINT64_MAX && now >= mark)
            pub->record_from = pub->published + 1;
        uint64_t due = (uint64_t) ((double) (now - start) * rate / 1e9);
        while (sent < due && s_can_send (pub)) {
            s_send (pub);
            sent++;
        }
        s_pump (pub, 1);
    }
    pub->record_to = pub->published + 1;
    s_drain (pub);
    if (pub->sample_count == 0) {
        fprintf (stderr, "bench: no latency samples\n");
        exit (1);
    }
    if (pub->published - first < sent) {
        fprintf (stderr, "bench: fell behind the rate\n");
        exit (1);
    }
    qsort (pub->samples, pub->sample_count, sizeof *pub->samples, s_compare);
    *p50 = (double) pub->samples [pub->sample_count / 2] / 1e3;
    *p99 = (double) pub->samples [pub->sample_count * 99 / 100] / 1e3;
}

//  A real event whose msgpack encoding is exactly S_EVENT_SIZE bytes.
static void
s_event_init (s_pub_t *pub)
{
    fy_uuid_generate (pub->id);
    for (int pad = 0; pad < S_EVENT_SIZE; pad++) {
        char json [1024];
        int len = snprintf (
            json, sizeof json,
            "{\"id\":\"%s\",\"type\":\"user.login\",\"version\":1,"
            "\"source\":\"bench\",\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
            "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
            "\"payload\":{\"note\":\"%0*d\"}}",
            pub->id, pad, 0);
        fy_error_t err = { "" };
        fy_event_t *event =
            fy_event_decode_json (json, (size_t) len, NULL, &err);
        char *packed = NULL;
        size_t size = 0;
        if (!event || fy_event_encode_msgpack (event, &packed, &size)) {
            fprintf (stderr, "bench: event: %s\n", err.text);
            exit (1);
        }
        fy_event_destroy (&event);
        if (size == S_EVENT_SIZE)
            memcpy (pub->event, packed, size);
        free (packed);
        if (size >= S_EVENT_SIZE)
            return;
    }
}

static s_pub_t *
s_pub_new (void)
{
    s_pub_t *pub = fy_xcalloc (1, sizeof *pub);
    s_event_init (pub);
    pub->record_from = pub->record_to = UINT64_MAX;
    return pub;
}

static s_pub_t *
s_ferry_pub_new (const char *endpoint)
{
    s_pub_t *pub = s_pub_new ();
    fy_error_t err = { "" };
    pub->client = fy_client_new (endpoint, "bench", &err);
    if (!pub->client) {
        fprintf (stderr, "bench: client: %s\n", err.text);
        exit (1);
    }
    fy_client_handlers_t handlers = {
        .ack = s_on_ack, .nack = s_on_nack, .lease = s_on_lease, .arg = pub
    };
    fy_client_set_handlers (pub->client, &handlers);
    int64_t until = fy_clock_mono_ms () + 5000;
    while (fy_client_credit (pub->client) == 0 && fy_clock_mono_ms () < until)
        fy_client_wait (pub->client, 10);
    if (fy_client_credit (pub->client) == 0) {
        fprintf (stderr, "bench: the broker granted no credit\n");
        exit (1);
    }
    return pub;
}

static s_pub_t *
s_raw_pub_new (const char *endpoint)
{
    s_pub_t *pub = s_pub_new ();
    pub->context = zmq_ctx_new ();
    pub->dealer = zmq_socket (pub->context, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt (pub->dealer, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt (pub->dealer, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (pub->dealer, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect (pub->dealer, endpoint)) {
        fprintf (stderr, "bench: connect %s\n", endpoint);
        exit (1);
    }
    return pub;
}

static void
s_pub_destroy (s_pub_t **pub_p)
{
    s_pub_t *pub = *pub_p;
    fy_client_destroy (&pub->client);
    if (pub->dealer)
        zmq_close (pub->dealer);
    if (pub->context)
        zmq_ctx_term (pub->context);
    free (pub->samples);
    free (pub);
    *pub_p = NULL;
}

//  Every process started, killed at exit however the bench ends.
static pid_t s_pids [8];
static size_t s_pid_count;

static pid_t
s_start (pid_t pid)
{
    assert (s_pid_count < 8);
    s_pids [s_pid_count++] = pid;
    return pid;
}

static void
s_stop_all (void)
{
    while (s_pid_count)
        proc_stop (s_pids [--s_pid_count], SIGKILL);
}

static void
s_cleanup (void)
{
    s_stop_all ();
    char command [300];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        fprintf (stderr, "bench: could not remove %s\n", s_dir);
}

static const char *
s_endpoint (const char *name)
{
    static char endpoints [4][300];
    static int next;
    char *endpoint = endpoints [next++ % 4];
    snprintf (endpoint, 300, "ipc://%s/%s", s_dir, name);
    return endpoint;
}

//  Start ferry-broker on endpoint with extra --set arguments (up to 4).
static pid_t
s_broker (const char *endpoint, const char *credit, const char *capacity,
          const char *dispatch_timeout)
{
    static char sets [4][320];
    snprintf (sets [0], sizeof sets [0], "broker.endpoint=%s", endpoint);
    snprintf (sets [1], sizeof sets [1], "broker.client_credit=%s", credit);
    snprintf (sets [2], sizeof sets [2], "broker.capacity=%s", capacity);
    snprintf (sets [3], sizeof sets [3], "broker.dispatch_timeout_ms=%s",
              dispatch_timeout);
    return proc_start (
        "broker/ferry-broker", "--set", sets [0], "--set", sets [1], "--set",
        sets [2], "--set", sets [3], "--set", "broker.lease_ms=500", "--set",
        "broker.stop_timeout_ms=0", "--set", "broker.routes=audit:*", "--set",
        "http.enabled=false", "--set", "log.level=warn", NULL);
}

static double
s_status_mib (pid_t pid, const char *field)
{
    return (double) proc_status_kib (pid, field) / 1024;
}

static int
s_flow (void)
{
    const char *broker_at = s_endpoint ("broker.sock");
    const char *forward_at = s_endpoint ("forward.sock");
    s_start (s_broker (broker_at, "10000", "20000", "30000"));
    s_start (
        proc_start ("tests/bench/bench_peer", "forward", forward_at, NULL));
    for (int i = 0; i < 2; i++) {
        s_start (proc_start ("tests/bench/bench_peer", "worker", broker_at,
                             "audit", S_WORKER_CREDIT, "ack", NULL));
        s_start (proc_start ("tests/bench/bench_peer", "raw-worker", forward_at,
                             NULL));
    }
    //  The forwarder drops what comes before its workers say READY.
    usleep (1000 * 1000);
    //  A fresh client for each run: an idle one would miss heartbeats.
    s_pub_t *raw = s_raw_pub_new (forward_at);
    double ferry_rate = 0, raw_rate = 0;
    for (int round = 0; round < 2; round++) {
        double rate = s_throughput (raw, 500, 3000);
        raw_rate = rate > raw_rate ? rate : raw_rate;
        s_pub_t *ferry = s_ferry_pub_new (broker_at);
        rate = s_throughput (ferry, 500, 3000);
        ferry_rate = rate > ferry_rate ? rate : ferry_rate;
        s_pub_destroy (&ferry);
    }
    double ratio = ferry_rate / raw_rate;
    printf ("bench broker_throughput %.0f events/s limit=%.0f ratio=%.2f "
            "(%d-byte events, 2 workers, credit %d, floor %.1f)\n",
            ferry_rate, raw_rate, ratio, S_EVENT_SIZE, S_WINDOW, S_FLOOR);
    fflush (stdout);

    double half = ferry_rate / 2, p50, p99, raw_p50, raw_p99;
    s_pub_t *ferry = s_ferry_pub_new (broker_at);
    s_latency (ferry, half, 500, 3000, &p50, &p99);
    s_pub_destroy (&ferry);
    s_latency (raw, half, 500, 3000, &raw_p50, &raw_p99);
    printf ("bench broker_latency_p50 %.0f us limit=%.0f ratio=%.2f "
            "(at %.0f events/s)\n",
            p50, raw_p50, p50 / raw_p50, half);
    printf ("bench broker_latency_p99 %.0f us limit=%.0f ratio=%.2f "
            "(at %.0f events/s)\n",
            p99, raw_p99, p99 / raw_p99, half);
    fflush (stdout);
    s_pub_destroy (&raw);
    s_stop_all ();
    return ratio < S_FLOOR;
}

//  Publish S_RSS_EVENTS and wait until a LEASE names them all: then the
//  broker holds every one. Returns the broker's VmHWM in MiB.
static double
s_rss_run (const char *label, int workers)
{
    const char *endpoint = s_endpoint (label);
    char count [32];
    snprintf (count, sizeof count, "%d", S_RSS_EVENTS);
    pid_t broker = s_start (s_broker (endpoint, count, count, "3600000"));
    //  Workers with the credit a real one announces (the audit worker's
    //  batch): the rest waits in the broker's queues, as in production.
    const char *credit = "1000";
    for (int i = 0; i < workers; i++)
        s_start (proc_start ("tests/bench/bench_peer", "worker", endpoint,
                             "audit", credit, "hold", NULL));
    s_pub_t *pub = s_ferry_pub_new (endpoint);
    usleep (300 * 1000);
    double base = s_status_mib (broker, "VmRSS");
    int64_t until = fy_clock_mono_ms () + 60000;
    while (pub->published < S_RSS_EVENTS && fy_clock_mono_ms () < until) {
        while (pub->published < S_RSS_EVENTS && s_can_send (pub))
            s_send (pub);
        s_pump (pub, 1);
    }
    while (pub->leased < S_RSS_EVENTS && fy_clock_mono_ms () < until)
        s_pump (pub, 10);
    if (pub->leased < S_RSS_EVENTS || pub->answered) {
        fprintf (stderr, "bench: %s: %llu leased, %llu answered\n", label,
                 (unsigned long long) pub->leased,
                 (unsigned long long) pub->answered);
        exit (1);
    }
    double rss = s_status_mib (broker, "VmRSS");
    double hwm = s_status_mib (broker, "VmHWM");
    const char *name = workers ? "broker_rss_100k_held" : "broker_rss_100k";
    printf ("bench %s %.1f MiB limit=%.0f ratio=%.2f (VmHWM; VmRSS %.1f, "
            "%.1f at start, %.0f bytes per event %s)\n",
            name, hwm, S_RSS_BOUND_MIB, hwm / S_RSS_BOUND_MIB, rss, base,
            (rss - base) * 1048576 / S_RSS_EVENTS,
            workers ? "2000 held by 2 workers, the rest queued"
                    : "queued, no worker");
    fflush (stdout);
    s_pub_destroy (&pub);
    s_stop_all ();
    return hwm;
}

int
main (int argc, char **argv)
{
    if (argc != 2 || !mkdtemp (s_dir)) {
        fprintf (stderr, "usage: bench_broker flow|rss\n");
        return 2;
    }
    fy_log_init ("bench", FY_LOG_WARN, FY_LOG_TEXT);
    atexit (s_cleanup);
    int rc = 0;
    if (strcmp (argv [1], "flow") == 0)
        rc = s_flow ();
    else {
        double queued = s_rss_run ("rss-queued.sock", 0);
        double held = s_rss_run ("rss-held.sock", 2);
        rc = queued >= S_RSS_BOUND_MIB || held >= S_RSS_BOUND_MIB;
    }
    return rc;
}
