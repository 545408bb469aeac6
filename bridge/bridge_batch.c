/*  bridge_batch: gather entries, submit them ten at a time or after
    flush_ms. A call in flight keeps the contexts of its entries in the
    order added, which is the order fy_sqs reports them in. */
#include "bridge_batch.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  One submitted batch: its entries' contexts, until the call ends.
typedef struct s_flight {
    bridge_batch_t *owner;
    void *ctx [FY_SQS_BATCH_MAX];
    size_t count;
    uint64_t call_id;
    int64_t started_ms;
    struct s_flight *next, *prev;
} s_flight_t;

struct bridge_batch {
    fy_sqs_t *sqs;
    fy_http_client_t *http;
    char *queue_url;
    fy_sqs_batch_kind_t kind;
    int64_t flush_ms;
    bridge_batch_entry_fn *entry_fn;
    bridge_batch_call_fn *call_fn;
    void *arg;
    //  The batch being filled, its contexts, and the flush timer.
    fy_sqs_batch_t *batch;
    void *ctx [FY_SQS_BATCH_MAX];
    size_t count;
    uint64_t timer;
    uint64_t next_id;
    s_flight_t *flights;
    size_t in_flight;
};

bridge_batch_t *
bridge_batch_new (fy_sqs_t *sqs, fy_http_client_t *http, const char *queue_url,
                  fy_sqs_batch_kind_t kind, int64_t flush_ms,
                  bridge_batch_entry_fn *entry_fn,
                  bridge_batch_call_fn *call_fn, void *arg)
{
    assert (sqs);
    assert (http);
    assert (queue_url);
    assert (entry_fn);
    bridge_batch_t *self = fy_xcalloc (1, sizeof *self);
    self->sqs = sqs;
    self->http = http;
    self->queue_url = fy_xstrdup (queue_url);
    self->kind = kind;
    self->flush_ms = flush_ms > 0 ? flush_ms : 1;
    self->entry_fn = entry_fn;
    self->call_fn = call_fn;
    self->arg = arg;
    return self;
}

void
bridge_batch_destroy (bridge_batch_t **self_p)
{
    assert (self_p);
    bridge_batch_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    if (self->timer)
        fy_http_client_timer_cancel (self->http, self->timer);
    while (self->flights) {
        s_flight_t *flight = self->flights;
        self->flights = flight->next;
        fy_sqs_cancel (self->sqs, flight->call_id);
        free (flight);
    }
    fy_sqs_batch_destroy (&self->batch);
    free (self->queue_url);
    free (self);
    *self_p = NULL;
    errno = saved;
}

static void
s_on_done (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
           size_t count, void *arg)
{
    s_flight_t *flight = arg;
    bridge_batch_t *self = flight->owner;
    if (flight->prev)
        flight->prev->next = flight->next;
    else
        self->flights = flight->next;
    if (flight->next)
        flight->next->prev = flight->prev;
    self->in_flight -= flight->count;
    if (self->call_fn)
        self->call_fn (result, fy_clock_mono_ms () - flight->started_ms,
                       self->arg);
    //  fy_sqs reports every entry in the order added; a short answer
    //  would be its bug, but no context may be left without an outcome.
    for (size_t i = 0; i < flight->count; i++) {
        fy_sqs_entry_t lost = {
            .ok = false, .code = "Lost",
            .message = "no outcome reported for the entry"
        };
        self->entry_fn (flight->ctx [i], i < count ? &entries [i] : &lost,
                        self->arg);
    }
    free (flight);
}

void
bridge_batch_flush (bridge_batch_t *self)
{
    assert (self);
    if (self->timer) {
        fy_http_client_timer_cancel (self->http, self->timer);
        self->timer = 0;
    }
    if (self->count == 0)
        return;
    s_flight_t *flight = fy_xcalloc (1, sizeof *flight);
    flight->owner = self;
    flight->count = self->count;
    memcpy (flight->ctx, self->ctx, self->count * sizeof self->ctx [0]);
    flight->started_ms = fy_clock_mono_ms ();
    self->count = 0;
    self->in_flight += flight->count;
    flight->next = self->flights;
    if (self->flights)
        self->flights->prev = flight;
    self->flights = flight;
    fy_error_t err = { "" };
    if (fy_sqs_submit (self->sqs, self->queue_url, &self->batch, s_on_done,
                       flight, &flight->call_id, &err)) {
        //  Only a programming error gets here (an empty batch, a bad
        //  id); report every entry as failed rather than lose them.
        fy_sqs_result_t result = {
            .error = errno, .code = "Invalid", .message = err.text,
            .sender_fault = true
        };
        fy_sqs_entry_t entries [FY_SQS_BATCH_MAX];
        for (size_t i = 0; i < flight->count; i++)
            entries [i] = (fy_sqs_entry_t) {
                .ok = false, .code = "Invalid", .message = err.text,
                .sender_fault = true
            };
        s_on_done (&result, entries, flight->count, flight);
    }
}

static void
s_on_timer (void *arg)
{
    bridge_batch_t *self = arg;
    self->timer = 0;
    bridge_batch_flush (self);
}

//  Add one entry by kind, flushing first when the batch is full.
static int
s_add (bridge_batch_t *self, void *ctx, const char *receipt, int timeout_s,
       const char *body, const char **attrs)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!self->batch)
            self->batch = fy_sqs_batch_new (self->kind);
        char id [24];
        snprintf (id, sizeof id, "e%llu",
                  (unsigned long long) ++self->next_id);
        int rc;
        if (self->kind == FY_SQS_DELETE)
            rc = fy_sqs_batch_delete (self->batch, id, receipt);
        else
        if (self->kind == FY_SQS_VISIBILITY)
            rc = fy_sqs_batch_visibility (self->batch, id, receipt,
                                          timeout_s);
        else
            rc = fy_sqs_batch_send (self->batch, id, body, -1, attrs);
        if (rc == 0) {
            self->ctx [self->count++] = ctx;
            if (self->count == FY_SQS_BATCH_MAX)
                bridge_batch_flush (self);
            else
            if (!self->timer)
                self->timer = fy_http_client_timer (self->http,
                                                    self->flush_ms,
                                                    s_on_timer, self);
            return 0;
        }
        if (errno != ENOSPC || self->count == 0)
            return -1;
        bridge_batch_flush (self);
    }
    errno = EMSGSIZE;
    return -1;
}

int
bridge_batch_delete (bridge_batch_t *self, void *ctx, const char *receipt)
{
    assert (self);
    assert (self->kind == FY_SQS_DELETE);
    return s_add (self, ctx, receipt, 0, NULL, NULL);
}

int
bridge_batch_visibility (bridge_batch_t *self, void *ctx,
                         const char *receipt, int timeout_s)
{
    assert (self);
    assert (self->kind == FY_SQS_VISIBILITY);
    return s_add (self, ctx, receipt, timeout_s, NULL, NULL);
}

int
bridge_batch_send (bridge_batch_t *self, void *ctx, const char *body,
                   const char **attrs)
{
    assert (self);
    assert (self->kind == FY_SQS_SEND);
    return s_add (self, ctx, NULL, 0, body, attrs);
}

size_t
bridge_batch_pending (bridge_batch_t *self)
{
    assert (self);
    return self->count + self->in_flight;
}
