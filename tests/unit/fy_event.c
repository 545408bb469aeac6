/*  Tests for fy_event: every golden sample decodes and round-trips exactly
    through msgpack, every invalid sample fails with its expected error,
    the decoder's errno classes, and JSONTestSuite's verdicts. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>

static fy_schema_t *s_schema;

//  The file, or NULL when it does not exist (a missing .err is reported
//  by the caller).
static char *
s_slurp (const char *path, size_t *size_p)
{
    return fy_read_file (path, FY_EVENT_MAX_BYTES * 2, size_p);
}

static void
s_golden (const char *path, const char *name)
{
    size_t size;
    char *data = s_slurp (path, &size);
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_decode_json (data, size, s_schema, &err);
    if (!ok (event != NULL, "%s is valid", name)) {
        diag ("  %s", err.text);
        free (data);
        return;
    }
    //  The file is pretty-printed; the exact form is its compact dump.
    json_t *original = json_loadb (data, size, 0, NULL);
    char *want = json_dumps (original, JSON_COMPACT | JSON_REAL_PRECISION (17));
    char *packed = NULL;
    size_t packed_size = 0;
    ok (fy_event_encode_msgpack (event, &packed, &packed_size) == 0,
        "%s encodes", name);
    fy_event_t *carried = fy_event_decode_msgpack (packed, packed_size, &err);
    //  Read from the msgpack as it is, before anything builds its tree.
    char *payload = carried ? fy_event_payload_dumps (carried, NULL) : NULL;
    char *want_payload = json_dumps (json_object_get (original, "payload"),
                                     JSON_COMPACT | JSON_REAL_PRECISION (17));
    is_str (payload, want_payload, "%s: its payload read from msgpack", name);
    free (payload);
    free (want_payload);
    char *got = carried ? fy_event_encode_json (carried) : NULL;
    is_str (got, want, "%s: JSON -> msgpack -> JSON is exact", name);
    char type [128];
    snprintf (type, sizeof type, "%.*s", (int) (strlen (name) - 5), name);
    is_str (fy_event_type (event), type, "%s: type is the file name", name);
    free (got);
    free (want);
    free (packed);
    json_decref (original);
    fy_event_destroy (&carried);
    fy_event_destroy (&event);
    free (data);
}

static void
s_invalid (const char *path, const char *name)
{
    size_t size, err_size;
    char *data = s_slurp (path, &size);
    char err_path [4096];
    snprintf (err_path, sizeof err_path, "%.*s.err", (int) (strlen (path) - 5),
              path);
    char *want = s_slurp (err_path, &err_size);
    if (!want)
        BAIL_OUT ("%s has no .err file", path);
    want [strcspn (want, "\n")] = 0;
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_decode_json (data, size, s_schema, &err);
    ok (event == NULL, "%s is refused", name);
    is_str (err.text, want, "%s: error names pointer and rule", name);
    fy_event_destroy (&event);
    //  A time the database cannot store is refused by the envelope check
    //  alone too, which is all a worker's decode runs (no schema).
    if (strncmp (name, "occurredat-", 11) == 0) {
        event = fy_event_decode_json (data, size, NULL, &err);
        ok (event == NULL, "%s is refused without the schema", name);
        is_str (err.text, "/occurredAt: format date-time",
                "%s: by the envelope check", name);
        fy_event_destroy (&event);
    }
    free (want);
    free (data);
}

//  JSONTestSuite: y_ must parse, n_ must not, i_ either, none may crash.
//  A body that parses is then not an event, which is not EBADMSG.
//  Two y_ cases are refused by policy: duplicate keys, because an event
//  whose fields two parsers could read differently must never be acted
//  on, and \u0000, which PostgreSQL text and jsonb cannot store.
static void
s_json_suite (const char *path, const char *name)
{
    size_t size;
    char *data = s_slurp (path, &size);
    fy_error_t err = { "" };
    errno = 0;
    fy_event_t *event = fy_event_decode_json (data, size, s_schema, &err);
    int errnum = errno;
    bool parsed = event != NULL || errnum != EBADMSG;
    bool duplicate = strstr (name, "duplicated_key") != NULL;
    bool nul = strstr (name, "null_escape") || strstr (name, "escaped_null");
    if (name [0] == 'y' && (duplicate || nul))
        ok (!parsed && strstr (err.text, duplicate ? "duplicate" : "\\u0000"),
            "%s refused by policy: %s", name, err.text);
    else if (name [0] == 'y') {
        if (!ok (parsed, "%s parses", name))
            diag ("  %s", err.text);
    }
    else if (name [0] == 'n')
        ok (!parsed, "%s is refused", name);
    else
        ok (1, "%s: %s, no crash", name, parsed ? "parsed" : "refused");
    fy_event_destroy (&event);
    free (data);
}

static void
s_errors (void)
{
    fy_error_t err = { "" };
    const char *text =
        "{\"id\":\"3f1c2a4e-9b7d-4c1e-8f00-0123456789ab\","
        "\"type\":\"user.logout\",\"version\":2,\"source\":\"monolith\","
        "\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
        "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
        "\"actorId\":null,\"payload\":{}}";
    ok (!fy_event_decode_json (text, strlen (text), s_schema, &err)
            && errno == ENOTSUP,
        "version 2 is unsupported_version: %s", err.text);
    is_str (fy_event_reason (ENOTSUP), "unsupported_version", "reason word");

    char *big = fy_xmalloc (FY_EVENT_MAX_BYTES + 2);
    memset (big, ' ', FY_EVENT_MAX_BYTES + 1);
    big [FY_EVENT_MAX_BYTES + 1] = 0;
    ok (!fy_event_decode_json (big, FY_EVENT_MAX_BYTES + 1, s_schema, &err)
            && errno == EMSGSIZE,
        "one byte over the limit is oversize");
    free (big);
    ok (!fy_event_decode_json ("{\"id\":", 6, s_schema, &err)
            && errno == EBADMSG,
        "truncated JSON is invalid_json");
    ok (!fy_event_decode_json ("", 0, s_schema, &err) && errno == EBADMSG,
        "empty body is invalid_json");
    const char *unknown =
        "{\"id\":\"3f1c2a4e-9b7d-4c1e-8f00-0123456789ab\","
        "\"type\":\"user.teleported\",\"version\":1,\"source\":\"monolith\","
        "\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
        "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
        "\"payload\":{}}";
    ok (!fy_event_decode_json (unknown, strlen (unknown), s_schema, &err)
            && errno == ENOENT,
        "unknown type is unknown_type: %s", err.text);
    ok (!fy_event_decode_msgpack ("\xc1", 1, &err) && errno == EPROTO,
        "garbage msgpack is invalid_msgpack");
    ok (!fy_event_decode_msgpack ("\x93\x01\x02\x03", 4, &err)
            && errno == EPROTO,
        "msgpack that is not an envelope is refused");

    //  Nesting beyond what msgpack-c can unpack is refused at the edge.
    char deep [256] = "";
    snprintf (deep, sizeof deep,
              "{\"id\":\"3f1c2a4e-9b7d-4c1e-8f00-"
              "0123456789ab\",\"x\":");
    size_t len = strlen (deep);
    for (int i = 0; i < 40; i++)
        deep [len++] = '[';
    for (int i = 0; i < 40; i++)
        deep [len++] = ']';
    deep [len++] = '}';
    ok (!fy_event_decode_json (deep, len, NULL, &err) && errno == EINVAL,
        "deep nesting refused: %s", err.text);
}

static void
s_sns (void)
{
    size_t size;
    char *data =
        s_slurp (tap_srcpath ("tests/data/events/sns/user.login.json"), &size);
    if (!data)
        BAIL_OUT ("no SNS sample");
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_decode_json (data, size, s_schema, &err);
    ok (event != NULL, "SNS envelope unwraps: %s", event ? "" : err.text);
    if (event) {
        is_str (fy_event_type (event), "user.login", "inner event's type");
        ok (fy_event_occurred_at_ms (event) > 0, "occurredAt parsed");
        ok (fy_uuid_is_valid (fy_event_company_id (event), 36), "companyId");
        ok (json_is_object (fy_event_payload (event)), "payload is an object");
        is_int (fy_event_version (event), 1, "version");
    }
    fy_event_destroy (&event);
    free (data);
}

//  An event's envelope as msgpack, then a payload of count members k0,
//  k1, ... with the last one named again (a duplicate) when dup.
static void
s_pack_event (msgpack_packer *pk, int version, int count, bool dup)
{
    static const char *const strings [][2] = {
        { "id", "00000000-0000-4000-8000-000000000001" },
        { "type", "goal.created" },
        { "source", "hr" },
        { "occurredAt", "2026-12-01T10:00:00.000Z" },
        { "companyId", "11111111-1111-4111-8111-111111111111" },
    };
    msgpack_pack_map (pk, 7);
    for (size_t i = 0; i < 5; i++)
        for (int j = 0; j < 2; j++) {
            msgpack_pack_str (pk, strlen (strings [i][j]));
            msgpack_pack_str_body (pk, strings [i][j], strlen (strings [i][j]));
        }
    msgpack_pack_str (pk, 7);
    msgpack_pack_str_body (pk, "version", 7);
    msgpack_pack_int (pk, version);
    msgpack_pack_str (pk, 7);
    msgpack_pack_str_body (pk, "payload", 7);
    msgpack_pack_map (pk, (size_t) count + dup);
    for (int i = 0; i < count + dup; i++) {
        char key [16];
        int len = snprintf (key, sizeof key, "k%d", i < count ? i : count - 1);
        msgpack_pack_str (pk, (size_t) len);
        msgpack_pack_str_body (pk, key, (size_t) len);
        msgpack_pack_int (pk, i);
    }
}

//  A worker's events, read from the msgpack as it is: the payload's
//  members and text, and the errors the tree's way gives, word for word.
static void
s_msgpack_read (void)
{
    static const struct {
        int version, count;
        bool dup;
        const char *error;
    } cases [] = {
        { 1, 3, false, NULL },
        { 1, 12, false, NULL },
        { 1, 3, true, "msgpack: duplicate map key" },
        { 1, 12, true, "msgpack: duplicate map key" },
        { 2, 3, false, "/version: unsupported" },
        { 0, 3, false, "/version: type" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases [0]; c++) {
        msgpack_sbuffer buffer;
        msgpack_sbuffer_init (&buffer);
        msgpack_packer pk;
        msgpack_packer_init (&pk, &buffer, msgpack_sbuffer_write);
        s_pack_event (&pk, cases [c].version, cases [c].count, cases [c].dup);
        fy_error_t err = { "" };
        errno = 0;
        fy_event_t *event =
            fy_event_decode_msgpack (buffer.data, buffer.size, &err);
        if (cases [c].error) {
            ok (!event && errno == EPROTO, "case %zu refused", c);
            is_str (err.text, cases [c].error, "case %zu: in the tree's words",
                    c);
        }
        else {
            is_str (fy_event_payload_string (event, "k0", NULL), NULL,
                    "case %zu: a number is no string", c);
            char *text = fy_event_payload_dumps (event, NULL);
            ok (text && strncmp (text, "{\"k0\":0,\"k1\":1,", 14) == 0
                    && text [strlen (text) - 1] == '}',
                "case %zu: the payload's text in its order: %s", c, text);
            free (text);
            is_str (fy_event_payload_dumps (event, "k1"), NULL,
                    "case %zu: a member that is no object has no text", c);
            ok (json_integer_value (
                    json_object_get (fy_event_payload (event), "k1"))
                    == 1,
                "case %zu: and its tree when asked for", c);
        }
        fy_event_destroy (&event);
        msgpack_sbuffer_destroy (&buffer);
    }
}

int
main (void)
{
    plan (NO_PLAN);
    s_schema = tap_events_schema ();
    size_t golden =
        tap_each_file (tap_srcpath ("tests/data/events"), ".json", s_golden);
    ok (golden >= 26, "%zu golden samples, one per type", golden);
    size_t invalid = tap_each_file (tap_srcpath ("tests/data/events/invalid"),
                                    ".json", s_invalid);
    ok (invalid >= 20, "%zu invalid samples", invalid);
    s_sns ();
    s_errors ();
    s_msgpack_read ();
    size_t suite = tap_each_file (tap_testdata ("jsontestsuite/test_parsing"),
                                  ".json", s_json_suite);
    ok (suite > 300, "%zu JSONTestSuite files", suite);
    fy_schema_destroy (&s_schema);
    return done_testing ();
}
