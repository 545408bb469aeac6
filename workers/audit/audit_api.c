/*  audit_api: the /audit routes, as REQUESTs the broker forwards (it has
    checked the bearer token already; /audit/health is open), dispatched
    by fy_worker_route from the table at the end. Answers are JSON, errors
    {"error":{"code","message"}}; a method a path does not take gets 405
    with the allowed methods in the message (a REPLY has no headers):

        POST /audit              an explicit audit record -> 201 {"id"}
        GET  /audit/search       filters -> {"items", "nextCursor"}
        GET  /audit/export/csv   the same filters -> text/csv in parts
        GET  /audit/verify       companyId, from, to -> the tamper report
        GET  /audit/health       ready to write -> 200, or 503 saying
                                 what is missing
        GET  /audit/metrics      the worker's metrics (Prometheus text)
        GET  /audit/:id          one row, or 404

    Requests use their own store connection, so a search never waits on
    a batch's transaction nor the other way round. */
#include "audit.h"
#include "audit_csv.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Bytes of CSV gathered before a part is sent.
#define S_PART_BYTES 65536

//  The widest range one verify may cover: it recomputes every event of
//  it while the worker waits, so a request must stay short.
#define S_VERIFY_MAX_DAYS 31

//  ferry's namespace for Idempotency-Key ids (itself a random v4 uuid).
static const unsigned char s_namespace [16] = { 0x6f, 0x0c, 0x3e, 0x51,
                                                0x9a, 0x2b, 0x4d, 0x07,
                                                0x8e, 0x41, 0xc2, 0x55,
                                                0x17, 0xd9, 0x3a, 0x60 };

void
audit_idempotent_id (const char *company_id, const char *key, size_t key_len,
                     char id [FY_UUID_SIZE])
{
    unsigned char digest [EVP_MAX_MD_SIZE];
    unsigned int size = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    EVP_DigestInit_ex (ctx, EVP_sha1 (), NULL);
    EVP_DigestUpdate (ctx, s_namespace, sizeof s_namespace);
    EVP_DigestUpdate (ctx, company_id, strlen (company_id));
    EVP_DigestUpdate (ctx, "\n", 1);
    EVP_DigestUpdate (ctx, key, key_len);
    EVP_DigestFinal_ex (ctx, digest, &size);
    EVP_MD_CTX_free (ctx);
    digest [6] = (unsigned char) ((digest [6] & 0x0f) | 0x50);
    digest [8] = (unsigned char) ((digest [8] & 0x3f) | 0x80);
    fy_uuid_format (digest, id);
}

//  An error from the store, by errno. Its text goes to the log, never to
//  the client: it may be the database's own, naming a table, a value or
//  a host, with its SQLSTATE.
static void
s_reply_store_error (fy_worker_t *worker, uint64_t rid, int errnum,
                     const fy_error_t *err)
{
    if (errnum == ENOENT) {
        fy_worker_reply_error (worker, rid, 404, "not_found",
                               "no such audit event");
        return;
    }
    fy_log_warn ("audit: request rid=%llu: %s", (unsigned long long) rid,
                 err->text);
    if (errnum == EINVAL)
        fy_worker_reply_error (
            worker, rid, 400, "invalid_value",
            "the audit database refused a value of the request");
    else if (errnum == EAGAIN || errnum == ECONNRESET)
        fy_worker_reply_error (
            worker, rid, 503, "store_unavailable",
            "the audit database is unavailable; retry later");
    else
        fy_worker_reply_error (
            worker, rid, 500, "store_error",
            "the audit database failed; the worker's log says "
            "why");
}

//  An error from a search or an export. Its EINVAL is the store's own
//  check of the filters, before any SQL (fy_store.h), in words fit for
//  the client; anything else is as above.
static void
s_reply_filter_error (fy_worker_t *worker, uint64_t rid, int errnum,
                      const fy_error_t *err)
{
    if (errnum == EINVAL)
        fy_worker_reply_error (worker, rid, 400, "invalid_filter", err->text);
    else
        s_reply_store_error (worker, rid, errnum, err);
}

static bool
s_is (fy_proto_str_t str, const char *text)
{
    size_t len = strlen (text);
    return str.len == len && memcmp (str.ptr, text, len) == 0;
}

//  The filters of a search or export; strings owned.
typedef struct {
    fy_store_filter_t filter;
    char *owned [16];
    size_t owned_count;
} s_filter_t;

static void
s_filter_free (s_filter_t *self)
{
    for (size_t i = 0; i < self->owned_count; i++)
        free (self->owned [i]);
}

//  Parse the query into filters. Returns 0, or -1 having answered 400.
static int
s_filter_parse (s_filter_t *self, fy_worker_t *worker,
                const fy_request_t *request)
{
    static const struct {
        const char *name;
        size_t offset;
    } s_fields [] = {
        { "companyId", offsetof (fy_store_filter_t, company_id) },
        { "actorId", offsetof (fy_store_filter_t, actor_id) },
        { "type", offsetof (fy_store_filter_t, type) },
        { "action", offsetof (fy_store_filter_t, action) },
        { "targetType", offsetof (fy_store_filter_t, target_type) },
        { "targetId", offsetof (fy_store_filter_t, target_id) },
        { "from", offsetof (fy_store_filter_t, from) },
        { "to", offsetof (fy_store_filter_t, to) },
        { "q", offsetof (fy_store_filter_t, q) },
        { "cursor", offsetof (fy_store_filter_t, cursor) },
    };
    memset (self, 0, sizeof *self);
    for (size_t i = 0; i < request->query_count; i++) {
        fy_proto_str_t key = request->query [i].key;
        fy_proto_str_t value = request->query [i].value;
        if (memchr (value.ptr, 0, value.len)) {
            fy_worker_reply_error (worker, request->rid, 400, "invalid_filter",
                                   "a filter holds a NUL byte");
            return -1;
        }
        if (s_is (key, "limit")) {
            char text [32];
            int64_t limit = 0;
            snprintf (text, sizeof text, "%.*s", (int) value.len, value.ptr);
            if (value.len >= sizeof text
                || fy_parse_int64 (text, 1, FY_STORE_SEARCH_MAX, &limit)) {
                fy_worker_reply_error (
                    worker, request->rid, 400, "invalid_filter",
                    "limit must be an integer from 1 to 1000");
                return -1;
            }
            self->filter.limit = (int) limit;
            continue;
        }
        for (size_t f = 0; f < sizeof s_fields / sizeof s_fields [0]; f++) {
            if (!s_is (key, s_fields [f].name))
                continue;
            if (self->owned_count == sizeof self->owned / sizeof *self->owned)
                break;
            char *copy = fy_xmalloc (value.len + 1);
            memcpy (copy, value.ptr, value.len);
            copy [value.len] = 0;
            self->owned [self->owned_count++] = copy;
            *(const char **) ((char *) &self->filter + s_fields [f].offset) =
                copy;
        }
    }
    if (!self->filter.company_id || !*self->filter.company_id) {
        fy_worker_reply_error (worker, request->rid, 400, "invalid_filter",
                               "companyId is required");
        return -1;
    }
    return 0;
}

static void
s_search (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    audit_t *self = arg;
    (void) match;
    s_filter_t filter;
    if (s_filter_parse (&filter, worker, request) == 0) {
        fy_error_t err = { "" };
        json_t *page =
            fy_store_audit_search (self->api_store, &filter.filter, &err);
        if (page)
            fy_worker_reply_json (worker, request->rid, 200, page);
        else
            s_reply_filter_error (worker, request->rid, errno, &err);
        json_decref (page);
    }
    s_filter_free (&filter);
}

//  An export in progress: its own connection and cursor, and the part
//  being built. The worker's loop asks for one part at a time, as the
//  HTTP client pulls them, so the export interleaves with ingest and
//  other requests and holds one part, one FETCH, in memory.
typedef struct {
    fy_store_t *store;
    fy_store_export_t *export;
    char *buf;
    size_t len, size;
    bool header_done;
    uint64_t rid, rows;
} s_export_t;

static void
s_export_release (void *arg)
{
    s_export_t *self = arg;
    //  Ending the transaction closes the cursor, also on a cancel.
    fy_store_export_destroy (&self->export);
    fy_store_destroy (&self->store);
    fy_log_debug ("audit: export rid=%llu closed after %llu rows",
                  (unsigned long long) self->rid,
                  (unsigned long long) self->rows);
    free (self->buf);
    free (self);
}

//  Rows until a part is S_PART_BYTES; the last part may be short or
//  empty. A failure after the first part can only cut the stream (an
//  empty last part would pass for a complete file): the worker ends it
//  with status 500, which the broker turns into a cut connection.
static int
s_export_produce (void *arg, const void **data, size_t *len)
{
    s_export_t *self = arg;
    self->len = 0;
    if (!self->header_done) {
        const char *header = audit_csv_header ();
        size_t header_len = strlen (header);
        if (header_len + 1 > self->size) {
            self->size = header_len + 1;
            self->buf = fy_xrealloc (self->buf, self->size);
        }
        memcpy (self->buf, header, header_len + 1);
        self->len = header_len;
        self->header_done = true;
    }
    fy_error_t err = { "" };
    int rc = 1;
    json_t *row = NULL;
    while (self->len < S_PART_BYTES
           && (rc = fy_store_export_next (self->export, &row, &err)) == 1) {
        audit_csv_row (&self->buf, &self->len, &self->size, row);
        json_decref (row);
        self->rows++;
    }
    *data = self->buf;
    *len = self->len;
    if (self->len >= S_PART_BYTES)
        return 1;
    if (rc < 0) {
        fy_log_warn ("audit: export rid=%llu cut after %llu rows: %s",
                     (unsigned long long) self->rid,
                     (unsigned long long) self->rows, err.text);
        return -1;
    }
    return 0;
}

static void
s_export (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    audit_t *self = arg;
    (void) match;
    s_filter_t filter;
    if (s_filter_parse (&filter, worker, request)) {
        s_filter_free (&filter);
        return;
    }
    //  A connection of its own: the cursor holds a read-only transaction
    //  open for as long as the client reads, during which api_store must
    //  stay free for searches and POST /audit, and exports run side by
    //  side.
    s_export_t *export = fy_xcalloc (1, sizeof *export);
    export->rid = request->rid;
    export->store = fy_store_new (
        fy_cfg_str (self->cfg, "store", "database_url"),
        (int) fy_cfg_int (self->cfg, "store", "connect_timeout_s"));
    fy_error_t err = { "" };
    export->export =
        fy_store_audit_export (export->store, &filter.filter, &err);
    s_filter_free (&filter);
    if (!export->export) {
        s_reply_filter_error (worker, request->rid, errno, &err);
        s_export_release (export);
        return;
    }
    if (fy_worker_stream (worker, request->rid, 200, "text/csv; charset=utf-8",
                          s_export_produce, s_export_release, export))
        fy_log_warn ("audit: export rid=%llu not started: %s",
                     (unsigned long long) request->rid, strerror (errno));
}

//  POST /audit. The body is an event envelope (DESIGN §4), normally of
//  type audit.recorded; type, version, source and occurredAt may be left
//  out (audit.recorded, 1, "api", now). With an Idempotency-Key header
//  the id is derived from companyId and the key, replacing any given, so
//  a retry writes the same row; without one an absent id is generated.
static void
s_post (fy_worker_t *worker, const fy_request_t *request,
        const fy_route_match_t *match, void *arg)
{
    audit_t *self = arg;
    (void) match;
    json_t *root = request->body.len ? fy_json_loadb (request->body.ptr,
                                                      request->body.len, NULL)
                                     : NULL;
    if (!json_is_object (root)) {
        json_decref (root);
        fy_worker_reply_error (worker, request->rid, 400, "invalid_json",
                               "the body must be a JSON object");
        return;
    }
    if (!json_object_get (root, "type"))
        json_object_set_new (root, "type", json_string ("audit.recorded"));
    if (!json_object_get (root, "version"))
        json_object_set_new (root, "version", json_integer (1));
    if (!json_object_get (root, "source"))
        json_object_set_new (root, "source", json_string ("api"));
    if (!json_object_get (root, "occurredAt")) {
        char now [FY_TIME_RFC3339_SIZE];
        fy_time_format (fy_clock_wall_ms (), now);
        json_object_set_new (root, "occurredAt", json_string (now));
    }
    size_t key_len = 0;
    const char *key = fy_request_header (request, "Idempotency-Key", &key_len);
    const char *company =
        json_string_value (json_object_get (root, "companyId"));
    char id [FY_UUID_SIZE];
    if (key && key_len && company) {
        audit_idempotent_id (company, key, key_len, id);
        json_object_set_new (root, "id", json_string (id));
    }
    else if (!json_object_get (root, "id")) {
        fy_uuid_generate (id);
        json_object_set_new (root, "id", json_string (id));
    }
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_new (&root, self->schema, &err);
    json_decref (root);
    if (!event) {
        fy_worker_reply_error (worker, request->rid, 400, "schema", err.text);
        return;
    }
    //  Nothing is written while the batch store finds the database down
    //  or its schema old: the same rule as for events.
    if (!fy_store_watch_is_ready (self->watch)) {
        fy_worker_reply_error (
            worker, request->rid, 503, "store_unavailable",
            "the audit database is unavailable; retry later");
        fy_event_destroy (&event);
        return;
    }
    size_t inserted = 0;
    //  The table is unique on (id, occurred_at), its partition key: a
    //  retry that let occurredAt default to now would be a new row. The
    //  id alone decides, and requests are answered one at a time.
    json_t *found = key ? fy_store_audit_get (self->api_store,
                                              fy_event_id (event), NULL, &err)
                        : NULL;
    if (found) {
        json_decref (found);
        json_t *body =
            json_pack ("{s:s, s:b}", "id", fy_event_id (event), "created", 0);
        fy_worker_reply_json (worker, request->rid, 201, body);
        json_decref (body);
    }
    else if (key && errno != ENOENT)
        s_reply_store_error (worker, request->rid, errno, &err);
    else if (fy_store_audit_append (self->api_store, &event, 1, &inserted,
                                    &err)) {
        if (errno == EINVAL) {
            //  A value the database refuses: never stored, however often
            //  it is sent (logged here, not echoed).
            fy_log_warn ("audit: event=%s refused by the database: %s",
                         fy_event_id (event), err.text);
            fy_metric_inc (self->rejected_store);
            fy_worker_reply_error (worker, request->rid, 422, "rejected",
                                   "the audit database refused a value of this "
                                   "record");
        }
        else
            s_reply_store_error (worker, request->rid, errno, &err);
    }
    else {
        audit_conflicts (self, self->api_store);
        json_t *body = json_pack ("{s:s, s:b}", "id", fy_event_id (event),
                                  "created", inserted == 1);
        fy_worker_reply_json (worker, request->rid, 201, body);
        json_decref (body);
    }
    fy_event_destroy (&event);
}

static void
s_health (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    audit_t *self = arg;
    (void) match;
    unsigned status = 0;
    json_t *body =
        fy_store_watch_health (self->watch, self->api_store,
                               "the audit database is unavailable or its "
                               "schema is not current (the worker's log says "
                               "which)",
                               &status);
    fy_worker_reply_json (worker, request->rid, status, body);
    json_decref (body);
}

//  GET /audit/metrics: the counters of the worker that answers, in
//  Prometheus text (ferry-broker's /metrics are the broker's own).
static void
s_metrics (fy_worker_t *worker, const fy_request_t *request,
           const fy_route_match_t *match, void *arg)
{
    (void) match;
    audit_t *self = arg;
    fy_worker_reply_metrics (worker, request->rid, self->metrics);
}

static void
s_get (fy_worker_t *worker, const fy_request_t *request,
       const fy_route_match_t *match, void *arg)
{
    audit_t *self = arg;
    fy_proto_str_t id = { NULL, 0 };
    id.ptr = fy_route_param (match, "id", &id.len);
    char text [FY_UUID_SIZE];
    if (id.len != FY_UUID_SIZE - 1 || !fy_uuid_is_valid (id.ptr, id.len)) {
        fy_worker_reply_error (worker, request->rid, 404, "not_found",
                               "no such audit event");
        return;
    }
    memcpy (text, id.ptr, id.len);
    text [id.len] = 0;
    fy_error_t err = { "" };
    json_t *row = fy_store_audit_get (self->api_store, text, NULL, &err);
    if (row)
        fy_worker_reply_json (worker, request->rid, 200, row);
    else
        s_reply_store_error (worker, request->rid, errno, &err);
    json_decref (row);
}

//  A required RFC 3339 time parameter, as epoch ms. Returns 0, or -1
//  having answered 400.
static int
s_param_time (audit_t *self, const fy_request_t *request, const char *name,
              int64_t *ms)
{
    fy_proto_str_t value = { NULL, 0 };
    char message [96];
    if (!fy_request_param (request, name, &value) || value.len == 0)
        snprintf (message, sizeof message, "%s is required", name);
    else if (fy_time_parse (value.ptr, value.len, false, ms))
        snprintf (message, sizeof message,
                  "%s must be an RFC 3339 time, "
                  "e.g. 2026-11-26T10:00:00Z",
                  name);
    else
        return 0;
    fy_worker_reply_error (self->worker, request->rid, 400, "invalid_parameter",
                           message);
    return -1;
}

//  GET /audit/verify: recompute one company's hourly digests over
//  [from, to) and report every event changed, removed or added after
//  the fact (fy_audit_digest_verify). 200 whether clean or not: the
//  report's "clean" says which; the request itself succeeded.
static void
s_verify (fy_worker_t *worker, const fy_request_t *request,
          const fy_route_match_t *match, void *arg)
{
    audit_t *self = arg;
    (void) match;
    fy_proto_str_t company = { NULL, 0 };
    if (!fy_request_param (request, "companyId", &company)
        || company.len == 0) {
        fy_worker_reply_error (worker, request->rid, 400, "invalid_parameter",
                               "companyId is required");
        return;
    }
    if (company.len != FY_UUID_SIZE - 1
        || !fy_uuid_is_valid (company.ptr, company.len)) {
        fy_worker_reply_error (worker, request->rid, 400, "invalid_parameter",
                               "companyId must be a uuid");
        return;
    }
    int64_t from_ms = 0, to_ms = 0;
    if (s_param_time (self, request, "from", &from_ms)
        || s_param_time (self, request, "to", &to_ms))
        return;
    if (from_ms >= to_ms) {
        fy_worker_reply_error (worker, request->rid, 400, "invalid_parameter",
                               "from must be before to");
        return;
    }
    if (to_ms - from_ms > S_VERIFY_MAX_DAYS * INT64_C (86400000)) {
        char message [80];
        snprintf (message, sizeof message,
                  "from and to may be at most %d "
                  "days apart",
                  S_VERIFY_MAX_DAYS);
        fy_worker_reply_error (worker, request->rid, 400, "invalid_parameter",
                               message);
        return;
    }
    const char *key = fy_cfg_str (self->cfg, "store", "digest_key");
    if (!key || !*key) {
        fy_worker_reply_error (
            worker, request->rid, 503, "not_configured",
            "this audit worker has no store.digest_key: there "
            "are no digests to verify against");
        return;
    }
    //  Normalized to UTC with milliseconds, so PostgreSQL reads exactly
    //  the instants checked above whatever its DateStyle.
    char id [FY_UUID_SIZE], from [FY_TIME_RFC3339_SIZE],
        to [FY_TIME_RFC3339_SIZE];
    memcpy (id, company.ptr, company.len);
    id [company.len] = 0;
    fy_time_format (from_ms, from);
    fy_time_format (to_ms, to);
    fy_error_t err = { "" };
    json_t *report = NULL;
    //  Every parameter was checked above: any error is the store's.
    if (fy_audit_digest_verify (self->api_store, id, from, to, key, &report,
                                &err)
        < 0) {
        s_reply_store_error (worker, request->rid, errno, &err);
        return;
    }
    fy_worker_reply_json (worker, request->rid, 200, report);
    json_decref (report);
}

//  First match wins: the fixed /audit/... paths before /audit/:id.
static const fy_worker_route_t s_routes [] = {
    { { "POST", "/audit", 0, FY_ROUTE_JSON_BODY }, s_post },
    { { "GET", "/audit/search", 0, 0 }, s_search },
    { { "GET", "/audit/export/csv", 0, 0 }, s_export },
    { { "GET", "/audit/health", 0, 0 }, s_health },
    { { "GET", "/audit/metrics", 0, 0 }, s_metrics },
    { { "GET", "/audit/verify", 0, 0 }, s_verify },
    { { "GET", "/audit/:id", 0, 0 }, s_get },
    { { NULL, NULL, 0, 0 }, NULL }
};

void
audit_api_request (fy_worker_t *worker, const fy_request_t *request, void *arg)
{
    fy_worker_route (worker, request, s_routes, arg);
}
