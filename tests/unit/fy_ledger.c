/*  fy_ledger test, against the stack's real PostgreSQL (DATABASE_URL; its
    absence is a failure): a scratch database migrated by the real
    ferryctl. Covers: an event and its deliveries recorded once (the same
    event again changes nothing; another body under its id is a conflict,
    the first kept), a key recorded once across events, suppression by
    preference (never for a critical category), quiet hours in the user's
    zone (held until they end; critical at once), claims (one owner at a
    time, a lease that runs out, the sweep's SKIP LOCKED), outcomes and a
    lost claim, batches and their counts, a 10,000-item batch recorded in
    one call, and push devices (registered, moved, listed, forgotten, dead
    and registered again; the tokens a push goes to, never one an earlier
    attempt settled). */
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

#define S_OTHER "77777777-7777-4777-8777-777777777777"

//  The tokens push delivery id goes to now (given: a JSON array or
//  NULL), " "-joined, then "/" and how many devices had it before.
static char *
s_push_tokens (fy_store_t *store, const char *id, const char *given)
{
    json_t *list = given ? json_loads (given, 0, NULL) : NULL;
    char **tokens = NULL;
    size_t count = 0, sent = 0;
    fy_error_t err = { "" };
    if (fy_ledger_push_tokens (store, id, S_USER, list, 20, &tokens, &count,
                               &sent, &err))
        diag ("push tokens: %s", err.text);
    json_decref (list);
    char *text = fy_xstrdup ("");
    for (size_t i = 0; i < count; i++) {
        char *more = fy_xasprintf ("%s%s%s", text, i ? " " : "", tokens [i]);
        free (text);
        free (tokens [i]);
        text = more;
    }
    free (tokens);
    char *out = fy_xasprintf ("%s/%zu", text, sent);
    free (text);
    return out;
}

//  The user's devices as "token:dead ..." (dead 1 or 0), newest first.
static char *
s_devices (fy_store_t *store, const char *user)
{
    json_t *view = fy_ledger_devices (store, user, NULL);
    char *text = fy_xstrdup ("");
    size_t i;
    json_t *device;
    json_array_foreach (json_object_get (view, "devices"), i, device)
    {
        char *more =
            fy_xasprintf ("%s%s%s:%d", text, i ? " " : "",
                          json_string_value (json_object_get (device, "token")),
                          !json_is_null (json_object_get (device, "deadAt")));
        free (text);
        text = more;
    }
    json_decref (view);
    return text;
}

static void
test_devices (fy_store_t *store)
{
    fy_error_t err = { "" };
    bool created = false;
    json_t *device = fy_ledger_device_put (store, S_OTHER, "tok-a", "ios", NULL,
                                           NULL, &created, &err);
    ok (device && created, "tok-a registered for another user: %s", err.text);
    json_decref (device);
    device = fy_ledger_device_put (store, S_USER, "tok-a", "android", "2.1.0",
                                   "fr", &created, &err);
    ok (device && created, "then for this one: it moves, a new device here");
    is_str (json_string_value (json_object_get (device, "platform")), "android",
            "its platform");
    is_str (json_string_value (json_object_get (device, "appVersion")), "2.1.0",
            "its app version");
    json_decref (device);
    device = fy_ledger_device_put (store, S_USER, "tok-a", "android", "2.1.0",
                                   "fr", &created, &err);
    ok (device && !created, "the same again: not created");
    json_decref (device);
    device = fy_ledger_device_put (store, S_USER, "tok-b", "web", NULL, NULL,
                                   &created, &err);
    ok (device && created, "tok-b registered");
    json_decref (device);
    errno = 0;
    ok (!fy_ledger_device_put (store, S_USER, "tok-c", "symbian", NULL, NULL,
                               NULL, &err)
            && errno == EINVAL,
        "a platform the database refuses: EINVAL");
    char *text = s_devices (store, S_USER);
    is_str (text, "tok-b:0 tok-a:0", "two devices, the newest first");
    free (text);
    text = s_devices (store, S_OTHER);
    is_str (text, "", "tok-a left the other user");
    free (text);

    //  A push to the user, claimed as it is recorded.
    json_t *to = json_pack ("{s:s}", "userId", S_USER);
    fy_ledger_item_t item = s_item ("p1", S_USER, "goal", false, to);
    item.channel = "push";
    fy_ledger_entry_t *entries = NULL;
    size_t count = 0;
    ok (fy_ledger_record (store, NULL, NULL, NULL, "p", 60, &item, 1, &entries,
                          &count, NULL, &err)
                == 0
            && entries [0].job,
        "a push recorded and claimed: %s", err.text);
    char id [FY_UUID_SIZE];
    snprintf (id, sizeof id, "%s", entries [0].id);
    fy_ledger_job_destroy (&entries [0].job);
    free (entries);
    json_decref (to);
    text = s_push_tokens (store, id, NULL);
    is_str (text, "tok-b tok-a/0", "it goes to both devices");
    free (text);
    ok (fy_ledger_token_dead (store, "tok-b", &err) == 0, "tok-b dead");
    text = s_devices (store, S_USER);
    is_str (text, "tok-b:1 tok-a:0", "its device says so");
    free (text);
    text = s_push_tokens (store, id, NULL);
    is_str (text, "tok-a/0", "a dead token is not sent to");
    free (text);
    text = s_push_tokens (store, id, "[\"tok-x\", 7, \"tok-b\"]");
    is_str (text, "tok-x/0", "nor when a notification names it (nor a number)");
    free (text);

    //  tok-a accepted it, another device failed retryably: a retry
    //  never goes to tok-a again.
    device = fy_ledger_device_put (store, S_USER, "tok-d", "ios", NULL, NULL,
                                   NULL, &err);
    json_decref (device);
    fy_ledger_token_t tokens [] = {
        { "tok-a", FY_LEDGER_TOKEN_SENT, "projects/p/messages/1", NULL },
    };
    fy_ledger_outcome_t retry = { .id = id,
                                  .owner = "p",
                                  .status = FY_LEDGER_QUEUED,
                                  .provider = "fcm",
                                  .message_id = "projects/p/messages/1",
                                  .error = "fcm 503 UNAVAILABLE",
                                  .retry_in_ms = 0,
                                  .lease_s = 60,
                                  .tokens = tokens,
                                  .token_count = 1 };
    ok (fy_ledger_settle (store, &retry, &err) == 0, "settled: retry later");
    text = s_push_tokens (store, id, NULL);
    is_str (text, "tok-d/1", "the retry goes to tok-d only; one had it");
    free (text);
    fy_ledger_job_t *job = NULL;
    ok (fy_ledger_claim (store, id, "p", 60, &job, &err) == 0 && job,
        "claimed again");
    fy_ledger_job_destroy (&job);
    fy_ledger_outcome_t sent = { .id = id,
                                 .owner = "p",
                                 .status = FY_LEDGER_SENT,
                                 .provider = "fcm",
                                 .lease_s = 60 };
    ok (fy_ledger_settle (store, &sent, &err) == 0, "settled: sent");
    json_t *row = fy_ledger_get (store, id, &err);
    is_str (json_string_value (json_object_get (row, "providerMessageId")),
            "projects/p/messages/1", "the first device's message id stays");
    json_t *first = json_array_get (json_object_get (row, "devices"), 0);
    is_str (json_string_value (json_object_get (first, "token")), "tok-a",
            "GET shows the devices");
    is_str (json_string_value (json_object_get (first, "status")), "sent",
            "and what each came to");
    json_decref (row);

    //  Registered again, a dead token lives.
    device = fy_ledger_device_put (store, S_USER, "tok-b", "web", NULL, NULL,
                                   &created, &err);
    ok (device && !created && json_is_null (json_object_get (device, "deadAt")),
        "tok-b registered again: live, not a new device");
    json_decref (device);
    text = s_push_tokens (store, "66666666-6666-4666-8666-666666666666",
                          "[\"tok-b\"]");
    is_str (text, "tok-b/0", "and sent to again");
    free (text);

    errno = 0;
    ok (fy_ledger_device_delete (store, S_OTHER, "tok-a", &err) == -1
            && errno == ENOENT,
        "another user cannot forget it: ENOENT");
    ok (fy_ledger_device_delete (store, S_USER, "tok-a", &err) == 0,
        "forgotten");
    text = s_devices (store, S_USER);
    is_str (text, "tok-b:0 tok-d:0", "two devices left");
    free (text);
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
    test_devices (store);
    fy_store_destroy (&store);
    PQfinish (s_check);
    tap_pg_drop (&pg);
    done_testing ();
}
