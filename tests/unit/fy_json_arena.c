/*  Tests for fy_json_arena: every event sample, invalid sample and
    JSONTestSuite file decodes inside an arena exactly as outside it (the
    same verdict, errno, error text and msgpack bytes), the arena is reused
    and grows for a large tree, values from before it and from other
    threads are malloc's, and an allocator the process chose is kept. */
#include "ferry/ferry.h"
#include "codec/fy_json_arena.h"
#include "tap.h"

#include <errno.h>
#include <pthread.h>

static fy_schema_t *s_schema;
static fy_json_arena_t *s_arena;
static size_t s_same;

typedef struct {
    fy_event_t *event;
    int errnum;
    char text [sizeof ((fy_error_t *) 0)->text];
    char *packed;
    size_t packed_size;
} s_result_t;

//  Decode and encode as the bridge does, inside the arena or not; the
//  tree is gone before the arena is left.
static void
s_decode (const char *data, size_t size, bool arena, s_result_t *result)
{
    memset (result, 0, sizeof *result);
    fy_error_t err = { "" };
    if (arena && !fy_json_arena_enter (s_arena))
        BAIL_OUT ("the arena is not installed");
    errno = 0;
    fy_event_t *event = fy_event_decode_json (data, size, s_schema, &err);
    result->errnum = event ? 0 : errno;
    snprintf (result->text, sizeof result->text, "%s", event ? "" : err.text);
    if (event
        && fy_event_encode_msgpack (event, &result->packed,
                                    &result->packed_size))
        result->errnum = -1;
    fy_event_destroy (&event);
    if (arena)
        fy_json_arena_leave (s_arena);
}

static void
s_compare (const char *data, size_t size, const char *name)
{
    s_result_t plain, pooled;
    s_decode (data, size, false, &plain);
    s_decode (data, size, true, &pooled);
    bool same =
        plain.errnum == pooled.errnum && strcmp (plain.text, pooled.text) == 0
        && plain.packed_size == pooled.packed_size
        && (!plain.packed
            || memcmp (plain.packed, pooled.packed, plain.packed_size) == 0);
    //  One line per difference; the count says how many agreed.
    if (same)
        s_same++;
    else
        ok (false, "%s: in the arena as outside (%d '%s' vs %d '%s')", name,
            plain.errnum, plain.text, pooled.errnum, pooled.text);
    free (plain.packed);
    free (pooled.packed);
}

static void
s_file (const char *path, const char *name)
{
    size_t size;
    char *data = fy_read_file (path, FY_EVENT_MAX_BYTES * 2, &size);
    if (!data)
        BAIL_OUT ("cannot read %s", path);
    s_compare (data, size, name);
    free (data);
}

static void *
s_other_thread (void *arg)
{
    (void) arg;
    //  Made while the main thread is inside the arena, used after it left.
    return json_pack ("{s:[i,i,s]}", "list", 1, 2, "text");
}

static void
s_threads_and_lifetimes (void)
{
    json_t *before = json_object ();
    ok (fy_json_arena_enter (s_arena), "entered");
    ok (fy_json_arena_used (s_arena) == 0, "nothing given yet");
    json_t *inside = json_pack ("{s:s, s:[i]}", "a", "b", "c", 1);
    ok (fy_json_arena_used (s_arena) > 0, "a tree inside takes from it");
    //  A value from before is freed to malloc inside the arena.
    json_decref (before);
    pthread_t thread;
    pthread_create (&thread, NULL, s_other_thread, NULL);
    json_t *theirs = NULL;
    pthread_join (thread, (void **) &theirs);
    json_decref (inside);
    fy_json_arena_leave (s_arena);
    ok (fy_json_arena_used (s_arena) == 0, "left: all of it reused");
    //  Under ASan, a value from the arena here would be a use after free.
    char *text = json_dumps (theirs, JSON_COMPACT);
    is_str (text, "{\"list\":[1,2,\"text\"]}",
            "another thread's value is malloc's, alive after leave");
    free (text);
    json_decref (theirs);
    fy_json_arena_leave (s_arena);
    ok (1, "leaving twice is a no-op");
}

//  A tree far larger than the first block takes more blocks, all given
//  back, and the next use starts from the first again.
static void
s_growth (void)
{
    fy_json_arena_t *small = fy_json_arena_new (256);
    ok (fy_json_arena_enter (small), "small arena entered");
    json_t *list = json_array ();
    for (int i = 0; i < 1000; i++)
        json_array_append_new (list, json_sprintf ("item %d", i));
    char big [1000];
    memset (big, 'x', sizeof big);
    json_array_append_new (list, json_stringn (big, sizeof big));
    is_int ((int) json_array_size (list), 1001, "a large tree is whole");
    ok (fy_json_arena_used (small) > 256 * 10, "in many blocks: %zu bytes",
        fy_json_arena_used (small));
    is_int ((int) json_string_length (json_array_get (list, 1000)), 1000,
            "a value larger than a block");
    json_decref (list);
    fy_json_arena_leave (small);
    ok (fy_json_arena_enter (small), "entered again");
    json_t *value = json_integer (7);
    ok (fy_json_arena_used (small) > 0 && fy_json_arena_used (small) <= 256,
        "from the first block again");
    json_decref (value);
    fy_json_arena_leave (small);
    fy_json_arena_destroy (&small);
    ok (small == NULL, "destroy sets reference to NULL");
}

static void *
s_own_malloc (size_t size)
{
    return malloc (size);
}

//  With the process's own allocator in place, the arena stays out.
static void
s_foreign_allocator (void)
{
    json_malloc_t malloc_fn;
    json_free_t free_fn;
    json_get_alloc_funcs (&malloc_fn, &free_fn);
    json_set_alloc_funcs (s_own_malloc, free);
    ok (!fy_json_arena_enter (s_arena), "not entered over another allocator");
    json_t *value = json_string ("plain");
    ok (fy_json_arena_used (s_arena) == 0, "nothing taken from it");
    json_decref (value);
    fy_json_arena_leave (s_arena);
    json_set_alloc_funcs (malloc_fn, free_fn);
    ok (fy_json_arena_enter (s_arena), "entered once it is back");
    fy_json_arena_leave (s_arena);
}

//  Every sample the decoder has tests for, decoded both ways.
static void
s_samples (void)
{
    s_schema = tap_events_schema ();
    size_t files =
        tap_each_file (tap_srcpath ("tests/data/events"), ".json", s_file);
    files += tap_each_file (tap_srcpath ("tests/data/events/invalid"), ".json",
                            s_file);
    files +=
        tap_each_file (tap_srcpath ("tests/data/events/sns"), ".json", s_file);
    files += tap_each_file (tap_testdata ("jsontestsuite/test_parsing"),
                            ".json", s_file);
    ok (files > 350 && s_same == files,
        "%zu of %zu samples decode alike in the arena", s_same, files);
    fy_schema_destroy (&s_schema);
}

int
main (void)
{
    plan (NO_PLAN);
    s_arena = fy_json_arena_new (64 * 1024);
    s_samples ();
    s_threads_and_lifetimes ();
    s_growth ();
    s_foreign_allocator ();
    fy_json_arena_destroy (&s_arena);
    return done_testing ();
}
