/*  broker_route: which services an event type goes to. Routes come from
    broker.routes, "service:pattern[,pattern...]" entries separated by
    spaces, where a pattern is an exact type, "*" or a prefix ending in
    ".*" ("user.*" matches "user.login", not "username"). */
#ifndef BROKER_ROUTE_H_INCLUDED
#define BROKER_ROUTE_H_INCLUDED

#include "ferry/ferry.h"

typedef struct broker_route broker_route_t;

//  Parse a routes string. Returns NULL with errno EINVAL and err naming
//  the bad entry.
broker_route_t *
broker_route_new (const char *routes, fy_error_t *err);

void
broker_route_destroy (broker_route_t **self_p);

//  Number of services named by the routes, and the name of each
//  (borrowed); service indexes are stable for the route's life.
size_t
broker_route_services (broker_route_t *self);
const char *
broker_route_service (broker_route_t *self, size_t index);

//  The services type goes to, as indexes into the service list, and
//  their count. The answer is cached per type, so the match runs once per
//  distinct type. Borrowed until the route is destroyed.
const uint16_t *
broker_route_match (broker_route_t *self, const char *type, size_t len,
                    size_t *count_p);

#endif
