/*  broker: ferry-broker's top object. One ROUTER socket, one loop, every
    piece of state owned by that loop's thread: services and their
    workers, clients and their credit, events and their deliveries. */
#ifndef BROKER_H_INCLUDED
#define BROKER_H_INCLUDED

#include "ferry/ferry.h"

typedef struct broker broker_t;

//  One part of a reply to a request made with broker_request. Called
//  once per part; the part with more false is the last, and then the
//  request is gone. Strings are borrowed for the call.
typedef void (broker_reply_fn) (void *arg, unsigned status,
                                fy_proto_str_t content_type,
                                fy_proto_str_t body, bool more);

//  Build a broker from a loaded configuration and bind it. cfg is
//  borrowed for the broker's life (SIGHUP reloads it, fy_cfg_reload).
//  Returns NULL with err and errno EINVAL on a bad route, endpoint, key
//  or port (fy_daemon's exit 2).
broker_t *
broker_new (fy_cfg_t *cfg, fy_error_t *err);

void
broker_destroy (broker_t **self_p);

//  The endpoint actually bound (tcp ports resolved). Borrowed.
const char *
broker_endpoint (broker_t *self);

//  Run until SIGTERM (drain, then return 0) or SIGINT. Returns 0, or -1
//  when the loop failed.
int
broker_run (broker_t *self) FY_MUSTCHECK;

//  How an event the broker published itself ended: ok (every service
//  ACKed, or none was routed), or failed, retryable or not, with reason.
typedef void (broker_done_fn) (void *arg, bool ok, bool retryable,
                               const char *reason);

//  Publish an event on the broker's own account (POST /events): frame is
//  its msgpack (copied; the caller keeps it). fn hears the outcome once,
//  possibly before this returns. Returns 0, or -1 with errno EAGAIN when the broker is full or
//  draining (the caller answers 503).
int
broker_publish (broker_t *self, const char *type, zmq_msg_t *frame,
                broker_done_fn *fn, void *arg);

//  Stop calling the done callbacks whose arg is arg: its origin is gone.
void
broker_forget (broker_t *self, void *arg);

//  The /admin/status document. Caller owns result.
json_t *
broker_status (broker_t *self);

//  The /metrics text, process metrics refreshed. Caller owns result.
char *
broker_metrics (broker_t *self);

//  True when every routed service has a worker; otherwise the services
//  without one are written, space-separated, into missing.
bool
broker_is_ready (broker_t *self, char *missing, size_t size);

//  The broker's loop, for the HTTP endpoint's fd and timer. Borrowed.
zloop_t *
broker_loop (broker_t *self);

//  Forward a request (service, method, path, query, headers, body and
//  window of request are read, borrowed for the call) to a worker of its
//  service. With a window, a streamed reply is pulled: the worker sends
//  at most window parts with more, then one more per broker_request_more
//  grant. Replies come through fn; a 503 (no worker), 504 (timeout: no
//  part nor grant for request_timeout_ms) or 502 (worker died) comes the
//  same way, possibly before this returns. Returns the request's id, for
//  broker_request_more and broker_request_cancel.
uint64_t
broker_request (broker_t *self, fy_proto_msg_t *request, broker_reply_fn *fn,
                void *arg);

//  The origin of a request went away: drop its replies, and tell a
//  worker that streams it to stop (CANCEL).
void
broker_request_cancel (broker_t *self, uint64_t rid);

//  Grant n more parts of request rid's stream (MORE to its worker).
//  Nothing happens when the request is gone, has no window, or its
//  worker does not pull.
void
broker_request_more (broker_t *self, uint64_t rid, uint64_t n);

#endif
