/*  fy_cfg: configuration from one ZPL file (czmq zconfig), overridden by
    the environment and by --set. Each section has one typed key table,
    the single source of truth for defaults, validation and documentation.

    Precedence, lowest first: the table's default, the file, a legacy
    environment name (DATABASE_URL, ...), FERRY_<SECTION>_<KEY>, and
    --set section.key=value. Secrets come only from the environment or
    from a <key>_file path, never from the file itself, and are never
    printed. */
#ifndef FY_CFG_H_INCLUDED
#define FY_CFG_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FY_CFG_STR,         //  any text; choices may restrict it
    FY_CFG_INT,         //  decimal integer in [min, max]
    FY_CFG_BOOL         //  true/false, yes/no, on/off, 1/0
} fy_cfg_type_t;

//  Flags of a key.
#define FY_CFG_RESTART 0   //  takes effect at the next start
#define FY_CFG_RELOAD 1   //  SIGHUP applies it
#define FY_CFG_SECRET 2   //  environment or <key>_file only; masked
#define FY_CFG_REQUIRED 4   //  no default: must be set somewhere

typedef struct {
    const char *name;       //  key within its section, lower_snake_case
    fy_cfg_type_t type;
    const char *fallback;   //  default as text; NULL means unset
    int flags;
    const char *help;       //  one line for doc/config.md
    const char *env;        //  legacy environment name, or NULL
    int64_t min, max;       //  bounds of an INT key
    const char *choices;    //  "a|b|c" for a STR key, or NULL
} fy_cfg_key_t;

typedef struct {
    const char *name;
    const fy_cfg_key_t *keys;   //  ends with { NULL }
    const char *help;
} fy_cfg_section_t;

//  Every section ferry knows, in file order, ending with { NULL }.
FY_EXPORT extern const fy_cfg_section_t fy_cfg_sections [];

typedef struct fy_cfg fy_cfg_t;

//  A configuration over tables (borrowed, static), or over every section
//  in fy_cfg_sections when tables is NULL.
FY_EXPORT fy_cfg_t *
fy_cfg_new (const fy_cfg_section_t *tables);

FY_EXPORT void
fy_cfg_destroy (fy_cfg_t **self_p);

//  Load path (NULL: defaults only), then the environment, then each
//  "section.key=value" of sets (NULL-terminated, may be NULL). Checks every
//  key of every section. Returns 0, or -1 with errno EINVAL and err naming
//  the file, section and key in one line. On failure the configuration is
//  left as it was, so a failed reload keeps the old values.
FY_EXPORT int
fy_cfg_load (fy_cfg_t *self, const char *path, const char *const *sets,
             fy_error_t *err) FY_MUSTCHECK;

//  Load again from the path and sets of the last successful fy_cfg_load
//  (SIGHUP): a file edited since, or the environment, may have changed.
//  Returns and fails as fy_cfg_load.
FY_EXPORT int
fy_cfg_reload (fy_cfg_t *self, fy_error_t *err) FY_MUSTCHECK;

//  Values of a key (section and key must exist in the tables: asserted).
//  Strings are borrowed until the next load; NULL when unset.
FY_EXPORT const char *
fy_cfg_str (fy_cfg_t *self, const char *section, const char *key);
FY_EXPORT int64_t
fy_cfg_int (fy_cfg_t *self, const char *section, const char *key);
FY_EXPORT bool
fy_cfg_bool (fy_cfg_t *self, const char *section, const char *key);

//  Where the key's value came from: "default", "file", "env" or "set".
FY_EXPORT const char *
fy_cfg_origin (fy_cfg_t *self, const char *section, const char *key);

//  The effective configuration as ZPL, secrets masked. Caller owns result.
FY_EXPORT char *
fy_cfg_dump (fy_cfg_t *self);

//  The options every ferry program takes: -c FILE (default FERRY_CONFIG),
//  --set SECTION.KEY=VALUE (repeatable), --check-config, -h/--help.
typedef struct {
    const char *path;
    const char **sets;          //  NULL-terminated; owned
    bool check_config;
    bool help;
    int next;                   //  index of the first argument left
} fy_cfg_args_t;

//  Parse argv into args. With stop_at_command, parsing stops at the first
//  non-option (a command, whose own options follow it). Returns 0, or -1
//  on an unknown option or a missing value (getopt has said which).
FY_EXPORT int
fy_cfg_args_parse (fy_cfg_args_t *args, int argc, char **argv,
                   bool stop_at_command) FY_MUSTCHECK;

FY_EXPORT void
fy_cfg_args_free (fy_cfg_args_t *args);

//  Configure the process logger from the log section, as component.
//  Returns 0, or -1 with errno EINVAL when the section holds bad names.
FY_EXPORT int
fy_cfg_apply_log (fy_cfg_t *self, const char *component) FY_MUSTCHECK;

//  Look up a key's entry in fy_cfg_sections; NULL when unknown.
FY_EXPORT const fy_cfg_key_t *
fy_cfg_key_find (const char *section, const char *key);

#ifdef __cplusplus
}
#endif
#endif
