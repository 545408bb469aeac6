/*  fy_sqs without the emulator: error decoding against botocore's
    awsJson1_0 protocol tests, default endpoints against botocore's
    endpoint rule tests, the batch size rules, and retries, backoff and
    partial batch failures against tests/stubs/sqs_stub.py, which fails on
    purpose and checks every request's headers as SQS does. */
#include "aws/fy_sqs.h"
#include "aws/fy_sqs_int.h"

#include <errno.h>

#include "aws_model.h"
#include "stubs/stub.h"
#include "tap.h"

typedef struct {
    bool done;
    fy_sqs_result_t result;
    char code [96];
    char message [256];
    size_t count;
    fy_sqs_entry_t entries [FY_SQS_BATCH_MAX];
    char *strings [FY_SQS_BATCH_MAX * 4];
    fy_sqs_message_t *kept;
    char *url;
    char *attribute;
} seen_t;

static void
s_seen_result (seen_t *seen, const fy_sqs_result_t *result)
{
    seen->done = true;
    seen->result = *result;
    snprintf (seen->code, sizeof seen->code, "%s",
              result->code ? result->code : "");
    snprintf (seen->message, sizeof seen->message, "%s", result->message);
    seen->result.code = seen->code;
    seen->result.message = seen->message;
    seen->result.query_code = NULL;
}

static char *
s_keep (seen_t *seen, size_t slot, const char *text)
{
    free (seen->strings [slot]);
    seen->strings [slot] = text ? fy_xstrdup (text) : NULL;
    return seen->strings [slot];
}

static void
s_on_batch (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
            size_t count, void *arg)
{
    seen_t *seen = arg;
    s_seen_result (seen, result);
    seen->count = count;
    for (size_t i = 0; i < count; i++) {
        seen->entries [i] = entries [i];
        seen->entries [i].id = s_keep (seen, i * 4, entries [i].id);
        seen->entries [i].code = s_keep (seen, i * 4 + 1, entries [i].code);
        seen->entries [i].message =
            s_keep (seen, i * 4 + 2, entries [i].message);
        seen->entries [i].message_id =
            s_keep (seen, i * 4 + 3, entries [i].message_id);
    }
}

static void
s_on_receive (const fy_sqs_result_t *result, fy_sqs_message_t **messages,
              size_t count, void *arg)
{
    seen_t *seen = arg;
    s_seen_result (seen, result);
    seen->count = count;
    if (count) {
        seen->kept = messages [0];
        messages [0] = NULL;
    }
}

static void
s_on_url (const fy_sqs_result_t *result, const char *url, void *arg)
{
    seen_t *seen = arg;
    s_seen_result (seen, result);
    seen->url = url ? fy_xstrdup (url) : NULL;
}

static void
s_on_attributes (const fy_sqs_result_t *result, json_t *attributes, void *arg)
{
    seen_t *seen = arg;
    s_seen_result (seen, result);
    const char *value = json_string_value (
        json_object_get (attributes, "ApproximateNumberOfMessages"));
    seen->attribute = value ? fy_xstrdup (value) : NULL;
}

static void
s_seen_free (seen_t *seen)
{
    for (size_t i = 0; i < FY_SQS_BATCH_MAX * 4; i++)
        free (seen->strings [i]);
    fy_sqs_message_destroy (&seen->kept);
    free (seen->url);
    free (seen->attribute);
    memset (seen, 0, sizeof *seen);
}

//  ---- botocore's awsJson1_0 error cases: each names the code and
//  message a client must decode from the response.
static void
s_protocol_errors (const char *file, bool query_compatible)
{
    json_error_t jerr;
    json_t *suites = json_load_file (tap_testdata (file), 0, &jerr);
    if (!suites)
        BAIL_OUT ("cannot load %s: %s", file, jerr.text);
    size_t i, j;
    json_t *suite, *test;
    int cases = 0;
    json_array_foreach (suites, i, suite)
    {
        json_array_foreach (json_object_get (suite, "cases"), j, test)
        {
            const char *want =
                json_string_value (json_object_get (test, "errorCode"));
            if (!want)
                continue;
            json_t *response = json_object_get (test, "response");
            json_t *headers = json_object_get (response, "headers");
            const char *body =
                json_string_value (json_object_get (response, "body"));
            fy_sqs_error_t error;
            fy_sqs_decode_error ((int) json_integer_value (
                                     json_object_get (response, "status_code")),
                                 json_string_value (json_object_get (
                                     headers, "x-amzn-query-error")),
                                 json_string_value (json_object_get (
                                     headers, "X-Amzn-Errortype")),
                                 body, body ? strlen (body) : 0, &error);
            const char *id = json_string_value (json_object_get (test, "id"));
            //  A query-compatible client reports the query code when the
            //  service sends one, as botocore does; fy_sqs keeps it
            //  beside the short code.
            const char *got = query_compatible && error.query_code [0]
                                  ? error.query_code
                                  : error.code;
            is_str (got, want, "%s: code", id);
            const char *message =
                json_string_value (json_object_get (test, "errorMessage"));
            if (message)
                is_str (error.message, message, "%s: message", id);
            cases++;
        }
    }
    ok (cases >= (query_compatible ? 2 : 10), "%s: %d error cases", file,
        cases);
    json_decref (suites);
}

static void
s_batches (void)
{
    fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_SEND);
    const char *attrs [] = { "type", "user.login", "trace", "abc", NULL };
    for (int i = 0; i < 10; i++) {
        char id [16];
        snprintf (id, sizeof id, "e%d", i);
        if (fy_sqs_batch_send (batch, id, "body", -1, attrs))
            BAIL_OUT ("add entry %d", i);
    }
    is_int (fy_sqs_batch_size (batch), 10, "10 entries");
    is_int (fy_sqs_batch_bytes (batch), 10 * (4 + 4 + 6 + 10 + 5 + 6 + 3),
            "payload bytes count body and attribute names, types, values");
    errno = 0;
    ok (fy_sqs_batch_send (batch, "e10", "x", -1, NULL) == -1
            && errno == ENOSPC,
        "an 11th entry: ENOSPC");
    fy_sqs_batch_destroy (&batch);

    batch = fy_sqs_batch_new (FY_SQS_SEND);
    char *big = fy_xmalloc (200 * 1024 + 1);
    memset (big, 'b', 200 * 1024);
    big [200 * 1024] = 0;
    ok (fy_sqs_batch_send (batch, "a", big, -1, NULL) == 0, "200 KiB fits");
    errno = 0;
    ok (fy_sqs_batch_send (batch, "b", big, -1, NULL) == -1 && errno == ENOSPC,
        "another 200 KiB would pass 256 KiB: ENOSPC");
    free (big);
    big = fy_xmalloc (FY_SQS_PAYLOAD_MAX + 2);
    memset (big, 'b', FY_SQS_PAYLOAD_MAX + 1);
    big [FY_SQS_PAYLOAD_MAX + 1] = 0;
    errno = 0;
    ok (fy_sqs_batch_send (batch, "c", big, -1, NULL) == -1
            && errno == EMSGSIZE,
        "a message over 256 KiB alone: EMSGSIZE");
    free (big);
    errno = 0;
    ok (fy_sqs_batch_send (batch, "a", "x", -1, NULL) == -1 && errno == EINVAL,
        "a repeated id: EINVAL");
    ok (fy_sqs_batch_send (batch, "no spaces", "x", -1, NULL) == -1
            && errno == EINVAL,
        "an id with a space: EINVAL");
    ok (fy_sqs_batch_delete (batch, "d", "r") == -1 && errno == EINVAL,
        "a delete entry in a send batch: EINVAL");
    fy_sqs_batch_destroy (&batch);
    ok (batch == NULL, "batch destroyed");

    batch = fy_sqs_batch_new (FY_SQS_VISIBILITY);
    ok (fy_sqs_batch_visibility (batch, "v", "r", 43201) == -1
            && errno == EINVAL,
        "visibility over 12 h: EINVAL");
    ok (fy_sqs_batch_visibility (batch, "v", "r", 30) == 0, "visibility 30");
    fy_sqs_batch_destroy (&batch);
}

static fy_sqs_batch_t *
s_delete_batch (const char **ids)
{
    fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_DELETE);
    for (size_t i = 0; ids [i]; i++)
        if (fy_sqs_batch_delete (batch, ids [i], "receipt"))
            BAIL_OUT ("add %s", ids [i]);
    return batch;
}

//  The stub's log of requests of action on queue: count, and the largest
//  gap between two of them in ms.
static int
s_logged (fy_http_client_t *http, const char *base, const char *queue,
          const char *action, double *gap_ms, json_t **last_p)
{
    char *url = fy_xasprintf ("%s/", base);
    fy_http_call_t *call = fy_http_call_new ("POST", url);
    free (url);
    fy_http_call_add_header (call, "X-Amz-Target", "Stub.Log");
    fy_http_call_set_body (call, "{}", 2);
    json_t *log = stub_call_json (http, &call);
    int count = 0;
    double last = -1;
    if (gap_ms)
        *gap_ms = 0;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (log, "requests"), i, item)
    {
        if (strcmp (json_string_value (json_object_get (item, "queue")), queue)
                != 0
            || strcmp (json_string_value (json_object_get (item, "action")),
                       action)
                   != 0)
            continue;
        count++;
        double t = json_real_value (json_object_get (item, "t")) * 1000;
        if (gap_ms && last >= 0 && t - last > *gap_ms)
            *gap_ms = t - last;
        last = t;
        if (last_p) {
            json_decref (*last_p);
            *last_p = json_incref (item);
        }
    }
    json_decref (log);
    return count;
}

//  A receive of up to ten from the stub's queue, run to its callback.
static void
s_receive (fy_sqs_t *sqs, fy_http_client_t *http, const char *queue,
           seen_t *seen)
{
    char url [64];
    snprintf (url, sizeof url, "http://q.invalid/0/%s", queue);
    ok (fy_sqs_receive (sqs, url, 10, 0, -1, s_on_receive, seen, NULL, NULL)
            == 0,
        "receive from %s started", queue);
    stub_run_until (http, &seen->done, 10000);
}

static void
s_retries (void)
{
    stub_t stub;
    stub_start (&stub, "sqs_stub.py");
    char base [64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d", stub.port);
    unsetenv ("AWS_ENDPOINT_URL_SQS");
    unsetenv ("AWS_ENDPOINT_URL");
    fy_http_client_t *http = fy_http_client_new (NULL, NULL);
    fy_sqs_options_t options;
    fy_sqs_options_default (&options);
    options.endpoint = base;
    options.base.retry_base_ms = 20;
    options.base.retry_cap_ms = 200;
    options.base.max_attempts = 4;
    fy_sqs_t *sqs = fy_sqs_new (http, &options, NULL);
    ok (sqs != NULL, "client on the stub");
    is_str (fy_sqs_endpoint (sqs), base, "configured endpoint used");
    const char *ids [] = { "a", "b", NULL };

    //  500 twice, then success: three attempts, one answer.
    seen_t seen = { 0 };
    fy_sqs_batch_t *batch = s_delete_batch (ids);
    ok (fy_sqs_submit (sqs, "http://q.invalid/0/flaky500", &batch, s_on_batch,
                       &seen, NULL, NULL)
                == 0
            && !batch,
        "submit takes the batch");
    ok (!seen.done, "no callback before the loop runs");
    stub_run_until (http, &seen.done, 10000);
    is_int (seen.result.error, 0, "500, 500, then 200: success");
    is_int (seen.result.attempts, 3, "three attempts");
    ok (seen.count == 2 && seen.entries [0].ok && seen.entries [1].ok,
        "both entries deleted");
    is_int (s_logged (http, base, "flaky500", "DeleteMessageBatch", NULL, NULL),
            3, "stub saw three requests");
    s_seen_free (&seen);

    //  ThrottlingException twice, on a receive.
    s_receive (sqs, http, "throttled", &seen);
    is_int (seen.result.error, 0, "throttled twice, then received");
    is_int (seen.result.attempts, 3, "three attempts");
    is_int (seen.count, 1, "one message");
    if (seen.kept) {
        is_str (fy_sqs_message_body (seen.kept), "hello", "its body");
        is_int (fy_sqs_message_receive_count (seen.kept), 3,
                "its ApproximateReceiveCount");
        is_str (fy_sqs_message_user_attribute (seen.kept, "kind"), "test",
                "its String attribute");
    }
    s_seen_free (&seen);

    //  A receive answer is read strictly, its fields copied out.
    s_receive (sqs, http, "escaped", &seen);
    is_int (seen.count, 2, "two messages, an unknown top-level key skipped");
    if (seen.kept) {
        is_str (fy_sqs_message_body (seen.kept),
                "{\"k\": \"\xc3\xa9\\n\xf0\x9f\x98\x80\"}",
                "the body unescaped");
        is_str (fy_sqs_message_id (seen.kept), "m-1", "its id");
        is_str (fy_sqs_message_receipt (seen.kept), "r-1", "its receipt");
        json_t *whole = fy_sqs_message_json (seen.kept);
        is_str (json_string_value (json_object_get (whole, "MD5OfBody")), "x",
                "other keys kept in the message's JSON");
        is_str (json_string_value (json_object_get (whole, "Body")),
                fy_sqs_message_body (seen.kept), "with the body");
    }
    s_seen_free (&seen);
    const char *broken [] = { "dupbody", "noreceipt", "dupattr", "numattr" };
    for (size_t i = 0; i < 4; i++) {
        s_receive (sqs, http, broken [i], &seen);
        ok (seen.result.error == EPROTO && seen.count == 0,
            "%s: refused, no message: %s", broken [i], seen.message);
        s_seen_free (&seen);
    }

    //  A receive that names its attributes gets and keeps only those; one
    //  with fy_sqs_receive gets them all.
    const char *wanted [] = { "ApproximateReceiveCount", "MessageGroupId",
                              NULL };
    fy_sqs_receive_t asked = { .max_messages = 10,
                               .visibility_s = -1,
                               .attributes = wanted };
    ok (fy_sqs_receive_ex (sqs, "http://q.invalid/0/asked", &asked,
                           s_on_receive, &seen, NULL, NULL)
            == 0,
        "receive of two attributes started");
    stub_run_until (http, &seen.done, 10000);
    is_int (seen.count, 1, "one message");
    if (seen.kept) {
        is_int (fy_sqs_message_receive_count (seen.kept), 2,
                "its ApproximateReceiveCount");
        is_str (fy_sqs_message_attribute (seen.kept, "MessageGroupId"), "g",
                "its MessageGroupId");
        ok (!fy_sqs_message_attribute (seen.kept, "SentTimestamp")
                && !fy_sqs_message_user_attribute (seen.kept, "kind"),
            "no attribute it did not ask for");
        json_t *whole = fy_sqs_message_json (seen.kept);
        json_t *attributes = json_object_get (whole, "Attributes");
        ok (json_object_size (attributes) == 2
                && !json_object_get (whole, "MessageAttributes"),
            "its JSON has the two");
        is_str (
            json_string_value (json_object_get (attributes, "MessageGroupId")),
            "g", "as strings");
        is_str (json_string_value (json_object_get (whole, "MD5OfBody")), "x",
                "beside the other members");
    }
    s_seen_free (&seen);
    s_receive (sqs, http, "asked", &seen);
    if (seen.kept) {
        is_str (fy_sqs_message_attribute (seen.kept, "SentTimestamp"), "1",
                "every system attribute");
        is_str (fy_sqs_message_user_attribute (seen.kept, "kind"), "test",
                "and message attribute");
        json_t *whole = fy_sqs_message_json (seen.kept);
        ok (json_object_size (json_object_get (whole, "Attributes")) == 3
                && json_object_get (whole, "MessageAttributes"),
            "in its JSON");
    }
    else
        ok (false, "a message of all attributes");
    s_seen_free (&seen);
    asked.attributes = NULL;
    asked.max_messages = 11;
    ok (fy_sqs_receive_ex (sqs, "http://q.invalid/0/asked", &asked,
                           s_on_receive, &seen, NULL, NULL)
                == -1
            && errno == EINVAL,
        "fy_sqs_receive_ex of 11: EINVAL");

    //  429 with no body.
    ok (fy_sqs_get_attributes (sqs, "http://q.invalid/0/slow429", NULL,
                               s_on_attributes, &seen, NULL, NULL)
            == 0,
        "attributes started");
    stub_run_until (http, &seen.done, 10000);
    is_int (seen.result.attempts, 3, "429 twice, then answered");
    is_str (seen.attribute, "7", "attribute read");
    s_seen_free (&seen);

    //  Always 500: gives up after max_attempts, with backoff between.
    batch = s_delete_batch (ids);
    int64_t start = fy_clock_mono_ms ();
    ok (fy_sqs_submit (sqs, "http://q.invalid/0/broken", &batch, s_on_batch,
                       &seen, NULL, NULL)
            == 0,
        "submit to a broken queue");
    stub_run_until (http, &seen.done, 10000);
    is_int (seen.result.error, EPROTO, "fails with EPROTO");
    is_int (seen.result.status, 500, "status 500");
    is_str (seen.code, "InternalFailure", "code InternalFailure");
    ok (!seen.result.sender_fault, "receiver's fault");
    is_int (seen.result.attempts, 4, "four attempts, as configured");
    ok (seen.count == 2 && !seen.entries [0].ok && !seen.entries [1].ok
            && seen.entries [0].code
            && strcmp (seen.entries [0].code, "InternalFailure") == 0,
        "each entry failed with the call's code");
    double gap = 0;
    is_int (s_logged (http, base, "broken", "DeleteMessageBatch", &gap, NULL),
            4, "stub saw four requests");
    ok (gap <= 400, "backoff capped (largest gap %.0f ms)", gap);
    ok (fy_clock_mono_ms () - start < 2000, "no sleeping beyond the cap");
    s_seen_free (&seen);

    //  Partial failure: only the retryable entry is sent again.
    const char *mixed [] = { "fine", "retry1", "bad1", NULL };
    batch = s_delete_batch (mixed);
    ok (fy_sqs_submit (sqs, "http://q.invalid/0/partial", &batch, s_on_batch,
                       &seen, NULL, NULL)
            == 0,
        "submit a mixed batch");
    stub_run_until (http, &seen.done, 10000);
    is_int (seen.result.error, 0, "call succeeded");
    is_int (seen.count, 3, "three entries reported");
    ok (seen.entries [0].ok, "fine: deleted");
    ok (seen.entries [1].ok, "retry1: deleted on the second try");
    ok (!seen.entries [2].ok, "bad1: failed");
    is_str (seen.entries [2].code, "ReceiptHandleIsInvalid", "bad1: its code");
    ok (seen.entries [2].sender_fault, "bad1: sender's fault");
    json_t *last = NULL;
    is_int (s_logged (http, base, "partial", "DeleteMessageBatch", NULL, &last),
            2, "two requests");
    json_t *last_ids = json_object_get (last, "ids");
    ok (json_array_size (last_ids) == 1
            && strcmp (json_string_value (json_array_get (last_ids, 0)),
                       "retry1")
                   == 0,
        "the second carried only retry1");
    json_decref (last);
    s_seen_free (&seen);

    //  Send batch with attributes; message ids come back per entry.
    batch = fy_sqs_batch_new (FY_SQS_SEND);
    const char *attrs [] = { "type", "x", NULL };
    if (fy_sqs_batch_send (batch, "s1", "one", -1, attrs)
        || fy_sqs_batch_send (batch, "s2", "two", 5, NULL))
        BAIL_OUT ("send batch");
    ok (fy_sqs_submit (sqs, "http://q.invalid/0/ok", &batch, s_on_batch, &seen,
                       NULL, NULL)
            == 0,
        "send batch submitted");
    stub_run_until (http, &seen.done, 10000);
    is_str (seen.entries [1].message_id, "msg-s2", "message id per entry");
    s_seen_free (&seen);

    //  Entries are kept as JSON text: a receipt that needs escaping
    //  arrives as it was given, beside its timeout.
    const char *odd = "q\"b\\s\n\x01\xc3\xa9/+=";
    batch = fy_sqs_batch_new (FY_SQS_VISIBILITY);
    if (fy_sqs_batch_visibility (batch, "v1", odd, 45)
        || fy_sqs_batch_visibility (batch, "v2", "plain", 0))
        BAIL_OUT ("visibility batch");
    ok (fy_sqs_submit (sqs, "http://q.invalid/0/receipts", &batch, s_on_batch,
                       &seen, NULL, NULL)
            == 0,
        "visibility batch submitted");
    stub_run_until (http, &seen.done, 10000);
    ok (seen.count == 2 && seen.entries [0].ok && seen.entries [1].ok,
        "both entries changed");
    s_seen_free (&seen);
    last = NULL;
    s_logged (http, base, "receipts", "ChangeMessageVisibilityBatch", NULL,
              &last);
    json_t *receipts = json_object_get (last, "receipts");
    json_t *timeouts = json_object_get (last, "timeouts");
    is_str (json_string_value (json_array_get (receipts, 0)), odd,
            "the receipt escaped and read back intact");
    ok (json_integer_value (json_array_get (timeouts, 0)) == 45
            && json_integer_value (json_array_get (timeouts, 1)) == 0
            && strcmp (json_string_value (json_array_get (receipts, 1)),
                       "plain")
                   == 0,
        "each with its timeout");
    json_decref (last);

    //  A batch answer that is not valid settles no entry, not even the
    //  one it names before the fault.
    batch = s_delete_batch ((const char *[]) { "a", "b", NULL });
    ok (fy_sqs_submit (sqs, "http://q.invalid/0/badbatch", &batch, s_on_batch,
                       &seen, NULL, NULL)
            == 0,
        "delete on badbatch submitted");
    stub_run_until (http, &seen.done, 10000);
    is_int (seen.result.error, EPROTO, "the answer is refused: %s",
            seen.message);
    ok (seen.count == 2 && !seen.entries [0].ok && !seen.entries [1].ok,
        "both entries failed");
    s_seen_free (&seen);

    //  A service error not worth retrying.
    ok (fy_sqs_get_queue_url (sqs, "missing", s_on_url, &seen, NULL, NULL) == 0,
        "GetQueueUrl started");
    stub_run_until (http, &seen.done, 10000);
    is_int (seen.result.error, EPROTO, "EPROTO");
    is_str (seen.code, "QueueDoesNotExist", "short code");
    ok (seen.result.sender_fault, "sender's fault");
    is_int (seen.result.attempts, 1, "not retried");
    ok (seen.url == NULL, "no URL");
    s_seen_free (&seen);

    //  Cancel and destroy call nothing back.
    uint64_t id = 0;
    ok (fy_sqs_receive (sqs, "http://q.invalid/0/broken", 1, 0, -1,
                        s_on_receive, &seen, &id, NULL)
                == 0
            && id,
        "receive with an id");
    ok (fy_sqs_cancel (sqs, id), "cancelled");
    is_int (fy_sqs_pending (sqs), 0, "nothing pending");
    ok (fy_sqs_receive (sqs, "http://q.invalid/0/broken", 1, 0, -1,
                        s_on_receive, &seen, NULL, NULL)
            == 0,
        "another receive");
    stub_run_until (http, &seen.done, 100);
    fy_sqs_destroy (&sqs);
    ok (sqs == NULL && !seen.done,
        "destroyed with a call pending, no callback");
    is_int (fy_http_client_active (http), 0, "its HTTP request is gone too");
    fy_http_client_destroy (&http);
    stub_stop (&stub);
}

//  A signer that adds a header, to show where one plugs in; and one that
//  fails.
static int s_signed;

static int
s_sign (void *arg, const char *method, const char *url,
        struct curl_slist **headers, const void *body, size_t len,
        fy_error_t *err)
{
    (void) url;
    (void) body;
    (void) len;
    s_signed++;
    if (arg) {
        fy_error_set (err, "no credentials");
        return -1;
    }
    *headers = curl_slist_append (*headers, "Authorization: test");
    return strcmp (method, "POST") == 0 ? 0 : -1;
}

static void
s_signing (void)
{
    stub_t stub;
    stub_start (&stub, "sqs_stub.py");
    char base [64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d/", stub.port);
    setenv ("AWS_ENDPOINT_URL_SQS", base, 1);
    fy_http_client_t *http = fy_http_client_new (NULL, NULL);
    fy_sqs_options_t options;
    fy_sqs_options_default (&options);
    options.endpoint = "http://not.used.invalid";
    options.base.sign = s_sign;
    fy_sqs_t *sqs = fy_sqs_new (http, &options, NULL);
    base [strlen (base) - 1] = 0;
    is_str (fy_sqs_endpoint (sqs), base,
            "AWS_ENDPOINT_URL_SQS beats the configured endpoint");
    seen_t seen = { 0 };
    if (fy_sqs_get_queue_url (sqs, "ferry", s_on_url, &seen, NULL, NULL))
        BAIL_OUT ("get url");
    stub_run_until (http, &seen.done, 5000);
    is_int (s_signed, 1, "signer called");
    is_str (seen.url, "http://sqs.unresolvable.invalid/0/ferry",
            "signed request answered");
    s_seen_free (&seen);
    fy_sqs_destroy (&sqs);

    options.base.sign_arg = &seen;
    sqs = fy_sqs_new (http, &options, NULL);
    if (fy_sqs_get_queue_url (sqs, "ferry", s_on_url, &seen, NULL, NULL))
        BAIL_OUT ("get url");
    stub_run_until (http, &seen.done, 5000);
    is_int (seen.result.error, EACCES, "failed signing: EACCES");
    is_str (seen.message, "no credentials", "with the signer's reason");
    s_seen_free (&seen);
    fy_sqs_destroy (&sqs);
    unsetenv ("AWS_ENDPOINT_URL_SQS");

    setenv ("AWS_ENDPOINT_URL", "http://generic.example:9", 1);
    options.base.sign = NULL;
    sqs = fy_sqs_new (http, &options, NULL);
    is_str (fy_sqs_endpoint (sqs), "http://generic.example:9",
            "AWS_ENDPOINT_URL next");
    fy_sqs_destroy (&sqs);
    unsetenv ("AWS_ENDPOINT_URL");
    options.endpoint = NULL;
    options.region = "eu-west-3";
    sqs = fy_sqs_new (http, &options, NULL);
    is_str (fy_sqs_endpoint (sqs), "https://sqs.eu-west-3.amazonaws.com",
            "else the region's endpoint");
    fy_sqs_destroy (&sqs);
    options.region = NULL;
    unsetenv ("AWS_REGION");
    unsetenv ("AWS_DEFAULT_REGION");
    fy_error_t err = { "" };
    sqs = fy_sqs_new (http, &options, &err);
    ok (sqs == NULL && errno == EINVAL, "no endpoint, no region: EINVAL");
    diag ("%s", err.text);
    fy_http_client_destroy (&http);
    stub_stop (&stub);
}

int
main (void)
{
    plan (NO_PLAN);
    fy_sqs_error_t error;
    const char *body = "{\"__type\":"
                       "\"AWS.SimpleQueueService.NonExistentQueue\","
                       "\"Message\":\"gone\"}";
    fy_sqs_decode_error (400, NULL, NULL, body, strlen (body), &error);
    is_str (error.code, "QueueDoesNotExist",
            "legacy query code in __type becomes the short code");
    is_str (error.message, "gone", "Message with a capital M");
    ok (fy_sqs_is_retryable (400, "ThrottlingException"), "throttling retried");
    ok (fy_sqs_is_retryable (403, "RequestThrottled"), "RequestThrottled too");
    ok (fy_sqs_is_retryable (503, NULL), "503 retried");
    ok (!fy_sqs_is_retryable (400, "QueueDoesNotExist"),
        "QueueDoesNotExist is not");
    char *sqs_url = fy_sqs_region_endpoint ("eu-west-1");
    is_str (sqs_url, "https://sqs.eu-west-1.amazonaws.com",
            "fy_sqs_region_endpoint is the region's sqs endpoint");
    free (sqs_url);
    s_batches ();
    s_retries ();
    s_signing ();
    //  Last: without the conformance data they skip the rest of the test.
    s_protocol_errors ("aws-models/botocore/tests/unit/protocols/output/"
                       "json_1_0.json",
                       false);
    s_protocol_errors ("aws-models/botocore/tests/unit/protocols/output/"
                       "json_1_0-query-compatible.json",
                       true);
    aws_model_endpoints ("sqs", "sqs");
    return done_testing ();
}
