/*  fy_store_analytics: analytics' part of the storage interface (DESIGN
    §5), beside audit's in fy_store.h and on the same fy_store: one
    connection per store, its backoff and reconnection, its errno
    conventions (fy_store_audit_append). Events become facts, the
    organisation over time and names in one transaction per batch (each
    event id recorded with what it changes, once: the facts mapped here
    and copied, the rest by analytics.apply_rest, sql/0009), flown
    without blocking as audit's appends are; rollups are rebuilt by jobs
    one process at a time (an advisory lock); the API's answers are read
    as JSON built by the database. doc/analytics.md defines what is counted. */
#ifndef FY_STORE_ANALYTICS_H_INCLUDED
#define FY_STORE_ANALYTICS_H_INCLUDED

#include "store/fy_store.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The conflicts of one batch kept for the log; the rest are counted.
#define FY_STORE_ANALYTICS_CONFLICTS_KEPT 8
//  The largest page of GET /analytics/company/:id/users.
#define FY_STORE_ANALYTICS_PAGE_MAX 500

//  What one batch did.
typedef struct {
    size_t applied;         //  events applied now
    size_t duplicates;      //  copies of ids applied before: nothing done
    size_t conflicts;       //  copies with another body: not applied
    //  The first conflicts (fields is "body": the envelope differs).
    fy_store_conflict_t conflict [FY_STORE_ANALYTICS_CONFLICTS_KEPT];
} fy_store_analytics_batch_t;

//  Apply count events to the analytics tables in one transaction: each id
//  once, whatever the arrival order; a copy of an id already applied (or
//  earlier in the batch) changes nothing, and when its body differs it is
//  a conflict, counted in *batch. Returns 0 after COMMIT, or -1 with
//  nothing written, err and errno as fy_store_audit_append (EINVAL: a
//  value the database refuses, the batch must be split to find it;
//  EAGAIN, ECONNRESET, EIO: retry later; ENOENT, ERANGE: schema).
int
fy_store_analytics_apply (fy_store_t *self, fy_event_t **events, size_t count,
                          fy_store_analytics_batch_t *batch,
                          fy_error_t *err) FY_MUSTCHECK;

//  The same without waiting, as fy_store_audit_append_start: the batch
//  flies (BEGIN and its ids, the COPY of its facts, the rest and COMMIT,
//  each step sent when the last one's results come) while the caller's
//  loop goes on, moved on by fy_store_append_attach's source (whose
//  landed function gets the outcome and the events applied),
//  fy_store_flight_poll or fy_store_flight_wait; *batch is filled when
//  it lands. events and batch stay borrowed until then; one flight per
//  store, and no other call on it meanwhile.
void
fy_store_analytics_apply_start (fy_store_t *self, fy_event_t **events,
                                size_t count,
                                fy_store_analytics_batch_t *batch);

//  Run the rollup job of granularity "hour" or "day" named by due_ms (the
//  scheduled instant: a job of one due instant runs once in the whole
//  database) as of now_ms, under the jobs' advisory lock, as runner (a
//  name for analytics.job_runs). Returns 1 when it ran, with the buckets
//  rebuilt in *buckets_p (may be NULL); 0 when another process holds the
//  lock or the job of due_ms ran already; -1 with errno and err.
int
fy_store_analytics_run (fy_store_t *self, const char *granularity,
                        int64_t due_ms, int64_t now_ms, const char *runner,
                        int *buckets_p, fy_error_t *err) FY_MUSTCHECK;

//  Mark company's buckets in [from, to) (RFC 3339 times) dirty, so the
//  next run rebuilds them; *marked_p (may be NULL) gets how many.
//  Returns 0, or -1 with errno and err.
int
fy_store_analytics_recompute (fy_store_t *self, const char *company,
                              const char *from, const char *to, int *marked_p,
                              fy_error_t *err) FY_MUSTCHECK;

//  The answers of the API, built by the database (analytics.api_*). Every
//  argument has been checked by the caller: ids are uuids, from and to
//  RFC 3339 times with from before to, granularity "hour" or "day",
//  cursor a uuid or NULL, limit 1 to FY_STORE_ANALYTICS_PAGE_MAX.
//  The answer is JSON text, as the database printed it (numbers stay
//  as it rounded them). Caller owns result. NULL with errno ENOENT (no
//  such company or manager), or EAGAIN/ECONNRESET/EIO/EINVAL and err (the
//  database's words, for the log).
char *
fy_store_analytics_stats (fy_store_t *self, const char *company,
                          const char *from, const char *to,
                          const char *granularity, fy_error_t *err);
char *
fy_store_analytics_users (fy_store_t *self, const char *company,
                          const char *from, const char *to, const char *cursor,
                          int limit, fy_error_t *err);
char *
fy_store_analytics_departments (fy_store_t *self, const char *company,
                                const char *from, const char *to, int min_group,
                                fy_error_t *err);
char *
fy_store_analytics_manager (fy_store_t *self, const char *manager,
                            const char *from, const char *to, int min_group,
                            fy_error_t *err);

#ifdef __cplusplus
}
#endif
#endif
