/*  Tests for fy_schema_simple, the patterns fy_schema matches without
    PCRE2: which patterns it takes (anchored sequences of ASCII classes
    with counts, none of whose runs could give way to the next) and which
    it leaves to PCRE2; and, for every one it takes, here and in the
    event schema, that it says what PCRE2 says (compiled as fy_schema
    compiles a pattern) of strings that grow along the pattern's matches
    and stray from them: PCRE2's partial matching tells which characters
    still lead to a match. */
#include "ferry/ferry.h"
#include "codec/fy_schema_format.h"
#include "tap.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

static const char *s_simple [] = {
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    "[0-9a-fA-F]{12}$",
    "^[a-z][a-z0-9_]*$",
    "^\\+[1-9][0-9]{6,14}$",
    "^[A-Z]{2}$",
    "^[A-Z0-9_-]+$",
    "^\\d{4}-\\d\\d-\\d\\d$",
    "^[A-Za-z0-9._~-]+$",
    "^$",
    "^a?b$",
    "^[.]{2,}$",
    "^x{0,3}y?z$",
    "^[!-/]+[:-@]*$",
    "^[\\d\\-x]{1,5}$",
    "^a\\.b$",
    "^[-a]b[a-]$",
    NULL
};

static const char *s_refused [] = {
    "^[a-z]*[a-z]$",   //  a run that could give way
    "^a?a$",         "^x*y?x$",
    "^a.b$",           //  any character: beyond ASCII
    "^(a|b)$",       "^(?:ab)+$", "^\\w+$", "^\\s$",   "^[^a]$",
    "^a+?$",           //  lazy
    "^a**$",
    "abc$",            //  not anchored
    "^abc",          "^a\\$",
    "^\xc3\xa9$",      //  not ASCII
    "^[a-z]{2,1}$",  "^a{1001}$", "^[]$",   "^a{,3}$", "^[a-\\d]$",
    "^\\u0041$",     "^a|b$",     NULL
};

static uint64_t s_seed = 0x9e3779b97f4a7c15ULL;

static uint64_t
s_random (void)
{
    s_seed ^= s_seed << 13;
    s_seed ^= s_seed >> 7;
    s_seed ^= s_seed << 17;
    return s_seed;
}

static pcre2_code *
s_pcre2 (const char *source)
{
    size_t len = strlen (source), translated_len = 0;
    char *translated = fy_schema_regex_translate (source, len, &translated_len);
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re =
        pcre2_compile ((PCRE2_SPTR) (translated ? translated : source),
                       translated ? translated_len : len,
                       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &code, &offset, NULL);
    free (translated);
    return re;
}

//  Characters to try: those of the pattern, some others, a newline (which
//  PCRE's $ would take without DOLLAR_ENDONLY) and a two-byte one.
static size_t
s_alphabet (const char *source, const char **chars)
{
    static char singles [512][2];
    size_t count = 0;
    const char *extra = "aZ09-_.+/ \n\t{}$^";
    for (const char *p = source; *p && count < 200; p++)
        if ((unsigned char) *p < 0x80) {
            singles [count][0] = *p;
            chars [count] = singles [count];
            count++;
        }
    for (const char *p = extra; *p; p++) {
        singles [count][0] = *p;
        chars [count] = singles [count];
        count++;
    }
    chars [count++] = "\xc3\xa9";
    return count;
}

//  Disagreements with PCRE2 over grown strings; *matches: how many of
//  the strings matched.
static size_t
s_compare (const char *source, fy_schema_simple_t *simple, size_t *matches)
{
    pcre2_code *re = s_pcre2 (source);
    if (!re)
        return 1;
    pcre2_match_data *data = pcre2_match_data_create (1, NULL);
    const char *chars [256];
    size_t alphabet = s_alphabet (source, chars), wrong = 0;
    *matches = 0;
    for (int walk = 0; walk < 300; walk++) {
        char text [128] = "";
        size_t len = 0;
        for (int step = 0; step < 64; step++) {
            int rc = pcre2_match (re, (PCRE2_SPTR) text, len, 0, 0, data, NULL);
            bool simple_says = fy_schema_simple_match (simple, text, len);
            if ((rc >= 0) != simple_says) {
                if (wrong++ == 0)
                    diag ("%s on \"%.*s\": PCRE2 %d, simple %d", source,
                          (int) len, text, rc, simple_says);
            }
            *matches += rc >= 0;
            //  Grow along a match: the first of a few characters tried
            //  that still leads to one; now and then astray.
            bool astray = s_random () % 10 == 0;
            const char *next = NULL;
            for (int tries = 0; tries < 32 && !next; tries++) {
                const char *c = chars [s_random () % alphabet];
                size_t c_len = strlen (c);
                if (len + c_len >= sizeof text)
                    break;
                memcpy (text + len, c, c_len);
                rc = pcre2_match (re, (PCRE2_SPTR) text, len + c_len, 0,
                                  PCRE2_PARTIAL_HARD, data, NULL);
                if (astray || rc >= 0 || rc == PCRE2_ERROR_PARTIAL)
                    next = c;
            }
            if (!next)
                break;
            len += strlen (next);
        }
    }
    pcre2_match_data_free (data);
    pcre2_code_free (re);
    return wrong;
}

static void
s_check (const char *source, const char *where)
{
    fy_schema_simple_t *simple = fy_schema_simple_new (source, strlen (source));
    if (!simple)
        return;
    size_t matches;
    size_t wrong = s_compare (source, simple, &matches);
    ok (wrong == 0 && matches > 0,
        "%s %s: as PCRE2 says, %zu disagreements (%zu strings matched)", where,
        source, wrong, matches);
    fy_schema_simple_destroy (&simple);
}

//  Every "pattern" of the schema at json, depth first; how many simple.
static size_t
s_schema_patterns (json_t *json)
{
    size_t simple = 0;
    if (json_is_object (json)) {
        const char *key;
        json_t *value;
        json_object_foreach (json, key, value)
        {
            if (strcmp (key, "pattern") == 0 && json_is_string (value)) {
                const char *source = json_string_value (value);
                fy_schema_simple_t *taken =
                    fy_schema_simple_new (source, strlen (source));
                simple += taken != NULL;
                fy_schema_simple_destroy (&taken);
                s_check (source, "schema");
            }
            else
                simple += s_schema_patterns (value);
        }
    }
    else if (json_is_array (json)) {
        size_t index;
        json_t *value;
        json_array_foreach (json, index, value) simple +=
            s_schema_patterns (value);
    }
    return simple;
}

int
main (void)
{
    plan (NO_PLAN);
    for (size_t i = 0; s_simple [i]; i++) {
        fy_schema_simple_t *simple =
            fy_schema_simple_new (s_simple [i], strlen (s_simple [i]));
        ok (simple != NULL, "taken: %s", s_simple [i]);
        fy_schema_simple_destroy (&simple);
        s_check (s_simple [i], "given");
    }
    for (size_t i = 0; s_refused [i]; i++) {
        fy_schema_simple_t *simple =
            fy_schema_simple_new (s_refused [i], strlen (s_refused [i]));
        ok (simple == NULL, "left to PCRE2: %s", s_refused [i]);
        fy_schema_simple_destroy (&simple);
    }
    fy_schema_simple_t *simple = fy_schema_simple_new ("^a$", 3);
    ok (fy_schema_simple_match (simple, "a", 1)
            && !fy_schema_simple_match (simple, "a\n", 2)
            && !fy_schema_simple_match (simple, "", 0)
            && !fy_schema_simple_match (simple, "aa", 2),
        "^a$: only \"a\", not before a final newline");
    fy_schema_simple_destroy (&simple);

    json_t *schema =
        json_load_file (tap_srcpath ("schemas/events.schema.json"), 0, NULL);
    ok (schema != NULL, "the event schema read");
    size_t taken = s_schema_patterns (schema);
    ok (taken >= 5, "%zu of the event schema's patterns matched without PCRE2",
        taken);
    json_decref (schema);
    done_testing ();
}
