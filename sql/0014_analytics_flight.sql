--  0014_analytics_flight: analytics.ensure_partitions (0006) made
--  safe from two transactions making the same month at once, which
--  ferry-analytics' batches now are (several in flight, analytics.connections).
--  The second one waited on the advisory lock for the first's COMMIT, then
--  asked to_regclass again, which reads the catalog caches: taking an
--  advisory lock does not refresh them, so it still saw no partition and
--  its CREATE TABLE failed (42P07, the batch NACKed). After the lock the
--  partition is looked up in pg_class with the statement's snapshot,
--  which sees what committed meanwhile.
CREATE OR REPLACE FUNCTION analytics.ensure_partitions (start date,
                                                        months integer)
    RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    first date := date_trunc('month', start)::date;
    lower_bound date;
    name text;
    created integer := 0;
BEGIN
    IF months < 1 OR months > 1200 THEN
        RAISE EXCEPTION 'ensure_partitions: months % is out of 1..1200',
            months USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR i IN 0 .. months - 1 LOOP
        lower_bound := (first + make_interval(months => i))::date;
        name := 'facts_' || to_char(lower_bound, 'YYYYMM');
        IF to_regclass(format('analytics.%I', name)) IS NULL THEN
            PERFORM pg_advisory_xact_lock(
                hashtext('analytics.ensure_partitions'));
            IF NOT EXISTS (SELECT 1
                             FROM pg_class c
                             JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE n.nspname = 'analytics'
                              AND c.relname = name) THEN
                EXECUTE format(
                    'CREATE TABLE analytics.%I PARTITION OF analytics.facts '
                    'FOR VALUES FROM (%L) TO (%L)', name,
                    lower_bound::timestamp AT TIME ZONE 'UTC',
                    (lower_bound + interval '1 month')::timestamp
                        AT TIME ZONE 'UTC');
                created := created + 1;
            END IF;
        END IF;
    END LOOP;
    RETURN created;
END
$$;

--  analytics.mark_dirty_set (0009) runs once per batch (apply_rest) and,
--  a multi-statement SQL function, is planned again on every call (about
--  0.5 ms), though the buckets it marks lie before a watermark, which
--  current events seldom do. Renamed analytics.mark_dirty_set_all, it is
--  called by a guard of the old name only when some row starts before
--  its company's watermark of either granularity: the rows its two
--  statements join (r.from_at < w.done_to).
ALTER FUNCTION analytics.mark_dirty_set (uuid[], timestamptz[],
                                         timestamptz[], integer[])
    RENAME TO mark_dirty_set_all;

CREATE FUNCTION analytics.mark_dirty_set (companies uuid[],
                                          froms timestamptz[],
                                          tos timestamptz[],
                                          lates integer[])
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1
                 FROM unnest(companies, froms) AS r (company, from_at)
                 JOIN analytics.watermarks w
                   ON w.company_id = r.company AND r.from_at < w.done_to) THEN
        PERFORM analytics.mark_dirty_set_all(companies, froms, tos, lates);
    END IF;
END
$$;
