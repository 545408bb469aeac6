/*  audit_csv: RFC 4180 lines for GET /audit/export/csv. A cell is quoted
    when it holds a comma, a quote, CR or LF (quotes doubled); a cell that
    starts with = + - @ (or TAB / CR) gets a leading ' so a spreadsheet
    shows it as text instead of evaluating it (CSV injection). */
#include "audit_csv.h"

#include <ferry/fy_common.h>
#include <ferry/fy_json.h>
#include <string.h>

static const char *s_columns [] = { "id",         "occurredAt",    "type",
                                    "version",    "source",        "companyId",
                                    "actorId",    "correlationId", "action",
                                    "targetType", "targetId",      "ip",
                                    "userAgent",  "receivedAt",    "changes",
                                    "payload" };
#define S_COLUMNS (sizeof s_columns / sizeof s_columns [0])

const char *
audit_csv_header (void)
{
    return "id,occurredAt,type,version,source,companyId,actorId,"
           "correlationId,action,targetType,targetId,ip,userAgent,"
           "receivedAt,changes,payload\r\n";
}

static void
s_put (char **buf, size_t *len, size_t *size, const char *data, size_t n)
{
    if (*len + n + 1 > *size) {
        while (*len + n + 1 > *size)
            *size = *size ? *size * 2 : 4096;
        *buf = fy_xrealloc (*buf, *size);
    }
    memcpy (*buf + *len, data, n);
    *len += n;
    (*buf) [*len] = 0;
}

void
audit_csv_cell (char **buf, size_t *len, size_t *size, const char *text,
                bool last)
{
    if (text && *text) {
        bool formula = strchr ("=+-@\t\r", text [0]) != NULL;
        bool quote = formula || strpbrk (text, ",\"\r\n") != NULL;
        if (quote)
            s_put (buf, len, size, "\"", 1);
        if (formula)
            s_put (buf, len, size, "'", 1);
        for (const char *p = text; *p;) {
            const char *q = quote ? strchr (p, '"') : NULL;
            size_t n = q ? (size_t) (q - p) + 1 : strlen (p);
            s_put (buf, len, size, p, n);
            if (q)
                s_put (buf, len, size, "\"", 1);
            p += n;
        }
        if (quote)
            s_put (buf, len, size, "\"", 1);
    }
    s_put (buf, len, size, last ? "\r\n" : ",", last ? 2 : 1);
}

void
audit_csv_row (char **buf, size_t *len, size_t *size, json_t *row)
{
    for (size_t i = 0; i < S_COLUMNS; i++) {
        json_t *value = json_object_get (row, s_columns [i]);
        char *owned = NULL;
        const char *text = NULL;
        char number [32];
        if (json_is_string (value))
            text = json_string_value (value);
        else if (json_is_integer (value)) {
            snprintf (number, sizeof number, "%lld",
                      (long long) json_integer_value (value));
            text = number;
        }
        else if (json_is_object (value) || json_is_array (value))
            text = owned = fy_json_dumps (value, FY_JSON_SORT_KEYS, NULL);
        audit_csv_cell (buf, len, size, text, i + 1 == S_COLUMNS);
        free (owned);
    }
}
