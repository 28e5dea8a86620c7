/* db.h: the database side of tenant-authd. Each calling thread owns one
 * Connector/C connection ("thread connection") holding the prepared statement
 * SELECT verify_tenant_token(?), and CALL note_tenant_token_use(?) once the
 * thread has noted use. It is opened on first use with autocommit=1, reused,
 * re-opened with backoff when it breaks, and closed when the thread exits. */
#ifndef TENANT_AUTHD_DB_H
#define TENANT_AUTHD_DB_H

#include <stddef.h>

#include "token.h"

struct db_settings {
  const char *defaults_file; /* NULL: the default option files */
  const char *group;         /* read after [client] */
  unsigned connect_timeout;  /* seconds */
  unsigned read_timeout;     /* seconds */
  unsigned write_timeout;    /* seconds */
  unsigned retry_max_ms;     /* longest backoff between connect attempts */
};

enum db_result {
  DB_OK,        /* the query ran; for db_verify: the token is valid */
  DB_NO_TENANT, /* db_verify: unknown, revoked or expired token */
  DB_ERROR,     /* the database failed, timed out or is unreachable */
  DB_BACKOFF    /* not tried: waiting before the next connect attempt */
};

/* Once, before any thread calls the functions below. Copies *s; its
 * strings must live until db_shutdown. */
int db_init(const struct db_settings *s, char *err, size_t err_size);

/* After every thread that used the database has exited or called
 * db_thread_close. Closes the caller's own connection too. */
void db_shutdown(void);

/* Looks the token up; on DB_OK writes the tenant id (36 characters plus a
 * NUL) into tenant_id. On DB_ERROR and DB_BACKOFF the reason is in err. */
enum db_result db_verify(const char *token, size_t token_len,
                         char tenant_id[TOKEN_UUID_LEN + 1], char *err,
                         size_t err_size);

/* Records the use of n tokens: hashes holds their SHA-256 values packed end
 * to end (n * TOKEN_HASH_LEN bytes, at most DB_NOTE_MAX of them). DB_OK once
 * the database has committed; else the reason is in err. */
#define DB_NOTE_MAX 4096 /* note_tenant_token_use takes this many at most */
enum db_result db_note_use(const unsigned char *hashes, size_t n, char *err,
                           size_t err_size);

/* Checks that the database answers (COM_PING on the thread connection). */
enum db_result db_ping(char *err, size_t err_size);

/* Closes the calling thread's connection, if it has one. */
void db_thread_close(void);

/* Thread connections open right now. */
unsigned db_connections_open(void);

#endif
