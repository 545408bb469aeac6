/*  event.h: an event for the store tests, its envelope's members given
    one by one (json_pack) and checked by fy_event_new, as the tests that
    write batches of them all need. */
#ifndef FY_TEST_EVENT_H_INCLUDED
#define FY_TEST_EVENT_H_INCLUDED

#include "ferry/ferry.h"
#include "tap.h"

//  A valid event of version 1 from source "test"; actor and correlation
//  may be NULL (no such member); payload is taken. BAIL_OUT when it is
//  no event.
static inline fy_event_t *
tap_event (const char *id, const char *type, const char *when,
           const char *company, const char *actor, const char *correlation,
           json_t *payload)
{
    json_t *root =
        json_pack ("{s:s, s:s, s:i, s:s, s:s, s:s, s:s*, s:s*, s:o}", "id", id,
                   "type", type, "version", 1, "source", "test", "occurredAt",
                   when, "companyId", company, "actorId", actor,
                   "correlationId", correlation, "payload", payload);
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_new (&root, NULL, &err);
    if (!event)
        BAIL_OUT ("event: %s", err.text);
    return event;
}

#endif
