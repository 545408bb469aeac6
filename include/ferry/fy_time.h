/*  fy_time: RFC 3339 timestamps with milliseconds, the only time format on
    ferry's wire. Events carry "2026-11-26T10:00:00.000Z"; parsing accepts
    any offset and normalizes to epoch milliseconds, formatting always
    writes UTC with exactly three fractional digits. */
#ifndef FY_TIME_H_INCLUDED
#define FY_TIME_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Room for "YYYY-MM-DDTHH:MM:SS.mmmZ" and its terminator.
#define FY_TIME_RFC3339_SIZE 25

//  Parse a timestamp of len bytes (no terminator needed). With
//  require_millis, exactly three fractional digits must be present;
//  otherwise any number is accepted and truncated to milliseconds. Only
//  what PostgreSQL's timestamptz stores: years 0001-9999, in UTC as well
//  as written; offsets up to +-15:59; the leap second 23:59:60 UTC (folded
//  into the next second), with no fraction when written in UTC. Returns
//  0, or -1 with errno EINVAL.
FY_EXPORT int
fy_time_parse (const char *text, size_t len, bool require_millis,
               int64_t *epoch_ms) FY_MUSTCHECK;

//  Write epoch_ms as UTC RFC 3339 with milliseconds into buffer.
FY_EXPORT void
fy_time_format (int64_t epoch_ms, char buffer [FY_TIME_RFC3339_SIZE]);

#ifdef __cplusplus
}
#endif
#endif
