/*  bench bridge_*: ferry-bridge draining the SQS emulator of
    contrib/stack.sh, as real processes (ferry-bridge, ferry-broker on
    ipc://, a bench_peer worker that ACKs at once).

    bridge_drain: events/s from a backlog of S_BACKLOG events in a scratch
    queue through bridge, broker and worker, each deleted after its ACK.
    The limit is what the emulator itself gives a bare client: fy_sqs on
    fy_http_client doing only ReceiveMessage and DeleteMessageBatch (each
    receive's messages deleted in one batch at once), with as many long
    polls at a time as the bridge, asking for the attributes it asks for,
    signed as the bridge signs, from the same backlog in another scratch
    queue (the emulator's receive slows as a queue grows, so both must
    start equally deep). Both are timed from
    the first receive answered to the last delete: the limit by its own
    callbacks, the bridge by GetQueueAttributes every few milliseconds
    (visible and in-flight both back to 0). Each queue is filled just
    before its run, so the emulator holds the same total for both. The
    runs alternate, best of two each, as the machine is shared.

    bridge_drain_latency_p99, bridge_drain_latency_max: each event's time
    from its message's receive to the broker's ACK during those drains, as
    the bridge measures it (ferry_bridge_ack_seconds; its stats line's
    ack_p99_ms and ack_max_ms), the worst of the bridge runs. A stall in
    the drain's tail (a batch left waiting for a timer) shows here as a
    max of seconds; bound S_ACK_MAX_MS, well under broker.lease_ms.

    bridge_cpu_100k: the bridge's user + system CPU (/proc/PID/stat)
    during that drain, per 100,000 events, beside the bare client's own
    CPU for the same receives and deletes (no floor: the bridge also
    decodes, validates and publishes every event).

    pipeline_cpu: CPU per event of the whole pipeline in the best bridge
    run, bridge + broker + worker (/proc/PID/stat, user + system), beside
    the bare client's CPU per event for the same receives and deletes.
    Bound: S_PIPELINE_RATIO times the bare client's (issue 16's goal is
    also at most S_PIPELINE_GOAL_US in all, printed beside it).

    bridge_drain_cpu: where the machine's CPU went in the best bridge run
    (emulator, bridge, broker, worker, this bench), and the ratio that CPU
    allows at best: the run can be no shorter than the emulator's own CPU
    (one Node.js thread) nor than all of it spread over every core. The
    emulator's pid comes from $FERRY_STACK_DIR/sqs/pid (contrib/stack.sh
    env exports it); without it the line is not printed. Only the run's
    own processes are counted, so the bound means something on an
    otherwise quiet machine only.

    Counting the queue loads the emulator being measured (each
    GetQueueAttributes costs it about as much as a receive), so the bench
    counts every S_WATCH_MS near the run's ends only, and in between about
    four times in what is left at the rate so far, at most every
    S_WATCH_MAX_MS.

    usage: bench_bridge SRCDIR
    Needs the stack's environment (AWS_ENDPOINT_URL_SQS, ...): eval
    "$(contrib/stack.sh env)". Exits 1 when bridge_drain is below its
    floor, a receive-to-ACK figure or pipeline_cpu above its bound, or
    the stack is missing. */
#include "ferry/ferry.h"
#include "aws/fy_aws_credentials.h"
#include "aws/fy_aws_sign.h"
#include "aws/fy_sqs.h"
#include "aws/fy_sqs_producer.h"
#include "http/fy_http_client.h"
#include "http/fy_http_server.h"
#include "integration/proc.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_BACKLOG 20000
#define S_POLLS "2"             //  bridge.polls, and the limit's polls
#define S_WAIT_S 20             //  bridge.wait_s's default, for both
#define S_FLOOR 0.7
#define S_ROUNDS 2
#define S_WATCH_MS 10           //  how often the bridge's queue is counted
#define S_WATCH_MAX_MS 100      //  ... at most, mid-drain
#define S_DRAIN_MS 120000       //  a drain slower than this is a failure
#define S_QUEUES_MAX 8
#define S_ACK_P99_MS 1000       //  bounds of receive to ACK
#define S_ACK_MAX_MS 2000
#define S_PIPELINE_RATIO 2.0    //  pipeline_cpu's bound, x the bare client
#define S_PIPELINE_GOAL_US 30.0
//  SQS calls per 10 events: the receive and the delete batch, and a
//  little for the tail (a receive that brings fewer than ten).
#define S_SQS_CALLS_MAX 2.1

static char s_dir [] = "/tmp/ferry-bench-bridge-XXXXXX";
static const char *s_endpoint;
static fy_http_client_t *s_http;
static fy_sqs_t *s_sqs;
static fy_aws_sign_t *s_sign;
static fy_sqs_options_t s_options;
//  The emulator's pid, or 0 when not known; the broker's and worker's.
static pid_t s_emulator, s_broker, s_worker;
//  The scratch queues, deleted at exit.
static char *s_queues [S_QUEUES_MAX];
static size_t s_queue_count;

//  --------------------------------------------------------------------
//  Processes

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
s_stop (pid_t pid)
{
    for (size_t i = 0; i < s_pid_count; i++)
        if (s_pids [i] == pid) {
            s_pids [i] = s_pids [--s_pid_count];
            proc_stop (pid, SIGKILL);
            return;
        }
}

//  utime + stime of pid, in seconds; exits when unknown.
static double
s_cpu_s (pid_t pid)
{
    double seconds = proc_cpu_s (pid);
    if (seconds < 0) {
        fprintf (stderr, "bench: cannot read /proc/%d/stat\n", (int) pid);
        exit (1);
    }
    return seconds;
}

//  Seconds pid's main thread has waited on a run queue for a core
//  (/proc/PID/schedstat, second field), or 0.
static double
s_wait_s (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/schedstat", (int) pid);
    FILE *file = fopen (path, "r");
    unsigned long long ran = 0, waited = 0;
    if (file && fscanf (file, "%llu %llu", &ran, &waited) != 2)
        waited = 0;
    if (file)
        fclose (file);
    return (double) waited / 1e9;
}

//  CPU seconds spent during a run, by process.
typedef struct {
    double emulator, emulator_wait, bridge, broker, worker, bench;
} s_cpu_t;

static void
s_cpu_sample (s_cpu_t *cpu, pid_t bridge)
{
    cpu->emulator = s_emulator ? proc_cpu_s (s_emulator) : 0;
    cpu->emulator_wait = s_emulator ? s_wait_s (s_emulator) : 0;
    cpu->bridge = bridge ? s_cpu_s (bridge) : 0;
    cpu->broker = s_cpu_s (s_broker);
    cpu->worker = s_cpu_s (s_worker);
    cpu->bench = proc_self_cpu_s ();
}

//  From a sample taken at the start to the end of a run.
static void
s_cpu_since (s_cpu_t *cpu, pid_t bridge)
{
    s_cpu_t start = *cpu;
    s_cpu_sample (cpu, bridge);
    cpu->emulator -= start.emulator;
    cpu->emulator_wait -= start.emulator_wait;
    cpu->bridge -= start.bridge;
    cpu->broker -= start.broker;
    cpu->worker -= start.worker;
    cpu->bench -= start.bench;
}

//  The emulator of contrib/stack.sh, by its pidfile.
static pid_t
s_emulator_pid (void)
{
    const char *dir = getenv ("FERRY_STACK_DIR");
    if (!dir || !*dir)
        return 0;
    char path [4096];
    snprintf (path, sizeof path, "%s/sqs/pid", dir);
    char *text = fy_read_file (path, 64, NULL);
    pid_t pid = text ? (pid_t) strtol (text, NULL, 10) : 0;
    free (text);
    return pid > 0 && proc_cpu_s (pid) >= 0 ? pid : 0;
}

//  --------------------------------------------------------------------
//  SQS: CreateQueue and DeleteQueue, which fy_sqs does not speak, as raw
//  JSON 1.0 calls; the rest through fy_sqs.

typedef struct {
    bool done;
    int status;
    json_t *answer;
} s_raw_t;

static void
s_on_raw (const fy_http_result_t *result, void *arg)
{
    s_raw_t *raw = arg;
    size_t len;
    const char *body = fy_http_result_body (result, &len);
    raw->done = true;
    raw->status = fy_http_result_status (result);
    raw->answer = json_loadb (body, len, 0, NULL);
}

static void
s_run (int64_t timeout_ms)
{
    if (fy_http_client_wait (s_http, timeout_ms) && errno != EINTR) {
        fprintf (stderr, "bench: poll: %s\n", strerror (errno));
        exit (1);
    }
}

//  Call action with request (taken); the answer, or NULL on failure.
static json_t *
s_call (const char *action, json_t *request)
{
    char *body = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    char target [96];
    snprintf (target, sizeof target, "AmazonSQS.%s", action);
    fy_http_call_t *call = fy_http_call_new ("POST", s_endpoint);
    fy_http_call_add_header (call, "Content-Type",
                             "application/x-amz-json-1.0");
    fy_http_call_add_header (call, "X-Amz-Target", target);
    fy_http_call_set_body (call, body, strlen (body));
    fy_error_t err = { "" };
    if (s_sign
        && fy_aws_sign_sqs (s_sign, "POST", s_endpoint,
                            fy_http_call_headers (call), body, strlen (body),
                            &err)) {
        fprintf (stderr, "bench: sign: %s\n", err.text);
        fy_http_call_destroy (&call);
        free (body);
        return NULL;
    }
    free (body);
    s_raw_t raw = { .done = false };
    if (fy_http_client_start (s_http, &call, s_on_raw, &raw, NULL, &err)) {
        fprintf (stderr, "bench: %s: %s\n", action, err.text);
        return NULL;
    }
    int64_t until = fy_clock_mono_ms () + 15000;
    while (!raw.done && fy_clock_mono_ms () < until)
        s_run (100);
    if (raw.status != 200) {
        char *text = raw.answer ? json_dumps (raw.answer, JSON_COMPACT) : NULL;
        fprintf (stderr, "bench: %s at %s: HTTP %d %s\n", action, s_endpoint,
                 raw.status, text ? text : "(no answer)");
        free (text);
        json_decref (raw.answer);
        return NULL;
    }
    return raw.answer ? raw.answer : json_object ();
}

//  A scratch queue named bb<pid>-name; its URL, deleted at exit.
static const char *
s_queue_new (const char *name)
{
    char full [80];
    snprintf (full, sizeof full, "bb%d-%s", (int) getpid (), name);
    json_t *answer =
        s_call ("CreateQueue", json_pack ("{ss}", "QueueName", full));
    const char *url = json_string_value (json_object_get (answer, "QueueUrl"));
    if (!url || s_queue_count == S_QUEUES_MAX) {
        fprintf (stderr, "bench: cannot create the queue %s\n", full);
        exit (1);
    }
    s_queues [s_queue_count] = fy_xstrdup (url);
    json_decref (answer);
    return s_queues [s_queue_count++];
}

//  The event every message carries, with a fresh id each time.
static json_t *s_event;

static char *
s_event_body (void)
{
    char id [FY_UUID_SIZE];
    fy_uuid_generate (id);
    json_object_set_new (s_event, "id", json_string (id));
    return json_dumps (s_event, JSON_COMPACT);
}

typedef struct {
    uint64_t sent, failed;
    char code [96];
} s_fill_t;

static void
s_on_sent (const fy_sqs_report_t *report, void *user, void *arg)
{
    (void) user;
    s_fill_t *fill = arg;
    if (report->ok)
        fill->sent++;
    else if (fill->failed++ == 0)
        snprintf (fill->code, sizeof fill->code, "%s", report->code);
}

//  Put count events on url with SendMessageBatch, several in flight.
static void
s_fill (const char *url, int count)
{
    s_fill_t fill = { 0, 0, "" };
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.max_in_flight = 8;
    options.report = s_on_sent;
    options.arg = &fill;
    fy_error_t err = { "" };
    fy_sqs_producer_t *producer =
        fy_sqs_producer_new (s_sqs, s_http, url, &options, &err);
    if (!producer) {
        fprintf (stderr, "bench: producer: %s\n", err.text);
        exit (1);
    }
    for (int i = 0; i < count; i++) {
        char *body = s_event_body ();
        fy_sqs_send_t msg = { .body = body };
        int rc;
        while ((rc = fy_sqs_producer_send (producer, &msg, NULL, &err))
               && errno == EAGAIN)
            s_run (100);
        free (body);
        if (rc) {
            fprintf (stderr, "bench: send: %s\n", err.text);
            exit (1);
        }
    }
    if (fy_sqs_producer_wait (producer, 120000) || fill.failed
        || fill.sent != (uint64_t) count) {
        fprintf (stderr,
                 "bench: filling %s: %llu of %d sent, %llu failed "
                 "(%s)\n",
                 url, (unsigned long long) fill.sent, count,
                 (unsigned long long) fill.failed, fill.code);
        exit (1);
    }
    fy_sqs_producer_destroy (&producer);
}

//  --------------------------------------------------------------------
//  The limit: receive, and delete each receive's messages at once.

typedef struct {
    fy_sqs_t *sqs;
    const char *url;
    int polls;
    uint64_t received, deleted, empty;
    int64_t first_ns, last_ns;
    bool failed;
} s_drain_t;

static void
s_limit_poll (s_drain_t *drain);

static void
s_on_deleted (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
              size_t count, void *arg)
{
    s_drain_t *drain = arg;
    for (size_t i = 0; i < count; i++)
        if (entries [i].ok)
            drain->deleted++;
        else {
            fprintf (stderr, "bench: delete failed: %s %s\n",
                     entries [i].code ? entries [i].code : "", result->message);
            drain->failed = true;
        }
    drain->last_ns = fy_clock_mono_ns ();
}

static void
s_on_received (const fy_sqs_result_t *result, fy_sqs_message_t **messages,
               size_t count, void *arg)
{
    s_drain_t *drain = arg;
    drain->polls--;
    if (result->error) {
        fprintf (stderr, "bench: receive failed: %s %s\n",
                 result->code ? result->code : strerror (result->error),
                 result->message);
        drain->failed = true;
        return;
    }
    if (count && drain->first_ns == 0)
        drain->first_ns = fy_clock_mono_ns ();
    if (count == 0)
        drain->empty++;
    drain->received += count;
    fy_sqs_batch_t *batch = count ? fy_sqs_batch_new (FY_SQS_DELETE) : NULL;
    for (size_t i = 0; i < count; i++) {
        char id [32];
        snprintf (id, sizeof id, "m%zu", i);
        if (fy_sqs_batch_delete (batch, id,
                                 fy_sqs_message_receipt (messages [i]))) {
            fprintf (stderr, "bench: batch: %s\n", strerror (errno));
            exit (1);
        }
    }
    fy_error_t err = { "" };
    if (batch
        && fy_sqs_submit (drain->sqs, drain->url, &batch, s_on_deleted, drain,
                          NULL, &err)) {
        fprintf (stderr, "bench: delete: %s\n", err.text);
        exit (1);
    }
    if (drain->received < S_BACKLOG)
        s_limit_poll (drain);
}

static void
s_limit_poll (s_drain_t *drain)
{
    fy_error_t err = { "" };
    //  The receive the bridge makes (bridge.c, s_poll): the attributes it
    //  reads and no others, since each one asked for is sent, parsed and
    //  kept with every message.
    static const char *attributes [] = { "ApproximateReceiveCount",
                                         "MessageGroupId", NULL };
    fy_sqs_receive_t options = { .max_messages = FY_SQS_BATCH_MAX,
                                 .wait_s = S_WAIT_S,
                                 .visibility_s = -1,
                                 .attributes = attributes };
    if (fy_sqs_receive_ex (drain->sqs, drain->url, &options, s_on_received,
                           drain, NULL, &err)) {
        fprintf (stderr, "bench: receive: %s\n", err.text);
        exit (1);
    }
    drain->polls++;
}

//  Drain url with the bare client; events/s, and the CPU spent.
static double
s_limit_run (const char *url, s_cpu_t *cpu)
{
    fy_error_t err = { "" };
    s_drain_t drain = { .url = url };
    //  Its own fy_sqs, whose destruction cancels the polls left waiting.
    drain.sqs = fy_sqs_new (s_http, &s_options, &err);
    if (!drain.sqs) {
        fprintf (stderr, "bench: sqs: %s\n", err.text);
        exit (1);
    }
    s_cpu_sample (cpu, 0);
    for (int i = 0; i < strtol (S_POLLS, NULL, 10); i++)
        s_limit_poll (&drain);
    int64_t until = fy_clock_mono_ms () + S_DRAIN_MS;
    while (drain.deleted < S_BACKLOG && !drain.failed
           && fy_clock_mono_ms () < until)
        s_run (100);
    s_cpu_since (cpu, 0);
    fy_sqs_destroy (&drain.sqs);
    if (drain.deleted != S_BACKLOG || drain.failed) {
        fprintf (stderr, "bench: limit: %llu of %d deleted\n",
                 (unsigned long long) drain.deleted, S_BACKLOG);
        exit (1);
    }
    return S_BACKLOG * 1e9 / (double) (drain.last_ns - drain.first_ns);
}

//  --------------------------------------------------------------------
//  The bridge

typedef struct {
    bool done;
    long visible, invisible;
} s_count_t;

static void
s_on_attributes (const fy_sqs_result_t *result, json_t *attributes, void *arg)
{
    s_count_t *count = arg;
    count->done = true;
    if (result->error) {
        fprintf (stderr, "bench: GetQueueAttributes: %s %s\n",
                 result->code ? result->code : strerror (result->error),
                 result->message);
        exit (1);
    }
    const char *visible = json_string_value (
        json_object_get (attributes, "ApproximateNumberOfMessages"));
    const char *invisible = json_string_value (
        json_object_get (attributes, "ApproximateNumberOfMessagesNotVisible"));
    count->visible = visible ? strtol (visible, NULL, 10) : -1;
    count->invisible = invisible ? strtol (invisible, NULL, 10) : -1;
}

//  Messages visible and in flight on url, asked now.
static void
s_count (const char *url, s_count_t *count)
{
    static const char *names [] = { "ApproximateNumberOfMessages",
                                    "ApproximateNumberOfMessagesNotVisible",
                                    NULL };
    *count = (s_count_t) { .done = false };
    fy_error_t err = { "" };
    if (fy_sqs_get_attributes (s_sqs, url, names, s_on_attributes, count, NULL,
                               &err)) {
        fprintf (stderr, "bench: GetQueueAttributes: %s\n", err.text);
        exit (1);
    }
    while (!count->done)
        s_run (100);
}

//  The last value of " name=" in the bridge's log, or -1.
static long
s_stat (const char *log, const char *name)
{
    char *text = fy_read_file (log, 64 << 20, NULL);
    if (!text)
        return -1;
    char key [64];
    snprintf (key, sizeof key, " %s=", name);
    long value = -1;
    for (char *at = strstr (text, key); at; at = strstr (at + 1, key))
        value = strtol (at + strlen (key), NULL, 10);
    free (text);
    return value;
}

//  How long to wait before counting again, at count and the rate so far.
static int64_t
s_watch_ms (const s_count_t *count, int64_t start_ns, int64_t now)
{
    if (!start_ns || count->visible <= 0 || now <= start_ns)
        return S_WATCH_MS;
    double per_ms = (double) (S_BACKLOG - count->visible)
                    / ((double) (now - start_ns) / 1e6);
    double pause =
        per_ms > 0 ? (double) count->visible / per_ms / 4 : S_WATCH_MS;
    return pause < S_WATCH_MS       ? S_WATCH_MS
           : pause > S_WATCH_MAX_MS ? S_WATCH_MAX_MS
                                    : (int64_t) pause;
}

//  Receive to ACK in the bridge runs, worst so far, and the most SQS
//  calls a run made.
typedef struct {
    long p99_ms, max_ms;
    long sqs_calls;
} s_ack_t;

//  Drain url through a new bridge; events/s, and the CPU spent during
//  the drain; ack gets its receive to ACK figures if worse.
static double
s_bridge_run (const char *url, const char *dlq, const char *broker_at,
              const char *schema, int round, s_cpu_t *cpu, s_ack_t *ack)
{
    char sets [5][600], log [300];
    snprintf (sets [0], 600, "bridge.broker=%s", broker_at);
    snprintf (sets [1], 600, "bridge.queue_url=%s", url);
    snprintf (sets [2], 600, "bridge.dlq_url=%s", dlq);
    snprintf (sets [3], 600, "events.schema=%s", schema);
    snprintf (sets [4], 600, "bridge.wait_s=%d", S_WAIT_S);
    snprintf (log, sizeof log, "%s/bridge%d.log", s_dir, round);
    const char *args [] = { "--set", sets [0],
                            "--set", sets [1],
                            "--set", sets [2],
                            "--set", sets [3],
                            "--set", sets [4],
                            "--set", "bridge.polls=" S_POLLS,
                            "--set", "bridge.stats_interval_ms=100",
                            "--set", "log.level=info",
                            NULL };
    pid_t bridge = s_start (proc_spawn (log, "bridge/ferry-bridge", args));
    //  Started: anything received. Drained: nothing visible or in
    //  flight, every message deleted.
    s_count_t count;
    int64_t start_ns = 0, end_ns = 0;
    int64_t until = fy_clock_mono_ms () + S_DRAIN_MS;
    while (fy_clock_mono_ms () < until) {
        s_count (url, &count);
        int64_t now = fy_clock_mono_ns ();
        if (!start_ns && (count.invisible > 0 || count.visible < S_BACKLOG)) {
            start_ns = now;
            s_cpu_sample (cpu, bridge);
        }
        if (start_ns && count.visible == 0 && count.invisible == 0) {
            end_ns = now;
            s_cpu_since (cpu, bridge);
            break;
        }
        usleep ((useconds_t) s_watch_ms (&count, start_ns, now) * 1000);
    }
    //  The stats line confirms every event went through the worker.
    int64_t wait = fy_clock_mono_ms () + 5000;
    while (s_stat (log, "deleted") < S_BACKLOG && fy_clock_mono_ms () < wait)
        usleep (50 * 1000);
    long deleted = s_stat (log, "deleted"), acked = s_stat (log, "acked");
    long dlq_sent = s_stat (log, "dlq");
    long p99 = s_stat (log, "ack_p99_ms"), max = s_stat (log, "ack_max_ms");
    if (p99 > ack->p99_ms)
        ack->p99_ms = p99;
    if (max > ack->max_ms)
        ack->max_ms = max;
    long calls = s_stat (log, "sqs_calls");
    if (calls > ack->sqs_calls)
        ack->sqs_calls = calls;
    s_stop (bridge);
    if (!end_ns || deleted != S_BACKLOG || acked != S_BACKLOG
        || dlq_sent != 0) {
        fprintf (stderr,
                 "bench: bridge: %s after %d s; acked=%ld "
                 "deleted=%ld dlq=%ld (log %s)\n",
                 end_ns ? "drained" : "not drained", S_DRAIN_MS / 1000, acked,
                 deleted, dlq_sent, log);
        exit (1);
    }
    return S_BACKLOG * 1e9 / (double) (end_ns - start_ns);
}

//  --------------------------------------------------------------------

static void
s_remove_dir (void)
{
    char command [300];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        fprintf (stderr, "bench: could not remove %s\n", s_dir);
}

//  Registered after the first signed call, so that it runs before
//  OpenSSL's own exit handler, which the signer needs.
static void
s_cleanup (void)
{
    while (s_pid_count)
        proc_stop (s_pids [--s_pid_count], SIGKILL);
    while (s_queue_count) {
        char *url = s_queues [--s_queue_count];
        if (s_http)
            json_decref (
                s_call ("DeleteQueue", json_pack ("{ss}", "QueueUrl", url)));
        free (url);
    }
    fy_sqs_destroy (&s_sqs);
    fy_http_client_destroy (&s_http);
    fy_aws_sign_destroy (&s_sign);
    json_decref (s_event);
}

//  The client the bridge would build: signed when the chain has keys.
static void
s_client_new (void)
{
    fy_error_t err = { "" };
    s_http = fy_http_client_new (NULL, &err);
    if (!s_http) {
        fprintf (stderr, "bench: http: %s\n", err.text);
        exit (1);
    }
    fy_sqs_options_default (&s_options);
    s_sign = fy_aws_sign_new (NULL);
    fy_aws_credentials_t *chain = fy_aws_sign_credentials (s_sign);
    if (fy_aws_credentials_get (chain, fy_clock_wall_ms () / 1000, &err)) {
        const char *region = fy_aws_credentials_region (chain);
        s_options.base.sign = fy_aws_sign_sqs;
        s_options.base.sign_arg = s_sign;
        s_options.region = region ? region : "us-east-1";
    }
    else
        fy_aws_sign_destroy (&s_sign);
    s_sqs = fy_sqs_new (s_http, &s_options, &err);
    if (!s_sqs) {
        fprintf (stderr, "bench: sqs: %s\n", err.text);
        exit (1);
    }
}

int
main (int argc, char **argv)
{
    if (argc != 2 || !mkdtemp (s_dir)) {
        fprintf (stderr, "usage: bench_bridge SRCDIR\n");
        return 2;
    }
    s_endpoint = getenv ("AWS_ENDPOINT_URL_SQS");
    if (!s_endpoint || !*s_endpoint) {
        fprintf (stderr, "bench_bridge: AWS_ENDPOINT_URL_SQS is not set: "
                         "run contrib/stack.sh start, then "
                         "eval \"$(contrib/stack.sh env)\"\n");
        rmdir (s_dir);
        return 1;
    }
    fy_log_init ("bench", FY_LOG_WARN, FY_LOG_TEXT);
    atexit (s_remove_dir);
    char path [4096], schema [512];
    snprintf (path, sizeof path, "%s/tests/data/events/user.login.json",
              argv [1]);
    snprintf (schema, sizeof schema, "%s/schemas/events.schema.json", argv [1]);
    s_event = json_load_file (path, 0, NULL);
    if (!s_event) {
        fprintf (stderr, "bench: cannot read %s\n", path);
        return 1;
    }
    s_client_new ();
    const char *dlq = s_queue_new ("dlq");
    atexit (s_cleanup);

    proc_broker_at_t at = proc_broker_at (s_dir);
    s_broker = s_start (proc_start (
        "broker/ferry-broker", "--set", at.set, "--set",
        "broker.routes=audit:*", "--set", "broker.stop_timeout_ms=0", "--set",
        "http.enabled=false", "--set", "log.level=warn", NULL));
    s_worker = s_start (proc_start ("tests/bench/bench_peer", "worker",
                                    at.endpoint, "audit", "1000", "ack", NULL));
    s_emulator = s_emulator_pid ();

    double rate = 0, limit = 0;
    s_cpu_t cpu = { 0 }, limit_cpu = { 0 };
    s_ack_t ack = { -1, -1, -1 };
    for (int round = 0; round < S_ROUNDS; round++) {
        char name [32];
        snprintf (name, sizeof name, "limit%d", round);
        const char *url = s_queue_new (name);
        s_fill (url, S_BACKLOG);
        s_cpu_t spent;
        double got = s_limit_run (url, &spent);
        if (got > limit) {
            limit = got;
            limit_cpu = spent;
        }
        snprintf (name, sizeof name, "bridge%d", round);
        url = s_queue_new (name);
        s_fill (url, S_BACKLOG);
        got = s_bridge_run (url, dlq, at.endpoint, schema, round, &spent, &ack);
        if (got > rate) {
            rate = got;
            cpu = spent;
        }
    }
    double ratio = rate / limit;
    printf ("bench bridge_drain %.0f events/s limit=%.0f ratio=%.2f "
            "(backlog %d, %s long polls, emulator %s, floor %.1f)\n",
            rate, limit, ratio, S_BACKLOG, S_POLLS, s_endpoint, S_FLOOR);
    printf ("bench bridge_drain_latency_p99 %ld ms limit=%d ratio=%.2f "
            "(receive to ACK, the worst of %d bridge runs' p99; bound)\n",
            ack.p99_ms, S_ACK_P99_MS, (double) ack.p99_ms / S_ACK_P99_MS,
            S_ROUNDS);
    printf ("bench bridge_drain_latency_max %ld ms limit=%d ratio=%.2f "
            "(receive to ACK, the longest of any event in %d bridge runs; "
            "bound, well under broker.lease_ms)\n",
            ack.max_ms, S_ACK_MAX_MS, (double) ack.max_ms / S_ACK_MAX_MS,
            S_ROUNDS);
    //  The drain's own: one receive and one delete batch per ten events.
    double calls = (double) ack.sqs_calls * 10 / S_BACKLOG;
    printf ("bench bridge_sqs_calls_10 %.2f calls limit=2 ratio=%.2f (SQS "
            "calls per 10 events, the most of %d bridge runs, as its stats "
            "line counts them by the last delete; bound %.1f)\n",
            calls, calls / 2, S_ROUNDS, S_SQS_CALLS_MAX);
    double per = 100000.0 / S_BACKLOG;
    printf ("bench bridge_cpu_100k %.2f s limit=%.2f ratio=%.2f "
            "(the bridge's utime+stime per 100,000 events; limit: the bare "
            "client's CPU for the same receives and deletes, no floor)\n",
            cpu.bridge * per, limit_cpu.bench * per,
            cpu.bridge / limit_cpu.bench);
    double pipeline_us =
        (cpu.bridge + cpu.broker + cpu.worker) * 1e6 / S_BACKLOG;
    double bare_us = limit_cpu.bench * 1e6 / S_BACKLOG;
    double pipeline_ratio = pipeline_us / bare_us;
    printf ("bench pipeline_cpu %.1f us/event limit=%.1f ratio=%.2f "
            "(bridge %.1f + broker %.1f + worker %.1f us per event, the best "
            "bridge run; limit: the bare client's CPU per event for the same "
            "receives and deletes; bound %.1f, goal %.0f us in all)\n",
            pipeline_us, bare_us, pipeline_ratio, cpu.bridge * 1e6 / S_BACKLOG,
            cpu.broker * 1e6 / S_BACKLOG, cpu.worker * 1e6 / S_BACKLOG,
            S_PIPELINE_RATIO, S_PIPELINE_GOAL_US);
    if (s_emulator) {
        //  The shortest the bridge run could be on this machine's cores.
        long cores = sysconf (_SC_NPROCESSORS_ONLN);
        double total =
            cpu.emulator + cpu.bridge + cpu.broker + cpu.worker + cpu.bench;
        double shortest = total / (double) (cores > 0 ? cores : 1);
        if (shortest < cpu.emulator)
            shortest = cpu.emulator;
        printf ("bench bridge_drain_cpu bound=%.2f (the best bridge run's "
                "CPU s: emulator %.2f [%.2f in the limit run], waiting for "
                "a core %.2f [%.2f]; bridge %.2f, broker %.2f, worker %.2f, "
                "bench %.2f; bound: the ratio that CPU allows on %ld cores, "
                "no floor)\n",
                S_BACKLOG / shortest / limit, cpu.emulator, limit_cpu.emulator,
                cpu.emulator_wait, limit_cpu.emulator_wait, cpu.bridge,
                cpu.broker, cpu.worker, cpu.bench, cores);
    }
    fflush (stdout);
    return ratio < S_FLOOR || ack.p99_ms < 0 || ack.p99_ms > S_ACK_P99_MS
           || ack.max_ms < 0 || ack.max_ms > S_ACK_MAX_MS
           || pipeline_ratio > S_PIPELINE_RATIO || calls < 0
           || calls > S_SQS_CALLS_MAX;
}
