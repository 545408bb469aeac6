/*  fy_store_pg: private to libferry. The PostgreSQL connection under a
    fy_store, for the other libferry classes that keep their own tables
    in the same database (fy_audit_digest, fy_store_analytics), so they
    share the store's connection, backoff, reconnection and error
    conventions instead of keeping a second; and the COPY and array text
    encodings their writers share (fy_store_copy.c). */
#ifndef FY_STORE_PG_H_INCLUDED
#define FY_STORE_PG_H_INCLUDED

#include "ferry/fy_uuid.h"
#include "store/fy_store.h"

#include <libpq-fe.h>

//  The store's connection, connected now unless it was. Borrowed; valid
//  until the next call on the store. NULL with errno EAGAIN and err when
//  the database cannot be reached.
PGconn *
fy_store_pg (fy_store_t *self, fy_error_t *err);

//  After a failed query: true, and the connection dropped so the next
//  fy_store_pg makes a new one, when the connection was lost.
bool
fy_store_pg_lost (fy_store_t *self);

//  A failed result turned into errno and err by the store's conventions
//  (fy_store_audit_append's: EINVAL for a value the database refuses,
//  SQLSTATE class 22 or 23; EAGAIN for a serialization failure, a
//  deadlock or a shutdown; ECONNRESET when the connection was lost; EIO
//  otherwise), its SQLSTATE kept for fy_store_sqlstate, and cleared
//  (res may be NULL). Returns -1.
int
fy_store_pg_fail (fy_store_t *self, PGresult *res, const char *what,
                  fy_error_t *err);

//  Run sql with count text parameters (a NULL value is SQL NULL) on conn,
//  the store's connection (fy_store_pg). Returns the result when it has
//  rows or completed (caller clears it), or NULL with errno and err as
//  fy_store_pg_fail. Inside a transaction: a lost connection fails the
//  call, it is never remade under it.
PGresult *
fy_store_pg_query (fy_store_t *self, PGconn *conn, const char *sql, int count,
                   const char *const *values, const char *what,
                   fy_error_t *err);

//  The same for one statement alone, connecting first unless connected.
PGresult *
fy_store_pg_exec (fy_store_t *self, const char *sql, int count,
                  const char *const *values, const char *what, fy_error_t *err);

//  End the transaction open on the connection, if any.
void
fy_store_pg_rollback (fy_store_t *self);

//  Append value to *buffer (*len used of *size, grown as needed) in COPY
//  text format: \N for NULL, backslash, tab, newline and return escaped.
//  Not terminated.
void
fy_store_copy_value (char **buffer, size_t *len, size_t *size,
                     const char *value);

//  Append value to *buffer as one element of an array literal: '{' before
//  the first (when *len is 0), ',' before the others, quoted, or NULL.
//  The caller closes it with fy_store_array_end.
void
fy_store_array_value (char **buffer, size_t *len, size_t *size,
                      const char *value);

//  Close the array literal in buffer (*len bytes; fy_store_array_value
//  leaves room, and a buffer of 3 bytes or more has it at first): '}', or
//  "{}" when nothing was appended, and a terminating NUL (not counted).
void
fy_store_array_end (char *buffer, size_t *len);

//  One id of a batch: its bytes and the place (row) of a copy of it.
typedef struct {
    unsigned char bytes [FY_UUID_BYTES];
    size_t row;
} fy_store_id_t;

//  id holds text (a UUID, as fy_event checked every event id) and row.
void
fy_store_id_set (fy_store_id_t *id, const char *text, size_t row);

//  Sort count ids (of rows in batch order) by their bytes, the order
//  PostgreSQL sorts uuid in (so two batches in flight sharing ids lock
//  them in one order), keeping only the first copy of each. Returns how
//  many are left, distinct.
size_t
fy_store_ids_distinct (fy_store_id_t *ids, size_t count);

//  count ids as one binary uuid[] parameter (format 1), *length bytes:
//  the server reads it without parsing text. Caller frees.
char *
fy_store_ids_array (const fy_store_id_t *ids, size_t count, int *length);

//  The id of ids (count, as fy_store_ids_distinct left them) that row r
//  of res names in its first column (a uuid in binary), or NULL.
const fy_store_id_t *
fy_store_ids_find (const fy_store_id_t *ids, size_t count, const PGresult *res,
                   int r);

//  Read the results of the queries sent on conn in pipeline mode up to
//  and with its sync, keeping the first count in results (when not NULL;
//  the caller clears them, and those after a failure stay NULL), the rest
//  cleared. Stays in pipeline mode. Returns 0, or -1 with errno and err
//  (what names the step) for the first query that failed, or ECONNRESET
//  when the connection was lost.
int
fy_store_pg_pipeline_results (fy_store_t *self, PGconn *conn,
                              PGresult **results, int count, const char *what,
                              fy_error_t *err);

//  A transaction flown without waiting on the store's connection (how
//  fy_store_audit_append_start and fy_store_analytics_apply_start write
//  a batch): BEGIN and the first step's queries in one pipeline, then a
//  COPY when there is one, then the last step's queries and COMMIT in one
//  pipeline. The ops say what each step sends and reads; arg is theirs.
typedef struct {
    //  Before BEGIN, connected (blocking). 0, or -1 with errno and err.
    //  May be NULL.
    int (*prepare) (fy_store_t *store, void *arg, fy_error_t *err);
    //  Send the first step's queries after BEGIN (PQsendQueryParams);
    //  false when one could not be sent.
    bool (*first) (fy_store_t *store, PGconn *conn, void *arg);
    //  Result n (counted from 0 among those of the step with rows, the
    //  step 0 for the first, 1 for the last) to read and clear. 0, or -1
    //  with errno and err (fy_store_pg_fail).
    int (*rows) (fy_store_t *store, void *arg, int step, int n, PGresult *res,
                 fy_error_t *err);
    //  After the first step: the COPY ... FROM STDIN to run, or NULL for
    //  none; then its data when the server takes it (caller frees).
    const char *(*copy_sql) (fy_store_t *store, void *arg);
    char *(*copy_data) (fy_store_t *store, void *arg, size_t *len);
    //  Send the last step's queries, before the COMMIT.
    bool (*last) (fy_store_t *store, PGconn *conn, void *arg);
    //  The flight failed (errno and err set, rolled back): the outcome
    //  after the attempts it deserves (0, or -1 with errno and err). NULL:
    //  when the connection was lost, it flies once more on a new one.
    int (*failed) (fy_store_t *store, void *arg, fy_error_t *err);
    //  It is over with outcome rc: the count poll gives; arg is released.
    size_t (*finish) (fy_store_t *store, void *arg, int rc);
} fy_store_flight_ops_t;

//  Start the transaction ops describe; it moves on in
//  fy_store_flight_poll (or fy_store_append_attach's source) and
//  fy_store_flight_wait (both in fy_store.h), and fy_store_append_is_busy is true until it
//  landed. At most one flight per store.
void
fy_store_flight_start (fy_store_t *self, const fy_store_flight_ops_t *ops,
                       void *arg);


#endif
