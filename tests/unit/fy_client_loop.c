/*  fy_client attached to a zloop (fy_client_attach): fy_loop watches the
    socket's ZMQ_FD, which signals only a command new to the socket's
    mailbox. Input it does not signal must still be read at once: an ACK
    whose command a publish took, and what is left after a run's bound. A
    scripted ROUTER in this process plays the broker. */
#include "ferry/ferry.h"
#include "wire/fy_client_loop.h"

#include "tap.h"

static void *s_router;
static fy_proto_msg_t s_in, s_out;
static size_t s_acks;

//  Counts the ACKs into *arg.
static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) seq;
    size_t *acks = arg;
    *acks += 1;
}

//  The broker side: the client's next message (heartbeats too).
static fy_proto_command_t
s_broker_next (void)
{
    zmq_pollitem_t item = { s_router, 0, ZMQ_POLLIN, 0 };
    fy_error_t err;
    if (zmq_poll (&item, 1, 2000) <= 0
        || fy_proto_recv (s_router, true, 0, &s_in, &err))
        BAIL_OUT ("the client sent nothing");
    return s_in.command;
}

//  Send the broker's command to the last sender: CREDIT n, or ACK of id n.
static void
s_broker_send (fy_proto_command_t command, uint64_t n)
{
    fy_proto_msg_reset (&s_out);
    s_out.command = command;
    zmq_msg_copy (&s_out.identity, &s_in.identity);
    s_out.has_identity = true;
    if (command == FY_PROTO_ACK)
        fy_proto_msg_add_id (&s_out, n);
    else
        s_out.n = n;
    if (fy_proto_send (s_router, &s_out))
        BAIL_OUT ("the broker's send failed");
}

typedef struct {
    const size_t *count;
    size_t target;
} s_until_t;

static int
s_on_check (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_until_t *until = arg;
    return *until->count >= until->target ? -1 : 0;
}

static int
s_on_give_up (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

//  Run loop until *count reaches target, or for at most 1 s: the ms it
//  took. Nothing in it reads the client but the client's source.
static int64_t
s_loop_until (zloop_t *loop, const size_t *count, size_t target)
{
    s_until_t until = { count, target };
    int64_t start = fy_clock_mono_ms ();
    int check = zloop_timer (loop, 1, 0, s_on_check, &until);
    int give_up = zloop_timer (loop, 1000, 1, s_on_give_up, NULL);
    zloop_start (loop);
    zloop_timer_end (loop, check);
    zloop_timer_end (loop, give_up);
    return fy_clock_mono_ms () - start;
}

int
main (void)
{
    plan (NO_PLAN);
    zsock_t *router = zsock_new_router ("inproc://fy_client_loop");
    s_router = zsock_resolve (router);
    fy_proto_msg_init (&s_in);
    fy_proto_msg_init (&s_out);
    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new ("inproc://fy_client_loop", "t", &err);
    if (!client)
        BAIL_OUT ("fy_client_new: %s", err.text);
    fy_client_handlers_t handlers = { .ack = s_on_ack, .arg = &s_acks };
    fy_client_set_handlers (client, &handlers);
    zloop_t *loop = zloop_new ();
    ok (fy_client_attach (client, loop) != NULL, "attached");
    is_int (s_broker_next (), FY_PROTO_HELLO, "HELLO");

    s_broker_send (FY_PROTO_CREDIT, 1);
    s_broker_send (FY_PROTO_ACK, 1);
    int64_t ms = s_loop_until (loop, &s_acks, 1);
    ok (s_acks == 1 && fy_client_credit (client) == 1 && ms < 500,
        "CREDIT and an ACK read as they come (%lld ms)", (long long) ms);

    //  An ACK comes while the loop is not polling; the publish then takes
    //  the socket's command (the sleep lets it past libzmq's throttle),
    //  and the ZMQ_FD turns readable no more.
    s_broker_send (FY_PROTO_ACK, 2);
    zclock_sleep (20);
    ok (fy_client_publish_raw (client, "e1", "user.login", "\x80", 1, NULL)
            == 0,
        "published with an ACK waiting");
    ms = s_loop_until (loop, &s_acks, 2);
    ok (s_acks == 2 && ms < 500,
        "the ACK the publish left unsignalled is read (%lld ms)",
        (long long) ms);
    is_int (s_broker_next (), FY_PROTO_PUBLISH, "the PUBLISH went out");

    //  More than a run reads (1024): the rest is read at once, with
    //  nothing new to signal it.
    for (uint64_t id = 10; id < 1510; id++)
        s_broker_send (FY_PROTO_ACK, id);
    zclock_sleep (20);
    ms = s_loop_until (loop, &s_acks, 1502);
    ok (s_acks == 1502 && ms < 500,
        "1500 ACKs read, past a run's bound (%zu in %lld ms)", s_acks - 2,
        (long long) ms);

    fy_client_destroy (&client);
    zloop_destroy (&loop);
    fy_proto_msg_close (&s_in);
    fy_proto_msg_close (&s_out);
    zsock_destroy (&router);
    return done_testing ();
}
