/*  fy_http_ops: the core a client keeps for its calls on fy_http_client,
    whatever the service: the settings of fy_http_ops_options_t (signer,
    backoff, attempts, timeouts) and the list of calls in flight or
    waiting to retry. A client's op struct starts with an fy_http_op_t;
    the list gives ids, finds an op by id, and stops what an op waits for
    (its HTTP request, its backoff timer) when it leaves the list. An op
    keeps its last attempt's outcome (fy_http_outcome_t), read through
    the service's parser, and ends with one fy_http_op_result_t.

    fy_sqs and fy_aws_client (SES, SNS) are built on it, with the AWS
    parts (endpoints, error codes, SigV4) in lib/aws; so is fy_fcm. Not
    installed. Every callback runs from fy_http_client_run. Not
    thread-safe. */
#ifndef FY_HTTP_OPS_H_INCLUDED
#define FY_HTTP_OPS_H_INCLUDED

#include "ferry/fy_common.h"
#include "core/fy_list.h"
#include "http/fy_http_client.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Sign a request in place: add headers (Authorization, X-Amz-Date, ...)
//  to *headers with curl_slist_append. Called before every attempt, so a
//  retry carries a fresh date. Returns 0, or -1 with err filled (the
//  operation then fails with EACCES, not retried).
typedef int (fy_http_sign_fn) (void *arg, const char *method, const char *url,
                               struct curl_slist **headers, const void *body,
                               size_t len, fy_error_t *err);

//  What every client on the runner takes.
typedef struct {
    //  Signer and its argument; NULL sends requests unsigned.
    fy_http_sign_fn *sign;
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
} fy_http_ops_options_t;

//  Fill options with the defaults above.
void
fy_http_ops_options_default (fy_http_ops_options_t *options);

//  The endpoint URL endpoint, copied without trailing slashes; NULL with
//  err filled ("<what>: endpoint '...' is not an http(s) URL") and errno
//  EINVAL when it is not http(s). Caller owns result.
char *
fy_http_url_trim (const char *endpoint, const char *what, fy_error_t *err);

//  --- Answers, errors, results

//  The error a service answered with.
typedef struct {
    //  The service's code, short form ("Throttled", "MessageRejected",
    //  "UNREGISTERED"). "" when there is none.
    char code [96];
    //  The service's message, "" when absent.
    char message [256];
    //  The service blamed the request (a 4xx, or <Type>Sender</Type>).
    bool sender_fault;
} fy_http_service_error_t;

//  An answer as a parser sees it.
typedef struct {
    int status;
    //  The body (NUL-terminated, the NUL not counted in len).
    const char *body;
    size_t len;
    //  The service's error-type header (AWS's X-Amzn-ErrorType), NULL
    //  when absent or not asked for.
    const char *error_type;
} fy_http_answer_t;

//  Read an answer: on a 2xx status, set *message_id (caller owns) or fill
//  error->message when the body is not a valid answer; on any other,
//  fill error. Returns 0 when the call succeeded, else -1. *request_id
//  (caller owns) may be set in both cases. Any bytes are safe.
typedef int (fy_http_parse_fn) (const fy_http_answer_t *answer,
                                fy_http_service_error_t *error,
                                char **message_id, char **request_id);

//  A call's outcome, as the callback of a client on the runner (fy_ses,
//  fy_sns, fy_fcm) gets it.
typedef struct {
    //  0 on success; else EPROTO (the service answered with an error: see
    //  code), ETIMEDOUT, ECONNREFUSED, ECONNRESET, EHOSTUNREACH, EMSGSIZE,
    //  EIO (transport), EACCES (signing failed, no access token).
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
    //  The request id the service gave (a header, or the body's), or NULL.
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
} fy_http_op_result_t;

//  A call ended. Strings are borrowed for the callback's duration.
typedef void (fy_http_op_done_fn) (const fy_http_op_result_t *result,
                                   void *arg);

//  --- The list of ops

typedef struct fy_http_op fy_http_op_t;

//  Make op's next attempt.
typedef void (fy_http_op_attempt_fn) (fy_http_op_t *op);

//  Free op (its owner's whole struct).
typedef void (fy_http_op_free_fn) (fy_http_op_t *op);

struct fy_http_op {
    fy_link_t link;             //  On fy_http_ops_t.list
    fy_http_op_attempt_fn *attempt;
    fy_http_op_free_fn *free_fn;
    uint64_t id;
    uint64_t http_id;           //  The attempt in flight, or 0
    uint64_t timer_id;          //  The backoff timer, or 0
    int attempts;
};

typedef struct {
    fy_http_client_t *http;     //  Borrowed
    fy_http_sign_fn *sign;
    void *sign_arg;
    fy_backoff_t backoff;
    int max_attempts;
    int64_t connect_ms;
    int64_t timeout_ms;
    fy_link_t list;             //  Of fy_http_op_t, newest first
    size_t pending;
    uint64_t next_id;
} fy_http_ops_t;

//  An empty list on http, with the settings of options (NULL or a zero
//  field: the defaults).
void
fy_http_ops_init (fy_http_ops_t *ops, fy_http_client_t *http,
                  const fy_http_ops_options_t *options);

//  Give op (zeroed but for its owner's fields) a new id, its attempt and
//  free functions, put it on the list, set *id_p (when not NULL), and start
//  its first attempt on the loop's next turn, never inside the caller's
//  call: its callback can then never run before the caller has returned.
void
fy_http_ops_add (fy_http_ops_t *ops, fy_http_op_t *op,
                 fy_http_op_attempt_fn *attempt, fy_http_op_free_fn *free_fn,
                 uint64_t *id_p);

//  Take op off the list, cancelling its request and timer.
void
fy_http_ops_unlink (fy_http_ops_t *ops, fy_http_op_t *op);

//  Unlink and free the op of id; true if there was one.
bool
fy_http_ops_cancel (fy_http_ops_t *ops, uint64_t id);

//  Unlink and free every op (no callbacks).
void
fy_http_ops_clear (fy_http_ops_t *ops);

//  Count an attempt of op, sign call (with the signer, if any) and start
//  it, fn (op) to be called when it ends; takes ownership of *call_p.
//  Returns 0, or -1 with errno EACCES (signing failed) or EIO (curl
//  refused the request) and err filled.
int
fy_http_ops_start (fy_http_ops_t *ops, fy_http_op_t *op,
                   fy_http_call_t **call_p, fy_http_done_fn *fn,
                   fy_error_t *err) FY_MUSTCHECK;

//  True while op has attempts left.
bool
fy_http_ops_may_retry (fy_http_ops_t *ops, fy_http_op_t *op);

//  Make op's next attempt after the backoff for its attempts so far.
void
fy_http_ops_backoff (fy_http_ops_t *ops, fy_http_op_t *op);

//  Make op's next attempt delay_ms from now (0: on the loop's next turn),
//  for a service that says when (Retry-After).
void
fy_http_ops_wait (fy_http_ops_t *ops, fy_http_op_t *op, int64_t delay_ms);

//  --- How an op keeps its last attempt's outcome and turns it into its
//  result (fy_aws_client's runner, fy_fcm).
typedef struct {
    int error;                  //  0, EPROTO (the service refused), errno
    int status;                 //  HTTP status, 0 when none came back
    fy_http_service_error_t failure;
    char *message_id;           //  Owned
    char *request_id;           //  Owned
} fy_http_outcome_t;

//  Read how an attempt ended into outcome, forgetting the last one: a
//  transport failure (its errno and text), or the answer through parse,
//  which gets the header error_type_header (NULL: none) as its
//  error_type; the header request_id_header (NULL: none) fills
//  request_id when the body had none. EPROTO when parse fails, with
//  "<service>: HTTP <status>" when it gave no message. Returns 0 when the
//  call succeeded, else -1.
int
fy_http_outcome_read (fy_http_outcome_t *outcome, const fy_http_result_t *http,
                      fy_http_parse_fn *parse, const char *service,
                      const char *error_type_header,
                      const char *request_id_header);

//  A failure without an answer (signing, curl refused the request).
void
fy_http_outcome_fail (fy_http_outcome_t *outcome, int error,
                      const char *message);

//  The result outcome makes after attempts, strings borrowed from it;
//  retryable and token_dead are false, for the caller to decide.
fy_http_op_result_t
fy_http_outcome_result (const fy_http_outcome_t *outcome, int attempts);

//  Free what outcome owns.
void
fy_http_outcome_clear (fy_http_outcome_t *outcome);

#ifdef __cplusplus
}
#endif
#endif
