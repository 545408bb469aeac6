/*  proc.h: start and stop the real ferry processes an integration test
    runs, give their broker an endpoint in a scratch directory, wait on a
    client, read the id logs the test workers write and what memory a
    process uses. */
#ifndef FY_TEST_PROC_H_INCLUDED
#define FY_TEST_PROC_H_INCLUDED

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/ferry.h"
#include "tap.h"

//  Every child a test starts is killed when the test exits, however it
//  exits (a failed check, BAIL_OUT): an orphan would keep the test's
//  stdout open and the TAP driver would wait for it forever.
#define PROC_MAX 256
static pid_t proc_children_ [PROC_MAX];
static size_t proc_count_;

static inline void
proc_reap_all_ (void)
{
    for (size_t i = 0; i < proc_count_; i++) {
        int status;
        //  Only our own children still running: a reaped pid may belong
        //  to someone else by now.
        if (waitpid (proc_children_ [i], &status, WNOHANG) == 0) {
            kill (proc_children_ [i], SIGKILL);
            waitpid (proc_children_ [i], &status, 0);
        }
    }
    proc_count_ = 0;
}

//  Have pid (a child of this test) killed at exit if it still runs.
static inline void
proc_track (pid_t pid)
{
    if (proc_count_ == 0)
        atexit (proc_reap_all_);
    if (proc_count_ < PROC_MAX)
        proc_children_ [proc_count_++] = pid;
}

//  Start program (a path in the build tree) with args (NULL-terminated),
//  its stderr appended to log when log is not NULL.
static inline pid_t
proc_spawn (const char *log, const char *program, const char *const *args)
{
    const char *argv [40];
    char path [4096];
    const char *builddir = getenv ("FERRY_BUILDDIR");
    snprintf (path, sizeof path, "%s/%s", builddir ? builddir : ".", program);
    argv [0] = path;
    int argc = 1;
    while (argc < 39 && args [argc - 1]) {
        argv [argc] = args [argc - 1];
        argc++;
    }
    argv [argc] = NULL;
    fflush (stdout);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid == 0) {
        //  A test that crashes runs no atexit handler: its children die
        //  with it rather than hold make check up.
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) || getppid () != parent)
            _exit (127);
        //  The test blocks signals for its own loops; children start clean.
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        int fd = log ? open (log, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
        if (fd >= 0) {
            dup2 (fd, 2);
            close (fd);
        }
        execv (path, (char *const *) argv);
        _exit (127);
    }
    if (pid < 0)
        BAIL_OUT ("fork");
    proc_track (pid);
    return pid;
}

//  Start a program from the build tree with NULL-terminated arguments.
static inline pid_t
proc_start (const char *program, ...)
{
    const char *args [40];
    va_list list;
    va_start (list, program);
    int count = 0;
    while (count < 39 && (args [count] = va_arg (list, const char *)))
        count++;
    args [count] = NULL;
    va_end (list);
    return proc_spawn (NULL, program, args);
}

//  Send sig and wait for the process; returns its wait status.
static inline int
proc_stop (pid_t pid, int sig)
{
    int status = 0;
    kill (pid, sig);
    waitpid (pid, &status, 0);
    return status;
}

//  utime + stime of this process in seconds.
static inline double
proc_self_cpu_s (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (double) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
           + (double) (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

//  utime + stime of pid in seconds (/proc/PID/stat), or -1 when the
//  process is not there.
static inline double
proc_cpu_s (pid_t pid)
{
    char path [64], text [4096];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    size_t len = file ? fread (text, 1, sizeof text - 1, file) : 0;
    if (file)
        fclose (file);
    text [len] = 0;
    //  The command may hold spaces: the fields start after its ')'.
    char *at = strrchr (text, ')');
    unsigned long utime = 0, stime = 0;
    if (!at
        || sscanf (at + 2,
                   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                   "%*u %lu %lu",
                   &utime, &stime)
               != 2)
        return -1;
    return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

//  A "Name: N kB" field of /proc/PID/status (VmRSS, VmHWM) in KiB, or -1
//  when the process or the field is not there.
static inline long
proc_status_kib (pid_t pid, const char *field)
{
    char path [64], line [256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    long kib = -1;
    size_t len = strlen (field);
    while (fgets (line, sizeof line, file))
        if (strncmp (line, field, len) == 0 && line [len] == ':') {
            kib = strtol (line + len + 1, NULL, 10);
            break;
        }
    fclose (file);
    return kib;
}

//  Lines of an id log, and how many distinct.
static inline size_t
proc_log_lines (const char *path, zhashx_t *distinct)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    char line [128];
    size_t lines = 0;
    while (fgets (line, sizeof line, file)) {
        line [strcspn (line, "\n")] = 0;
        lines++;
        if (distinct)
            zhashx_update (distinct, line, (void *) 1);
    }
    fclose (file);
    return lines;
}

//  Wait until cond holds, pumping an fy_client, for at most ms.
#define PROC_WAIT_FOR(client, cond, ms)                 \
    do {                                                \
        int64_t until_ = fy_clock_mono_ms () + (ms);    \
        while (!(cond) && fy_clock_mono_ms () < until_) \
            fy_client_wait ((client), 20);              \
    } while (0)

//  Where a test's ferry-broker listens: an ipc:// endpoint in dir, and
//  the --set value that gives it to the broker.
typedef struct {
    char endpoint [300];
    char set [320];
} proc_broker_at_t;

static inline proc_broker_at_t
proc_broker_at (const char *dir)
{
    proc_broker_at_t at;
    snprintf (at.endpoint, sizeof at.endpoint, "ipc://%s/broker.sock", dir);
    snprintf (at.set, sizeof at.set, "broker.endpoint=%s", at.endpoint);
    return at;
}

//  The same in a new scratch directory made from template (mkdtemp's
//  XXXXXX, changed in place); bails out when it cannot be made.
static inline proc_broker_at_t
proc_broker_scratch (char *template)
{
    if (!mkdtemp (template))
        BAIL_OUT ("mkdtemp %s: %s", template, strerror (errno));
    return proc_broker_at (template);
}

//  A DEALER to endpoint that never lingers and waits at most timeout_ms
//  in a receive: a peer the test drives frame by frame.
static inline void *
proc_raw_dealer (void *context, const char *endpoint, int timeout_ms)
{
    void *raw = zmq_socket (context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (raw, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (raw, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    zmq_connect (raw, endpoint);
    return raw;
}

//  A real event of type with a new id (into id, FY_UUID_SIZE bytes) and
//  a payload note of note_len digits, encoded as a publisher sends it
//  (the broker never decodes it, a worker does). The caller frees it.
static inline char *
proc_event_packed (const char *type, int note_len, char *id, size_t *size_p)
{
    fy_uuid_generate (id);
    char json [1024];
    int len = snprintf (
        json, sizeof json,
        "{\"id\":\"%s\",\"type\":\"%s\",\"version\":1,"
        "\"source\":\"test\",\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
        "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
        "\"payload\":{\"note\":\"%0*d\"}}",
        id, type, note_len, 0);
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_decode_json (json, (size_t) len, NULL, &err);
    char *packed = NULL;
    if (!event || fy_event_encode_msgpack (event, &packed, size_p))
        BAIL_OUT ("test event: %s", err.text);
    fy_event_destroy (&event);
    return packed;
}

#endif
