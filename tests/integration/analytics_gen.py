#!/usr/bin/env python3
"""analytics_gen.py: a deterministic month of one company's events, as
NDJSON on stdout, for the analytics tests and benchmarks.

    analytics_gen.py [--seed N] [--users N] [--month YYYY-MM] [--zone Z]
                     [--company UUID] [--part org|activity|late|all]

The same arguments always give the same events (ids included: uuids are
drawn from the seeded generator). The company (company.created in zone Z),
its departments (the last one deliberately small, 3 people, for the
small-group suppression) and its users (user.created, every tenth a
manager) come first ("org"); then each day of the month a share of the
users log in and act: goals created, progressed, completed, reviews
assigned and submitted, feedback, one-on-ones ("activity"). On the 15th
at noon UTC, 20 users move to another department and manager
(user.department_changed and user.manager_changed effective then), and
two users are deactivated on the 20th. "late" is a second set of events
of days 3 and 4, sent after the first rollups ran, to test the dirty
buckets."""
import argparse
import datetime as dt
import json
import random
import sys
import uuid

p = argparse.ArgumentParser()
p.add_argument("--seed", type=int, default=15)
p.add_argument("--users", type=int, default=500)
p.add_argument("--month", default="2026-10")
p.add_argument("--zone", default="Europe/Paris")
p.add_argument("--company", default="a0a1e5c0-0015-4000-8000-000000000015")
p.add_argument("--part", default="all",
               choices=["org", "activity", "late", "all"])
p.add_argument("--days", type=int, default=0,
               help="days of activity (default: the whole month)")
args = p.parse_args()

rng = random.Random(args.seed)


def uid():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


year, month = (int(x) for x in args.month.split("-"))
start = dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)
nxt = dt.datetime(year + (month == 12), month % 12 + 1, 1,
                  tzinfo=dt.timezone.utc)
days = args.days or (nxt - start).days


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


out = []


def emit(kind, at, payload, actor=None):
    out.append({"id": uid(), "type": kind, "version": 1, "source": "gen",
                "occurredAt": ts(at), "companyId": args.company,
                "actorId": actor, "payload": payload})


# The organisation, the day before the month.
org_at = start - dt.timedelta(days=1)
owner = uid()
emit("company.created", org_at - dt.timedelta(hours=1),
     {"companyId": args.company, "name": "Gen Corp %d" % args.seed,
      "slug": "gen-%d" % args.seed, "plan": "business",
      "ownerUserId": owner, "country": "FR", "timezone": args.zone,
      "locale": "fr-FR"}, owner)
names = ["Engineering", "Sales", "Marketing", "Support", "Finance",
         "People", "Legal", "Operations", "Product", "Research"]
depts = [uid() for _ in names]
for d, name in zip(depts, names):
    emit("department.created", org_at, {"departmentId": d, "name": name,
                                        "parentDepartmentId": None}, owner)
users = [uid() for _ in range(args.users)]
# Research (the last) has 3 people; the rest share the others evenly.
dept_of, manager_of = {}, {}
small = depts[-1]
for i, u in enumerate(users):
    dept_of[u] = small if i >= args.users - 3 else depts[i % (len(depts) - 1)]
managers = {}
for i, u in enumerate(users):
    if i % 10 == 0 and dept_of[u] != small:
        managers.setdefault(dept_of[u], []).append(u)
managers[small] = [users[-3]]
for u in users:
    ms = [m for m in managers[dept_of[u]] if m != u]
    manager_of[u] = rng.choice(ms) if ms else None
for i, u in enumerate(users):
    emit("user.created", org_at + dt.timedelta(seconds=i),
         {"userId": u, "email": "u%d@gen.example" % i,
          "firstName": "User", "lastName": "N%d" % i,
          "displayName": "User %d" % i,
          "roles": ["manager"] if any(u in v for v in managers.values())
          else ["employee"],
          "locale": "fr-FR", "sendWelcome": False,
          "departmentId": dept_of[u], "managerId": manager_of[u]}, owner)
org = out
out = []

# Activity, day by day.
goals = {u: [] for u in users}
reviews = []
reorg_at = start + dt.timedelta(days=14, hours=12)
movers = rng.sample([u for u in users if dept_of[u] != small
                     and not any(u in v for v in managers.values())], 20)
leavers = rng.sample([u for u in users if u not in movers
                      and not any(u in v for v in managers.values())], 2)
leave_at = start + dt.timedelta(days=19, hours=9)
gone = set()
for day in range(days):
    base = start + dt.timedelta(days=day)
    if base == start + dt.timedelta(days=14):
        for u in movers:
            old = dept_of[u]
            new = rng.choice([d for d in depts[:-1] if d != old])
            emit("user.department_changed", reorg_at,
                 {"userId": u, "previousDepartmentId": old,
                  "departmentId": new, "effectiveAt": ts(reorg_at),
                  "reason": "reorganisation"}, owner)
            m = rng.choice(managers[new])
            emit("user.manager_changed", reorg_at,
                 {"userId": u, "previousManagerId": manager_of[u],
                  "managerId": m, "effectiveAt": ts(reorg_at)}, owner)
            dept_of[u], manager_of[u] = new, m
    if base == start + dt.timedelta(days=19):
        for u in leavers:
            emit("user.deactivated", leave_at,
                 {"userId": u, "reason": "resigned",
                  "effectiveAt": ts(leave_at)}, owner)
            gone.add(u)
    weekend = base.weekday() >= 5
    for u in users:
        if u in gone or rng.random() > (0.15 if weekend else 0.7):
            continue
        t = base + dt.timedelta(seconds=rng.randrange(6 * 3600, 20 * 3600),
                                milliseconds=rng.randrange(1000))
        emit("user.login", t, {"userId": u, "sessionId": uid(),
                               "ip": "192.0.2.%d" % rng.randrange(1, 255),
                               "userAgent": "gen/1", "method": "password",
                               "mfa": False}, u)
        for _ in range(rng.randrange(0, 4)):
            t += dt.timedelta(minutes=rng.randrange(1, 40))
            r = rng.random()
            if r < 0.2:
                g = uid()
                goals[u].append(g)
                emit("goal.created", t, {"goalId": g, "ownerId": u,
                                         "title": "Goal", "scope": "individual",
                                         "dueDate": (base + dt.timedelta(days=60)
                                                     ).strftime("%Y-%m-%d"),
                                         "visibility": "manager"}, u)
            elif r < 0.35 and goals[u]:
                emit("goal.progressed", t, {"goalId": rng.choice(goals[u]),
                                            "ownerId": u, "progress": 50,
                                            "previousProgress": 10}, u)
            elif r < 0.45 and goals[u]:
                g = goals[u].pop(0)
                emit("goal.completed", t, {"goalId": g, "ownerId": u,
                                           "completedAt": ts(t),
                                           "finalProgress": 100,
                                           "outcome": "achieved"}, u)
            elif r < 0.6:
                emit("feedback.given", t, {"feedbackId": uid(), "giverId": u,
                                           "receiverId": rng.choice(users),
                                           "kind": "praise",
                                           "visibility": "public",
                                           "anonymous": False}, u)
            elif r < 0.7 and manager_of[u]:
                emit("one_on_one.completed", t,
                     {"meetingId": uid(), "managerId": manager_of[u],
                      "employeeId": u, "completedAt": ts(t),
                      "durationMinutes": 30}, manager_of[u])
            elif r < 0.8:
                rid = uid()
                due = t + dt.timedelta(days=rng.choice([-1, 3]))
                reviewee = rng.choice(users)
                emit("review.assigned", t,
                     {"reviewId": rid, "cycleId": depts[0],
                      "revieweeId": reviewee, "reviewerId": u,
                      "kind": "peer", "dueAt": ts(due)}, owner)
                reviews.append((rid, u, reviewee, due))
            elif reviews:
                rid, rv, re, due = reviews.pop(0)
                emit("review.submitted", t,
                     {"reviewId": rid, "cycleId": depts[0],
                      "revieweeId": re, "reviewerId": rv, "kind": "peer",
                      "score": 4, "submittedAt": ts(t)}, rv)
        if rng.random() < 0.3:
            emit("user.logout", t + dt.timedelta(minutes=5),
                 {"userId": u, "sessionId": uid(), "reason": "user"}, u)
activity = out

# Late: logins on days 3 and 4 of users who were not active then.
out = []
for day in (2, 3):
    base = start + dt.timedelta(days=day)
    for u in users[:40]:
        t = base + dt.timedelta(hours=23, minutes=rng.randrange(0, 50))
        emit("user.login", t, {"userId": u, "sessionId": uid(),
                               "ip": "192.0.2.9", "userAgent": "gen/late",
                               "method": "sso", "mfa": True}, u)
late = out

parts = {"org": org, "activity": activity, "late": late,
         "all": org + activity + late}
for e in parts[args.part]:
    sys.stdout.write(json.dumps(e, separators=(",", ":")) + "\n")
