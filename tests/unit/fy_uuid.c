/*  Tests for fy_uuid: validation and v4 generation. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>

int
main (void)
{
    plan (NO_PLAN);
    const char *good = "3f1c2a4e-9b7d-4c1e-8f00-0123456789ab";
    ok (fy_uuid_is_valid (good, strlen (good)), "lower case uuid");
    ok (fy_uuid_is_valid ("3F1C2A4E-9B7D-4C1E-8F00-0123456789AB", 36),
        "upper case uuid");
    ok (!fy_uuid_is_valid (good, 35), "short is invalid");
    ok (!fy_uuid_is_valid ("3f1c2a4e-9b7d-4c1e-8f00-0123456789ag", 36),
        "non-hex is invalid");
    ok (!fy_uuid_is_valid ("3f1c2a4e99b7d-4c1e-8f00-0123456789ab", 36),
        "missing dash is invalid");
    //  Every byte at every place, against what a hex digit is: the
    //  check takes eight bytes at a time.
    size_t wrong = 0;
    for (int at = 0; at < 36; at++)
        for (int c = 0; c < 256; c++) {
            char text [37];
            memcpy (text, good, 37);
            text [at] = (char) c;
            bool dash = at == 8 || at == 13 || at == 18 || at == 23;
            bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                       || (c >= 'A' && c <= 'F');
            wrong += fy_uuid_is_valid (text, 36) != (dash ? c == '-' : hex);
        }
    ok (wrong == 0, "each of 256 bytes at each of 36 places (%zu wrong)",
        wrong);
    char first [FY_UUID_SIZE], second [FY_UUID_SIZE];
    fy_uuid_generate (first);
    fy_uuid_generate (second);
    ok (fy_uuid_is_valid (first, strlen (first)), "generated uuid is valid");
    ok (first [14] == '4', "version 4");
    ok (strchr ("89ab", first [19]) != NULL, "RFC 4122 variant");
    ok (strcmp (first, second) != 0, "two uuids differ");

    unsigned char bytes [FY_UUID_BYTES];
    ok (fy_uuid_parse ("3F1C2A4E-9B7D-4C1E-8F00-0123456789AB", bytes) == 0
            && bytes [0] == 0x3f && bytes [15] == 0xab,
        "parse, either case");
    char text [FY_UUID_SIZE];
    fy_uuid_format (bytes, text);
    is_str (text, good, "format gives it back, lower case");
    errno = 0;
    ok (fy_uuid_parse ("3f1c2a4e9b7d-4c1e-8f00-0123456789ab-", bytes) == -1
            && errno == EINVAL,
        "a dash out of place is not a uuid");
    ok (fy_uuid_parse ("3f1c2a4e-9b7d-4c1e-8f00-0123456789a", bytes) == -1,
        "nor a short one");
    return done_testing ();
}
