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

    On top of Mustache, the Handlebars built-ins the old notification
    templates use: {{#if x}}, {{#unless x}}, {{#each x}} (arrays and
    objects, with @index, @first, @last and @key), {{#with x}}, each with
    an {{else}}; this, ./ and ../ paths and @root; {{~ and ~}} whitespace
    control; {{!-- --}} comments; and partial blocks {{#> layout}}...
    {{/layout}} whose layout renders {{> @partial-block}}. The caller
    says whether {{x}} escapes HTML (FY_TEMPLATE_PLAIN: not, for subject
    and text parts) and whether a missing name is an error
    (FY_TEMPLATE_STRICT, for previews).

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

//  Add template, compiled, as the template called name, replacing any of
//  that name. Takes ownership of *template_p and sets it to NULL.
void
fy_template_partials_insert (fy_template_partials_t *self, const char *name,
                             fy_template_t **template_p);

//  Render flags (or them together; 0 is the default of
//  fy_template_render).
//  {{x}} prints the value as it is, HTML is not escaped: for the parts
//  of a message that are not HTML (subject, text, SMS, push).
#define FY_TEMPLATE_PLAIN 1u
//  A name that is not in the data, an @-variable outside #each or a
//  partial that does not exist is an error (errno ENOENT, err says
//  "line L: no value for 'name'", with "partial 'p': " in front when it
//  is in one). Conditions (#if, #unless, {{^x}}) still test presence
//  without failing: only what prints, iterates or enters a context must
//  be there.
#define FY_TEMPLATE_STRICT 2u

//  Render self against data (any JSON value; NULL renders as null) with
//  partials from partials (may be NULL: then every partial is empty),
//  HTML-escaped and lenient: fy_template_render_flags with flags 0.
int
fy_template_render (fy_template_t *self, json_t *data,
                    fy_template_partials_t *partials, char **out_p,
                    size_t *len_p, fy_error_t *err) FY_MUSTCHECK;

//  Render self against data (any JSON value; NULL renders as null) with
//  partials from partials (may be NULL: then every partial is empty) and
//  flags (FY_TEMPLATE_PLAIN, FY_TEMPLATE_STRICT). On success returns 0,
//  *out_p gets the NUL-terminated text (caller owns result) and *len_p
//  (may be NULL) its length. On failure returns -1, *out_p is NULL and
//  err says why: errno EINVAL when a partial does not compile or the
//  render takes more than FY_TEMPLATE_MAX_STEPS, ELOOP when partials
//  nest deeper than FY_TEMPLATE_MAX_PARTIAL_DEPTH or everything deeper
//  than FY_TEMPLATE_MAX_DEPTH, EFBIG when the output would pass
//  FY_TEMPLATE_MAX_OUTPUT, ENOENT when strict and a name is missing.
//  data is only read. A template and its partial set are used by one
//  thread at a time (a render records its output's size in the template,
//  and looking a partial up moves the set's hash cursor).
int
fy_template_render_flags (fy_template_t *self, json_t *data,
                          fy_template_partials_t *partials, unsigned flags,
                          char **out_p, size_t *len_p,
                          fy_error_t *err) FY_MUSTCHECK;

//  Calls fn with each name self gives a partial, parent or partial block
//  statically (dynamic names are data), in the order they appear, once
//  per tag. Stops at the first fn that returns non-zero and returns
//  that; 0 when all returned 0.
typedef int (fy_template_name_fn) (const char *name, void *arg);
int
fy_template_each_partial (fy_template_t *self, fy_template_name_fn *fn,
                          void *arg);

#ifdef __cplusplus
}
#endif
#endif
