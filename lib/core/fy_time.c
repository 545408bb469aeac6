/*  fy_time: a strict RFC 3339 parser and formatter. Hand-written because
    strptime neither checks field ranges nor handles fractions and offsets,
    and this sits on the hot path of every event decode. It takes exactly
    the RFC 3339 times PostgreSQL's timestamptz stores (doc/schema.md), so
    an event it passes can never be refused by the database for its time. */
#include "ferry/fy_time.h"

#include <errno.h>
#include <stdio.h>

static int
s_digits (const char *text, int count)
{
    int value = 0;
    for (int i = 0; i < count; i++) {
        if (text [i] < '0' || text [i] > '9')
            return -1;
        value = value * 10 + (text [i] - '0');
    }
    return value;
}

static bool
s_is_leap (int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
s_days_in_month (int year, int month)
{
    static const int days [] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };
    return month == 2 && s_is_leap (year) ? 29 : days [month - 1];
}

//  Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm),
//  valid for the whole proleptic Gregorian calendar.
static int64_t
s_days_from_civil (int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
s_civil_from_days (int64_t days, int64_t *year, int *month, int *day)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    int64_t doe = days - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *day = (int) (doy - (153 * mp + 2) / 5 + 1);
    *month = (int) (mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

//  The instants PostgreSQL's timestamptz takes that RFC 3339 can write:
//  from 0001-01-01 (it has no year 0) to the end of 9999, in UTC too.
#define S_MIN_MS (s_days_from_civil (1, 1, 1) * 86400000)
#define S_MAX_MS (s_days_from_civil (10000, 1, 1) * 86400000 - 1)
//  PostgreSQL refuses a UTC offset beyond 15:59 (22009).
#define S_OFFSET_MAX_MIN (15 * 60 + 59)

int
fy_time_parse (const char *text, size_t len, bool require_millis,
               int64_t *epoch_ms)
{
    //  "YYYY-MM-DDTHH:MM:SS" is 19 bytes, then fraction, then zone.
    if (len < 20 || text [4] != '-' || text [7] != '-'
        || (text [10] != 'T' && text [10] != 't') || text [13] != ':'
        || text [16] != ':')
        goto invalid;
    int year = s_digits (text, 4), month = s_digits (text + 5, 2),
        day = s_digits (text + 8, 2), hour = s_digits (text + 11, 2),
        minute = s_digits (text + 14, 2), second = s_digits (text + 17, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1
        || day > s_days_in_month (year, month) || hour < 0 || hour > 23
        || minute < 0 || minute > 59 || second < 0 || second > 60)
        goto invalid;
    size_t at = 19;
    int millis = 0;
    bool fraction = false;      //  a digit other than 0 after the point
    if (text [at] == '.') {
        size_t digits = 0;
        at++;
        while (at < len && text [at] >= '0' && text [at] <= '9') {
            if (digits < 3)
                millis = millis * 10 + (text [at] - '0');
            fraction |= text [at] != '0';
            digits++;
            at++;
        }
        if (digits == 0 || (require_millis && digits != 3))
            goto invalid;
        for (size_t pad = digits; pad < 3; pad++)
            millis *= 10;
    }
    else if (require_millis)
        goto invalid;
    if (at >= len)
        goto invalid;
    int offset_min = 0;
    if ((text [at] == 'Z' || text [at] == 'z') && at + 1 == len)
        offset_min = 0;
    else if ((text [at] == '+' || text [at] == '-') && at + 6 == len
             && text [at + 3] == ':') {
        int off_hour = s_digits (text + at + 1, 2),
            off_min = s_digits (text + at + 4, 2);
        if (off_hour < 0 || off_min < 0 || off_min > 59
            || off_hour * 60 + off_min > S_OFFSET_MAX_MIN)
            goto invalid;
        offset_min = (off_hour * 60 + off_min) * (text [at] == '-' ? -1 : 1);
    }
    else
        goto invalid;
    //  A leap second is only real at 23:59:60 UTC. PostgreSQL folds it
    //  into the next second, as here, but refuses a local 23:59:60 with
    //  a fraction (past 24:00:00).
    if (second == 60) {
        int utc_min = hour * 60 + minute - offset_min;
        utc_min = ((utc_min % 1440) + 1440) % 1440;
        if (utc_min != 23 * 60 + 59 || (hour == 23 && minute == 59 && fraction))
            goto invalid;
    }
    int64_t days = s_days_from_civil (year, month, day);
    int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second
                      - (int64_t) offset_min * 60;
    int64_t ms = seconds * 1000 + millis;
    if (ms < S_MIN_MS || ms > S_MAX_MS)
        goto invalid;
    *epoch_ms = ms;
    return 0;
invalid:
    errno = EINVAL;
    return -1;
}

void
fy_time_format (int64_t epoch_ms, char buffer [FY_TIME_RFC3339_SIZE])
{
    int64_t seconds = epoch_ms / 1000;
    int millis = (int) (epoch_ms % 1000);
    if (millis < 0) {
        millis += 1000;
        seconds--;
    }
    int64_t days = seconds / 86400;
    int64_t rest = seconds % 86400;
    if (rest < 0) {
        rest += 86400;
        days--;
    }
    int64_t year;
    int month, day;
    s_civil_from_days (days, &year, &month, &day);
    //  Years outside 0..9999 are clamped: RFC 3339 has no room for them.
    if (year < 0 || year > 9999) {
        snprintf (buffer, FY_TIME_RFC3339_SIZE, "%s",
                  year < 0 ? "0000-01-01T00:00:00.000Z"
                           : "9999-12-31T23:59:59.999Z");
        return;
    }
    snprintf (buffer, FY_TIME_RFC3339_SIZE,
              "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int) year, month, day,
              (int) (rest / 3600), (int) (rest / 60 % 60), (int) (rest % 60),
              millis);
}
