/*  fy_rules: which domain event sends which notification, from a JSON
    rules file (notify.rules_file, doc/notify.md):

        {"rules": [
          {"name": "review_assigned", "event": "review.assigned",
           "channel": "email", "template": "review.assigned",
           "category": "review", "locale": "en",
           "recipient": {"userId": "payload.reviewerId",
                         "email": "payload.reviewerEmail",
                         "name": "payload.reviewerName"}}]}

    A recipient's values are paths into the event (dot-separated keys:
    "payload.reviewerEmail"); managerOf, instead of userId, names a user
    whose manager (in ferry-notify's recipient directory) is the
    recipient (goal.completed: "payload.ownerId"). localeFrom may name a path too, locale is
    the fallback (none by default: then ferry-notify renders in the
    recipient directory's locale, else en). ferry-notify loads it at start and on
    SIGHUP (a file that does not load keeps the old rules), and
    `ferryctl notify rules check FILE` validates one. */
#ifndef FY_RULES_H_INCLUDED
#define FY_RULES_H_INCLUDED

#include "ferry/fy_common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_rules fy_rules_t;

//  The rules in the file at path. NULL with errno EINVAL (or the errno of
//  reading) and err naming the rule and field at fault.
fy_rules_t *
fy_rules_load (const char *path, fy_error_t *err);

void
fy_rules_destroy (fy_rules_t **self_p);

size_t
fy_rules_count (fy_rules_t *self);

//  Rule index's name and template (borrowed), for checks.
void
fy_rules_at (fy_rules_t *self, size_t index, const char **name_p,
             const char **template_p);

//  One notification a rule asks for. Strings are borrowed from the rules
//  (and locale perhaps from the event); recipient is the caller's (an
//  object with what the rule's paths found in the event, maybe empty).
typedef struct {
    const char *rule;
    const char *channel;
    const char *template_name;
    const char *category;       //  NULL for none
    const char *locale;         //  NULL for none
    json_t *recipient;
} fy_rules_match_t;

//  The notifications event (its JSON envelope) asks for: at most max into
//  out, in file order. Returns how many.
size_t
fy_rules_match (fy_rules_t *self, json_t *event, fy_rules_match_t *out,
                size_t max);

#ifdef __cplusplus
}
#endif
#endif
