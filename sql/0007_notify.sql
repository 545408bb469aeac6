--  0007_notify: ferry-notify's delivery ledger (doc/notify.md). One row per
--  notification to send, keyed by its idempotency key, which is unique: a
--  key is recorded once and sent at most once (the claim below), whatever
--  redelivers the event or retries the request. Each event that asked is
--  stored once too, in the same transaction as its deliveries, with a hash
--  of its content so that a different body under a known id is told apart
--  (a conflict, counted and logged; the first is kept).
CREATE SCHEMA notify;

CREATE TABLE notify.event_ids (
    id              uuid        PRIMARY KEY,
    hash            bytea       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notify.batches (
    id              uuid        PRIMARY KEY,
    idempotency_key text        UNIQUE,
    total           integer     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

--  status: queued (waiting for its turn or its next attempt, not before
--  not_before), held (quiet hours: not before not_before), sending (a
--  process claimed it until claimed_until and is talking to the
--  provider), sent, failed, suppressed (the recipient opted out).
--  A process claims a row by moving it to sending with its own name and a
--  lease; a claim whose lease ran out belongs to a process that died.
CREATE TABLE notify.deliveries (
    id                  uuid        PRIMARY KEY,
    idempotency_key     text        NOT NULL UNIQUE,
    event_id            uuid        REFERENCES notify.event_ids (id),
    batch_id            uuid        REFERENCES notify.batches (id),
    company_id          uuid,
    user_id             uuid,
    channel             text        NOT NULL
        CHECK (channel IN ('email', 'sms', 'push', 'in_app')),
    recipient           jsonb       NOT NULL,
    category            text,
    critical            boolean     NOT NULL DEFAULT false,
    template            text        NOT NULL,
    template_version    text,
    locale              text        NOT NULL,
    data                jsonb       NOT NULL,
    status              text        NOT NULL
        CHECK (status IN ('queued', 'held', 'sending', 'sent', 'failed',
                          'suppressed')),
    attempts            integer     NOT NULL DEFAULT 0,
    last_error          text,
    provider            text,
    provider_message_id text,
    not_before          timestamptz NOT NULL DEFAULT now(),
    claimed_by          text,
    claimed_until       timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz
);

--  What the sweep looks through: only the rows still to send.
CREATE INDEX deliveries_due ON notify.deliveries (not_before)
    WHERE status IN ('queued', 'held', 'sending');
CREATE INDEX deliveries_event ON notify.deliveries (event_id);
CREATE INDEX deliveries_batch ON notify.deliveries (batch_id, status);

--  A user's preferences: the categories opted out of, by channel
--  ({"email": ["feedback"], "push": ["goal"]}), and quiet hours
--  [quiet_start, quiet_end) in their own time zone (a span across
--  midnight when start > end; none when either is NULL).
CREATE TABLE notify.preferences (
    user_id         uuid        PRIMARY KEY,
    opt_out         jsonb       NOT NULL DEFAULT '{}',
    timezone        text        NOT NULL DEFAULT 'UTC',
    quiet_start     time,
    quiet_end       time,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

--  Device tokens FCM called unregistered: never sent to again.
CREATE TABLE notify.dead_tokens (
    token           text        PRIMARY KEY,
    marked_at       timestamptz NOT NULL DEFAULT now()
);

--  True when user opted out of category on channel.
CREATE FUNCTION notify.opted_out (uid uuid, chan text, cat text)
    RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT coalesce((SELECT p.opt_out -> chan ? cat
                       FROM notify.preferences p WHERE p.user_id = uid),
                    false)
$$;

--  When the quiet hours user is in at instant at end, or NULL when at is
--  outside them (or the user has none). Computed in the user's zone, so
--  a daylight-saving change is the zone database's business.
CREATE FUNCTION notify.quiet_until (uid uuid, at timestamptz)
    RETURNS timestamptz
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    p notify.preferences;
    local timestamp;
    t time;
    ends timestamp;
BEGIN
    SELECT * INTO p FROM notify.preferences WHERE user_id = uid;
    IF NOT FOUND OR p.quiet_start IS NULL OR p.quiet_end IS NULL
       OR p.quiet_start = p.quiet_end THEN
        RETURN NULL;
    END IF;
    local := at AT TIME ZONE p.timezone;
    t := local::time;
    IF p.quiet_start < p.quiet_end THEN
        IF t < p.quiet_start OR t >= p.quiet_end THEN
            RETURN NULL;
        END IF;
    ELSIF t < p.quiet_start AND t >= p.quiet_end THEN
        RETURN NULL;
    END IF;
    ends := local::date + p.quiet_end;
    IF ends <= local THEN
        ends := ends + interval '1 day';
    END IF;
    RETURN ends AT TIME ZONE p.timezone;
END
$$;
