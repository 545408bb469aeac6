/*  fy_ledger: the delivery ledger on the store's connection. Recording
    takes two statements whatever the count (a bulk send of 10,000 is one
    INSERT ... SELECT FROM jsonb_to_recordset, and one SELECT of what the
    keys hold), inside one transaction with the event's id. The decisions
    that need the recipient's preferences (suppressed, held until their
    quiet hours end) are made by the database in the same INSERT
    (notify.opted_out, notify.quiet_until), in the recipient's own zone. */
#include "store/fy_ledger.h"
#include "ferry/fy_json.h"
#include "store/fy_store_pg.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_status_names [FY_LEDGER_STATUSES] = {
    "queued", "held", "sending", "sent", "failed", "suppressed"
};

const char *
fy_ledger_status_name (fy_ledger_status_t status)
{
    assert (status < FY_LEDGER_STATUSES);
    return s_status_names [status];
}

static fy_ledger_status_t
s_status_parse (const char *text)
{
    for (int i = 0; i < FY_LEDGER_STATUSES; i++)
        if (strcmp (text, s_status_names [i]) == 0)
            return (fy_ledger_status_t) i;
    return FY_LEDGER_FAILED;
}

//  Run a statement whose result is not needed. Returns 0 or -1.
static int
s_do (fy_store_t *store, const char *sql, int count, const char *const *values,
      const char *what, fy_error_t *err)
{
    PGresult *res = fy_store_pg_exec (store, sql, count, values, what, err);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

//  A failure inside a transaction: roll it back, keeping errno.
static int
s_abort (fy_store_t *store)
{
    int saved = errno;
    fy_store_pg_rollback (store);
    errno = saved;
    return -1;
}

//  ---------------------------------------------------------------------
//  Recording

static const char s_insert_sql [] =
    "INSERT INTO notify.deliveries (id, idempotency_key, event_id, "
    "batch_id, company_id, user_id, channel, recipient, category, "
    "critical, template, locale, data, status, not_before) "
    "SELECT r.id, r.key, $1::uuid, $2::uuid, r.company_id, r.user_id, "
    "r.channel, r.recipient, r.category, coalesce(r.critical, false), "
    "r.template, r.locale, r.data, "
    "CASE WHEN r.critical OR r.user_id IS NULL THEN 'queued' "
    "WHEN notify.opted_out(r.user_id, r.channel, r.category) "
    "THEN 'suppressed' WHEN q.until IS NOT NULL THEN 'held' "
    "ELSE 'queued' END, "
    "coalesce(q.until, r.not_before, now()) "
    "FROM jsonb_to_recordset($3::jsonb) AS r(id uuid, key text, "
    "company_id uuid, user_id uuid, channel text, recipient jsonb, "
    "category text, critical boolean, template text, locale text, "
    "data jsonb, not_before timestamptz) "
    "CROSS JOIN LATERAL (SELECT CASE WHEN r.critical OR r.user_id IS NULL "
    "THEN NULL ELSE notify.quiet_until(r.user_id, "
    "greatest(now(), coalesce(r.not_before, now()))) END AS until) q "
    "ON CONFLICT (idempotency_key) DO NOTHING";

static const char s_by_keys_sql [] =
    "SELECT idempotency_key, id::text, status FROM notify.deliveries "
    "WHERE idempotency_key IN (SELECT jsonb_array_elements_text($1::jsonb))";

static const char s_by_event_sql [] =
    "SELECT idempotency_key, id::text, status FROM notify.deliveries "
    "WHERE event_id = $1::uuid ORDER BY created_at, id";

//  The items as the JSON rows s_insert_sql reads, with new ids (ids
//  [i]), and their keys as a JSON array.
static void
s_items_json (const fy_ledger_item_t *items, size_t count,
              char (*ids) [FY_UUID_SIZE], char **rows_p, char **keys_p)
{
    json_t *rows = json_array ();
    json_t *keys = json_array ();
    for (size_t i = 0; i < count; i++) {
        const fy_ledger_item_t *item = &items [i];
        fy_uuid_generate (ids [i]);
        json_t *data = item->data ? json_incref (item->data) : json_object ();
        json_t *row = json_pack (
            "{s:s, s:s, s:s, s:O, s:b, s:s, s:s, s:o}", "id", ids [i], "key",
            item->key, "channel", item->channel, "recipient", item->recipient,
            "critical", item->critical, "template", item->template_name,
            "locale", item->locale, "data", data);
        if (item->company_id)
            json_object_set_new (row, "company_id",
                                 json_string (item->company_id));
        if (item->user_id)
            json_object_set_new (row, "user_id", json_string (item->user_id));
        if (item->category)
            json_object_set_new (row, "category", json_string (item->category));
        if (item->not_before_ms > 0) {
            char at [FY_TIME_RFC3339_SIZE];
            fy_time_format (item->not_before_ms, at);
            json_object_set_new (row, "not_before", json_string (at));
        }
        json_array_append_new (rows, row);
        json_array_append_new (keys, json_string (item->key));
    }
    *rows_p = fy_json_dumps (rows, 0, NULL);
    *keys_p = fy_json_dumps (keys, 0, NULL);
    json_decref (rows);
    json_decref (keys);
}

static void
s_hex (const unsigned char *bytes, size_t len, char *out)
{
    static const char digits [] = "0123456789abcdef";
    out [0] = '\\';
    out [1] = 'x';
    for (size_t i = 0; i < len; i++) {
        out [2 + 2 * i] = digits [bytes [i] >> 4];
        out [3 + 2 * i] = digits [bytes [i] & 15];
    }
    out [2 + 2 * len] = '\0';
}

//  Store the event id: 1 when new, 0 when stored already (*conflict_p
//  when with another hash), -1 on error.
static int
s_event_record (fy_store_t *store, const char *event_id,
                const unsigned char hash [32], bool *conflict_p,
                fy_error_t *err)
{
    char hex [2 + 64 + 1];
    s_hex (hash, 32, hex);
    const char *values [] = { event_id, hex };
    PGresult *res = fy_store_pg_exec (store,
                                      "INSERT INTO notify.event_ids (id, hash) "
                                      "VALUES ($1::uuid, $2::bytea) "
                                      "ON CONFLICT (id) DO NOTHING RETURNING 1",
                                      2, values, "record event id", err);
    if (!res)
        return -1;
    int inserted = PQntuples (res);
    PQclear (res);
    if (inserted)
        return 1;
    res = fy_store_pg_exec (store,
                            "SELECT hash = $2::bytea FROM notify.event_ids "
                            "WHERE id = $1::uuid",
                            2, values, "compare event", err);
    if (!res)
        return -1;
    *conflict_p = PQntuples (res) == 1 && PQgetvalue (res, 0, 0) [0] == 'f';
    PQclear (res);
    return 0;
}

//  The rows of a (key, id, status) result as entries: in the order of
//  items when given (by key), else in the result's order.
static fy_ledger_entry_t *
s_entries (PGresult *res, const fy_ledger_item_t *items, size_t count,
           char (*ids) [FY_UUID_SIZE], size_t *count_p)
{
    int rows = PQntuples (res);
    size_t total = items ? count : (size_t) rows;
    fy_ledger_entry_t *entries =
        fy_xcalloc (total ? total : 1, sizeof *entries);
    if (!items) {
        for (int r = 0; r < rows; r++) {
            snprintf (entries [r].id, FY_UUID_SIZE, "%s",
                      PQgetvalue (res, r, 1));
            entries [r].status = s_status_parse (PQgetvalue (res, r, 2));
        }
        *count_p = total;
        return entries;
    }
    //  Keys are few per event and up to 10,000 per batch: a hash of the
    //  rows by key keeps the match linear.
    zhashx_t *by_key = zhashx_new ();
    for (int r = 0; r < rows; r++)
        zhashx_insert (by_key, PQgetvalue (res, r, 0),
                       (void *) (intptr_t) (r + 1));
    for (size_t i = 0; i < count; i++) {
        intptr_t r = (intptr_t) zhashx_lookup (by_key, items [i].key);
        if (r == 0) {
            //  Not there: recorded by nobody (cannot happen inside the
            //  transaction), shown as failed rather than invented.
            entries [i].status = FY_LEDGER_FAILED;
            continue;
        }
        snprintf (entries [i].id, FY_UUID_SIZE, "%s",
                  PQgetvalue (res, (int) r - 1, 1));
        entries [i].status = s_status_parse (PQgetvalue (res, (int) r - 1, 2));
        entries [i].created = strcmp (entries [i].id, ids [i]) == 0;
    }
    zhashx_destroy (&by_key);
    *count_p = total;
    return entries;
}

int
fy_ledger_record (fy_store_t *store, const char *event_id,
                  const unsigned char hash [32], const char *batch_id,
                  const fy_ledger_item_t *items, size_t count,
                  fy_ledger_entry_t **entries_p, size_t *count_p,
                  bool *conflict_p, fy_error_t *err)
{
    assert (store);
    assert (entries_p && count_p);
    *entries_p = NULL;
    *count_p = 0;
    bool conflict = false;
    if (conflict_p)
        *conflict_p = false;
    char (*ids) [FY_UUID_SIZE] = fy_xcalloc (count ? count : 1, sizeof *ids);
    char *rows = NULL, *keys = NULL;
    PGresult *res = NULL;
    int rc = -1;
    if (s_do (store, "BEGIN", 0, NULL, "begin", err))
        goto out;
    if (event_id) {
        int fresh = s_event_record (store, event_id, hash, &conflict, err);
        if (fresh < 0) {
            s_abort (store);
            goto out;
        }
        if (fresh == 0) {
            //  Seen before: its deliveries are what it was.
            const char *values [] = { event_id };
            res = fy_store_pg_exec (store, s_by_event_sql, 1, values,
                                    "event deliveries", err);
            if (!res) {
                s_abort (store);
                goto out;
            }
            *entries_p = s_entries (res, NULL, 0, NULL, count_p);
            if (conflict_p)
                *conflict_p = conflict;
            PQclear (res);
            res = NULL;
            rc = s_do (store, "COMMIT", 0, NULL, "commit", err);
            goto out;
        }
    }
    s_items_json (items, count, ids, &rows, &keys);
    const char *values [] = { event_id, batch_id, rows };
    if (count
        && s_do (store, s_insert_sql, 3, values, "record deliveries", err)) {
        s_abort (store);
        goto out;
    }
    const char *key_values [] = { keys };
    res = fy_store_pg_exec (store, s_by_keys_sql, 1, key_values,
                            "read deliveries", err);
    if (!res) {
        s_abort (store);
        goto out;
    }
    if (s_do (store, "COMMIT", 0, NULL, "commit", err))
        goto out;
    *entries_p = s_entries (res, items, count, ids, count_p);
    rc = 0;
out:
    PQclear (res);
    free (rows);
    free (keys);
    free (ids);
    if (rc && *entries_p) {
        free (*entries_p);
        *entries_p = NULL;
        *count_p = 0;
    }
    return rc;
}

int
fy_ledger_batch_open (fy_store_t *store, const char *key, size_t total,
                      char id [FY_UUID_SIZE], bool *created_p, fy_error_t *err)
{
    assert (store);
    char text [32];
    snprintf (text, sizeof text, "%zu", total);
    fy_uuid_generate (id);
    const char *values [] = { id, key, text };
    PGresult *res = fy_store_pg_exec (
        store,
        "WITH made AS (INSERT INTO notify.batches (id, idempotency_key, "
        "total) VALUES ($1::uuid, $2, $3::integer) ON CONFLICT "
        "(idempotency_key) DO NOTHING RETURNING id) "
        "SELECT id::text, true FROM made UNION ALL "
        "SELECT id::text, false FROM notify.batches "
        "WHERE idempotency_key = $2 AND NOT EXISTS (SELECT 1 FROM made)",
        3, values, "open batch", err);
    if (!res)
        return -1;
    if (PQntuples (res) == 1) {
        snprintf (id, FY_UUID_SIZE, "%s", PQgetvalue (res, 0, 0));
        if (created_p)
            *created_p = PQgetvalue (res, 0, 1) [0] == 't';
    }
    PQclear (res);
    return 0;
}

//  ---------------------------------------------------------------------
//  Claims and outcomes

#define S_JOB_COLUMNS                                                  \
    "id::text, idempotency_key, channel, template, locale, category, " \
    "user_id::text, recipient::text, data::text, attempts, critical"

static const char s_claim_sql [] =
    "UPDATE notify.deliveries SET status = 'sending', "
    "attempts = attempts + 1, claimed_by = $2, "
    "claimed_until = now() + $3::integer * interval '1 second', "
    "updated_at = now() "
    "WHERE id = $1::uuid AND status IN ('queued', 'held', 'sending') "
    "AND not_before <= now() AND (claimed_until IS NULL "
    "OR claimed_until < now() OR claimed_by = $2) "
    "RETURNING " S_JOB_COLUMNS;

static const char s_claim_due_sql [] =
    "UPDATE notify.deliveries SET status = 'sending', "
    "attempts = attempts + 1, claimed_by = $1, "
    "claimed_until = now() + $2::integer * interval '1 second', "
    "updated_at = now() "
    "WHERE id IN (SELECT id FROM notify.deliveries "
    "WHERE status IN ('queued', 'held', 'sending') AND not_before <= now() "
    "AND (claimed_until IS NULL OR claimed_until < now()) "
    "ORDER BY not_before LIMIT $3::integer FOR UPDATE SKIP LOCKED) "
    "RETURNING " S_JOB_COLUMNS;

void
fy_ledger_job_destroy (fy_ledger_job_t **self_p)
{
    assert (self_p);
    fy_ledger_job_t *self = *self_p;
    if (!self)
        return;
    free (self->key);
    free (self->channel);
    free (self->template_name);
    free (self->locale);
    free (self->category);
    free (self->user_id);
    json_decref (self->recipient);
    json_decref (self->data);
    free (self);
    *self_p = NULL;
}

static char *
s_text_or_null (PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col)
               ? NULL
               : fy_xstrdup (PQgetvalue (res, row, col));
}

static fy_ledger_job_t *
s_job (PGresult *res, int row)
{
    fy_ledger_job_t *job = fy_xcalloc (1, sizeof *job);
    snprintf (job->id, sizeof job->id, "%s", PQgetvalue (res, row, 0));
    job->key = fy_xstrdup (PQgetvalue (res, row, 1));
    job->channel = fy_xstrdup (PQgetvalue (res, row, 2));
    job->template_name = fy_xstrdup (PQgetvalue (res, row, 3));
    job->locale = fy_xstrdup (PQgetvalue (res, row, 4));
    job->category = s_text_or_null (res, row, 5);
    job->user_id = s_text_or_null (res, row, 6);
    job->recipient = fy_json_loads (PQgetvalue (res, row, 7), NULL);
    job->data = fy_json_loads (PQgetvalue (res, row, 8), NULL);
    job->attempts = (int) strtol (PQgetvalue (res, row, 9), NULL, 10);
    job->critical = PQgetvalue (res, row, 10) [0] == 't';
    return job;
}

int
fy_ledger_claim (fy_store_t *store, const char *id, const char *owner,
                 int lease_s, fy_ledger_job_t **job_p, fy_error_t *err)
{
    assert (store && id && owner && job_p);
    *job_p = NULL;
    char lease [16];
    snprintf (lease, sizeof lease, "%d", lease_s);
    const char *values [] = { id, owner, lease };
    PGresult *res =
        fy_store_pg_exec (store, s_claim_sql, 3, values, "claim", err);
    if (!res)
        return -1;
    if (PQntuples (res) == 1)
        *job_p = s_job (res, 0);
    PQclear (res);
    return 0;
}

int
fy_ledger_claim_due (fy_store_t *store, const char *owner, int lease_s,
                     size_t limit, fy_ledger_job_t ***jobs_p, size_t *count_p,
                     fy_error_t *err)
{
    assert (store && owner && jobs_p && count_p);
    *jobs_p = NULL;
    *count_p = 0;
    char lease [16], most [24];
    snprintf (lease, sizeof lease, "%d", lease_s);
    snprintf (most, sizeof most, "%zu", limit);
    const char *values [] = { owner, lease, most };
    PGresult *res =
        fy_store_pg_exec (store, s_claim_due_sql, 3, values, "claim due", err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    if (rows > 0) {
        *jobs_p = fy_xcalloc ((size_t) rows, sizeof **jobs_p);
        for (int r = 0; r < rows; r++)
            (*jobs_p) [r] = s_job (res, r);
    }
    *count_p = (size_t) rows;
    PQclear (res);
    return 0;
}

int
fy_ledger_settle (fy_store_t *store, const fy_ledger_outcome_t *outcome,
                  fy_error_t *err)
{
    assert (store && outcome && outcome->id && outcome->owner);
    assert (outcome->status == FY_LEDGER_SENT
            || outcome->status == FY_LEDGER_QUEUED
            || outcome->status == FY_LEDGER_FAILED);
    char retry [24], lease [16];
    snprintf (retry, sizeof retry, "%lld", (long long) outcome->retry_in_ms);
    snprintf (lease, sizeof lease, "%d", outcome->lease_s);
    const char *values [] = { outcome->id,
                              outcome->owner,
                              fy_ledger_status_name (outcome->status),
                              outcome->provider,
                              outcome->message_id,
                              outcome->template_version,
                              outcome->error,
                              retry,
                              lease };
    PGresult *res = fy_store_pg_exec (
        store,
        "UPDATE notify.deliveries SET status = $3, "
        "provider = coalesce($4, provider), provider_message_id = $5, "
        "template_version = coalesce($6, template_version), "
        "last_error = $7, "
        "not_before = CASE WHEN $3 = 'queued' THEN now() + $8::bigint "
        "* interval '1 millisecond' ELSE not_before END, "
        "claimed_until = CASE WHEN $3 = 'queued' THEN now() + ($8::bigint "
        "+ $9::bigint * 1000) * interval '1 millisecond' END, "
        "sent_at = CASE WHEN $3 = 'sent' THEN now() END, updated_at = now() "
        "WHERE id = $1::uuid AND claimed_by = $2 AND status = 'sending'",
        9, values, "settle", err);
    if (!res)
        return -1;
    bool done = strcmp (PQcmdTuples (res), "1") == 0;
    PQclear (res);
    if (!done) {
        fy_error_set (err, "delivery %s: the claim of %s is gone", outcome->id,
                      outcome->owner);
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int
fy_ledger_release (fy_store_t *store, const char *owner, fy_error_t *err)
{
    assert (store && owner);
    const char *values [] = { owner };
    return s_do (store,
                 "UPDATE notify.deliveries SET claimed_by = NULL, "
                 "claimed_until = NULL WHERE claimed_by = $1 "
                 "AND status = 'queued'",
                 1, values, "release", err);
}

//  ---------------------------------------------------------------------
//  Reading

//  The one JSON value of a one-row, one-column result, or NULL with
//  ENOENT when no row.
static json_t *
s_json_row (fy_store_t *store, const char *sql, const char *id,
            const char *what, fy_error_t *err)
{
    const char *values [] = { id };
    PGresult *res = fy_store_pg_exec (store, sql, 1, values, what, err);
    if (!res)
        return NULL;
    json_t *row = NULL;
    if (PQntuples (res) == 1 && !PQgetisnull (res, 0, 0))
        row = fy_json_loads (PQgetvalue (res, 0, 0), err);
    else {
        fy_error_set (err, "%s: none", what);
        errno = ENOENT;
    }
    PQclear (res);
    return row;
}

#define S_TIME(column) \
    "to_char(" column  \
    " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

json_t *
fy_ledger_get (fy_store_t *store, const char *id, fy_error_t *err)
{
    assert (store && id);
    return s_json_row (
        store,
        "SELECT json_build_object('id', id, 'idempotencyKey', "
        "idempotency_key, 'eventId', event_id, 'batchId', batch_id, "
        "'companyId', company_id, 'userId', user_id, 'channel', channel, "
        "'recipient', recipient, 'category', category, 'critical', critical, "
        "'template', template, 'templateVersion', template_version, "
        "'locale', locale, 'status', status, 'attempts', attempts, "
        "'lastError', last_error, 'provider', provider, "
        "'providerMessageId', provider_message_id, "
        "'notBefore', " S_TIME (
            "not_before") ", "
                          "'createdAt', " S_TIME (
                              "created_at") ", "
                                            "'updatedAt', " S_TIME (
                                                "updated_at") ", "
                                                              "'sentAt',"
                                                              " " S_TIME (
                                                                  "sent_at") ")"
                                                                             ":"
                                                                             ":"
                                                                             "t"
                                                                             "e"
                                                                             "x"
                                                                             "t"
                                                                             " "
                                                                             "F"
                                                                             "R"
                                                                             "O"
                                                                             "M"
                                                                             " "
                                                                             "n"
                                                                             "o"
                                                                             "t"
                                                                             "i"
                                                                             "f"
                                                                             "y"
                                                                             "."
                                                                             "d"
                                                                             "e"
                                                                             "l"
                                                                             "i"
                                                                             "v"
                                                                             "e"
                                                                             "r"
                                                                             "i"
                                                                             "e"
                                                                             "s"
                                                                             " "
                                                                             "W"
                                                                             "H"
                                                                             "E"
                                                                             "R"
                                                                             "E"
                                                                             " "
                                                                             "i"
                                                                             "d"
                                                                             " "
                                                                             "="
                                                                             " "
                                                                             "$"
                                                                             "1"
                                                                             ":"
                                                                             ":"
                                                                             "u"
                                                                             "u"
                                                                             "i"
                                                                             "d",
        id, "delivery", err);
}

json_t *
fy_ledger_batch (fy_store_t *store, const char *id, fy_error_t *err)
{
    assert (store && id);
    return s_json_row (
        store,
        "SELECT json_build_object('id', b.id, 'total', b.total, "
        "'createdAt', " S_TIME (
            "b.created_at") ", 'counts', "
                            "(SELECT json_object_agg(s.status, coalesce(c.n, "
                            "0)) FROM "
                            "unnest(ARRAY['queued', 'held', 'sending', 'sent', "
                            "'failed', "
                            "'suppressed']) AS s(status) LEFT JOIN (SELECT "
                            "status, count(*) AS n "
                            "FROM notify.deliveries WHERE batch_id = b.id "
                            "GROUP BY status) c "
                            "ON c.status = s.status))::text "
                            "FROM notify.batches b WHERE b.id = $1::uuid",
        id, "batch", err);
}

json_t *
fy_ledger_preferences (fy_store_t *store, const char *user_id, fy_error_t *err)
{
    assert (store && user_id);
    json_t *prefs = s_json_row (
        store,
        "SELECT json_build_object('userId', user_id, 'optOut', opt_out, "
        "'timezone', timezone, 'quietHours', CASE WHEN quiet_start IS NULL "
        "THEN NULL ELSE json_build_object('start', "
        "to_char(quiet_start, 'HH24:MI'), 'end', "
        "to_char(quiet_end, 'HH24:MI')) END)::text "
        "FROM notify.preferences WHERE user_id = $1::uuid",
        user_id, "preferences", err);
    if (prefs || errno != ENOENT)
        return prefs;
    return json_pack ("{s:s, s:{}, s:s, s:n}", "userId", user_id, "optOut",
                      "timezone", "UTC", "quietHours");
}

int
fy_ledger_preferences_put (fy_store_t *store, const char *user_id,
                           json_t *opt_out, const char *zone,
                           const char *quiet_start, const char *quiet_end,
                           fy_error_t *err)
{
    assert (store && user_id && opt_out);
    char *opt = fy_json_dumps (opt_out, 0, NULL);
    const char *values [] = { user_id, opt, zone ? zone : "UTC", quiet_start,
                              quiet_end };
    //  The zone is checked by using it: an unknown one is SQLSTATE 22023.
    int rc = s_do (
        store,
        "INSERT INTO notify.preferences (user_id, opt_out, timezone, "
        "quiet_start, quiet_end) SELECT $1::uuid, $2::jsonb, $3, $4::time, "
        "$5::time WHERE (now() AT TIME ZONE $3) IS NOT NULL "
        "ON CONFLICT (user_id) DO UPDATE SET opt_out = excluded.opt_out, "
        "timezone = excluded.timezone, quiet_start = excluded.quiet_start, "
        "quiet_end = excluded.quiet_end, updated_at = now()",
        5, values, "preferences", err);
    free (opt);
    return rc;
}

int
fy_ledger_token_dead (fy_store_t *store, const char *token, fy_error_t *err)
{
    assert (store && token);
    const char *values [] = { token };
    return s_do (store,
                 "INSERT INTO notify.dead_tokens (token) VALUES ($1) "
                 "ON CONFLICT (token) DO NOTHING",
                 1, values, "dead token", err);
}

int
fy_ledger_token_is_dead (fy_store_t *store, const char *token, fy_error_t *err)
{
    assert (store && token);
    const char *values [] = { token };
    PGresult *res = fy_store_pg_exec (
        store, "SELECT 1 FROM notify.dead_tokens WHERE token = $1", 1, values,
        "dead token", err);
    if (!res)
        return -1;
    int dead = PQntuples (res) > 0;
    PQclear (res);
    return dead;
}
