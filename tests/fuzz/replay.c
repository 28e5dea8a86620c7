/* replay.c: the corpus replayer, main() for fuzz targets built without
 * libFuzzer (gcc builds, CTest). Each argument is a file or a directory of
 * files (not recursive, dot files skipped); every file is read into an
 * exact-size buffer and passed once to LLVMFuzzerTestOneInput. Exit status
 * 1 when an argument cannot be read or nothing was replayed; a broken
 * invariant aborts. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static long replayed;


/* Runs the target on the file at path; 0 on success, -1 if unreadable. */
static int replay_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  size_t size = 0, cap = 0;

  if (f == NULL) {
    fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
    return -1;
  }
  for (;;) {
    size_t n;

    if (size == cap) {
      uint8_t *grown = realloc(buf, cap = cap ? 2 * cap : 4096);
      if (grown == NULL) {
        free(buf);
        fclose(f);
        fprintf(stderr, "replay: %s: out of memory\n", path);
        return -1;
      }
      buf = grown;
    }
    n = fread(buf + size, 1, cap - size, f);
    size += n;
    if (n == 0)
      break;
  }
  if (ferror(f)) {
    fprintf(stderr, "replay: %s: read error\n", path);
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);

  /* An exact-size copy, so ASan sees a read past the input's end. */
  {
    uint8_t *exact = malloc(size > 0 ? size : 1);
    if (exact == NULL) {
      free(buf);
      return -1;
    }
    if (size > 0)
      memcpy(exact, buf, size);
    free(buf);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
  }
  replayed++;
  return 0;
}


static int keep_entry(const struct dirent *e)
{
  return e->d_name[0] != '.';
}


/* Replays every regular file in dir, in name order. */
static int replay_dir(const char *dir)
{
  struct dirent **names;
  int n = scandir(dir, &names, keep_entry, alphasort), rc = 0;

  if (n < 0) {
    fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
    return -1;
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    struct stat st;

    if (snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) <
            (int)sizeof path &&
        stat(path, &st) == 0 && S_ISREG(st.st_mode) && replay_file(path) != 0)
      rc = -1;
    free(names[i]);
  }
  free(names);
  return rc;
}


int main(int argc, char **argv)
{
  int rc = 0;

  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; i++) {
    struct stat st;

    if (stat(argv[i], &st) != 0) {
      fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
      rc = 1;
    } else if (S_ISDIR(st.st_mode) ? replay_dir(argv[i]) != 0
                                   : replay_file(argv[i]) != 0) {
      rc = 1;
    }
  }
  printf("replayed %ld inputs\n", replayed);
  return rc != 0 || replayed == 0 ? 1 : 0;
}
