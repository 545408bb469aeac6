/*  fy_ses_int: what fy_ses exposes to its tests and fuzzer only, not to
    its users. */
#ifndef FY_SES_INT_H_INCLUDED
#define FY_SES_INT_H_INCLUDED

#include "aws/fy_ses.h"

#ifdef __cplusplus
extern "C" {
#endif

//  SES's answer parser (fy_http_parse_fn): a 200 must be a JSON object
//  with a non-empty string MessageId.
int
fy_ses_parse (const fy_http_answer_t *answer, fy_http_service_error_t *error,
              char **message_id, char **request_id);

#ifdef __cplusplus
}
#endif
#endif
