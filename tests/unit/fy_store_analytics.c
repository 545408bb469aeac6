/*  fy_store_analytics test, against the stack's real PostgreSQL
    (DATABASE_URL; its absence is a failure): a scratch database migrated
    by the real ferryctl. Covers a batch applied in flight
    (fy_store_analytics_apply_start): the store is busy with a socket to
    watch and the caller polls it to its landing; its facts, ids and
    outcome; a redelivery (duplicates, nothing written) and a copy with
    another body (a conflict, the first kept), also of an id recorded
    with the former digest (the JSON with sorted keys); two stores in
    flight at once making the same month's partition; and the connection
    killed between two batches: the next flies again on a new one. */
#include "ferry/ferry.h"
#include "store/fy_store_analytics.h"
#include "event.h"
#include "pg.h"

#include <errno.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_COMPANY "c0c0c0c0-0000-4000-8000-00000000aaaa"
//  2025-06-01T00:00:00Z
#define S_BASE_MS 1748736000000LL
#define S_BATCH 300

static char s_url [512];
static PGconn *s_check;

//  The nth user.login (month months after June 2025), its user's name
//  given as agent.
static fy_event_t *
s_login (int n, int month, const char *agent)
{
    char id [FY_UUID_SIZE], user [FY_UUID_SIZE], when [FY_TIME_RFC3339_SIZE];
    snprintf (id, sizeof id, "e0000000-0000-4000-8000-%04u%08u",
              (unsigned) month % 10000u, (unsigned) n % 100000000u);
    snprintf (user, sizeof user, "11111111-0000-4000-8000-%012d", n % 50);
    fy_time_format (S_BASE_MS + month * 31 * 86400000LL + n * 1000LL, when);
    return tap_event (
        id, "user.login", when, S_COMPANY, user, NULL,
        json_pack ("{s:s, s:s}", "userId", user, "userAgent", agent));
}

//  The same event as a worker receives it: through msgpack.
static fy_event_t *
s_received (fy_event_t *event)
{
    char *data = NULL;
    size_t size = 0;
    fy_error_t err = { "" };
    if (fy_event_encode_msgpack (event, &data, &size))
        BAIL_OUT ("encode");
    fy_event_t *copy = fy_event_decode_msgpack (data, size, &err);
    free (data);
    fy_event_destroy (&event);
    if (!copy)
        BAIL_OUT ("decode: %s", err.text);
    return copy;
}

static void
s_batch_make (fy_event_t **events, int count, int month, const char *agent)
{
    for (int i = 0; i < count; i++)
        events [i] = s_received (s_login (i, month, agent));
}

static void
s_batch_free (fy_event_t **events, int count)
{
    for (int i = 0; i < count; i++)
        fy_event_destroy (&events [i]);
}

//  Poll store's flight until it lands, waiting on its socket meanwhile.
//  Returns its outcome; *polls_p the polls that found it still flying.
static int
s_poll (fy_store_t *store, fy_error_t *err, int *polls_p)
{
    *polls_p = 0;
    while (true) {
        int rc = fy_store_flight_poll (store, NULL, err);
        if (rc != 1)
            return rc;
        (*polls_p)++;
        struct pollfd item = { .fd = fy_store_append_socket (store),
                               .events = POLLIN };
        if (fy_store_append_wants_write (store))
            item.events |= POLLOUT;
        (void) poll (&item, 1, 1000);
    }
}

static void
test_in_flight (fy_store_t *store)
{
    fy_event_t *events [S_BATCH];
    s_batch_make (events, S_BATCH, 0, "a");
    fy_store_analytics_batch_t batch;
    fy_error_t err = { "" };
    ok (!fy_store_append_is_busy (store), "no batch in flight yet");
    fy_store_analytics_apply_start (store, events, S_BATCH, &batch);
    ok (fy_store_append_is_busy (store), "a batch is in flight");
    ok (fy_store_append_socket (store) >= 0, "with a socket to watch");
    int polls = 0;
    is_int (s_poll (store, &err, &polls), 0, "it lands, applied: %s", err.text);
    ok (polls > 0, "the caller's loop ran while it flew (%d polls)", polls);
    ok (!fy_store_append_is_busy (store), "the store is free again");
    is_int ((int) batch.applied, S_BATCH, "every event applied");
    is_int ((int) (batch.duplicates + batch.conflicts), 0,
            "no duplicate, no conflict");
    is_int ((int) tap_pg_count (s_check, "SELECT count(*) FROM analytics.facts "
                                         "WHERE kind = 'login'"),
            S_BATCH, "a fact each");
    is_int ((int) tap_pg_count (s_check,
                                "SELECT count(*) FROM analytics.event_ids"),
            S_BATCH, "an id each");

    //  The same events again, blocking: nothing new.
    is_int (fy_store_analytics_apply (store, events, S_BATCH, &batch, &err), 0,
            "redelivered: applied");
    is_int ((int) batch.applied, 0, "none applied again");
    is_int ((int) batch.duplicates, S_BATCH, "all duplicates");
    is_int ((int) batch.conflicts, 0, "none a conflict");
    s_batch_free (events, S_BATCH);

    //  Two with another body (another userAgent), beside a new event.
    fy_event_t *other [3];
    other [0] = s_received (s_login (5, 0, "b"));
    other [1] = s_received (s_login (S_BATCH + 1, 0, "a"));
    other [2] = s_received (s_login (7, 0, "b"));
    is_int (fy_store_analytics_apply (store, other, 3, &batch, &err), 0,
            "another body: applied");
    is_int ((int) batch.applied, 1, "the new event applied");
    is_int ((int) batch.conflicts, 2, "the two others are conflicts");
    is_str (batch.conflict [0].id, fy_event_id (other [0]),
            "the first conflict named");
    is_str (batch.conflict [1].id, fy_event_id (other [2]), "in batch order");
    is_int ((int) tap_pg_count (s_check, "SELECT count(*) FROM analytics.facts "
                                         "WHERE kind = 'login'"),
            S_BATCH + 1, "one more fact only");
    s_batch_free (other, 3);
}

//  An id recorded with the digest of the JSON keys sorted (before the
//  digest was of the event as received) is the same event to a copy.
static void
test_former_digest (fy_store_t *store)
{
    fy_event_t *event = s_received (s_login (1, 5, "a"));
    size_t len = 0;
    char *text = fy_json_dumps (fy_event_json (event), FY_JSON_SORT_KEYS, &len);
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_Digest (text, len, md, &md_len, EVP_md5 (), NULL);
    free (text);
    char digest [33];
    for (unsigned int i = 0; i < 16; i++)
        snprintf (digest + 2 * i, 3, "%02x", md [i]);
    char *sql = fy_xasprintf ("INSERT INTO analytics.event_ids (id, "
                              "occurred_at, body_md5) VALUES ('%s', '%s', "
                              "'%s')",
                              fy_event_id (event), fy_event_occurred_at (event),
                              digest);
    PQclear (PQexec (s_check, sql));
    free (sql);
    fy_store_analytics_batch_t batch;
    fy_error_t err = { "" };
    is_int (fy_store_analytics_apply (store, &event, 1, &batch, &err), 0,
            "an id of the former digest: applied");
    is_int ((int) batch.duplicates, 1, "its copy is a duplicate");
    is_int ((int) batch.conflicts, 0, "not a conflict");
    fy_event_destroy (&event);
}

//  Batches a and b (S_BATCH events each, freed) in flight at once, on
//  store and on a second store: ok when both land.
static void
s_fly_two (fy_store_t *store, fy_event_t **a, fy_event_t **b,
           fy_store_analytics_batch_t *batch_a,
           fy_store_analytics_batch_t *batch_b, const char *what)
{
    fy_store_t *second = fy_store_new (s_url, 5);
    fy_error_t err_a = { "" }, err_b = { "" };
    fy_store_analytics_apply_start (store, a, S_BATCH, batch_a);
    fy_store_analytics_apply_start (second, b, S_BATCH, batch_b);
    int rc_a = fy_store_flight_wait (store, NULL, &err_a);
    int rc_b = fy_store_flight_wait (second, NULL, &err_b);
    ok (rc_a == 0 && rc_b == 0, "%s: both land%s%s", what, err_a.text,
        err_b.text);
    s_batch_free (a, S_BATCH);
    s_batch_free (b, S_BATCH);
    fy_store_destroy (&second);
}

//  Two stores in flight at once, each making the same new month's
//  partition: both land.
static void
test_two_flights (fy_store_t *store)
{
    fy_event_t *a [S_BATCH], *b [S_BATCH];
    s_batch_make (a, S_BATCH, 2, "a");
    for (int i = 0; i < S_BATCH; i++)
        b [i] = s_received (s_login (S_BATCH + i, 2, "a"));
    fy_store_analytics_batch_t batch_a, batch_b;
    s_fly_two (store, a, b, &batch_a, &batch_b, "two flights making one month");
    is_int ((int) (batch_a.applied + batch_b.applied), 2 * S_BATCH,
            "every event of both applied");
    is_int ((int) tap_pg_count (s_check,
                                "SELECT count(*) FROM analytics.facts_202508"),
            2 * S_BATCH, "in the month's new partition");
}

//  Two stores in flight at once with the same new events, as a
//  redelivery racing its first copy: the second's INSERT of the ids as
//  new waits for the first's COMMIT, fails on them, and the batch flies
//  again finding them recorded. Each event applied once.
static void
test_same_ids (fy_store_t *store)
{
    fy_event_t *a [S_BATCH], *b [S_BATCH];
    s_batch_make (a, S_BATCH, 4, "a");
    s_batch_make (b, S_BATCH, 4, "a");
    fy_store_analytics_batch_t batch_a, batch_b;
    s_fly_two (store, a, b, &batch_a, &batch_b, "two flights of the same ids");
    is_int ((int) batch_a.applied, S_BATCH, "the first applies them all");
    is_int ((int) batch_b.applied, 0, "the second none");
    is_int ((int) batch_b.duplicates, S_BATCH, "its copies all duplicates");
    is_int ((int) tap_pg_count (s_check,
                                "SELECT count(*) FROM analytics.facts WHERE "
                                "event_id::text LIKE "
                                "'e0000000-0000-4000-8000-0004%'"),
            S_BATCH, "one fact each");
}

//  The store's connection killed between two batches: the next flies
//  again on a new one.
static void
test_lost (fy_store_t *store)
{
    PQclear (PQexec (s_check, "SELECT pg_terminate_backend(pid) FROM "
                              "pg_stat_activity WHERE datname = "
                              "current_database() AND pid <> "
                              "pg_backend_pid()"));
    fy_event_t *events [10];
    s_batch_make (events, 10, 3, "a");
    fy_store_analytics_batch_t batch;
    fy_error_t err = { "" };
    fy_store_analytics_apply_start (store, events, 10, &batch);
    int polls = 0;
    is_int (s_poll (store, &err, &polls), 0,
            "the connection lost: flown again on a new one: %s", err.text);
    is_int ((int) batch.applied, 10, "and applied");
    s_batch_free (events, 10);
}

int
main (void)
{
    plan (NO_PLAN);
    tap_pg_t pg;
    tap_pg_migrated (&pg, "ferry_test_analytics");
    snprintf (s_url, sizeof s_url, "%s", pg.url);
    s_check = tap_pg_connect (s_url);
    fy_store_t *store = fy_store_new (s_url, 5);
    fy_store_require_schema (store, FY_STORE_SCHEMA_VERSION);
    test_in_flight (store);
    test_former_digest (store);
    test_two_flights (store);
    test_same_ids (store);
    test_lost (store);
    fy_store_destroy (&store);
    PQfinish (s_check);
    tap_pg_drop (&pg);
    done_testing ();
}
