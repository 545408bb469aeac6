/*  fy_aws_sign: curl's header list in, fy_sigv4's headers out. The list
    is walked on every request (a handful of entries), so nothing about
    the request is cached here: only the signer, whose derived keys are
    cached per day and scope, and the chain, which refreshes itself. */
#include "aws/fy_aws_sign.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  More headers than any AWS client of ferry sends.
#define S_HEADERS_MAX 32

struct fy_aws_sign {
    fy_aws_credentials_t *chain;
    fy_sigv4_t *signer;
    char *region;               //  Given, or NULL for the chain's
};

fy_aws_sign_t *
fy_aws_sign_new (const char *region)
{
    fy_aws_sign_t *self = fy_xcalloc (1, sizeof *self);
    self->chain = fy_aws_credentials_new ();
    self->signer = fy_sigv4_new ();
    self->region = region && *region ? fy_xstrdup (region) : NULL;
    return self;
}

void
fy_aws_sign_destroy (fy_aws_sign_t **self_p)
{
    assert (self_p);
    fy_aws_sign_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_aws_credentials_destroy (&self->chain);
    fy_sigv4_destroy (&self->signer);
    free (self->region);
    free (self);
    *self_p = NULL;
    errno = saved;
}

fy_aws_credentials_t *
fy_aws_sign_credentials (fy_aws_sign_t *self)
{
    assert (self);
    return self->chain;
}

int
fy_aws_sign_request (fy_aws_sign_t *self, const char *service,
                     const char *method, const char *url,
                     struct curl_slist **headers, const void *body, size_t len,
                     fy_error_t *err)
{
    assert (self);
    assert (service && method && url && headers);
    int64_t now = (int64_t) time (NULL);
    const fy_aws_keys_t *keys = fy_aws_credentials_get (self->chain, now, err);
    if (!keys)
        return -1;
    const char *region =
        self->region ? self->region : fy_aws_credentials_region (self->chain);
    if (!region) {
        fy_error_set (err, "aws: no region to sign for (set AWS_REGION)");
        errno = EINVAL;
        return -1;
    }
    //  Split "Name: value" in copies: curl's list is the caller's.
    fy_sigv4_header_t list [S_HEADERS_MAX];
    char *copies [S_HEADERS_MAX];
    size_t count = 0;
    int rc = -1;
    for (struct curl_slist *item = *headers; item; item = item->next) {
        const char *colon = strchr (item->data, ':');
        if (!colon)
            continue;           //  "Name;" sends an empty header: rare
        if (count == S_HEADERS_MAX) {
            fy_error_set (err, "aws: more than %d headers to sign",
                          S_HEADERS_MAX);
            errno = EINVAL;
            goto out;
        }
        copies [count] = fy_xstrdup (item->data);
        char *value = copies [count] + (colon - item->data);
        *value++ = 0;
        value += strspn (value, " \t");
        list [count] =
            (fy_sigv4_header_t) { .name = copies [count], .value = value };
        count++;
    }
    fy_sigv4_request_t request = { .method = method,
                                   .url = url,
                                   .headers = list,
                                   .header_count = count,
                                   .body = body,
                                   .body_len = len,
                                   .region = region,
                                   .service = service,
                                   .now = now };
    if (fy_sigv4_sign (self->signer, &request, keys, err))
        goto out;
    size_t added;
    const fy_sigv4_header_t *adds = fy_sigv4_headers (self->signer, &added);
    for (size_t i = 0; i < added; i++) {
        char *line = fy_xasprintf ("%s: %s", adds [i].name, adds [i].value);
        struct curl_slist *grown = curl_slist_append (*headers, line);
        free (line);
        if (!grown)
            abort ();           //  Out of memory is fatal, as fy_xmalloc
        *headers = grown;
    }
    rc = 0;
out:
    for (size_t i = 0; i < count; i++)
        free (copies [i]);
    return rc;
}

int
fy_aws_sign_sqs (void *arg, const char *method, const char *url,
                 struct curl_slist **headers, const void *body, size_t len,
                 fy_error_t *err)
{
    return fy_aws_sign_request (arg, "sqs", method, url, headers, body, len,
                                err);
}

int
fy_aws_sign_ses (void *arg, const char *method, const char *url,
                 struct curl_slist **headers, const void *body, size_t len,
                 fy_error_t *err)
{
    return fy_aws_sign_request (arg, "ses", method, url, headers, body, len,
                                err);
}

int
fy_aws_sign_sns (void *arg, const char *method, const char *url,
                 struct curl_slist **headers, const void *body, size_t len,
                 fy_error_t *err)
{
    return fy_aws_sign_request (arg, "sns", method, url, headers, body, len,
                                err);
}
