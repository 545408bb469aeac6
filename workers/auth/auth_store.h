/*  auth_store: ferry-auth's data in Redis and the Lua scripts that read
    and change it, each one round trip, atomic, loaded once (EVALSHA).
    Keys, under the prefix P (auth.key_prefix):

        P s:<sid>        hash: user company ip ua method mfa created
                         last_seen expires (ms), revoked (ms) once revoked;
                         expires with the session
        P us:<user>      zset of the user's live sessions by expiry (ms),
                         pruned as it is read
        P rb:<user>      revoked_before (s): tokens issued before are dead
        P jti:<jti>      a denied token, until its own exp
        P ev:<event id>  SHA-256 of an applied event: its redelivery
                         changes nothing, a different body is a conflict
        P revoked        the pub/sub channel of revocations: "s:<sid>",
                         "u:<user>", "j:<jti>"

    An event's id is recorded by the same script as its effect, so an
    event is applied once or not at all. The scripts of a revoke-all
    touch session keys they build from the index, which a Redis Cluster
    would refuse: ferry-auth needs one Redis (or a primary). */
#ifndef AUTH_STORE_H_INCLUDED
#define AUTH_STORE_H_INCLUDED

#include <ferry/ferry.h>
#include "store/fy_redis.h"

typedef struct auth_store auth_store_t;

//  A change to apply: an event's, or an API call's (event_id NULL).
typedef enum {
    AUTH_OP_LOGIN,
    AUTH_OP_REVOKE_SESSION,
    AUTH_OP_REVOKE_USER,
    AUTH_OP_DENY_JTI
} auth_op_kind_t;

typedef struct {
    auth_op_kind_t kind;
    const char *event_id;       //  NULL: not an event, nothing recorded
    const char *digest;         //  the event's SHA-256, hex
    const char *user;           //  NULL for REVOKE_SESSION: the session's
    const char *sid;            //  LOGIN, REVOKE_SESSION
    const char *company, *ip, *ua, *method;
    bool mfa;
    int64_t created_ms, expires_ms;     //  LOGIN
    int64_t revoked_before_s;   //  REVOKE_USER; 0: sessions only
    const char *except_sid;     //  REVOKE_USER; NULL: none kept
    const char *jti;            //  DENY_JTI
    int64_t jti_ttl_ms;         //  DENY_JTI; <= 0: expired, nothing kept
} auth_op_t;

//  The store on redis (borrowed), keys under prefix (copied).
//  revoke_ttl_s is how long a revoked_before is kept, tombstone_ms how
//  long the mark of a session revoked before it was known, event_ttl_s
//  how long an event id is.
auth_store_t *
auth_store_new (fy_redis_t *redis, const char *prefix, int64_t revoke_ttl_s,
                int64_t tombstone_ms, int64_t event_ttl_s);

void
auth_store_destroy (auth_store_t **self_p);

//  The revocation channel's name. Borrowed.
const char *
auth_store_channel (auth_store_t *self);

//  One validation's Redis checks: the jti not denied, iat not before the
//  user's revoked_before, the session sid of sub live, not revoked, not
//  expired at now_ms (its last_seen set to now_ms). fn gets an ARRAY of
//  strings: "ok", companyId, expires (ms) or one reason: "jti_revoked",
//  "revoked_before", "no_session", "session_revoked", "session_user",
//  "session_expired". Returns as fy_redis_eval.
int
auth_store_validate (auth_store_t *self, const char *sub, const char *sid,
                     const char *jti, int64_t iat, int64_t now_ms,
                     fy_redis_fn *fn, void *arg, fy_error_t *err) FY_MUSTCHECK;

//  Apply op at now_ms. fn gets an ARRAY: a status ("applied",
//  "duplicate": the event was applied before, "conflict": another body
//  was, "not_found": REVOKE_SESSION of an unknown session without a
//  user) and a count (sessions revoked). Returns as fy_redis_eval.
int
auth_store_apply (auth_store_t *self, const auth_op_t *op, int64_t now_ms,
                  fy_redis_fn *fn, void *arg, fy_error_t *err) FY_MUSTCHECK;

//  The live sessions of user at now_ms, the index pruned of expired and
//  revoked ones. fn gets an ARRAY of ARRAYs: sid, company, ip, ua,
//  created, last_seen, expires (ms), method, mfa ("1"/"0").
int
auth_store_sessions (auth_store_t *self, const char *user, int64_t now_ms,
                     fy_redis_fn *fn, void *arg, fy_error_t *err) FY_MUSTCHECK;

#endif
