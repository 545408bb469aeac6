/*  notify_template: the templates of ferry-notify, from notify.template_dir
    (doc/notify.md, "Templates"), as fy_template_set loads them:
    NAME/subject.mustache, text.mustache and html.mustache, any of them
    absent; locale variants NAME.fr-CA and NAME.fr, falling back to NAME;
    {{>partial}} and {{<layout}} from partials/, else layouts/. Each set is
    compiled once, with a version (the SHA-256 of its files, partials
    included, so the ledger says what was sent), and kept until
    notify_templates_reload. */
#ifndef NOTIFY_TEMPLATE_H_INCLUDED
#define NOTIFY_TEMPLATE_H_INCLUDED

#include <ferry/ferry.h>

#include <jansson.h>

typedef struct notify_templates notify_templates_t;

//  What one render gave: each part NULL when its file is absent. Caller
//  frees with notify_rendered_free.
typedef struct {
    char *subject, *text, *html;
    char version [65];
    char dir [160];             //  the directory used (welcome.fr)
} notify_rendered_t;

//  Templates under dir (borrowed only during the call).
notify_templates_t *
notify_templates_new (const char *dir);

void
notify_templates_destroy (notify_templates_t **self_p);

//  Forget every compiled template (SIGHUP): the next render reads the
//  files again.
void
notify_templates_reload (notify_templates_t *self);

//  Render template name in locale against data. Returns 0, or -1 with
//  err and errno ENOENT (no such template, or a name that cannot be one),
//  EINVAL (it does not compile, a bad locale, or it does not render) or as
//  fy_template_set_load and fy_template_set_render.
int
notify_templates_render (notify_templates_t *self, const char *name,
                         const char *locale, json_t *data,
                         notify_rendered_t *out, fy_error_t *err) FY_MUSTCHECK;

void
notify_rendered_free (notify_rendered_t *rendered);

#endif
