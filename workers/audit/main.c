/*  ferry-audit: arguments, configuration, then the audit worker's loop. */
#include "audit.h"

#include <stdio.h>
#include <stdlib.h>

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: ferry-audit [-c FILE] [--set SECTION.KEY=VALUE]... "
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
    audit_t *audit = NULL;
    fy_error_t err = { "" };
    if (fy_cfg_load (cfg, args.path, args.sets, &err)
        || fy_cfg_apply_log (cfg, "ferry-audit")) {
        fprintf (stderr, "ferry-audit: %s\n", err.text);
        rc = args.check_config ? 1 : 2;
        goto out;
    }
    if (args.check_config) {
        rc = 0;
        goto out;
    }
    audit = audit_new (cfg, &rc, &err);
    if (!audit) {
        fprintf (stderr, "ferry-audit: %s\n", err.text);
        goto out;
    }
    rc = audit_run (audit) ? 1 : 0;
out:
    audit_destroy (&audit);
    fy_cfg_destroy (&cfg);
    fy_cfg_args_free (&args);
    return rc;
}
