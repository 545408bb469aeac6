/*  notify_template: the template directories, compiled on first use and
    kept by name (a directory with no variant for a locale is remembered
    by the name and locale asked for, so the lookup is one hash probe
    from then on). Names come from events and API calls: only letters,
    digits, '_', '-' and single dots make a name, so no name can leave
    template_dir. */
#include "notify_template.h"
#include "notify/fy_template.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The largest template file read.
#define S_FILE_MAX (1 << 20)

static const char *const s_parts [] = { "subject", "text", "html" };
#define S_PARTS 3

typedef struct {
    fy_template_t *parts [S_PARTS];
    char version [65];
    char dir [160];
} s_entry_t;

struct notify_templates {
    char *dir;
    zhashx_t *entries;          //  "name\nlocale" -> s_entry_t
    fy_template_partials_t *partials;
    char *partial_text;         //  the resolver's last file
};

static bool
s_is_name (const char *text)
{
    if (!*text || *text == '.' || strlen (text) > 120)
        return false;
    for (const char *c = text; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'
              || (*c == '.' && c [1] != '.' && c [1] != '\0')))
            return false;
    return true;
}

//  The file at path, whole. NULL when absent (errno ENOENT) or too big.
static char *
s_read (const char *path, size_t *len_p)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    char *text = fy_xmalloc (S_FILE_MAX + 1);
    size_t len = fread (text, 1, S_FILE_MAX + 1, file);
    fclose (file);
    if (len > S_FILE_MAX) {
        free (text);
        errno = EFBIG;
        return NULL;
    }
    text [len] = '\0';
    *len_p = len;
    return text;
}

//  {{>name}} and {{<name}}: partials/NAME.mustache, else
//  layouts/NAME.mustache.
static const char *
s_resolve (const char *name, size_t *len_p, void *arg)
{
    notify_templates_t *self = arg;
    free (self->partial_text);
    self->partial_text = NULL;
    if (!s_is_name (name))
        return NULL;
    const char *folders [] = { "partials", "layouts" };
    for (size_t i = 0; i < 2 && !self->partial_text; i++) {
        char *path =
            fy_xasprintf ("%s/%s/%s.mustache", self->dir, folders [i], name);
        self->partial_text = s_read (path, len_p);
        free (path);
    }
    return self->partial_text;
}

static void
s_entry_destroy (void **item)
{
    s_entry_t *entry = *item;
    if (!entry)
        return;
    for (size_t i = 0; i < S_PARTS; i++)
        fy_template_destroy (&entry->parts [i]);
    free (entry);
    *item = NULL;
}

notify_templates_t *
notify_templates_new (const char *dir)
{
    notify_templates_t *self = fy_xcalloc (1, sizeof *self);
    self->dir = fy_xstrdup (dir);
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_destroy);
    self->partials = fy_template_partials_new (s_resolve, self);
    return self;
}

void
notify_templates_destroy (notify_templates_t **self_p)
{
    notify_templates_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->entries);
    fy_template_partials_destroy (&self->partials);
    free (self->partial_text);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

void
notify_templates_reload (notify_templates_t *self)
{
    zhashx_purge (self->entries);
    fy_template_partials_destroy (&self->partials);
    self->partials = fy_template_partials_new (s_resolve, self);
}

//  Compile directory dir (relative to template_dir) into a new entry.
//  NULL with errno ENOENT when it holds no template, or EINVAL and err.
static s_entry_t *
s_load (notify_templates_t *self, const char *dir, fy_error_t *err)
{
    s_entry_t *entry = fy_xcalloc (1, sizeof *entry);
    snprintf (entry->dir, sizeof entry->dir, "%s", dir);
    EVP_MD_CTX *sha = EVP_MD_CTX_new ();
    EVP_DigestInit_ex (sha, EVP_sha256 (), NULL);
    size_t found = 0;
    for (size_t i = 0; i < S_PARTS; i++) {
        char *path =
            fy_xasprintf ("%s/%s/%s.mustache", self->dir, dir, s_parts [i]);
        size_t len = 0;
        char *text = s_read (path, &len);
        free (path);
        if (!text)
            continue;
        found++;
        //  The version covers each file by name and length, so moving
        //  text from one part to another changes it too.
        char head [64];
        int head_len =
            snprintf (head, sizeof head, "%s\n%zu\n", s_parts [i], len);
        EVP_DigestUpdate (sha, head, (size_t) head_len);
        EVP_DigestUpdate (sha, text, len);
        fy_error_t part_err = { "" };
        entry->parts [i] = fy_template_compile (text, len, &part_err);
        free (text);
        if (!entry->parts [i]) {
            fy_error_set (err, "template %s/%s: %s", dir, s_parts [i],
                          part_err.text);
            EVP_MD_CTX_free (sha);
            s_entry_destroy ((void **) &entry);
            errno = EINVAL;
            return NULL;
        }
    }
    unsigned char digest [EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_DigestFinal_ex (sha, digest, &size);
    EVP_MD_CTX_free (sha);
    if (!found) {
        s_entry_destroy ((void **) &entry);
        errno = ENOENT;
        return NULL;
    }
    for (unsigned int i = 0; i < size && i < 32; i++)
        snprintf (entry->version + 2 * i, 3, "%02x", digest [i]);
    return entry;
}

//  The entry for name in locale: NAME.locale, NAME.language, NAME.
static s_entry_t *
s_find (notify_templates_t *self, const char *name, const char *locale,
        fy_error_t *err)
{
    char key [300];
    snprintf (key, sizeof key, "%s\n%s", name, locale);
    s_entry_t *entry = zhashx_lookup (self->entries, key);
    if (entry)
        return entry;
    char language [32];
    snprintf (language, sizeof language, "%.*s", (int) strcspn (locale, "-_"),
              locale);
    char *candidates [3] = { fy_xasprintf ("%s.%s", name, locale),
                             fy_xasprintf ("%s.%s", name, language),
                             fy_xstrdup (name) };
    errno = ENOENT;
    for (size_t i = 0; i < 3 && !entry && errno == ENOENT; i++) {
        if (i == 1 && strcmp (language, locale) == 0)
            continue;
        entry = s_load (self, candidates [i], err);
    }
    for (size_t i = 0; i < 3; i++)
        free (candidates [i]);
    if (!entry) {
        if (errno == ENOENT)
            fy_error_set (err, "no template '%s' in %s", name, self->dir);
        return NULL;
    }
    zhashx_insert (self->entries, key, entry);
    return entry;
}

int
notify_templates_render (notify_templates_t *self, const char *name,
                         const char *locale, json_t *data,
                         notify_rendered_t *out, fy_error_t *err)
{
    memset (out, 0, sizeof *out);
    if (!s_is_name (name) || !s_is_name (locale)) {
        fy_error_set (err, "'%s' in '%s' cannot be a template", name, locale);
        errno = ENOENT;
        return -1;
    }
    s_entry_t *entry = s_find (self, name, locale, err);
    if (!entry)
        return -1;
    char **outs [S_PARTS] = { &out->subject, &out->text, &out->html };
    //  HTML is escaped in the html part only: a subject or a text says
    //  "O'Brien & Co <x>" as it is, whether it writes {{x}} or {{{x}}}.
    static const unsigned flags [S_PARTS] = { FY_TEMPLATE_PLAIN,
                                              FY_TEMPLATE_PLAIN, 0 };
    for (size_t i = 0; i < S_PARTS; i++) {
        if (!entry->parts [i])
            continue;
        fy_error_t part_err = { "" };
        if (fy_template_render_flags (entry->parts [i], data, self->partials,
                                      flags [i], outs [i], NULL, &part_err)) {
            int saved = errno;
            fy_error_set (err, "template %s/%s: %s", entry->dir, s_parts [i],
                          part_err.text);
            notify_rendered_free (out);
            errno = saved;
            return -1;
        }
    }
    //  A subject is one line, and its file ends with a newline, as files
    //  do: the line ends are not part of it.
    if (out->subject) {
        size_t len = strlen (out->subject);
        while (len
               && (out->subject [len - 1] == '\n'
                   || out->subject [len - 1] == '\r'))
            out->subject [--len] = '\0';
    }
    memcpy (out->version, entry->version, sizeof out->version);
    snprintf (out->dir, sizeof out->dir, "%s", entry->dir);
    return 0;
}

void
notify_rendered_free (notify_rendered_t *rendered)
{
    free (rendered->subject);
    free (rendered->text);
    free (rendered->html);
    rendered->subject = rendered->text = rendered->html = NULL;
}
