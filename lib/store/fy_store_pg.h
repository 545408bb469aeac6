/*  fy_store_pg: private to libferry. The PostgreSQL connection under a
    fy_store, for the other libferry classes that keep their own tables
    in the same database (fy_audit_digest), so they share the store's
    connection, backoff and reconnection instead of keeping a second. */
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

#endif
