/*  auth_cache: positive validations by token hash (auth_cache.h), in a
    czmq hash keyed by the hash in hex. Drops scan it: revocations are
    rare next to validations, and the cache is bounded. */
#include "auth_cache.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t until_s;
    char *sub, *sid, *jti, *answer;
} s_entry_t;

struct auth_cache {
    zhashx_t *entries;          //  hex hash -> s_entry_t
    size_t max;
    bool on;
    uint64_t generation;
};

static void
s_entry_free (void **item)
{
    s_entry_t *entry = *item;
    if (!entry)
        return;
    free (entry->sub);
    free (entry->sid);
    free (entry->jti);
    free (entry->answer);
    free (entry);
    *item = NULL;
}

static void
s_hex (const unsigned char hash [32], char hex [65])
{
    static const char digits [] = "0123456789abcdef";
    for (size_t i = 0; i < 32; i++) {
        hex [2 * i] = digits [hash [i] >> 4];
        hex [2 * i + 1] = digits [hash [i] & 15];
    }
    hex [64] = 0;
}

auth_cache_t *
auth_cache_new (size_t max)
{
    auth_cache_t *self = fy_xcalloc (1, sizeof *self);
    self->entries = zhashx_new ();
    zhashx_set_destructor (self->entries, s_entry_free);
    self->max = max;
    self->on = max > 0;
    return self;
}

void
auth_cache_destroy (auth_cache_t **self_p)
{
    assert (self_p);
    auth_cache_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->entries);
    free (self);
    *self_p = NULL;
}

const char *
auth_cache_get (auth_cache_t *self, const unsigned char hash [32], int64_t now)
{
    assert (self);
    if (!self->on)
        return NULL;
    char hex [65];
    s_hex (hash, hex);
    s_entry_t *entry = zhashx_lookup (self->entries, hex);
    if (!entry)
        return NULL;
    if (now >= entry->until_s) {
        zhashx_delete (self->entries, hex);
        return NULL;
    }
    return entry->answer;
}

//  Make room: the expired entries, or all of them.
static void
s_make_room (auth_cache_t *self, int64_t now)
{
    zlist_t *expired = zlist_new ();
    zlist_autofree (expired);
    for (s_entry_t *entry = zhashx_first (self->entries); entry;
         entry = zhashx_next (self->entries))
        if (now >= entry->until_s)
            zlist_append (expired, (void *) zhashx_cursor (self->entries));
    for (char *key = zlist_first (expired); key; key = zlist_next (expired))
        zhashx_delete (self->entries, key);
    zlist_destroy (&expired);
    if (zhashx_size (self->entries) >= self->max)
        zhashx_purge (self->entries);
}

void
auth_cache_put (auth_cache_t *self, const unsigned char hash [32], int64_t now,
                int64_t until_s, const char *sub, const char *sid,
                const char *jti, const char *answer, uint64_t gen)
{
    assert (self);
    if (!self->on || gen != self->generation)
        return;
    if (until_s <= now)
        return;
    if (zhashx_size (self->entries) >= self->max)
        s_make_room (self, now);
    s_entry_t *entry = fy_xcalloc (1, sizeof *entry);
    entry->until_s = until_s;
    entry->sub = fy_xstrdup (sub);
    entry->sid = fy_xstrdup (sid);
    entry->jti = fy_xstrdup (jti);
    entry->answer = fy_xstrdup (answer);
    char hex [65];
    s_hex (hash, hex);
    zhashx_update (self->entries, hex, entry);
}

size_t
auth_cache_drop (auth_cache_t *self, auth_cache_kind_t kind, const char *name)
{
    assert (self);
    self->generation++;
    zlist_t *gone = zlist_new ();
    zlist_autofree (gone);
    for (s_entry_t *entry = zhashx_first (self->entries); entry;
         entry = zhashx_next (self->entries)) {
        const char *field = kind == AUTH_CACHE_SESSION ? entry->sid
                            : kind == AUTH_CACHE_USER  ? entry->sub
                                                       : entry->jti;
        if (strcmp (field, name) == 0)
            zlist_append (gone, (void *) zhashx_cursor (self->entries));
    }
    size_t count = zlist_size (gone);
    for (char *key = zlist_first (gone); key; key = zlist_next (gone))
        zhashx_delete (self->entries, key);
    zlist_destroy (&gone);
    return count;
}

void
auth_cache_reset (auth_cache_t *self, bool on)
{
    assert (self);
    self->generation++;
    zhashx_purge (self->entries);
    self->on = on && self->max > 0;
}

uint64_t
auth_cache_generation (auth_cache_t *self)
{
    assert (self);
    return self->generation;
}

size_t
auth_cache_size (auth_cache_t *self)
{
    assert (self);
    return zhashx_size (self->entries);
}
