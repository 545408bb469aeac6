/*  bench_auth: POST /auth/validate through the broker's HTTP endpoint,
    against the stack's Redis (REDIS_URL): a real ferry-broker and one
    ferry-auth process, a session made by a user.login sent through
    POST /events, and a valid HS256 user token of it.

    auth_validate: validations/s at 64 keep-alive connections from one
    client of this program (one thread, epoll, plain HTTP/1.1, a request
    at a time per connection). Limit: GET /health on the same endpoint,
    same client, same run (the broker answers it itself). Floor: 0.3.
    Best of two rounds each, alternating, as the machine is shared.

    auth_validate_p99: p99 latency of the validations of those rounds,
    bound 10 ms.

    The token is the same throughout, so after its first validation
    ferry-auth answers from its cache (as it does for a client that
    validates the same token on every call); the line says how many of
    the validations reached Redis. */
#include "ferry/ferry.h"
#include "http/fy_jwt.h"
#include "integration/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_CONNS 64
#define S_ROUND_MS 3000
#define S_ROUNDS 2
#define S_FLOOR 0.3
#define S_P99_BOUND_MS 10.0
#define S_SAMPLES_MAX 4000000

static const char s_secret [] = "bench-auth-service-secret-0123456789abcdef";
static const char s_user_secret [] = "bench-auth-user-secret-0123456789abcdef";
static const char s_user [] = "3994693e-a3ae-4e68-9323-451b4a95902a";
static const char s_sid [] = "5da24106-869b-4c3d-8192-74d465ee28de";
static const char s_routes [] =
    "broker.routes=auth:user.login,user.logout,user.password_changed,"
    "user.deactivated,auth.token_revoked,auth.session_revoked";

typedef struct {
    int fd;
    char buf [8192];
    size_t got;
    int64_t sent_us;
} s_conn_t;

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int
s_connect (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t) port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr)) {
        if (fd >= 0)
            close (fd);
        return -1;
    }
    return fd;
}

//  Send all of a request (small: the socket takes it at once, or soon).
static int
s_send (int fd, const char *request, size_t len)
{
    while (len) {
        ssize_t n = send (fd, request, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (n > 0) {
            request += n;
            len -= (size_t) n;
        }
    }
    return 0;
}

//  The length of the whole response at the start of buf (got bytes), 0
//  while it is not whole, -1 when it has no Content-Length. *status gets
//  its status.
static ssize_t
s_response (const char *buf, size_t got, int *status)
{
    const char *end = memmem (buf, got, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t) (end - buf) + 4;
    *status = got > 12 ? (int) strtol (buf + 9, NULL, 10) : 0;
    const char *at = buf;
    long length = -1;
    while (at && at < end) {
        const char *line = memchr (at, '\n', (size_t) (end - at));
        if (!line)
            break;
        line++;
        if (strncasecmp (line, "Content-Length:", 15) == 0)
            length = strtol (line + 15, NULL, 10);
        at = line;
    }
    if (length < 0)
        return -1;
    return head + (size_t) length <= got ? (ssize_t) (head + (size_t) length)
                                         : 0;
}

//  One round: requests of request (len bytes) on S_CONNS connections for
//  S_ROUND_MS. Returns the rate (answers/s), -1 on a failure; latencies
//  (us) appended to samples when not NULL; *bad counts non-200 answers.
static double
s_round (int port, const char *request, size_t len, int64_t *samples,
         size_t *count, size_t *bad)
{
    s_conn_t *conns = fy_xcalloc (S_CONNS, sizeof *conns);
    int epfd = epoll_create1 (EPOLL_CLOEXEC);
    double rate = -1;
    size_t done = 0;
    for (int i = 0; i < S_CONNS; i++) {
        conns [i].fd = s_connect (port);
        if (conns [i].fd < 0) {
            fprintf (stderr, "bench: connect: %s\n", strerror (errno));
            goto out;
        }
        fcntl (conns [i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event event = { .events = EPOLLIN,
                                     .data.ptr = &conns [i] };
        epoll_ctl (epfd, EPOLL_CTL_ADD, conns [i].fd, &event);
    }
    int64_t start = s_now_us ();
    int64_t end = start + S_ROUND_MS * 1000;
    for (int i = 0; i < S_CONNS; i++) {
        conns [i].sent_us = s_now_us ();
        if (s_send (conns [i].fd, request, len))
            goto out;
    }
    int64_t now = start;
    while (now < end) {
        struct epoll_event events [S_CONNS];
        int n = epoll_wait (epfd, events, S_CONNS, 100);
        now = s_now_us ();
        for (int e = 0; e < n; e++) {
            s_conn_t *conn = events [e].data.ptr;
            ssize_t r = recv (conn->fd, conn->buf + conn->got,
                              sizeof conn->buf - conn->got, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                fprintf (stderr, "bench: the server closed a connection\n");
                goto out;
            }
            if (r < 0)
                continue;
            conn->got += (size_t) r;
            int status = 0;
            ssize_t whole = s_response (conn->buf, conn->got, &status);
            if (whole < 0) {
                fprintf (stderr, "bench: an answer without Content-Length\n");
                goto out;
            }
            if (whole == 0)
                continue;
            if (status != 200)
                (*bad)++;
            if (samples && *count < S_SAMPLES_MAX)
                samples [(*count)++] = now - conn->sent_us;
            done++;
            memmove (conn->buf, conn->buf + whole, conn->got - (size_t) whole);
            conn->got -= (size_t) whole;
            if (now < end) {
                conn->sent_us = now;
                if (s_send (conn->fd, request, len))
                    goto out;
            }
        }
    }
    rate = done / ((now - start) / 1e6);
out:
    for (int i = 0; i < S_CONNS; i++)
        if (conns [i].fd > 0)
            close (conns [i].fd);
    close (epfd);
    free (conns);
    return rate;
}

//  One request on a connection of its own: the status, the body in
//  body (size bytes, NUL-terminated).
static int
s_once (int port, const char *request, char *body, size_t size)
{
    int fd = s_connect (port);
    if (fd < 0 || s_send (fd, request, strlen (request)))
        return -1;
    char buf [8192];
    size_t got = 0;
    int status = -1;
    while (got < sizeof buf - 1) {
        ssize_t r = recv (fd, buf + got, sizeof buf - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t) r;
        ssize_t whole = s_response (buf, got, &status);
        if (whole > 0) {
            buf [whole] = 0;
            const char *start = strstr (buf, "\r\n\r\n") + 4;
            snprintf (body, size, "%s", start);
            break;
        }
        if (whole < 0)
            break;
    }
    close (fd);
    return status;
}

static char *
s_token (const char *secret, json_t *claims)
{
    fy_error_t err = { "" };
    char *token = fy_jwt_sign ("HS256", secret, strlen (secret), claims, &err);
    json_decref (claims);
    if (!token)
        fprintf (stderr, "bench: token: %s\n", err.text);
    return token;
}

static int
s_compare (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

int
main (void)
{
    const char *redis = getenv ("REDIS_URL");
    if (!redis || !*redis) {
        fprintf (stderr, "bench: REDIS_URL is not set: start contrib/stack.sh "
                         "and eval its env\n");
        return 1;
    }
    int rc = 1;
    char dir [] = "/tmp/bench_auth_XXXXXX";
    proc_broker_at_t at = proc_broker_scratch (dir);
    int port = tap_free_port ();
    char port_set [64], secret_set [128], broker_set [400], prefix_set [128],
        user_set [128], log [300];
    snprintf (port_set, sizeof port_set, "http.port=%d", port);
    snprintf (secret_set, sizeof secret_set, "http.jwt_secret=%s", s_secret);
    snprintf (broker_set, sizeof broker_set, "auth.broker=%s", at.endpoint);
    snprintf (prefix_set, sizeof prefix_set,
              "auth.key_prefix=bench:auth:%d:", (int) getpid ());
    snprintf (user_set, sizeof user_set, "auth.jwt_secret=%s", s_user_secret);
    snprintf (log, sizeof log, "%s/auth.log", dir);
    pid_t broker =
        proc_start ("broker/ferry-broker", "--set", at.set, "--set", s_routes,
                    "--set", "http.address=127.0.0.1", "--set", port_set,
                    "--set", secret_set, "--set", "log.level=warn", NULL);
    const char *args [] = { "--set",    broker_set,       "--set",
                            prefix_set, "--set",          user_set,
                            "--set",    "log.level=warn", NULL };
    pid_t auth = proc_spawn (log, "workers/auth/ferry-auth", args);
    int64_t now = fy_clock_wall_ms () / 1000;
    char *service = s_token (
        s_secret, json_pack ("{s:s, s:I, s:I}", "sub", "bench", "iat",
                             (json_int_t) now, "exp", (json_int_t) now + 3600));
    char *user = s_token (
        s_user_secret,
        json_pack ("{s:s, s:s, s:s, s:I, s:I, s:s}", "sub", s_user, "sid",
                   s_sid, "jti", "bench-jti", "iat", (json_int_t) now, "exp",
                   (json_int_t) now + 3600, "scope", "goals:read"));
    int64_t *samples = fy_xmalloc (S_SAMPLES_MAX * sizeof *samples);
    char body [4096];
    char *health = fy_xasprintf ("GET /health HTTP/1.1\r\nHost: b\r\n\r\n");
    char *ready = fy_xasprintf ("GET /auth/health HTTP/1.1\r\nHost: b\r\n"
                                "Connection: close\r\n\r\n");
    int status = -1;
    for (int i = 0; i < 100 && status != 200; i++) {
        usleep (100000);
        status = s_once (port, ready, body, sizeof body);
    }
    if (status != 200) {
        fprintf (stderr, "bench: ferry-auth is not healthy: %d %s\n", status,
                 body);
        goto out;
    }
    //  The session, through POST /events (answered once ferry-auth ACKed).
    char at_text [FY_TIME_RFC3339_SIZE], id [FY_UUID_SIZE];
    fy_time_format (fy_clock_wall_ms (), at_text);
    fy_uuid_generate (id);
    json_t *event = json_pack (
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:b}}",
        "id", id, "type", "user.login", "version", 1, "source", "bench",
        "occurredAt", at_text, "companyId",
        "5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11", "payload", "userId", s_user,
        "sessionId", s_sid, "ip", "192.0.2.1", "userAgent", "bench/1", "method",
        "password", "mfa", 0);
    char *event_text = json_dumps (event, JSON_COMPACT);
    json_decref (event);
    char *post = fy_xasprintf (
        "POST /events HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/json\r\nContent-Length: %zu\r\n"
        "Connection: close\r\n\r\n%s",
        service, strlen (event_text), event_text);
    free (event_text);
    status = s_once (port, post, body, sizeof body);
    free (post);
    if (status < 200 || status > 299) {
        fprintf (stderr, "bench: POST /events: %d %s\n", status, body);
        goto out;
    }
    char *payload = fy_xasprintf ("{\"token\":\"%s\"}", user);
    char *validate = fy_xasprintf (
        "POST /auth/validate HTTP/1.1\r\nHost: b\r\nAuthorization: Bearer "
        "%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
        service, strlen (payload), payload);
    free (payload);
    char *first =
        fy_xasprintf ("%.*sConnection: close\r\n%s",
                      (int) (strstr (validate, "\r\n\r\n") - validate + 2),
                      validate, strstr (validate, "\r\n\r\n") + 2);
    status = s_once (port, first, body, sizeof body);
    free (first);
    if (status != 200 || !strstr (body, "\"active\":true")) {
        fprintf (stderr, "bench: the token is not active: %d %s\n", status,
                 body);
        free (validate);
        goto out;
    }
    double best_health = 0, best_validate = 0;
    size_t count = 0, bad = 0, health_bad = 0, health_count = 0;
    int64_t *health_samples = fy_xmalloc (S_SAMPLES_MAX * sizeof *samples);
    double cpu_broker = proc_cpu_s (broker), cpu_auth = proc_cpu_s (auth);
    for (int round = 0; round < S_ROUNDS; round++) {
        double h = s_round (port, health, strlen (health), health_samples,
                            &health_count, &health_bad);
        double v =
            s_round (port, validate, strlen (validate), samples, &count, &bad);
        if (h < 0 || v < 0) {
            free (validate);
            free (health_samples);
            goto out;
        }
        best_health = h > best_health ? h : best_health;
        best_validate = v > best_validate ? v : best_validate;
    }
    free (validate);
    //  Where the time goes, for whoever reads the figures.
    fprintf (stderr,
             "bench: auth rounds: ferry-broker CPU %.2f s, ferry-auth CPU "
             "%.2f s\n",
             proc_cpu_s (broker) - cpu_broker, proc_cpu_s (auth) - cpu_auth);
    qsort (health_samples, health_count, sizeof *samples, s_compare);
    double health_p99 =
        health_count ? health_samples [health_count * 99 / 100] / 1000.0 : 0;
    free (health_samples);
    if (bad || health_bad) {
        fprintf (stderr,
                 "bench: %zu validations and %zu health checks not "
                 "200\n",
                 bad, health_bad);
        goto out;
    }
    qsort (samples, count, sizeof *samples, s_compare);
    double p99 = samples [count * 99 / 100] / 1000.0;
    double p50 = samples [count / 2] / 1000.0;
    status = s_once (port,
                     "GET /auth/health HTTP/1.1\r\nHost: b\r\n"
                     "Connection: close\r\n\r\n",
                     body, sizeof body);
    double ratio = best_validate / best_health;
    printf ("bench auth_validate %.0f req/s limit=%.0f ratio=%.2f "
            "(POST /auth/validate through the broker, %d keep-alive "
            "connections, one ferry-auth; limit GET /health, same client; "
            "best of %d rounds of %d ms; the same token, answered from the "
            "worker's cache after its first validation)\n",
            best_validate, best_health, ratio, S_CONNS, S_ROUNDS, S_ROUND_MS);
    printf ("bench auth_validate_p99 %.2f ms limit=%.0f ratio=%.2f "
            "(%zu validations, p50 %.2f ms; GET /health p99 %.2f ms in the "
            "same rounds)\n",
            p99, S_P99_BOUND_MS, p99 / S_P99_BOUND_MS, count, p50, health_p99);
    rc = ratio >= S_FLOOR && p99 < S_P99_BOUND_MS ? 0 : 1;
out:
    free (samples);
    free (health);
    free (ready);
    free (service);
    free (user);
    proc_stop (auth, SIGTERM);
    proc_stop (broker, SIGTERM);
    //  The run's keys, by its prefix (the URL is the stack's: no quote in
    //  it).
    char *keys = fy_xasprintf ("redis-cli -u '%s' --scan --pattern "
                               "'bench:auth:%d:*' | xargs -r redis-cli -u '%s' "
                               "DEL > /dev/null",
                               redis, (int) getpid (), redis);
    if (system (keys))
        fprintf (stderr, "bench: could not delete the run's Redis keys\n");
    free (keys);
    char *command = fy_xasprintf ("rm -rf '%s'", dir);
    if (system (command))
        fprintf (stderr, "bench: could not remove %s\n", dir);
    free (command);
    return rc;
}
