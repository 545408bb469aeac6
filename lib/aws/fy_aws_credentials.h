/*  fy_aws_credentials: where ferry's AWS keys come from, the chain the AWS
    SDKs use, first match wins:

    1. environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
       AWS_SESSION_TOKEN;
    2. shared files: ~/.aws/credentials ([name]) then ~/.aws/config
       ([profile name], [default]), paths from AWS_SHARED_CREDENTIALS_FILE
       and AWS_CONFIG_FILE, profile from AWS_PROFILE;
    3. ECS container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
       (on http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, with
       AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE) as Authorization;
    4. EC2 instance metadata, IMDSv2 only (token PUT, then the role),
       unless AWS_EC2_METADATA_DISABLED=true; endpoint from
       AWS_EC2_METADATA_SERVICE_ENDPOINT.

    Temporary credentials (ECS, IMDS) carry an expiration; fy_aws_
    credentials_get fetches again once now is within the refresh margin
    (default 5 minutes) of it, and fy_aws_credentials_refresh_at tells the
    loop when that is. The fetches are blocking libcurl calls with a short
    timeout (default 1 s per request, at most three requests): they happen
    at start and every few hours. Every secret loaded is registered with
    fy_log_secret_add, so it never reaches a log. */
#ifndef FY_AWS_CREDENTIALS_H_INCLUDED
#define FY_AWS_CREDENTIALS_H_INCLUDED

#include "ferry/fy_common.h"
#include "aws/fy_sigv4.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_aws_credentials fy_aws_credentials_t;

//  Where the current keys came from.
typedef enum {
    FY_AWS_SOURCE_NONE,
    FY_AWS_SOURCE_ENV,
    FY_AWS_SOURCE_FILES,
    FY_AWS_SOURCE_ECS,
    FY_AWS_SOURCE_IMDS
} fy_aws_source_t;

#define FY_AWS_REFRESH_MARGIN_S 300
#define FY_AWS_FETCH_TIMEOUT_MS 1000

//  Create a chain; nothing is read until the first fy_aws_credentials_get.
//  Never fails.
fy_aws_credentials_t *
fy_aws_credentials_new (void);

//  Destroy the chain, wiping the keys it holds, and set *self_p to NULL.
//  Safe on NULL.
void
fy_aws_credentials_destroy (fy_aws_credentials_t **self_p);

//  Fetch again when now is within margin_s of the expiration (default
//  FY_AWS_REFRESH_MARGIN_S).
void
fy_aws_credentials_set_refresh_margin (fy_aws_credentials_t *self,
                                       int64_t margin_s);

//  Timeout of each HTTP request to ECS or IMDS, connect included (default
//  FY_AWS_FETCH_TIMEOUT_MS).
void
fy_aws_credentials_set_timeout (fy_aws_credentials_t *self, int64_t timeout_ms);

//  The keys to sign with at time now (seconds since the epoch), walking
//  the chain on the first call and again when they are due for refresh.
//  A failed refresh keeps keys that have not expired yet (and retries
//  after 10 s). Returns the keys, borrowed until the next call, or NULL
//  with errno ENOENT (no source has credentials; err says what was
//  looked at), EINVAL (a source is set up wrong: half the environment
//  pair, a missing profile, a bad URI), ETIMEDOUT/EAGAIN (ECS unreachable)
//  or EPROTO (a malformed answer), and err set.
const fy_aws_keys_t *
fy_aws_credentials_get (fy_aws_credentials_t *self, int64_t now,
                        fy_error_t *err);

//  When the loop should call fy_aws_credentials_get again to refresh:
//  expiration minus the margin; INT64_MAX for keys that do not expire, 0
//  before the first successful get.
int64_t
fy_aws_credentials_refresh_at (fy_aws_credentials_t *self);

//  Expiration of the current keys (seconds since the epoch), 0 if none.
int64_t
fy_aws_credentials_expiration (fy_aws_credentials_t *self);

//  Where the current keys came from.
fy_aws_source_t
fy_aws_credentials_source (fy_aws_credentials_t *self);

//  "env", "files", "ecs", "imds" or "none".
const char *
fy_aws_credentials_source_name (fy_aws_source_t source);

//  The region: AWS_REGION, AWS_DEFAULT_REGION, or the profile's region in
//  the config file, read at the last get. NULL when none. Borrowed.
const char *
fy_aws_credentials_region (fy_aws_credentials_t *self);

#ifdef __cplusplus
}
#endif
#endif
