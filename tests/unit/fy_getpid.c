/*  Tests for fy_getpid: the pid a program's libraries ask for is its own,
    read once, and a fork's child gets its own. */
#include "tap.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int
main (void)
{
    plan (NO_PLAN);
    pid_t kernel = (pid_t) syscall (SYS_getpid);
    ok (getpid () == kernel, "getpid is the kernel's pid");
    ok (getpid () == kernel, "and again, from the cache");

    //  What a shared library such as libzmq binds getpid to is the first
    //  definition in the global scope: it must be the program's own.
    void *bound = dlsym (RTLD_DEFAULT, "getpid");
    Dl_info in_bound, in_main;
    ok (bound && dladdr (bound, &in_bound) && dladdr ((void *) main, &in_main)
            && in_bound.dli_fbase == in_main.dli_fbase,
        "shared libraries bind getpid to the program's");

    int fds [2];
    if (pipe (fds))
        BAIL_OUT ("pipe");
    pid_t child = fork ();
    if (child == 0) {
        pid_t seen [2] = { getpid (), (pid_t) syscall (SYS_getpid) };
        _exit (write (fds [1], seen, sizeof seen) == sizeof seen ? 0 : 1);
    }
    pid_t seen [2] = { 0, 0 };
    int status = -1;
    ok (child > 0 && read (fds [0], seen, sizeof seen) == sizeof seen
            && waitpid (child, &status, 0) == child && status == 0,
        "the child reports");
    ok (seen [0] == child && seen [1] == child,
        "a fork's child sees its own pid, not its parent's");
    ok (getpid () == kernel, "the parent keeps its own");
    close (fds [0]);
    close (fds [1]);
    return done_testing ();
}
