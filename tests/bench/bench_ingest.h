/*  bench_ingest: the harness of the store benchmarks (bench_audit,
    bench_analytics), against the stack's PostgreSQL (DATABASE_URL): a
    scratch database migrated with the real ferryctl, and the ingest
    figure measured one way for every worker that writes events to
    PostgreSQL: events published with fy_client at full credit, ten per
    PUBLISH as the bridge publishes an SQS receive, to
    ferry-broker, written by the worker (its default batches; a pool of
    N), all real processes, timed to the last ACK (the worker ACKs after
    COMMIT), then counted; synchronous_commit on for every session
    (PGOPTIONS), the stack's server with fsync off. Its limit: psql's
    \copy of the same rows into the same (emptied) table, in the same
    run. Best of two rounds each, alternating, as the machine is shared. */
#ifndef BENCH_INGEST_H_INCLUDED
#define BENCH_INGEST_H_INCLUDED

#include "ferry/ferry.h"

#include <libpq-fe.h>

//  The most worker processes of a pool.
#define BENCH_WORKERS_MAX 8

//  What one ingest figure measures.
typedef struct {
    const char *name;           //  "audit_ingest"
    const char *unit;           //  "rows/s"
    const char *program;        //  "workers/audit/ferry-audit"
    const char *broker_key;     //  "audit.broker"
    const char *routes;         //  "audit:*"
    const char *count_sql;      //  the rows written: one count(*)
    const char *copy_table;     //  the \copy limit: this table
    const char *copy_columns;   //  and these columns
    const char *empty_sql;      //  empties what the run fills
    const char *prepare_sql;    //  once, outside the clock (may be NULL)
    fy_event_t *(*event) (int n);   //  the nth event
    int rows;                   //  per timed run (2,000 more warm up)
    int workers;                //  processes of the worker
    double floor;               //  the least ratio that passes
} bench_ingest_t;

//  The stack's database (DATABASE_URL at start), and the scratch one.
extern char *bench_admin;
extern char bench_url [512];

//  Keep DATABASE_URL as bench_admin (freed by bench_fini). Returns 0, or
//  -1 having said to start the stack.
int
bench_init (void);
void
bench_fini (void);

//  Sort count latencies ascending (for their quantiles).
void
bench_sort (double *values, size_t count);

//  A scratch database named prefix_<pid>, migrated; bench_url points at
//  it. Returns 0 or -1.
int
bench_scratch (const char *srcdir, const char *prefix);

//  Drop the scratch database.
void
bench_drop (void);

//  Run sql (statements) on the scratch database. Returns 0 or -1.
int
bench_sql (const char *sql);

//  The first column of the first row of sql on conn as a number, or -1.
long
bench_number (PGconn *conn, const char *sql);

//  Measure spec in a scratch database of its own and print its line.
//  Returns 0, 1 when the ratio is below its floor, or -1 when the run
//  failed.
int
bench_ingest (const char *srcdir, const bench_ingest_t *spec);

#endif
