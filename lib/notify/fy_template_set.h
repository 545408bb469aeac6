/*  fy_template_set: one notification template as ferry-notify sends it,
    loaded from the template directory (notify.template_dir) for a locale,
    compiled once with every partial it names, and rendered part by part
    with event data.

    Layout of the directory (see doc/template.md):

        DIR/NAME/subject.mustache      the parts, any of them: e-mail
        DIR/NAME/text.mustache         (all three), SMS (text), push
        DIR/NAME/html.mustache         (subject as title, text as body)
        DIR/NAME.fr/...                a locale variant, complete
        DIR/NAME.fr-CA/...
        DIR/partials/P.mustache        shared partials and layouts
        DIR/partials/P.fr.mustache     ({{> P}}, {{#> P}}, {{< P}}),
        DIR/layouts/P.mustache         with their own locale variants;
                                       partials/ first, then layouts/

    A locale picks the first variant directory that exists, cutting the
    locale at its last '-' or '_' each time: welcome.fr-CA, welcome.fr,
    welcome. Each partial is chosen the same way. The version is the
    SHA-256, in hex, of the files the set was built from (their paths
    under DIR and their bytes), so a delivery ledger can record which
    text was sent: editing, adding or removing any of them changes it.

    A set reads nothing after loading: partials named dynamically
    ({{>*x}}) find only the partials the set loaded. Like a template, a
    set is used by one thread at a time (the workers are processes). */
#ifndef FY_TEMPLATE_SET_H_INCLUDED
#define FY_TEMPLATE_SET_H_INCLUDED

#include "ferry/fy_common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FY_TEMPLATE_SUBJECT,                //  subject.mustache, plain
    FY_TEMPLATE_TEXT,                   //  text.mustache, plain
    FY_TEMPLATE_HTML,                   //  html.mustache, HTML-escaped
    FY_TEMPLATE_PARTS
} fy_template_part_t;

//  Bytes of one template file; more is refused (EFBIG).
#define FY_TEMPLATE_SET_MAX_FILE ((size_t) 1 << 20)
//  Partials one set may load, named from its parts and from each other.
#define FY_TEMPLATE_SET_MAX_PARTIALS 256

typedef struct fy_template_set fy_template_set_t;

//  True when name may name a template or a partial: a file name in the
//  directory and nothing more (letters, digits, _ . -, not starting with
//  '.', at most 100 bytes), so that no template reads elsewhere.
bool
fy_template_set_is_name (const char *name);

//  Load template name from directory dir for locale (NULL or "": none).
//  Returns NULL with errno and err set: EINVAL when name is not a file
//  name (letters, digits, _ . -, not starting with '.') or locale is not
//  a locale (letters, digits, - _; at most 35), or a part or partial
//  does not compile ("welcome.fr/html.mustache: line L column C: ..."),
//  or a partial name is not a file name, or more than
//  FY_TEMPLATE_SET_MAX_PARTIALS partials; ENOENT when no variant
//  directory exists or the one found holds no part; EFBIG or the errno
//  of reading when a file cannot be read. A partial that does not exist
//  is no error here: it renders as nothing, or fails a strict render.
fy_template_set_t *
fy_template_set_load (const char *dir, const char *name, const char *locale,
                      fy_error_t *err) FY_MUSTCHECK;

//  Destroy the set and set *self_p to NULL. Safe on NULL.
void
fy_template_set_destroy (fy_template_set_t **self_p);

//  True when the variant has this part.
bool
fy_template_set_has (fy_template_set_t *self, fy_template_part_t part);

//  Render part against data (NULL: null) as fy_template_render_flags
//  does, HTML-escaped for FY_TEMPLATE_HTML only, whatever flags say of
//  FY_TEMPLATE_PLAIN; flags may hold FY_TEMPLATE_STRICT. err names the
//  file first ("welcome.fr/html.mustache: line 3: no value for 'x'").
//  Returns 0, *out_p gets the text (caller owns result) and *len_p (may
//  be NULL) its length; or -1 with *out_p NULL and errno ENOENT when the
//  variant has no such part, else fy_template_render_flags's errno.
int
fy_template_set_render (fy_template_set_t *self, fy_template_part_t part,
                        json_t *data, unsigned flags, char **out_p,
                        size_t *len_p, fy_error_t *err) FY_MUSTCHECK;

//  The SHA-256 of the files used, 64 lowercase hex digits. Borrowed.
const char *
fy_template_set_version (fy_template_set_t *self);

//  The variant directory used, e.g. "welcome.fr" for welcome in fr-CA.
//  Borrowed.
const char *
fy_template_set_variant (fy_template_set_t *self);

//  The locale of that variant: "fr", or "" for the base. Borrowed.
const char *
fy_template_set_locale (fy_template_set_t *self);

#ifdef __cplusplus
}
#endif
#endif
