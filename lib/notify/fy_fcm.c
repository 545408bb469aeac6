/*  fy_fcm: an FCM send is an op on the call runner the AWS clients use
    too (fy_http_ops: ids, cancel, backoff timers, attempts), with one step
    before each attempt that theirs lack: an access token. The client
    holds at most one token and at most one token request; an attempt
    that finds no usable token marks its op waiting and, when no request
    is in flight, starts one; the answer releases every waiting op at
    once (each on a zero timer, so no callback runs while the list is
    walked). A token past its refresh time but not expired is still used
    while a fresh one is fetched. The key is read once, at creation, and
    checked by signing a throw-away assertion, so a bad key fails there
    and not on the first push. */
#include "notify/fy_fcm.h"
#include "notify/fy_fcm_int.h"
#include "ferry/fy_json.h"
#include "http/fy_jwt.h"
#include "http/fy_http_ops.h"

#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define S_FCM_ERROR_TYPE "type.googleapis.com/google.firebase.fcm.v1.FcmError"
//  The assertion's lifetime: Google takes at most an hour.
#define S_ASSERTION_S 3600

struct fy_fcm {
    fy_http_ops_t ops;
    char *endpoint;
    char *send_url;
    char *token_uri;
    char *client_email;
    char *project_id;
    char *private_key;          //  PEM, wiped on destroy
    size_t private_key_len;
    int64_t retry_after_max_ms;
    int64_t margin_ms;
    //  The access token, wiped when dropped; gen counts the tokens so
    //  that a 401 drops only the token it was given for.
    char *token;
    uint64_t token_gen;
    int64_t refresh_at_ms;      //  Monotonic: fetch a new one after this
    int64_t expires_at_ms;      //  Monotonic: never use it after this
    uint64_t token_http_id;     //  The token request in flight, or 0
    int64_t token_started_ms;
    size_t token_requests;
};

typedef struct {
    fy_http_op_t base;          //  First: the list's view of the op
    fy_fcm_t *fcm;
    char *body;
    size_t len;
    fy_http_op_done_fn *fn;
    void *arg;
    bool waiting;               //  For a token
    bool finish;                //  The next timer ends the op
    bool reauthorized;          //  A 401 was retried already
    uint64_t token_gen;         //  Of the attempt in flight
    fy_http_outcome_t out;      //  How the last attempt went
} s_op_t;

static bool
s_is_code (const char *code, const char *want)
{
    return code && strcmp (code, want) == 0;
}

bool
fy_fcm_is_retryable (int status, const char *code)
{
    return status == 429 || status >= 500 || s_is_code (code, "QUOTA_EXCEEDED")
           || s_is_code (code, "UNAVAILABLE") || s_is_code (code, "INTERNAL");
}

void
fy_fcm_options_default (fy_fcm_options_t *options)
{
    assert (options);
    memset (options, 0, sizeof *options);
    fy_http_ops_options_default (&options->base);
    options->retry_after_max_ms = 30 * 1000;
    options->refresh_margin_s = 300;
}

//  --------------------------------------------------------------------
//  The key file

static bool
s_http_url (const char *url)
{
    return strncmp (url, "http://", 7) == 0
           || strncmp (url, "https://", 8) == 0;
}

//  A project id as Google makes them (lowercase letters, digits,
//  hyphens; "domain.com:name" for old ones): nothing that would need
//  escaping in the URL's path.
static bool
s_project_id_ok (const char *id)
{
    if (!*id)
        return false;
    for (const char *c = id; *c; c++)
        if (!strchr ("abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.:_",
                     *c))
            return false;
    return true;
}

static const char *
s_member (json_t *key, const char *name)
{
    const char *value = json_string_value (json_object_get (key, name));
    return value && *value ? value : NULL;
}

static json_t *
s_assertion_claims (fy_fcm_t *self)
{
    json_int_t now = (json_int_t) (fy_clock_wall_ms () / 1000);
    return json_pack ("{s:s, s:s, s:s, s:I, s:I}", "iss", self->client_email,
                      "scope", FY_FCM_SCOPE, "aud", self->token_uri, "iat", now,
                      "exp", now + S_ASSERTION_S);
}

//  The assertion, or NULL with err filled (fy_jwt's text, never the key).
static char *
s_assertion (fy_fcm_t *self, fy_error_t *err)
{
    json_t *claims = s_assertion_claims (self);
    char *jwt = fy_jwt_sign ("RS256", self->private_key, self->private_key_len,
                             claims, err);
    json_decref (claims);
    return jwt;
}

static void
s_wipe_free (char *secret)
{
    if (secret) {
        OPENSSL_cleanse (secret, strlen (secret));
        free (secret);
    }
}

//  Read and check the key file into self. Errors name the file and the
//  member, never a value but type's.
static int
s_load_key (fy_fcm_t *self, const char *path, fy_error_t *err)
{
    size_t size;
    char *text = fy_read_file (path, FY_FCM_KEY_FILE_MAX, &size);
    if (!text) {
        fy_error_set (err, "fcm: cannot read key file %s: %s", path,
                      strerror (errno));
        return -1;
    }
    int rc = -1;
    fy_error_t jerr = { "" };
    json_t *key = fy_json_loadb (text, size, &jerr);
    OPENSSL_cleanse (text, size);
    free (text);
    const char *type = s_member (key, "type");
    const char *email = s_member (key, "client_email");
    const char *pem = s_member (key, "private_key");
    const char *project = s_member (key, "project_id");
    const char *uri = s_member (key, "token_uri");
    char *probe = NULL;
    if (!json_is_object (key))
        fy_error_set (err, "fcm: key file %s is not a JSON object%s%s", path,
                      jerr.text [0] ? ": " : "", jerr.text);
    else if (!type || strcmp (type, "service_account") != 0)
        fy_error_set (err,
                      "fcm: key file %s is of type \"%.40s\", not a "
                      "service account's (\"service_account\")",
                      path, type ? type : "");
    else if (!email)
        fy_error_set (err, "fcm: key file %s has no client_email", path);
    else if (!pem)
        fy_error_set (err, "fcm: key file %s has no private_key", path);
    else if (!project || !s_project_id_ok (project))
        fy_error_set (err, "fcm: key file %s has no usable project_id", path);
    else if (uri && !s_http_url (uri))
        fy_error_set (err,
                      "fcm: key file %s: token_uri is not an http(s) "
                      "URL",
                      path);
    else {
        self->client_email = fy_xstrdup (email);
        self->project_id = fy_xstrdup (project);
        self->token_uri = fy_xstrdup (uri ? uri : FY_FCM_TOKEN_URI);
        self->private_key = fy_xstrdup (pem);
        self->private_key_len = strlen (pem);
        //  Sign once now: a key that cannot sign fails here, not on the
        //  first push.
        fy_error_t serr = { "" };
        probe = s_assertion (self, &serr);
        if (probe)
            rc = 0;
        else
            fy_error_set (err,
                          "fcm: key file %s: private_key is not a "
                          "usable RSA key (%s)",
                          path, serr.text);
    }
    s_wipe_free (probe);
    //  The tree holds the key too: wipe it before jansson frees it.
    json_t *secret = json_object_get (key, "private_key");
    if (json_is_string (secret))
        OPENSSL_cleanse ((char *) json_string_value (secret),
                         json_string_length (secret));
    json_decref (key);
    if (rc)
        errno = EINVAL;
    return rc;
}

//  --------------------------------------------------------------------
//  Lifecycle

static char *
s_endpoint (const fy_fcm_options_t *options, fy_error_t *err)
{
    const char *endpoint = getenv ("FCM_ENDPOINT_URL");
    if (!endpoint || !*endpoint)
        endpoint = options->endpoint && *options->endpoint ? options->endpoint
                                                           : FY_FCM_ENDPOINT;
    return fy_http_url_trim (endpoint, "fcm", err);
}

fy_fcm_t *
fy_fcm_new (fy_http_client_t *http, const fy_fcm_options_t *options,
            fy_error_t *err)
{
    assert (http);
    fy_fcm_options_t defaults;
    fy_fcm_options_default (&defaults);
    if (!options)
        options = &defaults;
    const char *path = options->key_file;
    if (!path || !*path)
        path = getenv ("GOOGLE_APPLICATION_CREDENTIALS");
    if (!path || !*path) {
        fy_error_set (err, "fcm: no key file (set "
                           "GOOGLE_APPLICATION_CREDENTIALS)");
        errno = EINVAL;
        return NULL;
    }
    fy_fcm_t *self = fy_xcalloc (1, sizeof *self);
    //  The Authorization header is the token's, set on every attempt.
    fy_http_ops_options_t base = options->base;
    base.sign = NULL;
    fy_http_ops_init (&self->ops, http, &base);
    self->retry_after_max_ms = options->retry_after_max_ms > 0
                                   ? options->retry_after_max_ms
                                   : defaults.retry_after_max_ms;
    self->margin_ms =
        1000
        * (options->refresh_margin_s > 0 ? options->refresh_margin_s
                                         : defaults.refresh_margin_s);
    self->endpoint = s_endpoint (options, err);
    if (!self->endpoint) {
        fy_fcm_destroy (&self);
        errno = EINVAL;
        return NULL;
    }
    if (s_load_key (self, path, err)) {
        int saved = errno;
        fy_fcm_destroy (&self);
        errno = saved;
        return NULL;
    }
    self->send_url = fy_xasprintf ("%s/v1/projects/%s/messages:send",
                                   self->endpoint, self->project_id);
    return self;
}

static void
s_drop_token (fy_fcm_t *self)
{
    s_wipe_free (self->token);
    self->token = NULL;
}

void
fy_fcm_destroy (fy_fcm_t **self_p)
{
    assert (self_p);
    fy_fcm_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_http_ops_clear (&self->ops);
    if (self->token_http_id)
        fy_http_client_cancel (self->ops.http, self->token_http_id);
    s_drop_token (self);
    s_wipe_free (self->private_key);
    free (self->endpoint);
    free (self->send_url);
    free (self->token_uri);
    free (self->client_email);
    free (self->project_id);
    free (self);
    *self_p = NULL;
    errno = saved;
}

const char *
fy_fcm_project_id (fy_fcm_t *self)
{
    assert (self);
    return self->project_id;
}

const char *
fy_fcm_client_email (fy_fcm_t *self)
{
    assert (self);
    return self->client_email;
}

const char *
fy_fcm_endpoint (fy_fcm_t *self)
{
    assert (self);
    return self->endpoint;
}

const char *
fy_fcm_token_uri (fy_fcm_t *self)
{
    assert (self);
    return self->token_uri;
}

size_t
fy_fcm_pending (fy_fcm_t *self)
{
    assert (self);
    return self->ops.pending;
}

size_t
fy_fcm_token_requests (fy_fcm_t *self)
{
    assert (self);
    return self->token_requests;
}

bool
fy_fcm_cancel (fy_fcm_t *self, uint64_t id)
{
    assert (self);
    return fy_http_ops_cancel (&self->ops, id);
}

//  --------------------------------------------------------------------
//  The message

//  A topic name as FCM takes it: [a-zA-Z0-9-_.~%]+.
static bool
s_topic_ok (const char *topic)
{
    if (!*topic)
        return false;
    for (const char *c = topic; *c; c++)
        if (!strchr ("abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~%",
                     *c))
            return false;
    return true;
}

//  The data keys FCM keeps for itself.
static bool
s_data_key_ok (const char *key)
{
    return *key && strcmp (key, "from") != 0
           && strcmp (key, "notification") != 0
           && strcmp (key, "message_type") != 0
           && strncmp (key, "google", 6) != 0 && strncmp (key, "gcm", 3) != 0;
}

//  Set name to text (when not NULL) in object; false when not UTF-8.
static bool
s_set_text (json_t *object, const char *name, const char *text)
{
    if (!text)
        return true;
    json_t *value = json_string (text);
    if (!value)
        return false;
    json_object_set_new (object, name, value);
    return true;
}

static int
s_target (const fy_fcm_message_t *message, json_t *body, fy_error_t *err)
{
    int targets = !!message->token + !!message->topic + !!message->condition;
    if (targets != 1) {
        fy_error_set (err,
                      "fcm: %d targets (exactly one of token, topic, "
                      "condition)",
                      targets);
        return -1;
    }
    if ((message->token && !*message->token)
        || (message->condition && !*message->condition)
        || (message->topic && !s_topic_ok (message->topic))) {
        fy_error_set (err, "fcm: an empty target, or a topic with a "
                           "character FCM does not allow");
        return -1;
    }
    if (!s_set_text (body, "token", message->token)
        || !s_set_text (body, "topic", message->topic)
        || !s_set_text (body, "condition", message->condition)) {
        fy_error_set (err, "fcm: the target is not UTF-8");
        return -1;
    }
    return 0;
}

static int
s_data (const char **data, json_t *body, fy_error_t *err)
{
    json_t *map = json_object ();
    json_object_set_new (body, "data", map);
    for (size_t i = 0; data && data [i]; i += 2) {
        if (!s_data_key_ok (data [i]) || !data [i + 1]) {
            fy_error_set (err,
                          "fcm: data key '%.40s' is empty, reserved "
                          "or without a value",
                          data [i]);
            return -1;
        }
        //  jansson takes any key bytes; FCM takes UTF-8 only.
        json_t *key = json_string (data [i]);
        json_t *value = json_string (data [i + 1]);
        json_decref (key);
        if (!key || !value) {
            json_decref (value);
            fy_error_set (err, "fcm: data is not UTF-8");
            return -1;
        }
        json_object_set_new (map, data [i], value);
    }
    if (json_object_size (map) == 0)
        json_object_del (body, "data");
    return 0;
}

char *
fy_fcm_body (const fy_fcm_message_t *message, size_t *len_p, fy_error_t *err)
{
    assert (message);
    assert (len_p);
    char *text = NULL;
    json_t *request = json_object ();
    json_t *body = json_object ();
    json_object_set_new (request, "message", body);
    if (message->validate_only)
        json_object_set_new (request, "validate_only", json_true ());
    if (s_target (message, body, err) || s_data (message->data, body, err))
        goto out;
    if (message->title || message->body || message->image) {
        json_t *notification = json_object ();
        json_object_set_new (body, "notification", notification);
        if (!s_set_text (notification, "title", message->title)
            || !s_set_text (notification, "body", message->body)
            || !s_set_text (notification, "image", message->image)) {
            fy_error_set (err, "fcm: the notification is not UTF-8");
            goto out;
        }
    }
    if ((message->android && !json_is_object (message->android))
        || (message->apns && !json_is_object (message->apns))) {
        fy_error_set (err, "fcm: android and apns must be JSON objects");
        goto out;
    }
    if (message->android)
        json_object_set_new (body, "android",
                             json_deep_copy (message->android));
    if (message->apns)
        json_object_set_new (body, "apns", json_deep_copy (message->apns));
    text = fy_json_dumps (request, FY_JSON_SORT_KEYS, len_p);
out:
    json_decref (request);
    if (!text)
        errno = EINVAL;
    return text;
}

//  --------------------------------------------------------------------
//  The answers

//  The answer's JSON object, or NULL.
static json_t *
s_object (const fy_http_answer_t *answer)
{
    json_t *json = answer->body && answer->len
                       ? fy_json_loadb (answer->body, answer->len, NULL)
                       : NULL;
    if (!json_is_object (json)) {
        json_decref (json);
        return NULL;
    }
    return json;
}

static void
s_set_error (fy_http_service_error_t *error, const char *code,
             const char *message)
{
    if (code)
        snprintf (error->code, sizeof error->code, "%s", code);
    if (message)
        snprintf (error->message, sizeof error->message, "%s", message);
}

//  The FcmError detail's errorCode, or NULL.
static const char *
s_fcm_error_code (json_t *details)
{
    for (size_t i = 0; i < json_array_size (details); i++) {
        json_t *detail = json_array_get (details, i);
        const char *type =
            json_string_value (json_object_get (detail, "@type"));
        const char *code =
            json_string_value (json_object_get (detail, "errorCode"));
        if (type && strcmp (type, S_FCM_ERROR_TYPE) == 0 && code && *code)
            return code;
    }
    return NULL;
}

int
fy_fcm_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
              char **message_id, char **request_id)
{
    assert (answer && error && message_id && request_id);
    memset (error, 0, sizeof *error);
    json_t *json = s_object (answer);
    bool ok = answer->status >= 200 && answer->status <= 299;
    if (ok) {
        const char *name = json_string_value (json_object_get (json, "name"));
        if (name && *name)
            *message_id = fy_xstrdup (name);
        else
            snprintf (error->message, sizeof error->message,
                      "fcm: HTTP %d without a message name", answer->status);
    }
    else {
        error->sender_fault = answer->status >= 400 && answer->status < 500;
        json_t *detail = json_object_get (json, "error");
        const char *code =
            s_fcm_error_code (json_object_get (detail, "details"));
        if (!code || !*code)
            code = json_string_value (json_object_get (detail, "status"));
        s_set_error (error, code,
                     json_string_value (json_object_get (detail, "message")));
    }
    json_decref (json);
    return ok && *message_id ? 0 : -1;
}

//  A token that can go into a header as it is.
static bool
s_token_ok (const char *token)
{
    if (!*token)
        return false;
    for (const char *c = token; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            return false;
    return true;
}

int
fy_fcm_parse_token (const fy_http_answer_t *answer,
                    fy_http_service_error_t *error, char **token,
                    int64_t *expires_in_s)
{
    assert (answer && error && token && expires_in_s);
    memset (error, 0, sizeof *error);
    *token = NULL;
    json_t *json = s_object (answer);
    if (answer->status < 200 || answer->status > 299) {
        error->sender_fault = answer->status >= 400 && answer->status < 500;
        s_set_error (
            error, json_string_value (json_object_get (json, "error")),
            json_string_value (json_object_get (json, "error_description")));
        json_decref (json);
        return -1;
    }
    const char *access =
        json_string_value (json_object_get (json, "access_token"));
    const char *type = json_string_value (json_object_get (json, "token_type"));
    json_t *expires = json_object_get (json, "expires_in");
    json_int_t seconds = expires ? json_integer_value (expires) : 3600;
    if (!access || !s_token_ok (access) || !type
        || strcasecmp (type, "Bearer") != 0 || seconds < 1 || seconds > 86400
        || (expires && !json_is_integer (expires)))
        snprintf (error->message, sizeof error->message,
                  "fcm: the token endpoint's HTTP %d is not a Bearer token "
                  "with a lifetime",
                  answer->status);
    else {
        *token = fy_xstrdup (access);
        *expires_in_s = seconds;
    }
    if (access)
        OPENSSL_cleanse ((char *) access, strlen (access));
    json_decref (json);
    return *token ? 0 : -1;
}

//  Milliseconds Retry-After asks for (delta-seconds or an HTTP date), or
//  -1 when it is absent or unreadable.
static int64_t
s_retry_after_ms (const char *value)
{
    if (!value)
        return -1;
    int64_t seconds;
    if (fy_parse_int64 (value, 0, 86400, &seconds) == 0)
        return seconds * 1000;
    time_t when = curl_getdate (value, NULL);
    if (when == -1)
        return -1;
    int64_t delay = (int64_t) when * 1000 - fy_clock_wall_ms ();
    return delay > 0 ? delay : 0;
}

//  --------------------------------------------------------------------
//  Sends

static void
s_op_free (fy_http_op_t *base)
{
    s_op_t *op = (s_op_t *) base;
    free (op->body);
    fy_http_outcome_clear (&op->out);
    free (op);
}

//  Anything but FCM's refusal of the message is not the message's
//  fault: transport, no token (EACCES), quota, 5xx, and a 401 or 403
//  that named no FCM error (our credentials, not the message).
static bool
s_retryable (const fy_http_outcome_t *out)
{
    if (out->error != EPROTO)
        return true;
    const char *code = out->failure.code;
    return fy_fcm_is_retryable (out->status, code)
           || ((out->status == 401 || out->status == 403)
               && (s_is_code (code, "UNAUTHENTICATED")
                   || s_is_code (code, "PERMISSION_DENIED") || !*code));
}

static void
s_finish (s_op_t *op)
{
    fy_http_ops_unlink (&op->fcm->ops, &op->base);
    const fy_http_outcome_t *out = &op->out;
    fy_http_op_result_t result =
        fy_http_outcome_result (out, op->base.attempts);
    result.token_dead =
        out->error == EPROTO && s_is_code (out->failure.code, "UNREGISTERED");
    result.retryable = out->error && !result.token_dead && s_retryable (out);
    op->fn (&result, op->arg);
    s_op_free (&op->base);
}

static void
s_on_send (const fy_http_result_t *http, void *arg)
{
    s_op_t *op = arg;
    fy_fcm_t *self = op->fcm;
    fy_http_outcome_t *out = &op->out;
    op->base.http_id = 0;
    bool retry = false;
    int64_t delay_ms = -1;
    if (fy_http_outcome_read (out, http, fy_fcm_parse, "fcm", NULL, NULL)) {
        retry = out->error == EPROTO
                    ? fy_fcm_is_retryable (out->status, out->failure.code)
                    : out->error != EMSGSIZE;
        delay_ms =
            s_retry_after_ms (fy_http_result_header (http, "retry-after"));
    }
    //  A 401 that is not APNs's (THIRD_PARTY_AUTH_ERROR): the token may
    //  have been revoked or expired early. Once per send, with a fresh
    //  token (unless another send has fetched one since).
    if (out->error == EPROTO && out->status == 401 && !op->reauthorized
        && !s_is_code (out->failure.code, "THIRD_PARTY_AUTH_ERROR")) {
        op->reauthorized = true;
        if (op->token_gen == self->token_gen)
            s_drop_token (self);
        fy_http_ops_wait (&self->ops, &op->base, 0);
        return;
    }
    if (retry && delay_ms > self->retry_after_max_ms)
        retry = false;
    if (retry && fy_http_ops_may_retry (&self->ops, &op->base)) {
        if (delay_ms >= 0)
            fy_http_ops_wait (&self->ops, &op->base, delay_ms);
        else
            fy_http_ops_backoff (&self->ops, &op->base);
        return;
    }
    s_finish (op);
}

static void
s_start (s_op_t *op)
{
    fy_fcm_t *self = op->fcm;
    fy_http_call_t *call = fy_http_call_new ("POST", self->send_url);
    fy_http_call_add_header (call, "Content-Type",
                             "application/json; charset=UTF-8");
    fy_http_call_add_header (call, "User-Agent", "ferry/" PACKAGE_VERSION);
    char *bearer = fy_xasprintf ("Bearer %s", self->token);
    fy_http_call_add_header (call, "Authorization", bearer);
    s_wipe_free (bearer);
    fy_http_call_set_body (call, op->body, op->len);
    fy_http_call_set_timeouts (call, self->ops.connect_ms,
                               self->ops.timeout_ms);
    fy_http_call_set_max_body (call, 1024 * 1024);
    op->token_gen = self->token_gen;
    fy_error_t err = { "" };
    if (fy_http_ops_start (&self->ops, &op->base, &call, s_on_send, &err)) {
        fy_http_outcome_fail (&op->out, errno, err.text);
        s_finish (op);
    }
}

//  --------------------------------------------------------------------
//  The access token

//  The token request ended: release every waiting op, to its attempt
//  when there is a token, else to its end or its backoff. Only timers
//  are set here, so no callback runs while the list is walked.
static void
s_release (fy_fcm_t *self, int error, int status,
           const fy_http_service_error_t *failure, bool transient)
{
    fy_http_op_t *base;
    fy_list_each (base, &self->ops.list, fy_http_op_t, link)
    {
        s_op_t *op = (s_op_t *) base;
        if (!op->waiting)
            continue;
        op->waiting = false;
        if (!error) {
            fy_http_ops_wait (&self->ops, base, 0);
            continue;
        }
        base->attempts++;
        fy_http_outcome_fail (&op->out, error, "");
        op->out.status = status;
        op->out.failure = *failure;
        if (transient && fy_http_ops_may_retry (&self->ops, base))
            fy_http_ops_backoff (&self->ops, base);
        else {
            op->finish = true;
            fy_http_ops_wait (&self->ops, base, 0);
        }
    }
}

static void
s_on_token (const fy_http_result_t *http, void *arg)
{
    fy_fcm_t *self = arg;
    self->token_http_id = 0;
    int status = fy_http_result_status (http);
    int error = fy_http_result_error (http);
    fy_http_service_error_t failure;
    memset (&failure, 0, sizeof failure);
    if (error) {
        s_set_error (&failure, NULL, fy_http_result_error_text (http));
        s_release (self, error, 0, &failure, error != EMSGSIZE);
        return;
    }
    fy_http_answer_t answer = { .status = status };
    answer.body = fy_http_result_body (http, &answer.len);
    char *token;
    int64_t expires_in_s;
    if (fy_fcm_parse_token (&answer, &failure, &token, &expires_in_s)) {
        if (!failure.message [0])
            snprintf (failure.message, sizeof failure.message,
                      "fcm: token endpoint: HTTP %d", status);
        //  A refusal (invalid_grant: the key, the account, the clock)
        //  is no access; a busy endpoint may answer next time.
        bool transient = status == 429 || status >= 500;
        s_release (self, transient ? EPROTO : EACCES, status, &failure,
                   transient);
        return;
    }
    s_drop_token (self);
    self->token = token;
    self->token_gen++;
    //  The lifetime counts from when the request left.
    int64_t life_ms = expires_in_s * 1000;
    int64_t margin_ms =
        self->margin_ms < life_ms / 2 ? self->margin_ms : life_ms / 2;
    self->expires_at_ms = self->token_started_ms + life_ms;
    self->refresh_at_ms = self->expires_at_ms - margin_ms;
    s_release (self, 0, 0, &failure, false);
}

static void
s_fetch_token (fy_fcm_t *self)
{
    assert (!self->token_http_id);
    fy_error_t err = { "" };
    fy_http_service_error_t failure;
    memset (&failure, 0, sizeof failure);
    char *jwt = s_assertion (self, &err);
    if (!jwt) {
        s_set_error (&failure, NULL, err.text);
        s_release (self, EACCES, 0, &failure, false);
        return;
    }
    //  The assertion is base64url and dots: nothing to escape.
    char *body = fy_xasprintf ("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth"
                               "%%3Agrant-type%%3Ajwt-bearer&assertion=%s",
                               jwt);
    s_wipe_free (jwt);
    fy_http_call_t *call = fy_http_call_new ("POST", self->token_uri);
    fy_http_call_add_header (call, "Content-Type",
                             "application/x-www-form-urlencoded");
    fy_http_call_add_header (call, "User-Agent", "ferry/" PACKAGE_VERSION);
    fy_http_call_set_body (call, body, strlen (body));
    s_wipe_free (body);
    fy_http_call_set_timeouts (call, self->ops.connect_ms,
                               self->ops.timeout_ms);
    fy_http_call_set_max_body (call, 64 * 1024);
    self->token_requests++;
    self->token_started_ms = fy_clock_mono_ms ();
    if (fy_http_client_start (self->ops.http, &call, s_on_token, self,
                              &self->token_http_id, &err)) {
        self->token_http_id = 0;
        s_set_error (&failure, NULL, err.text);
        s_release (self, EIO, 0, &failure, true);
    }
}

static void
s_attempt (fy_http_op_t *base)
{
    s_op_t *op = (s_op_t *) base;
    fy_fcm_t *self = op->fcm;
    if (op->finish) {
        s_finish (op);
        return;
    }
    int64_t now = fy_clock_mono_ms ();
    if (self->token && now >= self->expires_at_ms)
        s_drop_token (self);
    //  No token: wait for one. A stale one: fetch the next, send now.
    op->waiting = !self->token;
    bool stale = !self->token || now >= self->refresh_at_ms;
    if (stale && !self->token_http_id)
        s_fetch_token (self);
    //  A fetch that failed at once has released the op already.
    if (self->token)
        s_start (op);
}

int
fy_fcm_send (fy_fcm_t *self, const fy_fcm_message_t *message,
             fy_http_op_done_fn *fn, void *arg, uint64_t *id_p, fy_error_t *err)
{
    assert (self);
    assert (message);
    assert (fn);
    size_t len;
    char *body = fy_fcm_body (message, &len, err);
    if (!body)
        return -1;
    s_op_t *op = fy_xcalloc (1, sizeof *op);
    op->fcm = self;
    op->body = body;
    op->len = len;
    op->fn = fn;
    op->arg = arg;
    fy_http_ops_add (&self->ops, &op->base, s_attempt, s_op_free, id_p);
    return 0;
}
