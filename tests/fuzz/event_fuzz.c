/*  Fuzz target for the edge of ferry: any byte string as a message body
    (JSON, SNS envelope, schema) and as msgpack (what a peer could send).
    A valid event must survive JSON -> msgpack -> event -> JSON exactly,
    an event read from msgpack as it is must read as one decoded to a
    tree first, decoding inside an fy_json_arena (as the bridge does)
    must give the same verdict, errno, error text and msgpack as outside
    it, and so must the one-pass decode (fy_event_transcode_json), whose
    transcoder alone accepts only what the validator accepts. */
#include "ferry/ferry.h"
#include "codec/fy_json_arena.h"
#include "codec/fy_schema_transcode.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static fy_schema_t *
s_schema (void)
{
    static fy_schema_t *schema;
    if (!schema) {
        const char *path = getenv ("FERRY_EVENTS_SCHEMA");
        fy_error_t err = { "" };
        schema = fy_schema_load (
            path ? path : FERRY_SRCDIR "/schemas/events.schema.json", &err);
        if (!schema) {
            fprintf (stderr, "event_fuzz: schema: %s\n", err.text);
            abort ();
        }
    }
    return schema;
}

static bool
s_same (const char *a, const char *b)
{
    return a == b || (a && b && strcmp (a, b) == 0);
}

//  The bytes as msgpack from a peer: the decoder that reads the msgpack
//  as it is must agree with the one that builds a tree first, in the
//  verdict, the error's words, the envelope, the payload's members and
//  its JSON text, before and after the tree is built.
static void
s_peer (const uint8_t *data, size_t size)
{
    fy_error_t err = { "" }, tree_err = { "" };
    fy_event_t *event = fy_event_decode_msgpack (data, size, &err);
    json_t *root = fy_msgpack_decode (data, size, &tree_err);
    fy_event_t *tree = root ? fy_event_new (&root, NULL, &tree_err) : NULL;
    assert (!event == !tree);
    if (!event) {
        assert (strcmp (err.text, tree_err.text) == 0);
        return;
    }
    assert (s_same (fy_event_id (event), fy_event_id (tree)));
    assert (s_same (fy_event_type (event), fy_event_type (tree)));
    assert (fy_event_version (event) == fy_event_version (tree));
    assert (s_same (fy_event_source (event), fy_event_source (tree)));
    assert (fy_event_occurred_at_ms (event) == fy_event_occurred_at_ms (tree));
    assert (s_same (fy_event_company_id (event), fy_event_company_id (tree)));
    assert (s_same (fy_event_actor_id (event), fy_event_actor_id (tree)));
    assert (s_same (fy_event_correlation_id (event),
                    fy_event_correlation_id (tree)));
    static const char *const keys [][2] = {
        { "action", NULL }, { "ip", NULL },        { "target", "type" },
        { "target", "id" }, { "userAgent", NULL }, { "", NULL },
    };
    for (int pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < sizeof keys / sizeof keys [0]; k++)
            assert (s_same (
                fy_event_payload_string (event, keys [k][0], keys [k][1]),
                fy_event_payload_string (tree, keys [k][0], keys [k][1])));
        const char *members [] = { NULL, "changes", "target" };
        for (size_t m = 0; m < 3; m++) {
            char *text = fy_event_payload_dumps (event, members [m]);
            char *expected = fy_event_payload_dumps (tree, members [m]);
            assert (s_same (text, expected));
            free (text);
            free (expected);
        }
        //  The second pass reads the tree the first built.
        char *text = fy_event_encode_json (event);
        char *expected = fy_event_encode_json (tree);
        assert (strcmp (text, expected) == 0);
        free (text);
        free (expected);
    }
    fy_event_destroy (&tree);
    fy_event_destroy (&event);
}

//  The same body decoded in the arena, the tree gone before leaving it.
static void
s_check_arena (const uint8_t *data, size_t size, int errnum, const char *error,
               const char *packed, size_t packed_size)
{
    static fy_json_arena_t *arena;
    if (!arena)
        arena = fy_json_arena_new (4096);
    bool entered = fy_json_arena_enter (arena);
    assert (entered);
    fy_error_t err = { "" };
    errno = 0;
    fy_event_t *event =
        fy_event_decode_json ((const char *) data, size, s_schema (), &err);
    assert (event ? errnum == 0 : errno == errnum);
    if (event) {
        char *again = NULL;
        size_t again_size = 0;
        int rc = fy_event_encode_msgpack (event, &again, &again_size);
        assert (rc == 0);
        assert (again_size == packed_size);
        assert (memcmp (again, packed, packed_size) == 0);
        free (again);
    }
    else
        assert (strcmp (err.text, error) == 0);
    fy_event_destroy (&event);
    fy_json_arena_leave (arena);
}

//  The one pass against the tree's way. fy_event_transcode_json must
//  give the verdict, errno, error text and bytes (msgpack, id, type) of
//  fy_event_decode_json + fy_event_encode_msgpack; and fy_schema_transcode
//  alone, with the schema and with none, may refuse anything but must
//  accept only what fy_json_loadb + fy_schema_validate accept, writing
//  what fy_msgpack_encode writes for that tree.
static void
s_check_pass (const uint8_t *data, size_t size, int errnum, const char *error,
              const char *packed, size_t packed_size, fy_event_t *event)
{
    msgpack_sbuffer out;
    msgpack_sbuffer_init (&out);
    fy_error_t err = { "" };
    size_t pass_size = 0;
    errno = 0;
    int rc = fy_event_transcode_json ((const char *) data, size, s_schema (),
                                      &out, &pass_size, &err);
    assert (!rc == !!event);
    if (rc) {
        assert (errno == errnum);
        assert (strcmp (err.text, error) == 0);
        assert (out.size == 0);
    }
    else {
        const char *id = fy_event_id (event), *type = fy_event_type (event);
        assert (pass_size == packed_size);
        assert (memcmp (out.data, packed, packed_size) == 0);
        assert (out.size == packed_size + strlen (id) + strlen (type) + 2);
        assert (strcmp (out.data + packed_size, id) == 0);
        assert (strcmp (out.data + packed_size + strlen (id) + 1, type) == 0);
    }
    for (int with = 0; with < 2; with++) {
        fy_schema_t *schema = with ? s_schema () : NULL;
        out.size = 0;
        if (fy_schema_transcode (schema, (const char *) data, size, &out, NULL,
                                 NULL))
            continue;
        json_t *tree = fy_json_loadb ((const char *) data, size, NULL);
        assert (tree);
        assert (!schema || fy_schema_validate (schema, tree, NULL) == 0);
        char *bytes = NULL;
        size_t bytes_size = 0;
        rc = fy_msgpack_encode (tree, &bytes, &bytes_size);
        assert (rc == 0);
        assert (bytes_size == out.size);
        assert (memcmp (bytes, out.data, out.size) == 0);
        free (bytes);
        json_decref (tree);
    }
    msgpack_sbuffer_destroy (&out);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fy_error_t err = { "" };
    errno = 0;
    fy_event_t *event =
        fy_event_decode_json ((const char *) data, size, s_schema (), &err);
    if (!event) {
        int errnum = errno;
        s_check_arena (data, size, errnum, err.text, NULL, 0);
        s_check_pass (data, size, errnum, err.text, NULL, 0, NULL);
    }
    if (event) {
        char *first = fy_event_encode_json (event);
        char *packed = NULL;
        size_t packed_size = 0;
        int rc = fy_event_encode_msgpack (event, &packed, &packed_size);
        assert (rc == 0);
        s_check_arena (data, size, 0, "", packed, packed_size);
        s_check_pass (data, size, 0, "", packed, packed_size, event);
        fy_event_t *carried =
            fy_event_decode_msgpack (packed, packed_size, &err);
        assert (carried);
        char *second = fy_event_encode_json (carried);
        assert (strcmp (first, second) == 0);
        free (second);
        free (first);
        free (packed);
        fy_event_destroy (&carried);
        fy_event_destroy (&event);
    }
    s_peer (data, size);
    return 0;
}
