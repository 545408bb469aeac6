/*  Tests for fy_schema_transcode and fy_event_transcode_json, the one-pass
    decode: over the JSON Schema conformance suite, what the pass accepts
    the validator accepts too, with the msgpack fy_msgpack_encode writes
    for the tree; over every event sample, invalid sample, SNS sample and
    JSONTestSuite file, fy_event_transcode_json gives what the tree's way
    gives (verdict, errno, error text, msgpack, id and type), and every
    valid sample takes the one pass. */
#include "ferry/ferry.h"
#include "codec/fy_schema_transcode.h"
#include "tap.h"

#include <errno.h>

static fy_schema_t *s_schema;
static size_t s_same, s_files, s_fast;
static size_t s_cases, s_accepted, s_wrong;

//  What the tree's way makes of text: 0 and its msgpack, or -1.
static int
s_tree (fy_schema_t *schema, const char *text, size_t size, char **packed,
        size_t *packed_size)
{
    json_t *tree = fy_json_loadb (text, size, NULL);
    int rc = tree && (!schema || fy_schema_validate (schema, tree, NULL) == 0)
                     && fy_msgpack_encode (tree, packed, packed_size) == 0
                 ? 0
                 : -1;
    json_decref (tree);
    return rc;
}

//  The pass on text must refuse it or agree with the tree's way; valid
//  says what the suite expects.
static void
s_case (fy_schema_t *schema, const char *text, bool valid, const char *what)
{
    size_t size = strlen (text);
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    msgpack_sbuffer_write (&out, "x", 1);  //  appends after what is there
    s_cases++;
    if (fy_schema_transcode (schema, text, size, &out, NULL, NULL) == 0) {
        s_accepted++;
        char *packed = NULL;
        size_t packed_size = 0;
        int rc = s_tree (schema, text, size, &packed, &packed_size);
        if (rc || !valid || out.size != packed_size + 1
            || memcmp (out.data + 1, packed, packed_size) != 0) {
            s_wrong++;
            ok (false, "%s: accepted %s as the tree's way does", what, text);
        }
        free (packed);
    }
    else if (out.size != 1) {
        s_wrong++;
        ok (false, "%s: a refusal leaves the output as it was", what);
    }
    msgpack_sbuffer_destroy (&out);
}

static void
s_suite_file (const char *path, const char *name)
{
    json_error_t jerr;
    json_t *groups = json_load_file (path, JSON_ALLOW_NUL, &jerr);
    if (!groups)
        BAIL_OUT ("%s: %s", path, jerr.text);
    size_t i;
    json_t *group;
    json_array_foreach (groups, i, group)
    {
        fy_schema_t *schema =
            fy_schema_new (json_object_get (group, "schema"), NULL);
        if (!schema)
            continue;  //  out of scope: fy_schema.t counts those
        size_t t;
        json_t *test;
        json_array_foreach (json_object_get (group, "tests"), t, test)
        {
            json_t *data = json_object_get (test, "data");
            bool valid = json_is_true (json_object_get (test, "valid"));
            for (int indent = 0; indent < 2; indent++) {
                char *text = json_dumps (
                    data, JSON_ENCODE_ANY
                              | (indent ? JSON_INDENT (2) : JSON_COMPACT));
                if (text)
                    s_case (schema, text, valid, name);
                free (text);
            }
        }
        fy_schema_destroy (&schema);
    }
    json_decref (groups);
}

static void
s_suite (void)
{
    s_cases = s_accepted = 0;
    tap_each_file (tap_testdata ("json-schema/tests/draft2020-12"), ".json",
                   s_suite_file);
    tap_each_file (tap_testdata ("json-schema/tests/draft2020-12/optional/"
                                 "format"),
                   ".json", s_suite_file);
    ok (s_wrong == 0 && s_accepted > 1000,
        "conformance suite: the pass accepts %zu of %zu instances, each as "
        "the validator does",
        s_accepted, s_cases);
}

//  Whether the pass takes text against schema_text, checked as s_case
//  checks it (valid: what the validator says).
static bool
s_takes (const char *schema_text, const char *text, bool valid)
{
    json_t *document = json_loads (schema_text, 0, NULL);
    fy_schema_t *schema = document ? fy_schema_new (document, NULL) : NULL;
    if (!schema)
        BAIL_OUT ("schema %s", schema_text);
    size_t accepted = s_accepted;
    s_case (schema, text, valid, "by hand");
    fy_schema_destroy (&schema);
    json_decref (document);
    return s_accepted > accepted;
}

//  The pass's own edges: items compared as values, switches decided on
//  a property read before or after the members their branch names.
static void
s_by_hand (void)
{
    const char *unique = "{\"type\": \"array\", \"uniqueItems\": true}";
    const char *sw =
        "{\"properties\": {\"kind\": {\"type\": \"string\"}},"
        " \"allOf\": [{\"if\": {\"properties\": {\"kind\": {\"const\": \"a\"}},"
        "   \"required\": [\"kind\"]},"
        "  \"then\": {\"properties\": {\"n\": {\"maximum\": 5}},"
        "   \"required\": [\"n\"]}}]}";
    const char *any = "{\"anyOf\": [{\"required\": [\"a\"]},"
                      " {\"required\": [\"b\", \"c\"]}]}";
    const struct {
        const char *schema, *text;
        bool valid, taken;
        const char *what;
    } s_cases_by_hand [] = {
        { unique, "[{\"a\":1,\"b\":[2]},{\"b\":[2],\"a\":1}]", false, false,
          "uniqueItems: the same object in another key order" },
        { unique, "[{\"a\":1},{\"a\":2},\"x\",1,true,null]", true, true,
          "uniqueItems: distinct items of every kind" },
        { unique, "[1,1.0]", false, false, "uniqueItems: 1 and 1.0 are equal" },
        { unique, "[\"x\",\"y\",\"x\"]", false, false,
          "uniqueItems: a repeated string" },
        { sw, "{\"kind\":\"a\",\"n\":5}", true, true,
          "switch: decided before the member its branch names" },
        { sw, "{\"kind\":\"a\",\"n\":6}", false, false,
          "switch: its branch's rule on the member after it" },
        { sw, "{\"n\":5,\"kind\":\"a\"}", true, false,
          "switch: decided after the member its branch names" },
        { sw, "{\"kind\":\"a\"}", false, false,
          "switch: its branch's required" },
        { sw, "{\"kind\":\"b\",\"n\":6}", true, true,
          "switch: not taken, its branch does not apply" },
        { sw, "{\"n\":6}", true, true,
          "switch: absent and required by its if" },
        { sw, "[1]", true, true, "switch: not an object, its branch holds" },
        { any, "{\"c\":1,\"b\":2}", true, true,
          "anyOf of required: one holds" },
        { any, "{\"c\":1}", false, false, "anyOf of required: none holds" },
        { "{\"oneOf\": [true, false]}", "{}", true, false,
          "oneOf: the tree decides" },
        //  Keys of one length and the same ends share a bit of the pass's
        //  duplicate filter, and are compared.
        { "{\"type\": \"object\"}", "{\"axb\":1,\"ayb\":2,\"azb\":3}", true,
          true, "keys that share a bit are no duplicates" },
        { "{\"type\": \"object\"}", "{\"axb\":1,\"ayb\":2,\"axb\":3}", false,
          false, "a duplicate among keys that share its bit" },
        { "{\"type\": \"object\"}", "{\"a\":1,\"\":2,\"\":3}", false, false,
          "a duplicate empty key" },
    };
    for (size_t i = 0; i < sizeof s_cases_by_hand / sizeof *s_cases_by_hand;
         i++)
        is_int (s_takes (s_cases_by_hand [i].schema, s_cases_by_hand [i].text,
                         s_cases_by_hand [i].valid),
                s_cases_by_hand [i].taken, "%s: %s", s_cases_by_hand [i].what,
                s_cases_by_hand [i].taken ? "taken" : "refused");
    //  A word of every length to 20, and a byte of it changed at each
    //  place: names and words are compared a word at a time.
    size_t wrong = 0;
    for (size_t len = 1; len <= 20; len++) {
        char schema [96], text [32];
        snprintf (schema, sizeof schema, "{\"enum\": [\"%.*s\"]}", (int) len,
                  "abcdefghijklmnopqrstu");
        snprintf (text, sizeof text, "\"%.*s\"", (int) len,
                  "abcdefghijklmnopqrstu");
        wrong += !s_takes (schema, text, true);
        for (size_t at = 0; at < len; at++) {
            text [1 + at] = 'X';
            wrong += s_takes (schema, text, false);
            text [1 + at] = (char) ('a' + at);
        }
    }
    ok (wrong == 0, "enum words of 1 to 20 bytes, each byte changed");
    ok (s_wrong == 0, "by hand: each as the validator decides");
}

typedef struct {
    int rc, errnum;
    char text [sizeof ((fy_error_t *) 0)->text];
    msgpack_sbuffer out;
    size_t packed;
} s_result_t;

static void
s_decode_tree (const char *data, size_t size, s_result_t *result)
{
    fy_error_t err = { "" };
    errno = 0;
    fy_event_t *event = fy_event_decode_json (data, size, s_schema, &err);
    result->rc = event ? 0 : -1;
    result->errnum = event ? 0 : errno;
    snprintf (result->text, sizeof result->text, "%s", event ? "" : err.text);
    if (!event)
        return;
    char *packed;
    if (fy_event_encode_msgpack (event, &packed, &result->packed))
        BAIL_OUT ("encode");
    msgpack_sbuffer_write (&result->out, packed, result->packed);
    free (packed);
    const char *id = fy_event_id (event), *type = fy_event_type (event);
    msgpack_sbuffer_write (&result->out, id, strlen (id) + 1);
    msgpack_sbuffer_write (&result->out, type, strlen (type) + 1);
    fy_event_destroy (&event);
}

static void
s_decode_pass (const char *data, size_t size, s_result_t *result)
{
    fy_error_t err = { "" };
    errno = 0;
    result->rc = fy_event_transcode_json (data, size, s_schema, &result->out,
                                          &result->packed, &err);
    result->errnum = result->rc ? errno : 0;
    snprintf (result->text, sizeof result->text, "%s",
              result->rc ? err.text : "");
}

static void
s_compare (const char *data, size_t size, const char *name)
{
    s_result_t tree, pass;
    memset (&tree, 0, sizeof tree);
    memset (&pass, 0, sizeof pass);
    msgpack_sbuffer_init (&tree.out);
    msgpack_sbuffer_init (&pass.out);
    s_decode_tree (data, size, &tree);
    s_decode_pass (data, size, &pass);
    if (tree.rc == pass.rc && tree.errnum == pass.errnum
        && strcmp (tree.text, pass.text) == 0 && tree.packed == pass.packed
        && tree.out.size == pass.out.size
        && (!tree.out.size
            || memcmp (tree.out.data, pass.out.data, tree.out.size) == 0))
        s_same++;
    else
        ok (false, "%s: one pass as the tree (%d '%s' vs %d '%s')", name,
            tree.errnum, tree.text, pass.errnum, pass.text);
    msgpack_sbuffer_destroy (&tree.out);
    msgpack_sbuffer_destroy (&pass.out);
    s_files++;
}

//  A sample; a valid one (s_counting) must take the one pass.
static bool s_counting;

static void
s_file (const char *path, const char *name)
{
    size_t size;
    char *data = tap_slurp (path, &size);
    s_compare (data, size, name);
    if (s_counting) {
        msgpack_sbuffer out;
        msgpack_sbuffer_init (&out);
        if (fy_schema_transcode (s_schema, data, size, &out, NULL, NULL) == 0)
            s_fast++;
        else
            diag ("%s: takes the tree's way", name);
        msgpack_sbuffer_destroy (&out);
    }
    free (data);
}

static void
s_text (const char *text, const char *name)
{
    s_compare (text, strlen (text), name);
}

//  Bodies made to reach the pass's edges: key order, wide headers,
//  switches decided late, refusals that must keep the tree's words.
static void
s_edges (void)
{
    size_t same = s_same, files = s_files;
    const char *head =
        "{\"id\":\"74bcd74f-0687-4584-a7d7-9b6189308f4e\","
        "\"type\":\"user.login\",\"version\":1,\"source\":\"monolith\","
        "\"occurredAt\":\"2026-11-25T12:10:05.555Z\","
        "\"companyId\":\"9fb93534-081c-4253-b1e2-73a87984a8ab\",";
    char text [8192];
    snprintf (text, sizeof text, "%s\"payload\":{}}", head);
    s_text (text, "user.login without its members");
    //  type after payload: the switch is decided after the member it
    //  names, so the tree decides.
    s_text ("{\"payload\":{\"userId\":\"8b3a1535-3f13-4b70-9856-c32a687b253b\""
            "},\"type\":\"user.login\",\"id\":\"74bcd74f-0687-4584-a7d7-"
            "9b6189308f4e\",\"version\":1,\"source\":\"m\",\"occurredAt\":"
            "\"2026-11-25T12:10:05.555Z\",\"companyId\":\"9fb93534-081c-4253-"
            "b1e2-73a87984a8ab\"}",
            "type after payload");
    snprintf (text, sizeof text, "%s\"payload\":{},\"payload\":{}}", head);
    s_text (text, "duplicate member");
    snprintf (text, sizeof text, "%s\"version\":2,\"payload\":{}}", head);
    s_text (text, "duplicate version");
    snprintf (text, sizeof text, "%s\"payload\":{}} x", head);
    s_text (text, "text after the event");
    //  No schema: any payload, 16 and more members and items (wider
    //  headers), long strings (wider string headers), nested deep.
    fy_schema_t *schema = s_schema;
    s_schema = NULL;
    size_t at = (size_t) snprintf (text, sizeof text, "%s\"payload\":{", head);
    for (int i = 0; i < 20; i++)
        at += (size_t) snprintf (
            text + at, sizeof text - at,
            "\"k%02d\":[%s1,2.5,-3,true,null,\"%0*d\"],", i,
            i == 3 ? "0,0,0,0,0,0,0,0,0,0,0,0,0,0," : "", i * 10, 7);
    snprintf (text + at - 1, sizeof text - at + 1, "}}");
    s_text (text, "wide maps, arrays and strings, no schema");
    at = (size_t) snprintf (text, sizeof text, "%s\"payload\":", head);
    for (int i = 0; i < 29; i++)
        at += (size_t) snprintf (text + at, sizeof text - at, "{\"a\":");
    at += (size_t) snprintf (text + at, sizeof text - at, "1");
    for (int i = 0; i < 30; i++)
        at += (size_t) snprintf (text + at, sizeof text - at, "}");
    s_text (text, "nested 31 deep, no schema");
    snprintf (text, sizeof text,
              "{\"Type\":\"Notification\",\"TopicArn\":\"a\",\"Message\":"
              "\"{\\\"x\\\":1}\"}");
    s_text (text, "an SNS envelope");
    s_schema = schema;
    ok (s_files - files == 8 && s_same - same == 8,
        "edge bodies decode as the tree does");
}

int
main (void)
{
    plan (NO_PLAN);
    s_schema = tap_events_schema ();
    s_counting = true;
    size_t valid =
        tap_each_file (tap_srcpath ("tests/data/events"), ".json", s_file);
    s_counting = false;
    ok (valid > 25 && s_fast == valid,
        "%zu of %zu valid samples take the one pass", s_fast, valid);
    tap_each_file (tap_srcpath ("tests/data/events/invalid"), ".json", s_file);
    tap_each_file (tap_srcpath ("tests/data/events/sns"), ".json", s_file);
    s_edges ();
    tap_each_file (tap_testdata ("jsontestsuite/test_parsing"), ".json",
                   s_file);
    ok (s_files > 350 && s_same == s_files,
        "%zu of %zu samples decode as the tree's way does", s_same, s_files);
    fy_schema_destroy (&s_schema);
    s_by_hand ();
    s_suite ();
    return done_testing ();
}
