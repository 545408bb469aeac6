/*  fy_fcm offline: the send answer and token answer parsers on FCM's and
    Google OAuth's documented shapes (and what must be refused), the
    request body byte for byte, the retryable codes. The client itself
    runs against the stub in tests/integration/fcm.c. */
#include "ferry/ferry.h"
#include "http/fy_http_ops.h"
#include "notify/fy_fcm.h"
#include "notify/fy_fcm_int.h"

#include <errno.h>

#include "tap.h"

#define S_FCM_ERROR "type.googleapis.com/google.firebase.fcm.v1.FcmError"

static int
s_parse (int status, const char *body, fy_http_service_error_t *error,
         char **name)
{
    fy_http_answer_t answer = { status, body, strlen (body), NULL };
    char *request_id = NULL;
    *name = NULL;
    int rc = fy_fcm_parse (&answer, error, name, &request_id);
    ok (request_id == NULL, "no request id");
    return rc;
}

static void
s_send_answers (void)
{
    fy_http_service_error_t error;
    char *name;
    is_int (s_parse (200, "{\"name\": \"projects/p/messages/0:15%31bd\"}",
                     &error, &name),
            0, "200 with a name");
    is_str (name, "projects/p/messages/0:15%31bd", "the name");
    free (name);
    is_int (s_parse (200, "{\"name\": \"\"}", &error, &name), -1,
            "an empty name is no success");
    ok (!name && strstr (error.message, "without a message name"),
        "said so: %s", error.message);
    is_int (s_parse (200, "<html>", &error, &name), -1, "200 not JSON");

    //  FCM's error, the FcmError detail after another one.
    is_int (s_parse (404,
                     "{\"error\": {\"code\": 404, \"message\": "
                     "\"Requested entity was not found.\", \"status\": "
                     "\"NOT_FOUND\", \"details\": [{\"@type\": "
                     "\"type.googleapis.com/google.rpc.BadRequest\", "
                     "\"errorCode\": \"DECOY\"}, {\"@type\": \"" S_FCM_ERROR
                     "\", \"errorCode\": "
                     "\"UNREGISTERED\"}]}}",
                     &error, &name),
            -1, "404 UNREGISTERED");
    is_str (error.code, "UNREGISTERED", "errorCode of the FcmError detail");
    is_str (error.message, "Requested entity was not found.", "message");
    ok (error.sender_fault && !name, "sender fault, no name");
    is_int (s_parse (401,
                     "{\"error\": {\"code\": 401, \"message\": "
                     "\"Request had invalid authentication "
                     "credentials.\", \"status\": \"UNAUTHENTICATED\"}}",
                     &error, &name),
            -1, "401 without details");
    is_str (error.code, "UNAUTHENTICATED", "the status stands in");
    is_int (s_parse (503, "<html><body>Service Unavailable</body></html>",
                     &error, &name),
            -1, "503 HTML");
    ok (!error.code [0] && !error.message [0] && !error.sender_fault,
        "no code, no message, not the sender's fault");
    is_int (s_parse (429, "{\"error\": \"x\"}", &error, &name), -1,
            "an error that is not an object");
    ok (!error.code [0], "no code");
}

static int
s_token (int status, const char *body, fy_http_service_error_t *error,
         char **token, int64_t *expires)
{
    fy_http_answer_t answer = { status, body, strlen (body), NULL };
    *expires = 0;
    return fy_fcm_parse_token (&answer, error, token, expires);
}

static void
s_token_answers (void)
{
    fy_http_service_error_t error;
    char *token;
    int64_t expires;
    is_int (s_token (200,
                     "{\"access_token\": \"ya29.c.b0AXv0\", "
                     "\"expires_in\": 3599, \"token_type\": "
                     "\"Bearer\"}",
                     &error, &token, &expires),
            0, "Google's token answer");
    is_str (token, "ya29.c.b0AXv0", "the token");
    is_int ((int) expires, 3599, "expires_in");
    free (token);
    is_int (s_token (200,
                     "{\"access_token\": \"t\", \"token_type\": "
                     "\"bearer\"}",
                     &error, &token, &expires),
            0, "no expires_in, token_type in lower case");
    is_int ((int) expires, 3600, "an hour assumed");
    free (token);
    static const char *refused [] = {
        "{\"access_token\": \"t\", \"token_type\": \"Bearer\", "
        "\"expires_in\": 0}",
        "{\"access_token\": \"t\", \"token_type\": \"Bearer\", "
        "\"expires_in\": 86401}",
        "{\"access_token\": \"t\", \"token_type\": \"Bearer\", "
        "\"expires_in\": 3599.5}",
        "{\"access_token\": \"t\", \"token_type\": \"Bearer\", "
        "\"expires_in\": \"3599\"}",
        "{\"access_token\": \"t\", \"token_type\": \"mac\"}",
        "{\"access_token\": \"t\"}",
        "{\"access_token\": \"a b\", \"token_type\": \"Bearer\"}",
        "{\"access_token\": \"a\\r\\nX-Evil: 1\", \"token_type\": "
        "\"Bearer\"}",
        "{\"access_token\": \"caf\\u00e9\", \"token_type\": \"Bearer\"}",
        "{\"access_token\": \"\", \"token_type\": \"Bearer\"}",
        "{\"access_token\": 5, \"token_type\": \"Bearer\"}",
        "[]",
        "",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        is_int (s_token (200, refused [i], &error, &token, &expires), -1,
                "refused: %s", refused [i]);
        ok (!token && error.message [0], "  no token, a message");
    }
    is_int (s_token (400,
                     "{\"error\": \"invalid_grant\", "
                     "\"error_description\": \"Invalid JWT "
                     "Signature.\"}",
                     &error, &token, &expires),
            -1, "OAuth error");
    is_str (error.code, "invalid_grant", "its code");
    is_str (error.message, "Invalid JWT Signature.", "its description");
    ok (error.sender_fault, "a 400 is the sender's");
}

static void
s_bodies (void)
{
    const char *data [] = { "b", "2", "a", "1", NULL };
    json_t *apns = json_pack ("{s:{s:{s:i}}}", "payload", "aps", "badge", 3);
    fy_fcm_message_t message = {
        .token = "tok",
        .title = "T\xc3\xa9",
        .body = "B",
        .data = data,
        .apns = apns,
        .validate_only = true,
    };
    size_t len;
    fy_error_t err = { "" };
    char *body = fy_fcm_body (&message, &len, &err);
    is_str (body,
            "{\"message\":{\"apns\":{\"payload\":{\"aps\":{\"badge\":3}}},"
            "\"data\":{\"a\":\"1\",\"b\":\"2\"},\"notification\":"
            "{\"body\":\"B\",\"title\":\"T\xc3\xa9\"},\"token\":"
            "\"tok\"},\"validate_only\":true}",
            "the whole body");
    is_int ((int) len, body ? (int) strlen (body) : -1, "its length");
    free (body);
    json_decref (apns);

    fy_fcm_message_t topic = { .topic = "a-Z_0.9~%" };
    body = fy_fcm_body (&topic, &len, &err);
    is_str (body, "{\"message\":{\"topic\":\"a-Z_0.9~%\"}}",
            "a topic alone: no notification, no data");
    free (body);

    json_t *array = json_array ();
    fy_fcm_message_t bad = { .token = "t", .android = array };
    errno = 0;
    ok (!fy_fcm_body (&bad, &len, &err) && errno == EINVAL,
        "android not an object: %s", err.text);
    json_decref (array);
    const char *bad_key [] = { "k\xff", "v", NULL };
    bad = (fy_fcm_message_t) { .token = "t", .data = bad_key };
    ok (!fy_fcm_body (&bad, &len, &err), "a data key not UTF-8: %s", err.text);
    const char *gcm [] = { "gcm.notification.x", "v", NULL };
    bad = (fy_fcm_message_t) { .condition = "'a' in topics", .data = gcm };
    ok (!fy_fcm_body (&bad, &len, &err), "a gcm. data key");
}

int
main (void)
{
    plan (NO_PLAN);
    s_send_answers ();
    s_token_answers ();
    s_bodies ();
    ok (fy_fcm_is_retryable (429, "QUOTA_EXCEEDED")
            && fy_fcm_is_retryable (503, "UNAVAILABLE")
            && fy_fcm_is_retryable (500, "INTERNAL")
            && fy_fcm_is_retryable (502, NULL)
            && fy_fcm_is_retryable (200, "UNAVAILABLE"),
        "quota, unavailable, internal, any 5xx are retryable");
    ok (!fy_fcm_is_retryable (404, "UNREGISTERED")
            && !fy_fcm_is_retryable (400, "INVALID_ARGUMENT")
            && !fy_fcm_is_retryable (403, "SENDER_ID_MISMATCH")
            && !fy_fcm_is_retryable (401, "THIRD_PARTY_AUTH_ERROR")
            && !fy_fcm_is_retryable (401, "UNAUTHENTICATED"),
        "the refusals are not (a 401 is the client's to handle)");

    fy_fcm_options_t options;
    fy_fcm_options_default (&options);
    is_int ((int) options.retry_after_max_ms, 30000, "Retry-After cap 30 s");
    is_int ((int) options.refresh_margin_s, 300, "refresh margin 5 min");
    is_int (options.base.max_attempts, 5, "the call runner's attempts");
    done_testing ();
}
