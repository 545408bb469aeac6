/*  fy_aws_ops: the core a client keeps for its calls, shared by fy_sqs,
    the request runner of fy_aws_client and fy_fcm (not installed): the
    settings from fy_aws_options_t (signer, backoff, attempts, timeouts)
    and the list of calls in flight or waiting to retry. A client's op
    struct starts with an fy_aws_op_t; the list gives ids, finds an op by
    id, and stops what an op waits for (its HTTP request, its backoff
    timer) when it leaves the list. */
#ifndef FY_AWS_OPS_H_INCLUDED
#define FY_AWS_OPS_H_INCLUDED

#include "aws/fy_aws_client.h"
#include "http/fy_http_client.h"

typedef struct fy_aws_op fy_aws_op_t;

//  Make op's next attempt.
typedef void (fy_aws_attempt_fn) (fy_aws_op_t *op);

//  Free op (its owner's whole struct).
typedef void (fy_aws_op_free_fn) (fy_aws_op_t *op);

struct fy_aws_op {
    struct fy_aws_op *prev, *next;
    fy_aws_attempt_fn *attempt;
    fy_aws_op_free_fn *free_fn;
    uint64_t id;
    uint64_t http_id;           //  The attempt in flight, or 0
    uint64_t timer_id;          //  The backoff timer, or 0
    int attempts;
};

typedef struct {
    fy_http_client_t *http;     //  Borrowed
    fy_aws_sign_fn *sign;
    void *sign_arg;
    fy_backoff_t backoff;
    int max_attempts;
    int64_t connect_ms;
    int64_t timeout_ms;
    fy_aws_op_t *head;
    size_t pending;
    uint64_t next_id;
} fy_aws_ops_t;

//  An empty list on http, with the settings of options (NULL or a zero
//  field: the defaults).
void
    fy_aws_ops_init (fy_aws_ops_t *ops, fy_http_client_t *http,
                     const fy_aws_options_t *options);

//  Give op (zeroed but for its owner's fields) a new id, its attempt and
//  free functions, put it on the list, set *id_p (when not NULL), and start
//  its first attempt on the loop's next turn, never inside the caller's
//  call: its callback can then never run before the caller has returned.
void
    fy_aws_ops_add (fy_aws_ops_t *ops, fy_aws_op_t *op,
                    fy_aws_attempt_fn *attempt, fy_aws_op_free_fn *free_fn,
                    uint64_t *id_p);

//  Take op off the list, cancelling its request and timer.
void
    fy_aws_ops_unlink (fy_aws_ops_t *ops, fy_aws_op_t *op);

//  Unlink and free the op of id; true if there was one.
bool
    fy_aws_ops_cancel (fy_aws_ops_t *ops, uint64_t id);

//  Unlink and free every op (no callbacks).
void
    fy_aws_ops_clear (fy_aws_ops_t *ops);

//  Count an attempt of op, sign call (with the signer, if any) and start
//  it, fn (op) to be called when it ends; takes ownership of *call_p.
//  Returns 0, or -1 with errno EACCES (signing failed) or EIO (curl
//  refused the request) and err filled.
int
    fy_aws_ops_start (fy_aws_ops_t *ops, fy_aws_op_t *op,
                      fy_http_call_t **call_p, fy_http_done_fn *fn,
                      fy_error_t *err) FY_MUSTCHECK;

//  True while op has attempts left.
bool
    fy_aws_ops_may_retry (fy_aws_ops_t *ops, fy_aws_op_t *op);

//  Make op's next attempt after the backoff for its attempts so far.
void
    fy_aws_ops_backoff (fy_aws_ops_t *ops, fy_aws_op_t *op);

//  Make op's next attempt delay_ms from now (0: on the loop's next turn),
//  for a service that says when (Retry-After).
void
    fy_aws_ops_wait (fy_aws_ops_t *ops, fy_aws_op_t *op, int64_t delay_ms);

//  --- How an op keeps its last attempt's outcome and turns it into its
//  result (fy_aws_client's runner, fy_fcm).
typedef struct {
    int error;                  //  0, EPROTO (the service refused), errno
    int status;                 //  HTTP status, 0 when none came back
    fy_aws_error_t failure;
    char *message_id;           //  Owned
    char *request_id;           //  Owned
} fy_aws_outcome_t;

//  Read how an attempt ended into outcome, forgetting the last one: a
//  transport failure (its errno and text), or the answer through parse
//  (which gets the X-Amzn-ErrorType header; x-amzn-RequestId fills
//  request_id when the body had none): EPROTO when parse fails, with
//  "<service>: HTTP <status>" when it gave no message. Returns 0 when the
//  call succeeded, else -1.
int
    fy_aws_outcome_read (fy_aws_outcome_t *outcome,
                         const fy_http_result_t *http, fy_aws_parse_fn *parse,
                         const char *service);

//  A failure without an answer (signing, curl refused the request).
void
    fy_aws_outcome_fail (fy_aws_outcome_t *outcome, int error,
                         const char *message);

//  The result outcome makes after attempts, strings borrowed from it;
//  retryable and token_dead are false, for the caller to decide.
fy_aws_result_t
    fy_aws_outcome_result (const fy_aws_outcome_t *outcome, int attempts);

//  Free what outcome owns.
void
    fy_aws_outcome_clear (fy_aws_outcome_t *outcome);

//  The endpoint URL endpoint, copied without trailing slashes; NULL with
//  err filled ("<what>: endpoint '...' is not an http(s) URL") and errno
//  EINVAL when it is not http(s). Caller owns result.
char *
    fy_aws_url_trim (const char *endpoint, const char *what,
                     fy_error_t *err);

//  The core of client, for a client built on it with ops of its own
//  (fy_sqs). Borrowed.
fy_aws_ops_t *
    fy_aws_client_ops (fy_aws_client_t *client);

#endif
