/*  fy_audit_digest test, against the stack's real PostgreSQL
    (DATABASE_URL; its absence is a failure). Makes a scratch database
    ferry_test_digest_<pid>, migrates it with the real ferryctl, appends
    events across hours and companies, digests them incrementally, checks
    a clean verify, then tampers by hand in SQL, as an intruder with psql
    would (UPDATE a payload, DELETE an event, INSERT one, alter or delete
    a digest row), and checks that each is named precisely, by
    fy_audit_digest_verify and by ferryctl audit verify's exit status.
    A wrong key gives a bad HMAC on every hour. */
#include "ferry/ferry.h"
#include "store/fy_audit_digest.h"
#include "store/fy_store.h"
#include "event.h"
#include "pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_A "aaaaaaaa-0000-4000-8000-000000000001"
#define S_B "bbbbbbbb-0000-4000-8000-000000000002"
#define S_C "cccccccc-0000-4000-8000-000000000003"
#define S_KEY "digest-test-key"
//  2025-06-01T00:00:00Z
#define S_BASE_MS 1748736000000LL
#define S_HOUR_MS 3600000LL
//  The canonical hash of test_canonical's row, computed independently
//  (Python hashlib over the byte layout doc/store.md defines).
#define S_VECTOR \
    "522e769eb4f180ce666c6ebe3b0af43c89bdac8a5e36c4d0137263d53d697341"

static char s_url [512];
static PGconn *s_check;

static void
s_id (char buffer [FY_UUID_SIZE], const char *company, int hour, int n)
{
    snprintf (buffer, FY_UUID_SIZE, "%.8s-00%02d-4000-8000-%012d", company,
              hour, n);
}

//  Append n events of company in hour, numbered from first (at minutes
//  first, first + 1, ...).
static void
s_append_from (fy_store_t *store, const char *company, int hour, int first,
               int n)
{
    fy_event_t *events [8];
    for (int i = 0; i < n; i++) {
        char id [FY_UUID_SIZE], when [FY_TIME_RFC3339_SIZE];
        s_id (id, company, hour, first + i);
        fy_time_format (S_BASE_MS + hour * S_HOUR_MS + (first + i) * 60000,
                        when);
        events [i] =
            tap_event (id, "user.login", when, company, NULL, "c-1",
                       json_pack ("{s:s, s:s}", "userId",
                                  "11111111-2222-4333-8444-555555555555", "ip",
                                  "203.0.113.9"));
    }
    fy_error_t err = { "" };
    if (fy_store_audit_append (store, events, (size_t) n, NULL, &err))
        BAIL_OUT ("append: %s", err.text);
    for (int i = 0; i < n; i++)
        fy_event_destroy (&events [i]);
}

//  Append n events of company in hour (minutes 1, 2, ...).
static void
s_append (fy_store_t *store, const char *company, int hour, int n)
{
    s_append_from (store, company, hour, 1, n);
}

static void
s_sql (const char *sql)
{
    PGresult *res = PQexec (s_check, sql);
    ExecStatusType status = PQresultStatus (res);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
        BAIL_OUT ("%s: %s", sql, PQerrorMessage (s_check));
    PQclear (res);
}

//  A count of a verify report.
static int
s_field (json_t *report, const char *key)
{
    return (int) json_integer_value (json_object_get (report, key));
}

static json_t *
s_verify (fy_store_t *store, const char *company, const char *from,
          const char *key, int *rc_p)
{
    fy_error_t err = { "" };
    json_t *report = NULL;
    *rc_p =
        fy_audit_digest_verify (store, company, from, NULL, key, &report, &err);
    if (*rc_p < 0)
        diag ("verify: %s", err.text);
    return report;
}

//  The ids (or "hour problem" pairs for digests) listed under kind, as one
//  space-separated string.
static char *
s_list (json_t *report, const char *kind)
{
    char *out = fy_xstrdup ("");
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (report, kind), i, item)
    {
        const char *id = json_string_value (json_object_get (item, "id"));
        char *next =
            id ? fy_xasprintf ("%s%s%s", out, *out ? " " : "", id)
               : fy_xasprintf (
                     "%s%s%s %s", out, *out ? " " : "",
                     json_string_value (json_object_get (item, "hour")),
                     json_string_value (json_object_get (item, "problem")));
        free (out);
        out = next;
    }
    return out;
}

static void
s_is_list (json_t *report, const char *kind, const char *expected,
           const char *what)
{
    char *list = s_list (report, kind);
    is_str (list, expected, "%s", what);
    free (list);
}

static void
test_canonical (void)
{
    //  A fixed vector pins the canonical form (doc/store.md): changing the
    //  serialization would silently invalidate every stored digest.
    const char *fields [16] = { "00000000-0000-4000-8000-000000000001",
                                "1748736060000000",
                                "user.login",
                                "1",
                                "test",
                                S_A,
                                NULL,
                                "c-1",
                                "user.login",
                                "user",
                                "u",
                                "203.0.113.9/32",
                                NULL,
                                "{\"a\": 1}",
                                NULL,
                                "1748736060000001" };
    unsigned char hash [FY_AUDIT_DIGEST_SIZE];
    fy_audit_digest_event (fields, hash);
    char hex [2 * FY_AUDIT_DIGEST_SIZE + 1];
    for (int i = 0; i < FY_AUDIT_DIGEST_SIZE; i++)
        snprintf (hex + 2 * i, 3, "%02x", hash [i]);
    is_str (hex, S_VECTOR, "canonical event hash matches the fixed vector");
    //  NULL and "" differ; moving a byte between fields changes the hash.
    unsigned char other [FY_AUDIT_DIGEST_SIZE];
    fields [6] = "";
    fy_audit_digest_event (fields, other);
    ok (memcmp (hash, other, sizeof hash) != 0, "NULL differs from empty");
    fields [6] = NULL;
    fields [7] = "c-";
    fields [8] = "1user.login";
    fy_audit_digest_event (fields, other);
    ok (memcmp (hash, other, sizeof hash) != 0,
        "fields are length-prefixed: no shifting between them");
}

static void
test_run (fy_store_t *store)
{
    s_append (store, S_A, 0, 3);
    s_append (store, S_A, 1, 3);
    s_append (store, S_A, 2, 3);
    s_append (store, S_B, 0, 2);
    s_append (store, S_B, 2, 2);
    for (int h = 0; h < 3; h++)
        s_append (store, S_C, h, 2);
    fy_error_t err = { "" };
    size_t count = 99;
    errno = 0;
    ok (fy_audit_digest_run (store, S_BASE_MS, 300, "", &count, &err) == -1
            && errno == EINVAL,
        "an empty key is refused");
    //  3h02: hour 2 closed but within its grace: hours 0 and 1 only.
    int64_t now = S_BASE_MS + 3 * S_HOUR_MS + 2 * 60000;
    ok (fy_audit_digest_run (store, now, 300, S_KEY, &count, &err) == 0,
        "run at 03:02");
    is_int ((int) count, 5, "hours 0-1 of A and C and hour 0 of B");
    int rc;
    json_t *report = s_verify (store, S_A, NULL, S_KEY, &rc);
    is_int (rc, 0, "verify before hour 2 is digested: clean");
    is_int (s_field (report, "pending"), 3, "with hour 2's events pending");
    json_decref (report);
    now += 5 * 60000;
    ok (fy_audit_digest_run (store, now, 300, S_KEY, &count, &err) == 0
            && count == 3,
        "after the grace: hour 2 of A, B and C");
    ok (fy_audit_digest_run (store, now, 300, S_KEY, &count, &err) == 0
            && count == 0,
        "incremental: nothing twice");
    report = s_verify (store, S_A, NULL, S_KEY, &rc);
    is_int (rc, 0, "verify A: clean");
    is_int (s_field (report, "hours"), 3, "3 hours checked");
    is_int (s_field (report, "events"), 9, "9 events checked");
    ok (json_is_true (json_object_get (report, "clean")), "clean: true");
    json_decref (report);
    report = s_verify (store, S_C, "2025-06-01T01:30:00Z", S_KEY, &rc);
    is_int (rc, 0, "verify C from 01:30: clean, chained to hour 0");
    is_int (s_field (report, "hours"), 2, "hours 1 and 2 checked");
    json_decref (report);
    is_int (tap_ferryctl ("audit verify --company " S_A), 0,
            "ferryctl audit verify: exit 0 when clean");
    is_int (tap_ferryctl ("audit verify"), 2, "exit 2 without --company");
    json_t *bad = NULL;
    errno = 0;
    ok (fy_audit_digest_verify (store, "x' OR 1=1 --", NULL, NULL, S_KEY, &bad,
                                &err)
                == -1
            && errno == EINVAL && !bad,
        "a malformed company is EINVAL");
}

//  Events stored after their hour was digested (a backlog drained after
//  an outage): pending while they keep coming, then one supplementary
//  digest chained after the newest; verify is clean throughout.
static void
test_late (fy_store_t *store)
{
    s_append_from (store, S_A, 0, 10, 2);
    int rc;
    json_t *report = s_verify (store, S_A, NULL, S_KEY, &rc);
    ok (rc == 0 && s_field (report, "pending") == 2,
        "late events in a digested hour: clean, and pending");
    json_decref (report);
    //  The clock of the runs is far past hour 0; the late events were
    //  stored just now, within the grace: they are still coming.
    int64_t now = S_BASE_MS + 5 * S_HOUR_MS;
    fy_error_t err = { "" };
    size_t count = 99;
    ok (fy_audit_digest_run (store, now, 300, S_KEY, &count, &err) == 0
            && count == 0,
        "no digest while an hour's late events arrive");
    s_append_from (store, S_A, 0, 12, 1);
    ok (fy_audit_digest_run (store, now, 0, S_KEY, &count, &err) == 0
            && count == 1,
        "one supplementary digest once they stopped");
    ok (fy_audit_digest_run (store, now, 0, S_KEY, &count, &err) == 0
            && count == 0,
        "and nothing twice");
    is_int ((int) tap_pg_count (s_check,
                                "SELECT count(*) FROM "
                                "audit.digests WHERE company_id = '" S_A
                                "' AND hour = '2025-06-01T00:00:00Z'"),
            2, "hour 0 of A has two digests");
    is_int ((int) tap_pg_count (s_check,
                                "SELECT max(seq) FROM "
                                "audit.digests WHERE company_id = '" S_A "'"),
            4, "the supplementary one chained fourth, after hour 2");
    report = s_verify (store, S_A, NULL, S_KEY, &rc);
    is_int (rc, 0, "verify A: clean");
    is_int (s_field (report, "pending"), 0, "nothing pending");
    is_int (s_field (report, "events"), 12, "12 events checked");
    is_int (s_field (report, "hours"), 3, "in 3 hours");
    json_decref (report);
    report = s_verify (store, S_A, "2025-06-01T02:00:00Z", S_KEY, &rc);
    is_int (rc, 0,
            "verify A from hour 2 (chained to a later digest of "
            "hour 0): clean");
    json_decref (report);
    is_int (tap_ferryctl ("audit verify --company " S_A), 0,
            "ferryctl audit verify: exit 0");
}

static void
test_tamper_events (fy_store_t *store)
{
    char changed [FY_UUID_SIZE], removed [FY_UUID_SIZE];
    s_id (changed, S_A, 1, 2);
    s_id (removed, S_A, 0, 3);
    char *sql = fy_xasprintf ("UPDATE audit.events SET payload = payload || "
                              "'{\"ip\": \"10.0.0.1\"}' WHERE id = '%s'",
                              changed);
    s_sql (sql);
    free (sql);
    sql = fy_xasprintf ("DELETE FROM audit.events WHERE id = '%s'", removed);
    s_sql (sql);
    free (sql);
    s_sql ("INSERT INTO audit.events (id, occurred_at, type, version, "
           "source, company_id, action, payload) VALUES "
           "('aaaaaaaa-9999-4000-8000-000000000099', "
           "'2025-06-01T02:30:00Z', 'user.login', 1, 'test', "
           "'" S_A "', 'user.login', '{}')");
    int rc;
    json_t *report = s_verify (store, S_A, NULL, S_KEY, &rc);
    is_int (rc, 1, "tampered: verify says so");
    s_is_list (report, "changed", changed, "the updated event is changed");
    s_is_list (report, "removed", removed, "the deleted event is removed");
    s_is_list (report, "added", "aaaaaaaa-9999-4000-8000-000000000099",
               "the inserted event is added");
    s_is_list (report, "digests", "", "the digest rows are intact");
    json_decref (report);
    //  A single column other than the payload: received_at.
    s_sql ("UPDATE audit.events SET received_at = received_at + "
           "interval '1 microsecond' WHERE id = 'bbbbbbbb-0002-4000-8000-"
           "000000000001'");
    report = s_verify (store, S_B, NULL, S_KEY, &rc);
    s_is_list (report, "changed", "bbbbbbbb-0002-4000-8000-000000000001",
               "a microsecond on received_at is a change");
    json_decref (report);
    is_int (tap_ferryctl ("audit verify --company " S_A), 1,
            "ferryctl audit verify: exit 1 when tampered");
}

static void
test_tamper_digests (fy_store_t *store)
{
    int rc;
    json_t *report = s_verify (store, S_C, NULL, "not the key", &rc);
    is_int (rc, 1, "wrong key: tampered");
    s_is_list (report, "digests",
               "2025-06-01T00:00:00Z bad hmac "
               "2025-06-01T01:00:00Z bad hmac 2025-06-01T02:00:00Z bad hmac",
               "bad hmac on every hour");
    json_decref (report);
    //  Forging hour 0 of C without the key.
    s_sql ("UPDATE audit.digests SET digest = sha256('forged') "
           "WHERE company_id = '" S_C "' AND hour = '2025-06-01T00:00:00Z'");
    report = s_verify (store, S_C, NULL, S_KEY, &rc);
    s_is_list (report, "digests",
               "2025-06-01T00:00:00Z altered "
               "2025-06-01T00:00:00Z bad hmac "
               "2025-06-01T01:00:00Z chain broken",
               "a digest changed: altered, bad hmac, and the chain breaks");
    json_decref (report);
    //  A digest row removed from the middle of B's chain... B has hours 0
    //  and 2; removing hour 0 leaves 2 chained to nothing.
    s_sql ("DELETE FROM audit.digests WHERE company_id = '" S_B "' "
           "AND hour = '2025-06-01T00:00:00Z'");
    report = s_verify (store, S_B, NULL, S_KEY, &rc);
    s_is_list (report, "digests",
               "2025-06-01T02:00:00Z chain broken "
               "2025-06-01T00:00:00Z missing",
               "a digest row removed: chain broken, hour missing");
    s_is_list (report, "added",
               "bbbbbbbb-0000-4000-8000-000000000001 "
               "bbbbbbbb-0000-4000-8000-000000000002",
               "and its events show as added");
    json_decref (report);
}

int
main (void)
{
    plan (NO_PLAN);
    if (!getenv ("FERRY_BUILDDIR") || !getenv ("FERRY_SRCDIR"))
        BAIL_OUT ("FERRY_BUILDDIR and FERRY_SRCDIR must be set");
    test_canonical ();
    tap_pg_t pg;
    tap_pg_create (&pg, "ferry_test_digest");
    snprintf (s_url, sizeof s_url, "%s", pg.url);
    setenv ("DATABASE_URL", s_url, 1);
    setenv ("FERRY_STORE_DIGEST_KEY", S_KEY, 1);
    char *sql = fy_xasprintf ("store.migrations_dir='%s/sql' migrate",
                              getenv ("FERRY_SRCDIR"));
    char *args = fy_xasprintf ("--set %s", sql);
    is_int (tap_ferryctl (args), 0, "ferryctl migrate on the scratch database");
    free (args);
    free (sql);
    s_check = tap_pg_connect (s_url);
    s_sql ("SET TimeZone = 'UTC'");

    fy_store_t *store = fy_store_new (s_url, 5);
    test_run (store);
    test_late (store);
    test_tamper_events (store);
    test_tamper_digests (store);
    fy_store_destroy (&store);

    PQfinish (s_check);
    tap_pg_drop (&pg);
    done_testing ();
}
