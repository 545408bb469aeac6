/*  ferry-audit: the shared daemon main around the audit worker. */
#include "audit.h"

#include "ferry/fy_daemon.h"

static void *
s_new (fy_cfg_t *cfg, const fy_cfg_args_t *args, int *status,
       fy_error_t *err)
{
    (void) args;
    return audit_new (cfg, status, err);
}

static int
s_run (void *self)
{
    return audit_run (self);
}

static void
s_destroy (void *self)
{
    audit_t *audit = self;
    audit_destroy (&audit);
}

int
main (int argc, char **argv)
{
    const fy_daemon_t daemon = { "ferry-audit", s_new, s_run, s_destroy };
    return fy_daemon_main (&daemon, argc, argv);
}
