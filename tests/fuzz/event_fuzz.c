/*  Fuzz target for the edge of ferry: any byte string as a message body
    (JSON, SNS envelope, schema) and as msgpack (what a peer could send).
    A valid event must survive JSON -> msgpack -> event -> JSON exactly,
    and decoding inside an fy_json_arena (as the bridge does) must give
    the same verdict, errno, error text and msgpack as outside it. */
#include "ferry/ferry.h"
#include "codec/fy_json_arena.h"

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

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fy_error_t err = { "" };
    errno = 0;
    fy_event_t *event =
        fy_event_decode_json ((const char *) data, size, s_schema (), &err);
    if (!event)
        s_check_arena (data, size, errno, err.text, NULL, 0);
    if (event) {
        char *first = fy_event_encode_json (event);
        char *packed = NULL;
        size_t packed_size = 0;
        int rc = fy_event_encode_msgpack (event, &packed, &packed_size);
        assert (rc == 0);
        s_check_arena (data, size, 0, "", packed, packed_size);
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
    fy_event_t *from_peer = fy_event_decode_msgpack (data, size, &err);
    fy_event_destroy (&from_peer);
    return 0;
}
