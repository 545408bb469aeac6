/*  fy_common: the few things every libferry class shares: the must-check
    attribute, the operator-facing error text, and allocation that treats
    out-of-memory as fatal (the daemons are supervised, as in czmq and
    Redis, so no caller carries an out-of-memory branch). */
#ifndef FY_COMMON_H_INCLUDED
#define FY_COMMON_H_INCLUDED

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FY_MUSTCHECK __attribute__ ((warn_unused_result))
//  libferry is built with hidden visibility: only what a public header
//  marks FY_EXPORT is in the shared library's ABI, as czmq's CZMQ_EXPORT.
//  Everything else (the internal headers beside lib/'s sources, the test
//  hooks in *_int.h) links only into ferry's own programs and tests,
//  which take libferry's objects whole from its convenience library.
#define FY_EXPORT __attribute__ ((visibility ("default")))
#define FY_PRINTF(f, a) __attribute__ ((format (printf, f, a)))

//  Detail for operators about the last failure. Every function that takes
//  an fy_error_t * accepts NULL.
typedef struct {
    char text [160];
} fy_error_t;

//  Format text into err; no-op when err is NULL. Preserves errno.
FY_EXPORT void
fy_error_set (fy_error_t *err, const char *format, ...) FY_PRINTF (2, 3);

//  Prefix err's current text with a formatted context, "ctx: text".
FY_EXPORT void
fy_error_prefix (fy_error_t *err, const char *format, ...) FY_PRINTF (2, 3);

//  Allocators that abort on out-of-memory after logging.
FY_EXPORT void *
fy_xmalloc (size_t size);
FY_EXPORT void *
fy_xcalloc (size_t count, size_t size);
FY_EXPORT void *
fy_xrealloc (void *ptr, size_t size);
FY_EXPORT char *
fy_xstrdup (const char *str);
FY_EXPORT char *
fy_xstrndup (const char *str, size_t len);
//  Caller owns result.
FY_EXPORT char *
fy_xasprintf (const char *format, ...) FY_PRINTF (1, 2);

//  Read the whole file at path, at most max bytes, NUL-terminated (the
//  terminator is not counted in *size_p, which may be NULL). Caller owns
//  result. Returns NULL with errno from open/read, or EFBIG when the file
//  is larger than max.
FY_EXPORT char *
fy_read_file (const char *path, size_t max, size_t *size_p);

//  Milliseconds of the monotonic and the wall clock.
FY_EXPORT int64_t
fy_clock_mono_ms (void);
FY_EXPORT int64_t
fy_clock_wall_ms (void);
//  Nanoseconds of the monotonic clock, for benchmarks and histograms.
FY_EXPORT int64_t
fy_clock_mono_ns (void);

//  Capped exponential backoff with jitter, for retries and reconnects:
//  attempt n (from 1) has the ceiling min(cap, base * 2^(n-1)). The
//  generator is seeded from the clock and the pid so that competing
//  processes spread apart.
typedef struct {
    int64_t base_ms;
    int64_t cap_ms;
    uint64_t rng;
} fy_backoff_t;

//  Set up backoff with base and cap (milliseconds, > 0).
FY_EXPORT void
fy_backoff_init (fy_backoff_t *backoff, int64_t base_ms, int64_t cap_ms);

//  Full jitter: uniform in [0, ceiling].
FY_EXPORT int64_t
fy_backoff_ms (fy_backoff_t *backoff, int attempt);

//  Equal jitter: uniform in [ceiling / 2, ceiling], for reconnecting,
//  where at least half the wait keeps a server that is down from being
//  hammered.
FY_EXPORT int64_t
fy_backoff_equal_ms (fy_backoff_t *backoff, int attempt);

//  For the objects a program's own loop drives (an fd to poll, a
//  deadline, a run call), the waiting they offer programs without a
//  loop. fy_wait_fd polls fd for input for at most timeout_ms (-1: no
//  limit) and at most own_ms (the object's next deadline, -1: none), a
//  minute at the most. Returns 0 (an interrupted poll included), or -1
//  with errno from poll.
FY_EXPORT int
fy_wait_fd (int fd, int64_t own_ms, int64_t timeout_ms);

//  Call wait (self, ms left) until done (arg) is true or timeout_ms
//  passed. Returns 0; -1 with errno ETIMEDOUT, or the errno of a failed
//  wait.
typedef int (fy_wait_fn) (void *self, int64_t timeout_ms);
typedef bool (fy_done_fn) (void *arg);
FY_EXPORT int
fy_wait_until (fy_wait_fn *wait, void *self, fy_done_fn *done, void *arg,
               int64_t timeout_ms);

//  Hash and compare functions for maps keyed by a uint64_t (the key is a
//  pointer to it): sequential ids are mixed so buckets fill evenly.
FY_EXPORT size_t
fy_u64_hash (const void *key);
FY_EXPORT int
fy_u64_compare (const void *a, const void *b);

//  Parse a whole decimal integer in [min, max]. Returns 0, or -1 with
//  errno EINVAL (not a number) or ERANGE (out of bounds).
FY_EXPORT int
fy_parse_int64 (const char *text, int64_t min, int64_t max,
                int64_t *value) FY_MUSTCHECK;

//  The length of the UTF-8 sequence at text (avail bytes readable), or 0
//  when it is not one RFC 3629 allows: overlong forms, surrogates, code
//  points above U+10FFFF and cut sequences are all 0. ASCII is 1.
FY_EXPORT size_t
fy_utf8_length (const char *text, size_t avail);

//  The len bytes as 2 * len lowercase hex digits in out, NUL-terminated
//  (out holds 2 * len + 1 bytes).
FY_EXPORT void
fy_hex (const unsigned char *bytes, size_t len, char *out);

#ifdef __cplusplus
}
#endif
#endif
