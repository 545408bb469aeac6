/*  fy_audit_digest: the hourly, chained, signed digests of audit.events
    and their verification. The canonical form of an event is built from
    the text PostgreSQL prints for each stored column, so a change made
    to any column by hand (psql UPDATE) changes the event's hash; fields
    are length-prefixed so no two different rows serialize alike. The
    hour's digest covers the company, the hour, the count, the previous
    digest and the list of (id, hash) entries, which is stored with it so
    that verify can name single events; the HMAC over the digest is what
    an intruder without the key cannot redo after rewriting the rest. */
#include "store/fy_audit_digest.h"
#include "ferry/fy_uuid.h"
#include "store/fy_store_pg.h"

#include <assert.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_FIELDS 16
#define S_HOUR_US INT64_C(3600000000)

//  Domain-separation tags, so an event hash can never be taken for an
//  hour digest or the other way round.
static const char s_event_tag [] = "ferry-audit-event-v1";
static const char s_hour_tag [] = "ferry-audit-hour-v1";

//  The canonical columns, in the order they are hashed (doc/store.md).
//  Times are whole microseconds since the epoch, so no time zone or
//  DateStyle setting can change them; jsonb prints in its own normal form.
static const char s_canonical [] =
    "SELECT id::text, "
    "((extract(epoch FROM occurred_at) * 1000000)::bigint)::text, "
    "type, version::text, source, company_id::text, actor_id::text, "
    "correlation_id, action, target_type, target_id, ip::text, user_agent, "
    "payload::text, changes::text, "
    "((extract(epoch FROM received_at) * 1000000)::bigint)::text "
    "FROM audit.events WHERE company_id = $1::uuid "
    "AND occurred_at >= timestamptz 'epoch' "
    "+ $2::bigint * interval '1 microsecond' "
    "AND occurred_at < timestamptz 'epoch' "
    "+ ($2::bigint + 3600000000) * interval '1 microsecond' "
    "ORDER BY occurred_at, id";

//  One entry of an hour's list: the event's uuid and hash, and where it
//  came from (for the report).
typedef struct {
    unsigned char bytes [FY_AUDIT_DIGEST_ENTRY];
} s_entry_t;

//  A digest row as stored.
typedef struct {
    int64_t hour_us;
    int64_t count;
    unsigned char digest [FY_AUDIT_DIGEST_SIZE];
    bool has_prev;
    unsigned char prev [FY_AUDIT_DIGEST_SIZE];
    unsigned char hmac [FY_AUDIT_DIGEST_SIZE];
    size_t digest_len, prev_len, hmac_len;
    const unsigned char *events;
    size_t events_len;
} s_row_t;

//  ---------------------------------------------------------------------
//  Canonical form

static void
s_put_u32 (EVP_MD_CTX *ctx, uint32_t value)
{
    unsigned char be [4] = {
        (unsigned char) (value >> 24), (unsigned char) (value >> 16),
        (unsigned char) (value >> 8), (unsigned char) value
    };
    EVP_DigestUpdate (ctx, be, 4);
}

static void
s_put_u64 (EVP_MD_CTX *ctx, uint64_t value)
{
    unsigned char be [8];
    for (int i = 0; i < 8; i++)
        be [i] = (unsigned char) (value >> (56 - 8 * i));
    EVP_DigestUpdate (ctx, be, 8);
}

void
fy_audit_digest_event (const char *const fields [S_FIELDS],
                       unsigned char hash [FY_AUDIT_DIGEST_SIZE])
{
    assert (fields);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    assert (ctx);
    EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL);
    EVP_DigestUpdate (ctx, s_event_tag, sizeof s_event_tag);
    for (int i = 0; i < S_FIELDS; i++) {
        unsigned char present = fields [i] != NULL;
        EVP_DigestUpdate (ctx, &present, 1);
        if (present) {
            size_t len = strlen (fields [i]);
            s_put_u32 (ctx, (uint32_t) len);
            EVP_DigestUpdate (ctx, fields [i], len);
        }
    }
    EVP_DigestFinal_ex (ctx, hash, NULL);
    EVP_MD_CTX_free (ctx);
}

//  The hour's digest: tag, company, hour, count, previous digest, then
//  the entries as stored.
static void
s_hour_digest (const unsigned char company [FY_UUID_BYTES], int64_t hour_us,
               int64_t count, const unsigned char *prev,
               const unsigned char *events, size_t events_len,
               unsigned char digest [FY_AUDIT_DIGEST_SIZE])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    assert (ctx);
    EVP_DigestInit_ex (ctx, EVP_sha256 (), NULL);
    EVP_DigestUpdate (ctx, s_hour_tag, sizeof s_hour_tag);
    EVP_DigestUpdate (ctx, company, FY_UUID_BYTES);
    s_put_u64 (ctx, (uint64_t) hour_us);
    s_put_u64 (ctx, (uint64_t) count);
    unsigned char has_prev = prev != NULL;
    EVP_DigestUpdate (ctx, &has_prev, 1);
    if (prev)
        EVP_DigestUpdate (ctx, prev, FY_AUDIT_DIGEST_SIZE);
    EVP_DigestUpdate (ctx, events, events_len);
    EVP_DigestFinal_ex (ctx, digest, NULL);
    EVP_MD_CTX_free (ctx);
}

static void
s_sign (const char *key, const unsigned char digest [FY_AUDIT_DIGEST_SIZE],
        unsigned char mac [FY_AUDIT_DIGEST_SIZE])
{
    unsigned int len = FY_AUDIT_DIGEST_SIZE;
    HMAC (EVP_sha256 (), key, (int) strlen (key), digest,
          FY_AUDIT_DIGEST_SIZE, mac, &len);
}

//  ---------------------------------------------------------------------
//  Queries

//  Turn a failed result into errno and err, clear it and return -1.
static int
s_fail (fy_store_t *store, PGresult *res, const char *what, fy_error_t *err)
{
    const char *state = PQresultErrorField (res, PG_DIAG_SQLSTATE);
    const char *message = PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY);
    fy_error_set (err, "%s: %s", what, message ? message : "no reply");
    int code = EIO;
    if (fy_store_pg_lost (store))
        code = ECONNRESET;
    else
    if (state && strncmp (state, "22", 2) == 0)
        code = EINVAL;
    else
    if (state && (strcmp (state, "40001") == 0
                  || strcmp (state, "40P01") == 0
                  || strncmp (state, "57P", 3) == 0))
        code = EAGAIN;
    PQclear (res);
    errno = code;
    return -1;
}

//  Run a query; NULL (failure turned into errno and err) unless it gives
//  rows or, with no rows expected, completes.
static PGresult *
s_query (fy_store_t *store, PGconn *conn, const char *sql, int count,
         const char *const *values, int binary, const char *what,
         fy_error_t *err)
{
    PGresult *res = PQexecParams (conn, sql, count, NULL, values, NULL,
                                  NULL, binary);
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;
    s_fail (store, res, what, err);
    return NULL;
}

static void
s_rollback (PGconn *conn)
{
    if (PQstatus (conn) == CONNECTION_OK
        && PQtransactionStatus (conn) != PQTRANS_IDLE)
        PQclear (PQexec (conn, "ROLLBACK"));
}

//  The entries of one company's hour as the table holds it now: one per
//  event, canonical order. Caller frees *entries_p. Returns the count,
//  or -1.
static int64_t
s_hour_entries (fy_store_t *store, PGconn *conn, const char *company,
                const char *hour, s_entry_t **entries_p, fy_error_t *err)
{
    *entries_p = NULL;
    const char *values [] = { company, hour };
    PGresult *res = s_query (store, conn, s_canonical, 2, values, 0,
                             "hour events", err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    s_entry_t *entries = fy_xcalloc ((size_t) rows + 1, sizeof *entries);
    for (int r = 0; r < rows; r++) {
        const char *fields [S_FIELDS];
        for (int c = 0; c < S_FIELDS; c++)
            fields [c] = PQgetisnull (res, r, c) ? NULL
                                                 : PQgetvalue (res, r, c);
        if (fy_uuid_parse (fields [0], entries [r].bytes))
            memset (entries [r].bytes, 0, FY_UUID_BYTES);
        fy_audit_digest_event (fields, entries [r].bytes + FY_UUID_BYTES);
    }
    PQclear (res);
    *entries_p = entries;
    return rows;
}

//  ---------------------------------------------------------------------
//  Run

//  Digest one (company, hour) in its own transaction, unless another
//  worker did it first. Returns 1 stored, 0 skipped, -1 failed.
static int
s_digest_hour (fy_store_t *store, PGconn *conn, const char *company,
               const char *hour, const char *key, fy_error_t *err)
{
    unsigned char company_bytes [FY_UUID_BYTES];
    int64_t hour_us = 0;
    if (fy_uuid_parse (company, company_bytes)
        || fy_parse_int64 (hour, INT64_MIN, INT64_MAX, &hour_us)) {
        fy_error_set (err, "digest: bad company or hour from the database");
        errno = EIO;
        return -1;
    }
    PGresult *res = s_query (store, conn, "BEGIN", 0, NULL, 0, "begin",
                             err);
    if (!res)
        return -1;
    PQclear (res);
    int rc = -1;
    s_entry_t *entries = NULL;
    const char *lock [] = { company };
    res = s_query (store, conn, "SELECT pg_advisory_xact_lock("
                   "hashtext('fy_audit_digest'), hashtext($1))", 1, lock, 0,
                   "lock", err);
    if (!res)
        goto out;
    PQclear (res);
    res = s_query (store, conn, "SELECT (extract(epoch FROM hour) "
                   "* 1000000)::bigint, digest FROM audit.digests "
                   "WHERE company_id = $1::uuid ORDER BY hour DESC LIMIT 1",
                   1, lock, 1, "last digest", err);
    if (!res)
        goto out;
    bool has_prev = PQntuples (res) == 1;
    unsigned char prev [FY_AUDIT_DIGEST_SIZE];
    if (has_prev) {
        const unsigned char *at = (const unsigned char *) PQgetvalue (res, 0,
                                                                      0);
        int64_t last = 0;
        for (int i = 0; i < 8; i++)
            last = (int64_t) ((uint64_t) last << 8 | at [i]);
        if (last >= hour_us || PQgetlength (res, 0, 1) != sizeof prev) {
            //  Another worker got here first (or the row is not ours to
            //  chain to: verify reports that).
            PQclear (res);
            rc = 0;
            goto out;
        }
        memcpy (prev, PQgetvalue (res, 0, 1), sizeof prev);
    }
    PQclear (res);
    int64_t count = s_hour_entries (store, conn, company, hour, &entries,
                                    err);
    if (count < 0)
        goto out;
    size_t events_len = (size_t) count * FY_AUDIT_DIGEST_ENTRY;
    unsigned char digest [FY_AUDIT_DIGEST_SIZE], mac [FY_AUDIT_DIGEST_SIZE];
    s_hour_digest (company_bytes, hour_us, count, has_prev ? prev : NULL,
                   (unsigned char *) entries, events_len, digest);
    s_sign (key, digest, mac);
    char count_text [24];
    snprintf (count_text, sizeof count_text, "%lld", (long long) count);
    const char *values [] = {
        company, hour, count_text, (char *) digest,
        has_prev ? (char *) prev : NULL, (char *) mac, (char *) entries
    };
    int lengths [] = { 0, 0, 0, sizeof digest, sizeof prev, sizeof mac,
                       (int) events_len };
    int formats [] = { 0, 0, 0, 1, 1, 1, 1 };
    res = PQexecParams (conn,
        "INSERT INTO audit.digests (company_id, hour, event_count, digest, "
        "prev_digest, hmac, events) VALUES ($1::uuid, timestamptz 'epoch' "
        "+ $2::bigint * interval '1 microsecond', $3::bigint, $4::bytea, "
        "$5::bytea, $6::bytea, $7::bytea) "
        "ON CONFLICT (company_id, hour) DO NOTHING",
        7, NULL, values, lengths, formats, 0);
    if (PQresultStatus (res) != PGRES_COMMAND_OK) {
        s_fail (store, res, "store digest", err);
        goto out;
    }
    PQclear (res);
    res = s_query (store, conn, "COMMIT", 0, NULL, 0, "commit", err);
    if (!res)
        goto out;
    PQclear (res);
    rc = 1;
out:
    if (rc < 0) {
        int saved = errno;
        s_rollback (conn);
        errno = saved;
    }
    else
    if (rc == 0)
        s_rollback (conn);
    free (entries);
    return rc;
}

int
fy_audit_digest_run (fy_store_t *store, int64_t now_ms, int grace_s,
                     const char *key, size_t *digested_p, fy_error_t *err)
{
    assert (store);
    if (digested_p)
        *digested_p = 0;
    if (!key || !*key) {
        fy_error_set (err, "digest: no HMAC key (store.digest_key)");
        errno = EINVAL;
        return -1;
    }
    PGconn *conn = fy_store_pg (store, err);
    if (!conn)
        return -1;
    //  The hours before the cutoff that come after each company's last
    //  digest; an event arriving later for an hour already passed is
    //  "added" to verify, never chained out of order.
    char cutoff [24];
    int64_t cutoff_us = (now_ms - (int64_t) grace_s * 1000) * 1000;
    cutoff_us -= ((cutoff_us % S_HOUR_US) + S_HOUR_US) % S_HOUR_US;
    snprintf (cutoff, sizeof cutoff, "%lld", (long long) cutoff_us);
    const char *values [] = { cutoff };
    PGresult *hours = s_query (store, conn,
        "WITH last AS (SELECT company_id, max(hour) AS hour "
        "FROM audit.digests GROUP BY company_id) "
        "SELECT e.company_id::text, (extract(epoch FROM "
        "date_trunc('hour', e.occurred_at, 'UTC')) * 1000000)::bigint AS h "
        "FROM audit.events e LEFT JOIN last l USING (company_id) "
        "WHERE e.occurred_at < timestamptz 'epoch' "
        "+ $1::bigint * interval '1 microsecond' "
        "AND (l.hour IS NULL OR e.occurred_at >= l.hour + interval '1 hour') "
        "GROUP BY 1, 2 ORDER BY 1, 2", 1, values, 0, "closed hours", err);
    if (!hours)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples (hours) && rc == 0; i++) {
        int stored = s_digest_hour (store, conn, PQgetvalue (hours, i, 0),
                                    PQgetvalue (hours, i, 1), key, err);
        if (stored < 0)
            rc = -1;
        else
        if (stored && digested_p)
            (*digested_p)++;
    }
    int saved = errno;
    PQclear (hours);
    errno = saved;
    return rc;
}

//  ---------------------------------------------------------------------
//  Verify

typedef struct {
    json_t *changed, *removed, *added, *digests;
    int64_t hours, events, pending;
} s_report_t;

static void
s_hour_text (int64_t hour_us, char text [32])
{
    time_t seconds = (time_t) (hour_us / 1000000);
    struct tm tm;
    if (!gmtime_r (&seconds, &tm) || !strftime (text, 32,
                                                "%Y-%m-%dT%H:00:00Z", &tm))
        snprintf (text, 32, "%lld", (long long) hour_us);
}

static void
s_report_event (json_t *list, const unsigned char *uuid, int64_t hour_us)
{
    char id [FY_UUID_SIZE], hour [32];
    fy_uuid_format (uuid, id);
    s_hour_text (hour_us, hour);
    json_array_append_new (list, json_pack ("{s:s, s:s}", "id", id,
                                            "hour", hour));
}

static void
s_report_digest (s_report_t *report, int64_t hour_us, const char *problem)
{
    char hour [32];
    s_hour_text (hour_us, hour);
    json_array_append_new (report->digests,
                           json_pack ("{s:s, s:s}", "hour", hour,
                                      "problem", problem));
}

static int
s_entry_compare (const void *a, const void *b)
{
    return memcmp (a, b, FY_AUDIT_DIGEST_ENTRY);
}

//  Compare the stored entries of an hour with its events now, both
//  sorted by uuid (then hash): same uuid and hash is intact, same uuid
//  and another hash changed, the rest removed or added.
static void
s_diff (s_report_t *report, int64_t hour_us, s_entry_t *stored,
        size_t stored_count, s_entry_t *now, size_t now_count)
{
    qsort (stored, stored_count, sizeof *stored, s_entry_compare);
    qsort (now, now_count, sizeof *now, s_entry_compare);
    size_t i = 0, j = 0;
    while (i < stored_count || j < now_count) {
        int order = i == stored_count ? 1 : j == now_count ? -1
                  : memcmp (stored [i].bytes, now [j].bytes, FY_UUID_BYTES);
        if (order == 0) {
            if (memcmp (stored [i].bytes, now [j].bytes,
                        FY_AUDIT_DIGEST_ENTRY) != 0)
                s_report_event (report->changed, now [j].bytes, hour_us);
            i++;
            j++;
        }
        else
        if (order < 0)
            s_report_event (report->removed, stored [i++].bytes, hour_us);
        else
            s_report_event (report->added, now [j++].bytes, hour_us);
    }
}

//  A binary int8 column.
static int64_t
s_int8 (PGresult *res, int row, int col)
{
    const unsigned char *at = (const unsigned char *) PQgetvalue (res, row,
                                                                  col);
    uint64_t value = 0;
    if (PQgetlength (res, row, col) == 8)
        for (int i = 0; i < 8; i++)
            value = value << 8 | at [i];
    return (int64_t) value;
}

static void
s_row_read (PGresult *res, int r, s_row_t *row)
{
    memset (row, 0, sizeof *row);
    row->hour_us = s_int8 (res, r, 0);
    row->count = s_int8 (res, r, 1);
    row->digest_len = (size_t) PQgetlength (res, r, 2);
    if (row->digest_len == FY_AUDIT_DIGEST_SIZE)
        memcpy (row->digest, PQgetvalue (res, r, 2), FY_AUDIT_DIGEST_SIZE);
    row->has_prev = !PQgetisnull (res, r, 3);
    row->prev_len = (size_t) PQgetlength (res, r, 3);
    if (row->has_prev && row->prev_len == FY_AUDIT_DIGEST_SIZE)
        memcpy (row->prev, PQgetvalue (res, r, 3), FY_AUDIT_DIGEST_SIZE);
    row->hmac_len = (size_t) PQgetlength (res, r, 4);
    if (row->hmac_len == FY_AUDIT_DIGEST_SIZE)
        memcpy (row->hmac, PQgetvalue (res, r, 4), FY_AUDIT_DIGEST_SIZE);
    row->events = (const unsigned char *) PQgetvalue (res, r, 5);
    row->events_len = (size_t) PQgetlength (res, r, 5);
}

//  Check one digest row against its predecessor (NULL: none), the key and
//  the events now in its hour.
static int
s_verify_row (fy_store_t *store, PGconn *conn, const char *company,
              const unsigned char company_bytes [FY_UUID_BYTES],
              const s_row_t *row, const s_row_t *before, const char *key,
              s_report_t *report, fy_error_t *err)
{
    report->hours++;
    unsigned char digest [FY_AUDIT_DIGEST_SIZE], mac [FY_AUDIT_DIGEST_SIZE];
    bool shaped = row->digest_len == FY_AUDIT_DIGEST_SIZE
               && row->hmac_len == FY_AUDIT_DIGEST_SIZE
               && (!row->has_prev || row->prev_len == FY_AUDIT_DIGEST_SIZE)
               && row->events_len % FY_AUDIT_DIGEST_ENTRY == 0
               && (int64_t) (row->events_len / FY_AUDIT_DIGEST_ENTRY)
                  == row->count;
    s_hour_digest (company_bytes, row->hour_us, row->count,
                   row->has_prev ? row->prev : NULL, row->events,
                   row->events_len, digest);
    if (!shaped || CRYPTO_memcmp (digest, row->digest, sizeof digest))
        s_report_digest (report, row->hour_us, "altered");
    s_sign (key, row->digest, mac);
    if (CRYPTO_memcmp (mac, row->hmac, sizeof mac))
        s_report_digest (report, row->hour_us, "bad hmac");
    bool chained = before
        ? row->has_prev && memcmp (row->prev, before->digest,
                                   sizeof row->prev) == 0
        : !row->has_prev;
    if (!chained)
        s_report_digest (report, row->hour_us, "chain broken");
    char hour [24];
    snprintf (hour, sizeof hour, "%lld", (long long) row->hour_us);
    s_entry_t *now = NULL;
    int64_t count = s_hour_entries (store, conn, company, hour, &now, err);
    if (count < 0)
        return -1;
    report->events += count;
    size_t stored_count = row->events_len / FY_AUDIT_DIGEST_ENTRY;
    s_entry_t *stored = fy_xcalloc (stored_count + 1, sizeof *stored);
    memcpy (stored, row->events, stored_count * FY_AUDIT_DIGEST_ENTRY);
    s_diff (report, row->hour_us, stored, stored_count, now, (size_t) count);
    free (stored);
    free (now);
    return 0;
}

//  The events of [from, to) in hours with no digest row: added when the
//  company's chain has gone past their hour (the row was removed, or the
//  event came after its hour was digested), pending otherwise.
static int
s_verify_undigested (fy_store_t *store, PGconn *conn,
                     const char *const *values, s_report_t *report,
                     fy_error_t *err)
{
    PGresult *res = s_query (store, conn,
        "SELECT e.id::text, (extract(epoch FROM date_trunc('hour', "
        "e.occurred_at, 'UTC')) * 1000000)::bigint, "
        "date_trunc('hour', e.occurred_at, 'UTC') <= (SELECT max(hour) "
        "FROM audit.digests WHERE company_id = $1::uuid) "
        "FROM audit.events e WHERE e.company_id = $1::uuid "
        "AND ($2::timestamptz IS NULL "
        "OR e.occurred_at >= date_trunc('hour', $2::timestamptz, 'UTC')) "
        "AND ($3::timestamptz IS NULL OR e.occurred_at < $3::timestamptz) "
        "AND NOT EXISTS (SELECT 1 FROM audit.digests d "
        "WHERE d.company_id = e.company_id "
        "AND d.hour = date_trunc('hour', e.occurred_at, 'UTC')) "
        "ORDER BY e.occurred_at, e.id", 3, values, 0, "undigested", err);
    if (!res)
        return -1;
    int64_t last_missing = INT64_MIN;
    for (int r = 0; r < PQntuples (res); r++) {
        int64_t hour_us = 0;
        if (fy_parse_int64 (PQgetvalue (res, r, 1), INT64_MIN, INT64_MAX,
                            &hour_us))
            continue;
        if (strcmp (PQgetvalue (res, r, 2), "t") != 0) {
            report->pending++;
            continue;
        }
        unsigned char uuid [FY_UUID_BYTES];
        if (fy_uuid_parse (PQgetvalue (res, r, 0), uuid))
            continue;
        report->events++;
        s_report_event (report->added, uuid, hour_us);
        if (hour_us != last_missing)
            s_report_digest (report, hour_us, "missing");
        last_missing = hour_us;
    }
    PQclear (res);
    return 0;
}

int
fy_audit_digest_verify (fy_store_t *store, const char *company_id,
                        const char *from, const char *to, const char *key,
                        json_t **report_p, fy_error_t *err)
{
    assert (store);
    assert (report_p);
    *report_p = NULL;
    unsigned char company_bytes [FY_UUID_BYTES];
    if (fy_uuid_parse (company_id, company_bytes)) {
        fy_error_set (err, "companyId: not a uuid");
        errno = EINVAL;
        return -1;
    }
    if (!key || !*key) {
        fy_error_set (err, "verify: no HMAC key (store.digest_key)");
        errno = EINVAL;
        return -1;
    }
    PGconn *conn = fy_store_pg (store, err);
    if (!conn)
        return -1;
    const char *values [] = { company_id, from, to };
    //  The digests of the range and the one before it, which the first
    //  must chain to.
    PGresult *rows = s_query (store, conn,
        "SELECT (extract(epoch FROM hour) * 1000000)::bigint, event_count, "
        "digest, prev_digest, hmac, events FROM audit.digests "
        "WHERE company_id = $1::uuid "
        "AND ($3::timestamptz IS NULL OR hour < $3::timestamptz) "
        "AND ($2::timestamptz IS NULL OR hour >= coalesce((SELECT max(hour) "
        "FROM audit.digests WHERE company_id = $1::uuid "
        "AND hour < date_trunc('hour', $2::timestamptz, 'UTC')), "
        "date_trunc('hour', $2::timestamptz, 'UTC'))) "
        "ORDER BY hour", 3, values, 1, "digests", err);
    if (!rows)
        return -1;
    //  Whether the first row is the one before the range (context only).
    int64_t from_us = INT64_MIN;
    if (from) {
        PGresult *res = s_query (store, conn, "SELECT (extract(epoch FROM "
            "date_trunc('hour', $1::timestamptz, 'UTC')) * 1000000)::bigint",
            1, values + 1, 0, "from", err);
        if (!res || fy_parse_int64 (PQgetvalue (res, 0, 0), INT64_MIN,
                                    INT64_MAX, &from_us)) {
            PQclear (res);
            PQclear (rows);
            errno = EINVAL;
            return -1;
        }
        PQclear (res);
    }
    s_report_t report = {
        .changed = json_array (), .removed = json_array (),
        .added = json_array (), .digests = json_array ()
    };
    int rc = 0;
    s_row_t before, row;
    bool has_before = false;
    for (int r = 0; r < PQntuples (rows) && rc == 0; r++) {
        s_row_read (rows, r, &row);
        if (row.hour_us >= from_us)
            rc = s_verify_row (store, conn, company_id, company_bytes, &row,
                               has_before ? &before : NULL, key, &report,
                               err);
        before = row;
        has_before = true;
    }
    if (rc == 0)
        rc = s_verify_undigested (store, conn, values, &report, err);
    int saved = errno;
    PQclear (rows);
    if (rc) {
        json_decref (report.changed);
        json_decref (report.removed);
        json_decref (report.added);
        json_decref (report.digests);
        errno = saved;
        return -1;
    }
    bool clean = json_array_size (report.changed) == 0
              && json_array_size (report.removed) == 0
              && json_array_size (report.added) == 0
              && json_array_size (report.digests) == 0;
    *report_p = json_pack ("{s:s, s:s?, s:s?, s:b, s:I, s:I, s:I, "
                           "s:o, s:o, s:o, s:o}",
                           "companyId", company_id, "from", from, "to", to,
                           "clean", clean, "hours", (json_int_t) report.hours,
                           "events", (json_int_t) report.events,
                           "pending", (json_int_t) report.pending,
                           "changed", report.changed,
                           "removed", report.removed,
                           "added", report.added,
                           "digests", report.digests);
    return clean ? 0 : 1;
}
