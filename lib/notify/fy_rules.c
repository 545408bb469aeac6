/*  fy_rules: the rules file, checked whole at load so that a mistake is
    said once, by name, instead of at each event. */
#include "notify/fy_rules.h"
#include "ferry/fy_json.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *name, *event, *channel, *template_name, *category, *locale;
    char *locale_from;          //  a path, or NULL
    json_t *recipient;          //  key -> path
} s_rule_t;

struct fy_rules {
    s_rule_t *list;
    size_t count;
};

static const char *const s_channels [] = { "email", "sms", "push", "in_app",
                                           NULL };
static const char *const s_recipient_keys [] = {
    "userId", "managerOf", "email", "phone", "deviceTokens", "name", NULL
};
static const char *const s_rule_keys [] = {
    "name",   "event",      "channel",   "template", "category",
    "locale", "localeFrom", "recipient", NULL
};

static bool
s_in (const char *text, const char *const *list)
{
    for (size_t i = 0; list [i]; i++)
        if (strcmp (text, list [i]) == 0)
            return true;
    return false;
}

//  Lower-case names, digits, '_' and '.' (templates, categories, paths
//  and event types all fit it; a template name is also a directory).
static bool
s_is_name (const char *text, bool dots)
{
    if (!*text || *text == '.')
        return false;
    for (const char *c = text; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
              || (*c >= '0' && *c <= '9') || *c == '_'
              || (dots && *c == '.' && c [1] != '.' && c [1] != '\0')))
            return false;
    return true;
}

static const char *
s_get (json_t *rule, const char *key)
{
    return json_string_value (json_object_get (rule, key));
}

static char *
s_dup (const char *text)
{
    return text ? fy_xstrdup (text) : NULL;
}

//  Check rule n and copy it into out. Returns 0, or -1 with err.
static int
s_rule_parse (json_t *rule, size_t n, s_rule_t *out, fy_error_t *err)
{
    if (!json_is_object (rule)) {
        fy_error_set (err, "rule %zu: not an object", n);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach (rule, key, value)
    {
        if (!s_in (key, s_rule_keys)) {
            fy_error_set (err, "rule %zu: unknown field '%s'", n, key);
            return -1;
        }
        if (strcmp (key, "recipient") != 0 && !json_is_string (value)) {
            fy_error_set (err, "rule %zu: %s must be a string", n, key);
            return -1;
        }
    }
    const char *name = s_get (rule, "name");
    const char *event = s_get (rule, "event");
    const char *channel = s_get (rule, "channel");
    const char *template_name = s_get (rule, "template");
    const char *category = s_get (rule, "category");
    const char *locale = s_get (rule, "locale");
    const char *locale_from = s_get (rule, "localeFrom");
    json_t *recipient = json_object_get (rule, "recipient");
    if (!name || !s_is_name (name, true))
        fy_error_set (err, "rule %zu: name is required (letters, digits, _)",
                      n);
    else if (!event || !s_is_name (event, true))
        fy_error_set (err, "rule '%s': event must be an event type", name);
    else if (!channel || !s_in (channel, s_channels))
        fy_error_set (err,
                      "rule '%s': channel must be email, sms, push or "
                      "in_app",
                      name);
    else if (!template_name || !s_is_name (template_name, true))
        fy_error_set (err,
                      "rule '%s': template must be a template name "
                      "(review.assigned)",
                      name);
    else if (category && !s_is_name (category, false))
        fy_error_set (err, "rule '%s': category must be a word", name);
    else if (locale && !s_is_name (locale, false))
        fy_error_set (err, "rule '%s': locale must be a tag like fr or fr_FR",
                      name);
    else if (locale_from && !s_is_name (locale_from, true))
        fy_error_set (err, "rule '%s': localeFrom must be a path", name);
    else if (!json_is_object (recipient) || json_object_size (recipient) == 0)
        fy_error_set (err, "rule '%s': recipient must be an object of paths",
                      name);
    else if (json_object_get (recipient, "managerOf")
             && json_object_get (recipient, "userId"))
        fy_error_set (err,
                      "rule '%s': recipient.managerOf names the user's "
                      "manager as the recipient: not with recipient.userId",
                      name);
    else {
        json_object_foreach (recipient, key, value)
        {
            if (!s_in (key, s_recipient_keys)) {
                fy_error_set (err,
                              "rule '%s': recipient.%s is not one of userId, "
                              "managerOf, email, phone, deviceTokens, name",
                              name, key);
                return -1;
            }
            if (!json_is_string (value)
                || !s_is_name (json_string_value (value), true)) {
                fy_error_set (err,
                              "rule '%s': recipient.%s must be a path into "
                              "the event (payload.reviewerEmail)",
                              name, key);
                return -1;
            }
        }
        out->name = fy_xstrdup (name);
        out->event = fy_xstrdup (event);
        out->channel = fy_xstrdup (channel);
        out->template_name = fy_xstrdup (template_name);
        out->category = s_dup (category);
        out->locale = s_dup (locale);
        out->locale_from = s_dup (locale_from);
        out->recipient = json_incref (recipient);
        return 0;
    }
    return -1;
}

fy_rules_t *
fy_rules_load (const char *path, fy_error_t *err)
{
    assert (path);
    json_error_t json_err;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &json_err);
    if (!root) {
        fy_error_set (err, "%s: line %d: %s", path, json_err.line,
                      json_err.text);
        errno = EINVAL;
        return NULL;
    }
    fy_rules_t *self = fy_xcalloc (1, sizeof *self);
    json_t *rules = json_object_get (root, "rules");
    if (!json_is_array (rules) || json_object_size (root) != 1) {
        fy_error_set (err, "%s: must be {\"rules\": [...]}", path);
        goto fail;
    }
    self->list = fy_xcalloc (json_array_size (rules) + 1, sizeof *self->list);
    size_t index;
    json_t *rule;
    json_array_foreach (rules, index, rule)
    {
        if (s_rule_parse (rule, index + 1, &self->list [self->count], err))
            goto fail;
        for (size_t i = 0; i < self->count; i++)
            if (strcmp (self->list [i].name, self->list [self->count].name)
                == 0) {
                fy_error_set (err, "rule '%s': the name is used twice",
                              self->list [i].name);
                self->count++;
                goto fail;
            }
        self->count++;
    }
    json_decref (root);
    return self;
fail:
    json_decref (root);
    fy_rules_destroy (&self);
    errno = EINVAL;
    return NULL;
}

void
fy_rules_destroy (fy_rules_t **self_p)
{
    assert (self_p);
    fy_rules_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        s_rule_t *rule = &self->list [i];
        free (rule->name);
        free (rule->event);
        free (rule->channel);
        free (rule->template_name);
        free (rule->category);
        free (rule->locale);
        free (rule->locale_from);
        json_decref (rule->recipient);
    }
    free (self->list);
    free (self);
    *self_p = NULL;
}

size_t
fy_rules_count (fy_rules_t *self)
{
    assert (self);
    return self->count;
}

void
fy_rules_at (fy_rules_t *self, size_t index, const char **name_p,
             const char **template_p)
{
    assert (self && index < self->count);
    *name_p = self->list [index].name;
    *template_p = self->list [index].template_name;
}

//  The value at path (dot-separated keys) in root, or NULL. Borrowed.
static json_t *
s_path (json_t *root, const char *path)
{
    json_t *at = root;
    const char *start = path;
    while (at && *start) {
        const char *dot = strchr (start, '.');
        size_t len = dot ? (size_t) (dot - start) : strlen (start);
        at = json_object_getn (at, start, len);
        start = dot ? dot + 1 : start + len;
    }
    return at;
}

size_t
fy_rules_match (fy_rules_t *self, json_t *event, fy_rules_match_t *out,
                size_t max)
{
    assert (self && event && out);
    const char *type = json_string_value (json_object_get (event, "type"));
    size_t count = 0;
    for (size_t i = 0; type && i < self->count && count < max; i++) {
        s_rule_t *rule = &self->list [i];
        if (strcmp (rule->event, type) != 0)
            continue;
        fy_rules_match_t *match = &out [count++];
        match->rule = rule->name;
        match->channel = rule->channel;
        match->template_name = rule->template_name;
        match->category = rule->category;
        const char *locale =
            rule->locale_from
                ? json_string_value (s_path (event, rule->locale_from))
                : NULL;
        match->locale = locale && *locale ? locale : rule->locale;
        match->recipient = json_object ();
        const char *key;
        json_t *path;
        json_object_foreach (rule->recipient, key, path)
        {
            json_t *value = s_path (event, json_string_value (path));
            if (value && !json_is_null (value))
                json_object_set (match->recipient, key, value);
        }
    }
    return count;
}
