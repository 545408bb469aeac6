/*  ferry-broker: arguments, configuration, then the broker's loop. */
#include "broker.h"

#include <getopt.h>
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
    static const struct option options [] = {
        { "config", required_argument, NULL, 'c' },
        { "set", required_argument, NULL, 's' },
        { "check-config", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *cfg_path = getenv ("FERRY_CONFIG");
    const char **sets = fy_xcalloc ((size_t) argc + 1, sizeof *sets);
    size_t set_count = 0;
    bool check = false;
    int opt, rc = 2;
    while ((opt = getopt_long (argc, argv, "c:h", options, NULL)) != -1) {
        if (opt == 'c')
            cfg_path = optarg;
        else
        if (opt == 's')
            sets [set_count++] = optarg;
        else
        if (opt == 'k')
            check = true;
        else {
            s_usage (opt == 'h' ? stdout : stderr);
            free (sets);
            return opt == 'h' ? 0 : 2;
        }
    }
    fy_cfg_t *cfg = fy_cfg_new (NULL);
    broker_t *broker = NULL;
    fy_error_t err = { "" };
    if (fy_cfg_load (cfg, cfg_path, sets, &err)
        || fy_cfg_apply_log (cfg, "ferry-broker")) {
        fprintf (stderr, "ferry-broker: %s\n", err.text);
        rc = check ? 1 : 2;
        goto out;
    }
    if (check) {
        rc = 0;
        goto out;
    }
    broker = broker_new (cfg, cfg_path, sets, &err);
    if (!broker) {
        fprintf (stderr, "ferry-broker: %s\n", err.text);
        goto out;
    }
    rc = broker_run (broker) ? 1 : 0;
out:
    broker_destroy (&broker);
    fy_cfg_destroy (&cfg);
    free (sets);
    return rc;
}
