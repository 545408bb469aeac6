/*  notify: ingest, the sweep and the ledger's state.

    An event becomes notifications (notification.requested carries its
    own; a domain event those its rules ask for), which are recorded in
    the ledger in one transaction with the event's id (fy_ledger_record):
    a redelivered event records nothing and finds what it recorded. The
    broker's delivery is then held while this process sends the ones it
    could claim, and answered when they settle: ACK, or NACK for good with
    the reason when one failed, so the source puts it in its DLQ. The
    ones it could not claim (held for quiet hours, due later, or claimed
    by another live process) are the ledger's from then on: the delivery
    is ACKed for them.

    The sweep (notify.sweep_ms) claims what is due and nobody holds:
    held notifications whose quiet hours ended, those sent through the
    API, and those a dead process left (its claims' leases ran out).

    The database may be down at start or go away later: the worker keeps
    running, says so once in its log and on /notifications/health, NACKs
    deliveries retryable meanwhile and probes until it is back, as
    ferry-audit does. */
#include "notify.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  The most notifications one event may ask for through the rules.
#define S_MATCHES_MAX 16

//  ---------------------------------------------------------------------
//  The ledger's state

void
notify_store_failed (notify_t *self, int errnum, const fy_error_t *err)
{
    //  A refused value or a lost claim is the row's business, not the
    //  database's: it stays ready.
    if (errnum == EINVAL || errnum == ENOENT
        || fy_store_is_connected (self->store))
        return;
    fy_store_watch_down (self->watch, errnum, err);
}

//  The ledger's database went down or came back (fy_store_watch).
static void
s_store_changed (bool ready, void *arg)
{
    notify_t *self = arg;
    fy_metric_set (self->ready_gauge, ready ? 1 : 0);
}

//  ---------------------------------------------------------------------
//  Jobs

bool
notify_is_critical (notify_t *self, const char *category)
{
    for (size_t i = 0; category && i < self->critical_count; i++)
        if (strcmp (category, self->critical [i]) == 0)
            return true;
    return false;
}

//  Start a claimed job for origin (may be NULL).
static void
s_job_start (notify_t *self, fy_ledger_job_t *claimed, notify_origin_t *origin)
{
    notify_job_t *job = fy_xcalloc (1, sizeof *job);
    job->owner = self;
    job->job = claimed;
    job->origin = origin;
    job->timer = -1;
    fy_list_init (&job->node);
    fy_list_init (&job->wait);
    fy_list_push_back (&self->jobs, &job->node);
    self->held++;
    if (origin)
        origin->pending++;
    notify_send (job);
}

size_t
notify_start (notify_t *self, fy_ledger_entry_t *entries, size_t count,
              notify_origin_t *origin)
{
    size_t started = 0;
    for (size_t i = 0; i < count; i++) {
        fy_ledger_entry_t *entry = &entries [i];
        if (entry->job) {
            //  Claimed as it was recorded.
            s_job_start (self, entry->job, origin);
            entry->job = NULL;
            started++;
            continue;
        }
        if ((entry->status != FY_LEDGER_QUEUED
             && entry->status != FY_LEDGER_SENDING)
            || !entry->id [0])
            continue;
        fy_ledger_job_t *claimed = NULL;
        fy_error_t err = { "" };
        if (fy_ledger_claim (self->store, entry->id, self->owner, self->lease_s,
                             &claimed, &err)) {
            //  Still queued in the ledger: the sweep has it later.
            fy_log_warn ("notify: delivery=%s not claimed: %s", entry->id,
                         err.text);
            notify_store_failed (self, errno, &err);
            continue;
        }
        if (!claimed)
            continue;  //  not due yet, or another process's
        s_job_start (self, claimed, origin);
        started++;
    }
    return started;
}

//  A job that is done: unlink and free it.
void
notify_job_destroy (notify_job_t **job_p)
{
    notify_job_t *job = *job_p;
    if (!job)
        return;
    notify_t *self = job->owner;
    if (job->timer >= 0)
        zloop_timer_end (fy_worker_loop (self->worker), job->timer);
    if (job->waiting)
        fy_list_unlink (&job->wait);
    if (job->sending) {
        for (size_t i = 0; i < job->call_count; i++)
            notify_provider_cancel (job->provider, job->calls [i]);
        self->sending--;
        notify_send_waiting (self);
    }
    notify_token_cancel (job->token);
    notify_rendered_free (&job->rendered);
    notify_job_clear_tokens (job);
    fy_list_unlink (&job->node);
    self->held--;
    fy_ledger_job_destroy (&job->job);
    free (job);
    *job_p = NULL;
}

void
notify_count_recorded (notify_t *self, const fy_ledger_entry_t *entries,
                       size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!entries [i].created)
            continue;
        //  Claimed as it was recorded: it was queued, for an instant.
        fy_ledger_status_t status = entries [i].status == FY_LEDGER_SENDING
                                        ? FY_LEDGER_QUEUED
                                        : entries [i].status;
        fy_metric_inc (self->settled [status]);
    }
}

//  ---------------------------------------------------------------------
//  The sweep

void
notify_sweep (notify_t *self)
{
    self->sweep_more = false;
    if (!fy_store_watch_is_ready (self->watch) || self->stopping
        || self->held >= self->concurrency)
        return;
    size_t room = self->concurrency - self->held;
    fy_ledger_job_t **claimed = NULL;
    size_t count = 0;
    fy_error_t err = { "" };
    if (fy_ledger_claim_due (self->store, self->owner, self->lease_s, room,
                             &claimed, &count, &err)) {
        fy_log_warn ("notify: sweep: %s", err.text);
        notify_store_failed (self, errno, &err);
        return;
    }
    for (size_t i = 0; i < count; i++)
        s_job_start (self, claimed [i], NULL);
    free (claimed);
    //  A full sweep leaves more behind: sweep again as soon as a send
    //  ends, not a whole period later.
    self->sweep_more = count == room;
}

static int
s_on_sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    notify_sweep (arg);
    return 0;
}

void
notify_sent_one (notify_t *self)
{
    if (self->sweep_more)
        notify_sweep (self);
}

//  ---------------------------------------------------------------------
//  Ingest

//  The first word of a dotted template name: its category (review.x ->
//  review), when the event names none.
static void
s_category (const char *template_name, char *out, size_t size)
{
    snprintf (out, size, "%.*s", (int) strcspn (template_name, "."),
              template_name);
}

//  The SHA-256 of the event's content, to tell a redelivery from another
//  body under the same id.
static void
s_event_hash (fy_event_t *event, unsigned char hash [32])
{
    size_t len = 0;
    char *text = fy_json_dumps (fy_event_json (event), JSON_SORT_KEYS, &len);
    unsigned int size = 32;
    EVP_Digest (text, len, hash, &size, EVP_sha256 (), NULL);
    free (text);
}

void
notify_origin_settle (notify_t *self, notify_origin_t *origin)
{
    if (!origin || origin->pending > 0)
        return;
    if (origin->failed)
        fy_worker_nack (self->worker, &origin->delivery, false, origin->reason);
    else
        fy_worker_ack (self->worker, &origin->delivery);
    free (origin);
}

//  One delivery of a batch the callback got, with the notifications its
//  event asks for.
typedef struct {
    fy_delivery_t *delivery;
    fy_event_t *event;
    fy_ledger_item_t items [S_MATCHES_MAX];
    fy_rules_match_t matches [S_MATCHES_MAX];
    size_t matched;
    bool ruled;  //  matches hold recipients to release
    char categories [S_MATCHES_MAX][64];
    char keys [S_MATCHES_MAX][FY_UUID_SIZE + 80];
} s_pending_t;

//  The ledger failed to record pending's event (errnum, err): NACK it,
//  for good when a value was refused.
static void
s_record_failed (notify_t *self, s_pending_t *pending, int errnum,
                 const fy_error_t *err)
{
    if (errnum == EINVAL) {
        fy_metric_inc (self->rejected);
        fy_log_warn ("notify: event=%s refused by the ledger: %s",
                     fy_event_id (pending->event), err->text);
        fy_worker_nack (self->worker, &pending->delivery, false,
                        "ledger_refused: the notification ledger "
                        "refused a value of this event");
        return;
    }
    fy_log_warn ("notify: event=%s not recorded, NACKed for retry: %s",
                 fy_event_id (pending->event), err->text);
    notify_store_failed (self, errnum, err);
    fy_worker_nack (self->worker, &pending->delivery, true,
                    "store_unavailable");
}

//  The event of pending was recorded (its entries in event): start its
//  notifications; its delivery is answered when they settle.
static void
s_recorded (notify_t *self, s_pending_t *pending, fy_ledger_event_t *event)
{
    if (event->conflict) {
        fy_metric_inc (self->conflicts);
        fy_log_warn ("notify: event=%s conflict: a copy with another body; "
                     "the first is kept",
                     fy_event_id (pending->event));
    }
    notify_count_recorded (self, event->entries, event->entry_count);
    notify_origin_t *origin = fy_xcalloc (1, sizeof *origin);
    origin->delivery = pending->delivery;
    pending->delivery = NULL;
    notify_start (self, event->entries, event->entry_count, origin);
    free (event->entries);
    notify_origin_settle (self, origin);
}

//  Record the events of count pendings in one statement and start their
//  notifications. When the ledger refuses a value, each is recorded alone
//  so that only the one at fault is refused.
static void
s_record (notify_t *self, s_pending_t *pendings, size_t count)
{
    fy_ledger_event_t *events = fy_xcalloc (count, sizeof *events);
    for (size_t i = 0; i < count; i++) {
        events [i].event_id = fy_event_id (pendings [i].event);
        s_event_hash (pendings [i].event, events [i].hash);
        events [i].items = pendings [i].items;
        events [i].count = pendings [i].matched;
    }
    fy_error_t err = { "" };
    if (fy_ledger_record_events (self->store, NULL, self->owner, self->lease_s,
                                 events, count, &err)
        == 0) {
        for (size_t i = 0; i < count; i++)
            s_recorded (self, &pendings [i], &events [i]);
    }
    else if (errno == EINVAL && count > 1) {
        for (size_t i = 0; i < count; i++)
            s_record (self, &pendings [i], 1);
    }
    else {
        int errnum = errno;
        for (size_t i = 0; i < count; i++)
            s_record_failed (self, &pendings [i], errnum, &err);
    }
    free (events);
}

//  notification.requested: one item from its payload.
static size_t
s_requested (notify_t *self, fy_event_t *event, fy_ledger_item_t *item,
             char *category, size_t category_size)
{
    json_t *payload = fy_event_payload (event);
    const char *key =
        json_string_value (json_object_get (payload, "notificationId"));
    item->key = key ? key : fy_event_id (event);
    item->channel = json_string_value (json_object_get (payload, "channel"));
    item->recipient = json_object_get (payload, "recipient");
    item->user_id =
        json_string_value (json_object_get (item->recipient, "userId"));
    item->template_name =
        json_string_value (json_object_get (payload, "template"));
    item->locale = json_string_value (json_object_get (payload, "locale"));
    item->data = json_object_get (payload, "data");
    item->company_id = fy_event_company_id (event);
    s_category (item->template_name, category, category_size);
    item->category = category;
    item->critical = notify_is_critical (self, category);
    const char *after =
        json_string_value (json_object_get (payload, "sendAfter"));
    if (after
        && fy_time_parse (after, strlen (after), false, &item->not_before_ms))
        item->not_before_ms = 0;
    return 1;
}

//  What event asks for, into pending: its one notification
//  (notification.requested) or its rules'. Returns how many.
static size_t
s_pending (notify_t *self, s_pending_t *pending)
{
    fy_event_t *event = pending->event;
    if (strcmp (fy_event_type (event), "notification.requested") == 0)
        return s_requested (self, event, &pending->items [0],
                            pending->categories [0],
                            sizeof pending->categories [0]);
    if (!self->rules)
        return 0;
    size_t matched = fy_rules_match (self->rules, fy_event_json (event),
                                     pending->matches, S_MATCHES_MAX);
    pending->ruled = true;
    for (size_t m = 0; m < matched; m++) {
        fy_ledger_item_t *item = &pending->items [m];
        fy_rules_match_t *match = &pending->matches [m];
        //  One key per event and rule: a redelivery finds it.
        snprintf (pending->keys [m], sizeof pending->keys [m], "%s:%s",
                  fy_event_id (event), match->rule);
        item->key = pending->keys [m];
        item->channel = match->channel;
        item->recipient = match->recipient;
        item->user_id =
            json_string_value (json_object_get (match->recipient, "userId"));
        item->template_name = match->template_name;
        item->locale = match->locale;
        item->data = fy_event_json (event);
        item->company_id = fy_event_company_id (event);
        item->category = match->category;
        item->critical = notify_is_critical (self, item->category);
    }
    return matched;
}

//  A rule's recipient named as a user's manager (recipient.managerOf):
//  the manager the recipient directory gives becomes its userId, before
//  the ledger, so the manager's preferences and quiet hours apply. A user
//  the directory does not know, or without a manager, keeps managerOf
//  and fails when sent (no_manager). Returns 0, or -1 with errno and err
//  when the database failed.
static int
s_managers (notify_t *self, s_pending_t *pending, fy_error_t *err)
{
    for (size_t m = 0; pending->ruled && m < pending->matched; m++) {
        json_t *recipient = pending->matches [m].recipient;
        const char *user =
            json_string_value (json_object_get (recipient, "managerOf"));
        if (!user)
            continue;
        json_t *profile = fy_ledger_directory_get (self->store, user, err);
        if (!profile && errno != ENOENT)
            return -1;
        json_t *manager = json_object_get (profile, "managerId");
        if (json_is_string (manager)) {
            json_object_set (recipient, "userId", manager);
            json_object_del (recipient, "managerOf");
            pending->items [m].user_id = json_string_value (manager);
        }
        json_decref (profile);
    }
    return 0;
}

//  The profile fields user.created and user.updated carry that the
//  directory keeps.
static const char *const s_profile_keys [] = { "email",    "firstName",
                                               "lastName", "displayName",
                                               "locale",   "timezone",
                                               "phone",    "managerId" };

//  user.created, user.updated or user.manager_changed: apply it to the
//  recipient directory. Returns 1, 0 for another type, or -1 with errno
//  and err.
static int
s_directory (notify_t *self, fy_event_t *event, fy_error_t *err)
{
    const char *type = fy_event_type (event);
    bool created = strcmp (type, "user.created") == 0;
    //  user.manager_changed carries managerId at the top, as user.created
    //  does.
    bool at_top = created || strcmp (type, "user.manager_changed") == 0;
    if (!at_top && strcmp (type, "user.updated") != 0)
        return 0;
    json_t *payload = fy_event_payload (event);
    json_t *fields = at_top ? payload : json_object_get (payload, "updates");
    fy_ledger_directory_t entry = {
        .event_id = fy_event_id (event),
        .user_id = json_string_value (json_object_get (payload, "userId")),
        .company_id = fy_event_company_id (event),
        .profile = json_object (),
        .occurred_at = fy_event_occurred_at (event),
    };
    for (size_t i = 0; i < sizeof s_profile_keys / sizeof s_profile_keys [0];
         i++) {
        json_t *value = json_object_get (fields, s_profile_keys [i]);
        if (value)
            json_object_set (entry.profile, s_profile_keys [i], value);
    }
    s_event_hash (event, entry.hash);
    bool applied = false, conflict = false;
    int rc = -1;
    if (!entry.user_id) {
        fy_error_set (err, "%s without a payload.userId", type);
        errno = EINVAL;
    }
    else
        rc = fy_ledger_directory_update (self->store, &entry, &applied,
                                         &conflict, err);
    json_decref (entry.profile);
    if (rc)
        return -1;
    if (conflict) {
        fy_metric_inc (self->conflicts);
        fy_log_warn ("notify: event=%s conflict: a copy with another body; "
                     "the directory keeps the first",
                     fy_event_id (event));
    }
    else if (applied)
        fy_metric_inc (self->directory_updates);
    return 1;
}

static void
s_on_events (fy_worker_t *worker, fy_delivery_t **deliveries, size_t count,
             void *arg)
{
    (void) worker;
    notify_t *self = arg;
    s_pending_t *pendings = fy_xcalloc (count, sizeof *pendings);
    size_t ready = 0;
    for (size_t i = 0; i < count; i++) {
        fy_error_t err = { "" };
        fy_event_t *event = fy_delivery_event (deliveries [i], &err);
        if (!event) {
            fy_metric_inc (self->rejected);
            fy_log_warn ("notify: did=%llu not an event: %s",
                         (unsigned long long) deliveries [i]->did, err.text);
            fy_worker_nack (self->worker, &deliveries [i], false, err.text);
            continue;
        }
        if (!fy_store_watch_is_ready (self->watch)) {
            fy_worker_nack (self->worker, &deliveries [i], true,
                            "store_unavailable");
            continue;
        }
        //  The directory first: a rule's notification for the same
        //  event may need it, and a NACK brings both back.
        int directory = s_directory (self, event, &err);
        if (directory < 0) {
            s_pending_t failed = { .delivery = deliveries [i], .event = event };
            deliveries [i] = NULL;
            s_record_failed (self, &failed, errno, &err);
            continue;
        }
        s_pending_t *pending = &pendings [ready];
        pending->event = event;
        //  matched counts the items, whichever way they came.
        pending->matched = s_pending (self, pending);
        if (s_managers (self, pending, &err)) {
            int errnum = errno;
            for (size_t m = 0; pending->ruled && m < pending->matched; m++)
                json_decref (pending->matches [m].recipient);
            memset (pending, 0, sizeof *pending);
            s_pending_t failed = { .delivery = deliveries [i], .event = event };
            deliveries [i] = NULL;
            s_record_failed (self, &failed, errnum, &err);
            continue;
        }
        if (pending->matched == 0) {
            //  Routed here, but nothing asks for a notification.
            if (!directory)
                fy_metric_inc (self->ignored);
            fy_worker_ack (self->worker, &deliveries [i]);
            memset (pending, 0, sizeof *pending);
            continue;
        }
        pending->delivery = deliveries [i];
        deliveries [i] = NULL;
        ready++;
    }
    if (ready)
        s_record (self, pendings, ready);
    //  The events went with their deliveries' answers.
    for (size_t i = 0; i < ready; i++)
        if (pendings [i].ruled)
            for (size_t m = 0; m < pendings [i].matched; m++)
                json_decref (pendings [i].matches [m].recipient);
    free (pendings);
}

//  ---------------------------------------------------------------------
//  SIGHUP: the rules and templates again

static void
s_reload (notify_t *self)
{
    notify_templates_reload (self->templates);
    const char *path = fy_cfg_str (self->cfg, "notify", "rules_file");
    if (!path || !*path) {
        fy_log_notice ("notify: SIGHUP: templates read again");
        return;
    }
    fy_error_t err = { "" };
    fy_rules_t *rules = fy_rules_load (path, &err);
    if (!rules) {
        fy_log_error ("notify: SIGHUP: %s; the %zu rules loaded before "
                      "stay",
                      err.text, self->rules ? fy_rules_count (self->rules) : 0);
        return;
    }
    fy_rules_destroy (&self->rules);
    self->rules = rules;
    fy_log_notice ("notify: SIGHUP: %zu rules and the templates read again",
                   fy_rules_count (rules));
}

static int
s_on_hangup (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    (void) item;
    notify_t *self = arg;
    int signo;
    bool hup = false;
    while ((signo = fy_signals_next (self->hup_fd)))
        hup = hup || signo == SIGHUP;
    if (hup)
        s_reload (self);
    return 0;
}

//  ---------------------------------------------------------------------
//  Life

static void
s_metrics_new (notify_t *self)
{
    fy_metrics_t *m = self->metrics = fy_metrics_new ();
    for (int s = 0; s < FY_LEDGER_STATUSES; s++)
        self->settled [s] = fy_metrics_counter (
            m, "ferry_notify_deliveries_total",
            "notifications recorded (queued, held, suppressed) and settled "
            "(sent, failed), by status",
            (const char *[]) { "status", fy_ledger_status_name (s), NULL });
    self->attempts = fy_metrics_counter (m, "ferry_notify_attempts_total",
                                         "sends tried with a provider", NULL);
    self->retries = fy_metrics_counter (
        m, "ferry_notify_retries_total",
        "retryable failures that were tried again later", NULL);
    self->conflicts = fy_metrics_counter (
        m, "ferry_notify_conflicts_total",
        "events whose id was stored with another body (the first kept)", NULL);
    self->rejected = fy_metrics_counter (
        m, "ferry_notify_rejected_total",
        "events NACKed for good: not events, or refused by the ledger", NULL);
    self->ignored = fy_metrics_counter (
        m, "ferry_notify_ignored_total",
        "events no rule asks a notification for (and not for the directory)",
        NULL);
    self->directory_updates = fy_metrics_counter (
        m, "ferry_notify_directory_updates_total",
        "user.created, user.updated and user.manager_changed applied to the "
        "recipient directory "
        "(redeliveries not counted)",
        NULL);
    self->unknown_recipients = fy_metrics_counter (
        m, "ferry_notify_unknown_recipients_total",
        "notifications failed because the directory does not know their "
        "user (or, for a manager, the user's manager), or a push's user "
        "has no live device",
        NULL);
    self->device_registrations = fy_metrics_counter (
        m, "ferry_notify_device_registrations_total",
        "push device tokens registered (PUT /notifications/devices), new or "
        "again",
        NULL);
    self->ready_gauge = fy_metrics_gauge (
        m, "ferry_notify_ready",
        "1 when the ledger's database is reachable with a current schema",
        NULL);
    self->dead_tokens = fy_metrics_counter (
        m, "ferry_notify_dead_tokens_total",
        "device tokens FCM or SNS called gone, never sent to again", NULL);
    self->sending_gauge = fy_metrics_gauge (
        m, "ferry_notify_sending", "notifications with a provider now", NULL);
    fy_metric_set (self->ready_gauge, 1);
}

char *
notify_metrics (notify_t *self)
{
    fy_metrics_process (self->metrics);
    fy_metric_set (self->sending_gauge, (double) self->sending);
    return fy_metrics_render (self->metrics);
}

notify_t *
notify_new (fy_cfg_t *cfg, fy_error_t *err)
{
    assert (cfg);
    bool bad_config = false;
    notify_t *self = fy_xcalloc (1, sizeof *self);
    self->cfg = cfg;
    self->sweep_timer = self->settle_timer = -1;
    //  SIGHUP reloads: blocked before any thread starts (libzmq's, curl's),
    //  so none takes its default action, and read through a signalfd of
    //  its own; SIGTERM and SIGINT stay the worker's (fy_worker_new).
    sigset_t hangup;
    sigemptyset (&hangup);
    sigaddset (&hangup, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &hangup, NULL);
    self->hup_fd = signalfd (-1, &hangup, SFD_NONBLOCK | SFD_CLOEXEC);
    if (self->hup_fd < 0) {
        fy_error_set (err, "signalfd: %s", strerror (errno));
        goto fail;
    }
    fy_list_init (&self->jobs);
    fy_list_init (&self->waiting);
    s_metrics_new (self);
    self->concurrency = (size_t) fy_cfg_int (cfg, "notify", "concurrency");
    self->max_attempts = (int) fy_cfg_int (cfg, "notify", "max_attempts");
    self->lease_s = (int) fy_cfg_int (cfg, "notify", "lease_s");
    self->backoff_base_ms = fy_cfg_int (cfg, "notify", "backoff_base_ms");
    self->backoff_max_ms = fy_cfg_int (cfg, "notify", "backoff_max_ms");
    char host [64] = "";
    gethostname (host, sizeof host - 1);
    snprintf (self->owner, sizeof self->owner, "%s/%s/%ld",
              fy_cfg_str (cfg, "notify", "name"), host, (long) getpid ());
    const char *critical = fy_cfg_str (cfg, "notify", "critical_categories");
    for (const char *at = critical ? critical : ""; *at;) {
        size_t len = strcspn (at, " ");
        if (len) {
            self->critical =
                fy_xrealloc (self->critical, (self->critical_count + 1)
                                                 * sizeof *self->critical);
            self->critical [self->critical_count++] =
                fy_xasprintf ("%.*s", (int) len, at);
        }
        at += len + (at [len] == ' ');
    }
    //  A database without the current schema is fatal at start; one not
    //  up yet is not: the worker starts without it (the watch).
    int version = 0, down_errno = 0;
    fy_error_t down = { "" };
    self->store = fy_store_open (cfg, &version, &down_errno, &down, err);
    if (!self->store) {
        bad_config = true;
        goto fail;
    }
    const fy_store_watch_fns_t watch_fns = { NULL, s_store_changed };
    self->watch = fy_store_watch_new (self->store, "notify", &watch_fns, self);
    if (down_errno)
        fy_store_watch_down (self->watch, down_errno, &down);
    self->templates =
        notify_templates_new (fy_cfg_str (cfg, "notify", "template_dir"));
    const char *rules = fy_cfg_str (cfg, "notify", "rules_file");
    if (rules && *rules) {
        self->rules = fy_rules_load (rules, err);
        if (!self->rules) {
            bad_config = true;
            goto fail;
        }
    }
    //  At most concurrency notifications are with a provider (the rest
    //  wait in notify.waiting), so at most as many connections to one
    //  host, all kept: curl closes a connection when the pool is full,
    //  and with a pool smaller than the transfers it closed one after
    //  each message (QUIT, waiting for the 221) and opened one for the
    //  next. Kept, an SMTP connection carries message after message:
    //  MAIL FROM, RCPT TO, DATA.
    fy_http_client_options_t http_options;
    fy_http_client_options_default (&http_options);
    http_options.max_idle = (long) self->concurrency;
    http_options.max_per_host = (long) self->concurrency;
    self->http = fy_http_client_new (&http_options, err);
    if (!self->http)
        goto fail;
    self->providers =
        notify_providers_new (cfg, self->http, self->metrics, err);
    if (!self->providers) {
        bad_config = true;
        goto fail;
    }
    self->worker =
        fy_worker_new (fy_cfg_str (cfg, "notify", "broker"), "notify",
                       fy_cfg_str (cfg, "notify", "name"),
                       (unsigned) fy_cfg_int (cfg, "notify", "credit"), err);
    if (!self->worker) {
        bad_config = true;
        goto fail;
    }
    fy_worker_set_heartbeat (self->worker,
                             fy_cfg_int (cfg, "notify", "heartbeat_ms"),
                             fy_cfg_int (cfg, "notify", "liveness"));
    fy_worker_set_stop_timeout (self->worker,
                                fy_cfg_int (cfg, "notify", "stop_timeout_ms"));
    fy_worker_on_events (self->worker, s_on_events, self);
    fy_worker_on_request (self->worker, notify_api_request, self);
    notify_provider_t *email =
        notify_route_pick (notify_providers_route (self->providers, "email"));
    fy_log_notice ("notify: %s, schema version %d, %zu rules, e-mail %s",
                   self->owner, version,
                   self->rules ? fy_rules_count (self->rules) : 0,
                   email ? email->name : "off");
    return self;
fail:
    notify_destroy (&self);
    errno = bad_config ? EINVAL : EIO;
    return NULL;
}

void
notify_destroy (notify_t **self_p)
{
    assert (self_p);
    notify_t *self = *self_p;
    if (!self)
        return;
    notify_job_t *job;
    fy_list_each (job, &self->jobs, notify_job_t, node)
    {
        free (job->origin);  //  its delivery goes with the worker
        job->origin = NULL;
        notify_job_destroy (&job);
    }
    notify_providers_destroy (&self->providers);
    fy_loop_detach (&self->http_source);
    fy_http_client_destroy (&self->http);
    fy_worker_destroy (&self->worker);
    if (self->hup_fd >= 0)
        close (self->hup_fd);
    fy_store_watch_destroy (&self->watch);
    fy_store_destroy (&self->store);
    notify_templates_destroy (&self->templates);
    fy_rules_destroy (&self->rules);
    fy_metrics_destroy (&self->metrics);
    free (self->settling);
    for (size_t i = 0; i < self->critical_count; i++)
        free (self->critical [i]);
    free (self->critical);
    free (self);
    *self_p = NULL;
}

int
notify_run (notify_t *self)
{
    assert (self);
    zloop_t *loop = fy_worker_loop (self->worker);
    self->http_source = fy_http_client_attach (self->http, loop);
    notify_providers_attach (self->providers, loop);
    zmq_pollitem_t hup = { NULL, self->hup_fd, ZMQ_POLLIN, 0 };
    zloop_poller (loop, &hup, s_on_hangup, self);
    self->sweep_timer = zloop_timer (
        loop, (size_t) fy_cfg_int (self->cfg, "notify", "sweep_ms"), 0,
        s_on_sweep, self);
    fy_store_watch_attach (self->watch, loop);
    if (fy_store_watch_is_ready (self->watch))
        notify_sweep (self);
    int rc = fy_worker_run (self->worker);
    self->stopping = true;
    //  The drain waited for the events' sends; those of the API and the
    //  sweep with a provider now finish too, within stop_timeout_ms, so
    //  that none is cut between the provider's answer and the ledger.
    int64_t until = fy_clock_mono_ms ()
                    + fy_cfg_int (self->cfg, "notify", "stop_timeout_ms");
    while (self->sending > 0 && fy_clock_mono_ms () < until) {
        if (fy_http_client_wait (self->http, until - fy_clock_mono_ms ()))
            break;
        notify_settle_flush (self);
    }
    notify_settle_flush (self);
    //  What still waits here (a retry's backoff, its provider's rate, a
    //  send past stop_timeout_ms) goes back: the claims never given to a
    //  provider are given up, so another process may take them at once,
    //  and their events are NACKed retryable.
    size_t left = 0, released = 0;
    const char **ids = fy_xcalloc (self->held + 1, sizeof *ids);
    notify_job_t *job;
    fy_list_each (job, &self->jobs, notify_job_t, node)
    {
        notify_origin_t *origin = job->origin;
        if (origin && --origin->pending == 0) {
            fy_worker_nack (self->worker, &origin->delivery, true, "stopping");
            free (origin);
        }
        if (!job->sending)
            ids [released++] = job->job->id;
        left++;
    }
    fy_error_t err = { "" };
    if (released
        && fy_ledger_release (self->store, self->owner, ids, released, &err))
        fy_log_warn ("notify: claims not released (their lease runs out): %s",
                     err.text);
    free (ids);
    fy_list_each (job, &self->jobs, notify_job_t, node)
    {
        job->origin = NULL;
        notify_job_destroy (&job);
    }
    fy_worker_flush (self->worker);
    zloop_timer_end (loop, self->sweep_timer);
    fy_store_watch_detach (self->watch);
    zloop_poller_end (loop, &hup);
    fy_log_notice ("notify: stopped; %.0f sent, %.0f failed, %zu left to "
                   "the ledger",
                   fy_metric_value (self->settled [FY_LEDGER_SENT]),
                   fy_metric_value (self->settled [FY_LEDGER_FAILED]), left);
    return rc;
}
