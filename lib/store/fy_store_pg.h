/*  fy_store_pg: private to libferry. The PostgreSQL connection under a
    fy_store, for the other libferry classes that keep their own tables
    in the same database (fy_audit_digest, fy_store_analytics), so they
    share the store's connection, backoff, reconnection and error
    conventions instead of keeping a second; and the COPY and array text
    encodings their writers share (fy_store_copy.c). */
#ifndef FY_STORE_PG_H_INCLUDED
#define FY_STORE_PG_H_INCLUDED

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
//  The caller closes it with '}' (and writes "{}" when nothing was
//  appended). Not terminated.
void
fy_store_array_value (char **buffer, size_t *len, size_t *size,
                      const char *value);

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

#endif
