/*  fy_fcm: Firebase Cloud Messaging (HTTP v1 API) for the notification
    worker's mobile push, asynchronous on fy_http_client. It signs in as a
    Google service account (its JSON key file) with the OAuth 2.0 JWT
    bearer flow (RFC 7523): an RS256 assertion posted to the key file's
    token_uri buys an access token, kept and refreshed before it expires,
    one refresh at a time however many sends wait for it. A send is one
    POST to /v1/projects/{project_id}/messages:send, an op of the call
    runner the AWS clients use too (fy_http_ops.h: the same backoff, the
    same result and callback), and calls back once with the message's
    name or the error:

        fy_fcm_options_t options;
        fy_fcm_options_default (&options);
        options.key_file = "/etc/ferry/fcm-key.json";
        fy_fcm_t *fcm = fy_fcm_new (http, &options, &err);
        fy_fcm_message_t message = {
            .token = device_token, .title = "Review due", .body = "..."
        };
        if (fy_fcm_send (fcm, &message, on_sent, job, NULL, &err)) ...
        ...
        fy_fcm_destroy (&fcm);

    The result (fy_http_op_result_t): message_id is the message's name
    ("projects/p/messages/0:1500415314455276%31bd1c9631bd1c96"); code is
    FCM's errorCode ("UNREGISTERED", "QUOTA_EXCEEDED", "INVALID_ARGUMENT",
    "SENDER_ID_MISMATCH", "THIRD_PARTY_AUTH_ERROR", ...) or, when the
    answer has none, its status ("UNAUTHENTICATED", "PERMISSION_DENIED").
    Retried inside the call: 429 and 5xx (after Retry-After when given,
    else the backoff), transport failures, and a 401 once, with a fresh
    token. UNREGISTERED sets token_dead: the worker must forget the
    device. The private key never appears in a log or an error.

    Every callback runs from fy_http_client_run. Not thread-safe. */
#ifndef FY_FCM_H_INCLUDED
#define FY_FCM_H_INCLUDED

#include "http/fy_http_ops.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The endpoints a client uses unless told otherwise.
#define FY_FCM_ENDPOINT "https://fcm.googleapis.com"
#define FY_FCM_TOKEN_URI "https://oauth2.googleapis.com/token"
//  The OAuth scope asked for.
#define FY_FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
//  Largest key file read.
#define FY_FCM_KEY_FILE_MAX (64 * 1024)

typedef struct {
    //  Retry backoff, attempts and timeouts of the call runner
    //  (fy_http_ops.h, as for the AWS clients); sign is not used.
    fy_http_ops_options_t base;
    //  The FCM endpoint used when FCM_ENDPOINT_URL is not set (NULL for
    //  FY_FCM_ENDPOINT).
    const char *endpoint;
    //  The service account's JSON key file; NULL reads the path from
    //  GOOGLE_APPLICATION_CREDENTIALS.
    const char *key_file;
    //  Longest Retry-After waited for inside a call; an answer asking
    //  for more ends the call (retryable). Default 30 s.
    int64_t retry_after_max_ms;
    //  An access token is refreshed this long before it expires (at most
    //  half its lifetime), in the background while it is still valid.
    //  Default 300 s.
    int64_t refresh_margin_s;
} fy_fcm_options_t;

//  Fill options with the defaults above.
void
fy_fcm_options_default (fy_fcm_options_t *options);

//  A message. Strings are UTF-8 and borrowed for the call to fy_fcm_send
//  only; android and apns are copied.
typedef struct {
    //  The target: exactly one of a registration token, a topic name
    //  (without "/topics/") or a condition ("'a' in topics && ...").
    const char *token;
    const char *topic;
    const char *condition;
    //  The notification; none is sent when all three are NULL.
    const char *title;
    const char *body;
    const char *image;
    //  The data map as a NULL-terminated list of key, value pairs, or
    //  NULL. Keys FCM reserves ("from", "notification", "message_type",
    //  "google..." and "gcm...") are refused.
    const char **data;
    //  AndroidConfig and ApnsConfig JSON objects, or NULL.
    json_t *android;
    json_t *apns;
    //  Ask FCM to check the message without delivering it.
    bool validate_only;
} fy_fcm_message_t;

typedef struct fy_fcm fy_fcm_t;

//  An FCM client on http (borrowed; it must outlive the client), signing
//  in with the key file of options (NULL for the defaults). The key file
//  is read and checked here: a JSON object of type "service_account"
//  with client_email, project_id and an RSA private_key of 2048 bits or
//  more in PEM; token_uri (default FY_FCM_TOKEN_URI) must be http(s). No
//  request is made until the first send. Returns NULL with errno EINVAL
//  (or the errno of reading the file) and err filled, never with any of
//  the key in it.
fy_fcm_t *
fy_fcm_new (fy_http_client_t *http, const fy_fcm_options_t *options,
            fy_error_t *err);

//  Cancel every send in flight or waiting (their callbacks are not
//  called) and any token request, wipe the key and the token. Sets
//  *self_p to NULL. Safe on NULL.
void
fy_fcm_destroy (fy_fcm_t **self_p);

//  The project messages are sent for, the service account's email, the
//  FCM endpoint and the token URI. Borrowed.
const char *
fy_fcm_project_id (fy_fcm_t *self);
const char *
fy_fcm_client_email (fy_fcm_t *self);
const char *
fy_fcm_endpoint (fy_fcm_t *self);
const char *
fy_fcm_token_uri (fy_fcm_t *self);

//  Sends in flight, waiting for a token or waiting to retry.
size_t
fy_fcm_pending (fy_fcm_t *self);

//  Token requests made so far (for metrics and tests).
size_t
fy_fcm_token_requests (fy_fcm_t *self);

//  Cancel send id (from fy_fcm_send's *id_p); its callback is not
//  called. Returns true if it was pending.
bool
fy_fcm_cancel (fy_fcm_t *self, uint64_t id);

//  The messages:send request body for message. Caller owns result
//  (*len_p bytes). NULL with errno EINVAL and err filled when FCM would
//  refuse it: not exactly one target, an empty target, a topic with a
//  character FCM does not allow, a string that is not UTF-8, a data key
//  that is empty or reserved, a data key without a value, android or
//  apns not an object.
char *
fy_fcm_body (const fy_fcm_message_t *message, size_t *len_p, fy_error_t *err);

//  Send message. Returns 0 and calls fn exactly once later (unless
//  cancelled), never inside this call, with the result; or -1 with
//  errno EINVAL and err filled as fy_fcm_body (fn is not called). *id_p,
//  when not NULL, gets the send's id for fy_fcm_cancel. The result's
//  error is 0, EPROTO (FCM refused: see code), EACCES (no access token:
//  the token endpoint refused the assertion, its OAuth error in code; or
//  answered nothing usable) or a transport errno.
int
fy_fcm_send (fy_fcm_t *self, const fy_fcm_message_t *message,
             fy_http_op_done_fn *fn, void *arg, uint64_t *id_p,
             fy_error_t *err) FY_MUSTCHECK;

//  True when FCM's code (errorCode or status) names a failure worth
//  retrying at once: QUOTA_EXCEEDED, UNAVAILABLE, INTERNAL (with status,
//  429 and 5xx are retried whatever the code).
bool
fy_fcm_is_retryable (int status, const char *code);

#ifdef __cplusplus
}
#endif
#endif
