/*  fy_schema: a JSON Schema draft 2020-12 validator over jansson. A schema
    document is compiled once into a tree of C nodes (pre-parsed numbers,
    JIT-compiled patterns, property lookup tables, resolved $refs) so that
    validating an event reads only the instance; the bridge validates every
    event it receives against schemas/events.schema.json this way. Validation
    is fail-fast and reports the first violation as "<JSON pointer>: <rule>".
    See doc/schema.md for the supported keywords and what is out of scope. */
#ifndef FY_SCHEMA_H_INCLUDED
#define FY_SCHEMA_H_INCLUDED

#include <jansson.h>

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_schema fy_schema_t;

//  Compile a schema document. The document is borrowed: the schema keeps a
//  deep copy, so the caller may change or free it afterwards. Returns NULL
//  with errno EINVAL and err set on a bad schema: a malformed keyword, a bad
//  regex, a $ref that does not resolve within the document (remote refs are
//  not supported), or an out-of-scope keyword ($dynamicRef, $dynamicAnchor,
//  unevaluatedProperties, unevaluatedItems, $vocabulary, ...) that would
//  otherwise be silently ignored. Unknown keywords are annotations.
FY_EXPORT fy_schema_t *
fy_schema_new (json_t *document, fy_error_t *err);

//  Flags for fy_schema_new_flags.
//  Treat "format" as an annotation only, the draft 2020-12 default; without
//  it date-time, date, uuid and email are asserted (other formats are
//  always annotations).
#define FY_SCHEMA_FORMAT_ANNOTATION 1

//  fy_schema_new with flags (0 gives fy_schema_new's behaviour).
FY_EXPORT fy_schema_t *
fy_schema_new_flags (json_t *document, int flags, fy_error_t *err);

//  Read and compile a schema file. Returns NULL with errno (ENOENT etc. when
//  the file cannot be opened, EINVAL when it is not JSON or not a schema)
//  and err set.
FY_EXPORT fy_schema_t *
fy_schema_load (const char *path, fy_error_t *err);

//  Destroy the schema and set *self_p to NULL. Safe on NULL.
FY_EXPORT void
fy_schema_destroy (fy_schema_t **self_p);

//  Validate instance (borrowed). Returns 0 when valid; -1 with errno EINVAL
//  and err->text naming the JSON pointer of the failing instance location
//  and the rule: "/payload/goalId: required", "/occurredAt: format
//  date-time", "/type: enum", "/payload/score: maximum 5", ": type" (the
//  root pointer is empty). For required, dependentRequired and
//  additionalProperties the pointer names the property itself. Instances
//  nested deeper than 64 levels along the validated path, or more than 256
//  nested $refs, fail with "depth" / "$ref depth" rather than exhausting the
//  stack. Does not allocate on the success path. One schema must not be
//  used by two threads at once (it owns the regex match buffer); compile
//  one per thread.
FY_EXPORT int
fy_schema_validate (fy_schema_t *self, json_t *instance,
                    fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
