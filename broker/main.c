/*  ferry-broker: the shared daemon main around the broker. */
#include "broker.h"

#include "ferry/fy_daemon.h"

static void *
s_new (fy_cfg_t *cfg, const fy_cfg_args_t *args, int *status,
       fy_error_t *err)
{
    *status = 2;
    return broker_new (cfg, args->path, args->sets, err);
}

static int
s_run (void *self)
{
    return broker_run (self);
}

static void
s_destroy (void *self)
{
    broker_t *broker = self;
    broker_destroy (&broker);
}

int
main (int argc, char **argv)
{
    const fy_daemon_t daemon = { "ferry-broker", s_new, s_run, s_destroy };
    return fy_daemon_main (&daemon, argc, argv);
}
