/*  fy_schema_format: the string grammars of fy_schema, private to
    libferry: the "format" assertions (date-time, date, uuid, email) and the
    translation of ECMA-262 regex syntax that PCRE2 lacks, and the patterns
    simple enough to match without PCRE2. Split from
    fy_schema.c because they are independent of the rest of the validator. */
#ifndef FY_SCHEMA_FORMAT_H_INCLUDED
#define FY_SCHEMA_FORMAT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    FY_SCHEMA_FORMAT_NONE = 0,      //  unknown formats are annotations
    FY_SCHEMA_FORMAT_DATE_TIME,
    FY_SCHEMA_FORMAT_DATE,
    FY_SCHEMA_FORMAT_UUID,
    FY_SCHEMA_FORMAT_EMAIL
} fy_schema_format_t;

//  The asserted format called name, or FY_SCHEMA_FORMAT_NONE.
fy_schema_format_t
fy_schema_format_lookup (const char *name);

//  The format's name, for error text.
const char *
fy_schema_format_name (fy_schema_format_t format);

//  True when the len bytes at text (may hold NUL) match the format.
bool
fy_schema_format_is_valid (fy_schema_format_t format, const char *text,
                           size_t len);

//  Rewrite the ECMA-262 Unicode property names PCRE2 does not know
//  (\p{Letter}, \p{gc=Lu}, \P{General_Category=Decimal_Number}) to the
//  short names it does. Returns NULL when the pattern needs no change;
//  otherwise caller owns result, with its length in *out_len.
char *
fy_schema_regex_translate (const char *source, size_t len, size_t *out_len);

//  A "pattern" that is only ^, a sequence of ASCII characters or classes
//  each with its count, and $ (a UUID's, a country code's, an
//  identifier's), where no run could give way to what follows it (their
//  classes share no character), so that the greedy reading is the only
//  one: such a pattern is matched byte by byte, without PCRE2's JIT and
//  its call (a UUID: a third of the instructions). It means what PCRE2
//  makes of it, as fy_schema compiles it; NULL for any other pattern.
typedef struct fy_schema_simple fy_schema_simple_t;

fy_schema_simple_t *
fy_schema_simple_new (const char *source, size_t len);

void
fy_schema_simple_destroy (fy_schema_simple_t **self_p);

//  Whether the len bytes at text match.
bool
fy_schema_simple_match (const fy_schema_simple_t *self, const char *text,
                        size_t len);

#endif
