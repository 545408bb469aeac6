/*  audit: ingest. Deliveries gather in one open batch until batch_max of
    them or batch_ms after the first; the batch is then sent to the store
    (fy_store_audit_append_start: one transaction) and the loop goes on
    receiving and decoding the next one while PostgreSQL copies and
    commits it. The store's socket is watched in the worker's loop; when
    the COMMIT has answered, every delivery of that batch is ACKed, in
    order, and only then (never before it is durable). One batch is in
    flight per connection (libpq runs one COPY on each), on
    audit.connections lanes: a batch waits, full, for a lane to land.

    Two lanes writing one id at once (a redelivery racing its first copy)
    meet in PostgreSQL: the second waits for the first's COMMIT, then
    finds the id stored. Two such ids crossed between two batches can
    deadlock; PostgreSQL ends one of them (40P01, after deadlock_timeout),
    which is NACKed for retry like any server error.

    What can be retried and what cannot: an event that does not decode,
    or that the database refuses for its values (a data error, SQLSTATE
    class 22 or 23), can never be written and is NACKed permanently, with
    its reason, alone: its batch is split in halves until it stands alone
    (s_bisect), and its batch-mates are stored and ACKed. Anything else
    (the database down, a server error) is the database's fault, not the
    events': NACKed retryable.

    The database may be down at start or go away later: the worker keeps
    running, says so once in its log and on /audit/health, NACKs new
    deliveries retryable at once (the broker keeps the work, this process
    holds none), and probes with the store's backoff until it is back.
    Every connection checks the schema version (fy_store_require_schema):
    an old or missing schema is fatal at start, and after an outage it
    keeps the worker not ready, writing nothing, until it is migrated. */
#include "audit.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Housekeeping runs every audit.digest_interval_ms: the tamper-evidence
//  digests (s_digest_tick) each time, partitions ahead at most this often
//  (they are made months ahead, and the check costs a round trip).
#define S_PARTITIONS_EVERY_MS 3600000

static void
s_housekeep (audit_t *self);

//  The store went down or came back (fy_store_watch).
static void
s_store_changed (bool ready, void *arg)
{
    audit_t *self = arg;
    fy_metric_set (self->ready_gauge, ready ? 1 : 0);
    //  Before the batch exists, fy_batch_worker_new's caller tells it.
    if (self->batch)
        fy_batch_set_ready (self->batch, ready);
    //  The partitions and digests it missed.
    if (ready)
        s_housekeep (self);
}

//  The first lane's flight has the connection the watch probes and
//  housekeeping uses; it lands soon and says how it went.
static bool
s_first_busy (void *arg)
{
    audit_t *self = arg;
    return fy_store_append_is_busy (self->lanes [0].store);
}

//  Every lane has a flight: a batch waits for one to land.
static bool
s_lanes_busy (void *arg)
{
    audit_t *self = arg;
    return fy_store_lanes_free (self->stores) < 0;
}

//  The hourly tamper-evidence digests (fy_audit_digest): every closed hour
//  past the grace period gets its chained, HMAC-signed digest. Run from
//  housekeeping, between batches, on the first lane's connection. Without
//  a key (store.digest_key) there is nothing to sign with: skipped, and
//  said once at start.
static void
s_digest_tick (audit_t *self)
{
    const char *key = fy_cfg_str (self->cfg, "store", "digest_key");
    if (!key || !*key)
        return;
    size_t digested = 0;
    fy_error_t err = { "" };
    int grace = (int) fy_cfg_int (self->cfg, "store", "digest_grace_s");
    if (fy_audit_digest_run (self->lanes [0].store, fy_clock_wall_ms (), grace,
                             key, &digested, &err))
        fy_log_warn ("audit: digests: %s", err.text);
    else if (digested)
        fy_log_info ("audit: %zu hourly digests written", digested);
}

static int
s_on_house_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    audit_t *self = arg;
    //  It shares the first lane's connection: after its landing.
    if (s_first_busy (self))
        self->house_due = true;
    else
        s_housekeep (self);
    return 0;
}

static void
s_housekeep (audit_t *self)
{
    self->house_due = false;
    //  The watch runs it when the database is back.
    if (!fy_store_watch_is_ready (self->watch))
        return;
    int64_t now = fy_clock_mono_ms ();
    if (self->partitions_at == 0
        || now - self->partitions_at >= S_PARTITIONS_EVERY_MS) {
        fy_error_t err = { "" };
        int created = 0;
        int ahead = (int) fy_cfg_int (self->cfg, "store", "partitions_ahead");
        if (fy_store_ensure_partitions (self->lanes [0].store, ahead, &created,
                                        &err))
            fy_log_warn ("audit: partitions not checked: %s", err.text);
        else {
            self->partitions_at = now;
            if (created)
                fy_log_notice ("audit: created %d partitions", created);
        }
    }
    s_digest_tick (self);
}

//  Answer deliveries from..to of the lane's flight the same way.
static void
s_answer (audit_lane_t *lane, size_t from, size_t to, int outcome,
          const char *reason)
{
    fy_worker_t *worker = lane->owner->worker;
    for (size_t i = from; i < to; i++) {
        if (!lane->flight [i])
            continue;
        if (outcome == 0)
            fy_worker_ack (worker, &lane->flight [i]);
        else
            fy_worker_nack (worker, &lane->flight [i], outcome > 0, reason);
    }
}

//  Most conflicts logged one by one per append; the rest are counted.
#define S_CONFLICTS_LOGGED 10

void
audit_conflicts (audit_t *self, fy_store_t *store)
{
    const fy_store_conflict_t *list = NULL;
    size_t count = fy_store_audit_conflicts (store, &list);
    fy_metric_add (self->conflicts, (double) count);
    for (size_t i = 0; i < count && i < S_CONFLICTS_LOGGED; i++)
        fy_log_warn ("audit: id=%s conflict: a copy with other %s not "
                     "stored; occurredAt stored %s, refused %s",
                     list [i].id, list [i].fields, list [i].stored_at,
                     list [i].new_at);
    if (count > S_CONFLICTS_LOGGED)
        fy_log_warn ("audit: %zu more conflicts in the same batch",
                     count - S_CONFLICTS_LOGGED);
}

//  Deliveries from..to of the lane's flight were not written (errnum,
//  err) for a reason that is not theirs: NACK them retryable. A database
//  gone is said once, by the watch; a server error for each batch.
static void
s_retry (audit_lane_t *lane, size_t from, size_t to, int errnum,
         const fy_error_t *err)
{
    if (!fy_store_is_connected (lane->store))
        fy_store_watch_down (lane->owner->watch, errnum, err);
    else
        fy_log_warn ("audit: batch of %zu not written, NACKed for retry: %s",
                     to - from, err->text);
    s_answer (lane, from, to, 1, "store_unavailable");
}

//  Delivery i of the lane's flight can never be written: the database
//  refused its values alone (err). NACKed permanently, counted, logged
//  with its id and the database's words; the reason it travels with (to
//  the DLQ's ferry-reason, to the 422 of POST /events) names the SQLSTATE
//  only.
static void
s_reject (audit_lane_t *lane, size_t i, const fy_error_t *err)
{
    const char *state = fy_store_sqlstate (lane->store);
    char reason [96];
    snprintf (reason, sizeof reason,
              "store_refused: the audit database "
              "refused a value (SQLSTATE %s)",
              *state ? state : "?");
    fy_log_warn ("audit: event=%s refused by the database, NACKed for "
                 "good: %s",
                 fy_event_id (lane->flight_events [i]), err->text);
    fy_metric_inc (lane->owner->rejected_store);
    s_answer (lane, i, i + 1, -1, reason);
}

static void
s_bisect (audit_lane_t *lane, size_t from, size_t to, const fy_error_t *err);

//  Write deliveries from..to of the lane's flight in a transaction of
//  their own (blocking) and answer them.
static void
s_write_part (audit_lane_t *lane, size_t from, size_t to)
{
    fy_error_t err = { "" };
    size_t inserted = 0;
    if (fy_store_audit_append (lane->store, lane->flight_events + from,
                               to - from, &inserted, &err)
        == 0) {
        lane->owner->written += inserted;
        audit_conflicts (lane->owner, lane->store);
        s_answer (lane, from, to, 0, NULL);
    }
    else if (errno == EINVAL)
        s_bisect (lane, from, to, &err);
    else
        s_retry (lane, from, to, errno, &err);
}

//  Deliveries from..to were refused together for a value (err): one of
//  them at least is at fault, the transaction does not say which. Halves
//  are written alone until the bad ones stand alone: about 2 log2(n)
//  transactions for one bad event among n, where writing one by one
//  would take n, all blocking the loop (rare, so it blocks).
static void
s_bisect (audit_lane_t *lane, size_t from, size_t to, const fy_error_t *err)
{
    if (to - from == 1) {
        s_reject (lane, from, err);
        return;
    }
    size_t middle = from + (to - from) / 2;
    s_write_part (lane, from, middle);
    s_write_part (lane, middle, to);
}

//  The lane's flight's outcome is rc (errno, err): answer its deliveries.
static void
s_land (audit_lane_t *lane, int rc, size_t inserted, fy_error_t *err)
{
    size_t count = lane->flight_count;
    if (rc == 0) {
        lane->owner->written += inserted;
        fy_log_debug ("audit: batch of %zu committed, %zu new", count,
                      inserted);
        audit_conflicts (lane->owner, lane->store);
        s_answer (lane, 0, count, 0, NULL);
    }
    else if (errno == EINVAL) {
        if (count > 1)
            fy_log_warn ("audit: batch of %zu refused (%s); splitting it "
                         "to find the events at fault",
                         count, err->text);
        s_bisect (lane, 0, count, err);
    }
    else
        s_retry (lane, 0, count, errno, err);
    lane->flight_count = 0;
}

//  A lane's flight landed (fy_store_lanes): answer it and send what
//  waits.
static void
s_landed (int rc, size_t inserted, fy_error_t *err, void *arg)
{
    audit_lane_t *lane = arg;
    audit_t *self = lane->owner;
    s_land (lane, rc, inserted, err);
    if (self->house_due && !s_first_busy (self))
        s_housekeep (self);
    if (fy_batch_is_due (self->batch))
        fy_batch_flush (self->batch);
}

//  A batch to write (fy_batch): sent to the store on a free lane (fy_batch
//  asks s_lanes_busy first), the loop goes on while it commits.
static void
s_write (fy_delivery_t **deliveries, fy_event_t **events, size_t count,
         void *arg)
{
    audit_t *self = arg;
    int free_lane = fy_store_lanes_free (self->stores);
    assert (free_lane >= 0);
    audit_lane_t *lane = &self->lanes [free_lane];
    memcpy (lane->flight, deliveries, count * sizeof *deliveries);
    memcpy (lane->flight_events, events, count * sizeof *events);
    lane->flight_count = count;
    fy_store_audit_append_start (lane->store, lane->flight_events, count);
    fy_store_lanes_started (self->stores, (size_t) free_lane);
}

static void
s_metrics_new (audit_t *self)
{
    fy_metrics_t *m = self->metrics = fy_metrics_new ();
    const char *help = "events NACKed for good, by why";
    self->rejected_undecodable =
        fy_metrics_counter (m, "ferry_audit_rejected_total", help,
                            (const char *[]) { "reason", "undecodable", NULL });
    self->rejected_store = fy_metrics_counter (
        m, "ferry_audit_rejected_total", help,
        (const char *[]) { "reason", "store_refused", NULL });
    self->ready_gauge = fy_metrics_gauge (
        m, "ferry_audit_ready",
        "1 when the database is reachable with a current schema", NULL);
    fy_metric_set (self->ready_gauge, 1);
    self->conflicts = fy_metrics_counter (
        m, "ferry_audit_conflicts_total",
        "copies of a stored event id whose content differs from the "
        "stored copy, not stored",
        NULL);
}

audit_t *
audit_new (fy_cfg_t *cfg, fy_error_t *err)
{
    assert (cfg);
    bool bad_config = false;  //  or the schema: exit 2, not 1
    audit_t *self = fy_xcalloc (1, sizeof *self);
    self->cfg = cfg;
    self->house_timer = -1;
    s_metrics_new (self);
    self->batch_max = (size_t) fy_cfg_int (cfg, "audit", "batch_max");
    self->batch_ms = fy_cfg_int (cfg, "audit", "batch_ms");
    //  A database without the current schema is fatal at start; one not
    //  up yet is not: the worker starts without it (the watch). The
    //  other lanes connect at their first batch.
    int version = 0, down_errno = 0;
    fy_error_t down = { "" };
    fy_store_t *first = fy_store_open (cfg, &version, &down_errno, &down, err);
    if (!first) {
        bad_config = true;
        goto fail;
    }
    const char *url = fy_cfg_str (cfg, "store", "database_url");
    int timeout = (int) fy_cfg_int (cfg, "store", "connect_timeout_s");
    self->lane_count = (size_t) fy_cfg_int (cfg, "audit", "connections");
    self->stores = fy_store_lanes_new (first, url, timeout, self->lane_count);
    self->lanes = fy_xcalloc (self->lane_count, sizeof *self->lanes);
    for (size_t i = 0; i < self->lane_count; i++) {
        audit_lane_t *lane = &self->lanes [i];
        lane->owner = self;
        lane->store = fy_store_lanes_store (self->stores, i);
        lane->flight = fy_xcalloc (self->batch_max, sizeof *lane->flight);
        lane->flight_events =
            fy_xcalloc (self->batch_max, sizeof *lane->flight_events);
    }
    self->api_store = fy_store_new (url, timeout);
    const fy_store_watch_fns_t watch_fns = { s_first_busy, s_store_changed };
    self->watch = fy_store_watch_new (first, "audit", &watch_fns, self);
    if (down_errno)
        fy_store_watch_down (self->watch, down_errno, &down);
    self->schema = fy_schema_load (fy_cfg_str (cfg, "events", "schema"), err);
    if (!self->schema)
        goto fail;
    const fy_batch_fns_t fns = { s_write, s_lanes_busy, "audit",
                                 self->rejected_undecodable };
    self->worker = fy_batch_worker_new (cfg, "audit", "audit", &fns, self,
                                        &self->batch, err);
    if (!self->worker) {
        bad_config = true;
        goto fail;
    }
    fy_batch_set_ready (self->batch, fy_store_watch_is_ready (self->watch));
    fy_worker_on_request (self->worker, audit_api_request, self);
    if (!down_errno)
        fy_log_notice ("audit: schema version %d, batches of %zu or %lld ms",
                       version, self->batch_max, (long long) self->batch_ms);
    const char *key = fy_cfg_str (cfg, "store", "digest_key");
    if (!key || !*key)
        fy_log_warn ("audit: no store.digest_key: hourly tamper-evidence "
                     "digests are off");
    return self;
fail:
    audit_destroy (&self);
    errno = bad_config ? EINVAL : EIO;
    return NULL;
}

void
audit_destroy (audit_t **self_p)
{
    assert (self_p);
    audit_t *self = *self_p;
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
    fy_schema_destroy (&self->schema);
    fy_metrics_destroy (&self->metrics);
    free (self);
    *self_p = NULL;
}

int
audit_run (audit_t *self)
{
    assert (self);
    zloop_t *loop = fy_worker_loop (self->worker);
    size_t house_ms =
        (size_t) fy_cfg_int (self->cfg, "audit", "digest_interval_ms");
    self->house_timer = zloop_timer (loop, house_ms, 0, s_on_house_timer, self);
    s_on_house_timer (loop, self->house_timer, self);
    fy_store_watch_attach (self->watch, loop);
    void **args = fy_xcalloc (self->lane_count, sizeof *args);
    for (size_t i = 0; i < self->lane_count; i++)
        args [i] = &self->lanes [i];
    fy_store_lanes_attach (self->stores, loop, s_landed, args);
    free (args);
    int rc = fy_worker_run (self->worker);
    //  The drain waited for the batches in hand (the flight's socket and
    //  the open batch's timer kept the loop going); what is still in hand
    //  here ran out of stop_timeout_ms: land the flights, then write the
    //  rest, blocking.
    fy_store_lanes_detach (self->stores);
    fy_batch_flush (self->batch);
    fy_worker_flush (self->worker);
    zloop_timer_end (loop, self->house_timer);
    fy_store_watch_detach (self->watch);
    fy_log_notice ("audit: stopped; %llu rows written, %.0f events refused",
                   (unsigned long long) self->written,
                   fy_metric_value (self->rejected_store)
                       + fy_metric_value (self->rejected_undecodable));
    return rc;
}
