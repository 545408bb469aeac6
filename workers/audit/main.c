/*  ferry-audit: the shared daemon main around the audit worker. */
#include "audit.h"

#include "ferry/fy_daemon.h"

FY_DAEMON_CLASS (s_audit, "ferry-audit", audit_t, audit);

int
main (int argc, char **argv)
{
    return fy_daemon_main (&s_audit, argc, argv);
}
