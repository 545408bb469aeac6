/*  fy_sqs_producer against the SQS emulator of contrib/stack.sh (the env
    of `contrib/stack.sh env`; missing env is a failure, not a skip), on
    scratch queues this test creates and deletes: 1000 messages, every
    tenth one near the 256 KiB limit so that batches split by size, all
    received back intact; then a FIFO queue, where each group comes back in
    the order sent and a repeated deduplication id is dropped by SQS. */
#include "aws/fy_aws_sign.h"
#include "aws/fy_sqs_producer.h"

#include <errno.h>
#include <unistd.h>

#include "tap.h"

#define S_COUNT 1000
#define S_BIG (FY_SQS_PAYLOAD_MAX - 64)

static fy_http_client_t *s_http;
static fy_sqs_t *s_sqs;

//  ---- Queue management fy_sqs does not do: CreateQueue, DeleteQueue.
typedef struct {
    bool done;
    int status;
    char *url;
} created_t;

static void
s_on_admin (const fy_http_result_t *result, void *arg)
{
    created_t *created = arg;
    created->done = true;
    created->status = fy_http_result_status (result);
    size_t len;
    const char *body = fy_http_result_body (result, &len);
    json_t *json = json_loadb (body, len, 0, NULL);
    const char *url = json_string_value (json_object_get (json, "QueueUrl"));
    created->url = url ? fy_xstrdup (url) : NULL;
    json_decref (json);
}

static void
s_until (bool *flag, int64_t max_ms)
{
    int64_t until = fy_clock_mono_ms () + max_ms;
    while (!*flag && fy_clock_mono_ms () < until)
        if (fy_http_client_wait (s_http, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait");
}

//  POST action with request (taken) to the endpoint; the QueueUrl of the
//  answer, or NULL. Caller owns result.
static char *
s_admin (const char *action, json_t *request)
{
    char *url = fy_xasprintf ("%s/", fy_sqs_endpoint (s_sqs));
    fy_http_call_t *call = fy_http_call_new ("POST", url);
    free (url);
    char *target = fy_xasprintf ("AmazonSQS.%s", action);
    fy_http_call_add_header (call, "X-Amz-Target", target);
    free (target);
    fy_http_call_add_header (call, "Content-Type",
                             "application/x-amz-json-1.0");
    char *body = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    fy_http_call_set_body (call, body, strlen (body));
    free (body);
    created_t created = { false, 0, NULL };
    if (fy_http_client_start (s_http, &call, s_on_admin, &created, NULL, NULL))
        BAIL_OUT ("%s", action);
    s_until (&created.done, 10000);
    if (created.status != 200)
        BAIL_OUT ("%s: HTTP %d", action, created.status);
    return created.url;
}

//  ---- Reports and receives.
typedef struct {
    size_t ok, failed;
} tally_t;

static void
s_on_report (const fy_sqs_report_t *report, void *user, void *arg)
{
    (void) user;
    tally_t *tally = arg;
    if (report->ok && report->message_id)
        tally->ok++;
    else {
        tally->failed++;
        diag ("failed: %s: %s", report->code, report->message);
    }
}

typedef struct {
    bool done;
    int error;
    fy_sqs_message_t *messages [10];
    size_t count;
} got_t;

static void
s_on_receive (const fy_sqs_result_t *result, fy_sqs_message_t **messages,
              size_t count, void *arg)
{
    got_t *got = arg;
    got->done = true;
    got->error = result->error;
    for (size_t i = 0; i < count; i++) {
        got->messages [got->count++] = messages [i];
        messages [i] = NULL;
    }
}

static void
s_on_deleted (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
              size_t count, void *arg)
{
    (void) entries;
    (void) count;
    (void) result;
    *(bool *) arg = true;
}

//  Receive up to 10 from url and delete them; fn sees each body.
typedef void (s_body_fn) (const char *body, fy_sqs_message_t *msg, void *arg);

static size_t
s_drain_once (const char *url, s_body_fn *fn, void *arg)
{
    got_t got = { 0 };
    if (fy_sqs_receive (s_sqs, url, 10, 1, 30, s_on_receive, &got, NULL, NULL))
        BAIL_OUT ("receive");
    s_until (&got.done, 10000);
    if (got.error)
        BAIL_OUT ("receive: error %d", got.error);
    if (got.count == 0)
        return 0;
    fy_sqs_batch_t *batch = fy_sqs_batch_new (FY_SQS_DELETE);
    for (size_t i = 0; i < got.count; i++) {
        fn (fy_sqs_message_body (got.messages [i]), got.messages [i], arg);
        char id [8];
        snprintf (id, sizeof id, "d%zu", i);
        if (fy_sqs_batch_delete (batch, id,
                                 fy_sqs_message_receipt (got.messages [i])))
            BAIL_OUT ("delete batch");
        fy_sqs_message_destroy (&got.messages [i]);
    }
    bool deleted = false;
    if (fy_sqs_submit (s_sqs, url, &batch, s_on_deleted, &deleted, NULL, NULL))
        BAIL_OUT ("delete");
    s_until (&deleted, 10000);
    return got.count;
}

//  ---- 1000 messages, every tenth near the limit.
typedef struct {
    bool seen [S_COUNT];
    size_t intact, twice, big;
} standard_t;

static void
s_check_standard (const char *body, fy_sqs_message_t *msg, void *arg)
{
    standard_t *standard = arg;
    size_t n = (size_t) strtoul (body, NULL, 10);
    if (n >= S_COUNT)
        return;
    standard->twice += standard->seen [n];
    standard->seen [n] = true;
    const char *attribute = fy_sqs_message_user_attribute (msg, "n");
    size_t len = strlen (body);
    size_t want = n % 10 == 0 ? S_BIG - strlen ("n") - strlen ("String")
                                    - strlen (attribute ? attribute : "")
                              : 100;
    if (attribute && (size_t) strtoul (attribute, NULL, 10) == n && len == want)
        standard->intact++;
    standard->big += len > 100;
}

static void
s_standard (void)
{
    char *name = fy_xasprintf ("producer-it-%d", (int) getpid ());
    char *url = s_admin ("CreateQueue", json_pack ("{s:s}", "QueueName", name));
    ok (url != NULL, "scratch queue %s", name);
    tally_t tally = { 0, 0 };
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.max_pending = 200;
    options.report = s_on_report;
    options.arg = &tally;
    fy_sqs_producer_t *producer =
        fy_sqs_producer_new (s_sqs, s_http, url, &options, NULL);
    char *body = fy_xmalloc (S_BIG + 1);
    int64_t started = fy_clock_mono_ms ();
    size_t waits = 0;
    for (size_t n = 0; n < S_COUNT;) {
        char number [16];
        snprintf (number, sizeof number, "%zu", n);
        //  The payload counts the attribute too: the big ones fill the
        //  limit but for 64 bytes.
        size_t len = n % 10 == 0 ? S_BIG - 1 - 6 - strlen (number) : 100;
        memset (body, 'x', len);
        memcpy (body, number, strlen (number));
        body [strlen (number)] = ' ';
        body [len] = 0;
        const char *attrs [] = { "n", number, NULL };
        fy_sqs_send_t msg = { .body = body, .attrs = attrs };
        if (fy_sqs_producer_send (producer, &msg, NULL, NULL) == 0) {
            n++;
            continue;
        }
        if (errno != EAGAIN)
            BAIL_OUT ("send %zu: errno %d", n, errno);
        waits++;
        if (fy_http_client_wait (s_http, 1000))
            BAIL_OUT ("wait");
    }
    free (body);
    ok (waits > 0, "the bound made the sender wait (%zu times)", waits);
    ok (fy_sqs_producer_wait (producer, 120000) == 0, "all reported");
    fy_sqs_producer_stats_t stats;
    fy_sqs_producer_stats (producer, &stats);
    is_int ((int) tally.ok, S_COUNT, "1000 sent with a MessageId");
    is_int ((int) tally.failed, 0, "none failed");
    //  Each big one goes alone; the 9 small ones between two go together.
    ok (stats.batches >= 200 && stats.batches <= 220,
        "split by size: %llu batches", (unsigned long long) stats.batches);
    diag ("1000 messages (%zu MiB) in %lld ms",
          (size_t) (S_COUNT / 10) * S_BIG / (1024 * 1024),
          (long long) (fy_clock_mono_ms () - started));
    fy_sqs_producer_destroy (&producer);

    standard_t *standard = fy_xcalloc (1, sizeof *standard);
    size_t total = 0, got;
    while ((got = s_drain_once (url, s_check_standard, standard)) > 0)
        total += got;
    is_int ((int) total, S_COUNT, "1000 received back");
    is_int ((int) standard->intact, S_COUNT, "each body and attribute intact");
    is_int ((int) standard->big, S_COUNT / 10, "100 of them near 256 KiB");
    is_int ((int) standard->twice, 0, "none twice");
    free (standard);
    free (s_admin ("DeleteQueue", json_pack ("{s:s}", "QueueUrl", url)));
    free (url);
    free (name);
}

//  ---- FIFO: 4 groups, 30 messages each.
typedef struct {
    long last [4];
    size_t count, out_of_order;
    bool group_attribute;
} fifo_t;

static void
s_check_fifo (const char *body, fy_sqs_message_t *msg, void *arg)
{
    fifo_t *fifo = arg;
    int group;
    long n;
    if (sscanf (body, "g%d %ld", &group, &n) != 2 || group < 0 || group > 3)
        return;
    fifo->count++;
    fifo->out_of_order += n <= fifo->last [group];
    fifo->last [group] = n;
    const char *attribute = fy_sqs_message_attribute (msg, "MessageGroupId");
    char want [8];
    snprintf (want, sizeof want, "g%d", group);
    fifo->group_attribute &= attribute && strcmp (attribute, want) == 0;
}

static void
s_fifo (void)
{
    char *name = fy_xasprintf ("producer-it-%d.fifo", (int) getpid ());
    char *url =
        s_admin ("CreateQueue", json_pack ("{s:s, s:{s:s}}", "QueueName", name,
                                           "Attributes", "FifoQueue", "true"));
    ok (url != NULL, "FIFO scratch queue %s", name);
    tally_t tally = { 0, 0 };
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.report = s_on_report;
    options.arg = &tally;
    fy_sqs_producer_t *producer =
        fy_sqs_producer_new (s_sqs, s_http, url, &options, NULL);
    for (int n = 0; n < 120; n++) {
        char body [32], group [8], dedup [16];
        snprintf (body, sizeof body, "g%d %d", n % 4, n);
        snprintf (group, sizeof group, "g%d", n % 4);
        snprintf (dedup, sizeof dedup, "m%d", n);
        fy_sqs_send_t msg = { .body = body,
                              .group_id = group,
                              .dedup_id = dedup };
        if (fy_sqs_producer_send (producer, &msg, NULL, NULL))
            BAIL_OUT ("send %d", n);
    }
    ok (fy_sqs_producer_wait (producer, 60000) == 0, "120 FIFO reported");
    //  The same deduplication id again: SQS accepts and drops it.
    fy_sqs_send_t again = { .body = "g0 0",
                            .group_id = "g0",
                            .dedup_id = "m0" };
    if (fy_sqs_producer_send (producer, &again, NULL, NULL))
        BAIL_OUT ("send again");
    ok (fy_sqs_producer_wait (producer, 60000) == 0, "repeat reported");
    is_int ((int) tally.ok, 121, "121 accepted by SQS");
    fy_sqs_producer_destroy (&producer);
    fifo_t fifo = { .last = { -1, -1, -1, -1 }, .group_attribute = true };
    while (s_drain_once (url, s_check_fifo, &fifo) > 0)
        ;
    is_int ((int) fifo.count, 120, "120 received: the repeat was dropped");
    is_int ((int) fifo.out_of_order, 0, "each group in the order sent");
    ok (fifo.group_attribute, "each with its MessageGroupId");
    free (s_admin ("DeleteQueue", json_pack ("{s:s}", "QueueUrl", url)));
    free (url);
    free (name);
}

int
main (void)
{
    plan (NO_PLAN);
    const char *endpoint = getenv ("AWS_ENDPOINT_URL_SQS");
    ok (endpoint && *endpoint, "AWS_ENDPOINT_URL_SQS is set");
    if (!endpoint || !*endpoint)
        BAIL_OUT ("no stack env: eval \"$(contrib/stack.sh env)\"");
    s_http = fy_http_client_new (NULL, NULL);
    fy_aws_sign_t *sign = fy_aws_sign_new (NULL);
    fy_sqs_options_t options;
    fy_sqs_options_default (&options);
    options.base.sign = fy_aws_sign_sqs;
    options.base.sign_arg = sign;
    s_sqs = fy_sqs_new (s_http, &options, NULL);
    if (!s_sqs)
        BAIL_OUT ("fy_sqs_new");
    s_standard ();
    s_fifo ();
    fy_sqs_destroy (&s_sqs);
    fy_aws_sign_destroy (&sign);
    fy_http_client_destroy (&s_http);
    return done_testing ();
}
