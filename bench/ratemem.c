/* ratemem.c: the memory of tenant-authd's rate limit table (ratelimit.h)
 * with 100,000 active tokens. It makes a table of --limit-table entries
 * (the first argument, default RATE_TABLE_DEFAULT), as tenant-authd does
 * at start with a sync thread (rate_set_synced), and takes one request for
 * each of TOKENS token keys (ids 1 to TOKENS, each limited to 100 per 60
 * s) and TENANTS tenant keys (version-4 UUIDs, 1000 per 60 s), all in one
 * window: every key is active and holds an unsynced count, so nothing is
 * idle to evict. It prints the table's bytes (slots and pending list, as
 * allocated), the growth of the process's resident set while filling it,
 * the keys held and the keys evicted (a set of RATE_WAYS slots that more
 * keys hash to than it holds evicts; a table twice the keys keeps almost
 * all). Usage: ratemem [entries]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ratelimit.h"
#include "token.h"

#define TOKENS 100000
#define TENANTS 1000

/* The resident set in bytes (/proc/self/statm). */
static size_t rss_bytes(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;

  if (f == NULL)
    return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2)
    resident = 0;
  fclose(f);
  return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

int main(int argc, char **argv)
{
  size_t entries = argc > 1 ? strtoul(argv[1], NULL, 10) : RATE_TABLE_DEFAULT;
  char err[160] = "", id[TOKEN_UUID_LEN + 1];
  struct rate_table *t;
  struct rate_decision d;
  size_t rss0 = rss_bytes(), rss1;
  uint64_t now = rate_clock_local_ms() / 60000 * 60000; /* a window start */
  unsigned refused = 0;

  t = rate_new(entries, err, sizeof err);
  if (t == NULL) {
    fprintf(stderr, "ratemem: %s\n", err);
    return 1;
  }
  rate_set_synced(t, true);
  for (unsigned i = 1; i <= TOKENS; i++) {
    snprintf(id, sizeof id, "%u", i);
    refused += !rate_take(t, RATE_TOKEN, id, 100, 60, now, &d);
  }
  for (unsigned i = 0; i < TENANTS; i++) {
    if (token_uuid_v4(id) != 0) {
      fprintf(stderr, "ratemem: token_uuid_v4 failed\n");
      return 1;
    }
    id[TOKEN_UUID_LEN] = '\0';
    refused += !rate_take(t, RATE_TENANT, id, 1000, 60, now, &d);
  }
  rss1 = rss_bytes();
  printf("rate table: %zu slots of %d bytes, %u token + %u tenant keys\n",
         rate_slots(t), RATE_ENTRY_BYTES, TOKENS, TENANTS);
  printf("bytes allocated: %zu (%.1f MiB), %.0f per key held\n",
         rate_bytes(t), rate_bytes(t) / 1048576.0,
         (double)rate_bytes(t) / (double)rate_entries(t));
  printf("resident growth: %zu bytes (%.1f MiB)\n", rss1 - rss0,
         (rss1 - rss0) / 1048576.0);
  printf("keys held: %zu, evicted: %llu, refused: %u\n", rate_entries(t),
         (unsigned long long)rate_evictions(t), refused);
  rate_free(t);
  return refused == 0 ? 0 : 1;
}
