/*  fy_template: Mustache templates for the notification worker's e-mail,
    SMS and push messages and for `ferryctl render`. Debian packages no C
    Mustache library (only C++ ones), so the engine is written here.

    A template is compiled once and rendered many times against jansson
    data, which the engine only reads. It passes every case of the
    mustache spec v1.4.2 core modules (comments, delimiters,
    interpolation, inverted, partials, sections) and of the optional
    inheritance (parents and blocks) and dynamic-names modules. Lambdas
    (~lambdas) are not supported: they need code in the data, and JSON
    has none. {{x}} escapes & " < > as the spec says (and nothing else:
    quote HTML attributes with double quotes); {{{x}}} and {{&x}} are raw.
    A number prints as in JSON, true and false as words, null and a
    missing name as nothing, an object or array as compact JSON.

    Templates come from operators and data from events, so every input is
    bounded: section nesting when compiling, and when rendering the depth
    of partials and parents, the total nesting, the size of the output and
    the work done. See doc/template.md. */
#ifndef FY_TEMPLATE_H_INCLUDED
#define FY_TEMPLATE_H_INCLUDED

#include "ferry/fy_common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Sections, inverted sections, parents and blocks nested in one template.
#define FY_TEMPLATE_MAX_NESTING 100
//  Partials and parents nested in one render (a partial that includes
//  itself stops here).
#define FY_TEMPLATE_MAX_PARTIAL_DEPTH 64
//  Everything nested in one render: sections entered, partials, parents
//  and blocks, across templates.
#define FY_TEMPLATE_MAX_DEPTH 256
//  Bytes one render may produce.
#define FY_TEMPLATE_MAX_OUTPUT ((size_t) 4 << 20)
//  Work one render may do, counted in tags and texts visited (each
//  section turn counts its content again), context frames and name parts
//  looked through, and blocks compared: bounds the time a template over
//  long lists takes, whatever it prints.
#define FY_TEMPLATE_MAX_STEPS 4000000

typedef struct fy_template fy_template_t;
typedef struct fy_template_partials fy_template_partials_t;

//  Compile len bytes of template text (NUL bytes are text). Returns NULL
//  with errno EINVAL and err set to "line L column C: reason" on an
//  unclosed tag, an unclosed section, a close tag that does not match, a
//  bad delimiter change, an empty tag name or nesting deeper than
//  FY_TEMPLATE_MAX_NESTING. The template does not refer to text after.
fy_template_t *
fy_template_compile (const char *text, size_t len,
                     fy_error_t *err) FY_MUSTCHECK;

//  Destroy the template and set *self_p to NULL. Safe on NULL.
void
fy_template_destroy (fy_template_t **self_p);

//  Where partials and parents come from: the text of the template called
//  name (*len_p gets its length), or NULL when there is none, which
//  renders as nothing, as the spec says. The text is borrowed until the
//  resolver is called again; it is compiled at once.
typedef const char *(fy_template_resolver_fn) (const char *name, size_t *len_p,
                                               void *arg);

//  A set of named templates for partials and parents, each compiled once
//  and kept: added ahead with fy_template_partials_add, or asked of
//  resolver (may be NULL) the first time a render names it. A name the
//  resolver does not know is remembered too. Not thread-safe: a render
//  may add to the set.
fy_template_partials_t *
fy_template_partials_new (fy_template_resolver_fn *resolver, void *arg);

//  Destroy the set and its templates and set *self_p to NULL. Safe on NULL.
void
fy_template_partials_destroy (fy_template_partials_t **self_p);

//  Compile text as the template called name, replacing any of that name.
//  Returns 0, or -1 with errno EINVAL and err set ("partial 'name': line
//  L column C: reason").
int
fy_template_partials_add (fy_template_partials_t *self, const char *name,
                          const char *text, size_t len,
                          fy_error_t *err) FY_MUSTCHECK;

//  Render self against data (any JSON value; NULL renders as null) with
//  partials from partials (may be NULL: then every partial is empty).
//  On success returns 0, *out_p gets the NUL-terminated text (caller owns
//  result) and *len_p (may be NULL) its length. On failure returns -1,
//  *out_p is NULL and err says why: errno EINVAL when a partial does not
//  compile or the render takes more than FY_TEMPLATE_MAX_STEPS, ELOOP
//  when partials nest deeper than FY_TEMPLATE_MAX_PARTIAL_DEPTH or
//  everything deeper than FY_TEMPLATE_MAX_DEPTH, EFBIG when the output
//  would pass FY_TEMPLATE_MAX_OUTPUT. data is only read.
int
fy_template_render (fy_template_t *self, json_t *data,
                    fy_template_partials_t *partials, char **out_p,
                    size_t *len_p, fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
