/*  fy_log: the process-wide logger. A message is formatted in full, then
    redacted (secrets are masked before anything is cut, so a cut can never
    leave half a secret behind), then escaped one character at a time into a
    line buffer of FY_LOG_LINE_MAX bytes, so that a cut lands between
    characters and never inside a UTF-8 sequence or an escape. The line goes
    out in one write(2). */
#include "ferry/fy_log.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

//  What the logger is; set at start, read by every line.
static char s_component [64] = "ferry";
static fy_log_level_t s_level = FY_LOG_INFO;
static fy_log_format_t s_format = FY_LOG_TEXT;
static int s_fd = 2;

//  Registered secrets, longest first so that a secret that contains
//  another one is masked whole. The lock lets a thread register a rotated
//  credential while another logs.
static pthread_mutex_t s_secret_lock = PTHREAD_MUTEX_INITIALIZER;
static char **s_secrets;
static size_t s_secret_count;

#define S_SECRET_MIN 4
#define S_MASK "***"
#define S_ELLIPSIS "\xe2\x80\xa6"

static const char *s_level_names [] = { "error", "warn", "notice", "info",
                                        "debug" };

void
fy_log_init (const char *component, fy_log_level_t level,
             fy_log_format_t format)
{
    assert (level >= FY_LOG_ERROR && level <= FY_LOG_DEBUG);
    assert (format == FY_LOG_TEXT || format == FY_LOG_JSON);
    if (component)
        snprintf (s_component, sizeof s_component, "%s", component);
    s_level = level;
    s_format = format;
}

void
fy_log_set_fd (int fd)
{
    assert (fd >= 0);
    s_fd = fd;
}

bool
fy_log_enabled (fy_log_level_t level)
{
    return level <= s_level;
}

const char *
fy_log_level_name (fy_log_level_t level)
{
    assert (level >= FY_LOG_ERROR && level <= FY_LOG_DEBUG);
    return s_level_names [level];
}

int
fy_log_level_parse (const char *name, fy_log_level_t *level)
{
    assert (level);
    if (name) {
        for (int index = FY_LOG_ERROR; index <= FY_LOG_DEBUG; index++)
            if (strcasecmp (name, s_level_names [index]) == 0) {
                *level = (fy_log_level_t) index;
                return 0;
            }
        //  syslog and most loggers spell it out.
        if (strcasecmp (name, "warning") == 0) {
            *level = FY_LOG_WARN;
            return 0;
        }
    }
    errno = EINVAL;
    return -1;
}

int
fy_log_format_parse (const char *name, fy_log_format_t *format)
{
    assert (format);
    if (name && strcasecmp (name, "text") == 0)
        *format = FY_LOG_TEXT;
    else if (name && strcasecmp (name, "json") == 0)
        *format = FY_LOG_JSON;
    else {
        errno = EINVAL;
        return -1;
    }
    return 0;
}

void
fy_log_secret_add (const char *value)
{
    if (!value || strlen (value) < S_SECRET_MIN)
        return;
    pthread_mutex_lock (&s_secret_lock);
    size_t index;
    for (index = 0; index < s_secret_count; index++)
        if (strcmp (s_secrets [index], value) == 0)
            break;
    if (index == s_secret_count) {
        s_secrets =
            fy_xrealloc (s_secrets, (s_secret_count + 1) * sizeof *s_secrets);
        //  Insert before the first shorter secret.
        size_t length = strlen (value);
        for (index = 0; index < s_secret_count; index++)
            if (strlen (s_secrets [index]) < length)
                break;
        memmove (s_secrets + index + 1, s_secrets + index,
                 (s_secret_count - index) * sizeof *s_secrets);
        s_secrets [index] = fy_xstrdup (value);
        s_secret_count++;
    }
    pthread_mutex_unlock (&s_secret_lock);
}

//  A growing string on open_memstream: each redaction pass copies its
//  input with spans replaced.
typedef struct {
    FILE *file;
    char *data;
    size_t size;
} s_out_t;

static void
s_out_open (s_out_t *out)
{
    out->data = NULL;
    out->size = 0;
    out->file = open_memstream (&out->data, &out->size);
    if (!out->file)
        abort ();               //  Only fails for want of memory.
}

static char *
s_out_close (s_out_t *out)
{
    if (fclose (out->file) != 0)
        abort ();
    return out->data;
}

static char *
s_mask_registered (const char *text)
{
    s_out_t out;
    char *result = fy_xstrdup (text);
    pthread_mutex_lock (&s_secret_lock);
    for (size_t index = 0; index < s_secret_count; index++) {
        const char *secret = s_secrets [index];
        if (!strstr (result, secret))
            continue;
        s_out_open (&out);
        const char *scan = result;
        const char *found;
        while ((found = strstr (scan, secret))) {
            fwrite (scan, 1, (size_t) (found - scan), out.file);
            fputs (S_MASK, out.file);
            scan = found + strlen (secret);
        }
        fputs (scan, out.file);
        free (result);
        result = s_out_close (&out);
    }
    pthread_mutex_unlock (&s_secret_lock);
    return result;
}

//  scheme://user:password@host: the authority ends at the path, query,
//  fragment or whitespace; the last '@' in it ends the userinfo, since an
//  unencoded '@' in a password is common enough.
static char *
s_mask_userinfo (const char *text)
{
    s_out_t out;
    s_out_open (&out);
    const char *scan = text;
    const char *sep;
    while ((sep = strstr (scan, "://"))) {
        const char *authority = sep + 3;
        size_t span = strcspn (authority, "/?# \t\r\n");
        const char *at = memrchr (authority, '@', span);
        const char *colon =
            at ? memchr (authority, ':', (size_t) (at - authority)) : NULL;
        if (colon) {
            fwrite (scan, 1, (size_t) (colon + 1 - scan), out.file);
            fputs (S_MASK, out.file);
            scan = at;
        }
        else {
            fwrite (scan, 1, (size_t) (authority - scan), out.file);
            scan = authority;
        }
    }
    fputs (scan, out.file);
    return s_out_close (&out);
}

//  RFC 6750 b64token characters.
static bool
s_is_token_char (char c)
{
    return c && (isalnum ((unsigned char) c) || strchr ("-._~+/=", c));
}

static char *
s_mask_bearer (const char *text)
{
    s_out_t out;
    s_out_open (&out);
    const char *scan = text;
    const char *found = scan;
    while ((found = strcasestr (found, "bearer"))) {
        const char *token = found + 6;
        bool word = found == text || !isalnum ((unsigned char) found [-1]);
        size_t gap = strspn (token, " \t");
        found = token;
        if (!word || gap == 0 || !s_is_token_char (token [gap]))
            continue;
        token += gap;
        fwrite (scan, 1, (size_t) (token - scan), out.file);
        fputs (S_MASK, out.file);
        while (s_is_token_char (*token))
            token++;
        scan = found = token;
    }
    fputs (scan, out.file);
    return s_out_close (&out);
}

static bool
s_is_key_char (char c)
{
    return isalnum ((unsigned char) c) || c == '_' || c == '-' || c == '.';
}

//  Keys whose value is a credential, matched as a suffix of the key in any
//  case, so that client_secret, JWT_SERVICE_SECRET and refresh_token are
//  caught as well as libpq's password.
static bool
s_is_secret_key (const char *key, size_t length)
{
    static const char *suffixes [] = { "password",
                                       "passwd",
                                       "pwd",
                                       "secret",
                                       "token",
                                       "secret_key",
                                       "secret_access_key",
                                       "api_key",
                                       "private_key",
                                       NULL };
    for (int index = 0; suffixes [index]; index++) {
        size_t suffix = strlen (suffixes [index]);
        if (length >= suffix
            && strncasecmp (key + length - suffix, suffixes [index], suffix)
                   == 0)
            return true;
    }
    return false;
}

//  The end of a key=value value as libpq reads it: a quoted value runs to
//  its closing quote (backslash escapes), a bare one to whitespace.
static const char *
s_value_end (const char *value)
{
    if (*value == '\'' || *value == '"') {
        char quote = *value++;
        while (*value && *value != quote) {
            if (*value == '\\' && value [1])
                value++;
            value++;
        }
        return *value ? value + 1 : value;
    }
    return value + strcspn (value, " \t\r\n");
}

static char *
s_mask_pairs (const char *text)
{
    s_out_t out;
    s_out_open (&out);
    const char *scan = text;
    const char *equal = scan;
    while ((equal = strchr (equal, '='))) {
        const char *key_end = equal;
        while (key_end > scan && (key_end [-1] == ' ' || key_end [-1] == '\t'))
            key_end--;
        const char *key = key_end;
        while (key > scan && s_is_key_char (key [-1]))
            key--;
        const char *value = equal + 1;
        value += strspn (value, " \t");
        equal++;
        if (key == key_end || !s_is_secret_key (key, (size_t) (key_end - key))
            || *value == '\0')
            continue;
        const char *end = s_value_end (value);
        fwrite (scan, 1, (size_t) (value - scan), out.file);
        bool quoted = *value == '\'' || *value == '"';
        if (quoted)
            fputc (*value, out.file);
        fputs (S_MASK, out.file);
        if (quoted && end > value + 1 && end [-1] == *value)
            fputc (*value, out.file);
        scan = equal = end;
    }
    fputs (scan, out.file);
    return s_out_close (&out);
}

char *
fy_log_redact (const char *text)
{
    assert (text);
    char *(*passes []) (const char *) = { s_mask_registered, s_mask_userinfo,
                                          s_mask_bearer, s_mask_pairs };
    char *result = fy_xstrdup (text);
    for (size_t index = 0; index < sizeof passes / sizeof *passes; index++) {
        char *next = passes [index](result);
        free (result);
        result = next;
    }
    return result;
}

//  Escape the character at text into unit (at least 8 bytes); returns the
//  unit's length and sets *consumed to the input bytes it stands for.
//  TEXT keeps the line one line and valid UTF-8: control characters and
//  stray bytes become \n, \r or \xHH. JSON escapes as RFC 8259 requires and
//  turns a stray byte into U+FFFD, so the line always parses.
static size_t
s_escape_unit (const char *text, char *unit, size_t *consumed)
{
    const unsigned char c = (unsigned char) *text;
    const bool json = s_format == FY_LOG_JSON;
    //  text is NUL-terminated: a cut sequence stops at the NUL.
    size_t length = fy_utf8_length (text, strnlen (text, 4));
    *consumed = length ? length : 1;
    if (length > 1) {
        memcpy (unit, text, length);
        return length;
    }
    if (length == 0)
        return (size_t) (json ? snprintf (unit, 8, "\\ufffd")
                              : snprintf (unit, 8, "\\x%02X", c));
    if (c == '\n' || c == '\r' || (json && c == '\t')) {
        unit [0] = '\\';
        unit [1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        return 2;
    }
    if (json && (c == '"' || c == '\\')) {
        unit [0] = '\\';
        unit [1] = (char) c;
        return 2;
    }
    if (json && c < 0x20)
        return (size_t) snprintf (unit, 8, "\\u%04x", c);
    if (!json && ((c < 0x20 && c != '\t') || c == 0x7F))
        return (size_t) snprintf (unit, 8, "\\x%02X", c);
    unit [0] = (char) c;
    return 1;
}

//  Append text escaped to line at *used, within capacity; when it does not
//  all fit, cut it between characters and end with the ellipsis.
static void
s_append_escaped (char *line, size_t *used, size_t capacity, const char *text)
{
    const size_t ellipsis = sizeof S_ELLIPSIS - 1;
    assert (capacity >= *used + ellipsis);
    char unit [8];
    size_t consumed;
    //  Room for the ellipsis is kept only when the whole text will not fit.
    size_t whole = 0;
    for (const char *scan = text; *scan && *used + whole <= capacity;
         scan += consumed)
        whole += s_escape_unit (scan, unit, &consumed);
    bool cut = *used + whole > capacity;
    size_t limit = cut ? capacity - ellipsis : capacity;
    while (*text) {
        size_t length = s_escape_unit (text, unit, &consumed);
        if (*used + length > limit)
            break;
        memcpy (line + *used, unit, length);
        *used += length;
        text += consumed;
    }
    if (cut) {
        memcpy (line + *used, S_ELLIPSIS, ellipsis);
        *used += ellipsis;
    }
}

static void
s_timestamp (char *buffer, size_t size)
{
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r (&now.tv_sec, &tm);
    size_t length = strftime (buffer, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (buffer + length, size - length, ".%03ldZ", now.tv_nsec / 1000000);
}

//  One write(2) for the line; loop only if the kernel took part of it (a
//  file on a full disk, a tty), since a retry beats a lost tail.
static void
s_write_all (const char *data, size_t size)
{
    while (size > 0) {
        ssize_t rc = write (s_fd, data, size);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return;  //  Nowhere left to report it.
        data += rc;
        size -= (size_t) rc;
    }
}

void
fy_log_write (fy_log_level_t level, const char *format, ...)
{
    assert (level >= FY_LOG_ERROR && level <= FY_LOG_DEBUG);
    assert (format);
    int saved = errno;
    char *message = NULL;
    va_list args;
    va_start (args, format);
    int rc = vasprintf (&message, format, args);
    va_end (args);
    if (rc < 0)
        abort ();  //  vasprintf fails only for want of memory.
    char *redacted = fy_log_redact (message);
    free (message);

    char line [FY_LOG_LINE_MAX];
    char stamp [40];
    s_timestamp (stamp, sizeof stamp);
    size_t used;
    //  Room kept after the message: newline, and for JSON the "} closing.
    size_t tail;
    if (s_format == FY_LOG_JSON) {
        used = (size_t) snprintf (line, sizeof line,
                                  "{\"ts\":\"%s\",\"level\":\"%s\","
                                  "\"component\":\"",
                                  stamp, s_level_names [level]);
        s_append_escaped (line, &used, 512, s_component);
        memcpy (line + used, "\",\"msg\":\"", 9);
        used += 9;
        tail = 3;
    }
    else {
        used = (size_t) snprintf (line, sizeof line, "%s %s ", stamp,
                                  s_level_names [level]);
        s_append_escaped (line, &used, 512, s_component);
        line [used++] = ' ';
        tail = 1;
    }
    s_append_escaped (line, &used, sizeof line - tail, redacted);
    free (redacted);
    if (s_format == FY_LOG_JSON) {
        memcpy (line + used, "\"}", 2);
        used += 2;
    }
    line [used++] = '\n';
    assert (used <= sizeof line);
    s_write_all (line, used);
    errno = saved;
}
