/* flusher.c: the usage flusher thread; see flusher.h. Terms: the "round" is
 * one take-and-write, run by a ticker (ticker.h) every interval, after a
 * backoff when it failed, and once more on the way out. */
#include "flusher.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "log.h"
#include "ticker.h"

#define FLUSHER_BACKOFF_MIN_MS 250

static struct {
  struct usage_set *set;
  struct tusage *tusage;   /* NULL: no tenant usage */
  struct db_conn *conn;    /* the flusher's own connection */
  uint64_t target_ms;      /* a call should take at most this: timeout / 4 */
  size_t chunk;            /* hashes the next call takes (usage_chunk_next) */
  atomic_size_t chunk_now; /* chunk, for /metrics */
  size_t rows_chunk;       /* tenant usage rows the next call takes */
  const char *instance;    /* this instance's UUID (ratesync_instance) */
  struct batches batches;  /* tenant usage batch numbers, kept batch */
  struct ticker ticker;
  bool started;
  size_t lost;      /* hashes the last round could not write */
  size_t rows_lost; /* tenant usage rows the last round could not write */
  bool failing;     /* the last round failed: logged once per change */
  atomic_uint_fast64_t flushes, failures, noted, rows;
} fl;

/* After a call of n items (at most max) begun at t0 that worked or not:
 * *chunk follows what a call that worked took, and shrinks after one that
 * failed after running long (most likely too big for the timeout); a quick
 * failure says nothing of it. */
static void flusher_follow(size_t *chunk, size_t n, uint64_t t0, bool ok,
                           size_t max)
{
  uint64_t took_ms = clock_since_us(t0) / 1000;

  if (ok || took_ms > fl.target_ms)
    *chunk = usage_chunk_next(*chunk, n, took_ms, fl.target_ms, max);
}

/* Writes n hashes in one call, timed (flusher_follow). */
static enum db_result flusher_call(const uint8_t *hashes, size_t n, char *err,
                                   size_t err_size)
{
  uint64_t t0 = clock_now_us();
  enum db_result r = db_note_use(fl.conn, hashes, n, err, err_size);

  flusher_follow(&fl.chunk, n, t0, r == DB_OK, DB_NOTE_MAX);
  atomic_store(&fl.chunk_now, fl.chunk);
  return r;
}

/* Writes n tenant usage rows as batch seq in one add_tenant_usage call,
 * timed like flusher_call: the rows' chunk follows it (flusher_follow). A
 * tusage_write_fn: ctx unused. */
static bool flusher_rows_call(void *ctx, const struct tusage_row *rows,
                              size_t n, uint64_t seq, char *err,
                              size_t err_size)
{
  size_t size = n * TUSAGE_JSON_ROW_MAX + 3;
  char *json = malloc(size);
  uint64_t t0;
  enum db_result r;
  long len;

  (void)ctx;
  if (json == NULL) {
    snprintf(err, err_size, "tenant usage: out of memory for %zu rows", n);
    return false;
  }
  len = tusage_json(json, size, rows, n);
  if (len < 0) {
    /* Rows that tusage_add made always render: a bug, not the database. */
    snprintf(err, err_size, "tenant usage: %zu rows do not render", n);
    free(json);
    return false;
  }
  t0 = clock_now_us();
  r = db_add_tenant_usage(fl.conn, fl.instance, seq, json, (size_t)len, err,
                          err_size);
  flusher_follow(&fl.rows_chunk, n, t0, r == DB_OK, TUSAGE_CALL_MAX);
  free(json);
  return r == DB_OK;
}

/* The hashes' part of a round: takes every pending hash and writes it in
 * calls of a chunk each; on a failure puts back what was not written and
 * returns false with the reason in err. */
static bool flusher_round_notes(char *err, size_t err_size, size_t *kept)
{
  uint8_t *hashes = NULL;
  size_t n = usage_take(fl.set, &hashes), done = 0;

  fl.lost = 0;
  while (done < n) {
    size_t chunk = n - done < fl.chunk ? n - done : fl.chunk;
    if (flusher_call(hashes + done * TOKEN_HASH_LEN, chunk, err, err_size) !=
        DB_OK)
      break;
    done += chunk;
    atomic_fetch_add(&fl.noted, chunk);
  }
  if (done < n) {
    usage_put_back(fl.set, hashes + done * TOKEN_HASH_LEN, n - done);
    fl.lost = n - done;
    *kept += n - done;
  }
  free(hashes);
  return done == n;
}

/* The tenant usage part of a round, after the hashes: a batch kept from a
 * failed call first, as is, then every row, sorted, in batches of
 * rows_chunk rows (tusage_flush); what is not written waits, counted in
 * rows_lost. */
static bool flusher_round_rows(char *err, size_t err_size, size_t *kept)
{
  size_t written = 0;
  bool ok;

  fl.rows_lost = 0;
  if (fl.tusage == NULL)
    return true;
  ok = tusage_flush(fl.tusage, &fl.batches, &fl.rows_chunk, flusher_rows_call,
                    NULL, &written, err, err_size);
  atomic_fetch_add(&fl.rows, written);
  if (!ok) {
    fl.rows_lost = fl.batches.kept_n + tusage_pending(fl.tusage);
    *kept += fl.rows_lost;
  }
  return ok;
}

/* One round: the hashes, then the tenant usage. True when everything
 * taken was written (or nothing was pending). A ticker round: ctx unused. */
static bool flusher_round(void *ctx)
{
  char err[256] = "", rows_err[256] = "";
  size_t kept = 0;
  bool notes = flusher_round_notes(err, sizeof err, &kept);
  bool rows = flusher_round_rows(rows_err, sizeof rows_err, &kept);

  (void)ctx;
  if (!notes || !rows) {
    atomic_fetch_add(&fl.failures, 1);
    if (!fl.failing && !notes)
      log_msg(LOG_WARN, "recording token use failed, %zu kept to retry: %s",
              kept, err);
    else if (!fl.failing)
      log_msg(LOG_WARN,
              "recording token use failed (tenant usage), %zu kept to "
              "retry: %s",
              kept, rows_err);
    fl.failing = true;
    return false;
  }
  atomic_fetch_add(&fl.flushes, 1);
  if (fl.failing)
    log_msg(LOG_INFO, "recording token use works again");
  fl.failing = false;
  return true;
}

int flusher_start(struct usage_set *set, struct tusage *tusage,
                  const char *instance, unsigned interval_s,
                  unsigned retry_max_ms, unsigned timeout_s, const char *group,
                  char *err, size_t err_size)
{
  fl.set = set;
  fl.tusage = tusage;
  fl.instance = instance;
  fl.batches = (struct batches){.next = 1};
  fl.rows_chunk = FLUSHER_ROWS_FIRST;
  fl.target_ms = (uint64_t)timeout_s * 1000 / 4;
  fl.chunk = FLUSHER_CHUNK_FIRST;
  atomic_store(&fl.chunk_now, fl.chunk);
  fl.conn = db_conn_open(group, err, err_size);
  if (fl.conn == NULL)
    return -1;
  db_conn_set_timeout(fl.conn, timeout_s);
  if (ticker_start(&fl.ticker, "usage flusher", flusher_round, NULL,
                   interval_s * 1000U, FLUSHER_BACKOFF_MIN_MS, retry_max_ms,
                   err, err_size) != 0) {
    db_conn_close(fl.conn);
    fl.conn = NULL;
    return -1;
  }
  fl.started = true;
  return 0;
}

size_t flusher_stop(size_t *rows_lost)
{
  if (rows_lost != NULL)
    *rows_lost = 0;
  if (!fl.started)
    return 0;
  ticker_stop(&fl.ticker);
  db_conn_close(fl.conn);
  fl.conn = NULL;
  fl.started = false;
  if (rows_lost != NULL)
    *rows_lost = fl.rows_lost;
  batches_free(&fl.batches);
  return fl.lost;
}

void flusher_get_stats(struct flusher_stats *out)
{
  out->flushes = atomic_load(&fl.flushes);
  out->failures = atomic_load(&fl.failures);
  out->noted = atomic_load(&fl.noted);
  out->rows = atomic_load(&fl.rows);
}

void flusher_metrics(struct metrics_text *t)
{
  struct flusher_stats fs;

  flusher_get_stats(&fs);
  metrics_counter(t, "tenant_authd_usage_flushes_total",
                  "Usage flushes that wrote everything pending.", fs.flushes);
  metrics_counter(t, "tenant_authd_usage_flush_failures_total",
                  "Usage flushes that failed and kept their tokens to "
                  "retry.",
                  fs.failures);
  metrics_counter(t, "tenant_authd_usage_noted_total",
                  "Token uses written by note_tenant_token_use.", fs.noted);
  metrics_counter(t, "tenant_authd_tenant_usage_rows_total",
                  "Tenant usage rows written by add_tenant_usage.", fs.rows);
  metrics_gauge(t, "tenant_authd_usage_chunk",
                "Hashes the usage flusher sends per call now; it shrinks "
                "when a call runs past a quarter of --usage-timeout.",
                (double)atomic_load(&fl.chunk_now));
}
