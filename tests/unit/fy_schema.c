/*  Tests for fy_schema: every case of the JSON-Schema-Test-Suite files for
    the supported keywords (draft 2020-12), read in place from
    $FERRY_TESTDATA, then the error text, limits and number semantics that
    the suite does not pin down. A suite case is skipped only when its
    schema uses an out-of-scope keyword or a remote $ref, which this test
    detects on its own and for which it asserts that fy_schema_new refuses
    the schema. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static const char *s_files [] = { "additionalProperties",
                                  "allOf",
                                  "anchor",
                                  "anyOf",
                                  "boolean_schema",
                                  "const",
                                  "contains",
                                  "content",
                                  "default",
                                  "defs",
                                  "dependentRequired",
                                  "dependentSchemas",
                                  "enum",
                                  "exclusiveMaximum",
                                  "exclusiveMinimum",
                                  "format",
                                  "if-then-else",
                                  "infinite-loop-detection",
                                  "items",
                                  "maxContains",
                                  "maxItems",
                                  "maxLength",
                                  "maxProperties",
                                  "maximum",
                                  "minContains",
                                  "minItems",
                                  "minLength",
                                  "minProperties",
                                  "minimum",
                                  "multipleOf",
                                  "not",
                                  "oneOf",
                                  "pattern",
                                  "patternProperties",
                                  "prefixItems",
                                  "properties",
                                  "propertyNames",
                                  "ref",
                                  "required",
                                  "type",
                                  "uniqueItems",
                                  "optional/format/date-time",
                                  "optional/format/date",
                                  "optional/format/uuid",
                                  "optional/format/email",
                                  NULL };

static const char *s_out_of_scope [] = {
    "$dynamicRef",           "$dynamicAnchor",
    "$recursiveRef",         "$recursiveAnchor",
    "unevaluatedProperties", "unevaluatedItems",
    "$vocabulary",           NULL
};

//  Collect every $id (without fragment) anywhere in json.
static void
s_collect_ids (json_t *json, json_t *ids)
{
    const char *key;
    json_t *value;
    size_t i;
    if (json_is_array (json))
        json_array_foreach (json, i, value) s_collect_ids (value, ids);
    if (!json_is_object (json))
        return;
    json_t *id = json_object_get (json, "$id");
    if (json_is_string (id)) {
        const char *text = json_string_value (id);
        json_array_append_new (ids, json_stringn (text, strcspn (text, "#")));
    }
    json_object_foreach (json, key, value) s_collect_ids (value, ids);
}

static bool
s_ends_with (const char *text, const char *tail)
{
    size_t a = strlen (text), b = strlen (tail);
    return b > 0 && a >= b && strcmp (text + a - b, tail) == 0;
}

//  A $ref is local when its part before '#' is empty or names one of the
//  document's $ids (either may be relative, so compare as suffixes).
static bool
s_ref_is_local (const char *ref, json_t *ids)
{
    char doc [512];
    snprintf (doc, sizeof doc, "%.*s", (int) strcspn (ref, "#"), ref);
    const char *tail = strncmp (doc, "./", 2) == 0 ? doc + 2 : doc;
    if (!*tail)
        return true;
    size_t i;
    json_t *id;
    json_array_foreach (ids, i, id)
    {
        if (s_ends_with (tail, json_string_value (id))
            || s_ends_with (json_string_value (id), tail))
            return true;
    }
    return false;
}

//  The first out-of-scope keyword or remote $ref in json, into why.
static bool
s_find_out_of_scope (json_t *json, json_t *ids, char *why, size_t size)
{
    const char *key;
    json_t *value;
    size_t i;
    if (json_is_array (json))
        json_array_foreach (
            json, i,
            value) if (s_find_out_of_scope (value, ids, why, size)) return true;
    if (!json_is_object (json))
        return false;
    for (const char **word = s_out_of_scope; *word; word++)
        if (json_object_get (json, *word)) {
            snprintf (why, size, "%s", *word);
            return true;
        }
    json_t *ref = json_object_get (json, "$ref");
    if (json_is_string (ref)
        && !s_ref_is_local (json_string_value (ref), ids)) {
        snprintf (why, size, "remote $ref %s", json_string_value (ref));
        return true;
    }
    json_object_foreach (
        json, key,
        value) if (s_find_out_of_scope (value, ids, why, size)) return true;
    return false;
}

//  format.json states the draft's default, format as an annotation; the
//  optional/format files state assertion, fy_schema's default. Each file
//  runs in the mode it specifies.
static int
s_flags_for (const char *file)
{
    return strcmp (file, "format") == 0 ? FY_SCHEMA_FORMAT_ANNOTATION : 0;
}

static void
s_run_group (const char *file, json_t *group, int *passed, int *skipped)
{
    const char *name =
        json_string_value (json_object_get (group, "description"));
    json_t *schema_json = json_object_get (group, "schema");
    json_t *tests = json_object_get (group, "tests");
    json_t *ids = json_array ();
    char why [256];
    s_collect_ids (schema_json, ids);
    bool out = s_find_out_of_scope (schema_json, ids, why, sizeof why);
    json_decref (ids);
    fy_error_t err = { "" };
    fy_schema_t *schema =
        fy_schema_new_flags (schema_json, s_flags_for (file), &err);
    if (out) {
        ok (!schema && errno == EINVAL
                && (strstr (err.text, "not supported")
                    || strstr (err.text, "cannot resolve")),
            "%s: %s: refused (%s): %s", file, name, why, err.text);
        char reason [400];
        snprintf (reason, sizeof reason, "%s: %s: out of scope: %s", file, name,
                  why);
        skip ((int) json_array_size (tests), reason);
        *skipped += (int) json_array_size (tests);
        fy_schema_destroy (&schema);
        return;
    }
    if (!ok (schema != NULL, "%s: %s: compiles", file, name))
        diag ("  %s", err.text);
    size_t i;
    json_t *test;
    json_array_foreach (tests, i, test)
    {
        bool valid = json_is_true (json_object_get (test, "valid"));
        int rc = schema ? fy_schema_validate (
                              schema, json_object_get (test, "data"), &err)
                        : -2;
        bool pass = valid ? rc == 0 : rc == -1 && errno == EINVAL;
        *passed += pass;
        if (!ok (pass, "%s: %s: %s", file, name,
                 json_string_value (json_object_get (test, "description"))))
            diag ("  rc %d, want %s: %s", rc, valid ? "valid" : "invalid",
                  rc ? err.text : "");
    }
    fy_schema_destroy (&schema);
}

static void
s_test_suite (void)
{
    for (const char **file = s_files; *file; file++) {
        char relative [256];
        snprintf (relative, sizeof relative,
                  "json-schema/tests/draft2020-12/%s.json", *file);
        json_error_t jerr;
        json_t *groups =
            json_load_file (tap_testdata (relative), JSON_ALLOW_NUL, &jerr);
        if (!groups)
            BAIL_OUT ("%s: %s", relative, jerr.text);
        int passed = 0, skipped = 0, total = 0;
        size_t i;
        json_t *group;
        json_array_foreach (groups, i, group)
        {
            total += (int) json_array_size (json_object_get (group, "tests"));
            s_run_group (*file, group, &passed, &skipped);
        }
        diag ("%s: %d/%d cases pass, %d skipped (out of scope)", *file, passed,
              total, skipped);
        json_decref (groups);
    }
}

static json_t *
s_json (const char *text)
{
    json_error_t jerr;
    json_t *json = json_loads (text, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
    if (!json)
        BAIL_OUT ("bad test JSON: %s: %s", text, jerr.text);
    return json;
}

//  The error text of validating instance against schema, "" when valid.
static const char *
s_check (const char *schema_text, const char *instance_text)
{
    static fy_error_t err;
    json_t *document = s_json (schema_text);
    json_t *instance = s_json (instance_text);
    fy_schema_t *schema = fy_schema_new (document, &err);
    if (!schema)
        BAIL_OUT ("schema %s: %s", schema_text, err.text);
    int rc = fy_schema_validate (schema, instance, &err);
    if (rc == 0)
        err.text [0] = 0;
    else if (errno != EINVAL)
        snprintf (err.text, sizeof err.text, "errno %d", errno);
    fy_schema_destroy (&schema);
    json_decref (document);
    json_decref (instance);
    return err.text;
}

//  The compile error of schema_text, "" when it compiles.
static const char *
s_refused (const char *schema_text)
{
    static fy_error_t err;
    json_t *document = s_json (schema_text);
    err.text [0] = 0;
    fy_schema_t *schema = fy_schema_new (document, &err);
    if (schema)
        err.text [0] = 0;
    else if (errno != EINVAL)
        snprintf (err.text, sizeof err.text, "errno %d", errno);
    fy_schema_destroy (&schema);
    json_decref (document);
    return err.text;
}

static const char *s_event_schema =
    "{\"type\": \"object\", \"required\": [\"type\", \"payload\"],"
    " \"additionalProperties\": false,"
    " \"properties\": {"
    "   \"type\": {\"enum\": [\"goal.created\", \"user.login\"]},"
    "   \"occurredAt\": {\"type\": \"string\", \"format\": \"date-time\"},"
    "   \"payload\": {\"type\": \"object\"},"
    "   \"a\": {\"type\": \"array\", \"items\": {\"type\": \"integer\"}},"
    "   \"a/b~c\": {\"type\": \"string\"}},"
    " \"allOf\": [{"
    "   \"if\": {\"properties\": {\"type\": {\"const\": \"goal.created\"}}},"
    "   \"then\": {\"properties\": {\"payload\": {\"required\": [\"goalId\"],"
    "     \"properties\": {\"score\": {\"maximum\": 5}}}}}}]}";

static void
s_test_errors (void)
{
    const char *sch = s_event_schema;
    is_str (s_check (sch, "[]"), ": type", "root type error");
    is_str (s_check (sch, "{\"type\": \"x\", \"payload\": {}}"), "/type: enum",
            "enum error names the property");
    is_str (s_check (sch, "{\"payload\": {}}"), "/type: required",
            "required names the missing property");
    is_str (s_check (sch, "{\"type\": \"goal.created\", \"payload\": {}}"),
            "/payload/goalId: required", "required inside if/then");
    is_str (s_check (sch, "{\"type\": \"user.login\", \"payload\": {}}"), "",
            "other branch is valid");
    is_str (s_check (sch, "{\"type\": \"goal.created\", "
                          "\"payload\": {\"goalId\": 1, \"score\": 6}}"),
            "/payload/score: maximum 5", "maximum with its limit");
    is_str (s_check (sch, "{\"type\": \"user.login\", \"payload\": {}, "
                          "\"occurredAt\": \"2026-11-26 10:00\"}"),
            "/occurredAt: format date-time", "format error");
    is_str (s_check (sch, "{\"type\": \"user.login\", \"payload\": {}, "
                          "\"occurredAt\": \"2026-11-26T10:00:00.000Z\"}"),
            "", "good date-time");
    is_str (s_check (sch, "{\"type\": \"user.login\", \"payload\": {}, "
                          "\"a\": [\"x\"]}"),
            "/a/0: type", "array index");
    is_str (s_check (sch, "{\"type\": \"user.login\", \"payload\": {}, "
                          "\"a/b~c\": 1}"),
            "/a~1b~0c: type", "pointer escaping");
    is_str (s_check (sch, "{\"type\": \"user.login\", \"payload\": {}, "
                          "\"extra\": 1}"),
            "/extra: additionalProperties",
            "additionalProperties names the property");
    is_str (s_check (sch, "{\"type\": \"user.login\", \"payload\": {}, "
                          "\"x\\ny\": 1}"),
            "/x\\u000ay: additionalProperties",
            "control bytes in keys are escaped");
    //  The discriminator fast path must keep if's semantics.
    const char *sw =
        "{\"allOf\": [{\"if\": {\"properties\": {\"t\": "
        "{\"const\": \"a\"}}}, \"then\": {\"required\": [\"x\"]},"
        " \"else\": {\"required\": [\"y\"]}}, {\"if\": {\"properties\":"
        " {\"t\": {\"const\": 1}}}, \"then\": {\"required\": [\"z\"]}}]}";
    is_str (s_check (sw, "{\"t\": \"a\"}"), "/x: required", "switch: then");
    is_str (s_check (sw, "{\"t\": \"b\"}"), "/y: required", "switch: else");
    is_str (s_check (sw, "{\"y\": 0, \"t\": 1.0}"), "/z: required",
            "switch: const compares numbers by value");
    is_str (s_check (sw, "{\"y\": 0}"), "/x: required",
            "switch: a missing property makes if pass");
    is_str (s_check (sw, "5"), "", "switch: a non-object makes if pass");
    //  With "required": [t] in the if (as the event schema has it), a
    //  missing property makes if fail; the same schema with a no-op
    //  keyword beside "if" takes the general path and must agree.
#define S_REQ(extra)                                                        \
    "{\"allOf\": [{\"if\": {\"properties\": {\"t\": "                       \
    "{\"const\": \"a\"}}, \"required\": [\"t\"]}, \"then\": {\"required\":" \
    " [\"x\"]}, \"else\": {\"required\": [\"y\"]}" extra "}]}"
    const char *fast = S_REQ (""), *slow = S_REQ (", \"minProperties\": 0");
#undef S_REQ
    const char *instances [] = { "{}",
                                 "{\"t\": \"a\"}",
                                 "{\"t\": \"a\", \"x\": 1}",
                                 "{\"y\": 1}",
                                 "{\"t\": \"b\", \"y\": 1}",
                                 "{\"t\": \"b\"}",
                                 "5",
                                 "[]" };
    for (size_t i = 0; i < sizeof instances / sizeof instances [0]; i++) {
        char want [256];
        snprintf (want, sizeof want, "%s", s_check (slow, instances [i]));
        is_str (s_check (fast, instances [i]), want,
                "switch with required agrees with if on %s", instances [i]);
    }
    is_str (s_check (fast, "{}"), "/y: required",
            "switch with required: a missing property makes if fail");
    is_str (s_check ("{\"enum\": [1, 2]}", "3"), ": enum", "root enum");
    is_str (s_check ("{\"minLength\": 2}", "\"\xc3\xa9\""), ": minLength 2",
            "minLength counts code points");
    is_str (s_check ("{\"propertyNames\": {\"maxLength\": 2}}", "{\"abc\": 1}"),
            "/abc: propertyNames", "propertyNames");
    is_str (s_check ("{\"dependentRequired\": {\"a\": [\"b\"]}}", "{\"a\": 1}"),
            "/b: dependentRequired",
            "dependentRequired names the missing property");
    is_str (s_check ("{\"anyOf\": [{\"type\": \"string\"}, {\"minimum\": 2}]}",
                     "1"),
            ": anyOf", "anyOf reports itself");
    is_str (s_check ("{\"maxContains\": 1, \"contains\": {\"const\": 1}}",
                     "[1, 1]"),
            ": maxContains 1", "maxContains");
    is_str (s_check ("{\"multipleOf\": 0.5}", "1.25"), ": multipleOf 0.5",
            "multipleOf");
}

static void
s_test_numbers_and_strings (void)
{
    is_str (s_check ("{\"const\": 1}", "1.0"), "", "1.0 equals 1 (const)");
    is_str (s_check ("{\"enum\": [1.0]}", "1"), "", "1 equals 1.0 (enum)");
    is_str (s_check ("{\"uniqueItems\": true}", "[1, 1.0]"), ": uniqueItems",
            "1 and 1.0 are not unique");
    is_str (s_check ("{\"uniqueItems\": true}", "[{\"a\": 1, \"b\": [2]},"
                                                " {\"b\": [2.0], \"a\": 1.0}]"),
            ": uniqueItems",
            "objects equal regardless of order and number form");
    //  Long arrays take the hashing path.
    char long_array [2048] = "[";
    for (int i = 0; i < 100; i++)
        snprintf (long_array + strlen (long_array),
                  sizeof long_array - strlen (long_array), "%s[%d, \"s%d\"]",
                  i ? ", " : "", i, i);
    strcat (long_array, "]");
    is_str (s_check ("{\"uniqueItems\": true}", long_array), "",
            "100 distinct items are unique");
    long_array [strlen (long_array) - 1] = 0;
    strcat (long_array, ", [42.0, \"s42\"]]");
    is_str (s_check ("{\"uniqueItems\": true}", long_array), ": uniqueItems",
            "a duplicate among 101 items is found");
    is_str (
        s_check ("{\"maximum\": 9223372036854775807}", "9223372036854775807"),
        "", "int64 max at maximum");
    is_str (s_check ("{\"maximum\": 9223372036854775807}", "1e19"),
            ": maximum 9223372036854775807", "1e19 above int64 max");
    is_str (s_check ("{\"minimum\": 9007199254740993}", "9007199254740992"),
            ": minimum 9007199254740993", "exact beyond 2^53");
    is_str (s_check ("{\"exclusiveMaximum\": 9007199254740993}",
                     "9007199254740992.0"),
            "", "int bound vs real value");
    is_str (s_check ("{\"type\": \"integer\"}", "1e300"), "",
            "1e300 is an integer");
    is_str (s_check ("{\"const\": \"a\\u0000b\"}", "\"a\\u0000b\""), "",
            "strings with NUL compare whole");
    is_str (s_check ("{\"const\": \"a\\u0000b\"}", "\"a\""), ": const",
            "NUL does not end a string");
    is_str (s_check ("{\"maxLength\": 2}", "\"a\\u0000b\""), ": maxLength 2",
            "NUL counts as a code point");
    is_str (s_check ("{\"pattern\": \"^a.b$\"}", "\"a\\u0000b\""), "",
            "patterns see past NUL");
    //  jansson parses no NUL in keys, but builds them.
    json_t *props = json_object ();
    json_object_setn_new (props, "a\0b", 3, s_json ("{\"type\": \"null\"}"));
    json_t *nul_schema = json_pack ("{s:o}", "properties", props);
    json_t *nul_instance = json_object ();
    json_object_setn_new (nul_instance, "a\0b", 3, json_integer (1));
    fy_error_t err;
    fy_schema_t *nul = fy_schema_new (nul_schema, &err);
    ok (nul && fy_schema_validate (nul, nul_instance, &err) == -1,
        "keys with NUL are matched");
    is_str (err.text, "/a\\u0000b: type", "and escaped in the pointer");
    fy_schema_destroy (&nul);
    json_decref (nul_schema);
    json_decref (nul_instance);
    is_str (s_check ("{\"format\": \"ipv4\"}", "\"x\""), "",
            "unknown formats are annotations");
    json_t *document = s_json ("{\"format\": \"date\"}");
    json_t *instance = s_json ("\"yesterday\"");
    fy_schema_t *schema =
        fy_schema_new_flags (document, FY_SCHEMA_FORMAT_ANNOTATION, NULL);
    ok (schema && fy_schema_validate (schema, instance, NULL) == 0,
        "FY_SCHEMA_FORMAT_ANNOTATION turns assertion off");
    fy_schema_destroy (&schema);
    json_decref (document);
    json_decref (instance);
    is_str (s_check ("{\"pattern\": \"^\\\\p{gc=Lu}\\\\P{Decimal_Number}$\"}",
                     "\"\xc3\x89x\""),
            "", "ECMA-262 long property names");
    is_str (
        s_check ("{\"pattern\": \"^\\\\\\\\p{Letter}$\"}", "\"\\\\p{Letter}\""),
        "", "an escaped backslash is not a property escape");
    is_str (s_check ("{\"pattern\": \"^a$\"}", "\"a\\n\""), ": pattern",
            "$ does not match before a final newline");
    is_str (s_check ("{\"format\": \"uuid\"}",
                     "\"3f1c0000-0000-4000-8000-000000000001\""),
            "", "uuid");
    is_str (s_check ("{\"format\": \"uuid\"}",
                     "\"3F1CABCD-0000-4000-8000-00000000000F\""),
            "", "uuid in capitals");
    const char *bad_uuids [] = { "3f1c000g-0000-4000-8000-000000000001",
                                 "3f1c0000-000g-4000-8000-000000000001",
                                 "3f1c0000-0000-400g-8000-000000000001",
                                 "3f1c0000-0000-4000-800g-000000000001",
                                 "3f1c0000-0000-4000-8000-00000000000g",
                                 "3f1c0000-0000-4000-8000-0000000000/1",
                                 "3f1c0000-0000-4000-8000-0000000000:1",
                                 "3f1c0000-0000-4000-8000-0000000000`1",
                                 "3f1c0000-0000-4000-8000-0000000000@1",
                                 "3f1c00000-000-4000-8000-000000000001",
                                 "3f1c0000-0000-4000-8000-00000000001" };
    for (size_t i = 0; i < sizeof bad_uuids / sizeof *bad_uuids; i++) {
        char quoted [64];
        snprintf (quoted, sizeof quoted, "\"%s\"", bad_uuids [i]);
        is_str (s_check ("{\"format\": \"uuid\"}", quoted), ": format uuid",
                "not a uuid: %s", bad_uuids [i]);
    }
    is_str (s_check ("{\"format\": \"date\"}", "\"2024-02-30\""),
            ": format date", "no February 30th");
    is_str (s_check ("{\"format\": \"email\"}", "\"a@b\""), "", "email");
}

static void
s_test_limits (void)
{
    //  Nested arrays deeper than the limit, built without the parser.
    json_t *deep = json_array ();
    for (int i = 0; i < 200; i++) {
        json_t *outer = json_array ();
        json_array_append_new (outer, deep);
        deep = outer;
    }
    fy_error_t err;
    json_t *document = s_json ("{\"items\": {\"$ref\": \"#\"}}");
    fy_schema_t *schema = fy_schema_new (document, &err);
    ok (fy_schema_validate (schema, deep, &err) == -1 && errno == EINVAL,
        "too deep an instance fails");
    ok (strstr (err.text, ": depth") != NULL, "with a depth error: %.40s...",
        err.text);
    fy_schema_destroy (&schema);
    json_decref (document);

    //  "not" must not turn an aborted validation into a pass.
    document = s_json ("{\"not\": {\"$ref\": \"#/$defs/t\"},"
                       " \"$defs\": {\"t\": {\"items\": {\"$ref\": "
                       "\"#/$defs/t\"}}}}");
    schema = fy_schema_new (document, &err);
    ok (fy_schema_validate (schema, deep, &err) == -1
            && strstr (err.text, ": depth"),
        "not does not swallow the limit");
    json_t *shallow = s_json ("[[1]]");
    ok (fy_schema_validate (schema, shallow, &err) == -1, "not still works");
    is_str (err.text, ": not", "not reports itself");
    json_decref (shallow);
    fy_schema_destroy (&schema);
    json_decref (document);
    json_decref (deep);

    is_str (s_check ("{\"$ref\": \"#\"}", "1"), ": $ref depth",
            "a $ref loop ends in an error");
    is_str (s_check ("{\"$defs\": {\"a\": {\"$ref\": \"#/$defs/b\"},"
                     " \"b\": {\"anyOf\": [{\"$ref\": \"#/$defs/a\"}]}},"
                     " \"$ref\": \"#/$defs/a\"}",
                     "1"),
            ": $ref depth", "a loop through anyOf is not swallowed");
}

static void
s_test_bad_schemas (void)
{
    ok (strstr (s_refused ("{\"pattern\": \"(\"}"),
                "schema #/pattern: bad regex")
            != NULL,
        "bad regex: %s", s_refused ("{\"pattern\": \"(\"}"));
    is_str (s_refused ("{\"type\": \"text\"}"), "schema #/type: unknown type",
            "unknown type");
    is_str (s_refused ("{\"properties\": {\"a\": 3}}"),
            "schema #/properties/a: not a schema (object or boolean)",
            "non-schema subschema");
    is_str (s_refused ("{\"minLength\": -1}"),
            "schema #/minLength: not a non-negative integer", "bad count");
    is_str (s_refused ("{\"items\": [{}]}"),
            "schema #/items: an array (draft 2020-12 uses prefixItems)",
            "draft-07 items array");
    is_str (s_refused ("{\"$defs\": {\"a\": "
                       "{\"unevaluatedProperties\": false}}}"),
            "schema #/$defs/a/unevaluatedProperties: keyword not supported "
            "by fy_schema",
            "out-of-scope keyword is refused");
    ok (strstr (s_refused ("{\"$ref\": \"#/$defs/none\"}"),
                "schema #/$ref: cannot resolve #/$defs/none")
            != NULL,
        "dangling pointer $ref");
    ok (strstr (s_refused ("{\"$ref\": \"http://x.test/s.json\"}"),
                "cannot resolve http://x.test/s.json")
            != NULL,
        "remote $ref");
    is_str (s_refused ("{\"x-vendor\": {\"$dynamicRef\": 1}, \"title\": \"t\","
                       " \"$comment\": \"c\", \"deprecated\": true}"),
            "", "unknown keywords and annotations are accepted");
    is_str (s_refused ("{\"$ref\": \"#/x-vendor/inner\", \"x-vendor\":"
                       " {\"inner\": {\"type\": \"string\"}}}"),
            "", "a $ref into an unknown keyword compiles the target");
    is_str (s_check ("{\"$ref\": \"#/x-vendor/inner\", \"x-vendor\":"
                     " {\"inner\": {\"type\": \"string\"}}}",
                     "1"),
            ": type", "and validates with it");

    fy_error_t err;
    errno = 0;
    ok (fy_schema_load ("/nonexistent/schema.json", &err) == NULL
            && errno == ENOENT,
        "load of a missing file is ENOENT");
    char path [] = "/tmp/fy_schema_XXXXXX";
    int fd = mkstemp (path);
    const char *text = "{\"type\": \"string\"}";
    ok (fd >= 0 && write (fd, text, strlen (text)) == (ssize_t) strlen (text),
        "temporary schema written");
    close (fd);
    fy_schema_t *schema = fy_schema_load (path, &err);
    ok (schema != NULL, "load compiles a file");
    json_t *number = json_integer (1);
    ok (schema && fy_schema_validate (schema, number, NULL) == -1,
        "validate accepts a NULL err");
    json_decref (number);
    fy_schema_destroy (&schema);
    ok (schema == NULL, "destroy sets the reference to NULL");
    fy_schema_destroy (&schema);
    fd = open (path, O_WRONLY | O_TRUNC);
    ok (fd >= 0 && write (fd, "{,", 2) == 2, "broken schema written");
    close (fd);
    ok (fy_schema_load (path, &err) == NULL && errno == EINVAL,
        "load of bad JSON is EINVAL: %s", err.text);
    unlink (path);
}

int
main (void)
{
    plan (NO_PLAN);
    s_test_errors ();
    s_test_numbers_and_strings ();
    s_test_limits ();
    s_test_bad_schemas ();
    //  Last: without the conformance data it skips the rest of the test.
    s_test_suite ();
    return done_testing ();
}
