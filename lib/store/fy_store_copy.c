/*  fy_store_copy: what the store's batch writers share: a value as COPY
    text data and as one element of an array literal (a batch's column as
    one parameter), and the reading of a pipeline's results. fy_store's
    audit append and fy_store_analytics' apply both use them. */
#include "store/fy_store_pg.h"

#include <errno.h>
#include <string.h>

//  Append value to buffer in COPY text format (\N for NULL).
void
fy_store_copy_value (char **buffer, size_t *len, size_t *size,
                     const char *value)
{
    size_t need = value ? strlen (value) * 2 + 2 : 3;
    if (*len + need + 1 > *size) {
        *size = (*len + need + 1) * 2;
        *buffer = fy_xrealloc (*buffer, *size);
    }
    char *out = *buffer + *len;
    if (!value) {
        memcpy (out, "\\N", 2);
        *len += 2;
        return;
    }
    //  Runs that need no escaping are copied whole: the JSON columns are
    //  most of a row and have few backslashes and no raw controls.
    for (const char *p = value;;) {
        size_t run = strcspn (p, "\\\t\n\r");
        memcpy (out, p, run);
        out += run;
        p += run;
        if (!*p)
            break;
        *out++ = '\\';
        *out++ = *p == '\\' ? '\\' : *p == '\t' ? 't' : *p == '\n' ? 'n' : 'r';
        p++;
    }
    *len = (size_t) (out - *buffer);
}

//  Append value to buffer as one element of an array literal: quoted, or
//  NULL.
void
fy_store_array_value (char **buffer, size_t *len, size_t *size,
                      const char *value)
{
    size_t need = (value ? strlen (value) * 2 : 4) + 4;
    if (*len + need + 2 > *size) {
        *size = (*len + need + 2) * 2;
        *buffer = fy_xrealloc (*buffer, *size);
    }
    char *out = *buffer + *len;
    *out++ = *len > 1 ? ',' : '{';
    if (!value) {
        memcpy (out, "NULL", 4);
        *len = (size_t) (out + 4 - *buffer);
        return;
    }
    *out++ = '"';
    for (const char *p = value;;) {
        size_t run = strcspn (p, "\"\\");
        memcpy (out, p, run);
        out += run;
        p += run;
        if (!*p)
            break;
        *out++ = '\\';
        *out++ = *p++;
    }
    *out++ = '"';
    *len = (size_t) (out - *buffer);
}

void
fy_store_array_end (char *buffer, size_t *len)
{
    if (*len == 0)
        buffer [(*len)++] = '{';
    buffer [(*len)++] = '}';
    buffer [*len] = '\0';
}

int
fy_store_pg_pipeline_results (fy_store_t *self, PGconn *conn,
                              PGresult **results, int count, const char *what,
                              fy_error_t *err)
{
    int rc = 0, q = 0;
    while (true) {
        PGresult *res = PQgetResult (conn);
        if (!res) {
            if (PQstatus (conn) != CONNECTION_OK) {
                fy_error_set (err, "%s: %s", what, PQerrorMessage (conn));
                errno = ECONNRESET;
                return -1;
            }
            continue;           //  the end of one query's results
        }
        ExecStatusType status = PQresultStatus (res);
        if (status == PGRES_PIPELINE_SYNC) {
            PQclear (res);
            return rc;
        }
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            if (rc == 0 && status != PGRES_PIPELINE_ABORTED)
                rc = fy_store_pg_fail (self, res, what, err);
            else
                PQclear (res);
        }
        else if (results && q < count && rc == 0)
            results [q] = res;
        else
            PQclear (res);
        q++;
    }
}
