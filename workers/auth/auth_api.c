/*  auth_api: the /auth routes, as REQUESTs the broker forwards (it has
    checked the caller's service token; /auth/health is open), dispatched
    by fy_worker_route from the table at the end. Answers are JSON, errors
    {"error":{"code","message"}}:

        POST   /auth/validate                RFC 7662 introspection
                                             (auth_validate.c)
        GET    /auth/sessions/:userId        the user's live sessions
        DELETE /auth/sessions/:sessionId     revoke one session
        DELETE /auth/users/:userId/sessions  revoke all of the user's
                                             (tokens issued before now die)
        GET    /auth/health                  Redis reachable and keys
                                             loaded -> 200, else 503
        GET    /auth/metrics                 the worker's metrics

    Every Redis error answers 503 redis_unavailable; its text goes to the
    log only. */
#include "auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_reply (auth_t *self, uint64_t rid, unsigned status, const char *type,
         const char *body, size_t len)
{
    if (fy_worker_reply (self->worker, rid, status, type, body, len, false))
        fy_log_warn ("auth: reply rid=%llu not sent: %s",
                     (unsigned long long) rid, zmq_strerror (errno));
}

void
auth_reply_text (auth_t *self, uint64_t rid, unsigned status, const char *type,
                 const char *text)
{
    s_reply (self, rid, status, type, text, strlen (text));
}

void
auth_reply_json (auth_t *self, uint64_t rid, unsigned status, json_t *body)
{
    size_t len = 0;
    char *text = fy_json_dumps (body, 0, &len);
    s_reply (self, rid, status, "application/json", text, len);
    free (text);
}

void
auth_reply_error (auth_t *self, uint64_t rid, unsigned status, const char *code,
                  const char *message)
{
    char *text = fy_json_error_body (code, message);
    auth_reply_text (self, rid, status, "application/json", text);
    free (text);
}

void
auth_reply_unavailable (auth_t *self, uint64_t rid)
{
    auth_reply_error (self, rid, 503, "redis_unavailable",
                      "the session store is unavailable; retry later");
}

//  The uuid parameter name of match into text, or false having answered
//  404 (ids in paths are uuids, as in the events).
static bool
s_uuid_param (auth_t *self, uint64_t rid, const fy_route_match_t *match,
              const char *name, char text [FY_UUID_SIZE])
{
    size_t len = 0;
    const char *value = fy_route_param (match, name, &len);
    if (!value || len != FY_UUID_SIZE - 1 || !fy_uuid_is_valid (value, len)) {
        auth_reply_error (self, rid, 404, "not_found",
                          "no such user or session");
        return false;
    }
    memcpy (text, value, len);
    text [len] = 0;
    return true;
}

static void
s_validate (fy_worker_t *worker, const fy_request_t *request,
            const fy_route_match_t *match, void *arg)
{
    (void) worker;
    (void) match;
    auth_validate_request (arg, request);
}

//  A time in ms as RFC 3339, or JSON null.
static json_t *
s_time (const char *ms_text)
{
    int64_t ms = 0;
    if (!ms_text || fy_parse_int64 (ms_text, 0, INT64_MAX, &ms))
        return json_null ();
    char text [FY_TIME_RFC3339_SIZE];
    fy_time_format (ms, text);
    return json_string (text);
}

static const char *
s_element (const fy_redis_reply_t *row, size_t index)
{
    const char *text =
        fy_redis_reply_string (fy_redis_reply_element (row, index), NULL);
    return text ? text : "";
}

static json_t *
s_or_null (const char *text)
{
    return *text ? json_string (text) : json_null ();
}

static void
s_on_sessions (auth_call_t *call, const fy_redis_reply_t *reply)
{
    auth_t *self = call->self;
    const char *error = fy_redis_reply_error (reply);
    if (error || fy_redis_reply_type (reply) != FY_REDIS_ARRAY) {
        fy_log_warn ("auth: sessions not read: %s",
                     error ? error : "an answer of the wrong shape");
        auth_call_fail (call);
        return;
    }
    json_t *list = json_array ();
    for (size_t i = 0; i < fy_redis_reply_size (reply); i++) {
        const fy_redis_reply_t *row = fy_redis_reply_element (reply, i);
        if (fy_redis_reply_size (row) < 9)
            continue;
        json_t *item = json_object ();
        json_object_set_new (item, "sessionId",
                             json_string (s_element (row, 0)));
        json_object_set_new (item, "companyId", s_or_null (s_element (row, 1)));
        json_object_set_new (item, "ip", s_or_null (s_element (row, 2)));
        json_object_set_new (item, "userAgent", s_or_null (s_element (row, 3)));
        json_object_set_new (item, "method", s_or_null (s_element (row, 7)));
        json_object_set_new (
            item, "mfa", json_boolean (strcmp (s_element (row, 8), "1") == 0));
        json_object_set_new (item, "createdAt", s_time (s_element (row, 4)));
        json_object_set_new (item, "lastSeenAt", s_time (s_element (row, 5)));
        json_object_set_new (item, "expiresAt", s_time (s_element (row, 6)));
        json_array_append_new (list, item);
    }
    json_t *body = json_pack ("{s:s, s:o}", "userId", (char *) call->state,
                              "sessions", list);
    auth_reply_json (self, call->rid, 200, body);
    json_decref (body);
}

//  Starts a request's Redis call: the store function, on input.
typedef int (s_issue_fn) (auth_t *self, const void *input, auth_call_t *call,
                          fy_error_t *err);

//  A Redis call for request, answered by fn, owning state (a string),
//  started by issue on input; 503 at once when Redis is not there, or
//  when the call cannot start (what it is, for the log).
static void
s_request_call (auth_t *self, const fy_request_t *request, auth_call_fn *fn,
                const char *state, s_issue_fn *issue, const void *input,
                const char *what)
{
    if (!auth_redis_ready (self)) {
        auth_reply_unavailable (self, request->rid);
        return;
    }
    auth_call_t *call = auth_call_new (self, fn, fy_xstrdup (state), free);
    call->rid = request->rid;
    fy_error_t err = { "" };
    int rc = issue (self, input, call, &err);
    auth_call_issued (&call, rc, &err, what);
}

static int
s_issue_sessions (auth_t *self, const void *input, auth_call_t *call,
                  fy_error_t *err)
{
    return auth_store_sessions (self->store, input, fy_clock_wall_ms (),
                                auth_call_done, call, err);
}

static int
s_issue_apply (auth_t *self, const void *input, auth_call_t *call,
               fy_error_t *err)
{
    return auth_store_apply (self->store, input, fy_clock_wall_ms (),
                             auth_call_done, call, err);
}

static void
s_sessions (fy_worker_t *worker, const fy_request_t *request,
            const fy_route_match_t *match, void *arg)
{
    (void) worker;
    auth_t *self = arg;
    char user [FY_UUID_SIZE];
    if (!s_uuid_param (self, request->rid, match, "userId", user))
        return;
    s_request_call (self, request, s_on_sessions, user, s_issue_sessions, user,
                    "sessions not read");
}

//  A revocation by the API answered: {"revoked": n} or 404.
static void
s_on_revoked (auth_call_t *call, const fy_redis_reply_t *reply)
{
    auth_t *self = call->self;
    const char *word = auth_call_word (reply, "revocation not applied");
    if (!word) {
        auth_call_fail (call);
        return;
    }
    if (strcmp (word, "not_found") == 0) {
        auth_reply_error (self, call->rid, 404, "not_found", "no such session");
        return;
    }
    int64_t count = fy_redis_reply_integer (fy_redis_reply_element (reply, 1));
    fy_log_notice ("auth: %s revoked by the API (%lld live sessions)",
                   (char *) call->state, (long long) count);
    json_t *body = json_pack ("{s:I}", "revoked", (json_int_t) count);
    auth_reply_json (self, call->rid, 200, body);
    json_decref (body);
}

//  DELETE /auth/sessions/:sessionId (one session) and
//  /auth/users/:userId/sessions (all of them, and the tokens issued
//  before now).
static void
s_delete (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    (void) worker;
    auth_t *self = arg;
    size_t len = 0;
    bool one = fy_route_param (match, "sessionId", &len) != NULL;
    char id [FY_UUID_SIZE];
    if (!s_uuid_param (self, request->rid, match, one ? "sessionId" : "userId",
                       id))
        return;
    auth_op_t op = { .kind = AUTH_OP_REVOKE_SESSION, .sid = id };
    if (!one)
        op = (auth_op_t) { .kind = AUTH_OP_REVOKE_USER,
                           .user = id,
                           .revoked_before_s = fy_clock_wall_ms () / 1000 };
    char what [64];
    snprintf (what, sizeof what, "%s=%s", one ? "session" : "user", id);
    s_request_call (self, request, s_on_revoked, what, s_issue_apply, &op,
                    "revocation not applied");
}

static void
s_health (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    (void) worker;
    (void) match;
    auth_t *self = arg;
    bool redis = auth_redis_ready (self);
    size_t keys = auth_keys_size (self->keys);
    json_t *body = json_pack ("{s:s, s:s, s:I, s:b}", "status",
                              redis && keys ? "ok" : "unavailable", "redis",
                              redis ? "up" : "down", "keys", (json_int_t) keys,
                              "cache", fy_redis_is_subscribed (self->sub));
    if (!redis || !keys) {
        json_t *missing = json_array ();
        if (!redis)
            json_array_append_new (missing, json_string ("redis"));
        if (!keys)
            json_array_append_new (missing, json_string ("keys"));
        json_object_set_new (body, "missing", missing);
    }
    auth_reply_json (self, request->rid, redis && keys ? 200 : 503, body);
    json_decref (body);
}

static void
s_metrics (fy_worker_t *worker, const fy_request_t *request,
           const fy_route_match_t *match, void *arg)
{
    (void) worker;
    (void) match;
    auth_t *self = arg;
    char *text = auth_metrics (self);
    auth_reply_text (self, request->rid, 200, "text/plain; version=0.0.4",
                     text);
    free (text);
}

static const fy_worker_route_t s_routes [] = {
    { { "POST", "/auth/validate", 0, FY_ROUTE_JSON_BODY }, s_validate },
    { { "GET", "/auth/health", 0, 0 }, s_health },
    { { "GET", "/auth/metrics", 0, 0 }, s_metrics },
    { { "GET", "/auth/sessions/:userId", 0, 0 }, s_sessions },
    { { "DELETE", "/auth/sessions/:sessionId", 0, 0 }, s_delete },
    { { "DELETE", "/auth/users/:userId/sessions", 0, 0 }, s_delete },
    { { NULL, NULL, 0, 0 }, NULL }
};

void
auth_api_request (fy_worker_t *worker, const fy_request_t *request, void *arg)
{
    fy_worker_route (worker, request, s_routes, arg);
}
