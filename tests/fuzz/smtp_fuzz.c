/*  Fuzz target for fy_smtp's message builder. The input is cut at NUL
    bytes into up to seven fields: subject, From display name, To display
    name, a Cc address, an extra header's value, text body, HTML body.
    Whatever the builder accepts must render to a message with CRLF line
    endings only, no line over 998 octets (no body line over 76), exactly
    the header fields expected in order (nothing injected: a value holding
    CR or LF must have been refused), no line of whitespace alone, and a
    Subject that unfolds and decodes back to what was given. */
#include "ferry/ferry.h"
#include "notify/fy_smtp.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define S_FIELDS 7

static int
s_b64_value (char c)
{
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                           "abcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *at = c ? strchr (alphabet, c) : NULL;
    return at ? (int) (at - alphabet) : -1;
}

//  Decode base64 text of len characters (padded) onto out; returns the
//  octets written. Its own decoder: the builder's encoder is under test.
static size_t
s_b64_decode (const char *text, size_t len, char *out)
{
    if (len % 4)
        abort ();
    size_t n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v [4];
        for (int k = 0; k < 4; k++)
            v [k] = text [i + k] == '=' ? 0 : s_b64_value (text [i + k]);
        if (v [0] < 0 || v [1] < 0 || v [2] < 0 || v [3] < 0)
            abort ();
        uint32_t bits =
            (uint32_t) (v [0] << 18 | v [1] << 12 | v [2] << 6 | v [3]);
        out [n++] = (char) (bits >> 16);
        if (text [i + 2] != '=')
            out [n++] = (char) (bits >> 8);
        if (text [i + 3] != '=')
            out [n++] = (char) bits;
    }
    return n;
}

//  The Subject as a reader gets it: unfolded, encoded-words decoded.
static char *
s_read_subject (const char *value, size_t len)
{
    char *unfolded = fy_xmalloc (len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (value [i] == '\r' && value [i + 1] == '\n')
            i++;
        else
            unfolded [n++] = value [i];
    }
    unfolded [n] = 0;
    const char *prefix = "=?UTF-8?B?";
    if (strncmp (unfolded, prefix, 10) != 0)
        return unfolded;
    char *decoded = fy_xmalloc (n + 1);
    size_t d = 0;
    const char *word = unfolded;
    while (*word) {
        if (strncmp (word, prefix, 10) != 0)
            abort ();
        const char *end = strstr (word + 10, "?=");
        if (!end)
            abort ();
        d += s_b64_decode (word + 10, (size_t) (end - word - 10), decoded + d);
        word = end + 2;
        if (*word == ' ')
            word++;
    }
    decoded [d] = 0;
    free (unfolded);
    return decoded;
}

static void
s_check (const char *message, const char *const *expected, size_t nexpected,
         const char *subject)
{
    //  Line endings and lengths.
    const char *line = message;
    bool in_body = false;
    for (const char *c = message; *c; c++) {
        if (*c == '\n' && (c == message || c [-1] != '\r'))
            abort ();
        if (*c == '\r' && c [1] != '\n')
            abort ();
        if (*c != '\n')
            continue;
        size_t len = (size_t) (c - 1 - line);
        if (len > 998 || (in_body && len > 76))
            abort ();
        in_body |= len == 0;
        line = c + 1;
    }
    if (strlen (line) > 76)
        abort ();

    //  Header fields: the expected names in order, continuations between.
    size_t field = 0;
    const char *subject_value = NULL;
    size_t subject_len = 0;
    for (line = message; strncmp (line, "\r\n", 2) != 0;) {
        const char *end = strstr (line, "\r\n");
        if (!end)
            abort ();
        if (line [0] == ' ' || line [0] == '\t') {
            if (field == 0 || strspn (line, " \t") == (size_t) (end - line))
                abort ();
        }
        else {
            size_t name = strlen (expected [field]);
            if (field >= nexpected
                || strncmp (line, expected [field], name) != 0
                || line [name] != ':')
                abort ();
            if (strcmp (expected [field], "Subject") == 0) {
                subject_value = line + name + 1 + (line [name + 1] == ' ');
                subject_len = 0;
            }
            field++;
        }
        if (subject_value && field > 0
            && strcmp (expected [field - 1], "Subject") == 0)
            subject_len = (size_t) (end - subject_value);
        line = end + 2;
    }
    if (field != nexpected)
        abort ();
    if (subject) {
        char *read = s_read_subject (subject_value, subject_len);
        //  Plain subjects lose leading whitespace, as every reader does.
        const char *want = subject;
        if (strncmp (subject_value, "=?UTF-8?B?", 10) != 0)
            want += strspn (want, " \t");
        if (strcmp (read, want) != 0)
            abort ();
        free (read);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *copy = fy_xmalloc (size + 1);
    memcpy (copy, data, size);
    copy [size] = 0;
    const char *fields [S_FIELDS] = { NULL };
    size_t nfields = 0;
    for (size_t start = 0; start <= size && nfields < S_FIELDS;) {
        fields [nfields++] = copy + start;
        start += strlen (copy + start) + 1;
    }

    fy_smtp_message_t *m = fy_smtp_message_new ();
    const char *expected [12];
    size_t n = 0;
    expected [n++] = "Date";
    expected [n++] = "From";
    expected [n++] = "To";
    const char *subject = NULL;
    bool injecting [S_FIELDS];
    for (size_t i = 0; i < S_FIELDS; i++)
        injecting [i] = fields [i] && strpbrk (fields [i], "\r\n");

    if (fy_smtp_message_set_from (m, fields [1], "f@ferry.example", NULL)
        == 0) {
        if (injecting [1])
            abort ();
    }
    else if (fy_smtp_message_set_from (m, NULL, "f@ferry.example", NULL))
        abort ();
    if (fy_smtp_message_add_to (m, fields [2], "t@example.com", NULL) == 0) {
        if (injecting [2])
            abort ();
    }
    else if (fy_smtp_message_add_to (m, NULL, "t@example.com", NULL))
        abort ();
    if (fields [3] && fy_smtp_message_add_cc (m, NULL, fields [3], NULL) == 0) {
        //  An accepted address is one token of atext, dots and one '@'.
        if (strspn (fields [3], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
                                "RSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.@")
                != strlen (fields [3])
            || strchr (fields [3], '@') == NULL || strlen (fields [3]) > 254)
            abort ();
        expected [n++] = "Cc";
    }
    if (fields [0] && fy_smtp_message_set_subject (m, fields [0], NULL) == 0) {
        if (injecting [0])
            abort ();
        subject = fields [0];
        expected [n++] = "Subject";
    }
    expected [n++] = "Message-ID";
    if (fields [4]
        && fy_smtp_message_add_header (m, "X-Fuzz", fields [4], NULL) == 0) {
        if (injecting [4])
            abort ();
        expected [n++] = "X-Fuzz";
    }
    expected [n++] = "MIME-Version";
    expected [n++] = "Content-Type";
    bool text =
        fields [5] && fy_smtp_message_set_text (m, fields [5], NULL) == 0;
    bool html =
        fields [6] && fy_smtp_message_set_html (m, fields [6], NULL) == 0;
    if (!text && !html && fy_smtp_message_set_text (m, "-", NULL))
        abort ();
    if (!(text && html))
        expected [n++] = "Content-Transfer-Encoding";
    fy_smtp_message_set_date (m, 1795687200);

    size_t len;
    char *message = fy_smtp_message_render (m, &len, NULL);
    if (!message || strlen (message) != len)
        abort ();
    s_check (message, expected, n, subject);
    free (message);
    fy_smtp_message_destroy (&m);
    free (copy);
    return 0;
}
