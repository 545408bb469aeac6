/*  fy_worker: deliveries in, batched answers out, over one fy_session.
    Deliveries in hand are kept in a list so a drain knows what it waits
    for and destroy frees what was never answered.

    Streamed replies are pulled (broker/PROTOCOL.md, Requests): a REQUEST
    with a window opens a stream record holding the grant; a part with
    more goes out only against grant, and MORE adds to it. Producers run
    from a zero-delay timer that exists only while some stream has grant,
    one part per stream per loop turn, so the socket is polled between
    parts and deliveries keep flowing during a long export. */
#include "ferry/fy_worker.h"
#include "ferry/fy_json.h"
#include "ferry/fy_msgpack.h"
#include "ferry/fy_log.h"
#include "wire/fy_session.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include "ferry/fy_signals.h"
#include <unistd.h>

#define S_ACK_BATCH 256

//  A reply part that waits for grant (fy_worker_reply beyond the window).
typedef struct {
    unsigned status;
    bool more;
    char *content_type;
    size_t len;
    char body [];
} s_part_t;

//  A request whose reply is flow-controlled or produced on demand.
typedef struct {
    uint64_t rid;
    bool limited;               //  the REQUEST had a window
    uint64_t credit;            //  parts with more that may go now
    bool cancelled;             //  the broker no longer wants the parts
    zlistx_t *parts;            //  s_part_t *, waiting for grant
    fy_worker_produce_fn *produce;
    fy_worker_release_fn *release;
    void *arg;
    unsigned status;
    char *content_type;
} s_stream_t;

struct fy_worker {
    fy_session_t session;
    char *service, *name;
    unsigned credit;
    zloop_t *loop;
    int signal_fd;
    int tick_timer;
    zlistx_t *held;             //  fy_delivery_t *, unanswered
    fy_proto_msg_t acks;        //  dids to ACK at the next flush
    bool in_callback;
    bool restart;               //  start a new session at the next tick
    bool draining;
    int64_t stop_timeout_ms, drain_deadline;
    fy_worker_events_fn *on_events;
    void *events_arg;
    fy_worker_request_fn *on_request;
    void *request_arg;
    fy_delivery_t **batch;
    size_t batch_size;
    zhashx_t *streams;          //  &rid -> s_stream_t
    int produce_timer;          //  -1 unless a producer has grant
    int flush_timer;            //  -1 unless ACKs wait for this loop turn
};

static void
s_delivery_free (void **item_p)
{
    fy_delivery_t *delivery = *item_p;
    fy_event_destroy (&delivery->event_);
    free (delivery);
    *item_p = NULL;
}

fy_event_t *
fy_delivery_event (fy_delivery_t *delivery, fy_error_t *err)
{
    assert (delivery);
    if (!delivery->event_)
        delivery->event_ =
            fy_event_decode_msgpack (delivery->data_, delivery->size_, err);
    return delivery->event_;
}

static void
s_send_ready (fy_worker_t *self)
{
    fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_READY);
    out->service = fy_proto_str (self->service);
    out->name = fy_proto_str (self->name);
    out->credit = self->draining ? 0 : self->credit;
    out->pull = true;
    out->batch = FY_PROTO_PACKED_MAX;
    out->packed = true;
    if (fy_session_send (&self->session))
        fy_log_warn ("worker: READY not sent: %s", zmq_strerror (errno));
}

static void
s_part_free (void **item_p)
{
    s_part_t *part = *item_p;
    free (part->content_type);
    free (part);
    *item_p = NULL;
}

//  The hash's destructor: a stream dropped for any reason releases its
//  producer, so no path can leak a cursor.
static void
s_stream_free (void **item_p)
{
    s_stream_t *stream = *item_p;
    if (stream->release)
        stream->release (stream->arg);
    zlistx_destroy (&stream->parts);
    free (stream->content_type);
    free (stream);
    *item_p = NULL;
}

static s_stream_t *
s_stream_new (fy_worker_t *self, uint64_t rid, uint64_t window)
{
    s_stream_t *stream = fy_xcalloc (1, sizeof *stream);
    stream->rid = rid;
    stream->limited = window > 0;
    stream->credit = window;
    stream->parts = zlistx_new ();
    zlistx_set_destructor (stream->parts, s_part_free);
    //  A rid the broker reuses after a restart replaces the stale one.
    zhashx_update (self->streams, &stream->rid, stream);
    return stream;
}

static void
s_stream_end (fy_worker_t *self, s_stream_t *stream)
{
    uint64_t rid = stream->rid;
    zhashx_delete (self->streams, &rid);
}

static bool
s_has_grant (s_stream_t *stream)
{
    return !stream->limited || stream->credit > 0;
}

static int
s_send_part (fy_worker_t *self, uint64_t rid, unsigned status,
             const char *content_type, const void *body, size_t len, bool more)
{
    fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_REPLY);
    out->rid = rid;
    out->status = status;
    out->more = more;
    out->content_type = fy_proto_str (content_type);
    out->body.ptr = body ? body : "";
    out->body.len = len;
    return fy_session_send (&self->session);
}

fy_worker_t *
fy_worker_new (const char *endpoint, const char *service, const char *name,
               unsigned credit, fy_error_t *err)
{
    assert (endpoint);
    assert (service);
    fy_worker_t *self = fy_xcalloc (1, sizeof *self);
    //  First, before libzmq starts a thread; fy_worker_run polls it.
    self->signal_fd = fy_signals_open (false);
    self->service = fy_xstrdup (service);
    self->name = fy_xstrdup (name ? name : service);
    self->credit = credit ? credit : 1;
    self->stop_timeout_ms = 30000;
    self->held = zlistx_new ();
    zlistx_set_destructor (self->held, s_delivery_free);
    fy_proto_msg_init (&self->acks);
    self->acks.dids = true;
    self->streams = zhashx_new ();
    zhashx_set_key_hasher (self->streams, fy_u64_hash);
    zhashx_set_key_comparator (self->streams, fy_u64_compare);
    zhashx_set_key_duplicator (self->streams, NULL);
    zhashx_set_key_destructor (self->streams, NULL);
    zhashx_set_destructor (self->streams, s_stream_free);
    self->produce_timer = self->flush_timer = -1;
    zsys_handler_set (NULL);
    if (fy_session_open (&self->session, endpoint, err)) {
        fy_worker_destroy (&self);
        return NULL;
    }
    return self;
}

void
fy_worker_destroy (fy_worker_t **self_p)
{
    assert (self_p);
    fy_worker_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    zloop_destroy (&self->loop);
    self->flush_timer = -1;
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    if (self->session.sock) {
        fy_worker_flush (self);
        fy_session_out (&self->session, FY_PROTO_BYE);
        if (fy_session_send (&self->session))
            fy_log_debug ("worker: BYE not sent");
    }
    fy_session_close (&self->session);
    zhashx_destroy (&self->streams);
    zlistx_destroy (&self->held);
    fy_proto_msg_close (&self->acks);
    free (self->batch);
    free (self->service);
    free (self->name);
    free (self);
    *self_p = NULL;
    errno = saved;
}

void
fy_worker_on_events (fy_worker_t *self, fy_worker_events_fn *fn, void *arg)
{
    assert (self);
    self->on_events = fn;
    self->events_arg = arg;
}

void
fy_worker_on_request (fy_worker_t *self, fy_worker_request_fn *fn, void *arg)
{
    assert (self);
    self->on_request = fn;
    self->request_arg = arg;
}

void
fy_worker_set_heartbeat (fy_worker_t *self, int64_t heartbeat_ms,
                         int64_t liveness)
{
    assert (self);
    self->session.heartbeat_ms = heartbeat_ms;
    self->session.liveness = liveness;
}

void
fy_worker_set_stop_timeout (fy_worker_t *self, int64_t stop_timeout_ms)
{
    assert (self);
    self->stop_timeout_ms = stop_timeout_ms;
}

size_t
fy_worker_held (fy_worker_t *self)
{
    assert (self);
    return zlistx_size (self->held);
}

zloop_t *
fy_worker_loop (fy_worker_t *self)
{
    assert (self);
    if (!self->loop)
        self->loop = zloop_new ();
    return self->loop;
}

void
fy_worker_flush (fy_worker_t *self)
{
    assert (self);
    if (self->flush_timer >= 0) {
        zloop_timer_end (self->loop, self->flush_timer);
        self->flush_timer = -1;
    }
    if (self->acks.ids_count == 0)
        return;
    fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_ACK);
    out->dids = true;
    fy_proto_msg_swap_ids (out, &self->acks);
    self->acks.ids_count = 0;
    if (fy_session_send (&self->session))
        fy_log_warn ("worker: ACK not sent: %s", zmq_strerror (errno));
}

static void
s_forget (fy_worker_t *self, fy_delivery_t **delivery_p)
{
    //  The handle makes this O(1): a worker holding thousands of
    //  deliveries must not search for each one it answers.
    zlistx_delete (self->held, (*delivery_p)->handle_);
    *delivery_p = NULL;
}

//  ACKs given outside a callback (after a COMMIT that landed, from a timer)
//  go out at the end of the loop's turn, together, as a callback's do.
static int
s_on_flush (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    fy_worker_t *self = arg;
    self->flush_timer = -1;
    fy_worker_flush (self);
    return 0;
}

void
fy_worker_ack (fy_worker_t *self, fy_delivery_t **delivery_p)
{
    assert (self);
    assert (delivery_p && *delivery_p);
    fy_proto_msg_add_id (&self->acks, (*delivery_p)->did);
    s_forget (self, delivery_p);
    if (self->acks.ids_count >= S_ACK_BATCH || !self->loop)
        fy_worker_flush (self);
    else if (!self->in_callback && self->flush_timer < 0)
        self->flush_timer = zloop_timer (self->loop, 0, 1, s_on_flush, self);
}

void
fy_worker_nack (fy_worker_t *self, fy_delivery_t **delivery_p, bool retryable,
                const char *reason)
{
    assert (self);
    assert (delivery_p && *delivery_p);
    //  ACKs given before this NACK go first, keeping answers in order.
    fy_worker_flush (self);
    fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_NACK);
    out->did = (*delivery_p)->did;
    out->retryable = retryable;
    out->reason = fy_proto_str (reason ? reason : "");
    if (fy_session_send (&self->session))
        fy_log_warn ("worker: NACK not sent: %s", zmq_strerror (errno));
    s_forget (self, delivery_p);
}

//  Send the parts that waited for grant, in order; the last one ends
//  the stream.
static void
s_flush_parts (fy_worker_t *self, s_stream_t *stream)
{
    s_part_t *part;
    while ((part = zlistx_first (stream->parts))) {
        if (part->more && !s_has_grant (stream))
            return;
        if (part->more && stream->limited)
            stream->credit--;
        bool last = !part->more;
        if (s_send_part (self, stream->rid, part->status, part->content_type,
                         part->body, part->len, part->more))
            fy_log_warn ("worker: reply part not sent: %s",
                         zmq_strerror (errno));
        zlistx_delete (stream->parts, zlistx_cursor (stream->parts));
        if (last) {
            s_stream_end (self, stream);
            return;
        }
    }
}

int
fy_worker_reply (fy_worker_t *self, uint64_t rid, unsigned status,
                 const char *content_type, const void *body, size_t len,
                 bool more)
{
    assert (self);
    s_stream_t *stream = zhashx_lookup (self->streams, &rid);
    //  A producer owns its stream's parts.
    assert (!stream || !stream->produce);
    if (stream && stream->cancelled) {
        //  Only the last part still matters: it returns the credit.
        if (more)
            return 0;
        s_stream_end (self, stream);
        return s_send_part (self, rid, status, content_type, "", 0, false);
    }
    if (stream
        && (zlistx_size (stream->parts) || (more && !s_has_grant (stream)))) {
        s_part_t *part = fy_xmalloc (sizeof *part + len);
        part->status = status;
        part->more = more;
        part->content_type = content_type ? fy_xstrdup (content_type) : NULL;
        part->len = len;
        if (len)
            memcpy (part->body, body, len);
        zlistx_add_end (stream->parts, part);
        return 0;
    }
    if (stream && more && stream->limited)
        stream->credit--;
    int rc = s_send_part (self, rid, status, content_type, body, len, more);
    if (stream && !more)
        s_stream_end (self, stream);
    return rc;
}

size_t
fy_worker_streams (fy_worker_t *self)
{
    assert (self);
    return zhashx_size (self->streams);
}

static int
s_on_produce (zloop_t *loop, int timer_id, void *arg);

//  Run producers from the loop while one has grant, and only then: an
//  idle timer of delay 0 would make the loop spin.
static void
s_schedule (fy_worker_t *self)
{
    bool runnable = false;
    for (s_stream_t *stream = zhashx_first (self->streams); stream;
         stream = zhashx_next (self->streams))
        if (stream->produce && s_has_grant (stream)) {
            runnable = true;
            break;
        }
    if (runnable && self->produce_timer < 0 && self->loop)
        self->produce_timer =
            zloop_timer (self->loop, 0, 0, s_on_produce, self);
    else if (!runnable && self->produce_timer >= 0) {
        zloop_timer_end (self->loop, self->produce_timer);
        self->produce_timer = -1;
    }
}

//  One part from a producer. Returns false when the stream ended.
static bool
s_produce_one (fy_worker_t *self, s_stream_t *stream)
{
    const void *data = NULL;
    size_t len = 0;
    int rc = stream->produce (stream->arg, &data, &len);
    if (rc < 0) {
        fy_log_warn ("worker: stream rid=%llu failed",
                     (unsigned long long) stream->rid);
        if (s_send_part (self, stream->rid, 500, stream->content_type, "", 0,
                         false))
            fy_log_warn ("worker: reply part not sent");
        s_stream_end (self, stream);
        return false;
    }
    if (rc > 0 && stream->limited)
        stream->credit--;
    if (s_send_part (self, stream->rid, stream->status, stream->content_type,
                     data, len, rc > 0))
        fy_log_warn ("worker: reply part not sent: %s", zmq_strerror (errno));
    if (rc == 0) {
        s_stream_end (self, stream);
        return false;
    }
    return true;
}

static int
s_on_produce (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    fy_worker_t *self = arg;
    //  Collected first: a stream that ends leaves the hash.
    zlistx_t *ready = zlistx_new ();
    for (s_stream_t *stream = zhashx_first (self->streams); stream;
         stream = zhashx_next (self->streams))
        if (stream->produce && s_has_grant (stream))
            zlistx_add_end (ready, stream);
    for (s_stream_t *stream = zlistx_first (ready); stream;
         stream = zlistx_next (ready))
        s_produce_one (self, stream);
    zlistx_destroy (&ready);
    s_schedule (self);
    return 0;
}

int
fy_worker_stream (fy_worker_t *self, uint64_t rid, unsigned status,
                  const char *content_type, fy_worker_produce_fn *produce,
                  fy_worker_release_fn *release, void *arg)
{
    assert (self);
    assert (produce);
    s_stream_t *stream = zhashx_lookup (self->streams, &rid);
    if (stream && (stream->produce || zlistx_size (stream->parts))) {
        if (release)
            release (arg);
        errno = EALREADY;
        return -1;
    }
    //  No window: the requester does not pull (an older broker, or a
    //  client's request); parts still go one per loop turn.
    if (!stream)
        stream = s_stream_new (self, rid, 0);
    stream->produce = produce;
    stream->release = release;
    stream->arg = arg;
    stream->status = status;
    stream->content_type = content_type ? fy_xstrdup (content_type) : NULL;
    if (stream->cancelled) {
        //  Cancelled before it began: release, and return the credit.
        if (s_send_part (self, rid, status, content_type, "", 0, false))
            fy_log_warn ("worker: reply part not sent");
        s_stream_end (self, stream);
        return 0;
    }
    s_schedule (self);
    return 0;
}

static void
s_on_more (fy_worker_t *self, fy_proto_msg_t *in)
{
    s_stream_t *stream = zhashx_lookup (self->streams, &in->rid);
    if (!stream || !stream->limited)
        return;
    stream->credit += in->n;
    s_flush_parts (self, stream);
    s_schedule (self);
}

//  The requester is gone: stop producing, drop what waits, and send an
//  empty last part so the broker frees the request's credit.
static void
s_on_cancel (fy_worker_t *self, fy_proto_msg_t *in)
{
    s_stream_t *stream = zhashx_lookup (self->streams, &in->rid);
    if (!stream)
        return;
    fy_log_info ("worker: stream rid=%llu cancelled",
                 (unsigned long long) in->rid);
    bool answered = false;
    for (s_part_t *part = zlistx_first (stream->parts); part;
         part = zlistx_next (stream->parts))
        answered = answered || !part->more;
    if (stream->produce || answered) {
        if (s_send_part (self, stream->rid,
                         stream->produce ? stream->status : 200,
                         stream->content_type, "", 0, false))
            fy_log_warn ("worker: reply part not sent");
        s_stream_end (self, stream);
        s_schedule (self);
        return;
    }
    //  The handler still owes its answer; only its last part will go.
    zlistx_purge (stream->parts);
    stream->cancelled = true;
}

//  A delivery whose frame is not even msgpack can never succeed
//  anywhere; the full decode waits until the handler asks for the event.
static fy_delivery_t *
s_take_event (fy_worker_t *self, uint64_t did, uint64_t attempt,
              zmq_msg_t *frame)
{
    const void *data = zmq_msg_data (frame);
    size_t size = zmq_msg_size (frame);
    if (fy_msgpack_check (data, size, FY_MSGPACK_MAX_DEPTH + 1)) {
        fy_log_warn ("worker: did=%llu is not msgpack",
                     (unsigned long long) did);
        fy_proto_msg_t *out = fy_session_out (&self->session, FY_PROTO_NACK);
        out->did = did;
        out->reason = fy_proto_str ("invalid_msgpack");
        if (fy_session_send (&self->session))
            fy_log_warn ("worker: NACK not sent");
        return NULL;
    }
    //  One allocation: the delivery, then its bytes.
    fy_delivery_t *delivery = fy_xcalloc (1, sizeof *delivery + size);
    delivery->did = did;
    delivery->attempt = (unsigned) attempt;
    memcpy (delivery + 1, data, size);
    delivery->data_ = delivery + 1;
    delivery->size_ = size;
    delivery->handle_ = zlistx_add_end (self->held, delivery);
    return delivery;
}

void
fy_worker_reply_error (fy_worker_t *self, uint64_t rid, unsigned status,
                       const char *code, const char *message)
{
    assert (self);
    char *body = fy_json_error_body (code, message);
    if (fy_worker_reply (self, rid, status, "application/json", body,
                         strlen (body), false))
        fy_log_warn ("worker: reply rid=%llu not sent: %s",
                     (unsigned long long) rid, zmq_strerror (errno));
    free (body);
}

void
fy_worker_reply_json (fy_worker_t *self, uint64_t rid, unsigned status,
                      const json_t *body)
{
    assert (self);
    assert (body);
    size_t len = 0;
    char *text = fy_json_dumps (body, 0, &len);
    if (fy_worker_reply (self, rid, status, "application/json", text, len,
                         false))
        fy_log_warn ("worker: reply rid=%llu not sent: %s",
                     (unsigned long long) rid, zmq_strerror (errno));
    free (text);
}

void
fy_worker_reply_metrics (fy_worker_t *self, uint64_t rid, fy_metrics_t *metrics)
{
    assert (self);
    assert (metrics);
    fy_metrics_process (metrics);
    char *text = fy_metrics_render (metrics);
    if (fy_worker_reply (self, rid, 200, "text/plain; version=0.0.4", text,
                         strlen (text), false))
        fy_log_warn ("worker: metrics rid=%llu not sent: %s",
                     (unsigned long long) rid, zmq_strerror (errno));
    free (text);
}

bool
fy_request_param (const fy_request_t *request, const char *name,
                  fy_proto_str_t *value)
{
    assert (request);
    assert (name);
    assert (value);
    size_t name_len = strlen (name);
    bool found = false;
    for (size_t i = 0; i < request->query_count; i++) {
        fy_proto_str_t key = request->query [i].key;
        if (key.len == name_len && memcmp (key.ptr, name, name_len) == 0) {
            *value = request->query [i].value;
            found = true;
        }
    }
    return found;
}

int
fy_request_param_int64 (const fy_request_t *request, const char *name,
                        int64_t min, int64_t max, int64_t *value)
{
    fy_proto_str_t param;
    if (!fy_request_param (request, name, &param))
        return 0;
    //  Longer than any int64 in decimal: not one, whatever it says.
    char text [24];
    if (param.len >= sizeof text) {
        errno = EINVAL;
        return -1;
    }
    memcpy (text, param.ptr, param.len);
    text [param.len] = '\0';
    return fy_parse_int64 (text, min, max, value);
}

const char *
fy_request_header (const fy_request_t *request, const char *name, size_t *len)
{
    assert (request);
    assert (name);
    assert (len);
    size_t name_len = strlen (name);
    for (size_t i = 0; i < request->headers_count; i++) {
        fy_proto_str_t key = request->headers [i].key;
        if (key.len == name_len && strncasecmp (key.ptr, name, name_len) == 0) {
            *len = request->headers [i].value.len;
            return request->headers [i].value.ptr;
        }
    }
    *len = 0;
    return NULL;
}

void
fy_worker_route (fy_worker_t *self, const fy_request_t *request,
                 const fy_worker_route_t *routes, void *arg)
{
    assert (self);
    assert (request);
    assert (routes);
    fy_route_match_t match;
    fy_route_status_t status = fy_route_match (
        &routes->route, sizeof *routes, request->method.ptr,
        request->method.len, request->path.ptr, request->path.len, &match);
    if (status == FY_ROUTE_FOUND) {
        size_t len = 0;
        const char *type = fy_request_header (request, "Content-Type", &len);
        status = fy_route_check_body (&routes [match.index].route, type, len,
                                      request->body.len);
    }
    if (status == FY_ROUTE_FOUND) {
        routes [match.index].fn (self, request, &match, arg);
        return;
    }
    const char *code = NULL;
    char message [128];
    unsigned http =
        fy_route_error (status, &match, &code, message, sizeof message);
    fy_worker_reply_error (self, request->rid, http, code, message);
}

static void
s_handle_request (fy_worker_t *self, fy_proto_msg_t *in)
{
    if (!self->on_request) {
        fy_worker_reply_error (self, in->rid, 501, "not_implemented",
                               "this service takes no requests");
        return;
    }
    fy_request_t request = { .rid = in->rid,
                             .method = in->method,
                             .path = in->path,
                             .body = in->body,
                             .query = in->query,
                             .headers = in->headers,
                             .query_count = in->query_count,
                             .headers_count = in->headers_count };
    self->on_request (self, &request, self->request_arg);
}

static void
s_deliver_batch (fy_worker_t *self, size_t count)
{
    if (count == 0)
        return;
    self->in_callback = true;
    if (self->on_events)
        self->on_events (self, self->batch, count, self->events_arg);
    else
        for (size_t i = 0; i < count; i++)
            fy_worker_nack (self, &self->batch [i], true, "no handler");
    self->in_callback = false;
    fy_worker_flush (self);
}

//  Add one delivery to the batch for the events callback, which holds
//  count so far; returns the new count.
static size_t
s_gather (fy_worker_t *self, size_t count, uint64_t did, uint64_t attempt,
          zmq_msg_t *frame)
{
    fy_delivery_t *delivery = s_take_event (self, did, attempt, frame);
    if (!delivery)
        return count;
    if (count == self->batch_size) {
        self->batch_size = self->batch_size ? self->batch_size * 2 : 64;
        self->batch =
            fy_xrealloc (self->batch, self->batch_size * sizeof *self->batch);
    }
    self->batch [count] = delivery;
    return count + 1;
}

//  The socket's source (fy_loop): on input, and at once while input may
//  wait unsignalled (fy_session's unsure), read until EAGAIN.
static void
s_loop_want (void *object, fy_loop_want_t *want)
{
    fy_session_loop_want (&((fy_worker_t *) object)->session, want);
}

static void
s_loop_run (void *object, short revents)
{
    (void) revents;
    fy_worker_t *self = object;
    size_t count = 0;
    for (int i = 0; i < 1024; i++) {
        fy_error_t err = { "" };
        if (fy_session_recv (&self->session, &err)) {
            if ((errno == EPROTO || errno == EPROTONOSUPPORT)) {
                fy_log_warn ("worker: malformed message: %s", err.text);
                continue;
            }
            break;
        }
        fy_proto_msg_t *in = &self->session.in;
        if (in->command == FY_PROTO_EVENT && in->entries_count)
            for (size_t e = 0; e < in->entries_count; e++)
                count =
                    s_gather (self, count, in->entries [e].did,
                              in->entries [e].attempt, &in->entries [e].event);
        else if (in->command == FY_PROTO_EVENT)
            count = s_gather (self, count, in->did, in->attempt, &in->event);
        else if (in->command == FY_PROTO_REQUEST) {
            s_deliver_batch (self, count);
            count = 0;
            if (in->window)
                s_stream_new (self, in->rid, in->window);
            s_handle_request (self, in);
        }
        else if (in->command == FY_PROTO_MORE)
            s_on_more (self, in);
        else if (in->command == FY_PROTO_CANCEL)
            s_on_cancel (self, in);
        else if (in->command == FY_PROTO_ERROR)
            fy_log_notice ("worker: broker said %.*s: %.*s", (int) in->code.len,
                           in->code.ptr, (int) in->message.len,
                           in->message.ptr);
        else if (in->command == FY_PROTO_BYE) {
            //  The broker forgot this worker (restart, or declared dead):
            //  what is in hand is void there. Start a new session with a
            //  new socket at the next tick (not from inside this reader),
            //  so answers owed to the old identity never reach us.
            fy_log_notice ("worker: broker said BYE; starting a new session");
            self->restart = true;
            break;
        }
    }
    s_deliver_batch (self, count);
}

static const fy_loop_ops_t s_loop_ops = { s_loop_want, s_loop_run };

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    fy_worker_t *self = arg;
    int64_t now = fy_clock_mono_ms ();
    if (self->restart || fy_session_tick (&self->session, now)) {
        if (!self->restart)
            fy_log_notice ("worker: broker silent, reconnecting to %s",
                           self->session.endpoint);
        self->restart = false;
        //  The broker forgot every request of the old session.
        zhashx_purge (self->streams);
        s_schedule (self);
        //  Its source follows the new socket.
        fy_session_reconnect (&self->session);
        s_send_ready (self);
    }
    if (self->draining
        && ((zlistx_size (self->held) == 0 && zhashx_size (self->streams) == 0)
            || now >= self->drain_deadline)) {
        fy_log_notice ("worker: stopping with %zu deliveries unanswered, "
                       "%zu streams unfinished",
                       zlistx_size (self->held), zhashx_size (self->streams));
        return -1;
    }
    return 0;
}

void
fy_worker_stop (fy_worker_t *self)
{
    assert (self);
    if (self->draining)
        return;
    self->draining = true;
    self->drain_deadline = fy_clock_mono_ms () + self->stop_timeout_ms;
    //  Credit 0: the broker sends nothing more, what is held finishes.
    s_send_ready (self);
}

static int
s_on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    fy_worker_t *self = arg;
    int signo;
    while ((signo = fy_signals_next (self->signal_fd))) {
        if (signo == SIGTERM && !self->draining)
            fy_worker_stop (self);
        else
            return -1;
    }
    return 0;
}

int
fy_worker_run (fy_worker_t *self)
{
    assert (self);
    zloop_t *loop = fy_worker_loop (self);
    zmq_pollitem_t signal_item = { NULL, self->signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (loop, &signal_item, s_on_signal, self);
    self->session.source = fy_loop_attach (loop, &s_loop_ops, self);
    //  Ticks at a fraction of the heartbeat, so a drain ends promptly.
    int64_t tick = self->session.heartbeat_ms / 4;
    self->tick_timer =
        zloop_timer (loop, (size_t) (tick > 0 ? tick : 1), 0, s_on_tick, self);
    s_send_ready (self);
    s_schedule (self);
    zloop_start (loop);
    if (self->produce_timer >= 0)
        zloop_timer_end (loop, self->produce_timer);
    self->produce_timer = -1;
    fy_loop_detach (&self->session.source);
    zloop_poller_end (loop, &signal_item);
    zloop_timer_end (loop, self->tick_timer);
    return 0;
}

int
fy_worker_set_curve (fy_worker_t *self, const char *server_key,
                     const char *cert_path, fy_error_t *err)
{
    assert (self);
    //  Before fy_worker_run: the loop watches the socket from then on.
    assert (!self->loop);
    return fy_session_set_curve (&self->session, server_key, cert_path, err);
}
