/*  fy_sns: Amazon SNS Publish, asynchronous, for the notification worker:
    to a topic, to a mobile platform endpoint (TargetArn, with
    MessageStructure json for per-platform push payloads) or to a phone
    number (SMS). The AWS query protocol: POST / with a form-encoded body
    (Action=Publish&Version=2010-03-31&...), signed with SigV4 for service
    "sns"; an XML answer (<PublishResponse><PublishResult><MessageId>) or
    an XML error (<ErrorResponse><Error><Type/><Code/><Message/>). An SNS
    client is an fy_aws_client made for SNS (see fy_aws_client.h for the
    options, the result and the lifecycle):

        fy_aws_client_t *sns = fy_sns_new (http, &options, &err);
        fy_sns_publish_t msg = { .topic_arn = arn, .message = text };
        if (fy_sns_publish (sns, &msg, on_published, job, NULL, &err)) ...

    Endpoint: AWS_ENDPOINT_URL_SNS, then AWS_ENDPOINT_URL, then
    options.endpoint, else https://sns.<region>.amazonaws.com. Throttling
    (Throttled, 429, KMSThrottling) and 5xx are retried with backoff; a
    refusal (InvalidParameter, EndpointDisabled, AuthorizationError, ...)
    comes back at once with result->retryable false. */
#ifndef FY_SNS_H_INCLUDED
#define FY_SNS_H_INCLUDED

#include "aws/fy_aws_client.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Largest message, attributes included, and most attributes, as SNS
//  counts them.
#define FY_SNS_MESSAGE_MAX 262144
#define FY_SNS_ATTRIBUTES_MAX 10

//  One Publish. Strings are UTF-8, borrowed for the call to
//  fy_sns_publish only; NULL fields are left out.
typedef struct {
    //  Exactly one destination.
    const char *topic_arn;
    const char *target_arn;
    const char *phone_number;
    //  Message (required). With json_structure, a JSON object whose
    //  "default" member is a string, and one string member per protocol
    //  or platform ("GCM", "APNS", "email"...): MessageStructure=json.
    const char *message;
    bool json_structure;
    //  Subject (email subscriptions): under 100 printable ASCII
    //  characters.
    const char *subject;
    //  Message attributes as a NULL-terminated list of triples: name,
    //  DataType ("String", "Number", "String.Array", "Binary", with an
    //  optional ".custom" suffix), value (for Binary, its base64 text).
    const char **attributes;
    //  FIFO topics: MessageGroupId and MessageDeduplicationId, 1-128
    //  printable ASCII characters.
    const char *group_id;
    const char *dedup_id;
} fy_sns_publish_t;

//  An SNS client on http (borrowed; it must outlive the client). options
//  may be NULL for the defaults. NULL with errno EINVAL and err filled
//  when no endpoint can be found. Destroy with fy_aws_client_destroy.
fy_aws_client_t *
fy_sns_new (fy_http_client_t *http, const fy_aws_options_t *options,
            fy_error_t *err);

//  The Publish request body for msg, form-encoded. Caller owns result
//  (*len_p bytes). NULL with errno EINVAL and err filled when msg is not
//  one SNS would take: not exactly one destination, no message, a
//  string that is not UTF-8, a bad subject, attribute (name, type, more
//  than 10) or FIFO id, MessageStructure json without a string "default",
//  more than FY_SNS_MESSAGE_MAX bytes.
char *
fy_sns_body (const fy_sns_publish_t *msg, size_t *len_p, fy_error_t *err);

//  Publish msg. Returns 0 and calls fn exactly once later (unless
//  cancelled) with the MessageId or the error, or -1 with errno EINVAL
//  and err filled as fy_sns_body (fn is not called). *id_p, when not
//  NULL, gets the call's id for fy_aws_client_cancel.
int
fy_sns_publish (fy_aws_client_t *sns, const fy_sns_publish_t *msg,
                fy_http_op_done_fn *fn, void *arg, uint64_t *id_p,
                fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
