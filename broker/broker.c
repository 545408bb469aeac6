/*  broker: the FERRY1 state machine and its loop.

    An event published by a client becomes one delivery per service its
    type routes to. A delivery is QUEUED on its service until a worker of
    that service has free credit, then HELD by that worker until the
    worker ACKs or NACKs it, or dies (back to the head of the queue). The
    event is finished when every delivery is settled, and only then does
    its publisher hear ACK or NACK and get its credit back, which is what
    bounds the broker's memory. Everything here runs on the loop's one
    thread; nothing blocks. The request path is in broker_request.c. */
#include "broker_int.h"
#include "http/fy_http_server.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

//  The event's msgpack, after its deliveries (broker_int.h).
static char *
s_event_data (broker_event_t *event)
{
    return (char *) (event->deliveries + event->count);
}

//  Drop one reference to the event's block: the event's own, or an EVENT
//  frame's (from libzmq's I/O thread).
static void
s_event_release (void *data, void *hint)
{
    (void) data;
    broker_event_t *event = hint;
    if (atomic_fetch_sub (&event->refs, 1) == 1)
        free (event);
}

//  The event's id for a log line, decoded from its bytes.
static void
s_event_id (broker_event_t *event, char id [FY_UUID_SIZE])
{
    json_t *json = fy_msgpack_decode (s_event_data (event), event->size, NULL);
    const char *text = json_string_value (json_object_get (json, "id"));
    snprintf (id, FY_UUID_SIZE, "%s", text ? text : "?");
    json_decref (json);
}

//  --------------------------------------------------------------------
//  Peers

static void
s_peer_key (const void *identity, size_t len, char *key, size_t size)
{
    static const char hex [] = "0123456789abcdef";
    const unsigned char *bytes = identity;
    size_t at = 0;
    for (size_t i = 0; i < len && at + 2 < size; i++) {
        key [at++] = hex [bytes [i] >> 4];
        key [at++] = hex [bytes [i] & 15];
    }
    key [at] = 0;
}

static broker_peer_t *
s_peer_lookup (broker_t *self, zmq_msg_t *identity)
{
    char key [64];
    s_peer_key (zmq_msg_data (identity), zmq_msg_size (identity), key,
                sizeof key);
    return zhashx_lookup (self->peers, key);
}

static void
s_peer_init (broker_peer_t *peer, broker_role_t role, zmq_msg_t *identity,
             fy_proto_str_t name)
{
    peer->role = role;
    peer->identity_len = zmq_msg_size (identity);
    if (peer->identity_len > sizeof peer->identity)
        peer->identity_len = sizeof peer->identity;
    memcpy (peer->identity, zmq_msg_data (identity), peer->identity_len);
    s_peer_key (peer->identity, peer->identity_len, peer->key,
                sizeof peer->key);
    snprintf (peer->name, sizeof peer->name, "%.*s", (int) name.len,
              name.ptr ? name.ptr : "");
    peer->last_seen = fy_clock_mono_ms ();
    peer->fd = -1;
    fy_list_init (&peer->closed);
}

//  Start an outgoing message to peer (or to a raw identity).
static fy_proto_msg_t *
s_out (broker_t *self, const void *identity, size_t len,
       fy_proto_command_t command)
{
    fy_proto_msg_t *out = &self->out;
    fy_proto_msg_reset (out);
    out->command = command;
    zmq_msg_close (&out->identity);
    zmq_msg_init_size (&out->identity, len);
    memcpy (zmq_msg_data (&out->identity), identity, len);
    out->has_identity = true;
    return out;
}

fy_proto_msg_t *
broker_out_peer (broker_t *self, broker_peer_t *peer,
                 fy_proto_command_t command)
{
    peer->last_sent = fy_clock_mono_ms ();
    return s_out (self, peer->identity, peer->identity_len, command);
}

//  A send may take the router's commands, and its ZMQ_FD then signals no
//  input that came before: read it at once (fy_loop.h). Within the
//  router's run, the run reads on until EAGAIN anyway.
static void
s_router_sent (broker_t *self)
{
    self->router_unsure = true;
    if (self->router_source)
        fy_loop_arm (self->router_source);
}

//  Sends never block: ROUTER drops what it cannot queue for a peer, and
//  credit keeps every peer's queue far below its high-water mark.
void
broker_send (broker_t *self)
{
    if (fy_proto_send (self->socket, &self->out))
        fy_log_debug ("broker: send %s failed: %s",
                      fy_proto_command_name (self->out.command),
                      zmq_strerror (errno));
    s_router_sent (self);
}

static void
s_send_error (broker_t *self, zmq_msg_t *identity, const char *code,
              const char *message)
{
    fy_proto_msg_t *out = s_out (self, zmq_msg_data (identity),
                                 zmq_msg_size (identity), FY_PROTO_ERROR);
    out->code = fy_proto_str (code);
    out->message = fy_proto_str (message);
    broker_send (self);
    s_out (self, zmq_msg_data (identity), zmq_msg_size (identity),
           FY_PROTO_BYE);
    broker_send (self);
}

//  --------------------------------------------------------------------
//  Services

static broker_service_t *
s_service_require (broker_t *self, const char *name, size_t len)
{
    char key [128];
    snprintf (key, sizeof key, "%.*s", (int) len, name);
    broker_service_t *service = zhashx_lookup (self->services, key);
    if (service)
        return service;
    service = fy_xcalloc (1, sizeof *service);
    service->name = fy_xstrdup (key);
    fy_list_init (&service->queue);
    fy_list_init (&service->requests);
    fy_list_init (&service->workers);
    service->idle_since = fy_clock_mono_ms ();
    const char *labels [] = { "service", service->name, NULL };
    service->queued_gauge =
        fy_metrics_gauge (self->metrics, "ferry_broker_queued",
                          "deliveries waiting for a worker", labels);
    service->workers_gauge =
        fy_metrics_gauge (self->metrics, "ferry_broker_workers",
                          "live workers of a service", labels);
    zhashx_insert (self->services, key, service);
    return service;
}

static void
s_service_free (void **item_p)
{
    broker_service_t *service = *item_p;
    free (service->name);
    free (service);
    *item_p = NULL;
}

//  --------------------------------------------------------------------
//  Delivery ids

static uint64_t
s_did_new (broker_t *self, broker_delivery_t *delivery)
{
    if (!self->slot_free) {
        uint32_t grown = self->slot_count ? self->slot_count * 2 : 1024;
        self->slots = fy_xrealloc (self->slots, grown * sizeof *self->slots);
        for (uint32_t i = self->slot_count; i < grown; i++) {
            self->slots [i].delivery = NULL;
            self->slots [i].generation = 1;
            self->slots [i].next_free = i + 2 <= grown ? i + 2 : 0;
        }
        self->slot_free = self->slot_count + 1;
        self->slot_count = grown;
    }
    uint32_t index = self->slot_free - 1;
    broker_slot_t *slot = &self->slots [index];
    self->slot_free = slot->next_free;
    slot->delivery = delivery;
    self->delivery_count++;
    return (uint64_t) slot->generation << 32 | index;
}

static broker_delivery_t *
s_did_lookup (broker_t *self, uint64_t did)
{
    uint32_t index = (uint32_t) did;
    if (index >= self->slot_count
        || self->slots [index].generation != (uint32_t) (did >> 32))
        return NULL;
    return self->slots [index].delivery;
}

static void
s_did_free (broker_t *self, uint64_t did)
{
    uint32_t index = (uint32_t) did;
    broker_slot_t *slot = &self->slots [index];
    assert (index < self->slot_count && slot->delivery);
    slot->delivery = NULL;
    //  Generation 0 is never used, so did 0 never names a delivery.
    if (++slot->generation == 0)
        slot->generation = 1;
    slot->next_free = self->slot_free;
    self->slot_free = index + 1;
    self->delivery_count--;
}

//  --------------------------------------------------------------------
//  Events and deliveries

static void
s_ack_later (broker_t *self, broker_client_t *client, uint64_t seq)
{
    (void) self;
    fy_proto_msg_add_id (&client->acks, seq);
}

static void
s_nack (broker_t *self, broker_client_t *client, uint64_t seq, bool retryable,
        const char *reason)
{
    fy_proto_msg_t *out = broker_out_peer (self, &client->peer, FY_PROTO_NACK);
    out->seq = seq;
    out->retryable = retryable;
    out->reason = fy_proto_str (reason);
    broker_send (self);
    fy_metric_inc (self->nacked);
}

//  Tell the event's publisher how it ended: ACK (batched) or NACK to a
//  client, or the callback of an event the broker published itself.
static void
s_event_answer (broker_t *self, broker_event_t *event, bool ok, bool retryable,
                const char *reason)
{
    if (ok)
        fy_metric_inc (self->acked);
    if (event->done_fn)
        event->done_fn (event->done_arg, ok, retryable, reason);
    else if (event->client && ok)
        s_ack_later (self, event->client, event->seq);
    else if (event->client)
        s_nack (self, event->client, event->seq, retryable, reason);
    event->answered = true;
}

static void
s_event_finish (broker_t *self, broker_event_t *event)
{
    if (!event->answered)
        s_event_answer (self, event, !event->retry, true,
                        event->reason ? event->reason : "");
    if (event->client) {
        event->client->unfinished--;
        fy_list_unlink (&event->link);
    }
    self->unfinished--;
    free (event->reason);
    s_event_release (NULL, event);
}

//  Take a delivery out of whatever list holds it and out of the did map.
static void
s_delivery_detach (broker_t *self, broker_delivery_t *delivery)
{
    fy_list_unlink (&delivery->link);
    if (delivery->state == BROKER_HELD) {
        delivery->holder->held--;
        delivery->holder = NULL;
    }
    else {
        delivery->service->queued--;
        fy_metric_set (delivery->service->queued_gauge,
                       (double) delivery->service->queued);
    }
    s_did_free (self, delivery->did);
}

static void
s_settle (broker_t *self, broker_delivery_t *delivery, broker_outcome_t outcome,
          const char *reason, size_t reason_len)
{
    broker_event_t *event = delivery->event;
    s_delivery_detach (self, delivery);
    if (outcome == BROKER_FAIL && !event->answered) {
        char text [BROKER_REASON_MAX];
        snprintf (text, sizeof text, "%.*s", (int) reason_len, reason);
        s_event_answer (self, event, false, false, text);
    }
    else if (outcome == BROKER_RETRY && !event->retry) {
        event->retry = true;
        event->reason = fy_xasprintf ("%.*s", (int) reason_len, reason);
    }
    if (--event->pending == 0)
        s_event_finish (self, event);
}

static void
s_enqueue (broker_delivery_t *delivery, bool at_head)
{
    broker_service_t *service = delivery->service;
    delivery->state = BROKER_QUEUED;
    fy_list_insert (at_head ? &service->queue : service->queue.prev,
                    &delivery->link);
    service->queued++;
    fy_metric_set (service->queued_gauge, (double) service->queued);
}

//  The worker of service with the most free credit, or NULL.
static broker_worker_t *
s_pick_worker (broker_service_t *service)
{
    broker_worker_t *best = NULL;
    uint64_t best_free = 0;
    for (fy_link_t *at = service->workers.next; at != &service->workers;
         at = at->next) {
        broker_worker_t *worker = fy_list_entry (at, broker_worker_t, link);
        uint64_t free_credit =
            worker->credit > worker->held ? worker->credit - worker->held : 0;
        if (free_credit > best_free) {
            best = worker;
            best_free = free_credit;
        }
    }
    return best;
}

void
broker_dispatch (broker_t *self, broker_service_t *service)
{
    //  Requests first: someone is waiting on the other end of them.
    while (!fy_list_is_empty (&service->requests)) {
        broker_worker_t *worker = s_pick_worker (service);
        if (!worker)
            break;
        broker_request_t *request =
            fy_list_entry (service->requests.next, broker_request_t, link);
        fy_list_unlink (&request->link);
        request->holder = worker;
        //  A worker that does not pull gets no MORE: its parts come
        //  unasked, as before flow control.
        request->granted = request->window;
        worker->held++;
        fy_list_insert (worker->requests.prev, &request->link);
        worker->peer.last_sent = fy_clock_mono_ms ();
        if (fy_proto_send_packed (self->socket, worker->peer.identity,
                                  worker->peer.identity_len, FY_PROTO_REQUEST,
                                  &request->header, NULL))
            fy_log_debug ("broker: REQUEST not sent: %s", zmq_strerror (errno));
        s_router_sent (self);
    }
    while (!fy_list_is_empty (&service->queue)) {
        broker_worker_t *worker = s_pick_worker (service);
        if (!worker)
            break;
        //  A worker that takes batches gets as many deliveries in one
        //  EVENT as its free credit and the queue allow.
        uint64_t count = worker->credit - worker->held;
        if (count > worker->batch)
            count = worker->batch;
        if (count > service->queued)
            count = service->queued;
        fy_proto_msg_t *out =
            broker_out_peer (self, &worker->peer, FY_PROTO_EVENT);
        out->service = fy_proto_str (service->name);
        out->packed = worker->packed;
        for (uint64_t i = 0; i < (count > 1 ? count : 1); i++) {
            broker_delivery_t *delivery =
                fy_list_entry (service->queue.next, broker_delivery_t, link);
            fy_list_unlink (&delivery->link);
            service->queued--;
            delivery->state = BROKER_HELD;
            delivery->holder = worker;
            delivery->attempt++;
            worker->held++;
            fy_list_insert (worker->deliveries.prev, &delivery->link);
            zmq_msg_t *frame = &out->event;
            if (count > 1) {
                fy_proto_entry_t *entry = fy_proto_msg_add_entry (out);
                entry->did = delivery->did;
                entry->attempt = delivery->attempt;
                frame = &entry->event;
            }
            else {
                out->did = delivery->did;
                out->attempt = delivery->attempt;
                out->has_event = true;
            }
            broker_event_t *event = delivery->event;
            atomic_fetch_add (&event->refs, 1);
            zmq_msg_close (frame);
            zmq_msg_init_data (frame, s_event_data (event), event->size,
                               s_event_release, event);
            if (delivery->attempt > 1)
                fy_metric_inc (self->redelivered);
        }
        broker_send (self);
    }
    fy_metric_set (service->queued_gauge, (double) service->queued);
}

//  --------------------------------------------------------------------
//  Credit

static void
s_grant (broker_t *self, broker_client_t *client)
{
    if (self->draining)
        return;
    uint64_t have = client->unfinished + client->credit;
    uint64_t want = have < self->client_credit ? self->client_credit - have : 0;
    uint64_t used = self->unfinished + self->outstanding_credit;
    uint64_t room = used < self->capacity ? self->capacity - used : 0;
    uint64_t grant = want < room ? want : room;
    //  Grant in quarters of client_credit, not as each ACK comes: a
    //  CREDIT after every ACK batch was one more message each way for a
    //  client that still had three quarters of its credit. A client at
    //  zero gets what there is at once, so it never waits on a quarter.
    if (grant == 0 || (grant < self->client_credit / 4 && client->credit > 0))
        return;
    client->credit += grant;
    client->granted += grant;
    self->outstanding_credit += grant;
}

//  Send what accumulated during a burst: ACK batches and credit.
static void
s_flush (broker_t *self)
{
    for (broker_peer_t *peer = zhashx_first (self->peers); peer;
         peer = zhashx_next (self->peers)) {
        if (peer->role != BROKER_CLIENT)
            continue;
        broker_client_t *client = (broker_client_t *) peer;
        if (client->acks.ids_count) {
            fy_proto_msg_t *out = broker_out_peer (self, peer, FY_PROTO_ACK);
            fy_proto_msg_swap_ids (out, &client->acks);
            client->acks.ids_count = 0;
            broker_send (self);
        }
        s_grant (self, client);
        if (client->granted) {
            fy_proto_msg_t *out = broker_out_peer (self, peer, FY_PROTO_CREDIT);
            out->n = client->granted;
            out->batch = fy_proto_batch_most (UINT64_MAX, client->packed);
            out->packed = true;
            client->granted = 0;
            broker_send (self);
        }
    }
    fy_metric_set (self->unfinished_gauge, (double) self->unfinished);
}

//  --------------------------------------------------------------------
//  Connections
//
//  A peer's death is learnt from its closed connection at once; only a
//  peer that hangs with its connection open is left to its heartbeats.
//  The router's monitor names a closed connection by its fd, and the
//  broker knows each peer by the fd its HELLO or READY came on
//  (ZMQ_SRCFD). The next connection gets an fd as soon as it is closed,
//  so s_fd_bind first reads every closure reported so far: one reported
//  later is of a connection that came after the peer's, which has
//  closed too. A closed peer is removed once the router has been read
//  to the end, so what it sent before closing (its last ACKs, a BYE)
//  still counts.

static void
s_fd_unbind (broker_t *self, broker_peer_t *peer)
{
    if (peer->fd >= 0 && self->fds [peer->fd] == peer)
        self->fds [peer->fd] = NULL;
    peer->fd = -1;
}

//  Read the monitor's reports: each closed connection's peer goes on
//  broker->closed.
static void
s_closed_read (broker_t *self)
{
    void *monitor = zsock_resolve (self->monitor);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_msg_recv (&frame, monitor, ZMQ_DONTWAIT) >= 0) {
        //  The event (16 bits) and its value, the fd (32 bits), then a
        //  frame with the endpoint.
        uint16_t event = 0;
        uint32_t fd = UINT32_MAX;
        if (zmq_msg_size (&frame) == 6) {
            memcpy (&event, zmq_msg_data (&frame), 2);
            memcpy (&fd, (char *) zmq_msg_data (&frame) + 2, 4);
        }
        while (zmq_msg_more (&frame) && zmq_msg_recv (&frame, monitor, 0) >= 0)
            ;
        if (event != ZMQ_EVENT_DISCONNECTED || fd >= self->fd_count
            || !self->fds [fd])
            continue;
        broker_peer_t *peer = self->fds [fd];
        s_fd_unbind (self, peer);
        fy_list_push_back (&self->closed, &peer->closed);
    }
    zmq_msg_close (&frame);
}

//  Know peer by the connection its HELLO or READY (in) came on.
static void
s_fd_bind (broker_t *self, broker_peer_t *peer, fy_proto_msg_t *in)
{
    int fd = fy_proto_msg_fd (in);
    if (fd < 0)
        return;
    s_closed_read (self);
    if ((size_t) fd >= self->fd_count) {
        size_t count = (size_t) fd + 64;
        self->fds = fy_xrealloc (self->fds, count * sizeof *self->fds);
        memset (self->fds + self->fd_count, 0,
                (count - self->fd_count) * sizeof *self->fds);
        self->fd_count = count;
    }
    //  Still taken: that peer's READY came on a connection that had
    //  already closed, and its closure was read before it was bound. It
    //  is left to its heartbeats.
    if (self->fds [fd])
        self->fds [fd]->fd = -1;
    self->fds [fd] = peer;
    peer->fd = fd;
}

//  Forget peer: its fd, its place among the closed, its entry (freed).
static void
s_peer_forget (broker_t *self, broker_peer_t *peer)
{
    s_fd_unbind (self, peer);
    fy_list_unlink (&peer->closed);
    zhashx_delete (self->peers, peer->key);
}

//  --------------------------------------------------------------------
//  Peer removal

static void
s_worker_remove (broker_t *self, broker_worker_t *worker, bool crashed)
{
    broker_service_t *service = worker->service;
    fy_log_notice ("broker: worker %s of %s %s holding %llu", worker->peer.name,
                   service->name, crashed ? "died" : "left",
                   (unsigned long long) worker->held);
    if (crashed)
        fy_metric_inc (self->deaths);
    while (!fy_list_is_empty (&worker->deliveries)) {
        broker_delivery_t *delivery =
            fy_list_entry (worker->deliveries.prev, broker_delivery_t, link);
        broker_event_t *event = delivery->event;
        if (crashed && ++event->crashes >= self->poison_crashes) {
            char reason [BROKER_REASON_MAX];
            int len = snprintf (reason, sizeof reason,
                                "poison: %u workers "
                                "of %s died holding it",
                                event->crashes, service->name);
            char id [FY_UUID_SIZE];
            s_event_id (event, id);
            fy_log_warn ("broker: event=%s is poison", id);
            fy_metric_inc (self->poisoned);
            s_settle (self, delivery, BROKER_FAIL, reason, (size_t) len);
            continue;
        }
        //  Back to the head, in the order held: re-dispatched at once.
        fy_list_unlink (&delivery->link);
        worker->held--;
        delivery->holder = NULL;
        s_enqueue (delivery, true);
    }
    broker_requests_fail (self, &worker->requests, 502, "worker_died",
                          "the worker holding this request went away");
    fy_list_unlink (&worker->link);
    if (--service->worker_count == 0) {
        service->idle_since = fy_clock_mono_ms ();
        broker_requests_fail (self, &service->requests, 503, "no_worker",
                              "no worker of this service is connected");
    }
    fy_metric_set (service->workers_gauge, (double) service->worker_count);
    s_peer_forget (self, &worker->peer);
    broker_dispatch (self, service);
}

static void
s_client_remove (broker_t *self, broker_client_t *client)
{
    fy_log_notice ("broker: client %s gone with %llu unfinished",
                   client->peer.name, (unsigned long long) client->unfinished);
    self->outstanding_credit -= client->credit;
    //  Its events are orphans now: queued deliveries are dropped (SQS will
    //  deliver the message again), held ones finish and are forgotten.
    while (!fy_list_is_empty (&client->events)) {
        broker_event_t *event =
            fy_list_entry (client->events.next, broker_event_t, link);
        fy_list_unlink (&event->link);
        event->client = NULL;
        client->unfinished--;
        uint16_t count = event->count;
        for (uint16_t i = 0; i < count; i++) {
            broker_delivery_t *delivery = &event->deliveries [i];
            if (delivery->state != BROKER_QUEUED
                || s_did_lookup (self, delivery->did) != delivery)
                continue;
            //  The last settle frees the event: stop looking at it.
            bool last = event->pending == 1;
            s_settle (self, delivery, BROKER_OK, "", 0);
            if (last)
                break;
        }
    }
    //  Nobody wants its requests' replies any more: pullers stop.
    zlistx_t *orphans = zlistx_new ();
    for (broker_request_t *request = zhashx_first (self->requests); request;
         request = zhashx_next (self->requests))
        if (strcmp (request->origin_key, client->peer.key) == 0)
            zlistx_add_end (orphans, request);
    for (broker_request_t *request = zlistx_first (orphans); request;
         request = zlistx_next (orphans))
        broker_request_abandon (self, request);
    zlistx_destroy (&orphans);
    s_peer_forget (self, &client->peer);
}

static void
s_peer_remove (broker_t *self, broker_peer_t *peer, bool crashed)
{
    if (peer->role == BROKER_WORKER)
        s_worker_remove (self, (broker_worker_t *) peer, crashed);
    else
        s_client_remove (self, (broker_client_t *) peer);
}

//  The peers whose connection closed are dead, as if silent too long.
static void
s_closed_remove (broker_t *self)
{
    while (!fy_list_is_empty (&self->closed)) {
        broker_peer_t *peer =
            fy_list_entry (self->closed.next, broker_peer_t, closed);
        fy_log_info ("broker: %s %s closed its connection",
                     peer->role == BROKER_CLIENT ? "client" : "worker",
                     peer->name);
        s_peer_remove (self, peer, true);
    }
}

static void
s_peer_free (void **item_p)
{
    broker_peer_t *peer = *item_p;
    if (peer->role == BROKER_CLIENT)
        fy_proto_msg_close (&((broker_client_t *) peer)->acks);
    free (peer);
    *item_p = NULL;
}

//  --------------------------------------------------------------------
//  Commands

static void
s_on_hello (broker_t *self, fy_proto_msg_t *in, broker_peer_t *peer)
{
    if (self->draining) {
        s_send_error (self, &in->identity, "draining", "broker is stopping");
        return;
    }
    if (!fy_proto_str_is (in->role, "client")) {
        s_send_error (self, &in->identity, "protocol", "role must be client");
        return;
    }
    //  A HELLO from a known peer starts a new session: the old one's
    //  events are orphaned, as if it had gone and come back.
    if (peer)
        s_peer_remove (self, peer, false);
    broker_client_t *client = fy_xcalloc (1, sizeof *client);
    s_peer_init (&client->peer, BROKER_CLIENT, &in->identity, in->name);
    fy_list_init (&client->events);
    fy_proto_msg_init (&client->acks);
    client->packed = in->packed;
    zhashx_insert (self->peers, client->peer.key, client);
    s_fd_bind (self, &client->peer, in);
    fy_log_info ("broker: client %s connected", client->peer.name);
}

static void
s_on_ready (broker_t *self, fy_proto_msg_t *in, broker_peer_t *peer)
{
    if (peer && peer->role != BROKER_WORKER) {
        s_send_error (self, &in->identity, "protocol", "a client sent READY");
        s_peer_remove (self, peer, false);
        return;
    }
    broker_worker_t *worker = (broker_worker_t *) peer;
    if (!worker) {
        worker = fy_xcalloc (1, sizeof *worker);
        s_peer_init (&worker->peer, BROKER_WORKER, &in->identity, in->name);
        fy_list_init (&worker->deliveries);
        fy_list_init (&worker->requests);
        worker->service =
            s_service_require (self, in->service.ptr, in->service.len);
        fy_list_insert (worker->service->workers.prev, &worker->link);
        worker->service->worker_count++;
        worker->service->idle_since = 0;
        fy_metric_set (worker->service->workers_gauge,
                       (double) worker->service->worker_count);
        zhashx_insert (self->peers, worker->peer.key, worker);
        s_fd_bind (self, &worker->peer, in);
        fy_log_info ("broker: worker %s of %s ready, credit %llu",
                     worker->peer.name, worker->service->name,
                     (unsigned long long) in->credit);
    }
    worker->credit = in->credit;
    worker->pull = in->pull;
    worker->batch = fy_proto_batch_most (in->batch, in->packed);
    worker->packed = in->packed;
    broker_dispatch (self, worker->service);
}

//  Route an event and queue its deliveries. Returns the event, or NULL
//  when its type matches no service (nothing was kept; frame untouched).
static broker_event_t *
s_event_new (broker_t *self, fy_proto_str_t type, zmq_msg_t *frame)
{
    size_t count = 0;
    const uint16_t *routed =
        broker_route_match (self->route, type.ptr, type.len, &count);
    if (count == 0) {
        fy_metric_inc (self->unrouted);
        return NULL;
    }
    //  One block: the event, its deliveries, its bytes (one allocation,
    //  its header and a pointer less per event than two).
    size_t head = sizeof (broker_event_t) + count * sizeof (broker_delivery_t);
    size_t size = zmq_msg_size (frame);
    broker_event_t *event = fy_xmalloc (head + size);
    memset (event, 0, head);
    event->count = event->pending = (uint16_t) count;
    atomic_init (&event->refs, 1);
    event->size = (uint32_t) size;
    memcpy (s_event_data (event), zmq_msg_data (frame), size);
    fy_list_init (&event->link);
    self->unfinished++;
    for (size_t i = 0; i < count; i++) {
        broker_delivery_t *delivery = &event->deliveries [i];
        delivery->did = s_did_new (self, delivery);
        delivery->event = event;
        delivery->service = self->routed [routed [i]];
        s_enqueue (delivery, false);
    }
    return event;
}

static void
s_event_dispatch (broker_t *self, broker_event_t *event)
{
    for (size_t i = 0; i < event->count; i++)
        broker_dispatch (self, event->deliveries [i].service);
}

//  One published event, queued but not dispatched. Credit is counted per
//  event, batched or not. Returns the event, or NULL when it was answered
//  at once (NACKed, or ACKed as unrouted).
static broker_event_t *
s_publish_one (broker_t *self, broker_client_t *client, uint64_t seq,
               fy_proto_str_t type, zmq_msg_t *frame)
{
    fy_metric_inc (self->published);
    if (self->draining) {
        s_nack (self, client, seq, true, "draining");
        return NULL;
    }
    if (client->credit == 0) {
        s_nack (self, client, seq, true, "no_credit");
        return NULL;
    }
    client->credit--;
    self->outstanding_credit--;
    broker_event_t *event = s_event_new (self, type, frame);
    if (!event) {
        s_ack_later (self, client, seq);
        return NULL;
    }
    event->seq = seq;
    event->client = client;
    fy_list_insert (client->events.prev, &event->link);
    client->unfinished++;
    return event;
}

static void
s_on_publish (broker_t *self, fy_proto_msg_t *in, broker_client_t *client)
{
    if (!in->entries_count) {
        broker_event_t *event =
            s_publish_one (self, client, in->seq, in->type, &in->event);
        if (event)
            s_event_dispatch (self, event);
        return;
    }
    for (size_t i = 0; i < in->entries_count; i++)
        s_publish_one (self, client, in->entries [i].seq, in->entries [i].type,
                       &in->entries [i].event);
    //  Dispatched once the whole batch is queued, so each worker gets its
    //  share in as few EVENTs as its credit allows.
    for (broker_service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services))
        if (service->queued)
            broker_dispatch (self, service);
}

//  A worker's answer about one delivery; stale dids (re-dispatched since,
//  or from a session the broker forgot) are counted and ignored.
static broker_delivery_t *
s_held_by (broker_t *self, broker_worker_t *worker, uint64_t did)
{
    broker_delivery_t *delivery = s_did_lookup (self, did);
    if (!delivery || delivery->state != BROKER_HELD
        || delivery->holder != worker) {
        fy_metric_inc (self->stale);
        return NULL;
    }
    return delivery;
}

static void
s_on_worker_ack (broker_t *self, fy_proto_msg_t *in, broker_worker_t *worker)
{
    for (size_t i = 0; i < in->ids_count; i++) {
        broker_delivery_t *delivery = s_held_by (self, worker, in->ids [i]);
        if (delivery)
            s_settle (self, delivery, BROKER_OK, "", 0);
    }
    broker_dispatch (self, worker->service);
}

static void
s_on_worker_nack (broker_t *self, fy_proto_msg_t *in, broker_worker_t *worker)
{
    broker_delivery_t *delivery = s_held_by (self, worker, in->did);
    if (delivery) {
        if (fy_log_enabled (FY_LOG_INFO)) {
            char id [FY_UUID_SIZE];
            s_event_id (delivery->event, id);
            fy_log_info ("broker: event=%s service=%s nack retryable=%d "
                         "reason=%.*s",
                         id, worker->service->name, in->retryable,
                         (int) in->reason.len, in->reason.ptr);
        }
        s_settle (self, delivery, in->retryable ? BROKER_RETRY : BROKER_FAIL,
                  in->reason.ptr, in->reason.len);
    }
    broker_dispatch (self, worker->service);
}

static void
s_handle (broker_t *self, fy_proto_msg_t *in)
{
    broker_peer_t *peer = s_peer_lookup (self, &in->identity);
    if (peer)
        peer->last_seen = fy_clock_mono_ms ();
    switch (in->command) {
        case FY_PROTO_HELLO:
            s_on_hello (self, in, peer);
            return;
        case FY_PROTO_READY:
            s_on_ready (self, in, peer);
            return;
        case FY_PROTO_HEARTBEAT:
            //  Answered at once, so each peer judges the broker's liveness
            //  by its own interval, whatever the broker's is.
            if (peer) {
                broker_out_peer (self, peer, FY_PROTO_HEARTBEAT);
                broker_send (self);
            }
            else
                s_send_error (self, &in->identity, "unknown_peer",
                              "say HELLO or READY first");
            return;
        case FY_PROTO_BYE:
            if (peer)
                s_peer_remove (self, peer, false);
            return;
        default:
            break;
    }
    if (!peer) {
        s_send_error (self, &in->identity, "unknown_peer",
                      "say HELLO or READY first");
        return;
    }
    if (peer->role == BROKER_CLIENT && in->command == FY_PROTO_PUBLISH)
        s_on_publish (self, in, (broker_client_t *) peer);
    else if (peer->role == BROKER_CLIENT && in->command == FY_PROTO_REQUEST)
        broker_on_client_request (self, in, (broker_client_t *) peer);
    else if (peer->role == BROKER_CLIENT && in->command == FY_PROTO_MORE)
        broker_on_client_more (self, in, (broker_client_t *) peer);
    else if (peer->role == BROKER_CLIENT && in->command == FY_PROTO_CANCEL)
        broker_on_client_cancel (self, in, (broker_client_t *) peer);
    else if (peer->role == BROKER_WORKER && in->command == FY_PROTO_REPLY)
        broker_on_worker_reply (self, in, (broker_worker_t *) peer);
    else if (peer->role == BROKER_WORKER && in->command == FY_PROTO_ACK
             && in->dids)
        s_on_worker_ack (self, in, (broker_worker_t *) peer);
    else if (peer->role == BROKER_WORKER && in->command == FY_PROTO_NACK
             && in->did)
        s_on_worker_nack (self, in, (broker_worker_t *) peer);
    else {
        fy_metric_inc (self->malformed);
        fy_log_debug ("broker: %s from %s %s is out of place",
                      fy_proto_command_name (in->command),
                      peer->role == BROKER_CLIENT ? "client" : "worker",
                      peer->name);
    }
}

//  A receive error other than the peer's: the loop ends, as a handler's
//  -1 would end it.
static int
s_on_fatal (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

//  The router's run: a burst of messages, or all up to EAGAIN.
static void
s_router_run (void *object, short revents)
{
    (void) revents;
    broker_t *self = object;
    bool drained = false;
    for (int i = 0; i < BROKER_BURST; i++) {
        fy_error_t err = { "" };
        if (fy_proto_recv (self->socket, true, ZMQ_DONTWAIT, &self->in, &err)) {
            drained = errno == EAGAIN;
            if (errno == EAGAIN || errno == EINTR)
                break;
            if (errno == EPROTONOSUPPORT && self->in.has_identity) {
                //  Another protocol version: say so, rather than leave
                //  the peer waiting for answers that never come.
                fy_metric_inc (self->malformed);
                s_send_error (self, &self->in.identity, "version",
                              "this broker speaks FERRY1 only");
                continue;
            }
            if (errno == EPROTO) {
                fy_metric_inc (self->malformed);
                fy_log_debug ("broker: malformed message: %s", err.text);
                continue;
            }
            fy_log_error ("broker: receive: %s", zmq_strerror (errno));
            self->router_unsure = false;
            zloop_timer (self->loop, 0, 1, s_on_fatal, self);
            return;
        }
        s_handle (self, &self->in);
    }
    //  Sends so far came before the EAGAIN; the flush's make it unsure
    //  again (s_router_sent), and the router runs once more at once.
    self->router_unsure = !drained;
    if (drained)
        s_closed_remove (self);
    s_flush (self);
}

static void
s_router_want (void *object, fy_loop_want_t *want)
{
    broker_t *self = object;
    want->socket = self->socket;
    want->events = ZMQ_POLLIN;
    if (self->router_unsure)
        want->timeout_ms = 0;
}

static const fy_loop_ops_t s_router_ops = { s_router_want, s_router_run };

//  The monitor's run: what the closed connections sent before closing is
//  read first. s_closed_read always reads the monitor to EAGAIN, and
//  nothing is sent on it: its ZMQ_FD signals all its input.
static void
s_monitor_run (void *object, short revents)
{
    broker_t *self = object;
    s_closed_read (self);
    s_router_run (self, revents);
}

static void
s_monitor_want (void *object, fy_loop_want_t *want)
{
    broker_t *self = object;
    want->socket = zsock_resolve (self->monitor);
    want->events = ZMQ_POLLIN;
}

static const fy_loop_ops_t s_monitor_ops = { s_monitor_want, s_monitor_run };
//  --------------------------------------------------------------------
//  Timers

static int
s_on_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = arg;
    int64_t now = fy_clock_mono_ms ();
    int64_t silence = self->heartbeat_ms * self->liveness;
    zlistx_t *dead = zlistx_new ();
    for (broker_peer_t *peer = zhashx_first (self->peers); peer;
         peer = zhashx_next (self->peers)) {
        if (now - peer->last_seen > silence)
            zlistx_add_end (dead, peer);
        else if (now - peer->last_sent >= self->heartbeat_ms) {
            broker_out_peer (self, peer, FY_PROTO_HEARTBEAT);
            broker_send (self);
        }
    }
    for (broker_peer_t *peer = zlistx_first (dead); peer;
         peer = zlistx_next (dead))
        s_peer_remove (self, peer, true);
    zlistx_destroy (&dead);

    //  A service with no worker for dispatch_timeout_ms gives its queue
    //  back to SQS as retryable failures instead of holding it forever.
    for (broker_service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        if (service->worker_count || !service->idle_since
            || now - service->idle_since < self->dispatch_timeout_ms)
            continue;
        while (!fy_list_is_empty (&service->queue)) {
            broker_delivery_t *delivery =
                fy_list_entry (service->queue.next, broker_delivery_t, link);
            s_settle (self, delivery, BROKER_RETRY, "no_worker", 9);
        }
    }
    //  Requests past their deadline get a 504 from the broker.
    zlistx_t *late = zlistx_new ();
    for (broker_request_t *request = zhashx_first (self->requests); request;
         request = zhashx_next (self->requests))
        if (request->deadline <= now)
            zlistx_add_end (late, request);
    for (broker_request_t *request = zlistx_first (late); request;
         request = zlistx_next (late)) {
        broker_request_cancel_holder (self, request);
        broker_request_fail (self, request, 504, "timeout",
                             "the service did not answer in time");
    }
    zlistx_destroy (&late);
    s_flush (self);
    if (self->draining
        && (self->unfinished == 0 || now >= self->drain_deadline)) {
        fy_log_notice ("broker: stopped with %llu unfinished events",
                       (unsigned long long) self->unfinished);
        return -1;
    }
    return 0;
}

static int
s_on_lease (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = arg;
    for (broker_peer_t *peer = zhashx_first (self->peers); peer;
         peer = zhashx_next (self->peers)) {
        if (peer->role != BROKER_CLIENT)
            continue;
        broker_client_t *client = (broker_client_t *) peer;
        if (fy_list_is_empty (&client->events))
            continue;
        fy_proto_msg_t *out = broker_out_peer (self, peer, FY_PROTO_LEASE);
        for (fy_link_t *at = client->events.next; at != &client->events;
             at = at->next)
            fy_proto_msg_add_id (out,
                                 fy_list_entry (at, broker_event_t, link)->seq);
        broker_send (self);
    }
    return 0;
}

//  --------------------------------------------------------------------
//  Signals and reload

static void
s_reload (broker_t *self)
{
    fy_error_t err = { "" };
    if (fy_cfg_reload (self->cfg, &err)) {
        fy_log_error ("broker: reload refused, keeping the old "
                      "configuration: %s",
                      err.text);
        return;
    }
    broker_route_t *route =
        broker_route_new (fy_cfg_str (self->cfg, "broker", "routes"), &err);
    if (!route) {
        fy_log_error ("broker: reload refused: %s", err.text);
        return;
    }
    size_t count = broker_route_services (route);
    broker_service_t **routed = fy_xcalloc (count ? count : 1, sizeof *routed);
    for (size_t i = 0; i < count; i++) {
        const char *name = broker_route_service (route, i);
        routed [i] = s_service_require (self, name, strlen (name));
    }
    broker_route_destroy (&self->route);
    free (self->routed);
    self->route = route;
    self->routed = routed;
    if (fy_cfg_apply_log (self->cfg, "ferry-broker"))
        fy_log_warn ("broker: log settings not applied");
    fy_log_notice ("broker: routes are now '%s'",
                   fy_cfg_str (self->cfg, "broker", "routes"));
}

static int
s_on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    broker_t *self = arg;
    int signo;
    while ((signo = fy_signals_next (self->signal_fd))) {
        if (signo == SIGHUP)
            s_reload (self);
        else if (signo == SIGTERM && !self->draining) {
            fy_log_notice ("broker: draining %llu unfinished events, up to "
                           "%lld ms",
                           (unsigned long long) self->unfinished,
                           (long long) self->stop_timeout_ms);
            self->draining = true;
            self->drain_deadline = fy_clock_mono_ms () + self->stop_timeout_ms;
        }
        else {
            fy_log_notice ("broker: stopping now");
            return -1;
        }
    }
    return 0;
}

//  --------------------------------------------------------------------
//  Construction

static void
s_metrics_new (broker_t *self)
{
    fy_metrics_t *m = self->metrics = fy_metrics_new ();
    self->published =
        fy_metrics_counter (m, "ferry_broker_published_total",
                            "events published to the broker", NULL);
    self->acked = fy_metrics_counter (m, "ferry_broker_acked_total",
                                      "events ACKed to their publisher", NULL);
    self->nacked =
        fy_metrics_counter (m, "ferry_broker_nacked_total",
                            "events NACKed to their publisher", NULL);
    self->unrouted =
        fy_metrics_counter (m, "ferry_broker_unrouted_total",
                            "events that matched no service", NULL);
    self->malformed =
        fy_metrics_counter (m, "ferry_broker_malformed_total",
                            "malformed or out-of-place messages dropped", NULL);
    self->redelivered = fy_metrics_counter (
        m, "ferry_broker_redelivered_total",
        "deliveries dispatched again after a worker left", NULL);
    self->poisoned = fy_metrics_counter (m, "ferry_broker_poison_total",
                                         "events NACKed as poison", NULL);
    self->deaths = fy_metrics_counter (m, "ferry_broker_worker_deaths_total",
                                       "workers declared dead", NULL);
    self->stale = fy_metrics_counter (
        m, "ferry_broker_stale_total",
        "answers for deliveries a worker no longer held", NULL);
    self->unfinished_gauge =
        fy_metrics_gauge (m, "ferry_broker_unfinished",
                          "events published and not yet finished", NULL);
    self->requests_total =
        fy_metrics_counter (m, "ferry_broker_requests_total",
                            "requests forwarded to services", NULL);
    self->request_errors = fy_metrics_counter (
        m, "ferry_broker_request_errors_total",
        "requests answered by the broker itself (503, 504, 502)", NULL);
}

//  CURVE when a secret certificate is configured: only peers whose
//  public certificates are in curve_allow_dir get in, checked by zauth.
static int
s_curve_setup (broker_t *self, fy_error_t *err)
{
    const char *secret = fy_cfg_str (self->cfg, "broker", "curve_secret_file");
    const char *allow = fy_cfg_str (self->cfg, "broker", "curve_allow_dir");
    if (!secret)
        return 0;
    if (!allow) {
        fy_error_set (err, "broker.curve_allow_dir: required with "
                           "broker.curve_secret_file");
        errno = EINVAL;
        return -1;
    }
    zcert_t *cert = zcert_load (secret);
    if (!cert) {
        fy_error_set (err, "broker.curve_secret_file: cannot load %s", secret);
        errno = EINVAL;
        return -1;
    }
    self->auth = zactor_new (zauth, NULL);
    zstr_sendx (self->auth, "CURVE", allow, NULL);
    zsock_wait (self->auth);
    zcert_apply (cert, self->router);
    zsock_set_curve_server (self->router, 1);
    zsock_set_zap_domain (self->router, "ferry");
    fy_log_notice ("broker: CURVE on, public key %s, allowing %s",
                   zcert_public_txt (cert), allow);
    zcert_destroy (&cert);
    return 0;
}

broker_t *
broker_new (fy_cfg_t *cfg, fy_error_t *err)
{
    assert (cfg);
    broker_t *self = fy_xcalloc (1, sizeof *self);
    //  First, before libzmq or zauth start a thread.
    self->signal_fd = fy_signals_open (true);
    self->cfg = cfg;
    self->started = fy_clock_mono_ms ();
    self->capacity = (uint64_t) fy_cfg_int (cfg, "broker", "capacity");
    self->client_credit =
        (uint64_t) fy_cfg_int (cfg, "broker", "client_credit");
    self->heartbeat_ms = fy_cfg_int (cfg, "broker", "heartbeat_ms");
    self->liveness = fy_cfg_int (cfg, "broker", "liveness");
    self->lease_ms = fy_cfg_int (cfg, "broker", "lease_ms");
    self->dispatch_timeout_ms =
        fy_cfg_int (cfg, "broker", "dispatch_timeout_ms");
    self->stop_timeout_ms = fy_cfg_int (cfg, "broker", "stop_timeout_ms");
    self->poison_crashes =
        (uint64_t) fy_cfg_int (cfg, "broker", "poison_crashes");
    fy_proto_msg_init (&self->in);
    fy_proto_msg_init (&self->out);
    fy_proto_msg_init (&self->scratch);
    self->request_timeout_ms = fy_cfg_int (cfg, "broker", "request_timeout_ms");
    s_metrics_new (self);
    self->services = zhashx_new ();
    zhashx_set_destructor (self->services, s_service_free);
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_free);
    fy_list_init (&self->closed);
    //  Values are the requests' own; only the keys are the table's.
    self->origins = zhashx_new ();
    self->requests = zhashx_new ();
    zhashx_set_key_hasher (self->requests, fy_u64_hash);
    zhashx_set_key_comparator (self->requests, fy_u64_compare);
    zhashx_set_key_duplicator (self->requests, NULL);
    zhashx_set_key_destructor (self->requests, NULL);

    self->route = broker_route_new (fy_cfg_str (cfg, "broker", "routes"), err);
    if (!self->route)
        goto fail;
    size_t count = broker_route_services (self->route);
    self->routed = fy_xcalloc (count ? count : 1, sizeof *self->routed);
    for (size_t i = 0; i < count; i++) {
        const char *name = broker_route_service (self->route, i);
        self->routed [i] = s_service_require (self, name, strlen (name));
    }

    //  Signals reach the loop through a signalfd, not czmq's handler.
    zsys_handler_set (NULL);
    self->router = zsock_new (ZMQ_ROUTER);
    self->socket = zsock_resolve (self->router);
    //  Queues toward peers are bounded by credit, not by the HWM. Inbound,
    //  a small HWM per peer keeps a publisher's burst queued in its own
    //  process rather than in the broker's memory.
    zsock_set_sndhwm (self->router, 0);
    zsock_set_rcvhwm (self->router, 1000);
    //  Closed connections are reported at once (see s_fd_bind), never
    //  dropped: a lost report leaves a dead peer to its heartbeats.
    char monitor [64];
    snprintf (monitor, sizeof monitor, "inproc://ferry-broker-%p",
              (void *) self);
    self->monitor = zsock_new (ZMQ_PAIR);
    zsock_set_rcvhwm (self->monitor, 0);
    if (zmq_socket_monitor (self->socket, monitor, ZMQ_EVENT_DISCONNECTED)
        || zsock_connect (self->monitor, "%s", monitor) < 0) {
        fy_error_set (err, "broker: cannot monitor its socket: %s",
                      zmq_strerror (zmq_errno ()));
        goto fail;
    }
    if (s_curve_setup (self, err))
        goto fail;
    const char *endpoint = fy_cfg_str (cfg, "broker", "endpoint");
    if (zsock_bind (self->router, "%s", endpoint) < 0) {
        fy_error_set (err, "broker.endpoint: cannot bind %s: %s", endpoint,
                      zmq_strerror (zmq_errno ()));
        errno = EINVAL;
        goto fail;
    }
    self->endpoint = zsock_last_endpoint (self->router);

    self->loop = zloop_new ();
    self->router_source = fy_loop_attach (self->loop, &s_router_ops, self);
    self->monitor_source = fy_loop_attach (self->loop, &s_monitor_ops, self);
    zmq_pollitem_t signal_item = { NULL, self->signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &signal_item, s_on_signal, self);
    zloop_timer (self->loop, (size_t) self->heartbeat_ms, 0, s_on_heartbeat,
                 self);
    zloop_timer (self->loop, (size_t) self->lease_ms, 0, s_on_lease, self);
    if (fy_cfg_bool (cfg, "http", "enabled")) {
        self->http = broker_http_new (self, cfg, err);
        if (!self->http)
            goto fail;
    }
    return self;
fail:
    broker_destroy (&self);
    //  Each step above is a setting: the routes, the endpoint, the CURVE
    //  keys, the HTTP port.
    errno = EINVAL;
    return NULL;
}

const char *
broker_endpoint (broker_t *self)
{
    assert (self);
    return self->endpoint;
}

int
broker_run (broker_t *self)
{
    assert (self);
    fy_log_notice ("broker: serving on %s", self->endpoint);
    zloop_start (self->loop);
    //  Say goodbye so peers reconnect at once rather than after liveness.
    for (broker_peer_t *peer = zhashx_first (self->peers); peer;
         peer = zhashx_next (self->peers)) {
        broker_out_peer (self, peer, FY_PROTO_BYE);
        broker_send (self);
    }
    return 0;
}

void
broker_destroy (broker_t **self_p)
{
    assert (self_p);
    broker_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    //  HTTP first: its pending requests are cancelled into a live broker.
    broker_http_destroy (&self->http);
    fy_loop_detach (&self->router_source);
    fy_loop_detach (&self->monitor_source);
    zloop_destroy (&self->loop);
    //  Free what is still in flight: every event reachable from a client
    //  or a queue. Orphan events (client gone) are reached through their
    //  deliveries in the did map.
    //  Every unfinished event has exactly `pending` deliveries in the map.
    for (uint32_t i = 0; i < self->slot_count; i++) {
        broker_delivery_t *delivery = self->slots [i].delivery;
        if (delivery && --delivery->event->pending == 0) {
            free (delivery->event->reason);
            s_event_release (NULL, delivery->event);
        }
    }
    free (self->slots);
    while (zhashx_size (self->requests)) {
        broker_request_t *request = zhashx_first (self->requests);
        zhashx_delete (self->requests, &request->rid);
        zmq_msg_close (&request->header);
        free (request);
    }
    zhashx_destroy (&self->requests);
    zhashx_destroy (&self->origins);
    zhashx_destroy (&self->peers);
    zhashx_destroy (&self->services);
    free (self->routed);
    broker_route_destroy (&self->route);
    zsock_destroy (&self->router);
    zsock_destroy (&self->monitor);
    free (self->fds);
    zactor_destroy (&self->auth);
    free (self->endpoint);
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    fy_proto_msg_close (&self->in);
    fy_proto_msg_close (&self->out);
    fy_proto_msg_close (&self->scratch);
    fy_metrics_destroy (&self->metrics);
    free (self);
    *self_p = NULL;
    errno = saved;
}

int
broker_publish (broker_t *self, const char *type, zmq_msg_t *frame,
                broker_done_fn *fn, void *arg)
{
    assert (self);
    assert (frame);
    assert (fn);
    //  The broker's own publishing shares the capacity with the clients'.
    if (self->draining
        || self->unfinished + self->outstanding_credit >= self->capacity) {
        errno = EAGAIN;
        return -1;
    }
    fy_metric_inc (self->published);
    broker_event_t *event = s_event_new (self, fy_proto_str (type), frame);
    if (!event) {
        fn (arg, true, false, "unrouted");
        return 0;
    }
    event->done_fn = fn;
    event->done_arg = arg;
    s_event_dispatch (self, event);
    return 0;
}

void
broker_forget (broker_t *self, void *arg)
{
    assert (self);
    for (uint32_t i = 0; i < self->slot_count; i++) {
        broker_delivery_t *delivery = self->slots [i].delivery;
        if (delivery && delivery->event->done_arg == arg)
            delivery->event->done_fn = NULL;
    }
}

json_t *
broker_status (broker_t *self)
{
    assert (self);
    int64_t now = fy_clock_mono_ms ();
    json_t *services = json_array ();
    for (broker_service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services)) {
        json_t *workers = json_array ();
        uint64_t held = 0;
        for (fy_link_t *at = service->workers.next; at != &service->workers;
             at = at->next) {
            broker_worker_t *worker = fy_list_entry (at, broker_worker_t, link);
            held += worker->held;
            json_array_append_new (
                workers,
                json_pack ("{s:s, s:I, s:I, s:I}", "name", worker->peer.name,
                           "credit", (json_int_t) worker->credit, "held",
                           (json_int_t) worker->held, "idle_ms",
                           (json_int_t) (now - worker->peer.last_seen)));
        }
        size_t requests_queued = 0;
        for (fy_link_t *at = service->requests.next; at != &service->requests;
             at = at->next)
            requests_queued++;
        json_array_append_new (
            services,
            json_pack ("{s:s, s:I, s:I, s:I, s:I, s:o}", "name", service->name,
                       "workers", (json_int_t) service->worker_count, "queued",
                       (json_int_t) service->queued, "requests_queued",
                       (json_int_t) requests_queued, "held", (json_int_t) held,
                       "workers_detail", workers));
    }
    json_t *clients = json_array ();
    for (broker_peer_t *peer = zhashx_first (self->peers); peer;
         peer = zhashx_next (self->peers)) {
        if (peer->role != BROKER_CLIENT)
            continue;
        broker_client_t *client = (broker_client_t *) peer;
        json_array_append_new (
            clients,
            json_pack ("{s:s, s:I, s:I, s:I}", "name", peer->name, "credit",
                       (json_int_t) client->credit, "unfinished",
                       (json_int_t) client->unfinished, "idle_ms",
                       (json_int_t) (now - peer->last_seen)));
    }
    //  Deliveries are either queued or held: held ones are the leases the
    //  publishers hear about.
    size_t queued = 0;
    for (broker_service_t *service = zhashx_first (self->services); service;
         service = zhashx_next (self->services))
        queued += service->queued;
    return json_pack (
        "{s:{s:s, s:I, s:b, s:I, s:I, s:I, s:I, s:I}, s:o, s:o}", "broker",
        "endpoint", self->endpoint, "uptime_s",
        (json_int_t) ((now - self->started) / 1000), "draining", self->draining,
        "unfinished", (json_int_t) self->unfinished, "capacity",
        (json_int_t) self->capacity, "outstanding_credit",
        (json_int_t) self->outstanding_credit, "queued", (json_int_t) queued,
        "held", (json_int_t) (self->delivery_count - queued), "services",
        services, "clients", clients);
}

char *
broker_metrics (broker_t *self)
{
    assert (self);
    fy_metrics_process (self->metrics);
    return fy_metrics_render (self->metrics);
}

bool
broker_is_ready (broker_t *self, char *missing, size_t size)
{
    assert (self);
    bool ready = true;
    size_t at = 0;
    if (size)
        missing [0] = 0;
    for (size_t i = 0; i < broker_route_services (self->route); i++) {
        broker_service_t *service = self->routed [i];
        if (service->worker_count)
            continue;
        ready = false;
        if (at < size) {
            int len = snprintf (missing + at, size - at, "%s%s", at ? " " : "",
                                service->name);
            at += len > 0 ? (size_t) len : 0;
        }
    }
    return ready;
}

zloop_t *
broker_loop (broker_t *self)
{
    assert (self);
    return self->loop;
}
