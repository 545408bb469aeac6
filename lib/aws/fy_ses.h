/*  fy_ses: Amazon SES API v2 SendEmail, asynchronous, for the notification
    worker. restJson1: POST /v2/email/outbound-emails with a JSON body,
    signed with SigV4 for service "ses"; the answer's MessageId, or the
    error's code (X-Amzn-ErrorType, else the body's "__type" or "code")
    and message. An SES client is an fy_aws_client made for SES (see
    fy_aws_client.h for the options, the result and the lifecycle):

        fy_aws_options_t options;
        fy_aws_options_default (&options);
        options.base.sign = fy_aws_sign_ses;
        options.base.sign_arg = signer;
        fy_aws_client_t *ses = fy_ses_new (http, &options, &err);
        const char *to [] = { "ada@example.com", NULL };
        fy_ses_email_t email = {
            .from = "noreply@example.com", .to = to,
            .subject = "Your review is due", .text = "..."
        };
        if (fy_ses_send (ses, &email, on_sent, job, NULL, &err)) ...

    Endpoint: AWS_ENDPOINT_URL_SESV2 (the SDKs' name), then
    AWS_ENDPOINT_URL_SES, then AWS_ENDPOINT_URL, then options.endpoint,
    else https://email.<region>.amazonaws.com. Throttling
    (TooManyRequestsException, 429) and 5xx are retried with backoff; a
    refusal (MessageRejected, MailFromDomainNotVerifiedException,
    AccountSuspendedException, BadRequestException, ...) comes back at
    once with result->retryable false. */
#ifndef FY_SES_H_INCLUDED
#define FY_SES_H_INCLUDED

#include "aws/fy_aws_client.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Recipients (To, Cc and Bcc together) SES takes in one message.
#define FY_SES_RECIPIENTS_MAX 50

//  An email. Address lists are NULL-terminated (NULL for none); strings
//  are UTF-8 and borrowed for the call to fy_ses_send only.
typedef struct {
    //  FromEmailAddress; may be NULL with raw (SES reads From: then).
    const char *from;
    const char **to;
    const char **cc;
    const char **bcc;
    const char **reply_to;
    //  Simple content: the subject and a text and/or HTML body, sent with
    //  Charset UTF-8.
    const char *subject;
    const char *text;
    const char *html;
    //  Or a whole MIME message (raw_len bytes), sent base64-encoded as
    //  Content.Raw; subject, text and html must then be NULL.
    const void *raw;
    size_t raw_len;
    //  ConfigurationSetName, or NULL.
    const char *configuration_set;
    //  EmailTags as a NULL-terminated list of name, value pairs, or NULL.
    const char **tags;
} fy_ses_email_t;

//  An SES client on http (borrowed; it must outlive the client). options
//  may be NULL for the defaults. NULL with errno EINVAL and err filled
//  when no endpoint can be found. Destroy with fy_aws_client_destroy.
fy_aws_client_t *
fy_ses_new (fy_http_client_t *http, const fy_aws_options_t *options,
            fy_error_t *err);

//  The SendEmail request body for email. Caller owns result (*len_p
//  bytes). NULL with errno EINVAL and err filled when email is not one
//  SES would take: no recipient (simple content), more than
//  FY_SES_RECIPIENTS_MAX, no subject or no body, both simple and raw
//  content, a string that is not UTF-8, an empty address or one with a
//  control character.
char *
fy_ses_body (const fy_ses_email_t *email, size_t *len_p, fy_error_t *err);

//  Send email with SendEmail. Returns 0 and calls fn exactly once later
//  (unless cancelled) with the MessageId or the error, or -1 with errno
//  EINVAL and err filled as fy_ses_body (fn is not called). *id_p, when
//  not NULL, gets the call's id for fy_aws_client_cancel.
int
fy_ses_send (fy_aws_client_t *ses, const fy_ses_email_t *email,
             fy_http_op_done_fn *fn, void *arg, uint64_t *id_p,
             fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
