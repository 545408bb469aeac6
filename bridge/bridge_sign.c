/*  bridge_sign: SigV4 for fy_sqs with keys from the credentials chain.
    The request's headers arrive as curl's "Name: value" list; they are
    split into the signer's pairs (the signer canonicalizes them), and the
    headers it asks for are appended to the same list. */
#include "bridge_sign.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  fy_sqs sends a handful of headers; more would be a change there.
#define S_HEADERS_MAX 16

struct bridge_sign {
    fy_sigv4_t *signer;
    fy_aws_credentials_t *chain;
    char *region;
};

bridge_sign_t *
bridge_sign_new (const char *region, fy_error_t *err)
{
    bridge_sign_t *self = fy_xcalloc (1, sizeof *self);
    self->chain = fy_aws_credentials_new ();
    if (!fy_aws_credentials_get (self->chain, (int64_t) time (NULL), err)) {
        bridge_sign_destroy (&self);
        return NULL;
    }
    if (!region)
        region = fy_aws_credentials_region (self->chain);
    self->region = fy_xstrdup (region ? region : "us-east-1");
    self->signer = fy_sigv4_new ();
    return self;
}

void
bridge_sign_destroy (bridge_sign_t **self_p)
{
    assert (self_p);
    bridge_sign_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    fy_sigv4_destroy (&self->signer);
    fy_aws_credentials_destroy (&self->chain);
    free (self->region);
    free (self);
    *self_p = NULL;
    errno = saved;
}

const char *
bridge_sign_source (bridge_sign_t *self)
{
    assert (self);
    return fy_aws_credentials_source_name (
        fy_aws_credentials_source (self->chain));
}

const char *
bridge_sign_region (bridge_sign_t *self)
{
    assert (self);
    return self->region;
}

int
bridge_sign_sqs (void *arg, const char *method, const char *url,
                 struct curl_slist **headers, const void *body, size_t len,
                 fy_error_t *err)
{
    bridge_sign_t *self = arg;
    assert (self);
    assert (headers);
    int64_t now = (int64_t) time (NULL);
    //  Cheap while the keys are fresh: the chain fetches again only when
    //  temporary keys near their expiration.
    const fy_aws_keys_t *keys = fy_aws_credentials_get (self->chain, now, err);
    if (!keys)
        return -1;
    //  Names and values are cut out of copies of curl's lines.
    fy_sigv4_header_t pairs [S_HEADERS_MAX];
    char *copies [S_HEADERS_MAX];
    size_t count = 0;
    int rc = -1;
    for (struct curl_slist *item = *headers; item; item = item->next) {
        char *colon = strchr (item->data, ':');
        if (!colon)
            continue;           //  curl's "Name;" form; fy_sqs sends none
        if (count == S_HEADERS_MAX) {
            fy_error_set (err, "sign: more than %d headers", S_HEADERS_MAX);
            errno = EINVAL;
            goto out;
        }
        char *line = copies [count] = fy_xstrdup (item->data);
        char *value = line + (colon - item->data);
        *value++ = 0;
        while (*value == ' ')
            value++;
        pairs [count].name = line;
        pairs [count].value = value;
        count++;
    }
    fy_sigv4_request_t req = {
        .method = method, .url = url, .headers = pairs,
        .header_count = count, .body = body, .body_len = len,
        .region = self->region, .service = "sqs", .now = now
    };
    if (fy_sigv4_sign (self->signer, &req, keys, err))
        goto out;
    size_t added = 0;
    const fy_sigv4_header_t *add = fy_sigv4_headers (self->signer, &added);
    for (size_t i = 0; i < added; i++) {
        char *line = fy_xasprintf ("%s: %s", add [i].name, add [i].value);
        struct curl_slist *list = curl_slist_append (*headers, line);
        free (line);
        if (!list) {
            fy_error_set (err, "sign: out of memory");
            errno = ENOMEM;
            goto out;
        }
        *headers = list;
    }
    rc = 0;
out:
    for (size_t i = 0; i < count; i++)
        free (copies [i]);
    return rc;
}
