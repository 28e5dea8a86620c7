/* tusage.c: tenant usage per minute, waiting to be written; see tusage.h.
 * Terms: the table is a swaptable (swaptable.h) of struct tusage_row, one
 * row per key (tenant, minute), an add "merged" into its row by adding the
 * counts; the bucket is FNV-1a of the tenant's text and the minute. */
#include "tusage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "swaptable.h"

_Static_assert(sizeof(struct tusage_row) == 64,
               "tusage.h states 64 bytes per row");
_Static_assert(TUSAGE_MAX_CAPACITY == SWAPTABLE_MAX_CAPACITY,
               "tusage.h states the swaptable's limit");

struct tusage {
  struct swaptable *table;
};

static uint64_t tusage_hash(const void *row)
{
  const struct tusage_row *r = row;
  uint64_t h = 14695981039346656037ULL;

  for (size_t i = 0; i < TOKEN_UUID_LEN; i++)
    h = (h ^ (unsigned char)r->tenant[i]) * 1099511628211ULL;
  h = (h ^ (uint64_t)r->minute) * 1099511628211ULL;
  return h ^ (h >> 29);
}

static int tusage_cmp(const void *a, const void *b)
{
  const struct tusage_row *x = a, *y = b;
  int c = memcmp(x->tenant, y->tenant, TOKEN_UUID_LEN);

  if (c != 0)
    return c;
  return x->minute < y->minute ? -1 : x->minute > y->minute;
}

/* Adds n to *count up to TUSAGE_COUNT_MAX; returns what did not fit. */
static uint64_t tusage_saturate(uint64_t *count, uint64_t n)
{
  uint64_t room = TUSAGE_COUNT_MAX - *count;

  if (n <= room) {
    *count += n;
    return 0;
  }
  *count = TUSAGE_COUNT_MAX;
  return n - room;
}

/* Adds add's counts to row (made from add's key when fresh), each up to
 * TUSAGE_COUNT_MAX; returns what did not fit. */
static uint64_t tusage_merge(void *row, const void *add, bool fresh)
{
  struct tusage_row *r = row;
  const struct tusage_row *a = add;

  if (fresh) {
    memcpy(r->tenant, a->tenant, TOKEN_UUID_LEN);
    r->tenant[TOKEN_UUID_LEN] = '\0';
    r->minute = a->minute;
    r->requests = r->limited = 0;
  }
  return tusage_saturate(&r->requests, a->requests) +
         tusage_saturate(&r->limited, a->limited);
}

/* A row that finds the table full drops all its answers. */
static uint64_t tusage_weight(const void *add)
{
  const struct tusage_row *a = add;

  return a->requests + a->limited;
}

static const struct swaptable_kind tusage_kind = {
    .name = "tenant usage",
    .row_size = sizeof(struct tusage_row),
    .hash = tusage_hash,
    .cmp = tusage_cmp,
    .merge = tusage_merge,
    .weight = tusage_weight,
};

struct tusage *tusage_new(size_t capacity, char *err, size_t err_size)
{
  struct tusage *t = malloc(sizeof *t);

  if (t == NULL) {
    snprintf(err, err_size, "tenant usage: out of memory");
    return NULL;
  }
  t->table = swaptable_new(&tusage_kind, capacity, err, err_size);
  if (t->table == NULL) {
    free(t);
    return NULL;
  }
  return t;
}

void tusage_free(struct tusage *t)
{
  if (t == NULL)
    return;
  swaptable_free(t->table);
  free(t);
}

bool tusage_add(struct tusage *t, const char *tenant, size_t tenant_len,
                int64_t unix_s, uint64_t requests, uint64_t limited)
{
  struct tusage_row add;

  if (!token_uuid_text(tenant, tenant_len) || unix_s < 0)
    return false;
  memcpy(add.tenant, tenant, TOKEN_UUID_LEN);
  add.tenant[TOKEN_UUID_LEN] = '\0';
  add.minute = unix_s - unix_s % 60;
  add.requests = requests;
  add.limited = limited;
  return swaptable_add(t->table, &add);
}

size_t tusage_take(struct tusage *t, struct tusage_row **out)
{
  size_t n;

  *out = swaptable_take(t->table, &n);
  return n;
}

void tusage_put_back(struct tusage *t, const struct tusage_row *rows, size_t n)
{
  swaptable_put_back(t->table, rows, n);
}

long tusage_json(char *out, size_t out_size, const struct tusage_row *rows,
                 size_t n)
{
  size_t at = 0;
  int k;

  if (out_size < 3)
    return -1;
  out[at++] = '[';
  for (size_t i = 0; i < n; i++) {
    const struct tusage_row *r = &rows[i];

    if (!token_uuid_text(r->tenant, strnlen(r->tenant, sizeof r->tenant)) ||
        r->minute < 0 || r->minute % 60 != 0 ||
        r->requests > TUSAGE_COUNT_MAX || r->limited > TUSAGE_COUNT_MAX)
      return -1;
    k = snprintf(out + at, out_size - at,
                 "%s{\"tenant\":\"%s\",\"minute\":%" PRId64
                 ",\"requests\":%" PRIu64 ",\"limited\":%" PRIu64 "}",
                 i > 0 ? "," : "", r->tenant, r->minute, r->requests,
                 r->limited);
    if (k < 0 || (size_t)k >= out_size - at)
      return -1;
    at += (size_t)k;
  }
  if (out_size - at < 2)
    return -1;
  out[at++] = ']';
  out[at] = '\0';
  return (long)at;
}

bool tusage_flush(struct tusage *t, struct batches *b, const size_t *chunk,
                  tusage_write_fn *write, void *ctx, size_t *written, char *err,
                  size_t err_size)
{
  struct tusage_row *rows = NULL;
  size_t n, done = 0;

  *written = 0;
  if (b->kept_n > 0) {
    if (!write(ctx, b->kept, b->kept_n, b->kept_seq, err, err_size))
      return false;
    *written += b->kept_n;
    batches_free(b);
  }
  n = tusage_take(t, &rows);
  while (done < n) {
    size_t size = *chunk > 0 ? *chunk : 1;
    size_t len = n - done < size ? n - done : size;
    uint64_t seq = batches_number(b);

    if (!write(ctx, rows + done, len, seq, err, err_size)) {
      /* Kept as is; the rows not sent yet go back to wait. */
      tusage_put_back(t, rows + done + len, n - done - len);
      batches_keep(b, rows, sizeof *rows, done, len, seq);
      return false;
    }
    done += len;
    *written += len;
  }
  free(rows);
  return true;
}

size_t tusage_pending(const struct tusage *t)
{
  return swaptable_pending(t->table);
}

uint64_t tusage_dropped(const struct tusage *t)
{
  return swaptable_dropped(t->table);
}

void tusage_metrics(struct metrics_text *out, const struct tusage *t)
{
  metrics_gauge(out, "tenant_authd_tenant_usage_pending",
                "Tenant-minutes of usage waiting to be written to "
                "tenant_usage.",
                (double)tusage_pending(t));
  metrics_counter(out, "tenant_authd_tenant_usage_dropped_total",
                  "Answers (2xx and 429 rate_limited) not counted in "
                  "tenant_usage because --usage-max tenant-minutes were "
                  "pending.",
                  tusage_dropped(t));
}
