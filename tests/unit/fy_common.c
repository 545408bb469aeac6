/*  Tests for fy_common: error text, integer parsing, allocation, clocks. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>

int
main (void)
{
    plan (NO_PLAN);
    fy_error_t err = { "" };
    errno = EPROTO;
    fy_error_set (&err, "bad %s", "thing");
    is_str (err.text, "bad thing", "error_set formats");
    is_int (errno, EPROTO, "error_set preserves errno");
    fy_error_prefix (&err, "ctx %d", 7);
    is_str (err.text, "ctx 7: bad thing", "error_prefix joins");
    fy_error_set (NULL, "ignored");
    ok (1, "error_set accepts NULL");

    int64_t value = 0;
    ok (fy_parse_int64 ("42", 0, 100, &value) == 0 && value == 42, "parse 42");
    ok (fy_parse_int64 ("-5", -10, 10, &value) == 0 && value == -5, "parse -5");
    ok (fy_parse_int64 ("101", 0, 100, &value) == -1 && errno == ERANGE,
        "above max is ERANGE");
    ok (fy_parse_int64 ("12x", 0, 100, &value) == -1 && errno == EINVAL,
        "trailing junk is EINVAL");
    ok (fy_parse_int64 ("", 0, 100, &value) == -1 && errno == EINVAL,
        "empty is EINVAL");
    ok (fy_parse_int64 ("99999999999999999999", 0, INT64_MAX, &value) == -1
            && errno == ERANGE,
        "overflow is ERANGE");

    char *text = fy_xasprintf ("%s-%d", "a", 1);
    is_str (text, "a-1", "xasprintf");
    free (text);
    text = fy_xstrndup ("abcdef", 3);
    is_str (text, "abc", "xstrndup");
    free (text);

    //  UTF-8: every boundary RFC 3629 draws.
    static const struct {
        const char *text;
        size_t avail, want;
    } utf8 [] = { { "a", 1, 1 },
                  { "\xc3\xa9", 2, 2 },
                  { "\xc3\xa9", 1, 0 },
                  { "\xc1\xbf", 2, 0 },
                  { "\xe0\x9f\xbf", 3, 0 },
                  { "\xe0\xa0\x80", 3, 3 },
                  { "\xed\x9f\xbf", 3, 3 },
                  { "\xed\xa0\x80", 3, 0 },
                  { "\xf0\x8f\xbf\xbf", 4, 0 },
                  { "\xf0\x90\x80\x80", 4, 4 },
                  { "\xf4\x8f\xbf\xbf", 4, 4 },
                  { "\xf4\x90\x80\x80", 4, 0 },
                  { "\xf5\x80\x80\x80", 4, 0 },
                  { "\xe2\x82", 2, 0 },
                  { "\xe2\x82"
                    "a",
                    3, 0 },
                  { "\x80", 1, 0 },
                  { "", 0, 0 } };
    for (size_t i = 0; i < sizeof utf8 / sizeof utf8 [0]; i++)
        is_int ((int) fy_utf8_length (utf8 [i].text, utf8 [i].avail),
                (int) utf8 [i].want, "fy_utf8_length case %zu", i);

    const unsigned char bytes [] = { 0x00, 0x09, 0x0a, 0x7f, 0xa5, 0xff };
    char hex [2 * sizeof bytes + 1];
    memset (hex, 'x', sizeof hex);
    fy_hex (bytes, sizeof bytes, hex);
    is_str (hex, "00090a7fa5ff", "fy_hex: two lowercase digits a byte");
    fy_hex (bytes, 0, hex);
    is_str (hex, "", "fy_hex of nothing is empty");

    int64_t before = fy_clock_mono_ms ();
    ok (fy_clock_mono_ms () >= before, "monotonic clock does not go back");
    ok (fy_clock_wall_ms () > 1700000000000LL, "wall clock is in ms");
    return done_testing ();
}
