/*  fy_store: the storage interface of the persistent workers (DESIGN §5),
    implemented on PostgreSQL through libpq. One store is one connection,
    used from one thread. It connects on first use and again after the
    connection is lost, with a backoff between failed attempts; a lost
    connection makes the operation in progress reconnect and retry once
    (every operation here is idempotent), then fail with a retryable
    errno. Connecting blocks the caller for at most connect_timeout_s.

    Every query is parameterized; no value is ever formatted into SQL.
    The schema is in sql/ and applied by ferryctl migrate. */
#ifndef FY_STORE_H_INCLUDED
#define FY_STORE_H_INCLUDED

#include "core/fy_loop.h"
#include "ferry/fy_cfg.h"
#include "ferry/fy_common.h"
#include "ferry/fy_event.h"
#include "ferry/fy_time.h"
#include "ferry/fy_uuid.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The schema version (the newest sql/NNNN file) this build's code needs.
#define FY_STORE_SCHEMA_VERSION 17
//  The largest page a search returns.
#define FY_STORE_SEARCH_MAX 1000

typedef struct fy_store fy_store_t;
typedef struct fy_store_export fy_store_export_t;

//  How a batch is written. AUTO, the fastest measured (doc/store.md),
//  records the batch's new ids in audit.event_ids first, then COPYs the
//  rows of those ids straight into audit.events, so a redelivery costs
//  no other path. The others stage the batch in a temporary table, each
//  its own way, then move the first copy of each new id over in one
//  statement; they exist so the measurement can be repeated.
typedef enum {
    FY_STORE_APPEND_AUTO,       //  new ids recorded, then their rows COPYed
    FY_STORE_APPEND_INSERT,     //  staged by multi-row INSERTs
    FY_STORE_APPEND_COPY,       //  staged by COPY
    FY_STORE_APPEND_PIPELINE    //  staged by one INSERT per row, pipelined
} fy_store_append_t;

//  A copy of an event id already stored (or earlier in the same batch)
//  whose content differs from the stored copy: it was not stored, the
//  first copy stays. fields names the differing fields by their event
//  keys (occurredAt, type, payload, ...), comma-separated.
typedef struct {
    char id [FY_UUID_SIZE];
    char stored_at [FY_TIME_RFC3339_SIZE];  //  the stored copy's occurredAt
    char new_at [FY_TIME_RFC3339_SIZE];     //  the refused copy's
    char fields [160];
} fy_store_conflict_t;

//  One audit.events row. Strings are borrowed from the event they were
//  mapped from, but for payload and changes: their JSON text, owned by
//  the row (fy_store_audit_row_clear). changes may be NULL, as may every
//  string marked so.
typedef struct {
    const char *id;
    const char *type;
    int version;
    const char *source;
    const char *occurred_at;
    int64_t occurred_at_ms;
    const char *company_id;
    const char *actor_id;           //  may be NULL
    const char *correlation_id;     //  may be NULL
    const char *action;
    const char *target_type;        //  may be NULL
    const char *target_id;          //  may be NULL
    char ip [48];                   //  "" when absent or not an address
    const char *user_agent;         //  may be NULL
    char *payload;
    char *changes;                  //  may be NULL
} fy_store_audit_row_t;

//  Search filters. company_id is required; every other field may be NULL
//  (or 0 for limit, meaning 100). company_id and actor_id are uuids;
//  from is inclusive, to exclusive, both RFC 3339 times (fy_time_parse:
//  any offset, years 1 to 9999; nothing PostgreSQL alone would take,
//  such as "yesterday" or "infinity"); text filters are UTF-8. q matches
//  a substring of the action, target and payload, case-insensitively.
//  cursor is a page's next_cursor.
typedef struct {
    const char *company_id;
    const char *actor_id;
    const char *type;
    const char *action;
    const char *target_type;
    const char *target_id;
    const char *from;
    const char *to;
    const char *q;
    const char *cursor;
    int limit;
} fy_store_filter_t;

//  Map an event to its audit row: the envelope as is; for audit.recorded
//  the payload's action, target, ip, userAgent and changes; for every
//  other type the action is the type and the target comes from the
//  payload's main id (goalId, reviewId, userId, ...), and ip/userAgent
//  from the payload when it has them. Never fails: an ip that is not an
//  IPv4 or IPv6 address is left out (it stays in the payload).
void
fy_store_audit_row_from_event (fy_event_t *event, fy_store_audit_row_t *row);

//  Free what the row owns (its JSON text).
void
fy_store_audit_row_clear (fy_store_audit_row_t *row);

//  A store on url (a libpq URI or conninfo; borrowed only during the
//  call). Does not connect yet. connect_timeout_s bounds each attempt.
fy_store_t *
fy_store_new (const char *url, int connect_timeout_s);

void
fy_store_destroy (fy_store_t **self_p);

//  A worker's store from cfg's store section (database_url,
//  connect_timeout_s), requiring FY_STORE_SCHEMA_VERSION on every
//  connection (fy_store_require_schema), and checked now. NULL with err
//  and errno EINVAL when database_url is unset or the database's schema
//  is missing or old (fatal at start: a deploy forgot ferryctl migrate).
//  A database that cannot be reached is no failure: the store is
//  returned with *down_errno set (EAGAIN, ...) and down saying why; when
//  it is connected *down_errno is 0 and *version_p (may be NULL) the
//  schema version.
fy_store_t *
fy_store_open (fy_cfg_t *cfg, int *version_p, int *down_errno, fy_error_t *down,
               fy_error_t *err);

//  Connect now unless connected. Returns 0, or -1 with errno EAGAIN when
//  the database cannot be reached (or the backoff after a failed attempt
//  has not elapsed yet) and err saying why; with a schema required
//  (fy_store_require_schema), ENOENT or ERANGE as fy_store_check_schema
//  when the database has none or an older one. Every failed attempt
//  (whatever its errno) starts or doubles the backoff.
int
fy_store_connect (fy_store_t *self, fy_error_t *err) FY_MUSTCHECK;

//  Check the schema on every connection made from now on (workers pass
//  FY_STORE_SCHEMA_VERSION): a database without ferry's schema or with an
//  older one is refused as unreachable is, so nothing is ever written to
//  it, whether it was so at start or came back so after an outage.
void
fy_store_require_schema (fy_store_t *self, int min_version);

//  The SQLSTATE of the last failure on the store ("22009"), "" when it
//  did not come from the server (a lost connection, a refused connect).
//  Borrowed until the next call.
const char *
fy_store_sqlstate (fy_store_t *self);

bool
fy_store_is_connected (fy_store_t *self);

//  Milliseconds until the next connection attempt is allowed; 0 when one
//  may be made now or the store is connected.
int64_t
fy_store_retry_in_ms (fy_store_t *self);

//  Check the database schema is at least min_version (workers pass
//  FY_STORE_SCHEMA_VERSION and refuse to start otherwise). Returns 0 with
//  the version in *version_p (may be NULL), or -1 with err saying what to
//  do and errno: ENOENT no schema at all, ERANGE an older one, EAGAIN
//  database down.
int
fy_store_check_schema (fy_store_t *self, int min_version, int *version_p,
                       fy_error_t *err) FY_MUSTCHECK;

//  Choose how batches are written (default AUTO).
void
fy_store_set_append_method (fy_store_t *self, fy_store_append_t method);

//  Append count events to audit.events in one transaction, creating the
//  monthly partitions they need. An event id is stored once, whatever the
//  rest of the event: a copy of an id already stored (or earlier in the
//  batch) is skipped, and when its content differs it is a conflict
//  (fy_store_audit_conflicts), never a failure. Returns 0 after COMMIT
//  with the rows actually added in *inserted_p (may be NULL), or -1 with
//  nothing written, err, and errno saying what may be retried:
//    EINVAL      the database refused a value of the batch (a data
//                exception or an integrity violation, SQLSTATE class 22
//                or 23, in fy_store_sqlstate): the same rows fail again,
//                the batch must be split to find the one at fault
//    EAGAIN, ECONNRESET  the database is unreachable or went away
//    EIO         another server error (permissions, disk, a missing
//                table): not the rows' fault, retry later
//    ENOENT, ERANGE  (re)connected to a database whose schema is missing
//                or older (fy_store_require_schema)
int
fy_store_audit_append (fy_store_t *self, fy_event_t **events, size_t count,
                       size_t *inserted_p, fy_error_t *err) FY_MUSTCHECK;

//  The conflicts of the last append that landed (none after a failure):
//  their count, and in *list_p (may be NULL) the list in batch order,
//  borrowed until the next append on the store.
size_t
fy_store_audit_conflicts (fy_store_t *self, const fy_store_conflict_t **list_p);

//  The same append without waiting for the server, so the caller's loop
//  keeps working while PostgreSQL copies and commits: the batch is sent
//  (BEGIN, COPY) and this returns; fy_store_audit_append_poll, called
//  whenever fy_store_append_socket is readable (or writable, when
//  fy_store_append_wants_write says so), moves it on to the COMMIT and
//  gives the outcome. events stay borrowed until that outcome. At most one
//  append is in flight on a store, and no other call may use the store
//  until it has landed. Only AUTO overlaps; the other methods, and the
//  rare paths (an event already stored, a lost connection, a retry), run
//  to completion inside start or poll, blocking. Never fails here: even
//  an outcome known at once (the database is down) comes from poll.
void
fy_store_audit_append_start (fy_store_t *self, fy_event_t **events,
                             size_t count);

//  True from fy_store_audit_append_start until poll gave its outcome.
bool
fy_store_append_is_busy (fy_store_t *self);

//  The socket of the append in flight (-1 when none, or when its outcome
//  is already known: call poll at once).
int
fy_store_append_socket (fy_store_t *self);

//  True when the append still has bytes to send: watch the socket for
//  writability too.
bool
fy_store_append_wants_write (fy_store_t *self);

//  Move the append in flight on, without blocking (except on the rare
//  paths above). Returns 1 while it is still in flight, or its outcome as
//  fy_store_audit_append gives it: 0 after COMMIT with *inserted_p (may
//  be NULL), -1 with nothing written, errno and err. After 0 or -1 the
//  store is free.
int
fy_store_audit_append_poll (fy_store_t *self, size_t *inserted_p,
                            fy_error_t *err) FY_MUSTCHECK;

//  An append's outcome, as fy_store_audit_append_poll gives it (errno
//  set too); the store is free again.
typedef void (fy_store_landed_fn) (int rc, size_t inserted, fy_error_t *err,
                                   void *arg);

//  Attach the appends to loop, through core's fy_loop: while one is in
//  flight its socket is watched and polled, and landed gets its outcome.
//  After fy_store_audit_append_start, fy_loop_rearm the source.
//  fy_loop_detach the source before destroying the store.
fy_loop_source_t *
fy_store_append_attach (fy_store_t *self, zloop_t *loop,
                        fy_store_landed_fn *landed, void *arg);

//  Block until the append in flight has landed; returns as poll does (0
//  or -1), at once 0 when none is in flight.
int
fy_store_audit_append_wait (fy_store_t *self, size_t *inserted_p,
                            fy_error_t *err) FY_MUSTCHECK;

//  The same two for any transaction in flight (an audit append or an
//  analytics batch, fy_store_analytics_apply_start), with the count given
//  to its landed function: the rows inserted, the events applied.
int
fy_store_flight_poll (fy_store_t *self, size_t *count_p,
                      fy_error_t *err) FY_MUSTCHECK;
int
fy_store_flight_wait (fy_store_t *self, size_t *count_p,
                      fy_error_t *err) FY_MUSTCHECK;

//  One page of events matching filter, newest first (occurred_at desc,
//  id desc): {"items": [row...], "nextCursor": "..." or null}. A row has
//  the envelope keys (id, type, version, source, occurredAt, companyId,
//  actorId, correlationId) and action, targetType, targetId, ip,
//  userAgent, payload, changes, receivedAt. Caller owns result. NULL with
//  errno EINVAL (a missing company, a limit above FY_STORE_SEARCH_MAX, a
//  malformed uuid, time, text or cursor: err names which, in words of its
//  own, checked before any SQL) or EAGAIN/EIO (err has the database's
//  text, for the log: never EINVAL).
json_t *
fy_store_audit_search (fy_store_t *self, const fy_store_filter_t *filter,
                       fy_error_t *err);

//  The row with id, as in a search (within company_id unless it is NULL).
//  Caller owns result. NULL with errno ENOENT, EINVAL, EAGAIN or EIO.
json_t *
fy_store_audit_get (fy_store_t *self, const char *id, const char *company_id,
                    fy_error_t *err);

//  Every event matching filter (limit ignored), newest first, through a
//  server-side cursor read chunk by chunk: memory stays bounded however
//  many rows match. The export holds the store's connection (inside a
//  read-only transaction) until destroyed; use no other call on the store
//  meanwhile. NULL with errno as fy_store_audit_search.
fy_store_export_t *
fy_store_audit_export (fy_store_t *self, const fy_store_filter_t *filter,
                       fy_error_t *err);

//  The next row into *row_p (caller owns it). Returns 1 with a row, 0 at
//  the end, -1 with errno EAGAIN/EIO and err.
int
fy_store_export_next (fy_store_export_t *self, json_t **row_p,
                      fy_error_t *err) FY_MUSTCHECK;

//  Close the cursor and end its transaction. Safe on NULL.
void
fy_store_export_destroy (fy_store_export_t **self_p);

//  Make sure the partitions of the current (UTC) month and the
//  months_ahead after it exist. *created_p (may be NULL) gets how many
//  were created. Returns 0 or -1 with errno and err.
int
fy_store_ensure_partitions (fy_store_t *self, int months_ahead, int *created_p,
                            fy_error_t *err) FY_MUSTCHECK;

//  Drop the partitions wholly older than the current month and the
//  keep_months before it (the current month is never dropped; keep_months
//  below 1 counts as 1). Each drop is its own transaction and is logged at
//  notice. *dropped_p (may be NULL) gets how many were dropped. Returns 0
//  or -1 with errno and err (the drops done before the failure stay).
int
fy_store_drop_expired (fy_store_t *self, int keep_months, int *dropped_p,
                       fy_error_t *err) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
