/*  Tests for fy_proto over real ZeroMQ sockets (DEALER <-> ROUTER on
    inproc): every command round-trips with its fields, the event frame is
    forwarded untouched, and malformed messages are refused with EPROTO
    without desynchronizing the socket. */
#include "ferry/ferry.h"
#include "tap.h"

#include <assert.h>
#include <errno.h>

static void *s_router, *s_dealer;

//  Send from the dealer, receive on the router.
static int
s_trip (fy_proto_msg_t *out, fy_proto_msg_t *in, fy_error_t *err)
{
    if (fy_proto_send (s_dealer, out))
        return -1;
    return fy_proto_recv (s_router, true, 0, in, err);
}

static void
s_send_frames (const char *const *frames, const size_t *sizes, int count)
{
    for (int i = 0; i < count; i++)
        zmq_send (s_dealer, frames [i], sizes [i],
                  i + 1 < count ? ZMQ_SNDMORE : 0);
}

//  Build count frames from byte strings, as recv would have read them.
static void
s_make_frames (zmq_msg_t *frames, const char *const *data, const size_t *sizes,
               size_t count)
{
    for (size_t i = 0; i < count; i++) {
        zmq_msg_init_size (&frames [i], sizes [i]);
        memcpy (zmq_msg_data (&frames [i]), data [i], sizes [i]);
    }
}

//  Decode the given frames; the frames are consumed either way.
static int
s_decode (fy_proto_msg_t *msg, const char *const *data, const size_t *sizes,
          size_t count, bool router, fy_error_t *err)
{
    zmq_msg_t frames [8];
    assert (count <= 8);
    s_make_frames (frames, data, sizes, count);
    err->text [0] = '\0';
    errno = 0;
    return fy_proto_decode (msg, frames, count, router, err);
}

//  fy_proto_decode on its own: no socket, frames in memory.
static void
s_test_decode (void)
{
    fy_proto_msg_t msg;
    fy_proto_msg_init (&msg);
    fy_error_t err = { "" };

    const char *credit [] = { "peer", "FERRY1", "CREDIT", "\x81\xa1n\x07" };
    size_t credit_sizes [] = { 4, 6, 6, 4 };
    ok (s_decode (&msg, credit + 1, credit_sizes + 1, 3, false, &err) == 0
            && msg.command == FY_PROTO_CREDIT && msg.n == 7
            && !msg.has_identity,
        "decode CREDIT as dealer: %s", err.text);
    ok (s_decode (&msg, credit, credit_sizes, 4, true, &err) == 0 && msg.n == 7
            && msg.has_identity && zmq_msg_size (&msg.identity) == 4
            && memcmp (zmq_msg_data (&msg.identity), "peer", 4) == 0,
        "decode CREDIT as router keeps the identity: %s", err.text);

    const char *publish [] = { "FERRY1", "PUBLISH",
                               "\x83\xa3seq\x09\xa2id\xa1x\xa4type\xa1y",
                               "\xc0\x01" };
    size_t publish_sizes [] = { 6, 7, 18, 2 };
    ok (s_decode (&msg, publish, publish_sizes, 4, false, &err) == 0
            && msg.seq == 9 && fy_proto_str_is (msg.type, "y") && msg.has_event
            && zmq_msg_size (&msg.event) == 2
            && memcmp (zmq_msg_data (&msg.event), "\xc0\x01", 2) == 0,
        "decode PUBLISH moves the event frame in: %s", err.text);
    ok (s_decode (&msg, publish, publish_sizes, 3, false, &err) == -1
            && errno == EPROTO && strstr (err.text, "no event frame"),
        "PUBLISH without event: %s", err.text);
    ok (!msg.has_event && msg.command == FY_PROTO_PUBLISH,
        "a failed decode leaves no event behind");

    ok (s_decode (&msg, NULL, NULL, 0, false, &err) == -1 && errno == EPROTO
            && strstr (err.text, "no frames"),
        "no frames: %s", err.text);
    ok (s_decode (&msg, NULL, NULL, 0, true, &err) == -1 && errno == EPROTO
            && strstr (err.text, "no identity frame"),
        "router, no frames: %s", err.text);
    ok (s_decode (&msg, credit, credit_sizes, 1, true, &err) == -1
            && errno == EPROTO && strstr (err.text, "no frames after identity")
            && msg.has_identity && zmq_msg_size (&msg.identity) == 4,
        "identity alone refused, sender still named: %s", err.text);
    ok (s_decode (&msg, credit, credit_sizes, 4, false, &err) == -1
            && errno == EPROTONOSUPPORT && strstr (err.text, "not FERRY1"),
        "identity read as dealer is not the signature: %s", err.text);
    ok (s_decode (&msg, credit + 1, credit_sizes + 1, 1, false, &err) == -1
            && strstr (err.text, "no command frame"),
        "signature alone: %s", err.text);
    ok (s_decode (&msg, credit + 1, credit_sizes + 1, 2, false, &err) == -1
            && strstr (err.text, "CREDIT: no header frame"),
        "no header frame: %s", err.text);
    const char *more [] = { "FERRY1", "CREDIT", "\x81\xa1n\x07", "x" };
    size_t more_sizes [] = { 6, 6, 4, 1 };
    ok (s_decode (&msg, more, more_sizes, 4, false, &err) == -1
            && strstr (err.text, "too many frames"),
        "too many frames: %s", err.text);
    const char *empty [] = { "FERRY1", "", "\x80" };
    size_t empty_sizes [] = { 6, 0, 1 };
    ok (s_decode (&msg, empty, empty_sizes, 3, false, &err) == -1
            && strstr (err.text, "unknown command"),
        "empty command: %s", err.text);
    const char *header [] = { "FERRY1", "BYE", "" };
    size_t header_sizes [] = { 6, 3, 0 };
    ok (s_decode (&msg, header, header_sizes, 3, false, &err) == -1
            && strstr (err.text, "header is not msgpack"),
        "empty header: %s", err.text);
    //  The same msg decodes again after all those failures.
    ok (s_decode (&msg, credit + 1, credit_sizes + 1, 3, false, &err) == 0
            && msg.n == 7 && !msg.has_identity,
        "msg reusable after failures");
    fy_proto_msg_close (&msg);
}

//  Send a batched PUBLISH of count events from the dealer; event i's
//  frame is the byte 'a' + i repeated i + 1 times.
static int
s_send_batch (fy_proto_msg_t *out, size_t count, bool packed)
{
    fy_proto_msg_reset (out);
    out->command = FY_PROTO_PUBLISH;
    out->packed = packed;
    for (size_t i = 0; i < count; i++) {
        fy_proto_entry_t *entry = fy_proto_msg_add_entry (out);
        entry->seq = 100 + i;
        entry->id = fy_proto_str ("3f1c2a4e-9b7d-4c1e-8f00-0123456789ab");
        entry->type = fy_proto_str (i % 2 ? "user.logout" : "user.login");
        zmq_msg_init_size (&entry->event, i + 1);
        memset (zmq_msg_data (&entry->event), 'a' + (int) (i % 26), i + 1);
    }
    return fy_proto_send (s_dealer, out);
}

//  A batch of three, the largest batch, and the broker's EVENT of two to
//  a worker, each sent and received, packed or a frame per event.
static void
s_test_batch_trips (bool packed)
{
    fy_proto_msg_t out, in;
    fy_proto_msg_init (&out);
    fy_proto_msg_init (&in);
    fy_error_t err = { "" };
    const char *how = packed ? "packed" : "a frame each";

    //  A batch of three: entries in order, frames byte for byte.
    ok (s_send_batch (&out, 3, packed) == 0, "batched PUBLISH sent, %s", how);
    ok (out.entries_count == 3
            && (packed || zmq_msg_size (&out.entries [0].event) == 0),
        "send consumed the batch's frames, %s", how);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == 0
            && in.command == FY_PROTO_PUBLISH && in.entries_count == 3
            && !in.has_event && in.seq == 0 && in.packed == packed,
        "batched PUBLISH received, %s: %s", how, err.text);
    bool same = in.entries_count == 3;
    for (size_t i = 0; same && i < 3; i++) {
        fy_proto_entry_t *entry = &in.entries [i];
        same = entry->seq == 100 + i
               && fy_proto_str_is (entry->type,
                                   i % 2 ? "user.logout" : "user.login")
               && entry->id.len == 36 && zmq_msg_size (&entry->event) == i + 1
               && ((char *) zmq_msg_data (&entry->event)) [i] == 'a' + (int) i;
    }
    ok (same, "each entry with its seq, id, type and frame, %s", how);

    //  The largest batch of its form goes; the socket stays in step.
    size_t most = packed ? FY_PROTO_PACKED_MAX : FY_PROTO_BATCH_MAX;
    ok (s_send_batch (&out, most, packed) == 0
            && fy_proto_recv (s_router, true, 0, &in, &err) == 0
            && in.entries_count == most
            && zmq_msg_size (&in.entries [most - 1].event) == most,
        "a batch of %zu, %s: %s", most, how, err.text);

    //  EVENT: the broker's batch to one worker (PROTOCOL.md's example).
    fy_proto_msg_t fwd;
    fy_proto_msg_init (&fwd);
    fwd.command = FY_PROTO_EVENT;
    fwd.service = fy_proto_str ("audit");
    fwd.packed = packed;
    zmq_msg_copy (&fwd.identity, &in.identity);
    fwd.has_identity = true;
    for (uint64_t did = 41; did <= 42; did++) {
        fy_proto_entry_t *entry = fy_proto_msg_add_entry (&fwd);
        entry->did = did;
        entry->attempt = 1;
        zmq_msg_copy (&entry->event, &in.entries [did - 41].event);
    }
    ok (fy_proto_send (s_router, &fwd) == 0
            && fy_proto_recv (s_dealer, false, 0, &in, &err) == 0
            && in.command == FY_PROTO_EVENT && in.entries_count == 2
            && in.did == 0 && fy_proto_str_is (in.service, "audit")
            && in.packed == packed && in.entries [1].did == 42
            && in.entries [1].attempt == 1
            && zmq_msg_size (&in.entries [1].event) == 2
            && memcmp (zmq_msg_data (&in.entries [1].event), "bb", 2) == 0,
        "batched EVENT to a worker, %s: %s", how, err.text);
    fy_proto_msg_close (&fwd);
    //  One more than the most: refused, and recv drains it all.
    ok (s_send_batch (&out, most + 1, packed) == 0
            && fy_proto_recv (s_router, true, 0, &in, &err) == -1
            && errno == EPROTO,
        "a batch of %zu refused, %s: %s", most + 1, how, err.text);
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_HEARTBEAT;
    ok (s_trip (&out, &in, &err) == 0 && in.command == FY_PROTO_HEARTBEAT,
        "socket in step after an oversized batch, %s", how);
    fy_proto_msg_close (&out);
    fy_proto_msg_close (&in);
}

//  Batched PUBLISH and EVENT (PROTOCOL.md, Batches), with its examples.
static void
s_test_batches (void)
{
    fy_proto_msg_t out, in;
    fy_proto_msg_init (&out);
    fy_proto_msg_init (&in);
    fy_error_t err = { "" };

    //  CREDIT and READY offer batches, packed or not.
    out.command = FY_PROTO_CREDIT;
    out.n = 10;
    out.batch = FY_PROTO_BATCH_MAX;
    out.packed = true;
    ok (s_trip (&out, &in, &err) == 0 && in.n == 10
            && in.batch == FY_PROTO_BATCH_MAX && in.packed,
        "CREDIT says batch and packed: %s", err.text);
    out.batch = 0;
    out.packed = false;
    ok (s_trip (&out, &in, &err) == 0 && in.batch == 0 && !in.packed,
        "CREDIT without either, as from an older broker");
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_READY;
    out.service = fy_proto_str ("audit");
    out.credit = 8;
    out.batch = 16;
    out.packed = true;
    ok (s_trip (&out, &in, &err) == 0 && in.batch == 16 && in.packed,
        "READY says batch and packed");
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_HELLO;
    out.name = fy_proto_str ("bridge");
    out.role = fy_proto_str ("client");
    out.packed = true;
    ok (s_trip (&out, &in, &err) == 0 && in.packed,
        "HELLO says the client packs: %s", err.text);
    out.packed = false;
    ok (s_trip (&out, &in, &err) == 0 && !in.packed,
        "HELLO without it, as from an older client");
    //  What a peer asks, within its form's most.
    ok (fy_proto_batch_most (16, false) == 16
            && fy_proto_batch_most (1000, false) == FY_PROTO_BATCH_MAX
            && fy_proto_batch_most (1000, true) == FY_PROTO_PACKED_MAX
            && fy_proto_batch_most (100, true) == 100
            && fy_proto_batch_most (0, true) == 0,
        "fy_proto_batch_most clamps to %d, or %d packed", FY_PROTO_BATCH_MAX,
        FY_PROTO_PACKED_MAX);
    s_test_batch_trips (false);

    //  Malformed batches are refused whole, the frames consumed.
    //  PROTOCOL.md's PUBLISH example, ids shortened.
    const char *example = "\x81\xa6"
                          "events\x92\x93\x07\xa1x\xaauser.login"
                          "\x93\x08\xa1y\xabuser.logout";
    const char *two [] = { "FERRY1", "PUBLISH", example, "e7", "e8" };
    size_t two_sizes [] = { 6, 7, 40, 2, 2 };
    ok (s_decode (&in, two, two_sizes, 5, false, &err) == 0
            && in.entries_count == 2 && in.entries [1].seq == 8
            && fy_proto_str_is (in.entries [0].type, "user.login")
            && fy_proto_str_is (in.entries [1].id, "y")
            && fy_proto_str_is (in.entries [1].type, "user.logout"),
        "two events, two frames: %s", err.text);
    ok (s_decode (&in, two, two_sizes, 4, false, &err) == -1 && errno == EPROTO
            && strstr (err.text, "fewer event frames than events")
            && in.entries_count == 2
            && zmq_msg_size (&in.entries [1].event) == 0,
        "two events, one frame: %s", err.text);
    const char *three [] = { "FERRY1", "PUBLISH", example, "e7", "e8", "e9" };
    size_t three_sizes [] = { 6, 7, 40, 2, 2, 2 };
    ok (s_decode (&in, three, three_sizes, 6, false, &err) == -1
            && strstr (err.text, "too many frames"),
        "two events, three frames: %s", err.text);
    const char *empty_header = "\x81\xa6"
                               "events\x90";
    const char *empty [] = { "FERRY1", "PUBLISH", empty_header };
    size_t empty_sizes [] = { 6, 7, 9 };
    ok (s_decode (&in, empty, empty_sizes, 3, false, &err) == -1
            && strstr (err.text, "wrong type for events"),
        "an empty batch: %s", err.text);
    const char *both_header = "\x82\xa3seq\x01\xa6"
                              "events\x91\x93\x07\xa1x\xa1y";
    const char *both [] = { "FERRY1", "PUBLISH", both_header, "e" };
    size_t both_sizes [] = { 6, 7, 20, 1 };
    ok (s_decode (&in, both, both_sizes, 4, false, &err) == -1
            && strstr (err.text, "needs exactly one of seq/events"),
        "seq beside events: %s", err.text);
    const char *type_header = "\x82\xa4type\xa1y\xa6"
                              "events\x91\x93\x07\xa1x\xa1y";
    const char *type [] = { "FERRY1", "PUBLISH", type_header, "e" };
    size_t type_sizes [] = { 6, 7, 22, 1 };
    ok (s_decode (&in, type, type_sizes, 4, false, &err) == -1
            && strstr (err.text, "events beside type"),
        "type beside events: %s", err.text);
    const char *shape_header = "\x81\xa6"
                               "events\x91\x92\x07\xa1x";
    const char *shape [] = { "FERRY1", "PUBLISH", shape_header, "e" };
    size_t shape_sizes [] = { 6, 7, 13, 1 };
    ok (s_decode (&in, shape, shape_sizes, 4, false, &err) == -1
            && strstr (err.text, "wrong type for events"),
        "an entry of the wrong shape: %s", err.text);
    const char *did0_header = "\x82\xa7service\xa1"
                              "a\xa6"
                              "events\x91\x92\x00\x01";
    const char *did0 [] = { "FERRY1", "EVENT", did0_header, "e" };
    size_t did0_sizes [] = { 6, 5, 22, 1 };
    ok (s_decode (&in, did0, did0_sizes, 4, false, &err) == -1
            && strstr (err.text, "wrong type for events"),
        "an EVENT entry with did 0: %s", err.text);
    const char *no_attempt_header = "\x82\xa7service\xa1"
                                    "a\xa3"
                                    "did\x05";
    const char *no_attempt [] = { "FERRY1", "EVENT", no_attempt_header, "e" };
    size_t no_attempt_sizes [] = { 6, 5, 16, 1 };
    ok (s_decode (&in, no_attempt, no_attempt_sizes, 4, false, &err) == -1
            && strstr (err.text, "missing attempt"),
        "the one-event EVENT still needs attempt: %s", err.text);
    fy_proto_msg_close (&out);
    fy_proto_msg_close (&in);
}

//  Packed batches (PROTOCOL.md, Batches): each entry ends with its
//  event's size, and the events come in one frame.
static void
s_test_packed (void)
{
    fy_proto_msg_t in;
    fy_proto_msg_init (&in);
    fy_error_t err = { "" };
    s_test_batch_trips (true);

    //  PROTOCOL.md's packed example, ids shortened.
    const char *example = "\x81\xa6"
                          "events\x92\x94\x07\xa1x\xaauser.login\x02"
                          "\x94\x08\xa1y\xabuser.logout\x02";
    const char *one [] = { "FERRY1", "PUBLISH", example, "e7e8" };
    size_t one_sizes [] = { 6, 7, 42, 4 };
    ok (s_decode (&in, one, one_sizes, 4, false, &err) == 0 && in.packed
            && in.entries_count == 2 && in.entries [1].seq == 8
            && zmq_msg_size (&in.entries [1].event) == 2
            && memcmp (zmq_msg_data (&in.entries [1].event), "e8", 2) == 0,
        "two events, one frame: %s", err.text);
    one_sizes [3] = 3;
    ok (s_decode (&in, one, one_sizes, 4, false, &err) == -1 && errno == EPROTO
            && strstr (err.text, "event sizes do not add up"),
        "a frame shorter than the sizes: %s", err.text);
    const char *longer [] = { "FERRY1", "PUBLISH", example, "e7e8x" };
    size_t longer_sizes [] = { 6, 7, 42, 5 };
    ok (s_decode (&in, longer, longer_sizes, 4, false, &err) == -1
            && strstr (err.text, "event sizes do not add up"),
        "a frame longer than the sizes: %s", err.text);
    const char *two [] = { "FERRY1", "PUBLISH", example, "e7", "e8" };
    size_t two_sizes [] = { 6, 7, 42, 2, 2 };
    ok (s_decode (&in, two, two_sizes, 5, false, &err) == -1
            && strstr (err.text, "too many frames"),
        "a packed batch in two frames: %s", err.text);
    const char *mixed_header = "\x81\xa6"
                               "events\x92\x94\x07\xa1x\xaauser.login\x02"
                               "\x93\x08\xa1y\xabuser.logout";
    const char *mixed [] = { "FERRY1", "PUBLISH", mixed_header, "e7e8" };
    size_t mixed_sizes [] = { 6, 7, 41, 4 };
    ok (s_decode (&in, mixed, mixed_sizes, 4, false, &err) == -1
            && strstr (err.text, "wrong type for events"),
        "sized and unsized entries in one batch: %s", err.text);
    fy_proto_msg_close (&in);
}

int
main (void)
{
    plan (NO_PLAN);
    void *context = zmq_ctx_new ();
    s_router = zmq_socket (context, ZMQ_ROUTER);
    s_dealer = zmq_socket (context, ZMQ_DEALER);
    if (zmq_bind (s_router, "inproc://proto")
        || zmq_connect (s_dealer, "inproc://proto"))
        BAIL_OUT ("sockets");
    fy_proto_msg_t out, in;
    fy_proto_msg_init (&out);
    fy_proto_msg_init (&in);
    fy_error_t err = { "" };
    s_test_decode ();

    out.command = FY_PROTO_READY;
    out.service = fy_proto_str ("audit");
    out.credit = 64;
    out.name = fy_proto_str ("audit-1");
    ok (s_trip (&out, &in, &err) == 0, "READY round trip: %s", err.text);
    is_int (in.command, FY_PROTO_READY, "command");
    ok (fy_proto_str_is (in.service, "audit"), "service");
    is_int (in.credit, 64, "credit");
    ok (fy_proto_str_is (in.name, "audit-1"), "optional name");
    ok (in.has_identity && zmq_msg_size (&in.identity) > 0, "identity kept");

    //  PUBLISH: the event frame arrives byte for byte.
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_PUBLISH;
    out.seq = 7;
    out.id = fy_proto_str ("3f1c2a4e-9b7d-4c1e-8f00-0123456789ab");
    out.type = fy_proto_str ("user.login");
    const char event [] = "\x82\xa2id\xa1x\xa4type\xa1y";
    zmq_msg_init_size (&out.event, sizeof event);
    memcpy (zmq_msg_data (&out.event), event, sizeof event);
    out.has_event = true;
    ok (s_trip (&out, &in, &err) == 0, "PUBLISH round trip: %s", err.text);
    ok (!out.has_event, "send consumed the event frame");
    is_int (in.seq, 7, "seq");
    ok (fy_proto_str_is (in.type, "user.login"), "type");
    ok (in.has_event && zmq_msg_size (&in.event) == sizeof event
            && memcmp (zmq_msg_data (&in.event), event, sizeof event) == 0,
        "event frame untouched");

    //  Broker -> worker EVENT, sent back out of the router with identity.
    fy_proto_msg_t fwd;
    fy_proto_msg_init (&fwd);
    fwd.command = FY_PROTO_EVENT;
    fwd.did = 99;
    fwd.attempt = 2;
    fwd.service = fy_proto_str ("audit");
    zmq_msg_copy (&fwd.identity, &in.identity);
    fwd.has_identity = true;
    zmq_msg_copy (&fwd.event, &in.event);
    fwd.has_event = true;
    ok (fy_proto_send (s_router, &fwd) == 0, "router sends EVENT");
    fy_proto_msg_t got;
    fy_proto_msg_init (&got);
    ok (fy_proto_recv (s_dealer, false, 0, &got, &err) == 0,
        "dealer receives EVENT: %s", err.text);
    ok (got.command == FY_PROTO_EVENT && got.did == 99 && got.attempt == 2
            && zmq_msg_size (&got.event) == sizeof event,
        "EVENT fields");

    //  Worker ACK with dids; broker ACK with seqs.
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_ACK;
    out.dids = true;
    for (uint64_t id = 1; id <= 100; id++)
        fy_proto_msg_add_id (&out, id);
    ok (s_trip (&out, &in, &err) == 0 && in.dids && in.ids_count == 100
            && in.ids [99] == 100,
        "ACK with 100 dids");
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_ACK;
    fy_proto_msg_add_id (&out, 5);
    ok (s_trip (&out, &in, &err) == 0 && !in.dids && in.ids_count == 1,
        "ACK with seqs");

    //  NACK names did, else seq.
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_NACK;
    out.did = 12;
    out.retryable = true;
    out.reason = fy_proto_str ("database down");
    ok (s_trip (&out, &in, &err) == 0 && in.did == 12 && in.seq == 0
            && in.retryable && fy_proto_str_is (in.reason, "database down"),
        "NACK by did");
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_NACK;
    out.seq = 3;
    out.reason = fy_proto_str ("poison");
    ok (s_trip (&out, &in, &err) == 0 && in.seq == 3 && in.did == 0
            && !in.retryable,
        "NACK by seq");

    //  REQUEST with maps and a binary body; REPLY streamed.
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_REQUEST;
    out.rid = 4;
    out.service = fy_proto_str ("audit");
    out.method = fy_proto_str ("GET");
    out.path = fy_proto_str ("/audit/search");
    fy_proto_pair_t query [] = {
        { fy_proto_str ("companyId"), fy_proto_str ("c1") },
        { fy_proto_str ("limit"), fy_proto_str ("10") }
    };
    out.query = query;
    out.query_count = 2;
    out.body.ptr = "a\0b";
    out.body.len = 3;
    ok (s_trip (&out, &in, &err) == 0, "REQUEST round trip: %s", err.text);
    out.query = NULL;
    out.query_count = 0;
    ok (in.query_count == 2 && fy_proto_str_is (in.query [1].value, "10")
            && in.headers_count == 0,
        "query map");
    ok (in.body.len == 3 && memcmp (in.body.ptr, "a\0b", 3) == 0,
        "binary body");
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_REPLY;
    out.rid = 4;
    out.status = 200;
    out.more = true;
    out.content_type = fy_proto_str ("text/csv");
    out.body = fy_proto_str ("a,b\n");
    ok (s_trip (&out, &in, &err) == 0 && in.more && in.status == 200
            && fy_proto_str_is (in.content_type, "text/csv"),
        "REPLY part");

    //  Flow control of streams: REQUEST window, MORE, CANCEL, READY pull.
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_REQUEST;
    out.rid = 5;
    out.method = fy_proto_str ("GET");
    out.path = fy_proto_str ("/audit/export/csv");
    out.window = 4;
    ok (s_trip (&out, &in, &err) == 0 && in.window == 4,
        "REQUEST carries its window: %s", err.text);
    out.window = 0;
    ok (s_trip (&out, &in, &err) == 0 && in.window == 0,
        "REQUEST without window: not flow-controlled");
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_MORE;
    out.rid = 5;
    out.n = 3;
    ok (s_trip (&out, &in, &err) == 0 && in.command == FY_PROTO_MORE
            && in.rid == 5 && in.n == 3,
        "MORE round trip: %s", err.text);
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_CANCEL;
    out.rid = 5;
    ok (s_trip (&out, &in, &err) == 0 && in.command == FY_PROTO_CANCEL
            && in.rid == 5,
        "CANCEL round trip: %s", err.text);
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_READY;
    out.service = fy_proto_str ("audit");
    out.credit = 8;
    out.pull = true;
    ok (s_trip (&out, &in, &err) == 0 && in.pull, "READY with pull");
    out.pull = false;
    ok (s_trip (&out, &in, &err) == 0 && !in.pull, "READY without pull");
    is_str (fy_proto_command_name (FY_PROTO_MORE), "MORE", "MORE's name");
    is_int (fy_proto_command_parse ("CANCEL", 6), FY_PROTO_CANCEL,
            "CANCEL parses");
    const char *more_no_n [] = { "FERRY1", "MORE", "\x81\xa3rid\x05" };
    size_t more_no_n_sizes [] = { 6, 4, 6 };
    ok (s_decode (&in, more_no_n, more_no_n_sizes, 3, false, &err) == -1
            && errno == EPROTO && strstr (err.text, "missing n"),
        "MORE without n refused: %s", err.text);
    const char *cancel_str [] = { "FERRY1", "CANCEL", "\x81\xa3rid\xa1x" };
    size_t cancel_str_sizes [] = { 6, 6, 7 };
    ok (s_decode (&in, cancel_str, cancel_str_sizes, 3, false, &err) == -1
            && errno == EPROTO && strstr (err.text, "wrong type for rid"),
        "CANCEL with a string rid refused: %s", err.text);
    const char *window_neg [] = {
        "FERRY1", "REQUEST",
        "\x84\xa3rid\x01\xa6method\xa3GET\xa4path\xa1/\xa6window\xff"
    };
    size_t window_neg_sizes [] = { 6, 7, 32 };
    ok (s_decode (&in, window_neg, window_neg_sizes, 3, false, &err) == -1
            && errno == EPROTO && strstr (err.text, "wrong type for window"),
        "a negative window refused: %s", err.text);

    //  Malformed input: refused, counted by the caller, socket stays in step.
    const char *bad_sig [] = { "FERRY2", "HELLO", "\x80" };
    size_t bad_sig_sizes [] = { 6, 5, 1 };
    s_send_frames (bad_sig, bad_sig_sizes, 3);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1
            && errno == EPROTONOSUPPORT,
        "wrong signature refused as another "
        "version: %s",
        err.text);
    const char *unknown [] = { "FERRY1", "DANCE", "\x80" };
    size_t unknown_sizes [] = { 6, 5, 1 };
    s_send_frames (unknown, unknown_sizes, 3);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1 && errno == EPROTO,
        "unknown command refused: %s", err.text);
    const char *not_map [] = { "FERRY1", "CREDIT", "\x93\x01\x02\x03" };
    size_t not_map_sizes [] = { 6, 6, 4 };
    s_send_frames (not_map, not_map_sizes, 3);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1 && errno == EPROTO,
        "header not a map refused: %s", err.text);
    const char *missing [] = { "FERRY1", "CREDIT", "\x81\xa1x\x01" };
    size_t missing_sizes [] = { 6, 6, 4 };
    s_send_frames (missing, missing_sizes, 3);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1 && errno == EPROTO
            && strstr (err.text, "missing n"),
        "missing key named: %s", err.text);
    const char *wrong [] = { "FERRY1", "CREDIT", "\x81\xa1n\xa1x" };
    size_t wrong_sizes [] = { 6, 6, 5 };
    s_send_frames (wrong, wrong_sizes, 3);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1 && errno == EPROTO
            && strstr (err.text, "wrong type for n"),
        "wrong type named: %s", err.text);
    const char *no_event [] = { "FERRY1", "PUBLISH",
                                "\x83\xa3seq\x01\xa2id\xa1x\xa4type\xa1y" };
    size_t no_event_sizes [] = { 6, 7, 18 };
    s_send_frames (no_event, no_event_sizes, 3);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1 && errno == EPROTO
            && strstr (err.text, "no event frame"),
        "PUBLISH without event refused: %s", err.text);
    const char *extra [] = { "FERRY1", "BYE", "\x80", "junk" };
    size_t extra_sizes [] = { 6, 3, 1, 4 };
    s_send_frames (extra, extra_sizes, 4);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1 && errno == EPROTO,
        "too many frames refused: %s", err.text);
    const char *unknown_key [] = { "FERRY1", "CREDIT",
                                   "\x82\xa1n\x05\xa3new\xc3" };
    size_t unknown_key_sizes [] = { 6, 6, 9 };
    s_send_frames (unknown_key, unknown_key_sizes, 3);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == 0 && in.n == 5,
        "unknown keys are ignored");
    //  Far more frames than any message has: recv stops reading at one
    //  past the most, and must still drain the rest.
    const char *flood [] = { "FERRY1", "BYE", "\x80", "1", "2", "3", "4", "5" };
    size_t flood_sizes [] = { 6, 3, 1, 1, 1, 1, 1, 1 };
    s_send_frames (flood, flood_sizes, 8);
    ok (fy_proto_recv (s_router, true, 0, &in, &err) == -1 && errno == EPROTO
            && strstr (err.text, "too many frames") && in.has_identity,
        "eight frames refused: %s", err.text);
    //  After all that, the stream is still in step.
    fy_proto_msg_reset (&out);
    out.command = FY_PROTO_HEARTBEAT;
    ok (s_trip (&out, &in, &err) == 0 && in.command == FY_PROTO_HEARTBEAT,
        "socket in step after malformed messages");
    s_test_batches ();
    s_test_packed ();

    //  The connection's fd: none on inproc, none before a message.
    is_int (fy_proto_msg_fd (&in), -1, "no fd on inproc");
    fy_proto_msg_reset (&in);
    is_int (fy_proto_msg_fd (&in), -1, "no fd on an empty msg");
    //  Over a stream connection, even when a poll prefetched the message
    //  (the identity frame then has none).
    void *router = zmq_socket (context, ZMQ_ROUTER);
    void *dealer = zmq_socket (context, ZMQ_DEALER);
    char endpoint [64];
    size_t size = sizeof endpoint;
    if (zmq_bind (router, "tcp://127.0.0.1:*")
        || zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, endpoint, &size)
        || zmq_connect (dealer, endpoint))
        BAIL_OUT ("tcp sockets");
    if (fy_proto_send (dealer, &out))
        BAIL_OUT ("send");
    zmq_pollitem_t item = { router, 0, ZMQ_POLLIN, 0 };
    ok (zmq_poll (&item, 1, 5000) == 1
            && fy_proto_recv (router, true, 0, &in, &err) == 0
            && fy_proto_msg_fd (&in) >= 0,
        "the fd a message came on over tcp: %d", fy_proto_msg_fd (&in));
    zmq_close (dealer);
    zmq_close (router);

    fy_proto_msg_close (&got);
    fy_proto_msg_close (&fwd);
    fy_proto_msg_close (&out);
    fy_proto_msg_close (&in);
    zmq_close (s_dealer);
    zmq_close (s_router);
    zmq_ctx_term (context);
    return done_testing ();
}
