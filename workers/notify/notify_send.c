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

#include "aws/fy_ses.h"
#include "aws/fy_sns.h"

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

//  What follows an outcome the ledger recorded (recorded false: it was
//  not, as the database failed or the claim is gone; err says which).
static void
s_settled (notify_job_t *job, bool recorded, int errnum, const fy_error_t *err)
{
    notify_t *self = job->owner;
    fy_ledger_job_t *claimed = job->job;
    fy_ledger_outcome_t *outcome = &job->outcome;
    if (!recorded) {
        //  The claim stays until its lease runs out, and the
        //  notification is then another process's to send again
        //  (doc/notify.md, "The one window").
        fy_log_warn ("notify: delivery=%s %s but not recorded: %s", claimed->id,
                     fy_ledger_status_name (outcome->status), err->text);
        notify_store_failed (self, errnum, err);
        s_job_end (job, false, NULL);
        return;
    }
    fy_metric_inc (self->settled [outcome->status]);
    if (outcome->status == FY_LEDGER_QUEUED) {
        fy_metric_inc (self->retries);
        fy_log_info ("notify: delivery=%s attempt %d failed, again in %lld "
                     "ms: %s",
                     claimed->id, claimed->attempts,
                     (long long) outcome->retry_in_ms, outcome->error);
        job->timer =
            zloop_timer (fy_worker_loop (self->worker),
                         (size_t) outcome->retry_in_ms, 1, s_on_retry, job);
        return;
    }
    if (outcome->status == FY_LEDGER_FAILED)
        fy_log_warn ("notify: delivery=%s failed: %s", claimed->id,
                     outcome->error);
    else
        fy_log_debug ("notify: delivery=%s sent, %s", claimed->id,
                      outcome->message_id);
    s_job_end (job, outcome->status == FY_LEDGER_FAILED, outcome->error);
}

void
notify_settle_flush (notify_t *self)
{
    if (self->settle_timer >= 0) {
        zloop_timer_end (fy_worker_loop (self->worker), self->settle_timer);
        self->settle_timer = -1;
    }
    size_t count = self->settling_count;
    if (count == 0)
        return;
    notify_job_t **jobs = self->settling;
    self->settling = fy_xcalloc (self->settling_size, sizeof *self->settling);
    self->settling_count = 0;
    fy_ledger_outcome_t *outcomes = fy_xcalloc (count, sizeof *outcomes);
    bool *done = fy_xcalloc (count, sizeof *done);
    for (size_t i = 0; i < count; i++)
        outcomes [i] = jobs [i]->outcome;
    fy_error_t err = { "" };
    int rc = fy_ledger_settle_many (self->store, outcomes, count, done, &err);
    int errnum = rc ? errno : ENOENT;
    for (size_t i = 0; i < count; i++) {
        fy_error_t lost = { "" };
        if (rc == 0 && !done [i])
            fy_error_set (&lost, "the claim is gone (its lease ran out)");
        s_settled (jobs [i], rc == 0 && done [i], errnum, rc ? &err : &lost);
    }
    free (outcomes);
    free (done);
    free (jobs);
}

static int
s_on_settle_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    notify_t *self = arg;
    self->settle_timer = -1;
    notify_settle_flush (self);
    return 0;
}

//  Record how the attempt went: sent (provider, message_id), or failed
//  with error, retryable or not. The outcomes of a loop's turn go to the
//  ledger together, in one statement, at the end of the turn.
static void
s_settle (notify_job_t *job, bool sent, const char *provider,
          const char *message_id, const char *error, bool retryable)
{
    notify_t *self = job->owner;
    fy_ledger_job_t *claimed = job->job;
    if (message_id && message_id != job->message_id)
        snprintf (job->message_id, sizeof job->message_id, "%s", message_id);
    fy_ledger_status_t status = sent ? FY_LEDGER_SENT : FY_LEDGER_FAILED;
    int64_t retry_in_ms = 0;
    if (!sent && retryable && claimed->attempts < self->max_attempts) {
        status = FY_LEDGER_QUEUED;
        retry_in_ms = s_backoff (self, claimed->attempts);
    }
    if (!sent && retryable && status == FY_LEDGER_FAILED)
        snprintf (job->outcome_error, sizeof job->outcome_error,
                  "gave up after %d attempts: %s", claimed->attempts, error);
    else if (!sent)
        snprintf (job->outcome_error, sizeof job->outcome_error, "%s", error);
    //  A push's message id may come with a retry (a device accepted it,
    //  another is tried again), or stay the one recorded (NULL).
    job->outcome = (fy_ledger_outcome_t) {
        .id = claimed->id,
        .owner = self->owner,
        .status = status,
        .provider = provider,
        .message_id = job->message_id [0] ? job->message_id : NULL,
        .template_version = job->version [0] ? job->version : NULL,
        .error = sent ? NULL : job->outcome_error,
        .retry_in_ms = retry_in_ms,
        .lease_s = self->lease_s,
        .tokens = job->settled,
        .token_count = job->settled_count,
    };
    if (self->settling_count == self->settling_size) {
        self->settling_size =
            self->settling_size ? 2 * self->settling_size : 64;
        self->settling = fy_xrealloc (
            self->settling, self->settling_size * sizeof *self->settling);
    }
    self->settling [self->settling_count++] = job;
    if (self->settle_timer < 0)
        self->settle_timer = zloop_timer (fy_worker_loop (self->worker), 0, 1,
                                          s_on_settle_timer, self);
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

//  ---------------------------------------------------------------------
//  Sending

static void
s_dispatch (notify_job_t *job);

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

//  The sends of job's attempt: one, or a push's one per device.
static size_t
s_sends (notify_job_t *job)
{
    return job->provider->kind == NOTIFY_FCM ? job->token_count : 1;
}

static int
s_on_rate_timer (zloop_t *loop, int timer_id, void *arg);

//  The provider's bucket answered: go, or wait and ask again.
static void
s_on_token (int64_t wait_ms, void *arg)
{
    notify_job_t *job = arg;
    job->token = NULL;
    if (wait_ms <= 0) {
        s_dispatch (job);
        return;
    }
    job->timer = zloop_timer (fy_worker_loop (job->owner->worker),
                              (size_t) wait_ms, 1, s_on_rate_timer, job);
}

static int
s_on_rate_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    notify_job_t *job = arg;
    job->timer = -1;
    job->token = notify_provider_token (job->owner->providers, job->provider,
                                        s_sends (job), s_on_token, job);
    return 0;
}

//  A recipient named by its user id only (a rule's recipient with a
//  userId and not the channel's address): the address and the name from
//  the recipient directory, into the job's recipient. Returns 0, or -1
//  having failed the job: for good when the directory does not know the
//  user, retryable when its database failed.
static int
s_resolve_recipient (notify_job_t *job)
{
    notify_t *self = job->owner;
    json_t *recipient = job->job->recipient;
    const char *channel = job->job->channel;
    const char *key = strcmp (channel, "email") == 0 ? "email"
                      : strcmp (channel, "sms") == 0 ? "phone"
                                                     : NULL;
    const char *user =
        json_string_value (json_object_get (recipient, "userId"));
    const char *managed =
        json_string_value (json_object_get (recipient, "managerOf"));
    if (!user && managed) {
        //  Left by s_managers: the directory named no manager.
        fy_metric_inc (self->unknown_recipients);
        s_fail (job, false,
                "no_manager: user %s has no manager in the recipient "
                "directory",
                managed);
        return -1;
    }
    if (!key || !user || json_object_get (recipient, key))
        return 0;
    fy_error_t err = { "" };
    json_t *profile = fy_ledger_directory_get (self->store, user, &err);
    if (!profile && errno == ENOENT) {
        fy_metric_inc (self->unknown_recipients);
        s_fail (job, false,
                "unknown_recipient: user %s is not in the recipient "
                "directory (no user.created or user.updated seen)",
                user);
        return -1;
    }
    if (!profile) {
        notify_store_failed (self, errno, &err);
        s_fail (job, true, "recipient directory: %s", err.text);
        return -1;
    }
    json_t *address = json_object_get (profile, key);
    if (json_is_string (address))
        json_object_set (recipient, key, address);
    const char *display =
        json_string_value (json_object_get (profile, "displayName"));
    const char *first =
        json_string_value (json_object_get (profile, "firstName"));
    const char *last =
        json_string_value (json_object_get (profile, "lastName"));
    if (!json_object_get (recipient, "name") && (display || first))
        json_object_set_new (recipient, "name",
                             display ? json_string (display)
                                     : json_sprintf ("%s%s%s", first,
                                                     last ? " " : "",
                                                     last ? last : ""));
    json_decref (profile);
    return 0;
}

//  A push's device tokens for this attempt, into job (doc/notify.md,
//  "Push devices"): the recipient's deviceTokens, else its user's live
//  registered devices, the newest first; without those dead or settled by
//  an earlier attempt. Returns 0, or -1 having settled the job: failed
//  (none, or the database failed: retryable), or sent when every device
//  left has had it already.
static int
s_push_tokens (notify_job_t *job)
{
    notify_t *self = job->owner;
    fy_ledger_job_t *claimed = job->job;
    json_t *given = json_object_get (claimed->recipient, "deviceTokens");
    const char *user =
        json_string_value (json_object_get (claimed->recipient, "userId"));
    if (!json_is_array (given))
        given = NULL;
    fy_error_t err = { "" };
    if (fy_ledger_push_tokens (self->store, claimed->id, user, given,
                               NOTIFY_TOKENS_MAX, &job->tokens,
                               &job->token_count, &job->sent_before, &err)) {
        int errnum = errno;
        notify_store_failed (self, errnum, &err);
        s_fail (job, errnum != EINVAL, "device tokens: %s", err.text);
        return -1;
    }
    if (job->token_count > 0)
        return 0;
    if (job->sent_before > 0)
        s_settle (job, true, job->provider->name, NULL, NULL, false);
    else if (given || !user)
        s_fail (job, false, "the recipient has no live device token");
    else {
        fy_metric_inc (self->unknown_recipients);
        s_fail (job, false,
                "no_device: user %s has no live device token (none "
                "registered, or FCM called each unregistered)",
                user);
    }
    return -1;
}

//  An in_app notification's "provider" is the ledger (doc/notify.md,
//  "In-app notifications"): rendered, it is stored in its user's inbox by
//  the statement that records it sent, so it is there once, and no
//  external call makes a window where it could go twice.
static void
s_send_inbox (notify_job_t *job)
{
    notify_rendered_t *out = &job->rendered;
    if (!job->job->user_id) {
        s_fail (job, false,
                "the recipient has no userId: an in-app notification goes "
                "to a user's inbox");
        return;
    }
    if (!out->subject) {
        s_fail (job, false, "template %s has no subject.mustache", out->dir);
        return;
    }
    s_settle (job, true, NOTIFY_INBOX, NULL, NULL, false);
    job->outcome.inbox_subject = out->subject;
    job->outcome.inbox_text = out->text;
}

void
notify_send (notify_job_t *job)
{
    notify_t *self = job->owner;
    fy_ledger_job_t *claimed = job->job;
    fy_metric_inc (self->attempts);
    notify_rendered_free (&job->rendered);
    notify_job_clear_tokens (job);
    bool in_app = strcmp (claimed->channel, "in_app") == 0;
    job->route =
        in_app ? NULL
               : notify_providers_route (self->providers, claimed->channel);
    job->provider = job->route ? notify_route_pick (job->route) : NULL;
    if (!in_app && !job->provider) {
        s_fail (job, false, "no provider for channel %s", claimed->channel);
        return;
    }
    if (s_resolve_recipient (job))
        return;
    json_t *data = s_render_data (claimed);
    fy_error_t err = { "" };
    int rc =
        notify_templates_render (self->templates, claimed->template_name,
                                 claimed->locale, data, &job->rendered, &err);
    json_decref (data);
    if (rc) {
        s_fail (job, false, "%s", err.text);
        return;
    }
    memcpy (job->version, job->rendered.version, sizeof job->version);
    if (in_app) {
        s_send_inbox (job);
        return;
    }
    if (job->provider->kind == NOTIFY_FCM && s_push_tokens (job))
        return;
    if (notify_provider_is_limited (self->providers, job->provider))
        job->token = notify_provider_token (self->providers, job->provider,
                                            s_sends (job), s_on_token, job);
    else
        s_dispatch (job);
}

//  One of the attempt's calls ended. When the last has, the attempt's
//  outcome. A push goes to each device once (doc/notify.md, "Push
//  devices"): while a device's failure is retryable and attempts are
//  left, it is tried again, and only the devices not settled yet; then
//  it is sent when one device accepted it, at this attempt or before,
//  else failed (retryable or not as its calls). Other channels make one
//  call: sent, or failed.
static void
s_call_done (notify_job_t *job, bool ok, bool retryable, const char *message_id,
             const char *error)
{
    if (ok) {
        job->any_ok = true;
        if (message_id && !job->message_id [0])
            snprintf (job->message_id, sizeof job->message_id, "%s",
                      message_id);
    }
    else {
        job->any_retryable = job->any_retryable || retryable;
        if (!job->error [0])
            snprintf (job->error, sizeof job->error, "%s", error);
    }
    if (--job->calls_left > 0)
        return;
    notify_t *self = job->owner;
    job->sending = false;
    self->sending--;
    notify_send_waiting (self);
    notify_route_outcome (job->route, job->provider, job->any_ok,
                          job->any_retryable);
    bool reached = job->any_ok || job->sent_before > 0;
    bool again = job->any_retryable && job->job->attempts < self->max_attempts;
    if (reached && !again)
        s_settle (job, true, job->provider->name, NULL, NULL, false);
    else
        s_settle (job, false, job->provider->name, NULL, job->error,
                  job->any_retryable);
}

static void
s_on_smtp (const fy_smtp_result_t *result, void *arg)
{
    notify_part_t *part = arg;
    char error [300] = "";
    if (!result->ok)
        snprintf (error, sizeof error, "smtp %d: %s", result->reply_code,
                  result->error);
    s_call_done (part->job, result->ok, result->retryable, result->message_id,
                 error);
}

//  A push's call to device token index ended: unless it may succeed
//  later, what it came to is kept for the outcome, so that no attempt
//  sends to that device again.
static void
s_token_settled (notify_job_t *job, size_t index,
                 const fy_http_op_result_t *result, const char *error)
{
    if (result->error && result->retryable && !result->token_dead)
        return;
    size_t i = job->settled_count++;
    fy_ledger_token_t *token = &job->settled [i];
    token->token = job->tokens [index];
    token->status = result->error == 0   ? FY_LEDGER_TOKEN_SENT
                    : result->token_dead ? FY_LEDGER_TOKEN_DEAD
                                         : FY_LEDGER_TOKEN_REFUSED;
    job->settled_text [i] = fy_xstrdup (
        result->error == 0 && result->message_id ? result->message_id : error);
    if (result->error == 0)
        token->message_id = job->settled_text [i];
    else
        token->error = job->settled_text [i];
}

void
notify_job_clear_tokens (notify_job_t *job)
{
    for (size_t i = 0; i < job->token_count; i++)
        free (job->tokens [i]);
    free (job->tokens);
    job->tokens = NULL;
    job->token_count = job->sent_before = 0;
    for (size_t i = 0; i < job->settled_count; i++)
        free (job->settled_text [i]);
    memset (job->settled, 0, sizeof job->settled);
    job->settled_count = 0;
}

//  SES, SNS and FCM: one call of the attempt ended.
static void
s_on_op (const fy_http_op_result_t *result, void *arg)
{
    notify_part_t *part = arg;
    notify_job_t *job = part->job;
    notify_t *self = job->owner;
    char error [300] = "";
    if (result->error)
        snprintf (error, sizeof error, "%s %d %s: %s", job->provider->name,
                  result->status, result->code ? result->code : "",
                  result->message);
    if (job->provider->kind == NOTIFY_FCM)
        s_token_settled (job, part->index, result, error);
    if (result->token_dead && job->provider->kind == NOTIFY_FCM) {
        //  Never sent to again, by any process, until the app registers
        //  it again.
        fy_error_t err = { "" };
        fy_metric_inc (self->dead_tokens);
        if (fy_ledger_token_dead (self->store, job->tokens [part->index], &err))
            fy_log_warn ("notify: delivery=%s a dead device token not "
                         "recorded: %s",
                         job->job->id, err.text);
    }
    s_call_done (job, result->error == 0, result->retryable, result->message_id,
                 error);
}

//  The recipient's string field key, or NULL having failed the job.
static const char *
s_address (notify_job_t *job, const char *key, const char *what)
{
    const char *value =
        json_string_value (json_object_get (job->job->recipient, key));
    if (!value || !*value)
        s_fail (job, false, "the recipient has no %s", what);
    return value;
}

//  Each send below returns 0 with its calls started, or -1 with err and
//  errno EINVAL (the message can never go: permanent) or another
//  (retryable).

static int
s_send_smtp (notify_job_t *job, const char *to, fy_error_t *err)
{
    notify_t *self = job->owner;
    fy_ledger_job_t *claimed = job->job;
    notify_rendered_t *out = &job->rendered;
    fy_cfg_t *cfg = self->cfg;
    const char *from = fy_cfg_str (cfg, "notify", "email_from");
    const char *domain = strchr (from, '@');
    char id [FY_UUID_SIZE + 256], version [200];
    snprintf (id, sizeof id, "%s@%s", claimed->id,
              domain ? domain + 1 : "localhost");
    snprintf (version, sizeof version, "%s@%.12s", out->dir, out->version);
    const char *name =
        json_string_value (json_object_get (claimed->recipient, "name"));
    fy_smtp_message_t *message = fy_smtp_message_new ();
    if (fy_smtp_message_set_from (
            message, fy_cfg_str (cfg, "notify", "email_from_name"), from, err)
        || fy_smtp_message_add_to (message, name, to, err)
        || fy_smtp_message_set_subject (message, out->subject, err)
        || (out->text && fy_smtp_message_set_text (message, out->text, err))
        || (out->html && fy_smtp_message_set_html (message, out->html, err))
        || fy_smtp_message_set_id (message, id, err)
        || fy_smtp_message_add_header (message, "X-Ferry-Delivery", claimed->id,
                                       err)
        || fy_smtp_message_add_header (message, "X-Ferry-Template", version,
                                       err)) {
        fy_smtp_message_destroy (&message);
        errno = EINVAL;
        return -1;
    }
    job->call_count = 1;
    return fy_smtp_send (job->provider->smtp, &message, s_on_smtp,
                         &job->parts [0], &job->calls [0], err);
}

static int
s_send_ses (notify_job_t *job, const char *to, fy_error_t *err)
{
    notify_rendered_t *out = &job->rendered;
    const char *list [] = { to, NULL };
    const char *tags [] = { "delivery", job->job->id, NULL };
    fy_ses_email_t email = {
        .from = fy_cfg_str (job->owner->cfg, "notify", "email_from"),
        .to = list,
        .subject = out->subject,
        .text = out->text,
        .html = out->html,
        .tags = tags,
    };
    job->call_count = 1;
    return fy_ses_send (job->provider->aws, &email, s_on_op, &job->parts [0],
                        &job->calls [0], err);
}

static int
s_send_sns (notify_job_t *job, const char *phone, fy_error_t *err)
{
    notify_rendered_t *out = &job->rendered;
    fy_sns_publish_t message = {
        .phone_number = phone,
        .message = out->text ? out->text : out->subject,
    };
    job->call_count = 1;
    return fy_sns_publish (job->provider->aws, &message, s_on_op,
                           &job->parts [0], &job->calls [0], err);
}

//  One call per device token of the attempt (s_push_tokens).
static int
s_send_fcm (notify_job_t *job, fy_error_t *err)
{
    notify_rendered_t *out = &job->rendered;
    const char *data [] = { "deliveryId", job->job->id, NULL };
    for (size_t i = 0; i < job->token_count; i++) {
        fy_fcm_message_t message = { .token = job->tokens [i],
                                     .title = out->subject,
                                     .body = out->text,
                                     .data = data };
        if (fy_fcm_send (job->provider->fcm, &message, s_on_op, &job->parts [i],
                         &job->calls [i], err))
            return -1;
        job->call_count++;
    }
    return 0;
}

static void
s_dispatch (notify_job_t *job)
{
    notify_t *self = job->owner;
    notify_rendered_t *out = &job->rendered;
    if (self->sending >= self->concurrency) {
        fy_list_push_back (&self->waiting, &job->wait);
        job->waiting = true;
        return;
    }
    job->call_count = 0;
    job->any_ok = job->any_retryable = false;
    job->message_id [0] = job->error [0] = '\0';
    for (size_t i = 0; i < NOTIFY_TOKENS_MAX; i++) {
        job->parts [i].job = job;
        job->parts [i].index = i;
    }
    fy_error_t err = { "" };
    int rc = -1;
    const char *to = NULL;
    notify_kind_t kind = job->provider->kind;
    if ((kind == NOTIFY_SMTP || kind == NOTIFY_SES || kind == NOTIFY_FCM)
        && !out->subject) {
        s_fail (job, false, "template %s has no subject.mustache", out->dir);
        return;
    }
    if (kind == NOTIFY_SMTP || kind == NOTIFY_SES) {
        if (!(to = s_address (job, "email", "e-mail address")))
            return;
        rc = kind == NOTIFY_SMTP ? s_send_smtp (job, to, &err)
                                 : s_send_ses (job, to, &err);
    }
    else if (kind == NOTIFY_SNS) {
        if (!(to = s_address (job, "phone", "phone number")))
            return;
        rc = s_send_sns (job, to, &err);
    }
    else
        rc = s_send_fcm (job, &err);
    if (rc && job->call_count == 0) {
        s_fail (job, errno != EINVAL, "%s", err.text);
        return;
    }
    if (rc)
        //  Some device tokens are on their way: the rest are as if
        //  refused now.
        job->error [0] = '\0';
    job->sending = true;
    self->sending++;
    job->calls_left = job->call_count;
    //  Started outside the client's run: on the loop's next turn, so no
    //  outcome comes back inside this call.
    fy_loop_arm (self->http_source);
}

void
notify_send_waiting (notify_t *self)
{
    //  A job given its place may fail at once (no address) and leave it
    //  free again: on to the next.
    while (!self->stopping && self->sending < self->concurrency
           && !fy_list_is_empty (&self->waiting)) {
        notify_job_t *job =
            fy_list_entry (fy_list_first (&self->waiting), notify_job_t, wait);
        fy_list_unlink (&job->wait);
        job->waiting = false;
        s_dispatch (job);
    }
}
