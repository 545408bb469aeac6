/*  fy_sqs_producer: a queue of messages in the order sent, drained into
    SendMessageBatch calls by a dispatch that runs on the loop's next turn
    (a zero-delay timer), never inside fy_sqs_producer_send: messages sent
    one after another in the same turn then share batches. Each batch in
    flight holds its messages; when it comes back, the retryable failures
    go back to the front of the queue in their order, the rest are
    reported. A busy-group table (group id -> messages in flight) keeps a
    FIFO group to one batch at a time. The batches in flight are
    fy_sqs_flights calls whose contexts are the messages. */
#include "aws/fy_sqs_producer.h"
#include "aws/fy_sqs_flights.h"
#include "core/fy_list.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fy_link_t link;             //  in the queue, while queued
    fy_sqs_send_t send;         //  Pointing into the copies below
    char *body;
    char **attrs;
    json_t *attributes;
    char *group_id;
    char *dedup_id;
    void *user;
    size_t bytes;
    int64_t queued_ms;          //  When fy_sqs_producer_send took it
    int64_t first_ms;           //  First batch it went in, 0 before
    int batches;
} s_msg_t;

struct fy_sqs_producer {
    fy_http_client_t *http;
    fy_sqs_producer_options_t options;
    fy_link_t queue;            //  s_msg_t queued, oldest first
    size_t queued;
    fy_sqs_flights_t *flights;
    size_t pending;             //  Queued plus in flight
    size_t pending_bytes;
    zhashx_t *busy;             //  group id -> messages in flight
    bool flushing;
    uint64_t timer_id;
    int failed_rounds;          //  In a row, for the backoff
    int64_t resume_ms;          //  No dispatch before this
    fy_backoff_t backoff;
    fy_sqs_producer_stats_t stats;
};

static void
s_on_batch (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
            void **ctx, size_t count, int64_t elapsed_ms, void *arg);

void
fy_sqs_producer_options_default (fy_sqs_producer_options_t *options)
{
    assert (options);
    memset (options, 0, sizeof *options);
    options->max_pending = 1000;
    options->max_pending_bytes = 32u * 1024 * 1024;
    options->max_in_flight = 4;
    options->give_up_ms = 60000;
    options->retry_base_ms = 100;
    options->retry_cap_ms = 5000;
}

fy_sqs_producer_t *
fy_sqs_producer_new (fy_sqs_t *sqs, fy_http_client_t *http,
                     const char *queue_url,
                     const fy_sqs_producer_options_t *options, fy_error_t *err)
{
    assert (sqs);
    assert (http);
    if (!queue_url || !*queue_url) {
        fy_error_set (err, "sqs producer: no queue URL");
        errno = EINVAL;
        return NULL;
    }
    fy_sqs_producer_options_t defaults;
    fy_sqs_producer_options_default (&defaults);
    fy_sqs_producer_t *self = fy_xcalloc (1, sizeof *self);
    self->http = http;
    fy_list_init (&self->queue);
    self->flights = fy_sqs_flights_new (sqs, queue_url, s_on_batch, self);
    self->options = options ? *options : defaults;
    fy_sqs_producer_options_t *o = &self->options;
    if (o->max_pending == 0)
        o->max_pending = defaults.max_pending;
    if (o->max_pending_bytes == 0)
        o->max_pending_bytes = defaults.max_pending_bytes;
    if (o->max_in_flight <= 0)
        o->max_in_flight = defaults.max_in_flight;
    if (o->linger_ms < 0)
        o->linger_ms = 0;
    if (o->give_up_ms <= 0)
        o->give_up_ms = defaults.give_up_ms;
    if (o->retry_base_ms <= 0)
        o->retry_base_ms = defaults.retry_base_ms;
    if (o->retry_cap_ms <= 0)
        o->retry_cap_ms = defaults.retry_cap_ms;
    self->busy = zhashx_new ();
    fy_backoff_init (&self->backoff, o->retry_base_ms, o->retry_cap_ms);
    return self;
}

static void
s_msg_destroy (s_msg_t **self_p)
{
    s_msg_t *self = *self_p;
    if (!self)
        return;
    free (self->body);
    for (size_t i = 0; self->attrs && self->attrs [i]; i++)
        free (self->attrs [i]);
    free (self->attrs);
    json_decref (self->attributes);
    free (self->group_id);
    free (self->dedup_id);
    free (self);
    *self_p = NULL;
}

//  A message of a batch cancelled in flight.
static void
s_msg_free (void *ctx)
{
    s_msg_t *msg = ctx;
    s_msg_destroy (&msg);
}

void
fy_sqs_producer_destroy (fy_sqs_producer_t **self_p)
{
    assert (self_p);
    fy_sqs_producer_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    if (self->timer_id)
        fy_http_client_timer_cancel (self->http, self->timer_id);
    fy_sqs_flights_destroy (&self->flights, s_msg_free);
    s_msg_t *msg;
    fy_list_each (msg, &self->queue, s_msg_t, link) s_msg_destroy (&msg);
    zhashx_destroy (&self->busy);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  --------------------------------------------------------------------
//  The queue

static void
s_queue_unlink (fy_sqs_producer_t *self, s_msg_t *msg)
{
    fy_list_unlink (&msg->link);
    self->queued--;
}

static void
s_queue_push_back (fy_sqs_producer_t *self, s_msg_t *msg)
{
    fy_list_push_back (&self->queue, &msg->link);
    self->queued++;
}

static void
s_queue_push_front (fy_sqs_producer_t *self, s_msg_t *msg)
{
    fy_list_push_front (&self->queue, &msg->link);
    self->queued++;
}

static s_msg_t *
s_queue_first (fy_sqs_producer_t *self)
{
    return fy_list_entry (fy_list_first (&self->queue), s_msg_t, link);
}

//  Messages of group id in flight: the count is the item's address
//  offset from NULL, so the table needs no allocation per group.
static size_t
s_busy (fy_sqs_producer_t *self, const char *group_id)
{
    return (size_t) (uintptr_t) zhashx_lookup (self->busy, group_id);
}

static void
s_busy_add (fy_sqs_producer_t *self, const char *group_id, int delta)
{
    size_t count = s_busy (self, group_id) + (size_t) delta;
    if (count == 0)
        zhashx_delete (self->busy, group_id);
    else
        zhashx_update (self->busy, group_id, (void *) (uintptr_t) count);
}

//  --------------------------------------------------------------------
//  Dispatch

static void
s_dispatch (fy_sqs_producer_t *self);

static void
s_on_timer (void *arg)
{
    fy_sqs_producer_t *self = arg;
    self->timer_id = 0;
    s_dispatch (self);
}

//  Run the dispatch after delay_ms, replacing any earlier plan: the
//  dispatch itself works out whether it has to wait longer.
static void
s_kick (fy_sqs_producer_t *self, int64_t delay_ms)
{
    if (self->timer_id)
        fy_http_client_timer_cancel (self->http, self->timer_id);
    self->timer_id =
        fy_http_client_timer (self->http, delay_ms, s_on_timer, self);
}

//  Fill one batch from the queue, oldest first, skipping the messages of
//  groups in flight, into msgs. Returns how many went in.
static size_t
s_fill (fy_sqs_producer_t *self, fy_sqs_batch_t *batch, void **msgs)
{
    size_t count = 0;
    s_msg_t *msg;
    fy_list_each (msg, &self->queue, s_msg_t, link)
    {
        if (count == FY_SQS_BATCH_MAX)
            break;
        if (msg->group_id && s_busy (self, msg->group_id))
            continue;
        char id [16];
        snprintf (id, sizeof id, "m%zu", count);
        //  Accepted by fy_sqs_producer_send, so ENOSPC is the only
        //  refusal left: the batch is full by size.
        if (fy_sqs_batch_send_ex (batch, id, &msg->send))
            break;
        s_queue_unlink (self, msg);
        msgs [count++] = msg;
    }
    return count;
}

static void
s_dispatch (fy_sqs_producer_t *self)
{
    int64_t now = fy_clock_mono_ms ();
    if (self->queued && now < self->resume_ms) {
        s_kick (self, self->resume_ms - now);
        return;
    }
    while (self->queued
           && fy_sqs_flights_calls (self->flights)
                  < (size_t) self->options.max_in_flight) {
        //  A partial batch lingers for more, unless flushed.
        if (!self->flushing && self->options.linger_ms > 0
            && self->queued < FY_SQS_BATCH_MAX
            && s_queue_first (self)->batches == 0) {
            int64_t due =
                s_queue_first (self)->queued_ms + self->options.linger_ms;
            if (now < due) {
                s_kick (self, due - now);
                return;
            }
        }
        fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_SEND);
        void *msgs [FY_SQS_BATCH_MAX];
        size_t count = s_fill (self, batch, msgs);
        if (count == 0) {
            fy_sqs_batch_destroy (&batch);
            break;              //  Every queued group is in flight
        }
        for (size_t i = 0; i < count; i++) {
            s_msg_t *msg = msgs [i];
            msg->batches++;
            if (msg->first_ms == 0)
                msg->first_ms = now;
            if (msg->group_id)
                s_busy_add (self, msg->group_id, 1);
        }
        self->stats.batches++;
        fy_sqs_flights_submit (self->flights, &batch, msgs, count);
    }
    if (self->queued == 0)
        self->flushing = false;
}

//  --------------------------------------------------------------------
//  Answers

//  Worth another batch: SQS blamed itself, throttled, or the call never
//  got through. A signing failure is not: the keys will not appear.
static bool
s_retryable (const fy_sqs_result_t *result, const fy_sqs_entry_t *entry)
{
    if (result->error == EACCES)
        return false;
    return !entry->sender_fault
           || fy_sqs_is_retryable (result->status, entry->code);
}

static void
s_on_batch (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
            void **ctx, size_t count, int64_t elapsed_ms, void *arg)
{
    (void) elapsed_ms;
    fy_sqs_producer_t *self = arg;
    int64_t now = fy_clock_mono_ms ();
    //  State first, reports last: a report may send more messages.
    bool done [FY_SQS_BATCH_MAX];
    bool retryable [FY_SQS_BATCH_MAX];
    bool requeued = false;
    for (size_t i = count; i-- > 0;) {
        s_msg_t *msg = ctx [i];
        if (msg->group_id)
            s_busy_add (self, msg->group_id, -1);
        retryable [i] = !entries [i].ok && s_retryable (result, &entries [i]);
        done [i] =
            !retryable [i] || now - msg->first_ms >= self->options.give_up_ms;
        if (!done [i]) {
            //  From the last to the first: they end up in their order.
            s_queue_push_front (self, msg);
            ctx [i] = NULL;
            self->stats.retried++;
            requeued = true;
        }
    }
    if (requeued) {
        self->failed_rounds++;
        self->resume_ms =
            now + fy_backoff_ms (&self->backoff, self->failed_rounds);
    }
    else
        self->failed_rounds = 0;
    for (size_t i = 0; i < count; i++) {
        s_msg_t *msg = ctx [i];
        if (!msg)
            continue;
        self->pending--;
        self->pending_bytes -= msg->bytes;
        if (entries [i].ok)
            self->stats.sent++;
        else
            self->stats.failed++;
    }
    for (size_t i = 0; i < count; i++) {
        s_msg_t *msg = ctx [i];
        if (!msg)
            continue;
        fy_sqs_report_t report = {
            .ok = entries [i].ok,
            .message_id = entries [i].message_id,
            .code = entries [i].ok ? NULL : entries [i].code,
            .message = entries [i].ok ? NULL : entries [i].message,
            .retryable = retryable [i],
            .batches = msg->batches,
        };
        if (self->options.report)
            self->options.report (&report, msg->user, self->options.arg);
        s_msg_destroy (&msg);
    }
    s_kick (self, 0);
}

//  --------------------------------------------------------------------
//  Sending

static char *
s_dup (const char *text)
{
    return text ? fy_xstrdup (text) : NULL;
}

int
fy_sqs_producer_send (fy_sqs_producer_t *self, const fy_sqs_send_t *msg,
                      void *user, fy_error_t *err)
{
    assert (self);
    assert (msg);
    size_t bytes = fy_sqs_send_bytes (msg);
    if (bytes == 0) {
        fy_error_set (err, "sqs producer: no body, or a bad attribute, "
                           "group or deduplication id");
        errno = EINVAL;
        return -1;
    }
    if (bytes > FY_SQS_PAYLOAD_MAX) {
        fy_error_set (err,
                      "sqs producer: message of %zu bytes, over the "
                      "limit of %d",
                      bytes, FY_SQS_PAYLOAD_MAX);
        errno = EMSGSIZE;
        return -1;
    }
    if (self->pending > 0
        && (self->pending >= self->options.max_pending
            || self->pending_bytes + bytes > self->options.max_pending_bytes)) {
        fy_error_set (err, "sqs producer: %zu messages pending, wait",
                      self->pending);
        errno = EAGAIN;
        return -1;
    }
    s_msg_t *copy = fy_xcalloc (1, sizeof *copy);
    copy->body = fy_xstrdup (msg->body);
    size_t count = 0;
    while (msg->attrs && msg->attrs [count])
        count++;
    if (count) {
        copy->attrs = fy_xcalloc (count + 1, sizeof *copy->attrs);
        for (size_t i = 0; i < count; i++)
            copy->attrs [i] = fy_xstrdup (msg->attrs [i]);
    }
    copy->attributes =
        msg->attributes ? json_deep_copy (msg->attributes) : NULL;
    copy->group_id = s_dup (msg->group_id);
    copy->dedup_id = s_dup (msg->dedup_id);
    copy->send = (fy_sqs_send_t) { .body = copy->body,
                                   .delay_s = msg->delay_s,
                                   .attrs = (const char **) copy->attrs,
                                   .attributes = copy->attributes,
                                   .group_id = copy->group_id,
                                   .dedup_id = copy->dedup_id };
    copy->user = user;
    copy->bytes = bytes;
    copy->queued_ms = fy_clock_mono_ms ();
    s_queue_push_back (self, copy);
    self->pending++;
    self->pending_bytes += bytes;
    self->stats.accepted++;
    if (!self->timer_id)
        s_kick (self, 0);
    return 0;
}

size_t
fy_sqs_producer_room (fy_sqs_producer_t *self)
{
    assert (self);
    if (self->pending >= self->options.max_pending
        || self->pending_bytes >= self->options.max_pending_bytes)
        return 0;
    return self->options.max_pending - self->pending;
}

size_t
fy_sqs_producer_pending (fy_sqs_producer_t *self)
{
    assert (self);
    return self->pending;
}

size_t
fy_sqs_producer_in_flight (fy_sqs_producer_t *self)
{
    assert (self);
    return fy_sqs_flights_calls (self->flights);
}

void
fy_sqs_producer_flush (fy_sqs_producer_t *self)
{
    assert (self);
    if (self->queued) {
        self->flushing = true;
        s_kick (self, 0);
    }
}

static bool
s_is_idle (void *arg)
{
    fy_sqs_producer_t *self = arg;
    return self->pending == 0;
}

int
fy_sqs_producer_wait (fy_sqs_producer_t *self, int64_t timeout_ms)
{
    assert (self);
    fy_sqs_producer_flush (self);
    return fy_http_client_run_until (self->http, s_is_idle, self, timeout_ms);
}

void
fy_sqs_producer_stats (fy_sqs_producer_t *self, fy_sqs_producer_stats_t *stats)
{
    assert (self);
    assert (stats);
    *stats = self->stats;
}
