/*  test_worker: a worker process for the integration tests, built on
    fy_worker like the real ones. Each ACKed event id is appended to a log
    file with one write(2), so the test can count effects after a kill.

    usage: test_worker ENDPOINT SERVICE MODE LOGFILE
    modes: ack           ACK everything at once
           hold          never answer (to be killed holding work); the
                         ids held are logged as they come
           slow:MS       ACK after MS milliseconds
           crash:TYPE    _exit(3) on receiving an event of TYPE
           nack:TYPE     NACK events of TYPE retryable, ACK the rest
           fail:TYPE     NACK events of TYPE permanently, ACK the rest
    Requests: /<service>/stream answers in three parts at once;
    /<service>/count?n=N streams N parts "part K" with fy_worker_stream
    (made as the requester grants them), logging "produced K" for each and
    "released" at its end. */
#include "ferry/ferry.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *mode;
    const char *arg;
    int log_fd;
    fy_worker_t *worker;
    zlistx_t *slow;             //  deliveries waiting for their time
} s_state_t;

static void
s_log_ack (s_state_t *state, fy_delivery_t *delivery)
{
    char line [64];
    int len = snprintf (line, sizeof line, "%s\n",
                        fy_event_id (fy_delivery_event (delivery, NULL)));
    if (write (state->log_fd, line, (size_t) len) != len)
        abort ();
}

static void
s_on_events (fy_worker_t *worker, fy_delivery_t **deliveries, size_t count,
             void *arg)
{
    s_state_t *state = arg;
    for (size_t i = 0; i < count; i++) {
        fy_delivery_t *delivery = deliveries [i];
        fy_error_t err = { "" };
        fy_event_t *event = fy_delivery_event (delivery, &err);
        if (!event) {
            fy_worker_nack (worker, &delivery, false, err.text);
            continue;
        }
        const char *type = fy_event_type (event);
        bool match = state->arg && strcmp (type, state->arg) == 0;
        if (strcmp (state->mode, "hold") == 0) {
            s_log_ack (state, delivery);
            continue;
        }
        if (strcmp (state->mode, "crash") == 0 && match)
            _exit (3);
        if (strcmp (state->mode, "slow") == 0) {
            zlistx_add_end (state->slow, delivery);
            continue;
        }
        if (strcmp (state->mode, "nack") == 0 && match)
            fy_worker_nack (worker, &delivery, true, "test: try later");
        else if (strcmp (state->mode, "fail") == 0 && match)
            fy_worker_nack (worker, &delivery, false, "test: refused");
        else {
            s_log_ack (state, delivery);
            fy_worker_ack (worker, &delivery);
        }
    }
}

static void
s_log_line (s_state_t *state, const char *line)
{
    size_t len = strlen (line);
    if (write (state->log_fd, line, len) != (ssize_t) len)
        abort ();
}

typedef struct {
    s_state_t *state;
    long made, count;
    char part [32];
} s_count_t;

static int
s_count_produce (void *arg, const void **data, size_t *len)
{
    s_count_t *count = arg;
    char line [32];
    snprintf (line, sizeof line, "produced %ld\n", ++count->made);
    s_log_line (count->state, line);
    *len = (size_t) snprintf (count->part, sizeof count->part, "part %ld",
                              count->made);
    *data = count->part;
    return count->made < count->count;
}

static void
s_count_release (void *arg)
{
    s_count_t *count = arg;
    s_log_line (count->state, "released\n");
    free (count);
}

//  Requests: echo what arrived as JSON; /<service>/stream and
//  /<service>/count stream (see the top); "hold" mode never answers (the
//  broker's 504).
static void
s_on_request (fy_worker_t *worker, const fy_request_t *request, void *arg)
{
    s_state_t *state = arg;
    if (strcmp (state->mode, "hold") == 0)
        return;
    char path [256];
    snprintf (path, sizeof path, "%.*s", (int) request->path.len,
              request->path.ptr);
    if (strstr (path, "/count")) {
        s_count_t *count = fy_xcalloc (1, sizeof *count);
        count->state = state;
        count->count = 1;
        for (size_t i = 0; i < request->query_count; i++)
            if (fy_proto_str_is (request->query [i].key, "n")) {
                char n [24];
                snprintf (n, sizeof n, "%.*s",
                          (int) request->query [i].value.len,
                          request->query [i].value.ptr);
                count->count = strtol (n, NULL, 10);
            }
        if (fy_worker_stream (worker, request->rid, 200, "text/plain",
                              s_count_produce, s_count_release, count))
            abort ();
        return;
    }
    if (strstr (path, "/stream")) {
        for (int part = 0; part < 3; part++) {
            char line [32];
            int len = snprintf (line, sizeof line, "part %d\n", part);
            if (fy_worker_reply (worker, request->rid, 200, "text/plain", line,
                                 (size_t) len, part < 2))
                abort ();
        }
        return;
    }
    json_t *body = json_pack (
        "{s:s#, s:s#, s:i, s:i, s:s#}", "method", request->method.ptr,
        (int) request->method.len, "path", request->path.ptr,
        (int) request->path.len, "query", (int) request->query_count, "headers",
        (int) request->headers_count, "body",
        request->body.ptr ? request->body.ptr : "", (int) request->body.len);
    char *text = json_dumps (body, JSON_COMPACT);
    if (fy_worker_reply (worker, request->rid, 200, "application/json", text,
                         strlen (text), false))
        abort ();
    free (text);
    json_decref (body);
}

static int
s_on_slow (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_state_t *state = arg;
    fy_delivery_t *delivery;
    while ((delivery = zlistx_first (state->slow))) {
        zlistx_delete (state->slow, zlistx_cursor (state->slow));
        s_log_ack (state, delivery);
        fy_worker_ack (state->worker, &delivery);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc != 5) {
        fprintf (stderr, "usage: test_worker ENDPOINT SERVICE MODE LOGFILE\n");
        return 2;
    }
    s_state_t state = { .mode = argv [3] };
    char *colon = strchr (argv [3], ':');
    if (colon) {
        *colon = 0;
        state.arg = colon + 1;
    }
    state.log_fd = open (argv [4], O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (state.log_fd < 0)
        return 2;
    fy_log_init ("test_worker", FY_LOG_NOTICE, FY_LOG_TEXT);
    fy_error_t err = { "" };
    char name [64];
    snprintf (name, sizeof name, "%s-%d", argv [2], (int) getpid ());
    state.worker = fy_worker_new (argv [1], argv [2], name, 64, &err);
    if (!state.worker) {
        fprintf (stderr, "test_worker: %s\n", err.text);
        return 2;
    }
    //  CURVE, when the test asks for it.
    const char *server_key = getenv ("FERRY_TEST_CURVE_SERVER");
    if (server_key
        && fy_worker_set_curve (state.worker, server_key,
                                getenv ("FERRY_TEST_CURVE_CERT"), &err)) {
        fprintf (stderr, "test_worker: %s\n", err.text);
        return 2;
    }
    state.slow = zlistx_new ();
    fy_worker_set_heartbeat (state.worker, 100, 3);
    fy_worker_set_stop_timeout (state.worker, 5000);
    fy_worker_on_events (state.worker, s_on_events, &state);
    fy_worker_on_request (state.worker, s_on_request, &state);
    if (strcmp (state.mode, "slow") == 0)
        zloop_timer (fy_worker_loop (state.worker),
                     (size_t) strtoul (state.arg, NULL, 10), 0, s_on_slow,
                     &state);
    int rc = fy_worker_run (state.worker);
    fy_worker_destroy (&state.worker);
    zlistx_destroy (&state.slow);
    close (state.log_fd);
    return rc ? 1 : 0;
}
