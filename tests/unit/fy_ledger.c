/*  fy_ledger test, against the stack's real PostgreSQL (DATABASE_URL; its
    absence is a failure): a scratch database migrated by the real
    ferryctl. Covers: an event and its deliveries recorded once (the same
    event again changes nothing; another body under its id is a conflict,
    the first kept), a key recorded once across events, suppression by
    preference (never for a critical category), quiet hours in the user's
    zone (held until they end; critical at once), claims (one owner at a
    time, a lease that runs out, the sweep's SKIP LOCKED), outcomes and a
    lost claim, batches and their counts, dead tokens, and a 10,000-item
    batch recorded in one call. */
#include "ferry/ferry.h"
#include "store/fy_ledger.h"
#include "pg.h"

#include <errno.h>

static char s_url [512];
static PGconn *s_check;

static long long
s_count (const char *sql)
{
    return tap_pg_count (s_check, sql);
}

static void
s_sql (const char *sql)
{
    PGresult *res = PQexec (s_check, sql);
    if (PQresultStatus (res) != PGRES_COMMAND_OK
        && PQresultStatus (res) != PGRES_TUPLES_OK)
        BAIL_OUT ("%s: %s", sql, PQerrorMessage (s_check));
    PQclear (res);
}

#define S_USER "11111111-1111-4111-8111-111111111111"
#define S_QUIET "22222222-2222-4222-8222-222222222222"
#define S_EVENT "33333333-3333-4333-8333-333333333333"
#define S_EVENT2 "44444444-4444-4444-8444-444444444444"

static fy_ledger_item_t
s_item (const char *key, const char *user, const char *category, bool critical,
        json_t *recipient)
{
    fy_ledger_item_t item = { .key = key,
                              .channel = "email",
                              .user_id = user,
                              .recipient = recipient,
                              .category = category,
                              .critical = critical,
                              .template_name = "review.assigned",
                              .locale = "en",
                              .data = NULL };
    return item;
}

static void
test_record (fy_store_t *store)
{
    json_t *to = json_pack ("{s:s}", "email", "a@example.com");
    unsigned char hash [32] = { 1 }, other [32] = { 2 };
    fy_error_t err = { "" };
    //  A user opted out of feedback e-mail.
    json_t *opt = json_pack ("{s:[s]}", "email", "feedback");
    ok (fy_ledger_preferences_put (store, S_USER, opt, "Europe/Paris", NULL,
                                   NULL, &err)
            == 0,
        "preferences stored: %s", err.text);
    json_decref (opt);
    fy_ledger_item_t items [] = {
        s_item ("k1", S_USER, "review", false, to),
        s_item ("k2", S_USER, "feedback", false, to),
        s_item ("k3", S_USER, "feedback", true, to),
        s_item ("k1", S_USER, "review", false, to),
    };
    fy_ledger_entry_t *entries = NULL;
    size_t count = 0;
    bool conflict = true;
    ok (fy_ledger_record (store, S_EVENT, hash, NULL, NULL, 0, items, 4,
                          &entries, &count, &conflict, &err)
            == 0,
        "record an event with four items: %s", err.text);
    is_int ((int) count, 4, "four entries");
    ok (!conflict, "no conflict");
    ok (entries [0].created && entries [0].status == FY_LEDGER_QUEUED,
        "k1 queued, created");
    is_str (fy_ledger_status_name (entries [1].status), "suppressed",
            "k2: opted out of feedback e-mail: suppressed");
    is_str (fy_ledger_status_name (entries [2].status), "queued",
            "k3: critical: queued despite the opt-out");
    is_str (entries [3].id, entries [0].id, "a key twice in one call: one id");
    char first [FY_UUID_SIZE];
    memcpy (first, entries [0].id, sizeof first);
    free (entries);
    is_int ((int) s_count ("SELECT count(*) FROM notify.deliveries"), 3,
            "three deliveries");

    //  The same event again: nothing new, its deliveries given back.
    ok (fy_ledger_record (store, S_EVENT, hash, NULL, NULL, 0, items, 4,
                          &entries, &count, &conflict, &err)
            == 0,
        "the same event again");
    is_int ((int) count, 3, "its three deliveries");
    ok (!conflict, "no conflict");
    free (entries);
    //  Another body under the same id: a conflict, the first kept.
    fy_ledger_item_t changed = s_item ("k9", NULL, NULL, false, to);
    ok (fy_ledger_record (store, S_EVENT, other, NULL, NULL, 0, &changed, 1,
                          &entries, &count, &conflict, &err)
            == 0,
        "another body under the id");
    ok (conflict, "is a conflict");
    is_int ((int) s_count ("SELECT count(*) FROM notify.deliveries"), 3,
            "nothing recorded for it");
    free (entries);
    //  A known key from another event: the first delivery.
    ok (fy_ledger_record (store, S_EVENT2, hash, NULL, NULL, 0, items, 1,
                          &entries, &count, &conflict, &err)
            == 0,
        "a known key from another event");
    ok (count == 1 && !entries [0].created && !strcmp (entries [0].id, first),
        "gives the first delivery");
    free (entries);
    is_int ((int) s_count ("SELECT count(*) FROM notify.event_ids"), 2,
            "two event ids stored");
    json_decref (to);
}

static void
test_quiet (fy_store_t *store)
{
    fy_error_t err = { "" };
    //  Quiet hours that contain now in the user's zone: from an hour ago
    //  to an hour ahead, local time of Asia/Tokyo.
    PGresult *res =
        PQexec (s_check, "SELECT to_char((now() AT TIME ZONE 'Asia/Tokyo') "
                         "- interval '1 hour', 'HH24:MI'), "
                         "to_char((now() AT TIME ZONE 'Asia/Tokyo') + "
                         "interval '1 hour', 'HH24:MI')");
    char start [8], end [8];
    snprintf (start, sizeof start, "%s", PQgetvalue (res, 0, 0));
    snprintf (end, sizeof end, "%s", PQgetvalue (res, 0, 1));
    PQclear (res);
    json_t *none = json_object ();
    ok (fy_ledger_preferences_put (store, S_QUIET, none, "Asia/Tokyo", start,
                                   end, &err)
            == 0,
        "quiet hours %s-%s in Asia/Tokyo: %s", start, end, err.text);
    ok (fy_ledger_preferences_put (store, S_QUIET, none, "Mars/Olympus", start,
                                   end, &err)
                == -1
            && errno == EINVAL,
        "an unknown zone: EINVAL (%s)", err.text);
    json_t *prefs = fy_ledger_preferences (store, S_QUIET, &err);
    is_str (json_string_value (json_object_get (prefs, "timezone")),
            "Asia/Tokyo", "the zone kept");
    is_str (json_string_value (
                json_object_get (json_object_get (prefs, "quietHours"), "end")),
            end, "the end read back");
    json_decref (prefs);
    json_t *to = json_pack ("{s:s}", "email", "q@example.com");
    fy_ledger_item_t items [] = {
        s_item ("q1", S_QUIET, "goal", false, to),
        s_item ("q2", S_QUIET, "security", true, to),
    };
    fy_ledger_entry_t *entries = NULL;
    size_t count = 0;
    unsigned char hash [32] = { 3 };
    ok (fy_ledger_record (store, "55555555-5555-4555-8555-555555555555", hash,
                          NULL, NULL, 0, items, 2, &entries, &count, NULL, &err)
            == 0,
        "record inside quiet hours");
    is_str (fy_ledger_status_name (entries [0].status), "held",
            "a non-critical one is held");
    is_str (fy_ledger_status_name (entries [1].status), "queued",
            "a critical one is queued");
    free (entries);
    long long minutes =
        s_count ("SELECT round(extract(epoch FROM not_before - now()) / 60) "
                 "FROM notify.deliveries WHERE idempotency_key = 'q1'");
    ok (minutes >= 59 && minutes <= 61, "held until they end: in %lld min",
        minutes);
    json_decref (to);
    json_decref (none);
}

static void
test_claim (fy_store_t *store)
{
    fy_error_t err = { "" };
    fy_ledger_job_t *job = NULL, *again = NULL;
    char id [FY_UUID_SIZE];
    PGresult *res = PQexec (s_check, "SELECT id FROM notify.deliveries "
                                     "WHERE idempotency_key = 'k1'");
    snprintf (id, sizeof id, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    ok (fy_ledger_claim (store, id, "a", 60, &job, &err) == 0 && job,
        "a claims k1");
    is_int (job->attempts, 1, "one attempt");
    is_str (job->key, "k1", "its key");
    ok (fy_ledger_claim (store, id, "b", 60, &again, &err) == 0 && !again,
        "b cannot claim it while a's lease lives");
    fy_ledger_outcome_t retry = { .id = id,
                                  .owner = "a",
                                  .status = FY_LEDGER_QUEUED,
                                  .error = "421 busy",
                                  .retry_in_ms = 0,
                                  .lease_s = 60 };
    ok (fy_ledger_settle (store, &retry, &err) == 0, "a: retry later");
    ok (fy_ledger_claim (store, id, "b", 60, &again, &err) == 0 && !again,
        "b still cannot: a keeps the claim for its retry");
    ok (fy_ledger_claim (store, id, "a", 60, &again, &err) == 0 && again,
        "a claims it again");
    is_int (again->attempts, 2, "two attempts");
    fy_ledger_job_destroy (&again);
    //  a dies: its lease runs out.
    s_sql ("UPDATE notify.deliveries SET claimed_until = now() - "
           "interval '1 second' WHERE idempotency_key = 'k1'");
    ok (fy_ledger_claim (store, id, "b", 60, &again, &err) == 0 && again,
        "b claims it once a's lease ran out");
    fy_ledger_job_destroy (&again);
    fy_ledger_outcome_t sent = { .id = id,
                                 .owner = "a",
                                 .status = FY_LEDGER_SENT,
                                 .provider = "smtp",
                                 .message_id = "m1@x",
                                 .template_version = "v1" };
    ok (fy_ledger_settle (store, &sent, &err) == -1 && errno == ENOENT,
        "a's late outcome: its claim is gone (%s)", err.text);
    sent.owner = "b";
    ok (fy_ledger_settle (store, &sent, &err) == 0, "b: sent");
    json_t *row = fy_ledger_get (store, id, &err);
    is_str (json_string_value (json_object_get (row, "status")), "sent",
            "GET: sent");
    is_int ((int) json_integer_value (json_object_get (row, "attempts")), 3,
            "three attempts");
    is_str (json_string_value (json_object_get (row, "providerMessageId")),
            "m1@x", "the provider's id");
    is_str (json_string_value (json_object_get (row, "templateVersion")), "v1",
            "the template version");
    json_decref (row);
    ok (fy_ledger_claim (store, id, "b", 60, &again, &err) == 0 && !again,
        "a sent delivery is never claimed again");
    fy_ledger_job_destroy (&job);
    ok (!fy_ledger_get (store, "66666666-6666-4666-8666-666666666666", &err)
            && errno == ENOENT,
        "an unknown id: ENOENT");

    //  The sweep: due and unclaimed only (k3 is; q1 is held ahead; q2 is).
    fy_ledger_job_t **jobs = NULL;
    size_t count = 0;
    ok (fy_ledger_claim_due (store, "c", 60, 10, &jobs, &count, &err) == 0,
        "claim due");
    is_int ((int) count, 2, "k3 and q2 are due");
    for (size_t i = 0; i < count; i++)
        fy_ledger_job_destroy (&jobs [i]);
    free (jobs);
    ok (fy_ledger_claim_due (store, "d", 60, 10, &jobs, &count, &err) == 0
            && count == 0,
        "nothing left for another process");
    free (jobs);
}

//  Recorded and claimed in the same statement.
static void
test_claim_at_record (fy_store_t *store)
{
    fy_error_t err = { "" };
    json_t *to = json_pack ("{s:s}", "email", "c@example.com");
    fy_ledger_item_t items [] = {
        s_item ("c1", NULL, "review", false, to),
        s_item ("c1", NULL, "review", false, to),
    };
    items [1].key = "c2";
    items [1].not_before_ms = fy_clock_wall_ms () + 3600000;
    fy_ledger_entry_t *entries = NULL;
    size_t count = 0;
    unsigned char hash [32] = { 9 };
    ok (fy_ledger_record (store, "88888888-8888-4888-8888-888888888888", hash,
                          NULL, "w", 60, items, 2, &entries, &count, NULL, &err)
            == 0,
        "record with an owner: %s", err.text);
    ok (entries [0].job && entries [0].status == FY_LEDGER_SENDING,
        "the due one is claimed at once");
    ok (entries [0].job && entries [0].job->attempts == 1
            && !strcmp (entries [0].job->key, "c1")
            && !strcmp (json_string_value (json_object_get (
                            entries [0].job->recipient, "email")),
                        "c@example.com"),
        "its job: one attempt, its key and recipient");
    ok (!entries [1].job && entries [1].status == FY_LEDGER_QUEUED,
        "the one due later is queued, not claimed");
    fy_ledger_job_destroy (&entries [0].job);
    free (entries);
    fy_ledger_job_t *job = NULL;
    PGresult *res = PQexec (s_check, "SELECT id FROM notify.deliveries "
                                     "WHERE idempotency_key = 'c1'");
    char id [FY_UUID_SIZE];
    snprintf (id, sizeof id, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    ok (fy_ledger_claim (store, id, "x", 60, &job, &err) == 0 && !job,
        "another owner cannot claim it");
    const char *ids [] = { id };
    ok (fy_ledger_release (store, "w", ids, 1, &err) == 0,
        "its owner gives it up: %s", err.text);
    ok (fy_ledger_claim (store, id, "x", 60, &job, &err) == 0 && job
            && job->attempts == 1,
        "another owner claims it, the attempt never made not counted");
    fy_ledger_job_destroy (&job);
    items [0].key = "c1";
    ok (fy_ledger_record (store, NULL, NULL, NULL, "w", 60, items, 1, &entries,
                          &count, NULL, &err)
                == 0
            && !entries [0].job && !entries [0].created,
        "its key again: no new claim");
    free (entries);
    json_decref (to);
}

static void
test_batch (fy_store_t *store)
{
    fy_error_t err = { "" };
    char batch [FY_UUID_SIZE], again [FY_UUID_SIZE];
    size_t total = 10000;
    bool created = false;
    ok (fy_ledger_batch_open (store, "bk", total, batch, &created, &err) == 0
            && created,
        "batch opened: %s", err.text);
    ok (fy_ledger_batch_open (store, "bk", total, again, &created, &err) == 0
            && !created && strcmp (batch, again) == 0,
        "the same key: the same batch");
    fy_ledger_item_t *items = fy_xcalloc (total, sizeof *items);
    char (*keys) [32] = fy_xcalloc (total, sizeof *keys);
    json_t *to = json_pack ("{s:s}", "email", "bulk@example.com");
    for (size_t i = 0; i < total; i++) {
        snprintf (keys [i], sizeof keys [i], "bulk-%zu", i);
        items [i] = s_item (keys [i], NULL, NULL, false, to);
    }
    fy_ledger_entry_t *entries = NULL;
    size_t count = 0;
    int64_t start = fy_clock_mono_ms ();
    ok (fy_ledger_record (store, NULL, NULL, batch, NULL, 0, items, total,
                          &entries, &count, NULL, &err)
            == 0,
        "10,000 recorded in one call (%lld ms): %s",
        (long long) (fy_clock_mono_ms () - start), err.text);
    is_int ((int) count, (int) total, "10,000 entries");
    free (entries);
    ok (fy_ledger_record (store, NULL, NULL, batch, NULL, 0, items, total,
                          &entries, &count, NULL, &err)
            == 0,
        "the same again");
    ok (count == total && !entries [0].created, "nothing created");
    free (entries);
    json_t *view = fy_ledger_batch (store, batch, &err);
    is_int ((int) json_integer_value (json_object_get (view, "total")), 10000,
            "batch total");
    is_int ((int) json_integer_value (
                json_object_get (json_object_get (view, "counts"), "queued")),
            10000, "10,000 queued");
    is_int ((int) json_integer_value (
                json_object_get (json_object_get (view, "counts"), "sent")),
            0, "0 sent");
    json_decref (view);
    json_decref (to);
    free (items);
    free (keys);
    ok (fy_ledger_token_is_dead (store, "tok", &err) == 0, "a live token");
    ok (fy_ledger_token_dead (store, "tok", &err) == 0, "marked dead");
    ok (fy_ledger_token_is_dead (store, "tok", &err) == 1, "is dead");
}

//  One user.* event for the directory: id, when, and profile as JSON.
static int
s_directory (fy_store_t *store, const char *id, unsigned char mark,
             const char *at, const char *profile, bool *applied, bool *conflict)
{
    fy_ledger_directory_t entry = { .event_id = id,
                                    .user_id = S_USER,
                                    .profile = json_loads (profile, 0, NULL),
                                    .occurred_at = at };
    memset (entry.hash, mark, sizeof entry.hash);
    fy_error_t err = { "" };
    int rc =
        fy_ledger_directory_update (store, &entry, applied, conflict, &err);
    if (rc)
        diag ("directory update: %s", err.text);
    json_decref (entry.profile);
    return rc;
}

//  The profile's email and displayName, "email name" ("-" for none).
static char *
s_profile (fy_store_t *store)
{
    json_t *profile = fy_ledger_directory_get (store, S_USER, NULL);
    const char *email = json_string_value (json_object_get (profile, "email"));
    const char *name =
        json_string_value (json_object_get (profile, "displayName"));
    char *text = fy_xasprintf ("%s %s", email ? email : "-", name ? name : "-");
    json_decref (profile);
    return text;
}

static void
test_directory (fy_store_t *store)
{
    fy_error_t err = { "" };
    errno = 0;
    ok (fy_ledger_directory_get (store, S_USER, &err) == NULL
            && errno == ENOENT,
        "a user the directory does not know: ENOENT");
    bool applied = false, conflict = true;
    ok (s_directory (store, S_EVENT, 1, "2026-12-01T10:00:00Z",
                     "{\"email\": \"a@x.example\", \"locale\": \"sv\"}",
                     &applied, &conflict)
                == 0
            && applied && !conflict,
        "user.created applied");
    char *text = s_profile (store);
    is_str (text, "a@x.example -", "the profile as it said");
    free (text);
    ok (s_directory (store, S_EVENT2, 2, "2026-12-01T11:00:00Z",
                     "{\"email\": \"b@x.example\"}", &applied, &conflict)
                == 0
            && applied,
        "a newer user.updated applied");
    ok (s_directory (store, "55555555-5555-4555-8555-555555555555", 3,
                     "2026-12-01T10:30:00Z",
                     "{\"email\": \"old@x.example\", \"displayName\": "
                     "\"Bo\"}",
                     &applied, &conflict)
                == 0
            && applied,
        "an older one, late, applied");
    text = s_profile (store);
    is_str (text, "b@x.example Bo",
            "the newer address kept, the missing name filled");
    free (text);
    ok (s_directory (store, S_EVENT2, 2, "2026-12-01T11:00:00Z",
                     "{\"email\": \"c@x.example\"}", &applied, &conflict)
                == 0
            && !applied && !conflict,
        "a redelivery changes nothing");
    ok (s_directory (store, S_EVENT2, 9, "2026-12-01T12:00:00Z",
                     "{\"email\": \"d@x.example\"}", &applied, &conflict)
                == 0
            && !applied && conflict,
        "another body under a known id: a conflict");
    text = s_profile (store);
    is_str (text, "b@x.example Bo", "and the first kept");
    free (text);
    is_int (s_count ("SELECT count(*) FROM notify.directory_events"), 3,
            "each event stored once");
    fy_ledger_directory_t bad = { .event_id = "66666666-6666-4666-8666-"
                                              "666666666666",
                                  .user_id = "not-a-uuid",
                                  .profile = json_object (),
                                  .occurred_at = "2026-12-01T10:00:00Z" };
    errno = 0;
    ok (fy_ledger_directory_update (store, &bad, NULL, NULL, &err) == -1
            && errno == EINVAL,
        "a bad user id: EINVAL (%s)", err.text);
    json_decref (bad.profile);
}

int
main (void)
{
    plan (NO_PLAN);
    tap_pg_t pg;
    tap_pg_migrated (&pg, "ferry_test_ledger");
    snprintf (s_url, sizeof s_url, "%s", pg.url);
    s_check = tap_pg_connect (s_url);
    fy_store_t *store = fy_store_new (s_url, 5);
    fy_store_require_schema (store, FY_STORE_SCHEMA_VERSION);
    test_record (store);
    test_quiet (store);
    test_claim (store);
    test_claim_at_record (store);
    test_batch (store);
    test_directory (store);
    fy_store_destroy (&store);
    PQfinish (s_check);
    tap_pg_drop (&pg);
    done_testing ();
}
