/*  fy_sigv4: AWS Signature Version 4 (AWS4-HMAC-SHA256) for the SQS bridge
    and the SES/SNS clients. A signer takes a description of the request as
    it will be sent and produces either the headers to add (X-Amz-Date,
    X-Amz-Security-Token, X-Amz-Content-Sha256, Authorization) or a
    presigned URL (X-Amz-* query parameters). The intermediate steps, the
    canonical request and the string to sign, stay readable after each call
    so that tests and operators can compare them with AWS's.

    The signer is built for the hot path: it keeps its buffers between
    calls, so a warm signer signs without allocating, and it caches the
    derived signing key per (credentials, date, region, service), so the
    four-HMAC key derivation runs once a day per scope, not per request.
    One signer per thread; its results are borrowed until the next call. */
#ifndef FY_SIGV4_H_INCLUDED
#define FY_SIGV4_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_sigv4 fy_sigv4_t;

//  One HTTP header. Values may hold obsolete line folding ("a\n  b"); the
//  canonical form folds every whitespace run into one space.
typedef struct {
    const char *name;
    const char *value;
} fy_sigv4_header_t;

//  The keys a request is signed with. session_token may be NULL.
typedef struct {
    const char *access_key;
    const char *secret_key;
    const char *session_token;
} fy_aws_keys_t;

//  Options, or-ed into fy_sigv4_request_t.flags. The defaults suit every
//  service but S3: the path is normalized (RFC 3986 dot segments removed,
//  repeated slashes collapsed) and URI-encoded once more, even though it is
//  already encoded on the wire ("double encoding").
typedef enum {
    //  Sign the path as it is, without removing dot segments or slashes.
    FY_SIGV4_NO_NORMALIZE_PATH = 1 << 0,
    //  Take the path as already canonically encoded instead of encoding it.
    FY_SIGV4_NO_DOUBLE_ENCODE = 1 << 1,
    //  Add and sign X-Amz-Content-Sha256 (S3 requires it). Header variant.
    FY_SIGV4_CONTENT_SHA256 = 1 << 2,
    //  Add X-Amz-Security-Token after signing, outside the signature, for
    //  the services that want it so (the suite's post-sts-header-after).
    FY_SIGV4_UNSIGNED_TOKEN = 1 << 3,
    //  What S3 wants.
    FY_SIGV4_S3 = FY_SIGV4_NO_NORMALIZE_PATH | FY_SIGV4_NO_DOUBLE_ENCODE
                  | FY_SIGV4_CONTENT_SHA256
} fy_sigv4_flag_t;

//  A request as it will be sent. url is absolute, with its query if any
//  ("https://sqs.eu-west-1.amazonaws.com/123/q?Action=X"). headers are the
//  ones that will be sent; without a Host header the URL's authority is
//  signed as Host (what libcurl sends). User-Agent, Expect and
//  X-Amzn-Trace-Id are never signed: proxies and libcurl change them.
//  payload_hash, when not NULL, is used instead of SHA-256(body) (e.g.
//  "UNSIGNED-PAYLOAD").
typedef struct {
    const char *method;
    const char *url;
    const fy_sigv4_header_t *headers;
    size_t header_count;
    const void *body;
    size_t body_len;
    const char *payload_hash;
    const char *region;
    const char *service;
    int64_t now;  //  seconds since the epoch
    unsigned flags;  //  fy_sigv4_flag_t
} fy_sigv4_request_t;

//  The most headers fy_sigv4_sign asks to add.
#define FY_SIGV4_MAX_ADDED 4
//  Longest presign lifetime AWS accepts: seven days.
#define FY_SIGV4_MAX_EXPIRES_S 604800

//  Create a signer. Never fails (out of memory is fatal).
fy_sigv4_t *
fy_sigv4_new (void);

//  Destroy the signer, wiping its cached keys, and set *self_p to NULL.
//  Safe on NULL.
void
fy_sigv4_destroy (fy_sigv4_t **self_p);

//  Sign req for the Authorization header. On success, fy_sigv4_headers
//  gives the headers to add to the request. A header the caller already
//  sends (X-Amz-Date, X-Amz-Security-Token) is signed as given and not
//  added again; an X-Amz-Date that disagrees with req->now is refused.
//  Returns 0, or -1 with errno EINVAL (bad URL, missing field) and err set.
int
fy_sigv4_sign (fy_sigv4_t *self, const fy_sigv4_request_t *req,
               const fy_aws_keys_t *keys, fy_error_t *err) FY_MUSTCHECK;

//  Sign req as a presigned URL valid for expires_s seconds (1 to
//  FY_SIGV4_MAX_EXPIRES_S). On success fy_sigv4_url gives the URL: req->url
//  with the X-Amz-* parameters appended. Returns 0, or -1 with errno EINVAL
//  and err set.
int
fy_sigv4_presign (fy_sigv4_t *self, const fy_sigv4_request_t *req,
                  const fy_aws_keys_t *keys, int64_t expires_s,
                  fy_error_t *err) FY_MUSTCHECK;

//  The headers to add after fy_sigv4_sign, in this order when present:
//  X-Amz-Security-Token, X-Amz-Date, X-Amz-Content-Sha256, Authorization.
//  *count gets how many. Borrowed until the next call on self.
const fy_sigv4_header_t *
fy_sigv4_headers (fy_sigv4_t *self, size_t *count);

//  The presigned URL of the last fy_sigv4_presign. Borrowed.
const char *
fy_sigv4_url (fy_sigv4_t *self);

//  The Authorization value of the last fy_sigv4_sign. Borrowed.
const char *
fy_sigv4_authorization (fy_sigv4_t *self);

//  The canonical request, string to sign and hex signature of the last
//  successful call. Borrowed.
const char *
fy_sigv4_canonical_request (fy_sigv4_t *self);
const char *
fy_sigv4_string_to_sign (fy_sigv4_t *self);
const char *
fy_sigv4_signature (fy_sigv4_t *self);

//  How many times a signing key was derived rather than taken from the
//  cache: lets tests (and the curious) see the cache work.
uint64_t
fy_sigv4_key_derivations (fy_sigv4_t *self);

#ifdef __cplusplus
}
#endif
#endif
