/*  fy_daemon: one main() for every daemon, so options, configuration
    errors and exit statuses behave the same across them. */
#include "ferry/fy_daemon.h"

#include <assert.h>
#include <stdio.h>

int
fy_daemon_main (const fy_daemon_t *daemon, int argc, char **argv)
{
    assert (daemon);
    fy_cfg_args_t args;
    if (fy_cfg_args_parse (&args, argc, argv, false) || args.next < argc
        || args.help) {
        fprintf (args.help ? stdout : stderr, "usage: %s [-c FILE] "
                 "[--set SECTION.KEY=VALUE]... [--check-config]\n",
                 daemon->name);
        int status = args.help && args.next >= argc ? 0 : 2;
        fy_cfg_args_free (&args);
        return status;
    }
    int status = 2;
    fy_cfg_t *cfg = fy_cfg_new (NULL);
    void *self = NULL;
    fy_error_t err = { "" };
    if (fy_cfg_load (cfg, args.path, args.sets, &err)
        || fy_cfg_apply_log (cfg, daemon->name)) {
        fprintf (stderr, "%s: %s\n", daemon->name, err.text);
        status = args.check_config ? 1 : 2;
        goto out;
    }
    if (args.check_config) {
        status = 0;
        goto out;
    }
    status = 1;
    self = daemon->new_fn (cfg, &args, &status, &err);
    if (!self) {
        fprintf (stderr, "%s: %s\n", daemon->name, err.text);
        goto out;
    }
    status = daemon->run_fn (self) ? 1 : 0;
out:
    if (self)
        daemon->destroy_fn (self);
    fy_cfg_destroy (&cfg);
    fy_cfg_args_free (&args);
    return status;
}
