/*  auth_cache: ferry-auth's positive validations by token hash: kept until
    their end, dropped by session, user and jti, never kept across a drop
    that raced them, off while revocations cannot be heard, bounded. */
#include "auth_cache.h"
#include "tap.h"

#define NOW 1700000000

static void
s_hash (int n, unsigned char hash [32])
{
    memset (hash, 0, 32);
    memcpy (hash, &n, sizeof n);
}

int
main (void)
{
    plan (NO_PLAN);
    auth_cache_t *cache = auth_cache_new (4);
    unsigned char h1 [32], h2 [32], h3 [32];
    s_hash (1, h1);
    s_hash (2, h2);
    s_hash (3, h3);
    uint64_t gen = auth_cache_generation (cache);
    auth_cache_put (cache, h1, NOW, NOW + 60, "u1", "s1", "j1", "A1", gen);
    auth_cache_put (cache, h2, NOW, NOW + 60, "u1", "s2", "j2", "A2", gen);
    auth_cache_put (cache, h3, NOW, NOW + 60, "u2", "s3", "j3", "A3", gen);
    is_str (auth_cache_get (cache, h1, NOW), "A1", "kept");
    ok (auth_cache_get (cache, h1, NOW + 60) == NULL, "not at its end");
    ok (auth_cache_get (cache, h1, NOW) == NULL, "  and gone after");
    auth_cache_put (cache, h1, NOW, NOW, "u1", "s1", "j1", "A1", gen);
    ok (auth_cache_get (cache, h1, NOW) == NULL,
        "an entry already over: not kept");

    auth_cache_put (cache, h1, NOW, NOW + 60, "u1", "s1", "j1", "A1", gen);
    is_int ((int) auth_cache_drop (cache, AUTH_CACHE_SESSION, "s2"), 1,
            "drop a session: one entry");
    ok (auth_cache_get (cache, h2, NOW) == NULL
            && auth_cache_get (cache, h1, NOW) != NULL,
        "  that one only");
    is_int ((int) auth_cache_drop (cache, AUTH_CACHE_JTI, "j3"), 1,
            "drop a jti");
    auth_cache_put (cache, h2, NOW, NOW + 60, "u1", "s2", "j2", "A2", gen);
    ok (auth_cache_get (cache, h2, NOW) == NULL,
        "a validation that raced a drop is not kept");
    gen = auth_cache_generation (cache);
    auth_cache_put (cache, h2, NOW, NOW + 60, "u1", "s2", "j2", "A2", gen);
    auth_cache_put (cache, h3, NOW, NOW + 60, "u2", "s3", "j3", "A3", gen);
    is_int ((int) auth_cache_drop (cache, AUTH_CACHE_USER, "u1"), 2,
            "drop a user: both of its entries");
    ok (auth_cache_get (cache, h3, NOW) != NULL, "  the other user's kept");
    is_int ((int) auth_cache_drop (cache, AUTH_CACHE_USER, "nobody"), 0,
            "drop what is not there: nothing");

    gen = auth_cache_generation (cache);
    for (int i = 10; i < 20; i++) {
        unsigned char h [32];
        s_hash (i, h);
        auth_cache_put (cache, h, NOW, NOW + 60, "u", "s", "j", "A", gen);
    }
    ok (auth_cache_size (cache) <= 4, "bounded: %zu entries of 4",
        auth_cache_size (cache));

    auth_cache_reset (cache, false);
    gen = auth_cache_generation (cache);
    auth_cache_put (cache, h1, NOW, NOW + 60, "u1", "s1", "j1", "A1", gen);
    ok (auth_cache_size (cache) == 0 && !auth_cache_get (cache, h1, NOW),
        "off: keeps nothing");
    auth_cache_reset (cache, true);
    gen = auth_cache_generation (cache);
    auth_cache_put (cache, h1, NOW, NOW + 60, "u1", "s1", "j1", "A1", gen);
    is_str (auth_cache_get (cache, h1, NOW), "A1", "on again: keeps");
    auth_cache_destroy (&cache);
    ok (cache == NULL, "destroy");

    cache = auth_cache_new (0);
    auth_cache_reset (cache, true);
    auth_cache_put (cache, h1, NOW, NOW + 60, "u1", "s1", "j1", "A1",
                    auth_cache_generation (cache));
    ok (auth_cache_get (cache, h1, NOW) == NULL, "cache_max 0: no cache");
    auth_cache_destroy (&cache);
    done_testing ();
}
