/*  broker_int: what the broker's sources share and nothing else includes,
    as PgBouncer's bouncer.h: the state the loop owns (events and their
    deliveries, requests, peers, services, the broker itself) and the
    functions one source calls in another. */
#ifndef BROKER_INT_H_INCLUDED
#define BROKER_INT_H_INCLUDED

#include "broker.h"
#include "broker_http.h"
#include "broker_route.h"
#include "core/fy_list.h"
#include "core/fy_loop.h"

#include <czmq.h>
#include <stdatomic.h>

#define BROKER_BURST 1024  //  messages handled before flushing batches
#define BROKER_REASON_MAX 120

typedef enum {
    BROKER_QUEUED,
    BROKER_HELD
} broker_state_t;
typedef enum {
    BROKER_CLIENT,
    BROKER_WORKER
} broker_role_t;
typedef enum {
    BROKER_OK,
    BROKER_RETRY,
    BROKER_FAIL
} broker_outcome_t;

typedef struct s_event broker_event_t;
typedef struct s_service broker_service_t;
typedef struct s_worker broker_worker_t;
typedef struct s_client broker_client_t;

typedef struct {
    uint64_t did;  //  key in broker->deliveries; never 0
    broker_event_t *event;
    broker_service_t *service;
    broker_worker_t *holder;  //  when HELD
    broker_state_t state;
    uint32_t attempt;
    fy_link_t link;  //  in service->queue or holder->held
} broker_delivery_t;

struct s_event {
    uint64_t seq;  //  the publisher's
    broker_client_t *client;  //  NULL once the publisher is gone
    broker_done_fn *done_fn;  //  or the broker's own publisher (HTTP)
    void *done_arg;
    char *reason;  //  of the first retryable failure, or NULL
    uint16_t count, pending, crashes;
    bool answered;  //  the publisher already has a NACK
    bool retry;  //  a delivery failed retryably
    //  The event's msgpack follows its deliveries in the same block
    //  (broker.c, s_event_data): copied out of the received frame
    //  (holding the frame would pin libzmq's whole receive buffer,
    //  kilobytes per event) and sent to each worker without another copy.
    //  The block is freed when the event is finished and every EVENT that
    //  carried it has left: libzmq drops its references from its I/O
    //  thread, hence the atomic count (one for the event itself).
    uint32_t size;
    atomic_int refs;
    fy_link_t link;  //  in client->events
    //  The event's id is not kept: it is read from the bytes on the rare
    //  paths that log it.
    broker_delivery_t deliveries [];
};

//  A request waits on its service, then is held by one worker, until its
//  final reply. Its origin is a client (rid translated back) or the HTTP
//  endpoint (a callback).
typedef struct {
    uint64_t rid;  //  the broker's; key in broker->requests
    uint64_t origin_rid;
    char origin_key [64];  //  the client's peer key, or "" for HTTP
    broker_reply_fn *reply_fn;
    void *reply_arg;
    broker_service_t *service;
    broker_worker_t *holder;
    int64_t deadline;  //  pushed back by each part and grant
    //  A pulled stream: window is what the REQUEST granted (0: the reply
    //  is not flow-controlled), granted the parts with more the holder
    //  may still send (PROTOCOL.md, Requests). The origin grants more:
    //  the HTTP side by broker_request_more, a client by MORE.
    uint64_t window, granted;
    zmq_msg_t header;  //  the REQUEST as the worker gets it
    fy_link_t link;  //  in service->requests or holder->requests
} broker_request_t;

//  Deliveries are found by did through a table of slots: the low 32 bits
//  of a did index a slot, the high 32 bits must match the slot's
//  generation, so a stale or forged did from a worker finds nothing. No
//  hashing, no allocation per delivery, 16 bytes a slot.
typedef struct {
    broker_delivery_t *delivery;  //  NULL when free
    uint32_t generation;
    uint32_t next_free;  //  free list link, slot index + 1
} broker_slot_t;

typedef struct {
    broker_role_t role;
    char key [64];  //  the identity, in hex
    unsigned char identity [32];
    size_t identity_len;
    char name [64];
    int64_t last_seen, last_sent;
    int fd;  //  its connection's, or -1 (see s_fd_*)
    fy_link_t closed;  //  in broker->closed once that is gone
} broker_peer_t;

struct s_worker {
    broker_peer_t peer;  //  first: a peer pointer is a worker pointer
    broker_service_t *service;
    uint64_t credit, held;  //  deliveries and requests in hand
    bool pull;  //  sends stream parts only within grant
    uint64_t batch;  //  most deliveries in one EVENT; 0 or 1: one each
    bool packed;     //  takes a batch's events in one frame
    fy_link_t deliveries;
    fy_link_t requests;
    fy_link_t link;  //  in service->workers
};

struct s_client {
    broker_peer_t peer;
    uint64_t credit;  //  granted, not yet used
    uint64_t unfinished;
    fy_link_t events;
    fy_proto_msg_t acks;  //  seqs to ACK at the next flush
    uint64_t granted;  //  CREDIT to send at the next flush
    bool packed;       //  its HELLO said it sends packed batches
};

struct s_service {
    char *name;
    fy_link_t queue;
    fy_link_t requests;
    fy_link_t workers;
    size_t queued, worker_count;
    int64_t idle_since;  //  when it last had no worker; 0 if it has
    fy_metric_t *queued_gauge, *workers_gauge;
};

struct broker {
    fy_cfg_t *cfg;
    zsock_t *router;
    zactor_t *auth;  //  zauth, when CURVE is on
    void *socket;  //  the router's libzmq handle
    char *endpoint;
    zloop_t *loop;
    //  The router and the monitor in the loop (fy_loop: their ZMQ_FDs).
    //  Unsure: the router may hold input its ZMQ_FD does not signal (a
    //  send, or a burst stopped short, since its last EAGAIN).
    fy_loop_source_t *router_source, *monitor_source;
    bool router_unsure;
    broker_http_t *http;
    int signal_fd;
    broker_route_t *route;
    zhashx_t *services;  //  name -> broker_service_t
    broker_service_t **routed;  //  route index -> service
    zhashx_t *peers;  //  identity hex -> broker_peer_t
    zsock_t *monitor;  //  the router's closed connections
    broker_peer_t **fds;  //  connection fd -> its peer, or NULL
    size_t fd_count;
    fy_link_t closed;  //  peers whose connection closed
    broker_slot_t *slots;  //  did -> delivery, see s_did_*
    uint32_t slot_count, slot_free;
    size_t delivery_count;
    zhashx_t *requests;  //  &rid -> broker_request_t
    zhashx_t *origins;  //  "client key/its rid" -> broker_request_t
    uint64_t next_rid;
    uint64_t unfinished, outstanding_credit;
    bool draining;
    int64_t drain_deadline, started;
    //  Settings, read once.
    uint64_t capacity, client_credit;
    int64_t heartbeat_ms, liveness, lease_ms, dispatch_timeout_ms,
        stop_timeout_ms, request_timeout_ms;
    uint64_t poison_crashes;
    fy_proto_msg_t in, out, scratch;
    fy_metrics_t *metrics;
    fy_metric_t *published, *acked, *nacked, *unrouted, *malformed,
        *redelivered, *poisoned, *deaths, *stale, *unfinished_gauge,
        *requests_total, *request_errors;
};

//  broker.c, for broker_request.c: start a message to peer, send it, and
//  hand a service's queue to its workers.
fy_proto_msg_t *
broker_out_peer (broker_t *self, broker_peer_t *peer,
                 fy_proto_command_t command);

void
broker_send (broker_t *self);

void
broker_dispatch (broker_t *self, broker_service_t *service);

//  broker_request.c, for the loop in broker.c. Answer request with an
//  error of the broker's own (it is then freed).
void
broker_request_fail (broker_t *self, broker_request_t *request, unsigned status,
                     const char *code, const char *message);

//  Fail every request of a list (a dead worker's, or a service's queue
//  once it has no worker left).
void
broker_requests_fail (broker_t *self, fy_link_t *list, unsigned status,
                      const char *code, const char *message);

//  Tell the holder of a stream that its parts are no longer wanted: it
//  frees the producer and answers with an empty last part.
void
broker_request_cancel_holder (broker_t *self, broker_request_t *request);

//  Its origin no longer wants the reply (went away, cancelled).
void
broker_request_abandon (broker_t *self, broker_request_t *request);

//  The FERRY1 commands of the request path: a worker's REPLY, a
//  client's REQUEST, MORE and CANCEL.
void
broker_on_worker_reply (broker_t *self, fy_proto_msg_t *in,
                        broker_worker_t *worker);

void
broker_on_client_request (broker_t *self, fy_proto_msg_t *in,
                          broker_client_t *client);

void
broker_on_client_more (broker_t *self, fy_proto_msg_t *in,
                       broker_client_t *client);

void
broker_on_client_cancel (broker_t *self, fy_proto_msg_t *in,
                         broker_client_t *client);

#endif
