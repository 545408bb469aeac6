/*  auth_keys: ferry-auth's key set. A JWKS of the RFC 7515 appendix A keys
    (the JOSE vectors of the conformance data, tap_testdata) given kids:
    each token verifies with the key its kid names, each key stays bound
    to its own algorithm whatever the token's header says, ES512 and none
    are refused by all; RFC 7517's set (an encryption key left out); a
    set of several keys without kids; the reload policy for unknown kids
    (rate limit and negative cache). The cases that need no data run
    first. */
#include "auth_keys.h"
#include "tap.h"

#define VECTORS "jose/latchset-jose/tests/vectors/"
#define VECTOR_TIME 1300819379

static const char s_secret [] = "0123456789abcdef0123456789abcdef-auth";

static auth_keys_t *
s_keys (const char *alg)
{
    auth_keys_options_t options = { .alg = alg,
                                    .leeway_s = 0,
                                    .refresh_min_ms = 1000 };
    fy_error_t err = { "" };
    auth_keys_t *keys = auth_keys_new (&options, &err);
    if (!keys)
        BAIL_OUT ("auth_keys_new: %s", err.text);
    return keys;
}

static void
s_test_single (void)
{
    fy_error_t err = { "" };
    auth_keys_options_t options = { .alg = "none" };
    ok (auth_keys_new (&options, &err) == NULL, "alg none refused: %s",
        err.text);
    auth_keys_t *keys = s_keys ("HS256");
    ok (auth_keys_size (keys) == 0 && !auth_keys_find (keys, NULL),
        "empty: no key");
    ok (auth_keys_set_key (keys, "short", 5, &err) == -1,
        "a short secret refused: %s", err.text);
    ok (auth_keys_set_key (keys, s_secret, strlen (s_secret), &err) == 0,
        "a secret %s", err.text);
    ok (auth_keys_find (keys, NULL) && auth_keys_find (keys, "any-kid"),
        "one key takes every token, with or without a kid");
    is_str (fy_jwt_alg (auth_keys_find (keys, NULL)), "HS256", "  HS256");
    auth_keys_destroy (&keys);
    ok (keys == NULL, "destroy");
}

static void
s_test_several_without_kid (void)
{
    auth_keys_t *keys = s_keys ("HS256");
    fy_error_t err = { "" };
    const char *set = "{\"keys\":[{\"kty\":\"oct\",\"k\":"
                      "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"
                      "{\"kty\":\"oct\",\"kid\":\"k2\",\"k\":"
                      "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"}]}";
    size_t skipped = 0;
    is_int (auth_keys_load_jwks (keys, set, strlen (set), &skipped, &err), 1,
            "two keys, one without a kid: one loaded %s", err.text);
    is_int ((int) skipped, 1, "  the kid-less one left out");
    ok (auth_keys_find (keys, "k2") != NULL, "  k2 found");
    ok (auth_keys_find (keys, NULL) != NULL,
        "  a token without a kid: the one key");
    ok (auth_keys_find (keys, "k3") == NULL, "  another kid: none");
    const char *bad [] = {
        "", "[]", "{\"keys\":{}}", "{\"keys\":[]}",
        "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"x\",\"k\":\"c2hvcnQ\"}]}"
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        ok (auth_keys_load_jwks (keys, bad [i], strlen (bad [i]), NULL, &err)
                    == -1
                && auth_keys_find (keys, "k2"),
            "'%s' refused, the old set kept: %s", bad [i], err.text);
    auth_keys_destroy (&keys);
}

static void
s_test_refresh (void)
{
    auth_keys_t *keys = s_keys ("HS256");
    ok (auth_keys_should_refresh (keys, "new", 5000),
        "never loaded: an unknown kid loads");
    auth_keys_refreshed (keys, 5000);
    ok (!auth_keys_should_refresh (keys, "other", 5500),
        "within the interval: no load for any kid");
    ok (auth_keys_should_refresh (keys, "other", 6000),
        "after the interval: a load");
    ok (!auth_keys_should_refresh (keys, "new", 6000),
        "  but not for a kid the last load did not bring");
    auth_keys_refreshed (keys, 6000);
    ok (!auth_keys_should_refresh (keys, "other", 6999)
            && !auth_keys_should_refresh (keys, "third", 6999),
        "a flood of kids: no load within the interval");
    ok (!auth_keys_should_refresh (keys, "new", 14999),
        "the kid still unknown: no load for ten intervals");
    ok (auth_keys_should_refresh (keys, "new", 15000),
        "  then it may ask again");
    auth_keys_destroy (&keys);
}

static char *
s_vector (const char *name)
{
    char path [128];
    snprintf (path, sizeof path, VECTORS "%s", name);
    return tap_slurp (tap_testdata (path), NULL);
}

//  The RFC 7515 A.1-A.3 keys in one set, with kids and algs.
static void
s_test_vectors (void)
{
    static const char *algs [] = { "HS256", "RS256", "ES256" };
    static const char *kids [] = { "a1", "a2", "a3" };
    json_t *set = json_pack ("{s:[]}", "keys");
    for (int i = 0; i < 3; i++) {
        char name [32];
        snprintf (name, sizeof name, "rfc7515_A.%d.jwk", i + 1);
        char *text = s_vector (name);
        json_t *jwk = json_loads (text, 0, NULL);
        free (text);
        json_object_set_new (jwk, "kid", json_string (kids [i]));
        json_object_set_new (jwk, "alg", json_string (algs [i]));
        json_array_append_new (json_object_get (set, "keys"), jwk);
    }
    char *text = json_dumps (set, 0);
    json_decref (set);
    auth_keys_t *keys = s_keys ("RS256");
    fy_error_t err = { "" };
    is_int (auth_keys_load_jwks (keys, text, strlen (text), NULL, &err), 3,
            "RFC 7515 A.1-A.3 keys as one set %s", err.text);
    free (text);
    for (int i = 0; i < 3; i++) {
        char name [32];
        snprintf (name, sizeof name, "rfc7515_A.%d.jwsc", i + 1);
        char *token = s_vector (name);
        fy_jwt_t *jwt = auth_keys_find (keys, kids [i]);
        is_str (jwt ? fy_jwt_alg (jwt) : "", algs [i], "kid %s: its %s key",
                kids [i], algs [i]);
        is_int (
            fy_jwt_verify (jwt, token, strlen (token), VECTOR_TIME, NULL, &err),
            FY_JWT_OK, "A.%d verifies with the key of its kid %s", i + 1,
            err.text);
        for (int j = 0; j < 3; j++)
            if (j != i)
                is_int (fy_jwt_verify (auth_keys_find (keys, kids [j]), token,
                                       strlen (token), VECTOR_TIME, NULL, NULL),
                        FY_JWT_BAD_ALG,
                        "A.%d under kid %s: refused, the key "
                        "is bound to %s",
                        i + 1, kids [j], algs [j]);
        free (token);
    }
    for (int a = 4; a <= 5; a++) {
        char name [32];
        snprintf (name, sizeof name, "rfc7515_A.%d.jwsc", a);
        char *token = s_vector (name);
        for (int j = 0; j < 3; j++)
            is_int (fy_jwt_verify (auth_keys_find (keys, kids [j]), token,
                                   strlen (token), VECTOR_TIME, NULL, NULL),
                    FY_JWT_BAD_ALG, "A.%d (%s) refused by %s", a,
                    a == 4 ? "ES512" : "none", kids [j]);
        free (token);
    }
    auth_keys_destroy (&keys);

    keys = s_keys ("RS256");
    text = s_vector ("rfc7517_A.1.jwkset");
    size_t skipped = 0;
    is_int (auth_keys_load_jwks (keys, text, strlen (text), &skipped, &err), 1,
            "RFC 7517 A.1: one signing key %s", err.text);
    is_int ((int) skipped, 1, "  the encryption key left out");
    ok (auth_keys_find (keys, "2011-04-29") != NULL, "  found by its kid");
    free (text);
    auth_keys_destroy (&keys);
}

int
main (void)
{
    plan (NO_PLAN);
    s_test_single ();
    s_test_several_without_kid ();
    s_test_refresh ();
    s_test_vectors ();
    done_testing ();
}
