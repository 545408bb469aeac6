/*  fy_route: the route table matcher, on a table shaped like a program's
    (rows that start with an fy_route_t and add a handler): exact paths,
    :parameters, prefixes, 405 with the Allow list, 404, and the path
    rules fy_route.h documents (trailing slash, percent signs, over-long
    and malformed paths). */
#include "tap.h"
#include <ferry/ferry.h>

#include <string.h>

typedef struct {
    fy_route_t route;
    int handler;                //  stands for the program's handler
} s_row_t;

static const s_row_t s_routes [] = {
    { { "GET", "/health", 0, 0 }, 1 },
    { { "POST", "/events", 2, FY_ROUTE_JSON_BODY }, 2 },
    { { "POST", "/audit", 0, 0 }, 3 },
    { { "GET", "/audit/search", 0, 0 }, 4 },
    { { "GET", "/audit/:id", 0, 0 }, 5 },
    { { "DELETE", "/audit/:id", 0, 0 }, 6 },
    { { "GET", "/users/:user/keys/:key", 0, 0 }, 7 },
    { { "*", "/auth/health", 0, 0 }, 8 },
    { { "*", "/auth/*", 1, 0 }, 9 },
    { { "GET", "/", 0, 0 }, 10 },
    { { NULL, NULL, 0, 0 }, 0 }
};

static fy_route_match_t s_match;

//  The handler the request reaches, or -status when none.
static int
s_route (const char *method, const char *path, size_t len)
{
    fy_route_status_t status =
        fy_route_match (&s_routes->route, sizeof *s_routes, method,
                        strlen (method), path, len, &s_match);
    if (status == FY_ROUTE_FOUND)
        return s_routes [s_match.index].handler;
    const char *code = NULL;
    char message [128];
    return -(int) fy_route_error (status, &s_match, &code, message,
                                  sizeof message);
}

static int
s_go (const char *method, const char *path)
{
    return s_route (method, path, strlen (path));
}

//  The parameter name as a string, "(none)" when absent.
static const char *
s_param (const char *name)
{
    static char text [FY_ROUTE_PATH_MAX + 1];
    size_t len = 0;
    const char *value = fy_route_param (&s_match, name, &len);
    if (!value)
        return "(none)";
    memcpy (text, value, len);
    text [len] = 0;
    return text;
}

int
main (void)
{
    plan (NO_PLAN);

    //  Exact paths; GET serves HEAD.
    is_int (s_go ("GET", "/health"), 1, "GET /health");
    is_int (s_go ("HEAD", "/health"), 1, "HEAD is served as GET");
    is_int (s_go ("POST", "/events"), 2, "POST /events");
    is_int ((int) s_routes [s_match.index].route.auth, 2,
            "the row carries its auth");
    is_int (s_go ("POST", "/audit"), 3, "POST /audit");
    is_int (s_go ("GET", "/"), 10, "the root");
    is_int (s_go ("get", "/health"), -405, "methods are case-sensitive");
    is_int (s_go ("HEAD", "/events"), -405, "HEAD is not POST");

    //  Parameters; first match wins.
    is_int (s_go ("GET", "/audit/search"), 4, "a fixed path before :id");
    is_str (s_param ("id"), "(none)", "which has no parameter");
    is_int (s_go ("GET", "/audit/abc-1"), 5, "GET /audit/:id");
    is_str (s_param ("id"), "abc-1", "id is the segment");
    is_int (s_go ("DELETE", "/audit/abc-1"), 6, "same pattern, other method");
    is_int (s_go ("GET", "/users/u1/keys/k2"), 7, "two parameters");
    is_str (s_param ("user"), "u1", "user");
    is_str (s_param ("key"), "k2", "key");
    is_str (s_param ("keys"), "(none)", "a fixed segment is no parameter");
    is_int (s_go ("GET", "/audit/"), -404,
            "an empty segment is no :id, and /audit/ no /audit");
    is_int (s_go ("GET", "/audit/a/b"), -404, ":id takes one segment");
    is_int (s_go ("GET", "/users//keys/k2"), -404, "nor an empty one");

    //  Prefixes.
    is_int (s_go ("PATCH", "/auth/health"), 8, "a fixed path before a prefix");
    is_int (s_go ("PATCH", "/auth/tokens/1"), 9, "any method under /auth");
    is_str (s_param ("*"), "/tokens/1", "* is the rest");
    is_int (s_go ("GET", "/auth"), 9, "the prefix itself");
    is_str (s_param ("*"), "", "with an empty rest");
    is_int (s_go ("GET", "/auth/"), 9, "and with a slash");
    is_str (s_param ("*"), "/", "whose rest is the slash");
    is_int (s_go ("GET", "/authx"), -404, "a longer segment is not under it");
    is_int (s_go ("GET", "/auth/health/"), 9,
            "/auth/health/ is not /auth/health, but under /auth");

    //  405 lists the path's methods, GET with HEAD, each once.
    is_int (s_go ("POST", "/health"), -405, "POST /health");
    is_str (s_match.allow, "GET, HEAD", "Allow: GET, HEAD");
    is_int (s_go ("GET", "/events"), -405, "GET /events");
    is_str (s_match.allow, "POST", "Allow: POST");
    is_int (s_go ("PUT", "/audit/abc-1"), -405, "PUT /audit/:id");
    is_str (s_match.allow, "GET, HEAD, DELETE", "Allow: both rows' methods");
    is_int (s_go ("PUT", "/audit/search"), -405, "PUT /audit/search");
    is_str (s_match.allow, "GET, HEAD, DELETE",
            "every row that takes the path, GET listed once");
    fy_route_match_t found = s_match;
    const char *code = NULL;
    char message [128];
    is_int ((int) fy_route_error (FY_ROUTE_NOT_ALLOWED, &found, &code, message,
                                  sizeof message),
            405, "405");
    is_str (code, "method_not_allowed", "its code");
    is_str (message, "this route takes GET, HEAD, DELETE", "its message");
    is_int ((int) fy_route_error (FY_ROUTE_NOT_FOUND, &found, &code, message,
                                  sizeof message),
            404, "404");
    is_str (code, "not_found", "its code");
    is_str (message, "no such route", "its message");

    //  Unknown paths; trailing slashes and percent signs are bytes.
    is_int (s_go ("GET", "/nope"), -404, "unknown path");
    is_str (s_match.allow, "", "no Allow for a 404");
    is_int (s_go ("GET", "/health/"), -404, "a trailing slash counts");
    is_int (s_go ("GET", "//health"), -404, "so does a leading one");
    is_int (s_go ("GET", "/he%61lth"), -404,
            "no percent-decoding: the server did it (%%61)");
    is_int (s_go ("GET", "/audit/a%2Fb"), 5, "a '%%' is an ordinary byte");
    is_str (s_param ("id"), "a%2Fb", "kept as it came");
    is_int (s_go ("GET", "/audit/a/b"), -404,
            "a decoded %%2F separates segments");

    //  Malformed and over-long paths.
    is_int (s_go ("GET", ""), -404, "empty path");
    is_int (s_route ("GET", NULL, 0), -404, "no path at all");
    is_int (s_go ("GET", "health"), -404, "no leading slash");
    is_int (s_go ("GET", "*"), -404, "an OPTIONS-style *");
    is_int (s_route ("GET", "/health\0x", 9), -404, "a NUL byte");
    is_int (s_route ("", "/health", 7), -405, "an empty method");
    is_int (s_route ("", "/auth/x", 7), 9, "which * takes");
    static char long_path [FY_ROUTE_PATH_MAX + 2];
    memcpy (long_path, "/audit/", 7);
    memset (long_path + 7, 'a', FY_ROUTE_PATH_MAX - 7);
    is_int (s_route ("GET", long_path, FY_ROUTE_PATH_MAX), 5,
            "a path of FY_ROUTE_PATH_MAX bytes is matched");
    is_int ((int) strlen (s_param ("id")), FY_ROUTE_PATH_MAX - 7, "whole");
    long_path [FY_ROUTE_PATH_MAX] = 'a';
    is_int (s_route ("GET", long_path, FY_ROUTE_PATH_MAX + 1), -414,
            "one byte more is 414");
    is_int ((int) fy_route_error (FY_ROUTE_TOO_LONG, &s_match, &code, message,
                                  sizeof message),
            414, "414");
    is_str (code, "uri_too_long", "its code");

    //  A JSON body row takes application/json only, when there is a body.
    const fy_route_t *json = &s_routes [1].route, *plain = &s_routes [0].route;
    static const struct {
        const char *type;
        fy_route_status_t want;
    } types [] = {
        { "application/json", FY_ROUTE_FOUND },
        { "Application/JSON", FY_ROUTE_FOUND },
        { "application/json; charset=utf-8", FY_ROUTE_FOUND },
        { "application/json ;charset=utf-8", FY_ROUTE_FOUND },
        { "text/plain", FY_ROUTE_UNSUPPORTED_TYPE },
        { "application/xml", FY_ROUTE_UNSUPPORTED_TYPE },
        { "application/x-www-form-urlencoded", FY_ROUTE_UNSUPPORTED_TYPE },
        { "application/jsonx", FY_ROUTE_UNSUPPORTED_TYPE },
        { "application/json-patch+json", FY_ROUTE_UNSUPPORTED_TYPE },
        { "application/jso", FY_ROUTE_UNSUPPORTED_TYPE },
        { "", FY_ROUTE_UNSUPPORTED_TYPE },
    };
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        is_int (fy_route_check_body (json, types [i].type,
                                     strlen (types [i].type), 2),
                types [i].want, "JSON row, Content-Type '%s'", types [i].type);
    is_int (fy_route_check_body (json, NULL, 0, 2), FY_ROUTE_UNSUPPORTED_TYPE,
            "JSON row, a body with no Content-Type");
    is_int (fy_route_check_body (json, "application/json; x", 16, 2),
            FY_ROUTE_FOUND, "the type's length is what counts");
    is_int (fy_route_check_body (json, "text/plain", 10, 0), FY_ROUTE_FOUND,
            "JSON row, no body: any type");
    is_int (fy_route_check_body (plain, "text/plain", 10, 5), FY_ROUTE_FOUND,
            "a row without the flag takes any type");
    is_int ((int) fy_route_error (FY_ROUTE_UNSUPPORTED_TYPE, &s_match, &code,
                                  message, sizeof message),
            415, "415");
    is_str (code, "unsupported_media_type", "its code");

    //  An empty table knows no path.
    static const s_row_t empty [] = { { { NULL, NULL, 0, 0 }, 0 } };
    is_int (fy_route_match (&empty->route, sizeof *empty, "GET", 3, "/", 1,
                            &s_match),
            FY_ROUTE_NOT_FOUND, "empty table");
    done_testing ();
}
