/*  auth: ferry-auth's top object. It takes the "auth" service's session
    events from the broker and applies them to Redis (auth.c: each in one
    script that records its event id too, so a redelivery changes
    nothing), and answers the /auth API requests the broker forwards
    (auth_api.c): POST /auth/validate (auth_validate.c) and the sessions
    routes. Redis may be down at start or go away later: the worker keeps
    running, says so in its log and on /auth/health, NACKs events
    retryable and answers validations 503, and carries on when it is
    back. */
#ifndef AUTH_H_INCLUDED
#define AUTH_H_INCLUDED

#include <ferry/ferry.h>
#include "auth_cache.h"
#include "auth_keys.h"
#include "auth_store.h"
#include "core/fy_list.h"
#include "http/fy_http_client.h"
#include "store/fy_redis.h"

typedef struct auth auth_t;

//  Private to the worker's sources.
struct auth {
    fy_cfg_t *cfg;                  //  borrowed
    fy_worker_t *worker;
    fy_redis_t *redis;              //  scripts
    fy_redis_t *sub;                //  the revocation channel
    fy_loop_source_t *redis_source, *sub_source;
    auth_store_t *store;
    auth_keys_t *keys;
    auth_cache_t *cache;
    //  A JWKS URL: its client, and whether a load runs.
    fy_http_client_t *http;
    fy_loop_source_t *http_source;
    bool refreshing;
    fy_link_t parked;               //  validations waiting for the keys
    fy_link_t calls;                //  records waiting for Redis
    bool redis_up;                  //  as last said in the log
    int watch_timer;
    //  Settings.
    int64_t leeway_s, max_lifetime_s, session_ttl_ms;
    size_t max_token_bytes;
    const char *typ;
    fy_metrics_t *metrics;
    fy_metric_t *active, *unavailable, *cache_hits, *cache_drops;
    fy_metric_t *redis_gauge, *keys_gauge, *subscribed_gauge;
    fy_metric_t *applied, *duplicates, *conflicts, *ignored, *rejected,
        *retried;
    fy_metric_t *refresh_ok, *refresh_failed;
};

//  A request or delivery waiting for Redis: on self->calls until its
//  callback (or the end), so that nothing is lost at destroy.
typedef struct auth_call auth_call_t;
typedef void (auth_call_fn) (auth_call_t *call, const fy_redis_reply_t *reply);
struct auth_call {
    fy_link_t link;
    auth_t *self;
    auth_call_fn *fn;
    uint64_t rid;                   //  a request's
    fy_delivery_t *delivery;        //  an event's
    void *state;                    //  the kind's own, freed with it
    void (*state_free) (void *state);
};

//  Connect to the broker, start connecting to Redis, load the keys. NULL
//  with err and errno EINVAL for a bad setting (fy_daemon's exit 2). A
//  Redis that cannot be reached is no error.
auth_t *
auth_new (fy_cfg_t *cfg, fy_error_t *err);

void
auth_destroy (auth_t **self_p);

//  Until SIGTERM (the events and requests in hand are answered first).
int
auth_run (auth_t *self) FY_MUSTCHECK;

//  The worker's metrics, in Prometheus text. Caller owns result.
char *
auth_metrics (auth_t *self);

//  A record for a Redis call answered by fn, on self->calls. state (may be
//  NULL) is freed with state_free when the call ends.
auth_call_t *
auth_call_new (auth_t *self, auth_call_fn *fn, void *state,
               void (*state_free) (void *state));

//  The fy_redis_fn of every call: runs the call's fn, then frees it.
void
auth_call_done (const fy_redis_reply_t *reply, void *arg);

//  A call's command was issued with rc (err): on failure answer the call
//  as Redis unavailable (auth_call_fail) and free it, saying what failed
//  in the log; else wake the loop's Redis source for it.
void
auth_call_issued (auth_call_t **call_p, int rc, const fy_error_t *err,
                  const char *what);

//  Answer a call Redis could not serve: its delivery NACKed for retry,
//  its request 503 redis_unavailable.
void
auth_call_fail (auth_call_t *call);

//  The first string of a script's ARRAY answer, or NULL having logged
//  what failed and why (no reply, an error, another shape).
const char *
auth_call_word (const fy_redis_reply_t *reply, const char *what);

//  Free a call whose command was never issued.
void
auth_call_free (auth_call_t **call_p);

//  True when Redis can be used now.
bool
auth_redis_ready (auth_t *self);

//  Reply helpers (auth_api.c).
void
auth_reply_json (auth_t *self, uint64_t rid, unsigned status, json_t *body);
void
auth_reply_text (auth_t *self, uint64_t rid, unsigned status, const char *type,
                 const char *text);
void
auth_reply_error (auth_t *self, uint64_t rid, unsigned status, const char *code,
                  const char *message);
//  503 redis_unavailable.
void
auth_reply_unavailable (auth_t *self, uint64_t rid);

//  The /auth routes (auth_api.c).
void
auth_api_request (fy_worker_t *worker, const fy_request_t *request, void *arg);

//  POST /auth/validate (auth_validate.c).
void
auth_validate_request (auth_t *self, const fy_request_t *request);

//  Load the key set again (an unknown kid asked): a file at once, a URL
//  in the background; auth_validate_unpark runs when it ended.
void
auth_keys_reload (auth_t *self);

//  The key set changed or a load ended: run the parked validations again.
void
auth_validate_unpark (auth_t *self);

//  Count an inactive answer's reason and log it (never the token).
void
auth_inactive (auth_t *self, const char *reason, const char *sub);

#endif
