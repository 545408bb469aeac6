/*  fy_jwt: JWT validation with OpenSSL EVP, minting with libjwt.

    Why verification does not go through libjwt 1.10's jwt_decode: it takes
    the algorithm from the token's header (with a PEM public key given as
    the key it happily verifies an HS256 token HMACed with those PEM bytes:
    key confusion), it only accepts payloads that are JSON objects (so the
    RFC 7520 and Wycheproof JWS vectors cannot be run through it), and it
    decodes base64url and JSON leniently. Wrapping it would leave it with
    nothing but the signature check, behind a second, lenient parse of the
    same bytes. So this file parses the compact serialization itself,
    strictly, pins the algorithm before any cryptography, and verifies with
    EVP: HMAC compared in constant time, RSASSA-PKCS1-v1_5, and ECDSA whose
    JWS form (raw R||S, 64 bytes) is turned into the DER that EVP verifies.
    Minting (fy_jwt_sign) does use libjwt, after the key passed the same
    checks as a validator's; its ES256 output is raw R||S as JWS requires,
    and the tests verify its tokens here, so the two implementations check
    each other. */
#include "http/fy_jwt.h"
#include "ferry/fy_json.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

//  Keys larger than this are not keys: a bound before handing lengths to
//  OpenSSL's int-sized APIs.
#define S_MAX_KEY_LEN 65536

typedef enum {
    S_HS256,
    S_RS256,
    S_ES256,
    S_ALG_COUNT
} s_alg_t;

static const char *s_alg_names [S_ALG_COUNT] = { "HS256", "RS256", "ES256" };
static const char *s_alg_kty [S_ALG_COUNT] = { "oct", "RSA", "EC" };

struct fy_jwt {
    s_alg_t alg;
    unsigned char *secret;      //  HS256
    size_t secret_len;
    EVP_PKEY *pkey;             //  RS256, ES256: the public key
    int leeway_s;
    char *issuer;
    char *audience;
    bool require_exp;
};

//  The algorithm's id, or -1 with err set: only these three, by their
//  exact (case-sensitive) JWA names.
static int
s_alg_lookup (const char *alg, fy_error_t *err)
{
    for (int id = 0; alg && id < S_ALG_COUNT; id++)
        if (strcmp (alg, s_alg_names [id]) == 0)
            return id;
    fy_error_set (err, "JWT algorithm must be HS256, RS256 or ES256");
    return -1;
}

//  Strict base64url (RFC 7515 s2): the URL-safe alphabet only, no padding,
//  no whitespace, and the unused low bits of the last character zero, so
//  that every byte string has exactly one accepted encoding.
static int
s_b64_value (unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

//  Decode len characters into a new NUL-terminated buffer. Returns 0, or
//  -1 when the text is not canonical base64url.
static int
s_b64url_decode (const char *in, size_t len, unsigned char **out_p,
                 size_t *out_len_p)
{
    *out_p = NULL;
    *out_len_p = 0;
    if (len % 4 == 1)
        return -1;
    unsigned char *out = fy_xmalloc (len / 4 * 3 + 3);
    size_t at = 0;
    unsigned int acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int value = s_b64_value ((unsigned char) in [i]);
        if (value < 0) {
            free (out);
            return -1;
        }
        acc = (acc << 6) | (unsigned int) value;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out [at++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        free (out);
        return -1;
    }
    out [at] = 0;
    *out_p = out;
    *out_len_p = at;
    return 0;
}

//  Parse len bytes as one JSON object, refusing duplicate names (which
//  different parsers resolve differently) and NUL bytes in strings.
static json_t *
s_parse_object (const void *text, size_t len, const char *what, fy_error_t *err)
{
    fy_error_t jerr;
    json_t *value = fy_json_loadb (text, len, &jerr);
    if (!value) {
        fy_error_set (err, "%s is not JSON: %s", what, jerr.text);
        return NULL;
    }
    if (!json_is_object (value)) {
        fy_error_set (err, "%s is not a JSON object", what);
        json_decref (value);
        return NULL;
    }
    return value;
}

//  A secret for HS256. A PEM is refused so a validator can never be built
//  with a public key as its HMAC secret, whatever the configuration says.
static int
s_check_secret (const void *key, size_t key_len, fy_error_t *err)
{
    if (key_len < FY_JWT_MIN_SECRET || key_len > S_MAX_KEY_LEN) {
        fy_error_set (err, "HS256 secret must be %d to %d bytes, not %zu",
                      FY_JWT_MIN_SECRET, S_MAX_KEY_LEN, key_len);
        return -1;
    }
    static const char pem [] = "-----BEGIN";
    if (memmem (key, key_len, pem, sizeof pem - 1)) {
        fy_error_set (err, "HS256 secret looks like a PEM key");
        return -1;
    }
    return 0;
}

//  The key's type and size must fit the algorithm: RSA (not RSA-PSS) of at
//  least 2048 bits (RFC 7518 s3.3), or EC on P-256 only (s3.4).
static int
s_check_pkey (s_alg_t alg, EVP_PKEY *pkey, fy_error_t *err)
{
    if (alg == S_RS256) {
        if (!EVP_PKEY_is_a (pkey, "RSA")) {
            fy_error_set (err, "RS256 needs an RSA key");
            return -1;
        }
        if (EVP_PKEY_get_bits (pkey) < 2048) {
            fy_error_set (err, "RS256 needs an RSA key of 2048 bits or more");
            return -1;
        }
        return 0;
    }
    assert (alg == S_ES256);
    char group [64] = "";
    if (!EVP_PKEY_is_a (pkey, "EC")
        || !EVP_PKEY_get_utf8_string_param (pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                            group, sizeof group, NULL)
        || strcmp (group, "prime256v1") != 0) {
        ERR_clear_error ();
        fy_error_set (err, "ES256 needs an EC key on P-256");
        return -1;
    }
    return 0;
}

//  OpenSSL asks for a passphrase on the terminal by default; ferry keys
//  are never encrypted, so refuse instead of blocking a daemon.
static int
s_no_passphrase (char *buf, int size, int rwflag, void *arg)
{
    (void) buf;
    (void) size;
    (void) rwflag;
    (void) arg;
    return -1;
}

static EVP_PKEY *
s_read_pem (const void *key, size_t key_len, bool private_key, fy_error_t *err)
{
    if (key_len == 0 || key_len > S_MAX_KEY_LEN) {
        fy_error_set (err, "PEM key of %zu bytes", key_len);
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf (key, (int) key_len);
    if (!bio)
        abort ();
    EVP_PKEY *pkey =
        private_key ? PEM_read_bio_PrivateKey (bio, NULL, s_no_passphrase, NULL)
                    : PEM_read_bio_PUBKEY (bio, NULL, s_no_passphrase, NULL);
    BIO_free (bio);
    ERR_clear_error ();
    if (!pkey)
        fy_error_set (err, "not a PEM %s key",
                      private_key ? "private" : "public");
    return pkey;
}

static fy_jwt_t *
s_new (s_alg_t alg)
{
    fy_jwt_t *self = fy_xcalloc (1, sizeof *self);
    self->alg = alg;
    self->require_exp = true;
    return self;
}

//  Takes ownership of *pkey_p when the key fits alg.
static fy_jwt_t *
s_new_pkey (s_alg_t alg, EVP_PKEY **pkey_p, fy_error_t *err)
{
    if (s_check_pkey (alg, *pkey_p, err))
        return NULL;
    fy_jwt_t *self = s_new (alg);
    self->pkey = *pkey_p;
    *pkey_p = NULL;
    return self;
}

fy_jwt_t *
fy_jwt_new (const char *alg, const void *key, size_t key_len, fy_error_t *err)
{
    assert (key || key_len == 0);
    fy_jwt_t *self = NULL;
    int id = s_alg_lookup (alg, err);
    if (id < 0)
        goto out;
    if (id == S_HS256) {
        if (s_check_secret (key, key_len, err))
            goto out;
        self = s_new (S_HS256);
        self->secret = fy_xmalloc (key_len);
        memcpy (self->secret, key, key_len);
        self->secret_len = key_len;
    }
    else {
        EVP_PKEY *pkey = s_read_pem (key, key_len, false, err);
        if (pkey)
            self = s_new_pkey ((s_alg_t) id, &pkey, err);
        EVP_PKEY_free (pkey);
    }
out:
    if (!self)
        errno = EINVAL;
    return self;
}

//  A JWK member holding base64url bytes. Caller owns *bytes_p.
static int
s_jwk_bytes (json_t *jwk, const char *name, unsigned char **bytes_p,
             size_t *len_p, fy_error_t *err)
{
    const char *text = json_string_value (json_object_get (jwk, name));
    if (!text || !*text) {
        fy_error_set (err, "JWK has no \"%s\"", name);
        return -1;
    }
    if (s_b64url_decode (text, strlen (text), bytes_p, len_p)) {
        fy_error_set (err, "JWK \"%s\" is not base64url", name);
        return -1;
    }
    return 0;
}

//  RFC 7517 s4.2-4.4: a key restricted to another algorithm, to
//  encryption, or to operations other than verify must not verify.
static int
s_jwk_check_usage (json_t *jwk, const char *alg, fy_error_t *err)
{
    json_t *value = json_object_get (jwk, "alg");
    if (value
        && !(json_is_string (value)
             && strcmp (json_string_value (value), alg) == 0)) {
        fy_error_set (err, "JWK is not for %s", alg);
        return -1;
    }
    value = json_object_get (jwk, "use");
    if (value
        && !(json_is_string (value)
             && strcmp (json_string_value (value), "sig") == 0)) {
        fy_error_set (err, "JWK \"use\" is not \"sig\"");
        return -1;
    }
    value = json_object_get (jwk, "key_ops");
    if (value) {
        size_t index;
        json_t *op;
        bool verify = false;
        json_array_foreach (value, index,
                            op) if (json_is_string (op)
                                    && strcmp (json_string_value (op), "verify")
                                           == 0) verify = true;
        if (!verify) {
            fy_error_set (err, "JWK \"key_ops\" does not allow verify");
            return -1;
        }
    }
    return 0;
}

static EVP_PKEY *
s_pkey_fromdata (const char *type, OSSL_PARAM *params)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name (NULL, type, NULL);
    if (!ctx || EVP_PKEY_fromdata_init (ctx) <= 0
        || EVP_PKEY_fromdata (ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
    EVP_PKEY_CTX_free (ctx);
    ERR_clear_error ();
    return pkey;
}

static EVP_PKEY *
s_jwk_rsa (json_t *jwk, fy_error_t *err)
{
    EVP_PKEY *pkey = NULL;
    unsigned char *n_bytes = NULL, *e_bytes = NULL;
    size_t n_len, e_len;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    if (s_jwk_bytes (jwk, "n", &n_bytes, &n_len, err)
        || s_jwk_bytes (jwk, "e", &e_bytes, &e_len, err))
        goto out;
    n = BN_bin2bn (n_bytes, (int) n_len, NULL);
    e = BN_bin2bn (e_bytes, (int) e_len, NULL);
    bld = OSSL_PARAM_BLD_new ();
    if (!n || !e || !bld
        || !OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN (bld, OSSL_PKEY_PARAM_RSA_E, e)
        || !(params = OSSL_PARAM_BLD_to_param (bld)))
        abort ();
    pkey = s_pkey_fromdata ("RSA", params);
    if (!pkey)
        fy_error_set (err, "JWK is not a usable RSA key");
out:
    OSSL_PARAM_free (params);
    OSSL_PARAM_BLD_free (bld);
    BN_free (n);
    BN_free (e);
    free (n_bytes);
    free (e_bytes);
    return pkey;
}

static EVP_PKEY *
s_jwk_ec (json_t *jwk, fy_error_t *err)
{
    EVP_PKEY *pkey = NULL;
    unsigned char *x = NULL, *y = NULL;
    size_t x_len, y_len;
    const char *crv = json_string_value (json_object_get (jwk, "crv"));
    if (!crv || strcmp (crv, "P-256") != 0) {
        fy_error_set (err, "JWK crv is not P-256");
        goto out;
    }
    if (s_jwk_bytes (jwk, "x", &x, &x_len, err)
        || s_jwk_bytes (jwk, "y", &y, &y_len, err))
        goto out;
    //  RFC 7518 s6.2.1.2: coordinates are the full field size.
    if (x_len != 32 || y_len != 32) {
        fy_error_set (err, "JWK P-256 coordinates must be 32 bytes");
        goto out;
    }
    unsigned char point [65] = { 0x04 };
    memcpy (point + 1, x, 32);
    memcpy (point + 33, y, 32);
    char group [] = "prime256v1";
    OSSL_PARAM params [] = { OSSL_PARAM_construct_utf8_string (
                                 OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
                             OSSL_PARAM_construct_octet_string (
                                 OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
                             OSSL_PARAM_construct_end () };
    pkey = s_pkey_fromdata ("EC", params);
    //  Decoding the point checks it is on the curve; say so explicitly
    //  rather than rely on it (invalid-curve points are an old attack).
    EVP_PKEY_CTX *ctx =
        pkey ? EVP_PKEY_CTX_new_from_pkey (NULL, pkey, NULL) : NULL;
    if (pkey && (!ctx || EVP_PKEY_public_check (ctx) != 1)) {
        EVP_PKEY_free (pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free (ctx);
    ERR_clear_error ();
    if (!pkey)
        fy_error_set (err, "JWK is not a point on P-256");
out:
    free (x);
    free (y);
    return pkey;
}

fy_jwt_t *
fy_jwt_new_jwk (const char *alg, const char *jwk, size_t jwk_len,
                fy_error_t *err)
{
    assert (jwk || jwk_len == 0);
    fy_jwt_t *self = NULL;
    EVP_PKEY *pkey = NULL;
    unsigned char *secret = NULL;
    size_t secret_len = 0;
    json_t *root = NULL;
    int id = s_alg_lookup (alg, err);
    if (id < 0)
        goto out;
    root = s_parse_object (jwk, jwk_len, "JWK", err);
    if (!root || s_jwk_check_usage (root, alg, err))
        goto out;
    const char *kty = json_string_value (json_object_get (root, "kty"));
    if (!kty || strcmp (kty, s_alg_kty [id]) != 0) {
        fy_error_set (err, "%s needs a JWK of kty \"%s\"", alg, s_alg_kty [id]);
        goto out;
    }
    if (id == S_HS256) {
        if (s_jwk_bytes (root, "k", &secret, &secret_len, err) == 0)
            self = fy_jwt_new (alg, secret, secret_len, err);
    }
    else {
        pkey = id == S_RS256 ? s_jwk_rsa (root, err) : s_jwk_ec (root, err);
        if (pkey)
            self = s_new_pkey ((s_alg_t) id, &pkey, err);
    }
out:
    if (secret) {
        OPENSSL_cleanse (secret, secret_len);
        free (secret);
    }
    EVP_PKEY_free (pkey);
    json_decref (root);
    if (!self)
        errno = EINVAL;
    return self;
}

void
fy_jwt_destroy (fy_jwt_t **self_p)
{
    assert (self_p);
    fy_jwt_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    if (self->secret) {
        OPENSSL_cleanse (self->secret, self->secret_len);
        free (self->secret);
    }
    EVP_PKEY_free (self->pkey);
    free (self->issuer);
    free (self->audience);
    free (self);
    *self_p = NULL;
    errno = saved;
}

const char *
fy_jwt_alg (fy_jwt_t *self)
{
    assert (self);
    return s_alg_names [self->alg];
}

void
fy_jwt_set_leeway (fy_jwt_t *self, int seconds)
{
    assert (self);
    self->leeway_s = seconds < 0                     ? 0
                     : seconds > FY_JWT_MAX_LEEWAY_S ? FY_JWT_MAX_LEEWAY_S
                                                     : seconds;
}

static void
s_set_string (char **field, const char *value)
{
    free (*field);
    *field = value ? fy_xstrdup (value) : NULL;
}

void
fy_jwt_set_issuer (fy_jwt_t *self, const char *iss)
{
    assert (self);
    s_set_string (&self->issuer, iss);
}

void
fy_jwt_set_audience (fy_jwt_t *self, const char *aud)
{
    assert (self);
    s_set_string (&self->audience, aud);
}

void
fy_jwt_set_require_exp (fy_jwt_t *self, bool required)
{
    assert (self);
    self->require_exp = required;
}

static int
s_digest_verify (EVP_PKEY *pkey, const unsigned char *sig, size_t sig_len,
                 const char *input, size_t input_len)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    if (!ctx)
        abort ();
    int rc =
        EVP_DigestVerifyInit (ctx, NULL, EVP_sha256 (), NULL, pkey) == 1
                && EVP_DigestVerify (ctx, sig, sig_len,
                                     (const unsigned char *) input, input_len)
                       == 1
            ? 0
            : -1;
    EVP_MD_CTX_free (ctx);
    //  A bad signature leaves errors queued; they are not ours to report.
    ERR_clear_error ();
    return rc;
}

//  JWS ECDSA signatures are R||S, each 32 bytes big-endian (RFC 7518
//  s3.4); EVP verifies the DER SEQUENCE of two INTEGERs. Converting here
//  also means a DER signature in a token is refused by its length.
static int
s_verify_es256 (EVP_PKEY *pkey, const unsigned char *sig, size_t sig_len,
                const char *input, size_t input_len)
{
    if (sig_len != 64)
        return -1;
    ECDSA_SIG *ecdsa = ECDSA_SIG_new ();
    BIGNUM *r = BN_bin2bn (sig, 32, NULL);
    BIGNUM *s = BN_bin2bn (sig + 32, 32, NULL);
    if (!ecdsa || !r || !s || !ECDSA_SIG_set0 (ecdsa, r, s))
        abort ();
    unsigned char *der = NULL;
    int der_len = i2d_ECDSA_SIG (ecdsa, &der);
    ECDSA_SIG_free (ecdsa);
    if (der_len <= 0)
        abort ();
    int rc = s_digest_verify (pkey, der, (size_t) der_len, input, input_len);
    OPENSSL_free (der);
    return rc;
}

static fy_jwt_status_t
s_verify_signature (fy_jwt_t *self, const char *input, size_t input_len,
                    const unsigned char *sig, size_t sig_len, fy_error_t *err)
{
    int rc = -1;
    if (self->alg == S_HS256) {
        unsigned char mac [EVP_MAX_MD_SIZE];
        unsigned int mac_len = 0;
        if (!HMAC (EVP_sha256 (), self->secret, (int) self->secret_len,
                   (const unsigned char *) input, input_len, mac, &mac_len))
            abort ();
        //  Length is public (32 for HS256); the bytes are compared in
        //  constant time so timing does not leak how much of a forged MAC
        //  was right.
        rc = sig_len == mac_len && CRYPTO_memcmp (mac, sig, mac_len) == 0 ? 0
                                                                          : -1;
        OPENSSL_cleanse (mac, sizeof mac);
    }
    else if (self->alg == S_RS256) {
        //  PKCS #1 v1.5 signatures are exactly the modulus size.
        if (sig_len == (size_t) EVP_PKEY_get_size (self->pkey))
            rc = s_digest_verify (self->pkey, sig, sig_len, input, input_len);
    }
    else
        rc = s_verify_es256 (self->pkey, sig, sig_len, input, input_len);
    if (rc) {
        fy_error_set (err, "%s signature does not verify",
                      s_alg_names [self->alg]);
        return FY_JWT_BAD_SIGNATURE;
    }
    return FY_JWT_OK;
}

//  Check the protected header: only "alg" matters, and it must be exactly
//  the pinned algorithm. Keys the header offers (jwk, jku, x5c, kid) are
//  ignored: the validator has one key. A "crit" header names extensions
//  we would have to understand (RFC 7515 s4.1.11), and "b64" changes what
//  is signed (RFC 7797), so both are refused.
static fy_jwt_status_t
s_check_header (fy_jwt_t *self, json_t *header, fy_error_t *err)
{
    json_t *alg = json_object_get (header, "alg");
    if (!json_is_string (alg)) {
        fy_error_set (err, "header has no \"alg\" string");
        return FY_JWT_MALFORMED;
    }
    const char *name = json_string_value (alg);
    if (strcmp (name, s_alg_names [self->alg]) != 0) {
        //  The value comes from the caller of an API: name it only when
        //  it is short and plain, so err stays safe to log.
        bool plain = strlen (name) <= 16;
        for (const char *c = name; plain && *c; c++)
            plain = s_b64_value ((unsigned char) *c) >= 0;
        if (plain)
            fy_error_set (err, "token alg \"%s\" is not the configured %s",
                          name, s_alg_names [self->alg]);
        else
            fy_error_set (err, "token alg is not the configured %s",
                          s_alg_names [self->alg]);
        return FY_JWT_BAD_ALG;
    }
    if (json_object_get (header, "crit") || json_object_get (header, "b64")) {
        fy_error_set (err, "header has unsupported \"crit\" or \"b64\"");
        return FY_JWT_MALFORMED;
    }
    return FY_JWT_OK;
}

//  The two dots of a compact JWS of len bytes (checked: 1 to
//  FY_JWT_MAX_LEN bytes, exactly three parts). Returns 0, or -1 with err.
static int
s_split (const char *token, size_t len, const char **dot1_p,
         const char **dot2_p, fy_error_t *err)
{
    if (len == 0 || len > FY_JWT_MAX_LEN) {
        fy_error_set (err, "token length %zu is not 1 to %d bytes", len,
                      FY_JWT_MAX_LEN);
        return -1;
    }
    const char *end = token + len;
    const char *dot1 = memchr (token, '.', len);
    const char *dot2 =
        dot1 ? memchr (dot1 + 1, '.', (size_t) (end - dot1 - 1)) : NULL;
    if (!dot2 || memchr (dot2 + 1, '.', (size_t) (end - dot2 - 1))) {
        fy_error_set (err, "token is not three dot-separated parts");
        return -1;
    }
    *dot1_p = dot1;
    *dot2_p = dot2;
    return 0;
}

fy_jwt_status_t
fy_jwt_header (const char *token, size_t len, json_t **header_p,
               fy_error_t *err)
{
    assert (token || len == 0);
    assert (header_p);
    *header_p = NULL;
    const char *dot1, *dot2;
    unsigned char *header = NULL;
    size_t header_len = 0;
    if (s_split (token, len, &dot1, &dot2, err))
        return FY_JWT_MALFORMED;
    if (s_b64url_decode (token, (size_t) (dot1 - token), &header,
                         &header_len)) {
        fy_error_set (err, "token header is not base64url");
        return FY_JWT_MALFORMED;
    }
    *header_p = s_parse_object (header, header_len, "token header", err);
    free (header);
    return *header_p ? FY_JWT_OK : FY_JWT_MALFORMED;
}

fy_jwt_status_t
fy_jwt_verify_jws (fy_jwt_t *self, const char *token, size_t len,
                   char **payload_p, size_t *payload_len_p, fy_error_t *err)
{
    assert (self);
    assert (token || len == 0);
    if (payload_p)
        *payload_p = NULL;
    if (payload_len_p)
        *payload_len_p = 0;
    fy_jwt_status_t status = FY_JWT_MALFORMED;
    unsigned char *header = NULL, *payload = NULL, *sig = NULL;
    size_t header_len, payload_len = 0, sig_len;
    json_t *header_json = NULL;
    const char *end = token + len;
    const char *dot1, *dot2;
    if (s_split (token, len, &dot1, &dot2, err))
        goto out;
    if (s_b64url_decode (token, (size_t) (dot1 - token), &header, &header_len)
        || s_b64url_decode (dot1 + 1, (size_t) (dot2 - dot1 - 1), &payload,
                            &payload_len)
        || s_b64url_decode (dot2 + 1, (size_t) (end - dot2 - 1), &sig,
                            &sig_len)) {
        fy_error_set (err, "token part is not base64url");
        goto out;
    }
    header_json = s_parse_object (header, header_len, "token header", err);
    if (!header_json)
        goto out;
    status = s_check_header (self, header_json, err);
    if (status == FY_JWT_OK)
        status = s_verify_signature (self, token, (size_t) (dot2 - token), sig,
                                     sig_len, err);
    if (status == FY_JWT_OK) {
        if (payload_p) {
            *payload_p = (char *) payload;
            payload = NULL;
        }
        if (payload_len_p)
            *payload_len_p = payload_len;
    }
out:
    json_decref (header_json);
    free (header);
    free (payload);
    free (sig);
    return status;
}

//  A NumericDate (RFC 7519 s2): any JSON number of seconds. Fractions are
//  rounded towards refusal (exp down, nbf up) and the value saturated to
//  int64 so the comparisons below cannot overflow.
static int
s_numeric_date (json_t *value, bool round_up, int64_t *date)
{
    if (json_is_integer (value)) {
        *date = (int64_t) json_integer_value (value);
        return 0;
    }
    if (!json_is_real (value))
        return -1;
    double real = json_real_value (value);
    real = round_up ? ceil (real) : floor (real);
    *date = real >= 9.2e18    ? INT64_MAX
            : real <= -9.2e18 ? INT64_MIN
                              : (int64_t) real;
    return 0;
}

static fy_jwt_status_t
s_check_times (fy_jwt_t *self, json_t *claims, int64_t now, fy_error_t *err)
{
    int64_t leeway = self->leeway_s;
    int64_t earliest = now < INT64_MIN + leeway ? INT64_MIN : now - leeway;
    int64_t latest = now > INT64_MAX - leeway ? INT64_MAX : now + leeway;
    int64_t date;
    json_t *exp = json_object_get (claims, "exp");
    if (!exp) {
        if (self->require_exp) {
            fy_error_set (err, "token has no \"exp\"");
            return FY_JWT_MISSING_CLAIM;
        }
    }
    else if (s_numeric_date (exp, false, &date)) {
        fy_error_set (err, "token \"exp\" is not a number");
        return FY_JWT_MALFORMED;
    }
    else if (date <= earliest) {
        //  RFC 7519 s4.1.4: valid only while now is before exp.
        fy_error_set (err, "token expired at %lld (now %lld, leeway %d s)",
                      (long long) date, (long long) now, self->leeway_s);
        return FY_JWT_EXPIRED;
    }
    json_t *nbf = json_object_get (claims, "nbf");
    if (nbf) {
        if (s_numeric_date (nbf, true, &date)) {
            fy_error_set (err, "token \"nbf\" is not a number");
            return FY_JWT_MALFORMED;
        }
        if (date > latest) {
            fy_error_set (err,
                          "token not valid before %lld (now %lld, "
                          "leeway %d s)",
                          (long long) date, (long long) now, self->leeway_s);
            return FY_JWT_NOT_YET_VALID;
        }
    }
    json_t *iat = json_object_get (claims, "iat");
    if (iat && s_numeric_date (iat, false, &date)) {
        fy_error_set (err, "token \"iat\" is not a number");
        return FY_JWT_MALFORMED;
    }
    return FY_JWT_OK;
}

static bool
s_audience_matches (json_t *aud, const char *want)
{
    if (json_is_string (aud))
        return strcmp (json_string_value (aud), want) == 0;
    size_t index;
    json_t *item;
    json_array_foreach (aud, index,
                        item) if (json_is_string (item)
                                  && strcmp (json_string_value (item), want)
                                         == 0) return true;
    return false;
}

static fy_jwt_status_t
s_check_claims (fy_jwt_t *self, json_t *claims, int64_t now, fy_error_t *err)
{
    fy_jwt_status_t status = s_check_times (self, claims, now, err);
    if (status != FY_JWT_OK)
        return status;
    if (self->issuer) {
        json_t *iss = json_object_get (claims, "iss");
        if (!iss) {
            fy_error_set (err, "token has no \"iss\"");
            return FY_JWT_MISSING_CLAIM;
        }
        if (!json_is_string (iss)
            || strcmp (json_string_value (iss), self->issuer) != 0) {
            fy_error_set (err, "token \"iss\" is not the configured issuer");
            return FY_JWT_BAD_ISSUER;
        }
    }
    if (self->audience) {
        json_t *aud = json_object_get (claims, "aud");
        if (!aud) {
            fy_error_set (err, "token has no \"aud\"");
            return FY_JWT_MISSING_CLAIM;
        }
        if (!s_audience_matches (aud, self->audience)) {
            fy_error_set (err, "token \"aud\" does not name this audience");
            return FY_JWT_BAD_AUDIENCE;
        }
    }
    return FY_JWT_OK;
}

fy_jwt_status_t
fy_jwt_verify (fy_jwt_t *self, const char *token, size_t len, int64_t now,
               json_t **claims_p, fy_error_t *err)
{
    assert (self);
    if (claims_p)
        *claims_p = NULL;
    char *payload = NULL;
    size_t payload_len = 0;
    json_t *claims = NULL;
    fy_jwt_status_t status =
        fy_jwt_verify_jws (self, token, len, &payload, &payload_len, err);
    if (status != FY_JWT_OK)
        goto out;
    claims = s_parse_object (payload, payload_len, "token claims", err);
    if (!claims) {
        status = FY_JWT_MALFORMED;
        goto out;
    }
    status = s_check_claims (self, claims, now, err);
    if (status == FY_JWT_OK && claims_p) {
        *claims_p = claims;
        claims = NULL;
    }
out:
    json_decref (claims);
    free (payload);
    return status;
}

const char *
fy_jwt_status_code (fy_jwt_status_t status)
{
    switch (status) {
        case FY_JWT_OK:
            return "ok";
        case FY_JWT_MALFORMED:
            return "malformed_token";
        case FY_JWT_BAD_ALG:
            return "bad_algorithm";
        case FY_JWT_BAD_SIGNATURE:
            return "bad_signature";
        case FY_JWT_EXPIRED:
            return "token_expired";
        case FY_JWT_NOT_YET_VALID:
            return "token_not_yet_valid";
        case FY_JWT_BAD_ISSUER:
            return "bad_issuer";
        case FY_JWT_BAD_AUDIENCE:
            return "bad_audience";
        case FY_JWT_MISSING_CLAIM:
            return "missing_claim";
    }
    return "invalid_token";
}

char *
fy_jwt_sign (const char *alg, const void *key, size_t key_len, json_t *claims,
             fy_error_t *err)
{
    return fy_jwt_sign_kid (alg, key, key_len, NULL, claims, err);
}

char *
fy_jwt_sign_kid (const char *alg, const void *key, size_t key_len,
                 const char *kid, json_t *claims, fy_error_t *err)
{
    assert (key || key_len == 0);
    char *token = NULL;
    char *json = NULL;
    jwt_t *jwt = NULL;
    EVP_PKEY *pkey = NULL;
    int id = s_alg_lookup (alg, err);
    if (id < 0)
        goto out;
    if (!json_is_object (claims)) {
        fy_error_set (err, "JWT claims must be a JSON object");
        goto out;
    }
    //  The validator's rules, so nothing is minted that ferry would refuse
    //  (libjwt would, for one, sign "ES256" with a P-384 key).
    if (id == S_HS256) {
        if (s_check_secret (key, key_len, err))
            goto out;
    }
    else {
        pkey = s_read_pem (key, key_len, true, err);
        if (!pkey || s_check_pkey ((s_alg_t) id, pkey, err))
            goto out;
    }
    json = json_dumps (claims, JSON_COMPACT);
    if (!json)
        abort ();
    if (jwt_new (&jwt) != 0)
        abort ();
    if (jwt_add_grants_json (jwt, json) != 0
        || (kid && jwt_add_header (jwt, "kid", kid) != 0)
        || jwt_set_alg (jwt, jwt_str_alg (alg), key, (int) key_len) != 0) {
        fy_error_set (err, "libjwt refused the claims or the key");
        goto out;
    }
    char *encoded = jwt_encode_str (jwt);
    if (!encoded) {
        fy_error_set (err, "libjwt could not sign: %s", strerror (errno));
        goto out;
    }
    token = fy_xstrdup (encoded);
    free (encoded);
out:
    ERR_clear_error ();
    jwt_free (jwt);
    free (json);
    EVP_PKEY_free (pkey);
    if (!token)
        errno = EINVAL;
    return token;
}
