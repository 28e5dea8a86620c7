/* test_limiter.c: the failed-authentication limiter (server/limiter.c).
 * Time is injected: every call gets its own now_ms, so windows pass without
 * sleeping. "Blocked" is limiter_blocked() true; "Retry-After" the seconds
 * it reports. Known answers are worked out by hand from limiter.h's
 * estimate prev * (window - e) / window + cur, with e the milliseconds into
 * the address's own window. A "flood" is many new addresses failing once.
 * The threaded part hammers one limiter from 4 threads for about 0.5 s and
 * checks the counts come out exact; a "burst" is many threads reserving for
 * one address at once, the way parked requests do. A "key" is what client_key
 * makes of an address under --ipv6-prefix: what the server hands the limiter.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "clock.h"
#include "limiter.h"
#include "test.h"

#define T0 1000 /* an arbitrary start time, ms */

/* The address s, which must parse. */
static struct client_addr addr(const char *s)
{
  struct client_addr a;

  REQUIRE(client_addr_parse(&a, s, strlen(s)) == 0);
  return a;
}

/* The IPv4 address 100.64.0.0 + n (host order), mapped. */
static struct client_addr addr_n(uint32_t n)
{
  struct client_addr a;

  memset(&a, 0, sizeof a);
  a.b[10] = 0xff;
  a.b[11] = 0xff;
  n += 0x64400000u;
  a.b[12] = (uint8_t)(n >> 24);
  a.b[13] = (uint8_t)(n >> 16);
  a.b[14] = (uint8_t)(n >> 8);
  a.b[15] = (uint8_t)n;
  return a;
}

static struct limiter *make(unsigned limit, unsigned window_s, unsigned table)
{
  char err[160] = "";
  struct limiter *l = limiter_new(limit, window_s, table, err, sizeof err);

  if (l == NULL)
    fprintf(stderr, "limiter_new: %s\n", err);
  REQUIRE(l != NULL);
  return l;
}

static void fail_n(struct limiter *l, const struct client_addr *a, unsigned n,
                   uint64_t now)
{
  for (unsigned i = 0; i < n; i++)
    limiter_fail(l, a, now);
}

/* limiter_blocked, with *retry set to 0 when not blocked. */
static bool blocked(struct limiter *l, const struct client_addr *a,
                    uint64_t now, unsigned *retry)
{
  unsigned r = 0;
  bool b = limiter_blocked(l, a, now, &r);

  if (retry != NULL)
    *retry = b ? r : 0;
  return b;
}

/* Bad arguments are refused with a reason; limit 0 is refused here, since
 * "--auth-fail-limit 0" (off) means the server makes no limiter at all. */
static void check_new(void)
{
  char err[160];
  struct limiter *l;

  err[0] = '\0';
  CHECK(limiter_new(0, 60, 64, err, sizeof err) == NULL);
  CHECKF(strstr(err, "limit") != NULL, "err \"%s\"", err);
  err[0] = '\0';
  CHECK(limiter_new(5, 0, 64, err, sizeof err) == NULL && err[0] != '\0');
  err[0] = '\0';
  CHECK(limiter_new(5, 60, 0, err, sizeof err) == NULL && err[0] != '\0');

  /* The table is rounded up to whole sets of LIMITER_WAYS slots. */
  l = make(5, 60, 1);
  CHECK(limiter_slots(l) == LIMITER_WAYS);
  CHECK(limiter_evictions(l) == 0);
  limiter_free(l);
  l = make(5, 60, LIMITER_WAYS + 1);
  CHECK(limiter_slots(l) == 2 * LIMITER_WAYS);
  limiter_free(l);
  l = make(5, 60, 64);
  CHECK(limiter_slots(l) == 64);
  limiter_free(l);
  limiter_free(NULL);
}

/* Under the limit allowed, at the limit blocked, others unaffected. */
static void check_limit(void)
{
  struct limiter *l = make(5, 60, 64);
  struct client_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");
  struct client_addr c = addr("2001:db8::1");
  unsigned retry = 99;

  /* Never seen: not blocked, and retry_after_s is left alone. */
  CHECK(!limiter_blocked(l, &a, T0, &retry) && retry == 99);
  for (unsigned i = 1; i < 5; i++) {
    limiter_fail(l, &a, T0 + i);
    CHECKF(!blocked(l, &a, T0 + i, NULL), "blocked after %u of 5", i);
  }
  /* The 5th failure blocks: the 6th attempt is refused. */
  limiter_fail(l, &a, T0 + 5);
  CHECK(blocked(l, &a, T0 + 5, &retry));
  CHECK(retry >= 1 && retry <= 60);
  CHECK(!blocked(l, &b, T0 + 5, NULL));
  CHECK(!blocked(l, &c, T0 + 5, NULL));
  fail_n(l, &b, 4, T0 + 6);
  CHECK(!blocked(l, &b, T0 + 6, NULL));
  CHECK(blocked(l, &a, T0 + 6, NULL));
  limiter_free(l);

  /* Limit 1: the first failure blocks. */
  l = make(1, 60, 64);
  CHECK(!blocked(l, &a, T0, NULL));
  limiter_fail(l, &a, T0);
  CHECK(blocked(l, &a, T0 + 1, &retry) && retry == 60);
  limiter_free(l);
}

/* Known answers for limit 5, window 60 s (w = 60000 ms). */
static void check_known_answers(void)
{
  struct limiter *l = make(5, 60, 64);
  struct client_addr a = addr("198.51.100.7");
  unsigned retry;

  /* 5 failures at T0. At e = 10000 the estimate is 5: blocked until the
   * next window plus 1 ms, 50001 ms away -> 51 s. */
  fail_n(l, &a, 5, T0);
  CHECK(blocked(l, &a, T0 + 10000, &retry));
  CHECKF(retry == 51, "retry %u, want 51", retry);
  /* At T0 + w the window rolls: prev 5, cur 0, e 0 -> estimate 5, still
   * blocked for 1 ms; 1 ms later 5 * 59999 / 60000 < 5: allowed. */
  CHECK(blocked(l, &a, T0 + 60000, &retry));
  CHECKF(retry == 1, "retry %u, want 1", retry);
  CHECK(!blocked(l, &a, T0 + 60001, NULL));
  limiter_free(l);

  /* Sliding: halfway into the next window the 5 old failures weigh 2.5;
   * 2 new ones make 4.5 (allowed), a 3rd 5.5 (blocked). Unblocked once
   * 5 * (w - e) + 3 * w < 5 * w, i.e. e > 36000: wait 6001 ms -> 7 s. */
  l = make(5, 60, 64);
  fail_n(l, &a, 5, T0);
  CHECK(!blocked(l, &a, T0 + 90000, NULL));
  fail_n(l, &a, 2, T0 + 90000);
  CHECK(!blocked(l, &a, T0 + 90000, NULL));
  limiter_fail(l, &a, T0 + 90000);
  CHECK(blocked(l, &a, T0 + 90000, &retry));
  CHECKF(retry == 7, "retry %u, want 7", retry);
  CHECK(blocked(l, &a, T0 + 96000, NULL));
  CHECK(!blocked(l, &a, T0 + 96001, NULL));
  limiter_free(l);

  /* Idle for two whole windows: everything is forgotten, so 4 failures
   * do not block even though 5 came before. */
  l = make(5, 60, 64);
  fail_n(l, &a, 5, T0);
  fail_n(l, &a, 4, T0 + 120000);
  CHECK(!blocked(l, &a, T0 + 120000, NULL));
  limiter_fail(l, &a, T0 + 120000);
  CHECK(blocked(l, &a, T0 + 120000, NULL));
  limiter_free(l);

  /* Failures spread over the window count together: 1 per 10 s. */
  l = make(5, 60, 64);
  for (unsigned i = 0; i < 5; i++)
    limiter_fail(l, &a, T0 + 10000 * i);
  CHECK(blocked(l, &a, T0 + 40000, &retry));
  CHECKF(retry == 21, "retry %u, want 21", retry);
  limiter_free(l);
}

/* Retry-After keeps its promise: for each check time e ms after the
 * limit-th failure, blocked at now + (retry - 1) s, allowed at now + retry
 * s, and within [1, window] s (see below for e = 0). A fresh limiter replays
 * the history for each probe, since a later call moves the address's window on.
 */
static void check_retry_after(void)
{
  static const unsigned limits[] = {1, 2, 5, 100};
  static const unsigned windows[] = {1, 2, 60};
  static const uint64_t offsets[] = {0, 1, 2, 499, 999, 1000, 1001, 30000};
  struct client_addr a = addr("203.0.113.9");

  for (size_t li = 0; li < sizeof limits / sizeof limits[0]; li++) {
    for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
      unsigned limit = limits[li], win = windows[wi];

      for (size_t oi = 0; oi < sizeof offsets / sizeof offsets[0]; oi++) {
        uint64_t now = T0 + offsets[oi];
        struct limiter *l;
        unsigned retry;

        if (offsets[oi] >= (uint64_t)win * 1000)
          continue;
        l = make(limit, win, 64);
        fail_n(l, &a, limit, T0);
        CHECKF(blocked(l, &a, now, &retry), "limit %u window %u e %llu", limit,
               win, (unsigned long long)offsets[oi]);
        /* Checked in the very millisecond of the failures, the block
         * lasts the window plus 1 ms (the estimate is exactly the limit as
         * the next window opens), so Retry-After is window + 1 there. */
        CHECKF(retry >= 1 && retry <= win + (offsets[oi] == 0),
               "limit %u window %u e %llu: retry %u", limit, win,
               (unsigned long long)offsets[oi], retry);
        if (retry > 1)
          CHECKF(blocked(l, &a, now + (uint64_t)(retry - 1) * 1000, NULL),
                 "limit %u window %u: free before retry %u", limit, win, retry);
        CHECKF(!blocked(l, &a, now + (uint64_t)retry * 1000, NULL),
               "limit %u window %u: still blocked after retry %u", limit, win,
               retry);
        limiter_free(l);
      }
    }
  }
}

/* Asking does not count and does not forgive: the limiter has no success
 * call (tenant-authd reports failures only), so any number of checks of a
 * blocked or nearly blocked address leave its count alone. */
static void check_no_reset(void)
{
  struct limiter *l = make(3, 60, 64);
  struct client_addr a = addr("192.0.2.10"), b = addr("192.0.2.11");
  bool any = false;

  fail_n(l, &a, 2, T0);
  for (unsigned i = 0; i < 1000; i++)
    any |= blocked(l, &a, T0 + i, NULL);
  CHECK(!any);
  limiter_fail(l, &a, T0 + 1000);
  CHECK(blocked(l, &a, T0 + 1000, NULL));
  fail_n(l, &b, 3, T0);
  for (unsigned i = 0; i < 1000; i++)
    CHECK(blocked(l, &b, T0 + 1 + i, NULL));
  limiter_free(l);
}

/* A flood of new addresses evicts the lowest estimate first, so a blocked
 * address stays blocked; the table never grows. */
static void check_eviction(void)
{
  struct limiter *l = make(3, 60, 1); /* one set: every address collides */
  struct client_addr x = addr("192.0.2.66"), y;
  unsigned retry;

  fail_n(l, &x, 3, T0);
  for (uint32_t i = 0; i < 10000; i++) {
    y = addr_n(i);
    limiter_fail(l, &y, T0 + i / 100);
  }
  CHECK(blocked(l, &x, T0 + 100, &retry) && retry == 60);
  /* 7 free slots, then one eviction per new address. */
  CHECKF(limiter_evictions(l) == 10000 - (LIMITER_WAYS - 1), "evictions %llu",
         (unsigned long long)limiter_evictions(l));
  CHECK(limiter_slots(l) == LIMITER_WAYS);

  /* New addresses failing twice (estimate 2) still lose to x (3). */
  for (uint32_t i = 20000; i < 21000; i++) {
    y = addr_n(i);
    fail_n(l, &y, 2, T0 + 200);
  }
  CHECK(blocked(l, &x, T0 + 200, NULL));
  limiter_free(l);

  /* Lowest estimate goes first: in a full set of one address with 1
   * failure and 7 with 2 (limit 2, all blocked but the first), a new
   * address evicts the single failure. Failing that one again shows it
   * came back with a count of 1, not 2; the 7 are still blocked. */
  l = make(2, 60, 1);
  x = addr("192.0.2.77");
  limiter_fail(l, &x, T0);
  for (uint32_t i = 0; i < LIMITER_WAYS - 1; i++) {
    y = addr_n(i);
    fail_n(l, &y, 2, T0);
  }
  CHECK(limiter_evictions(l) == 0);
  y = addr_n(100);
  limiter_fail(l, &y, T0 + 1);
  CHECK(limiter_evictions(l) == 1);
  limiter_fail(l, &x, T0 + 2);
  CHECK(limiter_evictions(l) == 2);
  CHECK(!blocked(l, &x, T0 + 2, NULL));
  for (uint32_t i = 0; i < LIMITER_WAYS - 1; i++) {
    y = addr_n(i);
    CHECKF(blocked(l, &y, T0 + 2, NULL), "address %u evicted", i);
  }
  limiter_free(l);

  /* An address idle for two windows weighs nothing and goes first. */
  l = make(2, 60, 1);
  y = addr_n(3);
  fail_n(l, &y, 2, T0);
  for (uint32_t i = 0; i < LIMITER_WAYS; i++) {
    y = addr_n(i);
    if (i != 3)
      fail_n(l, &y, 2, T0 + 120000);
  }
  y = addr_n(100);
  limiter_fail(l, &y, T0 + 120000);
  for (uint32_t i = 0; i < LIMITER_WAYS; i++) {
    y = addr_n(i);
    CHECKF(blocked(l, &y, T0 + 120000, NULL) == (i != 3), "address %u", i);
  }
  limiter_free(l);

  /* The server's smallest table (--auth-fail-table 64): 100000 flooding
   * addresses over the window leave a blocked address blocked. */
  l = make(3, 60, 64);
  x = addr("2001:db8::66");
  fail_n(l, &x, 3, T0);
  for (uint32_t i = 0; i < 100000; i++) {
    y = addr_n(i);
    limiter_fail(l, &y, T0 + i / 2);
  }
  CHECK(blocked(l, &x, T0 + 50000, &retry) && retry <= 60);
  CHECK(limiter_slots(l) == 64);
  CHECKF(limiter_evictions(l) == 100001 - 64, "evictions %llu",
         (unsigned long long)limiter_evictions(l));
  limiter_free(l);
}

/* 192.0.2.1, ::ffff:192.0.2.1 and the peers that name it are one address;
 * the IPv4-compatible ::192.0.2.1 is another. */
static void check_mapped(void)
{
  struct limiter *l = make(2, 60, 64);
  struct client_addr v4 = addr("192.0.2.1"), m = addr("::ffff:192.0.2.1");
  struct client_addr compat = addr("::192.0.2.1"), from_sa;
  struct sockaddr_in sin;

  limiter_fail(l, &v4, T0);
  limiter_fail(l, &m, T0);
  CHECK(blocked(l, &v4, T0, NULL));
  CHECK(blocked(l, &m, T0, NULL));
  CHECK(!blocked(l, &compat, T0, NULL));
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  REQUIRE(inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr) == 1);
  REQUIRE(client_addr_from_sockaddr(&from_sa, (struct sockaddr *)&sin) == 0);
  CHECK(blocked(l, &from_sa, T0, NULL));
  limiter_free(l);
}

/* The key client_key gives a under --ipv6-prefix prefix. */
static struct client_addr key(const char *s, unsigned prefix)
{
  struct client_policy p;
  struct client_addr a = addr(s), k;
  char err[160];

  REQUIRE(client_policy_init(&p, NULL, 0, NULL, prefix, err, sizeof err) == 0);
  client_key(&k, &a, &p);
  return k;
}

/* --ipv6-prefix, as tenant-authd applies it (every limiter call takes the
 * client's key): limit 5; 3 failures from one address and 2 from another
 * in the same /64 block the whole /64, addresses never seen included, with
 * one Retry-After; another /64 is free. With /128 the two count apart;
 * with /48 two /64s of one /48 count together. IPv4 is per address
 * whatever the prefix. */
static void check_ipv6_prefix(void)
{
  static const char *const a1 = "2001:db8:0:1::1";
  static const char *const a2 = "2001:db8:0:1:ffff:ffff:ffff:fffe";
  static const char *const a3 = "2001:db8:0:1:1234:5678:9abc:def0";
  static const char *const b1 = "2001:db8:0:2::1";
  struct limiter *l = make(5, 60, 64);
  struct client_addr k;
  unsigned r1, r2;

  k = key(a1, 64);
  fail_n(l, &k, 3, T0);
  k = key(a2, 64);
  fail_n(l, &k, 2, T0);
  k = key(a1, 64);
  CHECK(blocked(l, &k, T0, &r1));
  k = key(a2, 64);
  CHECK(blocked(l, &k, T0, &r2) && r2 == r1);
  k = key(a3, 64);
  CHECK(blocked(l, &k, T0, NULL));
  k = key(b1, 64);
  CHECK(!blocked(l, &k, T0, NULL));
  fail_n(l, &k, 4, T0);
  CHECK(!blocked(l, &k, T0, NULL));
  /* Not the same as the unmasked address: the limiter sees keys only. */
  k = addr(a1);
  CHECK(!blocked(l, &k, T0, NULL));
  limiter_free(l);

  l = make(5, 60, 64);
  k = key(a1, 128);
  fail_n(l, &k, 3, T0);
  k = key(a2, 128);
  fail_n(l, &k, 2, T0);
  k = key(a1, 128);
  CHECK(!blocked(l, &k, T0, NULL));
  k = key(a2, 128);
  CHECK(!blocked(l, &k, T0, NULL));
  k = key(a1, 128);
  fail_n(l, &k, 2, T0);
  CHECK(blocked(l, &k, T0, NULL));
  k = key(a2, 128);
  CHECK(!blocked(l, &k, T0, NULL));
  k = key(a3, 128);
  CHECK(!blocked(l, &k, T0, NULL));
  limiter_free(l);

  l = make(5, 60, 64);
  k = key(a1, 48);
  fail_n(l, &k, 3, T0);
  k = key(b1, 48);
  fail_n(l, &k, 2, T0);
  CHECK(blocked(l, &k, T0, NULL));
  k = key("2001:db8:1::1", 48);
  CHECK(!blocked(l, &k, T0, NULL));
  limiter_free(l);

  /* IPv4: 192.0.2.1 and 192.0.2.2 apart at /1, /64 and /127. */
  for (unsigned prefix = 1; prefix <= 128; prefix += 63) {
    l = make(5, 60, 64);
    k = key("192.0.2.1", prefix);
    fail_n(l, &k, 3, T0);
    k = key("192.0.2.2", prefix);
    fail_n(l, &k, 2, T0);
    CHECKF(!blocked(l, &k, T0, NULL), "prefix %u", prefix);
    k = key("::ffff:192.0.2.1", prefix);
    fail_n(l, &k, 2, T0);
    CHECKF(blocked(l, &k, T0, NULL), "prefix %u", prefix);
    k = key("192.0.2.1", prefix);
    CHECKF(blocked(l, &k, T0, NULL), "prefix %u", prefix);
    k = key("192.0.2.2", prefix);
    CHECKF(!blocked(l, &k, T0, NULL), "prefix %u", prefix);
    k = key("192.0.2.3", prefix);
    CHECKF(!blocked(l, &k, T0, NULL), "prefix %u", prefix);
    limiter_free(l);
  }
}

/* The limiter's own clock: never 0, never going back, and it moves in
 * milliseconds from the limiter's making: never more than the test's own
 * monotonic clock saw pass around it (an order, not a deadline: a slow
 * machine only makes both larger). */
static void check_clock(void)
{
  struct timespec pause = {0, 20 * 1000 * 1000};
  uint64_t t0 = clock_now_us(), a, b, seen_ms;
  struct limiter *l = make(5, 60, 64);

  a = limiter_now_ms(l);
  CHECKF(a >= 1 && a <= clock_since_us(t0) / 1000 + 1, "clock %llu at first",
         (unsigned long long)a);
  nanosleep(&pause, NULL);
  b = limiter_now_ms(l);
  seen_ms = clock_since_us(t0) / 1000 + 1;
  CHECKF(b >= a + 19 && b <= seen_ms, "clock %llu -> %llu, %llu ms seen",
         (unsigned long long)a, (unsigned long long)b,
         (unsigned long long)seen_ms);
  limiter_free(l);
}

#define HAMMER_THREADS 4
#define HAMMER_ADDRS 64
#define HAMMER_K 50 /* failures per thread per address and round */

struct hammer {
  struct limiter *l;
  pthread_barrier_t *start;
  unsigned id;
  unsigned long checks;
};

/* One thread's round: HAMMER_K failures on every address (one fewer on
 * the upper half for thread 0), interleaved with checks, in an order of its
 * own so the threads collide on every set. */
static void *hammer_run(void *arg)
{
  struct hammer *h = arg;

  pthread_barrier_wait(h->start);
  for (unsigned k = 0; k < HAMMER_K; k++) {
    for (unsigned j = 0; j < HAMMER_ADDRS; j++) {
      unsigned i = (j * 7 + h->id * 16 + k) % HAMMER_ADDRS;
      struct client_addr a = addr_n(i);
      unsigned r;

      if (h->id == 0 && i >= HAMMER_ADDRS / 2 && k == 0)
        continue;
      limiter_fail(h->l, &a, limiter_now_ms(h->l));
      if (limiter_blocked(h->l, &a, limiter_now_ms(h->l), &r))
        h->checks += r >= 1;
    }
  }
  return NULL;
}

/* Rounds of 4 threads for about 0.5 s. Each round the lower half of the
 * addresses gets exactly 4 * K failures (the limit) and the upper half one
 * fewer, so a lost or doubled update shows as a wrong decision. */
static void check_threads(void)
{
  struct timespec t0, t;
  unsigned rounds = 0;
  long wrong = 0;

  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    struct limiter *l = make(HAMMER_THREADS * HAMMER_K, 3600, 4096);
    pthread_barrier_t start;
    pthread_t th[HAMMER_THREADS];
    struct hammer h[HAMMER_THREADS];

    REQUIRE(pthread_barrier_init(&start, NULL, HAMMER_THREADS) == 0);
    for (unsigned i = 0; i < HAMMER_THREADS; i++) {
      h[i] = (struct hammer){l, &start, i, 0};
      REQUIRE(pthread_create(&th[i], NULL, hammer_run, &h[i]) == 0);
    }
    for (unsigned i = 0; i < HAMMER_THREADS; i++)
      pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    /* 64 addresses in 512 sets of 8: an eviction is vanishingly rare. */
    CHECK(limiter_evictions(l) == 0);
    for (uint32_t i = 0; i < HAMMER_ADDRS; i++) {
      struct client_addr a = addr_n(i);
      unsigned r;
      bool b = limiter_blocked(l, &a, limiter_now_ms(l), &r);

      if (b != (i < HAMMER_ADDRS / 2) || (b && (r < 1 || r > 3600 + 1)))
        wrong++;
    }
    limiter_free(l);
    rounds++;
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
           500000000L);
  CHECKF(wrong == 0, "%ld wrong decisions in %u rounds", wrong, rounds);
  CHECK(rounds >= 1);
}

/* 4 threads flood a one-set table with addresses of their own while one
 * address sits blocked; it must still be blocked at the end. */
struct flood {
  struct limiter *l;
  unsigned id;
};

static void *flood_run(void *arg)
{
  struct flood *f = arg;
  struct timespec t0, t;
  uint32_t n = 0;

  clock_gettime(CLOCK_MONOTONIC, &t0);
  do {
    for (unsigned i = 0; i < 256; i++, n++) {
      struct client_addr a = addr_n((f->id << 24) | (n & 0xffffff));
      unsigned r;

      limiter_fail(f->l, &a, limiter_now_ms(f->l));
      (void)limiter_blocked(f->l, &a, limiter_now_ms(f->l), &r);
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
           250000000L);
  return NULL;
}

static void check_threaded_flood(void)
{
  struct limiter *l = make(3, 3600, 1);
  struct client_addr x = addr("192.0.2.99");
  pthread_t th[HAMMER_THREADS];
  struct flood f[HAMMER_THREADS];

  fail_n(l, &x, 3, limiter_now_ms(l));
  for (unsigned i = 0; i < HAMMER_THREADS; i++) {
    f[i] = (struct flood){l, i + 1};
    REQUIRE(pthread_create(&th[i], NULL, flood_run, &f[i]) == 0);
  }
  for (unsigned i = 0; i < HAMMER_THREADS; i++)
    pthread_join(th[i], NULL);
  CHECK(blocked(l, &x, limiter_now_ms(l), NULL));
  CHECK(limiter_evictions(l) > 0);
  limiter_free(l);
}

/* limiter_reserve: the check and the count in one step; limiter_refund
 * gives a reservation back to the window it was counted in. */
static void check_reserve(void)
{
  struct limiter *l = make(3, 10, 64);
  struct client_addr a = addr("192.0.2.1"), b = addr("192.0.2.2");
  unsigned retry = 99;
  const uint64_t w = 10000;

  for (unsigned i = 0; i < 3; i++)
    CHECKF(limiter_reserve(l, &a, T0, &retry), "reservation %u of 3", i + 1);
  CHECK(retry == 99);
  CHECK(!limiter_reserve(l, &a, T0 + 1, &retry) && retry == 10);
  CHECK(blocked(l, &a, T0 + 1, NULL));
  /* Reservations stand as failures, as limiter_fail's do. */
  limiter_refund(l, &a, T0, T0 + 2);
  CHECK(!blocked(l, &a, T0 + 2, NULL));
  CHECK(limiter_reserve(l, &a, T0 + 2, &retry));
  CHECK(!limiter_reserve(l, &a, T0 + 2, &retry));
  for (unsigned i = 0; i < 3; i++)
    limiter_refund(l, &a, T0, T0 + 3);
  CHECK(!blocked(l, &a, T0 + 3, NULL));
  /* A refund never goes below zero, and one for an address never seen
   * takes no slot. */
  limiter_refund(l, &a, T0, T0 + 3);
  limiter_refund(l, &b, T0, T0 + 3);
  for (unsigned i = 0; i < 3; i++)
    CHECK(limiter_reserve(l, &a, T0 + 4, &retry));
  CHECK(!limiter_reserve(l, &a, T0 + 4, &retry));
  CHECK(!blocked(l, &b, T0 + 4, NULL));
  limiter_free(l);

  /* Limit 2: two reserved at T0; 1 ms into the next window their weight
   * is 2 * (w - 1), so one more tips it over. Refunded there, one of them
   * is taken off the previous window: two more fit. */
  l = make(2, 10, 64);
  CHECK(limiter_reserve(l, &a, T0, &retry) &&
        limiter_reserve(l, &a, T0, &retry));
  CHECK(limiter_reserve(l, &a, T0 + w + 1, &retry));
  CHECK(!limiter_reserve(l, &a, T0 + w + 1, &retry));
  limiter_free(l);
  l = make(2, 10, 64);
  CHECK(limiter_reserve(l, &a, T0, &retry) &&
        limiter_reserve(l, &a, T0, &retry));
  limiter_refund(l, &a, T0, T0 + w + 1);
  CHECK(limiter_reserve(l, &a, T0 + w + 1, &retry));
  CHECK(limiter_reserve(l, &a, T0 + w + 1, &retry));
  CHECK(!limiter_reserve(l, &a, T0 + w + 1, &retry));
  limiter_free(l);
  /* Two windows on, the reservation has faded: a refund gives nothing
   * back beyond the limit. */
  l = make(2, 10, 64);
  CHECK(limiter_reserve(l, &a, T0, &retry) &&
        limiter_reserve(l, &a, T0, &retry));
  limiter_refund(l, &a, T0, T0 + 2 * w + 5);
  limiter_refund(l, &a, T0, T0 + 2 * w + 5);
  CHECK(limiter_reserve(l, &a, T0 + 2 * w + 5, &retry));
  CHECK(limiter_reserve(l, &a, T0 + 2 * w + 5, &retry));
  CHECK(!limiter_reserve(l, &a, T0 + 2 * w + 5, &retry));
  limiter_free(l);
}

#define BURST_TRIES 2000

struct burst {
  struct limiter *l;
  pthread_barrier_t *start;
  bool refund; /* give each reservation back at once */
  unsigned reserved;
};

static void *burst_run(void *arg)
{
  struct burst *b = arg;
  struct client_addr a = addr("192.0.2.7");

  pthread_barrier_wait(b->start);
  for (unsigned i = 0; i < BURST_TRIES; i++) {
    uint64_t now = limiter_now_ms(b->l);
    unsigned r;

    if (!limiter_reserve(b->l, &a, now, &r))
      continue;
    b->reserved++;
    if (b->refund)
      limiter_refund(b->l, &a, now, limiter_now_ms(b->l));
  }
  return NULL;
}

/* 4 threads reserve for one address at once: exactly the limit is
 * granted, however they interleave. With each reservation refunded, the
 * budget is whole again at the end. */
static void check_burst(void)
{
  for (int refund = 0; refund <= 1; refund++) {
    struct limiter *l = make(100, 3600, 64);
    struct client_addr a = addr("192.0.2.7");
    pthread_barrier_t start;
    pthread_t th[HAMMER_THREADS];
    struct burst b[HAMMER_THREADS];
    unsigned total = 0, more = 0, r;

    REQUIRE(pthread_barrier_init(&start, NULL, HAMMER_THREADS) == 0);
    for (unsigned i = 0; i < HAMMER_THREADS; i++) {
      b[i] = (struct burst){l, &start, refund, 0};
      REQUIRE(pthread_create(&th[i], NULL, burst_run, &b[i]) == 0);
    }
    for (unsigned i = 0; i < HAMMER_THREADS; i++) {
      pthread_join(th[i], NULL);
      total += b[i].reserved;
    }
    pthread_barrier_destroy(&start);
    while (more < 1000 && limiter_reserve(l, &a, limiter_now_ms(l), &r))
      more++;
    if (refund)
      CHECKF(total > 100 && more == 100,
             "with refunds: %u reserved, then %u more of 100", total, more);
    else
      CHECKF(total == 100 && more == 0,
             "%u reserved at once with a limit of 100, then %u more", total,
             more);
    limiter_free(l);
  }
}

int main(void)
{
  check_new();
  check_limit();
  check_known_answers();
  check_retry_after();
  check_no_reset();
  check_eviction();
  check_mapped();
  check_ipv6_prefix();
  check_clock();
  check_threads();
  check_threaded_flood();
  check_reserve();
  check_burst();
  return test_finish("limiter");
}
