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

//  An event's content hash in hex, as the statements take it.
static void
s_hash_hex (const unsigned char hash [32], char hex [65])
{
    for (size_t b = 0; b < 32; b++)
        snprintf (hex + 2 * b, 3, "%02x", hash [b]);
}

//  ---------------------------------------------------------------------
//  Recording

#define S_JOB_COLUMNS                                                  \
    "id::text, idempotency_key, channel, template, locale, category, " \
    "user_id::text, recipient::text, data::text, attempts, critical"
#define S_NO_JOB                                                      \
    "NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, "    \
    "NULL::text, NULL::text, NULL::text, NULL::text, NULL::integer, " \
    "NULL::boolean"

//  One statement, so one round trip and one transaction whatever the
//  count: the events' ids ($1: [{id, hash}]) stored unless they are
//  there; the items ($3, each naming its event or none) of the events
//  that were not (and those of no event) recorded, each new one
//  suppressed, held or queued as the recipient's preferences say, and
//  claimed at once for owner $4 (lease $5 s) when queued and due (an
//  in_app item is never held: it makes no noise); then
//  what their keys hold. A stored event records nothing and gives what it
//  recorded, and whether its hash differs. Rows are (kind, key, id,
//  status, event id, the job's columns when claimed here).
static const char s_record_sql [] =
    "WITH e AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS e(id uuid, "
    "hash text)), "
    "ev AS (INSERT INTO notify.event_ids (id, hash) "
    "SELECT id, decode(hash, 'hex') FROM e "
    "ON CONFLICT (id) DO NOTHING RETURNING id), "
    "r AS (SELECT * FROM jsonb_to_recordset($3::jsonb) AS r(id uuid, "
    "key text, event_id uuid, company_id uuid, user_id uuid, "
    "channel text, recipient jsonb, category text, critical boolean, "
    "template text, locale text, data jsonb, not_before timestamptz) "
    "WHERE r.event_id IS NULL OR r.event_id IN (SELECT id FROM ev)), "
    "ins AS (INSERT INTO notify.deliveries (id, idempotency_key, event_id, "
    "batch_id, company_id, user_id, channel, recipient, category, "
    "critical, template, locale, data, status, not_before, attempts, "
    "claimed_by, claimed_until) "
    "SELECT r.id, r.key, r.event_id, $2::uuid, r.company_id, r.user_id, "
    "r.channel, r.recipient, r.category, coalesce(r.critical, false), "
    "r.template, coalesce(r.locale, notify.directory_locale(r.user_id), "
    "'en'), r.data, "
    "CASE WHEN c.claim THEN 'sending' ELSE d.status END, "
    "coalesce(q.until, r.not_before, now()), "
    "CASE WHEN c.claim THEN 1 ELSE 0 END, "
    "CASE WHEN c.claim THEN $4 END, "
    "CASE WHEN c.claim THEN now() + $5::integer * interval '1 second' END "
    "FROM r CROSS JOIN LATERAL (SELECT CASE WHEN r.critical "
    "OR r.user_id IS NULL OR r.channel = 'in_app' THEN NULL "
    "ELSE notify.quiet_until(r.user_id, "
    "greatest(now(), coalesce(r.not_before, now()))) END AS until) q "
    "CROSS JOIN LATERAL (SELECT CASE WHEN r.critical OR r.user_id IS NULL "
    "THEN 'queued' WHEN notify.opted_out(r.user_id, r.channel, r.category) "
    "THEN 'suppressed' WHEN q.until IS NOT NULL THEN 'held' "
    "ELSE 'queued' END AS status) d "
    "CROSS JOIN LATERAL (SELECT $4::text IS NOT NULL AND d.status = 'queued' "
    "AND coalesce(r.not_before, now()) <= now() AS claim) c "
    "ON CONFLICT (idempotency_key) DO NOTHING "
    "RETURNING " S_JOB_COLUMNS ", status, claimed_by, event_id) "
    "SELECT 'new', idempotency_key, id, status, event_id::text, "
    "CASE WHEN claimed_by IS NULL THEN NULL ELSE id END, idempotency_key, "
    "channel, template, locale, category, user_id, recipient, data, "
    "attempts, critical FROM ins "
    "UNION ALL SELECT 'known', d.idempotency_key, d.id::text, d.status, "
    "NULL, " S_NO_JOB " FROM notify.deliveries d "
    "WHERE d.idempotency_key IN (SELECT key FROM r) "
    "UNION ALL (SELECT 'event', d.idempotency_key, d.id::text, d.status, "
    "d.event_id::text, " S_NO_JOB " FROM notify.deliveries d "
    "WHERE d.event_id IN (SELECT id FROM e WHERE id NOT IN "
    "(SELECT id FROM ev)) ORDER BY d.created_at, d.id) "
    "UNION ALL SELECT CASE WHEN s.hash = decode(e.hash, 'hex') THEN 'seen' "
    "ELSE 'conflict' END, NULL, NULL, NULL, e.id::text, " S_NO_JOB
    " FROM e JOIN notify.event_ids s ON s.id = e.id "
    "WHERE e.id NOT IN (SELECT id FROM ev)";

//  The items as the JSON rows s_record_sql reads, with new ids (ids
//  [i]).
static void
s_items_json (json_t *rows, const char *event_id, const fy_ledger_item_t *items,
              size_t count, char (*ids) [FY_UUID_SIZE])
{
    for (size_t i = 0; i < count; i++) {
        const fy_ledger_item_t *item = &items [i];
        fy_uuid_generate (ids [i]);
        json_t *data = item->data ? json_incref (item->data) : json_object ();
        json_t *row = json_pack (
            "{s:s, s:s, s:s, s:O, s:b, s:s, s:s?, s:o}", "id", ids [i], "key",
            item->key, "channel", item->channel, "recipient", item->recipient,
            "critical", item->critical, "template", item->template_name,
            "locale", item->locale, "data", data);
        if (event_id)
            json_object_set_new (row, "event_id", json_string (event_id));
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
    }
}

static fy_ledger_job_t *
s_job (PGresult *res, int row, int col);

//  The rows of s_record_sql as event's entries: for an event stored
//  before, one per delivery it recorded (and conflict when its hash
//  differs); else one per item, in order, from the row of its key: new
//  (with the job when claimed, taken by the first item of a key) or
//  known. A key no row names was recorded by another process at the same
//  moment, after this statement's snapshot: its entry has no id and is
//  that process's to send.
static void
s_entries (PGresult *res, zhashx_t *by_key, bool *taken,
           fy_ledger_event_t *event, char (*ids) [FY_UUID_SIZE])
{
    int rows = PQntuples (res);
    bool seen = false;
    size_t events = 0;
    for (int r = 0; event->event_id && r < rows; r++) {
        if (strcmp (PQgetvalue (res, r, 4), event->event_id) != 0)
            continue;
        const char *kind = PQgetvalue (res, r, 0);
        event->conflict = event->conflict || strcmp (kind, "conflict") == 0;
        seen = seen || strcmp (kind, "seen") == 0 || event->conflict;
        events += strcmp (kind, "event") == 0;
    }
    size_t total = seen ? events : event->count;
    fy_ledger_entry_t *entries =
        fy_xcalloc (total ? total : 1, sizeof *entries);
    event->entries = entries;
    event->entry_count = total;
    if (seen) {
        size_t e = 0;
        for (int r = 0; r < rows; r++)
            if (strcmp (PQgetvalue (res, r, 0), "event") == 0
                && strcmp (PQgetvalue (res, r, 4), event->event_id) == 0) {
                snprintf (entries [e].id, FY_UUID_SIZE, "%s",
                          PQgetvalue (res, r, 2));
                entries [e++].status = s_status_parse (PQgetvalue (res, r, 3));
            }
        return;
    }
    for (size_t i = 0; i < event->count; i++) {
        intptr_t r = (intptr_t) zhashx_lookup (by_key, event->items [i].key);
        fy_ledger_entry_t *entry = &entries [i];
        if (r == 0) {
            entry->status = FY_LEDGER_SENDING;
            continue;
        }
        int row = (int) r - 1;
        snprintf (entry->id, FY_UUID_SIZE, "%s", PQgetvalue (res, row, 2));
        entry->status = s_status_parse (PQgetvalue (res, row, 3));
        entry->created = strcmp (entry->id, ids [i]) == 0;
        if (entry->created && !PQgetisnull (res, row, 5) && !taken [row]) {
            entry->job = s_job (res, row, 5);
            taken [row] = true;
        }
    }
}

int
fy_ledger_record_events (fy_store_t *store, const char *batch_id,
                         const char *owner, int lease_s,
                         fy_ledger_event_t *events, size_t count,
                         fy_error_t *err)
{
    assert (store && (events || count == 0));
    json_t *heads = json_array ();
    json_t *rows = json_array ();
    size_t items = 0;
    for (size_t i = 0; i < count; i++)
        items += events [i].count;
    char (*ids) [FY_UUID_SIZE] = fy_xcalloc (items ? items : 1, sizeof *ids);
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        fy_ledger_event_t *event = &events [i];
        event->entries = NULL;
        event->entry_count = 0;
        event->conflict = false;
        if (event->event_id) {
            char hex [65];
            s_hash_hex (event->hash, hex);
            json_array_append_new (
                heads,
                json_pack ("{s:s, s:s}", "id", event->event_id, "hash", hex));
        }
        s_items_json (rows, event->event_id, event->items, event->count,
                      ids + at);
        at += event->count;
    }
    char *heads_text = fy_json_dumps (heads, 0, NULL);
    char *rows_text = fy_json_dumps (rows, 0, NULL);
    json_decref (heads);
    json_decref (rows);
    char lease [16];
    snprintf (lease, sizeof lease, "%d", lease_s);
    const char *values [] = { heads_text, batch_id, rows_text, owner, lease };
    PGresult *res = fy_store_pg_exec (store, s_record_sql, 5, values,
                                      "record deliveries", err);
    if (res) {
        //  Up to 10,000 keys per batch: a hash of the rows by key keeps
        //  the match linear.
        int nrows = PQntuples (res);
        zhashx_t *by_key = zhashx_new ();
        bool *taken = fy_xcalloc ((size_t) nrows + 1, sizeof *taken);
        for (int r = 0; r < nrows; r++)
            if (!PQgetisnull (res, r, 1)
                && strcmp (PQgetvalue (res, r, 0), "event") != 0)
                zhashx_insert (by_key, PQgetvalue (res, r, 1),
                               (void *) (intptr_t) (r + 1));
        at = 0;
        for (size_t i = 0; i < count; i++) {
            s_entries (res, by_key, taken, &events [i], ids + at);
            at += events [i].count;
        }
        zhashx_destroy (&by_key);
        free (taken);
        PQclear (res);
    }
    free (heads_text);
    free (rows_text);
    free (ids);
    return res ? 0 : -1;
}

int
fy_ledger_record (fy_store_t *store, const char *event_id,
                  const unsigned char hash [32], const char *batch_id,
                  const char *owner, int lease_s, const fy_ledger_item_t *items,
                  size_t count, fy_ledger_entry_t **entries_p, size_t *count_p,
                  bool *conflict_p, fy_error_t *err)
{
    assert (entries_p && count_p);
    fy_ledger_event_t event = { .event_id = event_id,
                                .items = items,
                                .count = count };
    if (event_id)
        memcpy (event.hash, hash, 32);
    int rc = fy_ledger_record_events (store, batch_id, owner, lease_s, &event,
                                      1, err);
    *entries_p = event.entries;
    *count_p = event.entry_count;
    if (conflict_p)
        *conflict_p = event.conflict;
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
s_job (PGresult *res, int row, int col)
{
    fy_ledger_job_t *job = fy_xcalloc (1, sizeof *job);
    snprintf (job->id, sizeof job->id, "%s", PQgetvalue (res, row, col));
    job->key = fy_xstrdup (PQgetvalue (res, row, col + 1));
    job->channel = fy_xstrdup (PQgetvalue (res, row, col + 2));
    job->template_name = fy_xstrdup (PQgetvalue (res, row, col + 3));
    job->locale = fy_xstrdup (PQgetvalue (res, row, col + 4));
    job->category = s_text_or_null (res, row, col + 5);
    job->user_id = s_text_or_null (res, row, col + 6);
    job->recipient = fy_json_loads (PQgetvalue (res, row, col + 7), NULL);
    job->data = fy_json_loads (PQgetvalue (res, row, col + 8), NULL);
    job->attempts = (int) strtol (PQgetvalue (res, row, col + 9), NULL, 10);
    job->critical = PQgetvalue (res, row, col + 10) [0] == 't';
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
        *job_p = s_job (res, 0, 0);
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
            (*jobs_p) [r] = s_job (res, r, 0);
    }
    *count_p = (size_t) rows;
    PQclear (res);
    return 0;
}

static const char *const s_token_status_names [] = { "sent", "dead",
                                                     "refused" };

//  A push's device tokens as the settle statement reads them.
static json_t *
s_tokens_json (const fy_ledger_token_t *tokens, size_t count)
{
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (
            list,
            json_pack ("{s:s, s:s, s:s?, s:s?}", "token", tokens [i].token,
                       "status", s_token_status_names [tokens [i].status],
                       "message_id", tokens [i].message_id, "error",
                       tokens [i].error));
    return list;
}

int
fy_ledger_settle_many (fy_store_t *store, const fy_ledger_outcome_t *outcomes,
                       size_t count, bool *done, fy_error_t *err)
{
    assert (store && (outcomes || count == 0) && done);
    json_t *rows = json_array ();
    for (size_t i = 0; i < count; i++) {
        const fy_ledger_outcome_t *o = &outcomes [i];
        assert (o->id && o->owner);
        assert (o->status == FY_LEDGER_SENT || o->status == FY_LEDGER_QUEUED
                || o->status == FY_LEDGER_FAILED);
        done [i] = false;
        json_array_append_new (
            rows,
            json_pack ("{s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:I, s:i, "
                       "s:s?, s:s?}",
                       "id", o->id, "owner", o->owner, "status",
                       fy_ledger_status_name (o->status), "provider",
                       o->provider, "message_id", o->message_id, "version",
                       o->template_version, "error", o->error, "retry_ms",
                       (json_int_t) o->retry_in_ms, "lease_s", o->lease_s,
                       "subject", o->inbox_subject, "body", o->inbox_text));
        if (o->token_count)
            json_object_set_new (json_array_get (rows, i), "tokens",
                                 s_tokens_json (o->tokens, o->token_count));
    }
    char *text = fy_json_dumps (rows, 0, NULL);
    json_decref (rows);
    const char *values [] = { text };
    //  One statement for every outcome of a loop's turn; a row whose claim
    //  is gone (its lease ran out, another process has it) is not
    //  touched, and not returned; nor are its device tokens recorded, nor
    //  its in-app message stored (sql/0017: in the user's inbox once).
    PGresult *res = fy_store_pg_exec (
        store,
        "WITH o AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS o(id uuid, "
        "owner text, status text, provider text, message_id text, "
        "version text, error text, retry_ms bigint, lease_s integer, "
        "tokens jsonb, subject text, body text)), "
        "up AS (UPDATE notify.deliveries d SET status = o.status, "
        "provider = coalesce(o.provider, d.provider), "
        "provider_message_id = coalesce(o.message_id, d.provider_message_id), "
        "template_version = coalesce(o.version, d.template_version), "
        "last_error = o.error, "
        "not_before = CASE WHEN o.status = 'queued' THEN now() + o.retry_ms "
        "* interval '1 millisecond' ELSE d.not_before END, "
        "claimed_until = CASE WHEN o.status = 'queued' THEN now() + "
        "(o.retry_ms + o.lease_s * 1000) * interval '1 millisecond' END, "
        "sent_at = CASE WHEN o.status = 'sent' THEN now() END, "
        "updated_at = now() FROM o "
        "WHERE d.id = o.id AND d.claimed_by = o.owner "
        "AND d.status = 'sending' RETURNING d.id, d.user_id, d.category, "
        "d.template), "
        "tk AS (INSERT INTO notify.delivery_tokens (delivery_id, token, "
        "status, message_id, error) SELECT o.id, t.token, t.status, "
        "t.message_id, t.error FROM o JOIN up ON up.id = o.id "
        "CROSS JOIN LATERAL jsonb_to_recordset(coalesce(o.tokens, "
        "'[]'::jsonb)) AS t(token text, status text, message_id text, "
        "error text) ON CONFLICT (delivery_id, token) DO NOTHING), "
        "ib AS (INSERT INTO notify.inbox (delivery_id, user_id, category, "
        "template, subject, body) SELECT up.id, up.user_id, up.category, "
        "up.template, o.subject, o.body FROM o JOIN up ON up.id = o.id "
        "WHERE o.status = 'sent' AND o.subject IS NOT NULL "
        "AND up.user_id IS NOT NULL ON CONFLICT (delivery_id) DO NOTHING) "
        "SELECT id::text FROM up",
        1, values, "settle", err);
    free (text);
    if (!res)
        return -1;
    for (int r = 0; r < PQntuples (res); r++)
        for (size_t i = 0; i < count; i++)
            if (!done [i]
                && strcmp (outcomes [i].id, PQgetvalue (res, r, 0)) == 0) {
                done [i] = true;
                break;
            }
    PQclear (res);
    return 0;
}

int
fy_ledger_settle (fy_store_t *store, const fy_ledger_outcome_t *outcome,
                  fy_error_t *err)
{
    bool done = false;
    if (fy_ledger_settle_many (store, outcome, 1, &done, err))
        return -1;
    if (!done) {
        fy_error_set (err, "delivery %s: the claim of %s is gone", outcome->id,
                      outcome->owner);
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int
fy_ledger_release (fy_store_t *store, const char *owner, const char **ids,
                   size_t count, fy_error_t *err)
{
    assert (store && owner && (ids || count == 0));
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++)
        json_array_append_new (list, json_string (ids [i]));
    char *text = fy_json_dumps (list, 0, NULL);
    json_decref (list);
    const char *values [] = { owner, text };
    //  A claimed row never sent goes back to queued, its attempt not
    //  counted.
    int rc =
        s_do (store,
              "UPDATE notify.deliveries SET claimed_by = NULL, "
              "claimed_until = NULL, status = 'queued', "
              "attempts = CASE WHEN status = 'sending' THEN attempts - 1 "
              "ELSE attempts END, updated_at = now() WHERE claimed_by = $1 "
              "AND status IN ('queued', 'sending') AND id IN "
              "(SELECT value::uuid FROM jsonb_array_elements_text($2::jsonb))",
              2, values, "release", err);
    free (text);
    return rc;
}

//  ---------------------------------------------------------------------
//  Reading

//  The one JSON value of a one-row, one-column result of sql with count
//  values, or NULL with ENOENT when no row (or NULL).
static json_t *
s_json_answer (fy_store_t *store, const char *sql, int count,
               const char *const *values, const char *what, fy_error_t *err)
{
    PGresult *res = fy_store_pg_exec (store, sql, count, values, what, err);
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

//  s_json_answer of sql with the one value id.
static json_t *
s_json_row (fy_store_t *store, const char *sql, const char *id,
            const char *what, fy_error_t *err)
{
    const char *values [] = { id };
    return s_json_answer (store, sql, 1, values, what, err);
}

json_t *
fy_ledger_get (fy_store_t *store, const char *id, fy_error_t *err)
{
    assert (store && id);
    //  A push's devices: what each token came to (sql/0016).
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
        "'notBefore', notify.iso(not_before), "
        "'createdAt', notify.iso(created_at), "
        "'updatedAt', notify.iso(updated_at), "
        "'sentAt', notify.iso(sent_at), "
        "'devices', (SELECT json_agg(json_build_object('token', t.token, "
        "'status', t.status, 'messageId', t.message_id, 'error', t.error, "
        "'at', notify.iso(t.at)) ORDER BY t.at, t.token) "
        "FROM notify.delivery_tokens t WHERE t.delivery_id = d.id))::text "
        "FROM notify.deliveries d WHERE id = $1::uuid",
        id, "delivery", err);
}

json_t *
fy_ledger_batch (fy_store_t *store, const char *id, fy_error_t *err)
{
    assert (store && id);
    return s_json_row (
        store,
        "SELECT json_build_object('id', b.id, 'total', b.total, "
        "'createdAt', notify.iso(b.created_at), 'counts', "
        "(SELECT json_object_agg(s.status, coalesce(c.n, 0)) "
        "FROM unnest(ARRAY['queued', 'held', 'sending', 'sent', 'failed', "
        "'suppressed']) AS s(status) LEFT JOIN (SELECT status, count(*) AS n "
        "FROM notify.deliveries WHERE batch_id = b.id GROUP BY status) c "
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
    return json_pack ("{s:s, s:{}, s:n, s:n}", "userId", user_id, "optOut",
                      "timezone", "quietHours");
}

int
fy_ledger_preferences_put (fy_store_t *store, const char *user_id,
                           json_t *opt_out, const char *zone,
                           const char *quiet_start, const char *quiet_end,
                           fy_error_t *err)
{
    assert (store && user_id && opt_out);
    char *opt = fy_json_dumps (opt_out, 0, NULL);
    const char *values [] = { user_id, opt, zone, quiet_start, quiet_end };
    //  The zone is checked by using it: an unknown one is SQLSTATE 22023.
    //  None (NULL): the recipient directory's, else UTC (sql/0015).
    int rc = s_do (
        store,
        "INSERT INTO notify.preferences (user_id, opt_out, timezone, "
        "quiet_start, quiet_end) SELECT $1::uuid, $2::jsonb, $3, $4::time, "
        "$5::time WHERE $3::text IS NULL OR (now() AT TIME ZONE $3) IS NOT "
        "NULL "
        "ON CONFLICT (user_id) DO UPDATE SET opt_out = excluded.opt_out, "
        "timezone = excluded.timezone, quiet_start = excluded.quiet_start, "
        "quiet_end = excluded.quiet_end, updated_at = now()",
        5, values, "preferences", err);
    free (opt);
    return rc;
}

//  ---------------------------------------------------------------------
//  Push devices

int
fy_ledger_token_dead (fy_store_t *store, const char *token, fy_error_t *err)
{
    assert (store && token);
    const char *values [] = { token };
    //  notify.dead_tokens holds every dead token, registered or given in
    //  a notification; a registered one's device says when it died.
    return s_do (store,
                 "WITH dev AS (UPDATE notify.devices SET dead_at = now() "
                 "WHERE token = $1 AND dead_at IS NULL) "
                 "INSERT INTO notify.dead_tokens (token) VALUES ($1) "
                 "ON CONFLICT (token) DO NOTHING",
                 1, values, "dead token", err);
}

//  A device row (of notify.devices) as the API shows it.
#define S_DEVICE_JSON                                          \
    "json_build_object('token', token, 'platform', platform, " \
    "'appVersion', app_version, 'locale', locale, "            \
    "'createdAt', notify.iso(created_at), 'updatedAt', "       \
    "notify.iso(updated_at), 'deadAt', notify.iso(dead_at))"

json_t *
fy_ledger_device_put (fy_store_t *store, const char *user_id, const char *token,
                      const char *platform, const char *app_version,
                      const char *locale, bool *created_p, fy_error_t *err)
{
    assert (store && user_id && token && platform);
    const char *values [] = { user_id, token, platform, app_version, locale };
    //  One statement: the upsert, the token live again (notify.dead_tokens
    //  too, where FCM's verdict on tokens given in notifications is
    //  kept), and whether it was the user's before (prev sees the row as
    //  it was).
    PGresult *res = fy_store_pg_exec (
        store,
        "WITH prev AS (SELECT user_id FROM notify.devices WHERE token = $2), "
        "up AS (INSERT INTO notify.devices AS d (token, user_id, platform, "
        "app_version, locale) VALUES ($2, $1::uuid, $3, $4, $5) "
        "ON CONFLICT (token) DO UPDATE SET user_id = excluded.user_id, "
        "platform = excluded.platform, app_version = excluded.app_version, "
        "locale = excluded.locale, dead_at = NULL, updated_at = now(), "
        "created_at = CASE WHEN d.user_id = excluded.user_id "
        "THEN d.created_at ELSE now() END RETURNING *), "
        "alive AS (DELETE FROM notify.dead_tokens WHERE token = $2) "
        "SELECT (SELECT " S_DEVICE_JSON "::text FROM up), "
        "NOT EXISTS (SELECT 1 FROM prev WHERE user_id = $1::uuid)",
        5, values, "device", err);
    if (!res)
        return NULL;
    json_t *device = fy_json_loads (PQgetvalue (res, 0, 0), err);
    if (created_p)
        *created_p = PQgetvalue (res, 0, 1) [0] == 't';
    PQclear (res);
    return device;
}

json_t *
fy_ledger_devices (fy_store_t *store, const char *user_id, fy_error_t *err)
{
    assert (store && user_id);
    return s_json_row (store,
                       "SELECT json_build_object('userId', $1::uuid, "
                       "'devices', coalesce((SELECT json_agg(" S_DEVICE_JSON
                       " ORDER BY updated_at DESC, token) FROM notify.devices "
                       "WHERE user_id = $1::uuid), '[]'::json))::text",
                       user_id, "devices", err);
}

int
fy_ledger_device_delete (fy_store_t *store, const char *user_id,
                         const char *token, fy_error_t *err)
{
    assert (store && user_id && token);
    const char *values [] = { user_id, token };
    PGresult *res = fy_store_pg_exec (store,
                                      "DELETE FROM notify.devices WHERE "
                                      "user_id = $1::uuid AND token = $2",
                                      2, values, "device", err);
    if (!res)
        return -1;
    bool gone = strcmp (PQcmdTuples (res), "0") == 0;
    PQclear (res);
    if (gone) {
        fy_error_set (err, "user %s has no such device", user_id);
        errno = ENOENT;
        return -1;
    }
    return 0;
}

int
fy_ledger_push_tokens (fy_store_t *store, const char *delivery_id,
                       const char *user_id, json_t *given, size_t max,
                       char ***tokens_p, size_t *count_p, size_t *sent_p,
                       fy_error_t *err)
{
    assert (store && delivery_id && tokens_p && count_p && sent_p);
    *tokens_p = NULL;
    *count_p = *sent_p = 0;
    char *list = given ? fy_json_dumps (given, 0, NULL) : NULL;
    char most [24];
    snprintf (most, sizeof most, "%zu", max);
    const char *values [] = { delivery_id, user_id, list, most };
    //  The first row counts the devices that accepted the delivery
    //  before (its token NULL), then the tokens in order, a token given
    //  twice once: one device, one send.
    PGresult *res = fy_store_pg_exec (
        store,
        "WITH done AS (SELECT token, status FROM notify.delivery_tokens "
        "WHERE delivery_id = $1::uuid), "
        "cand AS ((SELECT DISTINCT ON (g.value #>> '{}') "
        "g.value #>> '{}' AS token, g.ord "
        "FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS g(value, ord) "
        "WHERE jsonb_typeof(g.value) = 'string' AND g.value #>> '{}' NOT IN "
        "(SELECT token FROM notify.dead_tokens) ORDER BY 1, 2) "
        "UNION ALL SELECT token, row_number() OVER (ORDER BY updated_at "
        "DESC, token) FROM notify.devices WHERE $3::jsonb IS NULL "
        "AND user_id = $2::uuid AND dead_at IS NULL) "
        "SELECT 0, NULL, count(*) FILTER (WHERE status = 'sent') FROM done "
        "UNION ALL (SELECT 1, token, ord FROM cand WHERE token NOT IN "
        "(SELECT token FROM done) ORDER BY ord LIMIT $4::integer) "
        "ORDER BY 1, 3",
        4, values, "push tokens", err);
    free (list);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    *sent_p = (size_t) strtoull (PQgetvalue (res, 0, 2), NULL, 10);
    if (rows > 1)
        *tokens_p = fy_xcalloc ((size_t) rows - 1, sizeof **tokens_p);
    for (int r = 1; r < rows; r++)
        (*tokens_p) [(*count_p)++] = fy_xstrdup (PQgetvalue (res, r, 1));
    PQclear (res);
    return 0;
}

//  ---------------------------------------------------------------------
//  The in-app inbox (sql/0017)

//  One item of the inbox as the API shows it.
#define S_INBOX_JSON                                                  \
    "json_build_object('id', i.delivery_id, 'category', i.category, " \
    "'template', i.template, 'subject', i.subject, 'text', i.body, "  \
    "'createdAt', notify.iso(i.created_at), 'readAt', "               \
    "notify.iso(i.read_at))"

json_t *
fy_ledger_inbox (fy_store_t *store, const char *user_id, bool unread_only,
                 const char *cursor, int limit, fy_error_t *err)
{
    assert (store && user_id);
    assert (limit > 0 && limit <= FY_LEDGER_INBOX_PAGE_MAX);
    char most [16];
    snprintf (most, sizeof most, "%d", limit);
    const char *values [] = { user_id, unread_only ? "t" : "f", cursor, most };
    //  Keyset: the items after the cursor's (created_at, delivery_id),
    //  newest first; one more than the page says whether more follow. A
    //  cursor that is not one of the user's items gives no row (NULL).
    return s_json_answer (
        store,
        "WITH c AS (SELECT created_at, delivery_id FROM notify.inbox "
        "WHERE delivery_id = $3::uuid AND user_id = $1::uuid), "
        "page AS (SELECT i.* FROM notify.inbox i WHERE i.user_id = $1::uuid "
        "AND (NOT $2::boolean OR i.read_at IS NULL) AND ($3::uuid IS NULL "
        "OR (i.created_at, i.delivery_id) < (SELECT created_at, delivery_id "
        "FROM c)) ORDER BY i.created_at DESC, i.delivery_id DESC "
        "LIMIT $4::integer + 1), "
        "shown AS (SELECT * FROM page ORDER BY created_at DESC, delivery_id "
        "DESC LIMIT $4::integer) "
        "SELECT json_build_object('userId', $1::uuid, 'unread', "
        "(SELECT count(*) FROM notify.inbox WHERE user_id = $1::uuid "
        "AND read_at IS NULL), 'items', coalesce((SELECT json_agg(" S_INBOX_JSON
        " ORDER BY i.created_at DESC, i.delivery_id DESC) FROM shown i), "
        "'[]'::json), 'nextCursor', CASE WHEN (SELECT count(*) FROM page) > "
        "$4::integer THEN (SELECT delivery_id FROM shown ORDER BY "
        "created_at, delivery_id LIMIT 1) END)::text "
        "WHERE $3::uuid IS NULL OR EXISTS (SELECT 1 FROM c)",
        4, values, "inbox", err);
}

json_t *
fy_ledger_inbox_read (fy_store_t *store, const char *user_id, json_t *ids,
                      fy_error_t *err)
{
    assert (store && user_id);
    char *list = ids ? fy_json_dumps (ids, 0, NULL) : NULL;
    const char *values [] = { user_id, list };
    //  read_at is set once: marking again changes nothing. The count is
    //  of the rows as this statement leaves them (a CTE's change is not
    //  seen by the outer SELECT, so it is taken off).
    json_t *answer = s_json_answer (
        store,
        "WITH up AS (UPDATE notify.inbox SET read_at = now() "
        "WHERE user_id = $1::uuid AND read_at IS NULL AND ($2::jsonb IS NULL "
        "OR delivery_id IN (SELECT value::uuid FROM "
        "jsonb_array_elements_text($2::jsonb))) RETURNING 1) "
        "SELECT json_build_object('userId', $1::uuid, 'marked', "
        "(SELECT count(*) FROM up), 'unread', (SELECT count(*) FROM "
        "notify.inbox WHERE user_id = $1::uuid AND read_at IS NULL) - "
        "(SELECT count(*) FROM up))::text",
        2, values, "inbox read", err);
    free (list);
    return answer;
}

//  ---------------------------------------------------------------------
//  The recipient directory

int
fy_ledger_directory_update (fy_store_t *store,
                            const fy_ledger_directory_t *entry, bool *applied_p,
                            bool *conflict_p, fy_error_t *err)
{
    assert (store && entry && entry->event_id && entry->user_id
            && entry->profile && entry->occurred_at);
    char hex [65];
    s_hash_hex (entry->hash, hex);
    char *profile = fy_json_dumps (entry->profile, JSON_COMPACT, NULL);
    const char *values [] = { entry->event_id,   hex,     entry->user_id,
                              entry->company_id, profile, entry->occurred_at };
    //  The event's id and the change in one statement: nothing when the
    //  id is known (the outer SELECT sees the row as it was before, so
    //  its hash tells a redelivery from a conflict). The newer event's
    //  fields win, whichever comes last.
    PGresult *res = fy_store_pg_exec (
        store,
        "WITH ev AS (INSERT INTO notify.directory_events (id, hash) "
        "VALUES ($1::uuid, decode($2, 'hex')) ON CONFLICT (id) DO NOTHING "
        "RETURNING id), "
        "up AS (INSERT INTO notify.directory AS d (user_id, company_id, "
        "profile, occurred_at) SELECT $3::uuid, $4::uuid, $5::jsonb, "
        "$6::timestamptz FROM ev ON CONFLICT (user_id) DO UPDATE SET "
        "profile = CASE WHEN excluded.occurred_at >= d.occurred_at "
        "THEN d.profile || excluded.profile "
        "ELSE excluded.profile || d.profile END, "
        "company_id = coalesce(excluded.company_id, d.company_id), "
        "occurred_at = greatest(d.occurred_at, excluded.occurred_at), "
        "updated_at = now() RETURNING 1) "
        "SELECT (SELECT count(*) FROM up), coalesce((SELECT hash <> "
        "decode($2, 'hex') FROM notify.directory_events WHERE id = $1::uuid), "
        "false)",
        6, values, "directory update", err);
    free (profile);
    if (!res)
        return -1;
    if (applied_p)
        *applied_p = strcmp (PQgetvalue (res, 0, 0), "0") != 0;
    if (conflict_p)
        *conflict_p = PQgetvalue (res, 0, 1) [0] == 't';
    PQclear (res);
    return 0;
}

json_t *
fy_ledger_directory_get (fy_store_t *store, const char *user_id,
                         fy_error_t *err)
{
    assert (store && user_id);
    return s_json_row (store,
                       "SELECT profile::text FROM notify.directory "
                       "WHERE user_id = $1::uuid",
                       user_id, "directory", err);
}
