/*  Fuzz target for fy_fcm's answer parsers and its request body. The
    first byte picks the mode, the second a status, the rest is the
    input, given in a buffer of exactly its size (no NUL after it, so a
    read past the end is ASan's to see): 0 and 1 an FCM send answer with
    status 200 and with the status the second byte picks (400-429,
    500-504), 2 and 3 an OAuth token answer with status 200 and 400; 4
    the rest cut at NULs into a token, a title, a body, a data key and
    value for fy_fcm_body, whose result, when it accepts them, must read
    back to the same strings. Every mode checks the contract: a success
    has a non-empty result (a message name; a token of visible ASCII
    with a lifetime of 1 s to a day), a failure none, and the code and
    message are NUL-terminated within their arrays. */
#include "ferry/ferry.h"
#include "http/fy_http_ops.h"
#include "notify/fy_fcm.h"
#include "notify/fy_fcm_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
s_check_error (const fy_http_service_error_t *error)
{
    if (!memchr (error->code, 0, sizeof error->code)
        || !memchr (error->message, 0, sizeof error->message))
        abort ();
}

static void
s_send_answer (int status, const char *body, size_t size)
{
    fy_http_answer_t answer = { status, body, size, NULL };
    fy_http_service_error_t error;
    char *name = NULL, *request_id = NULL;
    int rc = fy_fcm_parse (&answer, &error, &name, &request_id);
    s_check_error (&error);
    if (request_id || (rc == 0) != (name != NULL) || (name && !*name)
        || (rc == 0 && (status < 200 || status > 299)))
        abort ();
    free (name);
}

static void
s_token_answer (int status, const char *body, size_t size)
{
    fy_http_answer_t answer = { status, body, size, NULL };
    fy_http_service_error_t error;
    char *token = NULL;
    int64_t expires_in_s = 0;
    int rc = fy_fcm_parse_token (&answer, &error, &token, &expires_in_s);
    s_check_error (&error);
    if ((rc == 0) != (token != NULL))
        abort ();
    if (token) {
        if (!*token || expires_in_s < 1 || expires_in_s > 86400)
            abort ();
        for (const char *c = token; *c; c++)
            if (*c < 0x21 || *c > 0x7e)
                abort ();
    }
    free (token);
}

//  The next NUL-terminated piece of text (the last may lack its NUL).
static char *
s_piece (const char **at, const char *end)
{
    if (*at >= end)
        return NULL;
    const char *nul = memchr (*at, 0, (size_t) (end - *at));
    size_t len = nul ? (size_t) (nul - *at) : (size_t) (end - *at);
    char *piece = fy_xstrndup (*at, len);
    *at += len + 1;
    return piece;
}

static const char *
s_at (json_t *json, const char *a, const char *b)
{
    return json_string_value (json_object_get (
        json_object_get (json_object_get (json, "message"), a), b));
}

static void
s_body (const char *input, size_t size)
{
    const char *at = input, *end = input + size;
    char *token = s_piece (&at, end);
    char *title = s_piece (&at, end);
    char *text = s_piece (&at, end);
    char *key = s_piece (&at, end);
    char *value = s_piece (&at, end);
    const char *data [] = { key, value, NULL };
    fy_fcm_message_t message = {
        .token = token,
        .title = title,
        .body = text,
        .data = key ? data : NULL,
    };
    size_t len = 0;
    fy_error_t err = { "" };
    errno = 0;
    char *body = fy_fcm_body (&message, &len, &err);
    if (!body) {
        if (errno != EINVAL || !err.text [0])
            abort ();
    }
    else {
        json_t *json = fy_json_loadb (body, len, NULL);
        json_t *sent = json_object_get (json, "message");
        const char *got = json_string_value (json_object_get (sent, "token"));
        if (!got || strcmp (got, token) != 0
            || (title
                && strcmp (s_at (json, "notification", "title"), title) != 0)
            || (text && strcmp (s_at (json, "notification", "body"), text) != 0)
            || (key && strcmp (s_at (json, "data", key), value) != 0))
            abort ();
        json_decref (json);
        free (body);
    }
    free (token);
    free (title);
    free (text);
    free (key);
    free (value);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int mode = data [0] % 5;
    int status = data [1] % 2 ? 400 + data [1] % 30 : 500 + data [1] % 5;
    size -= 2;
    char *input = malloc (size ? size : 1);
    memcpy (input, data + 2, size);
    if (mode == 0)
        s_send_answer (200, input, size);
    else if (mode == 1)
        s_send_answer (status, input, size);
    else if (mode == 2)
        s_token_answer (200, input, size);
    else if (mode == 3)
        s_token_answer (400, input, size);
    else
        s_body (input, size);
    free (input);
    return 0;
}
