/*  fy_session: private to libferry. The DEALER side of a FERRY1 session,
    shared by fy_worker and fy_client: one socket to the broker, the
    heartbeat bookkeeping both directions need, and reconnection with a
    fresh socket when the broker falls silent. */
#ifndef FY_SESSION_H_INCLUDED
#define FY_SESSION_H_INCLUDED

#include "core/fy_loop.h"
#include "ferry/fy_proto.h"

#include <czmq.h>

typedef struct {
    char *endpoint;
    zsock_t *sock;
    void *socket;               //  libzmq handle of sock
    int64_t heartbeat_ms, liveness;
    int64_t last_seen, last_sent;
    fy_proto_msg_t in, out;
    uint64_t reconnects;
    zcert_t *cert;              //  CURVE: our certificate, or NULL
    char *server_key;           //  CURVE: the broker's public key (Z85)
    //  Input may be waiting that the socket's ZMQ_FD does not signal: a
    //  message received since the last EAGAIN, input found after a send,
    //  a new socket (see fy_loop.h).
    bool unsure;
    fy_loop_source_t *source;   //  the owner's attachment, or NULL
} fy_session_t;

//  Connect a new session. Returns -1 with errno EINVAL and err when the
//  endpoint is unusable.
int
fy_session_open (fy_session_t *self, const char *endpoint, fy_error_t *err);

void
fy_session_close (fy_session_t *self);

//  Use CURVE from now on: our certificate from cert_path (as ferryctl
//  keygen writes it, the secret file), the broker's public key in Z85.
//  Reconnects. Returns -1 with errno EINVAL and err on a bad certificate.
int
fy_session_set_curve (fy_session_t *self, const char *server_key,
                      const char *cert_path, fy_error_t *err);

//  Drop the socket (and whatever it had queued) and connect a new one.
void
fy_session_reconnect (fy_session_t *self);

//  Start self->out as command, to be filled in and sent.
fy_proto_msg_t *
fy_session_out (fy_session_t *self, fy_proto_command_t command);

//  Send self->out; input the send may have left unsignalled is read at
//  once (the source, if any, armed). Returns 0, or -1 with errno.
int
fy_session_send (fy_session_t *self);

//  Receive into self->in without blocking. Returns 0; -1 with errno
//  EAGAIN when nothing is waiting (the socket's ZMQ_FD signals the next
//  input from then on), EPROTO for a malformed message.
int
fy_session_recv (fy_session_t *self, fy_error_t *err);

//  What the session's socket waits for, for its owner's fy_loop source:
//  input, and a run at once while unsure.
void
fy_session_loop_want (fy_session_t *self, fy_loop_want_t *want);

//  Heartbeat duty at now: send HEARTBEAT when quiet. Returns true when
//  the broker has been silent too long and the session must reconnect.
bool
fy_session_tick (fy_session_t *self, int64_t now);

#endif
