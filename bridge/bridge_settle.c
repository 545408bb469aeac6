/*  bridge_settle: how a message ends in SQS, by what the broker answers.
    An ACK deletes it; a retryable NACK makes it visible again after a
    backoff; a permanent NACK, or a message that is no valid event, goes
    to the DLQ and is then deleted; a LEASE extends its visibility while
    the work goes on; a session lost publishes it again. Each settling
    operation is a batch entry (bridge_batch.c) whose outcome comes back
    here. */
#include "bridge_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  --------------------------------------------------------------------
//  Settling: delete, change visibility, send to the DLQ

//  Make msg visible again in timeout_s seconds; it is then done here.
void
bridge_release (bridge_t *self, bridge_msg_t *msg, int timeout_s)
{
    bridge_unpend (self, msg);
    bridge_unpublish (self, msg);
    msg->state = BRIDGE_SETTLING;
    if (bridge_batch_visibility (msg->queue->visibility, msg,
                                 fy_sqs_message_receipt (msg->sqs),
                                 timeout_s)) {
        fy_log_warn ("bridge: message %s: cannot change its visibility: %s",
                     bridge_msg_id (msg), strerror (errno));
        bridge_msg_finish (msg);
        return;
    }
    msg->ops++;
}

size_t
bridge_release_group (bridge_t *self, bridge_queue_t *queue, const char *group)
{
    //  Copied: it may live in a message released here.
    char *name = fy_xstrdup (group);
    size_t count = 0;
    bridge_msg_t *held = bridge_pending_first (self);
    while (held) {
        bridge_msg_t *next = bridge_pending_next (self, held);
        if (held->queue == queue && held->group
            && strcmp (held->group, name) == 0) {
            bridge_release (self, held, 0);
            fy_metric_inc (self->released);
            count++;
        }
        held = next;
    }
    free (name);
    return count;
}

//  A retryable failure: visible again after a backoff that doubles with
//  each receive, so a message that keeps failing comes back ever later
//  until the queue's redrive policy moves it to the DLQ.
static void
s_backoff (bridge_t *self, bridge_msg_t *msg)
{
    int count = msg->receive_count > 0 ? msg->receive_count : 1;
    int64_t timeout = self->backoff_base_s;
    for (int i = 1; i < count && timeout < self->backoff_cap_s; i++)
        timeout *= 2;
    if (timeout > self->backoff_cap_s)
        timeout = self->backoff_cap_s;
    fy_log_info ("bridge: message %s: retry in %lld s (receive %d)",
                 bridge_msg_id (msg), (long long) timeout, count);
    bridge_release (self, msg, (int) timeout);
}

static void
s_delete (bridge_t *self, bridge_msg_t *msg)
{
    bridge_unpend (self, msg);
    bridge_unpublish (self, msg);
    msg->state = BRIDGE_SETTLING;
    if (bridge_batch_delete (msg->queue->deletes, msg,
                             fy_sqs_message_receipt (msg->sqs))) {
        fy_log_warn ("bridge: message %s: cannot delete it: %s",
                     bridge_msg_id (msg), strerror (errno));
        bridge_msg_finish (msg);
        return;
    }
    msg->ops++;
}

//  A permanent failure: to the DLQ with the reason, then deleted. Without
//  a DLQ the message goes the retry way, and the queue's own redrive
//  policy (or an operator) deals with it: never dropped.
void
bridge_reject (bridge_t *self, bridge_msg_t *msg, const char *reason,
               const char *error)
{
    bridge_unpend (self, msg);
    bridge_unpublish (self, msg);
    msg->state = BRIDGE_SETTLING;
    msg->reason = reason;
    free (msg->error);
    msg->error = fy_xstrdup (error);
    fy_log_warn ("bridge: message %s rejected: reason=%s error=\"%s\"",
                 bridge_msg_id (msg), reason, error);
    if (!self->dlq) {
        fy_log_error ("bridge: message %s: no bridge.dlq_url to send it to",
                      bridge_msg_id (msg));
        s_backoff (self, msg);
        return;
    }
    char count [16], size [24];
    const char *body = fy_sqs_message_body (msg->sqs);
    size_t len = strlen (body);
    snprintf (count, sizeof count, "%d", msg->receive_count);
    snprintf (size, sizeof size, "%zu", len);
    //  SQS refuses empty attribute values.
    const char *attrs [] = { "ferry-error",
                             msg->error [0] ? msg->error : "-",
                             "ferry-reason",
                             reason,
                             "ferry-message-id",
                             bridge_msg_id (msg),
                             "ferry-receive-count",
                             count,
                             "ferry-queue",
                             msg->queue->url,
                             NULL,
                             NULL,
                             NULL };
    int rc = bridge_batch_send (self->dlq, msg, body, attrs);
    if (rc && errno == EMSGSIZE) {
        //  SQS takes bodies up to 1 MiB, fy_sqs's batches 256 KiB: a body
        //  that big goes to the DLQ cut (at a UTF-8 boundary), marked with
        //  its full size, rather than come back forever.
        size_t keep = FY_SQS_PAYLOAD_MAX - BRIDGE_DLQ_ROOM;
        while (keep > 0 && ((unsigned char) body [keep] & 0xC0) == 0x80)
            keep--;
        char *cut = fy_xstrndup (body, keep);
        attrs [10] = "ferry-truncated-from";
        attrs [11] = size;
        rc = bridge_batch_send (self->dlq, msg, cut, attrs);
        free (cut);
        if (rc == 0)
            fy_log_warn ("bridge: message %s: body of %zu bytes cut to %zu "
                         "for the DLQ",
                         bridge_msg_id (msg), len, keep);
    }
    if (rc) {
        fy_log_error ("bridge: message %s: cannot send it to the DLQ: %s",
                      bridge_msg_id (msg), strerror (errno));
        s_backoff (self, msg);
        return;
    }
    msg->ops++;
}

void
bridge_on_delete (void *ctx, const fy_sqs_entry_t *entry, void *arg)
{
    bridge_t *self = arg;
    bridge_msg_t *msg = ctx;
    if (!bridge_msg_unref (msg))
        return;
    if (entry->ok)
        fy_metric_inc (self->deleted);
    else {
        //  It comes back after its visibility timeout: at-least-once.
        bridge_entry_error (self, "DeleteMessageBatch");
        fy_log_warn ("bridge: message %s not deleted: %s: %s",
                     bridge_msg_id (msg), entry->code ? entry->code : "",
                     entry->message ? entry->message : "");
    }
    bridge_msg_finish (msg);
}

void
bridge_on_visibility (void *ctx, const fy_sqs_entry_t *entry, void *arg)
{
    bridge_t *self = arg;
    bridge_msg_t *msg = ctx;
    if (!bridge_msg_unref (msg))
        return;
    if (!entry->ok) {
        bridge_entry_error (self, "ChangeMessageVisibilityBatch");
        fy_log_warn ("bridge: message %s: visibility not changed: %s: %s",
                     bridge_msg_id (msg), entry->code ? entry->code : "",
                     entry->message ? entry->message : "");
    }
    bridge_msg_finish (msg);
}

void
bridge_on_extend (void *ctx, const fy_sqs_entry_t *entry, void *arg)
{
    bridge_t *self = arg;
    bridge_msg_t *msg = ctx;
    if (!bridge_msg_unref (msg))
        return;
    if (entry->ok)
        fy_metric_inc (self->extended);
    else {
        //  Usually the message's visibility had already lapsed: SQS may
        //  deliver it again, and the event's id makes that harmless.
        bridge_entry_error (self, "ChangeMessageVisibilityBatch");
        fy_log_warn ("bridge: message %s: visibility not extended: %s: %s",
                     bridge_msg_id (msg), entry->code ? entry->code : "",
                     entry->message ? entry->message : "");
    }
}

void
bridge_on_dlq (void *ctx, const fy_sqs_entry_t *entry, void *arg)
{
    bridge_t *self = arg;
    bridge_msg_t *msg = ctx;
    if (!bridge_msg_unref (msg))
        return;
    if (!entry->ok) {
        bridge_entry_error (self, "SendMessageBatch");
        fy_log_error ("bridge: message %s: DLQ send failed: %s: %s",
                      bridge_msg_id (msg), entry->code ? entry->code : "",
                      entry->message ? entry->message : "");
        s_backoff (self, msg);
        return;
    }
    const char *labels [] = { "reason", msg->reason, NULL };
    fy_metric_inc (fy_metrics_counter (self->metrics,
                                       "ferry_bridge_dlq_reason_total",
                                       "messages sent to the DLQ, by "
                                       "reason",
                                       labels));
    fy_metric_inc (self->dlq_total);
    fy_log_notice ("bridge: message %s sent to the DLQ as %s: reason=%s",
                   bridge_msg_id (msg),
                   entry->message_id ? entry->message_id : "?", msg->reason);
    //  Only now may it leave the main queue.
    s_delete (self, msg);
}

void
bridge_on_delete_call (const fy_sqs_result_t *result, int64_t elapsed_ms,
                       void *arg)
{
    bridge_observe (arg, "DeleteMessageBatch", result, elapsed_ms);
}

void
bridge_on_visibility_call (const fy_sqs_result_t *result, int64_t elapsed_ms,
                           void *arg)
{
    bridge_observe (arg, "ChangeMessageVisibilityBatch", result, elapsed_ms);
}

void
bridge_on_dlq_call (const fy_sqs_result_t *result, int64_t elapsed_ms,
                    void *arg)
{
    bridge_observe (arg, "SendMessageBatch", result, elapsed_ms);
}
//  --------------------------------------------------------------------
//  The broker's answers

void
bridge_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    bridge_t *self = arg;
    bridge_msg_t *msg = zhashx_lookup (self->published, &seq);
    if (!msg)
        return;  //  a seq of a session that was reset
    fy_metric_inc (self->acked);
    int64_t took = fy_clock_mono_ms () - msg->received_ms;
    fy_metric_observe (self->ack_seconds, (double) took / 1000.0);
    if (took > self->ack_max_ms)
        self->ack_max_ms = took;
    s_delete (self, msg);
}

//  A reason the broker sent that is one word is kept as the DLQ's
//  reason ("poison"); a worker's free text goes in the error only.
static const char *
s_reason_word (const char *reason)
{
    static const char *words [] = { "poison",    "no_worker", "draining",
                                    "no_credit", "expired",   NULL };
    for (size_t i = 0; words [i]; i++)
        if (strcmp (reason, words [i]) == 0)
            return words [i];
    return "rejected";
}

void
bridge_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
                const char *reason, void *arg)
{
    (void) client;
    bridge_t *self = arg;
    bridge_msg_t *msg = zhashx_lookup (self->published, &seq);
    if (!msg)
        return;
    fy_metric_inc (self->nacked);
    if (retryable) {
        fy_metric_inc (self->nacked_retryable);
        fy_log_info ("bridge: message %s event %s NACKed: %s",
                     bridge_msg_id (msg), msg->event_id, reason);
        //  Copied: msg may be gone once it is handed back.
        char *group = msg->group ? fy_xstrdup (msg->group) : NULL;
        bridge_queue_t *queue = msg->queue;
        s_backoff (self, msg);
        //  Later messages of its FIFO group must not overtake it: they
        //  go back too, and SQS hands them out after it.
        if (group)
            bridge_release_group (self, queue, group);
        free (group);
    }
    else
        bridge_reject (self, msg, s_reason_word (reason), reason);
    bridge_pump (self);
}

void
bridge_on_lease (fy_client_t *client, const uint64_t *seqs, size_t count,
                 void *arg)
{
    (void) client;
    bridge_t *self = arg;
    int64_t now = fy_clock_mono_ms ();
    if (self->last_lease_ms)
        self->lease_gap_ms = now - self->last_lease_ms;
    self->last_lease_ms = now;
    for (size_t i = 0; i < count; i++) {
        bridge_msg_t *msg = zhashx_lookup (self->published, &seqs [i]);
        if (!msg)
            continue;
        bridge_queue_t *queue = msg->queue;
        //  Extend when the deadline is within a third of the timeout, or
        //  would pass before the next LEASE is due.
        int64_t margin = queue->visibility_ms / 3;
        int64_t late = self->lease_gap_ms + self->flush_ms + 2 * BRIDGE_TICK_MS;
        if (late > margin)
            margin = late;
        if (msg->deadline_ms - now > margin)
            continue;
        int timeout_s = (int) (queue->visibility_ms / 1000);
        if (bridge_batch_visibility (queue->extend, msg,
                                     fy_sqs_message_receipt (msg->sqs),
                                     timeout_s)) {
            fy_log_warn ("bridge: message %s: cannot extend: %s",
                         bridge_msg_id (msg), strerror (errno));
            continue;
        }
        msg->ops++;
        msg->deadline_ms = now + queue->visibility_ms;
    }
}

static int
s_seq_compare (const void *a, const void *b)
{
    const bridge_msg_t *x = *(bridge_msg_t *const *) a,
                       *y = *(bridge_msg_t *const *) b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

//  The broker lost the session: everything published and unanswered is
//  void there. Publish it all again first, in the order it went out.
void
bridge_on_reset (fy_client_t *client, void *arg)
{
    (void) client;
    bridge_t *self = arg;
    size_t count = zhashx_size (self->published);
    if (count == 0)
        return;
    int64_t now = fy_clock_mono_ms ();
    bridge_msg_t **msgs = fy_xcalloc (count, sizeof *msgs);
    size_t n = 0;
    for (bridge_msg_t *msg = zhashx_first (self->published); msg;
         msg = zhashx_next (self->published))
        msgs [n++] = msg;
    qsort (msgs, n, sizeof *msgs, s_seq_compare);
    zhashx_purge (self->published);
    for (size_t i = n; i-- > 0;) {
        bridge_msg_t *msg = msgs [i];
        if (msg->group)
            zhashx_delete (msg->queue->busy, msg->group);
        msg->seq = 0;
        msg->state = BRIDGE_PENDING;
        //  Stopping, they go back to SQS instead.
        if (self->stopping)
            bridge_release (self, msg, 0);
        else
            bridge_pend (self, msg, now, true);
    }
    if (!self->stopping)
        fy_metric_add (self->republished, (double) n);
    fy_log_notice ("bridge: broker session reset; republishing %zu "
                   "messages",
                   n);
    free (msgs);
}
