/*  notify_provider: ferry-notify's providers and the route of each
    channel. A channel (email, sms, push) has one provider by config and
    may have a fallback (e-mail: SES then SMTP, or the other way): after
    notify.failover_failures retryable failures of the primary within
    notify.failover_window_ms the channel fails over, which is logged and
    counted (ferry_notify_failovers_total); after notify.failover_cooldown_ms
    the next notification tries the primary again, and its success brings
    the channel back (or its failure starts another cool-down).

    Each provider may be held to a rate (notify.rate_limits, per second)
    by a token bucket kept in Redis and shared by every ferry-notify
    process (one Lua script: the bucket refilled by the server's clock,
    one token taken or the wait until one is there). Without Redis (no
    notify.redis_url, or it is down) nothing is held back: the providers'
    own throttling answers are retried like any retryable failure. */
#ifndef NOTIFY_PROVIDER_H_INCLUDED
#define NOTIFY_PROVIDER_H_INCLUDED

#include <ferry/ferry.h>
#include "aws/fy_aws_client.h"
#include "aws/fy_aws_sign.h"
#include "notify/fy_fcm.h"
#include "notify/fy_smtp.h"
#include "store/fy_redis.h"

typedef enum {
    NOTIFY_SMTP,
    NOTIFY_SES,
    NOTIFY_SNS,
    NOTIFY_FCM,
    NOTIFY_PROVIDERS
} notify_kind_t;

typedef enum {
    NOTIFY_EMAIL,
    NOTIFY_SMS,
    NOTIFY_PUSH,
    NOTIFY_CHANNELS
} notify_channel_t;

typedef struct {
    notify_kind_t kind;
    const char *name;           //  "smtp", "ses", "sns", "fcm"
    bool configured, tried;
    fy_smtp_t *smtp;
    fy_aws_client_t *aws;       //  SES or SNS
    fy_fcm_t *fcm;
    double rate;                //  per second; 0: not limited
    char bucket [64];           //  its Redis key
    fy_metric_t *failovers;     //  of the channel it is primary of
} notify_provider_t;

typedef struct {
    const char *channel;
    notify_provider_t *primary, *fallback;  //  either may be NULL
    bool failed_over;
    int failures;               //  the primary's, in the window
    int64_t window_ms;          //  mono ms the window began
    int64_t retry_primary_ms;   //  mono ms the cool-down ends
    int threshold;              //  notify.failover_failures
    int64_t window_len_ms, cooldown_ms;
    fy_metric_t *failovers, *recoveries;
} notify_route_t;

typedef struct notify_providers notify_providers_t;

//  The in_app channel's provider: the ledger's inbox (sql/0017), no
//  route, always there while the ledger is.
#define NOTIFY_INBOX "inbox"

//  The providers and routes notify's config asks for, on http's loop.
//  NULL with err (errno EINVAL) when a setting is wrong.
notify_providers_t *
notify_providers_new (fy_cfg_t *cfg, fy_http_client_t *http,
                      fy_metrics_t *metrics, fy_error_t *err);

void
notify_providers_destroy (notify_providers_t **self_p);

//  Attach the Redis client (when there is one) to loop.
void
notify_providers_attach (notify_providers_t *self, zloop_t *loop);

//  The route of channel ("email", ...), NULL for one with none (in_app).
notify_route_t *
notify_providers_route (notify_providers_t *self, const char *channel);

//  The provider the route's next notification goes to, NULL when it has
//  none configured.
notify_provider_t *
notify_route_pick (notify_route_t *route);

//  An attempt through provider on route ended: ok, or failed (retryable
//  or not). Counts the primary's retryable failures and fails over, or
//  brings the route back to its primary.
void
notify_route_outcome (notify_route_t *route, notify_provider_t *provider,
                      bool ok, bool retryable);

//  The routes and providers as /notifications/health shows them, and
//  in_app's, the inbox.
json_t *
notify_providers_health (notify_providers_t *self);

//  Whether provider's sends wait for a token of its bucket (it has a rate,
//  and there is a Redis to keep the bucket in).
bool
notify_provider_is_limited (notify_providers_t *self,
                            notify_provider_t *provider);

//  Take cost tokens of provider's bucket (which is limited), one per send
//  (a push: one per device), then call fn (arg) with 0 to go or the
//  milliseconds to wait before asking again, always later, from the loop
//  (with 0 when Redis cannot answer: then nothing is held back). Tokens
//  are taken as soon as the bucket has one, which may leave it in debt
//  for the next to wait out: the rate holds over time whatever the cost.
//  Returns the request, to cancel.
typedef void (notify_token_fn) (int64_t wait_ms, void *arg);
typedef struct notify_token notify_token_t;
notify_token_t *
notify_provider_token (notify_providers_t *self, notify_provider_t *provider,
                       size_t cost, notify_token_fn *fn, void *arg);

//  The request's fn will not be called (its job went away).
void
notify_token_cancel (notify_token_t *token);

//  Cancel a send in flight on provider (id from its send).
void
notify_provider_cancel (notify_provider_t *provider, uint64_t id);

#endif
