/*  fy_smtp: each submission is one curl SMTP transfer started on the
    caller's fy_http_client, set up by s_setup (envelope, upload of the
    rendered message, STARTTLS, AUTH), so it shares the program's curl
    multi, fd and timers. curl speaks the protocol: EHLO, STARTTLS, AUTH,
    MAIL FROM, RCPT TO, DATA with dot-stuffing, and re-uses connections
    from the multi's pool.

    curl tells a failure's reply code (CURLINFO_RESPONSE_CODE) but not the
    server's words; with CURLOPT_VERBOSE on, its debug callback hands over
    each line the server sent, and s_debug keeps the last one for the
    result's error text. It looks at nothing curl sent, where AUTH's
    credentials are. */
#include "notify/fy_smtp.h"
#include "core/fy_list.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_CONNECT_MS 10000
#define S_TOTAL_MS 60000
//  Enough of the server's last reply line for an operator to see why.
#define S_REPLY_MAX 200

typedef struct s_job {
    fy_link_t link;             //  on the client's jobs
    fy_smtp_t *smtp;
    uint64_t id;
    fy_smtp_done_fn *fn;
    void *arg;
    char *data;                 //  The rendered message
    size_t len, sent;
    char *from;                 //  "<address>"
    struct curl_slist *rcpt;
    char *message_id;
    char reply [S_REPLY_MAX + 1];
} s_job_t;

struct fy_smtp {
    fy_http_client_t *http;
    char *url;
    fy_smtp_starttls_t starttls;
    char *user;
    char *password;
    int64_t connect_ms;
    int64_t total_ms;
    fy_link_t jobs;             //  s_job_t in flight, newest first
    size_t active;
};

void
fy_smtp_options_default (fy_smtp_options_t *options)
{
    assert (options);
    memset (options, 0, sizeof *options);
    options->starttls = FY_SMTP_STARTTLS_REQUIRED;
    options->connect_timeout_ms = S_CONNECT_MS;
    options->timeout_ms = S_TOTAL_MS;
}

int
fy_smtp_starttls_parse (const char *text, fy_smtp_starttls_t *policy)
{
    assert (text);
    assert (policy);
    static const char *const names [] = { "none", "try", "required" };
    for (int i = 0; i < 3; i++)
        if (strcmp (text, names [i]) == 0) {
            *policy = (fy_smtp_starttls_t) i;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

static bool
s_has_scheme (const char *url, const char *scheme)
{
    size_t len = strlen (scheme);
    return strncasecmp (url, scheme, len) == 0 && url [len] != 0
           && url [len] != '/';
}

static bool
s_url_parses (const char *url)
{
    CURLU *parsed = curl_url ();
    bool ok = curl_url_set (parsed, CURLUPART_URL, url, 0) == CURLUE_OK;
    curl_url_cleanup (parsed);
    return ok;
}

fy_smtp_t *
fy_smtp_new (fy_http_client_t *http, const fy_smtp_options_t *options,
             fy_error_t *err)
{
    assert (http);
    assert (options);
    const char *url = options->url;
    if (!url
        || !(s_has_scheme (url, "smtp://") || s_has_scheme (url, "smtps://"))) {
        fy_error_set (err, "SMTP URL must be smtp://host[:port] or "
                           "smtps://host[:port]");
        errno = EINVAL;
        return NULL;
    }
    //  Credentials in the URL would turn up wherever the URL is shown.
    const char *host = strstr (url, "://") + 3;
    const char *at = strchr (host, '@');
    const char *slash = strchr (host, '/');
    if (at && (!slash || at < slash)) {
        fy_error_set (err, "SMTP URL must not hold credentials: give user "
                           "and password as options");
        errno = EINVAL;
        return NULL;
    }
    if ((options->user != NULL) != (options->password != NULL)) {
        fy_error_set (err, "SMTP AUTH needs both a user and a password");
        errno = EINVAL;
        return NULL;
    }
    if ((unsigned) options->starttls > FY_SMTP_STARTTLS_REQUIRED) {
        fy_error_set (err, "SMTP STARTTLS policy out of range");
        errno = EINVAL;
        return NULL;
    }
    if (!s_url_parses (url)) {
        fy_error_set (err, "SMTP URL does not parse as a URL");
        errno = EINVAL;
        return NULL;
    }
    fy_smtp_t *self = fy_xcalloc (1, sizeof *self);
    fy_list_init (&self->jobs);
    self->http = http;
    self->url = fy_xstrdup (url);
    self->starttls = options->starttls;
    self->user = options->user ? fy_xstrdup (options->user) : NULL;
    self->password = options->password ? fy_xstrdup (options->password) : NULL;
    self->connect_ms = options->connect_timeout_ms > 0
                           ? options->connect_timeout_ms
                           : S_CONNECT_MS;
    self->total_ms = options->timeout_ms > 0 ? options->timeout_ms : S_TOTAL_MS;
    return self;
}

static void
s_job_unlink (s_job_t *job)
{
    fy_smtp_t *smtp = job->smtp;
    fy_list_unlink (&job->link);
    smtp->active--;
}

static void
s_job_free (s_job_t *job)
{
    free (job->data);
    free (job->from);
    curl_slist_free_all (job->rcpt);
    free (job->message_id);
    free (job);
}

void
fy_smtp_destroy (fy_smtp_t **self_p)
{
    assert (self_p);
    fy_smtp_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    s_job_t *job;
    fy_list_each (job, &self->jobs, s_job_t, link)
    {
        fy_http_client_cancel (self->http, job->id);
        s_job_unlink (job);
        s_job_free (job);
    }
    free (self->url);
    free (self->user);
    if (self->password) {
        //  Not left in freed memory for a core dump to show.
        volatile char *p = self->password;
        while (*p)
            *p++ = 0;
        free (self->password);
    }
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  --------------------------------------------------------------------
//  The transfer

static size_t
s_read (char *buffer, size_t size, size_t nitems, void *arg)
{
    s_job_t *job = arg;
    size_t want = size * nitems;
    size_t left = job->len - job->sent;
    size_t n = left < want ? left : want;
    memcpy (buffer, job->data + job->sent, n);
    job->sent += n;
    return n;
}

//  Keeps the last refusal the server sent (CURLINFO_HEADER_IN is curl's
//  name for SMTP replies; a refusal's code starts with 4 or 5), without
//  its line ending: the QUIT's 221 that follows is of no interest. Returns
//  0 as curl wants.
static int
s_debug (CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
    (void) easy;
    s_job_t *job = arg;
    if (type != CURLINFO_HEADER_IN || size == 0
        || (data [0] != '4' && data [0] != '5'))
        return 0;
    while (size && (data [size - 1] == '\n' || data [size - 1] == '\r'))
        size--;
    if (size > S_REPLY_MAX)
        size = S_REPLY_MAX;
    for (size_t i = 0; i < size; i++) {
        //  Server text goes into logs: nothing but printable ASCII.
        unsigned char c = (unsigned char) data [i];
        job->reply [i] = c >= 32 && c < 127 ? (char) c : '?';
    }
    job->reply [size] = 0;
    return 0;
}

static CURLcode
s_setup (CURL *easy, void *arg)
{
    s_job_t *job = arg;
    fy_smtp_t *smtp = job->smtp;
    static const curl_usessl policies [] = {
        [FY_SMTP_STARTTLS_NONE] = CURLUSESSL_NONE,
        [FY_SMTP_STARTTLS_TRY] = CURLUSESSL_TRY,
        [FY_SMTP_STARTTLS_REQUIRED] = CURLUSESSL_ALL,
    };
    CURLcode code = CURLE_OK;
#define S_SET(option, value) \
    if (code == CURLE_OK)    \
    code = curl_easy_setopt (easy, option, value)
    S_SET (CURLOPT_MAIL_FROM, job->from);
    S_SET (CURLOPT_MAIL_RCPT, job->rcpt);
    S_SET (CURLOPT_UPLOAD, 1L);
    S_SET (CURLOPT_READFUNCTION, s_read);
    S_SET (CURLOPT_READDATA, job);
    S_SET (CURLOPT_INFILESIZE_LARGE, (curl_off_t) job->len);
    S_SET (CURLOPT_USE_SSL, (long) policies [smtp->starttls]);
    S_SET (CURLOPT_VERBOSE, 1L);
    S_SET (CURLOPT_DEBUGFUNCTION, s_debug);
    S_SET (CURLOPT_DEBUGDATA, job);
    //  libcurl 7.88 (Debian 12's; fixed upstream by curl PR #21082)
    //  re-uses a pooled plain connection for a transfer that requires
    //  STARTTLS when host and port match: mail would go out in clear
    //  through a connection that another client of the same
    //  fy_http_client (STARTTLS none or try) left behind. curl never
    //  shares a connection between transfers whose GSSAPI delegation
    //  setting differs, so the required ones set one of their own. It
    //  only matters to Kerberos AUTH, and then it delegates no more than
    //  the KDC's policy allows.
    if (smtp->starttls == FY_SMTP_STARTTLS_REQUIRED)
        S_SET (CURLOPT_GSSAPI_DELEGATION,
               (long) CURLGSSAPI_DELEGATION_POLICY_FLAG);
    if (smtp->user) {
        S_SET (CURLOPT_USERNAME, smtp->user);
        S_SET (CURLOPT_PASSWORD, smtp->password);
    }
#undef S_SET
    return code;
}

//  Whether a failure without a 4xx or 5xx reply may pass: the network and
//  the server's state may change; a refused certificate, a missing
//  STARTTLS or a bad URL will not.
static bool
s_is_transient (CURLcode code)
{
    switch (code) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_WEIRD_SERVER_REPLY:
        case CURLE_AGAIN:
            return true;
        default:
            return false;
    }
}

static void
s_done (const fy_http_result_t *http_result, void *arg)
{
    s_job_t *job = arg;
    CURLcode code = fy_http_result_curl_code (http_result);
    long reply = fy_http_result_response_code (http_result);
    //  Only a 4xx or 5xx reply refused anything: a failure after a 250
    //  (STARTTLS not offered in the EHLO reply) has no reply code.
    if (code != CURLE_OK && reply < 400)
        reply = 0;
    fy_smtp_result_t result = {
        .ok = code == CURLE_OK,
        .reply_code = (int) reply,
        .error = "",
        .message_id = job->message_id,
        .elapsed_ms = fy_http_result_elapsed_ms (http_result),
    };
    char *text = NULL;
    if (!result.ok) {
        int klass = (int) (reply / 100);
        result.retryable = klass == 4 || (klass != 5 && s_is_transient (code));
        const char *what = fy_http_result_error_text (http_result);
        text = job->reply [0] && reply
                   ? fy_xasprintf ("%s (server: %s)", what, job->reply)
                   : fy_xstrdup (what);
        result.error = text;
    }
    //  Unlinked first, so a cancel from the callback does not find it.
    s_job_unlink (job);
    if (job->fn)
        job->fn (&result, job->arg);
    free (text);
    s_job_free (job);
}

int
fy_smtp_send (fy_smtp_t *self, fy_smtp_message_t **message_p,
              fy_smtp_done_fn *fn, void *arg, uint64_t *id_p, fy_error_t *err)
{
    assert (self);
    assert (message_p && *message_p);
    fy_smtp_message_t *message = *message_p;
    *message_p = NULL;
    size_t len;
    char *data = fy_smtp_message_render (message, &len, err);
    if (!data) {
        fy_smtp_message_destroy (&message);
        return -1;
    }
    s_job_t *job = fy_xcalloc (1, sizeof *job);
    job->smtp = self;
    job->fn = fn;
    job->arg = arg;
    job->data = data;
    job->len = len;
    job->from = fy_xasprintf ("<%s>", fy_smtp_message_sender (message));
    const char *rcpt;
    for (size_t i = 0; (rcpt = fy_smtp_message_recipient (message, i)); i++) {
        char *bracketed = fy_xasprintf ("<%s>", rcpt);
        struct curl_slist *list = curl_slist_append (job->rcpt, bracketed);
        free (bracketed);
        assert (list);          //  Only fails on out-of-memory
        job->rcpt = list;
    }
    job->message_id = fy_xstrdup (fy_smtp_message_id (message));
    fy_smtp_message_destroy (&message);

    fy_http_call_t *call = fy_http_call_new (NULL, self->url);
    fy_http_call_set_timeouts (call, self->connect_ms, self->total_ms);
    fy_http_call_set_setup (call, s_setup, job);
    if (fy_http_client_start (self->http, &call, s_done, job, &job->id, err)) {
        s_job_free (job);
        return -1;
    }
    fy_list_push_front (&self->jobs, &job->link);
    self->active++;
    if (id_p)
        *id_p = job->id;
    return 0;
}

bool
fy_smtp_cancel (fy_smtp_t *self, uint64_t id)
{
    assert (self);
    s_job_t *job;
    fy_list_each (job, &self->jobs, s_job_t, link) if (job->id == id)
    {
        fy_http_client_cancel (self->http, id);
        s_job_unlink (job);
        s_job_free (job);
        return true;
    }
    return false;
}

size_t
fy_smtp_active (fy_smtp_t *self)
{
    assert (self);
    return self->active;
}
