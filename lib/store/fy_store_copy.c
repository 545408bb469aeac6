/*  fy_store_copy: what the store's batch writers share: a value as COPY
    text data and as one element of an array literal (a batch's column as
    one parameter), a batch's distinct ids as a binary uuid[], and the
    reading of a pipeline's results. fy_store's audit append and
    fy_store_analytics' apply both use them. */
#include "store/fy_store_pg.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

//  uuid's type OID (pg_type.dat; stable forever).
#define S_OID_UUID 2950

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

void
fy_store_id_set (fy_store_id_t *id, const char *text, size_t row)
{
    int parsed = fy_uuid_parse (text, id->bytes);
    assert (parsed == 0);
    (void) parsed;
    id->row = row;
}

static int
s_id_compare (const void *a, const void *b)
{
    const fy_store_id_t *x = a, *y = b;
    int by_bytes = memcmp (x->bytes, y->bytes, FY_UUID_BYTES);
    return by_bytes ? by_bytes : (x->row > y->row) - (x->row < y->row);
}

size_t
fy_store_ids_distinct (fy_store_id_t *ids, size_t count)
{
    assert (ids || count == 0);
    //  Sorted by bytes, then batch order: the first of each run of one id
    //  is its first copy.
    qsort (ids, count, sizeof *ids, s_id_compare);
    size_t distinct = 0;
    for (size_t i = 0; i < count; i++)
        if (distinct == 0
            || memcmp (ids [i].bytes, ids [distinct - 1].bytes, FY_UUID_BYTES)
                   != 0)
            ids [distinct++] = ids [i];
    return distinct;
}

static void
s_put32 (unsigned char *out, uint32_t value)
{
    value = htonl (value);
    memcpy (out, &value, 4);
}

//  A one-dimensional array header (ndim, flags, element type, length,
//  lower bound), then each element's length and bytes.
char *
fy_store_ids_array (const fy_store_id_t *ids, size_t count, int *length)
{
    assert (ids || count == 0);
    assert (length);
    size_t size = 20 + count * (4 + FY_UUID_BYTES);
    unsigned char *array = fy_xmalloc (size), *out = array + 20;
    s_put32 (array, 1);
    s_put32 (array + 4, 0);
    s_put32 (array + 8, S_OID_UUID);
    s_put32 (array + 12, (uint32_t) count);
    s_put32 (array + 16, 1);
    for (size_t i = 0; i < count; i++, out += 4 + FY_UUID_BYTES) {
        s_put32 (out, FY_UUID_BYTES);
        memcpy (out + 4, ids [i].bytes, FY_UUID_BYTES);
    }
    *length = (int) size;
    return (char *) array;
}

static int
s_id_bytes_compare (const void *key, const void *id)
{
    return memcmp (key, ((const fy_store_id_t *) id)->bytes, FY_UUID_BYTES);
}

const fy_store_id_t *
fy_store_ids_find (const fy_store_id_t *ids, size_t count, const PGresult *res,
                   int r)
{
    assert (res);
    return PQgetlength (res, r, 0) == FY_UUID_BYTES
               ? bsearch (PQgetvalue (res, r, 0), ids, count, sizeof *ids,
                          s_id_bytes_compare)
               : NULL;
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
