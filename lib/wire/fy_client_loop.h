/*  fy_client's attachment to a zloop, through core's fy_loop; in-tree
    only, as fy_loop is internal (fy_client.h is a worker author's). */
#ifndef FY_CLIENT_LOOP_H_INCLUDED
#define FY_CLIENT_LOOP_H_INCLUDED

#include "core/fy_loop.h"
#include "ferry/fy_client.h"

//  Attach the client to loop: its socket is polled for input and
//  fy_client_process runs on it. Ticking stays the owner's (its timer
//  does more than the client's): fy_loop_rearm the source after
//  fy_client_tick, whose reconnect changes the socket. fy_loop_detach
//  the source before destroying the client.
fy_loop_source_t *
fy_client_attach (fy_client_t *self, zloop_t *loop);

#endif
