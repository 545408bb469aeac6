/*  ferry-broker: arguments, configuration, then the broker's loop. */
#include "broker.h"

#include <stdio.h>
#include <stdlib.h>

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: ferry-broker [-c FILE] [--set SECTION.KEY=VALUE]... "
             "[--check-config]\n");
}

int
main (int argc, char **argv)
{
    fy_cfg_args_t args;
    if (fy_cfg_args_parse (&args, argc, argv, false) || args.next < argc) {
        s_usage (stderr);
        fy_cfg_args_free (&args);
        return 2;
    }
    if (args.help) {
        s_usage (stdout);
        fy_cfg_args_free (&args);
        return 0;
    }
    int rc = 2;
    fy_cfg_t *cfg = fy_cfg_new (NULL);
    broker_t *broker = NULL;
    fy_error_t err = { "" };
    if (fy_cfg_load (cfg, args.path, args.sets, &err)
        || fy_cfg_apply_log (cfg, "ferry-broker")) {
        fprintf (stderr, "ferry-broker: %s\n", err.text);
        rc = args.check_config ? 1 : 2;
        goto out;
    }
    if (args.check_config) {
        rc = 0;
        goto out;
    }
    broker = broker_new (cfg, args.path, args.sets, &err);
    if (!broker) {
        fprintf (stderr, "ferry-broker: %s\n", err.text);
        goto out;
    }
    rc = broker_run (broker) ? 1 : 0;
out:
    broker_destroy (&broker);
    fy_cfg_destroy (&cfg);
    fy_cfg_args_free (&args);
    return rc;
}
