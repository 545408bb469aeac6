/*  fy_bytes: eight bytes as a word, for the parsers that test eight at a
    time (fy_json's strings, fy_uuid's digits). Little-endian whatever the
    machine, so that the first byte in memory is the lowest in the word
    and a count of trailing zeros finds it; gcc and clang make this one
    load where the machine is little-endian. */
#ifndef FY_BYTES_H_INCLUDED
#define FY_BYTES_H_INCLUDED

#include <stdint.h>

static inline uint64_t
fy_load_le64 (const char *p)
{
    const unsigned char *b = (const unsigned char *) p;
    return (uint64_t) b [0] | (uint64_t) b [1] << 8 | (uint64_t) b [2] << 16
           | (uint64_t) b [3] << 24 | (uint64_t) b [4] << 32
           | (uint64_t) b [5] << 40 | (uint64_t) b [6] << 48
           | (uint64_t) b [7] << 56;
}

#endif
