/*  Tests for fy_worker against a scripted broker: a ROUTER socket driven
    by a thread of this test, while the worker runs its own loop on the
    main thread as a real worker does. The script checks what the worker
    sends; the callbacks record what it was given. Streams: parts with
    more go only within the grant (REQUEST window, MORE), deliveries are
    handled while a stream waits, CANCEL and a new session release the
    producer, a failing producer ends with status 500. */
#include "ferry/ferry.h"
#include "tap.h"

#include <pthread.h>
#include <signal.h>

static const char *s_event_json =
    "{\"id\":\"3f1c2a4e-9b7d-4c1e-8f00-0123456789ab\","
    "\"type\":\"user.login\",\"version\":1,\"source\":\"t\","
    "\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
    "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
    "\"payload\":{}}";

//  What the script saw, checked by main after the worker stopped.
typedef struct {
    bool ready, credit_4, packed_most, invalid_nacked, acked_1, nacked_3,
        reply_7, ready_again, new_identity, drained, bye, pull;
    bool window_2, waits_for_grant, event_during_stream, more_rest;
    bool cancel_first, cancel_ends, push_first, push_waits, push_rest;
    bool fail_500, restart_first;
} s_script_t;

static s_script_t s_script;
static size_t s_batches, s_events;
static size_t s_produced, s_released, s_streams_started;
static char s_type [64];

static void *s_router;
static fy_proto_msg_t s_in, s_out;

static int
s_recv (void)
{
    while (true) {
        zmq_pollitem_t item = { s_router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 3000) <= 0)
            return -1;
        fy_error_t err;
        if (fy_proto_recv (s_router, true, 0, &s_in, &err))
            return -1;
        if (s_in.command != FY_PROTO_HEARTBEAT)
            return 0;
    }
}

static void
s_send_event (uint64_t did, const void *data, size_t size)
{
    fy_proto_msg_reset (&s_out);
    s_out.command = FY_PROTO_EVENT;
    zmq_msg_copy (&s_out.identity, &s_in.identity);
    s_out.has_identity = true;
    s_out.did = did;
    s_out.attempt = 1;
    s_out.service = fy_proto_str ("audit");
    zmq_msg_init_size (&s_out.event, size);
    memcpy (zmq_msg_data (&s_out.event), data, size);
    s_out.has_event = true;
    if (fy_proto_send (s_router, &s_out))
        abort ();
}

static void
s_send (fy_proto_command_t command)
{
    s_out.command = command;
    zmq_msg_copy (&s_out.identity, &s_in.identity);
    s_out.has_identity = true;
    if (fy_proto_send (s_router, &s_out))
        abort ();
}

//  True when nothing but heartbeats arrives for ms.
static bool
s_quiet (int ms)
{
    int64_t end = fy_clock_mono_ms () + ms;
    int64_t left;
    while ((left = end - fy_clock_mono_ms ()) > 0) {
        zmq_pollitem_t item = { s_router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) left) <= 0)
            return true;
        fy_error_t err;
        if (fy_proto_recv (s_router, true, 0, &s_in, &err))
            return false;
        if (s_in.command != FY_PROTO_HEARTBEAT)
            return false;
    }
    return true;
}

static void
s_request (uint64_t rid, const char *path, uint64_t window)
{
    fy_proto_msg_reset (&s_out);
    s_out.rid = rid;
    s_out.method = fy_proto_str ("GET");
    s_out.path = fy_proto_str (path);
    s_out.window = window;
    s_send (FY_PROTO_REQUEST);
}

static void
s_grant (fy_proto_command_t command, uint64_t rid, uint64_t n)
{
    fy_proto_msg_reset (&s_out);
    s_out.rid = rid;
    s_out.n = n;
    s_send (command);
}

//  The next message is REPLY rid with body and more as given.
static bool
s_part (uint64_t rid, const char *body, bool more)
{
    return s_recv () == 0 && s_in.command == FY_PROTO_REPLY && s_in.rid == rid
           && s_in.more == more && s_in.status == 200
           && fy_proto_str_is (s_in.body, body);
}

//  Streams, between the request/reply and the BYE of the main script.
static void
s_stream_script (const void *packed, size_t size)
{
    //  Window 2 of a 5-part stream: 2 parts, then nothing until MORE; an
    //  event that arrives meanwhile is handled.
    s_request (8, "/audit/stream", 2);
    s_script.window_2 = s_part (8, "p0", true) && s_part (8, "p1", true);
    s_script.waits_for_grant = s_quiet (200);
    s_send_event (10, packed, size);
    s_script.event_during_stream = s_recv () == 0
                                   && s_in.command == FY_PROTO_ACK
                                   && s_in.ids_count == 1 && s_in.ids [0] == 10;
    s_grant (FY_PROTO_MORE, 8, 10);
    s_script.more_rest = s_part (8, "p2", true) && s_part (8, "p3", true)
                         && s_part (8, "p4", false) && s_quiet (100);
    //  CANCEL mid-stream: an empty last part returns the credit.
    s_request (11, "/audit/stream", 1);
    s_script.cancel_first = s_part (11, "p0", true) && s_quiet (100);
    s_grant (FY_PROTO_CANCEL, 11, 0);
    s_script.cancel_ends = s_part (11, "", false) && s_quiet (100);
    //  Parts pushed with fy_worker_reply wait for their grant too.
    s_request (12, "/audit/push", 1);
    s_script.push_first = s_part (12, "a", true);
    s_script.push_waits = s_quiet (100);
    s_grant (FY_PROTO_MORE, 12, 5);
    s_script.push_rest = s_part (12, "b", true) && s_part (12, "c", false);
    //  A producer that fails: one empty last part of status 500.
    s_request (14, "/audit/fail", 2);
    s_script.fail_500 = s_recv () == 0 && s_in.command == FY_PROTO_REPLY
                        && s_in.rid == 14 && s_in.status == 500 && !s_in.more
                        && s_in.body.len == 0;
    //  A stream still waiting when the session ends (BYE, below).
    s_request (13, "/audit/stream", 1);
    s_script.restart_first = s_part (13, "p0", true);
}

static void *
s_broker (void *arg)
{
    (void) arg;
    char *packed = NULL;
    size_t size = 0;
    fy_event_t *event =
        fy_event_decode_json (s_event_json, strlen (s_event_json), NULL, NULL);
    if (!event || fy_event_encode_msgpack (event, &packed, &size))
        abort ();
    fy_event_destroy (&event);

    s_script.ready = s_recv () == 0 && s_in.command == FY_PROTO_READY
                     && fy_proto_str_is (s_in.service, "audit");
    s_script.credit_4 = s_in.credit == 4;
    s_script.pull = s_in.pull;
    s_script.packed_most = s_in.packed && s_in.batch == FY_PROTO_PACKED_MAX;
    s_send_event (1, packed, size);
    s_send_event (2, "\xc1", 1);
    s_send_event (3, packed, size);
    //  did 2 is refused on arrival; did 1 is ACKed and did 3 NACKed by
    //  the handler, which also sees both in one batch.
    for (int i = 0; i < 3 && s_recv () == 0; i++) {
        if (s_in.command == FY_PROTO_NACK && s_in.did == 2)
            s_script.invalid_nacked =
                fy_proto_str_is (s_in.reason, "invalid_msgpack");
        if (s_in.command == FY_PROTO_ACK && s_in.dids)
            s_script.acked_1 = s_in.ids_count == 1 && s_in.ids [0] == 1;
        if (s_in.command == FY_PROTO_NACK && s_in.did == 3)
            s_script.nacked_3 =
                s_in.retryable && fy_proto_str_is (s_in.reason, "later");
    }
    fy_proto_msg_reset (&s_out);
    s_out.rid = 7;
    s_out.method = fy_proto_str ("GET");
    s_out.path = fy_proto_str ("/audit/health");
    s_send (FY_PROTO_REQUEST);
    s_script.reply_7 = s_recv () == 0 && s_in.command == FY_PROTO_REPLY
                       && s_in.rid == 7 && s_in.status == 200
                       && fy_proto_str_is (s_in.body, "{\"status\":\"ok\"}");
    s_stream_script (packed, size);
    //  BYE: the worker starts over on a new socket and registers again.
    zmq_msg_t old;
    zmq_msg_init (&old);
    zmq_msg_copy (&old, &s_in.identity);
    fy_proto_msg_reset (&s_out);
    s_send (FY_PROTO_BYE);
    s_script.ready_again = s_recv () == 0 && s_in.command == FY_PROTO_READY;
    s_script.new_identity =
        zmq_msg_size (&old) != zmq_msg_size (&s_in.identity)
        || memcmp (zmq_msg_data (&old), zmq_msg_data (&s_in.identity),
                   zmq_msg_size (&old))
               != 0;
    zmq_msg_close (&old);
    //  A delivery the handler holds, then SIGTERM: the worker stops
    //  taking work (READY credit 0), waits its stop timeout, says BYE.
    s_send_event (9, packed, size);
    usleep (100 * 1000);
    kill (getpid (), SIGTERM);
    s_script.drained =
        s_recv () == 0 && s_in.command == FY_PROTO_READY && s_in.credit == 0;
    s_script.bye = s_recv () == 0 && s_in.command == FY_PROTO_BYE;
    free (packed);
    return NULL;
}

static void
s_on_events (fy_worker_t *worker, fy_delivery_t **deliveries, size_t count,
             void *arg)
{
    (void) arg;
    s_batches++;
    for (size_t i = 0; i < count; i++) {
        fy_delivery_t *delivery = deliveries [i];
        fy_event_t *event = fy_delivery_event (delivery, NULL);
        snprintf (s_type, sizeof s_type, "%s",
                  event ? fy_event_type (event) : "?");
        s_events++;
        if (delivery->did == 1 || delivery->did == 10)
            fy_worker_ack (worker, &delivery);
        else if (delivery->did == 3)
            fy_worker_nack (worker, &delivery, true, "later");
        //  did 9 is held until the worker is destroyed.
    }
}

//  A producer of parts "p0" .. "p<last>", or one that fails.
typedef struct {
    int next, last;
    bool fail;
    char buf [16];
} s_producer_t;

static int
s_produce (void *arg, const void **data, size_t *len)
{
    s_producer_t *producer = arg;
    if (producer->fail)
        return -1;
    s_produced++;
    int n =
        snprintf (producer->buf, sizeof producer->buf, "p%d", producer->next);
    *data = producer->buf;
    *len = (size_t) n;
    return producer->next++ < producer->last ? 1 : 0;
}

static void
s_release (void *arg)
{
    s_released++;
    free (arg);
}

static void
s_on_request (fy_worker_t *worker, const fy_request_t *request, void *arg)
{
    (void) arg;
    if (fy_proto_str_is (request->path, "/audit/stream")
        || fy_proto_str_is (request->path, "/audit/fail")) {
        s_producer_t *producer = fy_xcalloc (1, sizeof *producer);
        producer->last = 4;
        producer->fail = fy_proto_str_is (request->path, "/audit/fail");
        s_streams_started++;
        if (fy_worker_stream (worker, request->rid, 200, "text/plain",
                              s_produce, s_release, producer))
            abort ();
        return;
    }
    if (fy_proto_str_is (request->path, "/audit/push")) {
        if (fy_worker_reply (worker, request->rid, 200, "text/plain", "a", 1,
                             true)
            || fy_worker_reply (worker, request->rid, 200, "text/plain", "b", 1,
                                true)
            || fy_worker_reply (worker, request->rid, 200, "text/plain", "c", 1,
                                false))
            abort ();
        return;
    }
    const char *body = "{\"status\":\"ok\"}";
    if (fy_worker_reply (worker, request->rid, 200, "application/json", body,
                         strlen (body), false))
        abort ();
}

//  fy_request_param: names match exactly, the last value given wins.
static void
s_request_param (void)
{
    const fy_proto_pair_t query [] = {
        { { "from", 4 }, { "a", 1 } },
        { { "fromX", 5 }, { "b", 1 } },
        { { "from", 4 }, { "c", 1 } },
        { { "to", 2 }, { "", 0 } },
    };
    fy_request_t request = { .query = query, .query_count = 4 };
    fy_proto_str_t value = { NULL, 0 };
    ok (fy_request_param (&request, "from", &value) && value.len == 1
            && value.ptr [0] == 'c',
        "fy_request_param: the last from");
    ok (fy_request_param (&request, "to", &value) && value.len == 0,
        "an empty value is there");
    ok (!fy_request_param (&request, "fro", &value)
            && !fy_request_param (&request, "x", &value),
        "a prefix or another name is not");
}

//  fy_request_param_int64: a whole number in bounds, or EINVAL / ERANGE,
//  and the value left alone when the parameter is absent.
static void
s_request_param_int64 (void)
{
    const fy_proto_pair_t query [] = {
        { { "limit", 5 }, { "42", 2 } },
        { { "big", 3 }, { "101", 3 } },
        { { "word", 4 }, { "4x", 2 } },
        { { "empty", 5 }, { "", 0 } },
        { { "long", 4 }, { "000000000000000000000000001", 27 } },
    };
    fy_request_t request = { .query = query, .query_count = 5 };
    int64_t value = 7;
    ok (fy_request_param_int64 (&request, "none", 1, 100, &value) == 0
            && value == 7,
        "fy_request_param_int64: absent, the value kept");
    ok (fy_request_param_int64 (&request, "limit", 1, 100, &value) == 0
            && value == 42,
        "a number in bounds");
    errno = 0;
    ok (fy_request_param_int64 (&request, "big", 1, 100, &value) == -1
            && errno == ERANGE && value == 42,
        "out of bounds: ERANGE");
    const char *bad [] = { "word", "empty", "long" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        ok (fy_request_param_int64 (&request, bad [i], 1, 100, &value) == -1
                && errno == EINVAL,
            "%s: EINVAL", bad [i]);
    }
}

int
main (void)
{
    plan (NO_PLAN);
    s_request_param ();
    s_request_param_int64 ();
    zsock_t *router = zsock_new_router ("inproc://fy_worker_test");
    s_router = zsock_resolve (router);
    fy_proto_msg_init (&s_in);
    fy_proto_msg_init (&s_out);
    fy_error_t err = { "" };
    //  Before the script's thread starts, so it inherits the blocked
    //  signals and SIGTERM reaches the worker's signalfd.
    fy_worker_t *worker = fy_worker_new ("inproc://fy_worker_test", "audit",
                                         "audit-test", 4, &err);
    ok (worker != NULL, "worker connects: %s", err.text);
    fy_worker_set_heartbeat (worker, 50, 20);
    fy_worker_set_stop_timeout (worker, 200);
    fy_worker_on_events (worker, s_on_events, NULL);
    fy_worker_on_request (worker, s_on_request, NULL);
    pthread_t thread;
    pthread_create (&thread, NULL, s_broker, NULL);
    ok (fy_worker_run (worker) == 0, "run returns 0 after SIGTERM");
    is_int (fy_worker_held (worker), 1, "the held delivery is still held");
    size_t streams_left = fy_worker_streams (worker);
    fy_worker_destroy (&worker);
    pthread_join (thread, NULL);

    ok (s_script.ready && s_script.credit_4, "READY with service and credit");
    ok (s_script.packed_most, "READY asks for packed batches of %d",
        FY_PROTO_PACKED_MAX);
    ok (s_script.invalid_nacked, "an event that is not msgpack is NACKed "
                                 "invalid_msgpack before the handler");
    ok (s_batches >= 1 && s_events == 4,
        "the handler got the 4 good "
        "events (%zu in %zu batches)",
        s_events, s_batches);
    is_str (s_type, "user.login", "fy_delivery_event decodes the event");
    ok (s_script.acked_1, "ACK carries did 1");
    ok (s_script.nacked_3, "NACK carries did 3, retryable, with reason");
    ok (s_script.reply_7, "REPLY answers request 7");
    ok (s_script.pull, "READY says the worker pulls stream parts");
    ok (s_script.window_2, "a stream with window 2 sends 2 parts");
    ok (s_script.waits_for_grant, "then waits for MORE");
    ok (s_script.event_during_stream, "an event is ACKed while the stream "
                                      "waits");
    ok (s_script.more_rest, "MORE 10: the 3 remaining parts, the last "
                            "with more false, and nothing after");
    ok (s_script.cancel_first && s_script.cancel_ends,
        "CANCEL mid-stream: one empty last part, nothing after");
    ok (s_script.push_first && s_script.push_waits && s_script.push_rest,
        "fy_worker_reply parts beyond the grant wait for MORE");
    ok (s_script.fail_500, "a failing producer ends with an empty 500 part");
    ok (s_script.restart_first, "a stream waits for grant at the BYE");
    is_int (s_streams_started, 4, "4 streams started");
    is_int (s_released, 4,
            "every producer released once (end, cancel, "
            "failure, new session)");
    is_int (s_produced, 7, "7 parts produced: none beyond the grants");
    is_int (streams_left, 0, "no stream record left");
    ok (s_script.ready_again && s_script.new_identity,
        "after BYE, READY again from a new socket");
    ok (s_script.drained, "SIGTERM: READY with credit 0");
    ok (s_script.bye, "then BYE");
    fy_proto_msg_close (&s_in);
    fy_proto_msg_close (&s_out);
    zsock_destroy (&router);
    return done_testing ();
}
