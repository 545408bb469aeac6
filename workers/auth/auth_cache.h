/*  auth_cache: positive validations kept in process, so that a token seen
    again costs no Redis round trip. An entry is keyed by the hash of the
    token and the required scope (auth_token_hash; the token itself is not
    kept), holds the answer as sent, and lives until the token's exp or
    its session's expiry, whichever comes first. Revocations drop entries
    by session, user or jti (auth_cache_drop), as ferry-auth hears them on
    Redis pub/sub; while it cannot hear them (no subscription) the cache
    is off. A generation counts the drops, so that a validation which
    raced a revocation (asked Redis before, answered after) is not cached.
    Full: expired entries go first, then everything (a cache, not a
    store). */
#ifndef AUTH_CACHE_H_INCLUDED
#define AUTH_CACHE_H_INCLUDED

#include <ferry/ferry.h>

typedef struct auth_cache auth_cache_t;

//  What a revocation names.
typedef enum {
    AUTH_CACHE_SESSION,
    AUTH_CACHE_USER,
    AUTH_CACHE_JTI
} auth_cache_kind_t;

//  A cache of at most max entries (0: never keeps anything).
auth_cache_t *
auth_cache_new (size_t max);

void
auth_cache_destroy (auth_cache_t **self_p);

//  The answer kept for hash at now (seconds), or NULL. Borrowed until the
//  next change.
const char *
auth_cache_get (auth_cache_t *self, const unsigned char hash [32], int64_t now);

//  Keep answer (copied) for hash at now until until_s (seconds), for the session sid of
//  user sub and the token jti, unless the generation moved since gen
//  (a drop happened while it was being checked) or the cache is off.
void
auth_cache_put (auth_cache_t *self, const unsigned char hash [32], int64_t now,
                int64_t until_s, const char *sub, const char *sid,
                const char *jti, const char *answer, uint64_t gen);

//  Drop every entry of the session, user or jti named; the generation
//  moves on. Returns how many were dropped.
size_t
auth_cache_drop (auth_cache_t *self, auth_cache_kind_t kind, const char *name);

//  Drop everything; with on false the cache keeps nothing until turned on
//  again. The generation moves on.
void
auth_cache_reset (auth_cache_t *self, bool on);

uint64_t
auth_cache_generation (auth_cache_t *self);

size_t
auth_cache_size (auth_cache_t *self);

#endif
