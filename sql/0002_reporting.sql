--  0002_reporting: views for analysts working in psql. They read
--  audit.events only; nothing in ferry depends on them, so they may grow
--  freely in later migrations.

CREATE SCHEMA reporting;

--  Events per UTC day, by company and type.
CREATE VIEW reporting.audit_events_per_day AS
    SELECT company_id,
           (occurred_at AT TIME ZONE 'UTC')::date AS day,
           type,
           count(*) AS events
      FROM audit.events
     GROUP BY company_id, day, type;

--  Who did most, per company, over the last 30 days (system events, with
--  no actor, left out).
CREATE VIEW reporting.audit_active_actors AS
    SELECT company_id,
           actor_id,
           count(*) AS events,
           count(DISTINCT type) AS types,
           min(occurred_at) AS first_seen,
           max(occurred_at) AS last_seen
      FROM audit.events
     WHERE actor_id IS NOT NULL
       AND occurred_at >= now() - interval '30 days'
     GROUP BY company_id, actor_id;

--  Explicit audit records by action and outcome, per company and UTC day.
CREATE VIEW reporting.audit_actions_per_day AS
    SELECT company_id,
           (occurred_at AT TIME ZONE 'UTC')::date AS day,
           action,
           coalesce(payload ->> 'outcome', 'success') AS outcome,
           count(*) AS events
      FROM audit.events
     WHERE type = 'audit.recorded'
     GROUP BY company_id, day, action, outcome;
