/*  ferry-notify: the shared daemon main around the notification worker. */
#include "notify.h"

#include "ferry/fy_daemon.h"

FY_DAEMON_CLASS (s_notify, "ferry-notify", notify_t, notify);

int
main (int argc, char **argv)
{
    return fy_daemon_main (&s_notify, argc, argv);
}
