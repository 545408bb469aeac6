/*  fy_msgpack: JSON values through msgpack-c's packer and unpacker. The
    unpacker does the bounds checking; this file only maps types and
    refuses the ones JSON cannot carry. */
#include "ferry/fy_msgpack.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int
s_pack (msgpack_packer *packer, const json_t *value, int depth)
{
    switch (json_typeof (value)) {
        case JSON_OBJECT: {
            if (depth >= FY_MSGPACK_MAX_DEPTH)
                goto too_deep;
            msgpack_pack_map (packer, json_object_size (value));
            const char *key;
            json_t *member;
            //  jansson iterates in insertion order, so key order survives.
            json_object_foreach ((json_t *) value, key, member)
            {
                size_t len = strlen (key);
                msgpack_pack_str (packer, len);
                msgpack_pack_str_body (packer, key, len);
                if (s_pack (packer, member, depth + 1))
                    return -1;
            }
            return 0;
        }
        case JSON_ARRAY: {
            if (depth >= FY_MSGPACK_MAX_DEPTH)
                goto too_deep;
            size_t size = json_array_size (value);
            msgpack_pack_array (packer, size);
            for (size_t i = 0; i < size; i++)
                if (s_pack (packer, json_array_get (value, i), depth + 1))
                    return -1;
            return 0;
        }
        case JSON_STRING: {
            size_t len = json_string_length (value);
            msgpack_pack_str (packer, len);
            msgpack_pack_str_body (packer, json_string_value (value), len);
            return 0;
        }
        case JSON_INTEGER:
            msgpack_pack_int64 (packer, json_integer_value (value));
            return 0;
        case JSON_REAL:
            msgpack_pack_double (packer, json_real_value (value));
            return 0;
        case JSON_TRUE:
            msgpack_pack_true (packer);
            return 0;
        case JSON_FALSE:
            msgpack_pack_false (packer);
            return 0;
        case JSON_NULL:
            msgpack_pack_nil (packer);
            return 0;
    }
too_deep:
    errno = EINVAL;
    return -1;
}

int
fy_msgpack_pack (msgpack_packer *packer, const json_t *value)
{
    assert (packer);
    assert (value);
    return s_pack (packer, value, 0);
}

int
fy_msgpack_encode (const json_t *value, char **data_p, size_t *size_p)
{
    assert (data_p);
    assert (size_p);
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    if (fy_msgpack_pack (&packer, value)) {
        msgpack_sbuffer_destroy (&buffer);
        return -1;
    }
    *size_p = buffer.size;
    *data_p = msgpack_sbuffer_release (&buffer);
    return 0;
}

static json_t *
s_fail (fy_error_t *err, int errnum, const char *what)
{
    fy_error_set (err, "msgpack: %s", what);
    errno = errnum;
    return NULL;
}

static json_t *
s_from_object (const msgpack_object *object, int depth, fy_error_t *err)
{
    if (depth > FY_MSGPACK_MAX_DEPTH)
        return s_fail (err, EPROTO, "nested too deep");
    switch (object->type) {
        case MSGPACK_OBJECT_NIL:
            return json_null ();
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (object->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            if (object->via.u64 > (uint64_t) INT64_MAX)
                return s_fail (err, ERANGE, "integer above int64");
            return json_integer ((json_int_t) object->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) object->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: {
            json_t *real = json_real (object->via.f64);
            return real ? real : s_fail (err, EPROTO, "NaN or infinity");
        }
        case MSGPACK_OBJECT_STR: {
            //  msgpack-c leaves ptr NULL for an empty string.
            json_t *string =
                json_stringn (object->via.str.size ? object->via.str.ptr : "",
                              object->via.str.size);
            //  jansson refuses invalid UTF-8 and, without JSON_ALLOW_NUL
            //  semantics here, nothing else.
            return string ? string : s_fail (err, EPROTO, "invalid UTF-8");
        }
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t i = 0; i < object->via.array.size; i++) {
                json_t *item =
                    s_from_object (&object->via.array.ptr [i], depth + 1, err);
                if (!item || json_array_append_new (array, item)) {
                    json_decref (array);
                    return NULL;
                }
            }
            return array;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *map = json_object ();
            for (uint32_t i = 0; i < object->via.map.size; i++) {
                const msgpack_object_kv *pair = &object->via.map.ptr [i];
                json_t *value = NULL;
                if (pair->key.type != MSGPACK_OBJECT_STR) {
                    s_fail (err, EPROTO, "map key is not a string");
                    goto bad_map;
                }
                //  As for values: an empty key comes with a NULL ptr.
                size_t len = pair->key.via.str.size;
                const char *key = len ? pair->key.via.str.ptr : "";
                //  An embedded NUL would truncate the key in jansson.
                if (memchr (key, 0, len)) {
                    s_fail (err, EPROTO, "map key holds NUL");
                    goto bad_map;
                }
                if (json_object_getn (map, key, len)) {
                    s_fail (err, EPROTO, "duplicate map key");
                    goto bad_map;
                }
                value = s_from_object (&pair->val, depth + 1, err);
                if (!value)
                    goto bad_map;
                if (json_object_setn_new (map, key, len, value)) {
                    s_fail (err, EPROTO, "invalid UTF-8 in map key");
                    goto bad_map;
                }
                continue;
            bad_map:
                json_decref (map);
                return NULL;
            }
            return map;
        }
        case MSGPACK_OBJECT_BIN:
            return s_fail (err, EPROTO, "bin has no JSON form");
        case MSGPACK_OBJECT_EXT:
            return s_fail (err, EPROTO, "ext has no JSON form");
    }
    return s_fail (err, EPROTO, "unknown type");
}

json_t *
fy_msgpack_from_object (const msgpack_object *object, fy_error_t *err)
{
    assert (object);
    return s_from_object (object, 0, err);
}

//  Read a big-endian length of width bytes at *at, advancing it.
static bool
s_length (const uint8_t **at, const uint8_t *end, int width, uint64_t *value)
{
    if ((size_t) (end - *at) < (size_t) width)
        return false;
    *value = 0;
    for (int i = 0; i < width; i++)
        *value = (*value << 8) | (*at) [i];
    *at += width;
    return true;
}

int
fy_msgpack_check (const void *data, size_t size, int max_depth)
{
    assert (data || size == 0);
    assert (max_depth >= 0 && max_depth <= 64);
    const uint8_t *at = data, *end = at + size;
    uint64_t pending [66] = { 1 };  //  values still to read per level
    int depth = 0;
    while (depth >= 0) {
        if (pending [depth] == 0) {
            depth--;
            continue;
        }
        pending [depth]--;
        if (at >= end)
            goto bad;
        uint8_t byte = *at++;
        uint64_t skip = 0, items = 0, length = 0;
        if (byte <= 0x7f || byte >= 0xe0)
            continue;  //  fixint
        if (byte <= 0x8f)
            items = (uint64_t) (byte & 0x0f) * 2;  //  fixmap
        else if (byte <= 0x9f)
            items = byte & 0x0f;  //  fixarray
        else if (byte <= 0xbf)
            skip = byte & 0x1f;  //  fixstr
        else
            switch (byte) {
                case 0xc0:
                case 0xc2:
                case 0xc3:
                    break;
                case 0xc4:
                case 0xd9:  //  bin8, str8
                    if (!s_length (&at, end, 1, &skip))
                        goto bad;
                    break;
                case 0xc5:
                case 0xda:
                    if (!s_length (&at, end, 2, &skip))
                        goto bad;
                    break;
                case 0xc6:
                case 0xdb:
                    if (!s_length (&at, end, 4, &skip))
                        goto bad;
                    break;
                case 0xc7:
                case 0xc8:
                case 0xc9:  //  ext: length, type
                    if (!s_length (&at, end, 1 << (byte - 0xc7), &length))
                        goto bad;
                    skip = length + 1;
                    break;
                case 0xcc:
                case 0xd0:
                    skip = 1;
                    break;
                case 0xcd:
                case 0xd1:
                    skip = 2;
                    break;
                case 0xca:
                case 0xce:
                case 0xd2:
                    skip = 4;
                    break;
                case 0xcb:
                case 0xcf:
                case 0xd3:
                    skip = 8;
                    break;
                case 0xd4:
                    skip = 2;
                    break;  //  fixext 1..16
                case 0xd5:
                    skip = 3;
                    break;
                case 0xd6:
                    skip = 5;
                    break;
                case 0xd7:
                    skip = 9;
                    break;
                case 0xd8:
                    skip = 17;
                    break;
                case 0xdc:
                    if (!s_length (&at, end, 2, &items))
                        goto bad;
                    break;
                case 0xdd:
                    if (!s_length (&at, end, 4, &items))
                        goto bad;
                    break;
                case 0xde:
                    if (!s_length (&at, end, 2, &items))
                        goto bad;
                    items *= 2;
                    break;
                case 0xdf:
                    if (!s_length (&at, end, 4, &items))
                        goto bad;
                    items *= 2;
                    break;
                default:  //  0xc1, never used
                    goto bad;
            }
        if (skip > (uint64_t) (end - at))
            goto bad;
        at += skip;
        if (items) {
            //  Every item takes at least one byte.
            if (items > (uint64_t) (end - at) || depth + 1 > max_depth)
                goto bad;
            pending [++depth] = items;
        }
    }
    if (at == end)
        return 0;
bad:
    errno = EPROTO;
    return -1;
}

json_t *
fy_msgpack_decode (const void *data, size_t size, fy_error_t *err)
{
    assert (data || size == 0);
    if (fy_msgpack_check (data, size, FY_MSGPACK_MAX_DEPTH + 1))
        return s_fail (err, EPROTO, "malformed, truncated or nested too deep");
    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    json_t *value = NULL;
    msgpack_unpack_return rc =
        msgpack_unpack_next (&unpacked, data, size, &offset);
    if (rc != MSGPACK_UNPACK_SUCCESS)
        s_fail (err, EPROTO,
                rc == MSGPACK_UNPACK_CONTINUE ? "truncated" : "malformed");
    else if (offset != size)
        s_fail (err, EPROTO, "trailing bytes");
    else
        value = s_from_object (&unpacked.data, 0, err);
    msgpack_unpacked_destroy (&unpacked);
    return value;
}
