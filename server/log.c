/* log.c: timestamped lines on stderr; see log.h. A "run" is a stretch of
 * consecutive base62 symbols ([0-9A-Za-z]); a "cut" shows the first
 * TOKEN_HINT_LEN characters of a run and then "...". */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "token.h"

#define LOG_LINE_MAX 1024
#define LOG_RUN_CUT 54 /* a run this long is cut: a token's random part */

static const char *const log_level_names[] = {
    [LOG_INFO] = "info",
    [LOG_WARN] = "warn",
    [LOG_ERROR] = "error",
    [LOG_ACCESS] = "access",
};

void log_msg(enum log_level level, const char *fmt, ...)
{
  char line[LOG_LINE_MAX];
  struct timespec now;
  struct tm tm;
  va_list ap;
  int n, m;

  clock_gettime(CLOCK_REALTIME, &now);
  gmtime_r(&now.tv_sec, &tm);
  n = snprintf(line, sizeof line,
               "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ tenant-authd %s: ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
               tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000,
               log_level_names[level]);
  if (n < 0)
    return;
  va_start(ap, fmt);
  m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if (m < 0)
    return;
  n += m;
  if ((size_t)n > sizeof line - 2)
    n = (int)sizeof line - 2; /* truncated: keep room for the newline */
  line[n++] = '\n';
  /* Nothing useful can be done when stderr itself fails. */
  if (write(STDERR_FILENO, line, (size_t)n) < 0)
    return;
}

bool log_allow(struct log_limit *limit)
{
  long long now = (long long)time(NULL);
  long long seen = atomic_load(&limit->second);

  if (seen != now && atomic_compare_exchange_strong(&limit->second, &seen, now))
    atomic_store(&limit->used, 0);
  return atomic_fetch_add(&limit->used, 1) < limit->per_second;
}

/* How many bytes of s[i..len) a token would show at most: a run that starts
 * with the token prefix is cut to TOKEN_HINT_LEN; 0 when none starts at i.
 * *run_end is set past the run of base62 symbols. */
static size_t log_token_run(const char *s, size_t i, size_t len,
                            size_t *run_end)
{
  size_t e = i + TOKEN_PREFIX_LEN;

  if (len - i < TOKEN_PREFIX_LEN ||
      memcmp(s + i, TOKEN_PREFIX, TOKEN_PREFIX_LEN) != 0)
    return 0;
  while (e < len && token_symbol_value((unsigned char)s[e]) >= 0)
    e++;
  *run_end = e;
  return e - i > TOKEN_HINT_LEN ? TOKEN_HINT_LEN : e - i;
}

/* The end of the run that starts at s[i] (i itself when s[i] is no
 * symbol). */
static size_t log_run_end(const char *s, size_t i, size_t len)
{
  while (i < len && token_symbol_value((unsigned char)s[i]) >= 0)
    i++;
  return i;
}

/* log_escape and log_escape_text; text keeps spaces and '"'. */
static void log_escape_as(char *out, size_t out_size, const char *s, size_t len,
                          bool text)
{
  static const char hex[] = "0123456789abcdef";
  size_t o = 0, plain_until = 0;

  if (out_size == 0)
    return;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    size_t run_end = i, show = log_token_run(s, i, len, &run_end);

    /* Whatever looks like a token, wherever it is (a path, a method), is
     * cut: a run after the token prefix, and any run of LOG_RUN_CUT
     * symbols or more (a token without its prefix, or with another one).
     * A shorter run is looked at once, from its start. */
    if (show == 0 && i >= plain_until) {
      run_end = log_run_end(s, i, len);
      if (run_end - i >= LOG_RUN_CUT)
        show = TOKEN_HINT_LEN;
      else
        plain_until = run_end;
    }
    if (show > 0 && run_end - i > show) {
      if (o + show + 3 >= out_size)
        break;
      memcpy(out + o, s + i, show);
      memcpy(out + o + show, "...", 3);
      o += show + 3;
      i = run_end - 1;
      continue;
    }
    if ((c > ' ' && c < 0x7f && c != '"' && c != '\\') ||
        (text && (c == ' ' || c == '"'))) {
      if (o + 1 >= out_size)
        break;
      out[o++] = (char)c;
      continue;
    }
    if (o + 4 >= out_size)
      break;
    out[o++] = '\\';
    out[o++] = 'x';
    out[o++] = hex[c >> 4];
    out[o++] = hex[c & 0x0f];
  }
  out[o] = '\0';
}

void log_escape(char *out, size_t out_size, const char *s, size_t len)
{
  log_escape_as(out, out_size, s, len, false);
}

void log_escape_text(char *out, size_t out_size, const char *s, size_t len)
{
  log_escape_as(out, out_size, s, len, true);
}
