--  0010_reporting_small_groups: the reporting views and functions that
--  break down by department or manager suppress the groups smaller than
--  the minimum group size, as GET /analytics/company/:id/departments and
--  /analytics/manager/:id/performance do (doc/analytics.md, "Small
--  groups"): such a group is listed, suppressed, without its figures.

--  The minimum group size of the reporting schema, in a table analysts
--  cannot write (ferry_reporting reads reporting only), so a session
--  cannot lower it. Keep it equal to ferry-analytics' key
--  analytics.min_group_size (default 5) when that is changed.
CREATE TABLE analytics.reporting_settings (
    only_row        boolean     PRIMARY KEY DEFAULT true CHECK (only_row),
    min_group_size  integer     NOT NULL DEFAULT 5 CHECK (min_group_size >= 1)
);
INSERT INTO analytics.reporting_settings DEFAULT VALUES;

--  SECURITY DEFINER: the views call it as their reader, who may not read
--  analytics.
CREATE FUNCTION analytics.reporting_min_group ()
    RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    RETURN (SELECT min_group_size FROM analytics.reporting_settings);

CREATE OR REPLACE VIEW reporting.department_daily AS
    SELECT r.company_id, r.dim_id AS department_id,
           dep.name AS department_name, r.day,
           CASE WHEN NOT s.hide THEN r.headcount END AS headcount,
           CASE WHEN NOT s.hide THEN r.active_users END AS active_users,
           CASE WHEN NOT s.hide THEN r.wau END AS wau,
           CASE WHEN NOT s.hide THEN r.mau END AS mau,
           CASE WHEN NOT s.hide THEN r.goals_created END AS goals_created,
           CASE WHEN NOT s.hide THEN r.goals_completed END AS goals_completed,
           CASE WHEN NOT s.hide THEN r.reviews_assigned END
               AS reviews_assigned,
           CASE WHEN NOT s.hide THEN r.reviews_submitted END
               AS reviews_submitted,
           CASE WHEN NOT s.hide THEN r.feedback_given END AS feedback_given,
           CASE WHEN NOT s.hide THEN r.one_on_ones_held END
               AS one_on_ones_held,
           s.hide AS suppressed
      FROM analytics.rollup_daily r
      LEFT JOIN analytics.departments dep ON dep.department_id = r.dim_id
      CROSS JOIN LATERAL (SELECT r.headcount < analytics.reporting_min_group()
                                 AS hide) s
     WHERE r.dim = 'department';
COMMENT ON VIEW reporting.department_daily IS
    'Per department and local day: headcount at the day''s end, active '
    'users, WAU, MAU, goals, reviews, feedback and one-on-ones of its '
    'members (each fact in the department its user was in at the time). '
    'A department with fewer members at the day''s end than the minimum '
    'group size (analytics.reporting_settings, as analytics.min_group_size '
    'for the API; default 5) is listed suppressed, its figures NULL.';

CREATE OR REPLACE VIEW reporting.manager_daily AS
    SELECT r.company_id, r.dim_id AS manager_id,
           u.display_name AS manager_name, r.day, r.headcount AS team_size,
           CASE WHEN NOT s.hide THEN r.active_users END AS active_users,
           CASE WHEN NOT s.hide THEN r.goals_created END AS goals_created,
           CASE WHEN NOT s.hide THEN r.goals_completed END AS goals_completed,
           CASE WHEN NOT s.hide THEN r.one_on_ones_held END
               AS one_on_ones_held,
           s.hide AS suppressed
      FROM analytics.rollup_daily r
      LEFT JOIN analytics.users u ON u.user_id = r.dim_id
      CROSS JOIN LATERAL (SELECT r.headcount < analytics.reporting_min_group()
                                 AS hide) s
     WHERE r.dim = 'manager';
COMMENT ON VIEW reporting.manager_daily IS
    'Per manager and local day: the team (direct reports at the day''s '
    'end) and its goals and one-on-ones. A team smaller than the minimum '
    'group size (analytics.reporting_settings, as analytics.min_group_size '
    'for the API; default 5) is listed suppressed, its team figures NULL '
    '(its size stays, as the API''s teamSize).';

--  The functions gain a suppressed column: a new result type, so they
--  are made again (and granted again).
DROP FUNCTION reporting.department_kpis (uuid, date, date);
CREATE FUNCTION reporting.department_kpis (company uuid, first_day date,
                                           last_day date)
    RETURNS TABLE (department_id uuid, department_name text,
                   headcount integer, goal_completion_rate numeric,
                   review_completion_rate numeric,
                   feedback_per_head numeric,
                   one_on_ones_per_head_per_30_days numeric,
                   suppressed boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT g.dim_id, dep.name,
           CASE WHEN NOT s.hide THEN (k ->> 'headcount')::integer END,
           CASE WHEN NOT s.hide THEN (k ->> 'goalCompletionRate')::numeric END,
           CASE WHEN NOT s.hide
                THEN (k ->> 'reviewCompletionRate')::numeric END,
           CASE WHEN NOT s.hide THEN (k ->> 'feedbackPerHead')::numeric END,
           CASE WHEN NOT s.hide
                THEN (k ->> 'oneOnOnesPerHeadPer30Days')::numeric END,
           s.hide
      FROM (SELECT DISTINCT r.dim_id FROM analytics.rollup_daily r
             WHERE r.company_id = company AND r.dim = 'department'
               AND r.day BETWEEN first_day AND last_day) g
      CROSS JOIN LATERAL analytics.group_kpis(company, 'department', g.dim_id,
                                              first_day, last_day) k
      CROSS JOIN LATERAL (SELECT (k ->> 'headcount')::integer
                                 < analytics.reporting_min_group() AS hide) s
      LEFT JOIN analytics.departments dep ON dep.department_id = g.dim_id
     ORDER BY dep.name, g.dim_id;
$$;
COMMENT ON FUNCTION reporting.department_kpis (uuid, date, date) IS
    'Department KPIs over local days first_day..last_day: headcount at the '
    'end, goal and review completion rates, feedback per head, one-on-ones '
    'per head per 30 days (doc/analytics.md, Department). A department '
    'with fewer members at the end than the minimum group size '
    '(analytics.reporting_settings, as analytics.min_group_size for the '
    'API; default 5) is listed suppressed, its figures NULL.';

DROP FUNCTION reporting.manager_performance (uuid, date, date);
CREATE FUNCTION reporting.manager_performance (company uuid, first_day date,
                                               last_day date)
    RETURNS TABLE (manager_id uuid, manager_name text, team_size integer,
                   team_goal_completion_rate numeric,
                   one_on_ones_per_member_per_30_days numeric,
                   reviews_submitted bigint, reviews_on_time_rate numeric,
                   feedback_given bigint, suppressed boolean)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT g.dim_id, u.display_name, (k ->> 'headcount')::integer,
           CASE WHEN NOT s.hide THEN (k ->> 'goalCompletionRate')::numeric END,
           CASE WHEN NOT s.hide
                THEN (k ->> 'oneOnOnesPerHeadPer30Days')::numeric END,
           own.submitted, analytics.ratio(own.on_time, own.submitted),
           own.feedback, s.hide
      FROM (SELECT DISTINCT r.dim_id FROM analytics.rollup_daily r
             WHERE r.company_id = company AND r.dim = 'manager'
               AND r.day BETWEEN first_day AND last_day) g
      CROSS JOIN LATERAL analytics.group_kpis(company, 'manager', g.dim_id,
                                              first_day, last_day) k
      CROSS JOIN LATERAL (SELECT (k ->> 'headcount')::integer
                                 < analytics.reporting_min_group() AS hide) s
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
    'Manager). A team smaller at the end than the minimum group size '
    '(analytics.reporting_settings, as analytics.min_group_size for the '
    'API; default 5) is listed suppressed, its team figures NULL (its '
    'size and the manager''s own figures stay, as in the API).';

DO $$
BEGIN
    REVOKE EXECUTE ON FUNCTION reporting.department_kpis (uuid, date, date),
        reporting.manager_performance (uuid, date, date) FROM PUBLIC;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_reporting') THEN
        GRANT SELECT ON reporting.department_daily, reporting.manager_daily
            TO ferry_reporting;
        GRANT EXECUTE ON FUNCTION
            reporting.department_kpis (uuid, date, date),
            reporting.manager_performance (uuid, date, date)
            TO ferry_reporting;
    END IF;
END
$$;
