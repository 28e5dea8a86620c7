/* ratelimit.c: the rate limits in memory; see ratelimit.h. Terms: a
 * "slot" holds one key's state (an "entry" once occupied); a "set" is
 * RATE_WAYS slots; a key may live in either of two sets, both chosen by
 * one SipHash (its low and its high 32 bits), so that a set that more
 * keys hash to than it holds is rare even with the table half full, and a
 * new key goes to the set with more room. A "shard" is the mutex guarding
 * every set whose index is the same modulo RATE_SHARDS. "w" is a window's
 * length in ms and "e" the ms elapsed in the current one. Estimates are
 * kept multiplied by w, so that they stay integers: a request is admitted
 * when prev * (w - e) + (cur + n * local + 1) * w <= requests * w. To
 * "spill" is to move an entry's unsynced count of a window it no longer
 * holds to the pending list. Lock order: a key's shards in ascending
 * order, then the pending list. */
#include "ratelimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "siphash.h"
#include "token.h"

struct rate_entry {
  char id[RATE_ID_MAX]; /* not NUL-terminated: id_len bytes */
  uint8_t scope;        /* 't' or 'k'; 0: the slot is empty */
  uint8_t id_len : 6;
  uint8_t wanted : 1; /* refused since the last collect */
  uint8_t n;          /* instances counting the key in win, >= 1 */
  uint8_t n_next;     /* the last sync's count: n from the next window */
  uint32_t requests;  /* the limit the last rate_take brought */
  uint32_t seconds;
  uint32_t win;       /* the current window's number */
  uint32_t prev, cur; /* the cluster's totals as last known */
  uint32_t local;     /* admitted in win, not in cur */
  uint32_t pend_cur;  /* admitted in win, not yet collected */
  uint32_t pend_prev; /* admitted in win - 1, not yet collected */
  uint32_t coll_win;  /* 1 + the latest window collected; 0: none */
  uint32_t last_s;    /* UNIX second of the last rate_take */
};

_Static_assert(sizeof(struct rate_entry) == RATE_ENTRY_BYTES,
               "RATE_ENTRY_BYTES is the documented memory cost");
_Static_assert(RATE_ID_MAX == TOKEN_UUID_LEN,
               "a tenant's key is its UUID text (token_uuid_text)");

struct rate_pending {
  pthread_mutex_t lock;
  struct rate_count *rows;
  size_t n, cap;
};

struct rate_table {
  struct rate_entry *slots; /* sets * RATE_WAYS */
  size_t sets;
  /* One byte per set, under its shard's lock: 1 when an entry of the set
   * may have something to collect. rate_collect visits those sets only,
   * so that a second's sync reads a few bytes per set instead of every
   * slot (which kept the whole table resident). */
  uint8_t *dirty;
  uint64_t key[2];
  atomic_size_t entries;
  atomic_uint_fast64_t evictions, dropped;
  atomic_uint peers;  /* n of a key before its first sync */
  atomic_bool synced; /* rate_set_synced */
  struct rate_pending pending;
  pthread_mutex_t locks[RATE_SHARDS];
};

static atomic_int_fast64_t rate_offset_ms;

static uint32_t rate_sat32(uint64_t v)
{
  return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static char rate_scope_char(enum rate_scope s)
{
  return s == RATE_TENANT ? 't' : 'k';
}

/* The key text of id in scope, as sync_tenant_rate_counts takes it, into
 * out (not NUL-terminated) and its length into *len: a tenant's UUID in
 * lowercase, or a token id of 1 to 19 digits without a leading zero.
 * False for anything else. */
static bool rate_key_text(enum rate_scope scope, const char *id,
                          char out[RATE_ID_MAX], size_t *len)
{
  size_t i = 0;

  if (id == NULL)
    return false;
  if (scope == RATE_TOKEN) {
    for (; i < 19 && id[i] >= '0' && id[i] <= '9'; i++)
      out[i] = id[i];
    *len = i;
    return i >= 1 && id[i] == '\0' && id[0] != '0';
  }
  if (scope != RATE_TENANT ||
      !token_uuid_text(id, strnlen(id, RATE_ID_MAX + 1)))
    return false;
  for (; i < RATE_ID_MAX; i++)
    out[i] = id[i] >= 'A' && id[i] <= 'F' ? (char)(id[i] - 'A' + 'a') : id[i];
  *len = i;
  return true;
}

struct rate_table *rate_new(size_t entries, char *err, size_t err_size)
{
  struct rate_table *t;
  size_t shards_ready = 0;

  if (entries == 0 || entries > SIZE_MAX / 2 / RATE_ENTRY_BYTES) {
    snprintf(err, err_size, "rate limits: the table needs 1 to %zu entries",
             SIZE_MAX / 2 / RATE_ENTRY_BYTES);
    return NULL;
  }
  t = calloc(1, sizeof *t);
  if (t == NULL) {
    snprintf(err, err_size, "rate limits: out of memory");
    return NULL;
  }
  t->sets = (entries + RATE_WAYS - 1) / RATE_WAYS;
  atomic_init(&t->entries, 0);
  atomic_init(&t->evictions, 0);
  atomic_init(&t->dropped, 0);
  atomic_init(&t->peers, 1);
  atomic_init(&t->synced, false);
  t->slots = calloc(t->sets * RATE_WAYS, sizeof *t->slots);
  t->dirty = calloc(t->sets, 1);
  t->pending.cap = t->sets * RATE_WAYS / RATE_PENDING_SHARE + RATE_WAYS;
  t->pending.rows = calloc(t->pending.cap, sizeof *t->pending.rows);
  if (t->slots == NULL || t->dirty == NULL || t->pending.rows == NULL) {
    snprintf(err, err_size,
             "rate limits: cannot allocate %zu slots of %d bytes and their "
             "pending list",
             t->sets * RATE_WAYS, RATE_ENTRY_BYTES);
    goto fail;
  }
  if (getrandom(t->key, sizeof t->key, 0) != (ssize_t)sizeof t->key) {
    snprintf(err, err_size, "rate limits: getrandom failed");
    goto fail;
  }
  if (pthread_mutex_init(&t->pending.lock, NULL) != 0) {
    snprintf(err, err_size, "rate limits: pthread_mutex_init failed");
    goto fail;
  }
  for (; shards_ready < RATE_SHARDS; shards_ready++) {
    if (pthread_mutex_init(&t->locks[shards_ready], NULL) != 0) {
      snprintf(err, err_size, "rate limits: pthread_mutex_init failed");
      pthread_mutex_destroy(&t->pending.lock);
      goto fail;
    }
  }
  return t;
fail:
  while (shards_ready > 0)
    pthread_mutex_destroy(&t->locks[--shards_ready]);
  free(t->pending.rows);
  free(t->slots);
  free(t->dirty);
  free(t);
  return NULL;
}

void rate_free(struct rate_table *t)
{
  if (t == NULL)
    return;
  for (size_t i = 0; i < RATE_SHARDS; i++)
    pthread_mutex_destroy(&t->locks[i]);
  pthread_mutex_destroy(&t->pending.lock);
  free(t->pending.rows);
  free(t->slots);
  free(t->dirty);
  free(t);
}

/* Under e's shard lock: marks e's set for rate_collect when e holds
 * something to send. */
static void rate_mark(struct rate_table *t, const struct rate_entry *e)
{
  if (e->wanted || e->pend_cur > 0 || e->pend_prev > 0)
    t->dirty[(size_t)(e - t->slots) / RATE_WAYS] = 1;
}

uint64_t rate_clock_local_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t rate_clock_now_ms(void)
{
  int64_t ms = (int64_t)rate_clock_local_ms() + atomic_load(&rate_offset_ms);

  return ms < 1 ? 1 : (uint64_t)ms;
}

void rate_clock_learn(uint64_t db_now_ms, uint64_t sent_ms, uint64_t done_ms)
{
  uint64_t mid = sent_ms + (done_ms >= sent_ms ? (done_ms - sent_ms) / 2 : 0);

  atomic_store(&rate_offset_ms, (int64_t)db_now_ms - (int64_t)mid);
}

/* Where a key may live: its two sets (set[1] NULL when both are one) and
 * their shards' locks (lock[1] NULL when both are one), taken in
 * ascending order. */
struct rate_place {
  struct rate_entry *set[2];
  pthread_mutex_t *lock[2];
};

static void rate_place_of(struct rate_table *t, char scope, const char *id,
                          size_t len, struct rate_place *p)
{
  char k[RATE_ID_MAX + 1];
  uint64_t h;
  size_t s0, s1, l0, l1;

  k[0] = scope;
  memcpy(k + 1, id, len);
  h = siphash24(t->key, k, len + 1);
  s0 = (size_t)((uint32_t)h % t->sets);
  s1 = (size_t)((h >> 32) % t->sets);
  l0 = s0 % RATE_SHARDS;
  l1 = s1 % RATE_SHARDS;
  p->set[0] = &t->slots[s0 * RATE_WAYS];
  p->set[1] = s1 != s0 ? &t->slots[s1 * RATE_WAYS] : NULL;
  p->lock[0] = &t->locks[l0 < l1 ? l0 : l1];
  p->lock[1] = l0 != l1 ? &t->locks[l0 < l1 ? l1 : l0] : NULL;
}

static void rate_lock(const struct rate_place *p)
{
  pthread_mutex_lock(p->lock[0]);
  if (p->lock[1] != NULL)
    pthread_mutex_lock(p->lock[1]);
}

static void rate_unlock(const struct rate_place *p)
{
  if (p->lock[1] != NULL)
    pthread_mutex_unlock(p->lock[1]);
  pthread_mutex_unlock(p->lock[0]);
}

/* The entry of key (scope, id[0..len)) in its sets; NULL when it has
 * none. The caller holds their locks. */
static struct rate_entry *rate_find(const struct rate_place *p, char scope,
                                    const char *id, size_t len)
{
  for (size_t k = 0; k < 2 && p->set[k] != NULL; k++) {
    for (size_t i = 0; i < RATE_WAYS; i++) {
      struct rate_entry *e = &p->set[k][i];

      if (e->scope == scope && e->id_len == len && memcmp(e->id, id, len) == 0)
        return e;
    }
  }
  return NULL;
}

/* Appends rows to the pending list; what does not fit is dropped and
 * counted. */
static void rate_pend(struct rate_table *t, const struct rate_count *rows,
                      size_t n)
{
  struct rate_pending *p = &t->pending;
  uint64_t lost = 0;

  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < n; i++) {
    if (p->n < p->cap)
      p->rows[p->n++] = rows[i];
    else
      lost += rows[i].admitted;
  }
  pthread_mutex_unlock(&p->lock);
  if (lost > 0)
    atomic_fetch_add(&t->dropped, lost);
}

/* The sync row of entry e for window win. */
static struct rate_count rate_row(const struct rate_entry *e, uint64_t win,
                                  uint64_t admitted)
{
  struct rate_count c;

  memset(&c, 0, sizeof c);
  c.scope = (char)e->scope;
  memcpy(c.key, e->id, e->id_len);
  c.seconds = e->seconds;
  c.window = win;
  c.admitted = admitted;
  return c;
}

/* Spills e's unsynced counts: those of the previous window, and of the
 * current one too when all is true. */
static void rate_spill(struct rate_table *t, struct rate_entry *e, bool all)
{
  struct rate_count rows[2];
  size_t n = 0;

  if (e->pend_prev > 0 && e->win > 0)
    rows[n++] = rate_row(e, e->win - 1, e->pend_prev);
  if (all && e->pend_cur > 0)
    rows[n++] = rate_row(e, e->win, e->pend_cur);
  e->pend_prev = 0;
  if (all)
    e->pend_cur = 0;
  if (n > 0)
    rate_pend(t, rows, n);
}

/* Moves e forward to window win; a window it leaves becomes prev, with
 * the estimate's total of it. */
static void rate_roll(struct rate_table *t, struct rate_entry *e, uint32_t win)
{
  if (win <= e->win)
    return;
  if (win == e->win + 1) {
    rate_spill(t, e, false);
    e->pend_prev = e->pend_cur;
    e->pend_cur = 0;
    e->prev = rate_sat32((uint64_t)e->cur + (uint64_t)e->n * e->local);
  } else {
    rate_spill(t, e, true);
    e->prev = 0;
  }
  e->cur = 0;
  e->local = 0;
  e->win = win;
  e->n = e->n_next;
}

/* Brings e back to window win when its own is later than the one after
 * win: the clock jumped forward, then back (a step of the system clock, an
 * offset not yet learned). Its counts are relabelled, not dropped: they
 * were admitted, under windows the clock misnamed. Left ahead, the key
 * would be refused until the clock reached the jump, and its counts would
 * go to the database under windows of the future. A clock back by less
 * stays in e's window, at its start (rate_take). */
static void rate_rewind(struct rate_entry *e, uint32_t win)
{
  uint32_t shift;

  if ((uint64_t)win + 1 >= e->win)
    return;
  shift = e->win - win;
  e->win = win;
  e->coll_win = e->coll_win > shift ? e->coll_win - shift : 0;
}

/* A fresh state in e for key (scope, id) under requests per seconds. */
static void rate_init(struct rate_table *t, struct rate_entry *e, char scope,
                      const char *id, size_t len, uint32_t requests,
                      uint32_t seconds, uint32_t win)
{
  memset(e, 0, sizeof *e);
  e->scope = (uint8_t)scope;
  e->id_len = (uint8_t)len;
  memcpy(e->id, id, len);
  e->requests = requests;
  e->seconds = seconds;
  e->win = win;
  e->n = (uint8_t)atomic_load(&t->peers);
  if (e->n == 0)
    e->n = 1;
  e->n_next = e->n;
}

/* The slot a new key takes in its sets: an empty one, in the set with
 * more of them; else the idle one used least recently; else the one used
 * least recently. The caller holds the sets' locks; an occupied victim's
 * unsynced counts are spilled. */
static struct rate_entry *
rate_victim(struct rate_table *t, const struct rate_place *p, uint64_t now_s)
{
  struct rate_entry *victim = NULL;
  uint64_t best = UINT64_MAX;

  for (size_t k = 0; k < 2 && p->set[k] != NULL; k++) {
    size_t empty = 0;

    for (size_t i = 0; i < RATE_WAYS; i++)
      empty += p->set[k][i].scope == 0;
    for (size_t i = 0; i < RATE_WAYS; i++) {
      struct rate_entry *e = &p->set[k][i];
      uint64_t score;

      if (e->scope == 0) {
        score = RATE_WAYS - empty; /* below 1 << 32 */
      } else if (e->pend_cur == 0 && e->pend_prev == 0 &&
                 (uint64_t)e->last_s + 2 * (uint64_t)e->seconds <= now_s) {
        score = ((uint64_t)1 << 32) + e->last_s;
      } else {
        score = ((uint64_t)1 << 33) + e->last_s;
      }
      if (score < best) {
        best = score;
        victim = e;
      }
    }
  }
  if (victim->scope == 0) {
    atomic_fetch_add(&t->entries, 1);
  } else {
    atomic_fetch_add(&t->evictions, 1);
    rate_spill(t, victim, true);
  }
  return victim;
}

/* Fills out for a refusal of a broken call. */
static bool rate_refuse_bad(uint32_t requests, uint32_t seconds,
                            struct rate_decision *out)
{
  memset(out, 0, sizeof *out);
  out->limited = true;
  out->requests = requests;
  out->seconds = seconds;
  out->reset_s = seconds > 0 ? seconds : 1;
  out->retry_after_s = out->reset_s;
  return false;
}

/* Milliseconds until e's estimate leaves room for one request, if nobody
 * takes more; e is refused at e_ms into a window of w ms. */
static uint64_t rate_wait_ms(const struct rate_entry *e, uint64_t cur_plus,
                             uint64_t e_ms, uint64_t w)
{
  uint64_t limit = e->requests;

  if (cur_plus + 1 <= limit) {
    /* prev's part must fade: prev * (w - x) <= (limit - 1 - cur_plus) * w */
    uint64_t room = limit - 1 - cur_plus;
    uint64_t keep = room * w / e->prev; /* prev > 0: else it was admitted */
    return w - keep > e_ms ? w - keep - e_ms : 1;
  }
  /* The next window, where this one is prev: cur_plus * (w - x) <=
   * (limit - 1) * w. */
  return (w - e_ms) + (w - (limit - 1) * w / cur_plus);
}

bool rate_take(struct rate_table *t, enum rate_scope scope, const char *id,
               uint32_t requests, uint32_t seconds, uint64_t now_ms,
               struct rate_decision *out)
{
  struct rate_place p;
  struct rate_entry *e;
  size_t len;
  char key[RATE_ID_MAX];
  char sc = rate_scope_char(scope);
  uint64_t w, now_s, win, e_ms, cur_plus, limit_w, est_w, wait;
  bool admit;

  if (requests == 0) {
    memset(out, 0, sizeof *out);
    return true;
  }
  if (t == NULL || !rate_key_text(scope, id, key, &len) ||
      requests > RATE_REQUESTS_MAX || seconds == 0 ||
      seconds > RATE_SECONDS_MAX)
    return rate_refuse_bad(requests, seconds, out);
  w = (uint64_t)seconds * 1000;
  now_s = now_ms / 1000;
  win = now_s / seconds;
  if (win > UINT32_MAX)
    return rate_refuse_bad(requests, seconds, out);
  rate_place_of(t, sc, key, len, &p);
  rate_lock(&p);
  e = rate_find(&p, sc, key, len);
  if (e != NULL && e->seconds != seconds) {
    /* Another window length: its counts go on to the database under the
     * old one, and counting starts over. */
    rate_spill(t, e, true);
    rate_init(t, e, sc, key, len, requests, seconds, (uint32_t)win);
  } else if (e == NULL) {
    e = rate_victim(t, &p, now_s);
    rate_init(t, e, sc, key, len, requests, seconds, (uint32_t)win);
  }
  e->requests = requests;
  rate_rewind(e, (uint32_t)win);
  rate_roll(t, e, (uint32_t)win);
  /* A clock that stepped back stays at the start of the entry's window. */
  e_ms = now_ms >= (uint64_t)e->win * w ? now_ms - (uint64_t)e->win * w : 0;
  if (e_ms >= w)
    e_ms = w - 1;
  cur_plus = (uint64_t)e->cur + (uint64_t)e->n * e->local;
  limit_w = (uint64_t)requests * w;
  admit = cur_plus + 1 <= requests &&
          (uint64_t)e->prev * (w - e_ms) + (cur_plus + 1) * w <= limit_w;
  if (!admit && atomic_load(&t->synced))
    e->wanted = 1;
  if (admit) {
    if (e->local < UINT32_MAX)
      e->local++;
    if (e->pend_cur < UINT32_MAX && atomic_load(&t->synced))
      e->pend_cur++;
    cur_plus += e->n;
  }
  e->last_s = rate_sat32(now_s);
  memset(out, 0, sizeof *out);
  out->limited = !admit;
  out->requests = requests;
  out->seconds = seconds;
  est_w = (uint64_t)e->prev * (w - e_ms) +
          (cur_plus < requests ? cur_plus : requests) * w;
  out->remaining = est_w >= limit_w ? 0 : (uint32_t)((limit_w - est_w) / w);
  out->reset_s = (uint32_t)((w - e_ms + 999) / 1000);
  if (!admit) {
    wait = rate_wait_ms(e, cur_plus, e_ms, w);
    out->retry_after_s = wait < 1000 ? 1 : (uint32_t)((wait + 999) / 1000);
  }
  rate_mark(t, e);
  rate_unlock(&p);
  return admit;
}

void rate_give_back(struct rate_table *t, enum rate_scope scope, const char *id,
                    uint32_t seconds, uint64_t taken_ms)
{
  struct rate_place p;
  struct rate_entry *e;
  size_t len;
  char key[RATE_ID_MAX];
  char sc = rate_scope_char(scope);
  uint64_t win;

  if (t == NULL || !rate_key_text(scope, id, key, &len) || seconds == 0 ||
      seconds > RATE_SECONDS_MAX)
    return;
  win = taken_ms / 1000 / seconds;
  rate_place_of(t, sc, key, len, &p);
  rate_lock(&p);
  e = rate_find(&p, sc, key, len);
  if (e != NULL && e->seconds == seconds) {
    /* Without a sync thread nothing is pending: local is all there is. */
    bool synced = atomic_load(&t->synced);

    if (win == e->win && (synced ? e->pend_cur > 0 : e->local > 0)) {
      if (e->pend_cur > 0)
        e->pend_cur--;
      if (e->local > 0)
        e->local--;
    } else if (win + 1 == e->win && (synced ? e->pend_prev > 0 : true) &&
               e->prev > 0) {
      if (e->pend_prev > 0)
        e->pend_prev--;
      e->prev--;
    }
  }
  rate_unlock(&p);
}

void rate_set_synced(struct rate_table *t, bool on)
{
  if (t != NULL)
    atomic_store(&t->synced, on);
}

/* Orders sync rows by scope, key, seconds and window. */
static int rate_count_cmp(const void *a, const void *b)
{
  const struct rate_count *x = a, *y = b;
  int c;

  if (x->scope != y->scope)
    return x->scope < y->scope ? -1 : 1;
  c = strcmp(x->key, y->key);
  if (c != 0)
    return c;
  if (x->seconds != y->seconds)
    return x->seconds < y->seconds ? -1 : 1;
  if (x->window != y->window)
    return x->window < y->window ? -1 : 1;
  return 0;
}

/* Whether sync_tenant_rate_counts takes row c: its window's end plus
 * seconds (the row's expires_at) within TIMESTAMP's range. One it refuses
 * would fail every sync that carries it, and with it every count behind:
 * only a clock set past 2038 makes one. */
static bool rate_sendable(const struct rate_count *c)
{
  return c->window <= RATE_WINDOW_END_MAX &&
         (c->window + 2) * c->seconds <= RATE_WINDOW_END_MAX;
}

/* Grows the array *rows of capacity *cap to hold at least want rows
 * (1024 at first, then doubling); false out of memory, *rows unchanged. */
static bool rate_reserve(struct rate_count **rows, size_t *cap, size_t want)
{
  size_t ncap = *cap;
  struct rate_count *p;

  if (want <= ncap)
    return true;
  while (ncap < want)
    ncap = ncap == 0 ? 1024 : ncap * 2;
  p = realloc(*rows, ncap * sizeof *p);
  if (p == NULL)
    return false;
  *rows = p;
  *cap = ncap;
  return true;
}

/* Appends c to the growing array *rows; false out of memory. */
static bool rate_push(struct rate_count **rows, size_t *n, size_t *cap,
                      const struct rate_count *c)
{
  if (!rate_reserve(rows, cap, *n + 1))
    return false;
  (*rows)[(*n)++] = *c;
  return true;
}

size_t rate_collect(struct rate_table *t, struct rate_count **out)
{
  struct rate_count *rows = NULL, c;
  size_t n = 0, cap = 0, m = 0;
  bool full = false;

  *out = NULL;
  if (t == NULL)
    return 0;
  for (size_t set = 0; set < t->sets && !full; set++) {
    pthread_mutex_t *lock = &t->locks[set % RATE_SHARDS];

    pthread_mutex_lock(lock);
    if (!t->dirty[set]) {
      pthread_mutex_unlock(lock);
      continue;
    }
    t->dirty[set] = 0;
    for (size_t i = 0; i < RATE_WAYS && !full; i++) {
      struct rate_entry *e = &t->slots[set * RATE_WAYS + i];
      size_t need = (e->pend_prev > 0) + (e->pend_cur > 0 || e->wanted);

      if (e->scope == 0 || need == 0)
        continue;
      if (!rate_reserve(&rows, &cap, n + need)) {
        full = true; /* the rest waits for the next collect */
        t->dirty[set] = 1;
        break;
      }
      if (e->pend_prev > 0 && e->win > 0) {
        rows[n++] = rate_row(e, e->win - 1, e->pend_prev);
        if (e->coll_win < e->win)
          e->coll_win = e->win;
      }
      /* A refused key sends a 0 to learn the totals, and to be counted
       * among the instances that want it. */
      if (e->pend_cur > 0 || e->wanted) {
        rows[n++] = rate_row(e, e->win, e->pend_cur);
        e->coll_win = e->win + 1;
      }
      e->pend_prev = 0;
      e->pend_cur = 0;
      e->wanted = 0;
    }
    pthread_mutex_unlock(lock);
  }
  pthread_mutex_lock(&t->pending.lock);
  while (t->pending.n > 0) {
    c = t->pending.rows[t->pending.n - 1];
    if (!rate_push(&rows, &n, &cap, &c))
      break;
    t->pending.n--;
  }
  pthread_mutex_unlock(&t->pending.lock);
  if (n == 0) {
    free(rows);
    return 0;
  }
  qsort(rows, n, sizeof *rows, rate_count_cmp);
  /* Merged while a row's count stays within what the routine takes; a row
   * it would refuse is dropped (rate_sendable). */
  for (size_t i = 0; i < n; i++) {
    if (!rate_sendable(&rows[i]))
      atomic_fetch_add(&t->dropped, rows[i].admitted);
    else if (m > 0 && rate_count_cmp(&rows[m - 1], &rows[i]) == 0 &&
             rows[m - 1].admitted + rows[i].admitted <= UINT32_MAX)
      rows[m - 1].admitted += rows[i].admitted;
    else
      rows[m++] = rows[i];
  }
  if (m == 0) {
    free(rows);
    return 0;
  }
  *out = rows;
  return m;
}

void rate_put_back(struct rate_table *t, const struct rate_count *rows,
                   size_t n)
{
  for (size_t i = 0; t != NULL && rows != NULL && i < n; i++) {
    const struct rate_count *c = &rows[i];
    struct rate_place p;
    struct rate_entry *e;
    size_t len = strnlen(c->key, sizeof c->key);
    bool kept = false;

    if (len == 0 || len > RATE_ID_MAX || (c->scope != 't' && c->scope != 'k'))
      continue;
    rate_place_of(t, c->scope, c->key, len, &p);
    rate_lock(&p);
    e = rate_find(&p, c->scope, c->key, len);
    if (e != NULL && e->seconds == c->seconds) {
      /* Back into the entry when it still holds the window. */
      if (c->window == e->win) {
        e->pend_cur = rate_sat32((uint64_t)e->pend_cur + c->admitted);
        kept = true;
      } else if (c->window + 1 == e->win) {
        e->pend_prev = rate_sat32((uint64_t)e->pend_prev + c->admitted);
        kept = true;
      }
      rate_mark(t, e);
    }
    rate_unlock(&p);
    if (!kept)
      rate_pend(t, c, 1);
  }
}

void rate_apply(struct rate_table *t, const struct rate_total *rows, size_t n)
{
  unsigned peers = 0;

  for (size_t i = 0; t != NULL && rows != NULL && i < n; i++) {
    const struct rate_total *r = &rows[i];
    struct rate_place p;
    struct rate_entry *e;
    size_t len = strnlen(r->key, sizeof r->key);
    uint64_t ni;
    bool included;

    if (len == 0 || len > RATE_ID_MAX || (r->scope != 't' && r->scope != 'k') ||
        r->window > UINT32_MAX || r->seconds == 0)
      continue;
    rate_place_of(t, r->scope, r->key, len, &p);
    rate_lock(&p);
    e = rate_find(&p, r->scope, r->key, len);
    if (e == NULL || e->seconds != r->seconds) {
      rate_unlock(&p);
      continue;
    }
    rate_rewind(e, (uint32_t)r->window);
    rate_roll(t, e, (uint32_t)r->window);
    /* What was not collected is not in the totals: every count collected
     * for this key was delivered by the call that answered them. */
    if (r->window == e->win) {
      e->cur = rate_sat32(r->cur_total);
      e->prev = rate_sat32(r->prev_total + e->pend_prev);
      e->local = e->pend_cur;
    } else if (r->window + 1 == e->win) {
      e->prev = rate_sat32(r->cur_total + e->pend_prev);
    }
    /* This instance is among them when it delivered a count of the
     * window or the one before. n rises at once; it falls only from the
     * next window: an instance that has not synced yet this window is
     * missing from the count, not gone. */
    included = e->coll_win >= r->window;
    ni = (uint64_t)r->instances + (included ? 0 : 1);
    e->n_next = (uint8_t)(ni < 1                    ? 1
                          : ni > RATE_INSTANCES_MAX ? RATE_INSTANCES_MAX
                                                    : ni);
    if (e->n_next > e->n)
      e->n = e->n_next;
    if (e->n_next > peers)
      peers = e->n_next;
    rate_unlock(&p);
  }
  /* The hint follows the cluster: up at once, down by one per sync. */
  if (peers > 0) {
    unsigned old = atomic_load(&t->peers);

    atomic_store(&t->peers, peers + 1 >= old ? peers : old - 1);
  }
}

size_t rate_entries(struct rate_table *t)
{
  return t != NULL ? atomic_load(&t->entries) : 0;
}

size_t rate_slots(const struct rate_table *t)
{
  return t != NULL ? t->sets * RATE_WAYS : 0;
}

size_t rate_bytes(const struct rate_table *t)
{
  if (t == NULL)
    return 0;
  return sizeof *t + t->sets * RATE_WAYS * sizeof *t->slots + t->sets +
         t->pending.cap * sizeof *t->pending.rows;
}

uint64_t rate_evictions(const struct rate_table *t)
{
  return t != NULL ? atomic_load(&t->evictions) : 0;
}

uint64_t rate_dropped(const struct rate_table *t)
{
  return t != NULL ? atomic_load(&t->dropped) : 0;
}

void rate_metrics(struct metrics_text *m, struct rate_table *t)
{
  /* rate_entries and rate_evictions answer 0 for no table. */
  metrics_gauge(m, "tenant_authd_rate_entries",
                "Keys (tenants and tokens) the rate limit table holds.",
                (double)rate_entries(t));
  metrics_counter(m, "tenant_authd_rate_evictions_total",
                  "Keys dropped from the full rate limit table to make "
                  "room.",
                  rate_evictions(t));
}
