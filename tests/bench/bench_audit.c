/*  bench_audit: the audit store's figures, against the stack's PostgreSQL
    (DATABASE_URL). Each run makes a scratch database, migrates it with
    the real ferryctl and drops it.

    audit_ingest: committed audit rows/s end to end: 400-byte events
    published with fy_client at full credit to ferry-broker, written by
    one ferry-audit process (its default batches; a pool of N with
    BENCH_AUDIT_WORKERS=N), all real processes, timed to the
    last ACK (ferry-audit ACKs after COMMIT), then counted in
    audit.events;
    synchronous_commit on for every session (PGOPTIONS). The stack's
    server runs with fsync off, so a commit costs no disk flush here; the
    line says so. Limit: psql's \copy of the same rows into the same
    (emptied) table, in the same run, with the same setting. Best of two
    rounds each, alternating, as the machine is shared.

    audit_search_p99: p99 latency of fy_store_audit_search, company + a
    7-day range, limit 100, over 1,000,000 rows made with generate_series;
    bound 20 ms. */
#include "ferry/ferry.h"
#include "store/fy_store.h"
#include "integration/proc.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_INGEST_ROWS 50000
#define S_INGEST_TIMEOUT_MS 120000
#define S_ROUNDS 2
//  ferry-audit processes. One decodes the next batch while its last one
//  commits, which reaches the floor; a pool (supervisord numprocs) of
//  more adds CPU where one process is short of it.
#define S_WORKERS 1
#define S_WORKERS_MAX 8
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
    snprintf (s_url, sizeof s_url, "%.*s/%s", (int) (slash - s_admin), s_admin,
              s_db);
    setenv ("DATABASE_URL", s_url, 1);
    char *command = fy_xasprintf ("tools/ferryctl --set "
                                  "store.migrations_dir='%s/sql' migrate "
                                  ">/dev/null",
                                  srcdir);
    rc = system (command) == 0 ? 0 : -1;
    free (command);
    setenv ("DATABASE_URL", s_admin, 1);
    return rc;
}

static void
s_drop (void)
{
    char *sql = fy_xasprintf ("DROP DATABASE IF EXISTS %s WITH (FORCE)", s_db);
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

//  The processes of the ingest run, stopped at exit whatever happens.
static pid_t s_broker, s_audit [S_WORKERS_MAX];
static int s_workers;
//  ACKs heard by the publisher.
static size_t s_acked;

static void
s_stop_all (void)
{
    for (int i = 0; i < S_WORKERS_MAX; i++)
        if (s_audit [i] > 0)
            proc_stop (s_audit [i], SIGTERM);
    if (s_broker > 0)
        proc_stop (s_broker, SIGTERM);
    memset (s_audit, 0, sizeof s_audit);
    s_broker = 0;
}

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) seq;
    (void) arg;
    s_acked++;
}

static void
s_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
           const char *reason, void *arg)
{
    (void) client;
    (void) arg;
    fprintf (stderr, "bench: seq %llu NACKed (%s): %s\n",
             (unsigned long long) seq, retryable ? "retryable" : "permanent",
             reason);
    exit (1);
}

static double
s_workers_cpu_s (void)
{
    double sum = 0;
    for (int i = 0; i < s_workers; i++)
        sum += proc_cpu_s (s_audit [i]);
    return sum;
}

//  Rows in audit.events, or -1.
static long
s_rows (PGconn *conn)
{
    PGresult *res = PQexec (conn, "SELECT count(*) FROM audit.events");
    long rows = PQresultStatus (res) == PGRES_TUPLES_OK
                    ? strtol (PQgetvalue (res, 0, 0), NULL, 10)
                    : -1;
    PQclear (res);
    return rows;
}

//  Publish events [from, to) at full credit and wait for every ACK: the
//  broker ACKs a publish only when ferry-audit has, and ferry-audit
//  only after COMMIT, so the last ACK is the last row committed. Then
//  audit.events must hold want rows (counted once, so the counting does
//  not load the server during the run). Returns the seconds from the
//  first publish to the last ACK, or -1.
static double
s_publish (fy_client_t *client, PGconn *conn, char **data, size_t *sizes,
           fy_event_t **events, int from, int to, long want)
{
    size_t goal = s_acked + (size_t) (to - from);
    int next = from;
    int64_t start = fy_clock_mono_ns ();
    int64_t until = fy_clock_mono_ms () + S_INGEST_TIMEOUT_MS;
    while (s_acked < goal && fy_clock_mono_ms () < until) {
        while (next < to && fy_client_credit (client) > 0) {
            uint64_t seq;
            if (fy_client_publish_raw (client, fy_event_id (events [next]),
                                       fy_event_type (events [next]),
                                       data [next], sizes [next], &seq)) {
                fprintf (stderr, "bench: publish: %s\n", strerror (errno));
                return -1;
            }
            next++;
        }
        if (fy_client_wait (client, 100) && errno != EINTR)
            return -1;
    }
    double seconds = (double) (fy_clock_mono_ns () - start) / 1e9;
    long rows = s_rows (conn);
    if (s_acked < goal || rows != want) {
        fprintf (stderr, "bench: %zu of %zu ACKed, %ld rows of %ld\n", s_acked,
                 goal, rows, want);
        return -1;
    }
    return seconds;
}

//  One end-to-end run: broker and ferry-audit as real processes, a warm
//  event through them (the worker is connected, the statements
//  prepared), then the S_INGEST_ROWS timed. Returns rows/s, or -1.
static double
s_ingest_run (const char *srcdir, char **data, size_t *sizes,
              fy_event_t **events)
{
    char dir [] = "/tmp/bench_audit_XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char broker_set [320], schema [600], log [300];
    proc_broker_at_t at = proc_broker_at (dir);
    snprintf (broker_set, sizeof broker_set, "audit.broker=%s", at.endpoint);
    snprintf (schema, sizeof schema,
              "events.schema=%s/schemas/"
              "events.schema.json",
              srcdir);
    snprintf (log, sizeof log, "%s/audit.log", dir);
    //  The worker's store reads DATABASE_URL; PGOPTIONS (synchronous
    //  commit on) is inherited.
    setenv ("DATABASE_URL", s_url, 1);
    s_broker =
        proc_start ("broker/ferry-broker", "--set", at.set, "--set",
                    "broker.routes=audit:*", "--set", "http.enabled=false",
                    "--set", "log.level=warn", NULL);
    const char *args [] = { "--set", broker_set,       "--set", schema,
                            "--set", "log.level=warn", NULL };
    for (int i = 0; i < s_workers; i++)
        s_audit [i] = proc_spawn (log, "workers/audit/ferry-audit", args);
    setenv ("DATABASE_URL", s_admin, 1);
    double rate = -1;
    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (at.endpoint, "bench_audit", &err);
    PGconn *conn = PQconnectdb (s_url);
    if (!client || PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "bench: %s%s\n", err.text, PQerrorMessage (conn));
        goto out;
    }
    fy_client_handlers_t handlers = { .ack = s_on_ack, .nack = s_on_nack };
    fy_client_set_handlers (client, &handlers);
    if (s_publish (client, conn, data, sizes, events, S_INGEST_ROWS,
                   S_INGEST_ROWS + 1, 1)
        < 0)
        goto out;
    double audit_cpu = s_workers_cpu_s (), broker_cpu = proc_cpu_s (s_broker);
    double seconds = s_publish (client, conn, data, sizes, events, 0,
                                S_INGEST_ROWS, S_INGEST_ROWS + 1);
    if (seconds > 0) {
        rate = S_INGEST_ROWS / seconds;
        //  Where the time goes, for whoever reads the figure: a worker
        //  busy all along is the bottleneck; one mostly idle waits on
        //  PostgreSQL.
        fprintf (stderr,
                 "bench: audit_ingest run: %.2f s, ferry-audit "
                 "CPU %.2f s, ferry-broker CPU %.2f s\n",
                 seconds, s_workers_cpu_s () - audit_cpu,
                 proc_cpu_s (s_broker) - broker_cpu);
    }
out:
    fy_client_destroy (&client);
    PQfinish (conn);
    s_stop_all ();
    char *command = fy_xasprintf ("rm -rf '%s'", dir);
    if (system (command))
        fprintf (stderr, "bench: could not remove %s\n", dir);
    free (command);
    return rate;
}

//  psql's \copy of the rows the run wrote, into the same table emptied.
//  Returns rows/s, or -1.
static double
s_copy_run (void)
{
    char file [] = "/tmp/bench_audit_XXXXXX";
    int fd = mkstemp (file);
    if (fd < 0)
        return -1;
    close (fd);
    const char *cols =
        "id, occurred_at, type, version, source, company_id, "
        "actor_id, correlation_id, action, target_type, target_id, ip, "
        "user_agent, payload, changes";
    char *out = fy_xasprintf ("psql -qX '%s' -c \"\\copy (SELECT %s FROM "
                              "audit.events) TO '%s'\"",
                              s_url, cols, file);
    char *in = fy_xasprintf ("psql -qX '%s' -c \"\\copy audit.events (%s) "
                             "FROM '%s'\"",
                             s_url, cols, file);
    int rc = system (out) == 0
                     && s_psql ("TRUNCATE audit.events, audit.event_ids") == 0
                 ? 0
                 : -1;
    int64_t start = fy_clock_mono_ns ();
    if (rc == 0)
        rc = system (in) == 0 ? 0 : -1;
    double seconds = (double) (fy_clock_mono_ns () - start) / 1e9;
    free (out);
    free (in);
    unlink (file);
    return rc ? -1 : (S_INGEST_ROWS + 1) / seconds;
}

static int
s_ingest (const char *srcdir)
{
    if (s_scratch (srcdir))
        return -1;
    //  synchronous_commit on for every session of this process, of
    //  ferry-audit and of psql.
    setenv ("PGOPTIONS", "-c synchronous_commit=on", 1);
    fy_log_init ("bench", FY_LOG_WARN, FY_LOG_TEXT);
    //  The events, encoded ahead: the publisher must not be what is
    //  measured. One more than timed, to warm the path up.
    fy_event_t **events = fy_xcalloc (S_INGEST_ROWS + 1, sizeof *events);
    char **data = fy_xcalloc (S_INGEST_ROWS + 1, sizeof *data);
    size_t *sizes = fy_xcalloc (S_INGEST_ROWS + 1, sizeof *sizes);
    int rc = 0;
    for (int i = 0; i <= S_INGEST_ROWS && rc == 0; i++) {
        events [i] = s_event (i);
        rc = fy_event_encode_msgpack (events [i], &data [i], &sizes [i]);
    }
    char *json = fy_event_encode_json (events [0]);
    size_t json_size = strlen (json);
    free (json);
    //  The month's partition is made outside the clock: the figure is the
    //  steady state. Best of S_ROUNDS each, alternating, as the machine
    //  is shared; the tables are emptied before each.
    if (rc == 0)
        rc = s_psql ("SELECT audit.ensure_partitions('2025-06-01', 1)");
    double value = 0, limit = 0;
    for (int round = 0; round < S_ROUNDS && rc == 0; round++) {
        rc = s_psql ("TRUNCATE audit.events, audit.event_ids");
        double got = rc ? -1 : s_ingest_run (srcdir, data, sizes, events);
        if (got < 0)
            rc = -1;
        value = got > value ? got : value;
        got = rc ? -1 : s_copy_run ();
        if (got < 0)
            rc = -1;
        limit = got > limit ? got : limit;
    }
    for (int i = 0; i <= S_INGEST_ROWS; i++) {
        fy_event_destroy (&events [i]);
        free (data [i]);
    }
    free (events);
    free (data);
    free (sizes);
    unsetenv ("PGOPTIONS");
    s_drop ();
    if (rc)
        return -1;
    printf ("bench audit_ingest %.0f rows/s limit=%.0f ratio=%.2f "
            "(%d events of %zu bytes published to ferry-broker, committed "
            "by %d ferry-audit, counted in PostgreSQL; synchronous_commit on, "
            "server fsync off; limit psql \\copy of the same rows; best of "
            "%d; floor %.1f)\n",
            value, limit, value / limit, S_INGEST_ROWS, json_size, s_workers,
            S_ROUNDS, S_INGEST_FLOOR);
    fflush (stdout);
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
            fprintf (stderr, "bench: search: %s\n",
                     page ? "short page" : err.text);
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
    if (argc != 3
        || (strcmp (argv [2], "ingest") && strcmp (argv [2], "search"))) {
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
    //  BENCH_AUDIT_WORKERS=2 gives a pool's figure.
    const char *workers = getenv ("BENCH_AUDIT_WORKERS");
    int64_t count = S_WORKERS;
    if (workers && fy_parse_int64 (workers, 1, S_WORKERS_MAX, &count)) {
        fprintf (stderr, "bench: BENCH_AUDIT_WORKERS: 1 to %d\n",
                 S_WORKERS_MAX);
        free (s_admin);
        return 2;
    }
    s_workers = (int) count;
    int rc = strcmp (argv [2], "ingest") == 0 ? s_ingest (argv [1])
                                              : s_search (argv [1]);
    free (s_admin);
    return rc ? 1 : 0;
}
