/*  fy_aws_client: what ferry's AWS clients share, on fy_http_client and
    its call runner (fy_http_ops). The options every client takes (the
    runner's, region, endpoint); endpoint resolution (a service's
    AWS_ENDPOINT_URL_<ID>, then AWS_ENDPOINT_URL, then the configured
    endpoint, else the region's); the error codes worth retrying; the
    JSON error decoding of the JSON protocols. fy_sqs uses these pieces;
    fy_ses and fy_sns are built on the request runner below, which sends
    one POST per call, re-signed on every attempt, retries throttling,
    5xx and transport failures after a backoff (fy_backoff_ms, full
    jitter) on the HTTP client's timers, and calls back once with the
    message id or the error (an fy_http_op_result_t):

        fy_aws_client_t *ses = fy_ses_new (http, &options, &err);
        fy_ses_send (ses, &email, on_sent, job, NULL, &err);
        ...
        fy_aws_client_destroy (&ses);

    Every callback runs from fy_http_client_run. Not thread-safe. */
#ifndef FY_AWS_CLIENT_H_INCLUDED
#define FY_AWS_CLIENT_H_INCLUDED

#include "ferry/fy_common.h"
#include "http/fy_http_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The options of every AWS client: the runner's (fy_http_ops.h: signer,
//  backoff, attempts, timeouts), then where the service is.
typedef struct {
    fy_http_ops_options_t base;
    //  Region for the default endpoint; NULL reads AWS_REGION, then
    //  AWS_DEFAULT_REGION.
    const char *region;
    //  Endpoint used when no AWS_ENDPOINT_URL_<ID> nor AWS_ENDPOINT_URL
    //  is set; NULL for the region's AWS endpoint.
    const char *endpoint;
} fy_aws_options_t;

//  Fill options with the runner's defaults, no region and no endpoint.
void
fy_aws_options_default (fy_aws_options_t *options);

//  --- Endpoints

//  The endpoint of a service: the first set of the environment variables
//  env_names (NULL-terminated: "AWS_ENDPOINT_URL_SNS", ...), then
//  AWS_ENDPOINT_URL, then options->endpoint, else the region's endpoint
//  for prefix ("sqs", "email", "sns"). Trailing slashes are dropped.
//  Caller owns result. NULL with errno EINVAL and err filled when there
//  is neither an endpoint nor a region, or the endpoint is not http(s).
char *
fy_aws_endpoint (const char *const *env_names, const fy_aws_options_t *options,
                 const char *prefix, fy_error_t *err);

//  The default AWS endpoint of prefix in region
//  ("https://sns.eu-west-1.amazonaws.com", ".amazonaws.com.cn" in China,
//  the ISO partitions' suffixes). Caller owns result.
char *
fy_aws_region_endpoint (const char *prefix, const char *region);

//  --- Errors

//  The shape name in "ns#Name:uri" style text (X-Amzn-ErrorType,
//  "__type"): after any '#', before any ':'.
void
fy_aws_short_code (const char *text, char *code, size_t size);

//  Decode a JSON protocol error (awsJson, restJson) from its status,
//  X-Amzn-ErrorType header (may be NULL) and body (len bytes): the code
//  from the header, else the body's "__type", else its "code"; the
//  message from "message", else "Message". Any bytes are safe.
void
fy_aws_decode_json_error (int status, const char *error_type, const char *body,
                          size_t len, fy_http_service_error_t *error);

//  True for a status or code worth retrying at once: 5xx, 429, and the
//  throttling and transient codes of the AWS services (botocore's
//  standard retry mode's, SQS's, SES's TooManyRequestsException, SNS's
//  Throttled and KMSThrottling).
bool
fy_aws_is_retryable (int status, const char *code);

//  True for the codes AWS gives a request it could not authenticate
//  (SignatureDoesNotMatch, InvalidSignatureException, ExpiredToken,
//  InvalidClientTokenId, ...): the keys or the clock are wrong, not the
//  message, so trying again later (new keys) may succeed.
bool
fy_aws_is_credential_error (const char *code);

//  --- The request runner of fy_ses and fy_sns

typedef struct fy_aws_client fy_aws_client_t;

//  What fy_ses and fy_sns give fy_aws_client_new.
typedef struct {
    //  "ses", "sns": the name calls are checked against.
    const char *service;
    //  Endpoint variables before AWS_ENDPOINT_URL, NULL-terminated.
    const char *const *env_names;
    //  The endpoint prefix of the region's endpoint ("email", "sns").
    const char *prefix;
    //  Reads every answer; NULL for a client that makes its own calls on
    //  the runner's core (fy_sqs).
    fy_http_parse_fn *parse;
    //  The codes that say the recipient is gone (result->token_dead),
    //  NULL-terminated; NULL for none.
    const char *const *dead_codes;
} fy_aws_service_t;

//  Create a runner for service (borrowed; static) on http (borrowed; it
//  must outlive the client). options may be NULL for the defaults;
//  strings are copied. Returns NULL with errno EINVAL and err filled when
//  no endpoint can be found.
fy_aws_client_t *
fy_aws_client_new (fy_http_client_t *http, const fy_aws_service_t *service,
                   const fy_aws_options_t *options, fy_error_t *err);

//  Cancel every call in flight or waiting to retry (their callbacks are
//  not called). Sets *self_p to NULL. Safe on NULL.
void
fy_aws_client_destroy (fy_aws_client_t **self_p);

//  The endpoint requests go to. Borrowed.
const char *
fy_aws_client_endpoint (fy_aws_client_t *self);

//  The service the client was made for ("ses", "sns"). Borrowed.
const char *
fy_aws_client_service (fy_aws_client_t *self);

//  Calls in flight or waiting to retry.
size_t
fy_aws_client_pending (fy_aws_client_t *self);

//  Cancel call id (from the *id_p of the call that started it); its
//  callback is not called. Returns true if it was pending.
bool
fy_aws_client_cancel (fy_aws_client_t *self, uint64_t id);

//  POST *body_p (len bytes; takes ownership and sets it to NULL) to the
//  endpoint followed by path ("/", "/v2/email/outbound-emails") with
//  content_type (borrowed for the call's life: pass a literal). The
//  first attempt starts on the loop's next turn, never inside this call;
//  fn is called exactly once later (unless cancelled). *id_p, when not
//  NULL, gets the call's id.
void
fy_aws_client_post (fy_aws_client_t *self, const char *path,
                    const char *content_type, char **body_p, size_t len,
                    fy_http_op_done_fn *fn, void *arg, uint64_t *id_p);

//  The core of client, for a client built on it with ops of its own
//  (fy_sqs). Borrowed.
fy_http_ops_t *
fy_aws_client_ops (fy_aws_client_t *client);

#ifdef __cplusplus
}
#endif
#endif
