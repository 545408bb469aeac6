/*  fy_http_ops: the core a client keeps for its calls (see
    fy_http_ops.h). A call is an "op" that lives from the caller's
    request to its one callback, across attempts: each attempt is one
    HTTP request built afresh and signed afresh (a retry carries a fresh
    date); between attempts the op waits on one of the HTTP client's
    timers. */
#include "http/fy_http_ops.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------
//  Options and endpoints

void
fy_http_ops_options_default (fy_http_ops_options_t *options)
{
    assert (options);
    memset (options, 0, sizeof *options);
    options->retry_base_ms = 50;
    options->retry_cap_ms = 5000;
    options->max_attempts = 5;
    options->connect_timeout_ms = 5000;
    options->timeout_ms = 15000;
}

char *
fy_http_url_trim (const char *endpoint, const char *what, fy_error_t *err)
{
    assert (endpoint);
    assert (what);
    if (strncmp (endpoint, "http://", 7) != 0
        && strncmp (endpoint, "https://", 8) != 0) {
        fy_error_set (err, "%s: endpoint '%s' is not an http(s) URL", what,
                      endpoint);
        errno = EINVAL;
        return NULL;
    }
    char *url = fy_xstrdup (endpoint);
    size_t len = strlen (url);
    while (len > 0 && url [len - 1] == '/')
        url [--len] = 0;
    return url;
}

//  --------------------------------------------------------------------
//  The list of ops

void
fy_http_ops_init (fy_http_ops_t *ops, fy_http_client_t *http,
                  const fy_http_ops_options_t *options)
{
    assert (ops);
    assert (http);
    fy_http_ops_options_t defaults;
    fy_http_ops_options_default (&defaults);
    if (!options)
        options = &defaults;
    memset (ops, 0, sizeof *ops);
    fy_list_init (&ops->list);
    ops->http = http;
    ops->sign = options->sign;
    ops->sign_arg = options->sign_arg;
    fy_backoff_init (&ops->backoff,
                     options->retry_base_ms > 0 ? options->retry_base_ms
                                                : defaults.retry_base_ms,
                     options->retry_cap_ms > 0 ? options->retry_cap_ms
                                               : defaults.retry_cap_ms);
    ops->max_attempts = options->max_attempts > 0 ? options->max_attempts
                                                  : defaults.max_attempts;
    ops->connect_ms = options->connect_timeout_ms > 0
                          ? options->connect_timeout_ms
                          : defaults.connect_timeout_ms;
    ops->timeout_ms =
        options->timeout_ms > 0 ? options->timeout_ms : defaults.timeout_ms;
    ops->next_id = 1;
}

static void
s_on_timer (void *arg)
{
    fy_http_op_t *op = arg;
    op->timer_id = 0;
    op->attempt (op);
}

void
fy_http_ops_add (fy_http_ops_t *ops, fy_http_op_t *op,
                 fy_http_op_attempt_fn *attempt, fy_http_op_free_fn *free_fn,
                 uint64_t *id_p)
{
    assert (ops);
    assert (op);
    assert (attempt && free_fn);
    op->attempt = attempt;
    op->free_fn = free_fn;
    op->id = ops->next_id++;
    fy_list_push_front (&ops->list, &op->link);
    ops->pending++;
    if (id_p)
        *id_p = op->id;
    op->timer_id = fy_http_client_timer (ops->http, 0, s_on_timer, op);
}

void
fy_http_ops_unlink (fy_http_ops_t *ops, fy_http_op_t *op)
{
    assert (ops);
    assert (op);
    fy_list_unlink (&op->link);
    if (op->http_id)
        fy_http_client_cancel (ops->http, op->http_id);
    if (op->timer_id)
        fy_http_client_timer_cancel (ops->http, op->timer_id);
    op->http_id = op->timer_id = 0;
    ops->pending--;
}

bool
fy_http_ops_cancel (fy_http_ops_t *ops, uint64_t id)
{
    assert (ops);
    fy_http_op_t *op;
    fy_list_each (op, &ops->list, fy_http_op_t, link) if (op->id == id)
    {
        fy_http_ops_unlink (ops, op);
        op->free_fn (op);
        return true;
    }
    return false;
}

void
fy_http_ops_clear (fy_http_ops_t *ops)
{
    assert (ops);
    fy_http_op_t *op;
    fy_list_each (op, &ops->list, fy_http_op_t, link)
    {
        fy_http_ops_unlink (ops, op);
        op->free_fn (op);
    }
}

int
fy_http_ops_start (fy_http_ops_t *ops, fy_http_op_t *op,
                   fy_http_call_t **call_p, fy_http_done_fn *fn,
                   fy_error_t *err)
{
    assert (ops);
    assert (op);
    assert (call_p && *call_p);
    op->attempts++;
    fy_http_call_t *call = *call_p;
    size_t len;
    const void *body = fy_http_call_body (call, &len);
    if (ops->sign
        && ops->sign (ops->sign_arg, fy_http_call_method (call),
                      fy_http_call_url (call), fy_http_call_headers (call),
                      body, len, err)) {
        fy_http_call_destroy (call_p);
        if (err && !err->text [0])
            fy_error_set (err, "signing failed");
        errno = EACCES;
        return -1;
    }
    if (fy_http_client_start (ops->http, call_p, fn, op, &op->http_id, err)) {
        errno = EIO;
        return -1;
    }
    return 0;
}

bool
fy_http_ops_may_retry (fy_http_ops_t *ops, fy_http_op_t *op)
{
    assert (ops);
    assert (op);
    return op->attempts < ops->max_attempts;
}

void
fy_http_ops_backoff (fy_http_ops_t *ops, fy_http_op_t *op)
{
    assert (ops);
    fy_http_ops_wait (ops, op, fy_backoff_ms (&ops->backoff, op->attempts));
}

void
fy_http_ops_wait (fy_http_ops_t *ops, fy_http_op_t *op, int64_t delay_ms)
{
    assert (ops);
    assert (op);
    assert (!op->timer_id);
    op->timer_id = fy_http_client_timer (ops->http, delay_ms, s_on_timer, op);
}

//  --------------------------------------------------------------------
//  Outcomes

void
fy_http_outcome_clear (fy_http_outcome_t *outcome)
{
    assert (outcome);
    free (outcome->message_id);
    free (outcome->request_id);
    memset (outcome, 0, sizeof *outcome);
}

void
fy_http_outcome_fail (fy_http_outcome_t *outcome, int error,
                      const char *message)
{
    assert (outcome);
    assert (message);
    fy_http_outcome_clear (outcome);
    outcome->error = error;
    snprintf (outcome->failure.message, sizeof outcome->failure.message, "%s",
              message);
}

int
fy_http_outcome_read (fy_http_outcome_t *outcome, const fy_http_result_t *http,
                      fy_http_parse_fn *parse, const char *service,
                      const char *error_type_header,
                      const char *request_id_header)
{
    assert (outcome);
    assert (http);
    assert (parse && service);
    int error = fy_http_result_error (http);
    if (error) {
        fy_http_outcome_fail (outcome, error, fy_http_result_error_text (http));
        return -1;
    }
    fy_http_outcome_clear (outcome);
    outcome->status = fy_http_result_status (http);
    fy_http_answer_t answer = {
        .status = outcome->status,
    };
    if (error_type_header)
        answer.error_type = fy_http_result_header (http, error_type_header);
    answer.body = fy_http_result_body (http, &answer.len);
    int rc = parse (&answer, &outcome->failure, &outcome->message_id,
                    &outcome->request_id);
    const char *request_id =
        request_id_header ? fy_http_result_header (http, request_id_header)
                          : NULL;
    if (!outcome->request_id && request_id && *request_id)
        outcome->request_id = fy_xstrdup (request_id);
    if (rc) {
        outcome->error = EPROTO;
        if (!outcome->failure.message [0])
            snprintf (outcome->failure.message, sizeof outcome->failure.message,
                      "%s: HTTP %d", service, outcome->status);
    }
    return rc ? -1 : 0;
}

fy_http_op_result_t
fy_http_outcome_result (const fy_http_outcome_t *outcome, int attempts)
{
    assert (outcome);
    const fy_http_service_error_t *failure = &outcome->failure;
    fy_http_op_result_t result = {
        .error = outcome->error,
        .status = outcome->status,
        .code = failure->code [0] ? failure->code : NULL,
        .message = failure->message,
        .message_id = outcome->error ? NULL : outcome->message_id,
        .request_id = outcome->request_id,
        .attempts = attempts,
    };
    return result;
}
