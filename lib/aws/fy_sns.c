/*  fy_sns: Publish's form body, posted by the runner of fy_aws_client,
    and the XML answers read by a small strict reader of our own rather
    than libxml2. The answers are two tiny documents of a handful of
    elements; what a general parser adds is what makes XML dangerous to
    take from the network (DTDs, entity declarations and their expansion,
    external entities, network fetches), a new dependency with global
    state to set up, and options to get right at every call. This reader
    has none of it by construction: a DOCTYPE (or any "<!" but a comment
    or CDATA) is refused; only the five predefined entities and character
    references are decoded; depth is bounded; tags must nest and match;
    text must be UTF-8. It keeps the text of the few elements asked for
    and ignores the rest (namespaces, attributes, elements added later).
    tests/fuzz/sns_fuzz.c runs it on any bytes. */
#include "aws/fy_sns.h"
#include "aws/fy_sns_int.h"
#include "ferry/fy_json.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

//  Deeper than any AWS answer nests.
#define S_DEPTH_MAX 16
#define S_NAME_MAX 64

static int
s_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
         char **message_id, char **request_id);

static const char *const s_env_names [] = { "AWS_ENDPOINT_URL_SNS", NULL };

//  The platform (FCM, APNs) told SNS the device token is gone.
static const char *const s_dead_codes [] = { "EndpointDisabled", NULL };

static const fy_aws_service_t s_service = {
    .service = "sns",
    .env_names = s_env_names,
    .prefix = "sns",
    .parse = s_parse,
    .dead_codes = s_dead_codes,
};

fy_aws_client_t *
fy_sns_new (fy_http_client_t *http, const fy_aws_options_t *options,
            fy_error_t *err)
{
    return fy_aws_client_new (http, &s_service, options, err);
}

//  --------------------------------------------------------------------
//  The request

static bool
s_utf8_ok (const char *text)
{
    size_t avail = strlen (text);
    while (avail) {
        size_t len = fy_utf8_length (text, avail);
        if (len == 0)
            return false;
        text += len;
        avail -= len;
    }
    return true;
}

//  1 to max printable ASCII characters (space allowed when spaces).
static bool
s_printable (const char *text, size_t max, bool spaces)
{
    size_t len = 0;
    for (; text [len]; len++)
        if (text [len] < (spaces ? 32 : 33) || text [len] > 126)
            return false;
    return len >= 1 && len <= max;
}

//  "&name=value", percent-encoded as the AWS SDKs do (RFC 3986
//  unreserved characters as they are, every other byte as %XX).
static void
s_form (FILE *out, const char *name, const char *value)
{
    static const char hex [] = "0123456789ABCDEF";
    fprintf (out, "&%s=", name);
    for (const unsigned char *c = (const unsigned char *) value; *c; c++)
        if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z')
            || (*c >= '0' && *c <= '9') || strchr ("-_.~", *c))
            fputc (*c, out);
        else
            fprintf (out, "%%%c%c", hex [*c >> 4], hex [*c & 15]);
}

//  A message attribute's name: 1-256 of [A-Za-z0-9_.-], no leading,
//  trailing or doubled period, not starting with "AWS." or "Amazon.".
static bool
s_attribute_name_ok (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > 256
        || strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789_.-")
               != len
        || name [0] == '.' || name [len - 1] == '.' || strstr (name, "..")
        || strncasecmp (name, "AWS.", 4) == 0
        || strncasecmp (name, "Amazon.", 7) == 0)
        return false;
    return true;
}

static bool
s_attribute_type_ok (const char *type)
{
    static const char *bases [] = { "String", "Number", "Binary" };
    if (strcmp (type, "String.Array") == 0)
        return true;
    for (size_t i = 0; i < 3; i++) {
        size_t len = strlen (bases [i]);
        if (strncmp (type, bases [i], len) == 0
            && (type [len] == 0 || (type [len] == '.' && type [len + 1]))
            && s_printable (type, 256, false))
            return true;
    }
    return false;
}

//  What is wrong with msg, or NULL; *bytes gets its size as SNS counts.
static const char *
s_check (const fy_sns_publish_t *msg, size_t *bytes)
{
    int destinations =
        !!msg->topic_arn + !!msg->target_arn + !!msg->phone_number;
    if (destinations != 1)
        return "exactly one of TopicArn, TargetArn, PhoneNumber";
    const char *destination = msg->topic_arn    ? msg->topic_arn
                              : msg->target_arn ? msg->target_arn
                                                : msg->phone_number;
    if (!s_printable (destination, 1024, false))
        return "a bad destination";
    if (!msg->message || !*msg->message || !s_utf8_ok (msg->message))
        return "no message, or not UTF-8";
    if (msg->subject && !s_printable (msg->subject, 99, true))
        return "a subject must be 1-99 printable ASCII characters";
    if (msg->json_structure) {
        json_t *json = fy_json_loads (msg->message, NULL);
        bool ok = json_is_string (json_object_get (json, "default"));
        json_decref (json);
        if (!ok)
            return "MessageStructure json needs an object with a string "
                   "\"default\"";
    }
    if ((msg->group_id && !s_printable (msg->group_id, 128, false))
        || (msg->dedup_id && !s_printable (msg->dedup_id, 128, false)))
        return "a FIFO id must be 1-128 printable ASCII characters";
    *bytes = strlen (msg->message);
    size_t count = 0;
    for (const char **a = msg->attributes; a && a [0]; a += 3, count++) {
        if (!a [1] || !a [2])
            return "attributes come in triples: name, type, value";
        if (!s_attribute_name_ok (a [0]) || !s_attribute_type_ok (a [1])
            || !*a [2] || !s_utf8_ok (a [2]))
            return "a bad message attribute";
        *bytes += strlen (a [0]) + strlen (a [1]) + strlen (a [2]);
    }
    if (count > FY_SNS_ATTRIBUTES_MAX)
        return "more than 10 message attributes";
    if (*bytes > FY_SNS_MESSAGE_MAX)
        return "message and attributes over 256 KiB";
    return NULL;
}

char *
fy_sns_body (const fy_sns_publish_t *msg, size_t *len_p, fy_error_t *err)
{
    assert (msg);
    assert (len_p);
    size_t bytes = 0;
    const char *wrong = s_check (msg, &bytes);
    if (wrong) {
        fy_error_set (err, "sns: %s", wrong);
        errno = EINVAL;
        return NULL;
    }
    char *text = NULL;
    FILE *out = open_memstream (&text, len_p);
    if (!out)
        abort ();               //  Out of memory is fatal, as fy_xmalloc
    fputs ("Action=Publish&Version=2010-03-31", out);
    if (msg->topic_arn)
        s_form (out, "TopicArn", msg->topic_arn);
    if (msg->target_arn)
        s_form (out, "TargetArn", msg->target_arn);
    if (msg->phone_number)
        s_form (out, "PhoneNumber", msg->phone_number);
    s_form (out, "Message", msg->message);
    if (msg->subject)
        s_form (out, "Subject", msg->subject);
    if (msg->json_structure)
        s_form (out, "MessageStructure", "json");
    size_t n = 1;
    for (const char **a = msg->attributes; a && a [0]; a += 3, n++) {
        char key [80];
        snprintf (key, sizeof key, "MessageAttributes.entry.%zu.Name", n);
        s_form (out, key, a [0]);
        snprintf (key, sizeof key, "MessageAttributes.entry.%zu.Value.DataType",
                  n);
        s_form (out, key, a [1]);
        snprintf (key, sizeof key, "MessageAttributes.entry.%zu.Value.%s", n,
                  strncmp (a [1], "Binary", 6) == 0 ? "BinaryValue"
                                                    : "StringValue");
        s_form (out, key, a [2]);
    }
    if (msg->group_id)
        s_form (out, "MessageGroupId", msg->group_id);
    if (msg->dedup_id)
        s_form (out, "MessageDeduplicationId", msg->dedup_id);
    if (fclose (out))
        abort ();
    return text;
}

int
fy_sns_publish (fy_aws_client_t *sns, const fy_sns_publish_t *msg,
                fy_http_op_done_fn *fn, void *arg, uint64_t *id_p,
                fy_error_t *err)
{
    assert (sns);
    assert (msg);
    assert (fn);
    assert (strcmp (fy_aws_client_service (sns), "sns") == 0);
    size_t len;
    char *body = fy_sns_body (msg, &len, err);
    if (!body)
        return -1;
    fy_aws_client_post (sns, "/",
                        "application/x-www-form-urlencoded; charset=utf-8",
                        &body, len, fn, arg, id_p);
    return 0;
}

//  --------------------------------------------------------------------
//  The XML reader

//  The elements asked for, by path from the root ("ErrorResponse/Error/
//  Code"), and their text once read (NULL when absent).
typedef struct {
    const char *const *paths;
    size_t count;
    char **values;
} s_want_t;

typedef struct {
    const char *p, *end;
    //  The open elements' local names, and each one's path length in
    //  path (so "A/B/C" shrinks back to "A/B" at </C>).
    size_t depth;
    char path [S_DEPTH_MAX * (S_NAME_MAX + 1)];
    size_t path_len [S_DEPTH_MAX + 1];
    bool has_child [S_DEPTH_MAX + 1];
    //  The current element's text so far.
    char *text;
    size_t text_len, text_size;
    char root [S_NAME_MAX + 1];
} s_xml_t;

static void
s_text_add (s_xml_t *xml, const char *data, size_t len)
{
    if (xml->text_len + len + 1 > xml->text_size) {
        xml->text_size = (xml->text_len + len + 1) * 2;
        xml->text = fy_xrealloc (xml->text, xml->text_size);
    }
    memcpy (xml->text + xml->text_len, data, len);
    xml->text_len += len;
    xml->text [xml->text_len] = 0;
}

static bool
s_starts (s_xml_t *xml, const char *token)
{
    size_t len = strlen (token);
    return (size_t) (xml->end - xml->p) >= len
           && memcmp (xml->p, token, len) == 0;
}

//  Move past the first token after p; false when there is none.
static bool
s_skip_past (s_xml_t *xml, const char *token)
{
    size_t len = strlen (token);
    for (const char *c = xml->p; (size_t) (xml->end - c) >= len; c++)
        if (memcmp (c, token, len) == 0) {
            xml->p = c + len;
            return true;
        }
    return false;
}

static void
s_skip_space (s_xml_t *xml)
{
    while (xml->p < xml->end && strchr (" \t\r\n", *xml->p) && *xml->p)
        xml->p++;
}

static bool
s_name_char (char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'
           || c == ':' || (unsigned char) c >= 0x80
           || (!first && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
}

//  A name at p: its length (0 when there is none, or it is too long).
static size_t
s_name (s_xml_t *xml)
{
    size_t len = 0;
    while (xml->p + len < xml->end && s_name_char (xml->p [len], len == 0))
        len++;
    return len <= S_NAME_MAX ? len : 0;
}

//  The UTF-8 of code point cp into out (4 bytes); its length, 0 for a
//  code point XML does not allow.
static size_t
s_utf8 (unsigned long cp, char *out)
{
    if (cp == 0 || (cp < 32 && cp != 9 && cp != 10 && cp != 13)
        || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF
        || cp > 0x10FFFF)
        return 0;
    if (cp < 0x80) {
        out [0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        out [0] = (char) (0xC0 | (cp >> 6));
        out [1] = (char) (0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out [0] = (char) (0xE0 | (cp >> 12));
        out [1] = (char) (0x80 | ((cp >> 6) & 0x3F));
        out [2] = (char) (0x80 | (cp & 0x3F));
        return 3;
    }
    out [0] = (char) (0xF0 | (cp >> 18));
    out [1] = (char) (0x80 | ((cp >> 12) & 0x3F));
    out [2] = (char) (0x80 | ((cp >> 6) & 0x3F));
    out [3] = (char) (0x80 | (cp & 0x3F));
    return 4;
}

//  A reference at p ("&amp;", "&#233;", "&#xE9;") into the text.
static bool
s_reference (s_xml_t *xml)
{
    static const struct {
        const char *name;
        char c;
    } named [] = {
        { "&lt;", '<' },   { "&gt;", '>' },    { "&amp;", '&' },
        { "&quot;", '"' }, { "&apos;", '\'' },
    };
    for (size_t i = 0; i < 5; i++)
        if (s_starts (xml, named [i].name)) {
            s_text_add (xml, &named [i].c, 1);
            xml->p += strlen (named [i].name);
            return true;
        }
    if (!s_starts (xml, "&#"))
        return false;
    xml->p += 2;
    bool hex = xml->p < xml->end && *xml->p == 'x';
    xml->p += hex;
    unsigned long cp = 0;
    size_t digits = 0;
    for (; xml->p < xml->end && *xml->p != ';'; xml->p++, digits++) {
        const char *set = hex ? "0123456789abcdefABCDEF" : "0123456789";
        const char *at = *xml->p ? strchr (set, *xml->p) : NULL;
        if (!at || digits == 8)
            return false;
        unsigned long digit = (unsigned long) (at - set);
        cp = cp * (hex ? 16 : 10) + (digit > 15 ? digit - 6 : digit);
    }
    char utf8 [4];
    size_t len = s_utf8 (cp, utf8);
    if (xml->p == xml->end || digits == 0 || len == 0)
        return false;
    xml->p++;
    s_text_add (xml, utf8, len);
    return true;
}

//  Character data up to the next '<'.
static bool
s_chars (s_xml_t *xml)
{
    while (xml->p < xml->end && *xml->p != '<') {
        if (*xml->p == '&') {
            if (!s_reference (xml))
                return false;
            continue;
        }
        size_t len = fy_utf8_length (xml->p, (size_t) (xml->end - xml->p));
        //  No NUL, no control character XML 1.0 forbids (strchr would
        //  find a NUL: it is in every string).
        if (len == 0
            || (len == 1 && (unsigned char) *xml->p < 32 && *xml->p != '\t'
                && *xml->p != '\r' && *xml->p != '\n'))
            return false;
        //  "]]>" is not allowed in character data.
        if (s_starts (xml, "]]>"))
            return false;
        s_text_add (xml, xml->p, len);
        xml->p += len;
    }
    return true;
}

//  Attributes up to '>' or "/>": name = "value" or 'value'.
static bool
s_attributes (s_xml_t *xml)
{
    while (true) {
        const char *before = xml->p;
        s_skip_space (xml);
        if (xml->p == xml->end)
            return false;
        if (*xml->p == '>' || *xml->p == '/')
            return true;
        if (xml->p == before)
            return false;       //  Attributes are apart from the name
        size_t len = s_name (xml);
        if (len == 0)
            return false;
        xml->p += len;
        s_skip_space (xml);
        if (xml->p == xml->end || *xml->p != '=')
            return false;
        xml->p++;
        s_skip_space (xml);
        if (xml->p == xml->end || (*xml->p != '"' && *xml->p != '\''))
            return false;
        char quote = *xml->p++;
        const char *close =
            memchr (xml->p, quote, (size_t) (xml->end - xml->p));
        if (!close || memchr (xml->p, '<', (size_t) (close - xml->p))
            || memchr (xml->p, 0, (size_t) (close - xml->p)))
            return false;
        xml->p = close + 1;
    }
}

//  The element closing now: keep its text if it is wanted.
static void
s_keep (s_xml_t *xml, s_want_t *want)
{
    if (xml->has_child [xml->depth])
        return;
    for (size_t i = 0; i < want->count; i++)
        if (strcmp (xml->path, want->paths [i]) == 0 && !want->values [i]) {
            want->values [i] =
                fy_xstrndup (xml->text ? xml->text : "", xml->text_len);
            break;
        }
}

//  A start tag at p ('<' seen); pushes it, or pops at once for "/>".
static bool
s_start_tag (s_xml_t *xml, s_want_t *want)
{
    xml->p++;
    size_t len = s_name (xml);
    if (len == 0 || xml->depth == S_DEPTH_MAX
        || (xml->depth == 0 && xml->root [0]))
        return false;           //  Bad name, too deep, a second root
    const char *name = xml->p;
    xml->p += len;
    if (!s_attributes (xml))
        return false;
    //  The local name: after any namespace prefix.
    const char *colon = memchr (name, ':', len);
    if (colon) {
        len -= (size_t) (colon + 1 - name);
        name = colon + 1;
    }
    if (xml->depth == 0) {
        memcpy (xml->root, name, len);
        xml->root [len] = 0;
    }
    xml->has_child [xml->depth] = true;
    size_t at = xml->path_len [xml->depth];
    if (xml->depth)
        xml->path [at++] = '/';
    memcpy (xml->path + at, name, len);
    xml->path [at + len] = 0;
    xml->depth++;
    xml->path_len [xml->depth] = at + len;
    xml->has_child [xml->depth] = false;
    xml->text_len = 0;
    if (*xml->p == '/') {
        if (!s_starts (xml, "/>"))
            return false;
        xml->p += 2;
        s_keep (xml, want);
        xml->depth--;
        xml->path [xml->path_len [xml->depth]] = 0;
        return true;
    }
    xml->p++;
    return true;
}

//  An end tag at p ("</" seen): must close the open element.
static bool
s_end_tag (s_xml_t *xml, s_want_t *want)
{
    xml->p += 2;
    size_t len = s_name (xml);
    if (len == 0 || xml->depth == 0)
        return false;
    const char *name = xml->p;
    const char *colon = memchr (name, ':', len);
    xml->p += len;
    if (colon) {
        len -= (size_t) (colon + 1 - name);
        name = colon + 1;
    }
    if (xml->path_len [xml->depth] < len)
        return false;
    const char *open = xml->path + xml->path_len [xml->depth] - len;
    if (memcmp (open, name, len) != 0 || (open > xml->path && open [-1] != '/'))
        return false;
    s_skip_space (xml);
    if (xml->p == xml->end || *xml->p != '>')
        return false;
    xml->p++;
    s_keep (xml, want);
    xml->depth--;
    xml->path [xml->path_len [xml->depth]] = 0;
    xml->text_len = 0;
    return true;
}

//  Read the document in body; fills want's values. 0, or -1 when the
//  body is not well-formed as far as this reader goes (then no value is
//  kept).
static int
s_xml_read (const char *body, size_t len, s_want_t *want, char *root,
            size_t root_size)
{
    s_xml_t xml = { .p = body, .end = body + len };
    bool ok = true;
    while (ok && xml.p < xml.end) {
        if (*xml.p != '<') {
            const char *from = xml.p;
            ok = s_chars (&xml);
            //  Outside the root only white space.
            for (; ok && xml.depth == 0 && from < xml.p; from++)
                ok = *from == ' ' || *from == '\t' || *from == '\r'
                     || *from == '\n';
        }
        else if (s_starts (&xml, "<?"))
            ok = s_skip_past (&xml, "?>");
        else if (s_starts (&xml, "<!--"))
            ok = s_skip_past (&xml, "-->");
        else if (s_starts (&xml, "<![CDATA[")) {
            xml.p += 9;
            const char *from = xml.p;
            ok = xml.depth > 0 && s_skip_past (&xml, "]]>")
                 && !memchr (from, 0, (size_t) (xml.p - 3 - from));
            if (ok)
                s_text_add (&xml, from, (size_t) (xml.p - 3 - from));
        }
        else if (s_starts (&xml, "<!"))
            ok = false;         //  DOCTYPE and declarations: never
        else if (s_starts (&xml, "</"))
            ok = s_end_tag (&xml, want);
        else
            ok = s_start_tag (&xml, want);
    }
    ok = ok && xml.depth == 0 && xml.root [0];
    for (size_t i = 0; i < want->count; i++)
        if (!ok || (want->values [i] && !s_utf8_ok (want->values [i]))) {
            free (want->values [i]);
            want->values [i] = NULL;
        }
    snprintf (root, root_size, "%s", ok ? xml.root : "");
    free (xml.text);
    return ok ? 0 : -1;
}

//  --------------------------------------------------------------------
//  Answers

static void
s_copy (char *dest, size_t size, const char *src)
{
    snprintf (dest, size, "%s", src ? src : "");
}

static int
s_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
         char **message_id, char **request_id)
{
    static const char *const paths [] = {
        "PublishResponse/PublishResult/MessageId",
        "PublishResponse/ResponseMetadata/RequestId",
        "ErrorResponse/Error/Type",
        "ErrorResponse/Error/Code",
        "ErrorResponse/Error/Message",
        "ErrorResponse/RequestId",
    };
    char *values [6] = { NULL };
    s_want_t want = { paths, 6, values };
    char root [S_NAME_MAX + 1];
    bool read =
        s_xml_read (answer->body, answer->len, &want, root, sizeof root) == 0;
    memset (error, 0, sizeof *error);
    int rc = -1;
    if (answer->status >= 200 && answer->status <= 299) {
        if (values [0] && *values [0]) {
            *message_id = values [0];
            values [0] = NULL;
            rc = 0;
        }
        else
            snprintf (error->message, sizeof error->message,
                      "sns: HTTP %d without a %s", answer->status,
                      read ? "MessageId" : "well-formed answer");
    }
    else {
        error->sender_fault = values [2] ? strcmp (values [2], "Sender") == 0
                                         : answer->status < 500;
        if (values [3])
            fy_aws_short_code (values [3], error->code, sizeof error->code);
        s_copy (error->message, sizeof error->message, values [4]);
    }
    const char *id = values [1] ? values [1] : values [5];
    if (id && *id)
        *request_id = fy_xstrdup (id);
    for (size_t i = 0; i < 6; i++)
        free (values [i]);
    return rc;
}

int
fy_sns_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
              char **message_id, char **request_id)
{
    assert (answer && error && message_id && request_id);
    return s_parse (answer, error, message_id, request_id);
}
