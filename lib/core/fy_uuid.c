/*  fy_uuid: validation, text <-> bytes, and v4 generation from
    getrandom(2), so minting an id never blocks and never depends on a
    seeded PRNG shared across forked workers. */
#include "ferry/fy_uuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

bool
fy_uuid_is_valid (const char *text, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = text [i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        }
        else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')
                   || (c >= 'A' && c <= 'F')))
            return false;
    }
    return true;
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
