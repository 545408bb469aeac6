/*  Tests for fy_cfg: defaults, file, environment, --set, secrets, errors. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>
#include <unistd.h>

static char s_dir [] = "/tmp/fy_cfg_XXXXXX";

static const char *
s_write (const char *name, const char *text)
{
    static char path [256];
    snprintf (path, sizeof path, "%s/%s", s_dir, name);
    FILE *file = fopen (path, "w");
    if (!file)
        BAIL_OUT ("cannot write %s", path);
    fputs (text, file);
    fclose (file);
    return path;
}

static void
s_expect_error (fy_cfg_t *cfg, const char *path, const char *const *sets,
                const char *want, const char *what)
{
    fy_error_t err = { "" };
    errno = 0;
    int rc = fy_cfg_load (cfg, path, sets, &err);
    ok (rc == -1 && errno == EINVAL, "%s: refused", what);
    if (!ok (strstr (err.text, want) != NULL, "%s: error names it", what))
        diag ("  got '%s', want it to contain '%s'", err.text, want);
    ok (strchr (err.text, '\n') == NULL, "%s: one line", what);
}

//  A table of every key type, as a daemon would declare one.
static const fy_cfg_key_t s_test_keys [] = {
    { "capacity", FY_CFG_INT, "100", FY_CFG_RELOAD, "max in flight", NULL, 1,
      1000, NULL },
    { "endpoint", FY_CFG_STR, NULL, FY_CFG_REQUIRED, "where to bind",
      "FY_TEST_LEGACY_ENDPOINT", 0, 0, NULL },
    { "secret", FY_CFG_STR, NULL, FY_CFG_SECRET, "signing key", NULL, 0, 0,
      NULL },
    { "verbose", FY_CFG_BOOL, "no", FY_CFG_RELOAD, "chatty", NULL, 0, 0, NULL },
    { .name = NULL }
};
static const fy_cfg_section_t s_test_tables [] = {
    { "daemon", s_test_keys, "a test daemon" }, { .name = NULL }
};

static void
s_test_types (void)
{
    fy_cfg_t *cfg = fy_cfg_new (s_test_tables);
    fy_error_t err = { "" };
    unsetenv ("FY_TEST_LEGACY_ENDPOINT");
    s_expect_error (cfg, NULL, NULL,
                    "daemon.endpoint: required: set it in the file, in "
                    "FERRY_DAEMON_ENDPOINT or FY_TEST_LEGACY_ENDPOINT",
                    "required key");
    setenv ("FY_TEST_LEGACY_ENDPOINT", "tcp://legacy:1", 1);
    ok (fy_cfg_load (cfg, NULL, NULL, &err) == 0, "legacy env fills it");
    is_str (fy_cfg_str (cfg, "daemon", "endpoint"), "tcp://legacy:1",
            "legacy env value");
    setenv ("FERRY_DAEMON_ENDPOINT", "tcp://new:2", 1);
    ok (fy_cfg_load (cfg, NULL, NULL, &err) == 0, "both envs load");
    is_str (fy_cfg_str (cfg, "daemon", "endpoint"), "tcp://new:2",
            "FERRY_ name beats the legacy name");
    unsetenv ("FERRY_DAEMON_ENDPOINT");
    is_int (fy_cfg_int (cfg, "daemon", "capacity"), 100, "int default");
    ok (!fy_cfg_bool (cfg, "daemon", "verbose"), "bool default");

    const char *path = s_write ("t.cfg", "daemon\n    capacity = 250\n"
                                         "    verbose = on\n");
    ok (fy_cfg_load (cfg, path, NULL, &err) == 0, "typed file loads");
    is_int (fy_cfg_int (cfg, "daemon", "capacity"), 250, "int from file");
    ok (fy_cfg_bool (cfg, "daemon", "verbose"), "bool from file");
    s_expect_error (cfg, s_write ("r.cfg", "daemon\n    capacity = 0\n"), NULL,
                    "daemon.capacity (file): '0' is not an integer in "
                    "1..1000",
                    "int below min");
    s_expect_error (cfg, s_write ("n.cfg", "daemon\n    capacity = 12abc\n"),
                    NULL, "'12abc' is not an integer", "int with junk");
    s_expect_error (cfg, s_write ("b.cfg", "daemon\n    verbose = maybe\n"),
                    NULL, "daemon.verbose (file): 'maybe' is not true or false",
                    "bad bool");

    //  Secrets: never from the file, from the environment or a file path,
    //  never shown in errors or dumps.
    s_expect_error (cfg, s_write ("x.cfg", "daemon\n    secret = hunter22\n"),
                    NULL, "daemon.secret is a secret", "secret in file");
    const char *secret_path = s_write ("secret.txt", "hunter22\n");
    char line [300];
    snprintf (line, sizeof line, "daemon\n    secret_file = %s\n", secret_path);
    ok (fy_cfg_load (cfg, s_write ("sf.cfg", line), NULL, &err) == 0,
        "secret_file loads");
    is_str (fy_cfg_str (cfg, "daemon", "secret"), "hunter22",
            "secret read from file, newline dropped");
    setenv ("FERRY_DAEMON_SECRET", "from-env-secret", 1);
    ok (fy_cfg_load (cfg, NULL, NULL, &err) == 0, "secret from env");
    is_str (fy_cfg_str (cfg, "daemon", "secret"), "from-env-secret",
            "env secret value");
    //  A loaded secret is masked in every log line from then on.
    int fds [2];
    if (pipe (fds))
        BAIL_OUT ("pipe");
    fy_log_set_fd (fds [1]);
    fy_log_error ("connecting with key from-env-secret now");
    fy_log_set_fd (2);
    close (fds [1]);
    char logged [512] = "";
    ssize_t got = read (fds [0], logged, sizeof logged - 1);
    logged [got > 0 ? got : 0] = 0;
    close (fds [0]);
    ok (strstr (logged, "from-env-secret") == NULL
            && strstr (logged, "key *** now") != NULL,
        "loaded secret is masked "
        "in the log: %.*s",
        (int) strcspn (logged, "\n"), logged);

    char *dump = fy_cfg_dump (cfg);
    ok (strstr (dump, "from-env-secret") == NULL
            && strstr (dump, "secret = \"***\"") != NULL,
        "dump masks secrets");
    free (dump);
    unsetenv ("FERRY_DAEMON_SECRET");
    unsetenv ("FY_TEST_LEGACY_ENDPOINT");
    fy_cfg_destroy (&cfg);
}

int
main (void)
{
    plan (NO_PLAN);
    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp");
    unsetenv ("FERRY_LOG_LEVEL");
    unsetenv ("FERRY_LOG_FORMAT");

    fy_cfg_t *cfg = fy_cfg_new (NULL);
    fy_error_t err = { "" };
    ok (fy_cfg_load (cfg, NULL, NULL, &err) == 0, "defaults load");
    is_str (fy_cfg_str (cfg, "log", "level"), "info", "default level");
    is_str (fy_cfg_origin (cfg, "log", "level"), "default", "origin default");

    const char *path = s_write ("good.cfg", "#   a comment\n"
                                            "log\n"
                                            "    level = debug\n"
                                            "    format = \"json\"\n");
    ok (fy_cfg_load (cfg, path, NULL, &err) == 0, "file loads");
    is_str (fy_cfg_str (cfg, "log", "level"), "debug", "file sets level");
    is_str (fy_cfg_str (cfg, "log", "format"), "json", "quoted value");
    is_str (fy_cfg_origin (cfg, "log", "level"), "file", "origin file");

    setenv ("FERRY_LOG_LEVEL", "warn", 1);
    ok (fy_cfg_load (cfg, path, NULL, &err) == 0, "env loads");
    is_str (fy_cfg_str (cfg, "log", "level"), "warn", "env beats file");
    is_str (fy_cfg_origin (cfg, "log", "level"), "env", "origin env");

    const char *sets [] = { "log.level=error", NULL };
    ok (fy_cfg_load (cfg, path, sets, &err) == 0, "--set loads");
    is_str (fy_cfg_str (cfg, "log", "level"), "error", "--set beats env");
    unsetenv ("FERRY_LOG_LEVEL");

    //  A reload reads the same file and --set list again, not copies of
    //  their values: an edit to the file shows, the --set still wins.
    char *edited = fy_xstrdup (s_write (
        "reload.cfg", "log\n    level = debug\n    format = \"json\"\n"));
    const char *reload_sets [] = { "log.format=text", NULL };
    ok (fy_cfg_load (cfg, edited, reload_sets, &err) == 0, "reload.cfg loads");
    s_write ("reload.cfg", "log\n    level = warn\n");
    ok (fy_cfg_reload (cfg, &err) == 0, "reload");
    is_str (fy_cfg_str (cfg, "log", "level"), "warn", "reload reads the edit");
    is_str (fy_cfg_str (cfg, "log", "format"), "text", "reload keeps --set");
    s_write ("reload.cfg", "log\n    level = loud\n");
    ok (fy_cfg_reload (cfg, &err) == -1 && errno == EINVAL,
        "a bad edit: reload refused");
    is_str (fy_cfg_str (cfg, "log", "level"), "warn",
            "a refused reload keeps the old values");
    s_write ("reload.cfg", "log\n    level = error\n");
    ok (fy_cfg_reload (cfg, &err) == 0
            && streq (fy_cfg_str (cfg, "log", "level"), "error"),
        "and the next good edit reloads from the same file");
    free (edited);
    ok (fy_cfg_load (cfg, path, sets, &err) == 0, "good.cfg loads again");

    //  Every failure leaves the loaded values as they were.
    s_expect_error (cfg, s_write ("k.cfg", "log\n    levle = debug\n"), NULL,
                    "unknown key log.levle", "unknown key");
    is_str (fy_cfg_str (cfg, "log", "level"), "error",
            "failed load keeps old values");
    s_expect_error (cfg, s_write ("s.cfg", "logs\n    level = debug\n"), NULL,
                    "unknown section logs", "unknown section");
    s_expect_error (cfg, s_write ("v.cfg", "log\n    level = loud\n"), NULL,
                    "log.level (file): 'loud' is not one of", "bad choice");
    s_expect_error (cfg, s_write ("i.cfg", "log\n  level = x\n"), NULL,
                    "i.cfg: line", "syntax error");
    s_expect_error (cfg, "/nonexistent/ferry.cfg", NULL,
                    "/nonexistent/ferry.cfg", "missing file");
    const char *bad_set [] = { "log.level", NULL };
    s_expect_error (cfg, NULL, bad_set, "expected section.key=value",
                    "malformed --set");
    const char *unknown_set [] = { "nope.level=x", NULL };
    s_expect_error (cfg, NULL, unknown_set, "unknown section nope",
                    "--set unknown section");
    setenv ("FERRY_LOG_FORMAT", "xml", 1);
    s_expect_error (cfg, NULL, NULL, "log.format (env): 'xml'", "bad env");
    unsetenv ("FERRY_LOG_FORMAT");

    ok (fy_cfg_key_find ("log", "level") != NULL, "key_find finds");
    ok (fy_cfg_key_find ("log", "nope") == NULL, "key_find misses");

    char *dump = fy_cfg_dump (cfg);
    ok (strstr (dump, "    level = \"error\"") != NULL, "dump shows values");
    free (dump);

    fy_cfg_destroy (&cfg);
    s_test_types ();
    ok (cfg == NULL, "destroy nulls the reference");
    char command [300];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command) != 0)
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
