/*  fy_loop: one adapter between libferry's asynchronous objects and a
    czmq zloop (see fy_loop.h). */
#include "core/fy_loop.h"
#include "ferry/fy_common.h"

#include <assert.h>
#include <stdlib.h>

struct fy_loop_source {
    zloop_t *loop;
    const fy_loop_ops_t *ops;
    void *object;
    fy_loop_idle_fn *idle;
    void *idle_arg;
    zmq_pollitem_t item;        //  as registered; events 0 when none
    int timer;                  //  zloop timer id, or -1
    size_t timer_delay;         //  its delay, ms
    int64_t timer_due;          //  when it fires (zclock_mono), delay > 0
    bool running;               //  inside s_settle
    bool detached;              //  detached while running: free after
};

static int
s_on_poll (zloop_t *loop, zmq_pollitem_t *item, void *arg);
static int
s_on_timer (zloop_t *loop, int timer_id, void *arg);

static void
s_timer_end (fy_loop_source_t *self)
{
    if (self->timer >= 0)
        zloop_timer_end (self->loop, self->timer);
    self->timer = -1;
}

static void
s_poller_end (fy_loop_source_t *self)
{
    if (self->item.events)
        zloop_poller_end (self->loop, &self->item);
    self->item.events = 0;
}

//  Register what the object waits for, touching zloop only for what
//  changed: on the bridge's hot path the fd and the deadline mostly stay.
static void
s_arm (fy_loop_source_t *self, const fy_loop_want_t *want)
{
    //  A socket is watched through its ZMQ_FD as a plain descriptor: given
    //  the socket, zmq_poll would read its ZMQ_EVENTS on each of its
    //  passes, and each read polls the socket's mailbox (two to four
    //  system calls per turn of the loop, whichever source woke it). The
    //  object reads until EAGAIN, and asks to run at once when input may
    //  be waiting unsignalled (see fy_loop.h). Compared by descriptor, not
    //  by socket: a new socket may come at the old one's address.
    assert (!want->socket || want->events == ZMQ_POLLIN);
    int fd = want->fd;
    size_t size = sizeof fd;
    if (want->socket && zmq_getsockopt (want->socket, ZMQ_FD, &fd, &size))
        fd = -1;
    if (want->events == 0 || fd < 0)
        s_poller_end (self);
    else if (want->events != self->item.events || fd != self->item.fd) {
        s_poller_end (self);
        self->item = (zmq_pollitem_t) { NULL, fd, want->events, 0 };
        if (zloop_poller (self->loop, &self->item, s_on_poll, self) == 0)
            //  The object reads its socket's errors itself (libpq, a
            //  Redis reconnect): zloop must not drop the poller on them.
            zloop_poller_set_tolerant (self->loop, &self->item);
        else
            self->item.events = 0;
    }
    int64_t timeout = want->timeout_ms;
    if (timeout < 0) {
        s_timer_end (self);
        return;
    }
    int64_t due = timeout ? zclock_mono () + timeout : 0;
    if (self->timer >= 0
        && (timeout == 0 ? self->timer_delay == 0
                         : self->timer_delay > 0 && self->timer_due == due))
        return;
    s_timer_end (self);
    //  Repeating, ended here when it changes: a 0 ms timer that stays
    //  armed fires once per turn, after the poll.
    self->timer =
        zloop_timer (self->loop, (size_t) timeout, 0, s_on_timer, self);
    self->timer_delay = (size_t) timeout;
    self->timer_due = due;
}

static void
s_want (fy_loop_source_t *self, fy_loop_want_t *want)
{
    *want = (fy_loop_want_t) { NULL, -1, 0, -1 };
    self->ops->want (self->object, want);
}

//  Run the object (revents from the poller, 0 on a deadline, -1 for no
//  run), then again while it asks for at once, at most RUN_NOW_MAX more
//  times, and the
//  owner's idle hook between; re-arm last. Returns false when the source
//  was detached meanwhile (and must be freed by the caller).
static bool
s_settle (fy_loop_source_t *self, int revents)
{
    self->running = true;
    fy_loop_want_t want = { NULL, -1, 0, -1 };
    int runs = 0;
    if (revents >= 0)
        self->ops->run (self->object, (short) revents);
    while (!self->detached) {
        s_want (self, &want);
        if (runs < FY_LOOP_RUN_NOW_MAX && want.timeout_ms == 0) {
            self->ops->run (self->object, 0);
            runs++;
        }
        else if (!self->idle)
            break;
        else if (!self->idle (self->idle_arg)) {
            //  The hook may have sent (the bridge publishes from it), and
            //  a send may leave input its ZMQ_FD does not signal: the want
            //  after the hook is the one armed, not the one before it.
            if (!self->detached)
                s_want (self, &want);
            break;
        }
    }
    self->running = false;
    if (self->detached)
        return false;
    s_arm (self, &want);
    return true;
}

static int
s_on_poll (zloop_t *loop, zmq_pollitem_t *item, void *arg)
{
    (void) loop;
    fy_loop_source_t *self = arg;
    //  A detach from a poller handler is safe to free at once: zloop
    //  rebuilds its poll set before it polls or calls pollers again.
    if (!s_settle (self, item->revents))
        free (self);
    return 0;
}

static int
s_reap (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    free (arg);
    return 0;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    fy_loop_source_t *self = arg;
    //  Ended earlier in this turn's timers: zloop drops it at its end.
    if (timer_id != self->timer)
        return 0;
    //  One-shot unless of 0 ms (see s_arm).
    if (self->timer_delay > 0)
        s_timer_end (self);
    if (!s_settle (self, 0))
        //  In the timers, zloop may still call this turn's ready pollers,
        //  ours among them: free on a later turn.
        if (zloop_timer (loop, 1, 1, s_reap, self) < 0)
            free (self);
    return 0;
}

fy_loop_source_t *
fy_loop_attach (zloop_t *loop, const fy_loop_ops_t *ops, void *object)
{
    assert (loop);
    assert (ops && ops->want && ops->run);
    fy_loop_source_t *self = fy_xcalloc (1, sizeof *self);
    self->loop = loop;
    self->ops = ops;
    self->object = object;
    self->timer = -1;
    self->item.fd = -1;
    fy_loop_arm (self);
    return self;
}

void
fy_loop_detach (fy_loop_source_t **self_p)
{
    assert (self_p);
    fy_loop_source_t *self = *self_p;
    if (!self)
        return;
    s_poller_end (self);
    s_timer_end (self);
    *self_p = NULL;
    if (self->running)
        self->detached = true;
    else
        free (self);
}

void
fy_loop_set_idle (fy_loop_source_t *self, fy_loop_idle_fn *idle, void *arg)
{
    assert (self);
    self->idle = idle;
    self->idle_arg = arg;
}

void
fy_loop_rearm (fy_loop_source_t *self)
{
    assert (self);
    if (self->running)
        return;
    //  Detached by the idle hook: nothing may touch it any more.
    if (!s_settle (self, -1))
        free (self);
}

void
fy_loop_arm (fy_loop_source_t *self)
{
    assert (self);
    if (self->running)
        return;
    fy_loop_want_t want;
    s_want (self, &want);
    s_arm (self, &want);
}
