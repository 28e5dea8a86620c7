/* metrics.c: the text buffer and histograms of metrics.h. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void metrics_add(struct metrics_text *t, const char *fmt, ...)
{
  va_list ap;

  if (t->failed)
    return;
  for (;;) {
    size_t room = t->cap - t->len;
    int n = -1;

    if (t->data != NULL) {
      va_start(ap, fmt);
      n = vsnprintf(t->data + t->len, room, fmt, ap);
      va_end(ap);
      if (n < 0) {
        t->failed = true;
        return;
      }
      if ((size_t)n < room) {
        t->len += (size_t)n;
        return;
      }
    }
    size_t cap = t->cap * 2 + (n > 0 ? (size_t)n : 0) + 4096;
    char *p = realloc(t->data, cap);
    if (p == NULL) {
      t->failed = true;
      return;
    }
    t->data = p;
    t->cap = cap;
  }
}

void metrics_family(struct metrics_text *t, const char *name, const char *type,
                    const char *help)
{
  metrics_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_outcomes(struct metrics_text *t, const char *name,
                      const char *help, const char *const *names,
                      const atomic_uint_fast64_t *counts, size_t n)
{
  metrics_family(t, name, "counter", help);
  for (size_t i = 0; i < n; i++)
    metrics_add(t, "%s{outcome=\"%s\"} %llu\n", name, names[i],
                (unsigned long long)atomic_load(&counts[i]));
}

void metrics_counter(struct metrics_text *t, const char *name, const char *help,
                     uint64_t value)
{
  metrics_family(t, name, "counter", help);
  metrics_add(t, "%s %llu\n", name, (unsigned long long)value);
}

void metrics_gauge(struct metrics_text *t, const char *name, const char *help,
                   double value)
{
  metrics_family(t, name, "gauge", help);
  metrics_add(t, "%s %.17g\n", name, value);
}

void metrics_observe(struct metrics_hist *h, uint64_t value)
{
  size_t b = 0;

  while (b < h->n && value > h->bound[b])
    b++;
  atomic_fetch_add(&h->bucket[b], 1);
  atomic_fetch_add(&h->sum, value);
  atomic_fetch_add(&h->count, 1);
}

void metrics_histogram(struct metrics_text *t, const char *name,
                       const char *help, const struct metrics_hist *h,
                       double scale)
{
  uint64_t cumulative = 0;

  metrics_family(t, name, "histogram", help);
  for (size_t b = 0; b <= h->n; b++) {
    cumulative += atomic_load(&h->bucket[b]);
    metrics_add(t, "%s_bucket{le=\"%s\"} %llu\n", name,
                b < h->n ? h->le[b] : "+Inf", (unsigned long long)cumulative);
  }
  metrics_add(t, "%s_sum %.6f\n%s_count %llu\n", name,
              (double)atomic_load(&h->sum) * scale, name,
              (unsigned long long)atomic_load(&h->count));
}

void metrics_text_free(struct metrics_text *t)
{
  free(t->data);
  t->data = NULL;
  t->len = t->cap = 0;
}
