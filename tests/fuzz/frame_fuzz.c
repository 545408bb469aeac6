/*  Fuzz target for the FERRY1 frame decoder: what any peer of the broker
    can put on the wire. The input is cut into 1 to 9 frames (the first
    byte picks how many; every frame but the last is a 2-byte big-endian
    length and its bytes; the last takes the rest; batches of up to four
    events fit), then decoded as the
    broker's ROUTER sees them and as a DEALER does. A message that decodes
    is packed again and must decode to the same fields. */
#include "ferry/ferry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Enough for a batch of four and one more, so "too many frames" is
//  reached; a count modulo it keeps a seed's count below 6 as it was.
#define S_MAX_FRAMES 9

//  A failed check is a finding: say which, then crash for the fuzzer.
#define S_CHECK(cond, what)                                        \
    do {                                                           \
        if (!(cond)) {                                             \
            fprintf (stderr, "frame_fuzz: %s: %s\n", what, #cond); \
            abort ();                                              \
        }                                                          \
    } while (0)

static void
s_free (void *data, void *hint)
{
    (void) hint;
    free (data);
}

//  Each frame gets its own heap block of exactly its size, so ASan sees
//  a read past the end of any frame (libzmq would keep a short one
//  inside the zmq_msg_t, where an overread goes unnoticed).
static void
s_frame (zmq_msg_t *frame, const void *data, size_t size)
{
    void *copy = fy_xmalloc (size ? size : 1);
    if (size)
        memcpy (copy, data, size);
    int rc = zmq_msg_init_data (frame, copy, size, s_free, NULL);
    S_CHECK (rc == 0, "zmq_msg_init_data");
}

static size_t
s_split (const uint8_t *data, size_t size, zmq_msg_t *frames)
{
    size_t count = size ? data [0] % S_MAX_FRAMES + 1 : 1;
    size_t at = size ? 1 : 0;
    for (size_t i = 0; i < count; i++) {
        size_t len = size - at;
        if (i + 1 < count) {
            size_t claim = 0;
            if (size - at >= 2) {
                claim = (size_t) data [at] << 8 | data [at + 1];
                at += 2;
            }
            else
                at = size;
            len = claim < size - at ? claim : size - at;
        }
        s_frame (&frames [i], data + at, len);
        at += len;
    }
    return count;
}

static bool
s_same_str (fy_proto_str_t a, fy_proto_str_t b)
{
    return !a.ptr == !b.ptr && a.len == b.len
           && (a.len == 0 || memcmp (a.ptr, b.ptr, a.len) == 0);
}

static bool
s_same_frame (zmq_msg_t *a, zmq_msg_t *b)
{
    size_t size = zmq_msg_size (a);
    return size == zmq_msg_size (b)
           && (size == 0
               || memcmp (zmq_msg_data (a), zmq_msg_data (b), size) == 0);
}

//  A present string is never NULL: NULL is how a header says "absent".
static void
s_check_pairs (const fy_proto_pair_t *pairs, size_t count)
{
    for (size_t i = 0; i < count; i++)
        S_CHECK (pairs [i].key.ptr && pairs [i].value.ptr,
                 "decoded map entry has a NULL string");
}

static void
s_same_pairs (const fy_proto_pair_t *a, const fy_proto_pair_t *b, size_t count)
{
    for (size_t i = 0; i < count; i++)
        S_CHECK (s_same_str (a [i].key, b [i].key)
                     && s_same_str (a [i].value, b [i].value),
                 "map entry changed");
}

static void
s_compare (fy_proto_msg_t *a, fy_proto_msg_t *b)
{
    S_CHECK (a->command == b->command, "command changed");
    S_CHECK (s_same_str (a->name, b->name), "name changed");
    S_CHECK (s_same_str (a->role, b->role), "role changed");
    S_CHECK (s_same_str (a->service, b->service), "service changed");
    S_CHECK (s_same_str (a->id, b->id), "id changed");
    S_CHECK (s_same_str (a->type, b->type), "type changed");
    S_CHECK (s_same_str (a->reason, b->reason), "reason changed");
    S_CHECK (s_same_str (a->code, b->code), "code changed");
    S_CHECK (s_same_str (a->message, b->message), "message changed");
    S_CHECK (s_same_str (a->method, b->method), "method changed");
    S_CHECK (s_same_str (a->path, b->path), "path changed");
    S_CHECK (s_same_str (a->content_type, b->content_type),
             "content_type changed");
    S_CHECK (s_same_str (a->body, b->body), "body changed");
    S_CHECK (a->seq == b->seq && a->did == b->did && a->rid == b->rid
                 && a->n == b->n && a->credit == b->credit
                 && a->attempt == b->attempt && a->status == b->status
                 && a->window == b->window,
             "number changed");
    S_CHECK (a->retryable == b->retryable && a->more == b->more
                 && a->pull == b->pull && a->batch == b->batch
                 && a->packed == b->packed,
             "flag changed");
    S_CHECK (a->entries_count == b->entries_count, "batch size changed");
    for (size_t i = 0; i < a->entries_count; i++) {
        fy_proto_entry_t *x = &a->entries [i], *y = &b->entries [i];
        S_CHECK (x->seq == y->seq && x->did == y->did
                     && x->attempt == y->attempt && s_same_str (x->id, y->id)
                     && s_same_str (x->type, y->type)
                     && s_same_frame (&x->event, &y->event),
                 "batch entry changed");
    }
    S_CHECK (
        a->ids_count == b->ids_count && a->dids == b->dids
            && (a->ids_count == 0
                || memcmp (a->ids, b->ids, a->ids_count * sizeof *a->ids) == 0),
        "ids changed");
    S_CHECK (a->query_count == b->query_count, "query size changed");
    s_same_pairs (a->query, b->query, a->query_count);
    S_CHECK (a->headers_count == b->headers_count, "headers size changed");
    s_same_pairs (a->headers, b->headers, a->headers_count);
    S_CHECK (a->has_identity == b->has_identity
                 && s_same_frame (&a->identity, &b->identity),
             "identity changed");
    S_CHECK (a->has_event == b->has_event
                 && s_same_frame (&a->event, &b->event),
             "event changed");
}

//  Pack what was decoded, frame it as the sender would, decode it again.
static void
s_round_trip (fy_proto_msg_t *msg, bool router)
{
    zmq_msg_t frames [S_MAX_FRAMES];
    size_t count = 0;
    if (router) {
        zmq_msg_init (&frames [count]);
        zmq_msg_copy (&frames [count++], &msg->identity);
    }
    s_frame (&frames [count++], FY_PROTO_SIGNATURE,
             strlen (FY_PROTO_SIGNATURE));
    const char *name = fy_proto_command_name (msg->command);
    s_frame (&frames [count++], name, strlen (name));
    int rc = fy_proto_pack (msg, &frames [count++]);
    S_CHECK (rc == 0, "pack");
    if (msg->has_event) {
        zmq_msg_init (&frames [count]);
        zmq_msg_copy (&frames [count++], &msg->event);
    }
    if (msg->packed && msg->entries_count) {
        //  A packed batch's events, one after the other in one frame.
        size_t total = 0;
        for (size_t i = 0; i < msg->entries_count; i++)
            total += zmq_msg_size (&msg->entries [i].event);
        char *events = fy_xmalloc (total ? total : 1), *at = events;
        for (size_t i = 0; i < msg->entries_count; i++) {
            size_t size = zmq_msg_size (&msg->entries [i].event);
            if (size)
                memcpy (at, zmq_msg_data (&msg->entries [i].event), size);
            at += size;
        }
        s_frame (&frames [count++], events, total);
        free (events);
    }
    else
        for (size_t i = 0; i < msg->entries_count; i++) {
            zmq_msg_init (&frames [count]);
            zmq_msg_copy (&frames [count++], &msg->entries [i].event);
        }
    fy_proto_msg_t again;
    fy_proto_msg_init (&again);
    fy_error_t err = { "" };
    if (fy_proto_decode (&again, frames, count, router, &err)) {
        fprintf (stderr, "frame_fuzz: packed %s refused: %s\n", name, err.text);
        abort ();
    }
    s_compare (msg, &again);
    fy_proto_msg_close (&again);
}

static void
s_one (const uint8_t *data, size_t size, bool router)
{
    zmq_msg_t frames [S_MAX_FRAMES];
    size_t count = s_split (data, size, frames);
    fy_proto_msg_t msg;
    fy_proto_msg_init (&msg);
    fy_error_t err;
    if (fy_proto_decode (&msg, frames, count, router, &err) == 0) {
        s_check_pairs (msg.query, msg.query_count);
        s_check_pairs (msg.headers, msg.headers_count);
        s_round_trip (&msg, router);
    }
    fy_proto_msg_close (&msg);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_one (data, size, true);
    s_one (data, size, false);
    return 0;
}
