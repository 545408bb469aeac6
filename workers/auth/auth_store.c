/*  auth_store: the Redis layout and scripts of ferry-auth (auth_store.h).
    Every script takes the keys it is given (KEYS) and the prefix, to
    reach the session keys a user's index names. */
#include "auth_store.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  KEYS: session, revoked_before, jti. ARGV: sub, iat (s), now (ms).
static const char s_validate_lua [] =
    "if redis.call('EXISTS', KEYS[3]) == 1 then return {'jti_revoked'} end\n"
    "local rb = redis.call('GET', KEYS[2])\n"
    "if rb and tonumber(ARGV[2]) < tonumber(rb) then\n"
    "  return {'revoked_before'} end\n"
    "local s = redis.call('HMGET', KEYS[1], 'user', 'company', 'expires',\n"
    "                     'revoked')\n"
    "if s[4] then return {'session_revoked'} end\n"
    "if not s[1] then return {'no_session'} end\n"
    "if s[1] ~= ARGV[1] then return {'session_user'} end\n"
    "if s[3] and tonumber(s[3]) <= tonumber(ARGV[3]) then\n"
    "  return {'session_expired'} end\n"
    "redis.call('HSET', KEYS[1], 'last_seen', ARGV[3])\n"
    "return {'ok', s[2] or '', s[3] or ''}\n";

//  KEYS: event, session, user index, revoked_before, jti. ARGV: op,
//  digest ('' for none), event ttl (s), channel, prefix, now (ms), then
//  the op's own (s_apply_argv).
static const char s_apply_lua [] =
    "local op, digest, now = ARGV[1], ARGV[2], tonumber(ARGV[6])\n"
    "if digest ~= '' then\n"
    "  local prev = redis.call('GET', KEYS[1])\n"
    "  if prev then\n"
    "    if prev == digest then return {'duplicate', 0} end\n"
    "    return {'conflict', 0}\n"
    "  end\n"
    "end\n"
    "local result = {'applied', 0}\n"
    "if op == 'login' then\n"
    "  redis.call('HSET', KEYS[2], 'user', ARGV[8], 'company', ARGV[9],\n"
    "    'ip', ARGV[10], 'ua', ARGV[11], 'method', ARGV[12],\n"
    "    'mfa', ARGV[13], 'created', ARGV[14], 'expires', ARGV[15])\n"
    "  if redis.call('HEXISTS', KEYS[2], 'last_seen') == 0 then\n"
    "    redis.call('HSET', KEYS[2], 'last_seen', ARGV[14]) end\n"
    //  A revoke-all that came first covers a session begun before it.
    "  local rb = redis.call('GET', KEYS[4])\n"
    "  if rb and math.floor(tonumber(ARGV[14]) / 1000) < tonumber(rb) then\n"
    "    redis.call('HSET', KEYS[2], 'revoked', ARGV[6]) end\n"
    "  if redis.call('HEXISTS', KEYS[2], 'revoked') == 0 then\n"
    "    redis.call('ZADD', KEYS[3], ARGV[15], ARGV[7])\n"
    "    local ttl = redis.call('PTTL', KEYS[3])\n"
    "    if ttl < tonumber(ARGV[15]) - now then\n"
    "      redis.call('PEXPIREAT', KEYS[3], ARGV[15]) end\n"
    "  end\n"
    "  redis.call('PEXPIREAT', KEYS[2], ARGV[15])\n"
    "elseif op == 'revoke_session' then\n"
    "  local user = ARGV[8]\n"
    "  local have = redis.call('HGET', KEYS[2], 'user')\n"
    "  if user == '' then\n"
    "    if not have then return {'not_found', 0} end\n"
    "    user = have\n"
    "  end\n"
    "  local live = redis.call('HEXISTS', KEYS[2], 'revoked') == 0 and have\n"
    "  redis.call('HSET', KEYS[2], 'revoked', ARGV[6])\n"
    "  if not have then redis.call('HSET', KEYS[2], 'user', user) end\n"
    "  if redis.call('PTTL', KEYS[2]) < 0 then\n"
    "    redis.call('PEXPIRE', KEYS[2], ARGV[9]) end\n"
    "  redis.call('ZREM', ARGV[5] .. 'us:' .. user, ARGV[7])\n"
    "  redis.call('PUBLISH', ARGV[4], 's:' .. ARGV[7])\n"
    "  if live then result = {'applied', 1} end\n"
    "elseif op == 'revoke_user' then\n"
    "  if ARGV[8] ~= '0' then\n"
    "    local rb = redis.call('GET', KEYS[4])\n"
    "    if not rb or tonumber(rb) < tonumber(ARGV[8]) then\n"
    "      redis.call('SET', KEYS[4], ARGV[8], 'EX', ARGV[9]) end\n"
    "  end\n"
    "  local n = 0\n"
    "  for _, sid in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do\n"
    "    if sid ~= ARGV[10] then\n"
    "      local key = ARGV[5] .. 's:' .. sid\n"
    "      if redis.call('HEXISTS', key, 'user') == 1 and\n"
    "         redis.call('HEXISTS', key, 'revoked') == 0 then\n"
    "        redis.call('HSET', key, 'revoked', ARGV[6])\n"
    "        n = n + 1\n"
    "      end\n"
    "      redis.call('ZREM', KEYS[3], sid)\n"
    "    end\n"
    "  end\n"
    "  redis.call('PUBLISH', ARGV[4], 'u:' .. ARGV[7])\n"
    "  result = {'applied', n}\n"
    "elseif op == 'deny_jti' then\n"
    "  if tonumber(ARGV[8]) > 0 then\n"
    "    redis.call('SET', KEYS[5], '1', 'PX', ARGV[8]) end\n"
    "  redis.call('PUBLISH', ARGV[4], 'j:' .. ARGV[7])\n"
    "end\n"
    "if digest ~= '' then\n"
    "  redis.call('SET', KEYS[1], digest, 'EX', ARGV[3]) end\n"
    "return result\n";

//  KEYS: user index. ARGV: now (ms), prefix.
static const char s_sessions_lua [] =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])\n"
    "local out = {}\n"
    "for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  local f = redis.call('HMGET', ARGV[2] .. 's:' .. sid, 'user',\n"
    "    'company', 'ip', 'ua', 'created', 'last_seen', 'expires',\n"
    "    'revoked', 'method', 'mfa')\n"
    "  if not f[1] or f[8] then redis.call('ZREM', KEYS[1], sid)\n"
    "  else table.insert(out, {sid, f[2] or '', f[3] or '', f[4] or '',\n"
    "    f[5] or '', f[6] or '', f[7] or '', f[9] or '', f[10] or ''}) end\n"
    "end\n"
    "return out\n";

struct auth_store {
    fy_redis_t *redis;
    char *prefix;
    char *channel;
    int64_t revoke_ttl_s, tombstone_ms, event_ttl_s;
    fy_redis_script_t *validate, *apply, *sessions;
};

auth_store_t *
auth_store_new (fy_redis_t *redis, const char *prefix, int64_t revoke_ttl_s,
                int64_t tombstone_ms, int64_t event_ttl_s)
{
    assert (redis);
    assert (prefix);
    auth_store_t *self = fy_xcalloc (1, sizeof *self);
    self->redis = redis;
    self->prefix = fy_xstrdup (prefix);
    self->channel = fy_xasprintf ("%srevoked", prefix);
    self->revoke_ttl_s = revoke_ttl_s;
    self->tombstone_ms = tombstone_ms;
    self->event_ttl_s = event_ttl_s;
    self->validate = fy_redis_script_new (redis, s_validate_lua);
    self->apply = fy_redis_script_new (redis, s_apply_lua);
    self->sessions = fy_redis_script_new (redis, s_sessions_lua);
    return self;
}

void
auth_store_destroy (auth_store_t **self_p)
{
    assert (self_p);
    auth_store_t *self = *self_p;
    if (!self)
        return;
    free (self->prefix);
    free (self->channel);
    free (self);
    *self_p = NULL;
}

const char *
auth_store_channel (auth_store_t *self)
{
    assert (self);
    return self->channel;
}

//  The arguments of one call: borrowed strings, and keys and numbers
//  made for it.
typedef struct {
    const char *argv [24];
    char *owned [24];
    size_t count;
} s_args_t;

static void
s_str (s_args_t *args, const char *text)
{
    assert (args->count < 24);
    args->owned [args->count] = NULL;
    args->argv [args->count++] = text ? text : "";
}

static void
s_own (s_args_t *args, char *text)
{
    assert (args->count < 24);
    args->owned [args->count] = text;
    args->argv [args->count++] = text;
}

static void
s_key (s_args_t *args, auth_store_t *self, const char *kind, const char *name)
{
    s_own (args, fy_xasprintf ("%s%s%s", self->prefix, kind, name ? name : ""));
}

static void
s_num (s_args_t *args, int64_t value)
{
    s_own (args, fy_xasprintf ("%" PRId64, value));
}

static void
s_args_free (s_args_t *args)
{
    for (size_t i = 0; i < args->count; i++)
        free (args->owned [i]);
}

int
auth_store_validate (auth_store_t *self, const char *sub, const char *sid,
                     const char *jti, int64_t iat, int64_t now_ms,
                     fy_redis_fn *fn, void *arg, fy_error_t *err)
{
    assert (self);
    s_args_t args = { .count = 0 };
    s_key (&args, self, "s:", sid);
    s_key (&args, self, "rb:", sub);
    s_key (&args, self, "jti:", jti);
    s_str (&args, sub);
    s_num (&args, iat);
    s_num (&args, now_ms);
    int rc = fy_redis_eval (self->validate, 3, args.count, args.argv, NULL, fn,
                            arg, NULL, err);
    s_args_free (&args);
    return rc;
}

int
auth_store_apply (auth_store_t *self, const auth_op_t *op, int64_t now_ms,
                  fy_redis_fn *fn, void *arg, fy_error_t *err)
{
    assert (self);
    assert (op);
    static const char *const names [] = { "login", "revoke_session",
                                          "revoke_user", "deny_jti" };
    const char *user = op->user;
    s_args_t args = { .count = 0 };
    s_key (&args, self, "ev:", op->event_id);
    s_key (&args, self, "s:", op->sid);
    s_key (&args, self, "us:", user);
    s_key (&args, self, "rb:", user);
    s_key (&args, self, "jti:", op->jti);
    s_str (&args, names [op->kind]);
    s_str (&args, op->event_id ? op->digest : "");
    s_num (&args, self->event_ttl_s);
    s_str (&args, self->channel);
    s_str (&args, self->prefix);
    s_num (&args, now_ms);
    switch (op->kind) {
        case AUTH_OP_LOGIN:
            s_str (&args, op->sid);
            s_str (&args, user);
            s_str (&args, op->company);
            s_str (&args, op->ip);
            s_str (&args, op->ua);
            s_str (&args, op->method);
            s_str (&args, op->mfa ? "1" : "0");
            s_num (&args, op->created_ms);
            s_num (&args, op->expires_ms);
            break;
        case AUTH_OP_REVOKE_SESSION:
            s_str (&args, op->sid);
            s_str (&args, user);
            s_num (&args, self->tombstone_ms);
            break;
        case AUTH_OP_REVOKE_USER:
            s_str (&args, user);
            s_num (&args, op->revoked_before_s);
            s_num (&args, self->revoke_ttl_s);
            s_str (&args, op->except_sid);
            break;
        case AUTH_OP_DENY_JTI:
            s_str (&args, op->jti);
            s_num (&args, op->jti_ttl_ms);
            break;
    }
    int rc = fy_redis_eval (self->apply, 5, args.count, args.argv, NULL, fn,
                            arg, NULL, err);
    s_args_free (&args);
    return rc;
}

int
auth_store_sessions (auth_store_t *self, const char *user, int64_t now_ms,
                     fy_redis_fn *fn, void *arg, fy_error_t *err)
{
    assert (self);
    s_args_t args = { .count = 0 };
    s_key (&args, self, "us:", user);
    s_num (&args, now_ms);
    s_str (&args, self->prefix);
    int rc = fy_redis_eval (self->sessions, 1, args.count, args.argv, NULL, fn,
                            arg, NULL, err);
    s_args_free (&args);
    return rc;
}
