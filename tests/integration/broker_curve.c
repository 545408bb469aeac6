/*  CURVE: with a secret certificate configured, the broker lets in only
    the peers whose public certificates are in its allow directory.
    Certificates are made by `ferryctl keygen`, as an operator would. */
#include "ferry/ferry.h"
#include "proc.h"

#include <sys/stat.h>

static char s_dir [] = "/tmp/ferry-curve-XXXXXX";
static size_t s_acks;

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) seq;
    (void) arg;
    s_acks++;
}

//  Make NAME's certificate in DIR with ferryctl; returns its public key.
static char *
s_keygen (const char *dir, const char *name)
{
    char command [1024];
    snprintf (command, sizeof command, "%s/tools/ferryctl keygen -d %s %s",
              getenv ("FERRY_BUILDDIR"), dir, name);
    FILE *pipe = popen (command, "r");
    char key [128] = "";
    if (!pipe || !fgets (key, sizeof key, pipe))
        BAIL_OUT ("ferryctl keygen %s", name);
    pclose (pipe);
    key [strcspn (key, "\n")] = 0;
    return fy_xstrdup (key);
}

//  Wait up to ms for s_acks to reach want.
static void
s_acks_wait (fy_client_t *client, size_t want, int ms)
{
    int64_t until = fy_clock_mono_ms () + ms;
    while (s_acks < want && fy_clock_mono_ms () < until)
        fy_client_wait (client, 20);
}

//  Start test_worker over CURVE in mode, logging to dir/log.
static pid_t
s_worker (const char *endpoint, const char *broker_key, const char *keys,
          const char *mode, const char *log)
{
    char path [400], cert [600];
    snprintf (path, sizeof path, "%s/%s", s_dir, log);
    snprintf (cert, sizeof cert, "%s/worker_secret", keys);
    setenv ("FERRY_TEST_CURVE_SERVER", broker_key, 1);
    setenv ("FERRY_TEST_CURVE_CERT", cert, 1);
    pid_t worker = proc_start ("tests/integration/test_worker", endpoint,
                               "audit", mode, path, NULL);
    unsetenv ("FERRY_TEST_CURVE_SERVER");
    unsetenv ("FERRY_TEST_CURVE_CERT");
    return worker;
}

static uint64_t
s_credit_after (fy_client_t *client, int ms)
{
    int64_t until = fy_clock_mono_ms () + ms;
    while (fy_client_credit (client) == 0 && fy_clock_mono_ms () < until)
        fy_client_wait (client, 20);
    return fy_client_credit (client);
}

int
main (void)
{
    plan (NO_PLAN);
    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp");
    char keys [300], allow [300], path [600];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    snprintf (allow, sizeof allow, "%s/allow", s_dir);
    mkdir (keys, 0700);
    mkdir (allow, 0700);
    char *broker_key = s_keygen (keys, "broker");
    char *worker_key = s_keygen (keys, "worker");
    char *client_key = s_keygen (keys, "client");
    char *intruder_key = s_keygen (keys, "intruder");
    ok (strlen (broker_key) == 40 && strlen (worker_key) == 40,
        "ferryctl keygen prints 40-character Z85 public keys");
    snprintf (path, sizeof path, "%s/broker_secret", keys);
    ok (access (path, R_OK) == 0, "and writes the secret file");
    //  Only the worker's and the client's public certificates are allowed.
    char command [2048];
    snprintf (command, sizeof command, "cp %s/worker %s/client %s/", keys, keys,
              allow);
    if (system (command))
        BAIL_OUT ("cp");

    char secret_set [700], allow_set [400];
    proc_broker_at_t at = proc_broker_at (s_dir);
    snprintf (secret_set, sizeof secret_set,
              "broker.curve_secret_file=%s/broker_secret", keys);
    snprintf (allow_set, sizeof allow_set, "broker.curve_allow_dir=%s", allow);
    //  The default heartbeats: a dead worker would be found 3 s late.
    //  Every event to the audit stand-in (the default routes also send
    //  user.login to auth, which has no worker here).
    pid_t broker =
        proc_start ("broker/ferry-broker", "--set", at.set, "--set", secret_set,
                    "--set", allow_set, "--set", "http.enabled=false", "--set",
                    "broker.routes=audit:*", "--set", "log.level=warn", NULL);

    char cert [600];
    pid_t worker =
        s_worker (at.endpoint, broker_key, keys, "ack", "worker.log");

    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (at.endpoint, "allowed", &err);
    snprintf (cert, sizeof cert, "%s/client_secret", keys);
    ok (fy_client_set_curve (client, broker_key, cert, &err) == 0,
        "client takes its certificate: %s", err.text);
    fy_client_handlers_t handlers = { .ack = s_on_ack };
    fy_client_set_handlers (client, &handlers);
    ok (s_credit_after (client, 5000) > 0, "an allowed client gets credit");
    fy_event_t *event = fy_event_decode_json (
        "{\"id\":\"3f1c2a4e-9b7d-4c1e-8f00-0123456789ab\","
        "\"type\":\"user.login\",\"version\":1,\"source\":\"t\","
        "\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
        "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
        "\"payload\":{}}",
        194, NULL, &err);
    ok (event != NULL, "test event: %s", err.text);
    uint64_t seq;
    ok (fy_client_publish (client, event, &seq) == 0, "publish over CURVE");
    int64_t until = fy_clock_mono_ms () + 5000;
    while (s_acks == 0 && fy_clock_mono_ms () < until)
        fy_client_wait (client, 20);
    is_int (s_acks, 1, "the allowed worker ACKed it over CURVE");

    fy_client_t *intruder = fy_client_new (at.endpoint, "intruder", &err);
    snprintf (cert, sizeof cert, "%s/intruder_secret", keys);
    ok (fy_client_set_curve (intruder, broker_key, cert, &err) == 0,
        "intruder has a well-formed certificate");
    is_int (s_credit_after (intruder, 1500), 0, "but is not let in");
    fy_client_t *plain = fy_client_new (at.endpoint, "plain", &err);
    is_int (s_credit_after (plain, 1500), 0, "nor is a plain client");
    fy_client_t *wrong = fy_client_new (at.endpoint, "wrong", &err);
    ok (fy_client_set_curve (wrong, "short", cert, &err) == -1,
        "a malformed broker key is refused: %s", err.text);

    //  A worker killed holding events over CURVE: the broker hears its
    //  connection close (after the refused handshakes above), and the
    //  next worker has them at once.
    proc_stop (worker, SIGTERM);
    pid_t holder =
        s_worker (at.endpoint, broker_key, keys, "hold", "holder.log");
    size_t sent = 1;
    for (; sent < 9; sent++)
        if (fy_client_publish (client, event, &seq))
            BAIL_OUT ("publish");
    snprintf (path, sizeof path, "%s/holder.log", s_dir);
    until = fy_clock_mono_ms () + 5000;
    while (proc_log_lines (path, NULL) < 8 && fy_clock_mono_ms () < until)
        fy_client_wait (client, 20);
    is_int (proc_log_lines (path, NULL), 8, "the holder holds 8");
    worker = s_worker (at.endpoint, broker_key, keys, "ack", "worker2.log");
    //  The new worker, once ready with all of its credit free, takes the
    //  next one.
    until = fy_clock_mono_ms () + 5000;
    while (s_acks == 1 && fy_clock_mono_ms () < until) {
        if (fy_client_publish (client, event, &seq))
            BAIL_OUT ("publish");
        sent++;
        s_acks_wait (client, 2, 200);
    }
    is_int (s_acks, 2, "the new worker is ready");
    int64_t start = fy_clock_mono_ms ();
    proc_stop (holder, SIGKILL);
    s_acks_wait (client, sent, 5000);
    int64_t gap = fy_clock_mono_ms () - start;
    is_int (s_acks, sent, "what the holder held is ACKed after its kill");
    ok (gap < 500, "within 500 ms (%lld ms; heartbeats would take 3000)",
        (long long) gap);

    fy_client_destroy (&wrong);
    fy_client_destroy (&plain);
    fy_client_destroy (&intruder);
    fy_client_destroy (&client);
    fy_event_destroy (&event);
    proc_stop (worker, SIGTERM);
    int status = proc_stop (broker, SIGTERM);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 0, "broker exits 0");
    free (broker_key);
    free (worker_key);
    free (client_key);
    free (intruder_key);
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
