/*  Tests for fy_msgpack against msgpack-test-suite: every encoding of every
    value JSON can carry decodes to that value, our encoding of it is one of
    the listed encodings, and the types JSON cannot carry are refused. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>

static size_t
s_unhex (const char *text, unsigned char *out, size_t size)
{
    size_t len = 0;
    for (const char *at = text; *at && len < size;) {
        unsigned int byte;
        if (sscanf (at, "%2x", &byte) != 1)
            break;
        out [len++] = (unsigned char) byte;
        at += 2;
        if (*at == '-')
            at++;
    }
    return len;
}

//  Numbers compare by value: 1 and 1.0 are the same number in msgpack.
static bool
s_same (json_t *got, json_t *want)
{
    if (json_is_number (got) && json_is_number (want))
        return json_number_value (got) == json_number_value (want)
               && (!json_is_integer (want) || !json_is_integer (got)
                   || json_integer_value (got) == json_integer_value (want));
    if (json_is_array (got) && json_is_array (want)) {
        if (json_array_size (got) != json_array_size (want))
            return false;
        for (size_t i = 0; i < json_array_size (got); i++)
            if (!s_same (json_array_get (got, i), json_array_get (want, i)))
                return false;
        return true;
    }
    return json_equal (got, want);
}

static void
s_run_case (const char *file, size_t index, json_t *entry)
{
    json_t *encodings = json_object_get (entry, "msgpack");
    const char *kind = NULL;
    json_t *value = NULL, *member;
    json_object_foreach (entry, kind, member) if (strcmp (kind, "msgpack") != 0)
    {
        value = member;
        break;
    }
    //  "bignum" cases also carry "number"; judge them by their number.
    json_t *number = json_object_get (entry, "number");
    if (number) {
        kind = "number";
        value = number;
    }
    bool representable =
        strcmp (kind, "nil") == 0 || strcmp (kind, "bool") == 0
        || strcmp (kind, "number") == 0 || strcmp (kind, "string") == 0
        || strcmp (kind, "array") == 0 || strcmp (kind, "map") == 0;
    //  A case with only "bignum" gives the integer as text: within int64
    //  it must decode exactly; beyond, it has no jansson form and must be
    //  refused with ERANGE.
    json_t *owned = NULL;
    if (strcmp (kind, "bignum") == 0) {
        int64_t parsed;
        if (fy_parse_int64 (json_string_value (value), INT64_MIN, INT64_MAX,
                            &parsed)
            == 0) {
            value = owned = json_integer (parsed);
            representable = true;
        }
    }

    size_t index2;
    json_t *hex;
    json_array_foreach (encodings, index2, hex)
    {
        unsigned char bytes [512];
        size_t len = s_unhex (json_string_value (hex), bytes, sizeof bytes);
        fy_error_t err = { "" };
        json_t *decoded = fy_msgpack_decode (bytes, len, &err);
        if (representable) {
            if (!ok (decoded && s_same (decoded, value), "%s #%zu decodes %s",
                     file, index, json_string_value (hex)))
                diag ("  error: %s", err.text);
        }
        else if (strcmp (kind, "bignum") == 0)
            ok (!decoded && errno == ERANGE, "%s #%zu refuses %s: %s", file,
                index, json_string_value (hex), err.text);
        else
            ok (!decoded && errno == EPROTO, "%s #%zu refuses %s (%s)", file,
                index, json_string_value (hex), err.text);
        json_decref (decoded);
    }
    if (!representable)
        return;
    char *data = NULL;
    size_t size = 0;
    ok (fy_msgpack_encode (value, &data, &size) == 0, "%s #%zu encodes", file,
        index);
    json_t *again = fy_msgpack_decode (data, size, NULL);
    ok (again && s_same (again, value), "%s #%zu round trips", file, index);
    json_decref (again);
    json_decref (owned);
    free (data);
}

static void
s_errors (void)
{
    fy_error_t err = { "" };
    const unsigned char truncated [] = { 0x92, 0x01 };
    ok (!fy_msgpack_decode (truncated, sizeof truncated, &err)
            && errno == EPROTO,
        "truncated array refused: %s", err.text);
    const unsigned char trailing [] = { 0x01, 0x02 };
    ok (!fy_msgpack_decode (trailing, sizeof trailing, &err) && errno == EPROTO,
        "trailing bytes refused: %s", err.text);
    const unsigned char int_key [] = { 0x81, 0x01, 0x02 };
    ok (!fy_msgpack_decode (int_key, sizeof int_key, &err) && errno == EPROTO,
        "integer map key refused: %s", err.text);
    const unsigned char dup_key [] = { 0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02 };
    ok (!fy_msgpack_decode (dup_key, sizeof dup_key, &err) && errno == EPROTO,
        "duplicate map key refused: %s", err.text);
    const unsigned char bad_utf8 [] = { 0xa2, 0xc3, 0x28 };
    ok (!fy_msgpack_decode (bad_utf8, sizeof bad_utf8, &err) && errno == EPROTO,
        "invalid UTF-8 refused: %s", err.text);
    const unsigned char nan [] = { 0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0 };
    ok (!fy_msgpack_decode (nan, sizeof nan, &err) && errno == EPROTO,
        "NaN refused: %s", err.text);
    ok (!fy_msgpack_decode ("", 0, &err) && errno == EPROTO,
        "empty input refused");
    //  Found by event_fuzz: msgpack-c hands out a NULL pointer for an
    //  empty string, and an empty key is a valid JSON key.
    const unsigned char empty_key [] = { 0x81, 0xa0, 0x01 };
    json_t *got = fy_msgpack_decode (empty_key, sizeof empty_key, &err);
    ok (got && json_integer_value (json_object_get (got, "")) == 1,
        "empty map key decodes: %s", got ? "" : err.text);
    json_decref (got);
    //  A claimed length far beyond the buffer must not be trusted.
    const unsigned char huge [] = { 0xdd, 0xff, 0xff, 0xff, 0xff };
    ok (!fy_msgpack_decode (huge, sizeof huge, &err) && errno == EPROTO,
        "array claiming 4G items refused");

    //  Nesting: the deepest encodable value decodes, one level more is
    //  refused by the encoder rather than failing at the far end.
    json_t *deep = json_array ();
    for (int i = 1; i < FY_MSGPACK_MAX_DEPTH; i++) {
        json_t *outer = json_array ();
        json_array_append_new (outer, deep);
        deep = outer;
    }
    char *data;
    size_t size;
    ok (fy_msgpack_encode (deep, &data, &size) == 0, "max depth encodes");
    json_t *back = fy_msgpack_decode (data, size, &err);
    ok (back && json_equal (back, deep), "max depth decodes: %s", err.text);
    json_decref (back);
    free (data);
    json_t *deeper = json_array ();
    json_array_append_new (deeper, deep);
    ok (fy_msgpack_encode (deeper, &data, &size) == -1 && errno == EINVAL,
        "one level deeper is refused");
    json_decref (deeper);

    json_t *object =
        json_pack ("{s:i, s:s, s:[b, n, f]}", "z", 1, "a", "x", "m", 1, 1.5);
    ok (fy_msgpack_encode (object, &data, &size) == 0, "object encodes");
    back = fy_msgpack_decode (data, size, NULL);
    char *one = json_dumps (object, JSON_COMPACT);
    char *two = json_dumps (back, JSON_COMPACT);
    is_str (two, one, "key order survives");
    free (one);
    free (two);
    free (data);
    json_decref (back);
    json_decref (object);
}

int
main (void)
{
    plan (NO_PLAN);
    s_errors ();
    //  Last: without the conformance data it skips the rest of the test.
    json_error_t jerr;
    json_t *suite = json_load_file (
        tap_testdata ("msgpack/dist/msgpack-test-suite.json"), 0, &jerr);
    if (!suite)
        BAIL_OUT ("msgpack-test-suite: %s", jerr.text);
    const char *file;
    json_t *cases;
    size_t files = 0;
    json_object_foreach (suite, file, cases)
    {
        size_t index;
        json_t *entry;
        json_array_foreach (cases, index, entry)
            s_run_case (file, index, entry);
        files++;
    }
    is_int (files, 15, "every suite file was read");
    json_decref (suite);
    return done_testing ();
}
