/*  fy_cfg_keys: the key table of every section of ferry.cfg. One table per
    section, alphabetical; doc/config.md and contrib/ferry.cfg are checked
    against these by make check. Programs read only their own sections,
    but every section is checked at load, so a typo anywhere in the shared
    file is caught by whichever program starts first. */
#include "ferry/fy_cfg.h"

#ifndef FERRY_SCHEMA_DIR
#define FERRY_SCHEMA_DIR "/usr/local/share/ferry"
#endif

static const fy_cfg_key_t s_log_keys [] = {
    { "format", FY_CFG_STR, "text", FY_CFG_RELOAD,
      "log line format: text (key=value) or json (one object per line)", NULL,
      0, 0, "text|json" },
    { "level", FY_CFG_STR, "info", FY_CFG_RELOAD, "least severe level written",
      NULL, 0, 0, "error|warn|notice|info|debug" },
    { .name = NULL }
};

static const fy_cfg_key_t s_events_keys [] = {
    { "schema", FY_CFG_STR, FERRY_SCHEMA_DIR "/events.schema.json",
      FY_CFG_RESTART,
      "path of the JSON Schema every event is validated against", NULL, 0, 0,
      NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_broker_keys [] = {
    { "capacity", FY_CFG_INT, "100000", FY_CFG_RESTART,
      "most unfinished events the broker holds; publishers wait beyond it",
      NULL, 1, 10000000, NULL },
    { "client_credit", FY_CFG_INT, "10000", FY_CFG_RESTART,
      "most unfinished events one publisher may have", NULL, 1, 10000000,
      NULL },
    { "curve_allow_dir", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "directory of the public certificates (ferryctl keygen) allowed to "
      "connect when CURVE is on",
      NULL, 0, 0, NULL },
    { "curve_secret_file", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "the broker's secret certificate: set it to turn CURVE on", NULL, 0, 0,
      NULL },
    { "dispatch_timeout_ms", FY_CFG_INT, "30000", FY_CFG_RESTART,
      "how long events wait for a service with no worker before a "
      "retryable NACK",
      NULL, 100, 3600000, NULL },
    { "endpoint", FY_CFG_STR, "tcp://*:5570", FY_CFG_RESTART,
      "the ROUTER socket clients and workers connect to", NULL, 0, 0, NULL },
    { "heartbeat_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "heartbeat interval, both ways", NULL, 10, 60000, NULL },
    { "lease_ms", FY_CFG_INT, "10000", FY_CFG_RESTART,
      "how often publishers hear which events are still being worked on", NULL,
      100, 3600000, NULL },
    { "liveness", FY_CFG_INT, "3", FY_CFG_RESTART,
      "heartbeats a peer may miss before it is declared dead", NULL, 2, 100,
      NULL },
    { "poison_crashes", FY_CFG_INT, "2", FY_CFG_RESTART,
      "worker deaths on one event before it is NACKed as poison", NULL, 1, 100,
      NULL },
    { "request_timeout_ms", FY_CFG_INT, "30000", FY_CFG_RESTART,
      "how long a request waits for its final reply before a 504", NULL, 100,
      3600000, NULL },
    { "routes", FY_CFG_STR,
      "audit:* analytics:user.*,company.created,department.*,goal.*,"
      "review.*,feedback.*,one_on_one.* auth:user.login,user.logout,"
      "user.password_changed,user.deactivated,auth.token_revoked,"
      "auth.session_revoked notify:notification.*,review.assigned,"
      "goal.completed,feedback.given,user.created,user.updated,"
      "user.manager_changed",
      FY_CFG_RELOAD,
      "service:pattern[,pattern...] entries separated by spaces; an event "
      "goes to every service with a matching pattern",
      NULL, 0, 0, NULL },
    { "stop_timeout_ms", FY_CFG_INT, "30000", FY_CFG_RESTART,
      "how long SIGTERM waits for unfinished events before exiting", NULL, 0,
      3600000, NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_http_keys [] = {
    { "address", FY_CFG_STR, "0.0.0.0", FY_CFG_RESTART,
      "address the broker's HTTP endpoint listens on", NULL, 0, 0, NULL },
    { "admin_token", FY_CFG_STR, NULL, FY_CFG_SECRET | FY_CFG_RELOAD,
      "bearer token of the admin routes; unset, they answer 403", NULL, 0, 0,
      NULL },
    { "enabled", FY_CFG_BOOL, "true", FY_CFG_RESTART, "serve HTTP at all", NULL,
      0, 0, NULL },
    { "header_timeout_s", FY_CFG_INT, "10", FY_CFG_RESTART,
      "seconds a request's head (request line and headers) may take to "
      "arrive whole, from the accept or the previous answer; 0: no bound",
      NULL, 0, 3600, NULL },
    { "jwt_alg", FY_CFG_STR, "HS256", FY_CFG_RESTART,
      "the one algorithm service tokens may use", NULL, 0, 0,
      "HS256|RS256|ES256" },
    { "jwt_audience", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "required aud claim, when set", NULL, 0, 0, NULL },
    { "jwt_issuer", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "required iss claim, when set", NULL, 0, 0, NULL },
    { "jwt_leeway_s", FY_CFG_INT, "30", FY_CFG_RESTART,
      "clock skew allowed on exp and nbf", NULL, 0, 300, NULL },
    { "jwt_public_key_file", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "PEM public key for RS256 or ES256 tokens", NULL, 0, 0, NULL },
    { "jwt_secret", FY_CFG_STR, NULL, FY_CFG_SECRET | FY_CFG_RESTART,
      "HS256 key of service tokens, at least 32 bytes", "JWT_SERVICE_SECRET", 0,
      0, NULL },
    { "max_body", FY_CFG_INT, "1048576", FY_CFG_RESTART,
      "largest request body, in bytes", NULL, 1024, 67108864, NULL },
    { "max_conns_per_ip", FY_CFG_INT, "256", FY_CFG_RESTART,
      "connections one client address may hold; 0: no cap (behind a "
      "proxy, every client has the proxy's address)",
      NULL, 0, 65535, NULL },
    { "metrics_auth", FY_CFG_BOOL, "false", FY_CFG_RESTART,
      "require the admin token on /metrics", NULL, 0, 0, NULL },
    { "openapi", FY_CFG_STR, FERRY_SCHEMA_DIR "/openapi.json", FY_CFG_RESTART,
      "the OpenAPI document served at /openapi.json", NULL, 0, 0, NULL },
    { "port", FY_CFG_INT, "8080", FY_CFG_RESTART,
      "TCP port of the HTTP endpoint", "PORT", 1, 65535, NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_bridge_keys [] = {
    { "backoff_base_s", FY_CFG_INT, "5", FY_CFG_RESTART,
      "visibility after a retryable NACK at the first receive; doubles with "
      "each further receive",
      NULL, 0, 43200, NULL },
    { "backoff_cap_s", FY_CFG_INT, "900", FY_CFG_RESTART,
      "longest visibility backoff after a retryable NACK", NULL, 0, 43200,
      NULL },
    { "batch_flush_ms", FY_CFG_INT, "50", FY_CFG_RESTART,
      "longest wait before a partial delete, visibility or DLQ batch is "
      "sent (a batch of 10 goes at once)",
      NULL, 1, 10000, NULL },
    { "broker", FY_CFG_STR, "tcp://127.0.0.1:5570", FY_CFG_RESTART,
      "the broker's endpoint the bridge publishes to", NULL, 0, 0, NULL },
    { "dlq_url", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "dead letter queue for invalid and permanently failed messages",
      "SQS_DLQ_URL", 0, 0, NULL },
    { "extra_queue_urls", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "more queue URLs to poll, separated by spaces", NULL, 0, 0, NULL },
    { "heartbeat_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "heartbeat interval toward the broker (not above the broker's)", NULL, 10,
      60000, NULL },
    { "hold_unpublished_ms", FY_CFG_INT, "5000", FY_CFG_RESTART,
      "longest a received message waits for broker credit (the broker is "
      "away) before it goes back to the queue with visibility 0",
      NULL, 100, 3600000, NULL },
    { "inflight", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "most messages held from one queue, received and not yet settled", NULL,
      1, 1000000, NULL },
    { "liveness", FY_CFG_INT, "3", FY_CFG_RESTART,
      "heartbeats the broker may miss before the bridge reconnects", NULL, 2,
      100, NULL },
    { "name", FY_CFG_STR, "ferry-bridge", FY_CFG_RESTART,
      "the name the bridge gives the broker in HELLO", NULL, 0, 0, NULL },
    { "polls", FY_CFG_INT, "2", FY_CFG_RESTART,
      "concurrent long polls per queue", NULL, 1, 16, NULL },
    { "publish_linger_ms", FY_CFG_INT, "5", FY_CFG_RESTART,
      "how long a received event waits for more to join its PUBLISH (twice "
      "that at most), only while receives come faster (0: each receive at "
      "once)",
      NULL, 0, 10000, NULL },
    { "queue_url", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "the SQS queue the bridge polls", "SQS_QUEUE_URL", 0, 0, NULL },
    { "sqs_endpoint", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "SQS endpoint when AWS_ENDPOINT_URL_SQS is unset; default the "
      "region's",
      NULL, 0, 0, NULL },
    { "stats_interval_ms", FY_CFG_INT, "60000", FY_CFG_RESTART,
      "how often a summary line of the counters is logged at info", NULL, 100,
      86400000, NULL },
    { "stop_poll_grace_ms", FY_CFG_INT, "5000", FY_CFG_RESTART,
      "how long past wait_s a long poll still open at SIGTERM is awaited "
      "(its messages are then released) before it is cancelled",
      NULL, 0, 600000, NULL },
    { "stop_timeout_ms", FY_CFG_INT, "30000", FY_CFG_RESTART,
      "how long SIGTERM waits for the open polls and the published events' "
      "answers before exiting",
      NULL, 0, 3600000, NULL },
    { "wait_s", FY_CFG_INT, "20", FY_CFG_RESTART,
      "ReceiveMessage long-poll wait", NULL, 0, 20, NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_store_keys [] = {
    { "connect_timeout_s", FY_CFG_INT, "5", FY_CFG_RESTART,
      "how long one connection attempt to PostgreSQL may block", NULL, 1, 300,
      NULL },
    { "digest_grace_s", FY_CFG_INT, "300", FY_CFG_RELOAD,
      "seconds after an hour closes before its audit digest is computed, "
      "and after an hour's late events stop before their supplementary "
      "digest",
      NULL, 0, 86400, NULL },
    { "digest_key", FY_CFG_STR, NULL, FY_CFG_SECRET | FY_CFG_RESTART,
      "HMAC-SHA256 key signing the hourly audit digests (ferryctl audit "
      "verify needs the same)",
      NULL, 0, 0, NULL },
    { "database_url", FY_CFG_STR, NULL, FY_CFG_SECRET | FY_CFG_RESTART,
      "PostgreSQL connection URI or conninfo of the audit and analytics "
      "store",
      "DATABASE_URL", 0, 0, NULL },
    { "migrations_dir", FY_CFG_STR, FERRY_SCHEMA_DIR "/sql", FY_CFG_RESTART,
      "directory of the NNNN_name.sql migrations ferryctl migrate applies",
      NULL, 0, 0, NULL },
    { "partitions_ahead", FY_CFG_INT, "3", FY_CFG_RELOAD,
      "monthly audit partitions kept ready beyond the current month", NULL, 0,
      120, NULL },
    { "retention_months", FY_CFG_INT, "0", FY_CFG_RELOAD,
      "audit months kept before the current one; older partitions are "
      "dropped whole (0 keeps everything)",
      NULL, 0, 1200, NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_audit_keys [] = {
    { "batch_max", FY_CFG_INT, "500", FY_CFG_RESTART,
      "most events written in one transaction", NULL, 1, 100000, NULL },
    { "batch_ms", FY_CFG_INT, "50", FY_CFG_RESTART,
      "longest an event waits for its batch to fill before it is written", NULL,
      1, 60000, NULL },
    { "broker", FY_CFG_STR, "tcp://127.0.0.1:5570", FY_CFG_RESTART,
      "the broker's endpoint ferry-audit connects to", NULL, 0, 0, NULL },
    { "connections", FY_CFG_INT, "3", FY_CFG_RESTART,
      "connections to the database writing batches, one batch in flight on "
      "each",
      NULL, 1, 16, NULL },
    { "credit", FY_CFG_INT, "2000", FY_CFG_RESTART,
      "most deliveries and requests held at once (at least batch_max; "
      "(connections + 1) x batch_max lets the next batch fill while the "
      "others commit)",
      NULL, 1, 1000000, NULL },
    { "digest_interval_ms", FY_CFG_INT, "60000", FY_CFG_RESTART,
      "how often ferry-audit writes the hourly digests that are due "
      "(see store.digest_grace_s) and checks partitions",
      NULL, 100, 3600000, NULL },
    { "heartbeat_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "heartbeat interval toward the broker (not above the broker's)", NULL, 10,
      60000, NULL },
    { "liveness", FY_CFG_INT, "3", FY_CFG_RESTART,
      "heartbeats the broker may miss before the worker reconnects", NULL, 2,
      100, NULL },
    { "name", FY_CFG_STR, "ferry-audit", FY_CFG_RESTART,
      "the name the worker gives the broker in HELLO", NULL, 0, 0, NULL },
    { "stop_timeout_ms", FY_CFG_INT, "30000", FY_CFG_RESTART,
      "how long SIGTERM waits for the batch in hand to be written", NULL, 0,
      3600000, NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_analytics_keys [] = {
    { "batch_max", FY_CFG_INT, "500", FY_CFG_RESTART,
      "most events applied in one transaction", NULL, 1, 100000, NULL },
    { "batch_ms", FY_CFG_INT, "50", FY_CFG_RESTART,
      "longest an event waits for its batch to fill before it is applied", NULL,
      1, 60000, NULL },
    { "broker", FY_CFG_STR, "tcp://127.0.0.1:5570", FY_CFG_RESTART,
      "the broker's endpoint ferry-analytics connects to", NULL, 0, 0, NULL },
    { "connections", FY_CFG_INT, "3", FY_CFG_RESTART,
      "connections to the database applying batches, one batch in flight on "
      "each",
      NULL, 1, 16, NULL },
    { "credit", FY_CFG_INT, "2000", FY_CFG_RESTART,
      "most deliveries and requests held at once (at least batch_max; "
      "(connections + 1) x batch_max lets the next batch fill while the "
      "others commit)",
      NULL, 1, 1000000, NULL },
    { "heartbeat_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "heartbeat interval toward the broker (not above the broker's)", NULL, 10,
      60000, NULL },
    { "jobs", FY_CFG_BOOL, "true", FY_CFG_RESTART,
      "run the hourly and daily rollup jobs (one process at a time runs each, "
      "whatever the number that ask)",
      NULL, 0, 0, NULL },
    { "liveness", FY_CFG_INT, "3", FY_CFG_RESTART,
      "heartbeats the broker may miss before the worker reconnects", NULL, 2,
      100, NULL },
    { "min_group_size", FY_CFG_INT, "5", FY_CFG_RESTART,
      "departments and teams smaller than this are listed without figures",
      NULL, 1, 1000, NULL },
    { "name", FY_CFG_STR, "ferry-analytics", FY_CFG_RESTART,
      "the name the worker gives the broker in HELLO and the jobs it runs",
      NULL, 0, 0, NULL },
    { "rollup_minute", FY_CFG_INT, "5", FY_CFG_RESTART,
      "the minute past each hour at which the rollup jobs run", NULL, 0, 59,
      NULL },
    { "stop_timeout_ms", FY_CFG_INT, "30000", FY_CFG_RESTART,
      "how long SIGTERM waits for the batch in hand to be applied", NULL, 0,
      3600000, NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_auth_keys [] = {
    { "broker", FY_CFG_STR, "tcp://127.0.0.1:5570", FY_CFG_RESTART,
      "the broker's endpoint ferry-auth connects to", NULL, 0, 0, NULL },
    { "cache_max", FY_CFG_INT, "10000", FY_CFG_RESTART,
      "positive validations kept in process (until the token's exp at "
      "most, dropped on revocation); 0: no cache",
      NULL, 0, 10000000, NULL },
    { "credit", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "most deliveries and requests held at once", NULL, 1, 1000000, NULL },
    { "event_ttl_s", FY_CFG_INT, "1382400", FY_CFG_RESTART,
      "how long an applied event's id is remembered, so that a redelivery "
      "changes nothing (above SQS's longest retention, 14 days)",
      NULL, 1209600, 31536000, NULL },
    { "heartbeat_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "heartbeat interval toward the broker (not above the broker's)", NULL, 10,
      60000, NULL },
    { "jwks_file", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "JSON Web Key Set of the user token keys, chosen by kid", NULL, 0, 0,
      NULL },
    { "jwks_refresh_min_s", FY_CFG_INT, "60", FY_CFG_RESTART,
      "least time between two reloads of the key set for an unknown kid; "
      "a kid still unknown after one asks none for ten times as long",
      NULL, 1, 86400, NULL },
    { "jwks_url", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "URL of the JSON Web Key Set of the user token keys, chosen by kid", NULL,
      0, 0, NULL },
    { "jwt_alg", FY_CFG_STR, "HS256", FY_CFG_RESTART,
      "the algorithm of user tokens (a JWK's own alg wins for its key)", NULL,
      0, 0, "HS256|RS256|ES256" },
    { "jwt_audience", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "required aud claim of user tokens, when set", NULL, 0, 0, NULL },
    { "jwt_issuer", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "required iss claim of user tokens, when set", NULL, 0, 0, NULL },
    { "jwt_leeway_s", FY_CFG_INT, "30", FY_CFG_RESTART,
      "clock skew allowed on exp, nbf and iat of user tokens", NULL, 0, 300,
      NULL },
    { "jwt_public_key_file", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "PEM public key of RS256 or ES256 user tokens", NULL, 0, 0, NULL },
    { "jwt_secret", FY_CFG_STR, NULL, FY_CFG_SECRET | FY_CFG_RESTART,
      "HS256 key of user tokens, at least 32 bytes", NULL, 0, 0, NULL },
    { "jwt_typ", FY_CFG_STR, "JWT", FY_CFG_RESTART,
      "required typ header of user tokens (compared without case and "
      "without application/); empty: not checked",
      NULL, 0, 0, NULL },
    { "key_prefix", FY_CFG_STR, "ferry:auth:", FY_CFG_RESTART,
      "prefix of every Redis key and of the revocation channel", NULL, 0, 0,
      NULL },
    { "liveness", FY_CFG_INT, "3", FY_CFG_RESTART,
      "heartbeats the broker may miss before the worker reconnects", NULL, 2,
      100, NULL },
    { "max_token_bytes", FY_CFG_INT, "4096", FY_CFG_RESTART,
      "longest user token looked at; longer ones are inactive", NULL, 64, 8192,
      NULL },
    { "max_token_lifetime_s", FY_CFG_INT, "86400", FY_CFG_RESTART,
      "longest exp - iat of a user token; also how long a revoke-all "
      "(revoked_before) is kept",
      NULL, 60, 31536000, NULL },
    { "name", FY_CFG_STR, "ferry-auth", FY_CFG_RESTART,
      "the name the worker gives the broker in HELLO", NULL, 0, 0, NULL },
    { "redis_timeout_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "how long one Redis command may take before the request fails (503)",
      NULL, 10, 60000, NULL },
    { "redis_url", FY_CFG_STR, NULL, FY_CFG_SECRET | FY_CFG_RESTART,
      "Redis of the sessions and revocations: redis://[[user]:password@]host"
      "[:port][/db] or unix://",
      "REDIS_URL", 0, 0, NULL },
    { "session_ttl_s", FY_CFG_INT, "604800", FY_CFG_RESTART,
      "life of a session whose user.login has no expiresAt, and of the "
      "mark of a session revoked before its login arrived",
      NULL, 60, 31536000, NULL },
    { "stop_timeout_ms", FY_CFG_INT, "10000", FY_CFG_RESTART,
      "how long SIGTERM waits for the events and validations in hand", NULL, 0,
      3600000, NULL },
    { .name = NULL }
};

static const fy_cfg_key_t s_notify_keys [] = {
    { "aws_region", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "AWS region of SES and SNS; unset: AWS_REGION, the profile's", NULL, 0, 0,
      NULL },
    { "backoff_base_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "wait before the second attempt of a retryable failure; doubles with "
      "each attempt, with jitter",
      NULL, 1, 3600000, NULL },
    { "backoff_max_ms", FY_CFG_INT, "300000", FY_CFG_RESTART,
      "longest wait between two attempts", NULL, 1, 86400000, NULL },
    { "broker", FY_CFG_STR, "tcp://127.0.0.1:5570", FY_CFG_RESTART,
      "the broker's endpoint ferry-notify connects to", NULL, 0, 0, NULL },
    { "concurrency", FY_CFG_INT, "64", FY_CFG_RESTART,
      "most notifications one process has with a provider at once (more wait "
      "for a place) and claims from the ledger at once; and the most "
      "connections it opens to one provider's host",
      NULL, 1, 10000, NULL },
    { "credit", FY_CFG_INT, "256", FY_CFG_RESTART,
      "most deliveries and requests held at once", NULL, 1, 1000000, NULL },
    { "critical_categories", FY_CFG_STR, "password security compliance",
      FY_CFG_RESTART,
      "categories nobody can opt out of and quiet hours do not hold, "
      "separated by spaces",
      NULL, 0, 0, NULL },
    { "email_fallback", FY_CFG_STR, "none", FY_CFG_RESTART,
      "the e-mail provider failed over to when the primary keeps failing", NULL,
      0, 0, "none|smtp|ses" },
    { "email_from", FY_CFG_STR, "ferry@localhost", FY_CFG_RESTART,
      "the From address of every e-mail", NULL, 0, 0, NULL },
    { "email_from_name", FY_CFG_STR, "ferry", FY_CFG_RESTART,
      "the From display name", NULL, 0, 0, NULL },
    { "email_provider", FY_CFG_STR, "smtp", FY_CFG_RESTART,
      "the provider of e-mail (SMTP: notify.smtp_url; SES API v2: the AWS "
      "credentials chain, AWS_ENDPOINT_URL_SESV2)",
      NULL, 0, 0, "none|smtp|ses" },
    { "failover_cooldown_ms", FY_CFG_INT, "300000", FY_CFG_RESTART,
      "how long a channel stays on its fallback before the primary is "
      "tried again",
      NULL, 100, 86400000, NULL },
    { "failover_failures", FY_CFG_INT, "5", FY_CFG_RESTART,
      "retryable failures of a primary provider, within failover_window_ms, "
      "that switch its channel to the fallback",
      NULL, 1, 100000, NULL },
    { "failover_window_ms", FY_CFG_INT, "60000", FY_CFG_RESTART,
      "the window those failures are counted in", NULL, 100, 86400000, NULL },
    { "fcm_key_file", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "the Firebase service account's JSON key; unset: "
      "GOOGLE_APPLICATION_CREDENTIALS",
      NULL, 0, 0, NULL },
    { "heartbeat_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "heartbeat interval toward the broker (not above the broker's)", NULL, 10,
      60000, NULL },
    { "lease_s", FY_CFG_INT, "120", FY_CFG_RESTART,
      "how long a claim on a delivery lasts: another process resends one "
      "whose claimer died only after it (doc/notify.md)",
      NULL, 5, 86400, NULL },
    { "liveness", FY_CFG_INT, "3", FY_CFG_RESTART,
      "heartbeats the broker may miss before the worker reconnects", NULL, 2,
      100, NULL },
    { "max_attempts", FY_CFG_INT, "5", FY_CFG_RESTART,
      "attempts of a notification whose failures are retryable before it "
      "fails",
      NULL, 1, 100, NULL },
    { "name", FY_CFG_STR, "ferry-notify", FY_CFG_RESTART,
      "the name the worker gives the broker in HELLO and its claims", NULL, 0,
      0, NULL },
    { "push_provider", FY_CFG_STR, "none", FY_CFG_RESTART,
      "the provider of push notifications (FCM HTTP v1)", NULL, 0, 0,
      "none|fcm" },
    { "rate_limits", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "provider:per_second entries separated by spaces (ses:14 smtp:50): a "
      "token bucket per provider in Redis, shared by every process",
      NULL, 0, 0, NULL },
    { "redis_url", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "Redis of the shared rate limits; unset: no limit held", "REDIS_URL", 0,
      0, NULL },
    { "rules_file", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "JSON file of the rules mapping domain events to notifications, read "
      "again on SIGHUP; unset: notification.requested only",
      NULL, 0, 0, NULL },
    { "sms_provider", FY_CFG_STR, "none", FY_CFG_RESTART,
      "the provider of SMS (SNS Publish to a phone number)", NULL, 0, 0,
      "none|sns" },
    { "smtp_password", FY_CFG_STR, NULL, FY_CFG_SECRET | FY_CFG_RESTART,
      "SMTP AUTH password", "SMTP_PASSWORD", 0, 0, NULL },
    { "smtp_starttls", FY_CFG_STR, "required", FY_CFG_RESTART,
      "STARTTLS on smtp:// URLs", NULL, 0, 0, "none|try|required" },
    { "smtp_url", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "smtp://host:port or smtps://host:port of the mail server; unset: no "
      "SMTP provider",
      "SMTP_URL", 0, 0, NULL },
    { "smtp_user", FY_CFG_STR, NULL, FY_CFG_RESTART,
      "SMTP AUTH user; unset: no AUTH", NULL, 0, 0, NULL },
    { "stop_timeout_ms", FY_CFG_INT, "30000", FY_CFG_RESTART,
      "how long SIGTERM waits for the notifications being sent", NULL, 0,
      3600000, NULL },
    { "sweep_ms", FY_CFG_INT, "1000", FY_CFG_RESTART,
      "how often the ledger is looked through for deliveries due (held, "
      "retried, sent through the API, left by a dead process)",
      NULL, 10, 600000, NULL },
    { "template_dir", FY_CFG_STR, FERRY_SCHEMA_DIR "/templates", FY_CFG_RESTART,
      "directory of the templates (NAME/subject.mustache, text.mustache, "
      "html.mustache; NAME.LOCALE/ variants; partials/ and layouts/)",
      NULL, 0, 0, NULL },
    { .name = NULL }
};

const fy_cfg_section_t fy_cfg_sections [] = {
    { "log", s_log_keys, "logging, shared by every program" },
    { "events", s_events_keys, "event decoding and validation" },
    { "broker", s_broker_keys, "ferry-broker: routing, credit and leases" },
    { "http", s_http_keys, "ferry-broker's HTTP endpoint: API, admin, health" },
    { "bridge", s_bridge_keys, "ferry-bridge: SQS polling, settling, leases" },
    { "store", s_store_keys,
      "PostgreSQL store of the persistent workers; "
      "ferryctl migrate" },
    { "audit", s_audit_keys,
      "ferry-audit: the audit worker and its /audit "
      "API" },
    { "analytics", s_analytics_keys,
      "ferry-analytics: facts, rollups and the /analytics API" },
    { "auth", s_auth_keys,
      "ferry-auth: user token validation, sessions and revocation in Redis, "
      "its /auth API" },
    { "notify", s_notify_keys,
      "ferry-notify: the notification worker and its /notifications API" },
    { .name = NULL }
};
