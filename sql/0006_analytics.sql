--  0006_analytics: the analytics store (issue 15, doc/analytics.md). Events
--  become facts (one row per activity event), organisation changes (the
--  effective-dated membership of each user in a department under a
--  manager), companies with their time zone, and names. Rollups per hour
--  and per company-local day, with company, department, manager and user
--  dimensions, are recomputed from the facts by analytics.rollup_hours and
--  analytics.rollup_days, which ferry-analytics schedules (analytics.run);
--  an event older than a company's watermark marks its buckets dirty and
--  the next run rebuilds them. Everything an event changes is written by
--  analytics.apply in the transaction that records its id.

CREATE SCHEMA analytics;

--  Every event id applied, once, with the md5 of its envelope (jsonb
--  normal form, so key order is no difference): a redelivered copy is
--  skipped, a copy with another body is a conflict, counted, not applied.
CREATE TABLE analytics.event_ids (
    id              uuid        PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    body_md5        text        NOT NULL,
    applied_at      timestamptz NOT NULL DEFAULT now()
);

--  Companies seen, with their IANA time zone (company.created; UTC until
--  then, or when the zone is unknown to PostgreSQL).
CREATE TABLE analytics.companies (
    company_id      uuid        PRIMARY KEY,
    name            text,
    time_zone       text        NOT NULL DEFAULT 'UTC',
    created_at      timestamptz
);

--  Names beside ids, for the reporting views and the API.
CREATE TABLE analytics.users (
    user_id         uuid        PRIMARY KEY,
    company_id      uuid        NOT NULL,
    display_name    text,
    created_at      timestamptz,
    deactivated_at  timestamptz
);

CREATE TABLE analytics.departments (
    department_id   uuid        PRIMARY KEY,
    company_id      uuid        NOT NULL,
    name            text,
    parent_id       uuid
);

--  What each organisation event says, kept so membership can be rebuilt
--  in any arrival order: from effective_at on, the user is in
--  department_id (when sets_department) under manager_id (when
--  sets_manager); ends says the user left (user.deactivated).
CREATE TABLE analytics.org_changes (
    event_id        uuid        PRIMARY KEY,
    company_id      uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    effective_at    timestamptz NOT NULL,
    sets_department boolean     NOT NULL DEFAULT false,
    department_id   uuid,
    sets_manager    boolean     NOT NULL DEFAULT false,
    manager_id      uuid,
    ends            boolean     NOT NULL DEFAULT false
);
CREATE INDEX org_changes_user ON analytics.org_changes (user_id, effective_at);

--  Effective-dated membership: user in department under manager during
--  [valid_from, valid_to) ('infinity' while current). Derived from
--  org_changes by analytics.rebuild_membership; never written otherwise.
CREATE TABLE analytics.membership (
    company_id      uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    department_id   uuid,
    manager_id      uuid,
    valid_from      timestamptz NOT NULL,
    valid_to        timestamptz NOT NULL DEFAULT 'infinity',
    PRIMARY KEY (user_id, valid_from),
    CHECK (valid_from < valid_to)
);
CREATE INDEX membership_company ON analytics.membership
    (company_id, valid_from, valid_to);

--  One row per activity event. kind is what happened; user_id whom it
--  counts for (doc/analytics.md, "Facts"); subject_id what it is about
--  (goal, review, meeting, feedback, cycle); other_id the other person;
--  due_at a review's due time; late a submission's lateness as the event
--  says it (NULL: judged against due_at of the review's assignment).
--  Monthly partitions (UTC), made by analytics.ensure_partitions.
CREATE TABLE analytics.facts (
    event_id        uuid        NOT NULL,
    company_id      uuid        NOT NULL,
    occurred_at     timestamptz NOT NULL,
    kind            text        NOT NULL,
    user_id         uuid,
    subject_id      uuid,
    other_id        uuid,
    due_at          timestamptz,
    late            boolean,
    value           numeric,
    PRIMARY KEY (event_id, occurred_at)
) PARTITION BY RANGE (occurred_at);
CREATE INDEX facts_company_time ON analytics.facts (company_id, occurred_at);
CREATE INDEX facts_subject ON analytics.facts (subject_id, kind);

--  Rollups. dim is company, department, manager or user; dim_id the
--  department, manager or user (the company's own id for company). The
--  counts are additive over buckets; active_users is the distinct users
--  active in the bucket; headcount the members at the bucket's end; dau,
--  wau and mau (daily only, company and department rows) the distinct
--  users active on the day and in the 7 and 30 days ending with it.
CREATE TABLE analytics.rollup_hourly (
    company_id      uuid        NOT NULL,
    hour            timestamptz NOT NULL,
    dim             text        NOT NULL,
    dim_id          uuid        NOT NULL,
    active_users    integer     NOT NULL,
    actions         integer     NOT NULL,
    logins          integer     NOT NULL,
    goals_created   integer     NOT NULL,
    goals_completed integer     NOT NULL,
    reviews_assigned  integer   NOT NULL,
    reviews_submitted integer   NOT NULL,
    reviews_on_time   integer   NOT NULL,
    reviews_completed integer   NOT NULL,
    feedback_given  integer     NOT NULL,
    one_on_ones_held integer    NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, dim, dim_id, hour),
    CHECK (dim IN ('company', 'department', 'manager', 'user'))
);
CREATE INDEX rollup_hourly_time ON analytics.rollup_hourly (hour);

CREATE TABLE analytics.rollup_daily (
    company_id      uuid        NOT NULL,
    day             date        NOT NULL,
    dim             text        NOT NULL,
    dim_id          uuid        NOT NULL,
    headcount       integer     NOT NULL,
    active_users    integer     NOT NULL,
    wau             integer,
    mau             integer,
    actions         integer     NOT NULL,
    logins          integer     NOT NULL,
    goals_created   integer     NOT NULL,
    goals_completed integer     NOT NULL,
    reviews_assigned  integer   NOT NULL,
    reviews_submitted integer   NOT NULL,
    reviews_on_time   integer   NOT NULL,
    reviews_completed integer   NOT NULL,
    feedback_given  integer     NOT NULL,
    one_on_ones_held integer    NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, dim, dim_id, day),
    CHECK (dim IN ('company', 'department', 'manager', 'user'))
);
CREATE INDEX rollup_daily_time ON analytics.rollup_daily (day);

--  Per company and granularity ('hour', 'day'): every bucket before
--  done_to has been computed (hours in UTC, days as the company's local
--  midnight).
CREATE TABLE analytics.watermarks (
    company_id      uuid        NOT NULL,
    granularity     text        NOT NULL,
    done_to         timestamptz NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, granularity),
    CHECK (granularity IN ('hour', 'day'))
);

--  Buckets before the watermark whose facts or organisation changed after
--  they were computed; late_events counts the late events behind them.
CREATE TABLE analytics.dirty (
    company_id      uuid        NOT NULL,
    granularity     text        NOT NULL,
    bucket          timestamptz NOT NULL,
    late_events     integer     NOT NULL DEFAULT 0,
    marked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, granularity, bucket),
    CHECK (granularity IN ('hour', 'day'))
);

--  One row per job run that did work: the hourly job of an hour, the
--  daily job of a UTC day, a recompute. The primary key is what makes a
--  scheduled job run once however many processes are due at once (they
--  also take analytics.job_lock_key's advisory lock).
CREATE TABLE analytics.job_runs (
    job             text        NOT NULL,
    due             timestamptz NOT NULL,
    runner          text        NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    buckets         integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (job, due)
);

--  The advisory lock key of the rollup jobs (one for all of them: one
--  runner at a time in the whole database, whatever the cell).
CREATE FUNCTION analytics.job_lock_key ()
    RETURNS bigint
    LANGUAGE sql IMMUTABLE
    RETURN 7302419561;

--  Monthly partitions analytics.facts_YYYYMM for months months from the
--  one holding start (UTC months). Safe from many processes at once.
CREATE FUNCTION analytics.ensure_partitions (start date, months integer)
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
            IF to_regclass(format('analytics.%I', name)) IS NULL THEN
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

--  A company's zone (UTC when unknown).
CREATE FUNCTION analytics.zone_of (company uuid)
    RETURNS text
    LANGUAGE sql STABLE
    RETURN coalesce((SELECT time_zone FROM analytics.companies
                      WHERE company_id = company), 'UTC');

--  The user's membership rebuilt from their organisation changes: a row
--  starts at each change and holds the last department and manager set
--  at or before it; a change that ends the user opens no row.
CREATE FUNCTION analytics.rebuild_membership (uid uuid)
    RETURNS void
    LANGUAGE sql
AS $$
    DELETE FROM analytics.membership WHERE user_id = uid;
    INSERT INTO analytics.membership (company_id, user_id, department_id,
                                      manager_id, valid_from, valid_to)
    SELECT company_id, uid, department_id, manager_id, effective_at,
           coalesce(next_at, 'infinity')
      FROM (SELECT p.company_id, p.effective_at,
                   lead(p.effective_at) OVER (ORDER BY p.effective_at)
                       AS next_at,
                   (SELECT c.ends FROM analytics.org_changes c
                     WHERE c.user_id = uid AND c.effective_at = p.effective_at
                     ORDER BY c.ends DESC LIMIT 1) AS ends,
                   (SELECT c.department_id FROM analytics.org_changes c
                     WHERE c.user_id = uid AND c.sets_department
                       AND c.effective_at <= p.effective_at
                     ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1)
                       AS department_id,
                   (SELECT c.manager_id FROM analytics.org_changes c
                     WHERE c.user_id = uid AND c.sets_manager
                       AND c.effective_at <= p.effective_at
                     ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1)
                       AS manager_id
              FROM (SELECT DISTINCT ON (effective_at) company_id, effective_at
                      FROM analytics.org_changes WHERE user_id = uid
                     ORDER BY effective_at) p) m
     WHERE NOT ends;
$$;

--  Mark the buckets of company from..to dirty where they lie before its
--  watermarks: hours and days; late counts the late events behind them.
CREATE FUNCTION analytics.mark_dirty (company uuid, from_at timestamptz,
                                      to_at timestamptz, late integer)
    RETURNS void
    LANGUAGE plpgsql
AS $$
DECLARE
    zone text := analytics.zone_of(company);
    hour_mark timestamptz;
    day_mark timestamptz;
BEGIN
    SELECT done_to INTO hour_mark FROM analytics.watermarks
     WHERE company_id = company AND granularity = 'hour';
    SELECT done_to INTO day_mark FROM analytics.watermarks
     WHERE company_id = company AND granularity = 'day';
    IF hour_mark IS NOT NULL AND from_at < hour_mark THEN
        INSERT INTO analytics.dirty AS d (company_id, granularity, bucket,
                                          late_events)
        SELECT company, 'hour', h, late
          FROM generate_series(date_trunc('hour', from_at, 'UTC'),
                               least(to_at, hour_mark) - interval '1 us',
                               interval '1 hour') h
        ON CONFLICT (company_id, granularity, bucket)
        DO UPDATE SET late_events = d.late_events + excluded.late_events;
    END IF;
    IF day_mark IS NOT NULL AND from_at < day_mark THEN
        --  A day's wau and mau look 30 days back: the 29 days after a
        --  changed day change too.
        INSERT INTO analytics.dirty AS d (company_id, granularity, bucket,
                                          late_events)
        SELECT company, 'day', (dd::date)::timestamp AT TIME ZONE zone,
               CASE WHEN dd::date = (from_at AT TIME ZONE zone)::date
                    THEN late ELSE 0 END
          FROM generate_series(
                   (from_at AT TIME ZONE zone)::date::timestamp,
                   (least(to_at + interval '29 days', day_mark)
                        - interval '1 us') AT TIME ZONE zone,
                   interval '1 day') dd
        ON CONFLICT (company_id, granularity, bucket)
        DO UPDATE SET late_events = d.late_events + excluded.late_events;
    END IF;
END
$$;

--  Apply a batch of event envelopes (a jsonb array, in delivery order).
--  Each id is applied once: the first copy of each id not applied before
--  is recorded in event_ids and its effects written; a copy of an id
--  already recorded (or earlier in the batch) with the same body is
--  skipped; with another body it is a conflict, returned, not applied.
--  Returns one row per event of the batch: its id, and what happened
--  (applied, duplicate, conflict) with the stored copy's occurredAt.
--  Run inside the caller's transaction (fy_store_analytics_apply).
CREATE FUNCTION analytics.apply (batch jsonb)
    RETURNS TABLE (out_id uuid, out_outcome text, out_stored_at timestamptz)
    LANGUAGE plpgsql
AS $$
DECLARE
    ur record;
    lf record;
BEGIN
    --  The watermarks read below stay as they are until COMMIT
    --  (analytics.run takes the exclusive side).
    PERFORM pg_advisory_xact_lock_shared(analytics.job_lock_key() + 1);
    --  Made once per session (ON COMMIT DELETE ROWS empties it).
    IF to_regclass('pg_temp.analytics_in') IS NULL THEN
        CREATE TEMP TABLE analytics_in (
            ord integer, id uuid, body jsonb, md5 text,
            occurred_at timestamptz, company_id uuid, type text,
            payload jsonb, actor_id uuid, fresh boolean)
            ON COMMIT DELETE ROWS;
    END IF;
    TRUNCATE analytics_in;
    INSERT INTO analytics_in
    SELECT b.ord, (b.e ->> 'id')::uuid, b.e, md5(b.e::text),
           (b.e ->> 'occurredAt')::timestamptz,
           (b.e ->> 'companyId')::uuid, b.e ->> 'type', b.e -> 'payload',
           (b.e ->> 'actorId')::uuid, false
      FROM jsonb_array_elements(batch) WITH ORDINALITY AS b (e, ord);

    --  The first copy of each id not applied before.
    WITH firsts AS (SELECT DISTINCT ON (i.id) i.id, i.ord, i.occurred_at,
                           i.md5
                      FROM analytics_in i ORDER BY i.id, i.ord),
         recorded AS (INSERT INTO analytics.event_ids (id, occurred_at,
                                                       body_md5)
                      SELECT f.id, f.occurred_at, f.md5 FROM firsts f
                      ON CONFLICT DO NOTHING RETURNING event_ids.id)
    UPDATE analytics_in i SET fresh = true
      FROM firsts f JOIN recorded r ON r.id = f.id
     WHERE i.ord = f.ord;

    PERFORM analytics.ensure_partitions(m::date, 1)
       FROM (SELECT DISTINCT date_trunc('month', i.occurred_at, 'UTC') AS m
               FROM analytics_in i WHERE i.fresh) months;

    --  Companies first: a zone given here decides the days of the rest.
    INSERT INTO analytics.companies AS c (company_id)
    SELECT DISTINCT i.company_id FROM analytics_in i WHERE i.fresh
    ON CONFLICT DO NOTHING;
    UPDATE analytics.companies c
       SET name = i.payload ->> 'name', created_at = i.occurred_at,
           time_zone = CASE WHEN EXISTS (SELECT 1 FROM pg_timezone_names z
                                          WHERE z.name = i.payload
                                                ->> 'timezone')
                            THEN i.payload ->> 'timezone' ELSE 'UTC' END
      FROM analytics_in i
     WHERE i.fresh AND i.type = 'company.created'
       AND c.company_id = i.company_id;

    --  The facts; those older than a company's watermark mark their
    --  buckets dirty, for the next run to rebuild.
    FOR lf IN
    WITH stored AS (
        INSERT INTO analytics.facts (event_id, company_id, occurred_at, kind,
                                     user_id, subject_id, other_id, due_at, late,
                                     value)
        SELECT i.id, i.company_id, i.occurred_at, k.kind, k.user_id,
               k.subject_id, k.other_id, k.due_at, k.late, k.value
          FROM analytics_in i
          CROSS JOIN LATERAL (SELECT
              CASE i.type
                  WHEN 'user.login' THEN 'login'
                  WHEN 'user.logout' THEN 'logout'
                  WHEN 'user.password_changed' THEN 'password_changed'
                  WHEN 'goal.created' THEN 'goal_created'
                  WHEN 'goal.updated' THEN 'goal_updated'
                  WHEN 'goal.progressed' THEN 'goal_progressed'
                  WHEN 'goal.completed' THEN 'goal_completed'
                  WHEN 'review.cycle_started' THEN 'review_cycle_started'
                  WHEN 'review.assigned' THEN 'review_assigned'
                  WHEN 'review.submitted' THEN 'review_submitted'
                  WHEN 'review.completed' THEN 'review_completed'
                  WHEN 'feedback.given' THEN 'feedback_given'
                  WHEN 'one_on_one.scheduled' THEN 'one_on_one_scheduled'
                  WHEN 'one_on_one.completed' THEN 'one_on_one_held'
              END AS kind,
              CASE
                  WHEN i.type LIKE 'user.%' THEN i.payload ->> 'userId'
                  WHEN i.type LIKE 'goal.%' THEN i.payload ->> 'ownerId'
                  WHEN i.type = 'review.cycle_started' THEN i.actor_id::text
                  WHEN i.type IN ('review.assigned', 'review.submitted')
                      THEN i.payload ->> 'reviewerId'
                  WHEN i.type = 'review.completed' THEN i.payload ->> 'revieweeId'
                  WHEN i.type = 'feedback.given' THEN i.payload ->> 'giverId'
                  WHEN i.type LIKE 'one_on_one.%' THEN i.payload ->> 'employeeId'
              END::uuid AS user_id,
              CASE
                  WHEN i.type LIKE 'goal.%' THEN i.payload ->> 'goalId'
                  WHEN i.type IN ('review.cycle_started', 'review.completed')
                      THEN i.payload ->> 'cycleId'
                  WHEN i.type LIKE 'review.%' THEN i.payload ->> 'reviewId'
                  WHEN i.type = 'feedback.given' THEN i.payload ->> 'feedbackId'
                  WHEN i.type LIKE 'one_on_one.%' THEN i.payload ->> 'meetingId'
              END::uuid AS subject_id,
              CASE
                  WHEN i.type IN ('review.assigned', 'review.submitted')
                      THEN i.payload ->> 'revieweeId'
                  WHEN i.type = 'feedback.given' THEN i.payload ->> 'receiverId'
                  WHEN i.type = 'review.completed'
                       OR i.type LIKE 'one_on_one.%'
                      THEN i.payload ->> 'managerId'
              END::uuid AS other_id,
              CASE WHEN i.type = 'review.assigned'
                   THEN (i.payload ->> 'dueAt')::timestamptz END AS due_at,
              CASE WHEN i.type = 'review.submitted'
                   THEN (i.payload ->> 'late')::boolean END AS late,
              CASE WHEN i.type = 'goal.progressed'
                   THEN (i.payload ->> 'progress')::numeric END AS value) k
         WHERE i.fresh AND k.kind IS NOT NULL
         RETURNING company_id, occurred_at)
        SELECT s.company_id, date_trunc('hour', s.occurred_at, 'UTC') AS hour,
               count(*)::integer AS n
          FROM stored s GROUP BY 1, 2 ORDER BY 1, 2
    LOOP
        PERFORM analytics.mark_dirty(lf.company_id, lf.hour,
                                     lf.hour + interval '1 hour', lf.n);
    END LOOP;

    --  Names.
    INSERT INTO analytics.users AS u (user_id, company_id, display_name,
                                      created_at)
    SELECT DISTINCT ON ((i.payload ->> 'userId')::uuid)
           (i.payload ->> 'userId')::uuid, i.company_id,
           coalesce(i.payload ->> 'displayName',
                    concat_ws(' ', i.payload ->> 'firstName',
                              i.payload ->> 'lastName')),
           i.occurred_at
      FROM analytics_in i WHERE i.fresh AND i.type = 'user.created'
     ORDER BY (i.payload ->> 'userId')::uuid, i.ord
    ON CONFLICT (user_id) DO UPDATE
       SET display_name = excluded.display_name,
           created_at = excluded.created_at;
    UPDATE analytics.users u
       SET display_name = i.payload -> 'updates' ->> 'displayName'
      FROM analytics_in i
     WHERE i.fresh AND i.type = 'user.updated'
       AND i.payload -> 'updates' ? 'displayName'
       AND u.user_id = (i.payload ->> 'userId')::uuid;
    INSERT INTO analytics.departments AS d (department_id, company_id, name,
                                            parent_id)
    SELECT DISTINCT ON ((i.payload ->> 'departmentId')::uuid)
           (i.payload ->> 'departmentId')::uuid, i.company_id,
           i.payload ->> 'name', (i.payload ->> 'parentDepartmentId')::uuid
      FROM analytics_in i WHERE i.fresh AND i.type = 'department.created'
     ORDER BY (i.payload ->> 'departmentId')::uuid, i.ord
    ON CONFLICT (department_id) DO UPDATE
       SET name = excluded.name, parent_id = excluded.parent_id;
    UPDATE analytics.departments d
       SET name = i.payload -> 'updates' ->> 'name'
      FROM analytics_in i
     WHERE i.fresh AND i.type = 'department.updated'
       AND i.payload -> 'updates' ? 'name'
       AND d.department_id = (i.payload ->> 'departmentId')::uuid;

    --  The organisation over time.
    INSERT INTO analytics.org_changes (event_id, company_id, user_id,
                                       effective_at, sets_department,
                                       department_id, sets_manager,
                                       manager_id, ends)
    SELECT i.id, i.company_id, (i.payload ->> 'userId')::uuid,
           coalesce((i.payload ->> 'effectiveAt')::timestamptz,
                    i.occurred_at),
           i.type IN ('user.created', 'user.department_changed'),
           (i.payload ->> 'departmentId')::uuid,
           i.type IN ('user.created', 'user.manager_changed'),
           (i.payload ->> 'managerId')::uuid,
           i.type = 'user.deactivated'
      FROM analytics_in i
     WHERE i.fresh AND i.type IN ('user.created', 'user.department_changed',
                                  'user.manager_changed', 'user.deactivated');
    UPDATE analytics.users u SET deactivated_at = i.occurred_at
      FROM analytics_in i
     WHERE i.fresh AND i.type = 'user.deactivated'
       AND u.user_id = (i.payload ->> 'userId')::uuid;
    FOR ur IN SELECT DISTINCT (i.payload ->> 'userId')::uuid AS uid,
                    i.company_id,
                    min(coalesce((i.payload ->> 'effectiveAt')::timestamptz,
                                 i.occurred_at)) AS since
               FROM analytics_in i
              WHERE i.fresh AND i.type IN ('user.created',
                    'user.department_changed', 'user.manager_changed',
                    'user.deactivated')
              GROUP BY 1, 2 ORDER BY 1
    LOOP
        PERFORM analytics.rebuild_membership(ur.uid);
        --  Who was where changed from since on: every bucket after it.
        PERFORM analytics.mark_dirty(ur.company_id, ur.since, 'infinity', 0);
    END LOOP;

    --  Applied now, or what the copy recorded says (an index lookup per
    --  copy that was not fresh, rare).
    RETURN QUERY
    SELECT i.id AS out_id,
           CASE WHEN i.fresh THEN 'applied'
                WHEN e.body_md5 = i.md5 THEN 'duplicate'
                ELSE 'conflict' END,
           CASE WHEN i.fresh THEN i.occurred_at ELSE e.occurred_at END
      FROM analytics_in i
      LEFT JOIN LATERAL (SELECT x.body_md5, x.occurred_at
                           FROM analytics.event_ids x
                          WHERE x.id = i.id AND NOT i.fresh) e ON true
     ORDER BY i.ord;
END
$$;

--  Rebuild company's hourly rollups for the hours in [from_at, to_at).
--  Returns the hours rebuilt.
CREATE FUNCTION analytics.rollup_hours (company uuid, from_at timestamptz,
                                        to_at timestamptz)
    RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    lo timestamptz := date_trunc('hour', from_at, 'UTC');
BEGIN
    DELETE FROM analytics.rollup_hourly
     WHERE company_id = company AND hour >= lo AND hour < to_at;
    INSERT INTO analytics.rollup_hourly
        (company_id, hour, dim, dim_id, active_users, actions, logins,
         goals_created, goals_completed, reviews_assigned, reviews_submitted,
         reviews_on_time, reviews_completed, feedback_given,
         one_on_ones_held)
    SELECT company, b.bucket, b.dim, b.dim_id, b.active_users, b.actions,
           b.logins, b.goals_created, b.goals_completed, b.reviews_assigned,
           b.reviews_submitted, b.reviews_on_time, b.reviews_completed,
           b.feedback_given, b.one_on_ones_held
      FROM analytics.bucket_counts(company, lo, to_at, 'hour') b;
    RETURN (SELECT count(*) FROM generate_series(lo, to_at - interval '1 us',
                                                 interval '1 hour'));
END
$$;

--  The counts of company's facts in [from_at, to_at) per bucket
--  (date_trunc(unit) in the company's zone) and dimension: each fact is
--  attributed to its user's department and manager at the moment it
--  happened (membership), so a reorganisation never moves past facts.
CREATE FUNCTION analytics.bucket_counts (company uuid, from_at timestamptz,
                                         to_at timestamptz, unit text)
    RETURNS TABLE (bucket timestamptz, dim text, dim_id uuid,
                   active_users integer, actions integer, logins integer,
                   goals_created integer, goals_completed integer,
                   reviews_assigned integer, reviews_submitted integer,
                   reviews_on_time integer, reviews_completed integer,
                   feedback_given integer, one_on_ones_held integer)
    LANGUAGE sql STABLE
AS $$
    WITH f AS (
        SELECT date_trunc(unit, f.occurred_at, z.zone) AS bucket,
               f.kind, f.user_id, m.department_id, m.manager_id,
               CASE WHEN f.kind = 'review_submitted'
                    THEN NOT coalesce(f.late, f.occurred_at > (
                             SELECT max(a.due_at) FROM analytics.facts a
                              WHERE a.subject_id = f.subject_id
                                AND a.kind = 'review_assigned'
                                AND a.company_id = company), false)
               END AS on_time
          FROM analytics.facts f
          CROSS JOIN (SELECT CASE WHEN unit = 'hour' THEN 'UTC'
                                  ELSE analytics.zone_of(company) END AS zone) z
          LEFT JOIN analytics.membership m
            ON m.user_id = f.user_id AND m.valid_from <= f.occurred_at
           AND f.occurred_at < m.valid_to
         WHERE f.company_id = company
           AND f.occurred_at >= from_at AND f.occurred_at < to_at)
    SELECT bucket,
           CASE WHEN grouping(department_id) = 0 THEN 'department'
                WHEN grouping(manager_id) = 0 THEN 'manager'
                WHEN grouping(user_id) = 0 THEN 'user'
                ELSE 'company' END,
           coalesce(department_id, manager_id, user_id, company),
           count(DISTINCT user_id)::integer,
           count(*)::integer,
           count(*) FILTER (WHERE kind = 'login')::integer,
           count(*) FILTER (WHERE kind = 'goal_created')::integer,
           count(*) FILTER (WHERE kind = 'goal_completed')::integer,
           count(*) FILTER (WHERE kind = 'review_assigned')::integer,
           count(*) FILTER (WHERE kind = 'review_submitted')::integer,
           count(*) FILTER (WHERE on_time)::integer,
           count(*) FILTER (WHERE kind = 'review_completed')::integer,
           count(*) FILTER (WHERE kind = 'feedback_given')::integer,
           count(*) FILTER (WHERE kind = 'one_on_one_held')::integer
      FROM f
     GROUP BY GROUPING SETS ((bucket), (bucket, department_id),
                             (bucket, manager_id), (bucket, user_id))
    HAVING grouping(department_id, manager_id, user_id) = 7
        OR coalesce(department_id, manager_id, user_id) IS NOT NULL
$$;

--  Rebuild company's daily rollups for its local days first_day ..
--  last_day. Returns the days rebuilt.
CREATE FUNCTION analytics.rollup_days (company uuid, first_day date,
                                       last_day date)
    RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    zone text := analytics.zone_of(company);
    lo timestamptz := first_day::timestamp AT TIME ZONE zone;
    hi timestamptz := (last_day + 1)::timestamp AT TIME ZONE zone;
BEGIN
    IF last_day < first_day THEN
        RETURN 0;
    END IF;
    DELETE FROM analytics.rollup_daily
     WHERE company_id = company AND day BETWEEN first_day AND last_day;
    INSERT INTO analytics.rollup_daily
        (company_id, day, dim, dim_id, headcount, active_users, wau, mau,
         actions, logins, goals_created, goals_completed, reviews_assigned,
         reviews_submitted, reviews_on_time, reviews_completed,
         feedback_given, one_on_ones_held)
    WITH days AS (
        SELECT d::date AS day,
               (d::date + 1)::timestamp AT TIME ZONE zone AS day_end
          FROM generate_series(first_day::timestamp, last_day::timestamp,
                               interval '1 day') d),
    counts AS (
        SELECT (b.bucket AT TIME ZONE zone)::date AS day, b.*
          FROM analytics.bucket_counts(company, lo, hi, 'day') b),
    --  Members at the end of each day, per dimension.
    heads AS (
        SELECT d.day,
               CASE WHEN grouping(m.department_id) = 0 THEN 'department'
                    WHEN grouping(m.manager_id) = 0 THEN 'manager'
                    WHEN grouping(m.user_id) = 0 THEN 'user'
                    ELSE 'company' END AS dim,
               coalesce(m.department_id, m.manager_id, m.user_id, company)
                   AS dim_id,
               count(*)::integer AS headcount
          FROM days d JOIN analytics.membership m
            ON m.company_id = company AND m.valid_from < d.day_end
           AND d.day_end <= m.valid_to
         GROUP BY GROUPING SETS ((d.day), (d.day, m.department_id),
                                 (d.day, m.manager_id), (d.day, m.user_id))
        HAVING grouping(m.department_id, m.manager_id, m.user_id) = 7
            OR coalesce(m.department_id, m.manager_id, m.user_id)
               IS NOT NULL),
    --  Who was active on which local day, from 29 days before the first.
    active AS (
        SELECT DISTINCT (f.occurred_at AT TIME ZONE zone)::date AS day,
               f.user_id, m.department_id
          FROM analytics.facts f
          LEFT JOIN analytics.membership m
            ON m.user_id = f.user_id AND m.valid_from <= f.occurred_at
           AND f.occurred_at < m.valid_to
         WHERE f.company_id = company AND f.user_id IS NOT NULL
           AND f.occurred_at >= (first_day - 29)::timestamp AT TIME ZONE zone
           AND f.occurred_at < hi),
    windows AS (
        SELECT d.day,
               CASE WHEN grouping(a.department_id) = 0 THEN 'department'
                    ELSE 'company' END AS dim,
               coalesce(a.department_id, company) AS dim_id,
               count(DISTINCT a.user_id) FILTER (WHERE a.day > d.day - 7)
                   ::integer AS wau,
               count(DISTINCT a.user_id)::integer AS mau
          FROM days d JOIN active a
            ON a.day > d.day - 30 AND a.day <= d.day
         GROUP BY GROUPING SETS ((d.day), (d.day, a.department_id))
        HAVING grouping(a.department_id) = 1 OR a.department_id IS NOT NULL),
    keys AS (
        SELECT day, dim, dim_id FROM counts
        UNION SELECT day, dim, dim_id FROM heads
        UNION SELECT day, dim, dim_id FROM windows)
    SELECT company, k.day, k.dim, k.dim_id, coalesce(h.headcount, 0),
           coalesce(c.active_users, 0),
           CASE WHEN k.dim IN ('company', 'department')
                THEN coalesce(w.wau, 0) END,
           CASE WHEN k.dim IN ('company', 'department')
                THEN coalesce(w.mau, 0) END,
           coalesce(c.actions, 0), coalesce(c.logins, 0),
           coalesce(c.goals_created, 0), coalesce(c.goals_completed, 0),
           coalesce(c.reviews_assigned, 0), coalesce(c.reviews_submitted, 0),
           coalesce(c.reviews_on_time, 0), coalesce(c.reviews_completed, 0),
           coalesce(c.feedback_given, 0), coalesce(c.one_on_ones_held, 0)
      FROM keys k
      LEFT JOIN counts c USING (day, dim, dim_id)
      LEFT JOIN heads h USING (day, dim, dim_id)
      LEFT JOIN windows w USING (day, dim, dim_id);
    RETURN last_day - first_day + 1;
END
$$;

--  One scheduled job, run once: the caller holds job_lock_key's lock.
--  granularity 'hour' rebuilds each company's hours from its watermark to
--  the hour holding now (exclusive), and its dirty hours; 'day' the days
--  from its watermark to the local day holding now (exclusive) and its
--  dirty days. A company with no watermark starts at its first fact.
--  due names the run in job_runs: a run already recorded there is not
--  repeated (NULL is returned). Returns the buckets rebuilt.
CREATE FUNCTION analytics.run (gran text, run_due timestamptz,
                               now_at timestamptz, runner_name text)
    RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    c record;
    d record;
    zone text;
    mark timestamptz;
    upto timestamptz;
    total integer := 0;
BEGIN
    IF gran NOT IN ('hour', 'day') THEN
        RAISE EXCEPTION 'run: granularity % is not hour or day',
            gran USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO analytics.job_runs (job, due, runner)
    VALUES ('rollup_' || gran, run_due, runner_name)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    --  No batch is applied while the run reads: one that read the old
    --  watermark and committed facts of hours the run had already read
    --  would be in no rollup and in no dirty bucket. Batches hold the
    --  shared side for their transaction (analytics.apply).
    PERFORM pg_advisory_xact_lock(analytics.job_lock_key() + 1);
    FOR c IN SELECT company_id, time_zone FROM analytics.companies
              ORDER BY company_id
    LOOP
        zone := c.time_zone;
        SELECT done_to INTO mark FROM analytics.watermarks w
         WHERE w.company_id = c.company_id AND w.granularity = gran;
        IF gran = 'hour' THEN
            upto := date_trunc('hour', now_at, 'UTC');
            mark := coalesce(mark, (SELECT date_trunc('hour', min(occurred_at),
                                                      'UTC')
                                      FROM analytics.facts f
                                     WHERE f.company_id = c.company_id));
        ELSE
            upto := (now_at AT TIME ZONE zone)::date::timestamp
                    AT TIME ZONE zone;
            mark := coalesce(mark, (SELECT (min(occurred_at) AT TIME ZONE zone)
                                           ::date::timestamp AT TIME ZONE zone
                                      FROM analytics.facts f
                                     WHERE f.company_id = c.company_id));
        END IF;
        IF mark IS NULL THEN
            CONTINUE;
        END IF;
        --  Dirty buckets first (those not rebuilt by the range below),
        --  each run of consecutive ones in one call.
        FOR d IN WITH gone AS (DELETE FROM analytics.dirty x
                                WHERE x.company_id = c.company_id
                                  AND x.granularity = gran
                               RETURNING x.bucket),
                      local AS (SELECT (bucket AT TIME ZONE zone)::date AS day,
                                       bucket
                                  FROM gone WHERE bucket < mark)
                 SELECT min(bucket) AS first_at, max(bucket) AS last_at,
                        min(day) AS first_day, max(day) AS last_day
                   FROM (SELECT l.*, CASE WHEN gran = 'hour'
                                THEN l.bucket - interval '1 hour'
                                     * row_number() OVER (ORDER BY l.bucket)
                                ELSE (l.day - row_number() OVER
                                      (ORDER BY l.bucket)::integer)
                                     ::timestamptz END AS island
                           FROM local l) runs
                  GROUP BY island
        LOOP
            IF gran = 'hour' THEN
                total := total + analytics.rollup_hours(c.company_id,
                    d.first_at, d.last_at + interval '1 hour');
            ELSE
                total := total + analytics.rollup_days(c.company_id,
                    d.first_day, d.last_day);
            END IF;
        END LOOP;
        IF mark < upto THEN
            IF gran = 'hour' THEN
                total := total + analytics.rollup_hours(c.company_id, mark,
                                                        upto);
            ELSE
                total := total + analytics.rollup_days(c.company_id,
                    (mark AT TIME ZONE zone)::date,
                    (upto AT TIME ZONE zone)::date - 1);
            END IF;
            mark := upto;
        END IF;
        INSERT INTO analytics.watermarks AS w (company_id, granularity,
                                               done_to, computed_at)
        VALUES (c.company_id, gran, mark, now())
        ON CONFLICT (company_id, granularity)
        DO UPDATE SET done_to = greatest(w.done_to, excluded.done_to),
                      computed_at = excluded.computed_at;
    END LOOP;
    UPDATE analytics.job_runs j SET finished_at = clock_timestamp(),
                                    buckets = total
     WHERE j.job = 'rollup_' || gran AND j.due = run_due;
    RETURN total;
END
$$;

--  Mark company's buckets in [from_at, to_at) dirty, whatever the
--  watermark says, so the next run (or run at once by the caller)
--  rebuilds them: POST /analytics/recompute.
CREATE FUNCTION analytics.recompute (company uuid, from_at timestamptz,
                                     to_at timestamptz)
    RETURNS integer
    LANGUAGE plpgsql
AS $$
DECLARE
    zone text := analytics.zone_of(company);
    hours integer;
    days integer;
BEGIN
    INSERT INTO analytics.dirty (company_id, granularity, bucket)
    SELECT company, 'hour', h
      FROM generate_series(date_trunc('hour', from_at, 'UTC'),
                           to_at - interval '1 us', interval '1 hour') h
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS hours = ROW_COUNT;
    INSERT INTO analytics.dirty (company_id, granularity, bucket)
    SELECT company, 'day', (dd::date)::timestamp AT TIME ZONE zone
      FROM generate_series((from_at AT TIME ZONE zone)::date::timestamp,
                           (to_at - interval '1 us') AT TIME ZONE zone,
                           interval '1 day') dd
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS days = ROW_COUNT;
    RETURN hours + days;
END
$$;

--  ---------------------------------------------------------------------
--  The answers of the /analytics API (ferry-analytics builds nothing
--  itself: each route is one call of one of these). Every answer carries
--  computedAt (when the newest rollup row it read was computed),
--  watermark (the daily or hourly done_to of the company) and
--  lateEventsPending (late events whose buckets wait for the next run).

CREATE FUNCTION analytics.api_meta (company uuid, gran text)
    RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'watermark', (SELECT to_char(done_to AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                        FROM analytics.watermarks w
                       WHERE w.company_id = company AND w.granularity = gran),
        'computedAt', (SELECT to_char(computed_at AT TIME ZONE 'UTC',
                                      'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                         FROM analytics.watermarks w
                        WHERE w.company_id = company
                          AND w.granularity = gran),
        --  A late event marks its hour and its day: counted once.
        'lateEventsPending', (SELECT greatest(
                                  coalesce(sum(late_events)
                                      FILTER (WHERE granularity = 'hour'), 0),
                                  coalesce(sum(late_events)
                                      FILTER (WHERE granularity = 'day'), 0))
                                FROM analytics.dirty d
                               WHERE d.company_id = company));
$$;

--  A ratio, NULL when the denominator is 0, rounded to 4 places.
CREATE FUNCTION analytics.ratio (num numeric, den numeric)
    RETURNS numeric
    LANGUAGE sql IMMUTABLE
    RETURN CASE WHEN den > 0 THEN round(num / den, 4) END;

--  The local days of company whose start lies in [from_at, to_at).
CREATE FUNCTION analytics.local_days (company uuid, from_at timestamptz,
                                      to_at timestamptz,
                                      OUT first_day date, OUT last_day date)
    LANGUAGE sql STABLE
AS $$
    SELECT (ceil_at AT TIME ZONE z)::date, ((to_at - interval '1 us')
                                            AT TIME ZONE z)::date
      FROM (SELECT analytics.zone_of(company) AS z) zz,
           LATERAL (SELECT CASE WHEN (from_at AT TIME ZONE z)::time = '00:00'
                                THEN from_at
                                ELSE ((from_at AT TIME ZONE z)::date + 1)
                                     ::timestamp AT TIME ZONE z END
                               AS ceil_at) c;
$$;

--  GET /analytics/company/:id/stats: the company dimension per bucket and
--  the period's KPIs (doc/analytics.md, "Company").
CREATE FUNCTION analytics.api_company_stats (company uuid,
                                             from_at timestamptz,
                                             to_at timestamptz, gran text)
    RETURNS json
    LANGUAGE plpgsql STABLE
    --  Every call plans with its own values: a generic plan cannot see
    --  that one company is a narrow slice of the rollups.
    SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    series json;
    totals json;
    meta jsonb;
    d record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM analytics.companies
                    WHERE company_id = company) THEN
        RETURN NULL;
    END IF;
    IF gran = 'hour' THEN
        SELECT coalesce(json_agg(json_build_object(
                   'bucket', to_char(r.hour AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   'activeUsers', r.active_users, 'actions', r.actions,
                   'logins', r.logins, 'goalsCreated', r.goals_created,
                   'goalsCompleted', r.goals_completed,
                   'reviewsAssigned', r.reviews_assigned,
                   'reviewsSubmitted', r.reviews_submitted,
                   'feedbackGiven', r.feedback_given,
                   'oneOnOnesHeld', r.one_on_ones_held) ORDER BY r.hour),
                   '[]'::json)
          INTO series
          FROM analytics.rollup_hourly r
         WHERE r.company_id = company AND r.dim = 'company'
           AND r.dim_id = company AND r.hour >= from_at AND r.hour < to_at;
        SELECT json_build_object(
                   'logins', coalesce(sum(r.logins), 0),
                   'actions', coalesce(sum(r.actions), 0),
                   'goalsCreated', coalesce(sum(r.goals_created), 0),
                   'goalsCompleted', coalesce(sum(r.goals_completed), 0),
                   'goalCompletionRate', analytics.ratio(sum(r.goals_completed),
                                                         sum(r.goals_created)),
                   'reviewCompletionRate',
                       analytics.ratio(sum(r.reviews_submitted),
                                       sum(r.reviews_assigned)),
                   'feedbackGiven', coalesce(sum(r.feedback_given), 0),
                   'oneOnOnesHeld', coalesce(sum(r.one_on_ones_held), 0))
          INTO totals
          FROM analytics.rollup_hourly r
         WHERE r.company_id = company AND r.dim = 'company'
           AND r.dim_id = company AND r.hour >= from_at AND r.hour < to_at;
    ELSE
        SELECT * INTO d FROM analytics.local_days(company, from_at, to_at);
        SELECT coalesce(json_agg(json_build_object(
                   'bucket', to_char(r.day, 'YYYY-MM-DD'),
                   'headcount', r.headcount, 'dau', r.active_users,
                   'wau', r.wau, 'mau', r.mau, 'actions', r.actions,
                   'logins', r.logins, 'goalsCreated', r.goals_created,
                   'goalsCompleted', r.goals_completed,
                   'reviewsAssigned', r.reviews_assigned,
                   'reviewsSubmitted', r.reviews_submitted,
                   'feedbackGiven', r.feedback_given,
                   'oneOnOnesHeld', r.one_on_ones_held) ORDER BY r.day),
                   '[]'::json)
          INTO series
          FROM analytics.rollup_daily r
         WHERE r.company_id = company AND r.dim = 'company'
           AND r.dim_id = company AND r.day BETWEEN d.first_day
                                              AND d.last_day;
        SELECT json_build_object(
                   'headcount', (array_agg(r.headcount ORDER BY r.day DESC))[1],
                   'dau', round(avg(r.active_users), 2),
                   'wau', (array_agg(r.wau ORDER BY r.day DESC))[1],
                   'mau', (array_agg(r.mau ORDER BY r.day DESC))[1],
                   'logins', coalesce(sum(r.logins), 0),
                   'actions', coalesce(sum(r.actions), 0),
                   'goalsCreated', coalesce(sum(r.goals_created), 0),
                   'goalsCompleted', coalesce(sum(r.goals_completed), 0),
                   'goalCompletionRate', analytics.ratio(sum(r.goals_completed),
                                                         sum(r.goals_created)),
                   'reviewCompletionRate',
                       analytics.ratio(sum(r.reviews_submitted),
                                       sum(r.reviews_assigned)),
                   'feedbackGiven', coalesce(sum(r.feedback_given), 0),
                   'oneOnOnesHeld', coalesce(sum(r.one_on_ones_held), 0))
          INTO totals
          FROM analytics.rollup_daily r
         WHERE r.company_id = company AND r.dim = 'company'
           AND r.dim_id = company AND r.day BETWEEN d.first_day
                                              AND d.last_day;
    END IF;
    meta := analytics.api_meta(company, gran);
    --  json, not jsonb: a year of buckets is built twice as fast, and
    --  keys stay in this order.
    RETURN json_build_object('companyId', company, 'granularity', gran,
                             'from', to_char(from_at AT TIME ZONE 'UTC',
                                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                             'to', to_char(to_at AT TIME ZONE 'UTC',
                                           'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                             'timeZone', analytics.zone_of(company),
                             'computedAt', meta -> 'computedAt',
                             'watermark', meta -> 'watermark',
                             'lateEventsPending', meta -> 'lateEventsPending',
                             'totals', totals, 'series', series);
END
$$;

--  GET /analytics/company/:id/users: per user over the period, in user id
--  order after the cursor (keyset), at most page_size; nextCursor is the
--  last id when more may follow.
CREATE FUNCTION analytics.api_company_users (company uuid,
                                             from_at timestamptz,
                                             to_at timestamptz,
                                             after uuid, page_size integer)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    --  Every call plans with its own values: a generic plan cannot see
    --  that one company is a narrow slice of the rollups.
    SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    d record;
    days integer;
    items jsonb;
    n integer;
    last_id uuid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM analytics.companies
                    WHERE company_id = company) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO d FROM analytics.local_days(company, from_at, to_at);
    days := greatest(d.last_day - d.first_day + 1, 1);
    WITH page AS (
        SELECT u.user_id, u.display_name, u.deactivated_at
          FROM analytics.users u
         WHERE u.company_id = company
           AND (after IS NULL OR u.user_id > after)
         ORDER BY u.user_id LIMIT page_size),
    stats AS (
        SELECT p.user_id,
               (SELECT max(r.day) FROM analytics.rollup_daily r
                 WHERE r.company_id = company AND r.dim = 'user'
                   AND r.dim_id = p.user_id AND r.actions > 0) AS last_active,
               count(r.day) FILTER (WHERE r.actions > 0) AS active_days,
               coalesce(sum(r.actions), 0) AS actions
          FROM page p
          LEFT JOIN analytics.rollup_daily r
            ON r.company_id = company AND r.dim = 'user'
           AND r.dim_id = p.user_id
           AND r.day BETWEEN d.first_day AND d.last_day
         GROUP BY p.user_id)
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'userId', p.user_id, 'name', p.display_name,
               'active', p.deactivated_at IS NULL,
               'lastActive', to_char(s.last_active, 'YYYY-MM-DD'),
               'activeDays', s.active_days, 'actions', s.actions,
               'engagementScore', analytics.engagement_score(
                   s.active_days::integer, s.actions::integer, days))
               ORDER BY p.user_id), '[]'),
           count(*), max(p.user_id::text)::uuid
      INTO items, n, last_id
      FROM page p JOIN stats s USING (user_id);
    RETURN jsonb_build_object('companyId', company,
                              'from', to_char(d.first_day, 'YYYY-MM-DD'),
                              'to', to_char(d.last_day, 'YYYY-MM-DD'),
                              'items', items,
                              'nextCursor', CASE WHEN n = page_size
                                                 THEN last_id END)
           || analytics.api_meta(company, 'day');
END
$$;

--  The engagement score (doc/analytics.md): 70 points for activity on
--  every day of the period, 30 for two actions a day on average.
CREATE FUNCTION analytics.engagement_score (active_days integer,
                                            actions integer, days integer)
    RETURNS integer
    LANGUAGE sql IMMUTABLE
    RETURN round(70.0 * least(active_days, days) / greatest(days, 1)
                 + 30.0 * least(1.0, actions / (2.0 * greatest(days, 1))));

--  The KPIs of one dimension row set over local days first_day..last_day:
--  headcount at the end, rates and per-head figures; used by the
--  department and manager answers and the reporting views.
CREATE FUNCTION analytics.group_kpis (company uuid, group_dim text,
                                      group_id uuid, first_day date,
                                      last_day date)
    RETURNS jsonb
    LANGUAGE sql STABLE
AS $$
    SELECT jsonb_build_object(
        'headcount', coalesce((array_agg(r.headcount ORDER BY r.day DESC))[1],
                              0),
        'goalsCreated', coalesce(sum(r.goals_created), 0),
        'goalsCompleted', coalesce(sum(r.goals_completed), 0),
        'goalCompletionRate', analytics.ratio(sum(r.goals_completed),
                                              sum(r.goals_created)),
        'reviewCompletionRate', analytics.ratio(sum(r.reviews_submitted),
                                                sum(r.reviews_assigned)),
        'feedbackGiven', coalesce(sum(r.feedback_given), 0),
        'feedbackPerHead', analytics.ratio(sum(r.feedback_given),
                                           avg(r.headcount)),
        'oneOnOnesHeld', coalesce(sum(r.one_on_ones_held), 0),
        'oneOnOnesPerHeadPer30Days',
            analytics.ratio(sum(r.one_on_ones_held) * 30,
                            avg(r.headcount) * (last_day - first_day + 1)))
      FROM analytics.rollup_daily r
     WHERE r.company_id = company AND r.dim = group_dim
       AND r.dim_id = group_id AND r.day BETWEEN first_day AND last_day;
$$;

--  GET /analytics/company/:id/departments: every department with daily
--  rows in the period; one with fewer than min_group members at the end
--  of the period is listed without figures.
CREATE FUNCTION analytics.api_company_departments (company uuid,
                                                   from_at timestamptz,
                                                   to_at timestamptz,
                                                   min_group integer)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    --  Every call plans with its own values: a generic plan cannot see
    --  that one company is a narrow slice of the rollups.
    SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    d record;
    items jsonb;
    hidden integer;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM analytics.companies
                    WHERE company_id = company) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO d FROM analytics.local_days(company, from_at, to_at);
    WITH groups AS (
        SELECT g.dim_id, dep.name,
               analytics.group_kpis(company, 'department', g.dim_id,
                                    d.first_day, d.last_day) AS kpis
          FROM (SELECT DISTINCT r.dim_id FROM analytics.rollup_daily r
                 WHERE r.company_id = company AND r.dim = 'department'
                   AND r.day BETWEEN d.first_day AND d.last_day) g
          LEFT JOIN analytics.departments dep ON dep.department_id = g.dim_id)
    SELECT coalesce(jsonb_agg(
               CASE WHEN (g.kpis ->> 'headcount')::integer < min_group
                    THEN jsonb_build_object('departmentId', g.dim_id,
                                            'name', g.name,
                                            'suppressed', true)
                    ELSE jsonb_build_object('departmentId', g.dim_id,
                                            'name', g.name,
                                            'suppressed', false) || g.kpis
               END ORDER BY g.name, g.dim_id), '[]'),
           count(*) FILTER (WHERE (g.kpis ->> 'headcount')::integer
                                  < min_group)
      INTO items, hidden
      FROM groups g;
    RETURN jsonb_build_object('companyId', company,
                              'from', to_char(d.first_day, 'YYYY-MM-DD'),
                              'to', to_char(d.last_day, 'YYYY-MM-DD'),
                              'minGroupSize', min_group,
                              'suppressedGroups', hidden, 'items', items)
           || analytics.api_meta(company, 'day');
END
$$;

--  GET /analytics/manager/:id/performance: the manager's team (direct
--  reports, by membership) and the manager's own reviews, one-on-ones and
--  feedback. Team figures are withheld when the team is smaller than
--  min_group at the end of the period.
CREATE FUNCTION analytics.api_manager_performance (manager uuid,
                                                   from_at timestamptz,
                                                   to_at timestamptz,
                                                   min_group integer)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE
    --  Every call plans with its own values: a generic plan cannot see
    --  that one company is a narrow slice of the rollups.
    SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    company uuid;
    d record;
    team jsonb;
    own record;
    size integer;
BEGIN
    SELECT u.company_id INTO company FROM analytics.users u
     WHERE u.user_id = manager;
    IF company IS NULL THEN
        SELECT m.company_id INTO company FROM analytics.membership m
         WHERE m.manager_id = manager LIMIT 1;
    END IF;
    IF company IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO d FROM analytics.local_days(company, from_at, to_at);
    team := analytics.group_kpis(company, 'manager', manager, d.first_day,
                                 d.last_day);
    size := (team ->> 'headcount')::integer;
    SELECT coalesce(sum(r.reviews_submitted), 0) AS submitted,
           coalesce(sum(r.reviews_on_time), 0) AS on_time,
           coalesce(sum(r.feedback_given), 0) AS feedback
      INTO own
      FROM analytics.rollup_daily r
     WHERE r.company_id = company AND r.dim = 'user' AND r.dim_id = manager
       AND r.day BETWEEN d.first_day AND d.last_day;
    RETURN jsonb_build_object(
        'managerId', manager,
        'name', (SELECT display_name FROM analytics.users
                  WHERE user_id = manager),
        'companyId', company,
        'from', to_char(d.first_day, 'YYYY-MM-DD'),
        'to', to_char(d.last_day, 'YYYY-MM-DD'),
        'minGroupSize', min_group,
        'teamSize', size,
        'suppressed', size < min_group,
        'team', CASE WHEN size >= min_group THEN jsonb_build_object(
                    'goalsCreated', team -> 'goalsCreated',
                    'goalsCompleted', team -> 'goalsCompleted',
                    'goalCompletionRate', team -> 'goalCompletionRate',
                    'oneOnOnesHeld', team -> 'oneOnOnesHeld',
                    'oneOnOnesPerMemberPer30Days',
                        team -> 'oneOnOnesPerHeadPer30Days') END,
        'reviewsSubmitted', own.submitted,
        'reviewsSubmittedOnTime', own.on_time,
        'reviewsOnTimeRate', analytics.ratio(own.on_time, own.submitted),
        'feedbackGiven', own.feedback)
           || analytics.api_meta(company, 'day');
END
$$;
