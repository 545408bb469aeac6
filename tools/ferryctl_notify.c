/*  ferryctl notify rules check FILE: load a rules file as ferry-notify
    does (fy_rules) and check that each rule's template is a directory of
    notify.template_dir, so a mistake shows before a SIGHUP would refuse
    the file (ferry-notify keeps its old rules then). Exit 0 when it
    loads, 1 when it does not, 2 on a usage error. */
#include "ferryctl.h"
#include "notify/fy_rules.h"

#include <string.h>
#include <sys/stat.h>

static int
s_check (ferryctl_t *ctl, const char *path)
{
    fy_error_t err = { "" };
    fy_rules_t *rules = fy_rules_load (path, &err);
    if (!rules) {
        fprintf (stderr, "ferryctl: %s\n", err.text);
        return FERRYCTL_FAILED;
    }
    const char *dir = fy_cfg_str (ctl->cfg, "notify", "template_dir");
    int rc = FERRYCTL_OK;
    for (size_t i = 0; i < fy_rules_count (rules); i++) {
        const char *rule = NULL, *template_name = NULL;
        fy_rules_at (rules, i, &rule, &template_name);
        char *template_dir = fy_xasprintf ("%s/%s", dir, template_name);
        struct stat info;
        if (stat (template_dir, &info) || !S_ISDIR (info.st_mode)) {
            fprintf (stderr, "ferryctl: rule '%s': no template %s\n", rule,
                     template_dir);
            rc = FERRYCTL_FAILED;
        }
        free (template_dir);
    }
    if (rc == FERRYCTL_OK)
        printf ("%s: %zu rules, every template found in %s\n", path,
                fy_rules_count (rules), dir);
    fy_rules_destroy (&rules);
    return rc;
}

int
ferryctl_notify (ferryctl_t *ctl)
{
    if (ctl->argc != 4 || strcmp (ctl->argv [1], "rules") != 0
        || strcmp (ctl->argv [2], "check") != 0) {
        fprintf (stderr, "usage: ferryctl notify rules check FILE\n");
        return FERRYCTL_USAGE;
    }
    return s_check (ctl, ctl->argv [3]);
}
