/*  fy_worker: a worker process's side of FERRY1. A worker is a few lines:

        fy_worker_t *worker = fy_worker_new (endpoint, "audit", "audit-1",
                                             256, &err);
        fy_worker_on_events (worker, s_on_events, state);
        fy_worker_run (worker);

    The broker sends at most credit deliveries at a time. The events
    callback gets each batch that arrived together; the worker answers
    each delivery once, now or later (after a COMMIT), with fy_worker_ack
    or fy_worker_nack. A request is answered with fy_worker_reply, or
    with fy_worker_stream when the answer is long: its parts are then
    made one at a time, as the requester pulls them. ACKs are batched: those given inside a callback go
    out in one message when it returns. Heartbeats and reconnection happen
    inside; SIGTERM stops taking work and waits for the deliveries in hand
    to be answered before saying BYE. */
#ifndef FY_WORKER_H_INCLUDED
#define FY_WORKER_H_INCLUDED

#include "ferry/fy_common.h"
#include "ferry/fy_event.h"
#include "ferry/fy_metrics.h"
#include "ferry/fy_proto.h"
#include "ferry/fy_route.h"

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_worker fy_worker_t;

//  One event delivered to this worker. Owned by the worker object until
//  answered. The event is decoded on first use (fy_delivery_event), so a
//  worker that only forwards or counts deliveries never pays for it.
typedef struct {
    uint64_t did;
    unsigned attempt;           //  1 on first delivery
    //  Private: the event's msgpack, its decoded form once asked for, and
    //  the delivery's place in the worker's list.
    const void *data_;
    size_t size_;
    fy_event_t *event_;
    void *handle_;
} fy_delivery_t;

//  The delivered event, decoded on first call and kept. Borrowed. NULL
//  when the bytes are not an event envelope (NACK it, not retryable); err
//  says why.
FY_EXPORT fy_event_t *
fy_delivery_event (fy_delivery_t *delivery, fy_error_t *err);

//  One request, borrowed for the duration of the callback.
typedef struct {
    uint64_t rid;
    fy_proto_str_t method, path, body;
    const fy_proto_pair_t *query, *headers;
    size_t query_count, headers_count;
} fy_request_t;

//  The value of the request's header name, matched case-insensitively
//  (the first one), or NULL. *len gets its length. Borrowed from request.
FY_EXPORT const char *
fy_request_header (const fy_request_t *request, const char *name, size_t *len);

//  The value of the query parameter name (the last one given, as a
//  client's repeated parameter overrides the earlier), into *value,
//  borrowed from request. Returns false when it is absent.
FY_EXPORT bool
fy_request_param (const fy_request_t *request, const char *name,
                  fy_proto_str_t *value);

//  The query parameter name as a whole decimal integer in [min, max],
//  into *value; left as it is when the parameter is absent. Returns 0,
//  or -1 with errno EINVAL (not such a number) or ERANGE (out of bounds).
FY_EXPORT int
fy_request_param_int64 (const fy_request_t *request, const char *name,
                        int64_t min, int64_t max, int64_t *value) FY_MUSTCHECK;

typedef void (fy_worker_events_fn) (fy_worker_t *worker,
                                    fy_delivery_t **deliveries, size_t count,
                                    void *arg);
typedef void (fy_worker_request_fn) (fy_worker_t *worker,
                                     const fy_request_t *request, void *arg);

//  Connect to the broker at endpoint as a worker of service, holding at
//  most credit deliveries. Blocks SIGTERM and SIGINT in the calling
//  thread (and so in every thread started after), because fy_worker_run
//  takes them through a signalfd. Returns NULL with err on a bad endpoint.
FY_EXPORT fy_worker_t *
fy_worker_new (const char *endpoint, const char *service, const char *name,
               unsigned credit, fy_error_t *err);

FY_EXPORT void
fy_worker_destroy (fy_worker_t **self_p);

//  Talk CURVE to a broker whose public key (Z85, as ferryctl keygen
//  prints it) is server_key, with the certificate in cert_path (the
//  secret file ferryctl keygen writes). Returns 0, or -1 with errno
//  EINVAL and err.
FY_EXPORT int
fy_worker_set_curve (fy_worker_t *self, const char *server_key,
                     const char *cert_path, fy_error_t *err) FY_MUSTCHECK;

FY_EXPORT void
fy_worker_on_events (fy_worker_t *self, fy_worker_events_fn *fn, void *arg);
FY_EXPORT void
fy_worker_on_request (fy_worker_t *self, fy_worker_request_fn *fn, void *arg);

//  A worker's API as a route table (fy_route.h): a row's fn answers the
//  requests whose method and path fit its route, with the match (its
//  :parameters) and the arg fy_worker_route was given. The broker has
//  checked the caller's token already, so route.auth is 0 unless the
//  worker checks more itself.
typedef void (fy_worker_route_fn) (fy_worker_t *worker,
                                   const fy_request_t *request,
                                   const fy_route_match_t *match, void *arg);
typedef struct {
    fy_route_t route;
    fy_worker_route_fn *fn;
} fy_worker_route_t;

//  Answer request through routes (ended by a row whose route.pattern is
//  NULL): call the first row that fits, or reply a JSON error: 404
//  not_found, 414 uri_too_long, 405 method_not_allowed whose message
//  names the methods the path takes (a REPLY carries no headers, so
//  there is no Allow header), or 415 unsupported_media_type for a body
//  that is not application/json sent to a row with FY_ROUTE_JSON_BODY.
//  Call it from the request callback:
//
//      static void
//      s_on_request (fy_worker_t *worker, const fy_request_t *request,
//                    void *arg)
//      {
//          fy_worker_route (worker, request, s_routes, arg);
//      }
FY_EXPORT void
fy_worker_route (fy_worker_t *self, const fy_request_t *request,
                 const fy_worker_route_t *routes, void *arg);

//  Heartbeat interval and missed beats before the broker is presumed
//  gone; call before fy_worker_run. Defaults 1000 and 3.
FY_EXPORT void
fy_worker_set_heartbeat (fy_worker_t *self, int64_t heartbeat_ms,
                         int64_t liveness);

//  How long SIGTERM waits for deliveries in hand. Default 30000.
FY_EXPORT void
fy_worker_set_stop_timeout (fy_worker_t *self, int64_t stop_timeout_ms);

//  Answer a delivery, which is freed and *delivery_p set to NULL. ACKs
//  go out together: a callback's at its end, others' at the end of the
//  loop's turn, and every 256 in any case.
FY_EXPORT void
fy_worker_ack (fy_worker_t *self, fy_delivery_t **delivery_p);
FY_EXPORT void
fy_worker_nack (fy_worker_t *self, fy_delivery_t **delivery_p, bool retryable,
                const char *reason);

//  Answer a request; with more, further parts follow. A part with more
//  beyond what the requester has granted waits in the worker (a copy) and
//  goes out as grant arrives, so a long stream should use
//  fy_worker_stream instead. Returns 0, or -1 with errno from libzmq.
FY_EXPORT int
fy_worker_reply (fy_worker_t *self, uint64_t rid, unsigned status,
                 const char *content_type, const void *body, size_t len,
                 bool more) FY_MUSTCHECK;

//  Answer request rid with body as JSON (application/json), or with
//  the error body every route uses, {"error":{"code","message"}}
//  (fy_json_error_body). A reply that cannot be sent is logged.
FY_EXPORT void
fy_worker_reply_json (fy_worker_t *self, uint64_t rid, unsigned status,
                      const json_t *body);
FY_EXPORT void
fy_worker_reply_error (fy_worker_t *self, uint64_t rid, unsigned status,
                       const char *code, const char *message);

//  Answer request rid with metrics and the process metrics, in
//  Prometheus text (a worker's GET /<service>/metrics: the broker's own
//  /metrics are the broker's).
FY_EXPORT void
fy_worker_reply_metrics (fy_worker_t *self, uint64_t rid,
                         fy_metrics_t *metrics);

//  Produce the next part of a streamed reply: set *data and *len (the
//  bytes stay the producer's, borrowed until its next call or its
//  release). Return 1 when more parts follow, 0 when this part is the
//  last, -1 when the stream failed (the worker ends it with an empty
//  part of status 500, which the broker's HTTP side turns into a cut
//  connection rather than a complete reply).
typedef int (fy_worker_produce_fn) (void *arg, const void **data, size_t *len);
//  Free a producer's state; called exactly once per fy_worker_stream.
typedef void (fy_worker_release_fn) (void *arg);

//  Answer request rid with a stream whose parts produce makes on demand:
//  the worker's loop calls it once each time the requester has granted a
//  part (REQUEST window, then MORE), between the deliveries and requests
//  it goes on handling, so a long stream neither stalls the worker nor
//  grows memory anywhere. Every part carries status and content_type.
//  release(arg) is called exactly once: after the last part, a failure,
//  a CANCEL from the broker (the client went away or timed out), a new
//  session, or fy_worker_destroy; and at once when this call fails.
//  Returns 0, or -1 with errno EALREADY when rid was answered already.
FY_EXPORT int
fy_worker_stream (fy_worker_t *self, uint64_t rid, unsigned status,
                  const char *content_type, fy_worker_produce_fn *produce,
                  fy_worker_release_fn *release, void *arg) FY_MUSTCHECK;

//  Streams in progress (fy_worker_stream, or fy_worker_reply parts that
//  wait for their grant).
FY_EXPORT size_t
fy_worker_streams (fy_worker_t *self);

//  Send batched ACKs now. Callbacks need not call it.
FY_EXPORT void
fy_worker_flush (fy_worker_t *self);

//  Deliveries in hand, not yet answered.
FY_EXPORT size_t
fy_worker_held (fy_worker_t *self);

//  The worker's loop, to add timers and readers of one's own. Borrowed.
FY_EXPORT zloop_t *
fy_worker_loop (fy_worker_t *self);

//  Run until SIGTERM (then drain) or SIGINT, or fy_worker_stop. Returns 0,
//  or -1 when the loop failed.
FY_EXPORT int
fy_worker_run (fy_worker_t *self) FY_MUSTCHECK;

//  Ask the loop to drain and return, as SIGTERM does.
FY_EXPORT void
fy_worker_stop (fy_worker_t *self);

#ifdef __cplusplus
}
#endif
#endif
