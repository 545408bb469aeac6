/*  notify_send: one claimed notification, from render to the ledger's
    record of how it went. A failure is permanent (the template does not
    render, the recipient has no address for the channel, the provider
    refused it for good: a 5xx, a bad address) and fails the notification
    at once; or retryable (a 4xx, a connection refused or broken, a
    timeout), and then it is tried again after a backoff that doubles with
    each attempt, with jitter, up to notify.max_attempts, keeping its claim
    meanwhile so that no other process takes it while this one lives.

    The e-mail's Message-ID is the delivery's id at the sender's domain,
    the same at every attempt: in the one window where a notification can
    go twice (doc/notify.md) the copies are the same message, which mail
    systems tell apart. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_send_email (notify_job_t *job);

//  The wait before the attempt after attempts: base * 2^(attempts - 1),
//  at most backoff_max_ms, then its upper half drawn at random ("equal
//  jitter"), so that failures that came together do not retry together.
static int64_t
s_backoff (notify_t *self, int attempts)
{
    int64_t wait = self->backoff_base_ms;
    for (int i = 1; i < attempts && wait < self->backoff_max_ms; i++)
        wait *= 2;
    if (wait > self->backoff_max_ms)
        wait = self->backoff_max_ms;
    return wait / 2 + (int64_t) (random () % (wait / 2 + 1));
}

static int
s_on_retry (zloop_t *loop, int timer_id, void *arg);

//  The job is over for this process: answer its origin, free it.
static void
s_job_end (notify_job_t *job, bool failed, const char *error)
{
    notify_t *self = job->owner;
    notify_origin_t *origin = job->origin;
    if (origin) {
        if (failed && !origin->failed) {
            origin->failed = true;
            snprintf (origin->reason, sizeof origin->reason,
                      "notify_failed: delivery %s: %s", job->job->id, error);
        }
        origin->pending--;
        notify_origin_settle (self, origin);
    }
    notify_job_destroy (&job);
    notify_sent_one (self);
}

//  Record how the attempt went: sent (provider, message_id), or failed
//  with error, retryable or not.
static void
s_settle (notify_job_t *job, bool sent, const char *provider,
          const char *message_id, const char *error, bool retryable)
{
    notify_t *self = job->owner;
    fy_ledger_job_t *claimed = job->job;
    fy_ledger_outcome_t outcome = {
        .id = claimed->id,
        .owner = self->owner,
        .status = sent ? FY_LEDGER_SENT : FY_LEDGER_FAILED,
        .provider = provider,
        .message_id = message_id,
        .template_version = job->version [0] ? job->version : NULL,
        .error = error,
        .lease_s = self->lease_s,
    };
    char gave_up [400];
    if (!sent && retryable) {
        if (claimed->attempts < self->max_attempts && !self->stopping) {
            outcome.status = FY_LEDGER_QUEUED;
            outcome.retry_in_ms = s_backoff (self, claimed->attempts);
        }
        else {
            snprintf (gave_up, sizeof gave_up, "gave up after %d attempts: %s",
                      claimed->attempts, error);
            outcome.error = gave_up;
        }
    }
    fy_error_t err = { "" };
    if (fy_ledger_settle (self->store, &outcome, &err)) {
        //  Not recorded: the claim stays until its lease runs out, and
        //  the notification is then another process's to send again
        //  (doc/notify.md, "The one window").
        fy_log_warn ("notify: delivery=%s %s but not recorded: %s", claimed->id,
                     fy_ledger_status_name (outcome.status), err.text);
        notify_store_failed (self, errno, &err);
        s_job_end (job, false, NULL);
        return;
    }
    fy_metric_inc (self->settled [outcome.status]);
    if (outcome.status == FY_LEDGER_QUEUED) {
        fy_metric_inc (self->retries);
        fy_log_info ("notify: delivery=%s attempt %d failed, again in %lld "
                     "ms: %s",
                     claimed->id, claimed->attempts,
                     (long long) outcome.retry_in_ms, error);
        job->timer =
            zloop_timer (fy_worker_loop (self->worker),
                         (size_t) outcome.retry_in_ms, 1, s_on_retry, job);
        return;
    }
    if (outcome.status == FY_LEDGER_FAILED)
        fy_log_warn ("notify: delivery=%s failed: %s", claimed->id,
                     outcome.error);
    else
        fy_log_debug ("notify: delivery=%s sent, %s", claimed->id, message_id);
    s_job_end (job, outcome.status == FY_LEDGER_FAILED, outcome.error);
}

//  A failure found before the provider was asked.
static void
s_fail (notify_job_t *job, bool retryable, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_fail (notify_job_t *job, bool retryable, const char *format, ...)
{
    char error [300];
    va_list args;
    va_start (args, format);
    vsnprintf (error, sizeof error, format, args);
    va_end (args);
    s_settle (job, false, NULL, NULL, error, retryable);
}

static int
s_on_retry (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    notify_job_t *job = arg;
    notify_t *self = job->owner;
    job->timer = -1;
    fy_ledger_job_t *claimed = NULL;
    fy_error_t err = { "" };
    if (fy_ledger_claim (self->store, job->job->id, self->owner, self->lease_s,
                         &claimed, &err)) {
        //  The database is away: still ours; try again later.
        notify_store_failed (self, errno, &err);
        job->timer = zloop_timer (fy_worker_loop (self->worker),
                                  (size_t) s_backoff (self, job->job->attempts),
                                  1, s_on_retry, job);
        return 0;
    }
    if (!claimed) {
        //  Another process has it (this one's claim ran out).
        s_job_end (job, false, NULL);
        return 0;
    }
    fy_ledger_job_destroy (&job->job);
    job->job = claimed;
    notify_send (job);
    return 0;
}

void
notify_send (notify_job_t *job)
{
    notify_t *self = job->owner;
    fy_metric_inc (self->attempts);
    const char *channel = job->job->channel;
    if (strcmp (channel, "email") == 0)
        s_send_email (job);
    else
        s_fail (job, false, "no provider for channel %s", channel);
}

//  ---------------------------------------------------------------------
//  E-mail

static void
s_on_smtp (const fy_smtp_result_t *result, void *arg)
{
    notify_job_t *job = arg;
    notify_t *self = job->owner;
    job->sending = false;
    self->sending--;
    if (result->ok)
        s_settle (job, true, "smtp", result->message_id, NULL, false);
    else {
        char error [300];
        snprintf (error, sizeof error, "smtp %d: %s", result->reply_code,
                  result->error);
        s_settle (job, false, "smtp", NULL, error, result->retryable);
    }
}

//  The data a template sees: the notification's, with its recipient and
//  locale unless the data has its own. Caller owns result.
static json_t *
s_render_data (fy_ledger_job_t *claimed)
{
    json_t *data = json_is_object (claimed->data) ? json_copy (claimed->data)
                                                  : json_object ();
    if (!json_object_get (data, "recipient"))
        json_object_set (data, "recipient", claimed->recipient);
    if (!json_object_get (data, "locale"))
        json_object_set_new (data, "locale", json_string (claimed->locale));
    return data;
}

static void
s_send_email (notify_job_t *job)
{
    notify_t *self = job->owner;
    fy_ledger_job_t *claimed = job->job;
    const char *to =
        json_string_value (json_object_get (claimed->recipient, "email"));
    if (!to) {
        s_fail (job, false, "the recipient has no e-mail address");
        return;
    }
    if (!self->smtp) {
        s_fail (job, false, "no e-mail provider (notify.smtp_url)");
        return;
    }
    json_t *data = s_render_data (claimed);
    notify_rendered_t out;
    fy_error_t err = { "" };
    int rc = notify_templates_render (self->templates, claimed->template_name,
                                      claimed->locale, data, &out, &err);
    json_decref (data);
    if (rc) {
        s_fail (job, false, "%s", err.text);
        return;
    }
    memcpy (job->version, out.version, sizeof job->version);
    fy_cfg_t *cfg = self->cfg;
    const char *from = fy_cfg_str (cfg, "notify", "email_from");
    const char *domain = strchr (from, '@');
    char id [FY_UUID_SIZE + 256];
    snprintf (id, sizeof id, "%s@%s", claimed->id,
              domain ? domain + 1 : "localhost");
    char version [200];
    snprintf (version, sizeof version, "%s@%.12s", out.dir, out.version);
    fy_smtp_message_t *message = fy_smtp_message_new ();
    const char *name =
        json_string_value (json_object_get (claimed->recipient, "name"));
    if (!out.subject)
        fy_error_set (&err, "template %s has no subject.mustache", out.dir);
    if (!out.subject
        || fy_smtp_message_set_from (
            message, fy_cfg_str (cfg, "notify", "email_from_name"), from, &err)
        || fy_smtp_message_add_to (message, name, to, &err)
        || fy_smtp_message_set_subject (message, out.subject, &err)
        || (out.text && fy_smtp_message_set_text (message, out.text, &err))
        || (out.html && fy_smtp_message_set_html (message, out.html, &err))
        || fy_smtp_message_set_id (message, id, &err)
        || fy_smtp_message_add_header (message, "X-Ferry-Delivery", claimed->id,
                                       &err)
        || fy_smtp_message_add_header (message, "X-Ferry-Template", version,
                                       &err)) {
        notify_rendered_free (&out);
        fy_smtp_message_destroy (&message);
        s_fail (job, false, "%s", err.text);
        return;
    }
    notify_rendered_free (&out);
    if (fy_smtp_send (self->smtp, &message, s_on_smtp, job, &job->smtp_id,
                      &err)) {
        s_fail (job, errno != EINVAL, "%s", err.text);
        return;
    }
    job->sending = true;
    self->sending++;
    //  Started outside the client's run: on the loop's next turn, so the
    //  outcome never comes back inside this call.
    fy_loop_arm (self->http_source);
}
