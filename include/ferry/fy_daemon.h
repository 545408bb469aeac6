/*  fy_daemon: the main() every ferry daemon shares: the common options
    (-c, --set, --check-config, --help), the configuration loaded and
    checked, the logger set up, then the daemon's own object built, run
    and destroyed. Bad configuration is one line on stderr and exit 2. */
#ifndef FY_DAEMON_H_INCLUDED
#define FY_DAEMON_H_INCLUDED

#include "ferry/fy_cfg.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Build the daemon from the loaded configuration (cfg and args are
//  borrowed for the daemon's life). On failure return NULL with err and
//  set *status to the exit status (2 for configuration, 1 otherwise).
typedef void *(fy_daemon_new_fn) (fy_cfg_t *cfg, const fy_cfg_args_t *args,
                                  int *status, fy_error_t *err);
//  Run until stopped; returns 0 on a clean stop.
typedef int (fy_daemon_run_fn) (void *self);
//  Destroy what new built.
typedef void (fy_daemon_destroy_fn) (void *self);

typedef struct {
    const char *name;           //  "ferry-broker": log component, messages
    fy_daemon_new_fn *new_fn;
    fy_daemon_run_fn *run_fn;
    fy_daemon_destroy_fn *destroy_fn;
} fy_daemon_t;

//  The whole of a daemon's main. Returns the exit status.
FY_EXPORT int
    fy_daemon_main (const fy_daemon_t *daemon, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
