/*  fy_http_server: the HTTP endpoint the broker hosts, libmicrohttpd (MHD)
    driven by the caller's single-threaded loop. MHD runs with no thread of
    its own: the server exposes one file descriptor (MHD's epoll fd) and a
    timeout, and the loop calls fy_http_server_run when the fd is readable
    or the timeout expires. Every callback (handler, cancel, writable) runs
    inside fy_http_server_run, on the loop's thread, so no other thread ever
    touches the caller's state.

    A request is answered now, from inside the handler, or later: the
    handler keeps the request and the server parks (suspends) its
    connection until fy_http_respond* or fy_http_stream_start is called from
    the loop. Streamed replies use chunked encoding and a bounded buffer per
    request; fy_http_stream_room and the writable callback tell the producer
    when to pause and when to go on.

    Errors the server produces itself (413 body too large, 400 for an
    ambiguous body length, 405 unknown method, 404 when there is no
    handler, 503 at shutdown) are JSON: {"error":{"code","message"}}. MHD
    still answers malformed requests (400) and oversized request lines or
    headers (414/431) with its own short HTML bodies: they never reach
    this code.

    Slow clients are bounded as nginx bounds them: a request head must
    arrive whole within header_timeout_s, however steadily it trickles,
    and one client address holds at most max_conns_per_ip connections.
    What the server refuses is counted (fy_http_server_refused).

    Not thread-safe: one loop owns the server and all its requests. */
#ifndef FY_HTTP_SERVER_H_INCLUDED
#define FY_HTTP_SERVER_H_INCLUDED

#include "core/fy_loop.h"
#include "ferry/fy_common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_http_server fy_http_server_t;
//  One in-flight request, owned by the server. See fy_http_handler_fn for
//  how long a request pointer stays valid.
typedef struct fy_http_request fy_http_request_t;

//  Called once per complete request, when its body has been read in full.
//  The handler either answers before it returns (fy_http_respond*,
//  fy_http_stream_start) or keeps req and answers later from the loop.
//  Every request must be answered exactly once: by one fy_http_respond*
//  call, or by fy_http_stream_start ... fy_http_stream_end. req stays valid
//  until then, even when the client has gone away (answering a cancelled
//  request only releases it), or until the server is destroyed.
typedef void (fy_http_handler_fn) (fy_http_request_t *req, void *arg);

//  Called at most once, when the client goes away (or the server is being
//  destroyed) before the request was answered or its stream ended. req is
//  still valid; answer it (any fy_http_respond* or fy_http_stream_end) to
//  release it, now or later.
typedef void (fy_http_cancel_fn) (fy_http_request_t *req, void *arg);

//  Called when a stream's buffer has drained to half its limit after a
//  write filled it (fy_http_stream_room had reached 0).
typedef void (fy_http_writable_fn) (fy_http_request_t *req, void *arg);

//  Called for each name/value pair by the iterators. A query argument
//  without '=' has value "". Return 0 to go on, anything else to stop.
typedef int (fy_http_pair_fn) (const char *name, const char *value, void *arg);

typedef struct {
    //  Largest request body read; a larger one gets 413. Default 1 MiB.
    size_t max_body;
    //  Simultaneous connections; more are refused at accept. Default 1024.
    unsigned int connection_limit;
    //  Seconds a connection may stay idle. Default 30.
    unsigned int timeout_s;
    //  Seconds a request head (request line and headers) may take to
    //  arrive whole, counted from the accept, or on a kept-alive
    //  connection from the end of the previous answer; the connection is
    //  closed past it (the slowloris bound: trickling a header line now
    //  and then no longer keeps a connection). 0: no bound. Default 10.
    unsigned int header_timeout_s;
    //  Connections one client address may hold; more are refused at
    //  accept. 0: no cap. Default 256.
    unsigned int max_conns_per_ip;
    //  MHD's memory pool per connection: the request line and headers must
    //  fit in about half of it, or MHD answers 431/414 itself. Default
    //  32 KiB.
    size_t connection_memory;
    //  Bytes a stream buffers before fy_http_stream_room reports 0.
    //  Default 256 KiB.
    size_t stream_buffer;
    //  How often, in ms, requests parked while waiting for an answer or
    //  for stream data are checked for a client that hung up (MHD does not
    //  watch a suspended connection). Default 500.
    unsigned int cancel_check_ms;
} fy_http_limits_t;

//  What the server refuses by itself, counted for metrics.
typedef enum {
    FY_HTTP_REFUSED_HEADER_TIMEOUT,     //  head not in by header_timeout_s
    FY_HTTP_REFUSED_PER_IP,             //  over max_conns_per_ip
    FY_HTTP_REFUSED_BODY_LENGTH,        //  400: repeated Content-Length, or
                                        //  one with Transfer-Encoding
    FY_HTTP_REFUSED_BODY_TOO_LARGE,     //  413: over max_body
    FY_HTTP_REFUSED_COUNT
} fy_http_refusal_t;

//  Fill limits with the defaults above.
void
fy_http_limits_default (fy_http_limits_t *limits);

//  Start serving on address ("127.0.0.1", "0.0.0.0", "*" for every IPv4
//  address, or an IPv6 literal such as "::1") and port (0 picks a free
//  port; see fy_http_server_port). limits may be NULL for the defaults; it
//  is copied. handler and arg are kept; a NULL handler answers 404 to
//  everything. Returns NULL with errno set (EINVAL bad address,
//  EADDRINUSE, ...) and err filled on failure.
fy_http_server_t *
fy_http_server_new (const char *address, int port,
                    const fy_http_limits_t *limits, fy_http_handler_fn *handler,
                    void *arg, fy_error_t *err);

//  Answer 503 to every request not yet answered (after calling its cancel
//  callback), end open streams with an error, give the clients up to
//  200 ms to receive that, then close every connection and free every
//  request; request pointers held by the caller are then invalid. Sets
//  *self_p to NULL. Safe on NULL.
void
fy_http_server_destroy (fy_http_server_t **self_p);

//  The fd to poll for input (POLLIN / ZMQ_POLLIN). Owned by the server.
int
fy_http_server_fd (fy_http_server_t *self);

//  Milliseconds until fy_http_server_run must be called even if the fd
//  stays quiet; -1 when there is no deadline. 0 means call it now, as
//  after an answer or stream data given from outside fy_http_server_run:
//  ask again after giving them.
int64_t
fy_http_server_timeout_ms (fy_http_server_t *self);

//  Do all pending HTTP work without blocking: accept, read, call handlers,
//  write. Call it when the fd is readable or the timeout expired.
void
fy_http_server_run (fy_http_server_t *self);

//  Attach the server to loop: its fd, timeout and run, through core's
//  fy_loop. fy_loop_detach the source before destroying the server.
fy_loop_source_t *
fy_http_server_attach (fy_http_server_t *self, zloop_t *loop);

//  The port actually bound.
int
fy_http_server_port (fy_http_server_t *self);

//  Requests the server holds (read, waiting for an answer, or streaming).
size_t
fy_http_server_requests (fy_http_server_t *self);

//  How many times the server refused for reason, since it started.
uint64_t
fy_http_server_refused (fy_http_server_t *self, fy_http_refusal_t reason);

//  The reason's name for a metric label: "header_timeout", "per_ip_limit",
//  "body_length", "body_too_large". Static.
const char *
fy_http_refusal_name (fy_http_refusal_t reason);

//  --- Request accessors. Strings are borrowed from req, valid while req
//  is (see fy_http_handler_fn).

//  "GET", "POST", ... as sent (MHD accepts any token; the server answers
//  405 itself to any method other than GET, HEAD, POST, PUT, PATCH,
//  DELETE and OPTIONS).
const char *
fy_http_request_method (fy_http_request_t *req);

//  The path, percent-decoded, without the query string.
const char *
fy_http_request_path (fy_http_request_t *req);

//  The raw query string after '?', undecoded, "" when there is none.
const char *
fy_http_request_query_string (fy_http_request_t *req);

//  The decoded value of query argument name ("" for "?name"), or NULL.
const char *
fy_http_request_query (fy_http_request_t *req, const char *name);

//  The value of header name, matched case-insensitively, or NULL.
//  Like the iterators below, headers and query arguments are gone (NULL)
//  once the request is cancelled.
const char *
fy_http_request_header (fy_http_request_t *req, const char *name);

//  The body and its length (0 and "" when there is none). The body is
//  always followed by a NUL byte that is not counted in *size.
const char *
fy_http_request_body (fy_http_request_t *req, size_t *size);

//  The client's address as text ("127.0.0.1"), "" if unknown.
const char *
fy_http_request_peer (fy_http_request_t *req);

//  Call fn for each header / each decoded query argument, in the order
//  received. Returns the first non-zero value fn returned, else 0. Empty
//  (no calls) once the request has been cancelled: the connection that
//  held them is gone.
int
fy_http_request_headers (fy_http_request_t *req, fy_http_pair_fn *fn,
                         void *arg);
int
fy_http_request_query_args (fy_http_request_t *req, fy_http_pair_fn *fn,
                            void *arg);

//  True once the client has gone away before the answer was complete.
bool
fy_http_request_is_cancelled (fy_http_request_t *req);

//  Set (or clear, with NULL) the cancel callback.
void
fy_http_request_set_cancel (fy_http_request_t *req, fy_http_cancel_fn *fn,
                            void *arg);

//  Extra response header for the answer, e.g. "Retry-After", "30". Call
//  before fy_http_respond* / fy_http_stream_start. Both are copied.
void
fy_http_request_add_header (fy_http_request_t *req, const char *name,
                            const char *value);

//  --- Answers. Each one answers req exactly once; the last one, or
//  fy_http_stream_end, releases req: do not use it afterwards.

//  Answer status with body (copied; len bytes) of content_type (NULL
//  leaves out the header).
void
fy_http_respond (fy_http_request_t *req, int status, const char *content_type,
                 const void *body, size_t len);

//  Answer status with json as application/json. Borrows json (the caller
//  keeps its reference).
void
fy_http_respond_json (fy_http_request_t *req, int status, json_t *json);

//  Answer status with fy_json_error_body.
void
fy_http_respond_error (fy_http_request_t *req, int status, const char *code,
                       const char *message);

//  Start a chunked reply of status and content_type. Then any number of
//  fy_http_stream_write, and one fy_http_stream_end.
void
fy_http_stream_start (fy_http_request_t *req, int status,
                      const char *content_type);

//  Queue len bytes of data (copied). Returns 0, or -1 with errno EAGAIN
//  when the buffer is full (fy_http_stream_room is 0; nothing was copied;
//  wait for the writable callback) or ECONNRESET when the client has gone
//  away (end the stream). A write is taken whole whenever there is any
//  room, so a stream holds at most stream_buffer plus one write.
int
fy_http_stream_write (fy_http_request_t *req, const void *data,
                      size_t len) FY_MUSTCHECK;

//  Bytes the stream accepts before it reports full; 0 when the producer
//  should pause.
size_t
fy_http_stream_room (fy_http_request_t *req);

//  Set (or clear) the callback that says a full stream has room again.
void
fy_http_stream_set_writable (fy_http_request_t *req, fy_http_writable_fn *fn,
                             void *arg);

//  End the stream; what is buffered is still sent. Releases req.
void
fy_http_stream_end (fy_http_request_t *req);

//  End the stream as failed (the producer broke): the connection is closed
//  without the final chunk, so the client sees a truncated reply rather
//  than a complete one. Releases req.
void
fy_http_stream_abort (fy_http_request_t *req);

#ifdef __cplusplus
}
#endif
#endif
