/*  ferryctl keygen: a CURVE certificate for the broker, a worker or a
    client. zcert writes two files: NAME (the public key, which goes in
    the broker's broker.curve_allow_dir) and NAME_secret (kept by its
    owner and named by its curve settings). */
#include "ferryctl.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <sys/stat.h>

int
ferryctl_keygen (ferryctl_t *ctl)
{
    const char *dir = ".";
    optind = 1;
    int opt;
    while ((opt = getopt (ctl->argc, ctl->argv, "d:")) != -1) {
        if (opt != 'd') {
            fprintf (stderr, "usage: ferryctl keygen [-d DIR] NAME\n");
            return FERRYCTL_USAGE;
        }
        dir = optarg;
    }
    if (optind != ctl->argc - 1) {
        fprintf (stderr, "usage: ferryctl keygen [-d DIR] NAME\n");
        return FERRYCTL_USAGE;
    }
    const char *name = ctl->argv [optind];
    char *path = fy_xasprintf ("%s/%s", dir, name);
    char *secret = fy_xasprintf ("%s_secret", path);
    int rc = FERRYCTL_FAILED;
    struct stat info;
    //  Never overwrite a key: a lost secret locks its owner out.
    if (stat (path, &info) == 0 || stat (secret, &info) == 0) {
        fprintf (stderr, "ferryctl keygen: %s or %s exists\n", path, secret);
        goto out;
    }
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "name", "%s", name);
    if (zcert_save (cert, path)) {
        fprintf (stderr, "ferryctl keygen: cannot write %s\n", path);
        zcert_destroy (&cert);
        goto out;
    }
    chmod (secret, 0600);
    printf ("%s\n", zcert_public_txt (cert));
    zcert_destroy (&cert);
    rc = FERRYCTL_OK;
out:
    free (secret);
    free (path);
    return rc;
}
