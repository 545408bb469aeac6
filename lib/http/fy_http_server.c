/*  fy_http_server: libmicrohttpd in "external" epoll mode. MHD owns the
    sockets and the HTTP parsing; this file owns the requests. A request
    object is made in MHD's URI-log callback (the first sight of a request,
    which also hands us the raw query string) and lives until both sides
    are done with it: MHD (its completed callback, app_done's twin
    mhd_done) and the application (its answer or stream end). Keeping both
    flags is what lets the application hold a request across loop turns
    without caring whether the client is still there.

    Answers given later go through suspend/resume: the handler's turn ends
    with the connection suspended; an answer stores the response and
    resumes it; MHD then calls the access handler again, which queues the
    stored response (MHD_queue_response is only valid from there). A stream
    whose buffer is empty suspends its connection from the content reader
    and returns 0, and a write resumes it: returning 0 without suspending
    would make MHD_get_timeout return 0 and the loop spin. While a
    connection is suspended MHD does not notice the client leaving, so the
    server polls those sockets for a hang-up every cancel_check_ms.

    MHD bounds only idleness, so a client that sends a header line now and
    then keeps its connection for ever. The server tracks each connection
    (MHD's connection notifications) with the deadline of the head it is
    receiving, and shuts down the socket of any past it, from its run, for
    MHD to close; the same records count a client address's connections
    for the accept policy that enforces max_conns_per_ip. */
#include "http/fy_http_server.h"
#include "core/fy_list.h"
#include "ferry/fy_json.h"
#include "ferry/fy_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

//  What MHD hands the content reader at most per call; one chunk each.
#define S_STREAM_BLOCK (16 * 1024)
//  A body past max_body is read and dropped (MHD 0.9.75 only accepts a
//  response before or after the body) so that the 413 can be sent; a
//  client still sending after this long is cut off instead (nginx's
//  lingering_time, for the same reason).
#define S_DISCARD_MS 30000
//  How long destroy lets clients receive their 503s.
#define S_DRAIN_MS 200

typedef enum {
    S_NEW,          //  made by the URI-log callback; headers not seen
    S_READING,      //  reading the body
    S_DISCARDING,   //  body too large: dropping it, a 413 follows
    S_HANDLING,     //  inside the handler
    S_WAITING,      //  kept by the application; connection suspended
    S_READY,        //  answer stored, to be queued on the next MHD call
    S_SENDING       //  answer queued to MHD (whole or streamed)
} s_state_t;

struct fy_http_request {
    fy_http_server_t *server;
    fy_link_t link;                 //  on the server's requests
    struct MHD_Connection *conn;    //  NULL once MHD is done with it
    s_state_t state;
    bool app_done;                  //  the application owes nothing more
    bool mhd_done;                  //  MHD has closed or finished it
    bool cancelled;
    bool suspended;                 //  suspended by us, not yet resumed
    bool peer_gone;                 //  hang-up seen while suspended
    char *uri;                      //  raw request target
    const char *query_string;       //  into uri
    char *method;
    char *path;
    char *body;
    size_t body_size;
    size_t body_alloc;
    int64_t discard_until_ms;
    char peer [INET6_ADDRSTRLEN];
    struct MHD_Response *response;  //  stored answer, not yet queued
    int status;
    char **headers;                 //  extra response headers, pairs
    size_t header_count;
    fy_http_cancel_fn *cancel_fn;
    void *cancel_arg;
    //  Streaming: bytes [start, end) of buf are waiting to be sent.
    bool streaming;
    bool stream_ended;
    bool stream_failed;
    bool writable_wanted;
    char *buf;
    size_t buf_start, buf_end, buf_alloc;
    fy_http_writable_fn *writable_fn;
    void *writable_arg;
};

//  One TCP connection, from MHD's accept to its close.
typedef struct {
    fy_link_t link;                 //  on the server's conns
    fy_link_t head_link;            //  on its heads while a head is due
    struct MHD_Connection *conn;
    int64_t head_deadline_ms;
    char peer [INET6_ADDRSTRLEN];
} s_conn_t;

struct fy_http_server {
    struct MHD_Daemon *daemon;
    fy_http_limits_t limits;
    fy_http_handler_fn *handler;
    void *arg;
    fy_link_t requests;             //  fy_http_request_t, newest first
    fy_link_t conns;                //  s_conn_t, every open connection
    fy_link_t heads;                //  s_conn_t, awaiting a head; the
                                    //  deadlines ascend (one bound, a
                                    //  monotonic clock)
    size_t count;
    size_t suspended;               //  requests with suspended set
    bool resumed;                   //  a resume since the last run
    int64_t next_check_ms;
    int fd;
    int port;
    uint64_t refused [FY_HTTP_REFUSED_COUNT];
};

static const char *s_methods [] = { "GET",   "HEAD",   "POST",    "PUT",
                                    "PATCH", "DELETE", "OPTIONS", NULL };
#define S_ALLOW "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"

void
fy_http_limits_default (fy_http_limits_t *limits)
{
    assert (limits);
    limits->max_body = 1024 * 1024;
    limits->connection_limit = 1024;
    limits->timeout_s = 30;
    limits->header_timeout_s = 10;
    limits->max_conns_per_ip = 256;
    limits->connection_memory = 32 * 1024;
    limits->stream_buffer = 256 * 1024;
    limits->cancel_check_ms = 500;
}

//  --- Request lifetime

static void
s_request_free (fy_http_request_t *req)
{
    fy_http_server_t *self = req->server;
    fy_list_unlink (&req->link);
    self->count--;
    if (req->response)
        MHD_destroy_response (req->response);
    for (size_t index = 0; index < req->header_count * 2; index++)
        free (req->headers [index]);
    free (req->headers);
    free (req->uri);
    free (req->method);
    free (req->path);
    free (req->body);
    free (req->buf);
    free (req);
}

//  Free req when neither MHD nor the application needs it any more.
static void
s_request_settle (fy_http_request_t *req)
{
    if (req->app_done && req->mhd_done)
        s_request_free (req);
}

static void
s_suspend (fy_http_request_t *req)
{
    assert (!req->suspended);
    MHD_suspend_connection (req->conn);
    req->suspended = true;
    req->server->suspended++;
}

static void
s_resume (fy_http_request_t *req)
{
    if (!req->suspended)
        return;
    MHD_resume_connection (req->conn);
    req->suspended = false;
    req->server->suspended--;
    //  MHD acts on a resume only when it runs next: ask for that at once
    //  (an answer or stream data given from outside fy_http_server_run
    //  otherwise waited for the next cancel check).
    req->server->resumed = true;
}

//  --- Connections: the per-address cap and the header timeout

//  addr as text into peer ("" if neither IPv4 nor IPv6).
static void
s_addr_format (const struct sockaddr *addr, char peer [INET6_ADDRSTRLEN])
{
    peer [0] = '\0';
    if (!addr)
        return;
    if (addr->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *) addr)->sin_addr,
                   peer, INET6_ADDRSTRLEN);
    else if (addr->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *) addr)->sin6_addr,
                   peer, INET6_ADDRSTRLEN);
}

static void
s_refuse (fy_http_server_t *self, fy_http_refusal_t reason, const char *peer)
{
    self->refused [reason]++;
    fy_log_debug ("http: refused %s: %s", peer, fy_http_refusal_name (reason));
}

//  MHD's accept policy: refuse an address that holds its share already.
//  A connection is counted from MHD's notification that it started, which
//  follows this call for every connection let in, so the count is exact.
static enum MHD_Result
s_accept_policy (void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void) addrlen;
    fy_http_server_t *self = cls;
    if (self->limits.max_conns_per_ip == 0)
        return MHD_YES;
    char peer [INET6_ADDRSTRLEN];
    s_addr_format (addr, peer);
    unsigned int count = 0;
    s_conn_t *conn;
    fy_list_each (conn, &self->conns, s_conn_t, link) count +=
        strcmp (conn->peer, peer) == 0;
    if (count < self->limits.max_conns_per_ip)
        return MHD_YES;
    s_refuse (self, FY_HTTP_REFUSED_PER_IP, peer);
    return MHD_NO;
}

//  A head is due on conn from now: at the accept, and after each answer.
static void
s_head_expect (fy_http_server_t *self, s_conn_t *conn)
{
    fy_list_unlink (&conn->head_link);
    fy_list_init (&conn->head_link);
    if (self->limits.header_timeout_s == 0)
        return;
    conn->head_deadline_ms =
        fy_clock_mono_ms () + (int64_t) self->limits.header_timeout_s * 1000;
    fy_list_push_back (&self->heads, &conn->head_link);
}

static s_conn_t *
s_conn_of (struct MHD_Connection *mhd_conn)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (mhd_conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? info->socket_context : NULL;
}

static void
s_notify_connection (void *cls, struct MHD_Connection *mhd_conn,
                     void **socket_context,
                     enum MHD_ConnectionNotificationCode code)
{
    fy_http_server_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        s_conn_t *conn = fy_xcalloc (1, sizeof *conn);
        conn->conn = mhd_conn;
        fy_list_init (&conn->head_link);
        const union MHD_ConnectionInfo *info = MHD_get_connection_info (
            mhd_conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        s_addr_format (info ? info->client_addr : NULL, conn->peer);
        fy_list_push_back (&self->conns, &conn->link);
        s_head_expect (self, conn);
        *socket_context = conn;
        return;
    }
    s_conn_t *conn = *socket_context;
    if (!conn)
        return;
    fy_list_unlink (&conn->link);
    fy_list_unlink (&conn->head_link);
    free (conn);
    *socket_context = NULL;
}

//  Shut down the sockets whose head is overdue; MHD sees the end of the
//  stream on its next run and closes them, as when the client leaves.
static void
s_check_heads (fy_http_server_t *self)
{
    int64_t now = fy_clock_mono_ms ();
    while (!fy_list_is_empty (&self->heads)) {
        s_conn_t *conn =
            fy_list_entry (fy_list_first (&self->heads), s_conn_t, head_link);
        if (conn->head_deadline_ms > now)
            break;
        fy_list_unlink (&conn->head_link);
        fy_list_init (&conn->head_link);
        const union MHD_ConnectionInfo *info = MHD_get_connection_info (
            conn->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (info)
            shutdown (info->connect_fd, SHUT_RDWR);
        s_refuse (self, FY_HTTP_REFUSED_HEADER_TIMEOUT, conn->peer);
    }
}

//  MHD's first sight of a request: make its object, which MHD then passes
//  to every callback about this request as the connection's context.
static void *
s_uri_logged (void *cls, const char *uri, struct MHD_Connection *conn)
{
    fy_http_server_t *self = cls;
    fy_http_request_t *req = fy_xcalloc (1, sizeof (fy_http_request_t));
    req->server = self;
    req->conn = conn;
    req->app_done = true;       //  until the handler has it
    req->uri = fy_xstrdup (uri ? uri : "");
    char *mark = strchr (req->uri, '#');
    if (mark)
        *mark = '\0';
    mark = strchr (req->uri, '?');
    req->query_string = mark ? mark + 1 : "";
    fy_list_push_front (&self->requests, &req->link);
    self->count++;
    return req;
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    fy_http_server_t *self = cls;
    //  The connection stays open for the next request, whose head is due
    //  from now (MHD closes it otherwise, and the record goes with it).
    s_conn_t *tracked =
        toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? s_conn_of (conn) : NULL;
    if (tracked)
        s_head_expect (self, tracked);
    fy_http_request_t *req = *con_cls;
    *con_cls = NULL;
    if (!req)
        return;
    if (req->suspended) {
        //  Only at MHD_stop_daemon, which destroy avoids; keep the count.
        req->suspended = false;
        req->server->suspended--;
    }
    req->conn = NULL;
    req->mhd_done = true;
    if (req->app_done) {
        s_request_free (req);
        return;
    }
    //  The client left before the application finished. The callback may
    //  answer, which frees req: touch nothing after it.
    req->cancelled = true;
    if (req->cancel_fn)
        req->cancel_fn (req, req->cancel_arg);
}

//  --- Building answers

static struct MHD_Response *
s_response_new (fy_http_request_t *req, const char *content_type,
                const void *body, size_t len)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        len, (void *) body, MHD_RESPMEM_MUST_COPY);
    assert (response);
    if (content_type)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                 content_type);
    for (size_t index = 0; index < req->header_count; index++)
        MHD_add_response_header (response, req->headers [index * 2],
                                 req->headers [index * 2 + 1]);
    return response;
}

//  Hand the stored response to MHD; only valid from the access handler.
static enum MHD_Result
s_queue (fy_http_request_t *req)
{
    enum MHD_Result rc =
        MHD_queue_response (req->conn, req->status, req->response);
    MHD_destroy_response (req->response);
    req->response = NULL;
    req->state = S_SENDING;
    return rc;
}

//  An answer the server gives itself, queued at once (from the access
//  handler, before or after the body).
static enum MHD_Result
s_queue_error (fy_http_request_t *req, int status, const char *code,
               const char *message)
{
    char *text = fy_json_error_body (code, message);
    req->response =
        s_response_new (req, "application/json", text, strlen (text));
    free (text);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (req->response, MHD_HTTP_HEADER_ALLOW, S_ALLOW);
    //  What follows the head cannot be trusted to be a body or a request.
    if (status == MHD_HTTP_BAD_REQUEST)
        MHD_add_response_header (req->response, MHD_HTTP_HEADER_CONNECTION,
                                 "close");
    req->status = status;
    return s_queue (req);
}

//  Store the application's answer; queue it now if we are inside the
//  handler's turn, else wake the suspended connection to queue it.
static void
s_answer (fy_http_request_t *req, int status, struct MHD_Response *response)
{
    assert (req);
    assert (!req->response);
    if (req->mhd_done) {
        //  Nobody to send it to.
        MHD_destroy_response (response);
        req->app_done = true;
        s_request_settle (req);
        return;
    }
    assert (req->state == S_HANDLING || req->state == S_WAITING);
    req->response = response;
    req->status = status;
    req->state = S_READY;
    s_resume (req);
}

void
fy_http_respond (fy_http_request_t *req, int status, const char *content_type,
                 const void *body, size_t len)
{
    assert (req);
    assert (!req->app_done);
    assert (status >= 100 && status <= 999);
    req->app_done = true;
    s_answer (req, status, s_response_new (req, content_type, body, len));
}

void
fy_http_respond_json (fy_http_request_t *req, int status, json_t *json)
{
    assert (json);
    size_t len;
    char *text = fy_json_dumps (json, 0, &len);
    fy_http_respond (req, status, "application/json", text, len);
    free (text);
}

void
fy_http_respond_error (fy_http_request_t *req, int status, const char *code,
                       const char *message)
{
    assert (code);
    assert (message);
    char *text = fy_json_error_body (code, message);
    fy_http_respond (req, status, "application/json", text, strlen (text));
    free (text);
}

//  --- Streaming

static size_t
s_buffered (fy_http_request_t *req)
{
    return req->buf_end - req->buf_start;
}

//  MHD asks for the next chunk. Give what is buffered; with nothing
//  buffered, park the connection until a write or the end wakes it.
static ssize_t
s_read_stream (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    fy_http_request_t *req = cls;
    if (req->stream_failed || req->peer_gone)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t size = s_buffered (req);
    if (size == 0) {
        if (req->stream_ended)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s_suspend (req);
        return 0;
    }
    if (size > max)
        size = max;
    memcpy (buf, req->buf + req->buf_start, size);
    req->buf_start += size;
    if (req->buf_start == req->buf_end)
        req->buf_start = req->buf_end = 0;
    if (req->writable_wanted
        && s_buffered (req) <= req->server->limits.stream_buffer / 2) {
        req->writable_wanted = false;
        if (req->writable_fn && !req->app_done)
            req->writable_fn (req, req->writable_arg);
    }
    return (ssize_t) size;
}

void
fy_http_stream_start (fy_http_request_t *req, int status,
                      const char *content_type)
{
    assert (req);
    assert (!req->app_done && !req->streaming);
    req->streaming = true;
    struct MHD_Response *response = MHD_create_response_from_callback (
        MHD_SIZE_UNKNOWN, S_STREAM_BLOCK, s_read_stream, req, NULL);
    assert (response);
    if (content_type)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                 content_type);
    for (size_t index = 0; index < req->header_count; index++)
        MHD_add_response_header (response, req->headers [index * 2],
                                 req->headers [index * 2 + 1]);
    s_answer (req, status, response);
}

//  Wake a connection its content reader parked.
static void
s_stream_wake (fy_http_request_t *req)
{
    if (req->state == S_SENDING)
        s_resume (req);
}

int
fy_http_stream_write (fy_http_request_t *req, const void *data, size_t len)
{
    assert (req);
    assert (req->streaming && !req->app_done);
    if (req->mhd_done || req->peer_gone) {
        errno = ECONNRESET;
        return -1;
    }
    if (fy_http_stream_room (req) == 0) {
        req->writable_wanted = true;
        errno = EAGAIN;
        return -1;
    }
    if (len == 0)
        return 0;
    if (req->buf_start > 0) {
        memmove (req->buf, req->buf + req->buf_start, s_buffered (req));
        req->buf_end -= req->buf_start;
        req->buf_start = 0;
    }
    if (req->buf_end + len > req->buf_alloc) {
        req->buf_alloc = req->buf_end + len;
        req->buf = fy_xrealloc (req->buf, req->buf_alloc);
    }
    memcpy (req->buf + req->buf_end, data, len);
    req->buf_end += len;
    if (s_buffered (req) >= req->server->limits.stream_buffer)
        req->writable_wanted = true;
    s_stream_wake (req);
    return 0;
}

size_t
fy_http_stream_room (fy_http_request_t *req)
{
    assert (req);
    size_t limit = req->server->limits.stream_buffer;
    size_t size = s_buffered (req);
    return size >= limit ? 0 : limit - size;
}

void
fy_http_stream_set_writable (fy_http_request_t *req, fy_http_writable_fn *fn,
                             void *arg)
{
    assert (req);
    req->writable_fn = fn;
    req->writable_arg = arg;
}

static void
s_stream_finish (fy_http_request_t *req, bool failed)
{
    assert (req);
    assert (req->streaming && !req->app_done);
    req->app_done = true;
    req->stream_ended = true;
    req->stream_failed = failed;
    if (req->mhd_done)
        s_request_free (req);
    else
        s_stream_wake (req);
}

void
fy_http_stream_end (fy_http_request_t *req)
{
    s_stream_finish (req, false);
}

void
fy_http_stream_abort (fy_http_request_t *req)
{
    s_stream_finish (req, true);
}

//  --- MHD's access handler

static bool
s_method_known (const char *method)
{
    for (size_t index = 0; s_methods [index]; index++)
        if (strcmp (method, s_methods [index]) == 0)
            return true;
    return false;
}

static enum MHD_Result
s_count_length (void *cls, enum MHD_ValueKind kind, const char *key,
                const char *value)
{
    (void) kind;
    (void) value;
    if (strcasecmp (key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0
        || strcasecmp (key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
        (*(int *) cls)++;
    return MHD_YES;
}

static enum MHD_Result
s_too_large (fy_http_request_t *req)
{
    s_refuse (req->server, FY_HTTP_REFUSED_BODY_TOO_LARGE, req->peer);
    return s_queue_error (req, MHD_HTTP_CONTENT_TOO_LARGE, "body_too_large",
                          "request body too large");
}

//  Headers are in: refuse what we will not read, else start reading.
static enum MHD_Result
s_request_begin (fy_http_request_t *req, const char *url, const char *method)
{
    fy_http_server_t *self = req->server;
    s_conn_t *conn = s_conn_of (req->conn);
    if (conn) {
        fy_list_unlink (&conn->head_link);
        fy_list_init (&conn->head_link);
    }
    req->method = fy_xstrdup (method);
    req->path = fy_xstrdup (url);
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info (req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    s_addr_format (info ? info->client_addr : NULL, req->peer);
    if (!s_method_known (method))
        return s_queue_error (req, MHD_HTTP_METHOD_NOT_ALLOWED,
                              "method_not_allowed", "method not allowed");
    //  MHD takes the first Content-Length and lets chunked win over it; a
    //  proxy in front may have taken another, and read the rest of this
    //  body as a request of its own (request smuggling). More than one
    //  says where the body ends: refuse it, and close.
    int framing = 0;
    MHD_get_connection_values (req->conn, MHD_HEADER_KIND, s_count_length,
                               &framing);
    if (framing > 1) {
        s_refuse (self, FY_HTTP_REFUSED_BODY_LENGTH, req->peer);
        return s_queue_error (req, MHD_HTTP_BAD_REQUEST, "body_length",
                              "more than one Content-Length or "
                              "Transfer-Encoding header");
    }
    const char *length = MHD_lookup_connection_value (
        req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    int64_t size;
    if (length && fy_parse_int64 (length, 0, INT64_MAX, &size) == 0
        && (uint64_t) size > self->limits.max_body)
        return s_too_large (req);
    req->state = S_READING;
    return MHD_YES;
}

static enum MHD_Result
s_body_append (fy_http_request_t *req, const char *data, size_t size)
{
    fy_http_server_t *self = req->server;
    if (req->state == S_READING
        && req->body_size + size > self->limits.max_body) {
        req->state = S_DISCARDING;
        req->discard_until_ms = fy_clock_mono_ms () + S_DISCARD_MS;
    }
    if (req->state == S_DISCARDING)
        return fy_clock_mono_ms () > req->discard_until_ms ? MHD_NO : MHD_YES;
    //  Grow by doubling: MHD hands over the body in pieces of its buffer.
    if (req->body_size + size + 1 > req->body_alloc) {
        size_t alloc = req->body_alloc ? req->body_alloc : 1024;
        while (alloc < req->body_size + size + 1)
            alloc *= 2;
        req->body = fy_xrealloc (req->body, alloc);
        req->body_alloc = alloc;
    }
    memcpy (req->body + req->body_size, data, size);
    req->body_size += size;
    req->body [req->body_size] = '\0';
    return MHD_YES;
}

static void
s_not_found (fy_http_request_t *req, void *arg)
{
    (void) arg;
    fy_http_respond_error (req, MHD_HTTP_NOT_FOUND, "not_found",
                           "no such resource");
}

//  The body is in: hand the request to the application.
static enum MHD_Result
s_request_dispatch (fy_http_request_t *req)
{
    fy_http_server_t *self = req->server;
    req->state = S_HANDLING;
    req->app_done = false;
    if (self->handler)
        self->handler (req, self->arg);
    else
        s_not_found (req, NULL);
    if (req->state == S_READY)
        return s_queue (req);
    //  Kept for later: park the connection until the answer comes.
    assert (req->state == S_HANDLING);
    req->state = S_WAITING;
    s_suspend (req);
    return MHD_YES;
}

static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url,
          const char *method, const char *version, const char *upload_data,
          size_t *upload_data_size, void **con_cls)
{
    (void) cls;
    (void) conn;
    (void) version;
    fy_http_request_t *req = *con_cls;
    assert (req);
    switch (req->state) {
        case S_NEW:
            return s_request_begin (req, url, method);
        case S_READING:
        case S_DISCARDING:
            if (*upload_data_size > 0) {
                size_t size = *upload_data_size;
                *upload_data_size = 0;
                return s_body_append (req, upload_data, size);
            }
            if (req->state == S_DISCARDING)
                return s_too_large (req);
            return s_request_dispatch (req);
        case S_WAITING:
            //  Resumed without an answer: only to let MHD close the
            //  connection of a client that hung up.
            if (req->peer_gone)
                return MHD_NO;
            s_suspend (req);
            return MHD_YES;
        case S_READY:
            return s_queue (req);
        case S_HANDLING:
        case S_SENDING:
            break;
    }
    return MHD_YES;
}

//  --- The server

static void
s_mhd_log (void *cls, const char *format, va_list args) FY_PRINTF (2, 0);
static void
s_mhd_log (void *cls, const char *format, va_list args)
{
    (void) cls;
    if (!fy_log_enabled (FY_LOG_DEBUG))
        return;
    char line [512];
    vsnprintf (line, sizeof (line), format, args);
    size_t len = strlen (line);
    while (len > 0 && line [len - 1] == '\n')
        line [--len] = '\0';
    fy_log_debug ("http: mhd: %s", line);
}

static int
s_address_parse (const char *address, int port,
                 struct sockaddr_storage *storage, fy_error_t *err)
{
    memset (storage, 0, sizeof (*storage));
    if (port < 0 || port > 65535) {
        fy_error_set (err, "http: port %d out of range", port);
        errno = EINVAL;
        return -1;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *) storage;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) storage;
    if (strcmp (address, "*") == 0) {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl (INADDR_ANY);
        in4->sin_port = htons ((uint16_t) port);
    }
    else if (inet_pton (AF_INET, address, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons ((uint16_t) port);
    }
    else if (inet_pton (AF_INET6, address, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
    }
    else {
        fy_error_set (err, "http: '%s' is not an IP address", address);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

//  Is anything bound to the address already? MHD reports only "failed",
//  and an operator wants to know the port is taken.
static int
s_bind_errno (const struct sockaddr_storage *storage)
{
    int fd = socket (storage->ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        return errno;
    int on = 1;
    setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof (on));
    socklen_t size = storage->ss_family == AF_INET
                         ? sizeof (struct sockaddr_in)
                         : sizeof (struct sockaddr_in6);
    int rc =
        bind (fd, (const struct sockaddr *) storage, size) == 0 ? EIO : errno;
    close (fd);
    return rc;
}

fy_http_server_t *
fy_http_server_new (const char *address, int port,
                    const fy_http_limits_t *limits, fy_http_handler_fn *handler,
                    void *arg, fy_error_t *err)
{
    assert (address);
    struct sockaddr_storage storage;
    if (s_address_parse (address, port, &storage, err) == -1)
        return NULL;
    fy_http_server_t *self = fy_xcalloc (1, sizeof (fy_http_server_t));
    fy_list_init (&self->requests);
    fy_list_init (&self->conns);
    fy_list_init (&self->heads);
    if (limits)
        self->limits = *limits;
    else
        fy_http_limits_default (&self->limits);
    assert (self->limits.stream_buffer > 0);
    self->handler = handler;
    self->arg = arg;
    self->fd = -1;
    unsigned int flags =
        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (storage.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) port, s_accept_policy, self, s_access, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &storage,
        MHD_OPTION_CONNECTION_LIMIT, self->limits.connection_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, self->limits.timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, self->limits.connection_memory,
        MHD_OPTION_STRICT_FOR_CLIENT, (int) 1, MHD_OPTION_URI_LOG_CALLBACK,
        s_uri_logged, self, MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_NOTIFY_CONNECTION, s_notify_connection, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self, MHD_OPTION_END);
    if (!self->daemon) {
        int code = s_bind_errno (&storage);
        fy_error_set (err, "http: cannot listen on %s:%d: %s", address, port,
                      code == EIO ? "MHD failed to start" : strerror (code));
        fy_http_server_destroy (&self);
        errno = code;
        return NULL;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    assert (info);
    self->fd = info->epoll_fd;
    info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : port;
    return self;
}

//  Give 503s, end streams, and let MHD send that for a short while.
static void
s_drain (fy_http_server_t *self)
{
    //  Tell the application first, each request once; a cancel callback
    //  may answer (and free) any request, so restart the walk each time.
    bool told = true;
    while (told) {
        told = false;
        fy_http_request_t *req;
        fy_list_each (req, &self->requests, fy_http_request_t, link)
        {
            if (req->app_done || req->cancelled)
                continue;
            req->cancelled = true;
            if (req->cancel_fn) {
                req->cancel_fn (req, req->cancel_arg);
                told = true;
                break;
            }
        }
    }
    fy_http_request_t *req;
    fy_list_each (req, &self->requests, fy_http_request_t, link)
    {
        if (req->app_done)
            continue;
        if (req->streaming)
            fy_http_stream_abort (req);
        else
            fy_http_respond_error (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                                   "shutting_down", "server is shutting down");
    }
    int64_t deadline = fy_clock_mono_ms () + S_DRAIN_MS;
    while (fy_clock_mono_ms () < deadline) {
        bool busy = false;
        fy_list_each (req, &self->requests, fy_http_request_t,
                      link) if (req->state == S_READY
                                || req->state == S_SENDING) busy = true;
        if (!busy)
            break;
        struct pollfd item = { .fd = self->fd, .events = POLLIN };
        int64_t wait = fy_http_server_timeout_ms (self);
        poll (&item, 1, wait < 0 || wait > 10 ? 10 : (int) wait);
        MHD_run (self->daemon);
    }
    //  MHD_stop_daemon must not meet a suspended connection.
    fy_list_each (req, &self->requests, fy_http_request_t,
                  link) if (req->suspended)
    {
        req->peer_gone = true;
        s_resume (req);
    }
    MHD_run (self->daemon);
}

void
fy_http_server_destroy (fy_http_server_t **self_p)
{
    assert (self_p);
    fy_http_server_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    if (self->daemon) {
        s_drain (self);
        MHD_stop_daemon (self->daemon);
    }
    //  MHD reported every request complete and every connection closed;
    //  anything left is a bug here.
    assert (fy_list_is_empty (&self->requests));
    assert (fy_list_is_empty (&self->conns));
    free (self);
    *self_p = NULL;
    errno = saved;
}

int
fy_http_server_fd (fy_http_server_t *self)
{
    assert (self);
    return self->fd;
}

int
fy_http_server_port (fy_http_server_t *self)
{
    assert (self);
    return self->port;
}

size_t
fy_http_server_requests (fy_http_server_t *self)
{
    assert (self);
    return self->count;
}

uint64_t
fy_http_server_refused (fy_http_server_t *self, fy_http_refusal_t reason)
{
    assert (self);
    assert (reason < FY_HTTP_REFUSED_COUNT);
    return self->refused [reason];
}

const char *
fy_http_refusal_name (fy_http_refusal_t reason)
{
    static const char *names [FY_HTTP_REFUSED_COUNT] = {
        "header_timeout", "per_ip_limit", "body_length", "body_too_large"
    };
    assert (reason < FY_HTTP_REFUSED_COUNT);
    return names [reason];
}

int64_t
fy_http_server_timeout_ms (fy_http_server_t *self)
{
    assert (self);
    if (self->resumed)
        return 0;
    int64_t timeout = -1;
    MHD_UNSIGNED_LONG_LONG mhd_ms;
    if (MHD_get_timeout (self->daemon, &mhd_ms) == MHD_YES)
        timeout = mhd_ms > INT64_MAX ? INT64_MAX : (int64_t) mhd_ms;
    if (self->suspended > 0) {
        int64_t check = self->next_check_ms - fy_clock_mono_ms ();
        if (check < 0)
            check = 0;
        if (timeout < 0 || check < timeout)
            timeout = check;
    }
    if (!fy_list_is_empty (&self->heads)) {
        s_conn_t *first =
            fy_list_entry (fy_list_first (&self->heads), s_conn_t, head_link);
        int64_t due = first->head_deadline_ms - fy_clock_mono_ms ();
        if (due < 0)
            due = 0;
        if (timeout < 0 || due < timeout)
            timeout = due;
    }
    return timeout;
}

//  Find clients that hung up while their connection was suspended, and
//  resume those connections so MHD closes them and reports them.
static void
s_check_hangups (fy_http_server_t *self)
{
    int64_t now = fy_clock_mono_ms ();
    if (self->suspended == 0) {
        self->next_check_ms = now + self->limits.cancel_check_ms;
        return;
    }
    if (now < self->next_check_ms)
        return;
    self->next_check_ms = now + self->limits.cancel_check_ms;
    fy_http_request_t *req;
    fy_list_each (req, &self->requests, fy_http_request_t, link)
    {
        if (!req->suspended)
            continue;
        const union MHD_ConnectionInfo *info = MHD_get_connection_info (
            req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!info)
            continue;
        struct pollfd item = { .fd = info->connect_fd, .events = POLLRDHUP };
        if (poll (&item, 1, 0) == 1
            && (item.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
            req->peer_gone = true;
            s_resume (req);
        }
    }
}

void
fy_http_server_run (fy_http_server_t *self)
{
    assert (self);
    self->resumed = false;
    s_check_hangups (self);
    s_check_heads (self);
    MHD_run (self->daemon);
}

FY_LOOP_FD_CLASS (fy_http_server_t, fy_http_server)

//  --- Request accessors

const char *
fy_http_request_method (fy_http_request_t *req)
{
    assert (req);
    return req->method;
}

const char *
fy_http_request_path (fy_http_request_t *req)
{
    assert (req);
    return req->path;
}

const char *
fy_http_request_query_string (fy_http_request_t *req)
{
    assert (req);
    return req->query_string;
}

static const char *
s_lookup (fy_http_request_t *req, enum MHD_ValueKind kind, const char *name)
{
    assert (req);
    assert (name);
    if (!req->conn)
        return NULL;
    const char *value = MHD_lookup_connection_value (req->conn, kind, name);
    //  A bare "?flag" is present with no value.
    if (!value && kind == MHD_GET_ARGUMENT_KIND
        && MHD_lookup_connection_value_n (req->conn, kind, name, strlen (name),
                                          NULL, NULL)
               == MHD_YES)
        value = "";
    return value;
}

const char *
fy_http_request_query (fy_http_request_t *req, const char *name)
{
    return s_lookup (req, MHD_GET_ARGUMENT_KIND, name);
}

const char *
fy_http_request_header (fy_http_request_t *req, const char *name)
{
    return s_lookup (req, MHD_HEADER_KIND, name);
}

const char *
fy_http_request_body (fy_http_request_t *req, size_t *size)
{
    assert (req);
    if (size)
        *size = req->body_size;
    return req->body ? req->body : "";
}

const char *
fy_http_request_peer (fy_http_request_t *req)
{
    assert (req);
    return req->peer;
}

typedef struct {
    fy_http_pair_fn *fn;
    void *arg;
    int rc;
} s_walk_t;

static enum MHD_Result
s_walk_one (void *cls, enum MHD_ValueKind kind, const char *key,
            const char *value)
{
    (void) kind;
    s_walk_t *walk = cls;
    walk->rc = walk->fn (key, value ? value : "", walk->arg);
    return walk->rc == 0 ? MHD_YES : MHD_NO;
}

static int
s_walk (fy_http_request_t *req, enum MHD_ValueKind kind, fy_http_pair_fn *fn,
        void *arg)
{
    assert (req);
    assert (fn);
    s_walk_t walk = { fn, arg, 0 };
    if (req->conn)
        MHD_get_connection_values (req->conn, kind, s_walk_one, &walk);
    return walk.rc;
}

int
fy_http_request_headers (fy_http_request_t *req, fy_http_pair_fn *fn, void *arg)
{
    return s_walk (req, MHD_HEADER_KIND, fn, arg);
}

int
fy_http_request_query_args (fy_http_request_t *req, fy_http_pair_fn *fn,
                            void *arg)
{
    return s_walk (req, MHD_GET_ARGUMENT_KIND, fn, arg);
}

bool
fy_http_request_is_cancelled (fy_http_request_t *req)
{
    assert (req);
    return req->cancelled;
}

void
fy_http_request_set_cancel (fy_http_request_t *req, fy_http_cancel_fn *fn,
                            void *arg)
{
    assert (req);
    req->cancel_fn = fn;
    req->cancel_arg = arg;
}

void
fy_http_request_add_header (fy_http_request_t *req, const char *name,
                            const char *value)
{
    assert (req);
    assert (name && value);
    assert (!req->app_done && !req->streaming);
    req->headers = fy_xrealloc (req->headers,
                                (req->header_count + 1) * 2 * sizeof (char *));
    req->headers [req->header_count * 2] = fy_xstrdup (name);
    req->headers [req->header_count * 2 + 1] = fy_xstrdup (value);
    req->header_count++;
}
