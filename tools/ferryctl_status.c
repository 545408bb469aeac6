/*  ferryctl status: what the broker says about itself on GET
    /admin/status, as a table for a person or as the JSON document for a
    program. Every field is optional to the table: a broker older or newer
    than this ferryctl still prints, with "-" where a value is missing. */
#include "ferryctl.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Names are printed at least this wide, so small setups line up too.
#define S_NAME_MIN 16

//  Print one table row without the padding of its empty last columns.
static void
s_row (const char *format, ...) FY_PRINTF (1, 2);
static void
s_row (const char *format, ...)
{
    char line [512];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof line, format, args);
    va_end (args);
    size_t len = strlen (line);
    while (len > 0 && line [len - 1] == ' ')
        line [--len] = 0;
    puts (line);
}

//  An integer field as text, or "-" when absent or not an integer.
static const char *
s_int (json_t *object, const char *key, char *buffer, size_t size)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_integer (value))
        return "-";
    snprintf (buffer, size, "%lld", (long long) json_integer_value (value));
    return buffer;
}

//  An idle time in ms as "120ms", "4.2s" or "3m10s".
static const char *
s_idle (json_t *object, char *buffer, size_t size)
{
    json_t *value = json_object_get (object, "idle_ms");
    if (!json_is_integer (value))
        return "-";
    long long ms = (long long) json_integer_value (value);
    if (ms < 1000)
        snprintf (buffer, size, "%lldms", ms);
    else if (ms < 60000)
        snprintf (buffer, size, "%lld.%llds", ms / 1000, ms % 1000 / 100);
    else
        snprintf (buffer, size, "%lldm%llds", ms / 60000, ms % 60000 / 1000);
    return buffer;
}

static const char *
s_name (json_t *object, char *buffer, size_t size)
{
    const char *name = json_string_value (json_object_get (object, "name"));
    ferryctl_printable (name ? name : "?", buffer, size);
    return buffer;
}

//  The widest name among the services, their workers and the clients.
static int
s_name_width (json_t *root)
{
    size_t width = S_NAME_MIN;
    size_t index;
    json_t *service, *worker, *client;
    json_array_foreach (json_object_get (root, "services"), index, service)
    {
        const char *name =
            json_string_value (json_object_get (service, "name"));
        if (name && strlen (name) > width)
            width = strlen (name);
        size_t w;
        json_array_foreach (json_object_get (service, "workers_detail"), w,
                            worker)
        {
            name = json_string_value (json_object_get (worker, "name"));
            if (name && strlen (name) + 2 > width)
                width = strlen (name) + 2;
        }
    }
    json_array_foreach (json_object_get (root, "clients"), index, client)
    {
        const char *name = json_string_value (json_object_get (client, "name"));
        if (name && strlen (name) > width)
            width = strlen (name);
    }
    return width > 64 ? 64 : (int) width;
}

static void
s_print_broker (json_t *broker)
{
    char a [32], b [32];
    char endpoint [256];
    const char *text = json_string_value (json_object_get (broker, "endpoint"));
    ferryctl_printable (text ? text : "-", endpoint, sizeof endpoint);
    json_t *uptime = json_object_get (broker, "uptime_s");
    char uptime_text [64] = "-";
    if (json_is_integer (uptime)) {
        long long s = (long long) json_integer_value (uptime);
        int at = s < 86400 ? 0
                           : snprintf (uptime_text, sizeof uptime_text,
                                       "%lldd ", s / 86400);
        snprintf (uptime_text + at, sizeof uptime_text - (size_t) at,
                  "%02lld:%02lld:%02lld", s % 86400 / 3600, s % 3600 / 60,
                  s % 60);
    }
    json_t *draining = json_object_get (broker, "draining");
    printf ("broker      %s\n", endpoint);
    printf ("uptime      %s\n", uptime_text);
    printf ("draining    %s\n", !json_is_boolean (draining) ? "-"
                                : json_is_true (draining)   ? "yes"
                                                            : "no");
    printf ("unfinished  %s of %s\n", s_int (broker, "unfinished", a, sizeof a),
            s_int (broker, "capacity", b, sizeof b));
    printf ("credit out  %s\n",
            s_int (broker, "outstanding_credit", a, sizeof a));
}

static void
s_print_services (json_t *services, int width)
{
    char name [128], workers [32], credit [32], held [32], queued [32],
        requests [32], idle [32];
    putchar ('\n');
    s_row ("%-*s %8s %8s %8s %8s %9s %8s", width, "SERVICE / WORKER", "WORKERS",
           "CREDIT", "HELD", "QUEUED", "REQUESTS", "IDLE");
    size_t index;
    json_t *service;
    json_array_foreach (services, index, service)
    {
        s_row ("%-*s %8s %8s %8s %8s %9s %8s", width,
               s_name (service, name, sizeof name),
               s_int (service, "workers", workers, sizeof workers), "",
               s_int (service, "held", held, sizeof held),
               s_int (service, "queued", queued, sizeof queued),
               s_int (service, "requests_queued", requests, sizeof requests),
               "");
        size_t w;
        json_t *worker;
        json_array_foreach (json_object_get (service, "workers_detail"), w,
                            worker)
        {
            s_row ("  %-*s %8s %8s %8s %8s %9s %8s", width - 2,
                   s_name (worker, name, sizeof name), "",
                   s_int (worker, "credit", credit, sizeof credit),
                   s_int (worker, "held", held, sizeof held), "", "",
                   s_idle (worker, idle, sizeof idle));
        }
    }
    if (json_array_size (services) == 0)
        printf ("(no service)\n");
}

static void
s_print_clients (json_t *clients, int width)
{
    char name [128], credit [32], unfinished [32], idle [32];
    putchar ('\n');
    s_row ("%-*s %8s %10s %8s", width, "CLIENT", "CREDIT", "UNFINISHED",
           "IDLE");
    size_t index;
    json_t *client;
    json_array_foreach (clients, index, client)
        s_row ("%-*s %8s %10s %8s", width, s_name (client, name, sizeof name),
               s_int (client, "credit", credit, sizeof credit),
               s_int (client, "unfinished", unfinished, sizeof unfinished),
               s_idle (client, idle, sizeof idle));
    if (json_array_size (clients) == 0)
        printf ("(no client)\n");
}

//  http://127.0.0.1:PORT, with the port of the http section once the
//  broker has one (the key table is looked up, not assumed).
static char *
s_default_url (ferryctl_t *ctl)
{
    int64_t port = 8080;
    if (fy_cfg_key_find ("http", "port"))
        port = fy_cfg_int (ctl->cfg, "http", "port");
    return fy_xasprintf ("http://127.0.0.1:%lld", (long long) port);
}

static const char *
s_default_token (ferryctl_t *ctl)
{
    if (fy_cfg_key_find ("http", "admin_token"))
        return fy_cfg_str (ctl->cfg, "http", "admin_token");
    return getenv ("FERRY_HTTP_ADMIN_TOKEN");
}

int
ferryctl_status (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "url", required_argument, NULL, 'u' },
        { "token", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { NULL, 0, NULL, 0 }
    };
    const char *url = NULL;
    const char *token = s_default_token (ctl);
    bool as_json = false;
    optind = 1;
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "", options, NULL))
           != -1) {
        if (opt == 'u')
            url = optarg;
        else if (opt == 't')
            token = optarg;
        else if (opt == 'j')
            as_json = true;
        else
            break;
    }
    if (opt != -1 || optind < ctl->argc) {
        fprintf (stderr, "usage: ferryctl status [--url URL] [--token TOKEN] "
                         "[--json]\n");
        return FERRYCTL_USAGE;
    }
    char *base = url ? fy_xstrdup (url) : s_default_url (ctl);
    size_t len = strlen (base);
    while (len > 0 && base [len - 1] == '/')
        base [--len] = 0;
    char *full = fy_xasprintf ("%s/admin/status", base);
    int rc = FERRYCTL_FAILED;
    json_t *root = NULL;
    ferryctl_http_t *http = ferryctl_http_new (token, 10000);
    if (!http) {
        fprintf (stderr, "ferryctl status: libcurl did not start\n");
        goto out;
    }
    long status = 0;
    fy_error_t err = { "" };
    if (ferryctl_http_request (http, full, NULL, 0, &status, &err)) {
        fprintf (stderr, "ferryctl status: %s\n", err.text);
        goto out;
    }
    if (status != 200) {
        ferryctl_http_print_error (http, stderr, "ferryctl status", status);
        goto out;
    }
    json_error_t error;
    root = json_loads (ferryctl_http_body (http), 0, &error);
    if (!json_is_object (root)) {
        fprintf (stderr, "ferryctl status: %s: not a JSON object: %s\n", full,
                 root ? "other JSON" : error.text);
        goto out;
    }
    if (as_json) {
        char *text = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
        puts (text);
        free (text);
    }
    else {
        int width = s_name_width (root);
        s_print_broker (json_object_get (root, "broker"));
        s_print_services (json_object_get (root, "services"), width);
        s_print_clients (json_object_get (root, "clients"), width);
    }
    rc = FERRYCTL_OK;
out:
    json_decref (root);
    ferryctl_http_destroy (&http);
    free (full);
    free (base);
    return rc;
}
