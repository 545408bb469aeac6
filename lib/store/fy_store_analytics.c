/*  fy_store_analytics: analytics on the store's connection (fy_store_pg).
    The work is in SQL (sql/0006_analytics.sql): a batch travels as one
    jsonb array parameter to analytics.apply, which maps it to facts and
    organisation rows set by set, so a batch costs one round trip plus
    BEGIN and COMMIT. Every operation is idempotent (ids are recorded,
    rollups are rebuilt from facts, reads only read), so a connection lost
    on the way gets one reconnect and one retry, as in fy_store. */
#include "store/fy_store_analytics.h"
#include "ferry/fy_json.h"
#include "ferry/fy_time.h"
#include "store/fy_store_pg.h"

#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A number PostgreSQL printed (a count); 0 if it is not one.
static int
s_int (const char *text)
{
    int64_t value = 0;
    if (fy_parse_int64 (text, INT32_MIN, INT32_MAX, &value))
        value = 0;
    return (int) value;
}

//  A query's outcome on a connection.
typedef PGresult *(s_step_fn) (fy_store_t *store, PGconn *conn, void *arg,
                               fy_error_t *err);

//  Run step on the store's connection, (re)connecting first; a connection
//  lost on the way gets one new connection and one more try.
static PGresult *
s_with_retry (fy_store_t *store, s_step_fn *step, void *arg, fy_error_t *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        PGconn *conn = fy_store_pg (store, err);
        if (!conn)
            return NULL;
        PGresult *res = step (store, conn, arg, err);
        if (res)
            return res;
        int saved = errno;
        fy_store_pg_rollback (store);
        if (!fy_store_pg_lost (store)) {
            errno = saved;
            return NULL;
        }
    }
    return NULL;
}

//  ---------------------------------------------------------------------
//  Batches

typedef struct {
    const char *batch;          //  the envelopes, a JSON array
} s_apply_t;

static PGresult *
s_apply_step (fy_store_t *store, PGconn *conn, void *arg, fy_error_t *err)
{
    s_apply_t *self = arg;
    PGresult *res =
        fy_store_pg_query (store, conn, "BEGIN", 0, NULL, "begin", err);
    if (!res)
        return NULL;
    PQclear (res);
    const char *values [] = { self->batch };
    PGresult *rows =
        fy_store_pg_query (store, conn,
                           "SELECT out_id, out_outcome, "
                           "to_char(out_stored_at AT TIME ZONE 'UTC', "
                           "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') "
                           "FROM analytics.apply($1::jsonb)",
                           1, values, "apply", err);
    if (!rows)
        return NULL;
    res = fy_store_pg_query (store, conn, "COMMIT", 0, NULL, "commit", err);
    if (!res) {
        PQclear (rows);
        return NULL;
    }
    PQclear (res);
    return rows;
}

int
fy_store_analytics_apply (fy_store_t *self, fy_event_t **events, size_t count,
                          fy_store_analytics_batch_t *batch, fy_error_t *err)
{
    assert (self);
    assert (events || count == 0);
    assert (batch);
    memset (batch, 0, sizeof *batch);
    if (count == 0)
        return 0;
    json_t *array = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append (array, fy_event_json (events [i]));
    s_apply_t apply = { fy_json_dumps (array, 0, NULL) };
    json_decref (array);
    PGresult *rows = s_with_retry (self, s_apply_step, &apply, err);
    free ((char *) apply.batch);
    if (!rows)
        return -1;
    //  One row per event, in batch order.
    for (int i = 0; i < PQntuples (rows) && (size_t) i < count; i++) {
        const char *outcome = PQgetvalue (rows, i, 1);
        if (strcmp (outcome, "applied") == 0)
            batch->applied++;
        else if (strcmp (outcome, "duplicate") == 0)
            batch->duplicates++;
        else {
            if (batch->conflicts < FY_STORE_ANALYTICS_CONFLICTS_KEPT) {
                fy_store_conflict_t *c = &batch->conflict [batch->conflicts];
                snprintf (c->id, sizeof c->id, "%s", PQgetvalue (rows, i, 0));
                snprintf (c->stored_at, sizeof c->stored_at, "%s",
                          PQgetvalue (rows, i, 2));
                snprintf (c->new_at, sizeof c->new_at, "%s",
                          fy_event_occurred_at (events [i]));
                snprintf (c->fields, sizeof c->fields, "body");
            }
            batch->conflicts++;
        }
    }
    PQclear (rows);
    return 0;
}

//  ---------------------------------------------------------------------
//  Jobs

typedef struct {
    const char *values [4];
} s_run_t;

//  The jobs' lock is taken without waiting: a process that finds it held
//  leaves the job to the holder (the job of that instant is recorded
//  once in analytics.job_runs, so a later taker finds it done).
static PGresult *
s_run_step (fy_store_t *store, PGconn *conn, void *arg, fy_error_t *err)
{
    s_run_t *self = arg;
    PGresult *res =
        fy_store_pg_query (store, conn, "BEGIN", 0, NULL, "begin", err);
    if (!res)
        return NULL;
    PQclear (res);
    res = fy_store_pg_query (
        store, conn,
        "SELECT pg_try_advisory_xact_lock(analytics.job_lock_key())", 0, NULL,
        "job lock", err);
    if (!res)
        return NULL;
    bool locked = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    PQclear (res);
    if (!locked) {
        PQclear (PQexec (conn, "ROLLBACK"));
        return PQmakeEmptyPGresult (conn, PGRES_TUPLES_OK);
    }
    PGresult *rows =
        fy_store_pg_query (store, conn,
                           "SELECT analytics.run($1, $2::timestamptz, "
                           "$3::timestamptz, $4)",
                           4, self->values, "rollup", err);
    if (!rows)
        return NULL;
    res = fy_store_pg_query (store, conn, "COMMIT", 0, NULL, "commit", err);
    if (!res) {
        PQclear (rows);
        return NULL;
    }
    PQclear (res);
    return rows;
}

int
fy_store_analytics_run (fy_store_t *self, const char *granularity,
                        int64_t due_ms, int64_t now_ms, const char *runner,
                        int *buckets_p, fy_error_t *err)
{
    assert (self);
    assert (granularity);
    assert (runner);
    char due [FY_TIME_RFC3339_SIZE], now [FY_TIME_RFC3339_SIZE];
    fy_time_format (due_ms, due);
    fy_time_format (now_ms, now);
    s_run_t run = { { granularity, due, now, runner } };
    PGresult *res = s_with_retry (self, s_run_step, &run, err);
    if (!res)
        return -1;
    //  No row: the lock was held; a NULL: the job of due ran already.
    int rc = PQntuples (res) == 1 && !PQgetisnull (res, 0, 0);
    if (rc && buckets_p)
        *buckets_p = s_int (PQgetvalue (res, 0, 0));
    PQclear (res);
    return rc;
}

typedef struct {
    const char *sql;
    const char *what;
    const char *values [5];
    int count;
} s_read_t;

static PGresult *
s_read_step (fy_store_t *store, PGconn *conn, void *arg, fy_error_t *err)
{
    s_read_t *self = arg;
    return fy_store_pg_query (store, conn, self->sql, self->count, self->values,
                              self->what, err);
}

int
fy_store_analytics_recompute (fy_store_t *self, const char *company,
                              const char *from, const char *to, int *marked_p,
                              fy_error_t *err)
{
    assert (self);
    s_read_t read = { "SELECT analytics.recompute($1::uuid, $2::timestamptz, "
                      "$3::timestamptz)",
                      "recompute",
                      { company, from, to },
                      3 };
    PGresult *res = s_with_retry (self, s_read_step, &read, err);
    if (!res)
        return -1;
    if (marked_p)
        *marked_p = s_int (PQgetvalue (res, 0, 0));
    PQclear (res);
    return 0;
}

//  ---------------------------------------------------------------------
//  Answers

//  The JSON text of a one-value answer; NULL with ENOENT when it is NULL.
static char *
s_answer (fy_store_t *self, s_read_t *read, fy_error_t *err)
{
    PGresult *res = s_with_retry (self, s_read_step, read, err);
    if (!res)
        return NULL;
    char *answer = NULL;
    if (PQntuples (res) == 1 && !PQgetisnull (res, 0, 0))
        answer = fy_xstrdup (PQgetvalue (res, 0, 0));
    PQclear (res);
    if (!answer) {
        fy_error_set (err, "%s: not found", read->what);
        errno = ENOENT;
    }
    return answer;
}

char *
fy_store_analytics_stats (fy_store_t *self, const char *company,
                          const char *from, const char *to,
                          const char *granularity, fy_error_t *err)
{
    assert (self);
    s_read_t read = { "SELECT analytics.api_company_stats($1::uuid, "
                      "$2::timestamptz, $3::timestamptz, $4)::text",
                      "company stats",
                      { company, from, to, granularity },
                      4 };
    return s_answer (self, &read, err);
}

char *
fy_store_analytics_users (fy_store_t *self, const char *company,
                          const char *from, const char *to, const char *cursor,
                          int limit, fy_error_t *err)
{
    assert (self);
    assert (limit > 0 && limit <= FY_STORE_ANALYTICS_PAGE_MAX);
    char size [16];
    snprintf (size, sizeof size, "%d", limit);
    s_read_t read = { "SELECT analytics.api_company_users($1::uuid, "
                      "$2::timestamptz, $3::timestamptz, $4::uuid, "
                      "$5::integer)::text",
                      "company users",
                      { company, from, to, cursor, size },
                      5 };
    return s_answer (self, &read, err);
}

char *
fy_store_analytics_departments (fy_store_t *self, const char *company,
                                const char *from, const char *to, int min_group,
                                fy_error_t *err)
{
    assert (self);
    char group [16];
    snprintf (group, sizeof group, "%d", min_group);
    s_read_t read = { "SELECT analytics.api_company_departments($1::uuid, "
                      "$2::timestamptz, $3::timestamptz, $4::integer)::text",
                      "company departments",
                      { company, from, to, group },
                      4 };
    return s_answer (self, &read, err);
}

char *
fy_store_analytics_manager (fy_store_t *self, const char *manager,
                            const char *from, const char *to, int min_group,
                            fy_error_t *err)
{
    assert (self);
    char group [16];
    snprintf (group, sizeof group, "%d", min_group);
    s_read_t read = { "SELECT analytics.api_manager_performance($1::uuid, "
                      "$2::timestamptz, $3::timestamptz, $4::integer)::text",
                      "manager performance",
                      { manager, from, to, group },
                      4 };
    return s_answer (self, &read, err);
}
