/*  fy_sqs against the real SQS emulator of contrib/stack.sh (the env of
    `contrib/stack.sh env`; missing env is a failure, not a skip). The main
    queue's redrive policy is read but its messages are left alone: the
    round trips run on a scratch queue of this test's own. */
#include "aws/fy_sqs.h"

#include <errno.h>
#include <unistd.h>

#include "tap.h"

static fy_http_client_t *s_http;

static void
s_run_until (bool *flag, int64_t max_ms)
{
    int64_t until = fy_clock_mono_ms () + max_ms;
    while (!*flag && fy_clock_mono_ms () < until)
        if (fy_http_client_wait (s_http, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait");
}

//  ---- Raw calls for what fy_sqs does not do (CreateQueue, DeleteQueue).
typedef struct {
    bool done;
    int status;
    json_t *json;
} raw_t;

static void
s_on_raw (const fy_http_result_t *result, void *arg)
{
    raw_t *raw = arg;
    raw->done = true;
    raw->status = fy_http_result_status (result);
    size_t len;
    const char *body = fy_http_result_body (result, &len);
    raw->json = json_loadb (body, len, 0, NULL);
}

static json_t *
s_raw (const char *endpoint, const char *action, json_t *request)
{
    char *url = fy_xasprintf ("%s/", endpoint);
    fy_http_call_t *call = fy_http_call_new ("POST", url);
    free (url);
    char *target = fy_xasprintf ("AmazonSQS.%s", action);
    fy_http_call_add_header (call, "Content-Type",
                             "application/x-amz-json-1.0");
    fy_http_call_add_header (call, "X-Amz-Target", target);
    free (target);
    char *body = json_dumps (request, JSON_COMPACT);
    fy_http_call_set_body (call, body, strlen (body));
    free (body);
    json_decref (request);
    raw_t raw = { 0 };
    if (fy_http_client_start (s_http, &call, s_on_raw, &raw, NULL, NULL))
        BAIL_OUT ("start %s", action);
    s_run_until (&raw.done, 10000);
    if (raw.status != 200)
        BAIL_OUT ("%s: HTTP %d", action, raw.status);
    return raw.json;
}

//  ---- What the callbacks saw.
typedef struct {
    bool done;
    int error;
    int attempts;
    char code [96];
    char query_code [96];
    size_t count;
    fy_sqs_message_t *messages [10];
    bool ok [FY_SQS_BATCH_MAX];
    char entry_code [FY_SQS_BATCH_MAX][64];
    bool sender_fault [FY_SQS_BATCH_MAX];
    char *url;
    json_t *attributes;
    int64_t elapsed_ms;
} seen_t;

static int64_t s_started;

static void
s_result (seen_t *seen, const fy_sqs_result_t *result)
{
    seen->done = true;
    seen->error = result->error;
    seen->attempts = result->attempts;
    snprintf (seen->code, sizeof seen->code, "%s",
              result->code ? result->code : "");
    snprintf (seen->query_code, sizeof seen->query_code, "%s",
              result->query_code ? result->query_code : "");
    seen->elapsed_ms = fy_clock_mono_ms () - s_started;
}

static void
s_on_receive (const fy_sqs_result_t *result, fy_sqs_message_t **messages,
              size_t count, void *arg)
{
    seen_t *seen = arg;
    s_result (seen, result);
    for (size_t i = 0; i < count && seen->count < 10; i++) {
        seen->messages [seen->count++] = messages [i];
        messages [i] = NULL;
    }
}

static void
s_on_batch (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
            size_t count, void *arg)
{
    seen_t *seen = arg;
    s_result (seen, result);
    seen->count = count;
    for (size_t i = 0; i < count; i++) {
        seen->ok [i] = entries [i].ok;
        snprintf (seen->entry_code [i], sizeof seen->entry_code [i], "%s",
                  entries [i].code ? entries [i].code : "");
        seen->sender_fault [i] = entries [i].sender_fault;
    }
}

static void
s_on_url (const fy_sqs_result_t *result, const char *url, void *arg)
{
    seen_t *seen = arg;
    s_result (seen, result);
    seen->url = url ? fy_xstrdup (url) : NULL;
}

static void
s_on_attributes (const fy_sqs_result_t *result, json_t *attributes, void *arg)
{
    seen_t *seen = arg;
    s_result (seen, result);
    seen->attributes = json_incref (attributes);
}

static void
s_seen_free (seen_t *seen)
{
    for (size_t i = 0; i < 10; i++)
        fy_sqs_message_destroy (&seen->messages [i]);
    free (seen->url);
    json_decref (seen->attributes);
    memset (seen, 0, sizeof *seen);
}

static const char *
s_need (const char *name)
{
    const char *value = getenv (name);
    if (!value || !*value)
        BAIL_OUT ("%s is not set: run contrib/stack.sh start and "
                  "eval \"$(contrib/stack.sh env)\"",
                  name);
    return value;
}

static const char *
s_attr (fy_sqs_t *sqs, const char *queue, const char *name, char *buf,
        size_t size)
{
    seen_t seen = { 0 };
    const char *names [] = { name, NULL };
    if (fy_sqs_get_attributes (sqs, queue, names, s_on_attributes, &seen, NULL,
                               NULL))
        BAIL_OUT ("get attributes");
    s_run_until (&seen.done, 10000);
    snprintf (buf, size, "%s",
              json_string_value (json_object_get (seen.attributes, name))
                  ?: "(none)");
    s_seen_free (&seen);
    return buf;
}

int
main (void)
{
    plan (NO_PLAN);
    const char *main_url = s_need ("SQS_QUEUE_URL");
    const char *dlq_url = s_need ("SQS_DLQ_URL");
    const char *endpoint = s_need ("AWS_ENDPOINT_URL_SQS");
    s_http = fy_http_client_new (NULL, NULL);
    fy_error_t err = { "" };
    fy_sqs_t *sqs = fy_sqs_new (s_http, NULL, &err);
    if (!sqs)
        BAIL_OUT ("fy_sqs_new: %s", err.text);
    is_str (fy_sqs_endpoint (sqs), endpoint, "endpoint from the env");

    //  ---- GetQueueUrl and the main queue's redrive policy.
    seen_t seen = { 0 };
    const char *main_name = strrchr (main_url, '/') + 1;
    if (fy_sqs_get_queue_url (sqs, main_name, s_on_url, &seen, NULL, NULL))
        BAIL_OUT ("get url");
    s_run_until (&seen.done, 10000);
    is_int (seen.error, 0, "GetQueueUrl succeeded");
    is_str (seen.url, main_url, "GetQueueUrl finds the main queue");
    s_seen_free (&seen);

    char buf [512];
    json_t *redrive = json_loads (
        s_attr (sqs, main_url, "RedrivePolicy", buf, sizeof buf), 0, NULL);
    const char *dlq_name = strrchr (dlq_url, '/') + 1;
    const char *target =
        json_string_value (json_object_get (redrive, "deadLetterTargetArn"));
    ok (target && strlen (target) > strlen (dlq_name)
            && strcmp (target + strlen (target) - strlen (dlq_name), dlq_name)
                   == 0,
        "RedrivePolicy targets the DLQ (%s)", buf);
    json_t *max = json_object_get (redrive, "maxReceiveCount");
    ok (json_is_string (max) ? strcmp (json_string_value (max), "5") == 0
                             : json_integer_value (max) == 5,
        "maxReceiveCount 5");
    json_decref (redrive);

    //  ---- A queue of our own.
    char name [64];
    snprintf (name, sizeof name, "fy-sqs-test-%d", (int) getpid ());
    json_t *created =
        s_raw (endpoint, "CreateQueue", json_pack ("{s:s}", "QueueName", name));
    char *queue =
        fy_xstrdup (json_string_value (json_object_get (created, "QueueUrl")));
    json_decref (created);

    //  ---- SendMessageBatch with String attributes.
    fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_SEND);
    for (int i = 0; i < 3; i++) {
        char id [8], body [64], seq [8];
        snprintf (id, sizeof id, "m%d", i);
        snprintf (body, sizeof body, "{\"n\":%d,\"text\":\"h\\u00e9\"}", i);
        snprintf (seq, sizeof seq, "%d", i);
        const char *attrs [] = { "type", "user.login", "seq", seq, NULL };
        if (fy_sqs_batch_send (batch, id, body, -1, attrs))
            BAIL_OUT ("batch send %d", i);
    }
    if (fy_sqs_submit (sqs, queue, &batch, s_on_batch, &seen, NULL, NULL))
        BAIL_OUT ("submit send");
    s_run_until (&seen.done, 10000);
    is_int (seen.error, 0, "SendMessageBatch succeeded");
    ok (seen.count == 3 && seen.ok [0] && seen.ok [1] && seen.ok [2],
        "three messages sent");
    s_seen_free (&seen);
    is_str (s_attr (sqs, queue, "ApproximateNumberOfMessages", buf, sizeof buf),
            "3", "ApproximateNumberOfMessages 3");

    //  ---- Receive them (short long polls), with bodies and attributes.
    fy_sqs_message_t *got [3] = { NULL };
    int64_t until = fy_clock_mono_ms () + 10000;
    size_t have = 0;
    while (have < 3 && fy_clock_mono_ms () < until) {
        if (fy_sqs_receive (sqs, queue, 10, 1, -1, s_on_receive, &seen, NULL,
                            NULL))
            BAIL_OUT ("receive");
        s_run_until (&seen.done, 10000);
        for (size_t i = 0; i < seen.count; i++) {
            json_t *body =
                json_loads (fy_sqs_message_body (seen.messages [i]), 0, NULL);
            int n = (int) json_integer_value (json_object_get (body, "n"));
            json_decref (body);
            if (n >= 0 && n < 3 && !got [n]) {
                got [n] = seen.messages [i];
                seen.messages [i] = NULL;
                have++;
            }
        }
        s_seen_free (&seen);
    }
    is_int (have, 3, "three messages received");
    int right = 0;
    for (int i = 0; i < 3 && have == 3; i++) {
        char seq [8];
        snprintf (seq, sizeof seq, "%d", i);
        right +=
            fy_sqs_message_receive_count (got [i]) == 1
            && strcmp (fy_sqs_message_user_attribute (got [i], "type") ?: "",
                       "user.login")
                   == 0
            && strcmp (fy_sqs_message_user_attribute (got [i], "seq") ?: "",
                       seq)
                   == 0
            && fy_sqs_message_attribute (got [i], "SentTimestamp")
            && fy_sqs_message_id (got [i]) && fy_sqs_message_receipt (got [i]);
    }
    is_int (right, 3, "each: ReceiveCount 1, its attributes, id, receipt");
    if (have == 3) {
        json_t *body = json_loads (fy_sqs_message_body (got [0]), 0, NULL);
        is_str (json_string_value (json_object_get (body, "text")), "h\xc3\xa9",
                "UTF-8 body intact");
        json_decref (body);
    }
    else
        BAIL_OUT ("cannot go on without the messages");

    //  ---- ChangeMessageVisibilityBatch: m0 back now; a bogus receipt is
    //  reported, not retried.
    batch = fy_sqs_batch_new (FY_SQS_VISIBILITY);
    if (fy_sqs_batch_visibility (batch, "v0", fy_sqs_message_receipt (got [0]),
                                 0)
        || fy_sqs_batch_visibility (batch, "bogus", "not-a-receipt", 10))
        BAIL_OUT ("visibility batch");
    if (fy_sqs_submit (sqs, queue, &batch, s_on_batch, &seen, NULL, NULL))
        BAIL_OUT ("submit visibility");
    s_run_until (&seen.done, 10000);
    is_int (seen.error, 0, "ChangeMessageVisibilityBatch answered");
    ok (seen.ok [0], "m0 visible again");
    ok (!seen.ok [1], "bogus receipt failed");
    is_str (seen.entry_code [1], "ReceiptHandleIsInvalid", "with its code");
    ok (seen.sender_fault [1], "as the sender's fault");
    is_int (seen.attempts, 1, "and was not retried");
    s_seen_free (&seen);

    if (fy_sqs_receive (sqs, queue, 10, 2, -1, s_on_receive, &seen, NULL, NULL))
        BAIL_OUT ("receive again");
    s_run_until (&seen.done, 10000);
    ok (seen.count == 1
            && strcmp (fy_sqs_message_id (seen.messages [0]),
                       fy_sqs_message_id (got [0]))
                   == 0,
        "m0 received again");
    if (seen.count == 1) {
        is_int (fy_sqs_message_receive_count (seen.messages [0]), 2,
                "ApproximateReceiveCount 2");
        fy_sqs_message_destroy (&got [0]);
        got [0] = seen.messages [0];
        seen.messages [0] = NULL;
    }
    s_seen_free (&seen);

    //  ---- DeleteMessageBatch. The emulator, like SQS for a receipt that
    //  is well-formed but stale, accepts a bogus receipt: fy_sqs reports
    //  whatever each entry got (tests/unit/fy_sqs.c checks a failed one).
    batch = fy_sqs_batch_new (FY_SQS_DELETE);
    for (int i = 0; i < 3; i++) {
        char id [8];
        snprintf (id, sizeof id, "d%d", i);
        if (fy_sqs_batch_delete (batch, id, fy_sqs_message_receipt (got [i])))
            BAIL_OUT ("delete batch");
    }
    if (fy_sqs_batch_delete (batch, "bogus", "not-a-receipt"))
        BAIL_OUT ("delete batch");
    if (fy_sqs_submit (sqs, queue, &batch, s_on_batch, &seen, NULL, NULL))
        BAIL_OUT ("submit delete");
    s_run_until (&seen.done, 10000);
    is_int (seen.count, 4, "four entries reported");
    ok (seen.ok [0] && seen.ok [1] && seen.ok [2], "three messages deleted");
    diag ("bogus receipt on delete: %s",
          seen.ok [3] ? "accepted" : seen.entry_code [3]);
    s_seen_free (&seen);
    for (int i = 0; i < 3; i++)
        fy_sqs_message_destroy (&got [i]);
    is_str (s_attr (sqs, queue, "ApproximateNumberOfMessages", buf, sizeof buf),
            "0", "queue empty");
    is_str (s_attr (sqs, queue, "ApproximateNumberOfMessagesNotVisible", buf,
                    sizeof buf),
            "0", "nothing in flight");

    //  ---- A 20 s long poll ends as soon as a message arrives, and the
    //  send runs beside it on the same thread.
    seen_t poll = { 0 };
    s_started = fy_clock_mono_ms ();
    if (fy_sqs_receive (sqs, queue, 10, 20, -1, s_on_receive, &poll, NULL,
                        NULL))
        BAIL_OUT ("long poll");
    bool never = false;
    s_run_until (&never, 300);
    ok (!poll.done, "long poll still waiting after 300 ms");
    batch = fy_sqs_batch_new (FY_SQS_SEND);
    if (fy_sqs_batch_send (batch, "late", "late message", -1, NULL)
        || fy_sqs_submit (sqs, queue, &batch, s_on_batch, &seen, NULL, NULL))
        BAIL_OUT ("late send");
    s_run_until (&poll.done, 25000);
    ok (seen.done && seen.ok [0], "send completed during the long poll");
    ok (poll.count == 1
            && strcmp (fy_sqs_message_body (poll.messages [0]), "late message")
                   == 0,
        "long poll returned the message");
    ok (poll.elapsed_ms < 5000, "at once (%lld ms), not after 20 s",
        (long long) poll.elapsed_ms);
    if (poll.count == 1) {
        batch = fy_sqs_batch_new (FY_SQS_DELETE);
        if (fy_sqs_batch_delete (batch, "x",
                                 fy_sqs_message_receipt (poll.messages [0])))
            BAIL_OUT ("delete late");
        seen_t del = { 0 };
        if (fy_sqs_submit (sqs, queue, &batch, s_on_batch, &del, NULL, NULL))
            BAIL_OUT ("delete late");
        s_run_until (&del.done, 10000);
        ok (del.ok [0], "late message deleted");
        s_seen_free (&del);
    }
    s_seen_free (&poll);
    s_seen_free (&seen);

    //  ---- A queue that does not exist.
    char *missing = fy_xasprintf ("%s/000000000000/no-such-queue-%d", endpoint,
                                  (int) getpid ());
    if (fy_sqs_receive (sqs, missing, 1, 0, -1, s_on_receive, &seen, NULL,
                        NULL))
        BAIL_OUT ("receive missing");
    s_run_until (&seen.done, 10000);
    is_int (seen.error, EPROTO, "nonexistent queue: EPROTO");
    is_str (seen.code, "QueueDoesNotExist", "code QueueDoesNotExist");
    is_str (seen.query_code, "AWS.SimpleQueueService.NonExistentQueue",
            "query code kept beside it");
    is_int (seen.attempts, 1, "not retried");
    s_seen_free (&seen);
    free (missing);

    json_decref (s_raw (endpoint, "DeleteQueue",
                        json_pack ("{s:s}", "QueueUrl", queue)));
    free (queue);
    fy_sqs_destroy (&sqs);
    fy_http_client_destroy (&s_http);
    return done_testing ();
}
