/*  Tests for fy_aws_credentials: the environment, shared files with
    profiles (in a temporary HOME and through the explicit file variables),
    and the ECS and IMDSv2 endpoints played by tests/stubs/aws_metadata.py,
    started here as real processes on free 127.0.0.1 ports. The stubs
    check what they receive as AWS does (IMDSv2 token handshake, ECS
    Authorization), so a client that skipped the token PUT would fail. */
#include "ferry/ferry.h"
#include "aws/fy_aws_client.h"
#include "aws/fy_aws_credentials.h"
#include "aws/fy_aws_credentials_int.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

typedef struct {
    pid_t pid;
    int port;
} stub_t;

static char s_dir [] = "/tmp/fy_aws_credentials.XXXXXX";

//  Start the stub in mode with extra arguments (NULL-terminated) and read
//  the port it prints.
static stub_t
s_stub_start (const char *mode, ...)
{
    const char *argv [16] = { "python3",
                              tap_srcpath ("tests/stubs/aws_metadata.py"),
                              mode };
    char script [4096];
    snprintf (script, sizeof script, "%s", argv [1]);
    argv [1] = script;
    int argc = 3;
    va_list args;
    va_start (args, mode);
    while (argc < 15 && (argv [argc] = va_arg (args, const char *)))
        argc++;
    argv [argc] = NULL;
    va_end (args);
    int fds [2];
    if (pipe (fds))
        BAIL_OUT ("pipe");
    fflush (stdout);
    stub_t stub = { .pid = fork (), .port = 0 };
    if (stub.pid == 0) {
        dup2 (fds [1], 1);
        close (fds [0]);
        close (fds [1]);
        execvp ("python3", (char *const *) argv);
        _exit (127);
    }
    close (fds [1]);
    FILE *out = fdopen (fds [0], "r");
    if (!out || fscanf (out, "%d", &stub.port) != 1)
        BAIL_OUT ("stub %s did not start", mode);
    fclose (out);
    return stub;
}

static void
s_stub_stop (stub_t *stub)
{
    if (stub->pid > 0) {
        kill (stub->pid, SIGTERM);
        waitpid (stub->pid, NULL, 0);
    }
    stub->pid = 0;
}

//  A raw request to a stub; returns the status, the body into body_p.
static long
s_raw (const char *method, const char *url, const char *header, char **body_p)
{
    CURL *curl = curl_easy_init ();
    struct curl_slist *list = header ? curl_slist_append (NULL, header) : NULL;
    char *body = NULL;
    size_t size = 0;
    FILE *sink = open_memstream (&body, &size);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, sink);
    long status = 0;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    fclose (sink);
    if (body_p)
        *body_p = body;
    else
        free (body);
    curl_slist_free_all (list);
    curl_easy_cleanup (curl);
    return status;
}

static void
s_write (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    if (!file)
        BAIL_OUT ("cannot write %s", path);
    fputs (text, file);
    fclose (file);
}

//  How many lines of the stub's log are exactly line.
static int
s_log_count (const char *path, const char *line)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    char buffer [512];
    int count = 0;
    while (fgets (buffer, sizeof buffer, file)) {
        buffer [strcspn (buffer, "\n")] = 0;
        count += strcmp (buffer, line) == 0;
    }
    fclose (file);
    return count;
}

//  Nothing configured: no AWS variables, an empty HOME, IMDS disabled so
//  that no test ever reaches for 169.254.169.254.
static void
s_clear_env (void)
{
    static const char *names [] = { "AWS_ACCESS_KEY_ID",
                                    "AWS_SECRET_ACCESS_KEY",
                                    "AWS_SESSION_TOKEN",
                                    "AWS_PROFILE",
                                    "AWS_SHARED_CREDENTIALS_FILE",
                                    "AWS_CONFIG_FILE",
                                    "AWS_REGION",
                                    "AWS_DEFAULT_REGION",
                                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                    "AWS_EC2_METADATA_SERVICE_ENDPOINT" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        unsetenv (names [i]);
    char home [256];
    snprintf (home, sizeof home, "%s/empty-home", s_dir);
    setenv ("HOME", home, 1);
    setenv ("AWS_EC2_METADATA_DISABLED", "true", 1);
}

//  A new chain's keys at now; NULL on failure with err and errno.
static const fy_aws_keys_t *
s_get (fy_aws_credentials_t **chain_p, int64_t now, fy_error_t *err)
{
    fy_aws_credentials_destroy (chain_p);
    *chain_p = fy_aws_credentials_new ();
    return fy_aws_credentials_get (*chain_p, now, err);
}

static void
s_test_env (int64_t now)
{
    s_clear_env ();
    fy_aws_credentials_t *chain = NULL;
    fy_error_t err = { "" };
    setenv ("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv ("AWS_SECRET_ACCESS_KEY", "env-secret-value", 1);
    setenv ("AWS_SESSION_TOKEN", "env-token-value", 1);
    setenv ("AWS_REGION", "eu-west-1", 1);
    const fy_aws_keys_t *keys = s_get (&chain, now, &err);
    ok (keys && strcmp (keys->access_key, "AKIAENV") == 0
            && strcmp (keys->secret_key, "env-secret-value") == 0
            && strcmp (keys->session_token, "env-token-value") == 0,
        "env: keys and token");
    is_str (fy_aws_credentials_source_name (fy_aws_credentials_source (chain)),
            "env", "env: source");
    is_str (fy_aws_credentials_region (chain), "eu-west-1", "env: region");
    ok (fy_aws_credentials_refresh_at (chain) == INT64_MAX,
        "env: keys never need a refresh");
    char *redacted = fy_log_redact ("key env-secret-value tok "
                                    "env-token-value");
    ok (strstr (redacted, "env-secret-value") == NULL
            && strstr (redacted, "env-token-value") == NULL,
        "env: secret and token are masked in logs (%s)", redacted);
    free (redacted);

    unsetenv ("AWS_SECRET_ACCESS_KEY");
    errno = 0;
    keys = s_get (&chain, now, &err);
    ok (!keys && errno == EINVAL, "env: half the pair is an error (%s)",
        err.text);
    fy_aws_credentials_destroy (&chain);
}

static void
s_test_files (int64_t now)
{
    s_clear_env ();
    char path [512], home [256];
    snprintf (home, sizeof home, "%s/home", s_dir);
    setenv ("HOME", home, 1);
    snprintf (path, sizeof path, "%s/.aws/credentials", home);
    s_write (path, "# shared credentials\n"
                   "[default]\n"
                   "aws_access_key_id = AKIADEFAULT\n"
                   "aws_secret_access_key = default-secret-key\n"
                   "\n"
                   "[work]\n"
                   "aws_access_key_id=AKIAWORK\n"
                   "aws_secret_access_key=work-secret-key\n"
                   "aws_session_token=work-session-token\n"
                   "[half]\n"
                   "aws_access_key_id=AKIAHALF\n");
    snprintf (path, sizeof path, "%s/.aws/config", home);
    s_write (path, "[default]\n"
                   "region = eu-central-1\n"
                   "[profile work]\n"
                   "region = us-west-2\n"
                   "s3 =\n"
                   "  max_concurrent_requests = 20\n"
                   "[work]\n"
                   "region = not-a-profile-section\n"
                   "[profile cfgonly]\n"
                   "aws_access_key_id = AKIACONFIG\n"
                   "aws_secret_access_key = config-secret-key\n"
                   "region = ap-south-1\n");
    fy_aws_credentials_t *chain = NULL;
    fy_error_t err = { "" };
    const fy_aws_keys_t *keys = s_get (&chain, now, &err);
    ok (keys && strcmp (keys->access_key, "AKIADEFAULT") == 0
            && strcmp (keys->secret_key, "default-secret-key") == 0
            && keys->session_token == NULL,
        "files: default profile (%s)", keys ? "" : err.text);
    is_str (fy_aws_credentials_source_name (fy_aws_credentials_source (chain)),
            "files", "files: source");
    is_str (fy_aws_credentials_region (chain), "eu-central-1",
            "files: region of [default] in config");

    setenv ("AWS_PROFILE", "work", 1);
    keys = s_get (&chain, now, &err);
    ok (keys && strcmp (keys->access_key, "AKIAWORK") == 0
            && strcmp (keys->session_token, "work-session-token") == 0,
        "files: AWS_PROFILE=work from [work] in credentials");
    is_str (fy_aws_credentials_region (chain), "us-west-2",
            "files: region from [profile work], not [work], in config");
    setenv ("AWS_REGION", "sa-east-1", 1);
    keys = s_get (&chain, now, &err);
    is_str (fy_aws_credentials_region (chain), "sa-east-1",
            "files: AWS_REGION beats the config file");
    unsetenv ("AWS_REGION");

    setenv ("AWS_PROFILE", "cfgonly", 1);
    keys = s_get (&chain, now, &err);
    ok (keys && strcmp (keys->access_key, "AKIACONFIG") == 0,
        "files: keys from [profile cfgonly] in config");
    is_str (fy_aws_credentials_region (chain), "ap-south-1",
            "files: its region");

    setenv ("AWS_PROFILE", "half", 1);
    errno = 0;
    keys = s_get (&chain, now, &err);
    ok (!keys && errno == EINVAL, "files: half a key pair (%s)", err.text);

    setenv ("AWS_PROFILE", "missing", 1);
    errno = 0;
    keys = s_get (&chain, now, &err);
    ok (!keys && errno == EINVAL && strstr (err.text, "missing"),
        "files: a missing AWS_PROFILE is named (%s)", err.text);

    //  Explicit file variables beat HOME.
    unsetenv ("AWS_PROFILE");
    char other [512];
    snprintf (other, sizeof other, "%s/elsewhere-credentials", s_dir);
    s_write (other, "[default]\naws_access_key_id = AKIAOTHER\n"
                    "aws_secret_access_key = other-secret-key\n");
    setenv ("AWS_SHARED_CREDENTIALS_FILE", other, 1);
    snprintf (other, sizeof other, "%s/elsewhere-config", s_dir);
    s_write (other, "[default]\nregion = ca-central-1\n");
    setenv ("AWS_CONFIG_FILE", other, 1);
    keys = s_get (&chain, now, &err);
    ok (keys && strcmp (keys->access_key, "AKIAOTHER") == 0,
        "files: AWS_SHARED_CREDENTIALS_FILE");
    is_str (fy_aws_credentials_region (chain), "ca-central-1",
            "files: AWS_CONFIG_FILE");
    fy_aws_credentials_destroy (&chain);
}

static void
s_test_ecs (int64_t now)
{
    s_clear_env ();
    char token_file [512], log [512];
    snprintf (log, sizeof log, "%s/ecs.log", s_dir);
    stub_t stub =
        s_stub_start ("ecs", "--path", "/v2/credentials/abc", "--auth",
                      "ecs-auth-token-1", "--log", log, NULL);
    char base [64];
    snprintf (base, sizeof base, "http://127.0.0.1:%d", stub.port);
    char url [128];
    snprintf (url, sizeof url, "%s/v2/credentials/abc", base);
    is_int (s_raw ("GET", url, NULL, NULL), 401,
            "ecs stub: refuses a request without Authorization");

    setenv ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc", 1);
    setenv ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth-token-1", 1);
    fy_aws_credentials_t *chain = fy_aws_credentials_new ();
    fy_aws_credentials_set_ecs_base (chain, base);
    fy_error_t err = { "" };
    const fy_aws_keys_t *keys = fy_aws_credentials_get (chain, now, &err);
    ok (keys && strcmp (keys->access_key, "ASIAECS0001") == 0
            && strncmp (keys->session_token, "token-ECS-1-", 12) == 0,
        "ecs: relative URI with the authorization token (%s)",
        keys ? "" : err.text);
    int64_t expiration = fy_aws_credentials_expiration (chain);
    ok (expiration > now + 3500 && expiration < now + 3700,
        "ecs: Expiration parsed");
    is_str (fy_aws_credentials_source_name (fy_aws_credentials_source (chain)),
            "ecs", "ecs: source");

    setenv ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong-token", 1);
    fy_aws_credentials_destroy (&chain);
    chain = fy_aws_credentials_new ();
    fy_aws_credentials_set_ecs_base (chain, base);
    errno = 0;
    keys = fy_aws_credentials_get (chain, now, &err);
    ok (!keys && errno == EPROTO && strstr (err.text, "401"),
        "ecs: a wrong token is refused by the endpoint (%s)", err.text);

    //  The full URI, and the token from a file (EKS Pod Identity style).
    unsetenv ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    setenv ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    snprintf (token_file, sizeof token_file, "%s/ecs-token", s_dir);
    s_write (token_file, "ecs-auth-token-1\n");
    setenv ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file, 1);
    keys = s_get (&chain, now, &err);
    ok (keys && strcmp (keys->access_key, "ASIAECS0002") == 0,
        "ecs: full URI, token file beats the token variable (%s)",
        keys ? "" : err.text);

    setenv ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds",
            1);
    errno = 0;
    keys = s_get (&chain, now, &err);
    ok (!keys && errno == EINVAL,
        "ecs: plain HTTP to a remote host is refused (%s)", err.text);
    fy_aws_credentials_destroy (&chain);
    s_stub_stop (&stub);
}

static void
s_test_imds_stub (int port)
{
    char url [256], header [256];
    snprintf (url, sizeof url,
              "http://127.0.0.1:%d/latest/meta-data/iam/"
              "security-credentials/",
              port);
    is_int (s_raw ("GET", url, NULL, NULL), 401,
            "imds stub: a GET without a token is 401 (IMDSv2 only)");
    snprintf (url, sizeof url, "http://127.0.0.1:%d/latest/api/token", port);
    is_int (s_raw ("PUT", url, NULL, NULL), 400,
            "imds stub: a PUT without the TTL header is 400");
    is_int (s_raw ("PUT", url, "X-Forwarded-For: 10.0.0.1", NULL), 403,
            "imds stub: a forwarded PUT is 403");
    char *token = NULL;
    is_int (
        s_raw ("PUT", url, "X-aws-ec2-metadata-token-ttl-seconds: 1", &token),
        200, "imds stub: token for 1 s");
    snprintf (header, sizeof header, "X-aws-ec2-metadata-token: %s",
              token ? token : "");
    free (token);
    snprintf (url, sizeof url,
              "http://127.0.0.1:%d/latest/meta-data/iam/"
              "security-credentials/",
              port);
    is_int (s_raw ("GET", url, header, NULL), 200,
            "imds stub: the token opens the role list");
    usleep (1200 * 1000);
    is_int (s_raw ("GET", url, header, NULL), 401,
            "imds stub: the token expires");
}

static void
s_test_imds (int64_t now, const char *endpoint, const char *log)
{
    s_clear_env ();
    unsetenv ("AWS_EC2_METADATA_DISABLED");
    setenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
    unlink (log);               //  count only the client's requests
    fy_aws_credentials_t *chain = fy_aws_credentials_new ();
    fy_error_t err = { "" };
    const fy_aws_keys_t *keys = fy_aws_credentials_get (chain, now, &err);
    ok (keys && strcmp (keys->access_key, "ASIAIMDS0001") == 0
            && strncmp (keys->secret_key, "secret-IMDS-1-", 14) == 0
            && strncmp (keys->session_token, "token-IMDS-1-", 13) == 0,
        "imds: role credentials (%s)", keys ? "" : err.text);
    is_str (fy_aws_credentials_source_name (fy_aws_credentials_source (chain)),
            "imds", "imds: source");
    is_int (s_log_count (log, "PUT /latest/api/token 200"), 1,
            "imds: the client did the token PUT");
    is_int (s_log_count (log, "GET /latest/meta-data/iam/"
                              "security-credentials/ 200"),
            1, "imds: then the role list with the token");
    const char *role_ok =
        "GET /latest/meta-data/iam/security-credentials/ferry-role 200";
    is_int (s_log_count (log, role_ok), 1, "imds: then the role");
    is_int (s_log_count (log, "GET /latest/meta-data/iam/"
                              "security-credentials/ 401"),
            0, "imds: the client sent no GET the endpoint refused");

    int64_t expiration = fy_aws_credentials_expiration (chain);
    int64_t refresh_at = fy_aws_credentials_refresh_at (chain);
    ok (expiration > now + 3500 && expiration < now + 3700,
        "imds: Expiration parsed");
    is_int (refresh_at, expiration - FY_AWS_REFRESH_MARGIN_S,
            "imds: refresh 5 minutes before expiry");
    keys = fy_aws_credentials_get (chain, refresh_at - 1, &err);
    ok (keys && strcmp (keys->access_key, "ASIAIMDS0001") == 0
            && s_log_count (log, role_ok) == 1,
        "imds: before refresh_at the keys are reused, no fetch");
    keys = fy_aws_credentials_get (chain, refresh_at, &err);
    ok (keys && strcmp (keys->access_key, "ASIAIMDS0002") == 0
            && s_log_count (log, role_ok) == 2,
        "imds: at refresh_at new keys are fetched (%s)",
        keys ? keys->access_key : err.text);

    //  A configurable margin.
    fy_aws_credentials_set_refresh_margin (chain, 60);
    is_int (fy_aws_credentials_refresh_at (chain),
            fy_aws_credentials_expiration (chain) - 60, "imds: margin 60 s");
    fy_aws_credentials_destroy (&chain);
}

static void
s_test_imds_down (int64_t now, stub_t *stub, const char *endpoint)
{
    s_clear_env ();
    unsetenv ("AWS_EC2_METADATA_DISABLED");
    setenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
    fy_aws_credentials_t *chain = fy_aws_credentials_new ();
    fy_error_t err = { "" };
    const fy_aws_keys_t *keys = fy_aws_credentials_get (chain, now, &err);
    ok (keys != NULL, "imds: loaded before the endpoint goes away");
    char *access_key = fy_xstrdup (keys ? keys->access_key : "");
    int64_t expiration = fy_aws_credentials_expiration (chain);
    s_stub_stop (stub);
    keys = fy_aws_credentials_get (chain, expiration - 10, &err);
    ok (keys && strcmp (keys->access_key, access_key) == 0,
        "imds down: keys still valid are kept (%s)", err.text);
    keys = fy_aws_credentials_get (chain, expiration + 1, &err);
    ok (!keys && errno == ENOENT && strstr (err.text, "IMDS"),
        "imds down: expired keys are not used (%s)", err.text);
    free (access_key);
    fy_aws_credentials_destroy (&chain);
}

//  Env beats files beats ECS beats IMDS.
static void
s_test_order (int64_t now, const char *imds_endpoint)
{
    s_clear_env ();
    char log [512];
    snprintf (log, sizeof log, "%s/ecs-order.log", s_dir);
    stub_t ecs = s_stub_start ("ecs", "--log", log, NULL);
    char url [128];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/v2/credentials/ferry",
              ecs.port);
    char home [256];
    snprintf (home, sizeof home, "%s/home", s_dir);
    setenv ("HOME", home, 1);
    setenv ("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv ("AWS_SECRET_ACCESS_KEY", "env-secret-value", 1);
    setenv ("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    unsetenv ("AWS_EC2_METADATA_DISABLED");
    setenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds_endpoint, 1);

    fy_aws_credentials_t *chain = NULL;
    fy_error_t err = { "" };
    static const char *want [] = { "env", "files", "ecs", "imds" };
    for (int step = 0; step < 4; step++) {
        const fy_aws_keys_t *keys = s_get (&chain, now, &err);
        ok (keys != NULL, "order: step %d loads (%s)", step,
            keys ? "" : err.text);
        is_str (
            fy_aws_credentials_source_name (fy_aws_credentials_source (chain)),
            want [step], "order: %s comes next", want [step]);
        if (step == 0) {
            unsetenv ("AWS_ACCESS_KEY_ID");
            unsetenv ("AWS_SECRET_ACCESS_KEY");
        }
        else if (step == 1) {
            snprintf (home, sizeof home, "%s/empty-home", s_dir);
            setenv ("HOME", home, 1);
        }
        else if (step == 2)
            unsetenv ("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    }
    setenv ("AWS_EC2_METADATA_DISABLED", "true", 1);
    errno = 0;
    const fy_aws_keys_t *keys = s_get (&chain, now, &err);
    ok (!keys && errno == ENOENT && strstr (err.text, "no AWS credentials"),
        "nothing configured: ENOENT, '%s'", err.text);
    ok (fy_aws_credentials_refresh_at (chain) == 0
            && fy_aws_credentials_source (chain) == FY_AWS_SOURCE_NONE,
        "nothing configured: no source, refresh now");
    fy_aws_credentials_destroy (&chain);
    s_stub_stop (&ecs);
}

static void
s_test_unreachable (int64_t now)
{
    s_clear_env ();
    unsetenv ("AWS_EC2_METADATA_DISABLED");
    //  A port nobody listens on: the stub of a stopped process.
    stub_t gone = s_stub_start ("imds", NULL);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", gone.port);
    s_stub_stop (&gone);
    setenv ("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint, 1);
    fy_aws_credentials_t *chain = fy_aws_credentials_new ();
    fy_aws_credentials_set_timeout (chain, 500);
    fy_error_t err = { "" };
    int64_t start = fy_clock_mono_ms ();
    errno = 0;
    const fy_aws_keys_t *keys = fy_aws_credentials_get (chain, now, &err);
    ok (!keys && errno == ENOENT && strstr (err.text, "IMDS"),
        "IMDS unreachable: ENOENT naming IMDS (%s)", err.text);
    ok (fy_clock_mono_ms () - start < 2000, "IMDS unreachable: fails fast");
    fy_aws_credentials_destroy (&chain);
}

int
main (void)
{
    plan (NO_PLAN);
    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp");
    char path [512];
    snprintf (path, sizeof path, "%s/home", s_dir);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/home/.aws", s_dir);
    mkdir (path, 0700);
    snprintf (path, sizeof path, "%s/empty-home", s_dir);
    mkdir (path, 0700);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    int64_t now = (int64_t) time (NULL);

    s_test_env (now);
    s_test_files (now);
    s_test_ecs (now);

    char log [512], endpoint [64];
    snprintf (log, sizeof log, "%s/imds.log", s_dir);
    stub_t imds = s_stub_start ("imds", "--log", log, NULL);
    snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", imds.port);
    s_test_imds_stub (imds.port);
    s_test_imds (now, endpoint, log);
    s_test_order (now, endpoint);
    s_test_imds_down (now, &imds, endpoint);
    s_test_unreachable (now);

    curl_global_cleanup ();
    char command [600];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
    if (system (command) != 0)
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
