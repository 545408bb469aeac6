/*  ferry-broker: the shared daemon main around the broker. */
#include "broker.h"

#include "ferry/fy_daemon.h"

FY_DAEMON_CLASS (s_broker, "ferry-broker", broker_t, broker);

int
main (int argc, char **argv)
{
    return fy_daemon_main (&s_broker, argc, argv);
}
