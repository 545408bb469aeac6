/*  fy_json_arena: jansson values taken from one reusable block instead of
    one malloc each, for a caller that builds a tree, reads it and drops it
    (the bridge decoding an event: a tree of a few dozen values, each a
    malloc and a free). jansson's allocator is process-wide, so the arena
    installs a pair of functions once that take from the arena only in the
    thread that has entered one, and pass everything else to malloc and
    free: other threads, and this one outside fy_json_arena_enter ...
    fy_json_arena_leave, allocate as before. If the process has installed
    an allocator of its own, the arena leaves it alone and stays unused. */
#ifndef FY_JSON_ARENA_H_INCLUDED
#define FY_JSON_ARENA_H_INCLUDED

#include "ferry/fy_common.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct fy_json_arena fy_json_arena_t;

//  An arena whose first block holds block_size bytes; a tree that needs
//  more takes further blocks, given back at fy_json_arena_leave.
fy_json_arena_t *
fy_json_arena_new (size_t block_size);

void
fy_json_arena_destroy (fy_json_arena_t **self_p);

//  From now until fy_json_arena_leave, the jansson values this thread
//  makes come from the arena; freeing them costs nothing. Returns false,
//  and changes nothing, when jansson's allocator is someone else's; the
//  caller goes on alike (fy_json_arena_leave is then a no-op).
bool
fy_json_arena_enter (fy_json_arena_t *self);

//  Stop taking from the arena and reuse all of it. Every value made
//  since fy_json_arena_enter must be gone (decref'd) by now, and no value
//  made before may have been changed in between (an object member added
//  then would live in the arena).
void
fy_json_arena_leave (fy_json_arena_t *self);

//  Bytes given out since fy_json_arena_enter (for tests).
size_t
fy_json_arena_used (fy_json_arena_t *self);

#endif
