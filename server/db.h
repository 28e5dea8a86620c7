/* db.h: the database side of tenant-authd. Each calling thread (a pool
 * thread, the usage flusher) owns one Connector/C connection ("thread
 * connection") holding prepared statements: SELECT
 * verify_tenant_token_ability(?, ?) repeated once per token of a batch,
 * CALL note_tenant_token_use(?) once the thread has noted use, and CALL
 * revoke_leaked_tenant_token(?) once it has revoked a token. It is opened on
 * first use with autocommit=1, reused, re-opened with backoff when it breaks,
 * and closed when the thread exits. */
#ifndef TENANT_AUTHD_DB_H
#define TENANT_AUTHD_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

struct db_settings {
  const char *defaults_file; /* NULL: the default option files */
  const char *group;         /* read after [client] */
  unsigned connect_timeout;  /* seconds */
  unsigned read_timeout;     /* seconds */
  unsigned write_timeout;    /* seconds */
  unsigned retry_max_ms;     /* longest backoff between connect attempts */
  bool causal_reads;         /* sessions set DB_CAUSAL_READS */
};

enum db_result {
  DB_OK,      /* the statement ran */
  DB_ERROR,   /* the database failed, timed out or is unreachable */
  DB_BACKOFF, /* not tried: waiting before the next connect attempt */
  DB_REFUSED  /* db_revoke_leaked only: the server is read-only (error
                 1290); it answered, so it is not down */
};

/* Once, before any thread calls the functions below. Copies *s; its
 * strings must live until db_shutdown. */
int db_init(const struct db_settings *s, char *err, size_t err_size);

/* After every thread that used the database has exited or called
 * db_thread_close. Closes the caller's own connection too. */
void db_shutdown(void);

#define DB_BATCH_MAX 64 /* tokens one verify statement takes, at most */

/* What the database said of one token (verify_tenant_token_ability's
 * word): valid and granted, valid without the ability, or why invalid. */
enum db_state {
  DB_GRANTED,    /* tenant_id is set */
  DB_NO_ABILITY, /* insufficient_scope */
  DB_UNKNOWN,
  DB_REVOKED,
  DB_EXPIRED,
  DB_SUSPENDED, /* the tenant is suspended */
  DB_MALFORMED, /* the database found it malformed (never sent so) */
  DB_STATES
};

struct db_verdict {
  enum db_state state;
  char tenant_id[TOKEN_UUID_LEN + 1]; /* "" unless DB_GRANTED */
};

/* One token to verify, and the ability it must hold (NULL: none). */
struct db_check {
  const char *token;   /* TOKEN_LEN bytes */
  const char *ability; /* NUL-terminated, checked by auth_ability_valid */
};

/* Verifies n tokens (1 to DB_BATCH_MAX) in one statement; on DB_OK out[i]
 * is the verdict of checks[i]. On DB_ERROR and DB_BACKOFF no verdict is
 * set and the reason is in err. */
enum db_result db_verify_batch(const struct db_check *checks, size_t n,
                               struct db_verdict *out, char *err,
                               size_t err_size);

/* Revokes a leaked token (revoke_leaked_tenant_token): DB_OK once the
 * database has run it, whether or not it knew the token. */
enum db_result db_revoke_leaked(const char *token, char *err, size_t err_size);

/* Records the use of n tokens: hashes holds their SHA-256 values packed end
 * to end (n * TOKEN_HASH_LEN bytes, at most DB_NOTE_MAX of them). DB_OK once
 * the database has committed; else the reason is in err. */
#define DB_NOTE_MAX 4096 /* note_tenant_token_use takes this many at most */
enum db_result db_note_use(const unsigned char *hashes, size_t n, char *err,
                           size_t err_size);

/* Checks that the database answers (COM_PING on the thread connection). */
enum db_result db_ping(char *err, size_t err_size);

/* Makes the calling thread's connection read option-file group group
 * (after [client]) instead of the --db-group one, closing it if open and
 * forgetting its backoff; group must live until db_shutdown. 0 on
 * success. */
int db_thread_group(const char *group, char *err, size_t err_size);

/* Closes the calling thread's connection, if it has one. */
void db_thread_close(void);

/* Thread connections open right now. */
unsigned db_connections_open(void);

/* Microseconds before the calling thread's connection may try to connect
 * again; 0 when it is connected or may try now. */
uint64_t db_backoff_left_us(void);

/* A warning about a connection's session set-up (the slow query log could
 * not be turned off), once: true and the text in out the first time it is
 * asked after it happened. db.c does not log; its caller does. */
bool db_take_warning(char *out, size_t out_size);

/* Calls retried once after a lock error or a dead connection. */
uint64_t db_retries(void);

#endif
