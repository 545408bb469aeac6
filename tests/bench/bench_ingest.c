/*  bench_ingest: see bench_ingest.h. */
#include "bench_ingest.h"
#include "integration/proc.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_INGEST_TIMEOUT_MS 120000
#define S_ROUNDS 2
#define S_PUBLISH_BATCH 10
//  Events through a worker before the clock starts: more than its lanes
//  take at once (analytics.connections and audit.connections batches of
//  500), so every lane has connected and met its statements.
#define S_WARM 2000
//  The most server backends on the scratch database counted.
#define S_BACKENDS_MAX 64

char *bench_admin;
char bench_url [512];
static char s_db [64];

int
bench_init (void)
{
    const char *admin = getenv ("DATABASE_URL");
    if (!admin || !*admin || !strrchr (admin, '/')) {
        fprintf (stderr, "bench: DATABASE_URL is not set: start "
                         "contrib/stack.sh and eval its env\n");
        return -1;
    }
    //  A copy: setenv would free the string getenv gave.
    bench_admin = fy_xstrdup (admin);
    return 0;
}

void
bench_fini (void)
{
    free (bench_admin);
    bench_admin = NULL;
}

static int
s_double_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

void
bench_sort (double *values, size_t count)
{
    qsort (values, count, sizeof *values, s_double_compare);
}

int
bench_sql (const char *sql)
{
    PGconn *conn = PQconnectdb (bench_url);
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
    PGconn *conn = PQconnectdb (bench_admin);
    PGresult *res = PQexec (conn, sql);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc)
        fprintf (stderr, "bench: %s\n", PQerrorMessage (conn));
    PQclear (res);
    PQfinish (conn);
    return rc;
}

long
bench_number (PGconn *conn, const char *sql)
{
    PGresult *res = PQexec (conn, sql);
    long value = PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res)
                     ? strtol (PQgetvalue (res, 0, 0), NULL, 10)
                     : -1;
    PQclear (res);
    return value;
}

int
bench_scratch (const char *srcdir, const char *prefix)
{
    snprintf (s_db, sizeof s_db, "%s_%ld", prefix, (long) getpid ());
    char *sql = fy_xasprintf ("CREATE DATABASE %s TEMPLATE template0", s_db);
    int rc = s_admin_sql (sql);
    free (sql);
    if (rc)
        return -1;
    const char *slash = strrchr (bench_admin, '/');
    snprintf (bench_url, sizeof bench_url, "%.*s/%s",
              (int) (slash - bench_admin), bench_admin, s_db);
    setenv ("DATABASE_URL", bench_url, 1);
    char *command = fy_xasprintf ("tools/ferryctl --set "
                                  "store.migrations_dir='%s/sql' migrate "
                                  ">/dev/null",
                                  srcdir);
    rc = system (command) == 0 ? 0 : -1;
    free (command);
    setenv ("DATABASE_URL", bench_admin, 1);
    return rc;
}

void
bench_drop (void)
{
    char *sql = fy_xasprintf ("DROP DATABASE IF EXISTS %s WITH (FORCE)", s_db);
    if (s_admin_sql (sql))
        fprintf (stderr, "bench: could not drop %s\n", s_db);
    free (sql);
}

//  The processes of the ingest run, stopped at exit whatever happens.
static pid_t s_broker, s_workers [BENCH_WORKERS_MAX];
//  ACKs heard by the publisher.
static size_t s_acked;

static void
s_stop_all (void)
{
    for (int i = 0; i < BENCH_WORKERS_MAX; i++)
        if (s_workers [i] > 0)
            proc_stop (s_workers [i], SIGTERM);
    if (s_broker > 0)
        proc_stop (s_broker, SIGTERM);
    memset (s_workers, 0, sizeof s_workers);
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
s_workers_cpu_s (int count)
{
    double sum = 0;
    for (int i = 0; i < count; i++)
        sum += proc_cpu_s (s_workers [i]);
    return sum;
}

//  The server's backends on the scratch database but conn's own (the
//  workers' connections), with their CPU (s) so far.
typedef struct {
    int count;
    pid_t pid [S_BACKENDS_MAX];
    double cpu [S_BACKENDS_MAX];
} s_backends_t;

static void
s_backends (PGconn *conn, s_backends_t *backends)
{
    PGresult *res = PQexec (conn, "SELECT pid FROM pg_stat_activity WHERE "
                                  "datname = current_database() AND pid <> "
                                  "pg_backend_pid()");
    backends->count = 0;
    for (int r = 0; PQresultStatus (res) == PGRES_TUPLES_OK
                    && r < PQntuples (res) && r < S_BACKENDS_MAX;
         r++) {
        pid_t pid = (pid_t) strtol (PQgetvalue (res, r, 0), NULL, 10);
        backends->pid [backends->count] = pid;
        backends->cpu [backends->count++] = proc_cpu_s (pid);
    }
    PQclear (res);
}

//  The CPU the backends spent from before to after: a connection made
//  on the way counts from nothing (the lanes connect at their first
//  batch).
static double
s_backends_cpu_s (const s_backends_t *before, const s_backends_t *after)
{
    double sum = 0;
    for (int i = 0; i < after->count; i++) {
        sum += after->cpu [i] > 0 ? after->cpu [i] : 0;
        for (int j = 0; j < before->count; j++)
            if (before->pid [j] == after->pid [i] && before->cpu [j] > 0)
                sum -= before->cpu [j];
    }
    return sum;
}

//  Publish events [from, to) at full credit and wait for every ACK: the
//  broker ACKs a publish only when the worker has, and the worker only
//  after COMMIT, so the last ACK is the last row committed. Then the
//  count must be want (counted once, so the counting does not load the
//  server during the run). Returns the seconds from the first publish to
//  the last ACK, or -1.
static double
s_publish (const bench_ingest_t *spec, fy_client_t *client, PGconn *conn,
           char **data, size_t *sizes, fy_event_t **events, int from, int to,
           long want)
{
    size_t goal = s_acked + (size_t) (to - from);
    int next = from;
    int64_t start = fy_clock_mono_ns ();
    int64_t until = fy_clock_mono_ms () + S_INGEST_TIMEOUT_MS;
    while (s_acked < goal && fy_clock_mono_ms () < until) {
        //  Ten at a time, as the bridge publishes what one SQS receive
        //  gives it (batched PUBLISHes).
        while (next < to && fy_client_credit (client) > 0) {
            fy_client_event_t batch [S_PUBLISH_BATCH];
            size_t count = 0;
            while (count < S_PUBLISH_BATCH && next + (int) count < to
                   && count < fy_client_credit (client)) {
                fy_event_t *event = events [next + (int) count];
                batch [count] = (fy_client_event_t) {
                    .id = fy_event_id (event),
                    .type = fy_event_type (event),
                    .msgpack = data [next + (int) count],
                    .size = sizes [next + (int) count],
                };
                count++;
            }
            size_t published = 0;
            if (fy_client_publish_batch (client, batch, count, &published)) {
                fprintf (stderr, "bench: publish: %s\n", strerror (errno));
                return -1;
            }
            next += (int) published;
        }
        if (fy_client_wait (client, 100) && errno != EINTR)
            return -1;
    }
    double seconds = (double) (fy_clock_mono_ns () - start) / 1e9;
    long rows = bench_number (conn, spec->count_sql);
    if (s_acked < goal || rows != want) {
        fprintf (stderr, "bench: %zu of %zu ACKed, %ld rows of %ld\n", s_acked,
                 goal, rows, want);
        return -1;
    }
    return seconds;
}

//  One end-to-end run: broker and worker as real processes, S_WARM
//  events through them (the worker's lanes are connected, the statements
//  prepared), the tables emptied, then the spec's rows timed. Returns
//  rows/s, or -1.
static double
s_ingest_run (const char *srcdir, const bench_ingest_t *spec, char **data,
              size_t *sizes, fy_event_t **events)
{
    char dir [] = "/tmp/bench_ingest_XXXXXX";
    if (!mkdtemp (dir))
        return -1;
    char broker_set [320], routes [200], schema [600], log [300];
    proc_broker_at_t at = proc_broker_at (dir);
    snprintf (broker_set, sizeof broker_set, "%s=%s", spec->broker_key,
              at.endpoint);
    snprintf (routes, sizeof routes, "broker.routes=%s", spec->routes);
    snprintf (schema, sizeof schema,
              "events.schema=%s/schemas/"
              "events.schema.json",
              srcdir);
    snprintf (log, sizeof log, "%s/worker.log", dir);
    //  The worker's store reads DATABASE_URL; PGOPTIONS (synchronous
    //  commit on) is inherited.
    setenv ("DATABASE_URL", bench_url, 1);
    s_broker = proc_start ("broker/ferry-broker", "--set", at.set, "--set",
                           routes, "--set", "http.enabled=false", "--set",
                           "log.level=warn", NULL);
    const char *args [] = { "--set", broker_set,       "--set", schema,
                            "--set", "log.level=warn", NULL };
    for (int i = 0; i < spec->workers; i++)
        s_workers [i] = proc_spawn (log, spec->program, args);
    setenv ("DATABASE_URL", bench_admin, 1);
    double rate = -1;
    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (at.endpoint, spec->name, &err);
    PGconn *conn = PQconnectdb (bench_url);
    if (!client || PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "bench: %s%s\n", err.text, PQerrorMessage (conn));
        goto out;
    }
    fy_client_handlers_t handlers = { .ack = s_on_ack, .nack = s_on_nack };
    fy_client_set_handlers (client, &handlers);
    if (s_publish (spec, client, conn, data, sizes, events, spec->rows,
                   spec->rows + S_WARM, S_WARM)
            < 0
        || bench_sql (spec->empty_sql))
        goto out;
    double worker_cpu = s_workers_cpu_s (spec->workers);
    double broker_cpu = proc_cpu_s (s_broker);
    s_backends_t before, after;
    s_backends (conn, &before);
    double publisher_cpu = proc_self_cpu_s ();
    double seconds = s_publish (spec, client, conn, data, sizes, events, 0,
                                spec->rows, spec->rows);
    if (seconds > 0) {
        rate = spec->rows / seconds;
        s_backends (conn, &after);
        //  Where the time goes, for whoever reads the figure: a worker
        //  busy all along is the bottleneck; one mostly idle waits on
        //  PostgreSQL. Per event, the CPU of each process (the server's
        //  summed over the workers' backends), which a shared machine
        //  moves less than the rates.
        double us = 1e6 / spec->rows;
        fprintf (stderr,
                 "bench: %s run: %.2f s; CPU per event: %s %.1f us, "
                 "ferry-broker %.1f us, PostgreSQL %.1f us, publisher %.1f "
                 "us\n",
                 spec->name, seconds, spec->program,
                 (s_workers_cpu_s (spec->workers) - worker_cpu) * us,
                 (proc_cpu_s (s_broker) - broker_cpu) * us,
                 s_backends_cpu_s (&before, &after) * us,
                 (proc_self_cpu_s () - publisher_cpu) * us);
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
s_copy_run (const bench_ingest_t *spec)
{
    char file [] = "/tmp/bench_ingest_XXXXXX";
    int fd = mkstemp (file);
    if (fd < 0)
        return -1;
    close (fd);
    char *out =
        fy_xasprintf ("psql -qX '%s' -c \"\\copy (SELECT %s FROM "
                      "%s) TO '%s'\"",
                      bench_url, spec->copy_columns, spec->copy_table, file);
    char *in =
        fy_xasprintf ("psql -qX '%s' -c \"\\copy %s (%s) "
                      "FROM '%s'\"",
                      bench_url, spec->copy_table, spec->copy_columns, file);
    int rc = system (out) == 0 && bench_sql (spec->empty_sql) == 0 ? 0 : -1;
    int64_t start = fy_clock_mono_ns ();
    if (rc == 0)
        rc = system (in) == 0 ? 0 : -1;
    double seconds = (double) (fy_clock_mono_ns () - start) / 1e9;
    free (out);
    free (in);
    unlink (file);
    return rc ? -1 : spec->rows / seconds;
}

int
bench_ingest (const char *srcdir, const bench_ingest_t *spec)
{
    assert (spec->workers >= 1 && spec->workers <= BENCH_WORKERS_MAX);
    char prefix [64];
    snprintf (prefix, sizeof prefix, "ferry_bench_%s", spec->name);
    if (bench_scratch (srcdir, prefix))
        return -1;
    //  synchronous_commit on for every session of this process, of the
    //  worker and of psql.
    setenv ("PGOPTIONS", "-c synchronous_commit=on", 1);
    fy_log_init ("bench", FY_LOG_WARN, FY_LOG_TEXT);
    //  The events, encoded ahead: the publisher must not be what is
    //  measured. S_WARM more than timed, to warm the path up.
    int count = spec->rows + S_WARM;
    fy_event_t **events = fy_xcalloc ((size_t) count, sizeof *events);
    char **data = fy_xcalloc ((size_t) count, sizeof *data);
    size_t *sizes = fy_xcalloc ((size_t) count, sizeof *sizes);
    int rc = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        events [i] = spec->event (i);
        rc = fy_event_encode_msgpack (events [i], &data [i], &sizes [i]);
    }
    char *json = fy_event_encode_json (events [0]);
    size_t json_size = strlen (json);
    free (json);
    //  Partitions are made outside the clock: the figure is the steady
    //  state. Best of S_ROUNDS each, alternating, as the machine is
    //  shared; the tables are emptied before each.
    if (rc == 0 && spec->prepare_sql)
        rc = bench_sql (spec->prepare_sql);
    double value = 0, limit = 0;
    for (int round = 0; round < S_ROUNDS && rc == 0; round++) {
        rc = bench_sql (spec->empty_sql);
        double got = rc ? -1 : s_ingest_run (srcdir, spec, data, sizes, events);
        if (got < 0)
            rc = -1;
        value = got > value ? got : value;
        got = rc ? -1 : s_copy_run (spec);
        if (got < 0)
            rc = -1;
        limit = got > limit ? got : limit;
    }
    for (int i = 0; i < count; i++) {
        fy_event_destroy (&events [i]);
        free (data [i]);
    }
    free (events);
    free (data);
    free (sizes);
    unsetenv ("PGOPTIONS");
    bench_drop ();
    if (rc)
        return -1;
    const char *worker = strrchr (spec->program, '/');
    printf ("bench %s %.0f %s limit=%.0f ratio=%.2f "
            "(%d events of %zu bytes published to ferry-broker, committed "
            "by %d %s, counted in PostgreSQL; synchronous_commit on, "
            "server fsync off; limit psql \\copy of the same rows; best of "
            "%d; floor %.1f)\n",
            spec->name, value, spec->unit, limit, value / limit, spec->rows,
            json_size, spec->workers, worker ? worker + 1 : spec->program,
            S_ROUNDS, spec->floor);
    fflush (stdout);
    return value / limit >= spec->floor ? 0 : 1;
}
