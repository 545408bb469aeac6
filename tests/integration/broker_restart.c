/*  The broker restarted under its peers (SIGKILL, then a new process on
    the same endpoint): workers register again and clients say HELLO again
    by themselves, and traffic resumes. And SIGHUP: new routes take effect,
    a bad file is refused and the old routes kept. */
#include "ferry/ferry.h"
#include "proc.h"

static char s_dir [] = "/tmp/ferry-restart-XXXXXX";
static proc_broker_at_t s_at;
static char s_cfg [256], s_log [256];
static size_t s_acks, s_resets;

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) seq;
    (void) arg;
    s_acks++;
}

static void
s_on_reset (fy_client_t *client, void *arg)
{
    (void) client;
    (void) arg;
    s_resets++;
}

static pid_t
s_broker (void)
{
    return proc_start ("broker/ferry-broker", "-c", s_cfg, NULL);
}

static void
s_write_cfg (const char *routes)
{
    FILE *file = fopen (s_cfg, "w");
    fprintf (file,
             "log\n    level = warn\nbroker\n    endpoint = \"%s\"\n"
             "    heartbeat_ms = 100\n    routes = \"%s\"\nhttp\n"
             "    enabled = false\n",
             s_at.endpoint, routes);
    fclose (file);
}

//  Publish count events of type and wait for their ACKs. A reset voids
//  what was unanswered: publish it again, as the bridge does.
static size_t
s_round (fy_client_t *client, const char *type, size_t count)
{
    s_acks = 0;
    size_t sent = 0, resets = s_resets;
    int64_t until = fy_clock_mono_ms () + 8000;
    while ((sent < count || s_acks < sent) && fy_clock_mono_ms () < until) {
        if (s_resets != resets) {
            resets = s_resets;
            sent = s_acks;
        }
        if (sent < count && fy_client_credit (client) > 0) {
            char id [FY_UUID_SIZE], json [400];
            fy_uuid_generate (id);
            int len = snprintf (
                json, sizeof json,
                "{\"id\":\"%s\",\"type\":"
                "\"%s\",\"version\":1,\"source\":\"t\",\"occurredAt\":"
                "\"2026-11-26T10:00:00.000Z\",\"companyId\":"
                "\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\",\"payload\":{}}",
                id, type);
            fy_event_t *event =
                fy_event_decode_json (json, (size_t) len, NULL, NULL);
            uint64_t seq;
            if (event && fy_client_publish (client, event, &seq) == 0)
                sent++;
            fy_event_destroy (&event);
        }
        else
            fy_client_wait (client, 20);
    }
    return s_acks;
}

static size_t
s_worker_did (void)
{
    return proc_log_lines (s_log, NULL);
}

int
main (void)
{
    plan (NO_PLAN);
    s_at = proc_broker_scratch (s_dir);
    snprintf (s_cfg, sizeof s_cfg, "%s/ferry.cfg", s_dir);
    snprintf (s_log, sizeof s_log, "%s/worker.log", s_dir);
    s_write_cfg ("audit:*");
    pid_t broker = s_broker ();
    pid_t worker = proc_start ("tests/integration/test_worker", s_at.endpoint,
                               "audit", "ack", s_log, NULL);
    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (s_at.endpoint, "restart", &err);
    fy_client_set_heartbeat (client, 100, 3);
    fy_client_handlers_t handlers = { .ack = s_on_ack, .reset = s_on_reset };
    fy_client_set_handlers (client, &handlers);
    is_int (s_round (client, "user.login", 50), 50, "50 ACKed before");

    int status = proc_stop (broker, SIGKILL);
    ok (WIFSIGNALED (status), "broker killed with SIGKILL");
    broker = s_broker ();
    is_int (s_round (client, "user.login", 50), 50,
            "50 ACKed by the new broker: worker and client came back");
    ok (s_resets >= 1, "the client was told its session was reset");
    is_int (s_worker_did (), 100, "the worker did all 100");

    //  SIGHUP: narrower routes, then a broken file.
    s_write_cfg ("audit:user.*");
    kill (broker, SIGHUP);
    usleep (200 * 1000);
    is_int (s_round (client, "goal.created", 10), 10, "goal events ACKed");
    is_int (s_worker_did (), 100,
            "unrouted after the reload: the worker "
            "did not see them");
    FILE *file = fopen (s_cfg, "w");
    fputs ("broker\n    routes = \"bad route\"\n", file);
    fclose (file);
    kill (broker, SIGHUP);
    usleep (200 * 1000);
    ok (kill (broker, 0) == 0, "a bad file on SIGHUP does not stop the broker");
    is_int (s_round (client, "user.created", 10), 10, "old routes still on");
    is_int (s_worker_did (), 110, "and still routed to the worker");

    fy_client_destroy (&client);
    proc_stop (worker, SIGTERM);
    status = proc_stop (broker, SIGTERM);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 0, "broker exits 0");
    char command [300];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
