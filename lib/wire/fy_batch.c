/*  fy_batch: one array of deliveries and one of their events, in arrival
    order; a flush hands the first max over through a second pair of
    arrays, after they have left the batch, so a flush callback that
    lands a write and flushes again (a blocking write at shutdown) finds
    the batch consistent. */
#include "wire/fy_batch.h"
#include "ferry/fy_log.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fy_batch {
    fy_worker_t *worker;
    fy_batch_fns_t fns;
    void *arg;
    size_t max;
    int64_t ms;
    fy_delivery_t **deliveries;
    fy_event_t **events;
    size_t count, room;
    fy_delivery_t **out;
    fy_event_t **out_events;
    int timer;                  //  -1 when none runs
    bool due;                   //  goes at the owner's next flush
    bool ready;
};

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    fy_batch_t *self = arg;
    self->timer = -1;
    self->due = true;
    fy_batch_flush (self);
    return 0;
}

static void
s_on_events (fy_worker_t *worker, fy_delivery_t **deliveries, size_t count,
             void *arg)
{
    fy_batch_t *self = arg;
    for (size_t i = 0; i < count; i++) {
        fy_error_t err = { "" };
        fy_event_t *event = fy_delivery_event (deliveries [i], &err);
        if (!event) {
            if (self->fns.undecodable)
                fy_metric_inc (self->fns.undecodable);
            fy_log_warn ("%s: did=%llu not an event: %s", self->fns.component,
                         (unsigned long long) deliveries [i]->did, err.text);
            fy_worker_nack (worker, &deliveries [i], false, err.text);
            continue;
        }
        //  Hold nothing while nothing can be written: the broker
        //  redelivers later.
        if (!self->ready) {
            fy_worker_nack (worker, &deliveries [i], true, "store_unavailable");
            continue;
        }
        if (self->count == self->room) {
            self->room *= 2;
            self->deliveries = fy_xrealloc (
                self->deliveries, self->room * sizeof *self->deliveries);
            self->events =
                fy_xrealloc (self->events, self->room * sizeof *self->events);
        }
        self->deliveries [self->count] = deliveries [i];
        self->events [self->count] = event;
        self->count++;
        if (self->count >= self->max)
            fy_batch_flush (self);
        else if (self->timer < 0 && !self->due)
            self->timer = zloop_timer (fy_worker_loop (worker),
                                       (size_t) self->ms, 1, s_on_timer, self);
    }
}

fy_batch_t *
fy_batch_new (fy_worker_t *worker, size_t max, int64_t ms, size_t credit,
              const fy_batch_fns_t *fns, void *arg)
{
    assert (worker);
    assert (max > 0);
    assert (fns && fns->flush && fns->component);
    fy_batch_t *self = fy_xcalloc (1, sizeof *self);
    self->worker = worker;
    self->fns = *fns;
    self->arg = arg;
    self->max = max;
    self->ms = ms;
    self->room = credit > max ? credit : max;
    self->deliveries = fy_xcalloc (self->room, sizeof *self->deliveries);
    self->events = fy_xcalloc (self->room, sizeof *self->events);
    self->out = fy_xcalloc (max, sizeof *self->out);
    self->out_events = fy_xcalloc (max, sizeof *self->out_events);
    self->timer = -1;
    self->ready = true;
    fy_worker_on_events (worker, s_on_events, self);
    return self;
}

fy_worker_t *
fy_batch_worker_new (fy_cfg_t *cfg, const char *section, const char *service,
                     const fy_batch_fns_t *fns, void *arg, fy_batch_t **batch_p,
                     fy_error_t *err)
{
    assert (cfg);
    assert (batch_p);
    int64_t credit = fy_cfg_int (cfg, section, "credit");
    int64_t max = fy_cfg_int (cfg, section, "batch_max");
    if (credit < max) {
        fy_error_set (err,
                      "%s.credit (%lld) is below %s.batch_max (%lld): a "
                      "batch could never fill",
                      section, (long long) credit, section, (long long) max);
        errno = EINVAL;
        return NULL;
    }
    if (credit < 2 * max)
        fy_log_notice ("%s: %s.credit (%lld) is below twice %s.batch_max "
                       "(%lld): the next batch cannot fill while one is "
                       "written",
                       service, section, (long long) credit, section,
                       (long long) max);
    fy_worker_t *worker = fy_worker_new (
        fy_cfg_str (cfg, section, "broker"), service,
        fy_cfg_str (cfg, section, "name"), (unsigned) credit, err);
    if (!worker) {
        errno = EINVAL;
        return NULL;
    }
    fy_worker_set_heartbeat (worker, fy_cfg_int (cfg, section, "heartbeat_ms"),
                             fy_cfg_int (cfg, section, "liveness"));
    fy_worker_set_stop_timeout (worker,
                                fy_cfg_int (cfg, section, "stop_timeout_ms"));
    *batch_p = fy_batch_new (worker, (size_t) max,
                             fy_cfg_int (cfg, section, "batch_ms"),
                             (size_t) credit, fns, arg);
    return worker;
}

void
fy_batch_destroy (fy_batch_t **self_p)
{
    assert (self_p);
    fy_batch_t *self = *self_p;
    if (!self)
        return;
    if (self->timer >= 0)
        zloop_timer_end (fy_worker_loop (self->worker), self->timer);
    free (self->deliveries);
    free (self->events);
    free (self->out);
    free (self->out_events);
    free (self);
    *self_p = NULL;
}

void
fy_batch_flush (fy_batch_t *self)
{
    assert (self);
    if (self->timer >= 0) {
        zloop_timer_end (fy_worker_loop (self->worker), self->timer);
        self->timer = -1;
    }
    if (self->count == 0) {
        self->due = false;
        return;
    }
    if (self->fns.busy && self->fns.busy (self->arg)) {
        if (!self->due)
            fy_log_debug ("batch: %zu decoded, waits for a commit in flight",
                          self->count);
        self->due = true;
        return;
    }
    size_t count = self->count < self->max ? self->count : self->max;
    memcpy (self->out, self->deliveries, count * sizeof *self->out);
    memcpy (self->out_events, self->events, count * sizeof *self->out_events);
    self->count -= count;
    memmove (self->deliveries, self->deliveries + count,
             self->count * sizeof *self->deliveries);
    memmove (self->events, self->events + count,
             self->count * sizeof *self->events);
    //  What is left has waited already: it goes at the next flush.
    self->due = self->count > 0;
    self->fns.flush (self->out, self->out_events, count, self->arg);
    //  A full batch more goes at once to an owner that can take it (a
    //  second connection of its own).
    if (self->count >= self->max && self->fns.busy
        && !self->fns.busy (self->arg))
        fy_batch_flush (self);
}

void
fy_batch_set_ready (fy_batch_t *self, bool ready)
{
    assert (self);
    self->ready = ready;
}

bool
fy_batch_is_due (fy_batch_t *self)
{
    assert (self);
    return self->due || self->count >= self->max;
}

size_t
fy_batch_size (fy_batch_t *self)
{
    assert (self);
    return self->count;
}
