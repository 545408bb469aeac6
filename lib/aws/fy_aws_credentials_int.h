/*  fy_aws_credentials_int: what fy_aws_credentials exposes to its tests
    only, not to its users. */
#ifndef FY_AWS_CREDENTIALS_INT_H_INCLUDED
#define FY_AWS_CREDENTIALS_INT_H_INCLUDED

#include "aws/fy_aws_credentials.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Use base ("http://127.0.0.1:8080") instead of http://169.254.170.2 for
//  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI. For tests; NULL restores it.
void
fy_aws_credentials_set_ecs_base (fy_aws_credentials_t *self, const char *base);

#ifdef __cplusplus
}
#endif
#endif
