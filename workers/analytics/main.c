/*  ferry-analytics: the shared daemon main around the analytics worker. */
#include "analytics.h"

#include "ferry/fy_daemon.h"

FY_DAEMON_CLASS (s_analytics, "ferry-analytics", analytics_t, analytics);

int
main (int argc, char **argv)
{
    return fy_daemon_main (&s_analytics, argc, argv);
}
