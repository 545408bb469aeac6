--  0009_analytics_ingest: what is left in SQL of applying a batch once
--  ferry-analytics maps events to facts itself (doc/analytics.md,
--  "Applying a batch"). fy_store_analytics_apply records the batch's ids
--  (analytics.event_ids) and COPYs the facts of the ids it recorded, then
--  calls analytics.apply_rest once for the batch: the companies, the
--  names, the organisation over time and the dirty buckets, each set-wise
--  over the batch. analytics.apply (0006) stays for a batch applied by
--  hand; the store no longer calls it.

--  Mark the buckets of each (company, from_at, to_at, late) dirty where
--  they lie before the company's watermarks, as analytics.mark_dirty does
--  for one: the same buckets and late counts for the whole set in two
--  statements (the late counts of rows that share a bucket add up).
CREATE FUNCTION analytics.mark_dirty_set (companies uuid[],
                                          froms timestamptz[],
                                          tos timestamptz[],
                                          lates integer[])
    RETURNS void
    LANGUAGE sql
AS $$
    INSERT INTO analytics.dirty AS d (company_id, granularity, bucket,
                                      late_events)
    SELECT r.company, 'hour', h, sum(r.late)::integer
      FROM unnest(companies, froms, tos, lates) AS r (company, from_at, to_at,
                                                       late)
      JOIN analytics.watermarks w
        ON w.company_id = r.company AND w.granularity = 'hour'
       AND r.from_at < w.done_to
      CROSS JOIN LATERAL generate_series(
          date_trunc('hour', r.from_at, 'UTC'),
          least(r.to_at, w.done_to) - interval '1 us', interval '1 hour') h
     GROUP BY 1, 3 ORDER BY 1, 3
    ON CONFLICT (company_id, granularity, bucket)
    DO UPDATE SET late_events = d.late_events + excluded.late_events;
    --  A day's wau and mau look 30 days back: the 29 days after a changed
    --  day change too.
    INSERT INTO analytics.dirty AS d (company_id, granularity, bucket,
                                      late_events)
    SELECT r.company, 'day', (dd::date)::timestamp AT TIME ZONE r.zone,
           sum(CASE WHEN dd::date = (r.from_at AT TIME ZONE r.zone)::date
                    THEN r.late ELSE 0 END)::integer
      FROM (SELECT u.*, analytics.zone_of(u.company) AS zone
              FROM unnest(companies, froms, tos, lates)
                   AS u (company, from_at, to_at, late)) r
      JOIN analytics.watermarks w
        ON w.company_id = r.company AND w.granularity = 'day'
       AND r.from_at < w.done_to
      CROSS JOIN LATERAL generate_series(
          (r.from_at AT TIME ZONE r.zone)::date::timestamp,
          (least(r.to_at + interval '29 days', w.done_to)
               - interval '1 us') AT TIME ZONE r.zone,
          interval '1 day') dd
     GROUP BY 1, 3 ORDER BY 1, 3
    ON CONFLICT (company_id, granularity, bucket)
    DO UPDATE SET late_events = d.late_events + excluded.late_events;
$$;

--  The membership of each of users rebuilt from their organisation
--  changes, as analytics.rebuild_membership does for one, in one pass.
CREATE FUNCTION analytics.rebuild_memberships (users uuid[])
    RETURNS void
    LANGUAGE sql
AS $$
    DELETE FROM analytics.membership WHERE user_id = ANY (users);
    INSERT INTO analytics.membership (company_id, user_id, department_id,
                                      manager_id, valid_from, valid_to)
    SELECT company_id, user_id, department_id, manager_id, effective_at,
           coalesce(next_at, 'infinity')
      FROM (SELECT p.company_id, p.user_id, p.effective_at,
                   lead(p.effective_at) OVER (PARTITION BY p.user_id
                                              ORDER BY p.effective_at)
                       AS next_at,
                   (SELECT c.ends FROM analytics.org_changes c
                     WHERE c.user_id = p.user_id
                       AND c.effective_at = p.effective_at
                     ORDER BY c.ends DESC LIMIT 1) AS ends,
                   (SELECT c.department_id FROM analytics.org_changes c
                     WHERE c.user_id = p.user_id AND c.sets_department
                       AND c.effective_at <= p.effective_at
                     ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1)
                       AS department_id,
                   (SELECT c.manager_id FROM analytics.org_changes c
                     WHERE c.user_id = p.user_id AND c.sets_manager
                       AND c.effective_at <= p.effective_at
                     ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1)
                       AS manager_id
              FROM (SELECT DISTINCT ON (user_id, effective_at) company_id,
                           user_id, effective_at
                      FROM analytics.org_changes
                     WHERE user_id = ANY (users)
                     ORDER BY user_id, effective_at) p) m
     WHERE NOT ends;
$$;

--  The rest of a batch after its ids are recorded and its facts copied,
--  inside the same transaction: companies are the companies of the events
--  applied now; org their envelopes (a jsonb array, in batch order) of
--  the types that name or reorganise (company.created, user.*,
--  department.*), NULL when there are none; fact_companies, fact_hours
--  and fact_counts the facts copied, counted per company and UTC hour,
--  whose buckets before the watermarks are marked dirty (late events).
--  The caller holds analytics.job_lock_key() + 1 shared since its BEGIN,
--  so the watermarks stay as they are until COMMIT.
CREATE FUNCTION analytics.apply_rest (companies uuid[], org jsonb,
                                      fact_companies uuid[],
                                      fact_hours timestamptz[],
                                      fact_counts integer[])
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    --  Companies first: a zone given here decides the days of the rest.
    INSERT INTO analytics.companies (company_id)
    SELECT DISTINCT c FROM unnest(companies) c ORDER BY 1
    ON CONFLICT DO NOTHING;
    IF org IS NOT NULL THEN
        --  Made once per session (ON COMMIT DELETE ROWS empties it).
        IF to_regclass('pg_temp.analytics_org') IS NULL THEN
            CREATE TEMP TABLE analytics_org (
                ord bigint, id uuid, occurred_at timestamptz,
                company_id uuid, type text, payload jsonb)
                ON COMMIT DELETE ROWS;
        END IF;
        TRUNCATE analytics_org;
        INSERT INTO analytics_org
        SELECT b.ord, (b.e ->> 'id')::uuid, (b.e ->> 'occurredAt')::timestamptz,
               (b.e ->> 'companyId')::uuid, b.e ->> 'type', b.e -> 'payload'
          FROM jsonb_array_elements(org) WITH ORDINALITY AS b (e, ord);
        UPDATE analytics.companies c
           SET name = i.payload ->> 'name', created_at = i.occurred_at,
               time_zone = CASE WHEN EXISTS (SELECT 1 FROM pg_timezone_names z
                                              WHERE z.name = i.payload
                                                    ->> 'timezone')
                                THEN i.payload ->> 'timezone' ELSE 'UTC' END
          FROM analytics_org i
         WHERE i.type = 'company.created' AND c.company_id = i.company_id;
    END IF;

    PERFORM analytics.mark_dirty_set(
        fact_companies, fact_hours,
        (SELECT array_agg(h + interval '1 hour' ORDER BY n)
           FROM unnest(fact_hours) WITH ORDINALITY AS x (h, n)),
        fact_counts)
     WHERE cardinality(fact_companies) > 0;

    IF org IS NULL THEN
        RETURN;
    END IF;
    --  Names.
    INSERT INTO analytics.users AS u (user_id, company_id, display_name,
                                      created_at)
    SELECT DISTINCT ON ((i.payload ->> 'userId')::uuid)
           (i.payload ->> 'userId')::uuid, i.company_id,
           coalesce(i.payload ->> 'displayName',
                    concat_ws(' ', i.payload ->> 'firstName',
                              i.payload ->> 'lastName')),
           i.occurred_at
      FROM analytics_org i WHERE i.type = 'user.created'
     ORDER BY (i.payload ->> 'userId')::uuid, i.ord
    ON CONFLICT (user_id) DO UPDATE
       SET display_name = excluded.display_name,
           created_at = excluded.created_at;
    UPDATE analytics.users u
       SET display_name = i.payload -> 'updates' ->> 'displayName'
      FROM analytics_org i
     WHERE i.type = 'user.updated'
       AND i.payload -> 'updates' ? 'displayName'
       AND u.user_id = (i.payload ->> 'userId')::uuid;
    INSERT INTO analytics.departments AS d (department_id, company_id, name,
                                            parent_id)
    SELECT DISTINCT ON ((i.payload ->> 'departmentId')::uuid)
           (i.payload ->> 'departmentId')::uuid, i.company_id,
           i.payload ->> 'name', (i.payload ->> 'parentDepartmentId')::uuid
      FROM analytics_org i WHERE i.type = 'department.created'
     ORDER BY (i.payload ->> 'departmentId')::uuid, i.ord
    ON CONFLICT (department_id) DO UPDATE
       SET name = excluded.name, parent_id = excluded.parent_id;
    UPDATE analytics.departments d
       SET name = i.payload -> 'updates' ->> 'name'
      FROM analytics_org i
     WHERE i.type = 'department.updated'
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
      FROM analytics_org i
     WHERE i.type IN ('user.created', 'user.department_changed',
                      'user.manager_changed', 'user.deactivated');
    UPDATE analytics.users u SET deactivated_at = i.occurred_at
      FROM analytics_org i
     WHERE i.type = 'user.deactivated'
       AND u.user_id = (i.payload ->> 'userId')::uuid;
    PERFORM analytics.rebuild_memberships(array_agg(DISTINCT uid ORDER BY uid))
       FROM (SELECT (i.payload ->> 'userId')::uuid AS uid
               FROM analytics_org i
              WHERE i.type IN ('user.created', 'user.department_changed',
                               'user.manager_changed', 'user.deactivated')) u
     HAVING count(*) > 0;
    --  Who was where changed from the earliest change on: every bucket
    --  after it (the union of each user's buckets from their change on).
    PERFORM analytics.mark_dirty_set(array_agg(s.company_id),
                                     array_agg(s.since),
                                     array_agg('infinity'::timestamptz),
                                     array_agg(0))
       FROM (SELECT i.company_id,
                    min(coalesce((i.payload ->> 'effectiveAt')::timestamptz,
                                 i.occurred_at)) AS since
               FROM analytics_org i
              WHERE i.type IN ('user.created', 'user.department_changed',
                               'user.manager_changed', 'user.deactivated')
              GROUP BY 1) s
     HAVING count(*) > 0;
END
$$;
