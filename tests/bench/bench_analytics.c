/*  bench_analytics: ferry-analytics' figures, against the stack's
    PostgreSQL (DATABASE_URL), each in a scratch database of its own.

    analytics_ingest: events/s from publish to committed facts through
    ferry-broker and ferry-analytics, real processes (bench_ingest.h, as
    audit_ingest): user.login events of a 5,000-person company, counted
    in analytics.facts. Limit: psql's \copy of the same fact rows into
    analytics.facts emptied, in the same run. Floor 0.4.

    analytics_rollup_1m: seconds of analytics.rollup_days over 1,000,000
    facts (a 5,000-person company's 30 days, made with generate_series).
    Limit: one aggregate pass over the same facts (count per local day),
    the least any rollup of them costs. Printed for the compass; no bound.

    analytics_query_p99: p99 latency of GET
    /analytics/company/:id/stats?granularity=day over a whole year of
    daily rollups of a 5,000-person company (every dimension's rows
    there, 1.9 million), through ferry-broker's HTTP endpoint to
    ferry-analytics, one keep-alive connection; bound 20 ms. */
#include "bench_ingest.h"
#include "integration/proc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_INGEST_ROWS 50000
#define S_INGEST_FLOOR 0.4
#define S_USERS 5000
#define S_FACTS 1000000
#define S_QUERIES 1000
#define S_QUERY_BOUND_MS 20.0
#define S_COMPANY "c0c0c0c0-0000-4000-8000-000000005000"
//  2025-06-01T00:00:00Z.
#define S_BASE_MS 1748736000000LL

static fy_event_t *
s_event (int n)
{
    char id [FY_UUID_SIZE], user [FY_UUID_SIZE], when [FY_TIME_RFC3339_SIZE];
    snprintf (id, sizeof id, "f0000000-0000-4000-8000-%012d", n);
    snprintf (user, sizeof user, "11111111-0000-4000-8000-%012d", n % S_USERS);
    fy_time_format (S_BASE_MS + n * 1000LL, when);
    json_t *root = json_pack (
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, "
        "s:b}}",
        "id", id, "type", "user.login", "version", 1, "source", "bench",
        "occurredAt", when, "companyId", S_COMPANY, "actorId", user, "payload",
        "userId", user, "sessionId", "66666666-7777-4888-8999-000000000000",
        "ip", "203.0.113.9", "userAgent",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "method", "password",
        "mfa", 0);
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
    const bench_ingest_t spec = {
        .name = "analytics_ingest",
        .unit = "events/s",
        .program = "workers/analytics/ferry-analytics",
        .broker_key = "analytics.broker",
        .routes = "analytics:user.*",
        .count_sql = "SELECT count(*) FROM analytics.facts",
        .copy_table = "analytics.facts",
        .copy_columns = "event_id, company_id, occurred_at, kind, user_id, "
                        "subject_id, other_id, due_at, late, value",
        .empty_sql = "TRUNCATE analytics.facts, analytics.event_ids, "
                     "analytics.dirty",
        .prepare_sql = "SELECT analytics.ensure_partitions('2025-06-01', 1)",
        .event = s_event,
        .rows = S_INGEST_ROWS,
        .workers = 1,
        .floor = S_INGEST_FLOOR,
    };
    return bench_ingest (srcdir, &spec);
}

//  The company, its zone, S_USERS users in 20 departments under 500
//  managers (membership from 2025-01-01), as the rollups read them.
static int
s_organisation (void)
{
    char *sql = fy_xasprintf (
        "INSERT INTO analytics.companies (company_id, name, time_zone) "
        "VALUES ('%s', 'Bench', 'Europe/Paris'); "
        "INSERT INTO analytics.membership (company_id, user_id, "
        "department_id, manager_id, valid_from) "
        "SELECT '%s', ('11111111-0000-4000-8000-' || lpad(u::text, 12, "
        "'0'))::uuid, ('dddddddd-0000-4000-8000-' || lpad((u %% 20)::text, "
        "12, '0'))::uuid, ('11111111-0000-4000-8000-' || lpad((u / 10 * "
        "10)::text, 12, '0'))::uuid, '2025-01-01' "
        "FROM generate_series(0, %d) u",
        S_COMPANY, S_COMPANY, S_USERS - 1);
    int rc = bench_sql (sql);
    free (sql);
    return rc;
}

static double
s_seconds (PGconn *conn, const char *sql)
{
    int64_t start = fy_clock_mono_ns ();
    PGresult *res = PQexec (conn, sql);
    double seconds = (double) (fy_clock_mono_ns () - start) / 1e9;
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        fprintf (stderr, "bench: %s", PQerrorMessage (conn));
        seconds = -1;
    }
    PQclear (res);
    return seconds;
}

static int
s_rollup (const char *srcdir)
{
    if (bench_scratch (srcdir, "ferry_bench_analytics_rollup"))
        return -1;
    int rc = s_organisation ();
    //  A fact every 2.592 s over 30 days, each of one of the users, of the
    //  usual kinds.
    char *fill = fy_xasprintf (
        "SELECT analytics.ensure_partitions('2025-06-01', 2); "
        "INSERT INTO analytics.facts (event_id, company_id, occurred_at, "
        "kind, user_id, subject_id) "
        "SELECT gen_random_uuid(), '%s', timestamptz '2025-06-01 00:00Z' "
        "+ g * interval '2.592 seconds', (ARRAY['login', 'goal_created', "
        "'goal_progressed', 'goal_completed', 'feedback_given', "
        "'one_on_one_held', 'review_assigned', 'review_submitted'])[g %% 8 "
        "+ 1], ('11111111-0000-4000-8000-' || lpad((g::bigint * 7919 %% "
        "%d)::text, "
        "12, '0'))::uuid, gen_random_uuid() "
        "FROM generate_series(0, %d) g; ANALYZE analytics.facts",
        S_COMPANY, S_USERS, S_FACTS - 1);
    int64_t start = fy_clock_mono_ns ();
    if (rc == 0)
        rc = bench_sql (fill);
    free (fill);
    fprintf (stderr, "bench: %d facts generated in %.1f s\n", S_FACTS,
             (double) (fy_clock_mono_ns () - start) / 1e9);
    PGconn *conn = PQconnectdb (bench_url);
    double value = -1, limit = -1;
    if (rc == 0) {
        limit = s_seconds (
            conn, "SELECT (occurred_at AT TIME ZONE 'Europe/Paris')::date, "
                  "count(*), count(DISTINCT user_id) FROM analytics.facts "
                  "GROUP BY 1");
        value = s_seconds (conn, "SELECT analytics.rollup_days('" S_COMPANY
                                 "', '2025-06-01', '2025-06-30')");
    }
    PQfinish (conn);
    bench_drop ();
    if (value < 0 || limit < 0)
        return -1;
    printf ("bench analytics_rollup_1m %.2f s limit=%.2f ratio=%.1f "
            "(analytics.rollup_days over %d facts of %d users, 30 days, "
            "every dimension; limit one aggregate pass over the same facts; "
            "no bound)\n",
            value, limit, value / limit, S_FACTS, S_USERS);
    fflush (stdout);
    return 0;
}

static size_t
s_sink (char *data, size_t size, size_t count, void *arg)
{
    (void) data;
    (void) arg;
    return size * count;
}

//  S_QUERIES requests, one keep-alive connection; their latencies in ms
//  sorted in ms. Returns 0 or -1.
static int
s_requests (const char *url, const char *token, double *ms)
{
    CURL *curl = curl_easy_init ();
    char auth [600];
    snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *headers = curl_slist_append (NULL, auth);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_sink);
    int rc = 0;
    //  The first ones wait for the worker to connect and warm it up.
    for (int i = -50; i < S_QUERIES && rc == 0; i++) {
        int64_t start = fy_clock_mono_ns ();
        long status = 0;
        if (curl_easy_perform (curl) == CURLE_OK)
            curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
        if (i < 0) {
            if (status != 200)
                usleep (100000);
            continue;
        }
        ms [i] = (double) (fy_clock_mono_ns () - start) / 1e6;
        if (status != 200) {
            fprintf (stderr, "bench: GET stats: %ld\n", status);
            rc = -1;
        }
    }
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    bench_sort (ms, S_QUERIES);
    return rc;
}

static int
s_query (const char *srcdir)
{
    if (bench_scratch (srcdir, "ferry_bench_analytics_query"))
        return -1;
    int rc = s_organisation ();
    //  A year of daily rows of every dimension: the company, 20
    //  departments, 500 managers, 5,000 users.
    char *fill = fy_xasprintf (
        "INSERT INTO analytics.rollup_daily (company_id, day, dim, dim_id, "
        "headcount, active_users, wau, mau, actions, logins, goals_created, "
        "goals_completed, reviews_assigned, reviews_submitted, "
        "reviews_on_time, reviews_completed, feedback_given, "
        "one_on_ones_held) "
        "SELECT '%s', d::date, k.dim, k.id, k.n, k.n * 7 / 10, k.n * 9 / 10, "
        "k.n, k.n * 3, k.n, k.n / 5, k.n / 10, k.n / 20, k.n / 21, k.n / 25, "
        "k.n / 30, k.n / 4, k.n / 15 "
        "FROM generate_series(date '2025-01-01', date '2025-12-31', "
        "interval '1 day') d, (SELECT 'company' AS dim, '%s'::uuid AS id, "
        "%d AS n UNION ALL SELECT DISTINCT 'department', department_id, 250 "
        "FROM analytics.membership UNION ALL SELECT DISTINCT 'manager', "
        "manager_id, 10 FROM analytics.membership UNION ALL SELECT 'user', "
        "user_id, 1 FROM analytics.membership) k; "
        "INSERT INTO analytics.watermarks (company_id, granularity, done_to) "
        "VALUES ('%s', 'day', '2026-01-01'); ANALYZE analytics.rollup_daily",
        S_COMPANY, S_COMPANY, S_USERS, S_COMPANY);
    int64_t start = fy_clock_mono_ns ();
    if (rc == 0)
        rc = bench_sql (fill);
    free (fill);
    fprintf (stderr, "bench: a year of daily rollups generated in %.1f s\n",
             (double) (fy_clock_mono_ns () - start) / 1e9);
    char dir [] = "/tmp/bench_analytics_XXXXXX";
    if (rc == 0 && !mkdtemp (dir))
        rc = -1;
    double *ms = fy_xcalloc (S_QUERIES, sizeof *ms);
    pid_t broker = 0, worker = 0;
    if (rc == 0) {
        static const char secret [] = "bench-analytics-secret-0123456789abcdef";
        char set_secret [100], set_port [40], set_worker [320], log [300];
        int port = 20000 + (int) (getpid () % 10000);
        proc_broker_at_t at = proc_broker_at (dir);
        snprintf (set_secret, sizeof set_secret, "http.jwt_secret=%s", secret);
        snprintf (set_port, sizeof set_port, "http.port=%d", port);
        snprintf (set_worker, sizeof set_worker, "analytics.broker=%s",
                  at.endpoint);
        snprintf (log, sizeof log, "%s/worker.log", dir);
        broker = proc_start ("broker/ferry-broker", "--set", at.set, "--set",
                             set_secret, "--set", set_port, "--set",
                             "http.address=127.0.0.1", "--set",
                             "log.level=warn", NULL);
        setenv ("DATABASE_URL", bench_url, 1);
        const char *args [] = { "--set", set_worker,
                                "--set", "analytics.jobs=false",
                                "--set", "log.level=warn",
                                NULL };
        worker = proc_spawn (log, "workers/analytics/ferry-analytics", args);
        setenv ("DATABASE_URL", bench_admin, 1);
        char *command = fy_xasprintf ("tools/ferryctl --set "
                                      "http.jwt_secret=%s token",
                                      secret);
        FILE *pipe = popen (command, "r");
        free (command);
        char token [512] = "";
        if (!pipe || !fgets (token, sizeof token, pipe))
            rc = -1;
        if (pipe)
            pclose (pipe);
        token [strcspn (token, "\n")] = '\0';
        char url [300];
        snprintf (url, sizeof url,
                  "http://127.0.0.1:%d/analytics/company/" S_COMPANY
                  "/stats?from=2024-12-31T23:00:00Z&to=2025-12-31T23:00:00Z"
                  "&granularity=day",
                  port);
        if (rc == 0)
            rc = s_requests (url, token, ms);
    }
    if (worker > 0)
        proc_stop (worker, SIGTERM);
    if (broker > 0)
        proc_stop (broker, SIGTERM);
    char *command = fy_xasprintf ("rm -rf '%s'", dir);
    if (system (command))
        fprintf (stderr, "bench: could not remove %s\n", dir);
    free (command);
    bench_drop ();
    if (rc) {
        free (ms);
        return -1;
    }
    double p99 = ms [S_QUERIES * 99 / 100];
    printf ("bench analytics_query_p99 %.2f ms limit=%.0f ratio=%.2f "
            "(GET /analytics/company/:id/stats, a year by the day, through "
            "ferry-broker to ferry-analytics; %d-person company, every "
            "dimension's daily rows; p50 %.2f ms)\n",
            p99, S_QUERY_BOUND_MS, p99 / S_QUERY_BOUND_MS, S_USERS,
            ms [S_QUERIES / 2]);
    free (ms);
    return p99 <= S_QUERY_BOUND_MS ? 0 : 1;
}

int
main (int argc, char **argv)
{
    if (argc != 3
        || (strcmp (argv [2], "ingest") && strcmp (argv [2], "rollup")
            && strcmp (argv [2], "query"))) {
        fprintf (stderr, "usage: bench_analytics SRCDIR ingest|rollup|query\n");
        return 2;
    }
    if (bench_init ())
        return 1;
    int rc = strcmp (argv [2], "ingest") == 0   ? s_ingest (argv [1])
             : strcmp (argv [2], "rollup") == 0 ? s_rollup (argv [1])
                                                : s_query (argv [1]);
    bench_fini ();
    return rc ? 1 : 0;
}
