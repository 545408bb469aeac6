/*  ferryctl render: preview a Mustache template (fy_template, the engine
    the notification worker renders with) against JSON data, so that an
    operator sees what a message will say before an event ever carries
    it. Partials are the files NAME.mustache in one directory, the
    template's own by default. */
#include "ferryctl.h"
#include "notify/fy_template.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Templates are small; data is at most an event's size.
#define S_TEMPLATE_MAX ((size_t) 1 << 20)

typedef struct {
    const char *dir;
    char *text;                 //  the last partial read, until the next
} s_partials_t;

//  A partial's name is a file name in the directory, nothing more: no
//  path separators, no dot files, so a template cannot read elsewhere.
static bool
s_name_ok (const char *name)
{
    if (!*name || *name == '.')
        return false;
    for (const char *at = name; *at; at++)
        if (!(isalnum ((unsigned char) *at) || strchr ("_.-", *at)))
            return false;
    return true;
}

static const char *
s_resolve (const char *name, size_t *len_p, void *arg)
{
    s_partials_t *partials = arg;
    free (partials->text);
    partials->text = NULL;
    if (!s_name_ok (name)) {
        fprintf (stderr,
                 "ferryctl render: partial '%s': not a file name "
                 "(letters, digits, _ . -)\n",
                 name);
        return NULL;
    }
    char *path = fy_xasprintf ("%s/%s.mustache", partials->dir, name);
    partials->text = fy_read_file (path, S_TEMPLATE_MAX, len_p);
    //  The spec renders a missing partial as nothing; a preview says so.
    if (!partials->text)
        fprintf (stderr, "ferryctl render: partial '%s': %s: %s\n", name, path,
                 strerror (errno));
    free (path);
    return partials->text;
}

//  The whole of path ("-": stdin), at most max bytes; NULL with err.
static char *
s_slurp (const char *path, size_t max, size_t *size_p, fy_error_t *err)
{
    if (strcmp (path, "-") != 0) {
        char *text = fy_read_file (path, max, size_p);
        if (!text)
            fy_error_set (err, "%s: %s", path, strerror (errno));
        return text;
    }
    char *data = ferryctl_read_stdin (max, size_p);
    if (*size_p > max) {
        fy_error_set (err, "stdin: more than %zu bytes", max);
        free (data);
        return NULL;
    }
    return data;
}

int
ferryctl_render (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "partials", required_argument, NULL, 'p' }, { NULL, 0, NULL, 0 }
    };
    const char *partials_dir = NULL;
    optind = 1;
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "", options, NULL))
           != -1) {
        if (opt != 'p') {
            optind = ctl->argc + 1;
            break;
        }
        partials_dir = optarg;
    }
    int left = ctl->argc - optind;
    if (left < 1 || left > 2) {
        fprintf (stderr, "usage: ferryctl render [--partials DIR] TEMPLATE "
                         "[DATA.json | -]\n");
        return FERRYCTL_USAGE;
    }
    const char *template_path = ctl->argv [optind];
    const char *data_path = left == 2 ? ctl->argv [optind + 1] : "-";

    fy_error_t err = { "" };
    int rc = FERRYCTL_FAILED;
    size_t text_len = 0, data_len = 0;
    char *text = NULL, *data_text = NULL, *out = NULL, *dir_copy = NULL;
    json_t *data = NULL;
    fy_template_t *template = NULL;
    s_partials_t partials = { .dir = partials_dir };
    fy_template_partials_t *set = NULL;

    text = s_slurp (template_path, S_TEMPLATE_MAX, &text_len, &err);
    if (!text) {
        fprintf (stderr, "ferryctl render: %s\n", err.text);
        goto out;
    }
    template = fy_template_compile (text, text_len, &err);
    if (!template) {
        fprintf (stderr, "ferryctl render: %s: %s\n", template_path, err.text);
        goto out;
    }
    data_text = s_slurp (data_path, FY_EVENT_MAX_BYTES, &data_len, &err);
    if (!data_text) {
        fprintf (stderr, "ferryctl render: %s\n", err.text);
        goto out;
    }
    data = fy_json_loadb (data_text, data_len, &err);
    if (!data) {
        fprintf (stderr, "ferryctl render: %s: %s\n",
                 strcmp (data_path, "-") ? data_path : "stdin", err.text);
        goto out;
    }
    if (!partials.dir) {
        dir_copy =
            fy_xstrdup (strcmp (template_path, "-") ? template_path : "./-");
        partials.dir = dirname (dir_copy);
    }
    set = fy_template_partials_new (s_resolve, &partials);
    size_t out_len = 0;
    if (fy_template_render (template, data, set, &out, &out_len, &err)) {
        fprintf (stderr, "ferryctl render: %s: %s\n", template_path, err.text);
        goto out;
    }
    if (fwrite (out, 1, out_len, stdout) != out_len || fflush (stdout)) {
        fprintf (stderr, "ferryctl render: stdout: %s\n", strerror (errno));
        goto out;
    }
    rc = FERRYCTL_OK;
out:
    fy_template_partials_destroy (&set);
    free (partials.text);
    free (dir_copy);
    free (out);
    json_decref (data);
    fy_template_destroy (&template);
    free (data_text);
    free (text);
    return rc;
}
