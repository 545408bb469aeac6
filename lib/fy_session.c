/*  fy_session: the client half of FERRY1 heartbeating and reconnection. */
#include "fy_session.h"

#include <assert.h>
#include <errno.h>

static int
s_connect (fy_session_t *self, fy_error_t *err)
{
    self->sock = zsock_new (ZMQ_DEALER);
    self->socket = zsock_resolve (self->sock);
    //  Credit bounds what is in flight; the HWM must never drop it.
    zsock_set_sndhwm (self->sock, 0);
    zsock_set_rcvhwm (self->sock, 0);
    zsock_set_linger (self->sock, 0);
    if (zsock_connect (self->sock, "%s", self->endpoint) < 0) {
        fy_error_set (err, "cannot connect to %s: %s", self->endpoint,
                      zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->sock);
        errno = EINVAL;
        return -1;
    }
    self->last_seen = self->last_sent = fy_clock_mono_ms ();
    return 0;
}

int
fy_session_open (fy_session_t *self, const char *endpoint, fy_error_t *err)
{
    assert (self);
    assert (endpoint);
    self->endpoint = fy_xstrdup (endpoint);
    if (!self->heartbeat_ms)
        self->heartbeat_ms = 1000;
    if (!self->liveness)
        self->liveness = 3;
    fy_proto_msg_init (&self->in);
    fy_proto_msg_init (&self->out);
    return s_connect (self, err);
}

void
fy_session_close (fy_session_t *self)
{
    assert (self);
    zsock_destroy (&self->sock);
    fy_proto_msg_close (&self->in);
    fy_proto_msg_close (&self->out);
    free (self->endpoint);
    self->endpoint = NULL;
}

void
fy_session_reconnect (fy_session_t *self)
{
    assert (self);
    zsock_destroy (&self->sock);
    self->reconnects++;
    //  The endpoint connected once, so only exhaustion fails here, and
    //  then there is nothing better to do than fail loudly.
    if (s_connect (self, NULL))
        abort ();
}

fy_proto_msg_t *
fy_session_out (fy_session_t *self, fy_proto_command_t command)
{
    fy_proto_msg_reset (&self->out);
    self->out.command = command;
    return &self->out;
}

int
fy_session_send (fy_session_t *self)
{
    self->last_sent = fy_clock_mono_ms ();
    return fy_proto_send (self->socket, &self->out);
}

int
fy_session_recv (fy_session_t *self, fy_error_t *err)
{
    int rc = fy_proto_recv (self->socket, false, ZMQ_DONTWAIT, &self->in,
                            err);
    if (rc == 0 || errno == EPROTO)
        self->last_seen = fy_clock_mono_ms ();
    return rc;
}

bool
fy_session_tick (fy_session_t *self, int64_t now)
{
    if (now - self->last_seen > self->heartbeat_ms * self->liveness)
        return true;
    if (now - self->last_sent >= self->heartbeat_ms) {
        fy_session_out (self, FY_PROTO_HEARTBEAT);
        if (fy_session_send (self))
            return true;
    }
    return false;
}
