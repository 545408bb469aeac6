/*  fy_redis: hiredis's asynchronous context on an epoll set of our own.
    hiredis tells us through its event hooks (ev.addRead, ev.delWrite, ...)
    which readiness it wants on the socket; we mirror that into the epoll
    set whose fd the owner's loop polls, and call redisAsyncHandleRead and
    redisAsyncHandleWrite from fy_redis_run. No event library.

    Every command is a record (s_cmd_t) that hiredis carries as the
    callback's privdata once it is sent. hiredis calls each sent command's
    callback exactly once: with its reply, or with NULL when the context is
    freed (a broken connection, or our own reset). That is what makes a
    completion happen once and only once, and why a command that times out
    resets the connection: its reply can then never arrive, let alone be
    taken for the reply of the command after it.

    Every live record is also on one list sorted by deadline (nearly
    always appended at the tail, as timeouts are mostly the default), so
    the next deadline is the list's head. Records waiting for a connection
    are on a second, FIFO list and hold a copy of their arguments. */
#include "store/fy_redis.h"
#include "core/fy_list.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

//  hiredis's reply types start at 1: 0 marks the view of a failure.
#define S_FAILED 0

//  A connection that lived this long before it broke was a good one: the
//  first retry goes at once. A shorter one continues the backoff, so a
//  server that accepts and drops at once is not hammered.
#define S_GOOD_CONNECTION_MS 1000

typedef enum {
    S_IDLE,                     //  No connection; reconnect_at says when
    S_CONNECTING,
    S_HANDSHAKE,                //  AUTH and SELECT sent, answers awaited
    S_READY
} s_state_t;

typedef enum {
    S_USER,
    S_EVAL
} s_kind_t;

struct fy_redis_script {
    struct fy_redis_script *next;
    fy_redis_t *client;
    char *lua;
    char sha [41];
};

typedef struct s_cmd {
    fy_link_t link;                 //  The deadline list: every live record
    fy_link_t qlink;                //  The queue: records not yet sent
    fy_redis_t *client;
    uint64_t id;
    int64_t deadline;
    int64_t timeout_ms;
    s_kind_t kind;
    bool sent;
    bool timed_out;
    bool fell_back;
    fy_redis_fn *fn;            //  NULL once cancelled
    void *arg;
    fy_redis_script_t *script;  //  S_EVAL
    size_t argc;                //  The copy, while queued, or for S_EVAL
    const char **argv;
    size_t *argvlen;
} s_cmd_t;

struct fy_redis {
    fy_redis_options_t options;
    fy_redis_url_t url;
    char where [300];           //  host:port or the socket path, for errors
    int epfd;
    redisAsyncContext *ac;
    uint32_t events;            //  What the epoll set watches on ac's fd
    s_state_t state;
    bool lost;                  //  This connection's end is recorded
    bool reset_pending;         //  Drop the connection after this I/O
    int hello_left;             //  Handshake answers awaited
    int64_t connect_deadline;
    int64_t ready_since;
    int64_t reconnect_at;       //  -1: no reconnect scheduled
    unsigned attempt;           //  Failed connections since a good one
    fy_backoff_t backoff;
    fy_link_t cmds;             //  Deadline list, s_cmd_t by link
    fy_link_t queue;            //  Queue, s_cmd_t by qlink
    size_t queued;
    size_t pending;
    uint64_t next_id;
    bool destroying;
    size_t connects;
    size_t fallbacks;
    fy_redis_script_t *scripts;
    char last_error [200];
    //  A subscriber (fy_redis_subscribe): its channel, its listener, and
    //  whether this connection's SUBSCRIBE was confirmed.
    char *sub_channel;
    fy_redis_message_fn *sub_fn;
    void *sub_arg;
    bool sub_live;
};

void
fy_redis_options_default (fy_redis_options_t *options)
{
    assert (options);
    options->timeout_ms = 5000;
    options->connect_timeout_ms = 2000;
    options->reconnect_min_ms = 100;
    options->reconnect_max_ms = 5000;
    options->max_queued = 10000;
}

//  --------------------------------------------------------------------
//  URLs

//  Percent-decode len bytes of text into a new string. Refuses a bad
//  escape, %00, and raw spaces or control characters.
static char *
s_decode (const char *text, size_t len, const char *what, fy_error_t *err)
{
    char *out = fy_xmalloc (len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) text [i];
        if (c == '%') {
            if (i + 2 >= len) {
                fy_error_set (err, "redis URL: cut %%-escape in the %s", what);
                goto fail;
            }
            if (!isxdigit ((unsigned char) text [i + 1])
                || !isxdigit ((unsigned char) text [i + 2])) {
                fy_error_set (err, "redis URL: bad %%-escape in the %s", what);
                goto fail;
            }
            char hex [3] = { text [i + 1], text [i + 2], 0 };
            c = (unsigned char) strtoul (hex, NULL, 16);
            if (c == 0) {
                fy_error_set (err, "redis URL: %%00 in the %s", what);
                goto fail;
            }
            i += 2;
        }
        else if (c <= ' ' || c == 0x7f) {
            fy_error_set (err,
                          "redis URL: space or control character in "
                          "the %s (percent-encode it)",
                          what);
            goto fail;
        }
        out [n++] = (char) c;
    }
    out [n] = 0;
    return out;
fail:
    explicit_bzero (out, len + 1);
    free (out);
    errno = EINVAL;
    return NULL;
}

//  A database number: decimal digits only, 0 to INT_MAX.
static int
s_parse_db (const char *text, size_t len, int *db, fy_error_t *err)
{
    char digits [16];
    bool valid = len > 0 && len < sizeof digits;
    for (size_t i = 0; valid && i < len; i++)
        valid = isdigit ((unsigned char) text [i]);
    int64_t value = 0;
    if (valid) {
        memcpy (digits, text, len);
        digits [len] = 0;
        valid = fy_parse_int64 (digits, 0, INT_MAX, &value) == 0;
    }
    if (!valid) {
        fy_error_set (err,
                      "redis URL: the database must be a number from "
                      "0 to %d, not '%.*s'",
                      INT_MAX, (int) (len > 40 ? 40 : len), text);
        errno = EINVAL;
        return -1;
    }
    *db = (int) value;
    return 0;
}

static bool
s_host_char (char c)
{
    return isalnum ((unsigned char) c) || c == '.' || c == '-' || c == '_';
}

//  host[:port] or [v6][:port], len bytes.
static int
s_parse_host (const char *text, size_t len, fy_redis_url_t *url,
              fy_error_t *err)
{
    const char *port = NULL;
    size_t host_len;
    if (len > 0 && text [0] == '[') {
        const char *close = memchr (text, ']', len);
        if (!close) {
            fy_error_set (err, "redis URL: '[' without ']' in the host");
            goto fail;
        }
        host_len = (size_t) (close - text) - 1;
        bool colon = false;
        for (size_t i = 1; i <= host_len; i++) {
            char c = text [i];
            colon |= c == ':';
            if (!isxdigit ((unsigned char) c) && c != ':' && c != '.') {
                fy_error_set (err, "redis URL: bad IPv6 address");
                goto fail;
            }
        }
        if (!colon) {
            fy_error_set (err, "redis URL: bad IPv6 address");
            goto fail;
        }
        url->host = fy_xstrndup (text + 1, host_len);
        size_t after = (size_t) (close - text) + 1;
        if (after < len) {
            if (text [after] != ':') {
                fy_error_set (err, "redis URL: junk after ']' in the host");
                goto fail;
            }
            port = text + after + 1;
        }
    }
    else {
        const char *colon = memchr (text, ':', len);
        host_len = colon ? (size_t) (colon - text) : len;
        for (size_t i = 0; i < host_len; i++)
            if (!s_host_char (text [i])) {
                fy_error_set (err, "redis URL: the host has a character "
                                   "that is not allowed (userinfo needs "
                                   "percent-encoding?)");
                goto fail;
            }
        if (colon)
            port = colon + 1;
        url->host = fy_xstrndup (text, host_len);
    }
    if (!*url->host) {
        fy_error_set (err, "redis URL: no host");
        goto fail;
    }
    if (port) {
        size_t port_len = len - (size_t) (port - text);
        bool valid = port_len > 0 && port_len <= 5;
        int value = 0;
        for (size_t i = 0; valid && i < port_len; i++) {
            valid = isdigit ((unsigned char) port [i]);
            value = value * 10 + (port [i] - '0');
        }
        if (!valid || value < 1 || value > 65535) {
            fy_error_set (err, "redis URL: the port must be a number from "
                               "1 to 65535");
            goto fail;
        }
        url->port = value;
    }
    return 0;
fail:
    errno = EINVAL;
    return -1;
}

//  [user]:password, len bytes.
static int
s_parse_userinfo (const char *text, size_t len, fy_redis_url_t *url,
                  fy_error_t *err)
{
    const char *colon = memchr (text, ':', len);
    if (!colon) {
        fy_error_set (err, "redis URL: the userinfo needs ':' before the "
                           "password ([user]:password@)");
        errno = EINVAL;
        return -1;
    }
    size_t user_len = (size_t) (colon - text);
    char *user = s_decode (text, user_len, "user", err);
    if (!user)
        return -1;
    char *password = s_decode (colon + 1, len - user_len - 1, "password", err);
    if (!password) {
        free (user);
        return -1;
    }
    //  ":@" is no AUTH at all; a user always sends AUTH user password.
    if (*user || *password) {
        url->password = password;
        password = NULL;
    }
    if (*user) {
        url->user = user;
        user = NULL;
    }
    free (user);
    free (password);
    return 0;
}

int
fy_redis_url_parse (const char *text, fy_redis_url_t *url, fy_error_t *err)
{
    assert (url);
    memset (url, 0, sizeof *url);
    url->port = 6379;
    if (!text) {
        fy_error_set (err, "redis URL: none given");
        errno = EINVAL;
        return -1;
    }
    bool is_unix = false;
    const char *rest;
    if (strncasecmp (text, "redis://", 8) == 0)
        rest = text + 8;
    else if (strncasecmp (text, "unix://", 7) == 0) {
        rest = text + 7;
        is_unix = true;
    }
    else {
        fy_error_set (err,
                      strncasecmp (text, "rediss://", 9) == 0
                          ? "redis URL: TLS (rediss://) is not supported"
                          : "redis URL: must start with redis:// or unix://");
        goto fail;
    }
    if (strchr (rest, '#')) {
        fy_error_set (err, "redis URL: a fragment ('#') is not allowed "
                           "(percent-encode it in a password)");
        goto fail;
    }
    size_t authority_len = strcspn (rest, "/?");
    const char *at = memchr (rest, '@', authority_len);
    const char *host = rest;
    size_t host_len = authority_len;
    if (at) {
        if (memchr (at + 1, '@', authority_len - (size_t) (at - rest) - 1)) {
            fy_error_set (err, "redis URL: '@' in the userinfo must be "
                               "percent-encoded");
            goto fail;
        }
        if (s_parse_userinfo (rest, (size_t) (at - rest), url, err))
            goto fail;
        host = at + 1;
        host_len = authority_len - (size_t) (host - rest);
    }
    const char *path = rest + authority_len;
    const char *query = strchr (path, '?');
    size_t path_len = query ? (size_t) (query - path) : strlen (path);
    if (is_unix) {
        url->port = 0;
        if (host_len) {
            fy_error_set (err, "redis URL: unix:// takes an absolute path "
                               "(unix:///path/redis.sock)");
            goto fail;
        }
        if (path_len < 2 || path [path_len - 1] == '/') {
            fy_error_set (err, "redis URL: no socket path");
            goto fail;
        }
        if (path_len >= 108) {
            fy_error_set (err, "redis URL: the socket path is over 107 "
                               "bytes");
            goto fail;
        }
        for (size_t i = 0; i < path_len; i++)
            if ((unsigned char) path [i] <= ' ' || path [i] == 0x7f) {
                fy_error_set (err, "redis URL: space or control character "
                                   "in the socket path");
                goto fail;
            }
        url->path = fy_xstrndup (path, path_len);
        if (query) {
            if (strncmp (query, "?db=", 4)) {
                fy_error_set (err, "redis URL: the only parameter unix:// "
                                   "takes is db=N");
                goto fail;
            }
            if (s_parse_db (query + 4, strlen (query + 4), &url->db, err))
                goto fail;
        }
        return 0;
    }
    if (query) {
        fy_error_set (err, "redis URL: redis:// takes no parameters (the "
                           "database goes in the path: redis://host/2)");
        goto fail;
    }
    if (s_parse_host (host, host_len, url, err))
        goto fail;
    if (path_len > 1 && s_parse_db (path + 1, path_len - 1, &url->db, err))
        goto fail;
    return 0;
fail:
    fy_redis_url_clear (url);
    errno = EINVAL;
    return -1;
}

void
fy_redis_url_clear (fy_redis_url_t *url)
{
    assert (url);
    int saved = errno;
    if (url->password) {
        explicit_bzero (url->password, strlen (url->password));
        free (url->password);
    }
    free (url->host);
    free (url->path);
    free (url->user);
    memset (url, 0, sizeof *url);
    errno = saved;
}

//  --------------------------------------------------------------------
//  Records

static void
s_cmd_free (s_cmd_t *cmd)
{
    free (cmd->argv);           //  One block with argvlen and the bytes
    free (cmd);
}

//  Copy argc arguments into one block (argv, then argvlen, then bytes).
static void
s_cmd_copy (s_cmd_t *cmd, size_t argc, const char *const *argv,
            const size_t *argvlen)
{
    size_t bytes = 0;
    for (size_t i = 0; i < argc; i++)
        bytes += argvlen [i] + 1;
    char *block =
        fy_xmalloc (argc * (sizeof (char *) + sizeof (size_t)) + bytes);
    cmd->argv = (const char **) block;
    cmd->argvlen = (size_t *) (block + argc * sizeof (char *));
    char *data = block + argc * (sizeof (char *) + sizeof (size_t));
    for (size_t i = 0; i < argc; i++) {
        memcpy (data, argv [i], argvlen [i]);
        data [argvlen [i]] = 0;
        cmd->argv [i] = data;
        cmd->argvlen [i] = argvlen [i];
        data += argvlen [i] + 1;
    }
    cmd->argc = argc;
}

//  The record of the next deadline, or NULL.
static s_cmd_t *
s_deadline_first (fy_redis_t *self)
{
    fy_link_t *link = fy_list_first (&self->cmds);
    return link ? fy_list_entry (link, s_cmd_t, link) : NULL;
}

//  The record next to send, or NULL.
static s_cmd_t *
s_queue_first (fy_redis_t *self)
{
    fy_link_t *link = fy_list_first (&self->queue);
    return link ? fy_list_entry (link, s_cmd_t, qlink) : NULL;
}

static void
s_dequeue (fy_redis_t *self, s_cmd_t *cmd)
{
    fy_list_unlink (&cmd->qlink);
    self->queued--;
}

static void
s_unlink (fy_redis_t *self, s_cmd_t *cmd)
{
    if (!cmd->sent)
        s_dequeue (self, cmd);
    fy_list_unlink (&cmd->link);
    self->pending--;
}

//  Hand the reply (or the failure's view) to the caller, then forget cmd.
static void
s_complete (fy_redis_t *self, s_cmd_t *cmd, const redisReply *reply)
{
    s_unlink (self, cmd);
    if (cmd->fn && !self->destroying)
        cmd->fn ((const fy_redis_reply_t *) reply, cmd->arg);
    s_cmd_free (cmd);
}

static void
s_fail (fy_redis_t *self, s_cmd_t *cmd, int error, const char *text)
{
    redisReply view = {
        .type = S_FAILED,
        .integer = error,
        .str = (char *) text,
        .len = strlen (text),
    };
    s_complete (self, cmd, &view);
}

//  Fail every queued record (AUTH or SELECT refused). Records the
//  callbacks queue meanwhile (ids from limit on) wait for the next
//  connection.
static void
s_fail_queued (fy_redis_t *self, int error, const char *text)
{
    uint64_t limit = self->next_id;
    s_cmd_t *cmd;
    while ((cmd = s_queue_first (self)) && cmd->id < limit)
        s_fail (self, cmd, error, text);
}

//  --------------------------------------------------------------------
//  The connection

static void
s_on_reply (redisAsyncContext *ac, void *reply, void *privdata);

static void
s_set_events (fy_redis_t *self, uint32_t events)
{
    if (!self->ac || events == self->events)
        return;
    self->events = events;
    struct epoll_event event = { .events = events, .data.fd = self->ac->c.fd };
    int rc = epoll_ctl (self->epfd, EPOLL_CTL_MOD, self->ac->c.fd, &event);
    assert (rc == 0);           //  The fd is ours and in the set
    (void) rc;
}

static void
s_ev_add_read (void *privdata)
{
    fy_redis_t *self = privdata;
    s_set_events (self, self->events | EPOLLIN);
}

static void
s_ev_del_read (void *privdata)
{
    fy_redis_t *self = privdata;
    s_set_events (self, self->events & ~(uint32_t) EPOLLIN);
}

static void
s_ev_add_write (void *privdata)
{
    fy_redis_t *self = privdata;
    s_set_events (self, self->events | EPOLLOUT);
}

static void
s_ev_del_write (void *privdata)
{
    fy_redis_t *self = privdata;
    s_set_events (self, self->events & ~(uint32_t) EPOLLOUT);
}

//  Record why this connection ended (the first reason only) and stop
//  sending on it: commands issued from now on wait for the next one.
static void
s_lost (fy_redis_t *self, const char *format, ...) FY_PRINTF (2, 3);

static void
s_lost (fy_redis_t *self, const char *format, ...)
{
    if (self->lost)
        return;
    self->lost = true;
    bool good =
        self->state == S_READY
        && fy_clock_mono_ms () - self->ready_since >= S_GOOD_CONNECTION_MS;
    self->attempt = good ? 0 : self->attempt + 1;
    self->state = S_IDLE;
    va_list args;
    va_start (args, format);
    vsnprintf (self->last_error, sizeof self->last_error, format, args);
    va_end (args);
}

static int64_t
s_backoff_ms (fy_redis_t *self)
{
    if (self->attempt == 0)
        return 0;
    return fy_backoff_equal_ms (&self->backoff, (int) self->attempt);
}

//  hiredis frees the context: on a broken connection, a failed connect,
//  or our redisAsyncFree. The sent commands' callbacks ran just before.
static void
s_ev_cleanup (void *privdata)
{
    fy_redis_t *self = privdata;
    redisAsyncContext *ac = self->ac;
    if (!ac)
        return;
    s_lost (self, "connection to %s lost: %s", self->where,
            ac->err ? ac->errstr : "closed");
    epoll_ctl (self->epfd, EPOLL_CTL_DEL, ac->c.fd, NULL);
    self->ac = NULL;
    self->events = 0;
    self->reset_pending = false;
    self->reconnect_at = fy_clock_mono_ms () + s_backoff_ms (self);
}

//  Drop the connection now; not from inside a hiredis callback.
static void
s_drop (fy_redis_t *self)
{
    if (self->ac)
        redisAsyncFree (self->ac);
}

static void
s_send (fy_redis_t *self, s_cmd_t *cmd, size_t argc, const char **argv,
        const size_t *argvlen)
{
    assert (self->ac);
    cmd->sent = true;
    if (redisAsyncCommandArgv (self->ac, s_on_reply, cmd, (int) argc, argv,
                               argvlen)
        != REDIS_OK)
        s_fail (self, cmd, EIO, "hiredis refused the command");
}

//  A subscriber's SUBSCRIBE answers (hiredis keeps calling the one
//  callback for the channel: the confirmation, then each message), and
//  NULL when the connection is freed.
static void
s_on_push (redisAsyncContext *ac, void *reply_p, void *privdata)
{
    (void) ac;
    fy_redis_t *self = privdata;
    const redisReply *reply = reply_p;
    if (!reply) {
        bool was_live = self->sub_live;
        self->sub_live = false;
        if (was_live && !self->destroying)
            self->sub_fn (FY_REDIS_SUB_LOST, NULL, NULL, 0, self->sub_arg);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3
        || reply->element [0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = reply->element [0]->str;
    if (strcmp (kind, "subscribe") == 0 && !self->sub_live) {
        self->sub_live = true;
        self->sub_fn (FY_REDIS_SUB_READY, NULL, NULL, 0, self->sub_arg);
    }
    else if (strcmp (kind, "message") == 0
             && reply->element [1]->type == REDIS_REPLY_STRING
             && reply->element [2]->type == REDIS_REPLY_STRING)
        self->sub_fn (FY_REDIS_SUB_MESSAGE, reply->element [1]->str,
                      reply->element [2]->str, reply->element [2]->len,
                      self->sub_arg);
}

static void
s_send_subscribe (fy_redis_t *self)
{
    const char *argv [2] = { "SUBSCRIBE", self->sub_channel };
    if (redisAsyncCommandArgv (self->ac, s_on_push, self, 2, argv, NULL)
        != REDIS_OK) {
        s_lost (self, "SUBSCRIBE on %s: hiredis refused it", self->where);
        self->reset_pending = true;
    }
}

//  Past AUTH and SELECT: send what waited, in order.
static void
s_ready (fy_redis_t *self)
{
    self->state = S_READY;
    self->ready_since = fy_clock_mono_ms ();
    self->connects++;
    if (self->sub_channel)
        s_send_subscribe (self);
    s_cmd_t *cmd;
    while (self->state == S_READY && self->ac && (cmd = s_queue_first (self))) {
        s_dequeue (self, cmd);
        //  hiredis formats the command into its buffer: only an EVAL
        //  keeps its copy, for the fallback. cmd may be gone after s_send.
        const char **copy = cmd->argv;
        const size_t *lens = cmd->argvlen;
        bool keep = cmd->kind == S_EVAL;
        if (!keep) {
            cmd->argv = NULL;
            cmd->argvlen = NULL;
        }
        s_send (self, cmd, cmd->argc, copy, lens);
        if (!keep)
            free (copy);
    }
}

static void
s_on_hello (redisAsyncContext *ac, void *reply_p, void *privdata)
{
    fy_redis_t *self = ac->data;
    const redisReply *reply = reply_p;
    //  No reply: the connection is going, s_ev_cleanup says why.
    if (!reply || self->state != S_HANDSHAKE)
        return;
    bool auth = privdata != NULL;
    if (reply->type == REDIS_REPLY_ERROR) {
        if (auth)
            s_lost (self, "AUTH to %s refused: %s", self->where, reply->str);
        else
            s_lost (self, "SELECT %d on %s refused: %s", self->url.db,
                    self->where, reply->str);
        self->reset_pending = true;
        s_fail_queued (self, auth ? EACCES : EINVAL, self->last_error);
        return;
    }
    if (--self->hello_left == 0)
        s_ready (self);
}

static void
s_on_connect (const redisAsyncContext *ac, int status)
{
    fy_redis_t *self = ac->data;
    if (status != REDIS_OK) {
        s_lost (self, "connect to %s: %s", self->where, ac->errstr);
        return;
    }
    self->state = S_HANDSHAKE;
    self->hello_left = 0;
    redisAsyncContext *ctx = self->ac;
    if (self->url.password) {
        const char *argv [3] = { "AUTH" };
        size_t argc = 1;
        if (self->url.user)
            argv [argc++] = self->url.user;
        argv [argc++] = self->url.password;
        if (redisAsyncCommandArgv (ctx, s_on_hello, (void *) 1, (int) argc,
                                   argv, NULL)
            == REDIS_OK)
            self->hello_left++;
    }
    if (self->url.db) {
        char db [16];
        snprintf (db, sizeof db, "%d", self->url.db);
        const char *argv [2] = { "SELECT", db };
        if (redisAsyncCommandArgv (ctx, s_on_hello, NULL, 2, argv, NULL)
            == REDIS_OK)
            self->hello_left++;
    }
    if (self->hello_left == 0)
        s_ready (self);
}

static void
s_connect (fy_redis_t *self)
{
    assert (!self->ac);
    self->reconnect_at = -1;
    self->lost = false;
    self->state = S_CONNECTING;
    self->connect_deadline =
        fy_clock_mono_ms () + self->options.connect_timeout_ms;
    redisAsyncContext *ac =
        self->url.path ? redisAsyncConnectUnix (self->url.path)
                       : redisAsyncConnect (self->url.host, self->url.port);
    assert (ac);  //  NULL only on out-of-memory
    if (ac->err) {
        s_lost (self, "connect to %s: %s", self->where, ac->errstr);
        redisAsyncFree (ac);
        self->reconnect_at = fy_clock_mono_ms () + s_backoff_ms (self);
        return;
    }
    struct epoll_event event = { .events = 0, .data.fd = ac->c.fd };
    if (epoll_ctl (self->epfd, EPOLL_CTL_ADD, ac->c.fd, &event)) {
        s_lost (self, "connect to %s: epoll: %s", self->where,
                strerror (errno));
        redisAsyncFree (ac);
        self->reconnect_at = fy_clock_mono_ms () + s_backoff_ms (self);
        return;
    }
    self->ac = ac;
    self->events = 0;
    ac->data = self;
    ac->ev.data = self;
    ac->ev.addRead = s_ev_add_read;
    ac->ev.delRead = s_ev_del_read;
    ac->ev.addWrite = s_ev_add_write;
    ac->ev.delWrite = s_ev_del_write;
    ac->ev.cleanup = s_ev_cleanup;
    //  After the hooks: setting it asks for the first write event.
    redisAsyncSetConnectCallback (ac, s_on_connect);
}

//  --------------------------------------------------------------------
//  Replies

static void
s_on_reply (redisAsyncContext *ac, void *reply_p, void *privdata)
{
    s_cmd_t *cmd = privdata;
    fy_redis_t *self = cmd->client;
    const redisReply *reply = reply_p;
    if (!reply) {
        s_lost (self, "connection to %s lost: %s", self->where,
                ac->err ? ac->errstr : "reset");
        if (cmd->timed_out) {
            char text [80];
            snprintf (text, sizeof text, "no reply within %lld ms",
                      (long long) cmd->timeout_ms);
            s_fail (self, cmd, ETIMEDOUT, text);
        }
        else
            s_fail (self, cmd, ECONNRESET, self->last_error);
        return;
    }
    if (cmd->kind == S_EVAL && !cmd->fell_back
        && reply->type == REDIS_REPLY_ERROR
        && strncmp (reply->str, "NOSCRIPT", 8) == 0 && self->state == S_READY) {
        //  The server lost the script (restart, SCRIPT FLUSH): EVAL
        //  runs it and loads it for the next EVALSHA.
        cmd->fell_back = true;
        self->fallbacks++;
        cmd->argv [0] = "EVAL";
        cmd->argvlen [0] = 4;
        cmd->argv [1] = cmd->script->lua;
        cmd->argvlen [1] = strlen (cmd->script->lua);
        if (redisAsyncCommandArgv (ac, s_on_reply, cmd, (int) cmd->argc,
                                   cmd->argv, cmd->argvlen)
            == REDIS_OK)
            return;
    }
    s_complete (self, cmd, reply);
}

//  --------------------------------------------------------------------
//  The client

fy_redis_t *
fy_redis_new (const char *url, const fy_redis_options_t *options,
              fy_error_t *err)
{
    fy_redis_options_t defaults;
    if (!options) {
        fy_redis_options_default (&defaults);
        options = &defaults;
    }
    if (options->timeout_ms <= 0 || options->connect_timeout_ms <= 0
        || options->reconnect_min_ms <= 0
        || options->reconnect_max_ms < options->reconnect_min_ms) {
        fy_error_set (err, "redis: timeouts must be positive and "
                           "reconnect_max_ms at least reconnect_min_ms");
        errno = EINVAL;
        return NULL;
    }
    fy_redis_t *self = fy_xcalloc (1, sizeof *self);
    self->options = *options;
    self->next_id = 1;
    fy_list_init (&self->cmds);
    fy_list_init (&self->queue);
    self->reconnect_at = -1;
    fy_backoff_init (&self->backoff, options->reconnect_min_ms,
                     options->reconnect_max_ms);
    self->epfd = epoll_create1 (EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        fy_error_set (err, "redis: epoll_create1: %s", strerror (errno));
        goto fail;
    }
    if (fy_redis_url_parse (url, &self->url, err))
        goto fail;
    if (self->url.path)
        snprintf (self->where, sizeof self->where, "%s", self->url.path);
    else
        snprintf (self->where, sizeof self->where,
                  strchr (self->url.host, ':') ? "[%s]:%d" : "%s:%d",
                  self->url.host, self->url.port);
    s_connect (self);
    return self;
fail:
    fy_redis_destroy (&self);
    return NULL;
}

void
fy_redis_destroy (fy_redis_t **self_p)
{
    assert (self_p);
    fy_redis_t *self = *self_p;
    if (!self)
        return;
    int saved = errno;
    self->destroying = true;
    //  Sent records are freed by their callbacks, NULL reply, no call.
    s_drop (self);
    s_cmd_t *cmd;
    while ((cmd = s_deadline_first (self))) {
        s_unlink (self, cmd);
        s_cmd_free (cmd);
    }
    while (self->scripts) {
        fy_redis_script_t *script = self->scripts;
        self->scripts = script->next;
        free (script->lua);
        free (script);
    }
    fy_redis_url_clear (&self->url);
    free (self->sub_channel);
    if (self->epfd >= 0)
        close (self->epfd);
    free (self);
    *self_p = NULL;
    errno = saved;
}

int
fy_redis_fd (fy_redis_t *self)
{
    assert (self);
    return self->epfd;
}

int64_t
fy_redis_timeout_ms (fy_redis_t *self)
{
    assert (self);
    s_cmd_t *first = s_deadline_first (self);
    int64_t deadline = first ? first->deadline : -1;
    int64_t other = -1;
    if (self->reset_pending)
        other = 0;
    else if (!self->ac)
        other = self->reconnect_at;
    else if (self->state == S_CONNECTING || self->state == S_HANDSHAKE)
        other = self->connect_deadline;
    if (other >= 0 && (deadline < 0 || other < deadline))
        deadline = other;
    if (deadline < 0)
        return -1;
    int64_t left = deadline - fy_clock_mono_ms ();
    return left > 0 ? left : 0;
}

//  hiredis writes with write(2): a peer that went away raises SIGPIPE,
//  which would kill a program that did not ignore it. Block it around the
//  write and take back the one the write raised, as libpq does, so the
//  library needs nothing from the program's signal set-up.
static void
s_handle_write (redisAsyncContext *ac)
{
    sigset_t pipe_set, old, pending;
    sigemptyset (&pipe_set);
    sigaddset (&pipe_set, SIGPIPE);
    pthread_sigmask (SIG_BLOCK, &pipe_set, &old);
    sigpending (&pending);
    bool was_pending = sigismember (&pending, SIGPIPE);
    redisAsyncHandleWrite (ac);
    if (!was_pending) {
        sigpending (&pending);
        if (sigismember (&pending, SIGPIPE)) {
            struct timespec now = { 0, 0 };
            sigtimedwait (&pipe_set, NULL, &now);
        }
    }
    pthread_sigmask (SIG_SETMASK, &old, NULL);
}

static void
s_io (fy_redis_t *self)
{
    struct epoll_event events [4];
    int count = epoll_wait (self->epfd, events, 4, 0);
    for (int i = 0; i < count; i++) {
        redisAsyncContext *ac = self->ac;
        if (!ac || events [i].data.fd != ac->c.fd)
            continue;
        //  A failed connect shows as ERR/HUP: the read handler checks
        //  the connect first and frees the context, so no write follows.
        if (events [i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            redisAsyncHandleRead (ac);
        if (self->ac == ac && (events [i].events & EPOLLOUT))
            s_handle_write (ac);
    }
}

void
fy_redis_run (fy_redis_t *self)
{
    assert (self);
    s_io (self);
    if (self->reset_pending)
        s_drop (self);
    int64_t now = fy_clock_mono_ms ();
    if (self->ac && (self->state == S_CONNECTING || self->state == S_HANDSHAKE)
        && now >= self->connect_deadline) {
        s_lost (self, "connect to %s: no answer within %lld ms", self->where,
                (long long) self->options.connect_timeout_ms);
        s_drop (self);
    }
    s_cmd_t *cmd;
    while ((cmd = s_deadline_first (self)) && cmd->deadline <= now) {
        if (cmd->sent) {
            //  Its reply may still come: only a new connection is safe.
            //  Dropping it calls back every command sent on it, this one
            //  with ETIMEDOUT.
            uint64_t id = cmd->id;
            cmd->timed_out = true;
            s_lost (self,
                    "connection to %s reset: a command had no reply "
                    "within %lld ms",
                    self->where, (long long) cmd->timeout_ms);
            s_drop (self);
            cmd = s_deadline_first (self);
            if (cmd && cmd->id == id)
                s_fail (self, cmd, ETIMEDOUT, "no reply in time");
        }
        else
            s_fail (self, cmd, ETIMEDOUT, "no connection to redis in time");
    }
    if (!self->ac && self->reconnect_at >= 0 && now >= self->reconnect_at)
        s_connect (self);
}

FY_LOOP_FD_CLASS (fy_redis_t, fy_redis)

int
fy_redis_wait (fy_redis_t *self, int64_t timeout_ms)
{
    assert (self);
    if (fy_wait_fd (self->epfd, fy_redis_timeout_ms (self), timeout_ms))
        return -1;
    fy_redis_run (self);
    return 0;
}

static int
s_wait (void *self, int64_t timeout_ms)
{
    return fy_redis_wait (self, timeout_ms);
}

int
fy_redis_run_until (fy_redis_t *self, fy_redis_until_fn *done, void *arg,
                    int64_t timeout_ms)
{
    assert (self);
    return fy_wait_until (s_wait, self, done, arg, timeout_ms);
}

bool
fy_redis_connected (fy_redis_t *self)
{
    assert (self);
    return self->ac && self->state == S_READY;
}

size_t
fy_redis_pending (fy_redis_t *self)
{
    assert (self);
    return self->pending;
}

const char *
fy_redis_last_error (fy_redis_t *self)
{
    assert (self);
    return self->last_error;
}

size_t
fy_redis_connects (fy_redis_t *self)
{
    assert (self);
    return self->connects;
}

size_t
fy_redis_script_fallbacks (fy_redis_t *self)
{
    assert (self);
    return self->fallbacks;
}

//  --------------------------------------------------------------------
//  Subscriptions

int
fy_redis_subscribe (fy_redis_t *self, const char *channel,
                    fy_redis_message_fn *fn, void *arg, fy_error_t *err)
{
    assert (self);
    assert (channel);
    assert (fn);
    if (self->sub_channel || self->pending) {
        fy_error_set (err, "redis: SUBSCRIBE needs a client of its own, "
                           "with no command pending");
        errno = EINVAL;
        return -1;
    }
    self->sub_channel = fy_xstrdup (channel);
    self->sub_fn = fn;
    self->sub_arg = arg;
    if (self->state == S_READY && self->ac)
        s_send_subscribe (self);
    return 0;
}

bool
fy_redis_is_subscribed (fy_redis_t *self)
{
    assert (self);
    return self->sub_live;
}

//  --------------------------------------------------------------------
//  Commands

//  Commands that make the connection a push channel, whose replies no
//  longer pair one-to-one with requests.
static bool
s_is_push (const char *name, size_t len)
{
    static const char *const names [] = { "SUBSCRIBE", "PSUBSCRIBE",
                                          "SSUBSCRIBE", "MONITOR" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        if (len == strlen (names [i])
            && strncasecmp (name, names [i], len) == 0)
            return true;
    return false;
}

static int
s_issue (fy_redis_t *self, s_kind_t kind, fy_redis_script_t *script,
         int64_t timeout_ms, size_t argc, const char *const *argv,
         const size_t *argvlen, fy_redis_fn *fn, void *arg, uint64_t *id_p,
         fy_error_t *err)
{
    if (argc == 0 || argc > INT_MAX || !argv) {
        fy_error_set (err, "redis: a command needs arguments");
        errno = EINVAL;
        return -1;
    }
    size_t *lens = NULL;
    if (!argvlen) {
        lens = fy_xmalloc (argc * sizeof *lens);
        for (size_t i = 0; i < argc; i++)
            lens [i] = strlen (argv [i]);
        argvlen = lens;
    }
    int rc = -1;
    if (self->sub_channel) {
        fy_error_set (err, "redis: a subscriber client sends no commands");
        errno = EINVAL;
        goto out;
    }
    if (s_is_push (argv [0], argvlen [0])) {
        fy_error_set (err,
                      "redis: %.*s is not supported (replies would no "
                      "longer pair with commands)",
                      (int) argvlen [0], argv [0]);
        errno = EINVAL;
        goto out;
    }
    bool direct = fy_redis_connected (self) && fy_list_is_empty (&self->queue);
    if (!direct && self->queued >= self->options.max_queued) {
        fy_error_set (err,
                      "redis: %zu commands already wait for a "
                      "connection (%s)",
                      self->queued,
                      *self->last_error ? self->last_error : "connecting");
        errno = EAGAIN;
        goto out;
    }
    s_cmd_t *cmd = fy_xcalloc (1, sizeof *cmd);
    cmd->client = self;
    cmd->id = self->next_id++;
    cmd->kind = kind;
    cmd->script = script;
    cmd->fn = fn;
    cmd->arg = arg;
    cmd->timeout_ms = timeout_ms > 0 ? timeout_ms : self->options.timeout_ms;
    cmd->deadline = fy_clock_mono_ms () + cmd->timeout_ms;
    //  Into the deadline list, from the tail: nearly always right there.
    fy_link_t *after = self->cmds.prev;
    while (after != &self->cmds
           && fy_list_entry (after, s_cmd_t, link)->deadline > cmd->deadline)
        after = after->prev;
    fy_list_insert (after, &cmd->link);
    self->pending++;
    if (id_p)
        *id_p = cmd->id;
    if (kind == S_EVAL || !direct)
        s_cmd_copy (cmd, argc, argv, argvlen);
    if (direct)
        s_send (self, cmd, argc,
                kind == S_EVAL ? cmd->argv : (const char **) argv, argvlen);
    else {
        fy_list_push_back (&self->queue, &cmd->qlink);
        self->queued++;
    }
    rc = 0;
out:
    free (lens);
    return rc;
}

int
fy_redis_command (fy_redis_t *self, size_t argc, const char *const *argv,
                  const size_t *argvlen, fy_redis_fn *fn, void *arg,
                  uint64_t *id_p, fy_error_t *err)
{
    assert (self);
    return s_issue (self, S_USER, NULL, 0, argc, argv, argvlen, fn, arg, id_p,
                    err);
}

int
fy_redis_command_timeout (fy_redis_t *self, int64_t timeout_ms, size_t argc,
                          const char *const *argv, const size_t *argvlen,
                          fy_redis_fn *fn, void *arg, uint64_t *id_p,
                          fy_error_t *err)
{
    assert (self);
    return s_issue (self, S_USER, NULL, timeout_ms, argc, argv, argvlen, fn,
                    arg, id_p, err);
}

int
fy_redis_commandl (fy_redis_t *self, fy_redis_fn *fn, void *arg, uint64_t *id_p,
                   fy_error_t *err, const char *arg0, ...)
{
    assert (self);
    va_list args;
    size_t argc = 0;
    va_start (args, arg0);
    for (const char *next = arg0; next; next = va_arg (args, const char *))
        argc++;
    va_end (args);
    const char **argv = fy_xmalloc ((argc ? argc : 1) * sizeof *argv);
    va_start (args, arg0);
    size_t i = 0;
    for (const char *next = arg0; next; next = va_arg (args, const char *))
        argv [i++] = next;
    va_end (args);
    int rc =
        s_issue (self, S_USER, NULL, 0, argc, argv, NULL, fn, arg, id_p, err);
    free (argv);
    return rc;
}

bool
fy_redis_cancel (fy_redis_t *self, uint64_t id)
{
    assert (self);
    s_cmd_t *cmd;
    fy_list_each (cmd, &self->cmds, s_cmd_t, link)
    {
        if (cmd->id != id)
            continue;
        if (!cmd->fn)
            return false;
        if (cmd->sent)
            cmd->fn = NULL;  //  Its callback frees it, uncalled
        else {
            s_unlink (self, cmd);
            s_cmd_free (cmd);
        }
        return true;
    }
    return false;
}

//  --------------------------------------------------------------------
//  Scripts

fy_redis_script_t *
fy_redis_script_new (fy_redis_t *self, const char *lua)
{
    assert (self);
    assert (lua);
    for (fy_redis_script_t *script = self->scripts; script;
         script = script->next)
        if (strcmp (script->lua, lua) == 0)
            return script;
    fy_redis_script_t *script = fy_xcalloc (1, sizeof *script);
    script->client = self;
    script->lua = fy_xstrdup (lua);
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int rc = EVP_Digest (lua, strlen (lua), md, &md_len, EVP_sha1 (), NULL);
    assert (rc == 1 && md_len == 20);
    (void) rc;
    for (unsigned i = 0; i < md_len; i++)
        snprintf (script->sha + 2 * i, 3, "%02x", md [i]);
    script->next = self->scripts;
    self->scripts = script;
    return script;
}

const char *
fy_redis_script_sha (fy_redis_script_t *script)
{
    assert (script);
    return script->sha;
}

int
fy_redis_eval (fy_redis_script_t *script, size_t numkeys, size_t argc,
               const char *const *argv, const size_t *argvlen, fy_redis_fn *fn,
               void *arg, uint64_t *id_p, fy_error_t *err)
{
    assert (script);
    if (numkeys > argc || (argc && !argv)) {
        fy_error_set (err, "redis: %zu keys of %zu arguments", numkeys, argc);
        errno = EINVAL;
        return -1;
    }
    char keys [24];
    snprintf (keys, sizeof keys, "%zu", numkeys);
    const char **full = fy_xmalloc ((argc + 3) * sizeof *full);
    size_t *lens = fy_xmalloc ((argc + 3) * sizeof *lens);
    full [0] = "EVALSHA";
    full [1] = script->sha;
    full [2] = keys;
    for (size_t i = 0; i < 3; i++)
        lens [i] = strlen (full [i]);
    for (size_t i = 0; i < argc; i++) {
        full [i + 3] = argv [i];
        lens [i + 3] = argvlen ? argvlen [i] : strlen (argv [i]);
    }
    int rc = s_issue (script->client, S_EVAL, script, 0, argc + 3, full, lens,
                      fn, arg, id_p, err);
    free (full);
    free (lens);
    return rc;
}

//  --------------------------------------------------------------------
//  Replies: the public view is hiredis's redisReply itself (or, for a
//  failure, one on the stack of type S_FAILED with the errno in integer
//  and the text in str), so array elements are views with no copying.

static const redisReply *
s_reply (const fy_redis_reply_t *reply)
{
    assert (reply);
    return (const redisReply *) reply;
}

fy_redis_type_t
fy_redis_reply_type (const fy_redis_reply_t *reply)
{
    switch (s_reply (reply)->type) {
        case REDIS_REPLY_STRING:
            return FY_REDIS_STRING;
        case REDIS_REPLY_ARRAY:
            return FY_REDIS_ARRAY;
        case REDIS_REPLY_INTEGER:
            return FY_REDIS_INTEGER;
        case REDIS_REPLY_NIL:
            return FY_REDIS_NIL;
        case REDIS_REPLY_STATUS:
            return FY_REDIS_STATUS;
        case REDIS_REPLY_ERROR:
            return FY_REDIS_ERROR;
        default:
            return FY_REDIS_FAILED;
    }
}

int
fy_redis_reply_errno (const fy_redis_reply_t *reply)
{
    const redisReply *r = s_reply (reply);
    return r->type == S_FAILED ? (int) r->integer : 0;
}

int64_t
fy_redis_reply_integer (const fy_redis_reply_t *reply)
{
    const redisReply *r = s_reply (reply);
    return r->type == REDIS_REPLY_INTEGER ? (int64_t) r->integer : 0;
}

const char *
fy_redis_reply_string (const fy_redis_reply_t *reply, size_t *len)
{
    const redisReply *r = s_reply (reply);
    bool has = r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS
               || r->type == REDIS_REPLY_ERROR;
    if (len)
        *len = has ? r->len : 0;
    return has ? r->str : NULL;
}

size_t
fy_redis_reply_size (const fy_redis_reply_t *reply)
{
    const redisReply *r = s_reply (reply);
    return r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

const fy_redis_reply_t *
fy_redis_reply_element (const fy_redis_reply_t *reply, size_t index)
{
    const redisReply *r = s_reply (reply);
    assert (r->type == REDIS_REPLY_ARRAY && index < r->elements);
    return (const fy_redis_reply_t *) r->element [index];
}

const char *
fy_redis_reply_error (const fy_redis_reply_t *reply)
{
    const redisReply *r = s_reply (reply);
    return r->type == S_FAILED || r->type == REDIS_REPLY_ERROR ? r->str : NULL;
}

int
fy_redis_reply_parse (const void *data, size_t len, fy_redis_fn *fn, void *arg,
                      size_t *used_p)
{
    assert (data || len == 0);
    assert (fn);
    redisReader *reader = redisReaderCreate ();
    assert (reader);
    int rc = -1;
    void *reply = NULL;
    if (redisReaderFeed (reader, data, len) != REDIS_OK
        || redisReaderGetReply (reader, &reply) != REDIS_OK) {
        errno = EPROTO;
        goto out;
    }
    if (!reply) {
        errno = EAGAIN;
        goto out;
    }
    if (used_p)
        *used_p = len - (reader->len - reader->pos);
    fn ((const fy_redis_reply_t *) reply, arg);
    rc = 0;
out:
    if (reply)
        freeReplyObject (reply);
    redisReaderFree (reader);
    return rc;
}
