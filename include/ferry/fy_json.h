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
json_t *
    fy_json_loadb (const char *data, size_t size,
                   fy_error_t *err) FY_MUSTCHECK;

//  The same for a NUL-terminated string.
json_t *
    fy_json_loads (const char *text, fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif

#endif
