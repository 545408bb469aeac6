/*  fy_smtp's message builder, byte for byte: header layout and folding,
    RFC 2047 encoded-words holding whole characters, quoted-printable and
    base64 bodies within their line limits, multipart/alternative, and
    every refusal (CR/LF in a header value, invalid UTF-8, bad addresses,
    reserved header names, incomplete messages). Sending is tested against
    the stack's real SMTP server in tests/integration/smtp.c. */
#include "notify/fy_smtp.h"

#include <errno.h>

#include "tap.h"

//  A message with the fixed Date and Message-ID every expectation uses.
static fy_smtp_message_t *
s_message (void)
{
    fy_smtp_message_t *m = fy_smtp_message_new ();
    if (fy_smtp_message_set_from (m, NULL, "noreply@ferry.example", NULL)
        || fy_smtp_message_add_to (m, NULL, "ann@example.com", NULL)
        || fy_smtp_message_set_id (m, "k1@ferry.example", NULL))
        BAIL_OUT ("building the base message");
    fy_smtp_message_set_date (m, 1795687200);
    return m;
}

#define S_HEAD                                  \
    "Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n" \
    "From: noreply@ferry.example\r\n"           \
    "To: ann@example.com\r\n"
#define S_ID "Message-ID: <k1@ferry.example>\r\n"
#define S_TEXT_QP                                     \
    "MIME-Version: 1.0\r\n"                           \
    "Content-Type: text/plain; charset=UTF-8\r\n"     \
    "Content-Transfer-Encoding: quoted-printable\r\n" \
    "\r\n"

//  Render and destroy; caller owns result.
static char *
s_render (fy_smtp_message_t **m)
{
    size_t len;
    fy_error_t err = { { 0 } };
    char *data = fy_smtp_message_render (*m, &len, &err);
    if (!data)
        BAIL_OUT ("render: %s", err.text);
    if (strlen (data) != len)
        BAIL_OUT ("render: length %zu, strlen %zu", len, strlen (data));
    fy_smtp_message_destroy (m);
    return data;
}

//  The message with only its subject, or its text, varied.
static char *
s_with_subject (const char *subject)
{
    fy_smtp_message_t *m = s_message ();
    if (fy_smtp_message_set_subject (m, subject, NULL)
        || fy_smtp_message_set_text (m, "x", NULL))
        BAIL_OUT ("subject refused");
    return s_render (&m);
}

static char *
s_with_text (const char *text)
{
    fy_smtp_message_t *m = s_message ();
    if (fy_smtp_message_set_text (m, text, NULL))
        BAIL_OUT ("text refused");
    return s_render (&m);
}

//  The longest line, CRLF not counted; -1 when a CR or LF is not part of
//  a CRLF.
static long
s_longest_line (const char *data)
{
    long longest = 0, line = 0;
    for (const char *c = data; *c; c++) {
        if (*c == '\r' && c [1] == '\n') {
            line = 0;
            c++;
        }
        else if (*c == '\r' || *c == '\n')
            return -1;
        else if (++line > longest)
            longest = line;
    }
    return longest;
}

static void
test_layout (void)
{
    fy_smtp_message_t *m = s_message ();
    ok (fy_smtp_message_set_subject (m, "Your review is due", NULL) == 0
            && fy_smtp_message_set_text (m, "Hello Ann,\nplease.\n", NULL) == 0,
        "subject and text set");
    char *data = s_render (&m);
    is_str (data,
            S_HEAD "Subject: Your review is due\r\n" S_ID S_TEXT_QP
                   "Hello Ann,\r\nplease.\r\n",
            "a text message, byte for byte");
    free (data);

    //  Names: atoms as they are, specials quoted, non-ASCII encoded; Bcc
    //  nowhere; Reply-To; an extra header; both bodies.
    m = fy_smtp_message_new ();
    fy_error_t err = { { 0 } };
    ok (fy_smtp_message_set_from (m, "Ferry HR", "hr@ferry.example", &err) == 0
            && fy_smtp_message_set_reply_to (m, NULL, "help@ferry.example",
                                             &err)
                   == 0
            && fy_smtp_message_add_to (m, "Doe, J. \"Jo\"", "jo@example.com",
                                       &err)
                   == 0
            && fy_smtp_message_add_to (m, "Zoë", "zoe@example.com", &err) == 0
            && fy_smtp_message_add_cc (m, NULL, "boss@example.com", &err) == 0
            && fy_smtp_message_add_bcc (m, "audit@example.com", &err) == 0
            && fy_smtp_message_add_header (m, "X-Ferry-Event", "e-1", &err) == 0
            && fy_smtp_message_set_text (m, "Hi", &err) == 0
            && fy_smtp_message_set_html (m, "<b>Hi</b>", &err) == 0
            && fy_smtp_message_set_id (m, "k2@ferry.example", &err) == 0,
        "a full message set (%s)", err.text);
    fy_smtp_message_set_date (m, 0);
    is_str (fy_smtp_message_sender (m), "hr@ferry.example", "sender");
    is_str (fy_smtp_message_recipient (m, 0), "jo@example.com", "rcpt 0");
    is_str (fy_smtp_message_recipient (m, 1), "zoe@example.com", "rcpt 1");
    is_str (fy_smtp_message_recipient (m, 2), "boss@example.com", "rcpt 2 Cc");
    is_str (fy_smtp_message_recipient (m, 3), "audit@example.com",
            "rcpt 3 Bcc");
    ok (fy_smtp_message_recipient (m, 4) == NULL, "no rcpt 4");
    data = s_render (&m);
    is_str (data,
            "Date: Thu, 1 Jan 1970 00:00:00 +0000\r\n"
            "From: Ferry HR <hr@ferry.example>\r\n"
            "Reply-To: help@ferry.example\r\n"
            "To: \"Doe, J. \\\"Jo\\\"\" <jo@example.com>, =?UTF-8?B?Wm/Dqw==?="
            " <zoe@example.com>\r\n"
            "Cc: boss@example.com\r\n"
            "Message-ID: <k2@ferry.example>\r\n"
            "X-Ferry-Event: e-1\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; "
            "boundary=\"=_ferry_71b073a2361a4f98\"\r\n"
            "\r\n"
            "--=_ferry_71b073a2361a4f98\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "Hi\r\n"
            "--=_ferry_71b073a2361a4f98\r\n"
            "Content-Type: text/html; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
            "<b>Hi</b>\r\n"
            "--=_ferry_71b073a2361a4f98--\r\n",
            "multipart/alternative with names, Cc, Reply-To, no Bcc");
    ok (strstr (data, "audit@") == NULL, "the Bcc address is nowhere");
    free (data);

    //  HTML alone.
    m = s_message ();
    ok (fy_smtp_message_set_html (m, "<p>x</p>", NULL) == 0, "html only");
    data = s_render (&m);
    is_str (data,
            S_HEAD S_ID "MIME-Version: 1.0\r\n"
                        "Content-Type: text/html; charset=UTF-8\r\n"
                        "Content-Transfer-Encoding: quoted-printable\r\n"
                        "\r\n"
                        "<p>x</p>",
            "an HTML message, single part");
    free (data);
}

static void
test_subjects (void)
{
    char *data = s_with_subject ("Grüße");
    ok (strstr (data, "\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n") != NULL,
        "non-ASCII subject is one B encoded-word");
    free (data);

    //  Folded at spaces before column 78; the spaces are kept.
    data = s_with_subject ("Your quarterly performance review with your "
                           "manager is due on Friday, 27 November 2026 at "
                           "noon  please");
    ok (strstr (data,
                "\r\nSubject: Your quarterly performance review with your "
                "manager is due on Friday,\r\n"
                " 27 November 2026 at noon  please\r\n")
            != NULL,
        "long ASCII subject folded at a space, double space kept");
    free (data);

    //  46 two-octet characters: 21 in the first word (what fits after
    //  "Subject: " in 78 columns), 22 in the next (44 octets; 23 would be
    //  46, over the 45 a word holds), never half a character.
    char subject [100] = "";
    for (int i = 0; i < 46; i++)
        strcat (subject, "é");
    data = s_with_subject (subject);
    ok (strstr (data,
                "\r\nSubject: =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOp"
                "w6nDqcOpw6nDqcOpw6nDqcOp?=\r\n"
                " =?UTF-8?B?w6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOpw6nDqcOp"
                "w6nDqcOpw6k=?=\r\n"
                " =?UTF-8?B?w6nDqcOp?=\r\n")
            != NULL,
        "encoded-words split between characters, each folded");
    ok (s_longest_line (data) <= 78, "encoded lines within 78");
    free (data);

    //  A word too long to fold, and text that looks like an encoded-word,
    //  are encoded.
    memset (subject, 'a', 80);
    subject [80] = 0;
    data = s_with_subject (subject);
    ok (strstr (data, "\r\nSubject: =?UTF-8?B?") != NULL
            && s_longest_line (data) <= 78,
        "an 80-octet word is encoded");
    free (data);
    data = s_with_subject ("=?UTF-8?B?SGk=?=");
    ok (strstr (data, "\r\nSubject: =?UTF-8?B?PT9VVEYtOD9CP1NHaz0/PQ==?=\r\n")
            != NULL,
        "text that reads as an encoded-word is encoded");
    free (data);
    data = s_with_subject ("");
    ok (strstr (data, "\r\nSubject:\r\n") != NULL, "empty subject");
    free (data);
}

static void
test_bodies (void)
{
    //  Soft breaks after 75 characters, never inside an escape.
    char text [300];
    memset (text, 'a', 74);
    snprintf (text + 74, sizeof text - 74, "%s", "éb  \tend \n= \n");
    char *data = s_with_text (text);
    char expect [600];
    snprintf (expect, sizeof expect,
              S_HEAD S_ID S_TEXT_QP "%.*s=\r\n=C3=A9b  \tend=20\r\n=3D=20\r\n",
              74, text);
    is_str (data, expect,
            "quoted-printable: soft break before an escape, "
            "trailing whitespace and '=' escaped");
    free (data);

    memset (text, 'x', 200);
    text [200] = 0;
    data = s_with_text (text);
    snprintf (expect, sizeof expect,
              S_HEAD S_ID S_TEXT_QP "%.75s=\r\n%.75s=\r\n%.50s", text, text,
              text);
    is_str (data, expect, "a 200-octet line in 76-octet lines");
    free (data);

    //  Lone CR and CRLF become CRLF like LF.
    data = s_with_text ("a\rb\r\nc");
    ok (strlen (data) > 11
            && strcmp (data + strlen (data) - 11, "\r\n\r\na\r\nb\r\nc") == 0,
        "line breaks made CRLF, none added at the end");
    free (data);

    //  Mostly non-ASCII: base64 is shorter, 76 characters a line.
    data = s_with_text ("Привет, мир! Это уведомление о вашей оценке.");
    is_str (data,
            S_HEAD S_ID
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=UTF-8\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "\r\n"
            "0J/RgNC40LLQtdGCLCDQvNC40YAhINCt0YLQviDRg9Cy0LXQtNC+0LzQu9C10L3Q"
            "uNC1INC+INCy\r\n"
            "0LDRiNC10Lkg0L7RhtC10L3QutC1Lg==\r\n",
            "base64 body when shorter");
    free (data);

    //  A long body with no line break at all stays within the limits.
    char *big = fy_xmalloc (20001);
    for (int i = 0; i < 20000; i++)
        big [i] = "\xc3\xa9q" [i % 3];
    big [20000] = 0;
    fy_smtp_message_t *m = s_message ();
    ok (fy_smtp_message_set_text (m, big, NULL) == 0
            && fy_smtp_message_set_html (m, big, NULL) == 0,
        "20000-octet bodies");
    data = s_render (&m);
    long longest = s_longest_line (data);
    ok (longest > 0 && longest <= 76, "no body line over 76 (%ld)", longest);
    free (data);
    free (big);
}

static void
test_refusals (void)
{
    fy_smtp_message_t *m = s_message ();
    fy_error_t err = { { 0 } };
    errno = 0;
    ok (fy_smtp_message_set_subject (m, "Hi\r\nBcc: x@evil.example", &err) == -1
            && errno == EINVAL,
        "CRLF in the subject refused");
    is_str (err.text,
            "Subject: a line break (CR or LF) in a header value is "
            "refused",
            "the error says why");
    ok (fy_smtp_message_set_subject (m, "Hi\nX: y", NULL) == -1, "LF alone");
    ok (fy_smtp_message_set_subject (m, "Hi\rX: y", NULL) == -1, "CR alone");
    ok (fy_smtp_message_add_to (m, "Ann\r\nBcc: x@y.z", "a@b.c", &err) == -1,
        "CRLF in a display name refused");
    is_str (err.text,
            "To: a line break (CR or LF) in a header value is "
            "refused",
            "names the field");
    ok (fy_smtp_message_add_header (m, "X-A", "v\r\nBcc: x@y.z", NULL) == -1,
        "CRLF in an extra header's value refused");
    ok (fy_smtp_message_add_header (m, "X-A\r\nBcc", "v", NULL) == -1,
        "CRLF in a header name refused");
    ok (fy_smtp_message_add_header (m, "X:A", "v", NULL) == -1,
        "':' in a header name refused");
    ok (fy_smtp_message_add_header (m, "bcc", "x@y.z", &err) == -1,
        "Bcc as an extra header refused");
    is_str (err.text, "bcc: the message writes this header itself",
            "reserved header error");
    ok (fy_smtp_message_add_header (m, "Content-Type", "text/x", NULL) == -1,
        "Content-* refused");
    ok (fy_smtp_message_set_subject (m, "bad \xc3\x28", &err) == -1,
        "invalid UTF-8 subject refused");
    is_str (err.text, "Subject: not valid UTF-8", "UTF-8 error");
    ok (fy_smtp_message_set_text (m, "\xed\xa0\x80", NULL) == -1,
        "a surrogate in the body refused");
    ok (fy_smtp_message_set_id (m, "<a@b>", NULL) == -1
            && fy_smtp_message_set_id (m, "nodomain", NULL) == -1
            && fy_smtp_message_set_id (m, "a@b\r\nX: y", NULL) == -1,
        "bad Message-IDs refused");

    static const char *const good [] = { "a@b",
                                         "first.last@example.com",
                                         "o'brien+tag@mail.example.co.uk",
                                         "x@xn--mller-kva.example",
                                         "1@2.3",
                                         NULL };
    for (size_t i = 0; good [i]; i++)
        ok (fy_smtp_message_add_cc (m, NULL, good [i], &err) == 0,
            "accepted: %s", good [i]);
    char local [80], domain [300];
    memset (local, 'l', 65);
    local [65] = 0;
    memset (domain, 'd', 63);
    domain [63] = 0;
    char *long_local = fy_xasprintf ("%s@example.com", local);
    char *long_label = fy_xasprintf ("a@%sd.example", domain);
    char *long_total =
        fy_xasprintf ("a@%s.%s.%s.%s", domain, domain, domain, domain);
    local [64] = 0;
    char *max_local = fy_xasprintf ("%s@example.com", local);
    ok (fy_smtp_message_add_cc (m, NULL, max_local, NULL) == 0,
        "64-octet local part accepted");
    const char *const bad [] = {
        "",         "plain",    "a@",        "@b",          "a..b@c",
        ".a@b",     "a.@b",     "a@-b.com",  "a@b-.com",    "a@b..com",
        "a@.b",     "a b@c",    "a@b_c.com", "<a@b>",       "a@b@c",
        "\"q\"@b",  "é@b",      "a@bé",      "a@[1.2.3.4]", "a@b\r\n.c",
        long_local, long_label, long_total,  NULL
    };
    for (size_t i = 0; bad [i]; i++) {
        errno = 0;
        ok (fy_smtp_message_add_to (m, NULL, bad [i], &err) == -1
                && errno == EINVAL,
            "refused: bad [%zu] (%s)", i, err.text);
    }
    ok (fy_smtp_message_set_from (m, NULL, "x@@y", &err) == -1,
        "bad From refused");
    is_str (err.text, "From: address has a bad local part (before '@')",
            "address error");
    ok (fy_smtp_message_add_bcc (m, "nope", &err) == -1, "bad Bcc refused");
    is_str (err.text, "Bcc: address has no '@'", "Bcc error");
    free (long_local);
    free (long_label);
    free (long_total);
    free (max_local);
    //  Nothing refused was kept.
    ok (fy_smtp_message_recipient (m, 7) == NULL
            && fy_smtp_message_recipient (m, 6) != NULL,
        "only accepted recipients kept");
    fy_smtp_message_destroy (&m);

    m = fy_smtp_message_new ();
    size_t len;
    ok (fy_smtp_message_id (m) == NULL, "no Message-ID without From");
    ok (fy_smtp_message_render (m, &len, &err) == NULL && errno == EINVAL,
        "no From: refused");
    is_str (err.text, "From: no sender", "says so");
    ok (fy_smtp_message_set_from (m, NULL, "me@ferry.example", NULL) == 0,
        "from");
    ok (fy_smtp_message_render (m, &len, &err) == NULL, "no recipient");
    is_str (err.text, "To: no recipient (To, Cc or Bcc)", "says so");
    ok (fy_smtp_message_add_bcc (m, "you@example.com", NULL) == 0, "bcc");
    ok (fy_smtp_message_render (m, &len, &err) == NULL, "no body");
    is_str (err.text, "body: no text or HTML body", "says so");
    const char *id = fy_smtp_message_id (m);
    ok (id && strlen (id) == 36 + strlen ("@ferry.example")
            && strcmp (id + 36, "@ferry.example") == 0,
        "made Message-ID: uuid at the sender's domain (%s)", id);
    ok (fy_smtp_message_set_text (m, "", NULL) == 0, "empty text");
    char *data = s_render (&m);
    ok (strstr (data, "\r\nTo:") == NULL && strstr (data, "\r\nCc:") == NULL,
        "Bcc only: no To or Cc header");
    free (data);
}

static void
test_client_options (void)
{
    fy_smtp_starttls_t policy;
    ok (fy_smtp_starttls_parse ("none", &policy) == 0
            && policy == FY_SMTP_STARTTLS_NONE
            && fy_smtp_starttls_parse ("try", &policy) == 0
            && policy == FY_SMTP_STARTTLS_TRY
            && fy_smtp_starttls_parse ("required", &policy) == 0
            && policy == FY_SMTP_STARTTLS_REQUIRED,
        "starttls names");
    ok (fy_smtp_starttls_parse ("yes", &policy) == -1 && errno == EINVAL,
        "unknown starttls refused");

    fy_http_client_t *http = fy_http_client_new (NULL, NULL);
    fy_smtp_options_t options;
    fy_smtp_options_default (&options);
    ok (options.starttls == FY_SMTP_STARTTLS_REQUIRED,
        "STARTTLS required by default");
    fy_error_t err = { { 0 } };
    options.url = "http://mail.example";
    ok (fy_smtp_new (http, &options, &err) == NULL && errno == EINVAL,
        "http:// refused: %s", err.text);
    options.url = "smtp://user:secret@mail.example";
    ok (fy_smtp_new (http, &options, &err) == NULL
            && strstr (err.text, "secret") == NULL,
        "credentials in the URL refused, not echoed: %s", err.text);
    options.url = "smtps://mail.example:465";
    options.user = "u";
    ok (fy_smtp_new (http, &options, &err) == NULL,
        "a user without a password refused: %s", err.text);
    options.password = "p";
    fy_smtp_t *smtp = fy_smtp_new (http, &options, &err);
    ok (smtp != NULL, "smtps:// with AUTH accepted");
    ok (fy_smtp_active (smtp) == 0, "nothing in flight");
    fy_smtp_message_t *m = fy_smtp_message_new ();
    ok (fy_smtp_send (smtp, &m, NULL, NULL, NULL, &err) == -1 && errno == EINVAL
            && m == NULL,
        "an incomplete message is refused and taken: %s", err.text);
    fy_smtp_destroy (&smtp);
    ok (smtp == NULL, "destroyed");
    fy_http_client_destroy (&http);
}

int
main (void)
{
    plan (NO_PLAN);
    test_layout ();
    test_subjects ();
    test_bodies ();
    test_refusals ();
    test_client_options ();
    done_testing ();
}
