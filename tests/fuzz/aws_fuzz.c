/*  Fuzz target for the AWS clients' answer parsers: fy_sns_parse (the
    XML reader of SNS's answers) and fy_ses_parse (SES's JSON answers and
    errors). The first byte picks the mode, the rest is the body, given
    in a buffer of exactly its size (no NUL after it, so a read past the
    end is ASan's to see): 0 SNS 200, 1 SNS 400, 2 SES 200, 3 SES 400
    with the rest as X-Amzn-ErrorType too, 4 a round trip: the rest,
    when it is text XML allows, escaped into a PublishResponse's
    MessageId (<, >, & as entities, the rest as it is, in one CDATA
    section when it holds no "]]>"), must read back equal. Every mode
    checks the contract: a success has a non-empty UTF-8 message id, a
    failure none, and the code and message are NUL-terminated within
    their arrays. */
#include "ferry/ferry.h"
#include "aws/fy_aws_client.h"
#include "aws/fy_ses.h"
#include "aws/fy_ses_int.h"
#include "aws/fy_sns.h"
#include "aws/fy_sns_int.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check (int rc, const fy_http_service_error_t *error, char *message_id,
         char *request_id)
{
    if (!memchr (error->code, 0, sizeof error->code)
        || !memchr (error->message, 0, sizeof error->message))
        abort ();
    if (rc == 0) {
        size_t len = message_id ? strlen (message_id) : 0;
        if (len == 0)
            abort ();
        for (size_t i = 0; i < len;) {
            size_t step = fy_utf8_length (message_id + i, len - i);
            if (step == 0)
                abort ();
            i += step;
        }
    }
    else if (message_id)
        abort ();
    free (message_id);
    free (request_id);
}

//  Text XML 1.0 allows (UTF-8, no control character but tab, CR, LF).
static bool
s_xml_text (const char *text, size_t size)
{
    for (size_t i = 0; i < size;) {
        size_t step = fy_utf8_length (text + i, size - i);
        if (step == 0
            || (step == 1 && (unsigned char) text [i] < 32 && text [i] != '\t'
                && text [i] != '\r' && text [i] != '\n'))
            return false;
        i += step;
    }
    return true;
}

static void
s_round_trip (const char *text, size_t size)
{
    if (size == 0 || !s_xml_text (text, size))
        return;
    bool cdata =
        size > 3 && memmem (text, size, "]]>", 3) == NULL && (size & 1);
    char *doc = NULL;
    size_t len = 0;
    FILE *out = open_memstream (&doc, &len);
    fputs ("<PublishResponse><PublishResult><MessageId>", out);
    if (cdata) {
        fputs ("<![CDATA[", out);
        fwrite (text, 1, size, out);
        fputs ("]]>", out);
    }
    else
        for (size_t i = 0; i < size; i++)
            if (text [i] == '<')
                fputs ("&lt;", out);
            else if (text [i] == '>')
                fputs ("&gt;", out);
            else if (text [i] == '&')
                fputs ("&amp;", out);
            else
                fputc (text [i], out);
    fputs ("</MessageId></PublishResult></PublishResponse>", out);
    fclose (out);
    fy_http_answer_t answer = { 200, doc, len, NULL };
    fy_http_service_error_t error;
    char *message_id = NULL, *request_id = NULL;
    int rc = fy_sns_parse (&answer, &error, &message_id, &request_id);
    if (rc != 0 || strlen (message_id) != size
        || memcmp (message_id, text, size) != 0)
        abort ();
    s_check (rc, &error, message_id, request_id);
    free (doc);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int mode = data [0] % 5;
    size--;
    char *body = malloc (size ? size : 1);
    memcpy (body, data + 1, size);
    if (mode == 4)
        s_round_trip (body, size);
    else {
        char *header = NULL;
        if (mode == 3) {
            header = malloc (size + 1);
            memcpy (header, body, size);
            header [size] = 0;
        }
        fy_http_answer_t answer = { mode == 0 || mode == 2 ? 200 : 400, body,
                                    size, header };
        fy_http_service_error_t error;
        char *message_id = NULL, *request_id = NULL;
        int rc = mode < 2
                     ? fy_sns_parse (&answer, &error, &message_id, &request_id)
                     : fy_ses_parse (&answer, &error, &message_id, &request_id);
        s_check (rc, &error, message_id, request_id);
        free (header);
    }
    free (body);
    return 0;
}
