/* ratesync.c: the rate sync thread; see ratesync.h. Terms: a "round" is
 * one sync, run by a ticker (ticker.h) every interval, after a backoff when
 * it failed, and once more on the way out; a "key run" is the rows of one
 * (scope, key, seconds), next to each other once sorted. */
#include "ratesync.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "ticker.h"
#include "token.h"

#define RATESYNC_BACKOFF_MIN_MS 100
#define RATESYNC_ROW_JSON_MAX 160 /* one row's text, at most */

enum { RATESYNC_OK, RATESYNC_FAILED, RATESYNC_OUTCOMES };

static struct {
  struct rate_table *table;
  struct db_conn *conn; /* the thread's own connection */
  char instance[TOKEN_UUID_LEN + 1];
  struct batches batches;
  struct ticker ticker;
  bool started;
  bool failing; /* the last round failed: logged once per change */
  atomic_uint_fast64_t rounds[RATESYNC_OUTCOMES];
} rs;

char *ratesync_json(const struct rate_count *rows, size_t n, size_t *len)
{
  size_t cap = 3 + n * RATESYNC_ROW_JSON_MAX, at = 0;
  char *s = malloc(cap);

  if (s == NULL)
    return NULL;
  s[at++] = '[';
  for (size_t i = 0; i < n; i++) {
    const struct rate_count *c = &rows[i];
    int w = snprintf(s + at, cap - at,
                     "%s{\"scope\":\"%c\",\"key\":\"%.*s\",\"seconds\":%u,"
                     "\"window\":%llu,\"admitted\":%llu}",
                     i > 0 ? "," : "", c->scope, RATE_ID_MAX, c->key,
                     c->seconds, (unsigned long long)c->window,
                     (unsigned long long)c->admitted);

    if (w < 0 || (size_t)w >= cap - at) { /* cannot happen: sized above */
      free(s);
      return NULL;
    }
    at += (size_t)w;
  }
  s[at++] = ']';
  s[at] = '\0';
  *len = at;
  return s;
}

/* True when rows a and b are of one key run. */
static bool ratesync_same_key(const struct rate_count *a,
                              const struct rate_count *b)
{
  return a->scope == b->scope && a->seconds == b->seconds &&
         strcmp(a->key, b->key) == 0;
}

/* One call for rows[0..n) as batch seq; applies its totals. True only
 * when it answered OK. */
static bool ratesync_call(struct rate_table *t, const char *instance,
                          uint64_t seq, ratesync_call_fn *call, void *ctx,
                          const struct rate_count *rows, size_t n, char *err,
                          size_t err_size)
{
  size_t len = 0, got = 0;
  char *json = ratesync_json(rows, n, &len);
  struct rate_total *totals = malloc((n > 0 ? n : 1) * sizeof *totals);
  uint64_t now_ms = 0, sent_ms;
  enum db_result r;

  if (json == NULL || totals == NULL) {
    free(json);
    free(totals);
    snprintf(err, err_size, "rate sync: out of memory");
    return false;
  }
  sent_ms = rate_clock_local_ms();
  r = call(ctx, instance, seq, json, len, totals, n, &got, &now_ms, err,
           err_size);
  if (r == DB_OK) {
    rate_apply(t, totals, got);
    if (now_ms > 0)
      rate_clock_learn(now_ms, sent_ms, rate_clock_local_ms());
  }
  free(json);
  free(totals);
  return r == DB_OK;
}

bool ratesync_round(struct rate_table *t, const char *instance,
                    struct batches *b, ratesync_call_fn *call, void *ctx,
                    char *err, size_t err_size)
{
  struct rate_count *rows = NULL;
  size_t n, done = 0;

  /* The kept batch first, as is; newer counts wait in the table. */
  if (b->kept_n > 0) {
    if (!ratesync_call(t, instance, b->kept_seq, call, ctx, b->kept, b->kept_n,
                       err, err_size))
      return false;
    batches_free(b);
  }
  n = rate_collect(t, &rows);
  /* Nothing to count: a call for the totals and the clock, nothing kept. */
  if (n == 0)
    return ratesync_call(t, instance, batches_number(b), call, ctx, NULL, 0,
                         err, err_size);
  while (done < n) {
    size_t end = n - done <= RATESYNC_CALL_MAX ? n : done + RATESYNC_CALL_MAX;
    uint64_t seq;

    /* A key run stays whole, unless it alone is longer than a call. */
    if (end < n) {
      size_t cut = end;

      while (cut > done && ratesync_same_key(&rows[cut - 1], &rows[cut]))
        cut--;
      if (cut > done)
        end = cut;
    }
    seq = batches_number(b);
    if (!ratesync_call(t, instance, seq, call, ctx, rows + done, end - done,
                       err, err_size)) {
      rate_put_back(t, rows + end, n - end);
      batches_keep(b, rows, sizeof *rows, done, end - done, seq);
      return false;
    }
    done = end;
  }
  free(rows);
  return true;
}

/* ratesync_call_fn on the thread's connection. */
static enum db_result ratesync_db(void *ctx, const char *instance,
                                  uint64_t batch, const char *json,
                                  size_t json_len, struct rate_total *out,
                                  size_t cap, size_t *n_out, uint64_t *now_ms,
                                  char *err, size_t err_size)
{
  return db_sync_rate_counts(ctx, instance, batch, json, json_len, out, cap,
                             n_out, now_ms, err, err_size);
}

/* One round of the thread, counted, its failures logged once per change.
 * While the table holds no key (no request has met a limit) there is
 * nothing to send and no total to learn: no call, so an instance where no
 * limit is set never writes (nor fails every second on a read-only
 * endpoint). A ticker round: ctx unused. */
static bool ratesync_counted_round(void *ctx)
{
  char err[256] = "";
  bool ok;

  (void)ctx;
  if (rate_entries(rs.table) == 0)
    return true;
  ok = ratesync_round(rs.table, rs.instance, &rs.batches, ratesync_db, rs.conn,
                      err, sizeof err);

  atomic_fetch_add(&rs.rounds[ok ? RATESYNC_OK : RATESYNC_FAILED], 1);
  if (!ok && !rs.failing)
    log_msg(LOG_WARN,
            "syncing rate limits failed, limits go on from the last totals "
            "and counts wait: %s",
            err);
  if (ok && rs.failing)
    log_msg(LOG_INFO, "syncing rate limits works again");
  rs.failing = !ok;
  return ok;
}

int ratesync_start(struct rate_table *t, unsigned interval_ms,
                   unsigned retry_max_ms, unsigned timeout_s, const char *group,
                   char *err, size_t err_size)
{
  if (interval_ms == 0)
    return 0;
  if (t == NULL) {
    snprintf(err, err_size, "rate sync: no rate limit table");
    return -1;
  }
  if (ratesync_instance_init(err, err_size) != 0)
    return -1;
  rs.batches = (struct batches){.next = 1};
  rs.table = t;
  rs.failing = false;
  rs.conn = db_conn_open(group, err, err_size);
  if (rs.conn == NULL)
    return -1;
  db_conn_set_timeout(rs.conn, timeout_s);
  rate_set_synced(t, true);
  if (ticker_start(&rs.ticker, "rate sync", ratesync_counted_round, NULL,
                   interval_ms, RATESYNC_BACKOFF_MIN_MS, retry_max_ms, err,
                   err_size) != 0) {
    rate_set_synced(t, false);
    db_conn_close(rs.conn);
    rs.conn = NULL;
    return -1;
  }
  rs.started = true;
  return 0;
}

void ratesync_stop(void)
{
  if (!rs.started)
    return;
  ticker_stop(&rs.ticker);
  db_conn_close(rs.conn);
  rs.conn = NULL;
  rs.started = false;
  /* Nothing is sent any more: a kept batch joins what waits in the table. */
  if (rs.batches.kept_n > 0)
    rate_put_back(rs.table, rs.batches.kept, rs.batches.kept_n);
  batches_free(&rs.batches);
}

void ratesync_get_stats(struct ratesync_stats *out)
{
  out->ok = atomic_load(&rs.rounds[RATESYNC_OK]);
  out->failed = atomic_load(&rs.rounds[RATESYNC_FAILED]);
}

int ratesync_instance_init(char *err, size_t err_size)
{
  if (rs.instance[0] != '\0')
    return 0;
  if (token_uuid_v4(rs.instance) != 0) {
    rs.instance[0] = '\0';
    snprintf(err, err_size, "rate sync: cannot make an instance id");
    return -1;
  }
  rs.instance[TOKEN_UUID_LEN] = '\0';
  return 0;
}

const char *ratesync_instance(void)
{
  return rs.instance;
}

void ratesync_metrics(struct metrics_text *m)
{
  static const char *const names[RATESYNC_OUTCOMES] = {"ok", "failed"};

  metrics_outcomes(m, "tenant_authd_rate_syncs_total",
                   "Rate limit syncs with the database, by outcome.", names,
                   rs.rounds, RATESYNC_OUTCOMES);
  metrics_counter(m, "tenant_authd_rate_sync_dropped_total",
                  "Admitted requests never counted in the cluster's totals: "
                  "the rate sync's pending list was full.",
                  rs.table != NULL ? rate_dropped(rs.table) : 0);
}
