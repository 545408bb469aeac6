/*  notify: ferry-notify's top object. It takes the "notify" service's
    deliveries from the broker (notification.requested, and the domain
    events its rules map to notifications), records each notification in
    the delivery ledger (fy_ledger) in one transaction with the event's
    id, then claims, renders and sends them (notify_send.c), with retries,
    and answers the /notifications API the broker forwards (notify_api.c).
    doc/notify.md describes the whole. */
#ifndef NOTIFY_H_INCLUDED
#define NOTIFY_H_INCLUDED

#include <ferry/ferry.h>
#include "core/fy_list.h"
#include "core/fy_loop.h"
#include "http/fy_http_client.h"
#include "notify/fy_rules.h"
#include "notify/fy_smtp.h"
#include "store/fy_ledger.h"
#include "store/fy_store.h"
#include "store/fy_store_watch.h"

#include "notify_provider.h"
#include "notify_template.h"

typedef struct notify notify_t;

//  A broker delivery waiting for its notifications: answered when the
//  last one settles (ACK, or NACK for good with the first failure's
//  reason, so it reaches the DLQ).
typedef struct {
    fy_delivery_t *delivery;
    size_t pending;
    bool failed;
    char reason [200];
} notify_origin_t;

//  The most device tokens of one push (the schema's maxItems; a user's
//  newest registered devices).
#define NOTIFY_TOKENS_MAX 20

typedef struct notify_job notify_job_t;

//  One call of an attempt: its job and its place (a push's device token).
typedef struct {
    notify_job_t *job;
    size_t index;
} notify_part_t;

//  One claimed notification being sent (or waiting for its retry, or for
//  its provider's rate).
struct notify_job {
    fy_link_t node;             //  in notify.jobs
    notify_t *owner;
    fy_ledger_job_t *job;
    notify_origin_t *origin;    //  NULL: from the API or the sweep
    int timer;                  //  a retry's or a rate's, -1 when none
    notify_token_t *token;      //  a rate's request in Redis
    notify_route_t *route;
    notify_provider_t *provider;    //  this attempt's
    notify_rendered_t rendered;
    char version [65];          //  of the template rendered, "" before
    //  The provider's calls in flight (one, or one per device token)
    //  and what they said so far.
    uint64_t calls [NOTIFY_TOKENS_MAX];
    notify_part_t parts [NOTIFY_TOKENS_MAX];
    size_t call_count, calls_left;
    bool sending;
    fy_link_t wait;             //  in notify.waiting while waiting
    bool waiting;
    bool any_ok, any_retryable;
    //  A push: its device tokens this attempt (fy_ledger_push_tokens),
    //  how many devices accepted it at earlier attempts, and the tokens
    //  settled for good this attempt, recorded with its outcome (each
    //  one's message id or error owned in settled_text).
    char **tokens;
    size_t token_count, sent_before;
    fy_ledger_token_t settled [NOTIFY_TOKENS_MAX];
    char *settled_text [NOTIFY_TOKENS_MAX];
    size_t settled_count;
    char message_id [256];
    char error [300];
    //  The attempt's outcome, waiting for the turn's settle.
    fy_ledger_outcome_t outcome;
    char outcome_error [400];
};

struct notify {
    fy_cfg_t *cfg;                  //  borrowed
    fy_worker_t *worker;
    fy_store_t *store;
    fy_http_client_t *http;         //  the providers' transfers
    fy_loop_source_t *http_source;
    notify_providers_t *providers;
    notify_templates_t *templates;
    fy_rules_t *rules;              //  NULL without notify.rules_file
    char **critical;                //  notify.critical_categories
    size_t critical_count;
    char owner [128];               //  the claims' name: name/host/pid
    fy_link_t jobs;                 //  notify_job_t in flight or waiting
    size_t sending;                 //  jobs with a provider now
    //  Jobs ready to go to their provider, each waiting for one of the
    //  notify.concurrency places, first come first: events start their
    //  jobs as they come (up to notify.credit), and no more than
    //  concurrency may be with a provider, which bounds the one window
    //  (doc/notify.md).
    fy_link_t waiting;
    size_t held, concurrency;       //  jobs held: sending or waiting
    int max_attempts, lease_s;
    int64_t backoff_base_ms, backoff_max_ms;
    int sweep_timer, hup_fd;
    bool sweep_more;                //  the last sweep was full
    //  Jobs whose outcome waits for the end of the loop's turn, to be
    //  recorded together (notify_settle_flush).
    notify_job_t **settling;
    size_t settling_count, settling_size;
    int settle_timer;
    bool stopping;
    //  The ledger's state (/notifications/health), and the probe that
    //  waits for it to come back.
    fy_store_watch_t *watch;
    fy_metrics_t *metrics;
    fy_metric_t *settled [FY_LEDGER_STATUSES];
    fy_metric_t *attempts, *retries, *conflicts, *ready_gauge, *sending_gauge;
    fy_metric_t *rejected, *ignored, *dead_tokens;
    fy_metric_t *directory_updates, *unknown_recipients;
    fy_metric_t *device_registrations;
};

//  Connect to the broker and the store, load the templates and rules.
//  NULL with err and errno EINVAL (bad settings, a schema missing or old)
//  or EIO. A database that cannot be reached is not an error: the worker
//  starts not ready and waits for it.
notify_t *
notify_new (fy_cfg_t *cfg, fy_error_t *err);

void
notify_destroy (notify_t **self_p);

//  Until SIGTERM (the notifications being sent finish first).
int
notify_run (notify_t *self) FY_MUSTCHECK;

//  The ledger failed (errnum, err): if the database is gone, the watch
//  says so once, the worker NACKs meanwhile and it probes until it is
//  back.
void
notify_store_failed (notify_t *self, int errnum, const fy_error_t *err);

//  Whether category is critical (never opted out of, never held).
bool
notify_is_critical (notify_t *self, const char *category);

//  Start sending the ledger's deliveries entries (as recorded: their jobs
//  are taken, the others claimed now when due), on behalf of origin (may
//  be NULL). Returns how many were started.
size_t
notify_start (notify_t *self, fy_ledger_entry_t *entries, size_t count,
              notify_origin_t *origin);

//  Answer origin's delivery (and free it) when nothing is pending.
void
notify_origin_settle (notify_t *self, notify_origin_t *origin);

//  Count the deliveries entries created in ferry_notify_deliveries_total.
void
notify_count_recorded (notify_t *self, const fy_ledger_entry_t *entries,
                       size_t count);

//  Claim and start what is due in the ledger, as far as concurrency
//  allows.
void
notify_sweep (notify_t *self);

//  A send ended: sweep again if the last sweep was full.
void
notify_sent_one (notify_t *self);

//  The worker's metrics, in Prometheus text. Caller owns result.
char *
notify_metrics (notify_t *self);

//  --- notify_send.c

//  Render and send job (claimed), then settle it.
void
notify_send (notify_job_t *job);

//  Record the outcomes waiting, in one statement, and go on with their
//  jobs (retry, or answer their events).
void
notify_settle_flush (notify_t *self);

//  Free a job that is done (its timer ended, its transfer cancelled).
void
notify_job_destroy (notify_job_t **job_p);

//  Forget the device tokens of job's last attempt (a push's).
void
notify_job_clear_tokens (notify_job_t *job);

//  Give the places with a provider that are free to the jobs waiting
//  for one (none once stopping).
void
notify_send_waiting (notify_t *self);

//  --- notify_api.c

void
notify_api_request (fy_worker_t *worker, const fy_request_t *request,
                    void *arg);

#endif
