/*  Tests for fy_metrics: the exact text of a small registry, number and
    escape forms (checked against the Prometheus docs and parser fixtures in
    $FERRY_TESTDATA/prometheus), and a registry of every kind checked by
    promtool, which must be installed: without it the test fails. */
#include "ferry/ferry.h"
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LABELS(...) ((const char *[]) { __VA_ARGS__, NULL })

static void
test_exact (void)
{
    fy_metrics_t *metrics = fy_metrics_new ();
    fy_metric_t *audit = fy_metrics_counter (metrics, "ferry_events_total",
                                             "Events routed to a service.",
                                             LABELS ("service", "audit"));
    fy_metric_t *notify = fy_metrics_counter (metrics, "ferry_events_total",
                                              "Events routed to a service.",
                                              LABELS ("service", "notify"));
    fy_metric_t *workers =
        fy_metrics_gauge (metrics, "ferry_workers", "Connected workers.", NULL);
    const double bounds [] = { 0.005, 0.1, 1 };
    fy_metric_t *latency = fy_metrics_histogram (
        metrics, "ferry_dispatch_seconds", "Time from receive to dispatch.",
        NULL, bounds, 3);
    fy_metric_t *labelled = fy_metrics_histogram (
        metrics, "ferry_dispatch_seconds", "Time from receive to dispatch.",
        LABELS ("service", "audit", "cell", "a"), bounds, 1);

    ok (audit != notify, "other labels make another series");
    ok (fy_metrics_counter (metrics, "ferry_events_total",
                            "Events routed to a service.",
                            LABELS ("service", "audit"))
            == audit,
        "same name and labels give the same series");
    ok (fy_metrics_histogram (
            metrics, "ferry_dispatch_seconds", "Time from receive to dispatch.",
            LABELS ("cell", "a", "service", "audit"), bounds, 1)
            == labelled,
        "labels in another order give the same series");

    fy_metric_inc (audit);
    fy_metric_inc (audit);
    fy_metric_add (audit, 1);
    fy_metric_add (notify, 2);
    fy_metric_set (workers, 5);
    fy_metric_add (workers, -1);
    //  Powers of two, so that the sum is exact.
    const double seen [] = { 0.00390625, 0.0625, 0.0625, 0.5, 8 };
    for (size_t index = 0; index < 5; index++)
        fy_metric_observe (latency, seen [index]);
    fy_metric_observe (labelled, 0.25);
    is_int (fy_metric_value (audit), 3, "counter value");
    is_int (fy_metric_value (workers), 4, "gauge value");
    is_int (fy_metric_value (latency), 5, "histogram value is its count");
    ok (fy_metric_sum (latency) == 8.62890625, "histogram sum");

    char *text = fy_metrics_render (metrics);
    is_str (text,
            "# HELP ferry_events_total Events routed to a service.\n"
            "# TYPE ferry_events_total counter\n"
            "ferry_events_total{service=\"audit\"} 3\n"
            "ferry_events_total{service=\"notify\"} 2\n"
            "# HELP ferry_workers Connected workers.\n"
            "# TYPE ferry_workers gauge\n"
            "ferry_workers 4\n"
            "# HELP ferry_dispatch_seconds Time from receive to dispatch.\n"
            "# TYPE ferry_dispatch_seconds histogram\n"
            "ferry_dispatch_seconds_bucket{le=\"0.005\"} 1\n"
            "ferry_dispatch_seconds_bucket{le=\"0.1\"} 3\n"
            "ferry_dispatch_seconds_bucket{le=\"1\"} 4\n"
            "ferry_dispatch_seconds_bucket{le=\"+Inf\"} 5\n"
            "ferry_dispatch_seconds_sum 8.62890625\n"
            "ferry_dispatch_seconds_count 5\n"
            "ferry_dispatch_seconds_bucket{service=\"audit\",cell=\"a\","
            "le=\"0.005\"} 0\n"
            "ferry_dispatch_seconds_bucket{service=\"audit\",cell=\"a\","
            "le=\"+Inf\"} 1\n"
            "ferry_dispatch_seconds_sum{service=\"audit\",cell=\"a\"} 0.25\n"
            "ferry_dispatch_seconds_count{service=\"audit\",cell=\"a\"} 1\n",
            "small registry renders exactly");
    free (text);
    fy_metrics_destroy (&metrics);
    ok (metrics == NULL, "destroy sets reference to NULL");
    fy_metrics_destroy (&metrics);

    metrics = fy_metrics_new ();
    text = fy_metrics_render (metrics);
    is_str (text, "", "empty registry renders nothing");
    free (text);
    fy_metrics_destroy (&metrics);
}

//  The value a gauge set to value renders as.
static void
s_check_number (double value, const char *want)
{
    fy_metrics_t *metrics = fy_metrics_new ();
    fy_metric_set (fy_metrics_gauge (metrics, "g", "g.", NULL), value);
    char *text = fy_metrics_render (metrics);
    const char *line = strstr (text, "\ng ");
    is_str (line ? line + 3 : text, want, "number %s", want);
    free (text);
    fy_metrics_destroy (&metrics);
}

static void
test_numbers (void)
{
    s_check_number (0, "0\n");
    s_check_number (-0.0, "0\n");
    s_check_number (42, "42\n");
    s_check_number (-7, "-7\n");
    s_check_number (1458255915, "1458255915\n");
    s_check_number (1e15, "1000000000000000\n");
    s_check_number (0.1, "0.1\n");
    s_check_number (-2.5, "-2.5\n");
    s_check_number (1.0 / 3, "0.3333333333333333\n");
    s_check_number (1.5e-7, "1.5e-07\n");
    s_check_number (1e300, "1e+300\n");
    s_check_number (NAN, "NaN\n");
    s_check_number (INFINITY, "+Inf\n");
    s_check_number (-INFINITY, "-Inf\n");
}

static void
test_escaping (void)
{
    fy_metrics_t *metrics = fy_metrics_new ();
    fy_metric_t *metric = fy_metrics_gauge (
        metrics, "ferry_escape", "Back\\slash, new\nline and \"quotes\".",
        LABELS ("path", "C:\\DIR\\FILE.TXT", "error",
                "Cannot find file:\n\"FILE.TXT\""));
    fy_metric_set (metric, 1);
    char *text = fy_metrics_render (metrics);
    is_str (text,
            "# HELP ferry_escape Back\\\\slash, new\\nline and \"quotes\".\n"
            "# TYPE ferry_escape gauge\n"
            "ferry_escape{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
            "file:\\n\\\"FILE.TXT\\\"\"} 1\n",
            "HELP escapes backslash and newline; label values also the quote");
    free (text);
    fy_metrics_destroy (&metrics);
}

//  The file at relative under the test data, whole. Caller owns result.
static char *
s_slurp (const char *relative)
{
    return tap_slurp (tap_testdata (relative), NULL);
}

//  The line of text starting with prefix, without its newline.
static char *
s_line (const char *text, const char *prefix)
{
    for (const char *line = text; line && *line;) {
        const char *end = strchr (line, '\n');
        size_t length = end ? (size_t) (end - line) : strlen (line);
        if (strncmp (line, prefix, strlen (prefix)) == 0)
            return fy_xstrndup (line, length);
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

//  Undo text-format escaping: \\, \" (when quote) and \n; any other
//  backslash stands for itself, as the Go parser reads it.
static char *
s_unescape (const char *text, size_t length, bool quote)
{
    char *plain = fy_xmalloc (length + 1);
    size_t used = 0;
    for (size_t index = 0; index < length; index++) {
        char c = text [index];
        char next = index + 1 < length ? text [index + 1] : '\0';
        if (c == '\\'
            && (next == '\\' || next == 'n' || (quote && next == '"'))) {
            plain [used++] = next == 'n' ? '\n' : next;
            index++;
        }
        else
            plain [used++] = c;
    }
    plain [used] = '\0';
    return plain;
}

//  True when every backslash in text starts an escape our renderer writes,
//  so that rendering the unescaped value must give text back exactly.
static bool
s_is_canonical (const char *text, size_t length, bool quote)
{
    for (size_t index = 0; index < length; index++)
        if (text [index] == '\\') {
            char next = index + 1 < length ? text [index + 1] : '\0';
            if (!(next == '\\' || next == 'n' || (quote && next == '"')))
                return false;
            index++;
        }
    return true;
}

//  The docs' example line and the 0.0.4 parser's fixtures: unescape what
//  they hold, render it, and compare.
static void
test_fixtures (void)
{
    char *doc = s_slurp ("prometheus/docs/docs/instrumenting/"
                         "exposition_formats.md");
    char *want = s_line (doc, "msdos_file_access_time_seconds{");
    ok (want != NULL, "docs: escaping example found");
    fy_metrics_t *metrics = fy_metrics_new ();
    fy_metric_set (
        fy_metrics_gauge (metrics, "msdos_file_access_time_seconds",
                          "Example from the docs.",
                          LABELS ("path", "C:\\DIR\\FILE.TXT", "error",
                                  "Cannot find file:\n\"FILE.TXT\"")),
        1.458255915e9);
    char *text = fy_metrics_render (metrics);
    char *got = s_line (text, "msdos_file_access_time_seconds{");
    const char *want_value = want ? strrchr (want, ' ') : NULL;
    const char *got_value = got ? strrchr (got, ' ') : NULL;
    ok (want_value && got_value
            && (size_t) (want_value - want) == (size_t) (got_value - got)
            && strncmp (want, got, (size_t) (want_value - want)) == 0,
        "docs: labels escaped as the docs' example");
    ok (want_value && got_value
            && strtod (want_value, NULL) == strtod (got_value, NULL),
        "docs: value 1.458255915e9 written as %s",
        got_value ? got_value + 1 : "?");
    free (want);
    free (got);
    free (text);
    free (doc);
    fy_metrics_destroy (&metrics);

    //  0.0.4's own parser fixture: a two-line HELP and an escaped label.
    char *fixture = s_slurp ("prometheus/common/expfmt/fuzz/corpus/"
                             "from_test_parse_2");
    want = s_line (fixture, "# HELP name ");
    char *labels_line = s_line (fixture, "name {labelname=\"val2\"");
    ok (want && labels_line, "expfmt: fixture lines found");
    metrics = fy_metrics_new ();
    fy_metrics_gauge (
        metrics, "name", "two-line\n doc  str\\ing",
        LABELS ("labelname", "val2", "basename", "base\"v\\al\nue"));
    text = fy_metrics_render (metrics);
    got = s_line (text, "# HELP name ");
    is_str (got, want, "expfmt: HELP escaped as the parser fixture");
    free (got);
    got = s_line (text, "name{");
    const char *want_labels = labels_line ? strchr (labels_line, '{') : NULL;
    ok (got && want_labels
            && strncmp (got + 4, want_labels, strlen (got) - 6) == 0
            && want_labels [strlen (got) - 6] == ' ',
        "expfmt: label values escaped as the parser fixture");
    free (got);
    free (labels_line);
    free (want);
    free (text);
    free (fixture);
    fy_metrics_destroy (&metrics);

    //  OpenMetrics shares 0.0.4's label escaping, and its HELP escaping but
    //  for \" (0.0.4 leaves the quote alone in HELP).
    const char *cases [] = { "label_escaping", "help_escaping" };
    for (int which = 0; which < 2; which++) {
        bool label = which == 0;
        char relative [128];
        snprintf (relative, sizeof relative,
                  "prometheus/openmetrics/tests/testdata/parsers/%s/metrics",
                  cases [which]);
        fixture = s_slurp (relative);
        int exact = 0, compared = 0;
        for (int index = 0; index < 10; index++) {
            char prefix [64];
            if (label)
                snprintf (prefix, sizeof prefix, "a%d_total{foo=\"", index);
            else
                snprintf (prefix, sizeof prefix, "# HELP a%d ", index);
            char *line = s_line (fixture, prefix);
            if (!line)
                continue;
            const char *escaped = line + strlen (prefix);
            size_t length =
                label ? (size_t) (strstr (escaped, "\",bar=") - escaped)
                      : strlen (escaped);
            char *plain = s_unescape (escaped, length, label);
            metrics = fy_metrics_new ();
            char name [32];
            snprintf (name, sizeof name, "a%d_total", index);
            fy_metrics_counter (metrics, name, label ? "help" : plain,
                                LABELS ("foo", label ? plain : "bar"));
            text = fy_metrics_render (metrics);
            char *ours = s_line (text, label ? name : "# HELP");
            const char *start =
                ours
                + (label ? strlen (name) + strlen ("{foo=\"")
                         : strlen ("# HELP ") + strlen (name) + 1);
            size_t ours_length = label
                                     ? (size_t) (strstr (start, "\"}") - start)
                                     : strlen (start);
            char *again = s_unescape (start, ours_length, label);
            compared++;
            if (strcmp (again, plain) != 0)
                diag ("%s a%d: round trip gives '%s'", cases [which], index,
                      again);
            else if (!s_is_canonical (escaped, length, label)
                     || (ours_length == length
                         && memcmp (start, escaped, length) == 0))
                exact++;
            else
                diag ("%s a%d: '%.*s' rendered '%.*s'", cases [which], index,
                      (int) length, escaped, (int) ours_length, start);
            free (again);
            free (ours);
            free (text);
            free (plain);
            free (line);
            fy_metrics_destroy (&metrics);
        }
        is_int (compared, 10, "openmetrics %s: all ten cases read",
                cases [which]);
        is_int (exact, compared,
                "openmetrics %s: each round-trips, and "
                "canonical ones render byte for byte",
                cases [which]);
        free (fixture);
    }
}

//  Run promtool check metrics on the file at path; its exit status, with
//  whatever it printed in output.
static int
s_promtool (const char *path, char *output, size_t size)
{
    char command [4200];
    snprintf (command, sizeof command, "promtool check metrics < '%s' 2>&1",
              path);
    FILE *pipe = popen (command, "r");
    if (!pipe)
        BAIL_OUT ("popen: %s", strerror (errno));
    size_t used = fread (output, 1, size - 1, pipe);
    output [used] = '\0';
    int status = pclose (pipe);
    return WIFEXITED (status) ? WEXITSTATUS (status) : 128;
}

static void
s_write_file (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    if (!file || fputs (text, file) < 0 || fclose (file) != 0)
        BAIL_OUT ("%s: %s", path, strerror (errno));
}

static void
test_promtool (void)
{
    char output [8192];
    //  The checker itself must be able to fail: a 0.0.4 parse-error
    //  fixture, and a lint problem we never write (counter sans _total).
    int status = s_promtool (tap_testdata ("prometheus/common/expfmt/fuzz/"
                                           "corpus/from_test_parse_error_3"),
                             output, sizeof output);
    ok (status != 0 && status != 127,
        "promtool rejects a broken fixture "
        "(exit %d)",
        status);
    char path [] = "/tmp/fy_metrics_XXXXXX";
    int fd = mkstemp (path);
    if (fd < 0)
        BAIL_OUT ("mkstemp: %s", strerror (errno));
    close (fd);
    s_write_file (path, "# HELP jobs Jobs.\n# TYPE jobs counter\njobs 1\n");
    status = s_promtool (path, output, sizeof output);
    ok (status == 3 && *output, "promtool flags lint (exit %d)", status);

    fy_metrics_t *metrics = fy_metrics_new ();
    const char *services [] = { "audit", "notify", "auth\\\"\n,}{=", NULL };
    const double bounds [] = { 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1,
                               0.5,    1,     5,     10,   60 };
    for (int index = 0; services [index]; index++) {
        const char **labels = LABELS ("service", services [index], "reason",
                                      "bad \"json\"\nline 2");
        fy_metric_t *events =
            fy_metrics_counter (metrics, "ferry_events_total",
                                "Events routed, by \\ service\n.", labels);
        fy_metric_t *depth =
            fy_metrics_gauge (metrics, "ferry_queue_depth",
                              "Deliveries waiting, by service.", labels);
        fy_metric_t *latency = fy_metrics_histogram (
            metrics, "ferry_ack_seconds", "Time from dispatch to ack.", labels,
            bounds, sizeof bounds / sizeof *bounds);
        //  A fixed generator: the same observations every run.
        uint32_t seed = 12345u + (uint32_t) index;
        for (int count = 0; count < 10000; count++) {
            seed = seed * 1103515245u + 12345u;
            double value = (double) (seed >> 8) / (double) (1u << 24) * 70;
            fy_metric_observe (latency, value);
            fy_metric_inc (events);
            fy_metric_set (depth, value - 35);
        }
        is_int (fy_metric_value (latency), 10000, "10000 observations");
    }
    fy_metric_set (fy_metrics_gauge (metrics, "ferry_nan_info",
                                     "A gauge with no value yet.", NULL),
                   NAN);
    fy_metric_set (fy_metrics_gauge (metrics, "ferry_limit_ratio",
                                     "An unbounded limit.", NULL),
                   INFINITY);
    fy_metric_add (fy_metrics_counter (metrics, "ferry_bytes_total",
                                       "Bytes received.", NULL),
                   1e18);
    fy_metrics_histogram (metrics, "ferry_empty_seconds",
                          "A histogram never observed.", NULL, NULL, 0);
    fy_metrics_process (metrics);

    char *text = fy_metrics_render (metrics);
    s_write_file (path, text);
    status = s_promtool (path, output, sizeof output);
    is_int (status, 0, "promtool check metrics exits 0");
    is_str (output, "", "promtool prints nothing (lint clean)");
    if (status != 0 || *output)
        diag ("rendered:\n%.2000s", text);
    ok (strstr (text, "ferry_ack_seconds_bucket{service=\"auth\\\\\\\"\\n,}{"
                      "=\",reason=\"bad \\\"json\\\"\\nline 2\",le=\"+Inf\"}"
                      " 10000\n")
            != NULL,
        "escaped labels before le");
    free (text);
    unlink (path);
    fy_metrics_destroy (&metrics);
}

static void
test_process (void)
{
    fy_metrics_t *metrics = fy_metrics_new ();
    fy_metrics_process (metrics);
    const char *names [] = { "process_cpu_seconds_total",
                             "process_open_fds",
                             "process_max_fds",
                             "process_virtual_memory_bytes",
                             "process_resident_memory_bytes",
                             "process_start_time_seconds",
                             NULL };
    char *text = fy_metrics_render (metrics);
    for (int index = 0; names [index]; index++) {
        char prefix [80];
        snprintf (prefix, sizeof prefix, "%s ", names [index]);
        char *line = s_line (text, prefix);
        ok (line != NULL, "%s rendered", names [index]);
        free (line);
    }
    free (text);

    fy_metric_t *fds = fy_metrics_gauge (
        metrics, "process_open_fds", "Number of open file descriptors.", NULL);
    double before = fy_metric_value (fds);
    int fd = open ("/dev/null", O_RDONLY);
    fy_metrics_process (metrics);
    is_int (fy_metric_value (fds), before + 1, "one more fd is counted");
    close (fd);
    fy_metrics_process (metrics);
    is_int (fy_metric_value (fds), before, "and one fewer");

    double resident = fy_metric_value (
        fy_metrics_gauge (metrics, "process_resident_memory_bytes",
                          "Resident memory size in bytes.", NULL));
    double virtual = fy_metric_value (
        fy_metrics_gauge (metrics, "process_virtual_memory_bytes",
                          "Virtual memory size in bytes.", NULL));
    ok (resident > 100000 && virtual > resident,
        "resident %.0f and virtual %.0f bytes", resident, virtual);
    double start = fy_metric_value (fy_metrics_gauge (
        metrics, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", NULL));
    double now = (double) time (NULL);
    ok (start <= now + 1 && start > now - 120, "started %.2f s ago",
        now - start);
    //  Burn some CPU: the counter follows the kernel's.
    fy_metric_t *cpu = fy_metrics_counter (
        metrics, "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.", NULL);
    double cpu_before = fy_metric_value (cpu);
    clock_t until = clock () + CLOCKS_PER_SEC / 20;
    while (clock () < until)
        ;
    fy_metrics_process (metrics);
    ok (fy_metric_value (cpu) > cpu_before, "cpu seconds grow (%.2f)",
        fy_metric_value (cpu));
    fy_metrics_destroy (&metrics);
}

//  Quantiles as Prometheus' histogram_quantile estimates them.
static void
test_quantile (void)
{
    fy_metrics_t *metrics = fy_metrics_new ();
    const double bounds [] = { 0.01, 0.1, 1 };
    fy_metric_t *latency = fy_metrics_histogram (
        metrics, "ack_seconds", "Receive to ACK.", NULL, bounds, 3);
    ok (isnan (fy_metric_quantile (latency, 0.99)), "no observation: NaN");
    //  90 in the first bucket, 10 in the second.
    for (int i = 0; i < 90; i++)
        fy_metric_observe (latency, 0.005);
    for (int i = 0; i < 10; i++)
        fy_metric_observe (latency, 0.05);
    ok (fabs (fy_metric_quantile (latency, 0.45) - 0.005) < 1e-12,
        "p45 halfway through the first bucket, from 0");
    ok (fabs (fy_metric_quantile (latency, 0.9) - 0.01) < 1e-12,
        "p90 at the first bucket's bound");
    ok (fabs (fy_metric_quantile (latency, 0.99) - 0.091) < 1e-12,
        "p99 nine tenths into the second bucket");
    is_int (fy_metric_quantile (latency, 1) == 0.1, 1, "p100 at its bound");
    //  One beyond every bound: the highest finite bound.
    for (int i = 0; i < 100; i++)
        fy_metric_observe (latency, 30);
    ok (fy_metric_quantile (latency, 0.99) == 1,
        "in +Inf: the highest finite bound");
    fy_metrics_destroy (&metrics);
}

int
main (void)
{
    plan (NO_PLAN);
    test_exact ();
    test_numbers ();
    test_escaping ();
    test_process ();
    test_quantile ();
    //  Last: without the conformance data they skip the rest of the test.
    test_fixtures ();
    test_promtool ();
    return done_testing ();
}
