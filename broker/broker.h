/*  broker: ferry-broker's top object. One ROUTER socket, one loop, every
    piece of state owned by that loop's thread: services and their
    workers, clients and their credit, events and their deliveries. */
#ifndef BROKER_H_INCLUDED
#define BROKER_H_INCLUDED

#include "ferry/ferry.h"

typedef struct broker broker_t;

//  Build a broker from a loaded configuration and bind it. cfg, and the
//  path and --set list SIGHUP reloads it from, are borrowed for the
//  broker's life. Returns NULL with err on a bad route or endpoint.
broker_t *
    broker_new (fy_cfg_t *cfg, const char *cfg_path, const char *const *sets,
                fy_error_t *err);

void
    broker_destroy (broker_t **self_p);

//  The endpoint actually bound (tcp ports resolved). Borrowed.
const char *
    broker_endpoint (broker_t *self);

//  Run until SIGTERM (drain, then return 0) or SIGINT. Returns 0, or -1
//  when the loop failed.
int
    broker_run (broker_t *self) FY_MUSTCHECK;

#endif
