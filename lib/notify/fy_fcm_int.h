/*  fy_fcm_int: what fy_fcm exposes to its tests and fuzzer only, not to
    its users: its two answer parsers. */
#ifndef FY_FCM_INT_H_INCLUDED
#define FY_FCM_INT_H_INCLUDED

#include "notify/fy_fcm.h"

#ifdef __cplusplus
extern "C" {
#endif

//  FCM's send answer parser (an fy_http_parse_fn, the error_type unused):
//  a 2xx must be a JSON object with a non-empty string "name"
//  (*message_id); an error is FCM's
//  {"error": {"code", "message", "status", "details": [...]}}: error->code
//  the FcmError detail's errorCode, else the status; error->message the
//  message. request_id is never set. Any bytes are safe.
int
fy_fcm_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
              char **message_id, char **request_id);

//  The token endpoint's answer parser: a 2xx must be a JSON object with
//  an "access_token" of visible ASCII (it goes into a header), a
//  "token_type" of "Bearer" and an "expires_in" of 1 s to a day (3600
//  when absent); *token (caller owns) and *expires_in_s get them. An
//  error is OAuth's {"error", "error_description"}: error->code and
//  error->message. Returns 0 or -1. Any bytes are safe.
int
fy_fcm_parse_token (const fy_http_answer_t *answer,
                    fy_http_service_error_t *error, char **token,
                    int64_t *expires_in_s);

#ifdef __cplusplus
}
#endif
#endif
