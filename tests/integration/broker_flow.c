/*  ferry-broker end to end, with real processes on real sockets: the
    broker, test_worker processes built on fy_worker, and this program as
    a publisher built on fy_client. Covers fan-out, a worker killed with
    SIGKILL while it holds events (every event re-dispatched, none lost,
    each ACKed once), poison events, NACKs, unrouted events, a service
    with no worker, leases, malformed frames and a draining SIGTERM. */
#include "ferry/ferry.h"
#include "proc.h"

#include <errno.h>

static char s_dir [] = "/tmp/ferry-flow-XXXXXX";
static proc_broker_at_t s_at;

typedef struct {
    zhashx_t *seq_acks;         //  seq text -> count of ACKs
    size_t acks, nacks, retryable, leased;
    char reason [256];
} s_outcome_t;

static s_outcome_t s_out;

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) arg;
    char key [32];
    snprintf (key, sizeof key, "%llu", (unsigned long long) seq);
    size_t count = (size_t) zhashx_lookup (s_out.seq_acks, key);
    zhashx_update (s_out.seq_acks, key, (void *) (count + 1));
    s_out.acks++;
}

static void
s_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
           const char *reason, void *arg)
{
    (void) client;
    (void) seq;
    (void) arg;
    s_out.nacks++;
    s_out.retryable += retryable;
    snprintf (s_out.reason, sizeof s_out.reason, "%s", reason);
}

static void
s_on_lease (fy_client_t *client, const uint64_t *seqs, size_t count, void *arg)
{
    (void) client;
    (void) seqs;
    (void) arg;
    s_out.leased += count;
}

static void
s_reset_outcome (void)
{
    zhashx_purge (s_out.seq_acks);
    s_out.acks = s_out.nacks = s_out.retryable = s_out.leased = 0;
    s_out.reason [0] = 0;
}

static fy_event_t *
s_event (const char *type)
{
    char id [FY_UUID_SIZE], json [512];
    fy_uuid_generate (id);
    int len = snprintf (
        json, sizeof json,
        "{\"id\":\"%s\",\"type\":\"%s\",\"version\":1,\"source\":\"test\","
        "\"occurredAt\":\"2026-11-26T10:00:00.000Z\","
        "\"companyId\":\"0b8c1d7e-1111-4a2b-9c3d-4e5f60718293\","
        "\"payload\":{\"note\":\"%0200d\"}}",
        id, type, 0);
    fy_error_t err = { "" };
    fy_event_t *event = fy_event_decode_json (json, (size_t) len, NULL, &err);
    if (!event)
        BAIL_OUT ("test event: %s", err.text);
    return event;
}


//  Sleep while keeping the session alive.
static void
s_pump (fy_client_t *client, int ms)
{
    PROC_WAIT_FOR (client, false, ms);
}

static size_t
s_publish (fy_client_t *client, const char *type, size_t count)
{
    size_t sent = 0;
    int64_t until = fy_clock_mono_ms () + 10000;
    while (sent < count && fy_clock_mono_ms () < until) {
        if (fy_client_credit (client) == 0) {
            fy_client_wait (client, 20);
            continue;
        }
        fy_event_t *event = s_event (type);
        uint64_t seq;
        if (fy_client_publish (client, event, &seq) == 0)
            sent++;
        fy_event_destroy (&event);
    }
    return sent;
}

static const char *
s_path (const char *name)
{
    static char paths [8][512];
    static int next;
    char *path = paths [next++ % 8];
    snprintf (path, 512, "%s/%s", s_dir, name);
    return path;
}

static pid_t
s_worker (const char *service, const char *mode, const char *log)
{
    return proc_start ("tests/integration/test_worker", s_at.endpoint, service,
                       mode, s_path (log), NULL);
}

static size_t
s_distinct (const char *log, size_t *lines)
{
    zhashx_t *ids = zhashx_new ();
    size_t count = proc_log_lines (s_path (log), ids);
    if (lines)
        *lines = count;
    size_t distinct = zhashx_size (ids);
    zhashx_destroy (&ids);
    return distinct;
}

static bool
s_each_acked_once (void)
{
    for (void *count = zhashx_first (s_out.seq_acks); count;
         count = zhashx_next (s_out.seq_acks))
        if ((size_t) count != 1)
            return false;
    return true;
}

//  test_worker's credit.
#define S_CREDIT 64

//  A worker of audit on a raw DEALER, so the test decides when its
//  connection closes.
static void *
s_raw_worker (void *context)
{
    void *raw = proc_raw_dealer (context, s_at.endpoint, 50);
    fy_proto_msg_t ready;
    fy_proto_msg_init (&ready);
    ready.command = FY_PROTO_READY;
    ready.name = fy_proto_str ("raw");
    ready.service = fy_proto_str ("audit");
    ready.credit = 8;
    if (fy_proto_send (raw, &ready))
        BAIL_OUT ("READY: %s", zmq_strerror (errno));
    fy_proto_msg_close (&ready);
    return raw;
}

//  Receive count EVENTs on raw within a second, pumping client, their
//  dids into acks (an ACK to send). False on an ERROR, a BYE or a timeout.
static bool
s_raw_take (fy_client_t *client, void *raw, size_t count, fy_proto_msg_t *acks)
{
    fy_proto_msg_t in;
    fy_proto_msg_init (&in);
    acks->command = FY_PROTO_ACK;
    acks->dids = true;
    acks->ids_count = 0;
    fy_error_t err = { "" };
    bool fine = true;
    int64_t until = fy_clock_mono_ms () + 1000;
    while (fine && acks->ids_count < count && fy_clock_mono_ms () < until) {
        fy_client_wait (client, 0);
        if (fy_proto_recv (raw, false, 0, &in, &err))
            continue;
        if (in.command == FY_PROTO_EVENT)
            fy_proto_msg_add_id (acks, in.did);
        fine = in.command != FY_PROTO_ERROR && in.command != FY_PROTO_BYE;
    }
    fy_proto_msg_close (&in);
    return fine && acks->ids_count == count;
}

int
main (void)
{
    plan (NO_PLAN);
    s_at = proc_broker_scratch (s_dir);
    s_out.seq_acks = zhashx_new ();
    pid_t broker = proc_start (
        "broker/ferry-broker", "--set", s_at.set, "--set",
        "broker.heartbeat_ms=100", "--set", "broker.lease_ms=200", "--set",
        "broker.client_credit=500", "--set", "broker.dispatch_timeout_ms=1000",
        "--set", "broker.routes=audit:user.*,goal.*,test.* analytics:goal.*",
        "--set", "log.level=warn", "--set", "http.enabled=false", NULL);

    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (s_at.endpoint, "test", &err);
    if (!client)
        BAIL_OUT ("client: %s", err.text);
    fy_client_set_heartbeat (client, 100, 3);
    fy_client_handlers_t handlers = { .ack = s_on_ack,
                                      .nack = s_on_nack,
                                      .lease = s_on_lease };
    fy_client_set_handlers (client, &handlers);
    PROC_WAIT_FOR (client, fy_client_credit (client) > 0, 5000);
    is_int (fy_client_credit (client), 500, "HELLO is granted client_credit");

    //  1. Two workers share a stream; every event is ACKed once.
    pid_t a1 = s_worker ("audit", "ack", "a1.log");
    pid_t a2 = s_worker ("audit", "ack", "a2.log");
    pid_t n1 = s_worker ("analytics", "ack", "n1.log");
    //  In rounds, each ACKed before the next, and on until both workers
    //  have had some: one that connects late on a loaded machine still
    //  finds work left.
    size_t published = 0;
    int64_t until = fy_clock_mono_ms () + 20000;
    for (int round = 0; fy_clock_mono_ms () < until; round++) {
        if (round >= 20 && s_distinct ("a1.log", NULL) > 0
            && s_distinct ("a2.log", NULL) > 0)
            break;
        published += s_publish (client, "user.login", 100);
        PROC_WAIT_FOR (client, s_out.acks == published, 10000);
    }
    ok (published >= 2000 && published % 100 == 0,
        "published %zu in rounds of 100", published);
    is_int (s_out.acks, published, "as many ACKs");
    ok (s_each_acked_once (), "each seq ACKed exactly once");
    size_t l1, l2;
    size_t d1 = s_distinct ("a1.log", &l1), d2 = s_distinct ("a2.log", &l2);
    is_int (d1 + d2, published, "the two workers did them all between them");
    is_int (l1 + l2, published, "and no event twice");
    ok (d1 > 0 && d2 > 0, "both workers took a share (%zu, %zu)", d1, d2);
    is_int (s_distinct ("n1.log", NULL), 0, "analytics saw no user events");

    //  2. Fan-out: goal.* goes to audit and analytics; ACK waits for both.
    s_reset_outcome ();
    is_int (s_publish (client, "goal.created", 100), 100,
            "published 100 goals");
    PROC_WAIT_FOR (client, s_out.acks == 100, 10000);
    is_int (s_out.acks, 100, "100 ACKs after both services");
    is_int (s_distinct ("n1.log", NULL), 100, "analytics did all 100");
    is_int (s_distinct ("a1.log", NULL) + s_distinct ("a2.log", NULL),
            published + 100, "audit did all 100 too");

    //  3. Unrouted: ACKed at once.
    s_reset_outcome ();
    s_publish (client, "other.thing", 10);
    PROC_WAIT_FOR (client, s_out.acks == 10, 5000);
    is_int (s_out.acks, 10, "unrouted events are ACKed");

    //  4. A worker killed with SIGKILL while it holds events.
    proc_stop (a1, SIGTERM);
    proc_stop (a2, SIGTERM);
    s_reset_outcome ();
    pid_t holder = s_worker ("audit", "hold", "hold.log");
    s_pump (client, 300);
    is_int (s_publish (client, "user.logout", 100), 100, "published 100");
    PROC_WAIT_FOR (client, s_out.leased > 0, 3000);
    ok (s_out.leased > 0, "LEASE names events still being worked on");
    is_int (s_out.acks, 0, "nothing ACKed while the holder holds");
    pid_t a3 = s_worker ("audit", "ack", "a3.log");
    PROC_WAIT_FOR (client, s_out.acks >= 36, 5000);
    is_int (s_out.acks, 36,
            "the new worker did what the holder had no "
            "credit for");
    int status = proc_stop (holder, SIGKILL);
    ok (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL,
        "holder killed with SIGKILL");
    PROC_WAIT_FOR (client, s_out.acks == 100, 5000);
    is_int (s_out.acks, 100, "all 100 ACKed after the kill");
    ok (s_each_acked_once (), "each ACKed exactly once");
    is_int (s_distinct ("a3.log", NULL), 100,
            "none lost: the survivor did "
            "all 100");

    //  5. Worker NACKs: retryable and permanent reach the publisher.
    proc_stop (a3, SIGTERM);
    pid_t nacker = s_worker ("audit", "nack:test.retry", "nack.log");
    s_reset_outcome ();
    s_publish (client, "test.retry", 5);
    PROC_WAIT_FOR (client, s_out.nacks == 5, 5000);
    ok (s_out.nacks == 5 && s_out.retryable == 5, "retryable NACKs");
    is_str (s_out.reason, "test: try later", "with the worker's reason");
    proc_stop (nacker, SIGTERM);
    pid_t failer = s_worker ("audit", "fail:test.fail", "fail.log");
    s_reset_outcome ();
    s_publish (client, "test.fail", 5);
    PROC_WAIT_FOR (client, s_out.nacks == 5, 5000);
    ok (s_out.nacks == 5 && s_out.retryable == 0, "permanent NACKs");
    proc_stop (failer, SIGTERM);

    //  6. Poison: two workers die holding the same event.
    pid_t c1 = s_worker ("audit", "crash:test.poison", "c1.log");
    pid_t c2 = s_worker ("audit", "crash:test.poison", "c2.log");
    s_pump (client, 300);
    s_reset_outcome ();
    s_publish (client, "test.poison", 1);
    PROC_WAIT_FOR (client, s_out.nacks == 1, 5000);
    ok (s_out.nacks == 1 && s_out.retryable == 0, "poison NACKed permanent");
    ok (strncmp (s_out.reason, "poison", 6) == 0, "reason: %s", s_out.reason);
    status = proc_stop (c1, SIGKILL);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 3, "first crasher "
                                                         "crashed on it");
    status = proc_stop (c2, SIGKILL);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 3, "second crasher "
                                                         "crashed on it");

    //  7. A service with no worker: retryable no_worker after the timeout,
    //  which runs from when its last worker left (so start is taken
    //  before: starting a4 may take a while on a loaded machine).
    int64_t start = fy_clock_mono_ms ();
    proc_stop (n1, SIGTERM);
    pid_t a4 = s_worker ("audit", "ack", "a4.log");
    s_reset_outcome ();
    s_publish (client, "goal.updated", 3);
    PROC_WAIT_FOR (client, s_out.nacks == 3, 5000);
    ok (s_out.nacks == 3 && s_out.retryable == 3, "no worker: retryable");
    is_str (s_out.reason, "no_worker", "reason no_worker");
    ok (fy_clock_mono_ms () - start >= 900, "after dispatch_timeout_ms");

    //  8. Malformed frames are dropped; the broker serves on.
    void *context = zmq_ctx_new ();
    void *raw = zmq_socket (context, ZMQ_DEALER);
    zmq_connect (raw, s_at.endpoint);
    unsigned char junk [64];
    for (int i = 0; i < 2000; i++) {
        size_t len = (size_t) (i % 64);
        for (size_t k = 0; k < len; k++)
            junk [k] = (unsigned char) (i * 31 + k * 7);
        int frames = 1 + i % 4;
        for (int f = 0; f < frames; f++) {
            const void *data = junk;
            if (f == 0 && i % 3 == 0)
                data = "FERRY1";
            size_t size = f == 0 && i % 3 == 0 ? 6 : len;
            if (f == 1 && i % 2)
                data = "PUBLISH", size = 7;
            zmq_send (raw, data, size, f + 1 < frames ? ZMQ_SNDMORE : 0);
        }
    }
    //  Another protocol version is told so, with ERROR and BYE.
    zmq_send (raw, "FERRY2", 6, ZMQ_SNDMORE);
    zmq_send (raw, "HELLO", 5, ZMQ_SNDMORE);
    zmq_send (raw, "\x80", 1, 0);
    int timeout = 2000;
    zmq_setsockopt (raw, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    fy_proto_msg_t answer;
    fy_proto_msg_init (&answer);
    bool version_error = false, bye = false;
    for (int i = 0; i < 4000 && !bye; i++) {
        if (fy_proto_recv (raw, false, 0, &answer, &err)) {
            if (errno != EPROTO)
                break;
            continue;
        }
        if (answer.command == FY_PROTO_ERROR
            && fy_proto_str_is (answer.code, "version"))
            version_error = true;
        bye = version_error && answer.command == FY_PROTO_BYE;
    }
    ok (version_error && bye, "FERRY2 gets ERROR version, then BYE");
    fy_proto_msg_close (&answer);
    zmq_close (raw);
    zmq_ctx_term (context);
    s_reset_outcome ();
    s_publish (client, "user.created", 10);
    PROC_WAIT_FOR (client, s_out.acks == 10, 5000);
    is_int (s_out.acks, 10, "broker serves on after 2000 malformed messages");
    ok (kill (broker, 0) == 0, "broker still running");

    //  9. SIGTERM drains: in-flight events finish, then the broker exits.
    proc_stop (a4, SIGTERM);
    pid_t slow = s_worker ("audit", "slow:300", "slow.log");
    s_pump (client, 200);
    s_reset_outcome ();
    s_publish (client, "user.updated", 20);
    s_pump (client, 100);
    kill (broker, SIGTERM);
    PROC_WAIT_FOR (client, s_out.acks == 20, 5000);
    is_int (s_out.acks, 20, "events in flight at SIGTERM still finish");
    status = 0;
    waitpid (broker, &status, 0);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 0,
        "broker exits 0 after draining");
    proc_stop (slow, SIGTERM);
    fy_client_destroy (&client);

    //  10. A worker killed holding its whole credit: the broker learns of
    //  it from the closed connection, not heartbeat_ms x liveness later
    //  (3 s with this broker's defaults), and the survivor has them at once.
    broker = proc_start ("broker/ferry-broker", "--set", s_at.set, "--set",
                         "broker.routes=audit:*", "--set", "log.level=warn",
                         "--set", "http.enabled=false", NULL);
    client = fy_client_new (s_at.endpoint, "test", &err);
    if (!client)
        BAIL_OUT ("client: %s", err.text);
    fy_client_set_handlers (client, &handlers);
    PROC_WAIT_FOR (client, fy_client_credit (client) > 0, 5000);
    s_reset_outcome ();
    holder = s_worker ("audit", "hold", "hold2.log");
    s_pump (client, 300);
    is_int (s_publish (client, "user.logout", S_CREDIT), S_CREDIT,
            "published as many as the holder's credit");
    PROC_WAIT_FOR (
        client, proc_log_lines (s_path ("hold2.log"), NULL) == S_CREDIT, 5000);
    pid_t survivor = s_worker ("audit", "ack", "survivor.log");
    //  The holder has no credit left: the survivor takes this one, which
    //  also says it is ready.
    s_publish (client, "user.login", 1);
    PROC_WAIT_FOR (client, s_out.acks == 1, 5000);
    is_int (proc_log_lines (s_path ("hold2.log"), NULL), S_CREDIT,
            "the holder holds %d", S_CREDIT);
    is_int (s_out.acks, 1, "the survivor is ready");
    start = fy_clock_mono_ms ();
    status = proc_stop (holder, SIGKILL);
    PROC_WAIT_FOR (client, s_out.acks == S_CREDIT + 1, 5000);
    int64_t gap = fy_clock_mono_ms () - start;
    is_int (s_out.acks, S_CREDIT + 1, "all ACKed after the kill");
    ok (gap < 500,
        "within 500 ms of the kill (%lld ms; heartbeats would "
        "take 3000)",
        (long long) gap);
    diag ("intake gap after SIGKILL of a worker holding %d: %lld ms", S_CREDIT,
          (long long) gap);
    ok (s_each_acked_once (), "each ACKed exactly once");
    size_t lines;
    is_int (s_distinct ("survivor.log", &lines), S_CREDIT + 1,
            "the survivor did them all");
    is_int (lines, S_CREDIT + 1, "once each");

    //  11. The broker knows a peer by the fd its connection came on, and
    //  the next connection gets that fd at once: a worker that closes and
    //  one that connects straight after must not be taken for each other,
    //  even when the broker reads the new one's READY before it hears of
    //  the old one's closing (it is stopped, then kept busy with junk).
    //  What the old one ACKed just before closing is not done again.
    proc_stop (survivor, SIGTERM);
    s_reset_outcome ();
    context = zmq_ctx_new ();
    void *noise = zmq_socket (context, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (noise, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect (noise, s_at.endpoint);
    raw = s_raw_worker (context);
    fy_proto_msg_t acks;
    fy_proto_msg_init (&acks);
    bool fine = true;
    size_t rounds = 0;
    for (; rounds < 20 && fine; rounds++) {
        s_publish (client, "user.created", 8);
        fine = s_raw_take (client, raw, 8, &acks);
        kill (broker, SIGSTOP);
        acks.ids_count = 4;
        fine = fine && fy_proto_send (raw, &acks) == 0;
        for (int i = 0; i < 2000; i++) {
            zmq_send (noise, "FERRY1", 6, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            zmq_send (noise, "JUNK", 4, ZMQ_DONTWAIT);
        }
        zmq_close (raw);
        raw = s_raw_worker (context);
        zclock_sleep (20);
        kill (broker, SIGCONT);
        start = fy_clock_mono_ms ();
        fine = fine && s_raw_take (client, raw, 4, &acks)
               && fy_proto_send (raw, &acks) == 0;
        fine = fine && fy_clock_mono_ms () - start < 500;
        PROC_WAIT_FOR (client, s_out.acks == 8 * (rounds + 1), 2000);
        fine = fine && s_out.acks == 8 * (rounds + 1);
    }
    ok (fine,
        "%zu rounds: the next worker had the closed one's unACKed "
        "events at once, and its ACKs counted",
        rounds);
    ok (s_each_acked_once (), "each ACKed exactly once");
    fy_proto_msg_close (&acks);
    zmq_close (raw);
    zmq_close (noise);
    zmq_ctx_term (context);
    kill (broker, SIGTERM);
    waitpid (broker, &status, 0);

    fy_client_destroy (&client);
    zhashx_destroy (&s_out.seq_acks);
    char command [300];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
