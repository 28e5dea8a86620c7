/* usage.h: the token hashes tenant-authd has seen verify and not yet
 * written to the database. A "hash" is a token's SHA-256 (TOKEN_HASH_LEN
 * bytes); the "set" holds each distinct hash once, at most `capacity` of
 * them. Worker threads "add" after each successful verification; the one
 * flusher thread "takes" everything out, writes it, and on failure "puts it
 * back". A hash that finds the set full is "dropped" and counted: the set
 * never grows, and every hold of the lock adds wait on is short (an add, or
 * a take's swap of tables: O(1); a put back: a few hundred adds at a time),
 * so a slow database costs usage records, not requests.
 *
 * Memory, allocated once by usage_new: two tables (the live one and an
 * empty spare swapped in by each take), each capacity * TOKEN_HASH_LEN bytes
 * of hashes plus a power-of-two index of at least 2 * capacity 4-byte slots.
 * Plain C and pthread: no libmicrohttpd or MariaDB types. */
#ifndef TENANT_AUTHD_USAGE_H
#define TENANT_AUTHD_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "token.h"

/* The largest capacity usage_new accepts: about 320 MiB for both tables. */
#define USAGE_MAX_CAPACITY ((size_t)1 << 22)

struct usage_set;

/* A set of at most capacity distinct hashes (1..USAGE_MAX_CAPACITY). NULL
 * on failure, with the reason in err. */
struct usage_set *usage_new(size_t capacity, char *err, size_t err_size);

/* Frees the set and whatever it holds; NULL is allowed. No other call may
 * be running on it. */
void usage_free(struct usage_set *set);

/* Records hash. True when it is held now (new, or already there); false
 * when the set was full and it was dropped. Never allocates. */
bool usage_add(struct usage_set *set, const uint8_t hash[TOKEN_HASH_LEN]);

/* Moves every hash out of the set: *out is then a malloc'd array of n
 * hashes, n * TOKEN_HASH_LEN bytes sorted ascending by memcmp, for the
 * caller to free; n is returned. When the set is empty, or memory runs out
 * (the hashes then stay in the set), returns 0 with *out NULL. */
size_t usage_take(struct usage_set *set, uint8_t **out);

/* Adds back n hashes a take returned, after a failed flush: merged with
 * those added since, each held once; any that no longer fit are dropped and
 * counted. */
void usage_put_back(struct usage_set *set, const uint8_t *hashes, size_t n);

/* The flusher's "chunk", the hashes one call writes: how many the next
 * call should take, after one that wrote `sent` (of a chunk of `chunk`) in
 * took_ms, for calls meant to take at most target_ms. A call that ran past
 * the target shrinks the chunk to what would have fit, at the rate just
 * seen (never below USAGE_CHUNK_MIN); a whole chunk written in under a
 * quarter of the target doubles it, up to max; anything else keeps it. */
#define USAGE_CHUNK_MIN 16
size_t usage_chunk_next(size_t chunk, size_t sent, uint64_t took_ms,
                        uint64_t target_ms, size_t max);

/* Distinct hashes held now, and hashes dropped since usage_new; read
 * without the lock, so a value may be a moment old. */
size_t usage_pending(const struct usage_set *set);
uint64_t usage_dropped(const struct usage_set *set);

/* Appends set's series (pending, dropped) to t. */
void usage_metrics(struct metrics_text *t, const struct usage_set *set);

#endif
