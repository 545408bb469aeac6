/*  fy_smtp against the stack's real SMTP capture server (maildev, the env
    of `contrib/stack.sh env`; missing env is a failure, not a skip): plain,
    HTML, both, non-ASCII, several recipients with a Bcc, then what maildev
    parsed (GET /email) and kept (the raw source) is checked; 60 messages
    in flight at once on the one loop. The stack's maildev is long-lived
    and shared: this run's messages carry an X-Ferry-Test-Run header and
    are read back by it (maildev filters GET /email by a field's value),
    never by listing the whole mailbox, which on a full one is beyond
    what a client takes; the run first fills it so (with its own
    messages, deleted at the end) to check that. Refusals maildev never gives (a 550
    or 452 recipient, a 421 greeting) come from tests/stubs/smtp_stub.py;
    a closed port and a refused STARTTLS from the real thing. Every HTTP
    call to maildev's API runs on the same fy_http_client as the mail. */
#include "notify/fy_smtp.h"
#include "ferry/fy_json.h"

#include <errno.h>

#include "stubs/stub.h"
#include "tap.h"

static fy_http_client_t *s_http;
static const char *s_capture;
static char s_run [32];             //  This run's X-Ferry-Test-Run
static char s_tag [40];             //  In every subject: this run's mail

typedef struct {
    bool done;
    bool ok;
    int reply_code;
    bool retryable;
    char *error;
    char *message_id;
} sent_t;

static int s_done_count;

static void
s_on_sent (const fy_smtp_result_t *result, void *arg)
{
    sent_t *sent = arg;
    sent->done = true;
    sent->ok = result->ok;
    sent->reply_code = result->reply_code;
    sent->retryable = result->retryable;
    sent->error = fy_xstrdup (result->error);
    sent->message_id = fy_xstrdup (result->message_id);
    s_done_count++;
}

static void
s_sent_reset (sent_t *sent)
{
    free (sent->error);
    free (sent->message_id);
    memset (sent, 0, sizeof *sent);
}

static void
s_run_until_count (int count, int64_t max_ms)
{
    int64_t until = fy_clock_mono_ms () + max_ms;
    while (s_done_count < count && fy_clock_mono_ms () < until)
        if (fy_http_client_wait (s_http, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait: %s", strerror (errno));
}

static void
s_send (fy_smtp_t *smtp, fy_smtp_message_t *m, sent_t *sent)
{
    fy_error_t err = { { 0 } };
    if (fy_smtp_send (smtp, &m, s_on_sent, sent, NULL, &err))
        BAIL_OUT ("send: %s", err.text);
}

//  Send one message and wait for its result.
static void
s_send_wait (fy_smtp_t *smtp, fy_smtp_message_t *m, sent_t *sent)
{
    s_done_count = 0;
    s_send (smtp, m, sent);
    s_run_until_count (1, 20000);
    if (!sent->done)
        BAIL_OUT ("no result in 20 s");
}

static fy_smtp_message_t *
s_message (const char *subject)
{
    fy_smtp_message_t *m = fy_smtp_message_new ();
    char *tagged = fy_xasprintf ("%s %s", subject, s_tag);
    if (fy_smtp_message_set_from (m, "Ferry", "noreply@ferry.example", NULL)
        || fy_smtp_message_add_to (m, "Ann", "ann@example.com", NULL)
        || fy_smtp_message_set_subject (m, tagged, NULL)
        || fy_smtp_message_add_header (m, "X-Ferry-Test-Run", s_run, NULL))
        BAIL_OUT ("message");
    free (tagged);
    return m;
}

static void
s_set_flag (void *arg)
{
    *(bool *) arg = true;
}

//  ---- maildev's API, on the same loop.
typedef struct {
    bool done;
    int status;
    char *body;
} get_t;

static void
s_on_get (const fy_http_result_t *result, void *arg)
{
    get_t *get = arg;
    get->done = true;
    get->status = fy_http_result_status (result);
    get->body = fy_xstrdup (fy_http_result_body (result, NULL));
}

//  method path on maildev: its status (0: no answer, or one larger than
//  the client takes), its body into *body_p (may be NULL).
static int
s_call (const char *method, const char *path, char **body_p)
{
    char *url = fy_xasprintf ("%s%s", s_capture, path);
    fy_http_call_t *call = fy_http_call_new (method, url);
    free (url);
    get_t get = { 0 };
    if (fy_http_client_start (s_http, &call, s_on_get, &get, NULL, NULL))
        BAIL_OUT ("%s %s", method, path);
    int64_t until = fy_clock_mono_ms () + 10000;
    while (!get.done && fy_clock_mono_ms () < until)
        if (fy_http_client_wait (s_http, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait");
    if (body_p)
        *body_p = get.body;
    else
        free (get.body);
    return get.status;
}

static char *
s_get (const char *path)
{
    char *body = NULL;
    int status = s_call ("GET", path, &body);
    if (status != 200)
        BAIL_OUT ("GET %s: HTTP %d", path, status);
    return body;
}

//  Every captured message of this run, keyed by Message-ID, once the
//  count ids are all there (maildev lists a message a moment after its
//  250), or after 10 s.
static json_t *
s_captured (sent_t *sent, size_t count)
{
    int64_t until = fy_clock_mono_ms () + 10000;
    for (;;) {
        char *path = fy_xasprintf ("/email?headers.x-ferry-test-run=%s", s_run);
        char *body = s_get (path);
        free (path);
        json_t *list = json_loads (body, 0, NULL);
        free (body);
        if (!json_is_array (list))
            BAIL_OUT ("GET /email: not a JSON array");
        json_t *mine = json_object ();
        size_t i;
        json_t *mail;
        json_array_foreach (list, i, mail)
        {
            const char *subject =
                json_string_value (json_object_get (mail, "subject"));
            const char *id =
                json_string_value (json_object_get (mail, "messageId"));
            if (subject && id && strstr (subject, s_tag))
                json_object_set (mine, id, mail);
        }
        json_decref (list);
        size_t found = 0;
        for (i = 0; i < count; i++)
            found += sent [i].message_id
                     && json_object_get (mine, sent [i].message_id);
        if (found == count || fy_clock_mono_ms () > until)
            return mine;
        json_decref (mine);
        //  The loop's own timer paces the polls.
        bool due = false;
        fy_http_client_timer (s_http, 100, s_set_flag, &due);
        while (!due)
            if (fy_http_client_wait (s_http, -1))
                BAIL_OUT ("wait");
    }
}

//  Text decoded from base64 keeps the CRLFs of MIME's canonical form;
//  from quoted-printable it has the parser's LFs: compare with LFs.
static char *
s_lf (const char *text)
{
    char *copy = fy_xstrdup (text);
    char *to = copy;
    for (const char *from = text; *from; from++)
        if (!(from [0] == '\r' && from [1] == '\n'))
            *to++ = *from;
    *to = 0;
    return copy;
}

static const char *
s_str (json_t *json, const char *path)
{
    //  "a.b" or "a.0.b": objects by key, arrays by index.
    json_t *node = json;
    while (node && *path) {
        size_t len = strcspn (path, ".");
        char *part = fy_xstrndup (path, len);
        node = json_is_array (node)
                   ? json_array_get (node, strtoul (part, NULL, 10))
                   : json_object_get (node, part);
        free (part);
        path += len + (path [len] == '.');
    }
    const char *value = json_string_value (node);
    return value ? value : "(none)";
}

static void
test_delivery (fy_smtp_t *smtp)
{
    sent_t sent [5] = { { 0 } };
    fy_smtp_message_t *m = s_message ("plain");
    if (fy_smtp_message_set_text (m, "Hello Ann,\nyour review is due.\n", NULL))
        BAIL_OUT ("text");
    s_send (smtp, m, &sent [0]);

    m = s_message ("html");
    if (fy_smtp_message_set_html (m, "<p>Hello <b>Ann</b></p>", NULL))
        BAIL_OUT ("html");
    s_send (smtp, m, &sent [1]);

    m = s_message ("both");
    if (fy_smtp_message_set_text (m, "Plain part", NULL)
        || fy_smtp_message_set_html (m, "<p>HTML part</p>", NULL))
        BAIL_OUT ("both");
    s_send (smtp, m, &sent [2]);

    m = fy_smtp_message_new ();
    char *subject = fy_xasprintf ("Überprüfung fällig — 評価の期限 %s", s_tag);
    if (fy_smtp_message_set_from (m, "Zoë HR", "hr@ferry.example", NULL)
        || fy_smtp_message_add_to (m, "Jürgen Groß", "juergen@example.com",
                                   NULL)
        || fy_smtp_message_set_subject (m, subject, NULL)
        || fy_smtp_message_set_text (m, "Grüße, Jürgen!\nПривет.\n", NULL)
        || fy_smtp_message_set_html (m, "<p>Grüße — 評価</p>", NULL)
        || fy_smtp_message_add_header (m, "X-Ferry-Test-Run", s_run, NULL))
        BAIL_OUT ("non-ASCII");
    s_send (smtp, m, &sent [3]);

    m = s_message ("recipients");
    if (fy_smtp_message_add_to (m, NULL, "bob@example.com", NULL)
        || fy_smtp_message_add_cc (m, "Carol", "carol@example.com", NULL)
        || fy_smtp_message_add_bcc (m, "secret-audit@example.com", NULL)
        || fy_smtp_message_set_reply_to (m, NULL, "help@ferry.example", NULL)
        || fy_smtp_message_set_text (m, "To many.", NULL))
        BAIL_OUT ("recipients");
    s_send (smtp, m, &sent [4]);

    is_int ((int) fy_smtp_active (smtp), 5, "five submissions in flight");
    s_done_count = 0;
    s_run_until_count (5, 20000);
    for (int i = 0; i < 5; i++)
        ok (sent [i].ok && sent [i].reply_code == 250 && !sent [i].retryable
                && strcmp (sent [i].error, "") == 0,
            "message %d accepted: %d %s", i, sent [i].reply_code,
            sent [i].error);
    is_int ((int) fy_smtp_active (smtp), 0, "none in flight");

    json_t *mine = s_captured (sent, 5);
    json_t *mail = json_object_get (mine, sent [0].message_id);
    ok (mail != NULL, "plain message captured by its Message-ID");
    char *want = fy_xasprintf ("plain %s", s_tag);
    is_str (s_str (mail, "subject"), want, "plain: subject");
    free (want);
    is_str (s_str (mail, "text"), "Hello Ann,\nyour review is due.\n",
            "plain: text body");
    ok (json_is_false (json_object_get (mail, "html"))
            || json_object_get (mail, "html") == NULL
            || json_is_null (json_object_get (mail, "html")),
        "plain: no html");
    is_str (s_str (mail, "from.0.address"), "noreply@ferry.example",
            "plain: from");
    is_str (s_str (mail, "from.0.name"), "Ferry", "plain: from name");
    is_str (s_str (mail, "to.0.address"), "ann@example.com", "plain: to");
    ok (strstr (s_str (mail, "headers.date"), " +0000") != NULL,
        "plain: Date header %s", s_str (mail, "headers.date"));
    is_str (s_str (mail, "headers.mime-version"), "1.0", "MIME-Version");
    ok (strncmp (s_str (mail, "headers.content-type"), "text/plain", 10) == 0,
        "plain: text/plain");

    mail = json_object_get (mine, sent [1].message_id);
    //  SMTP's DATA ends every message with a line break: a single part
    //  whose text has none gets one.
    is_str (s_str (mail, "html"), "<p>Hello <b>Ann</b></p>\n", "html: body");
    ok (strncmp (s_str (mail, "headers.content-type"), "text/html", 9) == 0,
        "html: text/html");

    mail = json_object_get (mine, sent [2].message_id);
    is_str (s_str (mail, "text"), "Plain part", "both: text");
    is_str (s_str (mail, "html"), "<p>HTML part</p>", "both: html");
    ok (strncmp (s_str (mail, "headers.content-type"), "multipart/alternative",
                 21)
            == 0,
        "both: multipart/alternative");

    mail = json_object_get (mine, sent [3].message_id);
    is_str (s_str (mail, "subject"), subject, "non-ASCII subject decoded");
    char *text = s_lf (s_str (mail, "text"));
    is_str (text, "Grüße, Jürgen!\nПривет.\n", "non-ASCII text");
    free (text);
    is_str (s_str (mail, "html"), "<p>Grüße — 評価</p>", "non-ASCII html");
    is_str (s_str (mail, "from.0.name"), "Zoë HR", "non-ASCII from name");
    is_str (s_str (mail, "to.0.name"), "Jürgen Groß", "non-ASCII to name");
    ok (strstr (s_str (mail, "messageId"), "@ferry.example") != NULL,
        "Message-ID at the sender's domain: %s", s_str (mail, "messageId"));
    free (subject);

    mail = json_object_get (mine, sent [4].message_id);
    is_str (s_str (mail, "to.0.address"), "ann@example.com", "to 0");
    is_str (s_str (mail, "to.1.address"), "bob@example.com", "to 1");
    is_str (s_str (mail, "cc.0.address"), "carol@example.com", "cc");
    is_str (s_str (mail, "cc.0.name"), "Carol", "cc name");
    is_str (s_str (mail, "replyTo.0.address"), "help@ferry.example",
            "reply-to");
    json_t *envelope =
        json_object_get (json_object_get (mail, "envelope"), "to");
    is_int ((int) json_array_size (envelope), 4,
            "four envelope recipients, Bcc included");
    is_str (s_str (envelope, "3.address"), "secret-audit@example.com",
            "the Bcc is an envelope recipient");
    is_str (s_str (mail, "envelope.from.address"), "noreply@ferry.example",
            "envelope sender");
    ok (json_object_get (json_object_get (mail, "headers"), "bcc") == NULL,
        "no Bcc header");
    char *path = fy_xasprintf ("/email/%s/source", s_str (mail, "id"));
    char *source = s_get (path);
    free (path);
    ok (strstr (source, "secret-audit") == NULL,
        "the Bcc address is nowhere in the stored message");
    ok (strstr (source, "\r\nCc: Carol <carol@example.com>\r\n") != NULL,
        "the stored message has its Cc header");
    free (source);
    json_decref (mine);
    for (int i = 0; i < 5; i++)
        s_sent_reset (&sent [i]);
}

#define S_MANY 60

static void
test_many (fy_smtp_t *smtp)
{
    static sent_t sent [S_MANY];
    size_t connects = fy_http_client_connects (s_http);
    int64_t start = fy_clock_mono_ms ();
    for (int i = 0; i < S_MANY; i++) {
        char *subject = fy_xasprintf ("many %d", i);
        fy_smtp_message_t *m = s_message (subject);
        free (subject);
        if (fy_smtp_message_set_text (m, "one of many", NULL))
            BAIL_OUT ("text");
        s_send (smtp, m, &sent [i]);
    }
    is_int ((int) fy_smtp_active (smtp), S_MANY, "%d in flight at once",
            S_MANY);
    s_done_count = 0;
    s_run_until_count (S_MANY, 60000);
    int accepted = 0;
    for (int i = 0; i < S_MANY; i++)
        accepted += sent [i].ok && sent [i].reply_code == 250;
    is_int (accepted, S_MANY, "all accepted in %lld ms over %zu connections",
            (long long) (fy_clock_mono_ms () - start),
            fy_http_client_connects (s_http) - connects);
    json_t *mine = s_captured (sent, S_MANY);
    int found = 0;
    for (int i = 0; i < S_MANY; i++)
        found += json_object_get (mine, sent [i].message_id) != NULL;
    is_int (found, S_MANY, "all captured");
    json_decref (mine);
    for (int i = 0; i < S_MANY; i++)
        s_sent_reset (&sent [i]);
}

static fy_smtp_t *
s_client (const char *url, fy_smtp_starttls_t starttls)
{
    fy_smtp_options_t options;
    fy_smtp_options_default (&options);
    options.url = url;
    options.starttls = starttls;
    options.connect_timeout_ms = 3000;
    options.timeout_ms = 10000;
    fy_error_t err = { { 0 } };
    fy_smtp_t *smtp = fy_smtp_new (s_http, &options, &err);
    if (!smtp)
        BAIL_OUT ("fy_smtp_new %s: %s", url, err.text);
    return smtp;
}

static void
test_failures (const char *url)
{
    sent_t sent = { 0 };
    fy_smtp_message_t *m;

    //  maildev offers no STARTTLS: a policy that requires it refuses.
    fy_smtp_t *smtp = s_client (url, FY_SMTP_STARTTLS_REQUIRED);
    m = s_message ("tls");
    if (fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("text");
    s_send_wait (smtp, m, &sent);
    ok (!sent.ok && !sent.retryable,
        "STARTTLS required, not offered: permanent (%d, %s)", sent.reply_code,
        sent.error);
    s_sent_reset (&sent);
    fy_smtp_destroy (&smtp);

    //  Nobody listens.
    char *closed = fy_xasprintf ("smtp://127.0.0.1:%d", tap_free_port ());
    smtp = s_client (closed, FY_SMTP_STARTTLS_NONE);
    free (closed);
    m = s_message ("closed");
    if (fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("text");
    s_send_wait (smtp, m, &sent);
    ok (!sent.ok && sent.retryable && sent.reply_code == 0,
        "closed port: retryable, no reply code (%s)", sent.error);
    s_sent_reset (&sent);
    fy_smtp_destroy (&smtp);

    stub_t stub;
    stub_start (&stub, "smtp_stub.py");
    char *stub_url = fy_xasprintf ("smtp://127.0.0.1:%d", stub.port);
    smtp = s_client (stub_url, FY_SMTP_STARTTLS_TRY);
    m = s_message ("refused");
    if (fy_smtp_message_add_to (m, NULL, "nobody@example.com", NULL)
        || fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("message");
    s_send_wait (smtp, m, &sent);
    ok (!sent.ok && !sent.retryable && sent.reply_code == 550,
        "550 recipient: permanent, code 550");
    ok (strstr (sent.error, "550 5.1.1 <nobody@example.com>: no such user"),
        "the error has the server's reply: %s", sent.error);
    s_sent_reset (&sent);

    m = s_message ("full");
    if (fy_smtp_message_add_cc (m, NULL, "full@example.com", NULL)
        || fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("message");
    s_send_wait (smtp, m, &sent);
    ok (!sent.ok && sent.retryable && sent.reply_code == 452,
        "452 recipient: retryable, code 452 (%s)", sent.error);
    s_sent_reset (&sent);

    m = s_message ("fine");
    if (fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("message");
    s_send_wait (smtp, m, &sent);
    ok (sent.ok && sent.reply_code == 250,
        "the same server accepts a good one after (%s)", sent.error);
    s_sent_reset (&sent);

    //  Cancelled: never called back.
    uint64_t id;
    m = s_message ("cancelled");
    if (fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("message");
    fy_error_t err = { { 0 } };
    s_done_count = 0;
    ok (fy_smtp_send (smtp, &m, s_on_sent, &sent, &id, &err) == 0, "sent");
    ok (fy_smtp_cancel (smtp, id), "cancelled");
    ok (!fy_smtp_cancel (smtp, id), "a second cancel finds nothing");
    s_run_until_count (1, 300);
    ok (!sent.done && fy_smtp_active (smtp) == 0, "no callback, none active");

    //  A server too busy to take mail: 421, and it closes.
    m = s_message ("busy");
    if (fy_smtp_message_set_from (m, NULL, "busy@ferry.example", NULL)
        || fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("message");
    s_send_wait (smtp, m, &sent);
    ok (!sent.ok && sent.retryable && sent.reply_code == 421,
        "421 busy: retryable, code 421 (%s)", sent.error);
    s_sent_reset (&sent);

    //  Destroyed with one in flight: no callback.
    m = s_message ("orphan");
    if (fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("message");
    s_done_count = 0;
    s_send (smtp, m, &sent);
    fy_smtp_destroy (&smtp);
    s_run_until_count (1, 300);
    ok (!sent.done, "destroy drops what is in flight, uncalled");
    free (stub_url);
    stub_stop (&stub);
}

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    if (!value || !*value)
        BAIL_OUT ("%s is not set: run contrib/stack.sh start and "
                  "eval \"$(contrib/stack.sh env)\"",
                  name);
    return value;
}

//  A full mailbox: S_FILLERS messages of S_FILLER_SIZE bytes, this run's
//  (subject "filler N <run>"), so that maildev's whole list is more than
//  the HTTP client takes (8 MB) whatever else the stack holds.
#define S_FILLERS 9
#define S_FILLER_SIZE (1024 * 1024)

static void
s_fill (fy_smtp_t *smtp)
{
    char *text = fy_xmalloc (S_FILLER_SIZE + 1);
    for (size_t i = 0; i < S_FILLER_SIZE; i++)
        text [i] = (i + 1) % 72 == 0 ? '\n' : (char) ('a' + i % 26);
    text [S_FILLER_SIZE] = '\0';
    sent_t sent [S_FILLERS] = { { 0 } };
    s_done_count = 0;
    for (int i = 0; i < S_FILLERS; i++) {
        fy_smtp_message_t *m = fy_smtp_message_new ();
        char *subject = fy_xasprintf ("filler %d %s", i, s_run);
        if (fy_smtp_message_set_from (m, NULL, "noreply@ferry.example", NULL)
            || fy_smtp_message_add_to (m, NULL, "filler@example.com", NULL)
            || fy_smtp_message_set_subject (m, subject, NULL)
            || fy_smtp_message_set_text (m, text, NULL))
            BAIL_OUT ("filler");
        free (subject);
        s_send (smtp, m, &sent [i]);
    }
    s_run_until_count (S_FILLERS, 60000);
    int accepted = 0;
    for (int i = 0; i < S_FILLERS; i++) {
        accepted += sent [i].ok;
        s_sent_reset (&sent [i]);
    }
    is_int (accepted, S_FILLERS, "a full mailbox: %d messages of %d KB",
            S_FILLERS, S_FILLER_SIZE / 1024);
    free (text);
    //  maildev lists a message a moment after its 250.
    int status = s_call ("GET", "/email", NULL);
    for (int tries = 0; tries < 50 && status == 200; tries++) {
        bool due = false;
        fy_http_client_timer (s_http, 100, s_set_flag, &due);
        while (!due)
            if (fy_http_client_wait (s_http, -1))
                BAIL_OUT ("wait");
        status = s_call ("GET", "/email", NULL);
    }
    ok (status != 200,
        "the whole list is more than the client takes (HTTP %d): the "
        "readers below ask for their own messages only",
        status);
}

//  Delete this run's fillers, one by one: the mailbox is shared.
static void
s_unfill (void)
{
    int deleted = 0;
    for (int i = 0; i < S_FILLERS; i++) {
        char *path =
            fy_xasprintf ("/email?subject=filler%%20%d%%20%s", i, s_run);
        char *body = s_get (path);
        free (path);
        json_t *list = json_loads (body, 0, NULL);
        free (body);
        size_t n;
        json_t *mail;
        json_array_foreach (list, n, mail)
        {
            path = fy_xasprintf ("/email/%s", s_str (mail, "id"));
            deleted += s_call ("DELETE", path, NULL) == 200;
            free (path);
        }
        json_decref (list);
    }
    is_int (deleted, S_FILLERS, "the fillers deleted, nothing else");
}

int
main (void)
{
    plan (NO_PLAN);
    const char *url = s_env ("SMTP_URL");
    s_capture = s_env ("SMTP_CAPTURE_URL");
    snprintf (s_run, sizeof s_run, "t%d-%lld", (int) getpid (),
              (long long) fy_clock_wall_ms ());
    snprintf (s_tag, sizeof s_tag, "[%s]", s_run);
    s_http = fy_http_client_new (NULL, NULL);
    if (!s_http)
        BAIL_OUT ("fy_http_client_new");

    fy_smtp_t *smtp = s_client (url, FY_SMTP_STARTTLS_NONE);
    s_fill (smtp);
    test_delivery (smtp);
    test_many (smtp);
    s_unfill ();
    fy_smtp_destroy (&smtp);
    test_failures (url);

    fy_http_client_destroy (&s_http);
    return done_testing ();
}
