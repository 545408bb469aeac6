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

static int
s_fail (fy_error_t *err, int errnum, const char *what)
{
    fy_error_set (err, "msgpack: %s", what);
    errno = errnum;
    return -1;
}

//  msgpack-c leaves ptr NULL for an empty string or key.
static const char *
s_str (const msgpack_object_str *str)
{
    return str->size ? str->ptr : "";
}

static bool
s_utf8_valid (const char *text, size_t len)
{
    const char *end = text + len;
    while (text < end) {
        //  Eight ASCII bytes at a time: most strings are all ASCII.
        uint64_t word;
        if (end - text >= 8) {
            memcpy (&word, text, 8);
            if ((word & UINT64_C (0x8080808080808080)) == 0) {
                text += 8;
                continue;
            }
        }
        if ((unsigned char) *text < 0x80) {
            text++;
            continue;
        }
        size_t length = fy_utf8_length (text, (size_t) (end - text));
        if (length == 0)
            return false;
        text += length;
    }
    return true;
}

static int
s_key_compare (const msgpack_object_kv *x, const msgpack_object_kv *y)
{
    uint32_t xlen = x->key.via.str.size, ylen = y->key.via.str.size;
    int by_bytes = memcmp (s_str (&x->key.via.str), s_str (&y->key.via.str),
                           xlen < ylen ? xlen : ylen);
    return by_bytes ? by_bytes : (xlen > ylen) - (xlen < ylen);
}

//  Equal keys are of one length first: most pairs differ there.
static bool
s_key_equal (const msgpack_object_kv *x, const msgpack_object_kv *y)
{
    return x->key.via.str.size == y->key.via.str.size
           && memcmp (s_str (&x->key.via.str), s_str (&y->key.via.str),
                      x->key.via.str.size)
                  == 0;
}

//  By key, then by place, so a run of one key lists its places in order.
static int
s_place_compare (const void *a, const void *b, void *arg)
{
    const msgpack_object_kv *pairs = arg;
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    int by_key = s_key_compare (&pairs [x], &pairs [y]);
    return by_key ? by_key : (x > y) - (x < y);
}

//  The place of the first of the first count keys of map (strings) that
//  repeats an earlier one, or count when none does. Small maps compare
//  every pair; larger ones sort, so many keys cost n log n, not n².
static uint32_t
s_first_duplicate (const msgpack_object_map *map, uint32_t count)
{
    uint32_t first = count;
    if (count <= 8) {
        for (uint32_t i = 1; i < count && first == count; i++)
            for (uint32_t j = 0; j < i && first == count; j++)
                if (s_key_equal (&map->ptr [i], &map->ptr [j]))
                    first = i;
        return first;
    }
    uint32_t *places = fy_xmalloc (count * sizeof *places);
    for (uint32_t i = 0; i < count; i++)
        places [i] = i;
    qsort_r (places, count, sizeof *places, s_place_compare, map->ptr);
    //  The second place of each run of one key repeats the first.
    for (uint32_t i = 1; i < count; i++)
        if (s_key_compare (&map->ptr [places [i]], &map->ptr [places [i - 1]])
                == 0
            && (i < 2
                || s_key_compare (&map->ptr [places [i - 1]],
                                  &map->ptr [places [i - 2]])
                       != 0)
            && places [i] < first)
            first = places [i];
    free (places);
    return first;
}

//  Whether object has a JSON form, nested at most FY_MSGPACK_MAX_DEPTH
//  below depth: the checks, in the order of the values, that building
//  its tree needs passed. 0, or -1 with errno and err.
static int
s_check (const msgpack_object *object, int depth, fy_error_t *err)
{
    if (depth > FY_MSGPACK_MAX_DEPTH)
        return s_fail (err, EPROTO, "nested too deep");
    switch (object->type) {
        case MSGPACK_OBJECT_NIL:
        case MSGPACK_OBJECT_BOOLEAN:
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return 0;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return object->via.u64 > (uint64_t) INT64_MAX
                       ? s_fail (err, ERANGE, "integer above int64")
                       : 0;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return isfinite (object->via.f64)
                       ? 0
                       : s_fail (err, EPROTO, "NaN or infinity");
        case MSGPACK_OBJECT_STR:
            return s_utf8_valid (s_str (&object->via.str), object->via.str.size)
                       ? 0
                       : s_fail (err, EPROTO, "invalid UTF-8");
        case MSGPACK_OBJECT_ARRAY:
            for (uint32_t i = 0; i < object->via.array.size; i++)
                if (s_check (&object->via.array.ptr [i], depth + 1, err))
                    return -1;
            return 0;
        case MSGPACK_OBJECT_MAP: {
            const msgpack_object_map *map = &object->via.map;
            uint32_t strings = 0;
            while (strings < map->size
                   && map->ptr [strings].key.type == MSGPACK_OBJECT_STR)
                strings++;
            uint32_t duplicate = s_first_duplicate (map, strings);
            for (uint32_t i = 0; i < map->size; i++) {
                const msgpack_object_kv *pair = &map->ptr [i];
                if (i == strings)
                    return s_fail (err, EPROTO, "map key is not a string");
                const msgpack_object_str *key = &pair->key.via.str;
                //  An embedded NUL would truncate the key in jansson.
                if (memchr (s_str (key), 0, key->size))
                    return s_fail (err, EPROTO, "map key holds NUL");
                if (i == duplicate)
                    return s_fail (err, EPROTO, "duplicate map key");
                if (s_check (&pair->val, depth + 1, err))
                    return -1;
                if (!s_utf8_valid (s_str (key), key->size))
                    return s_fail (err, EPROTO, "invalid UTF-8 in map key");
            }
            return 0;
        }
        case MSGPACK_OBJECT_BIN:
            return s_fail (err, EPROTO, "bin has no JSON form");
        case MSGPACK_OBJECT_EXT:
            return s_fail (err, EPROTO, "ext has no JSON form");
    }
    return s_fail (err, EPROTO, "unknown type");
}

int
fy_msgpack_check_object (const msgpack_object *object, fy_error_t *err)
{
    assert (object);
    return s_check (object, 0, err);
}

//  The tree of an object s_check passed.
static json_t *
s_build (const msgpack_object *object)
{
    switch (object->type) {
        case MSGPACK_OBJECT_BOOLEAN:
            return json_boolean (object->via.boolean);
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            return json_integer ((json_int_t) object->via.u64);
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            return json_integer ((json_int_t) object->via.i64);
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            return json_real (object->via.f64);
        case MSGPACK_OBJECT_STR:
            return json_stringn_nocheck (s_str (&object->via.str),
                                         object->via.str.size);
        case MSGPACK_OBJECT_ARRAY: {
            json_t *array = json_array ();
            for (uint32_t i = 0; i < object->via.array.size; i++)
                json_array_append_new (array,
                                       s_build (&object->via.array.ptr [i]));
            return array;
        }
        case MSGPACK_OBJECT_MAP: {
            json_t *map = json_object ();
            for (uint32_t i = 0; i < object->via.map.size; i++) {
                const msgpack_object_kv *pair = &object->via.map.ptr [i];
                json_object_setn_new_nocheck (map, s_str (&pair->key.via.str),
                                              pair->key.via.str.size,
                                              s_build (&pair->val));
            }
            return map;
        }
        default:
            return json_null ();
    }
}

json_t *
fy_msgpack_from_object (const msgpack_object *object, fy_error_t *err)
{
    assert (object);
    return s_check (object, 0, err) ? NULL : s_build (object);
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
    if (fy_msgpack_check (data, size, FY_MSGPACK_MAX_DEPTH + 1)) {
        s_fail (err, EPROTO, "malformed, truncated or nested too deep");
        return NULL;
    }
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
        value = fy_msgpack_from_object (&unpacked.data, err);
    msgpack_unpacked_destroy (&unpacked);
    return value;
}
