/*  analytics: ferry-analytics' top object. It takes the "analytics"
    service's deliveries from the broker and applies them to the
    analytics tables in batches (one transaction each, ACKed after
    COMMIT: fy_store_analytics_apply), runs the rollup jobs on its own
    schedule (every hour at analytics.rollup_minute: the hour's rollups,
    then the days that closed in each company's zone), and answers the
    /analytics API requests the broker forwards (analytics_api.c). */
#ifndef ANALYTICS_H_INCLUDED
#define ANALYTICS_H_INCLUDED

#include <ferry/ferry.h>
#include "store/fy_store_analytics.h"
#include "store/fy_store_lanes.h"
#include "store/fy_store_watch.h"
#include "wire/fy_batch.h"

typedef struct analytics analytics_t;

//  The batch in flight on one of the batch stores (fy_store_lanes): its
//  ids, the COPY of its facts, the rest and COMMIT; ACKed when it lands.
typedef struct {
    analytics_t *owner;
    size_t index;
    fy_store_t *store;              //  borrowed from the lanes
    fy_delivery_t **flight;
    fy_event_t **flight_events;
    size_t flight_count;
    int64_t started_ms;             //  mono ms of the flight's start
    fy_store_analytics_batch_t batch;   //  its outcome
} analytics_lane_t;

//  Private to the worker's sources: the API reads the stores and config.
struct analytics {
    fy_cfg_t *cfg;                  //  borrowed
    fy_worker_t *worker;
    //  The batch stores (analytics.connections): the first is the one
    //  the watch probes.
    fy_store_lanes_t *stores;
    analytics_lane_t *lanes;
    size_t lane_count;
    fy_store_t *api_store;          //  requests
    fy_batch_t *batch;              //  the open batch
    //  The store's state (/analytics/health): usable, or what is wrong
    //  and the probe that waits for it.
    fy_store_watch_t *watch;
    //  The jobs (analytics_jobs.c): their thread, the next hour whose
    //  jobs are due (epoch ms of its start), the timer that wakes for it.
    zactor_t *jobs;
    int64_t job_hour_ms;
    int job_timer;
    uint64_t applied;
    fy_metrics_t *metrics;          //  GET /analytics/metrics
    fy_metric_t *ready_gauge, *applied_total, *duplicates_total;
    fy_metric_t *conflicts_total, *rejected_undecodable, *rejected_store;
    fy_metric_t *batch_seconds, *jobs_ran, *jobs_skipped, *jobs_failed;
    fy_metric_t *job_seconds;
};

//  Connect to the broker and the store, check the schema. NULL with err
//  and errno EINVAL (a bad setting, or the schema is missing or old:
//  exit 2) or EIO. A database that cannot be reached is not an error:
//  the worker starts not ready and waits for it.
analytics_t *
analytics_new (fy_cfg_t *cfg, fy_error_t *err);

void
analytics_destroy (analytics_t **self_p);

//  Until SIGTERM (the open batch is written and answered first).
int
analytics_run (analytics_t *self) FY_MUSTCHECK;

//  Start the jobs' thread and their timer on the worker's loop: every
//  hour at analytics.rollup_minute (and once at start, to catch up) the
//  hourly rollups, then the daily ones of the companies whose day has
//  closed. A job runs once in the whole database, whoever asks first.
void
analytics_jobs_start (analytics_t *self);

//  Stop them (the job in progress is finished first).
void
analytics_jobs_stop (analytics_t *self);

//  POST /analytics/recompute: company's buckets in [from, to) marked
//  dirty and rebuilt on the jobs' thread; request rid is answered when
//  that is done.
void
analytics_jobs_recompute (analytics_t *self, uint64_t rid, const char *company,
                          const char *from, const char *to);

//  The /analytics routes (analytics_api.c).
void
analytics_api_request (fy_worker_t *worker, const fy_request_t *request,
                       void *arg);

#endif
