/*  ferryctl's HTTP client: one libcurl easy handle re-used for every
    request, so a run of POSTs travels over one kept-alive connection. The
    reply body is collected in memory (bounded) for the caller to read,
    and the bearer token, when there is one, goes on every request. */
#include "ferryctl.h"

#include <assert.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Far above any status document or error body; a peer that sends more
//  is not the broker.
#define S_BODY_MAX (16 * 1024 * 1024)

struct ferryctl_http {
    CURL *curl;
    struct curl_slist *headers;
    char *body;
    size_t size;
    bool overflow;
};

static size_t
s_collect (char *data, size_t size, size_t count, void *arg)
{
    ferryctl_http_t *self = arg;
    size_t len = size * count;
    if (self->size + len > S_BODY_MAX) {
        self->overflow = true;
        return 0;               //  makes curl fail with CURLE_WRITE_ERROR
    }
    self->body = fy_xrealloc (self->body, self->size + len + 1);
    memcpy (self->body + self->size, data, len);
    self->size += len;
    self->body [self->size] = 0;
    return len;
}

ferryctl_http_t *
ferryctl_http_new (const char *token, int64_t timeout_ms)
{
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    ferryctl_http_t *self = fy_xcalloc (1, sizeof *self);
    self->curl = curl_easy_init ();
    if (!self->curl) {
        ferryctl_http_destroy (&self);
        return NULL;
    }
    //  Content-Type goes on GETs too, where it is harmless: one list.
    self->headers = curl_slist_append (NULL, "Accept: application/json");
    self->headers =
        curl_slist_append (self->headers, "Content-Type: application/json");
    if (token && *token) {
        char *line = fy_xasprintf ("Authorization: Bearer %s", token);
        self->headers = curl_slist_append (self->headers, line);
        free (line);
    }
    CURL *curl = self->curl;
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, self);
    curl_easy_setopt (curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, (long) timeout_ms);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_USERAGENT, "ferryctl/" PACKAGE_VERSION);
    //  The token must not follow a redirect to another host.
    curl_easy_setopt (curl, CURLOPT_FOLLOWLOCATION, 0L);
    return self;
}

void
ferryctl_http_destroy (ferryctl_http_t **self_p)
{
    assert (self_p);
    ferryctl_http_t *self = *self_p;
    if (!self)
        return;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    curl_slist_free_all (self->headers);
    free (self->body);
    free (self);
    curl_global_cleanup ();
    *self_p = NULL;
}

int
ferryctl_http_request (ferryctl_http_t *self, const char *url, const char *body,
                       size_t len, long *status_p, fy_error_t *err)
{
    assert (self);
    assert (url);
    assert (status_p);
    free (self->body);
    self->body = NULL;
    self->size = 0;
    self->overflow = false;
    *status_p = 0;
    CURL *curl = self->curl;
    curl_easy_setopt (curl, CURLOPT_URL, url);
    if (body) {
        //  Set after the URL: a GET before would otherwise have left
        //  CURLOPT_HTTPGET in force.
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    }
    else
        curl_easy_setopt (curl, CURLOPT_HTTPGET, 1L);
    CURLcode code = curl_easy_perform (curl);
    if (code != CURLE_OK) {
        fy_error_set (err, "%s: %s", url,
                      self->overflow ? "reply body too large"
                                     : curl_easy_strerror (code));
        return -1;
    }
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, status_p);
    return 0;
}

const char *
ferryctl_http_body (ferryctl_http_t *self)
{
    assert (self);
    return self->body ? self->body : "";
}

void
ferryctl_http_print_error (ferryctl_http_t *self, FILE *out, const char *prefix,
                           long status)
{
    assert (self);
    //  The broker's errors are {"error":{"code","message"}}; anything
    //  else (a proxy's HTML page) is shown as it came, cut short.
    json_t *root = json_loads (ferryctl_http_body (self), 0, NULL);
    json_t *error = json_object_get (root, "error");
    const char *code = json_string_value (json_object_get (error, "code"));
    const char *message =
        json_string_value (json_object_get (error, "message"));
    if (code || message)
        fprintf (out, "%s: HTTP %ld: %s: %s\n", prefix, status,
                 code ? code : "error", message ? message : "");
    else {
        char shown [201];
        ferryctl_printable (ferryctl_http_body (self), shown, sizeof shown);
        fprintf (out, "%s: HTTP %ld: %s\n", prefix, status, shown);
    }
    json_decref (root);
}

void
ferryctl_printable (const char *text, char *buffer, size_t size)
{
    assert (size > 0);
    size_t at = 0;
    //  Names and bodies come from the network: control bytes would move
    //  the operator's cursor or retitle the terminal.
    for (; text && *text && at + 1 < size; text++) {
        unsigned char c = (unsigned char) *text;
        buffer [at++] = c < 0x20 || c == 0x7f ? '?' : (char) c;
    }
    buffer [at] = 0;
}
