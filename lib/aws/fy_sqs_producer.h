/*  fy_sqs_producer: sends messages to one SQS queue as SendMessageBatch
    calls of up to 10 entries kept under the 256 KiB request payload, with
    several batches in flight at once, on an fy_sqs client and so on the
    owner's loop. The caller queues messages one by one; each is reported
    once, through one callback, as sent (with its MessageId) or failed for
    good.

    Failures: fy_sqs retries whole calls and entries SQS blamed on itself
    a few times within a call; what still failed for a retryable reason
    (throttling, 5xx, transport, SenderFault false) is queued again at the
    front and sent in a later batch after a backoff, until give_up_ms after
    its first send. Anything else (a sender fault: a bad attribute, a
    missing queue, signing failed) is reported at once. A message sent
    twice is possible when an answer is lost: SQS is at-least-once.

    FIFO queues: a message with a group id is never in flight beside an
    earlier message of the same group, so a group's order holds across
    batches; within a batch SQS keeps the entries' order.

    Memory is bounded: fy_sqs_producer_send refuses with EAGAIN once
    max_pending messages (or max_pending_bytes) are waiting to be
    reported; the caller runs its loop and tries again
    (fy_sqs_producer_room tells how many fit). fy_sqs_producer_flush sends
    partial batches now; fy_sqs_producer_pending reaching 0 means all done.

    Every callback runs from fy_http_client_run. Not thread-safe. */
#ifndef FY_SQS_PRODUCER_H_INCLUDED
#define FY_SQS_PRODUCER_H_INCLUDED

#include "ferry/fy_common.h"
#include "http/fy_http_client.h"
#include "aws/fy_sqs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_sqs_producer fy_sqs_producer_t;

//  A message's outcome.
typedef struct {
    bool ok;
    //  When ok: the id SQS gave the message. Borrowed.
    const char *message_id;
    //  When !ok: SQS's code ("InvalidParameterValue", ...) or the
    //  transport's ("RequestFailed"), and message. Borrowed.
    const char *code;
    const char *message;
    //  When !ok: the failure was a retryable one, given up on after
    //  give_up_ms.
    bool retryable;
    //  SendMessageBatch calls that carried the message.
    int batches;
} fy_sqs_report_t;

//  Called once per message accepted by fy_sqs_producer_send, with the
//  user pointer given there. May send more messages; must not destroy the
//  producer.
typedef void (fy_sqs_producer_fn) (const fy_sqs_report_t *report, void *user,
                                   void *arg);

typedef struct {
    //  Messages accepted and not yet reported, and their payload bytes,
    //  past which fy_sqs_producer_send says EAGAIN. Defaults 1000 and
    //  32 MiB (a message alone is always accepted into an empty producer).
    size_t max_pending;
    size_t max_pending_bytes;
    //  SendMessageBatch calls in flight at once. Default 4.
    int max_in_flight;
    //  How long a partial batch waits for more messages before it goes;
    //  0 (the default) sends what is queued on the loop's next turn.
    int64_t linger_ms;
    //  Retryable failures are sent again until this long after the
    //  message's first send. Default 60000.
    int64_t give_up_ms;
    //  Backoff between rounds after retryable failures: full jitter in
    //  [0, min(cap, base * 2^(n-1))] after n failed rounds in a row.
    //  Defaults 100 ms and 5000 ms.
    int64_t retry_base_ms;
    int64_t retry_cap_ms;
    //  The report callback (may be NULL) and its argument.
    fy_sqs_producer_fn *report;
    void *arg;
} fy_sqs_producer_options_t;

typedef struct {
    uint64_t accepted;          //  fy_sqs_producer_send said 0
    uint64_t sent;              //  reported ok
    uint64_t failed;            //  reported failed
    uint64_t retried;           //  times a message was queued again
    uint64_t batches;           //  SendMessageBatch calls submitted
} fy_sqs_producer_stats_t;

//  Fill options with the defaults above.
void
fy_sqs_producer_options_default (fy_sqs_producer_options_t *options);

//  A producer for queue_url (copied) on sqs and http (both borrowed: they
//  must outlive it; http is the one sqs runs on, for the timers). options
//  may be NULL for the defaults. Returns NULL with errno EINVAL and err
//  filled when queue_url is missing.
fy_sqs_producer_t *
fy_sqs_producer_new (fy_sqs_t *sqs, fy_http_client_t *http,
                     const char *queue_url,
                     const fy_sqs_producer_options_t *options, fy_error_t *err);

//  Cancel the batches in flight and drop what is queued, without reports
//  (check fy_sqs_producer_pending first). Sets *self_p to NULL. Safe on
//  NULL.
void
fy_sqs_producer_destroy (fy_sqs_producer_t **self_p);

//  Queue msg (copied: its strings and attributes) with user, which comes
//  back in the report. Returns 0, or -1 with errno EAGAIN (full: run the
//  loop and try again; not counted), EMSGSIZE (over 256 KiB on its own)
//  or EINVAL (no body, a bad attribute, group or deduplication id), and
//  err filled; then no report follows.
int
fy_sqs_producer_send (fy_sqs_producer_t *self, const fy_sqs_send_t *msg,
                      void *user, fy_error_t *err) FY_MUSTCHECK;

//  How many more messages fy_sqs_producer_send would take now (0: full).
size_t
fy_sqs_producer_room (fy_sqs_producer_t *self);

//  Messages accepted and not yet reported (queued or in flight).
size_t
fy_sqs_producer_pending (fy_sqs_producer_t *self);

//  SendMessageBatch calls in flight.
size_t
fy_sqs_producer_in_flight (fy_sqs_producer_t *self);

//  Send partial batches without waiting for linger_ms, until the queue
//  has emptied.
void
fy_sqs_producer_flush (fy_sqs_producer_t *self);

//  Flush, then run http until every message is reported or timeout_ms
//  passed: for programs without a loop of their own. Returns 0, or -1
//  with errno ETIMEDOUT (or poll's errno).
int
fy_sqs_producer_wait (fy_sqs_producer_t *self, int64_t timeout_ms) FY_MUSTCHECK;

//  Counters since creation.
void
fy_sqs_producer_stats (fy_sqs_producer_t *self, fy_sqs_producer_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif
