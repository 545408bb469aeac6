--  0003_digest_events: what fy_audit_digest needs beyond 0001's
--  audit.digests. Each hour's digest row also keeps the list of the
--  hour's events, so verify can name the events changed, removed or added
--  rather than only the hour: events is the concatenation, in canonical
--  order (occurred_at, id), of one 48-byte entry per event, its 16-byte
--  uuid then the SHA-256 of its canonical form (doc/store.md). A bytea on
--  the digest row rather than a table of (company, hour, id, hash) rows:
--  one row written per company and hour instead of one more row per
--  event (which would double the write load of audit), read back with the
--  digest in one fetch, and covered by the digest itself, so editing the
--  list by hand is caught like editing any other field of the row.
ALTER TABLE audit.digests
    ADD COLUMN events bytea NOT NULL DEFAULT ''::bytea,
    ADD CONSTRAINT digests_events_length
        CHECK (length(events) = 48 * event_count);

--  verify walks a company's chain in hour order.
CREATE INDEX digests_company_hour ON audit.digests (company_id, hour DESC);
