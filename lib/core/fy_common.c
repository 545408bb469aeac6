/*  fy_common: errors, fatal-on-OOM allocation, clocks, integer parsing
    and UTF-8 checking shared by every libferry class. */
#include "ferry/fy_common.h"

#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void
fy_error_set (fy_error_t *err, const char *format, ...)
{
    if (!err)
        return;
    int saved = errno;
    va_list args;
    va_start (args, format);
    vsnprintf (err->text, sizeof err->text, format, args);
    va_end (args);
    errno = saved;
}

void
fy_error_prefix (fy_error_t *err, const char *format, ...)
{
    if (!err)
        return;
    int saved = errno;
    char prefix [sizeof err->text];
    va_list args;
    va_start (args, format);
    vsnprintf (prefix, sizeof prefix, format, args);
    va_end (args);
    //  Truncation is intended: the text is for a log line.
    char joined [2 * sizeof err->text + 2];
    snprintf (joined, sizeof joined, "%s: %s", prefix, err->text);
    snprintf (err->text, sizeof err->text, "%.*s", (int) sizeof err->text - 1,
              joined);
    errno = saved;
}

static void
s_oom (size_t size)
{
    fprintf (stderr, "fatal: out of memory allocating %zu bytes\n", size);
    abort ();
}

void *
fy_xmalloc (size_t size)
{
    void *ptr = malloc (size ? size : 1);
    if (!ptr)
        s_oom (size);
    return ptr;
}

void *
fy_xcalloc (size_t count, size_t size)
{
    void *ptr = calloc (count ? count : 1, size ? size : 1);
    if (!ptr)
        s_oom (count * size);
    return ptr;
}

void *
fy_xrealloc (void *ptr, size_t size)
{
    void *grown = realloc (ptr, size ? size : 1);
    if (!grown)
        s_oom (size);
    return grown;
}

char *
fy_xstrdup (const char *str)
{
    return fy_xstrndup (str, strlen (str));
}

char *
fy_xstrndup (const char *str, size_t len)
{
    char *copy = fy_xmalloc (len + 1);
    memcpy (copy, str, len);
    copy [len] = 0;
    return copy;
}

char *
fy_xasprintf (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *text = NULL;
    int rc = vasprintf (&text, format, args);
    va_end (args);
    if (rc < 0)
        s_oom (strlen (format));
    return text;
}

char *
fy_read_file (const char *path, size_t max, size_t *size_p)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t size = 0, room = 4096;
    char *data = fy_xmalloc (room + 1);
    size_t got;
    while ((got = fread (data + size, 1, room - size, file)) > 0) {
        size += got;
        if (size > max)
            break;
        if (size == room) {
            room *= 2;
            data = fy_xrealloc (data, room + 1);
        }
    }
    int failed = ferror (file) ? EIO : size > max ? EFBIG : 0;
    fclose (file);
    if (failed) {
        free (data);
        errno = failed;
        return NULL;
    }
    data [size] = 0;
    if (size_p)
        *size_p = size;
    return data;
}

static int64_t
s_clock_ns (clockid_t id)
{
    struct timespec ts;
    clock_gettime (id, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
fy_clock_mono_ns (void)
{
    return s_clock_ns (CLOCK_MONOTONIC);
}

void
fy_backoff_init (fy_backoff_t *backoff, int64_t base_ms, int64_t cap_ms)
{
    assert (backoff);
    assert (base_ms > 0 && cap_ms > 0);
    backoff->base_ms = base_ms;
    backoff->cap_ms = cap_ms;
    backoff->rng =
        ((uint64_t) fy_clock_mono_ns () ^ ((uint64_t) getpid () << 32)) | 1;
}

static int64_t
s_backoff_ceiling (const fy_backoff_t *backoff, int attempt)
{
    int64_t ceiling = backoff->base_ms;
    for (int i = 1; i < attempt && ceiling < backoff->cap_ms; i++)
        ceiling *= 2;
    return ceiling < backoff->cap_ms ? ceiling : backoff->cap_ms;
}

//  xorshift64: jitter needs no quality, only no shared state.
static uint64_t
s_backoff_random (fy_backoff_t *backoff)
{
    backoff->rng ^= backoff->rng << 13;
    backoff->rng ^= backoff->rng >> 7;
    backoff->rng ^= backoff->rng << 17;
    return backoff->rng;
}

int64_t
fy_backoff_ms (fy_backoff_t *backoff, int attempt)
{
    assert (backoff);
    int64_t ceiling = s_backoff_ceiling (backoff, attempt);
    return (int64_t) (s_backoff_random (backoff) % (uint64_t) (ceiling + 1));
}

int64_t
fy_backoff_equal_ms (fy_backoff_t *backoff, int attempt)
{
    assert (backoff);
    int64_t ceiling = s_backoff_ceiling (backoff, attempt);
    return ceiling
           - (int64_t) (s_backoff_random (backoff)
                        % (uint64_t) (ceiling / 2 + 1));
}

int
fy_wait_fd (int fd, int64_t own_ms, int64_t timeout_ms)
{
    if (own_ms >= 0 && (timeout_ms < 0 || own_ms < timeout_ms))
        timeout_ms = own_ms;
    if (timeout_ms > 60000 || timeout_ms < 0)
        timeout_ms = 60000;
    struct pollfd item = { .fd = fd, .events = POLLIN };
    return poll (&item, 1, (int) timeout_ms) < 0 && errno != EINTR ? -1 : 0;
}

int
fy_wait_until (fy_wait_fn *wait, void *self, fy_done_fn *done, void *arg,
               int64_t timeout_ms)
{
    assert (wait);
    assert (done);
    int64_t until = fy_clock_mono_ms () + timeout_ms;
    while (!done (arg)) {
        int64_t left = until - fy_clock_mono_ms ();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (wait (self, left) && errno != EINTR)
            return -1;
    }
    return 0;
}

int64_t
fy_clock_mono_ms (void)
{
    return s_clock_ns (CLOCK_MONOTONIC) / 1000000;
}

int64_t
fy_clock_wall_ms (void)
{
    return s_clock_ns (CLOCK_REALTIME) / 1000000;
}

size_t
fy_u64_hash (const void *key)
{
    uint64_t id = *(const uint64_t *) key;
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t) id;
}

int
fy_u64_compare (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

int
fy_parse_int64 (const char *text, int64_t min, int64_t max, int64_t *value)
{
    if (!text || !*text) {
        errno = EINVAL;
        return -1;
    }
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll (text, &end, 10);
    if (*end || end == text) {
        errno = EINVAL;
        return -1;
    }
    if (errno == ERANGE || parsed < min || parsed > max) {
        errno = ERANGE;
        return -1;
    }
    *value = parsed;
    return 0;
}

size_t
fy_utf8_length (const char *text, size_t avail)
{
    assert (text);
    const unsigned char *p = (const unsigned char *) text;
    if (avail == 0)
        return 0;
    unsigned char low = 0x80, high = 0xbf;
    size_t length;
    if (p [0] < 0x80)
        return 1;
    if (p [0] >= 0xc2 && p [0] <= 0xdf)
        length = 2;
    else if (p [0] >= 0xe0 && p [0] <= 0xef) {
        length = 3;
        if (p [0] == 0xe0)
            low = 0xa0;
        if (p [0] == 0xed)
            high = 0x9f;
    }
    else if (p [0] >= 0xf0 && p [0] <= 0xf4) {
        length = 4;
        if (p [0] == 0xf0)
            low = 0x90;
        if (p [0] == 0xf4)
            high = 0x8f;
    }
    else
        return 0;
    if (avail < length || p [1] < low || p [1] > high)
        return 0;
    for (size_t i = 2; i < length; i++)
        if ((p [i] & 0xc0) != 0x80)
            return 0;
    return length;
}

void
fy_hex (const unsigned char *bytes, size_t len, char *out)
{
    assert (bytes || len == 0);
    assert (out);
    static const char hex [] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out [2 * i] = hex [bytes [i] >> 4];
        out [2 * i + 1] = hex [bytes [i] & 15];
    }
    out [2 * len] = '\0';
}
