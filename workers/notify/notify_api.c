/*  notify_api: the /notifications routes, as REQUESTs the broker forwards
    (it has checked the bearer token; /notifications/health is open),
    dispatched by fy_worker_route from the table at the end:

        POST /notifications/send        one notification -> 202 {"id"}
        POST /notifications/send-bulk   one template, up to 10,000
                                        recipients -> 202 {"batchId"}
        GET  /notifications/batches/:id its counts by status
        GET  /notifications/preferences/:userId
        PUT  /notifications/preferences/:userId
        GET  /notifications/devices/:userId         a user's push devices
        PUT  /notifications/devices/:userId         register one
        DELETE /notifications/devices/:userId/:token  forget one
        GET  /notifications/inbox/:userId           in-app, newest first
        POST /notifications/inbox/:userId/read      mark read
        GET  /notifications/health      the ledger and the providers
        GET  /notifications/metrics     Prometheus text
        GET  /notifications/:id         one delivery

    An Idempotency-Key header makes a send or a bulk send a no-op the
    second time: the same delivery (or batch) is answered. */
#include "notify.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The most recipients of one bulk send, and how many are recorded per
//  transaction as the request is read.
#define S_BULK_MAX 10000
#define S_BULK_CHUNK 1000

static void
s_reply (fy_worker_t *worker, uint64_t rid, unsigned status, const char *type,
         const char *body, size_t len)
{
    if (fy_worker_reply (worker, rid, status, type, body, len, false))
        fy_log_warn ("notify: reply rid=%llu not sent: %s",
                     (unsigned long long) rid, zmq_strerror (errno));
}

static void
s_json (fy_worker_t *worker, uint64_t rid, unsigned status, json_t *body)
{
    size_t len;
    char *text = fy_json_dumps (body, 0, &len);
    s_reply (worker, rid, status, "application/json", text, len);
    free (text);
    json_decref (body);
}

static void
s_error (fy_worker_t *worker, uint64_t rid, unsigned status, const char *code,
         const char *message)
{
    char *text = fy_json_error_body (code, message);
    s_reply (worker, rid, status, "application/json", text, strlen (text));
    free (text);
}

//  A failure of the ledger: its text to the log only.
static void
s_store_error (notify_t *self, uint64_t rid, int errnum, const fy_error_t *err)
{
    if (errnum == ENOENT) {
        s_error (self->worker, rid, 404, "not_found", "no such notification");
        return;
    }
    fy_log_warn ("notify: request rid=%llu: %s", (unsigned long long) rid,
                 err->text);
    notify_store_failed (self, errnum, err);
    if (errnum == EINVAL)
        s_error (self->worker, rid, 400, "invalid_value",
                 "the notification ledger refused a value of the request");
    else
        s_error (self->worker, rid, 503, "store_unavailable",
                 "the notification ledger is unavailable; retry later");
}

//  A ledger's answer: found with status, else its failure (err).
static void
s_answer (notify_t *self, uint64_t rid, unsigned status, json_t *found,
          const fy_error_t *err)
{
    if (found)
        s_json (self->worker, rid, status, found);
    else
        s_store_error (self, rid, errno, err);
}

static json_t *
s_body (fy_worker_t *worker, const fy_request_t *request)
{
    json_t *root = request->body.len ? fy_json_loadb (request->body.ptr,
                                                      request->body.len, NULL)
                                     : NULL;
    if (!json_is_object (root)) {
        json_decref (root);
        s_error (worker, request->rid, 400, "invalid_json",
                 "the body must be a JSON object");
        return NULL;
    }
    return root;
}

//  Whether value (len bytes) is a uuid; if so, copied into text.
static bool
s_uuid_copy (const char *value, size_t len, char text [FY_UUID_SIZE])
{
    if (!value || len != FY_UUID_SIZE - 1 || !fy_uuid_is_valid (value, len))
        return false;
    memcpy (text, value, len);
    text [len] = '\0';
    return true;
}

//  A :param that must be a uuid, into text. false having answered 404.
static bool
s_uuid_param (fy_worker_t *worker, const fy_request_t *request,
              const fy_route_match_t *match, const char *name,
              char text [FY_UUID_SIZE])
{
    size_t len = 0;
    const char *value = fy_route_param (match, name, &len);
    if (!s_uuid_copy (value, len, text)) {
        s_error (worker, request->rid, 404, "not_found", "no such resource");
        return false;
    }
    return true;
}

//  A PUT of one user's: its :userId into id, and its body. NULL having
//  answered (404, 400).
static json_t *
s_user_body (fy_worker_t *worker, const fy_request_t *request,
             const fy_route_match_t *match, char id [FY_UUID_SIZE])
{
    if (!s_uuid_param (worker, request, match, "userId", id))
        return NULL;
    return s_body (worker, request);
}

//  What is wrong with a body (root), or NULL; what it found into out.
typedef const char *(s_check_fn) (json_t *root, void *out);

//  A send's body checked (problem: what is wrong, or NULL) and the
//  ledger ready: true, or false having answered and freed root.
static bool
s_accept (notify_t *self, const fy_request_t *request, json_t *root,
          const char *problem)
{
    if (problem)
        s_error (self->worker, request->rid, 400, "invalid_request", problem);
    else if (!fy_store_watch_is_ready (self->watch))
        s_error (self->worker, request->rid, 503, "store_unavailable",
                 "the notification ledger is unavailable; retry later");
    else
        return true;
    json_decref (root);
    return false;
}

//  A PUT or POST of one user's: its :userId into id, its body checked by
//  check (into out), the ledger ready. The body, or NULL having answered.
static json_t *
s_user_request (notify_t *self, const fy_request_t *request,
                const fy_route_match_t *match, s_check_fn *check, void *out,
                char id [FY_UUID_SIZE])
{
    json_t *root = s_user_body (self->worker, request, match, id);
    if (root && !s_accept (self, request, root, check (root, out)))
        return NULL;
    return root;
}

//  The Idempotency-Key header behind prefix into key: false when there
//  is none (or it is too long to be one).
static bool
s_idempotency_key (const fy_request_t *request, const char *prefix, char *key,
                   size_t size)
{
    size_t len = 0;
    const char *header = fy_request_header (request, "Idempotency-Key", &len);
    if (!header || len == 0 || len > 255)
        return false;
    snprintf (key, size, "%s%.*s", prefix, (int) len, header);
    return true;
}

//  The fields a send and a bulk send share, checked, into item (its
//  category, the template's first word unless given, into cat): NULL
//  when fine, else what is wrong.
static const char *
s_common (notify_t *self, json_t *root, fy_ledger_item_t *item, char *cat,
          size_t cat_size)
{
    static const char *const channels [] = { "email", "sms", "push", "in_app" };
    memset (item, 0, sizeof *item);
    item->channel = json_string_value (json_object_get (root, "channel"));
    item->template_name =
        json_string_value (json_object_get (root, "template"));
    item->locale = json_string_value (json_object_get (root, "locale"));
    item->category = json_string_value (json_object_get (root, "category"));
    item->company_id = json_string_value (json_object_get (root, "companyId"));
    item->data = json_object_get (root, "data");
    bool known = false;
    for (size_t i = 0; item->channel && i < 4; i++)
        known = known || strcmp (item->channel, channels [i]) == 0;
    if (!known)
        return "channel must be email, sms, push or in_app";
    if (!item->template_name || !*item->template_name)
        return "template is required";
    if (item->data && !json_is_object (item->data))
        return "data must be an object";
    if (!item->category) {
        snprintf (cat, cat_size, "%.*s",
                  (int) strcspn (item->template_name, "."),
                  item->template_name);
        item->category = cat;
    }
    item->critical = notify_is_critical (self, item->category);
    return NULL;
}

static const char *
s_check_recipient (json_t *recipient)
{
    if (!json_is_object (recipient))
        return "recipient must be an object";
    if (!json_object_get (recipient, "email")
        && !json_object_get (recipient, "phone")
        && !json_object_get (recipient, "deviceTokens")
        && !json_object_get (recipient, "userId"))
        return "recipient needs email, phone, deviceTokens or userId";
    json_t *user = json_object_get (recipient, "userId");
    if (user
        && (!json_is_string (user)
            || !fy_uuid_is_valid (json_string_value (user),
                                  json_string_length (user))))
        return "recipient.userId must be a uuid";
    return NULL;
}

static void
s_send (fy_worker_t *worker, const fy_request_t *request,
        const fy_route_match_t *match, void *arg)
{
    (void) match;
    notify_t *self = arg;
    json_t *root = s_body (worker, request);
    if (!root)
        return;
    fy_ledger_item_t item;
    char cat [64];
    const char *problem = s_common (self, root, &item, cat, sizeof cat);
    json_t *recipient = json_object_get (root, "recipient");
    if (!problem)
        problem = s_check_recipient (recipient);
    if (!problem && strcmp (item.channel, "in_app") == 0
        && !json_object_get (recipient, "userId"))
        problem = "an in_app notification goes to a user's inbox: recipient "
                  "needs userId";
    if (!s_accept (self, request, root, problem))
        return;
    char key [300], uuid [FY_UUID_SIZE];
    if (!s_idempotency_key (request, "api:", key, sizeof key)) {
        fy_uuid_generate (uuid);
        snprintf (key, sizeof key, "api:%s", uuid);
    }
    item.key = key;
    item.recipient = recipient;
    item.user_id = json_string_value (json_object_get (recipient, "userId"));
    const char *after = json_string_value (json_object_get (root, "sendAfter"));
    if (after
        && fy_time_parse (after, strlen (after), false, &item.not_before_ms)) {
        s_error (worker, request->rid, 400, "invalid_request",
                 "sendAfter must be an RFC 3339 time");
        json_decref (root);
        return;
    }
    fy_ledger_entry_t *entries = NULL;
    size_t count = 0;
    fy_error_t err = { "" };
    if (fy_ledger_record (self->store, NULL, NULL, NULL, self->owner,
                          self->lease_s, &item, 1, &entries, &count, NULL,
                          &err)) {
        s_store_error (self, request->rid, errno, &err);
        json_decref (root);
        return;
    }
    notify_count_recorded (self, entries, count);
    json_t *body = json_pack ("{s:s, s:s, s:b}", "id", entries [0].id, "status",
                              fy_ledger_status_name (entries [0].status),
                              "created", entries [0].created);
    s_json (worker, request->rid, 202, body);
    notify_start (self, entries, count, NULL);
    free (entries);
    json_decref (root);
}

//  A bulk send's body is read with the pull reader, twice, and never
//  built whole: the first pass checks it (its members but the recipients
//  into a small object, each recipient checked and freed), the second
//  records the recipients a chunk at a time. Memory stays that of one
//  chunk whatever the number of recipients.

//  What the second pass does with each recipient; the first only checks.
typedef struct {
    notify_t *self;
    uint64_t rid;
    const char *batch;
    fy_ledger_item_t common;
    fy_ledger_item_t *items;
    json_t **owned;             //  each item's recipient and data
    char (*keys) [FY_UUID_SIZE + 32];
    size_t count;               //  items waiting in the chunk
} s_bulk_t;

//  Record the chunk waiting. Returns 0, or -1 having answered.
static int
s_bulk_flush (s_bulk_t *bulk)
{
    if (!bulk->count)
        return 0;
    fy_ledger_entry_t *entries = NULL;
    size_t recorded = 0;
    fy_error_t err = { "" };
    int rc = fy_ledger_record (bulk->self->store, NULL, NULL, bulk->batch, NULL,
                               0, bulk->items, bulk->count, &entries, &recorded,
                               NULL, &err);
    if (rc)
        s_store_error (bulk->self, bulk->rid, errno, &err);
    else
        notify_count_recorded (bulk->self, entries, recorded);
    free (entries);
    for (size_t i = 0; i < 2 * bulk->count; i++)
        json_decref (bulk->owned [i]);
    bulk->count = 0;
    return rc;
}

//  Recipient index (one, taken) into the chunk, its key made of the
//  batch and its place in it: a retry of the request, or of a chunk,
//  records nothing twice. Returns 0, or -1 having answered.
static int
s_bulk_add (s_bulk_t *bulk, json_t *one, size_t index)
{
    json_t *shared = bulk->common.data;
    json_t *data = shared ? json_copy (shared) : json_object ();
    json_t *own = json_object_get (one, "data");
    if (own)
        json_object_update (data, own);
    json_object_del (one, "data");
    size_t i = bulk->count++;
    bulk->owned [2 * i] = one;
    bulk->owned [2 * i + 1] = data;
    snprintf (bulk->keys [i], sizeof bulk->keys [i], "bulk:%s:%zu", bulk->batch,
              index);
    fy_ledger_item_t *item = &bulk->items [i];
    *item = bulk->common;
    item->key = bulk->keys [i];
    item->recipient = one;
    item->user_id = json_string_value (json_object_get (one, "userId"));
    item->data = data;
    return bulk->count == S_BULK_CHUNK ? s_bulk_flush (bulk) : 0;
}

//  What is wrong with recipient index, into message, or NULL.
static const char *
s_bulk_check (json_t *one, size_t index, char *message, size_t size)
{
    const char *wrong = s_check_recipient (one);
    json_t *own = json_object_get (one, "data");
    if (!wrong && own && !json_is_object (own))
        wrong = "data must be an object";
    if (!wrong)
        return NULL;
    snprintf (message, size, "recipients[%zu]: %s", index, wrong);
    return message;
}

//  One pass over the body. Without bulk (the first), the members but
//  the recipients into *root_p (NULL when the body is not a JSON object
//  without duplicate members), the recipients counted into *total_p
//  (SIZE_MAX: no array of them) and the first one that is wrong into
//  *wrong_p. With bulk, each recipient added to it. Returns 0, or -1
//  having answered (a chunk that failed).
static int
s_bulk_read (const fy_request_t *request, s_bulk_t *bulk, json_t **root_p,
             size_t *total_p, const char **wrong_p, char *message, size_t size)
{
    fy_json_reader_t *reader =
        fy_json_reader_new (request->body.ptr, request->body.len, NULL);
    json_t *root = json_object ();
    size_t total = SIZE_MAX;
    const char *wrong = NULL;
    bool recipients = false;
    int rc = 0;
    int more = fy_json_reader_enter (reader, '{');
    while (more > 0 && rc == 0) {
        const char *key;
        size_t len;
        if (fy_json_reader_key (reader, &key, &len))
            break;
        char *name = fy_xstrndup (key, len);
        bool listed = strcmp (name, "recipients") == 0;
        if (json_object_get (root, name) || (listed && recipients))
            more = -1;  //  a duplicate member
        else if (!listed) {
            json_t *value = fy_json_reader_value (reader);
            if (value)
                json_object_set_new (root, name, value);
            else
                more = -1;
        }
        else if (fy_json_reader_peek (reader) != '[') {
            //  Not an array: read past, total says so.
            json_t *value = fy_json_reader_value (reader);
            more = value ? 1 : -1;
            recipients = true;
            json_decref (value);
        }
        else {
            recipients = true;
            total = 0;
            int element = fy_json_reader_enter (reader, '[');
            for (; element > 0 && rc == 0; total++) {
                json_t *one = fy_json_reader_value (reader);
                if (!one) {
                    element = -1;
                    break;
                }
                if (bulk)
                    rc = s_bulk_add (bulk, one, total);
                else {
                    //  Past the most, only counted.
                    if (!wrong && total < S_BULK_MAX)
                        wrong = s_bulk_check (one, total, message, size);
                    json_decref (one);
                }
                element = fy_json_reader_next (reader);
            }
            if (element < 0)
                more = -1;
        }
        free (name);
        if (more > 0)
            more = fy_json_reader_next (reader);
    }
    if (rc == 0 && bulk)
        rc = s_bulk_flush (bulk);
    if (more < 0 || (rc == 0 && fy_json_reader_end (reader))) {
        json_decref (root);
        root = NULL;
    }
    fy_json_reader_destroy (&reader);
    if (root_p)
        *root_p = root;
    else
        json_decref (root);
    if (total_p)
        *total_p = total;
    if (wrong_p)
        *wrong_p = wrong;
    return rc;
}

static void
s_send_bulk (fy_worker_t *worker, const fy_request_t *request,
             const fy_route_match_t *match, void *arg)
{
    (void) match;
    notify_t *self = arg;
    json_t *root = NULL;
    size_t total = 0;
    const char *wrong = NULL;
    char message [120];
    if (!request->body.len
        || s_bulk_read (request, NULL, &root, &total, &wrong, message,
                        sizeof message)
        || !root) {
        s_error (worker, request->rid, 400, "invalid_json",
                 "the body must be a JSON object");
        json_decref (root);
        return;
    }
    s_bulk_t bulk = { .self = self, .rid = request->rid };
    char cat [64];
    const char *problem = s_common (self, root, &bulk.common, cat, sizeof cat);
    if (!problem && (total == SIZE_MAX || total == 0))
        problem = "recipients must be a non-empty array";
    if (!problem && total > S_BULK_MAX)
        problem = "at most 10000 recipients";
    if (!problem)
        problem = wrong;
    if (!s_accept (self, request, root, problem))
        return;
    char key [300], batch [FY_UUID_SIZE];
    bool keyed = s_idempotency_key (request, "", key, sizeof key);
    bool created = false;
    fy_error_t err = { "" };
    if (fy_ledger_batch_open (self->store, keyed ? key : NULL, total, batch,
                              &created, &err)) {
        s_store_error (self, request->rid, errno, &err);
        json_decref (root);
        return;
    }
    bulk.batch = batch;
    bulk.items = fy_xcalloc (S_BULK_CHUNK, sizeof *bulk.items);
    bulk.owned = fy_xcalloc (2 * S_BULK_CHUNK, sizeof *bulk.owned);
    bulk.keys = fy_xcalloc (S_BULK_CHUNK, sizeof *bulk.keys);
    int rc = s_bulk_read (request, &bulk, NULL, NULL, NULL, NULL, 0);
    free (bulk.items);
    free (bulk.owned);
    free (bulk.keys);
    if (rc == 0) {
        json_t *body = json_pack ("{s:s, s:i, s:b}", "batchId", batch, "total",
                                  (json_int_t) total, "created", created);
        s_json (worker, request->rid, 202, body);
        notify_sweep (self);
    }
    json_decref (root);
}

typedef json_t *(s_reader_fn) (fy_store_t *store, const char *id,
                               fy_error_t *err);

//  A GET of one thing the ledger holds by the uuid in param.
static void
s_read (notify_t *self, const fy_request_t *request,
        const fy_route_match_t *match, const char *param, s_reader_fn *reader)
{
    char id [FY_UUID_SIZE];
    if (!s_uuid_param (self->worker, request, match, param, id))
        return;
    fy_error_t err = { "" };
    s_answer (self, request->rid, 200, reader (self->store, id, &err), &err);
}

//  A route handler name that GETs with reader what the uuid in param
//  names.
#define S_READ_ROUTE(name, param, reader)                               \
    static void name (fy_worker_t *worker, const fy_request_t *request, \
                      const fy_route_match_t *match, void *arg)         \
    {                                                                   \
        (void) worker;                                                  \
        s_read (arg, request, match, param, reader);                    \
    }

S_READ_ROUTE (s_batch, "id", fy_ledger_batch)
S_READ_ROUTE (s_get, "id", fy_ledger_get)
S_READ_ROUTE (s_preferences_get, "userId", fy_ledger_preferences)
S_READ_ROUTE (s_devices_get, "userId", fy_ledger_devices)

//  optOut: {channel: [category, ...]}, no critical category. NULL when
//  fine, else what is wrong (in buffer).
static const char *
s_check_opt_out (notify_t *self, json_t *opt_out, char *buffer, size_t size)
{
    if (!json_is_object (opt_out))
        return "optOut must be an object of category lists by channel";
    const char *channel;
    json_t *list;
    json_object_foreach (opt_out, channel, list)
    {
        if (strcmp (channel, "email") && strcmp (channel, "sms")
            && strcmp (channel, "push") && strcmp (channel, "in_app"))
            return "optOut's keys are channels: email, sms, push, in_app";
        if (!json_is_array (list))
            return "optOut's values are lists of categories";
        size_t i;
        json_t *category;
        json_array_foreach (list, i, category)
        {
            if (!json_is_string (category))
                return "optOut's values are lists of categories";
            if (notify_is_critical (self, json_string_value (category))) {
                snprintf (buffer, size,
                          "%s is a critical category: it cannot be opted "
                          "out of",
                          json_string_value (category));
                return buffer;
            }
        }
    }
    return NULL;
}

static void
s_preferences_put (fy_worker_t *worker, const fy_request_t *request,
                   const fy_route_match_t *match, void *arg)
{
    notify_t *self = arg;
    char id [FY_UUID_SIZE];
    json_t *root = s_user_body (worker, request, match, id);
    if (!root)
        return;
    json_t *opt_out = json_object_get (root, "optOut");
    json_t *quiet = json_object_get (root, "quietHours");
    json_t *zone = json_object_get (root, "timezone");
    const char *start = json_string_value (json_object_get (quiet, "start"));
    const char *end = json_string_value (json_object_get (quiet, "end"));
    char buffer [160];
    json_t *empty = json_object ();
    const char *problem = s_check_opt_out (self, opt_out ? opt_out : empty,
                                           buffer, sizeof buffer);
    unsigned status = 400;
    if (problem && strstr (problem, "critical"))
        status = 422;
    if (!problem && zone && !json_is_string (zone))
        problem = "timezone must be an IANA zone name (Europe/Paris)";
    if (!problem && quiet && !json_is_null (quiet) && (!start || !end))
        problem = "quietHours must be {\"start\": \"HH:MM\", \"end\": "
                  "\"HH:MM\"} or null";
    if (problem) {
        s_error (worker, request->rid, status,
                 status == 422 ? "critical_category" : "invalid_request",
                 problem);
        json_decref (empty);
        json_decref (root);
        return;
    }
    fy_error_t err = { "" };
    if (fy_ledger_preferences_put (self->store, id, opt_out ? opt_out : empty,
                                   json_string_value (zone), start, end,
                                   &err)) {
        if (errno == EINVAL)
            s_error (worker, request->rid, 400, "invalid_request",
                     "timezone or quietHours refused: an IANA zone name "
                     "and HH:MM times");
        else
            s_store_error (self, request->rid, errno, &err);
    }
    else {
        s_answer (self, request->rid, 200,
                  fy_ledger_preferences (self->store, id, &err), &err);
    }
    json_decref (empty);
    json_decref (root);
}

//  ---------------------------------------------------------------------
//  Push devices (doc/notify.md, "Push devices")

//  Whether text (len bytes) is 1 to max of A-Z a-z 0-9 and the characters
//  of extra.
static bool
s_is_word (const char *text, size_t len, size_t max, const char *extra)
{
    if (!text || len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum ((unsigned char) text [i])
            && (!text [i] || !strchr (extra, text [i])))
            return false;
    return true;
}

//  A device token as FCM gives them and the events' schema takes them.
static bool
s_is_token (const char *text, size_t len)
{
    return s_is_word (text, len, 1024, ":_.-");
}

//  An optional string member of root that must be a word.
static bool
s_is_optional_word (json_t *root, const char *key, size_t max,
                    const char *extra)
{
    json_t *value = json_object_get (root, key);
    return !value
           || s_is_word (json_string_value (value), json_string_length (value),
                         max, extra);
}

//  The body of a registration: what is wrong with it, or NULL.
static const char *
s_check_device (json_t *root, void *out)
{
    (void) out;
    json_t *token = json_object_get (root, "token");
    const char *platform =
        json_string_value (json_object_get (root, "platform"));
    if (!json_is_string (token)
        || !s_is_token (json_string_value (token), json_string_length (token)))
        return "token must be a device registration token: 1 to 1024 of "
               "A-Z a-z 0-9 : _ . -";
    if (!platform
        || (strcmp (platform, "android") && strcmp (platform, "ios")
            && strcmp (platform, "web")))
        return "platform must be android, ios or web";
    if (!s_is_optional_word (root, "appVersion", 64, ".-+_"))
        return "appVersion must be a version: 1 to 64 of A-Z a-z 0-9 . - + _";
    if (!s_is_optional_word (root, "locale", 35, "-_"))
        return "locale must be a locale (fr-CA): 1 to 35 of A-Z a-z 0-9 - _";
    return NULL;
}

static void
s_device_put (fy_worker_t *worker, const fy_request_t *request,
              const fy_route_match_t *match, void *arg)
{
    notify_t *self = arg;
    char id [FY_UUID_SIZE];
    json_t *root =
        s_user_request (self, request, match, s_check_device, NULL, id);
    if (!root)
        return;
    bool created = false;
    fy_error_t err = { "" };
    json_t *device = fy_ledger_device_put (
        self->store, id, json_string_value (json_object_get (root, "token")),
        json_string_value (json_object_get (root, "platform")),
        json_string_value (json_object_get (root, "appVersion")),
        json_string_value (json_object_get (root, "locale")), &created, &err);
    if (device) {
        fy_metric_inc (self->device_registrations);
        s_json (worker, request->rid, created ? 201 : 200, device);
    }
    else
        s_store_error (self, request->rid, errno, &err);
    json_decref (root);
}

static void
s_device_delete (fy_worker_t *worker, const fy_request_t *request,
                 const fy_route_match_t *match, void *arg)
{
    notify_t *self = arg;
    char id [FY_UUID_SIZE];
    if (!s_uuid_param (worker, request, match, "userId", id))
        return;
    size_t len = 0;
    const char *token = fy_route_param (match, "token", &len);
    if (!s_is_token (token, len)) {
        s_error (worker, request->rid, 404, "not_found", "no such device");
        return;
    }
    char *text = fy_xstrndup (token, len);
    fy_error_t err = { "" };
    if (fy_ledger_device_delete (self->store, id, text, &err) == 0)
        s_reply (worker, request->rid, 204, NULL, NULL, 0);
    else if (errno == ENOENT)
        s_error (worker, request->rid, 404, "not_found", "no such device");
    else
        s_store_error (self, request->rid, errno, &err);
    free (text);
}

//  ---------------------------------------------------------------------
//  The in-app inbox (doc/notify.md, "In-app notifications")

#define S_INBOX_PAGE_DEFAULT 20
//  The most ids one POST .../read names.
#define S_INBOX_READ_MAX 1000

//  The query of GET /notifications/inbox/:userId: what is wrong with it
//  (in buffer), or NULL with its values.
static const char *
s_inbox_query (const fy_request_t *request, bool *unread_p,
               char cursor [FY_UUID_SIZE], int *limit_p, char *buffer,
               size_t size)
{
    for (size_t i = 0; i < request->query_count; i++) {
        fy_proto_str_t key = request->query [i].key;
        if (!fy_proto_str_is (key, "unread") && !fy_proto_str_is (key, "cursor")
            && !fy_proto_str_is (key, "limit")) {
            snprintf (buffer, size,
                      "unknown parameter %.*s: unread, cursor, limit",
                      (int) (key.len > 40 ? 40 : key.len), key.ptr);
            return buffer;
        }
    }
    fy_proto_str_t value;
    *unread_p = false;
    if (fy_request_param (request, "unread", &value)) {
        if (!fy_proto_str_is (value, "true")
            && !fy_proto_str_is (value, "false"))
            return "unread must be true or false";
        *unread_p = fy_proto_str_is (value, "true");
    }
    cursor [0] = '\0';
    if (fy_request_param (request, "cursor", &value)
        && !s_uuid_copy (value.ptr, value.len, cursor))
        return "cursor must be the nextCursor of a previous page";
    int64_t limit = S_INBOX_PAGE_DEFAULT;
    if (fy_request_param_int64 (request, "limit", 1, FY_LEDGER_INBOX_PAGE_MAX,
                                &limit)) {
        snprintf (buffer, size, "limit must be an integer from 1 to %d",
                  FY_LEDGER_INBOX_PAGE_MAX);
        return buffer;
    }
    *limit_p = (int) limit;
    return NULL;
}

static void
s_inbox_get (fy_worker_t *worker, const fy_request_t *request,
             const fy_route_match_t *match, void *arg)
{
    notify_t *self = arg;
    char id [FY_UUID_SIZE], cursor [FY_UUID_SIZE], buffer [96];
    bool unread = false;
    int limit = 0;
    if (!s_uuid_param (worker, request, match, "userId", id))
        return;
    const char *problem =
        s_inbox_query (request, &unread, cursor, &limit, buffer, sizeof buffer);
    if (problem) {
        s_error (worker, request->rid, 400, "invalid_parameter", problem);
        return;
    }
    fy_error_t err = { "" };
    json_t *page = fy_ledger_inbox (self->store, id, unread,
                                    cursor [0] ? cursor : NULL, limit, &err);
    if (page)
        s_json (worker, request->rid, 200, page);
    else if (errno == ENOENT)
        s_error (worker, request->rid, 400, "invalid_parameter",
                 "cursor must be the nextCursor of a previous page");
    else
        s_store_error (self, request->rid, errno, &err);
}

//  The body of POST .../read: {"ids": [delivery id, ...]} or {"all":
//  true}; what is wrong with it, or NULL (*ids_p the ids, NULL for all).
static const char *
s_check_read (json_t *root, void *out)
{
    json_t *ids = json_object_get (root, "ids");
    json_t *all = json_object_get (root, "all");
    *(json_t **) out = ids;
    if (json_object_size (root) != 1 || (!ids && !all))
        return "the body must be {\"ids\": [id, ...]} or {\"all\": true}";
    if (all)
        return json_is_true (all) ? NULL : "all must be true";
    if (!json_is_array (ids) || json_array_size (ids) == 0
        || json_array_size (ids) > S_INBOX_READ_MAX)
        return "ids must be a list of 1 to 1000 notification ids";
    size_t i;
    json_t *one;
    json_array_foreach (ids, i, one)
    {
        char text [FY_UUID_SIZE];
        if (!s_uuid_copy (json_string_value (one), json_string_length (one),
                          text))
            return "ids must be a list of 1 to 1000 notification ids";
    }
    return NULL;
}

static void
s_inbox_read (fy_worker_t *worker, const fy_request_t *request,
              const fy_route_match_t *match, void *arg)
{
    (void) worker;
    notify_t *self = arg;
    char id [FY_UUID_SIZE];
    json_t *ids = NULL;
    json_t *root =
        s_user_request (self, request, match, s_check_read, &ids, id);
    if (!root)
        return;
    fy_error_t err = { "" };
    s_answer (self, request->rid, 200,
              fy_ledger_inbox_read (self->store, id, ids, &err), &err);
    json_decref (root);
}

static void
s_health (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    (void) match;
    notify_t *self = arg;
    json_t *providers = notify_providers_health (self->providers);
    bool ready = fy_store_watch_is_ready (self->watch), schema = false;
    const fy_error_t *problem = fy_store_watch_problem (self->watch, &schema);
    json_t *body =
        json_pack ("{s:s, s:b, s:o, s:i}", "status",
                   ready ? "ok" : "unavailable", "ledger", ready, "providers",
                   providers, "sending", (json_int_t) self->sending);
    if (!ready) {
        json_object_set_new (body, "missing", json_pack ("[s]", "database"));
        json_object_set_new (
            body, "reason",
            json_string (schema ? problem->text
                                : "the notification ledger's database is "
                                  "unavailable (the worker's log says why)"));
    }
    s_json (worker, request->rid, ready ? 200 : 503, body);
}

static void
s_metrics (fy_worker_t *worker, const fy_request_t *request,
           const fy_route_match_t *match, void *arg)
{
    (void) match;
    char *text = notify_metrics (arg);
    s_reply (worker, request->rid, 200, "text/plain; version=0.0.4", text,
             strlen (text));
    free (text);
}

//  First match wins: the fixed paths before /notifications/:id.
static const fy_worker_route_t s_routes [] = {
    { { "POST", "/notifications/send", 0, FY_ROUTE_JSON_BODY }, s_send },
    { { "POST", "/notifications/send-bulk", 0, FY_ROUTE_JSON_BODY },
      s_send_bulk },
    { { "GET", "/notifications/batches/:id", 0, 0 }, s_batch },
    { { "GET", "/notifications/preferences/:userId", 0, 0 },
      s_preferences_get },
    { { "PUT", "/notifications/preferences/:userId", 0, FY_ROUTE_JSON_BODY },
      s_preferences_put },
    { { "GET", "/notifications/devices/:userId", 0, 0 }, s_devices_get },
    { { "PUT", "/notifications/devices/:userId", 0, FY_ROUTE_JSON_BODY },
      s_device_put },
    { { "DELETE", "/notifications/devices/:userId/:token", 0, 0 },
      s_device_delete },
    { { "GET", "/notifications/inbox/:userId", 0, 0 }, s_inbox_get },
    { { "POST", "/notifications/inbox/:userId/read", 0, FY_ROUTE_JSON_BODY },
      s_inbox_read },
    { { "GET", "/notifications/health", 0, 0 }, s_health },
    { { "GET", "/notifications/metrics", 0, 0 }, s_metrics },
    { { "GET", "/notifications/:id", 0, 0 }, s_get },
    { { NULL, NULL, 0, 0 }, NULL }
};

void
notify_api_request (fy_worker_t *worker, const fy_request_t *request, void *arg)
{
    fy_worker_route (worker, request, s_routes, arg);
}
