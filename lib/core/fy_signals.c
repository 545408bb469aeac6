/*  fy_signals: the signal mask and signalfd every ferry loop shares. */
#include "ferry/fy_signals.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

int
fy_signals_open (bool hangup)
{
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGINT);
    if (hangup)
        sigaddset (&signals, SIGHUP);
    sigprocmask (SIG_BLOCK, &signals, NULL);
    return signalfd (-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
}

int
fy_signals_next (int fd)
{
    struct signalfd_siginfo info;
    if (read (fd, &info, sizeof info) != sizeof info)
        return 0;
    return (int) info.ssi_signo;
}
