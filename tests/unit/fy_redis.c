/*  fy_redis offline: the URL parser on good and bad REDIS_URLs, the reply
    view over RESP bytes, and what a client with no server does with its
    commands (queue bound, timeouts, cancel, refused commands). The
    client against real servers is tests/integration/redis.c. */
#include "store/fy_redis.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"

static void
s_url_good (const char *text, const char *host, int port, const char *path,
            const char *user, const char *password, int db)
{
    fy_redis_url_t url;
    fy_error_t err = { "" };
    if (fy_redis_url_parse (text, &url, &err)) {
        ok (false, "parse %s: %s", text, err.text);
        return;
    }
    bool same =
        (host ? url.host && strcmp (url.host, host) == 0 : !url.host)
        && url.port == port
        && (path ? url.path && strcmp (url.path, path) == 0 : !url.path)
        && (user ? url.user && strcmp (url.user, user) == 0 : !url.user)
        && (password ? url.password && strcmp (url.password, password) == 0
                     : !url.password)
        && url.db == db;
    ok (same, "parse %s", text);
    if (!same)
        diag ("host=%s port=%d path=%s user=%s db=%d",
              url.host ? url.host : "(null)", url.port,
              url.path ? url.path : "(null)", url.user ? url.user : "(null)",
              url.db);
    fy_redis_url_clear (&url);
}

static void
s_url_bad (const char *text, const char *want)
{
    fy_redis_url_t url;
    fy_error_t err = { "" };
    errno = 0;
    int rc = fy_redis_url_parse (text, &url, &err);
    ok (rc == -1 && errno == EINVAL && strstr (err.text, want) && !url.host
            && !url.password,
        "refuse %s: %s", text ? text : "NULL", err.text);
    //  No message ever quotes what came before the '@'.
    if (text && strchr (text, '@'))
        ok (!strstr (err.text, "s3cret"), "  and does not quote it");
}

static void
s_urls (void)
{
    s_url_good ("redis://localhost", "localhost", 6379, NULL, NULL, NULL, 0);
    s_url_good ("redis://127.0.0.1:56379/0", "127.0.0.1", 56379, NULL, NULL,
                NULL, 0);
    s_url_good ("redis://127.0.0.1:6380/", "127.0.0.1", 6380, NULL, NULL, NULL,
                0);
    s_url_good ("REDIS://cache.internal/15", "cache.internal", 6379, NULL, NULL,
                NULL, 15);
    s_url_good ("redis://:s3cret@h:1/2", "h", 1, NULL, NULL, "s3cret", 2);
    s_url_good ("redis://auth:s3cret@h", "h", 6379, NULL, "auth", "s3cret", 0);
    s_url_good ("redis://a%40b:p%3Aw%2Fd%25@h", "h", 6379, NULL, "a@b",
                "p:w/d%", 0);
    s_url_good ("redis://:pa:ss@h", "h", 6379, NULL, NULL, "pa:ss", 0);
    s_url_good ("redis://:@h", "h", 6379, NULL, NULL, NULL, 0);
    s_url_good ("redis://nopass:@h", "h", 6379, NULL, "nopass", "", 0);
    s_url_good ("redis://[::1]:7000/3", "::1", 7000, NULL, NULL, NULL, 3);
    s_url_good ("redis://[fe80::1]", "fe80::1", 6379, NULL, NULL, NULL, 0);
    s_url_good ("redis://h:65535/2147483647", "h", 65535, NULL, NULL, NULL,
                2147483647);
    s_url_good ("unix:///run/redis.sock", NULL, 0, "/run/redis.sock", NULL,
                NULL, 0);
    s_url_good ("unix:///run/redis.sock?db=4", NULL, 0, "/run/redis.sock", NULL,
                NULL, 4);
    s_url_good ("unix://:s3cret@/tmp/r.sock", NULL, 0, "/tmp/r.sock", NULL,
                "s3cret", 0);

    s_url_bad (NULL, "none given");
    s_url_bad ("", "must start with");
    s_url_bad ("http://h", "must start with");
    s_url_bad ("redis:/h", "must start with");
    s_url_bad ("rediss://h", "TLS");
    s_url_bad ("redis://", "no host");
    s_url_bad ("redis:///1", "no host");
    s_url_bad ("redis://:6379", "no host");
    s_url_bad ("redis://h:", "port");
    s_url_bad ("redis://h:0", "port");
    s_url_bad ("redis://h:65536", "port");
    s_url_bad ("redis://h:123456", "port");
    s_url_bad ("redis://h:-1", "port");
    s_url_bad ("redis://h:6379x", "port");
    s_url_bad ("redis://h/x", "database");
    s_url_bad ("redis://h/-1", "database");
    s_url_bad ("redis://h/+1", "database");
    s_url_bad ("redis://h/1/2", "database");
    s_url_bad ("redis://h/2147483648", "database");
    s_url_bad ("redis://h/99999999999999999999", "database");
    s_url_bad ("redis://h/0?timeout=1", "no parameters");
    s_url_bad ("redis://h#x", "fragment");
    s_url_bad ("redis://s3cret@h", "needs ':'");
    s_url_bad ("redis://:s3c@ret@h", "percent-encoded");
    s_url_bad ("redis://:s3cret%4@h", "escape");
    s_url_bad ("redis://:s3cret%zz@h", "escape");
    s_url_bad ("redis://:s3cret%00@h", "%00");
    s_url_bad ("redis://:s3c ret@h", "control");
    s_url_bad ("redis://ho st", "not allowed");
    s_url_bad ("redis://h%41", "not allowed");
    s_url_bad ("redis://[::1", "without ']'");
    s_url_bad ("redis://[::1]x", "junk");
    s_url_bad ("redis://[xyz]", "IPv6");
    s_url_bad ("redis://[1.2.3.4]", "IPv6");
    s_url_bad ("unix://", "no socket path");
    s_url_bad ("unix:///", "no socket path");
    s_url_bad ("unix://relative.sock", "absolute path");
    s_url_bad ("unix:///tmp/r.sock?db=x", "database");
    s_url_bad ("unix:///tmp/r.sock?password=x", "only parameter");
    s_url_bad ("unix:///tmp/r.sock?db=1&x=2", "database");
    char lng [200] = "unix:///";
    memset (lng + 8, 'a', 150);
    lng [158] = 0;
    s_url_bad (lng, "over 107");
}

//  --- The reply view

typedef struct {
    int calls;
    fy_redis_type_t type;
    int error;
    int64_t integer;
    char text [64];
    size_t len;
    size_t size;
    char joined [128];          //  Elements as "type:text|..."
} seen_t;

static void
s_join (const fy_redis_reply_t *reply, char *out, size_t size)
{
    size_t at = strlen (out);
    size_t len = 0;
    const char *str = fy_redis_reply_string (reply, &len);
    snprintf (out + at, size - at, "%d:%.*s:%lld(", fy_redis_reply_type (reply),
              (int) len, str ? str : "",
              (long long) fy_redis_reply_integer (reply));
    for (size_t i = 0; i < fy_redis_reply_size (reply); i++)
        s_join (fy_redis_reply_element (reply, i), out, size);
    at = strlen (out);
    snprintf (out + at, size - at, ")");
}

static void
s_seen (const fy_redis_reply_t *reply, void *arg)
{
    seen_t *seen = arg;
    seen->calls++;
    seen->type = fy_redis_reply_type (reply);
    seen->error = fy_redis_reply_errno (reply);
    seen->integer = fy_redis_reply_integer (reply);
    const char *str = fy_redis_reply_string (reply, &seen->len);
    if (str)
        memcpy (seen->text, str, seen->len < 63 ? seen->len : 63);
    const char *error = fy_redis_reply_error (reply);
    if (error && !str)
        snprintf (seen->text, sizeof seen->text, "%s", error);
    seen->size = fy_redis_reply_size (reply);
    s_join (reply, seen->joined, sizeof seen->joined);
}

static seen_t
s_parse (const char *resp, size_t len, int want_rc, size_t *used)
{
    seen_t seen;
    memset (&seen, 0, sizeof seen);
    errno = 0;
    int rc = fy_redis_reply_parse (resp, len, s_seen, &seen, used);
    if (rc != want_rc)
        diag ("parse rc %d errno %d", rc, errno);
    return seen;
}

static void
s_replies (void)
{
    size_t used = 0;
    seen_t seen = s_parse ("$5\r\na\0b\0c\r\n+OK\r\n", 17, 0, &used);
    ok (seen.calls == 1 && seen.type == FY_REDIS_STRING && seen.len == 5
            && memcmp (seen.text, "a\0b\0c", 5) == 0 && seen.error == 0
            && used == 11 && seen.size == 0 && seen.integer == 0,
        "bulk string with NULs, 11 bytes of 17 used");

    seen = s_parse (":-42\r\n", 6, 0, NULL);
    ok (seen.type == FY_REDIS_INTEGER && seen.integer == -42, "integer");
    seen = s_parse ("+PONG\r\n", 7, 0, NULL);
    ok (seen.type == FY_REDIS_STATUS && strcmp (seen.text, "PONG") == 0,
        "status");
    seen = s_parse ("$-1\r\n", 5, 0, NULL);
    ok (seen.type == FY_REDIS_NIL && seen.len == 0, "nil bulk");
    seen = s_parse ("*-1\r\n", 5, 0, NULL);
    ok (seen.type == FY_REDIS_NIL, "nil array");

    seen = s_parse ("-WRONGTYPE Operation against a key\r\n", 36, 0, NULL);
    ok (seen.type == FY_REDIS_ERROR && seen.error == 0
            && strcmp (seen.text, "WRONGTYPE Operation against a key") == 0,
        "error reply: type ERROR, errno 0, the server's text");

    const char *array = "*3\r\n:1\r\n*2\r\n$1\r\nx\r\n$-1\r\n+OK\r\n";
    seen = s_parse (array, strlen (array), 0, NULL);
    ok (seen.type == FY_REDIS_ARRAY && seen.size == 3
            && strcmp (seen.joined, "2::0(3::1()2::0(1:x:0()4::0())5:OK:0())")
                   == 0,
        "nested array: %s", seen.joined);

    seen = s_parse ("*0\r\n", 4, 0, NULL);
    ok (seen.type == FY_REDIS_ARRAY && seen.size == 0, "empty array");

    seen = s_parse ("$5\r\nab", 6, -1, NULL);
    ok (seen.calls == 0 && errno == EAGAIN, "cut reply: EAGAIN");
    seen = s_parse ("", 0, -1, NULL);
    ok (seen.calls == 0 && errno == EAGAIN, "no bytes: EAGAIN");
    seen = s_parse ("!oops\r\n", 7, -1, NULL);
    ok (seen.calls == 0 && errno == EPROTO, "not RESP: EPROTO");
}

//  --- A client with no server

static bool
s_done (void *arg)
{
    return ((seen_t *) arg)->calls > 0;
}

static void
s_offline (void)
{
    fy_error_t err = { "" };
    fy_redis_options_t options;
    fy_redis_options_default (&options);
    ok (options.timeout_ms == 5000 && options.max_queued == 10000, "defaults");
    options.timeout_ms = 0;
    ok (!fy_redis_new ("redis://h", &options, &err) && errno == EINVAL,
        "a zero timeout is refused: %s", err.text);
    ok (!fy_redis_new ("redis://:s3cret@h:0", NULL, &err) && errno == EINVAL
            && strstr (err.text, "port"),
        "a bad URL is refused: %s", err.text);

    fy_redis_options_default (&options);
    options.timeout_ms = 300;
    options.max_queued = 3;
    char url [64];
    //  A port nothing listens on: bound, then closed.
    snprintf (url, sizeof url, "redis://127.0.0.1:%d/1", tap_free_port ());
    fy_redis_t *redis = fy_redis_new (url, &options, &err);
    ok (redis != NULL, "new with nobody listening: %s", err.text);
    ok (!fy_redis_connected (redis), "not connected");
    ok (fy_redis_fd (redis) >= 0, "an fd to poll");

    seen_t one, two, three;
    memset (&one, 0, sizeof one);
    memset (&two, 0, sizeof two);
    memset (&three, 0, sizeof three);
    uint64_t id1 = 0, id2 = 0, id3 = 0;
    ok (fy_redis_commandl (redis, s_seen, &one, &id1, &err, "PING", NULL) == 0,
        "PING queued");
    const char *argv [] = { "SET", "k", "v\0w" };
    const size_t lens [] = { 3, 1, 3 };
    ok (fy_redis_command (redis, 3, argv, lens, s_seen, &two, &id2, &err) == 0,
        "SET queued");
    ok (fy_redis_command_timeout (redis, 60000, 1, argv, NULL, s_seen, &three,
                                  &id3, &err)
            == 0,
        "a third queued");
    ok (id1 && id2 > id1 && id3 > id2, "ids grow");
    ok (fy_redis_pending (redis) == 3, "3 pending");
    seen_t four;
    memset (&four, 0, sizeof four);
    ok (fy_redis_commandl (redis, s_seen, &four, NULL, &err, "PING", NULL) == -1
            && errno == EAGAIN,
        "the fourth: EAGAIN (%s)", err.text);
    ok (fy_redis_commandl (redis, s_seen, &four, NULL, &err, "subscribe", "c",
                           NULL)
                == -1
            && errno == EINVAL,
        "SUBSCRIBE refused: %s", err.text);
    ok (fy_redis_command (redis, 0, argv, NULL, s_seen, &four, NULL, &err) == -1
            && errno == EINVAL,
        "no arguments refused");
    ok (fy_redis_cancel (redis, id2) && !fy_redis_cancel (redis, id2)
            && fy_redis_pending (redis) == 2,
        "cancel a queued command, once");

    int64_t started = fy_clock_mono_ms ();
    ok (fy_redis_run_until (redis, s_done, &one, 3000) == 0,
        "the first completes");
    int64_t took = fy_clock_mono_ms () - started;
    ok (one.calls == 1 && one.type == FY_REDIS_FAILED && one.error == ETIMEDOUT,
        "with ETIMEDOUT (%s) after %lld ms", one.text, (long long) took);
    ok (took >= 250 && took < 2000, "about the timeout");
    ok (strstr (fy_redis_last_error (redis), "connect to 127.0.0.1:")
            && strstr (fy_redis_last_error (redis), "refused"),
        "last error: %s", fy_redis_last_error (redis));
    ok (two.calls == 0 && three.calls == 0,
        "the cancelled one is never called, the long one still waits");
    ok (fy_redis_pending (redis) == 1, "1 pending");
    for (int i = 0; i < 5; i++)
        if (fy_redis_wait (redis, 50))
            BAIL_OUT ("wait");
    ok (one.calls == 1, "completed once");
    fy_redis_destroy (&redis);
    ok (redis == NULL && three.calls == 0,
        "destroy: pending callbacks are not called");
    fy_redis_destroy (&redis);

    fy_redis_script_t *script;
    redis = fy_redis_new ("unix:///nonexistent/redis.sock", NULL, &err);
    script = fy_redis_script_new (redis, "return 1");
    ok (strcmp (fy_redis_script_sha (script),
                "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
            == 0,
        "script SHA-1 as SCRIPT LOAD gives it");
    ok (fy_redis_script_new (redis, "return 1") == script,
        "the same text, the same script");
    ok (fy_redis_eval (script, 2, 1, argv, NULL, s_seen, &four, NULL, &err)
                == -1
            && errno == EINVAL,
        "more keys than arguments: %s", err.text);
    ok (fy_redis_eval (script, 0, 0, NULL, NULL, s_seen, &four, NULL, &err) == 0
            && fy_redis_pending (redis) == 1,
        "an eval queued");
    fy_redis_run (redis);
    ok (strstr (fy_redis_last_error (redis), "/nonexistent/redis.sock"),
        "unix socket error: %s", fy_redis_last_error (redis));
    fy_redis_destroy (&redis);
}

int
main (void)
{
    plan (NO_PLAN);
    s_urls ();
    s_replies ();
    s_offline ();
    done_testing ();
}
