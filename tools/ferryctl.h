/*  ferryctl: the operator's tool. Each command lives in its own file and
    is called with the arguments after its name. */
#ifndef FERRYCTL_H_INCLUDED
#define FERRYCTL_H_INCLUDED

#include "ferry/ferry.h"
#include "aws/fy_aws_sign.h"
#include "aws/fy_sqs.h"
#include "http/fy_http_client.h"

#include <stdio.h>

//  Exit statuses every command shares.
#define FERRYCTL_OK 0
#define FERRYCTL_FAILED 1
#define FERRYCTL_USAGE 2

//  What every command gets: the loaded configuration and its arguments.
typedef struct {
    fy_cfg_t *cfg;
    const char *cfg_path;       //  the -c file, or NULL
    const char *const *sets;    //  --set assignments, NULL-terminated
    int argc;
    char **argv;
} ferryctl_t;

//  Standard input, at most limit + 1 bytes (so that an oversize input is
//  seen as such without reading an unbounded stream), NUL-terminated.
//  Caller owns result.
char *
ferryctl_read_stdin (size_t limit, size_t *size_p);

int
ferryctl_validate (ferryctl_t *ctl);
int
ferryctl_config (ferryctl_t *ctl);
int
ferryctl_keygen (ferryctl_t *ctl);
int
ferryctl_token (ferryctl_t *ctl);
int
ferryctl_send (ferryctl_t *ctl);
int
ferryctl_status (ferryctl_t *ctl);
int
ferryctl_dlq (ferryctl_t *ctl);
int
ferryctl_migrate (ferryctl_t *ctl);
int
ferryctl_audit (ferryctl_t *ctl);
int
ferryctl_render (ferryctl_t *ctl);

int
ferryctl_notify (ferryctl_t *ctl);

//  ferryctl_http: one kept-alive HTTP connection (libcurl easy handle)
//  for the commands that talk to the broker's HTTP endpoint.
typedef struct ferryctl_http ferryctl_http_t;

//  A client sending "Authorization: Bearer token" when token is not NULL
//  or empty, giving up on a request after timeout_ms. NULL when libcurl
//  cannot start.
ferryctl_http_t *
ferryctl_http_new (const char *token, int64_t timeout_ms);

void
ferryctl_http_destroy (ferryctl_http_t **self_p);

//  GET url, or POST body (len bytes) to it when body is not NULL. Returns
//  0 with the status in *status_p whatever the status is; -1 with err
//  when no reply came (refused, timed out, body over 16 MiB).
int
ferryctl_http_request (ferryctl_http_t *self, const char *url, const char *body,
                       size_t len, long *status_p,
                       fy_error_t *err) FY_MUSTCHECK;

//  The last reply's body, NUL-terminated. Borrowed until the next request.
const char *
ferryctl_http_body (ferryctl_http_t *self);

//  Print "prefix: HTTP status: code: message" from the broker's JSON error
//  body, or the start of the body when it is not one.
void
ferryctl_http_print_error (ferryctl_http_t *self, FILE *out, const char *prefix,
                           long status);

//  ferryctl_sqs: the SQS client of send --sqs and dlq, signed with the
//  AWS credentials chain, on one HTTP client driven by ferryctl_sqs_run.
typedef struct {
    fy_http_client_t *http;
    fy_aws_sign_t *sign;
    fy_sqs_t *sqs;
} ferryctl_sqs_t;

//  NULL with err filled when no endpoint or region is configured.
ferryctl_sqs_t *
ferryctl_sqs_new (fy_error_t *err);

void
ferryctl_sqs_destroy (ferryctl_sqs_t **self_p);

//  Run the loop until *done or timeout_ms passed. Returns 0, or -1 with
//  errno ETIMEDOUT (or poll's).
int
ferryctl_sqs_run (ferryctl_sqs_t *self, const bool *done,
                  int64_t timeout_ms) FY_MUSTCHECK;

//  An environment variable, NULL when unset or empty.
const char *
ferryctl_sqs_env (const char *name);

//  Copy text into buffer (size bytes, truncating) with control characters
//  replaced by '?', for printing what came from the network.
void
ferryctl_printable (const char *text, char *buffer, size_t size);

#endif
