/*  ferryctl main: global options, configuration, then one command. */
#include "ferryctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
ferryctl_read_stdin (size_t limit, size_t *size_p)
{
    char *data = fy_xmalloc (limit + 2);
    size_t size = 0;
    while (size < limit + 1) {
        size_t got = fread (data + size, 1, limit + 1 - size, stdin);
        if (got == 0)
            break;
        size += got;
    }
    data [size] = 0;
    *size_p = size;
    return data;
}

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: ferryctl [-c FILE] [--set SECTION.KEY=VALUE]... COMMAND\n"
        "\n"
        "commands:\n"
        "  validate [--schema PATH]   check one message body from stdin\n"
        "  send [--broker ENDPOINT | --http URL | --sqs[=QUEUE_URL]]\n"
        "       [--token TOKEN] [--timeout-ms MS] [--schema PATH] [FILE]\n"
        "                             publish NDJSON events, one per line\n"
        "  dlq peek [-n N] | redrive [--dry-run] [--max N] | purge [--yes]\n"
        "      [--dlq URL] [--queue URL]\n"
        "                             look at, move back or empty the DLQ\n"
        "  status [--url URL] [--token TOKEN] [--json]\n"
        "                             show the broker's services and clients\n"
        "  migrate [--dry-run] [--dir DIR]\n"
        "                             apply the pending sql/ migrations\n"
        "  migrate status [--dir DIR] list applied and pending migrations\n"
        "  audit verify --company ID [--from T] [--to T] [--json]\n"
        "                             check the audit digests: exit 0 clean,\n"
        "                             1 tampered, 3 could not check\n"
        "  audit digest               compute the audit digests due now\n"
        "  notify rules check FILE    check a ferry-notify rules file\n"
        "  render [--strict] [--partials DIR] TEMPLATE [DATA.json | -]\n"
        "  render [--strict] [--locale L] [--part P] TEMPLATE_DIR/NAME "
        "[DATA.json | -]\n"
        "                             preview a Mustache template\n"
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
    fy_cfg_args_t args;
    if (fy_cfg_args_parse (&args, argc, argv, true)) {
        s_usage (stderr);
        fy_cfg_args_free (&args);
        return FERRYCTL_USAGE;
    }
    if (args.help) {
        s_usage (stdout);
        fy_cfg_args_free (&args);
        return FERRYCTL_OK;
    }
    if (args.next >= argc) {
        s_usage (stderr);
        fy_cfg_args_free (&args);
        return FERRYCTL_USAGE;
    }
    const char *command = argv [args.next];
    if (strcmp (command, "version") == 0) {
        printf ("ferryctl %s\n", PACKAGE_VERSION);
        fy_cfg_args_free (&args);
        return FERRYCTL_OK;
    }
    ferryctl_t ctl = { .cfg = fy_cfg_new (NULL),
                       .cfg_path = args.path,
                       .sets = args.sets,
                       .argc = argc - args.next,
                       .argv = argv + args.next };
    fy_error_t err = { "" };
    int rc = FERRYCTL_USAGE;
    //  config check reports a bad file itself, with its own exit status.
    bool checking = strcmp (command, "config") == 0;
    if (fy_cfg_load (ctl.cfg, args.path, args.sets, &err) && !checking)
        fprintf (stderr, "ferryctl: %s\n", err.text);
    else if (!checking && fy_cfg_apply_log (ctl.cfg, "ferryctl"))
        fprintf (stderr, "ferryctl: bad log settings\n");
    else if (strcmp (command, "validate") == 0)
        rc = ferryctl_validate (&ctl);
    else if (strcmp (command, "send") == 0)
        rc = ferryctl_send (&ctl);
    else if (strcmp (command, "status") == 0)
        rc = ferryctl_status (&ctl);
    else if (strcmp (command, "dlq") == 0)
        rc = ferryctl_dlq (&ctl);
    else if (strcmp (command, "migrate") == 0)
        rc = ferryctl_migrate (&ctl);
    else if (strcmp (command, "audit") == 0)
        rc = ferryctl_audit (&ctl);
    else if (strcmp (command, "notify") == 0)
        rc = ferryctl_notify (&ctl);
    else if (strcmp (command, "render") == 0)
        rc = ferryctl_render (&ctl);
    else if (checking)
        rc = ferryctl_config (&ctl);
    else if (strcmp (command, "keygen") == 0)
        rc = ferryctl_keygen (&ctl);
    else if (strcmp (command, "token") == 0)
        rc = ferryctl_token (&ctl);
    else {
        fprintf (stderr, "ferryctl: unknown command '%s'\n", command);
        s_usage (stderr);
    }
    fy_cfg_destroy (&ctl.cfg);
    fy_cfg_args_free (&args);
    return rc;
}
