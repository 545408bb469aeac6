/*  fy_log: the process-wide logger. Every ferry program writes its log to
    stderr (supervisord or journald collects it) as one line per event, in
    TEXT ("<ts> <level> <component> key=value ...") or JSON lines. Each line
    is one write(2) of at most FY_LOG_LINE_MAX bytes so that lines from the
    many processes sharing one pipe never interleave, and every line passes
    through fy_log_redact first so that secrets never reach the log.

    There is one logger per process. Configure it (fy_log_init, fy_log_set_fd)
    at start, before any thread exists; fy_log_write and fy_log_secret_add
    may then be called from any thread. */
#ifndef FY_LOG_H_INCLUDED
#define FY_LOG_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FY_LOG_ERROR,
    FY_LOG_WARN,
    FY_LOG_NOTICE,
    FY_LOG_INFO,
    FY_LOG_DEBUG
} fy_log_level_t;

typedef enum {
    FY_LOG_TEXT,
    FY_LOG_JSON
} fy_log_format_t;

//  The longest line written, newline included. PIPE_BUF on Linux: the
//  largest write(2) that POSIX keeps atomic on a pipe. Longer messages are
//  cut and end with "…".
#define FY_LOG_LINE_MAX 4096

//  Set the component name (e.g. "ferry-broker"; NULL keeps the current
//  one, at most 63 bytes are kept), the most verbose level written and the
//  line format. Defaults: component "ferry", level INFO, TEXT, fd 2.
FY_EXPORT void
fy_log_init (const char *component, fy_log_level_t level,
             fy_log_format_t format);

//  Write lines to fd instead of stderr (tests use a pipe). The logger does
//  not own fd and never closes it.
FY_EXPORT void
fy_log_set_fd (int fd);

//  True when a message at level would be written.
FY_EXPORT bool
fy_log_enabled (fy_log_level_t level);

//  The name of a level: "error", "warn", "notice", "info" or "debug".
FY_EXPORT const char *
fy_log_level_name (fy_log_level_t level);

//  Parse a level name ("error" .. "debug", any case; "warning" is taken
//  for "warn"). Returns 0, or -1 with errno EINVAL.
FY_EXPORT int
fy_log_level_parse (const char *name, fy_log_level_t *level) FY_MUSTCHECK;

//  Parse a format name, "text" or "json" (any case). Returns 0, or -1 with
//  errno EINVAL.
FY_EXPORT int
fy_log_format_parse (const char *name, fy_log_format_t *format) FY_MUSTCHECK;

//  Register a secret value (a password, a token, an AWS secret key): from
//  now on it is replaced by "***" wherever it would appear in a log line.
//  The value is copied. NULL, empty and very short (< 4 bytes) values are
//  ignored: masking "ab" everywhere would mangle the log and hide nothing.
FY_EXPORT void
fy_log_secret_add (const char *value);

//  Return a copy of text with every secret replaced by "***": registered
//  secrets, the password in URL userinfo (scheme://user:***@host), the
//  token after "Bearer ", and the value of key=value pairs whose key ends
//  in password, passwd, secret or token (libpq keyword DSNs, query
//  strings; quoted values included). Caller owns result.
FY_EXPORT char *
fy_log_redact (const char *text);

//  Format, redact and write one line at level, whatever the current level
//  (the macros below check it first). Preserves errno.
FY_EXPORT void
fy_log_write (fy_log_level_t level, const char *format, ...) FY_PRINTF (2, 3);

//  Log through these: they skip formatting when the level is filtered out.
#define fy_log_error(...)                             \
    do {                                              \
        if (fy_log_enabled (FY_LOG_ERROR))            \
            fy_log_write (FY_LOG_ERROR, __VA_ARGS__); \
    } while (0)
#define fy_log_warn(...)                             \
    do {                                             \
        if (fy_log_enabled (FY_LOG_WARN))            \
            fy_log_write (FY_LOG_WARN, __VA_ARGS__); \
    } while (0)
#define fy_log_notice(...)                             \
    do {                                               \
        if (fy_log_enabled (FY_LOG_NOTICE))            \
            fy_log_write (FY_LOG_NOTICE, __VA_ARGS__); \
    } while (0)
#define fy_log_info(...)                             \
    do {                                             \
        if (fy_log_enabled (FY_LOG_INFO))            \
            fy_log_write (FY_LOG_INFO, __VA_ARGS__); \
    } while (0)
#define fy_log_debug(...)                             \
    do {                                              \
        if (fy_log_enabled (FY_LOG_DEBUG))            \
            fy_log_write (FY_LOG_DEBUG, __VA_ARGS__); \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
