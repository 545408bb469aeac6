/*  fy_http_client against a real HTTP/1.1 server (tests/stubs/http_stub.py,
    a thread per connection): bodies and headers both ways, 20 slow
    requests overlapping on one thread, keep-alive counted on both sides,
    timeouts, size limits, refused connections, cancel and timers. */
#include "http/fy_http_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "stubs/stub.h"
#include "tap.h"

typedef struct {
    bool done;
    int error;
    int status;
    char *body;
    size_t len;
    char *header;               //  Value of the header named in want
    const char *want;
    int64_t elapsed_ms;
    int order;                  //  Completion rank among a group
    CURLcode code;
    long response_code;
} reply_t;

static int s_completed;

static void
s_on_done (const fy_http_result_t *result, void *arg)
{
    reply_t *reply = arg;
    reply->done = true;
    reply->error = fy_http_result_error (result);
    reply->status = fy_http_result_status (result);
    const char *body = fy_http_result_body (result, &reply->len);
    reply->body = fy_xstrndup (body, reply->len);
    if (reply->want) {
        const char *value = fy_http_result_header (result, reply->want);
        reply->header = value ? fy_xstrdup (value) : NULL;
    }
    reply->elapsed_ms = fy_http_result_elapsed_ms (result);
    reply->code = fy_http_result_curl_code (result);
    reply->response_code = fy_http_result_response_code (result);
    reply->order = ++s_completed;
}

static void
s_reply_reset (reply_t *reply)
{
    free (reply->body);
    free (reply->header);
    memset (reply, 0, sizeof *reply);
}

static char s_base [64];

static void
s_get (fy_http_client_t *client, const char *path, reply_t *reply,
       int64_t total_ms, size_t max_body)
{
    char *url = fy_xasprintf ("%s%s", s_base, path);
    fy_http_call_t *call = fy_http_call_new ("GET", url);
    free (url);
    fy_http_call_set_timeouts (call, 0, total_ms);
    fy_http_call_set_max_body (call, max_body);
    if (fy_http_client_start (client, &call, s_on_done, reply, NULL, NULL))
        BAIL_OUT ("start %s", path);
}

//  Run the client until every reply of the array is done, at most max_ms.
static bool
s_wait_all (fy_http_client_t *client, reply_t *replies, size_t count,
            int64_t max_ms)
{
    int64_t until = fy_clock_mono_ms () + max_ms;
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < count; i++)
            done += replies [i].done;
        if (done == count)
            return true;
        int64_t left = until - fy_clock_mono_ms ();
        if (left <= 0)
            return false;
        if (fy_http_client_wait (client, left))
            BAIL_OUT ("poll: %s", strerror (errno));
    }
}

//  Setup hooks: one overrides the client's method, one refuses.
static CURLcode
s_setup_put (CURL *easy, void *arg)
{
    (*(int *) arg)++;
    return curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, "PUT");
}

static CURLcode
s_setup_refuse (CURL *easy, void *arg)
{
    (void) easy;
    (*(int *) arg)++;
    return CURLE_UNSUPPORTED_PROTOCOL;
}

//  The setup hook fy_smtp runs its transfers through, and the raw codes.
static void
test_setup_hook (fy_http_client_t *client)
{
    int calls = 0;
    char *url = fy_xasprintf ("%s/echo", s_base);
    fy_http_call_t *call = fy_http_call_new ("POST", url);
    fy_http_call_set_body (call, "b", 1);
    fy_http_call_set_setup (call, s_setup_put, &calls);
    reply_t echo = { .want = "X-Method" };
    ok (fy_http_client_start (client, &call, s_on_done, &echo, NULL, NULL) == 0,
        "call with a setup hook started");
    is_int (calls, 1, "hook called once, at start");
    ok (s_wait_all (client, &echo, 1, 5000), "it completes");
    is_str (echo.header, "PUT", "the hook's option overrides the client's");
    is_int ((int) echo.code, CURLE_OK, "curl code CURLE_OK");
    is_int ((int) echo.response_code, 200, "response code 200");
    s_reply_reset (&echo);

    call = fy_http_call_new ("GET", url);
    fy_http_call_set_setup (call, s_setup_refuse, &calls);
    fy_error_t err = { { 0 } };
    errno = 0;
    ok (fy_http_client_start (client, &call, s_on_done, &echo, NULL, &err) == -1
            && errno == EIO && call == NULL,
        "a hook's error fails the start: %s", err.text);
    is_int ((int) fy_http_client_active (client), 0, "nothing left running");

    //  No method: the client sets none, curl's default for the scheme
    //  (GET for http) applies.
    free (url);
    url = fy_xasprintf ("%s/status?code=404", s_base);
    call = fy_http_call_new (NULL, url);
    ok (fy_http_call_method (call) == NULL, "a call without a method");
    ok (fy_http_client_start (client, &call, s_on_done, &echo, NULL, NULL) == 0
            && s_wait_all (client, &echo, 1, 5000),
        "it runs");
    is_int (echo.status, 404, "status 404");
    is_int ((int) echo.response_code, 404, "response code 404");
    s_reply_reset (&echo);
    free (url);
    ok (!s_wait_all (client, &echo, 1, 50), "refused start never called");
}

static int s_fired [4];
static int s_fire_rank;

static void
s_on_timer (void *arg)
{
    int *slot = arg;
    *slot = ++s_fire_rank;
}

int
main (void)
{
    plan (NO_PLAN);
    stub_t stub;
    stub_start (&stub, "http_stub.py");
    snprintf (s_base, sizeof s_base, "http://127.0.0.1:%d", stub.port);

    fy_http_client_t *client = fy_http_client_new (NULL, NULL);
    ok (client != NULL, "client created");
    ok (fy_http_client_fd (client) >= 0, "client has an fd to poll");
    is_int (fy_http_client_timeout_ms (client), -1, "idle: no timeout");

    //  ---- A plain GET: status, body, a header.
    reply_t one = { .want = "content-type" };
    s_get (client, "/status?code=202", &one, 0, 0);
    is_int (fy_http_client_active (client), 1, "one request active");
    is_int (fy_http_client_timeout_ms (client), 0,
            "a new request wants a run now");
    ok (s_wait_all (client, &one, 1, 5000), "GET completes");
    is_int (one.error, 0, "no transport error");
    is_int (one.status, 202, "status 202");
    is_str (one.body, "status 202", "body");
    is_str (one.header, "text/plain", "header looked up case-insensitively");
    is_int (fy_http_client_active (client), 0, "nothing active");
    s_reply_reset (&one);

    //  ---- POST and PUT with a body and a request header.
    const char *methods [] = { "POST", "PUT" };
    for (int i = 0; i < 2; i++) {
        char *url = fy_xasprintf ("%s/echo", s_base);
        fy_http_call_t *call = fy_http_call_new (methods [i], url);
        free (url);
        fy_http_call_add_header (call, "X-Test", "hello there");
        fy_http_call_set_body (call, "{\"a\":1}", 7);
        reply_t echo = { .want = "X-Got-Test" };
        ok (fy_http_client_start (client, &call, s_on_done, &echo, NULL, NULL)
                    == 0
                && call == NULL,
            "%s: start takes the call", methods [i]);
        ok (s_wait_all (client, &echo, 1, 5000), "%s completes", methods [i]);
        is_str (echo.body, "{\"a\":1}", "%s: body echoed", methods [i]);
        is_str (echo.header, "hello there", "%s: request header arrived",
                methods [i]);
        s_reply_reset (&echo);
    }

    //  ---- Keep-alive: sequential requests re-use one connection.
    reply_t count = { 0 };
    s_get (client, "/connections", &count, 0, 0);
    ok (s_wait_all (client, &count, 1, 5000), "connection count read");
    long before = strtol (count.body, NULL, 10);
    size_t connects = fy_http_client_connects (client);
    s_reply_reset (&count);
    for (int i = 0; i < 10; i++) {
        reply_t seq = { 0 };
        s_get (client, "/status?code=200", &seq, 0, 0);
        if (!s_wait_all (client, &seq, 1, 5000) || seq.status != 200)
            BAIL_OUT ("sequential request %d failed", i);
        s_reply_reset (&seq);
    }
    s_get (client, "/connections", &count, 0, 0);
    ok (s_wait_all (client, &count, 1, 5000), "connection count read again");
    is_int (strtol (count.body, NULL, 10), before,
            "server: 11 more requests on no new connection");
    is_int (fy_http_client_connects (client), connects,
            "client: no new connection either");
    s_reply_reset (&count);

    //  ---- A kept-alive connection rests in the epoll set between calls.
    //  Closed by the server while resting: taken out, not spun on.
    reply_t drop = { 0 };
    s_get (client, "/drop?ms=50", &drop, 0, 0);
    ok (s_wait_all (client, &drop, 1, 5000) && drop.status == 200,
        "a connection the server closes 50 ms after its answer");
    s_reply_reset (&drop);
    int waits = 0;
    int64_t quiet_until = fy_clock_mono_ms () + 300;
    while (fy_clock_mono_ms () < quiet_until) {
        if (fy_http_client_wait (client, quiet_until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait");
        waits++;
    }
    ok (waits < 20, "its close seen while resting: %d waits in 300 ms", waits);
    connects = fy_http_client_connects (client);
    s_get (client, "/status?code=200", &drop, 0, 0);
    ok (s_wait_all (client, &drop, 1, 5000) && drop.status == 200
            && fy_http_client_connects (client) == connects + 1,
        "the next call on a new connection");
    s_reply_reset (&drop);
    //  Closed by curl (Connection: close): its descriptor's number may
    //  come back for the next connection, which must be watched anew.
    for (int i = 0; i < 3; i++) {
        s_get (client, "/drop?ms=0", &drop, 0, 0);
        if (!s_wait_all (client, &drop, 1, 5000) || drop.status != 200)
            BAIL_OUT ("Connection: close call %d failed", i);
        s_reply_reset (&drop);
    }
    s_get (client, "/status?code=200", &drop, 0, 0);
    ok (s_wait_all (client, &drop, 1, 5000) && drop.status == 200,
        "calls after connections curl closed");
    s_reply_reset (&drop);

    //  ---- 20 slow requests at once finish in about the time of one.
    reply_t slow [20];
    memset (slow, 0, sizeof slow);
    int64_t start = fy_clock_mono_ms ();
    for (int i = 0; i < 20; i++)
        s_get (client, "/slow?ms=600", &slow [i], 0, 0);
    is_int (fy_http_client_active (client), 20, "20 requests active");
    ok (s_wait_all (client, slow, 20, 15000), "20 slow requests complete");
    int64_t took = fy_clock_mono_ms () - start;
    int good = 0;
    for (int i = 0; i < 20; i++)
        good +=
            slow [i].status == 200 && strcmp (slow [i].body, "slow 600") == 0;
    is_int (good, 20, "all 20 answered 200");
    ok (took < 2500, "in parallel: %lld ms for 20 x 600 ms", (long long) took);
    for (int i = 0; i < 20; i++)
        s_reply_reset (&slow [i]);

    //  ---- A long request does not hold up short ones behind it.
    reply_t mixed [4];
    memset (mixed, 0, sizeof mixed);
    s_completed = 0;
    s_get (client, "/slow?ms=1500", &mixed [0], 0, 0);
    for (int i = 1; i < 4; i++)
        s_get (client, "/status?code=200", &mixed [i], 0, 0);
    ok (s_wait_all (client, mixed, 4, 10000), "long and short complete");
    is_int (mixed [0].order, 4, "the long one completes last");
    ok (mixed [1].elapsed_ms < 1000, "a short one took %lld ms",
        (long long) mixed [1].elapsed_ms);
    for (int i = 0; i < 4; i++)
        s_reply_reset (&mixed [i]);

    //  ---- Timeouts and limits.
    reply_t hang = { 0 };
    s_get (client, "/hang", &hang, 300, 0);
    ok (s_wait_all (client, &hang, 1, 5000), "hanging request ends");
    is_int (hang.error, ETIMEDOUT, "ETIMEDOUT");
    is_int (hang.status, 0, "no status");
    ok (hang.elapsed_ms >= 290 && hang.elapsed_ms < 2000,
        "after the 300 ms total timeout (%lld ms)",
        (long long) hang.elapsed_ms);
    s_reply_reset (&hang);

    reply_t big = { 0 };
    s_get (client, "/big?bytes=5000000", &big, 0, 0);
    ok (s_wait_all (client, &big, 1, 10000), "5 MB body arrives");
    is_int (big.len, 5000000, "whole 5 MB body");
    ok (big.body [0] == 'x' && big.body [4999999] == 'x', "its bytes");
    s_reply_reset (&big);

    s_get (client, "/big?bytes=100000", &big, 0, 1000);
    ok (s_wait_all (client, &big, 1, 10000), "oversized body ends");
    is_int (big.error, EMSGSIZE, "EMSGSIZE past max_body");
    s_reply_reset (&big);

    //  A large request body goes out at once (no "Expect: 100-continue"
    //  pause) and comes back whole.
    size_t large = 3 * 1024 * 1024;
    char *payload = fy_xmalloc (large);
    memset (payload, 'p', large);
    char *url = fy_xasprintf ("%s/echo", s_base);
    fy_http_call_t *call = fy_http_call_new ("POST", url);
    free (url);
    fy_http_call_set_body (call, payload, large);
    free (payload);
    reply_t echo = { 0 };
    if (fy_http_client_start (client, &call, s_on_done, &echo, NULL, NULL))
        BAIL_OUT ("start large POST");
    ok (s_wait_all (client, &echo, 1, 10000), "3 MiB POST completes");
    is_int (echo.len, large, "3 MiB echoed");
    ok (echo.elapsed_ms < 900, "without a 100-continue wait (%lld ms)",
        (long long) echo.elapsed_ms);
    s_reply_reset (&echo);

    //  ---- Nobody listening.
    char refused_url [64];
    snprintf (refused_url, sizeof refused_url, "http://127.0.0.1:%d/",
              tap_free_port ());
    call = fy_http_call_new ("GET", refused_url);
    reply_t refused = { 0 };
    if (fy_http_client_start (client, &call, s_on_done, &refused, NULL, NULL))
        BAIL_OUT ("start refused");
    ok (s_wait_all (client, &refused, 1, 5000), "refused request ends");
    is_int (refused.error, ECONNREFUSED, "ECONNREFUSED");
    is_int ((int) refused.code, CURLE_COULDNT_CONNECT, "curl's own code");
    is_int ((int) refused.response_code, 0, "no response code");
    s_reply_reset (&refused);

    //  ---- Cancel: no callback, nothing left active.
    reply_t cancelled = { 0 };
    char *slow_url = fy_xasprintf ("%s/slow?ms=800", s_base);
    call = fy_http_call_new ("GET", slow_url);
    free (slow_url);
    uint64_t id = 0;
    if (fy_http_client_start (client, &call, s_on_done, &cancelled, &id, NULL))
        BAIL_OUT ("start cancelled");
    ok (id != 0, "request has an id");
    ok (fy_http_client_wait (client, 100) == 0, "ran a while");
    ok (fy_http_client_cancel (client, id), "cancel finds it");
    ok (!fy_http_client_cancel (client, id), "second cancel finds nothing");
    is_int (fy_http_client_active (client), 0, "nothing active");
    int64_t until = fy_clock_mono_ms () + 1200;
    while (fy_clock_mono_ms () < until)
        if (fy_http_client_wait (client, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait");
    ok (!cancelled.done, "cancelled request never called back");

    //  ---- Timers fire in deadline order, cancelled ones never.
    s_fire_rank = 0;
    fy_http_client_timer (client, 120, s_on_timer, &s_fired [0]);
    fy_http_client_timer (client, 40, s_on_timer, &s_fired [1]);
    uint64_t dropped =
        fy_http_client_timer (client, 80, s_on_timer, &s_fired [2]);
    int64_t timeout = fy_http_client_timeout_ms (client);
    ok (timeout > 0 && timeout <= 40, "timeout follows the first timer (%lld)",
        (long long) timeout);
    ok (fy_http_client_timer_cancel (client, dropped), "timer cancelled");
    start = fy_clock_mono_ms ();
    while (s_fire_rank < 2 && fy_clock_mono_ms () - start < 2000)
        if (fy_http_client_wait (client, -1))
            BAIL_OUT ("wait");
    is_int (s_fired [1], 1, "40 ms timer first");
    is_int (s_fired [0], 2, "120 ms timer second");
    is_int (s_fired [2], 0, "cancelled timer never fired");
    took = fy_clock_mono_ms () - start;
    ok (took >= 110 && took < 1000, "timers waited, not spun (%lld ms)",
        (long long) took);
    is_int (fy_http_client_timeout_ms (client), -1, "idle again");

    test_setup_hook (client);

    //  ---- Destroy with a request in flight calls nothing back.
    reply_t orphan = { 0 };
    s_get (client, "/slow?ms=500", &orphan, 0, 0);
    ok (fy_http_client_wait (client, 50) == 0, "ran a while");
    fy_http_client_destroy (&client);
    ok (client == NULL, "destroy sets the pointer to NULL");
    ok (!orphan.done, "in-flight request not called back");
    fy_http_client_destroy (&client);

    stub_stop (&stub);
    return done_testing ();
}
