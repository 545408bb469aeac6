/*  ferryctl_sqs: what the commands that talk to SQS share: one HTTP
    client (the loop), requests signed with the AWS credentials chain,
    the fy_sqs client on top, and waiting on the loop for a flag. */
#include "ferryctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

ferryctl_sqs_t *
ferryctl_sqs_new (fy_error_t *err)
{
    ferryctl_sqs_t *self = fy_xcalloc (1, sizeof *self);
    self->http = fy_http_client_new (NULL, err);
    if (!self->http)
        goto failed;
    //  Always signed: real SQS needs it, and the emulator takes any keys.
    self->sign = fy_aws_sign_new (NULL);
    fy_sqs_options_t options;
    fy_sqs_options_default (&options);
    options.base.sign = fy_aws_sign_sqs;
    options.base.sign_arg = self->sign;
    self->sqs = fy_sqs_new (self->http, &options, err);
    if (!self->sqs)
        goto failed;
    return self;
failed:
    ferryctl_sqs_destroy (&self);
    return NULL;
}

void
ferryctl_sqs_destroy (ferryctl_sqs_t **self_p)
{
    ferryctl_sqs_t *self = *self_p;
    if (!self)
        return;
    fy_sqs_destroy (&self->sqs);
    fy_aws_sign_destroy (&self->sign);
    fy_http_client_destroy (&self->http);
    free (self);
    *self_p = NULL;
}

static bool
s_is_done (void *arg)
{
    return *(const bool *) arg;
}

int
ferryctl_sqs_run (ferryctl_sqs_t *self, const bool *done, int64_t timeout_ms)
{
    return fy_http_client_run_until (self->http, s_is_done, (void *) done,
                                     timeout_ms);
}

const char *
ferryctl_sqs_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value ? value : NULL;
}
