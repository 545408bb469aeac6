/*  ferryctl main: global options, configuration, then one command. */
#include "ferryctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: ferryctl [-c FILE] [--set SECTION.KEY=VALUE]... COMMAND\n"
        "\n"
        "commands:\n"
        "  validate [--schema PATH]   check one message body from stdin\n"
        "  send [--broker ENDPOINT | --http URL] [--token TOKEN]\n"
        "       [--timeout-ms MS] [--schema PATH] [FILE]\n"
        "                             publish NDJSON events, one per line\n"
        "  status [--url URL] [--token TOKEN] [--json]\n"
        "                             show the broker's services and clients\n"
        "  config check               check the configuration, exit 0 or 1\n"
        "  config show                print the effective configuration\n"
        "  config doc                 print every key as Markdown\n"
        "  config sample              print a ferry.cfg with every default\n"
        "  keygen [-d DIR] NAME       write a CURVE certificate pair\n"
        "  token [--sub S] [--ttl N]  mint a service token (HS256)\n"
        "  version                    print the version\n");
}

int
main (int argc, char **argv)
{
    static const struct option options [] = {
        { "config", required_argument, NULL, 'c' },
        { "set", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *cfg_path = getenv ("FERRY_CONFIG");
    const char **sets = fy_xcalloc ((size_t) argc + 1, sizeof *sets);
    size_t set_count = 0;
    int opt;
    //  "+" stops at the command, so its own options are left to it.
    while ((opt = getopt_long (argc, argv, "+c:h", options, NULL)) != -1) {
        switch (opt) {
            case 'c':
                cfg_path = optarg;
                break;
            case 's':
                sets [set_count++] = optarg;
                break;
            case 'h':
                s_usage (stdout);
                free (sets);
                return FERRYCTL_OK;
            default:
                s_usage (stderr);
                free (sets);
                return FERRYCTL_USAGE;
        }
    }
    if (optind >= argc) {
        s_usage (stderr);
        free (sets);
        return FERRYCTL_USAGE;
    }
    const char *command = argv [optind];
    if (strcmp (command, "version") == 0) {
        printf ("ferryctl %s\n", PACKAGE_VERSION);
        free (sets);
        return FERRYCTL_OK;
    }
    ferryctl_t ctl = {
        .cfg = fy_cfg_new (NULL), .cfg_path = cfg_path, .sets = sets,
        .argc = argc - optind, .argv = argv + optind
    };
    fy_error_t err = { "" };
    int rc = FERRYCTL_USAGE;
    //  config check reports a bad file itself, with its own exit status.
    bool checking = strcmp (command, "config") == 0;
    if (fy_cfg_load (ctl.cfg, cfg_path, sets, &err) && !checking)
        fprintf (stderr, "ferryctl: %s\n", err.text);
    else
    if (!checking && fy_cfg_apply_log (ctl.cfg, "ferryctl"))
        fprintf (stderr, "ferryctl: bad log settings\n");
    else
    if (strcmp (command, "validate") == 0)
        rc = ferryctl_validate (&ctl);
    else
    if (strcmp (command, "send") == 0)
        rc = ferryctl_send (&ctl);
    else
    if (strcmp (command, "status") == 0)
        rc = ferryctl_status (&ctl);
    else
    if (checking)
        rc = ferryctl_config (&ctl);
    else
    if (strcmp (command, "keygen") == 0)
        rc = ferryctl_keygen (&ctl);
    else
    if (strcmp (command, "token") == 0)
        rc = ferryctl_token (&ctl);
    else {
        fprintf (stderr, "ferryctl: unknown command '%s'\n", command);
        s_usage (stderr);
    }
    fy_cfg_destroy (&ctl.cfg);
    free (sets);
    return rc;
}
