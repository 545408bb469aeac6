/*  fy_rules: a rules file loaded, refused with the rule and field at
    fault, and matched against events (paths into the event, localeFrom
    and its fallback, a missing value left out). */
#include "ferry/ferry.h"
#include "notify/fy_rules.h"

#include <errno.h>
#include <unistd.h>

#include "tap.h"

static char s_path [64];

static fy_rules_t *
s_load (const char *text, fy_error_t *err)
{
    FILE *file = fopen (s_path, "w");
    fputs (text, file);
    fclose (file);
    return fy_rules_load (s_path, err);
}

static void
s_refused (const char *text, const char *expected)
{
    fy_error_t err = { "" };
    fy_rules_t *rules = s_load (text, &err);
    ok (!rules && errno == EINVAL && strstr (err.text, expected), "refused: %s",
        err.text);
    fy_rules_destroy (&rules);
}

int
main (void)
{
    plan (NO_PLAN);
    snprintf (s_path, sizeof s_path, "/tmp/fy_rules_%ld.json",
              (long) getpid ());
    fy_error_t err = { "" };
    fy_rules_t *rules = s_load (
        "{\"rules\": ["
        "{\"name\": \"a\", \"event\": \"review.assigned\", \"channel\": "
        "\"email\", \"template\": \"review.assigned\", \"category\": "
        "\"review\", \"localeFrom\": \"payload.locale\", \"recipient\": "
        "{\"email\": \"payload.reviewerEmail\", \"userId\": "
        "\"payload.reviewerId\", \"name\": \"payload.missing\"}},"
        "{\"name\": \"b\", \"event\": \"review.assigned\", \"channel\": "
        "\"push\", \"template\": \"review.push\", \"locale\": \"fr\", "
        "\"recipient\": {\"userId\": \"payload.revieweeId\"}},"
        "{\"name\": \"c\", \"event\": \"goal.completed\", \"channel\": "
        "\"push\", \"template\": \"goal.completed\", \"recipient\": "
        "{\"userId\": \"payload.ownerId\"}}]}",
        &err);
    ok (rules != NULL, "three rules load: %s", err.text);
    is_int ((int) fy_rules_count (rules), 3, "three");
    json_t *event =
        json_pack ("{s:s, s:{s:s, s:s, s:s, s:s}}", "type", "review.assigned",
                   "payload", "reviewerEmail", "r@example.com", "reviewerId",
                   "u1", "revieweeId", "u2", "locale", "de");
    fy_rules_match_t out [4];
    size_t count = fy_rules_match (rules, event, out, 4);
    is_int ((int) count, 2, "review.assigned: two notifications");
    is_str (out [0].rule, "a", "first the first rule");
    is_str (json_string_value (json_object_get (out [0].recipient, "email")),
            "r@example.com", "its e-mail from the payload");
    ok (!json_object_get (out [0].recipient, "name"),
        "a path that finds nothing is left out");
    is_str (out [0].locale, "de", "localeFrom");
    is_str (out [1].locale, "fr", "a fixed locale");
    is_str (out [1].channel, "push", "the second rule's channel");
    for (size_t i = 0; i < count; i++)
        json_decref (out [i].recipient);
    is_int ((int) fy_rules_match (rules, event, out, 1), 1, "max is kept");
    json_decref (out [0].recipient);
    json_decref (event);
    event = json_pack ("{s:s}", "type", "user.login");
    is_int ((int) fy_rules_match (rules, event, out, 4), 0,
            "an event no rule names: none");
    json_decref (event);
    fy_rules_destroy (&rules);

    s_refused ("{\"rules\": [", "line");
    s_refused ("{\"rules\": {}}", "must be {\"rules\": [...]}");
    s_refused ("{\"rules\": [{\"name\": \"a\", \"event\": \"x.y\", "
               "\"channel\": \"fax\", \"template\": \"x.y\", "
               "\"recipient\": {\"email\": \"payload.e\"}}]}",
               "rule 'a': channel");
    s_refused ("{\"rules\": [{\"name\": \"a\", \"event\": \"x.y\", "
               "\"channel\": \"email\", \"template\": \"../etc\", "
               "\"recipient\": {\"email\": \"payload.e\"}}]}",
               "rule 'a': template");
    s_refused ("{\"rules\": [{\"name\": \"a\", \"event\": \"x.y\", "
               "\"channel\": \"email\", \"template\": \"x.y\", "
               "\"recipient\": {\"fax\": \"payload.e\"}}]}",
               "recipient.fax");
    s_refused ("{\"rules\": [{\"name\": \"a\", \"event\": \"x.y\", "
               "\"channel\": \"email\", \"template\": \"x.y\", "
               "\"recipient\": {\"userId\": \"payload.u\", \"managerOf\": "
               "\"payload.u\"}}]}",
               "not with recipient.userId");
    s_refused ("{\"rules\": [{\"name\": \"a\", \"event\": \"x.y\", "
               "\"channel\": \"email\", \"template\": \"x.y\", "
               "\"recipient\": {\"email\": \"payload.e\"}, \"when\": 1}]}",
               "unknown field 'when'");
    s_refused ("{\"rules\": [{\"name\": \"a\", \"event\": \"x.y\", "
               "\"channel\": \"email\", \"template\": \"x.y\", "
               "\"recipient\": {\"email\": \"payload.e\"}}, {\"name\": "
               "\"a\", \"event\": \"x.y\", \"channel\": \"email\", "
               "\"template\": \"x.y\", \"recipient\": {\"email\": "
               "\"payload.e\"}}]}",
               "used twice");
    unlink (s_path);
    rules = fy_rules_load (s_path, &err);
    ok (!rules, "a missing file: %s", err.text);
    done_testing ();
}
