--  0004_event_ids: an event id is stored once, whatever its other fields.
--  audit.events is partitioned by month on occurred_at, so its primary key
--  has to be (id, occurred_at) and cannot stop a second copy of an id with
--  another occurredAt (a producer's retry that re-stamps the time, a
--  replay): both would be stored. audit.event_ids is the one place the id
--  alone is unique: not partitioned, one row per stored event, naming the
--  occurred_at of the copy that was kept. fy_store writes it in the same
--  transaction as the rows (doc/store.md, "Batch append"); a copy of an id
--  already there is not stored, and counted as a conflict when its content
--  differs from the stored one.
CREATE TABLE audit.event_ids (
    id              uuid        PRIMARY KEY,
    occurred_at     timestamptz NOT NULL
);

--  Every id stored so far, by its first copy (received first; occurred_at
--  then breaks a tie within one batch). A later copy of an id stored
--  before this migration stays in audit.events, but is no longer the
--  event: GET /audit/:id returns the copy named here.
INSERT INTO audit.event_ids (id, occurred_at)
    SELECT DISTINCT ON (id) id, occurred_at
      FROM audit.events
     ORDER BY id, received_at, occurred_at;

--  Retention drops a month's ids with its partition, or a redelivery of an
--  id whose month was dropped would be refused forever. The DELETE reads
--  the whole of event_ids (no index on occurred_at: it would cost every
--  append one more index entry, for a monthly job): about a second per
--  ten million ids stored.
CREATE OR REPLACE FUNCTION audit.drop_partition (name text, keep_months integer)
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    lower_bound timestamptz;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM audit.expired_partitions(keep_months) p
                    WHERE p = name) THEN
        RAISE EXCEPTION 'drop_partition: % is not an expired partition',
            name USING ERRCODE = 'invalid_parameter_value';
    END IF;
    lower_bound := to_date(substr(name, 8), 'YYYYMM')::timestamp
                   AT TIME ZONE 'UTC';
    DELETE FROM audit.event_ids
     WHERE occurred_at >= lower_bound
       AND occurred_at < lower_bound + interval '1 month';
    EXECUTE format('DROP TABLE audit.%I', name);
END
$$;
