/*  ferry-bridge: the shared daemon main around the bridge. */
#include "bridge.h"

#include "ferry/fy_daemon.h"

static void *
s_new (fy_cfg_t *cfg, const fy_cfg_args_t *args, int *status,
       fy_error_t *err)
{
    (void) args;
    *status = 1;
    return bridge_new (cfg, err);
}

static int
s_run (void *self)
{
    return bridge_run (self);
}

static void
s_destroy (void *self)
{
    bridge_t *bridge = self;
    bridge_destroy (&bridge);
}

int
main (int argc, char **argv)
{
    const fy_daemon_t daemon = { "ferry-bridge", s_new, s_run, s_destroy };
    return fy_daemon_main (&daemon, argc, argv);
}
