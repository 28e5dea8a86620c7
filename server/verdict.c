/* verdict.c: the names of the verdict states; see verdict.h. */
#include "verdict.h"

#include <string.h>

const char *const verdict_state_names[VERDICT_STATES] = {
    [VERDICT_VALID] = "valid",         [VERDICT_UNKNOWN] = "unknown",
    [VERDICT_REVOKED] = "revoked",     [VERDICT_EXPIRED] = "expired",
    [VERDICT_SUSPENDED] = "suspended", [VERDICT_DB_ERROR] = "db_error",
    [VERDICT_TIMEOUT] = "timeout",     [VERDICT_STOPPING] = "stopping"};

bool verdict_state_parse(const char *name, unsigned long len,
                         enum verdict_state *out)
{
  static const enum verdict_state words[] = {
      VERDICT_VALID, VERDICT_REVOKED, VERDICT_EXPIRED, VERDICT_SUSPENDED};

  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    const char *w = verdict_state_names[words[i]];
    if (strlen(w) == len && memcmp(w, name, len) == 0) {
      *out = words[i];
      return true;
    }
  }
  return false;
}
