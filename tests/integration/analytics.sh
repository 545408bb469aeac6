#!/usr/bin/env bash
#  TAP: ferry-analytics end to end against the stack's PostgreSQL, a real
#  ferry-broker (HTTP on 127.0.0.1) and ferryctl send as the publisher,
#  on a scratch database ferry_analytics_<pid>. A deterministic month of
#  a 500-person company (analytics_gen.py, seed 15) goes in; then:
#  every event applied once (a second send changes nothing, a copy with
#  another body is a conflict, counted); two processes start at once and
#  each job runs once; every rollup equals a recomputation from the raw
#  facts in plain SQL (analytics_check.sql, which can fail: a rollup
#  changed by hand is found); late events mark their buckets dirty, are
#  reported as pending and picked up by the next run; a rerun of the
#  whole month changes nothing; the mid-month reorganisation is
#  attributed by date; small departments and teams are suppressed; the
#  API answers with computedAt, watermark and lateEventsPending, 400 on
#  bad parameters, 404 on unknown ids, recompute only with the admin
#  token; reporting views read as ferry_reporting, nothing else.
set -u
db=ferry_analytics_$$
. "$FERRY_SRCDIR/tests/integration/audit_env.sh"
analytics="$FERRY_BUILDDIR/workers/analytics/ferry-analytics"
gen="$FERRY_SRCDIR/tests/integration/analytics_gen.py"
check="$FERRY_SRCDIR/tests/integration/analytics_check.sql"
company=a0a1e5c0-0015-4000-8000-000000000015
routes="analytics:user.*,company.created,department.*,goal.*,review.*"
routes="$routes,feedback.*,one_on_one.*"
admin_token=analytics-admin-token

#  1. An unmigrated database: refused with one line, exit 2.
"$analytics" --set analytics.broker="ipc://$tmp/none.sock" > "$tmp/out" 2>&1
is "$?" 2 "an unmigrated database: exit 2"
is "$(wc -l < "$tmp/out")" 1 "with one line: $(head -c 120 "$tmp/out")"

"$ctl" migrate > /dev/null 2>&1 || bail_out "ferryctl migrate failed"
python3 "$gen" --part org > "$tmp/org.ndjson"
python3 "$gen" --part activity > "$tmp/activity.ndjson"
python3 "$gen" --part late > "$tmp/late.ndjson"

start_broker 8930 --set "broker.routes=$routes" \
    --set http.admin_token=$admin_token
#  start_analytics NAME [ARG...]: a worker named NAME, its log in
#  $tmp/NAME.log, its pid in pid_NAME.
start_analytics () {
    local name=$1
    shift
    "$analytics" --set analytics.broker="$endpoint" \
        --set analytics.name="$name" --set log.level=info "$@" \
        2>>"$tmp/$name.log" &
    pids+=($!)
    eval "pid_$name=$!"
}
api () { curl -sS -o "$tmp/body" -w '%{http_code}' \
    -H "Authorization: Bearer $token" "$@"; }
send () { "$ctl" send --broker "$endpoint" --timeout-ms 120000 "$@" 2>&1 |
    tail -n 1; }

#  2. The month in, without jobs: every event once.
start_analytics a --set analytics.jobs=false
for _ in $(seq 50); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' $url/analytics/health)" = 200 ] \
        && break
    sleep 0.1
done
is "$(curl -s -o /dev/null -w '%{http_code}' $url/analytics/health)" 200 \
    "GET /analytics/health is 200, without a token"
n_org=$(wc -l < "$tmp/org.ndjson")
n_act=$(wc -l < "$tmp/activity.ndjson")
is "$(send "$tmp/org.ndjson")" \
    "sent $n_org, acked $n_org, nacked 0 (retryable 0), invalid 0" \
    "the organisation ACKed"
is "$(send "$tmp/activity.ndjson")" \
    "sent $n_act, acked $n_act, nacked 0 (retryable 0), invalid 0" \
    "the month's $n_act events ACKed"
facts=$(q "SELECT count(*) FROM analytics.facts")
ids=$(q "SELECT count(*) FROM analytics.event_ids")
is "$ids" $((n_org + n_act)) "every event id recorded once"
is "$(q "SELECT count(*) FROM analytics.membership
         WHERE user_id IN (SELECT user_id FROM analytics.membership
                            GROUP BY 1 HAVING count(*) = 2)")" 40 \
    "20 users moved mid-month: two membership rows each"
send "$tmp/activity.ndjson" > /dev/null
is "$(q "SELECT count(*) FROM analytics.facts")" "$facts" \
    "the month sent again: no new fact ($facts)"
#  One id again with another body: a conflict, counted, the first kept.
head -n 1 "$tmp/activity.ndjson" |
    sed 's/"source":"gen"/"source":"other"/' > "$tmp/conflict.ndjson"
send "$tmp/conflict.ndjson" > /dev/null
api "$url/analytics/metrics" > /dev/null
is "$(sed -n 's/^ferry_analytics_conflicts_total //p' "$tmp/body")" 1 \
    "a copy with another body: ferry_analytics_conflicts_total 1"
grep -q "conflict: a copy with another body not applied" "$tmp/a.log"
ok $? "and logged"
is "$(q "SELECT count(*) FROM analytics.facts")" "$facts" "not applied"

#  3. Two processes start at once: each runs the jobs of this hour, and
#  each job runs once.
start_analytics b
start_analytics c
for _ in $(seq 100); do
    [ "$(q "SELECT count(*) FROM analytics.job_runs
             WHERE finished_at IS NOT NULL")" = 2 ] && break
    sleep 0.2
done
sleep 0.5
is "$(q "SELECT count(*) FROM analytics.job_runs")" 2 \
    "two jobs recorded (rollup_hour, rollup_day)"
ran=$(cat "$tmp/b.log" "$tmp/c.log" | grep -c 'rollup_[a-z]* job:')
is "$ran" 2 "run once each by the two processes together"
kill -TERM $pid_b $pid_c
wait $pid_b; rb=$?
wait $pid_c; rc=$?
is "$rb $rc" "0 0" "SIGTERM: both exit 0"

#  4. Every rollup equals its recomputation from the facts.
recheck () { psql -qXAt "$DATABASE_URL" -v company=$company -f "$check"; }
out=$(recheck)
like "$out" '^daily 0 of [1-9][0-9]*' "daily rollups equal plain SQL"
like "$out" 'hourly 0 of [1-9][0-9]*' "hourly rollups equal plain SQL"
#  The check can fail.
q "UPDATE analytics.rollup_daily SET logins = logins + 1
    WHERE company_id = '$company' AND dim = 'department'
      AND day = '2026-10-07'
      AND dim_id = (SELECT min(dim_id::text)::uuid FROM analytics.rollup_daily
                     WHERE dim = 'department' AND day = '2026-10-07')"
like "$(recheck)" '^daily 2 of' "a rollup changed by hand is found"

#  5. Rerun: the month recomputed (admin token) changes nothing but the
#  row changed by hand, which it puts right.
snapshot () { q "SELECT md5(string_agg(r::text, ',' ORDER BY r::text)) FROM
    (SELECT company_id, day, dim, dim_id, headcount, active_users, wau, mau,
            actions, logins, goals_created, goals_completed, reviews_assigned,
            reviews_submitted, reviews_on_time, reviews_completed,
            feedback_given, one_on_ones_held
       FROM analytics.rollup_daily) r"; }
code=$(curl -sS -o "$tmp/body" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $token" \
    "$url/analytics/recompute?companyId=$company&from=2026-09-29T00:00:00Z&to=2026-11-02T00:00:00Z")
is "$code" 401 "recompute with a service token: 401"
recompute () { curl -sS -o "$tmp/body" -w '%{http_code}' -X POST \
    -H "Authorization: Bearer $admin_token" \
    "$url/analytics/recompute?companyId=$company&from=2026-09-29T00:00:00Z&to=2026-11-02T00:00:00Z"; }
is "$(recompute)" 200 "recompute with the admin token: 200"
like "$(recheck)" '^daily 0 of' "the row changed by hand is right again"
before=$(snapshot)
is "$(recompute)" 200 "recompute again"
is "$(snapshot)" "$before" "a rerun changes nothing"
like "$(recheck)" '^daily 0 of' "still equal to plain SQL"

#  6. Late events: older than the watermark, their buckets marked dirty,
#  reported pending, picked up by the next run.
stats () { api "$url/analytics/company/$company/stats?from=2026-10-01T00:00:00Z&to=2026-10-08T00:00:00Z&granularity=${1:-day}"; }
stats > /dev/null
dau3=$(jq '.series[] | select(.bucket == "2026-10-04") | .dau' "$tmp/body")
n_late=$(wc -l < "$tmp/late.ndjson")
is "$(send "$tmp/late.ndjson")" \
    "sent $n_late, acked $n_late, nacked 0 (retryable 0), invalid 0" \
    "$n_late late logins ACKed"
is "$(stats)" 200 "stats 200"
is "$(jq .lateEventsPending "$tmp/body")" "$n_late" \
    "lateEventsPending $n_late before the next run"
like "$(jq -r '[.computedAt, .watermark] | @tsv' "$tmp/body")" \
    '^20[0-9-]*T[0-9:]*Z	20[0-9-]*T[0-9:]*Z$' "with computedAt and watermark"
like "$(recheck)" '^daily [1-9]' "the rollups are behind the facts"
q "SELECT analytics.run('hour', now(), now(), 'test') IS NOT NULL,
          analytics.run('day', now(), now(), 'test') IS NOT NULL" > /dev/null
stats > /dev/null
is "$(jq .lateEventsPending "$tmp/body")" 0 "after the next run: none pending"
dau3_after=$(jq '.series[] | select(.bucket == "2026-10-04") | .dau' \
    "$tmp/body")
ok "$([ "$dau3_after" -gt "$dau3" ]; echo $?)" \
    "the late logins counted: DAU of 2026-10-04 $dau3 -> $dau3_after"
out=$(recheck)
like "$out" '^daily 0 of' "daily rollups equal plain SQL with the late events"
like "$out" 'hourly 0 of' "hourly too"

#  7. The reorganisation by date: a mover's facts before the 15th count
#  in the old department, after it in the new one.
mover=$(q "SELECT user_id FROM analytics.org_changes
            WHERE sets_department AND NOT sets_manager LIMIT 1")
old=$(q "SELECT department_id FROM analytics.org_changes
          WHERE user_id = '$mover' AND sets_manager AND sets_department")
new=$(q "SELECT department_id FROM analytics.org_changes
          WHERE user_id = '$mover' AND sets_department AND NOT sets_manager")
is "$(q "SELECT count(*) FROM analytics.rollup_daily
          WHERE dim = 'user' AND dim_id = '$mover' AND actions > 0")" \
   "$(q "SELECT count(DISTINCT (occurred_at AT TIME ZONE 'Europe/Paris')::date)
           FROM analytics.facts WHERE user_id = '$mover'")" \
   "the mover's active days"
before_old=$(q "SELECT count(*) FROM analytics.facts f
                 WHERE user_id = '$mover' AND occurred_at < '2026-10-15 12:00Z'")
after_new=$(q "SELECT count(*) FROM analytics.facts f
                WHERE user_id = '$mover' AND occurred_at >= '2026-10-15 12:00Z'")
is "$(q "SELECT count(*) FROM analytics.facts f JOIN analytics.membership m
           ON m.user_id = f.user_id AND f.occurred_at >= m.valid_from
          AND f.occurred_at < m.valid_to
          WHERE f.user_id = '$mover' AND m.department_id = '$old'")" \
   "$before_old" "the mover's $before_old facts before the reorg: old department"
is "$(q "SELECT count(*) FROM analytics.facts f JOIN analytics.membership m
           ON m.user_id = f.user_id AND f.occurred_at >= m.valid_from
          AND f.occurred_at < m.valid_to
          WHERE f.user_id = '$mover' AND m.department_id = '$new'")" \
   "$after_new" "the mover's $after_new facts after it: new department"

#  8. Small groups suppressed, and said so.
is "$(api "$url/analytics/company/$company/departments?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z")" \
    200 "departments 200"
is "$(jq -r '.items[] | select(.name == "Research") | .suppressed' "$tmp/body")" \
    true "Research (3 people) suppressed"
is "$(jq -r '.items[] | select(.name == "Research") | has("headcount")' \
    "$tmp/body")" false "without figures"
is "$(jq '.suppressedGroups' "$tmp/body")" 1 "suppressedGroups 1"
is "$(jq '.minGroupSize' "$tmp/body")" 5 "minGroupSize 5 (the default)"
is "$(jq '[.items[] | select(.suppressed | not)] | length' "$tmp/body")" 9 \
    "the 9 others with figures"
like "$(jq -c '.items[] | select(.name == "Engineering")' "$tmp/body")" \
    '"goalCompletionRate":' "with the department KPIs"
small=$(q "SELECT manager_id FROM analytics.membership
            WHERE valid_to = 'infinity' AND manager_id IS NOT NULL
            GROUP BY 1 HAVING count(*) < 5 LIMIT 1")
big=$(q "SELECT manager_id FROM analytics.membership
          WHERE valid_to = 'infinity' AND manager_id IS NOT NULL
          GROUP BY 1 HAVING count(*) >= 5 LIMIT 1")
is "$(api "$url/analytics/manager/$small/performance?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z")" \
    200 "performance of a manager of a small team: 200"
is "$(jq -c '[.suppressed, .team]' "$tmp/body")" '[true,null]' \
    "its team figures suppressed"
api "$url/analytics/manager/$big/performance?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z" > /dev/null
is "$(jq -c '[.suppressed, (.team | has("goalCompletionRate"))]' "$tmp/body")" \
    '[false,true]' "a team of 5 or more: its figures"

#  9. Users: keyset pages cover every user once.
seen=0 cursor= pages=0
while :; do
    api -G "$url/analytics/company/$company/users" --data-urlencode limit=200 \
        ${cursor:+--data-urlencode "cursor=$cursor"} > /dev/null
    seen=$((seen + $(jq '.items | length' "$tmp/body")))
    pages=$((pages + 1))
    cursor=$(jq -r '.nextCursor // empty' "$tmp/body")
    [ -z "$cursor" ] || [ $pages -gt 10 ] && break
done
is "$seen" 500 "500 users over $pages pages"
like "$(jq -c '.items[0]' "$tmp/body")" '"engagementScore":' \
    "with their engagement score"

#  10. Bad parameters: 400 with the JSON error body; unknown ids 404.
base="$url/analytics/company/$company/stats"
for bad in "from=yesterday&to=2026-10-02T00:00:00Z" \
           "to=2026-10-02T00:00:00Z" \
           "from=2026-10-02T00:00:00Z&to=2026-10-01T00:00:00Z" \
           "from=2026-01-01T00:00:00Z&to=2026-10-01T00:00:00Z&granularity=hour" \
           "from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z&granularity=week" \
           "from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z&x=1"; do
    is "$(api "$base?$bad") $(jq -r .error.code "$tmp/body")" \
        "400 invalid_parameter" "stats?$bad: 400"
done
is "$(api "$url/analytics/company/not-a-uuid/stats?from=2026-10-01T00:00:00Z&to=2026-10-02T00:00:00Z")" \
    400 "a company id that is no uuid: 400"
is "$(api "$url/analytics/company/$company/users?limit=501")" 400 \
    "limit 501: 400"
is "$(api "$url/analytics/company/$company/users?cursor=x")" 400 \
    "a bad cursor: 400"
is "$(api "$url/analytics/company/00000000-0000-4000-8000-000000000000/departments")" \
    404 "an unknown company: 404"
is "$(api "$url/analytics/manager/00000000-0000-4000-8000-000000000000/performance")" \
    404 "an unknown manager: 404"
is "$(api -X DELETE "$url/analytics/company/$company/users")" 405 \
    "DELETE: 405"
is "$(curl -s -o /dev/null -w '%{http_code}' \
    "$url/analytics/company/$company/users")" 401 "no token: 401"

#  11. The hourly series: each hour's figures, 24 of a day.
is "$(stats hour)" 200 "hourly over 7 days is fine"
api "$url/analytics/company/$company/stats?from=2026-10-07T00:00:00Z&to=2026-10-08T00:00:00Z&granularity=hour" > /dev/null
like "$(jq -c '[.granularity, (.series | length <= 24), .totals.logins > 0]' \
    "$tmp/body")" '\["hour",true,true\]' "an hourly series of one day"

#  12. Another company's ten days, while the worker is SIGKILLed mid-batch
#  and restarted, then while PostgreSQL restarts: no fact lost, none
#  twice. NACKed events go back to their source, which delivers them
#  again until ACKed, as SQS does.
other=b0b1e5c0-0016-4000-8000-000000000016
python3 "$gen" --seed 16 --company $other --users 300 --days 10 \
    --part all > "$tmp/other.ndjson"
n_other=$(wc -l < "$tmp/other.ndjson")
want_facts=$(grep -cvE '"type":"(company\.created|department\.|user\.(created|updated|deactivated|department_changed|manager_changed))' \
    "$tmp/other.ndjson")
"$ctl" send --broker "$endpoint" --timeout-ms 120000 "$tmp/other.ndjson" \
    > "$tmp/other.out" 2>&1 &
sender=$!
sleep 0.4
kill -KILL $pid_a; wait $pid_a 2>/dev/null
killed_at=$(q "SELECT count(*) FROM analytics.event_ids e JOIN analytics.facts f
                 ON f.event_id = e.id WHERE f.company_id = '$other'")
start_analytics a --set analytics.jobs=false
wait $sender
want="sent $n_other, acked $n_other, nacked 0 (retryable 0), invalid 0"
is "$(tail -n 1 "$tmp/other.out")" "$want" \
    "every event ACKed across the SIGKILL (killed at $killed_at facts)"
"$ctl" send --broker "$endpoint" --timeout-ms 120000 "$tmp/other.ndjson" \
    > "$tmp/other.out" 2>&1 &
sender=$!
sleep 0.3
pg_restart
ok $? "postgres restarted mid-stream"
wait $sender
for _ in $(seq 30); do
    out=$(send "$tmp/other.ndjson")
    [ "$out" = "$want" ] && break
    sleep 2
done
is "$out" "$want" "redelivered after the restart, every event ACKed"
is "$(q "SELECT count(*) FROM analytics.facts WHERE company_id = '$other'")" \
    "$want_facts" "$want_facts facts: none lost, none twice"
is "$(q "SELECT count(*) FROM analytics.event_ids i
          WHERE EXISTS (SELECT 1 FROM analytics.facts f
                         WHERE f.event_id = i.id
                           AND f.company_id = '$other')")" "$want_facts" \
    "each recorded once"
is "$(q "SELECT count(*) - count(DISTINCT event_id) FROM analytics.facts")" 0 \
    "no event twice among all facts"
q "SELECT analytics.run('hour', now() + interval '1 s', now(), 'test'),
          analytics.run('day', now() + interval '1 s', now(), 'test')" \
    > /dev/null
like "$(psql -qXAt "$DATABASE_URL" -v company=$other -f "$check")" \
    '^daily 0 of [1-9]' "its rollups equal plain SQL"

#  13. psql reporting: every view and function explained, readable by
#  ferry_reporting, which reads nothing else; the named queries; day and
#  time filters prune partitions.
is "$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n
           ON n.oid = c.relnamespace
          WHERE n.nspname = 'reporting' AND c.relkind = 'v'
            AND obj_description(c.oid, 'pg_class') IS NULL")" 0 \
    "every reporting view has a COMMENT"
is "$(q "SELECT count(*) FROM pg_proc p JOIN pg_namespace n
           ON n.oid = p.pronamespace
          WHERE n.nspname = 'reporting'
            AND obj_description(p.oid, 'pg_proc') IS NULL")" 0 \
    "every reporting function has a COMMENT"
as_reporting () { psql -qXAt "$DATABASE_URL" -c "SET ROLE ferry_reporting" \
    -c "$1" 2>&1; }
bad=0
for view in $(q "SELECT c.relname FROM pg_class c JOIN pg_namespace n
                   ON n.oid = c.relnamespace
                  WHERE n.nspname = 'reporting' AND c.relkind = 'v'"); do
    out=$(as_reporting "SELECT count(*) FROM (SELECT * FROM reporting.$view
                                              LIMIT 1) v")
    [[ "$out" =~ ^[01]$ ]] || { diag "$view: $out"; bad=$((bad + 1)); }
done
is "$bad" 0 "ferry_reporting reads every reporting view"
like "$(as_reporting "SELECT headcount FROM reporting.company_stats(
          '$company', '2026-10-01', '2026-10-31')")" '^[0-9]+$' \
    "and calls the KPI functions"
for table in analytics.facts analytics.rollup_daily audit.events \
             public.schema_migrations; do
    like "$(as_reporting "SELECT count(*) FROM $table")" 'permission denied' \
        "ferry_reporting cannot read $table"
done
#  psql interpolates variables in what it reads, not in -c.
named () { printf 'SET ROLE ferry_reporting;\n\\i %s\n:%s\n' \
    "$FERRY_SRCDIR/contrib/psql/ferry.psqlrc" "$1" |
    psql -qXAt "$DATABASE_URL" -v company=$company -v from=2026-10-01 \
        -v to=2026-10-31 -v ON_ERROR_STOP=1 2>&1; }
like "$(named company_stats)" '^Gen Corp 15\|[0-9]+\|' \
    "contrib/psql/ferry.psqlrc: :company_stats as ferry_reporting"
for name in company_daily department_kpis manager_performance \
            user_engagement activity_per_day audit_per_day; do
    out=$(named $name)
    ok $? ":$name runs ($(wc -l <<<"$out") rows)"
done
#  Small groups suppressed in psql too, by the minimum group size of
#  analytics.reporting_settings (5), which the reader cannot lower.
is "$(as_reporting "SELECT suppressed, headcount IS NULL,
                           goal_completion_rate IS NULL
                      FROM reporting.department_kpis('$company', '2026-10-01',
                                                     '2026-10-31')
                     WHERE department_name = 'Research'")" 't|t|t' \
    "department_kpis: Research (3 people) suppressed, without figures"
is "$(as_reporting "SELECT count(*) FILTER (WHERE suppressed),
                           count(*) FILTER (WHERE NOT suppressed
                                            AND headcount >= 5)
                      FROM reporting.department_kpis('$company', '2026-10-01',
                                                     '2026-10-31')")" '1|9' \
    "the 9 others with figures"
is "$(as_reporting "SELECT count(*) FROM reporting.manager_performance(
                        '$company', '2026-10-01', '2026-10-31')
                     WHERE suppressed <> (team_size < 5)
                        OR suppressed <> (team_goal_completion_rate IS NULL)")" \
    0 "manager_performance: the teams under 5 suppressed, the others not"
is "$(as_reporting "SELECT count(*) FROM reporting.manager_performance(
                        '$company', '2026-10-01', '2026-10-31')
                     WHERE suppressed AND team_size = 0")" 0 \
    "and a suppressed team keeps its size"
is "$(as_reporting "SELECT bool_and(suppressed = (headcount IS NULL)),
                           bool_or(suppressed), bool_or(NOT suppressed)
                      FROM reporting.department_daily
                     WHERE company_id = '$company'")" 't|t|t' \
    "department_daily: the small days suppressed, their figures NULL"
is "$(as_reporting "SELECT count(*) FROM reporting.manager_daily
                     WHERE company_id = '$company'
                       AND suppressed <> (team_size < 5
                                          AND goals_created IS NULL)")" 0 \
    "manager_daily likewise"
like "$(as_reporting "UPDATE analytics.reporting_settings
                         SET min_group_size = 1")" 'permission denied' \
    "ferry_reporting cannot lower the minimum group size"
q "UPDATE analytics.reporting_settings SET min_group_size = 3" > /dev/null
is "$(as_reporting "SELECT count(*) FILTER (WHERE suppressed)
                      FROM reporting.department_kpis('$company', '2026-10-01',
                                                     '2026-10-31')")" 0 \
    "its owner can: with 3, Research is shown"
q "UPDATE analytics.reporting_settings SET min_group_size = 5" > /dev/null
#  The review completion rate is a true rate: of the reviews assigned in
#  the period (to a reviewer then in the group), the share submitted by
#  its end, as plain SQL counts it; never above 1, movers or not.
lo="'2026-10-01'::timestamp AT TIME ZONE analytics.zone_of('$company')"
hi="'2026-11-01'::timestamp AT TIME ZONE analytics.zone_of('$company')"
rates="WITH a AS (
         SELECT DISTINCT m.department_id, f.subject_id
           FROM analytics.facts f
           LEFT JOIN analytics.membership m
             ON m.user_id = f.user_id AND f.occurred_at >= m.valid_from
            AND f.occurred_at < m.valid_to
          WHERE f.company_id = '$company' AND f.kind = 'review_assigned'
            AND f.occurred_at >= $lo AND f.occurred_at < $hi),
       d AS (SELECT a.department_id, a.subject_id, EXISTS (
                 SELECT 1 FROM analytics.facts s
                  WHERE s.subject_id = a.subject_id
                    AND s.kind = 'review_submitted' AND s.occurred_at < $hi)
                 AS done FROM a)"
company_rate=$(q "$rates SELECT round(count(DISTINCT subject_id) FILTER (WHERE done)
                          / count(DISTINCT subject_id)::numeric, 4) FROM d")
like "$company_rate" '^0\.[0-9]{4}$|^1\.0000$' \
    "the month's review completion rate in plain SQL: $company_rate"
is "$(as_reporting "SELECT review_completion_rate FROM reporting.company_stats(
                        '$company', '2026-10-01', '2026-10-31')")" \
    "$company_rate" "reporting.company_stats: the same"
is "$(q "$rates, r AS (SELECT department_id,
                             round(count(*) FILTER (WHERE done)
                                   / count(*)::numeric, 4) AS rate
                        FROM d GROUP BY 1)
        SELECT count(*) FILTER (WHERE k.review_completion_rate
                                      IS DISTINCT FROM r.rate),
               count(*)
          FROM reporting.department_kpis('$company', '2026-10-01',
                                         '2026-10-31') k
          LEFT JOIN r USING (department_id)
         WHERE NOT k.suppressed")" '0|9' \
    "reporting.department_kpis: each department's rate as plain SQL counts it"
is "$(q "SELECT count(*) FROM reporting.department_kpis('$company',
                 '2026-10-01', '2026-10-31') WHERE review_completion_rate > 1")" \
    0 "no department's rate above 1"
is "$(api "$url/analytics/company/$company/stats?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z")" \
    200 "stats of the month: 200"
is "$(jq '.totals.reviewCompletionRate | . > 0 and . <= 1' "$tmp/body")" true \
    "its reviewCompletionRate a rate"
is "$(api "$url/analytics/company/$company/departments?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z")" \
    200 "departments of the month: 200"
is "$(jq '[.items[] | select(.reviewCompletionRate > 1)] | length' \
    "$tmp/body")" 0 "no department's reviewCompletionRate above 1"
#  Audit rows over three months, so the audit view has partitions to skip.
q "SELECT audit.ensure_partitions('2026-09-01', 3)" > /dev/null
q "INSERT INTO audit.events (id, occurred_at, type, version, source,
                             company_id, action, payload)
   SELECT gen_random_uuid(), timestamptz '2026-09-01' + i * interval '1 hour',
          'user.login', 1, 'test', '$company', 'user.login', '{}'
     FROM generate_series(0, 24 * 80) i; ANALYZE audit.events"
scanned () { q "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $1" |
    grep -E "on $2_[0-9]{6} " | grep -vc 'never executed'; }
listed () { q "EXPLAIN (COSTS OFF) $1" | grep -cE "on $2_[0-9]{6} "; }
parts=$(q "SELECT count(*) FROM pg_inherits
            WHERE inhparent = 'audit.events'::regclass")
is "$(scanned "SELECT * FROM reporting.audit_events_per_day
                WHERE day = '2026-10-07'" events)" 1 \
    "audit_events_per_day filtered on one day scans 1 of $parts partitions"
is "$(scanned "SELECT * FROM reporting.activity_per_day
                WHERE day BETWEEN '2026-10-05' AND '2026-10-06'" facts)" 1 \
    "activity_per_day filtered on days scans one partition"
is "$(listed "SELECT * FROM reporting.activity
               WHERE occurred_at >= '2026-10-05' AND occurred_at < '2026-10-06'" \
    facts)" 1 "activity filtered on occurred_at plans one partition"

done_testing
