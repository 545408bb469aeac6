/*  analytics: ingest and jobs. Deliveries gather in one open batch until
    batch_max of them or batch_ms after the first; the batch is then sent
    to the store (fy_store_analytics_apply_start: one transaction, its
    ids, a COPY of its facts and the rest flown without waiting) and the
    loop goes on receiving and decoding the next one while PostgreSQL
    applies and commits it. The store's socket is watched in the
    worker's loop; when the COMMIT has answered, every delivery of that
    batch is ACKed, never before. One batch is in flight per connection,
    on analytics.connections lanes: a batch waits, full, for a lane to
    land.

    What can be retried and what cannot: an event that does not decode,
    or whose values the database refuses (SQLSTATE class 22 or 23), can
    never be applied and is NACKed permanently. The transaction does not
    say which event of a refused batch is at fault, so the batch is then
    applied event by event, each in its own transaction (rare; it
    blocks). Anything else (the database down, a server error) is NACKed
    retryable, the whole batch.

    The database may be down at start or go later: the worker keeps
    running, says so once in its log and on /analytics/health, NACKs new
    deliveries retryable at once, and probes with the store's backoff
    until it is back (and its schema current).

    The rollup jobs run on a thread of their own (analytics_jobs.c). */
#include "analytics.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define S_HOUR_MS INT64_C (3600000)
//  Most conflicts logged one by one per batch; the rest are counted.
#define S_CONFLICTS_LOGGED FY_STORE_ANALYTICS_CONFLICTS_KEPT

//  The store went down or came back (fy_store_watch).
static void
s_store_changed (bool ready, void *arg)
{
    analytics_t *self = arg;
    fy_metric_set (self->ready_gauge, ready ? 1 : 0);
    //  Before the batch exists, fy_batch_worker_new's caller tells it.
    if (self->batch)
        fy_batch_set_ready (self->batch, ready);
}

//  The first lane's flight has the connection the watch probes; it lands
//  soon and says how it went.
static bool
s_first_busy (void *arg)
{
    analytics_t *self = arg;
    return fy_store_append_is_busy (self->lanes [0].store);
}

//  Every lane has a flight: a batch waits for one to land.
static bool
s_lanes_busy (void *arg)
{
    analytics_t *self = arg;
    return fy_store_lanes_free (self->stores) < 0;
}

//  Answer count deliveries alike: ACK (outcome 0), NACK retryable (1) or
//  for good (-1) with reason.
static void
s_answer (analytics_t *self, fy_delivery_t **deliveries, size_t count,
          int outcome, const char *reason)
{
    for (size_t i = 0; i < count; i++) {
        if (outcome == 0)
            fy_worker_ack (self->worker, &deliveries [i]);
        else
            fy_worker_nack (self->worker, &deliveries [i], outcome > 0, reason);
    }
}

static void
s_counted (analytics_t *self, const fy_store_analytics_batch_t *batch)
{
    self->applied += batch->applied;
    fy_metric_add (self->applied_total, (double) batch->applied);
    fy_metric_add (self->duplicates_total, (double) batch->duplicates);
    fy_metric_add (self->conflicts_total, (double) batch->conflicts);
    for (size_t i = 0; i < batch->conflicts && i < S_CONFLICTS_LOGGED; i++)
        fy_log_warn ("analytics: id=%s conflict: a copy with another body "
                     "not applied; occurredAt applied %s, refused %s",
                     batch->conflict [i].id, batch->conflict [i].stored_at,
                     batch->conflict [i].new_at);
    if (batch->conflicts > S_CONFLICTS_LOGGED)
        fy_log_warn ("analytics: %zu more conflicts in the same batch",
                     batch->conflicts - S_CONFLICTS_LOGGED);
}

//  The outcome rc (errno, err) of applying deliveries [0, count) on the
//  lane's store: answer them. On a refused value, once more event by
//  event (alone, blocking) to find the ones at fault.
static void
s_outcome (analytics_lane_t *lane, fy_delivery_t **deliveries,
           fy_event_t **events, size_t count, bool alone, int rc,
           const fy_store_analytics_batch_t *batch, fy_error_t *err)
{
    analytics_t *self = lane->owner;
    if (rc == 0) {
        s_counted (self, batch);
        s_answer (self, deliveries, count, 0, NULL);
    }
    else if (errno == EINVAL && !alone) {
        fy_log_warn ("analytics: batch of %zu refused (%s); applying its "
                     "events one by one to find the ones at fault",
                     count, err->text);
        for (size_t i = 0; i < count; i++) {
            fy_store_analytics_batch_t one;
            fy_error_t one_err = { "" };
            int one_rc = fy_store_analytics_apply (lane->store, events + i, 1,
                                                   &one, &one_err);
            s_outcome (lane, deliveries + i, events + i, 1, true, one_rc, &one,
                       &one_err);
        }
    }
    else if (errno == EINVAL) {
        fy_log_warn ("analytics: event=%s refused by the database, NACKed "
                     "for good: %s",
                     fy_event_id (events [0]), err->text);
        fy_metric_inc (self->rejected_store);
        char reason [96];
        const char *state = fy_store_sqlstate (lane->store);
        snprintf (reason, sizeof reason,
                  "store_refused: the analytics database refused a value "
                  "(SQLSTATE %s)",
                  *state ? state : "?");
        s_answer (self, deliveries, count, -1, reason);
    }
    else {
        if (fy_store_is_connected (lane->store))
            fy_log_warn ("analytics: batch of %zu not applied, NACKed for "
                         "retry: %s",
                         count, err->text);
        else
            fy_store_watch_down (self->watch, errno, err);
        s_answer (self, deliveries, count, 1, "store_unavailable");
    }
}

//  A lane's flight landed (fy_store_lanes): answer it and send what
//  waits.
static void
s_landed (int rc, size_t applied, fy_error_t *err, void *arg)
{
    (void) applied;
    analytics_lane_t *lane = arg;
    analytics_t *self = lane->owner;
    if (rc == 0)
        fy_metric_observe (self->batch_seconds,
                           (double) (fy_clock_mono_ms () - lane->started_ms)
                               / 1000.0);
    s_outcome (lane, lane->flight, lane->flight_events, lane->flight_count,
               false, rc, &lane->batch, err);
    lane->flight_count = 0;
    if (fy_batch_is_due (self->batch))
        fy_batch_flush (self->batch);
}

//  A batch to apply (fy_batch): sent to the store on a free lane
//  (fy_batch asks s_lanes_busy first), the loop goes on while it commits.
static void
s_write (fy_delivery_t **deliveries, fy_event_t **events, size_t count,
         void *arg)
{
    analytics_t *self = arg;
    int free_lane = fy_store_lanes_free (self->stores);
    assert (free_lane >= 0);
    analytics_lane_t *lane = &self->lanes [free_lane];
    memcpy (lane->flight, deliveries, count * sizeof *deliveries);
    memcpy (lane->flight_events, events, count * sizeof *events);
    lane->flight_count = count;
    lane->started_ms = fy_clock_mono_ms ();
    fy_store_analytics_apply_start (lane->store, lane->flight_events, count,
                                    &lane->batch);
    fy_store_lanes_started (self->stores, lane->index);
}

//  Apply all that is gathered (it never holds more than the credit).
static void
s_flush (analytics_t *self)
{
    while (fy_batch_size (self->batch) > 0)
        fy_batch_flush (self->batch);
}

//  ---------------------------------------------------------------------
//  Construction

static void
s_metrics_new (analytics_t *self)
{
    fy_metrics_t *m = self->metrics = fy_metrics_new ();
    self->ready_gauge = fy_metrics_gauge (
        m, "ferry_analytics_ready",
        "1 when the database is reachable with a current schema", NULL);
    fy_metric_set (self->ready_gauge, 1);
    const char *help = "events handled, by outcome";
    self->applied_total =
        fy_metrics_counter (m, "ferry_analytics_events_total", help,
                            (const char *[]) { "outcome", "applied", NULL });
    self->duplicates_total =
        fy_metrics_counter (m, "ferry_analytics_events_total", help,
                            (const char *[]) { "outcome", "duplicate", NULL });
    self->conflicts_total = fy_metrics_counter (
        m, "ferry_analytics_conflicts_total",
        "copies of an applied event id whose body differs, not applied", NULL);
    help = "events NACKed for good, by why";
    self->rejected_undecodable =
        fy_metrics_counter (m, "ferry_analytics_rejected_total", help,
                            (const char *[]) { "reason", "undecodable", NULL });
    self->rejected_store = fy_metrics_counter (
        m, "ferry_analytics_rejected_total", help,
        (const char *[]) { "reason", "store_refused", NULL });
    static const double s_bounds [] = { 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,  1,     2.5,  10 };
    self->batch_seconds =
        fy_metrics_histogram (m, "ferry_analytics_batch_seconds",
                              "time from BEGIN to COMMIT of one batch", NULL,
                              s_bounds, sizeof s_bounds / sizeof *s_bounds);
    help = "rollup jobs asked for, by outcome (skipped: run by another "
           "process)";
    self->jobs_ran =
        fy_metrics_counter (m, "ferry_analytics_jobs_total", help,
                            (const char *[]) { "outcome", "ran", NULL });
    self->jobs_skipped =
        fy_metrics_counter (m, "ferry_analytics_jobs_total", help,
                            (const char *[]) { "outcome", "skipped", NULL });
    self->jobs_failed =
        fy_metrics_counter (m, "ferry_analytics_jobs_total", help,
                            (const char *[]) { "outcome", "failed", NULL });
    self->job_seconds = fy_metrics_gauge (
        m, "ferry_analytics_job_seconds",
        "duration of the last rollup job this process ran", NULL);
}

analytics_t *
analytics_new (fy_cfg_t *cfg, fy_error_t *err)
{
    assert (cfg);
    bool bad_config = false;
    analytics_t *self = fy_xcalloc (1, sizeof *self);
    self->cfg = cfg;
    s_metrics_new (self);
    int version = 0, down_errno = 0;
    fy_error_t down = { "" };
    fy_store_t *first = fy_store_open (cfg, &version, &down_errno, &down, err);
    if (!first) {
        bad_config = true;
        goto fail;
    }
    //  The other lanes connect at their first batch.
    const char *url = fy_cfg_str (cfg, "store", "database_url");
    int timeout = (int) fy_cfg_int (cfg, "store", "connect_timeout_s");
    size_t batch_max = (size_t) fy_cfg_int (cfg, "analytics", "batch_max");
    self->lane_count = (size_t) fy_cfg_int (cfg, "analytics", "connections");
    self->stores = fy_store_lanes_new (first, url, timeout, self->lane_count);
    self->lanes = fy_xcalloc (self->lane_count, sizeof *self->lanes);
    for (size_t i = 0; i < self->lane_count; i++)
        self->lanes [i] = (analytics_lane_t) {
            .owner = self,
            .index = i,
            .store = fy_store_lanes_store (self->stores, i),
            .flight = fy_xcalloc (batch_max, sizeof (fy_delivery_t *)),
            .flight_events = fy_xcalloc (batch_max, sizeof (fy_event_t *)),
        };
    self->api_store = fy_store_new (url, timeout);
    fy_store_require_schema (self->api_store, FY_STORE_SCHEMA_VERSION);
    const fy_store_watch_fns_t watch_fns = { s_first_busy, s_store_changed };
    self->watch = fy_store_watch_new (first, "analytics", &watch_fns, self);
    if (down_errno)
        fy_store_watch_down (self->watch, down_errno, &down);
    const fy_batch_fns_t fns = { s_write, s_lanes_busy, "analytics",
                                 self->rejected_undecodable };
    self->worker = fy_batch_worker_new (cfg, "analytics", "analytics", &fns,
                                        self, &self->batch, err);
    if (!self->worker) {
        bad_config = true;
        goto fail;
    }
    fy_batch_set_ready (self->batch, fy_store_watch_is_ready (self->watch));
    fy_worker_on_request (self->worker, analytics_api_request, self);
    if (!down_errno)
        fy_log_notice ("analytics: schema version %d, batches of %lld or "
                       "%lld ms",
                       version,
                       (long long) fy_cfg_int (cfg, "analytics", "batch_max"),
                       (long long) fy_cfg_int (cfg, "analytics", "batch_ms"));
    return self;
fail:
    analytics_destroy (&self);
    errno = bad_config ? EINVAL : EIO;
    return NULL;
}

void
analytics_destroy (analytics_t **self_p)
{
    assert (self_p);
    analytics_t *self = *self_p;
    if (!self)
        return;
    fy_batch_destroy (&self->batch);
    fy_store_watch_destroy (&self->watch);
    fy_worker_destroy (&self->worker);
    fy_store_lanes_destroy (&self->stores);
    for (size_t i = 0; self->lanes && i < self->lane_count; i++) {
        free (self->lanes [i].flight);
        free (self->lanes [i].flight_events);
    }
    free (self->lanes);
    fy_store_destroy (&self->api_store);
    fy_metrics_destroy (&self->metrics);
    free (self);
    *self_p = NULL;
}

int
analytics_run (analytics_t *self)
{
    assert (self);
    zloop_t *loop = fy_worker_loop (self->worker);
    fy_store_watch_attach (self->watch, loop);
    void **args = fy_xcalloc (self->lane_count, sizeof *args);
    for (size_t i = 0; i < self->lane_count; i++)
        args [i] = &self->lanes [i];
    fy_store_lanes_attach (self->stores, loop, s_landed, args);
    free (args);
    analytics_jobs_start (self);
    int rc = fy_worker_run (self->worker);
    //  The drain waited for the batches in hand (the flights' sockets and
    //  the open batch's timer kept the loop going); what is still in hand
    //  ran out of stop_timeout_ms: land the flights, then apply the rest,
    //  blocking.
    fy_store_lanes_detach (self->stores);
    s_flush (self);
    fy_worker_flush (self->worker);
    fy_store_watch_detach (self->watch);
    //  The job in progress, if any, is finished first.
    analytics_jobs_stop (self);
    fy_log_notice ("analytics: stopped; %llu events applied, %.0f refused",
                   (unsigned long long) self->applied,
                   fy_metric_value (self->rejected_store)
                       + fy_metric_value (self->rejected_undecodable));
    return rc;
}
