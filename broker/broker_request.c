/*  broker_request: the request path. A REQUEST (from a client, or from
    the HTTP endpoint through broker_request) waits on its service, is
    forwarded to one worker, and its REPLY parts go back to the origin;
    a pulled stream advances by MORE grants, CANCEL stops it, and a
    request that fails or is late is answered by the broker itself. */
#include "broker_int.h"
#include "ferry/fy_json.h"

#include <assert.h>
#include <string.h>

//  --------------------------------------------------------------------
//  Requests

//  A client's request is found again by the client's own rid, for its
//  MORE and CANCEL.
static void
s_origin_name (char *name, size_t size, const char *client_key, uint64_t rid)
{
    snprintf (name, size, "%s/%llu", client_key, (unsigned long long) rid);
}

static broker_request_t *
s_origin_lookup (broker_t *self, broker_client_t *client, uint64_t rid)
{
    char name [128];
    s_origin_name (name, sizeof name, client->peer.key, rid);
    return zhashx_lookup (self->origins, name);
}

//  The request's replies have nowhere to go any more.
static void
s_origin_forget (broker_t *self, broker_request_t *request)
{
    if (!request->origin_key [0])
        return;
    char name [128];
    s_origin_name (name, sizeof name, request->origin_key, request->origin_rid);
    zhashx_delete (self->origins, name);
    request->origin_key [0] = 0;
}

static void
s_request_free (broker_t *self, broker_request_t *request)
{
    s_origin_forget (self, request);
    fy_list_unlink (&request->link);
    if (request->holder)
        request->holder->held--;
    zhashx_delete (self->requests, &request->rid);
    zmq_msg_close (&request->header);
    free (request);
}

//  Pass one reply part to the request's origin; the last part frees it.
static void
s_request_reply (broker_t *self, broker_request_t *request, unsigned status,
                 fy_proto_str_t content_type, fy_proto_str_t body, bool more)
{
    if (request->reply_fn)
        request->reply_fn (request->reply_arg, status, content_type, body,
                           more);
    else if (request->origin_key [0]) {
        broker_peer_t *peer = zhashx_lookup (self->peers, request->origin_key);
        if (peer) {
            fy_proto_msg_t *out = broker_out_peer (self, peer, FY_PROTO_REPLY);
            out->rid = request->origin_rid;
            out->status = status;
            out->content_type = content_type;
            out->body = body;
            out->more = more;
            broker_send (self);
        }
    }
    if (!more)
        s_request_free (self, request);
}

void
broker_request_fail (broker_t *self, broker_request_t *request, unsigned status,
                     const char *code, const char *message)
{
    char *body = fy_json_error_body (code, message);
    fy_metric_inc (self->request_errors);
    s_request_reply (self, request, status, fy_proto_str ("application/json"),
                     fy_proto_str (body), false);
    free (body);
}

//  Fail every request of a list (a dead worker's, or a service's queue
//  once it has no worker left).
void
broker_requests_fail (broker_t *self, fy_link_t *list, unsigned status,
                      const char *code, const char *message)
{
    while (!fy_list_is_empty (list))
        broker_request_fail (self,
                             fy_list_entry (list->next, broker_request_t, link),
                             status, code, message);
}

//  Tell the holder of a stream that its parts are no longer wanted: it
//  frees the producer and answers with an empty last part.
void
broker_request_cancel_holder (broker_t *self, broker_request_t *request)
{
    if (!request->holder || !request->holder->pull)
        return;
    fy_proto_msg_t *out =
        broker_out_peer (self, &request->holder->peer, FY_PROTO_CANCEL);
    out->rid = request->rid;
    broker_send (self);
}

//  Its origin no longer wants the reply (went away, cancelled).
void
broker_request_abandon (broker_t *self, broker_request_t *request)
{
    request->reply_fn = NULL;
    s_origin_forget (self, request);
    //  Not yet with a worker: nobody will ever answer it, drop it now.
    if (!request->holder)
        s_request_free (self, request);
    else
        //  A puller stops and answers with an empty last part, which
        //  frees the request and the worker's credit; another finishes
        //  into the void.
        broker_request_cancel_holder (self, request);
}

//  Grant n more parts of request's stream to its holder.
static void
s_request_more (broker_t *self, broker_request_t *request, uint64_t n)
{
    if (!request->holder || !request->window || !request->holder->pull
        || n == 0)
        return;
    request->granted += n;
    request->deadline = fy_clock_mono_ms () + self->request_timeout_ms;
    fy_proto_msg_t *out =
        broker_out_peer (self, &request->holder->peer, FY_PROTO_MORE);
    out->rid = request->rid;
    out->n = n;
    broker_send (self);
}

static uint64_t
s_request_new (broker_t *self, fy_proto_str_t service_name, fy_proto_msg_t *in,
               const char *origin_key, broker_reply_fn *reply_fn,
               void *reply_arg)
{
    broker_request_t *request = fy_xcalloc (1, sizeof *request);
    request->rid = ++self->next_rid;
    request->origin_rid = in->rid;
    snprintf (request->origin_key, sizeof request->origin_key, "%s",
              origin_key ? origin_key : "");
    request->reply_fn = reply_fn;
    request->reply_arg = reply_arg;
    request->window = in->window;
    request->deadline = fy_clock_mono_ms () + self->request_timeout_ms;
    fy_list_init (&request->link);
    zhashx_insert (self->requests, &request->rid, request);
    if (request->origin_key [0]) {
        char name [128];
        s_origin_name (name, sizeof name, request->origin_key,
                       request->origin_rid);
        //  A client reusing a rid still open loses the older request's
        //  replies, as it asked for.
        broker_request_t *older = zhashx_lookup (self->origins, name);
        if (older)
            s_origin_forget (self, older);
        zhashx_insert (self->origins, name, request);
    }
    fy_metric_inc (self->requests_total);

    char name [128];
    snprintf (name, sizeof name, "%.*s", (int) service_name.len,
              service_name.ptr ? service_name.ptr : "");
    broker_service_t *service = zhashx_lookup (self->services, name);
    if (!service || service->worker_count == 0) {
        uint64_t rid = request->rid;
        broker_request_fail (self, request, 503, "no_worker",
                             "no worker of this service is connected");
        return rid;
    }
    fy_proto_msg_t *scratch = &self->scratch;
    fy_proto_msg_reset (scratch);
    scratch->command = FY_PROTO_REQUEST;
    scratch->rid = request->rid;
    scratch->method = in->method;
    scratch->path = in->path;
    scratch->body = in->body;
    scratch->window = request->window;
    //  Borrowed from in for the pack only.
    scratch->query = in->query;
    scratch->query_count = in->query_count;
    scratch->headers = in->headers;
    scratch->headers_count = in->headers_count;
    int rc = fy_proto_pack (scratch, &request->header);
    scratch->query = scratch->headers = NULL;
    scratch->query_count = scratch->headers_count = 0;
    if (rc) {
        zmq_msg_init (&request->header);
        uint64_t rid = request->rid;
        broker_request_fail (self, request, 500, "internal",
                             "cannot pack request");
        return rid;
    }
    request->service = service;
    fy_list_insert (service->requests.prev, &request->link);
    uint64_t rid = request->rid;
    broker_dispatch (self, service);
    return rid;
}

void
broker_on_worker_reply (broker_t *self, fy_proto_msg_t *in,
                        broker_worker_t *worker)
{
    broker_request_t *request = zhashx_lookup (self->requests, &in->rid);
    if (!request || request->holder != worker) {
        fy_metric_inc (self->stale);
        return;
    }
    if (in->more && request->window && worker->pull) {
        //  Forwarded all the same (the origin copes), but a worker that
        //  claims to pull and pushes is broken: say so.
        if (request->granted == 0) {
            fy_metric_inc (self->malformed);
            fy_log_warn ("broker: worker %s sent part of rid=%llu without "
                         "grant",
                         worker->peer.name, (unsigned long long) request->rid);
        }
        else
            request->granted--;
    }
    //  A stream that makes progress is not late.
    request->deadline = fy_clock_mono_ms () + self->request_timeout_ms;
    s_request_reply (self, request, (unsigned) in->status, in->content_type,
                     in->body, in->more);
    broker_dispatch (self, worker->service);
}

void
broker_on_client_request (broker_t *self, fy_proto_msg_t *in,
                          broker_client_t *client)
{
    s_request_new (self, in->service, in, client->peer.key, NULL, NULL);
}

//  MORE and CANCEL name the client's own rid; one for a request already
//  answered or unknown is ignored, as a worker ignores them.
void
broker_on_client_more (broker_t *self, fy_proto_msg_t *in,
                       broker_client_t *client)
{
    broker_request_t *request = s_origin_lookup (self, client, in->rid);
    if (request)
        s_request_more (self, request, in->n);
}

void
broker_on_client_cancel (broker_t *self, fy_proto_msg_t *in,
                         broker_client_t *client)
{
    broker_request_t *request = s_origin_lookup (self, client, in->rid);
    if (request)
        broker_request_abandon (self, request);
}

uint64_t
broker_request (broker_t *self, fy_proto_msg_t *request, broker_reply_fn *fn,
                void *arg)
{
    assert (self);
    assert (request);
    assert (fn);
    return s_request_new (self, request->service, request, NULL, fn, arg);
}

void
broker_request_cancel (broker_t *self, uint64_t rid)
{
    assert (self);
    broker_request_t *request = zhashx_lookup (self->requests, &rid);
    if (request)
        broker_request_abandon (self, request);
}

void
broker_request_more (broker_t *self, uint64_t rid, uint64_t n)
{
    assert (self);
    broker_request_t *request = zhashx_lookup (self->requests, &rid);
    if (request)
        s_request_more (self, request, n);
}
