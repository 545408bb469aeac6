/*  fy_store_copy: the text encodings the store's writers share: a value
    as COPY text data and as one element of an array literal (a batch's
    column as one parameter). fy_store's audit append and
    fy_store_analytics' apply both build their data with them. */
#include "store/fy_store_pg.h"

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
    for (const char *p = value; *p; p++) {
        char escaped = *p == '\\'   ? '\\'
                       : *p == '\t' ? 't'
                       : *p == '\n' ? 'n'
                       : *p == '\r' ? 'r'
                                    : 0;
        if (escaped) {
            *out++ = '\\';
            *out++ = escaped;
        }
        else
            *out++ = *p;
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
    for (const char *p = value; *p; p++) {
        if (*p == '"' || *p == '\\')
            *out++ = '\\';
        *out++ = *p;
    }
    *out++ = '"';
    *len = (size_t) (out - *buffer);
}
