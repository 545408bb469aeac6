/*  fy_redis against real servers: the stack's Redis (REDIS_URL from
    contrib/stack.sh env; the test fails without it) for binary values,
    a 10,000-command pipeline and SELECT isolation, and redis-servers the
    test starts itself on a free port (with --requirepass and the DEBUG
    command) for what must not touch the shared one: AUTH refused, script
    cache flushes, a server killed with commands in flight and started
    again, commands that time out, a subscriber across a restart, a unix
    socket. Keys on the stack's
    Redis carry a prefix unique to the run and are deleted after. */
#include "store/fy_redis.h"

#include <czmq.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "integration/proc.h"
#include "tap.h"

#define S_PASSWORD "s3cret-pw"

typedef struct {
    int calls;
    int error;
    fy_redis_type_t type;
    int64_t integer;
    char *str;
    size_t len;
    char *error_text;
} got_t;

static void
s_got (const fy_redis_reply_t *reply, void *arg)
{
    got_t *got = arg;
    got->calls++;
    free (got->str);
    free (got->error_text);
    got->type = fy_redis_reply_type (reply);
    got->error = fy_redis_reply_errno (reply);
    got->integer = fy_redis_reply_integer (reply);
    const char *str = fy_redis_reply_string (reply, &got->len);
    got->str = str ? fy_xstrndup (str, got->len) : NULL;
    const char *error = fy_redis_reply_error (reply);
    got->error_text = error ? fy_xstrdup (error) : NULL;
}

static void
s_got_clear (got_t *got, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free (got [i].str);
        free (got [i].error_text);
        memset (&got [i], 0, sizeof got [i]);
    }
}

typedef struct {
    got_t *got;
    size_t count;
} group_t;

static bool
s_group_done (void *arg)
{
    group_t *group = arg;
    for (size_t i = 0; i < group->count; i++)
        if (group->got [i].calls == 0)
            return false;
    return true;
}

//  Run redis until every got of the array has been called.
static bool
s_wait (fy_redis_t *redis, got_t *got, size_t count, int64_t max_ms)
{
    group_t group = { got, count };
    return fy_redis_run_until (redis, s_group_done, &group, max_ms) == 0;
}

static bool
s_is_connected (void *arg)
{
    return fy_redis_connected (arg);
}

//  Run redis for ms whatever happens.
static void
s_run_for (fy_redis_t *redis, int64_t ms)
{
    int64_t until = fy_clock_mono_ms () + ms;
    while (fy_clock_mono_ms () < until)
        if (fy_redis_wait (redis, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait: %s", strerror (errno));
}

static fy_redis_t *
s_client (const char *url, int64_t timeout_ms)
{
    fy_redis_options_t options;
    fy_redis_options_default (&options);
    if (timeout_ms)
        options.timeout_ms = timeout_ms;
    fy_error_t err = { "" };
    fy_redis_t *redis = fy_redis_new (url, &options, &err);
    if (!redis)
        BAIL_OUT ("fy_redis_new: %s", err.text);
    return redis;
}

//  One command of strings, waited for.
static got_t
s_do (fy_redis_t *redis, const char *arg0, ...)
{
    const char *argv [16];
    size_t argc = 0;
    va_list args;
    va_start (args, arg0);
    for (const char *next = arg0; next && argc < 16;
         next = va_arg (args, const char *))
        argv [argc++] = next;
    va_end (args);
    got_t got;
    memset (&got, 0, sizeof got);
    fy_error_t err = { "" };
    if (fy_redis_command (redis, argc, argv, NULL, s_got, &got, NULL, &err))
        BAIL_OUT ("command %s: %s", arg0, err.text);
    if (!s_wait (redis, &got, 1, 15000))
        BAIL_OUT ("%s: no completion in 15 s", arg0);
    return got;
}

//  --- The test's own redis-servers

static char s_dir [] = "/tmp/fy-redis-XXXXXX";

static bool
s_port_answers (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t) port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    bool answers = connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0;
    close (fd);
    return answers;
}

//  redis-server on port with a password, the DEBUG command and a unix
//  socket in the scratch directory; returns once it accepts connections.
static pid_t
s_server_start (int port)
{
    char port_text [16], log [400], sock [400];
    snprintf (port_text, sizeof port_text, "%d", port);
    snprintf (log, sizeof log, "%s/redis-%d.log", s_dir, port);
    snprintf (sock, sizeof sock, "%s/redis.sock", s_dir);
    fflush (stdout);
    pid_t pid = fork ();
    if (pid == 0) {
        execlp ("redis-server", "redis-server", "--port", port_text, "--bind",
                "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s_dir,
                "--logfile", log, "--requirepass", S_PASSWORD,
                "--enable-debug-command", "yes", "--unixsocket", sock,
                "--unixsocketperm", "700", (char *) NULL);
        _exit (127);
    }
    if (pid < 0)
        BAIL_OUT ("fork: %s", strerror (errno));
    proc_track (pid);
    for (int i = 0; i < 500 && !s_port_answers (port); i++) {
        int status;
        if (waitpid (pid, &status, WNOHANG) == pid)
            BAIL_OUT ("redis-server exited (see %s)", log);
        usleep (20000);
    }
    if (!s_port_answers (port))
        BAIL_OUT ("redis-server on %d does not answer", port);
    return pid;
}

//  --- On the stack's Redis

static char s_prefix [96];

static char *
s_key (const char *name)
{
    return fy_xasprintf ("%s%s", s_prefix, name);
}

static void
s_stack_binary (fy_redis_t *redis)
{
    //  A key and a value with NULs and bytes that are not UTF-8.
    char *key = s_key ("bin-x");
    size_t key_len = strlen (key);
    key [key_len - 2] = 0;
    const char value [] = "\0a\0\xff\xfe\r\n\0z";
    size_t value_len = sizeof value - 1;
    const char *set [] = { "SET", key, value };
    size_t set_len [] = { 3, key_len, value_len };
    got_t got [2];
    memset (got, 0, sizeof got);
    fy_error_t err = { "" };
    ok (fy_redis_command (redis, 3, set, set_len, s_got, &got [0], NULL, &err)
            == 0,
        "SET with NULs in key and value");
    const char *get [] = { "GET", key };
    size_t get_len [] = { 3, key_len };
    ok (fy_redis_command (redis, 2, get, get_len, s_got, &got [1], NULL, &err)
            == 0,
        "GET it");
    ok (s_wait (redis, got, 2, 5000), "both complete");
    ok (got [0].type == FY_REDIS_STATUS && strcmp (got [0].str, "OK") == 0,
        "SET: +OK");
    ok (got [1].type == FY_REDIS_STRING && got [1].len == value_len
            && memcmp (got [1].str, value, value_len) == 0,
        "GET: the same %zu bytes", value_len);
    s_got_clear (got, 2);

    const char *del [] = { "DEL", key };
    ok (fy_redis_command (redis, 2, del, get_len, s_got, &got [0], NULL, &err)
                == 0
            && s_wait (redis, got, 1, 5000) && got [0].integer == 1,
        "DEL it");
    s_got_clear (got, 1);
    free (key);
}

#define S_PIPELINE 10000

typedef struct {
    size_t index;
    size_t *next;               //  Completions so far
    size_t *wrong;
} incr_t;

static void
s_on_incr (const fy_redis_reply_t *reply, void *arg)
{
    incr_t *incr = arg;
    //  In order: the n-th completion is the n-th command, answering n.
    if (*incr->next != incr->index
        || fy_redis_reply_type (reply) != FY_REDIS_INTEGER
        || fy_redis_reply_integer (reply) != (int64_t) incr->index + 1)
        (*incr->wrong)++;
    (*incr->next)++;
}

static bool
s_incr_done (void *arg)
{
    return *(size_t *) arg == S_PIPELINE;
}

static void
s_stack_pipeline (fy_redis_t *redis)
{
    char *key = s_key ("counter");
    incr_t *incrs = fy_xcalloc (S_PIPELINE, sizeof *incrs);
    size_t next = 0, wrong = 0, refused = 0;
    int64_t started = fy_clock_mono_ms ();
    for (size_t i = 0; i < S_PIPELINE; i++) {
        incrs [i] = (incr_t) { i, &next, &wrong };
        if (fy_redis_commandl (redis, s_on_incr, &incrs [i], NULL, NULL, "INCR",
                               key, NULL))
            refused++;
    }
    ok (refused == 0 && fy_redis_pending (redis) == S_PIPELINE,
        "%d INCRs issued at once, all pending", S_PIPELINE);
    ok (fy_redis_run_until (redis, s_incr_done, &next, 30000) == 0,
        "all complete (%lld ms)", (long long) (fy_clock_mono_ms () - started));
    ok (wrong == 0 && next == S_PIPELINE,
        "each once, in order, answering 1..%d (%zu wrong)", S_PIPELINE, wrong);
    ok (fy_redis_pending (redis) == 0, "none pending");
    got_t got = s_do (redis, "DEL", key, NULL);
    ok (got.integer == 1, "DEL the counter");
    s_got_clear (&got, 1);
    free (incrs);
    free (key);
}

//  REDIS_URL with its database replaced by db.
static char *
s_url_with_db (const char *url, int db)
{
    const char *slash = strchr (url + strlen ("redis://"), '/');
    int len = slash ? (int) (slash - url) : (int) strlen (url);
    return fy_xasprintf ("%.*s/%d", len, url, db);
}

static void
s_stack_select (const char *url)
{
    char *url0 = s_url_with_db (url, 0);
    char *url9 = s_url_with_db (url, 9);
    fy_redis_t *db0 = s_client (url0, 0);
    fy_redis_t *db9 = s_client (url9, 0);
    char *key = s_key ("where");
    got_t got = s_do (db9, "SET", key, "in-9", NULL);
    ok (got.type == FY_REDIS_STATUS, "SET in %s", url9);
    s_got_clear (&got, 1);
    got = s_do (db0, "GET", key, NULL);
    ok (got.type == FY_REDIS_NIL, "not there in %s", url0);
    s_got_clear (&got, 1);
    got = s_do (db9, "GET", key, NULL);
    ok (got.type == FY_REDIS_STRING && strcmp (got.str, "in-9") == 0,
        "there in db 9");
    s_got_clear (&got, 1);
    got = s_do (db9, "DEL", key, NULL);
    ok (got.integer == 1, "DEL it");
    s_got_clear (&got, 1);
    fy_redis_destroy (&db0);
    fy_redis_destroy (&db9);
    free (key);
    free (url0);
    free (url9);
}

//  --- On the test's own servers

static void
s_own_auth (int port)
{
    char *bad = fy_xasprintf ("redis://:wrong-pw-xyz@127.0.0.1:%d", port);
    fy_redis_t *redis = s_client (bad, 0);
    got_t got = s_do (redis, "PING", NULL);
    ok (got.type == FY_REDIS_FAILED && got.error == EACCES,
        "a wrong password: the command fails with EACCES");
    ok (got.error_text && strstr (got.error_text, "AUTH")
            && strstr (got.error_text, "WRONGPASS"),
        "  saying so: %s", got.error_text ? got.error_text : "(null)");
    ok (strstr (fy_redis_last_error (redis), "WRONGPASS")
            && !strstr (fy_redis_last_error (redis), "wrong-pw-xyz"),
        "last error says it, without the password");
    ok (!fy_redis_connected (redis), "not connected");
    s_got_clear (&got, 1);
    fy_redis_destroy (&redis);
    free (bad);

    char *none = fy_xasprintf ("redis://127.0.0.1:%d", port);
    redis = s_client (none, 0);
    got = s_do (redis, "PING", NULL);
    ok (got.type == FY_REDIS_ERROR && got.error == 0
            && strncmp (got.str, "NOAUTH", 6) == 0,
        "no password: the server's NOAUTH comes back as an error reply");
    s_got_clear (&got, 1);
    fy_redis_destroy (&redis);
    free (none);

    char *acl =
        fy_xasprintf ("redis://default:%s@127.0.0.1:%d/3", S_PASSWORD, port);
    redis = s_client (acl, 0);
    got = s_do (redis, "CLIENT", "INFO", NULL);
    ok (got.type == FY_REDIS_STRING && strstr (got.str, "user=default")
            && strstr (got.str, " db=3 "),
        "ACL user and password, then SELECT 3: connected as default, db 3");
    s_got_clear (&got, 1);
    ok (fy_redis_connected (redis) && fy_redis_connects (redis) == 1,
        "one connection");
    fy_redis_destroy (&redis);
    free (acl);
}

static void
s_own_scripts (fy_redis_t *redis)
{
    fy_redis_script_t *script = fy_redis_script_new (
        redis, "return redis.call('INCRBY', KEYS[1], ARGV[1])");
    const char *argv [] = { "scripted", "5" };
    got_t got [3];
    memset (got, 0, sizeof got);
    fy_error_t err = { "" };
    ok (fy_redis_eval (script, 1, 2, argv, NULL, s_got, &got [0], NULL, &err)
                == 0
            && s_wait (redis, got, 1, 5000) && got [0].integer == 5,
        "first eval: 5");
    ok (fy_redis_script_fallbacks (redis) == 1,
        "  through EVAL, the script being new to the server");
    s_got_clear (got, 1);
    ok (fy_redis_eval (script, 1, 2, argv, NULL, s_got, &got [0], NULL, &err)
                == 0
            && s_wait (redis, got, 1, 5000) && got [0].integer == 10
            && fy_redis_script_fallbacks (redis) == 1,
        "second: 10, EVALSHA alone");
    s_got_clear (got, 1);

    got_t flushed = s_do (redis, "SCRIPT", "FLUSH", NULL);
    ok (flushed.type == FY_REDIS_STATUS, "SCRIPT FLUSH");
    s_got_clear (&flushed, 1);
    for (int i = 0; i < 3; i++)
        if (fy_redis_eval (script, 1, 2, argv, NULL, s_got, &got [i], NULL,
                           &err))
            BAIL_OUT ("eval: %s", err.text);
    ok (s_wait (redis, got, 3, 5000) && got [0].integer == 15
            && got [1].integer == 20 && got [2].integer == 25
            && got [0].calls == 1 && got [1].calls == 1 && got [2].calls == 1,
        "3 evals after the flush: 15, 20, 25, each once");
    ok (fy_redis_script_fallbacks (redis) == 4,
        "  each fell back to EVAL (NOSCRIPT)");
    s_got_clear (got, 3);

    flushed = s_do (redis, "EVALSHA", fy_redis_script_sha (script), "1",
                    "scripted", "1", NULL);
    ok (flushed.integer == 26, "EVAL loaded it: a plain EVALSHA works");
    s_got_clear (&flushed, 1);
    const char *bad_argv [] = { "scripted", "x" };
    bool done = fy_redis_eval (script, 1, 2, bad_argv, NULL, s_got, &got [0],
                               NULL, &err)
                    == 0
                && s_wait (redis, got, 1, 5000);
    ok (done && got [0].type == FY_REDIS_ERROR && got [0].error == 0,
        "a script's error comes back as an error reply: %s",
        got [0].error_text ? got [0].error_text : "(none)");
    s_got_clear (got, 1);
}

static void
s_own_timeout (fy_redis_t *redis)
{
    got_t setup = s_do (redis, "MSET", "ta", "A", "tb", "B", NULL);
    s_got_clear (&setup, 1);
    got_t got [3];
    memset (got, 0, sizeof got);
    fy_error_t err = { "" };
    int64_t started = fy_clock_mono_ms ();
    ok (fy_redis_commandl (redis, s_got, &got [0], NULL, &err, "DEBUG", "SLEEP",
                           "1", NULL)
                == 0
            && fy_redis_commandl (redis, s_got, &got [1], NULL, &err, "GET",
                                  "ta", NULL)
                   == 0,
        "DEBUG SLEEP 1 (timeout 300 ms) and a GET behind it");
    ok (s_wait (redis, got, 2, 5000), "both complete");
    int64_t took = fy_clock_mono_ms () - started;
    ok (got [0].type == FY_REDIS_FAILED && got [0].error == ETIMEDOUT,
        "DEBUG SLEEP: ETIMEDOUT after %lld ms (%s)", (long long) took,
        got [0].error_text ? got [0].error_text : "");
    ok (took >= 250 && took < 900, "  at the timeout, not at the reply");
    ok (got [1].type == FY_REDIS_FAILED && got [1].error == ECONNRESET,
        "the GET behind it: ECONNRESET (%s)",
        got [1].error_text ? got [1].error_text : "");
    ok (fy_redis_commandl (redis, s_got, &got [2], NULL, &err, "GET", "tb",
                           NULL)
            == 0,
        "GET tb at once");
    ok (s_wait (redis, &got [2], 1, 5000), "completes");
    ok (got [2].error == ETIMEDOUT
            || (got [2].type == FY_REDIS_STRING
                && strcmp (got [2].str, "B") == 0),
        "with its own value or a timeout, never the late +OK or 'A'");
    s_got_clear (&got [2], 1);
    const char *argv [] = { "GET", "tb" };
    ok (fy_redis_command_timeout (redis, 5000, 2, argv, NULL, s_got, &got [2],
                                  NULL, &err)
                == 0
            && s_wait (redis, &got [2], 1, 8000)
            && got [2].type == FY_REDIS_STRING
            && strcmp (got [2].str, "B") == 0,
        "with a 5 s timeout of its own: B, over a new connection");
    //  Whatever the old connection still had to say must go nowhere.
    s_run_for (redis, 1200);
    ok (got [0].calls == 1 && got [1].calls == 1 && got [2].calls == 1,
        "every callback called once");
    ok (fy_redis_connects (redis) >= 2, "reconnected (%zu connections)",
        fy_redis_connects (redis));
    s_got_clear (got, 3);
}

#define S_INFLIGHT 100
#define S_QUEUED 50

static void
s_own_kill (fy_redis_t *redis, pid_t *server, int port)
{
    got_t *got = fy_xcalloc (S_INFLIGHT + 1, sizeof *got);
    fy_error_t err = { "" };
    if (fy_redis_commandl (redis, s_got, &got [0], NULL, &err, "DEBUG", "SLEEP",
                           "3", NULL))
        BAIL_OUT ("DEBUG SLEEP: %s", err.text);
    for (size_t i = 1; i <= S_INFLIGHT; i++)
        if (fy_redis_commandl (redis, s_got, &got [i], NULL, &err, "INCR", "k",
                               NULL))
            BAIL_OUT ("INCR: %s", err.text);
    //  Written out, the server asleep on the first.
    s_run_for (redis, 300);
    ok (fy_redis_pending (redis) == S_INFLIGHT + 1, "%d commands in flight",
        S_INFLIGHT + 1);
    int status = proc_stop (*server, SIGKILL);
    ok (WIFSIGNALED (status), "redis-server killed (SIGKILL)");
    ok (s_wait (redis, got, S_INFLIGHT + 1, 5000), "every one completes");
    size_t reset = 0, calls = 0;
    for (size_t i = 0; i <= S_INFLIGHT; i++) {
        reset += got [i].error == ECONNRESET;
        calls += (size_t) got [i].calls;
    }
    ok (reset == S_INFLIGHT + 1 && calls == S_INFLIGHT + 1,
        "each once, with ECONNRESET (%s)", got [0].error_text);
    ok (!fy_redis_connected (redis) && fy_redis_pending (redis) == 0,
        "disconnected, none pending");
    s_got_clear (got, S_INFLIGHT + 1);

    for (size_t i = 0; i < S_QUEUED; i++)
        if (fy_redis_commandl (redis, s_got, &got [i], NULL, &err, "INCR", "k",
                               NULL))
            BAIL_OUT ("INCR while down: %s", err.text);
    s_run_for (redis, 300);
    ok (fy_redis_pending (redis) == S_QUEUED && !fy_redis_connected (redis),
        "%d INCRs queued while the server is down", S_QUEUED);
    ok (got [0].calls == 0, "  and waiting");
    *server = s_server_start (port);
    ok (s_wait (redis, got, S_QUEUED, 10000),
        "a new server on the same port: they complete");
    size_t right = 0;
    for (size_t i = 0; i < S_QUEUED; i++)
        right += got [i].calls == 1 && got [i].type == FY_REDIS_INTEGER
                 && got [i].integer == (int64_t) i + 1;
    ok (right == S_QUEUED, "after AUTH, in order: 1..%d", S_QUEUED);
    ok (fy_redis_connected (redis), "connected again");
    s_got_clear (got, S_QUEUED);
    free (got);
}

//  What a subscriber heard.
typedef struct {
    int ready, lost, messages;
    char channel [64];
    char data [64];
    size_t len;
} heard_t;

static void
s_on_push (fy_redis_sub_event_t event, const char *channel, const char *data,
           size_t len, void *arg)
{
    heard_t *heard = arg;
    if (event == FY_REDIS_SUB_READY)
        heard->ready++;
    else if (event == FY_REDIS_SUB_LOST)
        heard->lost++;
    else {
        heard->messages++;
        snprintf (heard->channel, sizeof heard->channel, "%s", channel);
        heard->len = len < sizeof heard->data ? len : sizeof heard->data;
        memcpy (heard->data, data, heard->len);
    }
}

typedef struct {
    fy_redis_t *sub;
    heard_t *heard;
    int ready, messages;
} s_sub_wait_t;

static bool
s_heard (void *arg)
{
    s_sub_wait_t *wait = arg;
    return wait->heard->ready >= wait->ready
           && wait->heard->messages >= wait->messages;
}

//  Run the subscriber (and the publisher beside it) until it heard ready
//  READYs and messages MESSAGEs, at most max_ms.
static bool
s_hear (fy_redis_t *sub, fy_redis_t *pub, heard_t *heard, int ready,
        int messages, int64_t max_ms)
{
    s_sub_wait_t wait = { sub, heard, ready, messages };
    int64_t end = fy_clock_mono_ms () + max_ms;
    while (!s_heard (&wait) && fy_clock_mono_ms () < end) {
        if (fy_redis_wait (sub, 20) || (pub && fy_redis_wait (pub, 0)))
            return false;
    }
    return s_heard (&wait);
}

//  SUBSCRIBE on a client of its own: READY, messages (binary), commands
//  refused, LOST when the server dies and READY again on the next one.
static void
s_own_subscribe (const char *url, pid_t *server, int port)
{
    heard_t heard = { 0 };
    fy_error_t err = { "" };
    fy_redis_t *sub = s_client (url, 0);
    fy_redis_t *pub = s_client (url, 0);
    ok (fy_redis_subscribe (sub, "fy-chan", s_on_push, &heard, &err) == 0,
        "subscribe %s", err.text);
    ok (fy_redis_subscribe (sub, "other", s_on_push, &heard, &err) == -1
            && errno == EINVAL,
        "a second subscribe refused: %s", err.text);
    ok (fy_redis_commandl (sub, s_got, NULL, NULL, &err, "PING", NULL) == -1
            && errno == EINVAL,
        "a command on a subscriber refused: %s", err.text);
    ok (s_hear (sub, NULL, &heard, 1, 0, 5000) && heard.ready == 1,
        "READY once subscribed");
    ok (fy_redis_is_subscribed (sub), "  and is_subscribed");
    const char *argv [] = { "PUBLISH", "fy-chan", "a\0b" };
    const size_t lens [] = { 7, 7, 3 };
    got_t got = { 0 };
    if (fy_redis_command (pub, 3, argv, lens, s_got, &got, NULL, &err))
        BAIL_OUT ("PUBLISH: %s", err.text);
    ok (s_hear (sub, pub, &heard, 1, 1, 5000), "the message arrives");
    ok (strcmp (heard.channel, "fy-chan") == 0 && heard.len == 3
            && memcmp (heard.data, "a\0b", 3) == 0,
        "  on its channel, with its bytes");
    s_wait (pub, &got, 1, 2000);
    is_int ((int) got.integer, 1, "PUBLISH reached one subscriber");
    s_got_clear (&got, 1);

    proc_stop (*server, SIGKILL);
    for (int i = 0; i < 50 && heard.lost == 0; i++)
        if (fy_redis_wait (sub, 20))
            break;
    ok (heard.lost == 1 && !fy_redis_is_subscribed (sub),
        "LOST when the server dies");
    *server = s_server_start (port);
    ok (s_hear (sub, NULL, &heard, 2, 1, 10000),
        "READY again on the new server");
    //  The publisher's idle connection died too: a new one.
    fy_redis_destroy (&pub);
    pub = s_client (url, 0);
    if (fy_redis_command (pub, 3, argv, lens, s_got, &got, NULL, &err))
        BAIL_OUT ("PUBLISH: %s", err.text);
    ok (s_hear (sub, pub, &heard, 2, 2, 10000), "and the next message arrives");
    s_got_clear (&got, 1);
    fy_redis_destroy (&pub);
    fy_redis_destroy (&sub);
    ok (heard.lost == 1, "destroy calls nothing");
}

static void
s_own_unix (int port)
{
    char *url =
        fy_xasprintf ("unix://:%s@%s/redis.sock?db=2", S_PASSWORD, s_dir);
    fy_redis_t *redis = s_client (url, 0);
    got_t got = s_do (redis, "SET", "over-unix", "yes", NULL);
    ok (got.type == FY_REDIS_STATUS,
        "SET over unix://:...@%s/redis.sock"
        "?db=2",
        s_dir);
    s_got_clear (&got, 1);
    fy_redis_destroy (&redis);
    free (url);

    url = fy_xasprintf ("redis://:%s@127.0.0.1:%d/2", S_PASSWORD, port);
    redis = s_client (url, 0);
    got = s_do (redis, "GET", "over-unix", NULL);
    ok (got.type == FY_REDIS_STRING && strcmp (got.str, "yes") == 0,
        "read back over TCP from db 2");
    s_got_clear (&got, 1);
    fy_redis_destroy (&redis);
    free (url);
}

int
main (void)
{
    plan (NO_PLAN);
    const char *url = getenv ("REDIS_URL");
    if (!url || !*url)
        BAIL_OUT ("REDIS_URL is not set: start the stack (contrib/stack.sh "
                  "start) and eval \"$(contrib/stack.sh env)\"");
    snprintf (s_prefix, sizeof s_prefix,
              "fytest:redis:%d:%lld:", (int) getpid (),
              (long long) fy_clock_wall_ms ());

    fy_redis_t *redis = s_client (url, 0);
    ok (fy_redis_run_until (redis, s_is_connected, redis, 10000) == 0,
        "connected to %s", url);
    s_stack_binary (redis);
    s_stack_pipeline (redis);
    fy_redis_destroy (&redis);
    s_stack_select (url);

    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp: %s", strerror (errno));
    int port = tap_free_port ();
    pid_t server = s_server_start (port);
    s_own_auth (port);

    char *own = fy_xasprintf ("redis://:%s@127.0.0.1:%d", S_PASSWORD, port);
    redis = s_client (own, 300);
    s_own_scripts (redis);
    s_own_timeout (redis);
    fy_redis_destroy (&redis);

    redis = s_client (own, 10000);
    s_own_kill (redis, &server, port);
    fy_redis_destroy (&redis);
    s_own_subscribe (own, &server, port);
    s_own_unix (port);
    free (own);

    proc_stop (server, SIGTERM);
    char *rm = fy_xasprintf ("rm -rf '%s'", s_dir);
    if (system (rm) != 0)
        diag ("could not remove %s", s_dir);
    free (rm);
    done_testing ();
}
