/*  auth_keys: the key set of user tokens (auth_keys.h). */
#include "auth_keys.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  Most kids remembered as unknown; beyond it the oldest are forgotten
//  all at once (the refresh interval still bounds the loads).
#define S_NEGATIVE_MAX 1024
//  How many refresh intervals a kid unknown after a load asks no other.
#define S_NEGATIVE_INTERVALS 10

typedef struct {
    char *kid;                  //  NULL: the one key of a single-key set
    fy_jwt_t *jwt;
} s_key_t;

struct auth_keys {
    auth_keys_options_t options;
    char *alg, *issuer, *audience;
    s_key_t *keys;
    size_t count;
    int64_t refreshed_at;       //  mono ms of the last load, -1: none
    //  Kids that asked for a load which has not ended, and kids unknown
    //  after one, with when they may ask again.
    zhashx_t *asking;
    zhashx_t *negative;
};

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

static char *
s_dup (const char *text)
{
    return text && *text ? fy_xstrdup (text) : NULL;
}

auth_keys_t *
auth_keys_new (const auth_keys_options_t *options, fy_error_t *err)
{
    assert (options);
    const char *alg = options->alg ? options->alg : "";
    if (strcmp (alg, "HS256") && strcmp (alg, "RS256")
        && strcmp (alg, "ES256")) {
        fy_error_set (err, "JWT algorithm must be HS256, RS256 or ES256");
        errno = EINVAL;
        return NULL;
    }
    auth_keys_t *self = fy_xcalloc (1, sizeof *self);
    self->options = *options;
    self->alg = fy_xstrdup (alg);
    self->issuer = s_dup (options->issuer);
    self->audience = s_dup (options->audience);
    self->options.alg = self->alg;
    self->options.issuer = self->issuer;
    self->options.audience = self->audience;
    self->refreshed_at = -1;
    self->asking = zhashx_new ();
    self->negative = zhashx_new ();
    zhashx_set_destructor (self->negative, s_free_item);
    return self;
}

static void
s_keys_free (s_key_t *keys, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free (keys [i].kid);
        fy_jwt_destroy (&keys [i].jwt);
    }
    free (keys);
}

void
auth_keys_destroy (auth_keys_t **self_p)
{
    assert (self_p);
    auth_keys_t *self = *self_p;
    if (!self)
        return;
    s_keys_free (self->keys, self->count);
    zhashx_destroy (&self->asking);
    zhashx_destroy (&self->negative);
    free (self->alg);
    free (self->issuer);
    free (self->audience);
    free (self);
    *self_p = NULL;
}

static void
s_configure (auth_keys_t *self, fy_jwt_t *jwt)
{
    fy_jwt_set_leeway (jwt, self->options.leeway_s);
    fy_jwt_set_issuer (jwt, self->issuer);
    fy_jwt_set_audience (jwt, self->audience);
}

static void
s_replace (auth_keys_t *self, s_key_t *keys, size_t count)
{
    s_keys_free (self->keys, self->count);
    self->keys = keys;
    self->count = count;
}

int
auth_keys_set_key (auth_keys_t *self, const void *key, size_t len,
                   fy_error_t *err)
{
    assert (self);
    fy_jwt_t *jwt = fy_jwt_new (self->alg, key, len, err);
    if (!jwt)
        return -1;
    s_configure (self, jwt);
    s_key_t *keys = fy_xcalloc (1, sizeof *keys);
    keys [0].jwt = jwt;
    s_replace (self, keys, 1);
    return 0;
}

int
auth_keys_load_jwks (auth_keys_t *self, const char *text, size_t len,
                     size_t *skipped, fy_error_t *err)
{
    assert (self);
    size_t skip = 0;
    fy_error_t jerr = { "" };
    json_t *root = fy_json_loadb (text, len, &jerr);
    json_t *list = json_object_get (root, "keys");
    if (!json_is_array (list)) {
        fy_error_set (err, "JWKS: not an object with a \"keys\" array%s%s",
                      *jerr.text ? ": " : "", jerr.text);
        json_decref (root);
        errno = EINVAL;
        return -1;
    }
    size_t size = json_array_size (list);
    s_key_t *keys = fy_xcalloc (size ? size : 1, sizeof *keys);
    size_t count = 0;
    for (size_t i = 0; i < size; i++) {
        json_t *jwk = json_array_get (list, i);
        const char *kid = json_string_value (json_object_get (jwk, "kid"));
        const char *alg = json_string_value (json_object_get (jwk, "alg"));
        //  A key without a kid could only be chosen by elimination.
        if ((!kid || !*kid) && size > 1) {
            skip++;
            continue;
        }
        char *one = json_dumps (jwk, JSON_COMPACT);
        fy_jwt_t *jwt = one ? fy_jwt_new_jwk (alg ? alg : self->alg, one,
                                              strlen (one), NULL)
                            : NULL;
        free (one);
        if (!jwt) {
            skip++;
            continue;
        }
        s_configure (self, jwt);
        keys [count].kid = s_dup (kid);
        keys [count].jwt = jwt;
        count++;
    }
    json_decref (root);
    if (skipped)
        *skipped = skip;
    if (count == 0) {
        free (keys);
        fy_error_set (err, "JWKS: none of its %zu keys is usable", size);
        errno = EINVAL;
        return -1;
    }
    s_replace (self, keys, count);
    return (int) count;
}

size_t
auth_keys_size (auth_keys_t *self)
{
    assert (self);
    return self->count;
}

fy_jwt_t *
auth_keys_find (auth_keys_t *self, const char *kid)
{
    assert (self);
    //  One key takes every token, whatever kid it names.
    if (self->count == 1 && (!kid || !self->keys [0].kid))
        return self->keys [0].jwt;
    for (size_t i = 0; kid && i < self->count; i++)
        if (self->keys [i].kid && strcmp (self->keys [i].kid, kid) == 0)
            return self->keys [i].jwt;
    return NULL;
}

bool
auth_keys_should_refresh (auth_keys_t *self, const char *kid, int64_t now_ms)
{
    assert (self);
    const char *name = kid ? kid : "";
    int64_t *until = zhashx_lookup (self->negative, name);
    if (until && now_ms < *until)
        return false;
    if (self->refreshed_at >= 0
        && now_ms - self->refreshed_at < self->options.refresh_min_ms)
        return false;
    if (zhashx_size (self->asking) < S_NEGATIVE_MAX)
        zhashx_update (self->asking, name, (void *) 1);
    return true;
}

void
auth_keys_refreshed (auth_keys_t *self, int64_t now_ms)
{
    assert (self);
    self->refreshed_at = now_ms;
    if (zhashx_size (self->negative) >= S_NEGATIVE_MAX)
        zhashx_purge (self->negative);
    for (void *item = zhashx_first (self->asking); item;
         item = zhashx_next (self->asking)) {
        const char *kid = zhashx_cursor (self->asking);
        if (auth_keys_find (self, *kid ? kid : NULL))
            continue;
        int64_t *until = fy_xmalloc (sizeof *until);
        *until = now_ms + S_NEGATIVE_INTERVALS * self->options.refresh_min_ms;
        zhashx_update (self->negative, kid, until);
    }
    zhashx_purge (self->asking);
}
