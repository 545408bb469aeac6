/*  ferryctl render: preview a template (fy_template, the engine the
    notification worker renders with) against JSON data, so that an
    operator sees what a message will say before an event ever carries
    it. TEMPLATE is a file, whose partials are the files NAME.mustache in
    one directory (the template's own by default), or a template's
    directory under the template directory, loaded as ferry-notify loads
    it (fy_template_set: its locale variant, shared partials, version). */
#include "ferryctl.h"
#include "notify/fy_template.h"
#include "notify/fy_template_set.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

//  Templates are small; data is at most an event's size.
#define S_TEMPLATE_MAX ((size_t) 1 << 20)

typedef struct {
    const char *dir;
    char *text;                 //  the last partial read, until the next
} s_partials_t;

static const char *
s_resolve (const char *name, size_t *len_p, void *arg)
{
    s_partials_t *partials = arg;
    free (partials->text);
    partials->text = NULL;
    if (!fy_template_set_is_name (name)) {
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

typedef struct {
    const char *partials_dir;   //  --partials
    const char *locale;         //  --locale
    const char *part;           //  --part
    unsigned flags;             //  --strict
} s_options_t;

//  Writes len bytes of out to stdout; false with the error said.
static bool
s_write (const char *out, size_t len)
{
    if (fwrite (out, 1, len, stdout) != len || fflush (stdout)) {
        fprintf (stderr, "ferryctl render: stdout: %s\n", strerror (errno));
        return false;
    }
    return true;
}

//  A template file, with partials from a directory.
static int
s_render_file (const char *template_path, json_t *data,
               const s_options_t *options)
{
    fy_error_t err = { "" };
    int rc = FERRYCTL_FAILED;
    size_t text_len = 0, out_len = 0;
    char *text = NULL, *out = NULL, *dir_copy = NULL;
    fy_template_t *template = NULL;
    s_partials_t partials = { .dir = options->partials_dir };
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
    if (!partials.dir) {
        dir_copy =
            fy_xstrdup (strcmp (template_path, "-") ? template_path : "./-");
        partials.dir = dirname (dir_copy);
    }
    set = fy_template_partials_new (s_resolve, &partials);
    if (fy_template_render_flags (template, data, set, options->flags, &out,
                                  &out_len, &err)) {
        fprintf (stderr, "ferryctl render: %s: %s\n", template_path, err.text);
        goto out;
    }
    if (s_write (out, out_len))
        rc = FERRYCTL_OK;
out:
    fy_template_partials_destroy (&set);
    free (partials.text);
    free (dir_copy);
    free (out);
    fy_template_destroy (&template);
    free (text);
    return rc;
}

//  A template's directory DIR/NAME, loaded as ferry-notify loads it: each
//  part it has (or the one --part names), under a header when there are
//  several; its variant and version on stderr.
static int
s_render_set (const char *path, json_t *data, const s_options_t *options)
{
    static const char *names [FY_TEMPLATE_PARTS] = { "subject", "text",
                                                     "html" };
    int only = -1;
    for (int part = 0; part < FY_TEMPLATE_PARTS && options->part; part++)
        if (strcmp (options->part, names [part]) == 0)
            only = part;
    if (options->part && only < 0) {
        fprintf (stderr, "ferryctl render: --part is subject, text or html\n");
        return FERRYCTL_USAGE;
    }
    //  DIR/NAME: the template directory and the template's name.
    char *copy = fy_xstrdup (path);
    size_t len = strlen (copy);
    while (len > 1 && copy [len - 1] == '/')
        copy [--len] = 0;
    char *slash = strrchr (copy, '/');
    const char *name = slash ? slash + 1 : copy;
    const char *dir = !slash ? "." : slash == copy ? "/" : copy;
    if (slash && slash != copy)
        *slash = 0;
    fy_error_t err = { "" };
    int rc = FERRYCTL_FAILED;
    fy_template_set_t *set =
        fy_template_set_load (dir, name, options->locale, &err);
    if (!set) {
        fprintf (stderr, "ferryctl render: %s\n", err.text);
        goto out;
    }
    fprintf (stderr, "ferryctl render: %s version %s\n",
             fy_template_set_variant (set), fy_template_set_version (set));
    int shown = 0;
    for (int part = 0; part < FY_TEMPLATE_PARTS; part++) {
        if (only >= 0 ? part != only
                      : !fy_template_set_has (set, (fy_template_part_t) part))
            continue;
        char *out = NULL;
        size_t out_len = 0;
        if (fy_template_set_render (set, (fy_template_part_t) part, data,
                                    options->flags, &out, &out_len, &err)) {
            fprintf (stderr, "ferryctl render: %s\n", err.text);
            goto out;
        }
        bool ok = true;
        if (only < 0)
            ok = printf ("%s==> %s/%s.mustache <==\n", shown ? "\n" : "",
                         fy_template_set_variant (set), names [part])
                 > 0;
        ok = ok && s_write (out, out_len);
        if (ok && only < 0 && out_len && out [out_len - 1] != '\n')
            ok = s_write ("\n", 1);
        free (out);
        if (!ok)
            goto out;
        shown++;
    }
    rc = FERRYCTL_OK;
out:
    fy_template_set_destroy (&set);
    free (copy);
    return rc;
}

int
ferryctl_render (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "partials", required_argument, NULL, 'p' },
        { "locale", required_argument, NULL, 'l' },
        { "part", required_argument, NULL, 'P' },
        { "strict", no_argument, NULL, 's' },
        { NULL, 0, NULL, 0 }
    };
    s_options_t chosen = { NULL, NULL, NULL, 0 };
    optind = 1;
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "", options, NULL))
           != -1) {
        if (opt == 'p')
            chosen.partials_dir = optarg;
        else if (opt == 'l')
            chosen.locale = optarg;
        else if (opt == 'P')
            chosen.part = optarg;
        else if (opt == 's')
            chosen.flags |= FY_TEMPLATE_STRICT;
        else {
            optind = ctl->argc + 1;
            break;
        }
    }
    int left = ctl->argc - optind;
    if (left < 1 || left > 2) {
        fprintf (stderr, "usage: ferryctl render [--strict] [--partials DIR] "
                         "TEMPLATE [DATA.json | -]\n"
                         "       ferryctl render [--strict] [--locale LOCALE] "
                         "[--part subject|text|html] TEMPLATE_DIR/NAME "
                         "[DATA.json | -]\n");
        return FERRYCTL_USAGE;
    }
    const char *template_path = ctl->argv [optind];
    const char *data_path = left == 2 ? ctl->argv [optind + 1] : "-";
    //  A file: "-", a name ending in .mustache or any file there is;
    //  else the template's directory (which may exist only as a locale
    //  variant).
    struct stat st;
    size_t path_len = strlen (template_path);
    bool is_dir =
        strcmp (template_path, "-") != 0
        && (path_len < 9
            || strcmp (template_path + path_len - 9, ".mustache") != 0)
        && !(stat (template_path, &st) == 0 && S_ISREG (st.st_mode));
    if (is_dir ? chosen.partials_dir != NULL
               : chosen.locale != NULL || chosen.part != NULL) {
        fprintf (stderr, "ferryctl render: %s\n",
                 is_dir ? "a template directory takes its partials from "
                          "DIR/partials, not --partials"
                        : "--locale and --part need a template directory");
        return FERRYCTL_USAGE;
    }
    fy_error_t err = { "" };
    size_t data_len = 0;
    int rc = FERRYCTL_FAILED;
    json_t *data = NULL;
    char *data_text = s_slurp (data_path, FY_EVENT_MAX_BYTES, &data_len, &err);
    if (!data_text)
        fprintf (stderr, "ferryctl render: %s\n", err.text);
    else if (!(data = fy_json_loadb (data_text, data_len, &err)))
        fprintf (stderr, "ferryctl render: %s: %s\n",
                 strcmp (data_path, "-") ? data_path : "stdin", err.text);
    else if (is_dir)
        rc = s_render_set (template_path, data, &chosen);
    else
        rc = s_render_file (template_path, data, &chosen);
    json_decref (data);
    free (data_text);
    return rc;
}
