/*  bridge_sign: the glue between fy_sqs's signing callback and libferry's
    SigV4 signer and credentials chain. fy_sqs knows nothing of AWS keys;
    this class owns the signer and the chain and turns each request fy_sqs
    is about to send into the headers SigV4 adds. */
#ifndef BRIDGE_SIGN_H_INCLUDED
#define BRIDGE_SIGN_H_INCLUDED

#include "ferry/ferry.h"

typedef struct bridge_sign bridge_sign_t;

//  Walk the credentials chain once. Returns a signer for region (NULL:
//  AWS_REGION, the profile's region, else us-east-1) when it yields keys;
//  NULL with errno ENOENT when no source has credentials (requests then
//  go unsigned, as an emulator takes them), or NULL with another errno
//  and err when a source is set up wrong.
bridge_sign_t *
    bridge_sign_new (const char *region, fy_error_t *err);

void
    bridge_sign_destroy (bridge_sign_t **self_p);

//  Where the keys came from ("env", "files", ...). Borrowed.
const char *
    bridge_sign_source (bridge_sign_t *self);

//  The region requests are signed for. Borrowed.
const char *
    bridge_sign_region (bridge_sign_t *self);

//  An fy_aws_sign_fn: arg is the bridge_sign_t. Signs for service "sqs".
int
    bridge_sign_sqs (void *arg, const char *method, const char *url,
                     struct curl_slist **headers, const void *body,
                     size_t len, fy_error_t *err);

#endif
