/*  fy_metrics: a registry of counters, gauges and histograms, rendered in
    the Prometheus text exposition format 0.0.4 for the broker's /metrics.
    A metric is one series: a family name, a help text, a type and a set of
    labels; series of one name share one HELP/TYPE block. The rendered text
    passes `promtool check metrics` without lint warnings, which is why the
    naming rules below are asserted rather than left to the scraper.

    Not thread-safe: each daemon has one loop, which owns its registry.
    Programmer errors (bad names, a type or help that disagrees with an
    earlier registration, a counter going down) are caught by assert. */
#ifndef FY_METRICS_H_INCLUDED
#define FY_METRICS_H_INCLUDED

#include "ferry/fy_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fy_metrics fy_metrics_t;
//  Borrowed from its registry, valid until the registry is destroyed.
typedef struct fy_metric fy_metric_t;

//  Create an empty registry.
FY_EXPORT fy_metrics_t *
fy_metrics_new (void);

//  Destroy the registry and every metric in it; set *self_p to NULL.
//  Safe on NULL.
FY_EXPORT void
fy_metrics_destroy (fy_metrics_t **self_p);

//  Register a series, or find the one registered before with the same name
//  and labels. name matches [a-zA-Z_:][a-zA-Z0-9_:]*; help is non-empty.
//  labels is NULL or a NULL-terminated array of "name", "value" pairs,
//  e.g. (const char *[]) { "service", "audit", NULL }; label names match
//  [a-zA-Z_][a-zA-Z0-9_]* and do not start with "__", values are UTF-8.
//  Labels render in the order given; registering them again in another
//  order finds the same series. The same name with other labels
//  joins the same family; the same name with another type or help asserts.
//  Counters must be named *_total, and other types must not be.
FY_EXPORT fy_metric_t *
fy_metrics_counter (fy_metrics_t *self, const char *name, const char *help,
                    const char **labels);
FY_EXPORT fy_metric_t *
fy_metrics_gauge (fy_metrics_t *self, const char *name, const char *help,
                  const char **labels);

//  A histogram with count upper bounds, strictly ascending and finite
//  (the +Inf bucket is implicit); the bounds are copied. Labels may not use
//  "le". Another series of the family may have other bounds.
FY_EXPORT fy_metric_t *
fy_metrics_histogram (fy_metrics_t *self, const char *name, const char *help,
                      const char **labels, const double *bounds, size_t count);

//  Add one to a counter or gauge.
FY_EXPORT void
fy_metric_inc (fy_metric_t *self);

//  Add value to a counter (value >= 0) or a gauge (any value).
FY_EXPORT void
fy_metric_add (fy_metric_t *self, double value);

//  Set a gauge; or a counter that mirrors a count kept elsewhere (such as
//  CPU time from the kernel), in which case value must not be below the
//  current one.
FY_EXPORT void
fy_metric_set (fy_metric_t *self, double value);

//  Record one observation in a histogram.
FY_EXPORT void
fy_metric_observe (fy_metric_t *self, double value);

//  The value of a counter or gauge; the number of observations of a
//  histogram.
FY_EXPORT double
fy_metric_value (fy_metric_t *self);

//  The sum of a histogram's observations.
FY_EXPORT double
fy_metric_sum (fy_metric_t *self);

//  The q-quantile (0 <= q <= 1) of a histogram's observations, estimated
//  as Prometheus' histogram_quantile does: linearly within the bucket that
//  holds it, the first bucket starting at 0 (or at its bound when that is
//  negative). In the +Inf bucket it is the highest finite bound; NAN with
//  no observations.
FY_EXPORT double
fy_metric_quantile (fy_metric_t *self, double q);

//  Render the whole registry: families in registration order, series in
//  registration order within a family. Caller owns result.
FY_EXPORT char *
fy_metrics_render (fy_metrics_t *self);

//  Add or update the standard process metrics from /proc/self:
//  process_cpu_seconds_total, process_open_fds, process_max_fds,
//  process_virtual_memory_bytes, process_resident_memory_bytes and
//  process_start_time_seconds. A value that cannot be read keeps its last
//  value. Call it before fy_metrics_render.
FY_EXPORT void
fy_metrics_process (fy_metrics_t *self);

#ifdef __cplusplus
}
#endif
#endif
