/*  notify_provider: the providers made from notify.*, the routes' failover
    and the shared token buckets. The clients of lib/ (fy_smtp, fy_ses,
    fy_sns, fy_fcm) run on the worker's one HTTP client; their own retries
    are turned off (one attempt per call), so that every retry is the
    worker's: counted in the ledger, backed off, and seen by failover. */
#include "notify_provider.h"
#include "aws/fy_ses.h"
#include "aws/fy_sns.h"
#include "core/fy_list.h"
#include "core/fy_loop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  The bucket: refilled at ARGV[1] tokens a second up to ARGV[2], by the
//  server's clock (every process sees the same time); when there is a
//  token, ARGV[3] taken (the sends of one attempt: a push's devices),
//  which may leave the bucket in debt for the next to wait out, and 0
//  returned; else the whole milliseconds until one is there.
static const char s_bucket_lua [] =
    "local rate = tonumber(ARGV[1]) "
    "local burst = tonumber(ARGV[2]) "
    "local cost = tonumber(ARGV[3]) "
    "local t = redis.call('TIME') "
    "local now = t[1] * 1000 + math.floor(t[2] / 1000) "
    "local b = redis.call('HMGET', KEYS[1], 'tokens', 'at') "
    "local tokens = tonumber(b[1]) or burst "
    "local at = tonumber(b[2]) or now "
    "tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000) "
    "local wait = 0 "
    "if tokens >= 1 then tokens = tokens - cost "
    "else wait = math.ceil((1 - tokens) * 1000 / rate) end "
    "redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', "
    "tostring(now)) "
    "redis.call('PEXPIRE', KEYS[1], 60000) "
    "return wait";

static const char *const s_names [NOTIFY_PROVIDERS] = { "smtp", "ses", "sns",
                                                        "fcm" };
static const char *const s_channels [NOTIFY_CHANNELS] = { "email", "sms",
                                                          "push" };

struct notify_providers {
    notify_provider_t providers [NOTIFY_PROVIDERS];
    notify_route_t routes [NOTIFY_CHANNELS];
    fy_aws_sign_t *signer;
    fy_redis_t *redis;
    fy_loop_source_t *redis_source;
    zloop_t *loop;
    fy_redis_script_t *bucket;
    fy_link_t tokens;           //  notify_token_t waiting for Redis
    bool redis_warned;
    int failover_failures;
    int64_t failover_window_ms, cooldown_ms;
};

struct notify_token {
    fy_link_t link;             //  on tokens
    notify_providers_t *owner;
    notify_token_fn *fn;        //  NULL once cancelled
    void *arg;
};

static notify_provider_t *
s_by_name (notify_providers_t *self, const char *name)
{
    for (int i = 0; name && i < NOTIFY_PROVIDERS; i++)
        if (strcmp (name, s_names [i]) == 0)
            return &self->providers [i];
    return NULL;
}

//  Make provider's client. Returns 0 or -1 with err.
static int
s_make (notify_providers_t *self, notify_provider_t *provider, fy_cfg_t *cfg,
        fy_http_client_t *http, fy_error_t *err)
{
    if (provider->configured || provider->tried)
        return 0;
    provider->tried = true;
    fy_aws_options_t aws;
    fy_aws_options_default (&aws);
    aws.base.max_attempts = 1;
    aws.region = fy_cfg_str (cfg, "notify", "aws_region");
    if (provider->kind == NOTIFY_SMTP) {
        const char *url = fy_cfg_str (cfg, "notify", "smtp_url");
        if (!url || !*url) {
            //  The default provider, left unset: not an error, as the
            //  worker may have other channels to serve.
            fy_log_warn ("notify: no notify.smtp_url (SMTP_URL): e-mail "
                         "cannot be sent by SMTP");
            return 0;
        }
        fy_smtp_options_t options;
        fy_smtp_options_default (&options);
        options.url = url;
        options.user = fy_cfg_str (cfg, "notify", "smtp_user");
        options.password = fy_cfg_str (cfg, "notify", "smtp_password");
        if (fy_smtp_starttls_parse (fy_cfg_str (cfg, "notify", "smtp_starttls"),
                                    &options.starttls)) {
            fy_error_set (err, "notify.smtp_starttls: none, try or required");
            return -1;
        }
        provider->smtp = fy_smtp_new (http, &options, err);
    }
    else if (provider->kind == NOTIFY_FCM) {
        fy_fcm_options_t options;
        fy_fcm_options_default (&options);
        options.base.max_attempts = 1;
        options.key_file = fy_cfg_str (cfg, "notify", "fcm_key_file");
        provider->fcm = fy_fcm_new (http, &options, err);
    }
    else {
        if (!self->signer)
            self->signer = fy_aws_sign_new (aws.region);
        aws.base.sign_arg = self->signer;
        if (provider->kind == NOTIFY_SES) {
            aws.base.sign = fy_aws_sign_ses;
            provider->aws = fy_ses_new (http, &aws, err);
        }
        else {
            aws.base.sign = fy_aws_sign_sns;
            provider->aws = fy_sns_new (http, &aws, err);
        }
    }
    provider->configured = provider->smtp || provider->aws || provider->fcm;
    return provider->configured ? 0 : -1;
}

//  notify.rate_limits: "name:per_second ..." into the providers.
static int
s_rates (notify_providers_t *self, const char *text, fy_error_t *err)
{
    for (const char *at = text ? text : ""; *at;) {
        size_t len = strcspn (at, " ");
        if (len) {
            char word [64];
            snprintf (word, sizeof word, "%.*s", (int) len, at);
            char *colon = strchr (word, ':');
            char *end = NULL;
            double rate = colon ? strtod (colon + 1, &end) : 0;
            if (colon)
                *colon = '\0';
            notify_provider_t *provider = s_by_name (self, word);
            if (!provider || !colon || end == colon + 1 || *end || rate <= 0) {
                fy_error_set (err,
                              "notify.rate_limits: '%.*s' is not "
                              "provider:per_second (smtp, ses, sns, fcm)",
                              (int) len, at);
                return -1;
            }
            provider->rate = rate;
        }
        at += len + (at [len] == ' ');
    }
    return 0;
}

notify_providers_t *
notify_providers_new (fy_cfg_t *cfg, fy_http_client_t *http,
                      fy_metrics_t *metrics, fy_error_t *err)
{
    notify_providers_t *self = fy_xcalloc (1, sizeof *self);
    fy_list_init (&self->tokens);
    self->failover_failures =
        (int) fy_cfg_int (cfg, "notify", "failover_failures");
    self->failover_window_ms = fy_cfg_int (cfg, "notify", "failover_window_ms");
    self->cooldown_ms = fy_cfg_int (cfg, "notify", "failover_cooldown_ms");
    for (int i = 0; i < NOTIFY_PROVIDERS; i++) {
        notify_provider_t *provider = &self->providers [i];
        provider->kind = (notify_kind_t) i;
        provider->name = s_names [i];
        snprintf (provider->bucket, sizeof provider->bucket,
                  "ferry:notify:bucket:%s", s_names [i]);
    }
    const char *keys [NOTIFY_CHANNELS][2] = {
        { "email_provider", "email_fallback" },
        { "sms_provider", NULL },
        { "push_provider", NULL },
    };
    for (int c = 0; c < NOTIFY_CHANNELS; c++) {
        notify_route_t *route = &self->routes [c];
        route->channel = s_channels [c];
        route->threshold = self->failover_failures;
        route->window_len_ms = self->failover_window_ms;
        route->cooldown_ms = self->cooldown_ms;
        for (int k = 0; k < 2 && keys [c][k]; k++) {
            const char *name = fy_cfg_str (cfg, "notify", keys [c][k]);
            if (!name || !*name || strcmp (name, "none") == 0)
                continue;
            notify_provider_t *provider = s_by_name (self, name);
            if (!provider || s_make (self, provider, cfg, http, err)) {
                if (!provider)
                    fy_error_set (err, "notify.%s: no provider '%s'",
                                  keys [c][k], name);
                goto fail;
            }
            if (!provider->configured)
                continue;
            if (k == 0)
                route->primary = provider;
            else
                route->fallback = provider;
        }
        const char *labels [] = { "channel", route->channel, NULL };
        route->failovers = fy_metrics_counter (
            metrics, "ferry_notify_failovers_total",
            "switches from a channel's primary provider to its fallback",
            labels);
        route->recoveries = fy_metrics_counter (
            metrics, "ferry_notify_recoveries_total",
            "switches back to the primary after its cool-down", labels);
    }
    if (s_rates (self, fy_cfg_str (cfg, "notify", "rate_limits"), err))
        goto fail;
    const char *redis = fy_cfg_str (cfg, "notify", "redis_url");
    if (redis && *redis) {
        self->redis = fy_redis_new (redis, NULL, err);
        if (!self->redis)
            goto fail;
        self->bucket = fy_redis_script_new (self->redis, s_bucket_lua);
    }
    return self;
fail:
    notify_providers_destroy (&self);
    errno = EINVAL;
    return NULL;
}

void
notify_providers_destroy (notify_providers_t **self_p)
{
    notify_providers_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < NOTIFY_PROVIDERS; i++) {
        fy_smtp_destroy (&self->providers [i].smtp);
        fy_aws_client_destroy (&self->providers [i].aws);
        fy_fcm_destroy (&self->providers [i].fcm);
    }
    fy_aws_sign_destroy (&self->signer);
    fy_loop_detach (&self->redis_source);
    fy_redis_destroy (&self->redis);
    //  Their callbacks never come now.
    notify_token_t *token;
    fy_list_each (token, &self->tokens, notify_token_t, link)
    {
        fy_list_unlink (&token->link);
        free (token);
    }
    free (self);
    *self_p = NULL;
}

void
notify_providers_attach (notify_providers_t *self, zloop_t *loop)
{
    self->loop = loop;
    if (self->redis)
        self->redis_source = fy_redis_attach (self->redis, loop);
}

notify_route_t *
notify_providers_route (notify_providers_t *self, const char *channel)
{
    for (int c = 0; c < NOTIFY_CHANNELS; c++)
        if (strcmp (channel, s_channels [c]) == 0)
            return &self->routes [c];
    return NULL;
}

notify_provider_t *
notify_route_pick (notify_route_t *route)
{
    if (!route->failed_over || !route->fallback)
        return route->primary ? route->primary : route->fallback;
    //  After the cool-down, the primary again: its outcome decides.
    if (fy_clock_mono_ms () >= route->retry_primary_ms)
        return route->primary;
    return route->fallback;
}

void
notify_route_outcome (notify_route_t *route, notify_provider_t *provider,
                      bool ok, bool retryable)
{
    if (!provider || provider != route->primary || !route->fallback)
        return;
    int64_t now = fy_clock_mono_ms ();
    if (ok || !retryable) {
        //  The provider answered: it works, whatever it thought of the
        //  message.
        route->failures = 0;
        if (route->failed_over) {
            route->failed_over = false;
            fy_metric_inc (route->recoveries);
            fy_log_notice ("notify: %s: back to %s after its cool-down",
                           route->channel, provider->name);
        }
        return;
    }
    if (route->failed_over) {
        //  Tried again after the cool-down, and failed: another one.
        route->retry_primary_ms = now + route->cooldown_ms;
        fy_log_warn ("notify: %s: %s still failing; %s for %lld ms more",
                     route->channel, provider->name, route->fallback->name,
                     (long long) route->cooldown_ms);
        return;
    }
    if (route->failures == 0 || now - route->window_ms > route->window_len_ms) {
        route->window_ms = now;
        route->failures = 0;
    }
    if (++route->failures < route->threshold)
        return;
    route->failed_over = true;
    route->failures = 0;
    route->retry_primary_ms = now + route->cooldown_ms;
    fy_metric_inc (route->failovers);
    fy_log_warn ("notify: %s: failing over from %s to %s after %d "
                 "retryable failures in %lld ms; %s again in %lld ms",
                 route->channel, provider->name, route->fallback->name,
                 route->threshold, (long long) route->window_len_ms,
                 provider->name, (long long) route->cooldown_ms);
}

json_t *
notify_providers_health (notify_providers_t *self)
{
    json_t *channels = json_array ();
    int64_t now = fy_clock_mono_ms ();
    for (int c = 0; c < NOTIFY_CHANNELS; c++) {
        notify_route_t *route = &self->routes [c];
        notify_provider_t *active = notify_route_pick (route);
        json_t *entry = json_pack (
            "{s:s, s:s?, s:s?, s:s?}", "channel", route->channel, "primary",
            route->primary ? route->primary->name : NULL, "fallback",
            route->fallback ? route->fallback->name : NULL, "active",
            active ? active->name : NULL);
        const char *state = "not_configured";
        if (active && !route->failed_over)
            state = "primary";
        else if (active && now >= route->retry_primary_ms)
            state = "retrying_primary";
        else if (active)
            state = "failed_over";
        json_object_set_new (entry, "state", json_string (state));
        if (route->failed_over && now < route->retry_primary_ms)
            json_object_set_new (entry, "coolingDownMs",
                                 json_integer (route->retry_primary_ms - now));
        json_array_append_new (channels, entry);
    }
    json_array_append_new (
        channels, json_pack ("{s:s, s:s, s:n, s:s, s:s}", "channel", "in_app",
                             "primary", NOTIFY_INBOX, "fallback", "active",
                             NOTIFY_INBOX, "state", "primary"));
    return channels;
}

//  ---------------------------------------------------------------------
//  Token buckets

static void
s_on_bucket (const fy_redis_reply_t *reply, void *arg)
{
    notify_token_t *token = arg;
    notify_providers_t *self = token->owner;
    int64_t wait = 0;
    if (fy_redis_reply_type (reply) == FY_REDIS_INTEGER) {
        wait = fy_redis_reply_integer (reply);
        self->redis_warned = false;
    }
    else if (!self->redis_warned) {
        //  Said once: every send goes on, unlimited, until it is back.
        fy_log_warn ("notify: shared rate limits off: redis: %s",
                     fy_redis_reply_error (reply));
        self->redis_warned = true;
    }
    notify_token_fn *fn = token->fn;
    void *fn_arg = token->arg;
    fy_list_unlink (&token->link);
    free (token);
    if (fn)
        fn (wait, fn_arg);
}

bool
notify_provider_is_limited (notify_providers_t *self,
                            notify_provider_t *provider)
{
    return self->redis && provider->rate > 0;
}

static void
s_on_bucket (const fy_redis_reply_t *reply, void *arg);
static int
s_on_now (zloop_t *loop, int timer_id, void *arg);

notify_token_t *
notify_provider_token (notify_providers_t *self, notify_provider_t *provider,
                       size_t cost, notify_token_fn *fn, void *arg)
{
    assert (notify_provider_is_limited (self, provider));
    assert (cost > 0);
    char rate [32], burst [32], sends [24];
    snprintf (sends, sizeof sends, "%zu", cost);
    snprintf (rate, sizeof rate, "%g", provider->rate);
    //  A second's worth at once, at least one.
    snprintf (burst, sizeof burst, "%g",
              provider->rate < 1 ? 1.0 : provider->rate);
    const char *argv [] = { provider->bucket, rate, burst, sends };
    notify_token_t *token = fy_xcalloc (1, sizeof *token);
    token->owner = self;
    token->fn = fn;
    token->arg = arg;
    fy_list_init (&token->link);
    fy_list_push_back (&self->tokens, &token->link);
    fy_error_t err = { "" };
    if (fy_redis_eval (self->bucket, 1, 4, argv, NULL, s_on_bucket, token, NULL,
                       &err)) {
        //  Too many queued for a Redis that is away: go unlimited, on
        //  the loop's next turn, said once.
        if (!self->redis_warned)
            fy_log_warn ("notify: shared rate limits off: %s", err.text);
        self->redis_warned = true;
        zloop_timer (self->loop, 0, 1, s_on_now, token);
        return token;
    }
    fy_loop_arm (self->redis_source);
    return token;
}

static int
s_on_now (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    notify_token_t *token = arg;
    notify_token_fn *fn = token->fn;
    void *fn_arg = token->arg;
    fy_list_unlink (&token->link);
    free (token);
    if (fn)
        fn (0, fn_arg);
    return 0;
}

void
notify_token_cancel (notify_token_t *token)
{
    if (token)
        token->fn = NULL;
}

void
notify_provider_cancel (notify_provider_t *provider, uint64_t id)
{
    if (provider->smtp)
        fy_smtp_cancel (provider->smtp, id);
    else if (provider->aws)
        fy_aws_client_cancel (provider->aws, id);
    else if (provider->fcm)
        fy_fcm_cancel (provider->fcm, id);
}
