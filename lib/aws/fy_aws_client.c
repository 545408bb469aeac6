/*  fy_aws_client: the pieces ferry's AWS clients share, and the request
    runner of the one-request calls (SES SendEmail, SNS Publish): an op
    of fy_http_ops per call, its attempts POSTs built afresh from the
    op's body. */
#include "aws/fy_aws_client.h"
#include "ferry/fy_json.h"
#include "http/fy_http_ops.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Codes retried besides 5xx and 429: throttling, and the transient
//  failures botocore's standard retry mode treats as such. SES's
//  TooManyRequestsException and SNS's Throttled come with a 429 anyway;
//  SNS's KMSThrottling comes with a 400.
static const char *s_retryable_codes [] = {
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "Throttled",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "KmsThrottled",
    "KMSThrottling",
    "KMSThrottlingException",
};

//  AWS's common authentication errors (in no service's model: the front
//  door answers them before the service sees the request).
static const char *s_credential_codes [] = {
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "IncompleteSignature",
    "IncompleteSignatureException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
};

static bool
s_in (const char *code, const char *const *list, size_t count)
{
    for (size_t i = 0; code && list && i < count && list [i]; i++)
        if (strcmp (code, list [i]) == 0)
            return true;
    return false;
}

//  --------------------------------------------------------------------
//  Options and endpoints

void
fy_aws_options_default (fy_aws_options_t *options)
{
    assert (options);
    memset (options, 0, sizeof *options);
    fy_http_ops_options_default (&options->base);
}

char *
fy_aws_region_endpoint (const char *prefix, const char *region)
{
    assert (prefix);
    assert (region);
    const char *suffix = "amazonaws.com";
    if (strncmp (region, "cn-", 3) == 0)
        suffix = "amazonaws.com.cn";
    else if (strncmp (region, "us-isob-", 8) == 0)
        suffix = "sc2s.sgov.gov";
    else if (strncmp (region, "us-iso-", 7) == 0)
        suffix = "c2s.ic.gov";
    return fy_xasprintf ("https://%s.%s.%s", prefix, region, suffix);
}

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value ? value : NULL;
}

char *
fy_aws_endpoint (const char *const *env_names, const fy_aws_options_t *options,
                 const char *prefix, fy_error_t *err)
{
    assert (options);
    assert (prefix);
    const char *endpoint = NULL;
    for (size_t i = 0; env_names && env_names [i] && !endpoint; i++)
        endpoint = s_env (env_names [i]);
    if (!endpoint)
        endpoint = s_env ("AWS_ENDPOINT_URL");
    if (!endpoint && options->endpoint && *options->endpoint)
        endpoint = options->endpoint;
    const char *region = options->region && *options->region
                             ? options->region
                             : s_env ("AWS_REGION");
    if (!region)
        region = s_env ("AWS_DEFAULT_REGION");
    if (!endpoint && !region) {
        fy_error_set (err, "%s: no endpoint and no region (set AWS_REGION)",
                      prefix);
        errno = EINVAL;
        return NULL;
    }
    if (endpoint)
        return fy_http_url_trim (endpoint, prefix, err);
    return fy_aws_region_endpoint (prefix, region);
}

//  --------------------------------------------------------------------
//  Errors

static void
s_copy (char *dest, size_t size, const char *src, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy (dest, src, len);
    dest [len] = 0;
}

void
fy_aws_short_code (const char *text, char *code, size_t size)
{
    assert (text);
    assert (code && size > 0);
    const char *hash = strchr (text, '#');
    if (hash)
        text = hash + 1;
    s_copy (code, size, text, strcspn (text, ":"));
}

void
fy_aws_decode_json_error (int status, const char *error_type, const char *body,
                          size_t len, fy_http_service_error_t *error)
{
    assert (error);
    memset (error, 0, sizeof *error);
    error->sender_fault = status >= 400 && status < 500;
    json_t *json = body && len ? fy_json_loadb (body, len, NULL) : NULL;
    if (!json_is_object (json)) {
        json_decref (json);
        json = NULL;
    }
    const char *type = error_type && *error_type ? error_type : NULL;
    if (!type)
        type = json_string_value (json_object_get (json, "__type"));
    if (!type)
        type = json_string_value (json_object_get (json, "code"));
    if (type)
        fy_aws_short_code (type, error->code, sizeof error->code);
    const char *message = json_string_value (json_object_get (json, "message"));
    if (!message)
        message = json_string_value (json_object_get (json, "Message"));
    if (message)
        s_copy (error->message, sizeof error->message, message,
                strlen (message));
    json_decref (json);
}

bool
fy_aws_is_retryable (int status, const char *code)
{
    return status >= 500 || status == 429
           || s_in (code, s_retryable_codes,
                    sizeof s_retryable_codes / sizeof *s_retryable_codes);
}

bool
fy_aws_is_credential_error (const char *code)
{
    return s_in (code, s_credential_codes,
                 sizeof s_credential_codes / sizeof *s_credential_codes);
}

//  --------------------------------------------------------------------
//  The request runner

typedef struct {
    fy_http_op_t base;          //  First: the list's view of the op
    fy_aws_client_t *client;
    char *url;
    const char *content_type;
    char *body;
    size_t len;
    fy_http_op_done_fn *fn;
    void *arg;
    fy_http_outcome_t out;      //  How the last attempt went
} s_op_t;

struct fy_aws_client {
    const fy_aws_service_t *service;
    char *endpoint;
    fy_http_ops_t ops;
};

fy_aws_client_t *
fy_aws_client_new (fy_http_client_t *http, const fy_aws_service_t *service,
                   const fy_aws_options_t *options, fy_error_t *err)
{
    assert (http);
    assert (service && service->service && service->prefix);
    fy_aws_options_t defaults;
    fy_aws_options_default (&defaults);
    char *endpoint =
        fy_aws_endpoint (service->env_names, options ? options : &defaults,
                         service->prefix, err);
    if (!endpoint)
        return NULL;
    fy_aws_client_t *self = fy_xcalloc (1, sizeof *self);
    self->service = service;
    self->endpoint = endpoint;
    fy_http_ops_init (&self->ops, http, options ? &options->base : NULL);
    return self;
}

static void
s_op_free (fy_http_op_t *base)
{
    s_op_t *op = (s_op_t *) base;
    free (op->url);
    free (op->body);
    fy_http_outcome_clear (&op->out);
    free (op);
}

void
fy_aws_client_destroy (fy_aws_client_t **self_p)
{
    assert (self_p);
    fy_aws_client_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_http_ops_clear (&self->ops);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
    errno = saved;
}

const char *
fy_aws_client_endpoint (fy_aws_client_t *self)
{
    assert (self);
    return self->endpoint;
}

const char *
fy_aws_client_service (fy_aws_client_t *self)
{
    assert (self);
    return self->service->service;
}

size_t
fy_aws_client_pending (fy_aws_client_t *self)
{
    assert (self);
    return self->ops.pending;
}

fy_http_ops_t *
fy_aws_client_ops (fy_aws_client_t *self)
{
    assert (self);
    return &self->ops;
}

bool
fy_aws_client_cancel (fy_aws_client_t *self, uint64_t id)
{
    assert (self);
    return fy_http_ops_cancel (&self->ops, id);
}

static void
s_attempt (fy_http_op_t *base);

//  The op is over: call back once with what it has, then free it.
static void
s_finish (s_op_t *op)
{
    fy_http_ops_unlink (&op->client->ops, &op->base);
    const fy_http_outcome_t *out = &op->out;
    fy_http_op_result_t result =
        fy_http_outcome_result (out, op->base.attempts);
    const char *code = out->failure.code;
    //  Anything but the service's refusal is not the message's fault
    //  (transport, EMSGSIZE, signing): worth trying again later.
    result.token_dead =
        out->error == EPROTO
        && s_in (code, op->client->service->dead_codes, SIZE_MAX);
    result.retryable =
        out->error && !result.token_dead
        && (out->error != EPROTO || fy_aws_is_retryable (out->status, code)
            || fy_aws_is_credential_error (code));
    op->fn (&result, op->arg);
    s_op_free (&op->base);
}

static void
s_on_http (const fy_http_result_t *http, void *arg)
{
    s_op_t *op = arg;
    fy_aws_client_t *self = op->client;
    fy_http_outcome_t *out = &op->out;
    op->base.http_id = 0;
    bool retry = false;
    if (fy_http_outcome_read (out, http, self->service->parse,
                              self->service->service, "x-amzn-errortype",
                              "x-amzn-requestid"))
        retry = out->error == EPROTO
                    ? fy_aws_is_retryable (out->status, out->failure.code)
                    : out->error != EMSGSIZE;
    if (retry && fy_http_ops_may_retry (&self->ops, &op->base)) {
        fy_http_ops_backoff (&self->ops, &op->base);
        return;
    }
    s_finish (op);
}

static void
s_attempt (fy_http_op_t *base)
{
    s_op_t *op = (s_op_t *) base;
    fy_aws_client_t *self = op->client;
    fy_http_call_t *call = fy_http_call_new ("POST", op->url);
    fy_http_call_add_header (call, "Content-Type", op->content_type);
    fy_http_call_add_header (call, "User-Agent", "ferry/" PACKAGE_VERSION);
    fy_http_call_set_body (call, op->body, op->len);
    fy_http_call_set_timeouts (call, self->ops.connect_ms,
                               self->ops.timeout_ms);
    //  The answers are small; anything larger is not AWS talking.
    fy_http_call_set_max_body (call, 1024 * 1024);
    fy_error_t err = { "" };
    if (fy_http_ops_start (&self->ops, &op->base, &call, s_on_http, &err)) {
        fy_http_outcome_fail (&op->out, errno, err.text);
        s_finish (op);
    }
}

void
fy_aws_client_post (fy_aws_client_t *self, const char *path,
                    const char *content_type, char **body_p, size_t len,
                    fy_http_op_done_fn *fn, void *arg, uint64_t *id_p)
{
    assert (self);
    assert (path && *path == '/');
    assert (content_type);
    assert (body_p && *body_p);
    assert (fn);
    s_op_t *op = fy_xcalloc (1, sizeof *op);
    op->client = self;
    op->url = fy_xasprintf ("%s%s", self->endpoint, path);
    op->content_type = content_type;
    op->body = *body_p;
    *body_p = NULL;
    op->len = len;
    op->fn = fn;
    op->arg = arg;
    assert (self->service->parse);
    fy_http_ops_add (&self->ops, &op->base, s_attempt, s_op_free, id_p);
}
