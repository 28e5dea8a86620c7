/* flusher.h: the background thread that writes token use to the database.
 * Every "interval" it takes the hashes gathered in a usage set (usage.h)
 * and sends them with CALL note_tenant_token_use on its own connection
 * (db.h), a "chunk" of at most DB_NOTE_MAX hashes per call; then it takes
 * the tenant usage rows (tusage.h) and sends them with CALL
 * add_tenant_usage, sorted by tenant and minute, at most TUSAGE_CALL_MAX
 * rows per call (one call per flush unless there are more), each call a
 * numbered batch of this instance (tusage.h): a failed call's batch is
 * kept as is and sent again first, so that a call the database committed
 * but whose answer was lost counts once. A "flush" is
 * one such round; a failed one puts what it did not write back (into the
 * set, into the table) and the next round comes after a backoff instead
 * of a whole interval. Its connection has a "timeout" of its own, and each call
 * is sized to take at most a quarter of it: the chunk starts at
 * FLUSHER_CHUNK_FIRST and follows usage_chunk_next, so a slow database
 * gets smaller calls rather than calls it is still running when the
 * client gives up on them. Requests never wait for it: their verdicts do
 * not depend on it. */
#ifndef TENANT_AUTHD_FLUSHER_H
#define TENANT_AUTHD_FLUSHER_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "tusage.h"
#include "usage.h"

#define FLUSHER_CHUNK_FIRST 256 /* hashes of the first call */
#define FLUSHER_ROWS_FIRST 1000 /* tenant usage rows of the first call */

struct flusher_stats {
  uint64_t flushes;  /* rounds that wrote everything they took */
  uint64_t failures; /* rounds that failed and put hashes back */
  uint64_t noted;    /* hashes written */
  uint64_t rows;     /* tenant usage rows written */
};

/* Starts the thread, flushing set and tenant usage tusage (NULL: none),
 * the latter as instance (UUID text: ratesync_instance), every interval_s
 * seconds; at most
 * retry_max_ms between attempts after a failure; timeout_s is its
 * connection's read and write timeout (--usage-timeout). It reads
 * option-file group group (NULL: the verification connections' group), so
 * that use can be written to a primary while verification reads a replica.
 * set, tusage, instance and group must live until flusher_stop returns. 0 on
 * success, else the reason is in err. */
int flusher_start(struct usage_set *set, struct tusage *tusage,
                  const char *instance, unsigned interval_s,
                  unsigned retry_max_ms, unsigned timeout_s, const char *group,
                  char *err, size_t err_size);

/* Wakes the thread, which flushes once more and exits, and joins it.
 * Returns how many hashes that last flush could not write, and sets
 * *rows_lost (may be NULL) to the tenant usage rows it could not. Does
 * nothing when the thread was not started. */
size_t flusher_stop(size_t *rows_lost);

/* Counters since flusher_start; all zero when it was not started. */
void flusher_get_stats(struct flusher_stats *out);

/* Appends the flusher's counters (flushes, failures, noted, tenant usage
 * rows) and its chunk to t. */
void flusher_metrics(struct metrics_text *t);

#endif
