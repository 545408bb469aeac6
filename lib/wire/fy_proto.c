/*  fy_proto: FERRY1 frames over raw libzmq sockets. Headers are driven by
    one table of fields: each command lists the fields it requires and the
    ones it may carry, and the same table encodes, decodes and checks, so
    the protocol cannot drift between the two directions. */
#include "ferry/fy_proto.h"
#include "ferry/fy_msgpack.h"

#include <assert.h>
#include <errno.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    T_STR,
    T_UINT,
    T_BOOL,
    T_IDS,
    T_MAP,
    T_BODY,
    T_ENTRIES
} s_type_t;

typedef enum {
    F_NAME,
    F_ROLE,
    F_SERVICE,
    F_ID,
    F_TYPE,
    F_REASON,
    F_CODE,
    F_MESSAGE,
    F_METHOD,
    F_PATH,
    F_CONTENT_TYPE,
    F_BODY,
    F_SEQ,
    F_DID,
    F_RID,
    F_N,
    F_CREDIT,
    F_ATTEMPT,
    F_STATUS,
    F_WINDOW,
    F_BATCH,
    F_RETRYABLE,
    F_MORE,
    F_PULL,
    F_PACKED,
    F_SEQS,
    F_DIDS,
    F_QUERY,
    F_HEADERS,
    F_EVENTS,
    F_COUNT
} s_field_t;

#define BIT(f) (1u << (f))

static const struct {
    const char *key;
    s_type_t type;
} s_fields [F_COUNT] = {
    [F_NAME] = { "name", T_STR },
    [F_ROLE] = { "role", T_STR },
    [F_SERVICE] = { "service", T_STR },
    [F_ID] = { "id", T_STR },
    [F_TYPE] = { "type", T_STR },
    [F_REASON] = { "reason", T_STR },
    [F_CODE] = { "code", T_STR },
    [F_MESSAGE] = { "message", T_STR },
    [F_METHOD] = { "method", T_STR },
    [F_PATH] = { "path", T_STR },
    [F_CONTENT_TYPE] = { "content_type", T_STR },
    [F_BODY] = { "body", T_BODY },
    [F_SEQ] = { "seq", T_UINT },
    [F_DID] = { "did", T_UINT },
    [F_RID] = { "rid", T_UINT },
    [F_N] = { "n", T_UINT },
    [F_CREDIT] = { "credit", T_UINT },
    [F_ATTEMPT] = { "attempt", T_UINT },
    [F_STATUS] = { "status", T_UINT },
    [F_WINDOW] = { "window", T_UINT },
    [F_BATCH] = { "batch", T_UINT },
    [F_RETRYABLE] = { "retryable", T_BOOL },
    [F_MORE] = { "more", T_BOOL },
    [F_PULL] = { "pull", T_BOOL },
    [F_PACKED] = { "packed", T_BOOL },
    [F_SEQS] = { "seqs", T_IDS },
    [F_DIDS] = { "dids", T_IDS },
    [F_QUERY] = { "query", T_MAP },
    [F_HEADERS] = { "headers", T_MAP },
    [F_EVENTS] = { "events", T_ENTRIES },
};

//  required: every one must be present; one_of: exactly one of these
//  (ACK carries seqs or dids, NACK seq or did, PUBLISH seq or events,
//  EVENT did or events); optional: may be present; single: required
//  with the one-event form of PUBLISH and EVENT, refused beside events.
//  event: the message ends with event frames, one per entry of events
//  or one.
static const struct {
    const char *name;
    uint32_t required, one_of, optional;
    bool event;
    uint32_t single;
} s_commands [FY_PROTO_COMMANDS] = {
    [FY_PROTO_HELLO] = { "HELLO", BIT (F_NAME) | BIT (F_ROLE), 0,
                         BIT (F_PACKED), false, 0 },
    [FY_PROTO_READY] = { "READY", BIT (F_SERVICE) | BIT (F_CREDIT), 0,
                         BIT (F_NAME) | BIT (F_PULL) | BIT (F_BATCH)
                             | BIT (F_PACKED),
                         false, 0 },
    [FY_PROTO_CREDIT] = { "CREDIT", BIT (F_N), 0,
                          BIT (F_BATCH) | BIT (F_PACKED), false, 0 },
    [FY_PROTO_PUBLISH] = { "PUBLISH", 0, BIT (F_SEQ) | BIT (F_EVENTS), 0, true,
                           BIT (F_ID) | BIT (F_TYPE) },
    [FY_PROTO_ACK] = { "ACK", 0, BIT (F_SEQS) | BIT (F_DIDS), 0, false, 0 },
    [FY_PROTO_NACK] = { "NACK", BIT (F_RETRYABLE) | BIT (F_REASON),
                        BIT (F_SEQ) | BIT (F_DID), 0, false, 0 },
    [FY_PROTO_LEASE] = { "LEASE", BIT (F_SEQS), 0, 0, false, 0 },
    [FY_PROTO_EVENT] = { "EVENT", BIT (F_SERVICE), BIT (F_DID) | BIT (F_EVENTS),
                         0, true, BIT (F_ATTEMPT) },
    [FY_PROTO_REQUEST] = { "REQUEST",
                           BIT (F_RID) | BIT (F_METHOD) | BIT (F_PATH), 0,
                           BIT (F_SERVICE) | BIT (F_QUERY) | BIT (F_HEADERS)
                               | BIT (F_BODY) | BIT (F_WINDOW),
                           false, 0 },
    [FY_PROTO_REPLY] = { "REPLY", BIT (F_RID) | BIT (F_STATUS), 0,
                         BIT (F_CONTENT_TYPE) | BIT (F_BODY) | BIT (F_MORE),
                         false, 0 },
    [FY_PROTO_MORE] = { "MORE", BIT (F_RID) | BIT (F_N), 0, 0, false, 0 },
    [FY_PROTO_CANCEL] = { "CANCEL", BIT (F_RID), 0, 0, false, 0 },
    [FY_PROTO_HEARTBEAT] = { "HEARTBEAT", 0, 0, 0, false, 0 },
    [FY_PROTO_BYE] = { "BYE", 0, 0, 0, false, 0 },
    [FY_PROTO_ERROR] = { "ERROR", BIT (F_CODE) | BIT (F_MESSAGE), 0, 0, false,
                         0 },
};

//  Where each field lives in the message.
static fy_proto_str_t *
s_str_slot (fy_proto_msg_t *msg, s_field_t field)
{
    switch (field) {
        case F_NAME:
            return &msg->name;
        case F_ROLE:
            return &msg->role;
        case F_SERVICE:
            return &msg->service;
        case F_ID:
            return &msg->id;
        case F_TYPE:
            return &msg->type;
        case F_REASON:
            return &msg->reason;
        case F_CODE:
            return &msg->code;
        case F_MESSAGE:
            return &msg->message;
        case F_METHOD:
            return &msg->method;
        case F_PATH:
            return &msg->path;
        case F_CONTENT_TYPE:
            return &msg->content_type;
        case F_BODY:
            return &msg->body;
        default:
            return NULL;
    }
}

static uint64_t *
s_uint_slot (fy_proto_msg_t *msg, s_field_t field)
{
    switch (field) {
        case F_SEQ:
            return &msg->seq;
        case F_DID:
            return &msg->did;
        case F_RID:
            return &msg->rid;
        case F_N:
            return &msg->n;
        case F_CREDIT:
            return &msg->credit;
        case F_ATTEMPT:
            return &msg->attempt;
        case F_STATUS:
            return &msg->status;
        case F_WINDOW:
            return &msg->window;
        case F_BATCH:
            return &msg->batch;
        default:
            return NULL;
    }
}

static bool *
s_bool_slot (fy_proto_msg_t *msg, s_field_t field)
{
    switch (field) {
        case F_RETRYABLE:
            return &msg->retryable;
        case F_MORE:
            return &msg->more;
        case F_PULL:
            return &msg->pull;
        case F_PACKED:
            return &msg->packed;
        default:
            return NULL;
    }
}

void
fy_proto_msg_init (fy_proto_msg_t *msg)
{
    assert (msg);
    memset (msg, 0, sizeof *msg);
    zmq_msg_init (&msg->identity);
    zmq_msg_init (&msg->event);
    zmq_msg_init (&msg->header_);
}

static void
s_clear_fields (fy_proto_msg_t *msg)
{
    //  Keep the owned arrays and the frames; zero everything else.
    uint64_t *ids = msg->ids;
    fy_proto_pair_t *query = msg->query, *headers = msg->headers;
    fy_proto_entry_t *entries = msg->entries;
    size_t ids_size = msg->ids_size_, query_size = msg->query_size_,
           headers_size = msg->headers_size_, entries_size = msg->entries_size_;
    zmq_msg_t identity = msg->identity, event = msg->event,
              header = msg->header_;
    bool has_identity = msg->has_identity, has_event = msg->has_event,
         has_header = msg->has_header_;
    void *unpacked = msg->unpacked_;
    void *buffer = msg->buffer_;
    memset (msg, 0, sizeof *msg);
    msg->buffer_ = buffer;
    msg->ids = ids;
    msg->query = query;
    msg->headers = headers;
    msg->entries = entries;
    msg->entries_size_ = entries_size;
    msg->ids_size_ = ids_size;
    msg->query_size_ = query_size;
    msg->headers_size_ = headers_size;
    msg->identity = identity;
    msg->event = event;
    msg->header_ = header;
    msg->has_identity = has_identity;
    msg->has_event = has_event;
    msg->has_header_ = has_header;
    msg->unpacked_ = unpacked;
}

void
fy_proto_msg_reset (fy_proto_msg_t *msg)
{
    assert (msg);
    //  Keep the zone's memory for the next message: clearing is free,
    //  a new zone per message was a malloc of 8 KiB each time.
    if (msg->unpacked_)
        msgpack_zone_clear (msg->unpacked_);
    zmq_msg_close (&msg->identity);
    zmq_msg_init (&msg->identity);
    zmq_msg_close (&msg->event);
    zmq_msg_init (&msg->event);
    zmq_msg_close (&msg->header_);
    zmq_msg_init (&msg->header_);
    for (size_t i = 0; i < msg->entries_count; i++)
        zmq_msg_close (&msg->entries [i].event);
    msg->has_identity = msg->has_event = msg->has_header_ = false;
    s_clear_fields (msg);
}

void
fy_proto_msg_close (fy_proto_msg_t *msg)
{
    assert (msg);
    fy_proto_msg_reset (msg);
    zmq_msg_close (&msg->identity);
    zmq_msg_close (&msg->event);
    zmq_msg_close (&msg->header_);
    if (msg->unpacked_) {
        msgpack_zone_destroy (msg->unpacked_);
        free (msg->unpacked_);
    }
    if (msg->buffer_) {
        msgpack_sbuffer_destroy (msg->buffer_);
        free (msg->buffer_);
    }
    free (msg->ids);
    free (msg->query);
    free (msg->headers);
    free (msg->entries);
    memset (msg, 0, sizeof *msg);
}

void
fy_proto_msg_add_id (fy_proto_msg_t *msg, uint64_t id)
{
    assert (msg);
    if (msg->ids_count == msg->ids_size_) {
        msg->ids_size_ = msg->ids_size_ ? msg->ids_size_ * 2 : 16;
        msg->ids = fy_xrealloc (msg->ids, msg->ids_size_ * sizeof *msg->ids);
    }
    msg->ids [msg->ids_count++] = id;
}

fy_proto_entry_t *
fy_proto_msg_add_entry (fy_proto_msg_t *msg)
{
    assert (msg);
    if (msg->entries_count == msg->entries_size_) {
        msg->entries_size_ = msg->entries_size_ ? msg->entries_size_ * 2 : 16;
        msg->entries = fy_xrealloc (msg->entries,
                                    msg->entries_size_ * sizeof *msg->entries);
    }
    fy_proto_entry_t *entry = &msg->entries [msg->entries_count++];
    memset (entry, 0, sizeof *entry);
    zmq_msg_init (&entry->event);
    return entry;
}

int
fy_proto_msg_fd (const fy_proto_msg_t *msg)
{
    assert (msg);
    //  The header frame's: a ROUTER's identity frame has no fd when a
    //  poll prefetched the message (libzmq 4.3).
    return msg->has_header_ ? zmq_msg_get (&msg->header_, ZMQ_SRCFD) : -1;
}

void
fy_proto_msg_swap_ids (fy_proto_msg_t *a, fy_proto_msg_t *b)
{
    assert (a);
    assert (b);
    uint64_t *ids = a->ids;
    size_t count = a->ids_count, size = a->ids_size_;
    a->ids = b->ids;
    a->ids_count = b->ids_count;
    a->ids_size_ = b->ids_size_;
    b->ids = ids;
    b->ids_count = count;
    b->ids_size_ = size;
}

const char *
fy_proto_command_name (fy_proto_command_t command)
{
    assert (command < FY_PROTO_COMMANDS);
    return s_commands [command].name;
}

int
fy_proto_command_parse (const char *name, size_t len)
{
    for (int command = 0; command < FY_PROTO_COMMANDS; command++)
        if (strlen (s_commands [command].name) == len
            && memcmp (s_commands [command].name, name, len) == 0)
            return command;
    return -1;
}

fy_proto_str_t
fy_proto_str (const char *text)
{
    fy_proto_str_t str = { text, text ? strlen (text) : 0 };
    return str;
}

uint64_t
fy_proto_batch_most (uint64_t batch, bool packed)
{
    uint64_t most = packed ? FY_PROTO_PACKED_MAX : FY_PROTO_BATCH_MAX;
    return batch < most ? batch : most;
}

bool
fy_proto_str_is (fy_proto_str_t str, const char *text)
{
    return str.ptr && strlen (text) == str.len
           && memcmp (str.ptr, text, str.len) == 0;
}

//  --------------------------------------------------------------------
//  Decoding

static int
s_malformed (fy_error_t *err, const char *command, const char *what,
             const char *key)
{
    fy_error_set (err, "%s: %s%s%s", command, what, key ? " " : "",
                  key ? key : "");
    errno = EPROTO;
    return -1;
}

static int
s_str_of (const msgpack_object *value, fy_proto_str_t *str)
{
    if (value->type != MSGPACK_OBJECT_STR)
        return -1;
    //  msgpack-c gives NULL for an empty string; absent is NULL.
    str->ptr = value->via.str.size ? value->via.str.ptr : "";
    str->len = value->via.str.size;
    return 0;
}

//  A batch: 1 to FY_PROTO_BATCH_MAX entries, [seq, id, type] in a
//  PUBLISH, [did, attempt] in an EVENT (a did is never 0, as in NACK);
//  packed, up to FY_PROTO_PACKED_MAX, every entry ends with its event's
//  size.
static int
s_entries (fy_proto_msg_t *msg, const msgpack_object *value)
{
    if (value->type != MSGPACK_OBJECT_ARRAY || value->via.array.size == 0)
        return -1;
    bool publish = msg->command == FY_PROTO_PUBLISH;
    uint32_t shape = publish ? 3 : 2;
    const msgpack_object *first = &value->via.array.ptr [0];
    msg->packed = first->type == MSGPACK_OBJECT_ARRAY
                  && first->via.array.size == shape + 1;
    if (value->via.array.size > fy_proto_batch_most (UINT64_MAX, msg->packed))
        return -1;
    for (uint32_t i = 0; i < value->via.array.size; i++) {
        const msgpack_object *item = &value->via.array.ptr [i];
        if (item->type != MSGPACK_OBJECT_ARRAY
            || item->via.array.size != shape + msg->packed)
            return -1;
        const msgpack_object *part = item->via.array.ptr;
        if (part [0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
            || (msg->packed
                && part [shape].type != MSGPACK_OBJECT_POSITIVE_INTEGER))
            return -1;
        fy_proto_entry_t *entry = fy_proto_msg_add_entry (msg);
        if (msg->packed)
            entry->size_ = part [shape].via.u64;
        if (publish) {
            entry->seq = part [0].via.u64;
            if (s_str_of (&part [1], &entry->id)
                || s_str_of (&part [2], &entry->type))
                return -1;
        }
        else {
            if (part [0].via.u64 == 0
                || part [1].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return -1;
            entry->did = part [0].via.u64;
            entry->attempt = part [1].via.u64;
        }
    }
    return 0;
}

static int
s_pairs (const msgpack_object *value, fy_proto_pair_t **pairs_p,
         size_t *count_p, size_t *size_p)
{
    if (value->type != MSGPACK_OBJECT_MAP)
        return -1;
    uint32_t count = value->via.map.size;
    if (count > *size_p) {
        *pairs_p = fy_xrealloc (*pairs_p, count * sizeof **pairs_p);
        *size_p = count;
    }
    for (uint32_t i = 0; i < count; i++) {
        const msgpack_object_kv *kv = &value->via.map.ptr [i];
        if (kv->key.type != MSGPACK_OBJECT_STR
            || kv->val.type != MSGPACK_OBJECT_STR)
            return -1;
        //  msgpack-c may give NULL for an empty string; NULL is absent.
        (*pairs_p) [i].key.ptr =
            kv->key.via.str.size ? kv->key.via.str.ptr : "";
        (*pairs_p) [i].key.len = kv->key.via.str.size;
        (*pairs_p) [i].value.ptr =
            kv->val.via.str.size ? kv->val.via.str.ptr : "";
        (*pairs_p) [i].value.len = kv->val.via.str.size;
    }
    *count_p = count;
    return 0;
}

//  Store one header value in its field. Returns -1 on a type mismatch.
static int
s_store (fy_proto_msg_t *msg, s_field_t field, const msgpack_object *value)
{
    switch (s_fields [field].type) {
        case T_BODY:
            if (value->type == MSGPACK_OBJECT_BIN) {
                msg->body.ptr = value->via.bin.size ? value->via.bin.ptr : "";
                msg->body.len = value->via.bin.size;
                return 0;
            }
            //  A str body is as good as a bin one.
            __attribute__ ((fallthrough));
        case T_STR:
            return s_str_of (value, s_str_slot (msg, field));
        case T_UINT:
            if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                return -1;
            *s_uint_slot (msg, field) = value->via.u64;
            return 0;
        case T_BOOL:
            if (value->type != MSGPACK_OBJECT_BOOLEAN)
                return -1;
            *s_bool_slot (msg, field) = value->via.boolean;
            return 0;
        case T_IDS:
            if (value->type != MSGPACK_OBJECT_ARRAY)
                return -1;
            msg->ids_count = 0;
            msg->dids = field == F_DIDS;
            for (uint32_t i = 0; i < value->via.array.size; i++) {
                const msgpack_object *item = &value->via.array.ptr [i];
                if (item->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                    return -1;
                fy_proto_msg_add_id (msg, item->via.u64);
            }
            return 0;
        case T_MAP:
            return field == F_QUERY
                       ? s_pairs (value, &msg->query, &msg->query_count,
                                  &msg->query_size_)
                       : s_pairs (value, &msg->headers, &msg->headers_count,
                                  &msg->headers_size_);
        case T_ENTRIES:
            return s_entries (msg, value);
    }
    return -1;
}

static s_field_t
s_find_field (const char *key, size_t len)
{
    for (int field = 0; field < F_COUNT; field++)
        if (strlen (s_fields [field].key) == len
            && memcmp (s_fields [field].key, key, len) == 0)
            return (s_field_t) field;
    return F_COUNT;
}

static int
s_decode_header (fy_proto_msg_t *msg, const char *command, fy_error_t *err)
{
    if (!msg->unpacked_) {
        msg->unpacked_ = fy_xmalloc (sizeof (msgpack_zone));
        if (!msgpack_zone_init (msg->unpacked_, 2048))
            abort ();
    }
    msgpack_zone *zone = msg->unpacked_;
    msgpack_object root_object;
    size_t offset = 0;
    size_t size = zmq_msg_size (&msg->header_);
    //  A header is a map of scalars, lists of ids, and string maps.
    if (fy_msgpack_check (zmq_msg_data (&msg->header_), size, 3))
        return s_malformed (err, command, "header is not msgpack", NULL);
    //  msgpack_unpack is marked obsolete, but it is the call that unpacks
    //  into a zone the caller keeps: msgpack_unpack_next makes a new one.
    if (msgpack_unpack (zmq_msg_data (&msg->header_), size, &offset, zone,
                        &root_object)
            != MSGPACK_UNPACK_SUCCESS
        || offset != size)
        return s_malformed (err, command, "header is not msgpack", NULL);
    const msgpack_object *root = &root_object;
    if (root->type != MSGPACK_OBJECT_MAP)
        return s_malformed (err, command, "header is not a map", NULL);
    uint32_t seen = 0;
    uint32_t allowed =
        s_commands [msg->command].required | s_commands [msg->command].one_of
        | s_commands [msg->command].optional | s_commands [msg->command].single;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr [i];
        if (kv->key.type != MSGPACK_OBJECT_STR)
            return s_malformed (err, command, "key is not a string", NULL);
        s_field_t field =
            s_find_field (kv->key.via.str.ptr, kv->key.via.str.size);
        //  Unknown keys are ignored: a later minor revision may add some.
        if (field == F_COUNT || !(allowed & BIT (field)))
            continue;
        if (seen & BIT (field))
            return s_malformed (err, command, "duplicate key",
                                s_fields [field].key);
        if (s_store (msg, field, &kv->val))
            return s_malformed (err, command, "wrong type for",
                                s_fields [field].key);
        seen |= BIT (field);
    }
    uint32_t missing = s_commands [msg->command].required & ~seen;
    if (missing) {
        int field = __builtin_ctz (missing);
        return s_malformed (err, command, "missing", s_fields [field].key);
    }
    uint32_t one_of = s_commands [msg->command].one_of & seen;
    if (s_commands [msg->command].one_of && __builtin_popcount (one_of) != 1) {
        char names [64] = "";
        size_t at = 0;
        for (int field = 0; field < F_COUNT; field++)
            if (s_commands [msg->command].one_of & BIT (field))
                at += (size_t) snprintf (names + at, sizeof names - at, "%s%s",
                                         at ? "/" : "", s_fields [field].key);
        return s_malformed (err, command, "needs exactly one of", names);
    }
    uint32_t single = s_commands [msg->command].single;
    if (seen & BIT (F_EVENTS) && seen & single)
        return s_malformed (err, command, "events beside",
                            s_fields [__builtin_ctz (seen & single)].key);
    missing = single & ~seen;
    if (!(seen & BIT (F_EVENTS)) && missing)
        return s_malformed (err, command, "missing",
                            s_fields [__builtin_ctz (missing)].key);
    return 0;
}

//  Read the rest of a multipart message, so a malformed one never leaves
//  frames behind to be read as the start of the next.
static void
s_drain (void *socket)
{
    int more = 0;
    size_t size = sizeof more;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    while (zmq_getsockopt (socket, ZMQ_RCVMORE, &more, &size) == 0 && more) {
        if (zmq_msg_recv (&frame, socket, 0) < 0)
            break;
    }
    zmq_msg_close (&frame);
}

static bool
s_has_more (void *socket)
{
    int more = 0;
    size_t size = sizeof more;
    return zmq_getsockopt (socket, ZMQ_RCVMORE, &more, &size) == 0 && more;
}

//  A packed batch's frame cut into its entries' events, by the sizes its
//  header gave. Each event is a copy, so that whatever a caller keeps of
//  one entry never holds the whole frame; the broker and fy_worker copy
//  an event again into their own blocks, and a copy of a few hundred
//  bytes costs tens of nanoseconds, where a shared, counted frame would
//  cost an allocation per event all the same.
static int
s_unpack_events (fy_proto_msg_t *msg, zmq_msg_t *frame)
{
    const char *data = zmq_msg_data (frame);
    size_t left = zmq_msg_size (frame);
    for (size_t i = 0; i < msg->entries_count; i++) {
        fy_proto_entry_t *entry = &msg->entries [i];
        if (entry->size_ > left)
            return -1;
        if (zmq_msg_init_size (&entry->event, entry->size_))
            abort ();
        memcpy (zmq_msg_data (&entry->event), data, entry->size_);
        data += entry->size_;
        left -= entry->size_;
    }
    return left ? -1 : 0;
}

int
fy_proto_decode (fy_proto_msg_t *msg, zmq_msg_t *frames, size_t count,
                 bool router, fy_error_t *err)
{
    assert (msg);
    assert (frames || count == 0);
    fy_proto_msg_reset (msg);
    size_t next = 0;
    int rc = -1;
    int errnum = EPROTO;
    if (router) {
        if (count == 0) {
            s_malformed (err, "?", "no identity frame", NULL);
            goto out;
        }
        zmq_msg_move (&msg->identity, &frames [next++]);
        msg->has_identity = true;
        if (next == count) {
            s_malformed (err, "?", "no frames after identity", NULL);
            goto out;
        }
    }
    if (next == count) {
        s_malformed (err, "?", "no frames", NULL);
        goto out;
    }
    if (zmq_msg_size (&frames [next]) != strlen (FY_PROTO_SIGNATURE)
        || memcmp (zmq_msg_data (&frames [next]), FY_PROTO_SIGNATURE,
                   strlen (FY_PROTO_SIGNATURE))
               != 0) {
        s_malformed (err, "?", "not FERRY1 (version mismatch?)", NULL);
        //  Told apart, so the broker can answer the peer instead of
        //  dropping it like noise.
        errnum = EPROTONOSUPPORT;
        goto out;
    }
    if (++next == count) {
        s_malformed (err, "?", "no command frame", NULL);
        goto out;
    }
    int command = fy_proto_command_parse (zmq_msg_data (&frames [next]),
                                          zmq_msg_size (&frames [next]));
    if (command < 0) {
        s_malformed (err, "?", "unknown command", NULL);
        goto out;
    }
    msg->command = (fy_proto_command_t) command;
    const char *name = s_commands [command].name;
    if (++next == count) {
        s_malformed (err, name, "no header frame", NULL);
        goto out;
    }
    zmq_msg_move (&msg->header_, &frames [next++]);
    msg->has_header_ = true;
    if (s_decode_header (msg, name, err))
        goto out;
    //  The header says how many event frames follow: one per entry of a
    //  batch, one for a packed batch and for the one-event form.
    size_t events = !s_commands [command].event          ? 0
                    : msg->entries_count && !msg->packed ? msg->entries_count
                                                         : 1;
    if (count - next < events) {
        s_malformed (err, name,
                     msg->entries_count ? "fewer event frames than events"
                                        : "no event frame",
                     NULL);
        goto out;
    }
    if (count - next > events) {
        s_malformed (err, name, "too many frames", NULL);
        goto out;
    }
    if (msg->entries_count && msg->packed) {
        if (s_unpack_events (msg, &frames [next++])) {
            s_malformed (err, name, "event sizes do not add up to the frame",
                         NULL);
            goto out;
        }
    }
    else if (msg->entries_count)
        for (size_t i = 0; i < events; i++)
            zmq_msg_move (&msg->entries [i].event, &frames [next++]);
    else if (events) {
        zmq_msg_move (&msg->event, &frames [next++]);
        msg->has_event = true;
    }
    rc = 0;
out:
    //  Moved frames are left empty, so closing every one is safe.
    for (size_t i = 0; i < count; i++)
        zmq_msg_close (&frames [i]);
    if (rc)
        errno = errnum;
    return rc;
}

//  The most frames a valid message has: identity, signature, command,
//  header and a batch's events. recv reads one more, so decode sees "too
//  many".
#define S_MAX_FRAMES (4 + FY_PROTO_BATCH_MAX)

int
fy_proto_recv (void *socket, bool router, int flags, fy_proto_msg_t *msg,
               fy_error_t *err)
{
    assert (socket);
    assert (msg);
    fy_proto_msg_reset (msg);
    zmq_msg_t frames [S_MAX_FRAMES + 1];
    size_t count = 0;
    zmq_msg_init (&frames [0]);
    if (zmq_msg_recv (&frames [0], socket, flags) < 0) {
        zmq_msg_close (&frames [0]);
        return -1;
    }
    count = 1;
    //  Once the first frame is in, the rest of the message is queued.
    size_t limit = router ? S_MAX_FRAMES + 1 : S_MAX_FRAMES;
    while (count < limit && s_has_more (socket)) {
        zmq_msg_init (&frames [count]);
        if (zmq_msg_recv (&frames [count], socket, 0) < 0) {
            //  Only a closing context interrupts a queued message; give
            //  up on it but keep errno from libzmq.
            int saved = errno;
            zmq_msg_close (&frames [count]);
            s_drain (socket);
            if (router)
                zmq_msg_move (&msg->identity, &frames [0]);
            msg->has_identity = router;
            for (size_t i = 0; i < count; i++)
                zmq_msg_close (&frames [i]);
            errno = saved;
            return -1;
        }
        count++;
    }
    //  Whatever decode makes of the frames, none of this message may be
    //  left behind to be read as the start of the next.
    s_drain (socket);
    return fy_proto_decode (msg, frames, count, router, err);
}

//  --------------------------------------------------------------------
//  Encoding

static void
s_pack_str (msgpack_packer *packer, const char *text, size_t len)
{
    msgpack_pack_str (packer, len);
    msgpack_pack_str_body (packer, text, len);
}

static void
s_pack_pairs (msgpack_packer *packer, const fy_proto_pair_t *pairs,
              size_t count)
{
    msgpack_pack_map (packer, count);
    for (size_t i = 0; i < count; i++) {
        s_pack_str (packer, pairs [i].key.ptr, pairs [i].key.len);
        s_pack_str (packer, pairs [i].value.ptr, pairs [i].value.len);
    }
}

//  Is an optional or one-of field set on an outgoing message?
static bool
s_is_set (fy_proto_msg_t *msg, s_field_t field)
{
    switch (s_fields [field].type) {
        case T_STR:
        case T_BODY:
            return s_str_slot (msg, field)->ptr != NULL;
        case T_MAP:
            return field == F_QUERY ? msg->query_count > 0
                                    : msg->headers_count > 0;
        case T_IDS:
            return (field == F_DIDS) == msg->dids;
        case T_ENTRIES:
            return msg->entries_count > 0;
        case T_UINT:
            //  PUBLISH and EVENT name seq or did unless they carry a
            //  batch; NACK names seq or did, and did 0 is never issued.
            //  An optional number (window, batch) is absent when 0.
            if (field == F_SEQ || field == F_DID) {
                if (msg->command != FY_PROTO_NACK)
                    return !msg->entries_count;
                return field == F_DID ? msg->did != 0 : msg->did == 0;
            }
            return *s_uint_slot (msg, field) != 0;
        case T_BOOL:
            //  retryable and more are always sent; pull and packed only
            //  when true.
            return (field != F_PULL && field != F_PACKED)
                   || *s_bool_slot (msg, field);
    }
    return false;
}

static void
s_pack_field (msgpack_packer *packer, fy_proto_msg_t *msg, s_field_t field)
{
    s_pack_str (packer, s_fields [field].key, strlen (s_fields [field].key));
    switch (s_fields [field].type) {
        case T_STR: {
            fy_proto_str_t *slot = s_str_slot (msg, field);
            s_pack_str (packer, slot->ptr ? slot->ptr : "", slot->len);
            break;
        }
        case T_BODY:
            msgpack_pack_bin (packer, msg->body.len);
            msgpack_pack_bin_body (packer, msg->body.ptr, msg->body.len);
            break;
        case T_UINT:
            msgpack_pack_uint64 (packer, *s_uint_slot (msg, field));
            break;
        case T_BOOL:
            if (*s_bool_slot (msg, field))
                msgpack_pack_true (packer);
            else
                msgpack_pack_false (packer);
            break;
        case T_IDS:
            msgpack_pack_array (packer, msg->ids_count);
            for (size_t i = 0; i < msg->ids_count; i++)
                msgpack_pack_uint64 (packer, msg->ids [i]);
            break;
        case T_MAP:
            if (field == F_QUERY)
                s_pack_pairs (packer, msg->query, msg->query_count);
            else
                s_pack_pairs (packer, msg->headers, msg->headers_count);
            break;
        case T_ENTRIES:
            msgpack_pack_array (packer, msg->entries_count);
            for (size_t i = 0; i < msg->entries_count; i++) {
                const fy_proto_entry_t *entry = &msg->entries [i];
                if (msg->command == FY_PROTO_PUBLISH) {
                    msgpack_pack_array (packer, 3 + msg->packed);
                    msgpack_pack_uint64 (packer, entry->seq);
                    s_pack_str (packer, entry->id.ptr ? entry->id.ptr : "",
                                entry->id.len);
                    s_pack_str (packer, entry->type.ptr ? entry->type.ptr : "",
                                entry->type.len);
                }
                else {
                    msgpack_pack_array (packer, 2 + msg->packed);
                    msgpack_pack_uint64 (packer, entry->did);
                    msgpack_pack_uint64 (packer, entry->attempt);
                }
                if (msg->packed)
                    msgpack_pack_uint64 (packer, zmq_msg_size (&entry->event));
            }
            break;
    }
}

//  Pack msg's header into msg's reusable buffer; returns the buffer.
static msgpack_sbuffer *
s_pack_header (fy_proto_msg_t *msg)
{
    assert (msg->command < FY_PROTO_COMMANDS);
    //  Batches are of PUBLISH and EVENT only.
    assert (!msg->entries_count || s_commands [msg->command].event);
    uint32_t present = s_commands [msg->command].required;
    if (!msg->entries_count)
        present |= s_commands [msg->command].single;
    for (int field = 0; field < F_COUNT; field++)
        if (((s_commands [msg->command].one_of
              | s_commands [msg->command].optional)
             & BIT (field))
            && s_is_set (msg, (s_field_t) field))
            present |= BIT (field);
    if (!msg->buffer_) {
        msg->buffer_ = fy_xmalloc (sizeof (msgpack_sbuffer));
        msgpack_sbuffer_init (msg->buffer_);
    }
    msgpack_sbuffer *buffer = msg->buffer_;
    msgpack_sbuffer_clear (buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, buffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, (size_t) __builtin_popcount (present));
    for (int field = 0; field < F_COUNT; field++)
        if (present & BIT (field))
            s_pack_field (&packer, msg, (s_field_t) field);
    return buffer;
}

int
fy_proto_pack (fy_proto_msg_t *msg, zmq_msg_t *header)
{
    assert (msg);
    assert (header);
    msgpack_sbuffer *buffer = s_pack_header (msg);
    if (zmq_msg_init_size (header, buffer->size))
        return -1;
    memcpy (zmq_msg_data (header), buffer->data, buffer->size);
    return 0;
}

//  Send the frames after the identity, up to the header; more when
//  event frames follow. header is bytes, not a message, so the common
//  path needs no zmq_msg_t for it.
static int
s_send_head (void *socket, const void *identity, size_t identity_len,
             fy_proto_command_t command, const void *header, size_t header_len,
             bool more)
{
    const char *name = s_commands [command].name;
    if ((identity && zmq_send (socket, identity, identity_len, ZMQ_SNDMORE) < 0)
        || zmq_send (socket, FY_PROTO_SIGNATURE, strlen (FY_PROTO_SIGNATURE),
                     ZMQ_SNDMORE)
               < 0
        || zmq_send (socket, name, strlen (name), ZMQ_SNDMORE) < 0
        || zmq_send (socket, header, header_len, more ? ZMQ_SNDMORE : 0) < 0)
        return -1;
    return 0;
}

int
fy_proto_send_packed (void *socket, const void *identity, size_t identity_len,
                      fy_proto_command_t command, zmq_msg_t *header,
                      zmq_msg_t *event)
{
    assert (socket);
    assert (header);
    assert (command < FY_PROTO_COMMANDS);
    assert (!s_commands [command].event == !event);
    if (s_send_head (socket, identity, identity_len, command,
                     zmq_msg_data (header), zmq_msg_size (header), event))
        return -1;
    return event && zmq_msg_send (event, socket, 0) < 0 ? -1 : 0;
}

//  A batch's events in one frame: one copy of each instead of a ZeroMQ
//  message per event through both ends' I/O threads.
static int
s_send_packed_events (void *socket, fy_proto_msg_t *msg)
{
    size_t total = 0;
    for (size_t i = 0; i < msg->entries_count; i++)
        total += zmq_msg_size (&msg->entries [i].event);
    //  Out of memory only, as for fy_xmalloc: the head is sent already,
    //  and a half-sent message would run into the next one.
    zmq_msg_t frame;
    if (zmq_msg_init_size (&frame, total))
        abort ();
    char *at = zmq_msg_data (&frame);
    for (size_t i = 0; i < msg->entries_count; i++) {
        zmq_msg_t *event = &msg->entries [i].event;
        size_t size = zmq_msg_size (event);
        //  An empty event may have no data at all.
        if (size)
            memcpy (at, zmq_msg_data (event), size);
        at += size;
    }
    if (zmq_msg_send (&frame, socket, 0) < 0) {
        zmq_msg_close (&frame);
        return -1;
    }
    return 0;
}

int
fy_proto_send (void *socket, fy_proto_msg_t *msg)
{
    assert (socket);
    assert (msg);
    assert (!s_commands [msg->command].event || msg->has_event
            || msg->entries_count);
    msgpack_sbuffer *buffer = s_pack_header (msg);
    bool event = s_commands [msg->command].event;
    if (s_send_head (socket,
                     msg->has_identity ? zmq_msg_data (&msg->identity) : NULL,
                     zmq_msg_size (&msg->identity), msg->command, buffer->data,
                     buffer->size, event))
        return -1;
    //  A packed batch's one frame, a batch's frames, or the one event.
    if (msg->packed && msg->entries_count)
        return s_send_packed_events (socket, msg);
    for (size_t i = 0; i < msg->entries_count; i++)
        if (zmq_msg_send (&msg->entries [i].event, socket,
                          i + 1 < msg->entries_count ? ZMQ_SNDMORE : 0)
            < 0)
            return -1;
    if (event && !msg->entries_count) {
        if (zmq_msg_send (&msg->event, socket, 0) < 0)
            return -1;
        msg->has_event = false;
    }
    return 0;
}
