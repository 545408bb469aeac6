/*  broker_route: patterns parsed once, answers cached per event type. The
    type set of the domain is small (tens), so the cache never grows past
    a bound; unknown types reach the broker only through a bug elsewhere,
    and the bound keeps even that from growing memory. */
#include "broker_route.h"

#include <assert.h>
#include <czmq.h>
#include <errno.h>
#include <string.h>

#define S_MAX_SERVICES 32
#define S_MAX_CACHED 4096

typedef struct {
    char *pattern;
    size_t len;
    bool prefix;        //  "user.*": match "user." and anything after
    uint16_t service;
} s_rule_t;

typedef struct {
    size_t count;
    uint16_t services [S_MAX_SERVICES];
} s_answer_t;

struct broker_route {
    char *services [S_MAX_SERVICES];
    size_t service_count;
    s_rule_t *rules;
    size_t rule_count;
    zhashx_t *cache;            //  type -> s_answer_t
    s_answer_t scratch;         //  the answer once the cache is full
};

static int
s_service_index (broker_route_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->service_count; i++)
        if (strlen (self->services [i]) == len
            && memcmp (self->services [i], name, len) == 0)
            return (int) i;
    if (self->service_count == S_MAX_SERVICES)
        return -1;
    self->services [self->service_count] = fy_xstrndup (name, len);
    return (int) self->service_count++;
}

static bool
s_is_name (const char *text, size_t len, bool pattern)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                     || (c >= '0' && c <= '9') || c == '_' || c == '-'
                     || c == '.';
        bool star = pattern && c == '*' && i == len - 1
                    && (len == 1 || text [i - 1] == '.');
        if (!plain && !star)
            return false;
    }
    return true;
}

static void
s_answer_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

broker_route_t *
broker_route_new (const char *routes, fy_error_t *err)
{
    assert (routes);
    broker_route_t *self = fy_xcalloc (1, sizeof *self);
    self->cache = zhashx_new ();
    zhashx_set_destructor (self->cache, s_answer_free);
    const char *at = routes;
    while (*at) {
        at += strspn (at, " \t\n");
        size_t span = strcspn (at, " \t\n");
        if (span == 0)
            break;
        const char *colon = memchr (at, ':', span);
        int service = colon && s_is_name (at, (size_t) (colon - at), false)
                          ? s_service_index (self, at, (size_t) (colon - at))
                          : -1;
        if (service < 0 || colon + 1 >= at + span) {
            fy_error_set (err,
                          "routes: bad entry '%.*s' (want "
                          "service:pattern[,pattern...], at most %d services)",
                          (int) span, at, S_MAX_SERVICES);
            goto fail;
        }
        for (const char *p = colon + 1; p < at + span;) {
            size_t len = strcspn (p, ",");
            if (p + len > at + span)
                len = (size_t) (at + span - p);
            if (!s_is_name (p, len, true)) {
                fy_error_set (err, "routes: bad pattern '%.*s' for %s",
                              (int) len, p, self->services [service]);
                goto fail;
            }
            self->rules = fy_xrealloc (self->rules, (self->rule_count + 1)
                                                        * sizeof *self->rules);
            s_rule_t *rule = &self->rules [self->rule_count++];
            rule->prefix = p [len - 1] == '*';
            rule->len = rule->prefix ? len - 1 : len;
            rule->pattern = fy_xstrndup (p, rule->len);
            rule->service = (uint16_t) service;
            p += len + 1;
        }
        at += span;
    }
    return self;
fail:
    errno = EINVAL;
    broker_route_destroy (&self);
    return NULL;
}

void
broker_route_destroy (broker_route_t **self_p)
{
    assert (self_p);
    broker_route_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->service_count; i++)
        free (self->services [i]);
    for (size_t i = 0; i < self->rule_count; i++)
        free (self->rules [i].pattern);
    free (self->rules);
    zhashx_destroy (&self->cache);
    free (self);
    *self_p = NULL;
}

size_t
broker_route_services (broker_route_t *self)
{
    assert (self);
    return self->service_count;
}

const char *
broker_route_service (broker_route_t *self, size_t index)
{
    assert (self);
    assert (index < self->service_count);
    return self->services [index];
}

static void
s_compute (broker_route_t *self, const char *type, size_t len,
           s_answer_t *answer)
{
    answer->count = 0;
    for (size_t i = 0; i < self->rule_count; i++) {
        s_rule_t *rule = &self->rules [i];
        bool hit =
            rule->prefix
                ? len >= rule->len
                      && memcmp (type, rule->pattern, rule->len) == 0
                : len == rule->len && memcmp (type, rule->pattern, len) == 0;
        if (!hit)
            continue;
        bool seen = false;
        for (size_t k = 0; k < answer->count; k++)
            seen |= answer->services [k] == rule->service;
        if (!seen)
            answer->services [answer->count++] = rule->service;
    }
}

const uint16_t *
broker_route_match (broker_route_t *self, const char *type, size_t len,
                    size_t *count_p)
{
    assert (self);
    char key [256];
    if (len >= sizeof key) {
        s_compute (self, type, len, &self->scratch);
        *count_p = self->scratch.count;
        return self->scratch.services;
    }
    memcpy (key, type, len);
    key [len] = 0;
    s_answer_t *answer = zhashx_lookup (self->cache, key);
    if (!answer) {
        if (zhashx_size (self->cache) >= S_MAX_CACHED)
            answer = &self->scratch;
        else {
            answer = fy_xcalloc (1, sizeof *answer);
            zhashx_insert (self->cache, key, answer);
        }
        s_compute (self, type, len, answer);
    }
    *count_p = answer->count;
    return answer->services;
}
