/*  fy_metrics: families of series kept in registration order (a scrape
    reads best when it follows the code), found by linear search: a daemon
    registers a few dozen series at start and keeps the pointers, so lookup
    speed does not matter, and render is one pass over everything. Label
    sets are stored already escaped, as rendered (in the caller's order)
    and sorted by name as the lookup key. */
#include "ferry/fy_metrics.h"

#include <assert.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef enum {
    S_COUNTER,
    S_GAUGE,
    S_HISTOGRAM
} s_type_t;

static const char *s_type_names [] = { "counter", "gauge", "histogram" };

typedef struct {
    char *name;
    char *help;
    s_type_t type;
    fy_metric_t **series;
    size_t size;
} s_family_t;

struct fy_metric {
    s_family_t *family;
    char *labels;               //  'b="y",a="x"' as given; "" for none
    char *key;                  //  the same sorted by name: 'a="x",b="y"'
    double value;               //  counter, gauge
    double *bounds;             //  histogram upper bounds, without +Inf
    size_t bound_count;
    uint64_t *buckets;          //  bound_count + 1 non-cumulative counts
    double sum;
    uint64_t count;
};

struct fy_metrics {
    s_family_t **families;
    size_t size;
};

fy_metrics_t *
fy_metrics_new (void)
{
    return fy_xcalloc (1, sizeof (fy_metrics_t));
}

static void
s_metric_destroy (fy_metric_t **self_p)
{
    fy_metric_t *self = *self_p;
    free (self->labels);
    free (self->key);
    free (self->bounds);
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

void
fy_metrics_destroy (fy_metrics_t **self_p)
{
    assert (self_p);
    fy_metrics_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->size; index++) {
        s_family_t *family = self->families [index];
        for (size_t series = 0; series < family->size; series++)
            s_metric_destroy (&family->series [series]);
        free (family->series);
        free (family->name);
        free (family->help);
        free (family);
    }
    free (self->families);
    free (self);
    *self_p = NULL;
}

//  [a-zA-Z_:][a-zA-Z0-9_:]*, without the colon for label names.
static bool
s_is_valid_name (const char *name, bool colon)
{
    if (!name || !*name || (*name >= '0' && *name <= '9'))
        return false;
    for (const char *scan = name; *scan; scan++) {
        char c = *scan;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || (colon && c == ':')))
            return false;
    }
    return true;
}

static bool
s_has_suffix (const char *name, const char *suffix)
{
    size_t length = strlen (name), suffix_length = strlen (suffix);
    return length >= suffix_length
           && strcmp (name + length - suffix_length, suffix) == 0;
}

//  text with backslash, newline and (for label values) the double quote
//  escaped, as 0.0.4 wants.
static void
s_put_escaped (FILE *file, const char *text, bool quote)
{
    for (; *text; text++) {
        if (*text == '\\')
            fputs ("\\\\", file);
        else if (*text == '\n')
            fputs ("\\n", file);
        else if (*text == '"' && quote)
            fputs ("\\\"", file);
        else
            fputc (*text, file);
    }
}

//  A float as Go's ParseFloat reads it, as short as round-trips: integers
//  without exponent, NaN, +Inf and -Inf spelled as Prometheus spells them.
static void
s_format_number (char *buffer, size_t size, double value)
{
    if (isnan (value))
        snprintf (buffer, size, "NaN");
    else if (isinf (value))
        snprintf (buffer, size, value > 0 ? "+Inf" : "-Inf");
    else if (value == trunc (value) && fabs (value) < 1e18)
        snprintf (buffer, size, "%.0f", value == 0 ? 0.0 : value);
    else {
        for (int precision = 15; precision <= 17; precision++) {
            snprintf (buffer, size, "%.*g", precision, value);
            if (strtod (buffer, NULL) == value)
                break;
        }
    }
}

typedef struct {
    const char *name;
    const char *value;
} s_label_t;

static int
s_label_compare (const void *one, const void *two)
{
    return strcmp (((const s_label_t *) one)->name,
                   ((const s_label_t *) two)->name);
}

static char *
s_pairs_text (const s_label_t *pairs, size_t count)
{
    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&text, &size);
    if (!file)
        abort ();               //  Only fails for want of memory.
    for (size_t index = 0; index < count; index++) {
        fprintf (file, "%s%s=\"", index ? "," : "", pairs [index].name);
        s_put_escaped (file, pairs [index].value, true);
        fputc ('"', file);
    }
    if (fclose (file) != 0)
        abort ();
    return text;
}

//  The rendered text of a label set, in the caller's order, and its key:
//  the same text sorted by name, so that order does not make a new series.
static char *
s_labels_text (const char **labels, s_type_t type, char **key)
{
    size_t count = 0;
    while (labels && labels [2 * count]) {
        assert (labels [2 * count + 1]);
        count++;
    }
    s_label_t *pairs = fy_xcalloc (count, sizeof (s_label_t));
    for (size_t index = 0; index < count; index++) {
        pairs [index].name = labels [2 * index];
        pairs [index].value = labels [2 * index + 1];
        assert (s_is_valid_name (pairs [index].name, false));
        assert (strncmp (pairs [index].name, "__", 2) != 0);
        assert (type != S_HISTOGRAM || strcmp (pairs [index].name, "le"));
    }
    char *text = s_pairs_text (pairs, count);
    qsort (pairs, count, sizeof (s_label_t), s_label_compare);
    for (size_t index = 1; index < count; index++)
        assert (strcmp (pairs [index - 1].name, pairs [index].name));
    *key = s_pairs_text (pairs, count);
    free (pairs);
    return text;
}

static s_family_t *
s_family_require (fy_metrics_t *self, const char *name, const char *help,
                  s_type_t type)
{
    assert (self);
    assert (s_is_valid_name (name, true));
    assert (help && *help);
    //  promtool's lint: only counters end in _total, and no plain series
    //  may pose as a histogram's parts.
    assert ((type == S_COUNTER) == s_has_suffix (name, "_total"));
    assert (type == S_HISTOGRAM
            || (!s_has_suffix (name, "_bucket") && !s_has_suffix (name, "_sum")
                && !s_has_suffix (name, "_count")));
    for (size_t index = 0; index < self->size; index++) {
        s_family_t *family = self->families [index];
        if (strcmp (family->name, name) == 0) {
            assert (family->type == type);
            assert (strcmp (family->help, help) == 0);
            return family;
        }
    }
    s_family_t *family = fy_xcalloc (1, sizeof (s_family_t));
    family->name = fy_xstrdup (name);
    family->help = fy_xstrdup (help);
    family->type = type;
    self->families =
        fy_xrealloc (self->families, (self->size + 1) * sizeof (s_family_t *));
    self->families [self->size++] = family;
    return family;
}

//  The series of family with labels; *created tells a new one from an old.
static fy_metric_t *
s_series_require (s_family_t *family, const char **labels, bool *created)
{
    char *key;
    char *text = s_labels_text (labels, family->type, &key);
    for (size_t index = 0; index < family->size; index++)
        if (strcmp (family->series [index]->key, key) == 0) {
            free (text);
            free (key);
            *created = false;
            return family->series [index];
        }
    fy_metric_t *metric = fy_xcalloc (1, sizeof (fy_metric_t));
    metric->family = family;
    metric->labels = text;
    metric->key = key;
    family->series = fy_xrealloc (family->series,
                                  (family->size + 1) * sizeof (fy_metric_t *));
    family->series [family->size++] = metric;
    *created = true;
    return metric;
}

fy_metric_t *
fy_metrics_counter (fy_metrics_t *self, const char *name, const char *help,
                    const char **labels)
{
    bool created;
    return s_series_require (s_family_require (self, name, help, S_COUNTER),
                             labels, &created);
}

fy_metric_t *
fy_metrics_gauge (fy_metrics_t *self, const char *name, const char *help,
                  const char **labels)
{
    bool created;
    return s_series_require (s_family_require (self, name, help, S_GAUGE),
                             labels, &created);
}

fy_metric_t *
fy_metrics_histogram (fy_metrics_t *self, const char *name, const char *help,
                      const char **labels, const double *bounds, size_t count)
{
    assert (bounds || count == 0);
    for (size_t index = 0; index < count; index++) {
        assert (isfinite (bounds [index]));
        assert (index == 0 || bounds [index - 1] < bounds [index]);
    }
    bool created;
    fy_metric_t *metric = s_series_require (
        s_family_require (self, name, help, S_HISTOGRAM), labels, &created);
    if (created) {
        metric->bounds = fy_xcalloc (count, sizeof (double));
        if (count)
            memcpy (metric->bounds, bounds, count * sizeof (double));
        metric->bound_count = count;
        metric->buckets = fy_xcalloc (count + 1, sizeof (uint64_t));
    }
    else {
        //  Registering again must mean the same histogram.
        assert (metric->bound_count == count);
        assert (count == 0
                || memcmp (metric->bounds, bounds, count * sizeof (double))
                       == 0);
    }
    return metric;
}

void
fy_metric_inc (fy_metric_t *self)
{
    fy_metric_add (self, 1);
}

void
fy_metric_add (fy_metric_t *self, double value)
{
    assert (self);
    assert (self->family->type != S_HISTOGRAM);
    assert (self->family->type == S_GAUGE || value >= 0);
    self->value += value;
}

void
fy_metric_set (fy_metric_t *self, double value)
{
    assert (self);
    assert (self->family->type != S_HISTOGRAM);
    assert (self->family->type == S_GAUGE || value >= self->value);
    self->value = value;
}

void
fy_metric_observe (fy_metric_t *self, double value)
{
    assert (self);
    assert (self->family->type == S_HISTOGRAM);
    //  The first bucket whose bound holds value; NaN holds in none, so it
    //  lands in +Inf only, as the Go client does.
    size_t index = 0;
    while (index < self->bound_count && !(value <= self->bounds [index]))
        index++;
    self->buckets [index]++;
    self->sum += value;
    self->count++;
}

double
fy_metric_value (fy_metric_t *self)
{
    assert (self);
    return self->family->type == S_HISTOGRAM ? (double) self->count
                                             : self->value;
}

double
fy_metric_sum (fy_metric_t *self)
{
    assert (self);
    assert (self->family->type == S_HISTOGRAM);
    return self->sum;
}

double
fy_metric_quantile (fy_metric_t *self, double q)
{
    assert (self);
    assert (self->family->type == S_HISTOGRAM);
    assert (q >= 0 && q <= 1);
    if (self->count == 0)
        return NAN;
    double rank = q * (double) self->count;
    uint64_t below = 0;
    for (size_t index = 0; index < self->bound_count; index++) {
        uint64_t here = self->buckets [index];
        if (here && (double) (below + here) >= rank) {
            double upper = self->bounds [index];
            double lower = index       ? self->bounds [index - 1]
                           : upper < 0 ? upper
                                       : 0;
            return lower
                   + (upper - lower) * (rank - (double) below) / (double) here;
        }
        below += here;
    }
    return self->bound_count ? self->bounds [self->bound_count - 1] : NAN;
}

//  One sample line: name[suffix]{labels[,extra]} value.
static void
s_put_sample (FILE *file, const fy_metric_t *metric, const char *suffix,
              const char *extra, const char *value)
{
    const char *labels = metric->labels;
    fprintf (file, "%s%s", metric->family->name, suffix);
    if (*labels || extra)
        fprintf (file, "{%s%s%s}", labels, *labels && extra ? "," : "",
                 extra ? extra : "");
    fprintf (file, " %s\n", value);
}

static void
s_put_histogram (FILE *file, const fy_metric_t *metric)
{
    char number [64];
    char le [96];
    uint64_t cumulative = 0;
    for (size_t index = 0; index <= metric->bound_count; index++) {
        cumulative += metric->buckets [index];
        if (index < metric->bound_count)
            s_format_number (number, sizeof number, metric->bounds [index]);
        else
            snprintf (number, sizeof number, "+Inf");
        snprintf (le, sizeof le, "le=\"%s\"", number);
        snprintf (number, sizeof number, "%llu",
                  (unsigned long long) cumulative);
        s_put_sample (file, metric, "_bucket", le, number);
    }
    s_format_number (number, sizeof number, metric->sum);
    s_put_sample (file, metric, "_sum", NULL, number);
    snprintf (number, sizeof number, "%llu",
              (unsigned long long) metric->count);
    s_put_sample (file, metric, "_count", NULL, number);
}

char *
fy_metrics_render (fy_metrics_t *self)
{
    assert (self);
    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&text, &size);
    if (!file)
        abort ();               //  Only fails for want of memory.
    for (size_t index = 0; index < self->size; index++) {
        const s_family_t *family = self->families [index];
        fprintf (file, "# HELP %s ", family->name);
        s_put_escaped (file, family->help, false);
        fprintf (file, "\n# TYPE %s %s\n", family->name,
                 s_type_names [family->type]);
        for (size_t series = 0; series < family->size; series++) {
            const fy_metric_t *metric = family->series [series];
            if (family->type == S_HISTOGRAM)
                s_put_histogram (file, metric);
            else {
                char number [64];
                s_format_number (number, sizeof number, metric->value);
                s_put_sample (file, metric, "", NULL, number);
            }
        }
    }
    if (fclose (file) != 0)
        abort ();
    return text;
}

//  The fields of /proc/self/stat after the command name, which may itself
//  hold spaces and parentheses: fields [0] is field 3 (state) of proc(5).
#define S_STAT_FIELDS 22

static int
s_read_stat (unsigned long long *fields)
{
    char buffer [1024];
    FILE *file = fopen ("/proc/self/stat", "r");
    if (!file)
        return -1;
    size_t length = fread (buffer, 1, sizeof buffer - 1, file);
    fclose (file);
    buffer [length] = '\0';
    char *scan = strrchr (buffer, ')');
    if (!scan || scan [1] != ' ' || !scan [2])
        return -1;
    scan += 3;                  //  ") S": the state is not a number
    fields [0] = 0;
    for (int index = 1; index < S_STAT_FIELDS; index++) {
        char *end;
        fields [index] = strtoull (scan + 1, &end, 10);
        if (end == scan + 1)
            return -1;
        scan = end;
    }
    return 0;
}

//  Boot time in seconds since the epoch, from /proc/stat.
static double
s_boot_time (void)
{
    double boot = NAN;
    FILE *file = fopen ("/proc/stat", "r");
    if (!file)
        return boot;
    char *line = NULL;
    size_t size = 0;
    while (getline (&line, &size, file) > 0) {
        unsigned long long seconds;
        if (sscanf (line, "btime %llu", &seconds) == 1) {
            boot = (double) seconds;
            break;
        }
    }
    free (line);
    fclose (file);
    return boot;
}

static int
s_open_fds (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (entry->d_name [0] != '.')
            count++;
    closedir (dir);
    return count - 1;           //  Not the one opendir held.
}

void
fy_metrics_process (fy_metrics_t *self)
{
    assert (self);
    fy_metric_t *cpu = fy_metrics_counter (
        self, "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.", NULL);
    fy_metric_t *open_fds = fy_metrics_gauge (
        self, "process_open_fds", "Number of open file descriptors.", NULL);
    fy_metric_t *max_fds =
        fy_metrics_gauge (self, "process_max_fds",
                          "Maximum number of open file descriptors.", NULL);
    fy_metric_t *virtual = fy_metrics_gauge (
        self, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
        NULL);
    fy_metric_t *resident =
        fy_metrics_gauge (self, "process_resident_memory_bytes",
                          "Resident memory size in bytes.", NULL);
    fy_metric_t *start = fy_metrics_gauge (
        self, "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.", NULL);

    unsigned long long fields [S_STAT_FIELDS];
    long ticks = sysconf (_SC_CLK_TCK);
    long page = sysconf (_SC_PAGESIZE);
    if (s_read_stat (fields) == 0 && ticks > 0 && page > 0) {
        //  proc(5) fields 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss.
        double seconds = (double) (fields [11] + fields [12]) / (double) ticks;
        if (seconds >= fy_metric_value (cpu))
            fy_metric_set (cpu, seconds);
        fy_metric_set (virtual, (double) fields [20]);
        fy_metric_set (resident, (double) fields [21] * (double) page);
        double boot = s_boot_time ();
        if (!isnan (boot))
            fy_metric_set (start, boot + (double) fields [19] / (double) ticks);
    }
    int count = s_open_fds ();
    if (count >= 0)
        fy_metric_set (open_fds, count);
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0)
        fy_metric_set (max_fds, limit.rlim_cur == RLIM_INFINITY
                                    ? INFINITY
                                    : (double) limit.rlim_cur);
}
