/*  ferry-broker keeps its memory bounded when a service is slow: a worker
    that ACKs 64 events a second, a publisher that tries to push 1,000,000
    events as fast as its credit allows. Bounded memory means the
    publisher waits, so for 20 s this samples the broker's VmRSS every
    100 ms and asserts it stays under 64 MiB with broker.capacity=20000,
    and that the publisher never has more than client_credit events
    unanswered. It asserts memory and credit, not completion. */
#include "ferry/ferry.h"
#include "proc.h"

#include <errno.h>

#define S_CAPACITY 20000
#define S_BOUND_KIB (64 * 1024)
#define S_EVENTS 1000000
#define S_PUSH_MS 20000

static char s_dir [] = "/tmp/ferry-rss-XXXXXX";

typedef struct {
    uint64_t published, acked, nacked, resets;
} s_counts_t;

static void
s_on_ack (fy_client_t *client, uint64_t seq, void *arg)
{
    (void) client;
    (void) seq;
    ((s_counts_t *) arg)->acked++;
}

static void
s_on_nack (fy_client_t *client, uint64_t seq, bool retryable,
           const char *reason, void *arg)
{
    (void) client;
    (void) seq;
    s_counts_t *counts = arg;
    if (counts->nacked++ == 0)
        diag ("NACK retryable=%d %s", retryable, reason);
}

//  A new session voids every unanswered seq, which would void the
//  outstanding count too: the test counts resets and expects none.
static void
s_on_reset (fy_client_t *client, void *arg)
{
    (void) client;
    ((s_counts_t *) arg)->resets++;
}

int
main (void)
{
    plan (NO_PLAN);
    if (!mkdtemp (s_dir))
        BAIL_OUT ("mkdtemp");
    char log [300];
    proc_broker_at_t at = proc_broker_at (s_dir);
    snprintf (log, sizeof log, "%s/slow.log", s_dir);
    char capacity [64], credit [64];
    snprintf (capacity, sizeof capacity, "broker.capacity=%d", S_CAPACITY);
    snprintf (credit, sizeof credit, "broker.client_credit=%d", S_CAPACITY);
    //  Under AddressSanitizer, freed memory waits in a quarantine of up to
    //  256 MiB that is ASan's, not the broker's; without it the broker's
    //  own memory (with ASan's redzones and shadow) is what is measured.
    //  Other ASAN_OPTIONS are kept; the last setting of a flag wins.
    const char *asan = getenv ("ASAN_OPTIONS");
    char *options = fy_xasprintf ("%s%squarantine_size_mb=0:"
                                  "thread_local_quarantine_size_kb=0",
                                  asan ? asan : "", asan ? ":" : "");
    setenv ("ASAN_OPTIONS", options, 1);
    free (options);
    pid_t broker = proc_start (
        "broker/ferry-broker", "--set", at.set, "--set", capacity, "--set",
        credit, "--set", "broker.routes=audit:*", "--set",
        "broker.stop_timeout_ms=0", "--set", "log.level=warn", "--set",
        "http.enabled=false", "--set", "broker.heartbeat_ms=100", NULL);
    //  test_worker holds 64 and ACKs what it holds once a second.
    pid_t slow = proc_start ("tests/integration/test_worker", at.endpoint,
                             "audit", "slow:1000", log, NULL);

    fy_error_t err = { "" };
    fy_client_t *client = fy_client_new (at.endpoint, "rss", &err);
    if (!client)
        BAIL_OUT ("client: %s", err.text);
    s_counts_t counts = { 0 };
    fy_client_handlers_t handlers = {
        .ack = s_on_ack, .nack = s_on_nack, .reset = s_on_reset, .arg = &counts
    };
    fy_client_set_handlers (client, &handlers);
    fy_client_set_heartbeat (client, 100, 3);
    int64_t until = fy_clock_mono_ms () + 5000;
    while (fy_client_credit (client) == 0 && fy_clock_mono_ms () < until)
        fy_client_wait (client, 10);
    is_int (fy_client_credit (client), S_CAPACITY,
            "HELLO is granted client_credit");
    long start_kib = proc_status_kib (broker, "VmRSS");
    ok (start_kib > 0, "broker VmRSS at start: %ld KiB", start_kib);

    char id [FY_UUID_SIZE];
    size_t size;
    char *event = proc_event_packed ("user.login", 200, id, &size);
    long max_kib = start_kib;
    size_t samples = 0;
    uint64_t max_outstanding = 0;
    int64_t next_sample = fy_clock_mono_ms ();
    int64_t end = next_sample + S_PUSH_MS;
    int64_t now;
    while ((now = fy_clock_mono_ms ()) < end && counts.published < S_EVENTS) {
        if (now >= next_sample) {
            long kib = proc_status_kib (broker, "VmRSS");
            if (kib < 0)
                break;
            max_kib = kib > max_kib ? kib : max_kib;
            samples++;
            next_sample += 100;
        }
        while (fy_client_credit (client) > 0 && counts.published < S_EVENTS) {
            if (fy_client_publish_raw (client, id, "user.login", event, size,
                                       NULL))
                BAIL_OUT ("publish: %s", strerror (errno));
            counts.published++;
            uint64_t outstanding =
                counts.published - counts.acked - counts.nacked;
            if (outstanding > max_outstanding)
                max_outstanding = outstanding;
        }
        int64_t wait = next_sample - fy_clock_mono_ms ();
        fy_client_wait (client, wait < 1 ? 1 : (int) wait);
    }
    diag ("%llu published, %llu ACKed in %d s; broker VmRSS %ld KiB at "
          "start, %ld KiB at most (%zu samples)",
          (unsigned long long) counts.published,
          (unsigned long long) counts.acked, S_PUSH_MS / 1000, start_kib,
          max_kib, samples);
    ok (samples >= S_PUSH_MS / 100 * 9 / 10,
        "VmRSS sampled every 100 ms "
        "while the broker ran (%zu samples)",
        samples);
    ok (max_kib < S_BOUND_KIB,
        "broker VmRSS stayed under %d MiB "
        "(%ld KiB at most)",
        S_BOUND_KIB / 1024, max_kib);
    ok (max_outstanding <= S_CAPACITY,
        "outstanding never exceeded "
        "client_credit (%llu at most)",
        (unsigned long long) max_outstanding);
    is_int (max_outstanding, S_CAPACITY, "the publisher did fill its credit");
    ok (counts.acked > 0 && counts.published > S_CAPACITY,
        "credit came back as the slow worker ACKed");
    ok (counts.published < S_EVENTS, "the publisher was held back");
    is_int (counts.nacked, 0, "no NACK (never beyond credit)");
    is_int (counts.resets, 0, "one session throughout");

    fy_client_destroy (&client);
    free (event);
    proc_stop (slow, SIGTERM);
    int status = proc_stop (broker, SIGTERM);
    ok (WIFEXITED (status) && WEXITSTATUS (status) == 0,
        "broker exits 0 with %d events in flight", S_CAPACITY);
    char command [300];
    snprintf (command, sizeof command, "rm -rf %s", s_dir);
    if (system (command))
        diag ("could not remove %s", s_dir);
    return done_testing ();
}
