/*  fy_event: decode, check and encode event envelopes. An event from JSON
    keeps jansson's tree whole, so re-encoding reproduces every key in
    order. An event from msgpack (what every worker receives) keeps the
    unpacked msgpack and builds the tree only when asked for it: a worker
    that reads the envelope and the payload's members, or writes the
    payload as JSON text (fy_event_payload_string, fy_event_payload_dumps),
    never pays for a tree it would allocate and free node by node. The
    envelope fields are checked alike from either form. */
#include "ferry/fy_event.h"
#include "codec/fy_schema_transcode.h"
#include "ferry/fy_json.h"
#include "ferry/fy_msgpack.h"
#include "ferry/fy_time.h"
#include "ferry/fy_uuid.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fy_event {
    json_t *root;               //  NULL until asked for, from msgpack
    //  From msgpack: a copy of the bytes, which the unpacked strings
    //  point into (msgpack-c does not copy them), and the unpacked form
    //  in a zone of the event's own.
    char *bytes;
    msgpack_zone zone;
    bool zoned;                 //  false for an event from JSON
    msgpack_object data;
    const char *id;
    const char *type;
    int version;
    const char *source;
    const char *occurred_at;
    int64_t occurred_at_ms;
    const char *company_id;
    const char *actor_id;
    const char *correlation_id;
    json_t *payload;
    const msgpack_object *payload_object;
};

//  The first chunk of an event's zone: room for the unpacked objects of a
//  usual event (an envelope and a payload of some ten members) and the
//  strings copied from them, and a request glibc serves from its
//  per-thread cache. msgpack-c's default, 8 KB per event, is a large
//  request, before which malloc consolidates its fast bins: with a batch
//  of events freed at once, that led ferry-analytics' profile. An event
//  that needs more gets more chunks.
#define S_ZONE_CHUNK 960

static int
s_invalid (fy_error_t *err, int errnum, const char *pointer, const char *rule)
{
    fy_error_set (err, "%s: %s", pointer, rule);
    errno = errnum;
    return -1;
}

//  The envelope's members as either form has them.
typedef enum {
    S_ID,
    S_TYPE,
    S_VERSION,
    S_SOURCE,
    S_OCCURRED_AT,
    S_COMPANY_ID,
    S_ACTOR_ID,
    S_CORRELATION_ID,
    S_PAYLOAD,
    S_MEMBERS
} s_member_t;

static const char *const s_member_names [S_MEMBERS] = {
    "id",        "type",    "version",       "source", "occurredAt",
    "companyId", "actorId", "correlationId", "payload"
};

typedef enum {
    S_ABSENT,
    S_NULL,
    S_STRING,
    S_INTEGER,
    S_OBJECT,
    S_OTHER
} s_kind_t;

typedef struct {
    s_kind_t kind;
    const char *string;         //  NUL-terminated, for S_STRING
    int64_t integer;            //  for S_INTEGER
} s_field_t;

static void
s_fields_from_json (json_t *root, s_field_t fields [S_MEMBERS])
{
    for (int m = 0; m < S_MEMBERS; m++) {
        json_t *value = json_object_get (root, s_member_names [m]);
        s_field_t *field = &fields [m];
        field->kind = !value                    ? S_ABSENT
                      : json_is_null (value)    ? S_NULL
                      : json_is_string (value)  ? S_STRING
                      : json_is_integer (value) ? S_INTEGER
                      : json_is_object (value)  ? S_OBJECT
                                                : S_OTHER;
        field->string = json_string_value (value);
        field->integer = json_integer_value (value);
    }
}

//  A msgpack string as a C string, copied into the event's zone. As in
//  jansson's json_string_value, an embedded NUL ends it.
static const char *
s_zone_string (fy_event_t *self, const msgpack_object_str *str)
{
    char *copy = msgpack_zone_malloc (&self->zone, str->size + 1);
    assert (copy);
    if (str->size)
        memcpy (copy, str->ptr, str->size);
    copy [str->size] = '\0';
    return copy;
}

static s_field_t
s_field_from_msgpack (fy_event_t *self, const msgpack_object *value)
{
    s_field_t field = { S_OTHER, NULL, 0 };
    switch (value->type) {
        case MSGPACK_OBJECT_NIL:
            field.kind = S_NULL;
            break;
        case MSGPACK_OBJECT_STR:
            field.kind = S_STRING;
            field.string = s_zone_string (self, &value->via.str);
            break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            //  fy_msgpack_check_object refused what int64 cannot hold.
            field.kind = S_INTEGER;
            field.integer = value->via.i64;
            break;
        case MSGPACK_OBJECT_MAP:
            field.kind = S_OBJECT;
            break;
        default:
            break;
    }
    return field;
}

//  The member key (len bytes) of a msgpack map, or NULL.
static const msgpack_object *
s_msgpack_get (const msgpack_object *map, const char *key, size_t len)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_str *name = &map->via.map.ptr [i].key.via.str;
        if (name->size == len
            && (len == 0 || memcmp (name->ptr, key, len) == 0))
            return &map->via.map.ptr [i].val;
    }
    return NULL;
}

static void
s_fields_from_msgpack (fy_event_t *self, s_field_t fields [S_MEMBERS])
{
    const msgpack_object *root = &self->data;
    for (int m = 0; m < S_MEMBERS; m++) {
        const msgpack_object *value = s_msgpack_get (
            root, s_member_names [m], strlen (s_member_names [m]));
        fields [m] = value ? s_field_from_msgpack (self, value)
                           : (s_field_t) { S_ABSENT, NULL, 0 };
        if (m == S_PAYLOAD)
            self->payload_object = value;
    }
}

//  The fields ferry itself acts on: routing needs type, storage needs the
//  ids and time, and idempotency needs id. The schema checks these too,
//  but ferry must not depend on a schema file being right.
static int
s_check_envelope (fy_event_t *self, const s_field_t fields [S_MEMBERS],
                  fy_error_t *err)
{
    if (fields [S_ID].kind != S_STRING)
        return s_invalid (err, EINVAL, "/id", "required");
    self->id = fields [S_ID].string;
    if (!fy_uuid_is_valid (self->id, strlen (self->id)))
        return s_invalid (err, EINVAL, "/id", "format uuid");
    self->type = fields [S_TYPE].string;
    if (fields [S_TYPE].kind != S_STRING || !*self->type)
        return s_invalid (err, EINVAL, "/type", "required");
    if (fields [S_VERSION].kind != S_INTEGER || fields [S_VERSION].integer < 1)
        return s_invalid (err, EINVAL, "/version", "type");
    self->version = (int) fields [S_VERSION].integer;
    if (fields [S_SOURCE].kind != S_STRING)
        return s_invalid (err, EINVAL, "/source", "required");
    self->source = fields [S_SOURCE].string;
    if (fields [S_OCCURRED_AT].kind != S_STRING)
        return s_invalid (err, EINVAL, "/occurredAt", "required");
    self->occurred_at = fields [S_OCCURRED_AT].string;
    if (fy_time_parse (self->occurred_at, strlen (self->occurred_at), true,
                       &self->occurred_at_ms))
        return s_invalid (err, EINVAL, "/occurredAt", "format date-time");
    if (fields [S_COMPANY_ID].kind != S_STRING)
        return s_invalid (err, EINVAL, "/companyId", "required");
    self->company_id = fields [S_COMPANY_ID].string;
    if (!fy_uuid_is_valid (self->company_id, strlen (self->company_id)))
        return s_invalid (err, EINVAL, "/companyId", "format uuid");
    s_kind_t actor = fields [S_ACTOR_ID].kind;
    if (actor != S_ABSENT && actor != S_NULL) {
        self->actor_id = fields [S_ACTOR_ID].string;
        if (actor != S_STRING
            || !fy_uuid_is_valid (self->actor_id, strlen (self->actor_id)))
            return s_invalid (err, EINVAL, "/actorId", "format uuid");
    }
    if (fields [S_CORRELATION_ID].kind != S_ABSENT) {
        if (fields [S_CORRELATION_ID].kind != S_STRING)
            return s_invalid (err, EINVAL, "/correlationId", "type");
        self->correlation_id = fields [S_CORRELATION_ID].string;
    }
    if (fields [S_PAYLOAD].kind == S_ABSENT)
        return s_invalid (err, EINVAL, "/payload", "required");
    if (fields [S_PAYLOAD].kind != S_OBJECT)
        return s_invalid (err, EINVAL, "/payload", "type");
    return 0;
}

//  msgpack-c cannot unpack deeper than its stack, so an event that could
//  not cross the broker is refused here, at the edge.
static bool
s_too_deep (json_t *value, int depth)
{
    if (depth > FY_MSGPACK_MAX_DEPTH)
        return true;
    if (json_is_object (value)) {
        const char *key;
        json_t *member;
        json_object_foreach (
            value, key,
            member) if ((json_is_object (member) || json_is_array (member))
                        && s_too_deep (member, depth + 1)) return true;
    }
    else if (json_is_array (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (
            value, index,
            item) if ((json_is_object (item) || json_is_array (item))
                      && s_too_deep (item, depth + 1)) return true;
    }
    return false;
}

fy_event_t *
fy_event_new (json_t **root_p, fy_schema_t *schema, fy_error_t *err)
{
    assert (root_p);
    fy_event_t *self = fy_xcalloc (1, sizeof *self);
    self->root = *root_p;
    *root_p = NULL;
    if (!self->root) {
        errno = EINVAL;
        fy_error_set (err, ": required");
        goto fail;
    }
    if (s_too_deep (self->root, 1)) {
        s_invalid (err, EINVAL, "", "nested too deep");
        goto fail;
    }
    //  A newer major version is told apart before the schema speaks, so
    //  the DLQ says "unsupported_version" rather than a schema rule.
    json_t *version = json_object_get (self->root, "version");
    if (json_is_integer (version)
        && json_integer_value (version) > FY_EVENT_VERSION_MAJOR) {
        s_invalid (err, ENOTSUP, "/version", "unsupported");
        goto fail;
    }
    fy_error_t detail;
    if (schema && fy_schema_validate (schema, self->root, &detail)) {
        //  Name the unknown type apart: it is the one operators most
        //  often need to tell from a malformed event.
        errno = strncmp (detail.text, "/type: enum", 11) == 0 ? ENOENT : EINVAL;
        fy_error_set (err, "%s", detail.text);
        goto fail;
    }
    if (!json_is_object (self->root)) {
        s_invalid (err, EINVAL, "", "type");
        goto fail;
    }
    s_field_t fields [S_MEMBERS];
    s_fields_from_json (self->root, fields);
    if (s_check_envelope (self, fields, err))
        goto fail;
    self->payload = json_object_get (self->root, "payload");
    return self;
fail:
    fy_event_destroy (&self);
    return NULL;
}

//  An SNS notification carries the event as a JSON string in Message:
//  that string, or NULL when root is no notification.
static json_t *
s_sns_message (json_t *root)
{
    json_t *kind = json_object_get (root, "Type");
    json_t *message = json_object_get (root, "Message");
    if (!json_is_string (kind)
        || strcmp (json_string_value (kind), "Notification") != 0
        || !json_is_string (message) || !json_object_get (root, "TopicArn"))
        return NULL;
    return message;
}

static json_t *
s_unwrap_sns (json_t *root, fy_error_t *err)
{
    json_t *message = s_sns_message (root);
    if (!message)
        return root;
    json_t *inner = fy_json_loadb (json_string_value (message),
                                   json_string_length (message), err);
    json_decref (root);
    if (!inner)
        fy_error_prefix (err, "SNS Message: ");
    return inner;
}

fy_event_t *
fy_event_decode_json (const char *data, size_t size, fy_schema_t *schema,
                      fy_error_t *err)
{
    assert (data || size == 0);
    if (size > FY_EVENT_MAX_BYTES) {
        fy_error_set (err, "message of %zu bytes exceeds %d", size,
                      FY_EVENT_MAX_BYTES);
        errno = EMSGSIZE;
        return NULL;
    }
    //  Any JSON text parses (a bare scalar is JSON, just not an event);
    //  duplicate keys and \u0000 are refused (fy_json), because two
    //  parsers could read the first differently and PostgreSQL cannot
    //  store the second. A NUL byte outside a string is refused too.
    json_t *root = fy_json_loadb (data, size, err);
    if (!root)
        return NULL;
    if (json_is_object (root)) {
        root = s_unwrap_sns (root, err);
        if (!root)
            return NULL;
    }
    return fy_event_new (&root, schema, err);
}

//  The envelope as the one-pass transcoder reads it: the members
//  fy_event itself checks, their strings copied NUL-terminated.
typedef struct {
    s_field_t fields [S_MEMBERS];
    char text [512];
    size_t used;
    int next;  //  the member expected next
    bool sns;  //  refused for an SNS member
} s_head_t;

//  Whether key (key_len bytes) names envelope member m.
static bool
s_is_member (int m, const char *key, size_t key_len)
{
    const char *name = s_member_names [m];
    return key_len && name [0] == key [0] && strncmp (name, key, key_len) == 0
           && name [key_len] == '\0';
}

static int
s_on_member (void *arg, const char *key, size_t key_len,
             const fy_schema_member_t *member)
{
    s_head_t *head = arg;
    //  An SNS notification's members: s_unwrap_sns decides.
    if ((key_len == 4 && memcmp (key, "Type", 4) == 0)
        || (key_len == 7 && memcmp (key, "Message", 7) == 0)
        || (key_len == 8 && memcmp (key, "TopicArn", 8) == 0)) {
        head->sns = true;
        return -1;
    }
    //  Producers write the members in one order, mostly this one: the
    //  one after the last found is tried first.
    int m = head->next;
    if (m >= S_MEMBERS || !s_is_member (m, key, key_len))
        for (m = 0; m < S_MEMBERS && !s_is_member (m, key, key_len); m++)
            ;
    if (m == S_MEMBERS)
        return 0;
    head->next = m + 1;
    s_field_t *field = &head->fields [m];
    switch (member->type) {
        case JSON_STRING: {
            if (member->len >= sizeof head->text - head->used)
                return -1;
            char *copy = head->text + head->used;
            memcpy (copy, member->text, member->len);
            copy [member->len] = '\0';
            head->used += member->len + 1;
            *field = (s_field_t) { S_STRING, copy, 0 };
            break;
        }
        case JSON_INTEGER:
            *field = (s_field_t) { S_INTEGER, NULL, member->integer };
            break;
        case JSON_NULL:
            field->kind = S_NULL;
            break;
        case JSON_OBJECT:
            field->kind = S_OBJECT;
            break;
        default:
            field->kind = S_OTHER;
            break;
    }
    return 0;
}

//  After the msgpack from start on: the id and the type.
static int
s_append_head (msgpack_sbuffer *out, size_t start, const char *id,
               const char *type, size_t *packed_p)
{
    *packed_p = out->size - start;
    msgpack_sbuffer_write (out, id, strlen (id) + 1);
    msgpack_sbuffer_write (out, type, strlen (type) + 1);
    return 0;
}

//  The one pass over an event's text, then what fy_event_new checks
//  besides the schema: the major version and the envelope (its fields
//  read from the copies and not kept). 0, or -1 with out as it was and
//  *sns set when an SNS member was the reason.
static int
s_pass (const char *data, size_t size, fy_schema_t *schema,
        msgpack_sbuffer *out, size_t *packed_p, bool *sns)
{
    size_t start = out->size;
    s_head_t head;
    memset (&head.fields, 0, sizeof head.fields);
    head.used = 0;
    head.next = 0;
    head.sns = false;
    if (fy_schema_transcode (schema, data, size, out, s_on_member, &head)) {
        *sns = head.sns;
        return -1;
    }
    fy_event_t fast = { .root = NULL };
    if ((head.fields [S_VERSION].kind == S_INTEGER
         && head.fields [S_VERSION].integer > FY_EVENT_VERSION_MAJOR)
        || s_check_envelope (&fast, head.fields, NULL)) {
        out->size = start;
        return -1;
    }
    return s_append_head (out, start, fast.id, fast.type, packed_p);
}

int
fy_event_transcode_json (const char *data, size_t size, fy_schema_t *schema,
                         msgpack_sbuffer *out, size_t *packed_p,
                         fy_error_t *err)
{
    assert (data || size == 0);
    assert (out);
    assert (packed_p);
    size_t start = out->size;
    bool sns = false;
    if (size <= FY_EVENT_MAX_BYTES
        && s_pass (data, size, schema, out, packed_p, &sns) == 0)
        return 0;
    if (sns) {
        //  An SNS notification: its envelope as a tree (a few strings),
        //  the event in its Message in one pass.
        json_t *root = fy_json_loadb (data, size, NULL);
        json_t *message = json_is_object (root) ? s_sns_message (root) : NULL;
        int rc = message ? s_pass (json_string_value (message),
                                   json_string_length (message), schema, out,
                                   packed_p, &sns)
                         : -1;
        json_decref (root);
        if (rc == 0)
            return 0;
    }
    fy_event_t *event = fy_event_decode_json (data, size, schema, err);
    if (!event)
        return -1;
    msgpack_packer packer;
    msgpack_packer_init (&packer, out, msgpack_sbuffer_write);
    int rc = fy_msgpack_pack (&packer, event->root);
    if (rc == 0)
        rc = s_append_head (out, start, event->id, event->type, packed_p);
    else {
        out->size = start;
        fy_error_set (err, "cannot encode the event as msgpack");
        errno = E2BIG;
    }
    fy_event_destroy (&event);
    return rc;
}

//  The slow way, for a message the quick one refuses: decoded to a tree
//  and checked as one, it fails with the words it always had.
static fy_event_t *
s_decode_tree (const void *data, size_t size, fy_error_t *err)
{
    json_t *root = fy_msgpack_decode (data, size, err);
    fy_event_t *self = root ? fy_event_new (&root, NULL, err) : NULL;
    if (!self)
        errno = EPROTO;
    return self;
}

fy_event_t *
fy_event_decode_msgpack (const void *data, size_t size, fy_error_t *err)
{
    assert (data || size == 0);
    //  fy_event_new refuses a container FY_MSGPACK_MAX_DEPTH deep below
    //  the root, even an empty one, which fy_msgpack_check does not count:
    //  so anything that could hold one goes the tree's way, which says
    //  which error it is.
    if (fy_msgpack_check (data, size, FY_MSGPACK_MAX_DEPTH - 1))
        return s_decode_tree (data, size, err);
    fy_event_t *self = fy_xcalloc (1, sizeof *self);
    self->bytes = fy_xmalloc (size ? size : 1);
    if (size)
        memcpy (self->bytes, data, size);
    //  msgpack_unpack (which the header calls obsolete, but is the one
    //  call that unpacks into a zone of the caller's size) says
    //  MSGPACK_UNPACK_EXTRA_BYTES for trailing bytes: the slow way too.
    self->zoned = msgpack_zone_init (&self->zone, S_ZONE_CHUNK);
    size_t offset = 0;
    if (!self->zoned
        || msgpack_unpack (self->bytes, size, &offset, &self->zone, &self->data)
               != MSGPACK_UNPACK_SUCCESS
        || fy_msgpack_check_object (&self->data, NULL) != 0
        || self->data.type != MSGPACK_OBJECT_MAP)
        goto slow;
    s_field_t fields [S_MEMBERS];
    s_fields_from_msgpack (self, fields);
    if (fields [S_VERSION].kind == S_INTEGER
        && fields [S_VERSION].integer > FY_EVENT_VERSION_MAJOR)
        goto slow;
    if (s_check_envelope (self, fields, err)) {
        fy_event_destroy (&self);
        errno = EPROTO;
        return NULL;
    }
    return self;
slow:
    fy_event_destroy (&self);
    return s_decode_tree (data, size, err);
}

void
fy_event_destroy (fy_event_t **self_p)
{
    assert (self_p);
    fy_event_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    json_decref (self->root);
    if (self->zoned)
        msgpack_zone_destroy (&self->zone);
    free (self->bytes);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  The tree of an event from msgpack, built on first use. The msgpack
//  was checked, so building cannot fail.
static json_t *
s_root (fy_event_t *self)
{
    if (!self->root) {
        self->root = fy_msgpack_from_object (&self->data, NULL);
        assert (self->root);
        self->payload = json_object_get (self->root, "payload");
    }
    return self->root;
}

int
fy_event_encode_msgpack (fy_event_t *self, char **data_p, size_t *size_p)
{
    assert (self);
    return fy_msgpack_encode (s_root (self), data_p, size_p);
}

char *
fy_event_encode_json (fy_event_t *self)
{
    assert (self);
    return fy_json_dumps (s_root (self), 0, NULL);
}

const char *
fy_event_id (fy_event_t *self)
{
    assert (self);
    return self->id;
}

const char *
fy_event_type (fy_event_t *self)
{
    assert (self);
    return self->type;
}

int
fy_event_version (fy_event_t *self)
{
    assert (self);
    return self->version;
}

const char *
fy_event_source (fy_event_t *self)
{
    assert (self);
    return self->source;
}

const char *
fy_event_occurred_at (fy_event_t *self)
{
    assert (self);
    return self->occurred_at;
}

int64_t
fy_event_occurred_at_ms (fy_event_t *self)
{
    assert (self);
    return self->occurred_at_ms;
}

const char *
fy_event_company_id (fy_event_t *self)
{
    assert (self);
    return self->company_id;
}

const char *
fy_event_actor_id (fy_event_t *self)
{
    assert (self);
    return self->actor_id;
}

const char *
fy_event_correlation_id (fy_event_t *self)
{
    assert (self);
    return self->correlation_id;
}

json_t *
fy_event_payload (fy_event_t *self)
{
    assert (self);
    s_root (self);
    return self->payload;
}

json_t *
fy_event_json (fy_event_t *self)
{
    assert (self);
    return s_root (self);
}

const char *
fy_event_payload_string (fy_event_t *self, const char *key, const char *subkey)
{
    assert (self);
    assert (key);
    if (self->root) {
        json_t *value = json_object_get (self->payload, key);
        if (subkey)
            value = json_object_get (value, subkey);
        return json_string_value (value);
    }
    const msgpack_object *value =
        s_msgpack_get (self->payload_object, key, strlen (key));
    if (subkey)
        value = s_msgpack_get (value, subkey, strlen (subkey));
    return value && value->type == MSGPACK_OBJECT_STR
               ? s_zone_string (self, &value->via.str)
               : NULL;
}

char *
fy_event_payload_dumps (fy_event_t *self, const char *key)
{
    assert (self);
    if (self->root) {
        json_t *value =
            key ? json_object_get (self->payload, key) : self->payload;
        return json_is_object (value) ? fy_json_dumps (value, 0, NULL) : NULL;
    }
    const msgpack_object *value =
        key ? s_msgpack_get (self->payload_object, key, strlen (key))
            : self->payload_object;
    return value && value->type == MSGPACK_OBJECT_MAP
               ? fy_msgpack_dumps (value, NULL)
               : NULL;
}

const char *
fy_event_reason (int errnum)
{
    switch (errnum) {
        case EMSGSIZE:
            return "oversize";
        case EBADMSG:
            return "invalid_json";
        case ENOENT:
            return "unknown_type";
        case ENOTSUP:
            return "unsupported_version";
        case EINVAL:
            return "schema";
        case EPROTO:
            return "invalid_msgpack";
        default:
            return "error";
    }
}
