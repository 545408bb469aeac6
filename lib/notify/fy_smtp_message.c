/*  fy_smtp_message: builds one mail message (RFC 5322 and MIME, RFC
    2045-2047) from values that come from event data. Everything a caller
    gives is checked when it is set (no CR or LF in a header value, valid
    UTF-8, addr-spec addresses), so render only lays out what is already
    known to be safe: header values are folded at their own whitespace or
    written as RFC 2047 encoded-words, bodies are quoted-printable or
    base64, whichever is shorter, and no line comes near the 998-octet
    limit. The layout is deterministic for a given Date and Message-ID (the
    MIME boundary is derived from the Message-ID), so tests can compare
    bytes. */
#include "notify/fy_smtp.h"
#include "ferry/fy_uuid.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

//  Lines are folded to stay within this (RFC 5322 s2.1.1's SHOULD); a
//  token alone on a line may pass it, never the 998-octet MUST.
#define S_FOLD 78
//  The longest token (whitespace and word) written without encoding.
#define S_TOKEN_MAX 76
//  Octets of UTF-8 one B encoded-word holds: "=?UTF-8?B?" + 60 + "?=" is
//  72, under RFC 2047's 75.
#define S_WORD_BYTES 45
//  57 octets make one 76-character base64 line.
#define S_B64_LINE 57
//  Quoted-printable text per line before the soft break's "=".
#define S_QP_TEXT 75

typedef struct {
    char *name;                 //  Display name, NULL for none
    char *address;
} s_addr_t;

typedef struct {
    s_addr_t *items;
    size_t size;
} s_list_t;

struct fy_smtp_message {
    s_addr_t from;
    s_addr_t reply_to;
    s_list_t to, cc, bcc;
    char *subject;
    char *text;
    char *html;
    char **names;               //  Extra header fields
    char **values;
    size_t nheaders;
    int64_t date;
    bool has_date;
    char *id;
};

fy_smtp_message_t *
fy_smtp_message_new (void)
{
    return fy_xcalloc (1, sizeof (fy_smtp_message_t));
}

static void
s_addr_clear (s_addr_t *addr)
{
    free (addr->name);
    free (addr->address);
    addr->name = NULL;
    addr->address = NULL;
}

static void
s_list_clear (s_list_t *list)
{
    for (size_t i = 0; i < list->size; i++)
        s_addr_clear (&list->items [i]);
    free (list->items);
}

void
fy_smtp_message_destroy (fy_smtp_message_t **self_p)
{
    assert (self_p);
    fy_smtp_message_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    s_addr_clear (&self->from);
    s_addr_clear (&self->reply_to);
    s_list_clear (&self->to);
    s_list_clear (&self->cc);
    s_list_clear (&self->bcc);
    free (self->subject);
    free (self->text);
    free (self->html);
    for (size_t i = 0; i < self->nheaders; i++) {
        free (self->names [i]);
        free (self->values [i]);
    }
    free (self->names);
    free (self->values);
    free (self->id);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  --------------------------------------------------------------------
//  Checks, made when a value is set.

static int
s_refuse (fy_error_t *err, const char *field, const char *why)
{
    fy_error_set (err, "%s: %s", field, why);
    errno = EINVAL;
    return -1;
}

static bool
s_is_utf8 (const char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = fy_utf8_length (text + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

//  A header value: one line of UTF-8.
static int
s_check_value (const char *field, const char *value, fy_error_t *err)
{
    if (strpbrk (value, "\r\n"))
        return s_refuse (err, field,
                         "a line break (CR or LF) in a header "
                         "value is refused");
    if (!s_is_utf8 (value, strlen (value)))
        return s_refuse (err, field, "not valid UTF-8");
    return 0;
}

static bool
s_is_atext (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9')
           || (c && strchr ("!#$%&'*+-/=?^_`{|}~", c));
}

//  RFC 5322 dot-atom-text: atext runs joined by single dots.
static bool
s_is_dot_atom (const char *text, size_t len)
{
    if (len == 0 || text [0] == '.' || text [len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++)
        if (text [i] == '.' ? text [i + 1] == '.'
                            : !s_is_atext ((unsigned char) text [i]))
            return false;
    return true;
}

//  A host name: LDH labels of 1-63 octets, not starting or ending with a
//  hyphen. Non-ASCII domains must come as IDNA A-labels ("xn--...").
static bool
s_is_domain (const char *text, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text [i] != '.') {
            char c = text [i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '-'))
                return false;
            continue;
        }
        size_t label = i - start;
        if (label == 0 || label > 63 || text [start] == '-'
            || text [i - 1] == '-')
            return false;
        start = i + 1;
    }
    return true;
}

static int
s_check_address (const char *field, const char *address, fy_error_t *err)
{
    size_t len = strlen (address);
    const char *at = strrchr (address, '@');
    if (!at)
        return s_refuse (err, field, "address has no '@'");
    size_t local = (size_t) (at - address);
    //  RFC 5321 s4.5.3.1: a path of 256 octets holds 254 between < and >.
    if (len > 254 || local > 64)
        return s_refuse (err, field, "address too long");
    if (!s_is_dot_atom (address, local))
        return s_refuse (err, field,
                         "address has a bad local part (before '@')");
    if (!s_is_domain (at + 1, len - local - 1))
        return s_refuse (err, field, "address has a bad domain (after '@')");
    return 0;
}

static int
s_set_addr (s_addr_t *addr, const char *field, const char *name,
            const char *address, fy_error_t *err)
{
    assert (address);
    if (name && s_check_value (field, name, err))
        return -1;
    if (s_check_address (field, address, err))
        return -1;
    s_addr_clear (addr);
    addr->name = name && *name ? fy_xstrdup (name) : NULL;
    addr->address = fy_xstrdup (address);
    return 0;
}

static int
s_list_add (s_list_t *list, const char *field, const char *name,
            const char *address, fy_error_t *err)
{
    s_addr_t addr = { .name = NULL };
    if (s_set_addr (&addr, field, name, address, err))
        return -1;
    list->items =
        fy_xrealloc (list->items, (list->size + 1) * sizeof (s_addr_t));
    list->items [list->size++] = addr;
    return 0;
}

int
fy_smtp_message_set_from (fy_smtp_message_t *self, const char *name,
                          const char *address, fy_error_t *err)
{
    assert (self);
    return s_set_addr (&self->from, "From", name, address, err);
}

int
fy_smtp_message_set_reply_to (fy_smtp_message_t *self, const char *name,
                              const char *address, fy_error_t *err)
{
    assert (self);
    return s_set_addr (&self->reply_to, "Reply-To", name, address, err);
}

int
fy_smtp_message_add_to (fy_smtp_message_t *self, const char *name,
                        const char *address, fy_error_t *err)
{
    assert (self);
    return s_list_add (&self->to, "To", name, address, err);
}

int
fy_smtp_message_add_cc (fy_smtp_message_t *self, const char *name,
                        const char *address, fy_error_t *err)
{
    assert (self);
    return s_list_add (&self->cc, "Cc", name, address, err);
}

int
fy_smtp_message_add_bcc (fy_smtp_message_t *self, const char *address,
                         fy_error_t *err)
{
    assert (self);
    return s_list_add (&self->bcc, "Bcc", NULL, address, err);
}

static int
s_set_string (char **slot, const char *field, const char *value, bool header,
              fy_error_t *err)
{
    assert (value);
    if (header && s_check_value (field, value, err))
        return -1;
    if (!header && !s_is_utf8 (value, strlen (value)))
        return s_refuse (err, field, "not valid UTF-8");
    free (*slot);
    *slot = fy_xstrdup (value);
    return 0;
}

int
fy_smtp_message_set_subject (fy_smtp_message_t *self, const char *subject,
                             fy_error_t *err)
{
    assert (self);
    return s_set_string (&self->subject, "Subject", subject, true, err);
}

int
fy_smtp_message_set_text (fy_smtp_message_t *self, const char *text,
                          fy_error_t *err)
{
    assert (self);
    return s_set_string (&self->text, "text body", text, false, err);
}

int
fy_smtp_message_set_html (fy_smtp_message_t *self, const char *html,
                          fy_error_t *err)
{
    assert (self);
    return s_set_string (&self->html, "HTML body", html, false, err);
}

//  The fields render writes itself: a caller's copy would contradict or,
//  for Bcc, expose them.
static bool
s_is_reserved (const char *name)
{
    static const char *const reserved [] = {
        "From",    "To",   "Cc",         "Bcc",          "Reply-To",
        "Subject", "Date", "Message-ID", "MIME-Version", NULL
    };
    for (size_t i = 0; reserved [i]; i++)
        if (strcasecmp (name, reserved [i]) == 0)
            return true;
    return strncasecmp (name, "Content-", 8) == 0;
}

int
fy_smtp_message_add_header (fy_smtp_message_t *self, const char *name,
                            const char *value, fy_error_t *err)
{
    assert (self);
    assert (name);
    assert (value);
    size_t len = strlen (name);
    bool valid = len > 0 && len <= 76;
    for (size_t i = 0; valid && i < len; i++)
        valid = name [i] > 32 && name [i] < 127 && name [i] != ':';
    if (!valid)
        return s_refuse (err, "header",
                         "a header name is 1-76 printable "
                         "ASCII characters without ':'");
    if (s_is_reserved (name))
        return s_refuse (err, name, "the message writes this header itself");
    if (s_check_value (name, value, err))
        return -1;
    self->names =
        fy_xrealloc (self->names, (self->nheaders + 1) * sizeof (char *));
    self->values =
        fy_xrealloc (self->values, (self->nheaders + 1) * sizeof (char *));
    self->names [self->nheaders] = fy_xstrdup (name);
    self->values [self->nheaders] = fy_xstrdup (value);
    self->nheaders++;
    return 0;
}

void
fy_smtp_message_set_date (fy_smtp_message_t *self, int64_t unix_s)
{
    assert (self);
    self->date = unix_s;
    self->has_date = true;
}

int
fy_smtp_message_set_id (fy_smtp_message_t *self, const char *id,
                        fy_error_t *err)
{
    assert (self);
    assert (id);
    const char *at = strchr (id, '@');
    size_t len = strlen (id);
    if (!at || len > 250 || !s_is_dot_atom (id, (size_t) (at - id))
        || !s_is_dot_atom (at + 1, len - (size_t) (at - id) - 1))
        return s_refuse (err, "Message-ID",
                         "not left@right of dot-atoms "
                         "(at most 250 octets, no "
                         "brackets)");
    free (self->id);
    self->id = fy_xstrdup (id);
    return 0;
}

const char *
fy_smtp_message_id (fy_smtp_message_t *self)
{
    assert (self);
    if (!self->id && self->from.address) {
        char uuid [FY_UUID_SIZE];
        fy_uuid_generate (uuid);
        self->id =
            fy_xasprintf ("%s@%s", uuid, strrchr (self->from.address, '@') + 1);
    }
    return self->id;
}

const char *
fy_smtp_message_sender (fy_smtp_message_t *self)
{
    assert (self);
    return self->from.address;
}

const char *
fy_smtp_message_recipient (fy_smtp_message_t *self, size_t index)
{
    assert (self);
    const s_list_t *lists [] = { &self->to, &self->cc, &self->bcc };
    for (size_t i = 0; i < 3; i++) {
        if (index < lists [i]->size)
            return lists [i]->items [index].address;
        index -= lists [i]->size;
    }
    return NULL;
}

//  --------------------------------------------------------------------
//  Header layout: tokens are written after whitespace that becomes a fold
//  (CRLF before it) when the line would pass S_FOLD.

typedef struct {
    FILE *file;
    size_t line;                //  Octets on the current line
    bool fresh;                 //  No token yet after "Name:"
} s_out_t;

static void
s_put (s_out_t *out, const char *text, size_t len)
{
    fwrite (text, 1, len, out->file);
    for (size_t i = 0; i < len; i++)
        out->line = text [i] == '\n' ? 0 : out->line + 1;
}

static void
s_puts (s_out_t *out, const char *text)
{
    s_put (out, text, strlen (text));
}

static void
s_header_begin (s_out_t *out, const char *name)
{
    s_puts (out, name);
    s_puts (out, ":");
    out->fresh = true;
}

static void
s_header_end (s_out_t *out)
{
    s_puts (out, "\r\n");
}

//  The first token of a field follows "Name: " (whitespace in front of it
//  is dropped: readers drop it too). A fold never leaves a line of
//  whitespace alone.
static void
s_token (s_out_t *out, const char *ws, size_t wslen, const char *word,
         size_t wordlen)
{
    if (out->fresh) {
        s_puts (out, " ");
        out->fresh = false;
    }
    else {
        if (wslen && wordlen && out->line + wslen + wordlen > S_FOLD)
            s_puts (out, "\r\n");
        s_put (out, ws, wslen);
    }
    s_put (out, word, wordlen);
}

static void
s_word (s_out_t *out, const char *word)
{
    s_token (out, " ", 1, word, strlen (word));
}

//  RFC 2047 B encoded-words, each holding whole characters.
static void
s_encoded (s_out_t *out, const char *text, size_t len)
{
    //  The first word of a field cannot fold away from "Name: ": it holds
    //  what fits in the rest of the line (one character at least).
    size_t room =
        out->line + 1 + 12 < S_FOLD ? (S_FOLD - out->line - 1 - 12) / 4 * 3 : 0;
    size_t limit = out->fresh && room < S_WORD_BYTES ? room : S_WORD_BYTES;
    size_t i = 0;
    while (i < len) {
        size_t take = 0;
        while (i + take < len) {
            size_t n = fy_utf8_length (text + i + take, len - i - take);
            assert (n);         //  Checked when set
            if (take + n > limit && take > 0)
                break;
            take += n;
        }
        limit = S_WORD_BYTES;
        unsigned char b64 [4 * S_WORD_BYTES / 3 + 1];
        EVP_EncodeBlock (b64, (const unsigned char *) text + i, (int) take);
        char word [96];
        snprintf (word, sizeof word, "=?UTF-8?B?%s?=", (char *) b64);
        s_word (out, word);
        i += take;
    }
}

static bool
s_is_wsp (char c)
{
    return c == ' ' || c == '\t';
}

//  Unstructured text goes out as is when it is printable ASCII (tabs
//  allowed), holds nothing a reader would take for an encoded-word, and
//  folds: no token over S_TOKEN_MAX.
static bool
s_is_plain (const char *text, size_t len)
{
    if (strstr (text, "=?"))
        return false;
    size_t token = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if ((c < 32 && c != '\t') || c > 126)
            return false;
        //  A token starts at whitespace that follows a word.
        if (s_is_wsp (text [i]) && i > 0 && !s_is_wsp (text [i - 1]))
            token = 0;
        if (++token > S_TOKEN_MAX)
            return false;
    }
    return true;
}

static void
s_unstructured (s_out_t *out, const char *text)
{
    size_t len = strlen (text);
    if (!s_is_plain (text, len)) {
        s_encoded (out, text, len);
        return;
    }
    size_t i = 0;
    while (i < len) {
        size_t ws = i;
        while (i < len && s_is_wsp (text [i]))
            i++;
        size_t word = i;
        while (i < len && !s_is_wsp (text [i]))
            i++;
        s_token (out, text + ws, word - ws, text + word, i - word);
    }
}

//  A display name: atoms when it is words of atext, a quoted-string when
//  it is other printable ASCII, else encoded-words.
static void
s_phrase (s_out_t *out, const char *name)
{
    size_t len = strlen (name);
    bool atoms = name [0] != ' ' && name [len - 1] != ' ';
    bool printable = true;
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) name [i];
        printable &= c >= 32 && c <= 126;
        run = c == ' ' ? 0 : run + 1;
        atoms &= (c == ' ' ? name [i + 1] != ' ' : s_is_atext (c))
                 && run <= S_TOKEN_MAX;
    }
    if (atoms) {
        for (size_t i = 0; i < len;) {
            size_t end = i;
            while (end < len && name [end] != ' ')
                end++;
            s_token (out, " ", 1, name + i, end - i);
            i = end + 1;
        }
        return;
    }
    size_t quoted_len = len + 2;
    for (size_t i = 0; i < len; i++)
        quoted_len += name [i] == '"' || name [i] == '\\';
    if (printable && quoted_len <= S_TOKEN_MAX) {
        char quoted [S_TOKEN_MAX + 1];
        size_t q = 0;
        quoted [q++] = '"';
        for (size_t i = 0; i < len; i++) {
            if (name [i] == '"' || name [i] == '\\')
                quoted [q++] = '\\';
            quoted [q++] = name [i];
        }
        quoted [q++] = '"';
        s_token (out, " ", 1, quoted, q);
        return;
    }
    s_encoded (out, name, len);
}

static void
s_address (s_out_t *out, const s_addr_t *addr, bool last)
{
    if (addr->name)
        s_phrase (out, addr->name);
    char *token = addr->name
                      ? fy_xasprintf ("<%s>%s", addr->address, last ? "" : ",")
                      : fy_xasprintf ("%s%s", addr->address, last ? "" : ",");
    s_word (out, token);
    free (token);
}

static void
s_address_field (s_out_t *out, const char *name, const s_addr_t *items,
                 size_t size)
{
    if (size == 0)
        return;
    s_header_begin (out, name);
    for (size_t i = 0; i < size; i++)
        s_address (out, &items [i], i + 1 == size);
    s_header_end (out);
}

//  RFC 5322 s3.3, in UTC, with English names whatever the locale.
static void
s_date (s_out_t *out, int64_t unix_s)
{
    static const char *const days [] = { "Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat" };
    static const char *const months [] = { "Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec" };
    time_t when = (time_t) unix_s;
    struct tm tm;
    if (!gmtime_r (&when, &tm))
        memset (&tm, 0, sizeof tm);
    char text [64];
    snprintf (text, sizeof text, "%s, %d %s %04d %02d:%02d:%02d +0000",
              days [tm.tm_wday % 7], tm.tm_mday, months [tm.tm_mon % 12],
              tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    s_header_begin (out, "Date");
    s_word (out, text);
    s_header_end (out);
}

//  --------------------------------------------------------------------
//  Bodies

//  The text with every line break (LF, CRLF or a lone CR) made CRLF, as
//  RFC 2045 s6.7 wants text before it is encoded.
static char *
s_canonical (const char *text, size_t *len_p)
{
    size_t len = strlen (text);
    char *canon = fy_xmalloc (2 * len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text [i] == '\r' || text [i] == '\n') {
            if (text [i] == '\r' && text [i + 1] == '\n')
                i++;
            canon [n++] = '\r';
            canon [n++] = '\n';
        }
        else
            canon [n++] = text [i];
    }
    canon [n] = 0;
    *len_p = n;
    return canon;
}

//  Quoted-printable (RFC 2045 s6.7) of canonical text into file, or only
//  counted when file is NULL. Returns the octets written, not counting
//  the CRLF that ends the body.
static size_t
s_qp (FILE *file, const char *text, size_t len)
{
    size_t size = 0;
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if (c == '\r' && i + 1 < len && text [i + 1] == '\n') {
            if (file)
                fputs ("\r\n", file);
            size += 2;
            col = 0;
            i++;
            continue;
        }
        //  Whitespace at the end of a line would be lost in transport.
        bool end = i + 1 == len || text [i + 1] == '\r';
        char enc [4];
        if ((c > 32 && c < 127 && c != '=')
            || ((c == ' ' || c == '\t') && !end))
            snprintf (enc, sizeof enc, "%c", c);
        else
            snprintf (enc, sizeof enc, "=%02X", c);
        size_t n = strlen (enc);
        if (col + n > S_QP_TEXT) {
            if (file)
                fputs ("=\r\n", file);
            size += 3;
            col = 0;
        }
        if (file)
            fputs (enc, file);
        size += n;
        col += n;
    }
    return size;
}

static size_t
s_base64_size (size_t len)
{
    size_t lines = (len + S_B64_LINE - 1) / S_B64_LINE;
    return (len + 2) / 3 * 4 + 2 * lines;
}

static void
s_base64 (FILE *file, const char *data, size_t len)
{
    for (size_t i = 0; i < len; i += S_B64_LINE) {
        size_t n = len - i < S_B64_LINE ? len - i : S_B64_LINE;
        unsigned char line [4 * S_B64_LINE / 3 + 1];
        EVP_EncodeBlock (line, (const unsigned char *) data + i, (int) n);
        fprintf (file, "%s\r\n", (char *) line);
    }
}

//  The content fields and the body of one text part. A part of a
//  multipart ends with the CRLF that belongs to the next boundary line; a
//  message of one part ends where its text does (curl ends the DATA with
//  CRLF.CRLF then), so no line break is added to the text.
static void
s_part (s_out_t *out, const char *subtype, const char *text, bool multipart)
{
    size_t len;
    char *canon = s_canonical (text, &len);
    bool qp = s_qp (NULL, canon, len) <= s_base64_size (len);
    fprintf (out->file,
             "Content-Type: text/%s; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: %s\r\n\r\n",
             subtype, qp ? "quoted-printable" : "base64");
    if (qp) {
        s_qp (out->file, canon, len);
        if (multipart)
            fputs ("\r\n", out->file);
    }
    else
        s_base64 (out->file, canon, len);
    out->line = 0;
    free (canon);
}

//  "=_" never occurs in quoted-printable or base64 text, so the boundary
//  needs no search through the bodies (RFC 2045 s6.7 note 3).
static void
s_boundary (const char *id, char boundary [32])
{
    uint64_t hash = 14695981039346656037u;
    for (const char *c = id; *c; c++)
        hash = (hash ^ (unsigned char) *c) * 1099511628211u;
    snprintf (boundary, 32, "=_ferry_%016llx", (unsigned long long) hash);
}

char *
fy_smtp_message_render (fy_smtp_message_t *self, size_t *len, fy_error_t *err)
{
    assert (self);
    assert (len);
    if (!self->from.address) {
        s_refuse (err, "From", "no sender");
        return NULL;
    }
    if (!fy_smtp_message_recipient (self, 0)) {
        s_refuse (err, "To", "no recipient (To, Cc or Bcc)");
        return NULL;
    }
    if (!self->text && !self->html) {
        s_refuse (err, "body", "no text or HTML body");
        return NULL;
    }
    if (!self->has_date)
        fy_smtp_message_set_date (self, fy_clock_wall_ms () / 1000);
    const char *id = fy_smtp_message_id (self);

    char *data = NULL;
    size_t size = 0;
    s_out_t out = { .file = open_memstream (&data, &size) };
    assert (out.file);          //  Fails only on out-of-memory
    s_date (&out, self->date);
    s_address_field (&out, "From", &self->from, 1);
    s_address_field (&out, "Reply-To", &self->reply_to,
                     self->reply_to.address ? 1 : 0);
    s_address_field (&out, "To", self->to.items, self->to.size);
    s_address_field (&out, "Cc", self->cc.items, self->cc.size);
    if (self->subject) {
        s_header_begin (&out, "Subject");
        s_unstructured (&out, self->subject);
        s_header_end (&out);
    }
    s_header_begin (&out, "Message-ID");
    char *bracketed = fy_xasprintf ("<%s>", id);
    s_word (&out, bracketed);
    free (bracketed);
    s_header_end (&out);
    for (size_t i = 0; i < self->nheaders; i++) {
        s_header_begin (&out, self->names [i]);
        s_unstructured (&out, self->values [i]);
        s_header_end (&out);
    }
    s_puts (&out, "MIME-Version: 1.0\r\n");
    if (self->text && self->html) {
        char boundary [32];
        s_boundary (id, boundary);
        fprintf (out.file,
                 "Content-Type: multipart/alternative; "
                 "boundary=\"%s\"\r\n\r\n--%s\r\n",
                 boundary, boundary);
        s_part (&out, "plain", self->text, true);
        fprintf (out.file, "--%s\r\n", boundary);
        s_part (&out, "html", self->html, true);
        fprintf (out.file, "--%s--\r\n", boundary);
    }
    else if (self->text)
        s_part (&out, "plain", self->text, false);
    else
        s_part (&out, "html", self->html, false);
    fclose (out.file);
    *len = size;
    return data;
}
