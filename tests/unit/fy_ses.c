/*  fy_ses offline: the SendEmail body checked against the SESv2 Smithy
    model (every member known, required ones there, types right), the
    error classification against the model's SendEmail errors, the
    answer parser against botocore's restJson1 error cases, the default
    endpoints against botocore's endpoint rule tests, and what fy_ses_body
    refuses. The end to end run is tests/integration/aws_notify.t. */
#include "aws/fy_ses.h"
#include "aws/fy_ses_int.h"

#include <errno.h>

#include "aws_model.h"
#include "tap.h"

#define S_MODEL                                           \
    "aws-models/api-models-aws/sesv2/service/2019-09-27/" \
    "sesv2-2019-09-27.json"

static void
s_body_shape (json_t *model)
{
    const char *to [] = { "a@example.com", NULL };
    const char *cc [] = { "b@example.com", NULL };
    const char *tags [] = { "k", "v", NULL };
    fy_ses_email_t email = {
        .from = "f@example.com",
        .to = to,
        .cc = cc,
        .bcc = cc,
        .reply_to = to,
        .subject = "s \xc3\xa9",
        .text = "t",
        .html = "<b>h</b>",
        .configuration_set = "set",
        .tags = tags,
    };
    size_t len;
    fy_error_t err = { "" };
    char *body = fy_ses_body (&email, &len, &err);
    ok (body != NULL, "simple body built");
    json_t *json = json_loadb (body, len, 0, NULL);
    char why [256] = "";
    ok (aws_model_check (model, "com.amazonaws.sesv2#SendEmailRequest", json,
                         why, sizeof why)
            == 0,
        "simple body fits SendEmailRequest %s", why);
    json_decref (json);
    free (body);

    fy_ses_email_t raw = { .raw = "\x00\x01\xff", .raw_len = 3 };
    body = fy_ses_body (&raw, &len, &err);
    json = json_loadb (body, len, 0, NULL);
    ok (aws_model_check (model, "com.amazonaws.sesv2#SendEmailRequest", json,
                         why, sizeof why)
            == 0,
        "raw body fits SendEmailRequest %s", why);
    is_str (json_string_value (json_object_get (
                json_object_get (json_object_get (json, "Content"), "Raw"),
                "Data")),
            "AAH/", "raw data in base64");
    ok (!json_object_get (json, "Destination"),
        "raw without recipients: no Destination (SES reads To:)");
    json_decref (json);
    free (body);

    //  What SES would refuse never leaves.
    const char *many [FY_SES_RECIPIENTS_MAX + 2];
    for (int i = 0; i <= FY_SES_RECIPIENTS_MAX; i++)
        many [i] = "x@example.com";
    many [FY_SES_RECIPIENTS_MAX + 1] = NULL;
    const char *crlf [] = { "a@example.com\r\nBcc: evil@example.com", NULL };
    const char *blank [] = { "", NULL };
    struct {
        fy_ses_email_t email;
        const char *what;
    } bad [] = {
        { { .from = "f@x", .subject = "s", .text = "t" }, "no recipient" },
        { { .from = "f@x", .to = many, .subject = "s", .text = "t" },
          "51 recipients" },
        { { .from = "f@x", .to = to, .text = "t" }, "no subject" },
        { { .from = "f@x", .to = to, .subject = "s" }, "no body" },
        { { .from = "f@x", .to = to, .subject = "\xc3", .text = "t" },
          "subject not UTF-8" },
        { { .from = "f@x", .to = to, .subject = "s", .html = "\xff" },
          "html not UTF-8" },
        { { .from = "f@x", .to = crlf, .subject = "s", .text = "t" },
          "CR LF in an address" },
        { { .from = "f@x", .to = blank, .subject = "s", .text = "t" },
          "an empty address" },
        { { .to = to, .subject = "s", .raw = "x", .raw_len = 1 },
          "raw and simple" },
        { { .from = "f@x",
            .to = to,
            .subject = "s",
            .text = "t",
            .configuration_set = "" },
          "empty configuration set" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        body = fy_ses_body (&bad [i].email, &len, &err);
        ok (!body && errno == EINVAL, "refused: %s (%s)", bad [i].what,
            err.text);
        free (body);
    }
}

static void
s_errors (json_t *model)
{
    const char *permanent [] = { "MessageRejected",
                                 "MailFromDomainNotVerifiedException",
                                 "AccountSuspendedException",
                                 "BadRequestException",
                                 "SendingPausedException",
                                 "NotFoundException",
                                 NULL };
    aws_model_check_errors (model, "com.amazonaws.sesv2#SendEmail", permanent);
    ok (fy_aws_is_retryable (429, "TooManyRequestsException"),
        "TooManyRequestsException retried");
}

static void
s_protocol_errors (void)
{
    int cases = aws_model_error_cases ("aws-models/botocore/tests/unit/"
                                       "protocols/output/rest-json.json",
                                       fy_ses_parse, NULL);
    ok (cases >= 10, "%d restJson1 error cases", cases);

    const char *good = "{\"MessageId\":\"0102-x\"}";
    fy_http_answer_t answer = { 200, good, strlen (good), NULL };
    fy_http_service_error_t error;
    char *message_id = NULL, *request_id = NULL;
    ok (fy_ses_parse (&answer, &error, &message_id, &request_id) == 0,
        "a 200 with a MessageId");
    is_str (message_id, "0102-x", "its MessageId");
    free (message_id);
    message_id = NULL;
    const char *odd [] = { "",
                           "{}",
                           "[1]",
                           "{\"MessageId\":\"\"}",
                           "{\"MessageId\":7}",
                           "{\"MessageId\":\"a\"" };
    for (size_t k = 0; k < sizeof odd / sizeof *odd; k++) {
        answer = (fy_http_answer_t) { 200, odd [k], strlen (odd [k]), NULL };
        ok (fy_ses_parse (&answer, &error, &message_id, &request_id) == -1
                && !message_id && error.message [0],
            "a 200 of '%s' is no success", odd [k]);
    }
}

static void
s_endpoints (void)
{
    aws_model_endpoints ("sesv2", "email");

    //  The variables, in order.
    fy_http_client_t *http = fy_http_client_new (NULL, NULL);
    fy_aws_options_t options;
    fy_aws_options_default (&options);
    options.region = "eu-west-3";
    options.endpoint = "http://option.example";
    setenv ("AWS_ENDPOINT_URL", "http://generic.example/", 1);
    setenv ("AWS_ENDPOINT_URL_SES", "http://ses.example", 1);
    setenv ("AWS_ENDPOINT_URL_SESV2", "http://sesv2.example", 1);
    const char *want [] = { "http://sesv2.example", "http://ses.example",
                            "http://generic.example", "http://option.example",
                            "https://email.eu-west-3.amazonaws.com" };
    const char *drop [] = { "AWS_ENDPOINT_URL_SESV2", "AWS_ENDPOINT_URL_SES",
                            "AWS_ENDPOINT_URL", NULL };
    for (size_t k = 0; k < 5; k++) {
        if (k == 4)
            options.endpoint = NULL;
        fy_aws_client_t *ses = fy_ses_new (http, &options, NULL);
        is_str (ses ? fy_aws_client_endpoint (ses) : "", want [k],
                "endpoint %zu: %s", k + 1, want [k]);
        is_str (ses ? fy_aws_client_service (ses) : "", "ses", "for ses");
        fy_aws_client_destroy (&ses);
        if (k < 3)
            unsetenv (drop [k]);
    }
    fy_http_client_destroy (&http);
}

int
main (void)
{
    plan (NO_PLAN);
    json_t *model = aws_model_load (S_MODEL);
    s_body_shape (model);
    s_errors (model);
    json_decref (model);
    s_protocol_errors ();
    s_endpoints ();
    return done_testing ();
}
