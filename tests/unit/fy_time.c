/*  Tests for fy_time: RFC 3339 parsing edge cases and round trips. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>

static int64_t
s_parse (const char *text, bool millis)
{
    int64_t ms = 0;
    if (fy_time_parse (text, strlen (text), millis, &ms))
        return INT64_MIN;
    return ms;
}

int
main (void)
{
    plan (NO_PLAN);
    is_int (s_parse ("1970-01-01T00:00:00.000Z", true), 0, "epoch");
    is_int (s_parse ("2026-11-26T10:00:00.123Z", true), 1795687200123LL,
            "a day in 2026");
    is_int (s_parse ("2026-11-26T11:00:00.123+01:00", true), 1795687200123LL,
            "offset folds to UTC");
    is_int (s_parse ("2026-11-26T10:00:00Z", false), 1795687200000LL,
            "no fraction when not required");
    is_int (s_parse ("2026-11-26T10:00:00.5Z", false), 1795687200500LL,
            "short fraction scales");
    is_int (s_parse ("2026-11-26T10:00:00.123456789Z", false), 1795687200123LL,
            "long fraction truncates");
    is_int (s_parse ("1998-12-31T23:59:60.000Z", true), 915148800000LL,
            "leap second folds into the next second");
    is_int (s_parse ("1998-12-31T15:59:60.000-08:00", true), 915148800000LL,
            "leap second with an offset");
    is_int (s_parse ("2024-02-29T00:00:00.000Z", true), 1709164800000LL,
            "leap day");
    //  The edges PostgreSQL's timestamptz stores, taken.
    is_int (s_parse ("2030-10-01T00:00:00.000+15:59", true), 1916985660000LL,
            "offset +15:59, the largest PostgreSQL takes");
    is_int (s_parse ("2030-10-01T00:00:00.000-15:59", true), 1917100740000LL,
            "offset -15:59");
    is_int (s_parse ("0001-01-01T00:00:00.000Z", true), -62135596800000LL,
            "year 1, the first");
    is_int (s_parse ("0001-01-01T00:00:00.000-15:59", true), -62135539260000LL,
            "year 1 behind UTC");
    is_int (s_parse ("9999-12-31T23:59:59.999Z", true), 253402300799999LL,
            "the end of 9999, the last");
    is_int (s_parse ("1998-12-31T15:59:60.500-08:00", true), 915148800500LL,
            "a leap second's fraction with an offset");
    is_int (s_parse ("1985-04-12T00:59:59.999999999999999Z", false),
            482115599999LL, "a fraction of any length truncates");

    const char *bad [] = {
        "2026-11-26T10:00:00Z",
        "2026-11-26T10:00:00.12Z",
        "2026-11-26 10:00:00.000Z",
        "2026-13-01T00:00:00.000Z",
        "2023-02-29T00:00:00.000Z",
        "2026-11-26T24:00:00.000Z",
        "2026-11-26T10:60:00.000Z",
        "2026-11-26T10:00:00.000",
        "2026-11-26T10:00:00.000+0100",
        "2026-11-26T10:00:00.000Zjunk",
        "2026-11-26T12:59:60.000Z",
        "",
        "2026-11-26",
        "２026-11-26T10:00:00.000Z",
        "2026-11-26T10:00:00.000+24:00",
        //  What PostgreSQL's timestamptz refuses (doc/schema.md): an
        //  offset beyond 15:59 (22009), year 0 (22008), an instant
        //  outside years 1-9999 in UTC, a UTC leap second with a fraction.
        "2030-10-01T00:00:00.000+23:59",
        "2030-10-01T00:00:00.000+16:00",
        "2030-10-01T00:00:00.000-16:00",
        "2030-10-01T00:00:00.000-15:60",
        "0000-01-01T00:00:00.000Z",
        "0001-01-01T00:00:00.000+00:01",
        "9999-12-31T23:59:59.999-00:01",
        "1998-12-31T23:59:60.001Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        int64_t ms;
        errno = 0;
        ok (fy_time_parse (bad [i], strlen (bad [i]), true, &ms) == -1
                && errno == EINVAL,
            "rejects '%s'", bad [i]);
    }
    //  Parsing must not read past len: give a buffer without terminator.
    char exact [24];
    memcpy (exact, "2026-11-26T10:00:00.123Z", 24);
    int64_t ms = 0;
    ok (fy_time_parse (exact, 24, true, &ms) == 0 && ms == 1795687200123LL,
        "parses an unterminated buffer of exact length");
    ok (fy_time_parse (exact, 23, true, &ms) == -1, "truncated is invalid");

    char buffer [FY_TIME_RFC3339_SIZE];
    fy_time_format (1795687200123LL, buffer);
    is_str (buffer, "2026-11-26T10:00:00.123Z", "format");
    fy_time_format (-1, buffer);
    is_str (buffer, "1969-12-31T23:59:59.999Z", "format before the epoch");
    int64_t samples [] = { 0, 951782400000LL, 4102444799999LL,
                           253402300799999LL };
    for (size_t i = 0; i < sizeof samples / sizeof samples [0]; i++) {
        fy_time_format (samples [i], buffer);
        is_int (s_parse (buffer, true), samples [i], "round trip %s", buffer);
    }
    return done_testing ();
}
