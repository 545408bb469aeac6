/*  broker_http: ferry-broker's HTTP endpoint. Health, readiness, metrics
    and admin status are answered from the broker's state; POST /events
    publishes on the broker's own account; /auth, /notifications, /audit
    and /analytics are forwarded to their services as REQUESTs. Runs on
    the broker's loop: no other thread touches broker state. */
#ifndef BROKER_HTTP_H_INCLUDED
#define BROKER_HTTP_H_INCLUDED

#include "broker.h"

typedef struct broker_http broker_http_t;

//  Serve HTTP as the http section of cfg says, on broker's loop. Returns
//  NULL with err when the address cannot be bound or the token settings
//  are unusable.
broker_http_t *
broker_http_new (broker_t *broker, fy_cfg_t *cfg, fy_error_t *err);

void
broker_http_destroy (broker_http_t **self_p);

//  The port actually bound.
int
broker_http_port (broker_http_t *self);

#endif
