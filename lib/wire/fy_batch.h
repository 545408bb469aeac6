/*  fy_batch: the open batch of a worker that writes its deliveries in
    batches (ferry-audit, ferry-analytics). It takes the worker's events
    callback: each delivery is decoded, and one that is not an event is
    NACKed for good, one that arrives while the owner is not ready
    (its store down) is NACKed retryable at once, the rest gather until
    max of them or ms after the first, and then go to the owner's flush
    callback, which answers them, now or after a COMMIT. When the owner
    is busy (a write in flight) the batch waits, due, for the owner's
    next fy_batch_flush; meanwhile the next one fills behind it, up to
    the credit (the broker sends no more). */
#ifndef FY_BATCH_H_INCLUDED
#define FY_BATCH_H_INCLUDED

#include "ferry/fy_cfg.h"
#include "ferry/fy_metrics.h"
#include "ferry/fy_worker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_batch fy_batch_t;

typedef struct {
    //  Write count (at most max) deliveries and their decoded events; the
    //  callee answers every delivery, now or later. Both arrays are
    //  borrowed until the callback returns (copy them to keep them).
    void (*flush) (fy_delivery_t **deliveries, fy_event_t **events,
                   size_t count, void *arg);
    //  May be NULL: true while a write is in flight and a batch must
    //  wait for the owner's next fy_batch_flush.
    bool (*busy) (void *arg);
    //  The owner's name in the log ("audit"), and the counter of
    //  deliveries that are not events (may be NULL).
    const char *component;
    fy_metric_t *undecodable;
} fy_batch_fns_t;

//  A batch for worker (borrowed) of at most max deliveries or ms after
//  the first, with room for credit at first (it grows if a new session
//  grants the credit again while old deliveries are still in hand).
//  Takes the worker's events callback. fns is copied.
fy_batch_t *
fy_batch_new (fy_worker_t *worker, size_t max, int64_t ms, size_t credit,
              const fy_batch_fns_t *fns, void *arg);

//  A worker of service whose deliveries gather in a batch, both from
//  cfg's section (a worker's keys: broker, name, credit, heartbeat_ms,
//  liveness, stop_timeout_ms, batch_max, batch_ms; credit at least
//  batch_max). *batch_p gets the batch (the caller's, destroyed before
//  the worker). NULL with err and errno EINVAL on a bad setting.
fy_worker_t *
fy_batch_worker_new (fy_cfg_t *cfg, const char *section, const char *service,
                     const fy_batch_fns_t *fns, void *arg, fy_batch_t **batch_p,
                     fy_error_t *err);

//  Destroy the batch (deliveries still in it stay the worker's) and set
//  *self_p to NULL. Safe on NULL.
void
fy_batch_destroy (fy_batch_t **self_p);

//  Whether anything can be written (initially true): while not,
//  deliveries are NACKed retryable ("store_unavailable") as they come.
void
fy_batch_set_ready (fy_batch_t *self, bool ready);

//  Send the first max deliveries to flush now, unless the owner is busy
//  (then they go at its next fy_batch_flush). What is left waits, due.
void
fy_batch_flush (fy_batch_t *self);

//  True when a batch should go at once: one waited for the owner, or a
//  full one is there.
bool
fy_batch_is_due (fy_batch_t *self);

//  Deliveries gathered, not yet flushed.
size_t
fy_batch_size (fy_batch_t *self);

#ifdef __cplusplus
}
#endif
#endif
