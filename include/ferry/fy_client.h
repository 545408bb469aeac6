/*  fy_client: a publisher's side of FERRY1 (ferry-bridge, ferryctl send).
    It publishes events within the credit the broker grants and hears,
    through callbacks, which are done (ACK), failed (NACK) and still being
    worked on (LEASE). It can also send requests to a service.

    The client is driven by its owner's loop: poll fy_client_socket for
    input and call fy_client_process, and call fy_client_tick at least
    every heartbeat. fy_client_wait does both for simple programs. */
#ifndef FY_CLIENT_H_INCLUDED
#define FY_CLIENT_H_INCLUDED

#include "ferry/fy_common.h"
#include "ferry/fy_event.h"
#include "ferry/fy_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_client fy_client_t;

typedef void (fy_client_ack_fn) (fy_client_t *client, uint64_t seq, void *arg);
typedef void (fy_client_nack_fn) (fy_client_t *client, uint64_t seq,
                                  bool retryable, const char *reason,
                                  void *arg);
typedef void (fy_client_lease_fn) (fy_client_t *client, const uint64_t *seqs,
                                   size_t count, void *arg);
typedef void (fy_client_reply_fn) (fy_client_t *client, uint64_t rid,
                                   unsigned status, const char *content_type,
                                   const void *body, size_t len, bool more,
                                   void *arg);
//  The session was lost and a new one begun: every unanswered seq and rid
//  is void (the broker forgot them); republish or let SQS redeliver.
typedef void (fy_client_reset_fn) (fy_client_t *client, void *arg);

typedef struct {
    fy_client_ack_fn *ack;
    fy_client_nack_fn *nack;
    fy_client_lease_fn *lease;
    fy_client_reply_fn *reply;
    fy_client_reset_fn *reset;
    void *arg;
} fy_client_handlers_t;

//  Connect to the broker at endpoint and say HELLO as name. Returns NULL
//  with err on a bad endpoint.
FY_EXPORT fy_client_t *
fy_client_new (const char *endpoint, const char *name, fy_error_t *err);

FY_EXPORT void
fy_client_destroy (fy_client_t **self_p);

//  Talk CURVE to a broker whose public key (Z85, as ferryctl keygen
//  prints it) is server_key, with the certificate in cert_path (the
//  secret file ferryctl keygen writes). Returns 0, or -1 with errno
//  EINVAL and err.
FY_EXPORT int
fy_client_set_curve (fy_client_t *self, const char *server_key,
                     const char *cert_path, fy_error_t *err) FY_MUSTCHECK;

//  Set the callbacks (copied). Unset ones are ignored.
FY_EXPORT void
fy_client_set_handlers (fy_client_t *self,
                        const fy_client_handlers_t *handlers);

FY_EXPORT void
fy_client_set_heartbeat (fy_client_t *self, int64_t heartbeat_ms,
                         int64_t liveness);

//  Events the broker lets this client publish now.
FY_EXPORT uint64_t
fy_client_credit (fy_client_t *self);

//  The most events one PUBLISH carries (the broker's CREDIT says it):
//  at most FY_PROTO_PACKED_MAX; 1 before the first CREDIT and with a
//  broker older than batches. fy_client_publish_batch cuts more into
//  several.
FY_EXPORT size_t
fy_client_batch (fy_client_t *self);

//  Publish an event (encoded here) or an already encoded one. *seq_p
//  receives its sequence number for the callbacks. Returns 0; or -1 with
//  errno EAGAIN when there is no credit, EINVAL when the event cannot be
//  encoded, or an errno from libzmq.
FY_EXPORT int
fy_client_publish (fy_client_t *self, fy_event_t *event,
                   uint64_t *seq_p) FY_MUSTCHECK;
FY_EXPORT int
fy_client_publish_raw (fy_client_t *self, const char *id, const char *type,
                       const void *msgpack, size_t size,
                       uint64_t *seq_p) FY_MUSTCHECK;

//  One already encoded event of fy_client_publish_batch; seq is set when
//  it is published.
typedef struct {
    const char *id, *type;
    const void *msgpack;
    size_t size;
    uint64_t seq;
} fy_client_event_t;

//  Publish events [0, count) in order, in as few messages as the broker
//  takes (batched PUBLISHes, PROTOCOL.md; one message per event to a
//  broker older than batches), within credit. *published_p (may be
//  NULL) gets how many of the first were published, each with its seq
//  set. Returns 0 when all were; or -1 with errno EAGAIN when the credit
//  ran out first, or an errno from libzmq.
FY_EXPORT int
fy_client_publish_batch (fy_client_t *self, fy_client_event_t *events,
                         size_t count, size_t *published_p) FY_MUSTCHECK;

//  Parts of a streamed reply (REPLY with more) the broker may have on
//  the way before the reply handler has taken them (PROTOCOL.md,
//  Requests): each part the handler returns from is granted again, so a
//  slow handler slows the worker that produces the stream instead of
//  piling parts up in the broker. 0 asks for no flow control (the worker
//  pushes every part at once). Applies to requests sent after the call.
#define FY_CLIENT_WINDOW 4
FY_EXPORT void
fy_client_set_window (fy_client_t *self, uint64_t window);

//  Send a request to service. *rid_p receives its id for the reply
//  callback. Returns 0, or -1 with errno from libzmq.
FY_EXPORT int
fy_client_request (fy_client_t *self, const char *service, const char *method,
                   const char *path, const fy_proto_pair_t *query,
                   size_t query_count, const void *body, size_t len,
                   uint64_t *rid_p) FY_MUSTCHECK;

//  Stop a streamed reply (or a request not answered yet): the broker
//  forgets it and the worker stops producing. Parts the broker sent
//  before the CANCEL reached it still come to the reply handler; none
//  after. A rid already answered or unknown is ignored. Returns 0, or -1
//  with errno from libzmq.
FY_EXPORT int
fy_client_cancel (fy_client_t *self, uint64_t rid) FY_MUSTCHECK;

//  The socket to poll for input (a libzmq handle). Borrowed; it changes
//  when the client reconnects, so fetch it again after each tick.
FY_EXPORT void *
fy_client_socket (fy_client_t *self);

//  Handle whatever has arrived, calling the handlers. Never blocks.
FY_EXPORT void
fy_client_process (fy_client_t *self);

//  Heartbeats and reconnection; call at least every heartbeat_ms.
FY_EXPORT void
fy_client_tick (fy_client_t *self);

//  Wait up to timeout_ms for input, then process and tick. Returns 0, or
//  -1 with errno EINTR when interrupted.
FY_EXPORT int
fy_client_wait (fy_client_t *self, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
