--  analytics_check.sql: every rollup row of company :'company' recomputed
--  from the raw facts in plain SQL, without anything the rollups use
--  (no analytics.membership, no bucket_counts, no GROUPING SETS): who
--  was where at an instant is read straight from the organisation
--  events (analytics.org_changes), days in the company's zone.
--  Prints two lines, "daily N" and "hourly N": the rows that differ
--  either way, over the buckets the watermarks say are done; both 0
--  when every rollup equals its recomputation.
\set ON_ERROR_STOP 1
SELECT time_zone AS zone FROM analytics.companies
 WHERE company_id = :'company' \gset
SELECT done_to AS day_mark FROM analytics.watermarks
 WHERE company_id = :'company' AND granularity = 'day' \gset
SELECT done_to AS hour_mark FROM analytics.watermarks
 WHERE company_id = :'company' AND granularity = 'hour' \gset

--  Each fact with its user's department and manager at its instant,
--  straight from the organisation events.
CREATE TEMP TABLE ff AS
SELECT f.*, (f.occurred_at AT TIME ZONE :'zone')::date AS day,
       date_trunc('hour', f.occurred_at, 'UTC') AS hour,
       CASE WHEN f.kind = 'review_submitted' THEN
           NOT coalesce(f.late, f.occurred_at >
               (SELECT max(a.due_at) FROM analytics.facts a
                 WHERE a.subject_id = f.subject_id
                   AND a.kind = 'review_assigned'), false) END AS on_time,
       o.department_id, o.manager_id
  FROM analytics.facts f
  LEFT JOIN LATERAL (
      SELECT (SELECT c.department_id FROM analytics.org_changes c
               WHERE c.user_id = f.user_id AND c.sets_department
                 AND c.effective_at <= f.occurred_at
               ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1)
                 AS department_id,
             (SELECT c.manager_id FROM analytics.org_changes c
               WHERE c.user_id = f.user_id AND c.sets_manager
                 AND c.effective_at <= f.occurred_at
               ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1)
                 AS manager_id
       WHERE EXISTS (SELECT 1 FROM analytics.org_changes c
                      WHERE c.user_id = f.user_id
                        AND c.effective_at <= f.occurred_at)
         AND NOT (SELECT c.ends FROM analytics.org_changes c
                   WHERE c.user_id = f.user_id
                     AND c.effective_at <= f.occurred_at
                   ORDER BY c.effective_at DESC, c.ends DESC LIMIT 1)) o
    ON true
 WHERE f.company_id = :'company';

CREATE TEMP VIEW counted AS
SELECT 'company' AS dim, :'company'::uuid AS dim_id, ff.* FROM ff
UNION ALL SELECT 'department', department_id, ff.* FROM ff
           WHERE department_id IS NOT NULL
UNION ALL SELECT 'manager', manager_id, ff.* FROM ff
           WHERE manager_id IS NOT NULL
UNION ALL SELECT 'user', user_id, ff.* FROM ff WHERE user_id IS NOT NULL;

--  Hourly.
CREATE TEMP TABLE want_hourly AS
SELECT hour, dim, dim_id, count(DISTINCT user_id)::integer AS active_users,
       count(*)::integer AS actions,
       count(*) FILTER (WHERE kind = 'login')::integer AS logins,
       count(*) FILTER (WHERE kind = 'goal_created')::integer AS gc,
       count(*) FILTER (WHERE kind = 'goal_completed')::integer AS gd,
       count(*) FILTER (WHERE kind = 'review_assigned')::integer AS ra,
       count(*) FILTER (WHERE kind = 'review_submitted')::integer AS rs,
       count(*) FILTER (WHERE on_time)::integer AS ro,
       count(*) FILTER (WHERE kind = 'review_completed')::integer AS rc,
       count(*) FILTER (WHERE kind = 'feedback_given')::integer AS fg,
       count(*) FILTER (WHERE kind = 'one_on_one_held')::integer AS oo
  FROM counted WHERE hour < :'hour_mark'
 GROUP BY hour, dim, dim_id;
CREATE TEMP TABLE got_hourly AS
SELECT hour, dim, dim_id, active_users, actions, logins, goals_created,
       goals_completed, reviews_assigned, reviews_submitted, reviews_on_time,
       reviews_completed, feedback_given, one_on_ones_held
  FROM analytics.rollup_hourly WHERE company_id = :'company';

--  Daily: the days from the first fact's to the watermark.
CREATE TEMP TABLE days AS
SELECT d::date AS day, (d::date + 1)::timestamp AT TIME ZONE :'zone' AS day_end
  FROM generate_series((SELECT min(day) FROM ff)::timestamp,
                       ((:'day_mark'::timestamptz - interval '1 us')
                        AT TIME ZONE :'zone')::date::timestamp,
                       interval '1 day') d;

--  Members at each day's end: their last change before it did not end
--  them; department and manager as last set before it.
CREATE TEMP TABLE heads AS
SELECT d.day, u.user_id,
       (SELECT c.department_id FROM analytics.org_changes c
         WHERE c.user_id = u.user_id AND c.sets_department
           AND c.effective_at < d.day_end
         ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1)
           AS department_id,
       (SELECT c.manager_id FROM analytics.org_changes c
         WHERE c.user_id = u.user_id AND c.sets_manager
           AND c.effective_at < d.day_end
         ORDER BY c.effective_at DESC, c.event_id DESC LIMIT 1) AS manager_id
  FROM days d CROSS JOIN (SELECT DISTINCT user_id FROM analytics.org_changes
                           WHERE company_id = :'company') u
 WHERE EXISTS (SELECT 1 FROM analytics.org_changes c
                WHERE c.user_id = u.user_id AND c.effective_at < d.day_end)
   AND NOT (SELECT c.ends FROM analytics.org_changes c
             WHERE c.user_id = u.user_id AND c.effective_at < d.day_end
             ORDER BY c.effective_at DESC, c.ends DESC LIMIT 1);
CREATE TEMP VIEW head_counts AS
SELECT day, 'company' AS dim, :'company'::uuid AS dim_id, count(*) AS n
  FROM heads GROUP BY day
UNION ALL SELECT day, 'department', department_id, count(*) FROM heads
           WHERE department_id IS NOT NULL GROUP BY 1, 3
UNION ALL SELECT day, 'manager', manager_id, count(*) FROM heads
           WHERE manager_id IS NOT NULL GROUP BY 1, 3
UNION ALL SELECT day, 'user', user_id, 1 FROM heads;

--  Active on a day: any fact; WAU and MAU over the 7 and 30 days ending
--  with it, for the company and each department (at the fact's time).
CREATE TEMP VIEW windows AS
SELECT d.day, c.dim, c.dim_id,
       count(DISTINCT c.user_id) FILTER (WHERE c.day > d.day - 7) AS wau,
       count(DISTINCT c.user_id) AS mau
  FROM days d JOIN counted c
    ON c.day > d.day - 30 AND c.day <= d.day
   AND c.dim IN ('company', 'department') AND c.user_id IS NOT NULL
 GROUP BY d.day, c.dim, c.dim_id;

CREATE TEMP VIEW day_counts AS
SELECT day, dim, dim_id, count(DISTINCT user_id) AS active_users,
       count(*) AS actions,
       count(*) FILTER (WHERE kind = 'login') AS logins,
       count(*) FILTER (WHERE kind = 'goal_created') AS gc,
       count(*) FILTER (WHERE kind = 'goal_completed') AS gd,
       count(*) FILTER (WHERE kind = 'review_assigned') AS ra,
       count(*) FILTER (WHERE kind = 'review_submitted') AS rs,
       count(*) FILTER (WHERE on_time) AS ro,
       count(*) FILTER (WHERE kind = 'review_completed') AS rc,
       count(*) FILTER (WHERE kind = 'feedback_given') AS fg,
       count(*) FILTER (WHERE kind = 'one_on_one_held') AS oo
  FROM counted WHERE day IN (SELECT day FROM days)
 GROUP BY day, dim, dim_id;

CREATE TEMP TABLE want_daily AS
SELECT k.day, k.dim, k.dim_id, coalesce(h.n, 0)::integer AS headcount,
       coalesce(c.active_users, 0)::integer AS active_users,
       CASE WHEN k.dim IN ('company', 'department')
            THEN coalesce(w.wau, 0)::integer END AS wau,
       CASE WHEN k.dim IN ('company', 'department')
            THEN coalesce(w.mau, 0)::integer END AS mau,
       coalesce(c.actions, 0)::integer AS actions,
       coalesce(c.logins, 0)::integer AS logins,
       coalesce(c.gc, 0)::integer AS gc, coalesce(c.gd, 0)::integer AS gd,
       coalesce(c.ra, 0)::integer AS ra, coalesce(c.rs, 0)::integer AS rs,
       coalesce(c.ro, 0)::integer AS ro, coalesce(c.rc, 0)::integer AS rc,
       coalesce(c.fg, 0)::integer AS fg, coalesce(c.oo, 0)::integer AS oo
  FROM (SELECT day, dim, dim_id FROM day_counts
        UNION SELECT day, dim, dim_id FROM head_counts
        UNION SELECT day, dim, dim_id FROM windows) k
  LEFT JOIN day_counts c USING (day, dim, dim_id)
  LEFT JOIN head_counts h USING (day, dim, dim_id)
  LEFT JOIN windows w USING (day, dim, dim_id);
CREATE TEMP TABLE got_daily AS
SELECT day, dim, dim_id, headcount, active_users, wau, mau, actions, logins,
       goals_created, goals_completed, reviews_assigned, reviews_submitted,
       reviews_on_time, reviews_completed, feedback_given, one_on_ones_held
  FROM analytics.rollup_daily
 WHERE company_id = :'company' AND day IN (SELECT day FROM days);

SELECT 'daily ' || ((SELECT count(*) FROM (SELECT * FROM want_daily
                                           EXCEPT SELECT * FROM got_daily) a)
                    + (SELECT count(*) FROM (SELECT * FROM got_daily
                                             EXCEPT SELECT * FROM want_daily) b))
       || ' of ' || (SELECT count(*) FROM want_daily);
SELECT 'hourly ' || ((SELECT count(*) FROM (SELECT * FROM want_hourly
                                            EXCEPT SELECT * FROM got_hourly) a)
                     + (SELECT count(*) FROM (SELECT * FROM got_hourly
                                              EXCEPT SELECT * FROM want_hourly) b))
       || ' of ' || (SELECT count(*) FROM want_hourly);
