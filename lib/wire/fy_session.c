/*  fy_session: the client half of FERRY1 heartbeating and reconnection. */
#include "wire/fy_session.h"

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
    //  Never block the owner's loop: with no broker connected (refused,
    //  or not there yet) a send fails with EAGAIN instead of waiting, and
    //  liveness decides when to start over.
    zsock_set_sndtimeo (self->sock, 0);
    if (self->cert) {
        zcert_apply (self->cert, self->sock);
        zsock_set_curve_serverkey (self->sock, self->server_key);
    }
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
    zcert_destroy (&self->cert);
    free (self->server_key);
    self->server_key = NULL;
    free (self->endpoint);
    self->endpoint = NULL;
}

int
fy_session_set_curve (fy_session_t *self, const char *server_key,
                      const char *cert_path, fy_error_t *err)
{
    assert (self);
    zcert_t *cert = cert_path ? zcert_load (cert_path) : NULL;
    if (!cert || !server_key || strlen (server_key) != 40) {
        fy_error_set (err, "CURVE: %s",
                      !cert ? "cannot load the certificate"
                            : "the broker key must be 40 Z85 characters");
        zcert_destroy (&cert);
        errno = EINVAL;
        return -1;
    }
    zcert_destroy (&self->cert);
    free (self->server_key);
    self->cert = cert;
    self->server_key = fy_xstrdup (server_key);
    fy_session_reconnect (self);
    return 0;
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
    //  A new socket, a new ZMQ_FD: the source follows it.
    self->unsure = true;
    if (self->source)
        fy_loop_arm (self->source);
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
    int rc = fy_proto_send (self->socket, &self->out);
    int saved = errno;
    //  Even a send that fails may have taken the socket's commands, and
    //  with them the ZMQ_FD's signal of input that came before. ZMQ_EVENTS
    //  takes the rest (one poll of the mailbox, as a receive's EAGAIN
    //  costs): input it does not report, the ZMQ_FD signals from now on.
    //  Input it reports is read at once (fy_loop_arm), rather than in a
    //  turn of the loop after every send.
    int events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (self->socket, ZMQ_EVENTS, &events, &size)
        || (events & ZMQ_POLLIN)) {
        self->unsure = true;
        if (self->source)
            fy_loop_arm (self->source);
    }
    else
        self->unsure = false;
    errno = saved;
    return rc;
}

int
fy_session_recv (fy_session_t *self, fy_error_t *err)
{
    int rc = fy_proto_recv (self->socket, false, ZMQ_DONTWAIT, &self->in, err);
    //  A malformed message was taken: more may follow.
    self->unsure = rc == 0 || errno == EPROTO || errno == EPROTONOSUPPORT;
    if (rc == 0 || (errno == EPROTO || errno == EPROTONOSUPPORT))
        self->last_seen = fy_clock_mono_ms ();
    return rc;
}

void
fy_session_loop_want (fy_session_t *self, fy_loop_want_t *want)
{
    want->socket = self->socket;
    want->events = ZMQ_POLLIN;
    if (self->unsure)
        want->timeout_ms = 0;
}

bool
fy_session_tick (fy_session_t *self, int64_t now)
{
    if (now - self->last_seen > self->heartbeat_ms * self->liveness)
        return true;
    if (now - self->last_sent >= self->heartbeat_ms) {
        fy_session_out (self, FY_PROTO_HEARTBEAT);
        //  A heartbeat that cannot go now is not worth keeping.
        if (fy_session_send (self))
            self->last_sent = now;
    }
    return false;
}
