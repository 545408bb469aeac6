--  0016_notify_devices: the push devices of the recipient directory
--  (doc/notify.md, "Push devices"). An app registers each device's FCM
--  registration token for its user (PUT /notifications/devices/:userId);
--  a push addressed by user id goes to the user's live tokens when it is
--  sent. A token belongs to one device, so to one user: registered again
--  for another user, it moves. One FCM calls unregistered is dead
--  (dead_at) and never sent to again, until the app registers it again.
CREATE TABLE notify.devices (
    token           text        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    platform        text        NOT NULL
        CHECK (platform IN ('android', 'ios', 'web')),
    app_version     text,
    locale          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    dead_at         timestamptz
);

--  A user's live devices, newest registration first (the most a push
--  reaches are the newest).
CREATE INDEX devices_user ON notify.devices (user_id, updated_at DESC)
    WHERE dead_at IS NULL;

--  What each device token of a push delivery came to, kept in the same
--  statement as the attempt's outcome: sent (FCM accepted it, its message
--  name in message_id), dead (unregistered) or refused (FCM refused the
--  message for that device for good). A retry sends only to the tokens
--  not here, so no device gets one notification twice.
CREATE TABLE notify.delivery_tokens (
    delivery_id     uuid        NOT NULL
        REFERENCES notify.deliveries (id) ON DELETE CASCADE,
    token           text        NOT NULL,
    status          text        NOT NULL
        CHECK (status IN ('sent', 'dead', 'refused')),
    message_id      text,
    error           text,
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (delivery_id, token)
);

--  A time as the API shows it: RFC 3339 in UTC, to the millisecond;
--  NULL for NULL.
CREATE FUNCTION notify.iso (t timestamptz)
    RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
