/*  fy_event: decode, check and encode event envelopes. The JSON tree from
    jansson is kept whole, so re-encoding reproduces every key in order;
    the envelope fields are cached as pointers into it. */
#include "ferry/fy_event.h"
#include "ferry/fy_json.h"
#include "ferry/fy_msgpack.h"
#include "ferry/fy_time.h"
#include "ferry/fy_uuid.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct fy_event {
    json_t *root;
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
};

static int
s_invalid (fy_error_t *err, int errnum, const char *pointer, const char *rule)
{
    fy_error_set (err, "%s: %s", pointer, rule);
    errno = errnum;
    return -1;
}

static const char *
s_string (json_t *root, const char *key)
{
    json_t *value = json_object_get (root, key);
    return json_is_string (value) ? json_string_value (value) : NULL;
}

//  The fields ferry itself acts on: routing needs type, storage needs the
//  ids and time, and idempotency needs id. The schema checks these too,
//  but ferry must not depend on a schema file being right.
static int
s_check_envelope (fy_event_t *self, fy_error_t *err)
{
    json_t *root = self->root;
    if (!json_is_object (root))
        return s_invalid (err, EINVAL, "", "type");
    self->id = s_string (root, "id");
    if (!self->id)
        return s_invalid (err, EINVAL, "/id", "required");
    if (!fy_uuid_is_valid (self->id, strlen (self->id)))
        return s_invalid (err, EINVAL, "/id", "format uuid");
    self->type = s_string (root, "type");
    if (!self->type || !*self->type)
        return s_invalid (err, EINVAL, "/type", "required");
    json_t *version = json_object_get (root, "version");
    if (!json_is_integer (version) || json_integer_value (version) < 1)
        return s_invalid (err, EINVAL, "/version", "type");
    self->version = (int) json_integer_value (version);
    self->source = s_string (root, "source");
    if (!self->source)
        return s_invalid (err, EINVAL, "/source", "required");
    self->occurred_at = s_string (root, "occurredAt");
    if (!self->occurred_at)
        return s_invalid (err, EINVAL, "/occurredAt", "required");
    if (fy_time_parse (self->occurred_at, strlen (self->occurred_at), true,
                       &self->occurred_at_ms))
        return s_invalid (err, EINVAL, "/occurredAt", "format date-time");
    self->company_id = s_string (root, "companyId");
    if (!self->company_id)
        return s_invalid (err, EINVAL, "/companyId", "required");
    if (!fy_uuid_is_valid (self->company_id, strlen (self->company_id)))
        return s_invalid (err, EINVAL, "/companyId", "format uuid");
    json_t *actor = json_object_get (root, "actorId");
    if (actor && !json_is_null (actor)) {
        self->actor_id = json_string_value (actor);
        if (!self->actor_id
            || !fy_uuid_is_valid (self->actor_id, strlen (self->actor_id)))
            return s_invalid (err, EINVAL, "/actorId", "format uuid");
    }
    json_t *correlation = json_object_get (root, "correlationId");
    if (correlation) {
        self->correlation_id = json_string_value (correlation);
        if (!self->correlation_id)
            return s_invalid (err, EINVAL, "/correlationId", "type");
    }
    self->payload = json_object_get (root, "payload");
    if (!self->payload)
        return s_invalid (err, EINVAL, "/payload", "required");
    if (!json_is_object (self->payload))
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
    if (s_check_envelope (self, err))
        goto fail;
    return self;
fail:
    fy_event_destroy (&self);
    return NULL;
}

//  An SNS notification carries the event as a JSON string in Message.
static json_t *
s_unwrap_sns (json_t *root, fy_error_t *err)
{
    json_t *kind = json_object_get (root, "Type");
    json_t *message = json_object_get (root, "Message");
    if (!json_is_string (kind)
        || strcmp (json_string_value (kind), "Notification") != 0
        || !json_is_string (message) || !json_object_get (root, "TopicArn"))
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

fy_event_t *
fy_event_decode_msgpack (const void *data, size_t size, fy_error_t *err)
{
    json_t *root = fy_msgpack_decode (data, size, err);
    if (!root) {
        errno = EPROTO;
        return NULL;
    }
    fy_event_t *self = fy_event_new (&root, NULL, err);
    if (!self)
        errno = EPROTO;
    return self;
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
    free (self);
    *self_p = NULL;
    errno = saved;
}

int
fy_event_encode_msgpack (fy_event_t *self, char **data_p, size_t *size_p)
{
    assert (self);
    return fy_msgpack_encode (self->root, data_p, size_p);
}

char *
fy_event_encode_json (fy_event_t *self)
{
    assert (self);
    return fy_json_dumps (self->root, 0, NULL);
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
    return self->payload;
}

json_t *
fy_event_json (fy_event_t *self)
{
    assert (self);
    return self->root;
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
