/*  Tests for fy_http_server: the server runs in this test's own poll(2)
    loop, as the broker will run it, and real clients (libcurl, or raw
    sockets when the bytes on the wire matter) run in one thread that never
    touches server state; the loop and the thread share only the client's
    result struct, read after the thread is joined, and an atomic "done".
    Handlers answer by path: /hello now, /defer/N after N loop turns,
    /stream/N with N bytes streamed under backpressure, /hang never (until
    the test cancels or destroys). */
#include "ferry/ferry.h"
#include "http/fy_http_server.h"
#include "tap.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_PART 4096
#define S_MAX_HELD 512

typedef struct {
    fy_http_request_t *req;
    int turns;
} s_held_t;

typedef struct {
    fy_http_request_t *req;
    size_t sent;
    size_t total;
} s_stream_t;

//  The loop side: everything here is touched only by the main thread.
typedef struct {
    fy_http_server_t *server;
    s_held_t held [S_MAX_HELD];
    size_t held_count;
    s_stream_t stream;
    bool starve;            //  do not feed the stream
    int handled;
    int cancels;
    int writables;
    int refused;            //  writes refused with EAGAIN
    int zero_timeouts;      //  loop turns MHD asked to run at once
    size_t max_room_seen;
} s_loop_t;

static s_loop_t s_loop;

static void
s_on_cancel (fy_http_request_t *req, void *arg)
{
    s_loop_t *loop = arg;
    loop->cancels++;
    ok (fy_http_request_is_cancelled (req), "cancelled request says so");
}

static void
s_on_writable (fy_http_request_t *req, void *arg)
{
    (void) req;
    s_loop_t *loop = arg;
    loop->writables++;
}

static int
s_count_pair (const char *name, const char *value, void *arg)
{
    (void) name;
    (void) value;
    (*(int *) arg)++;
    return 0;
}

static void
s_echo (fy_http_request_t *req)
{
    size_t size;
    const char *body = fy_http_request_body (req, &size);
    int headers = 0, args = 0;
    assert (fy_http_request_headers (req, s_count_pair, &headers) == 0);
    assert (fy_http_request_query_args (req, s_count_pair, &args) == 0);
    const char *x = fy_http_request_query (req, "x");
    const char *flag = fy_http_request_query (req, "flag");
    const char *test = fy_http_request_header (req, "x-TEST");
    json_t *json = json_pack (
        "{s:s,s:s,s:s,s:s?,s:s?,s:s?,s:s%,s:i,s:i,s:s}", "method",
        fy_http_request_method (req), "path", fy_http_request_path (req),
        "query", fy_http_request_query_string (req), "x", x, "flag", flag,
        "test", test, "body", body, size, "headers", headers, "args", args,
        "peer", fy_http_request_peer (req));
    fy_http_request_add_header (req, "X-Echo", "yes");
    fy_http_respond_json (req, 200, json);
    json_decref (json);
}

static void
s_handler (fy_http_request_t *req, void *arg)
{
    s_loop_t *loop = arg;
    loop->handled++;
    const char *path = fy_http_request_path (req);
    fy_http_request_set_cancel (req, s_on_cancel, loop);
    if (strcmp (path, "/hello") == 0)
        fy_http_respond (req, 200, "text/plain", "hello", 5);
    else if (strncmp (path, "/echo", 5) == 0)
        s_echo (req);
    else if (strncmp (path, "/defer/", 7) == 0 || strcmp (path, "/hang") == 0) {
        assert (loop->held_count < S_MAX_HELD);
        int turns = path [1] == 'd' ? (int) strtol (path + 7, NULL, 10) : -1;
        loop->held [loop->held_count++] = (s_held_t) { req, turns };
    }
    else if (strncmp (path, "/stream/", 8) == 0) {
        assert (!loop->stream.req);
        loop->stream = (s_stream_t) { req, 0, strtoul (path + 8, NULL, 10) };
        fy_http_stream_set_writable (req, s_on_writable, loop);
        fy_http_stream_start (req, 200, "text/csv");
    }
    else
        fy_http_respond_error (req, 404, "not_found", "no such route");
}

//  The byte at offset pos of a stream: easy to check on the client.
static char
s_pattern (size_t pos)
{
    return (char) ('a' + (pos * 7 + pos / 4096) % 26);
}

//  One loop turn's worth of application work: count down held requests,
//  answer those due, feed the stream while it has room.
static void
s_tick (s_loop_t *loop)
{
    for (size_t index = 0; index < loop->held_count; index++) {
        s_held_t *held = &loop->held [index];
        if (held->turns < 0 || --held->turns > 0)
            continue;
        char text [64];
        int len = snprintf (text, sizeof text, "deferred %s",
                            fy_http_request_path (held->req));
        fy_http_respond (held->req, 200, "text/plain", text, (size_t) len);
        loop->held [index--] = loop->held [--loop->held_count];
    }
    s_stream_t *stream = &loop->stream;
    while (stream->req && !loop->starve
           && !fy_http_request_is_cancelled (stream->req)) {
        size_t room = fy_http_stream_room (stream->req);
        if (room > loop->max_room_seen)
            loop->max_room_seen = room;
        if (stream->sent == stream->total) {
            fy_http_stream_end (stream->req);
            stream->req = NULL;
            break;
        }
        char part [S_PART];
        size_t size = stream->total - stream->sent;
        if (size > S_PART)
            size = S_PART;
        for (size_t index = 0; index < size; index++)
            part [index] = s_pattern (stream->sent + index);
        if (fy_http_stream_write (stream->req, part, size) == -1) {
            assert (errno == EAGAIN);
            assert (room == 0);
            loop->refused++;
            break;
        }
        stream->sent += size;
    }
}

static int64_t
s_turn (s_loop_t *loop, int max_wait_ms)
{
    int64_t wait = fy_http_server_timeout_ms (loop->server);
    if (wait == 0)
        loop->zero_timeouts++;
    if (wait < 0 || wait > max_wait_ms)
        wait = max_wait_ms;
    if (loop->held_count > 0 || loop->stream.req)
        wait = wait > 1 ? 1 : wait;
    struct pollfd item = { .fd = fy_http_server_fd (loop->server),
                           .events = POLLIN };
    poll (&item, 1, (int) wait);
    fy_http_server_run (loop->server);
    s_tick (loop);
    return wait;
}

//  --- The client side: runs in its own thread.

typedef void (s_client_fn) (void *arg);

typedef struct {
    s_client_fn *fn;
    void *arg;
    atomic_int done;
    pthread_t thread;
} s_client_t;

static void *
s_client_main (void *arg)
{
    s_client_t *client = arg;
    client->fn (client->arg);
    atomic_store (&client->done, 1);
    return NULL;
}

static void
s_client_start (s_client_t *client, s_client_fn *fn, void *arg)
{
    client->fn = fn;
    client->arg = arg;
    atomic_init (&client->done, 0);
    int rc = pthread_create (&client->thread, NULL, s_client_main, client);
    assert (rc == 0);
}

//  Run the loop until the client thread is done (or 20 s), then join it.
static void
s_client_wait (s_client_t *client)
{
    int64_t deadline = fy_clock_mono_ms () + 20000;
    while (!atomic_load (&client->done) && fy_clock_mono_ms () < deadline)
        s_turn (&s_loop, 20);
    if (!atomic_load (&client->done))
        BAIL_OUT ("client thread stuck");
    pthread_join (client->thread, NULL);
}

static int s_port;

typedef struct {
    char url [256];
    const char *method;
    const char *body;
    size_t body_size;
    bool chunked;
    long status;
    char *got;
    size_t got_size;
    long connects;
    char content_type [128];
} s_get_t;

static size_t
s_curl_write (char *data, size_t size, size_t count, void *arg)
{
    s_get_t *get = arg;
    get->got = fy_xrealloc (get->got, get->got_size + size * count + 1);
    memcpy (get->got + get->got_size, data, size * count);
    get->got_size += size * count;
    get->got [get->got_size] = '\0';
    return size * count;
}

static void
s_get_reset (s_get_t *get, const char *path)
{
    free (get->got);
    memset (get, 0, sizeof *get);
    snprintf (get->url, sizeof get->url, "http://127.0.0.1:%d%s", s_port, path);
}

static void
s_curl_setup (CURL *curl, s_get_t *get, struct curl_slist **list)
{
    curl_easy_setopt (curl, CURLOPT_URL, get->url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_curl_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, get);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 15000L);
    *list = curl_slist_append (NULL, "X-Test: yes");
    if (get->chunked)
        *list = curl_slist_append (*list, "Transfer-Encoding: chunked");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, *list);
    if (get->method)
        curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, get->method);
    if (get->body) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, get->body);
        if (!get->chunked)
            curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE,
                              (long) get->body_size);
    }
}

static void
s_curl_finish (CURL *curl, s_get_t *get)
{
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &get->status);
    curl_easy_getinfo (curl, CURLINFO_NUM_CONNECTS, &get->connects);
    char *type = NULL;
    curl_easy_getinfo (curl, CURLINFO_CONTENT_TYPE, &type);
    snprintf (get->content_type, sizeof get->content_type, "%s",
              type ? type : "");
}

static void
s_get_run (void *arg)
{
    s_get_t *get = arg;
    CURL *curl = curl_easy_init ();
    struct curl_slist *list;
    s_curl_setup (curl, get, &list);
    curl_easy_perform (curl);
    s_curl_finish (curl, get);
    curl_slist_free_all (list);
    curl_easy_cleanup (curl);
}

//  One request, served by the loop while the client thread waits.
static void
s_fetch (s_get_t *get)
{
    s_client_t client;
    s_client_start (&client, s_get_run, get);
    s_client_wait (&client);
}

//  The error code in a JSON error body, or "" if the body is not one.
static const char *
s_error_code (const char *body)
{
    static char code [64];
    code [0] = '\0';
    json_t *json = json_loads (body ? body : "", 0, NULL);
    const char *text = NULL;
    if (json
        && json_unpack (json, "{s:{s:s,s:s}}", "error", "code", &text,
                        "message", &(const char *) { NULL })
               == 0)
        snprintf (code, sizeof code, "%s", text);
    json_decref (json);
    return code;
}

//  --- Raw sockets

//  Connect from source (a loopback address such as "127.0.0.2", so that
//  the server sees another client address), or from any when NULL.
static int
s_connect_from (const char *source)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (fd >= 0);
    if (source) {
        struct sockaddr_in local = { .sin_family = AF_INET };
        inet_pton (AF_INET, source, &local.sin_addr);
        if (bind (fd, (struct sockaddr *) &local, sizeof local) != 0) {
            close (fd);
            return -1;
        }
    }
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t) s_port) };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close (fd);
        return -1;
    }
    struct timeval tv = { .tv_sec = 5 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int
s_connect (void)
{
    return s_connect_from (NULL);
}

static void
s_send_all (int fd, const void *data, size_t size)
{
    const char *next = data;
    while (size > 0) {
        ssize_t rc = send (fd, next, size, MSG_NOSIGNAL);
        if (rc <= 0)
            return;
        next += rc;
        size -= (size_t) rc;
    }
}

//  Read until the peer closes, the timeout, or size - 1 bytes.
static size_t
s_read_all (int fd, char *buf, size_t size)
{
    size_t used = 0;
    ssize_t rc;
    while (used < size - 1
           && (rc = recv (fd, buf + used, size - 1 - used, 0)) > 0)
        used += (size_t) rc;
    buf [used] = '\0';
    return used;
}

static int
s_count (const char *text, const char *needle)
{
    int count = 0;
    for (const char *at = text; (at = strstr (at, needle)); at++)
        count++;
    return count;
}

//  GET /hello from source on a new connection: true on a 200.
static bool
s_raw_hello (const char *source)
{
    int fd = s_connect_from (source);
    if (fd < 0)
        return false;
    static const char request [] = "GET /hello HTTP/1.1\r\nHost: x\r\n"
                                   "Connection: close\r\n\r\n";
    s_send_all (fd, request, sizeof request - 1);
    char got [1024];
    s_read_all (fd, got, sizeof got);
    close (fd);
    return strncmp (got, "HTTP/1.1 200", 12) == 0;
}

//  Has the server closed fd? Does not wait.
static bool
s_is_closed (int fd)
{
    char byte;
    ssize_t rc = recv (fd, &byte, 1, MSG_DONTWAIT);
    return rc == 0 || (rc < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

//  Swap in a server with limits for a test, or back (limits NULL) to the
//  one kept.
static void
s_server_swap (const fy_http_limits_t *limits)
{
    static fy_http_server_t *kept;
    static int kept_port;
    if (limits) {
        kept = s_loop.server;
        kept_port = s_port;
        fy_error_t err = { "" };
        s_loop.server = fy_http_server_new ("127.0.0.1", 0, limits, s_handler,
                                            &s_loop, &err);
        if (!s_loop.server)
            BAIL_OUT ("cannot start: %s", err.text);
        s_port = fy_http_server_port (s_loop.server);
    }
    else {
        fy_http_server_destroy (&s_loop.server);
        s_loop.server = kept;
        s_port = kept_port;
    }
}

//  --- Tests

static void
test_new (void)
{
    fy_error_t err = { "" };
    errno = 0;
    fy_http_server_t *bad =
        fy_http_server_new ("nowhere", 0, NULL, NULL, NULL, &err);
    ok (bad == NULL && errno == EINVAL, "bad address refused with EINVAL");
    ok (strstr (err.text, "nowhere") != NULL, "error names it: %s", err.text);
    fy_http_server_t *taken =
        fy_http_server_new ("127.0.0.1", s_port, NULL, NULL, NULL, &err);
    ok (taken == NULL && errno == EADDRINUSE,
        "port in use refused with EADDRINUSE: %s", err.text);
    fy_http_server_t *any = fy_http_server_new ("*", 0, NULL, NULL, NULL, &err);
    ok (any != NULL && fy_http_server_port (any) > 0, "'*' binds");
    fy_http_server_destroy (&any);
    ok (any == NULL, "destroy sets reference to NULL");
    fy_http_server_destroy (&any);
}

static void
test_immediate (void)
{
    s_get_t get = { .got = NULL };
    s_get_reset (&get, "/hello");
    s_fetch (&get);
    is_int (get.status, 200, "immediate answer: 200");
    is_str (get.got, "hello", "immediate answer: body");
    is_str (get.content_type, "text/plain", "immediate answer: type");

    s_get_reset (&get, "/nope");
    s_fetch (&get);
    is_int (get.status, 404, "handler's 404");
    is_str (s_error_code (get.got), "not_found", "404 is JSON");
    is_str (get.content_type, "application/json", "404 content type");

    s_get_reset (&get, "/echo/a%20b?x=1%262&flag&y=%41");
    get.method = "PUT";
    get.body = "{\"k\":1}";
    get.body_size = 7;
    s_fetch (&get);
    is_int (get.status, 200, "echo: 200");
    json_t *json = json_loads (get.got ? get.got : "", 0, NULL);
    ok (json != NULL, "echo: JSON body");
    const char *method = "", *path = "", *query = "", *x = "", *flag = "",
               *test = "", *body = "", *peer = "";
    int headers = 0, args = 0;
    json_unpack (json, "{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "method",
                 &method, "path", &path, "query", &query, "x", &x, "flag",
                 &flag, "test", &test, "body", &body, "headers", &headers,
                 "args", &args, "peer", &peer);
    is_str (method, "PUT", "echo: method");
    is_str (path, "/echo/a b", "echo: path decoded");
    is_str (query, "x=1%262&flag&y=%41", "echo: raw query string");
    is_str (x, "1&2", "echo: query argument decoded");
    is_str (flag, "", "echo: bare query flag is empty");
    is_str (test, "yes", "echo: header lookup ignores case");
    is_str (body, "{\"k\":1}", "echo: body");
    ok (headers >= 4, "echo: header iteration (%d)", headers);
    is_int (args, 3, "echo: query iteration");
    is_str (peer, "127.0.0.1", "echo: peer");
    json_decref (json);

    s_get_reset (&get, "/hello");
    get.method = "TRACE";
    s_fetch (&get);
    is_int (get.status, 405, "unknown method: 405");
    is_str (s_error_code (get.got), "method_not_allowed", "405 is JSON");
    free (get.got);
}

//  The client can have a whole answer before MHD reports the response
//  complete: give the loop its turns (bounded) before counting requests.
static size_t
s_settled_requests (void)
{
    for (int i = 0; i < 200 && fy_http_server_requests (s_loop.server); i++)
        s_turn (&s_loop, 10);
    return fy_http_server_requests (s_loop.server);
}

static void
test_deferred (void)
{
    s_get_t get = { .got = NULL };
    s_get_reset (&get, "/defer/25");
    int handled = s_loop.handled;
    s_fetch (&get);
    is_int (get.status, 200, "deferred answer: 200");
    is_str (get.got, "deferred /defer/25", "deferred answer: body");
    is_int (s_loop.handled, handled + 1, "deferred: handler called once");
    is_int (s_settled_requests (), 0, "deferred: request released");
    free (get.got);
}

static void
test_body_limit (void)
{
    char body [2001];
    memset (body, 'b', 2000);
    body [2000] = '\0';
    s_get_t get = { .got = NULL };
    s_get_reset (&get, "/echo");
    get.body = body;
    get.body_size = 2000;
    s_fetch (&get);
    is_int (get.status, 413, "body over max_body: 413");
    is_str (s_error_code (get.got), "body_too_large", "413 is JSON");

    s_get_reset (&get, "/echo");
    get.body = body;
    get.chunked = true;
    s_fetch (&get);
    is_int (get.status, 413, "chunked body over max_body: 413");
    is_str (s_error_code (get.got), "body_too_large", "chunked 413 is JSON");

    s_get_reset (&get, "/echo");
    get.body = body;
    get.body_size = 1000;
    s_fetch (&get);
    is_int (get.status, 200, "body of exactly max_body: 200");
    json_t *json = json_loads (get.got ? get.got : "", 0, NULL);
    const char *echoed = "";
    json_unpack (json, "{s:s}", "body", &echoed);
    is_int (strlen (echoed), 1000, "body of exactly max_body echoed");
    json_decref (json);
    free (get.got);
}

//  A chunked body far past max_body is read and dropped, then answered
//  413 like a declared one: not cut off with no status.
static void
test_chunked_large (void)
{
    size_t size = 5 * 512 * 1024;
    char *body = fy_xmalloc (size + 1);
    memset (body, 'c', size);
    body [size] = '\0';
    s_get_t get = { .got = NULL };
    s_get_reset (&get, "/echo");
    get.body = body;
    get.chunked = true;
    uint64_t before =
        fy_http_server_refused (s_loop.server, FY_HTTP_REFUSED_BODY_TOO_LARGE);
    s_fetch (&get);
    is_int (get.status, 413, "chunked body of 2.5 MiB: 413");
    is_str (s_error_code (get.got), "body_too_large",
            "chunked 2.5 MiB: 413 is JSON");
    is_int (
        fy_http_server_refused (s_loop.server, FY_HTTP_REFUSED_BODY_TOO_LARGE)
            - before,
        1, "413 counted");
    free (get.got);
    free (body);
}

typedef struct {
    const char *request;
    char got [4096];
} s_smuggle_t;

static void
s_smuggle_run (void *arg)
{
    s_smuggle_t *smuggle = arg;
    int fd = s_connect ();
    if (fd < 0)
        return;
    s_send_all (fd, smuggle->request, strlen (smuggle->request));
    s_read_all (fd, smuggle->got, sizeof smuggle->got);
    close (fd);
}

//  A body whose length two headers disagree on is the precondition of
//  request smuggling behind a proxy: refused whole, connection closed.
static void
test_smuggling (void)
{
    static const char *requests [] = {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Content-Length: 44\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: x"
        "\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Content-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: x"
        "\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1"
        "\r\nHost: x\r\n\r\n",
    };
    static const char *names [] = { "two Content-Lengths that disagree",
                                    "two equal Content-Lengths",
                                    "Content-Length with Transfer-Encoding" };
    for (size_t i = 0; i < sizeof requests / sizeof *requests; i++) {
        s_smuggle_t smuggle = { requests [i], "" };
        int handled = s_loop.handled;
        uint64_t before =
            fy_http_server_refused (s_loop.server, FY_HTTP_REFUSED_BODY_LENGTH);
        int64_t start = fy_clock_mono_ms ();
        s_client_t client;
        s_client_start (&client, s_smuggle_run, &smuggle);
        s_client_wait (&client);
        ok (strncmp (smuggle.got, "HTTP/1.1 400", 12) == 0, "%s: 400",
            names [i]);
        const char *body = strstr (smuggle.got, "\r\n\r\n");
        is_str (s_error_code (body ? body + 4 : ""), "body_length",
                "%s: JSON error body_length", names [i]);
        is_int (s_count (smuggle.got, "HTTP/1.1 "), 1,
                "%s: one answer, nothing smuggled", names [i]);
        is_int (s_loop.handled - handled, 0, "%s: no handler called",
                names [i]);
        ok (fy_clock_mono_ms () - start < 3000, "%s: connection closed",
            names [i]);
        is_int (
            fy_http_server_refused (s_loop.server, FY_HTTP_REFUSED_BODY_LENGTH)
                - before,
            1, "%s: counted", names [i]);
    }
}

#define S_SLOW 20

typedef struct {
    int refused;                //  closed before the header timeout
    int timed_out;              //  closed by it
    int open;                   //  still open at the end
    bool other_served;          //  another address, while they hold
    bool same_served;           //  the slow clients' own, after
} s_trickle_t;

//  S_SLOW clients from 127.0.0.1 each send the request line, then a
//  header line every 250 ms, never ending the head.
static void
s_trickle_run (void *arg)
{
    s_trickle_t *slow = arg;
    int fds [S_SLOW];
    int64_t start = fy_clock_mono_ms ();
    for (int i = 0; i < S_SLOW; i++) {
        fds [i] = s_connect_from ("127.0.0.1");
        if (fds [i] >= 0)
            s_send_all (fds [i], "GET /hello HTTP/1.1\r\n", 21);
    }
    int64_t until = start + 3000;
    bool tried = false;
    while (fy_clock_mono_ms () < until) {
        usleep (250 * 1000);
        int64_t now = fy_clock_mono_ms ();
        for (int i = 0; i < S_SLOW; i++) {
            if (fds [i] < 0)
                continue;
            if (s_is_closed (fds [i])) {
                if (now - start < 700)
                    slow->refused++;
                else
                    slow->timed_out++;
                close (fds [i]);
                fds [i] = -1;
            }
            else
                s_send_all (fds [i], "X-Slow: 1\r\n", 11);
        }
        if (!tried) {
            slow->other_served = s_raw_hello ("127.0.0.2");
            tried = true;
        }
    }
    for (int i = 0; i < S_SLOW; i++)
        if (fds [i] >= 0) {
            slow->open++;
            close (fds [i]);
        }
    slow->same_served = s_raw_hello ("127.0.0.1");
}

//  Slow clients cannot starve the rest: the per-address cap leaves room
//  for other addresses, and the header timeout closes the trickling ones
//  long before the idle timeout would.
static void
test_slow_clients (void)
{
    fy_http_limits_t limits;
    fy_http_limits_default (&limits);
    limits.connection_limit = 16;
    limits.max_conns_per_ip = 8;
    limits.header_timeout_s = 1;
    limits.timeout_s = 30;
    s_server_swap (&limits);
    s_trickle_t slow = { 0, 0, 0, false, false };
    s_client_t client;
    s_client_start (&client, s_trickle_run, &slow);
    s_client_wait (&client);
    is_int (slow.refused, S_SLOW - 8, "over 8 from one address: refused");
    is_int (slow.timed_out, 8,
            "the 8 trickling heads: closed by the "
            "header timeout");
    is_int (slow.open, 0, "no slow client left open");
    ok (slow.other_served, "another address served while they trickle");
    ok (slow.same_served, "their address served again after");
    is_int (fy_http_server_refused (s_loop.server, FY_HTTP_REFUSED_PER_IP),
            S_SLOW - 8, "per-address refusals counted");
    is_int (
        fy_http_server_refused (s_loop.server, FY_HTTP_REFUSED_HEADER_TIMEOUT),
        8, "header timeouts counted");
    is_str (fy_http_refusal_name (FY_HTTP_REFUSED_PER_IP), "per_ip_limit",
            "refusal names for metric labels");
    s_server_swap (NULL);
}

//  Many requests over one connection, each answered after a few turns.
static void
s_keepalive_run (void *arg)
{
    s_get_t *get = arg;
    CURL *curl = curl_easy_init ();
    int good = 0;
    long connects = 0;
    for (int index = 0; index < 50; index++) {
        s_get_reset (get, index % 2 ? "/hello" : "/defer/2");
        struct curl_slist *list;
        s_curl_setup (curl, get, &list);
        if (curl_easy_perform (curl) == CURLE_OK) {
            s_curl_finish (curl, get);
            good += get->status == 200;
            connects += get->connects;
        }
        curl_slist_free_all (list);
    }
    curl_easy_cleanup (curl);
    get->status = good;
    get->connects = connects;
}

static void
test_keepalive (void)
{
    s_get_t get = { .got = NULL };
    s_client_t client;
    s_client_start (&client, s_keepalive_run, &get);
    s_client_wait (&client);
    is_int (get.status, 50, "keep-alive: 50 answers of 200");
    is_int (get.connects, 1, "keep-alive: over one connection");
    free (get.got);
}

typedef struct {
    char got [16384];
    size_t size;
} s_raw_t;

static void
s_pipeline_run (void *arg)
{
    s_raw_t *raw = arg;
    int fd = s_connect ();
    if (fd < 0)
        return;
    char requests [4096] = "";
    for (int index = 0; index < 10; index++) {
        char one [128];
        snprintf (one, sizeof one,
                  index % 3 ? "GET /defer/%d HTTP/1.1\r\n"
                              "Host: x\r\n\r\n"
                            : "GET /hello?%d HTTP/1.1\r\n"
                              "Host: x\r\n\r\n",
                  index + 1);
        strncat (requests, one, sizeof requests - strlen (requests) - 1);
    }
    strncat (requests,
             "GET /hello HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n\r\n",
             sizeof requests - strlen (requests) - 1);
    s_send_all (fd, requests, strlen (requests));
    raw->size = s_read_all (fd, raw->got, sizeof raw->got);
    close (fd);
}

static void
test_pipelining (void)
{
    s_raw_t raw = { .size = 0 };
    s_client_t client;
    s_client_start (&client, s_pipeline_run, &raw);
    s_client_wait (&client);
    is_int (s_count (raw.got, "HTTP/1.1 200"), 11,
            "pipelining: 11 answers of 200");
    //  In order: the deferred ones take longer, yet come in their place.
    const char *at = raw.got;
    bool ordered = true;
    for (int index = 0; index < 10 && ordered; index++) {
        char want [32];
        snprintf (want, sizeof want, index % 3 ? "deferred /defer/%d" : "hello",
                  index + 1);
        at = strstr (at, want);
        ordered = at != NULL;
    }
    ok (ordered, "pipelining: answers in request order");
}

typedef struct {
    int good;
    int total;
} s_many_t;

static void
s_many_run (void *arg)
{
    s_many_t *many = arg;
    enum {
        COUNT = 200
    };
    CURLM *multi = curl_multi_init ();
    s_get_t *gets = fy_xcalloc (COUNT, sizeof (s_get_t));
    CURL *curls [COUNT];
    struct curl_slist *lists [COUNT];
    for (int index = 0; index < COUNT; index++) {
        s_get_reset (&gets [index], index % 2 ? "/hello" : "/defer/5");
        curls [index] = curl_easy_init ();
        s_curl_setup (curls [index], &gets [index], &lists [index]);
        curl_multi_add_handle (multi, curls [index]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform (multi, &running);
        if (running)
            curl_multi_poll (multi, NULL, 0, 100, NULL);
    }
    for (int index = 0; index < COUNT; index++) {
        s_curl_finish (curls [index], &gets [index]);
        const char *want = index % 2 ? "hello" : "deferred /defer/5";
        many->good += gets [index].status == 200 && gets [index].got
                      && strcmp (gets [index].got, want) == 0;
        curl_multi_remove_handle (multi, curls [index]);
        curl_easy_cleanup (curls [index]);
        curl_slist_free_all (lists [index]);
        free (gets [index].got);
    }
    many->total = COUNT;
    free (gets);
    curl_multi_cleanup (multi);
}

static void
test_concurrent (void)
{
    s_many_t many = { 0, 0 };
    s_client_t client;
    s_client_start (&client, s_many_run, &many);
    s_client_wait (&client);
    is_int (many.good, 200, "200 concurrent requests all answered right");
    is_int (s_settled_requests (), 0, "concurrent: every request released");
}

typedef struct {
    s_get_t get;
    size_t bad;
    int64_t stall_ms;
    int64_t started;
} s_slow_t;

//  A client that stalls before it reads, then checks every byte.
static size_t
s_slow_write (char *data, size_t size, size_t count, void *arg)
{
    s_slow_t *slow = arg;
    int64_t left = slow->started + slow->stall_ms - fy_clock_mono_ms ();
    if (left > 0)
        usleep ((useconds_t) left * 1000);
    for (size_t index = 0; index < size * count; index++)
        slow->bad += data [index] != s_pattern (slow->get.got_size + index);
    slow->get.got_size += size * count;
    return size * count;
}

static int
s_small_rcvbuf (void *arg, curl_socket_t fd, curlsocktype purpose)
{
    (void) arg;
    (void) purpose;
    int size = 8192;
    setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    return CURL_SOCKOPT_OK;
}

static void
s_slow_run (void *arg)
{
    s_slow_t *slow = arg;
    CURL *curl = curl_easy_init ();
    curl_easy_setopt (curl, CURLOPT_URL, slow->get.url);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_slow_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, slow);
    curl_easy_setopt (curl, CURLOPT_SOCKOPTFUNCTION, s_small_rcvbuf);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 15000L);
    slow->started = fy_clock_mono_ms ();
    curl_easy_perform (curl);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &slow->get.status);
    curl_easy_cleanup (curl);
}

static void
test_stream (void)
{
    size_t total = 4 * 1024 * 1024;
    s_slow_t slow = { .stall_ms = 400 };
    s_get_reset (&slow.get, "");
    snprintf (slow.get.url, sizeof slow.get.url,
              "http://127.0.0.1:%d/stream/%zu", s_port, total);
    s_loop.writables = s_loop.refused = s_loop.zero_timeouts = 0;
    s_client_t client;
    s_client_start (&client, s_slow_run, &slow);
    s_client_wait (&client);
    is_int (slow.get.status, 200, "stream: 200");
    is_int (slow.get.got_size, total, "stream: every byte arrived");
    is_int (slow.bad, 0, "stream: bytes in order");
    ok (s_loop.writables > 0,
        "stream: producer paused and was resumed "
        "(%d writable calls)",
        s_loop.writables);
    ok (s_loop.refused > 0,
        "stream: a write into a full buffer is refused "
        "(%d times)",
        s_loop.refused);
    ok (s_loop.max_room_seen <= 64 * 1024,
        "stream: room never above the "
        "limit (%zu)",
        s_loop.max_room_seen);
    ok (s_loop.stream.req == NULL, "stream: ended");
    is_int (s_settled_requests (), 0, "stream: request released");
}

//  A producer slower than the client: the stream runs dry between parts,
//  so MHD must park the connection rather than spin, and each write must
//  wake it.
static void
test_stream_trickle (void)
{
    s_get_t get = { .got = NULL };
    s_get_reset (&get, "/stream/5");
    s_loop.starve = true;
    s_loop.zero_timeouts = 0;
    s_client_t client;
    s_client_start (&client, s_get_run, &get);
    int64_t deadline = fy_clock_mono_ms () + 3000;
    while (!s_loop.stream.req && fy_clock_mono_ms () < deadline)
        s_turn (&s_loop, 5);
    fy_http_request_t *req = s_loop.stream.req;
    s_loop.stream.req = NULL;
    int turns = 0;
    for (int part = 0; req && part < 5; part++) {
        int64_t until = fy_clock_mono_ms () + 60;
        while (fy_clock_mono_ms () < until) {
            s_turn (&s_loop, 20);
            turns++;
        }
        char text [16];
        int len = snprintf (text, sizeof text, "part%d\n", part);
        if (fy_http_stream_write (req, text, (size_t) len) != 0)
            break;
    }
    if (req)
        fy_http_stream_end (req);
    s_loop.starve = false;
    s_client_wait (&client);
    is_int (get.status, 200, "trickle: 200");
    is_str (get.got, "part0\npart1\npart2\npart3\npart4\n",
            "trickle: every part, in order");
    ok (s_loop.zero_timeouts < 20,
        "trickle: the loop did not spin while "
        "the stream was dry (%d zero timeouts in %d turns)",
        s_loop.zero_timeouts, turns);
    is_int (s_settled_requests (), 0, "trickle: request released");
    free (get.got);
}

static void
s_hangup_run (void *arg)
{
    const char *path = arg;
    int fd = s_connect ();
    if (fd < 0)
        return;
    char request [128];
    snprintf (request, sizeof request, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n",
              path);
    s_send_all (fd, request, strlen (request));
    usleep (300 * 1000);
    close (fd);
}

static void
test_cancel (void)
{
    //  A deferred request whose client leaves: cancel fires, answering it
    //  afterwards only frees it.
    int cancels = s_loop.cancels;
    s_client_t client;
    s_client_start (&client, s_hangup_run, "/hang");
    s_client_wait (&client);
    int64_t deadline = fy_clock_mono_ms () + 3000;
    while (s_loop.cancels == cancels && fy_clock_mono_ms () < deadline)
        s_turn (&s_loop, 20);
    is_int (s_loop.cancels, cancels + 1,
            "hang-up during deferral: cancel "
            "callback fired");
    ok (s_loop.held_count == 1
            && fy_http_request_is_cancelled (s_loop.held [0].req),
        "the held request is marked cancelled");
    if (s_loop.held_count == 1) {
        ok (fy_http_request_header (s_loop.held [0].req, "Host") == NULL,
            "a cancelled request's headers are gone");
        fy_http_respond (s_loop.held [0].req, 200, NULL, "", 0);
        s_loop.held_count = 0;
    }
    is_int (fy_http_server_requests (s_loop.server), 0,
            "answering the cancelled request released it");

    //  A stream whose client leaves while the producer is idle.
    cancels = s_loop.cancels;
    s_client_start (&client, s_hangup_run, "/stream/0");
    //  Keep the stream open and empty: hold it out of s_tick.
    s_loop.starve = true;
    int64_t until = fy_clock_mono_ms () + 100;
    while (!s_loop.stream.req && fy_clock_mono_ms () < until)
        s_turn (&s_loop, 5);
    fy_http_request_t *req = s_loop.stream.req;
    s_loop.stream.req = NULL;
    s_loop.starve = false;
    ok (req != NULL, "stream request arrived");
    s_client_wait (&client);
    deadline = fy_clock_mono_ms () + 3000;
    while (s_loop.cancels == cancels && fy_clock_mono_ms () < deadline)
        s_turn (&s_loop, 20);
    is_int (s_loop.cancels, cancels + 1,
            "hang-up during stream: cancel "
            "callback fired");
    if (req) {
        errno = 0;
        ok (fy_http_stream_write (req, "x", 1) == -1 && errno == ECONNRESET,
            "write to a cancelled stream: ECONNRESET");
        fy_http_stream_end (req);
    }
    is_int (fy_http_server_requests (s_loop.server), 0,
            "ending the cancelled stream released it");
}

typedef struct {
    const char *data;
    size_t size;
    bool answered;      //  the server wrote something back
} s_junk_t;

static void
s_junk_send (s_junk_t *junk)
{
    int fd = s_connect ();
    if (fd < 0)
        return;
    s_send_all (fd, junk->data, junk->size);
    shutdown (fd, SHUT_WR);
    char got [4096];
    junk->answered = s_read_all (fd, got, sizeof got) > 0;
    close (fd);
}

typedef struct {
    int sent;
    int slowloris_closed;
    int64_t slowloris_ms;
    int big_header_status;
    int smuggle_answers;
} s_fuzz_t;

static void
s_fuzz_run (void *arg)
{
    s_fuzz_t *fuzz = arg;
    unsigned int seed = 42;
    char junk [8192];
    for (int round = 0; round < 150; round++) {
        size_t size = 1 + (size_t) rand_r (&seed) % sizeof junk;
        for (size_t index = 0; index < size; index++)
            junk [index] = (char) rand_r (&seed);
        //  Half the time, start like a real request to get further in.
        if (round % 2)
            memcpy (junk, "POST / HTTP/1.1\r\n", size < 17 ? size : 17);
        s_junk_t one = { junk, size, false };
        s_junk_send (&one);
        fuzz->sent++;
    }
    static const char *smuggles [] = {
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\n"
        "Host: x\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        "Content-Length: 40\r\n\r\nabcd",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999"
        "999999\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "fffffffffffffffffffff\r\nab\r\n0\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "3\r\nabcdef\r\n0\r\n\r\n",
        "GET /hello HTTP/1.1\nHost: x\n\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET /hel lo HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /hello HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET /%00%zz%%/..%2f..%2fetc HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET http://evil/hello HTTP/1.1\r\nHost: x\r\n\r\n",
        "\r\n\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
        "GET /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, "
        "identity\r\n\r\n0\r\n\r\n",
        NULL
    };
    for (int index = 0; smuggles [index]; index++) {
        s_junk_t one = { smuggles [index], strlen (smuggles [index]), false };
        s_junk_send (&one);
        fuzz->smuggle_answers += one.answered;
        fuzz->sent++;
    }
    //  A 100 KB header: MHD refuses it itself.
    size_t size = 100 * 1024;
    char *big = fy_xmalloc (size + 64);
    int used = snprintf (big, 64, "GET /hello HTTP/1.1\r\nX-Big: ");
    memset (big + used, 'h', size);
    memcpy (big + used + size, "\r\n\r\n", 4);
    int fd = s_connect ();
    if (fd >= 0) {
        s_send_all (fd, big, (size_t) used + size + 4);
        char got [4096] = "";
        s_read_all (fd, got, sizeof got);
        sscanf (got, "HTTP/1.%*d %d", &fuzz->big_header_status);
        close (fd);
    }
    free (big);
    //  Slowloris: half a header, then nothing. The server (timeout 1 s)
    //  must close the connection on its own.
    fd = s_connect ();
    if (fd >= 0) {
        s_send_all (fd, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow:", 38);
        int64_t start = fy_clock_mono_ms ();
        char got [256];
        ssize_t rc = recv (fd, got, sizeof got, 0);
        fuzz->slowloris_ms = fy_clock_mono_ms () - start;
        fuzz->slowloris_closed = rc == 0 || (rc < 0 && errno == ECONNRESET);
        close (fd);
    }
}

static void
test_fuzz (void)
{
    s_fuzz_t fuzz = { 0, 0, 0, 0, 0 };
    s_client_t client;
    s_client_start (&client, s_fuzz_run, &fuzz);
    s_client_wait (&client);
    ok (fuzz.sent > 150, "fuzz: %d junk connections sent", fuzz.sent);
    ok (fuzz.smuggle_answers >= 10,
        "fuzz: smuggling-like inputs answered "
        "(%d), not hung",
        fuzz.smuggle_answers);
    ok (fuzz.big_header_status == 431 || fuzz.big_header_status == 413,
        "fuzz: 100 KB header refused (%d)", fuzz.big_header_status);
    ok (fuzz.slowloris_closed, "fuzz: slowloris closed after %" PRId64 " ms",
        fuzz.slowloris_ms);
    ok (fuzz.slowloris_ms < 4000, "fuzz: slowloris within the timeout");
    //  Junk never became a held request.
    ok (s_loop.held_count == 0 && s_loop.stream.req == NULL,
        "fuzz: nothing left held");
    s_get_t get = { .got = NULL };
    s_get_reset (&get, "/hello");
    s_fetch (&get);
    is_int (get.status, 200, "fuzz: still serving afterwards");
    free (get.got);
}

typedef struct {
    char got [3][4096];
    size_t sizes [3];
} s_pending_t;

static void
s_pending_run (void *arg)
{
    s_pending_t *pending = arg;
    int fds [3];
    static const char *requests [] = {
        "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /hang HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /stream/1000000000 HTTP/1.1\r\nHost: x\r\n\r\n"
    };
    for (int index = 0; index < 3; index++) {
        fds [index] = s_connect ();
        if (fds [index] >= 0)
            s_send_all (fds [index], requests [index],
                        strlen (requests [index]));
    }
    for (int index = 0; index < 3; index++)
        if (fds [index] >= 0) {
            pending->sizes [index] = s_read_all (
                fds [index], pending->got [index], sizeof pending->got [index]);
            close (fds [index]);
        }
}

static void
test_destroy_pending (void)
{
    int cancels = s_loop.cancels;
    s_pending_t pending;
    memset (&pending, 0, sizeof pending);
    s_client_t client;
    s_client_start (&client, s_pending_run, &pending);
    int64_t deadline = fy_clock_mono_ms () + 3000;
    while ((s_loop.held_count < 2 || !s_loop.stream.req)
           && fy_clock_mono_ms () < deadline)
        s_turn (&s_loop, 5);
    ok (s_loop.held_count == 2 && s_loop.stream.req,
        "destroy: two requests held, one streaming");
    //  Stop feeding the stream; the server still owns it.
    s_loop.stream.req = NULL;
    fy_http_server_destroy (&s_loop.server);
    s_loop.held_count = 0;
    pthread_join (client.thread, NULL);
    is_int (s_loop.cancels, cancels + 3, "destroy: cancel fired for each");
    for (int index = 0; index < 2; index++) {
        ok (strncmp (pending.got [index], "HTTP/1.1 503", 12) == 0,
            "destroy: held request %d got 503", index);
        const char *body = strstr (pending.got [index], "\r\n\r\n");
        is_str (s_error_code (body ? body + 4 : ""), "shutting_down",
                "destroy: 503 is JSON");
    }
    ok (strncmp (pending.got [2], "HTTP/1.1 200", 12) == 0
            && strstr (pending.got [2], "\r\n0\r\n\r\n") == NULL,
        "destroy: stream cut without its final chunk");
}

//  Requests per second of an immediate 200 over keep-alive connections.
static void
s_bench_run (void *arg)
{
    double *rate = arg;
    enum {
        CONNS = 8,
        EACH = 1500
    };
    CURLM *multi = curl_multi_init ();
    CURL *curls [CONNS];
    s_get_t gets [CONNS];
    int left [CONNS];
    memset (gets, 0, sizeof gets);
    for (int index = 0; index < CONNS; index++) {
        s_get_reset (&gets [index], "/hello");
        curls [index] = curl_easy_init ();
        curl_easy_setopt (curls [index], CURLOPT_URL, gets [index].url);
        curl_easy_setopt (curls [index], CURLOPT_WRITEFUNCTION, s_curl_write);
        curl_easy_setopt (curls [index], CURLOPT_WRITEDATA, &gets [index]);
        curl_multi_add_handle (multi, curls [index]);
        left [index] = EACH;
    }
    int64_t start = fy_clock_mono_ns ();
    int running = CONNS, done = 0;
    while (running > 0) {
        int still;
        curl_multi_perform (multi, &still);
        CURLMsg *msg;
        int queued;
        while ((msg = curl_multi_info_read (multi, &queued))) {
            CURL *curl = msg->easy_handle;
            curl_multi_remove_handle (multi, curl);
            done++;
            for (int index = 0; index < CONNS; index++)
                if (curls [index] == curl) {
                    gets [index].got_size = 0;
                    if (--left [index] > 0)
                        curl_multi_add_handle (multi, curl);
                    else
                        running--;
                }
        }
        if (running > 0)
            curl_multi_poll (multi, NULL, 0, 100, NULL);
    }
    *rate = done / ((double) (fy_clock_mono_ns () - start) / 1e9);
    for (int index = 0; index < CONNS; index++) {
        curl_easy_cleanup (curls [index]);
        free (gets [index].got);
    }
    curl_multi_cleanup (multi);
}

int
main (void)
{
    plan (NO_PLAN);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    fy_http_limits_t limits;
    fy_http_limits_default (&limits);
    limits.max_body = 1000;
    limits.timeout_s = 1;
    limits.stream_buffer = 64 * 1024;
    limits.cancel_check_ms = 50;
    fy_error_t err = { "" };
    s_loop.server =
        fy_http_server_new ("127.0.0.1", 0, &limits, s_handler, &s_loop, &err);
    if (!s_loop.server)
        BAIL_OUT ("cannot start: %s", err.text);
    s_port = fy_http_server_port (s_loop.server);
    ok (s_port > 0, "ephemeral port %d", s_port);
    ok (fy_http_server_fd (s_loop.server) >= 0, "pollable fd");

    test_new ();
    test_immediate ();
    test_deferred ();
    test_body_limit ();
    test_chunked_large ();
    test_smuggling ();
    test_slow_clients ();
    test_keepalive ();
    test_pipelining ();
    test_concurrent ();
    test_stream ();
    test_stream_trickle ();
    test_cancel ();
    test_fuzz ();

    double rate = 0;
    s_client_t client;
    s_client_start (&client, s_bench_run, &rate);
    s_client_wait (&client);
    diag ("immediate 200, keep-alive, 8 connections: %.0f requests/s", rate);
    ok (rate > 0, "benchmark ran");

    test_destroy_pending ();
    ok (s_loop.server == NULL, "server destroyed");

    //  No handler: 404 JSON for everything.
    s_loop.server = fy_http_server_new ("127.0.0.1", 0, NULL, NULL, NULL, &err);
    s_port = fy_http_server_port (s_loop.server);
    s_get_t get = { .got = NULL };
    s_get_reset (&get, "/anything");
    s_fetch (&get);
    is_int (get.status, 404, "no handler: 404");
    is_str (s_error_code (get.got), "not_found", "no handler: 404 is JSON");
    free (get.got);
    fy_http_server_destroy (&s_loop.server);
    curl_global_cleanup ();
    done_testing ();
}
