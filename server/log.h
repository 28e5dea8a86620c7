/* log.h: one line per event on stderr. A "line" is a timestamp, the level and
 * the message; it is written with one write(2) so that lines from different
 * threads never interleave. Only the top of a call chain logs. */
#ifndef TENANT_AUTHD_LOG_H
#define TENANT_AUTHD_LOG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_INFO, LOG_WARN, LOG_ERROR, LOG_ACCESS };

/* A rate limit: at most `per_second` lines in each wall-clock second. */
struct log_limit {
  unsigned per_second;
  atomic_llong second;
  atomic_uint used;
};

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* True when one more line fits in the limit's current second. */
bool log_allow(struct log_limit *limit);

/* Copies s[0..len) into out (always NUL-terminated) as one field of a
 * line of key=value fields: every byte that is not printable ASCII, and
 * space, '"' and '\\', is written as \xNN, so no field can end early or
 * forge another. Stops early rather than split an escape or a cut. A run
 * that starts like a token ("ta1_" and base62), and any run of 54 or more
 * base62 symbols ([0-9A-Za-z]) wherever it is (a token without its
 * prefix, or with another one), shows its first 8 characters and "...",
 * so no log line ever holds a whole token or its random part. NULL s with
 * len 0 gives "". */
void log_escape(char *out, size_t out_size, const char *s, size_t len);

/* log_escape for the text that ends a line (a library's message): only
 * what must be escaped is, bytes outside printable ASCII and '\\'; spaces
 * and '"' stay as they are. Runs are cut the same way. */
void log_escape_text(char *out, size_t out_size, const char *s, size_t len);

#endif
