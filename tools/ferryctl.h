/*  ferryctl: the operator's tool. Each command lives in its own file and
    is called with the arguments after its name. */
#ifndef FERRYCTL_H_INCLUDED
#define FERRYCTL_H_INCLUDED

#include "ferry/ferry.h"

//  Exit statuses every command shares.
#define FERRYCTL_OK      0
#define FERRYCTL_FAILED  1
#define FERRYCTL_USAGE   2

//  What every command gets: the loaded configuration and its arguments.
typedef struct {
    fy_cfg_t *cfg;
    const char *cfg_path;       //  the -c file, or NULL
    const char *const *sets;    //  --set assignments, NULL-terminated
    int argc;
    char **argv;
} ferryctl_t;

int
    ferryctl_validate (ferryctl_t *ctl);
int
    ferryctl_config (ferryctl_t *ctl);
int
    ferryctl_keygen (ferryctl_t *ctl);

#endif
