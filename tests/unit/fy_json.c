/*  Tests for fy_json and its pull reader: JSONTestSuite's verdicts (y_ parse, n_ are refused,
    i_ do not crash), the same tree as jansson's own parser for every
    input both accept, and the edges ferry relies on: error positions,
    duplicate keys, \u0000, int64 limits, reals out of range, depth,
    surrogates, escaped keys, key order. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>

static size_t s_disagreements;

//  jansson as ferry used it before fy_json: the reference tree.
static json_t *
s_jansson (const char *data, size_t size)
{
    return json_loadb (data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                       NULL);
}

//  Both parsers on the same bytes: when both accept, the trees must be
//  equal and dump to the same text in the same key order.
static void
s_compare (const char *data, size_t size, const char *name)
{
    fy_error_t err = { "" };
    json_t *ours = fy_json_loadb (data, size, &err);
    json_t *theirs = memchr (data, 0, size) ? NULL : s_jansson (data, size);
    if (ours && theirs) {
        char *a = json_dumps (ours, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        char *b = json_dumps (theirs, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        if (!json_equal (ours, theirs) || strcmp (a, b)) {
            diag ("%s: trees differ: %s vs jansson %s", name, a, b);
            s_disagreements++;
        }
        free (a);
        free (b);
    }
    else if (!ours != !theirs) {
        diag ("%s: fy_json %s, jansson %s (%s)", name,
              ours ? "accepts" : "refuses", theirs ? "accepts" : "refuses",
              err.text);
        s_disagreements++;
    }
    json_decref (ours);
    json_decref (theirs);
}

static void
s_suite (const char *path, const char *name)
{
    size_t size;
    char *data = tap_slurp (path, &size);
    fy_error_t err = { "" };
    json_t *value = fy_json_loadb (data, size, &err);
    bool duplicate = strstr (name, "duplicated_key") != NULL;
    bool nul = strstr (name, "null_escape") || strstr (name, "escaped_null");
    if (name [0] == 'y' && (duplicate || nul))
        ok (!value && strstr (err.text, duplicate ? "duplicate" : "\\u0000"),
            "%s refused by policy: %s", name, err.text);
    else if (name [0] == 'y') {
        if (!ok (value != NULL, "%s parses", name))
            diag ("  %s", err.text);
    }
    else if (name [0] == 'n') {
        ok (!value && errno == EBADMSG
                && strncmp (err.text, "invalid JSON at ", 16) == 0,
            "%s is refused: %s", name, err.text);
    }
    else
        ok (1, "%s: %s, no crash", name, value ? "parsed" : err.text);
    json_decref (value);
    s_compare (data, size, name);
    free (data);
}

static void
s_transform (const char *path, const char *name)
{
    size_t size;
    char *data = tap_slurp (path, &size);
    s_compare (data, size, name);
    free (data);
}

static void
s_refused (const char *text, const char *want, const char *what)
{
    fy_error_t err = { "" };
    errno = 0;
    json_t *value = fy_json_loads (text, &err);
    if (!ok (!value && errno == EBADMSG && strcmp (err.text, want) == 0, "%s",
             what))
        diag ("  got \"%s\", want \"%s\"", value ? "(parsed)" : err.text, want);
    json_decref (value);
}

static void
s_errors (void)
{
    s_refused ("", "invalid JSON at 1:1: unexpected end of input",
               "empty input");
    s_refused ("{\"a\":1,}", "invalid JSON at 1:8: expected a string key",
               "trailing comma in an object");
    s_refused ("[1,\n 2,\n  x]", "invalid JSON at 3:3: unexpected character",
               "line and column of the error");
    s_refused ("{\"a\":1,\"a\":2}", "invalid JSON at 1:8: duplicate object key",
               "duplicate key");
    s_refused ("{\"a\":1,\"\\u0061\":2}",
               "invalid JSON at 1:8: duplicate object key",
               "a key duplicated through an escape");
    s_refused ("\"a\\u0000b\"", "invalid JSON at 1:3: \\u0000 is not allowed",
               "\\u0000 in a string");
    s_refused ("\"\\ud800\"",
               "invalid JSON at 1:2: lone high surrogate in \\u escape",
               "lone high surrogate");
    s_refused ("\"\\udc00\\ud800\"",
               "invalid JSON at 1:2: lone low surrogate in \\u escape",
               "low before high surrogate");
    s_refused ("\"\xed\xa0\x80\"", "invalid JSON at 1:2: invalid UTF-8",
               "an encoded surrogate");
    s_refused ("\"\xc0\xaf\"", "invalid JSON at 1:2: invalid UTF-8",
               "an overlong encoding");
    s_refused ("\"\xf4\x90\x80\x80\"", "invalid JSON at 1:2: invalid UTF-8",
               "beyond U+10FFFF");
    s_refused ("\"a\tb\"", "invalid JSON at 1:3: control character in string",
               "a raw tab in a string");
    s_refused ("9223372036854775808",
               "invalid JSON at 1:1: integer out of range", "INT64_MAX + 1");
    s_refused ("-9223372036854775809",
               "invalid JSON at 1:1: integer out of range", "INT64_MIN - 1");
    s_refused ("1e400", "invalid JSON at 1:1: real number out of range",
               "a real beyond double");
    s_refused ("{} x", "invalid JSON at 1:4: unexpected text after the value",
               "text after the value");
    s_refused ("tru", "invalid JSON at 1:1: invalid literal", "cut literal");
    s_refused ("01", "invalid JSON at 1:2: unexpected text after the value",
               "a leading zero");

    //  NUL bytes are data: refused outside a string, not a terminator.
    fy_error_t err = { "" };
    json_t *value = fy_json_loadb ("1\0junk", 6, &err);
    ok (!value && strstr (err.text, "1:2: unexpected text"),
        "a NUL after the value is refused: %s", err.text);
    json_decref (value);
}

static void
s_values (void)
{
    fy_error_t err = { "" };
    json_t *max = fy_json_loads ("[9223372036854775807,-9223372036854775808,"
                                 "-0,1e-400,1.5E+3]",
                                 &err);
    ok (max && json_integer_value (json_array_get (max, 0)) == INT64_MAX
            && json_integer_value (json_array_get (max, 1)) == INT64_MIN,
        "int64 limits are integers");
    ok (max && json_is_integer (json_array_get (max, 2))
            && json_integer_value (json_array_get (max, 2)) == 0,
        "-0 is 0");
    ok (max && json_is_real (json_array_get (max, 3))
            && json_real_value (json_array_get (max, 3)) == 0.0,
        "an underflowing real is 0.0");
    ok (max && json_real_value (json_array_get (max, 4)) == 1500.0,
        "exponent with sign");
    json_decref (max);

    json_t *text = fy_json_loads ("\"\\ud83d\\ude00 \\u00e9\\\"\\\\\\/"
                                  "\\b\\f\\n\\r\\t\"",
                                  &err);
    is_str (json_string_value (text),
            "\xf0\x9f\x98\x80 \xc3\xa9\"\\/"
            "\b\f\n\r\t",
            "escapes, surrogate pair and BMP escape");
    json_decref (text);

    //  Runs of backslashes before quotes.
    text = fy_json_loads ("[\"a\\\\\\\"b\\\\\", \"\\\\\\\\\"]", &err);
    ok (text
            && strcmp (json_string_value (json_array_get (text, 0)), "a\\\"b\\")
                   == 0
            && strcmp (json_string_value (json_array_get (text, 1)), "\\\\")
                   == 0,
        "escaped quotes and backslashes");
    json_decref (text);

    //  The decoder's room grows as it goes: a long plain run before the
    //  first escape, then escapes of every width (1 to 4 bytes decoded)
    //  across the buffer's doublings.
    {
        char in [8192], want [8192];
        size_t n = 0, w = 0;
        in [n++] = '"';
        for (int i = 0; i < 300; i++)
            in [n++] = want [w++] = 'a' + i % 26;
        static const char *escapes [][2] = { { "\\n", "\n" },
                                             { "\\u00e9", "\xc3\xa9" },
                                             { "\\u20ac", "\xe2\x82\xac" },
                                             { "\\ud83d\\ude00",
                                               "\xf0\x9f\x98\x80" } };
        for (int i = 0; i < 400; i++) {
            const char **e = escapes [i % 4];
            memcpy (in + n, e [0], strlen (e [0]));
            n += strlen (e [0]);
            memcpy (want + w, e [1], strlen (e [1]));
            w += strlen (e [1]);
            for (int k = 0; k < i % 9; k++)
                in [n++] = want [w++] = 'z';
        }
        in [n++] = '"';
        text = fy_json_loadb (in, n, &err);
        ok (text && json_string_length (text) == w
                && memcmp (json_string_value (text), want, w) == 0,
            "a long escaped string (%zu bytes in, %zu out)", n, w);
        json_decref (text);
    }

    //  The first byte that ends a plain run, at every place in a word:
    //  an escape, a UTF-8 character, a control character.
    {
        bool right = true;
        for (int at = 0; at < 20; at++) {
            char in [64], want [64];
            const char *ends [][2] = { { "\\n", "\n" },
                                       { "\xc3\xa9", "\xc3\xa9" },
                                       { "\x01", NULL },
                                       { "\x1f", NULL } };
            for (int e = 0; e < 4; e++) {
                snprintf (in, sizeof in, "\"%.*s%s%s\"", at,
                          "aaaaaaaaaaaaaaaaaaaa", ends [e][0], "bbbbbbbbb");
                json_t *got = fy_json_loads (in, &err);
                if (!ends [e][1]) {
                    right &= !got && strstr (err.text, "control character");
                    json_decref (got);
                    continue;
                }
                snprintf (want, sizeof want, "%.*s%s%s", at,
                          "aaaaaaaaaaaaaaaaaaaa", ends [e][1], "bbbbbbbbb");
                right &= got && strcmp (json_string_value (got), want) == 0;
                json_decref (got);
            }
        }
        ok (right, "a run ends at its first escape, character or control "
                   "character, wherever it falls");
    }

    //  An escaped key must survive a value that reuses the scratch buffer.
    json_t *object = fy_json_loads ("{\"\\u006b\":\"a\\nb\",\"z\":{\"\\u0063"
                                    "\":\"x\\ty\"},\"b\":[]}",
                                    &err);
    ok (object
            && strcmp (json_string_value (json_object_get (object, "k")),
                       "a\nb")
                   == 0
            && json_object_get (json_object_get (object, "z"), "c"),
        "escaped keys keep their text");
    char *dump =
        object ? json_dumps (object, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    is_str (dump, "{\"k\":\"a\\nb\",\"z\":{\"c\":\"x\\ty\"},\"b\":[]}",
            "keys keep their order");
    free (dump);
    json_decref (object);
}

//  Strings are scanned eight bytes at a time: a byte that ends a plain
//  run (quote, backslash, control, UTF-8) at every place of a word and of
//  the bytes after the last whole word must read as jansson reads it.
static void
s_word_edges (void)
{
    static const char *const s_specials [] = {
        "\\\"", "\\n", "\x01", "\xc3\xa9", "\xe2\x82\xac", "\xff", "\x7f", "\""
    };
    size_t before = s_disagreements, cases = 0;
    for (size_t n = 0; n < 20; n++)
        for (size_t at = 0; at <= n; at++)
            for (size_t k = 0; k < sizeof s_specials / sizeof *s_specials;
                 k++) {
                char text [64];
                size_t len = 0;
                text [len++] = '"';
                for (size_t i = 0; i < n; i++) {
                    if (i == at) {
                        size_t special = strlen (s_specials [k]);
                        memcpy (text + len, s_specials [k], special);
                        len += special;
                    }
                    text [len++] = (char) ('a' + i % 26);
                }
                text [len++] = '"';
                s_compare (text, len, "word edges");
                cases++;
            }
    ok (s_disagreements == before,
        "%zu strings with a run's end at each place of a word read as "
        "jansson reads them",
        cases);
}

static void
s_depth (void)
{
    size_t depth = FY_JSON_MAX_DEPTH + 1;
    char *deep = fy_xmalloc (2 * depth + 1);
    for (size_t i = 0; i < depth; i++) {
        deep [i] = '[';
        deep [2 * depth - 1 - i] = ']';
    }
    fy_error_t err = { "" };
    json_t *value = fy_json_loadb (deep, 2 * depth, &err);
    ok (!value && strstr (err.text, "nested too deep"),
        "%d levels are refused: %s", FY_JSON_MAX_DEPTH + 1, err.text);
    value = fy_json_loadb (deep + 1, 2 * depth - 2, &err);
    ok (value != NULL, "%d levels parse", FY_JSON_MAX_DEPTH);
    json_decref (value);
    free (deep);
}

//  The bytes ferry parses most: every sample event, and an SQS receive
//  answer carrying them as escaped bodies.
static void
s_event (const char *path, const char *name)
{
    size_t size;
    char *data = tap_slurp (path, &size);
    s_compare (data, size, name);
    json_t *value = s_jansson (data, size);
    if (value) {
        json_t *message =
            json_pack ("{s:s,s:s%,s:{s:s}}", "MessageId", name, "Body", data,
                       size, "Attributes", "ApproximateReceiveCount", "1");
        json_t *answer =
            json_pack ("{s:[o,o]}", "Messages", json_incref (message), message);
        char *text = json_dumps (answer, JSON_COMPACT);
        s_compare (text, strlen (text), name);
        free (text);
        json_decref (answer);
    }
    json_decref (value);
    free (data);
}

//  fy_json_dumps against json_dumps on values the parser cannot make.
static void
s_dumps (void)
{
    json_t *value = json_pack ("{s:f,s:f,s:f,s:f,s:f,s:s,s:s%,s:I,s:[]}", "b",
                               1e20, "a", 1.5e-7, "c", -0.0, "d", 100.0, "e",
                               0.1, "ctl", "\x01\x1f\x7f/\xc3\xa9", "nul",
                               "a\0b", 3, "i", (json_int_t) INT64_MIN, "z");
    for (int sorted = 0; sorted < 2; sorted++) {
        size_t len = 0;
        char *ours =
            fy_json_dumps (value, sorted ? FY_JSON_SORT_KEYS : 0, &len);
        char *theirs = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY
                                              | (sorted ? JSON_SORT_KEYS : 0));
        is_str (ours, theirs, "dumps as jansson, %s",
                sorted ? "sorted" : "in order");
        ok (ours && len == strlen (theirs), "and says its length");
        free (ours);
        free (theirs);
    }
    json_decref (value);
    char *scalar = fy_json_dumps (json_true (), 0, NULL);
    is_str (scalar, "true", "a scalar dumps alone");
    free (scalar);
}

static void
s_reader (void)
{
    const char *text = " {\"a\": [1, {\"x\": null}], \"\\u0062\": \"t\\tu\","
                       " \"c\": [], \"d\": {}} ";
    fy_error_t err = { "" };
    fy_json_reader_t *reader = fy_json_reader_new (text, strlen (text), &err);
    const char *key, *value;
    size_t key_len, value_len;
    is_int (fy_json_reader_peek (reader), '{', "peek: an object is next");
    is_int (fy_json_reader_enter (reader, '{'), 1, "reader: object entered");
    ok (fy_json_reader_key (reader, &key, &key_len) == 0 && key_len == 1
            && *key == 'a',
        "first key");
    is_int (fy_json_reader_peek (reader), '[', "peek: an array, past space");
    json_t *tree = fy_json_reader_value (reader);
    char *dump = tree ? json_dumps (tree, JSON_COMPACT) : NULL;
    is_str (dump, "[1,{\"x\":null}]", "a value as a tree");
    free (dump);
    json_decref (tree);
    is_int (fy_json_reader_next (reader), 1, "another member");
    ok (fy_json_reader_key (reader, &key, &key_len) == 0 && key_len == 1
            && *key == 'b',
        "an escaped key, decoded");
    ok (fy_json_reader_string (reader, &value, &value_len) == 0
            && value_len == 3 && memcmp (value, "t\tu", 3) == 0,
        "a string value, decoded");
    is_int (fy_json_reader_next (reader), 1, "another member");
    ok (fy_json_reader_key (reader, &key, &key_len) == 0 && *key == 'c',
        "third key");
    is_int (fy_json_reader_enter (reader, '['), 0, "an empty array");
    is_int (fy_json_reader_next (reader), 1, "another member");
    ok (fy_json_reader_key (reader, &key, &key_len) == 0 && *key == 'd',
        "fourth key");
    is_int (fy_json_reader_enter (reader, '{'), 0, "an empty object");
    is_int (fy_json_reader_next (reader), 0, "the object closes");
    is_int (fy_json_reader_peek (reader), 0, "peek: no value after it");
    is_int (fy_json_reader_end (reader), 0, "nothing but space after it");
    fy_json_reader_destroy (&reader);
    ok (reader == NULL, "reader destroyed");

    //  Errors stick: the first one is reported, every later call fails.
    text = "{\"a\": 1} x";
    reader = fy_json_reader_new (text, strlen (text), &err);
    ok (fy_json_reader_enter (reader, '[') == -1 && errno == EBADMSG,
        "entering an object as an array fails: %s", err.text);
    ok (fy_json_reader_enter (reader, '{') == -1,
        "and the reader stays failed");
    fy_json_reader_destroy (&reader);
    reader = fy_json_reader_new (text, strlen (text), &err);
    ok (fy_json_reader_enter (reader, '{') == 1
            && fy_json_reader_key (reader, &key, &key_len) == 0
            && fy_json_reader_string (reader, &value, &value_len) == -1,
        "a number read as a string fails: %s", err.text);
    fy_json_reader_destroy (&reader);
    reader = fy_json_reader_new (text, strlen (text), &err);
    json_t *whole = fy_json_reader_value (reader);
    ok (whole && fy_json_reader_end (reader) == -1
            && strstr (err.text, "1:10: unexpected text after the value"),
        "text after the value fails at end: %s", err.text);
    json_decref (whole);
    fy_json_reader_destroy (&reader);
    text = "{\"a\": {\"b\": 1";
    reader = fy_json_reader_new (text, strlen (text), &err);
    ok (fy_json_reader_enter (reader, '{') == 1
            && fy_json_reader_key (reader, &key, &key_len) == 0
            && fy_json_reader_enter (reader, '{') == 1
            && fy_json_reader_key (reader, &key, &key_len) == 0
            && (json_decref (fy_json_reader_value (reader)), 1)
            && fy_json_reader_next (reader) == -1,
        "a cut object fails at next: %s", err.text);
    fy_json_reader_destroy (&reader);
}

int
main (void)
{
    size_t events =
        tap_each_file (tap_srcpath ("tests/data/events"), ".json", s_event);
    ok (events > 10, "%zu sample events", events);
    is_int ((int) s_disagreements, 0,
            "the same verdict and tree as jansson on every sample event");
    s_errors ();
    s_values ();
    s_word_edges ();
    s_depth ();
    s_reader ();
    s_dumps ();
    //  Last: without the conformance data they skip the rest of the test.
    size_t parsing = tap_each_file (tap_testdata ("jsontestsuite/test_parsing"),
                                    ".json", s_suite);
    ok (parsing > 300, "JSONTestSuite: %zu parsing cases", parsing);
    size_t transform = tap_each_file (
        tap_testdata ("jsontestsuite/test_transform"), ".json", s_transform);
    ok (transform > 10, "JSONTestSuite: %zu transform cases", transform);
    is_int ((int) s_disagreements, 0,
            "the same verdict and tree as jansson on every input");
    done_testing ();
}
