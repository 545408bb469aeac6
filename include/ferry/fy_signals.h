/*  fy_signals: SIGTERM and SIGINT (and SIGHUP when asked) as events of a
    program's loop. They are blocked in the calling thread, and so in every
    thread started after it (libzmq's I/O threads, zauth), and delivered
    through a signalfd the loop polls. Open it before anything starts a
    thread: a thread that did not block SIGTERM would take its default
    action and kill the process instead of letting it drain. */
#ifndef FY_SIGNALS_H_INCLUDED
#define FY_SIGNALS_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Block SIGTERM, SIGINT and, with hangup, SIGHUP, and return a
//  non-blocking close-on-exec signalfd receiving them. Returns -1 with
//  errno from signalfd(2) on failure.
FY_EXPORT int
fy_signals_open (bool hangup) FY_MUSTCHECK;

//  The next signal waiting on fd, or 0 when there is none.
FY_EXPORT int
fy_signals_next (int fd);

#ifdef __cplusplus
}
#endif
#endif
