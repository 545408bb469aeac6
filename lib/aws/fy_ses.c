/*  fy_ses: SendEmail's body built with jansson (which refuses strings
    that are not UTF-8, so nothing malformed reaches SES), posted by the
    runner of fy_aws_client; the answer read with fy_json. The checks
    here are the ones SES would fail the message for anyway: failing
    them before the call keeps a worker from spending retries on a
    message that can never go. */
#include "aws/fy_ses.h"
#include "aws/fy_ses_int.h"
#include "ferry/fy_json.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static int
s_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
         char **message_id, char **request_id);

static const char *const s_env_names [] = { "AWS_ENDPOINT_URL_SESV2",
                                            "AWS_ENDPOINT_URL_SES", NULL };

static const fy_aws_service_t s_service = {
    .service = "ses",
    .env_names = s_env_names,
    .prefix = "email",
    .parse = s_parse,
};

fy_aws_client_t *
fy_ses_new (fy_http_client_t *http, const fy_aws_options_t *options,
            fy_error_t *err)
{
    return fy_aws_client_new (http, &s_service, options, err);
}

//  An address SES could take: not empty, no control character (a CR or
//  LF would be a header injection in the message SES builds).
static bool
s_address_ok (const char *address)
{
    if (!*address)
        return false;
    for (const char *c = address; *c; c++)
        if ((unsigned char) *c < 32 || *c == 127)
            return false;
    return true;
}

//  list as a JSON array under name in object; false on a bad address.
static bool
s_addresses (json_t *object, const char *name, const char **list, size_t *count)
{
    if (!list || !list [0])
        return true;
    json_t *array = json_array ();
    json_object_set_new (object, name, array);
    for (size_t i = 0; list [i]; i++) {
        json_t *address = json_string (list [i]);
        if (!address || !s_address_ok (list [i])) {
            json_decref (address);
            return false;
        }
        json_array_append_new (array, address);
        (*count)++;
    }
    return true;
}

//  {"Data": text, "Charset": "UTF-8"} under name; false when text is not
//  UTF-8.
static bool
s_content (json_t *object, const char *name, const char *text)
{
    json_t *data = json_string (text);
    if (!data)
        return false;
    json_object_set_new (
        object, name,
        json_pack ("{s:o, s:s}", "Data", data, "Charset", "UTF-8"));
    return true;
}

static char *
s_base64 (const void *data, size_t len)
{
    char *text = fy_xmalloc (4 * ((len + 2) / 3) + 1);
    int written = EVP_EncodeBlock ((unsigned char *) text, data, (int) len);
    text [written] = 0;
    return text;
}

//  Content: Simple (Subject, Body.Text / Body.Html) or Raw. NULL with
//  what is wrong in err.
static json_t *
s_email_content (const fy_ses_email_t *email, fy_error_t *err)
{
    bool simple = email->subject || email->text || email->html;
    if (email->raw && simple) {
        fy_error_set (err, "ses: both raw and simple content");
        return NULL;
    }
    if (email->raw) {
        if (email->raw_len == 0 || email->raw_len > INT32_MAX / 2) {
            fy_error_set (err, "ses: raw message of %zu bytes", email->raw_len);
            return NULL;
        }
        char *data = s_base64 (email->raw, email->raw_len);
        json_t *content = json_pack ("{s:{s:s}}", "Raw", "Data", data);
        free (data);
        return content;
    }
    if (!email->subject || (!email->text && !email->html)) {
        fy_error_set (err, "ses: a simple email needs a subject and a "
                           "text or HTML body");
        return NULL;
    }
    json_t *message = json_object ();
    json_t *body = json_object ();
    json_object_set_new (message, "Body", body);
    if (!s_content (message, "Subject", email->subject)
        || (email->text && !s_content (body, "Text", email->text))
        || (email->html && !s_content (body, "Html", email->html))) {
        json_decref (message);
        fy_error_set (err, "ses: subject or body is not UTF-8");
        return NULL;
    }
    return json_pack ("{s:o}", "Simple", message);
}

char *
fy_ses_body (const fy_ses_email_t *email, size_t *len_p, fy_error_t *err)
{
    assert (email);
    assert (len_p);
    char *text = NULL;
    json_t *request = json_object ();
    json_t *content = s_email_content (email, err);
    if (!content)
        goto out;
    json_object_set_new (request, "Content", content);
    if (email->from) {
        json_t *from = json_string (email->from);
        if (!from || !s_address_ok (email->from)) {
            json_decref (from);
            fy_error_set (err, "ses: bad From address");
            goto out;
        }
        json_object_set_new (request, "FromEmailAddress", from);
    }
    json_t *destination = json_object ();
    json_object_set_new (request, "Destination", destination);
    size_t recipients = 0, replies = 0;
    if (!s_addresses (destination, "ToAddresses", email->to, &recipients)
        || !s_addresses (destination, "CcAddresses", email->cc, &recipients)
        || !s_addresses (destination, "BccAddresses", email->bcc, &recipients)
        || !s_addresses (request, "ReplyToAddresses", email->reply_to,
                         &replies)) {
        fy_error_set (err, "ses: an empty, non-UTF-8 or control-character "
                           "address");
        goto out;
    }
    if (recipients > FY_SES_RECIPIENTS_MAX
        || (recipients == 0 && !email->raw)) {
        fy_error_set (err, "ses: %zu recipients (1 to %d)", recipients,
                      FY_SES_RECIPIENTS_MAX);
        goto out;
    }
    if (recipients == 0)
        json_object_del (request, "Destination");
    if (email->configuration_set) {
        json_t *name = json_string (email->configuration_set);
        if (!name || !*email->configuration_set) {
            json_decref (name);
            fy_error_set (err, "ses: bad ConfigurationSetName");
            goto out;
        }
        json_object_set_new (request, "ConfigurationSetName", name);
    }
    json_t *tags = json_array ();
    json_object_set_new (request, "EmailTags", tags);
    for (size_t i = 0; email->tags && email->tags [i]; i += 2) {
        json_t *tag = email->tags [i + 1]
                          ? json_pack ("{s:s, s:s}", "Name", email->tags [i],
                                       "Value", email->tags [i + 1])
                          : NULL;
        if (!tag) {
            fy_error_set (err, "ses: a tag without a value, or not UTF-8");
            goto out;
        }
        json_array_append_new (tags, tag);
    }
    if (json_array_size (tags) == 0)
        json_object_del (request, "EmailTags");
    text = fy_json_dumps (request, FY_JSON_SORT_KEYS, len_p);
out:
    json_decref (request);
    if (!text)
        errno = EINVAL;
    return text;
}

int
fy_ses_send (fy_aws_client_t *ses, const fy_ses_email_t *email,
             fy_http_op_done_fn *fn, void *arg, uint64_t *id_p, fy_error_t *err)
{
    assert (ses);
    assert (email);
    assert (fn);
    assert (strcmp (fy_aws_client_service (ses), "ses") == 0);
    size_t len;
    char *body = fy_ses_body (email, &len, err);
    if (!body)
        return -1;
    fy_aws_client_post (ses, "/v2/email/outbound-emails", "application/json",
                        &body, len, fn, arg, id_p);
    return 0;
}

static int
s_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
         char **message_id, char **request_id)
{
    (void) request_id;          //  Only in the x-amzn-RequestId header
    if (answer->status < 200 || answer->status > 299) {
        fy_aws_decode_json_error (answer->status, answer->error_type,
                                  answer->body, answer->len, error);
        return -1;
    }
    memset (error, 0, sizeof *error);
    json_t *json = fy_json_loadb (answer->body, answer->len, NULL);
    const char *id = json_string_value (json_object_get (json, "MessageId"));
    if (id && *id)
        *message_id = fy_xstrdup (id);
    else
        snprintf (error->message, sizeof error->message,
                  "ses: HTTP %d without a MessageId", answer->status);
    json_decref (json);
    return *message_id ? 0 : -1;
}

int
fy_ses_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
              char **message_id, char **request_id)
{
    assert (answer && error && message_id && request_id);
    return s_parse (answer, error, message_id, request_id);
}
