/*  bench_audit: the audit store's figures, against the stack's PostgreSQL
    (DATABASE_URL). Each run makes a scratch database, migrates it with
    the real ferryctl and drops it.

    audit_ingest: committed audit rows/s end to end (bench_ingest.h):
    400-byte events published to ferry-broker, written by one ferry-audit
    process (a pool of N with BENCH_AUDIT_WORKERS=N), counted in
    audit.events. Limit: psql's \copy of the same rows into the same
    (emptied) table, in the same run.

    audit_search_p99: p99 latency of fy_store_audit_search, company + a
    7-day range, limit 100, over 1,000,000 rows made with generate_series;
    bound 20 ms. */
#include "bench_ingest.h"
#include "store/fy_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_INGEST_ROWS 50000
//  ferry-audit processes. One decodes the next batch while its last one
//  commits, which reaches the floor; a pool (supervisord numprocs) of
//  more adds CPU where one process is short of it.
#define S_WORKERS 1
#define S_SEARCH_ROWS 1000000
#define S_SEARCHES 1000
#define S_COMPANIES 100
#define S_SEARCH_BOUND_MS 20.0
#define S_INGEST_FLOOR 0.6
//  2025-06-01T00:00:00Z; searched rows span 90 days from it.
#define S_BASE_MS 1748736000000LL

static fy_event_t *
s_event (int n)
{
    char id [FY_UUID_SIZE], when [FY_TIME_RFC3339_SIZE];
    snprintf (id, sizeof id, "f0000000-0000-4000-8000-%012d", n);
    fy_time_format (S_BASE_MS + n * 1000LL, when);
    json_t *root = json_pack (
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s}}", "id", id,
        "type", "user.login", "version", 1, "source", "bench", "occurredAt",
        when, "companyId", "aaaaaaaa-0000-4000-8000-000000000001",
        "correlationId", "corr-1", "payload", "userId",
        "11111111-2222-4333-8444-555555555555", "sessionId",
        "66666666-7777-4888-8999-000000000000", "ip", "203.0.113.9",
        "userAgent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0");
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_new (&root, NULL, &err);
    if (!event) {
        fprintf (stderr, "bench: event: %s\n", err.text);
        exit (1);
    }
    return event;
}

static int
s_ingest (const char *srcdir, int workers)
{
    const bench_ingest_t spec = {
        .name = "audit_ingest",
        .unit = "rows/s",
        .program = "workers/audit/ferry-audit",
        .broker_key = "audit.broker",
        .routes = "audit:*",
        .count_sql = "SELECT count(*) FROM audit.events",
        .copy_table = "audit.events",
        .copy_columns = "id, occurred_at, type, version, source, company_id, "
                        "actor_id, correlation_id, action, target_type, "
                        "target_id, ip, user_agent, payload, changes",
        .empty_sql = "TRUNCATE audit.events, audit.event_ids",
        .prepare_sql = "SELECT audit.ensure_partitions('2025-06-01', 1)",
        .event = s_event,
        .rows = S_INGEST_ROWS,
        .workers = workers,
        .floor = S_INGEST_FLOOR,
    };
    return bench_ingest (srcdir, &spec);
}

static int
s_search (const char *srcdir)
{
    if (bench_scratch (srcdir, "ferry_bench_audit"))
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
    int rc = bench_sql (fill);
    free (fill);
    fprintf (stderr, "bench: %d rows generated in %.1f s\n", S_SEARCH_ROWS,
             (double) (fy_clock_mono_ns () - start) / 1e9);
    fy_store_t *store = fy_store_new (bench_url, 5);
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
            fprintf (stderr, "bench: search: %s\n",
                     page ? "short page" : err.text);
            rc = -1;
        }
        json_decref (page);
    }
    fy_store_destroy (&store);
    bench_drop ();
    if (rc) {
        free (ms);
        return -1;
    }
    bench_sort (ms, S_SEARCHES);
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
    if (argc != 3
        || (strcmp (argv [2], "ingest") && strcmp (argv [2], "search"))) {
        fprintf (stderr, "usage: bench_audit SRCDIR ingest|search\n");
        return 2;
    }
    if (bench_init ())
        return 1;
    //  BENCH_AUDIT_WORKERS=2 gives a pool's figure.
    const char *workers = getenv ("BENCH_AUDIT_WORKERS");
    int64_t count = S_WORKERS;
    if (workers && fy_parse_int64 (workers, 1, BENCH_WORKERS_MAX, &count)) {
        fprintf (stderr, "bench: BENCH_AUDIT_WORKERS: 1 to %d\n",
                 BENCH_WORKERS_MAX);
        bench_fini ();
        return 2;
    }
    int rc = strcmp (argv [2], "ingest") == 0 ? s_ingest (argv [1], (int) count)
                                              : s_search (argv [1]);
    bench_fini ();
    return rc ? 1 : 0;
}
