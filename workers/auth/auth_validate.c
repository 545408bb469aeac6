/*  auth_validate: POST /auth/validate, RFC 7662 token introspection for
    user access tokens. The body is {"token": "...", "scope": "..."}
    (scope optional: space-separated scopes the token must all hold).
    The answer is 200 {"active": false} for any token that is not good,
    never saying why (the reason is logged and counted in
    ferry_auth_inactive_total), or 200 {"active": true, sub, companyId,
    sid, scope, exp, iat, iss, aud, jti}; 503 redis_unavailable when the
    token could not be checked, never active on a guess.

    The order costs least first: the bytes' shape, the cache (a token seen
    before with the same scope, until its exp or its session's expiry),
    the header (typ, kid) and the key it names, the signature and claims
    (fy_jwt, then auth_token), and last one Redis round trip for the
    denylist, the user's revoked_before and the session. A kid the key
    set does not know may load the set again (auth_keys); the validation
    is parked until the load ends. */
#include "auth.h"
#include "auth_token.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *token;
    size_t len;
    char *scope;                //  required, or NULL
    char *kid;                  //  the header's, or NULL
    unsigned char hash [32];
    json_t *claims;
    auth_claims_t checked;
    uint64_t generation;
} s_validation_t;

static void
s_validation_free (void *arg)
{
    s_validation_t *v = arg;
    if (!v)
        return;
    if (v->token)
        explicit_bzero (v->token, v->len);
    free (v->token);
    free (v->scope);
    free (v->kid);
    json_decref (v->claims);
    free (v);
}

static const char s_inactive [] = "{\"active\":false}";

static void
s_answer_inactive (auth_t *self, uint64_t rid, const char *reason,
                   const char *sub)
{
    auth_inactive (self, reason, sub);
    auth_reply_text (self, rid, 200, "application/json", s_inactive);
}

//  Redis answered the validation's checks.
static void
s_on_checked (auth_call_t *call, const fy_redis_reply_t *reply)
{
    auth_t *self = call->self;
    s_validation_t *v = call->state;
    const char *error = fy_redis_reply_error (reply);
    size_t size = fy_redis_reply_size (reply);
    const char *word =
        size ? fy_redis_reply_string (fy_redis_reply_element (reply, 0), NULL)
             : NULL;
    if (error || !word) {
        fy_log_warn ("auth: validation not checked: %s",
                     error ? error : "an answer of the wrong shape");
        fy_metric_inc (self->unavailable);
        auth_reply_unavailable (self, call->rid);
        return;
    }
    if (strcmp (word, "ok") != 0 || size < 3) {
        s_answer_inactive (self, call->rid, word, v->checked.sub);
        return;
    }
    const char *company = v->checked.company;
    if (!company)
        company =
            fy_redis_reply_string (fy_redis_reply_element (reply, 1), NULL);
    const char *expires =
        fy_redis_reply_string (fy_redis_reply_element (reply, 2), NULL);
    json_t *body =
        json_pack ("{s:b, s:s, s:s, s:s, s:I, s:I, s:s}", "active", 1, "sub",
                   v->checked.sub, "sid", v->checked.sid, "jti", v->checked.jti,
                   "exp", (json_int_t) v->checked.exp, "iat",
                   (json_int_t) v->checked.iat, "token_type", "access_token");
    if (company && *company)
        json_object_set_new (body, "companyId", json_string (company));
    if (v->checked.scope)
        json_object_set_new (body, "scope", json_string (v->checked.scope));
    json_t *iss = json_object_get (v->claims, "iss");
    if (iss)
        json_object_set (body, "iss", iss);
    json_t *aud = json_object_get (v->claims, "aud");
    if (aud)
        json_object_set (body, "aud", aud);
    char *text = fy_json_dumps (body, 0, NULL);
    json_decref (body);
    fy_metric_inc (self->active);
    auth_reply_text (self, call->rid, 200, "application/json", text);
    //  Kept until the token's exp or its session's end, whichever first.
    int64_t until = v->checked.exp;
    int64_t session_end = 0;
    if (expires && fy_parse_int64 (expires, 0, INT64_MAX, &session_end) == 0
        && session_end / 1000 < until)
        until = session_end / 1000;
    auth_cache_put (self->cache, v->hash, fy_clock_wall_ms () / 1000, until,
                    v->checked.sub, v->checked.sid, v->checked.jti, text,
                    v->generation);
    free (text);
}

//  Verify with the key chosen, check the claims, ask Redis. Takes the
//  call (it ends here or in s_on_checked).
static void
s_verify (auth_t *self, auth_call_t *call, fy_jwt_t *jwt)
{
    s_validation_t *v = call->state;
    int64_t now = fy_clock_wall_ms () / 1000;
    fy_error_t err = { "" };
    fy_jwt_status_t status =
        fy_jwt_verify (jwt, v->token, v->len, now, &v->claims, &err);
    if (status != FY_JWT_OK) {
        fy_log_debug ("auth: token refused: %s", err.text);
        s_answer_inactive (self, call->rid, fy_jwt_status_code (status), NULL);
        auth_call_free (&call);
        return;
    }
    const char *reason =
        auth_token_claims (v->claims, now, self->leeway_s, self->max_lifetime_s,
                           v->scope, &v->checked);
    if (reason) {
        s_answer_inactive (self, call->rid, reason, v->checked.sub);
        auth_call_free (&call);
        return;
    }
    if (!auth_redis_ready (self)) {
        fy_metric_inc (self->unavailable);
        auth_reply_unavailable (self, call->rid);
        auth_call_free (&call);
        return;
    }
    v->generation = auth_cache_generation (self->cache);
    int rc = auth_store_validate (
        self->store, v->checked.sub, v->checked.sid, v->checked.jti,
        v->checked.iat, fy_clock_wall_ms (), auth_call_done, call, &err);
    if (rc)
        fy_metric_inc (self->unavailable);
    auth_call_issued (&call, rc, &err, "validation not checked");
}

//  Choose the key of the call's kid; an unknown one may park the call
//  for a load of the key set (parked calls are on self->parked).
static void
s_choose_key (auth_t *self, auth_call_t *call, bool may_load)
{
    s_validation_t *v = call->state;
    fy_jwt_t *jwt = auth_keys_find (self->keys, v->kid);
    if (jwt) {
        s_verify (self, call, jwt);
        return;
    }
    if (may_load
        && auth_keys_should_refresh (self->keys, v->kid, fy_clock_mono_ms ())) {
        fy_list_unlink (&call->link);
        fy_list_push_back (&self->parked, &call->link);
        auth_keys_reload (self);
        return;
    }
    if (self->refreshing) {
        fy_list_unlink (&call->link);
        fy_list_push_back (&self->parked, &call->link);
        return;
    }
    if (auth_keys_size (self->keys) == 0) {
        //  No key at all (the JWKS URL could not be loaded): our fault,
        //  not the token's.
        fy_metric_inc (self->unavailable);
        auth_reply_error (self, call->rid, 503, "keys_unavailable",
                          "the token keys are not loaded; retry later");
    }
    else
        s_answer_inactive (self, call->rid, "unknown_kid", NULL);
    auth_call_free (&call);
}

void
auth_validate_unpark (auth_t *self)
{
    fy_link_t waiting;
    fy_list_init (&waiting);
    auth_call_t *call;
    fy_list_each (call, &self->parked, auth_call_t, link)
    {
        fy_list_unlink (&call->link);
        fy_list_push_back (&waiting, &call->link);
    }
    fy_list_each (call, &waiting, auth_call_t, link)
    {
        fy_list_unlink (&call->link);
        fy_list_push_back (&self->calls, &call->link);
        s_choose_key (self, call, false);
    }
}

void
auth_validate_request (auth_t *self, const fy_request_t *request)
{
    json_t *root = request->body.len ? fy_json_loadb (request->body.ptr,
                                                      request->body.len, NULL)
                                     : NULL;
    json_t *token = json_object_get (root, "token");
    json_t *scope = json_object_get (root, "scope");
    if (!json_is_string (token) || (scope && !json_is_string (scope))) {
        json_decref (root);
        auth_reply_error (self, request->rid, 400, "invalid_request",
                          "the body must be {\"token\": string, \"scope\": "
                          "optional string}");
        return;
    }
    const char *text = json_string_value (token);
    size_t len = json_string_length (token);
    const char *required = json_string_value (scope);
    const char *reason = auth_token_shape (text, len, self->max_token_bytes);
    if (reason) {
        json_decref (root);
        s_answer_inactive (self, request->rid, reason, NULL);
        return;
    }
    s_validation_t *v = fy_xcalloc (1, sizeof *v);
    auth_token_hash (text, len, required, v->hash);
    const char *cached =
        auth_cache_get (self->cache, v->hash, fy_clock_wall_ms () / 1000);
    if (cached) {
        json_decref (root);
        s_validation_free (v);
        fy_metric_inc (self->cache_hits);
        fy_metric_inc (self->active);
        auth_reply_text (self, request->rid, 200, "application/json", cached);
        return;
    }
    v->token = fy_xstrndup (text, len);
    v->len = len;
    v->scope = required && *required ? fy_xstrdup (required) : NULL;
    json_decref (root);
    auth_call_t *call =
        auth_call_new (self, s_on_checked, v, s_validation_free);
    call->rid = request->rid;
    json_t *header = NULL;
    fy_error_t err = { "" };
    const char *kid = NULL;
    if (fy_jwt_header (v->token, v->len, &header, &err) != FY_JWT_OK)
        reason = "malformed_token";
    else
        reason = auth_token_header (header, self->typ, &kid);
    if (kid)
        v->kid = fy_xstrdup (kid);
    json_decref (header);
    if (reason) {
        s_answer_inactive (self, request->rid, reason, NULL);
        auth_call_free (&call);
        return;
    }
    s_choose_key (self, call, true);
}
