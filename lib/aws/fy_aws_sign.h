/*  fy_aws_sign: the glue between the AWS clients' signing callback
    (fy_http_sign_fn of fy_http_ops.h) and fy_sigv4 with the credentials
    chain of fy_aws_credentials. One object holds the chain and a signer; the
    callback reads the request's headers from curl's list, signs them with
    the current keys (the chain refreshes temporary ones by itself) and
    appends X-Amz-Date, X-Amz-Security-Token and Authorization:

        fy_aws_sign_t *sign = fy_aws_sign_new (NULL);
        options.base.sign = fy_aws_sign_sqs;
        options.base.sign_arg = sign;

    Not thread-safe: one per loop, like the clients it signs for. */
#ifndef FY_AWS_SIGN_H_INCLUDED
#define FY_AWS_SIGN_H_INCLUDED

#include "ferry/fy_common.h"
#include "aws/fy_aws_credentials.h"

#ifdef __cplusplus
extern "C" {
#endif

struct curl_slist;
typedef struct fy_aws_sign fy_aws_sign_t;

//  Create the glue for region (copied); NULL takes the chain's region
//  (AWS_REGION, AWS_DEFAULT_REGION, the profile's) at the first signing.
//  Never fails; nothing is read until the first signing.
fy_aws_sign_t *
fy_aws_sign_new (const char *region);

//  Wipe the keys and the signer and set *self_p to NULL. Safe on NULL.
void
fy_aws_sign_destroy (fy_aws_sign_t **self_p);

//  The credentials chain, to tune (timeouts, refresh margin) or to ask
//  where the keys came from. Borrowed.
fy_aws_credentials_t *
fy_aws_sign_credentials (fy_aws_sign_t *self);

//  Sign a request to service ("sqs", "ses", ...) in place: the headers in
//  *headers ("Name: value", as curl takes them) and the URL's host are
//  signed, and the signing headers appended. Returns 0, or -1 with errno
//  ENOENT (no credentials), EINVAL (no region, a bad URL) or what the
//  chain gave, and err filled.
int
fy_aws_sign_request (fy_aws_sign_t *self, const char *service,
                     const char *method, const char *url,
                     struct curl_slist **headers, const void *body, size_t len,
                     fy_error_t *err) FY_MUSTCHECK;

//  fy_http_sign_fn for fy_sqs, fy_ses and fy_sns: fy_aws_sign_request for
//  "sqs", "ses" and "sns", with an fy_aws_sign_t as arg.
int
fy_aws_sign_sqs (void *arg, const char *method, const char *url,
                 struct curl_slist **headers, const void *body, size_t len,
                 fy_error_t *err) FY_MUSTCHECK;
int
fy_aws_sign_ses (void *arg, const char *method, const char *url,
                 struct curl_slist **headers, const void *body, size_t len,
                 fy_error_t *err) FY_MUSTCHECK;
int
fy_aws_sign_sns (void *arg, const char *method, const char *url,
                 struct curl_slist **headers, const void *body, size_t len,
                 fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
