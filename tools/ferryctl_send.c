/*  ferryctl send: publish NDJSON events (one event JSON per line) from a
    file or stdin, each checked first exactly as ferryctl validate checks
    one. Three modes, one function each: to the broker over FERRY1
    (fy_client, within the credit it grants, waiting for every ACK or
    NACK), to its HTTP endpoint (POST /events, one kept-alive connection),
    or to an SQS queue as the monolith sends them (fy_sqs_producer,
    batches in flight, each message reported sent or failed). Invalid
    lines are reported and counted, never sent; the summary line on stdout
    is the same in every mode so scripts read one format. */
#include "ferryctl.h"
#include "aws/fy_sqs.h"
#include "aws/fy_sqs_producer.h"
#include "http/fy_http_client.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  How often the progress line may be redrawn, and how long one wait on
//  the broker's socket lasts between checks of the timeout.
#define S_PROGRESS_MS 100
#define S_WAIT_MS 100

//  An event read and checked, with the line it came from for messages.
typedef struct {
    fy_event_t *event;
    size_t line;
    bool published;             //  counted in sent already
    char *body;                 //  the line as read (SQS mode only)
} s_item_t;

typedef struct {
    FILE *input;
    fy_schema_t *schema;
    char *buffer;               //  getline's
    size_t capacity;
    size_t line;
    bool eof;
    bool keep_body;             //  items keep their line (SQS mode)
    size_t sent, acked, nacked, retryable, invalid;
    bool tty;                   //  stderr is a terminal: show progress
    bool progress_shown;
    int64_t progress_at;
    //  Broker mode only.
    //  seq as text -> s_item_t, unanswered. No destructor: items move
    //  between it and resend, and are freed by whoever takes them out.
    zhashx_t *pending;
    zlistx_t *resend;           //  s_item_t voided by a session reset
    int64_t heard_at;           //  last publish or answer, for the timeout
    //  SQS mode only: items sent and not yet reported (the producer's
    //  user pointers are their handles here).
    zlistx_t *outstanding;
} s_send_t;

static void
s_item_destroy (s_item_t **self_p)
{
    s_item_t *self = *self_p;
    if (!self)
        return;
    fy_event_destroy (&self->event);
    free (self->body);
    free (self);
    *self_p = NULL;
}

static void
s_item_free (void **item_p)
{
    s_item_destroy ((s_item_t **) item_p);
}

//  Take the progress line off the terminal before anything else is
//  written to stderr, so messages never land in the middle of it.
static void
s_progress_clear (s_send_t *self)
{
    if (self->progress_shown) {
        fputs ("\r\033[K", stderr);
        self->progress_shown = false;
    }
}

static void
s_progress (s_send_t *self)
{
    if (!self->tty)
        return;
    int64_t now = fy_clock_mono_ms ();
    if (now - self->progress_at < S_PROGRESS_MS)
        return;
    self->progress_at = now;
    fprintf (stderr,
             "\rline %zu: sent %zu, acked %zu, nacked %zu, "
             "invalid %zu",
             self->line, self->sent, self->acked, self->nacked, self->invalid);
    self->progress_shown = true;
}

//  The next valid event of the input, or NULL at its end. Blank lines
//  are skipped; invalid ones are reported and counted.
static s_item_t *
s_read_next (s_send_t *self)
{
    while (!self->eof) {
        ssize_t len = getline (&self->buffer, &self->capacity, self->input);
        if (len < 0) {
            if (ferror (self->input)) {
                s_progress_clear (self);
                fprintf (stderr,
                         "ferryctl send: read error after line "
                         "%zu: %s\n",
                         self->line, strerror (errno));
                self->invalid++;
            }
            self->eof = true;
            break;
        }
        self->line++;
        while (len > 0
               && (self->buffer [len - 1] == '\n'
                   || self->buffer [len - 1] == '\r'))
            self->buffer [--len] = 0;
        if (strspn (self->buffer, " \t") == (size_t) len)
            continue;
        fy_error_t err = { "" };
        fy_event_t *event = fy_event_decode_json (self->buffer, (size_t) len,
                                                  self->schema, &err);
        if (!event) {
            s_progress_clear (self);
            fprintf (stderr, "line %zu: invalid (%s): %s\n", self->line,
                     fy_event_reason (errno), err.text);
            self->invalid++;
            continue;
        }
        s_item_t *item = fy_xcalloc (1, sizeof *item);
        item->event = event;
        item->line = self->line;
        if (self->keep_body)
            item->body = fy_xstrdup (self->buffer);
        return item;
    }
    return NULL;
}

static s_item_t *
s_take_pending (s_send_t *self, uint64_t seq)
{
    char key [32];
    snprintf (key, sizeof key, "%llu", (unsigned long long) seq);
    s_item_t *item = zhashx_lookup (self->pending, key);
    if (item) {
        zhashx_delete (self->pending, key);
        self->heard_at = fy_clock_mono_ms ();
    }
    return item;
}

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    s_send_t *self = arg;
    s_item_t *item = s_take_pending (self, seq);
    if (!item)
        return;                 //  a seq of a session since reset
    self->acked++;
    s_item_destroy (&item);
}

static void
s_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
           const char *reason, void *arg)
{
    (void) client;
    s_send_t *self = arg;
    s_item_t *item = s_take_pending (self, seq);
    if (!item)
        return;
    self->nacked++;
    self->retryable += retryable;
    char shown [256];
    ferryctl_printable (reason, shown, sizeof shown);
    s_progress_clear (self);
    fprintf (stderr, "line %zu: event %s nacked (%s): %s\n", item->line,
             fy_event_id (item->event), retryable ? "retryable" : "permanent",
             shown);
    s_item_destroy (&item);
}

//  The broker forgot every unanswered event: publish them again, which
//  ferry's at-least-once delivery allows.
static void
s_on_reset (fy_client_t *client, void *arg)
{
    (void) client;
    s_send_t *self = arg;
    for (s_item_t *item = zhashx_first (self->pending); item;
         item = zhashx_next (self->pending))
        zlistx_add_end (self->resend, item);
    zhashx_purge (self->pending);
}

//  The broker's bind address as one to connect to: "*" and 0.0.0.0
//  listen everywhere, and this host is one of those places.
static char *
s_connect_endpoint (const char *endpoint)
{
    static const char *wildcards [] = { "tcp://*:", "tcp://0.0.0.0:" };
    for (size_t i = 0; i < sizeof wildcards / sizeof wildcards [0]; i++) {
        size_t len = strlen (wildcards [i]);
        if (strncmp (endpoint, wildcards [i], len) == 0)
            return fy_xasprintf ("tcp://127.0.0.1:%s", endpoint + len);
    }
    return fy_xstrdup (endpoint);
}

static int
s_send_broker (s_send_t *self, ferryctl_t *ctl, const char *endpoint,
               int64_t timeout_ms)
{
    char *connect = s_connect_endpoint (endpoint);
    char name [64];
    snprintf (name, sizeof name, "ferryctl-%d", (int) getpid ());
    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (connect, name, &err);
    if (!client) {
        fprintf (stderr, "ferryctl send: %s: %s\n", connect, err.text);
        free (connect);
        return FERRYCTL_USAGE;
    }
    //  The broker's own settings, so a shared ferry.cfg keeps both ends
    //  agreeing on when the other is dead.
    fy_client_set_heartbeat (client,
                             fy_cfg_int (ctl->cfg, "broker", "heartbeat_ms"),
                             fy_cfg_int (ctl->cfg, "broker", "liveness"));
    fy_client_handlers_t handlers = {
        .ack = s_on_ack, .nack = s_on_nack, .reset = s_on_reset, .arg = self
    };
    fy_client_set_handlers (client, &handlers);
    self->pending = zhashx_new ();
    self->resend = zlistx_new ();
    zlistx_set_destructor (self->resend, s_item_free);
    self->heard_at = fy_clock_mono_ms ();
    bool timed_out = false;
    while (true) {
        while (fy_client_credit (client) > 0) {
            s_item_t *item = zlistx_first (self->resend);
            if (item)
                zlistx_detach_cur (self->resend);
            else
                item = s_read_next (self);
            if (!item)
                break;
            uint64_t seq;
            if (fy_client_publish (client, item->event, &seq)) {
                s_progress_clear (self);
                fprintf (stderr, "line %zu: event %s not published: %s\n",
                         item->line, fy_event_id (item->event),
                         strerror (errno));
                self->invalid++;
                s_item_destroy (&item);
                continue;
            }
            if (!item->published)
                self->sent++;
            item->published = true;
            char key [32];
            snprintf (key, sizeof key, "%llu", (unsigned long long) seq);
            zhashx_update (self->pending, key, item);
            self->heard_at = fy_clock_mono_ms ();
        }
        if (self->eof && zlistx_size (self->resend) == 0
            && zhashx_size (self->pending) == 0)
            break;
        if (fy_clock_mono_ms () - self->heard_at >= timeout_ms) {
            timed_out = true;
            break;
        }
        if (fy_client_wait (client, S_WAIT_MS) && errno != EINTR) {
            s_progress_clear (self);
            fprintf (stderr, "ferryctl send: %s: %s\n", connect,
                     zmq_strerror (errno));
            break;
        }
        s_progress (self);
    }
    s_progress_clear (self);
    if (timed_out) {
        size_t waiting =
            zhashx_size (self->pending) + zlistx_size (self->resend);
        fprintf (stderr,
                 "ferryctl send: nothing heard from %s for %lld ms: "
                 "%zu events unanswered%s\n",
                 connect, (long long) timeout_ms, waiting,
                 self->eof ? "" : ", the rest of the input unread");
    }
    fy_client_destroy (&client);
    for (s_item_t *item = zhashx_first (self->pending); item;
         item = zhashx_next (self->pending))
        s_item_destroy (&item);
    zhashx_destroy (&self->pending);
    zlistx_destroy (&self->resend);
    free (connect);
    return timed_out ? FERRYCTL_FAILED : FERRYCTL_OK;
}

//  HTTP statuses worth sending again later: throttled or a server fault.
static bool
s_is_retryable (long status)
{
    return status == 429 || status >= 500;
}

static int
s_send_http (s_send_t *self, const char *base, const char *token,
             int64_t timeout_ms)
{
    ferryctl_http_t *http = ferryctl_http_new (token, timeout_ms);
    if (!http) {
        fprintf (stderr, "ferryctl send: libcurl did not start\n");
        return FERRYCTL_FAILED;
    }
    size_t len = strlen (base);
    while (len > 0 && base [len - 1] == '/')
        len--;
    char *url = fy_xasprintf ("%.*s/events", (int) len, base);
    int rc = FERRYCTL_OK;
    s_item_t *item;
    while ((item = s_read_next (self))) {
        //  The event as decoded, not the line: an SNS envelope is
        //  unwrapped, and what the broker gets is what validate prints.
        char *json = fy_event_encode_json (item->event);
        long status = 0;
        fy_error_t err = { "" };
        int sent = ferryctl_http_request (http, url, json, strlen (json),
                                          &status, &err);
        free (json);
        if (sent) {
            s_progress_clear (self);
            fprintf (stderr, "ferryctl send: line %zu: %s\n", item->line,
                     err.text);
            s_item_destroy (&item);
            rc = FERRYCTL_FAILED;
            break;
        }
        self->sent++;
        if (status == 202)
            self->acked++;
        else {
            self->nacked++;
            self->retryable += s_is_retryable (status);
            char prefix [128];
            snprintf (prefix, sizeof prefix, "line %zu: event %s", item->line,
                      fy_event_id (item->event));
            s_progress_clear (self);
            ferryctl_http_print_error (http, stderr, prefix, status);
        }
        s_item_destroy (&item);
        s_progress (self);
    }
    s_progress_clear (self);
    free (url);
    ferryctl_http_destroy (&http);
    return rc;
}

//  One message reported by the producer: it went or failed for good.
static void
s_on_sqs_report (const fy_sqs_report_t *report, void *user, void *arg)
{
    s_send_t *self = arg;
    s_item_t *item = zlistx_handle_item (user);
    self->heard_at = fy_clock_mono_ms ();
    if (report->ok)
        self->acked++;
    else {
        self->nacked++;
        self->retryable += report->retryable;
        char shown [256];
        ferryctl_printable (report->message ? report->message : "", shown,
                            sizeof shown);
        s_progress_clear (self);
        fprintf (stderr, "line %zu: event %s not sent (%s): %s: %s\n",
                 item->line, fy_event_id (item->event),
                 report->retryable ? "retryable" : "permanent",
                 report->code ? report->code : "?", shown);
    }
    zlistx_delete (self->outstanding, user);
}

//  The message for an event line. A FIFO queue orders by company (events
//  of one company stay in order, companies go in parallel) and drops a
//  repeated event id within SQS's five-minute window.
static fy_sqs_send_t
s_sqs_message (s_item_t *item, bool fifo)
{
    fy_sqs_send_t msg = { .body = item->body };
    if (fifo) {
        const char *company = fy_event_company_id (item->event);
        msg.group_id = company && *company ? company : "ferry";
        msg.dedup_id = fy_event_id (item->event);
    }
    return msg;
}

static int
s_send_sqs (s_send_t *self, const char *queue_url, int64_t timeout_ms)
{
    fy_error_t err = { "" };
    ferryctl_sqs_t *aws = ferryctl_sqs_new (&err);
    if (!aws) {
        fprintf (stderr, "ferryctl send: %s\n", err.text);
        return FERRYCTL_USAGE;
    }
    fy_sqs_producer_options_t options;
    fy_sqs_producer_options_default (&options);
    options.give_up_ms = timeout_ms;
    options.report = s_on_sqs_report;
    options.arg = self;
    fy_sqs_producer_t *producer =
        fy_sqs_producer_new (aws->sqs, aws->http, queue_url, &options, &err);
    if (!producer) {
        fprintf (stderr, "ferryctl send: %s\n", err.text);
        ferryctl_sqs_destroy (&aws);
        return FERRYCTL_USAGE;
    }
    size_t len = strlen (queue_url);
    bool fifo = len > 5 && strcmp (queue_url + len - 5, ".fifo") == 0;
    self->outstanding = zlistx_new ();
    zlistx_set_destructor (self->outstanding, s_item_free);
    self->heard_at = fy_clock_mono_ms ();
    bool timed_out = false;
    //  An item the producer had no room for yet (by bytes), sent first.
    s_item_t *held = NULL;
    while (true) {
        while (fy_sqs_producer_room (producer) > 0) {
            if (!held)
                held = s_read_next (self);
            if (!held)
                break;
            void *handle = zlistx_add_end (self->outstanding, held);
            fy_sqs_send_t msg = s_sqs_message (held, fifo);
            if (fy_sqs_producer_send (producer, &msg, handle, &err) == 0) {
                held = NULL;
                self->sent++;
                self->heard_at = fy_clock_mono_ms ();
                continue;
            }
            zlistx_detach (self->outstanding, handle);
            if (errno == EAGAIN)
                break;
            s_progress_clear (self);
            fprintf (stderr, "line %zu: event %s not sent: %s\n", held->line,
                     fy_event_id (held->event), err.text);
            self->invalid++;
            s_item_destroy (&held);
        }
        if (self->eof && !held && fy_sqs_producer_pending (producer) == 0)
            break;
        if (self->eof)
            fy_sqs_producer_flush (producer);
        if (fy_clock_mono_ms () - self->heard_at >= timeout_ms) {
            timed_out = true;
            break;
        }
        if (fy_http_client_wait (aws->http, S_WAIT_MS) && errno != EINTR) {
            s_progress_clear (self);
            fprintf (stderr, "ferryctl send: %s\n", strerror (errno));
            break;
        }
        s_progress (self);
    }
    s_item_destroy (&held);
    s_progress_clear (self);
    if (timed_out)
        fprintf (stderr,
                 "ferryctl send: nothing heard from SQS for %lld ms: "
                 "%zu events unanswered%s\n",
                 (long long) timeout_ms, fy_sqs_producer_pending (producer),
                 self->eof ? "" : ", the rest of the input unread");
    fy_sqs_producer_destroy (&producer);
    zlistx_destroy (&self->outstanding);
    ferryctl_sqs_destroy (&aws);
    return timed_out ? FERRYCTL_FAILED : FERRYCTL_OK;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: ferryctl send [--broker ENDPOINT | --http URL | "
                     "--sqs[=QUEUE_URL]]\n"
                     "                     [--token TOKEN] [--timeout-ms MS] "
                     "[--schema PATH] [FILE]\n");
    return FERRYCTL_USAGE;
}

int
ferryctl_send (ferryctl_t *ctl)
{
    static const struct option options [] = {
        { "broker", required_argument, NULL, 'b' },
        { "http", required_argument, NULL, 'u' },
        { "sqs", optional_argument, NULL, 'q' },
        { "token", required_argument, NULL, 't' },
        { "timeout-ms", required_argument, NULL, 'w' },
        { "schema", required_argument, NULL, 's' },
        { NULL, 0, NULL, 0 }
    };
    const char *endpoint = fy_cfg_str (ctl->cfg, "broker", "endpoint");
    const char *schema_path = fy_cfg_str (ctl->cfg, "events", "schema");
    const char *http_url = NULL;
    const char *token = getenv ("FERRY_TOKEN");
    int64_t timeout_ms = 30000;
    bool broker_given = false;
    bool sqs = false;
    const char *queue_url = ferryctl_sqs_env ("SQS_QUEUE_URL");
    optind = 0;  //  0: glibc starts afresh, permutation included
    int opt;
    while ((opt = getopt_long (ctl->argc, ctl->argv, "", options, NULL))
           != -1) {
        switch (opt) {
            case 'b':
                endpoint = optarg;
                broker_given = true;
                break;
            case 'u':
                http_url = optarg;
                break;
            case 'q':
                //  "--sqs URL" as well as "--sqs=URL": a file is never
                //  named like a URL.
                sqs = true;
                if (optarg)
                    queue_url = optarg;
                else if (optind < ctl->argc
                         && (strncmp (ctl->argv [optind], "http://", 7) == 0
                             || strncmp (ctl->argv [optind], "https://", 8)
                                    == 0))
                    queue_url = ctl->argv [optind++];
                break;
            case 't':
                token = optarg;
                break;
            case 'w':
                if (fy_parse_int64 (optarg, 1, 86400000, &timeout_ms)) {
                    fprintf (stderr,
                             "ferryctl send: --timeout-ms: '%s' is "
                             "not 1..86400000\n",
                             optarg);
                    return FERRYCTL_USAGE;
                }
                break;
            case 's':
                schema_path = optarg;
                break;
            default:
                return s_usage ();
        }
    }
    if (broker_given + (http_url != NULL) + sqs > 1) {
        fprintf (stderr, "ferryctl send: --broker, --http and --sqs exclude "
                         "each other\n");
        return s_usage ();
    }
    if (sqs && (!queue_url || !*queue_url)) {
        fprintf (stderr, "ferryctl send: --sqs: no queue URL (give one or "
                         "set SQS_QUEUE_URL)\n");
        return FERRYCTL_USAGE;
    }
    if (ctl->argc - optind > 1)
        return s_usage ();
    const char *path = optind < ctl->argc ? ctl->argv [optind] : "-";
    s_send_t self = { .tty = isatty (STDERR_FILENO) == 1, .keep_body = sqs };
    fy_error_t err = { "" };
    self.schema = fy_schema_load (schema_path, &err);
    if (!self.schema) {
        fprintf (stderr, "ferryctl send: schema %s: %s\n", schema_path,
                 err.text);
        return FERRYCTL_USAGE;
    }
    self.input = strcmp (path, "-") == 0 ? stdin : fopen (path, "r");
    if (!self.input) {
        fprintf (stderr, "ferryctl send: %s: %s\n", path, strerror (errno));
        fy_schema_destroy (&self.schema);
        return FERRYCTL_USAGE;
    }
    int rc = sqs        ? s_send_sqs (&self, queue_url, timeout_ms)
             : http_url ? s_send_http (&self, http_url, token, timeout_ms)
                        : s_send_broker (&self, ctl, endpoint, timeout_ms);
    if (rc != FERRYCTL_USAGE) {
        printf ("sent %zu, acked %zu, nacked %zu (retryable %zu), "
                "invalid %zu\n",
                self.sent, self.acked, self.nacked, self.retryable,
                self.invalid);
        if (self.acked != self.sent || self.invalid > 0)
            rc = FERRYCTL_FAILED;
    }
    if (self.input != stdin)
        fclose (self.input);
    free (self.buffer);
    fy_schema_destroy (&self.schema);
    return rc;
}
