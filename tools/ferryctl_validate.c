/*  ferryctl validate: one message body on stdin, through the same decode
    the bridge runs (fy_event_transcode_json): JSON (or SNS envelope) ->
    schema -> msgpack -> event, then printed back as JSON, so what it
    prints is what ferry carries. */
#include "ferryctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ferryctl_validate (ferryctl_t *ctl)
{
    const char *schema_path = fy_cfg_str (ctl->cfg, "events", "schema");
    static const struct option options [] = {
        { "schema", required_argument, NULL, 's' }, { NULL, 0, NULL, 0 }
    };
    optind = 1;
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "", options, NULL))
           != -1) {
        if (opt != 's') {
            fprintf (stderr, "usage: ferryctl validate [--schema PATH] "
                             "< message\n");
            return FERRYCTL_USAGE;
        }
        schema_path = optarg;
    }
    if (optind < ctl->argc) {
        fprintf (stderr, "ferryctl validate: unexpected argument '%s'\n",
                 ctl->argv [optind]);
        return FERRYCTL_USAGE;
    }
    fy_error_t err = { "" };
    fy_schema_t *schema = fy_schema_load (schema_path, &err);
    if (!schema) {
        fprintf (stderr, "ferryctl: schema: %s\n", err.text);
        return FERRYCTL_USAGE;
    }
    size_t size = 0;
    char *data = ferryctl_read_stdin (FY_EVENT_MAX_BYTES, &size);
    int rc = FERRYCTL_FAILED;
    msgpack_sbuffer packed;
    msgpack_sbuffer_init (&packed);
    fy_event_t *carried = NULL;
    size_t packed_size = 0;
    if (fy_event_transcode_json (data, size, schema, &packed, &packed_size,
                                 &err)) {
        fprintf (stderr, "invalid (%s): %s\n", fy_event_reason (errno),
                 err.text);
        goto out;
    }
    carried = fy_event_decode_msgpack (packed.data, packed_size, &err);
    if (!carried) {
        fprintf (stderr, "invalid (%s): %s\n", fy_event_reason (errno),
                 err.text);
        goto out;
    }
    char *text = fy_event_encode_json (carried);
    puts (text);
    free (text);
    rc = FERRYCTL_OK;
out:
    fy_event_destroy (&carried);
    msgpack_sbuffer_destroy (&packed);
    free (data);
    fy_schema_destroy (&schema);
    return rc;
}
