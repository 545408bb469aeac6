/*  bridge_batch: coalesces single-message SQS operations (delete, change
    visibility, send to the DLQ) of one queue into batch calls. Entries
    gather from any number of polls and are submitted when ten are waiting
    or when the oldest has waited flush_ms, whichever comes first, so a
    busy bridge makes one call per ten messages and a quiet one still
    answers within flush_ms. Each entry carries an opaque context that comes
    back, with the entry's outcome, once its batch call ends. */
#ifndef BRIDGE_BATCH_H_INCLUDED
#define BRIDGE_BATCH_H_INCLUDED

#include "ferry/ferry.h"
#include "aws/fy_sqs.h"
#include "http/fy_http_client.h"

typedef struct bridge_batch bridge_batch_t;

//  One entry's outcome: entry->ok, or its code and message.
typedef void (bridge_batch_entry_fn) (void *ctx, const fy_sqs_entry_t *entry,
                                      void *arg);
//  One batch call ended (for latency and error metrics).
typedef void (bridge_batch_call_fn) (const fy_sqs_result_t *result,
                                     int64_t elapsed_ms, void *arg);

//  A batcher of kind for queue_url (copied) on sqs and http (borrowed; they
//  outlive it). Never fails.
bridge_batch_t *
bridge_batch_new (fy_sqs_t *sqs, fy_http_client_t *http, const char *queue_url,
                  fy_sqs_batch_kind_t kind, int64_t flush_ms,
                  bridge_batch_entry_fn *entry_fn,
                  bridge_batch_call_fn *call_fn, void *arg);

//  Cancel the calls in flight and drop waiting entries; no callback is
//  called. Sets *self_p to NULL. Safe on NULL.
void
bridge_batch_destroy (bridge_batch_t **self_p);

//  Add an entry for ctx. Return 0, or -1 with errno EMSGSIZE (a message
//  too large for SQS on its own) or EINVAL (a bad receipt or timeout); the
//  entry's callback is then never called.
int
bridge_batch_delete (bridge_batch_t *self, void *ctx,
                     const char *receipt) FY_MUSTCHECK;
int
bridge_batch_visibility (bridge_batch_t *self, void *ctx, const char *receipt,
                         int timeout_s) FY_MUSTCHECK;
int
bridge_batch_send (bridge_batch_t *self, void *ctx, const char *body,
                   const char **attrs) FY_MUSTCHECK;

//  Submit what is waiting now.
void
bridge_batch_flush (bridge_batch_t *self);

//  Entries waiting or in flight.
size_t
bridge_batch_pending (bridge_batch_t *self);

#endif
