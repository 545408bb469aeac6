/*  fy_store test, against the stack's real PostgreSQL (DATABASE_URL; its
    absence is a failure). Each run makes a scratch database
    ferry_test_store_<pid>, migrates it with the real ferryctl and drops it
    at the end. Covers the schema check, the event-to-row mapping,
    idempotent appends with each method (and their speed, printed as
    diagnostics), search with every filter and keyset paging, SQL
    injection in every filter, get by id, a 100,000-row export in bounded
    memory, retention, a PostgreSQL restart between two batches, and the
    append in flight (start/poll/wait): it does not block while a COMMIT
    is slow (a deferred trigger sleeps in it), lands after it, survives
    its connection killed mid-COMMIT, and writes JSON as json_dumps does. */
#include "ferry/ferry.h"
#include "store/fy_store.h"
#include "event.h"
#include "pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#endif
#ifdef S_ASAN
//  ASan keeps freed memory in a 256 MB quarantine, which would look like
//  growth to the RSS check; a small one keeps the check meaningful.
const char *
__asan_default_options (void);
const char *
__asan_default_options (void)
{
    return "quarantine_size_mb=8";
}
#endif

#define S_COMPANY_A "aaaaaaaa-0000-4000-8000-000000000001"
#define S_COMPANY_B "bbbbbbbb-0000-4000-8000-000000000002"
#define S_COMPANY_X "cccccccc-0000-4000-8000-000000000003"
#define S_COMPANY_R "dddddddd-0000-4000-8000-000000000004"
#define S_SEARCH_ROWS 3000
#define S_EXPORT_ROWS 100000
//  2025-06-01T00:00:00Z
#define S_BASE_MS 1748736000000LL

static char s_url [512];
static PGconn *s_check;
static unsigned s_next_id = 1;

static void
s_uuid (char buffer [FY_UUID_SIZE], unsigned prefix, unsigned n)
{
    snprintf (buffer, FY_UUID_SIZE, "%08x-0000-4000-8000-%012x", prefix, n);
}

//  A valid event; payload is taken.
static fy_event_t *
s_event (const char *id, const char *type, const char *company,
         const char *actor, int64_t ms, json_t *payload)
{
    char when [FY_TIME_RFC3339_SIZE];
    fy_time_format (ms, when);
    return tap_event (id, type, when, company, actor, "corr-1", payload);
}

//  An event with a fresh id and a payload of about 400 bytes.
static fy_event_t *
s_filler (const char *company, int64_t ms)
{
    char id [FY_UUID_SIZE];
    s_uuid (id, 0xf0000000u, s_next_id++);
    json_t *payload = json_pack (
        "{s:s, s:s, s:s, s:s}", "userId",
        "11111111-2222-4333-8444-555555555555", "sessionId",
        "66666666-7777-4888-8999-000000000000", "ip", "203.0.113.9",
        "userAgent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0 Safari/537.36 ferry-test "
        "padding padding padding padding padding padding padding padding "
        "padding padding padding padding padding padding padding padding");
    return s_event (id, "user.login", company, NULL, ms, payload);
}

static void
s_events_free (fy_event_t **events, size_t count)
{
    for (size_t i = 0; i < count; i++)
        fy_event_destroy (&events [i]);
}

static long long
s_count (const char *sql)
{
    return tap_pg_count (s_check, sql);
}

static long
s_rss_kb (void)
{
    FILE *file = fopen ("/proc/self/status", "r");
    char line [256];
    long kb = -1;
    while (file && fgets (line, sizeof line, file))
        if (strncmp (line, "VmRSS:", 6) == 0)
            kb = strtol (line + 6, NULL, 10);
    if (file)
        fclose (file);
    return kb;
}

//  Page through a search with limit; returns the rows seen, and whether
//  they came strictly newest first, in *ordered_p.
static int
s_search_all (fy_store_t *store, fy_store_filter_t filter, int limit,
              bool *ordered_p, json_t *ids)
{
    filter.limit = limit;
    char *cursor = NULL;
    int total = 0;
    char last_time [64] = "", last_id [64] = "";
    *ordered_p = true;
    while (true) {
        filter.cursor = cursor;
        fy_error_t err = { "" };
        json_t *page = fy_store_audit_search (store, &filter, &err);
        free (cursor);
        cursor = NULL;
        if (!page) {
            diag ("search: %s", err.text);
            return -1;
        }
        size_t index;
        json_t *row;
        json_array_foreach (json_object_get (page, "items"), index, row)
        {
            const char *when =
                json_string_value (json_object_get (row, "occurredAt"));
            const char *id = json_string_value (json_object_get (row, "id"));
            int order = strcmp (when, last_time);
            if (*last_time
                && (order > 0 || (order == 0 && strcmp (id, last_id) >= 0)))
                *ordered_p = false;
            snprintf (last_time, sizeof last_time, "%s", when);
            snprintf (last_id, sizeof last_id, "%s", id);
            if (ids)
                json_array_append_new (ids, json_string (id));
            total++;
        }
        const char *next =
            json_string_value (json_object_get (page, "nextCursor"));
        if (next)
            cursor = strdup (next);
        json_decref (page);
        if (!cursor)
            break;
    }
    return total;
}

static void
s_run_ferryctl_migrate (void)
{
    const char *build = getenv ("FERRY_BUILDDIR");
    const char *src = getenv ("FERRY_SRCDIR");
    if (!build || !src)
        BAIL_OUT ("FERRY_BUILDDIR and FERRY_SRCDIR must be set");
    setenv ("DATABASE_URL", s_url, 1);
    char *command = fy_xasprintf ("'%s/tools/ferryctl' --set "
                                  "store.migrations_dir='%s/sql' migrate "
                                  ">/dev/null",
                                  build, src);
    int rc = system (command);
    free (command);
    ok (rc == 0, "ferryctl migrate on the scratch database");
}

static void
test_schema_and_mapping (fy_store_t *store)
{
    fy_error_t err = { "" };
    int version = -1;
    errno = 0;
    ok (fy_store_check_schema (store, FY_STORE_SCHEMA_VERSION, &version, &err)
                == -1
            && errno == ENOENT,
        "an empty database has no schema");
    ok (strstr (err.text, "ferryctl migrate") != NULL,
        "and the message says what to do: %s", err.text);
    s_run_ferryctl_migrate ();
    ok (fy_store_check_schema (store, FY_STORE_SCHEMA_VERSION, &version, &err)
            == 0,
        "schema is current");
    is_int (version, FY_STORE_SCHEMA_VERSION, "version");
    errno = 0;
    ok (fy_store_check_schema (store, 99, &version, &err) == -1
            && errno == ERANGE,
        "a newer build refuses this schema");
    char *have = fy_xasprintf ("version %d ", FY_STORE_SCHEMA_VERSION);
    ok (strstr (err.text, have) && strstr (err.text, "needs 99"),
        "saying which versions: %s", err.text);
    free (have);

    //  audit.recorded carries its own action, target, ip and changes.
    json_t *payload =
        json_pack ("{s:s, s:{s:s, s:s}, s:s, s:s, "
                   "s:{s:{s:i}, s:{s:i}}}",
                   "action", "document.deleted", "target", "type", "document",
                   "id", "doc-42", "ip", "2001:db8::1", "userAgent", "curl/8",
                   "changes", "before", "size", 1, "after", "size", 2);
    fy_event_t *event =
        s_event ("00000000-0000-4000-8000-0000000000a1", "audit.recorded",
                 S_COMPANY_A, NULL, S_BASE_MS, payload);
    //  As a worker has it: decoded from the msgpack the broker carried,
    //  read without a JSON tree.
    char *packed = NULL;
    size_t packed_size = 0;
    ok (fy_event_encode_msgpack (event, &packed, &packed_size) == 0,
        "audit.recorded: packed");
    fy_event_t *carried = fy_event_decode_msgpack (packed, packed_size, NULL);
    free (packed);
    fy_event_t *forms [2] = { event, carried };
    const char *form_names [2] = { "from JSON", "from msgpack" };
    for (int f = 0; f < 2; f++) {
        fy_store_audit_row_t row;
        fy_store_audit_row_from_event (forms [f], &row);
        is_str (row.action, "document.deleted", "audit.recorded %s: action",
                form_names [f]);
        is_str (row.target_type, "document", "audit.recorded %s: target type",
                form_names [f]);
        is_str (row.target_id, "doc-42", "audit.recorded %s: target id",
                form_names [f]);
        is_str (row.ip, "2001:db8::1", "audit.recorded %s: ip", form_names [f]);
        is_str (row.user_agent, "curl/8", "audit.recorded %s: user agent",
                form_names [f]);
        is_str (row.changes, "{\"before\":{\"size\":1},\"after\":{\"size\":2}}",
                "audit.recorded %s: changes", form_names [f]);
        ok (row.payload && strncmp (row.payload, "{\"action\":", 10) == 0,
            "audit.recorded %s: the payload in its key order", form_names [f]);
        fy_store_audit_row_clear (&row);
    }
    fy_event_destroy (&carried);
    fy_event_destroy (&event);
    fy_store_audit_row_t row;

    //  Other types: the type is the action, the main id the target.
    payload = json_pack ("{s:s, s:s, s:s}", "goalId", "g-1", "ownerId", "o-1",
                         "ip", "999.1.1.1");
    event = s_event ("00000000-0000-4000-8000-0000000000a2", "goal.created",
                     S_COMPANY_A, NULL, S_BASE_MS, payload);
    fy_store_audit_row_from_event (event, &row);
    is_str (row.action, "goal.created", "goal.created: action is the type");
    is_str (row.target_type, "goal", "goal.created: target type");
    is_str (row.target_id, "g-1", "goal.created: target id");
    is_str (row.ip, "", "an ip that is not an address is left out");
    ok (row.changes == NULL, "no changes");
    fy_store_audit_row_clear (&row);
    fy_event_destroy (&event);
}

static void
test_idempotent (fy_store_t *store)
{
    static const struct {
        fy_store_append_t method;
        const char *name;
    } methods [] = {
        { FY_STORE_APPEND_AUTO, "auto" },
        { FY_STORE_APPEND_INSERT, "insert" },
        { FY_STORE_APPEND_COPY, "copy" },
        { FY_STORE_APPEND_PIPELINE, "pipeline" },
    };
    for (size_t m = 0; m < 4; m++) {
        fy_store_set_append_method (store, methods [m].method);
        fy_event_t *batch [3];
        batch [0] = s_filler (S_COMPANY_X, S_BASE_MS);
        batch [1] = s_filler (S_COMPANY_X, S_BASE_MS + 1);
        //  The same event twice in one batch.
        json_t *copy = json_deep_copy (fy_event_json (batch [0]));
        fy_error_t err = { "" };
        batch [2] = fy_event_new (&copy, NULL, &err);
        size_t inserted = 99;
        ok (fy_store_audit_append (store, batch, 3, &inserted, &err) == 0,
            "%s: append", methods [m].name);
        is_int ((int) inserted, 2,
                "%s: a duplicate in the batch is "
                "stored once",
                methods [m].name);
        ok (fy_store_audit_append (store, batch, 3, &inserted, &err) == 0,
            "%s: append the same batch again", methods [m].name);
        is_int ((int) inserted, 0, "%s: nothing added", methods [m].name);
        char *sql = fy_xasprintf ("SELECT count(*) FROM audit.events WHERE "
                                  "id = '%s'",
                                  fy_event_id (batch [0]));
        is_int ((int) s_count (sql), 1,
                "%s: the same event twice gives "
                "one row",
                methods [m].name);
        free (sql);
        s_events_free (batch, 3);
    }
    fy_store_set_append_method (store, FY_STORE_APPEND_AUTO);
}

//  A copy of e with its occurredAt moved by shift_ms; payload replaced by
//  payload (taken) unless NULL.
static fy_event_t *
s_recopy (fy_event_t *e, int64_t shift_ms, json_t *payload)
{
    json_t *root = json_deep_copy (fy_event_json (e));
    char when [FY_TIME_RFC3339_SIZE];
    fy_time_format (fy_event_occurred_at_ms (e) + shift_ms, when);
    json_object_set_new (root, "occurredAt", json_string (when));
    if (payload)
        json_object_set_new (root, "payload", payload);
    fy_error_t err = { "" };
    fy_event_t *copy = fy_event_new (&root, NULL, &err);
    if (!copy)
        BAIL_OUT ("event: %s", err.text);
    return copy;
}

//  Rows of id and the occurred_at of the first, in ms ("none" as -1).
static long long
s_rows_of (const char *id, long long *ms_p)
{
    char *sql = fy_xasprintf ("SELECT count(*), coalesce(min((extract(epoch "
                              "FROM occurred_at) * 1000)::bigint), -1) FROM "
                              "audit.events WHERE id = '%s'",
                              id);
    PGresult *res = PQexec (s_check, sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        BAIL_OUT ("%s: %s", sql, PQerrorMessage (s_check));
    long long rows = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
    *ms_p = strtoll (PQgetvalue (res, 0, 1), NULL, 10);
    PQclear (res);
    free (sql);
    return rows;
}

//  Append with the method, blocking or (in_flight) start + wait; the
//  conflicts it reported in *conflicts_p.
static int
s_append_how (fy_store_t *store, bool in_flight, fy_event_t **events,
              size_t count, size_t *inserted,
              const fy_store_conflict_t **conflicts_p, size_t *conflict_count,
              fy_error_t *err)
{
    int rc;
    if (in_flight) {
        fy_store_audit_append_start (store, events, count);
        rc = fy_store_audit_append_wait (store, inserted, err);
    }
    else
        rc = fy_store_audit_append (store, events, count, inserted, err);
    *conflict_count = fy_store_audit_conflicts (store, conflicts_p);
    return rc;
}

//  An event id is stored once whatever its other fields: a second copy
//  with another occurredAt, in a later batch or in the same one, is not
//  stored and is a conflict naming what differs; an identical
//  redelivery, or one whose payload only orders its keys differently, is
//  none.
static void
test_conflicts (fy_store_t *store)
{
    static const struct {
        fy_store_append_t method;
        bool in_flight;
        const char *name;
    } methods [] = {
        { FY_STORE_APPEND_AUTO, false, "auto" },
        { FY_STORE_APPEND_AUTO, true, "auto in flight" },
        { FY_STORE_APPEND_INSERT, false, "insert" },
        { FY_STORE_APPEND_COPY, false, "copy" },
        { FY_STORE_APPEND_PIPELINE, false, "pipeline" },
    };
    for (size_t m = 0; m < sizeof methods / sizeof methods [0]; m++) {
        const char *name = methods [m].name;
        bool flight = methods [m].in_flight;
        fy_store_set_append_method (store, methods [m].method);
        int64_t base = S_BASE_MS + 86400000LL * (int64_t) (10 + m);
        fy_event_t *first = s_filler (S_COMPANY_X, base);
        const fy_store_conflict_t *list = NULL;
        size_t inserted = 99, conflicts = 99;
        fy_error_t err = { "" };
        ok (s_append_how (store, flight, &first, 1, &inserted, &list,
                          &conflicts, &err)
                    == 0
                && inserted == 1 && conflicts == 0,
            "%s: an event stored %s", name, err.text);

        //  Two batches: the same id 13 days later, beside a new event.
        fy_event_t *batch [2];
        batch [0] = s_recopy (first, 13 * 86400000LL, NULL);
        batch [1] = s_filler (S_COMPANY_X, base + 1);
        ok (s_append_how (store, flight, batch, 2, &inserted, &list, &conflicts,
                          &err)
                == 0,
            "%s: its id again with "
            "another occurredAt: the batch is stored %s",
            name, err.text);
        is_int ((int) inserted, 1, "%s: the new event only", name);
        is_int ((int) conflicts, 1, "%s: one conflict", name);
        long long ms = 0;
        is_int ((int) s_rows_of (fy_event_id (first), &ms), 1,
                "%s: one row for the id", name);
        ok (ms == fy_event_occurred_at_ms (first),
            "%s: the first copy "
            "kept",
            name);
        if (conflicts == 1) {
            is_str (list [0].id, fy_event_id (first), "%s: conflict id", name);
            is_str (list [0].stored_at, fy_event_occurred_at (first),
                    "%s: the stored occurredAt", name);
            is_str (list [0].new_at, fy_event_occurred_at (batch [0]),
                    "%s: the refused occurredAt", name);
            is_str (list [0].fields, "occurredAt", "%s: what differs", name);
        }
        json_t *got =
            fy_store_audit_get (store, fy_event_id (first), NULL, &err);
        is_str (json_string_value (json_object_get (got, "occurredAt")),
                fy_event_occurred_at (first), "%s: get gives the first copy",
                name);
        json_decref (got);
        s_events_free (batch, 2);

        //  One batch: two copies of a new id, then a third differing in
        //  its payload as well.
        fy_event_t *twice [3];
        twice [0] = s_filler (S_COMPANY_X, base + 2);
        twice [1] = s_recopy (twice [0], 3600000, NULL);
        twice [2] =
            s_recopy (twice [0], 0,
                      json_pack ("{s:s}", "userId",
                                 "11111111-2222-4333-8444-555555555555"));
        ok (s_append_how (store, flight, twice, 3, &inserted, &list, &conflicts,
                          &err)
                == 0,
            "%s: three copies of an "
            "id in one batch are stored %s",
            name, err.text);
        is_int ((int) inserted, 1, "%s: once", name);
        is_int ((int) conflicts, 2, "%s: two conflicts", name);
        is_int ((int) s_rows_of (fy_event_id (twice [0]), &ms), 1,
                "%s: one row for the id", name);
        ok (ms == fy_event_occurred_at_ms (twice [0]),
            "%s: the first in "
            "the batch kept",
            name);
        if (conflicts == 2) {
            is_str (list [0].new_at, fy_event_occurred_at (twice [1]),
                    "%s: the conflicts in batch order", name);
            //  ip and userAgent are columns taken from the payload.
            is_str (list [1].fields, "ip,userAgent,payload",
                    "%s: a payload differs", name);
        }

        //  An identical redelivery, and the same payload with its keys in
        //  another order: no conflict.
        json_t *reordered = json_object ();
        const char *keys [] = { "userAgent", "ip", "sessionId", "userId" };
        json_t *payload = fy_event_payload (first);
        for (size_t k = 0; k < 4; k++)
            json_object_set (reordered, keys [k],
                             json_object_get (payload, keys [k]));
        fy_event_t *again [3] = { s_recopy (first, 0, NULL),
                                  s_recopy (first, 0, reordered),
                                  s_recopy (twice [0], 0, NULL) };
        ok (s_append_how (store, flight, again, 3, &inserted, &list, &conflicts,
                          &err)
                    == 0
                && inserted == 0 && conflicts == 0,
            "%s: identical "
            "redeliveries: nothing stored, no conflict (%zu, %zu) %s",
            name, inserted, conflicts, err.text);
        s_events_free (again, 3);
        s_events_free (twice, 3);
        fy_event_destroy (&first);
    }
    fy_store_set_append_method (store, FY_STORE_APPEND_AUTO);
}

//  Rows per second of each method, batches of batch events.
static void
test_append_speed (fy_store_t *store, size_t batch)
{
    static const struct {
        fy_store_append_t method;
        const char *name;
    } methods [] = {
        { FY_STORE_APPEND_AUTO, "auto (COPY)" },
        { FY_STORE_APPEND_INSERT, "multi-row INSERT" },
        { FY_STORE_APPEND_COPY, "COPY + INSERT" },
        { FY_STORE_APPEND_PIPELINE, "pipeline" },
    };
    const size_t total = 20000;
    fy_event_t **events = fy_xcalloc (batch, sizeof *events);
    for (size_t m = 0; m < 4; m++) {
        fy_store_set_append_method (store, methods [m].method);
        size_t inserted = 0;
        int64_t elapsed = 0;
        bool good = true;
        for (size_t done = 0; done < total && good; done += batch) {
            for (size_t i = 0; i < batch; i++)
                events [i] = s_filler (S_COMPANY_X,
                                       S_BASE_MS + (int64_t) (done + i) * 1000);
            size_t added = 0;
            fy_error_t err = { "" };
            int64_t start = fy_clock_mono_ns ();
            good =
                fy_store_audit_append (store, events, batch, &added, &err) == 0;
            elapsed += fy_clock_mono_ns () - start;
            if (!good)
                diag ("append: %s", err.text);
            inserted += added;
            s_events_free (events, batch);
        }
        ok (good && inserted == total, "%s: %zu rows in batches of %zu",
            methods [m].name, total, batch);
        diag ("append %-16s batch %4zu: %8.0f rows/s", methods [m].name, batch,
              (double) total * 1e9 / (double) (elapsed ? elapsed : 1));
    }
    free (events);
    fy_store_set_append_method (store, FY_STORE_APPEND_AUTO);
}

static const char *s_actors [] = {
    "a0000000-0000-4000-8000-000000000001",
    "a0000000-0000-4000-8000-000000000002",
    "a0000000-0000-4000-8000-000000000003",
    "a0000000-0000-4000-8000-000000000004",
    "a0000000-0000-4000-8000-000000000005",
};

//  S_SEARCH_ROWS events for company A over about three months, two at a
//  time sharing a timestamp (so the id breaks ties), plus a few for B.
static void
s_load_search_data (fy_store_t *store)
{
    fy_event_t **events = fy_xcalloc (S_SEARCH_ROWS, sizeof *events);
    for (int i = 0; i < S_SEARCH_ROWS; i++) {
        char id [FY_UUID_SIZE];
        s_uuid (id, 0x5ea00000u, (unsigned) i);
        int64_t ms = S_BASE_MS + (int64_t) (i / 2) * 37 * 60000;
        json_t *payload;
        const char *type;
        if (i % 3 == 0) {
            type = "audit.recorded";
            char target [16];
            snprintf (target, sizeof target, "doc-%d", i % 10);
            payload =
                json_pack ("{s:s, s:{s:s, s:s}, s:s}", "action",
                           i % 2 ? "doc.viewed" : "doc.deleted", "target",
                           "type", "document", "id", target, "reason",
                           i % 100 == 0 ? "found a Needle here" : "routine");
        }
        else if (i % 3 == 1) {
            type = "user.login";
            payload = json_pack ("{s:s, s:s}", "userId", s_actors [i % 5], "ip",
                                 "198.51.100.7");
        }
        else {
            type = "goal.created";
            payload = json_pack ("{s:s, s:s}", "goalId", "goal-1", "title",
                                 "50% more_revenue");
        }
        events [i] =
            s_event (id, type, S_COMPANY_A, s_actors [i % 5], ms, payload);
    }
    fy_error_t err = { "" };
    size_t inserted = 0;
    ok (fy_store_audit_append (store, events, S_SEARCH_ROWS, &inserted, &err)
                == 0
            && inserted == S_SEARCH_ROWS,
        "search data loaded in one batch");
    s_events_free (events, S_SEARCH_ROWS);
    for (int i = 0; i < 5; i++)
        events [i] = s_filler (S_COMPANY_B, S_BASE_MS + i);
    ok (fy_store_audit_append (store, events, 5, NULL, &err) == 0,
        "another company's rows");
    s_events_free (events, 5);
    free (events);
}

static void
test_search (fy_store_t *store)
{
    s_load_search_data (store);
    fy_store_filter_t filter = { .company_id = S_COMPANY_A };
    bool ordered;
    json_t *ids = json_array ();
    is_int (s_search_all (store, filter, 137, &ordered, ids), S_SEARCH_ROWS,
            "paging with a cursor returns every row");
    ok (ordered, "newest first, id breaking ties");
    //  Every id exactly once.
    json_t *seen = json_object ();
    size_t index;
    json_t *id;
    json_array_foreach (ids, index, id)
        json_object_set_new (seen, json_string_value (id), json_true ());
    is_int ((int) json_object_size (seen), S_SEARCH_ROWS, "each exactly once");
    json_decref (seen);
    json_decref (ids);
    is_int (s_search_all (store, filter, 1000, &ordered, NULL), S_SEARCH_ROWS,
            "the same with limit 1000");

    //  Each filter alone, against counts worked out from the data.
    int rows = S_SEARCH_ROWS;
    fy_store_filter_t f = filter;
    f.actor_id = s_actors [2];
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 5, "actorId");
    ok (ordered, "actorId: ordered");
    f = filter;
    f.type = "user.login";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 3, "type");
    f = filter;
    f.action = "doc.viewed";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 6, "action");
    f = filter;
    f.target_type = "document";
    f.target_id = "doc-3";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 30,
            "targetType and targetId");
    f = filter;
    f.target_type = "goal";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 3,
            "targetType alone");
    //  Events i = 200 .. 599 (pairs 100 .. 299) fall in [from, to).
    char from [FY_TIME_RFC3339_SIZE], to [FY_TIME_RFC3339_SIZE];
    fy_time_format (S_BASE_MS + 100LL * 37 * 60000, from);
    fy_time_format (S_BASE_MS + 300LL * 37 * 60000, to);
    f = filter;
    f.from = from;
    f.to = to;
    is_int (s_search_all (store, f, 1000, &ordered, NULL), 400,
            "from (inclusive) and to (exclusive)");
    f = filter;
    f.q = "nEEdle";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 300,
            "q matches case-insensitively");
    f = filter;
    f.q = "50% more_rev";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 3,
            "q with LIKE wildcards matches them literally");
    f = filter;
    f.q = "%";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 3,
            "q of a lone %% is literal");
    f = filter;
    f.actor_id = s_actors [0];
    f.type = "audit.recorded";
    f.action = "doc.deleted";
    is_int (s_search_all (store, f, 1000, &ordered, NULL), rows / 30,
            "filters combine");
    f = (fy_store_filter_t) { .company_id = S_COMPANY_B };
    is_int (s_search_all (store, f, 1000, &ordered, NULL), 5,
            "another company sees only its rows");

    fy_error_t err = { "" };
    f = filter;
    f.limit = 1001;
    errno = 0;
    ok (!fy_store_audit_search (store, &f, &err) && errno == EINVAL,
        "limit above 1000 refused");
    f = (fy_store_filter_t) { .company_id = NULL };
    ok (!fy_store_audit_search (store, &f, &err) && errno == EINVAL,
        "companyId required");
    f = filter;
    f.cursor = "bm90LWEtY3Vyc29y";
    ok (!fy_store_audit_search (store, &f, &err) && errno == EINVAL,
        "a forged cursor refused");
}

static void
test_injection (fy_store_t *store)
{
    static const char *attacks [] = {
        "' OR '1'='1",
        "'; DROP TABLE audit.events; --",
        "\" OR \"\"=\"",
        "1; DELETE FROM audit.events",
        "aaaaaaaa-0000-4000-8000-000000000001' OR 'x'='x",
        "%' OR 1=1 --",
        "$1",
        "\\'; TRUNCATE audit.events CASCADE; --",
        "') UNION SELECT * FROM schema_migrations --",
    };
    long long before = s_count ("SELECT count(*) FROM audit.events");
    int bad = 0, tried = 0;
    for (size_t a = 0; a < sizeof attacks / sizeof attacks [0]; a++)
        for (int field = 0; field < 11; field++) {
            fy_store_filter_t f = { .company_id = S_COMPANY_A };
            const char *attack = attacks [a];
            switch (field) {
                case 0:
                    f.company_id = attack;
                    break;
                case 1:
                    f.actor_id = attack;
                    break;
                case 2:
                    f.type = attack;
                    break;
                case 3:
                    f.action = attack;
                    break;
                case 4:
                    f.target_type = attack;
                    break;
                case 5:
                    f.target_id = attack;
                    break;
                case 6:
                    f.from = attack;
                    break;
                case 7:
                    f.to = attack;
                    break;
                case 8:
                    f.q = attack;
                    break;
                case 9:
                    f.cursor = attack;
                    break;
                default:
                    f.target_type = "document";
                    f.target_id = attack;
            }
            fy_error_t err = { "" };
            errno = 0;
            json_t *page = fy_store_audit_search (store, &f, &err);
            size_t found =
                page ? json_array_size (json_object_get (page, "items")) : 0;
            //  Nothing found, or refused as a malformed value.
            if (page ? found != 0 : errno != EINVAL) {
                diag ("field %d, '%s': %zu rows, errno %d, %s", field, attack,
                      found, errno, err.text);
                bad++;
            }
            json_decref (page);
            tried++;
            json_t *row = fy_store_audit_get (store, attack, NULL, &err);
            if (row)
                bad++;
            json_decref (row);
        }
    is_int (bad, 0, "%d injection attempts found nothing", tried);
    is_int ((int) s_count ("SELECT count(*) FROM audit.events"), (int) before,
            "and the table is intact");
    ok (fy_store_check_schema (store, FY_STORE_SCHEMA_VERSION, NULL, NULL) == 0,
        "and so is the schema");
}

static void
test_get (fy_store_t *store)
{
    char id [FY_UUID_SIZE];
    s_uuid (id, 0x5ea00000u, 3);  //  an audit.recorded row
    fy_error_t err = { "" };
    json_t *row = fy_store_audit_get (store, id, S_COMPANY_A, &err);
    ok (row != NULL, "get by id");
    is_str (json_string_value (json_object_get (row, "id")), id, "its id");
    is_str (json_string_value (json_object_get (row, "action")), "doc.viewed",
            "its action");
    is_str (json_string_value (json_object_get (row, "targetId")), "doc-3",
            "its target");
    is_str (json_string_value (json_object_get (row, "occurredAt")),
            "2025-06-01T00:37:00.000Z", "its time");
    ok (json_is_object (json_object_get (row, "payload")), "its payload");
    json_decref (row);
    row = fy_store_audit_get (store, id, NULL, &err);
    ok (row != NULL, "get without a company");
    json_decref (row);
    errno = 0;
    ok (!fy_store_audit_get (store, id, S_COMPANY_B, &err) && errno == ENOENT,
        "another company's event is not found");
    ok (!fy_store_audit_get (store, "00000000-0000-4000-8000-00000000dead",
                             NULL, &err)
            && errno == ENOENT,
        "an unknown id is not found");
}

static void
test_export (fy_store_t *store)
{
    fy_event_t **events = fy_xcalloc (1000, sizeof *events);
    bool good = true;
    int64_t start = fy_clock_mono_ns ();
    for (int done = 0; done < S_EXPORT_ROWS && good; done += 1000) {
        for (int i = 0; i < 1000; i++)
            events [i] = s_filler (
                S_COMPANY_B, fy_clock_wall_ms () - (int64_t) (done + i) * 10);
        fy_error_t err = { "" };
        good = fy_store_audit_append (store, events, 1000, NULL, &err) == 0;
        if (!good)
            diag ("append: %s", err.text);
        s_events_free (events, 1000);
    }
    free (events);
    int64_t elapsed = fy_clock_mono_ns () - start;
    ok (good, "%d rows appended for the export", S_EXPORT_ROWS);
    diag ("append (default method, batch 1000, incl. building events): "
          "%.0f rows/s",
          S_EXPORT_ROWS * 1e9 / (double) elapsed);

    fy_store_filter_t filter = { .company_id = S_COMPANY_B };
    fy_error_t err = { "" };
    long rss_before = s_rss_kb (), rss_max = rss_before;
    start = fy_clock_mono_ns ();
    fy_store_export_t *export = fy_store_audit_export (store, &filter, &err);
    ok (export != NULL, "export opened");
    int rows = 0;
    bool ordered = true;
    char last [64] = "";
    json_t *row;
    int rc;
    while (export && (rc = fy_store_export_next (export, &row, &err)) == 1) {
        const char *when =
            json_string_value (json_object_get (row, "occurredAt"));
        if (*last && strcmp (when, last) > 0)
            ordered = false;
        snprintf (last, sizeof last, "%s", when);
        json_decref (row);
        if (++rows % 1000 == 0) {
            long rss = s_rss_kb ();
            if (rss > rss_max)
                rss_max = rss;
        }
    }
    fy_store_export_destroy (&export);
    elapsed = fy_clock_mono_ns () - start;
    is_int (rows, S_EXPORT_ROWS + 5, "export streamed every row");
    ok (ordered, "newest first");
    diag ("export: %.0f rows/s; RSS %ld kB before, %ld kB at most",
          rows * 1e9 / (double) elapsed, rss_before, rss_max);
    //  The rows amount to about 100 MB as JSON; a chunked cursor holds one
    //  chunk of 1000.
    ok (rss_max - rss_before < 16 * 1024, "memory stayed bounded (+%ld kB)",
        rss_max - rss_before);
    ok (fy_store_check_schema (store, FY_STORE_SCHEMA_VERSION, NULL, NULL) == 0,
        "the store is usable after an export");
}

//  Restart the stack's PostgreSQL in place: its data directory is the -D
//  of the postmaster listening on the URL's port.
static int
s_restart_postgres (void)
{
    PQconninfoOption *options = PQconninfoParse (s_url, NULL);
    const char *port = "5432";
    for (PQconninfoOption *o = options; o && o->keyword; o++)
        if (strcmp (o->keyword, "port") == 0 && o->val)
            port = o->val;
    char *command = fy_xasprintf (
        "data=$(for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' "
        "2>/dev/null <$f; echo; done | sed -nE 's@^[^ ]*/postgres -D ([^ ]+) "
        "-p %s .*@\\1@p' | head -1); [ -n \"$data\" ] || exit 1; "
        "bin=/usr/lib/postgresql/15/bin; "
        "if [ $(id -u) = 0 ]; then runuser -u $(stat -c %%U \"$data\") -- "
        "$bin/pg_ctl -D \"$data\" -w -m fast restart >/dev/null; "
        "else $bin/pg_ctl -D \"$data\" -w -m fast restart >/dev/null; fi",
        port);
    PQconninfoFree (options);
    int rc = system (command);
    free (command);
    return rc;
}

static void
test_restart (fy_store_t *store)
{
    fy_event_t *events [10];
    for (int i = 0; i < 10; i++)
        events [i] = s_filler (S_COMPANY_X, fy_clock_wall_ms () + i);
    fy_error_t err = { "" };
    size_t inserted = 0;
    ok (fy_store_audit_append (store, events, 5, &inserted, &err) == 0
            && inserted == 5,
        "a batch before the restart");
    ok (s_restart_postgres () == 0, "PostgreSQL restarted");
    //  The stack's server came back; the checking connection is stale.
    PQreset (s_check);
    ok (fy_store_audit_append (store, events + 5, 5, &inserted, &err) == 0
            && inserted == 5,
        "the next batch succeeds after reconnecting");
    ok (fy_store_is_connected (store), "connected again");
    s_events_free (events, 10);

    //  A database that is not there: retryable, with a growing backoff.
    fy_store_t *down = fy_store_new ("postgresql://ferry:pw@127.0.0.1:1/x", 1);
    fy_event_t *event = s_filler (S_COMPANY_X, fy_clock_wall_ms ());
    errno = 0;
    ok (fy_store_audit_append (down, &event, 1, NULL, &err) == -1
            && errno == EAGAIN,
        "a database that is down: EAGAIN");
    ok (fy_store_retry_in_ms (down) > 0,
        "with a backoff before the next "
        "attempt (%lld ms)",
        (long long) fy_store_retry_in_ms (down));
    errno = 0;
    ok (fy_store_connect (down, &err) == -1 && errno == EAGAIN
            && strstr (err.text, "next attempt"),
        "no attempt during the backoff: %s", err.text);
    fy_event_destroy (&event);
    fy_store_destroy (&down);
}

//  Run SQL on the checking connection; bails out on failure.
static void
s_exec (const char *sql)
{
    PGresult *res = PQexec (s_check, sql);
    ExecStatusType status = PQresultStatus (res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        BAIL_OUT ("%s: %s", sql, PQerrorMessage (s_check));
    PQclear (res);
}

//  Poll the append in flight until it lands, as a loop would. Returns its
//  outcome; *polls_p counts the polls, *slowest_ms_p the longest one.
static int
s_poll_until_landed (fy_store_t *store, size_t *inserted, int *polls_p,
                     int64_t *slowest_ms_p, fy_error_t *err)
{
    *polls_p = 0;
    *slowest_ms_p = 0;
    while (true) {
        int64_t before = fy_clock_mono_ms ();
        int rc = fy_store_audit_append_poll (store, inserted, err);
        int64_t took = fy_clock_mono_ms () - before;
        (*polls_p)++;
        if (took > *slowest_ms_p)
            *slowest_ms_p = took;
        if (rc != 1)
            return rc;
        struct pollfd item = {
            .fd = fy_store_append_socket (store),
            .events =
                (short) (POLLIN
                         | (fy_store_append_wants_write (store) ? POLLOUT : 0))
        };
        if (item.fd < 0)
            return -2;
        (void) poll (&item, 1, 50);
    }
}

static void
test_in_flight (fy_store_t *store)
{
    //  One sleep of 700 ms per transaction, at its COMMIT.
    s_exec ("CREATE FUNCTION public.fy_test_slow() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "IF current_setting('fy.slow', true) IS DISTINCT FROM 'done' "
            "THEN PERFORM set_config('fy.slow', 'done', true); "
            "PERFORM pg_sleep(0.7); END IF; RETURN NULL; END $$");
    s_exec ("CREATE CONSTRAINT TRIGGER fy_test_slow AFTER INSERT ON "
            "audit.events DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            "EXECUTE FUNCTION public.fy_test_slow()");
    fy_event_t *events [200];
    for (int i = 0; i < 200; i++)
        events [i] = s_filler (S_COMPANY_X, S_BASE_MS + 5000 + i);
    char *count_sql = fy_xasprintf (
        "SELECT count(*) FROM audit.events WHERE id IN ('%s', '%s')",
        fy_event_id (events [0]), fy_event_id (events [199]));
    fy_error_t err = { "" };
    size_t inserted = 0;
    ok (!fy_store_append_is_busy (store), "no append in flight yet");
    int64_t started = fy_clock_mono_ms ();
    fy_store_audit_append_start (store, events, 200);
    int64_t start_ms = fy_clock_mono_ms () - started;
    ok (fy_store_append_is_busy (store), "an append is in flight");
    ok (start_ms < 500, "start does not wait for the COMMIT (%lld ms)",
        (long long) start_ms);
    ok (fy_store_append_socket (store) >= 0, "with a socket to watch");
    is_int (fy_store_audit_append_poll (store, &inserted, &err), 1,
            "poll at once: still in flight");
    is_int ((int) s_count (count_sql), 0, "nothing visible before COMMIT");
    int polls = 0;
    int64_t slowest = 0;
    int rc = s_poll_until_landed (store, &inserted, &polls, &slowest, &err);
    int64_t took = fy_clock_mono_ms () - started;
    is_int (rc, 0, "it lands committed %s", err.text);
    is_int ((int) inserted, 200, "with 200 rows added");
    ok (took >= 700, "after the slow COMMIT (%lld ms)", (long long) took);
    ok (polls > 3 && slowest < 200,
        "no poll blocked: %d polls, the "
        "longest %lld ms",
        polls, (long long) slowest);
    is_int ((int) s_count (count_sql), 2, "visible once landed");
    ok (!fy_store_append_is_busy (store), "the store is free again");

    //  The same batch again: the duplicate way, same outcome.
    fy_store_audit_append_start (store, events, 200);
    is_int (fy_store_audit_append_wait (store, &inserted, &err), 0,
            "the same batch again lands");
    is_int ((int) inserted, 0, "adding nothing");

    //  The connection killed while its COMMIT sleeps: the store remakes
    //  it and writes the batch again, once.
    fy_event_t *more [50];
    for (int i = 0; i < 50; i++)
        more [i] = s_filler (S_COMPANY_X, S_BASE_MS + 6000 + i);
    fy_store_audit_append_start (store, more, 50);
    //  A loop's polls take it on to the COMMIT, which then sleeps.
    started = fy_clock_mono_ms ();
    while (fy_clock_mono_ms () - started < 300) {
        struct pollfd item = { .fd = fy_store_append_socket (store),
                               .events = POLLIN };
        (void) poll (&item, 1, 50);
        if (fy_store_audit_append_poll (store, &inserted, &err) != 1)
            BAIL_OUT ("the slow append landed early: %s", err.text);
    }
    is_int ((int) s_count ("SELECT count(*) FROM (SELECT pid FROM "
                           "pg_stat_activity WHERE datname = "
                           "current_database() AND query = 'COMMIT' AND "
                           "state = 'active' OFFSET 0) a WHERE "
                           "pg_terminate_backend(pid)"),
            1, "its connection killed in the COMMIT");
    rc = fy_store_audit_append_wait (store, &inserted, &err);
    is_int (rc, 0, "killed mid-COMMIT, the append still lands %s", err.text);
    char *sql = fy_xstrdup ("SELECT count(*) FROM audit.events WHERE id "
                            "IN ('00000000-0000-4000-8000-000000000000'");
    for (int i = 0; i < 50; i++) {
        char *longer = fy_xasprintf ("%s, '%s'", sql, fy_event_id (more [i]));
        free (sql);
        sql = longer;
    }
    char *whole = fy_xasprintf ("%s)", sql);
    free (sql);
    sql = whole;
    is_int ((int) s_count (sql), 50, "every row of it once");
    free (sql);
    s_events_free (more, 50);
    s_exec ("DROP TRIGGER fy_test_slow ON audit.events");
    s_exec ("DROP FUNCTION public.fy_test_slow()");

    //  JSON with every escape, written by COPY straight from the tree,
    //  equals what json_dumps gives.
    json_t *payload = json_pack (
        "{s:s, s:s, s:s, s:[i, f, f, b, b, n, {}, []], s:{s:{s:s}}, s:s}",
        "quote", "say \"hi\" \\ back\\slash", "controls", "a\nb\tc\rd\be\ff",
        "unicode", "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93 \x01\x1f", "mixed",
        (json_int_t) -42, 1.5, 3.0, 1, 0, "deep", "a", "b", "c \\\" d",
        "userId", "11111111-2222-4333-8444-555555555555");
    char *dumped = json_dumps (payload, JSON_COMPACT);
    char id [FY_UUID_SIZE];
    s_uuid (id, 0xe0000000u, 1);
    fy_event_t *odd = s_event (id, "audit.recorded", S_COMPANY_X, NULL,
                               S_BASE_MS + 7000, payload);
    fy_store_audit_append_start (store, &odd, 1);
    is_int (fy_store_audit_append_wait (store, &inserted, &err), 0,
            "odd JSON lands %s", err.text);
    const char *values [] = { id, dumped };
    PGresult *res = PQexecParams (s_check,
                                  "SELECT payload = $2::jsonb FROM "
                                  "audit.events WHERE id = $1::uuid",
                                  2, NULL, values, NULL, NULL, 0);
    is_str (PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "none", "t",
            "the stored payload is json_dumps' JSON");
    PQclear (res);
    free (dumped);
    fy_event_destroy (&odd);

    //  A database that is down: the outcome comes at the first poll.
    fy_store_t *down = fy_store_new ("postgresql://ferry:pw@127.0.0.1:1/x", 1);
    fy_store_audit_append_start (down, events, 1);
    is_int (fy_store_append_socket (down), -1, "down: no socket to watch");
    errno = 0;
    is_int (fy_store_audit_append_poll (down, NULL, &err), -1,
            "down: poll fails at once");
    ok (errno == EAGAIN || errno == ECONNRESET, "retryable: %s", err.text);
    ok (!fy_store_append_is_busy (down), "and the store is free");
    is_int (fy_store_audit_append_wait (down, &inserted, &err), 0,
            "wait with nothing in flight is 0");
    fy_store_destroy (&down);
    free (count_sql);
    s_events_free (events, 200);
}

static void
test_retention (fy_store_t *store)
{
    //  Events in 2020 and in the current and previous months.
    int64_t now = fy_clock_wall_ms ();
    //  The last day of the previous month, whatever today is.
    time_t seconds = (time_t) (now / 1000);
    struct tm tm;
    gmtime_r (&seconds, &tm);
    tm.tm_mday = 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    int64_t last_month = ((int64_t) timegm (&tm) - 86400) * 1000;
    fy_event_t *events [5];
    events [0] = s_filler (S_COMPANY_R, 1577836800000LL);  //  2020-01
    events [1] = s_filler (S_COMPANY_R, 1580515200000LL);  //  2020-02
    events [2] = s_filler (S_COMPANY_R, 1583020800000LL);  //  2020-03
    events [3] = s_filler (S_COMPANY_R, now);
    events [4] = s_filler (S_COMPANY_R, last_month);
    fy_error_t err = { "" };
    ok (fy_store_audit_append (store, events, 5, NULL, &err) == 0,
        "events in old, previous and current months");
    s_events_free (events, 5);
    int created = -1;
    ok (fy_store_ensure_partitions (store, 3, &created, &err) == 0,
        "partitions ensured ahead");
    const char *old_sql =
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON "
        "c.oid = i.inhrelid WHERE i.inhparent = 'audit.events'::regclass "
        "AND c.relname < 'events_' || to_char(date_trunc('month', "
        "now() AT TIME ZONE 'UTC') - interval '1 month', 'YYYYMM')";
    long long old = s_count (old_sql);
    long long all = s_count ("SELECT count(*) FROM pg_inherits WHERE "
                             "inhparent = 'audit.events'::regclass");
    ok (old >= 3, "%lld partitions older than last month", old);
    int dropped = -1;
    ok (fy_store_drop_expired (store, 1, &dropped, &err) == 0, "drop expired");
    is_int (dropped, (int) old, "every older partition dropped");
    is_int ((int) s_count (old_sql), 0, "none left");
    is_int ((int) s_count ("SELECT count(*) FROM pg_inherits WHERE "
                           "inhparent = 'audit.events'::regclass"),
            (int) (all - old), "the others kept");
    char *sql = fy_xasprintf ("SELECT count(*) FROM audit.events WHERE "
                              "company_id = '%s'",
                              S_COMPANY_R);
    is_int ((int) s_count (sql), 2, "this and last month's events kept");
    is_int ((int) s_count ("SELECT count(*) FROM audit.event_ids WHERE "
                           "occurred_at < '2020-04-01'"),
            0, "the dropped months' ids went with them");
    is_int ((int) s_count ("SELECT count(*) FROM audit.events e WHERE NOT "
                           "EXISTS (SELECT 1 FROM audit.event_ids i WHERE "
                           "i.id = e.id AND i.occurred_at = e.occurred_at)"),
            0, "every row kept has its id recorded");
    ok (fy_store_drop_expired (store, 0, &dropped, &err) == 0 && dropped == 0,
        "retention 0 never drops the current months");
    is_int ((int) s_count (sql), 2, "still there");
    free (sql);
    ok (fy_store_ensure_partitions (store, 3, &created, &err) == 0
            && created == 0,
        "ensure again creates nothing");
}

//  What the errors say may be retried: a value the database refuses is
//  EINVAL with its SQLSTATE (class 22, 23), on the blocking and the
//  in-flight path; another server error is EIO. A trigger plays the
//  refusal, raising the code its event's action names.
static void
test_error_classes (fy_store_t *store)
{
    s_exec ("CREATE FUNCTION public.refuse () RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.action LIKE 'refuse.%' THEN RAISE EXCEPTION 'refused' "
            "USING ERRCODE = substr(NEW.action, 8); END IF; RETURN NEW; "
            "END $$");
    s_exec ("CREATE TRIGGER refuse BEFORE INSERT ON audit.events "
            "FOR EACH ROW EXECUTE FUNCTION public.refuse ()");
    static const struct {
        const char *state;
        int errnum;
    } cases [] = {
        { "22009", EINVAL }, { "22008", EINVAL }, { "23502", EINVAL },
        { "23514", EINVAL }, { "42501", EIO },    { "53100", EIO },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        fy_event_t *events [2];
        events [0] = s_filler (S_COMPANY_A, S_BASE_MS);
        char id [FY_UUID_SIZE], action [32];
        s_uuid (id, 0xe0000000u, s_next_id++);
        snprintf (action, sizeof action, "refuse.%s", cases [i].state);
        events [1] =
            s_event (id, "audit.recorded", S_COMPANY_A, NULL, S_BASE_MS,
                     json_pack ("{s:s, s:{s:s, s:s}}", "action", action,
                                "target", "type", "user", "id", "u-1"));
        fy_error_t err = { "" };
        size_t inserted = 0;
        errno = 0;
        int rc = fy_store_audit_append (store, events, 2, &inserted, &err);
        is_int (errno, cases [i].errnum, "%s: errno %d", cases [i].state,
                cases [i].errnum);
        ok (rc == -1, "%s: the batch is refused", cases [i].state);
        is_str (fy_store_sqlstate (store), cases [i].state,
                "%s: fy_store_sqlstate says which", cases [i].state);
        errno = 0;
        fy_store_audit_append_start (store, events, 2);
        rc = fy_store_audit_append_wait (store, &inserted, &err);
        ok (rc == -1 && errno == cases [i].errnum
                && strcmp (fy_store_sqlstate (store), cases [i].state) == 0,
            "%s: the same in flight", cases [i].state);
        ok (fy_store_audit_append (store, events, 1, &inserted, &err) == 0
                && inserted == 1 && fy_store_sqlstate (store) [0] == '\0',
            "%s: its batch-mate alone is stored", cases [i].state);
        s_events_free (events, 2);
    }
    s_exec ("DROP TRIGGER refuse ON audit.events");
    s_exec ("DROP FUNCTION public.refuse ()");

    //  A required schema is checked on every connection.
    fy_store_t *newer = fy_store_new (s_url, 5);
    fy_store_require_schema (newer, 99);
    fy_error_t err = { "" };
    errno = 0;
    ok (fy_store_connect (newer, &err) == -1 && errno == ERANGE
            && !fy_store_is_connected (newer),
        "a schema older than required: "
        "not connected, ERANGE: %s",
        err.text);
    ok (fy_store_retry_in_ms (newer) > 0, "and the backoff applies");
    fy_event_t *event = s_filler (S_COMPANY_A, S_BASE_MS);
    size_t inserted = 0;
    errno = 0;
    ok (fy_store_audit_append (newer, &event, 1, &inserted, &err) == -1,
        "nothing is written to it");
    fy_store_destroy (&newer);
    fy_store_t *current = fy_store_new (s_url, 5);
    fy_store_require_schema (current, FY_STORE_SCHEMA_VERSION);
    ok (fy_store_connect (current, &err) == 0, "the current schema: "
                                               "connected");
    ok (fy_store_audit_append (current, &event, 1, &inserted, &err) == 0,
        "and written to");
    fy_store_destroy (&current);
    fy_event_destroy (&event);
}

int
main (void)
{
    plan (NO_PLAN);
    tap_pg_t pg;
    tap_pg_create (&pg, "ferry_test_store");
    snprintf (s_url, sizeof s_url, "%s", pg.url);
    s_check = tap_pg_connect (s_url);

    fy_store_t *store = fy_store_new (s_url, 5);
    ok (store && !fy_store_is_connected (store), "new does not connect");
    test_schema_and_mapping (store);
    test_idempotent (store);
    test_conflicts (store);
    test_append_speed (store, 100);
    test_append_speed (store, 1000);
    test_search (store);
    test_injection (store);
    test_get (store);
    test_export (store);
    test_restart (store);
    test_in_flight (store);
    test_error_classes (store);
    test_retention (store);
    fy_store_destroy (&store);
    ok (store == NULL, "destroy");

    PQfinish (s_check);
    tap_pg_drop (&pg);
    done_testing ();
}
