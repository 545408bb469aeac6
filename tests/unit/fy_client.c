/*  Tests for fy_client against a scripted broker: a real ROUTER socket in
    this process playing the broker's side of FERRY1 message by message. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>

static void *s_router;
static fy_proto_msg_t s_in, s_out;

typedef struct {
    size_t acks, nacks, leases, replies, resets;
    uint64_t last_seq;
    bool retryable, more;
    char reason [64], body [64];
} s_seen_t;

static s_seen_t s_seen;

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) arg;
    s_seen.acks++;
    s_seen.last_seq = seq;
}

static void
s_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
           const char *reason, void *arg)
{
    (void) client;
    (void) arg;
    s_seen.nacks++;
    s_seen.last_seq = seq;
    s_seen.retryable = retryable;
    snprintf (s_seen.reason, sizeof s_seen.reason, "%s", reason);
}

static void
s_on_lease (fy_client_t *client, const uint64_t *seqs, size_t count, void *arg)
{
    (void) client;
    (void) arg;
    s_seen.leases += count;
    s_seen.last_seq = count ? seqs [count - 1] : 0;
}

static void
s_on_reply (fy_client_t *client, uint64_t rid, unsigned status,
            const char *content_type, const void *body, size_t len, bool more,
            void *arg)
{
    (void) client;
    (void) rid;
    (void) content_type;
    (void) arg;
    s_seen.replies++;
    s_seen.more = more;
    snprintf (s_seen.body, sizeof s_seen.body, "%u %.*s", status, (int) len,
              (const char *) body);
}

static void
s_on_reset (fy_client_t *client, void *arg)
{
    (void) client;
    (void) arg;
    s_seen.resets++;
}

//  The broker side: receive the next message from the client, passing
//  over heartbeats unless one is what the test waits for.
static int
s_broker_recv_any (bool heartbeats)
{
    while (true) {
        zmq_pollitem_t item = { s_router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 2000) <= 0)
            return -1;
        fy_error_t err;
        if (fy_proto_recv (s_router, true, 0, &s_in, &err))
            return -1;
        if (heartbeats || s_in.command != FY_PROTO_HEARTBEAT)
            return 0;
    }
}

static int
s_broker_recv (void)
{
    return s_broker_recv_any (false);
}

//  Start a broker message to the client that sent the last one.
static fy_proto_msg_t *
s_broker_out (fy_proto_command_t command)
{
    fy_proto_msg_reset (&s_out);
    s_out.command = command;
    zmq_msg_copy (&s_out.identity, &s_in.identity);
    s_out.has_identity = true;
    return &s_out;
}

static void
s_pump (fy_client_t *client, int ms)
{
    int64_t until = fy_clock_mono_ms () + ms;
    while (fy_clock_mono_ms () < until)
        fy_client_wait (client, 5);
}

static fy_event_t *
s_event (void)
{
    const char *json = "{\"id\":\"3f1c2a4e-9b7d-4c1e-8f00-0123456789ab\","
                       "\"type\":\"user.login\",\"version\":1,\"source\":\"t\","
                       "\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
                       "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
                       "\"payload\":{}}";
    return fy_event_decode_json (json, strlen (json), NULL, NULL);
}

int
main (void)
{
    plan (NO_PLAN);
    zsock_t *router = zsock_new_router ("inproc://fy_client_test");
    s_router = zsock_resolve (router);
    fy_proto_msg_init (&s_in);
    fy_proto_msg_init (&s_out);

    fy_error_t err = { "" };
    fy_client_t *client =
        fy_client_new ("inproc://fy_client_test", "tester", &err);
    ok (client != NULL, "client connects: %s", err.text);
    fy_client_set_heartbeat (client, 50, 3);
    fy_client_handlers_t handlers = { .ack = s_on_ack,
                                      .nack = s_on_nack,
                                      .lease = s_on_lease,
                                      .reply = s_on_reply,
                                      .reset = s_on_reset };
    fy_client_set_handlers (client, &handlers);

    ok (s_broker_recv () == 0 && s_in.command == FY_PROTO_HELLO
            && fy_proto_str_is (s_in.name, "tester")
            && fy_proto_str_is (s_in.role, "client"),
        "says HELLO as a client");
    fy_event_t *event = s_event ();
    uint64_t seq = 0;
    errno = 0;
    ok (fy_client_publish (client, event, &seq) == -1 && errno == EAGAIN,
        "no publish without credit");

    s_broker_out (FY_PROTO_CREDIT)->n = 2;
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("send");
    s_pump (client, 50);
    is_int (fy_client_credit (client), 2, "CREDIT grants 2");
    ok (fy_client_publish (client, event, &seq) == 0 && seq == 1, "seq 1");
    ok (fy_client_publish (client, event, &seq) == 0 && seq == 2, "seq 2");
    ok (fy_client_publish (client, event, &seq) == -1 && errno == EAGAIN,
        "credit spent");
    ok (s_broker_recv () == 0 && s_in.command == FY_PROTO_PUBLISH
            && s_in.seq == 1 && fy_proto_str_is (s_in.type, "user.login")
            && fy_proto_str_is (s_in.id,
                                "3f1c2a4e-9b7d-4c1e-8f00-0123456789ab"),
        "PUBLISH carries seq, id and type");
    fy_event_t *carried = fy_event_decode_msgpack (
        zmq_msg_data (&s_in.event), zmq_msg_size (&s_in.event), &err);
    ok (carried && strcmp (fy_event_id (carried), fy_event_id (event)) == 0,
        "and the event as msgpack");
    fy_event_destroy (&carried);
    ok (s_broker_recv () == 0 && s_in.seq == 2, "second PUBLISH");

    fy_proto_msg_add_id (s_broker_out (FY_PROTO_ACK), 1);
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("send");
    fy_proto_msg_t *nack = s_broker_out (FY_PROTO_NACK);
    nack->seq = 2;
    nack->retryable = true;
    nack->reason = fy_proto_str ("no_worker");
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("send");
    fy_proto_msg_add_id (s_broker_out (FY_PROTO_LEASE), 2);
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("send");
    s_pump (client, 50);
    is_int (s_seen.acks, 1, "ACK reaches the ack callback");
    ok (s_seen.nacks == 1 && s_seen.retryable
            && strcmp (s_seen.reason, "no_worker") == 0,
        "NACK with retryable and reason");
    is_int (s_seen.leases, 1, "LEASE reaches the lease callback");

    fy_proto_pair_t query [] = { { fy_proto_str ("companyId"),
                                   fy_proto_str ("c1") } };
    uint64_t rid = 0;
    ok (fy_client_request (client, "audit", "GET", "/audit/search", query, 1,
                           NULL, 0, &rid)
                == 0
            && rid == 1,
        "request sent");
    ok (s_broker_recv () == 0 && s_in.command == FY_PROTO_REQUEST
            && fy_proto_str_is (s_in.service, "audit") && s_in.query_count == 1
            && fy_proto_str_is (s_in.path, "/audit/search")
            && s_in.window == FY_CLIENT_WINDOW,
        "REQUEST fields, with window");
    fy_proto_msg_t *reply = s_broker_out (FY_PROTO_REPLY);
    reply->rid = rid;
    reply->status = 200;
    reply->body = fy_proto_str ("part");
    reply->more = true;
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("send");
    s_pump (client, 50);
    ok (s_seen.replies == 1 && s_seen.more
            && strcmp (s_seen.body, "200 part") == 0,
        "streamed REPLY part");
    ok (s_broker_recv () == 0 && s_in.command == FY_PROTO_MORE
            && s_in.rid == rid && s_in.n == 1,
        "the part taken, MORE grants one more");
    ok (fy_client_cancel (client, rid) == 0 && s_broker_recv () == 0
            && s_in.command == FY_PROTO_CANCEL && s_in.rid == rid,
        "fy_client_cancel sends CANCEL");
    fy_client_set_window (client, 0);
    ok (fy_client_request (client, "audit", "GET", "/audit/export", NULL, 0,
                           NULL, 0, &rid)
                == 0
            && s_broker_recv () == 0 && s_in.command == FY_PROTO_REQUEST
            && s_in.window == 0,
        "window 0: a REQUEST without window");
    reply = s_broker_out (FY_PROTO_REPLY);
    reply->rid = rid;
    reply->status = 200;
    reply->body = fy_proto_str ("pushed");
    reply->more = true;
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("send");
    s_pump (client, 50);
    ok (s_seen.replies == 2 && strcmp (s_seen.body, "200 pushed") == 0,
        "a pushed part");

    //  Silence from the client side is broken by heartbeats.
    ok (s_broker_recv_any (true) == 0 && s_in.command == FY_PROTO_HEARTBEAT,
        "heartbeats when quiet");
    //  BYE: a new session on a new socket, and the owner hears of it.
    zmq_msg_t old;
    zmq_msg_init (&old);
    zmq_msg_copy (&old, &s_in.identity);
    s_broker_out (FY_PROTO_BYE);
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("send");
    s_pump (client, 50);
    is_int (s_seen.resets, 1, "BYE resets the session");
    is_int (fy_client_credit (client), 0, "credit is void after a reset");
    ok (s_broker_recv () == 0 && s_in.command == FY_PROTO_HELLO
            && (zmq_msg_size (&s_in.identity) != zmq_msg_size (&old)
                || memcmp (zmq_msg_data (&s_in.identity), zmq_msg_data (&old),
                           zmq_msg_size (&old))
                       != 0),
        "HELLO again from a new identity");
    zmq_msg_close (&old);
    //  A broker silent for liveness heartbeats is left for a new session.
    s_pump (client, 300);
    ok (s_seen.resets >= 2, "silence resets the session too");

    fy_event_destroy (&event);
    fy_client_destroy (&client);
    ok (client == NULL, "destroy sets the reference to NULL");
    fy_proto_msg_close (&s_in);
    fy_proto_msg_close (&s_out);
    zsock_destroy (&router);
    return done_testing ();
}
