/*  fy_cfg: load and check ferry.cfg. A load builds a whole new set of
    values and swaps it in only when every key checks out, which is what
    makes a failed SIGHUP reload harmless. */
#include "ferry/fy_cfg.h"
#include "ferry/fy_log.h"

#include <assert.h>
#include <ctype.h>
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *value;
    const char *origin;
} s_value_t;

struct fy_cfg {
    const fy_cfg_section_t *tables;
    s_value_t **values;     //  [section][key]
    //  What the last successful load read, for fy_cfg_reload.
    char *path;
    char **sets;            //  NULL-terminated
};

static void
s_sources_free (fy_cfg_t *self)
{
    free (self->path);
    self->path = NULL;
    for (size_t i = 0; self->sets && self->sets [i]; i++)
        free (self->sets [i]);
    free (self->sets);
    self->sets = NULL;
}

static size_t
s_key_count (const fy_cfg_section_t *section)
{
    size_t count = 0;
    while (section->keys [count].name)
        count++;
    return count;
}

//  True when the running program is the one in the build tree it was built
//  in (its executable, behind libtool's wrapper, lies under that tree), not
//  an installed copy. Both paths are resolved, so symlinks do not matter.
//  FERRY_TOP_BUILDDIR and FERRY_TOP_SRCDIR come from Makefile.am.
static bool
s_uninstalled (void)
{
    char exe [PATH_MAX];
    ssize_t size = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (size <= 0)
        return false;
    exe [size] = '\0';
    char *top = realpath (FERRY_TOP_BUILDDIR, NULL);
    if (!top)
        return false;
    size_t len = strlen (top);
    bool inside = strncmp (exe, top, len) == 0 && exe [len] == '/';
    free (top);
    return inside;
}

//  A default under the install prefix (FERRY_SCHEMA_DIR), for a program
//  run from its build tree: the source tree's copy, SRCDIR/schemas/NAME or
//  else SRCDIR/NAME (schemas/events.schema.json, schemas/openapi.json,
//  sql), so a program tried from the build tree needs nothing installed
//  and no variable set. Installed programs keep the prefix. The file, the
//  environment and --set override either, as they do any default.
//  Caller owns result.
static char *
s_default_value (const char *fallback, bool uninstalled)
{
    if (!fallback)
        return NULL;
    size_t len = strlen (FERRY_SCHEMA_DIR);
    char *src = NULL;
    if (uninstalled && strncmp (fallback, FERRY_SCHEMA_DIR, len) == 0
        && fallback [len] == '/')
        src = realpath (FERRY_TOP_SRCDIR, NULL);
    if (src) {
        const char *subdirs [] = { "/schemas", "" };
        for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
            char *path =
                fy_xasprintf ("%s%s%s", src, subdirs [i], fallback + len);
            if (access (path, F_OK) == 0) {
                free (src);
                return path;
            }
            free (path);
        }
        free (src);
    }
    return fy_xstrdup (fallback);
}

static s_value_t **
s_values_new (const fy_cfg_section_t *tables)
{
    bool uninstalled = s_uninstalled ();
    size_t sections = 0;
    while (tables [sections].name)
        sections++;
    s_value_t **values = fy_xcalloc (sections, sizeof *values);
    for (size_t s = 0; s < sections; s++) {
        const fy_cfg_section_t *section = &tables [s];
        size_t keys = s_key_count (section);
        values [s] = fy_xcalloc (keys, sizeof **values);
        for (size_t k = 0; k < keys; k++) {
            values [s][k].value =
                s_default_value (section->keys [k].fallback, uninstalled);
            values [s][k].origin = "default";
        }
    }
    return values;
}

static void
s_values_destroy (const fy_cfg_section_t *tables, s_value_t ***values_p)
{
    s_value_t **values = *values_p;
    if (!values)
        return;
    for (size_t s = 0; tables [s].name; s++) {
        for (size_t k = 0; tables [s].keys [k].name; k++)
            free (values [s][k].value);
        free (values [s]);
    }
    free (values);
    *values_p = NULL;
}

fy_cfg_t *
fy_cfg_new (const fy_cfg_section_t *tables)
{
    fy_cfg_t *self = fy_xcalloc (1, sizeof *self);
    self->tables = tables ? tables : fy_cfg_sections;
    self->values = s_values_new (self->tables);
    return self;
}

void
fy_cfg_destroy (fy_cfg_t **self_p)
{
    assert (self_p);
    fy_cfg_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    s_values_destroy (self->tables, &self->values);
    s_sources_free (self);
    free (self);
    *self_p = NULL;
    errno = saved;
}

//  Find section and key indexes by name; -1 when unknown.
static int
s_find_section (const fy_cfg_section_t *tables, const char *name, size_t len)
{
    for (int s = 0; tables [s].name; s++)
        if (strlen (tables [s].name) == len
            && memcmp (tables [s].name, name, len) == 0)
            return s;
    return -1;
}

static int
s_find_key (const fy_cfg_section_t *tables, int section, const char *name)
{
    const fy_cfg_key_t *keys = tables [section].keys;
    for (int k = 0; keys [k].name; k++)
        if (strcmp (keys [k].name, name) == 0)
            return k;
    return -1;
}

const fy_cfg_key_t *
fy_cfg_key_find (const char *section, const char *key)
{
    const fy_cfg_section_t *tables = fy_cfg_sections;
    int s = s_find_section (tables, section, strlen (section));
    int k = s < 0 ? -1 : s_find_key (tables, s, key);
    return k < 0 ? NULL : &tables [s].keys [k];
}

static void
s_assign (s_value_t *slot, const char *value, const char *origin)
{
    free (slot->value);
    slot->value = fy_xstrdup (value);
    slot->origin = origin;
}

//  A secret's value from the file a <key>_file setting names; one
//  trailing newline is dropped, as editors and `echo` leave one.
static int
s_read_secret (const char *path, char **value_p, fy_error_t *err)
{
    size_t len = 0;
    char *value = fy_read_file (path, 4096, &len);
    if (!value) {
        fy_error_set (err, "cannot read %s: %s", path, strerror (errno));
        errno = EINVAL;
        return -1;
    }
    if (len && value [len - 1] == '\n')
        value [--len] = 0;
    if (len && value [len - 1] == '\r')
        value [--len] = 0;
    *value_p = value;
    return 0;
}

//  Apply one setting from origin (a file name, "env" or "set").
static int
s_apply (const fy_cfg_section_t *tables, s_value_t **values, const char *where,
         const char *origin, int section, const char *key, const char *value,
         fy_error_t *err)
{
    const char *name = tables [section].name;
    int k = s_find_key (tables, section, key);
    size_t len = strlen (key);
    if (k < 0 && len > 5 && strcmp (key + len - 5, "_file") == 0) {
        char base [64];
        snprintf (base, sizeof base, "%.*s", (int) (len - 5), key);
        k = s_find_key (tables, section, base);
        if (k >= 0 && tables [section].keys [k].flags & FY_CFG_SECRET) {
            char *secret = NULL;
            if (s_read_secret (value, &secret, err)) {
                fy_error_prefix (err, "%s: %s.%s", where, name, key);
                return -1;
            }
            free (values [section][k].value);
            values [section][k].value = secret;
            values [section][k].origin = origin;
            return 0;
        }
        k = -1;
    }
    if (k < 0) {
        fy_error_set (err, "%s: unknown key %s.%s", where, name, key);
        errno = EINVAL;
        return -1;
    }
    if ((tables [section].keys [k].flags & FY_CFG_SECRET)
        && strcmp (origin, "file") == 0) {
        fy_error_set (err,
                      "%s: %s.%s is a secret: set it in the environment "
                      "or name a file with %s_file",
                      where, name, key, key);
        errno = EINVAL;
        return -1;
    }
    s_assign (&values [section][k], value, origin);
    return 0;
}

//  zconfig reports syntax errors on stdout and returns NULL, so the one
//  line it prints is caught and folded into err. The file is read here
//  and parsed from memory: zconfig_load leaks its zfile on a syntax error.
#define S_MAX_FILE (1 << 20)

static zconfig_t *
s_load_zpl (const char *path, fy_error_t *err)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        fy_error_set (err, "%s: %s", path, strerror (errno));
        errno = EINVAL;
        return NULL;
    }
    char *text = fy_xmalloc (S_MAX_FILE + 1);
    size_t len = fread (text, 1, S_MAX_FILE + 1, file);
    fclose (file);
    if (len > S_MAX_FILE) {
        fy_error_set (err, "%s: larger than %d bytes", path, S_MAX_FILE);
        free (text);
        errno = EINVAL;
        return NULL;
    }
    text [len] = 0;
    fflush (stdout);
    FILE *capture = tmpfile ();
    int saved_fd = dup (STDOUT_FILENO);
    if (capture && saved_fd >= 0)
        dup2 (fileno (capture), STDOUT_FILENO);
    zconfig_t *root = zconfig_str_load (text);
    fflush (stdout);
    if (saved_fd >= 0) {
        dup2 (saved_fd, STDOUT_FILENO);
        close (saved_fd);
    }
    free (text);
    if (!root) {
        char line [256] = "";
        if (capture) {
            rewind (capture);
            if (!fgets (line, sizeof line, capture))
                line [0] = 0;
        }
        line [strcspn (line, "\n")] = 0;
        //  "26-11-26 23:29:31 E (zconfig): (3) indent ..." -> "(3) indent ..."
        const char *detail = strstr (line, "): ");
        detail = detail ? detail + 3 : "syntax error";
        fy_error_set (err, "%s: line %s", path, detail);
        errno = EINVAL;
    }
    if (capture)
        fclose (capture);
    return root;
}

static int
s_apply_file (const fy_cfg_section_t *tables, s_value_t **values,
              const char *path, fy_error_t *err)
{
    zconfig_t *root = s_load_zpl (path, err);
    if (!root)
        return -1;
    int rc = -1;
    for (zconfig_t *node = zconfig_child (root); node;
         node = zconfig_next (node)) {
        const char *name = zconfig_name (node);
        int section = s_find_section (tables, name, strlen (name));
        if (section < 0) {
            fy_error_set (err, "%s: unknown section %s", path, name);
            errno = EINVAL;
            goto out;
        }
        for (zconfig_t *item = zconfig_child (node); item;
             item = zconfig_next (item)) {
            if (zconfig_child (item)) {
                fy_error_set (err,
                              "%s: %s.%s: nested keys are not "
                              "allowed here",
                              path, name, zconfig_name (item));
                errno = EINVAL;
                goto out;
            }
            const char *value = zconfig_value (item);
            if (s_apply (tables, values, path, "file", section,
                         zconfig_name (item), value ? value : "", err))
                goto out;
        }
    }
    rc = 0;
out:
    zconfig_destroy (&root);
    return rc;
}

static void
s_env_name (char *buffer, size_t size, const char *section, const char *key,
            const char *suffix)
{
    snprintf (buffer, size, "FERRY_%s_%s%s", section, key, suffix);
    for (char *c = buffer; *c; c++)
        *c = (char) toupper ((unsigned char) *c);
}

static int
s_apply_env (const fy_cfg_section_t *tables, s_value_t **values,
             fy_error_t *err)
{
    for (int s = 0; tables [s].name; s++) {
        const fy_cfg_section_t *section = &tables [s];
        for (int k = 0; section->keys [k].name; k++) {
            const fy_cfg_key_t *key = &section->keys [k];
            const char *legacy = key->env ? getenv (key->env) : NULL;
            if (legacy)
                s_assign (&values [s][k], legacy, "env");
            char name [128];
            s_env_name (name, sizeof name, section->name, key->name, "");
            const char *value = getenv (name);
            if (value)
                s_assign (&values [s][k], value, "env");
            if (key->flags & FY_CFG_SECRET) {
                s_env_name (name, sizeof name, section->name, key->name,
                            "_FILE");
                const char *path = getenv (name);
                char *secret = NULL;
                if (path && s_read_secret (path, &secret, err)) {
                    fy_error_prefix (err, "%s", name);
                    return -1;
                }
                if (secret) {
                    free (values [s][k].value);
                    values [s][k].value = secret;
                    values [s][k].origin = "env";
                }
            }
        }
    }
    return 0;
}

static int
s_apply_set (const fy_cfg_section_t *tables, s_value_t **values,
             const char *assignment, fy_error_t *err)
{
    const char *dot = strchr (assignment, '.');
    const char *equals = strchr (assignment, '=');
    if (!dot || !equals || dot > equals) {
        fy_error_set (err, "--set %s: expected section.key=value", assignment);
        errno = EINVAL;
        return -1;
    }
    int section =
        s_find_section (tables, assignment, (size_t) (dot - assignment));
    if (section < 0) {
        fy_error_set (err, "--set: unknown section %.*s",
                      (int) (dot - assignment), assignment);
        errno = EINVAL;
        return -1;
    }
    char key [64];
    snprintf (key, sizeof key, "%.*s", (int) (equals - dot - 1), dot + 1);
    return s_apply (tables, values, "--set", "set", section, key, equals + 1,
                    err);
}

static bool
s_parse_bool (const char *text, bool *value)
{
    static const char *yes [] = { "true", "yes", "on", "1", NULL };
    static const char *no [] = { "false", "no", "off", "0", NULL };
    for (int i = 0; yes [i]; i++)
        if (strcasecmp (text, yes [i]) == 0) {
            *value = true;
            return true;
        }
    for (int i = 0; no [i]; i++)
        if (strcasecmp (text, no [i]) == 0) {
            *value = false;
            return true;
        }
    return false;
}

static bool
s_is_choice (const char *choices, const char *value)
{
    size_t len = strlen (value);
    for (const char *at = choices; *at;) {
        size_t span = strcspn (at, "|");
        if (span == len && memcmp (at, value, len) == 0)
            return true;
        at += span + (at [span] == '|');
    }
    return false;
}

//  Check one value against its key; the message names where it came from.
static int
s_check (const char *section, const fy_cfg_key_t *key, const s_value_t *slot,
         fy_error_t *err)
{
    const char *value = slot->value;
    if (!value) {
        if (!(key->flags & FY_CFG_REQUIRED))
            return 0;
        char env [128];
        s_env_name (env, sizeof env, section, key->name, "");
        fy_error_set (err,
                      "%s.%s: required: set it in the file, in %s%s%s "
                      "or with --set",
                      section, key->name, env, key->env ? " or " : "",
                      key->env ? key->env : "");
        errno = EINVAL;
        return -1;
    }
    const char *shown = key->flags & FY_CFG_SECRET ? "***" : value;
    if (key->type == FY_CFG_INT) {
        int64_t number;
        if (fy_parse_int64 (value, key->min, key->max, &number)) {
            fy_error_set (err,
                          "%s.%s (%s): '%s' is not an integer in "
                          "%lld..%lld",
                          section, key->name, slot->origin, shown,
                          (long long) key->min, (long long) key->max);
            errno = EINVAL;
            return -1;
        }
    }
    else if (key->type == FY_CFG_BOOL) {
        bool flag;
        if (!s_parse_bool (value, &flag)) {
            fy_error_set (err, "%s.%s (%s): '%s' is not true or false", section,
                          key->name, slot->origin, shown);
            errno = EINVAL;
            return -1;
        }
    }
    else if (key->choices && !s_is_choice (key->choices, value)) {
        fy_error_set (err, "%s.%s (%s): '%s' is not one of %s", section,
                      key->name, slot->origin, shown, key->choices);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int
fy_cfg_load (fy_cfg_t *self, const char *path, const char *const *sets,
             fy_error_t *err)
{
    assert (self);
    const fy_cfg_section_t *tables = self->tables;
    s_value_t **values = s_values_new (tables);
    if (path && s_apply_file (tables, values, path, err))
        goto fail;
    if (s_apply_env (tables, values, err))
        goto fail;
    for (size_t i = 0; sets && sets [i]; i++)
        if (s_apply_set (tables, values, sets [i], err))
            goto fail;
    for (int s = 0; tables [s].name; s++)
        for (int k = 0; tables [s].keys [k].name; k++)
            if (s_check (tables [s].name, &tables [s].keys [k], &values [s][k],
                         err))
                goto fail;
    //  From here on no secret value can reach a log line.
    for (int s = 0; tables [s].name; s++)
        for (int k = 0; tables [s].keys [k].name; k++)
            if (tables [s].keys [k].flags & FY_CFG_SECRET)
                fy_log_secret_add (values [s][k].value);
    s_values_destroy (self->tables, &self->values);
    self->values = values;
    //  Copied first: a reload's path and sets are the old copies.
    char *path_copy = path ? fy_xstrdup (path) : NULL;
    size_t count = 0;
    while (sets && sets [count])
        count++;
    char **sets_copy = fy_xcalloc (count + 1, sizeof *sets_copy);
    for (size_t i = 0; i < count; i++)
        sets_copy [i] = fy_xstrdup (sets [i]);
    s_sources_free (self);
    self->path = path_copy;
    self->sets = sets_copy;
    return 0;
fail:
    s_values_destroy (tables, &values);
    errno = EINVAL;
    return -1;
}

int
fy_cfg_reload (fy_cfg_t *self, fy_error_t *err)
{
    assert (self);
    return fy_cfg_load (self, self->path, (const char *const *) self->sets,
                        err);
}

static s_value_t *
s_slot (fy_cfg_t *self, const char *section, const char *key,
        const fy_cfg_key_t **entry)
{
    assert (self);
    const fy_cfg_section_t *tables = self->tables;
    int s = s_find_section (tables, section, strlen (section));
    assert (s >= 0);
    int k = s_find_key (tables, s, key);
    assert (k >= 0);
    if (entry)
        *entry = &tables [s].keys [k];
    return &self->values [s][k];
}

const char *
fy_cfg_str (fy_cfg_t *self, const char *section, const char *key)
{
    return s_slot (self, section, key, NULL)->value;
}

int64_t
fy_cfg_int (fy_cfg_t *self, const char *section, const char *key)
{
    const fy_cfg_key_t *entry;
    s_value_t *slot = s_slot (self, section, key, &entry);
    assert (entry->type == FY_CFG_INT);
    int64_t value = 0;
    //  Checked at load; an unset optional integer reads as 0.
    if (slot->value
        && fy_parse_int64 (slot->value, entry->min, entry->max, &value))
        value = 0;
    return value;
}

bool
fy_cfg_bool (fy_cfg_t *self, const char *section, const char *key)
{
    const fy_cfg_key_t *entry;
    s_value_t *slot = s_slot (self, section, key, &entry);
    assert (entry->type == FY_CFG_BOOL);
    bool value = false;
    return slot->value && s_parse_bool (slot->value, &value) && value;
}

const char *
fy_cfg_origin (fy_cfg_t *self, const char *section, const char *key)
{
    return s_slot (self, section, key, NULL)->origin;
}

char *
fy_cfg_dump (fy_cfg_t *self)
{
    assert (self);
    const fy_cfg_section_t *tables = self->tables;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        abort ();
    for (int s = 0; tables [s].name; s++) {
        const fy_cfg_section_t *section = &tables [s];
        fprintf (out, "%s\n", section->name);
        for (int k = 0; section->keys [k].name; k++) {
            const fy_cfg_key_t *key = &section->keys [k];
            const s_value_t *slot = &self->values [s][k];
            const char *value = !slot->value                 ? ""
                                : key->flags & FY_CFG_SECRET ? "***"
                                                             : slot->value;
            fprintf (out, "    %s = \"%s\"    # %s\n", key->name, value,
                     slot->origin);
        }
    }
    fclose (out);
    return text;
}

int
fy_cfg_apply_log (fy_cfg_t *self, const char *component)
{
    assert (self);
    fy_log_level_t level;
    fy_log_format_t format;
    //  The tables constrain both to valid names, so these cannot fail
    //  after a successful load.
    if (fy_log_level_parse (fy_cfg_str (self, "log", "level"), &level)
        || fy_log_format_parse (fy_cfg_str (self, "log", "format"), &format))
        return -1;
    fy_log_init (component, level, format);
    return 0;
}

int
fy_cfg_args_parse (fy_cfg_args_t *args, int argc, char **argv,
                   bool stop_at_command)
{
    assert (args);
    static const struct option options [] = {
        { "config", required_argument, NULL, 'c' },
        { "set", required_argument, NULL, 's' },
        { "check-config", no_argument, NULL, 'k' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    memset (args, 0, sizeof *args);
    args->path = getenv ("FERRY_CONFIG");
    args->sets = fy_xcalloc ((size_t) argc + 1, sizeof *args->sets);
    size_t count = 0;
    optind = 1;
    int opt;
    //  "+" stops at the first non-option: a command's own options are
    //  left for the command.
    while ((opt = getopt_long (argc, argv, stop_at_command ? "+c:h" : "c:h",
                               options, NULL))
           != -1) {
        if (opt == 'c')
            args->path = optarg;
        else if (opt == 's')
            args->sets [count++] = optarg;
        else if (opt == 'k')
            args->check_config = true;
        else if (opt == 'h')
            args->help = true;
        else
            return -1;
    }
    args->next = optind;
    return 0;
}

void
fy_cfg_args_free (fy_cfg_args_t *args)
{
    assert (args);
    free (args->sets);
    args->sets = NULL;
}
