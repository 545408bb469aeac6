/*  ferryctl audit verify --company ID [--from T] [--to T] [--json] and
    ferryctl audit digest: the tamper evidence of audit.events from the
    command line. verify recomputes the hourly digests of one company
    (fy_audit_digest_verify) and prints every event changed, removed or
    added after the fact and every digest row altered, removed or badly
    signed; it exits 0 when clean, 1 when anything was found, 2 on bad
    usage and 3 when it could not check (database down, no key). digest
    computes the digests that are due now, as ferry-audit does on its
    timer, for operators catching up by hand. */
#include "ferryctl.h"
#include "store/fy_audit_digest.h"
#include "store/fy_store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CANNOT_CHECK 3

static int
s_usage (void)
{
    fprintf (stderr,
             "usage: ferryctl audit verify --company ID [--from T] [--to T] "
             "[--json]\n"
             "       ferryctl audit digest\n");
    return FERRYCTL_USAGE;
}

//  A store on store.database_url, or NULL (printed).
static fy_store_t *
s_store (ferryctl_t *ctl, const char **key_p)
{
    const char *url = fy_cfg_str (ctl->cfg, "store", "database_url");
    *key_p = fy_cfg_str (ctl->cfg, "store", "digest_key");
    if (!url || !*url) {
        fprintf (stderr, "ferryctl audit: store.database_url is not set "
                         "(DATABASE_URL or FERRY_STORE_DATABASE_URL)\n");
        return NULL;
    }
    if (!*key_p || !**key_p) {
        fprintf (stderr, "ferryctl audit: store.digest_key is not set "
                         "(FERRY_STORE_DIGEST_KEY or store.digest_key_file)\n");
        return NULL;
    }
    return fy_store_new (
        url, (int) fy_cfg_int (ctl->cfg, "store", "connect_timeout_s"));
}

static void
s_print_events (json_t *report, const char *kind)
{
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (report, kind), i, item)
        printf ("%-8s %s  hour %s\n", kind,
                json_string_value (json_object_get (item, "id")),
                json_string_value (json_object_get (item, "hour")));
}

static int
s_verify (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "company", required_argument, NULL, 'c' },
        { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { .name = NULL }
    };
    const char *company = NULL, *from = NULL, *to = NULL;
    bool as_json = false;
    optind = 1;
    int opt;
    while ((opt = getopt_long (ctl->argc - 1, ctl->argv + 1, "", options, NULL))
           != -1) {
        if (opt == 'c')
            company = optarg;
        else if (opt == 'f')
            from = optarg;
        else if (opt == 't')
            to = optarg;
        else if (opt == 'j')
            as_json = true;
        else
            return s_usage ();
    }
    if (optind < ctl->argc - 1 || !company)
        return s_usage ();
    const char *key;
    fy_store_t *store = s_store (ctl, &key);
    if (!store)
        return S_CANNOT_CHECK;
    fy_error_t err = { "" };
    json_t *report = NULL;
    int rc =
        fy_audit_digest_verify (store, company, from, to, key, &report, &err);
    fy_store_destroy (&store);
    if (rc < 0) {
        char *text = fy_log_redact (err.text);
        fprintf (stderr, "ferryctl audit verify: %s\n", text);
        free (text);
        return errno == EINVAL ? FERRYCTL_USAGE : S_CANNOT_CHECK;
    }
    if (as_json) {
        char *text = json_dumps (report, JSON_INDENT (2));
        printf ("%s\n", text);
        free (text);
    }
    else {
        s_print_events (report, "changed");
        s_print_events (report, "removed");
        s_print_events (report, "added");
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get (report, "digests"), i, item)
            printf ("digest   hour %s  %s\n",
                    json_string_value (json_object_get (item, "hour")),
                    json_string_value (json_object_get (item, "problem")));
        printf (
            "%s: %lld hours, %lld events checked, %lld not digested "
            "yet\n",
            rc ? "TAMPERED" : "clean",
            (long long) json_integer_value (json_object_get (report, "hours")),
            (long long) json_integer_value (json_object_get (report, "events")),
            (long long) json_integer_value (
                json_object_get (report, "pending")));
    }
    json_decref (report);
    return rc ? FERRYCTL_FAILED : FERRYCTL_OK;
}

static int
s_digest (ferryctl_t *ctl)
{
    if (ctl->argc != 2)
        return s_usage ();
    const char *key;
    fy_store_t *store = s_store (ctl, &key);
    if (!store)
        return FERRYCTL_FAILED;
    fy_error_t err = { "" };
    size_t count = 0;
    int rc = fy_audit_digest_run (
        store, fy_clock_wall_ms (),
        (int) fy_cfg_int (ctl->cfg, "store", "digest_grace_s"), key, &count,
        &err);
    fy_store_destroy (&store);
    printf ("%zu digests written\n", count);
    if (rc) {
        char *text = fy_log_redact (err.text);
        fprintf (stderr, "ferryctl audit digest: %s\n", text);
        free (text);
        return FERRYCTL_FAILED;
    }
    return FERRYCTL_OK;
}

int
ferryctl_audit (ferryctl_t *ctl)
{
    if (ctl->argc >= 2 && strcmp (ctl->argv [1], "verify") == 0)
        return s_verify (ctl);
    if (ctl->argc >= 2 && strcmp (ctl->argv [1], "digest") == 0)
        return s_digest (ctl);
    return s_usage ();
}
