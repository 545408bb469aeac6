/*  fy_json_arena: a bump allocator for jansson (see fy_json_arena.h). The
    blocks are a list whose last is the one kept across uses; a free is a
    no-op for an address inside the current thread's arena and free()
    for any other, which is why a value from before fy_json_arena_enter
    may still be freed inside it. */
#include "codec/fy_json_arena.h"

#include <assert.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

//  malloc's alignment: jansson stores doubles and json_int_t.
#define S_ALIGN 16

typedef struct s_block s_block_t;
struct s_block {
    s_block_t *next;
    size_t size;
    size_t used;
    _Alignas (S_ALIGN) unsigned char data [];
};

struct fy_json_arena {
    s_block_t *blocks;          //  The block being filled first
    s_block_t *first;           //  The last in the list, kept
    size_t given;
    bool entered;
};

//  The arena this thread has entered, if any: jansson's functions are
//  process-wide, the arena is per thread.
static _Thread_local fy_json_arena_t *s_current;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static s_block_t *
s_block_new (size_t size)
{
    s_block_t *block = fy_xmalloc (sizeof *block + size);
    block->next = NULL;
    block->size = size;
    block->used = 0;
    return block;
}

static void *
s_malloc (size_t size)
{
    fy_json_arena_t *self = s_current;
    if (!self)
        return malloc (size);
    size = (size + S_ALIGN - 1) & ~(size_t) (S_ALIGN - 1);
    s_block_t *block = self->blocks;
    if (block->size - block->used < size) {
        //  A larger tree than usual: another block in front, given back
        //  when the arena is left.
        block =
            s_block_new (size > self->first->size ? size : self->first->size);
        block->next = self->blocks;
        self->blocks = block;
    }
    void *data = block->data + block->used;
    block->used += size;
    self->given += size;
    return data;
}

static bool
s_owns (fy_json_arena_t *self, const void *ptr)
{
    const unsigned char *byte = ptr;
    for (s_block_t *block = self->blocks; block; block = block->next)
        if (byte >= block->data && byte < block->data + block->size)
            return true;
    return false;
}

static void
s_free (void *ptr)
{
    fy_json_arena_t *self = s_current;
    if (self && ptr && s_owns (self, ptr))
        return;
    free (ptr);
}

//  Only over jansson's own default, so an allocator the process chose
//  (a debugging one, say) keeps working and the arena stays unused.
static void
s_install (void)
{
    json_malloc_t malloc_fn;
    json_free_t free_fn;
    json_get_alloc_funcs (&malloc_fn, &free_fn);
    if (malloc_fn == malloc && free_fn == free)
        json_set_alloc_funcs (s_malloc, s_free);
}

fy_json_arena_t *
fy_json_arena_new (size_t block_size)
{
    assert (block_size > 0);
    pthread_once (&s_once, s_install);
    fy_json_arena_t *self = fy_xcalloc (1, sizeof *self);
    self->blocks = s_block_new (block_size);
    self->first = self->blocks;
    return self;
}

void
fy_json_arena_destroy (fy_json_arena_t **self_p)
{
    assert (self_p);
    fy_json_arena_t *self = *self_p;
    if (!self)
        return;
    assert (!self->entered);
    while (self->blocks) {
        s_block_t *next = self->blocks->next;
        free (self->blocks);
        self->blocks = next;
    }
    free (self);
    *self_p = NULL;
}

bool
fy_json_arena_enter (fy_json_arena_t *self)
{
    assert (self);
    assert (!self->entered);
    assert (!s_current);
    json_malloc_t malloc_fn;
    json_free_t free_fn;
    json_get_alloc_funcs (&malloc_fn, &free_fn);
    if (malloc_fn != s_malloc || free_fn != s_free)
        return false;
    self->entered = true;
    s_current = self;
    return true;
}

void
fy_json_arena_leave (fy_json_arena_t *self)
{
    assert (self);
    if (!self->entered)
        return;
    assert (s_current == self);
    s_current = NULL;
    self->entered = false;
    self->given = 0;
    while (self->blocks != self->first) {
        s_block_t *next = self->blocks->next;
        free (self->blocks);
        self->blocks = next;
    }
    self->first->used = 0;
}

size_t
fy_json_arena_used (fy_json_arena_t *self)
{
    assert (self);
    return self->given;
}
