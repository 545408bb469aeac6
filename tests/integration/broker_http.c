/*  ferry-broker's HTTP endpoint, against the real broker process and a
    real worker: open health routes, readiness, metrics accepted by
    promtool, admin status behind the admin token, POST /events answered
    202 once the worker has it, forwarding with streamed replies, the
    broker's own 503 and 504, and every token failure with its JSON error.
    Every served route must be in schemas/openapi.json. */
#include "ferry/ferry.h"
#include "http/fy_jwt.h"
#include "proc.h"

#include <curl/curl.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#define S_SECRET "a-test-secret-that-is-long-enough-for-hs256"
#define S_ADMIN "admin-token-for-tests"

static char s_dir [] = "/tmp/ferry-http-XXXXXX";
static proc_broker_at_t s_at;
static int s_port;

typedef struct {
    long status;
    char *body;
    size_t len;
    char type [128];
    char allow [128];           //  the Allow header, "" when none
} s_reply_t;

static size_t
s_write (char *data, size_t size, size_t count, void *arg)
{
    s_reply_t *reply = arg;
    reply->body = fy_xrealloc (reply->body, reply->len + size * count + 1);
    memcpy (reply->body + reply->len, data, size * count);
    reply->len += size * count;
    reply->body [reply->len] = 0;
    return size * count;
}

static size_t
s_header (char *data, size_t size, size_t count, void *arg)
{
    s_reply_t *reply = arg;
    size_t len = size * count;
    if (len > 6 && strncasecmp (data, "Allow:", 6) == 0) {
        size_t start = 6;
        while (start < len && data [start] == ' ')
            start++;
        size_t end = len;
        while (end > start
               && (data [end - 1] == '\r' || data [end - 1] == '\n'))
            end--;
        snprintf (reply->allow, sizeof reply->allow, "%.*s",
                  (int) (end - start), data + start);
    }
    return len;
}

//  One HTTP exchange. token may be NULL; body NULL means GET; a body goes
//  as type, or with no Content-Type when type is NULL.
static s_reply_t
s_http_as (const char *method, const char *path, const char *token,
           const char *body, const char *type)
{
    s_reply_t reply = { 0, fy_xstrdup (""), 0, "", "" };
    CURL *curl = curl_easy_init ();
    char url [FY_ROUTE_PATH_MAX + 64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", s_port, path);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp (method, "HEAD") == 0)
        curl_easy_setopt (curl, CURLOPT_NOBODY, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, &reply);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 20L);
    struct curl_slist *headers = NULL;
    char auth [4096];
    if (token) {
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", token);
        headers = curl_slist_append (headers, auth);
    }
    char type_header [256];
    if (body) {
        //  "Content-Type:" with no value: curl sends none.
        snprintf (type_header, sizeof type_header, "Content-Type:%s%s",
                  type ? " " : "", type ? type : "");
        headers = curl_slist_append (headers, type_header);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    if (curl_easy_perform (curl) == CURLE_OK) {
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &reply.status);
        char *got_type = NULL;
        curl_easy_getinfo (curl, CURLINFO_CONTENT_TYPE, &got_type);
        snprintf (reply.type, sizeof reply.type, "%s",
                  got_type ? got_type : "");
    }
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return reply;
}

static s_reply_t
s_http (const char *method, const char *path, const char *token,
        const char *body)
{
    return s_http_as (method, path, token, body, "application/json");
}

//  The error code of a JSON error body, or "" when it is not one.
static const char *
s_error_code (s_reply_t *reply)
{
    static char code [64];
    code [0] = 0;
    json_t *json = json_loads (reply->body, 0, NULL);
    const char *value = NULL, *message = NULL;
    if (json
        && json_unpack (json, "{s:{s:s, s:s}}", "error", "code", &value,
                        "message", &message)
               == 0)
        snprintf (code, sizeof code, "%s", value);
    json_decref (json);
    return code;
}

static void
s_expect_error (const char *method, const char *path, const char *token,
                const char *body, long status, const char *code)
{
    s_reply_t reply = s_http (method, path, token, body);
    ok (reply.status == status && strcmp (s_error_code (&reply), code) == 0
            && strstr (reply.type, "application/json"),
        "%s %s -> %ld %s (got %ld %s)", method, path, status, code,
        reply.status, reply.body);
    free (reply.body);
}

static char *
s_token (const char *alg, const char *key, int64_t exp_offset)
{
    int64_t now = fy_clock_wall_ms () / 1000;
    json_t *claims =
        json_pack ("{s:s, s:I, s:I}", "sub", "monolith", "iat",
                   (json_int_t) now, "exp", (json_int_t) (now + exp_offset));
    fy_error_t err = { "" };
    char *token = fy_jwt_sign (alg, key, strlen (key), claims, &err);
    json_decref (claims);
    if (!token)
        BAIL_OUT ("sign: %s", err.text);
    return token;
}

static bool
s_wait_ready (void)
{
    for (int i = 0; i < 100; i++) {
        s_reply_t reply = s_http ("GET", "/ready", NULL, NULL);
        long status = reply.status;
        free (reply.body);
        if (status == 200)
            return true;
        usleep (50 * 1000);
    }
    return false;
}

int
main (void)
{
    plan (NO_PLAN);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    s_at = proc_broker_scratch (s_dir);
    s_port = tap_free_port ();
    char port_set [64], openapi_set [4200];
    snprintf (port_set, sizeof port_set, "http.port=%d", s_port);
    snprintf (openapi_set, sizeof openapi_set, "http.openapi=%s",
              tap_srcpath ("schemas/openapi.json"));
    setenv ("JWT_SERVICE_SECRET", S_SECRET, 1);
    setenv ("FERRY_HTTP_ADMIN_TOKEN", S_ADMIN, 1);
    pid_t broker = proc_start (
        "broker/ferry-broker", "--set", s_at.set, "--set", port_set, "--set",
        openapi_set, "--set", "http.address=127.0.0.1", "--set",
        "broker.heartbeat_ms=100", "--set", "broker.request_timeout_ms=1000",
        "--set", "broker.routes=audit:* analytics:goal.*", "--set",
        "log.level=warn", NULL);
    unsetenv ("JWT_SERVICE_SECRET");
    unsetenv ("FERRY_HTTP_ADMIN_TOKEN");

    //  Open routes, before any worker.
    s_reply_t reply = { 0, NULL, 0, "", "" };
    for (int i = 0; i < 100 && reply.status == 0; i++) {
        free (reply.body);
        usleep (50 * 1000);
        reply = s_http ("GET", "/health", NULL, NULL);
    }
    ok (reply.status == 200 && strstr (reply.body, "\"ok\""),
        "GET /health is open: %ld %s", reply.status, reply.body);
    free (reply.body);
    reply = s_http ("GET", "/ready", NULL, NULL);
    ok (reply.status == 503 && strstr (reply.body, "audit")
            && strstr (reply.body, "analytics"),
        "not ready without workers, naming them: %s", reply.body);
    free (reply.body);

    char log_path [512];
    snprintf (log_path, sizeof log_path, "%s/audit.log", s_dir);
    pid_t audit = proc_start ("tests/integration/test_worker", s_at.endpoint,
                              "audit", "ack", log_path, NULL);
    pid_t analytics =
        proc_start ("tests/integration/test_worker", s_at.endpoint, "analytics",
                    "hold", log_path, NULL);
    ok (s_wait_ready (), "ready once every routed service has a worker");

    //  Metrics: Prometheus text that promtool accepts.
    reply = s_http ("GET", "/metrics", NULL, NULL);
    ok (reply.status == 200
            && strstr (reply.body, "ferry_broker_published_total"),
        "GET /metrics is open");
    char metrics_path [512], command [1200];
    snprintf (metrics_path, sizeof metrics_path, "%s/metrics.txt", s_dir);
    FILE *file = fopen (metrics_path, "w");
    fwrite (reply.body, 1, reply.len, file);
    fclose (file);
    snprintf (command, sizeof command,
              "promtool check metrics < %s "
              "> %s/promtool.out 2>&1",
              metrics_path, s_dir);
    ok (system (command) == 0, "promtool check metrics accepts /metrics");
    free (reply.body);

    //  Admin status behind the admin token.
    s_expect_error ("GET", "/admin/status", NULL, NULL, 401, "missing_token");
    s_expect_error ("GET", "/admin/status", "wrong", NULL, 401, "bad_token");
    reply = s_http ("GET", "/admin/status", S_ADMIN, NULL);
    json_t *status = json_loads (reply.body, 0, NULL);
    json_t *services = json_object_get (status, "services");
    bool has_audit = false;
    size_t index;
    json_t *service;
    json_array_foreach (services, index, service) has_audit |=
        strcmp (json_string_value (json_object_get (service, "name")), "audit")
            == 0
        && json_integer_value (json_object_get (service, "workers")) == 1;
    ok (reply.status == 200 && has_audit, "admin status lists audit with "
                                          "its worker");
    json_decref (status);
    free (reply.body);

    //  POST /events: tokens first.
    char *good = s_token ("HS256", S_SECRET, 300);
    char *expired = s_token ("HS256", S_SECRET, -3600);
    char *wrong_key =
        s_token ("HS256", "another-secret-that-is-also-long-enough", 300);
    const char *none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
                       "eyJzdWIiOiJtb25vbGl0aCIsImV4cCI6OTk5OTk5OTk5OX0.";
    size_t size;
    char *event = NULL;
    file = fopen (tap_srcpath ("tests/data/events/user.login.json"), "r");
    //  Not goal.*: the analytics worker here holds everything it gets.
    event = fy_xmalloc (65536);
    size = fread (event, 1, 65535, file);
    event [size] = 0;
    fclose (file);
    s_expect_error ("POST", "/events", NULL, event, 401, "missing_token");
    s_expect_error ("POST", "/events", expired, event, 401, "token_expired");
    s_expect_error ("POST", "/events", wrong_key, event, 401, "bad_signature");
    s_expect_error ("POST", "/events", none, event, 401, "bad_algorithm");
    s_expect_error ("POST", "/events", "not.a.token", event, 401,
                    "malformed_token");
    //  An RS256 token where HS256 is pinned.
    char pem_path [512];
    snprintf (pem_path, sizeof pem_path, "%s/key.pem", s_dir);
    snprintf (command, sizeof command,
              "openssl genpkey -algorithm RSA "
              "-pkeyopt rsa_keygen_bits:2048 -out %s 2>/dev/null",
              pem_path);
    if (system (command) == 0) {
        file = fopen (pem_path, "r");
        char pem [8192];
        size_t pem_len = fread (pem, 1, sizeof pem - 1, file);
        pem [pem_len] = 0;
        fclose (file);
        char *rs256 = s_token ("RS256", pem, 300);
        s_expect_error ("POST", "/events", rs256, event, 401, "bad_algorithm");
        free (rs256);
    }
    else
        ok (0, "openssl genpkey for an RS256 key");

    reply = s_http ("POST", "/events", good, event);
    json_t *accepted = json_loads (reply.body, 0, NULL);
    const char *id = json_string_value (json_object_get (accepted, "id"));
    ok (reply.status == 202 && id, "POST /events -> 202: %s", reply.body);
    zhashx_t *ids = zhashx_new ();
    proc_log_lines (log_path, ids);
    ok (id && zhashx_lookup (ids, id), "the worker had it before the 202");
    zhashx_destroy (&ids);
    json_decref (accepted);
    free (reply.body);
    //  A JSON route takes application/json only; the rest is 415, counted.
    const char *types [] = { "text/plain", "application/xml",
                             "application/x-www-form-urlencoded", NULL };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        reply = s_http_as ("POST", "/events", good, event, types [i]);
        ok (reply.status == 415
                && strcmp (s_error_code (&reply), "unsupported_media_type")
                       == 0,
            "POST /events as %s -> 415 unsupported_media_type (got %ld %s)",
            types [i] ? types [i] : "no Content-Type", reply.status,
            reply.body);
        free (reply.body);
    }
    reply = s_http_as ("POST", "/events", good, event,
                       "application/json; charset=utf-8");
    ok (reply.status == 202,
        "POST /events as application/json; "
        "charset=utf-8 -> 202 (got %ld %s)",
        reply.status, reply.body);
    free (reply.body);
    reply = s_http ("GET", "/metrics", NULL, NULL);
    ok (strstr (reply.body, "ferry_http_refused_total{reason="
                            "\"unsupported_media_type\"} 4\n")
            != NULL,
        "the 415s are counted in /metrics");
    ok (strstr (reply.body, "ferry_http_refused_total{reason="
                            "\"header_timeout\"} 0\n")
            != NULL,
        "with the server's own refusals");
    free (reply.body);
    s_expect_error ("POST", "/events", good, "{\"id\":1}", 400, "schema");
    s_expect_error ("POST", "/events", good, "not json", 400, "invalid_json");
    s_expect_error ("GET", "/events", good, NULL, 405, "method_not_allowed");
    reply = s_http ("GET", "/events", good, NULL);
    is_str (reply.allow, "POST", "405 GET /events: Allow: POST");
    ok (strstr (reply.body, "this route takes POST") != NULL,
        "and its message names it: %s", reply.body);
    free (reply.body);
    reply = s_http ("DELETE", "/health", NULL, NULL);
    ok (reply.status == 405
            && strcmp (s_error_code (&reply), "method_not_allowed") == 0,
        "DELETE /health -> 405 (got %ld)", reply.status);
    is_str (reply.allow, "GET, HEAD", "Allow: GET, HEAD");
    free (reply.body);
    reply = s_http ("HEAD", "/health", NULL, NULL);
    ok (reply.status == 200 && reply.allow [0] == 0,
        "HEAD /health is served as GET (got %ld)", reply.status);
    free (reply.body);

    //  Forwarding: the worker's answer, streamed parts, 503, 504.
    reply = s_http ("GET", "/audit/search?companyId=c1&limit=5", good, NULL);
    ok (reply.status == 200 && strstr (reply.body, "\"path\":\"/audit/search\"")
            && strstr (reply.body, "\"query\":2"),
        "GET /audit/search reaches the worker: %s", reply.body);
    free (reply.body);
    reply = s_http ("GET", "/audit/stream", good, NULL);
    is_str (reply.body, "part 0\npart 1\npart 2\n",
            "streamed reply arrives "
            "whole, in order");
    free (reply.body);
    s_expect_error ("GET", "/audit/search", NULL, NULL, 401, "missing_token");
    reply = s_http ("GET", "/audit/health", NULL, NULL);
    ok (reply.status == 200, "service health is open and forwarded");
    free (reply.body);
    s_expect_error ("GET", "/notifications/x", good, NULL, 503, "no_worker");
    s_expect_error ("GET", "/analytics/slow", good, NULL, 504, "timeout");
    s_expect_error ("GET", "/nowhere", NULL, NULL, 404, "not_found");
    s_expect_error ("GET", "/health/", NULL, NULL, 404, "not_found");
    s_expect_error ("GET", "/auditx", good, NULL, 404, "not_found");
    char long_path [FY_ROUTE_PATH_MAX + 16];
    snprintf (long_path, sizeof long_path, "/audit/%0*d", FY_ROUTE_PATH_MAX, 0);
    reply = s_http ("GET", long_path, good, NULL);
    ok (reply.status == 414
            && strcmp (s_error_code (&reply), "uri_too_long") == 0,
        "a path longer than %d bytes -> 414 uri_too_long (got %ld %s)",
        FY_ROUTE_PATH_MAX, reply.status, reply.body);
    free (reply.body);

    //  Every route served above is in the OpenAPI document.
    reply = s_http ("GET", "/openapi.json", NULL, NULL);
    json_t *openapi = json_loads (reply.body, 0, NULL);
    json_t *paths = json_object_get (openapi, "paths");
    ok (reply.status == 200 && json_is_object (paths), "GET /openapi.json");
    const char *served [] = { "/health",       "/ready",
                              "/metrics",      "/admin/status",
                              "/openapi.json", "/events",
                              "/auth/health",  "/notifications/health",
                              "/audit/health", "/analytics/health" };
    for (size_t i = 0; i < sizeof served / sizeof served [0]; i++)
        ok (json_object_get (paths, served [i]) != NULL,
            "%s is in openapi.json", served [i]);
    json_decref (openapi);
    free (reply.body);

    free (good);
    free (expired);
    free (wrong_key);
    free (event);
    proc_stop (audit, SIGTERM);
    proc_stop (analytics, SIGKILL);
    int wstatus = proc_stop (broker, SIGTERM);
    ok (WIFEXITED (wstatus) && WEXITSTATUS (wstatus) == 0,
        "broker exits 0 on SIGTERM");
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        diag ("could not remove %s", s_dir);
    curl_global_cleanup ();
    return done_testing ();
}
