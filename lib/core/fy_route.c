/*  fy_route: the route table matcher (see fy_route.h). Plain byte work on
    the path, no allocation: it runs for every request the broker and the
    workers answer. */
#include "ferry/fy_route.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void
s_param_add (fy_route_match_t *match, const char *name, size_t name_len,
             const char *value, size_t value_len)
{
    assert (match->param_count < FY_ROUTE_PARAMS_MAX);
    fy_route_param_t *param = &match->params [match->param_count++];
    param->name = name;
    param->name_len = name_len;
    param->value = value;
    param->value_len = value_len;
}

//  Whether path (len bytes, starting with '/') fits pattern; its
//  parameters go into match.
static bool
s_pattern_fits (const char *pattern, const char *path, size_t len,
                fy_route_match_t *match)
{
    assert (*pattern == '/');
    const char *end = path + len;
    while (*pattern) {
        const char *seg = pattern + 1;
        const char *seg_end = strchr (seg, '/');
        if (!seg_end)
            seg_end = seg + strlen (seg);
        if (seg_end - seg == 1 && *seg == '*' && !*seg_end) {
            //  The prefix itself, or anything below it: never "/authx".
            if (path != end && *path != '/')
                return false;
            s_param_add (match, "*", 1, path, (size_t) (end - path));
            return true;
        }
        if (path == end || *path != '/')
            return false;
        const char *part = path + 1;
        const char *part_end = memchr (part, '/', (size_t) (end - part));
        if (!part_end)
            part_end = end;
        size_t part_len = (size_t) (part_end - part);
        if (*seg == ':') {
            if (part_len == 0)
                return false;
            s_param_add (match, seg + 1, (size_t) (seg_end - seg - 1), part,
                         part_len);
        }
        else if (part_len != (size_t) (seg_end - seg)
                 || memcmp (part, seg, part_len) != 0)
            return false;
        pattern = seg_end;
        path = part_end;
    }
    return path == end;
}

static bool
s_is (const char *text, const char *bytes, size_t len)
{
    return strlen (text) == len && (len == 0 || memcmp (text, bytes, len) == 0);
}

static bool
s_method_fits (const char *want, const char *method, size_t len)
{
    return strcmp (want, "*") == 0 || s_is (want, method, len)
           || (strcmp (want, "GET") == 0 && s_is ("HEAD", method, len));
}

//  Add method to the Allow list unless it is there; GET brings HEAD.
static void
s_allow_add (fy_route_match_t *match, const char *method)
{
    char *allow = match->allow;
    size_t used = strlen (allow);
    const char *at = allow;
    size_t len = strlen (method);
    while ((at = strstr (at, method))) {
        if ((at == allow || at [-1] == ' ') && (at [len] == ',' || !at [len]))
            return;
        at += len;
    }
    int n = snprintf (allow + used, sizeof match->allow - used, "%s%s%s",
                      used ? ", " : "", method,
                      strcmp (method, "GET") == 0 ? ", HEAD" : "");
    assert (n > 0 && (size_t) n < sizeof match->allow - used);
}

fy_route_status_t
fy_route_match (const fy_route_t *routes, size_t stride, const char *method,
                size_t method_len, const char *path, size_t path_len,
                fy_route_match_t *match)
{
    assert (routes);
    assert (stride >= sizeof *routes);
    assert (method || method_len == 0);
    assert (path || path_len == 0);
    assert (match);
    memset (match, 0, sizeof *match);
    if (path_len > FY_ROUTE_PATH_MAX)
        return FY_ROUTE_TOO_LONG;
    if (path_len == 0 || *path != '/' || memchr (path, 0, path_len))
        return FY_ROUTE_NOT_FOUND;
    bool path_known = false;
    const char *row = (const char *) routes;
    for (size_t index = 0;; index++, row += stride) {
        const fy_route_t *route = (const fy_route_t *) row;
        if (!route->pattern)
            break;
        match->param_count = 0;
        if (!s_pattern_fits (route->pattern, path, path_len, match))
            continue;
        if (s_method_fits (route->method, method, method_len)) {
            match->index = index;
            return FY_ROUTE_FOUND;
        }
        path_known = true;
        s_allow_add (match, route->method);
    }
    match->param_count = 0;
    return path_known ? FY_ROUTE_NOT_ALLOWED : FY_ROUTE_NOT_FOUND;
}

const char *
fy_route_param (const fy_route_match_t *match, const char *name, size_t *len)
{
    assert (match);
    assert (name);
    assert (len);
    for (size_t i = 0; i < match->param_count; i++) {
        const fy_route_param_t *param = &match->params [i];
        if (s_is (name, param->name, param->name_len)) {
            *len = param->value_len;
            return param->value;
        }
    }
    *len = 0;
    return NULL;
}

fy_route_status_t
fy_route_check_body (const fy_route_t *route, const char *content_type,
                     size_t type_len, size_t body_len)
{
    assert (route);
    assert (content_type || type_len == 0);
    if (!(route->flags & FY_ROUTE_JSON_BODY) || body_len == 0)
        return FY_ROUTE_FOUND;
    static const char json [] = "application/json";
    size_t len = sizeof json - 1;
    if (!content_type || type_len < len
        || strncasecmp (content_type, json, len) != 0)
        return FY_ROUTE_UNSUPPORTED_TYPE;
    //  Only parameters may follow: not "application/jsonx".
    const char *rest = content_type + len, *end = content_type + type_len;
    while (rest < end && (*rest == ' ' || *rest == '\t'))
        rest++;
    return rest == end || *rest == ';' ? FY_ROUTE_FOUND
                                       : FY_ROUTE_UNSUPPORTED_TYPE;
}

unsigned
fy_route_error (fy_route_status_t status, const fy_route_match_t *match,
                const char **code, char *message, size_t size)
{
    assert (match);
    assert (code);
    assert (message && size);
    switch (status) {
        case FY_ROUTE_NOT_ALLOWED:
            *code = "method_not_allowed";
            snprintf (message, size, "this route takes %s", match->allow);
            return 405;
        case FY_ROUTE_TOO_LONG:
            *code = "uri_too_long";
            snprintf (message, size, "the path is longer than %d bytes",
                      FY_ROUTE_PATH_MAX);
            return 414;
        case FY_ROUTE_UNSUPPORTED_TYPE:
            *code = "unsupported_media_type";
            snprintf (message, size, "the body must be application/json");
            return 415;
        case FY_ROUTE_FOUND:
        case FY_ROUTE_NOT_FOUND:
            break;
    }
    assert (status == FY_ROUTE_NOT_FOUND);
    *code = "not_found";
    snprintf (message, size, "no such route");
    return 404;
}
