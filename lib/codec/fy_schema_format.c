/*  fy_schema_format: hand-written recognisers for the formats fy_schema
    asserts: RFC 3339 date-time (fy_time_parse's: leap seconds only at
    23:59:60 UTC, and only what PostgreSQL stores) and full-date, RFC 4122
    uuid text, and RFC 5321 mailbox for email. They take a length, not a C string, because instances may carry NUL bytes,
    and accept ASCII only: a Unicode digit is not a digit here. Also the
    one piece of ECMA-262 regex syntax (JSON Schema's dialect) that PCRE2
    does not accept: long General_Category names. */
#include "codec/fy_schema_format.h"
#include "ferry/fy_common.h"
#include "ferry/fy_time.h"
#include "ferry/fy_uuid.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_names [] = { NULL, "date-time", "date", "uuid", "email" };

fy_schema_format_t
fy_schema_format_lookup (const char *name)
{
    for (size_t i = 1; i < sizeof s_names / sizeof s_names [0]; i++)
        if (strcmp (name, s_names [i]) == 0)
            return (fy_schema_format_t) i;
    return FY_SCHEMA_FORMAT_NONE;
}

const char *
fy_schema_format_name (fy_schema_format_t format)
{
    return format == FY_SCHEMA_FORMAT_NONE ? "" : s_names [format];
}

static bool
s_is_digit (char c)
{
    return c >= '0' && c <= '9';
}

static bool
s_is_alpha (char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

//  Exactly count ASCII digits at text, as a number; -1 when not.
static int
s_number (const char *text, int count)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (!s_is_digit (text [i]))
            return -1;
        value = value * 10 + (text [i] - '0');
    }
    return value;
}

static bool
s_is_full_date (const char *text)
{
    int year = s_number (text, 4);
    int month = s_number (text + 5, 2);
    int day = s_number (text + 8, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || text [4] != '-'
        || text [7] != '-')
        return false;
    static const int s_days [] = { 31, 29, 31, 30, 31, 30,
                                   31, 31, 30, 31, 30, 31 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month == 2 && !leap)
        return day <= 28;
    return day <= s_days [month - 1];
}

//  RFC 3339 date-time, narrowed to what PostgreSQL's timestamptz stores
//  (fy_time_parse): ferry's schemas describe rows it will write.
static bool
s_is_date_time (const char *text, size_t len)
{
    int64_t ms;
    return fy_time_parse (text, len, false, &ms) == 0;
}

static bool
s_is_atext (char c)
{
    return s_is_alpha (c) || s_is_digit (c)
           || (c && strchr ("!#$%&'*+-/=?^_`{|}~", c));
}

//  Local-part = Dot-string / Quoted-string; returns its length or 0.
static size_t
s_local_part (const char *text, size_t len)
{
    size_t at = 0;
    if (len && text [0] == '"') {
        for (at = 1; at < len && text [at] != '"'; at++) {
            unsigned char c = (unsigned char) text [at];
            if (c == '\\') {
                at++;
                if (at >= len || text [at] < 32 || text [at] > 126)
                    return 0;
            }
            else if (c < 32 || c > 126)
                return 0;
        }
        return at < len ? at + 1 : 0;
    }
    //  Atoms joined by single dots, no dot first or last.
    while (true) {
        size_t atom = 0;
        while (at + atom < len && s_is_atext (text [at + atom]))
            atom++;
        if (atom == 0)
            return 0;
        at += atom;
        if (at < len && text [at] == '.')
            at++;
        else
            return at;
    }
}

static bool
s_is_domain (const char *text, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || text [i] == '.') {
            if (label == 0 || label > 63 || text [i - 1] == '-')
                return false;
            label = 0;
        }
        else if (s_is_alpha (text [i]) || s_is_digit (text [i])
                 || (text [i] == '-' && label > 0))
            label++;
        else
            return false;
    }
    return true;
}

static bool
s_is_address_literal (const char *text, size_t len)
{
    char buffer [64];
    unsigned char address [16];
    if (len < 3 || text [len - 1] != ']' || len - 2 >= sizeof buffer)
        return false;
    memcpy (buffer, text + 1, len - 2);
    buffer [len - 2] = 0;
    if (strlen (buffer) != len - 2)
        return false;           //  a NUL inside
    if (strncmp (buffer, "IPv6:", 5) == 0)
        return inet_pton (AF_INET6, buffer + 5, address) == 1;
    return inet_pton (AF_INET, buffer, address) == 1;
}

static bool
s_is_email (const char *text, size_t len)
{
    size_t local = s_local_part (text, len);
    if (local == 0 || local > 64 || local >= len || text [local] != '@')
        return false;
    const char *domain = text + local + 1;
    size_t domain_len = len - local - 1;
    if (domain_len && domain [0] == '[')
        return s_is_address_literal (domain, domain_len);
    return s_is_domain (domain, domain_len);
}

bool
fy_schema_format_is_valid (fy_schema_format_t format, const char *text,
                           size_t len)
{
    switch (format) {
        case FY_SCHEMA_FORMAT_DATE_TIME:
            return s_is_date_time (text, len);
        case FY_SCHEMA_FORMAT_DATE:
            return len == 10 && s_is_full_date (text);
        case FY_SCHEMA_FORMAT_UUID:
            return fy_uuid_is_valid (text, len);
        case FY_SCHEMA_FORMAT_EMAIL:
            return s_is_email (text, len);
        case FY_SCHEMA_FORMAT_NONE:
            break;
    }
    return true;
}

//  General_Category long names (Unicode PropertyValueAliases.txt) and the
//  short names PCRE2 accepts.
static const char *s_categories [][2] = { { "Other", "C" },
                                          { "Control", "Cc" },
                                          { "Format", "Cf" },
                                          { "Unassigned", "Cn" },
                                          { "Private_Use", "Co" },
                                          { "Surrogate", "Cs" },
                                          { "Letter", "L" },
                                          { "Cased_Letter", "L&" },
                                          { "LC", "L&" },
                                          { "Lowercase_Letter", "Ll" },
                                          { "Modifier_Letter", "Lm" },
                                          { "Other_Letter", "Lo" },
                                          { "Titlecase_Letter", "Lt" },
                                          { "Uppercase_Letter", "Lu" },
                                          { "Mark", "M" },
                                          { "Combining_Mark", "M" },
                                          { "Spacing_Mark", "Mc" },
                                          { "Enclosing_Mark", "Me" },
                                          { "Nonspacing_Mark", "Mn" },
                                          { "Number", "N" },
                                          { "Decimal_Number", "Nd" },
                                          { "digit", "Nd" },
                                          { "Letter_Number", "Nl" },
                                          { "Other_Number", "No" },
                                          { "Punctuation", "P" },
                                          { "punct", "P" },
                                          { "Connector_Punctuation", "Pc" },
                                          { "Dash_Punctuation", "Pd" },
                                          { "Close_Punctuation", "Pe" },
                                          { "Final_Punctuation", "Pf" },
                                          { "Initial_Punctuation", "Pi" },
                                          { "Other_Punctuation", "Po" },
                                          { "Open_Punctuation", "Ps" },
                                          { "Symbol", "S" },
                                          { "Currency_Symbol", "Sc" },
                                          { "Modifier_Symbol", "Sk" },
                                          { "Math_Symbol", "Sm" },
                                          { "Other_Symbol", "So" },
                                          { "Separator", "Z" },
                                          { "Line_Separator", "Zl" },
                                          { "Paragraph_Separator", "Zp" },
                                          { "Space_Separator", "Zs" },
                                          { NULL, NULL } };

//  The PCRE2 name for the property name of len bytes, or NULL to keep it.
static const char *
s_category (const char *name, size_t len)
{
    static const char *s_prefixes [] = { "General_Category=", "gc=", NULL };
    for (const char **prefix = s_prefixes; *prefix; prefix++) {
        size_t skip = strlen (*prefix);
        if (len > skip && strncmp (name, *prefix, skip) == 0) {
            const char *known = s_category (name + skip, len - skip);
            //  A short name after the prefix is already right without it.
            if (known)
                return known;
            name += skip;
            len -= skip;
            for (size_t i = 0; s_categories [i][0]; i++)
                if (strlen (s_categories [i][1]) == len
                    && strncmp (s_categories [i][1], name, len) == 0)
                    return s_categories [i][1];
            return NULL;
        }
    }
    for (size_t i = 0; s_categories [i][0]; i++)
        if (strlen (s_categories [i][0]) == len
            && strncmp (s_categories [i][0], name, len) == 0)
            return s_categories [i][1];
    return NULL;
}

char *
fy_schema_regex_translate (const char *source, size_t len, size_t *out_len)
{
    char *out = NULL;
    size_t at = 0;  //  bytes of out written
    size_t copied = 0;  //  bytes of source consumed into out
    for (size_t i = 0; i + 1 < len; i++) {
        if (source [i] != '\\')
            continue;
        char kind = source [i + 1];
        const char *close = i + 2 < len && source [i + 2] == '{'
                                ? memchr (source + i + 3, '}', len - i - 3)
                                : NULL;
        const char *name = source + i + 3;
        const char *short_name =
            (kind == 'p' || kind == 'P') && close
                ? s_category (name, (size_t) (close - name))
                : NULL;
        if (short_name) {
            if (!out)
                out = fy_xmalloc (len + 1);
            //  Short names are never longer than what they replace.
            memcpy (out + at, source + copied, i - copied);
            at += i - copied;
            at += (size_t) snprintf (out + at, len + 1 - at, "\\%c{%s}", kind,
                                     short_name);
            copied = (size_t) (close - source) + 1;
            i = copied - 1;
        }
        else
            i++;  //  skip the escaped character
    }
    if (!out)
        return NULL;
    memcpy (out + at, source + copied, len - copied);
    at += len - copied;
    out [at] = 0;
    *out_len = at;
    return out;
}

//  --------------------------------------------------------------------
//  Simple patterns

//  Atoms and counts kept small: a UUID's pattern has nine atoms.
#define S_SIMPLE_ATOMS 32
#define S_SIMPLE_COUNT 1000

typedef struct {
    uint64_t bits [2];  //  the ASCII characters it takes
    size_t min, max;  //  max SIZE_MAX: no bound
} s_atom_t;

struct fy_schema_simple {
    size_t count;
    s_atom_t atoms [S_SIMPLE_ATOMS];
    //  By byte, the atoms that take it (bit i: atom i): a fixed run is
    //  matched with one AND per byte.
    uint32_t takers [256];
};

static void
s_take (s_atom_t *atom, unsigned lo, unsigned hi)
{
    for (unsigned c = lo; c <= hi; c++)
        atom->bits [c >> 6] |= 1ULL << (c & 63);
}

//  ASCII punctuation, which an escape makes stand for itself.
static bool
s_is_punct (char c)
{
    return c && strchr ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", c);
}

//  A character standing for itself: printable ASCII that is no syntax
//  (syntax is the punctuation given). 0 for anything else.
static bool
s_is_plain (char c, const char *syntax)
{
    return c > 0x20 && c < 0x7f && !strchr (syntax, c);
}

//  The character at *p_p a class range may start or end with, moved
//  past: plain, or punctuation escaped. -1 for anything else (\d is
//  handled by the caller; \w, \s, \b, \u... reach beyond ASCII in
//  ECMA-262 or need a real engine).
static int
s_class_char (const char **p_p, const char *end)
{
    const char *p = *p_p;
    if (*p == '\\') {
        if (end - p < 2 || !s_is_punct (p [1]))
            return -1;
        *p_p = p + 2;
        return (unsigned char) p [1];
    }
    if (!s_is_plain (*p, "[]\\"))
        return -1;
    *p_p = p + 1;
    return (unsigned char) *p;
}

//  A class [...] after its opening bracket at *p_p; moved past it.
static int
s_class (s_atom_t *atom, const char **p_p, const char *end)
{
    const char *p = *p_p;
    if (p < end && *p == '^')
        return -1;
    while (p < end && *p != ']') {
        if (end - p >= 2 && p [0] == '\\' && p [1] == 'd') {
            s_take (atom, '0', '9');
            p += 2;
            continue;
        }
        int lo = s_class_char (&p, end), hi = lo;
        if (lo < 0)
            return -1;
        if (end - p >= 2 && *p == '-' && p [1] != ']') {
            p++;
            hi = s_class_char (&p, end);
            if (hi < lo)
                return -1;
        }
        s_take (atom, (unsigned) lo, (unsigned) hi);
    }
    if (p == end || (atom->bits [0] | atom->bits [1]) == 0)
        return -1;
    *p_p = p + 1;
    return 0;
}

//  A decimal count of at most S_SIMPLE_COUNT at *p_p; moved past it.
static int
s_count (const char **p_p, const char *end, size_t *count)
{
    const char *p = *p_p;
    size_t value = 0;
    while (p < end && *p >= '0' && *p <= '9' && value <= S_SIMPLE_COUNT)
        value = value * 10 + (size_t) (*p++ - '0');
    if (p == *p_p || value > S_SIMPLE_COUNT)
        return -1;
    *p_p = p;
    *count = value;
    return 0;
}

//  The quantifier after an atom, if any: *, +, ?, {n}, {n,}, {n,m}.
static int
s_quantifier (s_atom_t *atom, const char **p_p, const char *end)
{
    const char *p = *p_p;
    atom->min = atom->max = 1;
    if (p == end)
        return 0;
    if (*p == '*' || *p == '+' || *p == '?') {
        atom->min = *p == '+';
        atom->max = *p == '?' ? 1 : SIZE_MAX;
        p++;
    }
    else if (*p == '{') {
        p++;
        if (s_count (&p, end, &atom->min))
            return -1;
        atom->max = atom->min;
        if (p < end && *p == ',') {
            p++;
            atom->max = SIZE_MAX;
            if (p < end && *p != '}'
                && (s_count (&p, end, &atom->max) || atom->max < atom->min))
                return -1;
        }
        if (p == end || *p++ != '}')
            return -1;
    }
    else
        return 0;
    //  A lazy or doubled quantifier: not this grammar.
    if (p < end && (*p == '?' || *p == '*' || *p == '+' || *p == '{'))
        return -1;
    *p_p = p;
    return 0;
}

//  No run that could take fewer or more characters shares one with an
//  atom that could come right after it: then a run takes all it can.
static bool
s_deterministic (const fy_schema_simple_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        const s_atom_t *atom = &self->atoms [i];
        if (atom->min == atom->max)
            continue;
        for (size_t j = i + 1; j < self->count; j++) {
            const s_atom_t *next = &self->atoms [j];
            if ((atom->bits [0] & next->bits [0])
                || (atom->bits [1] & next->bits [1]))
                return false;
            if (next->min > 0)
                break;
        }
    }
    return true;
}

fy_schema_simple_t *
fy_schema_simple_new (const char *source, size_t len)
{
    if (len < 2 || source [0] != '^' || source [len - 1] != '$')
        return NULL;
    const char *p = source + 1, *end = source + len - 1;
    fy_schema_simple_t *self = fy_xcalloc (1, sizeof *self);
    while (p < end) {
        if (self->count == S_SIMPLE_ATOMS)
            goto refuse;
        s_atom_t *atom = &self->atoms [self->count++];
        if (*p == '[') {
            p++;
            if (s_class (atom, &p, end))
                goto refuse;
        }
        else if (*p == '\\' && end - p >= 2 && p [1] == 'd') {
            s_take (atom, '0', '9');
            p += 2;
        }
        else {
            int c = *p == '\\'                         ? s_class_char (&p, end)
                    : s_is_plain (*p, ".()|?*+{}[]^$") ? (unsigned char) *p++
                                                       : -1;
            if (c < 0)
                goto refuse;
            s_take (atom, (unsigned) c, (unsigned) c);
        }
        if (s_quantifier (atom, &p, end))
            goto refuse;
    }
    if (s_deterministic (self)) {
        for (size_t i = 0; i < self->count; i++)
            for (unsigned c = 0; c < 128; c++)
                if ((self->atoms [i].bits [c >> 6] >> (c & 63)) & 1)
                    self->takers [c] |= 1u << i;
        return self;
    }
refuse:
    free (self);
    return NULL;
}

void
fy_schema_simple_destroy (fy_schema_simple_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

bool
fy_schema_simple_match (const fy_schema_simple_t *self, const char *text,
                        size_t len)
{
    const unsigned char *p = (const unsigned char *) text, *end = p + len;
    for (size_t i = 0; i < self->count; i++) {
        const s_atom_t *atom = &self->atoms [i];
        uint32_t bit = 1u << i;
        if (atom->min == atom->max) {
            if ((size_t) (end - p) < atom->min)
                return false;
            uint32_t all = bit;
            for (size_t k = 0; k < atom->min; k++)
                all &= self->takers [p [k]];
            if (!all)
                return false;
            p += atom->min;
            continue;
        }
        size_t taken = 0;
        while (taken < atom->max && p < end && (self->takers [*p] & bit)) {
            taken++;
            p++;
        }
        if (taken < atom->min)
            return false;
    }
    return p == end;
}
