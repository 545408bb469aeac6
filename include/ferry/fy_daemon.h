/*  fy_daemon: the main() every ferry daemon shares: the common options
    (-c, --set, --check-config, --help), the configuration loaded and
    checked, the logger set up, then the daemon's top object built, run
    and destroyed, and one exit-status policy for all of them: 0 after a
    clean stop, 1 when the daemon failed at run time, 2 for bad
    configuration (one line on stderr).

    A daemon's top object follows one pattern, and its main.c is then
    only its class handed to fy_daemon_main:

        //  NULL with err and errno EINVAL for bad configuration (exit
        //  2), any other errno for a failure at startup (exit 1).
        worker_t *worker_new (fy_cfg_t *cfg, fy_error_t *err);
        //  Until stopped: 0 for a clean stop, -1 (exit 1) otherwise.
        int worker_run (worker_t *self);
        void worker_destroy (worker_t **self_p);

        FY_DAEMON_CLASS (s_worker, "ferry-worker", worker_t, worker);

        int
        main (int argc, char **argv)
        {
            return fy_daemon_main (&s_worker, argc, argv);
        }

    cfg is borrowed for the object's life; fy_cfg_reload reads it again
    from the same file and --set list (SIGHUP). */
#ifndef FY_DAEMON_H_INCLUDED
#define FY_DAEMON_H_INCLUDED

#include "ferry/fy_cfg.h"

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

//  A daemon's top object, as fy_daemon_main sees it; FY_DAEMON_CLASS
//  builds one from the object's own typed functions.
typedef struct {
    const char *name;           //  "ferry-broker": log component, messages
    void *(*new_fn) (fy_cfg_t *cfg, fy_error_t *err);
    int (*run_fn) (void *self);
    void (*destroy_fn) (void *self);
} fy_daemon_class_t;

//  Define the static fy_daemon_class_t var, named name, over the top
//  object type and its functions prefix_new, prefix_run and
//  prefix_destroy (signatures above, checked by the compiler).
#define FY_DAEMON_CLASS(var, name, type, prefix)                       \
    static void *var##_new (fy_cfg_t *cfg, fy_error_t *err)            \
    {                                                                  \
        type *self = prefix##_new (cfg, err);                          \
        return self;                                                   \
    }                                                                  \
    static int var##_run (void *self)                                  \
    {                                                                  \
        return prefix##_run ((type *) self);                           \
    }                                                                  \
    static void var##_destroy (void *self)                             \
    {                                                                  \
        type *object = self;                                           \
        prefix##_destroy (&object);                                    \
    }                                                                  \
    static const fy_daemon_class_t var = { name, var##_new, var##_run, \
                                           var##_destroy }

//  The whole of a daemon's main. Returns the exit status (see above).
FY_EXPORT int
fy_daemon_main (const fy_daemon_class_t *cls, int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
