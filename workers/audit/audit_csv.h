/*  audit_csv: the CSV export's rows, RFC 4180, with cells that a
    spreadsheet would run as a formula (= + - @, and tab / CR that some
    spreadsheets also treat so) prefixed by a single quote. */
#ifndef AUDIT_CSV_H_INCLUDED
#define AUDIT_CSV_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  The header line, with CRLF. Borrowed, static.
const char *
audit_csv_header (void);

//  Append one cell (text, may be NULL for an empty cell) to *buf, a
//  growing buffer of *len bytes in *size; quoted when it needs to be,
//  neutralised when it starts like a formula. last ends the line (CRLF)
//  rather than the cell (comma).
void
audit_csv_cell (char **buf, size_t *len, size_t *size, const char *text,
                bool last);

//  Append one search/export row (json object) as a CSV line.
void
audit_csv_row (char **buf, size_t *len, size_t *size, json_t *row);

#endif
