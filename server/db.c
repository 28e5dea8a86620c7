/* db.c: connections, the batch verify statements, the revocation and the
 * usage note; see db.h. Terms: a "batch statement" of size n is
 * SELECT verify_tenant_token_ability(?, ?), ... with n columns, prepared on
 * first use; "backoff" is the wait before the next connect attempt after a
 * failure, from DB_BACKOFF_MIN_MS doubling up to the configured maximum
 * (backoff.h); an "attempt" is one try of a call between db_ready and
 * db_again, which decide whether it is tried once more. */
#include "db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <mysqld_error.h>

#include "backoff.h"
#include "clock.h"

#define DB_VERIFY_CALL "verify_tenant_token_ability(?,?)"

/* The statements besides the batch ones, each prepared on its first use:
 * a new one is a name here, its text below, and a call that runs it. */
enum db_stmt { DB_STMT_NOTE, DB_STMT_REVOKE, DB_STMTS };
static const char *const db_stmt_text[DB_STMTS] = {
    [DB_STMT_NOTE] = "CALL note_tenant_token_use(?)",
    [DB_STMT_REVOKE] = "CALL revoke_leaked_tenant_token(?)",
};
/* Run on each new connection: a slow verification must never write its
 * token into MariaDB's slow query log. No privilege is needed to set it
 * for one's own session (the verifier role alone does, tests/http/run
 * slow_log_no_token); if it fails, tenant-authd says so once and goes on. */
#define DB_SESSION_SETUP "SET SESSION slow_query_log=0"
/* --causal-reads: on a Galera node, a read first waits until the node has
 * applied every write set the cluster committed before it, so a token
 * revoked on any node fails here too. A server that cannot set it fails
 * the connection: the operator asked for a guarantee it cannot give. */
#define DB_CAUSAL_READS "SET SESSION wsrep_sync_wait = 1"
#define DB_BACKOFF_MIN_MS 50
/* A reused connection whose call fails faster than this had a dead socket
 * (the server restarted): it is replaced once at once. A slower failure is a
 * timeout, and trying again would only double the wait. */
#define DB_FAST_FAIL_MS 250

struct db_conn {
  MYSQL *mysql;                        /* NULL while closed */
  MYSQL_STMT *batch[DB_BATCH_MAX + 1]; /* [n]: batch statement of size n */
  MYSQL_STMT *stmt[DB_STMTS];          /* db_stmt_text, NULL until used */
  unsigned backoff_ms;
  uint64_t retry_at_us; /* no connect attempt before this (clock.h) */
  char last_err[192];
  unsigned last_errno; /* of the statement that failed last; 0 otherwise */
  const char *group;   /* option-file group */
  unsigned timeout_s;  /* read and write timeout; 0: db_cfg's */
};

static struct db_settings db_cfg;
static atomic_uint db_open;
static atomic_bool db_setup_warned;
/* The first DB_SESSION_SETUP failure, for db_take_warning (under
 * db_warning_lock). */
static pthread_mutex_t db_warning_lock = PTHREAD_MUTEX_INITIALIZER;
static char db_warning[256];
static atomic_uint_fast64_t db_retried;

static void db_close(struct db_conn *t)
{
  for (size_t i = 0; i < DB_STMTS; i++) {
    if (t->stmt[i] != NULL) {
      mysql_stmt_close(t->stmt[i]);
      t->stmt[i] = NULL;
    }
  }
  for (size_t n = 0; n <= DB_BATCH_MAX; n++) {
    if (t->batch[n] != NULL) {
      mysql_stmt_close(t->batch[n]);
      t->batch[n] = NULL;
    }
  }
  if (t->mysql != NULL) {
    mysql_close(t->mysql);
    t->mysql = NULL;
    atomic_fetch_sub(&db_open, 1);
  }
}

/* Sets DB_CAUSAL_READS on m; 0 on success. A server that is not a Galera
 * node (wsrep_on is OFF: a single server, an asynchronous replica) accepts
 * the setting and ignores it, so it is refused here rather than giving the
 * operator a guarantee it does not keep. */
static int db_causal_reads(MYSQL *m, char *err, size_t err_size)
{
  static const char on[] = "SELECT @@SESSION.wsrep_on";
  MYSQL_RES *res;
  MYSQL_ROW row;
  bool galera;

  if (mysql_real_query(m, DB_CAUSAL_READS, sizeof DB_CAUSAL_READS - 1) != 0 ||
      mysql_real_query(m, on, sizeof on - 1) != 0 ||
      (res = mysql_store_result(m)) == NULL) {
    snprintf(err, err_size, "connect: --causal-reads: %s (%u)", mysql_error(m),
             mysql_errno(m));
    return -1;
  }
  row = mysql_fetch_row(res);
  galera = row != NULL && row[0] != NULL && strcmp(row[0], "1") == 0;
  mysql_free_result(res);
  if (!galera) {
    snprintf(err, err_size,
             "connect: --causal-reads needs a Galera node, and wsrep_on is "
             "OFF on this server");
    return -1;
  }
  return 0;
}

/* Opens t's connection, turns autocommit on, sets DB_CAUSAL_READS if asked
 * and runs DB_SESSION_SETUP; 0 on
 * success. Statements are prepared when first used. Autocommit is set whatever
 * the server's default or an option file's init-command says: in one long
 * transaction a connection would keep reading an old snapshot, and a revoked
 * token would go on verifying. */
static int db_connect(struct db_conn *t, char *err, size_t err_size)
{
  unsigned connect_timeout = db_cfg.connect_timeout;
  unsigned read_timeout = t->timeout_s > 0 ? t->timeout_s : db_cfg.read_timeout;
  unsigned write_timeout =
      t->timeout_s > 0 ? t->timeout_s : db_cfg.write_timeout;
  my_bool reconnect = 0;
  MYSQL *m = mysql_init(NULL);

  if (m == NULL) {
    snprintf(err, err_size, "connect: out of memory");
    return -1;
  }
  if ((db_cfg.defaults_file != NULL &&
       mysql_optionsv(m, MYSQL_READ_DEFAULT_FILE, db_cfg.defaults_file)) ||
      mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, t->group) ||
      mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout) ||
      mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &read_timeout) ||
      mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &write_timeout) ||
      mysql_optionsv(m, MYSQL_OPT_RECONNECT, &reconnect)) {
    snprintf(err, err_size, "connect: cannot set client options");
    mysql_close(m);
    return -1;
  }
  if (mysql_real_connect(m, NULL, NULL, NULL, NULL, 0, NULL, 0) == NULL) {
    snprintf(err, err_size, "connect: %s (%u)", mysql_error(m), mysql_errno(m));
    mysql_close(m);
    return -1;
  }
  if (mysql_autocommit(m, 1) != 0) {
    snprintf(err, err_size, "connect: cannot set autocommit=1: %s (%u)",
             mysql_error(m), mysql_errno(m));
    mysql_close(m);
    return -1;
  }
  if (db_cfg.causal_reads && db_causal_reads(m, err, err_size) != 0) {
    mysql_close(m);
    return -1;
  }
  if (mysql_real_query(m, DB_SESSION_SETUP, sizeof DB_SESSION_SETUP - 1) != 0 &&
      !atomic_exchange(&db_setup_warned, true)) {
    pthread_mutex_lock(&db_warning_lock);
    snprintf(db_warning, sizeof db_warning,
             "%s failed: %s (%u); a slow verification may log its token in "
             "the slow query log",
             DB_SESSION_SETUP, mysql_error(m), mysql_errno(m));
    pthread_mutex_unlock(&db_warning_lock);
  }
  t->mysql = m;
  atomic_fetch_add(&db_open, 1);
  return 0;
}

/* Records a failure: the next connect attempt waits for the backoff. */
static void db_backoff(struct db_conn *t, const char *reason)
{
  t->backoff_ms =
      backoff_next_ms(t->backoff_ms, DB_BACKOFF_MIN_MS, db_cfg.retry_max_ms);
  t->retry_at_us = clock_now_us() + (uint64_t)t->backoff_ms * 1000;
  snprintf(t->last_err, sizeof t->last_err, "%s", reason);
}

/* Prepares *stmt as query on t's connection unless it already is. */
static enum db_result db_prepare(struct db_conn *t, MYSQL_STMT **stmt,
                                 const char *query, size_t len, char *err,
                                 size_t err_size)
{
  if (*stmt != NULL)
    return DB_OK;
  *stmt = mysql_stmt_init(t->mysql);
  if (*stmt == NULL) {
    snprintf(err, err_size, "prepare: out of memory");
    return DB_ERROR;
  }
  if (mysql_stmt_prepare(*stmt, query, len) != 0) {
    snprintf(err, err_size, "prepare: %s (%u)", mysql_stmt_error(*stmt),
             mysql_stmt_errno(*stmt));
    t->last_errno = mysql_stmt_errno(*stmt);
    mysql_stmt_close(*stmt);
    *stmt = NULL;
    return DB_ERROR;
  }
  return DB_OK;
}

/* The words verify_tenant_token_ability answers besides a UUID, in the
 * order of enum db_state from DB_NO_ABILITY on. */
static const char *const db_state_words[DB_STATES] = {
    "",        "insufficient_scope", "unknown",  "revoked",
    "expired", "suspended",          "malformed"};

/* The verdict for one answer buf[0..len) (is_null: SQL NULL); false when
 * the answer is none of the expected ones. */
static bool db_parse_verdict(const char *buf, unsigned long len, bool is_null,
                             struct db_verdict *out)
{
  out->tenant_id[0] = '\0';
  if (is_null) {
    out->state = DB_UNKNOWN; /* only for a NULL token, never sent */
    return true;
  }
  if (len == TOKEN_UUID_LEN) {
    memcpy(out->tenant_id, buf, TOKEN_UUID_LEN);
    out->tenant_id[TOKEN_UUID_LEN] = '\0';
    out->state = DB_GRANTED;
    return true;
  }
  for (int s = DB_NO_ABILITY; s < DB_STATES; s++) {
    if (strlen(db_state_words[s]) == len &&
        memcmp(db_state_words[s], buf, len) == 0) {
      out->state = (enum db_state)s;
      return true;
    }
  }
  return false;
}

/* Runs the batch statement of size n for checks on t's connection and
 * reads its one row into out. */
static enum db_result db_execute_batch(struct db_conn *t,
                                       const struct db_check *checks, size_t n,
                                       struct db_verdict *out, char *err,
                                       size_t err_size)
{
  MYSQL_BIND param[2 * DB_BATCH_MAX], result[DB_BATCH_MAX];
  unsigned long token_len = TOKEN_LEN, ability_len[DB_BATCH_MAX];
  unsigned long out_len[DB_BATCH_MAX];
  char buf[DB_BATCH_MAX][TOKEN_UUID_LEN + 8];
  my_bool is_null[DB_BATCH_MAX], truncated[DB_BATCH_MAX];
  my_bool null_ability = 1;
  char query[sizeof "SELECT " + DB_BATCH_MAX * sizeof "," DB_VERIFY_CALL];
  size_t len = 0, size = 1;
  MYSQL_STMT *stmt;
  int rc;

  /* Statements come in sizes 1, 2, 4 ... DB_BATCH_MAX, so a connection
   * holds 7 of them at most (max_prepared_stmt_count is server-wide); the
   * columns past n repeat the last check and are not read. */
  while (size < n)
    size *= 2;
  len += (size_t)snprintf(query, sizeof query, "SELECT " DB_VERIFY_CALL);
  for (size_t i = 1; i < size; i++)
    len +=
        (size_t)snprintf(query + len, sizeof query - len, "," DB_VERIFY_CALL);
  if (db_prepare(t, &t->batch[size], query, len, err, err_size) != DB_OK)
    return DB_ERROR;
  stmt = t->batch[size];
  memset(param, 0, 2 * size * sizeof param[0]);
  memset(result, 0, size * sizeof result[0]);
  for (size_t i = 0; i < size; i++) {
    const struct db_check *c = &checks[i < n ? i : n - 1];
    MYSQL_BIND *tp = &param[2 * i], *ap = &param[2 * i + 1];

    tp->buffer_type = MYSQL_TYPE_STRING;
    tp->buffer = (void *)c->token;
    tp->buffer_length = TOKEN_LEN;
    tp->length = &token_len;
    ap->buffer_type = MYSQL_TYPE_STRING;
    if (c->ability != NULL) {
      ability_len[i] = (unsigned long)strlen(c->ability);
      ap->buffer = (void *)c->ability;
      ap->buffer_length = ability_len[i];
      ap->length = &ability_len[i];
    } else {
      ap->is_null = &null_ability;
    }
    result[i].buffer_type = MYSQL_TYPE_STRING;
    result[i].buffer = buf[i];
    result[i].buffer_length = sizeof buf[i];
    result[i].length = &out_len[i];
    result[i].is_null = &is_null[i];
    result[i].error = &truncated[i];
  }
  if (mysql_stmt_bind_param(stmt, param) != 0 ||
      mysql_stmt_execute(stmt) != 0 ||
      mysql_stmt_bind_result(stmt, result) != 0 ||
      mysql_stmt_store_result(stmt) != 0) {
    snprintf(err, err_size, "verify: %s (%u)", mysql_stmt_error(stmt),
             mysql_stmt_errno(stmt));
    t->last_errno = mysql_stmt_errno(stmt);
    return DB_ERROR;
  }
  rc = mysql_stmt_fetch(stmt);
  if (rc == 1) {
    snprintf(err, err_size, "verify: fetch: %s (%u)", mysql_stmt_error(stmt),
             mysql_stmt_errno(stmt));
    t->last_errno = mysql_stmt_errno(stmt);
  }
  mysql_stmt_free_result(stmt);
  if (rc == 1)
    return DB_ERROR;
  if (rc != 0) {
    snprintf(err, err_size, "verify: expected one row of verdicts, got %s",
             rc == MYSQL_NO_DATA ? "no row" : "a longer value");
    return DB_ERROR;
  }
  for (size_t i = 0; i < n; i++) {
    if (!db_parse_verdict(buf[i], out_len[i], is_null[i], &out[i])) {
      snprintf(err, err_size,
               "verify: expected a UUID or a verdict word, got %lu bytes "
               "of something else",
               out_len[i]);
      return DB_ERROR;
    }
  }
  return DB_OK;
}

/* Runs statement which (a CALL of one parameter: len bytes at value, of
 * type type) on t's connection, preparing it on first use, and reads every
 * result the CALL sends back. what names it in err. */
static enum db_result db_execute_call(struct db_conn *t, enum db_stmt which,
                                      enum enum_field_types type,
                                      const void *value, unsigned long len,
                                      const char *what, char *err,
                                      size_t err_size)
{
  MYSQL_STMT *stmt;
  MYSQL_BIND param;
  int rc;

  if (db_prepare(t, &t->stmt[which], db_stmt_text[which],
                 strlen(db_stmt_text[which]), err, err_size) != DB_OK)
    return DB_ERROR;
  stmt = t->stmt[which];
  memset(&param, 0, sizeof param);
  param.buffer_type = type;
  param.buffer = (void *)value;
  param.buffer_length = len;
  param.length = &len;
  if (mysql_stmt_bind_param(stmt, &param) != 0 ||
      mysql_stmt_execute(stmt) != 0) {
    snprintf(err, err_size, "%s: %s (%u)", what, mysql_stmt_error(stmt),
             mysql_stmt_errno(stmt));
    t->last_errno = mysql_stmt_errno(stmt);
    return DB_ERROR;
  }
  /* A CALL ends with a status result; read to the end of them. */
  while ((rc = mysql_stmt_next_result(stmt)) == 0)
    ;
  if (rc > 0) {
    snprintf(err, err_size, "%s: %s (%u)", what, mysql_stmt_error(stmt),
             mysql_stmt_errno(stmt));
    t->last_errno = mysql_stmt_errno(stmt);
    return DB_ERROR;
  }
  return DB_OK;
}

/* One call's attempts: whether its connection was already open, when the
 * statement began, and whether a refusal counts as an answer. */
struct db_attempt {
  int n;        /* attempts made before this one */
  bool reused;  /* the connection was open before this attempt */
  bool refusal; /* ER_OPTION_PREVENTS_STATEMENT answers DB_REFUSED */
  uint64_t t0;  /* clock_now_us() when the statement began */
};

/* Errors after which the same statement may work at once on the same
 * connection: a deadlock or lock wait chose this transaction as the victim.
 * A read-only statement cannot cause either, but a Galera applier can. */
static bool db_lock_error(unsigned e)
{
  return e == ER_LOCK_DEADLOCK || e == ER_LOCK_WAIT_TIMEOUT;
}

/* Before each attempt: makes sure t is connected, unless it waits out its
 * backoff (DB_BACKOFF) or cannot connect (DB_ERROR). */
static enum db_result db_ready(struct db_conn *t, struct db_attempt *a,
                               char *err, size_t err_size)
{
  a->reused = t->mysql != NULL;
  a->t0 = clock_now_us();
  t->last_errno = 0;
  if (a->reused)
    return DB_OK;
  if (t->backoff_ms > 0 && a->t0 < t->retry_at_us) {
    snprintf(err, err_size, "waiting to reconnect after: %s", t->last_err);
    return DB_BACKOFF;
  }
  if (db_connect(t, err, err_size) != 0) {
    db_backoff(t, err);
    return DB_ERROR;
  }
  a->t0 = clock_now_us();
  return DB_OK;
}

/* After each attempt that ended *r: true when the call is to be tried once
 * more, which happens only when that cannot double a wait: after a lock
 * error on the same connection, or after a reused connection failed at
 * once (its server restarted) on a new one. Else *r is the call's result,
 * and a failure closes t and starts its backoff. */
static bool db_again(struct db_conn *t, struct db_attempt *a, enum db_result *r,
                     const char *err)
{
  bool first = a->n++ == 0;

  if (*r != DB_ERROR) {
    t->backoff_ms = 0;
    return false;
  }
  /* A replica refusing a revocation is healthy: it keeps its connection,
   * and the caller tries a writable endpoint. */
  if (a->refusal && t->last_errno == ER_OPTION_PREVENTS_STATEMENT) {
    t->backoff_ms = 0;
    *r = DB_REFUSED;
    return false;
  }
  if (first && db_lock_error(t->last_errno)) {
    atomic_fetch_add(&db_retried, 1);
    return true;
  }
  db_close(t);
  if (a->reused && first && clock_since_us(a->t0) < DB_FAST_FAIL_MS * 1000) {
    atomic_fetch_add(&db_retried, 1);
    return true;
  }
  db_backoff(t, err);
  return false;
}

int db_init(const struct db_settings *s, char *err, size_t err_size)
{
  db_cfg = *s;
  if (mysql_library_init(0, NULL, NULL) != 0) {
    snprintf(err, err_size, "mysql_library_init failed");
    return -1;
  }
  return 0;
}

void db_shutdown(void)
{
  mysql_library_end();
}

struct db_conn *db_conn_open(const char *group, char *err, size_t err_size)
{
  struct db_conn *c = calloc(1, sizeof *c);

  if (c == NULL) {
    snprintf(err, err_size, "out of memory for a database connection");
    return NULL;
  }
  c->group = group != NULL ? group : db_cfg.group;
  return c;
}

void db_conn_set_timeout(struct db_conn *c, unsigned seconds)
{
  c->timeout_s = seconds;
}

void db_conn_close(struct db_conn *c)
{
  if (c == NULL)
    return;
  db_close(c);
  free(c);
}

enum db_result db_verify_batch(struct db_conn *c, const struct db_check *checks,
                               size_t n, struct db_verdict *out, char *err,
                               size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;

  if (n == 0 || n > DB_BATCH_MAX) {
    snprintf(err, err_size, "verify: a batch holds 1 to %d tokens, not %zu",
             DB_BATCH_MAX, n);
    return DB_ERROR;
  }
  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_batch(c, checks, n, out, err, err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_note_use(struct db_conn *c, const unsigned char *hashes,
                           size_t n, char *err, size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;

  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_call(c, DB_STMT_NOTE, MYSQL_TYPE_BLOB, hashes,
                        (unsigned long)(n * TOKEN_HASH_LEN), "note", err,
                        err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_revoke_leaked(struct db_conn *c, const char *token, char *err,
                                size_t err_size)
{
  struct db_attempt a = {.refusal = true};
  enum db_result r;

  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = db_execute_call(c, DB_STMT_REVOKE, MYSQL_TYPE_STRING, token, TOKEN_LEN,
                        "revoke", err, err_size);
  } while (db_again(c, &a, &r, err));
  return r;
}

enum db_result db_ping(struct db_conn *c, char *err, size_t err_size)
{
  struct db_attempt a = {0};
  enum db_result r;

  do {
    if ((r = db_ready(c, &a, err, err_size)) != DB_OK)
      return r;
    r = DB_OK;
    if (mysql_ping(c->mysql) != 0) {
      snprintf(err, err_size, "ping: %s (%u)", mysql_error(c->mysql),
               mysql_errno(c->mysql));
      r = DB_ERROR;
    }
  } while (db_again(c, &a, &r, err));
  return r;
}

unsigned db_connections_open(void)
{
  return atomic_load(&db_open);
}

void db_metrics(struct metrics_text *t)
{
  metrics_gauge(t, "tenant_authd_db_connections_open",
                "Database connections open: the pool's and the usage "
                "flusher's.",
                db_connections_open());
}

uint64_t db_backoff_left_us(const struct db_conn *c)
{
  uint64_t now;

  if (c == NULL || c->mysql != NULL || c->backoff_ms == 0)
    return 0;
  now = clock_now_us();
  return now < c->retry_at_us ? c->retry_at_us - now : 0;
}

bool db_take_warning(char *out, size_t out_size)
{
  bool have;

  pthread_mutex_lock(&db_warning_lock);
  have = db_warning[0] != '\0';
  if (have) {
    snprintf(out, out_size, "%s", db_warning);
    db_warning[0] = '\0';
  }
  pthread_mutex_unlock(&db_warning_lock);
  return have;
}

uint64_t db_retries(void)
{
  return atomic_load(&db_retried);
}
