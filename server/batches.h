/* batches.h: numbered batches, sent exactly once. Terms: an instance
 * numbers each batch of rows it sends (1, 2, ...); the database applies a
 * number once (tenant_auth_batches). A batch whose call failed in any way
 * is "kept": the same rows under the same number, sent again before
 * anything newer, so that one the database committed after the client
 * gave up adds nothing the second time. The rows are the caller's type:
 * tenant usage rows (tusage.h) or rate counts (ratesync.h). */
#ifndef TENANT_AUTHD_BATCHES_H
#define TENANT_AUTHD_BATCHES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct batches {
  uint64_t next;     /* the next new batch's number; 0 is taken as 1 */
  void *kept;        /* the kept batch's rows (malloc'd), or NULL */
  size_t kept_n;     /* its rows */
  uint64_t kept_seq; /* its number */
};

/* The number of a new batch. */
static inline uint64_t batches_number(struct batches *b)
{
  if (b->next == 0)
    b->next = 1;
  return b->next++;
}

/* Keeps rows[from..from+n) of a malloc'd array of rows of size bytes each
 * as batch seq: moved to its start, the array owned by b from now on. */
static inline void batches_keep(struct batches *b, void *rows, size_t size,
                                size_t from, size_t n, uint64_t seq)
{
  memmove(rows, (char *)rows + from * size, n * size);
  b->kept = rows;
  b->kept_n = n;
  b->kept_seq = seq;
}

/* Frees b's kept batch (its rows are then lost). */
static inline void batches_free(struct batches *b)
{
  free(b->kept);
  b->kept = NULL;
  b->kept_n = 0;
  b->kept_seq = 0;
}

#endif
