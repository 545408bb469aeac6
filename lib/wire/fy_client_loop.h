/*  fy_client's attachment to a zloop, through core's fy_loop; in-tree
    only, as fy_loop is internal (fy_client.h is a worker author's). */
#ifndef FY_CLIENT_LOOP_H_INCLUDED
#define FY_CLIENT_LOOP_H_INCLUDED

#include "core/fy_loop.h"
#include "ferry/fy_client.h"

//  Attach the client to loop: its socket is polled for input and
//  fy_client_process runs on it, and at once after a send (see
//  fy_loop.h). Ticking stays the owner's (its timer does more than the
//  client's): fy_loop_rearm the source after fy_client_tick. The source
//  is the client's (borrowed): fy_client_detach, or fy_client_destroy,
//  ends it.
fy_loop_source_t *
fy_client_attach (fy_client_t *self, zloop_t *loop);

//  Detach the client from its loop, if attached.
void
fy_client_detach (fy_client_t *self);

#endif
