/*  fy_ses and fy_sns end to end against tests/stubs/aws_notify_stub.py,
    which stands in for SES and SNS and checks each request as they do:
    the SigV4 signature recomputed from the known keys (the requests are
    signed here by the real chain: fy_aws_sign with the keys in the
    environment), the body's shape and encoding. Covered: a signed
    request accepted; a wrong secret refused with the service's error
    decoded; throttling retried then success; a permanent error not
    retried and flagged; a unicode subject and body as the service
    decodes them; SNS message attributes and MessageStructure json;
    SNS's XML answer with entities, comments and CDATA. */
#include "ferry/ferry.h"
#include "aws/fy_aws_client.h"
#include "aws/fy_aws_sign.h"
#include "aws/fy_ses.h"
#include "aws/fy_sns.h"
#include "http/fy_http_client.h"

#include <errno.h>

#include "stubs/stub.h"
#include "tap.h"

#define S_ACCESS_KEY "AKIDFERRYNOTIFY"
#define S_SECRET_KEY "ferry/notify+secret"

//  The stub's log since the last call: a JSON array of requests (caller
//  owns). Entries already returned are skipped.
static json_t *
s_log (fy_http_client_t *http, int port)
{
    static size_t returned;
    return stub_log (http, port, &returned);
}

static const char *
s_path (json_t *json, const char *path)
{
    //  "a/b/0/c": objects by key, arrays by index.
    char *copy = fy_xstrdup (path);
    char *save = NULL;
    for (char *part = strtok_r (copy, "/", &save); part && json;
         part = strtok_r (NULL, "/", &save))
        json = json_is_array (json)
                   ? json_array_get (json, strtoul (part, NULL, 10))
                   : json_object_get (json, part);
    free (copy);
    return json_string_value (json);
}

static fy_aws_options_t
s_options (fy_http_sign_fn *sign, fy_aws_sign_t *signer)
{
    fy_aws_options_t options;
    fy_aws_options_default (&options);
    options.base.sign = sign;
    options.base.sign_arg = signer;
    options.base.retry_base_ms = 5;
    options.base.retry_cap_ms = 20;
    return options;
}

static void
s_ses (fy_http_client_t *http, int port)
{
    fy_aws_sign_t *signer = fy_aws_sign_new ("eu-west-1");
    fy_aws_options_t options = s_options (fy_aws_sign_ses, signer);
    fy_error_t err = { "" };
    fy_aws_client_t *ses = fy_ses_new (http, &options, &err);
    if (!ses)
        BAIL_OUT ("fy_ses_new: %s", err.text);

    //  A signed request, unicode subject and bodies, every field.
    const char *to [] = { "ada@example.com", "grace@example.com", NULL };
    const char *cc [] = { "manager@example.com", NULL };
    const char *bcc [] = { "audit@example.com", NULL };
    const char *reply_to [] = { "hr@example.com", NULL };
    const char *tags [] = { "kind", "review-due", NULL };
    const char *subject = "Revue de performance \xe2\x80\x94 \xc3\xa9t\xc3\xa9 "
                          "\xf0\x9f\x93\x8b \xe6\x97\xa5\xe6\x9c\xac";
    const char *text = "Bonjour Ad\xc3\xa0,\n\xd0\x9f\xd1\x80\xd0\xb8"
                       "\xd0\xb2\xd0\xb5\xd1\x82 \xf0\x9f\x91\x8b";
    const char *html = "<p>Ol\xc3\xa1 &amp; \xe4\xbd\xa0\xe5\xa5\xbd</p>";
    fy_ses_email_t email = {
        .from = "noreply@example.com",
        .to = to,
        .cc = cc,
        .bcc = bcc,
        .reply_to = reply_to,
        .subject = subject,
        .text = text,
        .html = html,
        .configuration_set = "ferry-notify",
        .tags = tags,
    };
    stub_seen_t seen = { false };
    uint64_t id = 0;
    ok (fy_ses_send (ses, &email, stub_on_result, &seen, &id, &err) == 0
            && id != 0,
        "ses: send accepted");
    is_int ((int) fy_aws_client_pending (ses), 1, "ses: one pending");
    ok (!seen.done, "ses: no callback inside send");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, 0, "ses: signed request accepted (%s)",
            seen.message);
    ok (strncmp (seen.message_id, "0102018f", 8) == 0, "ses: MessageId %s",
        seen.message_id);
    ok (seen.request_id [0] != 0, "ses: request id from x-amzn-RequestId");
    is_int (seen.result.attempts, 1, "ses: one attempt");
    json_t *log = s_log (http, port);
    json_t *sent = json_object_get (json_array_get (log, 0), "body");
    ok (json_is_true (json_object_get (json_array_get (log, 0), "signed")),
        "ses: the stub checked the signature");
    is_str (s_path (sent, "Content/Simple/Subject/Data"), subject,
            "ses: unicode subject as SES decodes it");
    is_str (s_path (sent, "Content/Simple/Subject/Charset"), "UTF-8",
            "ses: charset UTF-8");
    is_str (s_path (sent, "Content/Simple/Body/Text/Data"), text,
            "ses: unicode text body");
    is_str (s_path (sent, "Content/Simple/Body/Html/Data"), html,
            "ses: unicode html body");
    is_str (s_path (sent, "Destination/ToAddresses/1"), "grace@example.com",
            "ses: To");
    is_str (s_path (sent, "Destination/CcAddresses/0"), "manager@example.com",
            "ses: Cc");
    is_str (s_path (sent, "Destination/BccAddresses/0"), "audit@example.com",
            "ses: Bcc");
    is_str (s_path (sent, "ReplyToAddresses/0"), "hr@example.com",
            "ses: ReplyTo");
    is_str (s_path (sent, "ConfigurationSetName"), "ferry-notify",
            "ses: ConfigurationSetName");
    is_str (s_path (sent, "EmailTags/0/Value"), "review-due", "ses: tags");
    json_decref (log);

    //  Raw MIME content: the stub decodes the base64.
    const char *mime = "From: noreply@example.com\r\nTo: raw@example.com\r\n"
                       "Subject: raw\r\n\r\nbody\r\n";
    fy_ses_email_t raw = { .raw = mime, .raw_len = strlen (mime) };
    memset (&seen, 0, sizeof seen);
    ok (fy_ses_send (ses, &raw, stub_on_result, &seen, NULL, &err) == 0,
        "ses: raw send accepted");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, 0, "ses: raw message sent (%s)", seen.message);
    json_decref (s_log (http, port));

    //  Throttled twice, then sent.
    const char *throttled [] = { "throttle-2@example.com", NULL };
    email.to = throttled;
    email.cc = email.bcc = NULL;
    memset (&seen, 0, sizeof seen);
    ok (fy_ses_send (ses, &email, stub_on_result, &seen, NULL, &err) == 0,
        "ses: send to a throttled recipient");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, 0, "ses: sent after throttling");
    is_int (seen.result.attempts, 3, "ses: on the third attempt");
    log = s_log (http, port);
    is_int ((int) json_array_size (log), 3, "ses: the stub saw 3 requests");
    is_str (s_path (json_array_get (log, 0), "code"),
            "TooManyRequestsException", "ses: the first was throttled");
    json_decref (log);

    //  Out of attempts on 5xx: failed, retryable.
    const char *failing [] = { "fail500-9@example.com", NULL };
    email.to = failing;
    memset (&seen, 0, sizeof seen);
    ok (fy_ses_send (ses, &email, stub_on_result, &seen, NULL, &err) == 0,
        "ses: send to a failing server");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, EPROTO, "ses: 5xx every time fails");
    is_int (seen.result.attempts, 5, "ses: after max_attempts");
    is_str (seen.code, "InternalFailure", "ses: InternalFailure");
    ok (seen.result.retryable, "ses: retryable");
    json_decref (s_log (http, port));

    //  Permanent: not retried, flagged.
    const char *rejected [] = { "rejected@example.com", NULL };
    email.to = rejected;
    memset (&seen, 0, sizeof seen);
    ok (fy_ses_send (ses, &email, stub_on_result, &seen, NULL, &err) == 0,
        "ses: send to a rejected address");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, EPROTO, "ses: rejected");
    is_int (seen.result.status, 400, "ses: HTTP 400");
    is_str (seen.code, "MessageRejected", "ses: code from X-Amzn-ErrorType");
    ok (strstr (seen.message, "not verified") != NULL,
        "ses: message from the body: %s", seen.message);
    is_int (seen.result.attempts, 1, "ses: not retried");
    ok (!seen.result.retryable, "ses: flagged permanent");
    log = s_log (http, port);
    is_int ((int) json_array_size (log), 1, "ses: one request only");
    json_decref (log);

    //  A malformed email never leaves.
    fy_ses_email_t empty = { .from = "a@example.com",
                             .subject = "s",
                             .text = "t" };
    ok (fy_ses_send (ses, &empty, stub_on_result, &seen, NULL, &err) == -1
            && errno == EINVAL,
        "ses: no recipient: EINVAL (%s)", err.text);
    fy_aws_client_destroy (&ses);
    fy_aws_sign_destroy (&signer);

    //  The wrong secret: SES's signature error, decoded.
    setenv ("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    signer = fy_aws_sign_new ("eu-west-1");
    options = s_options (fy_aws_sign_ses, signer);
    ses = fy_ses_new (http, &options, &err);
    email.to = to;
    memset (&seen, 0, sizeof seen);
    ok (fy_ses_send (ses, &email, stub_on_result, &seen, NULL, &err) == 0,
        "ses: send with a wrong secret");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.status, 403, "ses: wrong secret: 403");
    is_str (seen.code, "InvalidSignatureException",
            "ses: wrong secret: InvalidSignatureException");
    ok (strstr (seen.message, "does not match") != NULL,
        "ses: with SES's message");
    is_int (seen.result.attempts, 1, "ses: not retried at once");
    ok (seen.result.retryable, "ses: a credentials problem is not the "
                               "message's: retryable later");
    json_decref (s_log (http, port));
    fy_aws_client_destroy (&ses);
    fy_aws_sign_destroy (&signer);
    setenv ("AWS_SECRET_ACCESS_KEY", S_SECRET_KEY, 1);
}

static void
s_sns (fy_http_client_t *http, int port)
{
    fy_aws_sign_t *signer = fy_aws_sign_new ("eu-west-1");
    fy_aws_options_t options = s_options (fy_aws_sign_sns, signer);
    fy_error_t err = { "" };
    fy_aws_client_t *sns = fy_sns_new (http, &options, &err);
    if (!sns)
        BAIL_OUT ("fy_sns_new: %s", err.text);

    //  A push payload per platform, attributes, unicode.
    const char *payload = "{\"default\":\"R\xc3\xa9vision due \xe2\x9c\x85\","
                          "\"GCM\":\"{\\\"notification\\\":{\\\"title\\\":"
                          "\\\"\xe6\x97\xa5\xe6\x9c\xac\\\"}}\","
                          "\"APNS\":\"{\\\"aps\\\":{\\\"alert\\\":\\\"hi "
                          "& bye = +1%\\\"}}\"}";
    const char *attributes [] = { "event.type", "String",       "review.due",
                                  "priority",   "Number",       "3",
                                  "tags",       "String.Array", "[\"a\",\"b\"]",
                                  "blob",       "Binary",       "AAEC/w==",
                                  NULL };
    fy_sns_publish_t msg = {
        .target_arn = "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/app/"
                      "5e3e9847",
        .message = payload,
        .json_structure = true,
        .attributes = attributes,
    };
    stub_seen_t seen = { false };
    ok (fy_sns_publish (sns, &msg, stub_on_result, &seen, NULL, &err) == 0,
        "sns: publish accepted");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, 0, "sns: signed request accepted (%s)",
            seen.message);
    is_int ((int) strlen (seen.message_id), 36, "sns: MessageId %s",
            seen.message_id);
    is_int ((int) strlen (seen.request_id), 36,
            "sns: RequestId from ResponseMetadata");
    json_t *log = s_log (http, port);
    json_t *sent = json_object_get (json_array_get (log, 0), "body");
    ok (json_is_true (json_object_get (json_array_get (log, 0), "signed")),
        "sns: the stub checked the signature");
    is_str (s_path (sent, "Message"), payload,
            "sns: the JSON payload as SNS decodes the form");
    is_str (s_path (sent, "MessageStructure"), "json",
            "sns: MessageStructure json");
    is_str (s_path (sent, "attributes/0/Name"), "event.type",
            "sns: attribute 1 name");
    is_str (s_path (sent, "attributes/0/Value.StringValue"), "review.due",
            "sns: attribute 1 value");
    is_str (s_path (sent, "attributes/1/Value.DataType"), "Number",
            "sns: attribute 2 type");
    is_str (s_path (sent, "attributes/2/Value.StringValue"), "[\"a\",\"b\"]",
            "sns: String.Array value");
    is_str (s_path (sent, "attributes/3/Value.BinaryValue"),
            "AAEC/w==", "sns: Binary as BinaryValue");
    json_decref (log);

    //  A topic with a subject, unicode message; FIFO ids.
    const char *text = "Bonjour \xf0\x9f\x91\x8b \xe4\xbd\xa0\xe5\xa5\xbd";
    fy_sns_publish_t fifo = {
        .topic_arn = "arn:aws:sns:eu-west-1:123456789012:ferry.fifo",
        .message = text,
        .subject = "Review due (ASCII only)",
        .group_id = "company-42",
        .dedup_id = "event-3f1c",
    };
    memset (&seen, 0, sizeof seen);
    ok (fy_sns_publish (sns, &fifo, stub_on_result, &seen, NULL, &err) == 0,
        "sns: FIFO publish accepted");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, 0, "sns: FIFO published (%s)", seen.message);
    log = s_log (http, port);
    sent = json_object_get (json_array_get (log, 0), "body");
    is_str (s_path (sent, "Message"), text, "sns: unicode message");
    is_str (s_path (sent, "Subject"), "Review due (ASCII only)",
            "sns: subject");
    is_str (s_path (sent, "MessageGroupId"), "company-42", "sns: group id");
    is_str (s_path (sent, "MessageDeduplicationId"), "event-3f1c",
            "sns: deduplication id");
    json_decref (log);
    fifo.group_id = NULL;
    memset (&seen, 0, sizeof seen);
    ok (fy_sns_publish (sns, &fifo, stub_on_result, &seen, NULL, &err) == 0,
        "sns: a FIFO topic without a group id leaves (SNS decides)");
    stub_run_until (http, &seen.done, 5000);
    is_str (seen.code, "InvalidParameter", "sns: and is refused by it");
    ok (!seen.result.retryable, "sns: InvalidParameter is permanent");
    json_decref (s_log (http, port));

    //  The XML reader on an answer full of XML's corners.
    fy_sns_publish_t odd = { .topic_arn = "arn:aws:sns:eu-west-1:1:xmlodd",
                             .message = "m" };
    memset (&seen, 0, sizeof seen);
    ok (fy_sns_publish (sns, &odd, stub_on_result, &seen, NULL, &err) == 0,
        "sns: publish for an odd answer");
    stub_run_until (http, &seen.done, 5000);
    is_str (seen.message_id, "id&<odd>",
            "sns: MessageId through entities, comments and CDATA");
    is_str (seen.request_id, "r-1", "sns: a character reference");
    json_decref (s_log (http, port));

    //  Throttled three times, then published.
    fy_sns_publish_t throttled = {
        .topic_arn = "arn:aws:sns:eu-west-1:123456789012:throttle-3",
        .message = "m"
    };
    memset (&seen, 0, sizeof seen);
    ok (fy_sns_publish (sns, &throttled, stub_on_result, &seen, NULL, &err)
            == 0,
        "sns: publish to a throttled topic");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, 0, "sns: published after throttling");
    is_int (seen.result.attempts, 4, "sns: on the fourth attempt");
    log = s_log (http, port);
    is_int ((int) json_array_size (log), 4, "sns: the stub saw 4 requests");
    is_str (s_path (json_array_get (log, 2), "code"), "Throttled",
            "sns: the third was throttled");
    json_decref (log);

    //  Permanent errors: not retried, flagged, decoded from the XML.
    static const struct {
        const char *name, *code;
        int status;
    } permanent [] = {
        { "disabled", "EndpointDisabled", 400 },
        { "auth", "AuthorizationError", 403 },
    };
    for (size_t i = 0; i < sizeof permanent / sizeof *permanent; i++) {
        char *arn = fy_xasprintf ("arn:aws:sns:eu-west-1:123456789012:%s",
                                  permanent [i].name);
        fy_sns_publish_t bad = { .target_arn = arn, .message = "m" };
        memset (&seen, 0, sizeof seen);
        ok (fy_sns_publish (sns, &bad, stub_on_result, &seen, NULL, &err) == 0,
            "sns: publish to %s", permanent [i].name);
        stub_run_until (http, &seen.done, 5000);
        free (arn);
        is_str (seen.code, permanent [i].code, "sns: the code decoded");
        is_int (seen.result.status, permanent [i].status, "sns: HTTP %d",
                permanent [i].status);
        ok (seen.message [0] != 0, "sns: with its message: %s", seen.message);
        is_int (seen.result.attempts, 1, "sns: not retried");
        ok (!seen.result.retryable, "sns: flagged permanent");
        is_int (seen.result.token_dead, i == 0,
                "sns: token_dead only for EndpointDisabled");
        log = s_log (http, port);
        is_int ((int) json_array_size (log), 1, "sns: one request only");
        json_decref (log);
    }

    //  Cancelled before it ran: no callback, nothing sent.
    uint64_t id;
    memset (&seen, 0, sizeof seen);
    ok (fy_sns_publish (sns, &odd, stub_on_result, &seen, &id, &err) == 0
            && fy_aws_client_cancel (sns, id),
        "sns: cancel a pending publish");
    is_int ((int) fy_aws_client_pending (sns), 0, "sns: nothing pending");
    fy_aws_client_destroy (&sns);
    fy_aws_sign_destroy (&signer);

    //  The wrong secret: SNS's signature error, decoded from the XML.
    setenv ("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
    signer = fy_aws_sign_new ("eu-west-1");
    options = s_options (fy_aws_sign_sns, signer);
    sns = fy_sns_new (http, &options, &err);
    memset (&seen, 0, sizeof seen);
    ok (fy_sns_publish (sns, &odd, stub_on_result, &seen, NULL, &err) == 0,
        "sns: publish with a wrong secret");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.status, 403, "sns: wrong secret: 403");
    is_str (seen.code, "SignatureDoesNotMatch",
            "sns: wrong secret: SignatureDoesNotMatch");
    ok (strstr (seen.message, "does not match") != NULL,
        "sns: with SNS's message");
    is_int (seen.result.attempts, 1, "sns: not retried at once");
    ok (seen.result.retryable, "sns: retryable later");
    log = s_log (http, port);
    ok (!json_is_true (json_object_get (json_array_get (log, 0), "signed")),
        "sns: the stub refused the signature");
    json_decref (log);
    fy_aws_client_destroy (&sns);
    fy_aws_sign_destroy (&signer);
    setenv ("AWS_SECRET_ACCESS_KEY", S_SECRET_KEY, 1);
}

int
main (void)
{
    plan (NO_PLAN);
    stub_t stub;
    stub_start (&stub, "aws_notify_stub.py");
    char *base = fy_xasprintf ("http://127.0.0.1:%d", stub.port);
    //  The real credentials chain, from the environment only.
    unsetenv ("AWS_PROFILE");
    unsetenv ("AWS_SESSION_TOKEN");
    setenv ("AWS_ACCESS_KEY_ID", S_ACCESS_KEY, 1);
    setenv ("AWS_SECRET_ACCESS_KEY", S_SECRET_KEY, 1);
    setenv ("AWS_REGION", "eu-west-1", 1);
    setenv ("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv ("AWS_ENDPOINT_URL_SES", base, 1);
    setenv ("AWS_ENDPOINT_URL_SNS", base, 1);
    unsetenv ("AWS_ENDPOINT_URL_SESV2");
    free (base);
    fy_http_client_t *http = fy_http_client_new (NULL, NULL);
    s_ses (http, stub.port);
    s_sns (http, stub.port);
    fy_http_client_destroy (&http);
    stub_stop (&stub);
    return done_testing ();
}
