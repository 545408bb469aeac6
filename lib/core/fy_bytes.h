/*  fy_bytes: up to eight bytes as a word, for the code that tests or
    compares several at a time (fy_json's strings, fy_uuid's digits,
    fy_schema's names). Little-endian whatever the machine, so that the
    first byte in memory is the lowest in the word and a count of
    trailing zeros finds it. */
#ifndef FY_BYTES_H_INCLUDED
#define FY_BYTES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <string.h>

//  width (at most 8) bytes at p as a word: one load, byte-swapped on a
//  big-endian machine. width is a constant where it is called, so that
//  the copy is a load.
static inline uint64_t
fy_load_le (const char *p, size_t width)
{
    uint64_t word = 0;
    memcpy (&word, p, width);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    word = __builtin_bswap64 (word);
#endif
    return word;
}

#endif
