/* swaptable.h: the bounded, double-buffered table under usage.c and
 * tusage.c. Terms: a "row" is kind->row_size bytes whose "key" part is
 * what kind->cmp compares (equal keys: one row); the table holds at most
 * `capacity` rows. Threads "add" a row: merged into the row of its key, or
 * made new; one thread at a time "takes" every row out (sorted by cmp)
 * and, after a failed write, "puts them back" (added as if anew). What
 * finds the table full is "dropped" and counted, in the units kind->merge
 * and kind->weight give: the table never grows, and every hold of the lock
 * adds wait on is short (an add, a take's swap of tables: O(1); a put
 * back: a few hundred adds at a time).
 *
 * Memory, allocated once by swaptable_new: two tables (the live one and an
 * empty spare swapped in by each take), each capacity rows plus a
 * power-of-two index of at least 2 * capacity 4-byte slots. Plain C and
 * pthread. */
#ifndef TENANT_AUTHD_SWAPTABLE_H
#define TENANT_AUTHD_SWAPTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest capacity swaptable_new accepts. */
#define SWAPTABLE_MAX_CAPACITY ((size_t)1 << 22)

/* What a table holds and how its rows meet; a static const of its user. */
struct swaptable_kind {
  const char *name; /* starts each error message */
  size_t row_size;
  /* The row's key hashed, uniformly: its low bits pick the bucket. */
  uint64_t (*hash)(const void *row);
  /* qsort's order of keys; 0 when a and b are of one key. */
  int (*cmp)(const void *a, const void *b);
  /* Folds add into row (of add's key), returning how much of add did not
   * fit, to count as dropped; when fresh, row is a new slot to fill from
   * add. NULL: a set; a new row is a copy of add, an old one is kept. */
  uint64_t (*merge)(void *row, const void *add, bool fresh);
  /* What add counts as dropped when the table is full; NULL: 1. */
  uint64_t (*weight)(const void *add);
};

struct swaptable;

/* A table of at most capacity rows (1..SWAPTABLE_MAX_CAPACITY) of kind,
 * which must outlive it. NULL on failure, with the reason in err. */
struct swaptable *swaptable_new(const struct swaptable_kind *kind,
                                size_t capacity, char *err, size_t err_size);

/* Frees the table and whatever it holds; NULL is allowed. No other call
 * may be running on it. */
void swaptable_free(struct swaptable *t);

/* Adds row. True when it is held now (new or merged; what did not fit in a
 * merge is counted as dropped); false when the table was full and it was
 * dropped. Never allocates. */
bool swaptable_add(struct swaptable *t, const void *row);

/* Moves every row out: returns a malloc'd array of *n rows sorted by
 * kind->cmp, for the caller to free. When the table is empty, or memory
 * runs out (the rows then stay), returns NULL with *n 0. */
void *swaptable_take(struct swaptable *t, size_t *n);

/* Adds back n rows a take returned, after a failed write: each added as
 * by swaptable_add. */
void swaptable_put_back(struct swaptable *t, const void *rows, size_t n);

/* Rows held now, and what was dropped since swaptable_new; read without
 * the lock, so a value may be a moment old. */
size_t swaptable_pending(const struct swaptable *t);
uint64_t swaptable_dropped(const struct swaptable *t);

#endif
