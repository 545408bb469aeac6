/*  fy_uuid: validation, text <-> bytes, and v4 generation from
    getrandom(2), so minting an id never blocks and never depends on a
    seeded PRNG shared across forked workers. */
#include "ferry/fy_uuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

//  The hex digits, either case.
static const bool s_hex [256] = {
    ['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
    ['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
    ['a'] = true, ['b'] = true, ['c'] = true, ['d'] = true, ['e'] = true,
    ['f'] = true, ['A'] = true, ['B'] = true, ['C'] = true, ['D'] = true,
    ['E'] = true, ['F'] = true,
};

bool
fy_uuid_is_valid (const char *text, size_t len)
{
    if (len != 36 || text [8] != '-' || text [13] != '-' || text [18] != '-'
        || text [23] != '-')
        return false;
    //  The five groups of digits between the dashes, each a run of table
    //  lookups: every event has two or three ids, each checked twice (its
    //  schema's format, then its envelope).
    static const unsigned char s_groups [][2] = {
        { 0, 8 }, { 9, 13 }, { 14, 18 }, { 19, 23 }, { 24, 36 }
    };
    bool valid = true;
    for (size_t g = 0; g < 5; g++)
        for (size_t i = s_groups [g][0]; i < s_groups [g][1]; i++)
            valid &= s_hex [(unsigned char) text [i]];
    return valid;
}

void
fy_uuid_generate (char buffer [FY_UUID_SIZE])
{
    unsigned char bytes [16];
    size_t have = 0;
    while (have < sizeof bytes) {
        ssize_t got = getrandom (bytes + have, sizeof bytes - have, 0);
        //  getrandom only fails before the pool is seeded or on EINTR;
        //  a process that cannot get randomness must not mint ids.
        if (got < 0)
            abort ();
        have += (size_t) got;
    }
    bytes [6] = (bytes [6] & 0x0f) | 0x40;
    bytes [8] = (bytes [8] & 0x3f) | 0x80;
    fy_uuid_format (bytes, buffer);
}

static int
s_hex_digit (char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : c - 'A' + 10;
}

int
fy_uuid_parse (const char *text, unsigned char bytes [FY_UUID_BYTES])
{
    if (!text || !fy_uuid_is_valid (text, strlen (text))) {
        errno = EINVAL;
        return -1;
    }
    for (size_t i = 0, at = 0; i < FY_UUID_BYTES; i++) {
        if (text [at] == '-')
            at++;
        bytes [i] = (unsigned char) (s_hex_digit (text [at]) << 4
                                     | s_hex_digit (text [at + 1]));
        at += 2;
    }
    return 0;
}

void
fy_uuid_format (const unsigned char bytes [FY_UUID_BYTES],
                char buffer [FY_UUID_SIZE])
{
    static const char hex [] = "0123456789abcdef";
    size_t at = 0;
    for (size_t i = 0; i < FY_UUID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buffer [at++] = '-';
        buffer [at++] = hex [bytes [i] >> 4];
        buffer [at++] = hex [bytes [i] & 15];
    }
    buffer [at] = 0;
}
