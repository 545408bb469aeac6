/*  Fuzz target for fy_redis_url_parse: any bytes up to the first NUL as a
    REDIS_URL. A refusal must say why (EINVAL, a message) and leave the
    struct empty; an acceptance must give either a host and port or a
    socket path, a db in range, and survive a round trip: the URL built
    again from the fields (user and password percent-encoded) must parse
    to the same fields. */
#include "ferry/ferry.h"
#include "store/fy_redis.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_encode (char *out, size_t size, const char *text)
{
    static const char hex [] = "0123456789ABCDEF";
    size_t at = strlen (out);
    for (const unsigned char *p = (const unsigned char *) text;
         *p && at + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || strchr ("-._~", *p))
            out [at++] = (char) *p;
        else {
            out [at++] = '%';
            out [at++] = hex [*p >> 4];
            out [at++] = hex [*p & 15];
        }
    }
    out [at] = 0;
}

static bool
s_same (const char *a, const char *b)
{
    return a ? b && strcmp (a, b) == 0 : !b;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = fy_xstrndup ((const char *) data, size);
    fy_redis_url_t url;
    fy_error_t err = { "" };
    errno = 0;
    if (fy_redis_url_parse (text, &url, &err)) {
        if (errno != EINVAL || !*err.text || url.host || url.path || url.user
            || url.password)
            abort ();
        free (text);
        return 0;
    }
    if (!url.host == !url.path || url.db < 0)
        abort ();
    if (url.host && (url.port < 1 || url.port > 65535 || !*url.host))
        abort ();
    if (url.user && !url.password)
        abort ();

    //  Build it again and parse that.
    size_t cap = 3 * size + 64;
    char *again = fy_xmalloc (cap);
    snprintf (again, cap, "%s", url.path ? "unix://" : "redis://");
    if (url.password) {
        if (url.user)
            s_encode (again, cap, url.user);
        strcat (again, ":");
        s_encode (again, cap, url.password);
        strcat (again, "@");
    }
    size_t at = strlen (again);
    if (url.path)
        snprintf (again + at, cap - at, "%s?db=%d", url.path, url.db);
    else
        snprintf (again + at, cap - at,
                  strchr (url.host, ':') ? "[%s]:%d/%d" : "%s:%d/%d", url.host,
                  url.port, url.db);
    fy_redis_url_t second;
    if (fy_redis_url_parse (again, &second, &err))
        abort ();
    if (!s_same (url.host, second.host) || !s_same (url.path, second.path)
        || !s_same (url.user, second.user)
        || !s_same (url.password, second.password) || url.port != second.port
        || url.db != second.db)
        abort ();
    fy_redis_url_clear (&second);
    fy_redis_url_clear (&url);
    free (again);
    free (text);
    return 0;
}
