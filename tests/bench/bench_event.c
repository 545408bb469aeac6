/*  bench event_decode: events per second through the edge's whole decode
    (JSON parse, SNS check, schema validation, msgpack encode) on one core,
    as the bridge runs it (fy_event_transcode_json: one pass with no tree
    for an event the schema allows, inside an fy_json_arena for any other;
    the msgpack in a reused buffer), beside the physical limit of the same
    bytes: a bare jansson parse. */
#include "ferry/ferry.h"
#include "codec/fy_json_arena.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t size;
} s_sample_t;

static size_t
s_load (const char *dir_path, s_sample_t *samples, size_t max)
{
    DIR *dir = opendir (dir_path);
    if (!dir) {
        fprintf (stderr, "bench: cannot open %s\n", dir_path);
        exit (1);
    }
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && count < max) {
        size_t len = strlen (entry->d_name);
        if (len < 6 || strcmp (entry->d_name + len - 5, ".json"))
            continue;
        char *path = fy_xasprintf ("%s/%s", dir_path, entry->d_name);
        //  Compact, as the monolith sends them.
        json_t *value = json_load_file (path, 0, NULL);
        free (path);
        if (!value)
            continue;
        samples [count].data = json_dumps (value, JSON_COMPACT);
        samples [count].size = strlen (samples [count].data);
        json_decref (value);
        count++;
    }
    closedir (dir);
    return count;
}

int
main (int argc, char **argv)
{
    const char *srcdir = argc > 1 ? argv [1] : ".";
    char path [4096];
    snprintf (path, sizeof path, "%s/tests/data/events", srcdir);
    s_sample_t samples [64];
    size_t count = s_load (path, samples, 64);
    snprintf (path, sizeof path, "%s/schemas/events.schema.json", srcdir);
    fy_error_t err = { "" };
    fy_schema_t *schema = fy_schema_load (path, &err);
    if (!schema || count == 0) {
        fprintf (stderr, "bench: %s (%zu samples)\n", err.text, count);
        return 1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < count; i++)
        bytes += samples [i].size;
    const int rounds = 20000;
    size_t total = (size_t) rounds * count;

    //  The limit: parse and free the same bytes, nothing else.
    int64_t start = fy_clock_mono_ns ();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < count; i++) {
            json_t *value = json_loadb (samples [i].data, samples [i].size,
                                        JSON_REJECT_DUPLICATES, NULL);
            if (!value)
                return 1;
            json_decref (value);
        }
    double limit =
        (double) total * 1e9 / (double) (fy_clock_mono_ns () - start);

    fy_json_arena_t *arena = fy_json_arena_new (64 * 1024);
    msgpack_sbuffer packed;
    msgpack_sbuffer_init (&packed);
    start = fy_clock_mono_ns ();
    for (int r = 0; r < rounds; r++)
        for (size_t i = 0; i < count; i++) {
            (void) fy_json_arena_enter (arena);
            packed.size = 0;
            size_t size;
            if (fy_event_transcode_json (samples [i].data, samples [i].size,
                                         schema, &packed, &size, &err)) {
                fprintf (stderr, "bench: %s\n", err.text);
                return 1;
            }
            fy_json_arena_leave (arena);
        }
    double rate = (double) total * 1e9 / (double) (fy_clock_mono_ns () - start);
    printf ("bench event_decode %.0f events/s limit=%.0f ratio=%.2f "
            "(%zu types, %zu bytes avg)\n",
            rate, limit, rate / limit, count, bytes / count);
    for (size_t i = 0; i < count; i++)
        free (samples [i].data);
    msgpack_sbuffer_destroy (&packed);
    fy_json_arena_destroy (&arena);
    fy_schema_destroy (&schema);
    return 0;
}
