/*  fy_json: recursive descent over the bytes in place (see fy_json.h for
    why it exists and what it refuses). A string without escapes becomes
    a jansson string straight from the input; one with escapes is decoded
    into a scratch buffer the parse reuses. Keys are checked for
    duplicates before their value is read, so the error points at the
    second key. Line and column are counted only when there is an error. */
#include "ferry/fy_json.h"
#include "ferry/fy_msgpack.h"
#include "core/fy_bytes.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *start;
    const char *p;              //  Next byte to read
    const char *end;
    fy_error_t *err;
    bool failed;
    int depth;
    char *scratch;              //  Unescaped strings, reused
    size_t scratch_size;
} s_parser_t;

//  Bytes a string can hold as they are: not a quote, a backslash, a
//  control character or part of a multi-byte sequence (0x22, 0x5c,
//  below 0x20 and from 0x80 are 0).
static const bool s_plain [256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};

static json_t *
s_value (s_parser_t *self);

static json_t *
s_fail (s_parser_t *self, const char *at, const char *reason)
{
    if (!self->failed) {
        self->failed = true;
        int line = 1;
        const char *line_start = self->start;
        for (const char *q = self->start; q < at; q++)
            if (*q == '\n') {
                line++;
                line_start = q + 1;
            }
        fy_error_set (self->err, "invalid JSON at %d:%zu: %s", line,
                      (size_t) (at - line_start) + 1, reason);
    }
    return NULL;
}

//  jansson returns NULL only when malloc fails; ferry treats that as
//  fatal everywhere (fy_xmalloc), so does this.
static json_t *
s_new (json_t *value)
{
    if (!value)
        abort ();
    return value;
}

static void
s_skip_space (s_parser_t *self)
{
    const char *p = self->p;
    while (p < self->end
           && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    self->p = p;
}

//  Room for more bytes at out in the scratch buffer; returns out, moved
//  with the buffer. Grown as the decoding needs it, so malloc is asked
//  for about the string's size, never the rest of the document's (a large
//  request makes glibc consolidate its free lists), without a pass to find
//  the string's end first.
static char *
s_room (s_parser_t *self, char *out, size_t more)
{
    size_t used = out ? (size_t) (out - self->scratch) : 0;
    if (used + more <= self->scratch_size)
        return self->scratch + used;
    size_t size = self->scratch_size ? self->scratch_size * 2 : 256;
    while (size < used + more)
        size *= 2;
    self->scratch = fy_xrealloc (self->scratch, size);
    self->scratch_size = size;
    return self->scratch + used;
}

static int
s_hex4 (const char *p, const char *end, unsigned *code)
{
    if (end - p < 4)
        return -1;
    unsigned value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p [i];
        value <<= 4;
        if (c >= '0' && c <= '9')
            value |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f')
            value |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            value |= (unsigned) (c - 'A' + 10);
        else
            return -1;
    }
    *code = value;
    return 0;
}

//  Decodes the \u escape at p (at the backslash) to *out_p, advanced;
//  returns the bytes consumed, or 0 after s_fail.
static size_t
s_unicode_escape (s_parser_t *self, const char *p, char **out_p)
{
    unsigned code;
    if (s_hex4 (p + 2, self->end, &code)) {
        s_fail (self, p, "invalid \\u escape");
        return 0;
    }
    size_t consumed = 6;
    if (code == 0) {
        s_fail (self, p, "\\u0000 is not allowed");
        return 0;
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
        s_fail (self, p, "lone low surrogate in \\u escape");
        return 0;
    }
    if (code >= 0xd800 && code <= 0xdbff) {
        unsigned low;
        if (self->end - p < 12 || p [6] != '\\' || p [7] != 'u'
            || s_hex4 (p + 8, self->end, &low) || low < 0xdc00
            || low > 0xdfff) {
            s_fail (self, p, "lone high surrogate in \\u escape");
            return 0;
        }
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        consumed = 12;
    }
    char *out = *out_p;
    if (code < 0x80)
        *out++ = (char) code;
    else if (code < 0x800) {
        *out++ = (char) (0xc0 | (code >> 6));
        *out++ = (char) (0x80 | (code & 0x3f));
    }
    else if (code < 0x10000) {
        *out++ = (char) (0xe0 | (code >> 12));
        *out++ = (char) (0x80 | ((code >> 6) & 0x3f));
        *out++ = (char) (0x80 | (code & 0x3f));
    }
    else {
        *out++ = (char) (0xf0 | (code >> 18));
        *out++ = (char) (0x80 | ((code >> 12) & 0x3f));
        *out++ = (char) (0x80 | ((code >> 6) & 0x3f));
        *out++ = (char) (0x80 | (code & 0x3f));
    }
    *out_p = out;
    return consumed;
}

//  The length of the byte sequence at p that a string holds as it is but
//  is not plain: a UTF-8 character. 0 after s_fail for a control
//  character or invalid UTF-8.
static size_t
s_raw_length (s_parser_t *self, const char *p)
{
    if ((unsigned char) *p < 0x20) {
        s_fail (self, p, "control character in string");
        return 0;
    }
    size_t length = fy_utf8_length (p, (size_t) (self->end - p));
    if (!length)
        s_fail (self, p, "invalid UTF-8");
    return length;
}

//  The bytes of word that are not plain (s_plain), each as its high bit:
//  below 0x20, from 0x80, a quote, a backslash, eight tested at once. A
//  byte after one that is not plain may be marked too (a borrow carries
//  up), never one before it: the lowest mark is exact.
static inline uint64_t
s_not_plain (uint64_t word)
{
    const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
    uint64_t quote = word ^ (ones * '"'), backslash = word ^ (ones * '\\');
    uint64_t below = (word - ones * 0x20) & ~word;
    uint64_t zero =
        ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash);
    return (below | zero | word) & high;
}

//  The end of the plain bytes from p: eight at a time, the first byte
//  that is not plain found from its mark (fy_load_le puts the first
//  byte lowest), the last few one by one.
static inline const char *
s_plain_run (const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t marks = s_not_plain (fy_load_le (p, 8));
        if (marks)
            return p + (__builtin_ctzll (marks) >> 3);
        p += 8;
    }
    while (p < end && s_plain [(unsigned char) *p])
        p++;
    return p;
}

//  The rest of a string from its first backslash at p, decoded into the
//  scratch buffer after the plain bytes before it.
static int
s_string_escaped (s_parser_t *self, const char *begin, const char *p,
                  const char **text, size_t *len)
{
    const char *end = self->end;
    char *out = s_room (self, NULL, (size_t) (p - begin) + 4);
    memcpy (out, begin, (size_t) (p - begin));
    out += p - begin;
    for (;;) {
        const char *run = p;
        p = s_plain_run (p, end);
        //  The run, and the escape or character after it: at most four
        //  bytes decoded.
        out = s_room (self, out, (size_t) (p - run) + 4);
        memcpy (out, run, (size_t) (p - run));
        out += p - run;
        if (p == end) {
            s_fail (self, p, "unterminated string");
            return -1;
        }
        unsigned char c = (unsigned char) *p;
        if (c == '"')
            break;
        if (c == '\\') {
            if (end - p < 2) {
                s_fail (self, p, "unterminated string");
                return -1;
            }
            char decoded;
            switch (p [1]) {
                case '"':
                    decoded = '"';
                    break;
                case '\\':
                    decoded = '\\';
                    break;
                case '/':
                    decoded = '/';
                    break;
                case 'b':
                    decoded = '\b';
                    break;
                case 'f':
                    decoded = '\f';
                    break;
                case 'n':
                    decoded = '\n';
                    break;
                case 'r':
                    decoded = '\r';
                    break;
                case 't':
                    decoded = '\t';
                    break;
                case 'u': {
                    size_t consumed = s_unicode_escape (self, p, &out);
                    if (!consumed)
                        return -1;
                    p += consumed;
                    continue;
                }
                default:
                    s_fail (self, p, "invalid escape");
                    return -1;
            }
            *out++ = decoded;
            p += 2;
        }
        else {
            size_t length = s_raw_length (self, p);
            if (!length)
                return -1;
            memcpy (out, p, length);
            out += length;
            p += length;
        }
    }
    self->p = p + 1;
    *text = self->scratch;
    *len = (size_t) (out - self->scratch);
    return 0;
}

//  A string whose opening quote is behind self->p. *text points into the
//  input when the string had no escapes, else into the scratch buffer
//  (valid until the next escaped string).
static int
s_string (s_parser_t *self, const char **text, size_t *len)
{
    const char *begin = self->p, *p = begin, *end = self->end;
    for (;;) {
        p = s_plain_run (p, end);
        if (p == end) {
            s_fail (self, p, "unterminated string");
            return -1;
        }
        unsigned char c = (unsigned char) *p;
        if (c == '"')
            break;
        if (c == '\\')
            return s_string_escaped (self, begin, p, text, len);
        size_t length = s_raw_length (self, p);
        if (!length)
            return -1;
        p += length;
    }
    self->p = p + 1;
    *text = begin;
    *len = (size_t) (p - begin);
    return 0;
}

static locale_t s_c_locale;
static pthread_once_t s_c_locale_once = PTHREAD_ONCE_INIT;

static void
s_c_locale_init (void)
{
    s_c_locale = newlocale (LC_ALL_MASK, "C", (locale_t) 0);
    if (!s_c_locale)
        abort ();
}

static bool
s_digit (const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

static json_t *
s_number (s_parser_t *self)
{
    const char *begin = self->p, *p = begin, *end = self->end;
    bool negative = p < end && *p == '-';
    if (negative)
        p++;
    const char *digits = p;
    if (!s_digit (p, end))
        return s_fail (self, begin, "invalid number");
    if (*p == '0')
        p++;
    else
        while (s_digit (p, end))
            p++;
    const char *digits_end = p;
    bool real = false;
    if (p < end && *p == '.') {
        real = true;
        p++;
        if (!s_digit (p, end))
            return s_fail (self, begin, "invalid number");
        while (s_digit (p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!s_digit (p, end))
            return s_fail (self, begin, "invalid number");
        while (s_digit (p, end))
            p++;
    }
    if (!real) {
        uint64_t limit = negative ? (uint64_t) INT64_MAX + 1 : INT64_MAX;
        uint64_t value = 0;
        for (const char *q = digits; q < digits_end; q++) {
            unsigned digit = (unsigned) (*q - '0');
            if (value > (limit - digit) / 10)
                return s_fail (self, begin, "integer out of range");
            value = value * 10 + digit;
        }
        self->p = p;
        json_int_t integer =
            negative ? (value == limit ? INT64_MIN : -(json_int_t) value)
                     : (json_int_t) value;
        return s_new (json_integer (integer));
    }
    //  strtod needs a terminated string and a '.' decimal point whatever
    //  the program's locale.
    size_t len = (size_t) (p - begin);
    char small [64];
    char *copy = len < sizeof small ? small : fy_xmalloc (len + 1);
    memcpy (copy, begin, len);
    copy [len] = 0;
    pthread_once (&s_c_locale_once, s_c_locale_init);
    double value = strtod_l (copy, NULL, s_c_locale);
    if (copy != small)
        free (copy);
    if (!isfinite (value))
        return s_fail (self, begin, "real number out of range");
    self->p = p;
    return s_new (json_real (value));
}

static json_t *
s_literal (s_parser_t *self, const char *word, size_t len, json_t *value)
{
    if ((size_t) (self->end - self->p) < len
        || memcmp (self->p, word, len) != 0)
        return s_fail (self, self->p, "invalid literal");
    self->p += len;
    return value;
}

//  Enters an object or array at its opening byte: 1 when it is empty
//  (the closer is read too), 0 when members follow, -1 (failed) when it
//  nests too deep.
static int
s_open (s_parser_t *self, char closer)
{
    const char *open = self->p++;
    if (++self->depth > FY_JSON_MAX_DEPTH) {
        s_fail (self, open, "nested too deep");
        return -1;
    }
    s_skip_space (self);
    if (self->p < self->end && *self->p == closer) {
        self->p++;
        self->depth--;
        return 1;
    }
    return 0;
}

//  After a member or element: 1 when a comma says another follows, 0
//  when the closer ends the container, -1 (failed) otherwise.
static int
s_next (s_parser_t *self, char closer, const char *expected)
{
    s_skip_space (self);
    if (self->p < self->end && *self->p == ',') {
        self->p++;
        s_skip_space (self);
        return 1;
    }
    if (self->p < self->end && *self->p == closer) {
        self->p++;
        self->depth--;
        return 0;
    }
    s_fail (self, self->p, expected);
    return -1;
}

//  Reads "key": up to the value; 0, or -1 after s_fail. *at_p is where
//  the key began, for an error about it.
static int
s_key (s_parser_t *self, const char **key, size_t *key_len, const char **at_p)
{
    if (self->p == self->end || *self->p != '"') {
        s_fail (self, self->p, "expected a string key");
        return -1;
    }
    *at_p = self->p++;
    if (s_string (self, key, key_len))
        return -1;
    s_skip_space (self);
    if (self->p == self->end || *self->p != ':') {
        s_fail (self, self->p, "expected ':'");
        return -1;
    }
    self->p++;
    s_skip_space (self);
    return 0;
}

//  Reads "key": value into object; 0, or -1 after s_fail.
static int
s_member (s_parser_t *self, json_t *object)
{
    const char *at, *key;
    size_t key_len;
    if (s_key (self, &key, &key_len, &at))
        return -1;
    if (json_object_getn (object, key, key_len)) {
        s_fail (self, at, "duplicate object key");
        return -1;
    }
    //  An escaped key lives in the scratch buffer, which the value may
    //  reuse: keep a copy of it.
    char *owned = NULL;
    if (key == self->scratch) {
        owned = fy_xmalloc (key_len + 1);
        memcpy (owned, key, key_len);
        key = owned;
    }
    json_t *value = s_value (self);
    if (value)
        json_object_setn_new_nocheck (object, key, key_len, value);
    free (owned);
    return value ? 0 : -1;
}

static json_t *
s_object (s_parser_t *self)
{
    int rc = s_open (self, '}');
    if (rc < 0)
        return NULL;
    json_t *object = s_new (json_object ());
    if (rc == 1)
        return object;
    do {
        if (s_member (self, object))
            break;
        rc = s_next (self, '}', "expected ',' or '}'");
        if (rc == 0)
            return object;
    } while (rc == 1);
    json_decref (object);
    return NULL;
}

static json_t *
s_array (s_parser_t *self)
{
    int rc = s_open (self, ']');
    if (rc < 0)
        return NULL;
    json_t *array = s_new (json_array ());
    if (rc == 1)
        return array;
    do {
        json_t *value = s_value (self);
        if (!value)
            break;
        json_array_append_new (array, value);
        rc = s_next (self, ']', "expected ',' or ']'");
        if (rc == 0)
            return array;
    } while (rc == 1);
    json_decref (array);
    return NULL;
}

static json_t *
s_value (s_parser_t *self)
{
    if (self->p == self->end)
        return s_fail (self, self->p, "unexpected end of input");
    switch (*self->p) {
        case '{':
            return s_object (self);
        case '[':
            return s_array (self);
        case '"': {
            self->p++;
            const char *text;
            size_t len;
            if (s_string (self, &text, &len))
                return NULL;
            return s_new (json_stringn_nocheck (text, len));
        }
        case 't':
            return s_literal (self, "true", 4, json_true ());
        case 'f':
            return s_literal (self, "false", 5, json_false ());
        case 'n':
            return s_literal (self, "null", 4, json_null ());
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9':
            return s_number (self);
        default:
            return s_fail (self, self->p, "unexpected character");
    }
}

json_t *
fy_json_loadb (const char *data, size_t size, fy_error_t *err)
{
    assert (data || size == 0);
    s_parser_t parser = {
        .start = data, .p = data, .end = data + size, .err = err
    };
    s_skip_space (&parser);
    json_t *root = s_value (&parser);
    if (root) {
        s_skip_space (&parser);
        if (parser.p != parser.end) {
            s_fail (&parser, parser.p, "unexpected text after the value");
            json_decref (root);
            root = NULL;
        }
    }
    free (parser.scratch);
    if (!root)
        errno = EBADMSG;
    return root;
}

json_t *
fy_json_loads (const char *text, fy_error_t *err)
{
    assert (text);
    return fy_json_loadb (text, strlen (text), err);
}

//  --------------------------------------------------------------------
//  The writer

typedef struct {
    char *data;
    size_t len, size;
    unsigned flags;
} s_out_t;

static void
s_out_need (s_out_t *out, size_t more)
{
    if (out->len + more + 1 > out->size) {
        while (out->len + more + 1 > out->size)
            out->size *= 2;
        out->data = fy_xrealloc (out->data, out->size);
    }
}

static void
s_out_add (s_out_t *out, const char *data, size_t len)
{
    s_out_need (out, len);
    memcpy (out->data + out->len, data, len);
    out->len += len;
}

//  Escapes as jansson does without JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH:
//  quote, backslash and control characters only, UTF-8 passed through.
static void
s_out_string (s_out_t *out, const char *text, size_t len)
{
    static const char hex [] = "0123456789ABCDEF";
    s_out_need (out, len + 2);
    out->data [out->len++] = '"';
    const char *end = text + len;
    while (text < end) {
        const char *run = text;
        while (text < end
               && (s_plain [(unsigned char) *text]
                   || (unsigned char) *text >= 0x80))
            text++;
        s_out_add (out, run, (size_t) (text - run));
        if (text == end)
            break;
        unsigned char c = (unsigned char) *text++;
        char escape [6] = { '\\', 0 };
        size_t escape_len = 2;
        switch (c) {
            case '"':
                escape [1] = '"';
                break;
            case '\\':
                escape [1] = '\\';
                break;
            case '\b':
                escape [1] = 'b';
                break;
            case '\f':
                escape [1] = 'f';
                break;
            case '\n':
                escape [1] = 'n';
                break;
            case '\r':
                escape [1] = 'r';
                break;
            case '\t':
                escape [1] = 't';
                break;
            default:
                memcpy (escape + 1, "u00", 3);
                escape [4] = hex [c >> 4];
                escape [5] = hex [c & 15];
                escape_len = 6;
        }
        s_out_add (out, escape, escape_len);
    }
    s_out_need (out, 1);
    out->data [out->len++] = '"';
}

//  "%.17g" with jansson's touches: a ".0" when it would read back as an
//  integer, and no '+' or leading zeros in the exponent.
//  jansson holds only finite reals (json_real refuses the others).
static void
s_out_real (s_out_t *out, double value)
{
    char text [64];
    pthread_once (&s_c_locale_once, s_c_locale_init);
    locale_t saved = uselocale (s_c_locale);
    int len = snprintf (text, sizeof text - 3, "%.17g", value);
    uselocale (saved);
    char *exponent = strchr (text, 'e');
    if (!exponent && !strchr (text, '.')) {
        memcpy (text + len, ".0", 3);
        len += 2;
    }
    if (exponent) {
        char *digits = exponent + 1;
        char *from = digits;
        if (*from == '-')
            digits = ++from;
        else if (*from == '+')
            from++;
        while (*from == '0' && from [1])
            from++;
        memmove (digits, from, strlen (from) + 1);
        len = (int) strlen (text);
    }
    s_out_add (out, text, (size_t) len);
}

static int
s_key_compare (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static void
s_out_value (s_out_t *out, const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT: {
            size_t count = json_object_size (value);
            const char **keys = NULL;
            size_t n = 0;
            const char *key;
            json_t *member;
            if (out->flags & FY_JSON_SORT_KEYS && count > 1) {
                keys = fy_xmalloc (count * sizeof *keys);
                json_object_foreach ((json_t *) value, key, member) keys [n++] =
                    key;
                qsort (keys, n, sizeof *keys, s_key_compare);
            }
            s_out_add (out, "{", 1);
            size_t i = 0;
            void *iter = json_object_iter ((json_t *) value);
            while (keys ? i < n : iter != NULL) {
                key = keys ? keys [i] : json_object_iter_key (iter);
                member = keys ? json_object_get (value, key)
                              : json_object_iter_value (iter);
                size_t key_len =
                    keys ? strlen (key) : json_object_iter_key_len (iter);
                if (i++)
                    s_out_add (out, ",", 1);
                s_out_string (out, key, key_len);
                s_out_add (out, ":", 1);
                s_out_value (out, member);
                if (!keys)
                    iter = json_object_iter_next ((json_t *) value, iter);
            }
            free (keys);
            s_out_add (out, "}", 1);
            return;
        }
        case JSON_ARRAY: {
            s_out_add (out, "[", 1);
            for (size_t i = 0; i < json_array_size (value); i++) {
                if (i)
                    s_out_add (out, ",", 1);
                s_out_value (out, json_array_get (value, i));
            }
            s_out_add (out, "]", 1);
            return;
        }
        case JSON_STRING:
            s_out_string (out, json_string_value (value),
                          json_string_length (value));
            return;
        case JSON_INTEGER: {
            char text [24];
            int len = snprintf (text, sizeof text, "%" JSON_INTEGER_FORMAT,
                                json_integer_value (value));
            s_out_add (out, text, (size_t) len);
            return;
        }
        case JSON_REAL:
            s_out_real (out, json_real_value (value));
            return;
        case JSON_TRUE:
            s_out_add (out, "true", 4);
            return;
        case JSON_FALSE:
            s_out_add (out, "false", 5);
            return;
        default:
            s_out_add (out, "null", 4);
    }
}

//  msgpack-c leaves ptr NULL for an empty string.
static const char *
s_msgpack_str (const msgpack_object_str *str)
{
    return str->size ? str->ptr : "";
}

//  A checked msgpack object (fy_msgpack_check_object) as s_out_value
//  writes the tree it would make.
static void
s_out_msgpack (s_out_t *out, const msgpack_object *object)
{
    switch (object->type) {
        case MSGPACK_OBJECT_MAP: {
            s_out_add (out, "{", 1);
            for (uint32_t i = 0; i < object->via.map.size; i++) {
                const msgpack_object_kv *pair = &object->via.map.ptr [i];
                if (i)
                    s_out_add (out, ",", 1);
                s_out_string (out, s_msgpack_str (&pair->key.via.str),
                              pair->key.via.str.size);
                s_out_add (out, ":", 1);
                s_out_msgpack (out, &pair->val);
            }
            s_out_add (out, "}", 1);
            return;
        }
        case MSGPACK_OBJECT_ARRAY: {
            s_out_add (out, "[", 1);
            for (uint32_t i = 0; i < object->via.array.size; i++) {
                if (i)
                    s_out_add (out, ",", 1);
                s_out_msgpack (out, &object->via.array.ptr [i]);
            }
            s_out_add (out, "]", 1);
            return;
        }
        case MSGPACK_OBJECT_STR:
            s_out_string (out, s_msgpack_str (&object->via.str),
                          object->via.str.size);
            return;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: {
            char text [24];
            int len =
                object->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                    ? snprintf (text, sizeof text, "%" PRIu64, object->via.u64)
                    : snprintf (text, sizeof text, "%" PRId64, object->via.i64);
            s_out_add (out, text, (size_t) len);
            return;
        }
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            s_out_real (out, object->via.f64);
            return;
        case MSGPACK_OBJECT_BOOLEAN:
            if (object->via.boolean)
                s_out_add (out, "true", 4);
            else
                s_out_add (out, "false", 5);
            return;
        default:
            s_out_add (out, "null", 4);
    }
}

char *
fy_msgpack_dumps (const msgpack_object *object, size_t *len_p)
{
    assert (object);
    s_out_t out = { .size = 256 };
    out.data = fy_xmalloc (out.size);
    s_out_msgpack (&out, object);
    out.data [out.len] = 0;
    if (len_p)
        *len_p = out.len;
    return out.data;
}

char *
fy_json_dumps (const json_t *value, unsigned flags, size_t *len_p)
{
    assert (value);
    s_out_t out = { .size = 256, .flags = flags };
    out.data = fy_xmalloc (out.size);
    s_out_value (&out, value);
    out.data [out.len] = 0;
    if (len_p)
        *len_p = out.len;
    return out.data;
}

char *
fy_json_error_body (const char *code, const char *message)
{
    json_t *json =
        json_pack ("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    assert (json);
    char *text = fy_json_dumps (json, 0, NULL);
    json_decref (json);
    return text;
}

//  --------------------------------------------------------------------
//  The pull reader

struct fy_json_reader {
    s_parser_t parser;
    //  One bit per open container, set for an object: which closer ends
    //  it, so fy_json_reader_next needs no argument.
    unsigned char objects [FY_JSON_MAX_DEPTH / 8 + 1];
};

fy_json_reader_t *
fy_json_reader_new (const char *data, size_t size, fy_error_t *err)
{
    assert (data || size == 0);
    fy_json_reader_t *self = fy_xcalloc (1, sizeof *self);
    self->parser = (s_parser_t) {
        .start = data, .p = data, .end = data + size, .err = err
    };
    s_skip_space (&self->parser);
    return self;
}

void
fy_json_reader_destroy (fy_json_reader_t **self_p)
{
    assert (self_p);
    fy_json_reader_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    free (self->parser.scratch);
    free (self);
    *self_p = NULL;
    errno = saved;
}

static int
s_reader_fail (fy_json_reader_t *self, const char *reason)
{
    if (reason)
        s_fail (&self->parser, self->parser.p, reason);
    errno = EBADMSG;
    return -1;
}

int
fy_json_reader_enter (fy_json_reader_t *self, char open)
{
    assert (self);
    assert (open == '{' || open == '[');
    s_parser_t *parser = &self->parser;
    if (parser->failed)
        return s_reader_fail (self, NULL);
    if (parser->p == parser->end || *parser->p != open)
        return s_reader_fail (self, open == '{' ? "expected an object"
                                                : "expected an array");
    int rc = s_open (parser, open == '{' ? '}' : ']');
    if (rc < 0)
        return s_reader_fail (self, NULL);
    if (rc == 0) {
        unsigned bit = 1u << (parser->depth % 8);
        if (open == '{')
            self->objects [parser->depth / 8] |= (unsigned char) bit;
        else
            self->objects [parser->depth / 8] &= (unsigned char) ~bit;
    }
    return !rc;
}

int
fy_json_reader_key (fy_json_reader_t *self, const char **key, size_t *len)
{
    assert (self);
    assert (key && len);
    const char *at;
    if (self->parser.failed || s_key (&self->parser, key, len, &at))
        return s_reader_fail (self, NULL);
    return 0;
}

int
fy_json_reader_next (fy_json_reader_t *self)
{
    assert (self);
    s_parser_t *parser = &self->parser;
    if (parser->failed || parser->depth == 0)
        return s_reader_fail (self,
                              parser->failed ? NULL : "no open container");
    bool object =
        self->objects [parser->depth / 8] & (1u << (parser->depth % 8));
    int rc = object ? s_next (parser, '}', "expected ',' or '}'")
                    : s_next (parser, ']', "expected ',' or ']'");
    return rc < 0 ? s_reader_fail (self, NULL) : rc;
}

int
fy_json_reader_string (fy_json_reader_t *self, const char **text, size_t *len)
{
    assert (self);
    assert (text && len);
    s_parser_t *parser = &self->parser;
    if (parser->failed)
        return s_reader_fail (self, NULL);
    if (parser->p == parser->end || *parser->p != '"')
        return s_reader_fail (self, "expected a string");
    parser->p++;
    return s_string (parser, text, len) ? s_reader_fail (self, NULL) : 0;
}

char
fy_json_reader_peek (fy_json_reader_t *self)
{
    assert (self);
    s_parser_t *parser = &self->parser;
    if (parser->failed)
        return 0;
    s_skip_space (parser);
    if (parser->p == parser->end)
        return 0;
    char c = *parser->p;
    return c == ']' || c == '}' || c == ',' || c == ':' ? 0 : c;
}

json_t *
fy_json_reader_value (fy_json_reader_t *self)
{
    assert (self);
    json_t *value = self->parser.failed ? NULL : s_value (&self->parser);
    if (!value)
        s_reader_fail (self, NULL);
    return value;
}

int
fy_json_reader_end (fy_json_reader_t *self)
{
    assert (self);
    s_parser_t *parser = &self->parser;
    if (parser->failed)
        return s_reader_fail (self, NULL);
    s_skip_space (parser);
    if (parser->depth || parser->p != parser->end)
        return s_reader_fail (self, "unexpected text after the value");
    return 0;
}
