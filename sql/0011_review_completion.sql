--  0011_review_completion: the review completion rate made a true rate
--  (doc/analytics.md, "Company"). It was reviews submitted in a period /
--  reviews assigned in it, two different sets of reviews, and exceeded 1
--  (1.0068 for a department of the README's month): a review submitted
--  in the period may have been assigned before it, and a reviewer who
--  moved department took submissions into a department that never counted
--  their assignments. Now: of the reviews assigned in the period (to a
--  reviewer then in the group), the share submitted before its end. It is
--  read from the facts (an index on the assignments alone), so it needs
--  no rollup column and follows every late event at once.

--  The assignments, by company and time: a partial index, so the facts of
--  the other kinds (nearly all) cost an append nothing more.
CREATE INDEX facts_review_assigned ON analytics.facts (company_id, occurred_at)
    WHERE kind = 'review_assigned';

--  Of the reviews assigned in [from_at, to_at) to a reviewer who was, at
--  the assignment, in the group (group_dim 'company': the whole company;
--  'department' or 'manager': group_id's department or team), the share
--  with a submission before by_at; each review once. NULL when none was
--  assigned. SECURITY DEFINER: reporting views call it as their reader,
--  who may not read analytics.
CREATE FUNCTION analytics.review_completion_rate (company uuid,
                                                  group_dim text,
                                                  group_id uuid,
                                                  from_at timestamptz,
                                                  to_at timestamptz,
                                                  by_at timestamptz)
    RETURNS numeric
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT analytics.ratio(
               count(*) FILTER (WHERE EXISTS (
                   SELECT 1 FROM analytics.facts s
                    WHERE s.subject_id = a.subject_id
                      AND s.kind = 'review_submitted'
                      AND s.company_id = company AND s.occurred_at < by_at)),
               count(*))
      FROM (SELECT DISTINCT f.subject_id
              FROM analytics.facts f
              LEFT JOIN analytics.membership m
                ON group_dim <> 'company' AND m.user_id = f.user_id
               AND m.valid_from <= f.occurred_at AND f.occurred_at < m.valid_to
             WHERE f.company_id = company AND f.kind = 'review_assigned'
               AND f.subject_id IS NOT NULL
               AND f.occurred_at >= from_at AND f.occurred_at < to_at
               AND (group_dim = 'company'
                    OR (group_dim = 'department' AND m.department_id = group_id)
                    OR (group_dim = 'manager' AND m.manager_id = group_id))) a;
$$;

--  GET /analytics/company/:id/stats: the company dimension per bucket and
--  the period's KPIs (doc/analytics.md, "Company").
CREATE OR REPLACE FUNCTION analytics.api_company_stats (company uuid,
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
                       analytics.review_completion_rate(company, 'company',
                                                        company, from_at,
                                                        to_at, to_at),
                   'feedbackGiven', coalesce(sum(r.feedback_given), 0),
                   'oneOnOnesHeld', coalesce(sum(r.one_on_ones_held), 0))
          INTO totals
          FROM analytics.rollup_hourly r
         WHERE r.company_id = company AND r.dim = 'company'
           AND r.dim_id = company AND r.hour >= from_at AND r.hour < to_at;
    ELSE
        SELECT l.*, l.first_day::timestamp AT TIME ZONE z.zone AS first_at,
               (l.last_day + 1)::timestamp AT TIME ZONE z.zone AS end_at
          INTO d
          FROM analytics.local_days(company, from_at, to_at) l,
               (SELECT analytics.zone_of(company) AS zone) z;
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
                       analytics.review_completion_rate(
                           company, 'company', company, d.first_at, d.end_at,
                           d.end_at),
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

--  The KPIs of one dimension row set over local days first_day..last_day:
--  headcount at the end, rates and per-head figures; used by the
--  department and manager answers and the reporting views.
CREATE OR REPLACE FUNCTION analytics.group_kpis (company uuid, group_dim text,
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
        'reviewCompletionRate', analytics.review_completion_rate(
            company, group_dim, group_id,
            first_day::timestamp AT TIME ZONE analytics.zone_of(company),
            (last_day + 1)::timestamp AT TIME ZONE analytics.zone_of(company),
            (last_day + 1)::timestamp AT TIME ZONE analytics.zone_of(company)),
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

CREATE OR REPLACE FUNCTION reporting.company_stats (company uuid,
                                                    first_day date,
                                                    last_day date)
    RETURNS TABLE (company_name text, headcount integer, avg_dau numeric,
                   wau integer, mau integer, logins bigint,
                   goals_created bigint, goals_completed bigint,
                   goal_completion_rate numeric,
                   review_completion_rate numeric, feedback_given bigint,
                   one_on_ones_held bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT max(c.name),
           (array_agg(r.headcount ORDER BY r.day DESC))[1],
           round(avg(r.active_users), 2),
           (array_agg(r.wau ORDER BY r.day DESC))[1],
           (array_agg(r.mau ORDER BY r.day DESC))[1],
           sum(r.logins), sum(r.goals_created), sum(r.goals_completed),
           analytics.ratio(sum(r.goals_completed), sum(r.goals_created)),
           analytics.review_completion_rate(
               company, 'company', company,
               first_day::timestamp AT TIME ZONE analytics.zone_of(company),
               (last_day + 1)::timestamp AT TIME ZONE analytics.zone_of(company),
               (last_day + 1)::timestamp AT TIME ZONE analytics.zone_of(company)),
           sum(r.feedback_given), sum(r.one_on_ones_held)
      FROM analytics.rollup_daily r
      JOIN analytics.companies c ON c.company_id = r.company_id
     WHERE r.company_id = company AND r.dim = 'company'
       AND r.day BETWEEN first_day AND last_day;
$$;
COMMENT ON FUNCTION reporting.company_stats (uuid, date, date) IS
    'Company KPIs over local days first_day..last_day: headcount, WAU and '
    'MAU of the last day, mean DAU, sums, the goal completion rate (goals '
    'completed / created in the period: may exceed 1) and the review '
    'completion rate (of the reviews assigned in the period, the share '
    'submitted by its end: a true rate; doc/analytics.md, Company).';

--  Per day, the reviews assigned that day and submitted so far: one day
--  is too short for "by its end" to say much.
CREATE OR REPLACE VIEW reporting.company_daily AS
    SELECT r.company_id, c.name AS company_name, r.day, r.headcount,
           r.active_users AS dau, r.wau, r.mau, r.logins, r.actions,
           r.goals_created, r.goals_completed,
           analytics.ratio(r.goals_completed, r.goals_created)
               AS goal_completion_rate,
           r.reviews_assigned, r.reviews_submitted,
           analytics.review_completion_rate(
               r.company_id, 'company', r.company_id,
               r.day::timestamp AT TIME ZONE c.time_zone,
               (r.day + 1)::timestamp AT TIME ZONE c.time_zone, 'infinity')
               AS review_completion_rate,
           r.feedback_given, r.one_on_ones_held, r.computed_at
      FROM analytics.rollup_daily r
      JOIN analytics.companies c ON c.company_id = r.company_id
     WHERE r.dim = 'company';
COMMENT ON VIEW reporting.company_daily IS
    'Company KPIs per local day (doc/analytics.md, Company): headcount at '
    'the day''s end, DAU, WAU and MAU (7 and 30 days ending with it), '
    'logins, goals and their completion rate (completed / created that '
    'day), reviews assigned and submitted that day, and the review '
    'completion rate: of the reviews assigned that day, the share '
    'submitted so far (a true rate); feedback, one-on-ones held.';
