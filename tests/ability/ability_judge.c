/* ability_judge.c: the C side of tests/ability/run. Reads lines
 * "<name>\t<set>" on stdin and writes one line per input line: "1" when
 * ability_granted (server/ability.c) says the set grants the name, "0"
 * when not. Lines are at most 8 KiB; a longer one is an error (exit 2). */
#include <stdio.h>
#include <string.h>

#include "ability.h"

int main(void)
{
  static char line[8192];

  while (fgets(line, sizeof line, stdin) != NULL) {
    size_t len = strlen(line);
    char *tab = memchr(line, '\t', len);

    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      fprintf(stderr, "ability_judge: line over %zu bytes\n", sizeof line);
      return 2;
    }
    if (len > 0 && line[len - 1] == '\n')
      line[--len] = '\0';
    if (tab == NULL) {
      fprintf(stderr, "ability_judge: no tab in a line\n");
      return 2;
    }
    puts(ability_granted(tab + 1, len - (size_t)(tab + 1 - line), line,
                         (size_t)(tab - line))
             ? "1"
             : "0");
  }
  return ferror(stdin) ? 2 : 0;
}
