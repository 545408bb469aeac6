/*  fy_store: the PostgreSQL implementation of the storage interface. One
    blocking libpq connection per store, (re)made on demand with a backoff
    between failed attempts; a connection lost during an operation gets
    one immediate reconnect and retry, which is safe because appends are
    idempotent (an event id is stored once, in audit.event_ids) and the
    rest only read. Every value
    travels as a query parameter or COPY data, never inside SQL text. */
#include "store/fy_store.h"
#include "ferry/fy_json.h"
#include "store/fy_store_pg.h"
#include "ferry/fy_log.h"
#include "ferry/fy_time.h"
#include "ferry/fy_uuid.h"

#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Backoff between failed connection attempts, doubling up to the max.
#define S_BACKOFF_MIN_MS 100
#define S_BACKOFF_MAX_MS 30000
//  Columns written per row, and the rows of one multi-row INSERT: the
//  protocol carries at most 65535 parameters per statement.
#define S_COLS 15
#define S_INSERT_ROWS 1000
//  Rows per pipeline sync, so neither side's socket buffer fills while
//  the other is still writing (a blocking connection would deadlock).
#define S_PIPELINE_ROWS 1000
//  Rows per FETCH of an export.
#define S_EXPORT_FETCH 1000
//  UTC months known to have a partition, remembered per connection.
#define S_MONTHS_MAX 64

//  PostgreSQL type OIDs of the parameters (pg_type.dat; stable forever).
#define S_OID_INT4 23
#define S_OID_TEXT 25
#define S_OID_INET 869
#define S_OID_TIMESTAMPTZ 1184
#define S_OID_UUID 2950
#define S_OID_JSONB 3802

#define S_COLUMNS                                                      \
    "id, occurred_at, type, version, source, company_id, actor_id, "   \
    "correlation_id, action, target_type, target_id, ip, user_agent, " \
    "payload, changes"
static const char s_columns [] = S_COLUMNS;

static const Oid s_types [S_COLS] = {
    S_OID_UUID, S_OID_TIMESTAMPTZ, S_OID_TEXT, S_OID_INT4,  S_OID_TEXT,
    S_OID_UUID, S_OID_UUID,        S_OID_TEXT, S_OID_TEXT,  S_OID_TEXT,
    S_OID_TEXT, S_OID_INET,        S_OID_TEXT, S_OID_JSONB, S_OID_JSONB
};

//  A timestamptz column as the API prints it (RFC 3339, UTC, ms).
#define S_UTC(column)                         \
    "to_char(" column " AT TIME ZONE 'UTC', " \
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

//  What a search or export selects; s_row_json reads these positions.
static const char s_select [] = "SELECT id, type, version, source, " S_UTC (
    "occurred_at") ", "
                   "company_id, actor_id, "
                   "correlation_id, action, target_type, target_id, host(ip), "
                   "user_agent, "
                   "payload::text, changes::text, " S_UTC (
                       "received_at") ", "
                                      "(extract(epoch FROM occurred_at) * "
                                      "1000000)::bigint "
                                      "FROM audit.events";

//  The (company, hour) pairs of the rows a statement stored (its CTE
//  "stored"), noted in audit.digest_due for the digest run
//  (fy_audit_digest). DO UPDATE keeps each pair's row locked until COMMIT,
//  so the run, which skips locked rows, never digests an hour while rows
//  of it are being written; in a fixed order, so two appends lock alike.
#define S_DUE_SQL                                                         \
    "INSERT INTO audit.digest_due (company_id, hour) "                    \
    "SELECT DISTINCT company_id, date_trunc('hour', occurred_at, 'UTC') " \
    "FROM stored ORDER BY 1, 2 ON CONFLICT (company_id, hour) "           \
    "DO UPDATE SET touched = excluded.touched"

//  The batch's distinct ids, each with the occurred_at of its first copy
//  (in batch order; s_batch_fill picks it and sorts them), recorded in
//  audit.event_ids unless the id is there already; its one column is
//  each id recorded, whose rows COPY then stores. A redelivery (an id
//  stored already, by this connection or by another whose COMMIT it
//  waits for) is not recorded and costs nothing more. The ids go in
//  sorted, so two batches in flight on two connections take the locks of
//  the ids they share in one order. Picking and sorting in C leaves the
//  server the insert alone (it was a third of the batch's time with the
//  DISTINCT, sort and join done in SQL). Two array parameters: ids
//  (binary), occurred_at.
static const char s_ids_sql [] =
    "INSERT INTO audit.event_ids (id, occurred_at) "
    "SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) "
    "ON CONFLICT (id) DO NOTHING RETURNING id";

//  The hours of the rows a batch stored, noted as due for a digest: the
//  last statement before the COMMIT, so that the lock it takes is held
//  for as short a time as it can be. Two array parameters: occurred_at,
//  company_id, of one row per (company, hour) (s_due_pick).
static const char s_due_sql [] =
    "WITH stored AS (SELECT * FROM unnest($1::timestamptz[], $2::uuid[]) "
    "AS b (occurred_at, company_id)) " S_DUE_SQL;

//  The staged batch (fy_audit_in) moved over: the first copy of each id
//  (in batch order, which is the temporary table's physical order) is
//  recorded in audit.event_ids unless an id is there already, and only
//  the rows of the ids newly recorded go into audit.events. Its ON
//  CONFLICT only matters for a row stored before event_ids existed.
//  Its one row is the count of rows stored.
static const char s_move_sql [] =
    "WITH firsts AS (SELECT DISTINCT ON (id) " S_COLUMNS " FROM fy_audit_in "
    "ORDER BY id, ctid), recorded AS (INSERT INTO audit.event_ids (id, "
    "occurred_at) SELECT id, occurred_at FROM firsts ON CONFLICT (id) DO "
    "NOTHING RETURNING id), stored AS (INSERT INTO audit.events (" S_COLUMNS
    ") SELECT * FROM firsts WHERE id IN (SELECT id FROM recorded) "
    "ON CONFLICT (id, occurred_at) DO NOTHING RETURNING company_id, "
    "occurred_at), due AS (" S_DUE_SQL ") SELECT count(*) FROM stored";

//  A staged row differs from the copy stored for its id when any column
//  does (jsonb compares in its normal form, so key order is no
//  difference); which ones, by the event's keys.
#define S_DIFFERS(column, key) \
    "CASE WHEN t." column " IS DISTINCT FROM e." column " THEN '" key "' END"

//  The rows (t, ordered by order) in conflict with the copy stored for
//  their id: the stored copy found through audit.event_ids.
//  clang-format cannot lay out string pasting through macros: by hand.
// clang-format off
#define S_CONFLICTS_SQL(rows, order)                                        \
    "SELECT t.id, " S_UTC ("e.occurred_at") ", " S_UTC ("t.occurred_at") ", " \
    "concat_ws(',', "                                                       \
        S_DIFFERS ("occurred_at", "occurredAt") ", "                        \
        S_DIFFERS ("type", "type") ", "                                     \
        S_DIFFERS ("version", "version") ", "                               \
        S_DIFFERS ("source", "source") ", "                                 \
        S_DIFFERS ("company_id", "companyId") ", "                          \
        S_DIFFERS ("actor_id", "actorId") ", "                              \
        S_DIFFERS ("correlation_id", "correlationId") ", "                  \
        S_DIFFERS ("action", "action") ", "                                 \
        S_DIFFERS ("target_type", "targetType") ", "                        \
        S_DIFFERS ("target_id", "targetId") ", "                            \
        S_DIFFERS ("ip", "ip") ", "                                         \
        S_DIFFERS ("user_agent", "userAgent") ", "                          \
        S_DIFFERS ("payload", "payload") ", "                               \
        S_DIFFERS ("changes", "changes") ") "                               \
    "FROM " rows " JOIN audit.event_ids i USING (id) "                      \
    "JOIN audit.events e ON e.id = i.id AND e.occurred_at = i.occurred_at " \
    "WHERE (t.occurred_at, t.type, t.version, t.source, t.company_id, "    \
    "t.actor_id, t.correlation_id, t.action, t.target_type, t.target_id, " \
    "t.ip, t.user_agent, t.payload, t.changes) IS DISTINCT FROM "           \
    "(e.occurred_at, e.type, e.version, e.source, e.company_id, "          \
    "e.actor_id, e.correlation_id, e.action, e.target_type, e.target_id, " \
    "e.ip, e.user_agent, e.payload, e.changes) "                            \
    "ORDER BY " order

//  The staged rows in conflict (after the move).
static const char s_conflicts_sql [] =
    S_CONFLICTS_SQL ("fy_audit_in t", "t.ctid");

//  The copies of a batch that were not stored, in conflict: fifteen
//  array parameters, one per column in S_COLUMNS order.
static const char s_conflicts_given_sql [] = S_CONFLICTS_SQL (
    "unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int[], "
    "$5::text[], $6::uuid[], $7::uuid[], $8::text[], $9::text[], "
    "$10::text[], $11::text[], $12::inet[], $13::text[], $14::jsonb[], "
    "$15::jsonb[]) WITH ORDINALITY AS t (" S_COLUMNS ", n)", "t.n");
// clang-format on

//  The text parameters of one row.
typedef struct {
    const char *values [S_COLS];
    char version [16];
} s_params_t;

//  A batch mapped to rows and their parameters, its distinct ids sorted
//  by their bytes, and which of its rows s_ids_sql recorded (the ones
//  stored).
typedef struct {
    fy_store_audit_row_t *rows;
    s_params_t *params;
    size_t count;
    fy_store_id_t *ids;         //  distinct, the first row of each
    size_t id_count;
    bool *stored;
    size_t stored_count;
} s_batch_t;

//  Where the transaction in flight is (fy_store_flight_start), each step
//  waiting for its results: BEGIN and the first queries sent together (a
//  pipeline), the COPY started, its data sent, the last queries and the
//  COMMIT sent together; or over, with its outcome kept for poll.
typedef enum {
    S_FLIGHT_NONE,
    S_FLIGHT_FIRST,
    S_FLIGHT_COPY_START,
    S_FLIGHT_COPY,
    S_FLIGHT_LAST,
    S_FLIGHT_LANDED
} s_flight_t;

struct fy_store {
    char *url;
    char timeout [16];
    PGconn *conn;
    int64_t backoff_ms;
    int64_t next_attempt_ms;
    //  Every new connection checks the schema is at least this (0: not);
    //  the version found on the last one.
    int schema_min;
    int schema_version;
    //  The SQLSTATE of the last failure, "" when it was not the server's.
    char state [6];
    fy_store_append_t method;
    //  The conflicts of the last append.
    fy_store_conflict_t *conflicts;
    size_t conflict_count, conflict_room;
    //  Per connection: temp table and its statement made, months seen.
    bool temp_ready;
    int months [S_MONTHS_MAX];
    size_t month_count;
    //  Who hears the appends' outcomes (fy_store_append_attach).
    fy_store_landed_fn *landed;
    void *landed_arg;
    //  The audit append of fy_store_audit_append_start, if any: the
    //  flight's argument.
    s_batch_t flight;
    //  The transaction in flight (fy_store_flight_start), if any.
    const fy_store_flight_ops_t *flight_ops;
    void *flight_arg;
    s_flight_t flight_state;
    int flight_attempt;         //  0, or 1 once flown again
    int flight_rows;            //  results with rows read in this step
    PGresult *flight_res;       //  the step's first error, if any
    bool flight_committed;      //  the COMMIT answered COMMIT
    bool flight_write;          //  bytes still to send
    size_t flight_inserted;     //  the rows the COPY wrote
    int flight_rc, flight_errno;    //  the outcome, once S_FLIGHT_LANDED
    fy_error_t flight_err;
};

struct fy_store_export {
    fy_store_t *store;
    PGresult *res;
    int row;
    bool done;
};

//  A query under construction: SQL text and its parameters.
typedef struct {
    char *sql;
    const char *values [16];
    int count;
    char usec [24];
    char id [40];
    char from [FY_TIME_RFC3339_SIZE];
    char to [FY_TIME_RFC3339_SIZE];
} s_query_t;

//  ---------------------------------------------------------------------
//  Mapping an event to its row

//  The payload keys that name what an event is about, most specific
//  first, and the target type each stands for.
static const struct {
    const char *key;
    const char *target_type;
} s_targets [] = {
    { "reviewId", "review" },      { "feedbackId", "feedback" },
    { "meetingId", "one_on_one" }, { "goalId", "goal" },
    { "cycleId", "review_cycle" }, { "departmentId", "department" },
    { "userId", "user" },          { "notificationId", "notification" },
    { "companyId", "company" },
};

//  A number libpq printed (a count, a version); 0 if it is not one.
static int64_t
s_number (const char *text)
{
    int64_t value = 0;
    if (fy_parse_int64 (text, INT64_MIN, INT64_MAX, &value))
        value = 0;
    return value;
}

void
fy_store_audit_row_from_event (fy_event_t *event, fy_store_audit_row_t *row)
{
    assert (event);
    assert (row);
    memset (row, 0, sizeof *row);
    row->id = fy_event_id (event);
    row->type = fy_event_type (event);
    row->version = fy_event_version (event);
    row->source = fy_event_source (event);
    row->occurred_at = fy_event_occurred_at (event);
    row->occurred_at_ms = fy_event_occurred_at_ms (event);
    row->company_id = fy_event_company_id (event);
    row->actor_id = fy_event_actor_id (event);
    row->correlation_id = fy_event_correlation_id (event);
    //  Read from the event as it came (msgpack), never through a tree.
    row->payload = fy_event_payload_dumps (event, NULL);
    row->action = row->type;
    if (strcmp (row->type, "audit.recorded") == 0) {
        const char *action = fy_event_payload_string (event, "action", NULL);
        if (action)
            row->action = action;
        row->target_type = fy_event_payload_string (event, "target", "type");
        row->target_id = fy_event_payload_string (event, "target", "id");
        row->changes = fy_event_payload_dumps (event, "changes");
    }
    else
        for (size_t i = 0; i < sizeof s_targets / sizeof s_targets [0]; i++) {
            const char *id =
                fy_event_payload_string (event, s_targets [i].key, NULL);
            if (id) {
                row->target_type = s_targets [i].target_type;
                row->target_id = id;
                break;
            }
        }
    row->user_agent = fy_event_payload_string (event, "userAgent", NULL);
    //  The schema's ip pattern lets "999.1.1.1" through; inet would refuse
    //  it and with it the whole batch, so only real addresses are kept.
    const char *ip = fy_event_payload_string (event, "ip", NULL);
    unsigned char addr [sizeof (struct in6_addr)];
    if (ip && strlen (ip) < sizeof row->ip
        && (inet_pton (AF_INET, ip, addr) == 1
            || inet_pton (AF_INET6, ip, addr) == 1))
        memcpy (row->ip, ip, strlen (ip) + 1);
}

void
fy_store_audit_row_clear (fy_store_audit_row_t *row)
{
    assert (row);
    free (row->payload);
    free (row->changes);
    row->payload = row->changes = NULL;
}

//  ---------------------------------------------------------------------
//  Connection

fy_store_t *
fy_store_new (const char *url, int connect_timeout_s)
{
    assert (url);
    fy_store_t *self = fy_xcalloc (1, sizeof *self);
    self->url = fy_xstrdup (url);
    snprintf (self->timeout, sizeof self->timeout, "%d",
              connect_timeout_s > 0 ? connect_timeout_s : 5);
    self->method = FY_STORE_APPEND_AUTO;
    return self;
}

static void
s_batch_free (s_batch_t *batch);

fy_store_t *
fy_store_open (fy_cfg_t *cfg, int *version_p, int *down_errno, fy_error_t *down,
               fy_error_t *err)
{
    assert (cfg);
    assert (down_errno);
    const char *url = fy_cfg_str (cfg, "store", "database_url");
    if (!url || !*url) {
        fy_error_set (err, "store.database_url (DATABASE_URL) is not set");
        errno = EINVAL;
        return NULL;
    }
    fy_store_t *self = fy_store_new (
        url, (int) fy_cfg_int (cfg, "store", "connect_timeout_s"));
    //  Nothing is written to an old schema, now or after an outage.
    fy_store_require_schema (self, FY_STORE_SCHEMA_VERSION);
    *down_errno = 0;
    if (fy_store_check_schema (self, FY_STORE_SCHEMA_VERSION, version_p,
                               down)) {
        *down_errno = errno;
        if (errno == ENOENT || errno == ERANGE) {
            fy_error_set (err, "%s", down->text);
            fy_store_destroy (&self);
            errno = EINVAL;
            return NULL;
        }
    }
    return self;
}
static int
s_schema_check (fy_store_t *self, int min_version, fy_error_t *err);

static void
s_disconnect (fy_store_t *self)
{
    if (self->conn)
        PQfinish (self->conn);
    self->conn = NULL;
    self->temp_ready = false;
    self->month_count = 0;
}

void
fy_store_destroy (fy_store_t **self_p)
{
    assert (self_p);
    fy_store_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    PQclear (self->flight_res);
    //  A flight never landed: its ops release what it holds.
    if (self->flight_state != S_FLIGHT_NONE)
        self->flight_ops->finish (self, self->flight_arg, -1);
    s_disconnect (self);
    free (self->conflicts);
    free (self->url);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  libpq's messages span lines ("server closed the connection
//  unexpectedly\n\tThis probably means..."); an error text is one line.
static void
s_error_conn (fy_error_t *err, const char *what, PGconn *conn)
{
    if (!err)
        return;
    const char *text = conn ? PQerrorMessage (conn) : "out of memory";
    fy_error_set (err, "%s: %s", what, text);
    char *out = err->text;
    for (char *in = err->text; *in; in++)
        if (*in == '\n' || *in == '\t' || *in == '\r') {
            if (out > err->text && out [-1] != ' ')
                *out++ = ' ';
        }
        else
            *out++ = *in;
    while (out > err->text && out [-1] == ' ')
        out--;
    *out = '\0';
}

bool
fy_store_is_connected (fy_store_t *self)
{
    assert (self);
    return self->conn && PQstatus (self->conn) == CONNECTION_OK;
}

int64_t
fy_store_retry_in_ms (fy_store_t *self)
{
    assert (self);
    if (fy_store_is_connected (self))
        return 0;
    int64_t left = self->next_attempt_ms - fy_clock_mono_ms ();
    return left > 0 ? left : 0;
}

int
fy_store_connect (fy_store_t *self, fy_error_t *err)
{
    assert (self);
    //  Nothing else may talk on the connection while an append is on it.
    assert (self->flight_state == S_FLIGHT_NONE);
    if (fy_store_is_connected (self))
        return 0;
    s_disconnect (self);
    int64_t left = fy_store_retry_in_ms (self);
    if (left > 0) {
        fy_error_set (err, "database unavailable; next attempt in %lld ms",
                      (long long) left);
        errno = EAGAIN;
        return -1;
    }
    //  The URL's own settings come after ours, so they win.
    const char *keys [] = { "connect_timeout", "application_name",
                            "keepalives_idle", "dbname", NULL };
    const char *values [] = { self->timeout, "ferry", "30", self->url, NULL };
    self->state [0] = '\0';
    self->conn = PQconnectdbParams (keys, values, 1);
    int code = EAGAIN;
    if (PQstatus (self->conn) == CONNECTION_OK) {
        PGresult *res = PQexec (self->conn, "SET TIME ZONE 'UTC'");
        bool set = PQresultStatus (res) == PGRES_COMMAND_OK;
        PQclear (res);
        //  Nothing is written on a connection to an older schema.
        if (set
            && (self->schema_min == 0
                || s_schema_check (self, self->schema_min, err) == 0)) {
            self->backoff_ms = 0;
            self->next_attempt_ms = 0;
            return 0;
        }
        if (set && (errno == ENOENT || errno == ERANGE))
            code = errno;
    }
    if (code == EAGAIN)
        s_error_conn (err, "connect", self->conn);
    s_disconnect (self);
    self->backoff_ms =
        self->backoff_ms ? self->backoff_ms * 2 : S_BACKOFF_MIN_MS;
    if (self->backoff_ms > S_BACKOFF_MAX_MS)
        self->backoff_ms = S_BACKOFF_MAX_MS;
    self->next_attempt_ms = fy_clock_mono_ms () + self->backoff_ms;
    errno = code;
    return -1;
}

//  After a failure: true (and disconnected) when the connection is gone,
//  so the caller may reconnect and retry.
static bool
s_lost (fy_store_t *self)
{
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK)
        return false;
    s_disconnect (self);
    return true;
}

int
fy_store_pg_fail (fy_store_t *self, PGresult *res, const char *what,
                  fy_error_t *err)
{
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *message =
        res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf (self->state, sizeof self->state, "%s", state ? state : "");
    if (message)
        fy_error_set (err, "%s: %s (%s)", what, message, state ? state : "");
    else
        s_error_conn (err, what, self->conn);
    if (self->conn && PQstatus (self->conn) != CONNECTION_OK)
        errno = ECONNRESET;
    else if (state
             && (strncmp (state, "22", 2) == 0
                 || strncmp (state, "23", 2) == 0))
        errno = EINVAL;         //  data exception, integrity: the values
    else if (state
             && (strcmp (state, "40001") == 0 || strcmp (state, "40P01") == 0
                 || strncmp (state, "08", 2) == 0
                 || strncmp (state, "57P", 3) == 0))
        errno = EAGAIN;         //  serialization, deadlock, shutdown
    else
        errno = EIO;
    int saved = errno;
    PQclear (res);
    errno = saved;
    return -1;
}

//  Run a statement that returns no rows.
static int
s_command (fy_store_t *self, const char *sql, fy_error_t *err)
{
    PGresult *res = PQexec (self->conn, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        return fy_store_pg_fail (self, res, sql, err);
    PQclear (res);
    return 0;
}

static void
s_rollback (fy_store_t *self)
{
    if (self->conn && PQstatus (self->conn) == CONNECTION_OK
        && PQtransactionStatus (self->conn) != PQTRANS_IDLE)
        PQclear (PQexec (self->conn, "ROLLBACK"));
}

//  ---------------------------------------------------------------------
//  Schema and partitions

//  On the connection: the schema version into self->schema_version, and
//  0 when it is at least min_version, or -1 with err and errno ENOENT (no
//  schema), ERANGE (older) or as s_fail.
static int
s_schema_check (fy_store_t *self, int min_version, fy_error_t *err)
{
    PGresult *res = PQexec (
        self->conn, "SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
        if (state && strcmp (state, "42P01") == 0) {
            PQclear (res);
            fy_error_set (err,
                          "the database has no ferry schema (no "
                          "schema_migrations table): run ferryctl migrate");
            errno = ENOENT;
            return -1;
        }
        int rc = fy_store_pg_fail (self, res, "schema version", err);
        int saved = errno;
        s_lost (self);
        errno = saved;
        return rc;
    }
    self->schema_version = (int) s_number (PQgetvalue (res, 0, 0));
    PQclear (res);
    if (self->schema_version < min_version) {
        fy_error_set (err,
                      "the database schema is version %d but this "
                      "build needs %d: run ferryctl migrate",
                      self->schema_version, min_version);
        errno = ERANGE;
        return -1;
    }
    return 0;
}

int
fy_store_check_schema (fy_store_t *self, int min_version, int *version_p,
                       fy_error_t *err)
{
    assert (self);
    self->schema_version = 0;
    int rc = fy_store_connect (self, err);
    if (rc == 0)
        rc = s_schema_check (self, min_version, err);
    if (version_p)
        *version_p = self->schema_version;
    return rc;
}

void
fy_store_require_schema (fy_store_t *self, int min_version)
{
    assert (self);
    self->schema_min = min_version;
}

const char *
fy_store_sqlstate (fy_store_t *self)
{
    assert (self);
    return self->state;
}

//  The UTC month of an epoch time in ms, as yyyymm.
static int
s_month_of (int64_t epoch_ms)
{
    time_t seconds = (time_t) (epoch_ms / 1000);
    if (epoch_ms < 0 && epoch_ms % 1000)
        seconds--;
    struct tm tm;
    if (!gmtime_r (&seconds, &tm))
        return 197001;
    return (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

//  Run audit.ensure_partitions(first, months) outside any transaction.
static int
s_ensure (fy_store_t *self, const char *first, int months, int *created_p,
          fy_error_t *err)
{
    char count [16];
    snprintf (count, sizeof count, "%d", months);
    const char *values [] = { first, count };
    PGresult *res = PQexecParams (
        self->conn, "SELECT audit.ensure_partitions($1::date, $2::int)", 2,
        NULL, values, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        return fy_store_pg_fail (self, res, "ensure partitions", err);
    if (created_p)
        *created_p = (int) s_number (PQgetvalue (res, 0, 0));
    PQclear (res);
    return 0;
}

//  Make sure each month of the batch has its partition, asking the
//  database only about months this connection has not seen yet.
static int
s_ensure_months (fy_store_t *self, const fy_store_audit_row_t *rows,
                 size_t count, fy_error_t *err)
{
    for (size_t i = 0; i < count; i++) {
        int month = s_month_of (rows [i].occurred_at_ms);
        bool known = false;
        for (size_t m = 0; m < self->month_count && !known; m++)
            known = self->months [m] == month;
        if (known)
            continue;
        char first [32];
        snprintf (first, sizeof first, "%04d-%02d-01", month / 100,
                  month % 100);
        if (s_ensure (self, first, 1, NULL, err))
            return -1;
        if (self->month_count == S_MONTHS_MAX)
            self->month_count = 0;
        self->months [self->month_count++] = month;
    }
    return 0;
}

int
fy_store_ensure_partitions (fy_store_t *self, int months_ahead, int *created_p,
                            fy_error_t *err)
{
    assert (self);
    assert (months_ahead >= 0);
    char months [16];
    snprintf (months, sizeof months, "%d", months_ahead + 1);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (fy_store_connect (self, err))
            return -1;
        const char *values [] = { months };
        PGresult *res =
            PQexecParams (self->conn,
                          "SELECT audit.ensure_partitions("
                          "(now() AT TIME ZONE 'UTC')::date, $1::int)",
                          1, NULL, values, NULL, NULL, 0);
        if (PQresultStatus (res) == PGRES_TUPLES_OK) {
            if (created_p)
                *created_p = (int) s_number (PQgetvalue (res, 0, 0));
            PQclear (res);
            return 0;
        }
        fy_store_pg_fail (self, res, "ensure partitions", err);
        if (!s_lost (self))
            return -1;
    }
    return -1;
}

int
fy_store_drop_expired (fy_store_t *self, int keep_months, int *dropped_p,
                       fy_error_t *err)
{
    assert (self);
    if (dropped_p)
        *dropped_p = 0;
    if (fy_store_connect (self, err))
        return -1;
    char keep [16];
    snprintf (keep, sizeof keep, "%d", keep_months);
    const char *values [] = { keep };
    PGresult *list =
        PQexecParams (self->conn, "SELECT audit.expired_partitions($1::int)", 1,
                      NULL, values, NULL, NULL, 0);
    if (PQresultStatus (list) != PGRES_TUPLES_OK) {
        int rc = fy_store_pg_fail (self, list, "expired partitions", err);
        s_lost (self);
        return rc;
    }
    int rc = 0;
    for (int i = 0; i < PQntuples (list) && rc == 0; i++) {
        const char *name = PQgetvalue (list, i, 0);
        const char *args [] = { name, keep };
        PGresult *res = PQexecParams (
            self->conn, "SELECT audit.drop_partition($1, $2::int)", 2, NULL,
            args, NULL, NULL, 0);
        if (PQresultStatus (res) != PGRES_TUPLES_OK) {
            rc = fy_store_pg_fail (self, res, "drop partition", err);
            fy_error_prefix (err, "audit.%s: ", name);
            s_lost (self);
            break;
        }
        PQclear (res);
        fy_log_notice ("store: dropped partition audit.%s (retention %d "
                       "months)",
                       name, keep_months);
        if (dropped_p)
            (*dropped_p)++;
    }
    PQclear (list);
    //  A month dropped here may come back with a late event.
    self->month_count = 0;
    return rc;
}

//  ---------------------------------------------------------------------
//  Batch append

void
fy_store_set_append_method (fy_store_t *self, fy_store_append_t method)
{
    assert (self);
    self->method = method;
}

static void
s_params_fill (s_params_t *params, const fy_store_audit_row_t *row)
{
    snprintf (params->version, sizeof params->version, "%d", row->version);
    const char *values [S_COLS] = {
        row->id,          row->occurred_at,    row->type,
        params->version,  row->source,         row->company_id,
        row->actor_id,    row->correlation_id, row->action,
        row->target_type, row->target_id,      row->ip [0] ? row->ip : NULL,
        row->user_agent,  row->payload,        row->changes
    };
    memcpy (params->values, values, sizeof values);
}

//  "INSERT INTO fy_audit_in (...) VALUES ($1, ..., $15), ..." for rows
//  rows. Caller owns result.
static char *
s_insert_sql (size_t rows)
{
    size_t size = 128 + sizeof s_columns + rows * S_COLS * 8;
    char *sql = fy_xmalloc (size);
    size_t len = (size_t) snprintf (
        sql, size, "INSERT INTO fy_audit_in (%s) VALUES ", s_columns);
    int n = 1;
    for (size_t r = 0; r < rows; r++) {
        len += (size_t) snprintf (sql + len, size - len, "%s(", r ? "," : "");
        for (int c = 0; c < S_COLS; c++, n++)
            len += (size_t) snprintf (sql + len, size - len, "%s$%d",
                                      c ? "," : "", n);
        len += (size_t) snprintf (sql + len, size - len, ")");
    }
    return sql;
}

//  Stage the rows with multi-row INSERTs of up to S_INSERT_ROWS rows.
static int
s_stage_insert (fy_store_t *self, s_params_t *params, size_t count,
                fy_error_t *err)
{
    const char **values =
        fy_xmalloc (sizeof *values * S_COLS
                    * (count < S_INSERT_ROWS ? count : S_INSERT_ROWS));
    Oid *types = fy_xmalloc (sizeof *types * S_COLS * S_INSERT_ROWS);
    for (size_t i = 0; i < S_INSERT_ROWS; i++)
        memcpy (types + i * S_COLS, s_types, sizeof s_types);
    char *full_sql = NULL;
    int rc = 0;
    for (size_t start = 0; start < count && rc == 0; start += S_INSERT_ROWS) {
        size_t rows =
            count - start < S_INSERT_ROWS ? count - start : S_INSERT_ROWS;
        for (size_t r = 0; r < rows; r++)
            memcpy (values + r * S_COLS, params [start + r].values,
                    sizeof params [0].values);
        char *sql = NULL;
        if (rows == S_INSERT_ROWS) {
            if (!full_sql)
                full_sql = s_insert_sql (rows);
        }
        else
            sql = s_insert_sql (rows);
        PGresult *res =
            PQexecParams (self->conn, sql ? sql : full_sql,
                          (int) (rows * S_COLS), types, values, NULL, NULL, 0);
        free (sql);
        if (PQresultStatus (res) != PGRES_COMMAND_OK)
            rc = fy_store_pg_fail (self, res, "insert", err);
        else
            PQclear (res);
    }
    free (full_sql);
    free (types);
    free (values);
    return rc;
}

//  The rows (those picked, or all when pick is NULL) in COPY text format,
//  one buffer. Caller owns result.
static char *
s_copy_encode (s_params_t *params, size_t count, const bool *pick,
               size_t *len_p)
{
    size_t size = 64 * 1024, len = 0;
    char *buffer = fy_xmalloc (size);
    for (size_t i = 0; i < count; i++) {
        if (pick && !pick [i])
            continue;
        //  The JSON columns too: fy_json_dumps leaves no raw control
        //  character in them, so only their backslashes are doubled.
        for (int c = 0; c < S_COLS; c++) {
            fy_store_copy_value (&buffer, &len, &size, params [i].values [c]);
            buffer [len++] = c + 1 < S_COLS ? '\t' : '\n';
        }
    }
    *len_p = len;
    return buffer;
}

//  Send sql (freed), which must end in the COPY ... FROM STDIN that
//  leaves the connection taking COPY data. 0, or -1 with err.
static int
s_copy_begin (fy_store_t *self, char *sql, fy_error_t *err)
{
    PGresult *res = PQexec (self->conn, sql);
    free (sql);
    if (PQresultStatus (res) != PGRES_COPY_IN)
        return fy_store_pg_fail (self, res, "copy", err);
    PQclear (res);
    return 0;
}

//  COPY the rows (those picked, or all) into table. Returns 0 with the
//  rows copied in *copied, or -1 with errno and err, and the SQLSTATE in
//  state (may be "").
static int
s_copy_rows (fy_store_t *self, const char *table, s_params_t *params,
             size_t count, const bool *pick, size_t *copied, char state [8],
             fy_error_t *err)
{
    state [0] = '\0';
    if (s_copy_begin (
            self, fy_xasprintf ("COPY %s (%s) FROM STDIN", table, s_columns),
            err))
        return -1;
    size_t len = 0;
    char *buffer = s_copy_encode (params, count, pick, &len);
    int rc = PQputCopyData (self->conn, buffer, (int) len) == 1 ? 0 : -1;
    free (buffer);
    if (PQputCopyEnd (self->conn, rc ? "aborted" : NULL) != 1)
        rc = -1;
    PGresult *res = PQgetResult (self->conn);
    if (PQresultStatus (res) == PGRES_COMMAND_OK) {
        *copied = (size_t) s_number (PQcmdTuples (res));
        PQclear (res);
    }
    else {
        const char *code = PQresultErrorField (res, PG_DIAG_SQLSTATE);
        snprintf (state, 8, "%s", code ? code : "");
        rc = fy_store_pg_fail (self, res, "copy", err);
    }
    int saved = errno;
    while ((res = PQgetResult (self->conn)))
        PQclear (res);
    errno = saved;
    return rc;
}

//  The statements of an AUTO append that take the batch's rows as
//  arrays, one parameter per column.
typedef enum {
    S_STMT_IDS,
    S_STMT_CONFLICTS,
    S_STMT_DUE
} s_stmt_t;

//  A statement and its parameters: array literals, or (format 1) arrays
//  in PostgreSQL's binary form.
typedef struct {
    const char *sql;
    int count;
    char *values [S_COLS];
    int lengths [S_COLS];
    int formats [S_COLS];
    int result_format;
} s_stmt_query_t;

//  An array literal of column of the rows picked (pick [i] == want), or
//  of every row when pick is NULL; or of the rows the ids name, when ids.
static char *
s_array_literal (s_batch_t *batch, int column, const bool *pick, bool want,
                 bool ids)
{
    size_t count = ids ? batch->id_count : batch->count;
    size_t size = 64 + count * 48, len = 0;
    char *buffer = fy_xmalloc (size);
    for (size_t i = 0; i < count; i++) {
        size_t row = ids ? batch->ids [i].row : i;
        if (ids || !pick || pick [row] == want)
            fy_store_array_value (&buffer, &len, &size,
                                  batch->params [row].values [column]);
    }
    fy_store_array_end (buffer, &len);
    return buffer;
}

//  The hour (epoch ms) of row, or -1 when the row is within a millisecond
//  of its hour's end: PostgreSQL rounds a fraction past the microsecond,
//  so such a row may belong to the next hour and goes as it is.
static int64_t
s_due_hour (const fy_store_audit_row_t *row)
{
    int64_t hour_ms = 3600 * 1000;
    int64_t hour = row->occurred_at_ms
                   - ((row->occurred_at_ms % hour_ms) + hour_ms) % hour_ms;
    return row->occurred_at_ms - hour == hour_ms - 1 ? -1 : hour;
}

static int
s_due_compare (const void *a, const void *b, void *arg)
{
    const fy_store_audit_row_t *rows = arg;
    const fy_store_audit_row_t *x = &rows [*(const size_t *) a],
                               *y = &rows [*(const size_t *) b];
    int by_company = strcmp (x->company_id, y->company_id);
    if (by_company)
        return by_company;
    int64_t hx = s_due_hour (x), hy = s_due_hour (y);
    return (hx > hy) - (hx < hy);
}

//  One stored row per (company, hour) in pick: the hours due are those
//  of a handful of rows, not of every row stored.
static void
s_due_pick (s_batch_t *batch, bool *pick)
{
    size_t *order = fy_xmalloc (batch->count * sizeof *order), count = 0;
    for (size_t i = 0; i < batch->count; i++)
        if (batch->stored [i])
            order [count++] = i;
    qsort_r (order, count, sizeof *order, s_due_compare, batch->rows);
    for (size_t i = 0; i < count; i++)
        pick [order [i]] =
            i == 0 || s_due_hour (&batch->rows [order [i]]) < 0
            || s_due_compare (&order [i - 1], &order [i], batch->rows) != 0;
    free (order);
}

//  stmt and its parameters for batch (the ids: the distinct ones; the
//  conflicts: the rows not stored; the hours due: one stored row per
//  company and hour). The caller frees the values.
static void
s_stmt (s_stmt_t stmt, s_batch_t *batch, s_stmt_query_t *query)
{
    memset (query, 0, sizeof *query);
    if (stmt == S_STMT_IDS) {
        query->sql = s_ids_sql;
        query->count = 2;
        query->values [0] = fy_store_ids_array (batch->ids, batch->id_count,
                                                &query->lengths [0]);
        query->formats [0] = 1;
        query->values [1] = s_array_literal (batch, 1, NULL, false, true);
        query->result_format = 1;
    }
    else if (stmt == S_STMT_DUE) {
        bool *pick = fy_xcalloc (batch->count, sizeof *pick);
        s_due_pick (batch, pick);
        query->sql = s_due_sql;
        query->count = 2;
        query->values [0] = s_array_literal (batch, 1, pick, true, false);
        query->values [1] = s_array_literal (batch, 5, pick, true, false);
        free (pick);
    }
    else {
        query->sql = s_conflicts_given_sql;
        query->count = S_COLS;
        for (int c = 0; c < S_COLS; c++)
            query->values [c] =
                s_array_literal (batch, c, batch->stored, false, false);
    }
}

static void
s_stmt_query_free (s_stmt_query_t *query)
{
    for (int v = 0; v < query->count; v++)
        free (query->values [v]);
}

static PGresult *
s_stmt_exec (fy_store_t *self, s_stmt_t stmt, s_batch_t *batch)
{
    s_stmt_query_t query;
    s_stmt (stmt, batch, &query);
    PGresult *res =
        PQexecParams (self->conn, query.sql, query.count, NULL,
                      (const char *const *) query.values, query.lengths,
                      query.formats, query.result_format);
    s_stmt_query_free (&query);
    return res;
}

//  The same without waiting for its result. Returns 1 when sent.
static int
s_stmt_send (fy_store_t *self, s_stmt_t stmt, s_batch_t *batch)
{
    s_stmt_query_t query;
    s_stmt (stmt, batch, &query);
    int sent =
        PQsendQueryParams (self->conn, query.sql, query.count, NULL,
                           (const char *const *) query.values, query.lengths,
                           query.formats, query.result_format);
    s_stmt_query_free (&query);
    return sent;
}

//  The rows s_ids_sql recorded, into batch->stored. Returns 0, or -1
//  with errno and err. Clears res.
static int
s_ids_read (fy_store_t *self, s_batch_t *batch, PGresult *res, fy_error_t *err)
{
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        return fy_store_pg_fail (self, res, "record ids", err);
    memset (batch->stored, 0, batch->count * sizeof *batch->stored);
    batch->stored_count = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        const fy_store_id_t *id =
            fy_store_ids_find (batch->ids, batch->id_count, res, r);
        if (id && !batch->stored [id->row]) {
            batch->stored [id->row] = true;
            batch->stored_count++;
        }
    }
    PQclear (res);
    return 0;
}

//  The temporary table the staged ways fill, made once per connection
//  outside any transaction (so a rolled back batch cannot take it along),
//  with the single-row INSERT the pipeline sends.
static int
s_stage_ready (fy_store_t *self, fy_error_t *err)
{
    if (self->temp_ready)
        return 0;
    char *sql = fy_xasprintf ("CREATE TEMP TABLE IF NOT EXISTS fy_audit_in AS "
                              "SELECT %s FROM audit.events WITH NO DATA",
                              s_columns);
    int rc = s_command (self, sql, err);
    free (sql);
    if (rc)
        return -1;
    sql = s_insert_sql (1);
    PGresult *res =
        PQprepare (self->conn, "fy_store_insert1", sql, S_COLS, s_types);
    free (sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK)
        return fy_store_pg_fail (self, res, "prepare", err);
    PQclear (res);
    self->temp_ready = true;
    return 0;
}

//  The conflicts a query found (res, cleared), kept for
//  fy_store_audit_conflicts.
static int
s_conflicts_parse (fy_store_t *self, PGresult *res, fy_error_t *err)
{
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        return fy_store_pg_fail (self, res, "conflicts", err);
    size_t rows = (size_t) PQntuples (res);
    if (rows > self->conflict_room) {
        self->conflict_room = rows;
        self->conflicts =
            fy_xrealloc (self->conflicts, rows * sizeof *self->conflicts);
    }
    for (size_t r = 0; r < rows; r++) {
        fy_store_conflict_t *conflict = &self->conflicts [r];
        snprintf (conflict->id, sizeof conflict->id, "%s",
                  PQgetvalue (res, (int) r, 0));
        snprintf (conflict->stored_at, sizeof conflict->stored_at, "%s",
                  PQgetvalue (res, (int) r, 1));
        snprintf (conflict->new_at, sizeof conflict->new_at, "%s",
                  PQgetvalue (res, (int) r, 2));
        snprintf (conflict->fields, sizeof conflict->fields, "%s",
                  PQgetvalue (res, (int) r, 3));
    }
    self->conflict_count = rows;
    PQclear (res);
    return 0;
}

//  Stage the rows with one prepared single-row INSERT per row, sent
//  without waiting for the previous one, synced every S_PIPELINE_ROWS.
static int
s_stage_pipeline (fy_store_t *self, s_params_t *params, size_t count,
                  fy_error_t *err)
{
    if (PQenterPipelineMode (self->conn) != 1) {
        s_error_conn (err, "pipeline", self->conn);
        errno = EIO;
        return -1;
    }
    int rc = 0;
    for (size_t start = 0; start < count && rc == 0; start += S_PIPELINE_ROWS) {
        size_t end =
            start + S_PIPELINE_ROWS < count ? start + S_PIPELINE_ROWS : count;
        for (size_t i = start; i < end && rc == 0; i++)
            if (PQsendQueryPrepared (self->conn, "fy_store_insert1", S_COLS,
                                     params [i].values, NULL, NULL, 0)
                != 1)
                rc = -1;
        if (rc || PQpipelineSync (self->conn) != 1) {
            s_error_conn (err, "pipeline", self->conn);
            errno = ECONNRESET;
            rc = -1;
            break;
        }
        rc = fy_store_pg_pipeline_results (self, self->conn, NULL, 0,
                                           "pipeline insert", err);
    }
    if (PQstatus (self->conn) == CONNECTION_OK)
        PQexitPipelineMode (self->conn);
    return rc;
}

//  The staged way, inside the caller's transaction: the rows into the
//  temporary table (how says how), then one statement moves the first
//  copy of each new id over (s_move_sql), and the copies that differ from
//  the stored one are read as conflicts.
static int
s_append_staged (fy_store_t *self, fy_store_append_t how, s_params_t *params,
                 size_t count, size_t *inserted, fy_error_t *err)
{
    size_t copied = 0;
    char state [8];
    if (s_command (self, "TRUNCATE fy_audit_in", err))
        return -1;
    int rc = how == FY_STORE_APPEND_INSERT
                 ? s_stage_insert (self, params, count, err)
             : how == FY_STORE_APPEND_PIPELINE
                 ? s_stage_pipeline (self, params, count, err)
                 : s_copy_rows (self, "fy_audit_in", params, count, NULL,
                                &copied, state, err);
    if (rc)
        return -1;
    PGresult *res = PQexec (self->conn, s_move_sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        return fy_store_pg_fail (self, res, "insert from stage", err);
    *inserted += (size_t) s_number (PQgetvalue (res, 0, 0));
    PQclear (res);
    return s_conflicts_parse (self, PQexec (self->conn, s_conflicts_sql), err);
}

//  The measured fastest (doc/store.md), inside the caller's transaction:
//  the batch's ids recorded first (s_ids_sql), then COPY of the rows they
//  make new straight into audit.events, as fast as psql's COPY, then the
//  copies not stored compared with the stored ones (the conflicts) and
//  the stored rows' hours noted due. A redelivery is no error: SQS
//  redelivers as a matter of course, and a duplicate costs its batch no
//  more than its comparison.
static int
s_append_auto (fy_store_t *self, s_batch_t *batch, size_t *inserted,
               fy_error_t *err)
{
    if (s_ids_read (self, batch, s_stmt_exec (self, S_STMT_IDS, batch), err))
        return -1;
    if (batch->stored_count) {
        size_t copied = 0;
        char state [8];
        if (s_copy_rows (self, "audit.events", batch->params, batch->count,
                         batch->stored, &copied, state, err))
            return -1;
        *inserted += copied;
    }
    if (batch->stored_count < batch->count
        && s_conflicts_parse (self, s_stmt_exec (self, S_STMT_CONFLICTS, batch),
                              err))
        return -1;
    if (batch->stored_count) {
        PGresult *res = s_stmt_exec (self, S_STMT_DUE, batch);
        if (PQresultStatus (res) != PGRES_COMMAND_OK)
            return fy_store_pg_fail (self, res, "hours due", err);
        PQclear (res);
    }
    return 0;
}

//  One attempt: partitions, BEGIN, the rows, COMMIT.
static int
s_append_once (fy_store_t *self, s_batch_t *batch, size_t *inserted,
               fy_error_t *err)
{
    *inserted = 0;
    self->conflict_count = 0;
    bool staged = self->method != FY_STORE_APPEND_AUTO;
    if (fy_store_connect (self, err)
        || s_ensure_months (self, batch->rows, batch->count, err)
        || (staged && s_stage_ready (self, err))
        || s_command (self, "BEGIN", err))
        return -1;
    int rc = staged ? s_append_staged (self, self->method, batch->params,
                                       batch->count, inserted, err)
                    : s_append_auto (self, batch, inserted, err);
    if (rc == 0)
        rc = s_command (self, "COMMIT", err);
    if (rc) {
        int saved = errno;
        s_rollback (self);
        self->conflict_count = 0;
        errno = saved;
    }
    return rc;
}

//  After failed attempt number attempt (from 0): true when one more is
//  worth making. It is when the connection was lost (the next attempt
//  remakes it) or, on the first attempt, when a partition was dropped
//  behind our back ("no partition of relation found for row", a
//  check_violation): the months seen are forgotten.
static bool
s_retry_worth (fy_store_t *self, int attempt)
{
    int saved = errno;
    bool lost = s_lost (self);
    errno = saved;
    if (lost)
        return true;
    if (strcmp (self->state, "23514") != 0 || attempt > 0)
        return false;
    self->month_count = 0;
    return true;
}

//  Blocking attempts, from number attempt up to the second.
static int
s_append_attempts (fy_store_t *self, s_batch_t *batch, int attempt,
                   size_t *inserted, fy_error_t *err)
{
    int rc = -1;
    for (; attempt < 2; attempt++) {
        self->state [0] = '\0';
        rc = s_append_once (self, batch, inserted, err);
        if (rc == 0 || !s_retry_worth (self, attempt))
            break;
    }
    return rc;
}

static void
s_batch_fill (s_batch_t *batch, fy_event_t **events, size_t count)
{
    batch->rows = fy_xcalloc (count, sizeof *batch->rows);
    batch->params = fy_xcalloc (count, sizeof *batch->params);
    batch->stored = fy_xcalloc (count, sizeof *batch->stored);
    batch->stored_count = 0;
    batch->count = count;
    batch->ids = fy_xcalloc (count, sizeof *batch->ids);
    for (size_t i = 0; i < count; i++) {
        fy_store_audit_row_from_event (events [i], &batch->rows [i]);
        s_params_fill (&batch->params [i], &batch->rows [i]);
        fy_store_id_set (&batch->ids [i], batch->rows [i].id, i);
    }
    batch->id_count = fy_store_ids_distinct (batch->ids, count);
}

static void
s_batch_free (s_batch_t *batch)
{
    for (size_t i = 0; i < batch->count; i++)
        fy_store_audit_row_clear (&batch->rows [i]);
    free (batch->params);
    free (batch->rows);
    free (batch->ids);
    free (batch->stored);
    memset (batch, 0, sizeof *batch);
}

int
fy_store_audit_append (fy_store_t *self, fy_event_t **events, size_t count,
                       size_t *inserted_p, fy_error_t *err)
{
    assert (self);
    assert (events || count == 0);
    if (inserted_p)
        *inserted_p = 0;
    self->conflict_count = 0;
    if (count == 0)
        return 0;
    s_batch_t batch;
    s_batch_fill (&batch, events, count);
    size_t inserted = 0;
    int rc = s_append_attempts (self, &batch, 0, &inserted, err);
    int saved = errno;
    s_batch_free (&batch);
    errno = saved;
    if (rc == 0 && inserted_p)
        *inserted_p = inserted;
    return rc;
}

size_t
fy_store_audit_conflicts (fy_store_t *self, const fy_store_conflict_t **list_p)
{
    assert (self);
    if (list_p)
        *list_p = self->conflicts;
    return self->conflict_count;
}

//  ---------------------------------------------------------------------
//  Transactions in flight
//
//  A transaction of a known shape without waiting, each step sent as the
//  last one's results come: BEGIN and the first queries together (a
//  pipeline), the COPY of the rows they make new (started, then its data
//  queued and flushed as the socket takes it), then the last queries and
//  the COMMIT together. The ops say what each step sends and reads: the
//  audit appends (below) and the analytics batches (fy_store_analytics)
//  fly this way. A failure goes to the ops' failed, or by default, when
//  the connection was lost, the transaction flies once more on a new one.

//  The connection back to blocking, with nothing of the flight left on it.
static void
s_flight_ground (fy_store_t *self)
{
    PGconn *conn = self->conn;
    if (conn)
        PQsetnonblocking (conn, 0);
    //  A pipeline cut short: read it to its end, then leave it.
    while (conn && PQpipelineStatus (conn) != PQ_PIPELINE_OFF
           && PQexitPipelineMode (conn) != 1) {
        PGresult *res = PQgetResult (conn);
        if (!res && PQstatus (conn) != CONNECTION_OK)
            break;
        PQclear (res);
    }
    PQclear (self->flight_res);
    self->flight_res = NULL;
    self->flight_write = false;
}

//  Keep the outcome for poll; the connection goes back to blocking.
static void
s_flight_land (fy_store_t *self, int rc)
{
    int saved = errno;
    s_flight_ground (self);
    self->flight_rc = rc;
    self->flight_errno = rc ? saved : 0;
    self->flight_state = S_FLIGHT_LANDED;
}

static int
s_flight_send (fy_store_t *self);

//  The nonblocking part failed (errno and flight_err set): end the
//  transaction and make the attempts a failed one deserves.
static void
s_flight_failed (fy_store_t *self)
{
    int saved = errno;
    s_flight_ground (self);
    s_rollback (self);
    self->flight_state = S_FLIGHT_NONE;
    errno = saved;
    int rc = -1;
    if (self->flight_ops->failed)
        rc = self->flight_ops->failed (self, self->flight_arg,
                                       &self->flight_err);
    else {
        bool lost = s_lost (self);
        errno = saved;
        if (lost && self->flight_attempt == 0) {
            self->flight_attempt = 1;
            if (s_flight_send (self))
                s_flight_failed (self);
            return;
        }
    }
    s_flight_land (self, rc);
}

//  libpq could not send or read: the connection's error.
static int
s_flight_conn_error (fy_store_t *self, const char *what)
{
    s_error_conn (&self->flight_err, what, self->conn);
    self->state [0] = '\0';
    errno = PQstatus (self->conn) == CONNECTION_OK ? EIO : ECONNRESET;
    return -1;
}

//  Send what the socket takes now.
static int
s_flight_flush (fy_store_t *self)
{
    int rc = PQflush (self->conn);
    if (rc < 0)
        return s_flight_conn_error (self, "send");
    self->flight_write = rc == 1;
    return 0;
}

//  The step's first error (flight_res) is the flight's: errno and
//  flight_err. Returns -1.
static int
s_flight_error (fy_store_t *self, const char *what)
{
    PGresult *res = self->flight_res;
    self->flight_res = NULL;
    return fy_store_pg_fail (self, res, what, &self->flight_err);
}

//  Start the transaction with the first step.
static int
s_flight_send (fy_store_t *self)
{
    fy_error_t *err = &self->flight_err;
    self->state [0] = '\0';
    self->flight_inserted = 0;
    if (fy_store_connect (self, err)
        || (self->flight_ops->prepare
            && self->flight_ops->prepare (self, self->flight_arg, err)))
        return -1;
    //  Nonblocking, libpq keeps in its buffer what the socket does not
    //  take yet (it grows it rather than wait).
    if (PQsetnonblocking (self->conn, 1) != 0
        || PQenterPipelineMode (self->conn) != 1
        || PQsendQueryParams (self->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0)
               != 1
        || !self->flight_ops->first (self, self->conn, self->flight_arg)
        || PQpipelineSync (self->conn) != 1)
        return s_flight_conn_error (self, "begin");
    self->flight_rows = 0;
    self->flight_state = S_FLIGHT_FIRST;
    return s_flight_flush (self);
}

//  The last step: its queries and the COMMIT, together.
static int
s_flight_last_send (fy_store_t *self)
{
    bool sent = PQenterPipelineMode (self->conn) == 1
                && self->flight_ops->last (self, self->conn, self->flight_arg)
                && PQsendQueryParams (self->conn, "COMMIT", 0, NULL, NULL, NULL,
                                      NULL, 0)
                       == 1
                && PQpipelineSync (self->conn) == 1;
    if (!sent)
        return s_flight_conn_error (self, "commit");
    self->flight_committed = false;
    self->flight_rows = 0;
    self->flight_state = S_FLIGHT_LAST;
    return s_flight_flush (self);
}

//  The first step is over: the COPY, or the last step at once when there
//  is nothing to copy.
static int
s_flight_first_done (fy_store_t *self)
{
    const char *sql = self->flight_ops->copy_sql (self, self->flight_arg);
    if (!sql)
        return s_flight_last_send (self);
    if (PQsendQuery (self->conn, sql) != 1)
        return s_flight_conn_error (self, "copy");
    self->flight_state = S_FLIGHT_COPY_START;
    return s_flight_flush (self);
}

//  The server takes the COPY data: all of it, queued.
static int
s_flight_copy_data (fy_store_t *self)
{
    size_t len = 0;
    char *buffer = self->flight_ops->copy_data (self, self->flight_arg, &len);
    bool queued = PQputCopyData (self->conn, buffer, (int) len) == 1
                  && PQputCopyEnd (self->conn, NULL) == 1;
    free (buffer);
    if (!queued)
        return s_flight_conn_error (self, "copy");
    self->flight_state = S_FLIGHT_COPY;
    return s_flight_flush (self);
}

//  A pipeline's sync: its step is over.
static int
s_flight_synced (fy_store_t *self)
{
    bool first = self->flight_state == S_FLIGHT_FIRST;
    if (PQexitPipelineMode (self->conn) != 1)
        return s_flight_conn_error (self, "pipeline");
    if (self->flight_res)
        return s_flight_error (self, first ? "begin" : "commit");
    if (first)
        return s_flight_first_done (self);
    if (!self->flight_committed) {
        fy_error_set (&self->flight_err, "commit: rolled back");
        errno = EIO;
        return -1;
    }
    s_flight_land (self, 0);
    return 0;
}

//  One result of the step in flight, or NULL: the end of one query's
//  results. Returns 0, or -1 with errno and flight_err.
static int
s_flight_result (fy_store_t *self, PGresult *res)
{
    bool copy = self->flight_state == S_FLIGHT_COPY_START
                || self->flight_state == S_FLIGHT_COPY;
    if (!res) {
        //  A pipeline's queries end one by one; it is over at its sync.
        //  The COPY is over at its end.
        if (!copy)
            return 0;
        if (self->flight_res)
            return s_flight_error (self, "copy");
        return self->flight_state == S_FLIGHT_COPY ? s_flight_last_send (self)
                                                   : 0;
    }
    switch (PQresultStatus (res)) {
        case PGRES_PIPELINE_SYNC:
            PQclear (res);
            return s_flight_synced (self);
        case PGRES_TUPLES_OK:
            return self->flight_ops->rows (
                self, self->flight_arg, self->flight_state == S_FLIGHT_LAST,
                self->flight_rows++, res, &self->flight_err);
        case PGRES_COPY_IN:
            PQclear (res);
            return s_flight_copy_data (self);
        case PGRES_COMMAND_OK:
            if (self->flight_state == S_FLIGHT_COPY)
                self->flight_inserted = (size_t) s_number (PQcmdTuples (res));
            else if (strcmp (PQcmdStatus (res), "COMMIT") == 0)
                self->flight_committed = true;
            PQclear (res);
            return 0;
        case PGRES_PIPELINE_ABORTED:
            PQclear (res);
            return 0;
        default:
            //  The step's first error is its error.
            if (self->flight_res)
                PQclear (res);
            else
                self->flight_res = res;
            return 0;
    }
}

//  Read what has come, send what the socket takes, and move on while a
//  step's results are complete, all without waiting.
static void
s_flight_step (fy_store_t *self)
{
    PGconn *conn = self->conn;
    int rc = 0;
    if (self->flight_write)
        rc = s_flight_flush (self);
    if (rc == 0 && PQconsumeInput (conn) != 1)
        rc = s_flight_conn_error (self, "receive");
    while (rc == 0 && self->flight_state != S_FLIGHT_LANDED && !PQisBusy (conn))
        rc = s_flight_result (self, PQgetResult (conn));
    if (rc)
        s_flight_failed (self);
}

void
fy_store_flight_start (fy_store_t *self, const fy_store_flight_ops_t *ops,
                       void *arg)
{
    assert (self);
    assert (ops);
    assert (self->flight_state == S_FLIGHT_NONE);
    self->flight_ops = ops;
    self->flight_arg = arg;
    self->flight_attempt = 0;
    self->flight_err.text [0] = '\0';
    if (s_flight_send (self))
        s_flight_failed (self);
}

//  Land the flight at once with outcome rc (errno, err), without sending
//  anything: what a method that blocks found.
static void
s_flight_landed (fy_store_t *self, const fy_store_flight_ops_t *ops, void *arg,
                 int rc)
{
    self->flight_ops = ops;
    self->flight_arg = arg;
    s_flight_land (self, rc);
}

bool
fy_store_append_is_busy (fy_store_t *self)
{
    assert (self);
    return self->flight_state != S_FLIGHT_NONE;
}

int
fy_store_append_socket (fy_store_t *self)
{
    assert (self);
    if (self->flight_state == S_FLIGHT_NONE
        || self->flight_state == S_FLIGHT_LANDED || !self->conn)
        return -1;
    return PQsocket (self->conn);
}

bool
fy_store_append_wants_write (fy_store_t *self)
{
    assert (self);
    return fy_store_append_socket (self) >= 0 && self->flight_write;
}

int
fy_store_flight_poll (fy_store_t *self, size_t *count_p, fy_error_t *err)
{
    assert (self);
    assert (self->flight_state != S_FLIGHT_NONE);
    if (count_p)
        *count_p = 0;
    if (self->flight_state != S_FLIGHT_LANDED)
        s_flight_step (self);
    if (self->flight_state != S_FLIGHT_LANDED)
        return 1;
    int rc = self->flight_rc;
    size_t count = self->flight_ops->finish (self, self->flight_arg, rc);
    if (rc == 0 && count_p)
        *count_p = count;
    if (rc && err)
        *err = self->flight_err;
    self->flight_state = S_FLIGHT_NONE;
    errno = self->flight_errno;
    return rc;
}

int
fy_store_flight_wait (fy_store_t *self, size_t *count_p, fy_error_t *err)
{
    assert (self);
    if (count_p)
        *count_p = 0;
    if (self->flight_state == S_FLIGHT_NONE)
        return 0;
    while (true) {
        int rc = fy_store_flight_poll (self, count_p, err);
        if (rc != 1)
            return rc;
        struct pollfd item = {
            .fd = fy_store_append_socket (self),
            .events = (short) (POLLIN | (self->flight_write ? POLLOUT : 0))
        };
        //  Whatever woke it (or interrupted it), poll says where it is.
        (void) poll (&item, 1, 1000);
    }
}

static void
s_loop_want (void *object, fy_loop_want_t *want)
{
    fy_store_t *self = object;
    if (!fy_store_append_is_busy (self))
        return;
    want->fd = fy_store_append_socket (self);
    if (want->fd < 0)
        want->timeout_ms = 0;  //  its outcome is known: poll at once
    else
        want->events =
            (short) (ZMQ_POLLIN | (self->flight_write ? ZMQ_POLLOUT : 0));
}

static void
s_loop_run (void *object, short revents)
{
    (void) revents;
    fy_store_t *self = object;
    if (!fy_store_append_is_busy (self))
        return;
    fy_error_t err = { "" };
    size_t count = 0;
    int rc = fy_store_flight_poll (self, &count, &err);
    if (rc != 1)
        self->landed (rc, count, &err, self->landed_arg);
}

static const fy_loop_ops_t s_loop_ops = { s_loop_want, s_loop_run };

fy_loop_source_t *
fy_store_append_attach (fy_store_t *self, zloop_t *loop,
                        fy_store_landed_fn *landed, void *arg)
{
    assert (self);
    assert (landed);
    self->landed = landed;
    self->landed_arg = arg;
    return fy_loop_attach (loop, &s_loop_ops, self);
}

//  ---------------------------------------------------------------------
//  Audit batch append in flight
//
//  AUTO as a flight: BEGIN and the ids, the COPY of the rows they make
//  new, then the conflicts, the hours due and the COMMIT. The rare paths
//  (a lost connection, a failure worth a retry) go back to the blocking
//  code above: it is what fy_store_audit_append does, so the outcome is
//  the same either way.

static int
s_audit_prepare (fy_store_t *self, void *arg, fy_error_t *err)
{
    s_batch_t *batch = arg;
    self->conflict_count = 0;
    return s_ensure_months (self, batch->rows, batch->count, err);
}

static bool
s_audit_first (fy_store_t *self, PGconn *conn, void *arg)
{
    (void) conn;
    return s_stmt_send (self, S_STMT_IDS, arg) == 1;
}

//  The ids recorded (first step) or the conflicts (last step).
static int
s_audit_rows (fy_store_t *self, void *arg, int step, int n, PGresult *res,
              fy_error_t *err)
{
    (void) n;
    return step == 0 ? s_ids_read (self, arg, res, err)
                     : s_conflicts_parse (self, res, err);
}

static const char *
s_audit_copy_sql (fy_store_t *self, void *arg)
{
    (void) self;
    s_batch_t *batch = arg;
    return batch->stored_count ? "COPY audit.events (" S_COLUMNS ") FROM STDIN"
                               : NULL;
}

static char *
s_audit_copy_data (fy_store_t *self, void *arg, size_t *len)
{
    (void) self;
    s_batch_t *batch = arg;
    return s_copy_encode (batch->params, batch->count, batch->stored, len);
}

//  The conflicts (when copies were not stored) and the hours due (when
//  rows were).
static bool
s_audit_last (fy_store_t *self, PGconn *conn, void *arg)
{
    (void) conn;
    s_batch_t *batch = arg;
    return (batch->stored_count == batch->count
            || s_stmt_send (self, S_STMT_CONFLICTS, batch) == 1)
           && (batch->stored_count == 0
               || s_stmt_send (self, S_STMT_DUE, batch) == 1);
}

//  The blocking attempts a failed flight deserves.
static int
s_audit_failed (fy_store_t *self, void *arg, fy_error_t *err)
{
    if (!s_retry_worth (self, 0))
        return -1;
    return s_append_attempts (self, arg, 1, &self->flight_inserted, err);
}

static size_t
s_audit_finish (fy_store_t *self, void *arg, int rc)
{
    if (rc)
        self->conflict_count = 0;
    s_batch_free (arg);
    return self->flight_inserted;
}

static const fy_store_flight_ops_t s_audit_ops = {
    s_audit_prepare,   s_audit_first, s_audit_rows,   s_audit_copy_sql,
    s_audit_copy_data, s_audit_last,  s_audit_failed, s_audit_finish
};

void
fy_store_audit_append_start (fy_store_t *self, fy_event_t **events,
                             size_t count)
{
    assert (self);
    assert (events || count == 0);
    assert (self->flight_state == S_FLIGHT_NONE);
    self->flight_inserted = 0;
    self->flight_err.text [0] = '\0';
    self->conflict_count = 0;
    self->state [0] = '\0';
    if (count == 0) {
        s_flight_landed (self, &s_audit_ops, &self->flight, 0);
        return;
    }
    s_batch_fill (&self->flight, events, count);
    if (self->method != FY_STORE_APPEND_AUTO) {
        int rc = s_append_attempts (self, &self->flight, 0,
                                    &self->flight_inserted, &self->flight_err);
        s_flight_landed (self, &s_audit_ops, &self->flight, rc);
    }
    else
        fy_store_flight_start (self, &s_audit_ops, &self->flight);
}

int
fy_store_audit_append_poll (fy_store_t *self, size_t *inserted_p,
                            fy_error_t *err)
{
    return fy_store_flight_poll (self, inserted_p, err);
}

int
fy_store_audit_append_wait (fy_store_t *self, size_t *inserted_p,
                            fy_error_t *err)
{
    return fy_store_flight_wait (self, inserted_p, err);
}

//  ---------------------------------------------------------------------
//  Search, get, export

//  base64url without padding, for the opaque cursor.
static const char s_b64 [] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *
s_cursor_encode (const char *usec, const char *id)
{
    char *plain = fy_xasprintf ("%s,%s", usec, id);
    size_t len = strlen (plain);
    char *out = fy_xmalloc (len * 4 / 3 + 4);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t bits = (uint32_t) (unsigned char) plain [i] << 16;
        if (i + 1 < len)
            bits |= (uint32_t) (unsigned char) plain [i + 1] << 8;
        if (i + 2 < len)
            bits |= (unsigned char) plain [i + 2];
        out [o++] = s_b64 [(bits >> 18) & 63];
        out [o++] = s_b64 [(bits >> 12) & 63];
        if (i + 1 < len)
            out [o++] = s_b64 [(bits >> 6) & 63];
        if (i + 2 < len)
            out [o++] = s_b64 [bits & 63];
    }
    out [o] = '\0';
    free (plain);
    return out;
}

//  Decode a cursor into its microseconds and id. Returns 0 or -1.
static int
s_cursor_decode (const char *cursor, s_query_t *query)
{
    char plain [80];
    size_t len = strlen (cursor), p = 0;
    uint32_t bits = 0;
    int have = 0;
    if (len == 0 || len > 100 || len % 4 == 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        const char *at = strchr (s_b64, cursor [i]);
        if (!at || !cursor [i])
            return -1;
        bits = (bits << 6) | (uint32_t) (at - s_b64);
        have += 6;
        if (have >= 8) {
            have -= 8;
            if (p + 1 >= sizeof plain)
                return -1;
            plain [p++] = (char) ((bits >> have) & 0xff);
        }
    }
    plain [p] = '\0';
    char *comma = strchr (plain, ',');
    if (!comma || comma == plain || (size_t) (comma - plain) >= 21)
        return -1;
    *comma = '\0';
    int64_t usec;
    if (fy_parse_int64 (plain, INT64_MIN / 2, INT64_MAX / 2, &usec)
        || !fy_uuid_is_valid (comma + 1, strlen (comma + 1)))
        return -1;
    memcpy (query->usec, plain, (size_t) (comma - plain) + 1);
    memcpy (query->id, comma + 1, FY_UUID_SIZE);
    return 0;
}

//  Append "before$Nafter" to the query's SQL, $N being value's number.
static void
s_where (s_query_t *query, const char *before, const char *after,
         const char *value)
{
    char *sql =
        fy_xasprintf ("%s%s$%d%s", query->sql, before, query->count + 1, after);
    free (query->sql);
    query->sql = sql;
    query->values [query->count++] = value;
}

//  Escape LIKE's wildcards in a lower-cased q. Caller owns result.
static char *
s_like_pattern (const char *q)
{
    size_t len = strlen (q);
    char *out = fy_xmalloc (len * 2 + 3);
    size_t o = 0;
    out [o++] = '%';
    for (size_t i = 0; i < len; i++) {
        char c = q [i];
        if (c == '%' || c == '_' || c == '\\')
            out [o++] = '\\';
        out [o++] = c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
    }
    out [o++] = '%';
    out [o] = '\0';
    return out;
}

//  0001-01-01T00:00:00Z: PostgreSQL takes no year 0, which RFC 3339 has.
#define S_YEAR_1_MS INT64_C (-62135596800000)

//  A time filter, RFC 3339 as every time in ferry, into out as UTC with
//  milliseconds: what reaches SQL is exactly the instant checked here,
//  never "yesterday", "epoch" or "infinity", which timestamptz would
//  take. Returns 0, or -1 with errno EINVAL.
static int
s_time_filter (const char *name, const char *value,
               char out [FY_TIME_RFC3339_SIZE], fy_error_t *err)
{
    int64_t ms;
    if (fy_time_parse (value, strlen (value), false, &ms) || ms < S_YEAR_1_MS) {
        fy_error_set (err,
                      "%s: not an RFC 3339 time from year 1 to 9999, "
                      "e.g. 2026-11-26T10:00:00Z",
                      name);
        errno = EINVAL;
        return -1;
    }
    fy_time_format (ms, out);
    return 0;
}

static bool
s_is_utf8 (const char *text)
{
    size_t len = strlen (text);
    for (size_t at = 0, step; at < len; at += step)
        if ((step = fy_utf8_length (text + at, len - at)) == 0)
            return false;
    return true;
}

//  Check every filter PostgreSQL would otherwise refuse, so that a
//  caller's mistake is named here and an error from the database on a
//  read is never the caller's. Returns 0, or -1 with errno EINVAL.
static int
s_filter_check (const fy_store_filter_t *filter, fy_error_t *err)
{
    const struct {
        const char *name;
        const char *value;
        bool uuid;
    } fields [] = {
        { "companyId", filter->company_id, true },
        { "actorId", filter->actor_id, true },
        { "type", filter->type, false },
        { "action", filter->action, false },
        { "targetType", filter->target_type, false },
        { "targetId", filter->target_id, false },
        { "q", filter->q, false },
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const char *value = fields [i].value;
        if (!value)
            continue;
        if (fields [i].uuid ? !fy_uuid_is_valid (value, strlen (value))
                            : !s_is_utf8 (value)) {
            fy_error_set (err, "%s: %s", fields [i].name,
                          fields [i].uuid ? "not a uuid" : "not UTF-8");
            errno = EINVAL;
            return -1;
        }
    }
    return 0;
}

//  Build the query for filter. Returns 0, or -1 with errno EINVAL.
static int
s_query_build (s_query_t *query, const fy_store_filter_t *filter, char **like_p,
               fy_error_t *err)
{
    memset (query, 0, sizeof *query);
    *like_p = NULL;
    if (!filter->company_id || !*filter->company_id) {
        fy_error_set (err, "companyId is required");
        errno = EINVAL;
        return -1;
    }
    if (s_filter_check (filter, err)
        || (filter->from
            && s_time_filter ("from", filter->from, query->from, err))
        || (filter->to && s_time_filter ("to", filter->to, query->to, err)))
        return -1;
    if (filter->cursor && s_cursor_decode (filter->cursor, query)) {
        fy_error_set (err, "cursor: not a cursor this service gave");
        errno = EINVAL;
        return -1;
    }
    query->sql = fy_xasprintf ("%s WHERE company_id = $1::uuid", s_select);
    query->values [query->count++] = filter->company_id;
    if (filter->actor_id)
        s_where (query, " AND actor_id = ", "::uuid", filter->actor_id);
    if (filter->type)
        s_where (query, " AND type = ", "", filter->type);
    if (filter->action)
        s_where (query, " AND action = ", "", filter->action);
    if (filter->target_type)
        s_where (query, " AND target_type = ", "", filter->target_type);
    if (filter->target_id)
        s_where (query, " AND target_id = ", "", filter->target_id);
    if (filter->from)
        s_where (query, " AND occurred_at >= ", "::timestamptz", query->from);
    if (filter->to)
        s_where (query, " AND occurred_at < ", "::timestamptz", query->to);
    if (filter->q && *filter->q) {
        *like_p = s_like_pattern (filter->q);
        s_where (query,
                 " AND audit.search_text(action, target_type, "
                 "target_id, payload) LIKE ",
                 "", *like_p);
    }
    if (filter->cursor) {
        s_where (query, " AND (occurred_at, id) < (timestamptz 'epoch' + ",
                 "::bigint * interval '1 microsecond'", query->usec);
        s_where (query, ", ", "::uuid)", query->id);
    }
    return 0;
}

static void
s_set_text (json_t *object, const char *key, PGresult *res, int row, int col)
{
    json_object_set_new (object, key,
                         PQgetisnull (res, row, col)
                             ? json_null ()
                             : json_string (PQgetvalue (res, row, col)));
}

static void
s_set_json (json_t *object, const char *key, PGresult *res, int row, int col)
{
    json_t *value = NULL;
    if (!PQgetisnull (res, row, col))
        value = fy_json_loadb (PQgetvalue (res, row, col),
                               (size_t) PQgetlength (res, row, col), NULL);
    json_object_set_new (object, key, value ? value : json_null ());
}

//  One result row as the API's JSON object.
static json_t *
s_row_json (PGresult *res, int row)
{
    json_t *object = json_object ();
    s_set_text (object, "id", res, row, 0);
    s_set_text (object, "type", res, row, 1);
    json_object_set_new (
        object, "version",
        json_integer ((int) s_number (PQgetvalue (res, row, 2))));
    s_set_text (object, "source", res, row, 3);
    s_set_text (object, "occurredAt", res, row, 4);
    s_set_text (object, "companyId", res, row, 5);
    s_set_text (object, "actorId", res, row, 6);
    s_set_text (object, "correlationId", res, row, 7);
    s_set_text (object, "action", res, row, 8);
    s_set_text (object, "targetType", res, row, 9);
    s_set_text (object, "targetId", res, row, 10);
    s_set_text (object, "ip", res, row, 11);
    s_set_text (object, "userAgent", res, row, 12);
    s_set_json (object, "payload", res, row, 13);
    s_set_json (object, "changes", res, row, 14);
    s_set_text (object, "receivedAt", res, row, 15);
    return object;
}

//  s_fail for a read: its parameters were checked before (EINVAL is
//  the check's, with its own text), so a data exception the database
//  still raises is the store's failure, EIO, not the caller's input.
static int
s_read_fail (fy_store_t *self, PGresult *res, const char *what, fy_error_t *err)
{
    fy_store_pg_fail (self, res, what, err);
    if (errno == EINVAL)
        errno = EIO;
    return -1;
}

//  Run a read-only query with one reconnect on a lost connection.
static PGresult *
s_read (fy_store_t *self, const char *sql, int count, const char *const *values,
        const char *what, fy_error_t *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (fy_store_connect (self, err))
            return NULL;
        PGresult *res =
            PQexecParams (self->conn, sql, count, NULL, values, NULL, NULL, 0);
        if (PQresultStatus (res) == PGRES_TUPLES_OK)
            return res;
        s_read_fail (self, res, what, err);
        if (!s_lost (self))
            return NULL;
    }
    return NULL;
}

json_t *
fy_store_audit_search (fy_store_t *self, const fy_store_filter_t *filter,
                       fy_error_t *err)
{
    assert (self);
    assert (filter);
    int limit = filter->limit ? filter->limit : 100;
    if (limit < 1 || limit > FY_STORE_SEARCH_MAX) {
        fy_error_set (err, "limit: %d is not in 1..%d", filter->limit,
                      FY_STORE_SEARCH_MAX);
        errno = EINVAL;
        return NULL;
    }
    s_query_t query;
    char *like;
    if (s_query_build (&query, filter, &like, err))
        return NULL;
    //  One row more than asked says whether there is a next page.
    char fetch [16];
    snprintf (fetch, sizeof fetch, "%d", limit + 1);
    s_where (&query, " ORDER BY occurred_at DESC, id DESC LIMIT ", "::int",
             fetch);
    json_t *result = NULL;
    PGresult *res =
        s_read (self, query.sql, query.count, query.values, "search", err);
    if (res) {
        json_t *items = json_array ();
        int rows = PQntuples (res);
        for (int i = 0; i < rows && i < limit; i++)
            json_array_append_new (items, s_row_json (res, i));
        json_t *next = json_null ();
        if (rows > limit) {
            char *cursor = s_cursor_encode (PQgetvalue (res, limit - 1, 16),
                                            PQgetvalue (res, limit - 1, 0));
            next = json_string (cursor);
            free (cursor);
        }
        result = json_pack ("{s:o, s:o}", "items", items, "nextCursor", next);
        PQclear (res);
    }
    free (query.sql);
    free (like);
    return result;
}

json_t *
fy_store_audit_get (fy_store_t *self, const char *id, const char *company_id,
                    fy_error_t *err)
{
    assert (self);
    assert (id);
    if (!fy_uuid_is_valid (id, strlen (id))) {
        fy_error_set (err, "id: not a uuid");
        errno = EINVAL;
        return NULL;
    }
    //  The copy audit.event_ids names: a second copy stored before it
    //  existed (0004_event_ids) is not the event.
    char *sql = fy_xasprintf ("%s WHERE (id, occurred_at) IN (SELECT id, "
                              "occurred_at FROM audit.event_ids WHERE id = "
                              "$1::uuid) AND ($2::uuid IS NULL "
                              "OR company_id = $2::uuid)",
                              s_select);
    const char *values [] = { id, company_id };
    json_t *row = NULL;
    PGresult *res = s_read (self, sql, 2, values, "get", err);
    if (res && PQntuples (res) == 0) {
        fy_error_set (err, "no audit event %s", id);
        errno = ENOENT;
    }
    else if (res)
        row = s_row_json (res, 0);
    PQclear (res);
    free (sql);
    return row;
}

fy_store_export_t *
fy_store_audit_export (fy_store_t *self, const fy_store_filter_t *filter,
                       fy_error_t *err)
{
    assert (self);
    assert (filter);
    s_query_t query;
    char *like;
    if (s_query_build (&query, filter, &like, err))
        return NULL;
    char *sql = fy_xasprintf ("DECLARE fy_export NO SCROLL CURSOR FOR %s "
                              "ORDER BY occurred_at DESC, id DESC",
                              query.sql);
    fy_store_export_t *export = NULL;
    if (fy_store_connect (self, err) == 0
        && s_command (self, "BEGIN READ ONLY", err) == 0) {
        PGresult *res = PQexecParams (self->conn, sql, query.count, NULL,
                                      query.values, NULL, NULL, 0);
        if (PQresultStatus (res) == PGRES_COMMAND_OK) {
            PQclear (res);
            export = fy_xcalloc (1, sizeof *export);
            export->store = self;
        }
        else {
            s_read_fail (self, res, "export", err);
            int saved = errno;
            s_rollback (self);
            s_lost (self);
            errno = saved;
        }
    }
    else
        s_lost (self);
    free (sql);
    free (query.sql);
    free (like);
    return export;
}

int
fy_store_export_next (fy_store_export_t *self, json_t **row_p, fy_error_t *err)
{
    assert (self);
    assert (row_p);
    *row_p = NULL;
    if (self->res && self->row >= PQntuples (self->res)) {
        PQclear (self->res);
        self->res = NULL;
    }
    if (!self->res && !self->done) {
        fy_store_t *store = self->store;
        char fetch [64];
        snprintf (fetch, sizeof fetch, "FETCH %d FROM fy_export",
                  S_EXPORT_FETCH);
        PGresult *res = PQexec (store->conn, fetch);
        if (PQresultStatus (res) != PGRES_TUPLES_OK) {
            s_read_fail (store, res, "export fetch", err);
            self->done = true;
            return -1;
        }
        self->res = res;
        self->row = 0;
        if (PQntuples (res) < S_EXPORT_FETCH)
            self->done = true;
    }
    if (!self->res || self->row >= PQntuples (self->res))
        return 0;
    *row_p = s_row_json (self->res, self->row++);
    return 1;
}

void
fy_store_export_destroy (fy_store_export_t **self_p)
{
    assert (self_p);
    fy_store_export_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    PQclear (self->res);
    //  Ending the transaction closes the cursor.
    s_rollback (self->store);
    s_lost (self->store);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  ---------------------------------------------------------------------
//  The connection, for libferry's other PostgreSQL classes (fy_store_pg.h)

PGconn *
fy_store_pg (fy_store_t *self, fy_error_t *err)
{
    assert (self);
    if (fy_store_connect (self, err))
        return NULL;
    return self->conn;
}

bool
fy_store_pg_lost (fy_store_t *self)
{
    assert (self);
    return s_lost (self);
}

PGresult *
fy_store_pg_query (fy_store_t *self, PGconn *conn, const char *sql, int count,
                   const char *const *values, const char *what, fy_error_t *err)
{
    assert (self);
    assert (conn);
    PGresult *res =
        PQexecParams (conn, sql, count, NULL, values, NULL, NULL, 0);
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;
    fy_store_pg_fail (self, res, what, err);
    return NULL;
}

PGresult *
fy_store_pg_exec (fy_store_t *self, const char *sql, int count,
                  const char *const *values, const char *what, fy_error_t *err)
{
    assert (self);
    if (fy_store_connect (self, err))
        return NULL;
    return fy_store_pg_query (self, self->conn, sql, count, values, what, err);
}

void
fy_store_pg_rollback (fy_store_t *self)
{
    assert (self);
    s_rollback (self);
}
