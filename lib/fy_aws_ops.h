/*  fy_aws_ops: the list of calls an AWS client has in flight or waiting
    to retry, shared by fy_sqs and the request runner of fy_aws_client
    (not installed). A client's op struct starts with an fy_aws_op_t;
    the list gives ids, finds an op by id, and stops what an op waits for
    (its HTTP request, its backoff timer) when it leaves the list. */
#ifndef FY_AWS_OPS_H_INCLUDED
#define FY_AWS_OPS_H_INCLUDED

#include "ferry/fy_http_client.h"

typedef struct fy_aws_op {
    struct fy_aws_op *prev, *next;
    uint64_t id;
    uint64_t http_id;           //  The attempt in flight, or 0
    uint64_t timer_id;          //  The backoff timer, or 0
    int attempts;
} fy_aws_op_t;

typedef void (fy_aws_op_free_fn) (fy_aws_op_t *op);

typedef struct {
    fy_http_client_t *http;     //  Borrowed
    fy_aws_op_t *head;
    size_t pending;
    uint64_t next_id;
} fy_aws_ops_t;

//  An empty list on http.
void
    fy_aws_ops_init (fy_aws_ops_t *ops, fy_http_client_t *http);

//  Give op (zeroed but for its owner's fields) a new id, put it on the
//  list and set *id_p (when not NULL).
void
    fy_aws_ops_add (fy_aws_ops_t *ops, fy_aws_op_t *op, uint64_t *id_p);

//  Take op off the list, cancelling its request and timer.
void
    fy_aws_ops_unlink (fy_aws_ops_t *ops, fy_aws_op_t *op);

//  Unlink and free the op of id; true if there was one.
bool
    fy_aws_ops_cancel (fy_aws_ops_t *ops, uint64_t id,
                       fy_aws_op_free_fn *free_fn);

//  Unlink and free every op (no callbacks).
void
    fy_aws_ops_clear (fy_aws_ops_t *ops, fy_aws_op_free_fn *free_fn);

//  Call fn (op) after delay_ms on the HTTP client's timers; the timer's
//  id goes to op->timer_id (fn must zero it).
void
    fy_aws_ops_later (fy_aws_ops_t *ops, fy_aws_op_t *op, int64_t delay_ms,
                      fy_http_timer_fn *fn);

#endif
