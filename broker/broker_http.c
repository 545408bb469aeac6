/*  broker_http: routes, authentication and the glue between
    fy_http_server and the broker. Every answer that is not a service's
    own is JSON {"error":{"code","message"}} with the status that fits.

    A streamed reply is pulled by the HTTP client's pace: a request goes
    out with a window of S_STREAM_WINDOW parts, and more are granted
    (broker_request_more) only while the client's stream buffer has room,
    after each part or when the buffer drains below half. Parts that were
    already granted when the buffer filled wait here, so the broker holds
    at most the stream buffer plus S_STREAM_WINDOW parts per stream. */
#include "broker_http.h"
#include "http/fy_http_server.h"
#include "http/fy_jwt.h"

#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

struct broker_http {
    broker_t *broker;
    fy_cfg_t *cfg;
    fy_http_server_t *server;
    fy_jwt_t *jwt;              //  NULL: API routes answer 401
    fy_schema_t *schema;
    char *openapi;              //  the document, read once
    size_t openapi_len;
    fy_loop_source_t *source;   //  the server in the broker's loop
    //  ferry_http_refused_total{reason}: the server's counts, mirrored at
    //  each scrape, and the 415s given here.
    fy_metrics_t *metrics;
    fy_metric_t *refused [FY_HTTP_REFUSED_COUNT];
    fy_metric_t *unsupported;
};

//  Parts of a stream granted at most, and so in flight or waiting here.
#define S_STREAM_WINDOW 4

//  A part that arrived while the client's stream buffer was full.
typedef struct {
    size_t len;
    char data [];
} s_part_t;

//  One request waiting on a service's reply or on its event's outcome.
//  The broker may answer before the call that started it returns (a 503,
//  an unrouted event), so the state is freed by whoever finishes last.
typedef struct {
    broker_http_t *http;
    fy_http_request_t *req;
    uint64_t rid;               //  the broker's request id, or 0 for events
    bool streaming;
    bool in_call;               //  inside broker_request / broker_publish
    bool done;                  //  answered while in_call
    unsigned status;            //  a stream's, from its first part
    uint64_t inflight;          //  parts granted, not yet arrived
    zlistx_t *parts;            //  s_part_t *, waiting for room
    bool ended;                 //  the last part is among them
    char id [FY_UUID_SIZE];
} s_pending_t;


//  --------------------------------------------------------------------
//  Authentication

static const char *
s_bearer (fy_http_request_t *req, size_t *len)
{
    const char *value = fy_http_request_header (req, "Authorization");
    if (!value || strncasecmp (value, "Bearer ", 7) != 0)
        return NULL;
    value += 7;
    while (*value == ' ')
        value++;
    *len = strlen (value);
    return *len ? value : NULL;
}

//  True when the request may use an API route; otherwise answered.
static bool
s_check_service_token (broker_http_t *self, fy_http_request_t *req)
{
    size_t len = 0;
    const char *token = s_bearer (req, &len);
    if (!self->jwt) {
        fy_http_respond_error (req, 401, "auth_not_configured",
                               "service tokens are not configured "
                               "(http.jwt_secret or http.jwt_public_key_file)");
        return false;
    }
    if (!token) {
        fy_http_request_add_header (req, "WWW-Authenticate", "Bearer");
        fy_http_respond_error (req, 401, "missing_token",
                               "Authorization: Bearer <token> is required");
        return false;
    }
    fy_error_t err = { "" };
    fy_jwt_status_t status = fy_jwt_verify (
        self->jwt, token, len, fy_clock_wall_ms () / 1000, NULL, &err);
    if (status != FY_JWT_OK) {
        fy_http_request_add_header (req, "WWW-Authenticate",
                                    "Bearer error=\"invalid_token\"");
        fy_http_respond_error (req, 401, fy_jwt_status_code (status), err.text);
        return false;
    }
    return true;
}

static bool
s_check_admin_token (broker_http_t *self, fy_http_request_t *req)
{
    const char *want = fy_cfg_str (self->cfg, "http", "admin_token");
    size_t len = 0;
    const char *token = s_bearer (req, &len);
    if (!want || !*want) {
        fy_http_respond_error (req, 403, "admin_disabled",
                               "no admin token is configured "
                               "(http.admin_token)");
        return false;
    }
    //  Constant time, so the comparison leaks nothing about the token.
    if (!token || len != strlen (want) || CRYPTO_memcmp (token, want, len)) {
        fy_http_request_add_header (req, "WWW-Authenticate", "Bearer");
        fy_http_respond_error (req, 401, token ? "bad_token" : "missing_token",
                               "the admin token is required");
        return false;
    }
    return true;
}

//  --------------------------------------------------------------------
//  Forwarding to services

static void
s_part_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_pending_free (s_pending_t *pending)
{
    zlistx_destroy (&pending->parts);
    free (pending);
}

//  The request is answered: free the state now, or after the call that
//  is still on the stack returns.
static void
s_pending_finish (s_pending_t *pending)
{
    fy_http_request_set_cancel (pending->req, NULL, NULL);
    if (pending->streaming)
        fy_http_stream_set_writable (pending->req, NULL, NULL);
    pending->req = NULL;
    if (pending->in_call)
        pending->done = true;
    else
        s_pending_free (pending);
}

static void
s_on_cancel (fy_http_request_t *req, void *arg)
{
    s_pending_t *pending = arg;
    //  The client left: the broker drops whatever still comes for it.
    if (pending->rid)
        broker_request_cancel (pending->http->broker, pending->rid);
    else
        broker_forget (pending->http->broker, pending);
    if (pending->streaming) {
        fy_http_stream_set_writable (req, NULL, NULL);
        fy_http_stream_end (req);
    }
    else
        fy_http_respond_error (req, 499, "client_closed", "client went away");
    s_pending_free (pending);
}

//  The stream cannot go on (the client left, or the service failed after
//  the first part): close the connection without the final chunk, so the
//  client sees a truncated reply, never a complete-looking one.
static void
s_stream_cut (s_pending_t *pending, bool cancel)
{
    if (cancel)
        broker_request_cancel (pending->http->broker, pending->rid);
    fy_http_request_set_cancel (pending->req, NULL, NULL);
    fy_http_stream_set_writable (pending->req, NULL, NULL);
    fy_http_stream_abort (pending->req);
    pending->req = NULL;
    s_pending_free (pending);
}

//  Grant the service as many parts as keep S_STREAM_WINDOW in flight,
//  while the client's buffer has room and nothing waits here.
static void
s_stream_grant (s_pending_t *pending)
{
    if (pending->ended || zlistx_size (pending->parts)
        || fy_http_stream_room (pending->req) == 0
        || pending->inflight >= S_STREAM_WINDOW)
        return;
    broker_request_more (pending->http->broker, pending->rid,
                         S_STREAM_WINDOW - pending->inflight);
    pending->inflight = S_STREAM_WINDOW;
}

//  Move waiting parts into the client's buffer while it has room; end
//  the stream after its last part. Returns -1 when the stream was cut.
static int
s_stream_flush (s_pending_t *pending)
{
    s_part_t *part;
    while ((part = zlistx_first (pending->parts))
           && fy_http_stream_room (pending->req) > 0) {
        if (fy_http_stream_write (pending->req, part->data, part->len)) {
            fy_log_warn ("http: stream to %s cut: %s",
                         fy_http_request_peer (pending->req), strerror (errno));
            s_stream_cut (pending, !pending->ended);
            return -1;
        }
        zlistx_delete (pending->parts, zlistx_cursor (pending->parts));
    }
    if (pending->ended && zlistx_size (pending->parts) == 0) {
        fy_http_stream_end (pending->req);
        s_pending_finish (pending);
        return -1;
    }
    return 0;
}

//  The client's buffer drained below half: refill it, then grant.
static void
s_on_writable (fy_http_request_t *req, void *arg)
{
    (void) req;
    s_pending_t *pending = arg;
    if (s_stream_flush (pending) == 0)
        s_stream_grant (pending);
}

static void
s_on_reply_part (s_pending_t *pending, unsigned status,
                 fy_proto_str_t content_type, fy_proto_str_t body, bool more);

//  A reply arrives from the broker's socket, outside the HTTP server's
//  run: have the server run on the loop's next turn to send it.
static void
s_on_reply (void *arg, unsigned status, fy_proto_str_t content_type,
            fy_proto_str_t body, bool more)
{
    s_pending_t *pending = arg;
    broker_http_t *self = pending->http;
    s_on_reply_part (pending, status, content_type, body, more);
    fy_loop_arm (self->source);
}

static void
s_on_reply_part (s_pending_t *pending, unsigned status,
                 fy_proto_str_t content_type, fy_proto_str_t body, bool more)
{
    fy_http_request_t *req = pending->req;
    char type [128];
    snprintf (type, sizeof type, "%.*s", (int) content_type.len,
              content_type.ptr ? content_type.ptr : "application/json");
    if (!pending->streaming && !more) {
        fy_http_respond (req, (int) status, type, body.ptr ? body.ptr : "",
                         body.len);
        s_pending_finish (pending);
        return;
    }
    if (!pending->streaming) {
        fy_http_stream_start (req, (int) status, type);
        fy_http_stream_set_writable (req, s_on_writable, pending);
        pending->streaming = true;
        pending->status = status;
        pending->parts = zlistx_new ();
        zlistx_set_destructor (pending->parts, s_part_free);
    }
    if (status != pending->status) {
        //  The service (or the broker: 502, 504) failed mid-stream.
        fy_log_warn ("http: stream to %s failed with status %u",
                     fy_http_request_peer (req), status);
        s_stream_cut (pending, more);
        return;
    }
    if (more && pending->inflight > 0)
        pending->inflight--;
    if (body.len) {
        s_part_t *part = fy_xmalloc (sizeof *part + body.len);
        part->len = body.len;
        memcpy (part->data, body.ptr, body.len);
        zlistx_add_end (pending->parts, part);
    }
    pending->ended = !more;
    if (s_stream_flush (pending) == 0)
        s_stream_grant (pending);
}

typedef struct {
    fy_proto_pair_t *pairs;
    size_t count, size;
} s_pairs_t;

static int
s_collect (const char *name, const char *value, void *arg)
{
    s_pairs_t *pairs = arg;
    if (pairs->count == pairs->size) {
        pairs->size = pairs->size ? pairs->size * 2 : 16;
        pairs->pairs =
            fy_xrealloc (pairs->pairs, pairs->size * sizeof *pairs->pairs);
    }
    pairs->pairs [pairs->count].key = fy_proto_str (name);
    pairs->pairs [pairs->count].value = fy_proto_str (value);
    pairs->count++;
    return 0;
}

static s_pending_t *
s_pending_new (broker_http_t *self, fy_http_request_t *req)
{
    s_pending_t *pending = fy_xcalloc (1, sizeof *pending);
    pending->http = self;
    pending->req = req;
    pending->in_call = true;
    fy_http_request_set_cancel (req, s_on_cancel, pending);
    return pending;
}

//  After the call that may have answered at once: free, or keep waiting.
static void
s_pending_started (s_pending_t *pending, uint64_t rid)
{
    pending->in_call = false;
    if (pending->done)
        s_pending_free (pending);
    else
        pending->rid = rid;
}

static void
s_forward (broker_http_t *self, fy_http_request_t *req, const char *service)
{
    s_pairs_t query = { NULL, 0, 0 }, headers = { NULL, 0, 0 };
    fy_http_request_query_args (req, s_collect, &query);
    fy_http_request_headers (req, s_collect, &headers);
    fy_proto_msg_t msg;
    fy_proto_msg_init (&msg);
    msg.service = fy_proto_str (service);
    msg.method = fy_proto_str (fy_http_request_method (req));
    msg.path = fy_proto_str (fy_http_request_path (req));
    size_t size = 0;
    msg.body.ptr = fy_http_request_body (req, &size);
    msg.body.len = size;
    //  Borrowed for the call; the message must not free them.
    msg.query = query.pairs;
    msg.query_count = query.count;
    msg.headers = headers.pairs;
    msg.headers_count = headers.count;
    msg.window = S_STREAM_WINDOW;
    s_pending_t *pending = s_pending_new (self, req);
    pending->inflight = S_STREAM_WINDOW;
    uint64_t rid = broker_request (self->broker, &msg, s_on_reply, pending);
    s_pending_started (pending, rid);
    msg.query = msg.headers = NULL;
    msg.query_count = msg.headers_count = 0;
    fy_proto_msg_close (&msg);
    free (query.pairs);
    free (headers.pairs);
}

//  --------------------------------------------------------------------
//  POST /events: validated here, published on the broker's account, and
//  answered 202 once every service it routes to has made it durable.

static void
s_on_event_done (void *arg, bool ok, bool retryable, const char *reason)
{
    s_pending_t *pending = arg;
    fy_http_request_t *req = pending->req;
    if (ok) {
        json_t *body =
            json_pack ("{s:s, s:s}", "id", pending->id, "status", "accepted");
        fy_http_respond_json (req, 202, body);
        json_decref (body);
    }
    else if (retryable) {
        fy_http_request_add_header (req, "Retry-After", "5");
        fy_http_respond_error (req, 503, "retry", reason);
    }
    else
        fy_http_respond_error (req, 422, "rejected", reason);
    broker_http_t *self = pending->http;
    s_pending_finish (pending);
    fy_loop_arm (self->source);
}

static void
s_post_event (broker_http_t *self, fy_http_request_t *req)
{
    size_t size = 0;
    const char *body = fy_http_request_body (req, &size);
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_decode_json (body, size, self->schema, &err);
    if (!event) {
        char message [256];
        snprintf (message, sizeof message, "%s", err.text);
        fy_http_respond_error (req, errno == EMSGSIZE ? 413 : 400,
                               fy_event_reason (errno), message);
        return;
    }
    char *data = NULL;
    size_t data_size = 0;
    if (fy_event_encode_msgpack (event, &data, &data_size)) {
        fy_http_respond_error (req, 400, "schema", "cannot encode the event");
        fy_event_destroy (&event);
        return;
    }
    zmq_msg_t frame;
    zmq_msg_init_size (&frame, data_size);
    memcpy (zmq_msg_data (&frame), data, data_size);
    free (data);
    s_pending_t *pending = s_pending_new (self, req);
    snprintf (pending->id, sizeof pending->id, "%s", fy_event_id (event));
    if (broker_publish (self->broker, fy_event_type (event), &frame,
                        s_on_event_done, pending)) {
        fy_http_request_add_header (req, "Retry-After", "1");
        fy_http_respond_error (req, 503, "busy",
                               "the broker is at capacity or stopping");
        s_pending_finish (pending);
    }
    zmq_msg_close (&frame);
    s_pending_started (pending, 0);
    fy_event_destroy (&event);
}

//  --------------------------------------------------------------------
//  Routes

static void
s_health (broker_http_t *self, fy_http_request_t *req)
{
    (void) self;
    static const char ok [] = "{\"status\":\"ok\"}";
    fy_http_respond (req, 200, "application/json", ok, sizeof ok - 1);
}

static void
s_ready (broker_http_t *self, fy_http_request_t *req)
{
    char missing [256];
    bool ready = broker_is_ready (self->broker, missing, sizeof missing);
    json_t *body = ready ? json_pack ("{s:s}", "status", "ready")
                         : json_pack ("{s:s, s:s}", "status", "not_ready",
                                      "no_worker", missing);
    fy_http_respond_json (req, ready ? 200 : 503, body);
    json_decref (body);
}

#define S_REFUSED_NAME "ferry_http_refused_total"
#define S_REFUSED_HELP "HTTP requests and connections refused, by reason"

static void
s_metrics_new (broker_http_t *self)
{
    self->metrics = fy_metrics_new ();
    for (int reason = 0; reason < FY_HTTP_REFUSED_COUNT; reason++)
        self->refused [reason] = fy_metrics_counter (
            self->metrics, S_REFUSED_NAME, S_REFUSED_HELP,
            (const char *[]) {
                "reason", fy_http_refusal_name ((fy_http_refusal_t) reason),
                NULL });
    self->unsupported = fy_metrics_counter (
        self->metrics, S_REFUSED_NAME, S_REFUSED_HELP,
        (const char *[]) { "reason", "unsupported_media_type", NULL });
}

static void
s_metrics (broker_http_t *self, fy_http_request_t *req)
{
    for (int reason = 0; reason < FY_HTTP_REFUSED_COUNT; reason++)
        fy_metric_set (self->refused [reason],
                       (double) fy_http_server_refused (
                           self->server, (fy_http_refusal_t) reason));
    char *broker = broker_metrics (self->broker);
    char *http = fy_metrics_render (self->metrics);
    char *text = fy_xasprintf ("%s%s", broker, http);
    fy_http_respond (req, 200, "text/plain; version=0.0.4", text,
                     strlen (text));
    free (text);
    free (http);
    free (broker);
}

static void
s_openapi (broker_http_t *self, fy_http_request_t *req)
{
    if (!self->openapi)
        fy_http_respond_error (req, 404, "not_found",
                               "no OpenAPI document is installed");
    else
        fy_http_respond (req, 200, "application/json", self->openapi,
                         self->openapi_len);
}

static void
s_admin_status (broker_http_t *self, fy_http_request_t *req)
{
    json_t *status = broker_status (self->broker);
    fy_http_respond_json (req, 200, status);
    json_decref (status);
}

//  Who may use a route (fy_route_t.auth).
enum {
    S_OPEN = 0,
    S_SERVICE,                  //  a service JWT
    S_ADMIN,                    //  the admin token
    S_METRICS                   //  the admin token if http.metrics_auth
};

typedef void (s_handler_fn) (broker_http_t *self, fy_http_request_t *req);

//  A row answers here (fn) or forwards to a service's workers (service).
typedef struct {
    fy_route_t route;
    s_handler_fn *fn;
    const char *service;
} s_route_t;

//  Any method goes to a service, whose worker answers 405 itself, and
//  415 to a body its route does not take (fy_worker_route); a service's
//  own health route is open, like the broker's.
static const s_route_t s_routes [] = {
    { { "GET", "/health", S_OPEN, 0 }, s_health, NULL },
    { { "GET", "/ready", S_OPEN, 0 }, s_ready, NULL },
    { { "GET", "/metrics", S_METRICS, 0 }, s_metrics, NULL },
    { { "GET", "/openapi.json", S_OPEN, 0 }, s_openapi, NULL },
    { { "GET", "/admin/status", S_ADMIN, 0 }, s_admin_status, NULL },
    { { "POST", "/events", S_SERVICE, FY_ROUTE_JSON_BODY },
      s_post_event,
      NULL },
    { { "*", "/auth/health", S_OPEN, 0 }, NULL, "auth" },
    { { "*", "/auth/*", S_SERVICE, 0 }, NULL, "auth" },
    { { "*", "/notifications/health", S_OPEN, 0 }, NULL, "notify" },
    { { "*", "/notifications/*", S_SERVICE, 0 }, NULL, "notify" },
    { { "*", "/audit/health", S_OPEN, 0 }, NULL, "audit" },
    { { "*", "/audit/*", S_SERVICE, 0 }, NULL, "audit" },
    { { "*", "/analytics/health", S_OPEN, 0 }, NULL, "analytics" },
    { { "POST", "/analytics/recompute", S_ADMIN, 0 }, NULL, "analytics" },
    { { "*", "/analytics/*", S_SERVICE, 0 }, NULL, "analytics" },
    { { NULL, NULL, 0, 0 }, NULL, NULL }
};

//  True when the request may use route; otherwise answered.
static bool
s_check_auth (broker_http_t *self, fy_http_request_t *req, unsigned auth)
{
    switch (auth) {
        case S_SERVICE:
            return s_check_service_token (self, req);
        case S_ADMIN:
            return s_check_admin_token (self, req);
        case S_METRICS:
            return !fy_cfg_bool (self->cfg, "http", "metrics_auth")
                   || s_check_admin_token (self, req);
        default:
            return true;
    }
}

static void
s_on_request (fy_http_request_t *req, void *arg)
{
    broker_http_t *self = arg;
    const char *path = fy_http_request_path (req);
    const char *method = fy_http_request_method (req);
    fy_route_match_t match;
    fy_route_status_t status =
        fy_route_match (&s_routes->route, sizeof *s_routes, method,
                        strlen (method), path, strlen (path), &match);
    const s_route_t *route = NULL;
    if (status == FY_ROUTE_FOUND) {
        route = &s_routes [match.index];
        if (!s_check_auth (self, req, route->route.auth))
            return;
        const char *type = fy_http_request_header (req, "Content-Type");
        size_t size = 0;
        fy_http_request_body (req, &size);
        status = fy_route_check_body (&route->route, type,
                                      type ? strlen (type) : 0, size);
        if (status == FY_ROUTE_UNSUPPORTED_TYPE)
            fy_metric_inc (self->unsupported);
    }
    if (status != FY_ROUTE_FOUND) {
        const char *code = NULL;
        char message [128];
        unsigned http =
            fy_route_error (status, &match, &code, message, sizeof message);
        if (status == FY_ROUTE_NOT_ALLOWED)
            fy_http_request_add_header (req, "Allow", match.allow);
        fy_http_respond_error (req, (int) http, code, message);
        return;
    }
    if (route->service)
        s_forward (self, req, route->service);
    else
        route->fn (self, req);
}

//  --------------------------------------------------------------------

//  Key and document files are small; anything larger is a mistake.
#define S_FILE_MAX (1 << 20)

static fy_jwt_t *
s_jwt_new (fy_cfg_t *cfg, fy_error_t *err, bool *failed)
{
    const char *alg = fy_cfg_str (cfg, "http", "jwt_alg");
    const char *secret = fy_cfg_str (cfg, "http", "jwt_secret");
    const char *key_file = fy_cfg_str (cfg, "http", "jwt_public_key_file");
    fy_jwt_t *jwt = NULL;
    *failed = false;
    if (strcmp (alg, "HS256") == 0 && secret && *secret)
        jwt = fy_jwt_new (alg, secret, strlen (secret), err);
    else if (strcmp (alg, "HS256") != 0 && key_file && *key_file) {
        size_t len = 0;
        char *pem = fy_read_file (key_file, S_FILE_MAX, &len);
        if (!pem) {
            fy_error_set (err, "http.jwt_public_key_file: cannot read %s",
                          key_file);
            *failed = true;
            return NULL;
        }
        jwt = fy_jwt_new (alg, pem, len, err);
        free (pem);
    }
    else
        return NULL;
    if (!jwt) {
        fy_error_prefix (err, "http.jwt_*");
        *failed = true;
        return NULL;
    }
    fy_jwt_set_leeway (jwt, (int) fy_cfg_int (cfg, "http", "jwt_leeway_s"));
    fy_jwt_set_issuer (jwt, fy_cfg_str (cfg, "http", "jwt_issuer"));
    fy_jwt_set_audience (jwt, fy_cfg_str (cfg, "http", "jwt_audience"));
    return jwt;
}

broker_http_t *
broker_http_new (broker_t *broker, fy_cfg_t *cfg, fy_error_t *err)
{
    assert (broker);
    broker_http_t *self = fy_xcalloc (1, sizeof *self);
    self->broker = broker;
    self->cfg = cfg;
    s_metrics_new (self);
    bool failed = false;
    self->jwt = s_jwt_new (cfg, err, &failed);
    if (failed)
        goto fail;
    if (!self->jwt)
        fy_log_warn ("http: no service token key configured: API routes "
                     "answer 401");
    const char *schema = fy_cfg_str (cfg, "events", "schema");
    self->schema = fy_schema_load (schema, err);
    if (!self->schema) {
        fy_error_prefix (err, "events.schema %s", schema);
        goto fail;
    }
    const char *openapi = fy_cfg_str (cfg, "http", "openapi");
    self->openapi = fy_read_file (openapi, S_FILE_MAX, &self->openapi_len);
    if (!self->openapi)
        fy_log_warn ("http: no OpenAPI document at %s", openapi);
    fy_http_limits_t limits;
    fy_http_limits_default (&limits);
    limits.max_body = (size_t) fy_cfg_int (cfg, "http", "max_body");
    limits.header_timeout_s =
        (unsigned int) fy_cfg_int (cfg, "http", "header_timeout_s");
    limits.max_conns_per_ip =
        (unsigned int) fy_cfg_int (cfg, "http", "max_conns_per_ip");
    self->server = fy_http_server_new (fy_cfg_str (cfg, "http", "address"),
                                       (int) fy_cfg_int (cfg, "http", "port"),
                                       &limits, s_on_request, self, err);
    if (!self->server) {
        fy_error_prefix (err, "http");
        goto fail;
    }
    //  MHD's epoll is edge-triggered: work it left pending shows as a
    //  timeout of 0, not as its fd becoming readable again (fy_loop).
    self->source = fy_http_server_attach (self->server, broker_loop (broker));
    fy_log_notice ("http: serving on %s:%d",
                   fy_cfg_str (cfg, "http", "address"),
                   fy_http_server_port (self->server));
    return self;
fail:
    errno = EINVAL;
    broker_http_destroy (&self);
    return NULL;
}

void
broker_http_destroy (broker_http_t **self_p)
{
    assert (self_p);
    broker_http_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_loop_detach (&self->source);
    fy_http_server_destroy (&self->server);
    fy_jwt_destroy (&self->jwt);
    fy_schema_destroy (&self->schema);
    fy_metrics_destroy (&self->metrics);
    free (self->openapi);
    free (self);
    *self_p = NULL;
    errno = saved;
}

int
broker_http_port (broker_http_t *self)
{
    assert (self);
    return fy_http_server_port (self->server);
}
