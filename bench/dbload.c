/* dbload.c: runs one prepared query with string parameters (tokens from a
 * token file, one per line; a query with k parameters gets k tokens per
 * execution, a "batch") over N Connector/C connections for a fixed
 * duration, then prints one line of key=value figures:
 *   qps= queries= errors= nulls= p50_us= p99_us= seconds= per_query=
 *   tokens_per_s=
 * "errors" counts failed executions plus results that break --expect
 * (nonnull: one row whose every column is non-NULL wanted; null: NULL or
 * no row wanted).
 * With --hashes K the query is a CALL that takes one parameter, the SHA-256
 * hashes of K tokens packed end to end (verify_tenant_token_hashes): a
 * "batch" is K tokens, hashed once at start-up by token.c, and --expect
 * nonnull wants K rows whose state (the second column) is "valid".
 * Latency is one execute+fetch round trip, in 1-microsecond buckets up to
 * LAT_MAX_US; slower queries count as LAT_MAX_US. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <errmsg.h>
#include <mysql.h>

#include "token.h"

#define LAT_MAX_US 100000 /* 100 ms */
#define RESULT_MAX 256
#define MAX_THREADS 256
#define TOKEN_MAX 255
#define PARAMS_MAX 64
#define HASHES_MAX 256 /* verify_tenant_token_hashes' maximum per call */

enum expect { EXPECT_ANY, EXPECT_NONNULL, EXPECT_NULL };
enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

struct options {
  const char *socket;
  const char *user;
  const char *password;
  const char *db;
  const char *query;
  const char *tokens_path;
  int threads;
  unsigned hashes; /* 0, or tokens per CALL as packed hashes */
  double duration;
  double warmup;
  enum expect expect;
};

struct tokens {
  char *buf;       /* the whole file */
  char **tok;      /* start of each token */
  size_t *len;     /* its length */
  unsigned char (*hash)[TOKEN_HASH_LEN]; /* with --hashes: each one's SHA-256 */
  size_t count;
};

struct worker {
  pthread_t tid;
  int index;
  const struct options *opt;
  const struct tokens *tokens;
  uint32_t *lat;   /* LAT_MAX_US + 1 buckets */
  uint64_t queries;
  uint64_t errors;
  uint64_t nulls;
  int failed;      /* could not connect or prepare */
  unsigned per_query; /* tokens per execution: the query's parameters */
};

static _Atomic int phase = PHASE_WARMUP;
static pthread_barrier_t start_barrier;


static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


static void usage(void)
{
  fprintf(stderr,
          "usage: dbload --socket PATH --user U [--password P] --db DB\n"
          "  --query SQL --tokens FILE [--threads N] [--duration S]\n"
          "  [--warmup S] [--expect any|nonnull|null] [--hashes K]\n"
          "The query takes one string parameter, a token from FILE.\n"
          "--hashes K: it takes one, the SHA-256 of K tokens packed (1-256).\n"
          "The password may also come from the env var DBLOAD_PASSWORD.\n");
}


/* Reads the token file into t; 0 on success, -1 with a message printed. */
static int tokens_load(const char *path, struct tokens *t)
{
  FILE *f = fopen(path, "rb");
  long size;
  size_t n = 0, i, start;

  if (f == NULL) {
    fprintf(stderr, "dbload: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    fprintf(stderr, "dbload: cannot size %s\n", path);
    fclose(f);
    return -1;
  }
  t->buf = malloc((size_t)size + 1);
  if (t->buf == NULL) {
    fprintf(stderr, "dbload: out of memory reading %s\n", path);
    fclose(f);
    return -1;
  }
  if (fread(t->buf, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "dbload: short read on %s\n", path);
    fclose(f);
    return -1;
  }
  fclose(f);
  t->buf[size] = '\n';
  for (i = 0; i <= (size_t)size; i++)
    if (t->buf[i] == '\n')
      n++;
  t->tok = calloc(n, sizeof *t->tok);
  t->len = calloc(n, sizeof *t->len);
  if (t->tok == NULL || t->len == NULL) {
    fprintf(stderr, "dbload: out of memory indexing %s\n", path);
    return -1;
  }
  t->count = 0;
  start = 0;
  for (i = 0; i <= (size_t)size; i++) {
    if (t->buf[i] != '\n')
      continue;
    if (i > start && i - start <= TOKEN_MAX) {
      t->tok[t->count] = t->buf + start;
      t->len[t->count] = i - start;
      t->count++;
    }
    start = i + 1;
  }
  if (t->count == 0) {
    fprintf(stderr, "dbload: no tokens in %s\n", path);
    return -1;
  }
  return 0;
}


/* Hashes every token once, for --hashes; 0 on success, -1 with a message
 * printed. */
static int tokens_hash(struct tokens *t)
{
  t->hash = calloc(t->count, sizeof *t->hash);
  if (t->hash == NULL) {
    fprintf(stderr, "dbload: out of memory hashing the tokens\n");
    return -1;
  }
  for (size_t i = 0; i < t->count; i++)
    if (token_sha256(t->tok[i], t->len[i], t->hash[i]) != 0) {
      fprintf(stderr, "dbload: SHA-256 failed\n");
      return -1;
    }
  return 0;
}


/* xorshift64: a cheap per-thread sequence to spread tokens. */
static uint64_t next_rand(uint64_t *s)
{
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *s = x;
  return x;
}


/* Connects and prepares; 0 on success, -1 with a message printed. */
static int worker_open(struct worker *w, MYSQL **conn, MYSQL_STMT **stmt)
{
  const struct options *o = w->opt;
  unsigned int timeout = 10;

  *conn = mysql_init(NULL);
  if (*conn == NULL) {
    fprintf(stderr, "dbload: mysql_init failed\n");
    return -1;
  }
  if (mysql_options(*conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout) != 0)
    fprintf(stderr, "dbload: cannot set the connect timeout\n");
  if (mysql_real_connect(*conn, NULL, o->user, o->password, o->db, 0,
                         o->socket, 0) == NULL) {
    fprintf(stderr, "dbload: connect: %s\n", mysql_error(*conn));
    return -1;
  }
  *stmt = mysql_stmt_init(*conn);
  if (*stmt == NULL) {
    fprintf(stderr, "dbload: mysql_stmt_init: %s\n", mysql_error(*conn));
    return -1;
  }
  if (mysql_stmt_prepare(*stmt, o->query, strlen(o->query)) != 0) {
    fprintf(stderr, "dbload: prepare: %s\n", mysql_stmt_error(*stmt));
    return -1;
  }
  if (mysql_stmt_param_count(*stmt) < 1 ||
      mysql_stmt_param_count(*stmt) > PARAMS_MAX) {
    fprintf(stderr, "dbload: the query must take 1 to %d parameters\n",
            PARAMS_MAX);
    return -1;
  }
  if (o->hashes > 0 && mysql_stmt_param_count(*stmt) != 1) {
    fprintf(stderr, "dbload: with --hashes the query takes one parameter\n");
    return -1;
  }
  return 0;
}


/* Runs one execute (parameters and results already bound) and fetches
 * every row; returns -1 on an error, else the number of non-NULL values
 * among the first cols columns of every row, with *rows set to the row
 * count. */
static int run_one(MYSQL_STMT *stmt, const MYSQL_BIND *res, unsigned cols,
                   int *rows)
{
  int rc, nonnull = 0;

  *rows = 0;
  if (mysql_stmt_execute(stmt) != 0)
    return -1;
  if (cols == 0)
    return 0;
  while ((rc = mysql_stmt_fetch(stmt)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
    (*rows)++;
    for (unsigned c = 0; c < cols; c++)
      if (!*res[c].is_null)
        nonnull++;
  }
  if (rc != MYSQL_NO_DATA)
    return -1;
  return nonnull;
}


/* Runs one CALL (parameter already bound): binds and fetches its result
 * set, then reads the CALL's own status result; returns -1 on an error,
 * else the number of rows whose second column (state) is "valid", with
 * *rows set to the row count. */
static int run_call(MYSQL_STMT *stmt, MYSQL_BIND *res, int *rows)
{
  int rc, valid = 0;

  *rows = 0;
  if (mysql_stmt_execute(stmt) != 0)
    return -1;
  if (mysql_stmt_field_count(stmt) < 2 ||
      mysql_stmt_field_count(stmt) > PARAMS_MAX ||
      mysql_stmt_bind_result(stmt, res) != 0)
    return -1;
  while ((rc = mysql_stmt_fetch(stmt)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
    (*rows)++;
    if (!*res[1].is_null && *res[1].length == 5 &&
        memcmp(res[1].buffer, "valid", 5) == 0)
      valid++;
  }
  if (rc != MYSQL_NO_DATA)
    return -1;
  while ((rc = mysql_stmt_next_result(stmt)) == 0)
    ;
  return rc == -1 ? valid : -1;
}


static void *worker_main(void *arg)
{
  struct worker *w = arg;
  const struct options *o = w->opt;
  MYSQL *conn = NULL;
  MYSQL_STMT *stmt = NULL;
  static MYSQL_BIND param[MAX_THREADS][PARAMS_MAX], res[MAX_THREADS][PARAMS_MAX];
  static char result[MAX_THREADS][PARAMS_MAX][RESULT_MAX];
  static char token[MAX_THREADS][PARAMS_MAX][TOKEN_MAX];
  static unsigned long res_len[MAX_THREADS][PARAMS_MAX];
  static unsigned long param_len[MAX_THREADS][PARAMS_MAX];
  static unsigned char packed[MAX_THREADS][HASHES_MAX * TOKEN_HASH_LEN];
  static my_bool res_null[MAX_THREADS][PARAMS_MAX];
  MYSQL_BIND *p = param[w->index], *r = res[w->index];
  uint64_t seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(w->index + 1);
  unsigned nparams = 0, cols = 0;
  bool opened;
  int warned = 0;

  if (mysql_thread_init() != 0) {
    fprintf(stderr, "dbload: mysql_thread_init failed\n");
    w->failed = 1;
  }
  opened = !w->failed && worker_open(w, &conn, &stmt) == 0;
  if (!opened)
    w->failed = 1;
  /* Every thread reaches the barrier, so main never waits forever. */
  pthread_barrier_wait(&start_barrier);
  if (!opened)
    goto out;

  nparams = (unsigned)mysql_stmt_param_count(stmt);
  cols = (unsigned)mysql_stmt_field_count(stmt);
  if (cols > PARAMS_MAX)
    cols = PARAMS_MAX;
  w->per_query = o->hashes > 0 ? o->hashes : nparams;
  memset(p, 0, nparams * sizeof p[0]);
  memset(r, 0, PARAMS_MAX * sizeof r[0]);
  for (unsigned i = 0; i < nparams; i++) {
    p[i].buffer_type = MYSQL_TYPE_STRING;
    p[i].buffer = token[w->index][i];
    p[i].buffer_length = TOKEN_MAX;
    p[i].length = &param_len[w->index][i];
  }
  if (o->hashes > 0) {
    /* One parameter: the packed hashes. A CALL's result columns are known
     * after each execute only: every column is bound there (run_call). */
    p[0].buffer_type = MYSQL_TYPE_BLOB;
    p[0].buffer = packed[w->index];
    p[0].buffer_length = sizeof packed[w->index];
    param_len[w->index][0] = (unsigned long)o->hashes * TOKEN_HASH_LEN;
    cols = PARAMS_MAX;
  }
  for (unsigned c = 0; c < cols; c++) {
    r[c].buffer_type = MYSQL_TYPE_STRING;
    r[c].buffer = result[w->index][c];
    r[c].buffer_length = RESULT_MAX;
    r[c].length = &res_len[w->index][c];
    r[c].is_null = &res_null[w->index][c];
  }
  /* The binds keep pointers to the tokens, lengths and results: bound
   * once. */
  if (mysql_stmt_bind_param(stmt, p) != 0 ||
      (cols > 0 && o->hashes == 0 && mysql_stmt_bind_result(stmt, r) != 0)) {
    fprintf(stderr, "dbload: bind: %s\n", mysql_stmt_error(stmt));
    w->errors++;
    goto out;
  }

  for (;;) {
    int ph = atomic_load_explicit(&phase, memory_order_relaxed);
    double t0, t1;
    int rows, nonnull;
    bool bad;

    if (ph == PHASE_STOP)
      break;
    if (o->hashes > 0) {
      for (unsigned i = 0; i < o->hashes; i++) {
        size_t k = (size_t)(next_rand(&seed) % w->tokens->count);
        memcpy(packed[w->index] + (size_t)i * TOKEN_HASH_LEN,
               w->tokens->hash[k], TOKEN_HASH_LEN);
      }
    } else {
      for (unsigned i = 0; i < nparams; i++) {
        size_t k = (size_t)(next_rand(&seed) % w->tokens->count);
        memcpy(token[w->index][i], w->tokens->tok[k], w->tokens->len[k]);
        param_len[w->index][i] = w->tokens->len[k];
      }
    }
    t0 = now_s();
    if (o->hashes > 0)
      nonnull = run_call(stmt, r, &rows);
    else
      nonnull = run_one(stmt, r, cols, &rows);
    t1 = now_s();
    bad = nonnull < 0;
    if (bad) {
      unsigned int err = mysql_stmt_errno(stmt);
      if (warned++ < 3)
        fprintf(stderr, "dbload: thread %d: %s\n", w->index,
                mysql_stmt_error(stmt));
      if (err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST)
        break;
      mysql_stmt_free_result(stmt);
    } else if (o->hashes > 0 && o->expect == EXPECT_NONNULL) {
      bad = nonnull != (int)o->hashes || rows != (int)o->hashes;
    } else if (o->expect == EXPECT_NONNULL) {
      bad = nonnull != (int)cols || rows != 1;
    } else if (o->expect == EXPECT_NULL) {
      bad = nonnull != 0;
    }
    if (atomic_load_explicit(&phase, memory_order_relaxed) != PHASE_MEASURE ||
        ph != PHASE_MEASURE)
      continue;
    {
      double us = (t1 - t0) * 1e6;
      size_t b = us >= LAT_MAX_US ? LAT_MAX_US : (size_t)us;
      w->lat[b]++;
    }
    w->queries++;
    if (bad)
      w->errors++;
    if (nonnull == 0)
      w->nulls++;
  }
out:
  if (stmt != NULL)
    mysql_stmt_close(stmt);
  if (conn != NULL)
    mysql_close(conn);
  mysql_thread_end();
  return NULL;
}


/* The latency (us) at or below which fraction q of the samples fall. */
static size_t percentile(const uint64_t *hist, uint64_t total, double q)
{
  uint64_t want = (uint64_t)((double)total * q), seen = 0;
  size_t b;

  if (want == 0)
    want = 1;
  for (b = 0; b <= LAT_MAX_US; b++) {
    seen += hist[b];
    if (seen >= want)
      return b;
  }
  return LAT_MAX_US;
}


static int parse_args(int argc, char **argv, struct options *o)
{
  int i;

  memset(o, 0, sizeof *o);
  o->threads = 8;
  o->duration = 10;
  o->warmup = 1;
  o->expect = EXPECT_ANY;
  o->password = getenv("DBLOAD_PASSWORD");
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (v == NULL) {
      fprintf(stderr, "dbload: %s needs a value\n", a);
      return -1;
    }
    i++;
    if (strcmp(a, "--socket") == 0)
      o->socket = v;
    else if (strcmp(a, "--user") == 0)
      o->user = v;
    else if (strcmp(a, "--password") == 0)
      o->password = v;
    else if (strcmp(a, "--db") == 0)
      o->db = v;
    else if (strcmp(a, "--query") == 0)
      o->query = v;
    else if (strcmp(a, "--tokens") == 0)
      o->tokens_path = v;
    else if (strcmp(a, "--threads") == 0)
      o->threads = atoi(v);
    else if (strcmp(a, "--duration") == 0)
      o->duration = atof(v);
    else if (strcmp(a, "--warmup") == 0)
      o->warmup = atof(v);
    else if (strcmp(a, "--hashes") == 0) {
      o->hashes = (unsigned)atoi(v);
      if (o->hashes < 1 || o->hashes > HASHES_MAX) {
        fprintf(stderr, "dbload: --hashes must be 1 to %d\n", HASHES_MAX);
        return -1;
      }
    }
    else if (strcmp(a, "--expect") == 0) {
      if (strcmp(v, "any") == 0)
        o->expect = EXPECT_ANY;
      else if (strcmp(v, "nonnull") == 0)
        o->expect = EXPECT_NONNULL;
      else if (strcmp(v, "null") == 0)
        o->expect = EXPECT_NULL;
      else {
        fprintf(stderr, "dbload: --expect wants any, nonnull or null\n");
        return -1;
      }
    } else {
      fprintf(stderr, "dbload: unknown option %s\n", a);
      return -1;
    }
  }
  if (o->socket == NULL || o->user == NULL || o->db == NULL ||
      o->query == NULL || o->tokens_path == NULL) {
    fprintf(stderr, "dbload: --socket, --user, --db, --query and --tokens "
                    "are required\n");
    return -1;
  }
  if (o->threads < 1 || o->threads > MAX_THREADS) {
    fprintf(stderr, "dbload: --threads must be 1 to %d\n", MAX_THREADS);
    return -1;
  }
  if (!(o->duration > 0 && o->duration <= 3600) ||
      !(o->warmup >= 0 && o->warmup <= 600)) {
    fprintf(stderr, "dbload: --duration must be (0, 3600], --warmup "
                    "[0, 600]\n");
    return -1;
  }
  return 0;
}


static void sleep_s(double s)
{
  struct timespec ts;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}


int main(int argc, char **argv)
{
  struct options opt;
  struct tokens tokens;
  struct worker *w;
  uint64_t *hist, queries = 0, errors = 0, nulls = 0;
  double t_start, elapsed = 0;
  int i, failed = 0, rc = 0;

  if (parse_args(argc, argv, &opt) != 0) {
    usage();
    return 2;
  }
  memset(&tokens, 0, sizeof tokens);
  if (tokens_load(opt.tokens_path, &tokens) != 0)
    return 1;
  if (opt.hashes > 0 && tokens_hash(&tokens) != 0)
    return 1;
  if (mysql_library_init(0, NULL, NULL) != 0) {
    fprintf(stderr, "dbload: mysql_library_init failed\n");
    return 1;
  }
  w = calloc((size_t)opt.threads, sizeof *w);
  hist = calloc(LAT_MAX_US + 1, sizeof *hist);
  if (w == NULL || hist == NULL) {
    fprintf(stderr, "dbload: out of memory\n");
    return 1;
  }
  if (pthread_barrier_init(&start_barrier, NULL,
                           (unsigned)opt.threads + 1) != 0) {
    fprintf(stderr, "dbload: pthread_barrier_init failed\n");
    return 1;
  }
  for (i = 0; i < opt.threads; i++) {
    w[i].index = i;
    w[i].opt = &opt;
    w[i].tokens = &tokens;
    w[i].lat = calloc(LAT_MAX_US + 1, sizeof *w[i].lat);
    if (w[i].lat == NULL) {
      fprintf(stderr, "dbload: out of memory\n");
      return 1;
    }
    if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
      fprintf(stderr, "dbload: pthread_create failed\n");
      return 1;
    }
  }
  pthread_barrier_wait(&start_barrier);
  for (i = 0; i < opt.threads; i++)
    failed += w[i].failed;
  if (failed > 0) {
    atomic_store(&phase, PHASE_STOP);
    rc = 1;
  } else {
    sleep_s(opt.warmup);
    t_start = now_s();
    atomic_store(&phase, PHASE_MEASURE);
    sleep_s(opt.duration);
    atomic_store(&phase, PHASE_STOP);
    elapsed = now_s() - t_start;
  }
  for (i = 0; i < opt.threads; i++) {
    size_t b;
    pthread_join(w[i].tid, NULL);
    queries += w[i].queries;
    errors += w[i].errors;
    nulls += w[i].nulls;
    for (b = 0; b <= LAT_MAX_US; b++)
      hist[b] += w[i].lat[b];
    free(w[i].lat);
  }
  mysql_library_end();
  if (rc != 0) {
    fprintf(stderr, "dbload: %d of %d threads could not start\n", failed,
            opt.threads);
    return rc;
  }
  if (queries == 0) {
    fprintf(stderr, "dbload: no query completed\n");
    return 1;
  }
  printf("qps=%.1f queries=%llu errors=%llu nulls=%llu p50_us=%zu "
         "p99_us=%zu seconds=%.2f per_query=%u tokens_per_s=%.1f\n",
         (double)queries / elapsed, (unsigned long long)queries,
         (unsigned long long)errors, (unsigned long long)nulls,
         percentile(hist, queries, 0.50), percentile(hist, queries, 0.99),
         elapsed, w[0].per_query,
         (double)queries * w[0].per_query / elapsed);
  free(hist);
  free(w);
  free(tokens.tok);
  free(tokens.len);
  free(tokens.hash);
  free(tokens.buf);
  return 0;
}
