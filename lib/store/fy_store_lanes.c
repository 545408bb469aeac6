/*  fy_store_lanes: a worker's batch stores, one flight on each. */
#include "store/fy_store_lanes.h"

#include <assert.h>
#include <stdlib.h>

typedef struct {
    fy_store_t *store;
    fy_loop_source_t *source;       //  while attached
    void *arg;                      //  landed's
} s_lane_t;

struct fy_store_lanes {
    s_lane_t *lanes;
    size_t count;
    fy_store_landed_fn *landed;
    bool blocking;                  //  detached: flights land at once
};

fy_store_lanes_t *
fy_store_lanes_new (fy_store_t *first, const char *url, int connect_timeout_s,
                    size_t count)
{
    assert (first);
    assert (count > 0);
    fy_store_lanes_t *self = fy_xcalloc (1, sizeof *self);
    self->lanes = fy_xcalloc (count, sizeof *self->lanes);
    self->count = count;
    for (size_t i = 0; i < count; i++) {
        self->lanes [i].store =
            i ? fy_store_new (url, connect_timeout_s) : first;
        fy_store_require_schema (self->lanes [i].store,
                                 FY_STORE_SCHEMA_VERSION);
    }
    return self;
}

void
fy_store_lanes_destroy (fy_store_lanes_t **self_p)
{
    assert (self_p);
    fy_store_lanes_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        fy_loop_detach (&self->lanes [i].source);
        fy_store_destroy (&self->lanes [i].store);
    }
    free (self->lanes);
    free (self);
    *self_p = NULL;
}

fy_store_t *
fy_store_lanes_store (fy_store_lanes_t *self, size_t lane)
{
    assert (self);
    assert (lane < self->count);
    return self->lanes [lane].store;
}

int
fy_store_lanes_free (fy_store_lanes_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->count; i++)
        if (!fy_store_append_is_busy (self->lanes [i].store))
            return (int) i;
    return -1;
}

void
fy_store_lanes_attach (fy_store_lanes_t *self, zloop_t *loop,
                       fy_store_landed_fn *landed, void *const *args)
{
    assert (self);
    assert (landed);
    self->landed = landed;
    self->blocking = false;
    for (size_t i = 0; i < self->count; i++) {
        self->lanes [i].arg = args [i];
        self->lanes [i].source = fy_store_append_attach (
            self->lanes [i].store, loop, landed, args [i]);
    }
}

//  Block until lane's flight landed, and give its outcome.
static void
s_land (fy_store_lanes_t *self, s_lane_t *lane)
{
    fy_error_t err = { "" };
    size_t count = 0;
    int rc = fy_store_flight_wait (lane->store, &count, &err);
    self->landed (rc, count, &err, lane->arg);
}

void
fy_store_lanes_started (fy_store_lanes_t *self, size_t lane)
{
    assert (self);
    assert (lane < self->count);
    if (self->blocking)
        s_land (self, &self->lanes [lane]);
    else
        fy_loop_rearm (self->lanes [lane].source);
}

void
fy_store_lanes_detach (fy_store_lanes_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->count; i++)
        fy_loop_detach (&self->lanes [i].source);
    self->blocking = true;
    for (size_t i = 0; i < self->count; i++)
        if (fy_store_append_is_busy (self->lanes [i].store))
            s_land (self, &self->lanes [i]);
}
