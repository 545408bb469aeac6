/*  Batched PUBLISH and EVENT through a real ferry-broker (PROTOCOL.md,
    Batches): fy_client publishes a batch that a test_worker partly NACKs
    (each event answered on its own); a raw client's batch beyond its
    credit has the excess NACKed no_credit one by one; a raw worker that
    offers batches gets several deliveries in one EVENT, within its
    credit; malformed batches are counted in ferry_broker_malformed_total
    and dropped, and the broker serves on; credit comes back in quarters
    of client_credit, or at once to a client that has none. */
#include "ferry/ferry.h"
#include "proc.h"

#include <errno.h>

#define S_CREDIT 8              //  broker.client_credit here, as a text too
#define S_CREDIT_SET "broker.client_credit=8"
//  Clients of S_CREDIT each that together publish more than a batch of
//  a frame per event.
#define S_PUBS (FY_PROTO_BATCH_MAX / S_CREDIT + 2)

static char s_dir [] = "/tmp/ferry-batch-XXXXXX";
static proc_broker_at_t s_at;
static int s_port;

//  What the publisher heard (the handlers' arg).
typedef struct {
    size_t acks, nacks, retryable;
    char reason [256];
} s_heard_t;

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) seq;
    s_heard_t *heard = arg;
    heard->acks++;
}

static void
s_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
           const char *reason, void *arg)
{
    (void) client;
    (void) seq;
    s_heard_t *heard = arg;
    heard->nacks++;
    heard->retryable += retryable;
    snprintf (heard->reason, sizeof heard->reason, "%s", reason);
}

//  The value of the broker's metric series (name and labels as
//  /metrics prints them), or -1.
static long
s_metric (const char *series)
{
    char command [256];
    snprintf (command, sizeof command,
              "curl -s http://127.0.0.1:%d/metrics | grep -v '^#' | "
              "grep -F '%s '",
              s_port, series);
    FILE *pipe = popen (command, "r");
    char line [256] = "";
    if (!pipe)
        return -1;
    char *got = fgets (line, sizeof line, pipe);
    pclose (pipe);
    char *space = got ? strchr (line, ' ') : NULL;
    return space ? strtol (space + 1, NULL, 10) : -1;
}

//  A batched PUBLISH of count events of type from raw, seqs from first.
static void
s_raw_publish (void *raw, fy_proto_msg_t *out, const char *type, uint64_t first,
               size_t count)
{
    fy_proto_msg_reset (out);
    out->command = FY_PROTO_PUBLISH;
    char ids [FY_PROTO_BATCH_MAX + 1][FY_UUID_SIZE];
    for (size_t i = 0; i < count; i++) {
        size_t size = 0;
        char *data = proc_event_packed (type, 0, ids [i], &size);
        fy_proto_entry_t *entry = fy_proto_msg_add_entry (out);
        entry->seq = first + i;
        entry->id = fy_proto_str (ids [i]);
        entry->type = fy_proto_str (type);
        zmq_msg_init_size (&entry->event, size);
        memcpy (zmq_msg_data (&entry->event), data, size);
        free (data);
    }
    if (fy_proto_send (raw, out))
        BAIL_OUT ("raw PUBLISH: %s", zmq_strerror (errno));
}

//  A raw client's HELLO, saying packed or not: the credit of the
//  broker's first CREDIT (0 if none came), and the batch it offers.
static uint64_t
s_raw_hello (void *raw, fy_proto_msg_t *out, fy_proto_msg_t *in,
             const char *name, bool packed, uint64_t *batch)
{
    fy_proto_msg_reset (out);
    out->command = FY_PROTO_HELLO;
    out->name = fy_proto_str (name);
    out->role = fy_proto_str ("client");
    out->packed = packed;
    if (fy_proto_send (raw, out))
        BAIL_OUT ("HELLO");
    fy_error_t err = { "" };
    for (int i = 0; i < 20; i++)
        if (fy_proto_recv (raw, false, 0, in, &err) == 0
            && in->command == FY_PROTO_CREDIT) {
            *batch = in->batch;
            return in->n;
        }
    return 0;
}

int
main (void)
{
    plan (NO_PLAN);
    s_at = proc_broker_scratch (s_dir);
    s_port = tap_free_port ();
    char port_set [64];
    snprintf (port_set, sizeof port_set, "http.port=%d", s_port);
    pid_t broker =
        proc_start ("broker/ferry-broker", "--set", s_at.set, "--set", port_set,
                    "--set", "http.address=127.0.0.1", "--set", S_CREDIT_SET,
                    "--set", "broker.routes=audit:user.* raw:raw.* big:big.*",
                    "--set", "log.level=warn", NULL);
    char log [512];
    snprintf (log, sizeof log, "%s/worker.log", s_dir);
    pid_t worker = proc_start ("tests/integration/test_worker", s_at.endpoint,
                               "audit", "nack:user.deleted", log, NULL);
    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (s_at.endpoint, "test", &err);
    if (!client)
        BAIL_OUT ("client: %s", err.text);
    s_heard_t heard = { 0 };
    fy_client_handlers_t handlers = { .ack = s_on_ack,
                                      .nack = s_on_nack,
                                      .arg = &heard };
    fy_client_set_handlers (client, &handlers);
    PROC_WAIT_FOR (client, fy_client_credit (client) == S_CREDIT, 5000);
    is_int (fy_client_credit (client), S_CREDIT, "client granted its credit");
    is_int (fy_client_batch (client), FY_PROTO_PACKED_MAX,
            "fy_client says it packs: batches of %d", FY_PROTO_PACKED_MAX);
    //  The worker's READY may come after the client's HELLO.
    zclock_sleep (300);

    //  1. fy_client's batch, half of it NACKed by the worker: every event
    //  is answered on its own.
    fy_client_event_t events [S_CREDIT];
    char *data [S_CREDIT];
    char ids [S_CREDIT][FY_UUID_SIZE];
    for (size_t i = 0; i < S_CREDIT; i++) {
        const char *type = i % 2 ? "user.deleted" : "user.login";
        events [i] = (fy_client_event_t) { ids [i], type, NULL, 0, 0 };
        data [i] = proc_event_packed (type, 0, ids [i], &events [i].size);
        events [i].msgpack = data [i];
    }
    size_t published = 0;
    ok (fy_client_publish_batch (client, events, S_CREDIT, &published) == 0
            && published == S_CREDIT,
        "a batch of %d published", S_CREDIT);
    ok (events [0].seq > 0
            && events [S_CREDIT - 1].seq == events [0].seq + S_CREDIT - 1,
        "each event has its seq");
    is_int (fy_client_credit (client), 0, "credit counted per event");
    ok (fy_client_publish_batch (client, events, 1, &published) == -1
            && errno == EAGAIN && published == 0,
        "no credit: EAGAIN, nothing published");
    PROC_WAIT_FOR (client, heard.acks + heard.nacks == S_CREDIT, 5000);
    is_int (heard.acks, S_CREDIT / 2, "the worker's ACKs reach the publisher");
    is_int (heard.retryable, S_CREDIT / 2, "its NACKs too, one per event");
    is_str (heard.reason, "test: try later", "with the worker's reason");
    for (size_t i = 0; i < S_CREDIT; i++)
        free (data [i]);

    //  2. A raw client's batch beyond its credit: the excess is NACKed
    //  no_credit, event by event, the rest delivered.
    void *context = zmq_ctx_new ();
    void *raw = proc_raw_dealer (context, s_at.endpoint, 100);
    fy_proto_msg_t out, in;
    fy_proto_msg_init (&out);
    fy_proto_msg_init (&in);
    uint64_t batch = 0;
    uint64_t credit = s_raw_hello (raw, &out, &in, "raw", false, &batch);
    is_int (credit, S_CREDIT, "raw client's CREDIT");
    is_int (batch, FY_PROTO_BATCH_MAX,
            "CREDIT offers batches, a frame each to a client that did not "
            "say packed");
    s_raw_publish (raw, &out, "user.login", 1, S_CREDIT + 2);
    size_t acked = 0, no_credit = 0;
    for (int i = 0; i < 50 && acked + no_credit < S_CREDIT + 2; i++) {
        if (fy_proto_recv (raw, false, 0, &in, &err))
            continue;
        if (in.command == FY_PROTO_ACK)
            acked += in.ids_count;
        else if (in.command == FY_PROTO_NACK && in.retryable
                 && fy_proto_str_is (in.reason, "no_credit")
                 && in.seq > S_CREDIT)
            no_credit++;
    }
    is_int (acked, S_CREDIT, "the events within credit are ACKed");
    is_int (no_credit, 2, "the two beyond it NACKed no_credit");

    //  3. A worker that offers batches gets its deliveries together, no
    //  more than its credit at a time.
    void *raw_worker = proc_raw_dealer (context, s_at.endpoint, 100);
    fy_proto_msg_t ready;
    fy_proto_msg_init (&ready);
    ready.command = FY_PROTO_READY;
    ready.service = fy_proto_str ("raw");
    ready.credit = 4;
    ready.batch = FY_PROTO_BATCH_MAX;
    if (fy_proto_send (raw_worker, &ready))
        BAIL_OUT ("READY");
    zclock_sleep (200);
    //  Credit came back with the ACKs above.
    s_raw_publish (raw, &out, "raw.thing", 100, 5);
    size_t first = 0;
    bool packed = true;
    fy_proto_msg_t acks;
    fy_proto_msg_init (&acks);
    acks.command = FY_PROTO_ACK;
    acks.dids = true;
    for (int i = 0; i < 20 && !first; i++)
        if (fy_proto_recv (raw_worker, false, 0, &in, &err) == 0
            && in.command == FY_PROTO_EVENT) {
            first = in.entries_count;
            packed = in.packed;
            for (size_t k = 0; k < in.entries_count; k++)
                fy_proto_msg_add_id (&acks, in.entries [k].did);
        }
    is_int (first, 4, "one EVENT of 4 deliveries, the worker's credit");
    ok (!packed, "a frame each, to a worker that did not say packed");
    if (fy_proto_send (raw_worker, &acks))
        BAIL_OUT ("ACK");
    uint64_t last = 0;
    for (int i = 0; i < 20 && !last; i++)
        if (fy_proto_recv (raw_worker, false, 0, &in, &err) == 0
            && in.command == FY_PROTO_EVENT && !in.entries_count)
            last = in.did;
    ok (last > 0, "the fifth once credit came back, as one EVENT");
    acks.ids_count = 0;
    fy_proto_msg_add_id (&acks, last);
    if (fy_proto_send (raw_worker, &acks))
        BAIL_OUT ("ACK");
    zmq_close (raw_worker);

    //  3b. A worker that says packed gets a batch's events in one frame.
    raw_worker = proc_raw_dealer (context, s_at.endpoint, 100);
    ready.packed = true;
    if (fy_proto_send (raw_worker, &ready))
        BAIL_OUT ("READY");
    zclock_sleep (200);
    s_raw_publish (raw, &out, "raw.thing", 110, 3);
    acks.ids_count = 0;
    size_t sized = 0;
    packed = false;
    for (int i = 0; i < 20 && !packed; i++)
        if (fy_proto_recv (raw_worker, false, 0, &in, &err) == 0
            && in.command == FY_PROTO_EVENT) {
            packed = in.packed;
            for (size_t k = 0; k < in.entries_count; k++) {
                sized += zmq_msg_size (&in.entries [k].event) > 0;
                fy_proto_msg_add_id (&acks, in.entries [k].did);
            }
        }
    ok (packed && sized == 3, "one packed EVENT of 3 events, each its own");
    if (fy_proto_send (raw_worker, &acks))
        BAIL_OUT ("ACK");
    zmq_close (raw_worker);

    //  3c. Packed, a worker may ask for more than FY_PROTO_BATCH_MAX
    //  deliveries in one EVENT; unpacked it gets that many at most. The
    //  events wait for it (READY with no credit) from enough clients of
    //  S_CREDIT each, then one READY gives credit for them all.
    for (int packs = 0; packs < 2; packs++) {
        size_t queued = S_PUBS * S_CREDIT;
        raw_worker = proc_raw_dealer (context, s_at.endpoint, 100);
        ready.service = fy_proto_str ("big");
        ready.credit = 0;
        ready.batch = FY_PROTO_PACKED_MAX;
        ready.packed = packs;
        if (fy_proto_send (raw_worker, &ready))
            BAIL_OUT ("READY");
        void *pubs [S_PUBS];
        for (int p = 0; p < S_PUBS; p++) {
            pubs [p] = proc_raw_dealer (context, s_at.endpoint, 100);
            if (s_raw_hello (pubs [p], &out, &in, "pub", true, &batch)
                != S_CREDIT)
                BAIL_OUT ("publisher %d had no credit", p);
            s_raw_publish (pubs [p], &out, "big.thing", 1, S_CREDIT);
        }
        for (int i = 0; i < 100
                        && s_metric ("ferry_broker_queued{service=\"big\"}")
                               < (long) queued;
             i++)
            zclock_sleep (50);
        ready.credit = 2 * queued;
        if (fy_proto_send (raw_worker, &ready))
            BAIL_OUT ("READY");
        size_t largest = 0, got = 0;
        for (int i = 0; i < 40 && got < queued; i++)
            if (fy_proto_recv (raw_worker, false, 0, &in, &err) == 0
                && in.command == FY_PROTO_EVENT) {
                size_t n = in.entries_count ? in.entries_count : 1;
                largest = n > largest ? n : largest;
                got += n;
                acks.ids_count = 0;
                for (size_t k = 0; k < in.entries_count; k++)
                    fy_proto_msg_add_id (&acks, in.entries [k].did);
                if (!in.entries_count)
                    fy_proto_msg_add_id (&acks, in.did);
                if (fy_proto_send (raw_worker, &acks))
                    BAIL_OUT ("ACK");
            }
        is_int (got, queued, "%zu queued deliveries came, %s", queued,
                packs ? "packed" : "a frame each");
        is_int (largest, packs ? queued : FY_PROTO_BATCH_MAX,
                "the largest EVENT, %s", packs ? "packed" : "a frame each");
        //  Their ACKs, before the publishers go.
        for (int p = 0; p < S_PUBS; p++) {
            size_t acked_p = 0;
            for (int i = 0; i < 20 && acked_p < S_CREDIT; i++)
                if (fy_proto_recv (pubs [p], false, 0, &in, &err) == 0
                    && in.command == FY_PROTO_ACK)
                    acked_p += in.ids_count;
            if (acked_p != S_CREDIT)
                BAIL_OUT ("publisher %d: %zu ACKed", p, acked_p);
            zmq_close (pubs [p]);
        }
        zmq_close (raw_worker);
    }
    fy_proto_msg_close (&acks);
    fy_proto_msg_close (&ready);

    //  4. Malformed batches are counted and dropped whole.
    long before = s_metric ("ferry_broker_malformed_total");
    ok (before >= 0, "metrics read: %ld malformed so far", before);
    s_raw_publish (raw, &out, "user.login", 200, 2);
    //  Two entries, one frame.
    const char *header = "\x81\xa6"
                         "events\x92\x93\x07\xa1x\xa1y\x93\x08\xa1x\xa1z";
    zmq_send (raw, "FERRY1", 6, ZMQ_SNDMORE);
    zmq_send (raw, "PUBLISH", 7, ZMQ_SNDMORE);
    zmq_send (raw, header, 21, ZMQ_SNDMORE);
    zmq_send (raw, "e", 1, 0);
    //  One more entry than a batch may carry.
    s_raw_publish (raw, &out, "user.login", 300, FY_PROTO_BATCH_MAX + 1);
    //  An empty batch.
    zmq_send (raw, "FERRY1", 6, ZMQ_SNDMORE);
    zmq_send (raw, "PUBLISH", 7, ZMQ_SNDMORE);
    zmq_send (raw,
              "\x81\xa6"
              "events\x90",
              9, 0);
    long after = before;
    for (int i = 0; i < 50 && after < before + 3; i++) {
        zclock_sleep (20);
        after = s_metric ("ferry_broker_malformed_total");
    }
    is_int (after - before, 3, "three malformed batches counted");
    acked = 0;
    for (int i = 0; i < 20 && acked < 2; i++)
        if (fy_proto_recv (raw, false, 0, &in, &err) == 0
            && in.command == FY_PROTO_ACK)
            for (size_t k = 0; k < in.ids_count; k++)
                acked += in.ids [k] >= 200 && in.ids [k] < 300;
    is_int (acked, 2, "the valid batch before them ACKed, theirs not");
    ok (kill (broker, 0) == 0, "broker still running");

    //  5. Credit in quarters (S_CREDIT / 4 = 2): one event ACKed brings no
    //  CREDIT to a client that has credit left, the second brings both.
    void *chunked = proc_raw_dealer (context, s_at.endpoint, 100);
    credit = s_raw_hello (chunked, &out, &in, "chunked", true, &batch);
    is_int (credit, S_CREDIT, "another client's CREDIT");
    is_int (batch, FY_PROTO_PACKED_MAX,
            "larger batches to a client whose HELLO said packed");
    uint64_t granted [2] = { 0, 0 };
    for (int round = 0; round < 2; round++) {
        s_raw_publish (chunked, &out, "user.login", 400 + round, 1);
        bool answered = false;
        //  The ACK, then 300 ms for a CREDIT the broker would send with it.
        for (int i = 0; i < 20 && !answered; i++)
            if (fy_proto_recv (chunked, false, 0, &in, &err) == 0)
                answered = in.command == FY_PROTO_ACK;
        for (int i = 0; i < 3; i++)
            if (fy_proto_recv (chunked, false, 0, &in, &err) == 0
                && in.command == FY_PROTO_CREDIT)
                granted [round] += in.n;
    }
    is_int (granted [0], 0, "one event ACKed: no CREDIT, 7 of 8 left");
    is_int (granted [1], 2, "the second: a CREDIT of a quarter");
    //  All of it spent: each ACK batch is answered with credit at once.
    s_raw_publish (chunked, &out, "user.login", 500, S_CREDIT);
    size_t spent_acked = 0;
    credit = 0;
    for (int i = 0; i < 30 && (spent_acked < S_CREDIT || !credit); i++)
        if (fy_proto_recv (chunked, false, 0, &in, &err) == 0) {
            if (in.command == FY_PROTO_ACK)
                spent_acked += in.ids_count;
            else if (in.command == FY_PROTO_CREDIT && !credit)
                credit = in.n;
        }
    is_int (spent_acked, S_CREDIT, "a whole credit's events ACKed");
    ok (credit > 0, "a client at zero is granted %llu at once",
        (unsigned long long) credit);
    zmq_close (chunked);

    fy_proto_msg_close (&out);
    fy_proto_msg_close (&in);
    zmq_close (raw);
    zmq_ctx_term (context);
    fy_client_destroy (&client);
    proc_stop (worker, SIGTERM);
    proc_stop (broker, SIGTERM);
    char command [300];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
