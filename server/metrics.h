/* metrics.h: Prometheus text exposition for tenant-authd. A "text" is a
 * growing buffer the /metrics answer is written into; a "histogram" is a
 * fixed set of upper bounds with one atomic counter each, plus a sum and a
 * count, observed from any thread without a lock. Plain C: no
 * libmicrohttpd types, so modules own their histograms and tests can
 * render them. */
#ifndef TENANT_AUTHD_METRICS_H
#define TENANT_AUTHD_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS_MAX 16

struct metrics_text {
  char *data; /* NUL-terminated once anything was added */
  size_t len, cap;
  bool failed; /* an allocation failed: later additions do nothing */
};

/* Upper bounds in the observed unit (microseconds, tokens...), ascending,
 * and the same bounds as the "le" labels to print. */
struct metrics_hist {
  size_t n;
  const uint64_t *bound;
  const char *const *le;
  atomic_uint_fast64_t bucket[METRICS_BUCKETS_MAX + 1]; /* last: +Inf only */
  atomic_uint_fast64_t sum;
  atomic_uint_fast64_t count;
};

/* Appends printf-style text; on failure marks t failed. */
void metrics_add(struct metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends the HELP and TYPE lines of metric family name (type "counter",
 * "gauge" or "histogram"); its samples follow. */
void metrics_family(struct metrics_text *t, const char *name, const char *type,
                    const char *help);

/* Appends one counter or gauge with its HELP and TYPE lines. */
void metrics_counter(struct metrics_text *t, const char *name, const char *help,
                     uint64_t value);
void metrics_gauge(struct metrics_text *t, const char *name, const char *help,
                   double value);

/* Appends counter family name with one sample per outcome:
 * name{outcome="names[i]"} counts[i], for i from 0 to n - 1. */
void metrics_outcomes(struct metrics_text *t, const char *name,
                      const char *help, const char *const *names,
                      const atomic_uint_fast64_t *counts, size_t n);

void metrics_observe(struct metrics_hist *h, uint64_t value);

/* Appends h as a histogram; sum is printed as sum * scale (1e-6 turns
 * microseconds into seconds). */
void metrics_histogram(struct metrics_text *t, const char *name,
                       const char *help, const struct metrics_hist *h,
                       double scale);

/* Frees t's buffer. */
void metrics_text_free(struct metrics_text *t);

#endif
