/*  auth: events, Redis, keys. Each session event becomes one script call
    (auth_store_apply) that checks and records the event's id with its
    effect: applied or duplicate, the delivery is ACKed; another body
    under a known id is a conflict, counted and logged, the first kept and
    the delivery ACKed (it can never apply). An event whose payload lacks
    what its type needs is NACKed for good. Redis not connected, or a call
    that failed (the connection broke, a timeout): NACKed retryable at
    once, so the broker keeps the work and this process holds none.

    Two Redis connections: one for the scripts, one subscribed to the
    revocation channel, which every script that revokes publishes on in
    the same step; each ferry-auth process drops its cached validations
    of what was revoked (auth_cache) when it hears it, and keeps no cache
    at all while it cannot hear (subscription lost until it is back).

    A watch timer notices Redis going and coming back, and says so once
    each way in the log and in ferry_auth_redis_up. */
#include "auth.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_WATCH_MS 250

//  The largest key file or JWKS read.
#define S_MAX_KEY_FILE (1024 * 1024)

//  --------------------------------------------------------------------
//  Calls waiting for Redis

auth_call_t *
auth_call_new (auth_t *self, auth_call_fn *fn, void *state,
               void (*state_free) (void *state))
{
    auth_call_t *call = fy_xcalloc (1, sizeof *call);
    call->self = self;
    call->fn = fn;
    call->state = state;
    call->state_free = state_free;
    fy_list_push_back (&self->calls, &call->link);
    return call;
}

void
auth_call_free (auth_call_t **call_p)
{
    auth_call_t *call = *call_p;
    if (!call)
        return;
    fy_list_unlink (&call->link);
    if (call->state_free)
        call->state_free (call->state);
    free (call);
    *call_p = NULL;
}

void
auth_call_done (const fy_redis_reply_t *reply, void *arg)
{
    auth_call_t *call = arg;
    call->fn (call, reply);
    auth_call_free (&call);
}

void
auth_call_fail (auth_call_t *call)
{
    auth_t *self = call->self;
    if (call->delivery) {
        fy_metric_inc (self->retried);
        fy_worker_nack (self->worker, &call->delivery, true,
                        "redis_unavailable");
    }
    else
        auth_reply_unavailable (self, call->rid);
}

void
auth_call_issued (auth_call_t **call_p, int rc, const fy_error_t *err,
                  const char *what)
{
    auth_call_t *call = *call_p;
    *call_p = NULL;
    if (rc == 0) {
        fy_loop_rearm (call->self->redis_source);
        return;
    }
    fy_log_warn ("auth: %s: %s", what, err->text);
    auth_call_fail (call);
    auth_call_free (&call);
}

const char *
auth_call_word (const fy_redis_reply_t *reply, const char *what)
{
    const char *error = fy_redis_reply_error (reply);
    const char *word =
        fy_redis_reply_size (reply)
            ? fy_redis_reply_string (fy_redis_reply_element (reply, 0), NULL)
            : NULL;
    if (error || !word) {
        fy_log_warn ("auth: %s: %s", what,
                     error ? error : "an answer of the wrong shape");
        return NULL;
    }
    return word;
}

bool
auth_redis_ready (auth_t *self)
{
    return fy_redis_connected (self->redis);
}

//  --------------------------------------------------------------------
//  Redis up and down

static void
s_watch (auth_t *self)
{
    bool up = fy_redis_connected (self->redis);
    if (up == self->redis_up)
        return;
    self->redis_up = up;
    fy_metric_set (self->redis_gauge, up);
    if (up)
        fy_log_notice ("auth: ready: Redis is reachable");
    else
        fy_log_warn ("auth: not ready: Redis unavailable (%s); validations "
                     "answer 503 and events are NACKed for retry until it "
                     "is back",
                     *fy_redis_last_error (self->redis)
                         ? fy_redis_last_error (self->redis)
                         : "not connected yet");
}

static int
s_on_watch (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_watch (arg);
    return 0;
}

//  The revocation channel: drop what it names from the cache.
static void
s_on_revoked (fy_redis_sub_event_t event, const char *channel, const char *data,
              size_t len, void *arg)
{
    (void) channel;
    auth_t *self = arg;
    if (event == FY_REDIS_SUB_READY) {
        //  What was published while nobody listened is unknown: start
        //  with nothing cached.
        auth_cache_reset (self->cache, true);
        fy_metric_set (self->subscribed_gauge, 1);
        fy_log_info ("auth: listening to revocations; cache on");
        return;
    }
    if (event == FY_REDIS_SUB_LOST) {
        auth_cache_reset (self->cache, false);
        fy_metric_set (self->subscribed_gauge, 0);
        fy_log_warn ("auth: revocations not heard (Redis connection lost); "
                     "cache off until they are");
        return;
    }
    static const struct {
        char prefix [3];
        auth_cache_kind_t kind;
    } kinds [] = { { "s:", AUTH_CACHE_SESSION },
                   { "u:", AUTH_CACHE_USER },
                   { "j:", AUTH_CACHE_JTI } };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds [0]; i++)
        if (len > 2 && memcmp (data, kinds [i].prefix, 2) == 0
            && !memchr (data, 0, len)) {
            size_t dropped =
                auth_cache_drop (self->cache, kinds [i].kind, data + 2);
            fy_metric_add (self->cache_drops, (double) dropped);
            return;
        }
}

//  --------------------------------------------------------------------
//  Events

//  The event's id and digest for the store: the SHA-256 of its JSON.
typedef struct {
    char digest [65];
} s_event_state_t;

static void
s_digest (fy_event_t *event, char hex [65])
{
    char *json = fy_event_encode_json (event);
    unsigned char hash [EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_Digest (json, strlen (json), hash, &size, EVP_sha256 (), NULL);
    free (json);
    for (unsigned int i = 0; i < 32; i++)
        snprintf (hex + 2 * i, 3, "%02x", hash [i]);
}

static void
s_on_applied (auth_call_t *call, const fy_redis_reply_t *reply)
{
    auth_t *self = call->self;
    fy_event_t *event = fy_delivery_event (call->delivery, NULL);
    const char *id = event ? fy_event_id (event) : "?";
    const char *error = fy_redis_reply_error (reply);
    const fy_redis_reply_t *status = fy_redis_reply_size (reply) == 2
                                         ? fy_redis_reply_element (reply, 0)
                                         : NULL;
    const char *word = status ? fy_redis_reply_string (status, NULL) : NULL;
    if (error || !word) {
        s_watch (self);
        fy_log_warn ("auth: event=%s not applied, NACKed for retry: %s", id,
                     error ? error : "an answer of the wrong shape");
        fy_metric_inc (self->retried);
        fy_worker_nack (self->worker, &call->delivery, true,
                        "redis_unavailable");
        return;
    }
    if (strcmp (word, "duplicate") == 0) {
        fy_metric_inc (self->duplicates);
        fy_log_debug ("auth: event=%s applied before", id);
    }
    else if (strcmp (word, "conflict") == 0) {
        fy_metric_inc (self->conflicts);
        fy_log_warn ("auth: event=%s conflict: another event with this id "
                     "was applied; this one is not",
                     id);
    }
    else
        fy_metric_inc (self->applied);
    fy_worker_ack (self->worker, &call->delivery);
}

static const char *
s_field (json_t *payload, const char *name)
{
    return json_string_value (json_object_get (payload, name));
}

//  The time field name of payload as epoch ms, or fallback when absent or
//  not an RFC 3339 time.
static int64_t
s_time_field (json_t *payload, const char *name, int64_t fallback)
{
    const char *text = s_field (payload, name);
    int64_t ms = 0;
    if (text && fy_time_parse (text, strlen (text), false, &ms) == 0)
        return ms;
    return fallback;
}

//  The store operation of event, or -1 with *why when its payload lacks
//  what its type needs, or 1 when the type is none of ours.
static int
s_event_op (auth_t *self, fy_event_t *event, auth_op_t *op, const char **why)
{
    const char *type = fy_event_type (event);
    json_t *payload = fy_event_payload (event);
    int64_t at = fy_event_occurred_at_ms (event);
    memset (op, 0, sizeof *op);
    op->user = s_field (payload, "userId");
    *why = "payload without userId";
    if (strcmp (type, "user.login") == 0) {
        op->kind = AUTH_OP_LOGIN;
        op->sid = s_field (payload, "sessionId");
        op->company = fy_event_company_id (event);
        op->ip = s_field (payload, "ip");
        op->ua = s_field (payload, "userAgent");
        op->method = s_field (payload, "method");
        op->mfa = json_is_true (json_object_get (payload, "mfa"));
        op->created_ms = at;
        op->expires_ms =
            s_time_field (payload, "expiresAt", at + self->session_ttl_ms);
    }
    else if (strcmp (type, "user.logout") == 0) {
        op->kind = AUTH_OP_REVOKE_SESSION;
        op->sid = s_field (payload, "sessionId");
    }
    else if (strcmp (type, "auth.session_revoked") == 0) {
        op->sid = s_field (payload, "sessionId");
        op->kind = op->sid ? AUTH_OP_REVOKE_SESSION : AUTH_OP_REVOKE_USER;
        op->except_sid = s_field (payload, "exceptSessionId");
        //  One session kept: its tokens must live, so no revoked_before.
        op->revoked_before_s = op->except_sid ? 0 : at / 1000;
        return op->user ? 0 : -1;
    }
    else if (strcmp (type, "user.password_changed") == 0) {
        op->kind = AUTH_OP_REVOKE_USER;
        json_t *others = json_object_get (payload, "revokeOtherSessions");
        if (json_is_true (others))
            op->except_sid = s_field (payload, "currentSessionId");
        op->revoked_before_s = op->except_sid ? 0 : at / 1000;
    }
    else if (strcmp (type, "user.deactivated") == 0) {
        op->kind = AUTH_OP_REVOKE_USER;
        op->revoked_before_s = at / 1000;
    }
    else if (strcmp (type, "auth.token_revoked") == 0) {
        op->kind = AUTH_OP_DENY_JTI;
        op->jti = s_field (payload, "tokenId");
        int64_t expires = s_time_field (payload, "expiresAt", -1);
        if (!op->jti || expires < 0) {
            *why = "payload without tokenId or expiresAt";
            return -1;
        }
        op->jti_ttl_ms = expires - fy_clock_wall_ms ();
    }
    else
        return 1;
    if (!op->user)
        return -1;
    if ((op->kind == AUTH_OP_LOGIN || op->kind == AUTH_OP_REVOKE_SESSION)
        && !op->sid) {
        *why = "payload without sessionId";
        return -1;
    }
    return 0;
}

static void
s_on_events (fy_worker_t *worker, fy_delivery_t **deliveries, size_t count,
             void *arg)
{
    auth_t *self = arg;
    for (size_t i = 0; i < count; i++) {
        fy_error_t err = { "" };
        fy_event_t *event = fy_delivery_event (deliveries [i], &err);
        if (!event) {
            fy_metric_inc (self->rejected);
            fy_log_warn ("auth: did=%llu not an event: %s",
                         (unsigned long long) deliveries [i]->did, err.text);
            fy_worker_nack (worker, &deliveries [i], false, err.text);
            continue;
        }
        auth_op_t op;
        const char *why = NULL;
        int rc = s_event_op (self, event, &op, &why);
        if (rc > 0) {
            fy_metric_inc (self->ignored);
            fy_worker_ack (worker, &deliveries [i]);
            continue;
        }
        if (rc < 0) {
            fy_metric_inc (self->rejected);
            fy_log_warn ("auth: event=%s %s: %s, NACKed for good",
                         fy_event_id (event), fy_event_type (event), why);
            fy_worker_nack (worker, &deliveries [i], false, why);
            continue;
        }
        if (!auth_redis_ready (self)) {
            s_watch (self);
            fy_metric_inc (self->retried);
            fy_worker_nack (worker, &deliveries [i], true, "redis_unavailable");
            continue;
        }
        s_event_state_t *state = fy_xcalloc (1, sizeof *state);
        s_digest (event, state->digest);
        op.event_id = fy_event_id (event);
        op.digest = state->digest;
        auth_call_t *call = auth_call_new (self, s_on_applied, state, free);
        call->delivery = deliveries [i];
        deliveries [i] = NULL;
        if (auth_store_apply (self->store, &op, fy_clock_wall_ms (),
                              auth_call_done, call, &err)) {
            fy_log_warn ("auth: event=%s not applied, NACKed for retry: %s",
                         op.event_id, err.text);
            fy_metric_inc (self->retried);
            fy_worker_nack (worker, &call->delivery, true, "redis_unavailable");
            auth_call_free (&call);
        }
    }
    fy_loop_rearm (self->redis_source);
}

//  --------------------------------------------------------------------
//  Keys

//  A JWKS URL was loaded (or not): take the keys, run what waited.
static void
s_on_jwks (const fy_http_result_t *result, void *arg)
{
    auth_t *self = arg;
    self->refreshing = false;
    size_t len = 0;
    const char *body = fy_http_result_body (result, &len);
    fy_error_t err = { "" };
    size_t skipped = 0;
    int status = fy_http_result_status (result);
    int count = -1;
    if (fy_http_result_error (result))
        fy_error_set (&err, "%s", fy_http_result_error_text (result));
    else if (status != 200)
        fy_error_set (&err, "HTTP %d", status);
    else
        count = auth_keys_load_jwks (self->keys, body, len, &skipped, &err);
    if (count < 0) {
        fy_metric_inc (self->refresh_failed);
        fy_log_warn ("auth: JWKS %s not loaded: %s",
                     fy_cfg_str (self->cfg, "auth", "jwks_url"), err.text);
    }
    else {
        fy_metric_inc (self->refresh_ok);
        fy_log_info ("auth: JWKS loaded: %d keys (%zu left out)", count,
                     skipped);
    }
    fy_metric_set (self->keys_gauge, (double) auth_keys_size (self->keys));
    auth_keys_refreshed (self->keys, fy_clock_mono_ms ());
    auth_validate_unpark (self);
}

//  Load the key set file. Returns the number of keys or -1 with err.
static int
s_load_jwks_file (auth_t *self, fy_error_t *err)
{
    const char *path = fy_cfg_str (self->cfg, "auth", "jwks_file");
    size_t len = 0;
    char *text = fy_read_file (path, S_MAX_KEY_FILE, &len);
    if (!text) {
        fy_error_set (err, "auth.jwks_file %s: %s", path, strerror (errno));
        return -1;
    }
    size_t skipped = 0;
    int count = auth_keys_load_jwks (self->keys, text, len, &skipped, err);
    free (text);
    if (count >= 0 && skipped)
        fy_log_notice ("auth: %s: %zu keys left out (kty, alg or use not "
                       "ours, or no kid)",
                       path, skipped);
    return count;
}

//  Load the key set again (an unknown kid asked): the file now, the URL
//  in the background (auth_validate_unpark runs when it lands).
void
auth_keys_reload (auth_t *self)
{
    if (self->http) {
        if (self->refreshing)
            return;
        fy_error_t err = { "" };
        fy_http_call_t *call = fy_http_call_new (
            "GET", fy_cfg_str (self->cfg, "auth", "jwks_url"));
        fy_http_call_set_timeouts (call, 2000, 5000);
        fy_http_call_set_max_body (call, S_MAX_KEY_FILE);
        fy_http_call_add_header (call, "Accept", "application/json");
        if (fy_http_client_start (self->http, &call, s_on_jwks, self, NULL,
                                  &err)) {
            fy_log_warn ("auth: JWKS load not started: %s", err.text);
            auth_keys_refreshed (self->keys, fy_clock_mono_ms ());
            auth_validate_unpark (self);
            return;
        }
        self->refreshing = true;
        if (self->http_source)
            fy_loop_rearm (self->http_source);
        return;
    }
    const char *file = fy_cfg_str (self->cfg, "auth", "jwks_file");
    if (file && *file) {
        fy_error_t err = { "" };
        if (s_load_jwks_file (self, &err) < 0) {
            fy_metric_inc (self->refresh_failed);
            fy_log_warn ("auth: %s", err.text);
        }
        else
            fy_metric_inc (self->refresh_ok);
        fy_metric_set (self->keys_gauge, (double) auth_keys_size (self->keys));
    }
    auth_keys_refreshed (self->keys, fy_clock_mono_ms ());
    auth_validate_unpark (self);
}

//  The one key source of the configuration. Returns 0, or -1 with err
//  (a bad setting).
static int
s_keys_load (auth_t *self, fy_error_t *err)
{
    fy_cfg_t *cfg = self->cfg;
    const char *secret = fy_cfg_str (cfg, "auth", "jwt_secret");
    const char *pem = fy_cfg_str (cfg, "auth", "jwt_public_key_file");
    const char *file = fy_cfg_str (cfg, "auth", "jwks_file");
    const char *url = fy_cfg_str (cfg, "auth", "jwks_url");
    int sources = !!(secret && *secret) + !!(pem && *pem) + !!(file && *file)
                  + !!(url && *url);
    if (sources != 1) {
        fy_error_set (err,
                      "set exactly one of auth.jwt_secret, "
                      "auth.jwt_public_key_file, auth.jwks_file and "
                      "auth.jwks_url (%d set)",
                      sources);
        return -1;
    }
    auth_keys_options_t options = {
        .alg = fy_cfg_str (cfg, "auth", "jwt_alg"),
        .leeway_s = (int) self->leeway_s,
        .issuer = fy_cfg_str (cfg, "auth", "jwt_issuer"),
        .audience = fy_cfg_str (cfg, "auth", "jwt_audience"),
        .refresh_min_ms = fy_cfg_int (cfg, "auth", "jwks_refresh_min_s") * 1000,
    };
    self->keys = auth_keys_new (&options, err);
    if (!self->keys)
        return -1;
    if (secret && *secret) {
        if (auth_keys_set_key (self->keys, secret, strlen (secret), err))
            return -1;
    }
    else if (pem && *pem) {
        size_t len = 0;
        char *text = fy_read_file (pem, S_MAX_KEY_FILE, &len);
        if (!text) {
            fy_error_set (err, "auth.jwt_public_key_file %s: %s", pem,
                          strerror (errno));
            return -1;
        }
        int rc = auth_keys_set_key (self->keys, text, len, err);
        free (text);
        if (rc)
            return -1;
    }
    else if (file && *file) {
        if (s_load_jwks_file (self, err) < 0)
            return -1;
        auth_keys_refreshed (self->keys, fy_clock_mono_ms ());
    }
    else {
        self->http = fy_http_client_new (NULL, err);
        if (!self->http)
            return -1;
    }
    fy_metric_set (self->keys_gauge, (double) auth_keys_size (self->keys));
    return 0;
}

//  --------------------------------------------------------------------
//  The object

static void
s_metrics_new (auth_t *self)
{
    fy_metrics_t *m = self->metrics = fy_metrics_new ();
    const char *help = "POST /auth/validate answers, by result";
    self->active =
        fy_metrics_counter (m, "ferry_auth_validations_total", help,
                            (const char *[]) { "result", "active", NULL });
    self->unavailable =
        fy_metrics_counter (m, "ferry_auth_validations_total", help,
                            (const char *[]) { "result", "unavailable", NULL });
    self->cache_hits = fy_metrics_counter (
        m, "ferry_auth_cache_hits_total",
        "validations answered from the in-process cache", NULL);
    self->cache_drops = fy_metrics_counter (
        m, "ferry_auth_cache_drops_total",
        "cached validations dropped on a revocation heard", NULL);
    self->redis_gauge = fy_metrics_gauge (m, "ferry_auth_redis_up",
                                          "1 when Redis is reachable", NULL);
    self->subscribed_gauge = fy_metrics_gauge (
        m, "ferry_auth_revocations_heard",
        "1 while the revocation channel is subscribed (the cache is on)", NULL);
    self->keys_gauge = fy_metrics_gauge (
        m, "ferry_auth_keys", "keys user tokens are verified with", NULL);
    help = "session events, by outcome";
    const char *name = "ferry_auth_events_total";
    self->applied = fy_metrics_counter (
        m, name, help, (const char *[]) { "outcome", "applied", NULL });
    self->duplicates = fy_metrics_counter (
        m, name, help, (const char *[]) { "outcome", "duplicate", NULL });
    self->conflicts = fy_metrics_counter (
        m, name, help, (const char *[]) { "outcome", "conflict", NULL });
    self->ignored = fy_metrics_counter (
        m, name, help, (const char *[]) { "outcome", "ignored", NULL });
    self->rejected = fy_metrics_counter (
        m, name, help, (const char *[]) { "outcome", "rejected", NULL });
    self->retried = fy_metrics_counter (
        m, name, help, (const char *[]) { "outcome", "retry", NULL });
    help = "loads of the key set for an unknown kid, by result";
    self->refresh_ok =
        fy_metrics_counter (m, "ferry_auth_key_loads_total", help,
                            (const char *[]) { "result", "ok", NULL });
    self->refresh_failed =
        fy_metrics_counter (m, "ferry_auth_key_loads_total", help,
                            (const char *[]) { "result", "failed", NULL });
}

void
auth_inactive (auth_t *self, const char *reason, const char *sub)
{
    fy_metric_inc (fy_metrics_counter (
        self->metrics, "ferry_auth_inactive_total",
        "tokens answered active:false, by reason (never told to the caller)",
        (const char *[]) { "reason", reason, NULL }));
    fy_log_info ("auth: inactive token: %s%s%s", reason, sub ? " sub=" : "",
                 sub ? sub : "");
}

char *
auth_metrics (auth_t *self)
{
    assert (self);
    fy_metrics_process (self->metrics);
    return fy_metrics_render (self->metrics);
}

auth_t *
auth_new (fy_cfg_t *cfg, fy_error_t *err)
{
    assert (cfg);
    auth_t *self = fy_xcalloc (1, sizeof *self);
    self->cfg = cfg;
    self->watch_timer = -1;
    fy_list_init (&self->parked);
    fy_list_init (&self->calls);
    s_metrics_new (self);
    self->leeway_s = fy_cfg_int (cfg, "auth", "jwt_leeway_s");
    self->max_lifetime_s = fy_cfg_int (cfg, "auth", "max_token_lifetime_s");
    self->session_ttl_ms = fy_cfg_int (cfg, "auth", "session_ttl_s") * 1000;
    self->max_token_bytes =
        (size_t) fy_cfg_int (cfg, "auth", "max_token_bytes");
    self->typ = fy_cfg_str (cfg, "auth", "jwt_typ");
    const char *url = fy_cfg_str (cfg, "auth", "redis_url");
    if (!url || !*url) {
        fy_error_set (err, "auth.redis_url (REDIS_URL) is not set");
        goto fail;
    }
    if (s_keys_load (self, err))
        goto fail;
    fy_redis_options_t options;
    fy_redis_options_default (&options);
    options.timeout_ms = fy_cfg_int (cfg, "auth", "redis_timeout_ms");
    options.reconnect_max_ms = 2000;
    self->redis = fy_redis_new (url, &options, err);
    if (!self->redis)
        goto fail;
    self->sub = fy_redis_new (url, &options, err);
    if (!self->sub)
        goto fail;
    int64_t revoke_ttl = self->max_lifetime_s + self->leeway_s + 60;
    self->store = auth_store_new (
        self->redis, fy_cfg_str (cfg, "auth", "key_prefix"), revoke_ttl,
        self->session_ttl_ms, fy_cfg_int (cfg, "auth", "event_ttl_s"));
    self->cache =
        auth_cache_new ((size_t) fy_cfg_int (cfg, "auth", "cache_max"));
    auth_cache_reset (self->cache, false);
    if (fy_redis_subscribe (self->sub, auth_store_channel (self->store),
                            s_on_revoked, self, err))
        goto fail;
    self->worker =
        fy_worker_new (fy_cfg_str (cfg, "auth", "broker"), "auth",
                       fy_cfg_str (cfg, "auth", "name"),
                       (unsigned) fy_cfg_int (cfg, "auth", "credit"), err);
    if (!self->worker)
        goto fail;
    fy_worker_set_heartbeat (self->worker,
                             fy_cfg_int (cfg, "auth", "heartbeat_ms"),
                             fy_cfg_int (cfg, "auth", "liveness"));
    fy_worker_set_stop_timeout (self->worker,
                                fy_cfg_int (cfg, "auth", "stop_timeout_ms"));
    fy_worker_on_events (self->worker, s_on_events, self);
    fy_worker_on_request (self->worker, auth_api_request, self);
    return self;
fail:
    //  Every failure above is a setting's: a URL, a key, an endpoint.
    auth_destroy (&self);
    errno = EINVAL;
    return NULL;
}

void
auth_destroy (auth_t **self_p)
{
    assert (self_p);
    auth_t *self = *self_p;
    if (!self)
        return;
    //  Calls still waiting: their callbacks will never run.
    auth_call_t *call;
    fy_list_each (call, &self->calls, auth_call_t, link)
    {
        if (call->delivery && self->worker)
            fy_worker_nack (self->worker, &call->delivery, true,
                            "redis_unavailable");
        auth_call_free (&call);
    }
    fy_list_each (call, &self->parked, auth_call_t, link)
        auth_call_free (&call);
    fy_worker_destroy (&self->worker);
    fy_redis_destroy (&self->redis);
    fy_redis_destroy (&self->sub);
    fy_http_client_destroy (&self->http);
    auth_store_destroy (&self->store);
    auth_keys_destroy (&self->keys);
    auth_cache_destroy (&self->cache);
    fy_metrics_destroy (&self->metrics);
    free (self);
    *self_p = NULL;
}

int
auth_run (auth_t *self)
{
    assert (self);
    zloop_t *loop = fy_worker_loop (self->worker);
    self->redis_source = fy_redis_attach (self->redis, loop);
    self->sub_source = fy_redis_attach (self->sub, loop);
    if (self->http) {
        self->http_source = fy_http_client_attach (self->http, loop);
        //  The first load, before any token asks.
        auth_keys_reload (self);
    }
    self->watch_timer = zloop_timer (loop, S_WATCH_MS, 0, s_on_watch, self);
    fy_log_notice ("auth: started; %zu keys%s", auth_keys_size (self->keys),
                   self->http ? " (JWKS URL loading)" : "");
    int rc = fy_worker_run (self->worker);
    //  The drain waited for what was in hand; what is left ran out of
    //  stop_timeout_ms: NACKed for retry, requests left to the broker's
    //  timeout.
    auth_call_t *call;
    fy_list_each (call, &self->calls, auth_call_t, link) if (call->delivery)
        fy_worker_nack (self->worker, &call->delivery, true, "stopping");
    fy_worker_flush (self->worker);
    zloop_timer_end (loop, self->watch_timer);
    fy_loop_detach (&self->http_source);
    fy_loop_detach (&self->redis_source);
    fy_loop_detach (&self->sub_source);
    fy_log_notice ("auth: stopped; %.0f events applied, %.0f validations "
                   "active",
                   fy_metric_value (self->applied),
                   fy_metric_value (self->active));
    return rc;
}
