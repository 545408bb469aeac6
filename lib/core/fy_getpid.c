/*  fy_getpid: getpid(2) read once per process, for ferry's programs only.

    libzmq 4.3 checks `pid != getpid ()` on every operation of a socket's
    mailbox (signaler_t::send, wait and recv) so that a forked child never
    touches its parent's sockets. glibc stopped caching getpid in 2.25, so
    each check is a system call: on the bench's machine, where one costs
    about a microsecond, they were a third of the broker's and the
    worker's system calls (doc/bridge.md, "The pid libzmq asks for").

    This definition interposes on glibc's for the whole process, libzmq's
    calls included, so it is linked into the programs (FY_PROG_SOURCES),
    never into libferry, which must not change libc under its users. It
    caches what glibc cached before 2.25, and forgets it in a fork's child
    as glibc did; a child made by a raw clone(2) would be wrong, and no
    ferry program makes one. */
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

//  0 until read: no process has pid 0. Relaxed atomics suffice, as every
//  thread that reads it computes the same value.
static pid_t s_pid;

static void
s_forget (void)
{
    __atomic_store_n (&s_pid, 0, __ATOMIC_RELAXED);
}

__attribute__ ((constructor)) static void
s_init (void)
{
    //  pthread_atfork fails only for want of memory, at startup: then the
    //  cache stays off and getpid asks the kernel each time, as glibc does.
    if (pthread_atfork (NULL, NULL, s_forget))
        __atomic_store_n (&s_pid, -1, __ATOMIC_RELAXED);
}

__attribute__ ((visibility ("default"))) pid_t
getpid (void)
{
    pid_t pid = __atomic_load_n (&s_pid, __ATOMIC_RELAXED);
    if (pid > 0)
        return pid;
    pid_t now = (pid_t) syscall (SYS_getpid);
    if (pid == 0)
        __atomic_store_n (&s_pid, now, __ATOMIC_RELAXED);
    return now;
}
