/*  stub.h: start one of the python3 HTTP stand-ins of tests/stubs on a
    free port and stop it again. The stub writes its port to a file; the
    test waits for that file, so no port is ever guessed. */
#ifndef FY_TEST_STUB_H_INCLUDED
#define FY_TEST_STUB_H_INCLUDED

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry/fy_common.h"
#include "aws/fy_sqs.h"
#include "http/fy_http_client.h"
#include "http/fy_http_ops.h"
#include "tap.h"

#include <jansson.h>

typedef struct {
    pid_t pid;
    int port;
    char dir [64];
    char portfile [96];
} stub_t;

//  Start tests/stubs/<script> (python3); BAIL_OUT if it does not come up
//  within 10 s.
static inline void
stub_start (stub_t *stub, const char *script)
{
    snprintf (stub->dir, sizeof stub->dir, "/tmp/ferry-stub-XXXXXX");
    if (!mkdtemp (stub->dir))
        BAIL_OUT ("mkdtemp");
    snprintf (stub->portfile, sizeof stub->portfile, "%s/port", stub->dir);
    char *path = fy_xasprintf ("tests/stubs/%s", script);
    char *program = fy_xstrdup (tap_srcpath (path));
    free (path);
    fflush (stdout);
    pid_t parent = getpid ();
    stub->pid = fork ();
    if (stub->pid == 0) {
        //  A test that crashes runs no cleanup: its stub must not outlive
        //  it and hold make check up.
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) || getppid () != parent)
            _exit (127);
        execlp ("python3", "python3", program, stub->portfile, (char *) NULL);
        _exit (127);
    }
    free (program);
    if (stub->pid < 0)
        BAIL_OUT ("fork");
    for (int i = 0; i < 1000; i++) {
        FILE *file = fopen (stub->portfile, "r");
        if (file) {
            int got = fscanf (file, "%d", &stub->port);
            fclose (file);
            if (got == 1)
                return;
        }
        int status;
        if (waitpid (stub->pid, &status, WNOHANG) == stub->pid)
            BAIL_OUT ("%s exited before it listened", script);
        struct timespec pause = { 0, 10 * 1000 * 1000 };
        nanosleep (&pause, NULL);
    }
    BAIL_OUT ("%s did not write its port", script);
}

static inline void
stub_stop (stub_t *stub)
{
    if (stub->pid > 0) {
        kill (stub->pid, SIGTERM);
        waitpid (stub->pid, NULL, 0);
        stub->pid = 0;
    }
    unlink (stub->portfile);
    rmdir (stub->dir);
}

//  Run http's loop until *flag is set or max_ms passed.
static inline void
stub_run_until (fy_http_client_t *http, bool *flag, int64_t max_ms)
{
    int64_t until = fy_clock_mono_ms () + max_ms;
    while (!*flag && fy_clock_mono_ms () < until)
        if (fy_http_client_wait (http, until - fy_clock_mono_ms ()))
            BAIL_OUT ("wait");
}

typedef struct {
    bool done;
    json_t *json;
} stub_answer_t;

static inline void
stub_on_answer_ (const fy_http_result_t *result, void *arg)
{
    stub_answer_t *answer = arg;
    answer->done = true;
    size_t len;
    const char *body = fy_http_result_body (result, &len);
    answer->json = json_loadb (body, len, 0, NULL);
}

//  Run call (a stub's log request; taken over) on http and return the
//  JSON it answered (caller owns), NULL when it is not JSON.
static inline json_t *
stub_call_json (fy_http_client_t *http, fy_http_call_t **call_p)
{
    stub_answer_t answer = { false, NULL };
    if (fy_http_client_start (http, call_p, stub_on_answer_, &answer, NULL,
                              NULL))
        BAIL_OUT ("stub request");
    stub_run_until (http, &answer.done, 5000);
    return answer.json;
}

//  The stub's GET /_log: its "requests" from the *returned-th on, as a
//  new array (caller owns); *returned moves past them.
static inline json_t *
stub_log (fy_http_client_t *http, int port, size_t *returned)
{
    char *url = fy_xasprintf ("http://127.0.0.1:%d/_log", port);
    fy_http_call_t *call = fy_http_call_new ("GET", url);
    free (url);
    json_t *log = stub_call_json (http, &call);
    json_t *all = json_object_get (log, "requests");
    json_t *fresh = json_array ();
    for (size_t i = *returned; i < json_array_size (all); i++)
        json_array_append (fresh, json_array_get (all, i));
    *returned = json_array_size (all);
    json_decref (log);
    return fresh;
}

//  A notification client's result (fy_http_op_done_fn), kept with copies of
//  its strings after the callback.
typedef struct {
    bool done;
    fy_http_op_result_t result;
    char code [96];
    char message [256];
    char message_id [160];
    char request_id [128];
} stub_seen_t;

static inline void
stub_on_result (const fy_http_op_result_t *result, void *arg)
{
    stub_seen_t *seen = arg;
    seen->done = true;
    seen->result = *result;
    snprintf (seen->code, sizeof seen->code, "%s",
              result->code ? result->code : "");
    snprintf (seen->message, sizeof seen->message, "%s", result->message);
    snprintf (seen->message_id, sizeof seen->message_id, "%s",
              result->message_id ? result->message_id : "");
    snprintf (seen->request_id, sizeof seen->request_id, "%s",
              result->request_id ? result->request_id : "");
    seen->result.code = seen->code;
    seen->result.message = seen->message;
    seen->result.message_id = seen->message_id;
    seen->result.request_id = seen->request_id;
}

//  Start the SQS stand-in (sqs_stub.py) into stub and make an SQS client
//  for it on http, one attempt per call; base (size bytes) gets the
//  stand-in's URL. The AWS endpoint variables are cleared, so that the
//  stand-in is where every call goes.
static inline fy_sqs_t *
stub_sqs_start (stub_t *stub, fy_http_client_t *http, char *base, size_t size)
{
    stub_start (stub, "sqs_stub.py");
    snprintf (base, size, "http://127.0.0.1:%d", stub->port);
    unsetenv ("AWS_ENDPOINT_URL_SQS");
    unsetenv ("AWS_ENDPOINT_URL");
    fy_sqs_options_t options;
    fy_sqs_options_default (&options);
    options.endpoint = base;
    options.base.max_attempts = 1;
    fy_sqs_t *sqs = fy_sqs_new (http, &options, NULL);
    if (!sqs)
        BAIL_OUT ("fy_sqs_new");
    return sqs;
}

#endif
