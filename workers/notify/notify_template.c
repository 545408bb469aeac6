/*  notify_template: the template sets of ferry-notify, each loaded by
    fy_template_set (the loader ferryctl render uses too, so a preview
    shows what is sent) on first use and kept by the name and locale
    asked for, so the lookup is one hash probe from then on. Names come
    from events and API calls: fy_template_set refuses any that could
    leave template_dir. */
#include "notify_template.h"
#include "notify/fy_template.h"
#include "notify/fy_template_set.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct notify_templates {
    char *dir;
    zhashx_t *sets;             //  "name\nlocale" -> fy_template_set_t
};

static void
s_set_destroy (void **item)
{
    fy_template_set_destroy ((fy_template_set_t **) item);
}

notify_templates_t *
notify_templates_new (const char *dir)
{
    notify_templates_t *self = fy_xcalloc (1, sizeof *self);
    self->dir = fy_xstrdup (dir);
    self->sets = zhashx_new ();
    zhashx_set_destructor (self->sets, s_set_destroy);
    return self;
}

void
notify_templates_destroy (notify_templates_t **self_p)
{
    notify_templates_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->sets);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

void
notify_templates_reload (notify_templates_t *self)
{
    zhashx_purge (self->sets);
}

//  The set for name in locale, loaded when new. NULL with err and errno.
static fy_template_set_t *
s_find (notify_templates_t *self, const char *name, const char *locale,
        fy_error_t *err)
{
    char key [300];
    snprintf (key, sizeof key, "%s\n%s", name, locale);
    fy_template_set_t *set = zhashx_lookup (self->sets, key);
    if (set)
        return set;
    set = fy_template_set_load (self->dir, name, locale, err);
    if (set)
        zhashx_insert (self->sets, key, set);
    return set;
}

int
notify_templates_render (notify_templates_t *self, const char *name,
                         const char *locale, json_t *data,
                         notify_rendered_t *out, fy_error_t *err)
{
    memset (out, 0, sizeof *out);
    if (!fy_template_set_is_name (name)) {
        fy_error_set (err, "'%s' cannot be a template", name);
        errno = ENOENT;
        return -1;
    }
    fy_template_set_t *set = s_find (self, name, locale, err);
    if (!set)
        return -1;
    char **outs [FY_TEMPLATE_PARTS] = { &out->subject, &out->text, &out->html };
    //  HTML is escaped in the html part only (fy_template_set): a subject
    //  or a text says "O'Brien & Co <x>" as it is, whether it writes {{x}}
    //  or {{{x}}}.
    for (int part = 0; part < FY_TEMPLATE_PARTS; part++) {
        if (!fy_template_set_has (set, (fy_template_part_t) part))
            continue;
        if (fy_template_set_render (set, (fy_template_part_t) part, data, 0,
                                    outs [part], NULL, err)) {
            int saved = errno;
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
    snprintf (out->version, sizeof out->version, "%s",
              fy_template_set_version (set));
    snprintf (out->dir, sizeof out->dir, "%s", fy_template_set_variant (set));
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
