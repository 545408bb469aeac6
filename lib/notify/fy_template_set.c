/*  fy_template_set: a notification template's parts and the partials they
    name, read once from the template directory for a locale, with the
    SHA-256 of what was read (see fy_template_set.h).

    Loading reads the parts, then, breadth first, every partial they and
    the partials after them name statically, and nothing else: the set
    is then complete (a render never reads a file) and its hash covers
    exactly the files it renders from, in an order fixed by the templates
    themselves. */
#include "notify/fy_template_set.h"
#include "notify/fy_template.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_MAX_NAME 100
#define S_MAX_LOCALE 35

struct fy_template_set {
    fy_template_t *parts [FY_TEMPLATE_PARTS];
    char *files [FY_TEMPLATE_PARTS];  //  "welcome.fr/html.mustache"
    fy_template_partials_t *partials;
    char *variant;
    char *locale;
    char version [65];
};

//  What loading carries: the hash so far and the partials to read.
typedef struct {
    fy_template_set_t *set;
    const char *dir;
    const char *locale;  //  As asked, "" for none
    EVP_MD_CTX *hash;
    char **names;  //  Partials named, in the order first named
    size_t count;
    size_t done;
    fy_error_t *err;
} s_loader_t;

static const char *s_part_files [FY_TEMPLATE_PARTS] = { "subject.mustache",
                                                        "text.mustache",
                                                        "html.mustache" };

bool
fy_template_set_is_name (const char *name)
{
    size_t len = strlen (name);
    if (!len || len > S_MAX_NAME || *name == '.')
        return false;
    for (const char *at = name; *at; at++)
        if (!(isalnum ((unsigned char) *at) || strchr ("_.-", *at)))
            return false;
    return true;
}

static bool
s_is_locale (const char *locale)
{
    if (strlen (locale) > S_MAX_LOCALE)
        return false;
    for (const char *at = locale; *at; at++)
        if (!(isalnum ((unsigned char) *at) || strchr ("_-", *at)))
            return false;
    return true;
}

//  Cuts locale at its last '-' or '_': "fr-CA" -> "fr" -> "". Returns
//  false when it was "" already.
static bool
s_locale_cut (char *locale)
{
    if (!*locale)
        return false;
    char *cut = locale + strlen (locale);
    while (cut > locale && cut [-1] != '-' && cut [-1] != '_')
        cut--;
    cut [cut > locale ? -1 : 0] = 0;
    return true;
}

//  The file at dir/relative, read and put in the hash: its path and
//  length first, so that moving bytes between files changes the hash.
//  NULL with errno (ENOENT: no such file) and, but for ENOENT, err set.
static char *
s_read (s_loader_t *loader, const char *relative, size_t *len_p)
{
    char *path = fy_xasprintf ("%s/%s", loader->dir, relative);
    char *text = fy_read_file (path, FY_TEMPLATE_SET_MAX_FILE, len_p);
    free (path);
    if (!text) {
        if (errno != ENOENT)
            fy_error_set (loader->err, "%s: %s", relative,
                          errno == EFBIG ? "more than 1 MiB"
                                         : strerror (errno));
        return NULL;
    }
    unsigned char be [8];
    for (int i = 0; i < 8; i++)
        be [i] = (unsigned char) ((uint64_t) *len_p >> (56 - 8 * i));
    EVP_DigestUpdate (loader->hash, relative, strlen (relative) + 1);
    EVP_DigestUpdate (loader->hash, be, sizeof be);
    EVP_DigestUpdate (loader->hash, text, *len_p);
    return text;
}

//  fy_template_name_fn: a partial to read, when it is new.
static int
s_want (const char *name, void *arg)
{
    s_loader_t *loader = arg;
    for (size_t i = 0; i < loader->count; i++)
        if (strcmp (loader->names [i], name) == 0)
            return 0;
    if (!fy_template_set_is_name (name)) {
        fy_error_set (loader->err,
                      "partial '%.40s': not a file name (letters, "
                      "digits, _ . -)",
                      name);
        errno = EINVAL;
        return -1;
    }
    if (loader->count == FY_TEMPLATE_SET_MAX_PARTIALS) {
        fy_error_set (loader->err, "more than %d partials",
                      FY_TEMPLATE_SET_MAX_PARTIALS);
        errno = EINVAL;
        return -1;
    }
    loader->names = fy_xrealloc (loader->names,
                                 (loader->count + 1) * sizeof *loader->names);
    loader->names [loader->count++] = fy_xstrdup (name);
    return 0;
}

//  Compiles the text of relative and asks for the partials it names.
static fy_template_t *
s_compile (s_loader_t *loader, const char *relative, const char *text,
           size_t len)
{
    fy_template_t *template = fy_template_compile (text, len, loader->err);
    if (!template) {
        fy_error_prefix (loader->err, "%s", relative);
        return NULL;
    }
    if (fy_template_each_partial (template, s_want, loader))
        fy_template_destroy (&template);
    return template;
}

//  The next partial named: its most specific locale variant, if any, in
//  partials/, else in layouts/.
static int
s_load_partial (s_loader_t *loader, const char *name)
{
    static const char *const folders [] = { "partials", "layouts" };
    char locale [S_MAX_LOCALE + 1];
    snprintf (locale, sizeof locale, "%s", loader->locale);
    int rc = 0;
    do {
        for (size_t i = 0; i < 2; i++) {
            char *relative = fy_xasprintf ("%s/%s%s%s.mustache", folders [i],
                                           name, *locale ? "." : "", locale);
            size_t len = 0;
            char *text = s_read (loader, relative, &len);
            if (text) {
                fy_template_t *template =
                    s_compile (loader, relative, text, len);
                if (template)
                    fy_template_partials_insert (loader->set->partials, name,
                                                 &template);
                else
                    rc = -1;
            }
            else if (errno != ENOENT)
                rc = -1;
            free (text);
            free (relative);
            if (text || rc)
                return rc;
        }
    } while (s_locale_cut (locale));
    return 0;  //  None: renders as nothing, or fails strict
}

//  The variant directory: the first of name.locale, cut, that exists.
static int
s_find_variant (s_loader_t *loader, const char *name)
{
    char locale [S_MAX_LOCALE + 1];
    snprintf (locale, sizeof locale, "%s", loader->locale);
    do {
        char *variant =
            fy_xasprintf ("%s%s%s", name, *locale ? "." : "", locale);
        char *path = fy_xasprintf ("%s/%s", loader->dir, variant);
        struct stat st;
        bool found = stat (path, &st) == 0 && S_ISDIR (st.st_mode);
        free (path);
        if (found) {
            loader->set->variant = variant;
            loader->set->locale = fy_xstrdup (locale);
            return 0;
        }
        free (variant);
    } while (s_locale_cut (locale));
    fy_error_set (loader->err, "no template '%s'%s%s in %s", name,
                  *loader->locale ? " for locale " : "", loader->locale,
                  loader->dir);
    errno = ENOENT;
    return -1;
}

//  The parts of the variant, then every partial named, breadth first.
static int
s_load (s_loader_t *loader)
{
    fy_template_set_t *self = loader->set;
    size_t found = 0;
    for (int part = 0; part < FY_TEMPLATE_PARTS; part++) {
        char *relative =
            fy_xasprintf ("%s/%s", self->variant, s_part_files [part]);
        size_t len = 0;
        char *text = s_read (loader, relative, &len);
        if (!text && errno != ENOENT) {
            free (relative);
            return -1;
        }
        if (text) {
            found++;
            self->parts [part] = s_compile (loader, relative, text, len);
            self->files [part] = relative;
            free (text);
            if (!self->parts [part])
                return -1;
        }
        else
            free (relative);
    }
    if (!found) {
        fy_error_set (loader->err, "%s: no subject, text or html.mustache",
                      self->variant);
        errno = ENOENT;
        return -1;
    }
    for (; loader->done < loader->count; loader->done++)
        if (s_load_partial (loader, loader->names [loader->done]))
            return -1;
    return 0;
}

fy_template_set_t *
fy_template_set_load (const char *dir, const char *name, const char *locale,
                      fy_error_t *err)
{
    assert (dir);
    assert (name);
    if (!locale)
        locale = "";
    if (!fy_template_set_is_name (name)) {
        fy_error_set (err,
                      "template '%.40s': not a file name (letters, "
                      "digits, _ . -)",
                      name);
        errno = EINVAL;
        return NULL;
    }
    if (!s_is_locale (locale)) {
        fy_error_set (err,
                      "locale '%.40s': not a locale (letters, digits, "
                      "- _)",
                      locale);
        errno = EINVAL;
        return NULL;
    }
    fy_template_set_t *self = fy_xcalloc (1, sizeof *self);
    self->partials = fy_template_partials_new (NULL, NULL);
    s_loader_t loader = { .set = self,
                          .dir = dir,
                          .locale = locale,
                          .hash = EVP_MD_CTX_new (),
                          .err = err };
    assert (loader.hash);
    EVP_DigestInit_ex (loader.hash, EVP_sha256 (), NULL);
    int rc = s_find_variant (&loader, name);
    if (rc == 0)
        rc = s_load (&loader);
    if (rc == 0) {
        unsigned char hash [32];
        EVP_DigestFinal_ex (loader.hash, hash, NULL);
        for (int i = 0; i < 32; i++)
            snprintf (self->version + 2 * i, 3, "%02x", hash [i]);
    }
    int error = errno;
    EVP_MD_CTX_free (loader.hash);
    for (size_t i = 0; i < loader.count; i++)
        free (loader.names [i]);
    free (loader.names);
    if (rc) {
        fy_template_set_destroy (&self);
        errno = error;
    }
    return self;
}

void
fy_template_set_destroy (fy_template_set_t **self_p)
{
    assert (self_p);
    fy_template_set_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    for (int part = 0; part < FY_TEMPLATE_PARTS; part++) {
        fy_template_destroy (&self->parts [part]);
        free (self->files [part]);
    }
    fy_template_partials_destroy (&self->partials);
    free (self->variant);
    free (self->locale);
    free (self);
    *self_p = NULL;
    errno = saved;
}

bool
fy_template_set_has (fy_template_set_t *self, fy_template_part_t part)
{
    assert (self);
    assert (part < FY_TEMPLATE_PARTS);
    return self->parts [part] != NULL;
}

int
fy_template_set_render (fy_template_set_t *self, fy_template_part_t part,
                        json_t *data, unsigned flags, char **out_p,
                        size_t *len_p, fy_error_t *err)
{
    assert (self);
    assert (part < FY_TEMPLATE_PARTS);
    assert (out_p);
    *out_p = NULL;
    if (!self->parts [part]) {
        fy_error_set (err, "%s: no %s", self->variant, s_part_files [part]);
        errno = ENOENT;
        return -1;
    }
    if (part == FY_TEMPLATE_HTML)
        flags &= ~FY_TEMPLATE_PLAIN;
    else
        flags |= FY_TEMPLATE_PLAIN;
    if (fy_template_render_flags (self->parts [part], data, self->partials,
                                  flags, out_p, len_p, err)) {
        fy_error_prefix (err, "%s", self->files [part]);
        return -1;
    }
    return 0;
}

const char *
fy_template_set_version (fy_template_set_t *self)
{
    assert (self);
    return self->version;
}

const char *
fy_template_set_variant (fy_template_set_t *self)
{
    assert (self);
    return self->variant;
}

const char *
fy_template_set_locale (fy_template_set_t *self)
{
    assert (self);
    return self->locale;
}
