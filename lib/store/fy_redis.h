/*  fy_redis: an asynchronous Redis client on hiredis, driven by the
    caller's single-threaded loop exactly like fy_http_client: it exposes
    one file descriptor (an epoll set holding the connection's socket,
    stable across reconnects) and a timeout; the loop polls the fd for
    input and calls fy_redis_run when it is readable or the timeout
    expires. Every completion callback runs inside fy_redis_run, on the
    loop's thread.

    The client keeps one connection and pipelines over it: any number of
    commands may be in flight. It connects without blocking (but for DNS,
    which hiredis resolves with getaddrinfo), sends AUTH and SELECT on
    every connection before anything else, and reconnects by itself with a
    capped backoff. Every command completes exactly once: with a reply,
    or with an errno when the connection broke (ECONNRESET), the command
    timed out (ETIMEDOUT), the queue was full (EAGAIN, at issue) or AUTH
    was refused (EACCES). doc/redis.md tells the whole story.

    Not thread-safe: one loop owns the client, its commands and scripts. */
#ifndef FY_REDIS_H_INCLUDED
#define FY_REDIS_H_INCLUDED

#include "core/fy_loop.h"
#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_redis fy_redis_t;
//  A reply as the callback sees it: owned by the library, valid only
//  during the callback (copy what must outlive it).
typedef struct fy_redis_reply fy_redis_reply_t;
//  A Lua script the client runs with EVALSHA; owned by the client.
typedef struct fy_redis_script fy_redis_script_t;

//  Called exactly once per command: with the reply, or with a view whose
//  type is FY_REDIS_FAILED and whose errno says why none came. Not called
//  for a command cancelled with fy_redis_cancel or still pending when the
//  client is destroyed. May issue and cancel commands; must not destroy
//  the client nor run it (fy_redis_wait).
typedef void (fy_redis_fn) (const fy_redis_reply_t *reply, void *arg);

typedef struct {
    //  A command that has no reply this long after it was issued (queue
    //  time included) completes with ETIMEDOUT; if it was already sent,
    //  the connection is reset, since its reply would otherwise arrive
    //  for the command after it. Default 5000.
    int64_t timeout_ms;
    //  Connecting, AUTH and SELECT together. Default 2000.
    int64_t connect_timeout_ms;
    //  Reconnect backoff: the first retry after a connection that worked
    //  is at once, then min_ms doubling up to max_ms, each with up to
    //  half of it taken off at random so that a pool of workers does not
    //  reconnect in step. Defaults 100 and 5000.
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    //  Commands held while there is no ready connection; one more fails
    //  with EAGAIN. Default 10000.
    size_t max_queued;
} fy_redis_options_t;

//  Fill options with the defaults above.
void
fy_redis_options_default (fy_redis_options_t *options);

//  --- URLs

//  A parsed REDIS_URL. Strings are owned by the struct (fy_redis_url_clear).
typedef struct {
    char *host;                 //  TCP host (IPv6 without brackets), or NULL
    int port;                   //  TCP port, default 6379
    char *path;                 //  Unix socket path, or NULL
    char *user;                 //  ACL user, or NULL (AUTH password)
    char *password;             //  NULL: no AUTH
    int db;                     //  SELECT db when not 0
} fy_redis_url_t;

//  Parse redis://[[user]:password@]host[:port][/db] or
//  unix://[[user]:password@]/path[?db=N], strictly: user and password are
//  percent-decoded, host is a name, an IPv4 address or [IPv6], port
//  1-65535, db a decimal number; anything else (rediss://, a query on
//  redis://, a fragment, userinfo without ':') is refused. Returns 0, or
//  -1 with errno EINVAL and err naming what is wrong (never quoting the
//  password). *url is cleared first; clear it after.
int
fy_redis_url_parse (const char *text, fy_redis_url_t *url,
                    fy_error_t *err) FY_MUSTCHECK;

//  Free the strings of url (the password wiped first) and zero it.
void
fy_redis_url_clear (fy_redis_url_t *url);

//  --- The client

//  Create a client for url (fy_redis_url_parse) and start connecting.
//  options may be NULL for the defaults. Returns NULL with errno EINVAL
//  and err filled when the URL or an option is bad; a server that does
//  not answer is no error here (commands wait, queued, for it).
fy_redis_t *
fy_redis_new (const char *url, const fy_redis_options_t *options,
              fy_error_t *err);

//  Close the connection and free everything. Pending commands' callbacks
//  are not called. Sets *self_p to NULL. Safe on NULL. Must not be called
//  from a callback.
void
fy_redis_destroy (fy_redis_t **self_p);

//  The fd to poll for input (POLLIN / ZMQ_POLLIN). Owned by the client.
int
fy_redis_fd (fy_redis_t *self);

//  Milliseconds until fy_redis_run must be called even if the fd stays
//  quiet; -1 when there is nothing to wait for, 0 for now. Issuing a
//  command changes it: ask again after one.
int64_t
fy_redis_timeout_ms (fy_redis_t *self);

//  Do all pending work without blocking: read and write the socket,
//  complete commands, expire timeouts, reconnect when due.
void
fy_redis_run (fy_redis_t *self);

//  Attach the client to loop: its fd, timeout and run, through core's
//  fy_loop. fy_loop_detach the source before destroying the client.
fy_loop_source_t *
fy_redis_attach (fy_redis_t *self, zloop_t *loop);

//  Poll the fd for at most timeout_ms (-1: no limit besides the client's
//  own timeout) and run once. For programs and tests without a loop of
//  their own. Returns 0, or -1 with errno set if poll failed.
int
fy_redis_wait (fy_redis_t *self, int64_t timeout_ms) FY_MUSTCHECK;

//  Wait and run until done (arg) is true or timeout_ms passed. Returns 0;
//  -1 with errno ETIMEDOUT, or from poll.
typedef bool (fy_redis_until_fn) (void *arg);
int
fy_redis_run_until (fy_redis_t *self, fy_redis_until_fn *done, void *arg,
                    int64_t timeout_ms) FY_MUSTCHECK;

//  True when a connection is up and past AUTH and SELECT.
bool
fy_redis_connected (fy_redis_t *self);

//  Commands issued and not yet completed (queued, or sent and waiting
//  for their reply), cancelled ones still on the wire included.
size_t
fy_redis_pending (fy_redis_t *self);

//  Why the last connection failed or ended ("connect: Connection
//  refused", "AUTH: WRONGPASS ..."), "" while none did. Never holds the
//  password. Borrowed.
const char *
fy_redis_last_error (fy_redis_t *self);

//  Connections made (past AUTH and SELECT) since the client was created.
size_t
fy_redis_connects (fy_redis_t *self);

//  --- Commands

//  Issue a command of argc arguments, argv [i] being argvlen [i] bytes
//  (binary-safe; argvlen NULL takes strlen of each). The arguments are
//  copied. fn is called with arg when it completes. Sent at once when the
//  connection is ready, else queued and sent, in order, after the next
//  connection's AUTH and SELECT. *id_p (if not NULL) gets the command's
//  id for fy_redis_cancel, never 0 and never re-used. Returns 0, or -1
//  with errno and err (fn is then not called): EAGAIN when max_queued
//  commands already wait for a connection, EINVAL for no arguments or a
//  command that turns the connection into a push channel (SUBSCRIBE,
//  PSUBSCRIBE, SSUBSCRIBE, MONITOR; fy_redis_subscribe does SUBSCRIBE), or
//  any command on a subscriber client.
int
fy_redis_command (fy_redis_t *self, size_t argc, const char *const *argv,
                  const size_t *argvlen, fy_redis_fn *fn, void *arg,
                  uint64_t *id_p, fy_error_t *err) FY_MUSTCHECK;

//  The same with its own timeout in milliseconds (0: the default), for a
//  command the server may hold (BLPOP, WAIT) or one that must be quick.
int
fy_redis_command_timeout (fy_redis_t *self, int64_t timeout_ms, size_t argc,
                          const char *const *argv, const size_t *argvlen,
                          fy_redis_fn *fn, void *arg, uint64_t *id_p,
                          fy_error_t *err) FY_MUSTCHECK;

//  A command of NUL-terminated strings given as a list ended by NULL:
//  fy_redis_commandl (r, fn, arg, NULL, NULL, "GET", key, NULL).
int
fy_redis_commandl (fy_redis_t *self, fy_redis_fn *fn, void *arg, uint64_t *id_p,
                   fy_error_t *err, const char *arg0, ...)
    __attribute__ ((sentinel)) FY_MUSTCHECK;

//  Forget command id: its callback will not be called. A command already
//  sent still takes its place on the wire until its reply (or the end of
//  the connection). Returns true if it was pending.
bool
fy_redis_cancel (fy_redis_t *self, uint64_t id);

//  --- Subscriptions

//  What a subscriber hears (fy_redis_subscribe).
typedef enum {
    FY_REDIS_SUB_READY,         //  Subscribed on a new connection: messages
                                //  published from now on arrive
    FY_REDIS_SUB_MESSAGE,       //  A message: channel and data
    FY_REDIS_SUB_LOST           //  The connection ended: messages published
                                //  until the next READY are missed
} fy_redis_sub_event_t;

//  channel and data (len bytes, NULs allowed) are set for a MESSAGE only
//  (NULL otherwise), borrowed for the call. May issue nothing on this
//  client; must not destroy it nor run it.
typedef void (fy_redis_message_fn) (fy_redis_sub_event_t event,
                                    const char *channel, const char *data,
                                    size_t len, void *arg);

//  Make the client a subscriber of channel: it sends SUBSCRIBE channel on
//  every connection (after AUTH and SELECT) and calls fn with arg for
//  each event above, READY once per connection before its messages, LOST
//  once when that connection ends (it then reconnects as for commands).
//  A subscriber connection carries nothing else: fy_redis_command and
//  fy_redis_eval on this client fail with EINVAL from then on. Returns 0,
//  or -1 with errno EINVAL and err when the client has commands pending
//  or is a subscriber already.
int
fy_redis_subscribe (fy_redis_t *self, const char *channel,
                    fy_redis_message_fn *fn, void *arg,
                    fy_error_t *err) FY_MUSTCHECK;

//  True while the subscription is live (between READY and LOST).
bool
fy_redis_is_subscribed (fy_redis_t *self);

//  --- Scripts

//  The script of Lua text (copied), owned by the client and valid until
//  it is destroyed; the same text gives the same script. Nothing is sent
//  until the first fy_redis_eval.
fy_redis_script_t *
fy_redis_script_new (fy_redis_t *self, const char *lua);

//  The script's SHA-1 in hex, as SCRIPT LOAD answers it. Borrowed.
const char *
fy_redis_script_sha (fy_redis_script_t *script);

//  Run script with numkeys keys followed by the other arguments in argv
//  (argc in all, argvlen as in fy_redis_command): EVALSHA, and EVAL with
//  the same arguments when the server answers NOSCRIPT (a new or
//  restarted server, SCRIPT FLUSH), which loads it for the next EVALSHA.
//  fn sees the script's answer once, whichever ran it; a fallback runs
//  after the commands issued before it was needed. Returns and fails as
//  fy_redis_command; also EINVAL when numkeys > argc.
int
fy_redis_eval (fy_redis_script_t *script, size_t numkeys, size_t argc,
               const char *const *argv, const size_t *argvlen, fy_redis_fn *fn,
               void *arg, uint64_t *id_p, fy_error_t *err) FY_MUSTCHECK;

//  EVALSHA answers of NOSCRIPT that were retried as EVAL.
size_t
fy_redis_script_fallbacks (fy_redis_t *self);

//  --- Replies, valid during the callback

typedef enum {
    FY_REDIS_FAILED = 0,        //  No reply: see fy_redis_reply_errno
    FY_REDIS_STRING,            //  Bulk string
    FY_REDIS_ARRAY,
    FY_REDIS_INTEGER,
    FY_REDIS_NIL,
    FY_REDIS_STATUS,            //  Simple string: "OK", "PONG", "QUEUED"
    FY_REDIS_ERROR              //  The server's error reply: "ERR ..."
} fy_redis_type_t;

fy_redis_type_t
fy_redis_reply_type (const fy_redis_reply_t *reply);

//  0 when the server answered (an error reply too), else why it did not:
//  ECONNRESET (the connection ended with the command sent or about to
//  be), ETIMEDOUT, EACCES (AUTH refused), EINVAL (SELECT refused), EIO.
int
fy_redis_reply_errno (const fy_redis_reply_t *reply);

//  The integer of an INTEGER reply, 0 for any other.
int64_t
fy_redis_reply_integer (const fy_redis_reply_t *reply);

//  The bytes of a STRING, STATUS or ERROR reply (NUL-terminated, the NUL
//  not counted in *len), NULL for any other type. len may be NULL.
//  Borrowed.
const char *
fy_redis_reply_string (const fy_redis_reply_t *reply, size_t *len);

//  The number of elements of an ARRAY reply, 0 for any other.
size_t
fy_redis_reply_size (const fy_redis_reply_t *reply);

//  Element index (< fy_redis_reply_size) of an ARRAY reply. Borrowed.
const fy_redis_reply_t *
fy_redis_reply_element (const fy_redis_reply_t *reply, size_t index);

//  NULL when the command worked; else the server's error text (ERROR) or
//  what went wrong (FAILED). Borrowed.
const char *
fy_redis_reply_error (const fy_redis_reply_t *reply);

//  Parse the one RESP reply at the start of data (len bytes) and hand its
//  view to fn: for tests and tools that replay captured replies. *used_p
//  (if not NULL) gets the bytes it took. Returns 0; -1 with errno EAGAIN
//  when data holds no whole reply, EPROTO when it is not RESP.
int
fy_redis_reply_parse (const void *data, size_t len, fy_redis_fn *fn, void *arg,
                      size_t *used_p) FY_MUSTCHECK;

#ifdef __cplusplus
}
#endif
#endif
