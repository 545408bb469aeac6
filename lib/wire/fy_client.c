/*  fy_client: publish within credit, hear the outcome. */
#include "ferry/fy_client.h"
#include "ferry/fy_log.h"
#include "wire/fy_client_loop.h"
#include "wire/fy_session.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

struct fy_client {
    fy_session_t session;
    char *name;
    uint64_t credit;
    uint64_t next_seq, next_rid;
    uint64_t window;            //  parts of a stream asked ahead, or 0
    uint64_t batch;             //  most events per PUBLISH the broker takes
    bool packed;                //  and whether it takes them in one frame
    fy_client_handlers_t handlers;
};

static void
s_hello (fy_client_t *self)
{
    fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_HELLO);
    out->name = fy_proto_str (self->name);
    out->role = fy_proto_str ("client");
    out->packed = true;
    if (fy_session_send (&self->session))
        fy_log_warn ("client: HELLO not sent: %s", zmq_strerror (errno));
}

fy_client_t *
fy_client_new (const char *endpoint, const char *name, fy_error_t *err)
{
    assert (endpoint);
    fy_client_t *self = fy_xcalloc (1, sizeof *self);
    self->name = fy_xstrdup (name ? name : "client");
    self->window = FY_CLIENT_WINDOW;
    zsys_handler_set (NULL);
    if (fy_session_open (&self->session, endpoint, err)) {
        fy_client_destroy (&self);
        return NULL;
    }
    s_hello (self);
    return self;
}

void
fy_client_destroy (fy_client_t **self_p)
{
    assert (self_p);
    fy_client_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_client_detach (self);
    if (self->session.sock) {
        fy_session_out (&self->session, FY_PROTO_BYE);
        if (fy_session_send (&self->session))
            fy_log_debug ("client: BYE not sent");
    }
    fy_session_close (&self->session);
    free (self->name);
    free (self);
    *self_p = NULL;
    errno = saved;
}

void
fy_client_set_handlers (fy_client_t *self, const fy_client_handlers_t *handlers)
{
    assert (self);
    assert (handlers);
    self->handlers = *handlers;
}

void
fy_client_set_heartbeat (fy_client_t *self, int64_t heartbeat_ms,
                         int64_t liveness)
{
    assert (self);
    self->session.heartbeat_ms = heartbeat_ms;
    self->session.liveness = liveness;
}

void
fy_client_set_window (fy_client_t *self, uint64_t window)
{
    assert (self);
    self->window = window;
}

uint64_t
fy_client_credit (fy_client_t *self)
{
    assert (self);
    return self->credit;
}

size_t
fy_client_batch (fy_client_t *self)
{
    assert (self);
    return self->batch > 1 ? (size_t) self->batch : 1;
}

static void
s_copy_frame (zmq_msg_t *frame, const fy_client_event_t *event)
{
    zmq_msg_close (frame);
    zmq_msg_init_size (frame, event->size);
    memcpy (zmq_msg_data (frame), event->msgpack, event->size);
}

//  One PUBLISH of count events (count within credit): the one-event form
//  for one, a batch for more.
static int
s_publish (fy_client_t *self, fy_client_event_t *events, size_t count)
{
    fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_PUBLISH);
    uint64_t first = self->next_seq + 1;
    if (count == 1) {
        out->seq = first;
        out->id = fy_proto_str (events [0].id);
        out->type = fy_proto_str (events [0].type);
        s_copy_frame (&out->event, &events [0]);
        out->has_event = true;
    }
    else {
        //  Packed, the events are copied once, into the batch's frame, by
        //  the send below: until then the entries may borrow them.
        out->packed = self->packed;
        for (size_t i = 0; i < count; i++) {
            fy_proto_entry_t *entry = fy_proto_msg_add_entry (out);
            entry->seq = first + i;
            entry->id = fy_proto_str (events [i].id);
            entry->type = fy_proto_str (events [i].type);
            if (out->packed)
                zmq_msg_init_data (&entry->event, (void *) events [i].msgpack,
                                   events [i].size, NULL, NULL);
            else
                s_copy_frame (&entry->event, &events [i]);
        }
    }
    //  Seqs are used up even when the send fails, as they always were.
    self->next_seq += count;
    if (fy_session_send (&self->session))
        return -1;
    for (size_t i = 0; i < count; i++)
        events [i].seq = first + i;
    self->credit -= count;
    return 0;
}

int
fy_client_publish_batch (fy_client_t *self, fy_client_event_t *events,
                         size_t count, size_t *published_p)
{
    assert (self);
    assert (events || count == 0);
    size_t done = 0;
    int rc = 0;
    while (done < count) {
        size_t n = count - done;
        size_t most = fy_client_batch (self);
        if (n > most)
            n = most;
        if (n > self->credit)
            n = (size_t) self->credit;
        if (n == 0) {
            errno = EAGAIN;
            rc = -1;
            break;
        }
        if (s_publish (self, events + done, n)) {
            rc = -1;
            break;
        }
        done += n;
    }
    if (published_p)
        *published_p = done;
    return rc;
}

int
fy_client_publish_raw (fy_client_t *self, const char *id, const char *type,
                       const void *msgpack, size_t size, uint64_t *seq_p)
{
    assert (self);
    fy_client_event_t event = { id, type, msgpack, size, 0 };
    if (fy_client_publish_batch (self, &event, 1, NULL))
        return -1;
    if (seq_p)
        *seq_p = event.seq;
    return 0;
}

int
fy_client_publish (fy_client_t *self, fy_event_t *event, uint64_t *seq_p)
{
    assert (self);
    assert (event);
    char *data = NULL;
    size_t size = 0;
    if (self->credit == 0) {
        errno = EAGAIN;
        return -1;
    }
    if (fy_event_encode_msgpack (event, &data, &size))
        return -1;
    int rc = fy_client_publish_raw (self, fy_event_id (event),
                                    fy_event_type (event), data, size, seq_p);
    free (data);
    return rc;
}

int
fy_client_request (fy_client_t *self, const char *service, const char *method,
                   const char *path, const fy_proto_pair_t *query,
                   size_t query_count, const void *body, size_t len,
                   uint64_t *rid_p)
{
    assert (self);
    fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_REQUEST);
    out->rid = ++self->next_rid;
    out->service = fy_proto_str (service);
    out->method = fy_proto_str (method);
    out->path = fy_proto_str (path);
    //  Borrowed for the send only; the message never frees them.
    out->query = (fy_proto_pair_t *) query;
    out->query_count = query_count;
    out->body.ptr = body;
    out->body.len = len;
    out->window = self->window;
    int rc = fy_session_send (&self->session);
    out->query = NULL;
    out->query_count = 0;
    if (rc == 0 && rid_p)
        *rid_p = out->rid;
    return rc;
}

//  MORE {rid, n} or CANCEL {rid} toward the broker.
static int
s_stream_control (fy_client_t *self, fy_proto_command_t command, uint64_t rid,
                  uint64_t n)
{
    fy_proto_msg_t *out = fy_session_out (&self->session, command);
    out->rid = rid;
    out->n = n;
    return fy_session_send (&self->session);
}

int
fy_client_cancel (fy_client_t *self, uint64_t rid)
{
    assert (self);
    return s_stream_control (self, FY_PROTO_CANCEL, rid, 0);
}

void *
fy_client_socket (fy_client_t *self)
{
    assert (self);
    return self->session.socket;
}

static void
s_reset (fy_client_t *self)
{
    self->credit = 0;
    self->batch = 0;
    self->packed = false;
    if (self->handlers.reset)
        self->handlers.reset (self, self->handlers.arg);
}

static void
s_handle (fy_client_t *self, fy_proto_msg_t *in)
{
    fy_client_handlers_t *h = &self->handlers;
    switch (in->command) {
        case FY_PROTO_CREDIT:
            self->credit += in->n;
            //  Every CREDIT says it: absent from a broker older than
            //  batches.
            self->batch = fy_proto_batch_most (in->batch, in->packed);
            self->packed = in->packed;
            break;
        case FY_PROTO_ACK:
            for (size_t i = 0; h->ack && i < in->ids_count; i++)
                h->ack (self, in->ids [i], h->arg);
            break;
        case FY_PROTO_NACK:
            if (h->nack) {
                char reason [256];
                snprintf (reason, sizeof reason, "%.*s", (int) in->reason.len,
                          in->reason.ptr);
                h->nack (self, in->seq, in->retryable, reason, h->arg);
            }
            break;
        case FY_PROTO_LEASE:
            if (h->lease)
                h->lease (self, in->ids, in->ids_count, h->arg);
            break;
        case FY_PROTO_REPLY:
            if (h->reply) {
                char type [128];
                snprintf (type, sizeof type, "%.*s", (int) in->content_type.len,
                          in->content_type.ptr ? in->content_type.ptr : "");
                h->reply (self, in->rid, (unsigned) in->status, type,
                          in->body.ptr, in->body.len, in->more, h->arg);
            }
            //  The part is consumed once the handler returns: ask for one
            //  more, so the stream runs at the handler's pace.
            if (in->more && self->window
                && s_stream_control (self, FY_PROTO_MORE, in->rid, 1))
                fy_log_debug ("client: MORE not sent: %s",
                              zmq_strerror (errno));
            break;
        case FY_PROTO_ERROR:
            //  A BYE follows; that is when the session ends.
            fy_log_notice ("client: broker said %.*s: %.*s", (int) in->code.len,
                           in->code.ptr, (int) in->message.len,
                           in->message.ptr);
            break;
        case FY_PROTO_BYE:
            //  A new socket, so the answers the broker still owes the old
            //  identity (one BYE per stale message) never reach us.
            fy_log_notice ("client: broker said BYE; starting a new session");
            fy_session_reconnect (&self->session);
            s_reset (self);
            s_hello (self);
            break;
        default:
            break;
    }
}

void
fy_client_process (fy_client_t *self)
{
    assert (self);
    for (int i = 0; i < 1024; i++) {
        fy_error_t err = { "" };
        if (fy_session_recv (&self->session, &err)) {
            if ((errno == EPROTO || errno == EPROTONOSUPPORT)) {
                fy_log_warn ("client: malformed message: %s", err.text);
                continue;
            }
            return;
        }
        s_handle (self, &self->session.in);
    }
}

void
fy_client_tick (fy_client_t *self)
{
    assert (self);
    if (fy_session_tick (&self->session, fy_clock_mono_ms ())) {
        fy_log_notice ("client: broker silent, reconnecting to %s",
                       self->session.endpoint);
        fy_session_reconnect (&self->session);
        s_reset (self);
        s_hello (self);
    }
}

static void
s_loop_want (void *object, fy_loop_want_t *want)
{
    fy_session_loop_want (&((fy_client_t *) object)->session, want);
}

//  On input, or at once when unsure (a deadline of 0): read until EAGAIN.
static void
s_loop_run (void *object, short revents)
{
    (void) revents;
    fy_client_process (object);
}

static const fy_loop_ops_t s_loop_ops = { s_loop_want, s_loop_run };

fy_loop_source_t *
fy_client_attach (fy_client_t *self, zloop_t *loop)
{
    assert (self);
    assert (!self->session.source);
    self->session.source = fy_loop_attach (loop, &s_loop_ops, self);
    return self->session.source;
}

void
fy_client_detach (fy_client_t *self)
{
    assert (self);
    fy_loop_detach (&self->session.source);
}

int
fy_client_wait (fy_client_t *self, int timeout_ms)
{
    assert (self);
    zmq_pollitem_t item = { self->session.socket, 0, ZMQ_POLLIN, 0 };
    if (zmq_poll (&item, 1, timeout_ms) < 0)
        return -1;
    fy_client_process (self);
    fy_client_tick (self);
    return 0;
}

int
fy_client_set_curve (fy_client_t *self, const char *server_key,
                     const char *cert_path, fy_error_t *err)
{
    assert (self);
    if (fy_session_set_curve (&self->session, server_key, cert_path, err))
        return -1;
    self->credit = 0;
    self->batch = 0;
    s_hello (self);
    return 0;
}
