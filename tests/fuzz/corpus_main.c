/*  Replays a fuzz target over its committed corpus without libFuzzer, so
    every make check (gcc or clang, sanitizers or not) re-runs each input
    the fuzzer ever found interesting. Prints TAP. */
#include "tap.h"

#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
main (int argc, char **argv)
{
    plan (NO_PLAN);
    const char *corpus = argc > 1 ? argv [1] : FUZZ_CORPUS;
    DIR *dir = opendir (corpus);
    if (!dir)
        BAIL_OUT ("cannot open corpus %s", corpus);
    size_t inputs = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", corpus, entry->d_name);
        FILE *file = fopen (path, "rb");
        if (!file)
            BAIL_OUT ("cannot read %s", path);
        uint8_t *data = malloc (1 << 20);
        size_t size = fread (data, 1, 1 << 20, file);
        fclose (file);
        //  A crash or sanitizer report aborts the program: the TAP
        //  driver then reports the missing plan as an error.
        LLVMFuzzerTestOneInput (data, size);
        free (data);
        inputs++;
    }
    closedir (dir);
    ok (inputs > 0, "replayed %zu corpus inputs", inputs);
    return done_testing ();
}
