--  0008_analytics_reporting: the reporting schema for analysts in psql
--  (doc/analytics.md, "Reporting in psql"): a view or function for each
--  analytics KPI, each with COMMENT ON (so \dv+ and \df+ explain it),
--  names beside ids; the role ferry_reporting, which may read reporting
--  and nothing else; and day filters that prune partitions, for the new
--  views and for reporting.audit_events_per_day, which until now scanned
--  every monthly partition of audit.events whatever the day asked for.

--  A filter on a day cannot prune partitions keyed on a timestamp when
--  the day is computed from it (the planner never inverts the
--  expression). The per-day views therefore join a calendar: the filter
--  narrows the days, and each day's rows are fetched by a range on the
--  partition key, which prunes to the day's partition when the plan runs
--  (EXPLAIN ANALYZE shows the others "never executed"). A BRIN index on
--  the key (a few pages per partition, nothing to maintain on appends in
--  time order) makes each day's range cheap without a company filter.
CREATE VIEW reporting.calendar AS
    SELECT g::date AS day
      FROM generate_series(timestamp '2000-01-01', timestamp '2099-12-31',
                           interval '1 day') g;
COMMENT ON VIEW reporting.calendar IS
    'Every day from 2000 to 2099: what the per-day views join on, so a '
    'filter on their day column reaches the time partitions.';

CREATE INDEX events_occurred_brin ON audit.events USING brin (occurred_at);
CREATE INDEX facts_occurred_brin ON analytics.facts USING brin (occurred_at);

CREATE OR REPLACE VIEW reporting.audit_events_per_day AS
    SELECT e.company_id, d.day, e.type, count(*) AS events
      FROM reporting.calendar d
      JOIN audit.events e
        ON e.occurred_at >= d.day::timestamp AT TIME ZONE 'UTC'
       AND e.occurred_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     GROUP BY e.company_id, d.day, e.type;
COMMENT ON VIEW reporting.audit_events_per_day IS
    'Audit events per UTC day, by company and type. A filter on day reads '
    'only the partitions of those days.';
COMMENT ON VIEW reporting.audit_active_actors IS
    'Who did most, per company, over the last 30 days (events without an '
    'actor left out).';
COMMENT ON VIEW reporting.audit_actions_per_day IS
    'Explicit audit records (audit.recorded) by action and outcome, per '
    'company and UTC day.';

--  The analytics views: facts and rollups with names.
CREATE VIEW reporting.activity AS
    SELECT f.company_id, c.name AS company_name, f.occurred_at, f.kind,
           f.user_id, u.display_name AS user_name, m.department_id,
           dep.name AS department_name, m.manager_id,
           mu.display_name AS manager_name, f.subject_id, f.other_id
      FROM analytics.facts f
      LEFT JOIN analytics.companies c ON c.company_id = f.company_id
      LEFT JOIN analytics.users u ON u.user_id = f.user_id
      LEFT JOIN analytics.membership m
        ON m.user_id = f.user_id AND m.valid_from <= f.occurred_at
       AND f.occurred_at < m.valid_to
      LEFT JOIN analytics.departments dep
        ON dep.department_id = m.department_id
      LEFT JOIN analytics.users mu ON mu.user_id = m.manager_id;
COMMENT ON VIEW reporting.activity IS
    'One row per analytics fact (login, goal_created, review_submitted, '
    'feedback_given, one_on_one_held, ...) with the user''s department and '
    'manager at that instant, names beside ids. A filter on occurred_at '
    'reads only the partitions it covers.';

CREATE VIEW reporting.activity_per_day AS
    SELECT f.company_id, d.day, f.kind, count(*) AS facts,
           count(DISTINCT f.user_id) AS users
      FROM reporting.calendar d
      JOIN analytics.facts f
        ON f.occurred_at >= d.day::timestamp AT TIME ZONE 'UTC'
       AND f.occurred_at < (d.day + 1)::timestamp AT TIME ZONE 'UTC'
     GROUP BY f.company_id, d.day, f.kind;
COMMENT ON VIEW reporting.activity_per_day IS
    'Analytics facts per UTC day, company and kind, and the distinct users '
    'behind them, straight from the facts (no rollup). A filter on day '
    'reads only the partitions of those days.';

CREATE VIEW reporting.company_daily AS
    SELECT r.company_id, c.name AS company_name, r.day, r.headcount,
           r.active_users AS dau, r.wau, r.mau, r.logins, r.actions,
           r.goals_created, r.goals_completed,
           analytics.ratio(r.goals_completed, r.goals_created)
               AS goal_completion_rate,
           r.reviews_assigned, r.reviews_submitted,
           analytics.ratio(r.reviews_submitted, r.reviews_assigned)
               AS review_completion_rate,
           r.feedback_given, r.one_on_ones_held, r.computed_at
      FROM analytics.rollup_daily r
      JOIN analytics.companies c ON c.company_id = r.company_id
     WHERE r.dim = 'company';
COMMENT ON VIEW reporting.company_daily IS
    'Company KPIs per local day (doc/analytics.md, Company): headcount at '
    'the day''s end, DAU, WAU and MAU (7 and 30 days ending with it), '
    'logins, goals and their completion rate, reviews and their completion '
    'rate, feedback, one-on-ones held.';

CREATE VIEW reporting.company_hourly AS
    SELECT r.company_id, c.name AS company_name, r.hour, r.active_users,
           r.logins, r.actions, r.goals_created, r.goals_completed,
           r.reviews_assigned, r.reviews_submitted, r.feedback_given,
           r.one_on_ones_held, r.computed_at
      FROM analytics.rollup_hourly r
      JOIN analytics.companies c ON c.company_id = r.company_id
     WHERE r.dim = 'company';
COMMENT ON VIEW reporting.company_hourly IS
    'Company activity per UTC hour: active users, logins, actions, goals, '
    'reviews, feedback, one-on-ones.';

CREATE VIEW reporting.department_daily AS
    SELECT r.company_id, r.dim_id AS department_id,
           dep.name AS department_name, r.day, r.headcount, r.active_users,
           r.wau, r.mau, r.goals_created, r.goals_completed,
           r.reviews_assigned, r.reviews_submitted, r.feedback_given,
           r.one_on_ones_held
      FROM analytics.rollup_daily r
      LEFT JOIN analytics.departments dep ON dep.department_id = r.dim_id
     WHERE r.dim = 'department';
COMMENT ON VIEW reporting.department_daily IS
    'Per department and local day: headcount at the day''s end, active '
    'users, WAU, MAU, goals, reviews, feedback and one-on-ones of its '
    'members (each fact in the department its user was in at the time). '
    'Unsuppressed: mind small departments when sharing.';

CREATE VIEW reporting.manager_daily AS
    SELECT r.company_id, r.dim_id AS manager_id,
           u.display_name AS manager_name, r.day, r.headcount AS team_size,
           r.active_users, r.goals_created, r.goals_completed,
           r.one_on_ones_held
      FROM analytics.rollup_daily r
      LEFT JOIN analytics.users u ON u.user_id = r.dim_id
     WHERE r.dim = 'manager';
COMMENT ON VIEW reporting.manager_daily IS
    'Per manager and local day: the team (direct reports at the day''s '
    'end) and its goals and one-on-ones.';

CREATE VIEW reporting.user_daily AS
    SELECT r.company_id, r.dim_id AS user_id, u.display_name AS user_name,
           r.day, r.actions > 0 AS active, r.actions, r.logins,
           r.goals_created, r.goals_completed, r.reviews_submitted,
           r.reviews_on_time, r.feedback_given, r.one_on_ones_held
      FROM analytics.rollup_daily r
      LEFT JOIN analytics.users u ON u.user_id = r.dim_id
     WHERE r.dim = 'user';
COMMENT ON VIEW reporting.user_daily IS
    'Per user and local day: active or not, actions and their kinds.';

--  The KPIs over a period, as the API defines them. SECURITY DEFINER:
--  they read analytics as their owner, so ferry_reporting needs nothing
--  but reporting.
CREATE FUNCTION reporting.company_stats (company uuid, first_day date,
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
           analytics.ratio(sum(r.reviews_submitted), sum(r.reviews_assigned)),
           sum(r.feedback_given), sum(r.one_on_ones_held)
      FROM analytics.rollup_daily r
      JOIN analytics.companies c ON c.company_id = r.company_id
     WHERE r.company_id = company AND r.dim = 'company'
       AND r.day BETWEEN first_day AND last_day;
$$;
COMMENT ON FUNCTION reporting.company_stats (uuid, date, date) IS
    'Company KPIs over local days first_day..last_day: headcount, WAU and '
    'MAU of the last day, mean DAU, sums, goal and review completion rates '
    '(doc/analytics.md, Company).';

CREATE FUNCTION reporting.department_kpis (company uuid, first_day date,
                                           last_day date)
    RETURNS TABLE (department_id uuid, department_name text,
                   headcount integer, goal_completion_rate numeric,
                   review_completion_rate numeric,
                   feedback_per_head numeric,
                   one_on_ones_per_head_per_30_days numeric)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT g.dim_id, dep.name, (k ->> 'headcount')::integer,
           (k ->> 'goalCompletionRate')::numeric,
           (k ->> 'reviewCompletionRate')::numeric,
           (k ->> 'feedbackPerHead')::numeric,
           (k ->> 'oneOnOnesPerHeadPer30Days')::numeric
      FROM (SELECT DISTINCT r.dim_id FROM analytics.rollup_daily r
             WHERE r.company_id = company AND r.dim = 'department'
               AND r.day BETWEEN first_day AND last_day) g
      CROSS JOIN LATERAL analytics.group_kpis(company, 'department', g.dim_id,
                                              first_day, last_day) k
      LEFT JOIN analytics.departments dep ON dep.department_id = g.dim_id
     ORDER BY dep.name, g.dim_id;
$$;
COMMENT ON FUNCTION reporting.department_kpis (uuid, date, date) IS
    'Department KPIs over local days first_day..last_day: headcount at the '
    'end, goal and review completion rates, feedback per head, one-on-ones '
    'per head per 30 days (doc/analytics.md, Department). Unsuppressed.';

CREATE FUNCTION reporting.manager_performance (company uuid, first_day date,
                                               last_day date)
    RETURNS TABLE (manager_id uuid, manager_name text, team_size integer,
                   team_goal_completion_rate numeric,
                   one_on_ones_per_member_per_30_days numeric,
                   reviews_submitted bigint, reviews_on_time_rate numeric,
                   feedback_given bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT g.dim_id, u.display_name, (k ->> 'headcount')::integer,
           (k ->> 'goalCompletionRate')::numeric,
           (k ->> 'oneOnOnesPerHeadPer30Days')::numeric,
           own.submitted, analytics.ratio(own.on_time, own.submitted),
           own.feedback
      FROM (SELECT DISTINCT r.dim_id FROM analytics.rollup_daily r
             WHERE r.company_id = company AND r.dim = 'manager'
               AND r.day BETWEEN first_day AND last_day) g
      CROSS JOIN LATERAL analytics.group_kpis(company, 'manager', g.dim_id,
                                              first_day, last_day) k
      CROSS JOIN LATERAL (
          SELECT coalesce(sum(r.reviews_submitted), 0) AS submitted,
                 coalesce(sum(r.reviews_on_time), 0) AS on_time,
                 coalesce(sum(r.feedback_given), 0) AS feedback
            FROM analytics.rollup_daily r
           WHERE r.company_id = company AND r.dim = 'user'
             AND r.dim_id = g.dim_id
             AND r.day BETWEEN first_day AND last_day) own
      LEFT JOIN analytics.users u ON u.user_id = g.dim_id
     ORDER BY u.display_name, g.dim_id;
$$;
COMMENT ON FUNCTION reporting.manager_performance (uuid, date, date) IS
    'Per manager over local days first_day..last_day: team size at the '
    'end, team goal completion, one-on-one cadence, the manager''s own '
    'reviews (and how many on time) and feedback (doc/analytics.md, '
    'Manager). Unsuppressed.';

CREATE FUNCTION reporting.user_engagement (company uuid, first_day date,
                                           last_day date)
    RETURNS TABLE (user_id uuid, user_name text, last_active date,
                   active_days bigint, actions bigint,
                   engagement_score integer)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT u.user_id, u.display_name,
           (SELECT max(a.day) FROM analytics.rollup_daily a
             WHERE a.company_id = company AND a.dim = 'user'
               AND a.dim_id = u.user_id AND a.actions > 0),
           count(r.day) FILTER (WHERE r.actions > 0),
           coalesce(sum(r.actions), 0),
           analytics.engagement_score(
               (count(r.day) FILTER (WHERE r.actions > 0))::integer,
               coalesce(sum(r.actions), 0)::integer,
               last_day - first_day + 1)
      FROM analytics.users u
      LEFT JOIN analytics.rollup_daily r
        ON r.company_id = company AND r.dim = 'user'
       AND r.dim_id = u.user_id AND r.day BETWEEN first_day AND last_day
     WHERE u.company_id = company
     GROUP BY u.user_id, u.display_name
     ORDER BY u.user_id;
$$;
COMMENT ON FUNCTION reporting.user_engagement (uuid, date, date) IS
    'Per user over local days first_day..last_day: last active day, active '
    'days, actions and the engagement score (0-100; doc/analytics.md, User '
    'engagement).';

--  The read-only role: reporting and nothing else. Roles belong to the
--  cluster, so it may exist already (another database); a migrating user
--  without CREATEROLE leaves it to the DBA (said in a notice).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_reporting')
    THEN
        CREATE ROLE ferry_reporting NOLOGIN;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'ferry_reporting not created (no CREATEROLE): create it '
                 'and rerun the grants of 0008_analytics_reporting.sql';
END
$$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_reporting') THEN
        REVOKE ALL ON SCHEMA audit, analytics FROM ferry_reporting;
        GRANT USAGE ON SCHEMA reporting TO ferry_reporting;
        GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO ferry_reporting;
        REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA reporting FROM PUBLIC;
        GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA reporting
            TO ferry_reporting;
    END IF;
END
$$;
