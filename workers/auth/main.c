/*  ferry-auth: the shared daemon main around the auth worker. */
#include "auth.h"

#include "ferry/fy_daemon.h"

FY_DAEMON_CLASS (s_auth, "ferry-auth", auth_t, auth);

int
main (int argc, char **argv)
{
    return fy_daemon_main (&s_auth, argc, argv);
}
