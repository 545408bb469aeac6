/*  A streamed reply to a ZeroMQ client is pulled (PROTOCOL.md, Requests),
    with real processes on real sockets: ferry-broker, a test_worker whose
    /svc/count?n=N streams N parts with fy_worker_stream and logs each part
    it makes, and this program as the client on fy_client.

    The client takes each part slowly (within the heartbeat: a handler
    that blocks the client's loop for three intervals loses its session);
    while it handles part r the worker
    must have made at most r + window - 1 parts (the window, then one per
    part handled). Without a window the same worker makes the whole stream
    at once, so the bound is what the window does. A CANCEL and a client
    that goes away mid-stream both stop the worker (its producer released)
    and give its credit back. */
#include "ferry/ferry.h"
#include "proc.h"

static char s_dir [] = "/tmp/ferry-cstream-XXXXXX";
static proc_broker_at_t s_at;
static char s_log [300];

//  What the reply handler saw of the current stream.
typedef struct {
    uint64_t rid;
    long parts, lead_max;       //  parts handled; most made ahead of them
    bool last, in_order;
    unsigned status;
    int delay_us;               //  how slowly each part is taken
    long cancel_after;          //  fy_client_cancel after this many parts
    fy_client_t *client;
} s_stream_t;

static s_stream_t s_stream;

//  Lines of the worker's log that start with prefix.
static long
s_logged (const char *prefix)
{
    char *text = fy_read_file (s_log, 64 << 20, NULL);
    long count = 0;
    size_t len = strlen (prefix);
    for (char *line = text; line && *line;) {
        if (strncmp (line, prefix, len) == 0)
            count++;
        char *end = strchr (line, '\n');
        line = end ? end + 1 : NULL;
    }
    free (text);
    return count;
}

static void
s_on_reply (fy_client_t *client, uint64_t rid, unsigned status,
            const char *content_type, const void *body, size_t len, bool more,
            void *arg)
{
    (void) content_type;
    (void) arg;
    s_stream_t *stream = &s_stream;
    if (rid != stream->rid)
        return;
    stream->status = status;
    if (!more)
        stream->last = true;
    if (len == 0)
        return;
    stream->parts++;
    char expect [32];
    snprintf (expect, sizeof expect, "part %ld", stream->parts);
    if (len != strlen (expect) || memcmp (body, expect, len) != 0)
        stream->in_order = false;
    long lead = s_logged ("produced ") - stream->parts;
    if (lead > stream->lead_max)
        stream->lead_max = lead;
    if (stream->cancel_after && stream->parts == stream->cancel_after
        && fy_client_cancel (client, rid))
        BAIL_OUT ("fy_client_cancel: %s", zmq_strerror (errno));
    if (stream->delay_us)
        usleep ((useconds_t) stream->delay_us);
}

static fy_client_t *
s_client (const char *name)
{
    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (s_at.endpoint, name, &err);
    if (!client)
        BAIL_OUT ("client: %s", err.text);
    fy_client_handlers_t handlers = { .reply = s_on_reply };
    fy_client_set_handlers (client, &handlers);
    return client;
}

//  Ask client for /svc/count?n=count; the stream state is reset.
static void
s_request (fy_client_t *client, long count, int delay_us, long cancel_after)
{
    if (truncate (s_log, 0))
        BAIL_OUT ("truncate %s", s_log);
    char n [24];
    snprintf (n, sizeof n, "%ld", count);
    fy_proto_pair_t query [] = { { .key = fy_proto_str ("n"),
                                   .value = fy_proto_str (n) } };
    s_stream = (s_stream_t) { .in_order = true,
                              .delay_us = delay_us,
                              .cancel_after = cancel_after,
                              .client = client };
    if (fy_client_request (client, "svc", "GET", "/svc/count", query, 1, NULL,
                           0, &s_stream.rid))
        BAIL_OUT ("fy_client_request: %s", zmq_strerror (errno));
}

//  The worker's credit is free again: an ordinary request is answered.
static bool
s_answers (fy_client_t *client)
{
    s_request (client, 1, 0, 0);
    PROC_WAIT_FOR (client, s_stream.last, 5000);
    //  The worker logs the release after it sent the last part: wait for
    //  it, or it may land in the next request's log.
    PROC_WAIT_FOR (client, s_logged ("released") == 1, 5000);
    return s_stream.last && s_stream.parts == 1 && s_stream.status == 200;
}

int
main (void)
{
    plan (NO_PLAN);
    s_at = proc_broker_scratch (s_dir);
    snprintf (s_log, sizeof s_log, "%s/worker.log", s_dir);
    FILE *log = fopen (s_log, "w");
    if (!log)
        BAIL_OUT ("cannot create %s", s_log);
    fclose (log);
    pid_t broker =
        proc_start ("broker/ferry-broker", "--set", s_at.set, "--set",
                    "broker.routes=svc:*", "--set", "log.level=warn", "--set",
                    "http.enabled=false", NULL);
    pid_t worker = proc_start ("tests/integration/test_worker", s_at.endpoint,
                               "svc", "ack", s_log, NULL);
    fy_client_t *client = s_client ("stream-test");
    //  The worker may connect after the client: retry until it answers.
    bool up = false;
    for (int i = 0; i < 100 && !up; i++)
        if (!(up = s_answers (client)))
            PROC_WAIT_FOR (client, false, 100);
    ok (up, "the worker answers a request");

    //  1. Pulled: 200 parts taken 2 ms each.
    s_request (client, 200, 2000, 0);
    PROC_WAIT_FOR (client, s_stream.last, 30000);
    ok (s_stream.last && s_stream.parts == 200 && s_stream.in_order,
        "window %d: all 200 parts, in order (got %ld)", FY_CLIENT_WINDOW,
        s_stream.parts);
    ok (s_stream.lead_max <= FY_CLIENT_WINDOW - 1,
        "the worker made at most window - 1 parts ahead of the client "
        "(most: %ld)",
        s_stream.lead_max);
    ok (s_stream.lead_max >= 1, "and did make parts ahead (most: %ld)",
        s_stream.lead_max);
    PROC_WAIT_FOR (client, s_logged ("released") >= 1, 5000);
    is_int (s_logged ("released"), 1, "the producer was released once");

    //  2. No window: the worker pushes the whole stream unasked.
    fy_client_set_window (client, 0);
    s_request (client, 200, 2000, 0);
    PROC_WAIT_FOR (client, s_stream.last, 30000);
    ok (s_stream.last && s_stream.parts == 200 && s_stream.in_order,
        "window 0: all 200 parts, in order");
    ok (s_stream.lead_max > 50,
        "and the worker ran far ahead of the client (most: %ld)",
        s_stream.lead_max);
    fy_client_set_window (client, FY_CLIENT_WINDOW);

    //  3. CANCEL after 10 parts of a stream that would never end.
    s_request (client, 1000000000L, 0, 10);
    PROC_WAIT_FOR (client, s_logged ("released") == 1, 5000);
    is_int (s_logged ("released"), 1, "CANCEL: the producer is released");
    long made = s_logged ("produced ");
    ok (made <= 10 + FY_CLIENT_WINDOW,
        "CANCEL: the worker stopped after %ld parts", made);
    //  Parts in flight when the CANCEL left may still come; then none.
    fy_client_wait (client, 200);
    long seen = s_stream.parts;
    PROC_WAIT_FOR (client, false, 300);
    is_int (s_stream.parts, seen, "CANCEL: no part after that");
    ok (s_answers (client), "CANCEL: the worker's credit came back");

    //  4. A client that goes away mid-stream.
    fy_client_t *leaving = s_client ("leaving");
    s_request (leaving, 1000000000L, 0, 0);
    PROC_WAIT_FOR (leaving, s_stream.parts >= 5, 5000);
    ok (s_stream.parts >= 5, "a second client took %ld parts", s_stream.parts);
    fy_client_destroy (&leaving);
    PROC_WAIT_FOR (client, s_logged ("released") == 1, 5000);
    is_int (s_logged ("released"), 1, "client gone: the producer is released");
    made = s_logged ("produced ");
    ok (made <= s_stream.parts + FY_CLIENT_WINDOW,
        "client gone: the worker stopped after %ld parts", made);
    ok (s_answers (client), "client gone: the worker's credit came back");

    fy_client_destroy (&client);
    ok (proc_stop (worker, SIGTERM) == 0, "test_worker stops cleanly");
    ok (proc_stop (broker, SIGTERM) == 0, "ferry-broker stops cleanly");
    char command [400];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        diag ("could not remove %s", s_dir);
    done_testing ();
}
