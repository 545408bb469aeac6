/*  tap.h: a header-only TAP producer for the unit and integration tests,
    read by automake's tap-driver.sh. Each check prints one "ok N" line, so
    a failing test names itself and the run goes on. */
#ifndef FY_TAP_H_INCLUDED
#define FY_TAP_H_INCLUDED

#include "ferry/fy_common.h"
#include "ferry/fy_schema.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_PLAN -1

static int tap_count_;
static int tap_failed_;
static int tap_planned_ = NO_PLAN;

static inline void
plan (int count)
{
    tap_planned_ = count;
    if (count != NO_PLAN)
        printf ("1..%d\n", count);
    fflush (stdout);
}

static inline void
diag (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
static inline void
diag (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fputs ("# ", stdout);
    vprintf (format, args);
    fputs ("\n", stdout);
    va_end (args);
    fflush (stdout);
}

static inline int
tap_ok_ (int pass, const char *file, int line, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));
static inline int
tap_ok_ (int pass, const char *file, int line, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    printf ("%sok %d - ", pass ? "" : "not ", ++tap_count_);
    vprintf (format, args);
    printf ("\n");
    va_end (args);
    if (!pass) {
        tap_failed_++;
        printf ("#   Failed at %s line %d\n", file, line);
    }
    fflush (stdout);
    return pass;
}

#define ok(test, ...) tap_ok_ (!!(test), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                     \
    do {                                                           \
        long long g_ = (long long) (got), w_ = (long long) (want); \
        if (!ok (g_ == w_, __VA_ARGS__))                           \
            diag ("  got %lld, want %lld", g_, w_);                \
    } while (0)

#define is_str(got, want, ...)                                    \
    do {                                                          \
        const char *g_ = (got), *w_ = (want);                     \
        int same_ = (g_ && w_) ? strcmp (g_, w_) == 0 : g_ == w_; \
        if (!ok (same_, __VA_ARGS__))                             \
            diag ("  got '%s', want '%s'", g_ ? g_ : "(null)",    \
                  w_ ? w_ : "(null)");                            \
    } while (0)

//  Skip count checks that cannot run here, with the reason on the line.
static inline void
skip (int count, const char *reason)
{
    for (int i = 0; i < count; i++)
        printf ("ok %d # SKIP %s\n", ++tap_count_, reason);
    fflush (stdout);
}

static inline void
BAIL_OUT (const char *format, ...)
    __attribute__ ((format (printf, 1, 2), noreturn));
static inline void
BAIL_OUT (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    printf ("Bail out! ");
    vprintf (format, args);
    printf ("\n");
    va_end (args);
    fflush (stdout);
    exit (255);
}

static inline int
done_testing (void)
{
    if (tap_planned_ == NO_PLAN)
        printf ("1..%d\n", tap_count_);
    fflush (stdout);
    return tap_failed_ ? 1 : 0;
}

//  How to get the conformance data, for the line that says it is missing.
#define TAP_TESTDATA_HOW \
    "contrib/testdata.sh fetches it, see README.md, Testing"

//  The conformance data is missing: under CI=true that is a failure
//  (BAIL_OUT); anywhere else the rest of this test is skipped with one
//  line, the whole test when it has not reported anything yet.
static inline void
tap_testdata_missing_ (const char *root) __attribute__ ((noreturn));
static inline void
tap_testdata_missing_ (const char *root)
{
    const char *ci = getenv ("CI");
    if (!root || !*root)
        root = "(FERRY_TESTDATA unset: run through make check)";
    if (ci && strcmp (ci, "true") == 0)
        BAIL_OUT ("no conformance data at %s (a failure under CI=true); %s",
                  root, TAP_TESTDATA_HOW);
    if (tap_count_ == 0 && tap_planned_ == NO_PLAN) {
        printf ("1..0 # SKIP no conformance data at %s; %s\n", root,
                TAP_TESTDATA_HOW);
        fflush (stdout);
        exit (0);
    }
    printf ("ok %d # SKIP the rest: no conformance data at %s; %s\n",
            ++tap_count_, root, TAP_TESTDATA_HOW);
    exit (done_testing ());
}

//  A path under the conformance data, $FERRY_TESTDATA (configure's
//  --with-testdata). The data is not in the repository: when its folder
//  is absent, tap_testdata_missing_ decides, the one place that does.
static inline const char *
tap_testdata (const char *relative)
{
    static char path [4096];
    const char *root = getenv ("FERRY_TESTDATA");
    struct stat st;
    if (!root || !*root || stat (root, &st) != 0 || !S_ISDIR (st.st_mode))
        tap_testdata_missing_ (root);
    snprintf (path, sizeof path, "%s/%s", root, relative);
    return path;
}

//  The whole file at path, NUL-terminated; *size_p (if non-NULL) gets its
//  length. BAIL_OUT when it cannot be read. Caller owns result.
static inline char *
tap_slurp (const char *path, size_t *size_p)
{
    char *data = fy_read_file (path, (size_t) 1 << 30, size_p);
    if (!data)
        BAIL_OUT ("cannot read %s", path);
    return data;
}

//  A path under the source tree (schemas, tests/data).
static inline const char *
tap_srcpath (const char *relative)
{
    static char path [4096];
    const char *root = getenv ("FERRY_SRCDIR");
    snprintf (path, sizeof path, "%s/%s", root && *root ? root : ".", relative);
    return path;
}

//  The event schema of the source tree, compiled. BAIL_OUT when it does
//  not compile. Caller owns result.
static inline fy_schema_t *
tap_events_schema (void)
{
    fy_error_t err = { "" };
    fy_schema_t *schema =
        fy_schema_load (tap_srcpath ("schemas/events.schema.json"), &err);
    if (!schema)
        BAIL_OUT ("schema: %s", err.text);
    return schema;
}

//  Calls fn for each file in dir_path whose name ends in suffix; returns
//  how many. BAIL_OUT when the directory cannot be read.
static inline size_t
tap_each_file (const char *dir_path, const char *suffix,
               void (*fn) (const char *path, const char *name))
{
    DIR *dir = opendir (dir_path);
    if (!dir)
        BAIL_OUT ("cannot open %s", dir_path);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        size_t len = strlen (entry->d_name), want = strlen (suffix);
        if (len <= want || strcmp (entry->d_name + len - want, suffix))
            continue;
        char path [4096];
        snprintf (path, sizeof path, "%s/%s", dir_path, entry->d_name);
        fn (path, entry->d_name);
        count++;
    }
    closedir (dir);
    return count;
}

//  A TCP port on 127.0.0.1 that was free a moment ago, for a server the
//  test starts.
static inline int
tap_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET };
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof address;
    if (fd < 0 || bind (fd, (struct sockaddr *) &address, sizeof address)
        || getsockname (fd, (struct sockaddr *) &address, &len))
        BAIL_OUT ("no free port");
    close (fd);
    return ntohs (address.sin_port);
}

#endif
