/*  bridge: ferry-bridge's top object. It long-polls one or more SQS
    queues, validates each message as an event, publishes it to the broker
    within the credit the broker grants, and settles it in SQS by what the
    broker answers: deleted after an ACK, made visible again after a
    backoff on a retryable NACK, sent to the dead letter queue (then
    deleted) on a permanent NACK or when it is no valid event. While the
    broker says an event is still being worked on (LEASE), the message's
    visibility is extended before it lapses. Everything runs on one zloop:
    the broker socket, the HTTP client's fd and timers, signals. */
#ifndef BRIDGE_H_INCLUDED
#define BRIDGE_H_INCLUDED

#include "ferry/ferry.h"

typedef struct bridge bridge_t;

//  Build a bridge from a loaded configuration (borrowed for the bridge's
//  life): compile the schema, connect to the broker, set up the SQS client
//  and its signer. Returns NULL with err, and errno EINVAL naming the
//  key on bad settings (fy_daemon's exit 2).
bridge_t *
bridge_new (fy_cfg_t *cfg, fy_error_t *err);

void
bridge_destroy (bridge_t **self_p);

//  Run until SIGTERM (stop receiving, release what is not published, let
//  the open long polls end and release what they bring, wait up to
//  bridge.stop_timeout_ms for that and for the published events' answers)
//  or SIGINT or a second SIGTERM (at once). Returns 0, or -1 when the loop
//  failed.
int
bridge_run (bridge_t *self) FY_MUSTCHECK;

//  The metrics registry (the counters the summary line shows). Borrowed.
fy_metrics_t *
bridge_metrics (bridge_t *self);

#endif
