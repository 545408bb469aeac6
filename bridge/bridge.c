/*  bridge: SQS to the broker and back. Every message received is one
    bridge_msg_t, owned by the bridge until SQS has settled it. Its state says
    where it is: waiting to be published (the pending list, in arrival
    order), published (the seq index) or being settled by a batch call
    (deleted, made visible again, or sent to the DLQ and then deleted).
    Receives are asked for only while the broker's credit covers what is
    already waiting plus what the polls in flight may bring, so the bridge
    never holds more than the broker will take.

    FIFO queues (URL ending in .fifo) keep one message per MessageGroupId
    published at a time; later messages of a busy group wait in the pending
    list, and any message that waits so long that its visibility nears its
    end is released (visibility 0) rather than held past it. Settling and
    the broker's answers are in bridge_settle.c. */
#include "bridge_int.h"
#include "aws/fy_aws_credentials.h"
#include "wire/fy_client_loop.h"

#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


//  Histogram bounds of SQS call latency, in seconds: long polls end at
//  wait_s, so the top buckets reach past 20 s.
static const double s_latency_bounds [] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,    2.5,   5,    10,  21 };

//  Receive to ACK: milliseconds when all flows, seconds in a stall.
static const double s_ack_bounds [] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,  0.1,    0.25,  0.5,  1,
                                        2.5,   5,      10,    30,   60 };

static void
s_poll (bridge_t *self, bridge_queue_t *queue, int64_t now);

//  --------------------------------------------------------------------
//  Metrics of SQS calls by action

static bridge_action_t *
s_action (bridge_t *self, const char *action)
{
    for (size_t i = 0; i < self->action_count; i++)
        if (strcmp (self->actions [i].action, action) == 0)
            return &self->actions [i];
    assert (self->action_count < BRIDGE_ACTIONS_MAX);
    bridge_action_t *entry = &self->actions [self->action_count++];
    const char *labels [] = { "action", action, NULL };
    entry->action = action;
    entry->latency = fy_metrics_histogram (
        self->metrics, "ferry_bridge_sqs_request_seconds",
        "SQS call latency, retries "
        "included",
        labels, s_latency_bounds,
        sizeof s_latency_bounds / sizeof s_latency_bounds [0]);
    entry->errors =
        fy_metrics_counter (self->metrics, "ferry_bridge_sqs_errors_total",
                            "SQS calls that failed", labels);
    return entry;
}

//  A failed entry of a batch call that succeeded counts as an error too.
void
bridge_entry_error (bridge_t *self, const char *action)
{
    fy_metric_inc (s_action (self, action)->errors);
    fy_metric_inc (self->sqs_errors_total);
}

void
bridge_observe (bridge_t *self, const char *action,
                const fy_sqs_result_t *result, int64_t elapsed_ms)
{
    fy_metric_observe (s_action (self, action)->latency,
                       (double) elapsed_ms / 1000.0);
    if (result->error)
        bridge_entry_error (self, action);
}

//  --------------------------------------------------------------------
//  Messages

static bridge_msg_t *
s_msg_new (bridge_queue_t *queue, fy_sqs_message_t *sqs)
{
    bridge_t *self = queue->bridge;
    bridge_msg_t *msg = fy_xcalloc (1, sizeof *msg);
    msg->queue = queue;
    msg->sqs = sqs;
    msg->state = BRIDGE_PENDING;
    fy_list_init (&msg->pending_link);
    fy_list_init (&msg->undecoded_link);
    fy_list_push_front (&self->messages, &msg->link);
    queue->held++;
    return msg;
}

static void
s_msg_free (bridge_msg_t *msg)
{
    fy_list_unlink (&msg->link);
    fy_sqs_message_destroy (&msg->sqs);
    free (msg->msgpack);
    free (msg->error);
    free (msg);
}

//  The message is settled (or given up): it stops counting against its
//  queue, and is freed once no batch entry points at it.
void
bridge_msg_finish (bridge_msg_t *msg)
{
    assert (!msg->finished);
    msg->finished = true;
    msg->queue->held--;
    msg->queue->bridge->settled = true;
    if (msg->ops == 0)
        s_msg_free (msg);
}

//  An entry that pointed at msg came back; true when msg lives on.
bool
bridge_msg_unref (bridge_msg_t *msg)
{
    assert (msg->ops > 0);
    msg->ops--;
    if (msg->finished) {
        if (msg->ops == 0)
            s_msg_free (msg);
        return false;
    }
    return true;
}

const char *
bridge_msg_id (bridge_msg_t *msg)
{
    return fy_sqs_message_id (msg->sqs);
}

void
bridge_pend (bridge_t *self, bridge_msg_t *msg, int64_t now, bool first)
{
    assert (!fy_link_is_linked (&msg->pending_link));
    msg->pending_ms = now;
    if (first)
        fy_list_push_front (&self->pending, &msg->pending_link);
    else
        fy_list_push_back (&self->pending, &msg->pending_link);
    self->pending_count++;
}

void
bridge_unpend (bridge_t *self, bridge_msg_t *msg)
{
    if (fy_link_is_linked (&msg->pending_link)) {
        fy_list_unlink (&msg->pending_link);
        self->pending_count--;
    }
}

static bridge_msg_t *
s_pending_at (bridge_t *self, fy_link_t *link)
{
    return link == &self->pending
               ? NULL
               : fy_list_entry (link, bridge_msg_t, pending_link);
}

bridge_msg_t *
bridge_pending_first (bridge_t *self)
{
    return s_pending_at (self, self->pending.next);
}

bridge_msg_t *
bridge_pending_next (bridge_t *self, bridge_msg_t *msg)
{
    return s_pending_at (self, msg->pending_link.next);
}

void
bridge_unpublish (bridge_t *self, bridge_msg_t *msg)
{
    if (msg->state != BRIDGE_PUBLISHED)
        return;
    zhashx_delete (self->published, &msg->seq);
    if (msg->group)
        zhashx_delete (msg->queue->busy, msg->group);
    msg->seq = 0;
}


//  --------------------------------------------------------------------
//  Publishing

static bool
s_group_busy (bridge_msg_t *msg)
{
    return msg->group && zhashx_lookup (msg->queue->busy, msg->group);
}

static int
s_on_linger (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    bridge_t *self = arg;
    self->linger_timer = -1;
    //  The client's idle hook publishes.
    fy_loop_rearm (self->client_source);
    return 0;
}

//  Whether the PUBLISH waits for more events to join it. Every ZeroMQ
//  message costs a wakeup of each thread it passes (the bridge's and the
//  broker's I/O threads, the broker's loop, the worker's two; the same
//  again for the ACKs back), which at one receive's ten events a message
//  was most of the broker's and the worker's CPU. So a PUBLISH goes at
//  most once per linger_ms: the first events after a quiet spell go at
//  once, and only while receives come faster than that do later ones
//  wait for the receives still to come: until the loop wakes for
//  something else (an SQS answer, the broker) linger_ms or more after
//  the PUBLISH before, or at twice that, by a timer, if nothing does (a
//  timer at linger_ms woke the bridge once more per PUBLISH). A full
//  batch never waits.
static bool
s_lingering (bridge_t *self)
{
    if (self->pending_count >= fy_client_batch (self->client))
        return false;
    int64_t wait = self->published_ms + self->linger_ms - fy_clock_mono_ms ();
    if (wait <= 0)
        return false;
    if (self->linger_timer < 0)
        self->linger_timer =
            zloop_timer (self->loop, (size_t) (wait + self->linger_ms), 1,
                         s_on_linger, self);
    return true;
}

//  Publish what waits, in arrival order, within credit, in batches (a
//  receive's events in one PUBLISH); a message of a busy FIFO group waits
//  for its turn. A group is busy from the moment its message joins a
//  batch, so one batch never holds two of a group.
static void
s_publish_pending (bridge_t *self)
{
    if (self->pending_count == 0 || s_lingering (self))
        return;
    bridge_msg_t *msgs [FY_PROTO_PACKED_MAX];
    fy_client_event_t events [FY_PROTO_PACKED_MAX];
    size_t count, most = fy_client_batch (self->client);
    do {
        count = 0;
        uint64_t credit = fy_client_credit (self->client);
        for (bridge_msg_t *msg = bridge_pending_first (self);
             msg && count < credit && count < most;
             msg = bridge_pending_next (self, msg)) {
            if (s_group_busy (msg))
                continue;
            if (msg->group)
                zhashx_insert (msg->queue->busy, msg->group, msg);
            msgs [count] = msg;
            events [count++] =
                (fy_client_event_t) { msg->event_id, msg->type, msg->msgpack,
                                      msg->size, 0 };
        }
        size_t published = 0;
        int rc =
            fy_client_publish_batch (self->client, events, count, &published);
        for (size_t i = 0; i < count; i++) {
            bridge_msg_t *msg = msgs [i];
            if (i >= published) {
                if (msg->group)
                    zhashx_delete (msg->queue->busy, msg->group);
                continue;
            }
            bridge_unpend (self, msg);
            msg->seq = events [i].seq;
            msg->state = BRIDGE_PUBLISHED;
            zhashx_insert (self->published, &msg->seq, msg);
            fy_metric_inc (self->published_total);
        }
        if (published > 0) {
            self->published_ms = fy_clock_mono_ms ();
            fy_metric_inc (self->publishes_total);
            if (self->linger_timer >= 0) {
                zloop_timer_end (self->loop, self->linger_timer);
                self->linger_timer = -1;
            }
        }
        if (rc) {
            if (errno != EAGAIN)
                fy_log_warn ("bridge: publish failed: %s", strerror (errno));
            break;
        }
    } while (count == most);
}

//  --------------------------------------------------------------------
//  Receiving

static void
s_poll_forget (bridge_queue_t *queue, bridge_poll_t *poll)
{
    for (size_t i = 0; i < queue->poll_count; i++)
        if (queue->polls [i] == poll) {
            queue->polls [i] = queue->polls [--queue->poll_count];
            break;
        }
    queue->asked -= (size_t) poll->asked;
    queue->bridge->asked -= (size_t) poll->asked;
    free (poll);
}

//  One received message, held until it is decoded.
static void
s_accept (bridge_t *self, bridge_queue_t *queue, fy_sqs_message_t *sqs,
          int64_t now)
{
    bridge_msg_t *msg = s_msg_new (queue, sqs);
    msg->receive_count = fy_sqs_message_receive_count (sqs);
    msg->received_ms = now;
    msg->deadline_ms = now + queue->visibility_ms;
    fy_metric_inc (self->received);
    if (queue->fifo)
        msg->group = fy_sqs_message_attribute (sqs, "MessageGroupId");
    fy_list_push_back (&self->undecoded, &msg->undecoded_link);
    self->undecoded_count++;
}

//  The event's msgpack with its id and type after it (as
//  fy_event_transcode_json leaves them in self->packed), in one
//  allocation.
static void
s_keep (bridge_t *self, bridge_msg_t *msg, size_t size)
{
    char *data = fy_xmalloc (self->packed.size);
    memcpy (data, self->packed.data, self->packed.size);
    msg->msgpack = data;
    msg->size = size;
    msg->event_id = data + size;
    msg->type = msg->event_id + strlen (msg->event_id) + 1;
}

//  Decode and validate a received message, then queue it to be
//  published, or reject it. An event the schema allows is read in one
//  pass; any other is decoded to a tree, which lives in the arena only
//  while this runs; what outlives it (the DLQ entry of a reject) is made
//  after leaving.
static void
s_decode (bridge_t *self, bridge_msg_t *msg)
{
    const char *body = fy_sqs_message_body (msg->sqs);
    fy_error_t err = { "" };
    const char *reason = NULL;
    size_t size = 0;
    self->packed.size = 0;
    (void) fy_json_arena_enter (self->arena);
    if (fy_event_transcode_json (body, strlen (body), self->schema,
                                 &self->packed, &size, &err))
        reason = fy_event_reason (errno);
    else
        s_keep (self, msg, size);
    fy_json_arena_leave (self->arena);
    if (reason) {
        fy_metric_inc (self->invalid);
        bridge_reject (self, msg, reason, err.text);
        return;
    }
    bridge_pend (self, msg, fy_clock_mono_ms (), false);
}

static void
s_on_receive (const fy_sqs_result_t *result, fy_sqs_message_t **messages,
              size_t count, void *arg)
{
    bridge_poll_t *poll = arg;
    bridge_queue_t *queue = poll->queue;
    bridge_t *self = queue->bridge;
    int64_t now = fy_clock_mono_ms ();
    bridge_observe (self, "ReceiveMessage", result, now - poll->started_ms);
    s_poll_forget (queue, poll);
    if (result->error) {
        fy_log_warn ("bridge: receive from %s failed: %s %s", queue->url,
                     result->code ? result->code : strerror (result->error),
                     result->message);
        queue->retry_at_ms = now + BRIDGE_RETRY_MS;
    }
    for (size_t i = 0; i < count; i++) {
        fy_sqs_message_t *sqs = messages [i];
        messages [i] = NULL;
        if (self->stopping) {
            //  A poll that ended as the bridge stopped: hand it back.
            bridge_release (self, s_msg_new (queue, sqs), 0);
            fy_metric_inc (self->released);
            continue;
        }
        s_accept (self, queue, sqs, now);
    }
    //  Only the next receive now: the decoding waits for the end of the
    //  handler (s_on_http_idle), after that receive went out, so that SQS works
    //  on it meanwhile instead of after every decode.
    if (!self->stopping)
        s_poll (self, queue, now);
}

//  Start the polls the credit and the queue's budget allow: the credit
//  must cover every message waiting to be published plus the most each
//  poll in flight may bring.
static void
s_poll (bridge_t *self, bridge_queue_t *queue, int64_t now)
{
    while (queue->ready && queue->poll_count < (size_t) self->polls
           && now >= queue->retry_at_ms) {
        int64_t credit = (int64_t) fy_client_credit (self->client)
                         - (int64_t) self->pending_count
                         - (int64_t) self->undecoded_count
                         - (int64_t) self->asked;
        int64_t budget =
            self->inflight - (int64_t) queue->held - (int64_t) queue->asked;
        int64_t room = credit < budget ? credit : budget;
        if (room > FY_SQS_BATCH_MAX)
            room = FY_SQS_BATCH_MAX;
        if (room < 1)
            return;
        bridge_poll_t *poll = fy_xcalloc (1, sizeof *poll);
        poll->queue = queue;
        poll->asked = (int) room;
        poll->started_ms = now;
        //  Only the attributes s_accept reads: each one asked for is
        //  parsed and kept with every message.
        static const char *attributes [] = { "ApproximateReceiveCount",
                                             "MessageGroupId", NULL };
        fy_sqs_receive_t options = { .max_messages = poll->asked,
                                     .wait_s = (int) self->wait_s,
                                     .visibility_s = -1,
                                     .attributes = attributes };
        fy_error_t err = { "" };
        if (fy_sqs_receive_ex (self->sqs, queue->url, &options, s_on_receive,
                               poll, &poll->id, &err)) {
            fy_log_error ("bridge: receive from %s: %s", queue->url, err.text);
            free (poll);
            queue->retry_at_ms = now + BRIDGE_RETRY_MS;
            return;
        }
        queue->polls [queue->poll_count++] = poll;
        queue->asked += (size_t) poll->asked;
        self->asked += (size_t) poll->asked;
    }
}

void
bridge_pump (bridge_t *self)
{
    if (self->stopping)
        return;
    s_publish_pending (self);
    int64_t now = fy_clock_mono_ms ();
    for (size_t i = 0; i < self->queue_count; i++)
        s_poll (self, self->queues [i], now);
}

//  --------------------------------------------------------------------
//  Queue attributes: the visibility timeout the deadlines are kept by

static void
s_queue_start (bridge_queue_t *queue);

static void
s_on_retry (void *arg)
{
    s_queue_start (arg);
}

static void
s_on_attributes (const fy_sqs_result_t *result, json_t *attributes, void *arg)
{
    bridge_queue_t *queue = arg;
    bridge_t *self = queue->bridge;
    queue->attributes_call = 0;
    bridge_observe (self, "GetQueueAttributes", result,
                    fy_clock_mono_ms () - queue->attributes_started_ms);
    const char *vt = attributes ? json_string_value (json_object_get (
                                      attributes, "VisibilityTimeout"))
                                : NULL;
    int64_t seconds;
    if (!vt || fy_parse_int64 (vt, 0, 43200, &seconds)) {
        fy_log_error ("bridge: queue %s: no visibility timeout: %s %s "
                      "(trying again)",
                      queue->url, result->code ? result->code : "",
                      result->message ? result->message : "");
        fy_http_client_timer (self->http, 5 * BRIDGE_RETRY_MS, s_on_retry,
                              queue);
        return;
    }
    //  A zero timeout would make every message visible at once; extend
    //  as if it were one second.
    queue->visibility_ms = (seconds > 0 ? seconds : 1) * 1000;
    queue->ready = true;
    fy_log_notice ("bridge: polling %s (visibility %lld s%s)", queue->url,
                   (long long) seconds, queue->fifo ? ", FIFO" : "");
    bridge_pump (self);
}

static void
s_queue_start (bridge_queue_t *queue)
{
    bridge_t *self = queue->bridge;
    if (self->stopping)
        return;
    static const char *names [] = { "VisibilityTimeout", NULL };
    fy_error_t err = { "" };
    queue->attributes_started_ms = fy_clock_mono_ms ();
    if (fy_sqs_get_attributes (self->sqs, queue->url, names, s_on_attributes,
                               queue, &queue->attributes_call, &err)) {
        fy_log_error ("bridge: queue %s: %s", queue->url, err.text);
        fy_http_client_timer (self->http, 5 * BRIDGE_RETRY_MS, s_on_retry,
                              queue);
    }
}

static bridge_queue_t *
s_queue_new (bridge_t *self, const char *url, int64_t flush_ms)
{
    bridge_queue_t *queue = fy_xcalloc (1, sizeof *queue);
    queue->bridge = self;
    queue->url = fy_xstrdup (url);
    size_t len = strlen (url);
    queue->fifo = len > 5 && strcmp (url + len - 5, ".fifo") == 0;
    queue->visibility_ms = 30000;
    queue->deletes =
        bridge_batch_new (self->sqs, self->http, url, FY_SQS_DELETE, flush_ms,
                          bridge_on_delete, bridge_on_delete_call, self);
    queue->visibility = bridge_batch_new (
        self->sqs, self->http, url, FY_SQS_VISIBILITY, flush_ms,
        bridge_on_visibility, bridge_on_visibility_call, self);
    queue->extend = bridge_batch_new (
        self->sqs, self->http, url, FY_SQS_VISIBILITY, flush_ms,
        bridge_on_extend, bridge_on_visibility_call, self);
    queue->busy = zhashx_new ();
    zhashx_set_key_duplicator (queue->busy, NULL);
    zhashx_set_key_destructor (queue->busy, NULL);
    return queue;
}

static void
s_queue_destroy (bridge_queue_t **queue_p)
{
    bridge_queue_t *queue = *queue_p;
    if (!queue)
        return;
    bridge_batch_destroy (&queue->deletes);
    bridge_batch_destroy (&queue->visibility);
    bridge_batch_destroy (&queue->extend);
    for (size_t i = 0; i < queue->poll_count; i++)
        free (queue->polls [i]);
    zhashx_destroy (&queue->busy);
    free (queue->url);
    free (queue);
    *queue_p = NULL;
}


//  --------------------------------------------------------------------
//  The loop

//  Polls still open, over every queue.
static size_t
s_polls_open (bridge_t *self)
{
    size_t count = 0;
    for (size_t i = 0; i < self->queue_count; i++)
        count += self->queues [i]->poll_count;
    return count;
}

//  The HTTP client's idle hook: the messages received in its runs are
//  decoded once they ran out of work at once, i.e. once the next receive
//  or a delete batch has gone out (fy_loop runs curl again at once when
//  it asks, which at two long polls was nearly half the drain rate).
//  A message settled (a delete that came back) frees room in its queue's
//  budget: a poll the budget held back starts now, not at the next tick.
//  Nothing else happened: nothing to do. True when there is new work for
//  curl or the broker.
static bool
s_on_http_idle (void *arg)
{
    bridge_t *self = arg;
    bool decoded = self->undecoded_count > 0;
    if (!decoded && !self->settled)
        return false;
    self->settled = false;
    fy_link_t *link;
    while ((link = fy_list_first (&self->undecoded))) {
        fy_list_unlink (link);
        self->undecoded_count--;
        s_decode (self, fy_list_entry (link, bridge_msg_t, undecoded_link));
    }
    size_t polls = s_polls_open (self);
    bridge_pump (self);
    return decoded || s_polls_open (self) != polls;
}

//  SQS calls were started outside the HTTP client's run: send them now.
static void
s_rearm (bridge_t *self)
{
    fy_loop_rearm (self->http_source);
}

//  The broker client's idle hook, after it processed its input or
//  ticked: publish what the credit allows and send the calls started.
static bool
s_on_client_idle (void *arg)
{
    bridge_t *self = arg;
    bridge_pump (self);
    s_rearm (self);
    return false;
}

static size_t
s_settling (bridge_t *self)
{
    size_t count = self->dlq ? bridge_batch_pending (self->dlq) : 0;
    for (size_t i = 0; i < self->queue_count; i++)
        count += bridge_batch_pending (self->queues [i]->deletes)
                 + bridge_batch_pending (self->queues [i]->visibility)
                 + bridge_batch_pending (self->queues [i]->extend);
    return count;
}

//  Messages that waited unpublished go back to the queue now rather than
//  lapse in our hands: any whose visibility nears its end, and any held
//  past hold_ms for want of credit (not for its FIFO group's turn): the
//  broker is away, and SQS can hand it to a bridge that can publish it.
//  A FIFO message takes the rest of its group with it, so that none
//  overtakes it.
static void
s_release_held (bridge_t *self, int64_t now)
{
    bridge_msg_t *msg = bridge_pending_first (self);
    while (msg) {
        bool lapsing = msg->deadline_ms - now <= msg->queue->visibility_ms / 3;
        bool held =
            !s_group_busy (msg) && now - msg->pending_ms >= self->hold_ms;
        if (!lapsing && !held) {
            msg = bridge_pending_next (self, msg);
            continue;
        }
        fy_log_info ("bridge: message %s released unpublished after %lld ms "
                     "(%s)",
                     bridge_msg_id (msg), (long long) (now - msg->pending_ms),
                     lapsing ? "its visibility nears its end"
                             : "no credit from the broker");
        if (msg->group) {
            bridge_release_group (self, msg->queue, msg->group);
            msg = bridge_pending_first (self);
            continue;
        }
        bridge_msg_t *next = bridge_pending_next (self, msg);
        bridge_release (self, msg, 0);
        fy_metric_inc (self->released);
        msg = next;
    }
}

//  Stopping, the polls are let end (what they bring is released at once);
//  one still open past wait_s and the grace is stalled: cancelled, its
//  messages, if SQS gave it any, come back after their timeout.
static void
s_cancel_stalled (bridge_t *self, int64_t now)
{
    int64_t limit = self->wait_s * 1000 + self->stop_grace_ms;
    for (size_t i = 0; i < self->queue_count; i++) {
        bridge_queue_t *queue = self->queues [i];
        for (size_t j = queue->poll_count; j-- > 0;) {
            bridge_poll_t *poll = queue->polls [j];
            if (now - poll->started_ms < limit)
                continue;
            fy_log_warn ("bridge: a poll of %s open for %lld ms at the "
                         "stop: cancelled",
                         queue->url, (long long) (now - poll->started_ms));
            fy_sqs_cancel (self->sqs, poll->id);
            s_poll_forget (queue, poll);
        }
    }
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    bridge_t *self = arg;
    fy_client_tick (self->client);
    int64_t now = fy_clock_mono_ms ();
    s_release_held (self, now);
    int rc = 0;
    if (self->stopping) {
        s_cancel_stalled (self, now);
        size_t unanswered = zhashx_size (self->published);
        size_t settling = s_settling (self);
        size_t polls = s_polls_open (self);
        if (unanswered == 0 && settling == 0 && polls == 0) {
            fy_log_notice ("bridge: stopped cleanly");
            rc = -1;
        }
        else if (now >= self->stop_deadline_ms) {
            fy_log_warn ("bridge: stop timeout with %zu events unanswered, "
                         "%zu SQS calls unsettled and %zu polls open; SQS "
                         "delivers them again",
                         unanswered, settling, polls);
            rc = -1;
        }
    }
    //  Its socket changes when it reconnects; its idle hook pumps.
    fy_loop_rearm (self->client_source);
    return rc;
}

//  The histogram's p99, interpolated in its bucket, is never above the
//  longest seen.
static double
s_ack_p99_ms (bridge_t *self)
{
    if (fy_metric_value (self->ack_seconds) == 0)
        return 0;
    double p99 = fy_metric_quantile (self->ack_seconds, 0.99) * 1000;
    return p99 < (double) self->ack_max_ms ? p99 : (double) self->ack_max_ms;
}

//  SQS calls made, of every action: a drain needs one receive and one
//  delete batch per ten events.
static double
s_sqs_calls (bridge_t *self)
{
    double calls = 0;
    for (size_t i = 0; i < self->action_count; i++)
        calls += fy_metric_value (self->actions [i].latency);
    return calls;
}

static void
s_log_stats (bridge_t *self)
{
    fy_log_info (
        "bridge: stats received=%.0f published=%.0f publishes=%.0f "
        "acked=%.0f "
        "deleted=%.0f nacked=%.0f dlq=%.0f invalid=%.0f "
        "extended=%.0f released=%.0f republished=%.0f "
        "sqs_calls=%.0f sqs_errors=%.0f pending=%zu unanswered=%zu "
        "credit=%llu ack_p99_ms=%.0f ack_max_ms=%lld",
        fy_metric_value (self->received),
        fy_metric_value (self->published_total),
        fy_metric_value (self->publishes_total), fy_metric_value (self->acked),
        fy_metric_value (self->deleted), fy_metric_value (self->nacked),
        fy_metric_value (self->dlq_total), fy_metric_value (self->invalid),
        fy_metric_value (self->extended), fy_metric_value (self->released),
        fy_metric_value (self->republished), s_sqs_calls (self),
        fy_metric_value (self->sqs_errors_total), self->pending_count,
        zhashx_size (self->published),
        (unsigned long long) fy_client_credit (self->client),
        s_ack_p99_ms (self), (long long) self->ack_max_ms);
}

static int
s_on_stats (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_log_stats (arg);
    return 0;
}

//  Release what is held unpublished (pending or undecoded); how many.
static size_t
s_release_unpublished (bridge_t *self)
{
    size_t count = 0;
    bridge_msg_t *msg;
    //  A pending one leaves its list in bridge_release (bridge_unpend).
    while ((msg = bridge_pending_first (self))) {
        bridge_release (self, msg, 0);
        count++;
    }
    fy_link_t *link;
    while ((link = fy_list_first (&self->undecoded))) {
        fy_list_unlink (link);
        self->undecoded_count--;
        bridge_release (self,
                        fy_list_entry (link, bridge_msg_t, undecoded_link), 0);
        count++;
    }
    fy_metric_add (self->released, (double) count);
    return count;
}

static void
s_stop (bridge_t *self)
{
    self->stopping = true;
    self->stop_deadline_ms = fy_clock_mono_ms () + self->stop_timeout_ms;
    //  Stop receiving, but let the long polls open at SQS end: SQS still
    //  hands messages to a poll whose client has gone, and they would stay
    //  invisible for the whole visibility timeout. What they bring is
    //  released at once (s_on_receive); one stalled past wait_s and the
    //  grace is cancelled (s_cancel_stalled).
    for (size_t i = 0; i < self->queue_count; i++) {
        bridge_queue_t *queue = self->queues [i];
        if (queue->attributes_call) {
            fy_sqs_cancel (self->sqs, queue->attributes_call);
            queue->attributes_call = 0;
        }
    }
    size_t released = s_release_unpublished (self);
    for (size_t i = 0; i < self->queue_count; i++)
        bridge_batch_flush (self->queues [i]->visibility);
    fy_log_notice ("bridge: stopping: %zu released, waiting up to %lld ms "
                   "for %zu open polls and %zu published events",
                   released, (long long) self->stop_timeout_ms,
                   s_polls_open (self), zhashx_size (self->published));
}

static int
s_on_signal (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    bridge_t *self = arg;
    int signo;
    while ((signo = fy_signals_next (self->signal_fd))) {
        if (signo == SIGTERM && !self->stopping)
            s_stop (self);
        else if (signo == SIGHUP)
            fy_log_notice ("bridge: SIGHUP ignored: no reloadable keys");
        else {
            fy_log_notice ("bridge: stopping now");
            return -1;
        }
    }
    s_rearm (self);
    return 0;
}

//  --------------------------------------------------------------------
//  Construction

static void
s_metrics_new (bridge_t *self)
{
    fy_metrics_t *m = self->metrics = fy_metrics_new ();
    self->received = fy_metrics_counter (m, "ferry_bridge_received_total",
                                         "messages received from SQS", NULL);
    self->published_total =
        fy_metrics_counter (m, "ferry_bridge_published_total",
                            "events published to the broker", NULL);
    self->publishes_total = fy_metrics_counter (
        m, "ferry_bridge_publishes_total",
        "PUBLISH messages sent to the broker (events in batches)", NULL);
    self->acked = fy_metrics_counter (m, "ferry_bridge_acked_total",
                                      "events the broker ACKed", NULL);
    self->deleted = fy_metrics_counter (m, "ferry_bridge_deleted_total",
                                        "messages deleted from SQS", NULL);
    self->nacked = fy_metrics_counter (m, "ferry_bridge_nacked_total",
                                       "events the broker NACKed", NULL);
    self->nacked_retryable =
        fy_metrics_counter (m, "ferry_bridge_nacked_retryable_total",
                            "events the broker NACKed as retryable", NULL);
    self->dlq_total =
        fy_metrics_counter (m, "ferry_bridge_dlq_total",
                            "messages sent to the dead letter queue", NULL);
    self->invalid =
        fy_metrics_counter (m, "ferry_bridge_invalid_total",
                            "messages that were no valid event", NULL);
    self->extended = fy_metrics_counter (
        m, "ferry_bridge_visibility_extended_total",
        "visibility extensions of messages still being worked on", NULL);
    self->released = fy_metrics_counter (
        m, "ferry_bridge_released_total",
        "messages handed back unpublished (visibility 0)", NULL);
    self->republished = fy_metrics_counter (
        m, "ferry_bridge_republished_total",
        "events published again after the broker lost the session", NULL);
    self->sqs_errors_total = fy_metrics_counter (
        m, "ferry_bridge_sqs_failures_total",
        "SQS calls and batch entries that failed, every action", NULL);
    self->ack_seconds = fy_metrics_histogram (
        m, "ferry_bridge_ack_seconds",
        "time from a message's receive to its event's ACK", NULL, s_ack_bounds,
        sizeof s_ack_bounds / sizeof s_ack_bounds [0]);
}

//  The queue URLs: bridge.queue_url, then bridge.extra_queue_urls.
static int
s_queues_new (bridge_t *self, int64_t flush_ms, fy_error_t *err)
{
    const char *main_url = fy_cfg_str (self->cfg, "bridge", "queue_url");
    if (!main_url || !*main_url) {
        fy_error_set (err, "bridge.queue_url: not set (nor SQS_QUEUE_URL)");
        errno = EINVAL;
        return -1;
    }
    const char *extra = fy_cfg_str (self->cfg, "bridge", "extra_queue_urls");
    char *list = fy_xasprintf ("%s %s", main_url, extra ? extra : "");
    char *save = NULL;
    for (char *url = strtok_r (list, " \t", &save); url;
         url = strtok_r (NULL, " \t", &save)) {
        if (strncmp (url, "http://", 7) && strncmp (url, "https://", 8)) {
            fy_error_set (err,
                          "bridge.extra_queue_urls: '%s' is not a "
                          "queue URL",
                          url);
            free (list);
            errno = EINVAL;
            return -1;
        }
        self->queues = fy_xrealloc (self->queues, (self->queue_count + 1)
                                                      * sizeof *self->queues);
        self->queues [self->queue_count++] = s_queue_new (self, url, flush_ms);
    }
    free (list);
    return 0;
}

static int
s_sqs_new (bridge_t *self, fy_error_t *err)
{
    self->http = fy_http_client_new (NULL, err);
    if (!self->http)
        return -1;
    fy_sqs_options_t options;
    fy_sqs_options_default (&options);
    options.endpoint = fy_cfg_str (self->cfg, "bridge", "sqs_endpoint");
    //  Sign only when the chain yields keys: without any, requests go
    //  unsigned (an emulator's setup), with them always.
    fy_error_t sign_err = { "" };
    self->sign = fy_aws_sign_new (NULL);
    fy_aws_credentials_t *chain = fy_aws_sign_credentials (self->sign);
    if (fy_aws_credentials_get (chain, fy_clock_wall_ms () / 1000, &sign_err)) {
        const char *region = fy_aws_credentials_region (chain);
        options.base.sign = fy_aws_sign_sqs;
        options.base.sign_arg = self->sign;
        options.region = region ? region : "us-east-1";
        fy_log_notice (
            "bridge: signing with keys from %s, region %s",
            fy_aws_credentials_source_name (fy_aws_credentials_source (chain)),
            options.region);
    }
    else if (errno == ENOENT) {
        fy_log_notice ("bridge: no AWS credentials; requests go unsigned");
        fy_aws_sign_destroy (&self->sign);
    }
    else {
        fy_error_set (err, "AWS credentials: %s", sign_err.text);
        return -1;
    }
    self->sqs = fy_sqs_new (self->http, &options, err);
    return self->sqs ? 0 : -1;
}

bridge_t *
bridge_new (fy_cfg_t *cfg, fy_error_t *err)
{
    assert (cfg);
    bridge_t *self = fy_xcalloc (1, sizeof *self);
    fy_list_init (&self->messages);
    //  First, before libzmq starts a thread.
    self->signal_fd = fy_signals_open (true);
    self->cfg = cfg;
    self->backoff_base_s = fy_cfg_int (cfg, "bridge", "backoff_base_s");
    self->backoff_cap_s = fy_cfg_int (cfg, "bridge", "backoff_cap_s");
    self->inflight = fy_cfg_int (cfg, "bridge", "inflight");
    self->polls = fy_cfg_int (cfg, "bridge", "polls");
    self->wait_s = fy_cfg_int (cfg, "bridge", "wait_s");
    self->stop_timeout_ms = fy_cfg_int (cfg, "bridge", "stop_timeout_ms");
    self->stop_grace_ms = fy_cfg_int (cfg, "bridge", "stop_poll_grace_ms");
    self->hold_ms = fy_cfg_int (cfg, "bridge", "hold_unpublished_ms");
    self->linger_ms = fy_cfg_int (cfg, "bridge", "publish_linger_ms");
    self->linger_timer = -1;
    s_metrics_new (self);
    fy_list_init (&self->pending);
    fy_list_init (&self->undecoded);
    //  A typical event's tree takes 5-10 KiB; larger ones take more blocks.
    self->arena = fy_json_arena_new (64 * 1024);
    msgpack_sbuffer_init (&self->packed);
    self->published = zhashx_new ();
    zhashx_set_key_hasher (self->published, fy_u64_hash);
    zhashx_set_key_comparator (self->published, fy_u64_compare);
    zhashx_set_key_duplicator (self->published, NULL);
    zhashx_set_key_destructor (self->published, NULL);

    const char *schema = fy_cfg_str (cfg, "events", "schema");
    self->schema = fy_schema_load (schema, err);
    if (!self->schema) {
        fy_error_prefix (err, "events.schema %s", schema);
        goto fail;
    }
    if (s_sqs_new (self, err))
        goto fail;
    int64_t flush_ms = self->flush_ms =
        fy_cfg_int (cfg, "bridge", "batch_flush_ms");
    if (s_queues_new (self, flush_ms, err))
        goto fail;
    const char *dlq = fy_cfg_str (cfg, "bridge", "dlq_url");
    if (dlq && *dlq) {
        self->dlq_url = fy_xstrdup (dlq);
        self->dlq =
            bridge_batch_new (self->sqs, self->http, dlq, FY_SQS_SEND, flush_ms,
                              bridge_on_dlq, bridge_on_dlq_call, self);
    }
    else
        fy_log_warn ("bridge: no bridge.dlq_url: rejected messages are "
                     "retried until the queue's redrive policy moves them");

    const char *endpoint = fy_cfg_str (cfg, "bridge", "broker");
    self->client =
        fy_client_new (endpoint, fy_cfg_str (cfg, "bridge", "name"), err);
    if (!self->client) {
        fy_error_prefix (err, "bridge.broker %s", endpoint);
        goto fail;
    }
    fy_client_set_heartbeat (self->client,
                             fy_cfg_int (cfg, "bridge", "heartbeat_ms"),
                             fy_cfg_int (cfg, "bridge", "liveness"));
    fy_client_handlers_t handlers = { .ack = bridge_on_ack,
                                      .nack = bridge_on_nack,
                                      .lease = bridge_on_lease,
                                      .reset = bridge_on_reset,
                                      .arg = self };
    fy_client_set_handlers (self->client, &handlers);

    self->loop = zloop_new ();
    zmq_pollitem_t signal_item = { NULL, self->signal_fd, ZMQ_POLLIN, 0 };
    zloop_poller (self->loop, &signal_item, s_on_signal, self);
    self->http_source = fy_http_client_attach (self->http, self->loop);
    fy_loop_set_idle (self->http_source, s_on_http_idle, self);
    self->client_source = fy_client_attach (self->client, self->loop);
    fy_loop_set_idle (self->client_source, s_on_client_idle, self);
    zloop_timer (self->loop, BRIDGE_TICK_MS, 0, s_on_tick, self);
    zloop_timer (self->loop,
                 (size_t) fy_cfg_int (cfg, "bridge", "stats_interval_ms"), 0,
                 s_on_stats, self);
    return self;
fail:
    bridge_destroy (&self);
    return NULL;
}

int
bridge_run (bridge_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->queue_count; i++)
        s_queue_start (self->queues [i]);
    s_rearm (self);
    fy_log_notice ("bridge: %zu queue%s, broker %s", self->queue_count,
                   self->queue_count == 1 ? "" : "s",
                   fy_cfg_str (self->cfg, "bridge", "broker"));
    zloop_start (self->loop);
    s_log_stats (self);
    return 0;
}

fy_metrics_t *
bridge_metrics (bridge_t *self)
{
    assert (self);
    return self->metrics;
}

void
bridge_destroy (bridge_t **self_p)
{
    assert (self_p);
    bridge_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_loop_detach (&self->http_source);
    if (self->client)
        fy_client_detach (self->client);
    self->client_source = NULL;
    zloop_destroy (&self->loop);
    if (self->signal_fd >= 0)
        close (self->signal_fd);
    //  Batches first: they cancel their calls, so no callback can reach
    //  a message freed below.
    bridge_batch_destroy (&self->dlq);
    for (size_t i = 0; i < self->queue_count; i++) {
        bridge_batch_destroy (&self->queues [i]->deletes);
        bridge_batch_destroy (&self->queues [i]->visibility);
        bridge_batch_destroy (&self->queues [i]->extend);
    }
    bridge_msg_t *msg;
    fy_list_each (msg, &self->messages, bridge_msg_t, link) s_msg_free (msg);
    zhashx_destroy (&self->published);
    fy_client_destroy (&self->client);
    fy_sqs_destroy (&self->sqs);
    for (size_t i = 0; i < self->queue_count; i++)
        s_queue_destroy (&self->queues [i]);
    free (self->queues);
    fy_http_client_destroy (&self->http);
    fy_aws_sign_destroy (&self->sign);
    fy_schema_destroy (&self->schema);
    fy_json_arena_destroy (&self->arena);
    msgpack_sbuffer_destroy (&self->packed);
    fy_metrics_destroy (&self->metrics);
    free (self->dlq_url);
    free (self);
    *self_p = NULL;
    errno = saved;
}
