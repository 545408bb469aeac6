/*  bridge_batch: gather entries, submit them ten at a time or after
    flush_ms, as calls of fy_sqs_flights, which keeps the contexts of
    their entries until the outcomes come back. */
#include "bridge_batch.h"
#include "aws/fy_sqs_flights.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bridge_batch {
    fy_http_client_t *http;
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
    fy_sqs_flights_t *flights;
};

static void
s_on_done (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
           void **ctx, size_t count, int64_t elapsed_ms, void *arg);

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
    self->http = http;
    self->kind = kind;
    self->flush_ms = flush_ms > 0 ? flush_ms : 1;
    self->entry_fn = entry_fn;
    self->call_fn = call_fn;
    self->arg = arg;
    self->flights = fy_sqs_flights_new (sqs, queue_url, s_on_done, self);
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
    fy_sqs_flights_destroy (&self->flights, NULL);
    fy_sqs_batch_destroy (&self->batch);
    free (self);
    *self_p = NULL;
    errno = saved;
}

static void
s_on_done (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
           void **ctx, size_t count, int64_t elapsed_ms, void *arg)
{
    bridge_batch_t *self = arg;
    if (self->call_fn)
        self->call_fn (result, elapsed_ms, self->arg);
    for (size_t i = 0; i < count; i++)
        self->entry_fn (ctx [i], &entries [i], self->arg);
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
    size_t count = self->count;
    self->count = 0;
    fy_sqs_flights_submit (self->flights, &self->batch, self->ctx, count);
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
        snprintf (id, sizeof id, "e%llu", (unsigned long long) ++self->next_id);
        int rc;
        if (self->kind == FY_SQS_DELETE)
            rc = fy_sqs_batch_delete (self->batch, id, receipt);
        else if (self->kind == FY_SQS_VISIBILITY)
            rc = fy_sqs_batch_visibility (self->batch, id, receipt, timeout_s);
        else
            rc = fy_sqs_batch_send (self->batch, id, body, -1, attrs);
        if (rc == 0) {
            self->ctx [self->count++] = ctx;
            if (self->count == FY_SQS_BATCH_MAX)
                bridge_batch_flush (self);
            else if (!self->timer)
                self->timer = fy_http_client_timer (self->http, self->flush_ms,
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
bridge_batch_visibility (bridge_batch_t *self, void *ctx, const char *receipt,
                         int timeout_s)
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
    return self->count + fy_sqs_flights_entries (self->flights);
}
