/*  fy_schema: JSON Schema draft 2020-12 validation. fy_schema_new walks the
    schema document once and compiles every subschema into a node with its
    keywords pre-parsed (numbers, counts, a jansson table of property names,
    JIT-compiled pcre2 patterns); $ref targets are resolved after the walk,
    against the $id base URIs and $anchors of the same document, into node
    pointers. Validation then reads only the instance: it is fail-fast,
    keeps the instance path as a small stack of borrowed keys and indexes,
    and formats a JSON pointer only when it reports an error, so a valid
    event costs no allocation. Depth limits on the instance path and on
    nested $refs turn hostile input into an error, not a stack overflow. */
#include "ferry/fy_schema.h"
#include "codec/fy_schema_format.h"
#include "codec/fy_schema_transcode.h"
#include "core/fy_bytes.h"
#include "ferry/fy_json.h"
#include "ferry/fy_msgpack.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_DEPTH 64      //  instance levels along a path
#define S_MAX_REFS 256     //  nested $refs along a path
#define S_MAX_SCHEMA_DEPTH 256     //  nesting of the schema document
#define S_MAX_EQUAL_DEPTH 256     //  nesting compared by const/enum/unique
#define S_NONE SIZE_MAX
#define S_GOLDEN 0x9e3779b97f4a7c15ULL

//  Keywords whose meaning we do not implement. Ignoring them would make a
//  schema look stricter than it is, so compiling one is an error.
static const char *s_unsupported [] = {
    "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor",
    "unevaluatedProperties", "unevaluatedItems", "$vocabulary",
    //  Older drafts' keywords whose meaning moved in 2020-12.
    "additionalItems", "dependencies", NULL
};

enum {
    S_TYPE_NULL = 1 << 0,
    S_TYPE_BOOLEAN = 1 << 1,
    S_TYPE_OBJECT = 1 << 2,
    S_TYPE_ARRAY = 1 << 3,
    S_TYPE_NUMBER = 1 << 4,
    S_TYPE_STRING = 1 << 5,
    S_TYPE_INTEGER = 1 << 6
};

static const char *s_type_names [] = { "null",   "boolean", "object",  "array",
                                       "number", "string",  "integer", NULL };

typedef enum {
    S_TRUE,
    S_FALSE,
    S_OBJECT
} s_kind_t;

//  A JSON number kept exactly: integers stay integers.
typedef struct {
    bool is_int;
    json_int_t i;
    double d;
} s_num_t;

typedef struct {
    const char *name;           //  borrowed from the schema's copy
    size_t len;
} s_name_t;

typedef struct s_node s_node_t;

typedef struct {
    s_name_t name;
    s_node_t *node;
} s_prop_t;

typedef struct {
    pcre2_code *re;
    s_node_t *node;
} s_pattern_t;

typedef struct {
    s_name_t name;
    s_name_t *required;
    size_t required_n;
} s_dep_required_t;

typedef struct {
    s_node_t *node;
    size_t n;
    s_node_t **list;
} s_list_t;

struct s_node {
    s_kind_t kind;
    json_t *json;               //  this subschema in the schema's copy
    s_node_t *next;             //  every node, for destroy and ref lookup
    bool has_object, has_array, has_string, has_number;

    unsigned types;             //  0: no type keyword
    json_t *const_value;
    json_t *enum_values;
    //  What a string instance is compared with, read out of the JSON once
    //  (a string const, the enum's strings): an event's type is checked
    //  against every type's name, with no call into jansson for each.
    s_name_t const_text;        //  name NULL: not a string
    s_name_t *enum_texts;
    size_t enum_texts_n;

    s_num_t minimum, maximum, exclusive_minimum, exclusive_maximum;
    bool has_minimum, has_maximum, has_exclusive_minimum, has_exclusive_maximum;
    s_num_t multiple_of;
    bool has_multiple_of;

    size_t min_length, max_length;
    pcre2_code *pattern;
    fy_schema_simple_t *simple;  //  the pattern, when it is that simple
    fy_schema_format_t format;

    size_t min_items, max_items;
    bool unique_items;
    s_list_t prefix_items;
    s_node_t *items;
    s_node_t *contains;
    size_t min_contains, max_contains;

    size_t min_properties, max_properties;
    s_name_t *required;
    size_t required_n;
    s_prop_t *properties;
    size_t properties_n;
    json_t *property_index;     //  name -> index into properties
    s_pattern_t *patterns;
    size_t patterns_n;
    s_node_t *additional;
    s_node_t *property_names;
    s_dep_required_t *dep_required;
    size_t dep_required_n;
    s_prop_t *dep_schemas;
    size_t dep_schemas_n;
    bool walk_instance;         //  properties are matched per instance key

    s_list_t all_of, any_of, one_of;
    s_node_t *not_, *if_, *then_, *else_;
    s_node_t *ref;

    //  Set when this schema is only {"if": {"properties": {name: {"const":
    //  value}}}, "then", "else"}, the "if" maybe with "required": [name]:
    //  the event schema's dispatch on "type", which allOf then runs with
    //  one property lookup for all branches.
    bool is_switch;
    bool switch_required;       //  the "if" fails when name is absent
    s_name_t switch_name;
    json_t *switch_value;
    s_name_t switch_text;       //  switch_value, when a string
};

struct fy_schema {
    json_t *document;           //  our deep copy; nodes borrow from it
    s_node_t *root;
    s_node_t *nodes;
    pcre2_match_data *match;
};

//  Whether the first and last width bytes of len at a and b are alike
//  (width <= len <= 2 width: together they cover it all).
static inline bool
s_ends_alike (const char *a, const char *b, size_t len, size_t width)
{
    return ((fy_load_le (a, width) ^ fy_load_le (b, width))
            | (fy_load_le (a + len - width, width)
               ^ fy_load_le (b + len - width, width)))
           == 0;
}

//  len bytes alike at a and b; most names and enum words differ in
//  their first byte, which is compared first. A name or a switch's word
//  is short: compared here in two loads a side, where a call to memcmp
//  cost more than the comparison (each event matches its type against
//  every type's, and each member's name against its property's).
static inline bool
s_same_bytes (const char *a, const char *b, size_t len)
{
    if (len == 0)
        return true;
    if (a [0] != b [0])
        return false;
    if (len > 16)
        return memcmp (a, b, len) == 0;
    //  4 to 16 bytes as two words each side, overlapping in the middle.
    if (len >= 8)
        return s_ends_alike (a, b, len, 8);
    if (len >= 4)
        return s_ends_alike (a, b, len, 4);
    return len == 1 || (a [1] == b [1] && (len == 2 || a [2] == b [2]));
}

//  Up to this many properties are scanned, more looked up in the index.
#define S_PROPERTIES_SCAN 16

//  s_property's search when its hint missed: a short list is scanned; a
//  hash lookup in jansson's index was a tenth of a transcode. The hint,
//  when there is one, is set past what is found.
static s_prop_t *
s_property_find (s_node_t *node, const char *name, size_t len, size_t *hint)
{
    size_t n = node->properties_n, at;
    if (n > S_PROPERTIES_SCAN) {
        json_t *slot = json_object_getn (node->property_index, name, len);
        if (!slot)
            return NULL;
        at = (size_t) json_integer_value (slot);
    }
    else {
        for (at = 0; at < n; at++)
            if (node->properties [at].name.len == len
                && s_same_bytes (node->properties [at].name.name, name, len))
                break;
        if (at == n)
            return NULL;
    }
    if (hint)
        *hint = at + 1;
    return &node->properties [at];
}

//  The property of node named by len bytes at name, or NULL. An event's
//  producer writes its members in the same order every time, mostly the
//  schema's: *hint (NULL: none), the one after the property found last
//  in this object, is tried first. The hint that holds and a node
//  without properties are inline: they are most of the lookups (a member
//  is looked up in every schema that applies to its object).
static inline s_prop_t *
s_property (s_node_t *node, const char *name, size_t len, size_t *hint)
{
    size_t n = node->properties_n, at = hint ? *hint : n;
    if (at < n && node->properties [at].name.len == len
        && s_same_bytes (node->properties [at].name.name, name, len)) {
        *hint = at + 1;
        return &node->properties [at];
    }
    return n ? s_property_find (node, name, len, hint) : NULL;
}

static int
s_error (fy_error_t *err, const char *format, ...) FY_PRINTF (2, 3);

static int
s_error (fy_error_t *err, const char *format, ...)
{
    if (err) {
        va_list args;
        va_start (args, format);
        vsnprintf (err->text, sizeof err->text, format, args);
        va_end (args);
    }
    errno = EINVAL;
    return -1;
}

static void
s_num_set (s_num_t *num, json_t *json)
{
    num->is_int = json_is_integer (json);
    num->i = num->is_int ? json_integer_value (json) : 0;
    num->d = json_number_value (json);
}

//  Compare an integer with a double exactly, which a cast to double is not
//  beyond 2^53.
static int
s_cmp_int_real (json_int_t i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double whole = trunc (d);
    json_int_t wi = (json_int_t) whole;
    if (i != wi)
        return i < wi ? -1 : 1;
    return d > whole ? -1 : d < whole ? 1 : 0;
}

static int
s_num_cmp (const s_num_t *a, const s_num_t *b)
{
    if (a->is_int && b->is_int)
        return a->i < b->i ? -1 : a->i > b->i;
    if (a->is_int)
        return s_cmp_int_real (a->i, b->d);
    if (b->is_int)
        return -s_cmp_int_real (b->i, a->d);
    return a->d < b->d ? -1 : a->d > b->d;
}

static void
s_num_print (const s_num_t *num, char *buffer, size_t size)
{
    if (num->is_int)
        snprintf (buffer, size, "%" JSON_INTEGER_FORMAT, num->i);
    else
        snprintf (buffer, size, "%.17g", num->d);
}

static bool
s_is_multiple (const s_num_t *value, const s_num_t *of)
{
    if (value->is_int && of->is_int)
        return value->i % of->i == 0;
    //  Decimal divisors such as 0.0001 are not exact in binary, so allow
    //  a quotient a few ulps from a whole number.
    double quotient = value->d / of->d;
    if (!isfinite (quotient))
        return false;
    double whole = nearbyint (quotient);
    return fabs (quotient - whole) <= 8 * DBL_EPSILON * fmax (1, fabs (whole));
}

//  -----------------------------------------------------------------------
//  Compilation

typedef struct {
    char *uri;                  //  absolute, with "#anchor" for anchors
    json_t *json;
} s_res_t;

typedef struct {
    s_node_t *node;
    char *uri;                  //  the $ref resolved against its base
    char *where;                //  schema pointer of the $ref, for errors
} s_fixup_t;

typedef struct {
    fy_schema_t *self;
    fy_error_t *err;
    int flags;
    char path [256];            //  schema pointer of the current keyword
    size_t path_len;
    int depth;
    s_res_t *res;
    size_t res_n;
    s_fixup_t *fix;
    size_t fix_n;
} s_comp_t;

static s_node_t *
s_compile (s_comp_t *c, json_t *json, const char *base);

//  Append "/segment" (escaped) to the schema pointer; returns the old
//  length for s_path_pop.
static size_t
s_path_push (s_comp_t *c, const char *segment)
{
    size_t mark = c->path_len;
    size_t at = c->path_len;
    if (at + 1 < sizeof c->path)
        c->path [at++] = '/';
    for (const char *s = segment; *s && at + 2 < sizeof c->path; s++) {
        if (*s == '~' || *s == '/') {
            c->path [at++] = '~';
            c->path [at++] = *s == '~' ? '0' : '1';
        }
        else
            c->path [at++] = *s;
    }
    c->path [at] = 0;
    c->path_len = at;
    return mark;
}

static void
s_path_pop (s_comp_t *c, size_t mark)
{
    c->path_len = mark;
    c->path [mark] = 0;
}

static int
s_comp_error (s_comp_t *c, const char *what, const char *problem)
{
    return s_error (c->err, "schema #%s%s%s: %s", c->path, what ? "/" : "",
                    what ? what : "", problem);
}

static void
s_register (s_comp_t *c, char *uri, json_t *json)
{
    c->res = fy_xrealloc (c->res, (c->res_n + 1) * sizeof *c->res);
    c->res [c->res_n].uri = uri;
    c->res [c->res_n].json = json;
    c->res_n++;
}

static json_t *
s_lookup (s_comp_t *c, const char *uri)
{
    //  The latest registration wins: none of ours are overwritten.
    for (size_t i = 0; i < c->res_n; i++)
        if (strcmp (c->res [i].uri, uri) == 0)
            return c->res [i].json;
    return NULL;
}

//  Length of a URI's "scheme:" prefix, or 0 when it has none.
static size_t
s_scheme_len (const char *uri)
{
    if (!((*uri >= 'a' && *uri <= 'z') || (*uri >= 'A' && *uri <= 'Z')))
        return 0;
    size_t at = 1;
    while (uri [at]
           && (strchr ("+-.", uri [at]) || (uri [at] >= 'a' && uri [at] <= 'z')
               || (uri [at] >= 'A' && uri [at] <= 'Z')
               || (uri [at] >= '0' && uri [at] <= '9')))
        at++;
    return uri [at] == ':' ? at + 1 : 0;
}

//  RFC 3986 5.2.4: drop "." and resolve ".." segments of a path, in
//  place (the result is never longer).
static void
s_remove_dots (char *path)
{
    char *copy = fy_xstrdup (path);
    char *in = copy;
    char *out = path;
    while (*in) {
        if (strncmp (in, "./", 2) == 0)
            in += 2;
        else if (strncmp (in, "../", 3) == 0)
            in += 3;
        else if (strncmp (in, "/./", 3) == 0)
            in += 2;
        else if (strcmp (in, "/.") == 0)
            in [1] = '/', in += 1;
        else if (strncmp (in, "/../", 4) == 0 || strcmp (in, "/..") == 0) {
            in += in [3] ? 3 : 2;
            *in = '/';
            while (out > path && *--out != '/')
                ;
        }
        else if (strcmp (in, ".") == 0 || strcmp (in, "..") == 0)
            break;
        else {
            *out++ = *in++;
            while (*in && *in != '/')
                *out++ = *in++;
        }
    }
    *out = 0;
    free (copy);
}

//  Where the path of uri starts (after "scheme:" and "//authority").
static size_t
s_path_start (const char *uri)
{
    size_t at = s_scheme_len (uri);
    if (strncmp (uri + at, "//", 2) == 0)
        at += 2 + strcspn (uri + at + 2, "/?#");
    return at;
}

//  An absolute URI with the dot segments of its path removed. Caller owns
//  result.
static char *
s_uri_normal (const char *uri)
{
    size_t start = s_path_start (uri);
    size_t end = start + strcspn (uri + start, "?#");
    char *path = fy_xstrndup (uri + start, end - start);
    s_remove_dots (path);
    char *normal = fy_xasprintf ("%.*s%s%s", (int) start, uri, path, uri + end);
    free (path);
    return normal;
}

//  Resolve ref against base (RFC 3986 5.2, as much as schema ids use).
//  Caller owns result.
static char *
s_uri_resolve (const char *base, const char *ref)
{
    if (s_scheme_len (ref) || *base == 0)
        return s_uri_normal (ref);
    if (*ref == '#' || *ref == 0)
        return fy_xasprintf ("%.*s%s", (int) strcspn (base, "#"), base, ref);
    size_t scheme = s_scheme_len (base);
    size_t start = s_path_start (base);
    char *merged;
    if (strncmp (ref, "//", 2) == 0)
        merged = fy_xasprintf ("%.*s%s", (int) scheme, base, ref);
    else if (*ref == '/')
        merged = fy_xasprintf ("%.*s%s", (int) start, base, ref);
    else {
        //  Replace the last segment of the base path; an authority with
        //  an empty path stands for "/".
        size_t dir = start + strcspn (base + start, "?#");
        while (dir > start && base [dir - 1] != '/')
            dir--;
        bool root = dir == start && start > scheme;
        merged =
            fy_xasprintf ("%.*s%s%s", (int) dir, base, root ? "/" : "", ref);
    }
    char *resolved = s_uri_normal (merged);
    free (merged);
    return resolved;
}

static void
s_strip_fragment (char *uri)
{
    uri [strcspn (uri, "#")] = 0;
}

static s_node_t *
s_node_new (s_comp_t *c, json_t *json, s_kind_t kind)
{
    s_node_t *node = fy_xcalloc (1, sizeof *node);
    node->kind = kind;
    node->json = json;
    node->max_length = S_NONE;
    node->max_items = S_NONE;
    node->min_contains = 1;
    node->max_contains = S_NONE;
    node->max_properties = S_NONE;
    node->next = c->self->nodes;
    c->self->nodes = node;
    return node;
}

static void
s_node_destroy (s_node_t *node)
{
    pcre2_code_free (node->pattern);
    fy_schema_simple_destroy (&node->simple);
    free (node->prefix_items.list);
    free (node->required);
    free (node->enum_texts);
    free (node->properties);
    json_decref (node->property_index);
    for (size_t i = 0; i < node->patterns_n; i++)
        pcre2_code_free (node->patterns [i].re);
    free (node->patterns);
    for (size_t i = 0; i < node->dep_required_n; i++)
        free (node->dep_required [i].required);
    free (node->dep_required);
    free (node->dep_schemas);
    free (node->all_of.list);
    free (node->any_of.list);
    free (node->one_of.list);
    free (node);
}

//  Compile the subschema under keyword (and optional sub-key) of json.
static s_node_t *
s_compile_at (s_comp_t *c, json_t *value, const char *base, const char *keyword,
              const char *key)
{
    size_t mark = s_path_push (c, keyword);
    if (key)
        s_path_push (c, key);
    s_node_t *node = s_compile (c, value, base);
    s_path_pop (c, mark);
    return node;
}

static int
s_get_count (s_comp_t *c, json_t *json, const char *keyword, size_t *count)
{
    json_t *value = json_object_get (json, keyword);
    if (!value)
        return 0;
    double d = json_number_value (value);
    if (!json_is_number (value) || d < 0 || d != trunc (d) || d > 1e15)
        return s_comp_error (c, keyword, "not a non-negative integer");
    *count = json_is_integer (value) ? (size_t) json_integer_value (value)
                                     : (size_t) d;
    return 0;
}

static int
s_get_number (s_comp_t *c, json_t *json, const char *keyword, s_num_t *num,
              bool *has)
{
    json_t *value = json_object_get (json, keyword);
    if (!value)
        return 0;
    if (!json_is_number (value))
        return s_comp_error (c, keyword, "not a number");
    s_num_set (num, value);
    *has = true;
    return 0;
}

static pcre2_code *
s_regex (s_comp_t *c, const char *keyword, const char *source, size_t len)
{
    int code;
    PCRE2_SIZE offset;
    size_t translated_len = 0;
    char *translated = fy_schema_regex_translate (source, len, &translated_len);
    //  ECMA-262's "$" matches only at the very end, PCRE's also before a
    //  final newline.
    pcre2_code *re =
        pcre2_compile ((PCRE2_SPTR) (translated ? translated : source),
                       translated ? translated_len : len,
                       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code, &offset, NULL);
    free (translated);
    if (!re) {
        char message [96];
        char problem [160];
        pcre2_get_error_message (code, (PCRE2_UCHAR *) message, sizeof message);
        snprintf (problem, sizeof problem, "bad regex at %zu: %s",
                  (size_t) offset, message);
        s_comp_error (c, keyword, problem);
        return NULL;
    }
    //  Without JIT (not built for this CPU) the interpreter still works.
    (void) pcre2_jit_compile (re, PCRE2_JIT_COMPLETE);
    return re;
}

static int
s_get_names (s_comp_t *c, json_t *array, const char *keyword,
             s_name_t **names_p, size_t *count)
{
    if (!json_is_array (array))
        return s_comp_error (c, keyword, "not an array of strings");
    size_t n = json_array_size (array);
    s_name_t *names = fy_xcalloc (n, sizeof *names);
    *names_p = names;
    *count = n;
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_array_get (array, i);
        if (!json_is_string (name))
            return s_comp_error (c, keyword, "not an array of strings");
        names [i].name = json_string_value (name);
        names [i].len = json_string_length (name);
    }
    return 0;
}

static int
s_get_list (s_comp_t *c, json_t *json, const char *keyword, const char *base,
            s_list_t *list)
{
    json_t *array = json_object_get (json, keyword);
    if (!array)
        return 0;
    if (!json_is_array (array) || json_array_size (array) == 0)
        return s_comp_error (c, keyword, "not a non-empty array of schemas");
    list->n = json_array_size (array);
    list->list = fy_xcalloc (list->n, sizeof *list->list);
    for (size_t i = 0; i < list->n; i++) {
        char item [24];
        snprintf (item, sizeof item, "%zu", i);
        list->list [i] =
            s_compile_at (c, json_array_get (array, i), base, keyword, item);
        if (!list->list [i])
            return -1;
    }
    return 0;
}

//  Compile json [keyword] as a subschema into *node_p, if present.
static int
s_get_schema (s_comp_t *c, json_t *json, const char *keyword, const char *base,
              s_node_t **node_p)
{
    json_t *value = json_object_get (json, keyword);
    if (!value)
        return 0;
    *node_p = s_compile_at (c, value, base, keyword, NULL);
    return *node_p ? 0 : -1;
}

static int
s_compile_type (s_comp_t *c, s_node_t *node, json_t *type)
{
    size_t n = json_is_array (type) ? json_array_size (type) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *name = json_is_array (type) ? json_array_get (type, i) : type;
        size_t t = 0;
        while (s_type_names [t]
               && (!json_is_string (name)
                   || strcmp (json_string_value (name), s_type_names [t])))
            t++;
        if (!s_type_names [t])
            return s_comp_error (c, "type", "unknown type");
        node->types |= 1u << t;
    }
    if (node->types & S_TYPE_NUMBER)
        node->types |= S_TYPE_INTEGER;
    return node->types ? 0 : s_comp_error (c, "type", "empty");
}

static int
s_compile_numbers (s_comp_t *c, s_node_t *node, json_t *json)
{
    if (s_get_number (c, json, "minimum", &node->minimum, &node->has_minimum)
        || s_get_number (c, json, "maximum", &node->maximum, &node->has_maximum)
        || s_get_number (c, json, "exclusiveMinimum", &node->exclusive_minimum,
                         &node->has_exclusive_minimum)
        || s_get_number (c, json, "exclusiveMaximum", &node->exclusive_maximum,
                         &node->has_exclusive_maximum)
        || s_get_number (c, json, "multipleOf", &node->multiple_of,
                         &node->has_multiple_of))
        return -1;
    if (node->has_multiple_of && !(node->multiple_of.d > 0))
        return s_comp_error (c, "multipleOf", "not greater than 0");
    node->has_number = node->has_minimum || node->has_maximum
                       || node->has_exclusive_minimum
                       || node->has_exclusive_maximum || node->has_multiple_of;
    return 0;
}

static int
s_compile_strings (s_comp_t *c, s_node_t *node, json_t *json)
{
    if (s_get_count (c, json, "minLength", &node->min_length)
        || s_get_count (c, json, "maxLength", &node->max_length))
        return -1;
    json_t *pattern = json_object_get (json, "pattern");
    if (pattern) {
        if (!json_is_string (pattern))
            return s_comp_error (c, "pattern", "not a string");
        node->pattern = s_regex (c, "pattern", json_string_value (pattern),
                                 json_string_length (pattern));
        node->simple = fy_schema_simple_new (json_string_value (pattern),
                                             json_string_length (pattern));
        if (!node->pattern)
            return -1;
    }
    json_t *format = json_object_get (json, "format");
    if (format && !json_is_string (format))
        return s_comp_error (c, "format", "not a string");
    if (format && !(c->flags & FY_SCHEMA_FORMAT_ANNOTATION))
        node->format = fy_schema_format_lookup (json_string_value (format));
    node->has_string = node->min_length || node->max_length != S_NONE
                       || node->pattern || node->format;
    return 0;
}

static int
s_compile_arrays (s_comp_t *c, s_node_t *node, json_t *json, const char *base)
{
    if (s_get_count (c, json, "minItems", &node->min_items)
        || s_get_count (c, json, "maxItems", &node->max_items)
        || s_get_count (c, json, "minContains", &node->min_contains)
        || s_get_count (c, json, "maxContains", &node->max_contains))
        return -1;
    json_t *unique = json_object_get (json, "uniqueItems");
    if (unique && !json_is_boolean (unique))
        return s_comp_error (c, "uniqueItems", "not a boolean");
    node->unique_items = json_is_true (unique);
    json_t *items = json_object_get (json, "items");
    if (json_is_array (items))
        return s_comp_error (c, "items",
                             "an array (draft 2020-12 uses prefixItems)");
    if (s_get_list (c, json, "prefixItems", base, &node->prefix_items)
        || s_get_schema (c, json, "items", base, &node->items)
        || s_get_schema (c, json, "contains", base, &node->contains))
        return -1;
    node->has_array = node->min_items || node->max_items != S_NONE
                      || node->unique_items || node->prefix_items.n
                      || node->items || node->contains;
    return 0;
}

static int
s_compile_properties (s_comp_t *c, s_node_t *node, json_t *json,
                      const char *base)
{
    json_t *properties = json_object_get (json, "properties");
    if (!properties)
        return 0;
    if (!json_is_object (properties))
        return s_comp_error (c, "properties", "not an object");
    node->properties_n = json_object_size (properties);
    node->properties =
        fy_xcalloc (node->properties_n, sizeof *node->properties);
    node->property_index = json_object ();
    size_t i = 0;
    for (void *it = json_object_iter (properties); it;
         it = json_object_iter_next (properties, it), i++) {
        s_prop_t *prop = &node->properties [i];
        prop->name.name = json_object_iter_key (it);
        prop->name.len = json_object_iter_key_len (it);
        prop->node = s_compile_at (c, json_object_iter_value (it), base,
                                   "properties", prop->name.name);
        if (!prop->node)
            return -1;
        json_object_setn_new_nocheck (node->property_index, prop->name.name,
                                      prop->name.len, json_integer (i));
    }
    return 0;
}

static int
s_compile_patterns (s_comp_t *c, s_node_t *node, json_t *json, const char *base)
{
    json_t *patterns = json_object_get (json, "patternProperties");
    if (!patterns)
        return 0;
    if (!json_is_object (patterns))
        return s_comp_error (c, "patternProperties", "not an object");
    node->patterns =
        fy_xcalloc (json_object_size (patterns), sizeof *node->patterns);
    for (void *it = json_object_iter (patterns); it;
         it = json_object_iter_next (patterns, it)) {
        s_pattern_t *pattern = &node->patterns [node->patterns_n++];
        pattern->re =
            s_regex (c, "patternProperties", json_object_iter_key (it),
                     json_object_iter_key_len (it));
        if (!pattern->re)
            return -1;
        pattern->node =
            s_compile_at (c, json_object_iter_value (it), base,
                          "patternProperties", json_object_iter_key (it));
        if (!pattern->node)
            return -1;
    }
    return 0;
}

static int
s_compile_dependents (s_comp_t *c, s_node_t *node, json_t *json,
                      const char *base)
{
    json_t *required = json_object_get (json, "dependentRequired");
    if (required && !json_is_object (required))
        return s_comp_error (c, "dependentRequired", "not an object");
    if (required)
        node->dep_required = fy_xcalloc (json_object_size (required),
                                         sizeof *node->dep_required);
    for (void *it = required ? json_object_iter (required) : NULL; it;
         it = json_object_iter_next (required, it)) {
        s_dep_required_t *dep = &node->dep_required [node->dep_required_n++];
        dep->name.name = json_object_iter_key (it);
        dep->name.len = json_object_iter_key_len (it);
        if (s_get_names (c, json_object_iter_value (it), "dependentRequired",
                         &dep->required, &dep->required_n))
            return -1;
    }
    json_t *schemas = json_object_get (json, "dependentSchemas");
    if (schemas && !json_is_object (schemas))
        return s_comp_error (c, "dependentSchemas", "not an object");
    if (schemas)
        node->dep_schemas =
            fy_xcalloc (json_object_size (schemas), sizeof *node->dep_schemas);
    for (void *it = schemas ? json_object_iter (schemas) : NULL; it;
         it = json_object_iter_next (schemas, it)) {
        s_prop_t *dep = &node->dep_schemas [node->dep_schemas_n++];
        dep->name.name = json_object_iter_key (it);
        dep->name.len = json_object_iter_key_len (it);
        dep->node = s_compile_at (c, json_object_iter_value (it), base,
                                  "dependentSchemas", dep->name.name);
        if (!dep->node)
            return -1;
    }
    return 0;
}

static int
s_compile_objects (s_comp_t *c, s_node_t *node, json_t *json, const char *base)
{
    json_t *required = json_object_get (json, "required");
    if (s_get_count (c, json, "minProperties", &node->min_properties)
        || s_get_count (c, json, "maxProperties", &node->max_properties)
        || (required
            && s_get_names (c, required, "required", &node->required,
                            &node->required_n))
        || s_compile_properties (c, node, json, base)
        || s_compile_patterns (c, node, json, base)
        || s_compile_dependents (c, node, json, base)
        || s_get_schema (c, json, "additionalProperties", base,
                         &node->additional)
        || s_get_schema (c, json, "propertyNames", base, &node->property_names))
        return -1;
    node->walk_instance =
        node->patterns_n || node->additional || node->property_names;
    node->has_object = node->walk_instance || node->properties_n
                       || node->required_n || node->min_properties
                       || node->max_properties != S_NONE || node->dep_required_n
                       || node->dep_schemas_n;
    return 0;
}

//  $id, $anchor, $defs and $ref: where this schema sits among URIs.
static int
s_compile_identity (s_comp_t *c, s_node_t *node, json_t *json, const char *base,
                    char **own_base_p)
{
    const char *current = base;
    json_t *id = json_object_get (json, "$id");
    if (id) {
        if (!json_is_string (id))
            return s_comp_error (c, "$id", "not a string");
        char *uri = s_uri_resolve (base, json_string_value (id));
        const char *hash = strchr (uri, '#');
        if (hash && hash [1]) {
            free (uri);
            return s_comp_error (c, "$id", "has a fragment (use $anchor)");
        }
        s_strip_fragment (uri);
        *own_base_p = uri;
        current = uri;
        s_register (c, fy_xstrdup (uri), json);
    }
    json_t *anchor = json_object_get (json, "$anchor");
    if (anchor) {
        const char *name = json_string_value (anchor);
        if (!name || !*name
            || strspn (name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz0123456789-_.")
                   != strlen (name))
            return s_comp_error (c, "$anchor", "not a plain name");
        s_register (c, fy_xasprintf ("%s#%s", current, name), json);
    }
    json_t *ref = json_object_get (json, "$ref");
    if (ref) {
        if (!json_is_string (ref))
            return s_comp_error (c, "$ref", "not a string");
        c->fix = fy_xrealloc (c->fix, (c->fix_n + 1) * sizeof *c->fix);
        s_fixup_t *fix = &c->fix [c->fix_n++];
        fix->node = node;
        fix->uri = s_uri_resolve (current, json_string_value (ref));
        fix->where = fy_xstrdup (c->path);
    }
    json_t *defs = json_object_get (json, "$defs");
    if (defs && !json_is_object (defs))
        return s_comp_error (c, "$defs", "not an object");
    const char *key;
    json_t *value;
    json_object_foreach (defs, key, value)
    {
        if (!s_compile_at (c, value, current, "$defs", key))
            return -1;
    }
    return 0;
}

//  True when json has no keys but those in the NULL-ended list keys.
static bool
s_has_only (json_t *json, const char **keys)
{
    const char *key;
    json_t *value;
    json_object_foreach (json, key, value)
    {
        const char **known = keys;
        while (*known && strcmp (*known, key))
            known++;
        if (!*known)
            return false;
    }
    return true;
}

//  A string's bytes and length; a NULL name for anything else.
static s_name_t
s_text_of (json_t *json)
{
    return json_is_string (json) ? (s_name_t) { json_string_value (json),
                                                json_string_length (json) }
                                 : (s_name_t) { NULL, 0 };
}

//  Recognise a discriminator branch (see is_switch).
static void
s_detect_switch (s_node_t *node)
{
    static const char *s_branch_keys [] = { "if",       "then",  "else",
                                            "$comment", "title", "description",
                                            NULL };
    static const char *s_if_keys [] = { "properties", "required", NULL };
    static const char *s_const_keys [] = { "const", NULL };
    json_t *cond = json_object_get (node->json, "if");
    json_t *props = json_object_get (cond, "properties");
    if (!json_is_object (node->json) || !json_is_object (cond)
        || !s_has_only (node->json, s_branch_keys)
        || !s_has_only (cond, s_if_keys) || json_object_size (props) != 1)
        return;
    void *it = json_object_iter (props);
    json_t *schema = json_object_iter_value (it);
    if (!json_is_object (schema) || json_object_size (schema) != 1
        || !s_has_only (schema, s_const_keys))
        return;
    //  "required" may name only the switch's own property.
    json_t *required = json_object_get (cond, "required");
    if (required
        && (json_array_size (required) != 1
            || !json_is_string (json_array_get (required, 0))
            || strcmp (json_string_value (json_array_get (required, 0)),
                       json_object_iter_key (it))))
        return;
    node->switch_required = required != NULL;
    node->is_switch = true;
    node->switch_name.name = json_object_iter_key (it);
    node->switch_name.len = json_object_iter_key_len (it);
    node->switch_value = json_object_get (schema, "const");
    node->switch_text = s_text_of (node->switch_value);
}

static s_node_t *
s_compile (s_comp_t *c, json_t *json, const char *base)
{
    if (json_is_boolean (json))
        return s_node_new (c, json, json_is_true (json) ? S_TRUE : S_FALSE);
    if (!json_is_object (json)) {
        s_comp_error (c, NULL, "not a schema (object or boolean)");
        return NULL;
    }
    if (c->depth >= S_MAX_SCHEMA_DEPTH) {
        s_comp_error (c, NULL, "nested too deep");
        return NULL;
    }
    for (const char **word = s_unsupported; *word; word++)
        if (json_object_get (json, *word)) {
            s_comp_error (c, *word, "keyword not supported by fy_schema");
            return NULL;
        }
    c->depth++;
    s_node_t *node = s_node_new (c, json, S_OBJECT);
    char *own_base = NULL;
    const char *inner = base;
    json_t *type = json_object_get (json, "type");
    json_t *enums = json_object_get (json, "enum");
    int rc = s_compile_identity (c, node, json, base, &own_base);
    if (own_base)
        inner = own_base;
    if (rc == 0 && type)
        rc = s_compile_type (c, node, type);
    if (rc == 0 && enums && !json_is_array (enums))
        rc = s_comp_error (c, "enum", "not an array");
    node->enum_values = enums;
    node->const_value = json_object_get (json, "const");
    node->const_text = s_text_of (node->const_value);
    if (rc == 0 && enums) {
        node->enum_texts =
            fy_xcalloc (json_array_size (enums) + 1, sizeof *node->enum_texts);
        for (size_t i = 0; i < json_array_size (enums); i++) {
            s_name_t text = s_text_of (json_array_get (enums, i));
            if (text.name)
                node->enum_texts [node->enum_texts_n++] = text;
        }
    }
    if (rc == 0)
        rc = s_compile_numbers (c, node, json);
    if (rc == 0)
        rc = s_compile_strings (c, node, json);
    if (rc == 0)
        rc = s_compile_arrays (c, node, json, inner);
    if (rc == 0)
        rc = s_compile_objects (c, node, json, inner);
    if (rc == 0)
        rc = s_get_list (c, json, "allOf", inner, &node->all_of)
                     || s_get_list (c, json, "anyOf", inner, &node->any_of)
                     || s_get_list (c, json, "oneOf", inner, &node->one_of)
                     || s_get_schema (c, json, "not", inner, &node->not_)
                     || s_get_schema (c, json, "if", inner, &node->if_)
                     || s_get_schema (c, json, "then", inner, &node->then_)
                     || s_get_schema (c, json, "else", inner, &node->else_)
                 ? -1
                 : 0;
    if (rc == 0)
        s_detect_switch (node);
    free (own_base);
    c->depth--;
    return rc == 0 ? node : NULL;
}

static int
s_hex_value (char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

//  Walk a JSON pointer fragment ("/a/b~1c/0", still percent-encoded).
static json_t *
s_pointer (json_t *json, const char *fragment)
{
    char token [256];
    const char *at = fragment;
    while (json && *at == '/') {
        size_t len = 0;
        for (at++; *at && *at != '/' && len + 1 < sizeof token; at++) {
            char ch = *at;
            int high = ch == '%' ? s_hex_value (at [1]) : -1;
            int low = high >= 0 ? s_hex_value (at [2]) : -1;
            if (low >= 0) {
                ch = (char) (high * 16 + low);
                at += 2;
            }
            token [len++] = ch;
        }
        //  Unescape ~1 and ~0 after percent-decoding (RFC 6901 order).
        size_t out = 0;
        for (size_t i = 0; i < len; i++) {
            if (token [i] == '~' && i + 1 < len
                && (token [i + 1] == '0' || token [i + 1] == '1'))
                token [out++] = token [++i] == '0' ? '~' : '/';
            else
                token [out++] = token [i];
        }
        if (json_is_object (json))
            json = json_object_getn (json, token, out);
        else if (json_is_array (json)) {
            token [out] = 0;
            char *end;
            unsigned long item = strtoul (token, &end, 10);
            json = out && *end == 0 ? json_array_get (json, item) : NULL;
        }
        else
            json = NULL;
    }
    return *at ? NULL : json;
}

static s_node_t *
s_node_of (fy_schema_t *self, json_t *json)
{
    for (s_node_t *node = self->nodes; node; node = node->next)
        if (node->json == json)
            return node;
    return NULL;
}

//  Point every $ref at its node; a target that is no walked subschema
//  (a pointer into an unknown keyword) is compiled now, which may queue
//  more fixups.
static int
s_resolve_refs (s_comp_t *c)
{
    for (size_t i = 0; i < c->fix_n; i++) {
        s_fixup_t *fix = &c->fix [i];
        char *doc = fy_xstrdup (fix->uri);
        char *hash = strchr (doc, '#');
        const char *fragment = hash ? hash + 1 : "";
        if (hash)
            *hash = 0;
        json_t *target = s_lookup (c, doc);
        if (target && *fragment == '/')
            target = s_pointer (target, fragment);
        else if (target && *fragment)
            target = s_lookup (c, fix->uri);
        s_node_t *node = target ? s_node_of (c->self, target) : NULL;
        if (target && !node) {
            snprintf (c->path, sizeof c->path, "%s", fix->where);
            c->path_len = strlen (c->path);
            node = s_compile (c, target, doc);
            fix = &c->fix [i];  //  s_compile may grow c->fix
        }
        free (doc);
        if (!node) {
            if (!target)
                s_error (c->err,
                         "schema #%s/$ref: cannot resolve %s "
                         "(only refs within the document are supported)",
                         fix->where, fix->uri);
            return -1;
        }
        fix->node->ref = node;
    }
    return 0;
}

//  A deep copy that keeps keys holding NUL whole (json_deep_copy cuts them
//  at the NUL). NULL when nested beyond any schema we would compile.
static json_t *
s_copy (json_t *json, int depth)
{
    if (depth > 4 * S_MAX_SCHEMA_DEPTH)
        return NULL;
    json_t *copy = NULL;
    if (json_is_object (json)) {
        copy = json_object ();
        for (void *it = json_object_iter (json); it && copy;
             it = json_object_iter_next (json, it)) {
            json_t *value = s_copy (json_object_iter_value (it), depth + 1);
            if (value)
                json_object_setn_new_nocheck (copy, json_object_iter_key (it),
                                              json_object_iter_key_len (it),
                                              value);
            else
                json_decref (copy), copy = NULL;
        }
    }
    else if (json_is_array (json)) {
        copy = json_array ();
        for (size_t i = 0; i < json_array_size (json) && copy; i++) {
            json_t *value = s_copy (json_array_get (json, i), depth + 1);
            if (value)
                json_array_append_new (copy, value);
            else
                json_decref (copy), copy = NULL;
        }
    }
    else
        copy = json_copy (json);  //  scalars: exact, NUL-safe
    return copy;
}

fy_schema_t *
fy_schema_new (json_t *document, fy_error_t *err)
{
    return fy_schema_new_flags (document, 0, err);
}

fy_schema_t *
fy_schema_new_flags (json_t *document, int flags, fy_error_t *err)
{
    if (!document) {
        s_error (err, "schema: no document");
        return NULL;
    }
    json_t *copy = s_copy (document, 0);
    if (!copy) {
        s_error (err, "schema: nested too deep");
        return NULL;
    }
    fy_schema_t *self = fy_xcalloc (1, sizeof *self);
    self->document = copy;
    s_comp_t c = { .self = self, .err = err, .flags = flags };
    s_register (&c, fy_xstrdup (""), self->document);
    self->root = s_compile (&c, self->document, "");
    int rc = self->root ? s_resolve_refs (&c) : -1;
    for (size_t i = 0; i < c.res_n; i++)
        free (c.res [i].uri);
    free (c.res);
    for (size_t i = 0; i < c.fix_n; i++) {
        free (c.fix [i].uri);
        free (c.fix [i].where);
    }
    free (c.fix);
    if (rc != 0) {
        fy_schema_destroy (&self);
        errno = EINVAL;
        return NULL;
    }
    self->match = pcre2_match_data_create (1, NULL);
    return self;
}

fy_schema_t *
fy_schema_load (const char *path, fy_error_t *err)
{
    assert (path);
    json_error_t jerr;
    errno = 0;
    json_t *document = json_load_file (path, JSON_REJECT_DUPLICATES, &jerr);
    if (!document) {
        int code = errno;
        if (json_error_code (&jerr) == json_error_cannot_open_file) {
            fy_error_set (err, "%s: %s", path, jerr.text);
            errno = code ? code : ENOENT;
        }
        else
            s_error (err, "%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    fy_schema_t *self = fy_schema_new (document, err);
    json_decref (document);
    if (!self)
        fy_error_prefix (err, "%s", path);
    return self;
}

void
fy_schema_destroy (fy_schema_t **self_p)
{
    assert (self_p);
    fy_schema_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    while (self->nodes) {
        s_node_t *next = self->nodes->next;
        s_node_destroy (self->nodes);
        self->nodes = next;
    }
    pcre2_match_data_free (self->match);
    json_decref (self->document);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  -----------------------------------------------------------------------
//  Validation

typedef struct {
    const char *key;  //  NULL for an array index
    size_t len;  //  key length, or the index
} s_seg_t;

typedef struct {
    fy_schema_t *self;
    fy_error_t *err;
    int quiet;  //  inside anyOf, not, if...: no error text
    bool abort;  //  a limit was hit: fail whatever the nesting
    int depth;
    int refs;
    //  PCRE2_NO_UTF_CHECK when every string is known to be valid UTF-8
    //  (read by fy_json): pcre2_match would check each again.
    uint32_t match_options;
    s_seg_t path [S_MAX_DEPTH];
} s_ctx_t;

static int
s_validate (s_ctx_t *ctx, s_node_t *node, json_t *inst);

//  Write the instance pointer of the current path. Control bytes from keys
//  are escaped so a hostile key cannot forge log lines.
static size_t
s_pointer_print (s_ctx_t *ctx, char *buffer, size_t size)
{
    size_t at = 0;
    for (int i = 0; i < ctx->depth && at + 8 < size; i++) {
        s_seg_t *seg = &ctx->path [i];
        if (!seg->key) {
            at += snprintf (buffer + at, size - at, "/%zu", seg->len);
            continue;
        }
        buffer [at++] = '/';
        for (size_t k = 0; k < seg->len && at + 8 < size; k++) {
            unsigned char ch = (unsigned char) seg->key [k];
            if (ch == '~' || ch == '/') {
                buffer [at++] = '~';
                buffer [at++] = ch == '~' ? '0' : '1';
            }
            else if (ch < 0x20 || ch == 0x7f)
                at += snprintf (buffer + at, size - at, "\\u%04x", ch);
            else
                buffer [at++] = (char) ch;
        }
    }
    if (at >= size)
        at = size - 1;
    buffer [at] = 0;
    return at;
}

static int
s_fail (s_ctx_t *ctx, const char *format, ...) FY_PRINTF (2, 3);

static int
s_fail (s_ctx_t *ctx, const char *format, ...)
{
    if ((ctx->quiet && !ctx->abort) || !ctx->err)
        return -1;
    char *text = ctx->err->text;
    size_t size = sizeof ctx->err->text;
    size_t at = s_pointer_print (ctx, text, size);
    if (at + 2 < size) {
        text [at++] = ':';
        text [at++] = ' ';
        va_list args;
        va_start (args, format);
        vsnprintf (text + at, size - at, format, args);
        va_end (args);
    }
    text [size - 1] = 0;
    return -1;
}

//  A limit aborts the whole validation: letting "not" or "anyOf" swallow
//  it would turn a too-deep instance into a valid one.
static int
s_fail_limit (s_ctx_t *ctx, const char *what)
{
    ctx->abort = true;
    return s_fail (ctx, "%s", what);
}

static int
s_push (s_ctx_t *ctx, const char *key, size_t len)
{
    if (ctx->depth >= S_MAX_DEPTH)
        return s_fail_limit (ctx, "depth");
    ctx->path [ctx->depth].key = key;
    ctx->path [ctx->depth].len = len;
    ctx->depth++;
    return 0;
}

//  Validate inst, found at key (or index when key is NULL) of the current
//  location, against node.
static int
s_validate_child (s_ctx_t *ctx, s_node_t *node, json_t *inst, const char *key,
                  size_t len)
{
    if (node->kind == S_TRUE)
        return 0;
    if (s_push (ctx, key, len))
        return -1;
    int rc = s_validate (ctx, node, inst);
    ctx->depth--;
    return rc;
}

//  Report a rule at a property of the current location (required etc.).
static int
s_fail_at (s_ctx_t *ctx, const s_name_t *name, const char *rule)
{
    if (s_push (ctx, name->name, name->len))
        return -1;
    s_fail (ctx, "%s", rule);
    ctx->depth--;
    return -1;
}

static bool
s_equal (s_ctx_t *ctx, json_t *a, json_t *b, int depth)
{
    if (depth > S_MAX_EQUAL_DEPTH) {
        s_fail_limit (ctx, "depth");
        return false;
    }
    if (json_is_number (a) && json_is_number (b)) {
        s_num_t x, y;
        s_num_set (&x, a);
        s_num_set (&y, b);
        return s_num_cmp (&x, &y) == 0;
    }
    if (json_typeof (a) != json_typeof (b))
        return false;
    switch (json_typeof (a)) {
        case JSON_STRING:
            return json_string_length (a) == json_string_length (b)
                   && memcmp (json_string_value (a), json_string_value (b),
                              json_string_length (a))
                          == 0;
        case JSON_ARRAY: {
            size_t n = json_array_size (a);
            if (n != json_array_size (b))
                return false;
            for (size_t i = 0; i < n; i++)
                if (!s_equal (ctx, json_array_get (a, i), json_array_get (b, i),
                              depth + 1))
                    return false;
            return true;
        }
        case JSON_OBJECT: {
            if (json_object_size (a) != json_object_size (b))
                return false;
            for (void *it = json_object_iter (a); it;
                 it = json_object_iter_next (a, it)) {
                json_t *other =
                    json_object_getn (b, json_object_iter_key (it),
                                      json_object_iter_key_len (it));
                if (!other
                    || !s_equal (ctx, json_object_iter_value (it), other,
                                 depth + 1))
                    return false;
            }
            return true;
        }
        default:
            return true;  //  true, false, null
    }
}

//  A hash consistent with s_equal (1 and 1.0 hash alike), for uniqueItems
//  on long arrays.
static uint64_t
s_hash (json_t *json, int depth)
{
    uint64_t hash = 1469598103934665603ULL;
    if (depth > S_MAX_EQUAL_DEPTH)
        return hash;
    switch (json_typeof (json)) {
        case JSON_INTEGER:
        case JSON_REAL: {
            double d = json_number_value (json);
            if (json_is_integer (json))
                return (uint64_t) json_integer_value (json) * S_GOLDEN;
            if (d == trunc (d) && fabs (d) < 9.2e18)
                return (uint64_t) (json_int_t) d * S_GOLDEN;
            uint64_t bits;
            memcpy (&bits, &d, sizeof bits);
            return bits;
        }
        case JSON_STRING: {
            const unsigned char *s =
                (const unsigned char *) json_string_value (json);
            for (size_t i = 0; i < json_string_length (json); i++)
                hash = (hash ^ s [i]) * 1099511628211ULL;
            return hash;
        }
        case JSON_ARRAY:
            for (size_t i = 0; i < json_array_size (json); i++)
                hash = (hash ^ s_hash (json_array_get (json, i), depth + 1))
                       * 1099511628211ULL;
            return hash + 1;
        case JSON_OBJECT: {
            //  Member order does not matter: combine by sum.
            uint64_t sum = 2;
            for (void *it = json_object_iter (json); it;
                 it = json_object_iter_next (json, it)) {
                const unsigned char *key =
                    (const unsigned char *) json_object_iter_key (it);
                uint64_t member = hash;
                for (size_t i = 0; i < json_object_iter_key_len (it); i++)
                    member = (member ^ key [i]) * 1099511628211ULL;
                sum += member * 31
                       + s_hash (json_object_iter_value (it), depth + 1);
            }
            return sum;
        }
        default:
            return (uint64_t) json_typeof (json);
    }
}

typedef struct {
    uint64_t hash;
    size_t index;
} s_hashed_t;

static int
s_hashed_cmp (const void *a, const void *b)
{
    const s_hashed_t *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool
s_is_unique (s_ctx_t *ctx, json_t *array)
{
    size_t n = json_array_size (array);
    if (n <= 16) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (s_equal (ctx, json_array_get (array, i),
                             json_array_get (array, j), 0))
                    return false;
        return !ctx->abort;
    }
    //  Long arrays come from untrusted input: sort by hash, not n^2.
    s_hashed_t *hashed = fy_xmalloc (n * sizeof *hashed);
    for (size_t i = 0; i < n; i++) {
        hashed [i].hash = s_hash (json_array_get (array, i), 0);
        hashed [i].index = i;
    }
    qsort (hashed, n, sizeof *hashed, s_hashed_cmp);
    bool unique = true;
    for (size_t i = 0; i < n && unique; i++)
        for (size_t j = i + 1;
             j < n && hashed [j].hash == hashed [i].hash && unique; j++)
            if (s_equal (ctx, json_array_get (array, hashed [i].index),
                         json_array_get (array, hashed [j].index), 0))
                unique = false;
    free (hashed);
    return unique && !ctx->abort;
}

static int
s_validate_number (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    s_num_t value;
    char limit [32];
    s_num_set (&value, inst);
    const char *rule = NULL;
    const s_num_t *bound = NULL;
    if (node->has_minimum && s_num_cmp (&value, &node->minimum) < 0)
        rule = "minimum", bound = &node->minimum;
    else if (node->has_maximum && s_num_cmp (&value, &node->maximum) > 0)
        rule = "maximum", bound = &node->maximum;
    else if (node->has_exclusive_minimum
             && s_num_cmp (&value, &node->exclusive_minimum) <= 0)
        rule = "exclusiveMinimum", bound = &node->exclusive_minimum;
    else if (node->has_exclusive_maximum
             && s_num_cmp (&value, &node->exclusive_maximum) >= 0)
        rule = "exclusiveMaximum", bound = &node->exclusive_maximum;
    else if (node->has_multiple_of
             && !s_is_multiple (&value, &node->multiple_of))
        rule = "multipleOf", bound = &node->multiple_of;
    if (!rule)
        return 0;
    s_num_print (bound, limit, sizeof limit);
    return s_fail (ctx, "%s %s", rule, limit);
}

static bool
s_matches (s_ctx_t *ctx, pcre2_code *re, const char *text, size_t len)
{
    //  Text whose UTF-8 is known valid goes straight to the JIT's code,
    //  past pcre2_match's checks of its arguments (a sixth of a match);
    //  a pattern without JIT code (not built for this CPU) says so.
    if (ctx->match_options & PCRE2_NO_UTF_CHECK) {
        int rc = pcre2_jit_match (re, (PCRE2_SPTR) text, len, 0, 0,
                                  ctx->self->match, NULL);
        if (rc != PCRE2_ERROR_JIT_BADOPTION)
            return rc >= 0;
    }
    return pcre2_match (re, (PCRE2_SPTR) text, len, 0, ctx->match_options,
                        ctx->self->match, NULL)
           >= 0;
}

//  The string rules of node on len bytes of text (a string value, from a
//  tree or read in one pass).
static int
s_check_string (s_ctx_t *ctx, s_node_t *node, const char *text, size_t len)
{
    //  len bytes of UTF-8 hold len code points at most and a quarter of
    //  that at least, which decides most strings without counting.
    if ((node->min_length || node->max_length != S_NONE)
        && (len > node->max_length || (len + 3) / 4 < node->min_length)) {
        //  Lengths count code points: every byte but continuation bytes.
        size_t points = 0;
        for (size_t i = 0; i < len; i++)
            points += ((unsigned char) text [i] & 0xC0) != 0x80;
        if (points < node->min_length)
            return s_fail (ctx, "minLength %zu", node->min_length);
        if (points > node->max_length)
            return s_fail (ctx, "maxLength %zu", node->max_length);
    }
    if (node->pattern
        && !(node->simple ? fy_schema_simple_match (node->simple, text, len)
                          : s_matches (ctx, node->pattern, text, len)))
        return s_fail (ctx, "pattern");
    if (node->format && !fy_schema_format_is_valid (node->format, text, len))
        return s_fail (ctx, "format %s", fy_schema_format_name (node->format));
    return 0;
}

static int
s_validate_string (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    return s_check_string (ctx, node, json_string_value (inst),
                           json_string_length (inst));
}

static int
s_validate_array (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    size_t n = json_array_size (inst);
    if (n < node->min_items)
        return s_fail (ctx, "minItems %zu", node->min_items);
    if (n > node->max_items)
        return s_fail (ctx, "maxItems %zu", node->max_items);
    if (node->unique_items && n > 1 && !s_is_unique (ctx, inst))
        return ctx->abort ? -1 : s_fail (ctx, "uniqueItems");
    size_t prefix = node->prefix_items.n;
    for (size_t i = 0; i < n; i++) {
        s_node_t *item = i < prefix ? node->prefix_items.list [i] : node->items;
        if (!item)
            break;
        if (item->kind == S_FALSE) {
            s_push (ctx, NULL, i);
            s_fail (ctx, "%s", i < prefix ? "prefixItems" : "items");
            ctx->depth--;
            return -1;
        }
        if (s_validate_child (ctx, item, json_array_get (inst, i), NULL, i))
            return -1;
    }
    if (node->contains) {
        size_t count = 0;
        ctx->quiet++;
        for (size_t i = 0; i < n; i++) {
            if (s_validate_child (ctx, node->contains, json_array_get (inst, i),
                                  NULL, i)
                == 0)
                count++;
            else if (ctx->abort)
                return -1;
            if (count >= node->min_contains && node->max_contains == S_NONE)
                break;
        }
        ctx->quiet--;
        if (count < node->min_contains)
            return node->min_contains == 1
                       ? s_fail (ctx, "contains")
                       : s_fail (ctx, "minContains %zu", node->min_contains);
        if (count > node->max_contains)
            return s_fail (ctx, "maxContains %zu", node->max_contains);
    }
    return 0;
}

static int
s_validate_members (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    size_t hint = 0;
    for (void *it = json_object_iter (inst); it;
         it = json_object_iter_next (inst, it)) {
        s_name_t key = { json_object_iter_key (it),
                         json_object_iter_key_len (it) };
        json_t *value = json_object_iter_value (it);
        if (node->property_names) {
            //  The only path that allocates: a name must be a JSON string
            //  to be validated.
            json_t *name = json_stringn_nocheck (key.name, key.len);
            ctx->quiet++;
            int rc = s_validate_child (ctx, node->property_names, name,
                                       key.name, key.len);
            ctx->quiet--;
            json_decref (name);
            if (rc)
                return ctx->abort ? -1 : s_fail_at (ctx, &key, "propertyNames");
        }
        bool matched = false;
        s_prop_t *slot = s_property (node, key.name, key.len, &hint);
        if (slot) {
            matched = true;
            s_node_t *prop = slot->node;
            if (prop->kind == S_FALSE)
                return s_fail_at (ctx, &key, "properties");
            if (s_validate_child (ctx, prop, value, key.name, key.len))
                return -1;
        }
        for (size_t i = 0; i < node->patterns_n; i++) {
            if (!s_matches (ctx, node->patterns [i].re, key.name, key.len))
                continue;
            matched = true;
            if (node->patterns [i].node->kind == S_FALSE)
                return s_fail_at (ctx, &key, "patternProperties");
            if (s_validate_child (ctx, node->patterns [i].node, value, key.name,
                                  key.len))
                return -1;
        }
        if (matched || !node->additional)
            continue;
        if (node->additional->kind == S_FALSE)
            return s_fail_at (ctx, &key, "additionalProperties");
        if (s_validate_child (ctx, node->additional, value, key.name, key.len))
            return -1;
    }
    return 0;
}

static int
s_validate_object (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    size_t n = json_object_size (inst);
    if (n < node->min_properties)
        return s_fail (ctx, "minProperties %zu", node->min_properties);
    if (n > node->max_properties)
        return s_fail (ctx, "maxProperties %zu", node->max_properties);
    for (size_t i = 0; i < node->required_n; i++) {
        s_name_t *name = &node->required [i];
        if (!json_object_getn (inst, name->name, name->len))
            return s_fail_at (ctx, name, "required");
    }
    for (size_t i = 0; i < node->dep_required_n; i++) {
        s_dep_required_t *dep = &node->dep_required [i];
        if (!json_object_getn (inst, dep->name.name, dep->name.len))
            continue;
        for (size_t r = 0; r < dep->required_n; r++)
            if (!json_object_getn (inst, dep->required [r].name,
                                   dep->required [r].len))
                return s_fail_at (ctx, &dep->required [r], "dependentRequired");
    }
    if (node->walk_instance) {
        if (s_validate_members (ctx, node, inst))
            return -1;
    }
    else
        for (size_t i = 0; i < node->properties_n; i++) {
            s_prop_t *prop = &node->properties [i];
            json_t *value =
                json_object_getn (inst, prop->name.name, prop->name.len);
            if (!value)
                continue;
            if (prop->node->kind == S_FALSE)
                return s_fail_at (ctx, &prop->name, "properties");
            if (s_validate_child (ctx, prop->node, value, prop->name.name,
                                  prop->name.len))
                return -1;
        }
    for (size_t i = 0; i < node->dep_schemas_n; i++) {
        s_prop_t *dep = &node->dep_schemas [i];
        if (json_object_getn (inst, dep->name.name, dep->name.len)
            && s_validate (ctx, dep->node, inst))
            return -1;
    }
    return 0;
}

static bool
s_type_matches (unsigned types, json_t *inst)
{
    switch (json_typeof (inst)) {
        case JSON_OBJECT:
            return types & S_TYPE_OBJECT;
        case JSON_ARRAY:
            return types & S_TYPE_ARRAY;
        case JSON_STRING:
            return types & S_TYPE_STRING;
        case JSON_INTEGER:
            return types & (S_TYPE_INTEGER | S_TYPE_NUMBER);
        case JSON_REAL: {
            if (types & S_TYPE_NUMBER)
                return true;
            double d = json_real_value (inst);
            return (types & S_TYPE_INTEGER) && isfinite (d) && d == trunc (d);
        }
        case JSON_TRUE:
        case JSON_FALSE:
            return types & S_TYPE_BOOLEAN;
        case JSON_NULL:
            return types & S_TYPE_NULL;
    }
    return false;
}

//  Run node quietly: 0 when inst matches, 1 when it does not, -1 when a
//  limit aborted the validation.
static int
s_try (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    ctx->quiet++;
    int rc = s_validate (ctx, node, inst);
    ctx->quiet--;
    return ctx->abort ? -1 : rc ? 1 : 0;
}

//  allOf, with discriminator branches (is_switch) decided by one lookup
//  of their property instead of a full "if" validation each. The "if"
//  passes, as "properties" does, when inst is no object or lacks the
//  property, unless it also requires the property.
static int
s_validate_all_of (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    const s_name_t *looked_up = NULL;
    json_t *value = NULL;
    for (size_t i = 0; i < node->all_of.n; i++) {
        s_node_t *item = node->all_of.list [i];
        if (!item->is_switch) {
            if (s_validate (ctx, item, inst))
                return -1;
            continue;
        }
        const s_name_t *name = &item->switch_name;
        if (json_is_object (inst)
            && (!looked_up || looked_up->len != name->len
                || memcmp (looked_up->name, name->name, name->len))) {
            value = json_object_getn (inst, name->name, name->len);
            looked_up = name;
        }
        bool holds = !json_is_object (inst)
                     || (!value ? !item->switch_required
                                : s_equal (ctx, item->switch_value, value, 0));
        if (ctx->abort)
            return -1;
        s_node_t *branch = holds ? item->then_ : item->else_;
        if (branch && s_validate (ctx, branch, inst))
            return -1;
    }
    return 0;
}

static int
s_validate_applicators (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    if (node->all_of.n && s_validate_all_of (ctx, node, inst))
        return -1;
    if (node->any_of.n) {
        int rc = 1;
        for (size_t i = 0; i < node->any_of.n && rc == 1; i++)
            rc = s_try (ctx, node->any_of.list [i], inst);
        if (rc)
            return rc < 0 ? -1 : s_fail (ctx, "anyOf");
    }
    if (node->one_of.n) {
        size_t matches = 0;
        for (size_t i = 0; i < node->one_of.n && matches < 2; i++) {
            int rc = s_try (ctx, node->one_of.list [i], inst);
            if (rc < 0)
                return -1;
            matches += rc == 0;
        }
        if (matches != 1)
            return s_fail (ctx, "oneOf");
    }
    if (node->not_) {
        int rc = s_try (ctx, node->not_, inst);
        if (rc <= 0)
            return rc < 0 ? -1 : s_fail (ctx, "not");
    }
    if (node->if_) {
        int rc = s_try (ctx, node->if_, inst);
        if (rc < 0)
            return -1;
        s_node_t *branch = rc == 0 ? node->then_ : node->else_;
        if (branch && s_validate (ctx, branch, inst))
            return -1;
    }
    return 0;
}

static int
s_validate (s_ctx_t *ctx, s_node_t *node, json_t *inst)
{
    if (node->kind != S_OBJECT)
        return node->kind == S_TRUE ? 0 : s_fail (ctx, "false schema");
    if (node->types && !s_type_matches (node->types, inst))
        return s_fail (ctx, "type");
    if (node->const_value && !s_equal (ctx, node->const_value, inst, 0))
        return s_fail (ctx, "const");
    if (node->enum_values) {
        size_t n = json_array_size (node->enum_values);
        size_t i = 0;
        while (
            i < n
            && !s_equal (ctx, json_array_get (node->enum_values, i), inst, 0))
            i++;
        if (i == n)
            return s_fail (ctx, "enum");
    }
    switch (json_typeof (inst)) {
        case JSON_OBJECT:
            if (node->has_object && s_validate_object (ctx, node, inst))
                return -1;
            break;
        case JSON_ARRAY:
            if (node->has_array && s_validate_array (ctx, node, inst))
                return -1;
            break;
        case JSON_STRING:
            if (node->has_string && s_validate_string (ctx, node, inst))
                return -1;
            break;
        case JSON_INTEGER:
        case JSON_REAL:
            if (node->has_number && s_validate_number (ctx, node, inst))
                return -1;
            break;
        default:
            break;
    }
    if (node->ref) {
        if (ctx->refs >= S_MAX_REFS)
            return s_fail_limit (ctx, "$ref depth");
        ctx->refs++;
        int rc = s_validate (ctx, node->ref, inst);
        ctx->refs--;
        if (rc)
            return -1;
    }
    return s_validate_applicators (ctx, node, inst);
}

int
fy_schema_validate (fy_schema_t *self, json_t *instance, fy_error_t *err)
{
    assert (self);
    if (!instance)
        return s_error (err, ": no instance");
    s_ctx_t ctx;
    ctx.self = self;
    ctx.err = err;
    ctx.quiet = 0;
    ctx.abort = false;
    ctx.depth = 0;
    ctx.refs = 0;
    ctx.match_options = 0;
    if (s_validate (&ctx, self->root, instance) == 0)
        return 0;
    errno = EINVAL;
    return -1;
}

//  -----------------------------------------------------------------------
//  One pass: JSON text to msgpack, validated as it is read
//
//  The nodes that apply at the location being read (its "uses": the
//  subschemas its parent's properties, patternProperties,
//  additionalProperties or items name, with their $refs and allOf
//  members) are kept on a stack, one range per open location, so a
//  value is checked against all of them as it is read and its msgpack
//  written at once. fy_schema_validate's verdict on a tree is the
//  conjunction of the same rules over the same uses; whatever would need
//  the value twice or a verdict undone (oneOf, not, if, contains, an
//  anyOf of more than "required" lists, ...) is refused, and the caller
//  takes the tree's way.

#define S_T_USES 512  //  uses along the open path
#define S_T_SWITCHES 64  //  unresolved allOf switches along it
#define S_T_SPANS 256  //  member names, unique items along it
#define S_T_MEMBERS 64  //  members of one object
#define S_T_DEPTH 30  //  containers, the root's included
#define S_T_REFS 128  //  nested $refs (fy_schema_validate: 256)

typedef struct {
    s_node_t *node;
    int refs;  //  $refs followed to reach it, along the path
    size_t hint;  //  of its properties, the one tried first (s_property)
} s_use_t;

typedef struct {
    s_node_t *node;  //  an allOf member with is_switch
    int refs;
    bool done;
} s_pending_t;

typedef struct {
    size_t at;  //  bytes in the output
    size_t len;
} s_span_t;

typedef struct {
    s_ctx_t ctx;  //  quiet, for the rules shared with validation
    s_node_t *root;
    fy_json_reader_t *reader;
    msgpack_sbuffer *out;
    msgpack_packer packer;
    fy_schema_member_fn *on_member;
    void *arg;
    s_use_t uses [S_T_USES];
    size_t uses_n;
    s_pending_t pending [S_T_SWITCHES];
    size_t pending_n;
    s_span_t spans [S_T_SPANS];
    size_t spans_n;
} s_pass_t;

//  A value as read: a string as its bytes in the output, another scalar
//  as a jansson value (a reference the reader of it releases).
typedef struct {
    json_type type;
    s_span_t span;
    json_t *json;
} s_read_t;

//  An anyOf the pass follows: each member true or only "required" (at
//  least one of several members present), decided when an object ends;
//  on anything but an object, every such member holds.
static bool
s_any_of_required (s_node_t *node)
{
    static const char *s_keys [] = { "required", "title", "description",
                                     "$comment", NULL };
    for (size_t i = 0; i < node->any_of.n; i++) {
        s_node_t *item = node->any_of.list [i];
        if (item->kind == S_FALSE
            || (item->kind == S_OBJECT && !s_has_only (item->json, s_keys)))
            return false;
    }
    return true;
}

//  Push node and what applies with it at the same location ($ref, allOf)
//  onto the uses. kind is the first byte of the value ('{' an object).
//  A switch decides at once on anything but an object, as
//  s_validate_all_of does; on an object it waits for its property
//  (pending), unless late (a switch's own branch): then it is refused.
static int
s_gather (s_pass_t *t, s_node_t *node, int refs, char kind, bool late)
{
    if (node->kind == S_TRUE)
        return 0;
    if (node->kind == S_FALSE || refs > S_T_REFS || t->uses_n == S_T_USES)
        return -1;
    if ((node->any_of.n && !s_any_of_required (node)) || node->one_of.n
        || node->not_ || node->if_ || node->contains || node->prefix_items.n
        || node->property_names || node->dep_schemas_n)
        return -1;
    t->uses [t->uses_n++] = (s_use_t) { node, refs, 0 };
    if (node->ref && s_gather (t, node->ref, refs + 1, kind, late))
        return -1;
    for (size_t i = 0; i < node->all_of.n; i++) {
        s_node_t *item = node->all_of.list [i];
        if (!item->is_switch) {
            if (s_gather (t, item, refs, kind, late))
                return -1;
        }
        else if (kind != '{') {
            if (item->then_ && s_gather (t, item->then_, refs, kind, late))
                return -1;
        }
        else if (late || t->pending_n == S_T_SWITCHES)
            return -1;
        else
            t->pending [t->pending_n++] = (s_pending_t) { item, refs, false };
    }
    return 0;
}

static const char *
s_span_text (s_pass_t *t, const s_span_t *span)
{
    return t->out->data + span->at;
}

//  Whether any of node's property rules names member key.
static bool
s_names (s_pass_t *t, s_node_t *node, const s_span_t *key)
{
    const char *name = s_span_text (t, key);
    if (s_property (node, name, key->len, NULL))
        return true;
    if (!node->walk_instance)
        return false;
    for (size_t i = 0; i < node->patterns_n; i++)
        if (s_matches (&t->ctx, node->patterns [i].re, name, key->len))
            return true;
    return node->additional != NULL;
}

//  Push what the uses [first, end) say of the next value: of member key
//  in an object, of an item in an array (key NULL).
static int
s_gather_child (s_pass_t *t, size_t first, size_t end, const s_span_t *key,
                char kind)
{
    for (size_t u = first; u < end; u++) {
        s_node_t *node = t->uses [u].node;
        int refs = t->uses [u].refs;
        if (!key) {
            if (node->items && s_gather (t, node->items, refs, kind, false))
                return -1;
            continue;
        }
        const char *name = s_span_text (t, key);
        bool matched = false;
        s_prop_t *slot = s_property (node, name, key->len, &t->uses [u].hint);
        if (slot) {
            matched = true;
            if (s_gather (t, slot->node, refs, kind, false))
                return -1;
        }
        if (!node->walk_instance)
            continue;
        for (size_t i = 0; i < node->patterns_n; i++) {
            if (!s_matches (&t->ctx, node->patterns [i].re, name, key->len))
                continue;
            matched = true;
            if (s_gather (t, node->patterns [i].node, refs, kind, false))
                return -1;
        }
        if (!matched && node->additional
            && s_gather (t, node->additional, refs, kind, false))
            return -1;
    }
    return 0;
}

//  Whether name (a NULL one: not a string) holds len bytes of text.
static inline bool
s_text_equal (const s_name_t *name, const char *text, size_t len)
{
    return name->name && name->len == len
           && s_same_bytes (name->name, text, len);
}

//  The rules of the uses from first on that a value meets or fails as it
//  starts: type, const and enum, and a scalar's string and number rules.
//  A string is text (len bytes), another scalar json; a container
//  neither, and const or enum on it is refused.
static int
s_check_value (s_pass_t *t, size_t first, char kind, const char *text,
               size_t len, json_t *json)
{
    for (size_t u = first; u < t->uses_n; u++) {
        s_node_t *node = t->uses [u].node;
        if (kind == '"') {
            if (node->types && !(node->types & S_TYPE_STRING))
                return -1;
            if (node->const_value
                && !s_text_equal (&node->const_text, text, len))
                return -1;
            if (node->enum_values) {
                size_t n = node->enum_texts_n, i = 0;
                while (i < n
                       && !s_text_equal (&node->enum_texts [i], text, len))
                    i++;
                if (i == n)
                    return -1;
            }
            if (node->has_string && s_check_string (&t->ctx, node, text, len))
                return -1;
        }
        else if (json) {
            if (node->types && !s_type_matches (node->types, json))
                return -1;
            if (node->const_value
                && !s_equal (&t->ctx, node->const_value, json, 0))
                return -1;
            if (node->enum_values) {
                size_t n = json_array_size (node->enum_values), i = 0;
                while (i < n
                       && !s_equal (&t->ctx,
                                    json_array_get (node->enum_values, i), json,
                                    0))
                    i++;
                if (i == n)
                    return -1;
            }
            if (json_is_number (json) && node->has_number
                && s_validate_number (&t->ctx, node, json))
                return -1;
        }
        else {
            unsigned type = kind == '{' ? S_TYPE_OBJECT : S_TYPE_ARRAY;
            if ((node->types && !(node->types & type)) || node->const_value
                || node->enum_values)
                return -1;
        }
    }
    return t->ctx.abort ? -1 : 0;
}

typedef struct {
    char bytes [16];
    size_t len;
} s_header_t;

static int
s_header_write (void *data, const char *buf, size_t len)
{
    s_header_t *header = data;
    assert (header->len + len <= sizeof header->bytes);
    memcpy (header->bytes + header->len, buf, len);
    header->len += len;
    return 0;
}

//  A container's header is written when its count is known, by
//  msgpack-c's packer as fy_msgpack_pack writes it, over the one byte
//  kept for it at at; a wider one moves the body up.
static void
s_close (s_pass_t *t, size_t at, bool object, size_t count)
{
    s_header_t header = { .len = 0 };
    msgpack_packer packer;
    msgpack_packer_init (&packer, &header, s_header_write);
    if (object)
        msgpack_pack_map (&packer, count);
    else
        msgpack_pack_array (&packer, count);
    if (header.len > 1) {
        size_t body = t->out->size - at - 1;
        msgpack_sbuffer_write (t->out, header.bytes, header.len - 1);
        memmove (t->out->data + at + header.len, t->out->data + at + 1, body);
    }
    memcpy (t->out->data + at, header.bytes, header.len);
}

//  A string into the output as msgpack_pack_str and _body write it, in
//  one step: most of an event is strings, and the packer's callback took
//  two calls for each; msgpack_sbuffer_write for the header and again
//  for the bytes still cost 2.5% more of a transcode than this one room
//  check (callgrind). The header is the str family's (fixstr, str 8, 16,
//  32); the tests compare every event's bytes with fy_msgpack_encode's.
//  Returns where its bytes start.
static size_t
s_put_str (s_pass_t *t, const char *text, size_t len)
{
    msgpack_sbuffer *out = t->out;
    if (out->alloc - out->size < len + 5) {
        size_t size = out->alloc ? out->alloc * 2 : MSGPACK_SBUFFER_INIT_SIZE;
        while (size < out->size + len + 5)
            size *= 2;
        out->data = fy_xrealloc (out->data, size);
        out->alloc = size;
    }
    unsigned char *p = (unsigned char *) out->data + out->size;
    if (len < 32)
        *p++ = (unsigned char) (0xa0 | len);
    else if (len < 256) {
        *p++ = 0xd9;
        *p++ = (unsigned char) len;
    }
    else if (len < 65536) {
        *p++ = 0xda;
        *p++ = (unsigned char) (len >> 8);
        *p++ = (unsigned char) len;
    }
    else {
        *p++ = 0xdb;
        for (int shift = 24; shift >= 0; shift -= 8)
            *p++ = (unsigned char) (len >> shift);
    }
    size_t at = (size_t) ((char *) p - out->data);
    if (len)
        memcpy (p, text, len);
    out->size = at + len;
    return at;
}

static bool
s_has_key (s_pass_t *t, size_t keys, const char *name, size_t len)
{
    for (size_t k = keys; k < t->spans_n; k++)
        if (t->spans [k].len == len
            && s_same_bytes (s_span_text (t, &t->spans [k]), name, len))
            return true;
    return false;
}

static int
s_value (s_pass_t *t, size_t first, size_t pending, char kind, int depth,
         s_read_t *read);

//  Push a switch's branch onto an object's uses once its members from
//  keys on have been read: refused when a rule of it names one of them
//  (that member was checked without it) or when it nests a switch.
static int
s_late (s_pass_t *t, size_t keys, s_node_t *branch, int refs)
{
    size_t from = t->uses_n;
    if (s_gather (t, branch, refs, '{', true)
        || s_check_value (t, from, '{', NULL, 0, NULL))
        return -1;
    for (size_t u = from; u < t->uses_n; u++)
        for (size_t k = keys; k < t->spans_n; k++)
            if (s_names (t, t->uses [u].node, &t->spans [k]))
                return -1;
    return 0;
}

//  Decide the object's unresolved switches on property key, just read
//  as value (*undecided counts those left): 0, or -1 when it cannot be
//  compared here (a container).
static int
s_switch (s_pass_t *t, size_t pending, size_t keys, const s_span_t *key,
          const s_read_t *value, size_t *undecided)
{
    //  Nothing here writes the output: its bytes stay where they are.
    const char *name = s_span_text (t, key);
    for (size_t p = pending; p < t->pending_n && *undecided; p++) {
        s_node_t *item = t->pending [p].node;
        if (t->pending [p].done || item->switch_name.len != key->len
            || !s_same_bytes (item->switch_name.name, name, key->len))
            continue;
        t->pending [p].done = true;
        --*undecided;
        bool holds;
        if (value->type == JSON_STRING)
            holds =
                s_text_equal (&item->switch_text, s_span_text (t, &value->span),
                              value->span.len);
        else if (value->json)
            holds = s_equal (&t->ctx, item->switch_value, value->json, 0);
        else
            return -1;
        s_node_t *branch = holds ? item->then_ : item->else_;
        if (branch && s_late (t, keys, branch, t->pending [p].refs))
            return -1;
    }
    return 0;
}

//  The object rules that need all its members: the count, required and
//  dependentRequired.
static int
s_check_members (s_pass_t *t, size_t first, size_t keys, size_t count)
{
    for (size_t u = first; u < t->uses_n; u++) {
        s_node_t *node = t->uses [u].node;
        if (count < node->min_properties || count > node->max_properties)
            return -1;
        for (size_t i = 0; i < node->required_n; i++)
            if (!s_has_key (t, keys, node->required [i].name,
                            node->required [i].len))
                return -1;
        for (size_t i = 0; i < node->dep_required_n; i++) {
            s_dep_required_t *dep = &node->dep_required [i];
            if (!s_has_key (t, keys, dep->name.name, dep->name.len))
                continue;
            for (size_t r = 0; r < dep->required_n; r++)
                if (!s_has_key (t, keys, dep->required [r].name,
                                dep->required [r].len))
                    return -1;
        }
        bool any = node->any_of.n == 0;
        for (size_t i = 0; i < node->any_of.n && !any; i++) {
            s_node_t *item = node->any_of.list [i];
            size_t r = 0;
            while (r < item->required_n
                   && s_has_key (t, keys, item->required [r].name,
                                 item->required [r].len))
                r++;
            any = r == item->required_n;
        }
        if (!any)
            return -1;
    }
    return 0;
}

static int
s_report (s_pass_t *t, const s_span_t *key, const s_read_t *value)
{
    fy_schema_member_t member = { .type = value->type };
    if (value->type == JSON_STRING) {
        member.text = s_span_text (t, &value->span);
        member.len = value->span.len;
    }
    else if (json_is_integer (value->json))
        member.integer = json_integer_value (value->json);
    return t->on_member (t->arg, s_span_text (t, key), key->len, &member);
}

//  Read the next value in the container whose uses start at first: the
//  value of member key, or an item (key NULL).
static int
s_child (s_pass_t *t, size_t first, const s_span_t *key, int depth,
         s_read_t *value)
{
    size_t child = t->uses_n, pending = t->pending_n;
    char kind = fy_json_reader_peek (t->reader);
    int rc = !kind || s_gather_child (t, first, child, key, kind)
             || s_value (t, child, pending, kind, depth + 1, value);
    t->uses_n = child;
    t->pending_n = pending;
    return rc ? -1 : 0;
}

static int
s_members (s_pass_t *t, size_t first, size_t pending, int depth,
           size_t *count_p)
{
    size_t keys = t->spans_n, count = 0, undecided = t->pending_n - pending;
    //  A bit for each key read, from its length and its ends: a key whose
    //  bit is clear is no duplicate, without comparing it with them all.
    uint64_t seen = 0;
    int more = fy_json_reader_enter (t->reader, '{');
    while (more == 1) {
        const char *name;
        size_t len;
        if (fy_json_reader_key (t->reader, &name, &len) || count == S_T_MEMBERS
            || t->spans_n == S_T_SPANS)
            return -1;
        uint64_t bit = len ? 1ULL << ((len * 7 + (unsigned char) name [0]
                                       + (unsigned char) name [len - 1])
                                      & 63)
                           : 1;
        if ((seen & bit) && s_has_key (t, keys, name, len))
            return -1;
        seen |= bit;
        s_span_t key = { s_put_str (t, name, len), len };
        t->spans [t->spans_n++] = key;
        count++;
        s_read_t value = { .json = NULL };
        int rc = s_child (t, first, &key, depth, &value);
        if (!rc && depth == 0 && t->on_member)
            rc = s_report (t, &key, &value);
        if (!rc && undecided)
            rc = s_switch (t, pending, keys, &key, &value, &undecided);
        json_decref (value.json);
        if (rc)
            return -1;
        more = fy_json_reader_next (t->reader);
    }
    if (more < 0)
        return -1;
    //  A switch whose property is absent holds unless it requires it.
    for (size_t p = pending; p < t->pending_n; p++) {
        s_node_t *item = t->pending [p].node;
        s_node_t *branch = item->switch_required ? item->else_ : item->then_;
        if (!t->pending [p].done && branch
            && s_late (t, keys, branch, t->pending [p].refs))
            return -1;
    }
    *count_p = count;
    return s_check_members (t, first, keys, count);
}

//  uniqueItems over the items at spans [items, spans_n), each its bytes
//  in the output. Strings, integers, booleans and null are equal exactly
//  when their msgpack is; anything else is compared as s_is_unique
//  compares it, on the values their msgpack decodes to (what the tree's
//  way validates).
static bool
s_items_unique (s_pass_t *t, size_t items, bool exact)
{
    if (exact) {
        for (size_t i = items; i < t->spans_n; i++)
            for (size_t j = i + 1; j < t->spans_n; j++)
                if (t->spans [i].len == t->spans [j].len
                    && memcmp (s_span_text (t, &t->spans [i]),
                               s_span_text (t, &t->spans [j]), t->spans [i].len)
                           == 0)
                    return false;
        return true;
    }
    json_t *array = json_array ();
    for (size_t i = items; i < t->spans_n; i++) {
        json_t *item = fy_msgpack_decode (s_span_text (t, &t->spans [i]),
                                          t->spans [i].len, NULL);
        assert (item);
        json_array_append_new (array, item);
    }
    bool unique = s_is_unique (&t->ctx, array);
    json_decref (array);
    return unique;
}

static int
s_items (s_pass_t *t, size_t first, int depth, size_t *count_p)
{
    bool unique = false, exact = true;
    for (size_t u = first; u < t->uses_n; u++)
        unique |= t->uses [u].node->unique_items;
    size_t items = t->spans_n, count = 0;
    int more = fy_json_reader_enter (t->reader, '[');
    while (more == 1) {
        size_t at = t->out->size;
        s_read_t value = { .json = NULL };
        int rc = s_child (t, first, NULL, depth, &value);
        json_decref (value.json);
        if (!rc && unique) {
            rc = t->spans_n == S_T_SPANS;
            if (!rc)
                t->spans [t->spans_n++] = (s_span_t) { at, t->out->size - at };
            exact &= value.type != JSON_REAL && value.type != JSON_OBJECT
                     && value.type != JSON_ARRAY;
        }
        if (rc)
            return -1;
        count++;
        more = fy_json_reader_next (t->reader);
    }
    if (more < 0)
        return -1;
    for (size_t u = first; u < t->uses_n; u++)
        if (count < t->uses [u].node->min_items
            || count > t->uses [u].node->max_items)
            return -1;
    *count_p = count;
    return unique && count > 1 && !s_items_unique (t, items, exact) ? -1 : 0;
}

//  An object or an array: one byte kept for its header, written by
//  s_close once the count is known.
static int
s_container (s_pass_t *t, size_t first, size_t pending, char kind, int depth)
{
    if (depth >= S_T_DEPTH || s_check_value (t, first, kind, NULL, 0, NULL))
        return -1;
    size_t header = t->out->size;
    msgpack_sbuffer_write (t->out, "", 1);
    size_t spans = t->spans_n, count = 0;
    int rc = kind == '{' ? s_members (t, first, pending, depth, &count)
                         : s_items (t, first, depth, &count);
    t->spans_n = spans;
    if (rc == 0)
        s_close (t, header, kind == '{', count);
    return rc;
}

//  Read, check and write the next value, whose uses are those from first
//  on and whose switches (an object's) those from pending on.
static int
s_value (s_pass_t *t, size_t first, size_t pending, char kind, int depth,
         s_read_t *read)
{
    if (kind == '{' || kind == '[') {
        read->type = kind == '{' ? JSON_OBJECT : JSON_ARRAY;
        return s_container (t, first, pending, kind, depth);
    }
    if (kind == '"') {
        const char *text;
        size_t len;
        if (fy_json_reader_string (t->reader, &text, &len)
            || s_check_value (t, first, kind, text, len, NULL))
            return -1;
        read->type = JSON_STRING;
        read->span = (s_span_t) { s_put_str (t, text, len), len };
        return 0;
    }
    //  Numbers, true, false and null: few in an event, and read as
    //  fy_json_loadb reads them.
    read->json = fy_json_reader_value (t->reader);
    if (!read->json)
        return -1;
    read->type = json_typeof (read->json);
    if (s_check_value (t, first, kind, NULL, 0, read->json))
        return -1;
    return fy_msgpack_pack (&t->packer, read->json);
}

int
fy_schema_transcode (fy_schema_t *self, const char *data, size_t size,
                     msgpack_sbuffer *out, fy_schema_member_fn *on_member,
                     void *arg)
{
    assert (data || size == 0);
    assert (out);
    //  About 14 KiB, on the stack: no allocation per event.
    s_pass_t pass;
    s_pass_t *t = &pass;
    t->ctx = (s_ctx_t) { .self = self,
                         .err = NULL,
                         .quiet = 1,
                         .match_options = PCRE2_NO_UTF_CHECK };
    t->root = self ? self->root : NULL;
    t->reader = fy_json_reader_new (data, size, NULL);
    t->out = out;
    msgpack_packer_init (&t->packer, out, msgpack_sbuffer_write);
    t->on_member = on_member;
    t->arg = arg;
    t->uses_n = t->pending_n = t->spans_n = 0;
    size_t start = out->size;
    s_read_t read = { .json = NULL };
    int rc = -1;
    char kind = fy_json_reader_peek (t->reader);
    if (kind && (!t->root || s_gather (t, t->root, 0, kind, false) == 0)
        && s_value (t, 0, 0, kind, 0, &read) == 0)
        rc = fy_json_reader_end (t->reader);
    json_decref (read.json);
    fy_json_reader_destroy (&t->reader);
    if (rc)
        out->size = start;
    return rc;
}
