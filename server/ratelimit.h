/* ratelimit.h: the rate limits of tenants and tokens, in memory, shared by
 * the instances of a cluster through the database (ratesync.h).
 *
 * Terms. A "key" is (scope, id): RATE_TENANT with the tenant's UUID text
 * (either case; kept in lowercase, as the database prints it), or
 * RATE_TOKEN with the token's id in decimal (1 to 19 digits, no leading
 * zero): what sync_tenant_rate_counts takes, so that no key of the table
 * can make it refuse a sync. A key's "limit" is `requests` per `seconds`,
 * as the last verdict gave it: a changed limit applies from the call that
 * brings it. A "window" is the number floor(now_s / seconds) on the
 * database's UNIX clock (rate_clock_now_ms), so that every instance counts
 * in the same windows. The "cluster" is every tenant-authd that syncs with
 * one database; "n" is how many of them counted a key in its current or
 * previous window, as the syncs said (at least 1, and at least 1 + the
 * others when this instance has not counted it there yet; at most
 * RATE_INSTANCES_MAX). Within a window n only rises: a lower count takes
 * effect from the next window, since an instance that has not yet synced
 * in this window is missing from the count, not gone. A key new to the
 * table starts with the "peers" hint: the largest n of the last
 * rate_apply, or one less than the hint before when that is larger (it
 * follows a growing cluster at once and a shrinking one a step per sync);
 * 1 until the first sync. A refused key is synced too (with a count of
 * 0), so that it learns the totals and counts among the instances.
 *
 * A clock that steps back by more than a window brings a key back with
 * it, its counts relabelled: a forward jump undone must not leave the key
 * refused for the jump's length.
 *
 * The estimate (a sliding-window counter over the fixed windows) is
 *   prev * (1 - elapsed fraction of the window) + cur + n * local
 * where prev and cur are the cluster's totals of the previous and the
 * current window as the last sync returned them (they include this
 * instance's counts it had sent), and "local" is what this instance
 * admitted in the current window since then. A request is admitted when
 * estimate + 1 <= requests. Between two syncs an instance spends at most
 * 1/n of what its last view left, so n instances together spend at most
 * what was left, without a word between them per request.
 *
 * THE BOUND. With n instances syncing every --limit-sync ms (1 s by
 * default), each of which has synced once, the cluster admits in any
 * window of a key at most 1.5 x `requests` + (n - 1), and at least 0.8 x
 * `requests` when every instance has demand beyond its share. Between
 * syncs an instance spends at most 1/n of what its view left, and a view
 * lags by one sync interval at most: what overshoots is the shares spent
 * on views the others' counts had not yet reached, about one share
 * (requests / n) in a key's first window and a few percent after; the
 * + (n - 1) is rounding, each instance admitting whole requests.
 * tests/unit/test_ratelimit.c proves it with three instances on a fake
 * sync_tenant_rate_counts, syncing every second at phases 0, 1/3 and 2/3,
 * windows of 1, 3, 10 and 60 s, demand even or 90/5/5, and the database
 * gone: with limits of 1000 and more at most 1.34 x (a key's first
 * window), 1.03 x to 1.2 x after, at least 0.99 x; a limit of 5 sees 8
 * (rounding). Without the n of the estimate the same test sees 2.9 x.
 * While the database is out of reach each instance goes on from its last
 * view with its last n, spending about 1/n of each window. Outside the
 * bound: a cluster started cold (before its first sync an instance takes
 * n = 1: up to n x in its first second), and an instance that starts
 * counting a key mid-window (up to one more share). With --limit-sync 0
 * each instance enforces the whole limit alone.
 *
 * "Unsynced" counts are admitted counts not yet handed to the sync thread
 * (rate_collect); an entry holds them for its current and previous window
 * (what a failed sync puts back, rate_put_back, goes back there too), and
 * moves older ones, and those of an evicted key, to the table's "pending"
 * list of one row (sizeof struct rate_count) per RATE_PENDING_SHARE slots;
 * past that, counts are dropped and counted.
 *
 * The table is allocated once: `entries` slots of RATE_ENTRY_BYTES in sets
 * of RATE_WAYS; a key may live in two sets, chosen by SipHash of the key
 * under a key drawn at start. A new key takes an empty slot of the two
 * sets, else an idle one (no request for two windows and nothing
 * unsynced), else the least recently used one (its unsynced counts go to
 * the pending list); such evictions are counted. With 100,000 token keys
 * and 1,000 tenants in the default table (bench/ratemem): 18.3 MiB
 * allocated, 17.7 MiB resident, no eviction.
 * Sets are guarded by RATE_SHARDS mutexes; nothing takes a global lock on
 * a request's path. Plain C: no MariaDB or libmicrohttpd types. */
#ifndef TENANT_AUTHD_RATELIMIT_H
#define TENANT_AUTHD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define RATE_WAYS 8
#define RATE_SHARDS 64
#define RATE_ENTRY_BYTES 80
#define RATE_ID_MAX 36                /* a UUID's text; a token id is shorter */
#define RATE_REQUESTS_MAX 1000000000u /* the schema's bounds of a limit */
#define RATE_SECONDS_MAX 86400u
#define RATE_TABLE_DEFAULT 200000 /* --limit-table */
#define RATE_INSTANCES_MAX 255    /* n is capped there */
#define RATE_PENDING_SHARE 4      /* slots per row of the pending list */
/* The latest (window + 2) * seconds sync_tenant_rate_counts takes: a
 * row's expires_at, a TIMESTAMP (2038-01-19). */
#define RATE_WINDOW_END_MAX 2147483647u

enum rate_scope { RATE_TENANT, RATE_TOKEN };

struct rate_table;

/* What rate_take decided, for the answer's RateLimit fields. */
struct rate_decision {
  bool limited;      /* refused */
  uint32_t requests; /* the limit: requests per seconds (0: none) */
  uint32_t seconds;
  uint32_t remaining;     /* requests the estimate leaves in the window */
  uint32_t reset_s;       /* whole seconds until the window ends, >= 1 */
  uint32_t retry_after_s; /* refused: whole seconds >= 1 until one request
                             would be admitted if nobody took more */
};

/* One sync row: what this instance admitted for a key in a window and has
 * not yet seen the database take (at most UINT32_MAX: more is two rows).
 * scope is 't' or 'k', as the routine sync_tenant_rate_counts spells
 * it. */
struct rate_count {
  char scope;
  char key[RATE_ID_MAX + 1];
  uint32_t seconds;
  uint64_t window;
  uint64_t admitted;
};

/* One row the routine returns: the cluster's totals of a key's current
 * window (by the database's clock) and the one before, and how many
 * instances counted it in them. */
struct rate_total {
  char scope;
  char key[RATE_ID_MAX + 1];
  uint32_t seconds;
  uint64_t window;
  uint64_t cur_total, prev_total;
  uint32_t instances;
};

/* A table of at least `entries` slots (rounded up to whole sets). NULL on
 * failure (0 entries, out of memory), with the reason in err. */
struct rate_table *rate_new(size_t entries, char *err, size_t err_size);

/* Frees t; NULL does nothing. */
void rate_free(struct rate_table *t);

/* Counts one request of key (scope, id) against its limit of requests per
 * seconds at now_ms (rate_clock_now_ms) and fills *out. True: admitted
 * and counted. requests == 0 (no limit): true, nothing counted,
 * out->requests 0. A bad key (id NULL, or not the scope's form: see
 * above; empty, too long, binary) or a limit outside the schema's bounds:
 * false,
 * refused with retry_after_s = seconds (at least 1): a broken caller fails
 * closed. */
bool rate_take(struct rate_table *t, enum rate_scope scope, const char *id,
               uint32_t requests, uint32_t seconds, uint64_t now_ms,
               struct rate_decision *out);

/* Gives back one request rate_take admitted at taken_ms for key (scope,
 * id) under a limit of `seconds`: the token's count when the tenant's
 * limit then refused the request. Nothing happens when the count has been
 * handed to the sync thread, or its window is older than the previous one,
 * or the key was evicted, or its limit changed window length since. */
void rate_give_back(struct rate_table *t, enum rate_scope scope, const char *id,
                    uint32_t seconds, uint64_t taken_ms);

/* The database clock's UNIX time in ms: CLOCK_REALTIME plus the offset the
 * last sync learned (rate_clock_learn); never 0. */
uint64_t rate_clock_now_ms(void);

/* Learns the offset: the database said db_now_ms in a call sent at
 * sent_ms and answered at done_ms (both CLOCK_REALTIME ms): the database's
 * time is taken as of the middle of the call. */
void rate_clock_learn(uint64_t db_now_ms, uint64_t sent_ms, uint64_t done_ms);

/* CLOCK_REALTIME in UNIX ms. */
uint64_t rate_clock_local_ms(void);

/* Whether t keeps unsynced counts for a sync thread (ratesync_start turns
 * it on); off, as with --limit-sync 0, nothing is kept to send. */
void rate_set_synced(struct rate_table *t, bool on);

/* Moves every unsynced count of t and its pending list into a malloc'd
 * array *out (the caller frees it), sorted by scope, key, seconds and
 * window with one row per such four, and returns its length (0: *out is
 * NULL). NULL out of memory leaves everything where it was and returns 0.
 * A count of a window past RATE_WINDOW_END_MAX, which the routine would
 * refuse, is dropped and counted (rate_dropped). */
size_t rate_collect(struct rate_table *t, struct rate_count **out);

/* Puts back rows rate_collect gave out that the database did not take
 * (a failed sync): they go to the pending list, and what does not fit is
 * dropped and counted. */
void rate_put_back(struct rate_table *t, const struct rate_count *rows,
                   size_t n);

/* Applies the totals of a sync that delivered every count rate_collect had
 * given out for these keys. Rows for keys the table no longer holds, or
 * with another window length, or a malformed scope, are skipped. */
void rate_apply(struct rate_table *t, const struct rate_total *rows, size_t n);

/* Occupied slots, allocated slots, bytes allocated (slots, a byte per
 * set for rate_collect, the pending list), evictions, counts dropped from
 * a full pending list; 0 for a NULL t, as rate_collect answers, and
 * rate_set_synced, rate_put_back and rate_apply do nothing with it. */
size_t rate_entries(struct rate_table *t);
size_t rate_slots(const struct rate_table *t);
size_t rate_bytes(const struct rate_table *t);
uint64_t rate_evictions(const struct rate_table *t);
uint64_t rate_dropped(const struct rate_table *t);

/* Appends tenant_authd_rate_entries and
 * tenant_authd_rate_evictions_total to m (zeros when t is NULL). */
void rate_metrics(struct metrics_text *m, struct rate_table *t);

#endif
