--  0015_notify_directory_fallback: the recipient directory's locale and
--  time zone (0012, from user.created and user.updated) as the fallback
--  (doc/notify.md, "The recipient directory"). A notification that names
--  no locale (an API call without one, a rule without locale or whose
--  localeFrom finds none) is rendered in the directory's, else en; quiet
--  hours without a time zone of their own run in the directory's, else
--  UTC. A preference's time zone is now NULL when the user gave none
--  (rows stored before this kept the UTC they were given by default).
ALTER TABLE notify.preferences
    ALTER COLUMN timezone DROP NOT NULL,
    ALTER COLUMN timezone DROP DEFAULT;

--  The directory's locale for user uid, when it can name a template
--  variant (letters, digits, - and _, at most 35: what fy_template_set
--  takes); else NULL.
CREATE FUNCTION notify.directory_locale (uid uuid)
    RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT profile->>'locale' FROM notify.directory
    WHERE user_id = uid AND profile->>'locale' ~ '^[A-Za-z0-9_-]{1,35}$'
$$;

--  As in 0007, in the preference's zone, else the directory's (one
--  PostgreSQL does not know counts as none), else UTC.
CREATE OR REPLACE FUNCTION notify.quiet_until (uid uuid, at timestamptz)
    RETURNS timestamptz
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    p notify.preferences;
    zone text;
    local timestamp;
    t time;
    ends timestamp;
BEGIN
    SELECT * INTO p FROM notify.preferences WHERE user_id = uid;
    IF NOT FOUND OR p.quiet_start IS NULL OR p.quiet_end IS NULL
       OR p.quiet_start = p.quiet_end THEN
        RETURN NULL;
    END IF;
    zone := p.timezone;
    IF zone IS NULL THEN
        SELECT profile->>'timezone' INTO zone FROM notify.directory
        WHERE user_id = uid;
        BEGIN
            local := at AT TIME ZONE coalesce(zone, 'UTC');
        EXCEPTION WHEN invalid_parameter_value THEN
            zone := NULL;
        END;
        zone := coalesce(zone, 'UTC');
    END IF;
    local := at AT TIME ZONE zone;
    t := local::time;
    IF p.quiet_start < p.quiet_end THEN
        IF t < p.quiet_start OR t >= p.quiet_end THEN
            RETURN NULL;
        END IF;
    ELSIF t < p.quiet_start AND t >= p.quiet_end THEN
        RETURN NULL;
    END IF;
    ends := local::date + p.quiet_end;
    IF ends <= local THEN
        ends := ends + interval '1 day';
    END IF;
    RETURN ends AT TIME ZONE zone;
END
$$;
