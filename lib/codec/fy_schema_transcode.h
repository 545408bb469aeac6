/*  fy_schema_transcode: JSON text to msgpack in one pass, validated as it
    is read against a compiled fy_schema, with no jansson tree (the
    bridge's event decode; issue 16). It is implemented in fy_schema.c,
    beside the compiled nodes it follows. It handles what most schemas
    are made of (type, const and enum on scalars, the string, number,
    array and object rules, $ref, allOf, allOf's if/then switches on a
    property, anyOf of "required" lists) and refuses anything else, and anything it is not sure of:
    the caller then takes the tree's way (fy_json_loadb,
    fy_schema_validate, fy_msgpack_pack), which says what is wrong. What
    it accepts, the tree's way accepts too, and its msgpack is the bytes
    fy_msgpack_pack writes for that tree, key order kept. */
#ifndef FY_SCHEMA_TRANSCODE_H_INCLUDED
#define FY_SCHEMA_TRANSCODE_H_INCLUDED

#include "ferry/fy_schema.h"

#include <msgpack.h>

//  A member of the root object, as the transcoder read it.
typedef struct {
    json_type type;
    const char *text;           //  JSON_STRING: len bytes, no NUL after
    size_t len;
    json_int_t integer;         //  JSON_INTEGER
} fy_schema_member_t;

//  Called for each member of the root value, when it is an object, once its value is read and
//  checked; key and member->text are borrowed for the call. Returns 0,
//  or -1 to refuse the text.
typedef int (fy_schema_member_fn) (void *arg, const char *key, size_t key_len,
                                   const fy_schema_member_t *member);

//  Read size bytes of JSON text (one value), validate it
//  against self (NULL: no schema) and append its msgpack to out. Returns
//  0, or -1 when it refuses the text (invalid, or beyond what it
//  handles: nested 30 deep, an object of more than 64 members, ...), out
//  then as it was. No error text (errno may change): the tree's way says
//  what is wrong.
int
fy_schema_transcode (fy_schema_t *self, const char *data, size_t size,
                     msgpack_sbuffer *out, fy_schema_member_fn *on_member,
                     void *arg) FY_MUSTCHECK;

#endif
