--  0017_notify_inbox: the in-app channel's inbox (doc/notify.md, "In-app
--  notifications"). An in_app delivery has no provider: rendered, it is
--  stored here, in the statement that records it sent, so the bell icon
--  shows each notification once whatever redelivers its event (the
--  delivery's id is the key). A user marks items read; read_at is set
--  once, so marking again changes nothing.
CREATE TABLE notify.inbox (
    delivery_id     uuid        PRIMARY KEY
        REFERENCES notify.deliveries (id) ON DELETE CASCADE,
    user_id         uuid        NOT NULL,
    category        text,
    template        text        NOT NULL,
    subject         text        NOT NULL,
    body            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz
);

--  A user's inbox, newest first, a page after another (keyset on
--  created_at, delivery_id), and their unread count.
CREATE INDEX inbox_user ON notify.inbox (user_id, created_at DESC,
                                         delivery_id DESC);
CREATE INDEX inbox_unread ON notify.inbox (user_id, created_at DESC,
                                           delivery_id DESC)
    WHERE read_at IS NULL;
