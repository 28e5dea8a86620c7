/* tusage.h: tenant usage per minute, counted in tenant-authd and written
 * by the usage flusher (flusher.h) with CALL add_tenant_usage, which adds
 * it to the tenant_usage table every instance writes to. Terms: a "row" is
 * one tenant in one minute: its id (the UUID text of a verdict), the
 * minute (UNIX seconds, a multiple of 60, by the caller's clock: the
 * database's, rate_clock_now_ms) and two counts, "requests" (answers 2xx
 * on protected routes) and "limited" (answers 429 rate_limited). The
 * "table" holds at most `capacity` rows; worker threads "add" to it, the
 * flusher "takes" every row out, writes them, and on failure "puts them
 * back" (added to what came since). Counts that find no room (the table
 * full with other rows) are "dropped" and counted: the table never grows,
 * and a slow database costs usage records, never requests.
 *
 * Memory, allocated once by tusage_new: two tables (the live one and an
 * empty spare swapped in by each take), each capacity rows of
 * sizeof(struct tusage_row) (64 bytes) plus a power-of-two index of at
 * least 2 * capacity 4-byte slots. Plain C and pthread: no libmicrohttpd
 * or MariaDB types. */
#ifndef TENANT_AUTHD_TUSAGE_H
#define TENANT_AUTHD_TUSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batches.h"
#include "metrics.h"
#include "token.h"

/* The largest capacity tusage_new accepts. */
#define TUSAGE_MAX_CAPACITY ((size_t)1 << 22)
/* add_tenant_usage takes this many rows per call, at most. */
#define TUSAGE_CALL_MAX 10000
/* add_tenant_usage takes counts up to this per row: a row's count stops
 * there, and what would pass it is dropped. */
#define TUSAGE_COUNT_MAX UINT32_MAX
/* tusage_json's bytes per row, at most: a row with every count at its
 * largest, and its comma. */
#define TUSAGE_JSON_ROW_MAX 160

struct tusage_row {
  char tenant[TOKEN_UUID_LEN + 1]; /* NUL-terminated UUID text */
  int64_t minute;                  /* UNIX seconds, a multiple of 60 */
  uint64_t requests, limited;
};

struct tusage;

/* A table of at most capacity rows (1..TUSAGE_MAX_CAPACITY). NULL on
 * failure, with the reason in err. */
struct tusage *tusage_new(size_t capacity, char *err, size_t err_size);

/* Frees the table and whatever it holds; NULL is allowed. No other call
 * may be running on it. */
void tusage_free(struct tusage *t);

/* Adds requests and limited to tenant's row of the minute holding unix_s.
 * True when counted; false when tenant is NULL or no UUID text (refused,
 * nothing counted), unix_s is negative, or the table is full (dropped,
 * the counts added to tusage_dropped); a count that would pass
 * TUSAGE_COUNT_MAX stops there and the rest is dropped. Never allocates. */
bool tusage_add(struct tusage *t, const char *tenant, size_t tenant_len,
                int64_t unix_s, uint64_t requests, uint64_t limited);

/* Moves every row out: *out is then a malloc'd array of n rows, sorted by
 * tenant (bytes) then minute, for the caller to free; n is returned. When
 * the table is empty, or memory runs out (the rows then stay), returns 0
 * with *out NULL. */
size_t tusage_take(struct tusage *t, struct tusage_row **out);

/* Adds back n rows a take returned, after a failed write: each added to
 * the row of its tenant and minute; those that no longer fit are dropped
 * and counted. */
void tusage_put_back(struct tusage *t, const struct tusage_row *rows, size_t n);

/* add_tenant_usage's argument for rows[0..n): a JSON array of
 * {"tenant":"<uuid>","minute":N,"requests":N,"limited":N} in the rows'
 * order, into out[0..out_size), NUL-terminated; n * TUSAGE_JSON_ROW_MAX +
 * 3 bytes always suffice. The tenant is copied only when it is UUID text
 * (token_uuid_text, token.h), so nothing needs escaping. Returns the length, or
 * -1 when a row is not one tusage_add would have made (a count over
 * TUSAGE_COUNT_MAX among them) or out is too small. */
long tusage_json(char *out, size_t out_size, const struct tusage_row *rows,
                 size_t n);

/* Batches (batches.h): add_tenant_usage adds nothing for a batch at or
 * below the last one it applied for this instance; a kept batch is written
 * again first, before anything newer is taken. New counts wait in the
 * table meanwhile (bounded as ever). */

/* Writes rows[0..n) as batch seq; true once the database answered OK,
 * else the reason is in err. */
typedef bool tusage_write_fn(void *ctx, const struct tusage_row *rows, size_t n,
                             uint64_t seq, char *err, size_t err_size);

/* One flush of t through write: the kept batch, if any, first (when it
 * fails again, nothing is taken); then every row taken, in batches of at
 * most *chunk rows (read before each batch: write may change it), each
 * with the next number. On a failure the batch is kept in b and the rows
 * after it are put back. True when everything was written; *written gets
 * the rows written. */
bool tusage_flush(struct tusage *t, struct batches *b, const size_t *chunk,
                  tusage_write_fn *write, void *ctx, size_t *written, char *err,
                  size_t err_size);

/* Rows held now, and answers dropped (requests and limited) since
 * tusage_new; read without the lock, so a value may be a moment old. */
size_t tusage_pending(const struct tusage *t);
uint64_t tusage_dropped(const struct tusage *t);

/* Appends t's series (pending rows, dropped answers) to t. */
void tusage_metrics(struct metrics_text *out, const struct tusage *t);

#endif
