--  0012_notify_directory: ferry-notify's recipient directory (doc/notify.md,
--  "The recipient directory"). Events such as feedback.given name a user
--  by id only; the directory, fed from user.created and user.updated,
--  gives the address. profile holds the fields those events carry (email,
--  firstName, lastName, displayName, locale, timezone, phone), each as the
--  newest event that set it says: an event older than occurred_at (they
--  may come out of order) only fills fields the entry does not have.
CREATE TABLE notify.directory (
    user_id         uuid        PRIMARY KEY,
    company_id      uuid,
    profile         jsonb       NOT NULL,
    occurred_at     timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

--  The user.* events the directory applied, each stored once in the same
--  transaction as its change, with a hash of its content: a redelivery
--  changes nothing, another body under a known id is a conflict. Apart
--  from notify.event_ids, which belongs to the deliveries an event asks
--  for: a rule on user.created still sends its notification.
CREATE TABLE notify.directory_events (
    id              uuid        PRIMARY KEY,
    hash            bytea       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now()
);
