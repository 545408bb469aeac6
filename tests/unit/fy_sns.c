/*  fy_sns offline: the Publish form (exact encoding, and every parameter
    a member of the SNS Smithy model's PublishInput, attributes named by
    the map's xmlName traits), the error classification against the
    model's Publish errors, the answer parser against botocore's query
    protocol error cases and against XML's corners (what the reader must
    refuse: DOCTYPE and entity declarations, unknown entities, bad
    nesting, bad UTF-8), the default endpoints against botocore's
    endpoint rule tests, and what fy_sns_body refuses. */
#include "aws/fy_sns.h"
#include "aws/fy_sns_int.h"

#include <errno.h>

#include "aws_model.h"
#include "tap.h"

#define S_MODEL                                         \
    "aws-models/api-models-aws/sns/service/2010-03-31/" \
    "sns-2010-03-31.json"

//  The decoded value of form field name in body, or NULL. Caller owns.
static char *
s_field (const char *body, const char *name)
{
    size_t len = strlen (name);
    for (const char *p = body; p; p = strchr (p, '&')) {
        p += *p == '&';
        if (strncmp (p, name, len) == 0 && p [len] == '=') {
            const char *value = p + len + 1;
            size_t n = strcspn (value, "&");
            char *out = fy_xmalloc (n + 1), *o = out;
            for (size_t i = 0; i < n; i++)
                if (value [i] == '%' && i + 2 < n + 1) {
                    char hex [3] = { value [i + 1], value [i + 2], 0 };
                    *o++ = (char) strtol (hex, NULL, 16);
                    i += 2;
                }
                else
                    *o++ = value [i];
            *o = 0;
            return out;
        }
    }
    return NULL;
}

static void
s_body (json_t *model)
{
    const char *attributes [] = { "a.b",    "String", "x y", "n",
                                  "Number", "1",      NULL };
    fy_sns_publish_t msg = {
        .topic_arn = "arn:aws:sns:us-east-1:1:t",
        .message = "a b&c=d/\xc3\xa9~+",
        .subject = "Hi there",
        .attributes = attributes,
    };
    size_t len;
    fy_error_t err = { "" };
    char *body = fy_sns_body (&msg, &len, &err);
    is_str (body,
            "Action=Publish&Version=2010-03-31"
            "&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At"
            "&Message=a%20b%26c%3Dd%2F%C3%A9~%2B&Subject=Hi%20there"
            "&MessageAttributes.entry.1.Name=a.b"
            "&MessageAttributes.entry.1.Value.DataType=String"
            "&MessageAttributes.entry.1.Value.StringValue=x%20y"
            "&MessageAttributes.entry.2.Name=n"
            "&MessageAttributes.entry.2.Value.DataType=Number"
            "&MessageAttributes.entry.2.Value.StringValue=1",
            "the form, encoded as the SDKs encode it");
    is_int ((int) len, (int) strlen (body), "its length");
    free (body);

    //  Every parameter is a member of the model's shapes.
    json_t *map = aws_model_shape (model, "com.amazonaws.sns#"
                                          "MessageAttributeMap");
    const char *key = json_string_value (json_object_get (
        json_object_get (json_object_get (map, "key"), "traits"),
        "smithy.api#xmlName"));
    const char *value = json_string_value (json_object_get (
        json_object_get (json_object_get (map, "value"), "traits"),
        "smithy.api#xmlName"));
    json_t *input = json_object_get (
        aws_model_shape (model, "com.amazonaws.sns#PublishInput"), "members");
    json_t *attribute = json_object_get (
        aws_model_shape (model, "com.amazonaws.sns#MessageAttributeValue"),
        "members");
    const char *push = "{\"default\":\"d\",\"GCM\":\"{}\"}";
    const char *binary [] = { "b", "Binary", "AAE=", NULL };
    fy_sns_publish_t full = {
        .target_arn = "arn:aws:sns:us-east-1:1:endpoint/GCM/a/b",
        .message = push,
        .json_structure = true,
        .subject = "s",
        .attributes = binary,
        .group_id = "g",
        .dedup_id = "d",
    };
    body = fy_sns_body (&full, &len, &err);
    int params = 0, known = 0;
    char *copy = fy_xstrdup (body), *save = NULL;
    for (char *pair = strtok_r (copy, "&", &save); pair;
         pair = strtok_r (NULL, "&", &save)) {
        *strchr (pair, '=') = 0;
        params++;
        char entry [64], member [64];
        int n;
        if (strcmp (pair, "Action") == 0 || strcmp (pair, "Version") == 0)
            known++;
        else if (sscanf (pair, "MessageAttributes.entry.%d.%63s", &n, entry)
                 == 2) {
            char *dot = strchr (entry, '.');
            if (dot)
                snprintf (member, sizeof member, "%s", dot + 1), *dot = 0;
            known += json_object_get (input, "MessageAttributes") && n == 1
                     && ((!dot && strcmp (entry, key) == 0)
                         || (dot && strcmp (entry, value) == 0
                             && json_object_get (attribute, member)));
        }
        else if (json_object_get (input, pair))
            known++;
        else
            diag ("unknown parameter %s", pair);
    }
    free (copy);
    is_int (known, params, "all %d parameters are the model's", params);
    char *got = s_field (body, "Message");
    is_str (got, push, "the push payload");
    free (got);
    got = s_field (body, "MessageAttributes.entry.1.Value.BinaryValue");
    is_str (got, "AAE=", "a Binary attribute as BinaryValue");
    free (got);
    free (body);

    //  What SNS would refuse never leaves.
    const char *eleven [34];
    for (int i = 0; i < 33; i += 3) {
        static char names [11][8];
        snprintf (names [i / 3], sizeof names [0], "a%d", i / 3);
        eleven [i] = names [i / 3];
        eleven [i + 1] = "String";
        eleven [i + 2] = "v";
    }
    eleven [33] = NULL;
    const char *reserved [] = { "AWS.x", "String", "v", NULL };
    const char *bad_type [] = { "a", "Text", "v", NULL };
    const char *short_triple [] = { "a", "String", NULL };
    const char *arn = "arn:aws:sns:us-east-1:1:t";
    char *huge = fy_xmalloc (FY_SNS_MESSAGE_MAX + 2);
    memset (huge, 'x', FY_SNS_MESSAGE_MAX + 1);
    huge [FY_SNS_MESSAGE_MAX + 1] = 0;
    struct {
        fy_sns_publish_t msg;
        const char *what;
    } bad [] = {
        { { .message = "m" }, "no destination" },
        { { .topic_arn = arn, .phone_number = "+15555550100", .message = "m" },
          "two destinations" },
        { { .topic_arn = arn }, "no message" },
        { { .topic_arn = arn, .message = "\xc0\xaf" }, "message not UTF-8" },
        { { .topic_arn = arn, .message = "m", .subject = "a\nb" },
          "a line break in the subject" },
        { { .topic_arn = arn,
            .message = "{\"GCM\":\"x\"}",
            .json_structure = true },
          "json without default" },
        { { .topic_arn = arn, .message = "not json", .json_structure = true },
          "json that is not" },
        { { .topic_arn = arn, .message = "m", .attributes = eleven },
          "11 attributes" },
        { { .topic_arn = arn, .message = "m", .attributes = reserved },
          "a reserved attribute name" },
        { { .topic_arn = arn, .message = "m", .attributes = bad_type },
          "an unknown attribute type" },
        { { .topic_arn = arn, .message = "m", .attributes = short_triple },
          "an attribute without a value" },
        { { .topic_arn = arn, .message = "m", .group_id = "a b" },
          "a space in a group id" },
        { { .topic_arn = arn, .message = huge }, "over 256 KiB" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        errno = 0;
        body = fy_sns_body (&bad [i].msg, &len, &err);
        ok (!body && errno == EINVAL, "refused: %s (%s)", bad [i].what,
            err.text);
        free (body);
    }
    free (huge);
}

static void
s_errors (json_t *model)
{
    const char *permanent [] = { "InvalidParameter",
                                 "ParameterValueInvalid",
                                 "EndpointDisabled",
                                 "AuthorizationError",
                                 "NotFound",
                                 "PlatformApplicationDisabled",
                                 "KMSDisabled",
                                 "InvalidSecurity",
                                 "ValidationException",
                                 NULL };
    aws_model_check_errors (model, "com.amazonaws.sns#Publish", permanent);
    int status;
    is_str (aws_model_error_code (model, "com.amazonaws.sns#ThrottledException",
                                  &status),
            "Throttled", "SNS throttles with Throttled");
    ok (status == 429 && fy_aws_is_retryable (400, "Throttled"),
        "Throttled retried (429, and by its code)");
}

static int
s_parse (int status, const char *body, fy_http_service_error_t *error,
         char **message_id, char **request_id)
{
    fy_http_answer_t answer = { status, body, strlen (body), NULL };
    *message_id = *request_id = NULL;
    return fy_sns_parse (&answer, error, message_id, request_id);
}

static void
s_answers (void)
{
    is_int (aws_model_error_cases ("aws-models/botocore/tests/unit/"
                                   "protocols/output/query.json",
                                   fy_sns_parse, "foo-id"),
            3, "botocore's query error cases");
    fy_http_service_error_t error;
    char *message_id, *request_id;

    //  Well-formed answers.
    const struct {
        const char *body, *id;
    } good [] = {
        { "<PublishResponse><PublishResult><MessageId>m-1</MessageId>"
          "</PublishResult></PublishResponse>",
          "m-1" },
        { "<?xml version=\"1.0\"?>\n<PublishResponse xmlns='x' a = \">\">"
          "<PublishResult><SequenceNumber>1</SequenceNumber><MessageId>"
          "&lt;&#233;&#xE9;&#x1F600;&amp;&quot;&apos;&gt;</MessageId>"
          "</PublishResult></PublishResponse>\n<!-- trailing -->\n",
          "<\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80&\"'>" },
        { "<sns:PublishResponse xmlns:sns='x'><sns:PublishResult>"
          "<sns:MessageId>a<!-- c -->b<![CDATA[<&>]]>c</sns:MessageId>"
          "</sns:PublishResult></sns:PublishResponse>",
          "ab<&>c" },
        { "<PublishResponse><PublishResult><MessageId>\xe6\x97\xa5"
          "</MessageId><Extra><Deep/></Extra></PublishResult>"
          "</PublishResponse>",
          "\xe6\x97\xa5" },
    };
    for (size_t k = 0; k < sizeof good / sizeof *good; k++) {
        ok (s_parse (200, good [k].body, &error, &message_id, &request_id) == 0,
            "good answer %zu read", k + 1);
        is_str (message_id, good [k].id, "good answer %zu: MessageId", k + 1);
        free (message_id);
        free (request_id);
    }

    //  What the reader refuses (a 200 without a usable MessageId).
    char deep [1024] = "";
    for (int d = 0; d < 17; d++)
        strcat (deep, "<a>");
    for (int d = 0; d < 17; d++)
        strcat (deep, "</a>");
    const char *bad [] = {
        "",
        "not xml",
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>"
        "<PublishResponse><PublishResult><MessageId>&lol2;</MessageId>"
        "</PublishResult></PublishResponse>",
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
        "<PublishResponse><PublishResult><MessageId>&x;</MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>&nbsp;</MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>&#0;</MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>&#xD800;</MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>a & b</MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>\xff</MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>m</PublishResult>"
        "</MessageId></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>m</MessageId>"
        "</PublishResult>",
        "<PublishResponse><PublishResult><MessageId>m</MessageId>"
        "</PublishResult></PublishResponse><PublishResponse/>",
        "<PublishResponse><PublishResult><MessageId>m</MessageId>"
        "</PublishResult></PublishResponse>trailing",
        "<PublishResponse><PublishResult><MessageId></MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId a=b>m</MessageId>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>m</MessageIdX>"
        "</PublishResult></PublishResponse>",
        "<PublishResponse><PublishResult><MessageId>m]]>n</MessageId>"
        "</PublishResult></PublishResponse>",
        "<Other><PublishResult><MessageId>m</MessageId></PublishResult>"
        "</Other>",
        deep,
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        ok (s_parse (200, bad [k], &error, &message_id, &request_id) == -1
                && !message_id && error.message [0],
            "bad answer %zu refused", k + 1);
        free (request_id);
    }

    //  A NUL in character data (found by aws_fuzz: it cut the MessageId
    //  short instead of failing the answer).
    const char nul [] = "<PublishResponse><PublishResult><MessageId>a\0b"
                        "</MessageId></PublishResult></PublishResponse>";
    fy_http_answer_t answer = { 200, nul, sizeof nul - 1, NULL };
    message_id = request_id = NULL;
    ok (fy_sns_parse (&answer, &error, &message_id, &request_id) == -1
            && !message_id,
        "a NUL in the text refused");
    free (message_id);

    //  An error whose body is not XML: the status alone.
    ok (s_parse (503, "<html>Service Unavailable", &error, &message_id,
                 &request_id)
                == -1
            && error.code [0] == 0 && !error.sender_fault,
        "a 503 page: no code, not the sender's");
    ok (fy_aws_is_retryable (503, NULL), "and retried");
    ok (s_parse (500,
                 "<ErrorResponse><Error><Type>Receiver</Type><Code>"
                 "InternalError</Code><Message>x</Message></Error>"
                 "</ErrorResponse>",
                 &error, &message_id, &request_id)
                == -1
            && !error.sender_fault && strcmp (error.code, "InternalError") == 0,
        "a Receiver fault");
}

int
main (void)
{
    plan (NO_PLAN);
    json_t *model = aws_model_load (S_MODEL);
    s_body (model);
    s_errors (model);
    json_decref (model);
    s_answers ();
    aws_model_endpoints ("sns", "sns");
    return done_testing ();
}
