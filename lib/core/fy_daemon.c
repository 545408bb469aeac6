/*  fy_daemon: one main() for every daemon, so options, configuration
    errors and exit statuses behave the same across them. */
#include "ferry/fy_daemon.h"

#include <assert.h>
#include <stdio.h>

int
fy_daemon_main (const fy_daemon_class_t *cls, int argc, char **argv)
{
    assert (cls);
    fy_cfg_args_t args;
    if (fy_cfg_args_parse (&args, argc, argv, false) || args.next < argc
        || args.help) {
        fprintf (args.help ? stdout : stderr,
                 "usage: %s [-c FILE] "
                 "[--set SECTION.KEY=VALUE]... [--check-config]\n",
                 cls->name);
        int status = args.help && args.next >= argc ? 0 : 2;
        fy_cfg_args_free (&args);
        return status;
    }
    int status = 2;
    fy_cfg_t *cfg = fy_cfg_new (NULL);
    void *self = NULL;
    fy_error_t err = { "" };
    if (fy_cfg_load (cfg, args.path, args.sets, &err)
        || fy_cfg_apply_log (cfg, cls->name)) {
        fprintf (stderr, "%s: %s\n", cls->name, err.text);
        status = args.check_config ? 1 : 2;
        goto out;
    }
    if (args.check_config) {
        status = 0;
        goto out;
    }
    self = cls->new_fn (cfg, &err);
    if (!self) {
        //  The constructor says which: a setting it refused, or a
        //  failure a restart may get past.
        status = errno == EINVAL ? 2 : 1;
        fprintf (stderr, "%s: %s\n", cls->name, err.text);
        goto out;
    }
    status = cls->run_fn (self) ? 1 : 0;
out:
    if (self)
        cls->destroy_fn (self);
    fy_cfg_destroy (&cfg);
    fy_cfg_args_free (&args);
    return status;
}
