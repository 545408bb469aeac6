/*  auth_keys: the keys user tokens are verified with. One key (a shared
    secret or a PEM public key) whose validator takes every token, or a
    JSON Web Key Set whose keys are chosen by the token's kid. Each key is
    an fy_jwt validator pinned to its own algorithm (the JWK's "alg", or
    auth.jwt_alg), so the token's header picks a key but never an
    algorithm. An unknown kid may ask for the set to be loaded again, at
    most once per refresh interval, and a kid still unknown after a load
    is refused without asking again for ten intervals (a negative cache):
    a flood of made-up kids costs one load per interval, the same unknown
    kid again and again one per ten. Pure: the caller
    reads the file or fetches the URL. */
#ifndef AUTH_KEYS_H_INCLUDED
#define AUTH_KEYS_H_INCLUDED

#include <ferry/ferry.h>
#include "http/fy_jwt.h"

typedef struct auth_keys auth_keys_t;

//  What every validator checks besides the signature.
typedef struct {
    const char *alg;            //  default algorithm: HS256, RS256, ES256
    int leeway_s;
    const char *issuer;         //  NULL: not checked
    const char *audience;       //  NULL: not checked
    int64_t refresh_min_ms;     //  least time between two loads
} auth_keys_options_t;

//  An empty key set (options copied). NULL with err and errno EINVAL for
//  a bad algorithm.
auth_keys_t *
auth_keys_new (const auth_keys_options_t *options, fy_error_t *err);

void
auth_keys_destroy (auth_keys_t **self_p);

//  One key for every token: an HS256 secret or a PEM public key (bytes of
//  len). Replaces the set. Returns 0, or -1 with err and errno EINVAL.
int
auth_keys_set_key (auth_keys_t *self, const void *key, size_t len,
                   fy_error_t *err) FY_MUSTCHECK;

//  A JWK Set (RFC 7517 s5; len bytes of JSON): each usable key, by its
//  kid (a set of one key may leave it out). Keys that cannot be used
//  (another kty, alg or use, private-only, no kid in a set of several)
//  are left out and counted in *skipped. Replaces the set when at least
//  one key is usable; otherwise the old set stays. Returns the number of
//  keys, or -1 with err and errno EINVAL.
int
auth_keys_load_jwks (auth_keys_t *self, const char *text, size_t len,
                     size_t *skipped, fy_error_t *err) FY_MUSTCHECK;

//  Keys in the set.
size_t
auth_keys_size (auth_keys_t *self);

//  The validator for a token whose header names kid (NULL: none), or NULL
//  when the set has none for it. Borrowed until the set changes.
fy_jwt_t *
auth_keys_find (auth_keys_t *self, const char *kid);

//  kid was not found at now_ms: whether to load the set again now. True
//  at most once per refresh interval, and never for a kid that a load
//  within the interval did not bring.
bool
auth_keys_should_refresh (auth_keys_t *self, const char *kid, int64_t now_ms);

//  A load ended at now_ms: the kids that asked for it and are still
//  unknown ask no load until now_ms plus ten intervals.
void
auth_keys_refreshed (auth_keys_t *self, int64_t now_ms);

#endif
