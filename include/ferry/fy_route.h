/*  fy_route: the one route table of every HTTP-shaped dispatch in ferry,
    the broker's HTTP endpoint and the API a worker serves from the
    REQUESTs the broker forwards (fy_worker_route). A table is an array of
    rows ended by a row whose pattern is NULL; each row starts with an
    fy_route_t {method, pattern, auth} and the program's row type adds its
    typed handler after it (fy_worker_route_t, the broker's own), so the
    matcher walks the rows by their size.
    The rules for patterns, paths and methods are below. */
#ifndef FY_ROUTE_H_INCLUDED
#define FY_ROUTE_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Patterns, matched segment by segment:
//
//      /health        exactly that path
//      /audit/:id     a ":name" segment takes one non-empty segment (no
//                     '/') and makes it the parameter name
//      /auth/*        a last "*" segment takes the prefix itself ("/auth")
//                     and everything below it ("/auth/", "/auth/x/y"); the
//                     parameter "*" is what follows the prefix ("", "/",
//                     "/x/y")
//
//  Paths are compared byte for byte as given. They arrive percent-decoded
//  (the HTTP server decodes them, and the broker forwards the decoded
//  path), so the matcher decodes nothing: "%2F" came in as a '/' and
//  separates segments, and a '%' still in the path is an ordinary byte.
//  A trailing slash counts: "/health/" is not "/health" (404), only a "*"
//  pattern takes it. A path that is empty, does not start with '/' or
//  holds a NUL byte matches no row (404); one longer than
//  FY_ROUTE_PATH_MAX is refused before any row is tried (414).
//
//  Methods: a row's "GET" serves HEAD too, "*" serves every method, any
//  other is compared exactly (methods are case-sensitive). When rows
//  match the path but none the method, the answer is 405 and match.allow
//  lists the methods of those rows ("GET, HEAD, POST"), for an Allow
//  header or, where the answer carries no headers, the message.
//
//  Rows are tried in order and the first one that matches path and method
//  wins, so "/audit/search" goes before "/audit/:id".

//  Longest path matched; a longer one is FY_ROUTE_TOO_LONG.
#define FY_ROUTE_PATH_MAX 4096
//  Parameters one pattern may have.
#define FY_ROUTE_PARAMS_MAX 8
//  Room for match.allow: every method HTTP defines fits.
#define FY_ROUTE_ALLOW_SIZE 96

//  The head of every table row. Static strings, borrowed.
typedef struct {
    const char *method;         //  "GET" (serves HEAD too), "POST", "*"
    const char *pattern;        //  "/health", "/audit/:id", "/auth/*"
    unsigned auth;              //  0: open; other values are the program's
    unsigned flags;             //  FY_ROUTE_JSON_BODY, or 0
} fy_route_t;

//  fy_route_t.flags: the row's handler reads its body as JSON, so a body
//  of any other Content-Type is refused with 415 (fy_route_check_body)
//  before the handler sees it, rather than parsed as what it is not.
#define FY_ROUTE_JSON_BODY 1u

typedef enum {
    FY_ROUTE_FOUND = 0,         //  match.index is the row
    FY_ROUTE_NOT_FOUND,         //  404: no row takes the path
    FY_ROUTE_NOT_ALLOWED,  //  405: match.allow lists what the path takes
    FY_ROUTE_TOO_LONG,  //  414: longer than FY_ROUTE_PATH_MAX
    FY_ROUTE_UNSUPPORTED_TYPE  //  415: fy_route_check_body refused it
} fy_route_status_t;

//  A parameter: name from the pattern, value a slice of the path (neither
//  NUL-terminated; both borrowed from the pattern and the path).
typedef struct {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} fy_route_param_t;

typedef struct {
    size_t index;  //  the matched row's, from 0
    size_t param_count;
    fy_route_param_t params [FY_ROUTE_PARAMS_MAX];
    char allow [FY_ROUTE_ALLOW_SIZE];  //  "" unless FY_ROUTE_NOT_ALLOWED
} fy_route_match_t;

//  Match method and path (method_len and path_len bytes, no terminator
//  needed; either may be NULL when its length is 0, as from a peer that
//  left it out) against the table whose first row's head is routes and whose
//  rows are stride bytes apart: fy_route_match (&table->route, sizeof
//  *table, ...). Fills match (its parameters borrow from path). A pattern
//  that does not start with '/' or has more than FY_ROUTE_PARAMS_MAX
//  parameters is a programming error (assert).
FY_EXPORT fy_route_status_t
fy_route_match (const fy_route_t *routes, size_t stride, const char *method,
                size_t method_len, const char *path, size_t path_len,
                fy_route_match_t *match);

//  The value of the parameter name (":id" is "id", a prefix's rest "*")
//  and its length in *len, or NULL when the matched pattern has none.
//  Borrowed from the path.
FY_EXPORT const char *
fy_route_param (const fy_route_match_t *match, const char *name, size_t *len);

//  Whether the matched route takes a request whose body is body_len bytes
//  and whose Content-Type header is content_type (type_len bytes, no
//  terminator needed; NULL when absent): FY_ROUTE_FOUND, or
//  FY_ROUTE_UNSUPPORTED_TYPE when the row has FY_ROUTE_JSON_BODY, there
//  is a body, and its media type is not application/json (compared
//  without regard to case; parameters such as "; charset=utf-8" may
//  follow). A request without a body passes whatever its header says.
FY_EXPORT fy_route_status_t
fy_route_check_body (const fy_route_t *route, const char *content_type,
                     size_t type_len, size_t body_len);

//  The answer to a status other than FY_ROUTE_FOUND: returns the HTTP
//  status and sets *code to the JSON error code ("not_found",
//  "method_not_allowed", "uri_too_long", "unsupported_media_type") and
//  message to its text (size bytes; the 405 one names the methods
//  allowed).
FY_EXPORT unsigned
fy_route_error (fy_route_status_t status, const fy_route_match_t *match,
                const char **code, char *message, size_t size);

#ifdef __cplusplus
}
#endif
#endif
