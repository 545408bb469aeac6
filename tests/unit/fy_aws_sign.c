/*  fy_aws_sign: the headers appended to curl's list are what fy_sigv4
    gives for the same request and time, with the keys of the chain and
    the region given or found; no keys or no region fail with the reason. */
#include "aws/fy_aws_sign.h"

#include <curl/curl.h>
#include <errno.h>
#include <time.h>

#include "tap.h"

//  The value of header name in list, or NULL.
static const char *
s_header (struct curl_slist *list, const char *name)
{
    size_t len = strlen (name);
    for (; list; list = list->next)
        if (strncasecmp (list->data, name, len) == 0 && list->data [len] == ':')
            return list->data + len + 2;
    return NULL;
}

static void
s_keys_env (const char *token)
{
    setenv ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE", 1);
    setenv ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            1);
    if (token)
        setenv ("AWS_SESSION_TOKEN", token, 1);
    else
        unsetenv ("AWS_SESSION_TOKEN");
}

//  Sign a JSON 1.0 request with sign and check it against fy_sigv4 at
//  the X-Amz-Date the glue used.
static void
s_check (fy_aws_sign_t *sign, const char *region, const char *token)
{
    const char *url = "https://sqs.eu-west-1.amazonaws.com/";
    const char *body = "{\"QueueUrl\":\"q\"}";
    struct curl_slist *list = NULL;
    list = curl_slist_append (list, "Content-Type: application/x-amz-json-1.0");
    list = curl_slist_append (list, "X-Amz-Target: AmazonSQS.ReceiveMessage");
    list = curl_slist_append (list, "User-Agent: ferry/test");
    fy_error_t err = { "" };
    ok (fy_aws_sign_sqs (sign, "POST", url, &list, body, strlen (body), &err)
            == 0,
        "signed (%s)", err.text);
    const char *date = s_header (list, "X-Amz-Date");
    const char *authorization = s_header (list, "Authorization");
    ok (date && authorization, "X-Amz-Date and Authorization appended");
    if (token)
        is_str (s_header (list, "X-Amz-Security-Token"), token,
                "session token appended");
    else
        ok (!s_header (list, "X-Amz-Security-Token"), "no session token");
    struct tm tm = { 0 };
    const char *end = date ? strptime (date, "%Y%m%dT%H%M%SZ", &tm) : NULL;
    ok (end && !*end, "X-Amz-Date is ISO 8601 basic");
    fy_sigv4_header_t headers [] = {
        { "Content-Type", "application/x-amz-json-1.0" },
        { "X-Amz-Target", "AmazonSQS.ReceiveMessage" },
        { "User-Agent", "ferry/test" },
    };
    fy_sigv4_request_t request = { .method = "POST",
                                   .url = url,
                                   .headers = headers,
                                   .header_count = 3,
                                   .body = body,
                                   .body_len = strlen (body),
                                   .region = region,
                                   .service = "sqs",
                                   .now = (int64_t) timegm (&tm) };
    fy_aws_keys_t keys = { "AKIDEXAMPLE",
                           "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token };
    fy_sigv4_t *signer = fy_sigv4_new ();
    if (fy_sigv4_sign (signer, &request, &keys, NULL))
        BAIL_OUT ("fy_sigv4_sign");
    is_str (authorization, fy_sigv4_authorization (signer),
            "Authorization is fy_sigv4's for the same request");
    char scope [64];
    snprintf (scope, sizeof scope, "/%s/sqs/aws4_request", region);
    ok (authorization && strstr (authorization, scope), "scoped to %s and sqs",
        region);
    ok (authorization && strstr (authorization, "content-type;host;x-amz-date")
            && !strstr (authorization, "user-agent"),
        "curl's headers signed, User-Agent not");
    fy_sigv4_destroy (&signer);
    curl_slist_free_all (list);
}

int
main (void)
{
    plan (NO_PLAN);
    setenv ("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv ("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    unsetenv ("AWS_PROFILE");
    unsetenv ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    unsetenv ("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    s_keys_env (NULL);
    setenv ("AWS_REGION", "eu-west-1", 1);

    fy_aws_sign_t *sign = fy_aws_sign_new (NULL);
    s_check (sign, "eu-west-1", NULL);
    is_str (fy_aws_credentials_source_name (
                fy_aws_credentials_source (fy_aws_sign_credentials (sign))),
            "env", "keys from env");
    fy_aws_sign_destroy (&sign);
    ok (sign == NULL, "destroy sets the reference to NULL");

    s_keys_env ("TOKEN/with+chars");
    sign = fy_aws_sign_new ("ap-south-1");
    s_check (sign, "ap-south-1", "TOKEN/with+chars");
    fy_aws_sign_destroy (&sign);

    unsetenv ("AWS_REGION");
    unsetenv ("AWS_DEFAULT_REGION");
    sign = fy_aws_sign_new (NULL);
    struct curl_slist *list = NULL;
    fy_error_t err = { "" };
    errno = 0;
    ok (fy_aws_sign_sqs (sign, "POST", "https://sqs.x/", &list, "", 0, &err)
                == -1
            && errno == EINVAL,
        "no region: EINVAL (%s)", err.text);
    ok (list == NULL, "nothing appended");
    fy_aws_sign_destroy (&sign);

    setenv ("AWS_REGION", "eu-west-1", 1);
    unsetenv ("AWS_ACCESS_KEY_ID");
    unsetenv ("AWS_SECRET_ACCESS_KEY");
    unsetenv ("AWS_SESSION_TOKEN");
    sign = fy_aws_sign_new (NULL);
    errno = 0;
    ok (fy_aws_sign_sqs (sign, "POST", "https://sqs.x/", &list, "", 0, &err)
                == -1
            && errno == ENOENT,
        "no credentials: ENOENT (%s)", err.text);
    fy_aws_sign_destroy (&sign);
    return done_testing ();
}
