/*  fy_http_client: an asynchronous HTTP client on libcurl's multi interface,
    driven by the caller's single-threaded loop. Many requests run at once
    on one thread (20-second SQS long polls beside short calls), over a
    pool of kept-alive connections. The client exposes one file descriptor
    (an epoll set holding curl's sockets) and a timeout, exactly like
    fy_http_server: the loop polls the fd for input and calls
    fy_http_client_run when it is readable or the timeout expires. Every
    completion callback runs inside fy_http_client_run, on the loop's
    thread.

    The client also keeps one-shot timers (fy_http_client_timer), so code
    built on it (the SQS client's retry backoff) waits in the same loop,
    behind the same fd and timeout, and never sleeps.

    Transfers of curl's other protocols (SMTP for fy_smtp) run on the same
    client, so a program keeps one curl multi, one fd and one timeout for
    all of them: such a call has no method, and a setup callback
    (fy_http_call_set_setup) sets the protocol's options on the easy
    handle.

    Not thread-safe: one loop owns the client and all its requests. */
#ifndef FY_HTTP_CLIENT_H_INCLUDED
#define FY_HTTP_CLIENT_H_INCLUDED

#include "core/fy_loop.h"
#include "ferry/fy_common.h"

#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_http_client fy_http_client_t;
//  A request being built; fy_http_client_start takes it over.
typedef struct fy_http_call fy_http_call_t;
//  What came back, valid only during the completion callback.
typedef struct fy_http_result fy_http_result_t;

//  Called once when a request completes, fails or times out. Not called
//  for a request cancelled with fy_http_client_cancel or still running
//  when the client is destroyed. May start and cancel requests and
//  timers; must not destroy the client.
typedef void (fy_http_done_fn) (const fy_http_result_t *result, void *arg);

//  Called once when a timer expires (not when it is cancelled).
typedef void (fy_http_timer_fn) (void *arg);

typedef struct {
    //  Idle connections kept open for re-use (CURLMOPT_MAXCONNECTS).
    //  Default 64.
    long max_idle;
    //  Connections open at once to one host; 0 means no limit (requests
    //  beyond it queue inside curl). Default 0.
    long max_per_host;
} fy_http_client_options_t;

//  Fill options with the defaults above.
void
fy_http_client_options_default (fy_http_client_options_t *options);

//  Create a client. options may be NULL for the defaults. Returns NULL with
//  errno set and err filled on failure.
fy_http_client_t *
fy_http_client_new (const fy_http_client_options_t *options, fy_error_t *err);

//  Abort every request (their callbacks are not called), drop the timers,
//  close every connection. Sets *self_p to NULL. Safe on NULL.
void
fy_http_client_destroy (fy_http_client_t **self_p);

//  The fd to poll for input (POLLIN / ZMQ_POLLIN). Owned by the client.
int
fy_http_client_fd (fy_http_client_t *self);

//  Milliseconds until fy_http_client_run must be called even if the fd
//  stays quiet; -1 when there is nothing to wait for. 0 means now.
//  Starting a request or a timer changes it: ask again after either.
int64_t
fy_http_client_timeout_ms (fy_http_client_t *self);

//  Do all pending work without blocking: read and write curl's sockets,
//  expire timeouts, call the completion callbacks and due timers.
void
fy_http_client_run (fy_http_client_t *self);

//  Attach the client to loop: its fd, timeout and run, through core's
//  fy_loop. fy_loop_detach the source before destroying the client.
fy_loop_source_t *
fy_http_client_attach (fy_http_client_t *self, zloop_t *loop);

//  Poll the fd for at most timeout_ms (-1: no limit besides the client's
//  own timeout) and run once. For programs and tests without a loop of
//  their own. Returns 0, or -1 with errno set if poll failed.
int
fy_http_client_wait (fy_http_client_t *self, int64_t timeout_ms) FY_MUSTCHECK;

//  Wait and run, as fy_http_client_wait, until done (arg) is true or
//  timeout_ms passed. Returns 0; -1 with errno ETIMEDOUT, or from poll.
typedef bool (fy_http_until_fn) (void *arg);
int
fy_http_client_run_until (fy_http_client_t *self, fy_http_until_fn *done,
                          void *arg, int64_t timeout_ms) FY_MUSTCHECK;

//  Requests started and not yet completed or cancelled.
size_t
fy_http_client_active (fy_http_client_t *self);

//  Connections curl opened since the client was created (re-used ones are
//  not counted again): a measure of keep-alive.
size_t
fy_http_client_connects (fy_http_client_t *self);

//  --- Requests

//  A request of method ("GET", "POST", ...) to url, both copied. Defaults:
//  connect timeout 5 s, total timeout 30 s, response body at most 8 MiB.
//  method NULL makes a transfer of another protocol (smtp://...): the
//  client then sets no method, body or headers, only the URL, timeouts,
//  body limit and its own bookkeeping, and a setup callback sets the rest.
//  Caller owns result until fy_http_client_start.
fy_http_call_t *
fy_http_call_new (const char *method, const char *url);

//  Destroy a call that was never started. Safe on NULL.
void
fy_http_call_destroy (fy_http_call_t **self_p);

//  Add a request header "name: value" (copied).
void
fy_http_call_add_header (fy_http_call_t *self, const char *name,
                         const char *value);

//  The request headers as a curl list, for a signer to read and append to
//  (curl_slist_append; the call frees the list). Borrowed.
struct curl_slist **
fy_http_call_headers (fy_http_call_t *self);

//  The method (NULL for another protocol's transfer) and URL as given to
//  fy_http_call_new. Borrowed.
const char *
fy_http_call_method (fy_http_call_t *self);
const char *
fy_http_call_url (fy_http_call_t *self);

//  The request body (copied; len bytes). Replaces any earlier body.
void
fy_http_call_set_body (fy_http_call_t *self, const void *body, size_t len);

//  The body as set, and its length. Borrowed.
const void *
fy_http_call_body (fy_http_call_t *self, size_t *len);

//  Per-request timeouts in milliseconds: connecting (including DNS and
//  TLS), and the whole request. 0 keeps the default.
void
fy_http_call_set_timeouts (fy_http_call_t *self, int64_t connect_ms,
                           int64_t total_ms);

//  Largest response body accepted; a larger one fails the request with
//  EMSGSIZE. 0 keeps the default.
void
fy_http_call_set_max_body (fy_http_call_t *self, size_t max_body);

//  Sets the options a call's fields do not cover on the easy handle:
//  another protocol's (CURLOPT_MAIL_FROM, CURLOPT_MAIL_RCPT, CURLOPT_UPLOAD
//  with a read callback, CURLOPT_USE_SSL...) or rare HTTP ones. Called
//  once, from fy_http_client_start, after the client's own options, so it
//  may override them; it must not set CURLOPT_PRIVATE, CURLOPT_ERRORBUFFER
//  or the write callback, which the client's bookkeeping needs. Anything
//  it hands curl (read data, lists) must live until the request's
//  completion callback or its cancel. A code other than CURLE_OK makes
//  fy_http_client_start fail.
typedef CURLcode (fy_http_setup_fn) (CURL *easy, void *arg);

//  Call fn with arg to set the easy handle up. Replaces an earlier one.
void
fy_http_call_set_setup (fy_http_call_t *self, fy_http_setup_fn *fn, void *arg);

//  Start the request; fn is called with arg when it ends. Takes ownership
//  of *call_p and sets it to NULL, even on failure. *id_p (if not NULL)
//  gets the request's id, for fy_http_client_cancel; ids are never 0 and
//  never re-used. Returns 0, or -1 with errno set and err filled if curl
//  refused the request (nothing is called back then).
int
fy_http_client_start (fy_http_client_t *self, fy_http_call_t **call_p,
                      fy_http_done_fn *fn, void *arg, uint64_t *id_p,
                      fy_error_t *err) FY_MUSTCHECK;

//  Abort request id; its callback is not called. Returns true if it was
//  still running.
bool
fy_http_client_cancel (fy_http_client_t *self, uint64_t id);

//  Call fn with arg once, delay_ms from now, from fy_http_client_run.
//  Returns the timer's id (never 0), for fy_http_client_timer_cancel.
uint64_t
fy_http_client_timer (fy_http_client_t *self, int64_t delay_ms,
                      fy_http_timer_fn *fn, void *arg);

//  Cancel a timer that has not fired. Returns true if it was pending.
bool
fy_http_client_timer_cancel (fy_http_client_t *self, uint64_t id);

//  --- Results, valid during the completion callback.

//  0 when an HTTP response came back (whatever its status), else why not:
//  ETIMEDOUT (connect or total timeout), ECONNREFUSED, EHOSTUNREACH (name
//  did not resolve, no route), ECONNRESET (connection broke, empty reply),
//  EMSGSIZE (body over the limit), EIO (anything else).
int
fy_http_result_error (const fy_http_result_t *result);

//  curl's description of the failure, "" on success. Borrowed.
const char *
fy_http_result_error_text (const fy_http_result_t *result);

//  The HTTP status, 0 when no response came back.
int
fy_http_result_status (const fy_http_result_t *result);

//  The body and its length, "" when empty; always NUL-terminated (the NUL
//  is not counted). Borrowed.
const char *
fy_http_result_body (const fy_http_result_t *result, size_t *len);

//  The value of response header name (case-insensitive; the last one when
//  repeated), or NULL. Borrowed.
const char *
fy_http_result_header (const fy_http_result_t *result, const char *name);

//  curl's own code for the transfer, CURLE_OK on success: for protocols
//  whose failures the errno above does not tell apart (an SMTP server
//  refusing a recipient is CURLE_SEND_ERROR, not a broken connection).
CURLcode
fy_http_result_curl_code (const fy_http_result_t *result);

//  The protocol's last response code (CURLINFO_RESPONSE_CODE), also when
//  the transfer failed: the SMTP reply that refused a recipient (550), or
//  an HTTP status. 0 when no response came back.
long
fy_http_result_response_code (const fy_http_result_t *result);

//  Milliseconds from start to completion.
int64_t
fy_http_result_elapsed_ms (const fy_http_result_t *result);

#ifdef __cplusplus
}
#endif
#endif
