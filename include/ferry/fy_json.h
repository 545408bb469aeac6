/*  fy_json: a strict RFC 8259 reader that builds jansson values.

    jansson's own parser reads a byte at a time through a stream
    abstraction and measured 25-48 MB/s on SQS responses and event bodies,
    about half of ferry-bridge's CPU per event. This one scans strings in
    place, copies only when a string has escapes, and builds the same
    jansson tree, so everything downstream (schema, msgpack, storage) is
    unchanged.

    It is strict where ferry needs it to be, for every caller:
    * any JSON value at the top, with nothing but whitespace after it;
    * duplicate object keys are refused (two parsers could read the same
      event differently), and so is \u0000 (PostgreSQL text cannot hold it);
    * strings must be valid UTF-8 (no overlongs, no surrogates), escapes
      must pair surrogates;
    * integers must fit int64_t and reals must be finite, as in jansson;
    * nesting is limited to FY_JSON_MAX_DEPTH.
    Object keys keep their order, as jansson's parser keeps it. */
#ifndef FY_JSON_H_INCLUDED
#define FY_JSON_H_INCLUDED

#include "ferry/fy_common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FY_JSON_MAX_DEPTH 2048

//  Parse size bytes (NUL bytes are data, and refused outside strings).
//  Returns a new reference, or NULL with err set to "invalid JSON at
//  LINE:COLUMN: reason" and errno EBADMSG.
FY_EXPORT json_t *
fy_json_loadb (const char *data, size_t size, fy_error_t *err) FY_MUSTCHECK;

//  The same for a NUL-terminated string.
FY_EXPORT json_t *
fy_json_loads (const char *text, fy_error_t *err) FY_MUSTCHECK;

//  Compact JSON text of value (any value, not only a container), as
//  jansson's json_dumps with JSON_COMPACT | JSON_ENCODE_ANY writes it,
//  byte for byte, at several times its speed: keys in insertion order,
//  or sorted with FY_JSON_SORT_KEYS; reals with 17 significant digits.
//  Returns a NUL-terminated string the caller frees, its length in
//  *len_p (may be NULL).
#define FY_JSON_SORT_KEYS 1
FY_EXPORT char *
fy_json_dumps (const json_t *value, unsigned flags, size_t *len_p);

//  The error body every ferry answer uses, over HTTP or in a REPLY
//  (openapi.json's Error): {"error":{"code":code,"message":message}}.
//  Caller owns result.
FY_EXPORT char *
fy_json_error_body (const char *code, const char *message);

//  A pull reader over one JSON text, for a caller that wants a few
//  fields of a large document without building its whole tree (the
//  bridge's SQS answers). As strict as fy_json_loadb, except that a
//  caller reading keys itself must refuse duplicates itself. Every call
//  returns -1 with errno EBADMSG and err set once the text is found
//  invalid, and keeps failing after that.
typedef struct fy_json_reader fy_json_reader_t;

//  data must outlive the reader.
FY_EXPORT fy_json_reader_t *
fy_json_reader_new (const char *data, size_t size, fy_error_t *err);
FY_EXPORT void
fy_json_reader_destroy (fy_json_reader_t **self_p);

//  Enter the object ('{') or array ('[') that comes next: 1 when members
//  follow, 0 when it is empty (and already left), -1 when it is invalid
//  or not of that kind.
FY_EXPORT int
fy_json_reader_enter (fy_json_reader_t *self, char open) FY_MUSTCHECK;

//  In an object, before each member: read its key up to the value. *key
//  is borrowed until the next call.
FY_EXPORT int
fy_json_reader_key (fy_json_reader_t *self, const char **key,
                    size_t *len) FY_MUSTCHECK;

//  After a member or element: 1 when another follows, 0 when the
//  innermost container closed, -1 when invalid.
FY_EXPORT int
fy_json_reader_next (fy_json_reader_t *self) FY_MUSTCHECK;

//  The first byte of the next value ('{', '[', '"', 't', 'f', 'n', '-' or
//  a digit), to choose how to read it; 0 when the reader failed or no
//  value is next. Reads nothing.
FY_EXPORT char
fy_json_reader_peek (fy_json_reader_t *self);

//  The next value, which must be a string; *text (not NUL-terminated) is
//  borrowed until the next call.
FY_EXPORT int
fy_json_reader_string (fy_json_reader_t *self, const char **text,
                       size_t *len) FY_MUSTCHECK;

//  The next value, whatever it is, as a tree (a new reference; duplicate
//  keys refused inside it), or NULL.
FY_EXPORT json_t *
fy_json_reader_value (fy_json_reader_t *self) FY_MUSTCHECK;

//  Only whitespace may remain, every container closed: 0, else -1.
FY_EXPORT int
fy_json_reader_end (fy_json_reader_t *self) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif

#endif
