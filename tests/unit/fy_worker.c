/*  Tests for fy_worker against a scripted broker: a ROUTER socket driven
    by a thread of this test, while the worker runs its own loop on the
    main thread as a real worker does. The script checks what the worker
    sends; the callbacks record what it was given. */
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
    bool ready, credit_4, invalid_nacked, acked_1, nacked_3, reply_7,
         ready_again, new_identity, drained, bye;
} s_script_t;

static s_script_t s_script;
static size_t s_batches, s_events;
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

static void *
s_broker (void *arg)
{
    (void) arg;
    char *packed = NULL;
    size_t size = 0;
    fy_event_t *event = fy_event_decode_json (s_event_json,
                                              strlen (s_event_json), NULL,
                                              NULL);
    if (!event || fy_event_encode_msgpack (event, &packed, &size))
        abort ();
    fy_event_destroy (&event);

    s_script.ready = s_recv () == 0 && s_in.command == FY_PROTO_READY
                  && fy_proto_str_is (s_in.service, "audit");
    s_script.credit_4 = s_in.credit == 4;
    s_send_event (1, packed, size);
    s_send_event (2, "\xc1", 1);
    s_send_event (3, packed, size);
    //  did 2 is refused on arrival; did 1 is ACKed and did 3 NACKed by
    //  the handler, which also sees both in one batch.
    for (int i = 0; i < 3 && s_recv () == 0; i++) {
        if (s_in.command == FY_PROTO_NACK && s_in.did == 2)
            s_script.invalid_nacked = fy_proto_str_is (s_in.reason,
                                                       "invalid_msgpack");
        if (s_in.command == FY_PROTO_ACK && s_in.dids)
            s_script.acked_1 = s_in.ids_count == 1 && s_in.ids [0] == 1;
        if (s_in.command == FY_PROTO_NACK && s_in.did == 3)
            s_script.nacked_3 = s_in.retryable
                             && fy_proto_str_is (s_in.reason, "later");
    }
    fy_proto_msg_reset (&s_out);
    s_out.rid = 7;
    s_out.method = fy_proto_str ("GET");
    s_out.path = fy_proto_str ("/audit/health");
    s_send (FY_PROTO_REQUEST);
    s_script.reply_7 = s_recv () == 0 && s_in.command == FY_PROTO_REPLY
                    && s_in.rid == 7 && s_in.status == 200
                    && fy_proto_str_is (s_in.body, "{\"status\":\"ok\"}");
    //  BYE: the worker starts over on a new socket and registers again.
    zmq_msg_t old;
    zmq_msg_init (&old);
    zmq_msg_copy (&old, &s_in.identity);
    fy_proto_msg_reset (&s_out);
    s_send (FY_PROTO_BYE);
    s_script.ready_again = s_recv () == 0 && s_in.command == FY_PROTO_READY;
    s_script.new_identity = zmq_msg_size (&old) != zmq_msg_size (&s_in.identity)
        || memcmp (zmq_msg_data (&old), zmq_msg_data (&s_in.identity),
                   zmq_msg_size (&old)) != 0;
    zmq_msg_close (&old);
    //  A delivery the handler holds, then SIGTERM: the worker stops
    //  taking work (READY credit 0), waits its stop timeout, says BYE.
    s_send_event (9, packed, size);
    usleep (100 * 1000);
    kill (getpid (), SIGTERM);
    s_script.drained = s_recv () == 0 && s_in.command == FY_PROTO_READY
                    && s_in.credit == 0;
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
        if (delivery->did == 1)
            fy_worker_ack (worker, &delivery);
        else
        if (delivery->did == 3)
            fy_worker_nack (worker, &delivery, true, "later");
        //  did 9 is held until the worker is destroyed.
    }
}

static void
s_on_request (fy_worker_t *worker, const fy_request_t *request, void *arg)
{
    (void) arg;
    const char *body = "{\"status\":\"ok\"}";
    if (fy_worker_reply (worker, request->rid, 200, "application/json", body,
                         strlen (body), false))
        abort ();
}

int
main (void)
{
    plan (NO_PLAN);
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
    fy_worker_destroy (&worker);
    pthread_join (thread, NULL);

    ok (s_script.ready && s_script.credit_4, "READY with service and credit");
    ok (s_script.invalid_nacked, "an event that is not msgpack is NACKed "
        "invalid_msgpack before the handler");
    ok (s_batches >= 1 && s_events == 3, "the handler got the 3 good "
        "events (%zu in %zu batches)", s_events, s_batches);
    is_str (s_type, "user.login", "fy_delivery_event decodes the event");
    ok (s_script.acked_1, "ACK carries did 1");
    ok (s_script.nacked_3, "NACK carries did 3, retryable, with reason");
    ok (s_script.reply_7, "REPLY answers request 7");
    ok (s_script.ready_again && s_script.new_identity,
        "after BYE, READY again from a new socket");
    ok (s_script.drained, "SIGTERM: READY with credit 0");
    ok (s_script.bye, "then BYE");
    fy_proto_msg_close (&s_in);
    fy_proto_msg_close (&s_out);
    zsock_destroy (&router);
    return done_testing ();
}
