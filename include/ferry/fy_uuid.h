/*  fy_uuid: the 36-character textual UUIDs that identify events, companies
    and users, and random (version 4) ones for ids ferry mints itself. */
#ifndef FY_UUID_H_INCLUDED
#define FY_UUID_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FY_UUID_SIZE 37
#define FY_UUID_BYTES 16

//  True when text of len bytes is 8-4-4-4-12 hex digits, either case.
FY_EXPORT bool
fy_uuid_is_valid (const char *text, size_t len);

//  Write a new random version 4 UUID, lower case, into buffer.
FY_EXPORT void
fy_uuid_generate (char buffer [FY_UUID_SIZE]);

//  The 16 bytes of a NUL-terminated uuid text (fy_uuid_is_valid). Returns
//  0, or -1 with errno EINVAL when text is not one.
FY_EXPORT int
fy_uuid_parse (const char *text,
               unsigned char bytes [FY_UUID_BYTES]) FY_MUSTCHECK;

//  The text of 16 bytes, lower case, into buffer.
FY_EXPORT void
fy_uuid_format (const unsigned char bytes [FY_UUID_BYTES],
                char buffer [FY_UUID_SIZE]);

#ifdef __cplusplus
}
#endif
#endif
