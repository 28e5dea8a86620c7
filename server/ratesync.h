/* ratesync.h: the thread that shares the rate limits (ratelimit.h) among
 * the instances of a cluster. Terms: a "round" is one sync: it collects
 * this instance's unsynced counts (rate_collect), sends them in "calls"
 * of at most RATESYNC_CALL_MAX rows, a key's rows never split between two
 * calls, as JSON to CALL sync_tenant_rate_counts(instance, counts) on its
 * own connection (db.h), and applies the totals each call returns
 * (rate_apply); a round with nothing to send still makes one call with
 * "[]", which tells the database's clock (rate_clock_learn), but the
 * thread makes no round while the table holds no key: an instance where
 * no limit applies never calls. The
 * "instance" is a version-4 UUID made at start, shared with the usage
 * flusher. Each call is a "batch" with a number, rising from 1 for the
 * process; the routine adds a batch at or below the last one it applied
 * for the instance nothing. A failed call's batch (the database may have
 * committed it and lost the answer) is "kept" as is, the same rows under
 * the same number, and sent again first in the next round, before anything
 * newer is collected; only a call that answered OK retires it: every count
 * arrives exactly once. The rows after a failed call go back to the table
 * (rate_put_back: bounded, what does not fit is dropped and counted),
 * enforcement goes on from the last totals, and the next round comes
 * after a backoff (backoff.h) instead of a whole interval. Requests never
 * wait for it. */
#ifndef TENANT_AUTHD_RATESYNC_H
#define TENANT_AUTHD_RATESYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batches.h"
#include "db.h"
#include "metrics.h"
#include "ratelimit.h"

#define RATESYNC_CALL_MAX 5000 /* rows per call (the routine takes 20000) */
#define RATESYNC_INTERVAL_DEFAULT 1000 /* --limit-sync, ms */

/* The database's side of one call: db_sync_rate_counts on the thread's
 * connection in tenant-authd, a function that plays the database in
 * tests. Its arguments are db_sync_rate_counts's, with ctx first. */
typedef enum db_result ratesync_call_fn(void *ctx, const char *instance,
                                        uint64_t batch, const char *json,
                                        size_t json_len, struct rate_total *out,
                                        size_t cap, size_t *n_out,
                                        uint64_t *now_ms, char *err,
                                        size_t err_size);

/* The JSON array of rows[0..n) that sync_tenant_rate_counts takes, in a
 * malloc'd NUL-terminated string (the caller frees it), its length in
 * *len; NULL out of memory. Keys are ratelimit.h's ids: nothing to
 * escape. */
char *ratesync_json(const struct rate_count *rows, size_t n, size_t *len);

/* One round for table t as instance, through call, numbering batches in
 * b; true when every call worked (the reason of a failure is in err). */
bool ratesync_round(struct rate_table *t, const char *instance,
                    struct batches *b, ratesync_call_fn *call, void *ctx,
                    char *err, size_t err_size);

/* Starts the thread for t: a round every interval_ms (0: no thread, the
 * limits are each instance's own; returns 0; t NULL: -1), at most retry_max_ms
 * between attempts after a failure; timeout_s is its connection's read
 * and write timeout; it reads option-file group group (NULL: the
 * verification connections' group). t and group must live until
 * ratesync_stop returns. 0 on success, else the reason is in err. */
int ratesync_start(struct rate_table *t, unsigned interval_ms,
                   unsigned retry_max_ms, unsigned timeout_s, const char *group,
                   char *err, size_t err_size);

/* Wakes the thread, which syncs once more and exits, and joins it. Does
 * nothing when the thread was not started. */
void ratesync_stop(void);

struct ratesync_stats {
  uint64_t ok, failed; /* rounds of the thread, by outcome */
};

/* The thread's rounds since start; zeros when it never ran. */
void ratesync_get_stats(struct ratesync_stats *out);

/* Makes this instance's UUID, once (ratesync_start calls it too); 0 on
 * success, else the reason is in err. Not thread-safe: call it from the
 * starting thread. */
int ratesync_instance_init(char *err, size_t err_size);

/* This instance's UUID ("" before ratesync_instance_init). */
const char *ratesync_instance(void);

/* Appends tenant_authd_rate_syncs_total{outcome="ok"|"failed"} and
 * tenant_authd_rate_sync_dropped_total to m. */
void ratesync_metrics(struct metrics_text *m);

#endif
