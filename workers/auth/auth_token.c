/*  auth_token: shape, header and claims of a user token (auth_token.h). */
#include "auth_token.h"

#include <assert.h>
#include <math.h>
#include <openssl/evp.h>
#include <string.h>
#include <strings.h>

static bool
s_is_b64url (unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
           || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

const char *
auth_token_shape (const char *token, size_t len, size_t max_len)
{
    if (len == 0)
        return "malformed";
    if (len > max_len)
        return "oversized";
    size_t dots = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) token [i];
        if (c == '.')
            dots++;
        else if (!s_is_b64url (c))
            return "bad_characters";
    }
    return dots == 2 ? NULL : "malformed";
}

//  An identifier fit for a Redis key and a log line.
static bool
s_is_id (const char *text, bool kid)
{
    size_t len = text ? strlen (text) : 0;
    if (len == 0 || len > AUTH_TOKEN_MAX_ID)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if (kid ? !(s_is_b64url (c) || c == '.' || c == ':')
                : (c <= ' ' || c >= 0x7f))
            return false;
    }
    return true;
}

const char *
auth_token_header (json_t *header, const char *typ, const char **kid_p)
{
    assert (kid_p);
    *kid_p = NULL;
    if (typ && *typ) {
        const char *have = json_string_value (json_object_get (header, "typ"));
        if (have && strncasecmp (have, "application/", 12) == 0)
            have += 12;
        if (strncasecmp (typ, "application/", 12) == 0)
            typ += 12;
        if (!have || strcasecmp (have, typ) != 0)
            return "bad_typ";
    }
    json_t *kid = json_object_get (header, "kid");
    if (kid) {
        if (!json_is_string (kid) || !s_is_id (json_string_value (kid), true))
            return "bad_kid";
        *kid_p = json_string_value (kid);
    }
    return NULL;
}

//  A NumericDate as whole seconds, towards refusal (iat up, exp down).
static bool
s_date (json_t *value, bool up, int64_t *date)
{
    if (json_is_integer (value)) {
        *date = (int64_t) json_integer_value (value);
        return true;
    }
    if (!json_is_real (value))
        return false;
    double real =
        up ? ceil (json_real_value (value)) : floor (json_real_value (value));
    if (!(real > -9e15 && real < 9e15))
        return false;
    *date = (int64_t) real;
    return true;
}

//  Whether every space-separated word of required is a word of have.
static bool
s_has_scopes (const char *have, const char *required)
{
    const char *word = required;
    while (*word) {
        while (*word == ' ')
            word++;
        size_t len = strcspn (word, " ");
        if (len == 0)
            break;
        bool found = false;
        for (const char *at = have; at && *at && !found;) {
            while (*at == ' ')
                at++;
            size_t n = strcspn (at, " ");
            found = n == len && memcmp (at, word, len) == 0;
            at += n;
        }
        if (!found)
            return false;
        word += len;
    }
    return true;
}

const char *
auth_token_claims (json_t *claims, int64_t now, int64_t leeway_s,
                   int64_t max_lifetime_s, const char *required,
                   auth_claims_t *out)
{
    assert (out);
    memset (out, 0, sizeof *out);
    out->sub = json_string_value (json_object_get (claims, "sub"));
    out->sid = json_string_value (json_object_get (claims, "sid"));
    out->jti = json_string_value (json_object_get (claims, "jti"));
    if (!s_is_id (out->sub, false)) {
        out->sub = NULL;        //  not fit for a log line
        return "bad_sub";
    }
    if (!s_is_id (out->sid, false))
        return "bad_sid";
    if (!s_is_id (out->jti, false))
        return "bad_jti";
    if (!s_date (json_object_get (claims, "iat"), true, &out->iat))
        return "bad_iat";
    if (out->iat > now + leeway_s)
        return "issued_in_future";
    //  fy_jwt required exp and checked it is not past.
    if (!s_date (json_object_get (claims, "exp"), false, &out->exp))
        return "bad_exp";
    if (out->exp - out->iat > max_lifetime_s)
        return "lifetime_too_long";
    json_t *company = json_object_get (claims, "companyId");
    if (company && !json_is_string (company))
        return "bad_company";
    out->company = json_string_value (company);
    json_t *scope = json_object_get (claims, "scope");
    if (scope && !json_is_string (scope))
        return "bad_scope";
    out->scope = json_string_value (scope);
    if (required && *required && !s_has_scopes (out->scope, required))
        return "insufficient_scope";
    return NULL;
}

void
auth_token_hash (const char *token, size_t len, const char *required,
                 unsigned char hash [32])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL);
    EVP_DigestUpdate (ctx, token, len);
    EVP_DigestUpdate (ctx, "", 1);
    if (required)
        EVP_DigestUpdate (ctx, required, strlen (required));
    unsigned int size = 0;
    EVP_DigestFinal_ex (ctx, hash, &size);
    EVP_MD_CTX_free (ctx);
}
