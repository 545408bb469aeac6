/*  fy_sqs_producer against tests/stubs/sqs_stub.py: batches of at most 10
    split by size, the bound on pending messages, retries of retryable
    entry and call failures (fy_sqs is held to one attempt, so every retry
    seen is the producer's), giving up, permanent failures reported per
    message, FIFO groups never in two batches at once and kept in order,
    linger and flush, and destroy with messages pending. The emulator test
    (tests/integration/sqs_producer.c) sends the real thing. */
#include "aws/fy_sqs_producer.h"

#include <assert.h>
#include <errno.h>

#include "stubs/stub.h"
#include "tap.h"

static fy_http_client_t *s_http;
static char s_base [64];

//  What the reports said, by message number (the user pointer).
#define S_MAX 64
typedef struct {
    int reports;
    bool reported [S_MAX];
    bool ok [S_MAX];
    bool retryable [S_MAX];
    int batches [S_MAX];
    char code [S_MAX][64];
    char message_id [S_MAX][64];
} seen_t;

static void
s_on_report (const fy_sqs_report_t *report, void *user, void *arg)
{
    seen_t *seen = arg;
    size_t n = (size_t) (uintptr_t) user;
    assert (n < S_MAX);
    seen->reports++;
    seen->reported [n] = true;
    seen->ok [n] = report->ok;
    seen->retryable [n] = report->retryable;
    seen->batches [n] = report->batches;
    snprintf (seen->code [n], sizeof seen->code [n], "%s",
              report->code ? report->code : "");
    snprintf (seen->message_id [n], sizeof seen->message_id [n], "%s",
              report->message_id ? report->message_id : "");
}

static void
s_on_log (const fy_http_result_t *result, void *arg)
{
    json_t **json_p = arg;
    size_t len;
    const char *body = fy_http_result_body (result, &len);
    *json_p = json_loadb (body, len, 0, NULL);
    if (!*json_p)
        *json_p = json_object ();
}

//  The stub's SendMessageBatch requests on queue, oldest first. Caller
//  owns result.
static json_t *
s_sends (const char *queue)
{
    char *url = fy_xasprintf ("%s/", s_base);
    fy_http_call_t *call = fy_http_call_new ("POST", url);
    free (url);
    fy_http_call_add_header (call, "X-Amz-Target", "Stub.Log");
    fy_http_call_set_body (call, "{}", 2);
    json_t *json = NULL;
    if (fy_http_client_start (s_http, &call, s_on_log, &json, NULL, NULL))
        BAIL_OUT ("log request");
    int64_t until = fy_clock_mono_ms () + 5000;
    while (!json && fy_clock_mono_ms () < until)
        if (fy_http_client_wait (s_http, 100))
            BAIL_OUT ("wait");
    if (!json)
        BAIL_OUT ("no log from the stub");
    json_t *sends = json_array ();
    size_t i;
    json_t *item;
    json_array_foreach (
        json_object_get (json, "requests"), i,
        item) if (strcmp (json_string_value (json_object_get (item, "queue")),
                          queue)
                      == 0
                  && strcmp (
                         json_string_value (json_object_get (item, "action")),
                         "SendMessageBatch")
                         == 0) json_array_append (sends, item);
    json_decref (json);
    return sends;
}

//  Run the loop for ms, whatever happens.
static void
s_run_for (int64_t ms)
{
    int64_t until = fy_clock_mono_ms () + ms;
    while (fy_clock_mono_ms () < until)
        if (fy_http_client_wait (s_http, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait");
}

static fy_sqs_producer_t *
s_producer (fy_sqs_t *sqs, const char *queue, seen_t *seen,
            fy_sqs_producer_options_t *options)
{
    fy_sqs_producer_options_t defaults;
    if (!options) {
        fy_sqs_producer_options_default (&defaults);
        options = &defaults;
    }
    options->report = s_on_report;
    options->arg = seen;
    options->retry_base_ms = 10;
    options->retry_cap_ms = 50;
    char *url = fy_xasprintf ("http://q.invalid/0/%s", queue);
    fy_sqs_producer_t *producer =
        fy_sqs_producer_new (sqs, s_http, url, options, NULL);
    free (url);
    if (!producer)
        BAIL_OUT ("fy_sqs_producer_new");
    return producer;
}

static int
s_send (fy_sqs_producer_t *producer, const char *body, size_t n,
        const char *group)
{
    fy_sqs_send_t msg = { .body = body, .group_id = group };
    char dedup [32];
    if (group) {
        snprintf (dedup, sizeof dedup, "d%zu", n);
        msg.dedup_id = dedup;
    }
    return fy_sqs_producer_send (producer, &msg, (void *) (uintptr_t) n, NULL);
}

static void
s_checks (fy_sqs_t *sqs)
{
    fy_error_t err = { "" };
    errno = 0;
    ok (fy_sqs_producer_new (sqs, s_http, "", NULL, &err) == NULL
            && errno == EINVAL,
        "no queue URL: EINVAL (%s)", err.text);
    seen_t seen = { 0 };
    fy_sqs_producer_t *producer = s_producer (sqs, "plain", &seen, NULL);
    fy_sqs_send_t msg = { .body = "" };
    errno = 0;
    ok (fy_sqs_producer_send (producer, &msg, NULL, &err) == -1
            && errno == EINVAL,
        "empty body: EINVAL");
    msg.body = "x";
    msg.group_id = "with space";
    errno = 0;
    ok (fy_sqs_producer_send (producer, &msg, NULL, &err) == -1
            && errno == EINVAL,
        "group id with a space: EINVAL");
    msg.group_id = NULL;
    const char *attrs [] = { "a", "", NULL };
    msg.attrs = attrs;
    errno = 0;
    ok (fy_sqs_producer_send (producer, &msg, NULL, &err) == -1
            && errno == EINVAL,
        "empty attribute value: EINVAL");
    msg.attrs = NULL;
    char *big = fy_xmalloc (FY_SQS_PAYLOAD_MAX + 2);
    memset (big, 'b', FY_SQS_PAYLOAD_MAX + 1);
    big [FY_SQS_PAYLOAD_MAX + 1] = 0;
    msg.body = big;
    errno = 0;
    ok (fy_sqs_producer_send (producer, &msg, NULL, &err) == -1
            && errno == EMSGSIZE,
        "a body over 256 KiB: EMSGSIZE (%s)", err.text);
    big [FY_SQS_PAYLOAD_MAX] = 0;
    ok (fy_sqs_producer_send (producer, &msg, (void *) 0, &err) == 0,
        "a body of exactly 256 KiB is taken");
    free (big);
    is_int ((int) fy_sqs_producer_pending (producer), 1, "one pending");
    ok (fy_sqs_producer_wait (producer, 5000) == 0, "sent");
    ok (seen.ok [0], "the 256 KiB message went");

    //  Typed attributes count as SQS counts them.
    json_t *attributes = json_pack ("{s:{s:s, s:s}}", "n", "DataType", "Number",
                                    "StringValue", "42");
    const char *pair [] = { "k", "vv", NULL };
    fy_sqs_send_t typed = { .body = "abc",
                            .attrs = pair,
                            .attributes = attributes };
    is_int ((int) fy_sqs_send_bytes (&typed), 3 + 1 + 6 + 2 + 1 + 6 + 2,
            "payload bytes: body, names, types, values");
    json_decref (attributes);
    fy_sqs_producer_destroy (&producer);
    ok (producer == NULL, "destroy sets the reference to NULL");
}

static void
s_batches (fy_sqs_t *sqs)
{
    seen_t seen = { 0 };
    fy_sqs_producer_t *producer = s_producer (sqs, "plain", &seen, NULL);
    for (size_t n = 0; n < 25; n++) {
        char body [32];
        snprintf (body, sizeof body, "message %zu", n);
        if (s_send (producer, body, n, NULL))
            BAIL_OUT ("send %zu", n);
    }
    is_int ((int) fy_sqs_producer_in_flight (producer), 0,
            "nothing leaves inside send: batches form on the loop's turn");
    ok (fy_sqs_producer_wait (producer, 5000) == 0, "25 messages sent");
    int good = 0;
    for (size_t n = 0; n < 25; n++)
        good += seen.ok [n] && strncmp (seen.message_id [n], "msg-m", 5) == 0;
    is_int (good, 25, "each reported ok with SQS's message id");
    json_t *sends = s_sends ("plain");
    //  The first request is the 256 KiB message of s_checks.
    is_int ((int) json_array_size (sends), 4, "3 batches (after 1 before)");
    size_t sizes [3];
    for (size_t i = 0; i < 3; i++)
        sizes [i] = json_array_size (
            json_object_get (json_array_get (sends, i + 1), "bodies"));
    //  In flight together, they may reach the stub in any order.
    ok (sizes [0] + sizes [1] + sizes [2] == 25 && sizes [0] <= 10
            && sizes [1] <= 10 && sizes [2] <= 10
            && (sizes [0] == 5 || sizes [1] == 5 || sizes [2] == 5),
        "10 + 10 + 5 entries (%zu, %zu, %zu)", sizes [0], sizes [1], sizes [2]);
    json_decref (sends);

    //  Three messages of 100 KiB: two fit under 256 KiB, not three.
    char *body = fy_xmalloc (100 * 1024 + 1);
    for (size_t n = 0; n < 3; n++) {
        memset (body, 'a' + (int) n, 100 * 1024);
        body [100 * 1024] = 0;
        if (s_send (producer, body, 30 + n, NULL))
            BAIL_OUT ("big send");
    }
    free (body);
    ok (fy_sqs_producer_wait (producer, 5000) == 0, "3 big messages sent");
    sends = s_sends ("plain");
    size_t total = json_array_size (sends);
    size_t a =
        json_array_size (json_object_get (json_array_get (sends, 4), "bodies"));
    size_t b =
        json_array_size (json_object_get (json_array_get (sends, 5), "bodies"));
    ok (total == 6 && a * b == 2 && a + b == 3, "split by size: 2 + 1");
    json_decref (sends);
    fy_sqs_producer_stats_t stats;
    fy_sqs_producer_stats (producer, &stats);
    ok (stats.accepted == 28 && stats.sent == 28 && stats.failed == 0
            && stats.batches == 5,
        "stats: 28 accepted and sent in 5 batches");
    fy_sqs_producer_destroy (&producer);
}

static void
s_bound (fy_sqs_t *sqs)
{
    seen_t seen = { 0 };
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.max_pending = 5;
    fy_sqs_producer_t *producer = s_producer (sqs, "plain", &seen, &options);
    is_int ((int) fy_sqs_producer_room (producer), 5, "room for 5");
    for (size_t n = 0; n < 5; n++)
        if (s_send (producer, "bounded", n, NULL))
            BAIL_OUT ("send");
    is_int ((int) fy_sqs_producer_room (producer), 0, "then none");
    errno = 0;
    ok (s_send (producer, "bounded", 5, NULL) == -1 && errno == EAGAIN,
        "the 6th: EAGAIN");
    ok (fy_sqs_producer_wait (producer, 5000) == 0, "drained");
    is_int ((int) fy_sqs_producer_room (producer), 5, "room again");
    is_int (seen.reports, 5, "5 reports, none for the refused one");
    fy_sqs_producer_destroy (&producer);
}

static void
s_retries (fy_sqs_t *sqs)
{
    seen_t seen = { 0 };
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    fy_sqs_producer_t *producer = s_producer (sqs, "producer", &seen, &options);
    const char *bodies [] = { "fail1:a", "fail2:b", "plain c", "bad:d",
                              "plain e" };
    for (size_t n = 0; n < 5; n++)
        if (s_send (producer, bodies [n], n, NULL))
            BAIL_OUT ("send");
    ok (fy_sqs_producer_wait (producer, 10000) == 0, "all reported");
    ok (seen.ok [0] && seen.batches [0] == 2, "failed once: ok in batch 2");
    ok (seen.ok [1] && seen.batches [1] == 3, "failed twice: ok in batch 3");
    ok (seen.ok [2] && seen.batches [2] == 1, "no failure: batch 1");
    ok (!seen.ok [3] && !seen.retryable [3] && seen.batches [3] == 1,
        "sender fault: reported at once, not retried");
    is_str (seen.code [3], "InvalidParameterValue", "with SQS's code");
    ok (seen.ok [4], "the rest of the batch went");
    fy_sqs_producer_stats_t stats;
    fy_sqs_producer_stats (producer, &stats);
    ok (stats.retried == 3 && stats.sent == 4 && stats.failed == 1,
        "stats: 3 retries, 4 sent, 1 failed");
    json_t *sends = s_sends ("producer");
    is_int ((int) json_array_size (sends), 3, "3 calls");
    json_t *second = json_object_get (json_array_get (sends, 1), "bodies");
    ok (json_array_size (second) == 2
            && strcmp (json_string_value (json_array_get (second, 0)),
                       "fail1:a")
                   == 0,
        "the retry carries the 2 failed, in order");
    json_decref (sends);

    //  Failing for longer than give_up_ms: reported as retryable.
    fy_sqs_producer_destroy (&producer);
    options.give_up_ms = 150;
    producer = s_producer (sqs, "producer", &seen, &options);
    if (s_send (producer, "fail999:x", 10, NULL))
        BAIL_OUT ("send");
    ok (fy_sqs_producer_wait (producer, 10000) == 0, "given up");
    ok (!seen.ok [10] && seen.retryable [10] && seen.batches [10] >= 2,
        "reported failed, retryable, after %d batches", seen.batches [10]);
    is_str (seen.code [10], "InternalError", "with the last code");
    fy_sqs_producer_destroy (&producer);

    //  A whole call failing (500 twice): the batch goes again.
    producer = s_producer (sqs, "flaky500", &seen, NULL);
    if (s_send (producer, "whole", 11, NULL))
        BAIL_OUT ("send");
    ok (fy_sqs_producer_wait (producer, 10000) == 0, "flaky500 drained");
    ok (seen.ok [11] && seen.batches [11] == 3,
        "call failed twice: ok in batch 3 (%d)", seen.batches [11]);
    fy_sqs_producer_destroy (&producer);

    //  QueueDoesNotExist: a sender fault for the whole call.
    producer = s_producer (sqs, "missing", &seen, NULL);
    if (s_send (producer, "nowhere", 12, NULL))
        BAIL_OUT ("send");
    ok (fy_sqs_producer_wait (producer, 10000) == 0, "missing drained");
    ok (!seen.ok [12] && !seen.retryable [12] && seen.batches [12] == 1,
        "missing queue: failed at once");
    is_str (seen.code [12], "QueueDoesNotExist", "code QueueDoesNotExist");
    fy_sqs_producer_destroy (&producer);
}

static void
s_fifo (fy_sqs_t *sqs)
{
    seen_t seen = { 0 };
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.max_in_flight = 4;
    fy_sqs_producer_t *producer = s_producer (sqs, "producer", &seen, &options);
    //  Three groups in runs of 5: the first batch takes g0 and g1, the
    //  second skips them for g2's, and a naive producer would put one
    //  group in several batches at once.
    static const char *groups [] = { "g0", "g1", "g2" };
    for (size_t n = 0; n < 40; n++) {
        char body [32];
        snprintf (body, sizeof body, "fifo %zu", n);
        if (s_send (producer, body, n, groups [(n / 5) % 3]))
            BAIL_OUT ("send");
    }
    ok (fy_sqs_producer_wait (producer, 20000) == 0, "40 FIFO messages sent");
    int good = 0;
    for (size_t n = 0; n < 40; n++)
        good += seen.ok [n];
    is_int (good, 40, "all ok");
    json_t *sends = s_sends ("producer");
    size_t i;
    json_t *item;
    int overlaps = 0, out_of_order = 0, with_dedup = 0, fifo_calls = 0;
    long last [3] = { -1, -1, -1 };
    json_array_foreach (sends, i, item)
    {
        json_t *bodies = json_object_get (item, "bodies");
        if (strncmp (json_string_value (json_array_get (bodies, 0)), "fifo", 4)
            != 0)
            continue;
        fifo_calls++;
        overlaps += json_is_true (json_object_get (item, "overlap"));
        for (size_t j = 0; j < json_array_size (bodies); j++) {
            long n = strtol (json_string_value (json_array_get (bodies, j)) + 5,
                             NULL, 10);
            const char *group = json_string_value (
                json_array_get (json_object_get (item, "groups"), j));
            size_t g = (size_t) (group [1] - '0');
            if (n <= last [g])
                out_of_order++;
            last [g] = n;
            with_dedup += json_is_string (
                json_array_get (json_object_get (item, "dedups"), j));
        }
    }
    ok (fifo_calls >= 4, "%d calls", fifo_calls);
    //  The first two calls left together (in either order at the stub):
    //  one of g0 and g1, one of g2 alone.
    size_t first = json_array_size (sends) - (size_t) fifo_calls;
    int g2_only = 0;
    for (size_t k = first; k < first + 2; k++) {
        json_t *groups_sent =
            json_object_get (json_array_get (sends, k), "groups");
        size_t g2 = 0;
        for (size_t j = 0; j < json_array_size (groups_sent); j++)
            g2 += strcmp (json_string_value (json_array_get (groups_sent, j)),
                          "g2")
                  == 0;
        g2_only += g2 == 10 && json_array_size (groups_sent) == 10;
    }
    is_int (g2_only, 1, "a batch skips the groups in flight for g2's");
    is_int (overlaps, 0, "no group in two calls at once");
    is_int (out_of_order, 0, "each group's messages in order");
    is_int (with_dedup, 40, "every entry with its deduplication id");
    json_decref (sends);
    fy_sqs_producer_destroy (&producer);
}

static void
s_linger (fy_sqs_t *sqs)
{
    seen_t seen = { 0 };
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.linger_ms = 10000;
    fy_sqs_producer_t *producer = s_producer (sqs, "linger", &seen, &options);
    for (size_t n = 0; n < 3; n++)
        if (s_send (producer, "lingering", n, NULL))
            BAIL_OUT ("send");
    s_run_for (200);
    ok (fy_sqs_producer_in_flight (producer) == 0
            && fy_sqs_producer_pending (producer) == 3,
        "a partial batch lingers");
    int64_t started = fy_clock_mono_ms ();
    ok (fy_sqs_producer_wait (producer, 5000) == 0
            && fy_clock_mono_ms () - started < 2000,
        "flush sends it at once");
    is_int (seen.reports, 3, "3 reported");
    for (size_t n = 0; n < 12; n++)
        if (s_send (producer, "full", n, NULL))
            BAIL_OUT ("send");
    s_run_for (200);
    is_int ((int) fy_sqs_producer_pending (producer), 2,
            "a full batch does not linger, the 2 left over do");

    //  Destroyed with messages pending: no report, nothing leaks.
    int before = seen.reports;
    fy_sqs_producer_destroy (&producer);
    s_run_for (100);
    is_int (seen.reports, before, "destroy reports nothing");
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
    s_checks (sqs);
    s_batches (sqs);
    s_bound (sqs);
    s_retries (sqs);
    s_fifo (sqs);
    s_linger (sqs);
    fy_sqs_destroy (&sqs);
    fy_http_client_destroy (&s_http);
    stub_stop (&stub);
    return done_testing ();
}
