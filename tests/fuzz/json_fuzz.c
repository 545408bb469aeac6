/*  Fuzz target for fy_json, differential against jansson's own parser
    (with the options ferry used before fy_json): on any bytes without a
    NUL (jansson's parser stops at one) both must give the same verdict,
    and when both accept, equal trees that dump to the same text in the
    same key order. fy_json must also refuse any input with a NUL outside
    a string, which covers the rest. The pull reader, walking a top-level
    object member by member, must rebuild the same object, and accept
    nothing fy_json_loadb refuses (but for duplicate keys, which are its
    caller's to refuse). fy_json_dumps must write what json_dumps writes,
    keys sorted or not. */
#include "ferry/ferry.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  The top-level object as the reader walks it, or NULL when the reader
//  refuses the text; *duplicate when a key came twice.
static json_t *
s_walk (const char *text, size_t size, bool *duplicate)
{
    fy_json_reader_t *reader = fy_json_reader_new (text, size, NULL);
    json_t *object = json_object ();
    int rc = fy_json_reader_enter (reader, '{');
    while (rc == 1) {
        const char *key;
        size_t len;
        if (fy_json_reader_key (reader, &key, &len)) {
            rc = -1;
            break;
        }
        char *name = fy_xstrndup (key, len);
        json_t *value = fy_json_reader_value (reader);
        if (value) {
            *duplicate |= json_object_getn (object, name, len) != NULL;
            json_object_setn_new_nocheck (object, name, len, value);
        }
        free (name);
        rc = value ? fy_json_reader_next (reader) : -1;
    }
    if (rc != 0 || fy_json_reader_end (reader)) {
        json_decref (object);
        object = NULL;
    }
    fy_json_reader_destroy (&reader);
    return object;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    const char *text = (const char *) data;
    fy_error_t err;
    json_t *ours = fy_json_loadb (text, size, &err);
    bool duplicate = false;
    json_t *walked = s_walk (text, size, &duplicate);
    if (json_is_object (ours) ? !walked || !json_equal (ours, walked)
                              : walked && !duplicate)
        abort ();
    json_decref (walked);
    if (memchr (text, 0, size)) {
        json_decref (ours);
        return 0;
    }
    json_t *theirs =
        json_loadb (text, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    if (!ours != !theirs)
        abort ();
    if (ours) {
        char *a = json_dumps (ours, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        char *b = json_dumps (theirs, JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        if (!json_equal (ours, theirs) || strcmp (a, b))
            abort ();
        free (a);
        free (b);
        static const size_t flags [][2] = {
            { 0, JSON_COMPACT | JSON_ENCODE_ANY },
            { FY_JSON_SORT_KEYS,
              JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS }
        };
        for (size_t i = 0; i < 2; i++) {
            size_t len;
            a = fy_json_dumps (ours, (unsigned) flags [i][0], &len);
            b = json_dumps (theirs, flags [i][1]);
            if (!a || !b || strcmp (a, b) || len != strlen (b))
                abort ();
            free (a);
            free (b);
        }
    }
    json_decref (ours);
    json_decref (theirs);
    return 0;
}
