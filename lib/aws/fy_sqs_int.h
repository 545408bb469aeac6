/*  fy_sqs_int: what fy_sqs exposes to its conformance tests only, not to
    its users. */
#ifndef FY_SQS_INT_H_INCLUDED
#define FY_SQS_INT_H_INCLUDED

#include "aws/fy_sqs.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The protocol's error decoding (fy_sqs's ops keep the last error).
typedef struct {
    //  Short code: the X-Amzn-Errortype header, else the body's "__type",
    //  else its "code", each after any '#' and before any ':'; a legacy
    //  query code ("AWS.SimpleQueueService.NonExistentQueue") becomes the
    //  model's shape name ("QueueDoesNotExist"). "" when there is none.
    char code [96];
    //  The query-compatible code of x-amzn-query-error, "" when absent.
    char query_code [96];
    //  "message" or "Message" of the body, "" when absent.
    char message [256];
    //  x-amzn-query-error's ";Sender", else a 4xx status.
    bool sender_fault;
} fy_sqs_error_t;

//  Decode an error response from its status, x-amzn-query-error and
//  X-Amzn-Errortype headers (either may be NULL) and body (len bytes).
void
fy_sqs_decode_error (int status, const char *query_error,
                     const char *error_type, const char *body, size_t len,
                     fy_sqs_error_t *error);

#ifdef __cplusplus
}
#endif
#endif
