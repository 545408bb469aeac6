--  0005_digest_late: digests of what has been stored, so late events are
--  no tampering. Until now an hour's digest was written once the hour had
--  closed and store.digest_grace_s had passed, and an event of that hour
--  stored later (a backlog drained after an outage, a redrive) was
--  reported "added" by verify for ever. Now each append notes the
--  (company, hour) pairs it stored rows for in audit.digest_due, and the
--  digest run writes, for each pair due, a digest of the rows of that
--  company and hour that no digest covers yet: the first one when the
--  hour closes, a supplementary one chained after the company's newest
--  digest when rows arrive later (doc/store.md, "Tamper evidence").

--  The (company, hour) pairs with rows stored that no digest covers yet.
--  touched is the start of the last transaction that stored one: an
--  append upserts its pairs (DO UPDATE, so the row stays locked until the
--  append commits and the digest run, which skips locked rows, never
--  digests an hour while rows of it are being written). One row per
--  pair, written once per batch, not per event.
CREATE TABLE audit.digest_due (
    company_id      uuid        NOT NULL,
    hour            timestamptz NOT NULL,
    touched         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, hour),
    CHECK (hour = date_trunc('hour', hour, 'UTC'))
);

--  The hours stored before this migration that the chain has not reached.
INSERT INTO audit.digest_due (company_id, hour, touched)
    SELECT e.company_id, date_trunc('hour', e.occurred_at, 'UTC'),
           max(e.received_at)
      FROM audit.events e
     WHERE date_trunc('hour', e.occurred_at, 'UTC')
           > coalesce((SELECT max(d.hour) FROM audit.digests d
                        WHERE d.company_id = e.company_id), '-infinity')
     GROUP BY 1, 2;

--  An hour may now have several digests (the first and supplementary
--  ones), chained in the order they were written: seq, per company, from
--  1. The digests written so far were chained in hour order.
ALTER TABLE audit.digests ADD COLUMN seq bigint;
UPDATE audit.digests d
   SET seq = n.seq
  FROM (SELECT company_id, hour,
               row_number() OVER (PARTITION BY company_id ORDER BY hour) seq
          FROM audit.digests) n
 WHERE n.company_id = d.company_id AND n.hour = d.hour;
ALTER TABLE audit.digests
    ALTER COLUMN seq SET NOT NULL,
    DROP CONSTRAINT digests_pkey,
    ADD PRIMARY KEY (company_id, seq);
