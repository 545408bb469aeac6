/*  fy_loop: the one way an asynchronous object attaches to a czmq zloop.
    The object says what it waits for (fy_loop_want_t: an fd or a libzmq
    socket, the events, its next deadline) and how to move it on (run);
    the source registers the poller and one timer, and after every run
    reads the want again and re-arms them, so an fd that changes (a
    reconnect) or a deadline that moves (a request started) is followed
    without glue in the program.

    A run that leaves work for at once (deadline 0: curl after a request
    was added, MHD's edge-triggered epoll) is run again here, at most
    FY_LOOP_RUN_NOW_MAX times: a zloop timer would hold it back a
    millisecond or more, which at two SQS long polls was nearly half the
    bridge's drain rate. Past the bound the source arms a timer of 0 ms
    that fires on the loop's next turn, once the other sockets were
    polled: no stall, and no spin that starves them.

    A libzmq socket is watched through its ZMQ_FD, for input only. That
    descriptor is edge-triggered: it turns readable when the socket's
    mailbox gets a command, and any libzmq call on the socket (a send
    above all) may take that command and leave messages waiting with
    nothing readable. So the object's run reads until EAGAIN, and its
    want asks to run at once (timeout 0) whenever input may be waiting
    unsignalled: after a send since its last EAGAIN, or after a run that
    stopped short of it. An object that sends outside its own run calls
    fy_loop_arm for that (the broker's router does); or it reads
    ZMQ_EVENTS after the send, which takes the remaining commands, and
    asks to run only when that reports input (fy_session does).

    Internal to libferry (core): the objects give their own attach call
    (fy_http_client_attach, fy_redis_attach, ...). */
#ifndef FY_LOOP_H_INCLUDED
#define FY_LOOP_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct fy_loop_source fy_loop_source_t;

//  What an object waits for, filled in by its want function.
typedef struct {
    void *socket;               //  a libzmq socket (input only), or NULL
    int fd;                     //  with no socket; -1: nothing to poll
    short events;               //  ZMQ_POLLIN | ZMQ_POLLOUT; 0: none
    int64_t timeout_ms;         //  next deadline: -1 none, 0 now, or in ms
} fy_loop_want_t;

//  Fill in want (it comes zeroed, fd -1 and timeout_ms -1).
typedef void (fy_loop_want_fn) (void *object, fy_loop_want_t *want);
//  Move the object on. revents: what the poller saw, 0 on the deadline.
typedef void (fy_loop_run_fn) (void *object, short revents);
//  The owner's hook, called when the object has nothing to run at once:
//  returns true when it did work that may have given the object some,
//  and is called again after that work ran.
typedef bool (fy_loop_idle_fn) (void *arg);

typedef struct {
    fy_loop_want_fn *want;
    fy_loop_run_fn *run;
} fy_loop_ops_t;

//  Define prefix_attach (type *self, zloop_t *loop) for a class of the fd
//  + deadline + run shape (fy_http_client, fy_http_server, fy_redis):
//  prefix_fd (read-ready fd, -1 for none), prefix_timeout_ms and
//  prefix_run, called with their own type rather than through a cast.
#define FY_LOOP_FD_CLASS(type, prefix)                                      \
    static void prefix##_loop_want_ (void *object, fy_loop_want_t *want)    \
    {                                                                       \
        want->fd = prefix##_fd ((type *) object);                           \
        want->events = ZMQ_POLLIN;                                          \
        want->timeout_ms = prefix##_timeout_ms ((type *) object);           \
    }                                                                       \
    static void prefix##_loop_run_ (void *object, short revents)            \
    {                                                                       \
        (void) revents;                                                     \
        prefix##_run ((type *) object);                                     \
    }                                                                       \
    static const fy_loop_ops_t prefix##_loop_ops_ = { prefix##_loop_want_,  \
                                                      prefix##_loop_run_ }; \
    fy_loop_source_t *prefix##_attach (type *self, zloop_t *loop)           \
    {                                                                       \
        assert (self);                                                      \
        return fy_loop_attach (loop, &prefix##_loop_ops_, self);            \
    }

//  Runs at once after the one the loop called for, before a timer of
//  0 ms takes over.
#define FY_LOOP_RUN_NOW_MAX 4

//  Attach object to loop through ops (which must outlive the source) and
//  arm it; a deadline of 0 runs at the loop's first turn, not here.
fy_loop_source_t *
fy_loop_attach (zloop_t *loop, const fy_loop_ops_t *ops, void *object);

//  Unregister and free the source, and set *self_p to NULL. Safe on NULL.
//  Call it outside zloop_start, from a poller handler, or from the
//  source's own run; never from another zloop timer handler while the
//  loop runs (zloop may still call a timer it was told to end there).
void
fy_loop_detach (fy_loop_source_t **self_p);

//  Call idle (owner's) after the object's runs; see fy_loop_idle_fn.
void
fy_loop_set_idle (fy_loop_source_t *self, fy_loop_idle_fn *idle, void *arg);

//  The object got work outside its run (a request started from another
//  handler): run it now if it wants so, then re-arm. Within the source's
//  own run it does nothing: the run is followed by the same.
void
fy_loop_rearm (fy_loop_source_t *self);

//  The same without running the object here: a deadline of 0 runs it on
//  the loop's next turn, for an owner whose handler must not have the
//  object call back into it (the broker's reply handler and MHD's).
void
fy_loop_arm (fy_loop_source_t *self);

#endif
