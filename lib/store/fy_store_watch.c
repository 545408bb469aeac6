/*  fy_store_watch: the state is ready or not, and why; the probe is one
    zloop timer at a time, due when the store's backoff allows another
    attempt (fy_store_retry_in_ms), never sooner than S_PROBE_MIN_MS. */
#include "store/fy_store_watch.h"
#include "ferry/fy_log.h"

#include <jansson.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

//  The shortest wait between two probes of a database that is down.
#define S_PROBE_MIN_MS 100

struct fy_store_watch {
    fy_store_t *store;
    char *component;
    fy_store_watch_fns_t fns;
    void *arg;
    zloop_t *loop;
    int timer;                  //  -1 when no probe is armed
    bool ready;
    bool schema;                //  not ready for the schema
    fy_error_t problem;
};

static void
s_arm (fy_store_watch_t *self);

static void
s_changed (fy_store_watch_t *self)
{
    if (self->fns.changed)
        self->fns.changed (self->ready, self->arg);
}

static int
s_on_probe (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    fy_store_watch_t *self = arg;
    self->timer = -1;
    if (self->ready)
        return 0;
    if (self->fns.busy && self->fns.busy (self->arg)) {
        s_arm (self);
        return 0;
    }
    fy_error_t err = { "" };
    if (fy_store_connect (self->store, &err)) {
        fy_store_watch_down (self, errno, &err);
        return 0;
    }
    fy_log_notice ("%s: ready: the database is back; writing again",
                   self->component);
    self->ready = true;
    self->schema = false;
    self->problem.text [0] = '\0';
    s_changed (self);
    return 0;
}

static void
s_arm (fy_store_watch_t *self)
{
    if (self->timer >= 0 || !self->loop || self->ready)
        return;
    int64_t wait = fy_store_retry_in_ms (self->store);
    if (wait < S_PROBE_MIN_MS)
        wait = S_PROBE_MIN_MS;
    self->timer = zloop_timer (self->loop, (size_t) wait, 1, s_on_probe, self);
}

fy_store_watch_t *
fy_store_watch_new (fy_store_t *store, const char *component,
                    const fy_store_watch_fns_t *fns, void *arg)
{
    assert (store);
    assert (component);
    assert (fns);
    fy_store_watch_t *self = fy_xcalloc (1, sizeof *self);
    self->store = store;
    self->component = fy_xstrdup (component);
    self->fns = *fns;
    self->arg = arg;
    self->timer = -1;
    self->ready = true;
    return self;
}

void
fy_store_watch_destroy (fy_store_watch_t **self_p)
{
    assert (self_p);
    fy_store_watch_t *self = *self_p;
    if (!self)
        return;
    fy_store_watch_detach (self);
    free (self->component);
    free (self);
    *self_p = NULL;
}

void
fy_store_watch_attach (fy_store_watch_t *self, zloop_t *loop)
{
    assert (self);
    assert (loop);
    self->loop = loop;
    s_arm (self);
}

void
fy_store_watch_detach (fy_store_watch_t *self)
{
    assert (self);
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    self->timer = -1;
    self->loop = NULL;
}

void
fy_store_watch_down (fy_store_watch_t *self, int errnum, const fy_error_t *err)
{
    assert (self);
    assert (err);
    bool schema = errnum == ENOENT || errnum == ERANGE;
    bool was_ready = self->ready;
    if (was_ready || schema != self->schema) {
        if (schema)
            fy_log_error ("%s: not ready: %s; nothing is written and "
                          "events are NACKed for retry until then",
                          self->component, err->text);
        else
            fy_log_warn ("%s: not ready: database unavailable (%s); "
                         "events are NACKed for retry until it is back",
                         self->component, err->text);
    }
    self->ready = false;
    self->schema = schema;
    self->problem = *err;
    if (was_ready)
        s_changed (self);
    s_arm (self);
}

bool
fy_store_watch_is_ready (fy_store_watch_t *self)
{
    assert (self);
    return self->ready;
}

const fy_error_t *
fy_store_watch_problem (fy_store_watch_t *self, bool *schema_p)
{
    assert (self);
    if (schema_p)
        *schema_p = self->schema;
    return &self->problem;
}

json_t *
fy_store_watch_health (fy_store_watch_t *self, fy_store_t *probe,
                       const char *unavailable, unsigned *status_p)
{
    assert (self);
    assert (probe);
    assert (status_p);
    fy_error_t err = { "" };
    int version = 0;
    //  The ingest's own view first: it NACKs everything while not ready,
    //  and logged why once.
    bool ready = self->ready, own = self->schema;
    if (!ready)
        err = self->problem;
    else {
        ready = fy_store_check_schema (probe, FY_STORE_SCHEMA_VERSION, &version,
                                       &err)
                == 0;
        own = !ready && (errno == ENOENT || errno == ERANGE);
        if (!ready)
            fy_log_warn ("%s: health: %s", self->component, err.text);
    }
    *status_p = ready ? 200 : 503;
    if (ready)
        return json_pack ("{s:s, s:i}", "status", "ok", "schemaVersion",
                          version);
    return json_pack ("{s:s, s:[s], s:s}", "status", "unavailable", "missing",
                      "database", "reason", own ? err.text : unavailable);
}
