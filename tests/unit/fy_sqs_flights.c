/*  fy_sqs_flights against tests/stubs/sqs_stub.py: every context comes
    back once with its own entry's outcome and in the order added, the
    counts of calls and entries in flight, a call fy_sqs refuses reported
    entry by entry at once, a context with no entry in the answer reported
    "Lost", and destroy cancelling what flies without outcomes but with
    the contexts freed. */
#include "aws/fy_sqs_flights.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "stubs/stub.h"
#include "tap.h"

static fy_http_client_t *s_http;
static char s_base [64];

//  What the callback heard.
#define S_MAX 32
typedef struct {
    int calls;
    size_t count;               //  contexts heard over every call
    int ctx [S_MAX];            //  in the order heard
    bool ok [S_MAX];
    char code [S_MAX][32];
    bool result_failed;
} heard_t;

static void
s_on_flight (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
             void **ctx, size_t count, int64_t elapsed_ms, void *arg)
{
    heard_t *heard = arg;
    assert (elapsed_ms >= 0);
    heard->calls++;
    heard->result_failed |= result->code != NULL;
    for (size_t i = 0; i < count && heard->count < S_MAX; i++) {
        size_t n = heard->count++;
        heard->ctx [n] = (int) (intptr_t) ctx [i];
        heard->ok [n] = entries [i].ok;
        snprintf (heard->code [n], sizeof heard->code [n], "%s",
                  entries [i].code ? entries [i].code : "");
    }
}

static int s_freed;

static void
s_on_free (void *ctx)
{
    (void) ctx;
    s_freed++;
}

//  A delete batch of n entries with ids made from prefix.
static fy_sqs_batch_t *
s_deletes (const char *prefix, size_t n)
{
    fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_DELETE);
    for (size_t i = 0; i < n; i++) {
        char id [32];
        snprintf (id, sizeof id, "%s%zu", prefix, i);
        if (fy_sqs_batch_delete (batch, id, "receipt"))
            BAIL_OUT ("fy_sqs_batch_delete");
    }
    return batch;
}

static void
s_run_until_idle (fy_sqs_flights_t *flights)
{
    int64_t until = fy_clock_mono_ms () + 5000;
    while (fy_sqs_flights_calls (flights) && fy_clock_mono_ms () < until)
        if (fy_http_client_wait (s_http, 50))
            BAIL_OUT ("wait");
}

static void
s_outcomes (fy_sqs_t *sqs)
{
    heard_t heard = { 0 };
    fy_sqs_flights_t *flights = fy_sqs_flights_new (
        sqs, "http://q.invalid/0/partial", s_on_flight, &heard);
    //  Two calls at once: "ok" entries succeed, "bad" ones fail for good.
    fy_sqs_batch_t *batch = s_deletes ("ok", 3);
    void *first [3] = { (void *) 1, (void *) 2, (void *) 3 };
    fy_sqs_flights_submit (flights, &batch, first, 3);
    ok (batch == NULL, "submit takes the batch");
    batch = fy_sqs_batch_new (FY_SQS_DELETE);
    if (fy_sqs_batch_delete (batch, "ok9", "receipt")
        || fy_sqs_batch_delete (batch, "bad9", "receipt"))
        BAIL_OUT ("fy_sqs_batch_delete");
    void *second [2] = { (void *) 4, (void *) 5 };
    fy_sqs_flights_submit (flights, &batch, second, 2);
    is_int ((int) fy_sqs_flights_calls (flights), 2, "two calls in flight");
    is_int ((int) fy_sqs_flights_entries (flights), 5, "carrying 5 entries");
    is_int (heard.calls, 0, "nothing heard before the loop runs");
    s_run_until_idle (flights);
    is_int (heard.calls, 2, "each call heard once");
    is_int ((int) heard.count, 5, "every context heard once");
    is_int ((int) fy_sqs_flights_entries (flights), 0, "none left in flight");
    //  Calls may end in either order; within each, the order added.
    int sum = 0;
    bool ordered = true;
    for (size_t i = 0; i < heard.count; i++) {
        sum += heard.ctx [i];
        if (i && heard.ctx [i] != heard.ctx [i - 1] + 1
            && !(heard.ctx [i] == 1 || heard.ctx [i] == 4))
            ordered = false;
        bool want_ok = heard.ctx [i] != 5;
        if (heard.ok [i] != want_ok)
            ordered = false;
    }
    is_int (sum, 15, "contexts 1 to 5 came back");
    ok (ordered, "in their order, each with its own entry's outcome");
    fy_sqs_flights_destroy (&flights, s_on_free);
    ok (flights == NULL, "destroy sets the reference to NULL");
}

static void
s_refused (fy_sqs_t *sqs)
{
    heard_t heard = { 0 };
    fy_sqs_flights_t *flights =
        fy_sqs_flights_new (sqs, "http://q.invalid/0/any", s_on_flight, &heard);
    fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_DELETE);
    void *ctx [2] = { (void *) 7, (void *) 8 };
    fy_sqs_flights_submit (flights, &batch, ctx, 2);
    ok (heard.calls == 1 && heard.result_failed,
        "a refused call (empty batch) is heard before submit returns");
    ok (heard.count == 2 && heard.ctx [0] == 7 && heard.ctx [1] == 8
            && !heard.ok [0] && !heard.ok [1]
            && strcmp (heard.code [0], "Invalid") == 0,
        "every context failed, code Invalid");
    is_int ((int) fy_sqs_flights_calls (flights), 0, "nothing in flight");
    fy_sqs_flights_destroy (&flights, NULL);
}

static void
s_lost (fy_sqs_t *sqs)
{
    heard_t heard = { 0 };
    fy_sqs_flights_t *flights =
        fy_sqs_flights_new (sqs, "http://q.invalid/0/any", s_on_flight, &heard);
    //  Three contexts for a call of two entries: fy_sqs reports two.
    fy_sqs_batch_t *batch = s_deletes ("ok", 2);
    void *ctx [3] = { (void *) 1, (void *) 2, (void *) 3 };
    fy_sqs_flights_submit (flights, &batch, ctx, 3);
    s_run_until_idle (flights);
    ok (heard.count == 3 && heard.ok [0] && heard.ok [1] && !heard.ok [2]
            && strcmp (heard.code [2], "Lost") == 0,
        "a context without an entry in the answer is reported Lost");
    fy_sqs_flights_destroy (&flights, NULL);
}

static void
s_cancel (fy_sqs_t *sqs)
{
    heard_t heard = { 0 };
    fy_sqs_flights_t *flights =
        fy_sqs_flights_new (sqs, "http://q.invalid/0/any", s_on_flight, &heard);
    for (int call = 0; call < 2; call++) {
        fy_sqs_batch_t *batch = s_deletes ("ok", 3);
        void *ctx [3] = { (void *) 1, (void *) 2, (void *) 3 };
        fy_sqs_flights_submit (flights, &batch, ctx, 3);
    }
    s_freed = 0;
    size_t before = fy_sqs_pending (sqs);
    fy_sqs_flights_destroy (&flights, s_on_free);
    is_int (s_freed, 6, "destroy frees the contexts of the calls in flight");
    is_int ((int) (before - fy_sqs_pending (sqs)), 2, "and cancels both calls");
    if (fy_http_client_wait (s_http, 100))
        BAIL_OUT ("wait");
    is_int (heard.calls, 0, "without outcomes");
}

int
main (void)
{
    plan (NO_PLAN);
    s_http = fy_http_client_new (NULL, NULL);
    if (!s_http)
        BAIL_OUT ("fy_http_client_new");
    stub_t stub;
    fy_sqs_t *sqs = stub_sqs_start (&stub, s_http, s_base, sizeof s_base);
    s_outcomes (sqs);
    s_refused (sqs);
    s_lost (sqs);
    s_cancel (sqs);
    fy_sqs_destroy (&sqs);
    fy_http_client_destroy (&s_http);
    stub_stop (&stub);
    return done_testing ();
}
