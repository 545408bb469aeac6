/*  fy_sqs: SQS's JSON 1.0 protocol on fy_http_client. Each call is an
    "op" that lives from the caller's request to its one callback, across
    attempts: an attempt is one HTTP request, built afresh (and signed
    afresh) each time; between attempts the op waits on one of the HTTP
    client's timers. Batch ops keep every entry's state, so a retry sends
    only the entries still pending and the callback reports all of them in
    the order they were added. */
#include "aws/fy_sqs.h"
#include "aws/fy_sqs_int.h"
#include "ferry/fy_json.h"
#include "http/fy_http_ops.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  A receive's answer holds up to 10 messages of up to 1 MiB (the newest
//  limit), which JSON escaping can swell.
#define S_RECEIVE_MAX_BODY (32u * 1024 * 1024)
#define S_ID_MAX 80

typedef enum {
    S_PENDING,
    S_OK,
    S_FAILED
} s_state_t;

typedef struct {
    char *id;
    char *json;                 //  The entry as sent: its JSON text
    size_t json_len;
    size_t bytes;
    s_state_t state;
    char *message_id;
    char *code;
    char *message;
    bool sender_fault;
} s_entry_t;

struct fy_sqs_batch {
    fy_sqs_batch_kind_t kind;
    s_entry_t entries [FY_SQS_BATCH_MAX];
    size_t count;
    size_t bytes;
};

//  Read straight from the answer (s_parse_receive), in one allocation:
//  every string member (MessageId, ReceiptHandle, Body, MD5OfBody...) and
//  every system attribute as name, value pairs of pointers into text; the
//  members that are not strings (MessageAttributes) as a tree, when the
//  receive asked for them.
struct fy_sqs_message {
    const char *id;
    const char *receipt;
    const char *body;
    json_t *rest;               //  MessageAttributes and the like, or NULL
    json_t *json;               //  The whole message, made on demand
    size_t field_count;         //  String members: the first pairs
    size_t attribute_count;     //  System attributes: the pairs after
    bool has_attributes;        //  The answer had Attributes
    const char *pairs [];       //  Name, value...; the text after them
};

//  A growing text (not NUL-terminated unless given one).
typedef struct {
    char *data;
    size_t len, size;
} s_text_t;

//  An object of an answer as it is read (a received message, a batch
//  entry's outcome): its strings, each NUL-terminated, one after the
//  other in text, and where each pair starts. Reused for every object of
//  every answer.
typedef struct {
    s_text_t text;
    size_t *fields;             //  Offset of each string member's name
    size_t field_count;
    size_t *attributes;         //  Offset of each system attribute's name
    size_t attribute_count;
    size_t pair_size;           //  Room in each of fields and attributes
} s_scratch_t;

typedef enum {
    S_RECEIVE,
    S_BATCH,
    S_ATTRIBUTES,
    S_URL
} s_kind_t;

typedef struct {
    fy_http_op_t base;          //  First: the list's view of the op
    fy_sqs_t *sqs;
    s_kind_t kind;
    const char *action;
    json_t *request;            //  Body; a batch's Entries are set per try
    fy_sqs_batch_t *batch;
    int64_t total_ms;
    size_t max_body;
    void *fn;
    void *arg;
    //  How the last attempt went.
    int error;
    int status;
    fy_sqs_error_t failure;
    //  A ReceiveMessage's messages, from its answer to its callback.
    fy_sqs_message_t **messages;
    size_t message_count;
} s_op_t;

//  An fy_aws_client for the endpoint, the settings and the list of ops;
//  the ops are fy_sqs's own.
struct fy_sqs {
    fy_aws_client_t *client;
    fy_http_ops_t *ops;         //  The client's
    char *url;                  //  endpoint + "/"
    s_scratch_t scratch;        //  s_read_object's, for every answer
};

//  Legacy query codes and the model's shape names for them (the
//  awsQueryError traits of sqs-2012-11-05.json that differ).
static const struct {
    const char *query;
    const char *shape;
} s_query_codes [] = {
    { "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
      "BatchEntryIdsNotDistinct" },
    { "AWS.SimpleQueueService.BatchRequestTooLong", "BatchRequestTooLong" },
    { "AWS.SimpleQueueService.EmptyBatchRequest", "EmptyBatchRequest" },
    { "AWS.SimpleQueueService.InvalidBatchEntryId", "InvalidBatchEntryId" },
    { "KMS.AccessDeniedException", "KmsAccessDenied" },
    { "KMS.DisabledException", "KmsDisabled" },
    { "KMS.InvalidKeyUsageException", "KmsInvalidKeyUsage" },
    { "KMS.InvalidStateException", "KmsInvalidState" },
    { "KMS.NotFoundException", "KmsNotFound" },
    { "KMS.OptInRequired", "KmsOptInRequired" },
    { "KMS.ThrottlingException", "KmsThrottled" },
    { "AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight" },
    { "AWS.SimpleQueueService.PurgeQueueInProgress", "PurgeQueueInProgress" },
    { "AWS.SimpleQueueService.QueueDeletedRecently", "QueueDeletedRecently" },
    { "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist" },
    { "QueueAlreadyExists", "QueueNameExists" },
    { "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
      "TooManyEntriesInBatchRequest" },
    { "AWS.SimpleQueueService.UnsupportedOperation", "UnsupportedOperation" },
};

static const char *
s_field (json_t *object, const char *name)
{
    return json_string_value (json_object_get (object, name));
}

//  --------------------------------------------------------------------
//  Errors

static void
s_copy (char *dest, size_t size, const char *src, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy (dest, src, len);
    dest [len] = 0;
}

//  The shape name in "ns#Name:uri" style text, or in a legacy query code.
static void
s_short_code (const char *text, char *code, size_t size)
{
    fy_aws_short_code (text, code, size);
    for (size_t i = 0; i < sizeof s_query_codes / sizeof *s_query_codes; i++)
        if (strcmp (code, s_query_codes [i].query) == 0) {
            s_copy (code, size, s_query_codes [i].shape,
                    strlen (s_query_codes [i].shape));
            break;
        }
}

void
fy_sqs_decode_error (int status, const char *query_error,
                     const char *error_type, const char *body, size_t len,
                     fy_sqs_error_t *error)
{
    assert (error);
    memset (error, 0, sizeof *error);
    fy_http_service_error_t json;
    fy_aws_decode_json_error (status, error_type, body, len, &json);
    error->sender_fault = json.sender_fault;
    if (query_error && *query_error) {
        s_copy (error->query_code, sizeof error->query_code, query_error,
                strcspn (query_error, ";"));
        const char *fault = strchr (query_error, ';');
        if (fault)
            error->sender_fault = strcmp (fault + 1, "Sender") == 0;
    }
    if (json.code [0])
        s_short_code (json.code, error->code, sizeof error->code);
    else if (error->query_code [0])
        s_short_code (error->query_code, error->code, sizeof error->code);
    memcpy (error->message, json.message, sizeof error->message);
}

bool
fy_sqs_is_retryable (int status, const char *code)
{
    return fy_aws_is_retryable (status, code);
}

//  --------------------------------------------------------------------
//  Client

void
fy_sqs_options_default (fy_sqs_options_t *options)
{
    fy_aws_options_default (options);
}

char *
fy_sqs_region_endpoint (const char *region)
{
    return fy_aws_region_endpoint ("sqs", region);
}

fy_sqs_t *
fy_sqs_new (fy_http_client_t *http, const fy_sqs_options_t *options,
            fy_error_t *err)
{
    assert (http);
    static const char *const env_names [] = { "AWS_ENDPOINT_URL_SQS", NULL };
    static const fy_aws_service_t service = { .service = "sqs",
                                              .env_names = env_names,
                                              .prefix = "sqs" };
    fy_aws_client_t *client = fy_aws_client_new (http, &service, options, err);
    if (!client)
        return NULL;
    fy_sqs_t *self = fy_xcalloc (1, sizeof *self);
    self->client = client;
    self->ops = fy_aws_client_ops (client);
    self->url = fy_xasprintf ("%s/", fy_aws_client_endpoint (client));
    return self;
}

static void
s_op_free (fy_http_op_t *base)
{
    s_op_t *op = (s_op_t *) base;
    json_decref (op->request);
    fy_sqs_batch_destroy (&op->batch);
    free (op);
}

void
fy_sqs_destroy (fy_sqs_t **self_p)
{
    assert (self_p);
    fy_sqs_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_aws_client_destroy (&self->client);
    free (self->url);
    free (self->scratch.text.data);
    free (self->scratch.fields);
    free (self->scratch.attributes);
    free (self);
    *self_p = NULL;
    errno = saved;
}

const char *
fy_sqs_endpoint (fy_sqs_t *self)
{
    assert (self);
    return fy_aws_client_endpoint (self->client);
}

size_t
fy_sqs_pending (fy_sqs_t *self)
{
    assert (self);
    return fy_aws_client_pending (self->client);
}

bool
fy_sqs_cancel (fy_sqs_t *self, uint64_t id)
{
    assert (self);
    return fy_aws_client_cancel (self->client, id);
}

//  --------------------------------------------------------------------
//  Attempts

static void
s_attempt (fy_http_op_t *base);

static bool
s_may_retry (s_op_t *op)
{
    return fy_http_ops_may_retry (op->sqs->ops, &op->base);
}

static void
s_retry_later (s_op_t *op)
{
    fy_http_ops_backoff (op->sqs->ops, &op->base);
}

static void
s_fill_result (s_op_t *op, fy_sqs_result_t *result)
{
    memset (result, 0, sizeof *result);
    result->error = op->error;
    result->status = op->status;
    result->code = op->failure.code [0] ? op->failure.code : NULL;
    result->query_code =
        op->failure.query_code [0] ? op->failure.query_code : NULL;
    result->message = op->failure.message;
    result->sender_fault = op->failure.sender_fault;
    result->attempts = op->base.attempts;
}

static void
s_finish_batch (s_op_t *op, fy_sqs_result_t *result)
{
    fy_sqs_batch_t *batch = op->batch;
    fy_sqs_entry_t entries [FY_SQS_BATCH_MAX];
    for (size_t i = 0; i < batch->count; i++) {
        s_entry_t *entry = &batch->entries [i];
        if (entry->state == S_PENDING) {
            //  Out of attempts: the entry's last failure, else the call's.
            entry->state = S_FAILED;
            if (!entry->code) {
                entry->code =
                    fy_xstrdup (result->code ? result->code : "RequestFailed");
                entry->message = fy_xstrdup (result->message);
                entry->sender_fault = result->sender_fault;
            }
        }
        entries [i] = (fy_sqs_entry_t) {
            .id = entry->id,
            .ok = entry->state == S_OK,
            .message_id = entry->message_id,
            .code = entry->code,
            .message = entry->message,
            .sender_fault = entry->sender_fault,
        };
    }
    ((fy_sqs_batch_fn *) op->fn) (result, entries, batch->count, op->arg);
}

//  The op is over: call back once with what it has, then free it.
static void
s_finish (s_op_t *op, json_t *reply)
{
    fy_http_ops_unlink (op->sqs->ops, &op->base);
    fy_sqs_result_t result;
    s_fill_result (op, &result);
    if (op->kind == S_RECEIVE) {
        fy_sqs_message_t *none = NULL;
        fy_sqs_message_t **messages = op->messages ? op->messages : &none;
        size_t count = op->message_count;
        ((fy_sqs_receive_fn *) op->fn) (&result, messages, count, op->arg);
        for (size_t i = 0; i < count; i++)
            fy_sqs_message_destroy (&messages [i]);
        free (op->messages);
        op->messages = NULL;
    }
    else if (op->kind == S_BATCH)
        s_finish_batch (op, &result);
    else if (op->kind == S_ATTRIBUTES) {
        json_t *attributes = json_object_get (reply, "Attributes");
        json_t *empty = NULL;
        if (!attributes && !op->error)
            attributes = empty = json_object ();
        ((fy_sqs_attributes_fn *) op->fn) (&result, attributes, op->arg);
        json_decref (empty);
    }
    else {
        const char *url =
            json_string_value (json_object_get (reply, "QueueUrl"));
        ((fy_sqs_url_fn *) op->fn) (&result, op->error ? NULL : url, op->arg);
    }
    s_op_free (&op->base);
}

static void
s_entry_set (s_entry_t *entry, s_state_t state, const char *code,
             const char *message, bool sender_fault)
{
    entry->state = state;
    free (entry->code);
    free (entry->message);
    entry->code = code ? fy_xstrdup (code) : NULL;
    entry->message = message ? fy_xstrdup (message) : NULL;
    entry->sender_fault = sender_fault;
}

static s_entry_t *
s_entry_find (fy_sqs_batch_t *batch, const char *id)
{
    for (size_t i = 0; id && i < batch->count; i++)
        if (strcmp (batch->entries [i].id, id) == 0)
            return &batch->entries [i];
    return NULL;
}

//  Apply a batch answer; true when entries are left to retry.
static bool
s_is_key (const char *key, size_t len, const char *name)
{
    return len == strlen (name) && memcmp (key, name, len) == 0;
}

//  Append len bytes of data to text.
static void
s_text_add (s_text_t *text, const char *data, size_t len)
{
    if (text->len + len > text->size) {
        while (text->len + len > text->size)
            text->size = text->size ? text->size * 2 : 256;
        text->data = fy_xrealloc (text->data, text->size);
    }
    memcpy (text->data + text->len, data, len);
    text->len += len;
}

//  Append value as a JSON string: quotes, backslashes and control
//  characters escaped, the rest (UTF-8) as it is.
static void
s_text_quote (s_text_t *text, const char *value)
{
    s_text_add (text, "\"", 1);
    const char *run = value;
    for (const char *p = value; *p; p++) {
        unsigned char c = (unsigned char) *p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_text_add (text, run, (size_t) (p - run));
        char escape [8];
        int n = c >= 0x20 ? snprintf (escape, sizeof escape, "\\%c", c)
                          : snprintf (escape, sizeof escape, "\\u%04x", c);
        s_text_add (text, escape, (size_t) n);
        run = p + 1;
    }
    s_text_add (text, run, strlen (run));
    s_text_add (text, "\"", 1);
}

//  Append len bytes of data and a NUL to the scratch; the offset they
//  start at.
static size_t
s_scratch_add (s_scratch_t *scratch, const char *data, size_t len)
{
    size_t at = scratch->text.len;
    s_text_add (&scratch->text, data, len);
    s_text_add (&scratch->text, "", 1);
    return at;
}

//  Record a pair whose name starts at offset name, its value after it.
static void
s_scratch_pair (s_scratch_t *scratch, size_t **list, size_t *count, size_t name)
{
    if (scratch->field_count == scratch->pair_size
        || scratch->attribute_count == scratch->pair_size) {
        scratch->pair_size = scratch->pair_size ? scratch->pair_size * 2 : 16;
        size_t bytes = scratch->pair_size * sizeof (size_t);
        scratch->fields = fy_xrealloc (scratch->fields, bytes);
        scratch->attributes = fy_xrealloc (scratch->attributes, bytes);
    }
    (*list) [(*count)++] = name;
}

//  The pair of list named key: the offset of its name, or -1.
static ptrdiff_t
s_scratch_find (s_scratch_t *scratch, const size_t *list, size_t count,
                const char *key, size_t key_len)
{
    for (size_t i = 0; i < count; i++) {
        const char *name = scratch->text.data + list [i];
        if (strncmp (name, key, key_len) == 0 && name [key_len] == 0)
            return (ptrdiff_t) list [i];
    }
    return -1;
}

//  The value of the string member named name, or NULL.
static const char *
s_scratch_field (s_scratch_t *scratch, const char *name)
{
    size_t len = strlen (name);
    ptrdiff_t at = s_scratch_find (scratch, scratch->fields,
                                   scratch->field_count, name, len);
    return at < 0 ? NULL : scratch->text.data + at + len + 1;
}

//  A message's Attributes (SQS's system attributes, all strings) into the
//  scratch; 0, or -1 with err.
static int
s_read_attributes (fy_json_reader_t *reader, s_scratch_t *scratch,
                   fy_error_t *err)
{
    int rc = fy_json_reader_enter (reader, '{');
    while (rc == 1) {
        const char *key, *text;
        size_t key_len, len;
        if (fy_json_reader_key (reader, &key, &key_len))
            return -1;
        if (s_scratch_find (scratch, scratch->attributes,
                            scratch->attribute_count, key, key_len)
            >= 0) {
            fy_error_set (err, "duplicate attribute %.*s in a message",
                          (int) key_len, key);
            return -1;
        }
        if (fy_json_reader_peek (reader) != '"') {
            fy_error_set (err, "attribute %.*s of a message is not a string",
                          (int) key_len, key);
            return -1;
        }
        size_t name = s_scratch_add (scratch, key, key_len);
        if (fy_json_reader_string (reader, &text, &len))
            return -1;
        s_scratch_add (scratch, text, len);
        s_scratch_pair (scratch, &scratch->attributes,
                        &scratch->attribute_count, name);
        rc = fy_json_reader_next (reader);
    }
    return rc;
}

//  The object that comes next into the scratch, its strings copied out as
//  they pass (a tree was a malloc per string and per member): string
//  members as fields, an object named Attributes as attributes (then
//  *has_attributes is set), anything else into *rest_p (made when
//  needed). 0, or -1 with err.
static int
s_read_object (fy_json_reader_t *reader, s_scratch_t *scratch, json_t **rest_p,
               bool *has_attributes, fy_error_t *err)
{
    scratch->text.len = 0;
    scratch->field_count = 0;
    scratch->attribute_count = 0;
    *has_attributes = false;
    int rc = fy_json_reader_enter (reader, '{');
    while (rc == 1) {
        const char *key;
        size_t key_len;
        if (fy_json_reader_key (reader, &key, &key_len))
            return -1;
        bool is_attributes = s_is_key (key, key_len, "Attributes");
        char next = fy_json_reader_peek (reader);
        //  The key is borrowed until the next read: keep it first.
        size_t name = s_scratch_add (scratch, key, key_len);
        const char *name_text = scratch->text.data + name;
        if (s_scratch_find (scratch, scratch->fields, scratch->field_count, key,
                            key_len)
                >= 0
            || json_object_get (*rest_p, name_text)
            || (is_attributes && *has_attributes)) {
            fy_error_set (err, "duplicate key %s in an object", name_text);
            return -1;
        }
        if (next == '"') {
            const char *text;
            size_t len;
            if (fy_json_reader_string (reader, &text, &len))
                return -1;
            s_scratch_add (scratch, text, len);
            s_scratch_pair (scratch, &scratch->fields, &scratch->field_count,
                            name);
        }
        else if (is_attributes && next == '{') {
            scratch->text.len = name;
            *has_attributes = true;
            if (s_read_attributes (reader, scratch, err))
                return -1;
        }
        else {
            json_t *value = fy_json_reader_value (reader);
            if (!value)
                return -1;
            if (!*rest_p)
                *rest_p = json_object ();
            json_object_set_new_nocheck (*rest_p, name_text, value);
            scratch->text.len = name;
        }
        rc = fy_json_reader_next (reader);
    }
    return rc;
}

//  The message gathered in the scratch, in one allocation.
static fy_sqs_message_t *
s_message_new (s_scratch_t *scratch, json_t *rest, bool has_attributes)
{
    size_t pairs = 2 * (scratch->field_count + scratch->attribute_count);
    size_t size = scratch->text.len;
    fy_sqs_message_t *msg =
        fy_xmalloc (sizeof *msg + pairs * sizeof msg->pairs [0] + size);
    *msg = (fy_sqs_message_t) { .rest = rest,
                                .field_count = scratch->field_count,
                                .attribute_count = scratch->attribute_count,
                                .has_attributes = has_attributes };
    char *text = (char *) (msg->pairs + pairs);
    memcpy (text, scratch->text.data, size);
    const size_t *offsets [] = { scratch->fields, scratch->attributes };
    size_t counts [] = { scratch->field_count, scratch->attribute_count };
    const char **pair = msg->pairs;
    for (size_t list = 0; list < 2; list++)
        for (size_t i = 0; i < counts [list]; i++) {
            const char *name = text + offsets [list][i];
            *pair++ = name;
            *pair++ = name + strlen (name) + 1;
        }
    for (size_t i = 0; i < msg->field_count; i++) {
        const char *name = msg->pairs [2 * i], *value = msg->pairs [2 * i + 1];
        if (strcmp (name, "MessageId") == 0)
            msg->id = value;
        else if (strcmp (name, "ReceiptHandle") == 0)
            msg->receipt = value;
        else if (strcmp (name, "Body") == 0)
            msg->body = value;
    }
    return msg;
}

//  One message of a ReceiveMessage answer; NULL with err when it is
//  malformed.
static fy_sqs_message_t *
s_parse_message (fy_json_reader_t *reader, s_scratch_t *scratch,
                 fy_error_t *err)
{
    json_t *rest = NULL;
    bool has_attributes;
    if (s_read_object (reader, scratch, &rest, &has_attributes, err))
        goto fail;
    const char *strings [] = { "MessageId", "ReceiptHandle", "Body" };
    for (size_t i = 0; i < 3; i++)
        if (json_object_get (rest, strings [i])) {
            fy_error_set (err, "%s of a message is not a string", strings [i]);
            goto fail;
        }
    return s_message_new (scratch, rest, has_attributes);
fail:
    json_decref (rest);
    return NULL;
}

//  Reads one item of an answer's list (lists [list]); 0, or -1 with err.
typedef int (s_item_fn) (fy_json_reader_t *reader, size_t list, void *arg,
                         fy_error_t *err);

//  An answer, read without building its tree: an object whose lists named
//  in lists (NULL-terminated, at most two) are read item by item by fn,
//  and whose other members are skipped. 0, or -1 with err.
static int
s_read_answer (const char *body, size_t len, const char *const *lists,
               s_item_fn *fn, void *arg, fy_error_t *err)
{
    bool seen [2] = { false, false };
    fy_json_reader_t *reader = fy_json_reader_new (body, len, err);
    int rc = fy_json_reader_enter (reader, '{');
    while (rc == 1) {
        const char *key;
        size_t key_len;
        if (fy_json_reader_key (reader, &key, &key_len)) {
            rc = -1;
            break;
        }
        size_t list = 0;
        while (lists [list] && !s_is_key (key, key_len, lists [list]))
            list++;
        if (!lists [list]) {
            json_t *value = fy_json_reader_value (reader);
            rc = value ? fy_json_reader_next (reader) : -1;
            json_decref (value);
            continue;
        }
        assert (list < 2);
        if (seen [list]) {
            fy_error_set (err, "duplicate key %s", lists [list]);
            rc = -1;
            break;
        }
        seen [list] = true;
        int more = fy_json_reader_enter (reader, '[');
        while (more == 1) {
            if (fn (reader, list, arg, err)) {
                more = -1;
                break;
            }
            more = fy_json_reader_next (reader);
        }
        rc = more < 0 ? -1 : fy_json_reader_next (reader);
    }
    if (rc == 0 && fy_json_reader_end (reader))
        rc = -1;
    fy_json_reader_destroy (&reader);
    return rc == 0 ? 0 : -1;
}

//  A batch entry's outcome as read, applied once the whole answer is.
typedef struct {
    s_entry_t *entry;
    bool ok;
    bool sender_fault;
    char *message_id;
    char *code;
    char *message;
} s_outcome_t;

//  What s_parse_batch gathers.
typedef struct {
    s_op_t *op;
    s_outcome_t outcomes [FY_SQS_BATCH_MAX];
    size_t count;
} s_outcomes_t;

//  One item of Successful (list 0) or Failed into the outcomes, unless
//  its entry is unknown, no longer pending or has one already.
static int
s_read_outcome (fy_json_reader_t *reader, size_t list, void *arg,
                fy_error_t *err)
{
    s_outcomes_t *outcomes = arg;
    s_scratch_t *scratch = &outcomes->op->sqs->scratch;
    bool ok = list == 0;
    json_t *rest = NULL;
    bool has_attributes;
    int rc = s_read_object (reader, scratch, &rest, &has_attributes, err);
    s_entry_t *entry = rc ? NULL
                          : s_entry_find (outcomes->op->batch,
                                          s_scratch_field (scratch, "Id"));
    for (size_t i = 0; entry && i < outcomes->count; i++)
        if (outcomes->outcomes [i].entry == entry)
            entry = NULL;
    if (entry && entry->state == S_PENDING) {
        const char *message_id = s_scratch_field (scratch, "MessageId");
        const char *code = s_scratch_field (scratch, "Code");
        const char *message = s_scratch_field (scratch, "Message");
        outcomes->outcomes [outcomes->count++] = (s_outcome_t) {
            .entry = entry,
            .ok = ok,
            .sender_fault =
                json_is_true (json_object_get (rest, "SenderFault")),
            .message_id = ok && message_id ? fy_xstrdup (message_id) : NULL,
            .code = !ok && code ? fy_xstrdup (code) : NULL,
            .message = !ok && message ? fy_xstrdup (message) : NULL,
        };
    }
    json_decref (rest);
    return rc;
}

//  A batch answer, read without building its tree (a tree was several
//  mallocs per entry): each entry of Successful and Failed settles its
//  entry, the entries SQS failed but may be retried go back to pending
//  (then *retry_p is set), and an entry in neither list fails. 0, or -1
//  with err and no entry touched.
static int
s_parse_batch (s_op_t *op, const char *body, size_t len, bool *retry_p,
               fy_error_t *err)
{
    static const char *const lists [] = { "Successful", "Failed", NULL };
    fy_sqs_batch_t *batch = op->batch;
    s_outcomes_t outcomes = { .op = op };
    int rc = s_read_answer (body, len, lists, s_read_outcome, &outcomes, err);
    bool retry = false;
    for (size_t i = 0; i < outcomes.count; i++) {
        s_outcome_t *outcome = &outcomes.outcomes [i];
        s_entry_t *entry = outcome->entry;
        if (rc == 0 && outcome->ok) {
            s_entry_set (entry, S_OK, NULL, NULL, false);
            entry->message_id = outcome->message_id;
            outcome->message_id = NULL;
        }
        else if (rc == 0) {
            char short_code [96] = "";
            if (outcome->code)
                s_short_code (outcome->code, short_code, sizeof short_code);
            //  Retry what SQS blames on itself, while attempts are left.
            bool again = !outcome->sender_fault && s_may_retry (op);
            s_entry_set (entry, again ? S_PENDING : S_FAILED,
                         outcome->code ? short_code : "InternalError",
                         outcome->message, outcome->sender_fault);
            retry |= again;
        }
        free (outcome->message_id);
        free (outcome->code);
        free (outcome->message);
    }
    for (size_t i = 0; rc == 0 && i < batch->count; i++) {
        s_entry_t *entry = &batch->entries [i];
        //  Pending, but in neither list: the answer is broken.
        if (entry->state == S_PENDING && !entry->code)
            s_entry_set (entry, S_FAILED, "MissingEntry",
                         "entry missing from the answer", false);
    }
    *retry_p = retry;
    return rc;
}

//  What s_parse_receive gathers.
typedef struct {
    s_op_t *op;
    fy_sqs_message_t **messages;
    size_t count, size;
} s_messages_t;

//  One item of Messages.
static int
s_read_message (fy_json_reader_t *reader, size_t list, void *arg,
                fy_error_t *err)
{
    (void) list;
    s_messages_t *messages = arg;
    if (messages->count == messages->size) {
        messages->size = messages->size ? messages->size * 2 : 16;
        messages->messages = fy_xrealloc (
            messages->messages, messages->size * sizeof *messages->messages);
    }
    fy_sqs_message_t *msg =
        s_parse_message (reader, &messages->op->sqs->scratch, err);
    if (!msg)
        return -1;
    messages->messages [messages->count++] = msg;
    return 0;
}

//  A ReceiveMessage answer, read without building its tree: the strings
//  are copied out of it as they pass, since the tree cost the bridge
//  more than the rest of the parse. Sets op->messages; 0, or -1 with err
//  and none kept.
static int
s_parse_receive (s_op_t *op, const char *body, size_t len, fy_error_t *err)
{
    static const char *const lists [] = { "Messages", NULL };
    s_messages_t messages = { .op = op };
    int rc = s_read_answer (body, len, lists, s_read_message, &messages, err);
    for (size_t i = 0; rc == 0 && i < messages.count; i++)
        if (!messages.messages [i]->receipt || !messages.messages [i]->body) {
            fy_error_set (err, "a message without ReceiptHandle or Body");
            rc = -1;
        }
    if (rc != 0) {
        for (size_t i = 0; i < messages.count; i++)
            fy_sqs_message_destroy (&messages.messages [i]);
        free (messages.messages);
        messages = (s_messages_t) { .op = op };
    }
    op->messages = messages.messages;
    op->message_count = messages.count;
    return rc;
}

static void
s_on_http (const fy_http_result_t *http, void *arg)
{
    s_op_t *op = arg;
    op->base.http_id = 0;
    op->status = fy_http_result_status (http);
    op->error = fy_http_result_error (http);
    memset (&op->failure, 0, sizeof op->failure);
    size_t len;
    const char *body = fy_http_result_body (http, &len);
    json_t *reply = NULL;
    bool retry = false;
    if (op->error) {
        s_copy (op->failure.message, sizeof op->failure.message,
                fy_http_result_error_text (http),
                strlen (fy_http_result_error_text (http)));
        retry = op->error != EMSGSIZE;
    }
    else if (op->status != 200) {
        fy_sqs_decode_error (op->status,
                             fy_http_result_header (http, "x-amzn-query-error"),
                             fy_http_result_header (http, "x-amzn-errortype"),
                             body, len, &op->failure);
        if (!op->failure.message [0])
            snprintf (op->failure.message, sizeof op->failure.message,
                      "HTTP %d from %s", op->status, op->action);
        op->error = EPROTO;
        retry = fy_sqs_is_retryable (op->status, op->failure.code);
    }
    else if (op->kind == S_RECEIVE) {
        fy_error_t err = { "" };
        if (s_parse_receive (op, body, len, &err)) {
            op->error = EPROTO;
            snprintf (op->failure.message, sizeof op->failure.message,
                      "%s: answer is not valid: %s", op->action, err.text);
        }
    }
    else if (op->kind == S_BATCH) {
        fy_error_t err = { "" };
        bool again = false;
        if (s_parse_batch (op, body, len, &again, &err)) {
            op->error = EPROTO;
            snprintf (op->failure.message, sizeof op->failure.message,
                      "%s: answer is not valid: %s", op->action, err.text);
        }
        else if (again) {
            s_retry_later (op);
            return;
        }
    }
    else {
        reply = fy_json_loadb (body, len, NULL);
        if (!json_is_object (reply)) {
            op->error = EPROTO;
            snprintf (op->failure.message, sizeof op->failure.message,
                      "%s: answer is not a JSON object", op->action);
        }
    }
    if (retry && s_may_retry (op)) {
        s_retry_later (op);
        return;
    }
    s_finish (op, reply);
    json_decref (reply);
}

static void
s_fail_now (s_op_t *op, int error, const char *message)
{
    op->error = error;
    op->status = 0;
    memset (&op->failure, 0, sizeof op->failure);
    s_copy (op->failure.message, sizeof op->failure.message, message,
            strlen (message));
    s_finish (op, NULL);
}

//  The request's text (taken) with the batch's pending entries added as
//  Entries, from their text.
static char *
s_with_entries (fy_sqs_batch_t *batch, char *request, size_t *len_p)
{
    //  Reopen the object: it holds QueueUrl, so a member came before.
    assert (*len_p > 2 && request [*len_p - 1] == '}');
    s_text_t text = { request, *len_p - 1, *len_p };
    s_text_add (&text, ",\"Entries\":[", 12);
    bool first = true;
    for (size_t i = 0; i < batch->count; i++) {
        s_entry_t *entry = &batch->entries [i];
        if (entry->state != S_PENDING)
            continue;
        if (!first)
            s_text_add (&text, ",", 1);
        s_text_add (&text, entry->json, entry->json_len);
        first = false;
    }
    s_text_add (&text, "]}", 3);
    *len_p = text.len - 1;
    return text.data;
}

static void
s_attempt (fy_http_op_t *base)
{
    s_op_t *op = (s_op_t *) base;
    fy_sqs_t *self = op->sqs;
    size_t len;
    char *body = fy_json_dumps (op->request, 0, &len);
    if (op->kind == S_BATCH)
        body = s_with_entries (op->batch, body, &len);
    fy_http_call_t *call = fy_http_call_new ("POST", self->url);
    fy_http_call_add_header (call, "Content-Type",
                             "application/x-amz-json-1.0");
    char *target = fy_xasprintf ("AmazonSQS.%s", op->action);
    fy_http_call_add_header (call, "X-Amz-Target", target);
    free (target);
    //  SQS is query-compatible: the header makes it add x-amzn-query-error.
    fy_http_call_add_header (call, "x-amzn-query-mode", "true");
    fy_http_call_add_header (call, "User-Agent", "ferry/" PACKAGE_VERSION);
    fy_http_call_set_body (call, body, len);
    fy_http_call_set_timeouts (call, self->ops->connect_ms, op->total_ms);
    fy_http_call_set_max_body (call, op->max_body);
    free (body);
    fy_error_t err = { "" };
    if (fy_http_ops_start (self->ops, &op->base, &call, s_on_http, &err))
        s_fail_now (op, errno, err.text);
}

//  The new op has been queued and its first attempt starts on the next
//  run of the loop, never inside the caller's call: its callback can
//  then never run before the caller has returned.
static s_op_t *
s_op_new (fy_sqs_t *self, s_kind_t kind, const char *action, void *fn,
          void *arg, uint64_t *id_p)
{
    s_op_t *op = fy_xcalloc (1, sizeof *op);
    op->sqs = self;
    op->kind = kind;
    op->action = action;
    op->fn = fn;
    op->arg = arg;
    op->request = json_object ();
    op->total_ms = self->ops->timeout_ms;
    op->max_body = 0;
    fy_http_ops_add (self->ops, &op->base, s_attempt, s_op_free, id_p);
    return op;
}


//  --------------------------------------------------------------------
//  Calls

static bool
s_check_url (const char *queue_url, fy_error_t *err)
{
    if (!queue_url || !*queue_url) {
        fy_error_set (err, "sqs: no queue URL");
        errno = EINVAL;
        return false;
    }
    return true;
}

//  A JSON list of names.
static json_t *
s_names (const char **names)
{
    json_t *list = json_array ();
    for (; *names; names++)
        json_array_append_new (list, json_string (*names));
    return list;
}

int
fy_sqs_receive (fy_sqs_t *self, const char *queue_url, int max_messages,
                int wait_s, int visibility_s, fy_sqs_receive_fn *fn, void *arg,
                uint64_t *id_p, fy_error_t *err)
{
    static const char *all [] = { "All", NULL };
    fy_sqs_receive_t options = { .max_messages = max_messages,
                                 .wait_s = wait_s,
                                 .visibility_s = visibility_s,
                                 .attributes = all,
                                 .message_attributes = all };
    return fy_sqs_receive_ex (self, queue_url, &options, fn, arg, id_p, err);
}

int
fy_sqs_receive_ex (fy_sqs_t *self, const char *queue_url,
                   const fy_sqs_receive_t *options, fy_sqs_receive_fn *fn,
                   void *arg, uint64_t *id_p, fy_error_t *err)
{
    assert (self);
    assert (options);
    assert (fn);
    if (!s_check_url (queue_url, err))
        return -1;
    int max_messages = options->max_messages, wait_s = options->wait_s;
    if (max_messages < 1 || max_messages > 10 || wait_s < 0 || wait_s > 20
        || options->visibility_s > 43200) {
        fy_error_set (err, "sqs: ReceiveMessage: max_messages 1..10, "
                           "wait_s 0..20, visibility_s up to 43200");
        errno = EINVAL;
        return -1;
    }
    s_op_t *op =
        s_op_new (self, S_RECEIVE, "ReceiveMessage", (void *) fn, arg, id_p);
    json_t *request = op->request;
    json_object_set_new (request, "QueueUrl", json_string (queue_url));
    json_object_set_new (request, "MaxNumberOfMessages",
                         json_integer (max_messages));
    json_object_set_new (request, "WaitTimeSeconds", json_integer (wait_s));
    if (options->visibility_s >= 0)
        json_object_set_new (request, "VisibilityTimeout",
                             json_integer (options->visibility_s));
    //  Both names: AttributeNames is deprecated, and older servers know
    //  only it.
    if (options->attributes && *options->attributes) {
        json_object_set_new (request, "MessageSystemAttributeNames",
                             s_names (options->attributes));
        json_object_set_new (request, "AttributeNames",
                             s_names (options->attributes));
    }
    if (options->message_attributes && *options->message_attributes)
        json_object_set_new (request, "MessageAttributeNames",
                             s_names (options->message_attributes));
    op->total_ms = self->ops->timeout_ms + wait_s * 1000;
    op->max_body = S_RECEIVE_MAX_BODY;
    return 0;
}

int
fy_sqs_submit (fy_sqs_t *self, const char *queue_url, fy_sqs_batch_t **batch_p,
               fy_sqs_batch_fn *fn, void *arg, uint64_t *id_p, fy_error_t *err)
{
    assert (self);
    assert (batch_p && *batch_p);
    assert (fn);
    fy_sqs_batch_t *batch = *batch_p;
    *batch_p = NULL;
    if (!s_check_url (queue_url, err) || batch->count == 0) {
        if (batch->count == 0)
            fy_error_set (err, "sqs: empty batch");
        fy_sqs_batch_destroy (&batch);
        errno = EINVAL;
        return -1;
    }
    static const char *actions [] = {
        [FY_SQS_DELETE] = "DeleteMessageBatch",
        [FY_SQS_VISIBILITY] = "ChangeMessageVisibilityBatch",
        [FY_SQS_SEND] = "SendMessageBatch",
    };
    s_op_t *op =
        s_op_new (self, S_BATCH, actions [batch->kind], (void *) fn, arg, id_p);
    op->batch = batch;
    json_object_set_new (op->request, "QueueUrl", json_string (queue_url));
    return 0;
}

int
fy_sqs_get_attributes (fy_sqs_t *self, const char *queue_url,
                       const char **names, fy_sqs_attributes_fn *fn, void *arg,
                       uint64_t *id_p, fy_error_t *err)
{
    assert (self);
    assert (fn);
    if (!s_check_url (queue_url, err))
        return -1;
    s_op_t *op = s_op_new (self, S_ATTRIBUTES, "GetQueueAttributes",
                           (void *) fn, arg, id_p);
    json_object_set_new (op->request, "QueueUrl", json_string (queue_url));
    json_t *list = json_array ();
    for (size_t i = 0; names && names [i]; i++)
        json_array_append_new (list, json_string (names [i]));
    if (json_array_size (list) == 0)
        json_array_append_new (list, json_string ("All"));
    json_object_set_new (op->request, "AttributeNames", list);
    return 0;
}

int
fy_sqs_get_queue_url (fy_sqs_t *self, const char *queue_name, fy_sqs_url_fn *fn,
                      void *arg, uint64_t *id_p, fy_error_t *err)
{
    assert (self);
    assert (fn);
    if (!queue_name || !*queue_name) {
        fy_error_set (err, "sqs: no queue name");
        errno = EINVAL;
        return -1;
    }
    s_op_t *op = s_op_new (self, S_URL, "GetQueueUrl", (void *) fn, arg, id_p);
    json_object_set_new (op->request, "QueueName", json_string (queue_name));
    return 0;
}

//  --------------------------------------------------------------------
//  Batches

fy_sqs_batch_t *
fy_sqs_batch_new (fy_sqs_batch_kind_t kind)
{
    assert (kind == FY_SQS_DELETE || kind == FY_SQS_VISIBILITY
            || kind == FY_SQS_SEND);
    fy_sqs_batch_t *self = fy_xcalloc (1, sizeof *self);
    self->kind = kind;
    return self;
}

void
fy_sqs_batch_destroy (fy_sqs_batch_t **self_p)
{
    assert (self_p);
    fy_sqs_batch_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        s_entry_t *entry = &self->entries [i];
        free (entry->id);
        free (entry->json);
        free (entry->message_id);
        free (entry->code);
        free (entry->message);
    }
    free (self);
    *self_p = NULL;
}

size_t
fy_sqs_batch_size (fy_sqs_batch_t *self)
{
    assert (self);
    return self->count;
}

size_t
fy_sqs_batch_bytes (fy_sqs_batch_t *self)
{
    assert (self);
    return self->bytes;
}

//  Room for one more entry of bytes, with a valid, new id?
static int
s_batch_check (fy_sqs_batch_t *self, fy_sqs_batch_kind_t kind, const char *id,
               size_t bytes)
{
    size_t len = id ? strlen (id) : 0;
    if (self->kind != kind || len == 0 || len > S_ID_MAX
        || strspn (id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789-_")
               != len
        || s_entry_find (self, id)) {
        errno = EINVAL;
        return -1;
    }
    if (bytes > FY_SQS_PAYLOAD_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    if (self->count == FY_SQS_BATCH_MAX
        || self->bytes + bytes > FY_SQS_PAYLOAD_MAX) {
        errno = ENOSPC;
        return -1;
    }
    return 0;
}

//  An entry's JSON text, opened with its Id, room made for more bytes.
static s_text_t
s_entry_open (const char *id, size_t more)
{
    s_text_t text = { NULL, 0, 0 };
    text.size = 16 + strlen (id) + more;
    text.data = fy_xmalloc (text.size);
    s_text_add (&text, "{\"Id\":", 6);
    s_text_quote (&text, id);
    return text;
}

//  Add an entry, its JSON text (taken) complete; it is kept as text, so
//  that no attempt builds a tree of it.
static void
s_batch_add (fy_sqs_batch_t *self, const char *id, s_text_t *json, size_t bytes)
{
    s_entry_t *entry = &self->entries [self->count++];
    entry->id = fy_xstrdup (id);
    entry->json = json->data;
    entry->json_len = json->len;
    entry->bytes = bytes;
    entry->state = S_PENDING;
    self->bytes += bytes;
}

//  A delete or visibility entry: its receipt, and the timeout when >= 0.
static void
s_batch_receipt (fy_sqs_batch_t *self, const char *id, const char *receipt,
                 int timeout_s)
{
    //  Room for the receipt unescaped, the names and the timeout.
    s_text_t text = s_entry_open (id, strlen (receipt) + 64);
    s_text_add (&text, ",\"ReceiptHandle\":", 17);
    s_text_quote (&text, receipt);
    if (timeout_s >= 0) {
        char member [40];
        int len = snprintf (member, sizeof member, ",\"VisibilityTimeout\":%d",
                            timeout_s);
        s_text_add (&text, member, (size_t) len);
    }
    s_text_add (&text, "}", 1);
    s_batch_add (self, id, &text, 0);
}

int
fy_sqs_batch_delete (fy_sqs_batch_t *self, const char *id, const char *receipt)
{
    assert (self);
    if (!receipt || s_batch_check (self, FY_SQS_DELETE, id, 0)) {
        errno = receipt ? errno : EINVAL;
        return -1;
    }
    s_batch_receipt (self, id, receipt, -1);
    return 0;
}

int
fy_sqs_batch_visibility (fy_sqs_batch_t *self, const char *id,
                         const char *receipt, int timeout_s)
{
    assert (self);
    if (!receipt || timeout_s < 0 || timeout_s > 43200
        || s_batch_check (self, FY_SQS_VISIBILITY, id, 0)) {
        errno =
            receipt && timeout_s >= 0 && timeout_s <= 43200 ? errno : EINVAL;
        return -1;
    }
    s_batch_receipt (self, id, receipt, timeout_s);
    return 0;
}

//  A FIFO id: 1-128 printable ASCII characters, no space.
static bool
s_fifo_id_ok (const char *id)
{
    size_t len = 0;
    for (; id [len]; len++)
        if (id [len] < 33 || id [len] > 126)
            return false;
    return len >= 1 && len <= 128;
}

//  An attribute's value as SQS counts it: StringValue, or BinaryValue
//  (base64 text, so a little over what SQS counts: never under).
static const char *
s_attribute_value (json_t *attribute)
{
    const char *value = s_field (attribute, "StringValue");
    return value ? value : s_field (attribute, "BinaryValue");
}

size_t
fy_sqs_send_bytes (const fy_sqs_send_t *msg)
{
    assert (msg);
    if (!msg->body || !*msg->body || msg->delay_s > 900
        || (msg->group_id && !s_fifo_id_ok (msg->group_id))
        || (msg->dedup_id && !s_fifo_id_ok (msg->dedup_id)))
        return 0;
    size_t bytes = strlen (msg->body);
    for (size_t i = 0; msg->attrs && msg->attrs [i]; i += 2) {
        if (!msg->attrs [i + 1] || !*msg->attrs [i] || !*msg->attrs [i + 1])
            return 0;
        bytes += strlen (msg->attrs [i]) + strlen ("String")
                 + strlen (msg->attrs [i + 1]);
    }
    const char *name;
    json_t *attribute;
    if (msg->attributes && !json_is_object (msg->attributes))
        return 0;
    json_object_foreach (msg->attributes, name, attribute)
    {
        const char *type = s_field (attribute, "DataType");
        const char *value = s_attribute_value (attribute);
        if (!*name || !type || !value || !*value)
            return 0;
        bytes += strlen (name) + strlen (type) + strlen (value);
    }
    return bytes;
}

//  send_delay: a delay_s of 0 is sent (fy_sqs_batch_send's contract)
//  rather than left out.
static int
s_batch_send (fy_sqs_batch_t *self, const char *id, const fy_sqs_send_t *msg,
              bool send_delay)
{
    size_t bytes = fy_sqs_send_bytes (msg);
    if (bytes == 0) {
        errno = EINVAL;
        return -1;
    }
    if (s_batch_check (self, FY_SQS_SEND, id, bytes))
        return -1;
    json_t *json = json_pack ("{s:s}", "MessageBody", msg->body);
    if (msg->delay_s > 0 || (send_delay && msg->delay_s == 0))
        json_object_set_new (json, "DelaySeconds", json_integer (msg->delay_s));
    json_t *attributes =
        msg->attributes ? json_deep_copy (msg->attributes) : json_object ();
    for (size_t i = 0; msg->attrs && msg->attrs [i]; i += 2)
        json_object_set_new (attributes, msg->attrs [i],
                             json_pack ("{s:s, s:s}", "DataType", "String",
                                        "StringValue", msg->attrs [i + 1]));
    if (json_object_size (attributes))
        json_object_set (json, "MessageAttributes", attributes);
    json_decref (attributes);
    if (msg->group_id)
        json_object_set_new (json, "MessageGroupId",
                             json_string (msg->group_id));
    if (msg->dedup_id)
        json_object_set_new (json, "MessageDeduplicationId",
                             json_string (msg->dedup_id));
    size_t len;
    char *members = fy_json_dumps (json, 0, &len);
    json_decref (json);
    assert (len >= 2 && members [0] == '{');
    s_text_t text = s_entry_open (id, len);
    if (len > 2)
        s_text_add (&text, ",", 1);
    s_text_add (&text, members + 1, len - 1);
    free (members);
    s_batch_add (self, id, &text, bytes);
    return 0;
}

int
fy_sqs_batch_send (fy_sqs_batch_t *self, const char *id, const char *body,
                   int delay_s, const char **attrs)
{
    assert (self);
    fy_sqs_send_t msg = { .body = body, .delay_s = delay_s, .attrs = attrs };
    return s_batch_send (self, id, &msg, true);
}

int
fy_sqs_batch_send_ex (fy_sqs_batch_t *self, const char *id,
                      const fy_sqs_send_t *msg)
{
    assert (self);
    assert (msg);
    return s_batch_send (self, id, msg, false);
}

//  --------------------------------------------------------------------
//  Messages

void
fy_sqs_message_destroy (fy_sqs_message_t **self_p)
{
    assert (self_p);
    fy_sqs_message_t *self = *self_p;
    if (!self)
        return;
    json_decref (self->rest);
    json_decref (self->json);
    free (self);
    *self_p = NULL;
}

const char *
fy_sqs_message_id (fy_sqs_message_t *self)
{
    assert (self);
    return self->id;
}

const char *
fy_sqs_message_receipt (fy_sqs_message_t *self)
{
    assert (self);
    return self->receipt;
}

const char *
fy_sqs_message_body (fy_sqs_message_t *self)
{
    assert (self);
    return self->body;
}

const char *
fy_sqs_message_attribute (fy_sqs_message_t *self, const char *name)
{
    assert (self);
    assert (name);
    const char **pair = self->pairs + 2 * self->field_count;
    for (size_t i = 0; i < self->attribute_count; i++, pair += 2)
        if (strcmp (pair [0], name) == 0)
            return pair [1];
    return NULL;
}

int
fy_sqs_message_receive_count (fy_sqs_message_t *self)
{
    const char *text =
        fy_sqs_message_attribute (self, "ApproximateReceiveCount");
    int64_t count = 0;
    if (!text || fy_parse_int64 (text, 0, INT32_MAX, &count))
        return 0;
    return (int) count;
}

const char *
fy_sqs_message_user_attribute (fy_sqs_message_t *self, const char *name)
{
    assert (self);
    assert (name);
    json_t *attribute = json_object_get (
        json_object_get (self->rest, "MessageAttributes"), name);
    return s_field (attribute, "StringValue");
}

json_t *
fy_sqs_message_json (fy_sqs_message_t *self)
{
    assert (self);
    if (!self->json) {
        self->json = self->rest ? json_copy (self->rest) : json_object ();
        for (size_t i = 0; i < self->field_count; i++)
            json_object_set_new (self->json, self->pairs [2 * i],
                                 json_string (self->pairs [2 * i + 1]));
        if (self->has_attributes) {
            json_t *attributes = json_object ();
            const char **pair = self->pairs + 2 * self->field_count;
            for (size_t i = 0; i < self->attribute_count; i++, pair += 2)
                json_object_set_new (attributes, pair [0],
                                     json_string (pair [1]));
            json_object_set_new (self->json, "Attributes", attributes);
        }
    }
    return self->json;
}
