/*  ferry-bridge: arguments, configuration, then the bridge's loop. */
#include "bridge.h"

#include <stdio.h>
#include <stdlib.h>

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: ferry-bridge [-c FILE] [--set SECTION.KEY=VALUE]... "
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
    bridge_t *bridge = NULL;
    fy_error_t err = { "" };
    if (fy_cfg_load (cfg, args.path, args.sets, &err)
        || fy_cfg_apply_log (cfg, "ferry-bridge")) {
        fprintf (stderr, "ferry-bridge: %s\n", err.text);
        rc = args.check_config ? 1 : 2;
        goto out;
    }
    if (args.check_config) {
        rc = 0;
        goto out;
    }
    bridge = bridge_new (cfg, &err);
    if (!bridge) {
        fprintf (stderr, "ferry-bridge: %s\n", err.text);
        goto out;
    }
    rc = bridge_run (bridge) ? 1 : 0;
out:
    bridge_destroy (&bridge);
    fy_cfg_destroy (&cfg);
    fy_cfg_args_free (&args);
    return rc;
}
