/*  bench_peer: the other processes of the broker benchmarks. As ferry's
    side, a worker built on fy_worker that ACKs at once or holds forever;
    as the physical limit, a bare libzmq ROUTER that forwards publisher
    messages to workers round-robin and their acks back, and the bare
    DEALER worker that answers each message with one ack. The raw pair
    moves the same frames over the same transport between the same number
    of processes, with none of FERRY1's bookkeeping, so the gap between
    the two is what the broker costs.

    usage: bench_peer forward ENDPOINT
           bench_peer raw-worker ENDPOINT
           bench_peer worker ENDPOINT SERVICE CREDIT ack|hold */
#include "ferry/ferry.h"
#include "aws/fy_ses.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_READY "READY"
#define S_WORKERS_MAX 16

typedef struct {
    unsigned char id [256];
    size_t len;
} s_identity_t;

static void *
s_socket (void *context, int type)
{
    void *socket = zmq_socket (context, type);
    int zero = 0;
    //  As the broker and fy_session do: the window bounds the queues.
    zmq_setsockopt (socket, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt (socket, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (socket, ZMQ_LINGER, &zero, sizeof zero);
    return socket;
}

//  Receive one multipart message into frames, dropping frames beyond
//  max; returns how many were kept, or -1 when interrupted.
static int
s_recv_parts (void *socket, zmq_msg_t *frames, int max)
{
    int count = 0;
    while (true) {
        zmq_msg_t extra;
        zmq_msg_t *frame = count < max ? &frames [count] : &extra;
        zmq_msg_init (frame);
        if (zmq_msg_recv (frame, socket, 0) < 0)
            return -1;
        bool more = zmq_msg_more (frame);
        if (frame == &extra)
            zmq_msg_close (frame);
        else
            count++;
        if (!more)
            return count;
    }
}

static int
s_send_parts (void *socket, zmq_msg_t *frames, int count)
{
    for (int i = 0; i < count; i++)
        if (zmq_msg_send (&frames [i], socket, i + 1 < count ? ZMQ_SNDMORE : 0)
            < 0)
            return -1;
    return 0;
}

static bool
s_is_worker (const s_identity_t *workers, size_t count, zmq_msg_t *id)
{
    for (size_t i = 0; i < count; i++)
        if (workers [i].len == zmq_msg_size (id)
            && memcmp (workers [i].id, zmq_msg_data (id), workers [i].len) == 0)
            return true;
    return false;
}

//  ROUTER: [worker, "READY"] registers a worker; [worker, pub, seq] is an
//  ack, sent on as [pub, seq]; [pub, seq, event] goes out as
//  [worker, pub, seq, event] to the next worker in turn.
static int
s_forward (const char *endpoint)
{
    void *context = zmq_ctx_new ();
    void *router = s_socket (context, ZMQ_ROUTER);
    if (zmq_bind (router, endpoint)) {
        fprintf (stderr, "bench_peer: bind %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        return 1;
    }
    s_identity_t workers [S_WORKERS_MAX];
    size_t worker_count = 0, next = 0;
    zmq_msg_t frames [5];
    while (true) {
        int count = s_recv_parts (router, frames + 1, 4);
        if (count < 0)
            break;
        zmq_msg_t *from = &frames [1];
        if (count == 2 && zmq_msg_size (&frames [2]) == strlen (S_READY)
            && memcmp (zmq_msg_data (&frames [2]), S_READY, strlen (S_READY))
                   == 0
            && worker_count < S_WORKERS_MAX) {
            s_identity_t *worker = &workers [worker_count++];
            worker->len = zmq_msg_size (from);
            memcpy (worker->id, zmq_msg_data (from), worker->len);
            for (int i = 1; i <= count; i++)
                zmq_msg_close (&frames [i]);
            continue;
        }
        if (s_is_worker (workers, worker_count, from)) {
            zmq_msg_close (from);
            if (s_send_parts (router, frames + 2, count - 1))
                break;
            continue;
        }
        if (worker_count == 0) {
            for (int i = 1; i <= count; i++)
                zmq_msg_close (&frames [i]);
            continue;
        }
        s_identity_t *worker = &workers [next++ % worker_count];
        zmq_msg_init_size (&frames [0], worker->len);
        memcpy (zmq_msg_data (&frames [0]), worker->id, worker->len);
        if (s_send_parts (router, frames, count + 1))
            break;
    }
    zmq_close (router);
    zmq_ctx_term (context);
    return 0;
}

//  DEALER: [pub, seq, event] in, [pub, seq] back.
static int
s_raw_worker (const char *endpoint)
{
    void *context = zmq_ctx_new ();
    void *dealer = s_socket (context, ZMQ_DEALER);
    if (zmq_connect (dealer, endpoint)
        || zmq_send (dealer, S_READY, strlen (S_READY), 0) < 0) {
        fprintf (stderr, "bench_peer: connect %s: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        return 1;
    }
    zmq_msg_t frames [3];
    while (true) {
        int count = s_recv_parts (dealer, frames, 3);
        if (count < 0)
            break;
        if (count == 3)
            zmq_msg_close (&frames [2]);
        if (s_send_parts (dealer, frames, count < 2 ? count : 2))
            break;
    }
    zmq_close (dealer);
    zmq_ctx_term (context);
    return 0;
}

static void
s_on_events (fy_worker_t *worker, fy_delivery_t **deliveries, size_t count,
             void *arg)
{
    bool hold = arg != NULL;
    for (size_t i = 0; i < count && !hold; i++)
        fy_worker_ack (worker, &deliveries [i]);
}

static int
s_worker (const char *endpoint, const char *service, const char *credit,
          const char *mode)
{
    fy_log_init ("bench_peer", FY_LOG_WARN, FY_LOG_TEXT);
    fy_error_t err = { "" };
    char name [64];
    snprintf (name, sizeof name, "%s-%d", service, (int) getpid ());
    fy_worker_t *worker = fy_worker_new (
        endpoint, service, name, (unsigned) strtoul (credit, NULL, 10), &err);
    if (!worker) {
        fprintf (stderr, "bench_peer: %s\n", err.text);
        return 1;
    }
    fy_worker_set_stop_timeout (worker, 0);
    //  Any non-NULL arg means hold.
    fy_worker_on_events (worker, s_on_events,
                         strcmp (mode, "hold") == 0 ? worker : NULL);
    int rc = fy_worker_run (worker);
    fy_worker_destroy (&worker);
    return rc ? 1 : 0;
}

int
main (int argc, char **argv)
{
    if (argc == 3 && strcmp (argv [1], "forward") == 0)
        return s_forward (argv [2]);
    if (argc == 3 && strcmp (argv [1], "raw-worker") == 0)
        return s_raw_worker (argv [2]);
    if (argc == 6 && strcmp (argv [1], "worker") == 0)
        return s_worker (argv [2], argv [3], argv [4], argv [5]);
    fprintf (stderr,
             "usage: bench_peer forward|raw-worker ENDPOINT\n"
             "       bench_peer worker ENDPOINT SERVICE CREDIT ack|hold\n");
    return 2;
}
