/*  fy_event: the envelope of a domain event (DESIGN §4). An event arrives
    as JSON on SQS (bare, or inside an SNS envelope), is validated once at
    the edge, and travels inside ferry as msgpack with the same keys. The
    round trip JSON -> event -> msgpack -> event -> JSON is exact: same
    keys, same order, same values. */
#ifndef FY_EVENT_H_INCLUDED
#define FY_EVENT_H_INCLUDED

#include "ferry/fy_common.h"
#include "ferry/fy_schema.h"

#include <jansson.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The major version this build understands; higher ones are refused.
#define FY_EVENT_VERSION_MAJOR 1
//  The largest message body accepted, as SQS's own limit.
#define FY_EVENT_MAX_BYTES (256 * 1024)

typedef struct fy_event fy_event_t;

//  Decode a message body: the event JSON, or an SNS notification whose
//  Message is the event JSON. With a schema, validate against it; the
//  envelope fields ferry itself relies on are checked either way.
//  Returns NULL with err and errno:
//    EMSGSIZE  body larger than FY_EVENT_MAX_BYTES
//    EBADMSG   not JSON (or an SNS Message that is not)
//    ENOENT    the type is not one the schema knows
//    ENOTSUP   a version above FY_EVENT_VERSION_MAJOR
//    EINVAL    any other schema or envelope violation
FY_EXPORT fy_event_t *
fy_event_decode_json (const char *data, size_t size, fy_schema_t *schema,
                      fy_error_t *err);

//  Decode a message body as fy_event_decode_json does and append to out
//  what the bridge carries: the event's msgpack (the bytes
//  fy_event_encode_msgpack writes, *packed_p of them), then its id and
//  its type, each NUL-terminated. An event the schema allows is read in
//  one pass with no tree (fy_schema's transcoder); anything else takes
//  fy_event_decode_json's way, so every error keeps its words and errno
//  (as fy_event_decode_json; E2BIG when the event cannot be carried as
//  msgpack). Returns 0, or -1 with out as it was.
FY_EXPORT int
fy_event_transcode_json (const char *data, size_t size, fy_schema_t *schema,
                         msgpack_sbuffer *out, size_t *packed_p,
                         fy_error_t *err) FY_MUSTCHECK;

//  Decode an event from msgpack as fy_event_encode_msgpack wrote it. The
//  envelope is checked, the schema is not: it was at the edge. Returns
//  NULL with errno EPROTO (not msgpack, or not an envelope) and err.
FY_EXPORT fy_event_t *
fy_event_decode_msgpack (const void *data, size_t size, fy_error_t *err);

//  Build an event from a JSON value (takes ownership of *root_p, even on
//  failure). Checks as fy_event_decode_json.
FY_EXPORT fy_event_t *
fy_event_new (json_t **root_p, fy_schema_t *schema, fy_error_t *err);

FY_EXPORT void
fy_event_destroy (fy_event_t **self_p);

//  Encode as msgpack. Caller owns *data_p (free).
FY_EXPORT int
fy_event_encode_msgpack (fy_event_t *self, char **data_p,
                         size_t *size_p) FY_MUSTCHECK;

//  Encode as compact JSON in the original key order. Caller owns result.
FY_EXPORT char *
fy_event_encode_json (fy_event_t *self);

//  The envelope. Strings are borrowed until the event is destroyed;
//  actor_id and correlation_id may be NULL.
FY_EXPORT const char *
fy_event_id (fy_event_t *self);
FY_EXPORT const char *
fy_event_type (fy_event_t *self);
FY_EXPORT int
fy_event_version (fy_event_t *self);
FY_EXPORT const char *
fy_event_source (fy_event_t *self);
FY_EXPORT const char *
fy_event_occurred_at (fy_event_t *self);
FY_EXPORT int64_t
fy_event_occurred_at_ms (fy_event_t *self);
FY_EXPORT const char *
fy_event_company_id (fy_event_t *self);
FY_EXPORT const char *
fy_event_actor_id (fy_event_t *self);
FY_EXPORT const char *
fy_event_correlation_id (fy_event_t *self);
//  Borrowed.
FY_EXPORT json_t *
fy_event_payload (fy_event_t *self);
//  The whole event. Borrowed.
FY_EXPORT json_t *
fy_event_json (fy_event_t *self);

//  The string value of the payload's member key (or of that member's
//  member subkey, when subkey is not NULL), or NULL when there is no such
//  string. Borrowed until the event is destroyed. On an event from
//  msgpack, this and fy_event_payload_dumps read the msgpack as it is:
//  a worker that needs nothing else never builds the event's JSON tree.
FY_EXPORT const char *
fy_event_payload_string (fy_event_t *self, const char *key, const char *subkey);

//  The payload (key NULL), or its member key when that is an object, as
//  compact JSON in its key order; NULL when there is no such object.
//  Caller owns result.
FY_EXPORT char *
fy_event_payload_dumps (fy_event_t *self, const char *key);

//  A short stable word for an errno from the decoders, for DLQ attributes
//  and metric labels: "oversize", "invalid_json", "unknown_type",
//  "unsupported_version", "schema", "invalid_msgpack", or "error".
FY_EXPORT const char *
fy_event_reason (int errnum);

#ifdef __cplusplus
}
#endif
#endif
