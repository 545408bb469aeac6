/*  fy_sqs_flights: one fy_sqs batch call per flight, each flight on the
    list of its owner until the call ends (or is cancelled), holding its
    entries' contexts in the order added, which is the order fy_sqs
    reports the entries in. */
#include "aws/fy_sqs_flights.h"
#include "core/fy_list.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fy_sqs_flights_t *owner;
    void *ctx [FY_SQS_BATCH_MAX];
    size_t count;
    uint64_t call_id;
    int64_t started_ms;
    fy_link_t link;             //  in owner->flights
} s_flight_t;

struct fy_sqs_flights {
    fy_sqs_t *sqs;
    char *queue_url;
    fy_sqs_flights_fn *fn;
    void *arg;
    fy_link_t flights;
    size_t calls, entries;
};

fy_sqs_flights_t *
fy_sqs_flights_new (fy_sqs_t *sqs, const char *queue_url, fy_sqs_flights_fn *fn,
                    void *arg)
{
    assert (sqs);
    assert (queue_url);
    assert (fn);
    fy_sqs_flights_t *self = fy_xcalloc (1, sizeof *self);
    self->sqs = sqs;
    self->queue_url = fy_xstrdup (queue_url);
    self->fn = fn;
    self->arg = arg;
    fy_list_init (&self->flights);
    return self;
}

void
fy_sqs_flights_destroy (fy_sqs_flights_t **self_p,
                        fy_sqs_flights_free_fn *free_fn)
{
    assert (self_p);
    fy_sqs_flights_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    s_flight_t *flight;
    fy_list_each (flight, &self->flights, s_flight_t, link)
    {
        fy_sqs_cancel (self->sqs, flight->call_id);
        for (size_t i = 0; free_fn && i < flight->count; i++)
            free_fn (flight->ctx [i]);
        free (flight);
    }
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
    fy_sqs_flights_t *self = flight->owner;
    fy_list_unlink (&flight->link);
    self->calls--;
    self->entries -= flight->count;
    //  fy_sqs reports every entry in the order added; a short answer
    //  would be its bug, but no context may be left without an outcome.
    fy_sqs_entry_t all [FY_SQS_BATCH_MAX];
    for (size_t i = 0; i < flight->count; i++)
        all [i] = i < count ? entries [i]
                            : (fy_sqs_entry_t) {
                                  .ok = false,
                                  .code = "Lost",
                                  .message = "no outcome reported for the entry"
                              };
    self->fn (result, all, flight->ctx, flight->count,
              fy_clock_mono_ms () - flight->started_ms, self->arg);
    free (flight);
}

void
fy_sqs_flights_submit (fy_sqs_flights_t *self, fy_sqs_batch_t **batch_p,
                       void *const *ctx, size_t count)
{
    assert (self);
    assert (batch_p);
    assert (count > 0 && count <= FY_SQS_BATCH_MAX);
    s_flight_t *flight = fy_xcalloc (1, sizeof *flight);
    flight->owner = self;
    flight->count = count;
    memcpy (flight->ctx, ctx, count * sizeof ctx [0]);
    flight->started_ms = fy_clock_mono_ms ();
    fy_list_push_front (&self->flights, &flight->link);
    self->calls++;
    self->entries += count;
    fy_error_t err = { "" };
    if (fy_sqs_submit (self->sqs, self->queue_url, batch_p, s_on_done, flight,
                       &flight->call_id, &err)) {
        //  Only a programming error gets here (an empty batch, a bad
        //  id); report every entry as failed rather than lose them.
        fy_sqs_result_t result = { .error = errno,
                                   .code = "Invalid",
                                   .message = err.text,
                                   .sender_fault = true };
        fy_sqs_entry_t entries [FY_SQS_BATCH_MAX];
        for (size_t i = 0; i < count; i++)
            entries [i] = (fy_sqs_entry_t) { .ok = false,
                                             .code = "Invalid",
                                             .message = err.text,
                                             .sender_fault = true };
        s_on_done (&result, entries, count, flight);
    }
}

size_t
fy_sqs_flights_calls (fy_sqs_flights_t *self)
{
    assert (self);
    return self->calls;
}

size_t
fy_sqs_flights_entries (fy_sqs_flights_t *self)
{
    assert (self);
    return self->entries;
}
