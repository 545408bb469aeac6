/*  ferry-bridge: the shared daemon main around the bridge. */
#include "bridge.h"

#include "ferry/fy_daemon.h"

FY_DAEMON_CLASS (s_bridge, "ferry-bridge", bridge_t, bridge);

int
main (int argc, char **argv)
{
    return fy_daemon_main (&s_bridge, argc, argv);
}
