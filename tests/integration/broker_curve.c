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
    snprintf (command, sizeof command, "cp %s/worker %s/client %s/",
              keys, keys, allow);
    if (system (command))
        BAIL_OUT ("cp");

    char secret_set [700], allow_set [400];
    proc_broker_at_t at = proc_broker_at (s_dir);
    snprintf (secret_set, sizeof secret_set,
              "broker.curve_secret_file=%s/broker_secret", keys);
    snprintf (allow_set, sizeof allow_set, "broker.curve_allow_dir=%s",
              allow);
    pid_t broker = proc_start ("broker/ferry-broker", "--set", at.set,
        "--set", secret_set, "--set", allow_set,
        "--set", "broker.heartbeat_ms=100", "--set", "http.enabled=false",
        "--set", "log.level=warn", NULL);

    char log [400], cert [600];
    snprintf (log, sizeof log, "%s/worker.log", s_dir);
    snprintf (cert, sizeof cert, "%s/worker_secret", keys);
    setenv ("FERRY_TEST_CURVE_SERVER", broker_key, 1);
    setenv ("FERRY_TEST_CURVE_CERT", cert, 1);
    pid_t worker = proc_start ("tests/integration/test_worker", at.endpoint,
                               "audit", "ack", log, NULL);
    unsetenv ("FERRY_TEST_CURVE_SERVER");
    unsetenv ("FERRY_TEST_CURVE_CERT");

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
        "\"payload\":{}}", 194, NULL, &err);
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
