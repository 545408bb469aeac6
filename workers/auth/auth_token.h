/*  auth_token: the checks of a user access token that need neither a key
    nor Redis, kept apart so they can be tested alone: the shape of the
    bytes (size cap, base64url alphabet, three parts), the protected
    header (typ, a sane kid) and the claims ferry-auth requires beyond
    fy_jwt's (sub, sid, jti, iat not in the future, a bounded lifetime, a
    required scope). Every refusal is a short stable reason, logged and
    counted by the caller and never told to the client. */
#ifndef AUTH_TOKEN_H_INCLUDED
#define AUTH_TOKEN_H_INCLUDED

#include <ferry/ferry.h>

//  The longest sub, sid, jti or kid taken (they become Redis keys and
//  log fields).
#define AUTH_TOKEN_MAX_ID 128

//  What auth needs of the claims once checked. Strings are borrowed from
//  the claims object they came from.
typedef struct {
    const char *sub, *sid, *jti, *company, *scope;
    int64_t iat, exp;
} auth_claims_t;

//  The bytes of token (len) before anything decodes them: 1 to max_len
//  bytes of the base64url alphabet and two dots. NULL when fine, else the
//  reason ("oversized", "bad_characters", "malformed").
const char *
auth_token_shape (const char *token, size_t len, size_t max_len);

//  The protected header (fy_jwt_header) against the required typ (NULL
//  or "": not checked; compared without case, "application/" optional as
//  RFC 7515 s4.1.9 allows). *kid_p gets the kid (borrowed from header),
//  NULL when absent. NULL when fine, else "bad_typ" or "bad_kid" (not a
//  string, empty, longer than AUTH_TOKEN_MAX_ID, or a character outside
//  letters, digits and "-_.:").
const char *
auth_token_header (json_t *header, const char *typ, const char **kid_p);

//  The claims (verified by fy_jwt already: signature, exp, nbf, iss, aud)
//  at now (seconds): sub, sid and jti are strings of 1 to
//  AUTH_TOKEN_MAX_ID printable ASCII bytes, iat a number not after now +
//  leeway_s, exp - iat at most max_lifetime_s, companyId and scope
//  strings when present; and every space-separated scope of required
//  (NULL or "": none) is among the token's. Fills *out. NULL when fine,
//  else the reason.
const char *
auth_token_claims (json_t *claims, int64_t now, int64_t leeway_s,
                   int64_t max_lifetime_s, const char *required,
                   auth_claims_t *out);

//  SHA-256 of token and required scope (NUL-separated), for the cache:
//  the token itself is never kept.
void
auth_token_hash (const char *token, size_t len, const char *required,
                 unsigned char hash [32]);

#endif
