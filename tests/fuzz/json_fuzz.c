/*  Fuzz target for fy_json, differential against jansson's own parser
    (with the options ferry used before fy_json): on any bytes without a
    NUL (jansson's parser stops at one) both must give the same verdict,
    and when both accept, equal trees that dump to the same text in the
    same key order. fy_json must also refuse any input with a NUL outside
    a string, which covers the rest. */
#include "ferry/ferry.h"

#include <stdlib.h>
#include <string.h>

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    fy_error_t err;
    json_t *ours = fy_json_loadb (text, size, &err);
    if (memchr (text, 0, size)) {
        json_decref (ours);
        return 0;
    }
    json_t *theirs = json_loadb (text, size,
                                 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
                                 NULL);
    if (!ours != !theirs)
        abort ();
    if (ours) {
        char *a = json_dumps (ours, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        char *b = json_dumps (theirs, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        if (!json_equal (ours, theirs) || strcmp (a, b))
            abort ();
        free (a);
        free (b);
    }
    json_decref (ours);
    json_decref (theirs);
    return 0;
}
