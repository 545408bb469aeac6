/*  fy_http_client: libcurl's multi "socket" interface on an epoll set.
    curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and when
    it next needs to be woken (CURLMOPT_TIMERFUNCTION); we mirror the
    sockets into an epoll set whose fd is the one the owner's loop polls,
    and fold curl's deadline and our own timers into one timeout. Each run
    hands the ready sockets to curl_multi_socket_action, then reaps
    finished transfers and calls their callbacks outside any curl
    callback, where starting and cancelling requests is allowed.

    Connections live in the multi handle's pool, not in easy handles, so a
    fresh easy handle per request still re-uses kept-alive connections. */
#include "http/fy_http_client.h"
#include "core/fy_list.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define S_CONNECT_MS 5000
#define S_TOTAL_MS 30000
#define S_MAX_BODY (8u * 1024 * 1024)

struct fy_http_call {
    char *method;
    char *url;
    struct curl_slist *headers;
    char *body;
    size_t body_len;
    int64_t connect_ms;
    int64_t total_ms;
    size_t max_body;
    fy_http_setup_fn *setup;
    void *setup_arg;
};

typedef struct s_request {
    fy_link_t link;             //  on the client's requests
    fy_http_client_t *client;
    fy_http_call_t *call;
    CURL *easy;
    uint64_t id;
    fy_http_done_fn *fn;
    void *arg;
    char *data;                 //  Response body, NUL-terminated
    size_t len, cap;
    bool too_big;
    int64_t started;
    char **copies;              //  Header values handed out, freed with us
    size_t ncopies;
    char errbuf [CURL_ERROR_SIZE];
} s_request_t;

typedef struct s_timer {
    struct s_timer *next;
    uint64_t id;
    int64_t deadline;
    fy_http_timer_fn *fn;
    void *arg;
} s_timer_t;

//  Easy handles kept for reuse, at most: two long polls and the batch
//  calls in flight beside them.
#define S_IDLE_HANDLES 16

struct fy_http_client {
    CURLM *multi;
    int epfd;
    int64_t curl_deadline;      //  Monotonic ms, -1 when curl waits for none
    fy_link_t requests;         //  s_request_t in flight, newest first
    s_timer_t *timers;          //  Sorted by deadline, then id
    uint64_t next_id;
    size_t active;
    size_t connects;
    //  The last answer's buffer, kept for the next: an SQS receive's answer
    //  (~11 KB) in a fresh malloc each time made glibc consolidate its
    //  free lists on every one.
    char *spare;
    size_t spare_cap;
    //  Easy handles of finished requests, reset, for the next ones:
    //  curl_easy_init and curl_easy_cleanup each time were 2% of the
    //  bridge's CPU (a handle is a few allocations and kilobytes to clear).
    CURL *idle [S_IDLE_HANDLES];
    size_t idle_count;
    //  By descriptor: left in the epoll set after curl removed it (see
    //  s_socket_cb), until it is wanted again or reports an event.
    bool *resting;
    size_t resting_count;
};

struct fy_http_result {
    s_request_t *request;
    int error;
    int status;
    const char *text;
    CURLcode code;
    long response_code;
};

void
fy_http_client_options_default (fy_http_client_options_t *options)
{
    assert (options);
    options->max_idle = 64;
    options->max_per_host = 0;
}

//  --------------------------------------------------------------------
//  curl's callbacks: keep the epoll set and the deadline in step.

static bool
s_is_resting (fy_http_client_t *self, curl_socket_t sock)
{
    return sock >= 0 && (size_t) sock < self->resting_count
           && self->resting [sock];
}

static void
s_set_resting (fy_http_client_t *self, curl_socket_t sock, bool resting)
{
    if (sock < 0)
        return;
    if ((size_t) sock >= self->resting_count) {
        if (!resting)
            return;
        size_t count = (size_t) sock + 64;
        self->resting =
            fy_xrealloc (self->resting, count * sizeof *self->resting);
        memset (self->resting + self->resting_count, 0,
                (count - self->resting_count) * sizeof *self->resting);
        self->resting_count = count;
    }
    self->resting [sock] = resting;
}

//  curl keeps a pointer per socket for us (curl_multi_assign): non-NULL
//  once the socket is in the epoll set, so a socket new to the set is
//  added at once rather than after a MOD that fails (about one in four
//  epoll_ctl calls of a drain did).
//
//  curl removes a kept-alive connection's socket at the end of each call
//  and hands it over again for the next: a DEL and an ADD per HTTP call.
//  A removed socket rests in the set instead, and the next call's MOD
//  takes it back; one that reports an event while resting (its peer
//  closed it, say) is taken out then, unseen by curl. A resting socket
//  curl closed left the set with its descriptor: the MOD fails and it is
//  added, as a new one is.
static int
s_socket_cb (CURL *easy, curl_socket_t sock, int what, void *userp,
             void *socketp)
{
    (void) easy;
    fy_http_client_t *self = userp;
    if (what == CURL_POLL_REMOVE) {
        //  curl forgets the pointer it kept.
        s_set_resting (self, sock, true);
        return 0;
    }
    struct epoll_event event = { .data.fd = sock };
    if (what & CURL_POLL_IN)
        event.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        event.events |= EPOLLOUT;
    bool resting = s_is_resting (self, sock);
    s_set_resting (self, sock, false);
    if ((socketp || resting)
        && epoll_ctl (self->epfd, EPOLL_CTL_MOD, sock, &event) == 0) {
        if (!socketp)
            curl_multi_assign (self->multi, sock, self);
        return 0;
    }
    //  Not in the set, or no longer (a closed descriptor whose number
    //  came back): add it.
    if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, sock, &event) == 0
        || (errno == EEXIST
            && epoll_ctl (self->epfd, EPOLL_CTL_MOD, sock, &event) == 0)) {
        curl_multi_assign (self->multi, sock, self);
        return 0;
    }
    return -1;
}

static int
s_timer_cb (CURLM *multi, long timeout_ms, void *userp)
{
    (void) multi;
    fy_http_client_t *self = userp;
    //  curl asks not to be driven from inside this callback: a timeout of
    //  0 becomes a deadline of now, which the loop sees at once.
    self->curl_deadline =
        timeout_ms < 0 ? -1 : fy_clock_mono_ms () + timeout_ms;
    return 0;
}

static size_t
s_write_cb (char *ptr, size_t size, size_t nmemb, void *userp)
{
    s_request_t *request = userp;
    size_t bytes = size * nmemb;
    if (request->len + bytes > request->call->max_body) {
        request->too_big = true;
        return 0;
    }
    if (request->len + bytes + 1 > request->cap) {
        size_t cap = request->cap ? request->cap : 4096;
        while (cap < request->len + bytes + 1)
            cap *= 2;
        request->data = fy_xrealloc (request->data, cap);
        request->cap = cap;
    }
    memcpy (request->data + request->len, ptr, bytes);
    request->len += bytes;
    request->data [request->len] = 0;
    return bytes;
}

//  --------------------------------------------------------------------

fy_http_client_t *
fy_http_client_new (const fy_http_client_options_t *options, fy_error_t *err)
{
    fy_http_client_options_t defaults;
    if (!options) {
        fy_http_client_options_default (&defaults);
        options = &defaults;
    }
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fy_error_set (err, "curl_global_init failed");
        errno = EIO;
        return NULL;
    }
    fy_http_client_t *self = fy_xcalloc (1, sizeof *self);
    self->curl_deadline = -1;
    self->next_id = 1;
    fy_list_init (&self->requests);
    self->epfd = epoll_create1 (EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        fy_error_set (err, "epoll_create1: %s", strerror (errno));
        goto fail;
    }
    self->multi = curl_multi_init ();
    if (!self->multi) {
        fy_error_set (err, "curl_multi_init failed");
        errno = EIO;
        goto fail;
    }
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_socket_cb);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_timer_cb);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, options->max_idle);
    curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                       options->max_per_host);
    return self;
fail:
    fy_http_client_destroy (&self);
    return NULL;
}

//  Buffers up to this size are kept for the next answer.
#define S_SPARE_MAX (1024 * 1024)

//  Every caller has taken the handle out of the multi handle first.
static void
s_request_free (s_request_t *request)
{
    fy_http_client_t *client = request->client;
    if (request->easy && client->idle_count < S_IDLE_HANDLES) {
        //  Its options back to the defaults; connections and the DNS
        //  cache are the multi handle's and stay.
        curl_easy_reset (request->easy);
        client->idle [client->idle_count++] = request->easy;
    }
    else if (request->easy)
        curl_easy_cleanup (request->easy);
    fy_http_call_destroy (&request->call);
    for (size_t i = 0; i < request->ncopies; i++)
        free (request->copies [i]);
    free (request->copies);
    if (request->data && request->cap <= S_SPARE_MAX
        && request->cap > client->spare_cap) {
        free (client->spare);
        client->spare = request->data;
        client->spare_cap = request->cap;
    }
    else
        free (request->data);
    free (request);
}

static void
s_request_unlink (fy_http_client_t *self, s_request_t *request)
{
    fy_list_unlink (&request->link);
    curl_multi_remove_handle (self->multi, request->easy);
    self->active--;
}

void
fy_http_client_destroy (fy_http_client_t **self_p)
{
    assert (self_p);
    fy_http_client_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    s_request_t *request;
    fy_list_each (request, &self->requests, s_request_t, link)
    {
        s_request_unlink (self, request);
        s_request_free (request);
    }
    while (self->timers) {
        s_timer_t *timer = self->timers;
        self->timers = timer->next;
        free (timer);
    }
    while (self->idle_count)
        curl_easy_cleanup (self->idle [--self->idle_count]);
    if (self->multi) {
        curl_multi_cleanup (self->multi);
        curl_global_cleanup ();
    }
    if (self->epfd >= 0)
        close (self->epfd);
    free (self->resting);
    free (self->spare);
    free (self);
    *self_p = NULL;
    errno = saved;
}

int
fy_http_client_fd (fy_http_client_t *self)
{
    assert (self);
    return self->epfd;
}

int64_t
fy_http_client_timeout_ms (fy_http_client_t *self)
{
    assert (self);
    int64_t deadline = self->curl_deadline;
    if (self->timers && (deadline < 0 || self->timers->deadline < deadline))
        deadline = self->timers->deadline;
    if (deadline < 0)
        return -1;
    int64_t left = deadline - fy_clock_mono_ms ();
    return left > 0 ? left : 0;
}

size_t
fy_http_client_active (fy_http_client_t *self)
{
    assert (self);
    return self->active;
}

size_t
fy_http_client_connects (fy_http_client_t *self)
{
    assert (self);
    return self->connects;
}

//  --------------------------------------------------------------------
//  Completion

static int
s_errno_of (CURLcode code, bool too_big)
{
    switch (code) {
        case CURLE_OK:
            return 0;
        case CURLE_OPERATION_TIMEDOUT:
            return ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
            return ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            return EHOSTUNREACH;
        case CURLE_FILESIZE_EXCEEDED:
            return EMSGSIZE;
        case CURLE_WRITE_ERROR:
            return too_big ? EMSGSIZE : EIO;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
            return ECONNRESET;
        default:
            return EIO;
    }
}

static void
s_complete (fy_http_client_t *self, s_request_t *request, CURLcode code)
{
    long status = 0;
    long connects = 0;
    curl_easy_getinfo (request->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo (request->easy, CURLINFO_NUM_CONNECTS, &connects);
    self->connects += (size_t) (connects > 0 ? connects : 0);
    s_request_unlink (self, request);

    fy_http_result_t result = {
        .request = request,
        .error = s_errno_of (code, request->too_big),
        .status = (int) status,
        .text = "",
        .code = code,
        .response_code = status,
    };
    if (result.error) {
        result.status = 0;
        result.text =
            request->errbuf [0] ? request->errbuf : curl_easy_strerror (code);
        if (result.error == EMSGSIZE)
            result.text = "response body over the limit";
    }
    if (!request->data)
        request->data = fy_xstrdup ("");
    if (request->fn)
        request->fn (&result, request->arg);
    s_request_free (request);
}

static void
s_reap (fy_http_client_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        s_request_t *request = NULL;
        curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, &request);
        assert (request);
        s_complete (self, request, msg->data.result);
    }
}

static void
s_run_timers (fy_http_client_t *self)
{
    //  Timers started by these callbacks wait for the next run, so a
    //  callback that re-arms itself with 0 cannot spin here forever.
    uint64_t limit = self->next_id;
    int64_t now = fy_clock_mono_ms ();
    for (;;) {
        s_timer_t **link = &self->timers;
        while (*link && (*link)->id >= limit)
            link = &(*link)->next;
        s_timer_t *timer = *link;
        if (!timer || timer->deadline > now)
            break;
        *link = timer->next;
        fy_http_timer_fn *fn = timer->fn;
        void *arg = timer->arg;
        free (timer);
        fn (arg);
    }
}

void
fy_http_client_run (fy_http_client_t *self)
{
    assert (self);
    struct epoll_event events [64];
    int count = epoll_wait (self->epfd, events, 64, 0);
    int running = 0;
    for (int i = 0; i < count; i++) {
        if (s_is_resting (self, events [i].data.fd)) {
            epoll_ctl (self->epfd, EPOLL_CTL_DEL, events [i].data.fd, NULL);
            s_set_resting (self, events [i].data.fd, false);
            continue;
        }
        int flags = 0;
        if (events [i].events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (events [i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (events [i].events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action (self->multi, events [i].data.fd, flags,
                                  &running);
    }
    if (self->curl_deadline >= 0
        && fy_clock_mono_ms () >= self->curl_deadline) {
        self->curl_deadline = -1;
        curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0,
                                  &running);
    }
    s_reap (self);
    s_run_timers (self);
}

FY_LOOP_FD_CLASS (fy_http_client_t, fy_http_client)

int
fy_http_client_wait (fy_http_client_t *self, int64_t timeout_ms)
{
    assert (self);
    if (fy_wait_fd (self->epfd, fy_http_client_timeout_ms (self), timeout_ms))
        return -1;
    fy_http_client_run (self);
    return 0;
}

static int
s_wait (void *self, int64_t timeout_ms)
{
    return fy_http_client_wait (self, timeout_ms);
}

int
fy_http_client_run_until (fy_http_client_t *self, fy_http_until_fn *done,
                          void *arg, int64_t timeout_ms)
{
    assert (self);
    return fy_wait_until (s_wait, self, done, arg, timeout_ms);
}

//  --------------------------------------------------------------------
//  Calls

fy_http_call_t *
fy_http_call_new (const char *method, const char *url)
{
    assert (url);
    fy_http_call_t *self = fy_xcalloc (1, sizeof *self);
    self->method = method ? fy_xstrdup (method) : NULL;
    self->url = fy_xstrdup (url);
    self->connect_ms = S_CONNECT_MS;
    self->total_ms = S_TOTAL_MS;
    self->max_body = S_MAX_BODY;
    return self;
}

void
fy_http_call_destroy (fy_http_call_t **self_p)
{
    assert (self_p);
    fy_http_call_t *self = *self_p;
    if (!self)
        return;
    curl_slist_free_all (self->headers);
    free (self->method);
    free (self->url);
    free (self->body);
    free (self);
    *self_p = NULL;
}

void
fy_http_call_add_header (fy_http_call_t *self, const char *name,
                         const char *value)
{
    assert (self);
    assert (name);
    assert (value);
    char *line = fy_xasprintf ("%s: %s", name, value);
    struct curl_slist *list = curl_slist_append (self->headers, line);
    free (line);
    assert (list);  //  Only fails on out-of-memory
    self->headers = list;
}

struct curl_slist **
fy_http_call_headers (fy_http_call_t *self)
{
    assert (self);
    return &self->headers;
}

const char *
fy_http_call_method (fy_http_call_t *self)
{
    assert (self);
    return self->method;
}

const char *
fy_http_call_url (fy_http_call_t *self)
{
    assert (self);
    return self->url;
}

void
fy_http_call_set_body (fy_http_call_t *self, const void *body, size_t len)
{
    assert (self);
    assert (body || len == 0);
    free (self->body);
    self->body = fy_xmalloc (len + 1);
    if (len)
        memcpy (self->body, body, len);
    self->body [len] = 0;
    self->body_len = len;
}

const void *
fy_http_call_body (fy_http_call_t *self, size_t *len)
{
    assert (self);
    if (len)
        *len = self->body_len;
    return self->body ? self->body : "";
}

void
fy_http_call_set_timeouts (fy_http_call_t *self, int64_t connect_ms,
                           int64_t total_ms)
{
    assert (self);
    if (connect_ms > 0)
        self->connect_ms = connect_ms;
    if (total_ms > 0)
        self->total_ms = total_ms;
}

void
fy_http_call_set_max_body (fy_http_call_t *self, size_t max_body)
{
    assert (self);
    if (max_body > 0)
        self->max_body = max_body;
}

void
fy_http_call_set_setup (fy_http_call_t *self, fy_http_setup_fn *fn, void *arg)
{
    assert (self);
    self->setup = fn;
    self->setup_arg = arg;
}

static CURLcode
s_setup (s_request_t *request)
{
    fy_http_call_t *call = request->call;
    CURL *easy = request->easy;
    curl_easy_setopt (easy, CURLOPT_URL, call->url);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, request);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_ERRORBUFFER, request->errbuf);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, request);
    curl_easy_setopt (easy, CURLOPT_CONNECTTIMEOUT_MS, (long) call->connect_ms);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, (long) call->total_ms);
    curl_easy_setopt (easy, CURLOPT_MAXFILESIZE_LARGE,
                      (curl_off_t) call->max_body);
    //  Long polls sit idle for 20 s: keep NAT and load balancer state.
    curl_easy_setopt (easy, CURLOPT_TCP_KEEPALIVE, 1L);
    //  Another protocol's transfer: its own setup says what to do.
    if (!call->method)
        return call->setup ? call->setup (easy, call->setup_arg) : CURLE_OK;
    if (strcmp (call->method, "GET") == 0)
        curl_easy_setopt (easy, CURLOPT_HTTPGET, 1L);
    else if (strcmp (call->method, "HEAD") == 0)
        curl_easy_setopt (easy, CURLOPT_NOBODY, 1L);
    else if (strcmp (call->method, "POST") != 0)
        curl_easy_setopt (easy, CURLOPT_CUSTOMREQUEST, call->method);
    if (call->body || strcmp (call->method, "POST") == 0) {
        curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE,
                          (curl_off_t) call->body_len);
        curl_easy_setopt (easy, CURLOPT_POSTFIELDS,
                          call->body ? call->body : "");
    }
    //  Added after any signer has seen the list: an empty "Expect:" stops
    //  curl from waiting a second for "100 Continue" before a large body,
    //  and is never sent.
    struct curl_slist *list = curl_slist_append (call->headers, "Expect:");
    assert (list);
    call->headers = list;
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, call->headers);
    return call->setup ? call->setup (easy, call->setup_arg) : CURLE_OK;
}

int
fy_http_client_start (fy_http_client_t *self, fy_http_call_t **call_p,
                      fy_http_done_fn *fn, void *arg, uint64_t *id_p,
                      fy_error_t *err)
{
    assert (self);
    assert (call_p && *call_p);
    s_request_t *request = fy_xcalloc (1, sizeof *request);
    request->call = *call_p;
    *call_p = NULL;
    request->client = self;
    if (self->spare) {
        request->data = self->spare;
        request->cap = self->spare_cap;
        request->data [0] = 0;
        self->spare = NULL;
        self->spare_cap = 0;
    }
    request->fn = fn;
    request->arg = arg;
    request->id = self->next_id++;
    request->started = fy_clock_mono_ms ();
    request->easy =
        self->idle_count ? self->idle [--self->idle_count] : curl_easy_init ();
    if (!request->easy) {
        fy_error_set (err, "curl_easy_init failed");
        goto fail;
    }
    CURLcode setup = s_setup (request);
    if (setup != CURLE_OK) {
        fy_error_set (err, "request setup: %s", curl_easy_strerror (setup));
        goto fail;
    }
    CURLMcode code = curl_multi_add_handle (self->multi, request->easy);
    if (code != CURLM_OK) {
        fy_error_set (err, "curl_multi_add_handle: %s",
                      curl_multi_strerror (code));
        goto fail;
    }
    fy_list_push_front (&self->requests, &request->link);
    self->active++;
    if (id_p)
        *id_p = request->id;
    return 0;
fail:
    s_request_free (request);
    errno = EIO;
    return -1;
}

bool
fy_http_client_cancel (fy_http_client_t *self, uint64_t id)
{
    assert (self);
    s_request_t *request;
    fy_list_each (request, &self->requests, s_request_t,
                  link) if (request->id == id)
    {
        s_request_unlink (self, request);
        s_request_free (request);
        return true;
    }
    return false;
}

uint64_t
fy_http_client_timer (fy_http_client_t *self, int64_t delay_ms,
                      fy_http_timer_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    s_timer_t *timer = fy_xcalloc (1, sizeof *timer);
    timer->id = self->next_id++;
    timer->deadline = fy_clock_mono_ms () + (delay_ms > 0 ? delay_ms : 0);
    timer->fn = fn;
    timer->arg = arg;
    s_timer_t **link = &self->timers;
    while (*link && (*link)->deadline <= timer->deadline)
        link = &(*link)->next;
    timer->next = *link;
    *link = timer;
    return timer->id;
}

bool
fy_http_client_timer_cancel (fy_http_client_t *self, uint64_t id)
{
    assert (self);
    for (s_timer_t **link = &self->timers; *link; link = &(*link)->next)
        if ((*link)->id == id) {
            s_timer_t *timer = *link;
            *link = timer->next;
            free (timer);
            return true;
        }
    return false;
}

//  --------------------------------------------------------------------
//  Results

int
fy_http_result_error (const fy_http_result_t *result)
{
    assert (result);
    return result->error;
}

const char *
fy_http_result_error_text (const fy_http_result_t *result)
{
    assert (result);
    return result->text;
}

int
fy_http_result_status (const fy_http_result_t *result)
{
    assert (result);
    return result->status;
}

const char *
fy_http_result_body (const fy_http_result_t *result, size_t *len)
{
    assert (result);
    if (len)
        *len = result->request->len;
    return result->request->data;
}

const char *
fy_http_result_header (const fy_http_result_t *result, const char *name)
{
    assert (result);
    assert (name);
    s_request_t *request = result->request;
    struct curl_header *header = NULL;
    if (curl_easy_header (request->easy, name, 0, CURLH_HEADER, -1, &header)
        != CURLHE_OK)
        return NULL;
    if (header->amount > 1
        && curl_easy_header (request->easy, name, header->amount - 1,
                             CURLH_HEADER, -1, &header)
               != CURLHE_OK)
        return NULL;
    //  curl re-uses the struct at its next call: hand out our own copy.
    request->copies =
        fy_xrealloc (request->copies, (request->ncopies + 1) * sizeof (char *));
    char *copy = fy_xstrdup (header->value);
    request->copies [request->ncopies++] = copy;
    return copy;
}

CURLcode
fy_http_result_curl_code (const fy_http_result_t *result)
{
    assert (result);
    return result->code;
}

long
fy_http_result_response_code (const fy_http_result_t *result)
{
    assert (result);
    return result->response_code;
}

int64_t
fy_http_result_elapsed_ms (const fy_http_result_t *result)
{
    assert (result);
    return fy_clock_mono_ms () - result->request->started;
}
