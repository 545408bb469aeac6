/*  analytics_jobs: the rollup jobs, on a thread of their own (a zactor
    with its own store connection): a rebuild may take seconds, and the
    worker's loop must go on heartbeating, applying batches and answering
    queries meanwhile (a worker silent for its liveness is presumed dead
    by the broker). The loop sends the thread what to run over its pipe;
    the thread answers each job with one message, and the loop counts,
    logs and, for a recompute, replies to the request.

        loop -> thread   "RUN" hour_ms
                         "RECOMPUTE" rid company from to     (strings)
        thread -> loop   what ("hour", "day", "recompute") rid rc buckets
                         marked ms errnum text

    rc is fy_store_analytics_run's: 1 ran, 0 run elsewhere, -1 failed. */
#include "analytics.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_HOUR_MS INT64_C (3600000)

//  The thread's own state.
typedef struct {
    fy_store_t *store;
    char runner [96];
} s_thread_t;

//  The thread's answer for one job.
static void
s_tell (zsock_t *pipe, const char *what, uint64_t rid, int rc, int buckets,
        int marked, int64_t started, int errnum, const fy_error_t *err)
{
    int ms = (int) (fy_clock_mono_ms () - started);
    zsock_send (pipe, "s8iiiiis", what, rid, rc, buckets, marked, ms, errnum,
                rc < 0 ? err->text : "");
}

//  One rollup job (granularity) of the instant due_ms, as of now.
static void
s_run (s_thread_t *self, zsock_t *pipe, const char *granularity, int64_t due_ms,
       uint64_t rid)
{
    fy_error_t err = { "" };
    int64_t started = fy_clock_mono_ms ();
    int buckets = 0;
    int rc = fy_store_analytics_run (self->store, granularity, due_ms,
                                     fy_clock_wall_ms (), self->runner,
                                     &buckets, &err);
    s_tell (pipe, granularity, rid, rc, buckets, 0, started, errno, &err);
}

static void
s_recompute (s_thread_t *self, zsock_t *pipe, uint64_t rid, const char *company,
             const char *from, const char *to)
{
    fy_error_t err = { "" };
    int64_t started = fy_clock_mono_ms ();
    int marked = 0, hours = 0, days = 0;
    int64_t now = fy_clock_wall_ms ();
    //  Named by now: a new run, not the hour's scheduled one.
    int rc = fy_store_analytics_recompute (self->store, company, from, to,
                                           &marked, &err);
    if (rc == 0)
        rc = fy_store_analytics_run (self->store, "hour", now, now,
                                     self->runner, &hours, &err);
    if (rc == 1)
        rc = fy_store_analytics_run (self->store, "day", now, now, self->runner,
                                     &days, &err);
    s_tell (pipe, "recompute", rid, rc, hours + days, marked, started, errno,
            &err);
}

static void
s_thread (zsock_t *pipe, void *arg)
{
    s_thread_t *self = arg;
    zsock_signal (pipe, 0);
    while (true) {
        zmsg_t *msg = zmsg_recv (pipe);
        if (!msg)
            break;
        char *command = zmsg_popstr (msg);
        char *args [4] = { NULL, NULL, NULL, NULL };
        for (int i = 0; i < 4; i++)
            args [i] = zmsg_popstr (msg);
        zmsg_destroy (&msg);
        bool term = !command || streq (command, "$TERM");
        int64_t number = 0;
        //  The worker's own messages: a number that does not parse is 0.
        if (!term && args [0]
            && fy_parse_int64 (args [0], 0, INT64_MAX, &number))
            number = 0;
        if (term)
            ;
        else if (streq (command, "RUN")) {
            s_run (self, pipe, "hour", number, 0);
            s_run (self, pipe, "day", number, 0);
        }
        else if (streq (command, "RECOMPUTE") && args [3])
            s_recompute (self, pipe, (uint64_t) number, args [1], args [2],
                         args [3]);
        zstr_free (&command);
        for (int i = 0; i < 4; i++)
            zstr_free (&args [i]);
        if (term)
            break;
    }
    fy_store_destroy (&self->store);
    free (self);
}

//  A job's answer, in the loop.
static int
s_on_answer (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    analytics_t *self = arg;
    char *what = NULL, *text = NULL;
    uint64_t rid = 0;
    int rc = 0, buckets = 0, marked = 0, ms = 0, errnum = 0;
    if (zsock_recv (reader, "s8iiiiis", &what, &rid, &rc, &buckets, &marked,
                    &ms, &errnum, &text))
        return 0;
    fy_error_t err = { "" };
    fy_error_set (&err, "%s", text ? text : "");
    if (rc < 0) {
        fy_metric_inc (self->jobs_failed);
        fy_log_warn ("analytics: %s job failed: %s", what, err.text);
        if (errnum == EAGAIN || errnum == ECONNRESET)
            fy_store_watch_down (self->watch, errnum, &err);
    }
    else if (rc == 0) {
        fy_metric_inc (self->jobs_skipped);
        fy_log_debug ("analytics: %s job run elsewhere", what);
    }
    else {
        fy_metric_inc (self->jobs_ran);
        fy_metric_set (self->job_seconds, ms / 1000.0);
        fy_log_info ("analytics: rollup_%s job: %d buckets in %.3f s", what,
                     buckets, ms / 1000.0);
    }
    if (streq (what, "recompute")) {
        if (rc < 0)
            fy_worker_reply_error (
                self->worker, rid,
                errnum == EAGAIN || errnum == ECONNRESET ? 503 : 500,
                "store_error",
                "the rebuild failed; the worker's log "
                "says why");
        else {
            json_t *body =
                json_pack ("{s:i, s:b, s:i}", "bucketsMarked", marked,
                           "rebuilt", rc == 1, "bucketsRebuilt", buckets);
            //  202: another process holds the jobs' lock; its next run
            //  rebuilds what was marked.
            fy_worker_reply_json (self->worker, rid, rc == 1 ? 200 : 202, body);
            json_decref (body);
        }
    }
    zstr_free (&what);
    zstr_free (&text);
    return 0;
}

static void
s_arm (analytics_t *self);

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    analytics_t *self = arg;
    self->job_timer = -1;
    //  A job missed (database down) is caught up by the next: each run
    //  rebuilds everything from the watermark on.
    if (fy_store_watch_is_ready (self->watch)) {
        char hour [24];
        snprintf (hour, sizeof hour, "%lld", (long long) self->job_hour_ms);
        zstr_sendx (self->jobs, "RUN", hour, NULL);
    }
    self->job_hour_ms += S_HOUR_MS;
    s_arm (self);
    return 0;
}

//  Wake at rollup_minute past the hour job_hour_ms; at start at once, for
//  the hour begun (what closed while no process ran is caught up now).
static void
s_arm (analytics_t *self)
{
    int64_t now = fy_clock_wall_ms ();
    int64_t minute = fy_cfg_int (self->cfg, "analytics", "rollup_minute");
    int64_t at = self->job_hour_ms + minute * 60000;
    if (self->job_hour_ms == 0 || at < now - S_HOUR_MS) {
        //  At start, or asleep for more than an hour (a suspended host):
        //  one run now catches every hour up.
        self->job_hour_ms = now - now % S_HOUR_MS;
        at = now;
    }
    int64_t wait = at > now ? at - now : 1;
    self->job_timer = zloop_timer (fy_worker_loop (self->worker), (size_t) wait,
                                   1, s_on_timer, self);
}

void
analytics_jobs_start (analytics_t *self)
{
    s_thread_t *thread = fy_xcalloc (1, sizeof *thread);
    thread->store = fy_store_new (
        fy_cfg_str (self->cfg, "store", "database_url"),
        (int) fy_cfg_int (self->cfg, "store", "connect_timeout_s"));
    fy_store_require_schema (thread->store, FY_STORE_SCHEMA_VERSION);
    snprintf (thread->runner, sizeof thread->runner, "%s:%ld",
              fy_cfg_str (self->cfg, "analytics", "name"), (long) getpid ());
    self->jobs = zactor_new (s_thread, thread);
    self->job_timer = -1;
    zloop_reader (fy_worker_loop (self->worker), zactor_sock (self->jobs),
                  s_on_answer, self);
    if (fy_cfg_bool (self->cfg, "analytics", "jobs"))
        s_arm (self);
}

void
analytics_jobs_stop (analytics_t *self)
{
    if (!self->jobs)
        return;
    zloop_t *loop = fy_worker_loop (self->worker);
    if (self->job_timer >= 0)
        zloop_timer_end (loop, self->job_timer);
    self->job_timer = -1;
    zloop_reader_end (loop, zactor_sock (self->jobs));
    zactor_destroy (&self->jobs);
}

void
analytics_jobs_recompute (analytics_t *self, uint64_t rid, const char *company,
                          const char *from, const char *to)
{
    char number [24];
    snprintf (number, sizeof number, "%llu", (unsigned long long) rid);
    zstr_sendx (self->jobs, "RECOMPUTE", number, company, from, to, NULL);
}
