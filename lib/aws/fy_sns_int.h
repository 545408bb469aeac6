/*  fy_sns_int: what fy_sns exposes to its tests and fuzzer only, not to
    its users. */
#ifndef FY_SNS_INT_H_INCLUDED
#define FY_SNS_INT_H_INCLUDED

#include "aws/fy_sns.h"

#ifdef __cplusplus
extern "C" {
#endif

//  SNS's answer parser (fy_http_parse_fn): a 2xx must be a well-formed
//  <PublishResponse> with a non-empty MessageId; an error is read from
//  <ErrorResponse><Error> when the body is one, else only the status
//  counts. Any bytes are safe.
int
fy_sns_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
              char **message_id, char **request_id);

#ifdef __cplusplus
}
#endif
#endif
