/*  fy_aws_client: what ferry's AWS clients share, on fy_http_client. The
    options every client takes (region, endpoint, signer, retry backoff,
    timeouts); endpoint resolution (a service's AWS_ENDPOINT_URL_<ID>,
    then AWS_ENDPOINT_URL, then the configured endpoint, else the
    region's); the error codes worth retrying; the JSON error decoding of the JSON protocols.
    fy_sqs uses these pieces; fy_ses and fy_sns are built on the request
    runner below, which sends one POST per call, re-signed on every
    attempt, retries throttling, 5xx and transport failures after a
    backoff (fy_backoff_ms, full jitter) on the HTTP client's timers, and calls back once with the
    message id or the error:

        fy_aws_client_t *ses = fy_ses_new (http, &options, &err);
        fy_ses_send (ses, &email, on_sent, job, NULL, &err);
        ...
        fy_aws_client_destroy (&ses);

    Every callback runs from fy_http_client_run. Not thread-safe. */
#ifndef FY_AWS_CLIENT_H_INCLUDED
#define FY_AWS_CLIENT_H_INCLUDED

#include "ferry/fy_common.h"
#include "http/fy_http_client.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Sign a request in place: add headers (Authorization, X-Amz-Date, ...)
//  to *headers with curl_slist_append. Called before every attempt, so a
//  retry carries a fresh date. Returns 0, or -1 with err filled (the
//  operation then fails with EACCES, not retried).
typedef int (fy_aws_sign_fn) (void *arg, const char *method, const char *url,
                              struct curl_slist **headers, const void *body,
                              size_t len, fy_error_t *err);

typedef struct {
    //  Region for the default endpoint; NULL reads AWS_REGION, then
    //  AWS_DEFAULT_REGION.
    const char *region;
    //  Endpoint used when no AWS_ENDPOINT_URL_<ID> nor AWS_ENDPOINT_URL
    //  is set; NULL for the region's AWS endpoint.
    const char *endpoint;
    //  Signer and its argument; NULL sends requests unsigned.
    fy_aws_sign_fn *sign;
    void *sign_arg;
    //  Retry backoff: attempt n (from 1) waits a uniformly random time in
    //  [0, min(cap, base * 2^(n-1))]. Defaults 50 ms, 5000 ms, 5 attempts
    //  in all.
    int64_t retry_base_ms;
    int64_t retry_cap_ms;
    int max_attempts;
    //  Connect timeout, and total timeout of one attempt (an SQS receive
    //  gets WaitTimeSeconds on top). Defaults 5 s, 15 s.
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
} fy_aws_options_t;

//  Fill options with the defaults above.
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
    fy_aws_endpoint (const char *const *env_names,
                     const fy_aws_options_t *options, const char *prefix,
                     fy_error_t *err);

//  The default AWS endpoint of prefix in region
//  ("https://sns.eu-west-1.amazonaws.com", ".amazonaws.com.cn" in China,
//  the ISO partitions' suffixes). Caller owns result.
char *
    fy_aws_region_endpoint (const char *prefix, const char *region);

//  --- Errors

typedef struct {
    //  The service's code, short form ("Throttled", "MessageRejected").
    //  "" when there is none.
    char code [96];
    //  The service's message, "" when absent.
    char message [256];
    //  The service blamed the request (a 4xx, or <Type>Sender</Type>).
    bool sender_fault;
} fy_aws_error_t;

//  The shape name in "ns#Name:uri" style text (X-Amzn-ErrorType,
//  "__type"): after any '#', before any ':'.
void
    fy_aws_short_code (const char *text, char *code, size_t size);

//  Decode a JSON protocol error (awsJson, restJson) from its status,
//  X-Amzn-ErrorType header (may be NULL) and body (len bytes): the code
//  from the header, else the body's "__type", else its "code"; the
//  message from "message", else "Message". Any bytes are safe.
void
    fy_aws_decode_json_error (int status, const char *error_type,
                              const char *body, size_t len,
                              fy_aws_error_t *error);

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

//  A call's outcome.
typedef struct {
    //  0 on success; else EPROTO (the service answered with an error: see
    //  code), ETIMEDOUT, ECONNREFUSED, ECONNRESET, EHOSTUNREACH, EMSGSIZE,
    //  EIO (transport), EACCES (signing failed).
    int error;
    //  HTTP status of the last attempt, 0 when none came back.
    int status;
    //  The service's error code ("MessageRejected", "Throttled"), NULL
    //  when there is none.
    const char *code;
    //  The service's message, or the transport's; "" on success.
    const char *message;
    //  The new message's id on success, else NULL.
    const char *message_id;
    //  The request id AWS gave (x-amzn-RequestId, or the body's), or NULL.
    const char *request_id;
    //  On failure: true when the same call may succeed later (throttling,
    //  5xx, transport, signing, credentials), false when the request
    //  itself is refused (a rejected message, a disabled endpoint, a bad
    //  parameter): a worker sends those to its DLQ.
    bool retryable;
    //  On failure: the recipient is gone for good (an SNS platform
    //  endpoint disabled, an FCM registration token UNREGISTERED): the
    //  worker must forget that device. Implies !retryable.
    bool token_dead;
    //  Attempts made (1 when no retry was needed).
    int attempts;
} fy_aws_result_t;

//  A call ended. Strings are borrowed for the callback's duration.
typedef void (fy_aws_done_fn) (const fy_aws_result_t *result, void *arg);

//  An answer as a parser sees it.
typedef struct {
    int status;
    //  The body (NUL-terminated, the NUL not counted in len).
    const char *body;
    size_t len;
    //  The X-Amzn-ErrorType header, NULL when absent.
    const char *error_type;
} fy_aws_answer_t;

//  Read an answer: on a 2xx status, set *message_id (caller owns) or fill
//  error->message when the body is not a valid answer; on any other,
//  fill error. Returns 0 when the call succeeded, else -1. *request_id
//  (caller owns) may be set in both cases. Any bytes are safe.
typedef int (fy_aws_parse_fn) (const fy_aws_answer_t *answer,
                               fy_aws_error_t *error, char **message_id,
                               char **request_id);

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
    fy_aws_parse_fn *parse;
    //  The codes that say the recipient is gone (result->token_dead),
    //  NULL-terminated; NULL for none.
    const char *const *dead_codes;
} fy_aws_service_t;

//  Create a runner for service (borrowed; static) on http (borrowed; it
//  must outlive the client). options may be NULL for the defaults;
//  strings are copied. Returns NULL with errno EINVAL and err filled when
//  no endpoint can be found.
fy_aws_client_t *
    fy_aws_client_new (fy_http_client_t *http,
                       const fy_aws_service_t *service,
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
                        fy_aws_done_fn *fn, void *arg, uint64_t *id_p);

#ifdef __cplusplus
}
#endif
#endif
