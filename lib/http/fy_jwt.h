/*  fy_jwt: the validator for the service JWTs that authenticate API calls
    (Authorization: Bearer), and the minting of such tokens for ferryctl,
    the auth worker and tests. A validator is pinned to one algorithm
    (HS256, RS256 or ES256) and one key: the token's header never chooses
    the algorithm or the key, so "alg":"none", key confusion and downgrades
    are rejected before any cryptography runs. Only the JWS compact
    serialization is accepted, parsed strictly (base64url without padding,
    JSON without duplicate names, at most FY_JWT_MAX_LEN bytes). */
#ifndef FY_JWT_H_INCLUDED
#define FY_JWT_H_INCLUDED

#include <jansson.h>

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Longest token fy_jwt_verify looks at; longer ones are malformed.
#define FY_JWT_MAX_LEN 8192
//  Shortest HS256 secret accepted (RFC 7518 s3.2: at least the hash size).
#define FY_JWT_MIN_SECRET 32
//  Largest leeway fy_jwt_set_leeway keeps, one day.
#define FY_JWT_MAX_LEEWAY_S 86400

//  Why a token was refused. The HTTP layer answers 401 for all of them,
//  with fy_jwt_status_code as the JSON error code.
typedef enum {
    FY_JWT_OK,
    FY_JWT_MALFORMED,           //  not a well-formed compact JWS / JWT
    FY_JWT_BAD_ALG,             //  header alg is not the configured one
    FY_JWT_BAD_SIGNATURE,       //  signature does not verify with our key
    FY_JWT_EXPIRED,             //  now >= exp + leeway
    FY_JWT_NOT_YET_VALID,       //  now + leeway < nbf
    FY_JWT_BAD_ISSUER,          //  iss is not the configured issuer
    FY_JWT_BAD_AUDIENCE,        //  aud does not name the configured audience
    FY_JWT_MISSING_CLAIM  //  a required claim (exp, iss, aud) is absent
} fy_jwt_status_t;

typedef struct fy_jwt fy_jwt_t;

//  Create a validator pinned to alg, "HS256", "RS256" or "ES256". For HS256
//  key is the shared secret (key_len bytes, at least FY_JWT_MIN_SECRET; a
//  PEM is refused, so a public key cannot become an HMAC secret); for RS256
//  and ES256 it is a PEM public key (SubjectPublicKeyInfo), RSA of at least
//  2048 bits or EC P-256. The key is copied. Defaults: leeway 0, exp
//  required, iss and aud not checked. Returns NULL with err set and errno
//  EINVAL on a bad algorithm or key.
fy_jwt_t *
fy_jwt_new (const char *alg, const void *key, size_t key_len, fy_error_t *err);

//  Create a validator pinned to alg from a JSON Web Key (RFC 7517) of
//  jwk_len bytes: kty "oct" (k), "RSA" (n, e) or "EC" (crv "P-256", x, y);
//  private members are ignored. The key must agree with alg and, when it
//  has them, its "alg" must be alg, "use" must be "sig" and "key_ops" must
//  hold "verify". Returns NULL with err set and errno EINVAL otherwise.
fy_jwt_t *
fy_jwt_new_jwk (const char *alg, const char *jwk, size_t jwk_len,
                fy_error_t *err);

//  Destroy the validator, wiping its secret, and set *self_p to NULL.
//  Safe on NULL.
void
fy_jwt_destroy (fy_jwt_t **self_p);

//  The algorithm the validator is pinned to. Borrowed.
const char *
fy_jwt_alg (fy_jwt_t *self);

//  Clock skew tolerated on exp and nbf, in seconds; clamped to
//  [0, FY_JWT_MAX_LEEWAY_S].
void
fy_jwt_set_leeway (fy_jwt_t *self, int seconds);

//  Require iss to equal iss; NULL (the default) does not check it.
void
fy_jwt_set_issuer (fy_jwt_t *self, const char *iss);

//  Require aud (a string, or an array of strings) to name aud; NULL (the
//  default) does not check it.
void
fy_jwt_set_audience (fy_jwt_t *self, const char *aud);

//  Whether a token without exp is refused (true, the default).
void
fy_jwt_set_require_exp (fy_jwt_t *self, bool required);

//  Verify the JWS layer of token (len bytes, need not be NUL-terminated):
//  structure, header, pinned algorithm and signature; the payload is not
//  interpreted. On success *payload_p (if non-NULL) receives the decoded
//  payload, NUL-terminated, and *payload_len_p its length. Caller owns
//  *payload_p. Never puts the token in err.
fy_jwt_status_t
fy_jwt_verify_jws (fy_jwt_t *self, const char *token, size_t len,
                   char **payload_p, size_t *payload_len_p,
                   fy_error_t *err) FY_MUSTCHECK;

//  Verify token as a JWT at time now (seconds since the epoch): the JWS
//  layer, then the claims (a JSON object): exp, nbf, iss, aud as
//  configured. On success *claims_p (if non-NULL) receives the claims;
//  caller owns it (json_decref). On failure *claims_p is NULL and err says
//  why, without the token.
fy_jwt_status_t
fy_jwt_verify (fy_jwt_t *self, const char *token, size_t len, int64_t now,
               json_t **claims_p, fy_error_t *err) FY_MUSTCHECK;

//  The protected header of token (len bytes) as a JSON object, decoded
//  with the same strict rules as fy_jwt_verify_jws (size, three parts,
//  base64url, no duplicate names) but NOT verified: for choosing a key by
//  its "kid" and checking "typ" before verifying with that key. Returns
//  FY_JWT_OK and *header_p (caller owns), or FY_JWT_MALFORMED with err.
fy_jwt_status_t
fy_jwt_header (const char *token, size_t len, json_t **header_p,
               fy_error_t *err) FY_MUSTCHECK;

//  Short stable code for status, for the JSON error body: "ok",
//  "malformed_token", "bad_algorithm", "bad_signature", "token_expired",
//  "token_not_yet_valid", "bad_issuer", "bad_audience", "missing_claim".
const char *
fy_jwt_status_code (fy_jwt_status_t status);

//  Mint a compact JWT of claims (a JSON object) signed with alg: for HS256
//  key is the secret (as for fy_jwt_new), for RS256 and ES256 a PEM private
//  key of the kind fy_jwt_new accepts. Returns the token, caller owns it,
//  or NULL with err set and errno EINVAL.
char *
fy_jwt_sign (const char *alg, const void *key, size_t key_len, json_t *claims,
             fy_error_t *err) FY_MUSTCHECK;

//  The same with a "kid" header naming the key (NULL: none). The "typ"
//  header is always "JWT" (libjwt 1.10 writes it over any other).
char *
fy_jwt_sign_kid (const char *alg, const void *key, size_t key_len,
                 const char *kid, json_t *claims, fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
