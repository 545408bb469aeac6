/*  fy_msgpack: msgpack <-> JSON values (jansson), the bridge between the
    JSON the monolith sends and the msgpack ferry carries inside. Only the
    types JSON has cross: nil, bool, integers that fit int64, float64,
    UTF-8 strings, arrays and maps with string keys. bin, ext and
    timestamps have no JSON form and are refused, so a round trip is
    always exact. */
#ifndef FY_MSGPACK_H_INCLUDED
#define FY_MSGPACK_H_INCLUDED

#include "ferry/fy_common.h"

#include <jansson.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Deepest nesting either direction accepts. msgpack-c's unpacker has a
//  fixed stack of 32 containers, so encoding refuses anything it could not
//  decode again.
#define FY_MSGPACK_MAX_DEPTH 31

//  Append value's encoding to packer. Returns 0, or -1 with errno EINVAL
//  when value nests deeper than FY_MSGPACK_MAX_DEPTH.
FY_EXPORT int
fy_msgpack_pack (msgpack_packer *packer, const json_t *value) FY_MUSTCHECK;

//  Encode value as one msgpack buffer. Caller owns *data_p (free).
//  Returns 0, or -1 with errno EINVAL as fy_msgpack_pack.
FY_EXPORT int
fy_msgpack_encode (const json_t *value, char **data_p,
                   size_t *size_p) FY_MUSTCHECK;

//  Check that data holds exactly one well-formed msgpack value nested at
//  most max_depth deep, whose declared sizes fit in the bytes there are.
//  msgpack-c allocates a container's items from its declared count before
//  reading them, so five bytes claiming 4G items would make it try to
//  allocate 100 GB; every decoder here checks first. Never allocates.
//  Returns 0, or -1 with errno EPROTO.
FY_EXPORT int
fy_msgpack_check (const void *data, size_t size, int max_depth) FY_MUSTCHECK;

//  Decode exactly one msgpack value filling size bytes. Caller owns result.
//  Returns NULL with errno EPROTO (malformed, trailing bytes, bin/ext,
//  non-string or duplicate keys, invalid UTF-8, NaN) or ERANGE (an integer
//  above INT64_MAX), and err.
FY_EXPORT json_t *
fy_msgpack_decode (const void *data, size_t size, fy_error_t *err);

//  Decode from msgpack-c's object model, for callers that unpacked a
//  larger message themselves. Same errors as fy_msgpack_decode.
FY_EXPORT json_t *
fy_msgpack_from_object (const msgpack_object *object, fy_error_t *err);

//  Check that object has a JSON form (what fy_msgpack_from_object
//  checks) without building it, for callers that read the object as it
//  is. Returns 0, or -1 with errno and err as fy_msgpack_decode.
FY_EXPORT int
fy_msgpack_check_object (const msgpack_object *object,
                         fy_error_t *err) FY_MUSTCHECK;

//  The compact JSON text of an object fy_msgpack_check_object passed, in
//  its key order: what fy_json_dumps writes for the tree
//  fy_msgpack_from_object would build, without building it. Caller owns
//  result; *len_p (when not NULL) gets its length.
FY_EXPORT char *
fy_msgpack_dumps (const msgpack_object *object, size_t *len_p);

#ifdef __cplusplus
}
#endif
#endif
