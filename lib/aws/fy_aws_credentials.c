/*  fy_aws_credentials: the AWS credentials chain (environment, shared
    files, ECS container endpoint, EC2 IMDSv2) with refresh before expiry.

    Why no IMDSv1 fallback: the SDKs fall back to a token-less GET when the
    PUT fails, which is what SSRF through a proxy exploits; ferry only runs
    where IMDSv2 is available, so a failed PUT is an error. Why NOPROXY on
    every fetch: the metadata and container endpoints are link-local, and
    an HTTP(S)_PROXY in the environment must never see these requests (or
    the credentials coming back). */
#include "aws/fy_aws_credentials.h"
#include "aws/fy_aws_credentials_int.h"
#include "ferry/fy_log.h"
#include "ferry/fy_time.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#define S_ECS_BASE "http://169.254.170.2"
#define S_IMDS_ENDPOINT "http://169.254.169.254"
#define S_IMDS_TOKEN_TTL_S "21600"
#define S_CREDS_PATH "/latest/meta-data/iam/security-credentials/"
//  Larger answers from a metadata endpoint are not credentials.
#define S_MAX_BODY 65536
//  After a failed refresh with keys still valid, wait this long.
#define S_RETRY_S 10

//  One set of keys as loaded.
typedef struct {
    char *access_key;
    char *secret_key;
    char *token;
    int64_t expiration;         //  0: does not expire
    fy_aws_source_t source;
} s_loaded_t;

struct fy_aws_credentials {
    s_loaded_t current;
    fy_aws_keys_t keys;         //  view on current
    bool loaded;
    int64_t retry_at;
    int64_t margin_s;
    int64_t timeout_ms;
    char *ecs_base;
    char *region;
};

static void
s_free_secret (char **secret_p)
{
    if (*secret_p) {
        OPENSSL_cleanse (*secret_p, strlen (*secret_p));
        free (*secret_p);
        *secret_p = NULL;
    }
}

static void
s_loaded_clear (s_loaded_t *loaded)
{
    free (loaded->access_key);
    s_free_secret (&loaded->secret_key);
    s_free_secret (&loaded->token);
    memset (loaded, 0, sizeof *loaded);
}

fy_aws_credentials_t *
fy_aws_credentials_new (void)
{
    fy_aws_credentials_t *self = fy_xcalloc (1, sizeof *self);
    self->margin_s = FY_AWS_REFRESH_MARGIN_S;
    self->timeout_ms = FY_AWS_FETCH_TIMEOUT_MS;
    return self;
}

void
fy_aws_credentials_destroy (fy_aws_credentials_t **self_p)
{
    assert (self_p);
    fy_aws_credentials_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    s_loaded_clear (&self->current);
    free (self->ecs_base);
    free (self->region);
    free (self);
    *self_p = NULL;
    errno = saved;
}

void
fy_aws_credentials_set_refresh_margin (fy_aws_credentials_t *self,
                                       int64_t margin_s)
{
    assert (self);
    self->margin_s = margin_s > 0 ? margin_s : 0;
}

void
fy_aws_credentials_set_timeout (fy_aws_credentials_t *self, int64_t timeout_ms)
{
    assert (self);
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : FY_AWS_FETCH_TIMEOUT_MS;
}

void
fy_aws_credentials_set_ecs_base (fy_aws_credentials_t *self, const char *base)
{
    assert (self);
    free (self->ecs_base);
    self->ecs_base = base ? fy_xstrdup (base) : NULL;
}

static const char *
s_env (const char *name)
{
    const char *value = getenv (name);
    return value && *value ? value : NULL;
}

static char *
s_trim (char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = strlen (text);
    while (len && strchr (" \t\r\n", text [len - 1]))
        text [--len] = 0;
    return text;
}

//  The keys of a shared-file profile.
typedef struct {
    char *access_key;
    char *secret_key;
    char *token;
    char *region;
} s_profile_t;

static void
s_profile_clear (s_profile_t *profile)
{
    free (profile->access_key);
    s_free_secret (&profile->secret_key);
    s_free_secret (&profile->token);
    free (profile->region);
    memset (profile, 0, sizeof *profile);
}

static void
s_keep (char **slot, const char *value)
{
    if (*slot)
        OPENSSL_cleanse (*slot, strlen (*slot));
    free (*slot);
    *slot = fy_xstrdup (value);
}

//  Read [section] of the INI file at path into profile (the keys it
//  knows; later lines win). Returns true when the section exists. Lines
//  that start with whitespace continue a nested value (s3 = ...) and are
//  skipped; '#' and ';' start comments.
static bool
s_ini_read (const char *path, const char *section, s_profile_t *profile)
{
    FILE *file = path ? fopen (path, "r") : NULL;
    if (!file)
        return false;
    bool found = false, inside = false;
    char *line = NULL;
    size_t cap = 0;
    while (getline (&line, &cap, file) > 0) {
        if (line [0] == ' ' || line [0] == '\t')
            continue;
        char *text = s_trim (line);
        if (*text == '#' || *text == ';' || *text == 0)
            continue;
        if (*text == '[') {
            char *close = strchr (text, ']');
            if (close)
                *close = 0;
            inside = strcmp (s_trim (text + 1), section) == 0;
            found |= inside;
            continue;
        }
        char *eq = strchr (text, '=');
        if (!inside || !eq)
            continue;
        *eq = 0;
        char *key = s_trim (text), *value = s_trim (eq + 1);
        if (strcmp (key, "aws_access_key_id") == 0)
            s_keep (&profile->access_key, value);
        else if (strcmp (key, "aws_secret_access_key") == 0)
            s_keep (&profile->secret_key, value);
        else if (strcmp (key, "aws_session_token") == 0)
            s_keep (&profile->token, value);
        else if (strcmp (key, "region") == 0)
            s_keep (&profile->region, value);
    }
    if (line)
        OPENSSL_cleanse (line, cap);
    free (line);
    fclose (file);
    return found;
}

static void
s_loaded_set (s_loaded_t *loaded, fy_aws_source_t source,
              const char *access_key, const char *secret_key, const char *token,
              int64_t expiration)
{
    loaded->source = source;
    loaded->access_key = fy_xstrdup (access_key);
    loaded->secret_key = fy_xstrdup (secret_key);
    loaded->token = token && *token ? fy_xstrdup (token) : NULL;
    loaded->expiration = expiration;
}

//  A response body, capped.
typedef struct {
    char *data;
    size_t len;
} s_body_t;

static size_t
s_on_body (char *data, size_t size, size_t count, void *arg)
{
    s_body_t *body = arg;
    size_t len = size * count;
    if (body->len + len > S_MAX_BODY)
        return 0;
    body->data = fy_xrealloc (body->data, body->len + len + 1);
    memcpy (body->data + body->len, data, len);
    body->len += len;
    body->data [body->len] = 0;
    return len;
}

//  One request: method on url with extra headers (NULL-terminated);
//  *body_p gets the answer (caller owns) when the status is 200. Any
//  other status is an error: EPROTO, or EAGAIN for 5xx.
static int
s_fetch (fy_aws_credentials_t *self, const char *method, const char *url,
         const char **headers, char **body_p, long *status_p, fy_error_t *err)
{
    int rc = -1;
    s_body_t body = { NULL, 0 };
    struct curl_slist *list = NULL;
    CURL *curl = curl_easy_init ();
    if (!curl) {
        fy_error_set (err, "curl_easy_init failed");
        errno = EAGAIN;
        goto out;
    }
    for (size_t i = 0; headers && headers [i]; i++)
        list = curl_slist_append (list, headers [i]);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt (curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &body);
    CURLcode code = curl_easy_perform (curl);
    if (code != CURLE_OK) {
        fy_error_set (err, "%s %s: %s", method, url, curl_easy_strerror (code));
        errno = code == CURLE_OPERATION_TIMEDOUT ? ETIMEDOUT : EAGAIN;
        goto out;
    }
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    *status_p = status;
    if (status != 200) {
        fy_error_set (err, "%s %s: HTTP %ld", method, url, status);
        errno = status >= 500 ? EAGAIN : EPROTO;
        goto out;
    }
    *body_p = body.data ? body.data : fy_xstrdup ("");
    body.data = NULL;
    rc = 0;
out:
    if (body.data)
        OPENSSL_cleanse (body.data, body.len);
    free (body.data);
    curl_slist_free_all (list);
    if (curl)
        curl_easy_cleanup (curl);
    return rc;
}

//  The JSON both ECS and IMDS answer with: AccessKeyId, SecretAccessKey,
//  Token, Expiration (RFC 3339); IMDS adds "Code": "Success".
static int
s_parse_json (const char *text, fy_aws_source_t source, s_loaded_t *out,
              fy_error_t *err)
{
    const char *name = fy_aws_credentials_source_name (source);
    json_error_t jerr;
    json_t *root = json_loads (text, 0, &jerr);
    int rc = -1;
    const char *code = json_string_value (json_object_get (root, "Code"));
    const char *access_key =
        json_string_value (json_object_get (root, "AccessKeyId"));
    const char *secret_key =
        json_string_value (json_object_get (root, "SecretAccessKey"));
    const char *token = json_string_value (json_object_get (root, "Token"));
    const char *expiration =
        json_string_value (json_object_get (root, "Expiration"));
    int64_t expiration_ms = 0;
    if (!root)
        fy_error_set (err, "%s: credentials are not JSON", name);
    else if (code && strcmp (code, "Success") != 0)
        fy_error_set (err, "%s: Code %.40s", name, code);
    else if (!access_key || !*access_key || !secret_key || !*secret_key)
        fy_error_set (err, "%s: AccessKeyId or SecretAccessKey missing", name);
    else if (expiration
             && fy_time_parse (expiration, strlen (expiration), false,
                               &expiration_ms))
        fy_error_set (err, "%s: bad Expiration", name);
    else {
        s_loaded_set (out, source, access_key, secret_key, token,
                      expiration_ms / 1000);
        rc = 0;
    }
    json_decref (root);
    if (rc)
        errno = EPROTO;
    return rc;
}

//  Whether url may be fetched over plain HTTP: only on loopback and the
//  ECS/EKS link-local agents, as the SDKs allow.
static bool
s_is_trusted_http (const char *url)
{
    if (strncasecmp (url, "https://", 8) == 0)
        return true;
    if (strncasecmp (url, "http://", 7) != 0)
        return false;
    const char *host = url + 7;
    size_t len =
        host [0] == '[' ? strcspn (host, "]") + 1 : strcspn (host, ":/?");
    static const char *allowed [] = { "localhost", "[::1]", "169.254.170.2",
                                      "169.254.170.23" };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed [0]; i++)
        if (strlen (allowed [i]) == len
            && strncasecmp (host, allowed [i], len) == 0)
            return true;
    return strncmp (host, "127.", 4) == 0;
}

static int
s_from_ecs (fy_aws_credentials_t *self, s_loaded_t *out, fy_error_t *err)
{
    int rc = -1;
    char *url = NULL, *token = NULL, *body = NULL, *header = NULL;
    const char *relative = s_env ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = s_env ("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (relative)
        url = fy_xasprintf ("%s%s%s",
                            self->ecs_base ? self->ecs_base : S_ECS_BASE,
                            *relative == '/' ? "" : "/", relative);
    else {
        if (!s_is_trusted_http (full)) {
            fy_error_set (err, "ecs: AWS_CONTAINER_CREDENTIALS_FULL_URI must "
                               "be https or a loopback/ECS host");
            errno = EINVAL;
            goto out;
        }
        url = fy_xstrdup (full);
    }
    const char *token_file = s_env ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (token_file) {
        FILE *file = fopen (token_file, "r");
        size_t cap = 0;
        if (!file || getline (&token, &cap, file) < 0) {
            fy_error_set (err, "ecs: cannot read %s", token_file);
            if (file)
                fclose (file);
            errno = EINVAL;
            goto out;
        }
        fclose (file);
        token [strcspn (token, "\r\n")] = 0;
    }
    else if (s_env ("AWS_CONTAINER_AUTHORIZATION_TOKEN"))
        token = fy_xstrdup (s_env ("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    if (token && strpbrk (token, "\r\n")) {
        fy_error_set (err, "ecs: authorization token holds a line break");
        errno = EINVAL;
        goto out;
    }
    const char *headers [2] = { NULL, NULL };
    if (token) {
        fy_log_secret_add (token);
        header = fy_xasprintf ("Authorization: %s", token);
        headers [0] = header;
    }
    long status = 0;
    if (s_fetch (self, "GET", url, headers, &body, &status, err)) {
        fy_error_prefix (err, "ecs");
        goto out;
    }
    rc = s_parse_json (body, FY_AWS_SOURCE_ECS, out, err);
out:
    s_free_secret (&header);
    s_free_secret (&token);
    s_free_secret (&body);
    free (url);
    return rc;
}

static int
s_from_imds (fy_aws_credentials_t *self, s_loaded_t *out, fy_error_t *err)
{
    int rc = -1;
    char *token = NULL, *header = NULL, *roles = NULL, *body = NULL;
    char *url = NULL;
    const char *endpoint = s_env ("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!endpoint)
        endpoint = S_IMDS_ENDPOINT;
    size_t len = strlen (endpoint);
    while (len && endpoint [len - 1] == '/')
        len--;

    url = fy_xasprintf ("%.*s/latest/api/token", (int) len, endpoint);
    const char *put_headers [] = {
        "X-aws-ec2-metadata-token-ttl-seconds: " S_IMDS_TOKEN_TTL_S, NULL
    };
    long status = 0;
    if (s_fetch (self, "PUT", url, put_headers, &token, &status, err)) {
        fy_error_prefix (err, "imds token");
        goto out;
    }
    s_trim (token);
    if (!*token || strpbrk (token, "\r\n")) {
        fy_error_set (err, "imds: malformed session token");
        errno = EPROTO;
        goto out;
    }
    header = fy_xasprintf ("X-aws-ec2-metadata-token: %s", token);
    const char *get_headers [] = { header, NULL };
    free (url);
    url = fy_xasprintf ("%.*s" S_CREDS_PATH, (int) len, endpoint);
    if (s_fetch (self, "GET", url, get_headers, &roles, &status, err)) {
        if (status == 404)
            fy_error_set (err, "imds: no IAM role attached to the instance");
        else
            fy_error_prefix (err, "imds role");
        goto out;
    }
    //  One role per instance profile: the first line names it.
    char *role = s_trim (roles);
    role [strcspn (role, "\r\n")] = 0;
    if (!*role || strpbrk (role, "/?# ")) {
        fy_error_set (err, "imds: malformed role name");
        errno = EPROTO;
        goto out;
    }
    free (url);
    url = fy_xasprintf ("%.*s" S_CREDS_PATH "%s", (int) len, endpoint, role);
    if (s_fetch (self, "GET", url, get_headers, &body, &status, err)) {
        fy_error_prefix (err, "imds credentials");
        goto out;
    }
    rc = s_parse_json (body, FY_AWS_SOURCE_IMDS, out, err);
out:
    s_free_secret (&token);
    s_free_secret (&header);
    s_free_secret (&body);
    free (roles);
    free (url);
    return rc;
}

//  The shared files step. Returns 1 with out set, 0 when the files hold
//  no keys for the profile, -1 on a misconfiguration.
static int
s_from_files (fy_aws_credentials_t *self, s_loaded_t *out, fy_error_t *err)
{
    const char *explicit_profile = s_env ("AWS_PROFILE");
    const char *profile = explicit_profile ? explicit_profile : "default";
    const char *home = s_env ("HOME");
    char *cred_path = s_env ("AWS_SHARED_CREDENTIALS_FILE")
                          ? fy_xstrdup (s_env ("AWS_SHARED_CREDENTIALS_FILE"))
                      : home ? fy_xasprintf ("%s/.aws/credentials", home)
                             : NULL;
    char *config_path = s_env ("AWS_CONFIG_FILE")
                            ? fy_xstrdup (s_env ("AWS_CONFIG_FILE"))
                        : home ? fy_xasprintf ("%s/.aws/config", home)
                               : NULL;
    char *config_section = fy_xasprintf ("profile %s", profile);
    s_profile_t creds = { .access_key = NULL }, config = { .access_key = NULL };
    bool in_creds = s_ini_read (cred_path, profile, &creds);
    bool in_config = s_ini_read (config_path, config_section, &config);
    //  The config file names the default profile [default].
    if (strcmp (profile, "default") == 0)
        in_config |= s_ini_read (config_path, "default", &config);
    int rc = 0;
    if (config.region) {
        free (self->region);
        self->region = fy_xstrdup (config.region);
    }
    s_profile_t *found = creds.access_key || creds.secret_key     ? &creds
                         : config.access_key || config.secret_key ? &config
                                                                  : NULL;
    if (found
        && (!found->access_key || !*found->access_key || !found->secret_key
            || !*found->secret_key)) {
        fy_error_set (err,
                      "profile %.40s: aws_access_key_id and "
                      "aws_secret_access_key go together",
                      profile);
        errno = EINVAL;
        rc = -1;
    }
    else if (found) {
        s_loaded_set (out, FY_AWS_SOURCE_FILES, found->access_key,
                      found->secret_key, found->token, 0);
        rc = 1;
    }
    else if (explicit_profile && !in_creds && !in_config) {
        fy_error_set (err,
                      "AWS_PROFILE %.40s: no such profile in the "
                      "shared credentials or config file",
                      profile);
        errno = EINVAL;
        rc = -1;
    }
    s_profile_clear (&creds);
    s_profile_clear (&config);
    free (config_section);
    free (cred_path);
    free (config_path);
    return rc;
}

//  Walk the chain once into out.
static int
s_resolve (fy_aws_credentials_t *self, s_loaded_t *out, fy_error_t *err)
{
    free (self->region);
    self->region = NULL;
    const char *access_key = s_env ("AWS_ACCESS_KEY_ID");
    const char *secret_key = s_env ("AWS_SECRET_ACCESS_KEY");
    if (access_key && secret_key) {
        s_loaded_set (out, FY_AWS_SOURCE_ENV, access_key, secret_key,
                      s_env ("AWS_SESSION_TOKEN"), 0);
    }
    else if (access_key || secret_key) {
        fy_error_set (err, "env: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                           "go together");
        errno = EINVAL;
        return -1;
    }
    int found = 0;
    if (out->source == FY_AWS_SOURCE_NONE) {
        found = s_from_files (self, out, err);
        if (found < 0)
            return -1;
    }
    else {
        //  Still read the profile for its region.
        s_loaded_t ignored = { .access_key = NULL };
        fy_error_t unused;
        if (s_from_files (self, &ignored, &unused) == 1)
            s_loaded_clear (&ignored);
    }
    if (s_env ("AWS_DEFAULT_REGION")) {
        free (self->region);
        self->region = fy_xstrdup (s_env ("AWS_DEFAULT_REGION"));
    }
    if (s_env ("AWS_REGION")) {
        free (self->region);
        self->region = fy_xstrdup (s_env ("AWS_REGION"));
    }
    if (out->source != FY_AWS_SOURCE_NONE)
        return 0;
    if (s_env ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || s_env ("AWS_CONTAINER_CREDENTIALS_FULL_URI"))
        return s_from_ecs (self, out, err);
    const char *disabled = s_env ("AWS_EC2_METADATA_DISABLED");
    if (disabled && strcasecmp (disabled, "true") == 0) {
        fy_error_set (err,
                      "no AWS credentials: none in the environment, "
                      "profile %.32s, ECS; IMDS disabled",
                      s_env ("AWS_PROFILE") ? s_env ("AWS_PROFILE")
                                            : "default");
        errno = ENOENT;
        return -1;
    }
    if (s_from_imds (self, out, err) == 0)
        return 0;
    fy_error_prefix (err, "no AWS credentials: none in the environment, "
                          "profile, ECS; IMDS");
    errno = ENOENT;
    return -1;
}

const fy_aws_keys_t *
fy_aws_credentials_get (fy_aws_credentials_t *self, int64_t now,
                        fy_error_t *err)
{
    assert (self);
    if (self->loaded
        && (self->current.expiration == 0
            || now < self->current.expiration - self->margin_s
            || now < self->retry_at))
        return &self->keys;
    s_loaded_t fresh = { .access_key = NULL };
    if (s_resolve (self, &fresh, err)) {
        s_loaded_clear (&fresh);
        if (self->loaded && now < self->current.expiration) {
            //  Still valid: sign with them and try again soon.
            self->retry_at = now + S_RETRY_S;
            return &self->keys;
        }
        return NULL;
    }
    fy_log_secret_add (fresh.secret_key);
    fy_log_secret_add (fresh.token);
    s_loaded_clear (&self->current);
    self->current = fresh;
    self->keys = (fy_aws_keys_t) { .access_key = fresh.access_key,
                                   .secret_key = fresh.secret_key,
                                   .session_token = fresh.token };
    self->loaded = true;
    self->retry_at = 0;
    return &self->keys;
}

int64_t
fy_aws_credentials_refresh_at (fy_aws_credentials_t *self)
{
    assert (self);
    if (!self->loaded)
        return 0;
    if (self->current.expiration == 0)
        return INT64_MAX;
    return self->current.expiration - self->margin_s;
}

int64_t
fy_aws_credentials_expiration (fy_aws_credentials_t *self)
{
    assert (self);
    return self->loaded ? self->current.expiration : 0;
}

fy_aws_source_t
fy_aws_credentials_source (fy_aws_credentials_t *self)
{
    assert (self);
    return self->loaded ? self->current.source : FY_AWS_SOURCE_NONE;
}

const char *
fy_aws_credentials_source_name (fy_aws_source_t source)
{
    switch (source) {
        case FY_AWS_SOURCE_ENV:
            return "env";
        case FY_AWS_SOURCE_FILES:
            return "files";
        case FY_AWS_SOURCE_ECS:
            return "ecs";
        case FY_AWS_SOURCE_IMDS:
            return "imds";
        case FY_AWS_SOURCE_NONE:
            break;
    }
    return "none";
}

const char *
fy_aws_credentials_region (fy_aws_credentials_t *self)
{
    assert (self);
    return self->region;
}
