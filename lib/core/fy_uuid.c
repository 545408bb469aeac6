/*  fy_uuid: validation, text <-> bytes, and v4 generation from
    getrandom(2), so minting an id never blocks and never depends on a
    seeded PRNG shared across forked workers. */
#include "ferry/fy_uuid.h"
#include "core/fy_bytes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

//  The bytes of eight at p that are hex digits, each as its high bit: a
//  byte from 0x80 is not, the others are tested against two ranges at
//  once (x + 0x80 - lo has its high bit set when x >= lo, x + 0x7f - hi
//  when x > hi; neither carries into the next byte when x < 0x80).
static uint64_t
s_hex_bytes (const char *p)
{
    const uint64_t ones = 0x0101010101010101ULL, high = ones * 0x80;
    uint64_t word = fy_load_le (p, 8);
    uint64_t x = word & ~high, lower = x | ones * 0x20;
    uint64_t digit = (x + ones * (0x80 - '0')) & ~(x + ones * (0x7f - '9'));
    uint64_t letter =
        (lower + ones * (0x80 - 'a')) & ~(lower + ones * (0x7f - 'f'));
    return (digit | letter) & ~word & high;
}

bool
fy_uuid_is_valid (const char *text, size_t len)
{
    if (len != 36 || text [8] != '-' || text [13] != '-' || text [18] != '-'
        || text [23] != '-')
        return false;
    //  Five words over the 36 bytes (the last two overlap), the dashes'
    //  bytes let through: every event has two or three ids, each checked
    //  twice (its schema's format, then its envelope).
    const uint64_t high = 0x8080808080808080ULL;
    const uint64_t dash_8 = 0x80ULL | 0x80ULL << 40;    //  bytes 8 and 13
    const uint64_t dash_16 = 0x80ULL << 16 | 0x80ULL << 56;  //  18, 23
    return (s_hex_bytes (text) & s_hex_bytes (text + 24)
            & s_hex_bytes (text + 28) & (s_hex_bytes (text + 8) | dash_8)
            & (s_hex_bytes (text + 16) | dash_16))
           == high;
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
