/*  Tests for fy_log: the logger writes to a pipe here, and each check reads
    back exactly what one call wrote: the line format, level filtering,
    JSON that jansson parses whatever the message holds, lines cut to
    FY_LOG_LINE_MAX, and every form of secret masked. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <unistd.h>

static int s_pipe [2];
static char s_got [1 << 17];
static regex_t s_stamp;

//  Everything the logger wrote since the last call. The pipe holds 64 KiB,
//  far more than one line.
static const char *
s_read (void)
{
    size_t used = 0;
    ssize_t rc;
    while ((rc = read (s_pipe [0], s_got + used, sizeof s_got - 1 - used)) > 0)
        used += (size_t) rc;
    s_got [used] = '\0';
    return s_got;
}

//  The line without its timestamp when it is one well-formed TEXT line.
static const char *
s_text_line (void)
{
    const char *line = s_read ();
    if (regexec (&s_stamp, line, 0, NULL, 0) != 0)
        return line;
    return line + 25;
}

static int s_evaluated;

static int
s_count (void)
{
    return ++s_evaluated;
}

//  Parse the one JSON line just written; NULL when it is not exactly one
//  valid object.
static json_t *
s_json_line (void)
{
    const char *line = s_read ();
    size_t length = strlen (line);
    if (length == 0 || line [length - 1] != '\n'
        || strchr (line, '\n') != line + length - 1)
        return NULL;
    json_error_t error;
    json_t *root = json_loads (line, 0, &error);
    if (!root)
        diag ("json: %s: %s", error.text, line);
    return root;
}

static const char *
s_json_msg (json_t *root)
{
    return json_string_value (json_object_get (root, "msg"));
}

static void
s_check_redact (const char *input, const char *want, const char *what)
{
    char *got = fy_log_redact (input);
    is_str (got, want, "redact: %s", what);
    free (got);
}

static void
test_parse (void)
{
    fy_log_level_t level = FY_LOG_ERROR;
    const char *names [] = { "error", "warn", "notice", "info", "debug" };
    for (int index = 0; index < 5; index++) {
        ok (fy_log_level_parse (names [index], &level) == 0
                && (int) level == index,
            "level %s parses", names [index]);
        is_str (fy_log_level_name (level), names [index], "level name");
    }
    ok (fy_log_level_parse ("WARNING", &level) == 0 && level == FY_LOG_WARN,
        "WARNING is warn");
    errno = 0;
    ok (fy_log_level_parse ("loud", &level) == -1 && errno == EINVAL,
        "unknown level is EINVAL");
    ok (fy_log_level_parse (NULL, &level) == -1, "NULL level is refused");
    fy_log_format_t format = FY_LOG_JSON;
    ok (fy_log_format_parse ("text", &format) == 0 && format == FY_LOG_TEXT,
        "text parses");
    ok (fy_log_format_parse ("JSON", &format) == 0 && format == FY_LOG_JSON,
        "JSON parses");
    errno = 0;
    ok (fy_log_format_parse ("xml", &format) == -1 && errno == EINVAL,
        "unknown format is EINVAL");
}

static void
test_text (void)
{
    ok (fy_log_enabled (FY_LOG_INFO) && !fy_log_enabled (FY_LOG_DEBUG),
        "default level is info");
    fy_log_info ("event=%s n=%d", "x", 3);
    is_str (s_text_line (), "info ferry event=x n=3\n",
            "default component, text line");

    fy_log_init ("ferry-broker", FY_LOG_NOTICE, FY_LOG_TEXT);
    fy_log_error ("worker=%d died", 7);
    is_str (s_text_line (), "error ferry-broker worker=7 died\n", "error line");
    fy_log_warn ("w");
    is_str (s_text_line (), "warn ferry-broker w\n", "warn line");
    fy_log_notice ("n");
    is_str (s_text_line (), "notice ferry-broker n\n", "notice line");
    fy_log_info ("filtered %d", s_count ());
    fy_log_debug ("filtered %d", s_count ());
    is_str (s_read (), "", "info and debug filtered at notice");
    is_int (s_evaluated, 0, "filtered arguments are not evaluated");

    fy_log_init (NULL, FY_LOG_DEBUG, FY_LOG_TEXT);
    fy_log_debug ("d");
    is_str (s_text_line (), "debug ferry-broker d\n",
            "debug written at debug; NULL keeps the component");

    errno = ENOENT;
    fy_log_info ("keeps errno");
    is_int (errno, ENOENT, "write preserves errno");
    s_read ();

    fy_log_info ("a\nb\r\nc\x01 d\x7f tab\t\\ \xff é");
    is_str (s_text_line (),
            "info ferry-broker a\\nb\\r\\nc\\x01 d\\x7F tab\t\\ \\xFF é\n",
            "controls and stray bytes escaped: one event, one line");
}

static void
test_json (void)
{
    fy_log_init ("ferry-audit", FY_LOG_INFO, FY_LOG_JSON);
    const char *nasty = "quote\" back\\ nl\n cr\r tab\t bell\x07"
                        " del\x7f é €";
    fy_log_warn ("%s", nasty);
    json_t *root = s_json_line ();
    ok (root != NULL, "JSON line parses");
    is_str (json_string_value (json_object_get (root, "level")), "warn",
            "JSON level");
    is_str (json_string_value (json_object_get (root, "component")),
            "ferry-audit", "JSON component");
    is_str (s_json_msg (root), nasty, "JSON message round-trips");
    const char *ts = json_string_value (json_object_get (root, "ts"));
    char stamped [64];
    snprintf (stamped, sizeof stamped, "%s ", ts ? ts : "");
    ok (regexec (&s_stamp, stamped, 0, NULL, 0) == 0, "JSON ts is ISO 8601");
    is_int (json_object_size (root), 4, "JSON has ts, level, component, msg");
    json_decref (root);

    //  Stray continuation, bytes never valid, overlong '/', a surrogate,
    //  beyond U+10FFFF, a sequence cut short at the end.
    fy_log_error ("a\x80 b\xff\xfe c\xc0\xaf d\xed\xa0\x80 e\xf4\x90\x80\x80"
                  " f\xe2\x82");
    root = s_json_line ();
    ok (root != NULL, "invalid UTF-8 still gives valid JSON");
    is_str (s_json_msg (root),
            "a\xef\xbf\xbd b\xef\xbf\xbd\xef\xbf\xbd c\xef\xbf\xbd\xef\xbf\xbd"
            " d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
            " e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
            " f\xef\xbf\xbd\xef\xbf\xbd",
            "each stray byte becomes U+FFFD");
    json_decref (root);
}

static void
s_check_cut (const char *what, bool json)
{
    const char *line = s_read ();
    size_t length = strlen (line);
    ok (length > FY_LOG_LINE_MAX - 16 && length <= FY_LOG_LINE_MAX,
        "%s: line cut to the cap (%zu bytes)", what, length);
    ok (strchr (line, '\n') == line + length - 1, "%s: one line", what);
    const char *end = json ? "\xe2\x80\xa6\"}\n" : "\xe2\x80\xa6\n";
    ok (length > strlen (end)
            && strcmp (line + length - strlen (end), end) == 0,
        "%s: ends with the ellipsis", what);
    if (json) {
        json_t *root = json_loads (line, 0, NULL);
        ok (root != NULL, "%s: still valid JSON", what);
        json_decref (root);
    }
}

static void
test_truncation (void)
{
    size_t size = 100 * 1024;
    char *big = malloc (size + 1);
    memset (big, 'a', size);
    big [size] = '\0';

    fy_log_init ("ferry-bridge", FY_LOG_INFO, FY_LOG_TEXT);
    fy_log_info ("%s", big);
    s_check_cut ("100 KiB text", false);
    fy_log_init (NULL, FY_LOG_INFO, FY_LOG_JSON);
    fy_log_info ("%s", big);
    s_check_cut ("100 KiB json", true);

    //  Multi-byte characters and escapes must not be split by the cut.
    for (size_t index = 0; index + 2 <= size; index += 2)
        memcpy (big + index, "\xc3\xa9", 2);
    fy_log_info ("x%s", big);
    s_check_cut ("cut between UTF-8 sequences", true);
    memset (big, '"', size);
    fy_log_info ("%s", big);
    s_check_cut ("cut between escapes", true);
    memset (big, '\n', size);
    fy_log_init (NULL, FY_LOG_INFO, FY_LOG_TEXT);
    fy_log_info ("%s", big);
    s_check_cut ("cut between text escapes", false);

    //  A message that just fits is not cut; one byte more is.
    size_t prefix = strlen ("2026-11-26T10:00:00.123Z info ferry-bridge ");
    size_t room = FY_LOG_LINE_MAX - prefix - 1;
    memset (big, 'b', room);
    big [room] = '\0';
    fy_log_info ("%s", big);
    const char *line = s_read ();
    ok (strlen (line) == FY_LOG_LINE_MAX && !strstr (line, "\xe2\x80\xa6"),
        "a line of exactly the cap is whole");
    fy_log_info ("%sc", big);
    s_check_cut ("one byte over", false);

    //  A secret across where the cut would fall is masked before the cut,
    //  so no piece of it shows.
    fy_log_secret_add ("Sup3rSecretValue");
    memset (big, 'c', room - 8);
    big [room - 8] = '\0';
    fy_log_info ("%sSup3rSecretValue%0100d", big, 0);
    line = s_read ();
    ok (!strstr (line, "Sup3r") && strstr (line, "cc***00")
            && strstr (line, "0\xe2\x80\xa6\n"),
        "a secret across the cut is masked, no prefix of it leaks");
    free (big);
}

static void
test_redact (void)
{
    s_check_redact ("postgres://ferry:pa55w0rd@db.example:5432/ferry?ssl=1",
                    "postgres://ferry:***@db.example:5432/ferry?ssl=1",
                    "URL password");
    s_check_redact ("url=redis://:redispw@127.0.0.1:6379/0 next",
                    "url=redis://:***@127.0.0.1:6379/0 next",
                    "URL password without user");
    s_check_redact ("https://u:p@ss@host/x", "https://u:***@host/x",
                    "unencoded @ in the password");
    s_check_redact ("a postgres://ferry@db/x and http://host:8080/y",
                    "a postgres://ferry@db/x and http://host:8080/y",
                    "URL without password unchanged");
    s_check_redact ("two amqp://a:b1@h1 amqp://c:d2@h2",
                    "two amqp://a:***@h1 amqp://c:***@h2", "two URLs");
    s_check_redact ("Authorization: Bearer eyJhbGciOiJI.eyJzdWIi.s-_g=",
                    "Authorization: Bearer ***", "Bearer token");
    s_check_redact ("header=\"bearer  abc.def\" ok",
                    "header=\"bearer  ***\" ok", "bearer any case");
    s_check_redact ("Bearer", "Bearer", "Bearer alone unchanged");
    s_check_redact ("unbearer abc", "unbearer abc", "bearer inside a word");
    s_check_redact ("host=db port=5432 user=ferry password=s3cr3t dbname=f",
                    "host=db port=5432 user=ferry password=*** dbname=f",
                    "DSN password");
    s_check_redact ("password='a b\\'c' sslmode=require",
                    "password='***' sslmode=require", "quoted DSN password");
    s_check_redact ("password = spaced rest", "password = *** rest",
                    "spaces around =");
    s_check_redact ("secret=abc token=def PASSWD=ghi",
                    "secret=*** token=*** PASSWD=***", "secret, token, PASSWD");
    s_check_redact ("JWT_SERVICE_SECRET=abcd AWS_SECRET_ACCESS_KEY=wJalr",
                    "JWT_SERVICE_SECRET=*** AWS_SECRET_ACCESS_KEY=***",
                    "environment-style keys");
    s_check_redact ("key=poll_wait_s tokens=5 user=ferry a=b =c",
                    "key=poll_wait_s tokens=5 user=ferry a=b =c",
                    "other pairs unchanged");
    s_check_redact ("password=", "password=", "empty value at the end");

    fy_log_secret_add ("hunter22");
    fy_log_secret_add ("hunter22plus");
    fy_log_secret_add ("abc");
    fy_log_secret_add ("");
    fy_log_secret_add (NULL);
    s_check_redact ("x hunter22 y hunter22plus z abc", "x *** y *** z abc",
                    "registered secrets, longest first; short ones ignored");

    //  Through the writer, in both formats.
    const char *leaky = "dsn=postgres://u:pw0rd99@h/db Bearer tok3n99xyz"
                        " password=pw0rd99 hunter22";
    fy_log_init (NULL, FY_LOG_INFO, FY_LOG_TEXT);
    fy_log_error ("%s", leaky);
    const char *line = s_text_line ();
    ok (!strstr (line, "pw0rd") && !strstr (line, "tok3n")
            && !strstr (line, "hunter"),
        "text line carries no secret");
    fy_log_init (NULL, FY_LOG_INFO, FY_LOG_JSON);
    fy_log_error ("%s", leaky);
    json_t *root = s_json_line ();
    is_str (s_json_msg (root),
            "dsn=postgres://u:***@h/db Bearer *** password=*** ***",
            "JSON line carries no secret");
    json_decref (root);
}

int
main (void)
{
    plan (NO_PLAN);
    if (pipe (s_pipe) != 0 || fcntl (s_pipe [0], F_SETFL, O_NONBLOCK) != 0)
        BAIL_OUT ("pipe: %s", strerror (errno));
    if (regcomp (&s_stamp,
                 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                 "[0-9]{2}\\.[0-9]{3}Z ",
                 REG_EXTENDED | REG_NOSUB)
        != 0)
        BAIL_OUT ("regcomp");
    fy_log_set_fd (s_pipe [1]);

    test_parse ();
    test_text ();
    test_json ();
    test_truncation ();
    test_redact ();

    regfree (&s_stamp);
    close (s_pipe [0]);
    close (s_pipe [1]);
    return done_testing ();
}
