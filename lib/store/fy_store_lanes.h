/*  fy_store_lanes: the batch stores of a worker whose batches fly
    (ferry-audit's appends, ferry-analytics' batches): count connections
    to one database, at most one transaction in flight on each, its
    socket watched in the worker's loop and its outcome given to the
    lane's landed function. libpq runs one COPY per connection at a time;
    with several, PostgreSQL writes one batch while another's round trips
    are on the wire, and the worker decodes the next meanwhile. Once the
    loop is over (fy_store_lanes_detach) the flights land blocking. */
#ifndef FY_STORE_LANES_H_INCLUDED
#define FY_STORE_LANES_H_INCLUDED

#include "store/fy_store.h"

typedef struct fy_store_lanes fy_store_lanes_t;

//  count lanes: first (taken), then stores on url that connect at their
//  first flight, every one requiring FY_STORE_SCHEMA_VERSION.
fy_store_lanes_t *
fy_store_lanes_new (fy_store_t *first, const char *url, int connect_timeout_s,
                    size_t count);

//  Detached first (fy_store_lanes_detach); the stores are destroyed.
void
fy_store_lanes_destroy (fy_store_lanes_t **self_p);

//  Lane lane's store. Borrowed.
fy_store_t *
fy_store_lanes_store (fy_store_lanes_t *self, size_t lane);

//  A lane with no flight, or -1 when every lane has one.
int
fy_store_lanes_free (fy_store_lanes_t *self);

//  Watch every lane's flight in loop: landed gets its outcome with
//  args [lane].
void
fy_store_lanes_attach (fy_store_lanes_t *self, zloop_t *loop,
                       fy_store_landed_fn *landed, void *const *args);

//  A flight started on lane: watched in the loop, or once detached
//  waited for (landed is called before this returns).
void
fy_store_lanes_started (fy_store_lanes_t *self, size_t lane);

//  Out of the loop: the flights in the air land now (blocking, each
//  through landed), and those started later as they start.
void
fy_store_lanes_detach (fy_store_lanes_t *self);

#endif
