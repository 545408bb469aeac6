/*  fy_loop: a fake object on pipes driven by a real zloop: fd readiness,
    deadlines, an fd that changes, detach from the object's own run, and
    an object that keeps asking to run at once (timeout 0), which must
    neither spin nor wait a millisecond per run. */
#include "core/fy_loop.h"
#include "ferry/fy_common.h"

#include <unistd.h>

#include "tap.h"

typedef struct {
    fy_loop_source_t *source;
    int fd;                     //  polled for input, -1: none
    int64_t timeout_ms;         //  what want says
    int now_left;               //  runs that still ask for at once
    int runs, timed_runs, read_runs;
    bool detach_in_run;
    bool idled;                 //  the owner's idle hook ran
    const int *turns;           //  the loop's turn count, when counted
    int last_turn, in_turn, most_in_turn;
} s_obj_t;

static void
s_want (void *object, fy_loop_want_t *want)
{
    s_obj_t *obj = object;
    if (obj->fd >= 0) {
        want->fd = obj->fd;
        want->events = ZMQ_POLLIN;
    }
    want->timeout_ms = obj->now_left > 0 ? 0 : obj->timeout_ms;
}

static void
s_run (void *object, short revents)
{
    s_obj_t *obj = object;
    obj->runs++;
    if (obj->turns) {
        obj->in_turn = *obj->turns == obj->last_turn ? obj->in_turn + 1 : 1;
        obj->last_turn = *obj->turns;
        if (obj->in_turn > obj->most_in_turn)
            obj->most_in_turn = obj->in_turn;
    }
    if (revents & ZMQ_POLLIN) {
        char byte;
        if (read (obj->fd, &byte, 1) == 1)
            obj->read_runs++;
    }
    else
        obj->timed_runs++;
    if (obj->now_left > 0)
        obj->now_left--;
    if (obj->detach_in_run)
        fy_loop_detach (&obj->source);
}

static const fy_loop_ops_t s_ops = { s_want, s_run };

//  Ends the loop (handlers returning -1 stop zloop_start).
static int
s_on_stop (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

//  Counts the loop's turns: a 0 ms repeating timer fires once a turn.
static int
s_on_turn (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (*(int *) arg)++;
    return 0;
}

static void
s_readiness (void)
{
    int fds [2];
    if (pipe (fds))
        BAIL_OUT ("pipe");
    zloop_t *loop = zloop_new ();
    s_obj_t obj = { .fd = fds [0], .timeout_ms = -1 };
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    ok (write (fds [1], "ab", 2) == 2, "two bytes written");
    zloop_timer (loop, 50, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.read_runs, 2, "run once per readable turn, one byte each");
    is_int (obj.timed_runs, 0, "no deadline, no timed run");

    //  The fd changes (a reconnect): the new one is polled, not the old.
    int other [2];
    if (pipe (other))
        BAIL_OUT ("pipe");
    obj.fd = other [0];
    fy_loop_rearm (obj.source);
    ok (write (fds [1], "x", 1) == 1 && write (other [1], "y", 1) == 1,
        "a byte on each pipe");
    obj.runs = obj.read_runs = 0;
    zloop_timer (loop, 50, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.read_runs, 1, "the new fd is polled once");
    char byte = 0;
    ok (read (fds [0], &byte, 1) == 1 && byte == 'x',
        "the old fd was left alone");
    fy_loop_detach (&obj.source);
    ok (obj.source == NULL, "detach clears the pointer");
    zloop_destroy (&loop);
    close (fds [0]);
    close (fds [1]);
    close (other [0]);
    close (other [1]);
}

static void
s_deadlines (void)
{
    zloop_t *loop = zloop_new ();
    s_obj_t obj = { .fd = -1, .timeout_ms = 20 };
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    zloop_timer (loop, 110, 1, s_on_stop, NULL);
    int64_t start = fy_clock_mono_ms ();
    zloop_start (loop);
    int64_t took = fy_clock_mono_ms () - start;
    ok (obj.timed_runs >= 2 && obj.timed_runs <= 6,
        "a deadline of 20 ms runs every 20 ms (%d in %lld ms)", obj.timed_runs,
        (long long) took);

    //  No deadline: no run.
    obj.timeout_ms = -1;
    fy_loop_rearm (obj.source);
    obj.runs = 0;
    zloop_timer (loop, 40, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.runs, 0, "no deadline, no fd: never run");
    fy_loop_detach (&obj.source);
    zloop_destroy (&loop);
}

static void
s_detach_in_run (void)
{
    int fds [2];
    if (pipe (fds))
        BAIL_OUT ("pipe");
    zloop_t *loop = zloop_new ();
    //  From the poller: readable, and due at once too.
    s_obj_t obj = { .fd = fds [0], .timeout_ms = 0, .detach_in_run = true };
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    ok (write (fds [1], "ab", 2) == 2, "two bytes written");
    zloop_timer (loop, 30, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.runs, 1, "detached in its run: never run again");
    ok (obj.source == NULL, "detach cleared the pointer");

    //  From the deadline's timer, with the fd readable in the same turn.
    s_obj_t timed = { .fd = fds [0], .timeout_ms = 0, .detach_in_run = true };
    timed.source = fy_loop_attach (loop, &s_ops, &timed);
    zloop_timer (loop, 30, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (timed.runs, 1, "detached in a timed run: never run again");
    zloop_destroy (&loop);
    close (fds [0]);
    close (fds [1]);
}

static void
s_run_now (void)
{
    zloop_t *loop = zloop_new ();
    //  Asks to run at once 1000 times (curl with requests to add).
    s_obj_t obj = { .fd = -1, .timeout_ms = -1, .now_left = 1000 };
    int turns = 0;
    obj.turns = &turns;
    int turn_timer = zloop_timer (loop, 0, 0, s_on_turn, &turns);
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    zloop_timer (loop, 200, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.runs, 1000, "every run asked for ran, no more");
    ok (obj.most_in_turn <= 1 + FY_LOOP_RUN_NOW_MAX,
        "at most %d runs a turn (%d): the loop turns in between",
        1 + FY_LOOP_RUN_NOW_MAX, obj.most_in_turn);
    zloop_timer_end (loop, turn_timer);
    fy_loop_detach (&obj.source);

    //  No ms held per bound (a 1 ms timer would take 200 ms for these).
    obj = (s_obj_t) { .fd = -1, .timeout_ms = -1, .now_left = 1000 };
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    zloop_timer (loop, 100, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.runs, 1000, "1000 runs at once within 100 ms");
    fy_loop_detach (&obj.source);

    //  Armed, not run: the loop runs it on its next turn.
    obj.runs = 0;
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    obj.now_left = 1;
    fy_loop_arm (obj.source);
    is_int (obj.runs, 0, "arm does not run it");
    zloop_timer (loop, 10, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.runs, 1, "the loop ran it once");
    fy_loop_detach (&obj.source);

    //  Once it asks for nothing, nothing runs: no spin.
    obj.now_left = 0;
    obj.runs = 0;
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    turns = 0;
    zloop_timer (loop, 50, 1, s_on_turn, &turns);
    zloop_timer (loop, 60, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.runs, 0, "asks for nothing: not run");
    fy_loop_detach (&obj.source);
    zloop_destroy (&loop);
}

//  The owner's idle hook: runs between, and may give the object more.
static bool
s_idle (void *arg)
{
    s_obj_t *obj = arg;
    if (obj->idled)
        return false;
    obj->idled = true;
    obj->now_left = 2;
    return true;
}

static void
s_idle_hook (void)
{
    zloop_t *loop = zloop_new ();
    s_obj_t obj = { .fd = -1, .timeout_ms = -1, .now_left = 1 };
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    fy_loop_set_idle (obj.source, s_idle, &obj);
    fy_loop_rearm (obj.source);
    is_int (obj.runs, 3, "rearm ran it, the idle hook, then its two runs");
    ok (obj.idled, "the idle hook was called");
    fy_loop_detach (&obj.source);
    zloop_destroy (&loop);
}

//  An idle hook that ends the settling but leaves the object wanting a
//  run at once (as a send from the hook leaves a socket's input
//  unsignalled): the want read after the hook is the one armed.
static bool
s_idle_last (void *arg)
{
    s_obj_t *obj = arg;
    if (!obj->idled) {
        obj->idled = true;
        obj->now_left = 1;
    }
    return false;
}

static void
s_idle_hook_last (void)
{
    zloop_t *loop = zloop_new ();
    s_obj_t obj = { .fd = -1, .timeout_ms = -1 };
    obj.source = fy_loop_attach (loop, &s_ops, &obj);
    fy_loop_set_idle (obj.source, s_idle_last, &obj);
    fy_loop_rearm (obj.source);
    is_int (obj.runs, 0, "rearm: nothing to run, then the idle hook");
    zloop_timer (loop, 30, 1, s_on_stop, NULL);
    zloop_start (loop);
    is_int (obj.runs, 1, "what the hook left it wanting ran on the next turn");
    fy_loop_detach (&obj.source);
    zloop_destroy (&loop);
}

int
main (void)
{
    plan (NO_PLAN);
    s_readiness ();
    s_deadlines ();
    s_detach_in_run ();
    s_run_now ();
    s_idle_hook ();
    s_idle_hook_last ();
    done_testing ();
}
