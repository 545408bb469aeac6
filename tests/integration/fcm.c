/*  fy_fcm end to end against tests/stubs/fcm_stub.py, which stands in for
    Google's token endpoint and FCM's v1 API and checks each request as
    they do: the assertion's RS256 signature with the service account's
    public key, its claims, the bearer token it issued, the message's
    shape. The RSA key pair and the service account key file are made
    here, in a temporary directory, by openssl. Covered: the token minted
    once and reused, refreshed before and after expiry, shared by
    concurrent sends; a revoked token refreshed and the send retried once;
    UNREGISTERED flagged token_dead and not retried; quota retried after
    Retry-After; UNAVAILABLE retried with backoff; the permanent errors;
    unicode notifications, the data map, topics, conditions,
    validate_only; the token endpoint refusing a foreign key; bad key
    files refused at creation without the key in the error. */
#include "ferry/ferry.h"
#include "http/fy_http_client.h"
#include "http/fy_http_server.h"
#include "notify/fy_fcm.h"

#include <errno.h>
#include <sys/stat.h>

#include "stubs/stub.h"
#include "tap.h"

#define S_EMAIL "ferry-push@ferry-test.iam.gserviceaccount.com"
#define S_PROJECT "ferry-test"

static char s_dir [64];
static int s_port;
static fy_http_client_t *s_http;

static void
s_run (const char *command)
{
    if (system (command) != 0)
        BAIL_OUT ("%s failed", command);
}

//  A service account key file at dir/name with these members (NULL
//  leaves one out), the private key read from pem_file.
static char *
s_key_file (const char *name, const char *type, const char *email,
            const char *pem_file)
{
    char *path = fy_xasprintf ("%s/%s", s_dir, name);
    char *uri = fy_xasprintf ("http://127.0.0.1:%d/token", s_port);
    char *pem = pem_file ? fy_read_file (pem_file, 65536, NULL) : NULL;
    json_t *key = json_pack ("{s:s, s:s, s:s}", "project_id", S_PROJECT,
                             "private_key_id", "0123abcd", "token_uri", uri);
    if (type)
        json_object_set_new (key, "type", json_string (type));
    if (email)
        json_object_set_new (key, "client_email", json_string (email));
    if (pem)
        json_object_set_new (key, "private_key", json_string (pem));
    if (json_dump_file (key, path, JSON_INDENT (2)))
        BAIL_OUT ("write %s", path);
    json_decref (key);
    free (pem);
    free (uri);
    return path;
}

//  The stub's log since the last call (caller owns).
static json_t *
s_log (void)
{
    static size_t returned;
    return stub_log (s_http, s_port, &returned);
}

static void
s_config (const char *json)
{
    char *url = fy_xasprintf ("http://127.0.0.1:%d/_config", s_port);
    fy_http_call_t *call = fy_http_call_new ("POST", url);
    free (url);
    fy_http_call_set_body (call, json, strlen (json));
    json_decref (stub_call_json (s_http, &call));
}

static size_t
s_count (json_t *log, const char *kind)
{
    size_t count = 0;
    for (size_t i = 0; i < json_array_size (log); i++)
        if (strcmp (json_string_value (
                        json_object_get (json_array_get (log, i), "kind")),
                    kind)
            == 0)
            count++;
    return count;
}

static const char *
s_get (json_t *entry, const char *a, const char *b, const char *c)
{
    json_t *json = json_object_get (entry, a);
    if (b)
        json = json_object_get (json, b);
    if (c)
        json = json_object_get (json, c);
    return json_string_value (json);
}

static fy_fcm_t *
s_client (const char *key_file)
{
    fy_fcm_options_t options;
    fy_fcm_options_default (&options);
    options.key_file = key_file;
    options.base.retry_base_ms = 5;
    options.base.retry_cap_ms = 20;
    fy_error_t err = { "" };
    fy_fcm_t *fcm = fy_fcm_new (s_http, &options, &err);
    if (!fcm)
        BAIL_OUT ("fy_fcm_new: %s", err.text);
    return fcm;
}

//  Send message and wait for the result.
static void
s_send (fy_fcm_t *fcm, const fy_fcm_message_t *message, stub_seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    fy_error_t err = { "" };
    if (fy_fcm_send (fcm, message, stub_on_result, seen, NULL, &err))
        BAIL_OUT ("fy_fcm_send: %s", err.text);
    stub_run_until (s_http, &seen->done, 15000);
    if (!seen->done)
        BAIL_OUT ("no result");
}

static void
s_sleep_ms (int64_t ms)
{
    bool never = false;
    stub_run_until (s_http, &never, ms);
}

static void
s_bad_key_files (const char *good_key)
{
    static const struct {
        const char *name, *type, *email, *pem, *says;
    } bad [] = {
        { "user.json", "authorized_user", S_EMAIL, "key.pem",
          "service_account" },
        { "nomail.json", "service_account", NULL, "key.pem", "client_email" },
        { "nokey.json", "service_account", S_EMAIL, NULL, "private_key" },
        { "badpem.json", "service_account", S_EMAIL, "bad.pem",
          "not a usable RSA key" },
        { "pubpem.json", "service_account", S_EMAIL, "pub.pem",
          "not a usable RSA key" },
        { "small.json", "service_account", S_EMAIL, "small.pem", "2048 bits" },
    };
    //  A piece of the key's base64, to look for in the errors.
    char *pem = fy_read_file (good_key, 65536, NULL);
    char snippet [17];
    snprintf (snippet, sizeof snippet, "%s", pem + 64);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *pem_file =
            bad [i].pem ? fy_xasprintf ("%s/%s", s_dir, bad [i].pem) : NULL;
        char *path =
            s_key_file (bad [i].name, bad [i].type, bad [i].email, pem_file);
        fy_fcm_options_t options;
        fy_fcm_options_default (&options);
        options.key_file = path;
        fy_error_t err = { "" };
        errno = 0;
        fy_fcm_t *fcm = fy_fcm_new (s_http, &options, &err);
        ok (!fcm && errno == EINVAL, "key file %s refused", bad [i].name);
        ok (strstr (err.text, bad [i].says) != NULL, "  saying '%s': %s",
            bad [i].says, err.text);
        ok (!strstr (err.text, "BEGIN") && !strstr (err.text, snippet),
            "  without the key in the error");
        free (path);
        free (pem_file);
    }
    free (pem);

    fy_fcm_options_t options;
    fy_fcm_options_default (&options);
    fy_error_t err = { "" };
    unsetenv ("GOOGLE_APPLICATION_CREDENTIALS");
    ok (!fy_fcm_new (s_http, &options, &err) && errno == EINVAL
            && strstr (err.text, "GOOGLE_APPLICATION_CREDENTIALS"),
        "no key file: %s", err.text);
    options.key_file = "/nonexistent/key.json";
    ok (!fy_fcm_new (s_http, &options, &err) && errno == ENOENT,
        "a missing key file: %s", err.text);
    char *notjson = fy_xasprintf ("%s/notjson.json", s_dir);
    FILE *file = fopen (notjson, "w");
    fputs ("{\"type\": \"service_account\",", file);
    fclose (file);
    options.key_file = notjson;
    ok (!fy_fcm_new (s_http, &options, &err) && errno == EINVAL
            && strstr (err.text, "not a JSON object"),
        "not JSON: %s", err.text);
    free (notjson);
}

int
main (void)
{
    plan (NO_PLAN);
    snprintf (s_dir, sizeof s_dir, "/tmp/ferry-fcm-XXXXXX");
    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp");
    char *command = fy_xasprintf (
        "cd %s && openssl genpkey -algorithm RSA -pkeyopt "
        "rsa_keygen_bits:2048 -out key.pem 2>/dev/null && openssl pkey "
        "-in key.pem -pubout -out pub.pem && openssl genpkey -algorithm RSA "
        "-pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null && "
        "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 "
        "-out small.pem 2>/dev/null && printf '%%s\\n' "
        "'-----BEGIN PRIVATE KEY-----' 'bm90IGEga2V5' "
        "'-----END PRIVATE KEY-----' > bad.pem",
        s_dir);
    s_run (command);
    free (command);
    char *pub = fy_xasprintf ("%s/pub.pem", s_dir);
    setenv ("FCM_STUB_PUBLIC_KEY", pub, 1);
    free (pub);
    stub_t stub;
    stub_start (&stub, "fcm_stub.py");
    s_port = stub.port;
    char *endpoint = fy_xasprintf ("http://127.0.0.1:%d/", s_port);
    setenv ("FCM_ENDPOINT_URL", endpoint, 1);
    free (endpoint);
    fy_error_t err = { "" };
    s_http = fy_http_client_new (NULL, &err);
    if (!s_http)
        BAIL_OUT ("http client: %s", err.text);

    char *key_pem = fy_xasprintf ("%s/key.pem", s_dir);
    char *other_pem = fy_xasprintf ("%s/other.pem", s_dir);
    char *key_file =
        s_key_file ("sa.json", "service_account", S_EMAIL, key_pem);
    s_bad_key_files (key_pem);

    //  From GOOGLE_APPLICATION_CREDENTIALS; nothing is sent yet.
    setenv ("GOOGLE_APPLICATION_CREDENTIALS", key_file, 1);
    fy_fcm_t *fcm = s_client (NULL);
    unsetenv ("GOOGLE_APPLICATION_CREDENTIALS");
    is_str (fy_fcm_project_id (fcm), S_PROJECT, "project_id from the file");
    is_str (fy_fcm_client_email (fcm), S_EMAIL, "client_email");
    char *want = fy_xasprintf ("http://127.0.0.1:%d", s_port);
    is_str (fy_fcm_endpoint (fcm), want, "FCM_ENDPOINT_URL, without '/'");
    free (want);
    is_int ((int) fy_fcm_token_requests (fcm), 0, "no token asked for yet");

    //  Five sends, one token; unicode and a data map as FCM decodes them.
    const char *title = "Revue annuelle \xe2\x80\x94 \xf0\x9f\x93\x8b "
                        "\xe6\x97\xa5\xe6\x9c\xac";
    const char *body = "Bonjour Ad\xc3\xa0 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2"
                       "\xd0\xb5\xd1\x82 \xf0\x9f\x91\x8b\n\"quoted\"";
    const char *data [] = { "event", "review.due",  "review_id", "42",
                            "note",  "caf\xc3\xa9", NULL };
    json_t *android =
        json_pack ("{s:s, s:s}", "priority", "high", "collapse_key", "reviews");
    fy_fcm_message_t message = {
        .token = "device-ada",
        .title = title,
        .body = body,
        .image = "https://example.com/a.png",
        .data = data,
        .android = android,
    };
    stub_seen_t seen;
    for (int i = 0; i < 5; i++) {
        s_send (fcm, &message, &seen);
        if (seen.result.error)
            break;
    }
    is_int (seen.result.error, 0, "sent (%s)", seen.message);
    ok (strncmp (seen.message_id, "projects/" S_PROJECT "/messages/0:", 31)
            == 0,
        "the message's name: %s", seen.message_id);
    is_int (seen.result.attempts, 1, "one attempt");
    ok (!seen.result.retryable && !seen.result.token_dead,
        "success flags nothing");
    is_int ((int) fy_fcm_token_requests (fcm), 1, "one token for 5 sends");
    json_t *log = s_log ();
    is_int ((int) s_count (log, "token"), 1, "the stub issued one token");
    is_int ((int) s_count (log, "send"), 5, "and took 5 sends");
    json_t *first = json_array_get (log, 0);
    is_int ((int) json_integer_value (json_object_get (first, "status")), 200,
            "the assertion verified (signature and claims)");
    is_str (s_get (first, "claims", "iss", NULL), S_EMAIL, "iss");
    is_str (s_get (first, "claims", "scope", NULL), FY_FCM_SCOPE, "scope");
    json_t *claims = json_object_get (first, "claims");
    is_int ((int) (json_integer_value (json_object_get (claims, "exp"))
                   - json_integer_value (json_object_get (claims, "iat"))),
            3600, "exp = iat + 3600");
    const char *issued = s_get (first, "issued", NULL, NULL);
    bool same = true;
    for (size_t i = 1; i < json_array_size (log); i++)
        same = same && issued
               && strcmp (s_get (json_array_get (log, i), "bearer", NULL, NULL),
                          issued)
                      == 0;
    ok (same, "every send carried the issued token");
    json_t *sent = json_object_get (json_array_get (log, 5), "body");
    is_str (s_get (sent, "message", "notification", "title"), title,
            "unicode title as FCM decodes it");
    is_str (s_get (sent, "message", "notification", "body"), body,
            "unicode body");
    is_str (s_get (sent, "message", "data", "note"), "caf\xc3\xa9",
            "data map value");
    is_str (s_get (sent, "message", "data", "review_id"), "42",
            "data values are strings");
    is_str (s_get (sent, "message", "android", "priority"), "high",
            "android config passed through");
    ok (!json_object_get (sent, "validate_only"), "no validate_only");
    json_decref (log);
    json_decref (android);
    message.android = NULL;

    //  Topic, condition, validate_only.
    fy_fcm_message_t topic = { .topic = "reviews-eu", .title = "t" };
    s_send (fcm, &topic, &seen);
    is_int (seen.result.error, 0, "topic send (%s)", seen.message);
    fy_fcm_message_t condition = {
        .condition = "'reviews' in topics && 'eu' in topics",
        .data = data,
    };
    s_send (fcm, &condition, &seen);
    is_int (seen.result.error, 0, "condition send, data only (%s)",
            seen.message);
    message.validate_only = true;
    s_send (fcm, &message, &seen);
    is_str (seen.message_id, "projects/" S_PROJECT "/messages/fake_message_id",
            "validate_only: FCM's fake name");
    message.validate_only = false;
    log = s_log ();
    is_str (s_get (json_array_get (log, 0), "body", "message", "topic"),
            "reviews-eu", "the stub got the topic");
    ok (json_is_true (
            json_object_get (json_object_get (json_array_get (log, 2), "body"),
                             "validate_only")),
        "the stub got validate_only");
    json_decref (log);

    //  Messages FCM would refuse are refused before any request.
    const struct {
        fy_fcm_message_t message;
        const char *what;
    } refused [] = {
        { { .title = "no target" }, "no target" },
        { { .token = "a", .topic = "b" }, "two targets" },
        { { .token = "" }, "an empty token" },
        { { .topic = "/topics/x" }, "a topic with '/'" },
        { { .token = "a", .title = "\xc3\x28" }, "a title not UTF-8" },
        { { .token = "a", .data = (const char *[]) { "from", "x", NULL } },
          "a reserved data key" },
        { { .token = "a", .data = (const char *[]) { "google.x", "x", NULL } },
          "a google. data key" },
        { { .token = "a", .data = (const char *[]) { "k", NULL } },
          "a data key without a value" },
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        memset (&seen, 0, sizeof seen);
        errno = 0;
        ok (fy_fcm_send (fcm, &refused [i].message, stub_on_result, &seen, NULL,
                         &err)
                    == -1
                && errno == EINVAL && !seen.done,
            "refused: %s (%s)", refused [i].what, err.text);
    }
    is_int ((int) fy_fcm_pending (fcm), 0, "nothing pending");

    //  UNREGISTERED: the device is gone; not retried.
    message.token = "dead-1";
    s_send (fcm, &message, &seen);
    is_int (seen.result.error, EPROTO, "unregistered: fails");
    is_int (seen.result.status, 404, "HTTP 404");
    is_str (seen.code, "UNREGISTERED", "errorCode UNREGISTERED");
    ok (seen.result.token_dead, "token_dead");
    ok (!seen.result.retryable, "not retryable");
    is_int (seen.result.attempts, 1, "not retried");

    //  Permanent refusals.
    static const struct {
        const char *token, *code;
        int status;
    } permanent [] = {
        { "invalid-1", "INVALID_ARGUMENT", 400 },
        { "mismatch-1", "SENDER_ID_MISMATCH", 403 },
        { "apns-auth-1", "THIRD_PARTY_AUTH_ERROR", 401 },
    };
    for (size_t i = 0; i < sizeof permanent / sizeof *permanent; i++) {
        message.token = permanent [i].token;
        s_send (fcm, &message, &seen);
        is_str (seen.code, permanent [i].code, "%s: %s", permanent [i].token,
                seen.code);
        is_int (seen.result.status, permanent [i].status, "  HTTP %d",
                permanent [i].status);
        ok (!seen.result.retryable && !seen.result.token_dead,
            "  permanent, the token not dead");
        is_int (seen.result.attempts, 1, "  not retried");
        ok (seen.message [0], "  with FCM's message: %s", seen.message);
    }
    is_int ((int) fy_fcm_token_requests (fcm), 1,
            "THIRD_PARTY_AUTH_ERROR fetched no new token");
    json_decref (s_log ());

    //  Quota: retried after Retry-After (1 s; the backoff is 20 ms at most).
    message.token = "quota-2-ada";
    int64_t start = fy_clock_mono_ms ();
    s_send (fcm, &message, &seen);
    int64_t elapsed = fy_clock_mono_ms () - start;
    is_int (seen.result.error, 0, "quota: sent in the end (%s)", seen.message);
    is_int (seen.result.attempts, 3, "on the third attempt");
    ok (elapsed >= 1900, "after Retry-After twice: %lld ms",
        (long long) elapsed);
    log = s_log ();
    is_str (s_get (json_array_get (log, 0), "code", NULL, NULL),
            "QUOTA_EXCEEDED", "the stub answered QUOTA_EXCEEDED");
    json_decref (log);

    //  UNAVAILABLE and INTERNAL: the backoff, until attempts run out.
    message.token = "unavailable-1-ada";
    s_send (fcm, &message, &seen);
    is_int (seen.result.error, 0, "unavailable once: sent");
    is_int (seen.result.attempts, 2, "on the second attempt");
    message.token = "internal-9-ada";
    start = fy_clock_mono_ms ();
    s_send (fcm, &message, &seen);
    is_int (seen.result.error, EPROTO, "internal every time: fails");
    is_str (seen.code, "INTERNAL", "INTERNAL");
    is_int (seen.result.attempts, 5, "after max_attempts");
    ok (seen.result.retryable, "retryable");
    ok (fy_clock_mono_ms () - start < 1000, "with the short backoff");
    json_decref (s_log ());

    //  A revoked token: 401, a new token, the send retried once.
    s_config ("{\"revoke\": true}");
    message.token = "device-ada";
    s_send (fcm, &message, &seen);
    is_int (seen.result.error, 0, "revoked token: sent (%s)", seen.message);
    is_int (seen.result.attempts, 2, "on the second attempt");
    is_int ((int) fy_fcm_token_requests (fcm), 2, "with a new token");
    log = s_log ();
    is_int ((int) json_array_size (log), 3, "send, token, send");
    is_str (s_get (json_array_get (log, 0), "code", NULL, NULL),
            "UNAUTHENTICATED", "the first send: UNAUTHENTICATED");
    is_str (s_get (json_array_get (log, 2), "bearer", NULL, NULL),
            s_get (json_array_get (log, 1), "issued", NULL, NULL),
            "the retry carried the new token");
    json_decref (log);

    //  A 401 every time: retried once only, then retryable.
    message.token = "unauth-ada";
    s_send (fcm, &message, &seen);
    is_int (seen.result.status, 401, "always 401: fails");
    is_str (seen.code, "UNAUTHENTICATED", "UNAUTHENTICATED");
    is_int (seen.result.attempts, 2, "after one retry");
    ok (seen.result.retryable && !seen.result.token_dead,
        "retryable: credentials, not the message");
    json_decref (s_log ());

    //  Cancel before it ran.
    uint64_t id = 0;
    memset (&seen, 0, sizeof seen);
    ok (fy_fcm_send (fcm, &message, stub_on_result, &seen, &id, &err) == 0
            && fy_fcm_cancel (fcm, id) && !seen.done,
        "cancel a pending send");
    is_int ((int) fy_fcm_pending (fcm), 0, "nothing pending");
    fy_fcm_destroy (&fcm);
    ok (fcm == NULL, "destroy sets the reference to NULL");

    //  Many sends at once on a fresh client: one token request for all.
    s_config ("{\"token_delay_ms\": 300}");
    fcm = s_client (key_file);
    enum {
        S_MANY = 12
    };
    stub_seen_t many [S_MANY];
    memset (many, 0, sizeof many);
    message.token = "device-grace";
    for (int i = 0; i < S_MANY; i++)
        if (fy_fcm_send (fcm, &message, stub_on_result, &many [i], NULL, &err))
            BAIL_OUT ("send: %s", err.text);
    is_int ((int) fy_fcm_pending (fcm), S_MANY, "%d pending", S_MANY);
    int64_t until = fy_clock_mono_ms () + 10000;
    int done = 0;
    while (done < S_MANY && fy_clock_mono_ms () < until) {
        if (fy_http_client_wait (s_http, 100))
            BAIL_OUT ("wait");
        done = 0;
        for (int i = 0; i < S_MANY; i++)
            done += many [i].done && many [i].result.error == 0;
    }
    is_int (done, S_MANY, "all %d sent", S_MANY);
    is_int ((int) fy_fcm_token_requests (fcm), 1,
            "concurrent sends shared one token request");
    log = s_log ();
    is_int ((int) s_count (log, "token"), 1, "the stub saw one");
    json_decref (log);
    fy_fcm_destroy (&fcm);
    s_config ("{\"token_delay_ms\": 0}");

    //  Short-lived tokens (6 s, refreshed 3 s early): before expiry the
    //  old token still goes out while a new one is fetched; after expiry
    //  a send waits for a new one. Seconds apart, so that a slow
    //  (sanitizer) build on a busy machine keeps to the script.
    s_config ("{\"expires_in\": 6}");
    fcm = s_client (key_file);
    s_send (fcm, &message, &seen);
    is_int (seen.result.error, 0, "short token: sent");
    s_sleep_ms (3900);
    s_send (fcm, &message, &seen);
    is_int (seen.result.error, 0, "in the refresh window: sent");
    s_sleep_ms (600);
    is_int ((int) fy_fcm_token_requests (fcm), 2,
            "a refresh started before expiry");
    log = s_log ();
    if (!ok (json_array_size (log) == 4, "token, send, token, send")) {
        char *text = json_dumps (log, JSON_COMPACT);
        diag ("  the stub's log: %s", text);
        free (text);
    }
    const char *old_token =
        s_get (json_array_get (log, 0), "issued", NULL, NULL);
    bool old_sent = false;
    for (size_t i = 1; old_token && i < json_array_size (log); i++) {
        const char *bearer =
            s_get (json_array_get (log, i), "bearer", NULL, NULL);
        old_sent = old_sent || (bearer && strcmp (bearer, old_token) == 0);
    }
    ok (old_sent && s_count (log, "send") == 2,
        "the second send still carried the old token");
    json_decref (log);
    s_sleep_ms (6600);
    s_send (fcm, &message, &seen);
    is_int (seen.result.error, 0, "after expiry: sent (%s)", seen.message);
    is_int (seen.result.attempts, 1, "on the first attempt");
    is_int ((int) fy_fcm_token_requests (fcm), 3, "with a fresh token");
    log = s_log ();
    ok (s_count (log, "token") == 1 && s_count (log, "send") == 1
            && strcmp (json_string_value (
                           json_object_get (json_array_get (log, 0), "kind")),
                       "token")
                   == 0,
        "the token came before the send");
    json_decref (log);
    fy_fcm_destroy (&fcm);
    s_config ("{\"expires_in\": 3599}");

    //  The token endpoint refuses what it cannot verify.
    static const struct {
        const char *name, *email, *pem, *what;
    } foreign [] = {
        { "other.json", S_EMAIL, "other", "another key's signature" },
        { "intruder.json", "intruder@evil.iam.gserviceaccount.com", "key",
          "another account" },
    };
    for (size_t i = 0; i < sizeof foreign / sizeof *foreign; i++) {
        char *path = s_key_file (
            foreign [i].name, "service_account", foreign [i].email,
            strcmp (foreign [i].pem, "key") == 0 ? key_pem : other_pem);
        fcm = s_client (path);
        s_send (fcm, &message, &seen);
        is_int (seen.result.error, EACCES, "%s: no access", foreign [i].what);
        is_str (seen.code, "invalid_grant", "  invalid_grant: %s",
                seen.message);
        ok (seen.result.retryable, "  retryable (credentials)");
        is_int (seen.result.attempts, 1, "  not retried");
        log = s_log ();
        ok (json_array_size (log) == 1 && s_count (log, "token") == 1,
            "  no send without a token");
        json_decref (log);
        fy_fcm_destroy (&fcm);
        free (path);
    }

    fy_http_client_destroy (&s_http);
    stub_stop (&stub);
    free (key_file);
    free (key_pem);
    free (other_pem);
    command = fy_xasprintf ("rm -rf %s", s_dir);
    s_run (command);
    free (command);
    done_testing ();
}
