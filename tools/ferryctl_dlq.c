/*  ferryctl dlq peek|redrive|purge: the dead letter queue as an operator
    handles it. Messages are taken with ReceiveMessage and a visibility
    timeout that hides them while they are worked on; what is only looked
    at is made visible again at once (ChangeMessageVisibilityBatch to 0),
    so peek and redrive --dry-run consume nothing (SQS still counts the
    receive in ApproximateReceiveCount). redrive sends each message to the
    main queue through fy_sqs_producer and deletes it from the DLQ only
    once SQS has taken the copy: a failure leaves it in the DLQ (at worst
    in both queues), never in neither. */
#include "ferryctl.h"
#include "aws/fy_sqs.h"
#include "aws/fy_sqs_producer.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Longest wait for one SQS call, its retries included.
#define S_CALL_MS 60000
//  How long a message taken from the DLQ stays hidden while it is listed
//  or moved; set back to 0 (or deleted) well before.
#define S_HOLD_S 120
//  Long poll of each receive: a short poll on real SQS may miss messages.
#define S_POLL_S 1
//  Body characters shown by peek.
#define S_EXCERPT 120

typedef struct {
    ferryctl_sqs_t *aws;
    const char *dlq;
    const char *queue;
    //  The call in progress.
    bool done;
    bool failed;
    zlistx_t *received;         //  fy_sqs_message_t *, owned
    size_t entry_failures;
    fy_sqs_message_t **batch_msgs;  //  The messages of the batch running
    char *approximate;          //  ApproximateNumberOfMessages
    //  redrive: the producer's reports.
    zlistx_t *moved;            //  Borrowed from the round's list
    zlistx_t *unmoved;
    size_t send_failures;
} s_dlq_t;

static void
s_message_free (void **item_p)
{
    fy_sqs_message_destroy ((fy_sqs_message_t **) item_p);
}

static void
s_call_failed (s_dlq_t *self, const char *action, const char *url,
               const fy_sqs_result_t *result)
{
    char shown [256];
    ferryctl_printable (result->message, shown, sizeof shown);
    fprintf (stderr, "ferryctl dlq: %s %s: %s%s%s\n", action, url,
             result->code ? result->code : "", result->code ? ": " : "", shown);
    self->failed = true;
}

//  Run the call just started to its end.
static int
s_wait (s_dlq_t *self, const char *action)
{
    if (ferryctl_sqs_run (self->aws, &self->done, S_CALL_MS)) {
        fprintf (stderr, "ferryctl dlq: %s: no answer in %d s\n", action,
                 S_CALL_MS / 1000);
        return -1;
    }
    return self->failed ? -1 : 0;
}

static void
s_on_receive (const fy_sqs_result_t *result, fy_sqs_message_t **messages,
              size_t count, void *arg)
{
    s_dlq_t *self = arg;
    self->done = true;
    if (result->error) {
        s_call_failed (self, "ReceiveMessage", self->dlq, result);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        zlistx_add_end (self->received, messages [i]);
        messages [i] = NULL;
    }
}

//  Take up to max messages from the DLQ into list, hidden for S_HOLD_S,
//  one receive after another until max or an empty answer. Returns 0 or
//  -1 (reported).
static int
s_take (s_dlq_t *self, size_t max, zlistx_t *list, bool once)
{
    self->received = list;
    while (zlistx_size (list) < max) {
        size_t before = zlistx_size (list);
        size_t want = max - before < 10 ? max - before : 10;
        self->done = self->failed = false;
        fy_error_t err = { "" };
        if (fy_sqs_receive (self->aws->sqs, self->dlq, (int) want, S_POLL_S,
                            S_HOLD_S, s_on_receive, self, NULL, &err)) {
            fprintf (stderr, "ferryctl dlq: %s\n", err.text);
            return -1;
        }
        if (s_wait (self, "ReceiveMessage"))
            return -1;
        if (zlistx_size (list) == before || once)
            break;
    }
    return 0;
}

static void
s_on_batch (const fy_sqs_result_t *result, const fy_sqs_entry_t *entries,
            size_t count, void *arg)
{
    s_dlq_t *self = arg;
    self->done = true;
    for (size_t i = 0; i < count; i++) {
        if (entries [i].ok)
            continue;
        char shown [256];
        ferryctl_printable (entries [i].message ? entries [i].message : "",
                            shown, sizeof shown);
        fprintf (stderr, "ferryctl dlq: message %s: %s: %s\n",
                 fy_sqs_message_id (self->batch_msgs [i]),
                 entries [i].code ? entries [i].code : "?", shown);
        self->entry_failures++;
    }
    (void) result;
}

//  Delete the messages of list from the DLQ, or make them visible again
//  (visibility 0), ten at a time. Returns the entries that failed, or -1
//  when a call got no answer.
static long
s_settle (s_dlq_t *self, zlistx_t *list, fy_sqs_batch_kind_t kind)
{
    self->entry_failures = 0;
    fy_sqs_message_t *chunk [FY_SQS_BATCH_MAX];
    fy_sqs_message_t *msg = zlistx_first (list);
    while (msg) {
        fy_sqs_batch_t *batch = fy_sqs_batch_new (kind);
        size_t count = 0;
        for (; msg && count < FY_SQS_BATCH_MAX; msg = zlistx_next (list)) {
            char id [16];
            snprintf (id, sizeof id, "e%zu", count);
            const char *receipt = fy_sqs_message_receipt (msg);
            int rc = kind == FY_SQS_DELETE
                         ? fy_sqs_batch_delete (batch, id, receipt)
                         : fy_sqs_batch_visibility (batch, id, receipt, 0);
            if (rc) {
                fy_sqs_batch_destroy (&batch);
                fprintf (stderr, "ferryctl dlq: message %s: no receipt\n",
                         fy_sqs_message_id (msg));
                return -1;
            }
            chunk [count++] = msg;
        }
        self->done = self->failed = false;
        self->batch_msgs = chunk;
        fy_error_t err = { "" };
        if (fy_sqs_submit (self->aws->sqs, self->dlq, &batch, s_on_batch, self,
                           NULL, &err)
            || ferryctl_sqs_run (self->aws, &self->done, S_CALL_MS)) {
            fprintf (stderr, "ferryctl dlq: %s\n",
                     err.text [0] ? err.text : "no answer from SQS");
            return -1;
        }
    }
    return (long) self->entry_failures;
}

static void
s_on_attributes (const fy_sqs_result_t *result, json_t *attributes, void *arg)
{
    s_dlq_t *self = arg;
    self->done = true;
    const char *count = json_string_value (
        json_object_get (attributes, "ApproximateNumberOfMessages"));
    free (self->approximate);
    self->approximate = NULL;
    if (!result->error && count)
        self->approximate = fy_xstrdup (count);
}

//  "about N" for the DLQ, "?" when SQS does not say.
static const char *
s_approximate (s_dlq_t *self)
{
    static const char *names [] = { "ApproximateNumberOfMessages", NULL };
    self->done = self->failed = false;
    if (fy_sqs_get_attributes (self->aws->sqs, self->dlq, names,
                               s_on_attributes, self, NULL, NULL)
        || ferryctl_sqs_run (self->aws, &self->done, S_CALL_MS)
        || !self->approximate)
        return "?";
    return self->approximate;
}

static void
s_show (fy_sqs_message_t *msg)
{
    char id [128], reason [128], error [512], body [S_EXCERPT + 1];
    const char *text = fy_sqs_message_user_attribute (msg, "ferry-reason");
    ferryctl_printable (text ? text : "-", reason, sizeof reason);
    text = fy_sqs_message_user_attribute (msg, "ferry-error");
    ferryctl_printable (text ? text : "-", error, sizeof error);
    ferryctl_printable (fy_sqs_message_id (msg), id, sizeof id);
    text = fy_sqs_message_body (msg);
    ferryctl_printable (text ? text : "", body, sizeof body);
    printf ("%s  receives %d  reason %s\n  error: %s\n  body: %s%s\n", id,
            fy_sqs_message_receive_count (msg), reason, error, body,
            text && strlen (text) > S_EXCERPT ? "..." : "");
}

static int
s_peek (s_dlq_t *self, size_t count)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, s_message_free);
    int rc = s_take (self, count, list, false) ? FERRYCTL_FAILED : FERRYCTL_OK;
    for (fy_sqs_message_t *msg = zlistx_first (list); msg;
         msg = zlistx_next (list))
        s_show (msg);
    if (s_settle (self, list, FY_SQS_VISIBILITY) != 0) {
        fprintf (stderr,
                 "ferryctl dlq: some messages stay hidden for up "
                 "to %d s\n",
                 S_HOLD_S);
        rc = FERRYCTL_FAILED;
    }
    printf ("shown %zu; the DLQ holds about %s\n", zlistx_size (list),
            s_approximate (self));
    zlistx_destroy (&list);
    return rc;
}

//  The producer's report on one message sent to the main queue.
static void
s_on_moved (const fy_sqs_report_t *report, void *user, void *arg)
{
    s_dlq_t *self = arg;
    fy_sqs_message_t *msg = user;
    if (report->ok) {
        zlistx_add_end (self->moved, msg);
        return;
    }
    char shown [256];
    ferryctl_printable (report->message ? report->message : "", shown,
                        sizeof shown);
    fprintf (stderr, "ferryctl dlq: message %s not sent to %s: %s: %s\n",
             fy_sqs_message_id (msg), self->queue,
             report->code ? report->code : "?", shown);
    zlistx_add_end (self->unmoved, msg);
    self->send_failures++;
}

//  The message as it goes back: its body and its own attributes, without
//  what ferry added (ferry-reason, ferry-error, ...); a FIFO message keeps
//  its group, and its DLQ id as deduplication id, so a redrive repeated
//  within five minutes does not send it twice.
static int
s_move (s_dlq_t *self, fy_sqs_producer_t *producer, fy_sqs_message_t *msg)
{
    json_t *attributes = json_object ();
    const char *name;
    json_t *value;
    json_object_foreach (
        json_object_get (fy_sqs_message_json (msg), "MessageAttributes"), name,
        value) if (strncmp (name, "ferry-", 6) != 0)
        json_object_set (attributes, name, value);
    const char *group = fy_sqs_message_attribute (msg, "MessageGroupId");
    fy_sqs_send_t send = { .body = fy_sqs_message_body (msg),
                           .attributes = attributes,
                           .group_id = group,
                           .dedup_id = group ? fy_sqs_message_id (msg) : NULL };
    fy_error_t err = { "" };
    int rc = fy_sqs_producer_send (producer, &send, msg, &err);
    if (rc) {
        fprintf (stderr, "ferryctl dlq: message %s: %s\n",
                 fy_sqs_message_id (msg), err.text);
        zlistx_add_end (self->unmoved, msg);
        self->send_failures++;
    }
    json_decref (attributes);
    return rc;
}

static int
s_redrive (s_dlq_t *self, size_t max, bool dry_run)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, s_message_free);
    int rc = FERRYCTL_OK;
    if (dry_run) {
        if (s_take (self, max, list, false))
            rc = FERRYCTL_FAILED;
        for (fy_sqs_message_t *msg = zlistx_first (list); msg;
             msg = zlistx_next (list))
            s_show (msg);
        if (s_settle (self, list, FY_SQS_VISIBILITY) != 0)
            rc = FERRYCTL_FAILED;
        printf ("would move %zu to %s (dry run: none moved)\n",
                zlistx_size (list), self->queue);
        zlistx_destroy (&list);
        return rc;
    }
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.report = s_on_moved;
    options.arg = self;
    options.give_up_ms = S_CALL_MS;
    fy_error_t err = { "" };
    fy_sqs_producer_t *producer = fy_sqs_producer_new (
        self->aws->sqs, self->aws->http, self->queue, &options, &err);
    if (!producer) {
        fprintf (stderr, "ferryctl dlq: %s\n", err.text);
        zlistx_destroy (&list);
        return FERRYCTL_USAGE;
    }
    self->moved = zlistx_new ();
    self->unmoved = zlistx_new ();
    size_t moved = 0, stuck = 0;
    //  A round: at most 10 taken, sent, then deleted or released.
    while (moved < max && rc == FERRYCTL_OK) {
        zlistx_purge (list);
        zlistx_purge (self->moved);
        zlistx_purge (self->unmoved);
        size_t want = max - moved < 10 ? max - moved : 10;
        if (s_take (self, want, list, true)) {
            rc = FERRYCTL_FAILED;
            break;
        }
        if (zlistx_size (list) == 0)
            break;
        for (fy_sqs_message_t *msg = zlistx_first (list); msg;
             msg = zlistx_next (list))
            (void) s_move (self, producer, msg);
        if (fy_sqs_producer_wait (producer, S_CALL_MS + 5000)) {
            //  Unreported: maybe sent, maybe not. Left hidden, they come
            //  back to the DLQ after S_HOLD_S; a copy may be in both.
            fprintf (stderr, "ferryctl dlq: %zu messages unanswered by %s\n",
                     fy_sqs_producer_pending (producer), self->queue);
            rc = FERRYCTL_FAILED;
        }
        long failures = s_settle (self, self->moved, FY_SQS_DELETE);
        if (failures != 0) {
            fprintf (stderr, "ferryctl dlq: messages sent to the main queue "
                             "but still in the DLQ will be moved again\n");
            rc = FERRYCTL_FAILED;
        }
        moved +=
            zlistx_size (self->moved) - (failures > 0 ? (size_t) failures : 0);
        if (zlistx_size (self->unmoved)) {
            stuck += zlistx_size (self->unmoved);
            (void) s_settle (self, self->unmoved, FY_SQS_VISIBILITY);
            rc = FERRYCTL_FAILED;
        }
    }
    fy_sqs_producer_destroy (&producer);
    printf ("moved %zu to %s, failed %zu; the DLQ holds about %s\n", moved,
            self->queue, stuck, s_approximate (self));
    zlistx_destroy (&self->moved);
    zlistx_destroy (&self->unmoved);
    zlistx_destroy (&list);
    return rc;
}

static int
s_purge (s_dlq_t *self)
{
    zlistx_t *list = zlistx_new ();
    zlistx_set_destructor (list, s_message_free);
    size_t purged = 0;
    int rc = FERRYCTL_OK;
    while (true) {
        zlistx_purge (list);
        if (s_take (self, 10, list, true)) {
            rc = FERRYCTL_FAILED;
            break;
        }
        if (zlistx_size (list) == 0)
            break;
        long failures = s_settle (self, list, FY_SQS_DELETE);
        if (failures != 0) {
            rc = FERRYCTL_FAILED;
            break;
        }
        purged += zlistx_size (list);
    }
    printf ("purged %zu from %s\n", purged, self->dlq);
    zlistx_destroy (&list);
    return rc;
}

static int
s_usage (void)
{
    fprintf (stderr,
             "usage: ferryctl dlq peek [-n N] | redrive [--dry-run] [--max N] "
             "| purge [--yes]\n"
             "       [--dlq URL] [--queue URL]   (default SQS_DLQ_URL, "
             "SQS_QUEUE_URL)\n");
    return FERRYCTL_USAGE;
}

int
ferryctl_dlq (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "dlq", required_argument, NULL, 'd' },
        { "queue", required_argument, NULL, 'q' },
        { "count", required_argument, NULL, 'n' },
        { "max", required_argument, NULL, 'm' },
        { "dry-run", no_argument, NULL, 'r' },
        { "yes", no_argument, NULL, 'y' },
        { NULL, 0, NULL, 0 }
    };
    s_dlq_t self = { .dlq = ferryctl_sqs_env ("SQS_DLQ_URL"),
                     .queue = ferryctl_sqs_env ("SQS_QUEUE_URL") };
    int64_t count = 10, max = INT64_MAX;
    bool dry_run = false, yes = false, counted = false, maxed = false;
    optind = 0;  //  0: glibc starts afresh, permutation included
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "n:", options, NULL))
           != -1) {
        switch (opt) {
            case 'd':
                self.dlq = optarg;
                break;
            case 'q':
                self.queue = optarg;
                break;
            case 'n':
            case 'm':
                if (fy_parse_int64 (optarg, 1, 1000000,
                                    opt == 'n' ? &count : &max)) {
                    fprintf (stderr, "ferryctl dlq: '%s' is not 1..1000000\n",
                             optarg);
                    return FERRYCTL_USAGE;
                }
                counted |= opt == 'n';
                maxed |= opt == 'm';
                break;
            case 'r':
                dry_run = true;
                break;
            case 'y':
                yes = true;
                break;
            default:
                return s_usage ();
        }
    }
    //  The one word left after the options, wherever they stood.
    if (optind != ctl->argc - 1)
        return s_usage ();
    const char *command = ctl->argv [optind];
    bool peek = strcmp (command, "peek") == 0;
    bool redrive = strcmp (command, "redrive") == 0;
    bool purge = strcmp (command, "purge") == 0;
    if (!(peek || redrive || purge) || (counted && !peek)
        || ((maxed || dry_run) && !redrive) || (yes && !purge))
        return s_usage ();
    if (!self.dlq || !*self.dlq || (redrive && (!self.queue || !*self.queue))) {
        fprintf (stderr, "ferryctl dlq: no %s URL (--%s, or %s)\n",
                 !self.dlq || !*self.dlq ? "DLQ" : "main queue",
                 !self.dlq || !*self.dlq ? "dlq" : "queue",
                 !self.dlq || !*self.dlq ? "SQS_DLQ_URL" : "SQS_QUEUE_URL");
        return FERRYCTL_USAGE;
    }
    if (purge && !yes) {
        fprintf (stderr,
                 "ferryctl dlq: purge deletes every message of %s "
                 "for good: refusing without --yes\n",
                 self.dlq);
        return FERRYCTL_USAGE;
    }
    fy_error_t err = { "" };
    self.aws = ferryctl_sqs_new (&err);
    if (!self.aws) {
        fprintf (stderr, "ferryctl dlq: %s\n", err.text);
        return FERRYCTL_USAGE;
    }
    int rc = peek      ? s_peek (&self, (size_t) count)
             : redrive ? s_redrive (&self, (size_t) max, dry_run)
                       : s_purge (&self);
    free (self.approximate);
    ferryctl_sqs_destroy (&self.aws);
    return rc;
}
