/* db.c: thread connections, the verify statement and the usage note; see
 * db.h. Terms: a "thread connection" is the struct db_thread a thread keeps
 * under db_key;
 * "backoff" is the wait before the next connect attempt after a failure,
 * from DB_BACKOFF_MIN_MS doubling up to the configured maximum. */
#include "db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "clock.h"
#include "log.h"

#define DB_QUERY "SELECT verify_tenant_token(?)"
#define DB_NOTE_QUERY "CALL note_tenant_token_use(?)"
/* Run on each new connection: a slow verification must never write its
 * token into MariaDB's slow query log. No privilege is needed to set it
 * for one's own session (the verifier role alone does, tests/http/run
 * slow_log_no_token); if it fails, tenant-authd says so once and goes on. */
#define DB_SESSION_SETUP "SET SESSION slow_query_log=0"
#define DB_BACKOFF_MIN_MS 50
/* A reused connection whose call fails faster than this had a dead socket
 * (the server restarted): it is replaced once at once. A slower failure is a
 * timeout, and trying again would only double the wait. */
#define DB_FAST_FAIL_MS 250

struct db_thread {
  MYSQL *mysql;     /* NULL while closed */
  MYSQL_STMT *stmt; /* DB_QUERY, prepared on mysql */
  MYSQL_STMT *note; /* DB_NOTE_QUERY, prepared on first use; else NULL */
  unsigned backoff_ms;
  uint64_t retry_at_us; /* no connect attempt before this (clock.h) */
  char last_err[192];
};

static struct db_settings db_cfg;
static pthread_key_t db_key;
static atomic_uint db_open;
static atomic_bool db_setup_warned;

static void db_close(struct db_thread *t)
{
  if (t->note != NULL) {
    mysql_stmt_close(t->note);
    t->note = NULL;
  }
  if (t->stmt != NULL) {
    mysql_stmt_close(t->stmt);
    t->stmt = NULL;
  }
  if (t->mysql != NULL) {
    mysql_close(t->mysql);
    t->mysql = NULL;
    atomic_fetch_sub(&db_open, 1);
  }
}

/* The db_key destructor: runs when a thread that used the database exits. */
static void db_thread_destroy(void *p)
{
  struct db_thread *t = p;

  db_close(t);
  free(t);
  mysql_thread_end();
}

static struct db_thread *db_thread_get(char *err, size_t err_size)
{
  struct db_thread *t = pthread_getspecific(db_key);

  if (t != NULL)
    return t;
  if (mysql_thread_init() != 0) {
    snprintf(err, err_size, "mysql_thread_init failed");
    return NULL;
  }
  t = calloc(1, sizeof *t);
  if (t == NULL) {
    mysql_thread_end();
    snprintf(err, err_size, "out of memory for a thread connection");
    return NULL;
  }
  if (pthread_setspecific(db_key, t) != 0) {
    free(t);
    mysql_thread_end();
    snprintf(err, err_size, "pthread_setspecific failed");
    return NULL;
  }
  return t;
}

/* Opens t's connection, turns autocommit on, runs DB_SESSION_SETUP and
 * prepares DB_QUERY; 0 on success. Autocommit is set whatever the server's
 * default or an option file's init-command says: in one long transaction a
 * connection would keep reading an old snapshot, and a revoked token would
 * go on verifying. */
static int db_connect(struct db_thread *t, char *err, size_t err_size)
{
  unsigned connect_timeout = db_cfg.connect_timeout;
  unsigned read_timeout = db_cfg.read_timeout;
  unsigned write_timeout = db_cfg.write_timeout;
  my_bool reconnect = 0;
  MYSQL_STMT *stmt;
  MYSQL *m = mysql_init(NULL);

  if (m == NULL) {
    snprintf(err, err_size, "connect: out of memory");
    return -1;
  }
  if ((db_cfg.defaults_file != NULL &&
       mysql_optionsv(m, MYSQL_READ_DEFAULT_FILE, db_cfg.defaults_file)) ||
      mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, db_cfg.group) ||
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
  if (mysql_real_query(m, DB_SESSION_SETUP, sizeof DB_SESSION_SETUP - 1) != 0 &&
      !atomic_exchange(&db_setup_warned, true))
    log_msg(LOG_WARN,
            "%s failed: %s (%u); a slow verification may log its token in "
            "the slow query log",
            DB_SESSION_SETUP, mysql_error(m), mysql_errno(m));
  stmt = mysql_stmt_init(m);
  if (stmt == NULL) {
    snprintf(err, err_size, "prepare: out of memory");
    mysql_close(m);
    return -1;
  }
  if (mysql_stmt_prepare(stmt, DB_QUERY, sizeof DB_QUERY - 1) != 0) {
    snprintf(err, err_size, "prepare: %s (%u)", mysql_stmt_error(stmt),
             mysql_stmt_errno(stmt));
    mysql_stmt_close(stmt);
    mysql_close(m);
    return -1;
  }
  t->mysql = m;
  t->stmt = stmt;
  atomic_fetch_add(&db_open, 1);
  return 0;
}

/* Records a failure: the next connect attempt waits for the backoff. */
static void db_backoff(struct db_thread *t, const char *reason)
{
  unsigned ms = t->backoff_ms == 0 ? DB_BACKOFF_MIN_MS : t->backoff_ms * 2;

  if (ms > db_cfg.retry_max_ms)
    ms = db_cfg.retry_max_ms;
  t->backoff_ms = ms;
  t->retry_at_us = clock_now_us() + (uint64_t)ms * 1000;
  snprintf(t->last_err, sizeof t->last_err, "%s", reason);
}

/* Makes sure t is connected; *reused tells whether it already was. */
static enum db_result db_ready(struct db_thread *t, bool *reused, char *err,
                               size_t err_size)
{
  *reused = t->mysql != NULL;
  if (*reused)
    return DB_OK;
  if (t->backoff_ms > 0 && clock_now_us() < t->retry_at_us) {
    snprintf(err, err_size, "waiting to reconnect after: %s", t->last_err);
    return DB_BACKOFF;
  }
  if (db_connect(t, err, err_size) != 0) {
    db_backoff(t, err);
    return DB_ERROR;
  }
  return DB_OK;
}

/* Runs DB_QUERY for the token on t's connection. */
static enum db_result db_execute(struct db_thread *t, const char *token,
                                 size_t token_len,
                                 char tenant_id[TOKEN_UUID_LEN + 1], char *err,
                                 size_t err_size)
{
  MYSQL_BIND param, result;
  unsigned long param_len = (unsigned long)token_len, out_len = 0;
  char out[TOKEN_UUID_LEN + 8];
  my_bool is_null = 0, truncated = 0;
  int rc;

  memset(&param, 0, sizeof param);
  param.buffer_type = MYSQL_TYPE_STRING;
  param.buffer = (void *)token;
  param.buffer_length = param_len;
  param.length = &param_len;
  memset(&result, 0, sizeof result);
  result.buffer_type = MYSQL_TYPE_STRING;
  result.buffer = out;
  result.buffer_length = sizeof out;
  result.length = &out_len;
  result.is_null = &is_null;
  result.error = &truncated;
  if (mysql_stmt_bind_param(t->stmt, &param) != 0 ||
      mysql_stmt_execute(t->stmt) != 0 ||
      mysql_stmt_bind_result(t->stmt, &result) != 0 ||
      mysql_stmt_store_result(t->stmt) != 0) {
    snprintf(err, err_size, "verify: %s (%u)", mysql_stmt_error(t->stmt),
             mysql_stmt_errno(t->stmt));
    return DB_ERROR;
  }
  rc = mysql_stmt_fetch(t->stmt);
  if (rc == 1)
    snprintf(err, err_size, "verify: fetch: %s (%u)", mysql_stmt_error(t->stmt),
             mysql_stmt_errno(t->stmt));
  mysql_stmt_free_result(t->stmt);
  if (rc == 1)
    return DB_ERROR;
  if (rc != 0) {
    snprintf(err, err_size, "verify: expected one row of a UUID, got %s",
             rc == MYSQL_NO_DATA ? "no row" : "a longer value");
    return DB_ERROR;
  }
  if (is_null)
    return DB_NO_TENANT;
  if (out_len != TOKEN_UUID_LEN) {
    snprintf(err, err_size,
             "verify: expected a %d-character UUID, got %lu "
             "characters",
             TOKEN_UUID_LEN, out_len);
    return DB_ERROR;
  }
  memcpy(tenant_id, out, TOKEN_UUID_LEN);
  tenant_id[TOKEN_UUID_LEN] = '\0';
  return DB_OK;
}

/* Runs DB_NOTE_QUERY with n packed hashes on t's connection, preparing it
 * on first use, and reads every result the CALL sends back. */
static enum db_result db_execute_note(struct db_thread *t,
                                      const unsigned char *hashes, size_t n,
                                      char *err, size_t err_size)
{
  MYSQL_BIND param;
  unsigned long len = (unsigned long)(n * TOKEN_HASH_LEN);
  int rc;

  if (t->note == NULL) {
    t->note = mysql_stmt_init(t->mysql);
    if (t->note == NULL) {
      snprintf(err, err_size, "note: out of memory");
      return DB_ERROR;
    }
    if (mysql_stmt_prepare(t->note, DB_NOTE_QUERY,
                           sizeof DB_NOTE_QUERY - 1) != 0) {
      snprintf(err, err_size, "note: prepare: %s (%u)",
               mysql_stmt_error(t->note), mysql_stmt_errno(t->note));
      return DB_ERROR;
    }
  }
  memset(&param, 0, sizeof param);
  param.buffer_type = MYSQL_TYPE_BLOB;
  param.buffer = (void *)hashes;
  param.buffer_length = len;
  param.length = &len;
  if (mysql_stmt_bind_param(t->note, &param) != 0 ||
      mysql_stmt_execute(t->note) != 0) {
    snprintf(err, err_size, "note: %s (%u)", mysql_stmt_error(t->note),
             mysql_stmt_errno(t->note));
    return DB_ERROR;
  }
  /* A CALL ends with a status result; read to the end of them. */
  while ((rc = mysql_stmt_next_result(t->note)) == 0)
    ;
  if (rc > 0) {
    snprintf(err, err_size, "note: %s (%u)", mysql_stmt_error(t->note),
             mysql_stmt_errno(t->note));
    return DB_ERROR;
  }
  return DB_OK;
}

/* What db_call does on the thread connection. */
enum db_op { DB_OP_VERIFY, DB_OP_PING, DB_OP_NOTE };

/* Runs op on the thread connection, connecting and reconnecting as
 * needed: verifies token, pings, or notes n packed hashes (in token). */
static enum db_result db_call(enum db_op op, const char *token,
                              size_t token_len, char *tenant_id, char *err,
                              size_t err_size)
{
  struct db_thread *t = db_thread_get(err, err_size);

  if (t == NULL)
    return DB_ERROR;
  for (int attempt = 0;; attempt++) {
    uint64_t t0;
    enum db_result r;
    bool reused;

    r = db_ready(t, &reused, err, err_size);
    if (r != DB_OK)
      return r;
    t0 = clock_now_us();
    switch (op) {
    case DB_OP_VERIFY:
      r = db_execute(t, token, token_len, tenant_id, err, err_size);
      break;
    case DB_OP_NOTE:
      r = db_execute_note(t, (const unsigned char *)token, token_len, err,
                          err_size);
      break;
    case DB_OP_PING:
      if (mysql_ping(t->mysql) != 0) {
        snprintf(err, err_size, "ping: %s (%u)", mysql_error(t->mysql),
                 mysql_errno(t->mysql));
        r = DB_ERROR;
      }
      break;
    }
    if (r != DB_ERROR) {
      t->backoff_ms = 0;
      return r;
    }
    db_close(t);
    if (reused && attempt == 0 && clock_since_us(t0) < DB_FAST_FAIL_MS * 1000)
      continue;
    db_backoff(t, err);
    return DB_ERROR;
  }
}

int db_init(const struct db_settings *s, char *err, size_t err_size)
{
  int rc;

  db_cfg = *s;
  if (mysql_library_init(0, NULL, NULL) != 0) {
    snprintf(err, err_size, "mysql_library_init failed");
    return -1;
  }
  rc = pthread_key_create(&db_key, db_thread_destroy);
  if (rc != 0) {
    snprintf(err, err_size, "pthread_key_create: %s", strerror(rc));
    mysql_library_end();
    return -1;
  }
  return 0;
}

void db_shutdown(void)
{
  db_thread_close();
  pthread_key_delete(db_key);
  mysql_library_end();
}

enum db_result db_verify(const char *token, size_t token_len,
                         char tenant_id[TOKEN_UUID_LEN + 1], char *err,
                         size_t err_size)
{
  return db_call(DB_OP_VERIFY, token, token_len, tenant_id, err, err_size);
}

enum db_result db_note_use(const unsigned char *hashes, size_t n, char *err,
                           size_t err_size)
{
  return db_call(DB_OP_NOTE, (const char *)hashes, n, NULL, err, err_size);
}

enum db_result db_ping(char *err, size_t err_size)
{
  return db_call(DB_OP_PING, NULL, 0, NULL, err, err_size);
}

void db_thread_close(void)
{
  struct db_thread *t = pthread_getspecific(db_key);

  if (t == NULL)
    return;
  pthread_setspecific(db_key, NULL);
  db_thread_destroy(t);
}

unsigned db_connections_open(void)
{
  return atomic_load(&db_open);
}
