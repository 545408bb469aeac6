/*  fy_store_watch: whether a worker's store can be written to, and the
    probe that waits for it when it cannot (the database down, or its
    schema missing or old: fy_store_require_schema). A worker that finds
    its store unusable says so (fy_store_watch_down): it is logged once
    per kind of trouble, never on every retry, and a probe on the
    worker's loop reconnects with the store's backoff until it works,
    then says it is back. Meanwhile the worker NACKs retryable and holds
    nothing (ferry-audit, ferry-analytics). */
#ifndef FY_STORE_WATCH_H_INCLUDED
#define FY_STORE_WATCH_H_INCLUDED

#include "store/fy_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_store_watch fy_store_watch_t;

typedef struct {
    //  May be NULL: true while the store's connection is in use (a write
    //  in flight, which lands and says how it went): probe later.
    bool (*busy) (void *arg);
    //  May be NULL: told after each change between ready and not.
    void (*changed) (bool ready, void *arg);
} fy_store_watch_fns_t;

//  A watch over store (borrowed), ready until told otherwise; component
//  prefixes its log lines ("audit"). fns is copied.
fy_store_watch_t *
fy_store_watch_new (fy_store_t *store, const char *component,
                    const fy_store_watch_fns_t *fns, void *arg);

//  Destroy the watch (its probe ends) and set *self_p to NULL. Safe on
//  NULL.
void
fy_store_watch_destroy (fy_store_watch_t **self_p);

//  Probe on loop from now on (at once armed if the store is down); until
//  then fy_store_watch_down only records. Detach before the loop goes.
void
fy_store_watch_attach (fy_store_watch_t *self, zloop_t *loop);
void
fy_store_watch_detach (fy_store_watch_t *self);

//  The store cannot be used (errnum as the store gave it: ENOENT or
//  ERANGE for the schema, anything else unreachable; err why).
void
fy_store_watch_down (fy_store_watch_t *self, int errnum, const fy_error_t *err);

bool
fy_store_watch_is_ready (fy_store_watch_t *self);

//  When not ready, what is wrong, and in *schema_p (may be NULL) whether
//  it is the schema (then err is the store's own words, fit to show;
//  otherwise it may name a host: for the log). Borrowed.
const fy_error_t *
fy_store_watch_problem (fy_store_watch_t *self, bool *schema_p);

//  A worker's /health answer: the watch's view first (not ready: what
//  is wrong), then a schema check on probe (the connection requests
//  use). 200 {"status":"ok","schemaVersion"} or 503
//  {"status":"unavailable","missing":["database"],"reason"} into
//  *status_p. A missing or old schema is said in the store's own words;
//  any other failure may carry the database's (a host, a port): it goes
//  to the log and the answer says unavailable instead, as the route is
//  open. Caller owns result.
json_t *
fy_store_watch_health (fy_store_watch_t *self, fy_store_t *probe,
                       const char *unavailable, unsigned *status_p);

#ifdef __cplusplus
}
#endif
#endif
