/*  ferry-bridge end to end: the SQS emulator of contrib/stack.sh, a real
    ferry-broker on ipc://, test_worker processes, and ferry-bridge itself,
    with the AWS SDK for JavaScript (bridge_sqs.mjs) playing the monolith
    and inspecting the queues. Each case makes its own scratch queue and
    DLQ (redrive policy) and deletes them after. Covers: a bridge killed
    with SIGKILL mid-stream (nothing lost, duplicates counted), invalid
    bodies sent to the DLQ with their reason, retryable NACKs backing off
    until the queue's redrive takes over, visibility extended through
    long work, a graceful SIGTERM with events in flight, restarts while
    events are being sent (none waits for a visibility timeout), a broker
    that goes away (what the bridge holds goes back to the queue), and the
    tail of repeated drains larger than the broker's credit (no event
    waits long from receive to ACK). */
#include "ferry/ferry.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

static char s_dir [] = "/tmp/ferry-bridge-XXXXXX";
static proc_broker_at_t s_at;
static char s_schema [512];

//  A path in the test's directory (a few at once stay valid).
static const char *
s_path (const char *name)
{
    static char paths [8][512];
    static int next;
    char *path = paths [next++ % 8];
    snprintf (path, 512, "%s/%s", s_dir, name);
    return path;
}

//  Run the SDK script with arguments; its stdout, which the caller
//  frees, or NULL when it failed.
static char *
s_sqs (const char *format, ...) FY_PRINTF (1, 2);

static char *
s_sqs (const char *format, ...)
{
    char args [2048], command [8192];
    va_list ap;
    va_start (ap, format);
    vsnprintf (args, sizeof args, format, ap);
    va_end (ap);
    snprintf (command, sizeof command, "node '%s' %s",
              tap_srcpath ("tests/integration/bridge_sqs.mjs"), args);
    FILE *pipe = popen (command, "r");
    if (!pipe)
        return NULL;
    size_t size = 0, cap = 4096;
    char *out = fy_xmalloc (cap);
    size_t got;
    while ((got = fread (out + size, 1, cap - size - 1, pipe)) > 0) {
        size += got;
        if (cap - size < 1024)
            out = fy_xrealloc (out, cap *= 2);
    }
    out [size] = 0;
    if (pclose (pipe) != 0) {
        diag ("bridge_sqs.mjs %s failed", args);
        free (out);
        return NULL;
    }
    return out;
}

typedef struct {
    char main [256];
    char dlq [256];
} s_queues_t;

static void
s_create (s_queues_t *queues, const char *name, int vt, int max_receive)
{
    char *out =
        s_sqs ("create bt%d-%s %d %d", (int) getpid (), name, vt, max_receive);
    if (!out || sscanf (out, "%255s %255s", queues->main, queues->dlq) != 2)
        BAIL_OUT ("cannot create queues for %s", name);
    free (out);
}

static void
s_delete (s_queues_t *queues)
{
    free (s_sqs ("delete '%s' '%s'", queues->main, queues->dlq));
}

//  "visible invisible" of a queue.
static bool
s_count_is (const char *url, const char *expected)
{
    char *out = s_sqs ("count '%s'", url);
    bool match = out && strncmp (out, expected, strlen (expected)) == 0;
    free (out);
    return match;
}

//  A bridge on queues, with extra "--set" values (NULL-terminated).
static pid_t
s_bridge (s_queues_t *queues, const char *log, ...)
{
    static char sets [8][600];
    snprintf (sets [0], 600, "bridge.broker=%s", s_at.endpoint);
    snprintf (sets [1], 600, "bridge.queue_url=%s", queues->main);
    snprintf (sets [2], 600, "bridge.dlq_url=%s", queues->dlq);
    snprintf (sets [3], 600, "events.schema=%s", s_schema);
    const char *args [40] = { "--set", sets [0],
                              "--set", sets [1],
                              "--set", sets [2],
                              "--set", sets [3],
                              "--set", "bridge.wait_s=1",
                              "--set", "bridge.heartbeat_ms=100",
                              "--set", "bridge.stats_interval_ms=500",
                              "--set", "log.level=info" };
    int argc = 0;
    while (args [argc])
        argc++;
    va_list ap;
    va_start (ap, log);
    const char *set;
    while (argc < 37 && (set = va_arg (ap, const char *))) {
        args [argc++] = "--set";
        args [argc++] = set;
    }
    va_end (ap);
    args [argc] = NULL;
    return proc_spawn (s_path (log), "bridge/ferry-bridge", args);
}

static pid_t
s_worker (const char *mode, const char *log)
{
    return proc_start ("tests/integration/test_worker", s_at.endpoint, "audit",
                       mode, s_path (log), NULL);
}

static size_t
s_distinct (const char *log, size_t *lines)
{
    zhashx_t *ids = zhashx_new ();
    size_t count = proc_log_lines (s_path (log), ids);
    if (lines)
        *lines = count;
    size_t distinct = zhashx_size (ids);
    zhashx_destroy (&ids);
    return distinct;
}

#define WAIT_UNTIL(cond, ms)                            \
    do {                                                \
        int64_t until_ = fy_clock_mono_ms () + (ms);    \
        while (!(cond) && fy_clock_mono_ms () < until_) \
            usleep (50 * 1000);                         \
    } while (0)

//  The last value of "name=" in a log (the stats lines), or -1.
static long
s_stat (const char *log, const char *name)
{
    char *text = fy_read_file (s_path (log), 64 << 20, NULL);
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

static bool
s_log_has (const char *log, const char *needle)
{
    char *text = fy_read_file (s_path (log), 64 << 20, NULL);
    bool found = text && strstr (text, needle);
    free (text);
    return found;
}

static bool
s_exit_ok (int status)
{
    return WIFEXITED (status) && WEXITSTATUS (status) == 0;
}

//  Every id the SDK printed (one per line) is in the worker's log.
static size_t
s_missing (const char *ids, const char *log)
{
    zhashx_t *seen = zhashx_new ();
    proc_log_lines (s_path (log), seen);
    size_t missing = 0;
    char *copy = fy_xstrdup (ids), *save = NULL;
    for (char *id = strtok_r (copy, "\n", &save); id;
         id = strtok_r (NULL, "\n", &save))
        if (!zhashx_lookup (seen, id))
            missing++;
    free (copy);
    zhashx_destroy (&seen);
    return missing;
}

//  1. SIGKILL mid-stream, a new bridge takes over.
static void
s_test_kill (void)
{
    s_queues_t q;
    s_create (&q, "kill", 5, 5);
    char *ids = s_sqs ("generate '%s' 2000", q.main);
    ok (ids != NULL, "kill: 2000 events sent with SendMessageBatch");
    pid_t worker = s_worker ("ack", "kill.log");
    pid_t bridge = s_bridge (&q, "kill-bridge1.log", NULL);
    WAIT_UNTIL (proc_log_lines (s_path ("kill.log"), NULL) >= 500, 60000);
    size_t before = proc_log_lines (s_path ("kill.log"), NULL);
    ok (before >= 500, "kill: %zu ACKed before the kill", before);
    int status = proc_stop (bridge, SIGKILL);
    ok (WIFSIGNALED (status), "kill: bridge killed with SIGKILL");
    bridge = s_bridge (&q, "kill-bridge2.log", NULL);
    WAIT_UNTIL (s_distinct ("kill.log", NULL) >= 2000, 120000);
    WAIT_UNTIL (s_count_is (q.main, "0 0"), 30000);
    size_t lines, distinct = s_distinct ("kill.log", &lines);
    is_int (distinct, 2000,
            "kill: every event's effect happened "
            "(distinct ids)");
    is_int (s_missing (ids ? ids : "", "kill.log"), 0,
            "kill: every id sent is in the worker's log");
    diag ("kill: %zu duplicate deliveries absorbed by the idempotent "
          "worker (%zu lines, %zu distinct)",
          lines - distinct, lines, distinct);
    ok (s_count_is (q.main, "0 0"), "kill: main queue empty");
    ok (s_count_is (q.dlq, "0 0"), "kill: nothing in the DLQ");
    status = proc_stop (bridge, SIGTERM);
    ok (s_exit_ok (status), "kill: second bridge stops with 0 on SIGTERM");
    proc_stop (worker, SIGKILL);
    free (ids);
    s_delete (&q);
}

//  2. Invalid bodies go to the DLQ; valid ones in the batch go through.
static void
s_test_invalid (void)
{
    s_queues_t q;
    s_create (&q, "invalid", 30, 5);
    FILE *file = fopen (s_path ("garbage.txt"), "w");
    fputs ("this is {not json", file);
    fclose (file);
    //  A valid event but for its size: oversize is checked first.
    file = fopen (s_path ("big.json"), "w");
    fprintf (file, "{\"id\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
                   "\"type\":\"user.login\",\"payload\":{\"pad\":\"");
    for (int i = 0; i < 300 * 1024; i++)
        fputc ('x', file);
    fputs ("\"}}", file);
    fclose (file);
    const char *data = getenv ("FERRY_SRCDIR");
    char *out = s_sqs (
        "raw '%s' '%s' '%s/tests/data/events/invalid/"
        "user-login-method.json' '%s/tests/data/events/invalid/"
        "type-unknown.json' '%s' '%s/tests/data/events/user.logout.json' "
        "'%s/tests/data/events/goal.created.json' "
        "'%s/tests/data/events/review.submitted.json'",
        q.main, s_path ("garbage.txt"), data, data, s_path ("big.json"), data,
        data, data);
    ok (out != NULL, "invalid: 4 invalid and 3 valid bodies sent in one "
                     "batch");
    free (out);
    pid_t worker = s_worker ("ack", "invalid.log");
    pid_t bridge = s_bridge (&q, "invalid-bridge.log", NULL);
    WAIT_UNTIL (s_count_is (q.dlq, "4 0") && s_count_is (q.main, "0 0"), 20000);
    is_int (s_distinct ("invalid.log", NULL), 3,
            "invalid: the 3 valid events went through");
    ok (s_count_is (q.main, "0 0"), "invalid: gone from the main queue");
    char *lines = s_sqs ("peek '%s'", q.dlq);
    ok (lines != NULL, "invalid: DLQ read");
    const char *reasons [] = { "invalid_json", "schema", "unknown_type",
                               "oversize" };
    for (size_t i = 0; i < 4; i++) {
        char needle [64];
        snprintf (needle, sizeof needle, "\"ferry-reason\":\"%s\"",
                  reasons [i]);
        ok (lines && strstr (lines, needle),
            "invalid: DLQ holds one with "
            "ferry-reason %s",
            reasons [i]);
    }
    ok (lines && strstr (lines, "\"ferry-error\":\"/payload/method: enum"),
        "invalid: ferry-error names the schema violation");
    ok (lines && strstr (lines, "\"ferry-message-id\":")
            && strstr (lines, "\"ferry-receive-count\":\"1\""),
        "invalid: original message id and receive count attached");
    ok (lines && strstr (lines, "\"ferry-truncated-from\":"),
        "invalid: the oversize body is marked as cut");
    if (lines)
        diag ("%s", lines);
    free (lines);
    //  The bridge logs its counts on a timer: under load its first
    //  line may come after the queues settle.
    WAIT_UNTIL (s_stat ("invalid-bridge.log", "dlq") == 4, 5000);
    is_int (s_stat ("invalid-bridge.log", "dlq"), 4,
            "invalid: 4 counted as sent to the DLQ");
    ok (s_log_has ("invalid-bridge.log", "rejected: reason=invalid_json"),
        "invalid: rejections logged with the message id");
    proc_stop (bridge, SIGTERM);
    proc_stop (worker, SIGKILL);
    s_delete (&q);
}

//  3. Retryable NACKs: growing backoff, then the queue's redrive.
static void
s_test_nack (void)
{
    s_queues_t q;
    s_create (&q, "nack", 30, 3);
    pid_t worker = s_worker ("nack:user.login", "nack.log");
    pid_t bridge = s_bridge (&q, "nack-bridge.log", "bridge.backoff_base_s=1",
                             "bridge.backoff_cap_s=4", NULL);
    char *ids = s_sqs ("generate '%s' 1", q.main);
    ok (ids != NULL, "nack: one event sent");
    free (ids);
    WAIT_UNTIL (s_count_is (q.dlq, "1 0"), 30000);
    ok (s_count_is (q.dlq, "1 0"), "nack: moved to the DLQ by the redrive "
                                   "policy after maxReceiveCount 3");
    ok (s_count_is (q.main, "0 0"), "nack: gone from the main queue");
    ok (s_log_has ("nack-bridge.log", "retry in 1 s (receive 1)")
            && s_log_has ("nack-bridge.log", "retry in 2 s (receive 2)")
            && s_log_has ("nack-bridge.log", "retry in 4 s (receive 3)"),
        "nack: the backoff grew 1, 2, 4 s with the receive count");
    char *lines = s_sqs ("peek '%s'", q.dlq);
    ok (lines && !strstr (lines, "ferry-reason"),
        "nack: the DLQ copy is SQS's redrive, not the bridge's");
    free (lines);
    is_int (s_distinct ("nack.log", NULL), 0, "nack: never ACKed");
    proc_stop (bridge, SIGTERM);
    ok (s_stat ("nack-bridge.log", "nacked") >= 3, "nack: NACKs counted (%ld)",
        s_stat ("nack-bridge.log", "nacked"));
    proc_stop (worker, SIGKILL);
    s_delete (&q);
}

//  4. Long work: visibility 2 s, work of ~6 s, delivered once.
static void
s_test_extend (void)
{
    s_queues_t q;
    s_create (&q, "extend", 2, 5);
    pid_t bridge = s_bridge (&q, "extend-bridge.log", NULL);
    char *ids = s_sqs ("generate '%s' 1", q.main);
    ok (ids != NULL, "extend: one event sent");
    free (ids);
    WAIT_UNTIL (s_stat ("extend-bridge.log", "published") == 1, 10000);
    //  The worker starts now, so its first ACK round is ~6 s away.
    pid_t worker = s_worker ("slow:6000", "extend.log");
    WAIT_UNTIL (s_distinct ("extend.log", NULL) == 1, 20000);
    WAIT_UNTIL (s_count_is (q.main, "0 0"), 5000);
    usleep (3000 * 1000);
    size_t lines;
    s_distinct ("extend.log", &lines);
    is_int (lines, 1, "extend: the event was worked on once");
    ok (s_count_is (q.main, "0 0"), "extend: deleted after the ACK");
    int status = proc_stop (bridge, SIGTERM);
    ok (s_exit_ok (status), "extend: bridge exits 0");
    is_int (s_stat ("extend-bridge.log", "received"), 1,
            "extend: SQS never delivered it again");
    long extended = s_stat ("extend-bridge.log", "extended");
    ok (extended >= 3, "extend: visibility extended %ld times", extended);
    proc_stop (worker, SIGKILL);
    s_delete (&q);
}

//  5. SIGTERM with events in flight: exit 0, nothing lost.
static void
s_test_term (void)
{
    s_queues_t q;
    s_create (&q, "term", 30, 5);
    char *ids = s_sqs ("generate '%s' 200", q.main);
    ok (ids != NULL, "term: 200 events sent");
    pid_t worker = s_worker ("slow:700", "term.log");
    pid_t bridge =
        s_bridge (&q, "term-bridge1.log", "bridge.stop_timeout_ms=20000", NULL);
    WAIT_UNTIL (s_stat ("term-bridge1.log", "published") > 0, 10000);
    usleep (300 * 1000);
    int64_t start = fy_clock_mono_ms ();
    int status = proc_stop (bridge, SIGTERM);
    ok (s_exit_ok (status), "term: bridge exits 0 on SIGTERM (%lld ms)",
        (long long) (fy_clock_mono_ms () - start));
    ok (s_log_has ("term-bridge1.log", "stopped cleanly"),
        "term: every published event was answered before the exit");
    long published = s_stat ("term-bridge1.log", "published");
    long deleted = s_stat ("term-bridge1.log", "deleted");
    ok (published > 0 && published == deleted,
        "term: all %ld published were deleted before the exit (%ld)", published,
        deleted);
    bridge = s_bridge (&q, "term-bridge2.log", NULL);
    WAIT_UNTIL (s_distinct ("term.log", NULL) >= 200, 60000);
    WAIT_UNTIL (s_count_is (q.main, "0 0"), 10000);
    size_t lines, distinct = s_distinct ("term.log", &lines);
    is_int (distinct, 200, "term: nothing lost across the stop");
    is_int (s_missing (ids ? ids : "", "term.log"), 0,
            "term: every id sent was worked on");
    diag ("term: %zu duplicates", lines - distinct);
    ok (s_count_is (q.main, "0 0"), "term: main queue empty");
    status = proc_stop (bridge, SIGTERM);
    ok (s_exit_ok (status), "term: second bridge exits 0");
    proc_stop (worker, SIGKILL);
    free (ids);
    s_delete (&q);
}

//  Events received close together share a PUBLISH, and none waits for
//  it after a quiet spell: two lone events, the second after more than
//  publish_linger_ms, go at once (a linger from each receive would hold
//  both for it), then a burst of 300 goes in a few PUBLISH messages, not
//  one per receive of ten, and none of more than FY_PROTO_PACKED_MAX.
#define S_LINGER_MS 2000
#define S_LINGER_SET "bridge.publish_linger_ms=2000"

static void
s_test_linger (void)
{
    s_queues_t q;
    s_create (&q, "linger", 30, 5);
    pid_t worker = s_worker ("ack", "linger.log");
    pid_t bridge = s_bridge (&q, "linger-bridge.log", S_LINGER_SET, NULL);
    for (int lone = 1; lone <= 2; lone++) {
        usleep ((S_LINGER_MS + 200) * 1000);
        free (s_sqs ("generate '%s' 1", q.main));
        WAIT_UNTIL (s_distinct ("linger.log", NULL) >= (size_t) lone, 10000);
    }
    WAIT_UNTIL (s_stat ("linger-bridge.log", "acked") >= 2, 10000);
    long lone_ms = s_stat ("linger-bridge.log", "ack_max_ms");
    ok (lone_ms >= 0 && lone_ms < S_LINGER_MS,
        "linger: a lone event is published at once (receive to ACK %ld ms, "
        "linger %d ms)",
        lone_ms, S_LINGER_MS);
    char *ids = s_sqs ("generate '%s' 300", q.main);
    WAIT_UNTIL (s_distinct ("linger.log", NULL) >= 302, 30000);
    WAIT_UNTIL (s_stat ("linger-bridge.log", "acked") >= 302, 10000);
    is_int (s_missing (ids ? ids : "", "linger.log"), 0,
            "linger: every event of the burst was worked on");
    long publishes = s_stat ("linger-bridge.log", "publishes") - 2;
    //  At most 256 each, so two or more; four or fewer only with batches
    //  of more than 64 (packed), and never one per receive of ten.
    ok (publishes >= (300 + FY_PROTO_PACKED_MAX - 1) / FY_PROTO_PACKED_MAX
            && publishes <= 300 / (FY_PROTO_BATCH_MAX + 1),
        "linger: 300 events in %ld PUBLISH messages (at most %d each, "
        "packed)",
        publishes, FY_PROTO_PACKED_MAX);
    long max_ms = s_stat ("linger-bridge.log", "ack_max_ms");
    ok (max_ms >= 0 && max_ms < 2 * S_LINGER_MS + 1000,
        "linger: no event waited much past twice the linger (%ld ms)", max_ms);
    int status = proc_stop (bridge, SIGTERM);
    ok (s_exit_ok (status), "linger: bridge exits 0");
    proc_stop (worker, SIGKILL);
    free (ids);
    s_delete (&q);
}

//  6. FIFO: within a group, the worker sees events in the order sent,
//  while the groups interleave.
static void
s_test_fifo (void)
{
    s_queues_t q;
    s_create (&q, "fifo.fifo", 30, 5);
    setenv ("FIFO_GROUPS", "3", 1);
    char *ids = s_sqs ("generate '%s' 60", q.main);
    unsetenv ("FIFO_GROUPS");
    ok (ids != NULL, "fifo: 60 events sent in 3 groups");
    //  A slow and a fast worker: events published side by side would
    //  overtake each other, so order holds only if the bridge keeps one
    //  event per group in flight.
    pid_t worker = s_worker ("slow:30", "fifo.log");
    pid_t fast = s_worker ("ack", "fifo.log");
    pid_t bridge = s_bridge (&q, "fifo-bridge.log", NULL);
    WAIT_UNTIL (s_distinct ("fifo.log", NULL) >= 60, 60000);
    is_int (s_distinct ("fifo.log", NULL), 60, "fifo: all 60 worked on");
    //  Event i of the send order is in group i % 3: each group's ids must
    //  come out of the worker's log in the order they went in.
    char *sent [60];
    size_t count = 0;
    for (char *line = ids; line && *line && count < 60;) {
        char *end = strchr (line, '\n');
        if (end)
            *end = 0;
        sent [count++] = line;
        line = end ? end + 1 : NULL;
    }
    char *log = tap_slurp (s_path ("fifo.log"), NULL);
    bool ordered = count == 60;
    for (size_t group = 0; group < 3 && ordered; group++) {
        const char *at = log;
        for (size_t i = group; i < count; i += 3) {
            const char *found = strstr (at, sent [i]);
            if (!found) {
                ordered = false;
                break;
            }
            at = found;
        }
    }
    ok (ordered, "fifo: each group's events reached the worker in order");
    free (log);
    WAIT_UNTIL (s_count_is (q.main, "0 0"), 10000);
    ok (s_count_is (q.main, "0 0"), "fifo: queue empty");
    proc_stop (bridge, SIGTERM);
    proc_stop (worker, SIGKILL);
    proc_stop (fast, SIGKILL);
    free (ids);
    s_delete (&q);
}

//  When each event id first showed in a worker's log (Unix ms), read as
//  the log grows.
typedef struct {
    zhashx_t *seen;
    long offset;
} s_arrivals_t;

static void
s_arrivals_read (s_arrivals_t *arrivals, const char *log)
{
    FILE *file = fopen (s_path (log), "r");
    if (!file)
        return;
    fseek (file, arrivals->offset, SEEK_SET);
    char line [128];
    int64_t now = fy_clock_wall_ms ();
    while (fgets (line, sizeof line, file)) {
        size_t len = strlen (line);
        if (len == 0 || line [len - 1] != '\n')
            break;              //  a line still being written
        arrivals->offset += (long) len;
        line [len - 1] = 0;
        if (!zhashx_lookup (arrivals->seen, line))
            zhashx_insert (arrivals->seen, line, (void *) (intptr_t) now);
    }
    fclose (file);
}

//  Read the log every 50 ms for ms.
static void
s_arrivals_watch (s_arrivals_t *arrivals, const char *log, int64_t ms)
{
    int64_t until = fy_clock_mono_ms () + ms;
    do {
        s_arrivals_read (arrivals, log);
        usleep (50 * 1000);
    } while (fy_clock_mono_ms () < until);
}

//  SIGTERM, then wait for the exit while reading the log; the wait status.
static int
s_term_watching (pid_t pid, s_arrivals_t *arrivals, const char *log,
                 int64_t *took_ms)
{
    int64_t start = fy_clock_mono_ms ();
    kill (pid, SIGTERM);
    int status = 0;
    while (waitpid (pid, &status, WNOHANG) == 0)
        s_arrivals_watch (arrivals, log, 50);
    *took_ms = fy_clock_mono_ms () - start;
    return status;
}

#define S_RESTART_WAIT_S 2
#define S_RESTART_ROUNDS 3

//  7. Restarts while events are being sent, as a deploy does: SIGTERM, a
//  new bridge once the old one is gone, three times. A long poll the old
//  bridge walked away from would be handed messages that then stay
//  invisible for the whole visibility timeout (30 s here): every event
//  must reach the worker within wait_s plus a few seconds of its send.
static void
s_test_restart (void)
{
    s_queues_t q;
    s_create (&q, "restart", 30, 5);
    pid_t worker = s_worker ("ack", "restart.log");
    char wait [32];
    snprintf (wait, sizeof wait, "bridge.wait_s=%d", S_RESTART_WAIT_S);
    pid_t bridge = s_bridge (&q, "restart-bridge0.log", wait, NULL);
    WAIT_UNTIL (s_log_has ("restart-bridge0.log", "polling"), 10000);
    char *command =
        fy_xasprintf ("node '%s' trickle '%s' 500 20 > '%s'",
                      tap_srcpath ("tests/integration/bridge_sqs.mjs"), q.main,
                      s_path ("restart-sent.txt"));
    FILE *sender = popen (command, "r");
    free (command);
    ok (sender != NULL, "restart: sending 500 events, one every 20 ms");
    s_arrivals_t arrivals = { zhashx_new (), 0 };
    zhashx_set_destructor (arrivals.seen, NULL);
    zhashx_set_duplicator (arrivals.seen, NULL);
    bool clean = true;
    int64_t slowest = 0;
    for (int round = 1; round <= S_RESTART_ROUNDS; round++) {
        s_arrivals_watch (&arrivals, "restart.log", 1500);
        char log [64];
        snprintf (log, sizeof log, "restart-bridge%d.log", round - 1);
        int64_t took;
        int status = s_term_watching (bridge, &arrivals, "restart.log", &took);
        clean =
            clean && s_exit_ok (status) && s_log_has (log, "stopped cleanly");
        if (took > slowest)
            slowest = took;
        snprintf (log, sizeof log, "restart-bridge%d.log", round);
        bridge = s_bridge (&q, log, wait, NULL);
    }
    ok (clean, "restart: each bridge exits 0, stopped cleanly");
    ok (slowest <= (S_RESTART_WAIT_S + 5) * 1000,
        "restart: each stop took at most wait_s + 5 s (slowest %lld ms)",
        (long long) slowest);
    //  Reading arrivals until the sender is done, so that none is seen late.
    for (int64_t until = fy_clock_mono_ms () + 60000;
         fy_clock_mono_ms () < until
         && proc_log_lines (s_path ("restart-sent.txt"), NULL) < 500;)
        s_arrivals_watch (&arrivals, "restart.log", 100);
    ok (sender && pclose (sender) == 0, "restart: all 500 sent");
    char *sent = fy_read_file (s_path ("restart-sent.txt"), 1 << 20, NULL);
    size_t count = 0, missing = 0;
    int64_t worst = 0;
    char worst_id [64] = "";
    //  Wait for the last ones, then compare each arrival with its send.
    for (int64_t until = fy_clock_mono_ms () + 45000;
         fy_clock_mono_ms () < until && zhashx_size (arrivals.seen) < 500;)
        s_arrivals_watch (&arrivals, "restart.log", 100);
    char *save = NULL;
    for (char *line = sent ? strtok_r (sent, "\n", &save) : NULL; line;
         line = strtok_r (NULL, "\n", &save)) {
        char id [64];
        long long at;
        if (sscanf (line, "%63s %lld", id, &at) != 2)
            continue;
        count++;
        void *seen = zhashx_lookup (arrivals.seen, id);
        if (!seen) {
            missing++;
            continue;
        }
        int64_t delay = (int64_t) (intptr_t) seen - at;
        if (delay > worst) {
            worst = delay;
            snprintf (worst_id, sizeof worst_id, "%s", id);
        }
    }
    is_int (count, 500, "restart: 500 sends recorded");
    is_int (missing, 0, "restart: every event reached the worker");
    ok (worst <= (S_RESTART_WAIT_S + 8) * 1000,
        "restart: every event reached the worker within wait_s + 8 s of "
        "its send (slowest %lld ms, %s)",
        (long long) worst, worst_id);
    long released = 0;
    for (int round = 0; round < S_RESTART_ROUNDS; round++) {
        char log [64];
        snprintf (log, sizeof log, "restart-bridge%d.log", round);
        long value = s_stat (log, "released");
        released += value > 0 ? value : 0;
    }
    diag ("restart: %ld messages released by stopping bridges", released);
    free (sent);
    zhashx_destroy (&arrivals.seen);
    proc_stop (bridge, SIGTERM);
    proc_stop (worker, SIGKILL);
    s_delete (&q);
}

//  8. The broker goes away: the bridge must not sit on messages it cannot
//  publish. What its polls bring once the credit is gone goes back to the
//  queue within hold_unpublished_ms (not a third of the visibility timeout
//  before its end), and no new receive starts; once the broker is back,
//  everything is worked on. Runs last: it restarts the shared broker.
static pid_t
s_test_broker_gone (pid_t broker, const char *const *broker_args)
{
    s_queues_t q;
    s_create (&q, "gone", 30, 5);
    pid_t worker = s_worker ("ack", "gone.log");
    pid_t bridge = s_bridge (&q, "gone-bridge.log", "bridge.wait_s=5",
                             "bridge.hold_unpublished_ms=1000", NULL);
    WAIT_UNTIL (s_log_has ("gone-bridge.log", "polling"), 10000);
    char *ids = s_sqs ("generate '%s' 10", q.main);
    WAIT_UNTIL (s_distinct ("gone.log", NULL) >= 10, 10000);
    is_int (s_distinct ("gone.log", NULL), 10,
            "gone: 10 events through before the broker goes");
    free (ids);
    proc_stop (broker, SIGKILL);
    //  The bridge hears of it after its heartbeats lapse (300 ms).
    usleep (1000 * 1000);
    ids = s_sqs ("generate '%s' 50", q.main);
    ok (ids != NULL, "gone: 50 events sent with the broker away");
    WAIT_UNTIL (s_count_is (q.main, "50 0"), 10000);
    ok (s_count_is (q.main, "50 0"), "gone: all 50 visible in the queue, "
                                     "none held by the bridge");
    usleep (2000 * 1000);
    ok (s_count_is (q.main, "50 0"), "gone: and no receive since");
    broker =
        proc_spawn (s_path ("broker.log"), "broker/ferry-broker", broker_args);
    WAIT_UNTIL (s_distinct ("gone.log", NULL) >= 60, 30000);
    is_int (s_missing (ids ? ids : "", "gone.log"), 0,
            "gone: once the broker is back, every event is worked on");
    ok (s_stat ("gone-bridge.log", "released") >= 0,
        "gone: %ld released unpublished",
        s_stat ("gone-bridge.log", "released"));
    int status = proc_stop (bridge, SIGTERM);
    ok (s_exit_ok (status), "gone: bridge exits 0");
    free (ids);
    proc_stop (worker, SIGKILL);
    s_delete (&q);
    return broker;
}

#define S_TAIL_CREDIT "100"
#define S_TAIL_BACKLOG 1000
#define S_TAIL_ROUNDS 4
//  Well under broker.lease_ms (10 s, its default here), well over what a
//  loaded machine running sanitizers needs (tens of milliseconds).
#define S_TAIL_BOUND_MS 5000

//  9. Drains of a backlog ten times the broker's client_credit, one after
//  another through one bridge: no event may wait from its receive to its
//  ACK anywhere near the broker's lease tick (an ACK or credit that only
//  a timer sends would show as a stall of lease_ms).
static void
s_test_tail (void)
{
    char dir [600];
    snprintf (dir, sizeof dir, "%s/tail", s_dir);
    if (mkdir (dir, 0700))
        BAIL_OUT ("mkdir %s: %s", dir, strerror (errno));
    proc_broker_at_t at = proc_broker_at (dir);
    const char *broker_args [] = {
        "--set", at.set,
        "--set", "broker.heartbeat_ms=200",
        "--set", "broker.client_credit=" S_TAIL_CREDIT,
        "--set", "broker.routes=audit:*",
        "--set", "http.enabled=false",
        "--set", "log.level=warn",
        NULL
    };
    pid_t broker = proc_spawn (s_path ("tail-broker.log"),
                               "broker/ferry-broker", broker_args);
    pid_t worker = proc_start ("tests/integration/test_worker", at.endpoint,
                               "audit", "ack", s_path ("tail.log"), NULL);
    s_queues_t q;
    s_create (&q, "tail", 30, 5);
    char broker_set [400];
    snprintf (broker_set, sizeof broker_set, "bridge.broker=%s", at.endpoint);
    pid_t bridge = s_bridge (&q, "tail-bridge.log", broker_set, NULL);
    size_t total = 0;
    for (int round = 1; round <= S_TAIL_ROUNDS; round++) {
        char *ids = s_sqs ("generate '%s' %d", q.main, S_TAIL_BACKLOG);
        total += S_TAIL_BACKLOG;
        WAIT_UNTIL (s_distinct ("tail.log", NULL) >= total, 60000);
        free (ids);
    }
    is_int (s_distinct ("tail.log", NULL), total,
            "tail: %d drains of %d "
            "events with client_credit " S_TAIL_CREDIT " worked on",
            S_TAIL_ROUNDS, S_TAIL_BACKLOG);
    int status = proc_stop (bridge, SIGTERM);
    ok (s_exit_ok (status), "tail: bridge exits 0");
    is_int (s_stat ("tail-bridge.log", "acked"), (long) total,
            "tail: every event ACKed");
    long max_ms = s_stat ("tail-bridge.log", "ack_max_ms");
    ok (max_ms >= 0 && max_ms <= S_TAIL_BOUND_MS,
        "tail: no event waited more than %d ms from receive to ACK "
        "(max %ld ms, p99 %ld ms)",
        S_TAIL_BOUND_MS, max_ms, s_stat ("tail-bridge.log", "ack_p99_ms"));
    proc_stop (worker, SIGKILL);
    proc_stop (broker, SIGTERM);
    s_delete (&q);
}

int
main (void)
{
    plan (NO_PLAN);
    const char *vars [] = { "AWS_ENDPOINT_URL_SQS",  "AWS_ACCESS_KEY_ID",
                            "AWS_SECRET_ACCESS_KEY", "FERRY_EVENTS_SCHEMA",
                            "FERRY_SRCDIR",          NULL };
    for (size_t i = 0; vars [i]; i++)
        if (!getenv (vars [i]))
            BAIL_OUT ("%s is not set: run eval \"$(contrib/stack.sh env)\" "
                      "after contrib/stack.sh start",
                      vars [i]);
    s_at = proc_broker_scratch (s_dir);
    snprintf (s_schema, sizeof s_schema, "%s", getenv ("FERRY_EVENTS_SCHEMA"));
    const char *broker_args [] = { "--set", s_at.set,
                                   "--set", "broker.heartbeat_ms=200",
                                   "--set", "broker.lease_ms=300",
                                   "--set", "broker.routes=audit:*",
                                   "--set", "http.enabled=false",
                                   "--set", "log.level=warn",
                                   NULL };
    pid_t broker =
        proc_spawn (s_path ("broker.log"), "broker/ferry-broker", broker_args);

    s_test_invalid ();
    s_test_nack ();
    s_test_extend ();
    s_test_term ();
    s_test_fifo ();
    s_test_linger ();
    s_test_kill ();
    s_test_restart ();
    s_test_tail ();
    broker = s_test_broker_gone (broker, broker_args);

    int status = proc_stop (broker, SIGTERM);
    ok (s_exit_ok (status), "broker exits 0");
    if (tap_failed_ == 0) {
        char *command = fy_xasprintf ("rm -rf '%s'", s_dir);
        if (system (command) != 0)
            diag ("cannot remove %s", s_dir);
        free (command);
    }
    else
        diag ("logs kept in %s", s_dir);
    done_testing ();
}
