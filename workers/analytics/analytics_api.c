/*  analytics_api: the /analytics routes, as REQUESTs the broker forwards
    (it has checked the service token, or the admin token for POST
    /analytics/recompute; /analytics/health is open), dispatched by
    fy_worker_route from the table at the end. Answers are JSON built by
    the database (fy_store_analytics), errors {"error":{"code",
    "message"}}; every parameter is checked here, before any SQL, and a
    bad one is a 400 naming it:

        GET  /analytics/company/:companyId/stats        from, to,
                                                        granularity
        GET  /analytics/company/:companyId/users        from?, to?, cursor?,
                                                        limit?
        GET  /analytics/company/:companyId/departments  from?, to?
        GET  /analytics/manager/:managerId/performance  from?, to?
        POST /analytics/recompute                       companyId, from, to
        GET  /analytics/health                          ready -> 200, or 503
        GET  /analytics/metrics                         Prometheus text

    from and to are RFC 3339 instants, from inclusive, to exclusive;
    where optional they default to the 30 days before now. Requests use
    their own store connection, so a query never waits for a batch. */
#include "analytics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DAY_MS INT64_C (86400000)
//  The widest periods: an hourly series of a month, anything else two
//  years.
#define S_HOURLY_MAX_DAYS 31
#define S_PERIOD_MAX_DAYS 731
#define S_DEFAULT_DAYS 30
#define S_PAGE_DEFAULT 100

//  What a route takes; the parameters it may be given.
enum {
    S_TAKES_PERIOD = 1,         //  from, to (optional)
    S_NEEDS_PERIOD = 2,         //  from, to (required)
    S_TAKES_GRANULARITY = 4,
    S_TAKES_PAGE = 8,           //  cursor, limit
    S_TAKES_COMPANY = 16        //  companyId in the query
};

//  The checked parameters of one request, as the store takes them.
typedef struct {
    char id [FY_UUID_SIZE];             //  the path's, or companyId
    char from [FY_TIME_RFC3339_SIZE];
    char to [FY_TIME_RFC3339_SIZE];
    char cursor [FY_UUID_SIZE];         //  "" when none
    const char *granularity;
    int limit;
} s_params_t;

static bool
s_is (fy_proto_str_t str, const char *text)
{
    size_t len = strlen (text);
    return str.len == len && memcmp (str.ptr, text, len) == 0;
}

static void
s_bad (analytics_t *self, const fy_request_t *request, const char *message)
{
    fy_worker_reply_error (self->worker, request->rid, 400, "invalid_parameter",
                           message);
}

//  A uuid into id; false when value is not one.
static bool
s_uuid (fy_proto_str_t value, char id [FY_UUID_SIZE])
{
    if (value.len != FY_UUID_SIZE - 1
        || !fy_uuid_is_valid (value.ptr, value.len))
        return false;
    memcpy (id, value.ptr, value.len);
    id [value.len] = '\0';
    return true;
}

//  The request's parameters for a route that takes what takes says, the
//  path's id (NULL when the route has none). Returns 0, or -1 having
//  answered 400.
static int
s_params (analytics_t *self, const fy_request_t *request,
          const fy_route_match_t *match, const char *id_name, unsigned takes,
          s_params_t *params)
{
    static const struct {
        const char *name;
        unsigned takes;
    } s_known [] = { { "from", S_TAKES_PERIOD | S_NEEDS_PERIOD },
                     { "to", S_TAKES_PERIOD | S_NEEDS_PERIOD },
                     { "granularity", S_TAKES_GRANULARITY },
                     { "cursor", S_TAKES_PAGE },
                     { "limit", S_TAKES_PAGE },
                     { "companyId", S_TAKES_COMPANY } };
    char message [128];
    memset (params, 0, sizeof *params);
    params->granularity = "day";
    params->limit = S_PAGE_DEFAULT;
    for (size_t i = 0; i < request->query_count; i++) {
        fy_proto_str_t key = request->query [i].key;
        bool known = false;
        for (size_t k = 0; k < sizeof s_known / sizeof *s_known; k++)
            known |=
                s_is (key, s_known [k].name) && (s_known [k].takes & takes);
        if (!known) {
            snprintf (message, sizeof message,
                      "unknown parameter %.*s for this route",
                      (int) (key.len > 40 ? 40 : key.len), key.ptr);
            s_bad (self, request, message);
            return -1;
        }
    }
    fy_proto_str_t value = { NULL, 0 };
    if (id_name) {
        value.ptr = fy_route_param (match, id_name, &value.len);
        if (!s_uuid (value, params->id)) {
            snprintf (message, sizeof message, "%s must be a uuid", id_name);
            s_bad (self, request, message);
            return -1;
        }
    }
    if (takes & S_TAKES_COMPANY) {
        if (!fy_request_param (request, "companyId", &value)
            || !s_uuid (value, params->id)) {
            s_bad (self, request, "companyId is required, a uuid");
            return -1;
        }
    }
    //  The period: each bound an RFC 3339 instant, checked here so the
    //  database reads exactly it (normalized to UTC with milliseconds).
    int64_t bound_ms [2] = { 0, 0 };
    const char *bounds [2] = { "from", "to" };
    bool given [2] = { false, false };
    for (int b = 0; b < 2 && (takes & (S_TAKES_PERIOD | S_NEEDS_PERIOD)); b++) {
        given [b] = fy_request_param (request, bounds [b], &value);
        if (!given [b] && (takes & S_NEEDS_PERIOD)) {
            snprintf (message, sizeof message, "%s is required", bounds [b]);
            s_bad (self, request, message);
            return -1;
        }
        if (given [b]
            && fy_time_parse (value.ptr, value.len, false, &bound_ms [b])) {
            snprintf (message, sizeof message,
                      "%s must be an RFC 3339 time, e.g. "
                      "2026-11-26T10:00:00Z",
                      bounds [b]);
            s_bad (self, request, message);
            return -1;
        }
    }
    if (!given [1])
        bound_ms [1] = fy_clock_wall_ms ();
    if (!given [0])
        bound_ms [0] = bound_ms [1] - S_DEFAULT_DAYS * S_DAY_MS;
    if (takes & S_TAKES_GRANULARITY
        && fy_request_param (request, "granularity", &value)) {
        if (s_is (value, "hour"))
            params->granularity = "hour";
        else if (!s_is (value, "day")) {
            s_bad (self, request, "granularity must be hour or day");
            return -1;
        }
    }
    int max_days = strcmp (params->granularity, "hour") == 0
                       ? S_HOURLY_MAX_DAYS
                       : S_PERIOD_MAX_DAYS;
    if (takes & (S_TAKES_PERIOD | S_NEEDS_PERIOD)) {
        if (bound_ms [0] >= bound_ms [1]) {
            s_bad (self, request, "from must be before to");
            return -1;
        }
        if (bound_ms [1] - bound_ms [0] > max_days * S_DAY_MS) {
            snprintf (message, sizeof message,
                      "from and to may be at most %d days apart%s", max_days,
                      max_days == S_HOURLY_MAX_DAYS ? " by the hour" : "");
            s_bad (self, request, message);
            return -1;
        }
        fy_time_format (bound_ms [0], params->from);
        fy_time_format (bound_ms [1], params->to);
    }
    if (fy_request_param (request, "cursor", &value)
        && !s_uuid (value, params->cursor)) {
        s_bad (self, request, "cursor must be a nextCursor of a previous page");
        return -1;
    }
    int64_t limit = params->limit;
    if (fy_request_param_int64 (request, "limit", 1,
                                FY_STORE_ANALYTICS_PAGE_MAX, &limit)) {
        snprintf (message, sizeof message,
                  "limit must be an integer from 1 to %d",
                  FY_STORE_ANALYTICS_PAGE_MAX);
        s_bad (self, request, message);
        return -1;
    }
    params->limit = (int) limit;
    return 0;
}

//  An answer from the store, or its error by errno. The error's text goes
//  to the log, never to the client: it may be the database's own.
static void
s_reply_answer (analytics_t *self, const fy_request_t *request, char *answer,
                const char *what, const fy_error_t *err)
{
    int errnum = errno;
    if (answer) {
        if (fy_worker_reply (self->worker, request->rid, 200,
                             "application/json", answer, strlen (answer),
                             false))
            fy_log_warn ("analytics: reply rid=%llu not sent",
                         (unsigned long long) request->rid);
        free (answer);
        return;
    }
    if (errnum == ENOENT) {
        char message [64];
        snprintf (message, sizeof message, "no such %s", what);
        fy_worker_reply_error (self->worker, request->rid, 404, "not_found",
                               message);
        return;
    }
    fy_log_warn ("analytics: request rid=%llu: %s",
                 (unsigned long long) request->rid, err->text);
    if (errnum == EAGAIN || errnum == ECONNRESET)
        fy_worker_reply_error (self->worker, request->rid, 503,
                               "store_unavailable",
                               "the analytics database is unavailable; "
                               "retry later");
    else
        fy_worker_reply_error (self->worker, request->rid, 500, "store_error",
                               "the analytics database failed; the "
                               "worker's log says why");
}

static int
s_min_group (analytics_t *self)
{
    return (int) fy_cfg_int (self->cfg, "analytics", "min_group_size");
}

static void
s_stats (fy_worker_t *worker, const fy_request_t *request,
         const fy_route_match_t *match, void *arg)
{
    (void) worker;
    analytics_t *self = arg;
    s_params_t p;
    if (s_params (self, request, match, "companyId",
                  S_NEEDS_PERIOD | S_TAKES_GRANULARITY, &p))
        return;
    fy_error_t err = { "" };
    char *answer = fy_store_analytics_stats (self->api_store, p.id, p.from,
                                             p.to, p.granularity, &err);
    s_reply_answer (self, request, answer, "company", &err);
}

static void
s_users (fy_worker_t *worker, const fy_request_t *request,
         const fy_route_match_t *match, void *arg)
{
    (void) worker;
    analytics_t *self = arg;
    s_params_t p;
    if (s_params (self, request, match, "companyId",
                  S_TAKES_PERIOD | S_TAKES_PAGE, &p))
        return;
    fy_error_t err = { "" };
    char *answer = fy_store_analytics_users (
        self->api_store, p.id, p.from, p.to, p.cursor [0] ? p.cursor : NULL,
        p.limit, &err);
    s_reply_answer (self, request, answer, "company", &err);
}

static void
s_departments (fy_worker_t *worker, const fy_request_t *request,
               const fy_route_match_t *match, void *arg)
{
    (void) worker;
    analytics_t *self = arg;
    s_params_t p;
    if (s_params (self, request, match, "companyId", S_TAKES_PERIOD, &p))
        return;
    fy_error_t err = { "" };
    char *answer = fy_store_analytics_departments (
        self->api_store, p.id, p.from, p.to, s_min_group (self), &err);
    s_reply_answer (self, request, answer, "company", &err);
}

static void
s_manager (fy_worker_t *worker, const fy_request_t *request,
           const fy_route_match_t *match, void *arg)
{
    (void) worker;
    analytics_t *self = arg;
    s_params_t p;
    if (s_params (self, request, match, "managerId", S_TAKES_PERIOD, &p))
        return;
    fy_error_t err = { "" };
    char *answer = fy_store_analytics_manager (self->api_store, p.id, p.from,
                                               p.to, s_min_group (self), &err);
    s_reply_answer (self, request, answer, "manager", &err);
}

//  POST /analytics/recompute: the company's buckets of the period marked
//  dirty and rebuilt on the jobs' thread, which answers (200, or 202
//  when another process holds the jobs' lock: its next run rebuilds
//  them).
static void
s_recompute (fy_worker_t *worker, const fy_request_t *request,
             const fy_route_match_t *match, void *arg)
{
    (void) worker;
    analytics_t *self = arg;
    s_params_t p;
    if (s_params (self, request, match, NULL, S_NEEDS_PERIOD | S_TAKES_COMPANY,
                  &p))
        return;
    if (!fy_store_watch_is_ready (self->watch)) {
        fy_worker_reply_error (self->worker, request->rid, 503,
                               "store_unavailable",
                               "the analytics database is unavailable; "
                               "retry later");
        return;
    }
    analytics_jobs_recompute (self, request->rid, p.id, p.from, p.to);
}

static void
s_health (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    (void) match;
    analytics_t *self = arg;
    unsigned status = 0;
    json_t *body = fy_store_watch_health (
        self->watch, self->api_store,
        "the analytics database is unavailable (the worker's log says why)",
        &status);
    fy_worker_reply_json (worker, request->rid, status, body);
    json_decref (body);
}

static void
s_metrics (fy_worker_t *worker, const fy_request_t *request,
           const fy_route_match_t *match, void *arg)
{
    (void) match;
    analytics_t *self = arg;
    fy_worker_reply_metrics (worker, request->rid, self->metrics);
}

static const fy_worker_route_t s_routes [] = {
    { { "GET", "/analytics/company/:companyId/stats", 0, 0 }, s_stats },
    { { "GET", "/analytics/company/:companyId/users", 0, 0 }, s_users },
    { { "GET", "/analytics/company/:companyId/departments", 0, 0 },
      s_departments },
    { { "GET", "/analytics/manager/:managerId/performance", 0, 0 }, s_manager },
    { { "POST", "/analytics/recompute", 0, 0 }, s_recompute },
    { { "GET", "/analytics/health", 0, 0 }, s_health },
    { { "GET", "/analytics/metrics", 0, 0 }, s_metrics },
    { { NULL, NULL, 0, 0 }, NULL }
};

void
analytics_api_request (fy_worker_t *worker, const fy_request_t *request,
                       void *arg)
{
    fy_worker_route (worker, request, s_routes, arg);
}
