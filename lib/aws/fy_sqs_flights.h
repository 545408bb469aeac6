/*  fy_sqs_flights: the batch calls of one queue in flight (DeleteMessage-
    Batch, ChangeMessageVisibilityBatch, SendMessageBatch, up to
    FY_SQS_BATCH_MAX entries each), every entry with an opaque context of
    its owner's, as both the bridge's batcher and fy_sqs_producer keep
    them. When a call ends its owner hears, once, every context with its
    entry's outcome, in the order the entries were added; a context is
    never left without an outcome, not even when fy_sqs refuses the call
    or reports fewer entries than it carried. Destroying cancels what is
    in flight, without outcomes. Internal to libferry; not thread-safe. */
#ifndef FY_SQS_FLIGHTS_H_INCLUDED
#define FY_SQS_FLIGHTS_H_INCLUDED

#include "ferry/fy_common.h"
#include "aws/fy_sqs.h"

typedef struct fy_sqs_flights fy_sqs_flights_t;

//  A call ended after elapsed_ms: entries [i] is the outcome of ctx [i],
//  for each of the count contexts submitted with it. ctx is the flight's
//  own copy, writable until the callback returns. May submit more; must
//  not destroy the flights.
typedef void (fy_sqs_flights_fn) (const fy_sqs_result_t *result,
                                  const fy_sqs_entry_t *entries, void **ctx,
                                  size_t count, int64_t elapsed_ms, void *arg);

//  A context of a call cancelled by fy_sqs_flights_destroy.
typedef void (fy_sqs_flights_free_fn) (void *ctx);

//  Calls on queue_url (copied) through sqs (borrowed: it outlives them).
//  Never fails.
fy_sqs_flights_t *
fy_sqs_flights_new (fy_sqs_t *sqs, const char *queue_url, fy_sqs_flights_fn *fn,
                    void *arg);

//  Cancel the calls in flight, without calling fn; free_fn (may be
//  NULL) gets each of their contexts. Sets *self_p to NULL. Safe on NULL.
void
fy_sqs_flights_destroy (fy_sqs_flights_t **self_p,
                        fy_sqs_flights_free_fn *free_fn);

//  Start a call of *batch_p (taking ownership, setting it to NULL) for
//  the count contexts of ctx (copied; 1 to FY_SQS_BATCH_MAX), one per
//  entry in the order added. When fy_sqs refuses the call (an empty
//  batch, no URL: a programming error), fn hears every entry failed,
//  code "Invalid", before this returns.
void
fy_sqs_flights_submit (fy_sqs_flights_t *self, fy_sqs_batch_t **batch_p,
                       void *const *ctx, size_t count);

//  Calls in flight, and the entries they carry.
size_t
fy_sqs_flights_calls (fy_sqs_flights_t *self);
size_t
fy_sqs_flights_entries (fy_sqs_flights_t *self);

#endif
