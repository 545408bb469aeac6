/*  notify_api: the /notifications routes, as REQUESTs the broker forwards
    (it has checked the bearer token; /notifications/health is open),
    dispatched by fy_worker_route from the table at the end:

        POST /notifications/send        one notification -> 202 {"id"}
        POST /notifications/send-bulk   one template, up to 10,000
                                        recipients -> 202 {"batchId"}
        GET  /notifications/batches/:id its counts by status
        GET  /notifications/preferences/:userId
        PUT  /notifications/preferences/:userId
        GET  /notifications/health      the ledger and the providers
        GET  /notifications/metrics     Prometheus text
        GET  /notifications/:id         one delivery

    An Idempotency-Key header makes a send or a bulk send a no-op the
    second time: the same delivery (or batch) is answered. */
#include "notify.h"

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

//  A :param that must be a uuid, into text. false having answered 404.
static bool
s_uuid_param (fy_worker_t *worker, const fy_request_t *request,
              const fy_route_match_t *match, const char *name,
              char text [FY_UUID_SIZE])
{
    size_t len = 0;
    const char *value = fy_route_param (match, name, &len);
    if (!value || len != FY_UUID_SIZE - 1 || !fy_uuid_is_valid (value, len)) {
        s_error (worker, request->rid, 404, "not_found", "no such resource");
        return false;
    }
    memcpy (text, value, len);
    text [len] = '\0';
    return true;
}

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
    if (!item->locale)
        item->locale = "en";
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

//  Record one chunk of a bulk send. Returns 0 or -1 having answered.
static int
s_bulk_chunk (notify_t *self, uint64_t rid, const char *batch,
              fy_ledger_item_t *items, size_t count)
{
    fy_ledger_entry_t *entries = NULL;
    size_t recorded = 0;
    fy_error_t err = { "" };
    if (fy_ledger_record (self->store, NULL, NULL, batch, NULL, 0, items, count,
                          &entries, &recorded, NULL, &err)) {
        s_store_error (self, rid, errno, &err);
        return -1;
    }
    notify_count_recorded (self, entries, recorded);
    free (entries);
    return 0;
}

static void
s_send_bulk (fy_worker_t *worker, const fy_request_t *request,
             const fy_route_match_t *match, void *arg)
{
    (void) match;
    notify_t *self = arg;
    json_t *root = s_body (worker, request);
    if (!root)
        return;
    fy_ledger_item_t common;
    char cat [64];
    const char *problem = s_common (self, root, &common, cat, sizeof cat);
    json_t *recipients = json_object_get (root, "recipients");
    size_t total = json_array_size (recipients);
    char message [120];
    if (!problem && (!json_is_array (recipients) || total == 0))
        problem = "recipients must be a non-empty array";
    if (!problem && total > S_BULK_MAX)
        problem = "at most 10000 recipients";
    for (size_t i = 0; !problem && i < total; i++) {
        const char *wrong = s_check_recipient (json_array_get (recipients, i));
        json_t *own = json_object_get (json_array_get (recipients, i), "data");
        if (!wrong && own && !json_is_object (own))
            wrong = "data must be an object";
        if (wrong) {
            snprintf (message, sizeof message, "recipients[%zu]: %s", i, wrong);
            problem = message;
        }
    }
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
    json_t *shared = common.data;
    //  The recipients are recorded a chunk at a time (one transaction
    //  each), their keys made of the batch and their place in it: a retry
    //  of the request, or of a chunk, records nothing twice.
    fy_ledger_item_t *items = fy_xcalloc (S_BULK_CHUNK, sizeof *items);
    json_t **owned = fy_xcalloc (2 * S_BULK_CHUNK, sizeof *owned);
    char (*keys) [FY_UUID_SIZE + 32] = fy_xcalloc (S_BULK_CHUNK, sizeof *keys);
    int rc = 0;
    for (size_t from = 0; rc == 0 && from < total; from += S_BULK_CHUNK) {
        size_t count =
            total - from < S_BULK_CHUNK ? total - from : S_BULK_CHUNK;
        for (size_t i = 0; i < count; i++) {
            json_t *one = json_array_get (recipients, from + i);
            json_t *recipient = json_copy (one);
            json_object_del (recipient, "data");
            json_t *data = shared ? json_copy (shared) : json_object ();
            json_t *own = json_object_get (one, "data");
            if (own)
                json_object_update (data, own);
            owned [2 * i] = recipient;
            owned [2 * i + 1] = data;
            snprintf (keys [i], sizeof keys [i], "bulk:%s:%zu", batch,
                      from + i);
            items [i] = common;
            items [i].key = keys [i];
            items [i].recipient = recipient;
            items [i].user_id =
                json_string_value (json_object_get (recipient, "userId"));
            items [i].data = data;
        }
        rc = s_bulk_chunk (self, request->rid, batch, items, count);
        for (size_t i = 0; i < 2 * count; i++)
            json_decref (owned [i]);
    }
    free (items);
    free (owned);
    free (keys);
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
    json_t *found = reader (self->store, id, &err);
    if (found)
        s_json (self->worker, request->rid, 200, found);
    else
        s_store_error (self, request->rid, errno, &err);
}

static void
s_batch (fy_worker_t *worker, const fy_request_t *request,
         const fy_route_match_t *match, void *arg)
{
    (void) worker;
    s_read (arg, request, match, "id", fy_ledger_batch);
}

static void
s_get (fy_worker_t *worker, const fy_request_t *request,
       const fy_route_match_t *match, void *arg)
{
    (void) worker;
    s_read (arg, request, match, "id", fy_ledger_get);
}

static void
s_preferences_get (fy_worker_t *worker, const fy_request_t *request,
                   const fy_route_match_t *match, void *arg)
{
    (void) worker;
    s_read (arg, request, match, "userId", fy_ledger_preferences);
}

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
    if (!s_uuid_param (worker, request, match, "userId", id))
        return;
    json_t *root = s_body (worker, request);
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
        json_t *prefs = fy_ledger_preferences (self->store, id, &err);
        if (prefs)
            s_json (worker, request->rid, 200, prefs);
        else
            s_store_error (self, request->rid, errno, &err);
    }
    json_decref (empty);
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
