/*  fy_store_analytics: analytics on the store's connection (fy_store_pg).
    A batch is mapped to its facts here and flies as audit's appends do
    (fy_store_flight_start, fy_store.c): in one transaction, BEGIN and its
    ids recorded first (a pipeline), then COPY of the facts of only the
    ids it recorded, then what is left to SQL, set by set for the whole
    batch (analytics.apply_rest, sql/0009: companies, names, the
    organisation over time, dirty buckets), the copies not recorded and
    COMMIT (a pipeline), each step sent when the last one's results came,
    without blocking the caller. Every operation is idempotent (ids are
    recorded, rollups are rebuilt from facts, reads only read), so a
    connection lost on the way gets one reconnect and one retry, as in
    fy_store. */
#include "store/fy_store_analytics.h"
#include "ferry/fy_json.h"
#include "ferry/fy_time.h"
#include "store/fy_store_pg.h"

#include <assert.h>
#include <errno.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The distinct months of a batch kept to send each once; more are sent
//  again (harmless: their partitions are looked up once more).
#define S_MONTHS_MAX 16

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

//  What an activity event becomes: its fact's kind and the payload keys
//  of its user_id, subject_id and other_id ("" for the actor, NULL for
//  none) and of its one typed column (due_at, late or value), the
//  mapping analytics.apply (sql/0006_analytics.sql) makes in SQL.
typedef enum {
    S_EXTRA_NONE,
    S_EXTRA_DUE_AT,
    S_EXTRA_LATE,
    S_EXTRA_VALUE
} s_extra_t;

static const struct {
    const char *type;
    const char *kind;
    const char *user;
    const char *subject;
    const char *other;
    s_extra_t extra;
    const char *extra_key;
} s_facts [] = {
    { "user.login", "login", "userId", NULL, NULL, S_EXTRA_NONE, NULL },
    { "user.logout", "logout", "userId", NULL, NULL, S_EXTRA_NONE, NULL },
    { "user.password_changed", "password_changed", "userId", NULL, NULL,
      S_EXTRA_NONE, NULL },
    { "goal.created", "goal_created", "ownerId", "goalId", NULL, S_EXTRA_NONE,
      NULL },
    { "goal.updated", "goal_updated", "ownerId", "goalId", NULL, S_EXTRA_NONE,
      NULL },
    { "goal.progressed", "goal_progressed", "ownerId", "goalId", NULL,
      S_EXTRA_VALUE, "progress" },
    { "goal.completed", "goal_completed", "ownerId", "goalId", NULL,
      S_EXTRA_NONE, NULL },
    { "review.cycle_started", "review_cycle_started", "", "cycleId", NULL,
      S_EXTRA_NONE, NULL },
    { "review.assigned", "review_assigned", "reviewerId", "reviewId",
      "revieweeId", S_EXTRA_DUE_AT, "dueAt" },
    { "review.submitted", "review_submitted", "reviewerId", "reviewId",
      "revieweeId", S_EXTRA_LATE, "late" },
    { "review.completed", "review_completed", "revieweeId", "cycleId",
      "managerId", S_EXTRA_NONE, NULL },
    { "feedback.given", "feedback_given", "giverId", "feedbackId", "receiverId",
      S_EXTRA_NONE, NULL },
    { "one_on_one.scheduled", "one_on_one_scheduled", "employeeId", "meetingId",
      "managerId", S_EXTRA_NONE, NULL },
    { "one_on_one.completed", "one_on_one_held", "employeeId", "meetingId",
      "managerId", S_EXTRA_NONE, NULL },
};
#define S_FACT_TYPES (sizeof s_facts / sizeof s_facts [0])

//  The events that name things or change the organisation over time: the
//  part of a batch left to SQL (analytics.apply_rest).
static const char *const s_org_types [] = {
    "company.created",         "user.created",         "user.updated",
    "user.department_changed", "user.manager_changed", "user.deactivated",
    "department.created",      "department.updated",
};

//  The first copy of each id of a batch (in batch order; picked and
//  sorted in C, fy_store_ids_distinct) recorded in analytics.event_ids
//  with its body's digest unless the id is there already; its one column
//  is each id recorded (binary), whose events the batch then applies. The
//  ids go in sorted, so two batches sharing ids lock them in one order.
//  Three array parameters: ids (binary), occurred_at, digests.
//
//  ON CONFLICT from the first flight, not a plain INSERT flown again on a
//  unique_violation: its speculative insertion costs the server about a
//  tenth of a batch, but SQS redelivers, and with 1% of copies nearly
//  every batch of 500 holds one: each would fail once, logging an ERROR
//  and doing its work twice (issue 16's slow path, gone from audit too).
static const char s_ids_sql [] =
    "INSERT INTO analytics.event_ids (id, occurred_at, body_md5) "
    "SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) "
    "ON CONFLICT (id) DO NOTHING RETURNING id";

//  The copies of a batch that were not recorded, against the copy
//  recorded for their id: the same body when the digests are equal, or,
//  for an id recorded before the digest was of the body as received
//  (s_digest_sorted), or before 0009 when
//  the md5 of the body's jsonb normal form is (what analytics.apply
//  recorded). Parameters: places in the batch, ids, digests, digests of
//  the JSON keys sorted, the bodies as one JSON array.
static const char s_copies_sql [] =
    "SELECT b.n, to_char(e.occurred_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "
    "e.body_md5 IN (b.digest, b.sorted, md5(j.body::text)) "
    "FROM unnest($1::integer[], $2::uuid[], $3::text[], $4::text[]) "
    "WITH ORDINALITY AS b (n, id, digest, sorted, k) "
    "JOIN jsonb_array_elements($5::jsonb) WITH ORDINALITY AS j (body, k) "
    "USING (k) JOIN analytics.event_ids e ON e.id = b.id ORDER BY b.n";

static const char s_facts_copy_sql [] =
    "COPY analytics.facts (event_id, company_id, occurred_at, kind, "
    "user_id, subject_id, other_id, due_at, late, value) FROM STDIN";

//  One event of a batch as the apply sees it.
typedef struct {
    fy_event_t *event;
    int fact;                   //  its s_facts entry, or -1
    bool org;                   //  one of s_org_types
    bool fresh;                 //  recorded by this batch: applied now
    int64_t hour_ms;            //  its UTC hour
    char digest [33];           //  md5 of its envelope as received
    char sorted [33];           //  of its JSON, keys sorted (stale only)
} s_event_t;

//  A batch in flight (fy_store_flight_ops_t's arg): its events, what the
//  steps found, and where its outcome goes.
typedef struct {
    s_event_t *events;
    size_t count;
    fy_store_id_t *ids;         //  distinct, the first copy of each
    size_t id_count;
    size_t fresh;
    size_t fresh_facts;         //  fresh events that make a fact
    int copies_n;               //  the last step's result that is
    PGresult *copies;           //  the copies not recorded, if any
    fy_store_analytics_batch_t *batch;
    EVP_MD *md5;                //  the digests' algorithm and context
    EVP_MD_CTX *md_ctx;
} s_apply_t;

//  Member key of the payload as ->> would give it, appended to the COPY
//  data (NULL for none or JSON null). A string is read from the event as
//  received; a number, a boolean or (to be refused by the column's type,
//  as SQL refused it) a container is written as its JSON text.
static void
s_copy_member (char **buffer, size_t *len, size_t *size, fy_event_t *event,
               const char *key)
{
    const char *text = key ? fy_event_payload_string (event, key, NULL) : NULL;
    if (text || !key)
        fy_store_copy_value (buffer, len, size, text);
    else {
        json_t *value = json_object_get (fy_event_payload (event), key);
        char *dumped = value && !json_is_null (value)
                           ? fy_json_dumps (value, 0, NULL)
                           : NULL;
        fy_store_copy_value (buffer, len, size, dumped);
        free (dumped);
    }
    (*buffer) [(*len)++] = '\t';
}

//  The facts of the fresh events in COPY text format. Caller owns result.
static char *
s_facts_encode (s_apply_t *self, size_t *len_p)
{
    size_t size = 64 * 1024, len = 0;
    char *buffer = fy_xmalloc (size);
    for (size_t i = 0; i < self->count; i++) {
        s_event_t *e = &self->events [i];
        if (!e->fresh || e->fact < 0)
            continue;
        fy_event_t *event = e->event;
        const char *envelope [] = { fy_event_id (event),
                                    fy_event_company_id (event),
                                    fy_event_occurred_at (event),
                                    s_facts [e->fact].kind };
        for (size_t c = 0; c < sizeof envelope / sizeof envelope [0]; c++) {
            fy_store_copy_value (&buffer, &len, &size, envelope [c]);
            buffer [len++] = '\t';
        }
        const char *user = s_facts [e->fact].user;
        if (user && !*user) {
            fy_store_copy_value (&buffer, &len, &size,
                                 fy_event_actor_id (event));
            buffer [len++] = '\t';
        }
        else
            s_copy_member (&buffer, &len, &size, event, user);
        s_copy_member (&buffer, &len, &size, event, s_facts [e->fact].subject);
        s_copy_member (&buffer, &len, &size, event, s_facts [e->fact].other);
        for (s_extra_t x = S_EXTRA_DUE_AT; x <= S_EXTRA_VALUE; x++)
            s_copy_member (&buffer, &len, &size, event,
                           s_facts [e->fact].extra == x
                               ? s_facts [e->fact].extra_key
                               : NULL);
        buffer [len - 1] = '\n';
    }
    *len_p = len;
    return buffer;
}

//  One text of event i of a batch, for an array parameter; scratch holds
//  it when it is made.
typedef const char *(s_column_fn) (s_apply_t *self, size_t i,
                                   char scratch [32]);

static const char *
s_column_id (s_apply_t *self, size_t i, char scratch [32])
{
    (void) scratch;
    return fy_event_id (self->events [i].event);
}

static const char *
s_column_at (s_apply_t *self, size_t i, char scratch [32])
{
    (void) scratch;
    return fy_event_occurred_at (self->events [i].event);
}

static const char *
s_column_digest (s_apply_t *self, size_t i, char scratch [32])
{
    (void) scratch;
    return self->events [i].digest;
}

static const char *
s_column_sorted (s_apply_t *self, size_t i, char scratch [32])
{
    (void) scratch;
    return self->events [i].sorted;
}

static const char *
s_column_place (s_apply_t *self, size_t i, char scratch [32])
{
    (void) self;
    snprintf (scratch, 32, "%zu", i + 1);
    return scratch;
}

//  An array literal of column for the first copy of each id of the
//  batch (the ids' order), or (stale) for the events it did not record.
//  Caller owns result.
static char *
s_array (s_apply_t *self, bool stale, s_column_fn *column)
{
    size_t size = 64 + self->count * 48, len = 0;
    char *buffer = fy_xmalloc (size);
    char scratch [32];
    for (size_t i = 0; i < (stale ? self->count : self->id_count); i++)
        if (!stale || !self->events [i].fresh)
            fy_store_array_value (
                &buffer, &len, &size,
                column (self, stale ? i : self->ids [i].row, scratch));
    fy_store_array_end (buffer, &len);
    return buffer;
}

//  The events by company, then by hour: runs of one company, and in them
//  runs of one hour.
static int
s_by_company_hour (const void *a, const void *b)
{
    const s_event_t *x = *(const s_event_t *const *) a;
    const s_event_t *y = *(const s_event_t *const *) b;
    int diff =
        strcmp (fy_event_company_id (x->event), fy_event_company_id (y->event));
    if (diff)
        return diff;
    return (x->hour_ms > y->hour_ms) - (x->hour_ms < y->hour_ms);
}

//  analytics.apply_rest's array parameters: the companies of the events
//  applied now, and their facts counted per company and UTC hour.
typedef struct {
    char *companies;
    char *fact_companies;
    char *fact_hours;
    char *fact_counts;
} s_rest_t;

static void
s_rest_fill (s_apply_t *self, s_rest_t *rest)
{
    s_event_t **sorted =
        fy_xcalloc (self->fresh ? self->fresh : 1, sizeof *sorted);
    size_t n = 0;
    for (size_t i = 0; i < self->count; i++)
        if (self->events [i].fresh)
            sorted [n++] = &self->events [i];
    qsort (sorted, n, sizeof *sorted, s_by_company_hour);
    size_t room = 64 + n * 48;
    char *texts [4];
    size_t len [4] = { 0 }, size [4];
    for (int t = 0; t < 4; t++)
        texts [t] = fy_xmalloc (size [t] = room);
    for (size_t i = 0; i < n;) {
        const char *company = fy_event_company_id (sorted [i]->event);
        fy_store_array_value (&texts [0], &len [0], &size [0], company);
        //  The company's run, hour by hour.
        while (i < n
               && strcmp (fy_event_company_id (sorted [i]->event), company)
                      == 0) {
            int64_t hour_ms = sorted [i]->hour_ms;
            int facts = 0;
            for (; i < n && sorted [i]->hour_ms == hour_ms
                   && strcmp (fy_event_company_id (sorted [i]->event), company)
                          == 0;
                 i++)
                facts += sorted [i]->fact >= 0;
            if (facts == 0)
                continue;
            char hour [FY_TIME_RFC3339_SIZE], count [16];
            fy_time_format (hour_ms, hour);
            snprintf (count, sizeof count, "%d", facts);
            fy_store_array_value (&texts [1], &len [1], &size [1], company);
            fy_store_array_value (&texts [2], &len [2], &size [2], hour);
            fy_store_array_value (&texts [3], &len [3], &size [3], count);
        }
    }
    for (int t = 0; t < 4; t++)
        fy_store_array_end (texts [t], &len [t]);
    free (sorted);
    *rest = (s_rest_t) { texts [0], texts [1], texts [2], texts [3] };
}


//  The bodies of the events picked (the fresh ones of the organisation's
//  types, or those not recorded), as one JSON array; NULL when none.
static char *
s_bodies (s_apply_t *self, bool stale)
{
    json_t *array = NULL;
    for (size_t i = 0; i < self->count; i++) {
        s_event_t *e = &self->events [i];
        if (stale ? e->fresh : !(e->fresh && e->org))
            continue;
        if (!array)
            array = json_array ();
        json_array_append (array, fy_event_json (e->event));
    }
    if (!array)
        return NULL;
    char *text = fy_json_dumps (array, 0, NULL);
    json_decref (array);
    return text;
}

//  md5 of text (len bytes) in hex, with the batch's digest and context
//  (EVP_Digest would look the digest up and make a context per call).
//  OpenSSL fails here only on a broken install or out of memory, which
//  ferry treats as fatal (as fy_sigv4 does).
static void
s_md5 (s_apply_t *self, const char *text, size_t len, char digest [33])
{
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_DigestInit_ex2 (self->md_ctx, self->md5, NULL) != 1
        || EVP_DigestUpdate (self->md_ctx, text, len) != 1
        || EVP_DigestFinal_ex (self->md_ctx, md, &md_len) != 1 || md_len != 16)
        abort ();
    fy_hex (md, 16, digest);
}

//  The digest of an event's body: its envelope's members and its payload
//  as they were received (the msgpack read as it is, no JSON tree), so a
//  redelivery (the same bytes) has the same digest. A copy whose keys
//  come in another order differs here; s_digest_sorted settles it.
static void
s_digest (s_apply_t *self, fy_event_t *event, char digest [33])
{
    const char *members [] = { fy_event_id (event),
                               fy_event_type (event),
                               fy_event_source (event),
                               fy_event_occurred_at (event),
                               fy_event_company_id (event),
                               fy_event_actor_id (event),
                               fy_event_correlation_id (event) };
    char *payload = fy_event_payload_dumps (event, NULL);
    size_t size = 256 + (payload ? strlen (payload) : 0), len = 0;
    char *text = fy_xmalloc (size);
    len += (size_t) snprintf (text, size, "%d", fy_event_version (event));
    for (size_t m = 0; m < sizeof members / sizeof *members; m++) {
        fy_store_copy_value (&text, &len, &size, members [m]);
        text [len++] = '\t';
    }
    fy_store_copy_value (&text, &len, &size, payload);
    s_md5 (self, text, len, digest);
    free (text);
    free (payload);
}

//  The md5 of the event's JSON, keys sorted (what the ids recorded before
//  s_digest hold), for the copies not recorded only.
static void
s_digest_sorted (s_apply_t *self, fy_event_t *event, char digest [33])
{
    size_t len = 0;
    char *text = fy_json_dumps (fy_event_json (event), FY_JSON_SORT_KEYS, &len);
    s_md5 (self, text, len, digest);
    free (text);
}

//  Send sql with count text parameters without waiting. True when sent.
static bool
s_send (PGconn *conn, const char *sql, int count, const char *const *values)
{
    return PQsendQueryParams (conn, sql, count, NULL, values, NULL, NULL, 0)
           == 1;
}

//  The UTC months of the batch's events, as an array literal of their
//  first days (a batch seldom spans more than one). Caller owns result.
static char *
s_months (s_apply_t *self)
{
    size_t size = 64, len = 0;
    char *buffer = fy_xmalloc (size);
    char months [S_MONTHS_MAX][11];
    size_t count = 0;
    for (size_t i = 0; i < self->count; i++) {
        //  An event of the same hour as the one before it has its month
        //  (a batch is mostly of one hour).
        if (i > 0 && self->events [i].hour_ms == self->events [i - 1].hour_ms)
            continue;
        char at [FY_TIME_RFC3339_SIZE];
        fy_time_format (self->events [i].hour_ms, at);
        snprintf (at + 7, sizeof at - 7, "-01");
        size_t m = 0;
        while (m < count && strcmp (months [m], at) != 0)
            m++;
        if (m < count)
            continue;
        if (count < S_MONTHS_MAX)
            memcpy (months [count++], at, 11);
        fy_store_array_value (&buffer, &len, &size, at);
    }
    fy_store_array_end (buffer, &len);
    return buffer;
}

//  The event at row recorded by this batch: applied now.
static void
s_fresh (s_apply_t *self, size_t row)
{
    s_event_t *e = &self->events [row];
    if (!e->fresh) {
        e->fresh = true;
        self->fresh++;
        self->fresh_facts += e->fact >= 0;
    }
}

//  The first step, after BEGIN: the shared lock that keeps the watermarks
//  still until COMMIT (analytics.run takes it exclusive), the months'
//  partitions and the ids.
static bool
s_apply_first (fy_store_t *store, PGconn *conn, void *arg)
{
    (void) store;
    s_apply_t *self = arg;
    self->fresh = self->fresh_facts = 0;
    PQclear (self->copies);
    self->copies = NULL;
    for (size_t i = 0; i < self->count; i++)
        self->events [i].fresh = false;
    int length = 0;
    char *values [3] = { fy_store_ids_array (self->ids, self->id_count,
                                             &length),
                         s_array (self, false, s_column_at),
                         s_array (self, false, s_column_digest) };
    const int lengths [3] = { length, 0, 0 }, formats [3] = { 1, 0, 0 };
    char *months = s_months (self);
    bool sent =
        s_send (conn,
                "SELECT pg_advisory_xact_lock_shared("
                "analytics.job_lock_key() + 1)",
                0, NULL)
        && s_send (conn,
                   "SELECT analytics.ensure_partitions(m, 1) "
                   "FROM unnest($1::date[]) m",
                   1, (const char *const *) &months)
        && PQsendQueryParams (conn, s_ids_sql, 3, NULL,
                              (const char *const *) values, lengths, formats, 1)
               == 1;
    for (int v = 0; v < 3; v++)
        free (values [v]);
    free (months);
    return sent;
}

//  The ids recorded (the first step's third result) mark the events of
//  their first copies fresh; the copies not recorded (the last step's
//  last) are kept.
static int
s_apply_rows (fy_store_t *store, void *arg, int step, int n, PGresult *res,
              fy_error_t *err)
{
    (void) store;
    (void) err;
    s_apply_t *self = arg;
    if (step == 1 && n == self->copies_n) {
        self->copies = res;
        return 0;
    }
    for (int r = 0; step == 0 && n == 2 && r < PQntuples (res); r++) {
        const fy_store_id_t *id =
            fy_store_ids_find (self->ids, self->id_count, res, r);
        if (id)
            s_fresh (self, id->row);
    }
    PQclear (res);
    return 0;
}

static const char *
s_apply_copy_sql (fy_store_t *store, void *arg)
{
    (void) store;
    s_apply_t *self = arg;
    return self->fresh_facts ? s_facts_copy_sql : NULL;
}

static char *
s_apply_copy_data (fy_store_t *store, void *arg, size_t *len)
{
    (void) store;
    return s_facts_encode (arg, len);
}

//  The last step, before COMMIT: the rest (analytics.apply_rest), then
//  the copies not recorded against the recorded ones. A batch that
//  reorganises takes analytics.job_lock_key() + 2 first: two connections
//  rebuilding one user's membership at once would each miss the other's
//  change.
static bool
s_apply_last (fy_store_t *store, PGconn *conn, void *arg)
{
    (void) store;
    s_apply_t *self = arg;
    s_rest_t rest;
    s_rest_fill (self, &rest);
    char *org = s_bodies (self, false);
    const char *rest_values [5] = { rest.companies, org, rest.fact_companies,
                                    rest.fact_hours, rest.fact_counts };
    bool stale = self->fresh < self->count;
    self->copies_n = stale ? 1 + (org != NULL) : -1;
    char *copies [5] = { NULL };
    if (stale) {
        for (size_t i = 0; i < self->count; i++)
            if (!self->events [i].fresh)
                s_digest_sorted (self, self->events [i].event,
                                 self->events [i].sorted);
        copies [0] = s_array (self, true, s_column_place);
        copies [1] = s_array (self, true, s_column_id);
        copies [2] = s_array (self, true, s_column_digest);
        copies [3] = s_array (self, true, s_column_sorted);
        copies [4] = s_bodies (self, true);
    }
    bool sent =
        (!org
         || s_send (
             conn, "SELECT pg_advisory_xact_lock(analytics.job_lock_key() + 2)",
             0, NULL))
        && s_send (conn,
                   "SELECT analytics.apply_rest($1::uuid[], $2::jsonb, "
                   "$3::uuid[], $4::timestamptz[], $5::integer[])",
                   5, rest_values)
        && (!stale
            || s_send (conn, s_copies_sql, 5, (const char *const *) copies));
    free (rest.companies);
    free (rest.fact_companies);
    free (rest.fact_hours);
    free (rest.fact_counts);
    free (org);
    for (int v = 0; v < 5; v++)
        free (copies [v]);
    return sent;
}

//  The outcome into the caller's batch: one row of the copies per copy
//  not recorded, in batch order.
static size_t
s_apply_finish (fy_store_t *store, void *arg, int rc)
{
    (void) store;
    s_apply_t *self = arg;
    fy_store_analytics_batch_t *batch = self->batch;
    memset (batch, 0, sizeof *batch);
    PGresult *rows = rc == 0 ? self->copies : NULL;
    batch->applied = rc == 0 ? self->fresh : 0;
    for (int r = 0; rows && r < PQntuples (rows); r++) {
        if (strcmp (PQgetvalue (rows, r, 2), "t") == 0) {
            batch->duplicates++;
            continue;
        }
        int n = s_int (PQgetvalue (rows, r, 0));
        if (batch->conflicts < FY_STORE_ANALYTICS_CONFLICTS_KEPT && n >= 1
            && (size_t) n <= self->count) {
            fy_store_conflict_t *c = &batch->conflict [batch->conflicts];
            fy_event_t *event = self->events [n - 1].event;
            snprintf (c->id, sizeof c->id, "%s", fy_event_id (event));
            snprintf (c->stored_at, sizeof c->stored_at, "%s",
                      PQgetvalue (rows, r, 1));
            snprintf (c->new_at, sizeof c->new_at, "%s",
                      fy_event_occurred_at (event));
            snprintf (c->fields, sizeof c->fields, "body");
        }
        batch->conflicts++;
    }
    size_t applied = batch->applied;
    PQclear (self->copies);
    EVP_MD_CTX_free (self->md_ctx);
    EVP_MD_free (self->md5);
    free (self->ids);
    free (self->events);
    free (self);
    return applied;
}

static const fy_store_flight_ops_t s_apply_ops = { NULL,
                                                   s_apply_first,
                                                   s_apply_rows,
                                                   s_apply_copy_sql,
                                                   s_apply_copy_data,
                                                   s_apply_last,
                                                   NULL,
                                                   s_apply_finish };

static void
s_event_fill (s_apply_t *apply, s_event_t *self, fy_event_t *event)
{
    self->event = event;
    self->fact = -1;
    const char *type = fy_event_type (event);
    for (size_t f = 0; f < S_FACT_TYPES && self->fact < 0; f++)
        if (strcmp (type, s_facts [f].type) == 0)
            self->fact = (int) f;
    for (size_t o = 0;
         self->fact < 0 && o < sizeof s_org_types / sizeof s_org_types [0]; o++)
        if (strcmp (type, s_org_types [o]) == 0)
            self->org = true;
    int64_t at = fy_event_occurred_at_ms (event);
    self->hour_ms = at - ((at % 3600000) + 3600000) % 3600000;
    s_digest (apply, event, self->digest);
}

void
fy_store_analytics_apply_start (fy_store_t *self, fy_event_t **events,
                                size_t count, fy_store_analytics_batch_t *batch)
{
    assert (self);
    assert (events || count == 0);
    assert (batch);
    s_apply_t *apply = fy_xcalloc (1, sizeof *apply);
    apply->events = fy_xcalloc (count ? count : 1, sizeof (s_event_t));
    apply->count = count;
    apply->batch = batch;
    apply->md5 = EVP_MD_fetch (NULL, "MD5", NULL);
    apply->md_ctx = EVP_MD_CTX_new ();
    if (!apply->md5 || !apply->md_ctx)
        abort ();
    apply->ids = fy_xcalloc (count ? count : 1, sizeof *apply->ids);
    for (size_t i = 0; i < count; i++) {
        s_event_fill (apply, &apply->events [i], events [i]);
        fy_store_id_set (&apply->ids [i], fy_event_id (events [i]), i);
    }
    apply->id_count = fy_store_ids_distinct (apply->ids, count);
    fy_store_flight_start (self, &s_apply_ops, apply);
}

int
fy_store_analytics_apply (fy_store_t *self, fy_event_t **events, size_t count,
                          fy_store_analytics_batch_t *batch, fy_error_t *err)
{
    assert (self);
    assert (batch);
    memset (batch, 0, sizeof *batch);
    if (count == 0)
        return 0;
    fy_store_analytics_apply_start (self, events, count, batch);
    return fy_store_flight_wait (self, NULL, err);
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
