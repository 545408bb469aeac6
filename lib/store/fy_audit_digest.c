/*  fy_audit_digest: the hourly, chained, signed digests of audit.events
    and their verification. The canonical form of an event is built from
    the text PostgreSQL prints for each stored column, so a change made
    to any column by hand (psql UPDATE) changes the event's hash; fields
    are length-prefixed so no two different rows serialize alike. The
    hour's digest covers the company, the hour, the count, the previous
    digest and the list of (id, hash) entries, which is stored with it so
    that verify can name single events; the HMAC over the digest is what
    an intruder without the key cannot redo after rewriting the rest.
    Digests cover what ferry stored (audit.event_ids), pair by pair as
    the appends note them due (audit.digest_due): the first when the hour
    closes, a supplementary one for rows stored later. */
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
#define S_HOUR_US INT64_C (3600000000)

//  Domain-separation tags, so an event hash can never be taken for an
//  hour digest or the other way round.
static const char s_event_tag [] = "ferry-audit-event-v1";
static const char s_hour_tag [] = "ferry-audit-hour-v1";

//  The canonical columns, in the order they are hashed (doc/store.md),
//  then two that are not hashed: whether ferry stored the row (its id and
//  occurred_at are in audit.event_ids: a row inserted by hand is not) and
//  whether its hour is due for a digest (audit.digest_due).
//  Times are whole microseconds since the epoch, so no time zone or
//  DateStyle setting can change them; jsonb prints in its own normal form.
static const char s_canonical [] =
    "SELECT id::text, "
    "((extract(epoch FROM occurred_at) * 1000000)::bigint)::text, "
    "type, version::text, source, company_id::text, actor_id::text, "
    "correlation_id, action, target_type, target_id, ip::text, user_agent, "
    "payload::text, changes::text, "
    "((extract(epoch FROM received_at) * 1000000)::bigint)::text, "
    "EXISTS (SELECT 1 FROM audit.event_ids i WHERE i.id = e.id "
    "AND i.occurred_at = e.occurred_at), "
    "EXISTS (SELECT 1 FROM audit.digest_due u WHERE u.company_id = "
    "e.company_id AND u.hour = date_trunc('hour', e.occurred_at, 'UTC')) "
    "FROM audit.events e WHERE company_id = $1::uuid "
    "AND occurred_at >= timestamptz 'epoch' "
    "+ $2::bigint * interval '1 microsecond' "
    "AND occurred_at < timestamptz 'epoch' "
    "+ ($2::bigint + 3600000000) * interval '1 microsecond' "
    "ORDER BY occurred_at, id";

//  One entry of an hour's list: the event's uuid and hash, 48 bytes, as
//  stored in a digest row's events.
typedef struct {
    unsigned char bytes [FY_AUDIT_DIGEST_ENTRY];
} s_entry_t;

//  An event of an hour as the table holds it now: its entry, and whether
//  ferry stored it (ferry) and its hour is due for a digest (due).
typedef struct {
    s_entry_t entry;
    bool ferry, due;
} s_now_t;

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
    unsigned char be [4] = { (unsigned char) (value >> 24),
                             (unsigned char) (value >> 16),
                             (unsigned char) (value >> 8),
                             (unsigned char) value };
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
    HMAC (EVP_sha256 (), key, (int) strlen (key), digest, FY_AUDIT_DIGEST_SIZE,
          mac, &len);
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
    else if (state && strncmp (state, "22", 2) == 0)
        code = EINVAL;
    else if (state
             && (strcmp (state, "40001") == 0 || strcmp (state, "40P01") == 0
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
    PGresult *res =
        PQexecParams (conn, sql, count, NULL, values, NULL, NULL, binary);
    ExecStatusType status = PQresultStatus (res);
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)
        return res;
    s_fail (store, res, what, err);
    return NULL;
}


//  A binary int8 column.
static int64_t
s_int8 (PGresult *res, int row, int col)
{
    const unsigned char *at =
        (const unsigned char *) PQgetvalue (res, row, col);
    uint64_t value = 0;
    if (PQgetlength (res, row, col) == 8)
        for (int i = 0; i < 8; i++)
            value = value << 8 | at [i];
    return (int64_t) value;
}

//  The events of one company's hour as the table holds it now, in
//  canonical order. Caller frees *now_p. Returns the count, or -1.
static int64_t
s_hour_entries (fy_store_t *store, PGconn *conn, const char *company,
                const char *hour, s_now_t **now_p, fy_error_t *err)
{
    *now_p = NULL;
    const char *values [] = { company, hour };
    PGresult *res =
        s_query (store, conn, s_canonical, 2, values, 0, "hour events", err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    s_now_t *now = fy_xcalloc ((size_t) rows + 1, sizeof *now);
    for (int r = 0; r < rows; r++) {
        const char *fields [S_FIELDS];
        for (int c = 0; c < S_FIELDS; c++)
            fields [c] =
                PQgetisnull (res, r, c) ? NULL : PQgetvalue (res, r, c);
        unsigned char *bytes = now [r].entry.bytes;
        if (fy_uuid_parse (fields [0], bytes))
            memset (bytes, 0, FY_UUID_BYTES);
        fy_audit_digest_event (fields, bytes + FY_UUID_BYTES);
        now [r].ferry = strcmp (PQgetvalue (res, r, S_FIELDS), "t") == 0;
        now [r].due = strcmp (PQgetvalue (res, r, S_FIELDS + 1), "t") == 0;
    }
    PQclear (res);
    *now_p = now;
    return rows;
}

static int
s_uuid_compare (const void *a, const void *b)
{
    return memcmp (a, b, FY_UUID_BYTES);
}

//  ---------------------------------------------------------------------
//  Run

//  One (company, hour) pair: $1 the company, $2 the hour in microseconds.
#define S_PAIR                                              \
    "company_id = $1::uuid AND hour = timestamptz 'epoch' " \
    "+ $2::bigint * interval '1 microsecond'"

//  Digest the rows of one due (company, hour) that no digest covers yet,
//  in its own transaction, chained after the company's newest digest; the
//  pair is then no longer due. Skipped when another worker has it, or an
//  append is writing rows of it right now (its row in audit.digest_due
//  is locked). Returns 1 stored, 0 skipped or nothing new, -1 failed.
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
    PGresult *res = s_query (store, conn, "BEGIN", 0, NULL, 0, "begin", err);
    if (!res)
        return -1;
    PQclear (res);
    int rc = -1;
    s_now_t *now = NULL;
    s_entry_t *entries = NULL;
    unsigned char *covered = NULL;
    const char *pair [] = { company, hour };
    res = s_query (store, conn,
                   "SELECT pg_advisory_xact_lock("
                   "hashtext('fy_audit_digest'), hashtext($1))",
                   1, pair, 0, "lock", err);
    if (!res)
        goto out;
    PQclear (res);
    res = s_query (store, conn,
                   "SELECT 1 FROM audit.digest_due WHERE " S_PAIR
                   " FOR UPDATE SKIP LOCKED",
                   2, pair, 0, "due", err);
    if (!res)
        goto out;
    bool due = PQntuples (res) == 1;
    PQclear (res);
    if (!due) {
        rc = 0;
        goto out;
    }
    //  The chain's end, and the ids the hour's digests cover already.
    res = s_query (store, conn,
                   "SELECT seq, digest FROM audit.digests "
                   "WHERE company_id = $1::uuid ORDER BY seq DESC LIMIT 1",
                   1, pair, 1, "last digest", err);
    if (!res)
        goto out;
    bool has_prev =
        PQntuples (res) == 1 && PQgetlength (res, 0, 1) == FY_AUDIT_DIGEST_SIZE;
    int64_t seq = has_prev ? s_int8 (res, 0, 0) : 0;
    unsigned char prev [FY_AUDIT_DIGEST_SIZE];
    if (has_prev)
        memcpy (prev, PQgetvalue (res, 0, 1), sizeof prev);
    PQclear (res);
    res =
        s_query (store, conn, "SELECT events FROM audit.digests WHERE " S_PAIR,
                 2, pair, 1, "hour digests", err);
    if (!res)
        goto out;
    size_t covered_count = 0;
    for (int r = 0; r < PQntuples (res); r++)
        covered_count +=
            (size_t) PQgetlength (res, r, 0) / FY_AUDIT_DIGEST_ENTRY;
    covered = fy_xcalloc (covered_count + 1, FY_UUID_BYTES);
    size_t c = 0;
    for (int r = 0; r < PQntuples (res); r++) {
        const unsigned char *at =
            (const unsigned char *) PQgetvalue (res, r, 0);
        size_t n = (size_t) PQgetlength (res, r, 0) / FY_AUDIT_DIGEST_ENTRY;
        for (size_t i = 0; i < n; i++)
            memcpy (covered + FY_UUID_BYTES * c++,
                    at + FY_AUDIT_DIGEST_ENTRY * i, FY_UUID_BYTES);
    }
    PQclear (res);
    qsort (covered, covered_count, FY_UUID_BYTES, s_uuid_compare);
    //  What ferry stored that none covers, in canonical order. A row
    //  inserted by hand is never digested: verify names it.
    int64_t rows = s_hour_entries (store, conn, company, hour, &now, err);
    if (rows < 0)
        goto out;
    entries = fy_xcalloc ((size_t) rows + 1, sizeof *entries);
    int64_t count = 0;
    for (int64_t r = 0; r < rows; r++)
        if (now [r].ferry
            && !bsearch (now [r].entry.bytes, covered, covered_count,
                         FY_UUID_BYTES, s_uuid_compare))
            entries [count++] = now [r].entry;
    if (count > 0) {
        size_t events_len = (size_t) count * FY_AUDIT_DIGEST_ENTRY;
        unsigned char digest [FY_AUDIT_DIGEST_SIZE];
        unsigned char mac [FY_AUDIT_DIGEST_SIZE];
        s_hour_digest (company_bytes, hour_us, count, has_prev ? prev : NULL,
                       (unsigned char *) entries, events_len, digest);
        s_sign (key, digest, mac);
        char count_text [24], seq_text [24];
        snprintf (count_text, sizeof count_text, "%lld", (long long) count);
        snprintf (seq_text, sizeof seq_text, "%lld", (long long) seq + 1);
        const char *values [] = { company,
                                  hour,
                                  count_text,
                                  (char *) digest,
                                  has_prev ? (char *) prev : NULL,
                                  (char *) mac,
                                  (char *) entries,
                                  seq_text };
        int lengths [] = {
            0, 0, 0, sizeof digest, sizeof prev, sizeof mac, (int) events_len, 0
        };
        int formats [] = { 0, 0, 0, 1, 1, 1, 1, 0 };
        res = PQexecParams (
            conn,
            "INSERT INTO audit.digests (company_id, hour, event_count, "
            "digest, prev_digest, hmac, events, seq) VALUES ($1::uuid, "
            "timestamptz 'epoch' + $2::bigint * interval '1 microsecond', "
            "$3::bigint, $4::bytea, $5::bytea, $6::bytea, $7::bytea, "
            "$8::bigint)",
            8, NULL, values, lengths, formats, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            s_fail (store, res, "store digest", err);
            goto out;
        }
        PQclear (res);
    }
    res = s_query (store, conn, "DELETE FROM audit.digest_due WHERE " S_PAIR, 2,
                   pair, 0, "not due", err);
    if (!res)
        goto out;
    PQclear (res);
    res = s_query (store, conn, "COMMIT", 0, NULL, 0, "commit", err);
    if (!res)
        goto out;
    PQclear (res);
    rc = count > 0;
out:
    if (rc < 0) {
        int saved = errno;
        fy_store_pg_rollback (store);
        errno = saved;
    }
    else if (rc == 0)
        fy_store_pg_rollback (store);
    free (covered);
    free (entries);
    free (now);
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
    //  The due hours closed before the cutoff: those never digested, and
    //  those digested whose late rows have stopped coming for the grace
    //  (one supplementary digest after a backlog, not one per run).
    char cutoff [24], grace [24];
    int64_t cutoff_us = (now_ms - (int64_t) grace_s * 1000) * 1000;
    cutoff_us -= ((cutoff_us % S_HOUR_US) + S_HOUR_US) % S_HOUR_US;
    snprintf (cutoff, sizeof cutoff, "%lld", (long long) cutoff_us);
    snprintf (grace, sizeof grace, "%d", grace_s);
    const char *values [] = { cutoff, grace };
    PGresult *hours =
        s_query (store, conn,
                 "SELECT company_id::text, (extract(epoch FROM hour) "
                 "* 1000000)::bigint FROM audit.digest_due u "
                 "WHERE hour < timestamptz 'epoch' "
                 "+ $1::bigint * interval '1 microsecond' "
                 "AND (touched < now() - $2::int * interval '1 second' "
                 "OR NOT EXISTS (SELECT 1 FROM audit.digests d "
                 "WHERE d.company_id = u.company_id AND d.hour = u.hour)) "
                 "ORDER BY 1, 2",
                 2, values, 0, "due hours", err);
    if (!hours)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples (hours) && rc == 0; i++) {
        int stored = s_digest_hour (store, conn, PQgetvalue (hours, i, 0),
                                    PQgetvalue (hours, i, 1), key, err);
        if (stored < 0)
            rc = -1;
        else if (stored && digested_p)
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
    if (!gmtime_r (&seconds, &tm)
        || !strftime (text, 32, "%Y-%m-%dT%H:00:00Z", &tm))
        snprintf (text, 32, "%lld", (long long) hour_us);
}

static void
s_report_event (json_t *list, const unsigned char *uuid, int64_t hour_us)
{
    char id [FY_UUID_SIZE], hour [32];
    fy_uuid_format (uuid, id);
    s_hour_text (hour_us, hour);
    json_array_append_new (list,
                           json_pack ("{s:s, s:s}", "id", id, "hour", hour));
}

static void
s_report_digest (s_report_t *report, int64_t hour_us, const char *problem)
{
    char hour [32];
    s_hour_text (hour_us, hour);
    json_array_append_new (
        report->digests,
        json_pack ("{s:s, s:s}", "hour", hour, "problem", problem));
}

//  Entries, or events now (their entry first), by uuid then hash.
static int
s_entry_compare (const void *a, const void *b)
{
    return memcmp (a, b, FY_AUDIT_DIGEST_ENTRY);
}

//  Compare the stored entries of an hour with its events now, both
//  sorted by uuid (then hash): same uuid and hash is intact, same uuid
//  and another hash changed, the rest removed, or added unless ferry
//  stored it after the hour's digest and the hour is due for the next
//  (pending).
static void
s_diff (s_report_t *report, int64_t hour_us, s_entry_t *stored,
        size_t stored_count, s_now_t *now, size_t now_count)
{
    qsort (stored, stored_count, sizeof *stored, s_entry_compare);
    qsort (now, now_count, sizeof *now, s_entry_compare);
    size_t i = 0, j = 0;
    while (i < stored_count || j < now_count) {
        int order =
            i == stored_count ? 1
            : j == now_count
                ? -1
                : memcmp (stored [i].bytes, now [j].entry.bytes, FY_UUID_BYTES);
        if (order == 0) {
            if (memcmp (stored [i].bytes, now [j].entry.bytes,
                        FY_AUDIT_DIGEST_ENTRY)
                != 0)
                s_report_event (report->changed, now [j].entry.bytes, hour_us);
            i++;
            j++;
        }
        else if (order < 0)
            s_report_event (report->removed, stored [i++].bytes, hour_us);
        else if (now [j].ferry && now [j].due) {
            report->pending++;
            j++;
        }
        else
            s_report_event (report->added, now [j++].entry.bytes, hour_us);
    }
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

//  Check one digest row against the one before it in the chain (NULL:
//  none) and the key.
static void
s_verify_row (const unsigned char company_bytes [FY_UUID_BYTES],
              const s_row_t *row, const s_row_t *before, const char *key,
              s_report_t *report)
{
    unsigned char digest [FY_AUDIT_DIGEST_SIZE], mac [FY_AUDIT_DIGEST_SIZE];
    bool shaped =
        row->digest_len == FY_AUDIT_DIGEST_SIZE
        && row->hmac_len == FY_AUDIT_DIGEST_SIZE
        && (!row->has_prev || row->prev_len == FY_AUDIT_DIGEST_SIZE)
        && row->events_len % FY_AUDIT_DIGEST_ENTRY == 0
        && (int64_t) (row->events_len / FY_AUDIT_DIGEST_ENTRY) == row->count;
    s_hour_digest (company_bytes, row->hour_us, row->count,
                   row->has_prev ? row->prev : NULL, row->events,
                   row->events_len, digest);
    if (!shaped || CRYPTO_memcmp (digest, row->digest, sizeof digest))
        s_report_digest (report, row->hour_us, "altered");
    s_sign (key, row->digest, mac);
    if (CRYPTO_memcmp (mac, row->hmac, sizeof mac))
        s_report_digest (report, row->hour_us, "bad hmac");
    bool chained =
        before
            ? row->has_prev
                  && memcmp (row->prev, before->digest, sizeof row->prev) == 0
            : !row->has_prev;
    if (!chained)
        s_report_digest (report, row->hour_us, "chain broken");
}

//  The digest rows (first index, count of them in rows) of one hour: the
//  entries they cover, together, against the events of the hour now.
static int
s_verify_hour (fy_store_t *store, PGconn *conn, const char *company,
               const s_row_t *rows, const int *order, size_t count,
               s_report_t *report, fy_error_t *err)
{
    report->hours++;
    int64_t hour_us = rows [order [0]].hour_us;
    char hour [24];
    snprintf (hour, sizeof hour, "%lld", (long long) hour_us);
    s_now_t *now = NULL;
    int64_t now_count = s_hour_entries (store, conn, company, hour, &now, err);
    if (now_count < 0)
        return -1;
    report->events += now_count;
    size_t stored_count = 0;
    for (size_t i = 0; i < count; i++)
        stored_count += rows [order [i]].events_len / FY_AUDIT_DIGEST_ENTRY;
    s_entry_t *stored = fy_xcalloc (stored_count + 1, sizeof *stored);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = rows [order [i]].events_len / FY_AUDIT_DIGEST_ENTRY;
        memcpy (stored + at, rows [order [i]].events,
                n * FY_AUDIT_DIGEST_ENTRY);
        at += n;
    }
    s_diff (report, hour_us, stored, stored_count, now, (size_t) now_count);
    free (stored);
    free (now);
    return 0;
}

//  The events of [from, to) in hours with no digest row: pending when
//  ferry stored them and their hour is due for its digest; added
//  otherwise (inserted by hand, or their digest row was removed: the
//  hour is then "missing").
static int
s_verify_undigested (fy_store_t *store, PGconn *conn, const char *const *values,
                     s_report_t *report, fy_error_t *err)
{
    PGresult *res = s_query (
        store, conn,
        "SELECT e.id::text, (extract(epoch FROM date_trunc('hour', "
        "e.occurred_at, 'UTC')) * 1000000)::bigint, "
        "EXISTS (SELECT 1 FROM audit.event_ids i WHERE i.id = e.id "
        "AND i.occurred_at = e.occurred_at), "
        "EXISTS (SELECT 1 FROM audit.digest_due u WHERE u.company_id = "
        "e.company_id AND u.hour = date_trunc('hour', e.occurred_at, 'UTC')) "
        "FROM audit.events e WHERE e.company_id = $1::uuid "
        "AND ($2::timestamptz IS NULL "
        "OR e.occurred_at >= date_trunc('hour', $2::timestamptz, 'UTC')) "
        "AND ($3::timestamptz IS NULL OR e.occurred_at < $3::timestamptz) "
        "AND NOT EXISTS (SELECT 1 FROM audit.digests d "
        "WHERE d.company_id = e.company_id "
        "AND d.hour = date_trunc('hour', e.occurred_at, 'UTC')) "
        "ORDER BY e.occurred_at, e.id",
        3, values, 0, "undigested", err);
    if (!res)
        return -1;
    int64_t last_missing = INT64_MIN;
    for (int r = 0; r < PQntuples (res); r++) {
        int64_t hour_us = 0;
        if (fy_parse_int64 (PQgetvalue (res, r, 1), INT64_MIN, INT64_MAX,
                            &hour_us))
            continue;
        bool ferry = strcmp (PQgetvalue (res, r, 2), "t") == 0;
        bool due = strcmp (PQgetvalue (res, r, 3), "t") == 0;
        if (ferry && due) {
            report->pending++;
            continue;
        }
        unsigned char uuid [FY_UUID_BYTES];
        if (fy_uuid_parse (PQgetvalue (res, r, 0), uuid))
            continue;
        report->events++;
        s_report_event (report->added, uuid, hour_us);
        if (!due && hour_us != last_missing)
            s_report_digest (report, hour_us, "missing");
        if (!due)
            last_missing = hour_us;
    }
    PQclear (res);
    return 0;
}

//  Sort the digest rows of the range by hour, then by seq (their index).
static const s_row_t *s_sort_rows;

static int
s_order_compare (const void *a, const void *b)
{
    int i = *(const int *) a, j = *(const int *) b;
    int64_t x = s_sort_rows [i].hour_us, y = s_sort_rows [j].hour_us;
    return x < y ? -1 : x > y ? 1 : i - j;
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
    //  The company's whole chain in the order it was written (a row's
    //  predecessor may lie outside the range: a supplementary digest
    //  follows later hours), with the event lists of the range's rows.
    PGresult *chain = s_query (
        store, conn,
        "SELECT (extract(epoch FROM hour) * 1000000)::bigint, event_count, "
        "digest, prev_digest, hmac, CASE WHEN r THEN events ELSE "
        "''::bytea END, r FROM (SELECT *, "
        "($3::timestamptz IS NULL OR hour < $3::timestamptz) "
        "AND ($2::timestamptz IS NULL "
        "OR hour >= date_trunc('hour', $2::timestamptz, 'UTC')) AS r "
        "FROM audit.digests WHERE company_id = $1::uuid) d ORDER BY seq",
        3, values, 1, "digests", err);
    if (!chain)
        return -1;
    s_report_t report = { .changed = json_array (),
                          .removed = json_array (),
                          .added = json_array (),
                          .digests = json_array () };
    int count = PQntuples (chain);
    s_row_t *rows = fy_xcalloc ((size_t) count + 1, sizeof *rows);
    int *order = fy_xcalloc ((size_t) count + 1, sizeof *order);
    size_t in_range = 0;
    for (int r = 0; r < count; r++) {
        s_row_read (chain, r, &rows [r]);
        if (PQgetlength (chain, r, 6) == 1 && *PQgetvalue (chain, r, 6)) {
            s_verify_row (company_bytes, &rows [r], r ? &rows [r - 1] : NULL,
                          key, &report);
            order [in_range++] = r;
        }
    }
    s_sort_rows = rows;
    qsort (order, in_range, sizeof *order, s_order_compare);
    int rc = 0;
    for (size_t i = 0, n; i < in_range && rc == 0; i += n) {
        for (n = 1; i + n < in_range
                    && rows [order [i + n]].hour_us == rows [order [i]].hour_us;
             n++)
            ;
        rc = s_verify_hour (store, conn, company_id, rows, order + i, n,
                            &report, err);
    }
    if (rc == 0)
        rc = s_verify_undigested (store, conn, values, &report, err);
    int saved = errno;
    free (order);
    free (rows);
    PQclear (chain);
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
                           "events", (json_int_t) report.events, "pending",
                           (json_int_t) report.pending, "changed",
                           report.changed, "removed", report.removed, "added",
                           report.added, "digests", report.digests);
    return clean ? 0 : 1;
}
