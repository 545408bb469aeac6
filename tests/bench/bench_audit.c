/*  bench_audit: the audit store's figures, against the stack's PostgreSQL
    (DATABASE_URL). Each run makes a scratch database, migrates it with
    the real ferryctl and drops it.

    audit_ingest: committed rows/s through fy_store_audit_append, batches
    of 500 (ferry-audit's default), 400-byte events, synchronous_commit on
    for the session. The stack's server runs with fsync off, so a commit
    costs no disk flush here; the line says so. Limit: psql's \copy of the
    same rows into the same (emptied) table, in the same run, with the
    same setting. This measures the store layer alone: the broker + worker
    path will replace it once ferry-audit exists.

    audit_search_p99: p99 latency of fy_store_audit_search, company + a
    7-day range, limit 100, over 1,000,000 rows made with generate_series;
    bound 20 ms. */
#include "ferry/ferry.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_INGEST_ROWS 20000
#define S_BATCH 500
#define S_SEARCH_ROWS 1000000
#define S_SEARCHES 1000
#define S_COMPANIES 100
#define S_SEARCH_BOUND_MS 20.0
#define S_INGEST_FLOOR 0.6
//  2025-06-01T00:00:00Z; searched rows span 90 days from it.
#define S_BASE_MS 1748736000000LL

static char s_url [512];
static char s_db [64];
static char *s_admin;

static int
s_psql (const char *sql)
{
    PGconn *conn = PQconnectdb (s_url);
    PGresult *res = PQexec (conn, sql);
    ExecStatusType status = PQresultStatus (res);
    int rc = status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK ? 0 : -1;
    if (rc)
        fprintf (stderr, "bench: %s\n", PQerrorMessage (conn));
    PQclear (res);
    PQfinish (conn);
    return rc;
}

static int
s_admin_sql (const char *sql)
{
    PGconn *conn = PQconnectdb (s_admin);
    PGresult *res = PQexec (conn, sql);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        fprintf (stderr, "bench: %s\n", PQerrorMessage (conn));
    PQclear (res);
    PQfinish (conn);
    return rc;
}

static int
s_scratch (const char *srcdir)
{
    snprintf (s_db, sizeof s_db, "ferry_bench_audit_%ld", (long) getpid ());
    char *sql = fy_xasprintf ("CREATE DATABASE %s TEMPLATE template0", s_db);
    int rc = s_admin_sql (sql);
    free (sql);
    if (rc)
        return -1;
    const char *slash = strrchr (s_admin, '/');
    snprintf (s_url, sizeof s_url, "%.*s/%s", (int) (slash - s_admin),
              s_admin, s_db);
    setenv ("DATABASE_URL", s_url, 1);
    char *command = fy_xasprintf ("tools/ferryctl --set "
                                  "store.migrations_dir='%s/sql' migrate "
                                  ">/dev/null", srcdir);
    rc = system (command) == 0 ? 0 : -1;
    free (command);
    setenv ("DATABASE_URL", s_admin, 1);
    return rc;
}

static void
s_drop (void)
{
    char *sql = fy_xasprintf ("DROP DATABASE IF EXISTS %s WITH (FORCE)",
                              s_db);
    if (s_admin_sql (sql))
        fprintf (stderr, "bench: could not drop %s\n", s_db);
    free (sql);
}

static fy_event_t *
s_event (int n)
{
    char id [FY_UUID_SIZE], when [FY_TIME_RFC3339_SIZE];
    snprintf (id, sizeof id, "f0000000-0000-4000-8000-%012d", n);
    fy_time_format (S_BASE_MS + n * 1000LL, when);
    json_t *root = json_pack (
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}",
        "id", id, "type", "user.login", "version", 1, "source", "bench",
        "occurredAt", when, "companyId", "aaaaaaaa-0000-4000-8000-000000000001",
        "correlationId", "corr-1", "payload",
        "userId", "11111111-2222-4333-8444-555555555555",
        "sessionId", "66666666-7777-4888-8999-000000000000",
        "ip", "203.0.113.9",
        "userAgent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0 Safari/537.36 ferry-bench "
        "padding padding padding padding padding padding padding padding "
        "padding padding padding padding padding padding padding padding");
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_new (&root, NULL, &err);
    if (!event) {
        fprintf (stderr, "bench: event: %s\n", err.text);
        exit (1);
    }
    return event;
}

static int
s_ingest (const char *srcdir)
{
    if (s_scratch (srcdir))
        return -1;
    //  synchronous_commit on for every session this process and psql open.
    setenv ("PGOPTIONS", "-c synchronous_commit=on", 1);
    fy_event_t **events = fy_xcalloc (S_INGEST_ROWS, sizeof *events);
    for (int i = 0; i < S_INGEST_ROWS; i++)
        events [i] = s_event (i);
    fy_store_t *store = fy_store_new (s_url, 5);
    fy_error_t err = { "" };
    //  The connection and the month's partition are made outside the
    //  clock: the figure is the steady state.
    int rc = s_psql ("SELECT audit.ensure_partitions('2025-06-01', 1)");
    if (rc == 0)
        rc = fy_store_connect (store, &err);
    int64_t start = fy_clock_mono_ns ();
    for (int i = 0; i < S_INGEST_ROWS && rc == 0; i += S_BATCH)
        rc = fy_store_audit_append (store, events + i, S_BATCH, NULL, &err);
    double store_s = (double) (fy_clock_mono_ns () - start) / 1e9;
    fy_store_destroy (&store);
    for (int i = 0; i < S_INGEST_ROWS; i++)
        fy_event_destroy (&events [i]);
    free (events);
    if (rc) {
        fprintf (stderr, "bench: append: %s\n", err.text);
        return -1;
    }
    //  The same rows, out to a file and back in with psql's \copy.
    char file [] = "/tmp/bench_audit_XXXXXX";
    int fd = mkstemp (file);
    if (fd < 0)
        return -1;
    close (fd);
    const char *cols = "id, occurred_at, type, version, source, company_id, "
        "actor_id, correlation_id, action, target_type, target_id, ip, "
        "user_agent, payload, changes";
    char *out = fy_xasprintf ("psql -qX '%s' -c \"\\copy (SELECT %s FROM "
                              "audit.events) TO '%s'\"", s_url, cols, file);
    char *in = fy_xasprintf ("psql -qX '%s' -c \"\\copy audit.events (%s) "
                             "FROM '%s'\"", s_url, cols, file);
    rc = system (out) == 0 && s_psql ("TRUNCATE audit.events") == 0 ? 0 : -1;
    start = fy_clock_mono_ns ();
    if (rc == 0)
        rc = system (in) == 0 ? 0 : -1;
    double copy_s = (double) (fy_clock_mono_ns () - start) / 1e9;
    free (out);
    free (in);
    unlink (file);
    unsetenv ("PGOPTIONS");
    s_drop ();
    if (rc)
        return -1;
    double value = S_INGEST_ROWS / store_s, limit = S_INGEST_ROWS / copy_s;
    printf ("bench audit_ingest %.0f rows/s limit=%.0f ratio=%.2f "
            "(store layer alone, fy_store_audit_append batch %d, "
            "synchronous_commit on, server fsync off; limit psql \\copy)\n",
            value, limit, value / limit, S_BATCH);
    return value / limit >= S_INGEST_FLOOR ? 0 : 1;
}

static int
s_double_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static int
s_search (const char *srcdir)
{
    if (s_scratch (srcdir))
        return -1;
    char *fill = fy_xasprintf (
        "SELECT audit.ensure_partitions('2025-06-01', 4); "
        "INSERT INTO audit.events (id, occurred_at, type, version, source, "
        "company_id, actor_id, action, target_type, target_id, payload) "
        "SELECT gen_random_uuid(), timestamptz '2025-06-01 00:00Z' "
        "+ (g * 7.776) * interval '1 second', 'user.login', 1, 'bench', "
        "('aaaaaaaa-0000-4000-8000-' || lpad((g %% %d)::text, 12, '0'))::uuid, "
        "gen_random_uuid(), 'user.login', 'user', g::text, "
        "jsonb_build_object('userId', g::text, 'ip', '203.0.113.9', "
        "'userAgent', repeat('x', 200)) "
        "FROM generate_series(1, %d) g; ANALYZE audit.events",
        S_COMPANIES, S_SEARCH_ROWS);
    int64_t start = fy_clock_mono_ns ();
    int rc = s_psql (fill);
    free (fill);
    fprintf (stderr, "bench: %d rows generated in %.1f s\n", S_SEARCH_ROWS,
             (double) (fy_clock_mono_ns () - start) / 1e9);
    fy_store_t *store = fy_store_new (s_url, 5);
    double *ms = fy_xcalloc (S_SEARCHES, sizeof *ms);
    unsigned seed = 42;
    fy_error_t err = { "" };
    for (int i = 0; i < S_SEARCHES && rc == 0; i++) {
        char company [FY_UUID_SIZE], from [FY_TIME_RFC3339_SIZE],
             to [FY_TIME_RFC3339_SIZE];
        snprintf (company, sizeof company, "aaaaaaaa-0000-4000-8000-%012d",
                  rand_r (&seed) % S_COMPANIES);
        int64_t at = S_BASE_MS + (int64_t) (rand_r (&seed) % 83) * 86400000;
        fy_time_format (at, from);
        fy_time_format (at + 7 * 86400000LL, to);
        fy_store_filter_t filter = {
            .company_id = company, .from = from, .to = to, .limit = 100
        };
        start = fy_clock_mono_ns ();
        json_t *page = fy_store_audit_search (store, &filter, &err);
        ms [i] = (double) (fy_clock_mono_ns () - start) / 1e6;
        if (!page || json_array_size (json_object_get (page, "items")) != 100) {
            fprintf (stderr, "bench: search: %s\n", page ? "short page"
                                                         : err.text);
            rc = -1;
        }
        json_decref (page);
    }
    fy_store_destroy (&store);
    s_drop ();
    if (rc) {
        free (ms);
        return -1;
    }
    qsort (ms, S_SEARCHES, sizeof *ms, s_double_compare);
    double p99 = ms [S_SEARCHES * 99 / 100];
    printf ("bench audit_search_p99 %.2f ms limit=%.0f ratio=%.2f "
            "(company + 7-day range, limit 100, %d rows, p50 %.2f ms)\n",
            p99, S_SEARCH_BOUND_MS, p99 / S_SEARCH_BOUND_MS, S_SEARCH_ROWS,
            ms [S_SEARCHES / 2]);
    free (ms);
    return p99 <= S_SEARCH_BOUND_MS ? 0 : 1;
}

int
main (int argc, char **argv)
{
    if (argc != 3 || (strcmp (argv [2], "ingest") && strcmp (argv [2],
                                                             "search"))) {
        fprintf (stderr, "usage: bench_audit SRCDIR ingest|search\n");
        return 2;
    }
    //  A copy: setenv below would free the string getenv gave.
    const char *admin = getenv ("DATABASE_URL");
    if (!admin || !*admin || !strrchr (admin, '/')) {
        fprintf (stderr, "bench: DATABASE_URL is not set: start "
                 "contrib/stack.sh and eval its env\n");
        return 1;
    }
    s_admin = fy_xstrdup (admin);
    int rc = strcmp (argv [2], "ingest") == 0 ? s_ingest (argv [1])
                                              : s_search (argv [1]);
    free (s_admin);
    return rc ? 1 : 0;
}
