/*  auth_token: the shape, header and claims checks of ferry-auth's user
    tokens, alone: every refusal and its reason. */
#include "auth_token.h"
#include "tap.h"

#define NOW 1700000000

static json_t *
s_json (const char *text)
{
    json_t *value = json_loads (text, 0, NULL);
    if (!value)
        BAIL_OUT ("bad JSON in the test: %s", text);
    return value;
}

static void
s_test_shape (void)
{
    static const struct {
        const char *token, *reason;
    } cases [] = {
        { "aaa.bbb.ccc", NULL },
        { "eyJ-_.e30.sig_-09AZaz", NULL },
        { "", "malformed" },
        { "aaa.bbb", "malformed" },
        { "aaa.bbb.ccc.ddd", "malformed" },
        { "aaa.bbb.cc=", "bad_characters" },
        { "aaa.b+b.ccc", "bad_characters" },
        { "aaa.b/b.ccc", "bad_characters" },
        { "aaa.bbb.c c", "bad_characters" },
        { "aaa.bbb.c\nc", "bad_characters" },
        { "aaa.bbb.c\xc3\xa9", "bad_characters" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const char *got =
            auth_token_shape (cases [i].token, strlen (cases [i].token), 64);
        if (cases [i].reason)
            is_str (got, cases [i].reason, "shape '%s': %s", cases [i].token,
                    cases [i].reason);
        else
            ok (got == NULL, "shape '%s': fine", cases [i].token);
    }
    ok (auth_token_shape ("a.b.c\0d", 7, 64) != NULL, "a NUL byte refused");
    char big [80];
    memset (big, 'a', sizeof big);
    big [10] = big [20] = '.';
    is_str (auth_token_shape (big, sizeof big, 64), "oversized",
            "80 bytes over a cap of 64: oversized");
    ok (auth_token_shape (big, 64, 64) == NULL, "64 bytes: fine");
}

static void
s_test_header (void)
{
    static const struct {
        const char *header, *typ, *reason, *kid;
    } cases [] = {
        { "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "JWT", NULL, NULL },
        { "{\"typ\":\"jwt\"}", "JWT", NULL, NULL },
        { "{\"typ\":\"application/JWT\"}", "JWT", NULL, NULL },
        { "{\"typ\":\"at+jwt\"}", "application/at+jwt", NULL, NULL },
        { "{\"typ\":\"JOSE\"}", "JWT", "bad_typ", NULL },
        { "{\"typ\":\"at+jwt\"}", "JWT", "bad_typ", NULL },
        { "{}", "JWT", "bad_typ", NULL },
        { "{\"typ\":1}", "JWT", "bad_typ", NULL },
        { "{}", "", NULL, NULL },
        { "{\"typ\":\"JOSE\"}", NULL, NULL, NULL },
        { "{\"typ\":\"JWT\",\"kid\":\"key-2026.01:a_b\"}", "JWT", NULL,
          "key-2026.01:a_b" },
        { "{\"typ\":\"JWT\",\"kid\":\"../../etc/passwd\"}", "JWT", "bad_kid",
          NULL },
        { "{\"typ\":\"JWT\",\"kid\":\"x' OR 1=1 --\"}", "JWT", "bad_kid",
          NULL },
        { "{\"typ\":\"JWT\",\"kid\":\"\"}", "JWT", "bad_kid", NULL },
        { "{\"typ\":\"JWT\",\"kid\":7}", "JWT", "bad_kid", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *header = s_json (cases [i].header);
        const char *kid = "unset";
        const char *got = auth_token_header (header, cases [i].typ, &kid);
        if (cases [i].reason)
            is_str (got, cases [i].reason, "header %s, typ %s: %s",
                    cases [i].header, cases [i].typ ? cases [i].typ : "(none)",
                    cases [i].reason);
        else
            ok (got == NULL, "header %s, typ %s: fine", cases [i].header,
                cases [i].typ ? cases [i].typ : "(none)");
        if (!got)
            is_str (kid, cases [i].kid, "  kid");
        json_decref (header);
    }
    char *huge = fy_xmalloc (AUTH_TOKEN_MAX_ID + 40);
    int n = snprintf (huge, AUTH_TOKEN_MAX_ID + 40, "{\"kid\":\"");
    memset (huge + n, 'k', AUTH_TOKEN_MAX_ID + 1);
    memcpy (huge + n + AUTH_TOKEN_MAX_ID + 1, "\"}", 3);
    json_t *header = s_json (huge);
    const char *kid = NULL;
    is_str (auth_token_header (header, NULL, &kid), "bad_kid",
            "a kid of %d bytes: bad_kid", AUTH_TOKEN_MAX_ID + 1);
    json_decref (header);
    free (huge);
}

static const char *
s_claims (const char *text, const char *required, auth_claims_t *out)
{
    json_t *claims = s_json (text);
    const char *reason =
        auth_token_claims (claims, NOW, 30, 86400, required, out);
    json_decref (claims);
    return reason;
}

static void
s_test_claims (void)
{
    auth_claims_t c;
    const char *good = "{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\","
                       "\"iat\":1700000000,\"exp\":1700000900,"
                       "\"companyId\":\"c\",\"scope\":\"a b:c d\"}";
    json_t *claims = s_json (good);
    ok (auth_token_claims (claims, NOW, 30, 86400, NULL, &c) == NULL,
        "good claims");
    is_str (c.sub, "u", "  sub");
    is_str (c.sid, "s", "  sid");
    is_str (c.jti, "j", "  jti");
    is_str (c.company, "c", "  companyId");
    is_str (c.scope, "a b:c d", "  scope");
    ok (c.iat == 1700000000 && c.exp == 1700000900, "  iat and exp");
    static const struct {
        const char *required;
        bool held;
    } scopes [] = {
        { "a", true },        { "b:c", true },   { "d a", true },
        { "  a   d ", true }, { "", true },      { "b", false },
        { "a e", false },     { "b:c:", false }, { "A", false },
    };
    for (size_t i = 0; i < sizeof scopes / sizeof scopes [0]; i++) {
        const char *got =
            auth_token_claims (claims, NOW, 30, 86400, scopes [i].required, &c);
        if (scopes [i].held)
            ok (got == NULL, "scope '%s' held", scopes [i].required);
        else
            is_str (got, "insufficient_scope", "scope '%s' not held",
                    scopes [i].required);
    }
    json_decref (claims);

    static const struct {
        const char *claims, *reason;
    } bad [] = {
        { "{\"sid\":\"s\",\"jti\":\"j\",\"iat\":1700000000,\"exp\":"
          "1700000900}",
          "bad_sub" },
        { "{\"sub\":7,\"sid\":\"s\",\"jti\":\"j\",\"iat\":1700000000,"
          "\"exp\":1700000900}",
          "bad_sub" },
        { "{\"sub\":\"u u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":1700000000,"
          "\"exp\":1700000900}",
          "bad_sub" },
        { "{\"sub\":\"u\",\"jti\":\"j\",\"iat\":1700000000,\"exp\":"
          "1700000900}",
          "bad_sid" },
        { "{\"sub\":\"u\",\"sid\":\"s\",\"iat\":1700000000,\"exp\":"
          "1700000900}",
          "bad_jti" },
        { "{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"exp\":1700000900}",
          "bad_iat" },
        { "{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":\"1700000000\","
          "\"exp\":1700000900}",
          "bad_iat" },
        { "{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":1700000031,"
          "\"exp\":1700000900}",
          "issued_in_future" },
        { "{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":1700000000,"
          "\"exp\":1700086401}",
          "lifetime_too_long" },
        { "{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":1700000000,"
          "\"exp\":1700000900,\"companyId\":[]}",
          "bad_company" },
        { "{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":1700000000,"
          "\"exp\":1700000900,\"scope\":[\"a\"]}",
          "bad_scope" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        is_str (s_claims (bad [i].claims, NULL, &c), bad [i].reason, "%s: %s",
                bad [i].claims, bad [i].reason);
    is_str (s_claims ("{\"sub\":\"a\\nb\",\"sid\":\"s\",\"jti\":\"j\","
                      "\"iat\":1700000000,\"exp\":1700000900}",
                      NULL, &c),
            "bad_sub", "a sub with a newline: bad_sub");
    ok (c.sub == NULL, "  and not handed on (it would go to the log)");
    ok (s_claims ("{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":"
                  "1700000030,\"exp\":1700000900}",
                  NULL, &c)
            == NULL,
        "iat within the leeway: fine");
    ok (s_claims ("{\"sub\":\"u\",\"sid\":\"s\",\"jti\":\"j\",\"iat\":"
                  "1700000000.5,\"exp\":1700086400.9}",
                  NULL, &c)
            == NULL,
        "fractional dates taken towards refusal: iat up, exp down");
}

static void
s_test_hash (void)
{
    unsigned char a [32], b [32], c [32], d [32];
    auth_token_hash ("t.o.k", 5, NULL, a);
    auth_token_hash ("t.o.k", 5, "", b);
    auth_token_hash ("t.o.k", 5, "read", c);
    auth_token_hash ("t.o.kread", 9, NULL, d);
    ok (memcmp (a, b, 32) == 0, "no scope and an empty scope: the same key");
    ok (memcmp (a, c, 32) != 0, "a scope: another key");
    ok (memcmp (c, d, 32) != 0, "token and scope cannot be shifted");
}

int
main (void)
{
    plan (NO_PLAN);
    s_test_shape ();
    s_test_header ();
    s_test_claims ();
    s_test_hash ();
    done_testing ();
}
