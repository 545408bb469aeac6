/*  fy_aws_client's shared pieces: the backoff's bounds and spread, the
    endpoint resolution's errors, the JSON error decoding on odd bodies,
    the retryable and credential codes, the op list's bookkeeping through
    the runner (cancel, pending, destroy with calls waiting). The
    runner's retries run end to end in tests/integration/aws_notify.t. */
#include "aws/fy_aws_client.h"
#include "aws/fy_ses.h"

#include <errno.h>

#include "tap.h"

static void
s_backoff (void)
{
    fy_backoff_t backoff;
    fy_backoff_init (&backoff, 50, 1000);
    int64_t max [8] = { 0 };
    bool in_range = true;
    for (int round = 0; round < 2000; round++)
        for (int attempt = 1; attempt <= 7; attempt++) {
            int64_t ms = fy_backoff_ms (&backoff, attempt);
            int64_t ceiling = 50LL << (attempt - 1);
            if (ceiling > 1000)
                ceiling = 1000;
            in_range &= ms >= 0 && ms <= ceiling;
            if (ms > max [attempt])
                max [attempt] = ms;
        }
    ok (in_range, "every wait within [0, min(cap, base * 2^(n-1))]");
    ok (max [1] > 40 && max [3] > 160 && max [7] > 900,
        "and spread across it (max %lld, %lld, %lld)", (long long) max [1],
        (long long) max [3], (long long) max [7]);
    is_int (fy_backoff_ms (&backoff, 1000) <= 1000, 1,
            "a huge attempt number stays capped");
}

static void
s_errors (void)
{
    fy_http_service_error_t error;
    fy_aws_decode_json_error (400, "ns#Throttled:http://x", "{}", 2, &error);
    is_str (error.code, "Throttled", "header: after '#', before ':'");
    ok (error.sender_fault, "400 is the sender's");
    const char *body = "{\"code\":\"BadRequestException\",\"Message\":\"m\"}";
    fy_aws_decode_json_error (500, NULL, body, strlen (body), &error);
    is_str (error.code, "BadRequestException", "code from the body");
    is_str (error.message, "m", "Message with a capital M");
    ok (!error.sender_fault, "500 is not the sender's");
    //  Not an object, a number for a string, a NUL in the text, nothing.
    const char *odd [] = { "[\"__type\"]", "{\"__type\":7}", "nul\0x", "" };
    const size_t lens [] = { 10, 12, 5, 0 };
    for (size_t i = 0; i < 4; i++) {
        fy_aws_decode_json_error (502, NULL, odd [i], lens [i], &error);
        ok (error.code [0] == 0 && error.message [0] == 0,
            "odd body %zu: nothing decoded", i + 1);
    }
    ok (fy_aws_is_retryable (400, "KMSThrottling"),
        "KMSThrottling (400) retried");
    ok (!fy_aws_is_retryable (400, NULL), "a bare 400 is not");
    ok (!fy_aws_is_retryable (403, "SignatureDoesNotMatch"),
        "a signature error is not retried at once");
    ok (fy_aws_is_credential_error ("SignatureDoesNotMatch")
            && fy_aws_is_credential_error ("InvalidSignatureException")
            && fy_aws_is_credential_error ("ExpiredToken"),
        "but is a credential error");
    ok (!fy_aws_is_credential_error ("MessageRejected")
            && !fy_aws_is_credential_error (NULL),
        "MessageRejected is not");
}

static void
s_endpoint (void)
{
    fy_aws_options_t options;
    fy_aws_options_default (&options);
    is_int ((int) options.base.max_attempts, 5, "5 attempts by default");
    unsetenv ("AWS_ENDPOINT_URL");
    unsetenv ("AWS_REGION");
    unsetenv ("AWS_DEFAULT_REGION");
    fy_error_t err = { "" };
    errno = 0;
    ok (!fy_aws_endpoint (NULL, &options, "sns", &err) && errno == EINVAL,
        "no endpoint, no region: EINVAL (%s)", err.text);
    options.endpoint = "ftp://x";
    errno = 0;
    ok (!fy_aws_endpoint (NULL, &options, "sns", &err) && errno == EINVAL,
        "not http(s): EINVAL (%s)", err.text);
    setenv ("AWS_DEFAULT_REGION", "cn-north-1", 1);
    options.endpoint = NULL;
    char *url = fy_aws_endpoint (NULL, &options, "sns", &err);
    is_str (url, "https://sns.cn-north-1.amazonaws.com.cn",
            "AWS_DEFAULT_REGION, China's suffix");
    free (url);
    options.endpoint = "http://h:1///";
    url = fy_aws_endpoint (NULL, &options, "sns", &err);
    is_str (url, "http://h:1", "trailing slashes dropped");
    free (url);
}

static int s_called;

static void
s_on_done (const fy_http_op_result_t *result, void *arg)
{
    (void) result;
    (void) arg;
    s_called++;
}

static void
s_ops (void)
{
    fy_http_client_t *http = fy_http_client_new (NULL, NULL);
    fy_aws_options_t options;
    fy_aws_options_default (&options);
    options.endpoint = "http://127.0.0.1:9";
    fy_aws_client_t *ses = fy_ses_new (http, &options, NULL);
    const char *to [] = { "a@example.com", NULL };
    fy_ses_email_t email = {
        .from = "f@example.com", .to = to, .subject = "s", .text = "t"
    };
    uint64_t ids [3];
    for (int i = 0; i < 3; i++)
        if (fy_ses_send (ses, &email, s_on_done, NULL, &ids [i], NULL))
            BAIL_OUT ("send");
    ok (ids [0] && ids [1] == ids [0] + 1 && ids [2] == ids [1] + 1,
        "ids count up");
    is_int ((int) fy_aws_client_pending (ses), 3, "3 pending");
    ok (fy_aws_client_cancel (ses, ids [1]), "cancel the middle one");
    ok (!fy_aws_client_cancel (ses, ids [1]), "not twice");
    is_int ((int) fy_aws_client_pending (ses), 2, "2 pending");
    fy_aws_client_destroy (&ses);
    ok (ses == NULL, "destroyed with calls waiting");
    if (fy_http_client_wait (http, 50))
        BAIL_OUT ("wait");
    is_int (s_called, 0, "no callback after cancel or destroy");
    fy_http_client_destroy (&http);
}

int
main (void)
{
    plan (NO_PLAN);
    s_backoff ();
    s_errors ();
    s_endpoint ();
    s_ops ();
    return done_testing ();
}
