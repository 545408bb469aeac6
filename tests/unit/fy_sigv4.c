/*  Tests for fy_sigv4: every plain v4 case of AWS's SigV4 test suite in
    its two published layouts, read in place from $FERRY_TESTDATA:

    * aws-c-auth/tests/aws-signing-test-suite/v4/<case>/: context.json
      (keys, time, region, service, normalize, sign_body,
      omit_session_token), request.txt, and for the header and the
      presigned-query variant each the canonical request, string to sign,
      signature and signed request. The v4a directories are SigV4a
      (ECDSA P-256), another algorithm: counted and listed, not run.
    * botocore/tests/unit/auth/aws4_testsuite/.../<case>.{req,creq,sts,
      authz,sreq}: the classic layout; the request already carries
      X-Amz-Date (and, in post-sts-header-before, the token).

    Each case checks the canonical request, the string to sign, the
    signature (or Authorization) and the signed request itself. Then our
    own cases: key cache, Host from the URL, S3 path rules, refusals. */
#include "ferry/ferry.h"
#include "aws/fy_aws_client.h"
#include "aws/fy_sigv4.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <strings.h>
#include <sys/stat.h>

#define V4_DIR "aws-sigv4/aws-c-auth/tests/aws-signing-test-suite/v4"
#define V4A_DIR "aws-sigv4/aws-c-auth/tests/aws-signing-test-suite/v4a"
#define BOTO_DIR "aws-sigv4/botocore/tests/unit/auth/aws4_testsuite"

//  The suite's constants (SOURCE.txt; botocore's test_suite.py).
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_NOW 1440938160    //  2015-08-30T12:36:00Z
//  botocore's tokens: get-vanilla-with-session-token's, and the one of
//  post-sts-token/readme.txt.
#define BOTO_TOKEN_VANILLA \
    "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
#define BOTO_TOKEN_STS                                                     \
    "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWL" \
    "WsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQr" \
    "mGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9H"  \
    "FvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+s"  \
    "cqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

#define MAX_HEADERS 32

//  An HTTP request as the suite writes it.
typedef struct {
    char *text;                 //  owns every string below
    char *method;
    char *target;               //  path and query, as on the request line
    fy_sigv4_header_t headers [MAX_HEADERS];
    size_t header_count;
    char *body;
    size_t body_len;
} http_t;

static char *
s_read (const char *path)
{
    return tap_slurp (path, NULL);
}

static char *
s_read_line (const char *path)
{
    char *text = tap_slurp (path, NULL);
    size_t len = strlen (text);
    while (len && (text [len - 1] == '\n' || text [len - 1] == '\r'))
        text [--len] = 0;
    return text;
}

//  Parse "METHOD target HTTP/1.1", headers with folded continuation lines
//  (kept with their newline: the signer must fold them), a blank line and
//  the body. The target may hold spaces (get-space).
static void
s_http_parse (http_t *http, const char *text)
{
    memset (http, 0, sizeof *http);
    http->text = fy_xstrdup (text);
    char *line = http->text;
    char *eol = strchr (line, '\n');
    if (eol)
        *eol = 0;
    char *space = strchr (line, ' ');
    char *version = strstr (line, " HTTP/");
    if (!space || !version || version < space)
        BAIL_OUT ("bad request line: %s", line);
    *space = 0;
    *version = 0;
    http->method = line;
    http->target = space + 1;
    line = eol ? eol + 1 : line + strlen (line);
    while (*line) {
        eol = strchr (line, '\n');
        if (eol)
            *eol = 0;
        if (*line == 0) {
            http->body = eol ? eol + 1 : line;
            http->body_len = strlen (http->body);
            return;
        }
        if ((*line == ' ' || *line == '\t') && http->header_count) {
            //  A folded line: rejoin it to the previous value.
            line [-1] = '\n';
        }
        else {
            char *colon = strchr (line, ':');
            if (!colon || http->header_count == MAX_HEADERS)
                BAIL_OUT ("bad header line: %s", line);
            *colon = 0;
            http->headers [http->header_count++] =
                (fy_sigv4_header_t) { .name = line, .value = colon + 1 };
        }
        if (!eol)
            break;
        line = eol + 1;
    }
    http->body = line + strlen (line);
}

static void
s_http_free (http_t *http)
{
    free (http->text);
    memset (http, 0, sizeof *http);
}

static const char *
s_http_header (const http_t *http, const char *name)
{
    for (size_t i = 0; i < http->header_count; i++)
        if (strcasecmp (http->headers [i].name, name) == 0)
            return http->headers [i].value;
    return NULL;
}

static const char *
s_trim (const char *value)
{
    while (*value == ' ')
        value++;
    return value;
}

//  Whether the request we would send (sent's line, target and headers
//  plus the added ones) is the expected signed request.
static bool
s_same_request (const http_t *sent, const char *target,
                const fy_sigv4_header_t *added, size_t added_count,
                const http_t *want, const char *label)
{
    bool same = strcmp (sent->method, want->method) == 0
                && strcmp (target, want->target) == 0
                && sent->header_count + added_count == want->header_count
                && sent->body_len == want->body_len
                && memcmp (sent->body, want->body, sent->body_len) == 0;
    for (size_t i = 0; same && i < want->header_count; i++) {
        const fy_sigv4_header_t *ours = i < sent->header_count
                                            ? &sent->headers [i]
                                            : &added [i - sent->header_count];
        same =
            strcasecmp (ours->name, want->headers [i].name) == 0
            && strcmp (s_trim (ours->value), s_trim (want->headers [i].value))
                   == 0;
        if (!same)
            diag ("%s: header %zu: got %s:%s, want %s:%s", label, i, ours->name,
                  ours->value, want->headers [i].name, want->headers [i].value);
    }
    if (strcmp (target, want->target) != 0)
        diag ("%s: target %s, want %s", label, target, want->target);
    return same;
}

static char *
s_url (const http_t *http)
{
    const char *host = s_http_header (http, "Host");
    return fy_xasprintf ("https://%s%s", host ? s_trim (host) : "x",
                         http->target);
}

//  One aws-c-auth v4 case, both variants. Returns a bit per variant that
//  passed: 1 header, 2 query.
static int
s_c_auth_case (fy_sigv4_t *signer, const char *name)
{
    char path [1024];
    snprintf (path, sizeof path, "%s/%s/context.json", V4_DIR, name);
    json_error_t jerr;
    json_t *ctx = json_load_file (tap_testdata (path), 0, &jerr);
    if (!ctx)
        BAIL_OUT ("%s: %s", path, jerr.text);
    json_t *creds = json_object_get (ctx, "credentials");
    fy_aws_keys_t keys = {
        .access_key =
            json_string_value (json_object_get (creds, "access_key_id")),
        .secret_key =
            json_string_value (json_object_get (creds, "secret_access_key")),
        .session_token = json_string_value (json_object_get (creds, "token"))
    };
    const char *stamp = json_string_value (json_object_get (ctx, "timestamp"));
    int64_t now_ms = 0;
    if (!stamp || fy_time_parse (stamp, strlen (stamp), false, &now_ms))
        BAIL_OUT ("%s: bad timestamp", path);
    unsigned flags = 0;
    if (!json_is_true (json_object_get (ctx, "normalize")))
        flags |= FY_SIGV4_NO_NORMALIZE_PATH;
    if (json_is_true (json_object_get (ctx, "sign_body")))
        flags |= FY_SIGV4_CONTENT_SHA256;
    if (json_is_true (json_object_get (ctx, "omit_session_token")))
        flags |= FY_SIGV4_UNSIGNED_TOKEN;
    int64_t expires =
        json_integer_value (json_object_get (ctx, "expiration_in_seconds"));

    snprintf (path, sizeof path, "%s/%s/request.txt", V4_DIR, name);
    char *text = s_read (tap_testdata (path));
    http_t http;
    s_http_parse (&http, text);
    free (text);
    char *url = s_url (&http);
    fy_sigv4_request_t req = {
        .method = http.method,
        .url = url,
        .headers = http.headers,
        .header_count = http.header_count,
        .body = http.body,
        .body_len = http.body_len,
        .region = json_string_value (json_object_get (ctx, "region")),
        .service = json_string_value (json_object_get (ctx, "service")),
        .now = now_ms / 1000,
        .flags = flags
    };
    int passed = 0;
    for (int variant = 0; variant < 2; variant++) {
        const char *kind = variant ? "query" : "header";
        fy_error_t err = { "" };
        int rc = variant ? fy_sigv4_presign (signer, &req, &keys, expires, &err)
                         : fy_sigv4_sign (signer, &req, &keys, &err);
        if (!ok (rc == 0, "c-auth %s %s: signs", name, kind))
            diag ("%s", err.text);
        bool good = rc == 0;
        static const char *files [3] = { "canonical-request", "string-to-sign",
                                         "signature" };
        const char *got [3] = { fy_sigv4_canonical_request (signer),
                                fy_sigv4_string_to_sign (signer),
                                fy_sigv4_signature (signer) };
        for (int f = 0; f < 3; f++) {
            snprintf (path, sizeof path, "%s/%s/%s-%s.txt", V4_DIR, name, kind,
                      files [f]);
            char *want = s_read_line (tap_testdata (path));
            good &= strcmp (got [f], want) == 0;
            is_str (got [f], want, "c-auth %s %s: %s", name, kind, files [f]);
            free (want);
        }
        snprintf (path, sizeof path, "%s/%s/%s-signed-request.txt", V4_DIR,
                  name, kind);
        text = s_read (tap_testdata (path));
        http_t want;
        s_http_parse (&want, text);
        free (text);
        size_t added_count = 0;
        const fy_sigv4_header_t *added = NULL;
        const char *target = http.target;
        if (variant) {
            //  The presigned URL minus "https://host" is the target.
            const char *presigned = fy_sigv4_url (signer);
            target = strchr (presigned + strlen ("https://"), '/');
            if (!target)
                target = "";
        }
        else
            added = fy_sigv4_headers (signer, &added_count);
        char label [256];
        snprintf (label, sizeof label, "c-auth %s %s", name, kind);
        bool same =
            rc == 0
            && s_same_request (&http, target, added, added_count, &want, label);
        ok (same, "%s: signed request", label);
        good &= same;
        s_http_free (&want);
        passed |= good ? 1 << variant : 0;
    }
    s_http_free (&http);
    free (url);
    json_decref (ctx);
    return passed;
}

static int
s_name_compare (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

//  The sorted entries of a directory (no dot files). Caller frees.
static size_t
s_list_dir (const char *path, char ***names_p)
{
    DIR *dir = opendir (path);
    if (!dir)
        BAIL_OUT ("cannot open %s", path);
    char **names = NULL;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        names = fy_xrealloc (names, (count + 1) * sizeof *names);
        names [count++] = fy_xstrdup (entry->d_name);
    }
    closedir (dir);
    qsort (names, count, sizeof *names, s_name_compare);
    *names_p = names;
    return count;
}

static void
s_free_names (char **names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free (names [i]);
    free (names);
}

static bool
s_is_dir (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

static void
s_c_auth_suite (void)
{
    char **names;
    char dir [4096];
    snprintf (dir, sizeof dir, "%s", tap_testdata (V4_DIR));
    size_t count = s_list_dir (dir, &names);
    fy_sigv4_t *signer = fy_sigv4_new ();
    int header_passed = 0, query_passed = 0, cases_passed = 0;
    for (size_t i = 0; i < count; i++) {
        int passed = s_c_auth_case (signer, names [i]);
        cases_passed += passed == 3;
        header_passed += passed & 1;
        query_passed += passed >> 1;
    }
    ok (count == 38, "aws-c-auth: 38 v4 cases found (%zu)", count);
    diag ("aws-c-auth v4: header %d/%zu, query %d/%zu, both %d/%zu",
          header_passed, count, query_passed, count, cases_passed, count);
    is_int (cases_passed, count, "aws-c-auth v4: every case passed");
    //  The derived key is cached: one scope, one derivation.
    is_int (fy_sigv4_key_derivations (signer), 1,
            "one key derivation for %zu cases", count * 2);
    fy_sigv4_destroy (&signer);
    s_free_names (names, count);

    snprintf (dir, sizeof dir, "%s", tap_testdata (V4A_DIR));
    count = s_list_dir (dir, &names);
    diag ("aws-c-auth v4a: %zu cases out of scope (SigV4a, ECDSA P-256), "
          "not run:",
          count);
    for (size_t i = 0; i < count; i++)
        diag ("  v4a/%s", names [i]);
    ok (count == 40, "aws-c-auth: 40 v4a cases counted, out of scope");
    s_free_names (names, count);
}

//  One botocore case in dir/name/name.*. Returns 1 when it all passed.
static int
s_boto_case (fy_sigv4_t *signer, const char *dir, const char *name,
             int *stale_sreq)
{
    char path [4096];
    snprintf (path, sizeof path, "%s/%s/%s.req", dir, name, name);
    char *text = s_read (path);
    http_t http;
    s_http_parse (&http, text);
    free (text);
    char *url = s_url (&http);
    fy_aws_keys_t keys = { .access_key = SUITE_AKID,
                           .secret_key = SUITE_SECRET };
    unsigned flags = 0;
    if (strcmp (name, "get-vanilla-with-session-token") == 0)
        keys.session_token = BOTO_TOKEN_VANILLA;
    if (strcmp (name, "post-sts-header-after") == 0) {
        keys.session_token = BOTO_TOKEN_STS;
        flags |= FY_SIGV4_UNSIGNED_TOKEN;
    }
    fy_sigv4_request_t req = { .method = http.method,
                               .url = url,
                               .headers = http.headers,
                               .header_count = http.header_count,
                               .body = http.body,
                               .body_len = http.body_len,
                               .region = "us-east-1",
                               .service = "service",
                               .now = SUITE_NOW,
                               .flags = flags };
    fy_error_t err = { "" };
    int rc = fy_sigv4_sign (signer, &req, &keys, &err);
    if (!ok (rc == 0, "botocore %s: signs", name))
        diag ("%s", err.text);
    bool good = rc == 0;
    static const char *exts [3] = { "creq", "sts", "authz" };
    const char *got [3] = { fy_sigv4_canonical_request (signer),
                            fy_sigv4_string_to_sign (signer),
                            fy_sigv4_authorization (signer) };
    for (int f = 0; f < 3; f++) {
        snprintf (path, sizeof path, "%s/%s/%s.%s", dir, name, name, exts [f]);
        char *want = f == 0 ? s_read (path) : s_read_line (path);
        good &= strcmp (got [f], want) == 0;
        is_str (got [f], want, "botocore %s: .%s", name, exts [f]);
        free (want);
    }
    snprintf (path, sizeof path, "%s/%s/%s.sreq", dir, name, name);
    text = s_read (path);
    http_t want;
    s_http_parse (&want, text);
    free (text);
    size_t added_count;
    const fy_sigv4_header_t *added = fy_sigv4_headers (signer, &added_count);
    //  botocore's get-vanilla-with-session-token.sreq carries
    //  get-vanilla's signature, not the one of its own .authz: a stale
    //  copy upstream. The signed request is then checked with the .authz
    //  value, and the discrepancy is reported.
    const char *want_auth = s_http_header (&want, "Authorization");
    snprintf (path, sizeof path, "%s/%s/%s.authz", dir, name, name);
    char *authz = s_read_line (path);
    if (want_auth && strcmp (s_trim (want_auth), authz) != 0) {
        diag ("botocore %s: .sreq Authorization disagrees with .authz "
              "(upstream); checking against .authz",
              name);
        (*stale_sreq)++;
        for (size_t i = 0; i < want.header_count; i++)
            if (strcasecmp (want.headers [i].name, "Authorization") == 0)
                want.headers [i].value = authz;
    }
    char label [256];
    snprintf (label, sizeof label, "botocore %s", name);
    bool same = rc == 0
                && s_same_request (&http, http.target, added, added_count,
                                   &want, label);
    ok (same, "%s: .sreq", label);
    good &= same;
    free (authz);
    s_http_free (&want);
    s_http_free (&http);
    free (url);
    return good;
}

//  Walk dir: a directory holding <name>.req is a case, others group cases
//  (normalize-path/, post-sts-token/).
static void
s_boto_walk (fy_sigv4_t *signer, const char *dir, int *found, int *passed,
             int *stale_sreq)
{
    char **names;
    size_t count = s_list_dir (dir, &names);
    for (size_t i = 0; i < count; i++) {
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", dir, names [i]);
        if (!s_is_dir (path))
            continue;
        snprintf (path, sizeof path, "%s/%s/%s.req", dir, names [i], names [i]);
        struct stat st;
        if (stat (path, &st) == 0) {
            (*found)++;
            *passed += s_boto_case (signer, dir, names [i], stale_sreq);
        }
        else {
            snprintf (path, sizeof path, "%s/%s", dir, names [i]);
            s_boto_walk (signer, path, found, passed, stale_sreq);
        }
    }
    s_free_names (names, count);
}

static void
s_boto_suite (void)
{
    char dir [4096];
    snprintf (dir, sizeof dir, "%s", tap_testdata (BOTO_DIR));
    fy_sigv4_t *signer = fy_sigv4_new ();
    int found = 0, passed = 0, stale_sreq = 0;
    s_boto_walk (signer, dir, &found, &passed, &stale_sreq);
    diag ("botocore: %d/%d cases passed", passed, found);
    is_int (found, 34, "botocore: 34 cases found");
    is_int (passed, found, "botocore: every case passed");
    is_int (stale_sreq, 1, "botocore: the one known stale .sreq seen");
    fy_sigv4_destroy (&signer);
}

static const char *
s_canonical_uri (fy_sigv4_t *signer, const char *url, unsigned flags)
{
    fy_sigv4_request_t req = { .method = "GET",
                               .url = url,
                               .region = "us-east-1",
                               .service = "s3",
                               .now = SUITE_NOW,
                               .flags = flags };
    fy_aws_keys_t keys = { .access_key = "AK", .secret_key = "SK" };
    if (fy_sigv4_sign (signer, &req, &keys, NULL))
        return "(failed)";
    static char line [512];
    const char *creq = fy_sigv4_canonical_request (signer);
    const char *start = strchr (creq, '\n') + 1;
    snprintf (line, sizeof line, "%.*s", (int) strcspn (start, "\n"), start);
    return line;
}

static void
s_own_cases (void)
{
    fy_sigv4_t *signer = fy_sigv4_new ();
    fy_aws_keys_t keys = { .access_key = SUITE_AKID,
                           .secret_key = SUITE_SECRET };
    fy_sigv4_header_t headers [] = {
        { .name = "Content-Type",
          .value = "application/x-www-form-urlencoded" },
        { .name = "User-Agent", .value = "ferry/0.1" },
    };
    const char body [] = "Action=ReceiveMessage&MaxNumberOfMessages=10";
    fy_sigv4_request_t req = {
        .method = "POST",
        .url = "https://sqs.eu-west-1.amazonaws.com:443/123456789012/q",
        .headers = headers,
        .header_count = 2,
        .body = body,
        .body_len = strlen (body),
        .region = "eu-west-1",
        .service = "sqs",
        .now = SUITE_NOW
    };
    ok (fy_sigv4_sign (signer, &req, &keys, NULL) == 0, "SQS-like POST");
    const char *creq = fy_sigv4_canonical_request (signer);
    ok (strstr (creq, "\nhost:sqs.eu-west-1.amazonaws.com\n") != NULL,
        "Host taken from the URL, default port left out");
    ok (strstr (creq, "user-agent") == NULL, "User-Agent is not signed");
    ok (strstr (fy_sigv4_authorization (signer),
                "SignedHeaders=content-type;host;x-amz-date,")
            != NULL,
        "signed headers");
    size_t count;
    const fy_sigv4_header_t *added = fy_sigv4_headers (signer, &count);
    ok (count == 2 && strcmp (added [0].name, "X-Amz-Date") == 0
            && strcmp (added [0].value, "20150830T123600Z") == 0
            && strcmp (added [1].name, "Authorization") == 0,
        "adds X-Amz-Date and Authorization");

    //  The key cache: same scope reuses, a new day or region derives.
    uint64_t derived = fy_sigv4_key_derivations (signer);
    ok (fy_sigv4_sign (signer, &req, &keys, NULL) == 0, "sign again");
    is_int (fy_sigv4_key_derivations (signer), derived, "key reused");
    req.now += 86400;
    ok (fy_sigv4_sign (signer, &req, &keys, NULL) == 0, "next day");
    is_int (fy_sigv4_key_derivations (signer), derived + 1, "new day, new key");
    req.region = "us-west-2";
    ok (fy_sigv4_sign (signer, &req, &keys, NULL) == 0, "other region");
    is_int (fy_sigv4_key_derivations (signer), derived + 2,
            "new region, new key");
    fy_aws_keys_t rotated = { .access_key = SUITE_AKID, .secret_key = "x" };
    ok (fy_sigv4_sign (signer, &req, &rotated, NULL) == 0, "rotated secret");
    is_int (fy_sigv4_key_derivations (signer), derived + 3,
            "a new secret is never signed with the old key");

    //  A non-default port is part of Host.
    req.url = "http://127.0.0.1:9324/queue/q";
    ok (fy_sigv4_sign (signer, &req, &keys, NULL) == 0, "emulator URL");
    ok (strstr (fy_sigv4_canonical_request (signer), "\nhost:127.0.0.1:9324\n")
            != NULL,
        "Host keeps the port");

    //  Path rules: everything but S3 normalizes and encodes the
    //  already-encoded path again; S3 signs it as it is.
    is_str (s_canonical_uri (signer, "https://h/a%20b//./c/../d/", 0),
            "/a%2520b/d/", "default: normalized, double-encoded");
    is_str (s_canonical_uri (signer,
                             "https://h/my-object//example//photo"
                             ".user",
                             FY_SIGV4_S3),
            "/my-object//example//photo.user", "S3: path as it is");
    is_str (s_canonical_uri (signer, "https://h/a%20b", FY_SIGV4_S3), "/a%20b",
            "S3: encoded once");
    is_str (s_canonical_uri (signer, "https://h", 0), "/", "empty path");
    is_str (s_canonical_uri (signer, "https://h?b=2&a=%7e&a=1&c", 0), "/",
            "query only");
    ok (strstr (fy_sigv4_canonical_request (signer), "\na=1&a=~&b=2&c=\n")
            != NULL,
        "query decoded, re-encoded, sorted by key then value");

    //  Refusals.
    fy_error_t err = { "" };
    fy_sigv4_request_t bad = req;
    bad.region = NULL;
    errno = 0;
    ok (fy_sigv4_sign (signer, &bad, &keys, &err) == -1 && errno == EINVAL,
        "no region: EINVAL (%s)", err.text);
    bad = req;
    bad.url = "/relative";
    ok (fy_sigv4_sign (signer, &bad, &keys, &err) == -1 && errno == EINVAL,
        "relative URL: EINVAL (%s)", err.text);
    fy_sigv4_header_t stale [] = { { .name = "X-Amz-Date",
                                     .value = "20150830T000000Z" } };
    bad = req;
    bad.headers = stale;
    bad.header_count = 1;
    ok (fy_sigv4_sign (signer, &bad, &keys, &err) == -1 && errno == EINVAL,
        "X-Amz-Date not the signing time: EINVAL (%s)", err.text);
    ok (fy_sigv4_presign (signer, &req, &keys, 0, &err) == -1
            && errno == EINVAL,
        "presign for 0 s: EINVAL");
    ok (fy_sigv4_presign (signer, &req, &keys, FY_SIGV4_MAX_EXPIRES_S + 1, &err)
                == -1
            && errno == EINVAL,
        "presign beyond 7 days: EINVAL");
    fy_aws_keys_t none = { .access_key = "", .secret_key = "" };
    ok (fy_sigv4_sign (signer, &req, &none, &err) == -1 && errno == EINVAL,
        "empty keys: EINVAL");

    fy_sigv4_destroy (&signer);
    ok (signer == NULL, "destroy sets reference to NULL");
    fy_sigv4_destroy (&signer);
}

int
main (void)
{
    plan (NO_PLAN);
    s_own_cases ();
    //  Last: without the conformance data they skip the rest of the test.
    s_c_auth_suite ();
    s_boto_suite ();
    return done_testing ();
}
