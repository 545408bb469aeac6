/*  fy_sqs_producer: a queue of messages in the order sent, drained into
    SendMessageBatch calls by a dispatch that runs on the loop's next turn
    (a zero-delay timer), never inside fy_sqs_producer_send: messages sent
    one after another in the same turn then share batches. Each batch in
    flight holds its messages; when it comes back, the retryable failures
    go back to the front of the queue in their order, the rest are
    reported. A busy-group table (group id -> messages in flight) keeps a
    FIFO group to one batch at a time. */
#include "aws/fy_sqs_producer.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct s_msg {
    struct s_msg *prev, *next;
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

typedef struct s_flight {
    struct s_flight *prev, *next;
    fy_sqs_producer_t *producer;
    uint64_t op_id;
    s_msg_t *msgs [FY_SQS_BATCH_MAX];
    size_t count;
} s_flight_t;

struct fy_sqs_producer {
    fy_sqs_t *sqs;
    fy_http_client_t *http;
    char *queue_url;
    fy_sqs_producer_options_t options;
    s_msg_t *head, *tail;       //  Queued, oldest first
    size_t queued;
    s_flight_t *flights;
    size_t in_flight;
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
                     const fy_sqs_producer_options_t *options,
                     fy_error_t *err)
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
    self->sqs = sqs;
    self->http = http;
    self->queue_url = fy_xstrdup (queue_url);
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
    while (self->flights) {
        s_flight_t *flight = self->flights;
        self->flights = flight->next;
        fy_sqs_cancel (self->sqs, flight->op_id);
        for (size_t i = 0; i < flight->count; i++)
            s_msg_destroy (&flight->msgs [i]);
        free (flight);
    }
    while (self->head) {
        s_msg_t *msg = self->head;
        self->head = msg->next;
        s_msg_destroy (&msg);
    }
    zhashx_destroy (&self->busy);
    free (self->queue_url);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  --------------------------------------------------------------------
//  The queue

static void
s_queue_unlink (fy_sqs_producer_t *self, s_msg_t *msg)
{
    if (msg->prev)
        msg->prev->next = msg->next;
    else
        self->head = msg->next;
    if (msg->next)
        msg->next->prev = msg->prev;
    else
        self->tail = msg->prev;
    msg->prev = msg->next = NULL;
    self->queued--;
}

static void
s_queue_push_back (fy_sqs_producer_t *self, s_msg_t *msg)
{
    msg->prev = self->tail;
    msg->next = NULL;
    if (self->tail)
        self->tail->next = msg;
    else
        self->head = msg;
    self->tail = msg;
    self->queued++;
}

static void
s_queue_push_front (fy_sqs_producer_t *self, s_msg_t *msg)
{
    msg->prev = NULL;
    msg->next = self->head;
    if (self->head)
        self->head->prev = msg;
    else
        self->tail = msg;
    self->head = msg;
    self->queued++;
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

static void s_dispatch (fy_sqs_producer_t *self);

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
    self->timer_id = fy_http_client_timer (self->http, delay_ms, s_on_timer,
                                           self);
}

static void s_on_batch (const fy_sqs_result_t *result,
                        const fy_sqs_entry_t *entries, size_t count,
                        void *arg);

//  Fill one batch from the queue, oldest first, skipping the messages of
//  groups in flight. Returns the flight, or NULL when nothing can go.
static s_flight_t *
s_fill (fy_sqs_producer_t *self, fy_sqs_batch_t *batch)
{
    s_flight_t *flight = fy_xcalloc (1, sizeof *flight);
    flight->producer = self;
    s_msg_t *next;
    for (s_msg_t *msg = self->head; msg && flight->count < FY_SQS_BATCH_MAX;
         msg = next) {
        next = msg->next;
        if (msg->group_id && s_busy (self, msg->group_id))
            continue;
        char id [16];
        snprintf (id, sizeof id, "m%zu", flight->count);
        //  Accepted by fy_sqs_producer_send, so ENOSPC is the only
        //  refusal left: the batch is full by size.
        if (fy_sqs_batch_send_ex (batch, id, &msg->send))
            break;
        s_queue_unlink (self, msg);
        flight->msgs [flight->count++] = msg;
    }
    if (flight->count == 0) {
        free (flight);
        return NULL;
    }
    return flight;
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
           && self->in_flight < (size_t) self->options.max_in_flight) {
        //  A partial batch lingers for more, unless flushed.
        if (!self->flushing && self->options.linger_ms > 0
            && self->queued < FY_SQS_BATCH_MAX
            && self->head->batches == 0) {
            int64_t due = self->head->queued_ms + self->options.linger_ms;
            if (now < due) {
                s_kick (self, due - now);
                return;
            }
        }
        fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_SEND);
        s_flight_t *flight = s_fill (self, batch);
        if (!flight) {
            fy_sqs_batch_destroy (&batch);
            break;              //  Every queued group is in flight
        }
        for (size_t i = 0; i < flight->count; i++) {
            s_msg_t *msg = flight->msgs [i];
            msg->batches++;
            if (msg->first_ms == 0)
                msg->first_ms = now;
            if (msg->group_id)
                s_busy_add (self, msg->group_id, 1);
        }
        flight->next = self->flights;
        if (self->flights)
            self->flights->prev = flight;
        self->flights = flight;
        self->in_flight++;
        self->stats.batches++;
        fy_error_t err = { "" };
        //  Only a missing URL or an empty batch fail here, and neither
        //  can happen: the URL was checked at creation.
        int rc = fy_sqs_submit (self->sqs, self->queue_url, &batch,
                                s_on_batch, flight, &flight->op_id, &err);
        assert (rc == 0);
        (void) rc;
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
            size_t count, void *arg)
{
    s_flight_t *flight = arg;
    fy_sqs_producer_t *self = flight->producer;
    assert (count == flight->count);
    if (flight->prev)
        flight->prev->next = flight->next;
    else
        self->flights = flight->next;
    if (flight->next)
        flight->next->prev = flight->prev;
    self->in_flight--;
    int64_t now = fy_clock_mono_ms ();
    //  State first, reports last: a report may send more messages.
    bool done [FY_SQS_BATCH_MAX];
    bool retryable [FY_SQS_BATCH_MAX];
    bool requeued = false;
    for (size_t i = count; i-- > 0;) {
        s_msg_t *msg = flight->msgs [i];
        if (msg->group_id)
            s_busy_add (self, msg->group_id, -1);
        retryable [i] = !entries [i].ok && s_retryable (result, &entries [i]);
        done [i] = !retryable [i]
                   || now - msg->first_ms >= self->options.give_up_ms;
        if (!done [i]) {
            //  From the last to the first: they end up in their order.
            s_queue_push_front (self, msg);
            flight->msgs [i] = NULL;
            self->stats.retried++;
            requeued = true;
        }
    }
    if (requeued) {
        self->failed_rounds++;
        self->resume_ms = now + fy_backoff_ms (&self->backoff,
                                               self->failed_rounds);
    }
    else
        self->failed_rounds = 0;
    for (size_t i = 0; i < count; i++) {
        s_msg_t *msg = flight->msgs [i];
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
        s_msg_t *msg = flight->msgs [i];
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
        s_msg_destroy (&flight->msgs [i]);
    }
    free (flight);
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
        fy_error_set (err, "sqs producer: message of %zu bytes, over the "
                           "limit of %d", bytes, FY_SQS_PAYLOAD_MAX);
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
    copy->attributes = msg->attributes ? json_deep_copy (msg->attributes)
                                       : NULL;
    copy->group_id = s_dup (msg->group_id);
    copy->dedup_id = s_dup (msg->dedup_id);
    copy->send = (fy_sqs_send_t) {
        .body = copy->body, .delay_s = msg->delay_s,
        .attrs = (const char **) copy->attrs,
        .attributes = copy->attributes, .group_id = copy->group_id,
        .dedup_id = copy->dedup_id
    };
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
    return self->in_flight;
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
fy_sqs_producer_stats (fy_sqs_producer_t *self,
                       fy_sqs_producer_stats_t *stats)
{
    assert (self);
    assert (stats);
    *stats = self->stats;
}
